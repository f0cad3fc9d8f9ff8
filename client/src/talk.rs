//! Talking to an echo server: a line goes, its reply comes back, then the next line.
//!
//! One line at a time, on one thread, for every kind of address. That is what a round-trip
//! measurement needs anyway, it never leaves a reply unread at the end of the input, and it
//! is safe on Windows named pipes, where a blocking read on one thread would hold up a
//! write on another.

use crate::Cli;
use common::cli::{Result, say_waiting};
use common::echo::{self, LineError, LineReader};
use ipc::Address;
use ipc::say;
use ipc::transport::{self, RecvHalf, SendHalf, TransportError};
use ipc::units::{Backoff, show_duration};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// What `--count` sends when no `--message` is given.
const DEFAULT_MESSAGE: &str = "baozi";
/// Over udp:, the least time to wait for a reply.
const UDP_PATIENCE: Duration = Duration::from_secs(1);

pub fn run(cli: &Cli) -> Result<ExitCode> {
    let mut peer = open(cli)?;
    let peer = &mut *peer;
    match (cli.count, &cli.message) {
        (Some(n), message) => round_trips(peer, n, message.as_deref().unwrap_or(DEFAULT_MESSAGE)),
        (None, Some(message)) => {
            let line = format!("{message}\n");
            let addr = peer.address().clone();
            let reply = exchange(peer, line.as_bytes())?;
            refused(reply, line.as_bytes())?;
            not_an_echo(reply, line.as_bytes(), &addr)?;
            say::out_bytes(reply)?;
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => interactive(peer, cli),
    }
}

/// The other end: something that answers a line with a reply.
trait Peer {
    /// Sends one line (ending included) and returns the reply. A last line without an
    /// ending is answered only on a half-close, which [`Peer::exchange`] then does.
    fn exchange(&mut self, line: &[u8]) -> Result<&[u8]>;

    /// Whether a line without an ending can be sent as it is (see [`Peer::exchange`]).
    fn takes_unterminated(&self) -> bool;

    fn address(&self) -> &Address;
}

/// A line and its reply, traced with -v (`> "hello\n"`, `< "test: hello\n"`).
fn exchange<'a>(peer: &'a mut dyn Peer, line: &[u8]) -> Result<&'a [u8]> {
    if say::verbose() {
        say::trace(">", &String::from_utf8_lossy(line));
    }
    let reply = peer.exchange(line)?;
    if say::verbose() {
        say::trace("<", &String::from_utf8_lossy(reply));
    }
    Ok(reply)
}

fn open(cli: &Cli) -> Result<Box<dyn Peer>> {
    let addr = &cli.address;
    Ok(match addr {
        Address::Stdio => {
            return Err("stdio is not a server; give the server's address \
                        (tcp:HOST:PORT, udp:HOST:PORT, local:NAME or unix:PATH)"
                .into());
        }
        Address::Udp { .. } => Box::new(DatagramPeer {
            socket: transport::connect_udp(addr)?,
            addr: addr.clone(),
            wait: cli.wait,
            buf: vec![0; echo::DATAGRAM_BUF],
            answered: 0,
        }),
        _ => {
            let (rx, tx) = transport::connect(addr, cli.wait, cli.peers.access(), || {
                say_waiting("client", addr, cli.wait);
            })?
            .split();
            let timeout = (!cli.timeout.is_zero()).then_some(cli.timeout);
            rx.set_timeout(timeout)?;
            Box::new(StreamPeer {
                addr: addr.clone(),
                replies: LineReader::new(rx, cli.max_line + echo::MAX_PREFIX),
                tx,
                sent: 0,
                timeout,
            })
        }
    })
}

/// Fails with the server's reason if `reply` is a notice (the server refused or gave up).
fn refused(reply: &[u8], line: &[u8]) -> Result<()> {
    match echo::notice_in(reply, line) {
        Some(why) => Err(format!("the server says: {why}").into()),
        None => Ok(()),
    }
}

