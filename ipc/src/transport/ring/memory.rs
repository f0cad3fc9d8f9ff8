//! The one `unsafe` view of a connection's shared memory: the mapping seen as the
//! [`Shared`] control words (atomics only), and the byte copies in and out of the two
//! rings. Everything else of `shm:` is safe code over what this module hands out.
//!
//! The segment, one per connection, never named, never reused:
//!
//! ```text
//! offset 0        id: magic "baozishm", layout version, ring size     (one cache line)
//!        64       cpu[0], cpu[1]: the CPU each side last ran on, or ASLEEP (a line each)
//!        192      rings[0]: the control words of the ring connector -> listener
//!        512      rings[1]: the control words of the ring listener -> connector
//!                 (each: head, tail, data waiter, space waiter, state; a line each)
//!        4096     the bytes of ring 0 (`cap` bytes), then those of ring 1 (`cap` bytes)
//! ```
//!
//! Why each `unsafe` is sound:
//! - [`Mapping::shared`]: the mapping is at least [`DATA`] bytes long (checked when it is
//!   made), page-aligned (so aligned for every atomic), and lives as long as the
//!   `&Mapping` the reference borrows. [`Shared`] is `repr(C)` and made of atomics only,
//!   whose every bit pattern is valid, so whatever the peer wrote there is a valid value,
//!   and the peer's concurrent accesses are atomic too (it runs this same code).
//! - [`Bytes`]'s copies: the range `at..at + len` is asserted inside the ring's `cap`
//!   bytes, and `cap` is this process's own checked copy (never re-read from the shared
//!   memory), so a broken peer cannot make us copy outside the mapping. The copies go
//!   through raw pointers only; no `&[u8]` over the shared bytes is ever made. The ring
//!   protocol (`spsc.rs`, model-checked) gives each byte to one side at a time; a peer
//!   that broke it could only garble the bytes we read, as any peer can.
//! - `Send`/`Sync` for [`Mapping`]: it is a pointer into memory that lives as long as the
//!   mapping it owns; every access is atomic or one of the copies above.
#![allow(unsafe_code)]

use super::spsc::{Ctl, Line, Storage};
use super::sync::{AtomicU32, AtomicU64, Ordering};
use std::io;
use std::marker::PhantomData;

/// "baozishm", the first word of every segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"baozishm");
/// The layout above; bumped on any change to it.
pub const VERSION: u64 = 1;
/// `cpu[side]` while that side sleeps in the kernel (or has not run yet).
pub const ASLEEP: u32 = u32::MAX;
/// The smallest and largest ring a peer may hand us.
pub const MIN_CAP: u64 = 4096;
pub const MAX_CAP: u64 = 1 << 30;

/// What identifies a segment; written once by its creator before the peer sees it.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Id {
    pub magic: AtomicU64,
    pub version: AtomicU64,
    pub cap: AtomicU64,
}

/// The control part of the segment (the layout above, up to the bytes).
#[repr(C)]
#[derive(Debug, Default)]
pub struct Shared {
    pub id: Line<Id>,
    pub cpu: [Line<AtomicU32>; 2],
    pub rings: [Ctl; 2],
}

/// Where the rings' bytes start: past the control words, on a page of their own.
pub const DATA: usize = size_of::<Shared>().next_multiple_of(4096);

/// The size of a segment whose two rings have `cap` bytes each.
pub fn size_for(cap: u64) -> u64 {
    DATA as u64 + 2 * cap
}

/// What keeps the memory mapped.
#[derive(Debug)]
pub enum Backing {
    #[cfg(unix)]
    Mmap(memmap2::MmapRaw),
    #[cfg(windows)]
    View(crate::transport::windows::View),
}

impl Backing {
    /// A shared mapping of the whole of `file` (a memfd).
    #[cfg(unix)]
    pub fn map(file: &std::fs::File) -> io::Result<Backing> {
        Ok(Backing::Mmap(memmap2::MmapRaw::map_raw(file)?))
    }

