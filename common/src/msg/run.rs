//! The words of a queue's run, shared by both homes of the queue (the broker's memory and a
//! Redis stream), so that both tell a run the same way: how a producer's stream stands, a
//! dead item, the totals and their one line, and the rule of the run's end.
//!
//! The mechanics differ by nature (a state machine under a lock, Lua scripts on a server);
//! what they report does not.

use ipc::units::count;
use std::fmt;

/// How a producer's stream stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Open,
    /// Ended with `End`, its count right.
    Ended,
    /// Gone without a right end: killed, cut, or a wrong count. What it put stays queued.
    Cut,
}

/// An item set aside after `--max-deliveries` attempts: handed out that many times, and
/// never acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dead {
    pub producer: String,
    pub seq: u64,
    /// How many times it was handed out.
    pub deliveries: u32,
}

impl Dead {
    /// `baozi 7 from p1 is dead: handed out 3 times (--max-deliveries 3)`; the teller adds
    /// where it went.
    pub fn told(&self, max_deliveries: u32) -> String {
        format!(
            "baozi {} from {} is dead: handed out {} (--max-deliveries {max_deliveries})",
            self.seq,
            self.producer,
            count(u64::from(self.deliveries), "time"),
        )
    }
}

/// One producer in the totals: its name, how many items it put, how its stream stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Put {
    pub name: String,
    pub items: u64,
    pub stream: Stream,
}

/// Where a run stands against its end: the few numbers the rule needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// The producers the run expects (0: it never ends by itself).
    pub expected: u64,
    /// Producers whose stream has ended, well or cut short.
    pub ended: u64,
    /// Items taken in from producers.
    pub received: u64,
    /// Items acknowledged or dead.
    pub settled: u64,
    /// Items still in the queue: waiting, or held by a consumer.
    pub left: u64,
}

impl Standing {
    /// The end of the run (the tutorial's `None`): every expected producer has ended, and
    /// every item it put is eaten or dead. (At least, not exactly: on Redis the two are
    /// counted by separate scripts, and a run must not hang on one that ran ahead.)
    pub fn over(&self) -> bool {
        self.expected > 0
            && self.ended >= self.expected
            && self.left == 0
            && self.settled >= self.received
    }
}

/// The numbers of a run, as its end (or Ctrl-C) reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Each producer, and what it put.
    pub producers: Vec<Put>,
    /// Each consumer, by name, and how many items it acknowledged.
    pub consumers: Vec<(String, u64)>,
    /// The producers the run expects (0: it never ends by itself).
    pub expected: u64,
    pub received: u64,
    pub eaten: u64,
    pub redelivered: u64,
    pub dead: u64,
    /// Items still in the queue: waiting, or held by a consumer.
    pub left: u64,
}

impl Totals {
    pub fn standing(&self) -> Standing {
        Standing {
            expected: self.expected,
            ended: self
                .producers
                .iter()
                .filter(|p| p.stream != Stream::Open)
                .count() as u64,
            received: self.received,
            settled: self.eaten + self.dead,
            left: self.left,
        }
    }

    /// See [`Standing::over`].
    pub fn over(&self) -> bool {
        self.standing().over()
    }

    /// How many producers were cut short.
    pub fn cut(&self) -> usize {
        self.producers
            .iter()
            .filter(|p| p.stream == Stream::Cut)
            .count()
    }
}

/// `received 15 from 2 producers (p1 10, p2 5); eaten 14 by 1 consumer (c1 14);
/// redelivered 0; dead 1`, a producer cut short marked so (`p2 5, cut short`).
impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let producers: Vec<String> = self
            .producers
            .iter()
            .map(|p| match p.stream {
                Stream::Cut => format!("{} {}, cut short", p.name, p.items),
                _ => format!("{} {}", p.name, p.items),
            })
            .collect();
        let consumers: Vec<String> = self
            .consumers
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        write!(
            f,
            "received {} from {} ({}); eaten {} by {} ({}); redelivered {}; dead {}",
            self.received,
            count(self.producers.len() as u64, "producer"),
            producers.join(", "),
            self.eaten,
            count(self.consumers.len() as u64, "consumer"),
            consumers.join(", "),
            self.redelivered,
            self.dead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(name: &str, items: u64, stream: Stream) -> Put {
        Put {
            name: name.into(),
            items,
            stream,
        }
    }

    #[test]
    fn a_run_is_over_only_when_every_expected_producer_ended_and_everything_is_accounted() {
        let mut t = Totals {
            producers: vec![put("p1", 10, Stream::Ended)],
            expected: 2,
            received: 10,
            eaten: 10,
            ..Totals::default()
        };
        assert!(!t.over(), "one producer of two");
        t.producers.push(put("p2", 5, Stream::Open));
        t.received = 15;
        t.left = 5;
        assert!(!t.over(), "p2 has not ended");
        t.producers[1].stream = Stream::Ended;
        assert!(!t.over(), "5 items neither eaten nor dead");
        t.eaten = 14;
        t.dead = 1;
        assert!(!t.over(), "still in the queue");
        t.left = 0;
        assert!(t.over());
        t.consumers = vec![("c1".into(), 14)];
        assert_eq!(
            t.to_string(),
            "received 15 from 2 producers (p1 10, p2 5); eaten 14 by 1 consumer (c1 14); redelivered 0; dead 1"
        );
        t.producers[1].stream = Stream::Cut;
        assert!(t.over(), "a producer cut short has ended too");
        assert!(t.to_string().contains("(p1 10, p2 5, cut short)"));
        assert_eq!(t.cut(), 1);
        assert!(!Totals::default().over(), "nothing expected yet");
    }

    #[test]
    fn nothing_left_but_fewer_settled_than_received_is_not_over() {
        let s = Standing {
            expected: 1,
            ended: 1,
            received: 3,
            settled: 2,
            left: 0,
        };
        assert!(!s.over());
        assert!(Standing { settled: 4, ..s }.over(), "a producer run twice");
    }

    #[test]
    fn a_dead_item_is_told_with_its_deliveries_and_the_limit() {
        let d = Dead {
            producer: "p1".into(),
            seq: 7,
            deliveries: 1,
        };
        assert_eq!(
            d.told(1),
            "baozi 7 from p1 is dead: handed out 1 time (--max-deliveries 1)"
        );
    }
}
