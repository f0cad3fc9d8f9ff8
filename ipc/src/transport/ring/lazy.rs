//! A listener's `shm:` connection before its memory is handed over: accepting only takes
//! the rendezvous connection, and the handover (reading the peer's memory and checking it)
//! happens at the stream's first use, on the thread that serves it. So a connection that
//! never hands anything over holds up that thread alone, not the accepting one, as a
//! silent peer does over every other transport (ARCHITECTURE.md: a silent peer holds up no
//! other). Who the peer is needs no handover (the rendezvous says), so a listener can
//! refuse another user's connection before touching what it sent.

use super::lock;
use crate::transport::Stream;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What a listener's platform gives for a connection not yet handed its memory.
pub(super) trait Handover: fmt::Debug + Send {
    /// Who the peer is, if another user (see `Stream::other_user`), from the rendezvous.
    fn other_user(&self) -> io::Result<Option<String>>;
    /// Takes the memory the peer hands over, and makes the stream.
    fn take(self: Box<Self>) -> io::Result<Arc<dyn Stream>>;
}

#[derive(Debug)]
enum Pending {
    /// Not used yet; the timeouts asked for meanwhile.
    Waiting {
        handover: Box<dyn Handover>,
        read: Option<Duration>,
        write: Option<Duration>,
    },
    /// The handover failed: every use says why.
    Failed(io::ErrorKind, String),
    /// Shut down before its first use (the rendezvous is closed with the handover).
    Shut,
    /// Handed over: the stream is set.
    Taken,
}

/// A listener's connection, handed its memory at its first use.
#[derive(Debug)]
pub(super) struct Lazy {
    pending: Mutex<Pending>,
    stream: OnceLock<Arc<dyn Stream>>,
}

impl Lazy {
    pub(super) fn new(handover: Box<dyn Handover>) -> Lazy {
        Lazy {
            pending: Mutex::new(Pending::Waiting {
                handover,
                read: None,
                write: None,
            }),
            stream: OnceLock::new(),
        }
    }

    /// The stream, handed over now if it was not yet.
    fn get(&self) -> io::Result<&Arc<dyn Stream>> {
        if let Some(s) = self.stream.get() {
            return Ok(s);
        }
        let mut pending = lock(&self.pending);
        if let Some(s) = self.stream.get() {
            return Ok(s);
        }
        match std::mem::replace(&mut *pending, Pending::Taken) {
            Pending::Waiting {
                handover,
                read,
                write,
            } => match handover.take() {
                Ok(s) => {
                    s.set_read_timeout(read)?;
                    s.set_write_timeout(write)?;
                    Ok(self.stream.get_or_init(|| s))
                }
                Err(e) => {
                    *pending = Pending::Failed(e.kind(), e.to_string());
                    Err(e)
                }
            },
            Pending::Failed(kind, why) => {
                let e = io::Error::new(kind, why.clone());
                *pending = Pending::Failed(kind, why);
                Err(e)
            }
            Pending::Shut => {
                *pending = Pending::Shut;
                Err(io::ErrorKind::NotConnected.into())
            }
            Pending::Taken => Err(io::Error::other("shm: a handover that left no stream")),
        }
    }

    fn is_shut(&self) -> bool {
        matches!(*lock(&self.pending), Pending::Shut)
    }
}

impl Stream for Lazy {
    fn read_bytes(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.get() {
            Ok(s) => s.read_bytes(buf),
            Err(_) if self.is_shut() => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn write_bytes(&self, buf: &[u8]) -> io::Result<usize> {
        match self.get() {
            Ok(s) => s.write_bytes(buf),
            Err(_) if self.is_shut() => Err(io::ErrorKind::BrokenPipe.into()),
            Err(e) => Err(e),
        }
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_timeout(t, true)
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.set_timeout(t, false)
    }

    fn has_half_close(&self) -> bool {
        true
    }

    /// Not yet handed over: nothing to tell by (the peer's going ends the handover).
    fn peer_closed(&self) -> bool {
        self.stream.get().is_some_and(|s| s.peer_closed())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.get()?.shutdown_write()
    }

    fn can_shut_down(&self) -> bool {
        true
    }

    /// Before the handover: drops it (closing the rendezvous, which the peer sees), so
    /// reads end and writes fail, as on a socket shut down both ways.
    fn shutdown_both(&self) -> io::Result<()> {
        if let Some(s) = self.stream.get() {
            return s.shutdown_both();
        }
        let mut pending = lock(&self.pending);
        match self.stream.get() {
            Some(s) => s.shutdown_both(),
            None => {
                if matches!(*pending, Pending::Waiting { .. }) {
                    *pending = Pending::Shut;
                }
                Ok(())
            }
        }
    }

    fn other_user(&self) -> io::Result<Option<String>> {
        if let Some(s) = self.stream.get() {
            return s.other_user();
        }
        match &*lock(&self.pending) {
            Pending::Waiting { handover, .. } => handover.other_user(),
            _ => match self.stream.get() {
                Some(s) => s.other_user(),
                None => Ok(None),
            },
        }
    }
}

impl Lazy {
    fn set_timeout(&self, t: Option<Duration>, read: bool) -> io::Result<()> {
        if let Some(s) = self.stream.get() {
            return if read {
                s.set_read_timeout(t)
            } else {
                s.set_write_timeout(t)
            };
        }
        if t.is_some_and(|t| t.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a zero timeout is not a timeout",
            ));
        }
        let mut pending = lock(&self.pending);
        match (&mut *pending, self.stream.get()) {
            (_, Some(s)) if read => s.set_read_timeout(t),
            (_, Some(s)) => s.set_write_timeout(t),
            (Pending::Waiting { read: r, .. }, None) if read => {
                *r = t;
                Ok(())
            }
            (Pending::Waiting { write: w, .. }, None) => {
                *w = t;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
