//! Raw floors for `scripts/bench.sh`: the OS mechanisms the baozi programs use (an anonymous
//! pipe, a local or Unix socket, TCP, UDP), driven with plain reads and writes of the same
//! sizes, no framing and no encoding. What a baozi program costs above these programs is
//! what its own code costs.
//!
//! Std only, Unix only (the bench is a bash script); on other systems the binaries say so.
//! Nothing here is shared with `common` on purpose: a floor must not inherit the code it is
//! the floor of.
//!
//! - `floor-pipe send|recv ADDR`: a byte stream of `--bytes` in `--chunk`-sized writes/reads.
//! - `floor-echo serve|ping ADDR`: a line echo server, and a ping-pong client that prints
//!   min, median, p99 and max, as `client --count` does.
//! - `floor-load ADDR`: many clients at once, each making round trips, against any echo
//!   server (ours, Python's, `floor-echo serve`).
//! - `floor-count`: worker processes taking and giving back file locks (`flock`), one lock or
//!   one of K permits: the floor of `counter run` and `counter semaphore`.

#![cfg(unix)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long a connecting side keeps retrying while nobody listens yet.
pub const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// The first pause between connection attempts; it doubles up to [`RETRY_MAX`]. The same
/// schedule as the baozi programs', so a floor and ours pay the same for a race at start-up.
const RETRY_FIRST: Duration = Duration::from_millis(2);
const RETRY_MAX: Duration = Duration::from_millis(50);

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Where to talk: the address grammar of the baozi programs, the forms the bench needs.
#[derive(Clone, Debug)]
pub enum Addr {
    Stdio,
    /// An abstract Unix socket (Linux), as `local:NAME` is in the baozi programs.
    Local(String),
    Unix(String),
    Tcp(String),
    Udp(String),
}

impl Addr {
    pub fn parse(s: &str) -> Result<Addr> {
        Ok(match s.split_once(':') {
            None if s == "stdio" => Addr::Stdio,
            Some(("local", name)) if !name.is_empty() => Addr::Local(name.to_owned()),
            Some(("unix", path)) if !path.is_empty() => Addr::Unix(path.to_owned()),
            Some(("tcp", hp)) if !hp.is_empty() => Addr::Tcp(hp.to_owned()),
            Some(("udp", hp)) if !hp.is_empty() => Addr::Udp(hp.to_owned()),
            _ => {
                return Err(format!(
                    "bad address {s:?}: stdio, local:NAME, unix:PATH, tcp:HOST:PORT or udp:HOST:PORT"
                )
                .into());
            }
        })
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Stdio => write!(f, "stdio"),
            Addr::Local(n) => write!(f, "local:{n}"),
            Addr::Unix(p) => write!(f, "unix:{p}"),
            Addr::Tcp(hp) => write!(f, "tcp:{hp}"),
            Addr::Udp(hp) => write!(f, "udp:{hp}"),
        }
    }
}

/// A connected byte stream.
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    /// Standard input or output, as a plain file descriptor (no std buffering).
    Fd(File),
}

impl Stream {
    /// Standard input, unbuffered.
    pub fn stdin() -> Result<Stream> {
        Ok(Stream::Fd(widen(File::from(
            io::stdin().as_fd().try_clone_to_owned()?,
        ))))
    }

    /// Standard output, unbuffered (std's stdout is line-buffered).
    pub fn stdout() -> Result<Stream> {
        Ok(Stream::Fd(widen(File::from(
            io::stdout().as_fd().try_clone_to_owned()?,
        ))))
    }

    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Fd(f) => Stream::Fd(f.try_clone()?),
        })
    }

    /// Half-closes the sending side where there is one (sockets).
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Fd(_) => Ok(()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Fd(f) => f.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Fd(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tcp_addr(hp: &str) -> Result<std::net::SocketAddr> {
    hp.to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{hp}: no address").into())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "local:NAME (an abstract socket) needs Linux",
    ))
}

/// A stream listener.
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    /// Binds `addr` and prints `ready: ADDR` on stderr (with the port the system chose).
    pub fn bind(addr: &Addr) -> Result<Listener> {
        let (listener, shown) = match addr {
            Addr::Local(name) => (
                Listener::Unix(UnixListener::bind_addr(&abstract_addr(name)?)?),
                addr.clone(),
            ),
            Addr::Unix(path) => {
                // A socket file left by an earlier run of the bench.
                let _ = std::fs::remove_file(path);
                (Listener::Unix(UnixListener::bind(path)?), addr.clone())
            }
            Addr::Tcp(hp) => {
                let l = TcpListener::bind(tcp_addr(hp)?)?;
                let shown = Addr::Tcp(l.local_addr()?.to_string());
                (Listener::Tcp(l), shown)
            }
            Addr::Stdio | Addr::Udp(_) => {
                return Err(format!("cannot listen for a stream on {addr}").into());
            }
        };
        eprintln!("ready: {shown}");
        Ok(listener)
    }

    pub fn accept(&self) -> io::Result<Stream> {
        Ok(match self {
            Listener::Unix(l) => Stream::Unix(l.accept()?.0),
            Listener::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
        })
    }
}

