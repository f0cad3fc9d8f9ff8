//! The queue itself: a pure state machine. No I/O, no threads, no clocks: `serve.rs` feeds
//! it what arrives on the connections and sends what it hands out, and the tests below
//! drive it directly.
//!
//! An item is *ready* (in the queue, in order) or *leased* to one consumer until that
//! consumer acknowledges it. A consumer that goes away gives its leases back: they go to
//! the front of the queue, in their order, to be handed out again with the next attempt
//! number; an item that has already been handed out `max_deliveries` times is set aside as
//! dead instead. So while the broker lives, every item taken in is, at every moment, exactly
//! one of: ready, leased, acknowledged, dead.
//!
//! What the broker holds is bounded: at most `capacity` ready items from producers, at
//! most `capacity` leased in all, at most `max_held` leased to one consumer, and one reply
//! at most `reply_bytes` of payload (but always at least one item). A consumer's leases
//! expire, all together, when it has sent nothing for its lease (it renews them by every
//! request): a frozen consumer's items go back as a dead one's do. Times are durations
//! since the broker started, given by the caller.

use common::msg::queue::{Delivery, Status};
pub use common::msg::run::{Dead, Stream};
use common::msg::run::{Put, Standing, Totals};
use ipc::units::count;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A producer's number in this queue.
pub type ProducerId = usize;
/// A consumer's number in this queue.
pub type ConsumerId = usize;

/// What the queue is told at its start.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// At most this many ready items from producers (redeliveries always come back).
    pub capacity: usize,
    /// An item handed out this many times without an acknowledgement is dead.
    pub max_deliveries: u32,
    /// The run ends once this many producers have ended (0: it never ends by itself).
    pub producers: u64,
    /// At most this many items leased to one consumer at once.
    pub max_held: usize,
    /// At most this many payload bytes in one hand-out, unless it is a single item.
    pub reply_bytes: usize,
    /// A consumer's lease until it says otherwise (`Request::Lease`).
    pub lease: Duration,
}

/// A request the queue cannot take.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Every producer the run expects has already come.
    TooManyProducers { expected: u64 },
    /// An acknowledgement of a tag that was never handed out on that connection.
    AckBeyond { ack: u64, last: u64 },
    /// A producer or consumer of that name is connected now.
    NameInUse {
        role: &'static str,
        name: String,
        pid: u32,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::TooManyProducers { expected } => write!(
                f,
                "the broker expects {} (--producers {expected}) and has them all",
                count(*expected, "producer")
            ),
            QueueError::NameInUse { role, name, pid } => write!(
                f,
                "a {role} named {name} (pid {pid}) is connected already; give this one another --name"
            ),
            QueueError::AckBeyond { ack, last } => write!(
                f,
                "acknowledged item {ack}, but only {last} were handed out on this connection"
            ),
        }
    }
}

impl std::error::Error for QueueError {}

#[derive(Debug)]
struct Producer {
    /// Shared with every delivery of its items (no copy per item).
    name: Arc<str>,
    pid: u32,
    put: u64,
    stream: Stream,
}

#[derive(Debug)]
struct Consumer {
    name: String,
    pid: u32,
    /// The last tag handed out on this connection (tags count from 1).
    last_tag: u64,
    /// Items handed out and not acknowledged, in tag order.
    leases: VecDeque<(u64, Item)>,
    eaten: u64,
    connected: bool,
    /// Its items come back if it sends nothing for this long.
    lease: Duration,
    /// When it last sent anything.
    renewed: Duration,
}

#[derive(Debug)]
struct Item {
    producer: ProducerId,
    seq: u64,
    /// How many times it was handed out so far.
    deliveries: u32,
    payload: Vec<u8>,
}

/// The queue, its producers and consumers, and its counts.
#[derive(Debug)]
pub struct Queue {
    config: Config,
    ready: VecDeque<Item>,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    received: u64,
    acknowledged: u64,
    redelivered: u64,
    leased: u64,
    dead: u64,
    /// Items given back by consumers that went away without saying what they ate (killed,
    /// cut off, frozen past their lease): each may have been eaten there too.
    unsure: u64,
}

