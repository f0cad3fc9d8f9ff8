//! Every refusal of the broker reaches the refused program in the broker's own words; a
//! full queue is said on both sides; a run cut short is told to its consumers; and
//! `--status` answers at once. Real processes; every wait is for a line or an exit.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod by_hand;

use common::msg::queue::Admission;
use common::wire::Role;
use std::time::Duration;
use testkit::{Proc, cmd_with as client, run, spawn_with as spawn};
use testkit::{broker, local};

#[test]
fn a_producer_past_the_expected_ones_is_told_the_brokers_reason() {
    let (b, addr) = broker(&local("q-many"), &["--producers", "2"]);
    let slow = ["-n", "50", "--delay", "100ms"];
    let p1 = spawn(
        "producer",
        &[&[addr.as_str(), "--name", "p1"], &slow[..]].concat(),
    );
    let p2 = spawn(
        "producer",
        &[&[addr.as_str(), "--name", "p2"], &slow[..]].concat(),
    );
    // Each is in once it makes its first (it reads its admission before).
    p1.wait_for_stderr("p1 made baozi 0");
    p2.wait_for_stderr("p2 made baozi 0");
    run(client("producer", &[&addr, "--name", "p3"]))
        .failure()
        .stderr_has("refused this producer: the broker expects 2 producers (--producers 2) and has them all");
    drop((p1, p2, b));
}

#[test]
fn a_second_consumer_or_producer_with_a_live_name_is_refused_naming_the_live_one() {
    let (b, addr) = broker(&local("q-names"), &[]);
    let c1 = spawn("consumer", &[&addr, "--name", "c1"]);
    b.wait_for_stderr("consumer c1 (pid");
    run(client("consumer", &[&addr, "--name", "c1"]))
        .failure()
        .stderr_has(&format!(
            "refused this consumer: a consumer named c1 (pid {}) is connected already",
            c1.pid()
        ));
    let p1 = spawn("producer", &[&addr, "--name", "p1", "--delay", "1s"]);
    b.wait_for_stderr("producer p1 (pid");
    run(client("producer", &[&addr, "--name", "p1"]))
        .failure()
        .stderr_has(&format!(
            "refused this producer: a producer named p1 (pid {}) is connected already",
            p1.pid()
        ));
    drop((c1, p1, b));
}

/// `--max-clients 1`, held by a peer that greets and never says its name: the next client
/// is refused with the reason while the peer is new, then the peer is sent away (told
/// why) to make room, and the client is served.
#[test]
fn a_silent_peer_is_sent_away_with_the_reason_when_a_client_needs_its_slot() {
    // Over local: on Windows (a named pipe) the broker cannot end a connection from another
    // thread nor time out its read, so a silent peer there keeps its slot (README,
    // Security); over TCP it is sent away on every system.
    let listen = if cfg!(windows) {
        "tcp:127.0.0.1:0".to_owned()
    } else {
        local("q-silent")
    };
    let (b, addr) = broker(&listen, &["--max-clients", "1", "--producers", "1"]);
    let mut silent = by_hand::session(&addr, Role::Producer);
    let mut busy_seen = false;
    let deadline = std::time::Instant::now() + testkit::PATIENCE;
    let served = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the silent peer was never sent away"
        );
        let f = run(client("producer", &[&addr, "--name", "p1", "-n", "3"]));
        if f.stderr
            .contains("busy: the broker has its maximum of 1 clients")
        {
            busy_seen = true;
            continue; // the silent one has not been silent for long enough yet
        }
        break f;
    };
    served.success();
    assert!(busy_seen || b.wait_for_stderr("sent away").contains("sent away"));
    match silent.rx.next_frame::<Admission>().unwrap() {
        Some(Admission::Refused { why }) => {
            assert!(why.contains("said no name"), "{why}");
            assert!(why.contains("--max-clients 1"), "{why}");
        }
        other => panic!("the silent peer was told {other:?}"),
    }
    drop(b);
}

#[test]
fn a_status_with_no_broker_answers_at_once_unless_told_to_wait() {
    let addr = local("q-none");
    let started = std::time::Instant::now();
    run(client("broker", &["--status", &addr]))
        .failure()
        .stderr_has("no broker listens at");
    assert!(started.elapsed() < Duration::from_secs(5));
    let (b, real) = broker(&local("q-some"), &[]);
    run(client("broker", &["--status", &real, "--wait", "5s"]))
        .success()
        .stdout_has("producers 0 connected");
    drop(b);
}

