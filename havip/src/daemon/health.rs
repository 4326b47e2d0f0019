//! Health: what the checks (`vrrp_script`, probes) and the tracked interfaces
//! (`track_interface`) last said, each instance's verdict from them and from its own
//! interface (keepalived's weights: a priority change, or FAULT), sync groups sharing FAULT,
//! and the verdict applied to the router with its idempotent `set_priority` / `enter_fault` /
//! `leave_fault`.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::Node;
use crate::{
    control::CheckSnapshot,
    model::{BfdSpec, ScriptSpec, SyncGroupSpec, TrackFileSpec, VrrpSpec},
    net::netlink::{Link, Netlink},
    track::{
        effective_priority,
        file::{self, FileWatch},
        proc_events::ProcConnector,
        tracked_bfds, tracked_files, tracked_interfaces, tracked_scripts, CheckSpec, Health,
        ProcessSource, TrackEvent, Tracker, Verdict,
    },
    vrrp::State,
};

/// A `vrrp_track_process`, or a script that is the built-in `havip probe process` (both are
/// followed from process events).
fn is_process(s: &ScriptSpec) -> bool {
    CheckSpec::from_script(s).is_ok_and(|c| matches!(c.check, crate::track::Check::Process(_)))
}

/// What the health sources report to the driver loop.
#[derive(Debug)]
pub(super) enum HealthEvent {
    /// A check (`vrrp_script`, a probe, `vrrp_track_process`) changed state.
    Check(TrackEvent),
    /// A tracked file may hold a new number (keepalived `track_file`).
    File { name: String, value: i64 },
}

/// The checks, the tracked links, and the sync groups.
#[derive(Default)]
pub(super) struct HealthState {
    /// keepalived `vrrp_script` blocks, for the instances' `track_script`.
    pub scripts: Vec<ScriptSpec>,
    /// keepalived `vrrp_sync_group` blocks: their members share FAULT.
    pub sync_groups: Vec<SyncGroupSpec>,
    /// keepalived `track_file` blocks, for the instances' `track_file`.
    pub files: Vec<TrackFileSpec>,
    /// Each tracked file's number, by name, as last read.
    file_values: HashMap<String, i64>,
    /// keepalived `bfd_instance` blocks, for the instances' `track_bfd`.
    pub bfds: Vec<BfdSpec>,
    /// The BFD sessions that are Up, by name (the others are down, from the start).
    pub(super) bfd_up: std::collections::HashSet<String>,
    file_watch: Option<FileWatch>,
    tracker: Option<Tracker>,
    /// Where the current tracker's events go (the driver loop holds the other end).
    track_tx: Option<mpsc::UnboundedSender<HealthEvent>>,
    /// Health of each check, by name, as the tracker last reported it.
    checks: HashMap<String, Health>,
    /// Link state of the interfaces instances track (`track_interface`), by index.
    tracked_links: BTreeMap<u32, (String, bool)>,
    /// How `vrrp_track_process` checks learn of processes: decided once, at set-up (see
    /// [`HealthState::open_process_events`]); `None` while no check needs it.
    procs: Option<ProcessSource>,
}

impl HealthState {
    /// Check events go to `tx` from now on, from this tracker and its successors.
    pub fn set_track_tx(&mut self, tx: mpsc::UnboundedSender<HealthEvent>) {
        self.track_tx = Some(tx);
    }

