//! Lab: one node running havip, one client, a bridge. The client's `arping` must be answered by
//! the node's XDP program (its counters match, the node's kernel sends no ARP reply and learns no
//! neighbour), and after `kill -9` of havip the node must answer no more. The counters are read
//! the product's way, `havip stats --json` under `ip netns exec`.

use std::time::Duration;

use havip_lab::{
    lab::{Lab, Launcher},
    probe::arp_flood,
};

const VIP: &str = "10.99.0.100";

fn kernel_arp_replies(capture_log: &str) -> usize {
    capture_log
        .lines()
        .filter(|l| l.contains("ARP, Reply"))
        .count()
}

fn arp_answered_by_xdp_then_silenced_by_kill_9(mode: &str, launcher: Launcher) {
    let mut lab = Lab::new(&format!("arp-{mode}"));
    let node = lab.host("n1", "10.99.0.11/24");
    let client = lab.host("c", "10.99.0.50/24");
    if mode == "native" {
        // The one lab about native mode with an XDP peer: native XDP_TX on a veth is delivered
        // only when the peer runs an XDP program.
        lab.pass_on_port(&node);
    }
    // The node kernel's own ARP output: XDP_TX frames bypass packet taps, kernel replies don't.
    lab.spawn(
        "capture",
        &node.ns,
        &["tcpdump", "-i", "eth0", "-nn", "-l", "-Q", "out", "arp"],
    )
    .wait_log("listening on", Duration::from_secs(5));
    lab.havip_with(
        launcher,
        "havip",
        &node,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--xdp-mode",
            mode,
        ],
    )
    .wait_owned(Duration::from_secs(10));
    let attached = lab
        .xdp_on(&node)
        .expect("an XDP program on the node's eth0");
    assert!(attached.contains("havip_xdp"), "{attached}");
    assert!(lab.has_addr(&node, VIP));

    let r = lab.arping(&client, VIP, 20, 0.02);
    assert_eq!(
        (r.sent, r.received),
        (20, 20),
        "every request answered: {r:?}"
    );
    assert_eq!(
        r.macs.iter().collect::<Vec<_>>(),
        vec![&node.mac],
        "answered with the node's MAC"
    );

    let c = lab.vip_stats(&node, VIP);
    assert_eq!(
        (c.arp_requests, c.arp_replies),
        (20, 20),
        "XDP counters match the requests: {c:?}"
    );
    assert_eq!((c.dropped_not_owned, c.dropped_stale_heartbeat), (0, 0));
    assert!(c.owned, "{c:?}");
    assert_eq!(
        kernel_arp_replies(&lab.proc("capture").log_text()),
        0,
        "the kernel answered"
    );
    let neigh = lab.ip(&node.ns, "neigh show 10.99.0.50");
    assert!(
        neigh.trim().is_empty(),
        "the node's kernel learnt the client: {neigh}"
    );

    // kill -9: the address and the program stay, the answers stop.
    let havip = lab.proc("havip");
    havip.signal(libc::SIGKILL);
    havip.wait_exit(Duration::from_secs(5));
    assert!(
        lab.has_addr(&node, VIP),
        "a crash leaves the VIP: the fail-safe must cover it"
    );
    assert!(
        lab.xdp_on(&node).is_some(),
        "the program stays attached after kill -9"
    );
    std::thread::sleep(Duration::from_millis(1100)); // heartbeat max age: 1 s without VRRP
    let r = lab.arping(&client, VIP, 5, 0.05);
    assert_eq!(
        (r.sent, r.received),
        (5, 0),
        "answered after kill -9: {r:?}"
    );
    let c = lab.vip_stats(&node, VIP);
    assert_eq!(
        (c.arp_requests, c.arp_replies, c.dropped_stale_heartbeat),
        (25, 20, 5),
        "{c:?}"
    );
    assert_eq!(
        kernel_arp_replies(&lab.proc("capture").log_text()),
        0,
        "the kernel answered"
    );

    // A new run removes what the crashed one left, and serves again.
    lab.havip_with(
        launcher,
        "havip2",
        &node,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--xdp-mode",
            mode,
        ],
    )
    .wait_owned(Duration::from_secs(10));
    assert!(lab
        .proc("havip2")
        .log_text()
        .contains("left behind by a previous run"));
    let r = lab.arping(&client, VIP, 3, 0.02);
    assert_eq!(r.received, 3, "{r:?}");

    // SIGTERM: VIP removed, program detached (so no XDP counters to report), exit 0.
    let havip2 = lab.proc("havip2");
    havip2.signal(libc::SIGTERM);
    assert!(havip2.wait_exit(Duration::from_secs(5)).success());
    assert!(!lab.has_addr(&node, VIP), "VIP left after SIGTERM");
    assert_eq!(lab.xdp_on(&node), None, "XDP left attached after SIGTERM");
    let s = lab.stats(&node);
    assert!(s.xdp.is_none(), "XDP counters left after SIGTERM: {s:#?}");
}

