//! The invariant checker: what the run recorded (the daemons' states, the client's ARP and ICMP
//! probes, what each fault did and when) against the promises, with the bounds docs/chaos.md
//! derives. Each broken promise is a [`Violation`]; the rest goes in the timeline.

use std::{collections::BTreeMap, fs, path::Path};

use super::{
    ms, state_at, Done, Kind, Node, Sample, Usage, Violation, INTERVAL, RECOVERY, SETTLE, SLACK,
};
use crate::probe::mac_str;

/// What a run recorded, in seconds from its start.
pub(super) struct Facts<'a> {
    pub nodes: &'a [Node],
    pub samples: Vec<Vec<Sample>>,
    pub applied: Vec<&'a Done>,
    /// Each ARP request: when it was sent, and the distinct MACs that answered it.
    pub requests: Vec<(f64, Vec<[u8; 6]>)>,
    /// Runs of unanswered echo requests: (start, length).
    pub unanswered: Vec<(f64, f64)>,
    pub mac_of: BTreeMap<String, usize>,
    pub run_end: f64,
    /// The longest Master_Down_Interval a node can have.
    pub mdi: f64,
    /// Every state change in the timeline, not only the new masters.
    pub verbose: bool,
}

/// What the checks found.
#[derive(Default)]
pub(super) struct Findings {
    pub violations: Vec<Violation>,
    /// Those that involve a keepalived node (with `--with-keepalived`), set apart at the end.
    pub keepalived_violations: Vec<Violation>,
    /// Those a stall of the machine explains, set apart at the end.
    pub stalled_violations: Vec<Violation>,
    pub timeline: Vec<(f64, String)>,
    /// When two nodes answered one request, and how many of those were within an allowed
    /// window.
    pub duals: Vec<f64>,
    pub duals_allowed: usize,
    pub quiet_checks: usize,
    pub quiet_failures: usize,
    /// Per fault kind: (applied, isolated, longest outage when isolated, bound).
    pub outages: BTreeMap<&'static str, (usize, usize, f64, Option<f64>)>,
    pub resources: Vec<String>,
}

/// When each fault healed: for one that takes its node away, when the node's daemon was back
/// in MASTER or BACKUP; for the others, its end. A node not back within [`RECOVERY`] is a
/// violation (and leaves no quiet period after it, so nothing else hides it).
pub(super) fn heal_times(
    done: &mut [Done],
    samples: &[Vec<Sample>],
    run_end: f64,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for d in done.iter_mut().filter(|d| d.skipped.is_none()) {
        let end = d.end.unwrap_or(d.start);
        let back = |s: &str| s == "MASTER" || s == "BACKUP";
        d.heal = if d.fault.kind.takes_node_away() && d.end.is_some() {
            let s = &samples[d.fault.node];
            s.iter()
                .find(|s| s.t >= end && back(&s.state))
                .map(|s| s.t)
                // Already back in the sample before the end (nothing changed).
                .or_else(|| back(state_at(s, end)).then_some(end))
        } else {
            Some(end)
        };
        if d.heal.is_none() && end + RECOVERY < run_end {
            violations.push(Violation::new(
                end,
                2,
                format!(
                    "n{} not back within {RECOVERY} s after the end of {}",
                    d.fault.node + 1,
                    d.fault.kind.describe()
                ),
                vec![d.fault.node],
            ));
        }
    }
    violations
}

