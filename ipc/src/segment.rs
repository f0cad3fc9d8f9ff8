//! A named, checked, memory-mapped file that processes share: its place, its header, its
//! permissions, who has it open, and the one `unsafe` view of it. What the file holds past
//! its header is its user's business (`counter/src/layout.rs` for the count and the
//! semaphore); this module knows only the first three words.
//!
//! Where it lives: `/dev/shm/baozi-NAME` on Linux (memory, never disk), `baozi-NAME` in the
//! temp dir elsewhere; its user may keep companion files beside it, `baozi-NAME.SUFFIX`
//! ([`companion`]). Names pass [`crate::addr::check_segment_name`] (no `.`), so no
//! segment's file is another segment's companion.
//!
//! The header, in native-endian 64-bit words (a segment never leaves the machine):
//!
//! ```text
//! word 0   magic: 8 bytes naming the kind of segment   written last by the creator
//!      1   the kind's layout version
//!      2   the size of the file in bytes               never changes once created
//! ```
//!
//! Other users: the file is created new (never reused, never through a link), owner-only
//! (0600, or 0660 with [`Sharing::Group`]) whatever the umask; every open refuses a link.
//! In use: every process that has the segment open holds a shared OS lock on its file, so
//! [`take_idle`] knows, with an exclusive `try_lock`, whether anyone still uses it; a
//! `kill -9` releases it like any file lock.
//!
//! Every word is only ever touched as an `AtomicU64` ([`Mapping::words`], the only
//! `unsafe` here), so processes racing on a word make no data race in Rust's sense.
#![allow(unsafe_code)]

use crate::lock;
use crate::shutdown;
use memmap2::MmapRaw;
use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Words 0, 1 and 2: the magic, the layout version, the size. Its user's words follow.
pub const HEADER_WORDS: usize = 3;

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_SIZE: usize = 2;

/// What kind of segment a file is: its magic and the layout version its user reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub magic: [u8; 8],
    pub version: u64,
}

/// The directory segments live in: `/dev/shm` on Linux (memory, never disk), the temp dir
/// elsewhere.
pub fn dir() -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            return shm.to_owned();
        }
    }
    std::env::temp_dir()
}

/// The file of segment `name`, which must pass [`crate::addr::check_segment_name`].
pub fn path_of(name: &str) -> Result<PathBuf, String> {
    crate::addr::check_segment_name(name)?;
    Ok(dir().join(format!("baozi-{name}")))
}

/// A companion file of segment `name` (a lock file, a permit file): `baozi-NAME.SUFFIX`.
pub fn companion(name: &str, suffix: &str) -> PathBuf {
    dir().join(format!("baozi-{name}.{suffix}"))
}

/// Who besides its owner may open a segment's files (Unix permission bits; on Windows the
/// files are in the user's own temp dir).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// 0600: only the user who created it.
    #[default]
    Owner,
    /// 0660: also the members of the creator's group.
    Group,
}

impl Sharing {
    /// The permission bits of the segment's files.
    pub fn mode(self) -> u32 {
        match self {
            Sharing::Owner => 0o600,
            Sharing::Group => 0o660,
        }
    }
}

