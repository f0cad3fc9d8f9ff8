//! The broker's lifecycle and dispatch: [`common::serve`] accepts, [`wire::handshake`]
//! tells producers, consumers and observers apart, and each connection's thread feeds the
//! pure [`Queue`] under one lock. Nothing here decides what happens to an item: `queue.rs`
//! does. The conversations are `producers.rs`, `consumers.rs` and `status.rs`; the end of
//! the run and Ctrl-C are `report.rs`.
//!
//! Each conversation is lockstep, so it works on Windows named pipes: a producer's thread
//! only reads (then writes one receipt); a consumer's thread reads a request, then writes
//! one reply; an observer's thread writes one status.

use crate::Cli;
use crate::queue::{Config, ProducerId, Queue};
use crate::timeline::Timeline;
use common::cli::{Result, say_closing};
use common::msg::queue::Admission;
use common::serve::{self, Client, Clients, Service};
use common::wire::{self, FrameWriter, Role, Session};
use ipc::shutdown::Stop;
use ipc::transport::{self, Closer, Conn, Probe};
use ipc::units::show_duration;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// At most this many items in one reply, and in one batch taken in from a producer; and
/// at most this many leased to one consumer at once (whatever it asks for).
pub(crate) const MAX_BATCH: usize = 1024;
/// At most this many payload bytes in one reply, unless it carries a single item: well
/// under `wire::MAX_FRAME`, whatever the items' sizes.
pub(crate) const REPLY_BYTES: usize = 4 << 20;
/// A consumer's items come back if it sends nothing for this long, unless it asked for
/// another lease (`consumer --lease`; the same default as on Redis).
pub(crate) const LEASE: Duration = Duration::from_secs(30);
/// After the end of the run, how long to wait for every client to hear it and leave.
const DRAIN: Duration = Duration::from_secs(10);
/// A client that greeted has this long to say its name (where reads can time out), and
/// once it has waited [`SILENT_AFTER`] without, it may be sent away to make room.
const NAME_TIMEOUT: Duration = Duration::from_secs(10);
const SILENT_AFTER: Duration = Duration::from_secs(1);
/// A refused client's input is read (and dropped) this long at most, so that closing does
/// not reset the connection and destroy the refusal on its way.
const REFUSAL_DRAIN: Duration = Duration::from_secs(1);
/// At most this many refusals drained at once (a flood is closed at once).
const MAX_REFUSING: usize = 16;

/// What the connection threads share, under one lock.
pub(crate) struct State {
    pub(crate) queue: Queue,
    /// Consumer threads between reading a request and writing its reply.
    pub(crate) answering: usize,
    /// Ctrl-C: reply `Stopping`, take nothing more in.
    pub(crate) stopping: bool,
    /// With --timeline: the record of the run.
    pub(crate) timeline: Option<Timeline>,
    /// The queue is full, or was and has not drained to half since: one time it filled up.
    pub(crate) full_now: bool,
    /// How many times it filled up: said the first time, counted at the end.
    pub(crate) full_times: u64,
    /// Producers held back now, waiting for room: their connections are not read
    /// meanwhile, so `--status` asks each whether its peer is still there.
    pub(crate) held: Vec<(ProducerId, Probe)>,
}

/// A client that greeted and has not said its name yet.
struct Unnamed {
    since: Instant,
    closer: Option<Closer>,
}

pub(crate) struct Broker {
    state: Mutex<State>,
    /// Rung on every change of the queue: items put or taken, acknowledgements, a
    /// consumer gone, a producer ended, the stop.
    pub(crate) changed: Condvar,
    quiet: bool,
    pub(crate) max_deliveries: u32,
    /// Raised by Ctrl-C: the accept loops take no new clients.
    pub(crate) stop: Arc<Stop>,
    /// Where to draw the timeline, and the start its times count from.
    pub(crate) timeline: Option<PathBuf>,
    started: Instant,
    /// `--capacity`, told to each client that is let in.
    pub(crate) capacity: u64,
    max_clients: u32,
    /// Clients between their greeting and their name, by client number.
    unnamed: Mutex<HashMap<u64, Unnamed>>,
}

