//! The counting semaphore of [`super`]: K permit files, each opened once per process and
//! kept open, a claim flag per permit for the threads of this process, and K waiting
//! threads started at the first wait.

use super::{FileId, open_lock_file, spurious_unlock_error};
use std::fs::{File, TryLockError};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// A counting semaphore of K permits that come back when their holder dies: permit `i` is
/// an exclusive lock on lock file `i`.
///
/// Each permit file is opened once, when the semaphore is made, and kept open: opening,
/// checking and closing a file per acquire cost five times the lock itself. A file lock
/// belongs to the open file, which all threads of this process share, so the kernel does
/// not keep two threads of one process apart: a claim flag per permit does (taken before
/// the file is locked, given back after it is unlocked). Waiting for whichever permit
/// comes back first is done by K threads, one per permit, started at the first wait and
/// kept (starting K threads per wait cost more than the wait itself).
#[derive(Debug)]
pub struct Semaphore {
    shared: Arc<Shared>,
    /// One waiter at a time talks to the waiting threads.
    turn: Mutex<()>,
    started: OnceLock<()>,
}

/// What a semaphore's owner, its permits and its waiting threads share.
#[derive(Debug)]
struct Shared {
    permits: Vec<PermitFile>,
    /// Set (under `state`) while a caller of `acquire` sleeps for a permit; read without
    /// the lock by whoever gives a claim back, to wake the threads only then.
    wanted: AtomicBool,
    state: Mutex<Option<io::Result<usize>>>,
    changed: Condvar,
}

/// Permit `i`'s file, as this process holds it.
#[derive(Debug)]
struct PermitFile {
    path: PathBuf,
    /// The file opened first: a reopen (after a failed unlock) must find the same one.
    id: FileId,
    /// A thread of this process holds this permit, or is taking or waiting for it. Only
    /// the claimer touches the file.
    claimed: AtomicBool,
    /// `None` after a failed unlock closed it (which releases the lock for certain);
    /// reopened at the next use. The mutex is never contended: only the claimer locks it.
    file: Mutex<Option<File>>,
}

impl PermitFile {
    fn open(path: PathBuf) -> io::Result<PermitFile> {
        let file = open_lock_file(&path)?;
        Ok(PermitFile {
            id: FileId::of_file(&file)?,
            path,
            claimed: AtomicBool::new(false),
            file: Mutex::new(Some(file)),
        })
    }

    /// Runs `f` on the open file (reopened, and checked to be the same, if a failed unlock
    /// closed it). Only for the claimer.
    fn with<T>(&self, f: impl FnOnce(&File) -> io::Result<T>) -> io::Result<T> {
        let mut slot = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            let file = open_lock_file(&self.path)?;
            if FileId::of_file(&file)? != self.id {
                return Err(io::Error::other(format!(
                    "permit file {} was replaced while in use (tampering?); stopping",
                    self.path.display()
                )));
            }
            *slot = Some(file);
        }
        match slot.as_ref() {
            Some(file) => f(file),
            None => Err(io::Error::other("permit file not open")),
        }
    }
}

