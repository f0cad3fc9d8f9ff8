//! The shared segment: a named memory-mapped file that worker processes map together. It
//! holds a count, one slot per worker (how many decrements it completed), the gauges of the
//! semaphore, and a one-entry undo journal that keeps the count exact when a worker dies
//! while holding the lock.
//!
//! Where it lives: `/dev/shm/baozi-NAME` on Linux, `baozi-NAME` in the temp dir elsewhere,
//! with its lock file `baozi-NAME.lock` and permit files `baozi-NAME.permit-I` beside it.
//! Names have no `.`, so no segment's file is another segment's lock or permit file.
//!
//! Other users: every file is created new (never reused, never through a link), owner-only
//! (0600, or 0660 with [`Sharing::Group`]) whatever the umask; every open refuses a link.
//! In use: every process that has the segment open (creator, workers, `show`) holds a
//! shared OS lock on the segment file, so [`remove`] knows, with an exclusive `try_lock`,
//! whether anyone still uses it; a `kill -9` releases it like any file lock.
//!
//! Layout, in native-endian 64-bit words (the segment never leaves the machine):
//!
//! ```text
//! word  0      magic "BAOZISHM"             written last by the creator
//!       1      layout version (2)
//!       2      size of the file in bytes
//!       3, 4   worker slots, permits (K)
//!       5, 6   initial value, creator's pid
//!       7      count                          } read-modify-write under the lock
//!       8, 9   next free slot, next ticket     fetch_add, no lock needed
//!      10..13  inside, max inside, entries, reclaimed permits (the semaphore's gauges)
//!      14..16  journal: slot + 1 (0: empty), count before, that slot's completed before
//!      17      1 if the segment holds a count (`run`, `init`), 0 if only permits
//!      18, 19  the lock file's device and inode (Unix; 0 on Windows), written by the creator
//!      20      1 once someone found another file at the lock file's path (tampering)
//!      21..23  reserved
//!  24..24+K    permit owners: worker slot + 1 of whoever is inside with permit I, or 0
//!  then        worker slots, 4 words each: pid, completed decrements, state, reserved
//! ```
//!
//! Every word is only ever touched as an `AtomicU64`, so even racing workers (`--lock none`)
//! make no data race in Rust's sense: they lose updates the classic way, load then store.

use crate::lock::{self, FileLock, Guard, Semaphore};
use crate::shutdown;
use memmap2::MmapRaw;
use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"BAOZISHM";
/// The layout version this program reads and writes.
pub const VERSION: u64 = 2;
/// Bytes before the permit owners.
pub const HEADER_BYTES: u64 = 8 * HEADER_WORDS as u64;
/// At most this many worker slots.
pub const MAX_SLOTS: u64 = 1 << 16;
/// At most this many permits.
pub const MAX_PERMITS: u64 = 64;

const HEADER_WORDS: usize = 24;
const SLOT_WORDS: usize = 4;

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_SIZE: usize = 2;
const W_SLOTS: usize = 3;
const W_PERMITS: usize = 4;
const W_INITIAL: usize = 5;
const W_CREATOR: usize = 6;
const W_COUNT: usize = 7;
const W_NEXT_SLOT: usize = 8;
const W_TICKETS: usize = 9;
const W_INSIDE: usize = 10;
const W_MAX_INSIDE: usize = 11;
const W_ENTRIES: usize = 12;
const W_RECLAIMED: usize = 13;
const W_TXN_SLOT: usize = 14;
const W_TXN_COUNT: usize = 15;
const W_TXN_DONE: usize = 16;
const W_HAS_COUNT: usize = 17;
const W_LOCK_DEV: usize = 18;
const W_LOCK_INO: usize = 19;
const W_TAMPERED: usize = 20;

const S_PID: usize = 0;
const S_COMPLETED: usize = 1;
const S_STATE: usize = 2;

const STATE_RUNNING: u64 = 1;
const STATE_FINISHED: u64 = 2;

/// The error type of this module: a message for the user.
pub type Error = crate::Error;

/// What a segment file holds besides its header: how many worker slots and permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub slots: u64,
    pub permits: u64,
}

impl Layout {
    /// The size of a segment file with this layout, in bytes.
    pub fn size(self) -> u64 {
        HEADER_BYTES + 8 * self.permits + 8 * SLOT_WORDS as u64 * self.slots
    }

