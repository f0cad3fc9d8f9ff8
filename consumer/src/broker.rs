//! The queue (section 2 of the tutorial): items from a broker, each acknowledged after it
//! is eaten, until the broker says the run is over (the tutorial's `None`).
//!
//! Lockstep on one thread: write a request, read its reply, never both at once (Windows
//! named pipes allow no other way). Two requests stay in flight, so the broker fills the
//! next batch while this one is eaten; each asks for what this consumer eats in about
//! 100 ms (one at a time for a slow eater, up to half of `--prefetch` for a fast one), so
//! the work is shared. What is eaten is acknowledged promptly: at once after an item that
//! took a millisecond or more, else within [`ACK_WITHIN`] or [`ACK_EVERY`] items (an
//! `Ack`, which also renews the lease while a long item is eaten), and at the end of a
//! batch by the next request. On Ctrl-C (SIGTERM, SIGHUP) it stops
//! eating, says what it ate (`Leave`) and the broker gives back the rest at once.

use crate::eat::{Eater, Manner, STOP, Tally};
use common::cli::Result;
use common::msg::queue::{Admission, DeliveryRef, Reply, Request};
use common::wire::{FrameWriter, Session};
use ipc::transport::SendHalf;
use ipc::units::count;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What was eaten is acknowledged at most this long after it was eaten...
const ACK_WITHIN: Duration = Duration::from_millis(100);
/// ...or after this many items, whichever comes first...
const ACK_EVERY: u64 = 64;
/// ...and at once after an item that took this long or more to eat: an `Ack` then costs
/// little next to the eating, and the broker knows when each was eaten (the timeline's
/// dots).
const ACK_AT_ONCE_AFTER: Duration = Duration::from_millis(1);

/// Eats from the broker's queue until the run is over, at most `prefetch` items held at
/// once; asks the broker to take its items back if it hears nothing for `lease`. Returns
/// what was eaten even on failure.
pub fn run(session: Session, manner: &Manner, prefetch: u32) -> (Tally, Result<()>) {
    let mut eater = Eater::new(manner);
    let Some(token) = crate::eat::stop_on_interrupt() else {
        return (eater.tally, Ok(()));
    };
    let result = take(session, &mut eater, prefetch, manner.lease);
    if STOP.is_raised() {
        // The signal's ending waited for this goodbye: let it exit, with its own code.
        eater.flush();
        drop(token);
        crate::eat::wait_for_the_end();
    }
    (eater.tally, result)
}

/// Acknowledgements on their way to the broker.
struct Acks {
    /// The last tag eaten, and the last one told.
    eaten: u64,
    told: u64,
    /// When what is eaten must be told at the latest: [`ACK_WITHIN`] after something was
    /// last told (which renews the lease).
    due: Instant,
}

impl Acks {
    /// Tells what was eaten if it is due (time or count, or `slow`: the last item took
    /// [`ACK_AT_ONCE_AFTER`] or more), or if `renew`.
    fn tell(
        &mut self,
        tx: &mut FrameWriter<SendHalf>,
        renew: bool,
        slow: bool,
        now: Instant,
    ) -> std::io::Result<()> {
        let due = self.eaten > self.told
            && (slow || self.eaten - self.told >= ACK_EVERY || now >= self.due);
        if due || renew {
            tx.send(&Request::Ack { ack: self.eaten })?;
            tx.flush()?;
            self.told = self.eaten;
            self.due = now + ACK_WITHIN;
        }
        Ok(())
    }
}

