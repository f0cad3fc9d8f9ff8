//! The queue's conversation between a consumer and the broker, and the broker's live
//! numbers for an observer.
//!
//! It is lockstep on the consumer's side: the consumer writes a request, then reads one
//! reply, on one thread, so it works on Windows named pipes (where a read blocked on one
//! thread holds up a write on another). It keeps two requests in flight, so the broker
//! prepares the next batch while the consumer eats this one.
//!
//! ```text
//! consumer -> Hello, Lease{millis}
//! consumer -> Take{ack: 0, want}          broker -> Items[..] | Idle | End | Stopping
//! consumer -> Ack{ack}                    (no reply: eaten so far; renews its lease)
//! consumer -> Take{ack: last tag eaten, want}   ...
//! consumer -> Leave{ack}                  (Ctrl-C: the rest goes back; the broker closes)
//! observer <- Status                      (then the broker closes)
//! ```
//!
//! Every client of the broker (producer, consumer, observer) reads one [`Admission`] first:
//! a producer after its `Hello`, a consumer after its `Hello` and `Lease`, an observer
//! right after the greeting. A refusal (`--producers` reached, a name in use, the broker
//! full) so reaches the refused program in the broker's own words, before it closes.
//!
//! New requests go at the end of the enum: a frame's variant is its index on the wire.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Consumer to broker.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The consumer's first frame: its name and pid, for the broker's totals.
    Hello { name: String, pid: u32 },
    /// "I ate every item up to tag `ack` (0: none yet); send me up to `want` more."
    /// Tags count up from 1 on each connection, in the order items were handed out, and a
    /// consumer eats in that order: so one number acknowledges a whole batch.
    Take { ack: u64, want: u32 },
    /// "I ate every item up to tag `ack`, and I am alive": sent while eating, so that what
    /// was eaten is acknowledged promptly and what is still held stays leased. No reply.
    Ack { ack: u64 },
    /// "I am leaving (Ctrl-C): I ate every item up to tag `ack`; give back the rest now."
    /// No reply: the broker closes the connection.
    Leave { ack: u64 },
    /// Sent once, after `Hello`: the consumer's items come back to the queue if it sends
    /// nothing for this long (frozen, or cut off); it renews them by any request, and
    /// while eating by `Ack`. Without it, the broker's default.
    Lease { millis: u64 },
}

/// Broker to consumer: one per `Take`. The broker writes [`Delivery`]s; a consumer reads
/// them as [`DeliveryRef`]s, lent from the frame (the same bytes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply<D = Delivery> {
    /// Items leased to this consumer until it acknowledges them (at least one).
    Items(Vec<D>),
    /// Nothing to hand out for a while; ask again. (This is also how the broker learns,
    /// from the next request, that an idle consumer is still there.)
    Idle,
    /// The run is over: every expected producer ended and every item was acknowledged or
    /// set aside as dead. `eaten`: what this consumer acknowledged, as the broker counts.
    End { eaten: u64 },
    /// The broker is shutting down (Ctrl-C) before the end; what is not acknowledged
    /// stays unacknowledged.
    Stopping,
    /// The run is over, as `End`, but these producers were cut short (stopped or killed
    /// before their end): what they sent was eaten, the rest never came.
    CutShort { eaten: u64, cut: Vec<String> },
}

/// Broker to any client, once, before anything else it sends: taken in, or refused with
/// the broker's reason (then the broker closes).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Admission {
    /// Served. `capacity`: how many items may wait in the queue (`broker --capacity`).
    Welcome { capacity: u64 },
    /// Not served, and why, in the broker's words.
    Refused { why: String },
}

/// One item handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// This lease's number on this connection; acknowledged by `Take{ack}`.
    pub tag: u64,
    /// Who made it: the producer's name (shared by the broker with the queue's record of
    /// it, not copied for each item) and pid.
    pub producer: Arc<str>,
    pub pid: u32,
    /// Its number in its producer's stream.
    pub seq: u64,
    /// 1 on the first delivery; more when an earlier consumer took it and went away
    /// without acknowledging it (a redelivery).
    pub attempt: u32,
    #[serde(with = "super::serde_bytes_compat")]
    pub payload: Vec<u8>,
}

/// A [`Delivery`] as a consumer reads it: its name and payload lent from the frame it came
/// in (`FrameReader::next_frame_lent`), so that eating an item allocates nothing. The same
/// fields, so the same bytes.
#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DeliveryRef<'a> {
    pub tag: u64,
    pub producer: &'a str,
    pub pid: u32,
    pub seq: u64,
    pub attempt: u32,
    pub payload: &'a [u8],
}

impl Reply<DeliveryRef<'_>> {
    /// The reply with its items copied out of the frame: what reading it owned gives.
    pub fn into_owned(self) -> Reply {
        match self {
            Reply::Items(items) => Reply::Items(
                items
                    .iter()
                    .map(|d| Delivery {
                        tag: d.tag,
                        producer: d.producer.into(),
                        pid: d.pid,
                        seq: d.seq,
                        attempt: d.attempt,
                        payload: d.payload.to_vec(),
                    })
                    .collect(),
            ),
            Reply::Idle => Reply::Idle,
            Reply::End { eaten } => Reply::End { eaten },
            Reply::Stopping => Reply::Stopping,
            Reply::CutShort { eaten, cut } => Reply::CutShort { eaten, cut },
        }
    }
}

