//! Eating one item, the same from every route (a producer's stream, a broker's queue, a
//! Redis stream): the `--eat` pause, the tally, the Ctrl-C count, the line on stdout.

use ipc::say::Progress;
use ipc::shutdown::{InFlight, Stop};
use ipc::units::{DurationRange, XorShift};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// Raised by Ctrl-C (SIGTERM, SIGHUP) for a queue's route: stop eating, say what was
/// eaten, give back the rest; the signal's ending waits for that (at most [`GOODBYE`]).
pub static STOP: LazyLock<Stop> = LazyLock::new(Stop::new);

/// Whether a queue's route runs (then Ctrl-C stops the eating before counting).
static QUEUE_ROUTE: AtomicBool = AtomicBool::new(false);

/// Ctrl-C: a queue's route eats nothing more (it then says goodbye); a stream's goes on
/// until the exit, but shows no more lines (see [`eaten_so_far`]).
pub fn stop_eating() {
    if QUEUE_ROUTE.load(Ordering::SeqCst) {
        STOP.raise();
    }
}

/// How long a signal's ending waits for a queue's route to say goodbye.
const GOODBYE: Duration = Duration::from_secs(3);

/// A queue's consumer aims to hold no more than it eats in about this long: a slow eater
/// asks for one item at a time, so that the others get their share (RabbitMQ's advice).
const HOLD: Duration = Duration::from_millis(100);

/// A queue's route: from now on a signal raises [`STOP`] and waits (bounded) until the
/// returned token is dropped, after the goodbye. `None` if the stop is already raised.
pub fn stop_on_interrupt() -> Option<InFlight<'static>> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        QUEUE_ROUTE.store(true, Ordering::SeqCst);
        ipc::shutdown::on_interrupt(|| {
            STOP.finish_in_flight(GOODBYE);
        });
    });
    STOP.start()
}

/// After a goodbye: the signal's ending exits the process; nothing more to do here.
pub fn wait_for_the_end() -> ! {
    loop {
        std::thread::park();
    }
}

/// How much a queue's consumer asks for: what it eats in [`HOLD`], by how fast it has been
/// eating (1 until it has eaten one).
#[derive(Default)]
pub struct Appetite {
    /// A moving average of the time an item takes, in nanoseconds (integers: this runs
    /// once an item).
    per_item_ns: Option<u64>,
}

impl Appetite {
    /// One item took this long to eat.
    #[inline]
    pub fn ate(&mut self, took: Duration) {
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX / 4);
        self.per_item_ns = Some(match self.per_item_ns {
            None => took,
            Some(avg) => (avg.saturating_mul(3).saturating_add(took)) / 4,
        });
    }

    /// How many to ask for, between 1 and `most`.
    pub fn want(&self, most: u32) -> u32 {
        let Some(per) = self.per_item_ns else {
            return 1;
        };
        let n = HOLD.as_nanos() as f64 / (per as f64).max(100.0);
        (n as u32).clamp(1, most.max(1))
    }
}

/// Print output in chunks of about this size when items arrive faster than a terminal...
const OUT_CHUNK: usize = 32 << 10;
/// ...but never hold a line longer than this, so that output piped or redirected (`| tee`,
/// `> out`) is live: a line is written as its item is eaten, give or take this.
const OUT_LIVE: Duration = Duration::from_millis(50);

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
    /// A queue's lease (`--lease`): what this consumer holds comes back to the queue if it
    /// is silent this long; it renews while eating. `None`: the default.
    pub lease: Option<Duration>,
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
    rng: XorShift,
    pub tally: Tally,
    pub appetite: Appetite,
    counted: Counted,
}

