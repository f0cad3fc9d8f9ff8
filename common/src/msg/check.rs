//! The rules of a producer's stream, checked in one place: whoever takes a stream in (a
//! consumer, the pipe; the broker, the queue) feeds it the frames as they arrive and acts
//! on what comes out. Pure: no I/O, so the rules are tested below without processes.
//!
//! ```text
//! Hello{name}        first, with a name `check_name` accepts
//! Baozi{seq: 0}, Baozi{seq: 1}, ...   numbered from 0, none lost or reordered
//! End{count}         count == the items that arrived
//! (Receipt{received} goes back on two-way transports: see `Check::receipt`)
//! ```

use super::check_name;
use super::stream::Frame;
use ipc::units::count;
use std::fmt;

/// A producer's stream, as far as it has arrived.
#[derive(Debug)]
pub struct Check {
    producer: String,
    pid: u32,
    arrived: u64,
}

/// What a frame past the `Hello` is.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The next item, in order.
    Item { seq: u64, payload: Vec<u8> },
    /// The end, its count right: the stream is complete.
    End { count: u64 },
}

/// How a stream broke the rules. `Display` says it as a consumer tells it ("the producer
/// ..."); the broker words some of it its own way (`broker/src/producers.rs`).
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    /// The first frame is not `Hello`: another frame (its kind), or none (the stream ended).
    NoName { got: Option<&'static str> },
    /// `Hello` with a name `check_name` refuses; why.
    NameRefused(String),
    /// An item out of its place.
    OutOfOrder {
        producer: String,
        seq: u64,
        expected: u64,
    },
    /// A `Hello` or a `Receipt` among the items.
    Misplaced { kind: &'static str },
    /// An end whose count is not what arrived.
    WrongCount { said: u64, arrived: u64 },
    /// The stream ended without an end frame.
    Unended { arrived: u64 },
}

impl Check {
    /// The stream's first frame (`None`: the stream ended): the producer's name.
    pub fn hello(first: Option<Frame>) -> Result<Check, Broken> {
        match first {
            Some(Frame::Hello { name, pid }) => match check_name(&name) {
                Ok(()) => Ok(Check {
                    producer: name,
                    pid,
                    arrived: 0,
                }),
                Err(why) => Err(Broken::NameRefused(why)),
            },
            other => Err(Broken::NoName {
                got: other.as_ref().map(Frame::kind),
            }),
        }
    }

    /// The fast path of [`Check::next`], for an item read in place: true, and counted, if
    /// item `seq` is the next in order; false for [`Check::next`] to tell what is wrong.
    pub fn in_order(&mut self, seq: u64) -> bool {
        let next = seq == self.arrived;
        self.arrived += u64::from(next);
        next
    }

    /// The next frame (`None`: the stream ended).
    pub fn next(&mut self, frame: Option<Frame>) -> Result<Step, Broken> {
        match frame {
            Some(Frame::Baozi { seq, payload }) if seq == self.arrived => {
                self.arrived += 1;
                Ok(Step::Item { seq, payload })
            }
            Some(Frame::Baozi { seq, .. }) => Err(Broken::OutOfOrder {
                producer: self.producer.clone(),
                seq,
                expected: self.arrived,
            }),
            Some(Frame::End { count }) if count == self.arrived => Ok(Step::End { count }),
            Some(Frame::End { count }) => Err(Broken::WrongCount {
                said: count,
                arrived: self.arrived,
            }),
            Some(other) => Err(Broken::Misplaced { kind: other.kind() }),
            None => Err(Broken::Unended {
                arrived: self.arrived,
            }),
        }
    }

    /// The producer's name, as it said it.
    pub fn producer(&self) -> &str {
        &self.producer
    }

    /// The producer's process id, as it said it.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How many items have arrived in order so far.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// The answer to the end, on two-way transports: what was taken in.
    pub fn receipt(&self) -> Frame {
        Frame::Receipt {
            received: self.arrived,
        }
    }
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::NoName { got: Some(kind) } => write!(
                f,
                "the producer began with a {kind} frame instead of its name"
            ),
            Broken::NoName { got: None } => {
                f.write_str("the stream ended before the producer said its name")
            }
            Broken::NameRefused(why) => write!(f, "the producer's name is refused: {why}"),
            Broken::OutOfOrder {
                producer,
                seq,
                expected,
            } => write!(
                f,
                "baozi {seq} from {producer} arrived where {expected} was expected (lost or reordered)"
            ),
            Broken::Misplaced { kind } => write!(
                f,
                "the producer sent a {kind} frame in the middle of its stream"
            ),
            Broken::WrongCount { said, arrived } => write!(
                f,
                "the producer's end frame says {} {} sent, but {arrived} arrived",
                count(*said, "item"),
                if *said == 1 { "was" } else { "were" }
            ),
            // The same for Ctrl-C as for kill -9: the producer's signal handler exits
            // without writing (a frame from it could cut one being sent in two).
            Broken::Unended { arrived } => write!(
                f,
                "the stream ended after {} without an end frame: the producer stopped \
                 before its end (interrupted, killed or cut off)",
                count(*arrived, "item")
            ),
        }
    }
}

