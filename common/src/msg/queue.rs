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

/// Consumer to broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Broker to consumer: one per `Take`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Items leased to this consumer until it acknowledges them (at least one).
    Items(Vec<Delivery>),
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Who made it: the producer's name and pid.
    pub producer: String,
    pub pid: u32,
    /// Its number in its producer's stream.
    pub seq: u64,
    /// 1 on the first delivery; more when an earlier consumer took it and went away
    /// without acknowledging it (a redelivery).
    pub attempt: u32,
    #[serde(with = "super::serde_bytes_compat")]
    pub payload: Vec<u8>,
}

/// The broker's live numbers, for `broker --status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
