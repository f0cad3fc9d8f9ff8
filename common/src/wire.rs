//! The wire format of every baozi-ipc conversation, and only here: the greeting, the
//! framing, and the one handshake.
//!
//! ```text
//! greeting: "BAOZIIPC"  version:u8  kind:u8  role:u8          (11 bytes, each side sends one)
//! frame:    length:u32 little-endian  postcard(message)       (length <= MAX_FRAME)
//! ```
//!
//! The framing is the same for every conversation; the message types are per conversation
//! ([`crate::msg::stream`], [`crate::msg::queue`]), chosen by the roles the two greetings
//! name. Framing is kept apart from encoding the way rust-analyzer's proc-macro transport
//! is: [`FrameReader::next_frame`] and [`FrameWriter::send`] are generic over the message.
//!
//! A clean end of input between frames reads as `Ok(None)`; anywhere else it is an error,
//! so a producer that dies mid-stream can never pass for one that finished.
//! Lengths are checked against [`MAX_FRAME`] before anything is allocated, and a frame's
//! body buffer grows only as bytes actually arrive.

mod baozi;
mod words;

pub use crate::msg::Role;
use crate::msg::stream::Frame;
use ipc::transport::{Conn, RecvHalf, SendHalf};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::time::{Duration, Instant};

/// The first bytes of every baozi-ipc conversation.
pub const MAGIC: [u8; 8] = *b"BAOZIIPC";
/// Bumped on any incompatible change of the greeting, the framing or the messages.
/// 2: producers name themselves once (`Hello`), not in every item; the queue.
/// 3: the broker's `Admission` before anything else, to every client (a refusal in its own
/// words); a consumer's `Ack`, `Leave` and `Lease`; `CutShort`; `Status::producers_cut`.
pub const VERSION: u8 = 3;
/// The kind byte: baozi-ipc's message family. The conversation itself follows from the
/// roles (see [`crate::msg`]); another family (a byte ring, say) would get another kind.
const KIND_BAOZI: u8 = 1;
/// Largest `--payload` a producer may ask for.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Largest frame accepted: the largest payload plus room for the other fields.
pub const MAX_FRAME: usize = MAX_PAYLOAD + 1024;
/// Buffer size for both directions; one syscall moves many small frames.
pub const BUF_SIZE: usize = 64 << 10;
/// From this size on an item skips the buffers: the writer sends it straight from the
/// caller's payload, and the reader, after such a frame, reads the next one's length and
/// body straight from the stream. Buffering it would copy it once more on each side (a
/// 64 KiB item never fits a 64 KiB buffer beside its header), where an extra read or
/// write per item costs next to nothing at this size.
const LARGE: usize = BUF_SIZE / 2;

/// How long a two-way peer may take to send its greeting before it is judged not ours
/// (an HTTP server, say, waits for us to speak and never answers in kind).
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

const GREETING_LEN: usize = MAGIC.len() + 3;

/// What can go wrong reading a baozi stream.
#[derive(Debug)]
pub enum WireError {
    /// The first bytes are not [`MAGIC`]: some other program, or garbage.
    NotOurs { first_bytes: Vec<u8> },
    /// The peer speaks another protocol version.
    Version { peer: u8 },
    /// The peer is ours but plays the wrong part (a producer talking to a producer).
    WrongRole { peer: String, expected: Vec<Role> },
    /// A length prefix over [`MAX_FRAME`].
    TooLarge { len: u64 },
    /// The input ended inside a frame or inside the greeting.
    Cut { during: &'static str },
    /// A frame whose body does not decode.
    Corrupt(postcard::Error),
    /// The transport failed.
    Io(io::Error),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NotOurs { first_bytes } => words::not_ours(f, first_bytes),
            WireError::Version { peer } => write!(
                f,
                "the peer speaks baozi-ipc protocol version {peer}, this program speaks {VERSION}"
            ),
            WireError::WrongRole { peer, expected } => {
                write!(
                    f,
                    "the peer is {} {peer}, but {} was expected",
                    words::article(peer),
                    words::one_of(expected)
                )
            }
            WireError::TooLarge { len } => write!(
                f,
                "corrupt stream: a frame claims {len} bytes, over the {MAX_FRAME}-byte limit"
            ),
            WireError::Cut { during } => write!(f, "the stream was cut {during}"),
            WireError::Corrupt(_) => write!(f, "corrupt stream: a frame does not decode"),
            WireError::Io(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                write!(
                    f,
                    "not a baozi-ipc peer (it sent no greeting in time; a baozi-ipc program \
                     greets at once, a line-based one such as the echo server waits for a line)"
                )
            }
            WireError::Io(e) => f.write_str(&ipc::say::io_words(e)),
        }
    }
}

