//! Serving the echo: a thread per listening address, a thread per client, a thread per
//! `udp:` address. All limits are per line and per client, so memory stays bounded whatever
//! the clients send.

use crate::Cli;
use common::Address;
use common::cli::Result;
use common::echo::{self, LineError, LineReader};
use common::transport::{self, Conn, Listener, RecvHalf, SendHalf};
use common::units::{show_bytes, show_duration};
use std::io::{self, BufWriter, Read, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// On Ctrl-C, how long to wait for replies in flight before exiting anyway.
const FINISH_IN_FLIGHT: Duration = Duration::from_millis(500);
/// Reply buffer of a client; a batch of replies to lines that arrived together goes out in
/// one write.
const OUT_BUF: usize = 16 << 10;
/// Refused clients told why at the same time, each in a thread of its own.
const MAX_REFUSING: usize = 64;
/// Larger than any UDP datagram (65,507 bytes over IPv4, 65,527 over IPv6).
const DATAGRAM_BUF: usize = 64 << 10;

/// Counters for the log and the totals, and the Ctrl-C state.
struct State {
    /// Connections accepted so far, refused ones included: the next client's number.
    accepted: AtomicU64,
    refused: AtomicU64,
    /// Clients connected now.
    connected: AtomicUsize,
    lines: AtomicU64,
    datagrams: AtomicU64,
    /// Batches of replies being written now; Ctrl-C waits for them.
    in_flight: AtomicUsize,
    /// Set by Ctrl-C: accept no more clients, start no new replies.
    stopping: AtomicBool,
}

static STATE: State = State {
    accepted: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    connected: AtomicUsize::new(0),
    lines: AtomicU64::new(0),
    datagrams: AtomicU64::new(0),
    in_flight: AtomicUsize::new(0),
    stopping: AtomicBool::new(false),
};

/// What every thread needs to know.
struct Config {
    prefix: Vec<u8>,
    max_line: usize,
    max_clients: usize,
    idle: Option<Duration>,
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
            _ => Bound::Stream(transport::listen(addr)?),
        });
    }
    let config = Arc::new(Config {
        prefix: cli.prefix.as_bytes().to_vec(),
        max_line: cli.max_line,
        max_clients: cli.max_clients as usize,
        idle: (!cli.idle_timeout.is_zero()).then_some(cli.idle_timeout),
    });
    common::shutdown::on_interrupt(finish_in_flight);

    let mut threads = Vec::new();
    for b in bound {
        let config = Arc::clone(&config);
        let t = match b {
            Bound::Stream(listener) => {
                listener.announce();
                let name = format!("accept {}", listener.address());
                thread::Builder::new()
                    .name(name)
                    .spawn(move || accept_loop(&listener, &config))?
            }
            Bound::Datagram(socket, addr) => {
                transport::announce(&addr);
                thread::Builder::new()
                    .name(format!("answer {addr}"))
                    .spawn(move || datagram_loop(&socket, &addr, &config))?
            }
        };
        threads.push(t);
    }
    // The loops run until Ctrl-C ends the process.
    for t in threads {
        t.join().map_err(|_| "a listening thread panicked")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C's last words: stop accepting, let the replies in flight go out, print totals.
fn finish_in_flight() {
    STATE.stopping.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + FINISH_IN_FLIGHT;
    while STATE.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(2));
    }
    let accepted = STATE.accepted.load(Ordering::Relaxed);
    let refused = STATE.refused.load(Ordering::Relaxed);
    eprintln!(
        "server: totals: clients served {}, refused {refused}, lines answered {}, datagrams answered {}, still connected {}",
        accepted.saturating_sub(refused),
        STATE.lines.load(Ordering::Relaxed),
        STATE.datagrams.load(Ordering::Relaxed),
        STATE.connected.load(Ordering::Relaxed),
    );
    let cut = STATE.in_flight.load(Ordering::SeqCst);
    if cut > 0 {
        eprintln!("server: {cut} clients were not reading their replies; exiting anyway");
    }
}

