//! Lines for people, on stderr and stdout, with one policy for every program:
//!
//! - A line is written whole, in one `write` call, so that two processes sharing a terminal
//!   or a log never interleave inside a line (`eprintln!` writes its pieces one by one).
//! - A closed stderr (its reader is gone: `server 2>&1 | head`) is never fatal: the line is
//!   dropped and the program goes on, so a server keeps serving when its log reader dies.
//! - A closed stdout is the quiet end of a program's output: [`out_line`] says so with
//!   [`StdoutClosed`], which `cli::main` turns into exit 0 without a word (like ripgrep).
//!   Never a panic (`println!` panics on it).
//!
//! A leaf: it imports nothing of this crate.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Writes one line on stderr, whole; errors are ignored (see the module's policy). A
/// [`Progress`] count drawn there is erased first, so that the line starts clean.
pub fn err_line(line: &str) {
    let mut buf = String::with_capacity(line.len() + 4);
    let mut err = io::stderr().lock();
    if PROGRESS_SHOWN.swap(false, Ordering::Relaxed) {
        buf.push_str("\r\x1b[K");
    }
    buf.push_str(line);
    buf.push('\n');
    let _ = err.write_all(buf.as_bytes());
}

/// `eprintln!`, the safe way: one line on stderr, whole, never fatal.
#[macro_export]
macro_rules! elog {
    ($($arg:tt)*) => {
        $crate::say::err_line(&::std::format!($($arg)*))
    };
}

/// Writes one line on stdout, whole, and flushes it. A closed stdout is [`StdoutClosed`].
pub fn out_line(line: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    out_bytes(buf.as_bytes())
}

/// Writes bytes on stdout and flushes them. A closed stdout is [`StdoutClosed`].
pub fn out_bytes(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(Box::new(StdoutClosed)),
        Err(e) => Err(Box::new(e)),
    }
}

/// Whether an error means that stdout's reader has gone (`| head`), to be ended quietly.
pub fn is_stdout_closed(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<StdoutClosed>().is_some()
}

/// Stdout's reader has gone: the end of the output, not a failure.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// An I/O error in words for people where it is an expected event (a peer that went
/// away), not the OS's (`Connection reset by peer (os error 104)`); other errors as the
/// OS words them.
pub fn io_words(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::BrokenPipe => "the other side closed the connection".into(),
        io::ErrorKind::ConnectionReset => {
            "the connection was reset, as when a program is killed".into()
        }
        io::ErrorKind::ConnectionAborted => "the connection was aborted".into(),
        io::ErrorKind::UnexpectedEof => "the connection closed".into(),
        _ => e.to_string(),
    }
}

/// Whether stdout is a regular file (`> out`): its lines are not on the terminal, so a
/// [`Progress`] count there mixes with nothing. A pipe may end on the terminal (`| tee`).
pub fn stdout_is_a_file() -> bool {
    #[cfg(unix)]
    let owned = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned();
    #[cfg(windows)]
    let owned = std::os::windows::io::AsHandle::as_handle(&io::stdout()).try_clone_to_owned();
    owned.is_ok_and(|h| {
        std::fs::File::from(h)
            .metadata()
            .is_ok_and(|m| m.file_type().is_file())
    })
}

/// Whether a [`Progress`] count is on stderr now, to be erased before the next line.
static PROGRESS_SHOWN: AtomicBool = AtomicBool::new(false);

/// A count of work done, redrawn in place on stderr (`\r`) at most five times a second, and
/// only when stderr is a terminal: never in a pipe, a log or a test. Off, [`Progress::tick`]
/// is one branch. Callers show it only while their output does not go to the terminal;
/// any line on stderr ([`err_line`]: a Ctrl-C's, the summary) erases it first, and so does
/// [`Progress::clear`] (or drop).
pub struct Progress {
    on: bool,
    label: String,
    noun: &'static str,
    total: Option<u64>,
    next: Instant,
}

