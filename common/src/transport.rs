//! Byte streams over any [`Address`]: connect (retrying until `--wait` runs out) or listen.
//!
//! Everything above this module sees a [`Conn`], split into a [`RecvHalf`] and a
//! [`SendHalf`], whatever the mechanism underneath. Nothing here knows the wire format.
//! `udp:` addresses are not streams: [`connect`] and [`listen`] refuse them, and
//! [`bind_udp`] / [`connect_udp`] give a plain `UdpSocket` to the programs that speak in
//! datagrams.

use crate::addr::Address;
#[cfg(unix)]
use crate::shutdown;
use crate::units::{Backoff, show_duration};
use interprocess::local_socket::{
    GenericNamespaced, ListenerOptions, Stream as LocalStream, ToNsName, prelude::*,
};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{
    Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::{Path, PathBuf};

/// Who may be at the other end of a `local:` or `unix:` socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Only processes of this program's own user (the default): the kernel says who the
    /// peer is (its credentials on the socket), so another local user can neither take a
    /// stream meant for us by taking the name first, nor feed a listener of ours. A
    /// `unix:` socket file is created readable and writable by its owner only (0600).
    #[default]
    OwnUser,
    /// Any local user (`--any-user`); a `unix:` socket file is created 0666.
    AnyUser,
}

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

/// The mechanism under a [`Conn`].
#[derive(Debug)]
enum Link {
    /// Anonymous pipes: our own stdin and stdout (duplicated, so that reads and writes are
    /// raw), or the write end of a child's stdin. One-way: nothing answers on them.
    Pipe {
        input: Option<File>,
        output: Option<File>,
    },
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    Local(LocalStream),
}

/// One connected byte stream, either direction.
#[derive(Debug)]
pub struct Conn {
    link: Arc<Link>,
    peer: String,
}

impl Conn {
    /// This process's stdin and stdout as a connection.
    pub fn stdio() -> io::Result<Conn> {
        Ok(Conn {
            link: Arc::new(Link::Pipe {
                input: Some(dup(&io::stdin())?),
                output: Some(dup(&io::stdout())?),
            }),
            peer: "stdio".into(),
        })
    }