/// A batch of replies being written. Ctrl-C waits until none is left.
struct InFlight;

impl InFlight {
    /// `None` once Ctrl-C has come: no new replies then.
    fn start() -> Option<InFlight> {
        STATE.in_flight.fetch_add(1, Ordering::SeqCst);
        if STATE.stopping.load(Ordering::SeqCst) {
            STATE.in_flight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(InFlight)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        STATE.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts clients on one address until the process ends.
fn accept_loop(listener: &Listener, config: &Arc<Config>) {
    loop {
        let conn = match listener.accept() {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, say: keep serving the clients we have, retry soon.
                eprintln!(
                    "server: error: cannot accept on {}: {e}",
                    listener.address()
                );
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if STATE.stopping.load(Ordering::SeqCst) {
            continue; // Ctrl-C: no new clients; dropping the connection closes it
        }
        let id = STATE.accepted.fetch_add(1, Ordering::Relaxed) + 1;
        let who = Who::new(id, &conn, listener.address());
        let before = STATE.connected.fetch_add(1, Ordering::SeqCst);
        if before >= config.max_clients {
            STATE.connected.fetch_sub(1, Ordering::SeqCst);
            STATE.refused.fetch_add(1, Ordering::Relaxed);
            let why = format!(
                "busy: the server has its maximum of {0} clients (--max-clients {0}); try again later",
                config.max_clients
            );
            eprintln!("server: {} refused: {why}", who.full());
            refuse(conn, why);
            continue;
        }
        eprintln!(
            "server: {} connected ({} connected)",
            who.full(),
            before + 1
        );
        let config = Arc::clone(config);
        let spawned = thread::Builder::new()
            .name(format!("client {id}"))
            .spawn(move || serve_client(conn, &who, &config));
        if let Err(e) = spawned {
            STATE.connected.fetch_sub(1, Ordering::SeqCst);
            eprintln!("server: error: client {id} dropped: cannot start a thread: {e}");
        }
    }
}

/// Sends a refused client its notice. The farewell takes a thread for up to
/// [`echo::FAREWELL_DRAIN`]; past [`MAX_REFUSING`] at once (a flood of connections), the
/// notice is written at once and the connection dropped.
fn refuse(conn: Conn, why: String) {
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

/// A client, for log lines: its number and where it came from.
struct Who {
    id: u64,
    whence: String,
}

impl Who {
    fn new(id: u64, conn: &Conn, listening: &Address) -> Who {
        // Unix and local sockets have no peer address: name the address it came in on.
        let whence = if conn.peer() == listening.to_string() {
            format!("on {}", conn.peer())
        } else {
            format!("from {}", conn.peer())
        };
        Who { id, whence }
    }

    fn full(&self) -> String {
        format!("client {} {}", self.id, self.whence)
    }
}

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
}

/// Answers one client's lines until it leaves, then logs how it went.
fn serve_client(conn: Conn, who: &Who, config: &Config) {
    let (rx, tx) = conn.split();
    let mut lines = 0u64;
    let ending = match set_idle_timeout(&rx, &tx, config.idle) {
        Ok(()) => {
            let mut reader = LineReader::new(rx, config.max_line);
            let mut out = BufWriter::with_capacity(OUT_BUF, tx);
            let ending = converse(&mut reader, &mut out, config, &mut lines);
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
                _ => {}
            }
            ending
        }
        Err(e) => Ending::Lost(e),
    };
    let left = STATE.connected.fetch_sub(1, Ordering::SeqCst) - 1;
    let said = match ending {
        Ending::Left => format!("left after {}", lines_(lines)),
        Ending::TooLong(limit) => format!(
            "sent a line longer than {} (--max-line); told so and disconnected after {}",
            show_bytes(limit as u64),
            lines_(lines)
        ),
        Ending::Idle(t) => format!(
            "sent nothing for {} (--idle-timeout); told so and disconnected after {}",
            show_duration(t),
            lines_(lines)
        ),
        Ending::NotReading(t) => format!(
            "read no replies for {} (--idle-timeout); disconnected after {}",
            show_duration(t),
            lines_(lines)
        ),
        Ending::Lost(e) => format!("lost after {}: {e}", lines_(lines)),
        Ending::Stopping => return,
    };
    eprintln!(
        "server: client {} {said} ({}; {left} connected)",
        who.id, who.whence
    );
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

/// "1 line", "2 lines".
fn lines_(n: u64) -> String {
    if n == 1 {
        "1 line".into()
    } else {
        format!("{n} lines")
    }
}

/// The conversation: a reply for every line, in batches (replies to lines that arrived
/// together go out in one write).
fn converse(
    reader: &mut LineReader<RecvHalf>,
    out: &mut BufWriter<SendHalf>,
    config: &Config,
    lines: &mut u64,
) -> Ending {
    let mut batch: Option<InFlight> = None;
    loop {
        match reader.next_line() {
            Ok(Some(line)) => {
                if batch.is_none() {
                    batch = InFlight::start();
                    if batch.is_none() {
                        return Ending::Stopping;
                    }
                }
                if let Err(e) = echo::write_reply(out, &config.prefix, line) {
                    return write_failed(e, config);
                }
                *lines += 1;
                STATE.lines.fetch_add(1, Ordering::Relaxed);
                if !reader.has_line() {
                    if let Err(e) = out.flush() {
                        return write_failed(e, config);
                    }
                    batch = None;
                }
            }
            Ok(None) => {
                return match out.flush() {
                    Ok(()) => Ending::Left,
                    Err(e) => write_failed(e, config),
                };
            }
            Err(LineError::TooLong { limit }) => {
                // The replies to the lines before it are still owed.
                let _ = out.flush();
                return Ending::TooLong(limit);
            }
            Err(LineError::TimedOut) => {
                return Ending::Idle(config.idle.unwrap_or_default());
            }
            Err(LineError::Io(e)) => return Ending::Lost(e),
        }
    }
}

/// A reply could not be written: the client stopped reading (the write timed out), or went.
fn write_failed(e: io::Error, config: &Config) -> Ending {
    match config.idle {
        Some(t) if echo::is_timeout(&e) => Ending::NotReading(t),
        _ => Ending::Lost(e),
    }
}

/// Tells a client why it is being disconnected, and makes sure it can read that: a notice
/// line, a half-close, then whatever the client still sends is discarded (for at most
/// [`echo::FAREWELL_DRAIN`]), since closing with unread input would reset the connection
/// and could destroy the notice on its way. Nothing is buffered meanwhile.
fn farewell(mut rx: RecvHalf, mut tx: SendHalf, why: &str) {
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

/// Answers every datagram on one `udp:` address, to its sender, until the process ends.
fn datagram_loop(socket: &UdpSocket, addr: &Address, config: &Config) {
    let mut buf = vec![0u8; DATAGRAM_BUF];
    let mut reply = Vec::with_capacity(DATAGRAM_BUF + config.prefix.len());
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
                eprintln!("server: error: cannot receive on {addr}: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let Some(_answering) = InFlight::start() else {
            continue; // Ctrl-C: no new replies
        };
        reply.clear();
        let datagram = &buf[..n];
        if echo::content(datagram).len() > config.max_line {
            reply.extend_from_slice(&echo::notice(&format!(
                "datagram longer than {} (--max-line)",
                show_bytes(config.max_line as u64)
            )));
        } else {
            reply.extend_from_slice(&config.prefix);
            reply.extend_from_slice(datagram);
        }
        match socket.send_to(&reply, from) {
            Ok(_) => {
                STATE.datagrams.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("server: cannot answer a datagram from {from} on {addr}: {e}"),
        }
    }
}
