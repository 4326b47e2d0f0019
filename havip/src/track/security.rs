//! keepalived's script security: whom a `vrrp_script` check or a notify hook runs as, and which
//! scripts `enable_script_security` refuses (`get_default_script_user()`,
//! `check_script_secure()` and `check_security()` in keepalived/core/notify.c; behaviour
//! checked against keepalived 2.2.7's `keepalived -t`).
//!
//! - The user: the script's own `user`, else `script_user`, else `keepalived_script` if that user
//!   exists, else havip's own (root). With `enable_script_security` and neither `script_user`
//!   nor a `keepalived_script` user, keepalived refuses every script ("Unable to set default
//!   user keepalived_script for script").
//! - A script that runs as root (uid or gid 0, or a set-uid/set-gid-root file) is insecure when
//!   a non-root user could change what runs: the file or any directory on its path (as written
//!   and as resolved) is not owned by root, or is writable by a non-root group or by others (a
//!   directory with the sticky bit excepted). keepalived 2.2.7 then disables it with
//!   `enable_script_security` ("Disabling track script NAME due to insecure"), and without it
//!   runs it and warns ("SECURITY VIOLATION - scripts are being executed but script_security
//!   not enabled. There are insecure scripts."). A script run as another user is not checked:
//!   whoever can change it gains only that user.
//! - A bare command name is looked up in the PATH scripts get ([`SCRIPT_PATH`]), as that user.

use std::{
    ffi::OsStr,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Component, Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use nix::unistd::{getegid, geteuid, User};

/// The user scripts run as when neither they nor `script_user` name one, if it exists.
pub const DEFAULT_USER: &str = "keepalived_script";

/// The PATH scripts and hooks get (keepalived runs them with its own environment; havip gives
/// them this one, whatever its own was).
pub const SCRIPT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// `enable_script_security` for this process: set by the daemon from its spec at start-up.
static ENFORCED: AtomicBool = AtomicBool::new(false);

/// Turns `enable_script_security` on or off for every later check and hook.
pub fn set_enforced(on: bool) {
    ENFORCED.store(on, Ordering::Relaxed);
}

pub fn enforced() -> bool {
    ENFORCED.load(Ordering::Relaxed)
}

/// The user a script runs as when it names none (`script_user` already applied by the config):
/// [`DEFAULT_USER`] if it exists, else `None` (havip's own user). Blocks on NSS.
pub fn default_user() -> Option<String> {
    matches!(User::from_name(DEFAULT_USER), Ok(Some(_))).then(|| DEFAULT_USER.to_string())
}

/// What keepalived would do with a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It runs (`path` is the file found, resolved). `insecure` says why a non-root user could
    /// change it, for a script run as root without `enable_script_security`.
    Runs {
        path: PathBuf,
        insecure: Option<String>,
    },
    /// keepalived disables it whatever the security setting: missing, or not executable for
    /// its user.
    Unusable(String),
    /// `enable_script_security` refuses it: run as root and changeable by another user.
    Insecure(String),
}

/// keepalived's `check_script_secure()` for the command word `argv0`, run as `uid:gid`, with
/// `enable_script_security` set or not.
pub fn check_script(argv0: &OsStr, uid: u32, gid: u32, security: bool) -> Verdict {
    let given = Path::new(argv0);
    let given = if argv0.as_encoded_bytes().contains(&b'/') {
        given.to_path_buf()
    } else {
        match search_path(argv0, uid, gid) {
            Some(p) => p,
            None => {
                return Verdict::Unusable(format!(
                    "{} is not an executable file in the PATH scripts get ({SCRIPT_PATH})",
                    given.display()
                ))
            }
        }
    };
    let real = match std::fs::canonicalize(&given) {
        Ok(r) => r,
        Err(e) => return Verdict::Unusable(format!("{} cannot be accessed: {e}", given.display())),
    };
    let meta = match std::fs::metadata(&real) {
        Ok(m) if m.is_file() => m,
        Ok(_) => return Verdict::Unusable(format!("{} is not a regular file", real.display())),
        Err(e) => return Verdict::Unusable(format!("{}: {e}", real.display())),
    };
    if !executable(&meta, uid, gid) {
        return Verdict::Unusable(format!(
            "{} is not executable for uid:gid {uid}:{gid}",
            real.display()
        ));
    }
    let mode = meta.mode();
    let as_root = uid == 0
        || gid == 0
        || (meta.uid() == 0 && mode & 0o4100 == 0o4100)
        || (meta.gid() == 0 && mode & 0o2010 == 0o2010);
    let insecure = if as_root {
        unsafe_part(&given).or_else(|| (real != given).then(|| unsafe_part(&real)).flatten())
    } else {
        None
    };
    match insecure {
        Some(why) if security => Verdict::Insecure(why),
        insecure => Verdict::Runs {
            path: real,
            insecure,
        },
    }
}

