//! The wire format of a baozi stream. Only this module knows it.
//!
//! ```text
//! greeting: "BAOZIIPC"  version:u8  kind:u8  role:u8          (11 bytes, each side sends one)
//! frame:    length:u32 little-endian  postcard(Frame)         (length <= MAX_FRAME)
//! stream:   greeting  Baozi*  End{count}     [then, two-way transports: Receipt{received}]
//! ```
//!
//! A clean end of input between frames reads as `Ok(None)`; anywhere else it is an error,
//! so a producer that dies mid-stream can never pass for one that finished.
//! Lengths are checked against [`MAX_FRAME`] before anything is allocated, and a frame's
//! body buffer grows only as bytes actually arrive.

use crate::msg::Frame;
use std::fmt;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::time::Duration;

/// The first bytes of every baozi-ipc conversation.
pub const MAGIC: [u8; 8] = *b"BAOZIIPC";
/// Bumped on any incompatible change of the greeting, the framing or [`Frame`].
pub const VERSION: u8 = 1;
/// Stream kind byte for a stream of [`Frame`]s.
const KIND_BAOZI: u8 = 1;
/// Largest `--payload` a producer may ask for.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Largest frame accepted: the largest payload plus room for the other fields.
pub const MAX_FRAME: usize = MAX_PAYLOAD + 1024;
/// Buffer size for both directions; one syscall moves many small frames.
pub const BUF_SIZE: usize = 64 << 10;

/// How long a two-way peer may take to send its greeting before it is judged not ours
/// (an HTTP server, say, waits for us to speak and never answers in kind).
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

const GREETING_LEN: usize = MAGIC.len() + 3;

/// Which end of a stream is speaking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Producer = 1,
    Consumer = 2,
}

impl Role {
    fn from_byte(b: u8) -> Option<Role> {
        match b {
            1 => Some(Role::Producer),
            2 => Some(Role::Consumer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Producer => "producer",
            Role::Consumer => "consumer",
        })
    }
}

/// What can go wrong reading a baozi stream.
#[derive(Debug)]
pub enum WireError {
    /// The first bytes are not [`MAGIC`]: some other program, or garbage.
    NotOurs { first_bytes: Vec<u8> },
    /// The peer speaks another protocol version.
    Version { peer: u8 },
    /// The peer is ours but plays the wrong part (a producer talking to a producer).
    WrongRole { peer: String, expected: Role },
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
            WireError::NotOurs { first_bytes } => {
                write!(f, "not a baozi-ipc peer (it sent")?;
                for b in first_bytes {
                    write!(f, " {b:02x}")?;
                }
                write!(f, " where \"BAOZIIPC\" was expected)")
            }
            WireError::Version { peer } => write!(
                f,
                "the peer speaks baozi-ipc protocol version {peer}, this program speaks {VERSION}"
            ),
            WireError::WrongRole { peer, expected } => {
                write!(f, "the peer is a {peer}, but a {expected} was expected")
            }
            WireError::TooLarge { len } => write!(
                f,
                "corrupt stream: a frame claims {len} bytes, over the {MAX_FRAME}-byte limit"
            ),
            WireError::Cut { during } => write!(f, "the stream was cut {during}"),
            WireError::Corrupt(e) => write!(f, "corrupt stream: a frame does not decode ({e})"),
            WireError::Io(e)
                if e.kind() == io::ErrorKind::TimedOut || e.kind() == io::ErrorKind::WouldBlock =>
            {
                write!(f, "not a baozi-ipc peer (it sent no greeting in time)")
            }
            WireError::Io(e) => write!(f, "{e}"),
        }
    }
}

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

/// Reads a greeting and then [`Frame`]s from a byte stream.
pub struct FrameReader<R: Read> {
    inner: BufReader<R>,
    body: Vec<u8>,
}

impl<R: Read> FrameReader<R> {
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner: BufReader::with_capacity(BUF_SIZE, inner),
            body: Vec::new(),
        }
    }

    /// Reads the peer's greeting and checks that it is ours and plays `expect`.
    pub fn read_greeting(&mut self, expect: Role) -> Result<(), WireError> {
        let mut g = [0u8; GREETING_LEN];
        let got = read_full(&mut self.inner, &mut g)?;
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
            (KIND_BAOZI, Some(r)) if r == expect => Ok(()),
            (KIND_BAOZI, Some(r)) => Err(WireError::WrongRole {
                peer: r.to_string(),
                expected: expect,
            }),
            _ => Err(WireError::WrongRole {
                peer: format!("peer of unknown kind {kind}/{role}"),
                expected: expect,
            }),
        }
    }

    /// The next frame, or `None` at a clean end of input between frames.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        let mut len = [0u8; 4];
        match read_full(&mut self.inner, &mut len)? {
            0 => return Ok(None),
            4 => {}
            _ => {
                return Err(WireError::Cut {
                    during: "inside a frame's length",
                });
            }
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(WireError::TooLarge { len: len as u64 });
        }
        // Fast path: the whole frame is already buffered; decode it in place.
        if self.inner.buffer().len() >= len {
            let frame = postcard::from_bytes(&self.inner.buffer()[..len]);
            self.inner.consume(len);
            return frame.map(Some).map_err(WireError::Corrupt);
        }
        self.body.clear();
        (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut self.body)?;
        if self.body.len() < len {
            return Err(WireError::Cut {
                during: "inside a frame",
            });
        }
        postcard::from_bytes(&self.body)
            .map(Some)
            .map_err(WireError::Corrupt)
    }

    /// True when more bytes are already buffered, i.e. the next frame may not need a wait.
    /// Consumers flush their output when this is false, so slow streams show live.
    pub fn has_buffered(&self) -> bool {
        !self.inner.buffer().is_empty()
    }

    /// The underlying reader, e.g. to change its timeout.
    pub fn get_ref(&self) -> &R {
        self.inner.get_ref()
    }
}