pub fn run(cli: &Cli) -> Result<ExitCode> {
    if cli.status {
        return crate::status::ask(cli);
    }
    if let Some(svg) = &cli.timeline {
        crate::report::check_writable(svg)?;
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
                max_held: MAX_BATCH,
                reply_bytes: REPLY_BYTES,
                lease: LEASE,
            }),
            answering: 0,
            stopping: false,
            timeline: cli.timeline.as_ref().map(|_| Timeline::new()),
            full_now: false,
            full_times: 0,
            held: Vec::new(),
        }),
        changed: Condvar::new(),
        quiet: cli.quiet,
        max_deliveries: cli.max_deliveries,
        stop: Arc::clone(&stop),
        timeline: cli.timeline.clone(),
        started: Instant::now(),
        capacity: cli.capacity,
        max_clients: cli.max_clients,
        unnamed: Mutex::new(HashMap::new()),
    });
    let clients = Arc::new(Clients::new(cli.max_clients as usize));
    {
        let broker = Arc::clone(&broker);
        ipc::shutdown::on_interrupt(move || broker.last_words());
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
    // Every consumer hears the end with its next reply; then its thread leaves. One that
    // connects meanwhile is still served, and hears it too (a producer, that the run is
    // over), rather than have its connection dropped unread, which resets it.
    let deadline = Instant::now() + DRAIN;
    while clients.connected() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.raise();
    broker.finish()
}

impl Broker {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn wait<'a>(&self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(st)
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The time since the broker started: the queue's clock.
    pub(crate) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn log(&self, line: &str) {
        if !self.quiet {
            ipc::elog!("broker: {line}");
        }
    }

    fn wait_until_finished(&self) {
        let mut st = self.lock();
        while !st.queue.is_finished() {
            st = self.wait(st);
        }
    }

    /// Tells the timeline, if there is one, what happened now.
    pub(crate) fn mark(&self, st: &mut State, what: impl FnOnce(&mut Timeline, Duration)) {
        if let Some(t) = st.timeline.as_mut() {
            what(t, self.started.elapsed());
        }
    }

    pub(crate) fn refused(&self, client: &Client<'_>, who: &str, why: &str) {
        ipc::elog!("broker: {} ({who}) refused: {why}", client.describe());
    }
}

/// Why a conversation did not start with the expected hello.
pub(crate) fn first_frame<M>(got: std::result::Result<Option<M>, wire::WireError>) -> String {
    match got {
        Ok(Some(_)) => "it began with another frame than its name".into(),
        Ok(None) => "it left before saying its name".into(),
        Err(e) => e.to_string(),
    }
}

/// A frame as bytes: the refusal written by [`Closer::close_with`].
fn frame_bytes(admission: &Admission) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut w = FrameWriter::new(&mut bytes);
    let _ = w.send(admission).and_then(|()| w.flush());
    drop(w);
    bytes
}

impl Broker {
    fn unnamed(&self) -> MutexGuard<'_, HashMap<u64, Unnamed>> {
        self.unnamed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A client said its name (or gave up): no longer silent, its reads no longer bounded.
    pub(crate) fn named(&self, s: &Session, client: &Client<'_>) {
        self.unnamed().remove(&client.id);
        let _ = s.rx.get_ref().set_timeout(None);
    }