    /// The write end of a child's stdin pipe, as a one-way connection to that child.
    pub fn pipe_to(child: std::process::ChildStdin) -> Conn {
        #[cfg(unix)]
        let output = File::from(std::os::fd::OwnedFd::from(child));
        #[cfg(windows)]
        let output = File::from(std::os::windows::io::OwnedHandle::from(child));
        Conn {
            link: Arc::new(Link::Pipe {
                input: None,
                output: Some(output),
            }),
            peer: "the child's stdin".into(),
        }
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
        if access == Access::AnyUser {
            return Ok(None);
        }
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let fd = match &*self.link {
                Link::Unix(s) => s.as_fd(),
                Link::Local(LocalStream::UdSocket(s)) => s.as_fd(),
                _ => return Ok(None),
            };
            let peer = rustix::net::sockopt::socket_peercred(fd)?.uid.as_raw();
            let me = rustix::process::geteuid().as_raw();
            Ok((peer != me).then(|| format!("uid {peer}")))
        }
        #[cfg(windows)]
        {
            use interprocess::local_socket::traits::StreamCommon;
            let Link::Local(s) = &*self.link else {
                return Ok(None);
            };
            let pid = s
                .peer_creds()?
                .pid()
                .ok_or_else(|| io::Error::other("the named pipe did not name its peer process"))?;
            Ok((!windows_user::same_as_ours(pid)?).then(|| format!("pid {pid}")))
        }
    }

    /// Whether the peer can answer on this connection (everything but `stdio`).
    pub fn is_two_way(&self) -> bool {
        !matches!(*self.link, Link::Pipe { .. })
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
pub struct RecvHalf(Arc<Link>);

/// Ends a connection from another thread than the one serving it (a server making room):
/// writes a last notice, then shuts the socket down both ways, which ends a read blocked on
/// it. Sockets only: Windows named pipes and anonymous pipes have no such thing.
#[derive(Debug)]
pub struct Closer(Arc<Link>);

impl Closer {
    /// Writes `notice` (best effort), then shuts the connection down.
    pub fn close_with(&self, notice: &[u8]) {
        let _ = SendHalf(Arc::clone(&self.0)).write_all(notice);
        let _ = match &*self.0 {
            Link::Tcp(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Link::Unix(s) => s.shutdown(Shutdown::Both),
            #[cfg(unix)]
            Link::Local(s) => {
                use std::os::fd::AsFd;
                let LocalStream::UdSocket(s) = s;
                s.as_fd()
                    .try_clone_to_owned()
                    .and_then(|fd| UnixStream::from(fd).shutdown(Shutdown::Both))
            }
            _ => Ok(()),
        };
    }
}

/// The writing half of a [`Conn`].
#[derive(Debug)]
pub struct SendHalf(Arc<Link>);

impl RecvHalf {
    /// A [`Closer`] for this connection, where the mechanism has one (sockets).
    pub fn closer(&self) -> Option<Closer> {
        match &*self.0 {
            Link::Tcp(_) => Some(Closer(Arc::clone(&self.0))),
            #[cfg(unix)]
            Link::Unix(_) | Link::Local(_) => Some(Closer(Arc::clone(&self.0))),
            _ => None,
        }
    }

    /// Bounds how long one read may block (`None`: forever), where the mechanism can:
    /// not on `stdio`, and not on Windows named pipes (`local:` on Windows), which have no
    /// I/O timeouts; there a read waits until data, end of stream, or Ctrl-C.
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        let r = match &*self.0 {
            Link::Pipe { .. } => Ok(()),
            Link::Tcp(s) => s.set_read_timeout(t),
            #[cfg(unix)]
            Link::Unix(s) => s.set_read_timeout(t),
            Link::Local(s) => s.set_recv_timeout(t),
        };
        match r {
            Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
            r => r,
        }
    }
}

impl Read for RecvHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A pipe whose writer is gone reads as end of file on Windows too: std and
        // interprocess both map ERROR_BROKEN_PIPE to Ok(0).
        match &*self.0 {
            Link::Pipe {
                input: Some(input), ..
            } => (&*input).read(buf),
            Link::Pipe { input: None, .. } => Ok(0),
            Link::Tcp(s) => (&*s).read(buf),
            #[cfg(unix)]
            Link::Unix(s) => (&*s).read(buf),
            Link::Local(s) => (&*s).read(buf),
        }
    }
}

impl SendHalf {
    /// Bounds how long one write may block (`None`: forever), as when the peer stops
    /// reading. No effect on `stdio`; Windows named pipes refuse it (`Unsupported`).
    pub fn set_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match &*self.0 {
            Link::Pipe { .. } => Ok(()),
            Link::Tcp(s) => s.set_write_timeout(t),
            #[cfg(unix)]
            Link::Unix(s) => s.set_write_timeout(t),
            Link::Local(s) => s.set_send_timeout(t),
        }
    }

    /// Whether [`SendHalf::shutdown_write`] really half-closes: TCP and Unix sockets
    /// (including `local:` on Unix) do; Windows named pipes and `stdio` do not.
    pub fn has_half_close(&self) -> bool {
        match &*self.0 {
            Link::Pipe { .. } => false,
            Link::Tcp(_) => true,
            #[cfg(unix)]
            Link::Unix(_) => true,
            Link::Local(_) => cfg!(unix),
        }
    }

    /// Half-close: tells the peer that nothing more will be sent, while it can still
    /// answer. A no-op where the transport has none ([`SendHalf::has_half_close`]).
    pub fn shutdown_write(&self) -> io::Result<()> {
        match &*self.0 {
            Link::Pipe { .. } => Ok(()),
            Link::Tcp(s) => s.shutdown(Shutdown::Write),
            #[cfg(unix)]
            Link::Unix(s) => s.shutdown(Shutdown::Write),
            #[cfg(unix)]
            Link::Local(s) => {
                // Underneath is a Unix socket; shutting down a duplicate of its descriptor
                // shuts down the socket itself.
                use std::os::fd::AsFd;
                let LocalStream::UdSocket(s) = s;
                UnixStream::from(s.as_fd().try_clone_to_owned()?).shutdown(Shutdown::Write)
            }
            #[cfg(not(unix))]
            Link::Local(_) => Ok(()),
        }
    }
}

