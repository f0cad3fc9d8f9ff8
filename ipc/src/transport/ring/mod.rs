//! `shm:NAME`: a byte stream through shared memory, two single-producer single-consumer
//! rings per connection (one each way), under the same framing as every other stream.
//!
//! - `index.rs`: the ring's arithmetic, pure functions, unit- and property-tested.
//! - `spsc.rs`: one ring's algorithm over shared control words, generic over the bytes and
//!   the sleeping, so that `ipc/tests/loom_ring.rs` model-checks the very same code.
//! - `memory.rs`: the segment's layout and the one `unsafe` view of it.
//! - `lazy.rs`: a listener's connection, handed its memory at its first use (on the
//!   thread that serves it, not the accepting one).
//! - `linux.rs` / `win.rs`: the rendezvous (finding the peer by name, handing it the
//!   memory, noticing its death) and the kernel's sleeping and waking.
//!
//! Rendezvous: on Linux the abstract Unix socket `baozi-shm.NAME` (so `shm:x` and `local:x`
//! never meet); the connecting side makes the memory (a memfd, reserved whole at once)
//! and hands it over with `SCM_RIGHTS`. On Windows the named pipe `\\.\pipe\baozi-shm.NAME`;
//! the connecting side makes an unnamed section and two pairs of events and duplicates
//! them into the listener. Either way the memory has no name, so nothing outlives both
//! processes, and the rendezvous connection stays open for the stream's life: the peer
//! going away (closing, or killed) closes it, which wakes our sleepers.
//!
//! Waiting ([`Link::wait`]): spin, at most [`SPIN`], only while the peer last ran on
//! another CPU (it may answer within the spin; on our CPU it cannot, as we hold the CPU
//! it needs); while it last ran on ours, give the CPU over once (a yield: the peer, woken
//! by what we just posted, may then answer without either of us sleeping in the kernel;
//! measured with both ends pinned to one CPU: echo round trips 2.7 -> 2.1 us, 64 KiB items
//! 0.69 -> 0.53 s for 2 GiB); then sleep in the kernel (futex / event) with nothing
//! periodic: an idle stream costs no CPU.

mod index;
mod lazy;
mod memory;
mod spsc;
/// The atomics the ring is written with: std's here, loom's in the model.
mod sync {
    pub use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};
}
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(super) use linux::{connect, knock, listen};
#[cfg(windows)]
mod win;
#[cfg(windows)]
pub(super) use win::{connect, knock, listen};

use memory::{ASLEEP, Mapping};
use spsc::{Consumer, Ctl, Got, Producer, Put, Waiter};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use linux::{Os, current_cpu};
#[cfg(windows)]
use win::{Os, current_cpu};

/// The bytes of each ring, each way: 8 MiB of memory per connection, reserved at connect.
/// 4 MiB, because a ring must hold several of the largest writes for the two sides to
/// copy at the same time: 1 MiB items moved about 4 GiB/s through 1 MiB rings (each side
/// waiting for the other's whole copy) and about 10 GiB/s through 4 MiB rings, both ends
/// on their own CPUs (scripts/bench.sh shm; the anchors in ../shared/notes measured 39 GiB/s
/// for a bare 4 MiB ring on a quiet machine).
pub const RING_BYTES: u64 = 4 << 20;

/// How long a waiter spins, at most, while the peer runs on another CPU, before it sleeps
/// in the kernel (a wake-up from sleep costs about 20 us on these machines).
pub const SPIN: Duration = Duration::from_micros(30);

/// One connection's shared state in this process: the mapping, our side, and what we
/// learnt locally (the peer went away; we shut the stream down).
#[derive(Debug)]
struct Link {
    map: Mapping,
    kernel: Os,
    /// 0: the connecting side, writes ring 0 and reads ring 1; 1: the listening side.
    side: usize,
    /// The rendezvous connection closed: the peer's process is gone or has let go (Linux's
    /// watcher; on Windows the waits see the peer's process end, `Os::peer_ended`).
    gone: AtomicBool,
    /// We shut the stream down both ways (from any thread).
    shut: AtomicBool,
}

