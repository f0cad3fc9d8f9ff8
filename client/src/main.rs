//! client: the echo client of section 3 of the tutorial: sends lines to the echo server and
//! prints its replies, or measures round trips.
//!
//! Try it, in two terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p server                          # listens on tcp:127.0.0.1:8888
//! Terminal 2:  cargo run -p client                          # type lines; Ctrl-D ends
//! ```
//!
//! One exchange, as in the tutorial, and a latency measurement:
//!
//! ```text
//! Terminal 2:  cargo run -p client -- --message hello       # prints "test: hello"
//! Terminal 2:  cargo run --release -p client -- --count 10000
//! ```

mod talk;

use clap::Parser;
use common::echo;
use ipc::Address;
use ipc::units::parse_duration;
use std::process::ExitCode;
use std::time::Duration;

/// Echo client: sends lines to the echo server and prints the replies.
///
/// Interactive by default: every line of standard input is sent, and its reply printed
/// before the next line goes; at the end of the input it exits 0 once every line has been
/// answered. A server that is absent (after --wait), refuses, or goes away in the middle is
/// reported in one line, with a non-zero exit code.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES, allow_negative_numbers = true)]
pub struct Cli {
    /// Where the server is: tcp:HOST:PORT, udp:HOST:PORT, local:NAME, shm:NAME or unix:PATH
    /// (IPv6 in brackets: tcp:[::1]:8888).
    #[arg(default_value = "tcp:127.0.0.1:8888", value_name = "ADDRESS")]
    pub address: Address,

    /// Send this one line, print the reply and exit, as the tutorial's client does. With
    /// --count: the line every round trip sends (default "baozi").
    #[arg(short, long, value_name = "TEXT", value_parser = parse_message)]
    pub message: Option<String>,

    /// Make N round trips, check every reply, and print the latency of one round trip:
    /// min, median, p99 and max.
    #[arg(short = 'n', long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// How long to keep retrying while nobody listens yet (e.g. 10s, 500ms, 0). Over udp:
    /// also how long to wait for a reply (at least 1s).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Duration,

    /// How long to wait for each reply before giving up (e.g. 10s; 0: for ever). Not on
    /// local: under Windows, where named pipes have no timeouts.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub peers: common::cli::Peers,

    #[command(flatten)]
    pub verbose: common::cli::Verbose,

    /// The longest line to send (a longer input line is an error); replies may be longer
    /// by a prefix. Sizes count in powers of 1024: 64KB is 64KiB.
    #[arg(long, default_value = "64KiB", value_name = "SIZE", value_parser = echo::parse_max_line)]
    pub max_line: usize,
}

/// `--message` value parser: one line, so no newline inside.
fn parse_message(s: &str) -> Result<String, String> {
    if s.contains('\n') {
        return Err("a message is one line; it cannot contain a newline".into());
    }
    Ok(s.to_owned())
}

const EXAMPLES: &str = "\
Examples:
  client                                      # tcp:127.0.0.1:8888: type lines, Ctrl-D ends
  client --message hello                      # prints: test: hello
  printf 'one\\ntwo\\n' | client local:echo     # prints: test: one, test: two
  client --count 10000 unix:/tmp/echo.sock    # latency: min, median, p99, max
  client udp:127.0.0.1:8888 --message ping    # one datagram, one reply";

fn main() -> ExitCode {
    common::cli::main("client", || talk::run(&common::cli::parse::<Cli>()))
}
