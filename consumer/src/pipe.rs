//! The pipe (section 1 of the tutorial): one producer's stream, after the handshake,
//! checked by [`Check`] and eaten item by item; the receipt on two-way transports.

use crate::eat::{Eater, Manner, Tally};
use common::cli::Result;
use common::msg::check::{Check, Step};
use common::msg::stream::Frame;
use common::wire::{Session, StreamFrame, WireError};

/// Eats one whole stream. Returns what arrived even when the stream failed.
pub fn run(session: Session, manner: &Manner) -> (Tally, Result<()>) {
    let mut eater = Eater::new(manner);
    let result = eat_stream(session, &mut eater);
    (eater.tally, result)
}

fn eat_stream(session: Session, eater: &mut Eater<'_>) -> Result<()> {
    let Session {
        two_way,
        mut rx,
        mut tx,
        ..
    } = session;
    let cut = |n: u64, e: WireError| format!("{e} after {}", ipc::units::count(n, "item"));
    let mut check = Check::hello(rx.next_frame::<Frame>().map_err(|e| cut(0, e))?)?;
    let mut progress = eater.progress();
    // A frame other than an item, read by `next_stream`, for `check`.
    let mut next = None;
    loop {
        progress.tick(eater.tally.items);
        // An item in order is eaten where it was read (most often already buffered whole:
        // the fast path); anything else goes to `next`.
        let item = match rx.buffered_item() {
            Some(item) => Some(item),
            None => match rx.next_stream().map_err(|e| cut(eater.tally.items, e))? {
                Some(StreamFrame::Baozi { seq, payload }) => Some((seq, payload)),
                Some(StreamFrame::Other(frame)) => {
                    next = Some(frame);
                    None
                }
                None => None,
            },
        };
        let frame = match item {
            Some((seq, payload)) => {
                let bytes = payload.len();
                if check.in_order(seq) {
                    // Only lines wait for what is at hand.
                    let more = eater.shows_lines() && rx.has_buffered();
                    eater.item(seq, check.producer(), bytes, 1, more);
                    continue;
                }
                Some(Frame::Baozi {
                    seq,
                    payload: payload.to_vec(),
                })
            }
            None => next.take(),
        };
        match check.next(frame)? {
            Step::Item { seq, payload } => {
                let more = eater.shows_lines() && rx.has_buffered();
                eater.item(seq, check.producer(), payload.len(), 1, more);
            }
            Step::End { .. } => {
                eater.flush();
                if two_way {
                    // The producer waits for this receipt; if it has gone, so be it.
                    let _ = tx.send(&check.receipt()).and_then(|()| tx.flush());
                }
                return Ok(());
            }
        }
    }
}
