//! The count (section 4 of the tutorial): `run` (the launcher), and by hand `init`, `work`,
//! `show` and `clean`.

use crate::clean;
use crate::launch::{self, label, say};
use crate::layout::{Init, Segment, Snapshot};
use crate::{CleanArgs, InitArgs, LockMode, RunArgs, ShowArgs, WorkArgs, WorkOpts};
use common::cli::Result;
use ipc::units::count_as;
use ipc::units::show_duration;
use std::process::ExitCode;

/// The launcher: segment, workers, wait, final count, accounting; the segment goes at the end.
pub fn run(a: &RunArgs) -> Result<ExitCode> {
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("run-{}", std::process::id()));
    let w = &a.work;
    let value = a
        .value
        .unwrap_or_else(|| a.workers.saturating_mul(w.decrements).min(i64::MAX as u64) as i64);
    let mut seg = Segment::create(
        &name,
        Init {
            value: Some(value),
            slots: a.workers,
            permits: 0,
            sharing: a.sharing.sharing(),
        },
    )?;
    ipc::elog!(
        "counter: segment {name} at {}, count {}; {} x {}, lock {}",
        seg.path().display(),
        value,
        count_as(a.workers, "worker", "workers"),
        count_as(w.decrements, "decrement", "decrements"),
        w.lock.arg()
    );
    let mut args = vec![
        "work".to_owned(),
        name.clone(),
        "--decrements".to_owned(),
        w.decrements.to_string(),
        "--lock".to_owned(),
        w.lock.arg().to_owned(),
        "--pause".to_owned(),
        launch::duration_arg(w.pause),
    ];
    if w.quiet {
        args.push("--quiet".to_owned());
    }
    let (failed, secs) = launch::run_workers(a.workers, &args)?;
    let s = seg.lock()?.snapshot();
    ipc::elog!(
        "counter: {} by {} in {secs:.3}s ({:.0} decrements/s)",
        count_as(s.completed, "decrement", "decrements"),
        count_as(s.workers, "worker", "workers"),
        launch::rate(s.completed, secs)
    );
    let exact = report(&s);
    for f in &failed {
        ipc::elog!("counter: error: {f}");
    }
    if !failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if !exact && w.lock == LockMode::File {
        return Err(format!(
            "final count {} but expected {}: an update was lost under the lock",
            s.count,
            s.expected()
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The final lines: the count, and what was lost if anything. Returns whether it is exact.
fn report(s: &Snapshot) -> bool {
    say(&format!(
        "final count {} (expected {})",
        s.count,
        s.expected()
    ));
    let lost = s.count - s.expected();
    match lost {
        0 => true,
        1.. => {
            say(&format!(
                "lost {}: {} completed, but the count went down by {}",
                count_as(lost as u64, "update", "updates"),
                count_as(s.completed, "decrement", "decrements"),
                s.initial - s.count
            ));
            false
        }
        _ => {
            say(&format!("the count is {} below what was completed", -lost));
            false
        }
    }
}

/// `init`: creates the segment and leaves it. With `--permits` and no `--value`, the
/// segment has permits only, no count.
pub fn init(a: &InitArgs) -> Result<ExitCode> {
    let value = match a.value {
        Some(v) => Some(v),
        None if a.permits > 0 => None,
        None => Some(20),
    };
    let mut seg = Segment::create(
        &a.name.name,
        Init {
            value,
            slots: a.slots,
            permits: a.permits,
            sharing: a.sharing.sharing(),
        },
    )?;
    seg.keep();
    let holds = match value {
        Some(v) => format!("count {v}"),
        None => "no count".to_owned(),
    };
    say(&format!(
        "created segment {} at {}: {holds}, worker slots {}, permits {}",
        a.name.name,
        seg.path().display(),
        a.slots,
        a.permits
    ));
    Ok(ExitCode::SUCCESS)
}

/// `work`: one worker's decrements.
pub fn work(a: &WorkArgs) -> Result<ExitCode> {
    if let Some(launcher) = a.launcher {
        launch::exit_when_launcher_dies(launcher);
    }
    let name = &a.name.name;
    let mut seg = Segment::open(name)?;
    if !seg.has_count() {
        return Err(format!(
            "segment {name:?} has permits only, no count; `counter enter {name}` uses it, and \
             `counter init NAME --value V` makes one with a count"
        )
        .into());
    }
    let slot = seg.claim_slot()?;
    let me = label(slot.index());
    let WorkOpts {
        decrements,
        lock,
        pause,
        quiet,
    } = a.work;
    for i in 0..decrements {
        if i > 0 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
        match lock {
            LockMode::File => {
                let locked = seg.lock()?;
                if let Some(r) = locked.repaired {
                    ipc::elog!(
                        "{me}: undid a decrement left half-done by worker {} (it died \
                         holding the lock); the count is back to {}",
                        r.slot,
                        r.count
                    );
                }
                let now = locked.decrement_with(slot, |_| {
                    if let Some(linger) = a.linger {
                        ipc::elog!(
                            "{me}: lingering inside the lock for {}",
                            show_duration(linger)
                        );
                        std::thread::sleep(linger);
                    }
                });
                // Printed under the lock, like the tutorial: the lines come in count order.
                if !quiet {
                    say(&format!("{me}: counter minus one, now {now}"));
                }
            }
            LockMode::None => {
                let now = seg.decrement_unlocked(slot);
                if !quiet {
                    say(&format!("{me}: counter minus one, now {now}"));
                }
            }
        }
    }
    seg.finish_slot(slot);
    Ok(ExitCode::SUCCESS)
}

/// `show`: the count, the accounting, the gauges. Takes the lock, so it also repairs what a
/// dead lock holder left half-done, and takes back permits whose holders died inside.
pub fn show(a: &ShowArgs) -> Result<ExitCode> {
    let name = &a.name.name;
    let mut seg = Segment::open(name)?;
    let permits = seg.layout().permits;
    let sem = if permits > 0 {
        Some(seg.semaphore()?)
    } else {
        None
    };
    let path = seg.path().to_owned();
    let locked = seg.lock()?;
    if let Some(r) = locked.repaired {
        ipc::elog!(
            "counter: undid a decrement left half-done by worker {} (it died holding the \
             lock); the count is back to {}",
            r.slot,
            r.count
        );
    }
    if let Some(sem) = &sem {
        for i in 0..permits as usize {
            // Taken in the gauges, yet free: its holder died inside.
            if locked.permit_taken(i)
                && let Some(_permit) = sem.try_acquire_one(i)?
                && locked.release_stale(i)
            {
                ipc::elog!("counter: permit {i} came back from a holder that died inside");
            }
        }
    }
    let s = locked.snapshot();
    drop(locked);
    say(&format!(
        "segment: {name} ({}, created by pid {})",
        path.display(),
        s.creator
    ));
    if s.has_count {
        let lost = s.count - s.expected();
        say(&format!("count: {}", s.count));
        say(&format!("initial: {}", s.initial));
        say(&format!(
            "completed: {} (by {}, {} finished; {})",
            s.completed,
            count_as(s.workers, "worker", "workers"),
            s.finished,
            count_as(s.slots, "slot", "slots")
        ));
        say(&format!(
            "expected: {}{}",
            s.expected(),
            if lost == 0 {
                " (exact)".to_owned()
            } else {
                format!(
                    " (lost {})",
                    count_as(lost.unsigned_abs(), "update", "updates")
                )
            }
        ));
    } else {
        say(&format!(
            "workers: {} ({} finished; {})",
            s.workers,
            s.finished,
            count_as(s.slots, "slot", "slots")
        ));
    }
    if s.permits > 0 {
        say(&format!(
            "permits: {} (inside {}, at most {} at once, {}, {} reclaimed)",
            s.permits,
            s.inside,
            s.max_inside,
            count_as(s.entries, "entry", "entries"),
            s.reclaimed
        ));
    }
    if a.workers {
        for w in seg.workers() {
            let did = if s.has_count {
                format!("{}, ", count_as(w.completed, "decrement", "decrements"))
            } else {
                String::new()
            };
            say(&format!(
                "worker {}: pid {}, {did}{}",
                w.slot,
                w.pid,
                if w.finished {
                    "finished"
                } else {
                    "running or gone"
                }
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `clean`: removes the segment's files, if they are a segment nobody uses, or `--force`.
pub fn clean(a: &CleanArgs) -> Result<ExitCode> {
    for p in clean::remove(&a.name.name, a.force)? {
        say(&format!("removed {}", p.display()));
    }
    Ok(ExitCode::SUCCESS)
}
