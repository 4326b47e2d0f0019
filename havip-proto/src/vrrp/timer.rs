//! The router's timers as a table of deadlines, quinn-proto style: the state machine arms and
//! stops entries, the driver only ever sleeps until [`TimerTable::next`].

use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Master: send the next advert (Adver_Timer).
    Advert,
    /// Backup: no advert heard in time, take over (Master_Down_Timer).
    MasterDown,
    /// Master: the second GARP burst, `garp.delay` after the first.
    GarpDelayed,
    /// Master: the periodic refresh burst.
    GarpRefresh,
    /// Master: the next queued GARP when `garp.interval` spaces them out.
    GarpQueue,
    /// Master: the re-announcement that follows a lower-priority master's own GARPs, which it
    /// sends after the advert that made us re-announce the first time.
    GarpAfterLoser,
}

impl Timer {
    pub(super) const ALL: [Timer; 6] = [
        Timer::MasterDown,
        Timer::Advert,
        Timer::GarpDelayed,
        Timer::GarpRefresh,
        Timer::GarpQueue,
        Timer::GarpAfterLoser,
    ];
}

#[derive(Clone, Debug, Default)]
pub(super) struct TimerTable {
    deadlines: [Option<Instant>; 6],
}

impl TimerTable {
    pub(super) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer as usize] = Some(at);
    }

    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer as usize]
    }

    pub(super) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer as usize] = None;
    }

    pub(super) fn stop_all(&mut self) {
        self.deadlines = [None; 6];
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }
}
