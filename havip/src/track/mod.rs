//! Health tracking: the checks that move an instance's priority or put it in FAULT.
//!
//! - [`Check`] and [`probe`]: one attempt of one check, bounded by a timeout, never blocking
//!   the runtime. Kinds: keepalived's `vrrp_script` ([`Check::Script`]) and `vrrp_track_process`
//!   ([`Check::Process`]), and built-in probes ([`Check::TcpConnect`], [`Check::HttpGet`],
//!   [`Check::SipOptions`]) that spare a script and its fork for the common cases.
//! - [`Tracker`]: runs every configured check on its interval, applies rise/fall as keepalived
//!   does, and reports [`TrackEvent`]s (the initial state, then transitions only). Process
//!   checks are not polled: one task follows them all from the kernel's process events
//!   (`process_watch.rs`, `proc_events.rs`; keepalived's counting and delays in `process.rs`),
//!   or, when the daemon's check at start found that the events do not arrive, from a scan of
//!   `/proc` every 200 ms ([`ProcessSource`]).
//! - [`effective_priority`]: pure; from the base priority and the tracked checks' weights and
//!   health, the priority to advertise, or FAULT.
//!
//! # Wiring (the daemon)
//! ```text
//! let specs = spec.scripts.iter().map(CheckSpec::from_script).collect();
//! let procs = ProcessSource::Events(Arc::new(ProcConnector::open()?)); // at set-up (health.rs)
//! let (tracker, mut events) = Tracker::spawn(specs, &procs)?; // keep `tracker`; dropping it stops all
//! health: HashMap<String, Health>                        // absent = Health::Unknown
//! select! { Some(ev) = events.recv() => {
//!     health.insert(ev.check, Health::from(ev.healthy));
//!     for each instance whose track_script names ev.check:
//!         let mut t = tracked_scripts(vrrp, &spec.scripts, |n| health(n));
//!         t.extend(tracked_interfaces(vrrp, |ifname| link_health(ifname)));
//!         match effective_priority(vrrp.priority, &t) {
//!             Verdict::Fault => router.enter_fault(now),
//!             Verdict::Priority(p) | Verdict::Init(p) => {
//!                 router.set_priority(now, p);
//!                 if own_link_up { router.leave_fault(now) }
//!             }
//!         }
//!         drain the router's actions (a priority change shows in the next advert)
//! } }
//! ```
//! `enter_fault`/`leave_fault`/`set_priority` are idempotent, so re-applying the verdict on
//! every event is correct. The router has one fault flag: whatever else can fault an instance
//! (its own link down) must be folded in before `leave_fault`, as above. Link changes of
//! tracked interfaces re-run the same computation.

pub mod command;
pub mod file;
mod net;
mod priority;
pub mod proc_events;
mod process;
mod process_watch;
mod scheduler;
pub mod security;

use std::{net::SocketAddr, ops::RangeInclusive, time::Duration};

use anyhow::{bail, Context as _, Result};

use crate::model::{ParamMatch, ProcessTrack};

pub use net::HttpUrl;
pub use priority::{
    effective_priority, tracked_bfds, tracked_files, tracked_interfaces, tracked_scripts, Health,
    Verdict,
};
pub use process_watch::{ProcessSource, POLL_EVERY};
pub use scheduler::{CheckSpec, TrackEvent, Tracker};

/// What one attempt of a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    /// One line for logs: what was seen ("exited with status 2", "HTTP/1.1 503 ...").
    pub detail: String,
}

