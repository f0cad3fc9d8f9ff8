//! What the `counter` test files share: the command, a spawn, and `clean` once the workers
//! are gone. (Each test binary uses its part of it.)
#![allow(dead_code)]

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