impl Write for SendHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &*self.0 {
            Link::Pipe {
                output: Some(output),
                ..
            } => (&*output).write(buf),
            Link::Pipe { output: None, .. } => Err(io::ErrorKind::BrokenPipe.into()),
            Link::Tcp(s) => (&*s).write(buf),
            #[cfg(unix)]
            Link::Unix(s) => (&*s).write(buf),
            Link::Local(s) => (&*s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &*self.0 {
            Link::Pipe {
                output: Some(output),
                ..
            } => (&*output).flush(),
            Link::Pipe { output: None, .. } => Ok(()),
            Link::Tcp(s) => (&*s).flush(),
            #[cfg(unix)]
            Link::Unix(s) => (&*s).flush(),
            Link::Local(s) => (&*s).flush(),
        }
    }
}

/// A raw file on a duplicate of a standard stream: no std-side buffering in the way.
#[cfg(unix)]
fn dup(s: &impl std::os::fd::AsFd) -> io::Result<File> {
    s.as_fd().try_clone_to_owned().map(File::from)
}

#[cfg(windows)]
fn dup(s: &impl std::os::windows::io::AsHandle) -> io::Result<File> {
    s.as_handle().try_clone_to_owned().map(File::from)
}

/// Why a stream cannot run over `udp:`.
const UDP_IS_NOT_A_STREAM: &str =
    "udp carries datagrams; this needs a stream (tcp:, local:, unix:)";

/// Why `addr` names no byte stream, if it does not.
fn not_a_stream(addr: &Address) -> Option<&'static str> {
    match addr {
        Address::Udp { .. } => Some(UDP_IS_NOT_A_STREAM),
        Address::Redis { .. } => Some(
            "redis:// names a queue kept by a Redis server; only producer and consumer \
             use it, and they connect to it (no -l); this needs tcp:, local: or unix:",
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

fn try_connect(addr: &Address) -> io::Result<Conn> {
    let (link, peer) = match addr {
        Address::Stdio => return Conn::stdio(),
        Address::Udp { .. } | Address::Redis { .. } => {
            return Err(io::ErrorKind::Unsupported.into());
        }
        Address::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port))?;
            s.set_nodelay(true)?;
            (Link::Tcp(s), addr.to_string())
        }
        #[cfg(unix)]
        Address::Unix(path) => (Link::Unix(UnixStream::connect(path)?), addr.to_string()),
        #[cfg(not(unix))]
        Address::Unix(_) => return Err(io::ErrorKind::Unsupported.into()),
        Address::Local(name) => {
            let name = name.as_str().to_ns_name::<GenericNamespaced>()?;
            (Link::Local(LocalStream::connect(name)?), addr.to_string())
        }
    };
    Ok(Conn {
        link: Arc::new(link),
        peer,
    })
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
    kind: ListenKind,
    addr: Address,
    access: Access,
}

