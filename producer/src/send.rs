//! Sending a stream of baozi: greeting, items, end frame, and on two-way transports the
//! consumer's receipt.

use crate::Cli;
use common::Address;
use common::cli::Result;
use common::msg::{Baozi, Frame};
use common::style::Paint;
use common::transport::RecvHalf;
use common::units::show_bytes;
use common::wire::{self, FrameReader, FrameWriter, Role};
use std::io::{IsTerminal, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// `--payload` value parser: a size no larger than one frame can carry.
pub fn parse_payload(s: &str) -> std::result::Result<usize, String> {
    let n = common::units::parse_size(s)?;
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
    interval: Duration,
    name: String,
    payload: usize,
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    let plan = Plan {
        count: cli.count,
        interval: cli.interval,
        name: cli.name,
        payload: cli.payload,
    };
    if cli.spawn_consumer {
        return spawn_consumer(&plan, &cli.consumer_args);
    }
    let addr = &cli.endpoint.address;
    if *addr == Address::Stdio && std::io::stdout().is_terminal() {
        return Err(
            "stdout is a terminal, and baozi frames are binary; pipe them into a \
                    consumer (`producer stdio | consumer stdio`), use --spawn-consumer, \
                    or give a socket address"
                .into(),
        );
    }
    let conn = cli.endpoint.open_one(&plan.name)?;
    let peer = conn.peer().to_owned();
    let two_way = conn.is_two_way();
    let (rx, tx) = conn.split();
    let started = Instant::now();
    send(tx, two_way.then_some(rx), &plan)?;
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
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pipe = child.stdin.take().ok_or("the child has no stdin pipe")?;
    let started = Instant::now();
    let sent = send(pipe, None, plan); // dropping the pipe closes it
    let status = child.wait()?;
    match (sent, status.success()) {
        (Ok(()), true) => {
            summary(plan, "the spawned consumer", started);
            Ok(ExitCode::SUCCESS)
        }
        (Ok(()), false) => Err(format!("the spawned consumer failed ({status})").into()),
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

/// Sends the whole stream on `tx`; with `rx` (two-way transports) also checks the
/// consumer's greeting and, at the end, its receipt.
fn send(tx: impl Write, rx: Option<RecvHalf>, plan: &Plan) -> Result<()> {
    let mut w = FrameWriter::new(tx);
    let went_away =
        |sent: u64, e: std::io::Error| format!("consumer went away after {sent} items ({e})");
    w.write_greeting(Role::Producer)
        .map_err(|e| went_away(0, e))?;
    let mut reader = match rx {
        Some(rx) => {
            w.flush().map_err(|e| went_away(0, e))?;
            rx.set_timeout(Some(wire::GREETING_TIMEOUT))?;
            let mut r = FrameReader::new(rx);
            r.read_greeting(Role::Consumer)?;
            r.get_ref().set_timeout(None)?;
            Some(r)
        }
        None => None,
    };
    let paint = Paint::stderr();
    let who = paint.role(Role::Producer, &plan.name);
    let mut frame = Frame::Baozi(Baozi {
        seq: 0,
        producer: plan.name.clone(),
        pid: std::process::id(),
        payload: vec![b'x'; plan.payload],
    });
    for seq in 0..plan.count {
        if let Frame::Baozi(b) = &mut frame {
            b.seq = seq;
        }
        if !plan.interval.is_zero() && seq > 0 {
            std::thread::sleep(plan.interval);
        }
        w.send(&frame).map_err(|e| went_away(seq, e))?;
        if !plan.interval.is_zero() {
            w.flush().map_err(|e| went_away(seq, e))?;
            eprintln!("{who} made baozi {seq}");
        }
    }
    w.send(&Frame::End { count: plan.count })
        .and_then(|()| w.flush())
        .map_err(|e| went_away(plan.count, e))?;
    if let Some(r) = &mut reader {
        match r.next_frame() {
            Ok(Some(Frame::Receipt { received })) if received == plan.count => {}
            Ok(Some(Frame::Receipt { received })) => {
                return Err(format!(
                    "the consumer received {received} of the {} items sent",
                    plan.count
                )
                .into());
            }
            Ok(other) => {
                return Err(format!(
                    "consumer went away after {} items without confirming receipt ({})",
                    plan.count,
                    other.map_or("end of stream".into(), |f| format!("{f:?}"))
                )
                .into());
            }
            Err(e) => {
                return Err(format!(
                    "consumer went away after {} items without confirming receipt ({e})",
                    plan.count
                )
                .into());
            }
        }
    }
    Ok(())
}

fn summary(plan: &Plan, to: &str, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: sent {} baozi to {to} in {secs:.3}s",
        Paint::stderr().role(Role::Producer, &plan.name),
        plan.count
    );
}
