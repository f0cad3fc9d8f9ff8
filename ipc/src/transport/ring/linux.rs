//! `shm:` on Linux: the rendezvous on the abstract Unix socket `baozi-shm.NAME`, the
//! memory as a memfd handed over with `SCM_RIGHTS`, the futex, and the watcher thread that
//! notices the peer's end of the rendezvous closing (its process may have been killed).

use super::lazy::{Handover, Lazy};
use super::memory::{Backing, Mapping, size_for};
use super::spsc::Kernel;
use super::{Link, RING_BYTES, Rendezvous, ShmStream};
use crate::addr::Address;
use crate::transport::{Accept, Access, Stream, TransportError, access, listen_error};
use rustix::fs::{FallocateFlags, MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::thread::futex;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How long a listener waits for a new connection to hand over its memory (a baozi
/// connector sends it at once; anything else is dropped after this).
const HANDOVER: Duration = Duration::from_secs(2);

/// The one byte that travels with the memfd.
const HELLO: u8 = b'S';

/// Sleeping on a word of the shared memory: a futex without `FUTEX_PRIVATE_FLAG`, which
/// would key it by our address space and never see the other process's wake.
#[derive(Debug)]
pub(super) struct Os;

impl Kernel for Os {
    type Limit = Option<Duration>;

    fn wait(&self, word: &AtomicU32, seen: u32, limit: Option<Duration>) {
        let ts = limit.map(|d| futex::Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: d.subsec_nanos().into(),
        });
        // EAGAIN (the word moved on), ETIMEDOUT, EINTR: the caller checks again either way.
        let _ = futex::wait(word, futex::Flags::empty(), seen, ts.as_ref());
    }

    fn wake(&self, word: &AtomicU32) {
        let _ = futex::wake(word, futex::Flags::empty(), u32::MAX);
    }
}

impl Os {
    /// The watcher, not the waits, learns of the peer's end here (`Link::peer_gone`).
    pub(super) fn peer_ended(&self) -> bool {
        false
    }

    /// Nothing to ask: the watcher sets `Link::gone` the moment the rendezvous closes.
    pub(super) fn peer_has_ended(&self) -> bool {
        false
    }
}

/// The CPU this thread runs on, for the spin policy.
pub(super) fn current_cpu() -> u32 {
    u32::try_from(rustix::thread::sched_getcpu()).unwrap_or(0)
}

/// `baozi-shm.NAME`, in the abstract namespace: no file, gone with its listener.
fn rendezvous_addr(name: &str) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("baozi-shm.{name}"))
}

/// Our end of the rendezvous socket.
#[derive(Debug)]
struct Socket(UnixStream);

impl Rendezvous for Socket {
    fn other_user(&self) -> io::Result<Option<String>> {
        access::other_user_of_socket(self.0.as_fd())
    }

    fn close(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// Starts the thread that blocks reading the rendezvous socket: nothing is ever sent on
/// it after the handover, so the read returns only when the peer's end closes (its
/// process let go, or died) or ours does (the stream dropped; then the thread just ends).
fn start(socket: UnixStream, map: Mapping, side: usize) -> io::Result<Arc<dyn Stream>> {
    let link = Arc::new(Link::new(map, Os, side));
    let (watched, watcher) = (socket.try_clone()?, Arc::clone(&link));
    std::thread::Builder::new()
        .name("shm watcher".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut byte = [0u8; 1];
            loop {
                match (&watched).read(&mut byte) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    _ => break,
                }
            }
            watcher.peer_gone();
        })?;
    Ok(Arc::new(ShmStream::new(link, Box::new(Socket(socket)))))
}

/// A fresh memfd for rings of `cap` bytes: reserved whole now (so a shortage of memory is
/// this error, not a SIGBUS later), and sealed against shrinking (so the peer cannot
/// truncate it under our feet either).
fn make_memory(cap: u64) -> io::Result<(File, Mapping)> {
    let fd =
        rustix::fs::memfd_create("baozi-shm", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::fallocate(&fd, FallocateFlags::empty(), 0, size_for(cap))?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    let file = File::from(fd);
    let map = Mapping::create(Backing::map(&file)?, cap)?;
    Ok((file, map))
}

pub(in crate::transport) fn connect(name: &str) -> io::Result<Arc<dyn Stream>> {
    let socket = UnixStream::connect_addr(&rendezvous_addr(name)?)?;
    let (file, map) = make_memory(RING_BYTES)?;
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        &socket,
        &[IoSlice::new(&[HELLO])],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    drop(file); // the mapping keeps the memory; the peer has its own descriptor now
    start(socket, map, 0)
}

/// Wakes our own listener out of `accept` with the rendezvous alone: no memory is made for
/// a connection that is dropped unread (`transport::knock`).
pub(in crate::transport) fn knock(name: &str) -> io::Result<()> {
    UnixStream::connect_addr(&rendezvous_addr(name)?).map(drop)
}

/// The memory a new connection hands over, checked and mapped.
fn take_memory(socket: &UnixStream) -> io::Result<Mapping> {
    socket.set_read_timeout(Some(HANDOVER))?;
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let got = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd: Option<OwnedFd> = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for f in fds {
                fd.get_or_insert(f); // any extra descriptor is closed here
            }
        }
    }
    socket.set_read_timeout(None)?;
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let fd = match (got.bytes, byte[0], fd) {
        (1, HELLO, Some(fd)) => fd,
        (0, _, _) => return Err(bad("it closed before handing over its memory")),
        _ => {
            return Err(bad(
                "it handed over no shared memory (not a baozi shm: peer?)",
            ));
        }
    };
    let seals = rustix::fs::fcntl_get_seals(&fd)?;
    if !seals.contains(SealFlags::SHRINK) {
        return Err(bad("its memory could shrink under us (not sealed)"));
    }
    Mapping::attach(Backing::map(&File::from(fd))?)
}

#[derive(Debug)]
struct Listening {
    listener: UnixListener,
    addr: Address,
}

impl Accept for Listening {
    /// The next connection; its memory is taken at its first use (`lazy.rs`).
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)> {
        let (socket, _) = self.listener.accept()?;
        let pending = Box::new(Accepted(socket));
        Ok((Arc::new(Lazy::new(pending)), self.addr.to_string()))
    }
}

/// An accepted rendezvous connection, its memory not yet taken.
#[derive(Debug)]
struct Accepted(UnixStream);

impl Handover for Accepted {
    fn other_user(&self) -> io::Result<Option<String>> {
        access::other_user_of_socket(self.0.as_fd())
    }

    fn take(self: Box<Self>) -> io::Result<Arc<dyn Stream>> {
        let map = take_memory(&self.0)?;
        start(self.0, map, 1)
    }
}

pub(in crate::transport) fn listen(
    addr: &Address,
    name: &str,
    access: Access,
) -> Result<(Box<dyn Accept>, Address), TransportError> {
    let _ = access; // checked on every accepted connection (Listener::accept)
    let io_err = listen_error(addr);
    let listener =
        UnixListener::bind_addr(&rendezvous_addr(name).map_err(&io_err)?).map_err(|e| {
            match e.kind() {
                io::ErrorKind::AddrInUse => TransportError::InUse { addr: addr.clone() },
                _ => io_err(e),
            }
        })?;
    let listening = Listening {
        listener,
        addr: addr.clone(),
    };
    Ok((Box::new(listening), addr.clone()))
}