    fn check(self) -> Result<Layout, String> {
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(format!(
                "{} worker slots (a segment has 1 to {MAX_SLOTS})",
                self.slots
            ));
        }
        if self.permits > MAX_PERMITS {
            return Err(format!(
                "{} permits (a segment has 0 to {MAX_PERMITS})",
                self.permits
            ));
        }
        Ok(self)
    }

    fn owner(self, permit: usize) -> usize {
        HEADER_WORDS + permit
    }

    fn slot(self, slot: usize, field: usize) -> usize {
        HEADER_WORDS + self.permits as usize + SLOT_WORDS * slot + field
    }
}

/// Why a file is not a segment this program can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(String);

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads and checks the header of an open segment file of `len` bytes.
fn read_header(file: &mut File, len: u64) -> Result<Layout, Error> {
    let mut head = Vec::with_capacity(HEADER_BYTES as usize);
    file.take(HEADER_BYTES).read_to_end(&mut head)?;
    Ok(parse_header(&head, len)?)
}

impl std::error::Error for HeaderError {}

fn word(bytes: &[u8], i: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&bytes[8 * i..8 * i + 8]);
    u64::from_ne_bytes(w)
}

/// Checks the header at the start of a segment file of `file_len` bytes (`head` holds at
/// least its first [`HEADER_BYTES`], or the whole file if it is shorter).
pub fn parse_header(head: &[u8], file_len: u64) -> Result<Layout, HeaderError> {
    let bad = |why: String| Err(HeaderError(why));
    if file_len < HEADER_BYTES || (head.len() as u64) < HEADER_BYTES {
        return bad(format!(
            "{file_len} bytes, shorter than a segment header ({HEADER_BYTES} bytes)"
        ));
    }
    if head[..8] != MAGIC {
        return bad(if head[..8] == [0; 8] {
            "no magic number (all zeros: was its creation interrupted?)".to_owned()
        } else {
            format!(
                "wrong magic number {:?} (expected \"BAOZISHM\")",
                String::from_utf8_lossy(&head[..8])
            )
        });
    }
    let version = word(head, W_VERSION);
    if version != VERSION {
        return bad(format!(
            "layout version {version}; this program reads version {VERSION}"
        ));
    }
    let size = word(head, W_SIZE);
    if size != file_len {
        return bad(format!(
            "the header says {size} bytes but the file has {file_len} (truncated or grown?)"
        ));
    }
    let layout = Layout {
        slots: word(head, W_SLOTS),
        permits: word(head, W_PERMITS),
    }
    .check()
    .map_err(|e| HeaderError(format!("the header says {e}")))?;
    if word(head, W_HAS_COUNT) > 1 {
        return bad(format!(
            "the header's count flag is {}, not 0 or 1",
            word(head, W_HAS_COUNT)
        ));
    }
    if layout.size() != size {
        return bad(format!(
            "the header's {} slots and {} permits need {} bytes, not {size}",
            layout.slots,
            layout.permits,
            layout.size()
        ));
    }
    Ok(layout)
}

/// Checks a segment name: 1 to 100 of ASCII letters, digits, '-' and '_', so that it is a
/// plain file name everywhere. No '.': the lock and permit files add a `.` suffix to the
/// segment's file name, so with a dot allowed, segment `x.lock` would be segment `x`'s
/// lock file.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad segment name {name:?}: use 1 to 100 ASCII letters, digits, '-' or '_'"
        ))
    }
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

/// The files of the segment called `name`.
#[derive(Debug, Clone)]
pub struct Paths {
    name: String,
    /// The segment itself.
    pub data: PathBuf,
    /// The lock file of the count and the gauges.
    pub lock: PathBuf,
}

impl Paths {
    /// The paths for `name`, which must pass [`check_name`].
    pub fn new(name: &str) -> Result<Paths, String> {
        check_name(name)?;
        let dir = dir();
        Ok(Paths {
            name: name.to_owned(),
            data: dir.join(format!("baozi-{name}")),
            lock: dir.join(format!("baozi-{name}.lock")),
        })
    }

    /// The lock file of permit `i`.
    pub fn permit(&self, i: u64) -> PathBuf {
        dir().join(format!("baozi-{}.permit-{i}", self.name))
    }
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

/// The error of a segment whose lock file was found replaced.
fn tampered(paths: &Paths) -> String {
    format!(
        "lock file {} was replaced while in use (tampering?); stopping without touching \
         segment {:?}",
        paths.lock.display(),
        paths.name
    )
}

/// What a new segment starts with.
#[derive(Debug, Clone, Copy)]
pub struct Init {
    /// The count's initial value; `None` for a segment of permits only (no count).
    pub value: Option<i64>,
    pub slots: u64,
    pub permits: u64,
    pub sharing: Sharing,
}

/// Removes the files it lists when dropped (and on Ctrl-C, through [`shutdown`]).
#[derive(Debug)]
struct Owner {
    paths: Vec<PathBuf>,
}

impl Owner {
    /// Adds a file this process has just created (never one that was there before).
    fn add(&mut self, path: PathBuf) {
        shutdown::remove_file_on_interrupt(&path);
        self.paths.push(path);
    }

