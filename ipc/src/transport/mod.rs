//! Byte streams over any [`Address`]: connect (retrying until `--wait` runs out) or listen.
//!
//! Everything above this module sees a [`Conn`], split into a [`RecvHalf`] and a
//! [`SendHalf`], whatever the mechanism underneath. Nothing here knows the wire format.
//! `udp:` addresses are not streams: [`connect`] and [`listen`] refuse them, and
//! [`bind_udp`] / [`connect_udp`] give a plain `UdpSocket` to the programs that speak in
//! datagrams.
//!
//! One file per mechanism: `pipe.rs` (stdio, a child's stdin), `tcp.rs`, `unix.rs`
//! (Unix only, said once where the module is declared), `local.rs` (interprocess's local
//! sockets: abstract Unix sockets on Linux, named pipes on Windows), `ring/` (`shm:`, rings
//! in shared memory, Linux and Windows), `udp.rs`. Each
//! connected stream implements [`Stream`], and a [`Conn`] holds one as a trait object: that
//! is the one dispatch, so a new mechanism is a new file, one arm in [`connect`] and one in
//! [`listen`]. Who may be at the other end is `access.rs`; the Win32 calls are `windows.rs`.

mod access;
mod local;
mod pipe;
#[cfg(any(target_os = "linux", windows))]
mod ring;
mod tcp;
mod udp;
#[cfg(unix)]
mod unix;
#[cfg(windows)]
mod windows;

pub use access::Access;
pub use tcp::TIME_WAIT_MAX;
pub use udp::{bind_udp, connect_udp};

use crate::addr::Address;
use crate::units::{Backoff, show_duration};
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why connecting or listening failed, worded for the person who typed the address.
#[derive(Debug)]
pub enum TransportError {
    /// Nothing accepted a connection before `--wait` ran out.
    NothingThere { addr: Address, waited: Duration },
    /// A live process holds the address.
    InUse { addr: Address },
    /// Nothing listens at a TCP address, but connections of a program that ended are still
    /// closing there (TIME-WAIT), and the system keeps the port for them.
    Closing { addr: Address },
    /// The address cannot be listened on (`stdio`), or a path is in the way.
    Unusable { addr: Address, why: &'static str },
    /// The peer is a process of another user (see [`Access`]).
    OtherUser { addr: Address, who: String },
    /// Any other failure of the operating system.
    Io {
        action: &'static str,
        addr: Address,
        source: io::Error,
    },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::NothingThere { addr, waited } => write!(
                f,
                "nothing is listening at {addr} (gave up after {}; start the listening side first: \
                 a server, a broker, or a producer or consumer with -l; or raise --wait)",
                show_duration(*waited)
            ),
            TransportError::InUse { addr } => {
                write!(f, "address in use: {addr} is held by a live process")
            }
            TransportError::Closing { addr } => write!(
                f,
                "address in use: nothing listens at {addr}, but connections of a program that \
                 ended are still closing there (TCP TIME-WAIT) after {} of waiting, and the \
                 system keeps the port for them; use another port",
                show_duration(TIME_WAIT_MAX)
            ),
            TransportError::Unusable { addr, why } => write!(f, "cannot use {addr}: {why}"),
            TransportError::OtherUser { addr, who } => write!(
                f,
                "the process at {addr} runs as another user ({who}); refusing to talk to it \
                 (--any-user allows peers of every local user)"
            ),
            TransportError::Io {
                action,
                addr,
                source,
            } => write!(f, "cannot {action} {addr}: {source}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// What one mechanism's connected stream does; each mechanism's file implements it. Reads
/// and writes take `&self`, as `&TcpStream` does, so that the two halves of a [`Conn`] can
/// share the stream.
trait Stream: fmt::Debug + Send + Sync {
    fn read_bytes(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_bytes(&self, buf: &[u8]) -> io::Result<usize>;
    fn flush_bytes(&self) -> io::Result<()> {
        Ok(())
    }
    /// Bounds how long one read may block (`None`: forever); `Unsupported` where the
    /// mechanism has no such thing.
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// Bounds how long one write may block; `Unsupported` where it cannot.
    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()>;
    /// Whether [`Stream::shutdown_write`] really half-closes.
    fn has_half_close(&self) -> bool;
    /// Half-close where there is one; a no-op elsewhere.
    fn shutdown_write(&self) -> io::Result<()>;
    /// Whether [`Stream::shutdown_both`] can end a read blocked on another thread.
    fn can_shut_down(&self) -> bool {
        false
    }
    fn shutdown_both(&self) -> io::Result<()> {
        Ok(())
    }
    /// Who the peer is (`uid 1001`, `pid 4242`) if it runs as another user; `None` if it
    /// runs as ours, or where the mechanism cannot say (TCP, pipes).
    fn other_user(&self) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// Whether the peer can answer (everything but a one-way pipe).
    fn is_two_way(&self) -> bool {
        true
    }
    /// Whether the peer is known to have closed its end, asked without reading (bytes it
    /// sent before may still wait to be read). `false` where the mechanism cannot tell
    /// until those bytes are read: TCP (its end comes after its bytes), pipes.
    fn peer_closed(&self) -> bool {
        false
    }
}

/// Whether a Unix socket's peer has closed its end, asked without reading: a Unix socket
/// says so at once, even with bytes still queued; TCP only once those bytes are read.
#[cfg(target_os = "linux")]
fn hung_up(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::RDHUP)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&now)), Ok(1))
        && fds[0]
            .revents()
            .intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR)
}

