//! The frame decoder, on any bytes after a valid greeting: `next_frame` never panics and
//! never loops; a frame it accepts survives a round trip through `FrameWriter` and
//! `FrameReader` unchanged. The first byte picks the message type, so one corpus covers
//! every conversation: a producer's stream, the queue's requests and replies, the status.
#![no_main]

use common::msg::queue::{Reply, Request, Status};
use common::msg::stream::Frame;
use common::wire::{FrameReader, FrameWriter, Role};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 4 {
        0 => decode_all::<Frame>(rest),
        1 => decode_all::<Request>(rest),
        2 => decode_all::<Reply>(rest),
        _ => decode_all::<Status>(rest),
    }
});

fn decode_all<M: Serialize + DeserializeOwned + PartialEq + Debug>(body: &[u8]) {
    let mut input = Vec::with_capacity(body.len() + 11);
    {
        let mut w = FrameWriter::new(&mut input);
        w.write_greeting(Role::Producer).unwrap();
        w.flush().unwrap();
    }
    input.extend_from_slice(body);
    let mut r = FrameReader::new(Cursor::new(input));
    assert_eq!(r.read_greeting(&[Role::Producer]).unwrap(), Role::Producer);
    // Every frame takes at least its 4-byte length, so this ends.
    for _ in 0..=body.len() / 4 {
        match r.next_frame::<M>() {
            Ok(Some(m)) => round_trip(&m),
            Ok(None) => return,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    }
    panic!("more frames than 4-byte lengths in {} bytes", body.len());
}

fn round_trip<M: Serialize + DeserializeOwned + PartialEq + Debug>(m: &M) {
    let mut bytes = Vec::new();
    {
        let mut w = FrameWriter::new(&mut bytes);
        w.send(m).unwrap();
        w.flush().unwrap();
    }
    let mut r = FrameReader::new(Cursor::new(bytes));
    assert_eq!(r.next_frame::<M>().unwrap().as_ref(), Some(m));
    assert!(r.next_frame::<M>().unwrap().is_none());
}
