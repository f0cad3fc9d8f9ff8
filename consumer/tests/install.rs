//! Installed like a real tool: the man pages that `--generate man` writes (no Markdown left
//! in them, and every page one names is there), and `scripts/install.sh` into a fresh home,
//! after which man-db finds the pages from PATH alone and the completions load.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test
#![cfg(unix)] // man pages and install.sh are for Unix; install.ps1 is Windows' twin

use std::path::Path;
use std::process::Command;
use testkit::{bin, cmd, run, temp_dir};

const PROGRAMS: [&str; 6] = [
    "producer", "consumer", "broker", "server", "client", "counter",
];

/// The pages a man page names, `NAME(1)`, as roff writes them (`counter\-run(1)`).
fn pages_named(page: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in page.match_indices("(1)") {
        let before = &page[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '\\'))
            .map_or(0, |i| i + 1);
        let name = before[start..].replace("\\-", "-");
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

fn pages_in(dir: &Path) -> Vec<(String, String)> {
    let mut pages: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "1"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn man_pages_have_no_backticks_and_name_only_pages_that_are_there() {
    let tmp = temp_dir("man-pages");
    let dir = tmp.join("man1");
    for program in PROGRAMS {
        let mut c = cmd(program);
        c.args(["--generate", "man"]).arg(&dir);
        run(c).success().stderr_has(&format!("{program}.1"));
    }
    let pages = pages_in(&dir);
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    // counter's subcommands have pages of their own; clap's help subcommand has none.
    for expected in ["counter-run", "counter-semaphore", "counter-clean"] {
        assert!(names.contains(&expected), "{expected}.1 missing: {names:?}");
    }
    assert!(!names.contains(&"counter-help"), "{names:?}");
    for (name, page) in &pages {
        assert!(!page.contains('`'), "{name}.1 has a backtick:\n{page}");
        for named in pages_named(page) {
            assert!(
                dir.join(format!("{named}.1")).exists(),
                "{name}.1 names {named}(1), which is not in {}",
                dir.display()
            );
        }
    }
    // The doc comments' code spans are bold, not lost: counter's description says `run`.
    let counter = &pages.iter().find(|(n, _)| n == "counter").unwrap().1;
    assert!(counter.contains("\\fBkill \\-9\\fR"), "{counter}");
    assert!(pages_named(counter).contains(&"counter-run".to_owned()));
}

/// man-db, the real one: `man --version` fails for a minimized system's stand-in.
fn man_db() -> bool {
    Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("manpath").arg("-q").output().is_ok()
}

#[test]
fn installed_pages_are_found_by_man_from_path_alone() {
    if !man_db() {
        eprintln!("skipped: man-db is not installed (scripts/test.sh installs it)");
        return;
    }
    let home = temp_dir("install-home");
    let build = bin("producer").parent().unwrap().to_owned();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut install = Command::new(root.join("scripts/install.sh"));
    for var in [
        "CARGO_HOME",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "BIN_DIR",
        "MAN_DIR",
        "DATA_DIR",
        "MANPATH",
    ] {
        install.env_remove(var);
    }
    install.env("HOME", &*home).env("BUILD_DIR", &build);
    let out = run(install)
        .success()
        .stdout_has("without that package, add to ~/.bashrc")
        .stdout_has("fpath=(")
        .stdout;

    let bin_dir = home.join(".cargo/bin");
    let man1 = home.join(".cargo/share/man/man1");
    assert!(out.contains(&man1.display().to_string()), "{out}");
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let pages = pages_in(&man1);
    assert!(pages.len() > PROGRAMS.len(), "{pages:?}"); // counter's subcommands too
    for (name, page) in &pages {
        // As `man NAME` looks it up: no MANPATH, only PATH (man-db maps BIN/../share/man).
        let mut man = Command::new("man");
        man.arg("-w")
            .arg(name)
            .env_remove("MANPATH")
            .env("HOME", &*home)
            .env("PATH", &path);
        let found = run(man).success().stdout;
        assert_eq!(
            found.trim(),
            man1.join(format!("{name}.1")).display().to_string(),
            "man -w {name}"
        );
        for named in pages_named(page) {
            assert!(
                man1.join(format!("{named}.1")).exists(),
                "{name} names {named}(1)"
            );
        }
    }

    // The bash completions load without the bash-completion package, as install.sh says.
    let completions = home.join(".local/share/bash-completion/completions");
    for program in PROGRAMS {
        let mut bash = Command::new("bash");
        bash.args(["--norc", "--noprofile", "-c"]).arg(format!(
            ". {}/{program} && complete -p {program}",
            completions.display()
        ));
        run(bash)
            .success()
            .stdout_has(&format!("_{program} {program}"));
        assert!(
            home.join(format!(".local/share/zsh/site-functions/_{program}"))
                .exists()
        );
        assert!(
            home.join(format!(".config/fish/completions/{program}.fish"))
                .exists()
        );
    }
    // ... and offer the addresses of the program's own examples, from their first letters.
    let mut bash = Command::new("bash");
    bash.args(["--norc", "--noprofile", "-c"]).arg(format!(
        ". {}/producer && COMP_WORDS=(producer t) COMP_CWORD=1 && _producer producer t producer \
         && echo \"${{COMPREPLY[*]}}\"",
        completions.display()
    ));
    run(bash).success().stdout_has("tcp:127.0.0.1:9000");
    let zsh = std::fs::read_to_string(home.join(".local/share/zsh/site-functions/_producer"));
    assert!(zsh.unwrap().contains("local\\:baozi stdio"));
}
