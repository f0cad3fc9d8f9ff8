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
//! - [`serve`]: the serving scaffolding of every server: accept on many addresses, a
//!   thread per client, a client limit, a [`shutdown::Stop`] handed in.
//! - [`shutdown`]: Ctrl-C handling: raise the stop, last words, clean up what we created,
//!   exit 130.
//! - [`shm`]: the shared segment: a named memory-mapped file with a checked header, the
//!   count, worker slots, semaphore gauges, and the undo journal of the count.
//! - [`lock`]: cross-process locks that survive a killed holder: a mutex and a counting
//!   semaphore made of lock files.
//! - [`style`]: colours by role, only on a terminal, never with `NO_COLOR`.
//! - [`units`]: durations, sizes, ranges and counts as people type and read them.

pub mod addr;
pub mod cli;
pub mod echo;
pub mod lock;
pub mod msg;
pub mod serve;
pub mod shm;
pub mod shutdown;
pub mod style;
pub mod transport;
pub mod units;
pub mod wire;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use addr::Address;
