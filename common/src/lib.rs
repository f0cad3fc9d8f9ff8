//! What every baozi-ipc binary shares.
//!
//! - [`addr`]: the one address grammar (`stdio`, `local:NAME`, `unix:PATH`, `tcp:HOST:PORT`,
//!   `udp:HOST:PORT`).
//! - [`transport`]: connecting (with `--wait` retries) and listening on any address.
//! - [`msg`]: the message types, and only here.
//! - [`wire`]: the wire format, and only here: greeting, length-prefixed postcard frames.
//! - [`echo`]: the echo line protocol of the socket section, and only here: bounded line
//!   reading that keeps each line's ending, replies, notices.
//! - [`cli`]: options shared by several binaries, value parsers, and the `main` wrapper
//!   that turns errors into one line on stderr and an exit code.
//! - [`shutdown`]: Ctrl-C handling: clean up what we created, exit 130.
//! - [`style`]: colours by role, only on a terminal, never with `NO_COLOR`.

pub mod addr;
pub mod cli;
pub mod echo;
pub mod msg;
pub mod shutdown;
pub mod style;
pub mod transport;
pub mod wire;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use addr::Address;
