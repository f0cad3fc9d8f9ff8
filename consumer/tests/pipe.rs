//! The pipe, end to end: real producer and consumer processes over every transport, and
//! every failure mode the issue lists. Each test uses its own socket names and ports.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use common::msg::stream::Frame;
use common::wire::{FrameWriter, Role};
use std::io::Write;
use std::process::{Command, Stdio};
use testkit::{Capture, Proc, cmd, expect_items, run, temp_dir, unique};

/// A consumer listening on `addr` (plus `extra` args), ready to accept.
fn listening_consumer(addr: &str, extra: &[&str]) -> (Proc, String) {
    let mut c = cmd("consumer");
    c.args(["-l", addr]).args(extra).stdin(Stdio::null());
    let p = Proc::spawn(c, Capture::Both);
    let actual = p.wait_ready();
    (p, actual)
}

fn producer(args: &[&str]) -> Command {
    let mut c = cmd("producer");
    c.args(args).stdin(Stdio::null());
    c
}

#[test]
fn shell_pipeline_stdio_to_stdio() {
    let mut p = cmd("producer");
    p.args(["stdio", "-n", "10"]).stdout(Stdio::piped());
    let mut p = Proc::spawn(p, Capture::Stderr);
    let pipe = p.child().stdout.take().unwrap();
    let mut c = cmd("consumer");
    c.args(["stdio", "--expect", "10"]).stdin(pipe);
    let c = Proc::spawn(c, Capture::Both);
    // Without --name, each is named after its process id.
    let (cn, pn) = (format!("c{}", c.pid()), format!("p{}", p.pid()));
    let c = c.finish().success();
    p.finish().success();
    expect_items(&c.stdout, &cn, &pn, 10);
    assert!(
        c.stderr.contains(&format!("{cn}: 10 items")),
        "{}",
        c.stderr
    );
}

/// Our stdio pipes get a 1 MiB kernel buffer (the two ends then run side by side instead
/// of taking turns every 64 KiB): the producer grows the pipe it writes into, the consumer
/// the one it reads from.
#[cfg(target_os = "linux")]
#[test]
fn stdio_pipes_are_grown_to_a_mebibyte() {
    use rustix::pipe::fcntl_getpipe_size;
    let produce_one = |into: std::io::PipeWriter| {
        let status = producer(&["stdio", "-n", "1"])
            .stdout(into)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    };
    let (r, w) = std::io::pipe().unwrap();
    assert!(fcntl_getpipe_size(&r).unwrap() < 1 << 20);
    produce_one(w);
    assert_eq!(fcntl_getpipe_size(&r).unwrap(), 1 << 20, "the producer's");
    drop(r);

    let (r, w) = std::io::pipe().unwrap();
    let mut c = cmd("consumer");
    c.args(["stdio", "-q"]).stdin(r);
    let c = Proc::spawn(c, Capture::Both);
    // The consumer grows it before it reads: write nothing until it has (a retried check).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fcntl_getpipe_size(&w).unwrap() < 1 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the consumer's pipe stayed small"
        );
        std::thread::yield_now(); // polling
    }
    produce_one(w);
    c.finish().success();
}

#[test]
fn parent_feeds_its_spawned_child() {
    let out = run(producer(&[
        "--spawn-consumer",
        "-n",
        "7",
        "--name",
        "mum",
        "--",
        "--name",
        "kid",
        "--expect",
        "7",
    ]))
    .success();
    expect_items(&out.stdout, "kid", "mum", 7);
    out.stderr_has("kid: 7 items")
        .stderr_has("mum: sent 7 baozi");
}

#[test]
fn spawned_child_failure_fails_the_parent() {
    run(producer(&[
        "--spawn-consumer",
        "-n",
        "3",
        "--",
        "--expect",
        "4",
    ]))
    .failure()
    .stderr_has("expected 4 items, 3 arrived")
    .stderr_has("spawned consumer failed");
}

#[test]
fn start_order_does_not_matter() {
    let name = format!("local:{}", unique("pipe-order"));
    let p = Proc::spawn(
        producer(&[&name, "-n", "4", "--wait", "60s"]),
        Capture::Both,
    );
    p.wait_for_stderr("waiting for");
    let (c, _) = listening_consumer(&name, &["--expect", "4"]);
    p.finish().success();
    c.finish().success();
}