/// The three [`Stream`] methods of a stream that std or interprocess can read and write
/// through a shared reference (`impl Read for &TcpStream`): written once for every such
/// mechanism.
macro_rules! io_by_ref {
    () => {
        fn read_bytes(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::io::Read::read(&mut &*self, buf)
        }

        fn write_bytes(&self, buf: &[u8]) -> std::io::Result<usize> {
            std::io::Write::write(&mut &*self, buf)
        }

        fn flush_bytes(&self) -> std::io::Result<()> {
            std::io::Write::flush(&mut &*self)
        }
    };
}
use io_by_ref;

/// The [`Stream`] methods of a std socket (`TcpStream`, `UnixStream`: the same API): reads
/// and writes, timeouts, a real half-close, and shutting down from another thread.
macro_rules! std_socket {
    ($socket:ty) => {
        super::io_by_ref!();

        fn set_read_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            <$socket>::set_read_timeout(self, t)
        }

        fn set_write_timeout(&self, t: Option<std::time::Duration>) -> std::io::Result<()> {
            <$socket>::set_write_timeout(self, t)
        }

        fn has_half_close(&self) -> bool {
            true
        }

        fn shutdown_write(&self) -> std::io::Result<()> {
            self.shutdown(std::net::Shutdown::Write)
        }

        fn can_shut_down(&self) -> bool {
            true
        }

        fn shutdown_both(&self) -> std::io::Result<()> {
            self.shutdown(std::net::Shutdown::Both)
        }

        fn peer_closed(&self) -> bool {
            #[cfg(target_os = "linux")]
            return super::hung_up(std::os::fd::AsFd::as_fd(self));
            #[cfg(not(target_os = "linux"))]
            false
        }
    };
}
use std_socket;

/// One mechanism's bound listener; each mechanism's file implements it.
trait Accept: fmt::Debug + Send + Sync {
    /// The next connection, and who it is from, for log lines.
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)>;
}

/// One connected byte stream, either direction.
#[derive(Debug)]
pub struct Conn {
    link: Arc<dyn Stream>,
    peer: String,
}

impl Conn {
    fn new(link: Arc<dyn Stream>, peer: String) -> Conn {
        Conn { link, peer }
    }

    /// This process's stdin and stdout as a connection.
    pub fn stdio() -> io::Result<Conn> {
        pipe::stdio()
    }

    /// The write end of a child's stdin pipe, as a one-way connection to that child.
    pub fn pipe_to(child: std::process::ChildStdin) -> Conn {
        pipe::to_child(child)
    }

