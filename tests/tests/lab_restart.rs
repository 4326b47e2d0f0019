//! Hitless restart (#14): `havip handover` (what havip.service's `ExecStop=` runs on `systemctl
//! restart`) then a new `havip run`, on the master, ten times at `advert_int 1`, launched as
//! users launch it (`ip netns exec`, XDP mode auto). The backup must never take over, and a
//! client asking ARP for the VIP every 10 ms must get every answer from the master's MAC.
//! systemd is not PID 1 on this machine: the lab plays its part (ExecStop, then ExecStart).

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use havip_lab::{
    lab::{havip_exe, Host, Lab, Launcher},
    probe::{ipv4, mac, mac_str, ArpProbe, Ping},
    scenario::{havip_args_on, Vrrp},
};

const VIP: &str = "10.99.0.100";
const LONG: Duration = Duration::from_secs(15);
const ROUNDS: usize = 10;
const ARP_EVERY: Duration = Duration::from_millis(10);

fn args(host: &Host, priority: u8) -> Vec<String> {
    havip_args_on(
        &host.iface,
        "10.99.0.100/24",
        Vrrp::v3("1"),
        priority,
        "auto",
    )
}

fn start(lab: &mut Lab, label: &str, host: &Host, priority: u8) {
    let a = args(host, priority);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    lab.havip_with(Launcher::IpNetnsExec, label, host, &a)
        .wait_started(LONG);
}

