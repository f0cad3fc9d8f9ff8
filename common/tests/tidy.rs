//! ARCHITECTURE.md's rules about the sources, checked on every source file of the product
//! crates, found by walking their folders (as rust-analyzer's `xtask/src/tidy.rs` does), so
//! a new file cannot escape a rule by not being on a list. What Cargo can enforce (`ipc`
//! imports nothing of `common`; only producer and consumer depend on Redis) it does, through
//! the crates' dependencies.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The crates whose `src/` is product code, as folders of the workspace.
const PRODUCT: [&str; 9] = [
    "ipc", "common", "redisq", "producer", "consumer", "broker", "server", "client", "counter",
];

/// Every `.rs` file under `dir`, as (path relative to the workspace, text).
fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn product_sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut out = Vec::new();
    for krate in PRODUCT {
        sources(&root.join(krate).join("src"), root, &mut out);
    }
    assert!(
        out.iter().any(|(f, _)| f == "ipc/src/transport/mod.rs")
            && out.iter().any(|(f, _)| f == "counter/src/main.rs"),
        "the walk missed the workspace's sources"
    );
    out
}

/// The source without its comments (`//` to the end of the line), so that prose may name
/// what code may not use. Good enough for our sources: no string holds a `//` that matters.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// ARCHITECTURE.md: `unsafe` only in `ipc/src/segment.rs` (the mapping as atomic words),
/// `ipc/src/transport/ring/memory.rs` (shm:'s mapping as atomics, and its byte copies) and
/// `ipc/src/transport/windows.rs` (Win32 calls). The workspace's lints deny `unsafe_code`,
/// so only an explicit allow can let it in.
#[test]
fn unsafe_is_allowed_in_three_files_only() {
    const MAY: [&str; 3] = [
        "ipc/src/segment.rs",
        "ipc/src/transport/ring/memory.rs",
        "ipc/src/transport/windows.rs",
    ];
    for (file, text) in product_sources() {
        if !MAY.contains(&file.as_str()) {
            assert!(
                !code(&text).contains("allow(unsafe_code)"),
                "{file} allows unsafe"
            );
        }
    }
}

/// ARCHITECTURE.md: people read whole lines, and a closed output never panics: every program
/// writes through `ipc::say` (`elog!`, `out_line`), never `eprintln!`/`println!`.
#[test]
fn programs_print_only_through_say() {
    for (file, text) in product_sources() {
        let text = code(&text);
        for bad in ["eprintln!(", "println!(", "eprint!(", "print!("] {
            assert!(!text.contains(bad), "{file} uses {bad}");
        }
    }
}

/// ARCHITECTURE.md: the leaves import nothing of their crate, and nothing but the programs
/// imports `common::cli`, the top.
#[test]
fn leaves_import_nothing_and_only_programs_import_cli() {
    const LEAVES: [&str; 4] = [
        "ipc/src/units.rs",
        "ipc/src/say.rs",
        "ipc/src/addr.rs",
        "common/src/svg.rs",
    ];
    for (file, text) in product_sources() {
        let text = code(&text).replace("$crate::", ""); // a macro naming its own crate
        let leaf = LEAVES.contains(&file.as_str()) || file.starts_with("common/src/msg/");
        if leaf {
            let own = text.replace("crate::msg", ""); // msg's files may name each other
            assert!(
                !own.contains("crate::"),
                "{file} is a leaf but imports from its crate"
            );
        }
        if file.starts_with("common/src/") && file != "common/src/cli.rs" {
            assert!(!text.contains("crate::cli"), "{file} imports cli");
        }
    }
}

/// ARCHITECTURE.md: one module knows each outside format. A crate's name in code outside its
/// one home (a file, or a folder ending in `/`) means that knowledge has leaked.
#[test]
fn each_outside_format_has_one_home() {
    let homes: [(&str, &[&str]); 5] = [
        // Redis keys, commands and scripts
        ("redis::", &["redisq/src/"]),
        // the wire format
        ("postcard::", &["common/src/wire.rs"]),
        // the mapping
        (
            "memmap2::",
            &["ipc/src/segment.rs", "ipc/src/transport/ring/memory.rs"],
        ),
        // local sockets and named pipes
        (
            "interprocess::",
            &["ipc/src/transport/local.rs", "ipc/src/transport/windows.rs"],
        ),
        // Win32
        (
            "windows_sys::",
            &["ipc/src/transport/windows.rs", "ipc/src/lock.rs"],
        ),
    ];
    for (file, text) in product_sources() {
        let text = code(&text);
        for (name, home) in homes {
            let at_home = home
                .iter()
                .any(|h| file == *h || (h.ends_with('/') && file.starts_with(h)));
            assert!(
                at_home || !names_crate(&text, name),
                "{file} uses {name}, which only {home:?} may"
            );
        }
    }
}

/// Whether `text` names the outside crate `name` (`redis::`), not a path ending in it
/// (`crate::redis::`).
fn names_crate(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c == ':' || c == '_' || c.is_alphanumeric())
    })
}

/// ARCHITECTURE.md: product source files stay readable in one sitting.
#[test]
fn product_files_stay_under_700_lines() {
    for (file, text) in product_sources() {
        let n = text.lines().count();
        assert!(n <= 700, "{file} has {n} lines; split it by job");
    }
}
