//! `cargo xtask soak`: many instances at 10 ms adverts on one pair, no faults, for a long time.
//! What must hold: no transition, no advert lost beyond what the link drops (a veth drops
//! nothing), RSS and open fds flat; what it costs: CPU per instance.

use std::{
    fmt::Write as _,
    fs, thread,
    time::{Duration, Instant},
};

use havip::control::DaemonSnapshot;

use crate::lab::{cpu_seconds, open_fds, rss_kb, Lab};

pub struct Options {
    pub minutes: f64,
    pub instances: u8,
}

pub struct Report {
    pub failures: Vec<String>,
    pub text: String,
}

/// keepalived.conf with `n` instances (VRIDs 1..=n, VIP 10.99.1.VRID) at `prio`.
fn conf(n: u8, prio: u8) -> String {
    let mut c = String::from("global_defs {\n    vrrp_version 3\n    vrrp_rt_priority 50\n}\n");
    for v in 1..=n {
        let _ = write!(
            c,
            "vrrp_instance VI_{v} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {v}\n    \
             priority {prio}\n    advert_int 0.01\n    virtual_ipaddress {{\n        10.99.1.{v}/32\n    }}\n}}\n"
        );
    }
    c
}

fn rss_fds(pid: u32) -> (u64, usize) {
    (rss_kb(pid).unwrap_or(0), open_fds(pid).unwrap_or(0))
}

fn totals(s: &DaemonSnapshot) -> (u64, u64, u64, usize) {
    let sent = s.instances.iter().map(|i| i.adverts.sent).sum();
    let received = s.instances.iter().map(|i| i.adverts.received).sum();
    let transitions = s.instances.iter().map(|i| i.adverts.transitions).sum();
    let masters = s
        .instances
        .iter()
        .filter(|i| crate::lab::state_name(i) == "MASTER")
        .count();
    (sent, received, transitions, masters)
}

pub fn run_soak(opts: &Options) -> Report {
    let n = opts.instances;
    let mut lab = Lab::new("soak");
    let a = lab.host("a", "10.99.0.11/24");
    let b = lab.host("b", "10.99.0.12/24");
    for (label, host, prio) in [("a", &a, 150), ("b", &b, 100)] {
        let path = lab.dir().join(format!("{label}.conf"));
        fs::write(&path, conf(n, prio)).expect("writing the soak config");
        let path = path.to_str().unwrap().to_string();
        lab.havip(label, host, &["run", "--config", &path])
            .wait_started(Duration::from_secs(30));
    }
    lab.proc("a").wait_state("MASTER", Duration::from_secs(30));
    lab.proc("b").wait_state("BACKUP", Duration::from_secs(30));
    // Settled: the counters from here are the soak's.
    thread::sleep(Duration::from_secs(2));
    let (pa, pb) = (lab.proc("a").pid(), lab.proc("b").pid());
    let snap = |lab: &mut Lab, l: &str| lab.proc(l).snapshot().expect("a snapshot");
    let (a0, b0) = (totals(&snap(&mut lab, "a")), totals(&snap(&mut lab, "b")));
    let (ca0, cb0) = (cpu_seconds(pa), cpu_seconds(pb));
    let (ra0, rb0) = (rss_fds(pa), rss_fds(pb));
    let start = Instant::now();
    let length = Duration::from_secs_f64(opts.minutes * 60.0);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "havip soak: {n} instances, VRRPv3 every 10 ms, one pair (a priority 150, b 100), {} min",
        opts.minutes
    );
    print!("{text}");
    println!(
        "{:>6} {:>12} {:>12} {:>6} {:>11} {:>11} {:>7} {:>7}",
        "min", "a sent", "b received", "trans", "a RSS kB", "b RSS kB", "a fds", "b fds"
    );
    text.clear();
    let mut failures = Vec::new();
    let mut next_row = Duration::ZERO;
    loop {
        let el = start.elapsed();
        if el >= next_row || el >= length {
            let (sa, sb) = (totals(&snap(&mut lab, "a")), totals(&snap(&mut lab, "b")));
            let (ra, rb) = (rss_fds(pa), rss_fds(pb));
            println!(
                "{:>6.1} {:>12} {:>12} {:>6} {:>11} {:>11} {:>7} {:>7}",
                el.as_secs_f64() / 60.0,
                sa.0 - a0.0,
                sb.1 - b0.1,
                (sa.2 - a0.2) + (sb.2 - b0.2),
                ra.0,
                rb.0,
                ra.1,
                rb.1
            );
            next_row += Duration::from_secs(60);
            if el >= length {
                break;
            }
        }
        for (l, p) in [("a", pa), ("b", pb)] {
            if let Ok(Some(status)) = lab.proc(l).child.try_wait() {
                failures.push(format!("{l} (pid {p}) exited: {status}"));
            }
        }
        if !failures.is_empty() {
            break;
        }
        if crate::lab::stop_requested() {
            failures.push(format!(
                "stopped by a signal after {:.1} min",
                start.elapsed().as_secs_f64() / 60.0
            ));
            break;
        }
        thread::sleep(Duration::from_millis(500));
    }
    let secs = start.elapsed().as_secs_f64();
    let (a1, b1) = (totals(&snap(&mut lab, "a")), totals(&snap(&mut lab, "b")));
    let (ca1, cb1) = (cpu_seconds(pa), cpu_seconds(pb));
    let (ra1, rb1) = (rss_fds(pa), rss_fds(pb));
    let sent = a1.0 - a0.0;
    let received = b1.1 - b0.1;
    let transitions = (a1.2 - a0.2) + (b1.2 - b0.2);
    // Adverts still in flight at the last read: one interval's worth per instance at most.
    let in_flight = u64::from(n) * 2;
    let lost = sent.saturating_sub(received);
    let cpu = |c0: f64, c1: f64| (c1 - c0) / secs * 100.0;
    let _ = writeln!(
        text,
        "\nafter {:.1} min: a sent {sent} adverts, b received {received} (lost {lost}; up to \
         {in_flight} are in flight at a read), {transitions} transitions; a is master of {} of \
         {n}",
        secs / 60.0,
        a1.3
    );
    let _ = writeln!(
        text,
        "CPU: a {:.2} % of a core ({:.3} % per instance), b {:.2} % ({:.3} % per instance)",
        cpu(ca0, ca1),
        cpu(ca0, ca1) / f64::from(n),
        cpu(cb0, cb1),
        cpu(cb0, cb1) / f64::from(n)
    );
    let per_hour = |a: f64, b: f64| (b - a) * 3600.0 / secs;
    let _ = writeln!(
        text,
        "RSS: a {} → {} kB ({:+.0} kB/h), b {} → {} kB ({:+.0} kB/h); fds: a {} → {}, b {} → {}",
        ra0.0,
        ra1.0,
        per_hour(ra0.0 as f64, ra1.0 as f64),
        rb0.0,
        rb1.0,
        per_hour(rb0.0 as f64, rb1.0 as f64),
        ra0.1,
        ra1.1,
        rb0.1,
        rb1.1
    );
    if transitions > 0 {
        failures.push(format!("{transitions} transitions"));
    }
    if lost > in_flight {
        failures.push(format!("{lost} adverts lost"));
    }
    if a1.3 != usize::from(n) {
        failures.push(format!("a is master of {} of {n} instances", a1.3));
    }
    if ra1.1 > ra0.1 || rb1.1 > rb0.1 {
        failures.push("open fds grew".into());
    }
    Report { failures, text }
}
