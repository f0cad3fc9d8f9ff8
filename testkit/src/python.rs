//! python3 running this repository's Python beside the real binaries: the client module's
//! examples (`python/examples/`, with `python/` on `PYTHONPATH`), and the addresses that
//! module speaks. Unix only in the tests that use it: python3 is the Linux machine's
//! program, which a test running under wine cannot start.

use crate::addresses::{StreamAddress, stream_addresses};
use crate::proc::{Capture, Proc};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// This repository's `python/` folder.
pub fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python")
}

/// `python3 python/examples/SCRIPT ARGS`, with the module (`python/baozi_ipc.py`) on its
/// path and its stdin closed, both outputs captured.
pub fn python_example(script: &str, args: &[&str]) -> Proc {
    let dir = python_dir();
    let mut c = Command::new("python3");
    c.arg(dir.join("examples").join(script))
        .args(args)
        .env("PYTHONPATH", &dir)
        .stdin(Stdio::null());
    Proc::spawn(c, Capture::Both)
}

/// The rows of [`stream_addresses`] that `python/baozi_ipc.py` speaks, each fresh: `tcp:`
/// over IPv4, `unix:`, and `local:` on Linux only (there an abstract socket, which the
/// module names with a leading NUL; a named pipe on Windows, which it does not speak).
pub fn python_addresses(tag: &str) -> Vec<StreamAddress> {
    stream_addresses(tag)
        .into_iter()
        .filter(|a| match a.kind {
            "local" => cfg!(target_os = "linux"),
            kind => kind == "unix" || kind == "tcp v4",
        })
        .collect()
}
