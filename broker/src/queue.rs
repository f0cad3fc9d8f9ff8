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

use common::msg::queue::{Delivery, Status};
pub use common::msg::run::{Dead, Stream};
use common::msg::run::{Put, Standing, Totals};
use std::collections::VecDeque;
use std::fmt;

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
}

/// A request the queue cannot take.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueError {
    /// Every producer the run expects has already come.
    TooManyProducers { expected: u64 },
    /// An acknowledgement of a tag that was never handed out on that connection.
    AckBeyond { ack: u64, last: u64 },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::TooManyProducers { expected } => write!(
                f,
                "the broker expects {expected} producers (--producers {expected}), and all have come"
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
    name: String,
    pid: u32,
    put: u64,
    stream: Stream,
}

#[derive(Debug)]
struct Consumer {
    name: String,
    /// The last tag handed out on this connection (tags count from 1).
    last_tag: u64,
    /// Items handed out and not acknowledged, in tag order.
    leases: VecDeque<(u64, Item)>,
    eaten: u64,
    connected: bool,
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
        }
    }

    /// A producer said hello.
    pub fn join_producer(&mut self, name: &str, pid: u32) -> Result<ProducerId, QueueError> {
        let expected = self.config.producers;
        if expected > 0 && self.producers.len() as u64 >= expected {
            return Err(QueueError::TooManyProducers { expected });
        }
        self.producers.push(Producer {
            name: name.to_owned(),
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

    /// A consumer said hello.
    pub fn join_consumer(&mut self, name: &str) -> ConsumerId {
        self.consumers.push(Consumer {
            name: name.to_owned(),
            last_tag: 0,
            leases: VecDeque::new(),
            eaten: 0,
            connected: true,
        });
        self.consumers.len() - 1
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

    /// Hands a consumer up to `want` ready items, from the front, leased to it.
    pub fn take(&mut self, consumer: ConsumerId, want: usize) -> Vec<Delivery> {
        let n = want.min(self.ready.len());
        let mut out = Vec::with_capacity(n);
        for mut item in self.ready.drain(..n) {
            let c = &mut self.consumers[consumer];
            c.last_tag += 1;
            item.deliveries += 1;
            let p = &self.producers[item.producer];
            out.push(Delivery {
                tag: c.last_tag,
                producer: p.name.clone(),
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
        self.leased -= leases.len() as u64;
        let mut back = 0;
        let mut dead = Vec::new();
        for (_, item) in leases.into_iter().rev() {
            if item.deliveries >= self.config.max_deliveries {
                dead.push(Dead {
                    producer: self.producers[item.producer].name.clone(),
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
                    name: p.name.clone(),
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
mod tests {
    use super::*;

    fn queue(capacity: usize, max_deliveries: u32, producers: u64) -> Queue {
        Queue::new(Config {
            capacity,
            max_deliveries,
            producers,
        })
    }

    fn seqs(d: &[Delivery]) -> Vec<u64> {
        d.iter().map(|d| d.seq).collect()
    }

    /// The invariant: every item taken in is ready, leased, acknowledged or dead.
    fn check_accounting(q: &Queue) {
        let s = q.status();
        assert_eq!(
            s.received,
            s.queued + s.leased + s.acknowledged + s.dead,
            "{s:?}"
        );
        let leases: usize = q.consumers.iter().map(|c| c.leases.len()).sum();
        assert_eq!(leases as u64, s.leased);
    }

    #[test]
    fn items_go_out_in_order_and_one_ack_covers_a_batch() {
        let mut q = queue(100, 5, 1);
        let p = q.join_producer("p1", 1).unwrap();
        for seq in 0..5 {
            assert!(q.put(p, seq, vec![]));
        }
        let c = q.join_consumer("c1");
        let got = q.take(c, 3);
        assert_eq!(seqs(&got), [0, 1, 2]);
        assert_eq!(got.iter().map(|d| d.tag).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(got.iter().all(|d| d.attempt == 1 && d.producer == "p1"));
        assert_eq!(q.leased_by(c), 3);
        assert_eq!(q.ack(c, 2), Ok(2));
        assert_eq!(q.leased_by(c), 1);
        assert_eq!(q.ack(c, 2), Ok(0), "acknowledging again changes nothing");
        assert_eq!(q.ack(c, 4), Err(QueueError::AckBeyond { ack: 4, last: 3 }));
        check_accounting(&q);
    }

    #[test]
    fn a_full_queue_refuses_puts_until_an_item_is_taken() {
        let mut q = queue(2, 5, 0);
        let p = q.join_producer("p1", 1).unwrap();
        assert!(q.put(p, 0, vec![]) && q.put(p, 1, vec![]));
        assert!(!q.has_room());
        assert!(!q.put(p, 2, vec![]));
        assert_eq!(q.status().received, 2);
        let c = q.join_consumer("c1");
        q.take(c, 1);
        assert!(q.has_room() && q.put(p, 2, vec![]));
        check_accounting(&q);
    }

    #[test]
    fn a_gone_consumers_leases_go_first_to_the_next_one_marked_as_redeliveries() {
        let mut q = queue(100, 5, 1);
        let p = q.join_producer("p1", 1).unwrap();
        for seq in 0..6 {
            q.put(p, seq, vec![seq as u8]);
        }
        let (c1, c2) = (q.join_consumer("c1"), q.join_consumer("c2"));
        assert_eq!(seqs(&q.take(c1, 4)), [0, 1, 2, 3]);
        q.ack(c1, 1).unwrap(); // ate item 0
        assert_eq!(q.consumer_gone(c1), (3, vec![]));
        check_accounting(&q);
        let again = q.take(c2, 10);
        assert_eq!(
            seqs(&again),
            [1, 2, 3, 4, 5],
            "given back first, in their order"
        );
        assert_eq!(
            again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
            [2, 2, 2, 1, 1]
        );
        assert_eq!(again[0].payload, [1]);
        assert_eq!(q.status().redelivered, 3);
        q.ack(c2, 5).unwrap();
        assert_eq!((q.eaten_by(c1), q.eaten_by(c2)), (1, 5));
        check_accounting(&q);
    }

    #[test]
    fn an_item_that_outlives_max_deliveries_is_dead_and_the_run_still_ends() {
        let mut q = queue(100, 3, 1);
        let p = q.join_producer("p1", 1).unwrap();
        q.put(p, 0, vec![]);
        q.put(p, 1, vec![]);
        q.end_producer(p);
        // The poison item kills every consumer it reaches.
        for round in 1..=3 {
            let c = q.join_consumer("c");
            let got = q.take(c, 1);
            assert_eq!((got[0].seq, got[0].attempt), (0, round));
            let (_, dead) = q.consumer_gone(c);
            if round < 3 {
                assert!(dead.is_empty());
            } else {
                assert_eq!(
                    dead,
                    [Dead {
                        producer: "p1".into(),
                        seq: 0,
                        deliveries: 3
                    }]
                );
            }
            check_accounting(&q);
        }
        assert_eq!(q.totals().dead, 1);
        assert!(!q.is_finished(), "item 1 is still ready");
        let c = q.join_consumer("c");
        assert_eq!(seqs(&q.take(c, 5)), [1]);
        q.ack(c, 1).unwrap();
        assert!(q.is_finished());
        check_accounting(&q);
    }

    #[test]
    fn the_run_ends_only_when_every_expected_producer_is_gone_and_all_is_acknowledged() {
        let mut q = queue(100, 5, 2);
        let p1 = q.join_producer("p1", 1).unwrap();
        q.put(p1, 0, vec![]);
        q.end_producer(p1);
        let c = q.join_consumer("c1");
        q.take(c, 1);
        q.ack(c, 1).unwrap();
        assert!(!q.is_finished(), "one producer has not come yet");
        let p2 = q.join_producer("p2", 2).unwrap();
        assert_eq!(
            q.join_producer("p3", 4),
            Err(QueueError::TooManyProducers { expected: 2 })
        );
        q.put(p2, 0, vec![]);
        q.cut_producer(p2); // killed: what it put stays
        assert!(q.producers_done() && !q.is_finished());
        q.take(c, 1);
        assert!(!q.is_finished(), "leased, not acknowledged");
        q.ack(c, 2).unwrap();
        assert!(q.is_finished());
        let t = q.totals();
        assert_eq!(t.producers[1].stream, Stream::Cut);
        assert_eq!(t.consumers, [("c1".to_string(), 2)]);
        assert!(t.over(), "the totals tell the same end");
        check_accounting(&q);
    }

    #[test]
    fn without_expected_producers_the_run_never_ends_by_itself() {
        let mut q = queue(100, 5, 0);
        let p = q.join_producer("p1", 1).unwrap();
        q.end_producer(p);
        assert!(!q.producers_done() && !q.is_finished());
    }
}
