//! The producers' conversation: a producer's stream into the queue, checked by
//! [`Check`] (the same rules as a consumer's), waiting for room; then its receipt.

use crate::queue::ProducerId;
use crate::serve::{Broker, MAX_BATCH, first_frame};
use common::msg::check::{Broken, Check, Step};
use common::msg::stream::Frame;
use common::serve::Client;
use common::wire::Session;
use ipc::transport::Probe;
use ipc::units::count;

impl Broker {
    /// A producer's stream: every item into the queue, waiting for room; then its receipt.
    /// [`Check`] says what each frame is.
    pub(crate) fn take_in(&self, mut s: Session, client: &Client<'_>) {
        let first = s.rx.next_frame::<Frame>();
        self.named(&s, client);
        let no_drain = |_: &mut Session| false; // it sends nothing before its admission
        let mut check = match first {
            Ok(first) => match Check::hello(first) {
                Ok(check) => check,
                Err(b) => {
                    let why = in_brokers_words(&b);
                    self.admit(&mut s, Err(why.clone()), no_drain);
                    return self.refused(client, "producer", &why);
                }
            },
            Err(e) => return self.refused(client, "producer", &e.to_string()),
        };
        let (name, pid) = (check.producer().to_owned(), check.pid());
        ipc::say::set_peer_tag(|| format!("{} producer {name}", client.describe()));
        let joined = {
            let mut st = self.lock();
            let joined = st.queue.join_producer(&name, pid);
            if let Ok(id) = joined {
                self.mark(&mut st, |t, _| t.producer(id, &name, pid));
            }
            joined
        };
        let id = match joined {
            Ok(id) => id,
            Err(e) => {
                self.admit(&mut s, Err(e.to_string()), no_drain);
                return self.refused(client, &format!("producer {name}"), &e.to_string());
            }
        };
        if !self.admit(&mut s, Ok(()), no_drain) {
            let mut st = self.lock();
            st.queue.cut_producer(id);
            self.changed.notify_all();
            drop(st);
            return self.refused(client, &format!("producer {name}"), "it went away at once");
        }
        self.log(&format!(
            "producer {name} (pid {pid}) joined {}",
            client.whence
        ));
        let probe = s.rx.get_ref().probe();
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let ending = loop {
            // One frame (it may block), then whatever is already buffered: one lock a batch.
            let mut frame = s.rx.next_frame::<Frame>();
            let last = loop {
                match frame.map(|f| check.next(f)) {
                    Ok(Ok(Step::Item { seq, payload })) => batch.push((seq, payload)),
                    other => break Some(other),
                }
                if batch.len() >= MAX_BATCH || !s.rx.has_buffered() {
                    break None;
                }
                frame = s.rx.next_frame::<Frame>();
            };
            if !batch.is_empty() && !self.put_all(id, &mut batch, &probe) {
                return; // Ctrl-C: the process is exiting
            }
            match last {
                None => {}
                Some(Ok(Ok(Step::End { .. }))) => break Ok(()),
                Some(Ok(Ok(Step::Item { .. }))) => {} // taken above
                Some(Ok(Err(broken))) => break Err(in_brokers_words(&broken)),
                Some(Err(e)) => break Err(e.to_string()),
            }
        };
        let mut st = self.lock();
        let put = st.queue.put_by(id);
        match ending {
            Ok(()) => st.queue.end_producer(id),
            Err(_) => st.queue.cut_producer(id),
        }
        self.changed.notify_all();
        drop(st);
        match ending {
            Ok(()) => {
                self.log(&format!(
                    "producer {name} ended after {}",
                    count(put, "item")
                ));
                // It waits for this receipt; if it has gone, so be it.
                let _ = s.tx.send(&check.receipt()).and_then(|()| s.tx.flush());
            }
            Err(why) => ipc::elog!(
                "broker: producer {name} cut short after {}: {why}; what it sent stays queued",
                count(put, "item")
            ),
        }
    }

    /// Puts a batch, waiting for room as needed (and held meanwhile in `State::held`, with
    /// `probe` to tell whether its producer is still there). `false` once stopping.
    pub(crate) fn put_all(
        &self,
        id: ProducerId,
        batch: &mut Vec<(u64, Vec<u8>)>,
        probe: &Probe,
    ) -> bool {
        let mut st = self.lock();
        for (seq, payload) in batch.drain(..) {
            if st.queue.ready() as u64 * 2 <= self.capacity {
                st.full_now = false; // drained: the next time it fills is another time
            }
            if !st.queue.has_room() {
                st.held.push((id, probe.clone()));
            }
            while !st.queue.has_room() {
                if st.stopping {
                    st.held.retain(|(held, _)| *held != id);
                    return false;
                }
                if !st.full_now {
                    st.full_now = true;
                    st.full_times += 1;
                    // Said once: with a small --capacity it fills again at every refill.
                    if st.full_times == 1 {
                        self.log(&format!(
                            "the queue is full ({} waiting); producers wait for consumers",
                            self.capacity
                        ));
                    }
                }
                st = self.wait(st);
            }
            st.held.retain(|(held, _)| *held != id);
            st.queue.put(id, seq, payload);
            self.mark(&mut st, |t, at| t.put(id, seq, at));
        }
        self.changed.notify_all();
        true
    }
}

/// How the broker tells a broken stream in its log: of "it", the producer named at the
/// start of the line, rather than as a consumer tells it (`Broken`'s `Display`).
fn in_brokers_words(b: &Broken) -> String {
    match b {
        Broken::NoName { got } => first_frame::<&str>(Ok(*got)),
        Broken::NameRefused(why) => why.clone(),
        Broken::OutOfOrder { seq, expected, .. } => {
            format!("baozi {seq} arrived where {expected} was expected (lost or reordered)")
        }
        Broken::Misplaced { kind } => format!("it sent a {kind} frame among its items"),
        Broken::WrongCount { .. } => b.to_string(),
        Broken::Unended { .. } => "it went away without an end (killed?)".into(),
    }
}
