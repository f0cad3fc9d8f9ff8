//! Another user of the machine, for tests of what a different user may or may not do.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::process::{Command, Stdio};

/// The name of the user [`other_user`] creates.
pub const OTHER_USER: &str = "baozi-other";

/// Another user: `(uid, gid, name)` of [`OTHER_USER`], created (`useradd -M`, no home) when
/// it is missing and we are root. `None` when it cannot be had (not root, no `useradd`, not
/// Unix), after printing why, so the test can return early:
/// `let Some((uid, gid, name)) = other_user() else { return };`
pub fn other_user() -> Option<(u32, u32, String)> {
    static USER: std::sync::OnceLock<Option<(u32, u32, String)>> = std::sync::OnceLock::new();
    let user = USER.get_or_init(|| {
        let id = |args: &[&str]| -> Option<u32> {
            let out = Command::new("id").args(args).output().ok()?;
            String::from_utf8(out.stdout).ok()?.trim().parse().ok()
        };
        let found = || Some((id(&["-u", OTHER_USER])?, id(&["-g", OTHER_USER])?));
        let root = id(&["-u"]) == Some(0);
        if cfg!(unix) && root && found().is_none() {
            // Another test process may create it at the same moment: judge by the result.
            let _ = Command::new("useradd")
                .args(["-M", "-s", "/usr/sbin/nologin", OTHER_USER])
                .status();
        }
        match found() {
            Some((uid, gid)) if cfg!(unix) => Some((uid, gid, OTHER_USER.to_owned())),
            _ => {
                let why = match (cfg!(unix), root) {
                    (false, _) => "not a Unix system",
                    (true, false) => "not root, so it cannot be created",
                    (true, true) => "useradd failed",
                };
                eprintln!("skipped: no user {OTHER_USER}: {why}");
                None
            }
        }
    });
    user.clone()
}

/// `setpriv` ready to run a program as [`other_user`] (the program and its arguments are
/// the caller's to add; stdin closed); `None`, after printing why, where there is no such
/// user or no `setpriv`. `setpriv` execs the program itself, so a kill reaches the program
/// (`runuser` would stay its parent). For a workspace binary, see [`for_everyone`].
pub fn as_other_user() -> Option<Command> {
    let (uid, gid, _) = other_user()?;
    let setpriv = Command::new("setpriv")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !setpriv {
        eprintln!("skipped: no setpriv(1) to act as another user");
        return None;
    }
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={uid}"),
        &format!("--regid={gid}"),
        "--clear-groups",
    ])
    .stdin(Stdio::null());
    Some(c)
}

/// A copy of workspace binary `name` that every user may execute (the build folder may be
/// closed to others), in a fresh folder of its own; kept until the test process ends.
#[cfg(unix)]
pub fn for_everyone(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(crate::unique("bin"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.join(name);
    std::fs::copy(crate::bin(name), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A process that another test's thread forked while the copy was open for writing
    // holds it open until that process execs, and until then running the copy fails with
    // "Text file busy" (ETXTBSY). Once one run of it starts, no writer is left: try it.
    let deadline = std::time::Instant::now() + crate::PATIENCE;
    loop {
        let ran = Command::new(&exe)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match ran {
            Err(e) if e.raw_os_error() == Some(26) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1)); // the retry's pace
            }
            _ => break,
        }
    }
    exe
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn other_user_is_there_or_says_why_not() {
        let Some((uid, _gid, name)) = super::other_user() else {
            return;
        };
        let out = std::process::Command::new("id")
            .args(["-u", &name])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid.to_string());
        assert_ne!(uid, 0);
    }
}
