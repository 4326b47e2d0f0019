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
