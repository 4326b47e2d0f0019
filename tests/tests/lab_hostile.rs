//! Hostile LAN (issue #12): a host on the bridge that is not a VRRP peer floods spoofed
//! adverts at a master/backup pair for [`FLOOD`] each, at the highest rate `trafgen` reaches
//! here. Whatever it sends, neither node may change state, the master's adverts must keep
//! reaching the backup's election, and the daemons' CPU time must stay below one core.
//!
//! VRRPv2 (keepalived's default) without authentication: its checksum covers the VRRP message
//! alone, so `trafgen` can randomise the IP source and keep every advert valid. (A password
//! would not stop the attacker: v2's is plain text on the wire.)

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use havip::control::DaemonSnapshot;
use havip_lab::{
    lab::{cpu_seconds, daemon_state, Host, Lab},
    probe::{mac, rx_packets, trafgen_advert},
    scenario::{havip_args, Vrrp},
};

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(10);
const LONG: Duration = Duration::from_secs(20);
/// keepalived's default: VRRPv2, 1 s adverts, no authentication.
const V2: Vrrp = Vrrp {
    version: 2,
    advert_int: "1",
    pass: None,
};
const N1: [u8; 4] = [10, 99, 0, 11];

/// n1 (10.99.0.11, priority 101) master and n2 (10.99.0.12, 100) backup, each with `extra`
/// arguments (`extra(peer)` gets the other node's address), and the attacker (10.99.0.66).
fn pair(test: &str, extra: impl Fn(&str) -> Vec<String>) -> (Lab, Host, Host, Host) {
    let mut lab = Lab::new(test);
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let evil = lab.host("x", "10.99.0.66/24");
    for (label, host, prio, peer) in [
        ("n1", &n1, 101, "10.99.0.12"),
        ("n2", &n2, 100, "10.99.0.11"),
    ] {
        let mut args = havip_args(V2, prio, "auto");
        args.extend(extra(peer));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.havip(label, host, &args).wait_started(LONG);
    }
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    // Let the backup hear a few adverts and settle on its master.
    sleep(V2.master_down(100) + Duration::from_millis(500));
    (lab, n1, n2, evil)
}

const MCAST_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
const MCAST: [u8; 4] = [224, 0, 0, 18];

/// What one node looked like before and after a flood.
struct NodeFigures {
    transitions: u64,
    received: u64,
    cpu_s: f64,
    state: String,
}

fn figures(lab: &mut Lab, label: &str) -> NodeFigures {
    let p = lab.proc(label);
    let s: DaemonSnapshot = p
        .snapshot()
        .unwrap_or_else(|| panic!("{label}: no snapshot"));
    let inst = &s.instances[0];
    NodeFigures {
        transitions: inst.adverts.transitions,
        received: inst.adverts.received,
        cpu_s: cpu_seconds(p.pid()),
        state: daemon_state(&s).unwrap_or_default(),
    }
}

/// Packets `host` sent so far (`ip -s -j link`).
fn tx_packets(lab: &Lab, host: &Host) -> u64 {
    let out = lab.ip(&host.ns, "-s -j link show dev eth0");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["stats64"]["tx"]["packets"].as_u64().unwrap_or(0)
}