    /// Tells a client it is taken in (`Ok`) or why not (`Err`); `false` if it is not served.
    /// A refused one's input is read by `drain` until it closes ([`REFUSAL_DRAIN`] at most),
    /// so that closing does not reset the connection with the refusal on its way.
    pub(crate) fn admit(
        &self,
        s: &mut Session,
        verdict: Result<(), String>,
        drain: impl Fn(&mut Session) -> bool,
    ) -> bool {
        let refused = verdict.is_err();
        let admission = match verdict {
            Ok(()) => Admission::Welcome {
                capacity: self.capacity,
            },
            Err(why) => Admission::Refused { why },
        };
        let sent = s.tx.send(&admission).and_then(|()| s.tx.flush());
        if refused {
            let _ = s.tx.get_ref().shutdown_write();
            let _ = s.rx.get_ref().set_timeout(Some(REFUSAL_DRAIN));
            let deadline = Instant::now() + REFUSAL_DRAIN;
            while Instant::now() < deadline {
                if !drain(s) {
                    break;
                }
            }
        }
        !refused && sent.is_ok()
    }
}

impl Service for Broker {
    fn serve(&self, conn: Conn, client: &Client<'_>) {
        let accept = [Role::Producer, Role::Consumer, Role::Observer];
        let s = match wire::handshake(conn, Role::Broker, &accept) {
            Ok(s) => s,
            Err(e) => return ipc::elog!("broker: {} refused: {e}", client.describe()),
        };
        if s.peer == Role::Observer {
            return self.observe(s);
        }
        // Until it says its name, it is a silent peer: its read is bounded, and it may be
        // sent away when a new client needs its slot.
        let closer = s.rx.get_ref().closer();
        self.unnamed().insert(
            client.id,
            Unnamed {
                since: Instant::now(),
                closer,
            },
        );
        let _ = s.rx.get_ref().set_timeout(Some(NAME_TIMEOUT));
        if s.peer == Role::Producer {
            self.take_in(s, client);
        } else {
            self.hand_out(s, client);
        }
        self.unnamed().remove(&client.id);
    }

    /// Full: the client silent the longest (greeted, and no name for [`SILENT_AFTER`] at
    /// least) is told why and sent away, so that silent peers never lock out real ones.
    fn make_room(&self) -> bool {
        let mut unnamed = self.unnamed();
        let silent = unnamed
            .iter()
            .filter(|(_, u)| u.closer.is_some() && u.since.elapsed() >= SILENT_AFTER)
            .max_by_key(|(_, u)| u.since.elapsed())
            .map(|(id, u)| (*id, u.since.elapsed()));
        let Some((id, silent_for)) = silent else {
            return false;
        };
        let Some(u) = unnamed.remove(&id) else {
            return false;
        };
        let why = format!(
            "sent away: it said no name for {} while the broker was full (--max-clients {}); \
             making room for a new client",
            show_duration(silent_for),
            self.max_clients
        );
        if let Some(closer) = u.closer {
            closer.close_with(&frame_bytes(&Admission::Refused { why: why.clone() }));
        }
        ipc::elog!("broker: client {id} {why}");
        true
    }

    /// Past --max-clients: told why (the greeting, then the refusal), then closed once it
    /// has read it.
    fn refuse(&self, conn: Conn, why: String) {
        static REFUSING: AtomicUsize = AtomicUsize::new(0);
        let (mut rx, tx) = conn.split();
        let mut w = FrameWriter::new(tx);
        let told = w
            .write_greeting(Role::Broker)
            .and_then(|()| w.send(&Admission::Refused { why }))
            .and_then(|()| w.flush());
        if told.is_err() || REFUSING.fetch_add(1, Ordering::SeqCst) >= MAX_REFUSING {
            if told.is_ok() {
                REFUSING.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
        let drained = std::thread::Builder::new()
            .name("refuse".into())
            .spawn(move || {
                let _ = w.get_ref().shutdown_write();
                let _ = rx.set_timeout(Some(REFUSAL_DRAIN));
                let deadline = Instant::now() + REFUSAL_DRAIN;
                let mut buf = [0u8; 4096];
                while Instant::now() < deadline {
                    match rx.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                REFUSING.fetch_sub(1, Ordering::SeqCst);
            });
        if drained.is_err() {
            REFUSING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