/// Why a segment could not be made, opened or taken for removal. Each names the file; its
/// user adds what to do about it (`counter clean NAME`).
#[derive(Debug)]
pub enum SegmentError {
    /// Something is already at the path (never reused).
    Exists(PathBuf),
    /// Nothing is at the path.
    Missing(PathBuf),
    /// Someone is removing it (holds it exclusively).
    BeingRemoved(PathBuf),
    /// Someone has it open (holds it shared).
    InUse(PathBuf),
    /// The file is not a segment of this kind.
    NotASegment(PathBuf, HeaderError),
    /// Any other failure of the operating system.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentError::Exists(p) => write!(f, "{} already exists", p.display()),
            SegmentError::Missing(p) => write!(f, "{} does not exist", p.display()),
            SegmentError::BeingRemoved(p) => write!(f, "{} is being removed", p.display()),
            SegmentError::InUse(p) => write!(f, "{} is in use", p.display()),
            SegmentError::NotASegment(p, why) => {
                write!(f, "not a baozi-ipc segment: {}: {why}", p.display())
            }
            SegmentError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for SegmentError {}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl Fn(io::Error) -> SegmentError + 'a {
    move |source| SegmentError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Why a file's header is not a segment of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HeaderError {}

/// Word `i` of a header read as bytes.
pub fn word(bytes: &[u8], i: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
    u64::from_ne_bytes(w)
}

/// Checks the generic header at the start of a file of `file_len` bytes, of which `head`
/// holds at least the first `header_bytes` (the whole header of this kind), or the whole
/// file if it is shorter: the magic, the version, and the size against the file's.
pub fn check_header(
    head: &[u8],
    file_len: u64,
    header_bytes: u64,
    kind: Kind,
) -> Result<(), HeaderError> {
    let bad = |why: String| Err(HeaderError(why));
    if file_len < header_bytes || (head.len() as u64) < header_bytes {
        return bad(format!(
            "{file_len} bytes, shorter than a segment header ({header_bytes} bytes)"
        ));
    }
    if head[..8] != kind.magic {
        return bad(if head[..8] == [0; 8] {
            "no magic number (all zeros: was its creation interrupted?)".to_owned()
        } else {
            format!(
                "wrong magic number {:?} (expected {:?})",
                String::from_utf8_lossy(&head[..8]),
                String::from_utf8_lossy(&kind.magic)
            )
        });
    }
    let version = word(head, W_VERSION);
    if version != kind.version {
        return bad(format!(
            "layout version {version}; this program reads version {}",
            kind.version
        ));
    }
    let size = word(head, W_SIZE);
    if size != file_len {
        return bad(format!(
            "the header says {size} bytes but the file has {file_len} (truncated or grown?)"
        ));
    }
    Ok(())
}

/// The first `header_bytes` of an open file (fewer if it is shorter).
fn read_head(file: &mut File, header_bytes: u64) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(header_bytes as usize);
    file.take(header_bytes).read_to_end(&mut head)?;
    Ok(head)
}

/// Removes the files it lists when dropped (and on Ctrl-C, through [`shutdown`]): what a
/// creator made, so that a failed or finished run leaves nothing behind.
#[derive(Debug, Default)]
pub struct RemoveOnDrop {
    paths: Vec<PathBuf>,
}

impl RemoveOnDrop {
    /// Adds a file this process has just created (never one that was there before).
    pub fn add(&mut self, path: PathBuf) {
        shutdown::remove_file_on_interrupt(&path);
        self.paths.push(path);
    }

    /// Leaves the files in place, now and on Ctrl-C.
    pub fn disown(mut self) {
        for p in self.paths.drain(..) {
            shutdown::forget_file(&p);
        }
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for p in self.paths.drain(..) {
            let _ = std::fs::remove_file(&p);
            shutdown::forget_file(&p);
        }
    }
}

/// A segment file, open and mapped. While it lives, this process holds a shared lock on
/// the file ("in use", for [`take_idle`]).
///
/// Field order matters: fields drop in order, so the mapping is gone before the file is
/// closed (and before its creator's [`RemoveOnDrop`], dropped after it, removes it:
/// Windows refuses to delete a mapped file).
#[derive(Debug)]
pub struct Mapping {
    map: MmapRaw,
    _file: File,
}

impl Mapping {
    fn map(file: File, len: u64, path: &Path) -> Result<Mapping, SegmentError> {
        let map = MmapRaw::map_raw(&file).map_err(io_error("map", path))?;
        let wrong = |why: String| SegmentError::Io {
            action: "map",
            path: path.to_owned(),
            source: io::Error::other(why),
        };
        if map.len() as u64 != len {
            return Err(wrong(format!("mapped {} bytes, expected {len}", map.len())));
        }
        if map.as_ptr().align_offset(align_of::<AtomicU64>()) != 0 {
            return Err(wrong("the mapping is not 8-byte aligned".to_owned()));
        }
        Ok(Mapping { map, _file: file })
    }