    /// Who is at the other end, for log lines.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Who the peer is, if it runs as another user and `access` wants our own; `None` when
    /// it is fine. On `local:` and `unix:` only: on Unix the kernel gives the peer's user id
    /// (`uid 1001`); on Windows a named pipe gives the peer's process, whose token's user
    /// is compared with ours (`pid 4242`).
    pub fn peer_if_other(&self, access: Access) -> io::Result<Option<String>> {
        match access {
            Access::AnyUser => Ok(None),
            Access::OwnUser => self.link.other_user(),
        }
    }

    /// Whether the peer can answer on this connection (everything but `stdio`).
    pub fn is_two_way(&self) -> bool {
        self.link.is_two_way()
    }

    /// Splits into a reading and a writing half. They may live on different threads, but
    /// must not block at the same time: on Windows named pipes (`local:`) a read blocked
    /// on one thread holds up a write on another, so every conversation here is lockstep
    /// (one side writes, then reads its answer), never a reader and a writer at once.
    pub fn split(self) -> (RecvHalf, SendHalf) {
        (RecvHalf(Arc::clone(&self.link)), SendHalf(self.link))
    }
}

/// The reading half of a [`Conn`].
#[derive(Debug)]
pub struct RecvHalf(Arc<dyn Stream>);

/// The writing half of a [`Conn`].
#[derive(Debug)]
pub struct SendHalf(Arc<dyn Stream>);

/// Asks, from any thread and without reading, whether the peer of a connection has closed
/// its end ([`RecvHalf::probe`]): for a server that is not reading a client now (the broker
/// holding a producer back while its queue is full) and must still say who is there.
#[derive(Debug, Clone)]
pub struct Probe(Arc<dyn Stream>);

impl Probe {
    /// True once the peer is known to have closed its end, though bytes it sent before may
    /// still wait to be read. Known at once on Unix sockets (`local:` and `unix:` on
    /// Linux), on `shm:`, and on Windows named pipes (`local:`) once the peer's process has
    /// ended; on TCP and pipes only when those bytes have been read, so this stays false
    /// until then.
    pub fn peer_closed(&self) -> bool {
        self.0.peer_closed()
    }
}

/// Ends a connection from another thread than the one serving it (a server making room):
/// writes a last notice, then shuts the socket down both ways, which ends a read blocked on
/// it. Sockets only: Windows named pipes and anonymous pipes have no such thing.
#[derive(Debug)]
pub struct Closer(Arc<dyn Stream>);

impl Closer {
    /// Writes `notice` (best effort), then shuts the connection down.
    pub fn close_with(&self, notice: &[u8]) {
        let _ = SendHalf(Arc::clone(&self.0)).write_all(notice);
        let _ = self.0.shutdown_both();
    }
}

impl RecvHalf {
    /// A [`Probe`] of this connection's peer.
    pub fn probe(&self) -> Probe {
        Probe(Arc::clone(&self.0))
    }

    /// A [`Closer`] for this connection, where the mechanism has one (sockets).
    pub fn closer(&self) -> Option<Closer> {
        self.0.can_shut_down().then(|| Closer(Arc::clone(&self.0)))
    }

    /// Bounds how long one read may block (`None`: forever), where the mechanism can:
    /// not on `stdio`, and not on Windows named pipes (`local:` on Windows), which have no
    /// I/O timeouts; there a read waits until data, end of stream, or Ctrl-C.
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self.0.set_read_timeout(t) {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
            r => r,
        }
    }
}

impl Read for RecvHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_bytes(buf)
    }
}

impl SendHalf {
    /// Bounds how long one write may block (`None`: forever), as when the peer stops
    /// reading. No effect on `stdio`; Windows named pipes refuse it (`Unsupported`).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.0.set_write_timeout(t)
    }

    /// Whether [`SendHalf::shutdown_write`] really half-closes: TCP and Unix sockets
    /// (including `local:` on Unix) do; Windows named pipes and `stdio` do not.
    pub fn has_half_close(&self) -> bool {
        self.0.has_half_close()
    }

    /// Half-close: tells the peer that nothing more will be sent, while it can still
    /// answer. A no-op where the transport has none ([`SendHalf::has_half_close`]).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.0.shutdown_write()
    }
}

impl Write for SendHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_bytes(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush_bytes()
    }
}

