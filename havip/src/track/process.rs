//! keepalived's `vrrp_track_process`: the processes that match, counted from the kernel's
//! process events (or, as a fallback that says so, from `/proc` every 200 ms), and the count
//! turned into health with keepalived's quorum and delays.
//!
//! keepalived's semantics (`keepalived/core/track_process.c`, `vrrp_parser.c`), which havip
//! follows:
//! - **What matches.** `process NAME` compares NAME with the process's `comm` (`/proc/PID/comm`,
//!   at most 15 bytes; havip cuts NAME to 15 bytes to match it, keepalived never matches a longer
//!   one), or with `argv[0]` of `/proc/PID/cmdline`, whole, with `full_command`. Zombies do not
//!   count. Parameters (`process NAME P1 P2`) imply `full_command` and an exact match of
//!   `argv[1..]`; `param_match` alone (no parameters) also implies `full_command` and means "no
//!   arguments at all"; `param_match partial` wants `argv[1..]` to begin with the parameters;
//!   `param_match initial` too, except that the last parameter need only begin its argument.
//! - **Quorum.** Healthy while `quorum <= count <= quorum_max` (defaults 1 and unlimited;
//!   `quorum_max 0` without `quorum` means "healthy while none runs").
//! - **Events.** A fork of a counted process counts the child (a thread does not count); an
//!   exec re-reads the process's `comm` and `cmdline` and counts or drops it; a comm change
//!   (`PROC_EVENT_COMM`) does the same for the checks that compare `comm` (a `full_command`
//!   check does not see it: keepalived reads cmdline at exec only); an exit drops it.
//! - **Delays.** They apply only when the count crosses into or out of the quorum range:
//!   `fork_delay` when a fork crosses it (the new health counts once the delay has passed, with
//!   the count then), `terminate_delay` when an exit crosses it; `delay` sets both. A crossing
//!   the other way while a delay runs cancels it and the health stays as it was (a process
//!   restarted within `terminate_delay` never shows). An exec or comm change is never delayed
//!   (it cancels a pending `terminate_delay` when it restores the quorum, a pending
//!   `fork_delay` when it loses it).
//! - **Lost events** (the socket overflowed, ENOBUFS): the counts are rebuilt from `/proc`; a
//!   quorum gained meanwhile counts at once, one lost waits `terminate_delay`.
//!
//! Where havip differs: keepalived counts a process twice when it execs under the same name
//! again (it adds without looking), and a rebuild that finds the same count leaves a pending
//! `terminate_delay` cancelled with the health never updated; havip keeps the set of counted
//! PIDs, so neither happens. The polling fallback sees what changed between two scans: a new
//! PID whose parent was counted is taken as a fork, another as an exec, a PID gone as an exit,
//! one that no longer matches as an exec.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::Instant,
};

use super::Outcome;
use crate::model::{ParamMatch, ProcessTrack};

/// The kernel keeps TASK_COMM_LEN - 1 = 15 bytes of a task's name.
const COMM_LEN: usize = 15;

/// Whether a process whose `comm` and `/proc/PID/cmdline` are these counts for `t`.
pub(crate) fn matches(t: &ProcessTrack, comm: &[u8], cmdline: &[u8]) -> bool {
    if !t.full_command {
        let name = t.name.as_bytes();
        return comm == &name[..name.len().min(COMM_LEN)];
    }
    let argv0_len = cmdline
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(cmdline.len());
    if &cmdline[..argv0_len] != t.name.as_bytes() {
        return false;
    }
    let args = cmdline.get(argv0_len + 1..).unwrap_or_default();
    params_match(t, args)
}

/// keepalived's `check_params()`: `args` is `argv[1..]` as in `/proc/PID/cmdline` (each
/// argument followed by a NUL).
fn params_match(t: &ProcessTrack, args: &[u8]) -> bool {
    let want: Vec<u8> = t.params.iter().flat_map(|p| p.bytes().chain([0])).collect();
    match t.param_match {
        ParamMatch::None => true,
        ParamMatch::Exact => args == want.as_slice(),
        ParamMatch::Partial => args.starts_with(&want),
        ParamMatch::Initial => args.starts_with(&want[..want.len().saturating_sub(1)]),
    }
}

/// One running (not zombie) process, as a scan of `/proc` saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub ppid: u32,
    pub comm: Vec<u8>,
    /// Read only when a check compares the command line (empty otherwise).
    pub cmdline: Vec<u8>,
}

