//! One single-producer single-consumer byte ring over control words that two processes
//! share: the algorithm and its memory orderings, with no `unsafe`, no mapping and no
//! system call. The bytes are a [`Storage`] and the sleeping is a [`Kernel`], so the same
//! code runs over the shared mapping (`memory.rs`, the futex) and inside the `loom` model
//! (`ipc/tests/loom_ring.rs`, which includes this file and `index.rs` with loom's atomics
//! as `super::sync`).
//!
//! Orderings, and why they suffice:
//! - The producer copies bytes in, then stores `head` with `Release`; the consumer loads
//!   `head` with `Acquire` before copying them out: the copy happens-before the read.
//!   Symmetrically the consumer stores `tail` with `Release` after copying out, and the
//!   producer loads it with `Acquire` before overwriting that room. Each counter has one
//!   writer, which keeps its own value locally and never reads it back.
//! - Closing (`state`, `fetch_or` with `Release`) comes after the last `head` store, and
//!   a reader that sees it (`Acquire`) loads `head` again, so no published byte is lost.
//! - Sleeping is the store-buffering pattern (Dekker): the waiter raises `sleeping`, then
//!   a `SeqCst` fence, then re-checks the counter; the poster stores the counter, then a
//!   `SeqCst` fence, then loads `sleeping`. With both fences at least one sees the
//!   other's store: the waiter does not sleep, or the poster wakes it. The futex compares
//!   `seq` with the value the waiter read before raising the flag, so a wake between the
//!   re-check and the sleep is not lost either (the kernel sees `seq` changed).

use super::index::{self, Corrupt};
use super::sync::{AtomicU32, AtomicU64, Ordering, fence};

/// A value alone on its 64-byte cache line, so the two sides do not fight over lines.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub struct Line<T>(pub T);

/// Where one side sleeps: a sequence word the futex waits on (bumped to wake), and a flag
/// saying someone sleeps or is about to.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Waiter {
    pub seq: AtomicU32,
    pub sleeping: AtomicU32,
}

/// `state` bit: the producer will write no more (end of stream, half-close).
pub const WRITER_CLOSED: u32 = 1;
/// `state` bit: the consumer will read no more (a write gets a broken pipe).
pub const READER_CLOSED: u32 = 2;

/// One ring's control words, as they lie in the shared memory.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Ctl {
    /// Bytes ever written; stored by the producer only.
    pub head: Line<AtomicU64>,
    /// Bytes ever read; stored by the consumer only.
    pub tail: Line<AtomicU64>,
    /// The consumer sleeps here for data.
    pub data: Line<Waiter>,
    /// The producer sleeps here for room.
    pub space: Line<Waiter>,
    /// [`WRITER_CLOSED`] and [`READER_CLOSED`].
    pub state: Line<AtomicU32>,
}

/// The ring's bytes. `at + len <= capacity` on every call (the caller splits at the wrap).
pub trait Storage {
    fn put(&self, at: usize, src: &[u8]);
    fn get(&self, at: usize, dst: &mut [u8]);
}

/// Sleeping and waking on a 32-bit word, across processes (the futex; a condition
/// variable in the model).
pub trait Kernel {
    /// How long one sleep may last.
    type Limit: Copy;
    /// Sleeps while `word` holds `seen`, until woken or `limit`; may return early.
    fn wait(&self, word: &AtomicU32, seen: u32, limit: Self::Limit);
    /// Wakes whoever sleeps on `word`.
    fn wake(&self, word: &AtomicU32);
}

impl Waiter {
    /// Sleeps until posted, unless `ready()` already holds once the flag is up.
    pub fn sleep<K: Kernel>(&self, k: &K, limit: K::Limit, ready: impl FnOnce() -> bool) {
        let seen = self.seq.load(Ordering::Acquire);
        self.sleeping.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if !ready() {
            k.wait(&self.seq, seen, limit);
        }
        self.sleeping.store(0, Ordering::Relaxed);
    }

    /// After a store the sleeper waits for: wakes it if it sleeps (or is about to).
    pub fn post<K: Kernel>(&self, k: &K) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) != 0 {
            self.seq.fetch_add(1, Ordering::AcqRel);
            k.wake(&self.seq);
        }
    }

    /// Wakes whoever sleeps here, flag or not: after a store the sleeper's `ready` reads
    /// that the other side does not know of (our own shutdown, the peer's death).
    pub fn kick<K: Kernel>(&self, k: &K) {
        self.seq.fetch_add(1, Ordering::SeqCst);
        k.wake(&self.seq);
    }
}

/// What one attempt to read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Got {
    /// This many bytes, now in the caller's buffer.
    Bytes(usize),
    /// Nothing yet.
    Empty,
    /// Nothing, and the producer closed: the end of the stream.
    End,
}

/// What one attempt to write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// This many bytes went in.
    Bytes(usize),
    /// No room yet.
    Full,
    /// The consumer closed: nothing will ever be read.
    Closed,
}

