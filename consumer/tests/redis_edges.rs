//! The queue on Redis Streams at its edges, end to end, as the broker's `edges.rs`: a
//! consumer stopped by a signal, slow consumers sharing the work. Each test has its own
//! `redis-server` (a free loopback port, no persistence) and queue names; every wait is for
//! a line, an exit or a server's answer, never a fixed sleep.
//!
//! Unix-only, like `redis.rs` (whose `Redis` helper this repeats in short).
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{
    PATIENCE, Proc, all_eaten, cmd_with as client, eaten, run, spawn_with as spawn, unique,
};

/// A `redis-server` of this test's own; killed on drop. `None` where Redis is absent by
/// design (BAOZI_NO_REDIS), after saying so.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start() -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("BAOZI_NO_REDIS").is_some(),
                "redis-server is not installed (scripts/test.sh installs it)"
            );
            eprintln!("skipped: redis-server is not installed and BAOZI_NO_REDIS is set");
            return None;
        }
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let mut child = Command::new("redis-server")
                .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
                .args(["--port", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + PATIENCE;
            loop {
                if command(port, &["PING"]).is_some_and(|r| r == "+PONG") {
                    return Some(Redis { child, port });
                }
                if child.try_wait().unwrap().is_some() {
                    break; // it could not bind: another port
                }
                assert!(Instant::now() < deadline, "redis-server never answered");
                std::thread::sleep(Duration::from_millis(10)); // retrying PING
            }
        }
        panic!("could not start redis-server on a free port");
    }

    fn addr(&self, queue: &str) -> String {
        format!("redis://127.0.0.1:{}/{queue}", self.port)
    }

    /// Waits until `n` consumers are waiting for entries (blocked in XREADGROUP).
    fn wait_for_consumers(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        let want = format!("blocked_clients:{n}");
        while !info(self.port, "clients").contains(&want) {
            assert!(Instant::now() < deadline, "{n} consumers never came");
            std::thread::sleep(Duration::from_millis(10)); // polling the server
        }
    }
}

/// The text of `INFO section`.
fn info(port: u16, section: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("*2\r\n$4\r\nINFO\r\n${}\r\n{section}\r\n", section.len());
    s.write_all(req.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let len: usize = line.trim_start_matches('$').trim().parse().unwrap_or(0);
    let mut body = vec![0; len];
    std::io::Read::read_exact(&mut r, &mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command in RESP and reads the first line of the reply.
fn command(port: u16, args: &[&str]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(req.as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line.trim_end().to_owned())
}

/// How many items the run's totals line (on `stderr`) says `consumer` ate.
fn eaten_by(stderr: &str, consumer: &str) -> u64 {
    let totals = stderr
        .lines()
        .find(|l| l.contains("is over:"))
        .unwrap_or_else(|| panic!("no totals line\n{stderr}"));
    let key = format!("{consumer} ");
    totals
        .split(['(', ',', ')'])
        .map(str::trim)
        .find_map(|part| part.strip_prefix(&key))
        .unwrap_or_else(|| panic!("{consumer} not in {totals}"))
        .parse()
        .unwrap()
}

#[test]
fn a_consumer_stopped_by_a_signal_keeps_what_it_ate_and_gives_back_the_rest_at_once() {
    let Some(r) = Redis::start() else { return };
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let q = unique("stop");
        let addr = r.addr(&q);
        // The default lease (30 s): what comes back must not wait for it.
        let doomed = spawn(
            "consumer",
            &[
                &addr,
                "--producers",
                "1",
                "--name",
                "doomed",
                "--eat",
                "300ms",
            ],
        );
        r.wait_for_consumers(1);
        let p = spawn("producer", &[&addr, "-n", "10", "--name", "p1"]);
        doomed.wait_for_stdout("doomed received baozi 2 ");
        doomed.signal(signal);
        let doomed = doomed.finish_within(Duration::from_secs(5)).code(code);
        p.finish().success();
        let survivor = spawn(
            "consumer",
            &[&addr, "--producers", "1", "--name", "survivor"],
        )
        .finish_within(Duration::from_secs(15))
        .success();
        let (times, redelivered) = eaten(&[&doomed.stdout, &survivor.stdout]);
        all_eaten(&times, &["p1"], 10);
        assert!(
            times.values().all(|&n| n == 1),
            "nothing eaten twice: {times:?}"
        );
        assert!(redelivered.is_empty(), "{redelivered:?}");
        let printed = doomed.stdout.lines().count() as u64;
        assert!(printed >= 3, "{}", doomed.stdout);
        assert_eq!(eaten_by(&survivor.stderr, "doomed"), printed);
        survivor.stderr_has("redelivered 0; dead 0");
    }
}

#[test]
fn three_equal_slow_consumers_share_the_work_evenly() {
    let Some(r) = Redis::start() else { return };
    let q = unique("share");
    let addr = r.addr(&q);
    let names = ["c1", "c2", "c3"];
    let consumers: Vec<Proc> = names
        .iter()
        .map(|c| {
            spawn(
                "consumer",
                &[&addr, "--producers", "1", "--name", c, "--eat", "100ms"],
            )
        })
        .collect();
    r.wait_for_consumers(3);
    run(client("producer", &[&addr, "-n", "30", "--name", "p1"])).success();
    let last = consumers
        .into_iter()
        .map(|c| c.finish().success())
        .last()
        .unwrap();
    // An even split is 10 each; a greedy prefetch gave one consumer all 30.
    for c in names {
        let n = eaten_by(&last.stderr, c);
        assert!(n >= 8, "{c} ate only {n}\n{}", last.stderr);
    }
}