impl Facts<'_> {
    fn name_of(&self, m: &[u8; 6]) -> String {
        let s = mac_str(m);
        self.mac_of
            .get(&s)
            .map_or(s.clone(), |i| format!("n{}", i + 1))
    }

    fn heal(&self, d: &Done) -> f64 {
        d.heal.unwrap_or(self.run_end)
    }

    pub fn check(&self) -> Findings {
        let mut f = Findings::default();
        self.two_responders(&mut f);
        self.arp_answers(&mut f);
        self.quiet_periods(&mut f);
        self.outages(&mut f);
        self.resources(&mut f);
        self.state_changes(&mut f);
        f
    }

    /// Invariant 1: never two MACs answering one ARP request, except within one
    /// Master_Down_Interval, one advert interval and the scheduling slack after a heal (and during a fault that degrades a link), and, when
    /// the master is taken away, two backups racing to take over (docs/chaos.md says why and
    /// bounds it): both of them, not the old master, within one Master_Down_Interval and one
    /// advert interval of the fault's start.
    fn two_responders(&self, f: &mut Findings) {
        for (t, macs) in &self.requests {
            if macs.len() < 2 {
                continue;
            }
            let who_nodes: Vec<Option<usize>> = macs
                .iter()
                .map(|m| self.mac_of.get(&mac_str(m)).copied())
                .collect();
            let allowed = self.applied.iter().any(|d| {
                let heal = self.heal(d);
                let from = if d.fault.kind.degrades_link() {
                    d.start
                } else {
                    heal
                };
                let race = d.hit_master
                    && (d.fault.kind.takes_node_away() || d.fault.kind == Kind::Stop)
                    && !who_nodes.contains(&Some(d.fault.node))
                    && *t >= d.start
                    && *t <= d.start + self.mdi + INTERVAL.as_secs_f64();
                // A node back from a heal that outranks the master preempts only when its own
                // Master_Down_Timer runs out (it waits as BACKUP: RFC 9568 §6.4.2), up to an
                // MDI after the heal; the old master steps down on its first advert, one
                // interval and the machine's scheduling later.
                race || (*t >= from && *t <= heal + self.mdi + (INTERVAL + SLACK).as_secs_f64())
            });
            let who: Vec<String> = macs.iter().map(|m| self.name_of(m)).collect();
            f.duals.push(*t);
            if allowed {
                f.duals_allowed += 1;
                f.timeline
                    .push((*t, format!("two responders ({}), allowed", who.join(", "))));
            } else {
                f.violations.push(
                    Violation::new(
                        *t,
                        1,
                        format!("two nodes answered one ARP request: {}", who.join(", ")),
                        who_nodes.iter().flatten().copied().collect(),
                    )
                    // A backup that missed a frozen master's adverts took over, and the master
                    // steps down within an MDI of thawing.
                    .judging(*t - 2.0 * self.mdi, *t),
                );
            }
        }
    }

    /// The timeline of who answers ARP, and of the requests nobody answered.
    fn arp_answers(&self, f: &mut Findings) {
        let mut last: Option<&Vec<[u8; 6]>> = None;
        let mut silent_since: Option<f64> = None;
        for (t, macs) in &self.requests {
            if macs.is_empty() {
                silent_since.get_or_insert(*t);
                continue;
            }
            if let Some(s) = silent_since.take() {
                f.timeline
                    .push((s, format!("ARP unanswered for {} ms", ms(t - s))));
            }
            if last != Some(macs) {
                let who: Vec<String> = macs.iter().map(|m| self.name_of(m)).collect();
                f.timeline
                    .push((*t, format!("ARP answered by {}", who.join(", "))));
                last = Some(macs);
            }
        }
    }

    fn prio_at(n: &Node, t: f64) -> u8 {
        n.prio_history
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(n.prio, |p| p.1)
    }

    /// Invariant 2: after every quiet period of 2 × Master_Down_Interval (no fault active, every
    /// node back), exactly one master, the highest-priority live node, and only it answers ARP.
    fn quiet_periods(&self, f: &mut Findings) {
        let mut checks: Vec<f64> = Vec::new();
        let heals = self.applied.iter().filter_map(|d| d.heal);
        for h in heals.chain([SETTLE / 2.0]) {
            let q = h + 2.0 * self.mdi;
            if q > self.run_end - 0.05 {
                continue;
            }
            // Quiet from the heal until the next three ARP requests are answered.
            let until = q + 4.0 * INTERVAL.as_secs_f64();
            let quiet = self
                .applied
                .iter()
                .all(|d| d.start > until || d.heal.unwrap_or(f64::INFINITY) <= h);
            if quiet && !checks.iter().any(|c| (c - q).abs() < 1e-9) {
                checks.push(q);
            }
        }
        checks.sort_by(f64::total_cmp);
        f.quiet_checks = checks.len();
        let names = |v: &[usize]| {
            v.iter()
                .map(|i| format!("n{}", i + 1))
                .collect::<Vec<_>>()
                .join(",")
        };
        for q in checks {
            let masters: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| state_at(&self.samples[i], q) == "MASTER")
                .collect();
            // A daemon that exited was started again (and its exit is a fault until it is
            // back): every node is expected.
            let expected = (0..self.nodes.len()).max_by_key(|&i| Self::prio_at(&self.nodes[i], q));
            // Who answers the next three requests sent (no fault starts before they are
            // answered: a quiet period is checked only when the next fault is further away).
            let mut answering: Vec<usize> = self
                .requests
                .iter()
                .filter(|(t, _)| *t >= q)
                .take(3)
                .flat_map(|(_, macs)| macs.iter())
                .filter_map(|m| self.mac_of.get(&mac_str(m)).copied())
                .collect();
            answering.sort_unstable();
            answering.dedup();
            let ok = expected.is_some_and(|e| masters == [e] && answering == [e]);
            if !ok {
                f.quiet_failures += 1;
                let mut involved: Vec<usize> = masters
                    .iter()
                    .chain(&answering)
                    .chain(&expected)
                    .copied()
                    .collect();
                involved.sort_unstable();
                involved.dedup();
                f.violations.push(
                    Violation::new(
                        q,
                        2,
                        format!(
                            "after a quiet {} ms: masters [{}], ARP answered by [{}], expected {}",
                            ms(2.0 * self.mdi),
                            names(&masters),
                            names(&answering),
                            expected.map_or("none".into(), |e| format!(
                                "n{} (priority {})",
                                e + 1,
                                Self::prio_at(&self.nodes[e], q)
                            ))
                        ),
                        involved,
                    )
                    .judging(q - 2.0 * self.mdi, q + 4.0 * INTERVAL.as_secs_f64()),
                );
            }
        }
    }

    /// Invariant 3: the client's outage around each fault that did not overlap another, within
    /// the bound for that fault.
    fn outages(&self, f: &mut Findings) {
        // The longest run of unanswered echoes in a window: (its start, its length).
        let longest_in = |from: f64, to: f64| -> (f64, f64) {
            self.unanswered
                .iter()
                // A run that began before the fault was something else's (an echo in flight
                // at the fault's start is 2 ms of grace).
                .filter(|(t, _)| *t >= from - 0.002 && *t <= to)
                .fold((from, 0.0), |a, &(t, d)| if d > a.1 { (t, d) } else { a })
        };
        let settle = 2.0 * self.mdi;
        for d in &self.applied {
            let window = (d.start, (self.heal(d) + settle).min(self.run_end));
            let isolated = self.applied.iter().all(|o| {
                std::ptr::eq(*o, *d) || self.heal(o) + settle < window.0 - 0.1 || o.start > window.1
            });
            let (gap_at, gap) = longest_in(window.0, window.1);
            let k = d.fault.kind;
            let bound = if k.degrades_link() && k != Kind::Stress {
                None // the client's own echoes are lost or late: no bound on what it sees
            } else if (d.hit_master && k.takes_node_away())
                || matches!(k, Kind::Stop | Kind::Stress)
            {
                // The master is gone: a backup takes over one Master_Down_Interval after the last
                // advert it heard (at most the fault's start) and announces itself at once.
                Some(self.mdi + SLACK.as_secs_f64())
            } else {
                // A backup's fault, a reload, a VIP deleted and put back: no takeover to wait for.
                Some((INTERVAL + SLACK).as_secs_f64())
            };
            let e = f.outages.entry(k.name()).or_insert((0, 0, 0.0, bound));
            e.0 += 1;
            if !isolated {
                continue;
            }
            e.1 += 1;
            e.2 = e.2.max(gap);
            let Some(b) = bound else { continue };
            e.3 = Some(e.3.map_or(b, |x: f64| x.max(b)));
            if gap > b {
                // The node hit, and whoever was master meanwhile (the one that took over).
                let mut involved = self.masters_between(window.0, window.1);
                if !involved.contains(&d.fault.node) {
                    involved.push(d.fault.node);
                }
                f.violations.push(
                    Violation::new(
                        d.start,
                        3,
                        format!(
                        "{} on n{}{}: the client's echoes went unanswered for {} ms (bound {} ms)",
                        k.describe(),
                        d.fault.node + 1,
                        if d.hit_master { " (master)" } else { "" },
                        ms(gap),
                        ms(b)
                    ),
                        involved,
                    )
                    .judging(gap_at, gap_at + gap),
                );
            }
        }
        for (t, d) in &self.unanswered {
            if *d > 0.005 {
                f.timeline.push((*t, format!("outage {} ms", ms(*d))));
            }
        }
    }

    /// Invariant 4 (the part after the run): RSS and fds of each process that ran long enough
    /// to say. Its first 10 s are warm-up; after them, its open fds at the end must not exceed
    /// the most it had in the first half (a fault can close sockets for a while, so the count
    /// dips and comes back; a leak keeps climbing).
    fn resources(&self, f: &mut Findings) {
        for (i, n) in self.nodes.iter().enumerate() {
            for (pid, usage) in &n.resources {
                let Some(&(born, _, _)) = usage.first() else {
                    continue;
                };
                let usage: Vec<&Usage> = usage.iter().filter(|u| u.0 - born >= 10.0).collect();
                let (Some(&&(t1, r1, f1)), Some(&&(t2, r2, f2))) = (usage.first(), usage.last())
                else {
                    continue;
                };
                if t2 - t1 < 30.0 {
                    continue;
                }
                let half = usage.iter().filter(|u| u.0 <= (t1 + t2) / 2.0);
                let early_max = half.map(|u| u.2).max().unwrap_or(f1);
                let per_hour = |a: u64, b: u64| (b as f64 - a as f64) * 3600.0 / (t2 - t1);
                f.resources.push(format!(
                    "  n{} pid {pid}: {:.0} s, RSS {r1} → {r2} kB ({:+.0} kB/h), fds {f1} → {f2} \
                     (at most {early_max} in the first half)",
                    i + 1,
                    t2 - t1,
                    per_hour(r1, r2),
                ));
                if f2 > early_max {
                    f.violations.push(Violation::new(
                        t2,
                        4,
                        format!(
                            "n{} pid {pid}: {f2} open fds at the end, at most {early_max} in the \
                             first half of its life",
                            i + 1
                        ),
                        vec![i],
                    ));
                }
            }
        }
    }

    /// The nodes that were MASTER at some time between `from` and `to`.
    fn masters_between(&self, from: f64, to: f64) -> Vec<usize> {
        (0..self.samples.len())
            .filter(|&i| {
                let s = &self.samples[i];
                state_at(s, from) == "MASTER"
                    || s.iter()
                        .any(|x| x.t > from && x.t <= to && x.state == "MASTER")
            })
            .collect()
    }

    /// Every state change each node's daemon reported, for the timeline.
    fn state_changes(&self, f: &mut Findings) {
        for (i, s) in self.samples.iter().enumerate() {
            for x in s.iter().filter(|x| self.verbose || x.state == "MASTER") {
                let pid = x.pid.map_or(String::new(), |p| format!(" (pid {p})"));
                f.timeline
                    .push((x.t, format!("n{} {}{pid}", i + 1, x.state)));
            }
        }
    }
}