/// Runs trafgen with `cfg` from the attacker for [`FLOOD`] while watching both nodes, prints
/// the figures and asserts: no transition, the backup kept hearing its master, CPU below one
/// core. Returns what the caller checks further.
fn flood(lab: &mut Lab, what: &str, evil: &Host, n1: &Host, n2: &Host, cfg: &str) -> Outcome {
    let path =
        std::env::temp_dir().join(format!("havip-hostile-{}-{}.cfg", std::process::id(), what));
    std::fs::write(&path, cfg).expect("writing the trafgen config");
    let before = [figures(lab, "n1"), figures(lab, "n2")];
    let xdp0 = [xdp(lab, n1), xdp(lab, n2)];
    let sent0 = tx_packets(lab, evil);
    let rx0 = [rx_packets(lab, n1), rx_packets(lab, n2)];
    let start = Instant::now();
    let label = format!("trafgen-{what}");
    let argv = [
        "trafgen",
        "-o",
        "eth0",
        "-i",
        path.to_str().unwrap(),
        "-P",
        "1",
        "-q",
    ];
    lab.spawn(&label, &evil.ns, &argv);
    // Watch for a transition while it lasts: a state change is what the attack is after.
    let mut seen_states = Vec::new();
    while start.elapsed() < FLOOD {
        for n in ["n1", "n2"] {
            if let Some(s) = lab.proc(n).state_now() {
                if !seen_states.contains(&(n, s.clone())) {
                    seen_states.push((n, s));
                }
            }
        }
        sleep(Duration::from_millis(50));
    }
    // trafgen does not stop on SIGINT while its ring is full, and sends from a child process:
    // kill the process group the lab gave it.
    let pid = lab.proc(&label).pid() as i32;
    // SAFETY: kill(2) on the process group of a process this test started.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    lab.proc(&label).wait_exit(Duration::from_secs(5));
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    // An advert interval and a bit: a backup that lost its master's adverts late in the flood
    // takes over now.
    sleep(V2.master_down(100));
    let after = [figures(lab, "n1"), figures(lab, "n2")];
    let sent = tx_packets(lab, evil) - sent0;
    let rx = [rx_packets(lab, n1) - rx0[0], rx_packets(lab, n2) - rx0[1]];
    let cpu: Vec<f64> = (0..2)
        .map(|i| (after[i].cpu_s - before[i].cpu_s) / secs)
        .collect();
    let xdp1 = [xdp(lab, n1), xdp(lab, n2)];
    println!(
        "{what}: attacker sent {sent} frames in {secs:.1} s ({:.0} pps); n1 got {} and n2 {} \
         frames",
        sent as f64 / secs,
        rx[0],
        rx[1]
    );
    for (i, n) in ["n1", "n2"].iter().enumerate() {
        println!(
            "  {n}: {} -> {}, transitions +{}, adverts accepted by the election +{}, CPU {:.2} \
             core",
            before[i].state,
            after[i].state,
            after[i].transitions - before[i].transitions,
            after[i].received - before[i].received,
            cpu[i]
        );
        let d = delta(&xdp0[i], &xdp1[i]);
        println!(
            "    XDP: received {}, from the master {}, dropped: not a peer {}, rate-limited {}, \
             bad TTL {}; unknown VRIDs passed {} dropped {}",
            d.received,
            d.from_master,
            d.not_peer,
            d.rate_limited,
            d.bad_ttl,
            d.unknown,
            d.unknown_dropped
        );
    }
    println!("  states seen during the flood: {seen_states:?}");
    assert!(
        sent as f64 / secs > 1000.0,
        "{what}: the flood reached only {sent} frames"
    );
    for (i, n) in ["n1", "n2"].iter().enumerate() {
        assert_eq!(
            after[i].transitions, before[i].transitions,
            "{what}: {n} changed state during the flood ({} -> {}; seen {seen_states:?})",
            before[i].state, after[i].state
        );
        assert!(cpu[i] < 1.0, "{what}: {n} used {:.2} cores", cpu[i]);
    }
    assert_eq!(after[0].state, "MASTER", "{what}: n1");
    assert_eq!(after[1].state, "BACKUP", "{what}: n2");
    // The master's adverts kept reaching the backup's election: one a second.
    let heard = after[1].received - before[1].received;
    let expected = (secs / V2.interval().as_secs_f64()) as u64;
    assert!(
        heard + 2 >= expected,
        "{what}: the backup's election accepted {heard} adverts in {secs:.1} s, fewer than the \
         master's {expected}"
    );
    let d2 = delta(&xdp0[1], &xdp1[1]);
    assert!(
        d2.from_master + 2 >= expected,
        "{what}: XDP on the backup passed {} adverts from its master in {secs:.1} s, expected \
         {expected}",
        d2.from_master
    );
    Outcome {
        secs,
        n1_accepted: after[0].received - before[0].received,
        xdp: [delta(&xdp0[0], &xdp1[0]), d2],
    }
}

/// What a flood did, for the checks of each kind.
struct Outcome {
    secs: f64,
    /// Adverts n1's election accepted during the flood (and the Master_Down_Interval after).
    n1_accepted: u64,
    /// XDP counters' growth on n1 and n2.
    xdp: [XdpDelta; 2],
}

