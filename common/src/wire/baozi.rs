//! `Frame::Baozi`, the item frame, laid out and read by hand: it is most of every stream,
//! and postcard's generic path cost more than the rest of an item's trip. Byte for byte as
//! postcard lays it out: the variant index (1, one byte), then `seq` and the payload's
//! length as varints, then the payload. `common/tests/properties.rs` compares the two on
//! every kind of value and on any bytes, and the fuzz target `frames` on what libFuzzer
//! finds. Every other frame goes through postcard.

use std::fmt;

/// `Frame::Baozi`'s variant index, postcard's tag for it (one byte: a varint under 128).
const BAOZI_TAG: u8 = 1;
/// The longest varint of a `u64`.
const VARINT_MAX: usize = 10;
/// The longest item frame head: length, tag, `seq`, payload length.
const HEAD_MAX: usize = 4 + 1 + 2 * VARINT_MAX;

/// A head's room: [`head`] lays one out at its start.
pub(super) type Head = [u8; HEAD_MAX];

/// Lays out in `head` the head of an item frame with `payload_len` bytes of payload (its
/// length prefix, tag, `seq` and payload length); returns how many bytes of it to send (the
/// payload follows). Written in place, not returned: no copy of the array per item.
#[inline]
pub(super) fn head(seq: u64, payload_len: usize, head: &mut Head) -> usize {
    head[4] = BAOZI_TAG;
    let mut n = 5;
    n += put_varint(seq, &mut head[n..]);
    n += put_varint(payload_len as u64, &mut head[n..]);
    // Over MAX_FRAME (which the caller refuses) this wraps; such a head is never sent.
    let len = (n - 4 + payload_len) as u32;
    head[..4].copy_from_slice(&len.to_le_bytes());
    n
}

/// Writes `v` as postcard's varint (7 bits a byte, lowest first) at the start of `out`;
/// returns how many bytes it took.
#[inline]
fn put_varint(mut v: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = v as u8 | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Reads a varint as postcard's `u64` does (the same non-canonical forms accepted, the same
/// overlong ones refused): the value and the rest of `bytes`.
#[inline]
fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    // One byte, the most common (every length under 128): no loop.
    let (&first, rest) = bytes.split_first()?;
    if first < 0x80 {
        return Some((u64::from(first), rest));
    }
    let mut out = u64::from(first & 0x7f);
    for i in 1..VARINT_MAX {
        let b = *bytes.get(i)?;
        out |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            // The tenth byte may carry only the top bit of a u64.
            return (i < VARINT_MAX - 1 || b <= 1).then(|| (out, &bytes[i + 1..]));
        }
    }
    None
}

/// The item in a frame's body, if it is one that postcard decodes to `Frame::Baozi`
/// (trailing bytes ignored, as `postcard::from_bytes` does). `None` for anything else,
/// which then goes to postcard for its frame or its error.
#[inline]
pub(super) fn decode(body: &[u8]) -> Option<(u64, &[u8])> {
    let (&BAOZI_TAG, rest) = body.split_first()? else {
        return None;
    };
    let (seq, rest) = take_varint(rest)?;
    let (len, rest) = take_varint(rest)?;
    let payload = rest.get(..usize::try_from(len).ok()?)?;
    Some((seq, payload))
}

/// An item as `-v` shows it, as `Frame`'s `Debug` does: `Baozi seq=3 (0 bytes)`.
pub(super) struct Trace(pub u64, pub usize);

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Baozi seq={} ({} bytes)", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item frames as postcard 1 lays them out (its length prefix included), at the
    /// varints' edges; `common/tests/properties.rs` compares with postcard itself.
    #[test]
    fn heads_are_the_bytes_on_the_wire() {
        let cases: [(u64, usize, &[u8]); 5] = [
            (0, 0, &[3, 0, 0, 0, 1, 0, 0]),
            (127, 0, &[3, 0, 0, 0, 1, 0x7f, 0]),
            (128, 1, &[5, 0, 0, 0, 1, 0x80, 0x01, 1]),
            (
                16_384,
                300,
                &[0x32, 1, 0, 0, 1, 0x80, 0x80, 0x01, 0xac, 0x02],
            ),
            (
                u64::MAX,
                0,
                &[
                    12, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,
                ],
            ),
        ];
        for (seq, len, want) in cases {
            let mut head = [0; HEAD_MAX];
            let n = super::head(seq, len, &mut head);
            assert_eq!(&head[..n], want, "seq {seq}, {len} bytes");
            let body = [&head[4..n], &vec![9; len][..]].concat();
            assert_eq!(decode(&body), Some((seq, &body[n - 4..])));
        }
    }

    #[test]
    fn overlong_and_short_varints_are_left_to_postcard() {
        // Eleven bytes, or a tenth byte over the top bit: postcard refuses both.
        assert_eq!(
            decode(&[
                1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0
            ]),
            None
        );
        assert_eq!(decode(&[[1].as_slice(), &[0xff; 11]].concat()), None);
        // Cut inside a varint or the payload.
        assert_eq!(decode(&[1, 0x80]), None);
        assert_eq!(decode(&[1, 0, 3, 1, 2]), None);
        // Non-canonical but accepted, as postcard does: 0 in two bytes.
        assert_eq!(decode(&[1, 0x80, 0x00, 0]), Some((0, &[][..])));
        // Trailing bytes ignored, as postcard::from_bytes does.
        assert_eq!(decode(&[1, 5, 1, 9, 9]), Some((5, &[9][..])));
    }
}
