//! Ctrl-C, `kill`, a closed terminal, the same in every binary: run the program's last
//! words (a server raises the [`Stop`] it was handed), remove the files it created, and exit
//! with the conventional code, at once, even while other threads are blocked in a read:
//! 130 for SIGINT (Ctrl-C), 143 for SIGTERM (`kill`, `timeout`, systemd), 129 for SIGHUP
//! (the terminal closed). On Unix a thread waits for the signals (signal-hook); on Windows,
//! ctrlc takes Ctrl-C and Ctrl-Break.
//!
//! Blocking reads cannot be cancelled, so a [`Stop`] does not replace the final exit: it
//! orders the steps before it. A server that was handed one stops accepting, starts no new
//! replies, tells its clients (where it can) and lets the replies in flight go out, for a
//! bounded time, in its last words; then the process exits here, in one place.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The exit code after Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// How the program was asked to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// SIGINT, Ctrl-C.
    Interrupted,
    /// SIGTERM: `kill`, `timeout`, systemd.
    Terminated,
    /// SIGHUP: its terminal closed.
    HungUp,
}

impl Ending {
    /// The conventional exit code: 128 + the signal's number.
    pub fn code(self) -> u8 {
        match self {
            Ending::Interrupted => INTERRUPTED,
            Ending::Terminated => 143,
            Ending::HungUp => 129,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Ending::Interrupted => "interrupted",
            Ending::Terminated => "terminated (SIGTERM)",
            Ending::HungUp => "hung up (SIGHUP: the terminal closed)",
        }
    }
}

type Hook = Box<dyn Fn() + Send + Sync>;

static FILES: Mutex<Vec<Created>> = Mutex::new(Vec::new());
/// Set by [`quiet`]: end without the line that says how.
static QUIET: AtomicBool = AtomicBool::new(false);
static LAST_WORDS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs the handlers. `program` prefixes the line that says how it ended.
#[cfg(unix)]
pub fn install(program: &'static str) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let how = match signal {
                    SIGTERM => Ending::Terminated,
                    SIGHUP => Ending::HungUp,
                    _ => Ending::Interrupted,
                };
                finish(program, how);
            }
        })?;
    Ok(())
}

/// Installs the handler (Ctrl-C and Ctrl-Break). `program` prefixes the line that says
/// how it ended.
#[cfg(windows)]
pub fn install(program: &'static str) -> std::io::Result<()> {
    ctrlc::set_handler(move || finish(program, Ending::Interrupted)).map_err(std::io::Error::other)
}

/// The end: last words, files removed, one line, the exit code.
fn finish(program: &str, how: Ending) -> ! {
    for words in lock(&LAST_WORDS).iter() {
        words();
    }
    remove_files();
    if !QUIET.load(Ordering::SeqCst) {
        crate::elog!("{program}: {}", how.words());
    }
    std::process::exit(how.code().into());
}

/// Makes a signal end this process without the line that says how: for a process whose
/// parent speaks for it (a launcher's worker).
pub fn quiet() {
    QUIET.store(true, Ordering::SeqCst);
}

/// Something to do when Ctrl-C arrives, before the files go and the process exits:
/// print a partial summary, stop a server. Hooks run in the order they were added.
pub fn on_interrupt(words: impl Fn() + Send + Sync + 'static) {
    lock(&LAST_WORDS).push(Box::new(words));
}

/// Removes `path` if the program is stopped by a signal, but only while it is still the
/// file that was there when this was called (on Unix: the same device and inode), never a
/// file that replaced it since, such as a newer server's socket. Call it once the file
/// exists; a path registered before is removed by name. Normal exits remove their files by
/// `Drop`.
pub fn remove_file_on_interrupt(path: &Path) {
    lock(&FILES).push(Created {
        path: path.to_owned(),
        id: file_id(path),
    });
}

/// Removes the files on the list now, each only if still ours: the end of a program whose
/// files are held by threads that will never return (a listener blocked in `accept`), so
/// that their `Drop` would never run. `cli::main` calls it when the program's body returns.
pub fn remove_files() {
    for file in lock(&FILES).drain(..) {
        file.remove_if_same();
    }
}

/// Takes `path` back off the list (it was removed, or is no longer ours).
pub fn forget_file(path: &Path) {
    lock(&FILES).retain(|f| f.path != path);
}

/// A file this process created, and what it was when it was created.
struct Created {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

impl Created {
    /// Removes it if it is still the same file; a path registered before its file existed
    /// (or where files have no identity here) is removed by name.
    fn remove_if_same(&self) {
        if self.id.is_none() || file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file's identity, without following a link: (device, inode) on Unix. Elsewhere none
/// (Windows holds its files open, so a name cannot be taken over while we run).
fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A stop signal handed to a server, and the count of its work in flight (replies being
/// written) that stopping waits for. Raised by Ctrl-C (see [`Stop::on_interrupt`]) or by
/// the server itself when its work is done.
#[derive(Debug, Default)]
pub struct Stop {
    raised: AtomicBool,
    in_flight: AtomicUsize,
    /// Wakes whoever waits in [`Stop::wait`].
    bell: Condvar,
    gate: Mutex<()>,
}

/// A piece of work in flight; [`Stop::finish_in_flight`] waits until none is left.
#[derive(Debug)]
pub struct InFlight<'a>(&'a Stop);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Whether the stop was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Raises the stop and wakes everyone waiting for it.
    pub fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        let _gate = lock(&self.gate);
        self.bell.notify_all();
    }

    /// Waits until the stop is raised, or `limit` passes; returns whether it was raised.
    pub fn wait(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut gate = lock(&self.gate);
        while !self.is_raised() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            gate = self
                .bell
                .wait_timeout(gate, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// Starts a piece of work that stopping should wait for; `None` once stopping has
    /// begun: start nothing new then.
    pub fn start(&self) -> Option<InFlight<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.is_raised() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(InFlight(self))
    }

    /// Raises the stop, then waits up to `limit` for the work in flight; returns how many
    /// pieces were still unfinished (0: all went out).
    pub fn finish_in_flight(&self, limit: Duration) -> usize {
        self.raise();
        let deadline = Instant::now() + limit;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_raised_stop_refuses_new_work_and_waits_for_work_in_flight() {
        let stop = Arc::new(Stop::new());
        assert!(!stop.wait(Duration::from_millis(1)));
        let work = stop.start().unwrap();
        let waiter = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || stop.wait(Duration::from_secs(60)))
        };
        let stopper = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || stop.finish_in_flight(Duration::from_secs(60)))
        };
        assert!(waiter.join().unwrap(), "wait wakes when the stop is raised");
        assert!(stop.start().is_none(), "no new work once stopping");
        drop(work);
        assert_eq!(
            stopper.join().unwrap(),
            0,
            "finished: nothing left in flight"
        );
        assert_eq!(stop.finish_in_flight(Duration::ZERO), 0);
    }

    #[test]
    fn unfinished_work_is_counted_after_the_limit() {
        let stop = Stop::new();
        let _stuck = stop.start().unwrap();
        assert_eq!(stop.finish_in_flight(Duration::from_millis(10)), 1);
    }
}
