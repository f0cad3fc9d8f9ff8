//! The consumers' lines read back (the pipe's and the queue's), and the scenarios the queue
//! passes whoever keeps it: the broker (`broker/tests/queue.rs`) and Redis
//! (`consumer/tests/redis.rs`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use crate::proc::{Finished, Proc, spawn_with};
use std::collections::{BTreeMap, BTreeSet};

/// An item: its producer's name and its number.
pub type Item = (String, u64);

/// Every `CONSUMER ate baozi SEQ from PRODUCER` line (ours and the Python example
/// consumer's): item -> how many times it was eaten, and the set of those marked as
/// redeliveries.
pub fn eaten(outputs: &[&str]) -> (BTreeMap<Item, u32>, BTreeSet<Item>) {
    let mut times = BTreeMap::new();
    let mut redelivered = BTreeSet::new();
    for line in outputs.iter().flat_map(|o| o.lines()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["ate", "baozi", seq, "from", producer, ..] = words[1..] {
            let key = (producer.to_string(), seq.parse::<u64>().unwrap());
            *times.entry(key.clone()).or_insert(0) += 1;
            if line.contains("(redelivered, attempt ") {
                redelivered.insert(key);
            }
        }
    }
    (times, redelivered)
}

/// Asserts that every item of every producer was eaten at least once and nothing else was.
#[track_caller]
pub fn all_eaten(times: &BTreeMap<Item, u32>, producers: &[&str], n: u64) {
    for p in producers {
        for seq in 0..n {
            assert!(
                times.contains_key(&(p.to_string(), seq)),
                "baozi {seq} from {p} was never eaten"
            );
        }
    }
    assert_eq!(times.len() as u64, producers.len() as u64 * n, "{times:?}");
}

/// The tutorial's queue, 3 producers of 1,000 baozi and 2 consumers (`c1`, `c2`), all at
/// once over `addr`: every producer ends with `sent 1000 baozi to {sent_to}`, every consumer
/// succeeds, and every item is eaten exactly once, none redelivered. `consumer_args` are
/// added to each consumer's. With a `broker`, the producers start once it has let both
/// consumers in (else one may eat the whole run before the other joins, and find the run
/// over). Returns the consumers, for the keeper's own checks (the totals line: the
/// broker's, or each consumer's with Redis).
#[track_caller]
pub fn three_producers_two_consumers(
    addr: &str,
    consumer_args: &[&str],
    sent_to: &str,
    broker: Option<&Proc>,
) -> Vec<Finished> {
    let consumers: Vec<Proc> = ["c1", "c2"]
        .iter()
        .map(|c| {
            let args: Vec<&str> = [addr, "--name", c]
                .into_iter()
                .chain(consumer_args.iter().copied())
                .collect();
            spawn_with("consumer", &args)
        })
        .collect();
    if let Some(b) = broker {
        // Lines are read in order, and either may join first.
        for _ in 0..2 {
            b.wait_for_stderr(") joined on ");
        }
    }
    let producers: Vec<Proc> = ["p1", "p2", "p3"]
        .iter()
        .map(|p| spawn_with("producer", &[addr, "-n", "1000", "--name", p]))
        .collect();
    for p in producers {
        p.finish()
            .success()
            .stderr_has(&format!("sent 1000 baozi to {sent_to}"));
    }
    let c: Vec<Finished> = consumers
        .into_iter()
        .map(|c| c.finish().success())
        .collect();
    let (times, redelivered) = eaten(&[&c[0].stdout, &c[1].stdout]);
    all_eaten(&times, &["p1", "p2", "p3"], 1000);
    assert!(times.values().all(|&n| n == 1), "nothing was eaten twice");
    assert!(redelivered.is_empty());
    c
}

/// Asserts that `stdout` (a consumer's) has the line `CONSUMER ate baozi I from
/// PRODUCER` (with ` (SIZE bytes)` after it for items with a payload) for every I below
/// `n`, in any order, and no other item from that producer.
#[track_caller]
pub fn expect_items(stdout: &str, consumer: &str, producer: &str, n: u64) {
    for i in 0..n {
        let line = format!("{consumer} ate baozi {i} from {producer}");
        assert!(
            stdout.lines().any(|l| l
                .strip_prefix(&line)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(" ("))),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains(&format!("from {producer}")))
            .count() as u64,
        n,
        "{stdout}"
    );
}

/// `broker ADDRESS EXTRA...`, started, and the address its ready line names (the real port
/// where ADDRESS asked for port 0).
pub fn broker(addr: &str, extra: &[&str]) -> (Proc, String) {
    let mut c = crate::cmd("broker");
    c.arg(addr).args(extra).stdin(std::process::Stdio::null());
    let p = Proc::spawn(c, crate::Capture::Both);
    let actual = p.wait_ready();
    (p, actual)
}

/// A `local:` address no other test uses.
pub fn local(tag: &str) -> String {
    format!("local:{}", crate::unique(tag))
}
