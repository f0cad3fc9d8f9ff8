//! The segment's files against other users and surprises on disk: owner-only modes whatever
//! the umask, links never followed, `clean` refusing what is not ours or is in use, names
//! that cannot collide, and a lock file replaced while in use. Real `counter` processes;
//! each test uses its own segment names.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

mod support;

use std::time::Duration;
use support::Paths;
use support::{clean_once_idle, counter, spawn, spawn_words};

/// A launcher that runs long enough to be looked at: one worker, pausing in every decrement.
fn busy(name: &str) -> String {
    format!("run --name {name} --workers 1 --decrements 100000 --pause 1ms")
}
use testkit::{run, unique};

#[test]
fn clean_refuses_what_is_not_a_segment_and_says_how_to_force_it() {
    let name = unique("files-junk");
    let p = Paths::new(&name).unwrap();
    std::fs::write(&p.data, vec![b'x'; 4096]).unwrap();
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("not a baozi-ipc segment")
        .stderr_has("not removed")
        .stderr_has(&format!("`counter clean {name} --force`"));
    assert!(p.data.exists());
    run(counter(&["clean", &name, "--force"]))
        .success()
        .stdout_has("removed");
    assert!(!p.data.exists());

    // A lock file without its segment: left, unless forced.
    std::fs::write(&p.lock, b"").unwrap();
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("is left")
        .stderr_has("--force");
    assert!(p.lock.exists());
    run(counter(&["clean", &name, "--force"])).success();
    assert!(!p.lock.exists());
}

#[test]
fn clean_refuses_a_segment_in_use_until_its_users_are_gone() {
    // A launcher's segment, while the launcher runs.
    let name = unique("files-busy");
    let p = Paths::new(&name).unwrap();
    let mut l = spawn_words(&busy(&name));
    l.wait_for_stdout("counter minus one");
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("is in use")
        .stderr_has(&format!("`counter clean {name} --force`"));
    assert!(p.data.exists() && p.lock.exists());
    l.kill();
    // Its worker stops with it (and closes the output pipes finish() waits on).
    l.finish_within(Duration::from_secs(20));
    clean_once_idle(&name).success().stdout_has("removed");
    assert!(!p.data.exists() && !p.lock.exists());

    // A segment made by init, while a worker uses it.
    let name = unique("files-busy-init");
    run(counter(&["init", &name, "--value", "1000000"])).success();
    let mut w = spawn(&["work", &name, "--decrements", "100000", "--pause", "1ms"]);
    w.wait_for_stdout("counter minus one");
    run(counter(&["clean", &name]))
        .failure()
        .stderr_has("is in use");
    w.kill();
    w.finish();
    run(counter(&["clean", &name])).success();
}

#[test]
fn names_cannot_collide_with_another_segments_files() {
    let name = unique("files-collide");
    run(counter(&["init", &name])).success();
    // `NAME.lock` would be this segment's lock file: not a name at all.
    for other in [format!("{name}.lock"), format!("{name}.permit-0")] {
        run(counter(&["run", "--name", &other, "--workers", "1"]))
            .code(2)
            .stderr_has("letters, digits, '-' or '_'");
        run(counter(&["clean", &other])).code(2);
    }
    run(counter(&["show", &name]))
        .success()
        .stdout_has("count: 20");
    run(counter(&["clean", &name])).success();
}

// ---- Unix only ----

/// Tests that cannot run on Windows, whatever they check: Unix permission bits (on Windows
/// the files are in the user's own temp dir), another user (root is needed to be one, as in
/// CI; else the test says why it skips), symbolic links (creating one on Windows needs a
/// privilege tests do not have), and a file's identity (std has none on Windows, so there a
/// lock file re-created under the same name is not caught).
#[cfg(unix)]
mod unix_only {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use support::words;
    use testkit::{Capture, Proc, as_other_user, bin, for_everyone};

    /// Every file of segment `name` with `permits` permits.
    fn files(name: &str, permits: u64) -> Vec<PathBuf> {
        let p = Paths::new(name).unwrap();
        let mut all = vec![p.data.clone(), p.lock.clone()];
        all.extend((0..permits).map(|i| p.permit(i)));
        all
    }