/// The one rule for every error here: a `Display` shows its cause, or `source()` returns
/// it, never both; `cli` joins the chain with ": ".
impl std::error::Error for WireError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WireError::Corrupt(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// Reads a greeting and then frames, of any message type, from a byte stream.
pub struct FrameReader<R: Read> {
    inner: BufReader<R>,
    body: Vec<u8>,
    /// Bytes of the last frame still in `inner`'s buffer, lent to the caller
    /// ([`FrameReader::next_stream`]) and consumed at the next read.
    owed: usize,
    /// The last frame was [`LARGE`]: the next one likely is too, so once the buffer is
    /// drained its length and body are read straight from the stream, not through the
    /// buffer (which would fill with its first 64 KiB, then copy them out again).
    direct: bool,
}

/// Where the body of the frame just read is: in the read buffer, or in `body`.
enum Body {
    Buffered(std::ops::Range<usize>),
    Owned(usize),
}

/// A frame of a producer's stream as [`FrameReader::next_stream`] reads it: an item lent
/// from where it was read (no copy, no allocation), or any other frame.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamFrame<'a> {
    Baozi { seq: u64, payload: &'a [u8] },
    Other(Frame),
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner: BufReader::with_capacity(BUF_SIZE, inner),
            body: Vec::new(),
            owed: 0,
            direct: false,
        }
    }

    /// Reads the peer's greeting, checks that it is ours and plays one of `accept`, and
    /// returns the part it plays.
    pub fn read_greeting(&mut self, accept: &[Role]) -> Result<Role, WireError> {
        self.read_greeting_by(accept, |_| Ok(()))
    }

    /// [`FrameReader::read_greeting`], calling `before_read` with the underlying reader
    /// before each read that may block (nothing buffered): the handshake bounds the whole
    /// greeting in time that way, not each read.
    pub fn read_greeting_by(
        &mut self,
        accept: &[Role],
        mut before_read: impl FnMut(&R) -> io::Result<()>,
    ) -> Result<Role, WireError> {
        let mut g = [0u8; GREETING_LEN];
        // Byte by byte as they come, so that a stranger whose first bytes already differ
        // (an echo client's "hello\n") is told at once, not after the greeting timeout.
        self.settle();
        let mut got = 0;
        while got < GREETING_LEN {
            if self.inner.buffer().is_empty() {
                before_read(self.inner.get_ref())?;
            }
            let n = read_full(&mut self.inner, &mut g[got..=got])?;
            if n == 0 {
                break;
            }
            got += 1;
            if got <= MAGIC.len() && g[got - 1] != MAGIC[got - 1] {
                // Show what else is already here, for the error message.
                let more = self.inner.buffer().len().min(GREETING_LEN - got);
                g[got..got + more].copy_from_slice(&self.inner.buffer()[..more]);
                got += more;
                break;
            }
        }
        if got == 0 {
            return Err(WireError::Cut {
                during: "before anything arrived",
            });
        }
        let magic_seen = got.min(MAGIC.len());
        if g[..magic_seen] != MAGIC[..magic_seen] {
            return Err(WireError::NotOurs {
                first_bytes: g[..got].to_vec(),
            });
        }
        if got < GREETING_LEN {
            return Err(WireError::Cut {
                during: "during the greeting",
            });
        }
        let [version, kind, role] = [g[8], g[9], g[10]];
        if version != VERSION {
            return Err(WireError::Version { peer: version });
        }
        match (kind, Role::from_byte(role)) {
            (KIND_BAOZI, Some(r)) if accept.contains(&r) => Ok(r),
            (KIND_BAOZI, Some(r)) => Err(WireError::WrongRole {
                peer: r.to_string(),
                expected: accept.to_vec(),
            }),
            _ => Err(WireError::WrongRole {
                peer: format!("peer of unknown kind {kind}/{role}"),
                expected: accept.to_vec(),
            }),
        }
    }

    /// The next frame, or `None` at a clean end of input between frames.
    pub fn next_frame<M: DeserializeOwned + fmt::Debug>(&mut self) -> Result<Option<M>, WireError> {
        let frame = self.next_frame_quiet();
        if ipc::say::verbose()
            && let Ok(Some(m)) = &frame
        {
            ipc::say::trace("<", m);
        }
        frame
    }

    /// [`FrameReader::next_frame`] for a message that borrows (`&str`, `&[u8]`: a
    /// consumer's [`crate::msg::queue::DeliveryRef`]s): lent from where the frame was read,
    /// until the next read.
    pub fn next_frame_lent<'a, M: Deserialize<'a> + fmt::Debug>(
        &'a mut self,
    ) -> Result<Option<M>, WireError> {
        let frame = match self.next_body()? {
            None => Ok(None),
            Some(b) => postcard::from_bytes(self.bytes(&b))
                .map(Some)
                .map_err(WireError::Corrupt),
        };
        if ipc::say::verbose()
            && let Ok(Some(m)) = &frame
        {
            ipc::say::trace("<", m);
        }
        frame
    }

    fn next_frame_quiet<M: DeserializeOwned>(&mut self) -> Result<Option<M>, WireError> {
        match self.next_body()? {
            None => Ok(None),
            Some(b) => postcard::from_bytes(self.bytes(&b))
                .map(Some)
                .map_err(WireError::Corrupt),
        }
    }

    /// The next frame of a producer's stream, or `None` at a clean end of input between
    /// frames: [`FrameReader::next_frame`]`::<Frame>` with the same bytes accepted and the
    /// same errors, but an item's payload is lent from the read buffer, not copied out.
    pub fn next_stream(&mut self) -> Result<Option<StreamFrame<'_>>, WireError> {
        let Some(b) = self.next_body()? else {
            return Ok(None);
        };
        let frame = match baozi::decode(self.bytes(&b)) {
            Some((seq, payload)) => StreamFrame::Baozi { seq, payload },
            None => StreamFrame::Other(
                postcard::from_bytes(self.bytes(&b)).map_err(WireError::Corrupt)?,
            ),
        };
        if ipc::say::verbose() {
            match &frame {
                StreamFrame::Baozi { seq, payload } => {
                    ipc::say::trace("<", &baozi::Trace(*seq, payload.len()));
                }
                StreamFrame::Other(f) => ipc::say::trace("<", f),
            }
        }
        Ok(Some(frame))
    }

    /// The fast path of [`FrameReader::next_stream`]: the next frame if it is an item
    /// already buffered whole, lent in place (consumed at the next read), the same bytes
    /// accepted as there. `None` (nothing consumed) for anything else, or when tracing
    /// (`-v`): then `next_stream` reads it.
    #[inline]
    pub fn buffered_item(&mut self) -> Option<(u64, &[u8])> {
        if ipc::say::verbose() {
            return None;
        }
        self.settle();
        let (len, rest) = self.inner.buffer().split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        if len > MAX_FRAME {
            return None;
        }
        let item = baozi::decode(rest.get(..len)?)?;
        self.owed = 4 + len;
        Some(item)
    }

    /// Consumes what the last frame still holds of the read buffer.
    fn settle(&mut self) {
        self.inner.consume(std::mem::take(&mut self.owed));
    }

    fn bytes(&self, b: &Body) -> &[u8] {
        match b {
            Body::Buffered(r) => &self.inner.buffer()[r.clone()],
            Body::Owned(len) => &self.body[..*len],
        }
    }

    /// Reads the next frame's length and body; `None` at a clean end between frames.
    fn next_body(&mut self) -> Result<Option<Body>, WireError> {
        let body = self.next_body_by()?;
        if let Some(b) = &body {
            self.direct = match b {
                Body::Buffered(r) => r.len(),
                Body::Owned(len) => *len,
            } >= LARGE;
        }
        Ok(body)
    }

    fn next_body_by(&mut self) -> Result<Option<Body>, WireError> {
        self.settle();
        let buf = self.inner.buffer();
        let len = if let Some(&[a, b, c, d]) = buf.first_chunk::<4>() {
            // Fast path: the length, and often the whole frame, is already buffered; the
            // frame is then lent in place and consumed at the next read.
            let len = u32::from_le_bytes([a, b, c, d]) as usize;
            if len <= MAX_FRAME && buf.len() - 4 >= len {
                self.owed = 4 + len;
                return Ok(Some(Body::Buffered(4..4 + len)));
            }
            self.inner.consume(4);
            len
        } else {
            let mut len = [0u8; 4];
            let got = if self.direct && buf.is_empty() {
                read_full(self.inner.get_mut(), &mut len)?
            } else {
                read_full(&mut self.inner, &mut len)?
            };
            match got {
                0 => return Ok(None),
                4 => {}
                _ => {
                    return Err(WireError::Cut {
                        during: "inside a frame's length",
                    });
                }
            }
            u32::from_le_bytes(len) as usize
        };
        if len > MAX_FRAME {
            return Err(WireError::TooLarge { len: len as u64 });
        }
        if self.inner.buffer().len() >= len {
            self.owed = len;
            return Ok(Some(Body::Buffered(0..len)));
        }
        // The body buffer is kept from frame to frame (no allocating or zeroing per frame
        // once it is large enough) and grows only as bytes arrive: to twice what already
        // came (32 KiB at first), so a length that lies costs nothing.
        let mut filled = 0;
        while filled < len {
            // Into what the buffer already has room for (no allocation), or twice what came.
            let end = len.min((2 * filled).max(BUF_SIZE / 2).max(self.body.len()));
            if self.body.len() < end {
                self.body.resize(end, 0);
            }
            // Once the read buffer is drained, the rest of the body is read straight into
            // `body`: through the buffer it would be copied twice (BufReader bypasses its
            // buffer only for reads of at least its capacity).
            let into = &mut self.body[filled..end];
            let read = if self.inner.buffer().is_empty() {
                self.inner.get_mut().read(into)
            } else {
                self.inner.read(into)
            };
            match read {
                Ok(0) => {
                    return Err(WireError::Cut {
                        during: "inside a frame",
                    });
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(Body::Owned(len)))
    }

    /// True when the next frame is already buffered whole, so reading it will not wait.
    /// Consumers flush their output when this is false, so slow streams show live; the
    /// broker takes a producer's items in batches of what is buffered, so a batch is never
    /// more than a buffer's worth (not only some bytes of a frame that must then be waited
    /// for, which let a batch of 64 KiB items grow past the queue's capacity).
    pub fn has_buffered(&self) -> bool {
        let rest = &self.inner.buffer()[self.owed..];
        rest.first_chunk::<4>()
            .is_some_and(|len| rest.len() - 4 >= u32::from_le_bytes(*len) as usize)
    }

    /// The underlying reader, e.g. to change its timeout.
    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }
}

