//! The queue on Redis when its server restarts mid-run (issue 19.16): a server that kept its
//! data (`appendonly yes`, `appendfsync always`) is reconnected to and the run carries on,
//! every item eaten and counted once; one that came back empty is told in one line, and
//! every client exits 1; connections dropped while the server stays up are made again, and
//! nothing is counted twice. Each test has its own `redis-server` (a free loopback port, its own
//! folder), killed -9 and started again on the same port; every wait is for a line, an exit
//! or the server's answer, never a fixed sleep.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::{Duration, Instant};
use testkit::redis::Redis;
use testkit::{PATIENCE, Proc, all_eaten, eaten, spawn_with as spawn, unique};

/// How many items the consumers have acknowledged so far (0 while the key is missing).
fn eaten_so_far(r: &Redis, q: &str) -> i64 {
    r.number(&["HGET", &format!("{q}:totals"), "eaten"])
}

/// Waits until the consumers have acknowledged `more` items beyond `from`: the run moves.
fn wait_for_progress(r: &Redis, q: &str, from: i64, more: i64, round: usize) -> i64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let n = eaten_so_far(r, q);
        if n >= from + more {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: the run did not move on after the restart ({n} eaten)"
        );
        std::thread::sleep(Duration::from_millis(5)); // polling the server
    }
}

/// Two consumers and `producers` (`n` items each, `delay` apart) on the queue `q`, with
/// `fault` done to the server ten times mid-run, each once the run has moved on; then every
/// client has reconnected, and every item was eaten and counted exactly once.
fn ten_faults_mid_run(
    r: &mut Redis,
    q: &str,
    producers: &[&str],
    n: u64,
    delay: &str,
    mut fault: impl FnMut(&mut Redis, usize),
) {
    let addr = r.addr(q);
    let many = producers.len().to_string();
    let consumers: Vec<Proc> = ["c1", "c2"]
        .iter()
        .map(|c| spawn("consumer", &[&addr, "--producers", &many, "--name", c]))
        .collect();
    r.wait_for_blocked(2);
    let count = n.to_string();
    let running: Vec<Proc> = producers
        .iter()
        .map(|p| {
            spawn(
                "producer",
                &[&addr, "-n", &count, "--delay", delay, "--name", p],
            )
        })
        .collect();
    let total = producers.len() as u64 * n;
    let mut seen = 0;
    for round in 0..10 {
        seen = wait_for_progress(r, q, seen, 5, round);
        assert!(
            seen < total as i64 - 20,
            "round {round}: the run is nearly over ({seen} eaten): make it longer"
        );
        fault(r, round);
    }
    let limit = Duration::from_secs(60);
    for p in running {
        p.finish_within(limit).success().stderr_has("reconnecting");
    }
    let each: Vec<String> = producers.iter().map(|p| format!("{p} {n}")).collect();
    let mut outs = Vec::new();
    for c in consumers {
        let c = c
            .finish_within(limit)
            .success()
            .stderr_has(&format!(
                "is over: received {total} from {many} producers ({}); eaten {total} by 2 consumers",
                each.join(", ")
            ))
            .stderr_has("went away")
            .stderr_has("reconnecting");
        outs.push(c);
    }
    let (times, _) = eaten(&[&outs[0].stdout, &outs[1].stdout]);
    all_eaten(&times, producers, n);
}

#[test]
fn ten_restarts_of_a_persisting_redis_lose_nothing_and_count_each_item_once() {
    let Some(mut r) = Redis::start_with(&["--appendonly", "yes", "--appendfsync", "always"]) else {
        return;
    };
    let q = unique("restarts");
    ten_faults_mid_run(&mut r, &q, &["p1", "p2", "p3"], 300, "0..10ms", |r, _| {
        r.restart();
    });
}

/// The server stays up but drops every client's connection (`CLIENT KILL`), ten times
/// mid-run: a request whose reply was lost is made again on a new connection, so an
/// acknowledgement the server had already applied arrives twice (and a batch of items may
/// be put twice): every item is still eaten and counted exactly once.
#[test]
fn connections_dropped_mid_run_ten_times_lose_nothing_and_count_each_item_once() {
    let Some(mut r) = Redis::start() else {
        return;
    };
    let q = unique("dropped");
    ten_faults_mid_run(&mut r, &q, &["p1", "p2"], 400, "0..6ms", |r, round| {
        let killed = r.number(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
        assert!(killed >= 1, "round {round}: no connection to drop");
    });
}

#[test]
fn a_redis_restarted_without_its_data_is_told_in_one_line() {
    let Some(mut r) = Redis::start() else { return };
    let q = unique("amnesia");
    let addr = r.addr(&q);
    let c = spawn("consumer", &[&addr, "--producers", "1", "--name", "c1"]);
    let p = spawn(
        "producer",
        &[&addr, "-n", "100000", "--delay", "5ms", "--name", "p1"],
    );
    c.wait_for_stdout("c1 ate baozi 3 ");
    r.restart();
    let limit = Duration::from_secs(20);
    for out in [c.finish_within(limit), p.finish_within(limit)] {
        let out = out
            .code(1)
            .stderr_has("restarted without its data; this run's items are lost");
        let told = out
            .stderr
            .lines()
            .filter(|l| l.contains("restarted without its data"))
            .count();
        assert_eq!(told, 1, "{}", out.stderr);
    }
    // Nothing started a new run in the empty server.
    assert_eq!(r.command(&["EXISTS", &format!("{q}:run")]), ":0");
}

/// Ctrl-C while a consumer waits for its server to come back ends it at once, with 130 (the
/// signal's ending no longer waits out its goodbye's 3 s).
#[test]
fn ctrl_c_while_reconnecting_ends_a_consumer_at_once() {
    let Some(mut r) = Redis::start() else { return };
    let q = unique("gone");
    let addr = r.addr(&q);
    let c = spawn("consumer", &[&addr, "--producers", "1", "--name", "c1"]);
    r.wait_for_blocked(1);
    r.kill();
    c.wait_for_stderr("reconnecting (for up to 10s)");
    c.signal("INT");
    c.finish_within(Duration::from_secs(2))
        .code(130)
        .stderr_has("interrupted");
}