impl Link {
    fn new(map: Mapping, kernel: Os, side: usize) -> Link {
        Link {
            map,
            kernel,
            side,
            gone: AtomicBool::new(false),
            shut: AtomicBool::new(false),
        }
    }

    /// The ring we write.
    fn tx(&self) -> &Ctl {
        &self.map.shared().rings[self.side]
    }

    /// The ring we read.
    fn rx(&self) -> &Ctl {
        &self.map.shared().rings[1 - self.side]
    }

    /// The peer let go or died (its end of the rendezvous closed): our sleepers wake, read
    /// what it had published, then the end of the stream; writes fail.
    #[cfg(target_os = "linux")]
    fn peer_gone(&self) {
        self.gone.store(true, Ordering::SeqCst);
        self.wake_ourselves();
    }

    /// Whether the peer is known gone: its rendezvous closed (Linux), or a wait saw its
    /// process end (Windows).
    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire) || self.kernel.peer_ended()
    }

    /// [`Link::is_gone`], asked afresh of the system where only a wait would have noticed
    /// (on Windows, the peer's process handle): for a side that is not reading or writing.
    fn peer_closed(&self) -> bool {
        self.is_gone() || self.kernel.peer_has_ended()
    }

    /// Wakes this process's own sleepers (a read waiting for data, a write waiting for
    /// room) after a flag that only we know of.
    fn wake_ourselves(&self) {
        self.rx().data.0.kick(&self.kernel);
        self.tx().space.0.kick(&self.kernel);
    }

    /// Until `ready()`, the peer's going, our shutdown, `deadline` (`WouldBlock`), or any
    /// wake-up: spin while it can pay, then sleep.
    fn wait(
        &self,
        w: &Waiter,
        deadline: Option<Instant>,
        ready: impl Fn() -> bool,
    ) -> io::Result<()> {
        let ready = || ready() || self.is_gone() || self.shut.load(Ordering::Acquire);
        let cpu = &self.map.shared().cpu;
        let me = current_cpu();
        cpu[self.side].0.store(me, Ordering::Relaxed);
        let peer = cpu[1 - self.side].0.load(Ordering::Relaxed);
        if peer != ASLEEP && peer != me {
            let start = Instant::now();
            while start.elapsed() < SPIN {
                for _ in 0..64 {
                    std::hint::spin_loop();
                }
                if ready() {
                    return Ok(());
                }
            }
        } else if peer == me {
            // At most one yield: never a loop that would hold a CPU while nothing comes.
            std::thread::yield_now();
            if ready() {
                return Ok(());
            }
        }
        let limit = match deadline {
            None => None,
            Some(d) => Some(
                d.checked_duration_since(Instant::now())
                    .filter(|left| !left.is_zero())
                    .ok_or(io::ErrorKind::WouldBlock)?,
            ),
        };
        cpu[self.side].0.store(ASLEEP, Ordering::Relaxed);
        w.sleep(&self.kernel, limit, ready);
        cpu[self.side].0.store(me, Ordering::Relaxed);
        Ok(())
    }
}

/// The end of a rendezvous connection a stream keeps: who the peer is, and letting go.
trait Rendezvous: std::fmt::Debug + Send + Sync {
    /// Who the peer is if it runs as another user (see `Stream::other_user`).
    fn other_user(&self) -> io::Result<Option<String>>;
    /// Closes our end, which the peer's watcher sees (and ours, which then ends).
    fn close(&self);
}

/// One `shm:` connection: our ends of its two rings.
#[derive(Debug)]
pub(super) struct ShmStream {
    link: Arc<Link>,
    tx: Mutex<Producer>,
    rx: Mutex<Consumer>,
    read_timeout: Mutex<Option<Duration>>,
    write_timeout: Mutex<Option<Duration>>,
    /// `shutdown_write` was called: our writes fail from now on.
    write_shut: AtomicBool,
    rendezvous: Box<dyn Rendezvous>,
}

/// A lock that a panicking holder cannot poison for the rest (the state is counters that
/// are valid at every step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn deadline(t: &Mutex<Option<Duration>>) -> Option<Instant> {
    lock(t).map(|t| Instant::now() + t)
}

fn broken() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the peer of the shared-memory stream has gone",
    )
}

