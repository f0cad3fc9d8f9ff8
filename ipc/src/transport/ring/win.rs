//! `shm:` on Windows: not built yet (`transport/mod.rs` declares `ring` on Linux only, and
//! says so for `shm:` elsewhere).
