//! The service manager's side of the daemon (systemd `Type=notify`): READY=1 once the XDP
//! program is attached and the instances run, RELOADING=1 / READY=1 around a SIGHUP reload,
//! STOPPING=1, and WATCHDOG=1 from the driver loop itself so that a stalled loop stops the
//! pings and systemd restarts it. Without `NOTIFY_SOCKET` every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::warn;

/// Sends `states`; a failure is logged, never fatal (the service manager restarts us if it
/// really waits for them).
fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!("sd_notify {states:?}: {e} (NOTIFY_SOCKET set but unreachable)");
    }
}

pub(super) fn ready() {
    send(&[NotifyState::Ready]);
}

/// RELOADING=1 with MONOTONIC_USEC, which systemd 253+ wants with it (`Type=notify-reload`);
/// older ones (Debian 12's 252) ignore the extra field.
pub(super) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// EXTEND_TIMEOUT_USEC: the start may take `by` more than the unit's `TimeoutStartSec=`
/// allows (keepalived `vrrp_startup_delay`); a minute of margin on top for the set-up.
pub(super) fn extend_start(by: Duration) {
    let usec = (by + Duration::from_secs(60)).as_micros();
    send(&[NotifyState::ExtendTimeoutUsec(
        u32::try_from(usec).unwrap_or(u32::MAX),
    )]);
}

pub(super) fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub(super) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC` (sd_watchdog_enabled(3) advises
/// pinging at half the interval), `None` when systemd asked for none.
pub(super) fn watchdog_every() -> Option<Duration> {
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| d / 2)
}

/// The type of systemd's job on `unit` now ("restart", "stop", "start"...), `None` when it has
/// none: what `havip handover --if-restarting` asks in `ExecStop=`, since systemd tells a
/// stopping service nothing of why it stops.
pub fn systemd_job(unit: &str) -> anyhow::Result<Option<String>> {
    use anyhow::Context as _;
    let out = std::process::Command::new("systemctl")
        .args(["list-jobs", "--no-legend", "--no-pager", "--full"])
        .output()
        .context("running systemctl list-jobs")?;
    if !out.status.success() {
        anyhow::bail!(
            "systemctl list-jobs: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(job_of(&String::from_utf8_lossy(&out.stdout), unit))
}

/// The job type of `unit` in `systemctl list-jobs --no-legend` output (`JOB UNIT TYPE STATE`).
fn job_of(list: &str, unit: &str) -> Option<String> {
    list.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == unit)?;
        words.get(at + 1).map(|t| t.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::job_of;

    #[test]
    fn the_unit_s_job_type_is_read_from_list_jobs() {
        // systemctl 252's `list-jobs --no-legend`.
        let list = "4711 havip.service         restart running\n\
                    4712 havip-other.service   stop    waiting\n";
        assert_eq!(job_of(list, "havip.service").as_deref(), Some("restart"));
        assert_eq!(job_of(list, "havip-other.service").as_deref(), Some("stop"));
        assert_eq!(job_of(list, "keepalived.service"), None);
        assert_eq!(job_of("", "havip.service"), None);
    }
}