/// A consumer whose lease ran out: what it held went back, or is dead.
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    pub consumer: ConsumerId,
    pub name: String,
    pub back: u64,
    pub dead: Vec<Dead>,
}

impl Queue {
    pub fn new(config: Config) -> Queue {
        Queue {
            config,
            ready: VecDeque::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            received: 0,
            acknowledged: 0,
            redelivered: 0,
            leased: 0,
            dead: 0,
            unsure: 0,
        }
    }

    /// A producer said hello.
    pub fn join_producer(&mut self, name: &str, pid: u32) -> Result<ProducerId, QueueError> {
        let expected = self.config.producers;
        if let Some(live) = self
            .producers
            .iter()
            .find(|p| p.stream == Stream::Open && *p.name == *name)
        {
            return Err(QueueError::NameInUse {
                role: "producer",
                name: name.to_owned(),
                pid: live.pid,
            });
        }
        if expected > 0 && self.producers.len() as u64 >= expected {
            return Err(QueueError::TooManyProducers { expected });
        }
        self.producers.push(Producer {
            name: name.into(),
            pid,
            put: 0,
            stream: Stream::Open,
        });
        Ok(self.producers.len() - 1)
    }

    /// Whether a producer may put another item now (back-pressure: otherwise it waits).
    pub fn has_room(&self) -> bool {
        self.ready.len() < self.config.capacity
    }

    /// Takes in one item, at the back. The caller waits for [`Queue::has_room`] first;
    /// a put into a full queue is refused (`false`) and changes nothing.
    pub fn put(&mut self, producer: ProducerId, seq: u64, payload: Vec<u8>) -> bool {
        if !self.has_room() {
            return false;
        }
        self.ready.push_back(Item {
            producer,
            seq,
            deliveries: 0,
            payload,
        });
        self.producers[producer].put += 1;
        self.received += 1;
        true
    }

    /// A producer's end frame, its count right (`common::msg::check` checks it).
    pub fn end_producer(&mut self, producer: ProducerId) {
        self.producers[producer].stream = Stream::Ended;
    }

    /// A producer went away without a right end. What it put stays.
    pub fn cut_producer(&mut self, producer: ProducerId) {
        let p = &mut self.producers[producer];
        if p.stream == Stream::Open {
            p.stream = Stream::Cut;
        }
    }

    /// How many items a producer has put.
    pub fn put_by(&self, producer: ProducerId) -> u64 {
        self.producers[producer].put
    }

    /// A consumer said hello, at `now`: refused if one of that name is connected.
    pub fn join_consumer_as(
        &mut self,
        name: &str,
        pid: u32,
        now: Duration,
    ) -> Result<ConsumerId, QueueError> {
        if let Some(live) = self
            .consumers
            .iter()
            .find(|c| c.connected && c.name == name)
        {
            return Err(QueueError::NameInUse {
                role: "consumer",
                name: name.to_owned(),
                pid: live.pid,
            });
        }
        let id = self.join_consumer(name, now);
        self.consumers[id].pid = pid;
        Ok(id)
    }

    /// A consumer said hello, at `now`.
    pub fn join_consumer(&mut self, name: &str, now: Duration) -> ConsumerId {
        self.consumers.push(Consumer {
            name: name.to_owned(),
            pid: 0,
            last_tag: 0,
            leases: VecDeque::new(),
            eaten: 0,
            connected: true,
            lease: self.config.lease,
            renewed: now,
        });
        self.consumers.len() - 1
    }

    /// A consumer asked for its own lease.
    pub fn set_lease(&mut self, consumer: ConsumerId, lease: Duration) {
        self.consumers[consumer].lease = lease;
    }

    /// A consumer sent something at `now`: it is alive, its leases run from now.
    pub fn renew(&mut self, consumer: ConsumerId, now: Duration) {
        let c = &mut self.consumers[consumer];
        c.renewed = c.renewed.max(now);
    }

