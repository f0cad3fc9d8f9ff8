//! The `shm:` ring's atomics, model-checked with loom: every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` preemptions) of a producer and a consumer thread over a tiny
//! ring, running the very code of `ipc/src/transport/ring/spsc.rs` and `index.rs`,
//! included here with loom's atomics as their `super::sync`. The ring's bytes are loom
//! cells (a byte touched by both sides without a happens-before edge is reported as a data
//! race), and the futex is a loom mutex and condition variable with the futex's meaning
//! (sleep while the word holds the value seen; a wake after the word changed is never
//! lost): a lost wake-up leaves a thread asleep for ever, which loom reports as a deadlock.
//!
//! Built only with `--cfg loom`: `scripts/loom.sh` (about a minute; scripts/test.sh runs it).
//! What loom cannot see (a mapping, two processes, a process killed at any instruction)
//! the crash tests check end to end (`consumer/tests/shm.rs`).
#![cfg(loom)]
#![allow(dead_code, clippy::unwrap_used)]
// The bytes of the model ring are loom cells, read and written through raw pointers.
#![allow(unsafe_code)]

mod sync {
    pub use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
}
#[path = "../src/transport/ring/index.rs"]
mod index;
#[path = "../src/transport/ring/spsc.rs"]
mod spsc;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Condvar, Mutex};
use spsc::{Consumer, Ctl, Got, Kernel, Producer, Put, Storage};
use sync::{AtomicU32, Ordering};

/// The ring's size in the model: small, so that the bytes wrap and the ring fills.
const CAP: u64 = 2;

struct Cells(Vec<UnsafeCell<u8>>);

impl Cells {
    fn new() -> Cells {
        Cells((0..CAP).map(|_| UnsafeCell::new(0)).collect())
    }
}

impl Storage for Cells {
    fn put(&self, at: usize, src: &[u8]) {
        for (i, b) in src.iter().enumerate() {
            // SAFETY: loom checks that no other access to this cell races with this one.
            self.0[at + i].with_mut(|p| unsafe { *p = *b });
        }
    }

    fn get(&self, at: usize, dst: &mut [u8]) {
        for (i, b) in dst.iter_mut().enumerate() {
            // SAFETY: as in `put`.
            *b = self.0[at + i].with(|p| unsafe { *p });
        }
    }
}

/// A futex: sleeps while the word holds `seen`; a wake takes the lock, so it cannot fall
/// between a sleeper's check and its sleep.
#[derive(Default)]
struct Futex {
    lock: Mutex<()>,
    woken: Condvar,
}

impl Kernel for Futex {
    type Limit = ();

    fn wait(&self, word: &AtomicU32, seen: u32, _: ()) {
        let mut g = self.lock.lock().unwrap();
        while word.load(Ordering::SeqCst) == seen {
            g = self.woken.wait(g).unwrap();
        }
    }

    fn wake(&self, _: &AtomicU32) {
        let _g = self.lock.lock().unwrap();
        self.woken.notify_all();
    }
}

struct Ring {
    ctl: Ctl,
    bytes: Cells,
    futex: Futex,
}

fn ring() -> Arc<Ring> {
    Arc::new(Ring {
        ctl: Ctl::default(),
        bytes: Cells::new(),
        futex: Futex::default(),
    })
}

/// Writes `data` whole (in pieces as room frees, sleeping when full), then closes.
fn produce(r: &Ring, data: &[u8]) {
    let mut p = Producer::new(CAP);
    let mut sent = 0;
    while sent < data.len() {
        match p.write(&r.ctl, &r.bytes, &r.futex, &data[sent..]).unwrap() {
            Put::Bytes(n) => sent += n,
            Put::Full => r.ctl.space.0.sleep(&r.futex, (), || p.can_write(&r.ctl)),
            Put::Closed => panic!("the consumer never closes here"),
        }
    }
    spsc::close_writer(&r.ctl, &r.futex);
}

/// Reads until the end, in reads of at most `chunk` bytes, sleeping when empty.
fn consume(r: &Ring, chunk: usize) -> Vec<u8> {
    let mut c = Consumer::new(CAP);
    let mut got = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        match c.read(&r.ctl, &r.bytes, &r.futex, &mut buf).unwrap() {
            Got::Bytes(n) => got.extend_from_slice(&buf[..n]),
            Got::End => return got,
            Got::Empty => r.ctl.data.0.sleep(&r.futex, (), || c.can_read(&r.ctl)),
        }
    }
}

/// Every byte arrives once, in order, before the end; neither side sleeps for ever; no
/// byte is touched by both at once. Three bytes through a ring of two: it fills, wraps,
/// and a write larger than the ring goes in pieces.
#[test]
fn every_byte_arrives_in_order_and_no_wake_up_is_lost() {
    for chunk in [1, 2] {
        loom::model(move || {
            let r = ring();
            let r2 = Arc::clone(&r);
            let producer = loom::thread::spawn(move || produce(&r2, &[1, 2, 3]));
            assert_eq!(consume(&r, chunk), [1, 2, 3]);
            producer.join().unwrap();
        });
    }
}

/// The end of the stream is never seen before a byte published ahead of it.
#[test]
fn the_end_comes_after_every_byte() {
    loom::model(|| {
        let r = ring();
        let r2 = Arc::clone(&r);
        let producer = loom::thread::spawn(move || produce(&r2, &[7]));
        assert_eq!(consume(&r, 2), [7]);
        producer.join().unwrap();
    });
}

/// A reader asleep on an empty ring is woken by a flag only its own process knows (our
/// shutdown, the watcher seeing the peer die): the flag, then a kick.
#[test]
fn a_kick_wakes_a_sleeping_reader() {
    loom::model(|| {
        let r = ring();
        let stop = Arc::new(AtomicBool::new(false));
        let (r2, stop2) = (Arc::clone(&r), Arc::clone(&stop));
        let kicker = loom::thread::spawn(move || {
            stop2.store(true, Ordering::SeqCst);
            r2.ctl.data.0.kick(&r2.futex);
        });
        let c = Consumer::new(CAP);
        while !stop.load(Ordering::SeqCst) {
            r.ctl.data.0.sleep(&r.futex, (), || {
                c.can_read(&r.ctl) || stop.load(Ordering::SeqCst)
            });
        }
        kicker.join().unwrap();
    });
}

/// A writer asleep on a full ring wakes when the reader closes, and its write fails.
#[test]
fn a_writer_on_a_full_ring_sees_the_reader_close() {
    loom::model(|| {
        let r = ring();
        let r2 = Arc::clone(&r);
        let closer = loom::thread::spawn(move || spsc::close_reader(&r2.ctl, &r2.futex));
        let mut p = Producer::new(CAP);
        let data = [1u8, 2, 3];
        let mut sent = 0;
        loop {
            match p.write(&r.ctl, &r.bytes, &r.futex, &data[sent..]).unwrap() {
                Put::Bytes(n) => sent += n,
                Put::Full => r.ctl.space.0.sleep(&r.futex, (), || p.can_write(&r.ctl)),
                Put::Closed => break,
            }
            assert!(
                sent < data.len(),
                "the reader never read: 3 bytes cannot fit in 2"
            );
        }
        closer.join().unwrap();
    });
}
