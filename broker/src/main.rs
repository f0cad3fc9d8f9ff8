//! broker: the queue of section 2 of the tutorial, as a process of its own. Python's
//! `multiprocessing.Queue` joins only processes that one parent started; here producers and
//! consumers are unrelated programs in separate terminals, so the queue needs a home.
//!
//! Try it, in four terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p broker -- --producers 2           # listens on local:baozi-queue
//! Terminal 2:  cargo run -p consumer -- local:baozi-queue --eat 1s..3s
//! Terminal 3:  cargo run -p producer -- local:baozi-queue --delay 1s..3s --name p1
//! Terminal 4:  cargo run -p producer -- local:baozi-queue --delay 1s..3s --name p2
//! ```
//!
//! Live numbers from a fifth: `cargo run -p broker -- --status`.

mod consumers;
mod producers;
mod queue;
mod report;
mod serve;
mod status;
mod timeline;

use clap::Parser;
use ipc::Address;
use ipc::units::parse_duration;
use std::process::ExitCode;
use std::time::Duration;

/// The queue's home: producers put baozi in, consumers take them out, each eaten once.
///
/// Every item goes to one consumer at a time and is leased until that consumer
/// acknowledges it, after eating it. A consumer that goes away (even by kill -9) with
/// items unacknowledged gives them back: they go to the front of the queue, to another
/// consumer, marked as redeliveries. An item handed out --max-deliveries times without an
/// acknowledgement is set aside as dead and reported. Items live in the broker's memory
/// only: if the broker dies, they are gone (its producers and consumers say so and fail).
///
/// With --producers N the run ends like the tutorial's `None`: once N producers have
/// ended and every item is acknowledged (or dead), every consumer is told, and the broker
/// prints its totals and exits (0, or 1 if an item died or a producer was cut short).
/// Without it the broker serves until Ctrl-C.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES, allow_negative_numbers = true)]
pub struct Cli {
    /// Where to listen, several at once: local:NAME, shm:NAME, unix:PATH or tcp:HOST:PORT (port 0
    /// picks a free one; the ready line shows it). With --status: the broker to ask.
    #[arg(default_value = "local:baozi-queue", value_name = "ADDRESS")]
    pub addresses: Vec<Address>,

    /// Expect N producers: once all N have ended and every item is acknowledged or dead,
    /// tell every consumer, print the totals and exit. 0: serve until Ctrl-C.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub producers: u64,

    /// At most N items waiting in the queue; a producer that finds it full waits
    /// (back-pressure), so the broker's memory stays bounded.
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub capacity: u64,

    /// Set an item aside as dead once it has been handed out N times without an
    /// acknowledgement (each time, its consumer went away before acknowledging it).
    #[arg(long, default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_deliveries: u32,

    /// At most N producers, consumers and observers connected at once; the next is
    /// turned away.
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Print one line per producer and consumer joining and leaving (on by default; -q
    /// keeps only the ready line, problems and the totals).
    #[arg(short, long)]
    pub quiet: bool,

    #[command(flatten)]
    pub peers: common::cli::Peers,

    #[command(flatten)]
    pub verbose: common::cli::Verbose,

    #[command(flatten)]
    pub always_listens: common::cli::AlwaysListens,

    /// Draw the run into FILE.svg when it ends (or on Ctrl-C): which consumer held and ate
    /// which baozi and when, redeliveries ringed red, consumers that went away marked.
    /// Open it in a browser. Keeps the first 10,000 deliveries.
    #[arg(long, value_name = "FILE.svg", conflicts_with = "status")]
    pub timeline: Option<std::path::PathBuf>,

    /// Ask the broker at ADDRESS for its live numbers (queued, leased, acknowledged,
    /// redelivered, dead, producers, consumers), print them, and exit.
    #[arg(long)]
    pub status: bool,

    /// With --status: how long to keep retrying while no broker listens yet (without it,
    /// the status answers at once: no broker there is said at once).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "status")]
    pub wait: Option<Duration>,
}

const EXAMPLES: &str = "\
Examples:
  broker --producers 2                           # local:baozi-queue; ends after 2 producers
  broker tcp:127.0.0.1:7000 --capacity 100       # until Ctrl-C; producers wait when 100 queue
  broker --status                                # live numbers of the broker on local:baozi-queue
  broker --producers 2 --timeline run.svg        # and a picture of who ate which baozi
Its clients:
  producer local:baozi-queue --delay 1s..3s      # puts 10 baozi, then its end
  consumer local:baozi-queue --eat 1s..3s        # eats until the broker says the run is over";

fn main() -> ExitCode {
    common::cli::main("broker", || serve::run(&common::cli::parse::<Cli>()))
}
