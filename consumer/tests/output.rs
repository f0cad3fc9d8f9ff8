//! The consumer's output as people pipe and read it: each line written as its item is
//! eaten (also into a pipe), one word and one count for what was eaten, no progress count
//! mixed into lines that may reach the terminal.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::names::unique;
use testkit::proc::{Capture, Proc, cmd, run};

fn listening_consumer(addr: &str, extra: &[&str]) -> Proc {
    let mut c = cmd("consumer");
    c.args(["-l", addr]).args(extra).stdin(Stdio::null());
    let p = Proc::spawn(c, Capture::Both);
    p.wait_ready();
    p
}

fn producer(args: &[&str]) -> Command {
    let mut c = cmd("producer");
    c.args(args).stdin(Stdio::null());
    c
}

/// `consumer -l --eat 1s | tee out` showed nothing until the end: the lines waited for a
/// chunk. Read through a pipe, the first line must come while the rest are still eaten.
#[test]
fn piped_lines_come_as_each_item_is_eaten() {
    let addr = format!("local:{}", unique("out-live"));
    let c = listening_consumer(&addr, &["--eat", "300ms", "--name", "c1"]);
    // The producer sends all 8 at once (then waits for the receipt); the consumer takes
    // about 2.4 s to eat them.
    let p = Proc::spawn(
        producer(&[&addr, "-n", "8", "--name", "p1"]),
        Capture::Stderr,
    );
    c.wait_for_stdout("c1 ate baozi 0 from p1");
    let first = Instant::now();
    let c = c.finish().success();
    let rest = first.elapsed();
    p.finish().success();
    assert!(
        rest >= Duration::from_secs(1),
        "the first line came only {rest:?} before the end: the output is not live\n{}",
        c.stdout
    );
    assert_eq!(c.count_stdout(" ate baozi "), 8, "{}", c.stdout);
    c.stderr_has("c1: 8 items in ");
}

/// Ctrl-C's line counts exactly the lines shown, with the same word.
#[cfg(unix)]
#[test]
fn ctrl_c_counts_the_lines_shown() {
    let addr = format!("local:{}", unique("out-count"));
    let c = listening_consumer(&addr, &["--eat", "150ms", "--name", "c1"]);
    let p = Proc::spawn(
        producer(&[&addr, "-n", "100", "--name", "p1"]),
        Capture::Stderr,
    );
    c.wait_for_stdout("c1 ate baozi 3 from p1");
    c.interrupt();
    let c = c.finish().code(130);
    let shown = c.count_stdout(" ate baozi ");
    c.stderr_has(&format!("c1: interrupted after eating {shown} items"));
    drop(p);
}

/// A rate below one a second is not a rounded 0.
#[test]
fn a_slow_rate_is_not_zero() {
    let addr = format!("local:{}", unique("out-rate"));
    // One item in a little over 2 s: about 0.47 a second, which rounded was "0 items/s".
    let c = listening_consumer(&addr, &["--eat", "2100ms", "--name", "c1", "-q"]);
    run(producer(&[&addr, "-n", "1", "--name", "p1"])).success();
    let c = c.finish().success();
    assert!(c.stderr.contains("c1: 1 item in 2."), "{}", c.stderr);
    assert!(c.stderr.contains(" (0."), "{}", c.stderr);
    assert!(c.stderr.contains(" items/s)"), "{}", c.stderr);
    assert!(!c.stderr.contains("(0 items/s"), "{}", c.stderr);
}

