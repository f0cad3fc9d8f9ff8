//! Ctrl-C, the same in every binary: run the program's last words, remove the files it
//! created, and exit with 130 (128 + SIGINT), at once, even while it is blocked in a read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The exit code after Ctrl-C.
pub const INTERRUPTED: u8 = 130;

static FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static LAST_WORDS: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();
static QUIET: AtomicBool = AtomicBool::new(false);

fn files() -> MutexGuard<'static, Vec<PathBuf>> {
    FILES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Installs the handler. `program` prefixes the "interrupted" line.
pub fn install(program: &'static str) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || {
        if let Some(words) = LAST_WORDS.get() {
            words();
        }
        for path in files().drain(..) {
            let _ = std::fs::remove_file(path);
        }
        if !QUIET.load(Ordering::SeqCst) {
            eprintln!("{program}: interrupted");
        }
        std::process::exit(INTERRUPTED.into());
    })
}

/// Makes Ctrl-C end this process without its "interrupted" line: for a process whose
/// parent speaks for it (a launcher's worker).
pub fn quiet() {
    QUIET.store(true, Ordering::SeqCst);
}

/// Something to print (a partial summary, say) when Ctrl-C arrives. Set once.
pub fn on_interrupt(words: impl Fn() + Send + Sync + 'static) {
    let _ = LAST_WORDS.set(Box::new(words));
}

/// Removes `path` if Ctrl-C arrives. Normal exits remove their files by `Drop`.
pub fn remove_file_on_interrupt(path: &Path) {
    files().push(path.to_owned());
}

/// Takes `path` back off the list (it was removed, or is no longer ours).
pub fn forget_file(path: &Path) {
    files().retain(|p| p != path);
}
