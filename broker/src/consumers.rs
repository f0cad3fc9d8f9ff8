//! The consumers' conversation: each request acknowledges what was eaten and asks for
//! more; each is answered with one reply (items, `Idle`, the end, `Stopping`). A consumer
//! that goes away gives back what it held.

use crate::queue::{ConsumerId, Dead};
use crate::serve::{Broker, MAX_BATCH, first_frame};
use common::msg::check_name;
use common::msg::queue::{Reply, Request};
use common::serve::Client;
use common::wire::Session;
use ipc::units::count;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A consumer waiting for items is answered `Idle` after this long, and its next request
/// shows that it is still there (a dead one's connection then reads as closed).
const IDLE_PROBE: Duration = Duration::from_millis(250);

impl Broker {
    /// A consumer's conversation: its requests, each answered with one reply.
    pub(crate) fn hand_out(&self, mut s: Session, client: &Client<'_>) {
        let first = s.rx.next_frame::<Request>();
        self.named(&s, client);
        // It sends its lease and first requests before reading its admission.
        let drain = |s: &mut Session| matches!(s.rx.next_frame::<Request>(), Ok(Some(_)));
        let (name, pid) = match first {
            Ok(Some(Request::Hello { name, pid })) if check_name(&name).is_ok() => (name, pid),
            Ok(Some(Request::Hello { name, .. })) => {
                let why = check_name(&name).err().unwrap_or_default();
                self.admit(&mut s, Err(why.clone()), drain);
                return self.refused(client, "consumer", &why);
            }
            other => {
                let why = first_frame(other);
                if !why.starts_with("it left") {
                    self.admit(&mut s, Err(why.clone()), drain);
                }
                return self.refused(client, "consumer", &why);
            }
        };
        ipc::say::set_peer_tag(|| format!("{} consumer {name}", client.describe()));
        let joined = {
            let mut st = self.lock();
            let joined = st.queue.join_consumer_as(&name, pid, self.now());
            if let Ok(id) = joined {
                self.mark(&mut st, |t, _| t.consumer(id, &name));
            }
            joined
        };
        let id = match joined {
            Ok(id) => id,
            Err(e) => {
                self.admit(&mut s, Err(e.to_string()), drain);
                return self.refused(client, &format!("consumer {name}"), &e.to_string());
            }
        };
        if !self.admit(&mut s, Ok(()), drain) {
            let mut st = self.lock();
            let _ = st.queue.consumer_gone(id);
            self.mark(&mut st, |t, at| t.gone(id, &[], at));
            self.changed.notify_all();
            return;
        }
        self.log(&format!(
            "consumer {name} (pid {pid}) joined {}",
            client.whence
        ));
        let gone = loop {
            let request = s.rx.next_frame::<Request>();
            if let Ok(Some(_)) = request {
                self.lock().queue.renew(id, self.now());
            }
            let (ack, want) = match request {
                Ok(Some(Request::Take { ack, want })) => (ack, want),
                Ok(Some(Request::Ack { ack })) => match self.acknowledge(id, ack) {
                    Ok(()) => continue,
                    Err(why) => break why,
                },
                Ok(Some(Request::Lease { millis })) => {
                    let lease = Duration::from_millis(millis.max(1));
                    self.lock().queue.set_lease(id, lease);
                    continue;
                }
                Ok(Some(Request::Leave { ack })) => return self.leave(id, &name, ack),
                Ok(Some(other)) => break format!("it sent a {} request", other.kind()),
                Ok(None) => break "it went away".into(),
                Err(e) => break e.to_string(),
            };
            let reply = match self.next_reply(id, ack, want) {
                Ok(reply) => reply,
                Err(why) => break why,
            };
            let sent = s.tx.send(&reply).and_then(|()| s.tx.flush());
            let mut st = self.lock();
            st.answering -= 1;
            match (&sent, &reply) {
                // It never got them: not a delivery (it could not have eaten them).
                (Err(_), Reply::Items(items)) => {
                    if let Some(first) = items.first() {
                        st.queue.untake(id, first.tag);
                    }
                }
                (Ok(()), _) => st.queue.renew(id, self.now()),
                _ => {}
            }
            self.changed.notify_all();
            drop(st);
            match (sent, &reply) {
                (Err(e), _) => break format!("it went away ({})", ipc::say::io_words(&e)),
                (Ok(()), &(Reply::End { eaten } | Reply::CutShort { eaten, .. })) => {
                    self.log(&format!(
                        "consumer {name} told the run is over, after eating {}",
                        count(eaten, "item")
                    ));
                    // Its other request may still be on its way: answer it in kind, and
                    // let the consumer close first, so that nothing it sends meets a
                    // closed connection.
                    while let Ok(Some(request)) = s.rx.next_frame::<Request>() {
                        if !matches!(request, Request::Take { .. }) {
                            continue;
                        }
                        if s.tx.send(&reply).and_then(|()| s.tx.flush()).is_err() {
                            break;
                        }
                    }
                    return;
                }
                (Ok(()), Reply::Stopping) => return,
                (Ok(()), _) => {}
            }
        };
        let mut st = self.lock();
        let held = st.queue.leased_by(id);
        let (back, dead) = st.queue.consumer_gone(id);
        self.mark(&mut st, |t, at| t.gone(id, &dead, at));
        self.changed.notify_all();
        drop(st);
        if held == 0 {
            self.log(&format!("consumer {name} left: {gone}"));
        } else {
            ipc::elog!(
                "broker: consumer {name} left holding {}: {gone}; {back} given back for redelivery",
                count(held as u64, "unacknowledged item")
            );
        }
        self.tell_dead(&dead);
    }

