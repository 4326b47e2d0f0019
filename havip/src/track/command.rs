//! Running a configured command line the way keepalived runs `vrrp_script` and notify hooks:
//! split without a shell, in a process group of its own, optionally as another user, and killed
//! with its whole group when it outlives its timeout.
//!
//! keepalived's child (`system_call_script()`, `keepalived/core/notify.c`) sets its groups and
//! ids, resets real-time scheduling, moves into its own process group, drops `IFS`, `LD_PRELOAD`
//! and `LD_LIBRARY_PATH`, points stdio at `/dev/null` and `execve`s the words of the command
//! line; havip's child does the same, with a clean environment (only `PATH`,
//! [`security::SCRIPT_PATH`]) where keepalived passes its own. At the timeout keepalived
//! sends SIGTERM to the group and SIGKILL two seconds later (`vrrp_script_child_thread()`);
//! havip sends SIGKILL at once: a check past its deadline has nothing left worth saving, and the
//! next run must not overlap it.

use std::{
    ffi::{CString, OsString},
    os::unix::{ffi::OsStringExt as _, process::ExitStatusExt as _},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use nix::{
    sys::signal::{killpg, Signal},
    unistd::{geteuid, getgrouplist, setgid, setgroups, setuid, Gid, Group, Pid, Uid, User},
};

use super::{security, Outcome};

/// Splits a command line into words as keepalived does (`alloc_strvec_quoted_escaped()`,
/// `keepalived/core/parser.c`): words end at unquoted white space; `"..."` and `'...'` group
/// words and may sit inside one (`a"b c"d` is one word); a backslash escapes everywhere, inside
/// single quotes too, and knows `\a \b \E \f \n \r \t \v`, `\xHH`, `\cX` (control character) and
/// up to three octal digits; any other escaped character stands for itself.
pub fn split_command(line: &str) -> Result<Vec<OsString>> {
    const WHITE: &[u8] = b" \t\x0c\n\r\x0b";
    let b = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && WHITE.contains(&b[i]) {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let mut word = Vec::new();
        let mut quote = None;
        while i < b.len() {
            let c = b[i];
            match (c, quote) {
                (b'\\', _) => {
                    i += 1;
                    let Some(&e) = b.get(i) else {
                        bail!("command line {line:?} ends with a lone backslash");
                    };
                    i += 1;
                    let hex = |c: u8| (c as char).to_digit(16);
                    let byte = match e {
                        b'x' if b.get(i).and_then(|c| hex(*c)).is_some() => {
                            // keepalived shifts every hex digit into one char: the last two count.
                            let mut v = 0u8;
                            while let Some(d) = b.get(i).and_then(|c| hex(*c)) {
                                v = (v << 4) | d as u8;
                                i += 1;
                            }
                            v
                        }
                        b'c' if i < b.len() => {
                            i += 1;
                            b[i - 1] & 0x1f
                        }
                        b'0'..=b'7' => {
                            let mut v = e - b'0';
                            for _ in 0..2 {
                                match b.get(i) {
                                    Some(d @ b'0'..=b'7') => {
                                        v = (v << 3).wrapping_add(d - b'0');
                                        i += 1;
                                    }
                                    _ => break,
                                }
                            }
                            v
                        }
                        b'a' => 0x07,
                        b'b' => 0x08,
                        b'E' => 0x1b,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'v' => 0x0b,
                        other => other,
                    };
                    word.push(byte);
                }
                (b'"' | b'\'', None) => {
                    quote = Some(c);
                    i += 1;
                }
                (_, Some(q)) if c == q => {
                    quote = None;
                    i += 1;
                }
                (_, None) if WHITE.contains(&c) => break,
                _ => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        if let Some(q) = quote {
            bail!("command line {line:?} lacks its closing {}", q as char);
        }
        words.push(OsString::from_vec(word));
    }
    if words.is_empty() {
        bail!("the command line is empty");
    }
    Ok(words)
}

/// Whom to run a command as: the ids and supplementary groups of a user, resolved beforehand so
/// the child only makes system calls between `fork` and `exec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
    pub groups: Vec<libc::gid_t>,
}

impl RunAs {
    /// Resolves keepalived's `user USERNAME [GROUPNAME]` (the group defaults to the user's
    /// primary group; the supplementary groups are the user's, as `initgroups` would set them).
    /// Blocks on NSS: call it from `spawn_blocking` or at start-up.
    pub fn resolve(spec: &str) -> Result<RunAs> {
        let mut parts = spec.split_whitespace();
        let user = parts.next().context("an empty user name")?;
        let group = parts.next();
        let (uid, mut gid) = lookup_user(user)?;
        if let Some(g) = group {
            gid = lookup_group(g)?;
        }
        let groups = group_list(user, gid)?;
        Ok(RunAs {
            name: spec.to_string(),
            uid,
            gid,
            groups,
        })
    }
}

fn lookup_user(name: &str) -> Result<(libc::uid_t, libc::gid_t)> {
    let user = User::from_name(name)
        .map_err(std::io::Error::from)
        .with_context(|| format!("looking up user {name}"))?;
    let Some(user) = user else {
        bail!("no user named {name} (check the `user` of the script, or create the user)");
    };
    Ok((user.uid.as_raw(), user.gid.as_raw()))
}

fn lookup_group(name: &str) -> Result<libc::gid_t> {
    let group = Group::from_name(name)
        .map_err(std::io::Error::from)
        .with_context(|| format!("looking up group {name}"))?;
    let Some(group) = group else {
        bail!("no group named {name}");
    };
    Ok(group.gid.as_raw())
}

fn group_list(user: &str, gid: libc::gid_t) -> Result<Vec<libc::gid_t>> {
    let cname = CString::new(user).context("a user name with a NUL byte")?;
    // nix grows the list up to NGROUPS_MAX and fails with EINVAL past it.
    let groups = getgrouplist(&cname, Gid::from_raw(gid))
        .map_err(std::io::Error::from)
        .with_context(|| format!("listing the groups of user {user}"))?;
    Ok(groups.into_iter().map(Gid::as_raw).collect())
}

/// Whether this process may switch users: CAP_SETUID and CAP_SETGID effective (root has them,
/// and the running daemon keeps them; a daemon started as another user with ambient
/// capabilities may have them too). Without them scripts run as havip's own user.
pub fn can_switch_user() -> bool {
    use rustix::thread::{capabilities, CapabilitySet};
    capabilities(None).map_or_else(
        |_| geteuid().is_root(),
        |c| {
            c.effective
                .contains(CapabilitySet::SETUID | CapabilitySet::SETGID)
        },
    )
}

/// Whom a script or hook runs as: `user` (its own, or `script_user`), else
/// [`security::DEFAULT_USER`] if it exists; `None` (havip's own user) when neither applies or
/// this process may not switch users. The NSS look-ups run on the blocking pool.
pub async fn resolve_user(user: Option<String>) -> Result<Option<RunAs>> {
    if !can_switch_user() {
        return Ok(None);
    }
    let resolved =
        tokio::task::spawn_blocking(move || match user.or_else(security::default_user) {
            Some(u) => RunAs::resolve(&u).map(Some),
            None => Ok(None),
        })
        .await;
    match resolved {
        Ok(r) => r,
        Err(e) => Err(anyhow::anyhow!("resolving the user: {e}")),
    }
}

/// `enable_script_security` at run time ([`security::set_enforced`]): `Err` with the reason
/// when the command `argv0`, run as `user` (or havip's own user), must not run: insecure, or
/// keepalived would have disabled it. Without it everything runs (a missing file fails at
/// exec, as before).
pub fn vet(argv0: &std::ffi::OsStr, user: Option<&RunAs>) -> std::result::Result<(), String> {
    vet_with(argv0, user, security::enforced())
}

/// [`vet`] with `enable_script_security` given.
pub fn vet_with(
    argv0: &std::ffi::OsStr,
    user: Option<&RunAs>,
    security: bool,
) -> std::result::Result<(), String> {
    if !security {
        return Ok(());
    }
    let (uid, gid) = user.map_or_else(security::own_ids, |u| (u.uid, u.gid));
    match security::check_script(argv0, uid, gid, true) {
        security::Verdict::Runs { .. } => Ok(()),
        security::Verdict::Unusable(why) => Err(format!("refused (enable_script_security): {why}")),
        security::Verdict::Insecure(why) => Err(format!(
            "refused (enable_script_security): it runs as uid {uid} and {why}"
        )),
    }
}

/// How a command ended.
#[derive(Debug)]
pub enum Exit {
    /// It exited or was killed by a signal we did not send.
    Finished(ExitStatus),
    /// It outlived its timeout: its process group was killed and it was reaped.
    TimedOut,
    /// It could not be started (missing file, not executable, user switch refused...).
    NotStarted(std::io::Error),
}

impl Exit {
    #[cfg(test)]
    pub fn success(&self) -> bool {
        matches!(self, Exit::Finished(s) if s.success())
    }
}

/// Kills the process group of a child that was not reaped (the task running it was cancelled).
/// While the leader is unreaped its pid, which is the group's id, cannot be reused.
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            kill_group(pgid);
        }
    }
}

