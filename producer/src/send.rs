//! Sending a stream of baozi: greeting, `Hello`, items, end frame, and on two-way transports
//! the receipt. The same stream goes to a consumer (the pipe) or to a broker (the queue);
//! the handshake tells which, and only the wording of messages differs.

use crate::Cli;
use common::cli::Result;
use common::msg::queue::Admission;
use common::msg::stream::Frame;
use common::style::Paint;
use common::wire::{self, Role, Session};
use ipc::Address;
use ipc::say::Progress;
use ipc::transport::Conn;
use ipc::units::{DurationRange, XorShift, count, show_bytes};
use std::io::IsTerminal;
use std::ops::Range;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `--payload` value parser: a size no larger than one frame can carry.
pub fn parse_payload(s: &str) -> std::result::Result<usize, String> {
    let n = ipc::units::parse_size(s)?;
    if n > wire::MAX_PAYLOAD {
        return Err(format!(
            "at most {} per baozi",
            show_bytes(wire::MAX_PAYLOAD as u64)
        ));
    }
    Ok(n)
}

/// What to send.
struct Plan {
    count: u64,
    delay: DurationRange,
    name: String,
    payload: usize,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let plan = Plan {
        count: cli.count,
        delay: cli.delay,
        name: cli.name,
        payload: cli.payload,
    };
    if cli.spawn_consumer {
        return spawn_consumer(&plan, &cli.consumer_args);
    }
    let addr = &cli.endpoint.address;
    if let Address::Redis { .. } = addr {
        return send_to_redis(&plan, &cli.endpoint, cli.capacity);
    }
    if *addr == Address::Stdio && std::io::stdout().is_terminal() {
        return Err(
            "stdout is a terminal, and baozi frames are binary; pipe them into a \
                    consumer (`producer stdio | consumer stdio`), use --spawn-consumer, \
                    or give a socket address"
                .into(),
        );
    }
    let session =
        cli.endpoint
            .open_session(&plan.name, Role::Producer, &[Role::Consumer, Role::Broker])?;
    let started = Instant::now();
    let peer = send(session, &plan)?;
    summary(&plan, &peer, started);
    Ok(ExitCode::SUCCESS)
}

/// The tutorial's parent and child: the child is a consumer reading our anonymous pipe.
fn spawn_consumer(plan: &Plan, args: &[String]) -> Result<ExitCode> {
    let exe = sibling("consumer");
    let mut child = Command::new(&exe)
        .arg("stdio")
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {}: {e} (it is looked for next to this program, then on PATH)",
                exe.display()
            )
        })?;
    let pipe = child.stdin.take().ok_or("the child has no stdin pipe")?;
    let started = Instant::now();
    // One-way: the handshake only writes our greeting. Dropping the pipe closes it.
    let sent = wire::handshake(Conn::pipe_to(pipe), Role::Producer, &[Role::Consumer])
        .map_err(Into::into)
        .and_then(|session| send(session, plan));
    let status = child.wait()?;
    match (sent, status.success()) {
        (Ok(_), true) => {
            summary(plan, "the spawned consumer", started);
            Ok(ExitCode::SUCCESS)
        }
        (Ok(_), false) => Err(format!("the spawned consumer failed ({status})").into()),
        (Err(e), _) => Err(format!("{e}; the spawned consumer ended with {status}").into()),
    }
}

/// Where the other binaries of this workspace are: next to this one, else on PATH.
fn sibling(name: &str) -> std::path::PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&file)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| file.into())
}

