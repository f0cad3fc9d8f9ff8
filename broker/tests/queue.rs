//! The queue, end to end: a real broker, producers and consumers as separate processes, over
//! local sockets (named pipes on Windows), TCP and Unix sockets. Each test uses its own
//! names and ports; every wait is for a line or an exit, never a fixed sleep.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::{Read, Write};
use std::time::{Duration, Instant};
use testkit::{
    all_eaten, cmd_with as client, eaten, run, spawn_with as spawn, temp_dir,
    three_producers_two_consumers,
};
use testkit::{broker, local};

#[test]
fn three_producers_two_consumers_every_item_eaten_once() {
    let (b, addr) = broker(&local("q-3x2"), &["--producers", "3"]);
    three_producers_two_consumers(&addr, &[], "the broker", Some(&b));
    let b = b.finish().success();
    b.stderr_has("received 3000 from 3 producers (")
        .stderr_has("eaten 3000 by 2 consumers (")
        .stderr_has("redelivered 0; dead 0");
}

/// The queue over shared memory (`shm:`): the broker's clients each get their own rings.
#[test]
fn three_producers_two_consumers_over_shared_memory() {
    let addr = format!("shm:{}", testkit::unique("q-shm"));
    let (b, addr) = broker(&addr, &["--producers", "3"]);
    three_producers_two_consumers(&addr, &[], "the broker", Some(&b));
    b.finish()
        .success()
        .stderr_has("received 3000 from 3 producers (")
        .stderr_has("eaten 3000 by 2 consumers (");
}

#[test]
fn over_tcp_with_the_tutorials_pace_and_start_order_left_to_wait() {
    // Consumers first, before any broker: their --wait retries cover it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("tcp:127.0.0.1:{port}");
    let c = spawn(
        "consumer",
        &[&addr, "--eat", "0..5ms", "--prefetch", "1", "--name", "c1"],
    );
    c.wait_for_stderr("waiting for");
    let p = spawn(
        "producer",
        &[
            &addr, "-n", "10", "--delay", "0..5ms", "--wait", "30s", "--name", "p1",
        ],
    );
    // -l, a habit from the producer and consumer, is accepted: a broker always listens.
    let (b, _) = broker(&addr, &["--producers", "1", "-l"]);
    p.finish().success();
    let c = c.finish().success();
    let (times, _) = eaten(&[&c.stdout]);
    all_eaten(&times, &["p1"], 10);
    b.finish()
        .success()
        .stderr_has("eaten 10 by 1 consumer (c1 10)");
}

#[test]
fn a_consumer_killed_while_holding_items_loses_none() {
    let (b, addr) = broker(&local("q-kill"), &["--producers", "1"]);
    let mut doomed = spawn("consumer", &[&addr, "--name", "doomed", "--eat", "2ms"]);
    let p = spawn("producer", &[&addr, "-n", "400", "--name", "p1"]);
    // It holds a window of leased items while it eats them, slowly.
    doomed.wait_for_stdout("doomed ate baozi 5 ");
    doomed.kill();
    let doomed = doomed.finish();
    let survivor = spawn("consumer", &[&addr, "--name", "survivor"]);
    p.finish().success();
    let survivor = survivor.finish().success();
    let (times, redelivered) = eaten(&[&doomed.stdout, &survivor.stdout]);
    all_eaten(&times, &["p1"], 400);
    assert!(!redelivered.is_empty(), "the doomed one held leased items");
    // Eaten twice only if it was given back, and then marked so.
    for (key, n) in &times {
        assert!(*n <= 2, "{key:?} eaten {n} times");
        if *n == 2 {
            assert!(redelivered.contains(key), "{key:?} eaten twice, not marked");
        }
    }
    let b = b.finish().success();
    b.stderr_has("consumer doomed left holding")
        .stderr_has("given back for redelivery")
        .stderr_has("received 400 from 1 producer");
}

#[test]
fn a_poison_item_ends_up_dead_and_the_run_still_ends() {
    let (b, addr) = broker(
        &local("q-poison"),
        &["--producers", "1", "--max-deliveries", "3"],
    );
    run(client("producer", &[&addr, "-n", "20", "--name", "p1"])).success();
    // Each consumer eats up to the poison item (7), then dies on it without acknowledging.
    let mut victims = 0;
    let last = loop {
        let c = run(client(
            "consumer",
            &[&addr, "--prefetch", "1", "--die-on", "7"],
        ));
        if c.status.code() != Some(3) {
            break c;
        }
        victims += 1;
        assert!(
            victims <= 3,
            "the poison item was handed out more than 3 times"
        );
    };
    assert_eq!(victims, 3, "--max-deliveries 3");
    let last = last.success();
    assert!(!last.stdout.contains("ate baozi 7 "), "{}", last.stdout);
    let b = b.finish().failure();
    b.stderr_has("baozi 7 from p1 is dead: handed out 3 times (--max-deliveries 3)")
        .stderr_has("redelivered 2; dead 1")
        .stderr_has("the run ended with 1 dead item set aside");
}