impl<'a> Eater<'a> {
    pub fn new(manner: &'a Manner) -> Eater<'a> {
        Eater {
            manner,
            rng: XorShift::seeded(),
            tally: Tally::default(),
            appetite: Appetite::default(),
            counted: Counted::new(),
        }
    }

    /// This consumer's name, as typed.
    pub fn name(&self) -> &str {
        &self.manner.name
    }

    /// A count on a terminal, only where the item lines cannot go there too: with `-q`,
    /// or stdout a file (a pipe may end on the terminal: `| tee`, and would mix with it).
    pub fn progress(&self) -> Progress {
        let out = std::io::stdout();
        if !self.manner.quiet && (out.is_terminal() || !ipc::say::stdout_is_a_file()) {
            Progress::off()
        } else {
            Progress::new(format!("consumer {}", self.manner.name), "items", None)
        }
    }

    /// Test-only `--die-on SEQ`: dies at once, without acknowledging, on that item (a
    /// poison item for a queue).
    pub fn die_if_poison(&mut self, seq: u64, producer: &str) {
        if self.manner.die_on == Some(seq) {
            shown().flush();
            ipc::elog!(
                "{}: dying on baozi {seq} from {producer} without acknowledging it (--die-on)",
                self.manner.name,
            );
            std::process::exit(3);
        }
    }

    /// Whether each item has its line (not `-q`).
    pub fn shows_lines(&self) -> bool {
        !self.manner.quiet
    }

    /// Eats item `seq` of `producer`, `bytes` long, handed out for the `attempt`th time (1
    /// the first time; more for a redelivery): the pause, the counts, its line.
    /// `more_at_hand`: more items are already here to eat, so the line may wait for theirs
    /// (up to a chunk).
    #[inline]
    pub fn item(
        &mut self,
        seq: u64,
        producer: &str,
        bytes: usize,
        attempt: u32,
        more_at_hand: bool,
    ) {
        if !self.manner.pace.is_zero() {
            let never = Duration::MAX;
            self.queue_item(
                seq,
                producer,
                bytes,
                attempt,
                more_at_hand,
                never,
                &mut || {},
                Instant::now(),
            );
        } else if !STOP.is_raised() {
            // No pause: no clock either (a stream has no appetite to keep).
            self.eaten(seq, producer, bytes, attempt, more_at_hand);
        }
    }

    /// [`Eater::item`] for a queue: calls `renew` every `every` while it eats (so that
    /// what it holds stays leased), and stops at once on [`STOP`], uneaten: `None`. Else
    /// when it was eaten and how long it took, counted from `since` (the end of the item
    /// before, or when this batch came), which the appetite is fed: one clock read an item.
    #[allow(clippy::too_many_arguments)]
    pub fn queue_item(
        &mut self,
        seq: u64,
        producer: &str,
        bytes: usize,
        attempt: u32,
        more_at_hand: bool,
        every: Duration,
        renew: &mut dyn FnMut(),
        since: Instant,
    ) -> Option<(Instant, Duration)> {
        if !self.manner.pace.is_zero() {
            let done = Instant::now() + self.manner.pace.pick(&mut self.rng);
            loop {
                let left = done.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                if STOP.wait(left.min(every)) {
                    return None;
                }
                if Instant::now() < done {
                    renew();
                }
            }
        } else if STOP.is_raised() {
            return None;
        }
        self.eaten(seq, producer, bytes, attempt, more_at_hand);
        let now = Instant::now();
        let took = now.saturating_duration_since(since);
        self.appetite.ate(took);
        Some((now, took))
    }

    /// An item eaten: its counts, and its line.
    #[inline]
    fn eaten(&mut self, seq: u64, producer: &str, bytes: usize, attempt: u32, more_at_hand: bool) {
        self.tally.items += 1;
        self.tally.bytes += bytes as u64;
        if self.manner.quiet {
            // No lines: the count alone, without the lock, nor a locked add.
            self.counted.add_one();
        } else {
            self.line(seq, producer, bytes, attempt, more_at_hand);
        }
    }

    /// The item's line, and its count, under the lines' lock.
    fn line(&self, seq: u64, producer: &str, bytes: usize, attempt: u32, more_at_hand: bool) {
        let mut out = shown();
        EATEN.fetch_add(1, Ordering::Relaxed);
        if out.on {
            if out.buf.is_empty() {
                out.since = Instant::now();
            }
            let buf = &mut out.buf;
            let _ = write!(buf, "{} ate baozi {seq} from {producer}", self.manner.who);
            if bytes > 0 {
                let _ = write!(buf, " ({bytes} bytes)");
            }
            if attempt > 1 {
                let _ = write!(buf, " (redelivered, attempt {attempt})");
            }
            buf.push(b'\n');
            // Fast items at hand are written in chunks; a slow one, or a line held long
            // enough, at once.
            let more_at_hand = more_at_hand && self.manner.pace.is_zero();
            if !more_at_hand || out.buf.len() >= OUT_CHUNK || out.since.elapsed() >= OUT_LIVE {
                out.flush();
            }
        }
    }

    /// Whether item `k` of a batch of `n` has more at hand: a queue's lines wait for the
    /// rest of the batch, unless eating is slow enough to show each one as it is eaten.
    pub fn rest_of_batch(&self, k: usize, n: usize) -> bool {
        k + 1 < n && self.manner.pace.is_zero()
    }

    /// Writes the lines so far.
    pub fn flush(&mut self) {
        shown().flush();
    }
}

/// Writes the lines not yet written: lines already eaten are printed even when a route
/// then fails, before its error.
pub fn flush_lines() {
    shown().flush();
}

/// The lines on stdout, of every route and thread, under one lock: a line is written whole,
/// and the Ctrl-C line ([`eaten_so_far`]) counts exactly the lines shown.
struct Shown {
    buf: Vec<u8>,
    /// Whether stdout is still there to write on.
    on: bool,
    /// When the oldest line in `buf` was made.
    since: Instant,
}

/// Items eaten, by every route and thread: with lines, added under the lines' lock, so that
/// read under it, it counts the lines made; with `-q`, the items of the routes that ended
/// (the others' are in [`COUNTED`]; [`eaten`] sums them).
static EATEN: AtomicU64 = AtomicU64::new(0);

/// With `-q`, the count of each route still eating: one per [`Eater`], written by its own
/// thread alone, a plain store per item where a shared count took a locked add (the dearest
/// step left in eating a small item); folded into [`EATEN`] when its route ends, under this
/// lock, so that [`eaten`] counts each item once.
static COUNTED: Mutex<Vec<Arc<AtomicU64>>> = Mutex::new(Vec::new());

fn counted() -> MutexGuard<'static, Vec<Arc<AtomicU64>>> {
    COUNTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One route's count in [`COUNTED`].
struct Counted(Arc<AtomicU64>);

impl Counted {
    fn new() -> Counted {
        let count = Arc::new(AtomicU64::new(0));
        counted().push(Arc::clone(&count));
        Counted(count)
    }