/// Fails if `reply` does not end with the line sent: whatever answered is not an echo
/// server (a baozi-ipc broker or consumer answers with its binary greeting, say).
fn not_an_echo(reply: &[u8], line: &[u8], addr: &Address) -> Result<()> {
    if echo::is_echo_of(reply, line) {
        return Ok(());
    }
    let shown = ipc::units::excerpt(reply, 40);
    let hint = if reply.starts_with(b"BAOZIIPC") {
        " (a baozi-ipc greeting: that is a broker, producer or consumer, not an echo server)"
    } else {
        ""
    };
    Err(format!("{addr} answered \"{shown}\", which is not an echo of the line sent{hint}").into())
}

/// Every line of stdin, each answered before the next goes.
fn interactive(peer: &mut dyn Peer, cli: &Cli) -> Result<ExitCode> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        let end = if cfg!(windows) {
            "Ctrl-Z Enter"
        } else {
            "Ctrl-D"
        };
        ipc::elog!(
            "client: talking to {}; type lines, {end} to end",
            peer.address()
        );
    }
    let mut input = LineReader::new(stdin.lock(), cli.max_line);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut last = b'\n';
    let result = converse(peer, &mut input, &mut out, cli.max_line, &mut last);
    // On a terminal, a last reply without a line ending gets one, so that what comes next
    // (the shell's prompt) starts on its own line; into a pipe, the bytes stay as sent.
    if last != b'\n' && io::stdout().is_terminal() {
        let _ = out.write_all(b"\n");
    }
    // Replies that came are printed even when the conversation then failed.
    let flushed = out.flush();
    result?;
    flushed.map_err(|e| stdout_error(&e))?;
    Ok(ExitCode::SUCCESS)
}

fn converse(
    peer: &mut dyn Peer,
    input: &mut LineReader<io::StdinLock<'_>>,
    out: &mut impl Write,
    max_line: usize,
    last: &mut u8,
) -> Result<()> {
    let mut n = 0u64;
    let mut terminated = Vec::new();
    loop {
        let line = match input.next_line() {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(LineError::TooLong { .. }) => {
                return Err(format!(
                    "line {} of the input is longer than {} (--max-line)",
                    n + 1,
                    ipc::units::show_bytes(max_line as u64)
                )
                .into());
            }
            Err(e) => return Err(format!("cannot read the input: {e}").into()),
        };
        n += 1;
        // Without a half-close, a last line without an ending would never be answered.
        let line = if line.ends_with(b"\n") || peer.takes_unterminated() {
            line
        } else {
            terminated.clear();
            terminated.extend_from_slice(line);
            terminated.push(b'\n');
            &terminated
        };
        let reply = exchange(peer, line)?;
        refused(reply, line)?;
        out.write_all(reply).map_err(|e| stdout_error(&e))?;
        if let Some(&b) = reply.last() {
            *last = b;
        }
        if !input.has_line() {
            out.flush().map_err(|e| stdout_error(&e))?;
        }
    }
}

/// A failed write to stdout: its reader gone is the quiet end ([`say::StdoutClosed`]).
fn stdout_error(e: &io::Error) -> common::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Box::new(say::StdoutClosed)
    } else {
        format!("cannot write to stdout: {e}").into()
    }
}

/// `--count N`: N round trips of one line, every reply checked, then the latency summary.
fn round_trips(peer: &mut dyn Peer, n: u64, message: &str) -> Result<ExitCode> {
    let line = format!("{message}\n").into_bytes();
    let addr = peer.address().clone();
    let mut times = Vec::with_capacity(usize::try_from(n).unwrap_or(usize::MAX).min(1 << 24));
    let started = Instant::now();
    let mut progress = say::Progress::new(format!("client {addr}"), "round trips", Some(n));
    for i in 1..=n {
        progress.tick(i - 1);
        let t = Instant::now();
        let reply = exchange(peer, &line)?;
        times.push(t.elapsed());
        if !echo::is_echo_of(reply, &line) {
            refused(reply, &line)?;
            return Err(format!(
                "reply {i} from {addr} does not echo the message: \"{}\"",
                ipc::units::excerpt(reply, 80)
            )
            .into());
        }
    }
    let total = started.elapsed();
    progress.clear();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
    say::out_line(&format!(
        "client: {n} round trips over {addr} in {:.3}s: min {}, median {}, p99 {}, max {}",
        total.as_secs_f64(),
        micros(times[0]),
        micros(at(0.5)),
        micros(at(0.99)),
        micros(times[times.len() - 1]),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// A latency in microseconds (`58.3us`), or milliseconds when long.
fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.1}us")
    } else {
        format!("{:.1}ms", us / 1000.0)
    }
}

