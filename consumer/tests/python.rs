//! The pipe from Python: our producer into `python/baozi_ipc.py` listening as a consumer,
//! and its producer into our `consumer -l`, over tcp:, unix: and local: (an abstract
//! socket on Linux): the same greeting, frames, end and receipt as between ours.
// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::path::PathBuf;
use std::process::{Command, Stdio};
use testkit::{Capture, Proc, spawn_with as spawn, unique};

/// `python3 python/examples/SCRIPT ARGS`, with the module on its path.
fn python(script: &str, args: &[&str]) -> Proc {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python");
    let mut c = Command::new("python3");
    c.arg(dir.join("examples").join(script))
        .args(args)
        .env("PYTHONPATH", &dir)
        .stdin(Stdio::null());
    Proc::spawn(c, Capture::Both)
}

/// One address of each kind this machine has, each unused.
fn addresses(tag: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&dir).unwrap();
    let mut all = vec![
        "tcp:127.0.0.1:0".to_owned(),
        format!("unix:{}", dir.join("c.sock").display()),
    ];
    if cfg!(target_os = "linux") {
        all.push(format!("local:{}", unique(tag)));
    }
    all
}

#[test]
fn our_producer_into_a_python_consumer() {
    for addr in addresses("py-pipe-in") {
        let theirs = python("consume.py", &[&addr, "pyc", "--listen"]);
        let at = theirs.wait_ready();
        let p = spawn(
            "producer",
            &[&at, "-n", "25", "--name", "p1", "--payload", "300"],
        );
        p.finish()
            .success()
            .stderr_has("p1: sent 25 baozi to the consumer at ");
        let got = theirs.finish().success();
        let want: String = (0..25)
            .map(|i| format!("pyc received baozi {i} from p1\n"))
            .collect();
        assert_eq!(got.stdout, want, "{addr}");
    }
}

#[test]
fn a_python_producer_into_our_consumer() {
    for addr in addresses("py-pipe-out") {
        let c = spawn("consumer", &["-l", &addr, "--expect", "25", "--name", "c1"]);
        let at = c.wait_ready();
        let theirs = python("produce.py", &[&at, "25", "py1"]);
        let sent = theirs.finish().success();
        assert_eq!(
            sent.stdout, "py1: sent 25, the other side took 25\n",
            "{addr}"
        );
        let got = c.finish().success();
        let want: String = (0..25)
            .map(|i| {
                let size = format!("baozi {i}").len(); // produce.py's payload
                format!("c1 ate baozi {i} from py1 ({size} bytes)\n")
            })
            .collect();
        assert_eq!(got.stdout, want, "{addr}");
    }
}