/// Connects to a stream address, retrying while nobody listens there yet.
pub fn connect(addr: &Addr) -> Result<Stream> {
    let deadline = Instant::now() + CONNECT_WAIT;
    let mut pause = RETRY_FIRST;
    loop {
        let attempt = match addr {
            Addr::Local(name) => abstract_addr(name)
                .and_then(|a| UnixStream::connect_addr(&a))
                .map(Stream::Unix),
            Addr::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
            Addr::Tcp(hp) => TcpStream::connect(tcp_addr(hp)?).and_then(|s| {
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }),
            Addr::Stdio | Addr::Udp(_) => {
                return Err(format!("cannot connect a stream to {addr}").into());
            }
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(format!("connect to {addr}: {e}").into()),
        }
    }
}

/// A UDP socket bound to `hp` (server) or connected to it (client).
pub fn udp(hp: &str, serve: bool) -> Result<UdpSocket> {
    let sa = tcp_addr(hp)?;
    if serve {
        let s = UdpSocket::bind(sa)?;
        eprintln!("ready: udp:{}", s.local_addr()?);
        Ok(s)
    } else {
        let any = if sa.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let s = UdpSocket::bind(any)?;
        s.connect(sa)?;
        Ok(s)
    }
}

/// Command-line arguments: positionals and `--flag VALUE` pairs (`-l` alone).
pub struct Args {
    pub program: &'static str,
    pub positional: Vec<String>,
    pub listen: bool,
    flags: Vec<(String, String)>,
}

impl Args {
    pub fn parse(program: &'static str, usage: &str) -> Result<Args> {
        let mut args = Args {
            program,
            positional: Vec::new(),
            listen: false,
            flags: Vec::new(),
        };
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                println!("{usage}");
                std::process::exit(0);
            } else if a == "-l" || a == "--listen" {
                args.listen = true;
            } else if let Some(name) = a.strip_prefix("--") {
                let value = it
                    .next()
                    .ok_or_else(|| format!("--{name} needs a value\n{usage}"))?;
                args.flags.push((name.to_owned(), value));
            } else {
                args.positional.push(a);
            }
        }
        Ok(args)
    }

    /// The value of `--name`, or `default`.
    pub fn get(&self, name: &str, default: &str) -> String {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or_else(|| default.to_owned(), |(_, v)| v.clone())
    }

    /// The value of `--name` as a number; sizes may end in KiB, MiB or GiB.
    pub fn num(&self, name: &str, default: u64) -> Result<u64> {
        let v = self.get(name, &default.to_string());
        parse_size(&v).ok_or_else(|| format!("--{name}: not a number or size: {v:?}").into())
    }
}

/// `65536`, `64KiB`, `1MiB`, `2GiB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        "" | "B" => 1,
        "KiB" | "K" => 1 << 10,
        "MiB" | "M" => 1 << 20,
        "GiB" | "G" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The latency summary line, in the words and units of `client --count`.
pub fn latency_line(who: &str, addr: &Addr, total: Duration, times: &mut [Duration]) -> String {
    times.sort_unstable();
    let n = times.len();
    if n == 0 {
        return format!("{who}: 0 round trips over {addr}");
    }
    let at = |q: f64| times[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
    format!(
        "{who}: {n} round trips over {addr} in {:.3}s: min {}, median {}, p99 {}, max {}",
        total.as_secs_f64(),
        micros(times[0]),
        micros(at(0.5)),
        micros(at(0.99)),
        micros(times[n - 1]),
    )
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.1}us")
    } else {
        format!("{:.1}ms", us / 1000.0)
    }
}

/// Runs a program's body: an error is one line on stderr and exit code 1.
pub fn main(program: &str, body: impl FnOnce() -> Result<()>) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A pipe's kernel buffer grown to 1 MiB, as the programs grow theirs (ipc's `stdio`), so
/// that the floor is the same mechanism; best effort, as there.
fn widen(f: File) -> File {
    #[cfg(target_os = "linux")]
    if rustix::pipe::fcntl_getpipe_size(&f).is_ok_and(|now| now < 1 << 20) {
        let _ = rustix::pipe::fcntl_setpipe_size(&f, 1 << 20);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1MiB"), Some(1 << 20));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("1xB"), None);
    }

    #[test]
    fn addresses() {
        assert!(matches!(Addr::parse("stdio"), Ok(Addr::Stdio)));
        assert!(matches!(Addr::parse("local:x"), Ok(Addr::Local(n)) if n == "x"));
        assert!(matches!(Addr::parse("tcp:127.0.0.1:0"), Ok(Addr::Tcp(_))));
        assert!(Addr::parse("tcp:").is_err());
        assert!(Addr::parse("pipe").is_err());
    }
}
