//! What the launchers (`run`, `semaphore`) and the workers share: starting workers as
//! separate processes of this same binary, waiting for them, and worker output.
//!
//! A worker stops when its launcher is gone, however it went: its stdin is a pipe from the
//! launcher that the launcher never writes to, so it closes when the launcher dies (Ctrl-C,
//! `kill -9`); on Unix the worker also notices that its parent is no longer the launcher,
//! whoever might hold the pipe open. Workers stop quietly: the launcher speaks for them.
//! On Ctrl-C the launcher closes the pipes itself and waits for its workers before it
//! prints its one line and exits, so nothing prints after it.

use common::cli::Result;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a launcher interrupted by Ctrl-C waits for its workers before it exits anyway.
const STOP_PATIENCE: Duration = Duration::from_secs(10);

/// How long a launcher whose workers ended by Ctrl-C waits for its own Ctrl-C handler.
const HANDLER_PATIENCE: Duration = Duration::from_secs(2);

/// What the Ctrl-C handler and the launcher's main thread share.
struct Launch {
    /// The write ends of the workers' stdin pipes: dropping them stops the workers.
    stdins: Vec<ChildStdin>,
    /// Ctrl-C came: start no more workers, print nothing more.
    stopping: bool,
    /// Workers were started and are not all reaped yet.
    running: bool,
}

static LAUNCH: Mutex<Launch> = Mutex::new(Launch {
    stdins: Vec::new(),
    stopping: false,
    running: false,
});
static REAPED: Condvar = Condvar::new();

fn launch() -> MutexGuard<'static, Launch> {
    LAUNCH.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The launcher's last words on Ctrl-C (run before `shutdown` prints its one line and
/// removes the segment): stop the workers and wait until they are all reaped.
fn stop_workers() {
    let deadline = Instant::now() + STOP_PATIENCE;
    let mut l = launch();
    l.stopping = true;
    l.stdins.clear();
    REAPED.notify_all();
    while l.running {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        l = REAPED
            .wait_timeout(l, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Starts `n` workers with `args`, says so, and waits for them all: the failures, and the
/// seconds from their start to the last one's end. (Both launchers, `run` and
/// `semaphore`.)
pub fn run_workers(n: u64, args: &[String]) -> Result<(Vec<String>, f64)> {
    let started = Instant::now();
    let workers = Workers::spawn(n, args)?;
    ipc::elog!(
        "counter: {} started",
        ipc::units::count_as(n, "worker", "workers")
    );
    let failed = workers.wait();
    Ok((failed, started.elapsed().as_secs_f64()))
}

/// Running worker processes.
pub struct Workers {
    children: Vec<Child>,
}

impl Workers {
    /// Starts `n` workers: this program with `args` (a subcommand and its options).
    pub fn spawn(n: u64, args: &[String]) -> Result<Workers> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start workers: {e}"))?;
        ipc::shutdown::on_interrupt(stop_workers);
        let mut workers = Workers {
            children: Vec::new(),
        };
        for _ in 0..n {
            // Under the lock: Ctrl-C either comes before (and nothing more starts) or
            // after (and it closes this worker's pipe too).
            let mut l = launch();
            if l.stopping {
                break;
            }
            let spawned = Command::new(&exe)
                .args(args)
                .arg("--launcher")
                .arg(std::process::id().to_string())
                .stdin(Stdio::piped())
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    l.stdins.clear();
                    drop(l);
                    workers.wait();
                    return Err(format!("cannot start a worker ({}): {e}", exe.display()).into());
                }
            };
            l.running = true;
            if let Some(stdin) = child.stdin.take() {
                l.stdins.push(stdin);
            }
            workers.children.push(child);
        }
        Ok(workers)
    }

    /// Waits for every worker; returns a line for each one that failed. After Ctrl-C it
    /// does not return: the handler, told that every worker is reaped, ends the process.
    pub fn wait(mut self) -> Vec<String> {
        let mut failed = Vec::new();
        let mut interrupted = false;
        for child in &mut self.children {
            match child.wait() {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    interrupted |= by_ctrl_c(status);
                    failed.push(format!("worker pid {} failed ({status})", child.id()));
                }
                Err(e) => failed.push(format!("cannot wait for worker pid {}: {e}", child.id())),
            }
        }
        let mut l = launch();
        l.running = false;
        l.stdins.clear();
        REAPED.notify_all();
        // Ctrl-C in a terminal reaches the workers and us at once, and they may all be
        // gone before our handler thread runs: give it the word rather than a summary.
        let deadline = Instant::now() + HANDLER_PATIENCE;
        while interrupted && !l.stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            l = REAPED
                .wait_timeout(l, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if l.stopping {
            drop(l);
            loop {
                std::thread::park();
            }
        }
        failed
    }
}

/// Whether a worker ended because of Ctrl-C: exit code 130 from its handler, or killed by
/// Ctrl-C before the handler was installed.
fn by_ctrl_c(status: ExitStatus) -> bool {
    status.code() == Some(ipc::shutdown::INTERRUPTED.into()) || killed_by_ctrl_c(status)
}

#[cfg(unix)]
fn killed_by_ctrl_c(status: ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(2) // SIGINT
}

#[cfg(windows)]
fn killed_by_ctrl_c(status: ExitStatus) -> bool {
    status.code() == Some(0xC000_013A_u32 as i32) // STATUS_CONTROL_C_EXIT
}

/// For `--launcher PID`: ends this process, quietly, when the launcher is gone. A worker
/// that cannot start its watching threads (a process limit) must not work unwatched: it
/// says so in one line and ends with 1, before it touches the segment.
pub fn exit_when_launcher_dies(launcher: u32) {
    // (Its Ctrl-C is quiet too: see `main`.) Nothing is printed on the way out: a line to a pipe that nobody reads any more
    // could block, and keep this worker alive.
    let stdin_closes = std::thread::Builder::new().spawn(|| {
        let mut buf = [0; 64];
        let mut stdin = std::io::stdin().lock();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        std::process::exit(1);
    });
    #[cfg(unix)]
    let parent_changes = stdin_closes.and_then(|_| {
        std::thread::Builder::new().spawn(move || {
            loop {
                if std::os::unix::process::parent_id() != launcher {
                    std::process::exit(1);
                }
                std::thread::sleep(Duration::from_millis(50)); // poll: no event for a parent's death
            }
        })
    });
    #[cfg(not(unix))]
    let parent_changes = {
        let _ = launcher;
        stdin_closes
    };
    if let Err(e) = parent_changes {
        ipc::elog!(
            "counter: error: worker (pid {}): cannot start a thread to watch the launcher: {e}",
            std::process::id()
        );
        std::process::exit(1);
    }
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
pub fn duration_arg(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// Per second, for summaries.
pub fn rate(n: u64, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}
