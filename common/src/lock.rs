//! Cross-process locks that survive their holder being killed: a mutex ([`FileLock`]) and a
//! counting semaphore ([`Semaphore`]), both made of lock files.
//!
//! `std::fs::File::lock` is `flock` on Unix and `LockFileEx` on Windows. The operating system
//! owns these locks and releases them when the holder's file is closed, which a process that
//! dies (even by `kill -9`) does too. A plain pthread mutex in shared memory stays locked
//! forever when its holder dies; Python's semaphore, POSIX `sem_open` and Windows
//! `CreateSemaphore` lose the permit the same way. Waiting is in the kernel: a blocked
//! `lock()` sleeps, it does not spin. A semaphore waiter waits for whichever permit comes
//! back first, with one sleeping thread per permit.
//!
//! Releasing: dropping the file always releases its lock. `File::unlock` is used for the
//! mutex (it is reopened thousands of times a second otherwise); under wine it reports a
//! spurious `ERROR_LOCK_VIOLATION` (33) although the lock is released, so exactly that code
//! is tolerated on Windows, and any other failure closes the file, which releases the lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, mpsc};

/// Creates a lock file (or reuses one left over by a killed program).
pub fn create_lock_file(path: &Path) -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
}

/// Opens an existing lock file. A missing one is an error: creating it here could give two
/// processes two different files, and so no exclusion.
fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("lock file {}: {e}", path.display())))
}

/// How many times [`FileLock::lock`] tries without blocking before it sleeps in the kernel.
/// A lock is held for a few stores, so a holder on another core often lets go at once.
const SPINS: u32 = 4;

/// A cross-process mutex: an exclusive lock on one file.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
    /// `None` after a failed unlock closed it; reopened on the next `lock`.
    file: Option<File>,
}

/// Proof that a [`FileLock`] is held; dropping it releases the lock.
#[derive(Debug)]
pub struct Guard<'a> {
    lock: &'a mut FileLock,
}

impl FileLock {
    /// Opens the lock file at `path`, which must exist ([`create_lock_file`]).
    pub fn open(path: &Path) -> io::Result<FileLock> {
        Ok(FileLock {
            path: path.to_owned(),
            file: Some(open_lock_file(path)?),
        })
    }