    /// keepalived `vrrp_track_process`: the kernel's process events (the proc connector),
    /// opened and verified now, during set-up, while havip still has the privileges that
    /// needs; or, if that fails, polling `/proc`, with the reason in a warning, in the checks'
    /// log lines and in `havip stats`. Blocks (the check waits up to
    /// [`crate::track::proc_events::VERIFY_WITHIN`] per attempt) and starts no thread that
    /// outlives it. Nothing is opened without a process check.
    pub fn open_process_events(&mut self) {
        if self.procs.is_some() || !self.scripts.iter().any(is_process) {
            return;
        }
        let source = match ProcConnector::open() {
            Ok(c) => {
                info!(
                    made_in = %c.made_in,
                    "vrrp_track_process: following the kernel's process events (proc connector, verified)"
                );
                ProcessSource::Events(std::sync::Arc::new(c))
            }
            Err(e) => {
                let why = format!("the proc connector does not deliver events: {e:#}");
                warn!(
                    "vrrp_track_process: NOT following process events, polling /proc every {:?} instead (a change is noticed up to that late): {why}",
                    crate::track::POLL_EVERY
                );
                ProcessSource::Poll { why }
            }
        };
        self.procs = Some(source);
    }

    /// How the process checks are followed (for `havip stats`), if there are any.
    fn process_source(&self) -> ProcessSource {
        self.procs.clone().unwrap_or_else(|| ProcessSource::Poll {
            why: "vrrp_track_process came with a reload: the proc connector is opened at start \
                  only, with privileges the daemon has dropped since; restart havip to follow \
                  process events"
                .into(),
        })
    }

