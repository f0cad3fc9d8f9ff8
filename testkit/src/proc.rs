//! Starting the real binaries, reading their output line by line, waiting for a line, and
//! checking how they ended. A failed check shows every process the test started, not only
//! the one it was about.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use crate::PATIENCE;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Path of a workspace binary, e.g. `bin("producer")`.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/test-hash  ->  target/<profile>/NAME
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A command for a workspace binary.
pub fn cmd(name: &str) -> Command {
    Command::new(bin(name))
}

/// A command for a workspace binary with `args`, its stdin closed.
pub fn cmd_with(name: &str, args: &[&str]) -> Command {
    let mut c = cmd(name);
    c.args(args).stdin(Stdio::null());
    c
}

/// [`cmd_with`], started with both outputs captured.
pub fn spawn_with(name: &str, args: &[&str]) -> Proc {
    Proc::spawn(cmd_with(name, args), Capture::Both)
}

/// Runs `cmd` with no stdin to completion.
#[track_caller]
pub fn run(mut cmd: Command) -> Finished {
    cmd.stdin(Stdio::null());
    Proc::spawn(cmd, Capture::Both).finish()
}

/// Which of a child's output streams [`Proc`] takes over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// stdout and stderr.
    Both,
    /// stderr only; stdout was set up by the caller (e.g. piped into another process).
    Stderr,
}

/// One output stream of a child: every line so far, and new lines as they come.
struct Stream {
    all: Arc<Mutex<String>>,
    lines: Receiver<String>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Stream {
    fn new(pipe: impl Read + Send + 'static) -> Stream {
        let all = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = channel();
        let sink = Arc::clone(&all);
        let reader = thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            while r.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let line = String::from_utf8_lossy(&buf).into_owned();
                sink.lock().unwrap().push_str(&line);
                let _ = tx.send(line.trim_end().to_owned());
                buf.clear();
            }
        });
        Stream {
            all,
            lines,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        self.all.lock().unwrap().clone()
    }
}

/// A running child process under test.
pub struct Proc {
    label: String,
    /// Its number among the processes this thread started ([`others`]).
    id: u64,
    child: Child,
    out: Option<Stream>,
    err: Stream,
}

/// A finished child: its status and everything it printed.
pub struct Finished {
    pub label: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    id: u64,
}

// ---- every process of the test, for the dump of a failed check ----

/// What a test thread has started: a test is one thread, so a failed check can show the
/// output of the test's other processes too (the producer, when the consumer's check
/// fails). Kept until the thread ends, with the test.
struct Started {
    id: u64,
    label: String,
    out: Option<Arc<Mutex<String>>>,
    err: Arc<Mutex<String>>,
}

thread_local! {
    static STARTED: RefCell<Vec<Started>> = const { RefCell::new(Vec::new()) };
}

/// How many lines of each of the other processes' outputs a dump shows (their last ones).
const OTHERS_LINES: usize = 40;

/// The output of every process this test started except `id`, the last lines of each.
fn others(id: u64) -> String {
    let tail = |text: &str| {
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(OTHERS_LINES);
        let mut s = String::new();
        if skip > 0 {
            let _ = writeln!(s, "[{skip} earlier lines]");
        }
        for l in &lines[skip..] {
            let _ = writeln!(s, "{l}");
        }
        s
    };
    STARTED.with_borrow(|all| {
        let mut s = String::new();
        for p in all.iter().filter(|p| p.id != id) {
            let _ = write!(s, "\n=== also started by this test: {}\n", p.label);
            if let Some(out) = &p.out {
                let _ = write!(s, "--- stdout\n{}", tail(&out.lock().unwrap()));
            }
            let _ = write!(s, "--- stderr\n{}---", tail(&p.err.lock().unwrap()));
        }
        s
    })
}

impl Proc {
    /// Starts `cmd` with its stderr (and with [`Capture::Both`] its stdout) captured.
    pub fn spawn(mut cmd: Command, capture: Capture) -> Proc {
        static N: AtomicU64 = AtomicU64::new(0);
        let label = format!("{cmd:?}");
        cmd.stderr(Stdio::piped());
        if capture == Capture::Both {
            cmd.stdout(Stdio::piped());
        }
        let mut child = spawn(&mut cmd).unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let err = Stream::new(child.stderr.take().unwrap());
        let out = (capture == Capture::Both).then(|| Stream::new(child.stdout.take().unwrap()));
        let id = N.fetch_add(1, Ordering::Relaxed);
        STARTED.with_borrow_mut(|all| {
            all.push(Started {
                id,
                label: label.clone(),
                out: out.as_ref().map(|s| Arc::clone(&s.all)),
                err: Arc::clone(&err.all),
            });
        });
        Proc {
            label,
            id,
            child,
            out,
            err,
        }
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stderr line that contains `needle` and returns it.
    #[track_caller]
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        self.wait_for(&self.err, needle, "stderr", PATIENCE)
    }

