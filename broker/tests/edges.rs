//! The queue at its edges, end to end: consumers stopped by a signal, slow consumers
//! sharing work, big items, a greedy hand-made consumer, a frozen one. Each test uses its
//! own names and ports; every wait is for a line or an exit, never a fixed sleep.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod by_hand;

use common::msg::queue::{Reply, Request};
use common::wire;
#[cfg(unix)] // the signal tests only
use std::time::Duration;
use testkit::{Proc, cmd_with as client, run, spawn_with as spawn};
#[cfg(unix)] // the signal tests only
use testkit::{all_eaten, eaten};
use testkit::{broker, local};

/// How many items the broker's totals line says `consumer` ate.
fn eaten_by(broker_stderr: &str, consumer: &str) -> u64 {
    let totals = broker_stderr
        .lines()
        .find(|l| l.contains("totals:"))
        .unwrap_or_else(|| panic!("no totals line\n{broker_stderr}"));
    let key = format!("{consumer} ");
    let after = totals
        .split(['(', ',', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&key))
        .unwrap_or_else(|| panic!("{consumer} not in {totals}"));
    after.parse().unwrap()
}

// Signals by name: Unix only here (the wine suite drives Ctrl-C its own way).
#[cfg(unix)]
#[test]
fn a_consumer_stopped_by_a_signal_keeps_what_it_ate_and_gives_back_the_rest_at_once() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (b, addr) = broker(&local("q-stop"), &["--producers", "1"]);
        let doomed = spawn("consumer", &[&addr, "--name", "doomed", "--eat", "300ms"]);
        b.wait_for_stderr("consumer doomed (pid");
        let p = spawn("producer", &[&addr, "-n", "10", "--name", "p1"]);
        doomed.wait_for_stdout("doomed ate baozi 2 ");
        doomed.signal(signal);
        let doomed = doomed.finish_within(Duration::from_secs(5)).code(code);
        b.wait_for_stderr("consumer doomed left (stopped), after eating");
        let survivor = spawn("consumer", &[&addr, "--name", "survivor"]);
        p.finish().success();
        let survivor = survivor.finish().success();
        let (times, redelivered) = eaten(&[&doomed.stdout, &survivor.stdout]);
        all_eaten(&times, &["p1"], 10);
        assert!(
            times.values().all(|&n| n == 1),
            "nothing eaten twice: {times:?}"
        );
        assert!(redelivered.is_empty(), "{redelivered:?}");
        let b = b.finish().success();
        let printed = doomed.stdout.lines().count() as u64;
        assert!(printed >= 3, "{}", doomed.stdout);
        assert_eq!(eaten_by(&b.stderr, "doomed"), printed, "{}", b.stderr);
        b.stderr_has("redelivered 0; dead 0");
    }
}

#[test]
fn three_equal_slow_consumers_share_the_work_evenly() {
    let (b, addr) = broker(&local("q-share"), &["--producers", "1"]);
    let names = ["c1", "c2", "c3"];
    let consumers: Vec<Proc> = names
        .iter()
        .map(|c| spawn("consumer", &[&addr, "--name", c, "--eat", "100ms"]))
        .collect();
    for _ in names {
        b.wait_for_stderr(") joined "); // any order
    }
    run(client("producer", &[&addr, "-n", "30", "--name", "p1"])).success();
    for c in consumers {
        c.finish().success();
    }
    let b = b.finish().success();
    // An even split is 10 each; the old greedy prefetch gave 15/4/11 or 10/17/3.
    for c in names {
        let n = eaten_by(&b.stderr, c);
        assert!(n >= 8, "{c} ate only {n}\n{}", b.stderr);
    }
}

#[test]
fn items_whose_batch_is_over_the_frame_limit_are_eaten_not_declared_dead() {
    // 20 items of 1 MiB: a batch of them would be over wire::MAX_FRAME (16 MiB).
    let (b, addr) = broker("tcp:127.0.0.1:0", &["--producers", "1"]);
    run(client(
        "producer",
        &[&addr, "-n", "20", "--payload", "1MiB", "--name", "p1"],
    ))
    .success();
    let c = spawn("consumer", &[&addr, "-q", "--expect", "20", "--name", "c1"]);
    c.finish().success();
    b.finish()
        .success()
        .stderr_has("eaten 20 by 1 consumer (c1 20); redelivered 0; dead 0");
}