impl Progress {
    /// `label` goes before the count, `noun` after it (`consumer c1: 1200 of 4096 items`).
    pub fn new(label: impl Into<String>, noun: &'static str, total: Option<u64>) -> Progress {
        Progress::when(io::stderr().is_terminal(), label, noun, total)
    }

    /// Never shown (a caller that prints a line per item).
    pub fn off() -> Progress {
        Progress::when(false, "", "", None)
    }

    fn when(
        on: bool,
        label: impl Into<String>,
        noun: &'static str,
        total: Option<u64>,
    ) -> Progress {
        Progress {
            on,
            label: if on { label.into() } else { String::new() },
            noun,
            total,
            next: Instant::now() + Duration::from_millis(300),
        }
    }

    /// `done` items so far; redraws when the last drawing is old enough.
    #[inline]
    pub fn tick(&mut self, done: u64) {
        if self.on {
            self.draw(done);
        }
    }

    fn draw(&mut self, done: u64) {
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + Duration::from_millis(200);
        let line = match self.total {
            Some(total) if total > 0 => format!(
                "\r{}: {done} of {total} {} ({}%)\x1b[K",
                self.label,
                self.noun,
                done * 100 / total
            ),
            _ => format!("\r{}: {done} {}\x1b[K", self.label, self.noun),
        };
        let mut err = io::stderr().lock();
        PROGRESS_SHOWN.store(true, Ordering::Relaxed);
        let _ = err.write_all(line.as_bytes());
    }

    /// Erases the count, so the next line starts clean.
    pub fn clear(&mut self) {
        if self.on && PROGRESS_SHOWN.swap(false, Ordering::Relaxed) {
            let _ = io::stderr().lock().write_all(b"\r\x1b[K");
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns the trace of `-v` on: connection events and what crosses the wire, on stderr.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether `-v` is on; callers check it before building anything to trace.
#[inline]
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

thread_local! {
    /// Whom this thread talks to, for a server's trace lines (`client 3 from tcp:...`).
    static PEER: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Tags this thread's trace lines with the peer it serves (`[client 3 from tcp:...]`), so
/// that with several peers each line says whose it is. Only with `-v`.
pub fn set_peer_tag(tag: impl FnOnce() -> String) {
    if verbose() {
        PEER.with_borrow_mut(|p| *p = Some(tag()));
    }
}

/// One trace line of `-v`, like `socat -v`: `> what` for what we sent, `< what` for what we
/// received, `* what` for a connection event; after the peer's tag on a thread that has
/// one. `what` is shown with `Debug` (the messages' own: `Take ack=3 want=10`), cut at
/// about 160 characters, at a space (formatting stops there, so a 1 MiB payload costs
/// little).
pub fn trace(dir: &str, what: &dyn fmt::Debug) {
    struct Cap(String, usize);
    impl fmt::Write for Cap {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = self.1.saturating_sub(self.0.len());
            if s.len() <= room {
                self.0.push_str(s);
                Ok(())
            } else {
                let cut = (0..=room)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                self.0.push_str(&s[..cut]);
                // End at a word, not inside one.
                if let Some(space) = self.0.rfind(' ').filter(|&i| i > self.1 / 2) {
                    self.0.truncate(space);
                }
                self.0.push_str(" ...");
                Err(fmt::Error)
            }
        }
    }
    let start = PEER.with_borrow(|p| match p {
        Some(tag) => format!("[{tag}] {dir} "),
        None => format!("{dir} "),
    });
    let cap = start.len() + 160;
    let mut line = Cap(start, cap);
    let _ = fmt::Write::write_fmt(&mut line, format_args!("{what:?}"));
    err_line(&line.0);
}

/// A connection event for `-v` (`* connected to tcp:127.0.0.1:9000`).
pub fn trace_event(what: fmt::Arguments<'_>) {
    if verbose() {
        trace("*", &format_args!("{what}"));
    }
}
