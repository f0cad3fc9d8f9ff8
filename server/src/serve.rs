//! Serving the echo: stream clients through [`common::serve`] (a thread per listening
//! address and per client), and a thread per `udp:` address. All limits are per line and
//! per client, so memory stays bounded whatever the clients send.

use crate::Cli;
use common::Address;
use common::cli::Result;
use common::echo::{self, LineError, LineReader};
use common::serve::{self, Client, Clients, Service};
use common::shutdown::{InFlight, Stop};
use common::transport::{self, Conn, Listener, RecvHalf, SendHalf};
use common::units::{count, show_bytes, show_duration};
use std::io::{self, BufWriter, Read, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// On Ctrl-C, how long to wait for replies in flight before exiting anyway.
const FINISH_IN_FLIGHT: Duration = Duration::from_millis(500);
/// Reply buffer of a client; a batch of replies to lines that arrived together goes out in
/// one write.
const OUT_BUF: usize = 16 << 10;
/// Refused clients told why at the same time, each in a thread of its own.
const MAX_REFUSING: usize = 64;
/// Larger than any UDP datagram (see [`echo::MAX_DATAGRAM`]).
const DATAGRAM_BUF: usize = 64 << 10;

/// The echo service: its settings, and the counters for the totals. Serving many clients
/// on many addresses is [`common::serve`]'s job; Ctrl-C is handed in as a [`Stop`].
struct Echo {
    prefix: Vec<u8>,
    max_line: usize,
    idle: Option<Duration>,
    lines: AtomicU64,
    datagrams: AtomicU64,
    /// Raised by Ctrl-C: accept no more clients, start no new replies.
    stop: Arc<Stop>,
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
            _ => Bound::Stream(transport::listen(addr, cli.peers.access())?),
        });
    }
    let stop = Arc::new(Stop::new());
    let echo = Arc::new(Echo {
        prefix: cli.prefix.as_bytes().to_vec(),
        max_line: cli.max_line,
        idle: (!cli.idle_timeout.is_zero()).then_some(cli.idle_timeout),
        lines: AtomicU64::new(0),
        datagrams: AtomicU64::new(0),
        stop: Arc::clone(&stop),
    });
    let clients = Arc::new(Clients::new(cli.max_clients as usize));
    {
        let (echo, clients) = (Arc::clone(&echo), Arc::clone(&clients));
        common::shutdown::on_interrupt(move || echo.last_words(&clients));
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
        common::elog!(
            "server: totals: clients served {}, refused {}, lines answered {}, datagrams answered {}, still connected {}",
            clients.served(),
            clients.refused(),
            self.lines.load(Ordering::Relaxed),
            self.datagrams.load(Ordering::Relaxed),
            clients.connected(),
        );
        if cut > 0 {
            common::elog!("server: {cut} clients were not reading their replies; exiting anyway");
        }
    }

    /// Answers one client's lines until it leaves, then logs how it went.
    fn serve_client(&self, conn: Conn, who: &Client<'_>) {
        let (rx, tx) = conn.split();
        let mut lines = 0u64;
        let ending = match set_idle_timeout(&rx, &tx, self.idle) {
            Ok(()) => {
                let mut reader = LineReader::new(rx, self.max_line);
                let mut out = BufWriter::with_capacity(OUT_BUF, tx);
                let ending = self.converse(&mut reader, &mut out, &mut lines);
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
        let left = who.connected().saturating_sub(1);
        let said = match ending {
            Ending::Left => format!("left after {}", count(lines, "line")),
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
            Ending::Lost(e) => format!("lost after {}: {e}", count(lines, "line")),
            Ending::Stopping => return,
        };
        common::elog!(
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
    ) -> Ending {
        let mut batch: Option<InFlight<'_>> = None;
        loop {
            match reader.next_line() {
                Ok(Some(line)) => {
                    if common::say::verbose() {
                        common::say::trace("<", &String::from_utf8_lossy(line));
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
                    *lines += 1;
                    self.lines.fetch_add(1, Ordering::Relaxed);
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
                    return Ending::Idle(self.idle.unwrap_or_default());
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
        let mut buf = vec![0u8; DATAGRAM_BUF];
        let mut reply = Vec::with_capacity(DATAGRAM_BUF + self.prefix.len());
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
                    common::elog!("server: error: cannot receive on {addr}: {e}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let Some(_answering) = self.stop.start() else {
                continue; // Ctrl-C: no new replies
            };
            reply.clear();
            let datagram = &buf[..n];
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
            match socket.send_to(&reply, from) {
                Ok(_) => {
                    self.datagrams.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    common::elog!("server: cannot answer a datagram from {from} on {addr}: {e}");
                }
            }
        }
    }
}

impl Service for Echo {
    fn serve(&self, conn: Conn, client: &Client<'_>) {
        common::elog!(
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
