//! Receiving producers' streams of baozi (the pipe): one per connection, several at once
//! with `--producers`.

use crate::Cli;
use common::Address;
use common::cli::{Result, accept_session, say_closing};
use common::msg::stream::Frame;
use common::style::Paint;
use common::transport;
use common::units::{XorShift, show_bytes};
use common::wire::{Role, Session, WireError};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Items received so far by all streams, for the Ctrl-C message.
pub static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Print output in chunks of about this size when items arrive faster than a terminal.
pub const OUT_CHUNK: usize = 32 << 10;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    if cli.endpoint.address == Address::Stdio && std::io::stdin().is_terminal() {
        return Err(
            "stdin is a terminal, not a baozi stream; pipe a producer in \
                    (`producer stdio | consumer stdio`) or listen with -l"
                .into(),
        );
    }
    let name = cli.name.clone();
    common::shutdown::on_interrupt(move || {
        common::elog!(
            "{name}: interrupted after {}",
            common::units::count(RECEIVED.load(Ordering::Relaxed), "item")
        );
    });
    let show = Show {
        name: cli.name.clone(),
        who: Paint::stdout().role(Role::Consumer, &cli.name),
        quiet: cli.quiet,
        eat: cli.eat,
        prefetch: cli.prefetch,
        die_on: cli.die_on,
    };

    if cli.keep_listening {
        return keep_listening(cli, &show);
    }
    let producers = cli.producers.unwrap_or(1);
    let (started, results) = if let Address::Redis { .. } = cli.endpoint.address {
        (Instant::now(), vec![crate::redis::eat(cli, &show)])
    } else if producers > 1 {
        let listener = listen(cli)?;
        listener.announce();
        let first = accept_session(&listener, &cli.name, Role::Consumer, &[Role::Producer])?;
        let started = Instant::now();
        let results = std::thread::scope(|s| {
            let show = &show;
            let mut workers = vec![s.spawn(move || eat(first, show))];
            for _ in 1..producers {
                match accept_session(&listener, &cli.name, Role::Consumer, &[Role::Producer]) {
                    Ok(session) => workers.push(s.spawn(move || eat(session, show))),
                    Err(e) => workers.push(s.spawn(move || (Tally::default(), Err(e)))),
                }
            }
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| {
                        (Tally::default(), Err("a receiving thread panicked".into()))
                    })
                })
                .collect::<Vec<_>>()
        });
        (started, results)
    } else {
        // Listening, only producers come; connecting, we may reach a producer or a broker.
        let accept: &[Role] = if cli.endpoint.listen {
            &[Role::Producer]
        } else {
            &[Role::Producer, Role::Broker]
        };
        let session = cli
            .endpoint
            .open_session(&cli.name, Role::Consumer, accept)?;
        let started = Instant::now();
        (started, vec![eat(session, &show)])
    };

    let mut total = Tally::default();
    let mut failed = 0;
    for (tally, result) in results {
        total.items += tally.items;
        total.bytes += tally.bytes;
        if let Err(e) = result {
            common::cli::print_error("consumer", &*e);
            failed += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let rate = (total.items as f64 / secs).round();
    let mut line = format!(
        "{}: {} in {secs:.3}s ({rate:.0} item{}/s",
        Paint::stderr().role(Role::Consumer, &cli.name),
        common::units::count(total.items, "item"),
        if rate == 1.0 { "" } else { "s" },
    );
    if total.bytes > 0 {
        line += &format!(
            "; {} of payload, {}/s",
            show_bytes(total.bytes),
            show_bytes((total.bytes as f64 / secs) as u64)
        );
    }
    common::elog!("{line})");
    if let Some(expect) = cli.expect
        && expect != total.items
    {
        common::elog!(
            "consumer: error: expected {}, {} arrived",
            common::units::count(expect, "item"),
            total.items
        );
        failed += 1;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How to eat and print items.
pub struct Show {
    /// This consumer's name, as typed.
    pub name: String,
    /// This consumer's name, coloured for stdout.
    pub who: String,
    pub quiet: bool,
    /// The pause that simulates eating each item (`--eat`).
    pub eat: common::units::DurationRange,
    /// The queue: at most this many items leased at once (`--prefetch`).
    pub prefetch: u32,
    /// Test-only: die on receiving the item with this number (`--die-on`).
    pub die_on: Option<u64>,
}

#[derive(Default)]
pub struct Tally {
    pub items: u64,
    pub bytes: u64,
}

/// Listens where `-l` says, waiting out a TCP port in TIME-WAIT.
fn listen(cli: &Cli) -> Result<transport::Listener> {
    let (addr, access) = (&cli.endpoint.address, cli.endpoint.peers.access());
    let on_wait = || say_closing(&cli.name, addr);
    Ok(transport::listen(addr, access, on_wait)?)
}

/// `-l -k`: serves producers, one after another or several at once, each on its own thread,
/// until Ctrl-C (like `nc -k`). Each stream's end or failure is one line; only the listener
/// failing ends the run.
fn keep_listening(cli: &Cli, show: &Show) -> Result<ExitCode> {
    let listener = listen(cli)?;
    listener.announce();
    let who = Paint::stderr().role(Role::Consumer, &cli.name);
    std::thread::scope(|s| {
        loop {
            let session = accept_session(&listener, &cli.name, Role::Consumer, &[Role::Producer])?;
            let peer = session.addr.clone();
            let who = &who;
            s.spawn(move || match eat(session, show) {
                (tally, Ok(())) => common::elog!(
                    "{who}: {} from {peer}; listening for the next producer",
                    common::units::count(tally.items, "item")
                ),
                (_, Err(e)) => common::cli::print_error("consumer", &*e),
            });
        }
    })
}

/// Receives one whole stream. Returns what arrived even when the stream failed.
/// One whole conversation, after the handshake: the pipe (a producer's stream) or the
/// queue (a broker). Returns what arrived even when it failed.
fn eat(session: Session, show: &Show) -> (Tally, Result<()>) {
    let peer = session.addr.clone();
    let mut tally = Tally::default();
    let result = if session.peer == Role::Broker {
        crate::queue::take_from(session, show, &mut tally)
    } else {
        stream_from(session, show, &mut tally)
    };
    (tally, result.map_err(|e| format!("{peer}: {e}").into()))
}

/// The pipe: one producer's stream, after the handshake.
pub fn stream_from(session: Session, show: &Show, tally: &mut Tally) -> Result<()> {
    let Session {
        two_way,
        mut rx,
        mut tx,
        ..
    } = session;
    let cut = |n: u64, e: WireError| format!("{e} after {}", common::units::count(n, "item"));
    let producer = match rx.next_frame::<Frame>().map_err(|e| cut(0, e))? {
        Some(Frame::Hello { name, .. }) => {
            common::msg::check_name(&name)
                .map_err(|e| format!("the producer's name is refused: {e}"))?;
            name
        }
        Some(other) => {
            return Err(format!(
                "the producer began with a {} frame instead of its name",
                other.kind()
            )
            .into());
        }
        None => return Err("the stream ended before the producer said its name".into()),
    };
    let mut out = Printer::new(!show.quiet);
    let mut rng = XorShift::seeded();
    // A count on a terminal, unless the item lines go there already.
    let mut progress = if out.on && std::io::stdout().is_terminal() {
        common::say::Progress::off()
    } else {
        common::say::Progress::new(format!("consumer {}", show.name), "items", None)
    };
    loop {
        progress.tick(tally.items);
        let frame = rx.next_frame::<Frame>().map_err(|e| cut(tally.items, e))?;
        match frame {
            Some(Frame::Baozi { seq, payload }) => {
                if seq != tally.items {
                    return Err(format!(
                        "baozi {seq} from {producer} arrived where {} was expected (lost or reordered)",
                        tally.items
                    )
                    .into());
                }
                if !show.eat.is_zero() {
                    std::thread::sleep(show.eat.pick(&mut rng));
                }
                tally.items += 1;
                tally.bytes += payload.len() as u64;
                RECEIVED.fetch_add(1, Ordering::Relaxed);
                if out.on {
                    let _ = write!(out.buf, "{} received baozi {seq} from {producer}", show.who);
                    if !payload.is_empty() {
                        let _ = write!(out.buf, " ({} bytes)", payload.len());
                    }
                    out.buf.push(b'\n');
                    if out.buf.len() >= OUT_CHUNK || !rx.has_buffered() {
                        out.flush();
                    }
                }
            }
            Some(Frame::End { count }) => {
                out.flush();
                if count != tally.items {
                    return Err(format!(
                        "the producer's end frame says {} {} sent, but {} arrived",
                        common::units::count(count, "item"),
                        if count == 1 { "was" } else { "were" },
                        tally.items
                    )
                    .into());
                }
                if two_way {
                    // The producer waits for this receipt; if it has gone, so be it.
                    let _ = tx
                        .send(&Frame::Receipt {
                            received: tally.items,
                        })
                        .and_then(|()| tx.flush());
                }
                return Ok(());
            }
            Some(other) => {
                return Err(format!(
                    "the producer sent a {} frame in the middle of its stream",
                    other.kind()
                )
                .into());
            }
            None => {
                // The same for Ctrl-C as for kill -9: the producer's signal handler exits
                // without writing (a frame from it could cut one being sent in two).
                return Err(format!(
                    "the stream ended after {} without an end frame: the producer stopped \
                     before its end (interrupted, killed or cut off)",
                    common::units::count(tally.items, "item")
                )
                .into());
            }
        }
    }
}

/// Lines for stdout, written in whole-line chunks; whatever is left is written on drop,
/// so lines already received are printed even when the stream then fails.
pub struct Printer {
    pub buf: Vec<u8>,
    pub on: bool,
}

impl Printer {
    pub fn new(on: bool) -> Printer {
        Printer {
            buf: Vec::with_capacity(OUT_CHUNK + 256),
            on,
        }
    }

    /// Writes the buffered lines. If stdout is gone (e.g. `| head`), printing stops and
    /// the consumer goes on receiving quietly, so the producer's stream still completes.
    pub fn flush(&mut self) {
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
