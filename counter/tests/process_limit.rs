//! `counter` under a process limit (`ulimit -u`, a container's pids limit): a thread or a
//! worker that cannot be started is one line and a failure, never a panic.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

#[cfg(target_os = "linux")]
use std::process::{Command, Stdio};
#[cfg(target_os = "linux")]
use testkit::{Capture, Proc};

/// `counter run` under every small process limit: workers that cannot start their
/// threads, and workers that cannot be started, each end in one line and exit 1, never in
/// a panic (exit 101).
#[cfg(target_os = "linux")]
#[test]
fn counter_under_a_process_limit_fails_in_lines_not_panics() {
    let me = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        eprintln!("skipped: a process limit binds only other users than root; not root");
        return;
    }
    // A user id no other test uses at the same time (RLIMIT_NPROC counts a user's tasks).
    let uid = 260_000 + std::process::id() % 50_000;
    for limit in 1..=12 {
        let name = testkit::unique("nproc");
        let mut c = Command::new("prlimit");
        c.arg(format!("--nproc={limit}:"));
        // setpriv execs the program itself, as that user, keeping the limit.
        c.args([
            "setpriv",
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
        ])
        .arg(testkit::bin("counter"))
        .args(["run", "--workers", "4", "--name", &name])
        .stdin(Stdio::null());
        let out = Proc::spawn(c, Capture::Both).finish();
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(!text.contains("panicked"), "limit {limit}: {text}");
        assert_ne!(out.status.code(), Some(101), "limit {limit}: {text}");
        if !out.status.success() {
            assert!(text.contains("error"), "limit {limit}: {text}");
        }
    }
}
