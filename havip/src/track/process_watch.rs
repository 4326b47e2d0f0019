//! The task that runs a tracker's `vrrp_track_process` checks: one initial scan of `/proc`,
//! then the kernel's process events (or, as the fallback, a scan every
//! [`POLL_EVERY`]), each count kept by a [`Quorum`] that applies keepalived's delays.
//! Health changes go out as [`TrackEvent`]s, like the other checks'.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::Arc,
    time::Duration,
};

use tokio::{io::unix::AsyncFd, sync::mpsc, time::Instant};
use tracing::{debug, info, warn};

use super::{
    proc_events::{self, ProcConnector, ProcEvent, Read},
    process::{self, Cause, Quorum},
    TrackEvent,
};
use crate::model::ProcessTrack;

/// How often the fallback scans `/proc` (keepalived has no fallback; havip's polling before
/// the proc connector ran at this interval too).
pub const POLL_EVERY: Duration = Duration::from_millis(200);

/// Where a tracker learns of processes.
#[derive(Clone, Debug)]
pub enum ProcessSource {
    /// The proc connector, verified at start.
    Events(Arc<ProcConnector>),
    /// A scan every [`POLL_EVERY`], and why events are not used.
    Poll { why: String },
}

impl ProcessSource {
    /// For logs and `havip stats`: how the process checks are followed.
    pub fn describe(&self) -> String {
        match self {
            ProcessSource::Events(c) => format!("process events (proc connector, {})", c.made_in),
            ProcessSource::Poll { why } => {
                format!("polling /proc every {POLL_EVERY:?}: {why}")
            }
        }
    }
}

struct Checks {
    list: Vec<(String, Quorum)>,
    want_cmdline: bool,
    tx: mpsc::UnboundedSender<TrackEvent>,
}

impl Checks {
    /// Sends `healthy` for check `i`; false when nobody listens any more.
    fn report(&self, i: usize, healthy: Option<bool>) -> bool {
        let Some(healthy) = healthy else { return true };
        let (name, q) = &self.list[i];
        let detail = q.describe(q.count());
        if healthy {
            info!(check = %name, "check succeeded: {detail}");
        } else {
            warn!(check = %name, "check failed: {detail}");
        }
        self.tx
            .send(TrackEvent {
                check: name.clone(),
                healthy,
                detail,
            })
            .is_ok()
    }

    /// Applies `f` to each check and reports what changed.
    fn each(&mut self, mut f: impl FnMut(&mut Quorum) -> Option<bool>) -> bool {
        for i in 0..self.list.len() {
            let h = f(&mut self.list[i].1);
            if !self.report(i, h) {
                return false;
            }
        }
        true
    }

    async fn scan(&self) -> BTreeMap<u32, process::Seen> {
        let want = self.want_cmdline;
        tokio::task::spawn_blocking(move || process::scan(Path::new("/proc"), want))
            .await
            .unwrap_or_default()
    }

    fn deadline(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter_map(|(_, q)| q.deadline())
            .min()
            .map(Instant::from_std)
    }

    fn on_event(&mut self, ev: &ProcEvent) -> bool {
        let now = std::time::Instant::now();
        match *ev {
            // Threads are not processes: keepalived ignores their forks, execs and exits.
            ProcEvent::Fork {
                parent_tgid,
                child_pid,
                child_tgid,
            } if child_pid == child_tgid => {
                let (parent, child) = (parent_tgid as u32, child_pid as u32);
                self.each(|q| {
                    if q.has(parent) {
                        q.add(child, Cause::Fork, now)
                    } else {
                        None
                    }
                })
            }
            ProcEvent::Exec { pid, tgid } if pid == tgid => {
                let pid = pid as u32;
                // Gone already (or a zombie): its exit event does the rest.
                let Some(seen) = process::read_process(Path::new("/proc"), pid, self.want_cmdline)
                else {
                    return true;
                };
                self.each(|q| {
                    if process::matches(&q.track, &seen.comm, &seen.cmdline) {
                        q.add(pid, Cause::Recheck, now)
                    } else {
                        q.remove(pid, Cause::Recheck, now)
                    }
                })
            }
            ProcEvent::Comm {
                pid,
                tgid,
                ref comm,
            } if pid == tgid => {
                let pid = pid as u32;
                self.each(|q| {
                    if q.track.full_command {
                        None
                    } else if process::matches(&q.track, comm, &[]) {
                        q.add(pid, Cause::Recheck, now)
                    } else {
                        q.remove(pid, Cause::Recheck, now)
                    }
                })
            }
            ProcEvent::Exit { pid, tgid } if pid == tgid => {
                let pid = pid as u32;
                self.each(|q| q.remove(pid, Cause::Exit, now))
            }
            _ => true,
        }
    }

