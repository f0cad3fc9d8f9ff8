//! The launchers (`run`, `semaphore`) and their workers: the workers stop when the launcher
//! dies, however and whenever it dies; on Ctrl-C the launcher alone says so, once, after
//! its workers are gone. Real `counter` processes; each test uses its own segment names.
//!
//! Linux only: workers are found by their segment name in `/proc/PID/cmdline` (no pid of a
//! worker is known to a test whose launcher was killed mid-start).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{counter, counter_words, said_once_by_the_launcher};
use testkit::{Capture, Proc, run, unique};

/// Processes (other than this one) whose command line mentions `name`, with their state
/// letter from `/proc/PID/stat` (`Z`: exited, not yet reaped by its new parent).
fn processes_with(name: &str) -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mentions = cmdline.split(|&b| b == 0).any(|arg| arg == name.as_bytes());
        if !mentions {
            continue;
        }
        found.push((pid, state(pid).unwrap_or('?')));
    }
    found
}

/// The state letter of process `pid` (`None` once it is gone).
fn state(pid: u32) -> Option<char> {
    let of = |path: String| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
    };
    let leader = of(format!("/proc/{pid}/stat"))?;
    if leader != 'Z' {
        return Some(leader);
    }
    // A zombie main thread whose other threads still run has not closed its files yet
    // (they share them): it is a zombie only once every thread is.
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        tasks
            .flatten()
            .filter_map(|t| of(format!("{}/stat", t.path().display())))
            .find(|&s| s != 'Z')
            .unwrap_or('Z'),
    )
}

/// Waits (polling, up to `limit`) until no process that mentions `name` is alive; a zombie
/// (every one of its threads) has exited, its files are closed, and counts as gone. Every pid seen is followed by its
/// pid until it is a zombie or gone: an exiting process's command line reads empty before
/// its files (and so its locks) are closed. Returns the stragglers if some are left.
fn gone_within(name: &str, limit: Duration) -> Result<(), Vec<(u32, char)>> {
    let deadline = Instant::now() + limit;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        seen.extend(processes_with(name).into_iter().map(|(pid, _)| pid));
        let alive: Vec<_> = seen
            .iter()
            .filter_map(|&pid| state(pid).map(|s| (pid, s)))
            .filter(|&(_, s)| s != 'Z')
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            for &(pid, _) in &alive {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            return Err(alive);
        }
        std::thread::sleep(Duration::from_millis(5)); // poll /proc
    }
}

/// A random number in `0..n`, different each call.
fn random(n: u64) -> u64 {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % n
}

fn launcher_args(semaphore: bool, name: &str) -> Vec<String> {
    let line = if semaphore {
        format!("semaphore --name {name} --workers 6 --permits 2 --stay 500ms..2s --times 100")
    } else {
        format!("run --name {name} --workers 6 --decrements 1000000 --pause 1ms -q")
    };
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn workers_stop_when_the_launcher_is_killed_at_any_moment() {
    // The launcher is killed before, while or after it starts its workers (it starts 6
    // in some tens of ms): whatever they were doing (starting, waiting for the lock or a
    // permit, inside), they must all be gone soon after.
    for round in 0..30 {
        let name = unique("launch-kill");
        let args = launcher_args(round % 2 == 1, &name);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut l = Proc::spawn(counter(&args), Capture::Both);
        l.wait_for_stderr("counter: segment ");
        // The random moment (not a synchronisation): 0 to 40 ms into the start-up.
        std::thread::sleep(Duration::from_micros(random(40_000)));
        l.kill();
        let _ = l.child().wait();
        if let Err(alive) = gone_within(&name, Duration::from_secs(5)) {
            panic!(
                "round {round} ({args:?}): workers still alive 5 s after the launcher's kill -9: {alive:?}"
            );
        }
        l.finish();
        // Nobody uses the segment any more: a plain clean removes it (if it was made).
        let _ = run(counter(&["clean", &name]));
        assert!(!support::Paths::new(&name).unwrap().data.exists());
    }
}

#[test]
fn workers_stop_when_the_launcher_dies_even_if_nobody_reads_their_output() {
    // stdout and stderr are one pipe that we stop reading: the workers fill it and block
    // in their prints. Killing the launcher must still stop them: a worker that tried to
    // say goodbye on that pipe would block forever.
    let name = unique("launch-full");
    let (reader, writer) = std::io::pipe().unwrap();
    let mut c = counter_words(&format!(
        "run --name {name} --workers 3 --decrements 10000000"
    ));
    c.stdout(writer.try_clone().unwrap()).stderr(writer);
    let mut launcher = c.spawn().unwrap();
    drop(c);
    let mut lines = BufReader::new(reader);
    let mut line = String::new();
    while !line.contains("counter minus one") {
        line.clear();
        assert!(lines.read_line(&mut line).unwrap() > 0, "no output");
    }
    // Now nobody reads; wait until the lock holder is stuck writing to the full pipe (the
    // others then wait for the lock).
    let mut stuck = false;
    for _ in 0..2000 {
        let workers: Vec<_> = processes_with(&name)
            .into_iter()
            .filter(|&(pid, _)| pid != launcher.id())
            .collect();
        stuck = workers.len() == 3
            && workers.iter().any(|&(pid, _)| {
                std::fs::read_to_string(format!("/proc/{pid}/wchan"))
                    .is_ok_and(|w| w.contains("pipe_write"))
            });
        if stuck {
            break;
        }
        std::thread::sleep(Duration::from_millis(5)); // poll /proc
    }
    if !stuck {
        eprintln!("note: no worker seen blocked on the full pipe; testing anyway");
    }
    launcher.kill().unwrap();
    launcher.wait().unwrap();
    let result = gone_within(&name, Duration::from_secs(5));
    drop(lines);
    assert_eq!(
        result,
        Ok(()),
        "workers still alive 5 s after their launcher's kill -9"
    );
    // A worker's main thread shows as a zombie while its other threads are still closing
    // the files they share: the segment is in use until the last of them is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = run(counter(&["clean", &name]));
        if out.status.success() {
            break;
        }
        assert!(
            out.stderr.contains("is in use") && Instant::now() < deadline,
            "{}",
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(5)); // until its last thread is gone
    }
}

/// Ctrl-C in a terminal: SIGINT to the launcher's whole process group, workers included.
fn ctrl_c_to_group(semaphore: bool) {
    let name = unique("launch-int");
    let args = launcher_args(semaphore, &name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = counter(&args);
    c.process_group(0);
    let mut l = Proc::spawn(c, Capture::Both);
    l.wait_for_stderr("6 workers started");
    if semaphore {
        l.wait_for_stdout("waits for a permit");
    }
    let group = format!("-{}", l.pid());
    assert!(
        Command::new("kill")
            .args(["-INT", "--", &group])
            .status()
            .unwrap()
            .success()
    );
    // The launcher exits only once its workers are gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    while l.child().try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the launcher did not exit");
        std::thread::sleep(Duration::from_millis(1)); // poll for its exit
    }
    let left = processes_with(&name);
    assert!(
        left.iter().all(|&(pid, _)| pid == l.pid()),
        "workers outlived their launcher: {left:?}"
    );
    let out = l.finish().code(130);
    said_once_by_the_launcher(&out);
    assert!(!support::Paths::new(&name).unwrap().data.exists());
}

#[test]
fn ctrl_c_in_a_terminal_gives_one_line_after_the_workers_are_gone() {
    ctrl_c_to_group(false);
    ctrl_c_to_group(true);
}
