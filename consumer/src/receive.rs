//! Receiving streams of baozi: one per connection, several at once with `--producers`.

use crate::Cli;
use common::Address;
use common::cli::Result;
use common::msg::Frame;
use common::style::Paint;
use common::transport::{self, Conn};
use common::units::show_bytes;
use common::wire::{self, FrameReader, FrameWriter, Role, WireError};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Items received so far by all streams, for the Ctrl-C message.
static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Print output in chunks of about this size when items arrive faster than a terminal.
const OUT_CHUNK: usize = 32 << 10;

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
        eprintln!(
            "{name}: interrupted after {} items",
            RECEIVED.load(Ordering::Relaxed)
        );
    });
    let show = Show {
        who: Paint::stdout().role(Role::Consumer, &cli.name),
        quiet: cli.quiet,
    };

    let (started, results) = if cli.producers > 1 {
        let listener = transport::listen(&cli.endpoint.address)?;
        listener.announce();
        let first = listener.accept()?;
        let started = Instant::now();
        let results = std::thread::scope(|s| {
            let show = &show;
            let mut workers = vec![s.spawn(move || eat(first, show))];
            for _ in 1..cli.producers {
                match listener.accept() {
                    Ok(conn) => workers.push(s.spawn(move || eat(conn, show))),
                    Err(e) => workers.push(s.spawn(move || (Tally::default(), Err(e.into())))),
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
        let conn = cli.endpoint.open_one(&cli.name)?;
        let started = Instant::now();
        (started, vec![eat(conn, &show)])
    };

    let mut total = Tally::default();
    let mut failed = 0;
    for (tally, result) in results {
        total.items += tally.items;
        total.bytes += tally.bytes;
        if let Err(e) = result {
            eprintln!("consumer: error: {}", common::cli::chain(&*e));
            failed += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut line = format!(
        "{}: {} items in {secs:.3}s ({:.0} items/s",
        Paint::stderr().role(Role::Consumer, &cli.name),
        total.items,
        total.items as f64 / secs,
    );
    if total.bytes > 0 {
        line += &format!(
            "; {} of payload, {}/s",
            show_bytes(total.bytes),
            show_bytes((total.bytes as f64 / secs) as u64)
        );
    }
    eprintln!("{line})");
    if let Some(expect) = cli.expect
        && expect != total.items
    {
        eprintln!(
            "consumer: error: expected {expect} items, {} arrived",
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

/// How to print items.
struct Show {
    who: String,
    quiet: bool,
}

#[derive(Default)]
struct Tally {
    items: u64,
    bytes: u64,
}

/// Receives one whole stream. Returns what arrived even when the stream failed.
fn eat(conn: Conn, show: &Show) -> (Tally, Result<()>) {
    let peer = conn.peer().to_owned();
    let mut tally = Tally::default();
    let result = eat_stream(conn, show, &mut tally).map_err(|e| format!("{peer}: {e}").into());
    (tally, result)
}

fn eat_stream(conn: Conn, show: &Show, tally: &mut Tally) -> Result<()> {
    let two_way = conn.is_two_way();
    let (rx, tx) = conn.split();
    let mut w = FrameWriter::new(tx);
    if two_way {
        w.write_greeting(Role::Consumer)?;
        w.flush()?;
        rx.set_timeout(Some(wire::GREETING_TIMEOUT))?;
    }
    let mut r = FrameReader::new(rx);
    r.read_greeting(Role::Producer)?;
    r.get_ref().set_timeout(None)?;

    let mut out = Printer::new(!show.quiet);
    let cut = |n: u64, e: WireError| format!("{e} after {n} items");
    loop {
        let frame = r.next_frame().map_err(|e| cut(tally.items, e))?;
        match frame {
            Some(Frame::Baozi(b)) => {
                if b.seq != tally.items {
                    return Err(format!(
                        "baozi {} from {} arrived where {} was expected (lost or reordered)",
                        b.seq, b.producer, tally.items
                    )
                    .into());
                }
                tally.items += 1;
                tally.bytes += b.payload.len() as u64;
                RECEIVED.fetch_add(1, Ordering::Relaxed);
                if out.on {
                    let _ = write!(
                        out.buf,
                        "{} received baozi {} from {}",
                        show.who, b.seq, b.producer
                    );
                    if !b.payload.is_empty() {
                        let _ = write!(out.buf, " ({} bytes)", b.payload.len());
                    }
                    out.buf.push(b'\n');
                    if out.buf.len() >= OUT_CHUNK || !r.has_buffered() {
                        out.flush();
                    }
                }
            }
            Some(Frame::End { count }) => {
                out.flush();
                if count != tally.items {
                    return Err(format!(
                        "the producer's end frame says {count} items were sent, but {} arrived",
                        tally.items
                    )
                    .into());
                }
                if two_way {
                    // The producer waits for this receipt; if it has gone, so be it.
                    let _ = w
                        .send(&Frame::Receipt {
                            received: tally.items,
                        })
                        .and_then(|()| w.flush());
                }
                return Ok(());
            }
            Some(Frame::Receipt { .. }) => {
                return Err("a producer sent a receipt frame; is it a consumer?".into());
            }
            None => {
                return Err(format!(
                    "the stream ended after {} items without an end frame (did the producer die?)",
                    tally.items
                )
                .into());
            }
        }
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
