//! Which route runs: a Redis stream (`redis.rs`), or over a connection, a producer's
//! stream (`pipe.rs`, one per connection, several at once with `--producers`, one after
//! another with `-k`) or a broker's queue (`broker.rs`), as the handshake says; then the
//! summary.

use crate::Cli;
use crate::eat::{Manner, Tally};
use common::cli::{Greeter, Result, say_closing};
use common::style::Paint;
use common::wire::{self, Role, Session};
use ipc::Address;
use ipc::transport;
use ipc::units::show_bytes;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    if cli.endpoint.address == Address::Stdio && std::io::stdin().is_terminal() {
        return Err(
            "stdin is a terminal, not a baozi stream; pipe a producer in \
                    (`producer stdio | consumer stdio`) or listen with -l"
                .into(),
        );
    }
    let name = cli.name.clone();
    ipc::shutdown::on_interrupt(move || {
        // The count is the lines shown: nothing more is eaten from a queue, or shown.
        crate::eat::stop_eating();
        match crate::eat::eaten_so_far() {
            Some(n) => ipc::elog!(
                "{name}: interrupted after eating {}",
                ipc::units::count(n, "item")
            ),
            None => ipc::elog!("{name}: interrupted (stdout is not being read)"),
        }
    });
    let manner = Manner {
        name: cli.name.clone(),
        who: Paint::stdout().role(Role::Consumer, &cli.name),
        quiet: cli.quiet,
        pace: cli.eat,
        die_on: cli.die_on,
        lease: cli.lease,
    };

    if cli.keep_listening {
        return keep_listening(cli, &manner);
    }
    let producers = cli.producers.unwrap_or(1);
    let (started, results) = if let Address::Redis { .. } = cli.endpoint.address {
        (Instant::now(), vec![crate::redis::run(cli, &manner)])
    } else if producers > 1 {
        let listener = listen(cli)?;
        let greeter = Greeter::start(listener, &cli.name, Role::Consumer, &[Role::Producer])?;
        let first = greeter.next()?;
        let started = Instant::now();
        let results = std::thread::scope(|s| {
            let manner = &manner;
            let mut workers = Vec::new();
            let mut next = Ok(first);
            loop {
                // A thread that cannot be started fails that producer's stream only.
                workers.push(next.and_then(|session| {
                    let peer = session.addr.clone();
                    let tag = format!("producer from {peer}");
                    std::thread::Builder::new()
                        .spawn_scoped(s, move || {
                            ipc::say::set_peer_tag(|| tag);
                            converse(session, manner, cli.prefetch)
                        })
                        .map_err(|e| {
                            format!("cannot start a thread for the producer at {peer}: {e}").into()
                        })
                }));
                if workers.len() == producers as usize {
                    break;
                }
                next = greeter.next();
            }
            drop(greeter);
            workers
                .into_iter()
                .map(|w| match w {
                    Ok(w) => w.join().unwrap_or_else(|_| {
                        (Tally::default(), Err("a receiving thread panicked".into()))
                    }),
                    Err(e) => (Tally::default(), Err(e)),
                })
                .collect::<Vec<_>>()
        });
        (started, results)
    } else {
        // Listening, only producers come; connecting, we may reach a producer or a broker.
        let accept: &[Role] = if cli.endpoint.listen {
            &[Role::Producer]
        } else {
            &[Role::Producer, Role::Broker]
        };
        let session = cli
            .endpoint
            .open_session(&cli.name, Role::Consumer, accept)?;
        let started = Instant::now();
        (started, vec![converse(session, &manner, cli.prefetch)])
    };

    crate::eat::flush_lines();
    let mut total = Tally::default();
    let mut failed = 0;
    for (tally, result) in results {
        total.items += tally.items;
        total.bytes += tally.bytes;
        if let Err(e) = result {
            common::cli::print_error("consumer", &*e);
            failed += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let mut line = format!(
        "{}: {} in {secs:.3}s ({}",
        Paint::stderr().role(Role::Consumer, &cli.name),
        ipc::units::count(total.items, "item"),
        ipc::units::rate(total.items, secs, "item", "items"),
    );
    if total.bytes > 0 {
        line += &format!(
            "; {} of payload, {}/s",
            show_bytes(total.bytes),
            show_bytes((total.bytes as f64 / secs) as u64)
        );
    }
    // After an error that ended the run before anything was eaten (a refusal, a misuse
    // found by the queue), the error is the whole story.
    if total.items > 0 || failed == 0 {
        ipc::elog!("{line})");
    }
    if let Some(expect) = cli.expect
        && expect != total.items
    {
        ipc::elog!(
            "consumer: error: expected {}, {} arrived",
            ipc::units::count(expect, "item"),
            total.items
        );
        failed += 1;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Listens where `-l` says, waiting out a TCP port in TIME-WAIT.
fn listen(cli: &Cli) -> Result<transport::Listener> {
    let (addr, access) = (&cli.endpoint.address, cli.endpoint.peers.access());
    let on_wait = || say_closing(&cli.name, addr);
    Ok(transport::listen(addr, access, on_wait)?)
}

/// `-l -k`: serves producers, one after another or several at once, each on its own thread,
/// until Ctrl-C (like `nc -k`). Each stream's end or failure is one line; only the listener
/// failing ends the run.
fn keep_listening(cli: &Cli, manner: &Manner) -> Result<ExitCode> {
    let listener = listen(cli)?;
    listener.announce();
    let who = Paint::stderr().role(Role::Consumer, &cli.name);
    std::thread::scope(|s| {
        let mut k = 0u64;
        loop {
            k += 1;
            // Greeted on the connection's own thread, so that a silent one holds up nobody.
            let conn = listener.accept_own(&cli.name)?;
            let peer = conn.peer().to_owned();
            let (who, peer_) = (&who, peer.clone());
            let spawned = std::thread::Builder::new().spawn_scoped(s, move || {
                ipc::say::set_peer_tag(|| format!("producer {k} from {peer_}"));
                let session = match wire::handshake(conn, Role::Consumer, &[Role::Producer]) {
                    Ok(session) => session,
                    Err(e) => {
                        ipc::elog!("{}: ignored a connection from {peer_}: {e}", cli.name);
                        return;
                    }
                };
                match converse(session, manner, cli.prefetch) {
                    (tally, Ok(())) => ipc::elog!(
                        "{who}: {} from {peer_}; listening for the next producer",
                        ipc::units::count(tally.items, "item")
                    ),
                    (_, Err(e)) => common::cli::print_error("consumer", &*e),
                }
            });
            // Out of threads (a process limit): this producer is dropped, the others go on.
            if let Err(e) = spawned {
                ipc::elog!(
                    "consumer: error: dropped the connection from {peer}: cannot start a thread for it: {e}"
                );
            }
        }
    })
}

/// One whole conversation, after the handshake: the pipe (a producer's stream) or the
/// queue (a broker). Returns what arrived even when it failed.
fn converse(session: Session, manner: &Manner, prefetch: u32) -> (Tally, Result<()>) {
    let peer = session.addr.clone();
    let (tally, result) = if session.peer == Role::Broker {
        crate::broker::run(session, manner, prefetch)
    } else {
        crate::pipe::run(session, manner)
    };
    crate::eat::flush_lines();
    // A message that names the peer already is not prefixed with it again.
    let result = result.map_err(|e| {
        let e = e.to_string();
        if e.contains(&peer) {
            e.into()
        } else {
            format!("{peer}: {e}").into()
        }
    });
    (tally, result)
}
