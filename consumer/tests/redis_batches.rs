//! The queue on Redis Streams puts and acknowledges in batches: a producer killed (`-9`)
//! mid-batch leaves whole batches, each entry in the stream and counted or not there at all;
//! `--capacity` holds while batches go in and out. Each test has its own `redis-server` (a
//! free loopback port, no persistence) and queue names; every wait is for a line, an exit
//! or a server's answer, never a fixed sleep.
//!
//! Unix-only, like `redis.rs` (whose `Redis` helper this repeats in short, with a reader of
//! whole replies).
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::{Duration, Instant};
use testkit::redis::{Redis, Resp};
use testkit::{PATIENCE, all_eaten, eaten, spawn_with as spawn, unique};

/// The sequence numbers of a stream's entries, in order, from their `baozi` field.
fn seqs(r: &Redis, stream: &str) -> Vec<u64> {
    let Resp::Array(entries) = r.ask(&["XRANGE", stream, "-", "+"]) else {
        panic!("XRANGE answered no list");
    };
    entries
        .into_iter()
        .map(|e| {
            let Resp::Array(mut e) = e else { panic!() };
            let Resp::Array(fields) = e.remove(1) else {
                panic!()
            };
            let Resp::Bulk(Some(v)) = &fields[1] else {
                panic!()
            };
            let head = v.split(|&c| c == b'\n').next().unwrap();
            let seq = std::str::from_utf8(head)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            seq.parse().unwrap()
        })
        .collect()
}

#[test]
fn a_producer_killed_mid_batch_leaves_whole_batches_counted() {
    let Some(r) = Redis::start() else { return };
    // 4 KiB items go 256 to a script call (1 MiB of entries each): a kill lands while a
    // batch is on the wire or being added, most of the time.
    let mut killed = Vec::new();
    for round in 0..3 {
        let q = unique(&format!("killed-{round}"));
        let left_key = format!("{q}:totals");
        let mut p = spawn(
            "producer",
            &[
                &r.addr(&q),
                "--name",
                "p1",
                "-n",
                "100000",
                "--payload",
                "4KiB",
                "--capacity",
                "100000",
            ],
        );
        let deadline = Instant::now() + PATIENCE;
        // Killed after its 1st, 2nd or 3rd batch went in.
        while r.number(&["HGET", &left_key, "left"]) < 256 * (round + 1) {
            assert!(Instant::now() < deadline, "the producer never put a batch");
            std::thread::sleep(Duration::from_millis(1)); // polling the live count
        }
        p.kill();
        let left = r.number(&["HGET", &left_key, "left"]);
        let len = r.number(&["XLEN", &q]);
        assert_eq!(
            len, left,
            "every entry in the stream is counted, and no other"
        );
        assert_eq!(left % 256, 0, "{left} entries: a batch went in by halves");
        let seqs = seqs(&r, &q);
        assert_eq!(
            seqs,
            (0..left as u64).collect::<Vec<_>>(),
            "whole batches, in order"
        );
        killed.push(q);
    }
    // The runs are finished by running the producer again under its name, once the killed
    // one's hold on it lapsed (at most 5 s): what went in before is not put again, so the
    // accounting is exact and each item is eaten once.
    for q in killed {
        let deadline = Instant::now() + PATIENCE;
        while r.number(&["EXISTS", &format!("{q}:live:p1")]) == 1 {
            assert!(Instant::now() < deadline, "the name was never freed");
            std::thread::sleep(Duration::from_millis(20)); // polling the server
        }
        let n = "5000"; // more than the killed one put
        let c = spawn(
            "consumer",
            &[&r.addr(&q), "--name", "c1", "--producers", "1"],
        );
        let again = spawn("producer", &[&r.addr(&q), "--name", "p1", "-n", n]);
        again.finish().success();
        let c = c
            .finish()
            .success()
            .stderr_has(&format!(
                "is over: received {n} from 1 producer (p1 {n}); eaten {n} by 1 consumer (c1 {n})"
            ))
            .stderr_has("redelivered 0; dead 0");
        let (times, _) = eaten(&[&c.stdout]);
        all_eaten(&times, &["p1"], 5000);
        assert!(times.values().all(|&n| n == 1), "eaten twice: {times:?}");
        assert_eq!(
            r.number(&["XLEN", &q]),
            0,
            "eaten entries are gone at the end"
        );
    }
}

/// Entries `left` (put, not settled) and pending in the group, read at one instant.
const BOTH: &str = "local l = tonumber(redis.call('HGET', KEYS[2], 'left') or 0) \
    local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], 'baozi') \
    return {l, ok and p[1] or 0}";

#[test]
fn capacity_holds_while_batches_go_in_and_out() {
    let Some(r) = Redis::start() else { return };
    let q = unique("cap");
    let left_key = format!("{q}:totals");
    // Batches of 256 against a capacity of 100: each put takes only the room there is.
    let producers: Vec<_> = ["p1", "p2"]
        .iter()
        .map(|p| {
            spawn(
                "producer",
                &[&r.addr(&q), "--name", p, "-n", "1500", "--capacity", "100"],
            )
        })
        .collect();
    let consumers: Vec<_> = ["c1", "c2"]
        .iter()
        .map(|c| {
            spawn(
                "consumer",
                &[&r.addr(&q), "--name", c, "--producers", "2", "--eat", "1ms"],
            )
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    let mut most = 0;
    loop {
        // Both read in one step: the count and the group's pending entries.
        let Resp::Array(both) = r.ask(&["EVAL", BOTH, "2", &q, &left_key]) else {
            panic!("no pair")
        };
        let [Resp::Int(left), Resp::Int(pending)] = both[..] else {
            panic!("{both:?}")
        };
        assert!(left <= 100, "{left} entries left, over --capacity 100");
        assert!(pending <= left, "{pending} pending but only {left} left");
        most = most.max(left);
        if r.number(&["HLEN", &format!("{q}:ends")]) == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the producers never ended");
        std::thread::sleep(Duration::from_millis(5)); // polling the live count
    }
    assert!(most > 0, "never saw an entry left");
    for p in producers {
        p.finish().success();
    }
    let mut stdouts = Vec::new();
    for c in consumers {
        let c = c
            .finish()
            .success()
            .stderr_has("is over: received 3000 from 2 producers (p1 1500, p2 1500); eaten 3000")
            .stderr_has("redelivered 0; dead 0");
        stdouts.push(c.stdout);
    }
    let outs: Vec<&str> = stdouts.iter().map(String::as_str).collect();
    let (times, _) = eaten(&outs);
    all_eaten(&times, &["p1", "p2"], 1500);
    assert_eq!(r.number(&["XLEN", &q]), 0);
}
