//! What is particular to `shm:NAME` (the conformance suite, `transport.rs`, runs the pipe
//! and the echo over it like over every stream): either side killed at any moment, the
//! memory let go, names in use or missing, frames larger than the ring, other users.
//! On Linux and under wine, but for what only Linux can show (`/proc`, other users); under
//! wine the crash test runs fewer rounds (each process start costs about half a second).
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::process::{Command, Stdio};
use std::time::Duration;
use testkit::{Capture, Finished, Proc, cmd, run, unique};

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn spawn(name: &str, args: &[&str]) -> Proc {
    let mut c = cmd(name);
    c.args(args).stdin(Stdio::null());
    Proc::spawn(c, Capture::Both)
}

/// xorshift64*: the random moments of the crash test, from a seed it prints (set
/// `SHM_CRASH_SEED` to replay a run).
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("SHM_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("SHM_CRASH_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The item numbers a consumer printed, checked to be 0, 1, 2, ... each once, and their
/// count checked against its summary line when it has one.
#[track_caller]
fn items_in_order(c: &Finished) -> u64 {
    let mut next = 0u64;
    for line in c.stdout.lines() {
        let seq: u64 = line
            .split_whitespace()
            .nth(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an item line: {line:?}"));
        assert_eq!(seq, next, "items out of order or repeated:\n{}", c.stderr);
        next += 1;
    }
    if let Some(summary) = c.stderr.lines().find(|l| l.starts_with("c: ")) {
        assert!(
            summary.starts_with(&format!("c: {next} item")),
            "{summary} but {next} item lines"
        );
    }
    next
}

/// 100 rounds (40 under wine), each a producer and a consumer over the same `shm:` name,
/// one listening (each in turn), and one of the two (each in turn) killed (SIGKILL;
/// TerminateProcess on Windows) at a random moment once items flow (payloads of 3 KiB, so many kills land inside a frame). The
/// survivor must end within 5 s with its line: a consumer says the stream was cut (or had
/// no end frame) and printed every item from 0 once, in order, as many as its summary
/// says; a producer says the consumer went away. Every round listens on the same name
/// again, so a name left taken by the dead fails the next round.
#[test]
fn either_side_killed_at_random_moments_for_100_rounds() {
    let mut rng = Rng::seeded();
    let name = format!("shm:{}", unique("shm-crash"));
    let producer_args = ["-n", "100000000", "--payload", "3KiB", "--name", "p"];
    let consumer_args = ["--name", "c"];
    for round in 0..if cfg!(windows) { 40 } else { 100 } {
        let producer_listens = round % 2 == 0;
        let kill_producer = (round / 2) % 2 == 0;
        let with = |args: &[&str], listen: bool| -> Vec<String> {
            let mut v: Vec<String> = if listen {
                vec!["-l".into(), name.clone()]
            } else {
                vec![name.clone(), "--wait".into(), "5s".into()]
            };
            v.extend(args.iter().map(ToString::to_string));
            v
        };
        let p_args = with(&producer_args, producer_listens);
        let c_args = with(&consumer_args, !producer_listens);
        let (mut p, mut c) = if producer_listens {
            let p = spawn("producer", &as_strs(&p_args));
            assert_eq!(
                p.wait_ready(),
                name,
                "round {round}: the name is free again"
            );
            (p, spawn("consumer", &as_strs(&c_args)))
        } else {
            let c = spawn("consumer", &as_strs(&c_args));
            assert_eq!(
                c.wait_ready(),
                name,
                "round {round}: the name is free again"
            );
            (spawn("producer", &as_strs(&p_args)), c)
        };
        c.wait_for_stdout("c ate baozi 0 ");
        std::thread::sleep(Duration::from_micros(rng.below(20_000))); // the random moment
        let within = Duration::from_secs(5);
        if kill_producer {
            p.kill();
            drop(p.finish());
            let c = c.finish_within(within).failure();
            assert!(
                c.stderr.contains("the stream was cut")
                    || c.stderr.contains("without an end frame"),
                "round {round}: {}",
                c.stderr
            );
            items_in_order(&c);
        } else {
            c.kill();
            drop(c.finish());
            p.finish_within(within)
                .failure()
                .stderr_has("the consumer went away after");
        }
    }
}

/// What a process holds of `shm:` connections: its memfd mappings, descriptors, threads.
#[cfg(target_os = "linux")]
fn holdings(pid: u32) -> (usize, usize, usize) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let count = |dir: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{dir}"))
            .unwrap()
            .count()
    };
    (
        maps.lines()
            .filter(|l| l.contains("memfd:baozi-shm"))
            .count(),
        count("fd"),
        count("task"),
    )
}

/// A consumer that keeps listening (`-k`) outlives 20 producers killed at random moments:
/// (Linux: what a process holds is read in `/proc`.)
/// after each, within 2 s, it holds no more mappings, descriptors or threads than before
/// the first, and it still serves the next producer to the end. Nothing of a connection
/// outlives it, and nothing of it is in /dev/shm (the memory has no name).
#[test]
#[cfg(target_os = "linux")]
fn a_long_lived_listener_lets_go_of_every_killed_peer() {
    let mut rng = Rng::seeded();
    let name = format!("shm:{}", unique("shm-leak"));
    let c = spawn("consumer", &["-l", &name, "-k", "--name", "c"]);
    c.wait_ready();
    let before = holdings(c.pid());
    assert_eq!(before.0, 0);
    let dev_shm = || -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let shm_before = dev_shm();
    for round in 1..=20 {
        let mut p = spawn("producer", &[&name, "-n", "100000000", "--payload", "3KiB"]);
        c.wait_for_stdout(&format!("from p{} (", p.pid()));
        std::thread::sleep(Duration::from_micros(rng.below(10_000))); // a random moment to kill at
        p.kill();
        drop(p.finish());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while holdings(c.pid()) != before {
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: still holding {:?}, {before:?} before",
                holdings(c.pid())
            );
            std::thread::sleep(Duration::from_millis(10)); // polling, with the deadline above
        }
    }
    run(cmd_args("producer", &[&name, "-n", "5", "--name", "last"]))
        .success()
        .stderr_has("sent 5 baozi");
    c.wait_for_stdout("c ate baozi 4 from last");
    assert!(
        dev_shm()
            .iter()
            .all(|f| shm_before.contains(f) || !f.contains("shm-leak")),
        "{:?}",
        dev_shm()
    );
    c.interrupt();
    drop(c.finish());
}

