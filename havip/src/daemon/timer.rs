//! The driver loop's one timer, on a `timerfd`: tokio's timer wheel counts whole milliseconds
//! and fires up to a millisecond late, which at 10 ms adverts is 10 % jitter; a timerfd armed
//! with an absolute `CLOCK_MONOTONIC` deadline fires within microseconds.

use std::time::Instant;

use anyhow::{Context as _, Result};
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
    Timespec,
};
use tokio::io::{unix::AsyncFd, Interest};

use crate::dataplane::monotonic_ns;

pub struct Timer {
    fd: AsyncFd<std::os::fd::OwnedFd>,
}

impl Timer {
    pub fn new() -> Result<Timer> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )
        .context("timerfd_create")?;
        // SAFETY: the fd is moved in and never replaced or closed while registered (tokio's
        // safe constructor is deprecated as unsound; this is its replacement).
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Timer { fd })
    }

    /// Arms the timer for `deadline` (a past one fires at once), or disarms it.
    pub fn arm(&self, deadline: Option<Instant>) -> Result<()> {
        let value = match deadline {
            None => Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            Some(d) => {
                let now = Instant::now();
                let mono = monotonic_ns();
                let at = if d > now {
                    mono + (d - now).as_nanos() as u64
                } else {
                    mono
                };
                // A zero it_value disarms: never pass zero for a real deadline.
                let at = at.max(1);
                Timespec {
                    tv_sec: (at / 1_000_000_000) as i64,
                    tv_nsec: (at % 1_000_000_000) as _,
                }
            }
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::ABSTIME, &spec)
            .context("timerfd_settime")?;
        Ok(())
    }

    /// Waits for the armed deadline (forever when disarmed).
    pub async fn wait(&self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let mut expirations = [0u8; 8];
            if rustix::io::read(self.fd.get_ref(), &mut expirations) == Ok(8) {
                return;
            }
            guard.clear_ready();
        }
    }
}
