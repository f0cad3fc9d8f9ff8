//! Ctrl-C, the same in every binary: raise the [`Stop`] that servers were handed, run the
//! program's last words, remove the files it created, and exit with 130 (128 + SIGINT),
//! at once, even while other threads are blocked in a read.
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

type Hook = Box<dyn Fn() + Send + Sync>;

static FILES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static LAST_WORDS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs the handler. `program` prefixes the "interrupted" line.
pub fn install(program: &'static str) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || {
        for words in lock(&LAST_WORDS).iter() {
            words();
        }
        for path in lock(&FILES).drain(..) {
            let _ = std::fs::remove_file(path);
        }
        crate::elog!("{program}: interrupted");
        std::process::exit(INTERRUPTED.into());
    })
}

/// Something to do when Ctrl-C arrives, before the files go and the process exits:
/// print a partial summary, stop a server. Hooks run in the order they were added.
pub fn on_interrupt(words: impl Fn() + Send + Sync + 'static) {
    lock(&LAST_WORDS).push(Box::new(words));
}

/// Removes `path` if Ctrl-C arrives. Normal exits remove their files by `Drop`.
pub fn remove_file_on_interrupt(path: &Path) {
    lock(&FILES).push(path.to_owned());
}

/// Takes `path` back off the list (it was removed, or is no longer ours).
pub fn forget_file(path: &Path) {
    lock(&FILES).retain(|p| p != path);
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
