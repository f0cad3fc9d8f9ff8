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
use std::io::{self, Write};

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