#[derive(Default, Debug)]
struct XdpDelta {
    received: u64,
    from_master: u64,
    not_peer: u64,
    rate_limited: u64,
    bad_ttl: u64,
    unknown: u64,
    unknown_dropped: u64,
}

/// The XDP counters of a node (VRID 51 and the globals), as `havip stats --json` shows them.
fn xdp(lab: &Lab, host: &Host) -> XdpDelta {
    let x = lab.stats(host).xdp.expect("XDP stats");
    let v = x.vrids.iter().find(|v| v.vrid == 51).expect("VRID 51");
    let g = |k: &str| x.global.get(k).copied().unwrap_or(0);
    XdpDelta {
        received: v.received,
        from_master: v.from_master,
        not_peer: v.not_peer,
        rate_limited: v.rate_limited,
        bad_ttl: v.bad_ttl,
        unknown: g("vrrp_unknown_vrid"),
        unknown_dropped: g("vrrp_unknown_vrid_dropped"),
    }
}

fn delta(a: &XdpDelta, b: &XdpDelta) -> XdpDelta {
    XdpDelta {
        received: b.received - a.received,
        from_master: b.from_master - a.from_master,
        not_peer: b.not_peer - a.not_peer,
        rate_limited: b.rate_limited - a.rate_limited,
        bad_ttl: b.bad_ttl - a.bad_ttl,
        unknown: b.unknown - a.unknown,
        unknown_dropped: b.unknown_dropped - a.unknown_dropped,
    }
}

/// What XDP lets through to the election from sources other than the master, at most: the
/// shared limit (16 adverts per interval, bursts of 32; `AdvertLimits`).
fn shared_limit(secs: f64) -> u64 {
    let per_s = havip::dataplane::AdvertLimits::SHARED as f64 / V2.interval().as_secs_f64();
    (per_s * secs) as u64 + 2 * havip::dataplane::AdvertLimits::SHARED
}

/// Unicast mode: priority-255 adverts from 198.51.100.66, not a `unicast_peer`, sent to the
/// master, first with TTL 7 (routed from afar) then with TTL 255. Neither may demote it.
#[test]
fn unicast_adverts_from_a_non_peer_do_not_demote_the_master() {
    let (mut lab, n1, n2, evil) = pair("hostile-ucast", |peer| {
        vec!["--unicast-peer".into(), peer.into()]
    });
    let n1_mac = mac(&n1.mac);
    for ttl in [7, 255] {
        let cfg = trafgen_advert(n1_mac, N1, "198, 51, 100, 66", ttl, "51", 255);
        flood(
            &mut lab,
            &format!("unicast-ttl{ttl}"),
            &evil,
            &n1,
            &n2,
            &cfg,
        );
    }
}

/// Multicast mode: lower-priority adverts for the pair's VRID from random sources, then
/// adverts for VRIDs nobody here runs.
#[test]
fn multicast_floods_of_spoofed_and_unknown_vrids_change_nothing() {
    let (mut lab, n1, n2, evil) = pair("hostile-mcast", |_| Vec::new());
    let cfg = trafgen_advert(MCAST_MAC, MCAST, "198, 18, drnd(2)", 255, "51", 50);
    let o = flood(&mut lab, "mcast-lower-priority", &evil, &n1, &n2, &cfg);
    // The election heard the flood at most at the shared limit (each costs the master a
    // reply).
    assert!(
        o.n1_accepted <= shared_limit(o.secs + V2.master_down(100).as_secs_f64()),
        "lower-priority flood: the master's election accepted {} spoofed adverts",
        o.n1_accepted
    );
    assert!(o.xdp[0].rate_limited > 0 && o.xdp[1].rate_limited > 0);
    let cfg = trafgen_advert(
        MCAST_MAC,
        MCAST,
        "198, 18, drnd(2)",
        255,
        "dinc(52, 250)",
        200,
    );
    let o = flood(&mut lab, "mcast-unknown-vrid", &evil, &n1, &n2, &cfg);
    // At most the trickle reached the kernel: a burst of 1000, then 1000 a second.
    for x in &o.xdp {
        assert!(
            x.unknown <= 1000 + (1000.0 * (o.secs + 4.0)) as u64,
            "{x:?}"
        );
        assert!(x.unknown_dropped > 0, "{x:?}");
    }
}
