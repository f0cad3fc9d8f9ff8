//! TCP: connect, listen (waiting out a port held only by closing connections), and the
//! one place that tries each address a host name resolves to.

use super::{Accept, Stream, TransportError, listen_error};
use crate::addr::Address;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long [`listen`] waits for a TCP port held only by connections in TIME-WAIT: Linux
/// keeps them 60 s, and its timers may fire a few seconds late.
pub const TIME_WAIT_MAX: Duration = Duration::from_secs(90);

pub(super) fn connect(host: &str, port: u16) -> io::Result<Arc<dyn Stream>> {
    let s = TcpStream::connect((host, port))?;
    s.set_nodelay(true)?;
    Ok(Arc::new(s))
}

impl Stream for TcpStream {
    super::std_socket!(TcpStream);
}

impl Accept for TcpListener {
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)> {
        let (s, peer) = self.accept()?;
        s.set_nodelay(true)?;
        Ok((Arc::new(s), format!("tcp:{peer}")))
    }
}

/// Binds `host:port`. std sets SO_REUSEADDR, so connections in TIME-WAIT do not stop us
/// unless the program that had them did not set it (the tutorial's server.py). Then the
/// system frees the port within a minute or so: wait for it, if nobody answers.
pub(super) fn listen(
    addr: &Address,
    host: &str,
    port: u16,
    on_wait: impl FnOnce(),
) -> Result<(Box<dyn Accept>, Address), TransportError> {
    let io_err = listen_error(addr);
    let deadline = Instant::now() + TIME_WAIT_MAX;
    let mut on_wait = Some(on_wait);
    let l = loop {
        match first_resolved(host, port, TcpListener::bind) {
            Ok(l) => break l,
            Err(e) if e.kind() != io::ErrorKind::AddrInUse => return Err(io_err(e)),
            Err(_) if !only_closing_on(host, port) => {
                return Err(TransportError::InUse { addr: addr.clone() });
            }
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
    Ok((Box::new(l), actual))
}

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
pub(super) fn first_resolved<T>(
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