fn kill_group(pgid: i32) {
    // ESRCH (the group is gone) is fine.
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

/// Runs `argv` to completion or until `timeout`, as `user` when given and we are root.
/// Never blocks the runtime: the child is awaited, and tokio reaps it.
pub async fn run(argv: &[OsString], user: Option<&RunAs>, timeout: Duration) -> Exit {
    let Some((program, args)) = argv.split_first() else {
        return Exit::NotStarted(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // A clean environment: nothing of the daemon's (its service manager's variables,
        // credentials passed to it) reaches scripts; keepalived passes its own environment
        // less IFS, LD_PRELOAD and LD_LIBRARY_PATH, and no variable of its own.
        .env_clear()
        .env("PATH", security::SCRIPT_PATH)
        .process_group(0);
    let ids = user.filter(|_| can_switch_user()).map(|u| {
        (
            Uid::from_raw(u.uid),
            Gid::from_raw(u.gid),
            u.groups
                .iter()
                .copied()
                .map(Gid::from_raw)
                .collect::<Vec<_>>(),
        )
    });
    // std's `CommandExt::{uid, gid}` run before pre_exec closures and, without the unstable
    // `groups`, drop the supplementary groups; so all three are set here, groups before ids.
    // SAFETY: between fork and exec the closure makes only async-signal-safe system calls
    // (sched_setscheduler, setgroups, setgid, setuid) on data prepared before the fork, and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // A daemon running SCHED_FIFO (`--rt-priority`) must not hand real-time scheduling
            // to its scripts: keepalived's reset_process_priorities() does the same. Lowering
            // the policy needs no privilege. Neither nix nor rustix wraps sched_setscheduler.
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
            if let Some((uid, gid, groups)) = &ids {
                setgroups(groups)?;
                setgid(*gid)?;
                setuid(*uid)?;
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Exit::NotStarted(e),
    };
    let mut guard = GroupGuard {
        pgid: child.id().map(|p| p as i32),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            guard.pgid = None;
            Exit::Finished(status)
        }
        Ok(Err(e)) => Exit::NotStarted(e),
        Err(_) => {
            if let Some(pgid) = guard.pgid {
                kill_group(pgid);
            }
            let _ = child.wait().await;
            guard.pgid = None;
            Exit::TimedOut
        }
    }
}

/// The outcome of a command run as a health check or hook: success is exit status 0.
pub(crate) fn outcome(exit: &Exit, timeout: Duration, started: Instant) -> Outcome {
    let took = started.elapsed();
    match exit {
        Exit::Finished(s) if s.success() => Outcome::up(format!("exited 0 in {took:.0?}")),
        Exit::Finished(s) => match (s.code(), s.signal()) {
            (Some(code), _) => Outcome::down(format!("exited with status {code}")),
            (None, Some(sig)) => Outcome::down(format!("killed by signal {}", signal_name(sig))),
            _ => Outcome::down(format!("ended with {s}")),
        },
        Exit::TimedOut => Outcome::down(format!(
            "timed out after {timeout:?}: its process group was killed"
        )),
        Exit::NotStarted(e) => Outcome::down(format!("could not run: {e}")),
    }
}

/// "9 (SIGKILL)"; the bare number for a signal nix does not name (real-time signals).
fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => format!("{sig} ({s})"),
        Err(_) => sig.to_string(),
    }
}

