//! The counter's segment as it changes: the count's journalled decrement under the
//! segment's lock (all or nothing, even when its process dies half-way), and the
//! semaphore's gauges, which take no lock (atomic adds; a permit's owner entry is written
//! only by that permit's holder). Only this module and `layout.rs` know the segment's
//! words.

use crate::layout::{
    Layout, S_COMPLETED, Slot, Snapshot, W_COUNT, W_ENTRIES, W_INSIDE, W_MAX_INSIDE, W_RECLAIMED,
    W_TXN_COUNT, W_TXN_DONE, W_TXN_SLOT, snapshot,
};
use ipc::lock::Guard;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// A decrement that a dead lock holder left half-done, and was undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repair {
    /// The dead worker's slot.
    pub slot: usize,
    /// The count, as restored.
    pub count: i64,
}

/// How a [`Gauges::enter`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entered {
    /// How many are inside now, this worker included.
    pub inside: u64,
    /// The permit's last holder died inside; its place was taken back.
    pub reclaimed: bool,
}

/// The segment while its lock is held: the only way to change the count exactly.
#[derive(Debug)]
pub struct Locked<'a> {
    w: &'a [AtomicU64],
    layout: Layout,
    _guard: Guard<'a>,
    /// Set when taking the lock undid a dead holder's half-done decrement.
    pub repaired: Option<Repair>,
}

impl<'a> Locked<'a> {
    /// The segment's words under `guard`; a decrement a dead holder left half-done is
    /// undone first (see [`Locked::repaired`]).
    pub(crate) fn new(w: &'a [AtomicU64], layout: Layout, guard: Guard<'a>) -> Locked<'a> {
        let mut locked = Locked {
            w,
            layout,
            _guard: guard,
            repaired: None,
        };
        locked.recover();
        locked
    }

    /// Undoes the journalled decrement, if any: its writer died before it cleared the
    /// journal. Idempotent (it stores absolute values), so dying in here is harmless too.
    fn recover(&mut self) {
        let w = self.w;
        let entry = w[W_TXN_SLOT].load(SeqCst) as usize;
        if entry == 0 {
            return;
        }
        let slot = entry - 1;
        let count = w[W_TXN_COUNT].load(SeqCst);
        w[W_COUNT].store(count, SeqCst);
        if (slot as u64) < self.layout.slots {
            let done = w[W_TXN_DONE].load(SeqCst);
            w[self.layout.slot(slot, S_COMPLETED)].store(done, SeqCst);
        }
        w[W_TXN_SLOT].store(0, SeqCst);
        self.repaired = Some(Repair {
            slot,
            count: count as i64,
        });
    }

    /// Decrements the count by one and credits `slot` with it, all or nothing even if this
    /// process dies half-way. Returns the new count. (The workers use
    /// [`Locked::decrement_with`], to report the count in between.)
    #[cfg(test)]
    pub fn decrement(&self, slot: Slot) -> i64 {
        self.decrement_with(slot, |_| {})
    }

    /// [`Locked::decrement`], running `between` after the count is stored and before the
    /// completion is recorded: the worst moment to die, which tests use.
    pub fn decrement_with(&self, slot: Slot, between: impl FnOnce(i64)) -> i64 {
        let w = self.w;
        let completed = &w[self.layout.slot(slot.0, S_COMPLETED)];
        let c = w[W_COUNT].load(SeqCst);
        let done = completed.load(SeqCst);
        // The journal: what to restore should this process die before the end.
        w[W_TXN_COUNT].store(c, SeqCst);
        w[W_TXN_DONE].store(done, SeqCst);
        w[W_TXN_SLOT].store(slot.0 as u64 + 1, SeqCst);
        let now = (c as i64) - 1;
        w[W_COUNT].store(now as u64, SeqCst);
        between(now);
        completed.store(done + 1, SeqCst);
        w[W_TXN_SLOT].store(0, SeqCst);
        now
    }

    /// Gives back the place of a holder of `permit` that died inside (see
    /// [`Gauges::release_stale`]). Call it only while holding that permit.
    pub fn release_stale(&self, permit: usize) -> bool {
        Gauges::new(self.w, self.layout).release_stale(permit)
    }

    /// Whether someone is recorded inside with `permit`.
    pub fn permit_taken(&self, permit: usize) -> bool {
        self.w[self.layout.owner(permit)].load(SeqCst) != 0
    }

    /// Everything in the segment, consistent (no locked update is half-done).
    pub fn snapshot(&self) -> Snapshot {
        snapshot(self.w, self.layout)
    }
}