/// The producer's end of one ring: its own `head`, and the last `tail` it saw.
#[derive(Debug)]
pub struct Producer {
    cap: u64,
    head: u64,
    tail_seen: u64,
}

/// The consumer's end of one ring: its own `tail`, and the last `head` it saw.
#[derive(Debug)]
pub struct Consumer {
    cap: u64,
    tail: u64,
    head_seen: u64,
}

impl Producer {
    /// The producer of a fresh ring of `cap` bytes (a power of two).
    pub fn new(cap: u64) -> Producer {
        Producer {
            cap,
            head: 0,
            tail_seen: 0,
        }
    }

    /// Copies in as much of `src` as fits now, publishes it, and wakes the consumer if it
    /// sleeps.
    pub fn write<K: Kernel>(
        &mut self,
        ctl: &Ctl,
        bytes: &impl Storage,
        k: &K,
        src: &[u8],
    ) -> Result<Put, Corrupt> {
        if ctl.state.0.load(Ordering::Acquire) & READER_CLOSED != 0 {
            return Ok(Put::Closed);
        }
        let mut free = index::free(self.head, self.tail_seen, self.cap)?;
        if (free as usize) < src.len() {
            self.tail_seen = ctl.tail.0.load(Ordering::Acquire);
            free = index::free(self.head, self.tail_seen, self.cap)?;
        }
        let n = src.len().min(free as usize);
        if n == 0 {
            return Ok(Put::Full);
        }
        for (r, b) in index::pieces(self.head, n, self.cap) {
            if !r.is_empty() {
                bytes.put(r.start, &src[b]);
            }
        }
        self.head = self.head.wrapping_add(n as u64);
        ctl.head.0.store(self.head, Ordering::Release);
        ctl.data.0.post(k);
        Ok(Put::Bytes(n))
    }

    /// Whether a write could go in now (room, or the consumer gone): the sleeper's check.
    pub fn can_write(&self, ctl: &Ctl) -> bool {
        let tail = ctl.tail.0.load(Ordering::Acquire);
        ctl.state.0.load(Ordering::Acquire) & READER_CLOSED != 0
            || index::free(self.head, tail, self.cap).map_or(true, |f| f > 0)
    }
}

impl Consumer {
    /// The consumer of a fresh ring of `cap` bytes (a power of two).
    pub fn new(cap: u64) -> Consumer {
        Consumer {
            cap,
            tail: 0,
            head_seen: 0,
        }
    }

    /// Copies out what is there, up to `dst.len()`, frees its room, and wakes the
    /// producer if it sleeps.
    pub fn read<K: Kernel>(
        &mut self,
        ctl: &Ctl,
        bytes: &impl Storage,
        k: &K,
        dst: &mut [u8],
    ) -> Result<Got, Corrupt> {
        let mut used = index::used(self.head_seen, self.tail, self.cap)?;
        if used == 0 {
            self.head_seen = ctl.head.0.load(Ordering::Acquire);
            used = index::used(self.head_seen, self.tail, self.cap)?;
            if used == 0 {
                if ctl.state.0.load(Ordering::Acquire) & WRITER_CLOSED == 0 {
                    return Ok(Got::Empty);
                }
                // Closed: whatever was published before the close is visible now.
                self.head_seen = ctl.head.0.load(Ordering::Acquire);
                used = index::used(self.head_seen, self.tail, self.cap)?;
                if used == 0 {
                    return Ok(Got::End);
                }
            }
        }
        let n = dst.len().min(used as usize);
        for (r, b) in index::pieces(self.tail, n, self.cap) {
            if !r.is_empty() {
                bytes.get(r.start, &mut dst[b]);
            }
        }
        self.tail = self.tail.wrapping_add(n as u64);
        ctl.tail.0.store(self.tail, Ordering::Release);
        ctl.space.0.post(k);
        Ok(Got::Bytes(n))
    }

    /// Whether a read would return now (bytes, or the end): the sleeper's check.
    pub fn can_read(&self, ctl: &Ctl) -> bool {
        ctl.head.0.load(Ordering::Acquire) != self.tail
            || ctl.state.0.load(Ordering::Acquire) & WRITER_CLOSED != 0
    }
}

/// The end of the stream from the producer's side: nothing more will be written (after
/// its last `head` store, so a reader that sees it sees every byte).
pub fn close_writer<K: Kernel>(ctl: &Ctl, k: &K) {
    ctl.state.0.fetch_or(WRITER_CLOSED, Ordering::Release);
    ctl.data.0.post(k);
}

/// The consumer will read no more: the producer's writes fail from now on.
pub fn close_reader<K: Kernel>(ctl: &Ctl, k: &K) {
    ctl.state.0.fetch_or(READER_CLOSED, Ordering::Release);
    ctl.space.0.post(k);
}
