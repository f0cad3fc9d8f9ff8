//! Listeners under slow, silent and unlucky peers: the greeting deadline bounds the whole
//! greeting, silent connections hold up nobody, and a thread that cannot be started costs
//! one connection and one line, never the listener. Real processes over TCP.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{Capture, Proc, cmd, run};

/// A consumer listening on a fresh TCP port (plus `extra` args); its address.
fn listening_consumer(extra: &[&str]) -> (Proc, String) {
    let mut c = cmd("consumer");
    c.args(["-l", "tcp:127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null());
    let p = Proc::spawn(c, Capture::Both);
    let addr = p.wait_ready();
    (p, addr)
}

fn producer(args: &[&str]) -> Command {
    let mut c = cmd("producer");
    c.args(args).stdin(Stdio::null());
    c
}

fn socket_addr(addr: &str) -> String {
    addr.strip_prefix("tcp:").unwrap().to_owned()
}

/// A peer that sends a true greeting one byte every 2 s is cut off at the greeting
/// deadline (10 s), not kept for as long as it trickles; the listener then takes a real
/// producer.
#[test]
fn a_trickling_greeting_is_cut_off_at_the_deadline() {
    let (c, addr) = listening_consumer(&["--expect", "2", "--name", "c1"]);
    let mut s = TcpStream::connect(socket_addr(&addr)).unwrap();
    let opened = Instant::now();
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        // The magic, then the version, kind 1 (baozi), role 0 (producer): a valid greeting,
        // so only the clock can refuse it. 2 s apart, 22 s in all.
        let greeting = [&b"BAOZIIPC"[..], &[common::wire::VERSION, 1, 0]].concat();
        for b in greeting {
            if w.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(2)); // the peer's pace, not a wait for readiness
        }
    });
    // Our side reads the consumer's greeting, then waits for the consumer to hang up.
    s.set_read_timeout(Some(Duration::from_secs(18))).unwrap();
    let mut buf = [0; 64];
    let mut got = 0;
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let took = opened.elapsed();
    assert!(got >= 11, "the consumer greets first");
    assert!(closed, "still connected after {took:?}");
    assert!(
        took < Duration::from_secs(14),
        "the greeting deadline is 10 s, the trickling peer was cut off after {took:?}"
    );
    c.wait_for_stderr("sent no greeting in time");
    run(producer(&[&addr, "-n", "2", "--name", "p1"])).success();
    c.finish().success().stderr_has("c1: 2 items");
    trickle.join().unwrap();
}

/// Two connections that never send a byte, then a real producer: the producer is served
/// at once, and the consumer's wait does not end for the silent ones.
#[test]
fn silent_connections_hold_up_no_producer() {
    let (c, addr) = listening_consumer(&["--expect", "3", "--name", "c1"]);
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(socket_addr(&addr)).unwrap())
        .collect();
    let p = Proc::spawn(producer(&[&addr, "-n", "3", "--name", "p1"]), Capture::Both);
    // Served at once: well within the 10 s a silent peer may take to greet.
    p.finish_within(Duration::from_secs(8)).success();
    let out = c.finish().success().stderr_has("c1: 3 items");
    assert_eq!(out.count_stdout("c1 ate baozi"), 3, "{}", out.stdout);
    drop(silent);
}

/// The same for `-k`, which keeps listening: each connection is greeted on its own.
#[cfg(unix)]
#[test]
fn silent_connections_hold_up_no_producer_of_a_keep_listening_consumer() {
    let (c, addr) = listening_consumer(&["-k", "--name", "c1"]);
    let silent: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(socket_addr(&addr)).unwrap())
        .collect();
    let p = Proc::spawn(producer(&[&addr, "-n", "3", "--name", "p1"]), Capture::Both);
    p.finish_within(Duration::from_secs(8)).success();
    c.wait_for_stderr("3 items from");
    c.interrupt();
    c.finish().code(130);
    drop(silent);
}

/// A listening consumer that has its producer stops listening: the next producer finds
/// nobody there (as before the greeting moved to threads of its own). Over `shm:` too: the
/// accepting thread is woken by a knock of the consumer's own (there the rendezvous alone),
/// and a knock that failed would leave the address open.
#[test]
fn a_consumer_that_has_its_producer_stops_listening() {
    let names = [
        "tcp:127.0.0.1:0".to_owned(),
        format!("shm:{}", testkit::unique("stops")),
    ];
    for listen in names {
        let mut c = cmd("consumer");
        c.args(["-l", &listen, "--name", "c1"]).stdin(Stdio::null());
        let c = Proc::spawn(c, Capture::Both);
        let addr = c.wait_ready();
        let first = Proc::spawn(
            producer(&[&addr, "-n", "4", "--delay", "300ms", "--name", "p1"]),
            Capture::Both,
        );
        c.wait_for_stdout("c1 ate baozi 0 from p1");
        run(producer(&[&addr, "-n", "1", "--wait", "0", "--name", "p2"]))
            .failure()
            .stderr_has("nothing is listening");
        first.finish().success();
        c.finish().success().stderr_has("c1: 4 items");
    }
}

