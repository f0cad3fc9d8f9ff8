//! `broker --status`, both ends: the broker's answer to an observer (its live numbers, then
//! it closes), and the observer's side, which asks a running broker and prints one line.

use crate::Cli;
use crate::serve::Broker;
use common::cli::{Result, say_waiting};
use common::msg::queue::{Admission, Status};
use common::wire::{self, Role, Session};
use ipc::transport::{self, TransportError};
use std::process::ExitCode;

impl Broker {
    /// An observer's conversation: one status, then the broker closes.
    pub(crate) fn observe(&self, mut s: Session) {
        let status = {
            let st = self.lock();
            let mut status = st.queue.status();
            // A producer held back by a full queue is not read until room comes, so its
            // going would show only then: ask its connection now. One known to have gone
            // counts as cut short already (what it sent before still comes in as room
            // frees, and it ends cut short then). Known at once over Unix sockets, shm:
            // and named pipes (its process ended); over TCP only once its last bytes are
            // read.
            let gone = st.held.iter().filter(|(_, p)| p.peer_closed()).count() as u64;
            let gone = gone.min(status.producers);
            status.producers -= gone;
            status.producers_ended += gone;
            status.producers_cut += gone;
            status
        };
        let welcome = Admission::Welcome {
            capacity: self.capacity,
        };
        let _ =
            s.tx.send(&welcome)
                .and_then(|()| s.tx.send(&status))
                .and_then(|()| s.tx.flush());
    }
}

/// `broker --status`: one observer's look at a running broker.
pub fn ask(cli: &Cli) -> Result<ExitCode> {
    let addr = cli.addresses.first().ok_or("--status needs an address")?;
    let access = cli.peers.access();
    let wait = cli.wait.unwrap_or_default();
    let conn = transport::connect(addr, wait, access, || say_waiting("broker", addr, wait))
        .map_err(|e| match e {
            TransportError::NothingThere { .. } if cli.wait.is_none() => {
                format!("no broker listens at {addr} (--wait 10s keeps asking while one starts)")
            }
            e => e.to_string(),
        })?;
    let mut s = wire::handshake(conn, Role::Observer, &[Role::Broker])?;
    match s.rx.next_frame::<Admission>()? {
        Some(Admission::Welcome { .. }) => {}
        Some(Admission::Refused { why }) => return Err(format!("the broker refused: {why}").into()),
        None => return Err("the broker closed without giving its numbers".into()),
    }
    let st: Status =
        s.rx.next_frame()?
            .ok_or("the broker closed without giving its numbers")?;
    let expected = if st.producers_expected > 0 {
        format!(" of {} expected", st.producers_expected)
    } else {
        String::new()
    };
    // Ended whole, or cut short (stopped, killed, broken): never counted twice.
    let cut = if st.producers_cut > 0 {
        format!(", {} cut short", st.producers_cut)
    } else {
        String::new()
    };
    ipc::say::out_line(&format!(
        "queued {} (capacity {}), leased {}, received {}, acknowledged {}, redelivered {}, dead {}; \
         producers {} connected, {} ended{cut}{expected}; consumers {}",
        st.queued,
        st.capacity,
        st.leased,
        st.received,
        st.acknowledged,
        st.redelivered,
        st.dead,
        st.producers,
        st.producers_ended.saturating_sub(st.producers_cut),
        st.consumers
    ))?;
    Ok(ExitCode::SUCCESS)
}