#[test]
fn several_producers_into_one_consumer() {
    let name = format!("local:{}", unique("pipe-many"));
    let (c, _) = listening_consumer(&name, &["--producers", "3", "--expect", "300"]);
    // Without --name, each producer is named after its process id, so their lines differ.
    let ps: Vec<_> = (0..3)
        .map(|_| Proc::spawn(producer(&[&name, "-n", "100"]), Capture::Both))
        .collect();
    let names: Vec<String> = ps.iter().map(|p| format!("p{}", p.pid())).collect();
    for p in ps {
        p.finish().success();
    }
    let me = format!("c{}", c.pid());
    let c = c.finish().success();
    for n in &names {
        expect_items(&c.stdout, &me, n, 100);
    }
}

#[test]
fn expect_mismatch_fails() {
    let name = format!("local:{}", unique("pipe-expect"));
    let (c, _) = listening_consumer(&name, &["--expect", "11"]);
    run(producer(&[&name, "-n", "10"])).success();
    c.finish()
        .failure()
        .stderr_has("expected 11 items, 10 arrived");
}

#[cfg(windows)]
#[test]
fn unix_addresses_are_refused_on_windows() {
    let out = run(cmd_consumer(&["-l", "unix:C:/x.sock"])).code(2);
    assert!(
        out.stderr.contains("Unix-only") && out.stderr.contains("local:NAME"),
        "{}",
        out.stderr
    );
}

fn cmd_consumer(args: &[&str]) -> Command {
    let mut c = cmd("consumer");
    c.args(args);
    c
}

#[test]
fn a_live_local_name_is_not_stolen() {
    let name = format!("local:{}", unique("pipe-inuse"));
    let (c, _) = listening_consumer(&name, &["--expect", "1"]);
    run(cmd_consumer(&["-l", &name]))
        .failure()
        .stderr_has("address in use");
    run(producer(&[&name, "-n", "1"])).success();
    c.finish().success();
}

// ---- failure modes ----

#[test]
fn producer_killed_mid_stream() {
    let name = format!("local:{}", unique("pipe-killed"));
    let (c, _) = listening_consumer(&name, &[]);
    let mut p = Proc::spawn(
        producer(&[&name, "-n", "1000", "--interval", "20ms", "--name", "p1"]),
        Capture::Both,
    );
    c.wait_for_stdout("ate baozi 3 ");
    p.kill();
    c.finish()
        .failure()
        .stderr_has("without an end frame: the producer stopped before its end")
        .stdout_has("ate baozi 3 from p1");
}

/// Feeds `bytes` to `consumer stdio` and returns the result.
fn consumer_fed(bytes: &[u8]) -> testkit::Finished {
    let mut c = cmd("consumer");
    c.arg("stdio").stdin(Stdio::piped());
    let mut c = Proc::spawn(c, Capture::Both);
    let mut stdin = c.child().stdin.take().unwrap();
    let _ = stdin.write_all(bytes); // it may stop reading early, and that is fine
    drop(stdin);
    c.finish()
}

/// A producer's stream as bytes: the producer's greeting, then `frames`.
fn stream_of<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = FrameWriter::new(&mut out);
    w.write_greeting(Role::Producer).unwrap();
    for f in frames {
        w.send(f).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    out
}

/// A producer's stream as bytes: greeting, `Hello` from "forger", then `frames`.
fn crafted(frames: &[Frame]) -> Vec<u8> {
    let hello = Frame::Hello {
        name: "forger".into(),
        pid: 1,
    };
    stream_of(std::iter::once(&hello).chain(frames))
}

fn bun(seq: u64) -> Frame {
    Frame::Baozi {
        seq,
        payload: Vec::new(),
    }
}

#[test]
fn end_count_differs_from_items_received() {
    let bytes = crafted(&[bun(0), bun(1), bun(2), Frame::End { count: 5 }]);
    consumer_fed(&bytes)
        .failure()
        .stderr_has("end frame says 5 items were sent, but 3 arrived");
}