    /// (Re)starts the health checks of `self.scripts`; their events reach the driver loop
    /// through `track_tx`, which outlives any one tracker.
    pub async fn start_tracker(&mut self) -> Result<()> {
        self.stop_tracker().await;
        let checks = self
            .scripts
            .iter()
            .map(CheckSpec::from_script)
            .collect::<Result<Vec<_>>>()?;
        let procs = self.process_source();
        if self.procs.is_none() && self.scripts.iter().any(is_process) {
            warn!("vrrp_track_process: {}", procs.describe());
        }
        let (tracker, mut events) = Tracker::spawn(checks, &procs)?;
        let tx = self
            .track_tx
            .clone()
            .context("the driver loop is not running")?;
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tx.send(HealthEvent::Check(ev)).is_err() {
                    return;
                }
            }
        });
        self.tracker = Some(tracker);
        Ok(())
    }

    pub async fn stop_tracker(&mut self) {
        if let Some(old) = self.tracker.take() {
            old.stop().await;
        }
    }

    /// Moves to `scripts`: checks restart from no result (keepalived restarts its scripts on
    /// reload too); results of checks that stay are kept until the first new ones.
    pub async fn replace_scripts(&mut self, scripts: &[ScriptSpec]) -> Result<()> {
        self.scripts = scripts.to_vec();
        self.checks
            .retain(|name, _| scripts.iter().any(|s| &s.name == name));
        self.start_tracker().await
    }

    /// keepalived `init_file`: each tracked file's initial number written (at start, before
    /// the privileges are dropped, and at a reload that changes the files).
    pub fn init_files(files: &[TrackFileSpec]) -> Result<()> {
        for f in files {
            if let Some(init) = f.init {
                file::init_file(&f.path, init.value, init.overwrite)
                    .with_context(|| format!("track_file {}", f.name))?;
            }
        }
        Ok(())
    }

    /// (Re)starts following the tracked files of `files` (keepalived `track_file`): the
    /// directories watched, then every number read. All or nothing: on error the files
    /// followed so far stay followed, with their numbers.
    pub fn start_files(&mut self, files: &[TrackFileSpec]) -> Result<()> {
        let list: Vec<(String, std::path::PathBuf)> = files
            .iter()
            .map(|f| (f.name.clone(), f.path.clone()))
            .collect();
        let watch = if list.is_empty() {
            None
        } else {
            let tx = self
                .track_tx
                .clone()
                .context("the driver loop is not running")?;
            let (watch, now) = FileWatch::spawn(&list, move |name, value| {
                tx.send(HealthEvent::File {
                    name: name.to_string(),
                    value,
                })
                .is_ok()
            })?;
            self.file_values = list.iter().map(|(n, _)| n.clone()).zip(now).collect();
            Some(watch)
        };
        if watch.is_none() {
            self.file_values.clear();
        }
        self.file_watch = watch;
        self.files = files.to_vec();
        for f in &self.files {
            info!(track_file = %f.name, path = %f.path.display(), value = self.file_values.get(&f.name).copied().unwrap_or(0), "tracked file");
        }
        Ok(())
    }

    /// A tracked file's number as read after an event; whether it changed.
    pub fn record_file(&mut self, name: String, value: i64) -> bool {
        let old = self.file_values.insert(name.clone(), value);
        if old != Some(value) {
            info!(track_file = %name, value, "tracked file changed");
        }
        old != Some(value)
    }

    /// A BFD session's new state: whether that changes what `track_bfd` sees (Up or not).
    pub fn record_bfd(&mut self, name: &str, up: bool) -> bool {
        if up {
            self.bfd_up.insert(name.to_string())
        } else {
            self.bfd_up.remove(name)
        }
    }

    /// Starts following `name`'s link state for `track_interface` (once per interface). A
    /// missing interface counts as down.
    pub async fn track_link(&mut self, nl: &Netlink, name: &str) {
        if self.tracked_links.values().any(|(n, _)| n == name) {
            return;
        }
        match nl.link(name).await {
            Ok(link) => {
                self.tracked_links.insert(link.index, (link.name, link.up));
            }
            Err(e) => {
                warn!(iface = %name, "track_interface: {e:#}; counted as down until it appears");
                // Kept by name under an index no interface has (they are positive `int`s), so
                // that `tracked_link_changed` finds it when it appears.
                let index = ((1u32 << 31)..)
                    .find(|i| !self.tracked_links.contains_key(i))
                    .expect("fewer than 2^31 tracked interfaces");
                self.tracked_links.insert(index, (name.to_string(), false));
            }
        }
    }

    /// A link event: whether it changed the state of a tracked interface. A tracked interface
    /// is tracked by name (as keepalived): one re-created under its name is followed at its
    /// new index.
    pub fn tracked_link_changed(&mut self, link: &Link) -> bool {
        if !self.tracked_links.contains_key(&link.index) {
            let old = self
                .tracked_links
                .iter()
                .find(|(_, (n, _))| *n == link.name)
                .map(|(&i, _)| i);
            if let Some(entry) = old.and_then(|i| self.tracked_links.remove(&i)) {
                self.tracked_links.insert(link.index, entry);
            }
        }
        if let Some((name, up)) = self.tracked_links.get_mut(&link.index) {
            if *up != link.up {
                *up = link.up;
                info!(iface = %name, up = link.up, "tracked interface changed");
                return true;
            }
        }
        false
    }

    /// Interface `index` was deleted: a tracked one is down.
    pub fn tracked_link_gone(&mut self, index: u32) {
        if let Some((name, up)) = self.tracked_links.get_mut(&index) {
            if *up {
                *up = false;
                info!(iface = %name, up = false, "tracked interface changed");
            }
        }
    }

    /// Records a check's new result.
    pub fn record(&mut self, ev: TrackEvent) {
        let level = if ev.healthy { "up" } else { "down" };
        debug!(check = %ev.check, state = level, detail = %ev.detail, "check");
        self.checks.insert(ev.check, Health::from(ev.healthy));
    }

    /// What router `v`'s tracked scripts and interfaces say: its priority, or FAULT.
    pub fn verdict(&self, v: &VrrpSpec) -> Verdict {
        let check = |name: &str| self.checks.get(name).copied().unwrap_or(Health::Unknown);
        let link = |name: &str| {
            self.tracked_links
                .values()
                .find(|(n, _)| n == name)
                .map_or(Health::Down, |(_, up)| Health::from(*up))
        };
        let value = |name: &str| self.file_values.get(name).copied().unwrap_or(0);
        let mut tracked = tracked_scripts(v, &self.scripts, check);
        tracked.extend(tracked_interfaces(v, link));
        tracked.extend(tracked_files(v, &self.files, value));
        tracked.extend(tracked_bfds(v, &self.bfds, |n| self.bfd_up.contains(n)));
        effective_priority(v.priority, &tracked)
    }

    /// The names of the instances sharing a sync group with `name` (itself included).
    pub fn sync_peers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        self.sync_groups
            .iter()
            .filter(move |g| g.instances.iter().any(|m| m == name))
            .flat_map(|g| g.instances.iter())
    }

    /// The checks for the snapshot: `None` until the first result.
    pub fn check_snapshots(&self) -> Vec<CheckSnapshot> {
        self.scripts
            .iter()
            .map(|s| CheckSnapshot {
                name: s.name.clone(),
                healthy: match self.checks.get(&s.name) {
                    Some(Health::Up) => Some(true),
                    Some(Health::Down) => Some(false),
                    _ => None,
                },
                followed_by: is_process(s).then(|| self.process_source().describe()),
            })
            .collect()
    }
}

