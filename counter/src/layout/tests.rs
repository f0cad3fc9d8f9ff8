//! The unit tests of `layout.rs`: headers, and a segment's life in one process.
#![allow(clippy::unwrap_used)]
use super::*;

fn header(layout: Layout) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_BYTES as usize];
    let mut put = |i: usize, v: u64| h[8 * i..8 * i + 8].copy_from_slice(&v.to_ne_bytes());
    put(1, KIND.version);
    put(2, layout.size());
    put(W_SLOTS, layout.slots);
    put(W_PERMITS, layout.permits);
    h[..8].copy_from_slice(&KIND.magic);
    h
}

const L: Layout = Layout {
    slots: 8,
    permits: 2,
};
#[test]
fn a_good_header_gives_its_layout() {
    assert_eq!(parse_header(&header(L), L.size()), Ok(L));
}

#[test]
fn a_short_file_is_refused() {
    let e = parse_header(&[0; 10], 10).unwrap_err();
    assert!(e.0.contains("shorter than a segment header"), "{e}");
}

#[test]
fn wrong_or_missing_magic_is_refused() {
    let mut h = header(L);
    h[..8].copy_from_slice(b"NOTBAOZI");
    let e = parse_header(&h, L.size()).unwrap_err();
    assert!(e.0.contains("wrong magic number"), "{e}");
    h[..8].copy_from_slice(&[0; 8]);
    let e = parse_header(&h, L.size()).unwrap_err();
    assert!(e.0.contains("all zeros"), "{e}");
}

#[test]
fn another_version_is_refused() {
    let mut h = header(L);
    // Version 1 had no count flag, and allowed dots in names.
    h[8..16].copy_from_slice(&1u64.to_ne_bytes());
    let e = parse_header(&h, L.size()).unwrap_err();
    assert!(e.0.contains("layout version 1"), "{e}");
}

#[test]
fn a_truncated_file_is_refused() {
    let e = parse_header(&header(L), L.size() - 8).unwrap_err();
    assert!(e.0.contains("truncated"), "{e}");
}

#[test]
fn sizes_that_do_not_add_up_are_refused() {
    let mut h = header(L);
    h[8 * W_SLOTS..8 * W_SLOTS + 8].copy_from_slice(&9u64.to_ne_bytes());
    let e = parse_header(&h, L.size()).unwrap_err();
    assert!(e.0.contains("need"), "{e}");
    h[8 * W_SLOTS..8 * W_SLOTS + 8].copy_from_slice(&0u64.to_ne_bytes());
    let e = parse_header(&h, L.size()).unwrap_err();
    assert!(e.0.contains("0 worker slots"), "{e}");
}

fn name(tag: &str) -> String {
    format!("unit-{tag}-{}", std::process::id())
}

#[test]
fn create_open_decrement_and_remove() {
    let n = name("cycle");
    let seg = Segment::create(
        &n,
        Init {
            value: Some(5),
            slots: 4,
            permits: 1,
            sharing: Sharing::Owner,
        },
    )
    .unwrap();
    assert!(
        Segment::create(
            &n,
            Init {
                value: Some(1),
                slots: 1,
                permits: 0,
                sharing: Sharing::Owner,
            }
        )
        .unwrap_err()
        .to_string()
        .contains("already exists")
    );
    let mut other = Segment::open(&n).unwrap();
    let slot = other.claim_slot().unwrap();
    assert_eq!(other.lock().unwrap().decrement(slot), 4);
    assert_eq!(other.decrement_unlocked(slot), 3);
    let s = seg.snapshot();
    assert_eq!((s.count, s.completed, s.expected()), (3, 2, 3));
    drop(other);
    let path = seg.path().to_owned();
    drop(seg);
    assert!(!path.exists(), "the creator left its segment behind");
    assert!(
        Segment::open(&n)
            .unwrap_err()
            .to_string()
            .contains("no segment named")
    );
}