    /// Creates the segment file at `path`, new (whatever is there already is an
    /// [`SegmentError::Exists`]), `size` bytes of zeros with the permissions `sharing`
    /// says, put on `files` to be removed, and maps it. The header gets its version and
    /// size; the magic only with [`Mapping::publish`], once its user has filled the rest:
    /// until then, openers refuse it.
    pub fn create(
        path: &Path,
        kind: Kind,
        size: u64,
        sharing: Sharing,
        files: &mut RemoveOnDrop,
    ) -> Result<Mapping, SegmentError> {
        let file = lock::create_new_file(path, sharing.mode()).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => SegmentError::Exists(path.to_owned()),
            _ => io_error("create", path)(e),
        })?;
        files.add(path.to_owned());
        file.set_len(size).map_err(io_error("size", path))?;
        file.lock_shared().map_err(io_error("lock", path))?;
        let mapping = Mapping::map(file, size, path)?;
        let w = mapping.words();
        w[W_VERSION].store(kind.version, SeqCst);
        w[W_SIZE].store(size, SeqCst);
        Ok(mapping)
    }

    /// Writes the magic: from now on the segment is valid. Call it last.
    pub fn publish(&self, kind: Kind) {
        self.words()[W_MAGIC].store(u64::from_ne_bytes(kind.magic), SeqCst);
    }

    /// Opens and maps the existing segment file at `path`, refusing a link, a file being
    /// removed, and one whose header is not of `kind`. `check` sees the first
    /// `header_bytes` and the file's length, after the generic header has passed, for the
    /// kind's own header fields.
    pub fn open(
        path: &Path,
        kind: Kind,
        header_bytes: u64,
        check: impl FnOnce(&[u8], u64) -> Result<(), HeaderError>,
    ) -> Result<Mapping, SegmentError> {
        let mut file = lock::open_existing(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => SegmentError::Missing(path.to_owned()),
            _ => io_error("open", path)(e),
        })?;
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(SegmentError::BeingRemoved(path.to_owned()));
            }
            Err(TryLockError::Error(e)) => return Err(io_error("lock", path)(e)),
        }
        // Opened just before its remover removed it? Then it is no longer at its path.
        lock::check_same_file(&file, path).map_err(io_error("open", path))?;
        let len = file.metadata().map_err(io_error("open", path))?.len();
        let head = read_head(&mut file, header_bytes).map_err(io_error("read", path))?;
        check_header(&head, len, header_bytes, kind)
            .and_then(|()| check(&head, len))
            .map_err(|why| SegmentError::NotASegment(path.to_owned(), why))?;
        Mapping::map(file, len, path)
    }

    /// The shared words of the mapping.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: `self.map` is a live shared mapping of `len()` bytes that lives as long
        // as the returned borrow. Its start is 8-byte aligned (checked in `Mapping::map`
        // against `AtomicU64`'s alignment), and `len / 8` words fit in it. Any bit pattern
        // is a valid `AtomicU64`. Nothing creates a `&`/`&mut [u8]` over the mapping
        // (`MmapRaw` does not deref), and every process of this program accesses the
        // words only through these atomics, so concurrent access from other processes is
        // atomic access. The file is never truncated by this program while mapped (it is
        // created at its final size; its size is checked against the header before
        // mapping).
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.map.len() / 8)
        }
    }
}

/// A segment that nobody has open, held exclusively so that nobody opens it while it is
/// removed ([`Idle::remove`]).
#[derive(Debug)]
pub struct Idle {
    file: File,
    path: PathBuf,
    head: Vec<u8>,
    len: u64,
}

/// Takes the segment file at `path` for removal: it must have a valid header of `kind`,
/// and nobody may have it open (every user holds a shared lock on it while it does).
pub fn take_idle(path: &Path, kind: Kind, header_bytes: u64) -> Result<Idle, SegmentError> {
    let mut file = lock::open_existing(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SegmentError::Missing(path.to_owned()),
        _ => io_error("open", path)(e),
    })?;
    let len = file.metadata().map_err(io_error("open", path))?.len();
    let head = read_head(&mut file, header_bytes).map_err(io_error("read", path))?;
    check_header(&head, len, header_bytes, kind)
        .map_err(|why| SegmentError::NotASegment(path.to_owned(), why))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(SegmentError::InUse(path.to_owned())),
        Err(TryLockError::Error(e)) => return Err(io_error("lock", path)(e)),
    }
    Ok(Idle {
        file,
        path: path.to_owned(),
        head,
        len,
    })
}

