//! What the `counter` test files share: the command, a spawn, and `clean` once the workers
//! are gone. (Each test binary uses its part of it.)
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::{Finished, Proc, cmd_with, run, spawn_with};

/// `counter ARGS`, its stdin closed.
pub fn counter(args: &[&str]) -> Command {
    cmd_with("counter", args)
}

/// `counter ARGS`, started with both outputs captured.
pub fn spawn(args: &[&str]) -> Proc {
    spawn_with("counter", args)
}

/// The words of `line`: `words(&format!("run --name {name} --workers 8"))`, for long
/// argument lists written as one line (segment names from `unique` have no spaces).
pub fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `counter` with the words of `line` as its arguments, its stdin closed.
pub fn counter_words(line: &str) -> Command {
    counter(&words(line))
}

/// [`counter_words`], started with both outputs captured.
pub fn spawn_words(line: &str) -> Proc {
    spawn(&words(line))
}

/// `counter clean NAME`, retried while it says "in use": a killed launcher's workers close
/// their output (which `finish` waits for) and their segment file (which clean checks) in
/// the same exit, in no set order.
pub fn clean_once_idle(name: &str) -> Finished {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = run(counter(&["clean", name]));
        if out.status.success() || !out.stderr.contains("is in use") || Instant::now() >= deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(10)); // poll until the last worker is gone
    }
}

/// After Ctrl-C: one line, `counter: interrupted`, from the launcher; its workers stop
/// quietly (no other line says "interrupted" or "launcher").
#[track_caller]
pub fn said_once_by_the_launcher(out: &Finished) {
    let said: Vec<_> = out
        .stderr
        .lines()
        .filter(|l| l.contains("interrupted") || l.contains("launcher"))
        .collect();
    assert_eq!(said, ["counter: interrupted"], "{}", out.stderr);
}

/// The files of segment `name`, where the counter puts them (`ipc::segment`).
pub struct Paths {
    name: String,
    /// The segment itself.
    pub data: PathBuf,
    /// Its lock file.
    pub lock: PathBuf,
}

impl Paths {
    pub fn new(name: &str) -> Result<Paths, String> {
        Ok(Paths {
            name: name.to_owned(),
            data: ipc::segment::path_of(name)?,
            lock: ipc::segment::companion(name, "lock"),
        })
    }

    /// Permit `i`'s lock file.
    pub fn permit(&self, i: u64) -> PathBuf {
        ipc::segment::companion(&self.name, &format!("permit-{i}"))
    }
}
