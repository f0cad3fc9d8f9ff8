//! producer: makes numbered baozi and sends them to a consumer (section 1 of the tutorial).
//!
//! Try it, in two terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p consumer -- -l                 # listens on local:baozi
//! Terminal 2:  cargo run -p producer -- --interval 1s      # 10 baozi, one a second
//! ```
//!
//! Into the queue (section 2): a broker that many producers and consumers share:
//!
//! ```text
//! Terminal 1:  cargo run -p broker -- --producers 2
//! Terminal 2:  cargo run -p consumer -- local:baozi-queue
//! Terminal 3:  cargo run -p producer -- local:baozi-queue --delay 1s..3s
//! Terminal 4:  cargo run -p producer -- local:baozi-queue --delay 1s..3s --name p2
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
use ipc::units::{DurationRange, parse_duration_range};
use std::process::ExitCode;

/// Makes numbered baozi (steamed buns) and sends them to a consumer, or into a broker's queue.
///
/// The end of the stream is explicit, like the tutorial's closing of the pipe or its `None`
/// on a queue: after the last item the producer sends an end frame with the number of
/// items, so a consumer (or the broker) can tell a finished producer from a dead one. On
/// two-way transports the peer answers with a receipt, so the producer knows every item was
/// taken in.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES, allow_negative_numbers = true)]
struct Cli {
    #[command(flatten)]
    endpoint: Endpoint,

    /// How many baozi to make (numbered from 0).
    #[arg(short = 'n', long, default_value_t = 10, value_name = "N")]
    count: u64,

    /// Pause before each baozi: one duration (1s) or a random one in a range (1s..3s, as
    /// the tutorial's queue section). A bare number is seconds. With a pause each item is
    /// sent at once and logged on stderr; without one, items are batched for speed.
    #[arg(long, visible_alias = "interval", default_value = "0", value_name = "RANGE",
          value_parser = parse_duration_range)]
    delay: DurationRange,

    /// This producer's name, shown by the consumer. By default p and the process id
    /// (p4242), so that several producers differ.
    #[arg(long, default_value_t = common::msg::default_name("p"), hide_default_value = true,
          value_parser = common::msg::parse_name)]
    name: String,

    /// Bytes of filling in each baozi, for bulk runs (e.g. 64KiB; at most 16MiB). Sizes
    /// count in powers of 1024: 1KB and 1K are 1KiB, 1MB is 1MiB (1,048,576 bytes).
    #[arg(long, default_value = "0", value_name = "BYTES", value_parser = send::parse_payload)]
    payload: usize,

    /// With a redis:// address: wait while the stream holds N entries or more
    /// (back-pressure; nothing is trimmed away unread).
    #[arg(long, default_value_t = 10_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    capacity: u64,

    /// Start a consumer as this process's child and feed it through an anonymous pipe
    /// (the tutorial's parent and child). Arguments after -- go to that consumer. The
    /// consumer program is looked for next to this producer, then on PATH.
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
  producer local:baozi-queue --delay 1s..3s    # into a broker's queue, the tutorial's pace
  producer -n 1000000 -l tcp:127.0.0.1:9000    # listen; run `consumer tcp:127.0.0.1:9000`
  producer redis://127.0.0.1:6379/baozi        # into a queue kept by a Redis server (a stream)";

fn main() -> ExitCode {
    common::cli::main("producer", || send::run(common::cli::parse::<Cli>()))
}
