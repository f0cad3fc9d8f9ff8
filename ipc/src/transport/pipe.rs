//! Anonymous pipes: our own stdin and stdout (duplicated, so that reads and writes are
//! raw), or the write end of a child's stdin. One-way: nothing answers on them, and there
//! is nothing to listen on.

use super::{Conn, Stream};
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
struct Pipe {
    input: Option<File>,
    output: Option<File>,
}

/// This process's stdin and stdout as a connection.
pub(super) fn stdio() -> io::Result<Conn> {
    let pipe = Pipe {
        input: Some(dup(&io::stdin())?),
        output: Some(dup(&io::stdout())?),
    };
    Ok(Conn::new(Arc::new(pipe), "stdio".into()))
}

/// The write end of a child's stdin pipe, as a one-way connection to that child.
pub(super) fn to_child(child: std::process::ChildStdin) -> Conn {
    #[cfg(unix)]
    let output = File::from(std::os::fd::OwnedFd::from(child));
    #[cfg(windows)]
    let output = File::from(std::os::windows::io::OwnedHandle::from(child));
    let pipe = Pipe {
        input: None,
        output: Some(output),
    };
    Conn::new(Arc::new(pipe), "the child's stdin".into())
}

impl Stream for Pipe {
    fn read_bytes(&self, buf: &mut [u8]) -> io::Result<usize> {
        // A pipe whose writer is gone reads as end of file on Windows too: std maps
        // ERROR_BROKEN_PIPE to Ok(0).
        match &self.input {
            Some(input) => (&*input).read(buf),
            None => Ok(0),
        }
    }

    fn write_bytes(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.output {
            Some(output) => (&*output).write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush_bytes(&self) -> io::Result<()> {
        match &self.output {
            Some(output) => (&*output).flush(),
            None => Ok(()),
        }
    }

    fn set_read_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn has_half_close(&self) -> bool {
        false
    }

    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }

    fn is_two_way(&self) -> bool {
        false
    }
}

/// A raw file on a duplicate of a standard stream: no std-side buffering in the way.
#[cfg(unix)]
fn dup(s: &impl std::os::fd::AsFd) -> io::Result<File> {
    s.as_fd().try_clone_to_owned().map(File::from)
}

#[cfg(windows)]
fn dup(s: &impl std::os::windows::io::AsHandle) -> io::Result<File> {
    s.as_handle().try_clone_to_owned().map(File::from)
}