    fn ptr_len(&self) -> (*mut u8, usize) {
        match self {
            #[cfg(unix)]
            Backing::Mmap(m) => (m.as_mut_ptr(), m.len()),
            #[cfg(windows)]
            Backing::View(v) => (v.ptr(), v.len()),
        }
    }
}

/// One connection's mapped segment, with its ring size as this process checked it.
#[derive(Debug)]
pub struct Mapping {
    ptr: *mut u8,
    cap: u64,
    _backing: Backing,
}

// SAFETY: see the module's doc: a pointer into memory the mapping keeps alive, touched
// only through atomics and the bounded copies.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// A fresh segment (all zeros) made ours: its id written for rings of `cap` bytes.
    pub fn create(backing: Backing, cap: u64) -> io::Result<Mapping> {
        let m = Mapping::checked(backing, cap)?;
        let id = &m.shared().id.0;
        id.cap.store(cap, Ordering::Relaxed);
        id.version.store(VERSION, Ordering::Relaxed);
        id.magic.store(MAGIC, Ordering::Release);
        for cpu in &m.shared().cpu {
            cpu.0.store(ASLEEP, Ordering::Relaxed);
        }
        Ok(m)
    }

    /// The peer's segment, after checking its id against its size.
    pub fn attach(backing: Backing) -> io::Result<Mapping> {
        let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
        let len = backing.ptr_len().1 as u64;
        if len < DATA as u64 {
            return Err(bad(
                "the shared memory handed over is too small to be a ring",
            ));
        }
        let cap = (len - DATA as u64) / 2;
        let m = Mapping::checked(backing, cap)?;
        let id = &m.shared().id.0;
        if id.magic.load(Ordering::Acquire) != MAGIC {
            return Err(bad("the shared memory handed over is not a baozi ring"));
        }
        if id.version.load(Ordering::Relaxed) != VERSION {
            return Err(bad(
                "the shared memory handed over has another layout version (another build of baozi?)",
            ));
        }
        if id.cap.load(Ordering::Relaxed) != cap {
            return Err(bad(
                "the shared memory handed over is not the size its header says",
            ));
        }
        Ok(m)
    }

    fn checked(backing: Backing, cap: u64) -> io::Result<Mapping> {
        let (ptr, len) = backing.ptr_len();
        let fits = cap.is_power_of_two()
            && (MIN_CAP..=MAX_CAP).contains(&cap)
            && len as u64 == size_for(cap)
            && ptr.align_offset(4096) == 0;
        if !fits {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a shared-memory ring cannot be {len} bytes"),
            ));
        }
        Ok(Mapping {
            ptr,
            cap,
            _backing: backing,
        })
    }

    /// Each ring's size in bytes.
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// The control words.
    pub fn shared(&self) -> &Shared {
        // SAFETY: see the module's doc (at least DATA bytes, page-aligned, atomics only,
        // alive as long as `self`).
        unsafe { &*self.ptr.cast::<Shared>() }
    }

    /// The bytes of ring `ring` (0 or 1).
    pub fn bytes(&self, ring: usize) -> Bytes<'_> {
        assert!(ring < 2);
        Bytes {
            // SAFETY: DATA + 2 * cap is the mapping's length (checked), so this stays inside.
            base: unsafe { self.ptr.add(DATA + ring * self.cap as usize) },
            cap: self.cap as usize,
            _mapping: PhantomData,
        }
    }
}

/// The bytes of one ring in the mapping.
#[derive(Debug)]
pub struct Bytes<'a> {
    base: *mut u8,
    cap: usize,
    _mapping: PhantomData<&'a Mapping>,
}

impl Storage for Bytes<'_> {
    fn put(&self, at: usize, src: &[u8]) {
        assert!(at <= self.cap && src.len() <= self.cap - at);
        // SAFETY: `at..at + len` is inside this ring (asserted; `cap` is our own checked
        // copy); `src` is our own memory, so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(at), src.len()) };
    }

    fn get(&self, at: usize, dst: &mut [u8]) {
        assert!(at <= self.cap && dst.len() <= self.cap - at);
        // SAFETY: as in `put`, the other way.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(at), dst.as_mut_ptr(), dst.len()) };
    }
}