#[derive(Debug)]
enum ListenKind {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix {
        listener: UnixListener,
        /// Removes the socket file when the listener goes.
        _file: SocketFile,
    },
    Local(interprocess::local_socket::Listener),
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
    let io_err = |source| TransportError::Io {
        action: "listen on",
        addr: addr.clone(),
        source,
    };
    let in_use = || TransportError::InUse { addr: addr.clone() };
    let (kind, actual) = match addr {
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
        Address::Tcp { host, port } => {
            // std sets SO_REUSEADDR, so connections in TIME-WAIT do not stop us unless the
            // program that had them did not set it (the tutorial's server.py). Then the
            // system frees the port within a minute or so: wait for it, if nobody answers.
            let deadline = Instant::now() + TIME_WAIT_MAX;
            let mut on_wait = Some(on_wait);
            let l = loop {
                match first_resolved(host, *port, TcpListener::bind) {
                    Ok(l) => break l,
                    Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(io_err(e)),
                    Err(_) if !only_closing_on(host, *port) => return Err(in_use()),
                    Err(_) if Instant::now() >= deadline => {
                        return Err(TransportError::Closing { addr: addr.clone() });
                    }
                    Err(_) => {
                        if let Some(say) = on_wait.take() {
                            say();
                        }
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
            };
            let local = l.local_addr().map_err(io_err)?;
            let actual = Address::Tcp {
                host: local.ip().to_string(),
                port: local.port(),
            };
            (ListenKind::Tcp(l), actual)
        }
        #[cfg(unix)]
        Address::Unix(path) => {
            let (l, file) = bind_unix(addr, path, access)?;
            (
                ListenKind::Unix {
                    listener: l,
                    _file: file,
                },
                addr.clone(),
            )
        }
        #[cfg(not(unix))]
        Address::Unix(_) => {
            return Err(TransportError::Unusable {
                addr: addr.clone(),
                why: "unix:PATH sockets are Unix-only; use local:NAME",
            });
        }
        Address::Local(name) => {
            #[cfg(windows)]
            if pipe_is_served(name) {
                return Err(in_use());
            }
            let ns = name
                .as_str()
                .to_ns_name::<GenericNamespaced>()
                .map_err(io_err)?;
            let options = ListenerOptions::new().name(ns);
            #[cfg(windows)]
            let options = match access {
                Access::OwnUser => {
                    use interprocess::os::windows::local_socket::ListenerOptionsExt;
                    options.security_descriptor(owner_only().map_err(io_err)?)
                }
                Access::AnyUser => options,
            };
            let l = options.create_sync().map_err(|e| match e.kind() {
                // Windows answers "access denied" for a pipe name another process serves.
                io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied => in_use(),
                _ => io_err(e),
            })?;
            (ListenKind::Local(l), addr.clone())
        }
    };
    Ok(Listener {
        kind,
        addr: actual,
        access,
    })
}

/// Whose a Windows process is: the user of its token, compared with ours. The only place
/// on Windows, beside `pipe_is_served`, that calls the system directly.
#[cfg(windows)]
#[allow(unsafe_code)]
mod windows_user {
    use std::io;
    use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ACCESS_DENIED, HANDLE};
    use windows_sys::Win32::Security::{
        EqualSid, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    /// A handle, closed when dropped.
    struct Owned(HANDLE);

    impl Drop for Owned {
        fn drop(&mut self) {
            // SAFETY: the handle was opened by us, is valid, and is closed only here.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// The TOKEN_USER of a process, in a buffer aligned for it.
    fn token_user(process: HANDLE) -> io::Result<Vec<u64>> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: `process` is a valid process handle; `token` receives a new handle.
        if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        let token = Owned(token);
        let mut len = 0u32;
        // SAFETY: a null buffer of length 0 only asks for the length needed (this call
        // "fails" with ERROR_INSUFFICIENT_BUFFER and sets `len`).
        unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
        let size = u32::try_from(buf.len() * 8).map_err(io::Error::other)?;
        // SAFETY: `buf` is writable for `size` bytes, 8-aligned, as TOKEN_USER needs.
        if unsafe {
            GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), size, &mut len)
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(buf)
    }

    /// Whether process `pid` runs as the user this process runs as. A process this one
    /// may not even query is not ours.
    pub fn same_as_ours(pid: u32) -> io::Result<bool> {
        // SAFETY: the pseudo-handle of this process needs no closing.
        let me = token_user(unsafe { GetCurrentProcess() })?;
        // SAFETY: plain call; a null result is an error, read just after.
        let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if process.is_null() {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(code) if code == ERROR_ACCESS_DENIED as i32 => Ok(false),
                _ => Err(e),
            };
        }
        let process = Owned(process);
        let peer = match token_user(process.0) {
            Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => return Ok(false),
            other => other?,
        };
        let (me, peer) = (
            me.as_ptr().cast::<TOKEN_USER>(),
            peer.as_ptr().cast::<TOKEN_USER>(),
        );
        // SAFETY: both buffers hold a TOKEN_USER filled in by the system, whose SID
        // pointers point inside those buffers, alive for this call.
        Ok(unsafe { EqualSid((*me).User.Sid, (*peer).User.Sid) } != 0)
    }
}

/// A named pipe's security descriptor that lets in its owner (the user who created it)
/// and SYSTEM only: Windows' default also lets everyone read.
#[cfg(windows)]
fn owner_only() -> io::Result<interprocess::os::windows::security_descriptor::SecurityDescriptor> {
    use interprocess::os::windows::security_descriptor::SecurityDescriptor;
    // P: protected (nothing inherited); A;;GA;;;OW: all access to the owner; ...;;;SY: SYSTEM.
    SecurityDescriptor::deserialize(widestring::u16cstr!("D:P(A;;GA;;;OW)(A;;GA;;;SY)"))
}

/// Whether some process already serves the named pipe `\\.\pipe\NAME`, asked without
/// connecting to it (a connection would be an unwanted client for that process).
/// Windows refuses a second listener by itself (interprocess creates the first instance
/// with FILE_FLAG_FIRST_PIPE_INSTANCE), but wine 8 ignores that flag; this check holds on both.
#[cfg(windows)]
#[allow(unsafe_code)]
fn pipe_is_served(name: &str) -> bool {
    use windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND;
    use windows_sys::Win32::System::Pipes::WaitNamedPipeW;
    let path: Vec<u16> = format!(r"\\.\pipe\{name}")
        .encode_utf16()
        .chain([0])
        .collect();
    // SAFETY: `path` is a NUL-terminated UTF-16 string that lives across the call, which
    // only reads it. A 1 ms wait: we ask whether the pipe exists, not for a free instance.
    let exists = unsafe { WaitNamedPipeW(path.as_ptr(), 1) } != 0;
    exists || io::Error::last_os_error().raw_os_error() != Some(ERROR_FILE_NOT_FOUND as i32)
}

/// How long [`listen`] waits for a TCP port held only by connections in TIME-WAIT: Linux
/// keeps them 60 s, and its timers may fire a few seconds late.
pub const TIME_WAIT_MAX: Duration = Duration::from_secs(90);

/// Whether only closing connections (TIME-WAIT and the like) hold TCP port `port`: as the
/// system lists them on Linux; elsewhere, whether nothing accepts connections there.
fn only_closing_on(host: &str, port: u16) -> bool {
    #[cfg(target_os = "linux")]
    if let Some(only) = only_closing_in_proc_net(port) {
        return only;
    }
    !tcp_answers(host, port)
}

/// Linux's tables of TCP sockets: `None` if they show none on `port`.
#[cfg(target_os = "linux")]
fn only_closing_in_proc_net(port: u16) -> Option<bool> {
    // FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSE, LAST-ACK, CLOSING: the connection's program
    // has closed it; the others (a listener, a live connection) belong to a live process.
    const CLOSING: [&str; 6] = ["04", "05", "06", "07", "09", "0B"];
    let mut seen = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local_address rem_address st ...; an address is HEXIP:HEXPORT.
            let fields: Vec<&str> = line.split_whitespace().take(4).collect();
            let [_, local, _, state] = fields[..] else {
                continue;
            };
            let on_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                == Some(port);
            if on_port {
                if !CLOSING.contains(&state) {
                    return Some(false);
                }
                seen = true;
            }
        }
    }
    seen.then_some(true)
}