// ---- out of threads: a process limit (Linux, as root: RLIMIT_NPROC binds other users) ----

/// `name` (a workspace binary) run as the numeric user `uid` (no account needed); `None` (with the reason printed) unless root on Linux.
#[cfg(target_os = "linux")]
fn as_uid(uid: u32, name: &str, args: &[&str]) -> Option<Command> {
    let me = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        eprintln!("skipped: a process limit binds only other users than root; not root");
        return None;
    }
    // Run in place (target/ is world-readable here): a fresh copy, exec'd while another
    // test's fork still holds it open for writing, fails with ETXTBSY.
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ])
    .arg(testkit::bin(name))
    .args(args)
    .stdin(Stdio::null());
    Some(c)
}

/// A user id no other test uses at the same time (RLIMIT_NPROC counts a user's tasks).
#[cfg(target_os = "linux")]
fn lonely_uid(salt: u32) -> u32 {
    200_000 + (std::process::id() % 50_000) * 4 + salt
}

#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// `consumer ARGS` as the lonely user `uid`, allowed `tasks` tasks (threads) in all: its
/// RLIMIT_NPROC, set before it starts (changing another user's limits later would need
/// CAP_SYS_RESOURCE). The consumer's ready address.
#[cfg(target_os = "linux")]
fn limited_consumer(uid: u32, tasks: usize, args: &[&str]) -> (Proc, String) {
    let inner = as_uid(uid, "consumer", args).unwrap();
    let mut c = Command::new("prlimit");
    c.arg(format!("--nproc={tasks}:"))
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null());
    let c = Proc::spawn(c, Capture::Both);
    let addr = c.wait_ready();
    (c, addr)
}

/// How many threads `consumer ARGS` has once it is listening, before any connection.
#[cfg(target_os = "linux")]
fn idle_threads(uid: u32, args: &[&str]) -> usize {
    let mut c = Proc::spawn(as_uid(uid, "consumer", args).unwrap(), Capture::Both);
    c.wait_ready();
    let n = threads_of(c.pid());
    c.kill();
    n
}

/// `consumer -l -k` that cannot start a thread for a producer: one line, that producer
/// is dropped, the one being served goes on, and the next is served once a thread can be
/// had again. No panic.
#[cfg(target_os = "linux")]
#[test]
fn keep_listening_out_of_threads_drops_one_producer_and_serves_the_others() {
    let uid = lonely_uid(0);
    let args = ["-l", "-k", "tcp:127.0.0.1:0", "--name", "c1"];
    if as_uid(uid, "consumer", &[]).is_none() {
        return;
    }
    // Room for the consumer's own threads and one producer's.
    let idle = idle_threads(uid, &args);
    let (c, addr) = limited_consumer(uid, idle + 1, &args);
    let a = Proc::spawn(
        producer(&[&addr, "-n", "10", "--delay", "300ms", "--name", "pa"]),
        Capture::Both,
    );
    c.wait_for_stdout("c1 ate baozi 0 from pa");
    run(producer(&[&addr, "-n", "2", "--name", "pb"])).failure();
    c.wait_for_stderr("cannot start a thread for it");
    a.finish().success();
    c.wait_for_stderr("10 items from");
    // pa's thread has ended: room for one again.
    let deadline = Instant::now() + testkit::PATIENCE;
    while threads_of(c.pid()) > idle {
        assert!(Instant::now() < deadline, "pa's thread never ended");
        std::thread::sleep(Duration::from_millis(10)); // polling, with the deadline above
    }
    run(producer(&[&addr, "-n", "2", "--name", "pc"])).success();
    c.wait_for_stderr("2 items from");
    c.interrupt();
    let out = c.finish().code(130);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert!(!out.stdout.contains("from pb"), "{}", out.stdout);
}

/// A listening consumer that cannot start a thread to greet a connection: one line, that
/// connection is dropped, and the consumer goes on waiting for its producers (Ctrl-C ends
/// it as usual). No panic.
#[cfg(target_os = "linux")]
#[test]
fn a_listener_out_of_threads_drops_the_connection_and_goes_on_waiting() {
    let uid = lonely_uid(1);
    let args = ["-l", "tcp:127.0.0.1:0", "--producers", "2", "--name", "c1"];
    if as_uid(uid, "consumer", &[]).is_none() {
        return;
    }
    let idle = idle_threads(uid, &args);
    let (c, addr) = limited_consumer(uid, idle, &args);
    for p in ["pa", "pb"] {
        run(producer(&[&addr, "-n", "2", "--name", p])).failure();
    }
    c.wait_for_stderr("cannot start a thread to greet it");
    c.interrupt();
    let out = c.finish().code(130);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}