impl Node {
    /// Instance `i`'s own verdict: FAULT when its interface is down or a host change holds it,
    /// else what its tracked interfaces and scripts say (keepalived's weights). `None` for a
    /// static owner.
    pub(super) fn own_verdict(&self, i: usize) -> Option<Verdict> {
        let inst = &self.instances[i];
        let v = inst.spec.vrrp.as_ref()?;
        if !self.ifaces[&inst.ifindex].link.up || self.host_fault(i).is_some() {
            return Some(Verdict::Fault);
        }
        Some(self.health.verdict(v))
    }

    /// Applies instance `i`'s health to its router (idempotent). Members of a
    /// `vrrp_sync_group` share FAULT: when one is in FAULT, all are (keepalived's rule, so a
    /// group's VIPs never end up split across nodes by a failed link or check).
    pub(super) fn apply_health(&mut self, i: usize, now: Instant) {
        let Some(mut verdict) = self.own_verdict(i) else {
            return;
        };
        let group_faulted = self
            .health
            .sync_peers(&self.instances[i].spec.name)
            .filter_map(|member| self.instances.iter().position(|x| &x.spec.name == member))
            .any(|j| j != i && self.own_verdict(j) == Some(Verdict::Fault));
        if group_faulted {
            verdict = Verdict::Fault;
        }
        let Some(r) = &mut self.instances[i].router else {
            return;
        };
        let before = r.effective_priority();
        match verdict {
            Verdict::Fault => r.enter_fault(now),
            Verdict::Priority(p) | Verdict::Init(p) => {
                r.set_priority(now, p);
                r.leave_fault(now);
            }
        }
        let (after, state) = (r.effective_priority(), r.state());
        let inst = &self.instances[i];
        let wanted = inst
            .spec
            .vrrp
            .as_ref()
            .is_some_and(|v| v.notify.priority_changes);
        // keepalived's send_instance_priority_notifies(): MASTER_PRIORITY while master, else
        // BACKUP_PRIORITY (in FAULT too); not for the priority an instance starts with.
        if wanted && after != before && state != State::Initialize {
            self.hooks
                .notifier
                .priority_changed(&inst.spec.name, state == State::Master, after);
        }
    }

    /// A BFD session changed state: `track_bfd` re-applied, then havip's fast takeover: a
    /// backup with `fast_takeover` whose master is this session's neighbour, and whose session
    /// left Up because the neighbour went silent (diag 1), cuts its Master_Down_Timer to a skew
    /// at BFD scale (see [`fast_takeover_skew`]), counted from the detection.
    pub(super) async fn on_bfd(&mut self, ev: crate::bfd::BfdEvent) {
        use crate::bfd::BfdState;
        // The takeover first (it is timed), then the tracking's verdicts.
        // Silence only: a neighbour's Down is a live neighbour that lost our packets, and its
        // AdminDown a live one that stopped the session (a reload, a stop, whose priority-0
        // advert VRRP handles); RFC 5882 3.2 says as much of AdminDown.
        if ev.from == BfdState::Up && ev.diag == crate::bfd::Diag::TimeExpired {
            self.fast_takeover(&ev).await;
        }
        if self.health.record_bfd(&ev.name, ev.to == BfdState::Up) {
            self.apply_health_all().await;
        }
    }

