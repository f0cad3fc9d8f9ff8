//! The semaphore's permit files are opened once per process and kept open: what that must
//! not cost. A permit file replaced under running workers is caught when the next process
//! opens it (device and inode against what the creator recorded), and every running worker
//! stops at its next entry; a worker killed with `kill -9` at any moment of its busy loop
//! gives its permit back.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod support;

use std::time::Duration;
#[cfg(unix)]
use support::Paths;
use support::{counter, spawn};
use testkit::{run, unique};

// Unix only: Windows has no stable file identity in std, so there a permit file re-created
// under the same name is not caught.
#[cfg(unix)]
#[test]
fn a_permit_file_replaced_while_in_use_stops_everyone() {
    let name = unique("perm-swap");
    let p = Paths::new(&name).unwrap();
    run(counter(&["init", &name, "--permits", "2"])).success();
    let w = spawn(&["enter", &name, "--stay", "1ms", "--times", "1000000"]);
    w.wait_for_stdout("enters with permit");
    // The worker runs, its permit files open; now permit 1's file is deleted and
    // re-created under it. Whoever opened it next would lock the new file, apart from the
    // running worker: the newcomer refuses, and the running worker stops at its next entry.
    std::fs::remove_file(p.permit(1)).unwrap();
    std::fs::write(p.permit(1), b"").unwrap();
    let tampering = "was replaced while in use (tampering?)";
    let permit_file = format!("permit file {}", p.permit(1).display());
    let late = run(counter(&["enter", &name, "--stay", "0s"]))
        .failure()
        .stderr_has(tampering)
        .stderr_has(&permit_file);
    assert_eq!(late.stderr.lines().count(), 1, "{}", late.stderr);
    let out = w
        .finish_within(Duration::from_secs(30))
        .failure()
        .stderr_has(tampering)
        .stderr_has(&permit_file);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    run(counter(&["show", &name]))
        .failure()
        .stderr_has(tampering);
    run(counter(&["clean", &name])).success();
}

#[test]
fn a_busy_worker_killed_at_any_moment_gives_its_permit_back() {
    let name = unique("perm-kill");
    run(counter(&["init", &name, "--permits", "1"])).success();
    // Both go in and out as fast as they can through the one permit, so the kill lands
    // wherever the first happens to be: holding the permit, inside, waiting, or between.
    let mut busy = spawn(&["enter", &name, "--stay", "0s", "--times", "100000000"]);
    busy.wait_for_stdout("enters with permit 0");
    let other = spawn(&["enter", &name, "--stay", "0s", "--times", "3000"]);
    other.wait_for_stdout("enters with permit 0");
    busy.kill();
    busy.finish();
    let out = other.finish_within(Duration::from_secs(60)).success();
    assert_eq!(out.count_stdout(" enters with permit 0"), 3000);
    // The permit is free again, for anyone.
    run(counter(&["enter", &name, "--stay", "0s"]))
        .success()
        .stdout_has("enters with permit 0");
    run(counter(&["clean", &name])).success();
}
