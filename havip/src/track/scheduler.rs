//! Running checks on their intervals and turning results into health transitions.
//!
//! keepalived's semantics (`vrrp_script_thread()`, `vrrp_script_child_thread()` and
//! `vrrp_init_script()` in `keepalived/vrrp/vrrp_scheduler.c`):
//! - the first run starts at once, then one every `interval`; a run still going when the next
//!   is due makes that one skip;
//! - `timeout` 0 means the interval; a run past its timeout is killed and counts as a failure;
//! - a check starts in "init": its first result is reported at once, whatever `rise`/`fall`
//!   say ("one success is enough"); with `init_fail` it starts failed instead and needs `rise`
//!   successes;
//! - after that, `fall` consecutive failures make a healthy check fail and `rise` consecutive
//!   successes make a failed one healthy; a result the other way resets the count.

use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use tokio::{sync::mpsc, task::JoinHandle};
use tracing::{debug, info, warn};

#[cfg(test)]
use super::Health;
use super::{probe, Check, ProcessSource};
use crate::model::ScriptSpec;

/// A check with its schedule: keepalived's `vrrp_script` block, or a built-in probe with the
/// same knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    /// Unique among the tracker's checks; [`TrackEvent::check`] and `track_script` use it.
    pub name: String,
    pub check: Check,
    pub interval: Duration,
    /// Per run; keepalived's 0 ("use the interval") is resolved by the constructors.
    pub timeout: Duration,
    /// Consecutive successes that make a failed check healthy (at least 1).
    pub rise: u32,
    /// Consecutive failures that make a healthy check fail (at least 1).
    pub fall: u32,
    /// keepalived `init_fail`: failed until `rise` successes, instead of "first result decides".
    pub init_fail: bool,
}

impl CheckSpec {
    /// keepalived's defaults: every second, timeout = interval, rise 1, fall 1.
    #[cfg(test)]
    pub fn new(name: impl Into<String>, check: Check) -> CheckSpec {
        CheckSpec {
            name: name.into(),
            check,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }

    /// A `vrrp_script` block as the config produced it; `havip probe ...` command lines become
    /// built-in probes (see [`Check::from_command`]).
    pub fn from_script(s: &ScriptSpec) -> Result<CheckSpec> {
        let check = match (&s.process, Check::from_command(&s.script)) {
            (Some(p), _) => Check::Process(p.clone()),
            (None, Some(probe)) => probe.with_context(|| format!("vrrp_script {}", s.name))?,
            (None, None) => Check::Script {
                command: s.script.clone(),
                user: s.user.clone(),
            },
        };
        Ok(CheckSpec {
            name: s.name.clone(),
            check,
            interval: s.interval,
            timeout: if s.timeout.is_zero() {
                s.interval
            } else {
                s.timeout
            },
            rise: s.rise.max(1),
            fall: s.fall.max(1),
            init_fail: false,
        })
    }

    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            bail!("check {}: the interval is zero", self.name);
        }
        if self.timeout.is_zero() {
            bail!("check {}: the timeout is zero", self.name);
        }
        if self.rise == 0 || self.fall == 0 {
            bail!("check {}: rise and fall must be at least 1", self.name);
        }
        self.check
            .validate()
            .with_context(|| format!("check {}", self.name))
    }
}

/// keepalived's rise/fall counter (`vscript->result`, 0..=rise+fall−1; healthy from `rise` up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    result: u32,
    init: bool,
}

impl RiseFall {
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> RiseFall {
        let (rise, fall) = (rise.max(1), fall.max(1));
        RiseFall {
            rise,
            fall,
            // "one success is enough" for a check in init; init_fail: "assume failed by config".
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
        }
    }

    /// Current health: `Unknown` until the first report of a check that did not start failed.
    #[cfg(test)]
    pub fn health(&self) -> Health {
        if self.init {
            Health::Unknown
        } else {
            Health::from(self.result >= self.rise)
        }
    }

    /// Takes one result; returns the new health when it is to be reported (a transition, or
    /// the first result of a check in init).
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        let was_init = std::mem::replace(&mut self.init, false);
        let top = self.rise + self.fall - 1;
        if ok {
            if self.result < self.rise - 1 {
                self.result += 1;
                None
            } else if self.result != top {
                let report = self.result < self.rise;
                self.result = top;
                report.then_some(true)
            } else {
                None
            }
        } else if self.result > self.rise {
            self.result -= 1;
            None
        } else {
            let report = self.result == self.rise || was_init;
            self.result = 0;
            report.then_some(false)
        }
    }
}

/// A check's health changed (or was reported for the first time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackEvent {
    /// [`CheckSpec::name`].
    pub check: String,
    pub healthy: bool,
    /// The last run's detail (or why the check starts failed).
    pub detail: String,
}

