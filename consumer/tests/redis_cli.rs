//! The README's way into the queue on Redis from any language, run as the page writes it:
//! the `redis-cli` lines of "From your own code" (the fenced block under "The queue, through
//! Redis"), read from README.md so that the page cannot drift from the programs, against a
//! `redis-server` of the test's own (its port and queue name swapped in, nothing else), then
//! our consumer with the README's arguments, which must eat exactly the items those lines
//! put, each once, and end by itself.
//!
//! Unix-only, like `redis.rs`: the lines are bash (`$'...\n'`), and redis-server and
//! redis-cli are the Linux machine's programs.
#![cfg(unix)]
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use testkit::redis::Redis;
use testkit::{Item, eaten, run, spawn_with as spawn, unique};

/// The README's recipe: its `redis-cli` lines, and the arguments of the consumer it runs.
struct Recipe {
    lines: Vec<String>,
    consumer: Vec<String>,
}

/// Reads the recipe from the README's "The queue, through Redis." paragraph: the `redis-cli`
/// lines of its first `sh` block, and the `consumer redis://...` command in the text after.
fn recipe() -> Recipe {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find("**The queue, through Redis.**")
        .expect("README.md has no paragraph \"**The queue, through Redis.**\"");
    let section = &readme[start..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("no ```sh block under \"The queue, through Redis.\"")
        .0;
    let lines: Vec<String> = block
        .lines()
        .filter(|l| l.starts_with("redis-cli "))
        .map(str::to_owned)
        .collect();
    let command = section
        .split('`')
        .find(|code| code.starts_with("consumer redis://"))
        .expect("no `consumer redis://...` command under \"The queue, through Redis.\"");
    Recipe {
        lines,
        consumer: command
            .split_whitespace()
            .skip(1)
            .map(str::to_owned)
            .collect(),
    }
}

/// The items the recipe's `XADD` lines put: `$'SEQ PID NAME\n...'`, the entry's field.
fn items_put(lines: &[String]) -> BTreeSet<Item> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some("XADD"))
        .map(|l| {
            let field = l
                .split_once("$'")
                .unwrap_or_else(|| panic!("no $'...' field in: {l}"))
                .1;
            let header = field.split("\\n").next().unwrap();
            let words: Vec<&str> = header.split_whitespace().collect();
            let [seq, _pid, name] = words[..] else {
                panic!("not SEQ PID NAME: {header:?} in {l}")
            };
            (name.to_owned(), seq.parse().unwrap())
        })
        .collect()
}

#[test]
fn the_readmes_redis_cli_lines_are_a_producer_our_consumer_eats_whole() {
    let recipe = recipe();
    let want = items_put(&recipe.lines);
    assert!(
        !want.is_empty() && recipe.lines.iter().any(|l| l.contains(":ends ")),
        "the README's recipe puts no item or never ends: {:?}",
        recipe.lines
    );
    let Some(r) = Redis::start() else { return };
    // The README's queue, from its consumer's address (redis://HOST:PORT/QUEUE), and ours.
    let theirs = recipe.consumer[0].rsplit('/').next().unwrap().to_owned();
    let q = unique("readme");

    // Every line as written; redis-cli is a function that adds our port and renames the
    // queue at the start of its key (`baozi`, `baozi:totals`, `baozi:ends`).
    let mut script = format!(
        "set -euo pipefail\nredis-cli() {{ command redis-cli -p {} \"$1\" \"${{2/#{theirs}/{q}}}\" \"${{@:3}}\"; }}\n",
        r.port
    );
    for line in &recipe.lines {
        script += line;
        script.push('\n');
    }
    let mut bash = Command::new("bash");
    bash.arg("-c").arg(&script);
    let out = run(bash).success();
    assert!(
        !out.stdout
            .lines()
            .any(|l| l.starts_with("ERR") || l.contains("WRONGTYPE")),
        "a line of the recipe was refused:\n{}",
        out.stdout
    );
    assert_eq!(r.number(&["XLEN", &q]), want.len() as i64, "{}", out.stdout);

    // Our consumer, with the README's arguments and our server's address.
    let mut args = recipe.consumer.clone();
    args[0] = r.addr(&q);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = spawn("consumer", &args).finish().success();
    let (times, redelivered) = eaten(&[&c.stdout]);
    let got: BTreeSet<Item> = times.keys().cloned().collect();
    assert_eq!(got, want, "{}", c.stdout);
    assert!(times.values().all(|&n| n == 1), "eaten twice: {times:?}");
    assert!(redelivered.is_empty(), "{redelivered:?}");
}
