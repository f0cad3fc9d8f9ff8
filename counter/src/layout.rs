//! The counter's segment: what the count, the workers' slots, the semaphore's gauges and
//! the count's undo journal are, word by word, over `ipc::segment` (a named, checked,
//! mapped file, which knows only the first three words). Only this module and `locked.rs`
//! know the words; `counter` is their only user.
//!
//! Its files: the segment `baozi-NAME` (see `ipc::segment::dir`), its lock file
//! `baozi-NAME.lock` and permit files `baozi-NAME.permit-I` beside it. Every file is created
//! new, owner-only (0600, or 0660 with `Sharing::Group`) whatever the umask, and never
//! opened through a link.
//!
//! Layout, in native-endian 64-bit words (the segment never leaves the machine):
//!
//! ```text
//! word  0      magic "BAOZISHM"             written last by the creator   } ipc::segment's
//!       1      layout version (3)                                          } header
//!       2      size of the file in bytes                                   }
//!       3, 4   worker slots, permits (K)
//!       5, 6   initial value, creator's pid
//!       7      count                          } read-modify-write under the lock
//!       8, 9   next free slot, next ticket     fetch_add, no lock needed
//!      10..13  inside, max inside, entries, reclaimed permits (the semaphore's gauges:
//!              atomic adds, no lock; see `locked::Gauges`)
//!      14..16  journal: slot + 1 (0: empty), count before, that slot's completed before
//!      17      1 if the segment holds a count (`run`, `init`), 0 if only permits
//!      18, 19  the lock file's device and inode (Unix; 0 on Windows), written by the creator
//!      20      set once someone found another file at the lock file's path (1) or at
//!              permit I's (2 + I): tampering
//!      21..23  reserved
//!  24..24+3K   per permit I, 3 words: its owner (worker slot + 1 of whoever is inside with
//!              it, or 0; written only by the holder of permit I), then its file's device
//!              and inode (Unix; 0 on Windows), written by the creator
//!  then        worker slots, 4 words each: pid, completed decrements, state, reserved
//! ```
//!
//! Every word is only ever touched as an `AtomicU64`, so even racing workers (`--lock none`)
//! make no data race in Rust's sense: they lose updates the classic way, load then store.

use crate::locked::{Gauges, Locked};
use common::Error;
use ipc::lock::{FileLock, Semaphore};
use ipc::segment::{self, HeaderError, Kind, Mapping, RemoveOnDrop, SegmentError, Sharing, word};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// The kind of segment this is: magic and layout version.
pub const KIND: Kind = Kind {
    magic: *b"BAOZISHM",
    version: 3,
};
/// Bytes before the permit owners.
pub const HEADER_BYTES: u64 = 8 * HEADER_WORDS as u64;
/// At most this many worker slots.
pub const MAX_SLOTS: u64 = 1 << 16;
/// At most this many permits.
pub const MAX_PERMITS: u64 = 64;

const HEADER_WORDS: usize = 24;
const PERMIT_WORDS: usize = 3;
const SLOT_WORDS: usize = 4;

// Words 0..3 are ipc::segment's (magic, version, size).
const W_SLOTS: usize = segment::HEADER_WORDS;
const W_PERMITS: usize = 4;
const W_INITIAL: usize = 5;
const W_CREATOR: usize = 6;
pub(crate) const W_COUNT: usize = 7;
const W_NEXT_SLOT: usize = 8;
const W_TICKETS: usize = 9;
pub(crate) const W_INSIDE: usize = 10;
pub(crate) const W_MAX_INSIDE: usize = 11;
pub(crate) const W_ENTRIES: usize = 12;
pub(crate) const W_RECLAIMED: usize = 13;
pub(crate) const W_TXN_SLOT: usize = 14;
pub(crate) const W_TXN_COUNT: usize = 15;
pub(crate) const W_TXN_DONE: usize = 16;
const W_HAS_COUNT: usize = 17;
const W_LOCK_DEV: usize = 18;
const W_LOCK_INO: usize = 19;
const W_TAMPERED: usize = 20;

const S_PID: usize = 0;
pub(crate) const S_COMPLETED: usize = 1;
const S_STATE: usize = 2;

const STATE_RUNNING: u64 = 1;
const STATE_FINISHED: u64 = 2;

/// What a segment file holds besides its header: how many worker slots and permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub slots: u64,
    pub permits: u64,
}

