//! The count in shared memory, end to end: real `counter` processes, the launcher and the
//! by-hand steps, lost updates without the lock, exact accounting after `kill -9`, and a
//! refused wrong file. Each test uses its own segment name.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod support;

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::Paths;
use support::{clean_once_idle, counter, counter_words, spawn, spawn_words};
use testkit::{Proc, run, unique};

/// `counter show NAME` as (key, value) pairs: `count: 12` gives ("count", "12").
fn show(name: &str) -> Vec<(String, String)> {
    let out = run(counter(&["show", name])).success();
    out.stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn field(shown: &[(String, String)], key: &str) -> String {
    shown
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {key:?} in {shown:?}"))
}

/// The first number in a field: `completed: 8 (by 3 workers ...)` gives 8.
fn number(shown: &[(String, String)], key: &str) -> i64 {
    let v = field(shown, key);
    v.split_whitespace().next().unwrap().parse().unwrap()
}

/// The final count line: (final, expected).
fn final_count(stdout: &str) -> (i64, i64) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("final count "))
        .unwrap_or_else(|| panic!("no final count in\n{stdout}"));
    let nums: Vec<i64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '-'))
        .filter_map(|t| t.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn segment_files(name: &str) -> Vec<std::path::PathBuf> {
    let p = Paths::new(name).unwrap();
    vec![p.data.clone(), p.lock.clone(), p.permit(0)]
}

fn assert_gone(name: &str) {
    for f in segment_files(name) {
        assert!(!f.exists(), "{} was left behind", f.display());
    }
}

#[test]
fn the_tutorials_demo_twenty_workers_one_decrement_each() {
    let name = unique("cnt-demo");
    let out = run(counter(&["run", "--name", &name])).success();
    assert_eq!(final_count(&out.stdout), (0, 0), "{}", out.stdout);
    assert_eq!(out.count_stdout("counter minus one, now"), 20);
    // Printed under the lock: every value from 19 down to 0 exactly once, in order.
    let values: Vec<i64> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once("counter minus one, now "))
        .map(|(_, v)| v.parse().unwrap())
        .collect();
    assert_eq!(values, (0..20).rev().collect::<Vec<_>>());
    assert!(out.stderr.contains("decrements/s"), "{}", out.stderr);
    assert_gone(&name);
}

#[test]
fn many_decrements_under_the_lock_are_exact() {
    let name = unique("cnt-many");
    let out = run(counter_words(&format!(
        "run --name {name} --workers 8 --decrements 250 --value 2000 -q"
    )))
    .success();
    assert_eq!(final_count(&out.stdout), (0, 0), "{}", out.stdout);
    assert!(!out.stdout.contains("lost"), "{}", out.stdout);
    assert_gone(&name);
}

#[test]
fn without_the_lock_the_accounting_still_adds_up() {
    // Whether updates get lost is up to the scheduler; what is printed must add up:
    // final == initial - completed + lost, and "lost N" appears exactly when N > 0.
    let name = unique("cnt-none");
    let out = run(counter_words(&format!(
        "run --name {name} --workers 8 --decrements 250 --value 2000 --lock none -q"
    )))
    .success();
    let (fin, expected) = final_count(&out.stdout);
    assert_eq!(expected, 0, "all 2000 decrements completed\n{}", out.stdout);
    let lost = fin - expected;
    assert!(lost >= 0, "{}", out.stdout);
    if lost > 0 {
        let noun = if lost == 1 { "update" } else { "updates" };
        out.stdout_has(&format!("lost {lost} {noun}: "));
    } else {
        assert!(!out.stdout.contains("lost"), "{}", out.stdout);
    }
    assert_gone(&name);
}

#[test]
fn by_hand_init_work_show_clean() {
    let name = unique("cnt-hand");
    run(counter(&["init", &name, "--value", "10"]))
        .success()
        .stdout_has("count 10");
    let w = run(counter(&["work", &name, "--decrements", "4"])).success();
    for now in 6..10 {
        let line = format!("counter minus one, now {now}");
        assert!(w.stdout.contains(&line), "{}", w.stdout);
    }
    run(counter_words(&format!(
        "work {name} --decrements 6 --pause 1ms"
    )))
    .success();
    let s = show(&name);
    assert_eq!(number(&s, "count"), 0);
    assert_eq!(number(&s, "initial"), 10);
    assert_eq!(
        field(&s, "completed"),
        "10 (by 2 workers, 2 finished; 1024 slots)"
    );
    assert_eq!(field(&s, "expected"), "0 (exact)");
    run(counter(&["init", &name]))
        .failure()
        .stderr_has("already exists")
        .stderr_has(&format!("counter clean {name}"));
    run(counter(&["clean", &name]))
        .success()
        .stdout_has("removed");
    assert_gone(&name);
    run(counter(&["show", &name]))
        .failure()
        .stderr_has("no segment named");
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("no segment named");
}

