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

/// Writes one line on stderr, whole; errors are ignored (see the module's policy).
pub fn err_line(line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let _ = io::stderr().lock().write_all(buf.as_bytes());
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

/// A count of work done, redrawn in place on stderr (`\r`) at most five times a second, and
/// only when stderr is a terminal: never in a pipe, a log or a test. Off, [`Progress::tick`]
/// is one branch. Used only where nothing else writes on stderr during the work (lines
/// would land after the count); [`Progress::clear`] (or drop) erases it before the summary.
pub struct Progress {
    on: bool,
    label: String,
    noun: &'static str,
    total: Option<u64>,
    next: Instant,
    shown: bool,
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
            shown: false,
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
        self.shown = true;
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }

    /// Erases the count, so the next line starts clean.
    pub fn clear(&mut self) {
        if self.shown {
            self.shown = false;
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

/// One trace line of `-v`, like `socat -v`: `> what` for what we sent, `< what` for what we
/// received, `* what` for a connection event. `what` is shown with `Debug`, cut at 160
/// characters (formatting stops there, so a 1 MiB payload costs little).
pub fn trace(dir: &str, what: &dyn fmt::Debug) {
    struct Cap(String);
    impl fmt::Write for Cap {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = 160usize.saturating_sub(self.0.len());
            if s.len() <= room {
                self.0.push_str(s);
                Ok(())
            } else {
                let cut = (0..=room)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                self.0.push_str(&s[..cut]);
                self.0.push_str("...");
                Err(fmt::Error)
            }
        }
    }
    let mut line = Cap(format!("{dir} "));
    let _ = fmt::Write::write_fmt(&mut line, format_args!("{what:?}"));
    err_line(&line.0);
}

/// A connection event for `-v` (`* connected to tcp:127.0.0.1:9000`).
pub fn trace_event(what: fmt::Arguments<'_>) {
    if verbose() {
        err_line(&format!("* {what}"));
    }
}