impl Shared {
    fn wait_state(&self) -> MutexGuard<'_, Option<io::Result<usize>>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claim(&self, i: usize) -> bool {
        self.permits[i]
            .claimed
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok()
    }

    /// Gives back the claim of permit `i` (its file is not locked by us any more), and
    /// wakes the waiting threads if a caller waits: one of them may have found it claimed.
    fn unclaim(&self, i: usize) {
        self.permits[i].claimed.store(false, SeqCst);
        if self.wanted.load(SeqCst) {
            let _st = self.wait_state();
            self.changed.notify_all();
        }
    }

    /// Takes permit `i` if nobody, here or elsewhere, holds it.
    fn try_take(&self, i: usize) -> io::Result<bool> {
        if !self.claim(i) {
            return Ok(false);
        }
        let taken = self.permits[i].with(|file| match file.try_lock() {
            Ok(()) => Ok(true),
            Err(TryLockError::WouldBlock) => Ok(false),
            Err(TryLockError::Error(e)) => Err(e),
        });
        if !matches!(taken, Ok(true)) {
            self.unclaim(i);
        }
        taken
    }

    /// Gives back permit `i`, which we hold: unlock (or, if that fails, close) its file.
    fn release(&self, i: usize) {
        let p = &self.permits[i];
        {
            let mut slot = p.file.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(file) = slot.as_ref()
                && let Err(e) = file.unlock()
                && !spurious_unlock_error(&e)
            {
                // Closing the file releases the lock for certain.
                *slot = None;
            }
        }
        self.unclaim(i);
    }

    /// Permit `i`'s thread: while a caller wants a permit, claim this one and sleep in the
    /// kernel on its lock; hand it over if still wanted, else give it back at once.
    fn serve(&self, i: usize) {
        loop {
            let mut st = self.wait_state();
            while !(self.wanted.load(SeqCst) && self.claim(i)) {
                st = self
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            drop(st);
            let got = self.permits[i].with(File::lock);
            let mut st = self.wait_state();
            if self.wanted.load(SeqCst) {
                self.wanted.store(false, SeqCst);
                if got.is_err() {
                    self.permits[i].claimed.store(false, SeqCst);
                }
                *st = Some(got.map(|()| i));
                self.changed.notify_all();
            } else {
                // Another thread won: dropping it gives it back.
                drop(st);
                match got {
                    Ok(()) => self.release(i),
                    Err(_) => self.unclaim(i),
                }
            }
        }
    }
}

/// A permit of a [`Semaphore`]; dropping it (or the death of its process) gives it back.
#[derive(Debug)]
pub struct Permit<'a> {
    index: usize,
    shared: &'a Shared,
}

impl Permit<'_> {
    /// Which permit this is, from 0 to K - 1.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.shared.release(self.index);
    }
}

/// How an [`Semaphore::acquire`] went: at once, or after a blocking wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    No,
    Yes,
}