impl ShmStream {
    fn new(link: Arc<Link>, rendezvous: Box<dyn Rendezvous>) -> ShmStream {
        let cap = link.map.cap();
        ShmStream {
            link,
            tx: Mutex::new(Producer::new(cap)),
            rx: Mutex::new(Consumer::new(cap)),
            read_timeout: Mutex::new(None),
            write_timeout: Mutex::new(None),
            write_shut: AtomicBool::new(false),
            rendezvous,
        }
    }
}

impl super::Stream for ShmStream {
    fn read_bytes(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let link = &*self.link;
        let (ctl, bytes) = (link.rx(), link.map.bytes(1 - link.side));
        let mut rx = lock(&self.rx);
        let deadline = deadline(&self.read_timeout);
        loop {
            if link.shut.load(Ordering::Acquire) {
                return Ok(0);
            }
            // Read before the attempt: if the peer was gone then, all it published is seen.
            let gone = link.is_gone();
            match rx.read(ctl, &bytes, &link.kernel, buf)? {
                Got::Bytes(n) => return Ok(n),
                Got::End => return Ok(0),
                Got::Empty if gone => return Ok(0),
                Got::Empty => link.wait(&ctl.data.0, deadline, || rx.can_read(ctl))?,
            }
        }
    }

    fn write_bytes(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let link = &*self.link;
        let (ctl, bytes) = (link.tx(), link.map.bytes(link.side));
        let mut tx = lock(&self.tx);
        let deadline = deadline(&self.write_timeout);
        loop {
            if self.write_shut.load(Ordering::Acquire)
                || link.shut.load(Ordering::Acquire)
                || link.is_gone()
            {
                return Err(broken());
            }
            match tx.write(ctl, &bytes, &link.kernel, buf)? {
                Put::Bytes(n) => return Ok(n),
                Put::Closed => return Err(broken()),
                Put::Full => link.wait(&ctl.space.0, deadline, || tx.can_write(ctl))?,
            }
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.read_timeout, t)
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        set_timeout(&self.write_timeout, t)
    }

    fn has_half_close(&self) -> bool {
        true
    }

    fn shutdown_write(&self) -> io::Result<()> {
        let _tx = lock(&self.tx);
        self.write_shut.store(true, Ordering::Release);
        spsc::close_writer(self.link.tx(), &self.link.kernel);
        Ok(())
    }

    fn can_shut_down(&self) -> bool {
        true
    }

    /// From any thread, without the locks (a read may be blocked holding one): the peer
    /// sees the end both ways, and our own sleepers wake to it.
    fn shutdown_both(&self) -> io::Result<()> {
        let link = &*self.link;
        link.shut.store(true, Ordering::SeqCst);
        spsc::close_writer(link.tx(), &link.kernel);
        spsc::close_reader(link.rx(), &link.kernel);
        link.wake_ourselves();
        Ok(())
    }

    fn peer_closed(&self) -> bool {
        self.link.peer_closed()
    }

    fn other_user(&self) -> io::Result<Option<String>> {
        self.rendezvous.other_user()
    }
}

/// As std's sockets: a zero timeout is refused (it would mean "never block", which
/// `None` is not).
fn set_timeout(slot: &Mutex<Option<Duration>>, t: Option<Duration>) -> io::Result<()> {
    if t.is_some_and(|t| t.is_zero()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a zero timeout is not a timeout",
        ));
    }
    *lock(slot) = t;
    Ok(())
}

impl Drop for ShmStream {
    fn drop(&mut self) {
        let link = &*self.link;
        spsc::close_writer(link.tx(), &link.kernel);
        spsc::close_reader(link.rx(), &link.kernel);
        self.rendezvous.close();
    }
}

#[cfg(test)]
mod tests {
    use super::memory::{DATA, Shared};
    use std::mem::offset_of;

    /// The layout written in memory.rs's doc and in ARCHITECTURE.md.
    #[test]
    fn the_segment_layout_is_the_documented_one() {
        assert_eq!(offset_of!(Shared, cpu), 64);
        assert_eq!(offset_of!(Shared, rings), 192);
        assert_eq!(size_of::<super::spsc::Ctl>(), 320);
        assert_eq!(size_of::<Shared>(), 832);
        assert_eq!(DATA, 4096);
    }
}