    fn disown(mut self) {
        for p in self.paths.drain(..) {
            shutdown::forget_file(&p);
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        for p in self.paths.drain(..) {
            let _ = std::fs::remove_file(&p);
            shutdown::forget_file(&p);
        }
    }
}

/// A worker's slot in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl Slot {
    /// The slot's number, from 0: the worker's id.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A mapped segment.
///
/// Field order matters: fields drop in order, so the mapping is gone and the files are
/// closed before `owner` removes them (Windows refuses to delete a mapped file).
#[derive(Debug)]
pub struct Segment {
    map: MmapRaw,
    /// Holds a shared lock on the segment file while open: "in use", for [`remove`].
    _file: File,
    lock: FileLock,
    paths: Paths,
    layout: Layout,
    owner: Option<Owner>,
}

/// The shared words of a mapping.
#[allow(unsafe_code)]
fn words(map: &MmapRaw) -> &[AtomicU64] {
    // SAFETY: `map` is a live shared mapping of `map.len()` bytes that lives as long as the
    // returned borrow. Its start is page-aligned (checked in `Segment::map` against
    // `AtomicU64`'s alignment), and `len / 8` words fit in it. Any bit pattern is a valid
    // `AtomicU64`. Nothing creates a `&`/`&mut [u8]` over the mapping (`MmapRaw` does not
    // deref), and every process of this program accesses the words only through these
    // atomics, so concurrent access from other processes is atomic access. The file is never
    // truncated by this program while mapped (it is created at its final size; its size is
    // checked against the validated header before mapping).
    unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<AtomicU64>(), map.len() / 8) }
}

impl Segment {
    fn map(file: &File, len: u64) -> Result<MmapRaw, Error> {
        let map = MmapRaw::map_raw(file)?;
        if map.len() as u64 != len {
            return Err(format!("mapped {} bytes, expected {len}", map.len()).into());
        }
        if map.as_ptr().align_offset(align_of::<AtomicU64>()) != 0 {
            return Err("the mapping is not 8-byte aligned".into());
        }
        Ok(map)
    }

    fn w(&self) -> &[AtomicU64] {
        words(&self.map)
    }

