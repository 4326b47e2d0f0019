//! `cargo xtask chaos`: havip's promises checked under random, overlapping faults drawn from a
//! seed, against the real daemons in a lab, with an invariant checker over the timeline.
//!
//! The lab: N havip nodes (priorities 150, 120, 100, …) on one bridge, one VIP, VRRPv3 adverts
//! every 10 ms, and a client that pings the VIP every 1 ms and sends an ARP request for it every
//! 10 ms from raw sockets of its own. The faults (see [`Kind`]) are drawn from the seed, so a run
//! is replayed by its seed; `--until T` replays it up to T. What is checked, and the bounds, are
//! derived in docs/chaos.md.

mod check;
mod exec;
mod report;
pub mod stalls;

use std::{
    collections::BTreeMap,
    fs,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use crate::{
    lab::Host,
    probe::{ipv4, mac, ArpProbe, Ping},
    rng::Rng,
};

pub const VIP: &str = "10.99.0.100";
/// The advert interval (VRRPv3, 10 ms).
const INTERVAL: Duration = Duration::from_millis(10);
/// What scheduling on a loaded two-core machine adds to a bound (a ping is sent every 1 ms and
/// a daemon's loop wakes on a timer; both can be late by a few milliseconds).
const SLACK: Duration = Duration::from_millis(10);
/// How long a node may take to be back (its daemon answering, out of INIT and FAULT) after the
/// fault that took it away ends; beyond it the node is reported as not recovering.
const RECOVERY: f64 = 5.0;
/// Priorities a reload may give a node: below them nothing, so the slowest Master_Down_Interval
/// is known in advance.
const RELOAD_PRIOS: std::ops::RangeInclusive<u8> = 90..=200;
/// No fault in the first and last seconds: the lab settles, and the run ends on a quiet check.
const SETTLE: f64 = 3.0;

/// Master_Down_Interval (RFC 9568 §6.1) at `priority` with 10 ms adverts.
pub fn master_down(priority: u8) -> Duration {
    INTERVAL * 3 + INTERVAL * (256 - u32::from(priority)) / 256
}

/// The longest Master_Down_Interval any node can have (the lowest priority a reload gives).
fn mdi_max() -> Duration {
    master_down(*RELOAD_PRIOS.start())
}

pub struct Options {
    pub seconds: f64,
    pub seed: u64,
    pub nodes: usize,
    /// Replay only up to this time (seconds from the start of the fault schedule).
    pub until: Option<f64>,
    /// Write an SVG timeline here.
    pub svg: Option<PathBuf>,
    /// Print every transition, not only faults, outages and violations.
    pub verbose: bool,
    /// Run the daemons `vrrp_rt_priority 50` (the default; off shows what it buys).
    pub realtime: bool,
    /// The last node runs keepalived 2.2.7 instead of havip: havip's promises are checked
    /// beside a peer it does not control (violations that involve that node are reported
    /// apart, and do not fail the run).
    pub keepalived: bool,
}

/// A fault kind. Each has a start and (except the instantaneous ones) an end that undoes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `kill -9` of the node's havip; restarted at the end.
    Kill,
    /// SIGSTOP; SIGCONT at the end (a stalled process: swapped out, a debugger, a VM pause).
    Stop,
    /// The node's own interface down; up at the end.
    LinkDown,
    /// The node's bridge port down (the node is cut off the LAN, its link stays up); healed at
    /// the end.
    Partition,
    /// nftables drops this percentage of the frames to and from the node's bridge port.
    Loss(u8),
    /// nftables duplicates this percentage of the node's frames into the LAN.
    Duplicate(u8),
    /// netem delay (ms) and jitter (ms) on both ends of the node's link (where the kernel has
    /// sch_netem).
    Delay(u16, u16),
    /// netem reordering of this percentage of frames, behind a 5 ms delay (sch_netem).
    Reorder(u8),
    /// Every core busy (two shell loops per core) for the duration.
    Stress,
    /// The node's config rewritten with this priority, then SIGHUP.
    Reload(u8),
    /// The VIP deleted from whichever node is master, by another agent.
    VipDelete,
    /// The node's interface deleted; re-created (same MAC, same address) at the end.
    Recreate,
    /// Never scheduled: the node's havip exited by itself (a violation in itself). Restarted
    /// [`RESTART_AFTER`] later, as systemd's `Restart=on-failure` and `RestartSec=1s` in
    /// havip.service do, so the run goes on and the checks see the node come back.
    Exit,
}

