//! The semaphore, end to end: at most K of many worker processes inside at once (a gauge in
//! the segment proves it), and a permit whose holder is killed with `kill -9` comes back.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod support;

use support::Paths;
use support::{counter, counter_words, spawn};
use testkit::{run, unique};

/// The `permits:` line of `counter show NAME`.
fn permits_line(name: &str) -> String {
    let out = run(counter(&["show", name])).success();
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("permits: "))
        .unwrap_or_else(|| panic!("no permits line in\n{}", out.stdout))
        .to_owned()
}

#[test]
fn twenty_workers_five_permits_never_more_than_five_inside() {
    let name = unique("sem-many");
    let out = run(counter_words(&format!(
        "semaphore --name {name} --workers 20 --permits 5 --stay 0..5ms --times 10"
    )))
    .success();
    assert_eq!(out.count_stdout(" enters with permit "), 200);
    assert_eq!(out.count_stdout(" leaves after "), 200);
    // The launcher read the max-inside gauge (kept under the segment's lock) and checked it.
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("200 entries by 20 workers; at most "))
        .unwrap_or_else(|| panic!("no summary in\n{}", out.stdout));
    let most: u64 = line
        .split("at most ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!((1..=5).contains(&most), "{line}");
    // Every enter line says how many were inside then; never more than 5.
    for l in out
        .stdout
        .lines()
        .filter(|l| l.contains(" enters with permit "))
    {
        let n: u64 = l
            .rsplit(": ")
            .next()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=5).contains(&n), "{l}");
    }
    assert!(!Paths::new(&name).unwrap().data.exists());
}

#[test]
fn the_tutorials_demo_thirteen_workers_five_permits() {
    let name = unique("sem-demo");
    let out = run(counter_words(&format!(
        "semaphore --name {name} --stay 0..20ms"
    )))
    .success();
    assert_eq!(out.count_stdout(" enters with permit "), 13);
    out.stdout_has("13 entries by 13 workers")
        .stdout_has("(permits 5)");
}

#[test]
fn a_permit_held_by_a_killed_process_comes_back() {
    let name = unique("sem-kill");
    run(counter(&["init", &name, "--permits", "1", "--value", "0"])).success();
    let mut holder = spawn(&["enter", &name, "--stay", "60s"]);
    holder.wait_for_stdout("enters with permit 0");
    let waiter = spawn(&["enter", &name, "--stay", "0s"]);
    waiter.wait_for_stdout("waits for a permit");
    holder.kill();
    let out = waiter.finish().success();
    out.stdout_has("permit 0 came back from a holder that died inside")
        .stdout_has("enters with permit 0, after waiting: 1 inside");
    holder.finish();
    assert_eq!(
        permits_line(&name),
        "1 (inside 0, at most 1 at once, 2 entries, 1 reclaimed)"
    );
    run(counter(&["clean", &name])).success();
}

#[test]
fn show_takes_back_a_permit_whose_holder_died() {
    let name = unique("sem-show");
    run(counter(&["init", &name, "--permits", "2"])).success();
    let mut holder = spawn(&["enter", &name, "--stay", "60s"]);
    holder.wait_for_stdout("enters with permit");
    assert!(permits_line(&name).starts_with("2 (inside 1,"));
    holder.kill();
    holder.finish();
    let out = run(counter(&["show", &name])).success();
    out.stderr_has("came back from a holder that died inside")
        .stdout_has("permits: 2 (inside 0, at most 1 at once, 1 entry, 1 reclaimed)");
    run(counter(&["clean", &name]))
        .success()
        .stdout_has("permit-1");
}

#[test]
fn show_of_a_semaphore_shows_no_count() {
    let name = unique("sem-showonly");
    run(counter(&["init", &name, "--permits", "2"]))
        .success()
        .stdout_has("no count");
    run(counter(&["enter", &name, "--stay", "0s"])).success();
    let out = run(counter(&["show", &name])).success();
    for meaningless in ["count:", "initial:", "expected:", "completed:"] {
        assert!(!out.stdout.contains(meaningless), "{}", out.stdout);
    }
    out.stdout_has("workers: 1 (1 finished; 1024 slots)")
        .stdout_has("permits: 2 (inside 0, at most 1 at once, 1 entry, 0 reclaimed)");
    // Nor can `work` use a count that is not there.
    run(counter(&["work", &name]))
        .failure()
        .stderr_has("has permits only, no count");
    run(counter(&["clean", &name])).success();

    // Both, when asked for both.
    let name = unique("sem-both");
    run(counter(&["init", &name, "--permits", "1", "--value", "3"])).success();
    run(counter(&["show", &name]))
        .success()
        .stdout_has("count: 3")
        .stdout_has("permits: 1 (");
    run(counter(&["clean", &name])).success();
}

