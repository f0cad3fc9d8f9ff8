//! The queue from Python: `python/baozi_ipc.py` (standard library only, written from
//! docs/wire.md) as a producer and a consumer beside ours, through a real broker, over
//! tcp:, unix: and local: (an abstract socket on Linux). Each run's every item is checked.
// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use testkit::broker;
use testkit::{all_eaten, eaten, python_addresses, python_example, spawn_with as spawn};

#[test]
fn a_python_producer_and_ours_through_our_broker_to_a_python_consumer_and_ours() {
    for row in python_addresses("py-queue") {
        let (b, at) = broker(&row.listen, &["--producers", "2"]);
        let ours = spawn("consumer", &[&at, "--name", "c1", "--prefetch", "4"]);
        let theirs = python_example("consume.py", &[&at, "pyc"]);
        // Both consumers in before any item, or ours may eat the whole run first.
        b.wait_for_stderr("consumer c1 (pid");
        b.wait_for_stderr("consumer pyc (pid");
        let py1 = python_example("produce.py", &[&at, "200", "py1"]);
        let p1 = spawn("producer", &[&at, "-n", "200", "--name", "p1"]);
        let sent = py1.finish().success();
        assert_eq!(
            sent.stdout, "py1: sent 200, the other side took 200\n",
            "{row}"
        );
        p1.finish().success();
        let (ours, theirs) = (ours.finish().success(), theirs.finish().success());
        let (times, redelivered) = eaten(&[&ours.stdout, &theirs.stdout]);
        all_eaten(&times, &["py1", "p1"], 200);
        assert!(times.values().all(|&n| n == 1), "{row}: eaten twice");
        assert!(redelivered.is_empty(), "{row}");
        let eaten_by_python = theirs.stdout.lines().count();
        b.finish()
            .success()
            .stderr_has("received 400 from 2 producers (")
            .stderr_has(&format!("pyc {eaten_by_python}"))
            .stderr_has("redelivered 0; dead 0");
    }
}

#[test]
fn a_python_consumer_killed_mid_run_loses_nothing() {
    let (b, at) = broker("tcp:127.0.0.1:0", &["--producers", "1"]);
    let mut theirs = python_example("consume.py", &[&at, "pyc"]);
    b.wait_for_stderr("consumer pyc (pid");
    let p1 = spawn("producer", &[&at, "-n", "20000", "--name", "p1"]);
    theirs.wait_for_stdout("pyc ate baozi 0 from p1");
    theirs.kill(); // mid-run: what it held unacknowledged goes back to the queue
    let killed = theirs.finish();
    // Ours eats the rest (the producer may be waiting for room: --capacity).
    let ours = spawn("consumer", &[&at, "--name", "c1"]);
    p1.finish().success();
    let ours = ours.finish().success();
    let (times, redelivered) = eaten(&[&killed.stdout, &ours.stdout]);
    all_eaten(&times, &["p1"], 20000);
    for (item, n) in &times {
        assert!(
            *n == 1 || redelivered.contains(item),
            "{item:?} eaten {n} times, unmarked"
        );
    }
    b.finish().success().stderr_has("consumer pyc left");
}