/// Started as users do, `ip netns exec NS havip run ...`: the fail-safe must not depend on it.
#[test]
fn lab_arp_skb_mode() {
    arp_answered_by_xdp_then_silenced_by_kill_9("skb", Launcher::IpNetnsExec);
}

#[test]
fn lab_arp_native_mode() {
    arp_answered_by_xdp_then_silenced_by_kill_9("native", Launcher::NsenterNet);
}

/// `--xdp-mode auto`, what users type, on plain veth ports of a bridge with no XDP program
/// anywhere else (a veth drops native XDP_TX frames unless its peer runs XDP): every arping
/// request is answered, and so is a flood from random sources, started with `ip netns exec`.
#[test]
fn auto_mode_on_plain_bridge_ports() {
    let mut lab = Lab::new("arp-auto");
    let node = lab.host("n1", "10.99.0.11/16");
    let client = lab.host("c", "10.99.0.50/16");
    lab.havip_with(
        Launcher::IpNetnsExec,
        "havip",
        &node,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/16",
            "--xdp-mode",
            "auto",
        ],
    )
    .wait_owned(Duration::from_secs(10));
    let attached = lab
        .xdp_on(&node)
        .expect("an XDP program on the node's eth0");
    assert!(attached.contains("havip_xdp"), "{attached}");
    // What auto picked, as the daemon says and as the kernel says: generic (skb) mode.
    let snap = lab.proc("havip").snapshot().expect("the daemon answers");
    let mode = snap.xdp[0].mode.to_string();
    assert_eq!(mode, "skb", "auto mode on a plain bridge port");
    assert!(
        lab.ip(&node.ns, "link show dev eth0")
            .contains("xdpgeneric"),
        "not attached in generic mode"
    );
    // No XDP anywhere else: not on the bridge's ports, not on the client.
    let lan = lab.lan();
    let ports = lab.ip(&lan, "link show");
    assert!(!ports.contains("xdp"), "XDP on the LAN side: {ports}");
    assert_eq!(lab.xdp_on(&client), None);

    // Both measured before either is judged, so a failure shows both figures.
    let r = lab.arping(&client, VIP, 20, 0.02);
    let f = arp_flood(&lab, &client, &node, [10, 99, 0, 100], true, 20_000);
    eprintln!(
        "auto mode ({attached}): arping {} of {} answered; flood of 20000 random-source \
         requests: {} offered, {} answered ({:.1} %) in {:.2} s",
        r.received,
        r.sent,
        f.offered,
        f.answered,
        f.answered_pct(),
        f.seconds
    );
    assert!(
        (r.sent, r.received) == (20, 20) && f.offered >= 19_000 && f.answered_pct() >= 99.0,
        "auto mode ({attached}) on plain bridge ports: arping {r:?}, flood {f:?} ({:.1} % \
         answered)\n{}",
        f.answered_pct(),
        lab.proc("havip").log_text()
    );
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&node.mac]);
    // XDP saw every request (a few other frames may have reached the node too) and answered
    // each: `havip stats` agrees with the wire.
    let c = lab.vip_stats(&node, VIP);
    assert!(
        c.arp_requests + 50 >= 20 + f.offered && c.arp_requests <= 20 + f.offered,
        "{c:?} {f:?}"
    );
    assert_eq!(c.arp_replies, c.arp_requests, "{c:?}");
}

const VMAC: &str = "00:00:5e:00:01:33";

