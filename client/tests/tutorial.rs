//! The tutorial's own programs (`python/tutorial/`, Python 3) beside ours: its client.py
//! against our server, our client against its server.py, and the rule that makes the first
//! work: a message is a line, or what arrived before the client paused (`server --pause`).
//! The rule's tests use plain sockets and run everywhere; the Python ones need python3.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
#[cfg(unix)]
use std::path::PathBuf;
#[cfg(unix)]
use std::process::Command;
use std::process::Stdio;
use std::time::{Duration, Instant};
#[cfg(unix)]
use testkit::Finished;
use testkit::{Capture, PATIENCE, Proc, cmd, run};

/// A server on an OS-chosen TCP port, with `extra` options, ready; `HOST:PORT`.
fn server(extra: &[&str]) -> (Proc, String) {
    let mut c = cmd("server");
    c.arg("tcp:127.0.0.1:0").args(extra).stdin(Stdio::null());
    let p = Proc::spawn(c, Capture::Both);
    let addr = p.wait_ready();
    let host_port = addr.strip_prefix("tcp:").unwrap().to_owned();
    (p, host_port)
}

/// Connects, with a read timeout long enough for any reply.
fn connect(host_port: &str) -> TcpStream {
    let s = TcpStream::connect(host_port).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn bytes_without_a_newline_are_answered_once_the_client_pauses() {
    let (_srv, at) = server(&[]);
    let mut s = connect(&at);
    // The tutorial's client: one send of "hello", no newline, no half-close; then it waits.
    let sent = Instant::now();
    s.write_all(b"hello").unwrap();
    assert_eq!(read_n(&mut s, 11), "test: hello");
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(150),
        "answered before the pause: {waited:?}"
    );
    // The connection goes on: lines as before, and the next unfinished bytes too.
    s.write_all(b"a line\nmore").unwrap();
    assert_eq!(read_n(&mut s, 13 + 10), "test: a line\ntest: more");
}

#[test]
fn a_line_that_comes_in_pieces_faster_than_the_pause_is_one_message() {
    let (_srv, at) = server(&["--pause", "2s"]);
    let mut s = connect(&at);
    s.set_nodelay(true).unwrap();
    for piece in [&b"one "[..], b"line ", b"in pieces\n"] {
        s.write_all(piece).unwrap();
        s.flush().unwrap();
    }
    assert_eq!(read_n(&mut s, 25), "test: one line in pieces\n");
}

#[test]
fn a_line_that_pauses_longer_is_answered_in_pieces_and_pause_0_waits_for_the_line() {
    let (_srv, at) = server(&["--pause", "100ms"]);
    let mut s = connect(&at);
    s.write_all(b"hel").unwrap();
    assert_eq!(read_n(&mut s, 9), "test: hel");
    s.write_all(b"lo\n").unwrap();
    assert_eq!(read_n(&mut s, 9), "test: lo\n");

    // --pause 0: only whole lines, and a last one at the half-close.
    let (_srv, at) = server(&["--pause", "0"]);
    let mut s = connect(&at);
    s.write_all(b"hello").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let early = s.read(&mut buf);
    assert!(early.is_err(), "answered an unfinished line: {early:?}");
    s.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert_eq!(got, "test: hello");
}

#[test]
fn a_trickle_that_never_pauses_is_still_bounded_by_max_line() {
    let (srv, at) = server(&["--pause", "5s", "--max-line", "100"]);
    let mut s = connect(&at);
    s.set_nodelay(true).unwrap();
    // 20 bytes at a time, never a newline, never a pause of 5 s.
    let mut sent = 0;
    while sent < 1000 && s.write_all(&[b'x'; 20]).is_ok() {
        sent += 20;
    }
    let mut got = String::new();
    let _ = s.read_to_string(&mut got); // the end may come as a reset once the server closes
    assert_eq!(
        got,
        "server: error: line longer than 100 B (--max-line); closing the connection\n"
    );
    srv.wait_for_stderr("sent a line longer than 100 B (--max-line)");
}

#[test]
fn the_server_help_states_the_rule() {
    let out = run({
        let mut c = cmd("server");
        c.arg("--help");
        c
    })
    .success();
    assert!(out.stdout.contains("--pause <DURATION>"), "{}", out.stdout);
    assert!(out.stdout.contains("[default: 200ms]"), "{}", out.stdout);
}

