//! The queue on Redis across runs: a producer's name is its own while it runs (issue
//! 19.13), a finished run refuses a late producer and an abandoned run's keys expire
//! (issue 20.7). Each test has its own `redis-server` and queue names; every wait is for a
//! line, an exit or the server's answer, never a fixed sleep.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::{Duration, Instant};
use testkit::redis::Redis;
use testkit::{PATIENCE, all_eaten, cmd_with as client, eaten, run, spawn_with as spawn, unique};

/// The seconds to live of `key` (-1: none, -2: no such key).
fn ttl(r: &Redis, key: &str) -> i64 {
    r.number(&["TTL", key])
}

#[test]
fn a_live_producers_name_is_refused() {
    let Some(r) = Redis::start() else { return };
    let q = unique("live");
    let addr = r.addr(&q);
    let c = spawn("consumer", &[&addr, "--producers", "2", "--name", "c1"]);
    let p1 = spawn(
        "producer",
        &[&addr, "-n", "100", "--delay", "50ms", "--name", "p1"],
    );
    // It runs for 5 s: time enough for the second one to start, even on a loaded machine.
    p1.wait_for_stderr("p1 made baozi 0");
    run(client("producer", &[&addr, "-n", "1", "--name", "p1"]))
        .code(1)
        .stderr_has("a producer named p1 is already sending to ")
        .stderr_has(
            "give this one another --name (if that one was killed, its name is free within ",
        );
    p1.finish().success();
    run(client("producer", &[&addr, "-n", "1", "--name", "p2"])).success();
    c.finish()
        .success()
        .stderr_has("received 101 from 2 producers (p1 100, p2 1); eaten 101 by 1 consumer");
}

#[test]
fn a_killed_producers_name_is_free_after_its_lease_and_its_rerun_puts_nothing_twice() {
    let Some(r) = Redis::start() else { return };
    let q = unique("rerun");
    let addr = r.addr(&q);
    let c = spawn("consumer", &[&addr, "--producers", "1", "--name", "c1"]);
    let mut doomed = spawn(
        "producer",
        &[&addr, "-n", "1000", "--delay", "20ms", "--name", "pk"],
    );
    doomed.wait_for_stderr("pk made baozi 2");
    doomed.kill();
    doomed.finish();
    let live = format!("{q}:live:pk");
    let left = r.number(&["PTTL", &live]);
    assert!(left > 0 && left <= 5_020, "the name is held {left} ms");
    run(client("producer", &[&addr, "-n", "10", "--name", "pk"]))
        .code(1)
        .stderr_has("already sending to");
    let deadline = Instant::now() + PATIENCE;
    while r.number(&["EXISTS", &live]) == 1 {
        assert!(Instant::now() < deadline, "the name was never freed");
        std::thread::sleep(Duration::from_millis(50)); // polling the server
    }
    // The rerun puts only what the killed one had not: each item once.
    run(client("producer", &[&addr, "-n", "10", "--name", "pk"])).success();
    let c = c
        .finish()
        .success()
        .stderr_has("received 10 from 1 producer (pk 10); eaten 10 by 1 consumer (c1 10)");
    let (times, _) = eaten(&[&c.stdout]);
    all_eaten(&times, &["pk"], 10);
    assert!(times.values().all(|&n| n == 1), "{times:?}");
}

#[test]
fn a_finished_run_refuses_a_late_producer() {
    let Some(r) = Redis::start() else { return };
    let q = unique("late");
    let addr = r.addr(&q);
    let c = spawn("consumer", &[&addr, "--producers", "1", "--name", "c1"]);
    run(client("producer", &[&addr, "-n", "3", "--name", "p1"])).success();
    c.finish()
        .success()
        .stderr_has("received 3 from 1 producer");
    run(client("producer", &[&addr, "-n", "3", "--name", "p2"]))
        .code(1)
        .stderr_has("already has all its 1 producer and they have ended")
        .stderr_has("use another queue name");
    assert_eq!(r.number(&["HGET", &format!("{q}:totals"), "left"]), 0);
    assert_eq!(r.number(&["XLEN", &q]), 0);
}

#[test]
fn an_abandoned_runs_keys_expire() {
    let Some(r) = Redis::start() else { return };
    // A first consumer aborted before any producer came.
    let q = unique("abandoned");
    let mut c = spawn(
        "consumer",
        &[&r.addr(&q), "--producers", "3", "--name", "c1"],
    );
    r.wait_for_blocked(1);
    c.kill();
    c.finish();
    for key in [format!("{q}:producers"), format!("{q}:run"), q.clone()] {
        let t = ttl(&r, &key);
        assert!(t > 0 && t <= 600, "{key} expires in {t} s");
    }
    // A producer killed before its end, with no consumer ever.
    let q = unique("abandoned-p");
    let mut p = spawn(
        "producer",
        &[&r.addr(&q), "-n", "1000", "--delay", "10ms", "--name", "p1"],
    );
    p.wait_for_stderr("p1 made baozi 1");
    p.kill();
    p.finish();
    for key in [format!("{q}:totals"), format!("{q}:run"), q.clone()] {
        let t = ttl(&r, &key);
        assert!(t > 0 && t <= 600, "{key} expires in {t} s");
    }
}