impl Outcome {
    pub fn up(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            detail: detail.into(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// A health check: what to probe. How often and how many results make a transition is in
/// [`CheckSpec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// keepalived `vrrp_script`: healthy when the command exits 0. Run without a shell (the
    /// command line is split as keepalived splits it, see [`command::split_command`]), in its own
    /// process group, stdio on `/dev/null`; as `user` (`USER [GROUP]`) when set and havip is
    /// root. Killed with its whole group at the timeout, which counts as a failure.
    Script {
        command: String,
        user: Option<String>,
    },
    /// Healthy when a TCP handshake completes.
    TcpConnect { addr: SocketAddr },
    /// Healthy when `GET url` (plain `http://` only) answers with a status in `expect_status`.
    HttpGet {
        url: String,
        expect_status: RangeInclusive<u16>,
    },
    /// Healthy when any SIP response to an OPTIONS request over UDP arrives in time (Via branch,
    /// From tag and Call-ID are generated per attempt).
    SipOptions { addr: SocketAddr },
    /// keepalived `vrrp_track_process`: healthy while `quorum..=quorum_max` processes match.
    /// A [`Tracker`] follows it from process events (see `process.rs`); [`probe`] scans once.
    Process(ProcessTrack),
}

impl Check {
    /// The built-in probe a `vrrp_script` command line names, if it is `havip probe KIND ARGS`
    /// (the `havip probe` subcommand, see [`Check::from_probe_args`]): such a script runs in
    /// process, without a fork, while the same line still works as a plain script under
    /// keepalived.
    pub fn from_command(command: &str) -> Option<Result<Check>> {
        let argv = command::split_command(command).ok()?;
        let argv: Vec<String> = argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let exe = std::path::Path::new(argv.first()?).file_name()?.to_str()?;
        if exe != "havip" || argv.get(1).map(String::as_str) != Some("probe") {
            return None;
        }
        Some(Check::from_probe_args(&argv[2..]))
    }

    /// `KIND ARGS` of `havip probe`: `tcp HOST:PORT`, `http URL [LOW-HIGH]`, `sip HOST:PORT`,
    /// `process NAME [MIN[-MAX]]` (how many may run; default at least one).
    pub fn from_probe_args(args: &[String]) -> Result<Check> {
        let addr = |a: Option<&String>| -> Result<SocketAddr> {
            let a = a.context("an address is missing: give HOST:PORT, e.g. 127.0.0.1:5060")?;
            a.parse()
                .with_context(|| format!("{a:?} is not an IP:PORT address"))
        };
        let check = match args.first().map(String::as_str) {
            Some("tcp") => Check::TcpConnect {
                addr: addr(args.get(1))?,
            },
            Some("sip") => Check::SipOptions {
                addr: addr(args.get(1))?,
            },
            Some("http") => {
                let url = args
                    .get(1)
                    .context("http needs a URL, e.g. http://127.0.0.1/health")?;
                let expect_status = match args.get(2) {
                    None => 200..=299,
                    Some(r) => {
                        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                        let lo: u16 = lo.parse().with_context(|| format!("status range {r:?}"))?;
                        let hi: u16 = hi.parse().with_context(|| format!("status range {r:?}"))?;
                        lo..=hi
                    }
                };
                Check::HttpGet {
                    url: url.clone(),
                    expect_status,
                }
            }
            Some("process") => {
                let (min_count, max_count) = match args.get(2) {
                    None => (1, None),
                    Some(r) => {
                        let bad = || format!("{r:?} is not a process count MIN or MIN-MAX");
                        match r.split_once('-') {
                            None => (r.parse().with_context(bad)?, None),
                            Some((lo, hi)) => (
                                lo.parse().with_context(bad)?,
                                Some(hi.parse().with_context(bad)?),
                            ),
                        }
                    }
                };
                Check::Process(ProcessTrack {
                    name: args.get(1).context("process needs a process name")?.clone(),
                    params: Vec::new(),
                    param_match: ParamMatch::None,
                    full_command: false,
                    quorum: min_count,
                    quorum_max: max_count.unwrap_or(u32::MAX),
                    fork_delay: Duration::ZERO,
                    terminate_delay: Duration::ZERO,
                })
            }
            other => bail!(
                "unknown probe {other:?}: use tcp HOST:PORT, http URL [LOW-HIGH], sip HOST:PORT \
                 or process NAME"
            ),
        };
        check.validate()?;
        Ok(check)
    }

    /// An HTTP check that wants a 2xx status.
    #[cfg(test)]
    pub fn http_get(url: impl Into<String>) -> Check {
        Check::HttpGet {
            url: url.into(),
            expect_status: 200..=299,
        }
    }

    /// Rejects what could never run: an unsplittable command line, a URL the HTTP check cannot
    /// fetch, an empty status range or process name.
    pub fn validate(&self) -> Result<()> {
        match self {
            Check::Script { command, .. } => {
                command::split_command(command).with_context(|| format!("script {command:?}"))?;
            }
            Check::HttpGet { url, expect_status } => {
                HttpUrl::parse(url)?;
                if expect_status.is_empty() {
                    bail!("{url}: the expected status range is empty");
                }
            }
            Check::Process(t) => {
                if t.name.is_empty() {
                    bail!("an empty process name");
                }
                if t.quorum_max < t.quorum {
                    bail!("process {}: quorum_max is below quorum", t.name);
                }
            }
            Check::TcpConnect { .. } | Check::SipOptions { .. } => {}
        }
        Ok(())
    }
}

/// One attempt of `check`, finished (or abandoned, and its process group killed) within
/// `timeout`. Never blocks the runtime: sockets are async, scripts are awaited child processes,
/// user look-ups and the `/proc` scan run on the blocking pool.
pub async fn probe(check: &Check, timeout: Duration) -> Outcome {
    match check {
        Check::Script { command, user } => probe_script(command, user.as_deref(), timeout).await,
        Check::Process(t) => {
            let t = t.clone();
            let scan = tokio::task::spawn_blocking(move || process::check(&t));
            match tokio::time::timeout(timeout, scan).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(e)) => Outcome::down(format!("scanning /proc: {e}")),
                Err(_) => Outcome::down(format!("scanning /proc took over {timeout:?}")),
            }
        }
        Check::TcpConnect { addr } => within(timeout, net::tcp_connect(*addr)).await,
        Check::HttpGet { url, expect_status } => {
            within(timeout, net::http_get(url, expect_status)).await
        }
        Check::SipOptions { addr } => within(timeout, net::sip_options(*addr)).await,
    }
}

async fn within(timeout: Duration, f: impl std::future::Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or_else(|_| Outcome::down(format!("no answer within {timeout:?}")))
}

async fn probe_script(line: &str, user: Option<&str>, timeout: Duration) -> Outcome {
    let started = std::time::Instant::now();
    let argv = match command::split_command(line) {
        Ok(a) => a,
        Err(e) => return Outcome::down(format!("{e:#}")),
    };
    let run_as = match command::resolve_user(user.map(str::to_string)).await {
        Ok(r) => r,
        Err(e) => return Outcome::down(format!("{e:#}")),
    };
    if let Err(why) = command::vet(&argv[0], run_as.as_ref()) {
        return Outcome::down(why);
    }
    let exit = command::run(&argv, run_as.as_ref(), timeout).await;
    command::outcome(&exit, timeout, started)
}

#[cfg(test)]
mod tests;
