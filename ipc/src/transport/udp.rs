//! UDP: datagrams, not a stream, so not a [`super::Conn`]: a plain `UdpSocket` for the
//! programs that speak in datagrams (the echo server and client).

use super::TransportError;
use super::tcp::first_resolved;
use crate::addr::Address;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

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
    let io_err = super::listen_error(addr);
    let s = first_resolved(host, *port, UdpSocket::bind).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => TransportError::InUse { addr: addr.clone() },
        _ => io_err(e),
    })?;
    let local = s.local_addr().map_err(&io_err)?;
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