/// Whether a process accepts TCP connections at `host:port`; anything but a refusal (a
/// timeout, an unreachable host) counts as yes, so that a live listener is never called gone.
fn tcp_answers(host: &str, port: u16) -> bool {
    let probe = |sa: SocketAddr| TcpStream::connect_timeout(&sa, Duration::from_millis(500));
    !matches!(
        first_resolved(host, port, probe),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused
    )
}

/// Tries `f` on each address `host:port` resolves to, in order: the first success, or the
/// last failure. One place for every bind and UDP connect by host name.
fn first_resolved<T>(
    host: &str,
    port: u16,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name resolves to nothing");
    for sa in (host, port).to_socket_addrs()? {
        match f(sa) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
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
        let (link, peer) = match &self.kind {
            ListenKind::Tcp(l) => {
                let (s, peer) = l.accept()?;
                s.set_nodelay(true)?;
                (Link::Tcp(s), format!("tcp:{peer}"))
            }
            #[cfg(unix)]
            ListenKind::Unix { listener, .. } => {
                (Link::Unix(listener.accept()?.0), self.addr.to_string())
            }
            ListenKind::Local(l) => (Link::Local(l.accept()?), self.addr.to_string()),
        };
        let conn = Conn {
            link: Arc::new(link),
            peer,
        };
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
}

/// Prints the fixed ready line, `ready: ADDRESS`, on stderr, for any bound address.
pub fn announce(addr: &Address) {
    // In one write, so that a script polling the log never sees half a line.
    let line = format!("ready: {addr}\n");
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Binds a UDP socket at a `udp:HOST:PORT` address; returns it with the address actually
/// bound (`udp:HOST:0` shows its real port). Binds only the host named: never all
/// interfaces unless asked (`udp:0.0.0.0:PORT`).
pub fn bind_udp(addr: &Address) -> Result<(UdpSocket, Address), TransportError> {
    let Address::Udp { host, port } = addr else {
        return Err(TransportError::Unusable {
            addr: addr.clone(),
            why: "datagrams need a udp:HOST:PORT address",
        });
    };
    let io_err = |source| TransportError::Io {
        action: "listen on",
        addr: addr.clone(),
        source,
    };
    let s = first_resolved(host, *port, UdpSocket::bind).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => TransportError::InUse { addr: addr.clone() },
        _ => io_err(e),
    })?;
    let local = s.local_addr().map_err(io_err)?;
    let actual = Address::Udp {
        host: local.ip().to_string(),
        port: local.port(),
    };
    Ok((s, actual))
}

