//! The transport conformance suite: the two stream conversations, the pipe (producer and
//! consumer) and the echo (server and client), over every row of the one table of stream
//! addresses (`testkit::stream_addresses`: local, unix where there is one, tcp over IPv4
//! and IPv6 where there is a loopback). A new transport is one more row there, and is then
//! checked here, on Linux and under wine, with nothing copied.
//!
//! It lives in `consumer`, next to the pipe's own tests (`pipe.rs`), because the pipe is the
//! stream every transport must carry both ways (items one way, the receipt back); the echo
//! needs only the binaries, which every test finds in the build folder. What is particular
//! to one transport (socket files, names in use, other users) stays in `pipe.rs` and
//! `client/tests/socket.rs`.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::io::Write;
use std::process::Stdio;
use testkit::{Capture, Proc, cmd, cmd_with, expect_items, run, spawn_with, stream_addresses};

/// The pipe with the consumer listening: every item arrives, in its own line, the
/// consumer's summary counts the payload, and the producer gets the receipt. Without
/// `--name` the consumer is named after its process id.
#[test]
fn the_pipe_with_the_consumer_listening_over_every_address() {
    for row in stream_addresses("tr-pipe-c") {
        let c = spawn_with("consumer", &["-l", &row.listen, "--expect", "100"]);
        let addr = c.wait_ready();
        row.check_ready(&addr);
        run(cmd_with(
            "producer",
            &[&addr, "-n", "100", "--payload", "1KiB", "--name", "chef"],
        ))
        .success()
        .stderr_has("sent 100 baozi to the consumer at ");
        let me = format!("c{}", c.pid());
        let c = c
            .finish()
            .success()
            .stderr_has(&format!("{me}: 100 items"))
            .stderr_has("100.0 KiB of payload");
        expect_items(&c.stdout, &me, "chef", 100);
        if let Some(path) = row.socket_file() {
            assert!(!path.exists(), "{row}: the consumer left its socket file");
        }
    }
}

/// The pipe the other way round: the producer listens (`-l`), the consumer connects.
/// Without `--name` the producer is named after its process id.
#[test]
fn the_pipe_with_the_producer_listening_over_every_address() {
    for row in stream_addresses("tr-pipe-p") {
        let p = spawn_with("producer", &["-l", &row.listen, "-n", "50"]);
        let addr = p.wait_ready();
        row.check_ready(&addr);
        let c = run(cmd_with(
            "consumer",
            &[&addr, "--expect", "50", "--name", "c1"],
        ))
        .success()
        .stderr_has("c1: 50 items");
        expect_items(&c.stdout, "c1", &format!("p{}", p.pid()), 50);
        p.finish()
            .success()
            .stderr_has("sent 50 baozi to the consumer at ");
    }
}

/// The echo: one server on every address at once (and on `udp:`, the one datagram
/// address, which the table of streams lacks), each answering a message with its reply,
/// and a whole input byte for byte, line endings and bytes that are not UTF-8 included.
#[test]
fn the_echo_over_every_address() {
    let rows = stream_addresses("tr-echo");
    let mut addrs: Vec<&str> = rows.iter().map(|r| r.listen.as_str()).collect();
    addrs.push("udp:127.0.0.1:0");
    let mut c = cmd("server");
    c.args(&addrs).stdin(Stdio::null());
    let srv = Proc::spawn(c, Capture::Both);
    let ready: Vec<String> = addrs.iter().map(|_| srv.wait_ready()).collect();
    for (row, addr) in rows.iter().zip(&ready) {
        row.check_ready(addr);
    }
    let udp = ready.last().unwrap();
    assert!(
        udp.starts_with("udp:127.0.0.1:") && !udp.ends_with(":0"),
        "{udp}"
    );
    for addr in &ready {
        let out = run(cmd_with(
            "client",
            &["--message", &format!("hello over {addr}"), addr],
        ))
        .success();
        assert_eq!(out.stdout, format!("test: hello over {addr}\n"));
    }

    let input: &[u8] = b"one\r\ntwo\n\n\xff\xfe not utf-8\nlast without newline";
    let want: &[u8] =
        b"test: one\r\ntest: two\ntest: \ntest: \xff\xfe not utf-8\ntest: last without newline";
    let dir = testkit::temp_dir("tr-echo-bytes");
    for (i, (row, addr)) in rows.iter().zip(&ready).enumerate() {
        // stdout to a file: the bytes exactly, not text.
        let out_path = dir.join(format!("out{i}"));
        let mut c = cmd("client");
        c.arg(addr)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stdin(Stdio::piped());
        let mut p = Proc::spawn(c, Capture::Stderr);
        let mut stdin = p.child().stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        p.finish().success();
        let got = std::fs::read(&out_path).unwrap();
        if row.kind == "local" && cfg!(windows) {
            // Named pipes have no half-close: the last line goes with a newline.
            assert_eq!(got, [want, b"\n"].concat(), "{row}");
        } else {
            assert_eq!(got, want, "{row}");
        }
    }
}