    /// havip's fast takeover on a session to the master gone silent (see [`Node::on_bfd`]).
    async fn fast_takeover(&mut self, ev: &crate::bfd::BfdEvent) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            let inst = &mut self.instances[i];
            if !inst.spec.vrrp.as_ref().is_some_and(|v| v.fast_takeover) {
                continue;
            }
            let Some(r) = &mut inst.router else { continue };
            // Counted from the detection, not from when this thread got to it.
            let skew = fast_takeover_skew(r.effective_priority(), ev.detection_time);
            let after = (ev.at + skew).saturating_duration_since(now);
            if r.master_gone(now, ev.neighbor, after) {
                info!(
                    instance = %inst.spec.name,
                    bfd = %ev.name,
                    master = %ev.neighbor,
                    diag = %ev.diag,
                    skew_us = skew.as_micros() as u64,
                    since_down_us = now.saturating_duration_since(ev.at).as_micros() as u64,
                    "fast takeover: the BFD session to the master went down"
                );
                self.drain(i).await;
            }
        }
    }

    /// What the BFD thread needs to beat XDP's heartbeat (see [`crate::bfd::BeatGate`]).
    pub(super) fn bfd_beat(&self) -> Result<crate::bfd::Beat> {
        let dp = self.dp.as_ref().context("data plane")?;
        self.beat_gate.last_ns.store(
            crate::dataplane::monotonic_ns(),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(crate::bfd::Beat {
            writer: dp.heartbeat_writer()?,
            gate: self.beat_gate.clone(),
        })
    }

    /// The BFD thread stopped: every session AdminDown first.
    pub(super) fn stop_bfd(&mut self) {
        if let Some(b) = self.bfd.take() {
            b.stop();
        }
    }

    /// A reload's `bfd_instance`s: the thread's sessions replaced (unchanged ones go on), or
    /// the thread started or stopped.
    pub(super) fn replace_bfds(&mut self, bfds: &[BfdSpec]) {
        if bfds == self.health.bfds.as_slice() {
            return;
        }
        // A changed session starts again from Down, with no event to say so.
        let old = std::mem::replace(&mut self.health.bfds, bfds.to_vec());
        // (A kept session under a new name is announced again by the thread.)
        self.health.bfd_up.retain(|n| {
            bfds.iter().any(|b| {
                &b.name == n
                    && old
                        .iter()
                        .any(|o| &o.name == n && crate::bfd::same_session(o, b))
            })
        });
        if bfds.is_empty() {
            self.stop_bfd();
            return;
        }
        if let Some(b) = &self.bfd {
            b.replace(bfds.to_vec());
            return;
        }
        let Some(tx) = self.bfd_tx.clone() else {
            return;
        };
        let beat = match self.bfd_beat() {
            Ok(b) => Some(b),
            Err(e) => {
                warn!("reload: the BFD thread will not beat XDP's heartbeat: {e:#}");
                None
            }
        };
        // The capability real-time scheduling needs is gone by now.
        match crate::bfd::Bfd::spawn(bfds, None, tx, beat) {
            Ok(b) => {
                if self.bfd_rt_priority.is_some() {
                    warn!("reload: BFD sessions started without real-time scheduling; restart havip for bfd_rt_priority");
                }
                self.bfd = Some(b);
            }
            Err(e) => warn!("reload: BFD sessions not started: {e:#}"),
        }
    }

    /// Re-applies the health of every instance and carries out what follows.
    pub(super) async fn apply_health_all(&mut self) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.apply_health(i, now);
            self.drain(i).await;
        }
    }

    /// A check changed state, or a tracked file was written: every instance's health is
    /// re-applied.
    pub(super) async fn on_track(&mut self, ev: HealthEvent) {
        match ev {
            HealthEvent::Check(ev) => self.health.record(ev),
            HealthEvent::File { name, value } => {
                if !self.health.record_file(name, value) {
                    return;
                }
            }
        }
        self.apply_health_all().await;
    }
}