/// Every running process under `proc_root` (a procfs mount), by PID. Blocking. Processes come
/// and go during the scan: a vanished one is simply not there.
pub(crate) fn scan(proc_root: &Path, want_cmdline: bool) -> BTreeMap<u32, Seen> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(seen) = read_process(proc_root, pid, want_cmdline) {
            out.insert(pid, seen);
        }
    }
    out
}

/// One process's `stat` (comm, state, parent) and, if asked, its `cmdline`. `None` for a
/// zombie or a process that is gone.
pub(crate) fn read_process(proc_root: &Path, pid: u32, want_cmdline: bool) -> Option<Seen> {
    let dir = proc_root.join(pid.to_string());
    let stat = std::fs::read(dir.join("stat")).ok()?;
    let (comm, state, ppid) = parse_stat(&stat)?;
    if state == b'Z' {
        return None;
    }
    let cmdline = if want_cmdline {
        std::fs::read(dir.join("cmdline")).ok()?
    } else {
        Vec::new()
    };
    Some(Seen {
        ppid,
        comm: comm.to_vec(),
        cmdline,
    })
}

/// The `comm`, state and parent fields of `/proc/PID/stat`: `pid (comm) S ppid ...`. The name
/// may hold spaces and parentheses, so it ends at the last `)`.
fn parse_stat(stat: &[u8]) -> Option<(&[u8], u8, u32)> {
    let open = stat.iter().position(|b| *b == b'(')?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    let comm = stat.get(open + 1..close)?;
    let state = *stat.get(close + 2)?;
    let rest = std::str::from_utf8(stat.get(close + 4..)?).ok()?;
    let ppid = rest.split(' ').next()?.trim().parse().ok()?;
    Some((comm, state, ppid))
}

/// The PIDs of `seen` that count for `t`.
pub(crate) fn matching(t: &ProcessTrack, seen: &BTreeMap<u32, Seen>) -> BTreeSet<u32> {
    seen.iter()
        .filter(|(_, s)| matches(t, &s.comm, &s.cmdline))
        .map(|(pid, _)| *pid)
        .collect()
}

/// Healthy while `quorum..=quorum_max` processes match: one scan of `/proc`, for `havip probe
/// process` (no delays: a single look).
pub(crate) fn check(t: &ProcessTrack) -> Outcome {
    let seen = scan(Path::new("/proc"), t.full_command);
    let count = matching(t, &seen).len();
    let q = Quorum::new(t.clone());
    let detail = q.describe(count);
    if q.in_range(count) {
        Outcome::up(detail)
    } else {
        Outcome::down(detail)
    }
}

/// What made a process count or stop counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A counted process forked (`fork_delay` may apply).
    Fork,
    /// The process exited (`terminate_delay` may apply).
    Exit,
    /// An exec or a comm change: never delayed.
    Recheck,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delay {
    Fork,
    Terminate,
}

/// One `vrrp_track_process`: the PIDs that count, and the health keepalived's rules give.
#[derive(Clone, Debug)]
pub(crate) struct Quorum {
    pub track: ProcessTrack,
    pids: BTreeSet<u32>,
    /// As last reported; `None` before the first report.
    healthy: Option<bool>,
    /// At most one delay runs (keepalived starts one only when the other is not running).
    timer: Option<(Instant, Delay)>,
}

impl Quorum {
    pub fn new(track: ProcessTrack) -> Quorum {
        Quorum {
            track,
            pids: BTreeSet::new(),
            healthy: None,
            timer: None,
        }
    }

    pub fn in_range(&self, count: usize) -> bool {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        self.track.quorum <= count && count <= self.track.quorum_max
    }

    pub fn count(&self) -> usize {
        self.pids.len()
    }

    pub fn has(&self, pid: u32) -> bool {
        self.pids.contains(&pid)
    }

