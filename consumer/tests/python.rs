//! The pipe from Python: our producer into `python/baozi_ipc.py` listening as a consumer,
//! and its producer into our `consumer -l`, over tcp:, unix: and local: (an abstract
//! socket on Linux): the same greeting, frames, end and receipt as between ours.
// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use testkit::{python_addresses, python_example, spawn_with as spawn};

#[test]
fn our_producer_into_a_python_consumer() {
    for row in python_addresses("py-pipe-in") {
        let theirs = python_example("consume.py", &[&row.listen, "pyc", "--listen"]);
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
            .map(|i| format!("pyc ate baozi {i} from p1\n"))
            .collect();
        assert_eq!(got.stdout, want, "{row}");
    }
}

#[test]
fn a_python_producer_into_our_consumer() {
    for row in python_addresses("py-pipe-out") {
        let c = spawn(
            "consumer",
            &["-l", &row.listen, "--expect", "25", "--name", "c1"],
        );
        let at = c.wait_ready();
        let theirs = python_example("produce.py", &[&at, "25", "py1"]);
        let sent = theirs.finish().success();
        assert_eq!(
            sent.stdout, "py1: sent 25, the other side took 25\n",
            "{row}"
        );
        let got = c.finish().success();
        let want: String = (0..25)
            .map(|i| {
                let size = format!("baozi {i}").len(); // produce.py's payload
                format!("c1 ate baozi {i} from py1 ({size} bytes)\n")
            })
            .collect();
        assert_eq!(got.stdout, want, "{row}");
    }
}