/// keepalived's `is_executable()`: root needs any execute bit; others the bit of their class.
fn executable(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.permissions().mode();
    if uid == 0 {
        mode & 0o111 != 0
    } else if uid == meta.uid() {
        mode & 0o100 != 0
    } else if gid == meta.gid() {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// The first executable regular file named `name` in [`SCRIPT_PATH`] for `uid:gid`.
fn search_path(name: &OsStr, uid: u32, gid: u32) -> Option<PathBuf> {
    SCRIPT_PATH
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && executable(&m, uid, gid)))
}

/// Why a non-root user could change `path` (absolute): the first part of it, from `/` down,
/// not owned by root, or writable by a non-root group or by others (a directory with the sticky
/// bit excepted; a symbolic link is judged by its owner, its target by the walk of the resolved
/// path). `None`: only root can.
pub fn unsafe_part(path: &Path) -> Option<String> {
    let mut at = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir => at.push("/"),
            Component::Normal(n) => at.push(n),
            // `.` and `..` are resolved by the walk of the real path.
            _ => continue,
        }
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) => return Some(format!("{}: {e}", at.display())),
        };
        let mode = meta.mode();
        let ft = meta.file_type();
        let checked = (ft.is_dir() && mode & 0o1000 == 0) || ft.is_file();
        let why = if meta.uid() != 0 {
            Some(format!("is owned by uid {}", meta.uid()))
        } else if checked && mode & 0o002 != 0 {
            Some("is writable by others".to_string())
        } else if checked && meta.gid() != 0 && mode & 0o020 != 0 {
            Some(format!("is writable by group {}", meta.gid()))
        } else {
            None
        };
        if let Some(why) = why {
            let kind = if ft.is_dir() { "directory" } else { "file" };
            return Some(format!(
                "{kind} {} (mode {:04o}) {why}",
                at.display(),
                mode & 0o7777
            ));
        }
    }
    None
}

