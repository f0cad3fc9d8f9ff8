//! `broker --status`, both ends: the broker's answer to an observer (its live numbers, then
//! it closes), and the observer's side, which asks a running broker and prints one line.

use crate::Cli;
use crate::serve::Broker;
use common::cli::{Result, say_waiting};
use common::msg::queue::Status;
use common::wire::{self, Role, Session};
use ipc::transport;
use std::process::ExitCode;

impl Broker {
    /// An observer's conversation: one status, then the broker closes.
    pub(crate) fn observe(&self, mut s: Session) {
        let status = self.lock().queue.status();
        let _ = s.tx.send(&status).and_then(|()| s.tx.flush());
    }
}

/// `broker --status`: one observer's look at a running broker.
pub fn ask(cli: &Cli) -> Result<ExitCode> {
    let addr = cli.addresses.first().ok_or("--status needs an address")?;
    let access = cli.peers.access();
    let conn = transport::connect(addr, cli.wait, access, || {
        say_waiting("broker", addr, cli.wait);
    })?;
    let mut s = wire::handshake(conn, Role::Observer, &[Role::Broker])?;
    let st: Status =
        s.rx.next_frame()?
            .ok_or("the broker closed without giving its numbers")?;
    let expected = if st.producers_expected > 0 {
        format!(" of {} expected", st.producers_expected)
    } else {
        String::new()
    };
    ipc::say::out_line(&format!(
        "queued {} (capacity {}), leased {}, received {}, acknowledged {}, redelivered {}, dead {}; \
         producers {} connected, {} ended{expected}; consumers {}",
        st.queued,
        st.capacity,
        st.leased,
        st.received,
        st.acknowledged,
        st.redelivered,
        st.dead,
        st.producers,
        st.producers_ended,
        st.consumers
    ))?;
    Ok(ExitCode::SUCCESS)
}
