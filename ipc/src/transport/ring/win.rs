//! `shm:` on Windows: the rendezvous on the named pipe `\\.\pipe\baozi-shm.NAME` (with
//! `local:`'s rules: owner-only unless `--any-user`, a served name is in use), the memory
//! an unnamed section, and four auto-reset events (data and room, each ring) to sleep on.
//!
//! The connecting side makes the section and the events and sends their handle values;
//! the listening side takes its own copies out of the connector's process
//! (`DuplicateHandle` with the connector as the source, so whatever values arrive, we
//! only ever get fresh handles, never an alias of one we had), then answers one byte, after
//! which both let the pipe go. Each side keeps a handle of the other's process: a wait is
//! on the event and that process at once, so a peer that ends, killed or not, wakes us
//! (checked under wine: a process handle signals when its process is terminated).

use super::lazy::{Handover, Lazy};
use super::memory::{Backing, MAX_CAP, MIN_CAP, Mapping, size_for};
use super::spsc::Kernel;
use super::{Link, RING_BYTES, Rendezvous, ShmStream};
use crate::addr::Address;
use crate::transport::local::{Pipe, PipeListener};
use crate::transport::windows::{self as win32, Handle, Woke};
use crate::transport::{Accept, Access, Stream, TransportError, access};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// The handover: "baozishm", the ring size, the section's handle value, the four events'.
const HELLO_LEN: usize = 8 * 7;
/// The listener's answer once it holds its copies.
const ACK: u8 = b'K';

/// The events of one connection, and the peer's process.
#[derive(Debug)]
pub(super) struct Os {
    /// ring 0 data, ring 0 room, ring 1 data, ring 1 room.
    events: [Handle; 4],
    /// The addresses of the words those events stand for, in the same order.
    words: [usize; 4],
    peer: Handle,
    /// A wait returned because the peer's process ended.
    peer_ended: AtomicBool,
}

impl Os {
    fn new(map: &Mapping, events: [Handle; 4], peer: Handle) -> Os {
        let rings = &map.shared().rings;
        let addr = |w: &AtomicU32| std::ptr::from_ref(w) as usize;
        Os {
            events,
            words: [
                addr(&rings[0].data.0.seq),
                addr(&rings[0].space.0.seq),
                addr(&rings[1].data.0.seq),
                addr(&rings[1].space.0.seq),
            ],
            peer,
            peer_ended: AtomicBool::new(false),
        }
    }

    fn event(&self, word: &AtomicU32) -> &Handle {
        let at = std::ptr::from_ref(word) as usize;
        let i = self.words.iter().position(|&w| w == at);
        &self.events[i.expect("a word of this connection")]
    }

    /// Whether a wait saw the peer's process end.
    pub(super) fn peer_ended(&self) -> bool {
        self.peer_ended.load(Ordering::Acquire)
    }

    /// Whether the peer's process has ended, asked now (no wait needed to have seen it).
    pub(super) fn peer_has_ended(&self) -> bool {
        self.peer_ended() || win32::has_ended(&self.peer)
    }
}

impl Kernel for Os {
    type Limit = Option<Duration>;

    /// An auto-reset event keeps a wake that came before the wait, so checking the word
    /// and then waiting loses nothing (at worst a stale wake returns early).
    fn wait(&self, word: &AtomicU32, seen: u32, limit: Option<Duration>) {
        if word.load(Ordering::Acquire) != seen {
            return;
        }
        // A failed wait (it cannot, on our own handles) counts as the peer's end rather
        // than as a wake to loop on.
        if win32::wait_either(self.event(word), &self.peer, limit) == Woke::Second {
            self.peer_ended.store(true, Ordering::Release);
        }
    }

    fn wake(&self, word: &AtomicU32) {
        win32::set_event(self.event(word));
    }
}

pub(super) fn current_cpu() -> u32 {
    win32::current_cpu()
}

/// The pipe's name: `shm:x` and `local:x` never meet.
fn pipe_name(name: &str) -> String {
    format!("baozi-shm.{name}")
}

/// Who the peer is: its process id, from the pipe, kept for `other_user`.
#[derive(Debug)]
struct Peer(u32);

impl Rendezvous for Peer {
    fn other_user(&self) -> io::Result<Option<String>> {
        access::other_user_of_process(Some(self.0))
    }

    /// Nothing to close: the pipe went after the handover, and our end of the memory and
    /// the events go with the stream.
    fn close(&self) {}
}