/// How long after exiting by itself a daemon is started again (havip.service's `RestartSec`).
pub(crate) const RESTART_AFTER: f64 = 1.0;

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Kill => "kill -9",
            Kind::Stop => "SIGSTOP",
            Kind::LinkDown => "link down",
            Kind::Partition => "partition",
            Kind::Loss(_) => "loss",
            Kind::Duplicate(_) => "duplicate",
            Kind::Delay(..) => "delay",
            Kind::Reorder(_) => "reorder",
            Kind::Stress => "CPU stress",
            Kind::Reload(_) => "reload",
            Kind::VipDelete => "VIP deleted",
            Kind::Recreate => "iface re-created",
            Kind::Exit => "exited, restarted",
        }
    }

    fn describe(&self) -> String {
        match self {
            Kind::Loss(p) => format!("loss {p}%"),
            Kind::Duplicate(p) => format!("duplicate {p}%"),
            Kind::Delay(d, j) => format!("delay {d} ms ± {j} ms"),
            Kind::Reorder(p) => format!("reorder {p}%"),
            Kind::Reload(p) => format!("reload, priority {p}"),
            k => k.name().to_string(),
        }
    }

    /// Faults that make a link lossy or slow rather than cut it: while they last, two nodes
    /// may each miss the other's adverts (a partial partition), so two responders are allowed
    /// during them, not only after.
    fn degrades_link(&self) -> bool {
        matches!(
            self,
            Kind::Loss(_) | Kind::Duplicate(_) | Kind::Delay(..) | Kind::Reorder(_) | Kind::Stress
        )
    }

    fn needs_netem(&self) -> bool {
        matches!(self, Kind::Delay(..) | Kind::Reorder(_))
    }

    /// Faults that take the node away until its daemon says it is back.
    fn takes_node_away(&self) -> bool {
        matches!(
            self,
            Kind::Kill | Kind::LinkDown | Kind::Partition | Kind::Recreate | Kind::Exit
        )
    }

    /// Faults of one class on one node never overlap (a link cannot be both deleted and
    /// lossy); faults of different classes and nodes do.
    fn class(&self) -> u8 {
        match self {
            Kind::Kill | Kind::Stop | Kind::Reload(_) | Kind::Exit => 0,
            Kind::Stress => 2,
            Kind::VipDelete => 3,
            _ => 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fault {
    pub at: f64,
    pub dur: f64,
    pub node: usize,
    pub kind: Kind,
}

/// The initial priorities: 150, 120, 100, then 99, 98, ….
pub fn initial_priorities(nodes: usize) -> Vec<u8> {
    (0..nodes)
        .map(|i| match i {
            0 => 150,
            1 => 120,
            2 => 100,
            i => 101 - i as u8,
        })
        .collect()
}

/// The fault schedule of a seed: a fault starts every 0.4–2.5 s, on a random node, with a
/// random duration; faults of different classes or nodes overlap.
pub fn schedule(seed: u64, seconds: f64, nodes: usize) -> Vec<Fault> {
    const WEIGHTS: [(u32, usize); 12] = [
        (3, 0),  // kill
        (3, 1),  // stop
        (2, 2),  // link down
        (3, 3),  // partition
        (2, 4),  // loss
        (1, 5),  // duplicate
        (1, 6),  // delay
        (1, 7),  // reorder
        (1, 8),  // stress
        (2, 9),  // reload
        (1, 10), // VIP deleted
        (1, 11), // re-created
    ];
    let total: u32 = WEIGHTS.iter().map(|w| w.0).sum();
    let mut rng = Rng::new(seed);
    let mut prios = initial_priorities(nodes);
    let mut busy: BTreeMap<(u8, usize), f64> = BTreeMap::new();
    let end = seconds - SETTLE;
    let mut t = SETTLE;
    let mut faults = Vec::new();
    loop {
        t += rng.range(0.4, 2.5);
        if t >= end {
            break;
        }
        let mut pick = rng.below(total as usize) as u32;
        let which = WEIGHTS
            .iter()
            .find(|(w, _)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(0, |w| w.1);
        let node = rng.below(nodes);
        let (kind, dur) = match which {
            0 => (Kind::Kill, rng.range(0.2, 3.0)),
            1 => (Kind::Stop, rng.log_range(0.05, 5.0)),
            2 => (Kind::LinkDown, rng.range(0.1, 3.0)),
            3 => (Kind::Partition, rng.range(0.1, 4.0)),
            4 => (Kind::Loss(rng.pct(5, 50)), rng.range(1.0, 5.0)),
            5 => (Kind::Duplicate(rng.pct(5, 50)), rng.range(1.0, 4.0)),
            6 => {
                let d = rng.pct(1, 20) as u16;
                (
                    Kind::Delay(d, rng.pct(0, d as u8) as u16),
                    rng.range(1.0, 4.0),
                )
            }
            7 => (Kind::Reorder(rng.pct(5, 50)), rng.range(1.0, 4.0)),
            8 => (Kind::Stress, rng.range(0.5, 3.0)),
            9 => {
                let mut p = rng.pct(*RELOAD_PRIOS.start(), *RELOAD_PRIOS.end());
                while prios.iter().enumerate().any(|(i, q)| i != node && *q == p) {
                    p = if p == *RELOAD_PRIOS.end() {
                        *RELOAD_PRIOS.start()
                    } else {
                        p + 1
                    };
                }
                prios[node] = p;
                (Kind::Reload(p), 0.0)
            }
            10 => (Kind::VipDelete, 0.0),
            _ => (Kind::Recreate, rng.range(0.1, 1.5)),
        };
        // VIP deletions are global and kept 3 s apart: havip gives up re-adding a VIP that
        // another agent removes 5 times in 10 s (FAULT on purpose, not what is tested here).
        let key = (
            kind.class(),
            if kind.class() >= 2 { usize::MAX } else { node },
        );
        if busy.get(&key).is_some_and(|b| *b > t) {
            continue;
        }
        let dur = dur.min(end - t);
        let gap = if kind == Kind::VipDelete { 3.0 } else { 0.2 };
        busy.insert(key, t + dur + gap);
        faults.push(Fault {
            at: t,
            dur,
            node,
            kind,
        });
    }
    faults
}

/// One answer of a node's daemon (recorded when it changes): its pid and state, or why none.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    t: f64,
    pid: Option<u32>,
    state: String,
}

/// A process's (time, RSS in kB, open fds).
pub(crate) type Usage = (f64, u64, usize);

/// A node of the lab while the run goes on.
pub(crate) struct Node {
    host: Host,
    prio: u8,
    /// (time, priority) each time a reload changed it.
    prio_history: Vec<(f64, u8)>,
    conf: PathBuf,
    /// The label of its current havip process in the lab (a restart takes a new one, so the
    /// old log stays readable).
    label: String,
    restarts: u32,
    alive: bool,
    stopped: bool,
    /// When a daemon that exited by itself is started again.
    restart_at: Option<f64>,
    samples: Arc<Mutex<Vec<Sample>>>,
    /// pid → its (time, RSS, fds) every 5 s.
    resources: BTreeMap<u32, Vec<Usage>>,
    /// For a keepalived node: the FIFO its `vrrp_notify_fifo` writes its states to, held open
    /// read-write by the run for as long as the node lives (so keepalived's writes never fail
    /// for want of a reader, and a restart writes to the same FIFO).
    fifo: Option<(PathBuf, fs::File)>,
}

impl Node {
    fn is_keepalived(&self) -> bool {
        self.fifo.is_some()
    }

    fn daemon(&self) -> &'static str {
        if self.is_keepalived() {
            "keepalived"
        } else {
            "havip"
        }
    }

    /// The node's daemon is gone (killed, or exited): said in its samples at once, as the
    /// control socket of a havip node says it. keepalived's FIFO says nothing when its writer
    /// dies.
    fn mark_down(&self, t: f64) {
        if self.is_keepalived() {
            self.samples.lock().unwrap().push(Sample {
                t,
                pid: None,
                state: "down".into(),
            });
        }
    }
}

/// What happened to one scheduled fault.
#[derive(Clone, Debug)]
pub(crate) struct Done {
    fault: Fault,
    /// Why it was not applied (its node dead, the kernel lacking netem…).
    skipped: Option<String>,
    start: f64,
    end: Option<f64>,
    /// When the node was back (its daemon in MASTER or BACKUP again), for faults that take it
    /// away; else the end.
    heal: Option<f64>,
    /// The node the fault hit was master when it started.
    hit_master: bool,
}

#[derive(Clone, Debug)]
pub struct Violation {
    pub at: f64,
    pub invariant: u8,
    pub what: String,
    /// The nodes whose daemons it involves (indexes); empty for the lab's own.
    pub nodes: Vec<usize>,
    /// The stretch of time whose events it judges (for invariants 1 to 3): a stall of the
    /// machine in it, or one Master_Down_Interval before it, may explain it.
    pub span: Option<(f64, f64)>,
}

impl Violation {
    pub(crate) fn new(at: f64, invariant: u8, what: String, nodes: Vec<usize>) -> Violation {
        Violation {
            at,
            invariant,
            what,
            nodes,
            span: None,
        }
    }

    pub(crate) fn judging(mut self, from: f64, to: f64) -> Violation {
        self.span = Some((from, to));
        self
    }
}

pub struct Report {
    pub seed: u64,
    pub seconds: f64,
    /// The broken promises of havip's (and of the lab's): any fails the run.
    pub violations: Vec<Violation>,
    /// With `--with-keepalived`: what broke where the keepalived node was involved (it may be
    /// keepalived's doing, or havip's beside it; the report lists them apart).
    pub keepalived_violations: Vec<Violation>,
    /// What broke while the machine itself stalled (a CPU not run for ≥ [`stalls::STALL_MIN`]),
    /// listed apart: no daemon keeps a 10 ms election through a frozen CPU.
    pub stalled_violations: Vec<Violation>,
    /// Why the run could not judge at all, when the machine stalled too much: the command
    /// fails on it; CI's short runs print it and judge nothing (a busy host is no regression).
    pub unjudged: Option<String>,
    pub text: String,
}

/// A node's configuration, the same for havip and keepalived; a keepalived node also writes its
/// states to `fifo`, and follows its interface being deleted and re-created.
fn node_conf(prio: u8, realtime: bool, fifo: Option<&std::path::Path>) -> String {
    let mut globals = String::from("    vrrp_version 3\n");
    if realtime {
        globals += "    vrrp_rt_priority 50\n";
    }
    if let Some(f) = fifo {
        globals += &format!(
            "    vrrp_notify_fifo {}\n    dynamic_interfaces\n",
            f.display()
        );
    }
    format!(
        "global_defs {{\n{globals}}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {prio}\n    advert_int 0.01\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// The state a node's samples say it was in at `t` (the last change at or before it).
pub(crate) fn state_at(samples: &[Sample], t: f64) -> &str {
    samples
        .iter()
        .take_while(|s| s.t <= t)
        .last()
        .map_or("down", |s| s.state.as_str())
}

pub(crate) fn ms(d: f64) -> String {
    format!("{:.1}", d * 1000.0)
}

/// Runs the chaos lab. Panics only when the lab itself cannot be built; every broken promise
/// is a [`Violation`] in the report.
pub fn run_chaos(opts: &Options) -> Report {
    crate::probe::probes_realtime();
    let run_end = opts
        .until
        .map_or(opts.seconds, |u| (u + 1.0).min(opts.seconds));
    let mut schedule = schedule(opts.seed, opts.seconds, opts.nodes);
    if let Some(u) = opts.until {
        schedule.retain(|f| f.at <= u);
    }
    let prios = initial_priorities(opts.nodes);
    let mut run = exec::Run::build(&prios, opts.realtime, opts.keepalived);
    let stop = Arc::new(AtomicBool::new(false));
    let observers = run.observe(&stop);
    let client = run.client.clone();
    let ping = Ping::start(&client.ns, VIP, Duration::from_millis(1));
    let arp = ArpProbe::start(
        &client.ns,
        "eth0",
        mac(&client.mac),
        ipv4(&client.ip),
        ipv4(VIP),
        INTERVAL,
    );
    let arp_offset = arp
        .started()
        .saturating_duration_since(run.t0)
        .as_secs_f64();

    let watch = stalls::StallWatch::start(run.t0);
    let mut done = run.execute(&schedule, run_end);
    let (stalls, stolen) = watch.stop();

    let ping = ping.stop();
    let (arp_replies, arp_sends) = arp.stop_all();
    stop.store(true, Ordering::Relaxed);
    run.wake_fifo_observers();
    for o in observers {
        let _ = o.join();
    }
    let mut violations = std::mem::take(&mut run.violations);
    violations.extend(check::panics_in_logs(run.lab.dir(), run_end));
    let samples: Vec<Vec<Sample>> = run
        .nodes
        .iter()
        .map(|n| n.samples.lock().unwrap().clone())
        .collect();
    violations.extend(check::heal_times(&mut done, &samples, run_end));
    let keepalived = run.nodes.iter().position(|n| n.is_keepalived());
    if let Some(k) = keepalived {
        // Its violations are reported apart: a FIFO that said nothing would hide them all, so
        // that is the harness's own failure.
        if !samples[k]
            .iter()
            .any(|s| s.state == "MASTER" || s.state == "BACKUP")
        {
            violations.push(Violation::new(
                run_end,
                0,
                format!(
                    "n{} (keepalived) wrote no MASTER or BACKUP to its vrrp_notify_fifo: the \
                     run could not see it",
                    k + 1
                ),
                Vec::new(),
            ));
        }
    }
    // Each ARP request: when it was sent, and the distinct MACs that answered it.
    let mut requests: Vec<(f64, Vec<[u8; 6]>)> = arp_sends
        .iter()
        .map(|d| (d.as_secs_f64() + arp_offset, Vec::new()))
        .collect();
    for r in &arp_replies {
        if let Some((_, macs)) = (r.after_request as usize)
            .checked_sub(1)
            .and_then(|i| requests.get_mut(i))
        {
            if !macs.contains(&r.mac) {
                macs.push(r.mac);
            }
        }
    }
    // Outages are runs of unanswered echo requests: a prober descheduled on a loaded machine
    // sends nothing meanwhile, so that is no outage (gaps between replies would count it).
    let unanswered = ping
        .unanswered_runs()
        .iter()
        .map(|(t, d)| {
            (
                t.saturating_duration_since(run.t0).as_secs_f64(),
                d.as_secs_f64(),
            )
        })
        .collect();
    let mdi = mdi_max().as_secs_f64();
    let facts = check::Facts {
        nodes: &run.nodes,
        samples,
        applied: done.iter().filter(|d| d.skipped.is_none()).collect(),
        requests,
        unanswered,
        mac_of: run
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.host.mac.clone(), i))
            .collect(),
        run_end,
        mdi,
        verbose: opts.verbose,
    };
    let mut findings = facts.check();
    let svg = opts.svg.as_ref().map(|path| {
        let svg = report::svg(&facts.samples, &facts.applied, &findings.duals, run_end);
        (path.clone(), svg)
    });
    let arp_sent = facts.requests.len() as u64;
    drop(facts);
    findings.timeline.append(&mut run.timeline);
    findings.violations.append(&mut violations);

    // The daemons' logs are the lab's and go with it: keep them when something broke.
    let logs = (!findings.violations.is_empty()).then(|| {
        let keep = std::env::temp_dir().join(format!("havip-chaos-{}-logs", opts.seed));
        let _ = fs::remove_dir_all(&keep);
        let _ = fs::create_dir_all(&keep);
        let files = fs::read_dir(run.lab.dir()).into_iter().flatten().flatten();
        for e in files.filter(|e| e.file_type().is_ok_and(|t| t.is_file())) {
            let _ = fs::copy(e.path(), keep.join(e.file_name()));
        }
        keep
    });
    // Tear the lab down, then check nothing of it is left.
    let prefix = run.lab.prefix().to_string();
    let pids: Vec<u32> = run
        .nodes
        .iter()
        .flat_map(|n| n.resources.keys().copied())
        .collect();
    let netem = run.netem;
    drop(run);
    findings
        .violations
        .extend(check::nothing_left(&prefix, &pids, run_end));
    // What a frozen CPU explains is set apart first: a stall in what the violation judges, or
    // one Master_Down_Interval before it (a backup that missed a frozen master's adverts).
    let in_stall = |v: &Violation| {
        v.span.is_some_and(|(from, to)| {
            stalls
                .iter()
                .any(|s| s.at <= to && s.at + s.len >= from - mdi)
        })
    };
    let (stalled, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut findings.violations)
        .into_iter()
        .partition(in_stall);
    findings.violations = rest;
    findings.stalled_violations = stalled;
    // A machine stalled this much cannot judge a 10 ms election at all: the lab's own failure,
    // not a pass.
    let covered = stalls::covered(&stalls, 2.0 * mdi, run_end);
    let unjudged = (covered > stalls::MAX_COVERED).then(|| {
        format!(
            "the machine stalled {} times (a CPU not run for ≥ {} ms): {:.0} % of the run \
                 is within {} ms of one, more than {:.0} %; this machine cannot judge a 10 ms \
                 election",
            stalls.len(),
            stalls::STALL_MIN.as_millis(),
            covered * 100.0,
            ms(2.0 * mdi),
            stalls::MAX_COVERED * 100.0
        )
    });
    if let Some(k) = keepalived {
        let (theirs, ours) = std::mem::take(&mut findings.violations)
            .into_iter()
            .partition(|v| v.nodes.contains(&k));
        findings.violations = ours;
        findings.keepalived_violations = theirs;
    }

    let mut text = report::render(
        &report::Summary {
            opts,
            prios: &prios,
            netem,
            mdi,
            run_end,
            replies: ping.replies.len(),
            arp_sent,
            done: &done,
            keepalived,
            stalls: &stalls,
            stolen,
        },
        &mut findings,
    );
    if let Some(why) = &unjudged {
        text += &format!("\nNOT JUDGED: {why}\n");
    }
    if let Some(dir) = logs {
        text += &format!("the daemons' logs: {}\n", dir.display());
    }
    if let Some((path, svg)) = svg {
        text += &match fs::write(&path, svg) {
            Ok(()) => format!("timeline SVG: {}\n", path.display()),
            Err(e) => format!("could not write {}: {e}\n", path.display()),
        };
    }
    Report {
        seed: opts.seed,
        seconds: opts.seconds,
        violations: findings.violations,
        keepalived_violations: findings.keepalived_violations,
        stalled_violations: findings.stalled_violations,
        unjudged,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed replays: the same schedule every time, and another seed gives another.
    #[test]
    fn a_seed_fixes_the_schedule() {
        let a = schedule(7, 120.0, 3);
        let b = schedule(7, 120.0, 3);
        let c = schedule(8, 120.0, 3);
        let key = |s: &[Fault]| format!("{s:?}");
        assert_eq!(key(&a), key(&b));
        assert_ne!(key(&a), key(&c));
        assert!(a.len() > 30, "{} faults in 120 s", a.len());
        // Faults of one class never overlap on one node; different ones do somewhere.
        let mut overlapping = 0;
        for (i, f) in a.iter().enumerate() {
            for g in &a[i + 1..] {
                if g.at < f.at + f.dur {
                    overlapping += 1;
                    assert!(
                        f.kind.class() != g.kind.class()
                            || (f.node != g.node && f.kind.class() < 2),
                        "{f:?} overlaps {g:?}"
                    );
                }
            }
        }
        assert!(overlapping > 0, "no overlapping faults");
    }

    #[test]
    fn master_down_interval_matches_the_rfc() {
        // 3 × 10 ms + (256 − 100) / 256 × 10 ms = 36.09 ms.
        let d = master_down(100).as_secs_f64() * 1000.0;
        assert!((d - 36.09).abs() < 0.01, "{d}");
    }
}
