//! The semaphore (section 5 of the tutorial): `semaphore` (the launcher) and `enter` (one
//! worker). At most K workers are inside at once; a permit whose holder dies comes back.

use crate::launch::{self, label, say};
use crate::layout::{Init, Segment};
use crate::{EnterArgs, SemaphoreArgs};
use common::cli::Result;
use ipc::lock::Waited;
use ipc::shutdown::Stop;
use ipc::units::show_duration;
use ipc::units::{XorShift, count_as};
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Duration;

/// Raised by Ctrl-C (SIGTERM, SIGHUP) in `enter`: a worker inside leaves, giving its
/// permit back as a leaving, not as a death; the signal's ending waits for that.
static STOP: LazyLock<Stop> = LazyLock::new(Stop::new);

/// The launcher: segment with K permits, workers, wait, the gauges; then the segment goes.
pub fn run(a: &SemaphoreArgs) -> Result<ExitCode> {
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("sem-{}", std::process::id()));
    let mut seg = Segment::create(
        &name,
        Init {
            value: None,
            slots: a.workers,
            permits: a.permits,
            sharing: a.sharing.sharing(),
        },
    )?;
    ipc::elog!(
        "counter: segment {name} at {}; {}, {}, stays {}, inside {} each",
        seg.path().display(),
        count_as(a.workers, "worker", "workers"),
        count_as(a.permits, "permit", "permits"),
        a.enter.stay,
        count_as(a.enter.times, "time", "times")
    );
    let events = a.timeline.as_ref().map(|svg| {
        std::env::temp_dir().join(format!(
            "baozi-{name}-{}.events",
            svg.file_name()
                .map_or("timeline".into(), |f| f.to_string_lossy())
        ))
    });
    let mut args = vec![
        "enter".to_owned(),
        name.clone(),
        "--stay".to_owned(),
        format!(
            "{}..{}",
            launch::duration_arg(a.enter.stay.low),
            launch::duration_arg(a.enter.stay.high)
        ),
        "--times".to_owned(),
        a.enter.times.to_string(),
    ];
    if a.enter.quiet {
        args.push("--quiet".to_owned());
    }
    if let Some(events) = &events {
        let _ = std::fs::remove_file(events);
        args.extend(["--events".to_owned(), events.display().to_string()]);
    }
    let (failed, secs) = launch::run_workers(a.workers, &args)?;
    let s = seg.lock()?.snapshot();
    say(&format!(
        "{} by {}; at most {} inside at once (permits {})",
        count_as(s.entries, "entry", "entries"),
        count_as(s.workers, "worker", "workers"),
        s.max_inside,
        s.permits
    ));
    ipc::elog!(
        "counter: {} in {secs:.3}s ({:.1} entries/s)",
        count_as(s.entries, "entry", "entries"),
        launch::rate(s.entries, secs)
    );
    if let (Some(svg), Some(events)) = (&a.timeline, &events) {
        let drawn = crate::timeline::draw(events, svg, a.permits);
        let _ = std::fs::remove_file(events);
        drawn?;
        ipc::elog!("counter: timeline drawn in {}", svg.display());
    }
    for f in &failed {
        ipc::elog!("counter: error: {f}");
    }
    if !failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    let want = a.workers * a.enter.times;
    if s.max_inside > s.permits || s.inside != 0 || s.entries != want || s.reclaimed != 0 {
        return Err(format!(
            "the semaphore failed: at most {} inside with {} permits, {} still inside, \
             {} entries of {want}, {} reclaimed",
            s.max_inside, s.permits, s.inside, s.entries, s.reclaimed
        )
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// `enter`: one worker goes inside `--times` times. Per entry: a permit (its file opened
/// once, at the start), one load for the tampering mark, and the gauges' atomic adds; the
/// segment's lock is not taken.
pub fn enter(a: &EnterArgs) -> Result<ExitCode> {
    if let Some(launcher) = a.launcher {
        launch::exit_when_launcher_dies(launcher);
    }
    let seg = Segment::open(&a.name.name)?;
    let sem = seg.semaphore()?;
    let gauges = seg.gauges();
    let slot = seg.claim_slot()?;
    let me = label(slot.index());
    let quiet = a.enter.quiet;
    let event = |kind: &str, permit: Option<usize>| {
        if let Some(events) = &a.events {
            crate::timeline::record(events, slot.index(), kind, permit);
        }
    };
    let mut rng = XorShift::seeded();
    ipc::shutdown::on_interrupt(|| {
        STOP.finish_in_flight(Duration::from_secs(2));
    });
    let mut stopped = false;
    for _ in 0..a.enter.times {
        let hint = seg.ticket() as usize;
        let (permit, waited) = sem.acquire(hint, || {
            event("wait", None);
            if !quiet {
                say(&format!("{me} waits for a permit"));
            }
        })?;
        // Someone found a permit file (or the lock file) replaced: stop, holding nothing.
        seg.check()?;
        // Inside, a signal waits for the leaving (waiting, it ends the process at once).
        let Some(token) = STOP.start() else {
            stopped = true;
            break;
        };
        let i = permit.index();
        let entered = gauges.enter(i, slot);
        if !quiet {
            if entered.reclaimed {
                say(&format!(
                    "{me}: permit {i} came back from a holder that died inside"
                ));
            }
            let waited = if waited == Waited::Yes {
                ", after waiting"
            } else {
                ""
            };
            say(&format!(
                "{me} enters with permit {i}{waited}: {} inside",
                entered.inside
            ));
        }
        event("enter", Some(i));
        let began = std::time::Instant::now();
        let stay = a.enter.stay.pick(&mut rng);
        stopped = STOP.wait(stay);
        let inside = gauges.leave(i);
        event("leave", Some(i));
        if !quiet {
            if stopped {
                say(&format!(
                    "{me} leaves after {}, stopped: {inside} inside",
                    show_duration(began.elapsed())
                ));
            } else {
                say(&format!(
                    "{me} leaves after {}: {inside} inside",
                    show_duration(stay)
                ));
            }
        }
        drop(permit);
        if stopped {
            seg.finish_slot(slot);
            drop(token);
            // The signal's ending waited for this leaving: let it exit, with its own code.
            loop {
                std::thread::park();
            }
        }
        drop(token);
    }
    seg.finish_slot(slot);
    if stopped {
        loop {
            std::thread::park();
        }
    }
    Ok(ExitCode::SUCCESS)
}
