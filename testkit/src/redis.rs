//! A `redis-server` of a test's own, for the queue on Redis Streams: a free loopback port, a
//! temporary folder, no persistence unless asked; and a few words of RESP to look inside it.
//! Every wait is for the server's answer, never a fixed sleep.
//!
//! `redis-server` must be installed (`scripts/test.sh` installs Debian's): without it a test
//! fails, unless `BAOZI_NO_REDIS` is set to say that Redis is absent by design; then
//! [`Redis::start`] says why and returns `None`.

use crate::{PATIENCE, TempDir, temp_dir};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of this test's own; killed, and its folder removed, on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    /// The options it was started with, to start it again the same way.
    extra: Vec<String>,
    /// Its working folder, removed after it (fields drop after `drop`).
    dir: TempDir,
}

impl Redis {
    /// Starts one without persistence, or returns `None` (after saying why) where Redis is
    /// absent by design.
    pub fn start() -> Option<Redis> {
        Redis::start_with(&[])
    }

    /// Starts one with `extra` options (`--requirepass`, `--appendonly yes`, ...).
    pub fn start_with(extra: &[&str]) -> Option<Redis> {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("BAOZI_NO_REDIS").is_some(),
                "redis-server is not installed: scripts/test.sh installs Debian's redis-server \
                 (or set BAOZI_NO_REDIS=1 to skip the Redis tests on purpose)"
            );
            eprintln!("skipped: redis-server is not installed and BAOZI_NO_REDIS is set");
            return None;
        }
        let dir = temp_dir("baozi-redis");
        // A port the system just gave out; if someone takes it first, try another.
        for _ in 0..5 {
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let mut child = spawn(port, &dir, extra);
            let deadline = Instant::now() + PATIENCE;
            loop {
                // Any answer will do: one that wants a password answers too (-NOAUTH).
                if first_line(port, &["PING"]).is_some() {
                    let extra = extra.iter().map(ToString::to_string).collect();
                    return Some(Redis {
                        child,
                        port,
                        extra,
                        dir,
                    });
                }
                if child.try_wait().unwrap().is_some() {
                    break; // it could not bind: another port
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server never answered PING"
                );
                std::thread::sleep(Duration::from_millis(10)); // retrying PING
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// The `redis://` address of queue `queue` on this server.
    pub fn addr(&self, queue: &str) -> String {
        format!("redis://127.0.0.1:{}/{queue}", self.port)
    }

    /// Its working folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The first line of one command's reply (`:3`, `+OK`, `$5`...).
    pub fn command(&self, args: &[&str]) -> String {
        first_line(self.port, args).unwrap()
    }

    /// One command's whole reply.
    pub fn ask(&self, args: &[&str]) -> Resp {
        query(self.port, args).unwrap()
    }

    /// A reply that is a number (an integer, or a bulk string of digits; none is 0).
    pub fn number(&self, args: &[&str]) -> i64 {
        match self.ask(args) {
            Resp::Int(n) => n,
            Resp::Bulk(Some(b)) => String::from_utf8(b).unwrap().parse().unwrap(),
            Resp::Bulk(None) => 0,
            other => panic!("{args:?} answered {other:?}"),
        }
    }

    /// The text of `INFO section`.
    pub fn info(&self, section: &str) -> String {
        match query(self.port, &["INFO", section]) {
            Some(Resp::Bulk(Some(b))) => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        }
    }

    /// Waits until `n` clients are blocked in a read (consumers waiting for entries).
    pub fn wait_for_blocked(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        let want = format!("blocked_clients:{n}");
        while !self.info("clients").contains(&want) {
            assert!(Instant::now() < deadline, "{n} consumers never came");
            std::thread::sleep(Duration::from_millis(10)); // polling the server
        }
    }

    /// Kills the server (`kill -9`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server (`kill -9`) and starts it again on the same port, in the same
    /// folder, with the same options (with `--appendonly yes` it reloads what it had);
    /// returns once it answers PING with PONG (no longer loading).
    pub fn restart(&mut self) {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.child = spawn(self.port, &self.dir, &extra);
        let deadline = Instant::now() + PATIENCE;
        loop {
            match first_line(self.port, &["PING"]) {
                Some(line) if line == "+PONG" || line.starts_with("-NOAUTH") => return,
                _ => {}
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "redis-server did not start again on port {}: {status}",
                    self.port
                );
            }
            assert!(Instant::now() < deadline, "redis-server never came back");
            std::thread::sleep(Duration::from_millis(5)); // retrying PING
        }
    }
}

/// Starts `redis-server` on `port` in `dir`: no persistence, loopback, then `extra`.
fn spawn(port: u16, dir: &Path, extra: &[&str]) -> Child {
    Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .args(["--port", &port.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reply in RESP (version 2).
#[derive(Debug)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

/// One command's whole reply, or `None` where the server cannot be reached.
pub fn query(port: u16, args: &[&str]) -> Option<Resp> {
    let mut r = send(port, args)?;
    Some(read_reply(&mut r))
}

/// The first line of one command's reply, or `None` where the server cannot be reached.
pub fn first_line(port: u16, args: &[&str]) -> Option<String> {
    let mut r = send(port, args)?;
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    Some(line.trim_end().to_owned())
}

fn send(port: u16, args: &[&str]) -> Option<BufReader<TcpStream>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req += &format!("${}\r\n{a}\r\n", a.len());
    }
    s.write_all(req.as_bytes()).ok()?;
    Some(BufReader::new(s))
}

fn read_reply(r: &mut impl BufRead) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end();
    let (kind, rest) = line.split_at(1);
    match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(rest.parse().unwrap()),
        "$" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return Resp::Bulk(None);
            }
            let mut b = vec![0; usize::try_from(n).unwrap() + 2];
            r.read_exact(&mut b).unwrap();
            b.truncate(b.len() - 2);
            Resp::Bulk(Some(b))
        }
        "*" => {
            let n: i64 = rest.parse().unwrap();
            Resp::Array((0..n.max(0)).map(|_| read_reply(r)).collect())
        }
        other => panic!("not a RESP reply: {other}{rest}"),
    }
}