/// The semaphore's gauges (inside, max inside, entries, reclaimed) and its permits' owner
/// entries, changed without the segment's lock: the gauges by atomic adds (max by
/// `fetch_max`), and permit I's owner entry only by whoever holds permit I. Not journalled:
/// a process killed between two of its stores skews `inside` by one (never below 0).
#[derive(Debug, Clone, Copy)]
pub struct Gauges<'a> {
    w: &'a [AtomicU64],
    layout: Layout,
}

impl<'a> Gauges<'a> {
    pub(crate) fn new(w: &'a [AtomicU64], layout: Layout) -> Gauges<'a> {
        Gauges { w, layout }
    }

    /// Records that `slot` is inside with `permit`, which it holds: the gauges go up. If
    /// the permit's last holder died inside (its owner entry is still set), its place is
    /// given back first and counted as reclaimed.
    pub fn enter(&self, permit: usize, slot: Slot) -> Entered {
        let w = self.w;
        let reclaimed = self.release_stale(permit);
        w[self.layout.owner(permit)].store(slot.0 as u64 + 1, SeqCst);
        let inside = w[W_INSIDE].fetch_add(1, SeqCst) + 1;
        w[W_MAX_INSIDE].fetch_max(inside, SeqCst);
        w[W_ENTRIES].fetch_add(1, SeqCst);
        Entered { inside, reclaimed }
    }

    /// Records that the holder of `permit` left. Returns how many are still inside.
    pub fn leave(&self, permit: usize) -> u64 {
        self.w[self.layout.owner(permit)].store(0, SeqCst);
        self.one_out()
    }

    /// Gives back the place of a holder of `permit` that died inside. Call it only while
    /// holding that permit (so its owner entry cannot be live). Returns whether it did.
    pub fn release_stale(&self, permit: usize) -> bool {
        let w = self.w;
        if w[self.layout.owner(permit)].swap(0, SeqCst) == 0 {
            return false;
        }
        self.one_out();
        w[W_RECLAIMED].fetch_add(1, SeqCst);
        true
    }

    /// `inside` minus one, never below 0. Returns the new value.
    fn one_out(&self) -> u64 {
        let was = self.w[W_INSIDE]
            .fetch_update(SeqCst, SeqCst, |n| Some(n.saturating_sub(1)))
            .unwrap_or_else(|n| n);
        was.saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::layout::{Init, Segment};
    use ipc::segment::Sharing;

    fn name(tag: &str) -> String {
        format!("unit-{tag}-{}", std::process::id())
    }

    #[test]
    fn a_decrement_cut_short_inside_the_lock_is_undone() {
        let n = name("undo");
        let mut seg = Segment::create(
            &n,
            Init {
                value: Some(10),
                slots: 2,
                permits: 0,
                sharing: Sharing::Owner,
            },
        )
        .unwrap();
        let slot = seg.claim_slot().unwrap();
        assert_eq!(seg.lock().unwrap().decrement(slot), 9);
        // Die (here: unwind) after storing the count, before recording the completion.
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            seg.lock()
                .unwrap()
                .decrement_with(slot, |_| panic!("killed inside the lock"));
        }));
        assert!(died.is_err());
        assert_eq!(
            seg.snapshot().count,
            8,
            "the half-done decrement is visible"
        );
        let locked = seg.lock().unwrap();
        assert_eq!(locked.repaired, Some(Repair { slot: 0, count: 9 }));
        let s = locked.snapshot();
        assert_eq!((s.count, s.completed), (9, 1));
        drop(locked);
        assert_eq!(seg.lock().unwrap().repaired, None);
    }

    #[test]
    fn the_gauges_take_back_a_dead_holders_place() {
        let n = name("gauge");
        let mut seg = Segment::create(
            &n,
            Init {
                value: None,
                slots: 4,
                permits: 2,
                sharing: Sharing::Owner,
            },
        )
        .unwrap();
        let (a, b) = (seg.claim_slot().unwrap(), seg.claim_slot().unwrap());
        let l = seg.gauges();
        assert_eq!(l.enter(0, a).inside, 1);
        assert_eq!(l.enter(1, b).inside, 2);
        assert_eq!(l.leave(1), 1);
        // a died inside with permit 0; b gets permit 0.
        assert_eq!(
            l.enter(0, b),
            Entered {
                inside: 1,
                reclaimed: true
            }
        );
        let s = seg.lock().unwrap().snapshot();
        assert_eq!(
            (s.inside, s.max_inside, s.entries, s.reclaimed),
            (1, 2, 3, 1)
        );
        // Only a live owner entry counts: nothing stale to give back now.
        assert!(!seg.lock().unwrap().release_stale(1));
    }
}