/// The ids a script runs as when no user is switched to: havip's own.
pub fn own_ids() -> (u32, u32) {
    (geteuid().as_raw(), getegid().as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn is_root() -> bool {
        geteuid().is_root()
    }

    /// The audit's case: a 0777 script in a 0777 directory, run as root. Refused with
    /// `enable_script_security`, run with a warning without it, as keepalived 2.2.7 does.
    #[test]
    fn world_writable_script_for_root_is_insecure() {
        if !is_root() {
            eprintln!("skipped: needs root-owned paths");
            return;
        }
        let base = TempDir::new("sec-open");
        chmod(base.path(), 0o755);
        let dir = base.path().join("open");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o777);
        let script = dir.join("chk.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&script, 0o777);
        match check_script(script.as_os_str(), 0, 0, true) {
            Verdict::Insecure(why) => {
                assert!(why.contains("is writable by others"), "{why}");
                assert!(why.contains(&dir.display().to_string()), "{why}");
            }
            v => panic!("{v:?}"),
        }
        match check_script(script.as_os_str(), 0, 0, false) {
            Verdict::Runs {
                insecure: Some(_), ..
            } => {}
            v => panic!("{v:?}"),
        }
        // Run as nobody, keepalived checks nothing.
        assert!(matches!(
            check_script(script.as_os_str(), 65534, 65534, true),
            Verdict::Runs { insecure: None, .. }
        ));
        // The directory made safe, the file still is not; then both safe.
        chmod(&dir, 0o755);
        let why = match check_script(script.as_os_str(), 0, 0, true) {
            Verdict::Insecure(w) => w,
            v => panic!("{v:?}"),
        };
        assert!(why.starts_with("file "), "{why}");
        chmod(&script, 0o755);
        assert!(matches!(
            check_script(script.as_os_str(), 0, 0, true),
            Verdict::Runs { insecure: None, .. }
        ));
        // A sticky directory (as /tmp) is fine; a group-writable one of a non-root group not.
        chmod(&dir, 0o1777);
        assert!(matches!(
            check_script(script.as_os_str(), 0, 0, true),
            Verdict::Runs { insecure: None, .. }
        ));
        chmod(&dir, 0o775);
        nix::unistd::chown(&dir, None, Some(nix::unistd::Gid::from_raw(65534))).unwrap();
        assert!(matches!(
            check_script(script.as_os_str(), 0, 0, true),
            Verdict::Insecure(w) if w.contains("writable by group 65534")
        ));
        // A file owned by another user.
        nix::unistd::chown(&dir, None, Some(nix::unistd::Gid::from_raw(0))).unwrap();
        nix::unistd::chown(&script, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert!(matches!(
            check_script(script.as_os_str(), 0, 0, true),
            Verdict::Insecure(w) if w.contains("owned by uid 65534")
        ));
    }

    /// A set-uid-root file is checked whoever runs it; a symbolic link through a safe path to
    /// an unsafe file is judged by the file.
    #[test]
    fn setuid_root_and_symlinks() {
        if !is_root() {
            eprintln!("skipped: needs root-owned paths");
            return;
        }
        let base = TempDir::new("sec-suid");
        chmod(base.path(), 0o777);
        let script = base.path().join("suid.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        chmod(&script, 0o4755);
        assert!(matches!(
            check_script(script.as_os_str(), 65534, 65534, true),
            Verdict::Insecure(_)
        ));
        chmod(&script, 0o755);
        assert!(matches!(
            check_script(script.as_os_str(), 65534, 65534, true),
            Verdict::Runs { insecure: None, .. }
        ));
        let safe = TempDir::new("sec-link");
        chmod(safe.path(), 0o755);
        let link = safe.path().join("link.sh");
        std::os::unix::fs::symlink(&script, &link).unwrap();
        assert!(matches!(
            check_script(link.as_os_str(), 0, 0, true),
            Verdict::Insecure(w) if w.contains(&base.path().display().to_string())
        ));
    }

    #[test]
    fn system_commands_pass_and_missing_ones_are_unusable() {
        // /bin is a symbolic link on merged-/usr systems; keepalived 2.2.7 accepts /bin/true.
        let (uid, gid) = own_ids();
        assert!(
            matches!(
                check_script(OsStr::new("/bin/true"), uid, gid, true),
                Verdict::Runs { insecure: None, .. }
            ),
            "{:?}",
            check_script(OsStr::new("/bin/true"), uid, gid, true)
        );
        match check_script(OsStr::new("true"), uid, gid, true) {
            Verdict::Runs { path, .. } => assert!(path.ends_with("true"), "{path:?}"),
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            check_script(OsStr::new("no-such-command-havip"), uid, gid, false),
            Verdict::Unusable(_)
        ));
        assert!(matches!(
            check_script(OsStr::new("/nonexistent/x"), uid, gid, false),
            Verdict::Unusable(_)
        ));
        let dir = TempDir::new("sec-noexec");
        let f = dir.path().join("f");
        std::fs::write(&f, "").unwrap();
        chmod(&f, 0o644);
        assert!(matches!(
            check_script(f.as_os_str(), uid, gid, false),
            Verdict::Unusable(w) if w.contains("not executable")
        ));
    }
}