    /// Creates segment `name` with its lock file and permit files, all new (nothing that is
    /// already there is reused) and with the permissions `init.sharing` says. They are
    /// removed when the segment is dropped and on Ctrl-C, unless [`Segment::keep`] is called.
    pub fn create(name: &str, init: Init) -> Result<Segment, Error> {
        let paths = Paths::new(name)?;
        let layout = Layout {
            slots: init.slots,
            permits: init.permits,
        }
        .check()?;
        let mode = init.sharing.mode();
        let exists = |p: &Path| {
            format!(
                "segment {name:?} already exists ({} is there); a leftover is removed by \
                 `counter clean {name}`",
                p.display()
            )
        };
        let file = lock::create_new_file(&paths.data, mode).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => exists(&paths.data),
            _ => format!("cannot create {}: {e}", paths.data.display()),
        })?;
        let mut owner = Owner { paths: Vec::new() };
        owner.add(paths.data.clone());
        for p in
            std::iter::once(paths.lock.clone()).chain((0..layout.permits).map(|i| paths.permit(i)))
        {
            // Only what this call created goes on the owner's list: on an error, whatever
            // was there before stays.
            lock::create_new_file(&p, mode).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => exists(&p),
                _ => format!("cannot create {}: {e}", p.display()),
            })?;
            owner.add(p);
        }
        file.set_len(layout.size())?;
        file.lock_shared()?;
        let map = Segment::map(&file, layout.size())?;
        let lock = FileLock::open(&paths.lock)?;
        let seg = Segment {
            map,
            _file: file,
            lock,
            paths,
            layout,
            owner: Some(owner),
        };
        let w = seg.w();
        let value = init.value.unwrap_or(0);
        w[W_VERSION].store(VERSION, SeqCst);
        w[W_SIZE].store(layout.size(), SeqCst);
        w[W_SLOTS].store(layout.slots, SeqCst);
        w[W_PERMITS].store(layout.permits, SeqCst);
        w[W_INITIAL].store(value as u64, SeqCst);
        w[W_CREATOR].store(std::process::id().into(), SeqCst);
        w[W_COUNT].store(value as u64, SeqCst);
        w[W_HAS_COUNT].store(u64::from(init.value.is_some()), SeqCst);
        if let Some((dev, ino)) = seg.lock.identity() {
            w[W_LOCK_DEV].store(dev, SeqCst);
            w[W_LOCK_INO].store(ino, SeqCst);
        }
        // Last: a segment is valid only once it is complete.
        w[W_MAGIC].store(u64::from_ne_bytes(MAGIC), SeqCst);
        Ok(seg)
    }

    /// Opens the existing segment `name`, refusing a file that is not one, a link, or a
    /// segment being removed.
    pub fn open(name: &str) -> Result<Segment, Error> {
        let paths = Paths::new(name)?;
        let shown = paths.data.display();
        let mut file = lock::open_existing(&paths.data).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!(
                "no segment named {name:?} ({shown} does not exist; create it with \
                 `counter init {name}`)"
            ),
            _ => format!("cannot open {shown}: {e}"),
        })?;
        match file.try_lock_shared() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!("segment {name:?} is being removed (`counter clean`)").into());
            }
            Err(TryLockError::Error(e)) => return Err(format!("cannot lock {shown}: {e}").into()),
        }
        // Opened just before `clean` removed it? Then it is no longer at its path.
        lock::check_same_file(&file, &paths.data)?;
        let len = file.metadata()?.len();
        let layout = read_header(&mut file, len)
            .map_err(|e| format!("not a baozi-ipc segment: {shown}: {e}"))?;
        let map = Segment::map(&file, len)?;
        let lock = FileLock::open(&paths.lock)?;
        let seg = Segment {
            map,
            _file: file,
            lock,
            paths,
            layout,
            owner: None,
        };
        // All users must lock the one file the creator made: a lock file replaced under
        // running workers would split them between two locks. Finding another file there
        // is tampering, and every user stops at its next lock (see `lock`).
        let w = seg.w();
        let recorded = (w[W_LOCK_DEV].load(SeqCst), w[W_LOCK_INO].load(SeqCst));
        if let Some(found) = seg.lock.identity()
            && recorded != (0, 0)
            && found != recorded
        {
            w[W_TAMPERED].store(1, SeqCst);
            return Err(tampered(&seg.paths).into());
        }
        Ok(seg)
    }

    /// Leaves the files in place when this segment is dropped or on Ctrl-C.
    pub fn keep(&mut self) {
        if let Some(owner) = self.owner.take() {
            owner.disown();
        }
    }

    /// Whether the segment holds a count (`run`, `init`), or only permits (`semaphore`,
    /// `init --permits K` without `--value`).
    pub fn has_count(&self) -> bool {
        self.w()[W_HAS_COUNT].load(SeqCst) != 0
    }

    /// The segment's file.
    pub fn path(&self) -> &Path {
        &self.paths.data
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The semaphore of this segment's K permits.
    pub fn semaphore(&self) -> Result<Semaphore, Error> {
        if self.layout.permits == 0 {
            return Err(format!(
                "segment {:?} has no permits; create one with `counter init {} --permits K`",
                self.paths.name, self.paths.name
            )
            .into());
        }
        Ok(Semaphore::new(
            (0..self.layout.permits)
                .map(|i| self.paths.permit(i))
                .collect(),
        )?)
    }

    /// Claims a free worker slot for this process.
    pub fn claim_slot(&self) -> Result<Slot, Error> {
        let i = self.w()[W_NEXT_SLOT].fetch_add(1, SeqCst);
        if i >= self.layout.slots {
            return Err(format!(
                "segment {:?} has no free worker slot (it has {}); create it with more --slots",
                self.paths.name, self.layout.slots
            )
            .into());
        }
        let slot = Slot(i as usize);
        let w = self.w();
        w[self.layout.slot(slot.0, S_PID)].store(std::process::id().into(), SeqCst);
        w[self.layout.slot(slot.0, S_STATE)].store(STATE_RUNNING, SeqCst);
        Ok(slot)
    }

    /// Marks a worker's slot finished.
    pub fn finish_slot(&self, slot: Slot) {
        self.w()[self.layout.slot(slot.0, S_STATE)].store(STATE_FINISHED, SeqCst);
    }

    /// A number no other caller gets (0, 1, 2, ...): spreads semaphore waiters over permits.
    pub fn ticket(&self) -> u64 {
        self.w()[W_TICKETS].fetch_add(1, SeqCst)
    }

    /// Takes the segment's lock. A decrement left half-done by a holder that died is undone
    /// first, and reported in [`Locked::repaired`].
    pub fn lock(&mut self) -> io::Result<Locked<'_>> {
        let w = words(&self.map);
        let guard = self.lock.lock()?;
        if w[W_TAMPERED].load(SeqCst) != 0 {
            return Err(io::Error::other(tampered(&self.paths)));
        }
        let mut locked = Locked {
            w,
            layout: self.layout,
            _guard: guard,
            repaired: None,
        };
        locked.recover();
        Ok(locked)
    }

    /// The classic lost-update race, on purpose: reads the count, yields to let others
    /// run, writes it back minus one. Returns the value written. No lock, no journal.
    pub fn decrement_unlocked(&self, slot: Slot) -> i64 {
        let w = self.w();
        let c = w[W_COUNT].load(SeqCst) as i64;
        std::thread::yield_now();
        w[W_COUNT].store((c - 1) as u64, SeqCst);
        w[self.layout.slot(slot.0, S_COMPLETED)].fetch_add(1, SeqCst);
        c - 1
    }

    /// Everything in the segment, read without the lock (may be mid-update).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(self.w(), self.layout)
    }

    /// Every claimed worker slot.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let w = self.w();
        let n = w[W_NEXT_SLOT].load(SeqCst).min(self.layout.slots) as usize;
        (0..n)
            .map(|i| WorkerInfo {
                slot: i,
                pid: w[self.layout.slot(i, S_PID)].load(SeqCst),
                completed: w[self.layout.slot(i, S_COMPLETED)].load(SeqCst),
                finished: w[self.layout.slot(i, S_STATE)].load(SeqCst) == STATE_FINISHED,
            })
            .collect()
    }
}

