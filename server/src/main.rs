//! server: the echo server of section 3 of the tutorial, one people can rely on: it answers
//! every line with `test: LINE`, to many clients at once, on several addresses at once, and
//! the tutorial's own client.py too (`hello` with no newline: answered after a pause).
//!
//! Try it, in two terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p server                          # listens on tcp:127.0.0.1:8888
//! Terminal 2:  cargo run -p client                          # type lines; Ctrl-D ends
//! ```
//!
//! Several kinds of address at once, and other tools as clients:
//!
//! ```text
//! Terminal 1:  cargo run -p server -- tcp:127.0.0.1:8888 unix:/tmp/echo.sock udp:127.0.0.1:8888
//! Terminal 2:  cargo run -p client -- --message hello unix:/tmp/echo.sock
//!              printf 'hello\n' | nc -N 127.0.0.1 8888
//!              printf 'hello\n' | socat - UNIX-CONNECT:/tmp/echo.sock
//!              cargo run -p client -- --count 10000 udp:127.0.0.1:8888
//! ```

mod serve;

use clap::Parser;
use common::echo;
use ipc::Address;
use ipc::units::parse_duration;
use std::process::ExitCode;
use std::time::Duration;

/// Echo server: answers every line it receives with `test: LINE`.
///
/// Listens on every ADDRESS at once, serves many clients at once, and answers each line
/// with the prefix and the line exactly as it came (bytes, ending included). Bytes without
/// a newline are answered as they are once the client pauses (--pause) or half-closes, as
/// the tutorial's server answers whatever one recv() returned. On udp: each datagram is
/// answered to its sender. The log (stderr) has a `ready: ADDRESS` line per address, then
/// one line per client connecting and leaving. Ctrl-C stops accepting, finishes the
/// replies in flight, removes socket files, prints totals and exits with 130.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES, allow_negative_numbers = true)]
pub struct Cli {
    /// Where to listen, several at once: tcp:HOST:PORT, udp:HOST:PORT, local:NAME, shm:NAME
    /// or unix:PATH. Port 0 picks a free port (the ready line shows it). Only the host named is
    /// bound: all interfaces only when asked (tcp:0.0.0.0:8888).
    #[arg(default_value = "tcp:127.0.0.1:8888", value_name = "ADDRESS")]
    pub addresses: Vec<Address>,

    /// Text put before every echoed line; --prefix '' makes a plain echo.
    #[arg(long, default_value = echo::DEFAULT_PREFIX, value_name = "TEXT",
          value_parser = echo::parse_prefix)]
    pub prefix: String,

    /// The longest line (not counting its ending) or datagram. A client that sends a longer
    /// one is told so and disconnected, without the server buffering more of it. Sizes
    /// count in powers of 1024: 64KB is 64KiB.
    #[arg(long, default_value = "64KiB", value_name = "SIZE", value_parser = echo::parse_max_line)]
    pub max_line: usize,

    /// A message is a line, or what arrived without a newline before the client paused
    /// this long: the tutorial's client.py sends `hello` with no newline and waits for
    /// `test: hello`. A line sent in pieces slower than this is answered in pieces. 0:
    /// only whole lines (and a last one at a half-close). Not on local: under Windows,
    /// where named pipes have no timeouts: there a message is a line.
    #[arg(long, default_value = "200ms", value_name = "DURATION", value_parser = parse_duration)]
    pub pause: Duration,

    /// At most N clients connected at once (over all stream addresses); the next one is
    /// told the server is busy and disconnected.
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    #[command(flatten)]
    pub peers: common::cli::Peers,

    #[command(flatten)]
    pub verbose: common::cli::Verbose,

    #[command(flatten)]
    pub always_listens: common::cli::AlwaysListens,

    /// Disconnect a client that sends nothing, takes longer than this over one line, or
    /// reads none of its replies, for this long (e.g. 5m, 30s); 0, the default, never does.
    /// (When the server is full, the client idle the longest is sent away anyway.) Not on
    /// local: under Windows, where named pipes have no timeouts.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Duration,
}

const EXAMPLES: &str = "\
Examples:
  server                                         # tcp:127.0.0.1:8888, as in the tutorial
  server tcp:127.0.0.1:0 local:echo udp:127.0.0.1:9000 --prefix ''
  server unix:/tmp/echo.sock --max-clients 10 --idle-timeout 5m
Clients:
  client --message hello                         # one exchange
  printf 'a\\nb\\n' | nc -N 127.0.0.1 8888         # OpenBSD netcat
  socat - UNIX-CONNECT:/tmp/echo.sock            # type lines";

fn main() -> ExitCode {
    common::cli::main("server", || serve::run(&common::cli::parse::<Cli>()))
}
