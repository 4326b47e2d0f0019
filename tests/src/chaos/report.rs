//! The chaos run's report: the header, the timeline, the table per fault kind, the
//! violations with the command that replays each, and the SVG timeline.

use std::fmt::Write as _;

use super::{check::Findings, ms, Done, Options, Sample};

pub(super) struct Summary<'a> {
    pub opts: &'a Options,
    pub prios: &'a [u8],
    pub netem: bool,
    pub mdi: f64,
    pub run_end: f64,
    pub replies: usize,
    pub arp_sent: u64,
    pub done: &'a [Done],
    /// The node that runs keepalived, if one does.
    pub keepalived: Option<usize>,
    /// The machine's own stalls, and the clock ticks its host stole.
    pub stalls: &'a [super::stalls::Stall],
    pub stolen: u64,
}

pub(super) fn render(s: &Summary<'_>, f: &mut Findings) -> String {
    let opts = s.opts;
    f.timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    f.violations.sort_by(|a, b| a.at.total_cmp(&b.at));
    let mut text = String::new();
    let _ = writeln!(
        text,
        "havip chaos: seed {}, {} s{}, {} (priorities {:?}), VRRPv3 every 10 ms; \
         Master_Down_Interval ≤ {} ms",
        opts.seed,
        opts.seconds,
        opts.until
            .map_or(String::new(), |u| format!(" (replayed until {u} s)")),
        match s.keepalived {
            None => format!("{} havip nodes", opts.nodes),
            Some(k) => format!(
                "{} havip nodes and n{} running {}",
                opts.nodes - 1,
                k + 1,
                keepalived_version()
            ),
        },
        s.prios,
        ms(s.mdi)
    );
    if !s.netem {
        let _ = writeln!(
            text,
            "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM): delay and reorder faults are \
             skipped"
        );
    }
    let _ = writeln!(text, "\ntimeline:");
    for (t, what) in &f.timeline {
        let _ = writeln!(text, "  {t:8.3}  {what}");
    }
    let _ = writeln!(
        text,
        "\n{:<18} {:>7} {:>8} {:>9} {:>15} {:>10}",
        "fault", "applied", "isolated", "skipped", "max outage ms", "bound ms"
    );
    for (name, (n, iso, max, bound)) in &f.outages {
        let skipped = s
            .done
            .iter()
            .filter(|d| d.skipped.is_some() && d.fault.kind.name() == *name)
            .count();
        let _ = writeln!(
            text,
            "{:<18} {:>7} {:>8} {:>9} {:>15} {:>10}",
            name,
            n,
            iso,
            skipped,
            if *iso > 0 { ms(*max) } else { "-".into() },
            bound.map_or("none".into(), ms)
        );
    }
    let _ = writeln!(
        text,
        "\nping: {} replies to 1 ms echoes over {:.1} s; ARP: {} requests, {} answered by two \
         nodes ({} within an allowed window); quiet checks: {} ({} failed)",
        s.replies,
        s.run_end,
        s.arp_sent,
        f.duals.len(),
        f.duals_allowed,
        f.quiet_checks,
        f.quiet_failures
    );
    let longest = s.stalls.iter().map(|x| x.len).fold(0.0, f64::max);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
        text,
        "the machine: {} stalls (a CPU not run for ≥ {} ms, seen by a SCHED_FIFO 99 thread per \
         CPU), longest {} ms; the VM's host stole {:.1} % of the CPUs' time",
        s.stalls.len(),
        super::stalls::STALL_MIN.as_millis(),
        ms(longest),
        // Clock ticks are 10 ms.
        s.stolen as f64 / (s.run_end * 100.0 * cpus as f64) * 100.0
    );
    if !f.resources.is_empty() {
        let _ = writeln!(
            text,
            "resources (processes that ran ≥ 30 s after their first 10 s):"
        );
        for l in &f.resources {
            let _ = writeln!(text, "{l}");
        }
    }
    let replay = |text: &mut String, vs: &[super::Violation]| {
        for v in vs {
            let _ = writeln!(
                text,
                "  {:8.3}  invariant {}: {}\n            replay: cargo xtask chaos --seed {} \
                 --seconds {}{} --until {:.1}",
                v.at,
                v.invariant,
                v.what,
                opts.seed,
                opts.seconds,
                if opts.keepalived {
                    " --with-keepalived"
                } else {
                    ""
                },
                v.at + 0.5
            );
        }
    };
    if let Some(k) = s.keepalived {
        f.keepalived_violations
            .sort_by(|a, b| a.at.total_cmp(&b.at));
        let _ = writeln!(
            text,
            "\n{} violation(s) involving n{} (keepalived): reported, not failing the run",
            f.keepalived_violations.len(),
            k + 1
        );
        replay(&mut text, &f.keepalived_violations);
    }
    if !f.stalled_violations.is_empty() {
        f.stalled_violations.sort_by(|a, b| a.at.total_cmp(&b.at));
        let _ = writeln!(
            text,
            "\n{} violation(s) within a stall of the machine: reported, not failing the run",
            f.stalled_violations.len()
        );
        replay(&mut text, &f.stalled_violations);
    }
    if f.violations.is_empty() {
        let _ = writeln!(text, "\nno violation of havip's");
    } else {
        let _ = writeln!(text, "\n{} violation(s):", f.violations.len());
        replay(&mut text, &f.violations);
    }
    text
}

