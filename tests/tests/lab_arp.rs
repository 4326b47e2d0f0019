//! Lab: one node running havip, one client, a bridge. The client's `arping` must be answered by
//! the node's XDP program (its counters match, the node's kernel sends no ARP reply and learns no
//! neighbour), and after `kill -9` of havip the node must answer no more.

use std::time::Duration;

use havip::dataplane::read_vip_counters;
use havip_ebpf::{map, VipKey};
use havip_lab::lab::{xdp_map, Host, Lab};

const VIP: &str = "10.99.0.100";

fn ifindex(lab: &Lab, host: &Host) -> u32 {
    let out = lab.ip(&host.ns, "-o link show dev eth0");
    out.split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("ifindex")
}

fn kernel_arp_replies(capture_log: &str) -> usize {
    capture_log
        .lines()
        .filter(|l| l.contains("ARP, Reply"))
        .count()
}

fn arp_answered_by_xdp_then_silenced_by_kill_9(mode: &str) {
    let mut lab = Lab::new(&format!("arp-{mode}"));
    let node = lab.host("n1", "10.99.0.11/24");
    let client = lab.host("c", "10.99.0.50/24");
    if mode == "native" {
        lab.pass_on_port(&node);
    }
    // The node kernel's own ARP output: XDP_TX frames bypass packet taps, kernel replies don't.
    lab.spawn(
        "capture",
        &node.ns,
        &["tcpdump", "-i", "eth0", "-nn", "-l", "-Q", "out", "arp"],
    )
    .wait_log("listening on", Duration::from_secs(5));
    lab.havip(
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
    .wait_log("VIP added", Duration::from_secs(10));
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

    let key = VipKey {
        addr: [10, 99, 0, 100],
        ifindex: ifindex(&lab, &node),
    };
    let c = read_vip_counters(&xdp_map(&node.ns, map::VIP_COUNTERS), &key).unwrap();
    assert_eq!(
        (c.requests, c.replies),
        (20, 20),
        "XDP counters match the requests: {c:?}"
    );
    assert_eq!((c.dropped_not_owned, c.dropped_stale), (0, 0));
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

    // kill -9: the address and the (pinned) program stay, the answers stop.
    let havip = lab.proc("havip");
    havip.signal(libc::SIGKILL);
    havip.wait_exit(Duration::from_secs(5));
    assert!(
        lab.has_addr(&node, VIP),
        "a crash leaves the VIP: the fail-safe must cover it"
    );
    assert!(
        lab.xdp_on(&node).is_some(),
        "the pinned link keeps the program attached"
    );
    std::thread::sleep(Duration::from_millis(1100)); // heartbeat max age: 1 s without VRRP
    let r = lab.arping(&client, VIP, 5, 0.05);
    assert_eq!(
        (r.sent, r.received),
        (5, 0),
        "answered after kill -9: {r:?}"
    );
    let c = read_vip_counters(&xdp_map(&node.ns, map::VIP_COUNTERS), &key).unwrap();
    assert_eq!(
        (c.requests, c.replies, c.dropped_stale),
        (25, 20, 5),
        "{c:?}"
    );
    assert_eq!(
        kernel_arp_replies(&lab.proc("capture").log_text()),
        0,
        "the kernel answered"
    );

    // A new run removes what the crashed one left, and serves again.
    lab.havip(
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
    .wait_log("VIP added", Duration::from_secs(10));
    assert!(lab
        .proc("havip2")
        .log_text()
        .contains("left behind by a previous run"));
    let r = lab.arping(&client, VIP, 3, 0.02);
    assert_eq!(r.received, 3, "{r:?}");

    // SIGTERM: VIP removed, program detached, pins gone, exit 0.
    let havip2 = lab.proc("havip2");
    havip2.signal(libc::SIGTERM);
    assert!(havip2.wait_exit(Duration::from_secs(5)).success());
    assert!(!lab.has_addr(&node, VIP), "VIP left after SIGTERM");
    assert_eq!(lab.xdp_on(&node), None, "XDP left attached after SIGTERM");
    assert!(
        !lab.pin_dir(&node.ns).exists(),
        "something was pinned under /sys/fs/bpf/havip"
    );
}

#[test]
fn lab_arp_skb_mode() {
    arp_answered_by_xdp_then_silenced_by_kill_9("skb");
}

#[test]
fn lab_arp_native_mode() {
    arp_answered_by_xdp_then_silenced_by_kill_9("native");
}