/// A UDP socket that sends to and hears only from `udp:HOST:PORT`, on an ephemeral local
/// port. Nothing is exchanged yet, so nothing tells whether a server is there: a datagram
/// to a closed port comes back as an error on a later receive ("connection refused" on
/// Unix, "connection reset" on Windows).
pub fn connect_udp(addr: &Address) -> Result<UdpSocket, TransportError> {
    let Address::Udp { host, port } = addr else {
        return Err(TransportError::Unusable {
            addr: addr.clone(),
            why: "datagrams need a udp:HOST:PORT address",
        });
    };
    let io_err = |source| TransportError::Io {
        action: "connect to",
        addr: addr.clone(),
        source,
    };
    first_resolved(host, *port, |sa| {
        let any: SocketAddr = if sa.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(any)?;
        s.connect(sa)?;
        Ok(s)
    })
    .map_err(io_err)
}

/// A socket file this process created; removed on drop and on Ctrl-C, but only while it is
/// still the same file (another process may have reclaimed the path since).
#[cfg(unix)]
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    ino: u64,
}

#[cfg(unix)]
impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        shutdown::forget_file(&self.path);
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn bind_unix(
    addr: &Address,
    path: &Path,
    access: Access,
) -> Result<(UnixListener, SocketFile), TransportError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let io_err = |source| TransportError::Io {
        action: "listen on",
        addr: addr.clone(),
        source,
    };
    let listener = match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let is_socket = std::fs::symlink_metadata(path)
                .map(|m| m.file_type().is_socket())
                .map_err(io_err)?;
            if !is_socket {
                return Err(TransportError::Unusable {
                    addr: addr.clone(),
                    why: "the path exists and is not a socket; refusing to replace it",
                });
            }
            match UnixStream::connect(path) {
                Ok(_) => return Err(TransportError::InUse { addr: addr.clone() }),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // Nobody answers: a dead process left it. Reclaim the name.
                    std::fs::remove_file(path).map_err(io_err)?;
                    UnixListener::bind(path).map_err(io_err)?
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        other => other.map_err(io_err)?,
    };
    // The mode is set, not left to the umask: owner only, unless every user is welcome.
    let mode = match access {
        Access::OwnUser => 0o600,
        Access::AnyUser => 0o666,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err)?;
    let ino = std::fs::symlink_metadata(path).map_err(io_err)?.ino();
    shutdown::remove_file_on_interrupt(path);
    Ok((
        listener,
        SocketFile {
            path: path.to_owned(),
            ino,
        },
    ))
}
