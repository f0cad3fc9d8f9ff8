//! How bytes and shared state cross between processes, and nothing above that: no message
//! type, no command line, no Redis. Every baozi-ipc program builds on it (through `common`).
//!
//! - [`addr`]: the one address grammar (`stdio`, `local:NAME`, `shm:NAME`, `unix:PATH`, `tcp:HOST:PORT`,
//!   `udp:HOST:PORT`, `redis://HOST:PORT/QUEUE`), and the one segment-name rule.
//! - [`transport`]: byte streams over any address: connecting (with `--wait` retries) and
//!   listening. One file per mechanism under `transport/`.
//! - [`segment`]: a named, checked, memory-mapped file that processes share; what is in it
//!   beyond its header is its user's business (the counter's layout lives in `counter`).
//! - [`lock`]: cross-process locks that survive a killed holder: a mutex and a counting
//!   semaphore made of OS file locks.
//! - [`shutdown`]: Ctrl-C, SIGTERM and SIGHUP: the stop handed to servers, last words, the
//!   files we created removed, one exit.
//! - [`say`]: lines for people: whole, never fatal on a closed stderr; a closed stdout is a
//!   quiet end. `-v`'s trace.
//! - [`units`]: durations, sizes, ranges and counts as people type and read them.
//!
//! `unsafe` is denied here as everywhere, and allowed in three files only: `segment.rs` (the
//! mapping seen as atomic words), `transport/ring/memory.rs` (`shm:`'s mapping seen as
//! atomics, and its byte copies) and `transport/windows.rs` (Win32 calls).

pub mod addr;
pub mod lock;
pub mod say;
pub mod segment;
pub mod shutdown;
pub mod transport;
pub mod units;

pub use addr::Address;

/// An error for people: anything, shown with its sources.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