    /// A file outside the segment directory, for links to point at.
    fn victim(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("{}-victim", unique(tag)))
    }

    /// `counter ARGS` under `sh -c 'umask MASK; exec counter ARGS'`.
    fn with_umask(mask: &str, args: &[&str]) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("umask {mask}; exec \"$0\" \"$@\""))
            .arg(bin("counter"))
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn files_are_owner_only_whatever_the_umask() {
        let name = unique("files-mode");
        run(with_umask("000", &["init", &name, "--permits", "2"])).success();
        for f in files(&name, 2) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        run(counter(&["clean", &name])).success();

        // Wider on request, also set explicitly: a umask of 077 does not narrow it.
        let name = unique("files-group");
        run(with_umask(
            "077",
            &["init", &name, "--permits", "1", "--shared-with-group"],
        ))
        .success();
        for f in files(&name, 1) {
            assert_eq!(mode(&f), 0o660, "{}", f.display());
        }
        run(counter(&["clean", &name])).success();

        // The launchers too, while they run.
        let name = unique("files-run");
        let mut l = Proc::spawn(with_umask("000", &words(&busy(&name))), Capture::Both);
        l.wait_for_stdout("counter minus one");
        for f in files(&name, 0) {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        l.kill();
        l.finish_within(Duration::from_secs(20));
        run(counter(&["clean", &name])).success();
    }

    #[test]
    fn another_user_can_neither_open_nor_lock_the_files() {
        let name = unique("files-other");
        run(with_umask("000", &["init", &name, "--permits", "1"])).success();
        let Some(_) = as_other_user() else {
            run(counter(&["clean", &name])).success();
            return;
        };
        // Reading a file is all `flock` needs: not even that.
        for f in files(&name, 1) {
            let mut c = as_other_user().unwrap();
            c.args(["sh", "-c", "exec 3<\"$0\"", f.to_str().unwrap()]);
            let out = run(c).failure();
            assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);
        }
        // The worker fails at once, with one line, instead of waiting on someone's lock.
        let mut c = as_other_user().unwrap();
        c.arg(for_everyone("counter")).args(["work", &name]);
        Proc::spawn(c, Capture::Both)
            .finish_within(Duration::from_secs(20))
            .failure()
            .stderr_has("Permission denied");
        run(counter(&["clean", &name])).success();
    }

    fn plant_link(at: &Path, to: &Path) {
        let _ = std::fs::remove_file(at);
        std::os::unix::fs::symlink(to, at).unwrap();
    }

    #[test]
    fn links_planted_at_the_files_are_never_followed() {
        // A link where the launcher would create its lock file: it refuses, creates nothing
        // through it, and removes only what it created itself.
        let name = unique("files-link-new");
        let p = Paths::new(&name).unwrap();
        let target = victim("link-new");
        plant_link(&p.lock, &target);
        run(counter(&["run", "--name", &name, "--workers", "1"]))
            .failure()
            .stderr_has("already exists");
        assert!(
            !target.exists(),
            "the link was followed: {}",
            target.display()
        );
        assert!(!p.data.exists(), "the launcher left its segment behind");
        assert!(std::fs::symlink_metadata(&p.lock).unwrap().is_symlink());
        std::fs::remove_file(&p.lock).unwrap();

        // Links swapped in for the files of an existing segment: nobody opens or locks
        // through them, and what they point to is left untouched.
        let name = unique("files-link-old");
        let p = Paths::new(&name).unwrap();
        run(counter(&["init", &name, "--value", "5", "--permits", "1"])).success();
        let target = victim("link-old");
        std::fs::write(&target, b"precious").unwrap();
        let real_lock = p.lock.with_extension("lock-real");
        std::fs::rename(&p.lock, &real_lock).unwrap();
        plant_link(&p.lock, &target);
        for args in [vec!["work", &name], vec!["show", &name]] {
            run(counter(&args))
                .failure()
                .stderr_has("symbolic link")
                .stderr_has(&p.lock.display().to_string());
        }
        std::fs::rename(&real_lock, &p.lock).unwrap();

        let real_permit = p.permit(0).with_extension("permit-real");
        std::fs::rename(p.permit(0), &real_permit).unwrap();
        plant_link(&p.permit(0), &target);
        run(counter(&["enter", &name, "--stay", "0s"]))
            .failure()
            .stderr_has("symbolic link");
        std::fs::rename(&real_permit, p.permit(0)).unwrap();

        let real_data = p.data.with_extension("data-real");
        std::fs::rename(&p.data, &real_data).unwrap();
        plant_link(&p.data, &real_data);
        run(counter(&["show", &name]))
            .failure()
            .stderr_has("symbolic link");
        // Nor does clean follow it; --force removes the link, not what it points to.
        run(counter(&["clean", &name]))
            .failure()
            .stderr_has("symbolic link")
            .stderr_has("--force");
        run(counter(&["clean", &name, "--force"])).success();
        assert!(real_data.exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"precious");
        for f in [target, real_data] {
            std::fs::remove_file(f).unwrap();
        }
    }

    #[test]
    fn a_lock_file_replaced_while_in_use_stops_everyone() {
        let name = unique("files-swap");
        let p = Paths::new(&name).unwrap();
        run(counter(&["init", &name, "--value", "1000000"])).success();
        let w = spawn(&["work", &name, "--decrements", "5000", "--pause", "1ms"]);
        w.wait_for_stdout("counter minus one");
        // The worker runs; now the lock file is deleted and re-created under it. Whoever
        // opens the segment next would lock the new file, apart from the running worker:
        // it refuses, and the running worker stops at its next lock.
        std::fs::remove_file(&p.lock).unwrap();
        std::fs::write(&p.lock, b"").unwrap();
        let tampering = "was replaced while in use (tampering?)";
        let late = run(counter(&["work", &name, "--decrements", "1"]))
            .failure()
            .stderr_has(tampering);
        assert_eq!(late.stderr.lines().count(), 1, "{}", late.stderr);
        let out = w
            .finish_within(Duration::from_secs(30))
            .failure()
            .stderr_has(tampering);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        run(counter(&["show", &name]))
            .failure()
            .stderr_has(tampering);
        run(counter(&["clean", &name])).success();
    }
}
