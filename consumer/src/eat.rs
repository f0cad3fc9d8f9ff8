//! Eating one item, the same from every route (a producer's stream, a broker's queue, a
//! Redis stream): the `--eat` pause, the tally, the Ctrl-C count, the line on stdout.

use ipc::say::Progress;
use ipc::units::{DurationRange, XorShift};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

/// Items received so far by all routes and threads, for the Ctrl-C message.
pub static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Print output in chunks of about this size when items arrive faster than a terminal.
const OUT_CHUNK: usize = 32 << 10;

/// How this consumer eats and prints, whatever the route: shared by its threads.
pub struct Manner {
    /// This consumer's name, as typed.
    pub name: String,
    /// This consumer's name, coloured for stdout.
    pub who: String,
    /// `-q`: no line per item.
    pub quiet: bool,
    /// The pause that simulates eating each item (`--eat`).
    pub pace: DurationRange,
    /// Test-only: die on receiving the item with this number (`--die-on`).
    pub die_on: Option<u64>,
}

/// What one route (one stream, or the queue) has eaten.
#[derive(Default)]
pub struct Tally {
    pub items: u64,
    pub bytes: u64,
}

/// One route's eating: its lines, its pauses, its tally.
pub struct Eater<'a> {
    manner: &'a Manner,
    out: Printer,
    rng: XorShift,
    pub tally: Tally,
}

impl<'a> Eater<'a> {
    pub fn new(manner: &'a Manner) -> Eater<'a> {
        Eater {
            manner,
            out: Printer::new(!manner.quiet),
            rng: XorShift::seeded(),
            tally: Tally::default(),
        }
    }

    /// This consumer's name, as typed.
    pub fn name(&self) -> &str {
        &self.manner.name
    }

    /// A count on a terminal, unless the item lines go there already.
    pub fn progress(&self) -> Progress {
        if self.out.on && std::io::stdout().is_terminal() {
            Progress::off()
        } else {
            Progress::new(format!("consumer {}", self.manner.name), "items", None)
        }
    }

    /// Test-only `--die-on SEQ`: dies at once, without acknowledging, on that item (a
    /// poison item for a queue).
    pub fn die_if_poison(&mut self, seq: u64, producer: &str) {
        if self.manner.die_on == Some(seq) {
            self.out.flush();
            ipc::elog!(
                "{}: dying on baozi {seq} from {producer} without acknowledging it (--die-on)",
                self.manner.name,
            );
            std::process::exit(3);
        }
    }

    /// Eats item `seq` of `producer`, `bytes` long, handed out for the `attempt`th time (1
    /// the first time; more for a redelivery): the pause, the counts, its line.
    /// `more_at_hand`: more items are already here to eat, so the line may wait for theirs
    /// (up to a chunk).
    pub fn item(
        &mut self,
        seq: u64,
        producer: &str,
        bytes: usize,
        attempt: u32,
        more_at_hand: bool,
    ) {
        if !self.manner.pace.is_zero() {
            std::thread::sleep(self.manner.pace.pick(&mut self.rng));
        }
        self.tally.items += 1;
        self.tally.bytes += bytes as u64;
        RECEIVED.fetch_add(1, Ordering::Relaxed);
        if !self.out.on {
            return;
        }
        let out = &mut self.out.buf;
        let _ = write!(
            out,
            "{} received baozi {seq} from {producer}",
            self.manner.who
        );
        if bytes > 0 {
            let _ = write!(out, " ({bytes} bytes)");
        }
        if attempt > 1 {
            let _ = write!(out, " (redelivered, attempt {attempt})");
        }
        out.push(b'\n');
        if out.len() >= OUT_CHUNK || !more_at_hand {
            self.out.flush();
        }
    }

    /// Whether item `k` of a batch of `n` has more at hand: a queue's lines wait for the
    /// rest of the batch, unless eating is slow enough to show each one as it is eaten.
    pub fn rest_of_batch(&self, k: usize, n: usize) -> bool {
        k + 1 < n && self.manner.pace.is_zero()
    }

    /// Writes the lines so far.
    pub fn flush(&mut self) {
        self.out.flush();
    }
}

/// Lines for stdout, written in whole-line chunks; whatever is left is written on drop,
/// so lines already received are printed even when the stream then fails.
struct Printer {
    buf: Vec<u8>,
    on: bool,
}

impl Printer {
    fn new(on: bool) -> Printer {
        Printer {
            buf: Vec::with_capacity(OUT_CHUNK + 256),
            on,
        }
    }

    /// Writes the buffered lines. If stdout is gone (e.g. `| head`), printing stops and
    /// the consumer goes on receiving quietly, so the producer's stream still completes.
    fn flush(&mut self) {
        if self.on && !self.buf.is_empty() {
            let mut stdout = std::io::stdout().lock();
            self.on = stdout
                .write_all(&self.buf)
                .and_then(|()| stdout.flush())
                .is_ok();
        }
        self.buf.clear();
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.flush();
    }
}