/// Writes a greeting and then frames, of any message type, to a byte stream, buffered.
pub struct FrameWriter<W: Write> {
    inner: BufWriter<W>,
    scratch: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(inner: W) -> Self {
        FrameWriter {
            inner: BufWriter::with_capacity(BUF_SIZE, inner),
            scratch: Vec::new(),
        }
    }

    /// Writes (but does not flush) our greeting.
    pub fn write_greeting(&mut self, me: Role) -> io::Result<()> {
        self.inner.write_all(&MAGIC)?;
        self.inner.write_all(&[VERSION, KIND_BAOZI, me as u8])
    }

    /// Writes (but does not flush) one frame.
    pub fn send<M: Serialize + fmt::Debug>(&mut self, frame: &M) -> io::Result<()> {
        if ipc::say::verbose() {
            ipc::say::trace(">", frame);
        }
        // Length and body laid out together, so that a frame larger than the buffer goes
        // out in one write, not a 4-byte write and then the body.
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend_from_slice(&[0; 4]);
        let mut buf = postcard::serialize_with_flavor(frame, Scratch(buf))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let len = buf.len() - 4;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {len} bytes exceeds {MAX_FRAME}"),
            ));
        }
        buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
        self.inner.write_all(&buf)?;
        self.scratch = buf;
        Ok(())
    }

    /// Writes (but does not flush) one item, `Frame::Baozi { seq, payload }`, with the same
    /// bytes as [`FrameWriter::send`] but laid out by hand, and the payload never copied
    /// into a frame first: it fills what room the buffer has, and what is left over a
    /// buffer's worth goes straight to the writer.
    #[inline]
    pub fn send_baozi(&mut self, seq: u64, payload: &[u8]) -> io::Result<()> {
        if ipc::say::verbose() {
            ipc::say::trace(">", &baozi::Trace(seq, payload.len()));
        }
        let mut head: baozi::Head = [0; _];
        let n = baozi::head(seq, payload.len(), &mut head);
        let len = n - 4 + payload.len();
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {len} bytes exceeds {MAX_FRAME}"),
            ));
        }
        let room = self.inner.capacity() - self.inner.buffer().len();
        if n + payload.len() <= room {
            self.inner.write_all(&head[..n])?;
            // Small items are often empty: no call to copy nothing.
            if !payload.is_empty() {
                self.inner.write_all(payload)?;
            }
            return Ok(());
        }
        if payload.len() >= LARGE {
            // What is buffered and the header in one write, then the payload straight from
            // the caller's memory, never copied into the buffer.
            if n > room {
                self.inner.flush()?;
            }
            self.inner.write_all(&head[..n])?;
            self.inner.flush()?;
            return self.inner.get_mut().write_all(payload);
        }
        // Too large for the room left: top the buffer up and send it whole, then the rest.
        self.inner.write_all(&head[..n])?;
        let room = self.inner.capacity() - self.inner.buffer().len();
        let (now, rest) = payload.split_at(room.min(payload.len()));
        self.inner.write_all(now)?;
        self.inner.flush()?;
        self.inner.write_all(rest)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        self.inner.get_ref()
    }
}

