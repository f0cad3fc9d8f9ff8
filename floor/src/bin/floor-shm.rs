//! The floor of `shm:`: one shared mapping between two processes, one single-producer
//! single-consumer byte ring in it, `--bytes` bytes copied in by `send` in `--chunk`-sized
//! writes (in pieces as room frees) and copied out by `recv` into a `--chunk`-sized buffer.
//! No framing, no encoding, no rendezvous socket, no watcher, no futex: a waiting side
//! spins 50 us, then yields the CPU until the other moves (a floor need not sleep well).
//!
//! ```sh
//! floor-shm recv NAME --bytes 2GiB --chunk 1MiB & floor-shm send NAME --bytes 2GiB --chunk 1MiB
//! ```
//!
//! The mapping is the file `/dev/shm/floor-shm-NAME`, made by `recv` (it prints `ready:`)
//! and removed by it as soon as `send` has mapped it too.
#![allow(unsafe_code)] // the ring's copies and atomics in the mapping: see `Ring`

#[cfg(target_os = "linux")]
const USAGE: &str = "\
usage: floor-shm send|recv NAME --bytes N [--chunk SIZE] [--ring SIZE]
  recv makes the mapping /dev/shm/floor-shm-NAME (prints `ready: NAME`), send maps it;
  send writes N bytes in writes of SIZE (64KiB by default) into a ring of --ring bytes
  (4MiB by default, as shm:), recv reads them in reads of SIZE and fails unless exactly N
  arrived.";

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    floor::main("floor-shm", run)
}

/// The mapping: `head` (bytes written) at 0, `tail` (bytes read) at 64, `attached` at 128,
/// each on its own cache line; the ring's bytes from 4096.
#[cfg(target_os = "linux")]
struct Ring {
    map: memmap2::MmapRaw,
    cap: usize,
}

#[cfg(target_os = "linux")]
impl Ring {
    const DATA: usize = 4096;

    fn word(&self, at: usize) -> &std::sync::atomic::AtomicU64 {
        assert!(at + 8 <= Self::DATA);
        // SAFETY: inside the mapping (asserted), 8-aligned (page-aligned base), atomics only.
        unsafe { &*self.map.as_mut_ptr().add(at).cast() }
    }

    /// Copies `len` bytes between the ring (from byte number `pos`) and `buf`, split at the
    /// wrap; `into_ring` says which way.
    fn copy(&self, pos: u64, buf: *mut u8, len: usize, into_ring: bool) {
        let start = (pos as usize) & (self.cap - 1);
        let first = len.min(self.cap - start);
        for (at, from, n) in [(start, 0, first), (0, first, len - first)] {
            assert!(at + n <= self.cap);
            // SAFETY: inside the ring's bytes (asserted), disjoint from our own buffer; the
            // head/tail protocol gives each byte to one side at a time.
            unsafe {
                let ring = self.map.as_mut_ptr().add(Self::DATA + at);
                if into_ring {
                    std::ptr::copy_nonoverlapping(buf.add(from), ring, n);
                } else {
                    std::ptr::copy_nonoverlapping(ring, buf.add(from), n);
                }
            }
        }
    }
}

/// Spins up to 50 us, then yields, until `ready()` gives something.
#[cfg(target_os = "linux")]
fn wait_for(mut ready: impl FnMut() -> u64) -> u64 {
    let start = std::time::Instant::now();
    loop {
        let n = ready();
        if n > 0 {
            return n;
        }
        if start.elapsed() < std::time::Duration::from_micros(50) {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

#[cfg(target_os = "linux")]
fn run() -> floor::Result<()> {
    use std::sync::atomic::Ordering::{Acquire, Release};
    let args = floor::Args::parse("floor-shm", USAGE)?;
    let [role, name] = args.positional.as_slice() else {
        return Err(USAGE.into());
    };
    let bytes = args.num("bytes", 0)?;
    let chunk = usize::try_from(args.num("chunk", 64 << 10)?)?.max(1);
    let cap = usize::try_from(args.num("ring", 4 << 20)?)?;
    if !cap.is_power_of_two() {
        return Err("--ring must be a power of two".into());
    }
    let path = format!("/dev/shm/floor-shm-{name}");
    let ring = match role.as_str() {
        "recv" => {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)?;
            file.set_len((Ring::DATA + cap) as u64)?;
            let ring = Ring {
                map: memmap2::MmapRaw::map_raw(&file)?,
                cap,
            };
            eprintln!("ready: {name}");
            wait_for(|| ring.word(128).load(Acquire));
            std::fs::remove_file(&path)?;
            ring
        }
        "send" => {
            let deadline = std::time::Instant::now() + floor::CONNECT_WAIT;
            let file = loop {
                match std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                {
                    Ok(f) if f.metadata()?.len() == (Ring::DATA + cap) as u64 => break f,
                    Ok(_) | Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                    Ok(_) => return Err(format!("{path} is not a ring of {cap} bytes").into()),
                    Err(e) => return Err(format!("{path}: {e}").into()),
                }
            };
            let ring = Ring {
                map: memmap2::MmapRaw::map_raw(&file)?,
                cap,
            };
            ring.word(128).store(1, Release);
            ring
        }
        _ => return Err(USAGE.into()),
    };
    let (head, tail) = (ring.word(0), ring.word(64));
    let cap64 = cap as u64;
    let mut buf: Vec<u8> = b"baozi\n".iter().copied().cycle().take(chunk).collect();
    let mut done = 0u64;
    if role == "send" {
        let mut pos = 0u64;
        while done < bytes {
            let want = (bytes - done).min(chunk as u64);
            let mut off = 0u64;
            while off < want {
                let free = wait_for(|| cap64 - (pos - tail.load(Acquire)));
                let n = free.min(want - off);
                ring.copy(pos, buf[off as usize..].as_mut_ptr(), n as usize, true);
                pos += n;
                head.store(pos, Release);
                off += n;
            }
            done += want;
        }
    } else {
        while done < bytes {
            let used = wait_for(|| head.load(Acquire) - done);
            let n = used.min(chunk as u64);
            ring.copy(done, buf.as_mut_ptr(), n as usize, false);
            done += n;
            tail.store(done, Release);
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("floor-shm: Linux only (the bench is scripts/bench.sh)");
    std::process::ExitCode::FAILURE
}