fn cmd_args(name: &str, args: &[&str]) -> Command {
    let mut c = cmd(name);
    c.args(args).stdin(Stdio::null());
    c
}

/// A frame larger than either ring (4 MiB each way) streams through in pieces.
#[test]
fn items_larger_than_the_ring() {
    let name = format!("shm:{}", unique("shm-big"));
    let c = spawn("consumer", &["-l", &name, "--expect", "3", "--name", "c"]);
    c.wait_ready();
    run(cmd_args(
        "producer",
        &[&name, "-n", "3", "--payload", "9MiB"],
    ))
    .success();
    let c = c.finish().success();
    assert_eq!(
        c.stdout.matches("(9437184 bytes)").count(),
        3,
        "{}",
        c.stdout
    );
}

/// As `local:`: a live name is never taken over, and nobody there is one clear line.
#[test]
fn a_name_in_use_and_a_name_nobody_serves() {
    let name = format!("shm:{}", unique("shm-names"));
    let first = spawn("consumer", &["-l", &name]);
    first.wait_ready();
    run(cmd_args("consumer", &["-l", &name]))
        .failure()
        .stderr_has(&format!("address in use: {name} is held by a live process"));
    drop(first);
    let nobody = format!("shm:{}", unique("shm-nobody"));
    let out = run(cmd_args("producer", &[&nobody, "--wait", "0"])).failure();
    assert!(
        out.stderr
            .contains(&format!("nothing is listening at {nobody}"))
            && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
    // shm:x and local:x never meet.
    let twin = unique("shm-twin");
    let local = spawn("consumer", &["-l", &format!("local:{twin}")]);
    local.wait_ready();
    run(cmd_args(
        "producer",
        &[&format!("shm:{twin}"), "--wait", "0"],
    ))
    .failure()
    .stderr_has("nothing is listening at shm:");
}

/// Another user's producer is refused by a listening consumer (and the consumer serves
/// ours next); a name another user listens on first gives us no stream. Needs root (to be
/// another user, as `pipe.rs`'s tests of `local:`), else says why it skips. Unix: under
/// wine every process is the same user.
#[test]
#[cfg(unix)]
fn other_users_are_refused_both_ways() {
    let as_user = |name: &str, args: &[&str]| -> Option<Command> {
        let mut c = testkit::as_other_user()?;
        c.arg(testkit::for_everyone(name)).args(args);
        Some(c)
    };
    let name = format!("shm:{}", unique("shm-users"));
    let Some(stranger) = as_user("producer", &[&name, "-n", "5", "--wait", "0"]) else {
        return;
    };
    let c = spawn("consumer", &["-l", &name, "--expect", "2", "--name", "c1"]);
    c.wait_ready();
    run(stranger).failure();
    c.wait_for_stderr("refused a connection from a process of another user (uid");
    run(cmd_args("producer", &[&name, "-n", "2"])).success();
    c.finish().success().stderr_has("c1: 2 items");

    let name = format!("shm:{}", unique("shm-squat"));
    let squatter = as_user("consumer", &["-l", &name, "--any-user"]).unwrap();
    let mut squatter = Proc::spawn(squatter, Capture::Both);
    squatter.wait_ready();
    run(cmd_args("producer", &[&name, "-n", "3"]))
        .failure()
        .stderr_has("runs as another user (uid")
        .stderr_has("--any-user allows");
    squatter.kill();
    let squatter = squatter.finish();
    assert!(!squatter.stdout.contains("received"), "{}", squatter.stdout);
}

/// Something else on the rendezvous socket: a connection that hands over no memory (a line
/// of text instead) is told about in one line and dropped, and one that says nothing holds
/// up nobody (its memory is awaited on the thread that serves it, not the accepting one):
/// the next producer is served while it still waits.
#[test]
#[cfg(target_os = "linux")]
fn strangers_on_the_rendezvous_are_ignored_in_one_line_and_hold_up_nobody() {
    use std::io::Write;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixStream};
    let tag = unique("shm-stranger");
    let name = format!("shm:{tag}");
    let c = spawn("consumer", &["-l", &name, "--expect", "2", "--name", "c"]);
    c.wait_ready();
    let rendezvous = SocketAddr::from_abstract_name(format!("baozi-shm.{tag}")).unwrap();
    let silent = UnixStream::connect_addr(&rendezvous).unwrap();
    let mut talker = UnixStream::connect_addr(&rendezvous).unwrap();
    talker.write_all(b"hello, no memory here\n").unwrap();
    c.wait_for_stderr(&format!(
        "c: ignored a connection from {name}: it handed over no shared memory"
    ));
    drop(talker);
    run(cmd_args("producer", &[&name, "-n", "2"])).success();
    c.finish().success().stderr_has("c: 2 items");
    drop(silent);
}
