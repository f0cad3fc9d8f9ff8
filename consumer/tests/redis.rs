//! The queue on Redis Streams, end to end: a real `redis-server` of the test's own (a free
//! loopback port, a temporary directory, no persistence), and producers and consumers as
//! separate processes over `redis://127.0.0.1:PORT/QUEUE`. Each test has its own server
//! and queue names; every wait is for a line, an exit or a server's answer, never a fixed
//! sleep.
//!
//! `redis-server` must be installed (`scripts/test.sh` installs Debian's): without it these
//! tests fail, unless BAOZI_NO_REDIS is set, to say that Redis is absent by design; then
//! each prints why it skips.
//!
//! Unix-only: under wine (scripts/test-windows.sh) a Windows test cannot start a Linux
//! redis-server, so that script runs producer.exe and consumer.exe against one itself.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::{Duration, Instant};
use testkit::redis::Redis;
use testkit::{
    PATIENCE, all_eaten, cmd_with as client, eaten, run, spawn_with as spawn,
    three_producers_two_consumers, unique,
};

#[test]
fn three_producers_two_consumers_every_item_eaten_once() {
    let Some(r) = Redis::start() else { return };
    let addr = r.addr("q-3x2");
    let c = three_producers_two_consumers(
        &addr,
        &["--producers", "3"],
        "the Redis stream at redis://127.0.0.1:",
        None,
    );
    for c in c {
        c.stderr_has(
            "is over: received 3000 from 3 producers (p1 1000, p2 1000, p3 1000); \
             eaten 3000 by 2 consumers (",
        )
        .stderr_has("redelivered 0; dead 0");
    }
    // Eaten entries are gone from the stream; the run's keys expire.
    assert_eq!(r.command(&["XLEN", "q-3x2"]), ":0");
    assert_ne!(r.command(&["TTL", "q-3x2:ends"]), ":-1");
}

#[test]
fn the_tutorials_pace_and_consumers_first() {
    let Some(r) = Redis::start() else { return };
    let addr = r.addr(&unique("pace"));
    let c = spawn(
        "consumer",
        &[&addr, "--eat", "0..5ms", "--prefetch", "1", "--name", "c1"],
    );
    let p = spawn(
        "producer",
        &[&addr, "-n", "10", "--delay", "0..5ms", "--name", "p1"],
    );
    p.finish().success().stderr_has("p1 made baozi 9");
    let c = c
        .finish()
        .success()
        .stderr_has("eaten 10 by 1 consumer (c1 10)");
    let (times, _) = eaten(&[&c.stdout]);
    all_eaten(&times, &["p1"], 10);
}

#[test]
fn a_consumer_killed_while_holding_entries_loses_none() {
    let Some(r) = Redis::start() else { return };
    let addr = r.addr("q-kill");
    let mut doomed = spawn(
        "consumer",
        &[&addr, "--name", "doomed", "--eat", "2ms", "--lease", "1s"],
    );
    let p = spawn("producer", &[&addr, "-n", "400", "--name", "p1"]);
    // It holds a batch of entries while it eats them, slowly.
    doomed.wait_for_stdout("doomed ate baozi 5 ");
    doomed.kill();
    let doomed = doomed.finish();
    p.finish().success();
    let survivor = spawn("consumer", &[&addr, "--name", "survivor", "--lease", "1s"]);
    let survivor = survivor
        .finish()
        .success()
        .stderr_has("received 400 from 1 producer");
    let (times, redelivered) = eaten(&[&doomed.stdout, &survivor.stdout]);
    all_eaten(&times, &["p1"], 400);
    assert!(!redelivered.is_empty(), "the doomed one held entries");
    for (key, n) in &times {
        assert!(*n <= 2, "{key:?} eaten {n} times");
        if *n == 2 {
            assert!(redelivered.contains(key), "{key:?} eaten twice, not marked");
        }
    }
    assert!(survivor.stdout.contains("(redelivered, attempt 2)"));
    assert!(
        !survivor.stderr.contains("redelivered 0;"),
        "{}",
        survivor.stderr
    );
}

#[test]
fn a_slow_consumer_keeps_its_entries_past_the_lease() {
    // Eating 40 items of 50 ms takes 2 s, four leases: renewal keeps them its own.
    let Some(r) = Redis::start() else { return };
    let addr = r.addr("q-slow");
    let slow = spawn(
        "consumer",
        &[&addr, "--name", "slow", "--eat", "50ms", "--lease", "500ms"],
    );
    run(client("producer", &[&addr, "-n", "40", "--name", "p1"])).success();
    slow.wait_for_stdout("slow ate baozi 0 ");
    let other = spawn("consumer", &[&addr, "--name", "other", "--lease", "500ms"]);
    let slow = slow.finish().success().stderr_has("redelivered 0; dead 0");
    let other = other.finish().success();
    let (times, redelivered) = eaten(&[&slow.stdout, &other.stdout]);
    all_eaten(&times, &["p1"], 40);
    assert!(redelivered.is_empty(), "{redelivered:?}");
}