/// What `keepalived --version` says of itself ("Keepalived v2.2.7 (01/16,2022)").
fn keepalived_version() -> String {
    std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            text.lines().next().map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "keepalived".into())
}

/// An SVG timeline: one lane per node coloured by state, the faults as bars under it, and a
/// red tick wherever two nodes answered one ARP request.
pub(super) fn svg(samples: &[Vec<Sample>], faults: &[&Done], duals: &[f64], end: f64) -> String {
    let (w, lane, left) = (1400.0, 26.0, 60.0);
    let h = 40.0 + lane * (samples.len() as f64 + 1.0) + 14.0 * 6.0;
    let x = |t: f64| left + (w - left - 10.0) * (t / end).clamp(0.0, 1.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let color = |st: &str| match st {
        "MASTER" => "#2f855a",
        "BACKUP" => "#90cdf4",
        "FAULT" => "#c53030",
        "INIT" => "#d69e2e",
        _ => "#cbd5e0",
    };
    for (i, lane_samples) in samples.iter().enumerate() {
        let y = 20.0 + lane * i as f64;
        let _ = writeln!(s, "<text x=\"4\" y=\"{}\">n{}</text>", y + 15.0, i + 1);
        for (j, smp) in lane_samples.iter().enumerate() {
            let t2 = lane_samples.get(j + 1).map_or(end, |n| n.t);
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.2}\" height=\"{}\" fill=\"{}\"><title>{} {:.3}–{:.3}</title></rect>",
                x(smp.t),
                (x(t2) - x(smp.t)).max(0.3),
                lane - 6.0,
                color(&smp.state),
                smp.state,
                smp.t,
                t2
            );
        }
    }
    let base = 20.0 + lane * samples.len() as f64 + 6.0;
    for (k, d) in faults.iter().enumerate() {
        let y = base + 14.0 * (k % 6) as f64;
        let end_t = d.heal.or(d.end).unwrap_or(d.start);
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"10\" fill=\"#805ad5\" opacity=\"0.7\"><title>{} on n{} {:.3}–{:.3}</title></rect>",
            x(d.start),
            (x(end_t) - x(d.start)).max(2.0),
            d.fault.kind.describe(),
            d.fault.node + 1,
            d.start,
            end_t
        );
    }
    for t in duals {
        let _ = writeln!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"14\" y2=\"{1}\" stroke=\"red\"/>",
            x(*t),
            base - 4.0
        );
    }
    s += "</svg>\n";
    s
}