/// One worker's slot, as read.
#[derive(Debug, Clone, Copy)]
pub struct WorkerInfo {
    pub slot: usize,
    pub pid: u64,
    pub completed: u64,
    pub finished: bool,
}

/// The segment's words, as read at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Whether the segment holds a count (else `count` and `initial` mean nothing).
    pub has_count: bool,
    pub count: i64,
    pub initial: i64,
    /// Decrements completed by all workers together.
    pub completed: u64,
    /// Workers that claimed a slot, and how many of them finished.
    pub workers: u64,
    pub finished: u64,
    pub slots: u64,
    pub creator: u64,
    pub permits: u64,
    pub inside: u64,
    pub max_inside: u64,
    pub entries: u64,
    pub reclaimed: u64,
}

impl Snapshot {
    /// What the count must be: the initial value minus every completed decrement.
    pub fn expected(&self) -> i64 {
        self.initial - self.completed as i64
    }
}

fn snapshot(w: &[AtomicU64], layout: Layout) -> Snapshot {
    let workers = w[W_NEXT_SLOT].load(SeqCst).min(layout.slots);
    let (mut completed, mut finished) = (0, 0);
    for i in 0..workers as usize {
        completed += w[layout.slot(i, S_COMPLETED)].load(SeqCst);
        finished += u64::from(w[layout.slot(i, S_STATE)].load(SeqCst) == STATE_FINISHED);
    }
    Snapshot {
        has_count: w[W_HAS_COUNT].load(SeqCst) != 0,
        count: w[W_COUNT].load(SeqCst) as i64,
        initial: w[W_INITIAL].load(SeqCst) as i64,
        completed,
        workers,
        finished,
        slots: layout.slots,
        creator: w[W_CREATOR].load(SeqCst),
        permits: layout.permits,
        inside: w[W_INSIDE].load(SeqCst),
        max_inside: w[W_MAX_INSIDE].load(SeqCst),
        entries: w[W_ENTRIES].load(SeqCst),
        reclaimed: w[W_RECLAIMED].load(SeqCst),
    }
}

/// A decrement that a dead lock holder left half-done, and was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// The dead worker's slot.
    pub slot: usize,
    /// The count, as restored.
    pub count: i64,
}

/// How an [`Locked::enter`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entered {
    /// How many are inside now, this worker included.
    pub inside: u64,
    /// The permit's last holder died inside; its place was taken back.
    pub reclaimed: bool,
}