#[test]
fn a_poison_entry_ends_up_dead_and_the_run_still_ends() {
    let Some(r) = Redis::start() else { return };
    let addr = r.addr("q-poison");
    run(client("producer", &[&addr, "-n", "20", "--name", "p1"])).success();
    let mut victims = 0;
    let last = loop {
        let c = run(client(
            "consumer",
            &[
                &addr,
                "--prefetch",
                "1",
                "--die-on",
                "7",
                "--lease",
                "300ms",
                "--max-deliveries",
                "3",
            ],
        ));
        if c.status.code() != Some(3) {
            break c;
        }
        victims += 1;
        assert!(
            victims <= 3,
            "the poison entry was handed out more than 3 times"
        );
    };
    assert_eq!(victims, 3, "--max-deliveries 3");
    let last = last
        .success()
        .stderr_has("baozi 7 from p1 is dead: handed out 3 times (--max-deliveries 3); moved to q-poison:dead")
        .stderr_has("redelivered 2; dead 1")
        .stderr_has("the run ended with 1 dead item set aside in q-poison:dead");
    assert!(!last.stdout.contains("ate baozi 7 "), "{}", last.stdout);
    assert_eq!(r.command(&["XLEN", "q-poison:dead"]), ":1");
}

#[test]
fn a_full_stream_holds_producers_back() {
    let Some(r) = Redis::start() else { return };
    let addr = r.addr("q-full");
    let p = spawn(
        "producer",
        &[
            &addr,
            "-n",
            "1000",
            "--capacity",
            "100",
            "--payload",
            "1KiB",
        ],
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let len = r.command(&["XLEN", "q-full"]);
        let n: u64 = len.trim_start_matches(':').parse().unwrap();
        assert!(
            n <= 100,
            "the stream holds {n} entries, over --capacity 100"
        );
        if n == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "never full");
        std::thread::sleep(Duration::from_millis(20)); // polling the live length
    }
    assert_eq!(
        r.command(&["HLEN", "q-full:ends"]),
        ":0",
        "the producer waits"
    );
    let c = spawn("consumer", &[&addr, "-q", "--expect", "1000"]);
    p.finish().success();
    c.finish()
        .success()
        .stderr_has("received 1000 from 1 producer");
}

#[test]
fn a_killed_redis_fails_its_clients_in_bounded_time() {
    let Some(mut r) = Redis::start() else { return };
    let addr = r.addr("q-dead");
    let c = spawn("consumer", &[&addr]);
    let p = spawn("producer", &[&addr, "-n", "100000", "--delay", "20ms"]);
    c.wait_for_stdout("ate baozi 1 ");
    r.kill();
    let limit = Duration::from_secs(20);
    c.finish_within(limit)
        .code(1)
        .stderr_has("consumer: error: the Redis server at redis://127.0.0.1:")
        .stderr_has("went away")
        .stderr_has("were eaten here");
    p.finish_within(limit)
        .code(1)
        .stderr_has("producer: error: the Redis server at redis://127.0.0.1:")
        .stderr_has("went away");
}

#[test]
fn no_server_mistakes_and_misuse_are_one_line_each() {
    let Some(r) = Redis::start() else { return };
    // Nobody there: a clear line after --wait.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("redis://127.0.0.1:{port}/q");
    run(client("consumer", &[&nowhere, "--wait", "300ms"]))
        .code(1)
        .stderr_has("no Redis server answers at ");
    run(client("producer", &[&nowhere, "--wait", "0"]))
        .code(1)
        .stderr_has("no Redis server answers at ");
    // Not an address.
    run(client("consumer", &["redis://127.0.0.1:6379"]))
        .code(2)
        .stderr_has("no queue name");
    // Only producers and consumers speak to it, and they connect.
    let addr = r.addr("q-misuse");
    run(client("consumer", &[&addr, "-l"]))
        .code(1)
        .stderr_has("connect to it (drop -l)");
    run(client("broker", &[&addr]))
        .code(1)
        .stderr_has("redis:// names a queue kept by a Redis server");
    // A producer name that already ended on the queue; consumers that disagree.
    run(client("producer", &[&addr, "-n", "5", "--name", "p1"])).success();
    let c = spawn(
        "consumer",
        &[&addr, "--producers", "2", "-q", "--expect", "10"],
    );
    let deadline = Instant::now() + PATIENCE;
    while r.command(&["GET", "q-misuse:producers"]) == "$-1" {
        assert!(
            Instant::now() < deadline,
            "the consumer never set the producers"
        );
        std::thread::sleep(Duration::from_millis(10)); // polling the key
    }
    run(client("consumer", &[&addr, "--producers", "3"]))
        .code(1)
        .stderr_has("expects 2 producers (set by the first consumer), not 3");
    run(client("producer", &[&addr, "-n", "5", "--name", "p1"]))
        .code(1)
        .stderr_has("producer p1 has already ended on ");
    run(client("producer", &[&addr, "-n", "5", "--name", "p2"])).success();
    c.finish()
        .success()
        .stderr_has("received 10 from 2 producers (p1 5, p2 5)");
}
