//! `cargo xtask bench failover --bfd`: the client's outage when the master dies, side by side in
//! one run and lab shape: havip's VRRP at 10 ms adverts, havip with BFD and fast takeover, and
//! keepalived at 10 ms adverts with and without its own BFD; then false takeovers with both
//! cores busy (`--stress-minutes`).

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{
    lab::{Host, Lab},
    probe::{mac, ArpProbe},
    scenario::{havip_args, keepalived_conf_with, median_p95, Daemon, Pair, Vrrp},
};

const LONG: Duration = Duration::from_secs(20);
const VRRP: Vrrp = Vrrp::v3("0.01");

/// One column of the comparison.
#[derive(Clone, Copy, Debug)]
pub enum Setup {
    /// VRRP alone at 10 ms adverts.
    Vrrp(Daemon),
    /// havip with BFD at `ms` × 3 to the peer, fast takeover on.
    HavipBfd { ms: f64 },
    /// keepalived with its own `bfd_instance` at `ms` × 3 and `track_bfd` (weight 2): keepalived
    /// has no fast takeover, so this shows what its BFD does for a failover.
    KeepalivedBfd { ms: f64 },
}

impl Setup {
    pub fn name(self) -> String {
        match self {
            Setup::Vrrp(d) => format!("{} VRRP 10 ms", d.name()),
            Setup::HavipBfd { ms } => format!("havip BFD {ms} ms x 3"),
            Setup::KeepalivedBfd { ms } => format!("keepalived BFD {ms} ms x 3"),
        }
    }

    fn daemon(self) -> Daemon {
        match self {
            Setup::Vrrp(d) => d,
            Setup::HavipBfd { .. } => Daemon::Havip,
            Setup::KeepalivedBfd { .. } => Daemon::Keepalived,
        }
    }
}

/// How the master dies.
#[derive(Clone, Copy, Debug)]
pub enum Failure {
    /// Its bridge port goes down.
    LinkDown,
    /// `kill -9` of the daemon (keepalived: its whole process group, BFD child included).
    Kill9,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::LinkDown => "link down",
            Failure::Kill9 => "kill -9",
        }
    }
}

fn keepalived_bfd_conf(me: &Host, peer: &Host, state: &str, priority: u8, ms: f64) -> String {
    let base = keepalived_conf_with(
        VRRP,
        state,
        priority,
        "    vrrp_rt_priority 50\n    bfd_rt_priority 50\n",
    );
    let bfd = format!(
        "bfd_instance peer {{\n    neighbor_ip {}\n    source_ip {}\n    min_rx {ms}\n    \
         min_tx {ms}\n    multiplier 3\n}}\n",
        peer.ip, me.ip
    );
    // track_bfd goes inside the instance, after the bfd_instance it names.
    let base = base.replacen(
        "    advert_int",
        "    track_bfd {\n        peer weight 2\n    }\n    advert_int",
        1,
    );
    let split = base.find("vrrp_instance").expect("an instance");
    format!("{}{bfd}{}", &base[..split], &base[split..])
}

