//! The message types. Every binary uses these and defines none of its own, so the two sides
//! of a conversation cannot drift apart. How they are laid on the wire is [`crate::wire`]'s
//! business alone.

use serde::{Deserialize, Serialize};

/// One steamed bun: the item a producer makes and a consumer eats.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baozi {
    /// Sequence number within its producer's stream, from 0 (like the tutorial's `range(10)`).
    pub seq: u64,
    /// The producer's `--name`.
    pub producer: String,
    /// The producer's process id.
    pub pid: u32,
    /// Filling for bulk runs (`producer --payload BYTES`); empty by default.
    #[serde(with = "serde_bytes_compat")]
    pub payload: Vec<u8>,
}

/// Everything that travels after the greeting on a baozi stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// One item, producer to consumer.
    Baozi(Baozi),
    /// Producer to consumer: no more items; `count` were sent in all. The explicit end,
    /// like the tutorial's closing of the pipe (`EOFError`), but one that cannot be faked
    /// by a crash.
    End { count: u64 },
    /// Consumer to producer, on two-way transports only: the receipt after `End`.
    Receipt { received: u64 },
}

/// Serialize `Vec<u8>` as one byte string (postcard: length + bytes) rather than as a
/// sequence of numbers, which is the same on the wire for postcard but much faster.
mod serde_bytes_compat {
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