impl Semaphore {
    /// A semaphore over these lock files, which must exist; one permit each. Each file is
    /// opened here, once (never through a link, and only a regular file), and kept open.
    pub fn open(paths: Vec<PathBuf>) -> io::Result<Semaphore> {
        if paths.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a semaphore needs at least one permit",
            ));
        }
        let permits = paths
            .into_iter()
            .map(PermitFile::open)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Semaphore {
            shared: Arc::new(Shared {
                permits,
                wanted: AtomicBool::new(false),
                state: Mutex::new(None),
                changed: Condvar::new(),
            }),
            turn: Mutex::new(()),
            started: OnceLock::new(),
        })
    }

    /// The number of permits, K.
    pub fn permits(&self) -> usize {
        self.shared.permits.len()
    }

    /// Device and inode of each permit file as opened (Unix; `None` on Windows): a user
    /// compares them with what the files' creator recorded (see [`identity`]).
    pub fn identities(&self) -> Vec<Option<(u64, u64)>> {
        self.shared.permits.iter().map(|p| p.id.0).collect()
    }

    /// Takes permit `index` if it is free.
    pub fn try_acquire_one(&self, index: usize) -> io::Result<Option<Permit<'_>>> {
        let i = index % self.permits();
        // `then`, not `then_some`: a Permit made and dropped would give back one we hold.
        Ok(self.shared.try_take(i)?.then(|| Permit {
            index: i,
            shared: &self.shared,
        }))
    }

    /// Takes a permit: the first free one, trying all K from `hint` (spread `hint` over the
    /// callers, e.g. with a ticket counter, so they do not all try permit 0 first). (More
    /// rounds of tries, with a yield between, measured no faster.) When none is free, `on_wait` runs and the caller sleeps in the kernel until
    /// any permit is given back: one thread per permit blocks on its lock, the first to get
    /// one hands it over, and the others give theirs back the moment they get it (or die
    /// with the process). The threads are started at the first wait and serve every later
    /// one.
    pub fn acquire(&self, hint: usize, on_wait: impl FnOnce()) -> io::Result<(Permit<'_>, Waited)> {
        let k = self.permits();
        for j in 0..k {
            if let Some(p) = self.try_acquire_one(hint.wrapping_add(j) % k)? {
                return Ok((p, Waited::No));
            }
        }
        on_wait();
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        self.start_waiters()?;
        let shared = &*self.shared;
        let mut st = shared.wait_state();
        *st = None;
        shared.wanted.store(true, SeqCst);
        shared.changed.notify_all();
        loop {
            if let Some(got) = st.take() {
                return got.map(|index| (Permit { index, shared }, Waited::Yes));
            }
            st = shared
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Starts the waiting threads, the first time.
    fn start_waiters(&self) -> io::Result<()> {
        if self.started.get().is_some() {
            return Ok(());
        }
        for i in 0..self.permits() {
            let shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name(format!("permit-{i}"))
                .spawn(move || shared.serve(i))?;
        }
        let _ = self.started.set(());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::lock::tests::temp;
    use std::sync::mpsc;

    /// Acquires with `hint` on another thread and, once it waits, gives back permit `index`
    /// of `held`: what the waiter got.
    fn waits_for<'a>(
        sem: &'a Semaphore,
        hint: usize,
        held: &mut Vec<Permit<'a>>,
        index: usize,
    ) -> (Permit<'a>, Waited) {
        let at = held.iter().position(|p| p.index() == index).unwrap();
        let (waiting, is_waiting) = mpsc::channel();
        std::thread::scope(|s| {
            let w = s.spawn(|| {
                sem.acquire(hint, move || waiting.send(()).unwrap())
                    .unwrap()
            });
            is_waiting.recv().unwrap();
            held.remove(at);
            w.join().unwrap()
        })
    }

    #[test]
    fn semaphore_gives_out_k_permits_and_takes_them_back() {
        let paths: Vec<_> = (0..3).map(|i| temp(&format!("sem{i}"))).collect();
        let sem = Semaphore::open(paths.clone()).unwrap();
        let held: Vec<_> = (0..3)
            .map(|h| sem.acquire(h, || panic!("should not wait")).unwrap().0)
            .collect();
        let mut seen: Vec<_> = held.iter().map(Permit::index).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
        for i in 0..3 {
            assert!(sem.try_acquire_one(i).unwrap().is_none());
        }
        // All taken: a waiter gets whichever comes back, here permit 2, not its hint's 0.
        let mut held = held;
        let waiter = waits_for(&sem, 0, &mut held, 2);
        assert_eq!((waiter.0.index(), waiter.1), (2, Waited::Yes));
        drop(held);
        drop(waiter);
        // The waiter's other threads give back what they get; everything is free again.
        let mut again: Vec<_> = (0..3).map(|h| sem.acquire(h, || {}).unwrap().0).collect();
        assert_eq!(again.len(), 3);
        // And its threads, kept, serve the next wait: permit 0 comes back this time.
        let second = waits_for(&sem, 1, &mut again, 0);
        assert_eq!((second.0.index(), second.1), (0, Waited::Yes));
        drop(again);
        drop(second);
        for p in paths {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn two_openings_exclude_each_other_like_two_processes() {
        // Each process opens the permit files once; two openings here stand for two
        // processes: the kernel keeps them apart, the claim flags keep threads apart.
        let paths: Vec<_> = (0..2).map(|i| temp(&format!("two{i}"))).collect();
        let (a, b) = (
            Semaphore::open(paths.clone()).unwrap(),
            Semaphore::open(paths.clone()).unwrap(),
        );
        let mut held = vec![
            a.try_acquire_one(0).unwrap().unwrap(),
            b.try_acquire_one(1).unwrap().unwrap(),
        ];
        for i in 0..2 {
            assert!(a.try_acquire_one(i).unwrap().is_none(), "a took {i} twice");
            assert!(b.try_acquire_one(i).unwrap().is_none(), "b took {i}");
        }
        // b waits; a gives back permit 0: b's waiting thread gets it through the kernel.
        let (waiting, is_waiting) = mpsc::channel();
        let got = std::thread::scope(|s| {
            let w = s.spawn(|| b.acquire(0, move || waiting.send(()).unwrap()).unwrap());
            is_waiting.recv().unwrap();
            held.remove(0);
            w.join().unwrap()
        });
        assert_eq!((got.0.index(), got.1), (0, Waited::Yes));
        assert!(a.try_acquire_one(0).unwrap().is_none());
        drop(got);
        drop(held);
        // Everything given back: each side can take both.
        let all: Vec<_> = (0..2).map(|i| a.try_acquire_one(i).unwrap()).collect();
        assert!(all.iter().all(Option::is_some));
        drop(all);
        for p in paths {
            std::fs::remove_file(p).unwrap();
        }
    }
}
