//! The framing's unit tests: what a reader accepts and refuses, byte by byte.

use super::*;
use crate::msg::stream::Frame;
use std::io::{Cursor, Read};

fn bun(seq: u64, payload: usize) -> Frame {
    Frame::Baozi {
        seq,
        payload: vec![0xab; payload],
    }
}

fn stream(frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = FrameWriter::new(&mut out);
        w.write_greeting(Role::Producer).unwrap();
        for f in frames {
            w.send(f).unwrap();
        }
        w.flush().unwrap();
    }
    out
}

#[test]
fn round_trips_through_a_cursor() {
    let frames = vec![
        Frame::Hello {
            name: "p1".into(),
            pid: 7,
        },
        bun(0, 0),
        bun(1, 100_000),
        Frame::End { count: 2 },
    ];
    let bytes = stream(&frames);
    let mut r = FrameReader::new(Cursor::new(bytes));
    assert_eq!(r.read_greeting(&[Role::Producer]).unwrap(), Role::Producer);
    for f in &frames {
        assert_eq!(r.next_frame::<Frame>().unwrap().as_ref(), Some(f));
    }
    assert!(r.next_frame::<Frame>().unwrap().is_none());
}

#[test]
fn refuses_strangers_wrong_roles_and_versions() {
    let mut r = FrameReader::new(Cursor::new(b"HTTP/1.1 400 Bad Request\r\n".to_vec()));
    let e = r.read_greeting(&[Role::Producer]).unwrap_err().to_string();
    assert!(e.starts_with("not a baozi-ipc peer"), "{e}");

    let mut r = FrameReader::new(Cursor::new(Vec::new()));
    let e = r.read_greeting(&[Role::Producer]).unwrap_err().to_string();
    assert_eq!(e, "the stream was cut before anything arrived");

    let bytes = stream(&[]);
    let e = FrameReader::new(Cursor::new(bytes.clone()))
        .read_greeting(&[Role::Consumer, Role::Broker])
        .unwrap_err();
    assert!(matches!(e, WireError::WrongRole { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "the peer is a producer, but a consumer or a broker was expected"
    );

    let mut v1 = bytes;
    v1[8] = 1;
    let e = FrameReader::new(Cursor::new(v1))
        .read_greeting(&[Role::Producer])
        .unwrap_err();
    assert!(matches!(e, WireError::Version { peer: 1 }), "{e}");
}

#[test]
fn huge_length_is_refused_without_allocating() {
    let mut bytes = stream(&[]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut r = FrameReader::new(Cursor::new(bytes));
    r.read_greeting(&[Role::Producer]).unwrap();
    assert!(matches!(
        r.next_frame::<Frame>(),
        Err(WireError::TooLarge { .. })
    ));
}

#[test]
fn a_cut_anywhere_but_between_frames_is_an_error() {
    let full = stream(&[bun(0, 10), Frame::End { count: 1 }]);
    for cut in GREETING_LEN..full.len() {
        let mut r = FrameReader::new(Cursor::new(full[..cut].to_vec()));
        r.read_greeting(&[Role::Producer]).unwrap();
        let mut result = Ok(Some(bun(0, 0)));
        while let Ok(Some(_)) = result {
            result = r.next_frame::<Frame>();
        }
        // The End frame is 6 bytes: a 4-byte length, a variant tag and a one-byte count.
        let boundary = cut == GREETING_LEN || cut == full.len() - 6;
        assert_eq!(result.is_ok(), boundary, "cut at {cut}: {result:?}");
    }
}

#[test]
fn buffered_means_the_next_frame_is_here_whole() {
    let bytes = stream(&[bun(0, 10), bun(1, 10)]);
    let mut r = FrameReader::new(Cursor::new(bytes[..bytes.len() - 1].to_vec()));
    r.read_greeting(&[Role::Producer]).unwrap();
    assert!(r.has_buffered());
    assert!(matches!(
        r.next_stream(),
        Ok(Some(StreamFrame::Baozi { seq: 0, .. }))
    ));
    assert!(!r.has_buffered(), "one byte of the next frame is missing");
}

#[test]
fn a_claimed_but_missing_body_allocates_only_what_arrived() {
    let mut bytes = stream(&[]);
    bytes.extend_from_slice(&(MAX_FRAME as u32).to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3]);
    let mut r = FrameReader::new(Cursor::new(bytes));
    r.read_greeting(&[Role::Producer]).unwrap();
    assert!(matches!(
        r.next_frame::<Frame>(),
        Err(WireError::Cut { .. })
    ));
    assert!(r.body.capacity() < 1 << 16, "{}", r.body.capacity());
}

/// A reader that keeps the size of every buffer it is asked to fill.
struct Asked<R> {
    inner: R,
    asked: Vec<usize>,
}

impl<R: Read> Read for Asked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.asked.push(buf.len());
        self.inner.read(buf)
    }
}

#[test]
fn large_items_skip_the_buffers_on_both_sides() {
    let payload = vec![7u8; BUF_SIZE];
    let mut out = Vec::new();
    let mut w = FrameWriter::new(&mut out);
    w.write_greeting(Role::Producer).unwrap();
    for seq in 0..4 {
        w.send_baozi(seq, &payload).unwrap();
    }
    w.send_baozi(4, b"small").unwrap();
    w.send_baozi(5, &payload).unwrap();
    w.flush().unwrap();
    assert_eq!(w.inner.capacity(), BUF_SIZE, "the buffer never grew");
    drop(w);

    let mut r = FrameReader::new(Asked {
        inner: Cursor::new(out),
        asked: Vec::new(),
    });
    r.read_greeting(&[Role::Producer]).unwrap();
    for seq in 0..6 {
        match r.next_stream().unwrap() {
            Some(StreamFrame::Baozi { seq: s, payload: p }) => {
                assert_eq!((s, p.len()), (seq, if seq == 4 { 5 } else { BUF_SIZE }));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(r.next_stream().unwrap().is_none());
    // The greeting and the first item's start fill the buffer; after that first large
    // item, each one is a 4-byte length and its body read straight from the stream.
    let asked = &r.inner.get_ref().asked;
    let fills = asked.iter().filter(|&&n| n == BUF_SIZE).count();
    assert!(fills <= 3, "the buffer was filled {fills} times: {asked:?}");
    assert!(asked.iter().filter(|&&n| n == 4).count() >= 3, "{asked:?}");
}
