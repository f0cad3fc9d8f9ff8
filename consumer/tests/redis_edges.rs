//! The queue on Redis Streams at its edges, end to end, as the broker's `edges.rs`: a
//! consumer stopped by a signal, slow consumers sharing the work. Each test has its own
//! `redis-server` (a free loopback port, no persistence) and queue names; every wait is for
//! a line, an exit or a server's answer, never a fixed sleep.
//!
//! Unix-only, like `redis.rs` (whose `Redis` helper this repeats in short).
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;
use testkit::redis::Redis;
use testkit::{Proc, all_eaten, cmd_with as client, eaten, run, spawn_with as spawn, unique};

/// How many items the run's totals line (on `stderr`) says `consumer` ate.
fn eaten_by(stderr: &str, consumer: &str) -> u64 {
    let totals = stderr
        .lines()
        .find(|l| l.contains("is over:"))
        .unwrap_or_else(|| panic!("no totals line\n{stderr}"));
    let key = format!("{consumer} ");
    totals
        .split(['(', ',', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&key))
        .unwrap_or_else(|| panic!("{consumer} not in {totals}"))
        .parse()
        .unwrap()
}

#[test]
fn a_consumer_stopped_by_a_signal_keeps_what_it_ate_and_gives_back_the_rest_at_once() {
    let Some(r) = Redis::start() else { return };
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let q = unique("stop");
        let addr = r.addr(&q);
        // The default lease (30 s): what comes back must not wait for it.
        let doomed = spawn(
            "consumer",
            &[
                &addr,
                "--producers",
                "1",
                "--name",
                "doomed",
                "--eat",
                "300ms",
            ],
        );
        r.wait_for_blocked(1);
        let p = spawn("producer", &[&addr, "-n", "10", "--name", "p1"]);
        doomed.wait_for_stdout("doomed ate baozi 2 ");
        doomed.signal(signal);
        let doomed = doomed.finish_within(Duration::from_secs(5)).code(code);
        p.finish().success();
        let survivor = spawn(
            "consumer",
            &[&addr, "--producers", "1", "--name", "survivor"],
        )
        .finish_within(Duration::from_secs(15))
        .success();
        let (times, redelivered) = eaten(&[&doomed.stdout, &survivor.stdout]);
        all_eaten(&times, &["p1"], 10);
        assert!(
            times.values().all(|&n| n == 1),
            "nothing eaten twice: {times:?}"
        );
        assert!(redelivered.is_empty(), "{redelivered:?}");
        let printed = doomed.stdout.lines().count() as u64;
        assert!(printed >= 3, "{}", doomed.stdout);
        assert_eq!(eaten_by(&survivor.stderr, "doomed"), printed);
        survivor.stderr_has("redelivered 0; dead 0");
    }
}

#[test]
fn three_equal_slow_consumers_share_the_work_evenly() {
    let Some(r) = Redis::start() else { return };
    let q = unique("share");
    let addr = r.addr(&q);
    let names = ["c1", "c2", "c3"];
    let consumers: Vec<Proc> = names
        .iter()
        .map(|c| {
            spawn(
                "consumer",
                &[&addr, "--producers", "1", "--name", c, "--eat", "100ms"],
            )
        })
        .collect();
    r.wait_for_blocked(3);
    run(client("producer", &[&addr, "-n", "30", "--name", "p1"])).success();
    let last = consumers
        .into_iter()
        .map(|c| c.finish().success())
        .last()
        .unwrap();
    // An even split is 10 each; a greedy prefetch gave one consumer all 30.
    for c in names {
        let n = eaten_by(&last.stderr, c);
        assert!(n >= 8, "{c} ate only {n}\n{}", last.stderr);
    }
}