/// postcard's output into a buffer we keep from frame to frame, a field's bytes copied
/// whole (postcard's `to_extend` goes byte by byte, and its own `Vec` flavor cannot be
/// given a buffer to reuse).
struct Scratch(Vec<u8>);

impl postcard::ser_flavors::Flavor for Scratch {
    type Output = Vec<u8>;

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// A connection after the handshake: who is at the other end, and the two framed halves.
pub struct Session {
    /// The part the peer plays. On a one-way stream (`stdio`), the part it must play.
    pub peer: Role,
    /// Where the peer is, for messages (`tcp:127.0.0.1:50312`, `local:baozi`, `stdio`).
    pub addr: String,
    /// Whether the peer can answer (everything but `stdio`).
    pub two_way: bool,
    pub rx: FrameReader<RecvHalf>,
    pub tx: FrameWriter<SendHalf>,
}

/// The one handshake of every conversation: send our greeting as `me`, read the peer's,
/// which must name one of `accept`. The peer has [`GREETING_TIMEOUT`] to greet, all of it
/// (where the transport has read timeouts: each read may wait only for what is left, so a
/// peer trickling a byte at a time is cut off too), so a stranger that waits for us to
/// speak is refused.
///
/// On a one-way stream (`stdio`) only the producer speaks: a producer writes its greeting
/// and takes the peer for a consumer; anyone else reads the producer's greeting.
pub fn handshake(conn: Conn, me: Role, accept: &[Role]) -> Result<Session, WireError> {
    let addr = conn.peer().to_owned();
    let two_way = conn.is_two_way();
    let (rx, tx) = conn.split();
    let mut tx = FrameWriter::new(tx);
    let mut rx = FrameReader::new(rx);
    let peer = if two_way {
        tx.write_greeting(me)?;
        tx.flush()?;
        let deadline = Instant::now() + GREETING_TIMEOUT;
        let peer = rx.read_greeting_by(accept, |r| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            r.set_timeout(Some(left))
        })?;
        rx.get_ref().set_timeout(None)?;
        peer
    } else if me == Role::Producer {
        tx.write_greeting(me)?;
        Role::Consumer
    } else {
        rx.read_greeting(&[Role::Producer])?
    };
    Ok(Session {
        peer,
        addr,
        two_way,
        rx,
        tx,
    })
}

/// Reads until `buf` is full or the input ends; returns how many bytes arrived.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests;
