//! What the launchers (`run`, `semaphore`) and the workers share: starting workers as
//! separate processes of this same binary, waiting for them, and worker output.

use common::cli::Result;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Running worker processes. Each one's stdin is a pipe from us that we never write to:
/// when we die (Ctrl-C, kill -9), it closes, and the worker stops (`--watch-stdin`).
pub struct Workers {
    children: Vec<(Child, ChildStdin)>,
}

impl Workers {
    /// Starts `n` workers: this program with `args` (a subcommand and its options).
    pub fn spawn(n: u64, args: &[String]) -> Result<Workers> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start workers: {e}"))?;
        let mut children = Vec::new();
        for _ in 0..n {
            let mut child = Command::new(&exe)
                .args(args)
                .arg("--watch-stdin")
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start a worker ({}): {e}", exe.display()))?;
            let stdin = child
                .stdin
                .take()
                .ok_or("a worker started without its stdin pipe")?;
            children.push((child, stdin));
        }
        Ok(Workers { children })
    }

    /// Waits for every worker; returns a line for each one that failed.
    pub fn wait(mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for (child, _stdin) in &mut self.children {
            match child.wait() {
                Ok(status) if status.success() => {}
                Ok(status) => failed.push(format!("worker pid {} failed ({status})", child.id())),
                Err(e) => failed.push(format!("cannot wait for worker pid {}: {e}", child.id())),
            }
        }
        failed
    }
}

/// For `--watch-stdin`: a thread that ends this process when stdin closes.
pub fn exit_when_stdin_closes(label: String) {
    std::thread::spawn(move || {
        let mut buf = [0; 64];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        eprintln!("{label}: the launcher is gone; stopping");
        std::process::exit(1);
    });
}

/// Prints one line on stdout; if stdout is gone (`| head`), the work goes on quietly.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// How a worker names itself: its slot in the segment and its pid.
pub fn label(slot: usize) -> String {
    format!("worker {slot} (pid {})", std::process::id())
}

/// A duration as a worker's command line takes it back without rounding (to the
/// microsecond; `show_duration` would print 200us as 0.000s).
pub fn duration_arg(d: std::time::Duration) -> String {
    format!("{}us", d.as_micros())
}

/// Per second, for summaries.
pub fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}