impl Layout {
    /// The size of a segment file with this layout, in bytes.
    pub fn size(self) -> u64 {
        HEADER_BYTES + 8 * (PERMIT_WORDS as u64 * self.permits + SLOT_WORDS as u64 * self.slots)
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

    pub(crate) fn owner(self, permit: usize) -> usize {
        HEADER_WORDS + PERMIT_WORDS * permit
    }

    /// The words of permit `permit`'s file identity: device, inode.
    fn permit_id(self, permit: usize) -> (usize, usize) {
        (self.owner(permit) + 1, self.owner(permit) + 2)
    }

    pub(crate) fn slot(self, slot: usize, field: usize) -> usize {
        HEADER_WORDS + PERMIT_WORDS * self.permits as usize + SLOT_WORDS * slot + field
    }
}

/// Checks the header at the start of a segment file of `file_len` bytes (`head` holds at
/// least its first [`HEADER_BYTES`], or the whole file if it is shorter): the generic
/// header (`ipc::segment`), then the counter's own words.
pub fn parse_header(head: &[u8], file_len: u64) -> Result<Layout, HeaderError> {
    segment::check_header(head, file_len, HEADER_BYTES, KIND)?;
    let bad = |why: String| Err(HeaderError(why));
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
    if layout.size() != file_len {
        return bad(format!(
            "the header's {} slots and {} permits need {} bytes, not {file_len}",
            layout.slots,
            layout.permits,
            layout.size()
        ));
    }
    Ok(layout)
}

/// The files of the segment called `name`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub(crate) name: String,
    /// The segment itself.
    pub data: PathBuf,
    /// The lock file of the count and the gauges.
    pub lock: PathBuf,
}

impl Paths {
    /// The paths for `name`, which must pass `ipc::addr::check_segment_name`.
    pub fn new(name: &str) -> Result<Paths, String> {
        Ok(Paths {
            name: name.to_owned(),
            data: segment::path_of(name)?,
            lock: segment::companion(name, "lock"),
        })
    }

    /// The lock file of permit `i`.
    pub fn permit(&self, i: u64) -> PathBuf {
        segment::companion(&self.name, &format!("permit-{i}"))
    }
}

/// The tampering mark (word 20) for the lock file, and for permit I's file (`PERMIT + I`).
const TAMPERED_LOCK: u64 = 1;
const TAMPERED_PERMIT: u64 = 2;