/// Why a stream cannot run over `udp:`.
const UDP_IS_NOT_A_STREAM: &str =
    "udp carries datagrams; this needs a stream (tcp:, local:, shm:, unix:)";

/// Why `addr` names no byte stream, if it does not.
fn not_a_stream(addr: &Address) -> Option<&'static str> {
    match addr {
        Address::Udp { .. } => Some(UDP_IS_NOT_A_STREAM),
        Address::Redis { .. } => Some(
            "redis:// names a queue kept by a Redis server; only producer and consumer \
             use it, and they connect to it (no -l); this needs tcp:, local:, shm: or unix:",
        ),
        _ => None,
    }
}

/// Connects to `addr`, retrying while nobody listens there yet, for up to `wait`. Calls
/// `on_wait` once, the first time it has to wait (to say so).
///
/// On `local:` and `unix:` the peer must be a process of our own user unless `access`
/// says otherwise.
pub fn connect(
    addr: &Address,
    wait: Duration,
    access: Access,
    on_wait: impl FnOnce(),
) -> Result<Conn, TransportError> {
    if let Some(why) = not_a_stream(addr) {
        return Err(TransportError::Unusable {
            addr: addr.clone(),
            why,
        });
    }
    let deadline = Instant::now() + wait;
    let mut backoff = Backoff::default();
    let mut on_wait = Some(on_wait);
    loop {
        match try_connect(addr) {
            Ok(conn) => {
                return match conn.peer_if_other(access) {
                    Ok(None) => {
                        crate::say::trace_event(format_args!("connected to {addr}"));
                        Ok(conn)
                    }
                    Ok(Some(who)) => Err(TransportError::OtherUser {
                        addr: addr.clone(),
                        who,
                    }),
                    Err(source) => Err(TransportError::Io {
                        action: "check the peer of",
                        addr: addr.clone(),
                        source,
                    }),
                };
            }
            Err(e) if is_not_there_yet(&e) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(TransportError::NothingThere {
                        addr: addr.clone(),
                        waited: wait,
                    });
                }
                if let Some(say) = on_wait.take() {
                    say();
                }
                backoff.pause(deadline - now);
            }
            Err(source) => {
                return Err(TransportError::Io {
                    action: "connect to",
                    addr: addr.clone(),
                    source,
                });
            }
        }
    }
}

/// Wakes a listener of our own that is blocked in accept on `addr` (it is being closed, and
/// drops what it accepts unread) with the cheapest connection its mechanism has: over
/// `shm:` the rendezvous alone, without the memory a real connection reserves; elsewhere a
/// plain connect. Best effort, no retrying.
pub fn knock(addr: &Address) {
    match addr {
        #[cfg(any(target_os = "linux", windows))]
        Address::Shm(name) => {
            let _ = ring::knock(name);
        }
        _ => {
            let _ = try_connect(addr);
        }
    }
}

/// One attempt: the one place that maps an address to its mechanism's connect.
fn try_connect(addr: &Address) -> io::Result<Conn> {
    let link = match addr {
        Address::Stdio => return Conn::stdio(),
        Address::Udp { .. } | Address::Redis { .. } => {
            return Err(io::ErrorKind::Unsupported.into());
        }
        Address::Tcp { host, port } => tcp::connect(host, *port)?,
        #[cfg(unix)]
        Address::Unix(path) => unix::connect(path)?,
        #[cfg(not(unix))]
        Address::Unix(_) => return Err(io::ErrorKind::Unsupported.into()),
        Address::Local(name) => local::connect(name)?,
        #[cfg(any(target_os = "linux", windows))]
        Address::Shm(name) => ring::connect(name)?,
        #[cfg(not(any(target_os = "linux", windows)))]
        Address::Shm(_) => return Err(io::ErrorKind::Unsupported.into()),
    };
    Ok(Conn::new(link, addr.to_string()))
}

/// True for the errors that mean "nobody listens there yet", worth retrying.
pub fn is_not_there_yet(e: &io::Error) -> bool {
    const ERROR_PIPE_BUSY: i32 = 231;
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    ) || (cfg!(windows) && e.raw_os_error() == Some(ERROR_PIPE_BUSY))
}