#[test]
fn bad_names_are_usage_errors_that_say_what_is_accepted() {
    for bad in ["a/b", "a\\b", "", "..", "x y", "x.lock", "x.permit-0"] {
        run(counter(&["show", bad]))
            .code(2)
            .stderr_has("letters, digits, '-' or '_'");
    }
}

#[test]
fn a_file_that_is_not_a_segment_is_refused() {
    let name = unique("cnt-wrong");
    let paths = Paths::new(&name).unwrap();
    std::fs::write(&paths.data, vec![b'x'; 4096]).unwrap();
    run(counter(&["work", &name]))
        .failure()
        .stderr_has("not a baozi-ipc segment")
        .stderr_has("wrong magic number");
    std::fs::write(&paths.data, b"short").unwrap();
    run(counter(&["show", &name]))
        .failure()
        .stderr_has("shorter than a segment header");
    std::fs::remove_file(&paths.data).unwrap();

    // A real segment, truncated.
    run(counter(&["init", &name])).success();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&paths.data)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - 64).unwrap();
    drop(f);
    run(counter(&["show", &name]))
        .failure()
        .stderr_has("not a baozi-ipc segment")
        .stderr_has("truncated");
    // Not a segment any more: clean refuses it, and says how to force it.
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("not a baozi-ipc segment")
        .stderr_has(&format!("`counter clean {name} --force`"));
    assert!(paths.data.exists());
    run(counter(&["clean", &name, "--force"])).success();
    assert_gone(&name);
}

/// A random choice of `k` of `0..n`, different each run.
fn pick(n: usize, k: usize) -> Vec<usize> {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut all: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        all.swap(i, (x % (i as u64 + 1)) as usize);
    }
    all.truncate(k);
    all
}

#[test]
fn kill_9_of_random_workers_mid_run_keeps_the_count_exact() {
    let name = unique("cnt-kill");
    let initial = 1_000_000;
    run(counter(&["init", &name, "--value", &initial.to_string()])).success();
    let per = 2000;
    let mut workers: Vec<Option<Proc>> = (0..6)
        .map(|_| {
            Some(spawn(&[
                "work",
                &name,
                "--decrements",
                &per.to_string(),
                "--pause",
                "200us",
            ]))
        })
        .collect();
    // Every worker is mid-run once it printed a decrement.
    for w in workers.iter().flatten() {
        w.wait_for_stdout("counter minus one");
    }
    let victims = pick(workers.len(), 3);
    for &v in &victims {
        workers[v].as_mut().unwrap().kill();
    }
    for (i, w) in workers.into_iter().enumerate() {
        let w = w.unwrap();
        if victims.contains(&i) {
            let f = w.finish();
            assert!(!f.status.success(), "victim {i} was not killed");
        } else {
            w.finish().success();
        }
    }
    let s = show(&name);
    let (count, completed) = (number(&s, "count"), number(&s, "completed"));
    assert_eq!(count, initial - completed, "{s:?}");
    assert_eq!(field(&s, "expected"), format!("{count} (exact)"));
    // The survivors finished; each victim got at least one decrement in, not all of them.
    assert!(completed > 3 * per && completed < 6 * per, "{s:?}");

    // The lock still works: one more worker gets through.
    run(counter(&["work", &name, "--decrements", "10", "-q"])).success();
    let s = show(&name);
    assert_eq!(number(&s, "count"), count - 10);
    assert_eq!(number(&s, "completed"), completed + 10);
    run(counter(&["clean", &name])).success();
}

