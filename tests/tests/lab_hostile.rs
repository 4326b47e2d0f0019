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
    lab::{daemon_state, Host, Lab},
    probe::{mac, rx_packets},
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

/// One VRRPv2 advert for trafgen: to `dst_mac`/`dst`, from `src` (trafgen syntax for four
/// bytes), with `ttl`, `vrid` and `priority` (trafgen expressions), advertising the lab's VIP.
/// Both checksums are trafgen's, recomputed for every frame.
fn trafgen_advert(
    dst_mac: [u8; 6],
    dst: [u8; 4],
    src: &str,
    ttl: u8,
    vrid: &str,
    prio: u8,
) -> String {
    let m = dst_mac.map(|b| format!("{b:#04x}")).join(", ");
    let d = dst.map(|b| b.to_string()).join(", ");
    format!(
        "{{ {m}, 0x02, 0x66, 0x66, 0x66, 0x66, 0x66, c16(0x0800), \
         0x45, 0xc0, c16(40), drnd(2), c16(0), {ttl}, 112, csumip(14, 33), {src}, {d}, \
         0x21, {vrid}, {prio}, 1, 0, 1, csumip(34, 53), 10, 99, 0, 100, \
         0, 0, 0, 0, 0, 0, 0, 0 }}"
    )
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

/// utime + stime of a process (all its threads), seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Packets `host` sent so far (`ip -s -j link`).
fn tx_packets(lab: &Lab, host: &Host) -> u64 {
    let out = lab.ip(&host.ns, "-s -j link show dev eth0");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["stats64"]["tx"]["packets"].as_u64().unwrap_or(0)
}

/// Runs trafgen with `cfg` from the attacker for [`FLOOD`] while watching both nodes, prints
/// the figures and asserts: no transition, the backup kept hearing its master, CPU below one
/// core. Returns the XDP stats of both nodes after the flood, for the caller's own checks.
fn flood(lab: &mut Lab, what: &str, evil: &Host, n1: &Host, n2: &Host, cfg: &str) {
    let path =
        std::env::temp_dir().join(format!("havip-hostile-{}-{}.cfg", std::process::id(), what));
    std::fs::write(&path, cfg).expect("writing the trafgen config");
    let before = [figures(lab, "n1"), figures(lab, "n2")];
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
    // trafgen does not stop on SIGINT while its ring is full.
    lab.proc(&label).signal(libc::SIGKILL);
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
    let xdp = [lab.stats(n1).xdp, lab.stats(n2).xdp];
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
        if let Some(x) = &xdp[i] {
            for v in &x.vrids {
                println!("    XDP vrid {}: {v:?}", v.vrid);
            }
            println!("    XDP global: {:?}", x.global);
        }
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
    flood(&mut lab, "mcast-lower-priority", &evil, &n1, &n2, &cfg);
    let cfg = trafgen_advert(
        MCAST_MAC,
        MCAST,
        "198, 18, drnd(2)",
        255,
        "dinc(52, 250)",
        200,
    );
    flood(&mut lab, "mcast-unknown-vrid", &evil, &n1, &n2, &cfg);
}