/// The hover texts of a picture's marks of `class`.
fn marks(doc: &roxmltree::Document<'_>, class: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .map(|n| {
            n.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// A slow consumer acknowledges each item as soon as it has eaten it, so the timeline's
/// dots (drawn at the acknowledgement) stand apart, one per item eaten, not piled at the
/// end of each batch.
#[test]
fn the_timeline_dots_of_a_slow_consumer_stand_apart() {
    let dir = temp_dir("q-dots");
    let svg = dir.join("run.svg");
    let svg_arg = svg.display().to_string();
    let (b, addr) = broker(
        &local("q-dots"),
        &["--producers", "1", "--timeline", &svg_arg],
    );
    let c = spawn("consumer", &[&addr, "--name", "c1", "--eat", "20ms"]);
    run(client("producer", &[&addr, "-n", "20", "--name", "p1"])).success();
    c.finish().success();
    b.finish().success();
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut xs: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("eaten") && n.has_tag_name("circle"))
        .map(|n| n.attribute("cx").unwrap().to_owned())
        .collect();
    assert_eq!(xs.len(), 20, "{text}");
    xs.sort();
    xs.dedup();
    assert_eq!(xs.len(), 20, "dots piled at one instant: {text}");
}

#[test]
fn the_timeline_draws_each_item_where_it_was_eaten_and_rings_redeliveries() {
    let dir = temp_dir("q-timeline");
    let svg = dir.join("run.svg");
    let svg_arg = svg.display().to_string();
    let (b, addr) = broker(
        &local("q-timeline"),
        &["--producers", "2", "--timeline", &svg_arg],
    );
    // Alone at first, it takes items and dies holding some: they go to the survivor.
    let doomed = spawn(
        "consumer",
        &[
            &addr,
            "--name",
            "doomed",
            "--prefetch",
            "4",
            "--die-on",
            "3",
        ],
    );
    // A name with the characters XML reserves: the picture must escape them.
    let producers = ["p1", "p<2>&\"'"];
    for p in producers {
        run(client("producer", &[&addr, "-n", "20", "--name", p])).success();
    }
    doomed.finish().code(3);
    let survivor = spawn("consumer", &[&addr, "--name", "survivor"])
        .finish()
        .success();
    let b = b.finish().success().stderr_has("timeline drawn in");
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(doc.root_element().has_tag_name("svg"), "{text}");
    let once = marks(&doc, "eaten");
    let again = marks(&doc, "eaten redelivered");
    // Every baozi drawn eaten exactly once, by the consumer that says it ate it.
    for p in producers {
        for seq in 0..20 {
            let mark = format!("baozi {seq} from {p} eaten by ");
            let n = once
                .iter()
                .chain(&again)
                .filter(|t| t.starts_with(&mark))
                .count();
            assert_eq!(n, 1, "{mark}: {text}");
        }
    }
    assert_eq!(once.len() + again.len(), 40, "{text}");
    for line in survivor.stdout.lines() {
        let (seq, p) = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "ate", "baozi", seq, "from", p, ..] => (seq, p),
            _ => continue,
        };
        let mark = format!("baozi {seq} from {p} eaten by survivor");
        assert!(
            once.iter().chain(&again).any(|t| t.starts_with(&mark)),
            "{mark}: {text}"
        );
    }
    // As many ringed as the broker redelivered, and the doomed one's going marked.
    let redelivered: usize = b
        .stderr
        .split("redelivered ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(redelivered > 0, "{}", b.stderr);
    assert_eq!(again.len(), redelivered, "{text}");
    assert!(text.contains("doomed went away, gave back"), "{text}");
    assert!(
        text.contains("40 baozi eaten by 2 consumers: acknowledged once each; up to ")
            && text.contains("may also have been eaten by a consumer that went away"),
        "{text}"
    );
}

#[test]
fn a_timeline_into_a_missing_folder_is_refused_before_the_run() {
    let dir = temp_dir("q-no-such-folder");
    let svg = dir.join("missing").join("run.svg").display().to_string();
    let out = run(client(
        "broker",
        &[&local("q-no-folder"), "--timeline", &svg],
    ));
    out.failure()
        .stderr_has("there is no folder")
        .stderr_has("create it first");
}

