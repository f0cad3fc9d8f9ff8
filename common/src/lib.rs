//! What the baozi-ipc programs share above the mechanisms: the protocols and the programs'
//! shared top.
//!
//! - [`msg`]: the message types, and only here.
//! - [`wire`]: the wire format, and only here: greeting, length-prefixed postcard frames.
//! - [`echo`]: the echo line protocol of the socket section, and only here: bounded line
//!   reading that keeps each line's ending, replies, notices.
//! - [`cli`]: options shared by several binaries, value parsers, and the `main` wrapper
//!   that turns errors into one line on stderr and an exit code.
//! - [`serve`]: the serving scaffolding of every server: accept on many addresses, a
//!   thread per client, a client limit, a [`shutdown::Stop`] handed in.
//! - [`style`]: colours by role, only on a terminal, never with `NO_COLOR`.
//! - [`svg`]: the pictures' drawing board: shapes, escaped text, a time axis.
//!
//! The mechanisms (addresses, transports, segments, locks, Ctrl-C, lines for people,
//! units) are the crate below, `ipc`.

pub mod cli;
pub mod echo;
pub mod msg;
pub mod serve;
pub mod style;
pub mod svg;
pub mod wire;

/// The error type of the layers that report to people as one line (the binaries' `run`):
/// anything, shown with its sources.
pub use ipc::Error;
