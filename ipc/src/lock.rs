//! Cross-process locks that survive their holder being killed: a mutex ([`FileLock`]) and a
//! counting semaphore ([`Semaphore`]), both made of lock files.
//!
//! `std::fs::File::lock` is `flock` on Unix and `LockFileEx` on Windows. The operating system
//! owns these locks and releases them when the holder's file is closed, which a process that
//! dies (even by `kill -9`) does too. A plain pthread mutex in shared memory stays locked
//! forever when its holder dies; Python's semaphore, POSIX `sem_open` and Windows
//! `CreateSemaphore` lose the permit the same way. Waiting is in the kernel: a blocked
//! `lock()` sleeps, it does not spin. A semaphore waiter waits for whichever permit comes
//! back first, with one sleeping thread per permit (started at the first wait, kept).
//!
//! Releasing: dropping the file always releases its lock. `File::unlock` is used for the
//! mutex (it is reopened thousands of times a second otherwise); under wine it reports a
//! spurious `ERROR_LOCK_VIOLATION` (33) although the lock is released, so exactly that code
//! is tolerated on Windows, and any other failure closes the file, which releases the lock.

use std::fs::{File, Metadata, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

/// Read-write options that never follow a symbolic link at the last component of the path:
/// `O_NOFOLLOW` on Unix (the open fails with `ELOOP`), `FILE_FLAG_OPEN_REPARSE_POINT` on
/// Windows (the link itself is opened, and [`open_existing`] then refuses it).
fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        o.custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT);
    }
    o
}

fn is_link(meta: &Metadata) -> bool {
    #[cfg(windows)]
    {
        use std::os::windows::fs::MetadataExt;
        let reparse = windows_sys::Win32::Storage::FileSystem::FILE_ATTRIBUTE_REPARSE_POINT;
        if meta.file_attributes() & reparse != 0 {
            return true;
        }
    }
    meta.file_type().is_symlink()
}

fn link_refused() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "it is a symbolic link, which is never followed (remove it if you did not make it)",
    )
}

/// Creates a new file at `path`, readable and writable as `mode` says (Unix permission
/// bits, set explicitly: the umask does not widen or narrow them; ignored on Windows, where
/// the files live in the user's own temp dir). Anything already at `path`, a symbolic link
/// included, is an `AlreadyExists` error: it is never reused, followed or truncated.
pub fn create_new_file(path: &Path, mode: u32) -> io::Result<File> {
    let mut o = options();
    o.create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let file = o.mode(mode).open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        o.open(path)
    }
}

/// Opens the existing regular file at `path` for reading and writing. A symbolic link (or
/// a Windows reparse point) there is refused, never followed; so is anything that is not a
/// regular file.
pub fn open_existing(path: &Path) -> io::Result<File> {
    let file = options()
        .open(path)
        .map_err(|e| match std::fs::symlink_metadata(path) {
            Ok(m) if is_link(&m) => link_refused(),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if is_link(&meta) {
        return Err(link_refused());
    }
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    Ok(file)
}

/// What identifies a file whatever its name: device and inode on Unix. Windows has no
/// stable file index in `std` (`MetadataExt::file_index` is unstable), so there only the
/// path's presence, as a file and not a link, is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId(Option<(u64, u64)>);

impl FileId {
    fn of(meta: &Metadata) -> FileId {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileId(Some((meta.dev(), meta.ino())))
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            FileId(None)
        }
    }

    fn of_file(file: &File) -> io::Result<FileId> {
        Ok(FileId::of(&file.metadata()?))
    }
}

/// Checks that `path` still names the file whose identity is `id` (we hold it open): a
/// file deleted and re-created, or swapped for a link, while in use would split its users
/// between two files, so no exclusion. That is tampering, and an error.
fn check_still_at(id: FileId, path: &Path) -> io::Result<()> {
    let tampered = |what: &str| {
        io::Error::other(format!(
            "{} was {what} while in use (tampering?); stopping without touching it",
            path.display()
        ))
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if is_link(&m) => Err(tampered("replaced by a link")),
        Ok(m) if FileId::of(&m) != id => Err(tampered("replaced")),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(tampered("removed")),
        Err(e) => Err(e),
    }
}

/// Checks that the open `file` is still the file at `path` (see [`check_still_at`]).
pub fn check_same_file(file: &File, path: &Path) -> io::Result<()> {
    check_still_at(FileId::of_file(file)?, path)
}

/// Opens an existing lock file. A missing one is an error: creating it here could give two
/// processes two different files, and so no exclusion.
fn open_lock_file(path: &Path) -> io::Result<File> {
    open_existing(path)
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
    /// The file opened first: a reopen (after a failed unlock) must find the same one.
    id: FileId,
}

/// Proof that a [`FileLock`] is held; dropping it releases the lock.
#[derive(Debug)]
pub struct Guard<'a> {
    lock: &'a mut FileLock,
}

impl FileLock {
    /// Opens the lock file at `path`, which must exist ([`create_new_file`]).
    pub fn open(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        Ok(FileLock {
            path: path.to_owned(),
            id: FileId::of_file(&file)?,
            file: Some(file),
        })
    }

    fn file(&mut self) -> io::Result<&File> {
        if self.file.is_none() {
            let file = open_lock_file(&self.path)?;
            if FileId::of_file(&file)? != self.id {
                return Err(io::Error::other(format!(
                    "lock file {} was replaced while in use (tampering?); stopping",
                    self.path.display()
                )));
            }
            self.file = Some(file);
        }
        self.file
            .as_ref()
            .ok_or_else(|| io::Error::other("lock file not open"))
    }

    /// Device and inode of the lock file (Unix; `None` on Windows): the segment records
    /// its lock file's, and every opener compares (see `shm::Segment::open`). That costs
    /// nothing per lock, where a path check after each lock costs a system call inside the
    /// lock (about halving an uncontended worker's rate).
    pub fn identity(&self) -> Option<(u64, u64)> {
        self.id.0
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

/// Device and inode of the open `file` (Unix; `None` on Windows, where `std` has no stable
/// file index): what a segment records of the lock and permit files it made, so that
/// every later opener can compare (see `counter`'s `layout.rs`).
pub fn identity(file: &File) -> io::Result<Option<(u64, u64)>> {
    Ok(FileId::of_file(file)?.0)
}

pub use semaphore::{Permit, Semaphore, Waited};

mod semaphore;

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(super) fn temp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("baozi-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        create_new_file(&p, 0o600).unwrap();
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
}
