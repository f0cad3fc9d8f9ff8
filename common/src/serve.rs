//! The serving scaffolding of every server here (the echo server, the queue's broker):
//! accept on many addresses at once, a thread per client, a limit on clients connected at
//! once, and a [`Stop`] handed in that ends accepting. What is said on a connection is the
//! [`Service`]'s business.
//!
//! ```text
//! spawn_accept_loops(listeners) --thread per address--> accept
//!     --over --max-clients--> Service::refuse(conn, why)
//!     --otherwise, a thread--> Service::serve(conn, client)
//! ```

use ipc::Address;
use ipc::shutdown::Stop;
use ipc::transport::{Conn, Listener};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What a server says on each connection.
pub trait Service: Send + Sync + 'static {
    /// Serves one client until the conversation ends, on a thread of its own.
    fn serve(&self, conn: Conn, client: &Client<'_>);

    /// The server is full: may a client that is doing nothing be sent away to make room
    /// for this new one? `true` if one was (it is leaving; the new one is served).
    fn make_room(&self) -> bool {
        false
    }

    /// Tells a client that cannot be served now why (`why` names the limit), then drops
    /// it. Must not block for long: the accept loop waits for it.
    fn refuse(&self, conn: Conn, why: String);
}

/// The clients of one server: counted for limits, log lines and totals.
#[derive(Debug)]
pub struct Clients {
    /// Connections accepted so far, refused ones included: the next client's number.
    accepted: AtomicU64,
    refused: AtomicU64,
    connected: AtomicUsize,
    max: usize,
}

impl Clients {
    /// At most `max` clients connected at once.
    pub fn new(max: usize) -> Clients {
        Clients {
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            max,
        }
    }

    /// Clients served so far (accepted and not refused).
    pub fn served(&self) -> u64 {
        self.accepted
            .load(Ordering::Relaxed)
            .saturating_sub(self.refused())
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Clients connected now.
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::SeqCst)
    }
}

/// One client, for log lines: its number and where it came from.
#[derive(Debug)]
pub struct Client<'a> {
    pub id: u64,
    /// `from tcp:127.0.0.1:50312`, or `on local:echo` (Unix and local sockets have no peer
    /// address: the address it came in on).
    pub whence: String,
    clients: &'a Clients,
}

impl Client<'_> {
    /// `client 3 from tcp:127.0.0.1:50312`.
    pub fn describe(&self) -> String {
        format!("client {} {}", self.id, self.whence)
    }

    /// Clients connected now, this one included.
    pub fn connected(&self) -> usize {
        self.clients.connected()
    }
}

/// Starts one accept loop per listener, each on its own thread. They run until the
/// process ends; once `stop` is raised they drop new connections at once.
pub fn spawn_accept_loops<S: Service>(
    program: &'static str,
    listeners: Vec<Listener>,
    service: &Arc<S>,
    clients: &Arc<Clients>,
    stop: &Arc<Stop>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut threads = Vec::new();
    for listener in listeners {
        let (service, clients, stop) = (Arc::clone(service), Arc::clone(clients), Arc::clone(stop));
        let name = format!("accept {}", listener.address());
        threads.push(thread::Builder::new().name(name).spawn(move || {
            accept_loop(program, &listener, &service, &clients, &stop);
        })?);
    }
    Ok(threads)
}

fn accept_loop<S: Service>(
    program: &str,
    listener: &Listener,
    service: &Arc<S>,
    clients: &Arc<Clients>,
    stop: &Stop,
) {
    loop {
        // Another user's process, where only ours are let through: told, then the next.
        let conn = match listener.accept_own(program) {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, say: keep serving the clients we have, retry soon.
                ipc::elog!(
                    "{program}: error: cannot accept on {}: {e}",
                    listener.address()
                );
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if stop.is_raised() {
            continue; // stopping: no new clients; dropping the connection closes it
        }
        let id = clients.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        let whence = whence(&conn, listener.address());
        let before = clients.connected.fetch_add(1, Ordering::SeqCst);
        if before >= clients.max && !service.make_room() {
            clients.connected.fetch_sub(1, Ordering::SeqCst);
            clients.refused.fetch_add(1, Ordering::Relaxed);
            let why = format!(
                "busy: the {program} has its maximum of {0} clients (--max-clients {0}); try again later",
                clients.max
            );
            ipc::elog!("{program}: client {id} {whence} refused: {why}");
            service.refuse(conn, why);
            continue;
        }
        let (service, clients_) = (Arc::clone(service), Arc::clone(clients));
        let spawned = thread::Builder::new()
            .name(format!("client {id}"))
            .spawn(move || {
                let client = Client {
                    id,
                    whence,
                    clients: &clients_,
                };
                ipc::say::set_peer_tag(|| client.describe());
                service.serve(conn, &client);
                clients_.connected.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            clients.connected.fetch_sub(1, Ordering::SeqCst);
            ipc::elog!("{program}: error: client {id} dropped: cannot start a thread: {e}");
        }
    }
}

fn whence(conn: &Conn, listening: &Address) -> String {
    if conn.peer() == listening.to_string() {
        format!("on {}", conn.peer())
    } else {
        format!("from {}", conn.peer())
    }
}