/// The segment while its lock is held: the only way to change the count exactly.
#[derive(Debug)]
pub struct Locked<'a> {
    w: &'a [AtomicU64],
    layout: Layout,
    _guard: Guard<'a>,
    /// Set when taking the lock undid a dead holder's half-done decrement.
    pub repaired: Option<Repair>,
}

impl Locked<'_> {
    /// Undoes the journalled decrement, if any: its writer died before it cleared the
    /// journal. Idempotent (it stores absolute values), so dying in here is harmless too.
    fn recover(&mut self) {
        let w = self.w;
        let entry = w[W_TXN_SLOT].load(SeqCst) as usize;
        if entry == 0 {
            return;
        }
        let slot = entry - 1;
        let count = w[W_TXN_COUNT].load(SeqCst);
        w[W_COUNT].store(count, SeqCst);
        if (slot as u64) < self.layout.slots {
            let done = w[W_TXN_DONE].load(SeqCst);
            w[self.layout.slot(slot, S_COMPLETED)].store(done, SeqCst);
        }
        w[W_TXN_SLOT].store(0, SeqCst);
        self.repaired = Some(Repair {
            slot,
            count: count as i64,
        });
    }

    /// Decrements the count by one and credits `slot` with it, all or nothing even if this
    /// process dies half-way. Returns the new count.
    pub fn decrement(&self, slot: Slot) -> i64 {
        self.decrement_with(slot, |_| {})
    }

    /// [`Locked::decrement`], running `between` after the count is stored and before the
    /// completion is recorded: the worst moment to die, which tests use.
    pub fn decrement_with(&self, slot: Slot, between: impl FnOnce(i64)) -> i64 {
        let w = self.w;
        let completed = &w[self.layout.slot(slot.0, S_COMPLETED)];
        let c = w[W_COUNT].load(SeqCst);
        let done = completed.load(SeqCst);
        // The journal: what to restore should this process die before the end.
        w[W_TXN_COUNT].store(c, SeqCst);
        w[W_TXN_DONE].store(done, SeqCst);
        w[W_TXN_SLOT].store(slot.0 as u64 + 1, SeqCst);
        let now = (c as i64) - 1;
        w[W_COUNT].store(now as u64, SeqCst);
        between(now);
        completed.store(done + 1, SeqCst);
        w[W_TXN_SLOT].store(0, SeqCst);
        now
    }

    /// Records that `slot` is inside with permit `permit`: the gauges go up. If the
    /// permit's last holder died inside (its owner entry is still set), its place is given
    /// back first and counted as reclaimed.
    pub fn enter(&self, permit: usize, slot: Slot) -> Entered {
        let w = self.w;
        let reclaimed = self.release_stale(permit);
        w[self.layout.owner(permit)].store(slot.0 as u64 + 1, SeqCst);
        let inside = w[W_INSIDE].load(SeqCst) + 1;
        w[W_INSIDE].store(inside, SeqCst);
        if inside > w[W_MAX_INSIDE].load(SeqCst) {
            w[W_MAX_INSIDE].store(inside, SeqCst);
        }
        w[W_ENTRIES].fetch_add(1, SeqCst);
        Entered { inside, reclaimed }
    }

    /// Records that the holder of `permit` left. Returns how many are still inside.
    pub fn leave(&self, permit: usize) -> u64 {
        let w = self.w;
        w[self.layout.owner(permit)].store(0, SeqCst);
        let inside = w[W_INSIDE].load(SeqCst).saturating_sub(1);
        w[W_INSIDE].store(inside, SeqCst);
        inside
    }

    /// Gives back the place of a holder of `permit` that died inside. Call it only while
    /// holding that permit (so its owner entry cannot be live). Returns whether it did.
    pub fn release_stale(&self, permit: usize) -> bool {
        let w = self.w;
        if w[self.layout.owner(permit)].load(SeqCst) == 0 {
            return false;
        }
        w[self.layout.owner(permit)].store(0, SeqCst);
        let inside = w[W_INSIDE].load(SeqCst).saturating_sub(1);
        w[W_INSIDE].store(inside, SeqCst);
        w[W_RECLAIMED].fetch_add(1, SeqCst);
        true
    }

    /// Whether someone is recorded inside with `permit`.
    pub fn permit_taken(&self, permit: usize) -> bool {
        self.w[self.layout.owner(permit)].load(SeqCst) != 0
    }

    /// Everything in the segment, consistent (no locked update is half-done).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(self.w, self.layout)
    }
}