/// The broker's live numbers, for `broker --status`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Items waiting in the queue, and its capacity.
    pub queued: u64,
    pub capacity: u64,
    /// Items handed out and not yet acknowledged.
    pub leased: u64,
    /// Items taken in from producers, acknowledged by consumers, handed out again after a
    /// consumer went away, and set aside after `--max-deliveries`.
    pub received: u64,
    pub acknowledged: u64,
    pub redelivered: u64,
    pub dead: u64,
    /// Producers connected now, producers that have ended, and how many are expected
    /// (`--producers`; 0: serve until stopped).
    pub producers: u64,
    pub producers_ended: u64,
    pub producers_expected: u64,
    /// Consumers connected now.
    pub consumers: u64,
    /// Of the producers that have ended, how many were cut short (stopped, killed, broken).
    pub producers_cut: u64,
}

impl Request {
    /// What kind of request this is, for messages (never its contents).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "Hello",
            Request::Take { .. } => "Take",
            Request::Ack { .. } => "Ack",
            Request::Leave { .. } => "Leave",
            Request::Lease { .. } => "Lease",
        }
    }
}

/// `-v`'s trace, like socat's and the stream's (`Baozi seq=3 (0 bytes)`): the kind, then
/// `key=value`s; a batch names its first few items only.
mod trace {
    use super::{Admission, Delivery, DeliveryRef, Reply, Request, Status};
    use std::fmt;

    /// What a trace line names of an item, owned or lent: tag, producer, seq, attempt and
    /// payload size.
    pub trait Named {
        fn named(&self) -> (u64, &str, u64, u32, usize);
    }

    impl Named for Delivery {
        fn named(&self) -> (u64, &str, u64, u32, usize) {
            let d = self;
            (d.tag, &d.producer, d.seq, d.attempt, d.payload.len())
        }
    }

    impl Named for DeliveryRef<'_> {
        fn named(&self) -> (u64, &str, u64, u32, usize) {
            let d = self;
            (d.tag, d.producer, d.seq, d.attempt, d.payload.len())
        }
    }

    /// At most this many items of a batch are named.
    const NAMED: usize = 4;

    impl fmt::Debug for Request {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Request::Hello { name, pid } => write!(f, "Hello name={name:?} pid={pid}"),
                Request::Take { ack, want } => write!(f, "Take ack={ack} want={want}"),
                Request::Ack { ack } => write!(f, "Ack ack={ack}"),
                Request::Leave { ack } => write!(f, "Leave ack={ack}"),
                Request::Lease { millis } => write!(f, "Lease millis={millis}"),
            }
        }
    }

    impl<D: Named> fmt::Debug for Reply<D> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Reply::Items(items) => {
                    write!(f, "Items n={}", items.len())?;
                    let bytes: usize = items.iter().map(|d| d.named().4).sum();
                    if bytes > 0 {
                        write!(f, " ({bytes} bytes)")?;
                    }
                    for (i, d) in items.iter().take(NAMED).enumerate() {
                        f.write_str(if i == 0 { ": " } else { ", " })?;
                        item(f, d)?;
                    }
                    if items.len() > NAMED {
                        write!(f, ", and {} more", items.len() - NAMED)?;
                    }
                    Ok(())
                }
                Reply::Idle => f.write_str("Idle"),
                Reply::End { eaten } => write!(f, "End eaten={eaten}"),
                Reply::Stopping => f.write_str("Stopping"),
                Reply::CutShort { eaten, cut } => {
                    write!(f, "CutShort eaten={eaten} cut={}", cut.join(","))
                }
            }
        }
    }

    fn item(f: &mut fmt::Formatter<'_>, d: &impl Named) -> fmt::Result {
        let (tag, producer, seq, attempt, _) = d.named();
        write!(f, "tag={tag} {producer} seq={seq}")?;
        if attempt > 1 {
            write!(f, " attempt={attempt}")?;
        }
        Ok(())
    }

    impl fmt::Debug for DeliveryRef<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            item(f, self)
        }
    }

    impl fmt::Debug for Admission {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Admission::Welcome { capacity } => write!(f, "Welcome capacity={capacity}"),
                Admission::Refused { why } => write!(f, "Refused why={why:?}"),
            }
        }
    }

    impl fmt::Debug for Status {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "Status queued={} capacity={} leased={} received={} acknowledged={} \
                 redelivered={} dead={} producers={} ended={} cut={} expected={} consumers={}",
                self.queued,
                self.capacity,
                self.leased,
                self.received,
                self.acknowledged,
                self.redelivered,
                self.dead,
                self.producers,
                self.producers_ended,
                self.producers_cut,
                self.producers_expected,
                self.consumers
            )
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::*;

        #[test]
        fn traced_like_socat() {
            let d = |tag, seq, attempt| Delivery {
                tag,
                producer: "p1".into(),
                pid: 7,
                seq,
                attempt,
                payload: vec![],
            };
            assert_eq!(
                format!("{:?}", Request::Take { ack: 3, want: 10 }),
                "Take ack=3 want=10"
            );
            let items: Vec<_> = (1..=6)
                .map(|t| d(t, t - 1, 1 + u32::from(t == 2)))
                .collect();
            assert_eq!(
                format!("{:?}", Reply::Items(items)),
                "Items n=6: tag=1 p1 seq=0, tag=2 p1 seq=1 attempt=2, tag=3 p1 seq=2, \
                 tag=4 p1 seq=3, and 2 more"
            );
            assert_eq!(
                format!("{:?}", Admission::Welcome { capacity: 5 }),
                "Welcome capacity=5"
            );
        }
    }
}