// ---- the tutorial's programs, in Python 3 ----

/// `python/tutorial/NAME` in this repository.
#[cfg(unix)]
fn tutorial(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../python/tutorial")
        .join(name)
}

/// python3 running one of the tutorial's programs with `args`.
#[cfg(unix)]
fn python(name: &str, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(tutorial(name)).args(args);
    c
}

/// Runs `c` with `input` on its stdin, to completion.
#[cfg(unix)]
fn feed(mut c: Command, input: &[u8]) -> Finished {
    c.stdin(Stdio::piped());
    let mut p = Proc::spawn(c, Capture::Both);
    let mut stdin = p.child().stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    p.finish()
}

// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#[cfg(unix)]
#[test]
fn the_tutorials_client_py_gets_test_hello_from_our_server() {
    let (srv, at) = server(&[]);
    let (host, port) = at.rsplit_once(':').unwrap();
    // input() drops the newline: "hello" goes alone, in one send(), then one recv(1024).
    let out = feed(python("s3_client.py", &[host, port]), b"hello\n").success();
    assert_eq!(out.stdout, "test: hello\n");
    srv.wait_for_stderr("left after 1 line");
}

// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#[cfg(unix)]
#[test]
fn our_client_gets_test_hello_from_the_tutorials_server_py() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let mut c = python("s3_server.py", &[&port]);
    c.stdin(Stdio::null());
    let _py = Proc::spawn(c, Capture::Both);
    // It prints no ready line: --wait retries until it listens.
    let mut ours = cmd("client");
    ours.args(["--wait", "60s", "--message", "hello"])
        .arg(format!("tcp:127.0.0.1:{port}"));
    let out = run(ours).success();
    assert_eq!(out.stdout, "test: hello\n");
    // And once more: it answers one message per connection, then the next client.
    let mut again = cmd("client");
    again
        .args(["--message", "again"])
        .arg(format!("tcp:127.0.0.1:{port}"));
    run(again).success().stdout_has("test: again\n");
}

// Unix-only here: python3 is the Linux machine's program, which a test running under wine
// cannot start (and the tutorial's queue needs the fork start method).
#[cfg(unix)]
#[test]
fn the_tutorials_other_programs_beside_ours_give_the_same_numbers() {
    // Section 1: 0 to 9, in order, to the child; ours the same through its child.
    let py = run(python("s1_pipe.py", &["0.001"])).success();
    let want: String = (0..10).map(|i| format!("c1 收到包子:{i}\n")).collect();
    assert_eq!(py.stdout, format!("{want}进程间通信-管道-主进程\n"));
    let mut ours = cmd("producer");
    ours.args(["--spawn-consumer", "--", "--name", "c1"]);
    let ours = run(ours).success();
    let want: String = (0..10).map(|i| format!("c1 ate baozi {i} from ")).collect();
    let got: String = ours
        .stdout
        .lines()
        .map(|l| l.split_inclusive(" from ").next().unwrap())
        .collect();
    assert_eq!(got, want);

    // Section 2: the parent's own line, ten made (cyan), ten eaten (magenta). The parent
    // does not wait for its children; their output ends when they do.
    let q = run(python("s2_queue.py", &["0.001"])).success();
    assert_eq!(q.stdout.matches("进程间通信-队列-主进程").count(), 1);
    assert_eq!(q.stdout.matches("生产了 包子").count(), 10, "{}", q.stdout);
    assert_eq!(q.stdout.matches("\u{1b}[45m").count(), 10, "{}", q.stdout);
    assert!(q.stdout.contains("包子9\u{1b}[0m"), "{}", q.stdout);

    // Section 4: 20 workers, one decrement each under the lock: {'count': 0}, as ours.
    let py = run(python("s4_shared_memory.py", &[])).success();
    assert_eq!(py.stdout.matches("计数器减一,当前为:").count(), 20);
    assert!(py.stdout.ends_with("{'count': 0}\n"), "{}", py.stdout);
    let mut ours = cmd("counter");
    ours.args([
        "run",
        "--workers",
        "20",
        "--decrements",
        "1",
        "--value",
        "20",
    ]);
    run(ours).success().stdout_has("final count 0 (expected 0)");
}