    fn tell_dead(&self, dead: &[Dead]) {
        for d in dead {
            ipc::elog!(
                "broker: {}, never acknowledged",
                d.told(self.max_deliveries)
            );
        }
    }

    /// What a consumer ate so far, told while it eats (no reply).
    fn acknowledge(&self, id: ConsumerId, ack: u64) -> Result<(), String> {
        let mut st = self.lock();
        if st.queue.ack(id, ack).map_err(|e| e.to_string())? > 0 {
            self.mark(&mut st, |t, at| t.acked(id, ack, at));
            self.changed.notify_all();
        }
        Ok(())
    }

    /// A consumer leaving on Ctrl-C: what it ate is acknowledged, the rest goes back at
    /// once, as it was (not a redelivery: it was not eaten).
    fn leave(&self, id: ConsumerId, name: &str, ack: u64) {
        let mut st = self.lock();
        let left = st.queue.leave(id, ack);
        if let Ok((acked, _)) = left
            && acked > 0
        {
            self.mark(&mut st, |t, at| t.acked(id, ack, at));
        }
        self.mark(&mut st, |t, at| t.gone(id, &[], at));
        let eaten = st.queue.eaten_by(id);
        self.changed.notify_all();
        drop(st);
        match left {
            Ok((_, 0)) => self.log(&format!(
                "consumer {name} left (stopped), after eating {}",
                count(eaten, "item")
            )),
            Ok((_, back)) => self.log(&format!(
                "consumer {name} left (stopped), after eating {}; {} given back, not eaten",
                count(eaten, "item"),
                count(back, "item")
            )),
            Err(e) => {
                let (back, dead) = self.lock().queue.consumer_gone(id);
                ipc::elog!("broker: consumer {name} left: {e}; {back} given back for redelivery");
                self.tell_dead(&dead);
            }
        }
    }

    /// Gives back what consumers that have been silent past their lease hold, and says so.
    fn expire_leases(&self, st: &mut crate::serve::State) {
        for e in st.queue.expire(self.now()) {
            self.mark(st, |t, at| t.gone(e.consumer, &e.dead, at));
            ipc::elog!(
                "broker: consumer {} sent nothing for its lease: {} given back for redelivery",
                e.name,
                count(e.back, "item")
            );
            self.tell_dead(&e.dead);
            self.changed.notify_all();
        }
    }

    /// Acknowledges, then waits for what to answer: items, the end, `Idle`, `Stopping`.
    /// Counts the consumer as answering; the caller uncounts it once the reply is written.
    fn next_reply(&self, id: ConsumerId, ack: u64, want: u32) -> Result<Reply, String> {
        let want = usize::try_from(want)
            .unwrap_or(MAX_BATCH)
            .clamp(1, MAX_BATCH);
        self.acknowledge(id, ack)?;
        let mut st = self.lock();
        st.answering += 1;
        let started = Instant::now();
        loop {
            if st.stopping {
                return Ok(Reply::Stopping);
            }
            self.expire_leases(&mut st);
            // Fair shares: when several consumers are asking at once, each gets its part
            // of what is ready, so the first to wake does not take everything.
            let share = st.queue.ready().div_ceil(st.answering.max(1)).max(1);
            let items = st.queue.take(id, want.min(share));
            if !items.is_empty() {
                self.mark(&mut st, |t, at| t.delivered(id, &items, at));
                self.changed.notify_all(); // room for producers
                return Ok(Reply::Items(items));
            }
            if st.queue.is_finished() {
                let (eaten, cut) = (st.queue.eaten_by(id), st.queue.cut_short());
                return Ok(if cut.is_empty() {
                    Reply::End { eaten }
                } else {
                    Reply::CutShort { eaten, cut }
                });
            }
            // Nothing can come but given-back items, and it holds some: let it acknowledge.
            if st.queue.producers_done() && st.queue.leased_by(id) > 0 {
                return Ok(Reply::Idle);
            }
            let left = IDLE_PROBE.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Ok(Reply::Idle);
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}