/// A full queue is said once on each side, and the run still finishes. Behind a small
/// `--capacity` it fills again each time a consumer takes a batch: the broker counts those
/// times and says how many at the end, instead of a line each (it said 349 for 2000 items).
#[test]
fn a_producer_held_back_by_a_full_queue_says_so_once_and_so_does_the_broker() {
    let (b, addr) = broker(&local("q-full"), &["--producers", "1", "--capacity", "5"]);
    let p = spawn("producer", &[&addr, "--name", "p1", "-n", "300"]);
    p.wait_for_stderr("p1: the queue is full (5 waiting); waiting for consumers");
    b.wait_for_stderr("the queue is full (5 waiting)");
    let c = spawn("consumer", &[&addr, "--name", "c1", "-q"]);
    let p = p.success_and_stderr();
    c.finish().success();
    let b = b.finish().success();
    assert_eq!(p.matches("the queue is full").count(), 1, "{p}");
    assert_eq!(
        b.stderr.matches("the queue is full").count(),
        1,
        "{}",
        b.stderr
    );
    let times = b
        .stderr
        .split_once("the queue filled up ")
        .and_then(|(_, rest)| rest.split_once(" times (--capacity 5); producers waited"))
        .and_then(|(n, _)| n.parse::<u64>().ok());
    assert!(times.is_some_and(|n| n >= 2), "{}", b.stderr);
}

/// A producer stopped while a full queue holds it back: the broker does not read its
/// connection until room comes, yet `--status` counts it cut short at once (it asks the
/// connection: Unix sockets, named pipes (by their peer's process) and `shm:` say so at
/// once), and the run still ends, cut short, with what it sent.
#[test]
fn a_producer_stopped_while_held_back_is_counted_cut_short_at_once() {
    for addr in [
        format!("shm:{}", testkit::unique("q-held")),
        local("q-held"),
    ] {
        let (b, addr) = broker(&addr, &["--producers", "1", "--capacity", "5"]);
        // More than the connection holds (a 4 MiB ring on shm:), so that its writes wait.
        let args = ["--name", "p1", "-n", "200", "--payload", "65536"];
        #[allow(unused_mut)] // killed on Windows
        let mut p = spawn("producer", &[&[addr.as_str()], &args[..]].concat());
        p.wait_for_stderr("p1: the queue is full (5 waiting)");
        run(client("broker", &["--status", &addr]))
            .success()
            .stdout_has("producers 1 connected");
        #[cfg(unix)]
        p.interrupt();
        #[cfg(windows)]
        p.kill();
        p.finish_within(Duration::from_secs(5)).failure();
        // The broker's side of shm: learns of the end on a watcher thread: ask again for a
        // while, not forever.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = run(client("broker", &["--status", &addr])).success();
            if status
                .stdout
                .contains("producers 0 connected, 0 ended, 1 cut short of 1 expected")
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{addr}: {}",
                status.stdout
            );
        }
        let c = spawn("consumer", &[&addr, "--name", "c1", "-q"]);
        c.finish().failure().stderr_has("cut short");
        b.finish().failure().stderr_has("producer p1 cut short");
    }
}

trait SuccessStderr {
    fn success_and_stderr(self) -> String;
}

impl SuccessStderr for Proc {
    fn success_and_stderr(self) -> String {
        self.finish().success().stderr
    }
}

/// A producer stopped mid-run: the run ends once every expected producer has ended or
/// been cut short; the consumer is told it was cut short and fails, as the broker does,
/// and the status counts it cut short, not connected.
#[cfg(unix)]
#[test]
fn a_producer_stopped_mid_run_cuts_the_run_short_for_its_consumers_too() {
    let (b, addr) = broker(&local("q-cut"), &["--producers", "2"]);
    let c = spawn("consumer", &[&addr, "--name", "c1"]);
    let p1 = spawn(
        "producer",
        &[&addr, "--name", "p1", "-n", "100", "--delay", "50ms"],
    );
    c.wait_for_stdout("baozi 2 from p1");
    p1.interrupt();
    p1.finish_within(Duration::from_secs(5))
        .code(130)
        .stderr_has("p1: interrupted after sending ");
    b.wait_for_stderr("producer p1 cut short");
    run(client("broker", &["--status", &addr]))
        .success()
        .stdout_has("producers 0 connected, 0 ended, 1 cut short of 2 expected");
    run(client("producer", &[&addr, "--name", "p2", "-n", "3"])).success();
    c.finish()
        .failure()
        .stderr_has("is over, but cut short: p1 was stopped before the end");
    b.finish().failure().stderr_has(", cut short, p2 3)");
}