/// The resident memory of a process in KiB, where /proc tells.
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_full_queue_holds_producers_back_and_memory_stays_bounded() {
    let (b, addr) = broker(&local("q-full"), &["--producers", "1", "--capacity", "100"]);
    // 1,000 items of 64 KiB: 64 MiB if the broker took them all in.
    let p = spawn("producer", &[&addr, "-n", "1000", "--payload", "64KiB"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s = run(client("broker", &["--status", &addr])).success();
        if s.stdout.contains("queued 100 (capacity 100)") {
            break s.stdout;
        }
        assert!(Instant::now() < deadline, "never full: {}", s.stdout);
        std::thread::sleep(Duration::from_millis(20)); // polling the live numbers
    };
    assert!(
        status.contains("producers 1 connected, 0 ended of 1 expected"),
        "{status}"
    );
    #[cfg(target_os = "linux")]
    {
        let rss = rss_kib(b.pid());
        assert!(
            rss < 40 << 10,
            "broker RSS {rss} KiB with a full queue of 100 x 64 KiB"
        );
    }
    let c = spawn("consumer", &[&addr, "-q", "--expect", "1000"]);
    p.finish().success();
    c.finish().success();
    b.finish()
        .success()
        .stderr_has("received 1000 from 1 producer");
}

#[test]
fn a_killed_broker_fails_its_clients_in_bounded_time() {
    let (mut b, addr) = broker(&local("q-dead"), &[]);
    let c = spawn("consumer", &[&addr]);
    let p = spawn("producer", &[&addr, "-n", "100000", "--delay", "20ms"]);
    c.wait_for_stdout("ate baozi 1 ");
    b.kill();
    let limit = Duration::from_secs(20);
    c.finish_within(limit)
        .failure()
        .stderr_has("the broker at ")
        .stderr_has("went away after");
    p.finish_within(limit)
        .failure()
        .stderr_has("the broker went away after");
}

#[test]
fn strangers_are_refused_in_one_line_and_the_broker_keeps_serving() {
    let (b, addr) = broker("tcp:127.0.0.1:0", &["--producers", "1"]);
    let hostport = addr.strip_prefix("tcp:").unwrap().to_owned();
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"\x00\x01\x02garbage that is not a greeting at all",
    ] {
        let mut s = std::net::TcpStream::connect(&hostport).unwrap();
        s.write_all(junk).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply); // the broker's greeting, then it closes
    }
    // The echo client says a line where a greeting belongs.
    run(client("client", &["--message", "hello", &addr]))
        .failure()
        .stderr_has("error");
    b.wait_for_stderr("refused: not a baozi-ipc peer");
    // A producer meeting a producer is one clear line too.
    let (lonely, paddr) = {
        let p = spawn("producer", &["-l", "tcp:127.0.0.1:0"]);
        let a = p.wait_ready();
        (p, a)
    };
    run(client("producer", &[&paddr]))
        .failure()
        .stderr_has("the peer is a producer, but a consumer or a broker was expected");
    drop(lonely);
    // And the broker still serves a real run.
    let c = spawn("consumer", &[&addr, "-q", "--expect", "50"]);
    run(client("producer", &[&addr, "-n", "50"])).success();
    c.finish().success();
    let b = b.finish().success();
    assert_eq!(
        b.stderr.matches("refused: not a baozi-ipc peer").count(),
        3,
        "{}",
        b.stderr
    );
}

// ---- Unix only ----

/// Tests that cannot run on Windows, whatever they check: Ctrl-C and other signals sent
/// with `kill` (on Windows, scripts/test-windows.sh checks Ctrl-C from the Linux side),
/// and `unix:` socket files.
#[cfg(unix)]
mod unix_only {
    use super::*;

    #[test]
    fn ctrl_c_tells_the_consumers_and_removes_the_socket_file() {
        let dir = temp_dir("q-ctrlc");
        let path = dir.join("broker.sock");
        let svg = dir.join("run.svg");
        let svg_arg = svg.display().to_string();
        let (b, addr) = broker(
            &format!("unix:{}", path.display()),
            &["--timeline", &svg_arg],
        );
        let c = spawn("consumer", &[&addr]);
        b.wait_for_stderr(&format!("consumer c{}", c.pid()));
        b.interrupt();
        let b = b.finish().code(130);
        b.stderr_has("(stopped before the end)");
        // What happened so far is drawn, and says how it ended.
        let picture = std::fs::read_to_string(&svg).unwrap();
        assert!(
            picture.contains("(stopped by Ctrl-C before the end)"),
            "{picture}"
        );
        c.finish()
            .failure()
            .stderr_has("was stopped before the end of the run");
        assert!(!path.exists(), "the socket file is left behind");
    }

    #[test]
    fn sigterm_and_sighup_end_the_broker_like_ctrl_c_with_their_own_codes() {
        for (signal, code, words) in [("TERM", 143, "terminated"), ("HUP", 129, "hung up")] {
            let dir = temp_dir("q-sig");
            let path = dir.join("broker.sock");
            let (b, _) = broker(&format!("unix:{}", path.display()), &[]);
            b.signal(signal);
            b.finish()
                .code(code)
                .stderr_has(&format!("broker: {words}"))
                .stderr_has("(stopped before the end)");
            assert!(!path.exists(), "SIG{signal} left the socket file behind");
        }
    }
}