/// Two nodes and a client in the shape of [`Pair`], with `setup`'s settings; n1 master.
pub fn start(name: &str, setup: Setup) -> Pair {
    let mut lab = Lab::new(name);
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    // As `cargo xtask bench failover`: native mode, a pass program on the bridge ports.
    lab.pass_on_port(&n1);
    lab.pass_on_port(&n2);
    let nodes = [
        ("n1", &n1, &n2, 101u8, "MASTER"),
        ("n2", &n2, &n1, 100u8, "BACKUP"),
    ];
    match setup {
        Setup::Vrrp(Daemon::Havip) | Setup::HavipBfd { .. } => {
            for (label, me, peer, prio, _) in nodes {
                let mut args = havip_args(VRRP, prio, "native");
                args.extend(["--rt-priority".into(), "50".into()]);
                if let Setup::HavipBfd { ms } = setup {
                    args.extend([
                        "--bfd".into(),
                        format!("{},min_tx={ms},min_rx={ms},multiplier=3", peer.ip),
                        "--fast-takeover".into(),
                    ]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                lab.havip(label, me, &args).wait_started(LONG);
            }
            lab.proc("n1").wait_state("MASTER", LONG);
        }
        Setup::Vrrp(Daemon::Keepalived) | Setup::KeepalivedBfd { .. } => {
            for (label, me, peer, prio, state) in nodes {
                let conf = match setup {
                    Setup::KeepalivedBfd { ms } => keepalived_bfd_conf(me, peer, state, prio, ms),
                    _ => keepalived_conf_with(VRRP, state, prio, "    vrrp_rt_priority 50\n"),
                };
                match setup {
                    Setup::KeepalivedBfd { .. } => lab.keepalived_bfd(label, me, &conf),
                    _ => lab.keepalived(label, me, &conf),
                };
            }
            lab.proc("n1").wait_keepalived_state("MASTER", LONG);
        }
    }
    // Sessions up and the backup settled.
    sleep(Duration::from_millis(1500));
    Pair {
        lab,
        n1,
        n2,
        client,
        daemon: setup.daemon(),
        vrrp: VRRP,
    }
}

/// One trial. Link down: the client's outage (ICMP echo every 1 ms, the longest gap). kill -9:
/// the dead daemon's host still holds the VIP and its kernel still answers pings, so an echo
/// outage says nothing; what counts is when the backup took over: from the kill to its first
/// ARP reply for the VIP (the client asks every 1 ms). Also returns how many of the client's
/// ARP requests the dead master's host answered after that (two responders).
pub fn trial(name: &str, setup: Setup, failure: Failure) -> (Duration, usize) {
    // A trial counts only from the state it is about: n1 master, n2 backup, the client's
    // entry for the VIP on n1's MAC, and (kill -9) only n1 answering ARP until the kill. A
    // trial that is not (keepalived's BFD flapping made its backup master, say) is said and
    // started again, at most 10 times.
    for attempt in 1.. {
        let mut pair = start(name, setup);
        let result = settled(&mut pair).and_then(|()| match failure {
            Failure::LinkDown => Ok((
                pair.failover(Duration::from_millis(1), |p| p.drop_master_link()),
                0,
            )),
            Failure::Kill9 => kill_9(&mut pair),
        });
        match result {
            Ok(r) => return r,
            Err(why) => {
                eprintln!(
                    "  {} {}: not a trial ({why}), started again",
                    setup.name(),
                    failure.name()
                );
                assert!(attempt < 10, "{}: never a trial: {why}", setup.name());
            }
        }
    }
    unreachable!()
}

/// kill -9 of n1's daemon: from the kill to n2's first ARP reply, and the requests n1's host
/// answered after that. An Err when n2 answered before the kill.
fn kill_9(pair: &mut Pair) -> Result<(Duration, usize), String> {
    let c = pair.client.clone();
    let probe = ArpProbe::start(
        &c.ns,
        "eth0",
        mac(&c.mac),
        [10, 99, 0, 50],
        [10, 99, 0, 100],
        Duration::from_millis(1),
    );
    sleep(Duration::from_millis(300));
    let killed = Instant::now();
    pair.lab.proc("n1").signal_group(libc::SIGKILL);
    pair.wait_master("n2", Duration::from_secs(15));
    sleep(Duration::from_millis(300));
    let kill_at = killed - probe.started();
    let replies = probe.stop();
    let (m1, m2) = (mac(&pair.n1.mac), mac(&pair.n2.mac));
    if replies.iter().any(|r| r.mac == m2 && r.at < kill_at) {
        return Err("n2 answered ARP before the kill".into());
    }
    let first_n2 = replies
        .iter()
        .filter(|r| r.mac == m2 && r.at >= kill_at)
        .map(|r| r.at)
        .min()
        .ok_or("n2 never answered ARP")?;
    let both = replies
        .iter()
        .filter(|r| r.mac == m1 && r.at > first_n2)
        .count();
    Ok((first_n2 - kill_at, both))
}

/// Whether the pair is in the state a trial starts from: n2 not master, and the client's
/// neighbour entry for the VIP on n1's MAC (after one ping, so that it has one).
fn settled(pair: &mut Pair) -> Result<(), String> {
    if pair.is_master("n2") {
        return Err("n2 is master".into());
    }
    if !pair.is_master("n1") {
        return Err("n1 is not master".into());
    }
    let c = pair.client.clone();
    let _ = pair
        .lab
        .exec(&c.ns, &["ping", "-c", "1", "-W", "1", "10.99.0.100"]);
    let neigh = pair.lab.ip(&c.ns, "neigh show 10.99.0.100");
    if !neigh.contains(&pair.n1.mac) {
        return Err(format!("the client's entry: {}", neigh.trim()));
    }
    Ok(())
}

/// The link-down trials of a run's log (its "  SETUP link down: trial N: X ms" lines), by
/// setup in order of appearance: to plot a run again.
pub fn trials_from_log(log: &str) -> Vec<(String, Vec<Duration>)> {
    let mut out: Vec<(String, Vec<Duration>)> = Vec::new();
    for line in log.lines() {
        let Some((setup, rest)) = line.trim().split_once(" link down: trial ") else {
            continue;
        };
        let Some(ms) = rest
            .split_once(": ")
            .and_then(|(_, v)| v.split(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let d = Duration::from_secs_f64(ms / 1e3);
        match out.iter_mut().find(|(s, _)| s == setup) {
            Some((_, v)) => v.push(d),
            None => out.push((setup.to_string(), vec![d])),
        }
    }
    out
}

/// The failover table.
pub fn failover(setups: &[Setup], trials: usize) -> Vec<(Setup, Failure, Vec<Duration>)> {
    let mut rows = Vec::new();
    let mut overlaps = Vec::new();
    for failure in [Failure::LinkDown, Failure::Kill9] {
        for (k, &setup) in setups.iter().enumerate() {
            let mut samples = Vec::new();
            let mut both = 0;
            for t in 0..trials {
                let (outage, two) = trial(&format!("bb{k}{t}"), setup, failure);
                eprintln!(
                    "  {} {}: trial {}: {:.1} ms{}",
                    setup.name(),
                    failure.name(),
                    t + 1,
                    outage.as_secs_f64() * 1e3,
                    if two > 0 {
                        format!(" ({two} ARP requests answered by both)")
                    } else {
                        String::new()
                    }
                );
                samples.push(outage);
                both += two;
            }
            rows.push((setup, failure, samples));
            overlaps.push(both);
        }
    }
    println!(
        "\nfailover --bfd: VRRPv3 10 ms adverts, --rt-priority 50 (keepalived vrrp_/bfd_rt_priority \
         50), {trials} trials each.\nlink down: the client's outage (ICMP echo every 1 ms). kill -9: \
         kill to the backup's first ARP reply (ARP every 1 ms); 'both': the client's ARP requests \
         the dead master's host answered after that, all trials"
    );
    println!(
        "{:<28} {:<10} {:>10} {:>8} {:>8} {:>8} {:>6}",
        "setup", "failure", "median ms", "p95 ms", "min ms", "max ms", "both"
    );
    let f = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1e3);
    for ((setup, failure, s), both) in rows.iter().zip(&overlaps) {
        let (median, p95) = median_p95(s);
        println!(
            "{:<28} {:<10} {:>10} {:>8} {:>8} {:>8} {:>6}",
            setup.name(),
            failure.name(),
            f(median),
            f(p95),
            f(*s.iter().min().unwrap()),
            f(*s.iter().max().unwrap()),
            both
        );
    }
    rows
}

/// False takeovers with both cores busy: `minutes` of `stress-ng --cpu 2` per setup, the master
/// alive throughout; counts the backup's takeovers and the BFD sessions' downs, and shows the
/// backup's BFD thread timing idle (10 s before) and at the end of the load.
pub fn stress(setups: &[Setup], minutes: u64) {
    let mut out = Vec::new();
    for (k, &setup) in setups.iter().enumerate() {
        let mut pair = start(&format!("bs{k}"), setup);
        sleep(Duration::from_secs(10));
        let idle = thread_timing(&mut pair);
        let client = pair.client.clone();
        let secs = minutes * 60;
        pair.lab.spawn(
            "stress",
            &client.ns,
            &[
                "stress-ng",
                "--cpu",
                "2",
                "--timeout",
                &format!("{}s", secs + 5),
            ],
        );
        sleep(Duration::from_secs(1));
        let before = became_master(&mut pair);
        let downs_before = bfd_downs(&mut pair);
        // The machine's own stalls beside (a CPU not run for 10 ms or more: the chaos lab's
        // watcher, SCHED_FIFO 99), which no daemon on it can outrun.
        let watch = crate::chaos::stalls::StallWatch::start(Instant::now());
        sleep(Duration::from_secs(secs));
        let (stalls, steal) = watch.stop();
        let takeovers = became_master(&mut pair).saturating_sub(before);
        let downs = bfd_downs(&mut pair)
            .zip(downs_before)
            .map(|(a, b)| a.saturating_sub(b));
        let busy = thread_timing(&mut pair);
        let longest = stalls.iter().map(|s| s.len).fold(0.0, f64::max);
        let stalls = format!(
            "{} (longest {:.1} ms, steal {steal} ticks)",
            stalls.len(),
            longest * 1e3
        );
        eprintln!(
            "  {}: {takeovers} false takeovers, BFD downs {downs:?}",
            setup.name()
        );
        out.push((setup, takeovers, downs, idle, busy, stalls));
    }
    println!(
        "\nfalse takeovers: {minutes} min per setup, both cores under stress-ng --cpu 2, the \
         master alive, --rt-priority 50"
    );
    println!(
        "{:<28} {:>16} {:>18}   machine stalls >= 10 ms",
        "setup", "false takeovers", "BFD session downs"
    );
    for (setup, takeovers, downs, _, _, stalls) in &out {
        println!(
            "{:<28} {:>16} {:>18}   {stalls}",
            setup.name(),
            takeovers,
            downs.map_or("-".into(), |d| d.to_string())
        );
    }
    println!(
        "\nthe backup's BFD thread (SCHED_FIFO 50), last 4096 samples: how late it woke for its \
         deadlines, and kernel receive time to the session; µs p50 / p99 / max"
    );
    println!(
        "{:<28} {:<8} {:>22} {:>22}",
        "setup", "load", "woke late", "rx to session"
    );
    for (setup, _, _, idle, busy, _) in &out {
        for (load, t) in [("idle", idle), ("stress", busy)] {
            println!("{:<28} {:<8} {:>22} {:>22}", setup.name(), load, t.0, t.1);
        }
    }
}

/// The backup's BFD thread timing, "p50 / p99 / max" µs: wake-up lateness, receive delay.
fn thread_timing(pair: &mut Pair) -> (String, String) {
    let b = pair.lab.proc("n2").snapshot().and_then(|s| s.bfd);
    let f = |l: Option<&havip::control::LatencySummary>| {
        l.map_or("-".into(), |l| {
            format!("{:.0} / {:.0} / {:.0}", l.p50_us, l.p99_us, l.max_us)
        })
    };
    match b {
        Some(b) => (f(b.wakeup_late.as_ref()), f(b.rx_delay.as_ref())),
        None => ("-".into(), "-".into()),
    }
}

fn became_master(pair: &mut Pair) -> u64 {
    let p = pair.lab.proc("n2");
    match pair.daemon {
        Daemon::Havip => p
            .snapshot()
            .and_then(|s| s.instances.first().map(|i| i.adverts.became_master))
            .unwrap_or(0),
        Daemon::Keepalived => p
            .log_text()
            .lines()
            .filter(|l| l.contains("Entering MASTER STATE"))
            .count() as u64,
    }
}

/// The backup's BFD session downs (havip's, from its snapshot).
fn bfd_downs(pair: &mut Pair) -> Option<u64> {
    let s = pair.lab.proc("n2").snapshot()?;
    Some(s.bfd?.sessions.iter().map(|s| s.downs).sum())
}
