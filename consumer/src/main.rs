//! consumer: receives baozi from producers and prints each one (section 1 of the tutorial).
//!
//! Try it, in two terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p consumer -- -l                 # listens on local:baozi
//! Terminal 2:  cargo run -p producer -- --interval 1s      # 10 baozi, one a second
//! ```
//!
//! Several producers into one consumer:
//!
//! ```text
//! Terminal 1:  cargo run -p consumer -- -l --producers 2
//! Terminal 2:  cargo run -p producer -- --name p1
//! Terminal 3:  cargo run -p producer -- --name p2
//! ```

mod broker;
mod eat;
mod pipe;
mod receive;
mod redis;

use clap::Parser;
use common::cli::Endpoint;
use ipc::units::{DurationRange, parse_duration_range};
use std::process::ExitCode;
use std::time::Duration;

/// Receives baozi (steamed buns) from producers, or from a broker's queue, and prints one
/// line for each.
///
/// From a broker (see `broker --help`), each item is acknowledged after it is eaten, and
/// the consumer ends when the broker says the run is over. From a producer, a stream ends well only with the producer's end frame, whose count must match what
/// arrived; a stream that stops without one (a killed producer) is reported with the
/// number of items that did arrive, and the exit code is non-zero. A summary (items,
/// bytes, seconds, items/s) goes to stderr.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES, allow_negative_numbers = true)]
struct Cli {
    #[command(flatten)]
    endpoint: Endpoint,

    /// This consumer's name, at the start of every line it prints. By default c and the
    /// process id (c4242), so that several consumers differ.
    #[arg(long, default_value_t = common::msg::default_name("c"), hide_default_value = true,
          value_parser = common::msg::parse_name)]
    name: String,

    /// With -l: keep listening after a producer ends, for the next ones (one after another
    /// or several at once), until Ctrl-C; like `nc -k`.
    #[arg(short, long, requires = "listen", conflicts_with_all = ["producers", "expect"])]
    keep_listening: bool,

    /// Print no line per item, only the summary.
    #[arg(short, long)]
    quiet: bool,

    /// Exit non-zero unless exactly N items arrived (from all producers together).
    #[arg(long, value_name = "N")]
    expect: Option<u64>,

    /// Pause after receiving each item, to simulate eating it: one duration (1s) or a
    /// random one in a range (1s..3s, as the tutorial's queue section).
    #[arg(long, default_value = "0", value_name = "RANGE", value_parser = parse_duration_range)]
    eat: DurationRange,

    /// From a broker's queue: at most N items leased to this consumer at once (handed
    /// out, not yet acknowledged). Small keeps the work spread over consumers; larger
    /// moves more per round trip.
    #[arg(long, default_value_t = 256, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    prefetch: u32,

    /// Test-only: die at once, without acknowledging, on receiving baozi SEQ (a poison
    /// item: the broker gives it to the next consumer until --max-deliveries).
    #[arg(long, hide = true, value_name = "SEQ")]
    die_on: Option<u64>,

    /// How many producers the run has; it means one of two things, by the address:
    /// with -l, accept N producers at once, and finish after all N have ended (1); with a
    /// redis:// address, the run on the queue is over once N producers have ended there
    /// and every item is eaten or dead, whoever ate it: the first consumer sets N for the
    /// queue (1), the others must agree. Not for a broker's queue: there the broker's own
    /// --producers says it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    producers: Option<u32>,

    /// From a queue (a broker's or a redis:// address): an item held this long without
    /// being acknowledged or renewed belongs to a consumer that died or froze, and another
    /// consumer takes it over (a redelivery). A live consumer renews what it holds while it
    /// eats. By default 30s; at least 1ms
    /// (0 would hand every item to the next consumer that asks).
    #[arg(long, value_name = "DURATION", value_parser = parse_lease)]
    lease: Option<Duration>,

    /// Only with a redis:// address: an item handed out N times without an
    /// acknowledgement is moved to the dead letters (the stream QUEUE:dead) and reported.
    /// By default 5. (A broker's queue has its own: broker --max-deliveries.)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_deliveries: Option<u32>,
}

/// `--lease`: a duration of at least 1 ms. Redis counts idle time in milliseconds, and an
/// entry is idle longer than 0 at once, so a lease of 0 would make live consumers take each
/// other's entries (every one eaten twice); there is no "no expiry": a long lease is that.
fn parse_lease(s: &str) -> Result<Duration, String> {
    let d =
        ipc::units::parse_duration(s).map_err(|e| e.replace("; use 0 where it means none", ""))?;
    if d < Duration::from_millis(1) {
        return Err(format!(
            "a lease of {s} would hand every entry held by a live consumer to the next one \
             that asks; give at least 1ms (30s by default; a long one, 24h, for almost no \
             redelivery)"
        ));
    }
    Ok(d)
}

/// `--lease` when not given.
const LEASE: Duration = Duration::from_secs(30);
/// `--max-deliveries` when not given.
const MAX_DELIVERIES: u32 = 5;

const EXAMPLES: &str = "\
Examples:
  consumer -l & producer                       # over local:baozi (start order does not matter)
  producer stdio | consumer stdio              # over a shell pipe
  consumer -l tcp:127.0.0.1:9000 --producers 3 -q --expect 30
  consumer -l -k                               # serve producers one after another, until Ctrl-C
  consumer local:baozi-queue --eat 1s..3s      # from a broker's queue, the tutorial's pace
  consumer redis://127.0.0.1:6379/baozi --producers 2 --name c1   # from a Redis stream";

fn main() -> ExitCode {
    let cli = common::cli::parse::<Cli>();
    let redis = matches!(cli.endpoint.address, ipc::Address::Redis { .. });
    if cli.producers.is_some() && !cli.endpoint.listen && !redis {
        usage_error(
            clap::error::ErrorKind::MissingRequiredArgument,
            "--producers needs -l (producers connect to this consumer) or a redis:// address",
        );
    }
    if !redis && cli.max_deliveries.is_some() {
        usage_error(
            clap::error::ErrorKind::ArgumentConflict,
            &format!(
                "--max-deliveries needs a redis:// address (redis://HOST:PORT/QUEUE), not {}",
                cli.endpoint.address
            ),
        );
    }
    // A lease is a queue's (a broker's or Redis's): a listener or a pipe meets producers.
    if cli.lease.is_some() && (cli.endpoint.listen || cli.endpoint.address == ipc::Address::Stdio) {
        usage_error(
            clap::error::ErrorKind::ArgumentConflict,
            "--lease is for a queue: a broker's address or redis://HOST:PORT/QUEUE, without -l",
        );
    }
    common::cli::main("consumer", || receive::run(&cli))
}

/// A command line that asks for something its address cannot do: clap's usage error, exit 2.
fn usage_error(kind: clap::error::ErrorKind, message: &str) -> ! {
    use clap::CommandFactory;
    Cli::command().error(kind, message).exit()
}