#[test]
fn a_missing_item_is_noticed() {
    let bytes = crafted(&[bun(0), bun(2), Frame::End { count: 2 }]);
    consumer_fed(&bytes)
        .failure()
        .stderr_has("baozi 2 from forger arrived where 1 was expected");
}

#[test]
fn random_bytes_are_not_a_peer() {
    let noise: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let out = consumer_fed(&noise)
        .failure()
        .stderr_has("not a baozi-ipc peer");
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "one error line (no stream began, so no summary):\n{}",
        out.stderr
    );
}

#[test]
fn a_huge_length_prefix_is_refused() {
    let mut bytes = crafted(&[bun(0)]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[0; 64]);
    consumer_fed(&bytes)
        .failure()
        .stderr_has("claims 4294967295 bytes");
}

#[test]
fn a_stream_cut_mid_frame_is_reported_with_its_count() {
    let mut bytes = crafted(&[bun(0), bun(1)]);
    bytes.extend_from_slice(&1000u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3]);
    consumer_fed(&bytes)
        .failure()
        .stderr_has("cut inside a frame after 2 items")
        .stdout_has("ate baozi 1 from forger");
}

#[test]
fn a_stranger_on_tcp_is_not_a_peer() {
    // A server that is not ours: it greets in HTTP, as a web server would answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    run(producer(&[&format!("tcp:127.0.0.1:{port}")]))
        .failure()
        .stderr_has("not a baozi-ipc peer");
    server.join().unwrap();
}

#[test]
fn consumer_gone_from_a_closed_pipe() {
    // producer stdio | head -c 10
    let mut p = cmd("producer");
    p.args(["stdio", "-n", "10000000"]).stdout(Stdio::piped());
    let mut p = Proc::spawn(p, Capture::Stderr);
    let mut out = p.child().stdout.take().unwrap();
    let mut ten = [0u8; 10];
    std::io::Read::read_exact(&mut out, &mut ten).unwrap();
    drop(out);
    p.finish().failure().stderr_has("consumer went away after");
}

#[test]
fn consumer_killed_mid_stream_over_a_socket() {
    let name = format!("local:{}", unique("pipe-ckill"));
    let (mut c, _) = listening_consumer(&name, &[]);
    let p = Proc::spawn(
        producer(&[&name, "-n", "100000", "--interval", "10ms"]),
        Capture::Both,
    );
    c.wait_for_stdout("ate baozi 2 ");
    c.kill();
    p.finish().failure().stderr_has("consumer went away after");
}

#[test]
fn nothing_to_connect_to() {
    let name = format!("local:{}", unique("pipe-none"));
    run(producer(&[&name, "--wait", "300ms"]))
        .failure()
        .stderr_has(&format!("nothing is listening at {name}"))
        .stderr_has("with -l")
        .stderr_has("waiting for");
}

#[test]
fn bad_addresses_get_one_line_listing_the_forms() {
    let out = run(producer(&["tcp:nowhere"])).code(2);
    assert!(
        out.stderr.contains("accepted forms: stdio, local:NAME"),
        "{}",
        out.stderr
    );
    run(cmd_consumer(&["-l", "stdio"]))
        .failure()
        .stderr_has("nothing to listen on (drop -l)");
}