/// With stderr on a terminal and stdout in a pipe (`| tee` would put it on the same
/// terminal), no progress count is drawn among the lines.
#[cfg(target_os = "linux")]
#[test]
fn no_progress_count_among_piped_lines() {
    let addr = format!("local:{}", unique("out-tty"));
    let line = format!(
        "{} -l {addr} --eat 100ms --name c1 | cat",
        testkit::bin("consumer").display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    let c = Proc::spawn(c, Capture::Both);
    c.wait_for_stdout("ready: ");
    run(producer(&[&addr, "-n", "12", "--name", "p1"])).success();
    let c = c.finish().success();
    assert_eq!(c.count_stdout("c1 ate baozi "), 12, "{}", c.stdout);
    assert!(
        !c.stdout.contains("consumer c1: "),
        "a progress count was drawn among the lines:\n{:?}",
        c.stdout
    );
}

/// `-v` on the queue: socat-like lines (`< Items n=2: tag=1 p1 seq=0, ...`), never Rust's
/// `Debug` cut mid-word; the broker tags each line with the client it talks to.
#[test]
fn queue_trace_is_socat_like_with_peer_tags() {
    let (b, at) = testkit::queue::broker(
        &testkit::queue::local("out-trace"),
        &["--producers", "1", "-v"],
    );
    let cs: Vec<Proc> = ["c1", "c2"]
        .iter()
        .map(|n| testkit::proc::spawn_with("consumer", &[&at, "-v", "-q", "--name", n]))
        .collect();
    // Both in before the run starts: else one may eat it all before the other is let in.
    // (Lines are read in order, and either may join first.)
    for _ in 0..2 {
        b.wait_for_stderr(") joined on ");
    }
    run(producer(&[&at, "-n", "300", "--name", "p1"])).success();
    for c in cs {
        let c = c.finish().success();
        assert!(c.stderr.contains("< Items n="), "{}", c.stderr);
        assert!(c.stderr.contains("> Take ack="), "{}", c.stderr);
        assert!(!c.stderr.contains("Delivery {"), "{}", c.stderr);
    }
    let b = b.finish().success();
    for line in b.stderr.lines().filter(|l| l.contains(" Take ack=")) {
        assert!(line.starts_with("[client "), "no peer tag: {line}");
        assert!(
            line.contains(" consumer c1] ") || line.contains(" consumer c2] "),
            "the tag names no consumer: {line}"
        );
    }
    assert!(b.stderr.contains("] > Items n="), "{}", b.stderr);
}

/// `server -v` shows what went out as well as what came in, each with its client.
#[cfg(unix)]
#[test]
fn server_trace_shows_replies_with_the_client() {
    let addr = format!("local:{}", unique("out-strace"));
    let mut s = cmd("server");
    s.args([&addr, "-v"]).stdin(Stdio::null());
    let s = Proc::spawn(s, Capture::Both);
    s.wait_ready();
    let mut c = cmd("client");
    c.args([&addr, "--message", "hello"]);
    run(c).success();
    s.wait_for_stderr("] > \"test: hello\\n\"");
    s.interrupt();
    let s = s.finish();
    s.stderr_has("[client 1 ").stderr_has("] < \"hello\\n\"");
}

/// A consumer or producer pointed at the echo server says what it met, at once. (Over TCP:
/// on a Windows named pipe, which has no timeouts, the server waits for a whole line, and
/// the baozi program is told only that no greeting came in time.)
#[test]
fn the_echo_server_is_named_when_met() {
    let mut s = cmd("server");
    s.arg("tcp:127.0.0.1:0").stdin(Stdio::null());
    let s = Proc::spawn(s, Capture::Both);
    let addr = s.wait_ready();
    for bin in ["consumer", "producer"] {
        let began = Instant::now();
        let mut c = cmd(bin);
        c.arg(&addr).stdin(Stdio::null());
        run(c).failure().stderr_has(
            "not a baozi-ipc peer: it sent this program's greeting back after \"test: \", \
             as an echo server does",
        );
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{bin} took {:?}",
            began.elapsed()
        );
    }
    drop(s);
}

/// "an observer", not "a observer".
#[test]
fn roles_take_their_article() {
    let addr = format!("local:{}", unique("out-article"));
    let c = listening_consumer(&addr, &["-k", "--name", "c1"]);
    let mut b = cmd("broker");
    b.args(["--status", &addr]);
    run(b)
        .failure()
        .stderr_has("the peer is a consumer, but a broker was expected");
    c.wait_for_stderr("the peer is an observer, but a producer was expected");
}

