//! A producer's stream: what a producer sends to a consumer (the pipe) or to a broker (the
//! queue), and the receipt it gets back on two-way transports.
//!
//! ```text
//! producer -> Hello, Baozi{seq: 0}, Baozi{seq: 1}, ..., End{count}
//! producer <- Receipt{received}                       (two-way transports only)
//! ```

use serde::{Deserialize, Serialize};

/// Everything that travels after the greeting on a producer's stream.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// The producer's first frame: who makes the items that follow. Said once, so that
    /// items carry no name.
    Hello {
        /// The producer's `--name`.
        name: String,
        /// The producer's process id.
        pid: u32,
    },
    /// One steamed bun: the item a producer makes and a consumer eats.
    Baozi {
        /// Sequence number within its producer's stream, from 0 (like the tutorial's
        /// `range(10)`).
        seq: u64,
        /// Filling for bulk runs (`producer --payload BYTES`); empty by default.
        #[serde(with = "super::serde_bytes_compat")]
        payload: Vec<u8>,
    },
    /// No more items; `count` were sent in all. The explicit end, like the tutorial's
    /// closing of the pipe (`EOFError`) or its `None` on a queue, but one that cannot be
    /// faked by a crash.
    End { count: u64 },
    /// The answer to `End`, on two-way transports only: how many items the consumer (or
    /// the broker) took in.
    Receipt { received: u64 },
}

impl Frame {
    /// What kind of frame this is, for messages (never its contents, which a peer chose).
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "Hello",
            Frame::Baozi { .. } => "Baozi",
            Frame::End { .. } => "End",
            Frame::Receipt { .. } => "Receipt",
        }
    }
}

/// As `-v` shows it: `Baozi seq=3 (0 bytes)`, never the payload itself.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Hello { name, pid } => write!(f, "Hello name={name:?} pid={pid}"),
            Frame::Baozi { seq, payload } => write!(f, "Baozi seq={seq} ({} bytes)", payload.len()),
            Frame::End { count } => write!(f, "End count={count}"),
            Frame::Receipt { received } => write!(f, "Receipt received={received}"),
        }
    }
}