/// The words of a command line for logs.
pub fn display(argv: &[OsString]) -> String {
    argv.iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_command(line)
            .unwrap()
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect()
    }

    #[test]
    fn splits_on_white_space() {
        assert_eq!(words("  /bin/check  -x\t1 \n"), ["/bin/check", "-x", "1"]);
    }

    #[test]
    fn quotes_group_words_and_join_neighbours() {
        assert_eq!(
            words(r#"/bin/sh -c "exit 3" 'a b' x"y z"w"#),
            ["/bin/sh", "-c", "exit 3", "a b", "xy zw"]
        );
        assert_eq!(words(r#"a '' "" b"#), ["a", "", "", "b"]);
        // The other quote is literal inside a quoted string.
        assert_eq!(words(r#""it's" 'say "hi"'"#), ["it's", r#"say "hi""#]);
    }

    #[test]
    fn backslash_escapes_everywhere_as_keepalived_does() {
        assert_eq!(words(r"a\ b"), ["a b"]);
        assert_eq!(words(r"'a\'b'"), ["a'b"]);
        assert_eq!(words(r#""a\"b""#), [r#"a"b"#]);
        assert_eq!(words(r"\t\n\x41\101\cA\q"), ["\t\nAA\x01q"]);
        assert_eq!(words(r"\x4142"), ["B"]); // every hex digit shifts in; the last two stay
        assert_eq!(words(r"\xg"), ["xg"]);
        assert_eq!(words(r"\0"), ["\0"]);
    }

    #[test]
    fn rejects_what_keepalived_rejects() {
        assert!(split_command("").is_err());
        assert!(split_command(" \t ").is_err());
        assert!(split_command("a 'b").is_err());
        assert!(split_command("a \"b").is_err());
        assert!(split_command(r"a\").is_err());
    }

    #[test]
    fn signals_are_named_and_unnamed_ones_numbered() {
        assert_eq!(signal_name(9), "9 (SIGKILL)");
        assert_eq!(signal_name(15), "15 (SIGTERM)");
        assert_eq!(
            signal_name(libc::SIGRTMIN() + 1),
            (libc::SIGRTMIN() + 1).to_string()
        );
    }

    /// The child takes the user's ids and exactly its supplementary groups: none of root's
    /// stay behind (std's own `uid`/`gid` would clear them; `setgroups` after `setuid` fails).
    #[tokio::test]
    async fn child_runs_with_the_users_ids_and_groups_only() {
        if !can_switch_user() {
            eprintln!("skipped: switching users needs root");
            return;
        }
        let Ok(nobody) = RunAs::resolve("nobody") else {
            eprintln!("skipped: no user nobody");
            return;
        };
        let dir = std::env::temp_dir().join(format!("havip-runas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = dir.join("status");
        let argv = split_command(&format!(
            "/bin/sh -c 'grep -E \"^(Uid|Gid|Groups):\" /proc/self/status > {}'",
            out.display()
        ))
        .unwrap();
        let exit = run(&argv, Some(&nobody), Duration::from_secs(5)).await;
        let status = std::fs::read_to_string(&out);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(exit.success(), "{exit:?}");
        let status = status.unwrap();
        let field = |name: &str| -> Vec<u32> {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..]
                .split_whitespace()
                .map(|n| n.parse().unwrap())
                .collect()
        };
        assert_eq!(field("Uid:"), [nobody.uid; 4], "{status}");
        assert_eq!(field("Gid:"), [nobody.gid; 4], "{status}");
        let mut want = nobody.groups.clone();
        want.sort_unstable();
        want.dedup();
        assert_eq!(field("Groups:"), want, "{status}");
    }

    #[test]
    fn resolves_root() {
        let root = RunAs::resolve("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
        assert!(RunAs::resolve("no-such-user-havip").is_err());
        assert!(RunAs::resolve("root no-such-group-havip").is_err());
    }
}