impl Idle {
    /// Its header, as read (at least the generic one, valid).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never, for a valid segment).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes the file, once closed (Windows deletes no open file). A file already gone
    /// is `Ok(false)`.
    pub fn remove(self) -> io::Result<bool> {
        drop(self.file);
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const KIND: Kind = Kind {
        magic: *b"BAOZITST",
        version: 3,
    };
    const HEAD: u64 = 8 * HEADER_WORDS as u64;

    fn header(size: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEAD as usize];
        h[..8].copy_from_slice(&KIND.magic);
        h[8..16].copy_from_slice(&KIND.version.to_ne_bytes());
        h[16..24].copy_from_slice(&size.to_ne_bytes());
        h
    }

    #[test]
    fn a_good_header_passes() {
        assert_eq!(check_header(&header(64), 64, HEAD, KIND), Ok(()));
    }

    #[test]
    fn bad_headers_are_refused_with_the_reason() {
        let why = |h: &[u8], len| check_header(h, len, HEAD, KIND).unwrap_err().0;
        assert!(why(&[0; 10], 10).contains("shorter than a segment header"));
        let mut h = header(64);
        h[..8].copy_from_slice(b"NOTBAOZI");
        assert!(why(&h, 64).contains("wrong magic number \"NOTBAOZI\""));
        h[..8].copy_from_slice(&[0; 8]);
        assert!(why(&h, 64).contains("all zeros"));
        let mut h = header(64);
        h[8..16].copy_from_slice(&1u64.to_ne_bytes());
        assert!(why(&h, 64).contains("layout version 1"));
        assert!(why(&header(64), 56).contains("truncated"));
    }

    fn path(tag: &str) -> PathBuf {
        path_of(&format!("unit-seg-{tag}-{}", std::process::id())).unwrap()
    }

    #[test]
    fn create_publish_open_and_remove() {
        let p = path("cycle");
        let mut files = RemoveOnDrop::default();
        let made = Mapping::create(&p, KIND, 64, Sharing::Owner, &mut files).unwrap();
        let no_check = |_: &[u8], _| Ok(());
        // Not published yet: refused, as a creation interrupted would be.
        let e = Mapping::open(&p, KIND, HEAD, no_check).unwrap_err();
        assert!(e.to_string().contains("all zeros"), "{e}");
        made.words()[5].store(42, SeqCst);
        made.publish(KIND);
        let seen = Mapping::open(&p, KIND, HEAD, no_check).unwrap();
        assert_eq!(seen.words()[5].load(SeqCst), 42);
        assert!(matches!(
            Mapping::create(&p, KIND, 64, Sharing::Owner, &mut RemoveOnDrop::default()),
            Err(SegmentError::Exists(_))
        ));
        assert!(matches!(
            take_idle(&p, KIND, HEAD),
            Err(SegmentError::InUse(_))
        ));
        drop((seen, made, files));
        assert!(!p.exists(), "the creator left its segment behind");
        assert!(matches!(
            Mapping::open(&p, KIND, HEAD, no_check),
            Err(SegmentError::Missing(_))
        ));
    }

    #[test]
    fn an_idle_segment_is_taken_and_removed() {
        let p = path("idle");
        let mut files = RemoveOnDrop::default();
        let made = Mapping::create(&p, KIND, 64, Sharing::Owner, &mut files).unwrap();
        made.publish(KIND);
        drop(made);
        files.disown();
        let idle = take_idle(&p, KIND, HEAD).unwrap();
        assert_eq!(word(idle.head(), W_SIZE), 64);
        assert!(idle.remove().unwrap());
        assert!(!p.exists());
    }
}