/// Sends the whole stream, after the handshake; on two-way transports also checks the
/// receipt at the end. Returns who took the stream, for the summary.
fn send(session: Session, plan: &Plan) -> Result<String> {
    let Session {
        peer,
        addr,
        two_way,
        mut rx,
        mut tx,
    } = session;
    let went_away = |sent: u64, e: std::io::Error| {
        format!(
            "the {peer} went away after {} ({})",
            count(sent, "item"),
            ipc::say::io_words(&e)
        )
    };
    tx.send(&Frame::Hello {
        name: plan.name.clone(),
        pid: std::process::id(),
    })
    .map_err(|e| went_away(0, e))?;
    let capacity = if peer == Role::Broker {
        Some(admitted(&mut rx, &mut tx, &addr).map_err(|e| format!("{}: {e}", plan.name))?)
    } else {
        None
    };
    let paced = !plan.delay.is_zero();
    let payload = vec![b'x'; plan.payload];
    // Paced, each item has its line; unpaced (bulk), a count on a terminal.
    let progress = if paced {
        Progress::off()
    } else {
        Progress::new(format!("producer {}", plan.name), "items", Some(plan.count))
    };
    // A broker that takes nothing in (its queue full) holds back a write or the receipt.
    let held = Held::new();
    std::thread::scope(|scope| {
        if let Some(capacity) = capacity {
            let held = &held;
            // Without the thread (a process limit), only the saying is lost.
            let _ = std::thread::Builder::new()
                .name("held".into())
                .spawn_scoped(scope, move || held.watch(&plan.name, capacity));
        }
        let sent = make(plan, 1, progress, |seqs| {
            // Watched only with a broker: a consumer's stream skips the clock per item.
            let _writing = capacity.is_some().then(|| held.writing());
            tx.send_baozi(seqs.start, &payload)
                .map_err(|e| went_away(seqs.start, e))?;
            if paced {
                tx.flush().map_err(|e| went_away(seqs.start, e))?;
            }
            Ok(())
        })
        .and_then(|()| {
            let _writing = held.writing();
            tx.send(&Frame::End { count: plan.count })
                .and_then(|()| tx.flush())
                .map_err(|e| went_away(plan.count, e).into())
        })
        .and_then(|()| {
            if !two_way {
                return Ok(addr.clone());
            }
            let _writing = held.writing();
            receipt(&mut rx, plan, peer, &addr)
        });
        held.done();
        sent
    })
}

/// The receipt at the end of a two-way stream: all that was sent, taken in.
fn receipt(
    rx: &mut wire::FrameReader<ipc::transport::RecvHalf>,
    plan: &Plan,
    peer: Role,
    addr: &str,
) -> Result<String> {
    let unconfirmed = |what: String| {
        format!(
            "the {peer} went away after {} without confirming receipt ({what})",
            count(plan.count, "item")
        )
    };
    match rx.next_frame::<Frame>() {
        Ok(Some(Frame::Receipt { received })) if received == plan.count => {
            Ok(format!("the {peer} at {addr}"))
        }
        Ok(Some(Frame::Receipt { received })) => Err(format!(
            "the {peer} took in {received} of the {} sent",
            count(plan.count, "item")
        )
        .into()),
        Ok(Some(other)) => Err(unconfirmed(format!("it sent a {} frame", other.kind())).into()),
        Ok(None) => Err(unconfirmed("end of stream".into()).into()),
        Err(e) => Err(unconfirmed(e.to_string()).into()),
    }
}

/// A broker's answer to our `Hello`: its queue's capacity, or its reason for refusing us.
fn admitted(
    rx: &mut wire::FrameReader<ipc::transport::RecvHalf>,
    tx: &mut wire::FrameWriter<ipc::transport::SendHalf>,
    addr: &str,
) -> Result<u64> {
    tx.flush().map_err(|e| {
        format!(
            "the broker at {addr} went away at once ({})",
            ipc::say::io_words(&e)
        )
    })?;
    match rx.next_frame::<Admission>() {
        Ok(Some(Admission::Welcome { capacity })) => Ok(capacity),
        Ok(Some(Admission::Refused { why })) => {
            Err(format!("the broker at {addr} refused this producer: {why}").into())
        }
        Ok(None) => {
            Err(format!("the broker at {addr} closed before taking this producer in").into())
        }
        Err(e) => Err(format!("the broker at {addr} did not take this producer in ({e})").into()),
    }
}

/// Whether a write to the broker is held back (its queue full), watched from another
/// thread that says so once: a write blocked this long means the broker takes nothing in.
struct Held {
    /// Milliseconds since `start` when the current write began (0: not writing), or
    /// `u64::MAX` once the stream is over.
    since: AtomicU64,
    start: Instant,
}

const HELD_AFTER: Duration = Duration::from_secs(1);

