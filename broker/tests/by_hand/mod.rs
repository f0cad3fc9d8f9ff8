//! A queue client made by hand, for what the programs never do (a peer that greets and then
//! says no name, a consumer that never acknowledges): the real connect and handshake over
//! the real mechanism, then whatever frames the test writes.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use common::wire::{self, Role};
use std::time::Duration;

/// A session with the broker at `addr`, greeted as `role`.
pub fn session(addr: &str, role: Role) -> wire::Session {
    let addr: ipc::Address = addr.parse().unwrap();
    let conn = ipc::transport::connect(
        &addr,
        Duration::from_secs(10),
        ipc::transport::Access::OwnUser,
        || {},
    )
    .unwrap();
    wire::handshake(conn, role, &[Role::Broker]).unwrap()
}