/// A stream server: tcp:, unix:, local:.
struct StreamPeer {
    addr: Address,
    replies: LineReader<RecvHalf>,
    tx: SendHalf,
    sent: u64,
    /// `--timeout` for each reply, where the transport has read timeouts.
    timeout: Option<Duration>,
}

impl Peer for StreamPeer {
    fn exchange(&mut self, line: &[u8]) -> Result<&[u8]> {
        self.sent += 1;
        let n = self.sent;
        let addr = &self.addr;
        let mut sent = self.tx.write_all(line);
        if sent.is_ok() && !line.ends_with(b"\n") {
            sent = self.tx.shutdown_write();
        }
        if let Err(e) = sent {
            return Err(format!(
                "the connection to {addr} broke while sending line {n}: {} (did the server stop?)",
                say::io_words(&e)
            )
            .into());
        }
        match self.replies.next_line() {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(format!(
                "{addr} closed the connection without answering line {n} (did the server stop?)"
            )
            .into()),
            Err(LineError::Io(e)) => Err(format!(
                "lost the connection to {addr} waiting for the reply to line {n}: {} (did the server stop?)",
                say::io_words(&e)
            )
            .into()),
            Err(LineError::TimedOut) => Err(format!(
                "no reply from {addr} to line {n} within {} (--timeout; is it an echo server?)",
                show_duration(self.timeout.unwrap_or_default())
            )
            .into()),
            Err(e) => Err(format!("the reply to line {n} from {addr}: {e}").into()),
        }
    }

    fn takes_unterminated(&self) -> bool {
        self.tx.has_half_close()
    }

    fn address(&self) -> &Address {
        &self.addr
    }
}

/// A udp: server: a datagram per line, a datagram back.
struct DatagramPeer {
    socket: UdpSocket,
    addr: Address,
    wait: Duration,
    buf: Vec<u8>,
    answered: u64,
}

/// A datagram came back as "nobody listens on that port" (Windows says "reset").
fn is_refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
    )
}

impl Peer for DatagramPeer {
    /// Until the first reply, a refused datagram is sent again (the server may not be up
    /// yet) until --wait runs out. Only a refused one: a datagram that may have arrived is
    /// never sent twice, so no reply can come twice.
    fn exchange(&mut self, line: &[u8]) -> Result<&[u8]> {
        let patience = self.wait.max(UDP_PATIENCE);
        let started = Instant::now();
        let mut backoff = Backoff::default();
        let mut said_waiting = false;
        loop {
            let left = patience
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1));
            let got = self
                .socket
                .send(line)
                .and_then(|_| self.socket.set_read_timeout(Some(left)))
                .and_then(|()| self.socket.recv(&mut self.buf));
            let addr = &self.addr;
            match got {
                Ok(n) => {
                    self.answered += 1;
                    return Ok(&self.buf[..n]);
                }
                Err(e) if is_refused(&e) && self.answered == 0 => {
                    if started.elapsed() >= self.wait {
                        return Err(TransportError::NothingThere {
                            addr: addr.clone(),
                            waited: self.wait,
                        }
                        .into());
                    }
                    if !said_waiting {
                        say_waiting("client", addr, self.wait);
                        said_waiting = true;
                    }
                    backoff.pause(self.wait);
                }
                Err(e) if is_refused(&e) => {
                    return Err(format!(
                        "nothing listens at {addr} any more, after {} replies (did the server stop?)",
                        self.answered
                    )
                    .into());
                }
                Err(e) if echo::is_timeout(&e) => {
                    return Err(format!(
                        "no reply from {addr} within {} (a datagram may be lost; is the server running?)",
                        show_duration(patience)
                    )
                    .into());
                }
                Err(e) => return Err(format!("cannot talk to {addr}: {e}").into()),
            }
        }
    }

    fn takes_unterminated(&self) -> bool {
        true // a datagram ends where it ends
    }

    fn address(&self) -> &Address {
        &self.addr
    }
}
