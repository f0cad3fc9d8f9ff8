//! Serving the echo: stream clients through [`common::serve`] (a thread per listening
//! address and per client), and a thread per `udp:` address. All limits are per line and
//! per client, so memory stays bounded whatever the clients send.

use crate::Cli;
use common::cli::{Result, say_closing};
use common::echo::{self, LineError, LineReader};
use common::serve::{self, Client, Clients, Service};
use ipc::Address;
use ipc::shutdown::{InFlight, Stop};
use ipc::transport::{self, Closer, Conn, Listener, RecvHalf, SendHalf};
use ipc::units::{count, show_bytes, show_duration};
use std::collections::HashMap;
use std::io::{self, BufWriter, Read, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// On Ctrl-C, how long to wait for replies in flight before exiting anyway.
const FINISH_IN_FLIGHT: Duration = Duration::from_millis(500);
/// Reply buffer of a client; a batch of replies to lines that arrived together goes out in
/// one write.
const OUT_BUF: usize = 16 << 10;
/// Refused clients told why at the same time, each in a thread of its own.
const MAX_REFUSING: usize = 64;
/// When the server is full, a client that has sent no complete line for this long may be
/// sent away to make room for a new one (the longest idle first).
const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// The echo service: its settings, and the counters for the totals. Serving many clients
/// on many addresses is [`common::serve`]'s job; Ctrl-C is handed in as a [`Stop`].
struct Echo {
    prefix: Vec<u8>,
    max_line: usize,
    idle: Option<Duration>,
    /// An unfinished line is answered after the client paused this long (`--pause`).
    pause: Option<Duration>,
    lines: AtomicU64,
    datagrams: AtomicU64,
    /// Raised by Ctrl-C: accept no more clients, start no new replies.
    stop: Arc<Stop>,
    /// The clients connected now, for making room when the server is full.
    tracked: Mutex<HashMap<u64, Tracked>>,
    /// The clock's origin for [`Tracked::last_line`].
    started: Instant,
}

/// What making room needs to know of one client.
struct Tracked {
    /// Milliseconds since [`Echo::started`] when its last complete line (or its connection)
    /// came: how long it has done nothing.
    last_line: Arc<AtomicU64>,
    /// Ends its connection from the accept thread (sockets only).
    closer: Option<Closer>,
    /// Set when it was sent away, for its log line.
    evicted: Arc<AtomicBool>,
}

/// A bound address, in the order of the command line.
enum Bound {
    Stream(Listener),
    Datagram(UdpSocket, Address),
}

pub fn run(cli: &Cli) -> Result<ExitCode> {
    // Bind everything before announcing anything: a bad address fails the whole start.
    let mut bound = Vec::new();
    for addr in &cli.addresses {
        bound.push(match addr {
            Address::Udp { .. } => {
                let (socket, actual) = transport::bind_udp(addr)?;
                Bound::Datagram(socket, actual)
            }
            _ => Bound::Stream(transport::listen(addr, cli.peers.access(), || {
                say_closing("server", addr);
            })?),
        });
    }
    let stop = Arc::new(Stop::new());
    let echo = Arc::new(Echo {
        prefix: cli.prefix.as_bytes().to_vec(),
        max_line: cli.max_line,
        idle: (!cli.idle_timeout.is_zero()).then_some(cli.idle_timeout),
        pause: (!cli.pause.is_zero()).then_some(cli.pause),
        lines: AtomicU64::new(0),
        datagrams: AtomicU64::new(0),
        stop: Arc::clone(&stop),
        tracked: Mutex::new(HashMap::new()),
        started: Instant::now(),
    });
    let clients = Arc::new(Clients::new(cli.max_clients as usize));
    {
        let (echo, clients) = (Arc::clone(&echo), Arc::clone(&clients));
        ipc::shutdown::on_interrupt(move || echo.last_words(&clients));
    }

    // The ready lines in the order of the command line.
    let (mut listeners, mut sockets) = (Vec::new(), Vec::new());
    for b in bound {
        match b {
            Bound::Stream(listener) => {
                listener.announce();
                listeners.push(listener);
            }
            Bound::Datagram(socket, addr) => {
                transport::announce(&addr);
                sockets.push((socket, addr));
            }
        }
    }
    let mut threads = serve::spawn_accept_loops("server", listeners, &echo, &clients, &stop)?;
    for (socket, addr) in sockets {
        let echo = Arc::clone(&echo);
        threads.push(
            thread::Builder::new()
                .name(format!("answer {addr}"))
                .spawn(move || echo.datagram_loop(&socket, &addr))?,
        );
    }
    // The loops run until Ctrl-C ends the process.
    for t in threads {
        t.join().map_err(|_| "a listening thread panicked")?;
    }
    Ok(ExitCode::SUCCESS)
}

impl Echo {
    /// Ctrl-C's last words: stop accepting, let the replies in flight go out, print totals.
    fn last_words(&self, clients: &Clients) {
        let cut = self.stop.finish_in_flight(FINISH_IN_FLIGHT);
        ipc::elog!(
            "server: totals: clients served {}, refused {}, lines answered {}, datagrams answered {}, still connected {}",
            clients.served(),
            clients.refused(),
            self.lines.load(Ordering::Relaxed),
            self.datagrams.load(Ordering::Relaxed),
            clients.connected(),
        );
        if cut > 0 {
            ipc::elog!("server: {cut} clients were not reading their replies; exiting anyway");
        }
    }

    /// Answers one client's lines until it leaves, then logs how it went.
    fn serve_client(&self, conn: Conn, who: &Client<'_>) {
        let (rx, tx) = conn.split();
        let mut lines = 0u64;
        let last_line = Arc::new(AtomicU64::new(self.now_ms()));
        let evicted = Arc::new(AtomicBool::new(false));
        self.lock_tracked().insert(
            who.id,
            Tracked {
                last_line: Arc::clone(&last_line),
                closer: rx.closer(),
                evicted: Arc::clone(&evicted),
            },
        );
        let ending = match set_idle_timeout(&rx, &tx, self.idle) {
            Ok(()) => {
                let reader = LineReader::new(rx, self.max_line);
                let mut reader = reader.with_timeouts(self.idle, self.pause, read_timeout);
                let mut out = BufWriter::with_capacity(OUT_BUF, tx);
                let ending = self.converse(&mut reader, &mut out, &mut lines, &last_line);
                let tx = match out.into_inner() {
                    Ok(tx) => tx,
                    Err(e) => e.into_inner().into_parts().0,
                };
                let rx = reader.into_inner();
                match &ending {
                    Ending::TooLong(limit) => farewell(
                        rx,
                        tx,
                        &format!(
                            "line longer than {} (--max-line); closing the connection",
                            show_bytes(*limit as u64)
                        ),
                    ),
                    Ending::Idle(t) => farewell(
                        rx,
                        tx,
                        &format!(
                            "nothing received for {} (--idle-timeout); closing the connection",
                            show_duration(*t)
                        ),
                    ),
                    Ending::SlowLine(t) => farewell(
                        rx,
                        tx,
                        &format!(
                            "a line took longer than {} (--idle-timeout); closing the connection",
                            show_duration(*t)
                        ),
                    ),
                    _ => {}
                }
                ending
            }
            Err(e) => Ending::Lost(e),
        };
        self.lock_tracked().remove(&who.id);
        let ending = match ending {
            Ending::Left | Ending::Lost(_) if evicted.load(Ordering::SeqCst) => Ending::Evicted,
            other => other,
        };
        let left = who.connected().saturating_sub(1);
        let said = match ending {
            Ending::Left => format!("left after {}", count(lines, "line")),
            Ending::Evicted => format!(
                "was sent away after {}, idle, to make room (--max-clients)",
                count(lines, "line")
            ),
            Ending::SlowLine(t) => format!(
                "took longer than {} over a line (--idle-timeout); told so and disconnected after {}",
                show_duration(t),
                count(lines, "line")
            ),
            Ending::TooLong(limit) => format!(
                "sent a line longer than {} (--max-line); told so and disconnected after {}",
                show_bytes(limit as u64),
                count(lines, "line")
            ),
            Ending::Idle(t) => format!(
                "sent nothing for {} (--idle-timeout); told so and disconnected after {}",
                show_duration(t),
                count(lines, "line")
            ),
            Ending::NotReading(t) => format!(
                "read no replies for {} (--idle-timeout); disconnected after {}",
                show_duration(t),
                count(lines, "line")
            ),
            Ending::Lost(e) => format!(
                "lost after {}: {}",
                count(lines, "line"),
                ipc::say::io_words(&e)
            ),
            Ending::Stopping => return,
        };
        ipc::elog!(
            "server: client {} {said} ({}; {left} connected)",
            who.id,
            who.whence
        );
    }

    /// The conversation: a reply for every line, in batches (replies to lines that arrived
    /// together go out in one write).
    fn converse(
        &self,
        reader: &mut LineReader<RecvHalf>,
        out: &mut BufWriter<SendHalf>,
        lines: &mut u64,
        last_line: &AtomicU64,
    ) -> Ending {
        let mut batch: Option<InFlight<'_>> = None;
        loop {
            match reader.next_line() {
                Ok(Some(line)) => {
                    if ipc::say::verbose() {
                        ipc::say::trace("<", &String::from_utf8_lossy(line));
                    }
                    if batch.is_none() {
                        batch = self.stop.start();
                        if batch.is_none() {
                            return Ending::Stopping;
                        }
                    }
                    if let Err(e) = echo::write_reply(out, &self.prefix, line) {
                        return self.write_failed(e);
                    }
                    if ipc::say::verbose() {
                        let mut reply = self.prefix.clone();
                        reply.extend_from_slice(line);
                        ipc::say::trace(">", &String::from_utf8_lossy(&reply));
                    }
                    *lines += 1;
                    self.lines.fetch_add(1, Ordering::Relaxed);
                    last_line.store(self.now_ms(), Ordering::Relaxed);
                    if !reader.has_line() {
                        if let Err(e) = out.flush() {
                            return self.write_failed(e);
                        }
                        batch = None;
                    }
                }
                Ok(None) => {
                    return match out.flush() {
                        Ok(()) => Ending::Left,
                        Err(e) => self.write_failed(e),
                    };
                }
                Err(LineError::TooLong { limit }) => {
                    // The replies to the lines before it are still owed.
                    let _ = out.flush();
                    return Ending::TooLong(limit);
                }
                Err(LineError::TimedOut) => {
                    let idle = self.idle.unwrap_or_default();
                    return match reader.partial_since() {
                        Some(_) => Ending::SlowLine(idle),
                        None => Ending::Idle(idle),
                    };
                }
                Err(LineError::Io(e)) => return Ending::Lost(e),
            }
        }
    }

    /// A reply could not be written: the client stopped reading (the write timed out), or went.
    fn write_failed(&self, e: io::Error) -> Ending {
        match self.idle {
            Some(t) if echo::is_timeout(&e) => Ending::NotReading(t),
            _ => Ending::Lost(e),
        }
    }

    /// Answers every datagram on one `udp:` address, to its sender, until the process ends.
    fn datagram_loop(&self, socket: &UdpSocket, addr: &Address) {
        let mut buf = vec![0u8; echo::DATAGRAM_BUF];
        let mut reply = Vec::with_capacity(echo::DATAGRAM_BUF + self.prefix.len());
        let mut peers = std::collections::HashSet::new();
        loop {
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
                // Windows reports an earlier reply's "port unreachable" here; nothing to do.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    ipc::elog!("server: error: cannot receive on {addr}: {e}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let Some(_answering) = self.stop.start() else {
                continue; // Ctrl-C: no new replies
            };
            if peers.len() < UDP_PEERS_LOGGED && peers.insert(from) {
                ipc::elog!("server: first datagram from udp:{from} on {addr}");
            }
            ipc::say::set_peer_tag(|| format!("udp:{from}"));
            reply.clear();
            let datagram = &buf[..n];
            if ipc::say::verbose() {
                ipc::say::trace("<", &String::from_utf8_lossy(datagram));
            }
            if echo::content(datagram).len() > self.max_line {
                reply.extend_from_slice(&echo::notice(&format!(
                    "datagram longer than {} (--max-line)",
                    show_bytes(self.max_line as u64)
                )));
            } else if self.prefix.len() + datagram.len() > echo::MAX_DATAGRAM {
                // The answer would not fit in a datagram: say so rather than stay silent.
                reply.extend_from_slice(&echo::notice(&format!(
                    "the reply would be {} bytes with the prefix, over the {} a datagram can carry; send a shorter line",
                    self.prefix.len() + datagram.len(),
                    echo::MAX_DATAGRAM
                )));
            } else {
                reply.extend_from_slice(&self.prefix);
                reply.extend_from_slice(datagram);
            }
            if ipc::say::verbose() {
                ipc::say::trace(">", &String::from_utf8_lossy(&reply));
            }
            match socket.send_to(&reply, from) {
                Ok(_) => {
                    self.datagrams.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    ipc::elog!("server: cannot answer a datagram from {from} on {addr}: {e}");
                }
            }
        }
    }
}