/// The permit files of segment `name` that exist, found by name: `baozi-NAME.permit-DIGITS`.
/// (Names have no `.`, so these cannot belong to another segment.)
fn permit_files(name: &str) -> Result<Vec<PathBuf>, Error> {
    let prefix = format!("baozi-{name}.permit-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir())?.flatten() {
        let file_name = entry.file_name();
        if let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix))
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit())
        {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Removes the files of segment `name` (segment, lock file, permit files), for `counter
/// clean`. Without `force`, only a segment that is ours and idle: its file must have a
/// valid header, and nobody may have it open (every user holds a shared lock on it while it
/// does: its launcher, workers, `show`). With `force`, whatever is at those names, links
/// included (the link is removed, never what it points to). Returns what it removed; an
/// error if there was nothing.
pub fn remove(name: &str, force: bool) -> Result<Vec<PathBuf>, Error> {
    let paths = Paths::new(name)?;
    let shown = paths.data.display();
    let forced = format!("`counter clean {name} --force` removes it anyway");
    let mut targets = Vec::new();
    let mut held = None;
    if force || !exists(&paths.data) {
        targets.push(paths.lock.clone());
        targets.extend(permit_files(name)?);
        targets.retain(|p| exists(p));
        if !force && !targets.is_empty() {
            let left: Vec<_> = targets.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "no segment named {name:?} ({shown} does not exist), but {} is left: \
                 `counter clean {name} --force` removes it",
                left.join(", ")
            )
            .into());
        }
        if exists(&paths.data) {
            targets.push(paths.data.clone());
        }
    } else {
        let mut file = lock::open_existing(&paths.data)
            .map_err(|e| format!("cannot clean {shown}: {e}; {forced}"))?;
        let len = file.metadata()?.len();
        let layout = read_header(&mut file, len)
            .map_err(|e| format!("not a baozi-ipc segment: {shown}: {e}; not removed: {forced}"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "segment {name:?} is in use (its launcher, a worker or `counter show` has \
                     it open); not removed: stop them first, or {forced}"
                )
                .into());
            }
            Err(TryLockError::Error(e)) => return Err(format!("cannot lock {shown}: {e}").into()),
        }
        targets.extend((0..layout.permits).map(|i| paths.permit(i)));
        targets.push(paths.lock.clone());
        targets.retain(|p| exists(p));
        // The segment file last, once no longer held (Windows deletes no open file).
        held = Some((file, paths.data.clone()));
    }
    let mut removed = Vec::new();
    let mut remove_one = |p: PathBuf| match std::fs::remove_file(&p) {
        Ok(()) => {
            removed.push(p);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", p.display())),
    };
    for p in targets {
        remove_one(p)?;
    }
    if let Some((file, data)) = held {
        drop(file);
        remove_one(data)?;
    }
    if removed.is_empty() {
        return Err(format!("no segment named {name:?} ({shown} does not exist)").into());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn header(layout: Layout) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_BYTES as usize];
        let mut put = |i: usize, v: u64| h[8 * i..8 * i + 8].copy_from_slice(&v.to_ne_bytes());
        put(W_VERSION, VERSION);
        put(W_SIZE, layout.size());
        put(W_SLOTS, layout.slots);
        put(W_PERMITS, layout.permits);
        h[..8].copy_from_slice(&MAGIC);
        h
    }

    const L: Layout = Layout {
        slots: 8,
        permits: 2,
    };

    #[test]
    fn a_good_header_gives_its_layout() {
        assert_eq!(parse_header(&header(L), L.size()), Ok(L));
    }

    #[test]
    fn a_short_file_is_refused() {
        let e = parse_header(&[0; 10], 10).unwrap_err();
        assert!(e.0.contains("shorter than a segment header"), "{e}");
    }

    #[test]
    fn wrong_or_missing_magic_is_refused() {
        let mut h = header(L);
        h[..8].copy_from_slice(b"NOTBAOZI");
        let e = parse_header(&h, L.size()).unwrap_err();
        assert!(e.0.contains("wrong magic number"), "{e}");
        h[..8].copy_from_slice(&[0; 8]);
        let e = parse_header(&h, L.size()).unwrap_err();
        assert!(e.0.contains("all zeros"), "{e}");
    }

    #[test]
    fn another_version_is_refused() {
        let mut h = header(L);
        // Version 1 had no count flag, and allowed dots in names.
        h[8..16].copy_from_slice(&1u64.to_ne_bytes());
        let e = parse_header(&h, L.size()).unwrap_err();
        assert!(e.0.contains("layout version 1"), "{e}");
    }

    #[test]
    fn a_truncated_file_is_refused() {
        let e = parse_header(&header(L), L.size() - 8).unwrap_err();
        assert!(e.0.contains("truncated"), "{e}");
    }

    #[test]
    fn sizes_that_do_not_add_up_are_refused() {
        let mut h = header(L);
        h[8 * W_SLOTS..8 * W_SLOTS + 8].copy_from_slice(&9u64.to_ne_bytes());
        let e = parse_header(&h, L.size()).unwrap_err();
        assert!(e.0.contains("need"), "{e}");
        h[8 * W_SLOTS..8 * W_SLOTS + 8].copy_from_slice(&0u64.to_ne_bytes());
        let e = parse_header(&h, L.size()).unwrap_err();
        assert!(e.0.contains("0 worker slots"), "{e}");
    }

    fn name(tag: &str) -> String {
        format!("unit-{tag}-{}", std::process::id())
    }

    #[test]
    fn create_open_decrement_and_remove() {
        let n = name("cycle");
        let seg = Segment::create(
            &n,
            Init {
                value: Some(5),
                slots: 4,
                permits: 1,
                sharing: Sharing::Owner,
            },
        )
        .unwrap();
        assert!(
            Segment::create(
                &n,
                Init {
                    value: Some(1),
                    slots: 1,
                    permits: 0,
                    sharing: Sharing::Owner,
                }
            )
            .unwrap_err()
            .to_string()
            .contains("already exists")
        );
        let mut other = Segment::open(&n).unwrap();
        let slot = other.claim_slot().unwrap();
        assert_eq!(other.lock().unwrap().decrement(slot), 4);
        assert_eq!(other.decrement_unlocked(slot), 3);
        let s = seg.snapshot();
        assert_eq!((s.count, s.completed, s.expected()), (3, 2, 3));
        drop(other);
        let path = seg.path().to_owned();
        drop(seg);
        assert!(!path.exists(), "the creator left its segment behind");
        assert!(
            Segment::open(&n)
                .unwrap_err()
                .to_string()
                .contains("no segment named")
        );
    }

    #[test]
    fn a_decrement_cut_short_inside_the_lock_is_undone() {
        let n = name("undo");
        let mut seg = Segment::create(
            &n,
            Init {
                value: Some(10),
                slots: 2,
                permits: 0,
                sharing: Sharing::Owner,
            },
        )
        .unwrap();
        let slot = seg.claim_slot().unwrap();
        assert_eq!(seg.lock().unwrap().decrement(slot), 9);
        // Die (here: unwind) after storing the count, before recording the completion.
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            seg.lock()
                .unwrap()
                .decrement_with(slot, |_| panic!("killed inside the lock"));
        }));
        assert!(died.is_err());
        assert_eq!(
            seg.snapshot().count,
            8,
            "the half-done decrement is visible"
        );
        let locked = seg.lock().unwrap();
        assert_eq!(locked.repaired, Some(Repair { slot: 0, count: 9 }));
        let s = locked.snapshot();
        assert_eq!((s.count, s.completed), (9, 1));
        drop(locked);
        assert_eq!(seg.lock().unwrap().repaired, None);
    }

    #[test]
    fn the_gauges_take_back_a_dead_holders_place() {
        let n = name("gauge");
        let mut seg = Segment::create(
            &n,
            Init {
                value: None,
                slots: 4,
                permits: 2,
                sharing: Sharing::Owner,
            },
        )
        .unwrap();
        let (a, b) = (seg.claim_slot().unwrap(), seg.claim_slot().unwrap());
        let l = seg.lock().unwrap();
        assert_eq!(l.enter(0, a).inside, 1);
        assert_eq!(l.enter(1, b).inside, 2);
        assert_eq!(l.leave(1), 1);
        // a died inside with permit 0; b gets permit 0.
        assert_eq!(
            l.enter(0, b),
            Entered {
                inside: 1,
                reclaimed: true
            }
        );
        let s = l.snapshot();
        assert_eq!(
            (s.inside, s.max_inside, s.entries, s.reclaimed),
            (1, 2, 3, 1)
        );
    }

    #[test]
    fn names() {
        for good in ["a", "demo", "run-42", "x_y-z", "A1"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a\\b",
            "a\0b",
            ".",
            "..",
            "sp ace",
            "x.lock",
            "x.permit-0",
            "ü",
            &"x".repeat(101),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains("letters, digits"), "{bad}: {e}");
        }
    }
}
