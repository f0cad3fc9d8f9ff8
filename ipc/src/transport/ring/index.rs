//! The arithmetic of one ring, with no memory and no atomics: plain functions of the two
//! byte counters, tested here by examples and by properties.
//!
//! A ring of `cap` bytes (a power of two) has two counters that only grow: `head`, the
//! bytes ever written (the producer's alone), and `tail`, the bytes ever read (the
//! consumer's alone). Byte number `n` lives at index `n & (cap - 1)`. `head - tail`
//! (wrapping) is what waits to be read: 0 is empty, `cap` is full, so no slot is wasted
//! to tell them apart. A `u64` counter does not wrap in any lifetime (2^64 bytes is 13
//! years at 40 GiB/s), but the arithmetic is wrapping all the same, and tested near
//! `u64::MAX`. The counters come from memory the peer can write: anything but
//! `head - tail <= cap` is [`Corrupt`], never an index out of bounds.

use std::ops::Range;

/// The counters read from the shared memory cannot be right: `head - tail` exceeds the
/// capacity (the peer is broken, or is not a baozi ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

impl From<Corrupt> for std::io::Error {
    fn from(_: Corrupt) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the shared-memory ring's counters are corrupt (head - tail beyond its size)",
        )
    }
}

/// The bytes written and not yet read.
pub fn used(head: u64, tail: u64, cap: u64) -> Result<u64, Corrupt> {
    let used = head.wrapping_sub(tail);
    if used <= cap { Ok(used) } else { Err(Corrupt) }
}

/// The room left for writing.
pub fn free(head: u64, tail: u64, cap: u64) -> Result<u64, Corrupt> {
    Ok(cap - used(head, tail, cap)?)
}

/// Where `len` bytes starting at byte number `at` lie in a ring of `cap` bytes: one
/// range, or two when they wrap past the end (the second then starts at 0). Each range
/// is paired with the part of the caller's buffer it takes: `(ring range, buffer
/// range)`. `len <= cap` (the caller never moves more than [`free`] or [`used`] allow).
pub fn pieces(at: u64, len: usize, cap: u64) -> [(Range<usize>, Range<usize>); 2] {
    debug_assert!(cap.is_power_of_two() && len as u64 <= cap);
    let cap = cap as usize;
    let start = (at as usize) & (cap - 1);
    let first = len.min(cap - start);
    [
        (start..start + first, 0..first),
        (0..len - first, first..len),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_full_and_in_between() {
        assert_eq!(used(0, 0, 8), Ok(0));
        assert_eq!(free(0, 0, 8), Ok(8));
        assert_eq!(used(8, 0, 8), Ok(8));
        assert_eq!(free(8, 0, 8), Ok(0));
        assert_eq!(used(13, 10, 8), Ok(3));
        assert_eq!(free(13, 10, 8), Ok(5));
    }

    #[test]
    fn counters_that_cannot_be_are_corrupt() {
        assert_eq!(used(9, 0, 8), Err(Corrupt));
        assert_eq!(used(0, 1, 8), Err(Corrupt), "tail past head");
        assert_eq!(free(u64::MAX, 0, 8), Err(Corrupt));
    }

    #[test]
    fn wrap_around_of_the_counters() {
        let tail = u64::MAX - 2;
        let head = tail.wrapping_add(6);
        assert_eq!(used(head, tail, 8), Ok(6));
        assert_eq!(free(head, tail, 8), Ok(2));
    }

    #[test]
    fn a_piece_that_wraps_past_the_end_splits_in_two() {
        assert_eq!(pieces(5, 3, 8), [(5..8, 0..3), (0..0, 3..3)]);
        assert_eq!(pieces(6, 5, 8), [(6..8, 0..2), (0..3, 2..5)]);
        assert_eq!(pieces(16, 8, 8), [(0..8, 0..8), (0..0, 8..8)]);
        assert_eq!(pieces(u64::MAX, 2, 8), [(7..8, 0..1), (0..1, 1..2)]);
    }

    /// A model: a ring as a plain queue of bytes, fed and drained in random pieces
    /// through the arithmetic above, starting anywhere (near `u64::MAX` too); every byte
    /// comes out once, in order, and the ring never holds more than its size. A write
    /// larger than the ring goes in as room frees, as the stream does.
    fn run(start: u64, cap_log: u32, steps: &[(bool, usize)]) {
        let cap = 1u64 << cap_log;
        let mut ring = vec![0u8; cap as usize];
        let (mut head, mut tail) = (start, start);
        let (mut next_in, mut next_out) = (0u8, 0u8);
        for &(write, want) in steps {
            if write {
                let n = (free(head, tail, cap).unwrap() as usize).min(want);
                let src: Vec<u8> = (0..n).map(|i| next_in.wrapping_add(i as u8)).collect();
                for (r, b) in pieces(head, n, cap) {
                    ring[r].copy_from_slice(&src[b]);
                }
                next_in = next_in.wrapping_add(n as u8);
                head = head.wrapping_add(n as u64);
            } else {
                let n = (used(head, tail, cap).unwrap() as usize).min(want);
                let mut dst = vec![0u8; n];
                for (r, b) in pieces(tail, n, cap) {
                    dst[b].copy_from_slice(&ring[r]);
                }
                for b in dst {
                    assert_eq!(b, next_out);
                    next_out = next_out.wrapping_add(1);
                }
                tail = tail.wrapping_add(n as u64);
            }
            assert!(used(head, tail, cap).unwrap() <= cap);
        }
    }

    proptest! {
        #[test]
        fn bytes_come_out_in_order_from_anywhere(
            start in prop_oneof![any::<u64>(), (u64::MAX - 64)..=u64::MAX, 0u64..64],
            cap_log in 0u32..7,
            steps in proptest::collection::vec((any::<bool>(), 0usize..300), 0..60),
        ) {
            run(start, cap_log, &steps);
        }

        #[test]
        fn pieces_cover_the_bytes_once_and_stay_inside(
            at in any::<u64>(), cap_log in 0u32..12, len in 0usize..5000,
        ) {
            let cap = 1u64 << cap_log;
            let len = len.min(cap as usize);
            let [(r1, b1), (r2, b2)] = pieces(at, len, cap);
            prop_assert_eq!(r1.len(), b1.len());
            prop_assert_eq!(r2.len(), b2.len());
            prop_assert_eq!(b1.start, 0);
            prop_assert_eq!(b1.end, b2.start);
            prop_assert_eq!(b2.end, len);
            prop_assert!(r1.end <= cap as usize && r2.end <= cap as usize);
            prop_assert_eq!(r1.start as u64, at & (cap - 1));
            prop_assert!(r2.is_empty() || (r2.start == 0 && r1.end == cap as usize));
        }
    }
}
