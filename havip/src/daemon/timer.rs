//! The driver loop's one timer, on a `timerfd`: tokio's timer wheel counts whole milliseconds
//! and fires up to a millisecond late, which at 10 ms adverts is 10 % jitter; a timerfd armed
//! with an absolute `CLOCK_MONOTONIC` deadline fires within microseconds.

use std::time::Instant;

use anyhow::{Context as _, Result};
use rustix::time::{timerfd_create, TimerfdClockId, TimerfdFlags};
use tokio::io::{unix::AsyncFd, Interest};

use crate::dataplane::arm_timerfd;

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
        use std::os::fd::AsFd as _;
        arm_timerfd(self.fd.get_ref().as_fd(), deadline).context("timerfd_settime")
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