impl Held {
    fn new() -> Held {
        Held {
            since: AtomicU64::new(0),
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .max(1)
    }

    /// Marks a write in progress until the guard drops.
    fn writing(&self) -> impl Drop + '_ {
        struct Writing<'a>(&'a AtomicU64);
        impl Drop for Writing<'_> {
            fn drop(&mut self) {
                let _ = self
                    .0
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                        (v != u64::MAX).then_some(0)
                    });
            }
        }
        let _ = self
            .since
            .compare_exchange(0, self.now_ms(), Ordering::SeqCst, Ordering::SeqCst);
        Writing(&self.since)
    }

    fn done(&self) {
        self.since.store(u64::MAX, Ordering::SeqCst);
    }

    /// Says once that the queue is full, when a write has been held for [`HELD_AFTER`].
    fn watch(&self, name: &str, capacity: u64) {
        loop {
            let since = self.since.load(Ordering::SeqCst);
            if since == u64::MAX {
                return;
            }
            if since != 0 && self.now_ms().saturating_sub(since) >= HELD_AFTER.as_millis() as u64 {
                ipc::elog!(
                    "{}: the queue is full ({capacity} waiting); waiting for consumers",
                    Paint::stderr().role(Role::Producer, name)
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The queue on Redis Streams: the same items and end, kept by a Redis server.
fn send_to_redis(plan: &Plan, endpoint: &common::cli::Endpoint, capacity: u64) -> Result<ExitCode> {
    if endpoint.listen {
        return Err("a redis:// queue is kept by a Redis server: connect to it (drop -l)".into());
    }
    let addr = &endpoint.address;
    let wait = endpoint.wait;
    let mut q = redisq::Queue::connect(addr, wait, || {
        common::cli::say_waiting(&plan.name, addr, wait);
    })?;
    let name = plan.name.clone();
    q.on_reconnect(move |line| {
        ipc::elog!("{}: {line}", Paint::stderr().role(Role::Producer, &name));
    });
    let started = Instant::now();
    let mut p = redisq::Producer::start(q, &plan.name, capacity, plan.delay.high)?;
    let went_away = |sent: u64, e: common::Error| {
        let were = if sent == 1 { "was" } else { "were" };
        format!("{e}, after {} {were} put", count(sent, "item"))
    };
    let payload = vec![b'x'; plan.payload];
    let batch = redisq::Producer::batch(plan.payload) as u64;
    // Unpaced, each put is sent before the previous one's reply is read (one round trip
    // less a batch); paced, each item is said once it is put.
    let ahead = plan.delay.is_zero();
    make(plan, batch, Progress::off(), |seqs| {
        let first = seqs.start;
        if ahead {
            p.put_ahead(seqs, &payload)
                .map_err(|e| went_away(p.confirmed(), e))?;
        } else {
            p.put(seqs, &payload).map_err(|e| went_away(first, e))?;
        }
        Ok(())
    })?;
    p.end(plan.count).map_err(|e| went_away(p.confirmed(), e))?;
    summary(plan, &format!("the Redis stream at {addr}"), started);
    Ok(ExitCode::SUCCESS)
}

/// Makes the plan's baozi and hands them to `put`, numbered from 0: paced (`--delay`), one
/// at a time after its pause, each said on stderr once `put` took it; unpaced, `batch` at a
/// time, with a count on a terminal.
fn make(
    plan: &Plan,
    batch: u64,
    mut progress: Progress,
    mut put: impl FnMut(Range<u64>) -> Result<()>,
) -> Result<()> {
    let paced = !plan.delay.is_zero();
    let batch = if paced { 1 } else { batch.max(1) };
    let who = Paint::stderr().role(Role::Producer, &plan.name);
    // Ctrl-C says how far it got: what was handed over (the rest was never made).
    static SENT: AtomicU64 = AtomicU64::new(0);
    let (name, total) = (who.clone(), plan.count);
    ipc::shutdown::on_interrupt(move || {
        ipc::elog!(
            "{name}: interrupted after sending {} of {total} baozi",
            SENT.load(Ordering::Relaxed)
        );
    });
    let mut rng = XorShift::seeded();
    let mut seq = 0;
    while seq < plan.count {
        progress.tick(seq);
        if paced {
            std::thread::sleep(plan.delay.pick(&mut rng));
        }
        let end = (seq + batch).min(plan.count);
        put(seq..end)?;
        SENT.store(end, Ordering::Relaxed);
        if paced {
            ipc::elog!("{who} made baozi {seq}");
        }
        seq = end;
    }
    progress.clear();
    Ok(())
}

fn summary(plan: &Plan, to: &str, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    ipc::elog!(
        "{}: sent {} baozi to {to} in {secs:.3}s",
        Paint::stderr().role(Role::Producer, &plan.name),
        plan.count,
    );
}
