//! The one table of stream addresses: every transport a stream (the pipe, the queue, the
//! echo) can go over on this system, each row fresh and unique to the call. A test that
//! runs over every row covers every transport; a new transport is one more row here.

use crate::names::{TempDir, temp_dir, unique};

/// One row of [`stream_addresses`].
pub struct StreamAddress {
    /// The kind of address, for messages: `local`, `shm`, `unix`, `tcp v4`, `tcp v6`.
    pub kind: &'static str,
    /// The address to listen on. `tcp:` rows ask the system for a free port (`:0`): the
    /// address to connect to is the one the listener's ready line names.
    pub listen: String,
    /// The folder of a `unix:` row's socket file, removed with the row.
    _dir: Option<TempDir>,
}

/// The stream addresses of this system, one row per kind, every name and socket file fresh
/// (from [`unique`]`(tag)`):
///
/// | kind | listen on | where |
/// |---|---|---|
/// | `local` | `local:NAME` | everywhere (a named pipe on Windows) |
/// | `shm` | `shm:NAME` | Linux and Windows (rings in shared memory) |
/// | `unix` | `unix:DIR/s.sock` | Unix only: Windows has no `unix:` |
/// | `tcp v4` | `tcp:127.0.0.1:0` | everywhere |
/// | `tcp v6` | `tcp:[::1]:0` | where the machine has an IPv6 loopback (else said why) |
pub fn stream_addresses(tag: &str) -> Vec<StreamAddress> {
    let row = |kind, listen: String| StreamAddress {
        kind,
        listen,
        _dir: None,
    };
    let mut rows = vec![
        row("local", format!("local:{}", unique(tag))),
        row("shm", format!("shm:{}", unique(tag))),
    ];
    if cfg!(unix) {
        let dir = temp_dir(tag);
        rows.push(StreamAddress {
            kind: "unix",
            listen: format!("unix:{}", dir.join("s.sock").display()),
            _dir: Some(dir),
        });
    }
    rows.push(row("tcp v4", "tcp:127.0.0.1:0".into()));
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => rows.push(row("tcp v6", "tcp:[::1]:0".into())),
        Err(e) => eprintln!("no tcp v6 row: this machine has no IPv6 loopback ([::1]: {e})"),
    }
    rows
}

impl StreamAddress {
    /// Checks that `ready`, the address a listener on this row announced, is this row's:
    /// the same address, with the port the system chose where the row asked for `:0`.
    #[track_caller]
    pub fn check_ready(&self, ready: &str) {
        match self.listen.strip_suffix(":0") {
            Some(host) => {
                let port = ready.strip_prefix(host).and_then(|p| p.strip_prefix(':'));
                assert!(
                    port.is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p != 0)),
                    "{}: listening on {} announced {ready}",
                    self.kind,
                    self.listen
                );
            }
            None => assert_eq!(ready, self.listen, "{}", self.kind),
        }
    }

    /// The socket file of a `unix:` row.
    pub fn socket_file(&self) -> Option<std::path::PathBuf> {
        self.listen.strip_prefix("unix:").map(Into::into)
    }
}

impl std::fmt::Display for StreamAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.listen, self.kind)
    }
}
