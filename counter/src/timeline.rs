//! `counter semaphore --timeline FILE.svg`: the semaphore's lesson as a picture. Each worker
//! appends its events (waits, enters with permit I, leaves) to a shared events file, one
//! short line per write (appends of a line are not interleaved); the launcher then draws,
//! per worker, when it waited and when it was inside, and below, how many were inside
//! over time against the line at K, so "never more than K inside" is something you see.

use common::cli::Result;
use common::svg::{ALARM, PALETTE, Svg};
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
    let mut s = Svg::new(left + width + 30.0, graph_top + graph_h + 60.0);
    s.text(
        left,
        20.0,
        "start",
        "font-size=\"14\"",
        &format!(
            "counter semaphore: {workers} workers, {permits} permits; grey: waiting, coloured: \
             inside (colour = permit)"
        ),
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
                    s.rect(x(w), y, x(e.t) - x(w), row - 4.0, "#cccccc", "wait", "");
                }
                inside[e.worker] = Some((e.t, e.permit.unwrap_or(0)));
                now_inside += 1;
                level.push((e.t, now_inside));
            }
            "leave" => {
                if let Some((t, p)) = inside[e.worker].take() {
                    s.rect(
                        x(t),
                        y,
                        x(e.t) - x(t),
                        row - 4.0,
                        PALETTE[p % PALETTE.len()],
                        "inside",
                        &format!("worker {} inside with permit {p}", e.worker),
                    );
                }
                now_inside -= 1;
                level.push((e.t, now_inside));
            }
            _ => {}
        }
    }
    for wk in 0..workers {
        let y = 40.0 + row * wk as f64 + row - 7.0;
        s.text(left - 6.0, y, "end", "", &format!("worker {wk}"));
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
    let (right, k) = (left + width, gy(i64::try_from(permits).unwrap_or(0)));
    s.line((left, k), (right, k), ALARM, "stroke-dasharray=\"5,3\"");
    let fill = format!("fill=\"{ALARM}\"");
    s.text(right, k - 4.0, "end", &fill, &format!("K = {permits}"));
    s.shape(
        &format!("path d=\"{path}\" fill=\"none\" stroke=\"#4e79a7\" stroke-width=\"1.5\""),
        "level",
        "",
    );
    // The count's scale: a tick and its number every `step` workers inside.
    let step = ((top + 4) / 5).max(1);
    for n in (0..=top).step_by(usize::try_from(step).unwrap_or(1)) {
        let y = gy(n);
        s.line((left - 4.0, y), (left, y), "#555555", "class=\"y-tick\"");
        s.text(
            left - 7.0,
            y + 4.0,
            "end",
            "class=\"y-tick\"",
            &n.to_string(),
        );
    }
    s.text(left - 24.0, graph_top + graph_h / 2.0, "end", "", "inside");
    s.time_axis(left, right, graph_top + graph_h + 4.0, span / 1e6);
    s.text(
        left,
        graph_top + graph_h + 44.0,
        "start",
        "",
        &format!("at most {peak} inside at once"),
    );
    std::fs::write(svg, s.finish()).map_err(|e| format!("cannot write {}: {e}", svg.display()))?;
    Ok(())
}