    /// Gives back the leases of every connected consumer that has sent nothing for its
    /// lease, as if it had gone away (it stays connected: if it comes back to life, what it
    /// acknowledges of them counts nothing, and its next items are new ones).
    pub fn expire(&mut self, now: Duration) -> Vec<Expired> {
        let late: Vec<ConsumerId> = (0..self.consumers.len())
            .filter(|&i| {
                let c = &self.consumers[i];
                c.connected && !c.leases.is_empty() && now.saturating_sub(c.renewed) > c.lease
            })
            .collect();
        late.into_iter()
            .map(|i| {
                let leases = std::mem::take(&mut self.consumers[i].leases);
                let (back, dead) = self.give_back(leases, true);
                Expired {
                    consumer: i,
                    name: self.consumers[i].name.clone(),
                    back,
                    dead,
                }
            })
            .collect()
    }

    /// The hand-out from tag `from` on never reached the consumer (the send failed): back
    /// to the front as they were, not counted as delivered, nor as redelivered.
    pub fn untake(&mut self, consumer: ConsumerId, from: u64) -> u64 {
        let c = &mut self.consumers[consumer];
        let mut n = 0;
        while c.leases.back().is_some_and(|(tag, _)| *tag >= from) {
            if let Some((_, mut item)) = c.leases.pop_back() {
                item.deliveries -= 1;
                self.ready.push_front(item);
                n += 1;
            }
        }
        self.leased -= n;
        n
    }

    /// A consumer leaves saying what it ate (Ctrl-C): acknowledges up to `ack`; the rest
    /// goes back to the front as it was, not counted as delivered (it was not eaten: its
    /// next eating is not a redelivery). Returns (acknowledged, given back).
    pub fn leave(&mut self, consumer: ConsumerId, ack: u64) -> Result<(u64, u64), QueueError> {
        let acked = self.ack(consumer, ack)?;
        let back = self.untake(consumer, 0);
        self.consumers[consumer].connected = false;
        Ok((acked, back))
    }

    /// A consumer ate every item up to tag `ack`. Returns how many that acknowledged.
    pub fn ack(&mut self, consumer: ConsumerId, ack: u64) -> Result<u64, QueueError> {
        let c = &mut self.consumers[consumer];
        if ack > c.last_tag {
            return Err(QueueError::AckBeyond {
                ack,
                last: c.last_tag,
            });
        }
        let mut n = 0;
        while c.leases.front().is_some_and(|(tag, _)| *tag <= ack) {
            c.leases.pop_front();
            n += 1;
        }
        c.eaten += n;
        self.acknowledged += n;
        self.leased -= n;
        Ok(n)
    }

    /// How many more items a consumer may be leased now: its own bound, and the bound of
    /// all leases together.
    pub fn may_hold(&self, consumer: ConsumerId) -> usize {
        let c = &self.consumers[consumer];
        let all = self.config.capacity.saturating_sub(self.leased as usize);
        self.config.max_held.saturating_sub(c.leases.len()).min(all)
    }

    /// Hands a consumer up to `want` ready items, from the front, leased to it: no more
    /// than [`Queue::may_hold`], and no more than `reply_bytes` of payload unless one item.
    pub fn take(&mut self, consumer: ConsumerId, want: usize) -> Vec<Delivery> {
        let most = want.min(self.ready.len()).min(self.may_hold(consumer));
        let mut n = 0;
        let mut bytes = 0;
        for item in self.ready.iter().take(most) {
            bytes += item.payload.len();
            if n > 0 && bytes > self.config.reply_bytes {
                break;
            }
            n += 1;
        }
        let mut out = Vec::with_capacity(n);
        for mut item in self.ready.drain(..n) {
            let c = &mut self.consumers[consumer];
            c.last_tag += 1;
            item.deliveries += 1;
            let p = &self.producers[item.producer];
            out.push(Delivery {
                tag: c.last_tag,
                producer: Arc::clone(&p.name),
                pid: p.pid,
                seq: item.seq,
                attempt: item.deliveries,
                payload: item.payload.clone(),
            });
            c.leases.push_back((c.last_tag, item));
        }
        self.leased += n as u64;
        out
    }

    /// A consumer went away: its leases go back to the front of the queue, in order, or
    /// are set aside as dead after `max_deliveries`. Returns (given back, newly dead).
    pub fn consumer_gone(&mut self, consumer: ConsumerId) -> (u64, Vec<Dead>) {
        let c = &mut self.consumers[consumer];
        c.connected = false;
        let leases = std::mem::take(&mut c.leases);
        self.give_back(leases, true)
    }