fn take(
    session: Session,
    eater: &mut Eater<'_>,
    prefetch: u32,
    lease: Option<Duration>,
) -> Result<()> {
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
    let half = (prefetch / 2).max(1);
    let in_flight_max = if prefetch >= 2 { 2 } else { 1 };
    tx.send(&Request::Hello {
        name: eater.name().to_owned(),
        pid: std::process::id(),
    })
    .map_err(|e| gone(0, ipc::say::io_words(&e)))?;
    let lease = lease.unwrap_or(crate::LEASE);
    let millis = u64::try_from(lease.as_millis()).unwrap_or(u64::MAX);
    tx.send(&Request::Lease { millis })
        .map_err(|e| gone(0, ipc::say::io_words(&e)))?;
    // What each request in flight asked for, in order.
    let mut in_flight = VecDeque::new();
    while in_flight.len() < in_flight_max {
        let want = eater.appetite.want(half);
        tx.send(&Request::Take { ack: 0, want })
            .map_err(|e| gone(0, ipc::say::io_words(&e)))?;
        in_flight.push_back(want);
    }
    tx.flush().map_err(|e| gone(0, ipc::say::io_words(&e)))?;
    match rx.next_frame::<Admission>() {
        Ok(Some(Admission::Welcome { .. })) => {}
        Ok(Some(Admission::Refused { why })) => {
            return Err(format!("the broker at {addr} refused this consumer: {why}").into());
        }
        Ok(None) => return Err(gone(0, "the connection closed".into()).into()),
        Err(e) => return Err(gone(0, e.to_string()).into()),
    }

    // Renew well within the lease while eating one long item.
    let renew_every = (lease / 3).max(Duration::from_millis(1));
    let mut acks = Acks {
        eaten: 0,
        told: 0,
        due: Instant::now() + ACK_WITHIN,
    };
    let mut write_failed: Option<std::io::Error> = None;
    let mut progress = eater.progress();
    loop {
        let eaten = eater.tally.items;
        progress.tick(eaten);
        // The items are lent from the read buffer until the next read: eaten in place.
        let reply = match rx.next_frame_lent::<Reply<DeliveryRef<'_>>>() {
            Ok(Some(reply)) => reply,
            Ok(None) => return Err(gone(eaten, "the connection closed".into()).into()),
            Err(e) => return Err(gone(eaten, e.to_string()).into()),
        };
        let asked = in_flight.pop_front().unwrap_or(0);
        let items = match reply {
            Reply::Items(items) => {
                if items.len() > asked as usize {
                    return Err(format!(
                        "the broker at {addr} sent {} where at most {asked} were asked for",
                        items.len()
                    )
                    .into());
                }
                items
            }
            Reply::Idle => Vec::new(),
            Reply::End { .. } => return Ok(()),
            Reply::CutShort { cut, .. } => {
                let were = if cut.len() == 1 { "was" } else { "were" };
                return Err(format!(
                    "the run on the broker at {addr} is over, but cut short: {} {were} stopped \
                     before the end, so {} were eaten here of a run that did not finish",
                    cut.join(", "),
                    count(eaten, "item")
                )
                .into());
            }
            Reply::Stopping => {
                return Err(format!(
                    "the broker at {addr} was stopped before the end of the run, after {} were eaten here",
                    count(eaten, "item")
                )
                .into());
            }
        };
        // The end of the last item eaten: each item took from there to its own end.
        let mut last = Instant::now();
        for (k, d) in items.iter().enumerate() {
            if STOP.is_raised() {
                break;
            }
            eater.die_if_poison(d.seq, d.producer);
            let more = eater.rest_of_batch(k, items.len());
            let mut renew = || {
                if write_failed.is_none()
                    && let Err(e) = acks.tell(&mut tx, true, false, Instant::now())
                {
                    write_failed = Some(e);
                }
            };
            let Some((now, took)) = eater.queue_item(
                d.seq,
                d.producer,
                d.payload.len(),
                d.attempt,
                more,
                renew_every,
                &mut renew,
                last,
            ) else {
                break;
            };
            acks.eaten = d.tag;
            let slow = took >= ACK_AT_ONCE_AFTER;
            last = now;
            if k + 1 < items.len()
                && write_failed.is_none()
                && let Err(e) = acks.tell(&mut tx, false, slow, now)
            {
                write_failed = Some(e);
            }
        }
        if STOP.is_raised() {
            return leave(&mut rx, &mut tx, acks.eaten);
        }
        let eaten = eater.tally.items;
        if let Some(e) = write_failed {
            return Err(gone(eaten, ipc::say::io_words(&e)).into());
        }
        // If this fails, the broker may have closed after an answer already on its way
        // (the end, say): read that first, and fail only if it is not one.
        while in_flight.len() < in_flight_max && write_failed.is_none() {
            let want = eater.appetite.want(half);
            let sent = tx
                .send(&Request::Take {
                    ack: acks.eaten,
                    want,
                })
                .and_then(|()| tx.flush());
            match sent {
                Ok(()) => {
                    in_flight.push_back(want);
                    acks.told = acks.eaten;
                    acks.due = Instant::now() + ACK_WITHIN;
                }
                Err(e) => write_failed = Some(e),
            }
        }
        if in_flight.is_empty() {
            let e = write_failed.take();
            let why = e.map_or_else(|| "nothing to wait for".into(), |e| ipc::say::io_words(&e));
            return Err(gone(eaten, why).into());
        }
    }
}

/// Ctrl-C: tells the broker what was eaten, so that it gives back the rest at once, then
/// reads until it closes (so that the goodbye is read before this end closes).
fn leave(
    rx: &mut common::wire::FrameReader<ipc::transport::RecvHalf>,
    tx: &mut FrameWriter<SendHalf>,
    ack: u64,
) -> Result<()> {
    if tx
        .send(&Request::Leave { ack })
        .and_then(|()| tx.flush())
        .is_ok()
    {
        while let Ok(Some(_)) = rx.next_frame::<Reply>() {}
    }
    Ok(())
}
