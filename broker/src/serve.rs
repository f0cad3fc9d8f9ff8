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
use crate::queue::{Config, Queue};
use crate::timeline::Timeline;
use common::cli::{Result, say_closing};
use common::serve::{self, Client, Clients, Service};
use common::wire::{self, Role};
use ipc::shutdown::Stop;
use ipc::transport::{self, Conn};
use std::path::PathBuf;
use std::process::ExitCode;
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

/// What the connection threads share, under one lock.
pub(crate) struct State {
    pub(crate) queue: Queue,
    /// Consumer threads between reading a request and writing its reply.
    pub(crate) answering: usize,
    /// Ctrl-C: reply `Stopping`, take nothing more in.
    pub(crate) stopping: bool,
    /// With --timeline: the record of the run.
    pub(crate) timeline: Option<Timeline>,
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
    stop.raise();
    // Every consumer hears the end with its next reply; then its thread leaves.
    let deadline = Instant::now() + DRAIN;
    while clients.connected() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
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

impl Service for Broker {
    fn serve(&self, conn: Conn, client: &Client<'_>) {
        let accept = [Role::Producer, Role::Consumer, Role::Observer];
        match wire::handshake(conn, Role::Broker, &accept) {
            Ok(s) if s.peer == Role::Producer => self.take_in(s, client),
            Ok(s) if s.peer == Role::Consumer => self.hand_out(s, client),
            Ok(s) => self.observe(s),
            Err(e) => ipc::elog!("broker: {} refused: {e}", client.describe()),
        }
    }

    /// Past --max-clients: closed at once (the client then says the broker went away).
    fn refuse(&self, _conn: Conn, _why: String) {}
}