    /// Waits for a stderr line that contains `needle`, longer or shorter than [`PATIENCE`].
    #[track_caller]
    pub fn wait_for_stderr_within(&self, needle: &str, limit: Duration) -> String {
        self.wait_for(&self.err, needle, "stderr", limit)
    }

    /// Waits for a stdout line that contains `needle` and returns it.
    #[track_caller]
    pub fn wait_for_stdout(&self, needle: &str) -> String {
        self.wait_for(self.out.as_ref().unwrap(), needle, "stdout", PATIENCE)
    }

    /// Waits for the ready line and returns the address it names.
    #[track_caller]
    pub fn wait_ready(&self) -> String {
        let line = self.wait_for_stderr("ready: ");
        line.split_once("ready: ").unwrap().1.trim().to_owned()
    }

    #[track_caller]
    fn wait_for(&self, s: &Stream, needle: &str, which: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            match s
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {which} line with {needle:?} in time\n{}",
                        self.label,
                        self.dump()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "{}: {which} closed before a line with {needle:?}\n{}",
                        self.label,
                        self.dump()
                    )
                }
            }
        }
    }

    fn dump(&self) -> String {
        format!(
            "--- stdout\n{}--- stderr\n{}---{}",
            self.out.as_ref().map(Stream::text).unwrap_or_default(),
            self.err.text(),
            others(self.id)
        )
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    #[cfg(unix)]
    pub fn interrupt(&self) {
        self.signal("INT");
    }

    /// Sends a signal by name (`TERM`, `HUP`, ...), as `kill -NAME PID` does.
    #[cfg(unix)]
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Kills the child (SIGKILL on Unix, TerminateProcess on Windows).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the child to exit (at most [`PATIENCE`]) and collects its output.
    #[track_caller]
    pub fn finish(self) -> Finished {
        self.finish_within(PATIENCE)
    }

    /// Like [`Proc::finish`] with a tighter bound, for "exits promptly" checks.
    #[track_caller]
    pub fn finish_within(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: still running after {limit:?}\n{}",
                    self.label,
                    self.dump()
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        // Its output ends when every process holding the pipes has gone: a child of the
        // child (a worker) may hold them a little longer, or (seen under wine) for ever.
        // Wait for the rest of the output at most until the deadline, then take what came.
        for s in self.out.iter_mut().chain([&mut self.err]) {
            if let Some(r) = s.reader.take() {
                while !r.is_finished() && Instant::now() < deadline + PATIENCE {
                    thread::sleep(Duration::from_millis(5));
                }
                if r.is_finished() {
                    r.join().unwrap();
                }
            }
        }
        Finished {
            label: std::mem::take(&mut self.label),
            status,
            stdout: self.out.as_ref().map(Stream::text).unwrap_or_default(),
            stderr: self.err.text(),
            id: self.id,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `cmd`. Under wine, CreateProcess failed once in a full run on a loaded machine
/// with ERROR_INTERNAL_ERROR (1359: the new process ended before its start-up was done, a
/// wine condition, not ours): exactly that error is tried again, twice at most, and said so;
/// any other error is not.
fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    for retry in 1..=2 {
        match cmd.spawn() {
            Err(e) if cfg!(windows) && e.raw_os_error() == Some(1359) => {
                eprintln!("testkit: starting {cmd:?} failed ({e}); retry {retry} of 2");
                // A pause before trying again, not a wait for readiness.
                thread::sleep(Duration::from_millis(200));
            }
            started => return started,
        }
    }
    cmd.spawn()
}

impl Finished {
    fn dump(&self) -> String {
        format!(
            "{}\nstatus: {}\n--- stdout\n{}--- stderr\n{}---{}",
            self.label,
            self.status,
            self.stdout,
            self.stderr,
            others(self.id)
        )
    }

    /// Exit code 0, and no panic.
    #[track_caller]
    pub fn success(self) -> Self {
        assert!(self.status.success(), "expected success\n{}", self.dump());
        self.no_panic()
    }

    /// Exactly this exit code, and no panic.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "wrong exit code\n{}",
            self.dump()
        );
        self.no_panic()
    }

    /// A non-zero exit code (not a signal), and no panic.
    #[track_caller]
    pub fn failure(self) -> Self {
        assert!(
            matches!(self.status.code(), Some(c) if c != 0),
            "expected a non-zero exit\n{}",
            self.dump()
        );
        self.no_panic()
    }

    #[track_caller]
    fn no_panic(self) -> Self {
        assert!(
            !self.stderr.contains("panicked"),
            "it panicked\n{}",
            self.dump()
        );
        self
    }

    /// stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// stdout contains `needle`.
    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// The stdout lines that contain `needle`.
    pub fn count_stdout(&self, needle: &str) -> usize {
        self.stdout.lines().filter(|l| l.contains(needle)).count()
    }
}
