//! producer: makes numbered baozi and sends them to a consumer (section 1 of the tutorial).
//!
//! Try it, in two terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p consumer -- -l                 # listens on local:baozi
//! Terminal 2:  cargo run -p producer -- --interval 1s      # 10 baozi, one a second
//! ```
//!
//! Or through an anonymous pipe, set up by the shell or by the producer itself:
//!
//! ```text
//! cargo build && target/debug/producer stdio | target/debug/consumer stdio
//! cargo run -p producer -- --spawn-consumer -- --name kid
//! ```

mod send;

use clap::Parser;
use common::cli::Endpoint;
use common::units::parse_duration;
use std::process::ExitCode;
use std::time::Duration;

/// Makes numbered baozi (steamed buns) and sends them to a consumer.
///
/// The end of the stream is explicit, like the tutorial's closing of the pipe: after the
/// last item the producer sends an end frame with the number of items, so a consumer can
/// tell a finished producer from a dead one.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES)]
struct Cli {
    #[command(flatten)]
    endpoint: Endpoint,

    /// How many baozi to make (numbered from 0).
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    count: u64,

    /// Pause between baozi (e.g. 1s, as in the tutorial). With a pause each item is sent
    /// at once and logged on stderr; without one, items are batched for speed.
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    interval: Duration,

    /// This producer's name, shown by the consumer.
    #[arg(long, default_value = "p1")]
    name: String,

    /// Bytes of filling in each baozi, for bulk runs (e.g. 64KiB; at most 16MiB).
    #[arg(long, default_value = "0", value_name = "BYTES", value_parser = send::parse_payload)]
    payload: usize,

    /// Start a consumer as this process's child and feed it through an anonymous pipe
    /// (the tutorial's parent and child). Arguments after -- go to that consumer.
    #[arg(long, conflicts_with_all = ["address", "listen"])]
    spawn_consumer: bool,

    /// Arguments for the consumer started by --spawn-consumer.
    #[arg(last = true, requires = "spawn_consumer", value_name = "CONSUMER ARGS")]
    consumer_args: Vec<String>,
}

const EXAMPLES: &str = "\
Examples:
  consumer -l & producer                       # over local:baozi (start order does not matter)
  producer stdio | consumer stdio              # over a shell pipe
  producer --spawn-consumer -- --name kid      # parent feeds its own child
  producer -n 1000000 -l tcp:127.0.0.1:9000    # listen; run `consumer tcp:127.0.0.1:9000`";

fn main() -> ExitCode {
    common::cli::main("producer", || send::run(Cli::parse()))
}
