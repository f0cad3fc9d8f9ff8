//! The echo line protocol of the socket section (server and client), and only here.
//!
//! ```text
//! client -> server:  MESSAGE*         a message: a line, any bytes up to and including "\n"
//!                                      (so "\r\n" too); or, without a newline, what
//!                                      arrived before the client paused (`--pause`) or
//!                                      half-closed (on a datagram: the datagram)
//! server -> client:  PREFIX MESSAGE   per message, exactly as received, ending included
//!                    NOTICE WHY "\n"  once, when the server refuses or gives up; then it closes
//! ```
//!
//! The pause is what makes the tutorial's `client.py` work: it sends `hello` with no
//! newline and waits in one `recv(1024)`, and the tutorial's server answers whatever its one
//! `recv` returned. Here a line is still the unit for `nc`, `socat` and people typing (a
//! terminal sends a whole line at once), and an unfinished line is answered as it is once
//! nothing more came for the pause.
//!
//! Bytes, not text: nothing here assumes UTF-8. A message is read into a buffer that never
//! grows beyond the line limit, so a client that sends megabytes without a newline costs the
//! server `max_line` bytes, not megabytes, pause or not.

use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The tutorial's prefix: `test: LINE`.
pub const DEFAULT_PREFIX: &str = "test: ";
/// The longest `--prefix`, so a client can bound the length of a reply.
pub const MAX_PREFIX: usize = 1024;
/// The default `--max-line`: the longest line, not counting its ending.
pub const DEFAULT_MAX_LINE: usize = 64 << 10;
/// The largest UDP datagram that can be sent everywhere (65,507 bytes of payload over IPv4;
/// IPv6 allows 65,527): a datagram reply never exceeds it.
pub const MAX_DATAGRAM: usize = 65_507;
/// A receive buffer larger than any UDP datagram (the server's and the client's).
pub const DATAGRAM_BUF: usize = 64 << 10;
/// The largest `--max-line` anyone may ask for.
pub const MAX_MAX_LINE: usize = 64 << 20;
/// How a server's notice line starts (then why, then "\n"); it closes the connection after.
pub const NOTICE: &str = "server: error: ";
/// After a notice, how long a server keeps discarding what a client still sends, so that the
/// notice is read before the connection closes (closing with unread input would reset it).
pub const FAREWELL_DRAIN: Duration = Duration::from_secs(1);

/// `--max-line` value parser: a size from 1 byte to [`MAX_MAX_LINE`].
pub fn parse_max_line(s: &str) -> Result<usize, String> {
    let n = ipc::units::parse_size(s)?;
    if n == 0 || n > MAX_MAX_LINE {
        return Err(format!(
            "a line limit must be from 1 byte to {}",
            ipc::units::show_bytes(MAX_MAX_LINE as u64)
        ));
    }
    Ok(n)
}

/// `--prefix` value parser: at most [`MAX_PREFIX`] bytes, no newline (it would split replies).
pub fn parse_prefix(s: &str) -> Result<String, String> {
    if s.len() > MAX_PREFIX {
        return Err(format!("a prefix can be at most {MAX_PREFIX} bytes"));
    }
    if s.contains('\n') {
        return Err("a prefix cannot contain a newline".into());
    }
    Ok(s.to_owned())
}

/// Writes the reply to `line` (ending included): `prefix` then the line as it came.
pub fn write_reply(w: &mut impl Write, prefix: &[u8], line: &[u8]) -> io::Result<()> {
    w.write_all(prefix)?;
    w.write_all(line)
}

/// The notice line a server sends before it closes a connection: `server: error: WHY\n`.
pub fn notice(why: &str) -> Vec<u8> {
    format!("{NOTICE}{why}\n").into_bytes()
}

/// If `reply` is a server's notice rather than the echo of `sent`, the reason it gives.
pub fn notice_in(reply: &[u8], sent: &[u8]) -> Option<String> {
    let why = reply.strip_prefix(NOTICE.as_bytes())?;
    // Escaped: a peer's words never reach the terminal as control characters.
    (!is_echo_of(reply, sent)).then(|| ipc::units::escape(&String::from_utf8_lossy(content(why))))
}

