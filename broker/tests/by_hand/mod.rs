//! A queue client made by hand, for what the programs never do (a peer that greets and then
//! says no name, a consumer that never acknowledges): the real connect and handshake over
//! the real mechanism, then whatever frames the test writes.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test
#![allow(dead_code)] // each test file that includes it uses a part

use common::msg::queue::{Admission, Request};
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

/// A consumer named `name`, welcomed by the broker at `addr`, that has asked for nothing yet.
pub fn consumer(addr: &str, name: &str) -> wire::Session {
    let mut s = session(addr, Role::Consumer);
    s.tx.send(&Request::Hello {
        name: name.into(),
        pid: 1,
    })
    .unwrap();
    s.tx.flush().unwrap();
    let welcome = s.rx.next_frame::<Admission>().unwrap().unwrap();
    assert!(matches!(welcome, Admission::Welcome { .. }), "{welcome:?}");
    s
}