    /// One poll: what changed since the last scan, taken as the events that would have made it.
    fn on_scan(&mut self, seen: &BTreeMap<u32, process::Seen>) -> bool {
        let now = std::time::Instant::now();
        for i in 0..self.list.len() {
            let q = &mut self.list[i].1;
            let new = process::matching(&q.track, seen);
            let before: BTreeSet<u32> = q.pids().collect();
            let mut changes = Vec::new();
            for pid in &before {
                if !new.contains(pid) {
                    let cause = if seen.contains_key(pid) {
                        Cause::Recheck
                    } else {
                        Cause::Exit
                    };
                    changes.push(q.remove(*pid, cause, now));
                }
            }
            for pid in &new {
                if !q.has(*pid) {
                    let ppid = seen[pid].ppid;
                    let cause = if ppid != *pid && (before.contains(&ppid) || new.contains(&ppid)) {
                        Cause::Fork
                    } else {
                        Cause::Recheck
                    };
                    changes.push(q.add(*pid, cause, now));
                }
            }
            for h in changes {
                if !self.report(i, h) {
                    return false;
                }
            }
        }
        true
    }
}

/// Runs `checks` (name, process) until the receiver of `tx` is gone or the task is aborted.
pub(super) async fn run(
    checks: Vec<(String, ProcessTrack)>,
    source: ProcessSource,
    tx: mpsc::UnboundedSender<TrackEvent>,
) {
    let mut c = Checks {
        want_cmdline: checks.iter().any(|(_, t)| t.full_command),
        list: checks
            .into_iter()
            .map(|(name, t)| (name, Quorum::new(t)))
            .collect(),
        tx,
    };
    let names: Vec<&str> = c.list.iter().map(|(n, _)| n.as_str()).collect();
    match &source {
        ProcessSource::Events(_) => {
            info!(checks = ?names, "vrrp_track_process followed by {}", source.describe())
        }
        ProcessSource::Poll { .. } => {
            warn!(checks = ?names, "vrrp_track_process NOT followed by process events, {}", source.describe())
        }
    }
    // Subscribed before the scan: whatever happens meanwhile is in the socket, and the PID sets
    // make an event about a process the scan already saw harmless.
    let events = match &source {
        ProcessSource::Events(conn) => match conn.fd().try_clone_to_owned().and_then(|fd| {
            // SAFETY: `fd` is a duplicate owned here, closed only when the AsyncFd is dropped.
            unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
                .map_err(std::io::Error::from)
        }) {
            Ok(fd) => {
                drain(&fd);
                Some(fd)
            }
            Err(e) => {
                warn!("vrrp_track_process: the proc connector socket cannot be polled ({e}): polling /proc every {POLL_EVERY:?} instead");
                None
            }
        },
        ProcessSource::Poll { .. } => None,
    };
    let seen = c.scan().await;
    if !c.each(|q| q.start(process::matching(&q.track, &seen))) {
        return;
    }
    let Some(fd) = events else {
        poll(c).await;
        return;
    };
    loop {
        let deadline = c.deadline();
        tokio::select! {
            guard = fd.readable() => {
                let Ok(mut guard) = guard else {
                    warn!("vrrp_track_process: the proc connector socket failed: polling /proc every {POLL_EVERY:?} instead");
                    poll(c).await;
                    return;
                };
                let mut lost = false;
                loop {
                    match proc_events::read(fd.get_ref()) {
                        Ok(Read::Events(evs)) => {
                            for ev in &evs {
                                if !c.on_event(ev) {
                                    return;
                                }
                            }
                        }
                        Ok(Read::Empty) => {
                            guard.clear_ready();
                            break;
                        }
                        Ok(Read::Lost) => lost = true,
                        Err(e) => {
                            warn!("vrrp_track_process: reading process events: {e}");
                            guard.clear_ready();
                            break;
                        }
                    }
                }
                if lost {
                    warn!("vrrp_track_process: the kernel dropped process events (socket buffer full): counting again from /proc");
                    let seen = c.scan().await;
                    let now = std::time::Instant::now();
                    if !c.each(|q| q.rebuild(process::matching(&q.track, &seen), now)) {
                        return;
                    }
                }
            }
            () = sleep_until(deadline) => {
                let now = std::time::Instant::now();
                if !c.each(|q| q.fire(now)) {
                    return;
                }
            }
        }
    }
}

/// Reads and drops whatever is waiting (events from before the scan are in the scan).
fn drain(fd: &AsyncFd<std::os::fd::OwnedFd>) {
    for _ in 0..10_000 {
        match proc_events::read(fd.get_ref()) {
            Ok(Read::Events(_) | Read::Lost) => {}
            Ok(Read::Empty) | Err(_) => return,
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The fallback: a scan every [`POLL_EVERY`], the delays applied between scans.
async fn poll(mut c: Checks) {
    let mut ticks = tokio::time::interval(POLL_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ticks.tick().await;
    loop {
        let deadline = c.deadline();
        tokio::select! {
            _ = ticks.tick() => {
                let seen = c.scan().await;
                debug!(processes = seen.len(), "vrrp_track_process: /proc scanned");
                if !c.on_scan(&seen) {
                    return;
                }
            }
            () = sleep_until(deadline) => {
                let now = std::time::Instant::now();
                if !c.each(|q| q.fire(now)) {
                    return;
                }
            }
        }
    }
}