#[test]
fn udp_is_refused_for_a_stream_in_one_line() {
    for out in [
        run(producer(&["udp:127.0.0.1:9"])),
        run(cmd_consumer(&["-l", "udp:127.0.0.1:0"])),
    ] {
        let out = out
            .code(1)
            .stderr_has("cannot use udp:127.0.0.1:")
            .stderr_has("udp carries datagrams; this needs a stream (tcp:, local:, shm:, unix:)");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
}

#[test]
fn a_producer_name_that_would_drive_the_terminal_is_refused() {
    let out = stream_of(&[
        Frame::Hello {
            name: "p1\nc1 ate baozi 99 from \u{1b}[2Jnobody".into(),
            pid: 1,
        },
        Frame::End { count: 0 },
    ]);
    let c = consumer_fed(&out)
        .failure()
        .stderr_has("the producer's name is refused: a name has no control characters");
    assert!(!c.stdout.contains(" ate "), "{}", c.stdout);
    assert!(!c.stderr.contains('\u{1b}'), "{}", c.stderr);
}

#[test]
fn a_hostile_consumers_huge_frame_is_quoted_by_kind_not_contents() {
    // A "consumer" that greets properly, then answers the stream with a 4 MiB item.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fake = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut w = FrameWriter::new(s.try_clone().unwrap());
        w.write_greeting(Role::Consumer).unwrap();
        w.send(&Frame::Baozi {
            seq: 0,
            payload: vec![b'A'; 4 << 20],
        })
        .unwrap();
        w.flush().unwrap();
        let _ = std::io::copy(&mut &s, &mut std::io::sink()); // until the producer leaves
    });
    let out = run(producer(&[&format!("tcp:127.0.0.1:{port}"), "-n", "3"]))
        .failure()
        .stderr_has("it sent a Baozi frame");
    fake.join().unwrap();
    assert!(
        out.stderr.len() < 1000,
        "{} bytes of stderr",
        out.stderr.len()
    );
}