/// A consumer killed, then the broker killed: each side says so in words, without the OS's
/// error numbers, and the consumer names the broker's address once.
#[cfg(unix)]
#[test]
fn peers_going_away_are_told_in_words() {
    let (mut b, at) = testkit::queue::broker("tcp:127.0.0.1:0", &["--producers", "1"]);
    let mut doomed =
        testkit::proc::spawn_with("consumer", &[&at, "--eat", "50ms", "--name", "doomed"]);
    let p = testkit::proc::spawn_with("producer", &[&at, "-n", "200", "--name", "p1"]);
    doomed.wait_for_stdout("doomed ate baozi 1 ");
    doomed.kill();
    b.wait_for_stderr("consumer doomed left");
    let c = testkit::proc::spawn_with("consumer", &[&at, "--eat", "50ms", "--name", "c1"]);
    c.wait_for_stdout("c1 ate baozi ");
    b.kill();
    let b = b.finish();
    assert!(!b.stderr.contains("os error"), "{}", b.stderr);
    let c = c.finish().failure();
    assert!(!c.stderr.contains("os error"), "{}", c.stderr);
    assert_eq!(c.stderr.matches(&at).count(), 1, "{}", c.stderr);
    drop(p);
}

/// A negative number is a wrong value, not clap's tip to write `-- -1` (which for the
/// producer means the spawned consumer's arguments).
#[test]
fn a_negative_count_is_a_wrong_value() {
    for (bin, flag) in [
        ("producer", "-n"),
        ("consumer", "--expect"),
        ("client", "--count"),
    ] {
        let mut c = cmd(bin);
        c.args([flag, "-1"]);
        let out = run(c).code(2);
        assert!(!out.stderr.contains("-- -1"), "{}", out.stderr);
        out.stderr_has("invalid value '-1'");
    }
}

/// The interactive client on a terminal ends a last reply that had no line ending, so the
/// shell's prompt does not stick to it; into a pipe the bytes stay as the server sent them.
#[cfg(target_os = "linux")]
#[test]
fn a_reply_without_a_line_ending_does_not_glue_the_prompt() {
    let mut s = cmd("server");
    s.arg("tcp:127.0.0.1:0").stdin(Stdio::null());
    let s = Proc::spawn(s, Capture::Both);
    let addr = s.wait_ready();
    let client = testkit::bin("client").display().to_string();
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("printf abc | {client} {addr}"),
        "/dev/null",
    ]);
    let out = run(c).success();
    assert!(out.stdout.ends_with("test: abc\r\n"), "{:?}", out.stdout);
    let mut c = Command::new("sh");
    c.args(["-c", &format!("printf abc | {client} {addr}")]);
    let out = run(c).success();
    assert_eq!(out.stdout, "test: abc");
    drop(s);
}

/// The UDP echo logs each peer once, at its first datagram; with -v, each line its peer.
#[test]
fn the_udp_echo_logs_each_peer() {
    let mut s = cmd("server");
    s.args(["udp:127.0.0.1:0", "-v"]).stdin(Stdio::null());
    let s = Proc::spawn(s, Capture::Both);
    let addr = s.wait_ready();
    for m in ["one", "two"] {
        let mut c = cmd("client");
        c.args([&addr, "--message", m]);
        run(c).success().stdout_has(&format!("test: {m}"));
        let first = s.wait_for_stderr("server: first datagram from udp:127.0.0.1:");
        let peer = first
            .split("from ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        s.wait_for_stderr(&format!("[{peer}] > \"test: {m}\\n\""));
    }
}

/// On a terminal, Ctrl-C's line erases the progress count first instead of running into it
/// (`consumer c1: 5 itemsc1: interrupted ...`).
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_erases_the_progress_count_first() {
    let addr = format!("local:{}", unique("out-erase"));
    let consumer = testkit::bin("consumer").display().to_string();
    let line = format!("{consumer} -l {addr} -q --name c1");
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]).stdin(Stdio::null());
    let c = Proc::spawn(c, Capture::Both);
    c.wait_for_stdout("ready: ");
    // A paced producer: its fifth item comes well after the count's first drawing (300 ms).
    let p = Proc::spawn(
        producer(&[&addr, "-n", "100", "--delay", "100ms", "--name", "p1"]),
        Capture::Stderr,
    );
    p.wait_for_stderr("made baozi 5");
    let pid = run({
        let mut g = Command::new("pgrep");
        g.args(["-f", &format!("^{line}$")]);
        g
    })
    .success()
    .stdout
    .trim()
    .to_owned();
    run({
        let mut k = Command::new("kill");
        k.args(["-INT", &pid]);
        k
    })
    .success();
    let c = c.finish();
    assert!(
        c.stdout.contains("consumer c1: ")
            && c.stdout.contains("\r\x1b[Kc1: interrupted after eating"),
        "{:?}",
        c.stdout
    );
    drop(p);
}
