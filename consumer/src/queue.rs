//! The queue (section 2 of the tutorial): items from a broker, each acknowledged after it
//! is eaten, until the broker says the run is over (the tutorial's `None`).
//!
//! Lockstep on one thread: write a request, read its reply, never both at once (Windows
//! named pipes allow no other way). Two requests stay in flight, each for half of
//! `--prefetch`, so the broker fills the next batch while this one is eaten; the
//! acknowledgement of a batch rides on the request that follows it.

use crate::receive::{OUT_CHUNK, Printer, RECEIVED, Show, Tally};
use common::cli::Result;
use common::msg::queue::{Reply, Request};
use common::units::{XorShift, count};
use common::wire::Session;
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;

/// The line of an item eaten from a queue (a broker's or a Redis stream).
pub fn line(out: &mut Printer, show: &Show, seq: u64, producer: &str, bytes: usize, attempt: u32) {
    if !out.on {
        return;
    }
    let _ = write!(out.buf, "{} received baozi {seq} from {producer}", show.who);
    if bytes > 0 {
        let _ = write!(out.buf, " ({bytes} bytes)");
    }
    if attempt > 1 {
        let _ = write!(out.buf, " (redelivered, attempt {attempt})");
    }
    out.buf.push(b'\n');
    if out.buf.len() >= OUT_CHUNK || !show.eat.is_zero() {
        out.flush();
    }
}

pub fn take_from(session: Session, show: &Show, tally: &mut Tally) -> Result<()> {
    let Session {
        addr,
        mut rx,
        mut tx,
        ..
    } = session;
    let gone = |eaten: u64, why: String| {
        format!(
            "the broker at {addr} went away after {} were eaten here ({why}); was it killed?",
            count(eaten, "item")
        )
    };
    let halves = if show.prefetch >= 2 {
        vec![show.prefetch / 2, show.prefetch - show.prefetch / 2]
    } else {
        vec![1]
    };
    tx.send(&Request::Hello {
        name: show.name.clone(),
        pid: std::process::id(),
    })
    .map_err(|e| gone(0, e.to_string()))?;
    let mut in_flight = VecDeque::new();
    for want in halves {
        tx.send(&Request::Take { ack: 0, want })
            .map_err(|e| gone(0, e.to_string()))?;
        in_flight.push_back(want);
    }
    tx.flush().map_err(|e| gone(0, e.to_string()))?;

    let mut out = Printer::new(!show.quiet);
    let mut rng = XorShift::seeded();
    let mut last_tag = 0;
    let mut write_failed: Option<std::io::Error> = None;
    // A count on a terminal, unless the item lines go there already.
    let mut progress = if out.on && std::io::stdout().is_terminal() {
        common::say::Progress::off()
    } else {
        common::say::Progress::new(format!("consumer {}", show.name), "items", None)
    };
    loop {
        progress.tick(tally.items);
        let reply = match rx.next_frame::<Reply>() {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(gone(tally.items, "the connection closed".into()).into()),
            Err(e) => return Err(gone(tally.items, e.to_string()).into()),
        };
        let want = in_flight.pop_front().unwrap_or(1);
        match reply {
            Reply::Items(items) => {
                for d in items {
                    if show.die_on == Some(d.seq) {
                        out.flush();
                        common::elog!(
                            "{}: dying on baozi {} from {} without acknowledging it (--die-on)",
                            show.name,
                            d.seq,
                            d.producer
                        );
                        std::process::exit(3);
                    }
                    if !show.eat.is_zero() {
                        std::thread::sleep(show.eat.pick(&mut rng));
                    }
                    tally.items += 1;
                    tally.bytes += d.payload.len() as u64;
                    RECEIVED.fetch_add(1, Ordering::Relaxed);
                    last_tag = d.tag;
                    line(
                        &mut out,
                        show,
                        d.seq,
                        &d.producer,
                        d.payload.len(),
                        d.attempt,
                    );
                }
                out.flush();
            }
            Reply::Idle => {}
            Reply::End { .. } => return Ok(()),
            Reply::Stopping => {
                return Err(format!(
                    "the broker at {addr} was stopped before the end of the run, after {} were eaten here",
                    count(tally.items, "item")
                )
                .into());
            }
        }
        if let Some(e) = write_failed {
            return Err(gone(tally.items, e.to_string()).into());
        }
        // If this fails, the broker may have closed after an answer already on its way
        // (the end, say): read that first, and fail only if it is not one.
        let sent = tx
            .send(&Request::Take {
                ack: last_tag,
                want,
            })
            .and_then(|()| tx.flush());
        match sent {
            Ok(()) => in_flight.push_back(want),
            Err(e) => write_failed = Some(e),
        }
    }
}