impl std::error::Error for Broken {}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(name: &str) -> Option<Frame> {
        Some(Frame::Hello {
            name: name.into(),
            pid: 7,
        })
    }

    fn baozi(seq: u64) -> Option<Frame> {
        Some(Frame::Baozi {
            seq,
            payload: vec![1, 2],
        })
    }

    #[test]
    fn a_whole_stream_passes_and_its_receipt_counts_it() {
        let mut c = Check::hello(hello("p1")).unwrap();
        assert_eq!((c.producer(), c.pid()), ("p1", 7));
        for seq in 0..3 {
            assert_eq!(
                c.next(baozi(seq)),
                Ok(Step::Item {
                    seq,
                    payload: vec![1, 2]
                })
            );
        }
        assert_eq!(
            c.next(Some(Frame::End { count: 3 })),
            Ok(Step::End { count: 3 })
        );
        assert_eq!(c.receipt(), Frame::Receipt { received: 3 });
    }

    #[test]
    fn the_first_frame_must_be_a_hello_with_a_fair_name() {
        assert_eq!(
            Check::hello(baozi(0)).unwrap_err(),
            Broken::NoName { got: Some("Baozi") }
        );
        assert_eq!(
            Check::hello(None).unwrap_err().to_string(),
            "the stream ended before the producer said its name"
        );
        let refused = Check::hello(hello("a\nb")).unwrap_err();
        assert!(matches!(refused, Broken::NameRefused(_)));
        assert!(
            refused
                .to_string()
                .starts_with("the producer's name is refused: ")
        );
    }

    #[test]
    fn a_lost_item_a_wrong_count_a_stray_frame_and_a_missing_end_are_each_told() {
        let mut c = Check::hello(hello("forger")).unwrap();
        c.next(baozi(0)).unwrap();
        assert_eq!(
            c.next(baozi(2)).unwrap_err().to_string(),
            "baozi 2 from forger arrived where 1 was expected (lost or reordered)"
        );
        assert_eq!(
            c.next(Some(Frame::End { count: 5 }))
                .unwrap_err()
                .to_string(),
            "the producer's end frame says 5 items were sent, but 1 arrived"
        );
        assert_eq!(
            c.next(Some(Frame::End { count: 0 })),
            Err(Broken::WrongCount {
                said: 0,
                arrived: 1
            })
        );
        assert_eq!(
            c.next(Some(Frame::Receipt { received: 1 })),
            Err(Broken::Misplaced { kind: "Receipt" })
        );
        assert_eq!(
            c.next(hello("again")),
            Err(Broken::Misplaced { kind: "Hello" })
        );
        assert_eq!(
            c.next(None).unwrap_err().to_string(),
            "the stream ended after 1 item without an end frame: the producer stopped \
             before its end (interrupted, killed or cut off)"
        );
        assert_eq!(c.arrived(), 1, "nothing out of order counts");
        assert!(
            !c.in_order(0) && !c.in_order(2),
            "the fast path refuses them too"
        );
        assert!(c.in_order(1));
        assert_eq!(c.arrived(), 2);
    }

    #[test]
    fn an_end_of_one_says_was() {
        let mut c = Check::hello(hello("p")).unwrap();
        assert_eq!(
            c.next(Some(Frame::End { count: 1 }))
                .unwrap_err()
                .to_string(),
            "the producer's end frame says 1 item was sent, but 0 arrived"
        );
    }
}