/// Whether `reply` answers `sent`: it ends with the line as sent (after any prefix).
pub fn is_echo_of(reply: &[u8], sent: &[u8]) -> bool {
    reply.ends_with(sent)
}

/// A line without its ending (`"\n"` or `"\r\n"`).
pub fn content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// See [`LineReader::with_timeouts`].
type SetTimeout<R> = Box<dyn FnMut(&R, Option<Duration>) -> io::Result<()> + Send>;

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// A line (not counting its ending) is longer than the limit; nothing more was read.
    TooLong { limit: usize },
    /// Nothing arrived within the read timeout set on the stream.
    TimedOut,
    /// The stream failed.
    Io(io::Error),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::TooLong { limit } => write!(
                f,
                "a line longer than {} (--max-line)",
                ipc::units::show_bytes(*limit as u64)
            ),
            LineError::TimedOut => f.write_str("nothing arrived in time"),
            LineError::Io(e) => e.fmt(f),
        }
    }
}

/// Its `Display` already shows the I/O error (the one rule: a `Display` shows its cause or
/// `source()` returns it, never both), so there is no `source()`.
impl std::error::Error for LineError {}

/// Whether a read error means "the read timeout ran out" (Unix says would-block, Windows
/// says timed out).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// First size of a line buffer; it grows (up to the limit) only for longer lines.
const START_BUF: usize = 8 << 10;

/// Reads lines of bytes, keeping each line's ending as it came, with a bounded buffer.
///
/// The buffer holds at most `max_line + 2` bytes (a longest line and its `"\r\n"`), so it
/// never holds more than one line's worth whatever the peer sends; a longer line is an error
/// found before reading past the limit.
pub struct LineReader<R> {
    inner: R,
    /// Since when we have been waiting for the rest of the unfinished line now buffered
    /// (none: no such line, or not waited for yet).
    partial_since: Option<Instant>,
    /// Sets the read timeout of `inner` (see [`LineReader::with_timeouts`]); the last value
    /// set, so an unchanged one costs no system call.
    set_timeout: Option<SetTimeout<R>>,
    timeout_set: Option<Duration>,
    /// A whole line must arrive within this (and the first byte of one, too).
    idle: Option<Duration>,
    /// An unfinished line is a message of its own after this long without more bytes.
    pause: Option<Duration>,
    /// The last read timed out on the pause: the unfinished line is the next message.
    paused: bool,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// `buf[start..scanned]` has no newline (or `scanned` is the index of one).
    scanned: usize,
    max_line: usize,
    eof: bool,
}

impl<R: Read> LineReader<R> {
    /// Reads lines from `inner`; a line's content may be up to `max_line` bytes.
    pub fn new(inner: R, max_line: usize) -> LineReader<R> {
        LineReader {
            inner,
            partial_since: None,
            set_timeout: None,
            timeout_set: None,
            idle: None,
            pause: None,
            paused: false,
            buf: vec![0; START_BUF.min(max_line + 2)],
            start: 0,
            end: 0,
            scanned: 0,
            max_line,
            eof: false,
        }
    }

    /// Bounds the waits, with `set_timeout(inner, t)` setting the read timeout of `inner`
    /// (`None`: block), called only when the timeout needed changes:
    /// - `idle`: a whole line, counted from when its first byte was awaited, must arrive
    ///   within it, and so must the first byte of the next; else [`LineError::TimedOut`].
    /// - `pause`: an unfinished line is returned as it is, as a message, once no more bytes
    ///   came for this long (the tutorial's server answers whatever one `recv` returned).
    ///
    /// Where the stream has no timeouts (`set_timeout` says `Ok` and ignores it), reads just
    /// block: a message is then a line, or the last bytes before the end of the stream.
    pub fn with_timeouts(
        mut self,
        idle: Option<Duration>,
        pause: Option<Duration>,
        set_timeout: impl FnMut(&R, Option<Duration>) -> io::Result<()> + Send + 'static,
    ) -> Self {
        self.idle = idle.filter(|t| !t.is_zero());
        self.pause = pause.filter(|t| !t.is_zero());
        self.set_timeout = Some(Box::new(set_timeout));
        self
    }