/// A hand-made consumer that asks for 1024 at a time and never acknowledges: returns how
/// many items it was handed before the broker started answering `Idle` only.
fn greedy(addr: &str) -> (wire::Session, usize) {
    let mut s = by_hand::consumer(addr, "greedy");
    let mut held = 0;
    let mut idle = 0;
    // Idle several times in a row: the broker has stopped handing it anything.
    while idle < 4 {
        s.tx.send(&Request::Take { ack: 0, want: 1024 }).unwrap();
        s.tx.flush().unwrap();
        match s.rx.next_frame::<Reply>().unwrap().unwrap() {
            Reply::Items(items) => {
                held += items.len();
                idle = 0;
            }
            Reply::Idle => idle += 1,
            other => panic!("{other:?}"),
        }
    }
    (s, held)
}

#[test]
fn a_greedy_consumer_is_leased_no_more_than_the_broker_bounds() {
    let (b, addr) = broker(
        &local("q-greedy"),
        &["--producers", "1", "--capacity", "100"],
    );
    let p = spawn("producer", &[&addr, "-n", "3000", "--name", "p1"]);
    b.wait_for_stderr("producer p1 (pid");
    let (s, held) = greedy(&addr);
    // All leases together are at most the capacity, so with the queue full behind them
    // the broker holds at most 2 x 100 items, whatever a consumer asks.
    assert!(
        held <= 100,
        "a consumer that never acknowledges held {held}"
    );
    let status = run(client("broker", &["--status", &addr])).success();
    status.stdout_has("leased 100,").stdout_has("queued 100 ");
    drop(s); // it goes away: all it held comes back
    let c = spawn(
        "consumer",
        &[&addr, "-q", "--expect", "3000", "--name", "c1"],
    );
    p.finish().success();
    c.finish().success();
    b.finish()
        .success()
        .stderr_has("received 3000 from 1 producer");
}

#[cfg(unix)]
#[test]
fn a_frozen_consumers_items_come_back_after_its_lease() {
    let (b, addr) = broker(&local("q-frozen"), &["--producers", "1"]);
    let mut frozen = spawn(
        "consumer",
        &[&addr, "--name", "frozen", "--eat", "50ms", "--lease", "1s"],
    );
    let p = spawn("producer", &[&addr, "-n", "20", "--name", "p1"]);
    frozen.wait_for_stdout("frozen ate baozi 1 ");
    frozen.signal("STOP");
    let other = spawn("consumer", &[&addr, "--name", "other"]);
    p.finish().success();
    b.wait_for_stderr("consumer frozen sent nothing for its lease");
    let other = other.finish().success();
    frozen.signal("CONT");
    frozen.kill();
    let frozen = frozen.finish();
    let (times, _) = eaten(&[&frozen.stdout, &other.stdout]);
    all_eaten(&times, &["p1"], 20);
    b.finish()
        .success()
        .stderr_has("received 20 from 1 producer");
}

/// After its run, while the broker waits for its connected consumers to hear the end (one
/// here says hello and then nothing), a consumer that connects late is told the run is
/// over, and a late producer that the broker has them all: neither is dropped unread,
/// which would reset its connection.
#[test]
fn clients_that_come_after_the_run_are_told_it_is_over_not_reset() {
    let (b, addr) = broker(&local("q-late"), &["--producers", "1"]);
    let holder = by_hand::consumer(&addr, "holder");
    run(client("producer", &[&addr, "-n", "1", "--name", "p1"])).success();
    run(client(
        "consumer",
        &[&addr, "-q", "--expect", "1", "--name", "c1"],
    ))
    .success();
    b.wait_for_stderr("consumer c1 told the run is over");
    run(client("consumer", &[&addr, "--name", "late"]))
        .success()
        .stderr_has("late: 0 items");
    run(client("producer", &[&addr, "-n", "1", "--name", "p2"]))
        .failure()
        .stderr_has("refused");
    drop(holder);
    b.finish()
        .success()
        .stderr_has("consumer late told the run is over, after eating 0 items")
        .stderr_has("eaten 1 by 3 consumers (holder 0, c1 1, late 0)");
}