    pub fn pids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pids.iter().copied()
    }

    /// One line for logs and `havip status`.
    pub fn describe(&self, count: usize) -> String {
        let t = &self.track;
        let how = if t.full_command {
            "with the command"
        } else {
            "named"
        };
        let want = if t.quorum_max == u32::MAX {
            format!("at least {}", t.quorum)
        } else {
            format!("{}..={}", t.quorum, t.quorum_max)
        };
        format!(
            "{count} process(es) {how} {:?} running (want {want})",
            t.name
        )
    }

    /// When the running delay ends.
    pub fn deadline(&self) -> Option<Instant> {
        self.timer.map(|(at, _)| at)
    }

    fn set(&mut self, healthy: bool) -> Option<bool> {
        if self.healthy == Some(healthy) {
            return None;
        }
        self.healthy = Some(healthy);
        Some(healthy)
    }

    /// The first count (the scan at start): reported at once, whatever it is.
    pub fn start(&mut self, pids: BTreeSet<u32>) -> Option<bool> {
        self.pids = pids;
        self.timer = None;
        self.healthy = None;
        self.set(self.in_range(self.pids.len()))
    }

    /// `pid` counts now. Returns the health to report, if it changed.
    pub fn add(&mut self, pid: u32, cause: Cause, now: Instant) -> Option<bool> {
        if !self.pids.insert(pid) {
            return None;
        }
        let n = self.pids.len();
        if self.in_range(n - 1) == self.in_range(n) {
            return None;
        }
        match (cause, self.timer) {
            (Cause::Fork, Some((_, Delay::Terminate))) => self.timer = None,
            (Cause::Fork, None) if !self.track.fork_delay.is_zero() => {
                self.timer = Some((now + self.track.fork_delay, Delay::Fork));
                return None;
            }
            (Cause::Recheck, Some((_, Delay::Terminate))) => self.timer = None,
            _ => {}
        }
        self.set(self.in_range(n))
    }

    /// `pid` no longer counts. Returns the health to report, if it changed.
    pub fn remove(&mut self, pid: u32, cause: Cause, now: Instant) -> Option<bool> {
        if !self.pids.remove(&pid) {
            return None;
        }
        let n = self.pids.len();
        if self.in_range(n + 1) == self.in_range(n) {
            return None;
        }
        match (cause, self.timer) {
            (Cause::Exit | Cause::Recheck, Some((_, Delay::Fork))) => self.timer = None,
            (Cause::Exit, None) if !self.track.terminate_delay.is_zero() => {
                self.timer = Some((now + self.track.terminate_delay, Delay::Terminate));
                return None;
            }
            _ => {}
        }
        self.set(self.in_range(n))
    }

    /// The running delay, if it is over: the health the count gives now.
    pub fn fire(&mut self, now: Instant) -> Option<bool> {
        let (at, _) = self.timer?;
        if at > now {
            return None;
        }
        self.timer = None;
        self.set(self.in_range(self.pids.len()))
    }

    /// The counts rebuilt after lost events: a quorum gained counts at once, a quorum lost
    /// after `terminate_delay`.
    pub fn rebuild(&mut self, pids: BTreeSet<u32>, now: Instant) -> Option<bool> {
        self.pids = pids;
        self.timer = None;
        let now_in = self.in_range(self.pids.len());
        if self.healthy == Some(now_in) {
            return None;
        }
        if !now_in && !self.track.terminate_delay.is_zero() {
            self.timer = Some((now + self.track.terminate_delay, Delay::Terminate));
            return None;
        }
        self.set(now_in)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testutil::{which, TempDir};
    use std::time::Duration;

    pub(crate) fn track(name: &str) -> ProcessTrack {
        ProcessTrack {
            name: name.into(),
            params: Vec::new(),
            param_match: ParamMatch::None,
            full_command: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    #[test]
    fn parses_stat_lines() {
        assert_eq!(
            parse_stat(b"42 (sleep) S 1 42 42 0 -1"),
            Some((&b"sleep"[..], b'S', 1))
        );
        assert_eq!(
            parse_stat(b"7 (a) b (c)) Z 3 1"),
            Some((&b"a) b (c)"[..], b'Z', 3))
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

    fn count(p: &Path, t: &ProcessTrack) -> usize {
        matching(t, &scan(p, t.full_command)).len()
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
        let full = |n: &str| ProcessTrack {
            full_command: true,
            ..track(n)
        };
        assert_eq!(count(p, &track("haproxy")), 2);
        assert_eq!(count(p, &track("nginx")), 1);
        assert_eq!(count(p, &track("sshd")), 0);
        // The kernel keeps 15 bytes of the name.
        assert_eq!(count(p, &track("averyveryverylongname")), 1);
        assert_eq!(count(p, &full("/usr/sbin/haproxy")), 2);
        assert_eq!(count(p, &full("haproxy")), 0);
        assert_eq!(count(p, &full("nginx")), 1);
        assert_eq!(scan(p, false)[&11].ppid, 10);
    }

    #[test]
    fn matches_parameters_as_keepalived() {
        let with = |params: &[&str], pm| ProcessTrack {
            params: params.iter().map(|s| s.to_string()).collect(),
            param_match: pm,
            full_command: true,
            ..track("/usr/sbin/haproxy")
        };
        let cmd = b"/usr/sbin/haproxy\0-f\0/etc/haproxy.cfg\0-D\0";
        let m = |t: &ProcessTrack, c: &[u8]| matches(t, b"haproxy", c);
        // process NAME P... : exact.
        let exact = with(&["-f", "/etc/haproxy.cfg", "-D"], ParamMatch::Exact);
        assert!(m(&exact, cmd));
        assert!(!m(
            &with(&["-f", "/etc/haproxy.cfg"], ParamMatch::Exact),
            cmd
        ));
        assert!(!m(
            &with(&["-f", "/etc/haproxy.cfg", "-D", "-x"], ParamMatch::Exact),
            cmd
        ));
        // A bare param_match: no arguments at all.
        assert!(!m(&with(&[], ParamMatch::Exact), cmd));
        assert!(m(&with(&[], ParamMatch::Exact), b"/usr/sbin/haproxy\0"));
        // partial: the first arguments, whole.
        assert!(m(
            &with(&["-f", "/etc/haproxy.cfg"], ParamMatch::Partial),
            cmd
        ));
        assert!(!m(&with(&["-f", "/etc/hap"], ParamMatch::Partial), cmd));
        assert!(!m(&with(&["-D"], ParamMatch::Partial), cmd));
        // initial: the last one may be the beginning of its argument.
        assert!(m(&with(&["-f", "/etc/hap"], ParamMatch::Initial), cmd));
        assert!(!m(&with(&["-f", "/etc/x"], ParamMatch::Initial), cmd));
        assert!(!m(&with(&["-", "/etc/hap"], ParamMatch::Initial), cmd));
        // Without param_match, the arguments do not matter.
        assert!(m(&with(&[], ParamMatch::None), cmd));
        // `argv[0]` must be NAME exactly.
        assert!(!m(&exact, b"haproxy\0-f\0/etc/haproxy.cfg\0-D\0"));
        assert!(!m(&exact, b""));
    }

    fn at(ms: u64, t0: Instant) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn reports_crossings_of_the_quorum_range() {
        let t0 = Instant::now();
        let mut q = Quorum::new(ProcessTrack {
            quorum: 2,
            quorum_max: 3,
            ..track("x")
        });
        assert_eq!(q.start(BTreeSet::from([1])), Some(false));
        assert_eq!(q.add(1, Cause::Recheck, t0), None, "counted once");
        assert_eq!(q.add(2, Cause::Fork, t0), Some(true));
        assert_eq!(q.add(3, Cause::Fork, t0), None);
        assert_eq!(
            q.add(4, Cause::Recheck, t0),
            Some(false),
            "above quorum_max"
        );
        assert_eq!(q.remove(4, Cause::Exit, t0), Some(true));
        assert_eq!(q.remove(9, Cause::Exit, t0), None, "never counted");
        assert_eq!(q.remove(3, Cause::Exit, t0), None);
        assert_eq!(q.remove(2, Cause::Recheck, t0), Some(false));
        assert_eq!(q.deadline(), None);
        // quorum_max 0: healthy while none runs.
        let mut none = Quorum::new(ProcessTrack {
            quorum: 0,
            quorum_max: 0,
            ..track("x")
        });
        assert_eq!(none.start(BTreeSet::new()), Some(true));
        assert_eq!(none.add(5, Cause::Recheck, t0), Some(false));
        assert_eq!(none.remove(5, Cause::Exit, t0), Some(true));
    }

    #[test]
    fn terminate_delay_hides_a_restart_and_delays_a_loss() {
        let t0 = Instant::now();
        let mut q = Quorum::new(ProcessTrack {
            terminate_delay: Duration::from_millis(500),
            ..track("x")
        });
        assert_eq!(q.start(BTreeSet::from([1])), Some(true));
        // Exit, then a new one execs within the delay: never reported.
        assert_eq!(q.remove(1, Cause::Exit, t0), None);
        assert_eq!(q.deadline(), Some(at(500, t0)));
        assert_eq!(q.add(2, Cause::Recheck, at(100, t0)), None);
        assert_eq!(q.deadline(), None);
        assert_eq!(q.fire(at(600, t0)), None);
        // Exit with nothing after: reported once the delay is over, not before.
        assert_eq!(q.remove(2, Cause::Exit, at(1000, t0)), None);
        assert_eq!(q.fire(at(1499, t0)), None);
        assert_eq!(q.fire(at(1500, t0)), Some(false));
        assert_eq!(q.deadline(), None);
        // A loss by exec (the process became something else) is not delayed.
        assert_eq!(q.add(3, Cause::Recheck, at(2000, t0)), Some(true));
        assert_eq!(q.remove(3, Cause::Recheck, at(2100, t0)), Some(false));
    }

    #[test]
    fn fork_delay_delays_a_gain_by_fork_only() {
        let t0 = Instant::now();
        let mut q = Quorum::new(ProcessTrack {
            quorum: 2,
            fork_delay: Duration::from_millis(300),
            ..track("x")
        });
        assert_eq!(q.start(BTreeSet::from([1])), Some(false));
        assert_eq!(q.add(2, Cause::Fork, t0), None);
        assert_eq!(q.deadline(), Some(at(300, t0)));
        assert_eq!(q.fire(at(299, t0)), None);
        assert_eq!(q.fire(at(300, t0)), Some(true));
        // A fork that dies within the delay: the gain is cancelled, nothing reported.
        assert_eq!(q.remove(2, Cause::Exit, at(400, t0)), Some(false));
        assert_eq!(q.add(3, Cause::Fork, at(500, t0)), None);
        assert_eq!(q.remove(3, Cause::Exit, at(600, t0)), None);
        assert_eq!(q.deadline(), None);
        // A gain by exec is not delayed.
        assert_eq!(q.add(4, Cause::Recheck, at(700, t0)), Some(true));
        // quorum_max crossed by a fork is delayed too (the count is re-read when it ends).
        let mut max = Quorum::new(ProcessTrack {
            quorum_max: 1,
            fork_delay: Duration::from_millis(300),
            ..track("x")
        });
        assert_eq!(max.start(BTreeSet::from([1])), Some(true));
        assert_eq!(max.add(2, Cause::Fork, t0), None);
        assert_eq!(max.fire(at(300, t0)), Some(false));
    }

    #[test]
    fn delay_sets_both_and_a_rebuild_delays_only_a_loss() {
        let t0 = Instant::now();
        let mut q = Quorum::new(ProcessTrack {
            terminate_delay: Duration::from_millis(200),
            fork_delay: Duration::from_millis(200),
            ..track("x")
        });
        assert_eq!(q.start(BTreeSet::new()), Some(false));
        assert_eq!(q.rebuild(BTreeSet::from([7]), t0), Some(true));
        assert_eq!(q.rebuild(BTreeSet::from([7, 8]), t0), None);
        assert_eq!(q.rebuild(BTreeSet::new(), t0), None);
        assert_eq!(q.fire(at(200, t0)), Some(false));
        // A terminate delay pending when a rebuild finds the same count: still reported.
        assert_eq!(q.start(BTreeSet::from([1])), Some(true));
        assert_eq!(q.remove(1, Cause::Exit, t0), None);
        assert_eq!(q.rebuild(BTreeSet::new(), at(50, t0)), None);
        assert_eq!(q.fire(at(250, t0)), Some(false));
    }

    #[test]
    fn counts_real_processes_against_the_quorum() {
        // A copy of sleep under a name no other process has, so parallel tests cannot interfere.
        let dir = TempDir::new("procs");
        let name = format!("hvp{}", std::process::id() % 1_000_000);
        let exe = dir.path().join(&name);
        std::fs::copy(which("sleep"), &exe).unwrap();
        let spawn = || std::process::Command::new(&exe).arg("30").spawn().unwrap();
        let range = |min, max| ProcessTrack {
            quorum: min,
            quorum_max: max,
            ..track(&name)
        };
        assert!(!check(&range(1, u32::MAX)).ok);
        assert!(check(&range(0, 0)).ok);
        let mut a = spawn();
        let mut b = spawn();
        let live = || count(Path::new("/proc"), &track(&name));
        // spawn() returns once the child forked; its comm is the copy's name only after exec.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live() < 2 {
            assert!(
                Instant::now() < deadline,
                "the two children never showed up under their name"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let argv0 = ProcessTrack {
            full_command: true,
            ..track(exe.to_str().unwrap())
        };
        assert_eq!(count(Path::new("/proc"), &argv0), 2);
        let thirty = ProcessTrack {
            params: vec!["30".into()],
            param_match: ParamMatch::Exact,
            ..argv0.clone()
        };
        assert_eq!(count(Path::new("/proc"), &thirty), 2);
        assert!(check(&range(2, u32::MAX)).ok);
        assert!(!check(&range(3, u32::MAX)).ok);
        assert!(!check(&range(1, 1)).ok);
        a.kill().unwrap();
        a.wait().unwrap();
        let outcome = check(&range(1, 1));
        assert!(outcome.ok, "{}", outcome.detail);
        b.kill().unwrap();
        // Not reaped yet: a zombie does not count.
        let deadline = Instant::now() + Duration::from_secs(5);
        while live() != 0 {
            assert!(Instant::now() < deadline, "the killed child still counts");
            std::thread::sleep(Duration::from_millis(10));
        }
        b.wait().unwrap();
    }
}
