//! `local:NAME`: interprocess's namespaced local sockets, an abstract Unix socket on Linux
//! and the named pipe `\\.\pipe\NAME` on Windows. On Windows a pipe is created with an
//! owner-only security descriptor, and a name already served is refused before listening
//! (wine ignores `FILE_FLAG_FIRST_PIPE_INSTANCE`); named pipes have no I/O timeouts and no
//! half-close.

use super::{Accept, Access, Stream, TransportError, access, listen_error};
use crate::addr::Address;
use interprocess::local_socket::{
    GenericNamespaced, Listener as LocalListener, ListenerOptions, Stream as LocalStream, ToNsName,
    prelude::*,
};
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn connect(name: &str) -> io::Result<Arc<dyn Stream>> {
    let name = name.to_ns_name::<GenericNamespaced>()?;
    Ok(Arc::new(LocalStream::connect(name)?))
}

/// On Unix, the Unix socket underneath: shutting down a duplicate of its descriptor shuts
/// down the socket itself.
#[cfg(unix)]
fn shutdown(s: &LocalStream, how: std::net::Shutdown) -> io::Result<()> {
    use std::os::fd::AsFd;
    let LocalStream::UdSocket(s) = s;
    std::os::unix::net::UnixStream::from(s.as_fd().try_clone_to_owned()?).shutdown(how)
}

impl Stream for LocalStream {
    super::io_by_ref!();

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_recv_timeout(t)
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_send_timeout(t)
    }

    fn has_half_close(&self) -> bool {
        cfg!(unix)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        #[cfg(unix)]
        return shutdown(self, std::net::Shutdown::Write);
        #[cfg(not(unix))]
        Ok(())
    }

    fn can_shut_down(&self) -> bool {
        cfg!(unix)
    }

    fn shutdown_both(&self) -> io::Result<()> {
        #[cfg(unix)]
        return shutdown(self, std::net::Shutdown::Both);
        #[cfg(not(unix))]
        Ok(())
    }

    fn peer_closed(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            let LocalStream::UdSocket(s) = self;
            super::hung_up(s.as_fd())
        }
        // A named pipe's end comes after the bytes still in it: ask whether the process
        // at the other end has ended instead.
        #[cfg(windows)]
        {
            use interprocess::local_socket::traits::StreamCommon;
            self.peer_creds()
                .ok()
                .and_then(|c| c.pid())
                .is_some_and(super::windows::process_has_ended)
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        false
    }

    fn other_user(&self) -> io::Result<Option<String>> {
        #[cfg(unix)]
        {
            use std::os::fd::AsFd;
            let LocalStream::UdSocket(s) = self;
            access::other_user_of_socket(s.as_fd())
        }
        #[cfg(windows)]
        {
            use interprocess::local_socket::traits::StreamCommon;
            access::other_user_of_process(self.peer_creds()?.pid())
        }
    }
}

#[derive(Debug)]
struct Listening {
    listener: LocalListener,
    shown: String,
}

impl Accept for Listening {
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)> {
        Ok((Arc::new(self.listener.accept()?), self.shown.clone()))
    }
}

pub(super) fn listen(
    addr: &Address,
    name: &str,
    access: Access,
) -> Result<(Box<dyn Accept>, Address), TransportError> {
    let listening = Listening {
        listener: bind(addr, name, access)?,
        shown: addr.to_string(),
    };
    Ok((Box::new(listening), addr.clone()))
}

/// A local socket listening at `name`, for `addr` (which names it in errors).
fn bind(addr: &Address, name: &str, access: Access) -> Result<LocalListener, TransportError> {
    let io_err = listen_error(addr);
    let in_use = || TransportError::InUse { addr: addr.clone() };
    #[cfg(windows)]
    if super::windows::pipe_is_served(name) {
        return Err(in_use());
    }
    let ns = name.to_ns_name::<GenericNamespaced>().map_err(&io_err)?;
    let options = ListenerOptions::new().name(ns);
    #[cfg(windows)]
    let options = match access {
        Access::OwnUser => {
            use interprocess::os::windows::local_socket::ListenerOptionsExt;
            options.security_descriptor(super::windows::owner_only().map_err(&io_err)?)
        }
        Access::AnyUser => options,
    };
    #[cfg(not(windows))]
    let _ = access; // checked on every accepted connection (Listener::accept)
    options.create_sync().map_err(|e| match e.kind() {
        // Windows answers "access denied" for a pipe name another process serves.
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied => in_use(),
        _ => io_err(e),
    })
}

/// `shm:`'s rendezvous on Windows (ring/win.rs): a named pipe that carries a few bytes of
/// handover, and says which process is at the other end.
#[cfg(windows)]
#[derive(Debug)]
pub(super) struct Pipe(LocalStream);

#[cfg(windows)]
impl Pipe {
    pub(super) fn connect(name: &str) -> io::Result<Pipe> {
        Ok(Pipe(LocalStream::connect(
            name.to_ns_name::<GenericNamespaced>()?,
        )?))
    }

    /// The process at the other end.
    pub(super) fn peer_pid(&self) -> io::Result<u32> {
        use interprocess::local_socket::traits::StreamCommon;
        self.0
            .peer_creds()?
            .pid()
            .ok_or_else(|| io::Error::other("the named pipe did not name its peer process"))
    }

    pub(super) fn send(&self, bytes: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut &self.0, bytes)
    }

    pub(super) fn recv(&self, buf: &mut [u8]) -> io::Result<()> {
        io::Read::read_exact(&mut &self.0, buf)
    }
}

/// The listening side of [`Pipe`]s, with `local:`'s rules (a served name is in use; an
/// owner-only pipe unless `--any-user`).
#[cfg(windows)]
#[derive(Debug)]
pub(super) struct PipeListener(LocalListener);

#[cfg(windows)]
impl PipeListener {
    pub(super) fn bind(
        addr: &Address,
        name: &str,
        access: Access,
    ) -> Result<PipeListener, TransportError> {
        Ok(PipeListener(bind(addr, name, access)?))
    }

    pub(super) fn accept(&self) -> io::Result<Pipe> {
        Ok(Pipe(self.0.accept()?))
    }
}
