//! Names and folders of a test's own: tests run in parallel, and under wine one after
//! another with reused process ids.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A name unique to this test process and call: `TAG-PID-N-T`. The time part keeps names
/// apart across runs too (wine reuses process ids from one test binary to the next).
pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    format!(
        "{tag}-{}-{}-{t}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty folder in the system's temporary folder, named [`unique`]`(tag)`; removed
/// with what is in it when dropped (also when the test fails). It derefs to its path:
/// `dir.join("s.sock")`.
pub struct TempDir(PathBuf);

/// A fresh folder of this test's own: see [`TempDir`].
pub fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    TempDir(dir)
}

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