fn stream(map: Mapping, os: Os, side: usize, pid: u32) -> Arc<dyn Stream> {
    Arc::new(ShmStream::new(
        Arc::new(Link::new(map, os, side)),
        Box::new(Peer(pid)),
    ))
}

pub(in crate::transport) fn connect(name: &str) -> io::Result<Arc<dyn Stream>> {
    let pipe = Pipe::connect(&pipe_name(name))?;
    let pid = pipe.peer_pid()?;
    let peer = win32::open_process(pid, false)?;
    let cap = RING_BYTES;
    let section = win32::create_section(size_for(cap))?;
    let map = Mapping::create(
        Backing::View(win32::map_view(&section, size_for(cap) as usize)?),
        cap,
    )?;
    let events = [
        win32::create_event()?,
        win32::create_event()?,
        win32::create_event()?,
        win32::create_event()?,
    ];
    let mut hello = Vec::with_capacity(HELLO_LEN);
    hello.extend_from_slice(b"baozishm");
    hello.extend_from_slice(&cap.to_le_bytes());
    for h in std::iter::once(&section).chain(&events) {
        hello.extend_from_slice(&h.value().to_le_bytes());
    }
    pipe.send(&hello)?;
    let mut ack = [0u8; 1];
    pipe.recv(&mut ack)?;
    if ack[0] != ACK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the listener did not take the shared memory",
        ));
    }
    // The view keeps the section; the listener has its own copies of everything.
    drop(section);
    let os = Os::new(&map, events, peer);
    Ok(stream(map, os, 0, pid))
}

/// Wakes our own listener out of `accept` with the rendezvous pipe alone: no memory is made
/// for a connection that is dropped unread (`transport::knock`).
pub(in crate::transport) fn knock(name: &str) -> io::Result<()> {
    Pipe::connect(&pipe_name(name)).map(drop)
}

/// Takes the memory and events a new connection hands over, as our own handles.
fn take(pipe: &Pipe) -> io::Result<Arc<dyn Stream>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let pid = pipe.peer_pid()?;
    let mut hello = [0u8; HELLO_LEN];
    pipe.recv(&mut hello)?;
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&hello[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    if &hello[..8] != b"baozishm" {
        return Err(bad(
            "it handed over no shared memory (not a baozi shm: peer?)",
        ));
    }
    let cap = word(1);
    if !cap.is_power_of_two() || !(MIN_CAP..=MAX_CAP).contains(&cap) {
        return Err(bad("it handed over a ring of an impossible size"));
    }
    let process = win32::open_process(pid, true)?;
    let section = win32::duplicate_from(&process, word(2))?;
    let map = Mapping::attach(Backing::View(win32::map_view(
        &section,
        size_for(cap) as usize,
    )?))?;
    let events = [
        win32::duplicate_from(&process, word(3))?,
        win32::duplicate_from(&process, word(4))?,
        win32::duplicate_from(&process, word(5))?,
        win32::duplicate_from(&process, word(6))?,
    ];
    pipe.send(&[ACK])?;
    let os = Os::new(&map, events, process);
    Ok(stream(map, os, 1, pid))
}

#[derive(Debug)]
struct Listening {
    listener: PipeListener,
    addr: Address,
}

impl Accept for Listening {
    /// The next connection; its memory is taken at its first use (`lazy.rs`). (Named
    /// pipes have no read timeout: a client that connects and says nothing holds up the
    /// thread serving it until it goes, as over `local:`.)
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)> {
        let pending = Box::new(Accepted(self.listener.accept()?));
        Ok((Arc::new(Lazy::new(pending)), self.addr.to_string()))
    }
}

/// An accepted rendezvous pipe, its memory not yet taken.
#[derive(Debug)]
struct Accepted(Pipe);

impl Handover for Accepted {
    fn other_user(&self) -> io::Result<Option<String>> {
        access::other_user_of_process(Some(self.0.peer_pid()?))
    }

    fn take(self: Box<Self>) -> io::Result<Arc<dyn Stream>> {
        take(&self.0)
    }
}

pub(in crate::transport) fn listen(
    addr: &Address,
    name: &str,
    access: Access,
) -> Result<(Box<dyn Accept>, Address), TransportError> {
    let listening = Listening {
        listener: PipeListener::bind(addr, &pipe_name(name), access)?,
        addr: addr.clone(),
    };
    Ok((Box::new(listening), addr.clone()))
}