impl Echo {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock_tracked(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Tracked>> {
        self.tracked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Service for Echo {
    /// Full: the client idle the longest (no complete line for [`EVICTABLE_AFTER`] at
    /// least) is told and sent away, so that clients that talk are never locked out by idle
    /// ones.
    fn make_room(&self) -> bool {
        let now = self.now_ms();
        let tracked = self.lock_tracked();
        let idlest = tracked
            .iter()
            .filter(|(_, t)| t.closer.is_some() && !t.evicted.load(Ordering::SeqCst))
            .map(|(id, t)| {
                (
                    *id,
                    now.saturating_sub(t.last_line.load(Ordering::Relaxed)),
                    t,
                )
            })
            .filter(|(_, idle, _)| *idle >= EVICTABLE_AFTER.as_millis() as u64)
            .max_by_key(|(_, idle, _)| *idle);
        let Some((id, idle_ms, t)) = idlest else {
            return false;
        };
        t.evicted.store(true, Ordering::SeqCst);
        if let Some(closer) = &t.closer {
            closer.close_with(&echo::notice(&format!(
                "idle for {} while the server is full (--max-clients): making room for a new client; closing the connection",
                show_duration(Duration::from_millis(idle_ms))
            )));
        }
        ipc::elog!(
            "server: client {id} sent away after {} idle, to make room",
            show_duration(Duration::from_millis(idle_ms))
        );
        true
    }

    fn serve(&self, conn: Conn, client: &Client<'_>) {
        ipc::elog!(
            "server: {} connected ({} connected)",
            client.describe(),
            client.connected()
        );
        self.serve_client(conn, client);
    }

    /// Sends a refused client its notice. The farewell takes a thread for up to
    /// [`echo::FAREWELL_DRAIN`]; past [`MAX_REFUSING`] at once (a flood of connections),
    /// the notice is written at once and the connection dropped.
    fn refuse(&self, conn: Conn, why: String) {
        static REFUSING: AtomicUsize = AtomicUsize::new(0);
        let (rx, mut tx) = conn.split();
        if REFUSING.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
            REFUSING.fetch_sub(1, Ordering::SeqCst);
            let _ = tx.write_all(&echo::notice(&why));
            return;
        }
        let spawned = thread::Builder::new().name("refuse".into()).spawn(move || {
            farewell(rx, tx, &why);
            REFUSING.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            REFUSING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The first datagram of each peer is logged, for this many peers (UDP has no
/// connections to log; a flood of senders must not grow the set without end).
const UDP_PEERS_LOGGED: usize = 1024;

/// How a client's conversation ended.
enum Ending {
    /// The client closed (or half-closed) its side, and every line was answered.
    Left,
    TooLong(usize),
    Idle(Duration),
    /// The client stopped reading its replies for `--idle-timeout`.
    NotReading(Duration),
    Lost(io::Error),
    /// Ctrl-C: the process is exiting.
    Stopping,
    /// A line began but did not end within `--idle-timeout` (one byte at a time, say).
    SlowLine(Duration),
    /// Sent away, idle, to make room for a new client when the server was full.
    Evicted,
}

/// Sets a client's read timeout for its line reader: `--idle-timeout` and `--pause`.
/// Windows named pipes have none, so there reads block: a message is a line.
fn read_timeout(rx: &RecvHalf, t: Option<Duration>) -> io::Result<()> {
    match rx.set_timeout(t) {
        Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
        other => other,
    }
}

/// Bounds how long a read or a write may wait, for `--idle-timeout`: a client that sends
/// nothing, or stops reading its replies, for that long is disconnected. Windows named pipes
/// have no timeouts: a `local:` client there is served without one.
fn set_idle_timeout(rx: &RecvHalf, tx: &SendHalf, idle: Option<Duration>) -> io::Result<()> {
    let Some(t) = idle else {
        return Ok(()); // reads and writes block for as long as it takes, the default
    };
    match rx
        .set_timeout(Some(t))
        .and_then(|()| tx.set_timeout(Some(t)))
    {
        Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(()),
        other => other,
    }
}

/// Tells a client why it is being disconnected, and makes sure it can read that: a notice
/// line, a half-close, then whatever the client still sends is discarded (for at most
/// [`echo::FAREWELL_DRAIN`]), since closing with unread input would reset the connection
/// and could destroy the notice on its way. Nothing is buffered meanwhile.
fn farewell(mut rx: RecvHalf, mut tx: SendHalf, why: &str) {
    if ipc::say::verbose() {
        ipc::say::trace(">", &String::from_utf8_lossy(&echo::notice(why)));
    }
    let _ = tx.write_all(&echo::notice(why)).and_then(|()| tx.flush());
    let _ = tx.shutdown_write();
    let deadline = Instant::now() + echo::FAREWELL_DRAIN;
    let mut sink = [0u8; 8 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || rx.set_timeout(Some(left)).is_err() {
            return;
        }
        match rx.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