#[test]
fn enter_needs_a_segment_with_permits() {
    let name = unique("sem-none");
    run(counter(&["init", &name])).success();
    run(counter(&["enter", &name]))
        .failure()
        .stderr_has("has no permits")
        .stderr_has("--permits K");
    run(counter(&["clean", &name])).success();
}

#[test]
fn the_timeline_shows_every_stay_and_never_more_than_k_inside() {
    let dir = testkit::temp_dir("sem-timeline");
    let svg = dir.join("t.svg");
    let svg_arg = svg.display().to_string();
    run(counter_words(&format!(
        "semaphore --workers 6 --permits 2 --stay 10ms..40ms --timeline {svg_arg}"
    )))
    .success()
    .stderr_has("timeline drawn in");
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(doc.root_element().has_tag_name("svg"), "{text}");
    let stays = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("inside"))
        .count();
    assert_eq!(stays, 6, "{text}");
    // The lower plot's scale: 0, 1, 2 (K) and 3, each numbered.
    let ticks: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("class") == Some("y-tick"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(ticks, ["0", "1", "2", "3"], "{text}");
    // How many overlapped depends on how fast the workers started (under wine, slowly
    // enough that none may have): the picture's peak is at least 1 and never above K.
    let peak: u64 = text
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak in the picture: {text}"));
    assert!((1..=2).contains(&peak), "{text}");
}

#[test]
fn quiet_prints_no_line_per_entry_but_the_totals() {
    let out = run(counter_words(
        "semaphore --workers 4 --permits 2 --stay 0s --times 50 -q",
    ))
    .success()
    .stdout_has("200 entries by 4 workers; at most ");
    for chatter in ["enters with permit", "waits for a permit", "leaves after"] {
        assert!(!out.stdout.contains(chatter), "{}", out.stdout);
    }
}

// ---- Unix only ----

/// Tests that cannot run on Windows, whatever they check: Ctrl-C and other signals sent
/// with `kill` (on Windows, scripts/test-windows.sh checks Ctrl-C from the Linux side).
#[cfg(unix)]
mod unix_only {
    use super::*;
    use support::said_once_by_the_launcher;
    use support::spawn_words;

    #[test]
    fn ctrl_c_stops_the_semaphore_launcher_and_its_workers_and_removes_every_file() {
        let name = unique("sem-int");
        let l = spawn_words(&format!(
            "semaphore --name {name} --workers 3 --permits 1 --stay 60s"
        ));
        l.wait_for_stderr("3 workers started");
        l.wait_for_stdout("enters with permit 0");
        l.wait_for_stdout("waits for a permit");
        l.interrupt();
        // finish() also waits for the workers: they share the launcher's stdout.
        let out = l
            .finish_within(std::time::Duration::from_secs(20))
            .code(130)
            .stderr_has("counter: interrupted");
        said_once_by_the_launcher(&out);
        let p = Paths::new(&name).unwrap();
        for f in [p.data.clone(), p.lock.clone(), p.permit(0)] {
            assert!(!f.exists(), "{} was left behind", f.display());
        }
    }
}

/// `counter enter` stopped by Ctrl-C while inside leaves: its permit comes back as a
/// leaving, not as a death (no "died inside", nothing reclaimed).
#[cfg(unix)]
#[test]
fn a_holder_stopped_by_ctrl_c_leaves_and_is_not_counted_dead() {
    let name = unique("sem-ctrlc");
    run(counter(&["init", &name, "--permits", "1", "--value", "0"])).success();
    let holder = spawn(&["enter", &name, "--stay", "60s"]);
    holder.wait_for_stdout("enters with permit 0");
    let waiter = spawn(&["enter", &name, "--stay", "0s"]);
    waiter.wait_for_stdout("waits for a permit");
    holder.interrupt();
    holder
        .finish_within(std::time::Duration::from_secs(5))
        .code(130)
        .stdout_has("leaves after ")
        .stdout_has(", stopped: 0 inside");
    let out = waiter.finish().success();
    assert!(!out.stdout.contains("died inside"), "{}", out.stdout);
    assert_eq!(
        permits_line(&name),
        "1 (inside 0, at most 1 at once, 2 entries, 0 reclaimed)"
    );
    run(counter(&["clean", &name])).success();
}

/// `counter list` names the segments there are, from their headers.
#[test]
fn list_names_the_segments() {
    let name = unique("sem-list");
    run(counter(&["init", &name, "--permits", "2"])).success();
    let out = run(counter(&["list"])).success();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with(&format!("{name}: ")) && l.ends_with(", 2 permits")),
        "{}",
        out.stdout
    );
    run(counter(&["clean", &name])).success();
    let out = run(counter(&["list"])).success();
    assert!(!out.stdout.contains(&name), "{}", out.stdout);
}
