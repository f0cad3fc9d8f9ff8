//! The wire format's test vectors (`common/tests/vectors/*.bin`, shown in `docs/wire.md`):
//! each file holds the exact bytes of one greeting or one frame, which `common::wire` must
//! write for the value named here and read back as that value. So the page, the files and
//! the code cannot drift apart; `python/tests/test_wire.py` checks the Python client
//! against the same files. `BAOZI_WRITE_VECTORS=1 cargo test -p common --test vectors`
//! rewrites the files after a deliberate change of the format (bump `wire::VERSION`).
#![allow(clippy::unwrap_used)] // tests: a panic is a failed test

use common::msg::Role;
use common::msg::queue::{Admission, Delivery, DeliveryRef, Reply, Request, Status};
use common::msg::stream::Frame;
use common::wire::{FrameReader, FrameWriter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::io::Cursor;
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(format!("{name}.bin"))
}

/// Compares `bytes` with the file (or writes it, with `BAOZI_WRITE_VECTORS=1`).
#[track_caller]
fn check_file(name: &str, bytes: &[u8]) {
    let p = path(name);
    if std::env::var_os("BAOZI_WRITE_VECTORS").is_some() {
        std::fs::write(&p, bytes).unwrap();
    }
    let want = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert_eq!(
        bytes,
        &want[..],
        "{name}: the code writes {bytes:02x?}, the vector holds {want:02x?}"
    );
}

/// One frame: written as the vector's bytes, and the vector read back as the value.
#[track_caller]
fn frame<M: Serialize + DeserializeOwned + Debug + PartialEq>(name: &str, value: &M) {
    let mut bytes = Vec::new();
    {
        let mut w = FrameWriter::new(&mut bytes);
        w.send(value).unwrap();
        w.flush().unwrap();
    }
    check_file(name, &bytes);
    let mut r = FrameReader::new(Cursor::new(std::fs::read(path(name)).unwrap()));
    assert_eq!(r.next_frame::<M>().unwrap().as_ref(), Some(value), "{name}");
    assert!(r.next_frame::<M>().unwrap().is_none(), "{name}: one frame");
}

#[test]
fn greetings() {
    for (name, role) in [
        ("greeting-producer", Role::Producer),
        ("greeting-consumer", Role::Consumer),
        ("greeting-broker", Role::Broker),
        ("greeting-observer", Role::Observer),
    ] {
        let mut bytes = Vec::new();
        {
            let mut w = FrameWriter::new(&mut bytes);
            w.write_greeting(role).unwrap();
            w.flush().unwrap();
        }
        check_file(name, &bytes);
        let mut r = FrameReader::new(Cursor::new(bytes));
        assert_eq!(r.read_greeting(&[role]).unwrap(), role);
    }
}

#[test]
fn a_producers_stream() {
    frame(
        "stream-hello",
        &Frame::Hello {
            name: "p1".into(),
            pid: 4242,
        },
    );
    frame(
        "stream-baozi-0",
        &Frame::Baozi {
            seq: 0,
            payload: vec![],
        },
    );
    frame(
        "stream-baozi-300",
        &Frame::Baozi {
            seq: 300,
            payload: b"pork".to_vec(),
        },
    );
    frame("stream-end", &Frame::End { count: 10 });
    frame("stream-receipt", &Frame::Receipt { received: 10 });
}

#[test]
fn the_queue() {
    frame(
        "queue-hello",
        &Request::Hello {
            name: "c1".into(),
            pid: 4243,
        },
    );
    frame("queue-take-first", &Request::Take { ack: 0, want: 128 });
    frame("queue-take", &Request::Take { ack: 2, want: 1 });
    frame("queue-ack", &Request::Ack { ack: 5 });
    frame("queue-leave", &Request::Leave { ack: 5 });
    frame("queue-lease", &Request::Lease { millis: 30_000 });
    frame("queue-welcome", &Admission::Welcome { capacity: 10_000 });
    frame("queue-refused", &Admission::Refused { why: "busy".into() });
    frame(
        "queue-cut-short",
        &Reply::<Delivery>::CutShort {
            eaten: 20,
            cut: vec!["p2".into()],
        },
    );
    let delivery = |tag, seq, attempt| Delivery {
        tag,
        producer: "p1".into(),
        pid: 4242,
        seq,
        attempt,
        payload: vec![],
    };
    let items = vec![delivery(1, 0, 1), delivery(2, 7, 2)];
    frame("queue-items", &Reply::Items(items.clone()));
    // A consumer reads the same bytes lent: the same fields.
    let mut r = FrameReader::new(Cursor::new(std::fs::read(path("queue-items")).unwrap()));
    let lent = r.next_frame_lent::<Reply<DeliveryRef<'_>>>().unwrap();
    let owned = lent.map(Reply::into_owned);
    assert_eq!(owned, Some(Reply::Items(items)), "queue-items, lent");
    frame("queue-idle", &Reply::<Delivery>::Idle);
    frame("queue-end", &Reply::<Delivery>::End { eaten: 20 });
    frame("queue-stopping", &Reply::<Delivery>::Stopping);
    frame(
        "queue-status",
        &Status {
            queued: 3,
            capacity: 10_000,
            leased: 2,
            received: 12,
            acknowledged: 7,
            redelivered: 0,
            dead: 0,
            producers: 2,
            producers_ended: 0,
            producers_expected: 2,
            consumers: 2,
            producers_cut: 1,
        },
    );
}

/// The Python client (`python/baozi_ipc.py`) against the same files.
// Unix-only here: python3 is the Linux machine's program, which a test running under wine cannot start.
#[cfg(unix)]
#[test]
fn the_python_client_reads_and_writes_the_same_bytes() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../python/tests/test_wire.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("python3 (Debian: python3) is needed: {e}"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {said}", script.display());
    assert!(said.contains("Ran 5 tests"), "{said}");
}