/// Runs checks on tokio tasks until dropped (or [`stop`](Tracker::stop)ped). A run in progress
/// is abandoned then, and a script's process group killed.
#[derive(Debug)]
pub struct Tracker {
    tasks: Vec<JoinHandle<()>>,
}

impl Tracker {
    /// Starts one task per check (on the current runtime), and one for all the process checks
    /// ([`Check::Process`], followed as `procs` says, see `process_watch.rs`), and returns the
    /// events' receiver. Checks marked `init_fail` report `healthy: false` at once; the others
    /// report their first result within one timeout (process checks: after one scan of
    /// `/proc`). Fails, starting nothing, if a spec is invalid or two share a name.
    pub fn spawn(
        specs: Vec<CheckSpec>,
        procs: &ProcessSource,
    ) -> Result<(Tracker, mpsc::UnboundedReceiver<TrackEvent>)> {
        for (i, s) in specs.iter().enumerate() {
            s.validate()?;
            if specs[..i].iter().any(|o| o.name == s.name) {
                bail!("two checks are named {}", s.name);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (processes, others): (Vec<CheckSpec>, Vec<CheckSpec>) = specs
            .into_iter()
            .partition(|s| matches!(s.check, Check::Process(_)));
        let mut tasks: Vec<JoinHandle<()>> = others
            .into_iter()
            .map(|spec| tokio::spawn(run_check(spec, tx.clone())))
            .collect();
        let processes: Vec<_> = processes
            .into_iter()
            .filter_map(|s| match s.check {
                Check::Process(t) => Some((s.name, t)),
                _ => None,
            })
            .collect();
        if !processes.is_empty() {
            tasks.push(tokio::spawn(super::process_watch::run(
                processes,
                procs.clone(),
                tx.clone(),
            )));
        }
        Ok((Tracker { tasks }, rx))
    }

    /// Stops every check and waits until their runs are abandoned (scripts killed and reaped).
    pub async fn stop(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn run_check(spec: CheckSpec, tx: mpsc::UnboundedSender<TrackEvent>) {
    let mut state = RiseFall::new(spec.rise, spec.fall, spec.init_fail);
    if spec.init_fail {
        let detail = "assumed failed until it succeeds (init_fail)".to_string();
        info!(check = %spec.name, "{detail}");
        let event = TrackEvent {
            check: spec.name.clone(),
            healthy: false,
            detail,
        };
        if tx.send(event).is_err() {
            return;
        }
    }
    let mut ticks = tokio::time::interval(spec.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let outcome = probe(&spec.check, spec.timeout).await;
        let Some(healthy) = state.record(outcome.ok) else {
            debug!(check = %spec.name, ok = outcome.ok, "{}", outcome.detail);
            continue;
        };
        if healthy {
            info!(check = %spec.name, "check succeeded: {}", outcome.detail);
        } else {
            warn!(check = %spec.name, "check failed: {}", outcome.detail);
        }
        let event = TrackEvent {
            check: spec.name.clone(),
            healthy,
            detail: outcome.detail,
        };
        if tx.send(event).is_err() {
            return; // nobody listens any more
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed(rf: &mut RiseFall, results: &str) -> Vec<Option<bool>> {
        results.chars().map(|c| rf.record(c == '+')).collect()
    }

    #[test]
    fn first_result_is_reported_at_once() {
        for (rise, fall) in [(1, 1), (3, 2), (5, 5)] {
            let mut rf = RiseFall::new(rise, fall, false);
            assert_eq!(rf.health(), Health::Unknown);
            assert_eq!(rf.record(true), Some(true), "rise {rise}");
            assert_eq!(rf.health(), Health::Up);
            let mut rf = RiseFall::new(rise, fall, false);
            assert_eq!(rf.record(false), Some(false), "rise {rise}");
            assert_eq!(rf.health(), Health::Down);
        }
    }

    #[test]
    fn fall_consecutive_failures_make_it_fail() {
        let mut rf = RiseFall::new(2, 3, false);
        assert_eq!(rf.record(true), Some(true));
        assert_eq!(feed(&mut rf, "--+--"), [None; 5]);
        assert_eq!(rf.health(), Health::Up);
        assert_eq!(feed(&mut rf, "-"), [Some(false)]);
        assert_eq!(rf.health(), Health::Down);
        assert_eq!(feed(&mut rf, "---"), [None; 3]);
    }

    #[test]
    fn rise_consecutive_successes_make_it_healthy() {
        let mut rf = RiseFall::new(3, 1, false);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(feed(&mut rf, "++-++"), [None; 5]);
        assert_eq!(rf.health(), Health::Down);
        assert_eq!(feed(&mut rf, "+"), [Some(true)]);
        assert_eq!(feed(&mut rf, "+++"), [None; 3]);
        assert_eq!(feed(&mut rf, "-"), [Some(false)]);
    }

    #[test]
    fn init_fail_starts_failed_and_needs_rise_successes() {
        let mut rf = RiseFall::new(2, 2, true);
        assert_eq!(rf.health(), Health::Down);
        assert_eq!(feed(&mut rf, "-+-+"), [None; 4]);
        assert_eq!(feed(&mut rf, "+"), [Some(true)]);
        let mut rf = RiseFall::new(1, 1, true);
        assert_eq!(feed(&mut rf, "-"), [None]);
        assert_eq!(feed(&mut rf, "+"), [Some(true)]);
    }

    proptest! {
        /// After its first report, a check is reported failing exactly when the last `fall`
        /// results failed while it was healthy, and healthy when the last `rise` succeeded
        /// while it was failing.
        #[test]
        fn reports_only_transitions_after_consecutive_runs(
            rise in 1u32..5,
            fall in 1u32..5,
            init_fail: bool,
            results in prop::collection::vec(any::<bool>(), 0..60),
        ) {
            let mut rf = RiseFall::new(rise, fall, init_fail);
            let mut health = if init_fail { Some(false) } else { None };
            for (i, &ok) in results.iter().enumerate() {
                let reported = rf.record(ok);
                let run = |want: bool, n: u32| {
                    i + 1 >= n as usize && results[i + 1 - n as usize..=i].iter().all(|r| *r == want)
                };
                let expected = match health {
                    None => Some(ok),
                    Some(true) if !ok && run(false, fall) => Some(false),
                    Some(false) if ok && run(true, rise) => Some(true),
                    _ => None,
                };
                prop_assert_eq!(reported, expected, "result {} of {:?}", i, results);
                if let Some(h) = reported {
                    health = Some(h);
                }
                prop_assert_eq!(rf.health(), Health::from(health.unwrap()));
            }
        }
    }

    #[test]
    fn from_script_applies_keepalived_defaults() {
        let s = ScriptSpec {
            name: "chk".into(),
            script: "/bin/true".into(),
            interval: Duration::from_secs(2),
            timeout: Duration::ZERO,
            weight: -10,
            rise: 0,
            fall: 3,
            user: Some("nobody".into()),
            process: None,
        };
        let c = CheckSpec::from_script(&s).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!((c.rise, c.fall, c.init_fail), (1, 3, false));
        assert_eq!(
            c.check,
            Check::Script {
                command: "/bin/true".into(),
                user: Some("nobody".into())
            }
        );
        c.validate().unwrap();
    }

    #[test]
    fn havip_probe_scripts_become_built_in_probes() {
        let script = |line: &str| ScriptSpec {
            name: "sip".into(),
            script: line.into(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            rise: 1,
            fall: 1,
            user: None,
            process: None,
        };
        let c =
            CheckSpec::from_script(&script("/usr/sbin/havip probe sip 127.0.0.1:5060")).unwrap();
        assert_eq!(
            c.check,
            Check::SipOptions {
                addr: "127.0.0.1:5060".parse().unwrap()
            }
        );
        let c =
            CheckSpec::from_script(&script("havip probe http http://10.0.0.1/ok 200-204")).unwrap();
        assert_eq!(
            c.check,
            Check::HttpGet {
                url: "http://10.0.0.1/ok".into(),
                expect_status: 200..=204
            }
        );
        let err = CheckSpec::from_script(&script("havip probe sip nowhere")).unwrap_err();
        assert!(format!("{err:#}").contains("not an IP:PORT"), "{err:#}");
        let err = CheckSpec::from_script(&script("havip probe dns x")).unwrap_err();
        assert!(format!("{err:#}").contains("unknown probe"), "{err:#}");
        // Other commands stay scripts, even one merely named like a probe.
        let c = CheckSpec::from_script(&script("/bin/havip-probe sip 1.2.3.4:5")).unwrap();
        assert!(matches!(c.check, Check::Script { .. }));
    }

    #[test]
    fn spawn_rejects_bad_specs() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ok = CheckSpec::new("a", Check::http_get("http://127.0.0.1:1/"));
            let dup = Tracker::spawn(
                vec![ok.clone(), ok.clone()],
                &ProcessSource::Poll { why: String::new() },
            );
            assert!(dup.unwrap_err().to_string().contains("two checks"));
            let mut zero = ok.clone();
            zero.interval = Duration::ZERO;
            assert!(
                Tracker::spawn(vec![zero], &ProcessSource::Poll { why: String::new() }).is_err()
            );
            let bad = CheckSpec::new("b", Check::http_get("https://x/"));
            let err = format!(
                "{:#}",
                Tracker::spawn(vec![bad], &ProcessSource::Poll { why: String::new() }).unwrap_err()
            );
            assert!(err.contains("https is not supported"), "{err}");
            let bad = CheckSpec::new(
                "c",
                Check::Script {
                    command: "'unterminated".into(),
                    user: None,
                },
            );
            assert!(
                Tracker::spawn(vec![bad], &ProcessSource::Poll { why: String::new() }).is_err()
            );
        });
    }
}