/// `havip handover` in `host`'s namespace; returns how long it took (the daemon has exited).
fn handover(lab: &Lab, host: &Host) -> Duration {
    let exe = havip_exe();
    let t = Instant::now();
    let out = lab.exec_with(
        Launcher::IpNetnsExec,
        &host.ns,
        &[exe.to_str().unwrap(), "handover"],
    );
    assert!(
        out.status.success(),
        "havip handover: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

fn became_master(lab: &Lab, host: &Host) -> u64 {
    let d = lab.stats(host).daemon.expect("a daemon");
    d.instances[0].adverts.became_master
}

#[test]
fn restarting_the_master_through_a_handover_causes_no_failover() {
    let mut lab = Lab::new("hitless");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n1", &n1, 150);
    lab.proc("n1").wait_state("MASTER", LONG);
    start(&mut lab, "n2", &n2, 100);
    lab.proc("n2").wait_state("BACKUP", LONG);
    sleep(Duration::from_secs(2));

    let arp = ArpProbe::start(
        &client.ns,
        "eth0",
        mac(&client.mac),
        ipv4(&client.ip),
        ipv4(VIP),
        ARP_EVERY,
    );
    let ping = Ping::start(&client.ns, VIP, Duration::from_millis(10));
    let mut label = "n1".to_string();
    let mut gaps = Vec::new();
    for round in 1..=ROUNDS {
        let took = handover(&lab, &n1);
        let t = Instant::now();
        assert!(
            lab.proc(&label).wait_exit(LONG).success(),
            "the old process exits 0"
        );
        label = format!("n1-r{round}");
        start(&mut lab, &label, &n1, 150);
        lab.proc(&label).wait_state("MASTER", LONG);
        gaps.push((took, t.elapsed()));
        let log = lab.proc(&label).log_text();
        assert!(
            log.contains("taking over from the previous process"),
            "round {round}: the new process did not take over: {log}"
        );
        // A second or two of adverts between restarts, as an operator's restarts would be.
        sleep(Duration::from_millis(1500));
    }
    let pings = ping.stop();
    let (replies, sent) = arp.stop_all();

    // The backup never took over.
    assert_eq!(became_master(&lab, &n2), 0, "the backup took over");
    assert_eq!(lab.stats(&n2).daemon.unwrap().instances[0].state, "BACKUP");
    // Every ARP request was answered, by n1 only.
    let mut answered = vec![false; sent.len()];
    let mut macs: Vec<String> = Vec::new();
    for r in &replies {
        if let Some(a) = (r.after_request as usize)
            .checked_sub(1)
            .and_then(|i| answered.get_mut(i))
        {
            *a = true;
        }
        let m = mac_str(&r.mac);
        if !macs.contains(&m) {
            macs.push(m);
        }
    }
    // The last request may still be in flight when the prober stops.
    let unanswered = answered[..answered.len().saturating_sub(1)]
        .iter()
        .filter(|a| !**a)
        .count();
    let mut longest = 0;
    let mut run = 0;
    for a in &answered[..answered.len().saturating_sub(1)] {
        run = if *a { 0 } else { run + 1 };
        longest = longest.max(run);
    }
    eprintln!(
        "RESULT hitless restart x{ROUNDS} at advert_int 1: backup transitions 0; ARP requests \
         {} sent, {unanswered} unanswered (longest run {longest} = {} ms); ping longest gap \
         {:?}; handover + new process MASTER, per round: {:?}",
        sent.len(),
        longest * ARP_EVERY.as_millis() as usize,
        pings.longest_gap(),
        gaps.iter()
            .map(|(h, s)| format!("{}+{} ms", h.as_millis(), s.as_millis()))
            .collect::<Vec<_>>()
    );
    assert_eq!(macs, vec![n1.mac.clone()], "ARP answered by {macs:?}");
    assert_eq!(unanswered, 0, "ARP requests went unanswered");
    assert!(
        pings.longest_gap() < Duration::from_millis(200),
        "ping gap {:?}",
        pings.longest_gap()
    );

    // Restarting the backup the same way: it starts afresh as backup, n1 is left alone.
    handover(&lab, &n2);
    assert!(lab.proc("n2").wait_exit(LONG).success());
    start(&mut lab, "n2-r1", &n2, 100);
    lab.proc("n2-r1").wait_state("BACKUP", LONG);
    assert_eq!(lab.stats(&n1).daemon.unwrap().instances[0].state, "MASTER");

    // A plain stop still releases everything.
    let p = lab.proc(&label);
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    let links = lab.ip(&n1.ns, "link show dev eth0");
    assert!(!links.contains("prog/xdp"), "XDP left attached: {links}");
    lab.proc("n2-r1").wait_state("MASTER", LONG);
}

/// A handover nobody takes (no new process within the Master_Down_Interval): the backup takes
/// over as after a crash, and the old program, its heartbeat stale, answers nothing; a process
/// started later removes what was left and starts afresh.
#[test]
fn a_handover_nobody_takes_fails_over_and_is_cleaned_up() {
    let mut lab = Lab::new("hitless-late");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n1", &n1, 150);
    lab.proc("n1").wait_state("MASTER", LONG);
    start(&mut lab, "n2", &n2, 100);
    lab.proc("n2").wait_state("BACKUP", LONG);
    handover(&lab, &n1);
    assert!(lab.proc("n1").wait_exit(LONG).success());
    lab.proc("n2").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(500));
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.received, 5, "{r:?}");
    assert_eq!(
        r.macs.iter().collect::<Vec<_>>(),
        vec![&n2.mac],
        "only the new master answers: {r:?}"
    );
    // Started after the backup took over: the old program's heartbeat is stale (it answers
    // nothing), so the handover is not taken; n1 starts afresh and preempts as usual.
    start(&mut lab, "n1-r1", &n1, 150);
    lab.proc("n1-r1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    let log = lab.proc("n1-r1").log_text();
    assert!(
        !log.contains("taking over from the previous process"),
        "a stale handover was taken: {log}"
    );
    assert!(log.contains("cannot be taken"), "{log}");
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n1.mac], "{r:?}");
}

/// Found in review: a handed-over master whose new process starts in FAULT (here its link went
/// down during the restart) must give the VIPs it was handed up, not keep them owned while
/// the backup takes over.
#[test]
fn a_handed_over_master_that_starts_in_fault_gives_the_vips_up() {
    let mut lab = Lab::new("hitless-fault");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n1", &n1, 150);
    lab.proc("n1").wait_state("MASTER", LONG);
    start(&mut lab, "n2", &n2, 100);
    lab.proc("n2").wait_state("BACKUP", LONG);
    handover(&lab, &n1);
    assert!(lab.proc("n1").wait_exit(LONG).success());
    lab.ip(&n1.ns, "link set eth0 down");
    start(&mut lab, "n1-r1", &n1, 150);
    lab.proc("n1-r1").wait_state("FAULT", LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    let addrs = lab.ip(&n1.ns, "-br addr show dev eth0");
    assert!(
        !addrs.contains(VIP),
        "the faulted node kept the VIP: {addrs}"
    );
    let s = lab.stats(&n1);
    let d = s.daemon.expect("a daemon");
    assert!(!d.instances[0].owned, "still owned while in FAULT");
    lab.ip(&n1.ns, "link set eth0 up");
    lab.proc("n1-r1").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(300));
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n1.mac], "{r:?}");
}