/// Invariant 4 (in the logs): no panic in any daemon's log, the killed ones' included.
pub(super) fn panics_in_logs(dir: &Path, at: f64) -> Vec<Violation> {
    let mut v = Vec::new();
    // (Files only: a keepalived node's FIFO is there too, and a read of it would block.)
    let files = fs::read_dir(dir).into_iter().flatten().flatten();
    for entry in files.filter(|e| e.file_type().is_ok_and(|t| t.is_file())) {
        let text = fs::read_to_string(entry.path()).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("panicked")) {
            let name = entry.file_name().to_string_lossy().into_owned();
            // The logs are named after the processes' labels: n2.log, n2-r1.log, ….
            let node = name
                .strip_prefix('n')
                .and_then(|r| r.split(['-', '.']).next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1));
            v.push(Violation::new(
                at,
                4,
                format!("{name}: {line}"),
                node.into_iter().collect(),
            ));
        }
    }
    v
}

/// Invariant 5: after the lab is gone, none of its namespaces or processes is left.
pub(super) fn nothing_left(prefix: &str, pids: &[u32], at: f64) -> Vec<Violation> {
    let mut v = Vec::new();
    let left_ns: Vec<String> = fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    if !left_ns.is_empty() {
        v.push(Violation::new(
            at,
            5,
            format!("namespaces left: {left_ns:?}"),
            Vec::new(),
        ));
    }
    let left: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| Path::new(&format!("/proc/{p}")).exists())
        .collect();
    if !left.is_empty() {
        v.push(Violation::new(
            at,
            5,
            format!("processes left: {left:?}"),
            Vec::new(),
        ));
    }
    v
}
