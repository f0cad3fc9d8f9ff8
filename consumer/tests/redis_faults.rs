//! The queue on Redis under faults and in real set-ups: signals while waiting on the
//! server, a server that accepts and never answers, passwords and ACL users, a refused
//! `--lease 0`. Each test starts its own `redis-server` on a free loopback port (as
//! `redis.rs` does), and producers and consumers as separate processes.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::redis::Redis;
use testkit::{Capture, PATIENCE, Proc, cmd, run, unique};

/// `redis-cli -p PORT ARGS...`'s output (empty when it cannot run or connect).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["--no-auth-warning", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn with_args(name: &str, args: &[&str]) -> Command {
    let mut c = cmd(name);
    c.args(args).stdin(Stdio::null());
    c
}

/// Waits until some client of the server is blocked in XREADGROUP (a consumer waiting).
fn wait_for_blocked_reader(port: u16, auth: &[&str]) {
    let deadline = Instant::now() + PATIENCE;
    let mut args = auth.to_vec();
    args.extend(["CLIENT", "LIST"]);
    while !cli(port, &args).contains("cmd=xreadgroup") {
        assert!(
            Instant::now() < deadline,
            "no consumer ever waited on XREADGROUP"
        );
        std::thread::sleep(Duration::from_millis(5)); // polling the server, not a pause
    }
}

/// Ctrl-C and SIGTERM to a consumer blocked on the server end it with 130 and 143 and its
/// last words, every time: an interrupted read is the signal, not the server going away.
#[test]
fn signals_to_a_consumer_waiting_on_redis_end_it_with_their_own_code() {
    let Some(r) = Redis::start_with(&[]) else {
        return;
    };
    for round in 0..10 {
        let q = unique("sig");
        let c = Proc::spawn(
            with_args(
                "consumer",
                &[&r.addr(&q), "--producers", "1", "--name", "c1"],
            ),
            Capture::Both,
        );
        wait_for_blocked_reader(r.port, &[]);
        let (signal, code, words) = if round % 2 == 0 {
            ("TERM", 143, "terminated")
        } else {
            ("INT", 130, "interrupted")
        };
        c.signal(signal);
        let out = c.finish().code(code).stderr_has(words);
        assert!(
            !out.stderr.contains("went away"),
            "round {round}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("error"),
            "round {round}: {}",
            out.stderr
        );
    }
}

/// `--lease 0` would make live consumers take each other's entries: refused, as a usage
/// error, before anything connects.
#[test]
fn a_lease_of_zero_is_refused() {
    for lease in ["0", "0s", "0.1ms"] {
        run(with_args(
            "consumer",
            &["redis://127.0.0.1:1/q", "--lease", lease],
        ))
        .code(2)
        .stderr_has("give at least 1ms");
    }
}

/// A server that accepts the connection and never answers: the first request says so
/// after 10 s, as it does mid-run, for the consumer and the producer alike.
#[test]
fn a_server_that_never_answers_is_told_at_the_start() {
    // The kernel completes the connections into the backlog; nobody ever reads them.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("redis://{}/q", mute.local_addr().unwrap());
    let started = Instant::now();
    let c = Proc::spawn(
        with_args("consumer", &[&addr, "--name", "c1"]),
        Capture::Both,
    );
    let p = Proc::spawn(with_args("producer", &[&addr, "-n", "1"]), Capture::Both);
    for out in [c.finish(), p.finish()] {
        let out = out.failure().stderr_has("did not answer within 10s");
        assert!(!out.stderr.contains("os error"), "{}", out.stderr);
    }
    assert!(
        started.elapsed() < Duration::from_secs(18),
        "took {:?}",
        started.elapsed()
    );
    drop(mute);
}

/// A server with a password: refused without one (told how to give it), refused with a
/// wrong one, and a whole run with the password in the address (producer) and in
/// REDISCLI_AUTH (consumer, so that ps does not show it). No line ever shows it.
#[test]
fn a_password_in_the_address_or_in_rediscli_auth() {
    let secret = "s3cret-b4ozi";
    let Some(r) = Redis::start_with(&["--requirepass", secret]) else {
        return;
    };
    let q = unique("pw");
    let plain = r.addr(&q);
    let with = format!("redis://:{secret}@127.0.0.1:{}/{q}", r.port);
    let wrong = format!("redis://:nope@127.0.0.1:{}/{q}", r.port);
    run(with_args("consumer", &[&plain, "--name", "c0"]))
        .failure()
        .stderr_has("wants a password")
        .stderr_has("REDISCLI_AUTH");
    run(with_args("producer", &[&wrong, "-n", "1"]))
        .failure()
        .stderr_has("refused the password");
    let mut c = with_args("consumer", &[&plain, "--name", "c1", "--expect", "5"]);
    c.env("REDISCLI_AUTH", secret);
    let c = Proc::spawn(c, Capture::Both);
    let p = run(with_args("producer", &[&with, "-n", "5", "--name", "p1"])).success();
    let c = c.finish().success().stderr_has("c1: 5 items");
    for out in [&p.stderr, &c.stderr, &c.stdout] {
        assert!(!out.contains(secret), "{out}");
    }
}

/// An ACL user (Redis 6): `redis://USER:PASSWORD@...`, and the password of the user from
/// REDISCLI_AUTH with `redis://USER@...`.
#[test]
fn an_acl_user_runs_the_queue() {
    // One argument per word: redis-server joins a quoted one into a single name.
    let Some(r) = Redis::start_with(&[
        "--user", "default", "off", "--user", "baker", "on", ">flour", "~*", "&*", "+@all",
    ]) else {
        return;
    };
    let q = unique("acl");
    let full = format!("redis://baker:flour@127.0.0.1:{}/{q}", r.port);
    let user_only = format!("redis://baker@127.0.0.1:{}/{q}", r.port);
    let mut c = with_args("consumer", &[&user_only, "--name", "c1", "--expect", "3"]);
    c.env("REDISCLI_AUTH", "flour");
    let c = Proc::spawn(c, Capture::Both);
    run(with_args("producer", &[&full, "-n", "3", "--name", "p1"])).success();
    c.finish().success().stderr_has("c1: 3 items");
    run(with_args(
        "producer",
        &[
            &format!("redis://baker:salt@127.0.0.1:{}/{q}", r.port),
            "-n",
            "1",
        ],
    ))
    .failure()
    .stderr_has("refused the password of user baker");
}