/// Writes a greeting and then [`Frame`]s to a byte stream, buffered.
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
    pub fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.scratch.clear();
        let body = postcard::to_extend(frame, std::mem::take(&mut self.scratch))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if body.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds {MAX_FRAME}", body.len()),
            ));
        }
        self.inner.write_all(&(body.len() as u32).to_le_bytes())?;
        self.inner.write_all(&body)?;
        self.scratch = body;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
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
mod tests {
    use super::*;
    use crate::msg::Baozi;
    use std::io::Cursor;

    fn bun(seq: u64, payload: usize) -> Frame {
        Frame::Baozi(Baozi {
            seq,
            producer: "p1".into(),
            pid: 7,
            payload: vec![0xab; payload],
        })
    }

    fn stream(frames: &[Frame]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = FrameWriter::new(&mut out);
            w.write_greeting(Role::Producer).unwrap();
            for f in frames {
                w.send(f).unwrap();
            }
            w.flush().unwrap();
        }
        out
    }

    #[test]
    fn round_trips_through_a_cursor() {
        let frames = vec![bun(0, 0), bun(1, 100_000), Frame::End { count: 2 }];
        let bytes = stream(&frames);
        let mut r = FrameReader::new(Cursor::new(bytes));
        r.read_greeting(Role::Producer).unwrap();
        for f in &frames {
            assert_eq!(r.next_frame().unwrap().as_ref(), Some(f));
        }
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn refuses_strangers_wrong_roles_and_versions() {
        let mut r = FrameReader::new(Cursor::new(b"HTTP/1.1 400 Bad Request\r\n".to_vec()));
        let e = r.read_greeting(Role::Producer).unwrap_err().to_string();
        assert!(e.starts_with("not a baozi-ipc peer"), "{e}");

        let mut r = FrameReader::new(Cursor::new(Vec::new()));
        let e = r.read_greeting(Role::Producer).unwrap_err().to_string();
        assert_eq!(e, "the stream was cut before anything arrived");

        let bytes = stream(&[]);
        let e = FrameReader::new(Cursor::new(bytes.clone()))
            .read_greeting(Role::Consumer)
            .unwrap_err();
        assert!(matches!(e, WireError::WrongRole { .. }), "{e}");

        let mut v2 = bytes;
        v2[8] = 2;
        let e = FrameReader::new(Cursor::new(v2))
            .read_greeting(Role::Producer)
            .unwrap_err();
        assert!(matches!(e, WireError::Version { peer: 2 }), "{e}");
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        let mut bytes = stream(&[]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut r = FrameReader::new(Cursor::new(bytes));
        r.read_greeting(Role::Producer).unwrap();
        assert!(matches!(r.next_frame(), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn a_cut_anywhere_but_between_frames_is_an_error() {
        let full = stream(&[bun(0, 10), Frame::End { count: 1 }]);
        for cut in GREETING_LEN..full.len() {
            let mut r = FrameReader::new(Cursor::new(full[..cut].to_vec()));
            r.read_greeting(Role::Producer).unwrap();
            let mut result = Ok(Some(bun(0, 0)));
            while let Ok(Some(_)) = result {
                result = r.next_frame();
            }
            // The End frame is 6 bytes: a 4-byte length, a variant tag and a one-byte count.
            let boundary = cut == GREETING_LEN || cut == full.len() - 6;
            assert_eq!(result.is_ok(), boundary, "cut at {cut}: {result:?}");
        }
    }

    #[test]
    fn a_claimed_but_missing_body_allocates_only_what_arrived() {
        let mut bytes = stream(&[]);
        bytes.extend_from_slice(&(MAX_FRAME as u32).to_le_bytes());
        bytes.extend_from_slice(&[1, 2, 3]);
        let mut r = FrameReader::new(Cursor::new(bytes));
        r.read_greeting(Role::Producer).unwrap();
        assert!(matches!(r.next_frame(), Err(WireError::Cut { .. })));
        assert!(r.body.capacity() < 1 << 16, "{}", r.body.capacity());
    }
}