#[test]
fn kill_9_inside_the_lock_is_undone_and_the_lock_comes_back() {
    let name = unique("cnt-undo");
    run(counter(&["init", &name, "--value", "50"])).success();
    // Worker 0 stores 49, then lingers inside the lock before recording the decrement.
    let mut a = spawn(&["work", &name, "--decrements", "5", "--linger", "60s"]);
    a.wait_for_stderr("lingering inside the lock");
    let b = spawn(&["work", &name, "--decrements", "3"]);
    a.kill();
    let b = b
        .finish()
        .success()
        .stderr_has("undid a decrement left half-done by worker 0");
    for now in [49, 48, 47] {
        let line = format!("counter minus one, now {now}");
        assert!(b.stdout.contains(&line), "{}", b.stdout);
    }
    a.finish();
    let s = show(&name);
    assert_eq!(number(&s, "count"), 47, "{s:?}");
    assert_eq!(field(&s, "expected"), "47 (exact)");
    assert_eq!(number(&s, "completed"), 3, "{s:?}");
    run(counter(&["clean", &name])).success();
}

#[test]
fn a_killed_launchers_segment_is_removed_by_clean() {
    let name = unique("cnt-orphan");
    let mut l = spawn_words(&format!(
        "run --name {name} --workers 2 --decrements 100000 --pause 1ms"
    ));
    // Only once every worker runs: a launcher killed half-way through starting one can
    // leave that one stuck in its start-up under wine.
    l.wait_for_stderr("2 workers started");
    l.wait_for_stdout("counter minus one");
    l.kill();
    // Its workers notice (their stdin closes) and stop, which closes the output pipe.
    let f = l.finish_within(Duration::from_secs(20));
    assert!(!f.status.success());
    assert!(Paths::new(&name).unwrap().data.exists());
    let out = clean_once_idle(&name).success();
    assert_eq!(out.count_stdout("removed"), 2, "{}", out.stdout);
    assert_gone(&name);
}

#[test]
fn one_of_a_thing_is_singular() {
    let name = unique("cnt-one");
    let out = run(counter(&["run", "--name", &name, "--workers", "1"])).success();
    out.stderr_has("1 worker x 1 decrement,")
        .stderr_has("counter: 1 worker started")
        .stderr_has("counter: 1 decrement by 1 worker in");
    let name = unique("cnt-one-hand");
    run(counter(&["init", &name, "--value", "1", "--slots", "1"])).success();
    run(counter(&["work", &name])).success();
    let out = run(counter(&["show", &name, "--workers"])).success();
    out.stdout_has("completed: 1 (by 1 worker, 1 finished; 1 slot)")
        .stdout_has("worker 0: pid ")
        .stdout_has(", 1 decrement, finished");
    run(counter(&["clean", &name])).success();
}

#[test]
fn every_subcommands_help_has_examples() {
    for sub in ["run", "semaphore", "init", "work", "enter", "show", "clean"] {
        run(counter(&[sub, "--help"]))
            .success()
            .stdout_has("Examples:")
            .stdout_has(&format!("counter {sub}"));
    }
    run(counter(&["init", "--help"]))
        .success()
        .stdout_has("--shared-with-group")
        .stdout_has("0600");
    run(counter(&["clean", "--help"]))
        .success()
        .stdout_has("--force");
}

#[test]
fn a_launcher_whose_output_reader_is_gone_still_finishes_its_work() {
    // `counter run 2>&1 | head -1`, with the reader gone before the first line.
    let name = unique("cnt-pipe");
    let (rd, wr) = std::io::pipe().unwrap();
    drop(rd);
    let status = counter_words(&format!("run --workers 4 --decrements 50 --name {name}"))
        .stdin(Stdio::null())
        .stdout(wr.try_clone().unwrap())
        .stderr(wr)
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    assert_gone(&name);
}

// ---- Unix only ----

/// Tests that cannot run on Windows, whatever they check: Ctrl-C and other signals sent
/// with `kill` (on Windows, scripts/test-windows.sh checks Ctrl-C from the Linux side).
#[cfg(unix)]
mod unix_only {
    use super::*;
    use support::said_once_by_the_launcher;

    #[test]
    fn ctrl_c_stops_the_launcher_and_its_workers_and_removes_the_segment() {
        let name = unique("cnt-int");
        let l = spawn_words(&format!(
            "run --name {name} --workers 3 --decrements 100000 --pause 1ms"
        ));
        l.wait_for_stderr("3 workers started");
        l.wait_for_stdout("counter minus one");
        let t = std::time::Instant::now();
        l.interrupt();
        // finish() also waits for the workers: they share the launcher's stdout.
        let out = l
            .finish_within(Duration::from_secs(20))
            .code(130)
            .stderr_has("counter: interrupted");
        said_once_by_the_launcher(&out);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        assert_gone(&name);
    }
}