    /// Leases back to the front, in order, or dead past `max_deliveries`. `unsure`: their
    /// consumer did not say what it ate, so each may have been eaten.
    fn give_back(&mut self, leases: VecDeque<(u64, Item)>, unsure: bool) -> (u64, Vec<Dead>) {
        self.leased -= leases.len() as u64;
        if unsure {
            self.unsure += leases.len() as u64;
        }
        let mut back = 0;
        let mut dead = Vec::new();
        for (_, item) in leases.into_iter().rev() {
            if item.deliveries >= self.config.max_deliveries {
                dead.push(Dead {
                    producer: self.producers[item.producer].name.to_string(),
                    seq: item.seq,
                    deliveries: item.deliveries,
                });
            } else {
                self.ready.push_front(item);
                back += 1;
            }
        }
        dead.reverse();
        self.redelivered += back;
        self.dead += dead.len() as u64;
        (back, dead)
    }

    /// What a consumer holds now.
    pub fn leased_by(&self, consumer: ConsumerId) -> usize {
        self.consumers[consumer].leases.len()
    }

    /// Items given back by consumers that went away without saying what they ate: each may
    /// have been eaten there as well as acknowledged by another.
    pub fn unsure(&self) -> u64 {
        self.unsure
    }

    /// What a consumer has acknowledged.
    pub fn eaten_by(&self, consumer: ConsumerId) -> u64 {
        self.consumers[consumer].eaten
    }

    /// Whether every expected producer has come and gone (ended or cut): from now on only
    /// given-back items can become ready.
    pub fn producers_done(&self) -> bool {
        let expected = self.config.producers;
        expected > 0
            && self.producers.len() as u64 == expected
            && self.producers.iter().all(|p| p.stream != Stream::Open)
    }

    /// How many items are ready now.
    pub fn ready(&self) -> usize {
        self.ready.len()
    }

    /// The end of the run: every expected producer gone, and every item acknowledged or
    /// dead (the rule is [`Standing::over`], the same as on Redis).
    pub fn is_finished(&self) -> bool {
        Standing {
            expected: self.config.producers,
            ended: self.producers_ended(),
            received: self.received,
            settled: self.acknowledged + self.dead,
            left: self.ready.len() as u64 + self.leased,
        }
        .over()
    }

    fn producers_ended(&self) -> u64 {
        self.producers
            .iter()
            .filter(|p| p.stream != Stream::Open)
            .count() as u64
    }

    /// The producers cut short so far, by name.
    pub fn cut_short(&self) -> Vec<String> {
        self.producers
            .iter()
            .filter(|p| p.stream == Stream::Cut)
            .map(|p| p.name.to_string())
            .collect()
    }

    /// The live numbers.
    pub fn status(&self) -> Status {
        Status {
            queued: self.ready.len() as u64,
            capacity: self.config.capacity as u64,
            leased: self.leased,
            received: self.received,
            acknowledged: self.acknowledged,
            redelivered: self.redelivered,
            dead: self.dead,
            producers: self
                .producers
                .iter()
                .filter(|p| p.stream == Stream::Open)
                .count() as u64,
            producers_ended: self.producers_ended(),
            producers_expected: self.config.producers,
            producers_cut: self.cut_short().len() as u64,
            consumers: self.consumers.iter().filter(|c| c.connected).count() as u64,
        }
    }

    /// Everything the final report names.
    pub fn totals(&self) -> Totals {
        Totals {
            producers: self
                .producers
                .iter()
                .map(|p| Put {
                    name: p.name.to_string(),
                    items: p.put,
                    stream: p.stream,
                })
                .collect(),
            consumers: self
                .consumers
                .iter()
                .map(|c| (c.name.clone(), c.eaten))
                .collect(),
            expected: self.config.producers,
            received: self.received,
            eaten: self.acknowledged,
            redelivered: self.redelivered,
            dead: self.dead,
            left: self.ready.len() as u64 + self.leased,
        }
    }
}

#[cfg(test)]
mod tests;
