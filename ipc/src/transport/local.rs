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
    let listener = options.create_sync().map_err(|e| match e.kind() {
        // Windows answers "access denied" for a pipe name another process serves.
        io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied => in_use(),
        _ => io_err(e),
    })?;
    let listening = Listening {
        listener,
        shown: addr.to_string(),
    };
    Ok((Box::new(listening), addr.clone()))
}
