//! keepalived's `vrrp_track_process`, polled: count the processes whose name matches and
//! compare the count with the quorum.
//!
//! keepalived (`read_procs()`, `keepalived/core/track_process.c`) compares the configured name
//! with the `comm` field of `/proc/PID/stat` (at most 15 bytes, zombies skipped), or with argv[0]
//! from `/proc/PID/cmdline` when `full_command` is set, and has quorum while
//! `quorum <= count <= quorum_max`. It learns of forks and exits from the proc connector; havip
//! scans `/proc` at the check's interval instead, and leaves the `delay`s to rise/fall.

use std::path::Path;

use super::Outcome;

/// What a process's name is compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessMatch {
    /// `/proc/PID/comm` (the kernel's 15-byte task name; the configured name is cut to match).
    #[default]
    Comm,
    /// `argv[0]` from `/proc/PID/cmdline`, whole (keepalived `full_command`).
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "full_command is read and warned about, not acted on yet (docs/config.md)"
        )
    )]
    Argv0,
}

/// Healthy while `min <= count <= max` processes match `name`.
pub(crate) fn check(name: &str, how: ProcessMatch, min: u32, max: Option<u32>) -> Outcome {
    let count = count_in(Path::new("/proc"), name, how);
    let range = match max {
        Some(m) => format!("{min}..={m}"),
        None => format!("at least {min}"),
    };
    let detail = format!("{count} process(es) named {name:?} running (want {range})");
    if count >= min && max.is_none_or(|m| count <= m) {
        Outcome::up(detail)
    } else {
        Outcome::down(detail)
    }
}

/// Counts the processes under `proc_root` (a procfs mount) that match `name`. Blocking.
pub(crate) fn count_in(proc_root: &Path, name: &str, how: ProcessMatch) -> u32 {
    // The kernel keeps TASK_COMM_LEN - 1 = 15 bytes of a task's name.
    let want: &[u8] = match how {
        ProcessMatch::Comm => &name.as_bytes()[..name.len().min(15)],
        ProcessMatch::Argv0 => name.as_bytes(),
    };
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return 0;
    };
    let mut count = 0;
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let dir = proc_root.join(pid);
        // Processes come and go during the scan: a vanished one simply does not count.
        let Ok(stat) = std::fs::read(dir.join("stat")) else {
            continue;
        };
        let Some((comm, state)) = parse_stat(&stat) else {
            continue;
        };
        if state == b'Z' {
            continue;
        }
        let matched = match how {
            ProcessMatch::Comm => comm == want,
            ProcessMatch::Argv0 => std::fs::read(dir.join("cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).next() == Some(want)),
        };
        if matched {
            count += 1;
        }
    }
    count
}

/// The `comm` and state fields of `/proc/PID/stat`: `pid (comm) S ...`. The name may hold
/// spaces and parentheses, so it ends at the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(&[u8], u8)> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    let comm = stat.get(open + 1..close)?;
    let state = *stat.get(close + 2)?;
    Some((comm, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{which, TempDir};

    #[test]
    fn parses_stat_lines() {
        assert_eq!(
            parse_stat(b"42 (sleep) S 1 42 42 0 -1"),
            Some((&b"sleep"[..], b'S'))
        );
        assert_eq!(
            parse_stat(b"7 (a) b (c)) Z 1"),
            Some((&b"a) b (c)"[..], b'Z'))
        );
        assert_eq!(parse_stat(b"7 sleep S"), None);
        assert_eq!(parse_stat(b"7 (sleep)"), None);
    }

    fn fake_proc(entries: &[(&str, &str, &[u8])]) -> TempDir {
        let root = TempDir::new("proc");
        for (pid, stat, cmdline) in entries {
            let d = root.path().join(pid);
            std::fs::create_dir(&d).unwrap();
            std::fs::write(d.join("stat"), stat).unwrap();
            std::fs::write(d.join("cmdline"), cmdline).unwrap();
        }
        std::fs::create_dir(root.path().join("self")).unwrap();
        root
    }

    #[test]
    fn counts_by_comm_and_skips_zombies() {
        let root = fake_proc(&[
            ("10", "10 (haproxy) S 1", b"/usr/sbin/haproxy\0-f\0x\0"),
            ("11", "11 (haproxy) R 10", b"/usr/sbin/haproxy\0"),
            ("12", "12 (haproxy) Z 10", b""),
            ("13", "13 (nginx) S 1", b"nginx\0"),
            (
                "14",
                "14 (averyveryverylo) S 1",
                b"/bin/averyveryverylongname\0",
            ),
        ]);
        let p = root.path();
        assert_eq!(count_in(p, "haproxy", ProcessMatch::Comm), 2);
        assert_eq!(count_in(p, "nginx", ProcessMatch::Comm), 1);
        assert_eq!(count_in(p, "sshd", ProcessMatch::Comm), 0);
        // keepalived compares with the 15-byte comm.
        assert_eq!(count_in(p, "averyveryverylongname", ProcessMatch::Comm), 1);
        assert_eq!(count_in(p, "/usr/sbin/haproxy", ProcessMatch::Argv0), 2);
        assert_eq!(count_in(p, "haproxy", ProcessMatch::Argv0), 0);
        assert_eq!(count_in(p, "nginx", ProcessMatch::Argv0), 1);
    }

    #[test]
    fn counts_real_processes_against_the_quorum() {
        // A copy of sleep under a name no other process has, so parallel tests cannot interfere.
        let dir = TempDir::new("procs");
        let name = format!("hvp{}", std::process::id() % 1_000_000);
        let exe = dir.path().join(&name);
        std::fs::copy(which("sleep"), &exe).unwrap();
        let spawn = || std::process::Command::new(&exe).arg("30").spawn().unwrap();
        assert!(!check(&name, ProcessMatch::Comm, 1, None).ok);
        assert!(check(&name, ProcessMatch::Comm, 0, Some(0)).ok);
        let mut a = spawn();
        let mut b = spawn();
        // spawn() returns once the child forked; its comm is the copy's name only after exec.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while count_in(Path::new("/proc"), &name, ProcessMatch::Comm) < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the two children never showed up under their name"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(count_in(Path::new("/proc"), &name, ProcessMatch::Comm), 2);
        let argv0 = exe.to_str().unwrap();
        assert_eq!(count_in(Path::new("/proc"), argv0, ProcessMatch::Argv0), 2);
        assert!(check(&name, ProcessMatch::Comm, 2, None).ok);
        assert!(!check(&name, ProcessMatch::Comm, 3, None).ok);
        assert!(!check(&name, ProcessMatch::Comm, 1, Some(1)).ok);
        a.kill().unwrap();
        a.wait().unwrap();
        let outcome = check(&name, ProcessMatch::Comm, 1, Some(1));
        assert!(outcome.ok, "{}", outcome.detail);
        b.kill().unwrap();
        // Not reaped yet: a zombie does not count.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while count_in(Path::new("/proc"), &name, ProcessMatch::Comm) != 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the killed child still counts"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        b.wait().unwrap();
    }
}
