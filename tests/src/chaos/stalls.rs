//! The machine's own stalls, measured beside the run: on a VM, the host can leave a virtual CPU
//! unscheduled for tens of milliseconds (stolen time). Every daemon of the lab, and the client,
//! runs on the same two CPUs, so a stall of 30 ms freezes a master as surely as SIGSTOP does,
//! with no fault to explain what follows. One thread per CPU, pinned to it, `SCHED_FIFO` 99,
//! wakes every millisecond (as cyclictest does) and records every wake-up that came more than
//! [`STALL_MIN`] late: nothing on this machine outranks it, so such a gap is time the CPU did
//! not run at all for the lab.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// A gap this long is a stall: one advert interval, when a 10 ms election starts to notice.
pub const STALL_MIN: Duration = Duration::from_millis(10);

/// More of the run than this within reach of a stall and the run judges nothing.
pub const MAX_COVERED: f64 = 0.2;

/// The share of `0..run_end` within `reach` after the start of a stall (or in it).
pub fn covered(stalls: &[Stall], reach: f64, run_end: f64) -> f64 {
    let mut spans: Vec<(f64, f64)> = stalls
        .iter()
        .map(|s| (s.at, (s.at + s.len + reach).min(run_end)))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut total, mut reached) = (0.0, f64::NEG_INFINITY);
    for (from, to) in spans {
        let from = from.max(reached);
        if to > from {
            total += to - from;
            reached = to;
        }
    }
    if run_end > 0.0 {
        total / run_end
    } else {
        0.0
    }
}

/// A CPU that did not run: from `at` (seconds from the run's start) for `len` seconds.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    pub cpu: usize,
    pub at: f64,
    pub len: f64,
}

pub struct StallWatch {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Stall>>>,
    steal_before: u64,
}

/// The machine's stolen time so far, in clock ticks summed over the CPUs (`/proc/stat`).
pub fn steal_ticks() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().next()?.split_whitespace().nth(8)?.parse().ok())
        .unwrap_or(0)
}

impl StallWatch {
    /// One watcher per CPU this process may run on, timed from `t0`.
    pub fn start(t0: Instant) -> StallWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (0..cpus)
            .map(|cpu| {
                let stop = stop.clone();
                std::thread::spawn(move || watch(cpu, t0, &stop))
            })
            .collect();
        StallWatch {
            stop,
            threads,
            steal_before: steal_ticks(),
        }
    }

    /// The stalls, in time order, and the ticks the host stole meanwhile.
    pub fn stop(self) -> (Vec<Stall>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Stall> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        all.sort_by(|a, b| a.at.total_cmp(&b.at));
        (all, steal_ticks().saturating_sub(self.steal_before))
    }
}

fn watch(cpu: usize, t0: Instant, stop: &AtomicBool) -> Vec<Stall> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity(2) /
    // sched_setscheduler(2) act on the calling thread (pid 0) with valid arguments.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
            && libc::sched_setscheduler(
                0,
                libc::SCHED_FIFO,
                &libc::sched_param { sched_priority: 99 },
            ) == 0
    };
    let mut stalls = Vec::new();
    if !pinned {
        eprintln!(
            "stall watch on cpu {cpu}: {} (stalls not measured)",
            std::io::Error::last_os_error()
        );
        return stalls;
    }
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        let gap = now - last;
        if gap >= STALL_MIN + Duration::from_millis(1) {
            stalls.push(Stall {
                cpu,
                at: last.saturating_duration_since(t0).as_secs_f64(),
                len: gap.as_secs_f64(),
            });
        }
        last = now;
    }
    stalls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_merges_overlapping_reaches_and_stops_at_the_end() {
        let s = |at, len| Stall { cpu: 0, at, len };
        // 1.0–1.1 reaching to 1.2, 1.15–1.2 reaching to 1.3: one span of 0.3; 9.95 clipped at 10.
        let stalls = [s(1.0, 0.1), s(1.15, 0.05), s(9.95, 0.02)];
        let c = covered(&stalls, 0.1, 10.0);
        assert!((c - 0.035).abs() < 1e-9, "{c}");
        assert_eq!(covered(&[], 0.1, 10.0), 0.0);
    }

    /// A thread of this process that does not run for 30 ms is seen: the watcher's own CPU
    /// held by a SCHED_FIFO 99 spinner of ours stands in for the host taking it.
    #[test]
    fn a_cpu_held_away_from_the_watcher_is_a_stall() {
        let t0 = Instant::now();
        let watch = StallWatch::start(t0);
        std::thread::sleep(Duration::from_millis(50));
        let spinner = std::thread::spawn(|| {
            // SAFETY: as in watch(): the calling thread, valid arguments.
            let ok = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
                    && libc::sched_setscheduler(
                        0,
                        libc::SCHED_FIFO,
                        &libc::sched_param { sched_priority: 99 },
                    ) == 0
            };
            let until = Instant::now() + Duration::from_millis(30);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            ok
        });
        let ok = spinner.join().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let (stalls, _) = watch.stop();
        if !ok {
            eprintln!("no SCHED_FIFO here (not root?): nothing to check");
            return;
        }
        assert!(
            stalls.iter().any(|s| s.cpu == 0 && s.len >= 0.025),
            "{stalls:?}"
        );
    }
}
