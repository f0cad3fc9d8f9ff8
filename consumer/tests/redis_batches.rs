//! The queue on Redis Streams puts and acknowledges in batches: a producer killed (`-9`)
//! mid-batch leaves whole batches, each entry in the stream and counted or not there at all;
//! `--capacity` holds while batches go in and out. Each test has its own `redis-server` (a
//! free loopback port, no persistence) and queue names; every wait is for a line, an exit
//! or a server's answer, never a fixed sleep.
//!
//! Unix-only, like `redis.rs` (whose `Redis` helper this repeats in short, with a reader of
//! whole replies).
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use testkit::{PATIENCE, TempDir, all_eaten, eaten, spawn_with as spawn, temp_dir, unique};

/// A `redis-server` of this test's own; killed on drop. `None` where Redis is absent by
/// design (BAOZI_NO_REDIS), after saying so.
struct Redis {
    child: Child,
    port: u16,
    /// Its working folder, removed after it (fields drop after `drop`).
    _dir: TempDir,
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
        let dir = temp_dir("baozi-redis");
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let mut child = Command::new("redis-server")
                .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
                .args(["--port", &port.to_string()])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + PATIENCE;
            loop {
                if query(port, &["PING"]).is_some() {
                    return Some(Redis {
                        child,
                        port,
                        _dir: dir,
                    });
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

    fn ask(&self, args: &[&str]) -> Resp {
        query(self.port, args).unwrap()
    }

    /// A number the server keeps: an integer reply, or a hash field's digits (0 if unset).
    fn number(&self, args: &[&str]) -> i64 {
        match self.ask(args) {
            Resp::Int(n) => n,
            Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse().unwrap(),
            Resp::Bulk(None) => 0,
            other => panic!("{args:?} answered {other:?}"),
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole RESP2 reply.
#[derive(Debug)]
enum Resp {
    Simple,
    /// An error reply (`-NOGROUP ...`).
    Error,
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

fn read_reply(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Resp::Simple,
        "-" => Resp::Error,
        ":" => Resp::Int(rest.parse().unwrap()),
        "$" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return Resp::Bulk(None);
            }
            let mut b = vec![0; n as usize + 2];
            r.read_exact(&mut b).unwrap();
            b.truncate(n as usize);
            Resp::Bulk(Some(b))
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            Resp::Array((0..n.max(0)).map(|_| read_reply(r)).collect())
        }
        _ => panic!("not a RESP reply: {line}"),
    }
}

/// Sends one command and reads its whole reply; `None` if nothing answers.
fn query(port: u16, args: &[&str]) -> Option<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(req.as_bytes()).ok()?;
    Some(read_reply(&mut BufReader::new(s)))
}

/// The sequence numbers of a stream's entries, in order, from their `baozi` field.
fn seqs(r: &Redis, stream: &str) -> Vec<u64> {
    let Resp::Array(entries) = r.ask(&["XRANGE", stream, "-", "+"]) else {
        panic!("XRANGE answered no list");
    };
    entries
        .into_iter()
        .map(|e| {
            let Resp::Array(mut e) = e else { panic!() };
            let Resp::Array(fields) = e.remove(1) else {
                panic!()
            };
            let Resp::Bulk(Some(v)) = &fields[1] else {
                panic!()
            };
            let head = v.split(|&c| c == b'\n').next().unwrap();
            let seq = std::str::from_utf8(head)
                .unwrap()
                .split(' ')
                .next()
                .unwrap();
            seq.parse().unwrap()
        })
        .collect()
}

#[test]
fn a_producer_killed_mid_batch_leaves_whole_batches_counted() {
    let Some(r) = Redis::start() else { return };
    // 4 KiB items go 256 to a script call (1 MiB of entries each): a kill lands while a
    // batch is on the wire or being added, most of the time.
    for round in 0..3 {
        let q = unique(&format!("killed-{round}"));
        let left_key = format!("{q}:totals");
        let mut p = spawn(
            "producer",
            &[
                &r.addr(&q),
                "--name",
                "p1",
                "-n",
                "100000",
                "--payload",
                "4KiB",
                "--capacity",
                "100000",
            ],
        );
        let deadline = Instant::now() + PATIENCE;
        // Killed after its 1st, 2nd or 3rd batch went in.
        while r.number(&["HGET", &left_key, "left"]) < 256 * (round + 1) {
            assert!(Instant::now() < deadline, "the producer never put a batch");
            std::thread::sleep(Duration::from_millis(1)); // polling the live count
        }
        p.kill();
        let left = r.number(&["HGET", &left_key, "left"]);
        let len = r.number(&["XLEN", &q]);
        assert_eq!(
            len, left,
            "every entry in the stream is counted, and no other"
        );
        assert_eq!(left % 256, 0, "{left} entries: a batch went in by halves");
        let seqs = seqs(&r, &q);
        assert_eq!(
            seqs,
            (0..left as u64).collect::<Vec<_>>(),
            "whole batches, in order"
        );

        // The run is finished by running the producer again under its name (at least
        // once: its first items go in again), and the accounting is exact.
        let n = "600";
        let c = spawn(
            "consumer",
            &[&r.addr(&q), "--name", "c1", "--producers", "1"],
        );
        let again = spawn("producer", &[&r.addr(&q), "--name", "p1", "-n", n]);
        again.finish().success();
        let c = c.finish().success();
        c.stderr_has(&format!(
            "is over: received {n} from 1 producer (p1 {n}); eaten {} by 1 consumer (c1 {})",
            left + 600,
            left + 600
        ))
        .stderr_has("redelivered 0; dead 0");
        assert_eq!(
            r.number(&["XLEN", &q]),
            0,
            "eaten entries are gone at the end"
        );
    }
}

/// Entries `left` (put, not settled) and pending in the group, read at one instant.
const BOTH: &str = "local l = tonumber(redis.call('HGET', KEYS[2], 'left') or 0) \
    local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], 'baozi') \
    return {l, ok and p[1] or 0}";

#[test]
fn capacity_holds_while_batches_go_in_and_out() {
    let Some(r) = Redis::start() else { return };
    let q = unique("cap");
    let left_key = format!("{q}:totals");
    // Batches of 256 against a capacity of 100: each put takes only the room there is.
    let producers: Vec<_> = ["p1", "p2"]
        .iter()
        .map(|p| {
            spawn(
                "producer",
                &[&r.addr(&q), "--name", p, "-n", "1500", "--capacity", "100"],
            )
        })
        .collect();
    let consumers: Vec<_> = ["c1", "c2"]
        .iter()
        .map(|c| {
            spawn(
                "consumer",
                &[&r.addr(&q), "--name", c, "--producers", "2", "--eat", "1ms"],
            )
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    let mut most = 0;
    loop {
        // Both read in one step: the count and the group's pending entries.
        let Resp::Array(both) = r.ask(&["EVAL", BOTH, "2", &q, &left_key]) else {
            panic!("no pair")
        };
        let [Resp::Int(left), Resp::Int(pending)] = both[..] else {
            panic!("{both:?}")
        };
        assert!(left <= 100, "{left} entries left, over --capacity 100");
        assert!(pending <= left, "{pending} pending but only {left} left");
        most = most.max(left);
        if r.number(&["HLEN", &format!("{q}:ends")]) == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the producers never ended");
        std::thread::sleep(Duration::from_millis(5)); // polling the live count
    }
    assert!(most > 0, "never saw an entry left");
    for p in producers {
        p.finish().success();
    }
    let mut stdouts = Vec::new();
    for c in consumers {
        let c = c
            .finish()
            .success()
            .stderr_has("is over: received 3000 from 2 producers (p1 1500, p2 1500); eaten 3000")
            .stderr_has("redelivered 0; dead 0");
        stdouts.push(c.stdout);
    }
    let outs: Vec<&str> = stdouts.iter().map(String::as_str).collect();
    let (times, _) = eaten(&outs);
    all_eaten(&times, &["p1", "p2"], 1500);
    assert_eq!(r.number(&["XLEN", &q]), 0);
}