    /// One more (its route's thread alone writes it: no read-modify-write needed).
    #[inline]
    fn add_one(&self) {
        let n = self.0.load(Ordering::Relaxed);
        self.0.store(n + 1, Ordering::Relaxed);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut all = counted();
        all.retain(|c| !Arc::ptr_eq(c, &self.0));
        EATEN.fetch_add(self.0.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// Items eaten so far, by every route.
fn eaten() -> u64 {
    let all = counted();
    let live: u64 = all.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    EATEN.load(Ordering::Relaxed) + live
}

static SHOWN: LazyLock<Mutex<Shown>> = LazyLock::new(|| {
    Mutex::new(Shown {
        buf: Vec::with_capacity(OUT_CHUNK + 256),
        on: true,
        since: Instant::now(),
    })
});

fn shown() -> MutexGuard<'static, Shown> {
    SHOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// For the Ctrl-C line: writes the lines not yet written, and returns how many items were
/// eaten; no line is written after this. `None` if stdout is stuck (a reader that stopped
/// reading holds the lock).
pub fn eaten_so_far() -> Option<u64> {
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        match SHOWN.try_lock() {
            Ok(mut out) => {
                out.flush();
                // The count is final: no line after it.
                out.on = false;
                return Some(eaten());
            }
            Err(std::sync::TryLockError::Poisoned(_)) => {
                return Some(eaten());
            }
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

impl Shown {
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