#[test]
fn a_consumer_whose_output_readers_die_still_takes_the_whole_stream() {
    // `consumer 2>&1 | head -1`: stdout and stderr both go to a reader that leaves at once.
    let (rd, wr) = std::io::pipe().unwrap();
    drop(rd);
    let mut c = cmd("consumer");
    c.args(["-l", "tcp:127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(wr.try_clone().unwrap())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut err, &mut ready).unwrap();
    drop(err); // now its stderr is closed too
    let addr = ready.trim().strip_prefix("ready: ").unwrap().to_owned();
    run(producer(&[&addr, "-n", "1000"]))
        .success()
        .stderr_has("sent 1000 baozi to the consumer");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// The help says how a bare number and a size are read, and they are read so.
#[test]
fn sizes_count_in_powers_of_1024_and_the_help_says_so() {
    run(producer(&["--help"]))
        .success()
        .stdout_has("A bare number is seconds")
        .stdout_has("1MB is 1MiB");
    for megabyte in ["1MB", "1MiB", "1M"] {
        let out = producer(&["-n", "1", "--payload", megabyte, "stdio"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{megabyte}: {out:?}");
        // One item of 1,048,576 bytes, plus the greeting and the framing.
        let n = out.stdout.len();
        assert!(
            (1 << 20..(1 << 20) + 128).contains(&n),
            "{megabyte}: {n} bytes"
        );
    }
}

#[test]
fn an_absurd_wait_is_a_usage_error_not_a_panic() {
    run(producer(&["--wait", "10000000000000000000"]))
        .code(2)
        .stderr_has("longer than 100 years");
}

#[test]
fn a_port_scan_does_not_end_a_listening_consumer_or_producer() {
    // `nc -z`: connect, say nothing, leave.
    let (c, addr) = listening_consumer("tcp:127.0.0.1:0", &["--expect", "2"]);
    let hostport = addr.strip_prefix("tcp:").unwrap();
    drop(std::net::TcpStream::connect(hostport).unwrap());
    // The scan is greeted on a thread of its own: wait for it to be seen, or the real peer
    // may finish the run before the listener gets to say it ignored the scan.
    c.wait_for_stderr("ignored a connection");
    run(producer(&[&addr, "-n", "2"])).success();
    c.finish().success();

    let mut p = producer(&["-l", "tcp:127.0.0.1:0", "-n", "2"]);
    p.stdin(Stdio::null());
    let p = Proc::spawn(p, Capture::Both);
    let addr = p.wait_ready();
    drop(std::net::TcpStream::connect(addr.strip_prefix("tcp:").unwrap()).unwrap());
    p.wait_for_stderr("ignored a connection");
    run(cmd_consumer(&[&addr, "--expect", "2"])).success();
    p.finish().success();
}

#[test]
fn every_program_writes_its_man_page_and_completions() {
    let tmp = temp_dir("generate");
    let dir = tmp.join("pages"); // made by --generate
    for program in [
        "producer", "consumer", "broker", "server", "client", "counter",
    ] {
        for (kind, file) in [
            ("man", format!("{program}.1")),
            ("bash", format!("{program}.bash")),
            ("zsh", format!("_{program}")),
            ("fish", format!("{program}.fish")),
        ] {
            let mut c = cmd(program);
            c.args(["--generate", kind]).arg(&dir);
            run(c).success().stderr_has(&file);
            let text = std::fs::read_to_string(dir.join(&file)).unwrap();
            assert!(text.contains(program), "{file}");
        }
        let page = std::fs::read_to_string(dir.join(format!("{program}.1"))).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{program}.1"
        );
    }
    let mut c = cmd("producer");
    c.args(["--generate", "nroff"]).arg(&dir);
    run(c).code(1).stderr_has("unknown kind 'nroff'");
}

#[test]
fn no_progress_count_when_stderr_is_not_a_terminal() {
    // Long enough (over 300 ms in a debug build) that a terminal would show the count.
    let mut p = cmd("producer");
    p.args(["stdio", "-n", "200000", "--payload", "1KiB"])
        .stdout(Stdio::piped());
    let mut p = Proc::spawn(p, Capture::Stderr);
    let pipe = p.child().stdout.take().unwrap();
    let mut c = cmd("consumer");
    c.args(["stdio", "-q", "--expect", "200000"]).stdin(pipe);
    let c = Proc::spawn(c, Capture::Both).finish().success();
    let p = p.finish().success();
    assert!(
        !c.stderr.contains('\r') && !p.stderr.contains('\r'),
        "{}{}",
        c.stderr,
        p.stderr
    );
}

#[test]
fn verbose_traces_what_crosses_the_wire_and_quiet_is_the_default() {
    let mut p = cmd("producer");
    p.args(["-v", "stdio", "-n", "2"]).stdout(Stdio::piped());
    let mut p = Proc::spawn(p, Capture::Stderr);
    let pipe = p.child().stdout.take().unwrap();
    let mut c = cmd("consumer");
    c.args(["-v", "stdio"]).stdin(pipe);
    let c = Proc::spawn(c, Capture::Both).finish().success();
    let p = p.finish().success();
    p.stderr_has("* connected to stdio")
        .stderr_has("> Baozi seq=1 (0 bytes)")
        .stderr_has("> End count=2");
    c.stderr_has("< Hello name=")
        .stderr_has("< Baozi seq=1 (0 bytes)")
        .stderr_has("< End count=2");
    let quiet = run(producer(&["stdio", "-n", "2"])).success();
    assert!(!quiet.stderr.contains("> "), "{}", quiet.stderr);
}

// ---- Unix only ----

/// Tests that cannot run on Windows, whatever they check: `unix:PATH` sockets (Windows
/// refuses them: `unix_addresses_are_refused_on_windows`), Ctrl-C and other signals sent
/// with `kill` (on Windows, scripts/test-windows.sh checks Ctrl-C from the Linux side), and
/// util-linux `script`, which gives a program a terminal.
#[cfg(unix)]
mod unix_only {
    use super::*;

    #[test]
    fn unix_socket_file_is_created_and_removed() {
        let dir = temp_dir("pipe-unix");
        let path = dir.join("s.sock");
        let addr = format!("unix:{}", path.display());
        let (c, _) = listening_consumer(&addr, &["--expect", "3"]);
        assert!(path.exists());
        run(producer(&[&addr, "-n", "3"])).success();
        c.finish().success();
        assert!(!path.exists(), "the consumer left its socket file behind");
    }

    #[test]
    fn unix_stale_socket_is_reclaimed_but_a_live_one_is_not_stolen() {
        let dir = temp_dir("pipe-stale");
        let path = dir.join("s.sock");
        let addr = format!("unix:{}", path.display());

        // A live listener: ours must refuse, and leave it alone.
        let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        run(cmd_consumer(&["-l", &addr]))
            .failure()
            .stderr_has("address in use");
        assert!(path.exists());

        // The same file with nobody behind it (as a killed process leaves it): reclaimed.
        drop(live);
        assert!(path.exists());
        let (c, _) = listening_consumer(&addr, &["--expect", "2"]);
        run(producer(&[&addr, "-n", "2"])).success();
        c.finish().success();
        assert!(!path.exists());

        // Not a socket at all: never deleted.
        std::fs::write(&path, "precious").unwrap();
        run(cmd_consumer(&["-l", &addr]))
            .failure()
            .stderr_has("not a socket");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
    }

    #[test]
    fn a_second_listener_probing_a_live_path_does_not_end_the_first() {
        let dir = temp_dir("pipe-probe");
        let addr = format!("unix:{}", dir.join("s.sock").display());
        let (c, _) = listening_consumer(&addr, &["--expect", "3", "--name", "c1"]);
        // Its liveness probe connects to the first consumer, then goes.
        run(cmd_consumer(&["-l", &addr]))
            .failure()
            .stderr_has("address in use");
        run(producer(&[&addr, "-n", "3"])).success();
        c.finish()
            .success()
            .stderr_has("ignored a connection")
            .stderr_has("c1: 3 items");
    }

    #[test]
    fn producer_interrupted_mid_stream_is_not_called_dead() {
        let name = format!("local:{}", unique("pipe-ctrlc"));
        let (c, _) = listening_consumer(&name, &[]);
        let p = Proc::spawn(
            producer(&[&name, "-n", "1000", "--interval", "20ms"]),
            Capture::Both,
        );
        c.wait_for_stdout("ate baozi 0 ");
        p.interrupt();
        p.finish().code(130);
        let c = c
            .finish()
            .failure()
            .stderr_has("(interrupted, killed or cut off)");
        assert!(!c.stderr.contains("die"), "{}", c.stderr);
    }

    #[test]
    fn ctrl_c_on_waiting_programs_exits_130_promptly() {
        let name = format!("local:{}", unique("pipe-sigint"));
        let (c, _) = listening_consumer(&name, &[]);
        c.interrupt();
        c.finish_within(std::time::Duration::from_secs(2))
            .code(130)
            .stderr_has("interrupted");

        let other = format!("local:{}", unique("pipe-sigint2"));
        let p = Proc::spawn(producer(&[&other, "--wait", "60s"]), Capture::Both);
        p.wait_for_stderr("waiting for");
        p.interrupt();
        p.finish_within(std::time::Duration::from_secs(2)).code(130);
    }

    #[test]
    fn ctrl_c_removes_the_socket_file() {
        let dir = temp_dir("pipe-sigint-unix");
        let path = dir.join("s.sock");
        let (c, _) = listening_consumer(&format!("unix:{}", path.display()), &[]);
        assert!(path.exists());
        c.interrupt();
        c.finish_within(std::time::Duration::from_secs(2)).code(130);
        assert!(!path.exists(), "Ctrl-C left the socket file behind");
    }

    #[test]
    fn keep_listening_serves_producers_until_ctrl_c() {
        let name = format!("local:{}", unique("pipe-keep"));
        let (c, _) = listening_consumer(&name, &["-k", "--name", "c1"]);
        // One after another, then two at once.
        run(producer(&[&name, "-n", "3", "--name", "a"])).success();
        c.wait_for_stderr("3 items from");
        run(producer(&[&name, "-n", "2", "--name", "b"])).success();
        let both: Vec<_> = ["x", "y"]
            .iter()
            .map(|n| Proc::spawn(producer(&[&name, "-n", "4", "--name", n]), Capture::Both))
            .collect();
        for p in both {
            p.finish().success();
        }
        c.wait_for_stderr("4 items from");
        c.wait_for_stderr("4 items from");
        c.interrupt();
        let c = c.finish().code(130);
        for (n, count) in [("a", 3), ("b", 2), ("x", 4), ("y", 4)] {
            expect_items(&c.stdout, "c1", n, count);
        }
        c.stderr_has("interrupted after eating 13 items");
        run(cmd_consumer(&["-k", &name])).code(2);
    }

    /// With `-q`, Ctrl-C's count is every route's items: those that ended and those still
    /// eating (each route counts on its own, summed for the line).
    #[test]
    fn quiet_ctrl_c_counts_the_items_of_every_route() {
        let name = format!("local:{}", unique("pipe-keepq"));
        let (c, _) = listening_consumer(&name, &["-k", "-q", "--name", "c1"]);
        run(producer(&[&name, "-n", "50", "--name", "a"])).success();
        c.wait_for_stderr("50 items from");
        // One still eating (paced) when Ctrl-C comes: its first item sent half a second
        // before (a bound, not a synchronisation: the count may hold more of its items).
        let slow = Proc::spawn(
            producer(&[&name, "-n", "100", "--delay", "100ms", "--name", "s"]),
            Capture::Both,
        );
        slow.wait_for_stderr("made baozi 5");
        c.interrupt();
        let c = c.finish().code(130);
        let said = c
            .stderr
            .split("interrupted after eating ")
            .nth(1)
            .unwrap_or("");
        let n: u64 = said.split(' ').next().unwrap_or("").parse().unwrap_or(0);
        assert!((51..150).contains(&n), "{}", c.stderr);
        drop(slow);
    }

    #[test]
    fn frames_are_never_written_to_or_read_from_a_terminal() {
        for (bin, says) in [
            ("producer", "stdout is a terminal"),
            ("consumer", "stdin is a terminal"),
        ] {
            let line = format!("{} stdio", testkit::bin(bin).display());
            let mut c = Command::new("script");
            c.args(["-qec", &line, "/dev/null"]);
            let out = run(c).failure();
            assert!(out.stdout.contains(says), "{}", out.stdout);
        }
    }

    /// Other users on the same machine, and socket file modes: Linux, where `setpriv`
    /// (util-linux) runs a program as another user, made with `useradd` (so root is
    /// needed; else each test says why it skips), and where a socket file's mode is what
    /// decides who may connect.
    #[cfg(target_os = "linux")]
    mod linux_only {
        use super::*;

        /// `name` (a workspace binary) run as another user, from a copy every user may execute;
        /// `None` (with the reason printed) where this test process cannot be another user.
        fn as_user(name: &str, args: &[&str]) -> Option<Command> {
            let mut c = testkit::as_other_user()?;
            c.arg(testkit::for_everyone(name)).args(args);
            Some(c)
        }

        #[test]
        fn another_users_producer_is_not_let_into_a_listening_consumer() {
            let name = format!("local:{}", unique("pipe-users"));
            let Some(stranger) = as_user("producer", &[&name, "-n", "5", "--wait", "0"]) else {
                return;
            };
            let (c, _) = listening_consumer(&name, &["--expect", "2", "--name", "c1"]);
            run(stranger).failure();
            c.wait_for_stderr("refused a connection from a process of another user (uid");
            run(producer(&[&name, "-n", "2"])).success();
            c.finish().success().stderr_has("c1: 2 items");
        }

        #[test]
        fn a_name_taken_first_by_another_user_gets_no_stream() {
            let name = format!("local:{}", unique("pipe-squat"));
            let Some(squatter) = as_user("consumer", &["-l", &name, "--any-user"]) else {
                return;
            };
            let mut squatter = Proc::spawn(squatter, Capture::Both);
            squatter.wait_ready();
            run(producer(&[&name, "-n", "3"]))
                .failure()
                .stderr_has("runs as another user (uid")
                .stderr_has("--any-user allows");
            squatter.kill();
            let squatter = squatter.finish();
            assert!(!squatter.stdout.contains(" ate "), "{}", squatter.stdout);
        }

        #[test]
        fn unix_socket_files_get_their_mode_whatever_the_umask() {
            use std::os::unix::fs::PermissionsExt;
            let dir = temp_dir("pipe-mode");
            for (extra, mode) in [(None, 0o600), (Some("--any-user"), 0o666)] {
                let path = dir.join("s.sock");
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("umask 000; exec \"$@\"")
                    .arg("sh")
                    .arg(testkit::bin("consumer"))
                    .args(["-l", &format!("unix:{}", path.display())])
                    .args(extra)
                    .stdin(Stdio::null());
                let mut p = Proc::spawn(c, Capture::Both);
                p.wait_ready();
                let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(got, mode, "{extra:?}: mode {got:o}");
                p.kill();
                drop(p.finish());
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
