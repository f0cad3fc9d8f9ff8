//! The frame decoder, on any bytes after a valid greeting: `next_frame` never panics and
//! never loops; a frame it accepts survives a round trip through `FrameWriter` and
//! `FrameReader` unchanged. The first byte picks the message type, so one corpus covers
//! every conversation: a producer's stream, the queue's requests and replies, the status;
//! and a producer's stream read in place (`next_stream`, its items decoded by hand), which
//! must give the frames and the error that postcard's `next_frame::<Frame>` gives.
#![no_main]

use common::msg::queue::{DeliveryRef, Reply, Request, Status};
use common::msg::stream::Frame;
use common::wire::{FrameReader, FrameWriter, Role, StreamFrame};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::io::Cursor;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 5 {
        0 => decode_all::<Frame>(rest),
        1 => decode_all::<Request>(rest),
        2 => {
            decode_all::<Reply>(rest);
            replies_lent_as_owned(rest);
        }
        3 => decode_all::<Status>(rest),
        _ => in_place_as_postcard(rest),
    }
});

fn reader(body: &[u8]) -> FrameReader<Cursor<Vec<u8>>> {
    let mut input = Vec::with_capacity(body.len() + 11);
    {
        let mut w = FrameWriter::new(&mut input);
        w.write_greeting(Role::Producer).unwrap();
        w.flush().unwrap();
    }
    input.extend_from_slice(body);
    let mut r = FrameReader::new(Cursor::new(input));
    assert_eq!(r.read_greeting(&[Role::Producer]).unwrap(), Role::Producer);
    r
}

/// A consumer's lent reading of replies (`next_frame_lent`) and the owned one side by side
/// on the same bytes: the same replies, and the same error.
fn replies_lent_as_owned(body: &[u8]) {
    let (mut a, mut b) = (reader(body), reader(body));
    for _ in 0..=body.len() / 4 {
        let lent = a
            .next_frame_lent::<Reply<DeliveryRef<'_>>>()
            .map(|r| r.map(Reply::into_owned))
            .map_err(|e| e.to_string());
        let owned = b.next_frame::<Reply>().map_err(|e| e.to_string());
        assert_eq!(lent, owned);
        if !matches!(owned, Ok(Some(_))) {
            return;
        }
    }
    panic!("more frames than 4-byte lengths in {} bytes", body.len());
}

/// `next_stream` and `next_frame::<Frame>` side by side on the same bytes.
fn in_place_as_postcard(body: &[u8]) {
    let (mut a, mut b) = (reader(body), reader(body));
    for _ in 0..=body.len() / 4 {
        let by_hand = match a.next_stream() {
            Ok(Some(StreamFrame::Baozi { seq, payload })) => Ok(Some(Frame::Baozi {
                seq,
                payload: payload.to_vec(),
            })),
            // Postcard's way, also for an item encoded oddly (an overlong tag, found by this
            // target): the frames must still be the same.
            Ok(Some(StreamFrame::Other(f))) => Ok(Some(f)),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        let postcard = b.next_frame::<Frame>().map_err(|e| e.to_string());
        assert_eq!(by_hand, postcard);
        if !matches!(postcard, Ok(Some(_))) {
            return;
        }
    }
    panic!("more frames than 4-byte lengths in {} bytes", body.len());
}

fn decode_all<M: Serialize + DeserializeOwned + PartialEq + Debug>(body: &[u8]) {
    let mut r = reader(body);
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
