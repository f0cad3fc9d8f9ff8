//! The queue (section 2 of the tutorial): items from a broker, each acknowledged after it
//! is eaten, until the broker says the run is over (the tutorial's `None`).
//!
//! Lockstep on one thread: write a request, read its reply, never both at once (Windows
//! named pipes allow no other way). Two requests stay in flight, each for half of
//! `--prefetch`, so the broker fills the next batch while this one is eaten; the
//! acknowledgement of a batch rides on the request that follows it.

use crate::eat::{Eater, Manner, Tally};
use common::cli::Result;
use common::msg::queue::{Reply, Request};
use common::wire::Session;
use ipc::units::count;
use std::collections::VecDeque;

/// Eats from the broker's queue until the run is over, at most `prefetch` items held at
/// once. Returns what was eaten even on failure.
pub fn run(session: Session, manner: &Manner, prefetch: u32) -> (Tally, Result<()>) {
    let mut eater = Eater::new(manner);
    let result = take(session, &mut eater, prefetch);
    (eater.tally, result)
}

fn take(session: Session, eater: &mut Eater<'_>, prefetch: u32) -> Result<()> {
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
    let halves = if prefetch >= 2 {
        vec![prefetch / 2, prefetch - prefetch / 2]
    } else {
        vec![1]
    };
    tx.send(&Request::Hello {
        name: eater.name().to_owned(),
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

    let mut last_tag = 0;
    let mut write_failed: Option<std::io::Error> = None;
    let mut progress = eater.progress();
    loop {
        let eaten = eater.tally.items;
        progress.tick(eaten);
        let reply = match rx.next_frame::<Reply>() {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(gone(eaten, "the connection closed".into()).into()),
            Err(e) => return Err(gone(eaten, e.to_string()).into()),
        };
        let want = in_flight.pop_front().unwrap_or(1);
        match reply {
            Reply::Items(items) => {
                for (k, d) in items.iter().enumerate() {
                    eater.die_if_poison(d.seq, &d.producer);
                    let more = eater.rest_of_batch(k, items.len());
                    eater.item(d.seq, &d.producer, d.payload.len(), d.attempt, more);
                    last_tag = d.tag;
                }
            }
            Reply::Idle => {}
            Reply::End { .. } => return Ok(()),
            Reply::Stopping => {
                return Err(format!(
                    "the broker at {addr} was stopped before the end of the run, after {} were eaten here",
                    count(eaten, "item")
                )
                .into());
            }
        }
        let eaten = eater.tally.items;
        if let Some(e) = write_failed {
            return Err(gone(eaten, e.to_string()).into());
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
