//! The broker's glue: [`common::serve`] accepts, [`wire::handshake`] tells producers,
//! consumers and observers apart, and each connection's thread feeds the pure
//! [`Queue`] under one lock. Nothing here decides what happens to an item: `queue.rs` does.
//!
//! Each conversation is lockstep, so it works on Windows named pipes: a producer's thread
//! only reads (then writes one receipt); a consumer's thread reads a request, then writes
//! one reply; an observer's thread writes one status.

use crate::Cli;
use crate::queue::{Config, ConsumerId, Dead, ProducerId, Queue, Stream};
use crate::timeline::Timeline;
use common::cli::{Result, say_closing, say_waiting};
use common::msg::check_name;
use common::msg::queue::{Reply, Request, Status};
use common::msg::stream::Frame;
use common::serve::{self, Client, Clients, Service};
use common::shutdown::Stop;
use common::transport::{self, Conn};
use common::units::count;
use common::wire::{self, Role, Session};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A consumer waiting for items is answered `Idle` after this long, and its next request
/// shows that it is still there (a dead one's connection then reads as closed).
const IDLE_PROBE: Duration = Duration::from_millis(250);
/// At most this many items in one reply, and in one batch taken in from a producer.
const MAX_BATCH: usize = 1024;
/// On Ctrl-C, how long to wait for waiting consumers to be told before exiting anyway.
const FINISH_IN_FLIGHT: Duration = Duration::from_millis(500);
/// After the end of the run, how long to wait for every client to hear it and leave.
const DRAIN: Duration = Duration::from_secs(10);

/// What the connection threads share, under one lock.
struct State {
    queue: Queue,
    /// Consumer threads between reading a request and writing its reply.
    answering: usize,
    /// Ctrl-C: reply `Stopping`, take nothing more in.
    stopping: bool,
    /// With --timeline: the record of the run.
    timeline: Option<Timeline>,
}

struct Broker {
    state: Mutex<State>,
    /// Rung on every change of the queue: items put or taken, acknowledgements, a
    /// consumer gone, a producer ended, the stop.
    changed: Condvar,
    quiet: bool,
    max_deliveries: u32,
    /// Raised by Ctrl-C: the accept loops take no new clients.
    stop: Arc<Stop>,
    /// Where to draw the timeline, and the start its times count from.
    timeline: Option<PathBuf>,
    started: Instant,
}

