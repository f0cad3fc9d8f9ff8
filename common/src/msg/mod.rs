//! The message types of every conversation, and only here. Every binary uses these and
//! defines none of its own, so the two sides of a conversation cannot drift apart. How they
//! are laid on the wire is [`crate::wire`]'s business alone.
//!
//! - [`stream`]: a producer's stream, to a consumer (the pipe) or to a broker (the queue):
//!   `Hello`, `Baozi`*, `End`, answered by a `Receipt` on two-way transports.
//! - [`queue`]: a consumer (or an observer) and the broker: the consumer asks for items and
//!   acknowledges what it ate, in lockstep; the broker hands out leased items.
//! - [`check`]: the rules of a producer's stream (`Hello`, items in order, `End{count}`),
//!   one pure checker that the consumer and the broker both feed.
//! - [`run`]: the words of a queue's run (a dead item, the totals and their line, the end
//!   of the run), the same for the broker and for Redis.
//!
//! Which conversation a connection carries follows from the two [`Role`]s in the greeting:
//! producer and consumer speak [`stream`]; a producer and a broker speak [`stream`] too (the
//! broker plays the consumer's part); a consumer or an observer and a broker speak [`queue`].

pub mod check;
pub mod queue;
pub mod run;
pub mod stream;

use std::fmt;

/// The longest name a producer or consumer may give itself (`--name`), in bytes. A peer's
/// name is printed on every line and kept by the broker: a longer one is refused.
pub const MAX_NAME: usize = 64;

/// Checks a `--name`, or a name a peer sent: 1 to [`MAX_NAME`] bytes, no control
/// characters.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "a name has 1 to {MAX_NAME} bytes; this one has {}",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a name has no control characters (newlines, escapes)".into());
    }
    Ok(())
}

/// `--name` value parser.
pub fn parse_name(s: &str) -> Result<String, String> {
    check_name(s).map(|()| s.to_owned())
}

/// The default `--name`: `prefix` and this process's id (`p4242`), so that several
/// producers (or consumers) started without `--name` are told apart in every line.
pub fn default_name(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}

/// Which part a program plays in a conversation; sent in the greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    Producer = 1,
    Consumer = 2,
    /// The queue's home: takes producers' streams, hands items to consumers.
    Broker = 3,
    /// Asks a broker for its live numbers (`broker --status`).
    Observer = 4,
}

impl Role {
    /// The role a greeting's role byte names, if any.
    pub fn from_byte(b: u8) -> Option<Role> {
        match b {
            1 => Some(Role::Producer),
            2 => Some(Role::Consumer),
            3 => Some(Role::Broker),
            4 => Some(Role::Observer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
            Role::Broker => "broker",
            Role::Observer => "observer",
        })
    }
}

/// Serialize `Vec<u8>` as one byte string (postcard: length + bytes) rather than as a
/// sequence of numbers, which is the same on the wire for postcard but much faster.
pub(crate) mod serde_bytes_compat {
    use serde::de::{Deserializer, Error, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = seq.next_element()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}