/// The error of a segment whose lock file or a permit file was found replaced (`mark`:
/// what word 20 says).
fn tampered(paths: &Paths, mark: u64) -> String {
    let (what, path) = match mark.checked_sub(TAMPERED_PERMIT) {
        Some(i) => ("permit file", paths.permit(i)),
        None => ("lock file", paths.lock.clone()),
    };
    format!(
        "{what} {} was replaced while in use (tampering?); stopping without touching \
         segment {:?}",
        path.display(),
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

/// A worker's slot in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(pub(crate) usize);

impl Slot {
    /// The slot's number, from 0: the worker's id.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A mapped segment.
///
/// Field order matters: fields drop in order, so the mapping is gone and the files are
/// closed before `files` removes them (Windows refuses to delete a mapped file).
#[derive(Debug)]
pub struct Segment {
    mapping: Mapping,
    lock: FileLock,
    paths: Paths,
    layout: Layout,
    files: Option<RemoveOnDrop>,
}

impl Segment {
    fn w(&self) -> &[AtomicU64] {
        self.mapping.words()
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
        let exists = |p: &Path| {
            format!(
                "segment {name:?} already exists ({} is there); a leftover is removed by \
                 `counter clean {name}`",
                p.display()
            )
        };
        let mut files = RemoveOnDrop::default();
        let mut permit_ids = Vec::new();
        let mapping = Mapping::create(&paths.data, KIND, layout.size(), init.sharing, &mut files)
            .map_err(|e| match e {
            SegmentError::Exists(p) => exists(&p),
            e => e.to_string(),
        })?;
        for p in
            std::iter::once(paths.lock.clone()).chain((0..layout.permits).map(|i| paths.permit(i)))
        {
            // Only what this call created goes on the list: on an error, whatever was
            // there before stays.
            let file = ipc::lock::create_new_file(&p, init.sharing.mode()).map_err(|e| match e
                .kind()
            {
                io::ErrorKind::AlreadyExists => exists(&p),
                _ => format!("cannot create {}: {e}", p.display()),
            })?;
            files.add(p);
            permit_ids.push(ipc::lock::identity(&file)?);
        }
        // The first was the lock file.
        permit_ids.remove(0);
        let lock = FileLock::open(&paths.lock)?;
        let seg = Segment {
            mapping,
            lock,
            paths,
            layout,
            files: Some(files),
        };
        let w = seg.w();
        let value = init.value.unwrap_or(0);
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
        for (i, id) in permit_ids.into_iter().enumerate() {
            if let Some((dev, ino)) = id {
                let (d, n) = layout.permit_id(i);
                w[d].store(dev, SeqCst);
                w[n].store(ino, SeqCst);
            }
        }
        // Last: a segment is valid only once it is complete.
        seg.mapping.publish(KIND);
        Ok(seg)
    }

    /// Opens the existing segment `name`, refusing a file that is not one, a link, or a
    /// segment being removed.
    pub fn open(name: &str) -> Result<Segment, Error> {
        let paths = Paths::new(name)?;
        let shown = paths.data.display();
        let mut layout = None;
        let check = |head: &[u8], len| {
            layout = Some(parse_header(head, len)?);
            Ok(())
        };
        let mapping =
            Mapping::open(&paths.data, KIND, HEADER_BYTES, check).map_err(|e| match e {
                SegmentError::Missing(_) => format!(
                    "no segment named {name:?} ({shown} does not exist; create it with \
                     `counter init {name}`)"
                ),
                SegmentError::BeingRemoved(_) => {
                    format!("segment {name:?} is being removed (`counter clean`)")
                }
                e => e.to_string(),
            })?;
        let layout = layout.ok_or("the segment's header was not read")?;
        let lock = FileLock::open(&paths.lock)?;
        let seg = Segment {
            mapping,
            lock,
            paths,
            layout,
            files: None,
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
            w[W_TAMPERED].store(TAMPERED_LOCK, SeqCst);
            return Err(tampered(&seg.paths, TAMPERED_LOCK).into());
        }
        Ok(seg)
    }

    /// Leaves the files in place when this segment is dropped or on Ctrl-C.
    pub fn keep(&mut self) {
        if let Some(files) = self.files.take() {
            files.disown();
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

    /// The semaphore of this segment's K permits. Each permit file is opened here, once,
    /// and must be the one the creator made (device and inode, as recorded; Unix): one
    /// found replaced marks the segment tampered, which every user checks at each entry
    /// ([`Segment::check`]), so nobody ever locks a replacement beside the original.
    pub fn semaphore(&self) -> Result<Semaphore, Error> {
        if self.layout.permits == 0 {
            return Err(format!(
                "segment {:?} has no permits; create one with `counter init {} --permits K`",
                self.paths.name, self.paths.name
            )
            .into());
        }
        let sem = Semaphore::open(
            (0..self.layout.permits)
                .map(|i| self.paths.permit(i))
                .collect(),
        )?;
        let w = self.w();
        for (i, found) in sem.identities().into_iter().enumerate() {
            let (d, n) = self.layout.permit_id(i);
            let recorded = (w[d].load(SeqCst), w[n].load(SeqCst));
            if let Some(found) = found
                && recorded != (0, 0)
                && found != recorded
            {
                let mark = TAMPERED_PERMIT + i as u64;
                w[W_TAMPERED].store(mark, SeqCst);
                return Err(tampered(&self.paths, mark).into());
            }
        }
        Ok(sem)
    }

    /// Fails if someone found the lock file or a permit file replaced: one atomic load,
    /// for each entry of a semaphore's worker (taking the segment's lock checks it too).
    pub fn check(&self) -> io::Result<()> {
        match self.w()[W_TAMPERED].load(SeqCst) {
            0 => Ok(()),
            mark => Err(io::Error::other(tampered(&self.paths, mark))),
        }
    }

    /// The semaphore's gauges, changed without the segment's lock.
    pub fn gauges(&self) -> Gauges<'_> {
        Gauges::new(self.w(), self.layout)
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
        let w = self.mapping.words();
        let guard = self.lock.lock()?;
        let mark = w[W_TAMPERED].load(SeqCst);
        if mark != 0 {
            return Err(io::Error::other(tampered(&self.paths, mark)));
        }
        Ok(Locked::new(w, self.layout, guard))
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

    /// Everything in the segment, read without the lock (may be mid-update). (`show` reads
    /// it under the lock, [`Locked::snapshot`].)
    #[cfg(test)]
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

pub(crate) fn snapshot(w: &[AtomicU64], layout: Layout) -> Snapshot {
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

#[cfg(test)]
mod tests;