/// How long a backup waits, after its BFD session to the master went down, before it takes
/// over: RFC 9568's Skew_Time at BFD scale, ((256 − priority) × Master_Adver_Interval) / 256
/// with the detection time standing for three intervals (as Master_Down_Interval is three
/// intervals plus the skew): ((256 − priority) × detection time) / 768. The backup that would
/// win (the highest priority) goes first, by a margin that grows with the detection time.
pub(super) fn fast_takeover_skew(
    priority: u8,
    detection_time: Option<std::time::Duration>,
) -> std::time::Duration {
    let d = detection_time.unwrap_or_default();
    d * (256 - u32::from(priority)) / 768
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The skew orders backups by priority and scales with the detection time.
    #[test]
    fn the_fast_takeover_skew_is_skew_time_at_bfd_scale() {
        use std::time::Duration;
        let ms3 = Some(Duration::from_millis(3));
        assert_eq!(
            fast_takeover_skew(100, ms3),
            Duration::from_micros(609) + Duration::from_nanos(375)
        );
        assert!(fast_takeover_skew(150, ms3) < fast_takeover_skew(100, ms3));
        assert_eq!(
            fast_takeover_skew(254, Some(Duration::from_millis(9))),
            Duration::from_micros(23) + Duration::from_nanos(437)
        );
        assert_eq!(fast_takeover_skew(100, None), Duration::ZERO);
    }

    fn link(name: &str, index: u32, up: bool) -> Link {
        Link {
            name: name.into(),
            index,
            mac: [2, 0, 0, 0, 0, 1],
            up,
        }
    }

    /// keepalived tracks `track_interface` by name: a tracked interface deleted and re-created
    /// under its name is followed at its new index, down while gone, and its return counts.
    #[test]
    fn a_tracked_interface_is_followed_by_name_across_re_creation() {
        let mut h = HealthState::default();
        h.tracked_links.insert(5, ("uplink".into(), true));
        let v = VrrpSpec {
            track_interfaces: vec![("uplink".into(), 0)],
            ..VrrpSpec::new(1, 100)
        };
        assert_eq!(h.verdict(&v), Verdict::Priority(100));
        assert!(
            !h.tracked_link_changed(&link("uplink", 5, true)),
            "no change"
        );
        assert!(
            !h.tracked_link_changed(&link("other", 6, false)),
            "not tracked"
        );

        h.tracked_link_gone(5);
        assert_eq!(h.verdict(&v), Verdict::Fault, "weight 0: down means FAULT");
        assert!(
            h.tracked_link_changed(&link("uplink", 9, true)),
            "back at index 9"
        );
        assert_eq!(h.verdict(&v), Verdict::Priority(100));
        assert!(h.tracked_link_changed(&link("uplink", 9, false)));
        assert_eq!(h.verdict(&v), Verdict::Fault);
        assert_eq!(h.tracked_links.len(), 1);
    }

    /// Sync groups: an instance's peers are the members of every group it is in.
    #[test]
    fn sync_peers_are_the_members_of_the_instance_s_groups() {
        let group = |name: &str, members: &[&str]| SyncGroupSpec {
            name: name.into(),
            instances: members.iter().map(|m| m.to_string()).collect(),
            notify: Default::default(),
            track: Default::default(),
            tracking_weight: false,
        };
        let h = HealthState {
            sync_groups: vec![group("G1", &["a", "b"]), group("G2", &["c", "d"])],
            ..HealthState::default()
        };
        let peers: Vec<&String> = h.sync_peers("b").collect();
        assert_eq!(peers, ["a", "b"]);
        assert_eq!(h.sync_peers("e").count(), 0);
    }
}
