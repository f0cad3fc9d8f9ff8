//! Helpers for the integration tests that drive the real binaries as separate processes.
//! A crate of its own, a dev-dependency only, and it uses nothing of `common`: the tests
//! drive the programs from outside, as a person would.
//!
//! - [`proc`]: [`bin`] finds a workspace binary next to the test executable
//!   (`scripts/test.sh` builds them all before any test runs); [`Proc`] captures a child's
//!   output line by line, waits for a ready line with a deadline (never a fixed sleep), and
//!   on failure shows the command, status and output of every process the test started.
//!   Every check is `#[track_caller]`: a failure points at the test's line, not here.
//! - [`names`]: [`unique`] makes names no other test, or other run, uses (tests run in
//!   parallel); [`temp_dir`] a fresh folder, removed when dropped.
//! - [`addresses`]: [`stream_addresses`], the one table of stream addresses (local, unix,
//!   tcp over IPv4 and IPv6) that a test runs over to cover every transport.
//! - [`users`]: [`other_user`] gives tests that need another user one (created when root),
//!   or a printed reason to skip; [`as_other_user`] runs a program as that user.
//! - [`queue`]: the queue's consumers' lines read back ([`eaten`]), and the scenarios run
//!   against both the broker and Redis ([`three_producers_two_consumers`]).
//! - [`redis`]: a `redis-server` of a test's own ([`redis::Redis`]) and RESP to look inside.
//! - [`python`]: python3 running `python/examples/` ([`python_example`]), and the addresses
//!   `python/baozi_ipc.py` speaks ([`python_addresses`]).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod addresses;
pub mod names;
pub mod proc;
pub mod python;
pub mod queue;
pub mod redis;
pub mod users;

pub use addresses::{StreamAddress, stream_addresses};
pub use names::{TempDir, temp_dir, unique};
pub use proc::{Capture, Finished, Proc, bin, cmd, cmd_with, run, spawn_with};
pub use python::{python_addresses, python_dir, python_example};
pub use queue::{
    Item, all_eaten, broker, eaten, expect_items, local, three_producers_two_consumers,
};
#[cfg(unix)]
pub use users::for_everyone;
pub use users::{OTHER_USER, as_other_user, other_user};

/// How long any single wait in a test may take before it fails. Generous: a slow CI
/// machine (or wine) must not fail a correct program; a hang still fails.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);