/// A client that reaches the VIP through a static neighbour entry VIP → 00:00:5e:00:01:33 (as
/// clients that ignore gratuitous ARP, or are configured so, do), with `use_vmac` on both
/// nodes: the VIP answers before and after the master is killed, ARP for it is answered with
/// the virtual MAC, and the LAN's bridge has the virtual MAC on the master's port only. Without
/// `use_vmac` the same client loses the VIP: the master does not accept the virtual MAC.
fn static_vmac_client(use_vmac: bool) -> (u32, u32) {
    let mut lab = Lab::new(if use_vmac { "vmac" } else { "novmac" });
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    let other = lab.host("o", "10.99.0.51/24");
    let args = |prio: &str| {
        let mut a = vec![
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--vrid",
            "51",
            "--priority",
            prio,
            "--vrrp-version",
            "3",
            "--advert-int",
            "0.05",
            "--xdp-mode",
            "skb",
        ];
        if use_vmac {
            a.push("--use-vmac");
        }
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let a1 = args("150");
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    lab.havip("n1", &n1, &a1)
        .wait_started(Duration::from_secs(15));
    lab.proc("n1").wait_state("MASTER", Duration::from_secs(15));
    let a2 = args("100");
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    lab.havip("n2", &n2, &a2)
        .wait_started(Duration::from_secs(15));
    lab.proc("n2").wait_state("BACKUP", Duration::from_secs(15));
    lab.ip(
        &client.ns,
        &format!("neigh replace {VIP} lladdr {VMAC} dev eth0 nud permanent"),
    );
    // Another host's ARP: answered with the virtual MAC, or the interface's.
    let a = lab.arping(&other, VIP, 2, 0.2);
    let want = if use_vmac {
        VMAC.to_string()
    } else {
        n1.mac.clone()
    };
    assert!(
        a.received >= 1 && a.macs.iter().all(|m| *m == want),
        "ARP for the VIP: {a:?}, want {want}"
    );
    if use_vmac {
        // A client that resolves the VIP itself, and talks to it: its entry must stay the
        // virtual MAC (the master's kernel, answering it, must not teach it its own MAC).
        lab.ip(&other.ns, "neigh flush all");
        let out = lab.exec(&other.ns, &["ping", "-c", "2", "-i", "0.2", "-W", "1", VIP]);
        assert!(out.status.success());
        let entry = lab.ip(&other.ns, &format!("neigh show {VIP}"));
        assert!(
            entry.contains(VMAC),
            "a resolving client's entry for the VIP: {entry}"
        );
        havip_lab::lab::wait_until(
            "the bridge learns the virtual MAC",
            Duration::from_secs(5),
            || lab.fdb_ports(VMAC) == vec![n1.port.clone()],
        );
    }
    // 6 s of pings every 10 ms; the master is killed 2 s in.
    lab.ping_every_10ms("ping", &client, "10.99.0.100", 600);
    std::thread::sleep(Duration::from_secs(2));
    let p = lab.proc("n1");
    p.signal(libc::SIGKILL);
    p.wait_exit(Duration::from_secs(5));
    lab.proc("n2").wait_state("MASTER", Duration::from_secs(15));
    if use_vmac {
        // Exactly one port has it, the new master's, and it stays there.
        havip_lab::lab::wait_until(
            "the bridge moves the virtual MAC",
            Duration::from_secs(5),
            || lab.fdb_ports(VMAC) == vec![n2.port.clone()],
        );
        for _ in 0..20 {
            assert_eq!(lab.fdb_ports(VMAC), vec![n2.port.clone()]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let (sent, received) = lab.ping_summary("ping");
    println!(
        "use_vmac {use_vmac}: client with a static entry for the VIP: {received} of {sent} pings answered across the failover ({} lost, about {} ms)",
        sent - received,
        (sent - received) * 10
    );
    if use_vmac {
        let global = lab.stats(&n2).xdp.map(|x| x.global).unwrap_or_default();
        let accepted = global.get("vmac_accepted").copied().unwrap_or(0);
        assert!(
            accepted > 0,
            "the new master took no frame to the virtual MAC: {global:?}"
        );
        println!("n2 (the new master) took {accepted} frames to the virtual MAC");
    }
    (sent, received)
}

#[test]
fn a_client_with_a_static_vmac_entry_keeps_the_vip_across_a_failover() {
    let (sent, received) = static_vmac_client(true);
    // Before the kill (200 pings) and after the takeover: the outage is the failover's, some
    // tens of ms at 50 ms adverts, far below a second.
    assert!(
        received + 100 >= sent,
        "with use_vmac: {received} of {sent} answered"
    );
    let (sent, received) = static_vmac_client(false);
    assert_eq!(
        received, 0,
        "without use_vmac: {received} of {sent} answered"
    );
}