    /// Since when the rest of an unfinished line has been awaited, if one is buffered.
    pub fn partial_since(&self) -> Option<Instant> {
        self.partial_since
    }

    /// The next line, ending included (the last line of the stream may have none); `None`
    /// at the end of the stream. After an error, do not read on.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        loop {
            if let Some(nl) = self.find_newline() {
                let line = self.start..nl + 1;
                self.start = nl + 1;
                self.scanned = self.start;
                // The next line's clock starts when we next wait for its rest (see fill), not
                // now: the time spent answering this one is not the client's.
                self.partial_since = None;
                if content(&self.buf[line.clone()]).len() > self.max_line {
                    return Err(LineError::TooLong {
                        limit: self.max_line,
                    });
                }
                return Ok(Some(&self.buf[line]));
            }
            let pending = &self.buf[self.start..self.end];
            let so_far = pending.len() - usize::from(pending.ends_with(b"\r"));
            if so_far > self.max_line {
                return Err(LineError::TooLong {
                    limit: self.max_line,
                });
            }
            let paused = std::mem::take(&mut self.paused);
            if self.eof || paused {
                if self.start == self.end {
                    return Ok(None);
                }
                let line = self.start..self.end;
                self.start = self.end;
                self.scanned = self.end;
                self.partial_since = None;
                return Ok(Some(&self.buf[line]));
            }
            self.fill()?;
        }
    }

    /// Whether a whole line is already buffered, so [`LineReader::next_line`] will not block.
    /// Callers that batch their output flush it when this is false.
    pub fn has_line(&mut self) -> bool {
        self.find_newline().is_some() || (self.eof && self.start < self.end)
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream underneath, and any bytes buffered but not yet returned are dropped.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Bytes of buffer in use now (for tests of the bound).
    pub fn buffer_size(&self) -> usize {
        self.buf.len()
    }

    fn find_newline(&mut self) -> Option<usize> {
        let from = self.scanned.max(self.start);
        match self.buf[from..self.end].iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.scanned = from + i;
                Some(from + i)
            }
            None => {
                self.scanned = self.end;
                None
            }
        }
    }

    /// Reads more bytes after the unread ones; sets `eof` at the end of the stream.
    fn fill(&mut self) -> Result<(), LineError> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Room for one more byte at least: the unread bytes are at most
            // max_line + 1 (checked before every fill).
            let grown = (self.buf.len() * 2).min(self.max_line + 2);
            self.buf.resize(grown, 0);
        }
        let partial = self.start < self.end;
        if partial && self.partial_since.is_none() {
            self.partial_since = Some(Instant::now());
        }
        loop {
            let pausing = self.wait_before_read(partial)?;
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) && pausing => {
                    self.paused = true;
                    return Ok(());
                }
                Err(e) if is_timeout(&e) => return Err(LineError::TimedOut),
                Err(e) => return Err(LineError::Io(e)),
            }
        }
    }

    /// Sets the read timeout the next read needs (see [`LineReader::with_timeouts`]), and
    /// says whether it is the pause's: a timeout then ends the unfinished line.
    fn wait_before_read(&mut self, partial: bool) -> Result<bool, LineError> {
        let Some(set) = &mut self.set_timeout else {
            return Ok(false);
        };
        let idle_left = match (self.idle, self.partial_since) {
            (Some(t), Some(since)) => Some(t.saturating_sub(since.elapsed())),
            (idle, _) => idle,
        };
        if idle_left.is_some_and(|t| t.is_zero()) {
            return Err(LineError::TimedOut);
        }
        let pause = self.pause.filter(|_| partial);
        let (wait, pausing) = match (idle_left, pause) {
            (Some(i), Some(p)) if p < i => (Some(p), true),
            (None, Some(p)) => (Some(p), true),
            (i, _) => (i, false),
        };
        if wait != self.timeout_set {
            set(&self.inner, wait).map_err(|e| {
                if is_timeout(&e) {
                    LineError::TimedOut
                } else {
                    LineError::Io(e)
                }
            })?;
            self.timeout_set = wait;
        }
        Ok(pausing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes `step` at a time.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        reads: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(data: &[u8], step: usize, max: usize) -> Result<Vec<Vec<u8>>, String> {
        let mut r = LineReader::new(
            Trickle {
                data,
                step,
                reads: 0,
            },
            max,
        );
        let mut out = Vec::new();
        loop {
            match r.next_line() {
                Ok(Some(l)) => out.push(l.to_vec()),
                Ok(None) => return Ok(out),
                Err(e) => return Err(format!("{e} after {} lines", out.len())),
            }
        }
    }

    #[test]
    fn endings_come_back_as_sent_whatever_the_read_sizes() {
        let data = b"one\ntwo\r\n\n\r\nlast without newline";
        let want: Vec<&[u8]> = vec![
            b"one\n",
            b"two\r\n",
            b"\n",
            b"\r\n",
            b"last without newline",
        ];
        for step in [1, 2, 3, 7, 4096] {
            assert_eq!(lines(data, step, 100).unwrap(), want, "step {step}");
        }
        assert_eq!(lines(b"", 1, 10).unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"x\n", 1, 10).unwrap(), vec![b"x\n".to_vec()]);
    }

    #[test]
    fn bytes_are_not_assumed_to_be_text() {
        let data = b"\xff\xfe\x00bad utf-8\n\x80\n";
        assert_eq!(
            lines(data, 5, 100).unwrap(),
            vec![b"\xff\xfe\x00bad utf-8\n".to_vec(), b"\x80\n".to_vec()]
        );
    }

    #[test]
    fn the_limit_is_exact_and_excludes_the_ending() {
        for step in [1, 3, 4096] {
            assert!(lines(b"12345\r\n", step, 5).is_ok());
            assert!(lines(b"12345\n", step, 5).is_ok());
            assert!(lines(b"12345", step, 5).is_ok());
            assert!(lines(b"12345\r", step, 5).is_ok());
            let e = lines(b"ok\n123456\n", step, 5).unwrap_err();
            assert!(
                e.contains("longer than 5 B") && e.ends_with("after 1 lines"),
                "{e}"
            );
            assert!(lines(b"123456", step, 5).is_err());
        }
    }

    #[test]
    fn a_huge_line_is_refused_without_buffering_it() {
        let huge = vec![b'x'; 8 << 20];
        let mut r = LineReader::new(
            Trickle {
                data: &huge,
                step: 1 << 20,
                reads: 0,
            },
            1000,
        );
        assert!(matches!(
            r.next_line(),
            Err(LineError::TooLong { limit: 1000 })
        ));
        assert!(r.buffer_size() <= 1002, "{}", r.buffer_size());
        assert!(r.get_ref().reads <= 2, "read {} times", r.get_ref().reads);
    }

    #[test]
    fn has_line_says_when_a_read_would_be_needed() {
        let mut r = LineReader::new(
            Trickle {
                data: b"a\nb\nc",
                step: 100,
                reads: 0,
            },
            10,
        );
        assert!(!r.has_line());
        assert_eq!(r.next_line().unwrap(), Some(&b"a\n"[..]));
        assert!(r.has_line());
        assert_eq!(r.next_line().unwrap(), Some(&b"b\n"[..]));
        assert!(
            !r.has_line(),
            "'c' is not a whole line until the end of the stream"
        );
        assert_eq!(r.next_line().unwrap(), Some(&b"c"[..]));
        assert_eq!(r.next_line().unwrap(), None);
    }

    /// A stream scripted as reads: `Some(bytes)` arrives, `None` is a read that times out.
    struct Script {
        reads: std::collections::VecDeque<Option<&'static [u8]>>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.reads.pop_front() {
                Some(Some(bytes)) => {
                    buf[..bytes.len()].copy_from_slice(bytes);
                    Ok(bytes.len())
                }
                Some(None) => Err(io::ErrorKind::WouldBlock.into()),
                None => Ok(0),
            }
        }
    }

    /// What `next_line` gave, each as bytes or an error's words.
    type Got = Vec<Result<Vec<u8>, String>>;

    /// The messages read from `reads` with these waits, and the timeouts that were set.
    fn messages(
        reads: &[Option<&'static [u8]>],
        idle: Option<Duration>,
        pause: Option<Duration>,
        max: usize,
    ) -> (Got, Vec<Option<Duration>>) {
        let set = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&set);
        let mut r = LineReader::new(
            Script {
                reads: reads.iter().copied().collect(),
            },
            max,
        )
        .with_timeouts(idle, pause, move |_, t| {
            log.lock().unwrap().push(t);
            Ok(())
        });
        let mut out = Vec::new();
        loop {
            match r.next_line() {
                Ok(Some(m)) => out.push(Ok(m.to_vec())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e.to_string()));
                    break;
                }
            }
        }
        let set = set.lock().unwrap().clone();
        (out, set)
    }

    const MS200: Option<Duration> = Some(Duration::from_millis(200));

    #[test]
    fn an_unfinished_line_is_a_message_once_the_client_pauses() {
        // The tutorial's client: "hello", no newline, then it waits.
        let (got, set) = messages(
            &[Some(b"hello"), None, Some(b"a\nb"), Some(b"c\n")],
            None,
            MS200,
            100,
        );
        let want: Got = vec![
            Ok(b"hello".to_vec()),
            Ok(b"a\n".to_vec()),
            Ok(b"bc\n".to_vec()),
        ];
        assert_eq!(got, want);
        // No timeout while no line is unfinished; the pause only while one is, and each
        // change costs one call.
        assert_eq!(set, vec![MS200, None, MS200, None]);
    }

    #[test]
    fn without_a_pause_a_message_is_a_line() {
        let (got, set) = messages(&[Some(b"hel"), Some(b"lo\n")], None, None, 100);
        assert_eq!(got, vec![Ok(b"hello\n".to_vec())]);
        assert!(set.is_empty(), "{set:?}");
        let (got, _) = messages(&[Some(b"hel"), None], None, None, 100);
        assert_eq!(got, vec![Err("nothing arrived in time".to_owned())]);
    }

    #[test]
    fn a_trickle_without_pauses_is_still_bounded_by_the_line_limit() {
        let (got, _) = messages(&[Some(b"abc"), Some(b"def"), Some(b"g")], None, MS200, 5);
        assert_eq!(
            got,
            vec![Err("a line longer than 5 B (--max-line)".to_owned())]
        );
    }

    #[test]
    fn the_idle_timeout_wins_when_it_is_shorter_than_the_pause() {
        let short = Some(Duration::from_millis(50));
        let (got, set) = messages(&[Some(b"hel"), None], short, MS200, 100);
        assert_eq!(got, vec![Err("nothing arrived in time".to_owned())]);
        assert!(set[1].unwrap() <= Duration::from_millis(50), "{set:?}");
        // And the pause wins when it is shorter.
        let long = Some(Duration::from_secs(60));
        let (got, _) = messages(&[Some(b"hel"), None, Some(b"x\n")], long, MS200, 100);
        assert_eq!(got, vec![Ok(b"hel".to_vec()), Ok(b"x\n".to_vec())]);
    }

    #[test]
    fn replies_and_notices() {
        let mut out = Vec::new();
        write_reply(&mut out, b"test: ", b"hi\r\n").unwrap();
        assert_eq!(out, b"test: hi\r\n");
        assert!(is_echo_of(&out, b"hi\r\n"));
        assert_eq!(notice_in(&out, b"hi\r\n"), None);
        let n = notice("busy");
        assert_eq!(n, b"server: error: busy\n");
        assert_eq!(notice_in(&n, b"hi\n").as_deref(), Some("busy"));
        // An echo that happens to look like a notice is still an echo.
        assert_eq!(
            notice_in(b"server: error: x\n", b"server: error: x\n"),
            None
        );
        assert_eq!(content(b"a\r\n"), b"a");
        assert_eq!(content(b"a"), b"a");
    }

    #[test]
    fn option_parsers() {
        assert_eq!(parse_max_line("64KiB"), Ok(65536));
        assert!(parse_max_line("0").is_err());
        assert!(parse_max_line("1GiB").is_err());
        assert_eq!(parse_prefix("").as_deref(), Ok(""));
        assert!(parse_prefix("a\nb").is_err());
        assert!(parse_prefix(&"x".repeat(MAX_PREFIX + 1)).is_err());
    }
}