/// A bound, listening endpoint. Dropping it removes any socket file it created.
#[derive(Debug)]
pub struct Listener {
    inner: Box<dyn Accept>,
    addr: Address,
    access: Access,
}

/// Binds `addr` and starts listening. Never steals an address from a live process; a
/// `unix:PATH` socket file left by a dead one is reclaimed. `access` says which local
/// users' processes [`Listener::accept`] lets through on `local:` and `unix:`. A TCP port
/// that only closing connections hold (TIME-WAIT) is waited for, up to [`TIME_WAIT_MAX`],
/// and `on_wait` is called once when that wait begins.
pub fn listen(
    addr: &Address,
    access: Access,
    on_wait: impl FnOnce(),
) -> Result<Listener, TransportError> {
    let (inner, actual) = match addr {
        Address::Stdio => {
            return Err(TransportError::Unusable {
                addr: addr.clone(),
                why: "stdio is already connected; there is nothing to listen on \
                      (listen on local:NAME, unix:PATH or tcp:HOST:PORT)",
            });
        }
        Address::Udp { .. } | Address::Redis { .. } => {
            return Err(TransportError::Unusable {
                addr: addr.clone(),
                why: not_a_stream(addr).unwrap_or(UDP_IS_NOT_A_STREAM),
            });
        }
        Address::Tcp { host, port } => tcp::listen(addr, host, *port, on_wait)?,
        #[cfg(unix)]
        Address::Unix(path) => unix::listen(addr, path, access)?,
        #[cfg(not(unix))]
        Address::Unix(_) => {
            return Err(TransportError::Unusable {
                addr: addr.clone(),
                why: "unix:PATH sockets are Unix-only; use local:NAME",
            });
        }
        Address::Local(name) => local::listen(addr, name, access)?,
        #[cfg(any(target_os = "linux", windows))]
        Address::Shm(name) => ring::listen(addr, name, access)?,
        #[cfg(not(any(target_os = "linux", windows)))]
        Address::Shm(_) => {
            return Err(TransportError::Unusable {
                addr: addr.clone(),
                why: "shm: is built for Linux and Windows only; use local:NAME",
            });
        }
    };
    Ok(Listener {
        inner,
        addr: actual,
        access,
    })
}

impl Listener {
    /// The address actually bound (a `tcp:...:0` request shows its real port here).
    pub fn address(&self) -> &Address {
        &self.addr
    }

    /// Prints the fixed ready line, `ready: ADDRESS`, on stderr. Scripts and tests wait
    /// for it before they start the other side.
    pub fn announce(&self) {
        announce(&self.addr);
    }

    /// Waits for the next connection. One from a process of another user, where the
    /// listener's [`Access`] does not let it through, is closed and reported as a
    /// `PermissionDenied` error naming its user: report it and accept the next.
    pub fn accept(&self) -> io::Result<Conn> {
        let (link, peer) = self.inner.accept_stream()?;
        let conn = Conn::new(link, peer);
        match conn.peer_if_other(self.access)? {
            None => {
                crate::say::trace_event(format_args!("accepted {}", conn.peer));
                Ok(conn)
            }
            Some(who) => Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "refused a connection from a process of another user ({who}); \
                     --any-user lets every local user in"
                ),
            )),
        }
    }

    /// The next connection that [`Listener::accept`] lets through: one from a process of
    /// another user is told in one line (`who: refused a connection ...`) and skipped.
    /// Only the listener failing ends the wait.
    pub fn accept_own(&self, who: &str) -> io::Result<Conn> {
        loop {
            match self.accept() {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    crate::elog!("{who}: {e}");
                }
                other => return other,
            }
        }
    }
}

/// Prints the fixed ready line, `ready: ADDRESS`, on stderr, for any bound address.
pub fn announce(addr: &Address) {
    // In one write, so that a script polling the log never sees half a line.
    let line = format!("ready: {addr}\n");
    let _ = io::stderr().write_all(line.as_bytes());
}

/// The `TransportError::Io` of a failed listen on `addr`.
fn listen_error(addr: &Address) -> impl Fn(io::Error) -> TransportError + '_ {
    move |source| TransportError::Io {
        action: "listen on",
        addr: addr.clone(),
        source,
    }
}