    fn file(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            self.file = Some(open_lock_file(&self.path)?);
        }
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("lock file not open"))
    }

    /// Takes the lock, waiting as long as it takes: a few tries with a yield between, then
    /// a blocking wait in the kernel.
    pub fn lock(&mut self) -> io::Result<Guard<'_>> {
        let file = self.file()?;
        let mut taken = false;
        for _ in 0..SPINS {
            match file.try_lock() {
                Ok(()) => {
                    taken = true;
                    break;
                }
                Err(TryLockError::WouldBlock) => std::thread::yield_now(),
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
        if !taken {
            file.lock()?;
        }
        Ok(Guard { lock: self })
    }

    /// Takes the lock if nobody holds it.
    pub fn try_lock(&mut self) -> io::Result<Option<Guard<'_>>> {
        match self.file()?.try_lock() {
            Ok(()) => Ok(Some(Guard { lock: self })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Some(file) = &self.lock.file
            && let Err(e) = file.unlock()
            && !spurious_unlock_error(&e)
        {
            // Closing the file releases the lock for certain.
            self.lock.file = None;
        }
    }
}

/// Wine's `UnlockFileEx` reports `ERROR_LOCK_VIOLATION` although it released the lock.
fn spurious_unlock_error(e: &io::Error) -> bool {
    cfg!(windows) && e.raw_os_error() == Some(33)
}

/// A counting semaphore of K permits that come back when their holder dies: permit `i` is
/// an exclusive lock on lock file `i`.
#[derive(Debug)]
pub struct Semaphore {
    paths: Vec<PathBuf>,
}

/// A permit of a [`Semaphore`]; dropping it (or the death of its process) gives it back.
#[derive(Debug)]
pub struct Permit {
    index: usize,
    /// Held only for its lock, released by closing it.
    _file: File,
}

impl Permit {
    /// Which permit this is, from 0 to K - 1.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// How an [`Semaphore::acquire`] went: at once, or after a blocking wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    No,
    Yes,
}

impl Semaphore {
    /// A semaphore over these lock files, which must exist; one permit each.
    pub fn new(paths: Vec<PathBuf>) -> io::Result<Semaphore> {
        if paths.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a semaphore needs at least one permit",
            ));
        }
        Ok(Semaphore { paths })
    }

    /// The number of permits, K.
    pub fn permits(&self) -> usize {
        self.paths.len()
    }

    /// Takes permit `index` if it is free.
    pub fn try_acquire_one(&self, index: usize) -> io::Result<Option<Permit>> {
        let file = open_lock_file(&self.paths[index % self.paths.len()])?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Permit {
                index: index % self.paths.len(),
                _file: file,
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Takes a permit: the first free one, trying all K from `hint` (spread `hint` over the
    /// callers, e.g. with a ticket counter, so they do not all try permit 0 first). When none
    /// is free, `on_wait` runs and the caller sleeps in the kernel until any permit is given
    /// back: one thread per permit blocks on its lock, the first to get one wins, and the
    /// others give theirs back the moment they get it (or die with the process).
    pub fn acquire(&self, hint: usize, on_wait: impl FnOnce()) -> io::Result<(Permit, Waited)> {
        let k = self.paths.len();
        for i in 0..k {
            if let Some(p) = self.try_acquire_one(hint.wrapping_add(i) % k)? {
                return Ok((p, Waited::No));
            }
        }
        on_wait();
        let won = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        for (index, path) in self.paths.iter().enumerate() {
            let (path, won, tx) = (path.clone(), Arc::clone(&won), tx.clone());
            std::thread::Builder::new()
                .name(format!("permit-{index}"))
                .spawn(move || {
                    let got = open_lock_file(&path).and_then(|file| file.lock().map(|()| file));
                    match got {
                        // First: hand it over. If the receiver has gone, dropping it
                        // (inside the failed send) gives it back.
                        Ok(file) if !won.swap(true, SeqCst) => {
                            let _ = tx.send(Ok(Permit { index, _file: file }));
                        }
                        // Someone else won: dropping the file gives this one back.
                        Ok(_) => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                })?;
        }
        drop(tx);
        match rx.recv() {
            Ok(Ok(permit)) => Ok((permit, Waited::Yes)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other(
                "every permit waiter ended without a permit",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("baozi-test-{tag}-{}", std::process::id()));
        create_lock_file(&p).unwrap();
        p
    }

    #[test]
    fn file_lock_excludes_another_open_file_and_releases_on_drop() {
        let path = temp("mutex");
        let mut a = FileLock::open(&path).unwrap();
        let mut b = FileLock::open(&path).unwrap();
        let g = a.lock().unwrap();
        assert!(b.try_lock().unwrap().is_none());
        drop(g);
        assert!(b.try_lock().unwrap().is_some());
        assert!(a.try_lock().unwrap().is_some());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_missing_lock_file_is_an_error_not_a_new_lock() {
        let path = std::env::temp_dir().join("baozi-test-no-such-lock-file");
        let e = FileLock::open(&path).unwrap_err();
        assert!(e.to_string().contains("lock file"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn semaphore_gives_out_k_permits_and_takes_them_back() {
        let paths: Vec<_> = (0..3).map(|i| temp(&format!("sem{i}"))).collect();
        let sem = Semaphore::new(paths.clone()).unwrap();
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
        let two = held.iter().position(|p| p.index() == 2).unwrap();
        let (waiting, is_waiting) = mpsc::channel();
        let waiter = std::thread::scope(|s| {
            let w = s.spawn(|| sem.acquire(0, move || waiting.send(()).unwrap()).unwrap());
            is_waiting.recv().unwrap();
            held.remove(two);
            w.join().unwrap()
        });
        assert_eq!((waiter.0.index(), waiter.1), (2, Waited::Yes));
        drop(held);
        drop(waiter);
        // The waiter's other threads give back what they get; everything is free again.
        let again: Vec<_> = (0..3).map(|h| sem.acquire(h, || {}).unwrap().0).collect();
        assert_eq!(again.len(), 3);
        for p in paths {
            std::fs::remove_file(p).unwrap();
        }
    }
}
