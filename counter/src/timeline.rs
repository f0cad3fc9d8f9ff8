//! `counter semaphore --timeline FILE.svg`: the semaphore's lesson as a picture. Each worker
//! appends its events (waits, enters with permit I, leaves) to a shared events file, one
//! short line per write (appends of a line are not interleaved); the launcher then draws,
//! per worker, when it waited and when it was inside, and below, how many were inside
//! over time against the line at K, so "never more than K inside" is something you see.

use common::cli::Result;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends one event: `MICROS KIND WORKER PERMIT` (PERMIT `-` when none).
pub fn record(events: &Path, worker: usize, kind: &str, permit: Option<usize>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let permit = permit.map_or("-".to_owned(), |p| p.to_string());
    let line = format!("{now} {kind} {worker} {permit}\n");
    // One write with O_APPEND; a lost event only thins the picture, never fails the run.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(events)
    {
        let _ = f.write_all(line.as_bytes());
    }
}

struct Event {
    t: u128,
    kind: String,
    worker: usize,
    permit: Option<usize>,
}

/// Draws the SVG from the events file.
pub fn draw(events: &Path, svg: &Path, permits: u64) -> Result<()> {
    let text = std::fs::read_to_string(events).map_err(|e| {
        format!(
            "cannot read the timeline's events {}: {e}",
            events.display()
        )
    })?;
    let mut ev: Vec<Event> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some(Event {
                t: w.next()?.parse().ok()?,
                kind: w.next()?.to_owned(),
                worker: w.next()?.parse().ok()?,
                permit: w.next()?.parse().ok(),
            })
        })
        .collect();
    ev.sort_by_key(|e| e.t);
    let (Some(first), Some(last)) = (ev.first(), ev.last()) else {
        return Err("no events were recorded for the timeline".into());
    };
    let (t0, span) = (first.t, (last.t - first.t).max(1) as f64);
    let workers = ev.iter().map(|e| e.worker).max().unwrap_or(0) + 1;
    let (left, width, row) = (90.0, 760.0, 18.0);
    let x = |t: u128| left + (t - t0) as f64 / span * width;
    let graph_top = 40.0 + row * workers as f64 + 20.0;
    let graph_h = 100.0;
    let height = graph_top + graph_h + 50.0;
    let palette = [
        "#e15759", "#4e79a7", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948",
    ];
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="14">counter semaphore: {workers} workers, {permits} permits; grey: waiting, coloured: inside (colour = permit)</text>
"##,
        w = left + width + 30.0
    );
    // Per worker: from its wait to its entry (grey), from its entry to its leaving.
    let mut waiting: Vec<Option<u128>> = vec![None; workers];
    let mut inside: Vec<Option<(u128, usize)>> = vec![None; workers];
    let mut level = Vec::new(); // (t, how many inside after it)
    let mut now_inside = 0i64;
    for e in &ev {
        let y = 40.0 + row * e.worker as f64;
        match e.kind.as_str() {
            "wait" => waiting[e.worker] = Some(e.t),
            "enter" => {
                if let Some(w) = waiting[e.worker].take() {
                    let _ = writeln!(
                        s,
                        r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="#cccccc"/>"##,
                        x(w),
                        (x(e.t) - x(w)).max(0.5),
                        row - 4.0
                    );
                }
                inside[e.worker] = Some((e.t, e.permit.unwrap_or(0)));
                now_inside += 1;
                level.push((e.t, now_inside));
            }
            "leave" => {
                if let Some((t, p)) = inside[e.worker].take() {
                    let _ = writeln!(
                        s,
                        r##"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>worker {} inside with permit {p}</title></rect>"##,
                        x(t),
                        (x(e.t) - x(t)).max(0.5),
                        row - 4.0,
                        palette[p % palette.len()],
                        e.worker
                    );
                }
                now_inside -= 1;
                level.push((e.t, now_inside));
            }
            _ => {}
        }
    }
    for wk in 0..workers {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">worker {wk}</text>"##,
            left - 6.0,
            40.0 + row * wk as f64 + row - 7.0
        );
    }
    // How many inside over time, and the line at K.
    let top = i64::try_from(permits).unwrap_or(i64::MAX).max(1) + 1;
    let gy = |n: i64| graph_top + graph_h - n as f64 / top as f64 * graph_h;
    let mut path = format!("M{left:.1},{:.1}", gy(0));
    let mut prev = 0;
    for (t, n) in &level {
        let _ = write!(
            path,
            " L{:.1},{:.1} L{:.1},{:.1}",
            x(*t),
            gy(prev),
            x(*t),
            gy(*n)
        );
        prev = *n;
    }
    let peak = level.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{k:.1}" x2="{r:.1}" y2="{k:.1}" stroke="#e15759" stroke-dasharray="5,3"/>
<text x="{r:.1}" y="{ky:.1}" text-anchor="end" fill="#e15759">K = {permits}</text>
<path d="{path}" fill="none" stroke="#4e79a7" stroke-width="1.5"/>
<text x="{lt:.1}" y="{gm:.1}" text-anchor="end">inside</text>
<text x="{left}" y="{bottom:.1}">0 s</text>
<text x="{r:.1}" y="{bottom:.1}" text-anchor="end">{secs:.3} s</text>
<text x="{left}" y="{note:.1}">at most {peak} inside at once</text>
</svg>
"##,
        k = gy(i64::try_from(permits).unwrap_or(0)),
        ky = gy(i64::try_from(permits).unwrap_or(0)) - 4.0,
        r = left + width,
        lt = left - 6.0,
        gm = graph_top + graph_h / 2.0,
        bottom = graph_top + graph_h + 16.0,
        note = graph_top + graph_h + 34.0,
        secs = span / 1e6,
    );
    std::fs::write(svg, s).map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    Ok(())
}
