//! The floor of `counter run` and `counter semaphore`: worker processes that take and give
//! back OS file locks (`flock`), nothing else. A decrement of ours is this lock around a
//! load and a store in shared memory; an entry of ours is one of K such locks, taken as a
//! permit. The floor leaves the count out, so it is a lower bound for both.
//!
//! ```sh
//! floor-count --workers 20 --times 10000                # one lock, as counter run
//! floor-count --workers 20 --times 1000 --permits 5     # K permit locks, as counter semaphore
//! ```

#[cfg(unix)]
const USAGE: &str = "\
usage: floor-count [--workers N] [--times T] [--permits K]
  N worker processes (20 by default) each take and release a file lock T times; with K,
  one of K permit files each time (try every permit, then wait on one).";

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    floor::main("floor-count", run)
}

#[cfg(unix)]
fn run() -> floor::Result<()> {
    use std::fs::{File, OpenOptions, TryLockError};
    use std::path::PathBuf;
    use std::process::{Command, Stdio};

    fn open(path: &std::path::Path) -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    }

    let args = floor::Args::parse("floor-count", USAGE)?;
    let times = args.num("times", 1)?;
    let permits = args.num("permits", 0)?;
    if let [work, base, id] = args.positional.as_slice()
        && work == "work"
    {
        let id: u64 = id.parse()?;
        if permits == 0 {
            let lock = open(&PathBuf::from(format!("{base}.lock")))?;
            for _ in 0..times {
                lock.lock()?;
                lock.unlock()?;
            }
        } else {
            let files = (0..permits)
                .map(|i| open(&PathBuf::from(format!("{base}.permit-{i}"))))
                .collect::<std::io::Result<Vec<_>>>()?;
            let k = files.len();
            for t in 0..times {
                let first = usize::try_from((id + t) % permits)?;
                let mut held = None;
                for j in 0..k {
                    let f = &files[(first + j) % k];
                    match f.try_lock() {
                        Ok(()) => {
                            held = Some(f);
                            break;
                        }
                        Err(TryLockError::WouldBlock) => {}
                        Err(TryLockError::Error(e)) => return Err(e.into()),
                    }
                }
                let f = match held {
                    Some(f) => f,
                    None => {
                        files[first].lock()?;
                        &files[first]
                    }
                };
                f.unlock()?;
            }
        }
        return Ok(());
    }
    if !args.positional.is_empty() {
        return Err(USAGE.into());
    }
    let workers = args.num("workers", 20)?;
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let base = dir.join(format!("floor-count-{}", std::process::id()));
    let base = base.to_str().ok_or("temp dir is not UTF-8")?.to_owned();
    let mut files = vec![PathBuf::from(format!("{base}.lock"))];
    files.extend((0..permits).map(|i| PathBuf::from(format!("{base}.permit-{i}"))));
    for f in &files {
        open(f)?;
    }
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for id in 0..workers {
        children.push(
            Command::new(&exe)
                .args(["work", &base, &id.to_string()])
                .args([
                    "--times",
                    &times.to_string(),
                    "--permits",
                    &permits.to_string(),
                ])
                .stdin(Stdio::null())
                .spawn()?,
        );
    }
    let mut failed = 0;
    for mut c in children {
        if !c.wait()?.success() {
            failed += 1;
        }
    }
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
    if failed > 0 {
        return Err(format!("{failed} of {workers} workers failed").into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("floor-count: Unix only (the bench is scripts/bench.sh)");
    std::process::ExitCode::FAILURE
}