pub fn run(cli: &Cli) -> Result<ExitCode> {
    if cli.status {
        return status(cli);
    }
    if let Some(svg) = &cli.timeline {
        check_writable(svg)?;
    }
    // Bind everything before announcing anything: a bad address fails the whole start.
    let listeners = cli
        .addresses
        .iter()
        .map(|a| transport::listen(a, cli.peers.access(), || say_closing("broker", a)))
        .collect::<Result<Vec<_>, _>>()?;
    let stop = Arc::new(Stop::new());
    let broker = Arc::new(Broker {
        state: Mutex::new(State {
            queue: Queue::new(Config {
                capacity: usize::try_from(cli.capacity)?,
                max_deliveries: cli.max_deliveries,
                producers: cli.producers,
            }),
            answering: 0,
            stopping: false,
            timeline: cli.timeline.as_ref().map(|_| Timeline::new()),
        }),
        changed: Condvar::new(),
        quiet: cli.quiet,
        max_deliveries: cli.max_deliveries,
        stop: Arc::clone(&stop),
        timeline: cli.timeline.clone(),
        started: Instant::now(),
    });
    let clients = Arc::new(Clients::new(cli.max_clients as usize));
    {
        let broker = Arc::clone(&broker);
        common::shutdown::on_interrupt(move || broker.last_words());
    }
    for l in &listeners {
        l.announce();
    }
    let threads = serve::spawn_accept_loops("broker", listeners, &broker, &clients, &stop)?;
    if cli.producers == 0 {
        // Serves until Ctrl-C ends the process.
        for t in threads {
            t.join().map_err(|_| "a listening thread panicked")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    broker.wait_until_finished();
    stop.raise();
    // Every consumer hears the end with its next reply; then its thread leaves.
    let deadline = Instant::now() + DRAIN;
    while clients.connected() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let st = broker.lock();
    let totals = st.queue.totals();
    common::elog!("broker: {}", report(&totals));
    broker.draw_timeline(&st, "")?;
    drop(st);
    let cut = totals
        .producers
        .iter()
        .filter(|p| p.3 == Stream::Cut)
        .count();
    match (totals.dead.len(), cut) {
        (0, 0) => Ok(ExitCode::SUCCESS),
        (dead, cut) => Err(format!(
            "the run ended with {} set aside (after --max-deliveries {}) and {} cut short",
            count(dead as u64, "dead item"),
            broker.max_deliveries,
            count(cut as u64, "producer"),
        )
        .into()),
    }
}

/// The final line: per producer, items sent; per consumer, items eaten; redelivered; dead.
fn report(t: &crate::queue::Totals) -> String {
    let producers: Vec<String> = t
        .producers
        .iter()
        .map(|(name, _, put, stream)| match stream {
            Stream::Cut => format!("{name} {put}, cut short"),
            _ => format!("{name} {put}"),
        })
        .collect();
    let consumers: Vec<String> = t
        .consumers
        .iter()
        .map(|(name, _, eaten)| format!("{name} {eaten}"))
        .collect();
    format!(
        "totals: received {} from {} ({}); eaten {} by {} ({}); redelivered {}; dead {}",
        t.status.received,
        count(t.producers.len() as u64, "producer"),
        producers.join(", "),
        t.status.acknowledged,
        count(t.consumers.len() as u64, "consumer"),
        consumers.join(", "),
        t.status.redelivered,
        t.status.dead,
    )
}

impl Broker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn log(&self, line: &str) {
        if !self.quiet {
            common::elog!("broker: {line}");
        }
    }

    fn wait_until_finished(&self) {
        let mut st = self.lock();
        while !st.queue.is_finished() {
            st = self.wait(st);
        }
    }

    /// Ctrl-C's last words: tell the waiting consumers, take nothing more in, print the
    /// numbers so far.
    fn last_words(&self) {
        self.stop.raise();
        let mut st = self.lock();
        st.stopping = true;
        self.changed.notify_all();
        let deadline = Instant::now() + FINISH_IN_FLIGHT;
        while st.answering > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        common::elog!(
            "broker: {} (stopped before the end)",
            report(&st.queue.totals())
        );
        if let Err(e) = self.draw_timeline(&st, " (stopped by Ctrl-C before the end)") {
            common::elog!("broker: {e}");
        }
    }

    /// Tells the timeline, if there is one, what happened now.
    fn mark(&self, st: &mut State, what: impl FnOnce(&mut Timeline, Duration)) {
        if let Some(t) = st.timeline.as_mut() {
            what(t, self.started.elapsed());
        }
    }

    /// Draws the timeline into its file, if there is one.
    fn draw_timeline(&self, st: &State, ending: &str) -> Result<()> {
        let (Some(t), Some(svg)) = (&st.timeline, &self.timeline) else {
            return Ok(());
        };
        let totals = st.queue.totals();
        let title = format!(
            "broker: who ate which baozi; {} put by {}, {} eaten by {}{ending}",
            totals.status.received,
            count(totals.producers.len() as u64, "producer"),
            totals.status.acknowledged,
            count(totals.consumers.len() as u64, "consumer"),
        );
        std::fs::write(svg, t.svg(&title))
            .map_err(|e| format!("cannot write the timeline {}: {e}", svg.display()))?;
        common::elog!("broker: timeline drawn in {}", svg.display());
        Ok(())
    }

    /// A producer's stream: every item into the queue, waiting for room; then its receipt.
    fn take_in(&self, mut s: Session, client: &Client<'_>) {
        let (name, pid) = match s.rx.next_frame::<Frame>() {
            Ok(Some(Frame::Hello { name, pid })) if check_name(&name).is_ok() => (name, pid),
            Ok(Some(Frame::Hello { name, .. })) => {
                let why = check_name(&name).err().unwrap_or_default();
                return self.refused(client, "producer", &why);
            }
            other => return self.refused(client, "producer", &first_frame(other)),
        };
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
            Err(e) => return self.refused(client, &format!("producer {name}"), &e.to_string()),
        };
        self.log(&format!(
            "producer {name} (pid {pid}) joined {}",
            client.whence
        ));
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut next_seq = 0u64;
        let ending = loop {
            // One frame (it may block), then whatever is already buffered: one lock a batch.
            let mut frame = s.rx.next_frame::<Frame>();
            let last = loop {
                match frame {
                    Ok(Some(Frame::Baozi { seq, payload })) if seq == next_seq => {
                        next_seq += 1;
                        batch.push((seq, payload));
                    }
                    other => break Some(other),
                }
                if batch.len() >= MAX_BATCH || !s.rx.has_buffered() {
                    break None;
                }
                frame = s.rx.next_frame::<Frame>();
            };
            if !batch.is_empty() && !self.put_all(id, &mut batch) {
                return; // Ctrl-C: the process is exiting
            }
            match last {
                None => {}
                Some(Ok(Some(Frame::End { count }))) => break Ok(count),
                Some(Ok(Some(Frame::Baozi { seq, .. }))) => {
                    break Err(format!(
                        "baozi {seq} arrived where {next_seq} was expected (lost or reordered)"
                    ));
                }
                Some(Ok(Some(other))) => {
                    break Err(format!("it sent a {} frame among its items", other.kind()));
                }
                Some(Ok(None)) => break Err("it went away without an end (killed?)".into()),
                Some(Err(e)) => break Err(e.to_string()),
            }
        };
        let mut st = self.lock();
        let put = st.queue.put_by(id);
        let ended = match ending {
            Ok(count) => st.queue.end_producer(id, count).map_err(|e| e.to_string()),
            Err(why) => {
                st.queue.cut_producer(id);
                Err(why)
            }
        };
        self.changed.notify_all();
        drop(st);
        match ended {
            Ok(()) => {
                self.log(&format!(
                    "producer {name} ended after {}",
                    count(put, "item")
                ));
                // It waits for this receipt; if it has gone, so be it.
                let _ =
                    s.tx.send(&Frame::Receipt { received: put })
                        .and_then(|()| s.tx.flush());
            }
            Err(why) => common::elog!(
                "broker: producer {name} cut short after {}: {why}; what it sent stays queued",
                count(put, "item")
            ),
        }
    }

    /// Puts a batch, waiting for room as needed. `false` once stopping.
    fn put_all(&self, id: ProducerId, batch: &mut Vec<(u64, Vec<u8>)>) -> bool {
        let mut st = self.lock();
        for (seq, payload) in batch.drain(..) {
            while !st.queue.has_room() {
                if st.stopping {
                    return false;
                }
                st = self.wait(st);
            }
            st.queue.put(id, seq, payload);
            self.mark(&mut st, |t, at| t.put(id, seq, at));
        }
        self.changed.notify_all();
        true
    }

    /// A consumer's conversation: its requests, each answered with one reply.
    fn hand_out(&self, mut s: Session, client: &Client<'_>) {
        let (name, pid) = match s.rx.next_frame::<Request>() {
            Ok(Some(Request::Hello { name, pid })) if check_name(&name).is_ok() => (name, pid),
            Ok(Some(Request::Hello { name, .. })) => {
                let why = check_name(&name).err().unwrap_or_default();
                return self.refused(client, "consumer", &why);
            }
            other => return self.refused(client, "consumer", &first_frame(other)),
        };
        let id = {
            let mut st = self.lock();
            let id = st.queue.join_consumer(&name, pid);
            self.mark(&mut st, |t, _| t.consumer(id, &name));
            id
        };
        self.log(&format!(
            "consumer {name} (pid {pid}) joined {}",
            client.whence
        ));
        let gone = loop {
            let (ack, want) = match s.rx.next_frame::<Request>() {
                Ok(Some(Request::Take { ack, want })) => (ack, want),
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
            self.changed.notify_all();
            drop(st);
            match (sent, &reply) {
                (Err(e), _) => break format!("it went away ({e})"),
                (Ok(()), &Reply::End { eaten }) => {
                    self.log(&format!(
                        "consumer {name} told the run is over, after eating {}",
                        count(eaten, "item")
                    ));
                    // Its other request may still be on its way: answer it in kind, and
                    // let the consumer close first, so that nothing it sends meets a
                    // closed connection.
                    while let Ok(Some(_)) = s.rx.next_frame::<Request>() {
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
            common::elog!(
                "broker: consumer {name} left holding {}: {gone}; {back} given back for redelivery",
                count(held as u64, "unacknowledged item")
            );
        }
        for d in dead {
            self.report_dead(&d);
        }
    }

    /// Acknowledges, then waits for what to answer: items, the end, `Idle`, `Stopping`.
    /// Counts the consumer as answering; the caller uncounts it once the reply is written.
    fn next_reply(&self, id: ConsumerId, ack: u64, want: u32) -> Result<Reply, String> {
        let want = usize::try_from(want)
            .unwrap_or(MAX_BATCH)
            .clamp(1, MAX_BATCH);
        let mut st = self.lock();
        if st.queue.ack(id, ack).map_err(|e| e.to_string())? > 0 {
            self.mark(&mut st, |t, at| t.acked(id, ack, at));
            self.changed.notify_all();
        }
        st.answering += 1;
        let started = Instant::now();
        loop {
            if st.stopping {
                return Ok(Reply::Stopping);
            }
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
                return Ok(Reply::End {
                    eaten: st.queue.eaten_by(id),
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

    fn report_dead(&self, d: &Dead) {
        common::elog!(
            "broker: baozi {} from {} is dead: handed out {} (--max-deliveries {}), never acknowledged",
            d.seq,
            d.producer,
            count(u64::from(d.deliveries), "time"),
            self.max_deliveries
        );
    }

    fn refused(&self, client: &Client<'_>, who: &str, why: &str) {
        common::elog!("broker: {} ({who}) refused: {why}", client.describe());
    }

    fn observe(&self, mut s: Session) {
        let status = self.lock().queue.status();
        let _ = s.tx.send(&status).and_then(|()| s.tx.flush());
    }
}

/// Refuses a --timeline FILE that could not be written at the end, before the run starts:
/// a missing folder, a folder in its place.
fn check_writable(svg: &Path) -> Result<()> {
    if svg.is_dir() {
        return Err(format!(
            "--timeline {}: that is a folder; name a file, such as run.svg",
            svg.display()
        )
        .into());
    }
    match svg.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => Err(format!(
            "--timeline {}: there is no folder {}; create it first",
            svg.display(),
            dir.display()
        )
        .into()),
        _ => Ok(()),
    }
}

/// Why a conversation did not start with the expected hello.
fn first_frame<M>(got: std::result::Result<Option<M>, wire::WireError>) -> String {
    match got {
        Ok(Some(_)) => "it began with another frame than its name".into(),
        Ok(None) => "it left before saying its name".into(),
        Err(e) => e.to_string(),
    }
}

impl Service for Broker {
    fn serve(&self, conn: Conn, client: &Client<'_>) {
        let accept = [Role::Producer, Role::Consumer, Role::Observer];
        match wire::handshake(conn, Role::Broker, &accept) {
            Ok(s) if s.peer == Role::Producer => self.take_in(s, client),
            Ok(s) if s.peer == Role::Consumer => self.hand_out(s, client),
            Ok(s) => self.observe(s),
            Err(e) => common::elog!("broker: {} refused: {e}", client.describe()),
        }
    }

    /// Past --max-clients: closed at once (the client then says the broker went away).
    fn refuse(&self, _conn: Conn, _why: String) {}
}

/// `broker --status`: one observer's look at a running broker.
fn status(cli: &Cli) -> Result<ExitCode> {
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
    common::say::out_line(&format!(
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
