//! The driver loop's one timer, on a `timerfd`: tokio's timer wheel counts whole milliseconds
//! and fires up to a millisecond late, which at 10 ms adverts is 10 % jitter; a timerfd armed
//! with an absolute `CLOCK_MONOTONIC` deadline fires within microseconds.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::Instant,
};

use anyhow::{Context as _, Result};
use tokio::io::{unix::AsyncFd, Interest};

use crate::dataplane::monotonic_ns;

pub struct Timer {
    fd: AsyncFd<OwnedFd>,
}

impl Timer {
    pub fn new() -> Result<Timer> {
        // SAFETY: plain timerfd_create; the fd is owned right away.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("timerfd_create");
        }
        // SAFETY: a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the fd is moved in and never replaced or closed while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Timer { fd })
    }

    /// Arms the timer for `deadline` (a past one fires at once), or disarms it.
    pub fn arm(&self, deadline: Option<Instant>) -> Result<()> {
        let value = match deadline {
            None => libc::timespec {
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
                libc::timespec {
                    tv_sec: (at / 1_000_000_000) as libc::time_t,
                    tv_nsec: (at % 1_000_000_000) as libc::c_long,
                }
            }
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: a valid itimerspec; the old value is not wanted.
        let rc = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error()).context("timerfd_settime");
        }
        Ok(())
    }

    /// Waits for the armed deadline (forever when disarmed).
    pub async fn wait(&self) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            let mut expirations = [0u8; 8];
            // SAFETY: reading 8 bytes into an 8-byte buffer.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
            if n == 8 {
                return;
            }
            guard.clear_ready();
        }
    }
}
