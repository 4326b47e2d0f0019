//! Lab: the XDP mode havip picks must deliver its ARP replies. A veth transmits native `XDP_TX`
//! frames into its peer's XDP ring, which exists only while the peer runs an XDP program: on a
//! plain bridge port the frames are dropped and a MASTER would answer nothing. `auto` must pick
//! skb mode there, `native` must be refused with the fix, and a native attachment whose peer
//! loses its program must fall back to skb mode while it runs.

use std::time::{Duration, Instant};

use havip_lab::lab::{in_netns, wait_until, Host, Lab, Launcher};

const VIP: &str = "10.99.0.100";

fn start(lab: &mut Lab, node: &Host, mode: &str) {
    lab.havip(
        "havip",
        node,
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
}

/// Runs `havip run --xdp-mode native` on `iface` in `ns`, which must fail; returns its stderr.
fn refused_native(lab: &Lab, ns: &str, iface: &str) -> String {
    let exe = havip_lab::lab::havip_exe();
    let args = [
        "run",
        "--iface",
        iface,
        "--vip",
        "10.99.0.100/24",
        "--xdp-mode",
        "native",
    ];
    // Bounded: a regression that runs instead of refusing must fail here, not hang the tier.
    let mut argv = vec!["timeout", "-s", "KILL", "20", exe.to_str().unwrap()];
    argv.extend(args);
    let out = lab.exec(ns, &argv);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "native on {iface} ran: {err}");
    err
}

/// The mode the daemon reports for its eth0 attachment, and its fallback count.
fn daemon_mode(node: &Host) -> (String, u64) {
    let stats = in_netns(&node.ns, || havip::stats::collect().expect("havip stats"));
    let d = stats.daemon.expect("a daemon");
    let a = d.xdp.iter().find(|a| a.iface == "eth0").expect("eth0");
    (a.mode.to_string(), a.fallbacks_to_skb)
}

#[test]
fn explicit_native_on_a_plain_veth_is_refused_with_the_fix() {
    let mut lab = Lab::new("mode-refuse");
    let node = lab.host("n1", "10.99.0.11/24");
    let err = refused_native(&lab, &node.ns, "eth0");
    assert!(
        err.contains("--xdp-mode native on eth0")
            && err.contains("peer runs no XDP program")
            && err.contains("--xdp-mode skb or auto"),
        "the reason or the fix is missing: {err}"
    );
    assert_eq!(lab.xdp_on(&node), None, "XDP left attached");
    assert!(!lab.has_addr(&node, VIP), "VIP left on the interface");
}

#[test]
fn native_falls_back_to_skb_when_the_peer_loses_its_xdp_program() {
    let mut lab = Lab::new("mode-fallback");
    let node = lab.host("n1", "10.99.0.11/24");
    let client = lab.host("c", "10.99.0.50/24");
    // This test is about native mode with an XDP peer: the one place a lab loads one.
    lab.pass_on_port(&node);
    start(&mut lab, &node, "auto");
    assert_eq!(daemon_mode(&node), ("native".to_string(), 0));
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!((r.sent, r.received), (5, 5), "native answers: {r:?}");

    // The peer's program goes (another agent, a restarted lab): native XDP_TX now goes nowhere.
    lab.remove_pass_programs();
    let gone = Instant::now();
    wait_until("the fallback to skb mode", Duration::from_secs(3), || {
        daemon_mode(&node).0 == "skb"
    });
    let took = gone.elapsed();
    println!(
        "native -> skb fallback {} ms after the peer's program went",
        took.as_millis()
    );
    assert_eq!(daemon_mode(&node), ("skb".to_string(), 1));
    lab.proc("havip")
        .wait_log("native mode can no longer transmit", Duration::from_secs(1));
    let r = lab.arping(&client, VIP, 10, 0.02);
    assert_eq!((r.sent, r.received), (10, 10), "skb answers: {r:?}");
    let attached = lab.xdp_on(&node).expect("still attached");
    assert!(attached.contains("havip_xdp"), "{attached}");
    assert!(
        lab.ip(&node.ns, "link show dev eth0")
            .contains("xdpgeneric"),
        "not in generic mode"
    );
}

/// A node whose LAN interface is `bond0` (active-backup) over two veths on the lab's bridge.
fn bonded_node(lab: &mut Lab) -> String {
    let lan = lab.lan();
    let ns = lab.add_ns("nb");
    lab.ip(
        &ns,
        "link add bond0 type bond mode active-backup miimon 100",
    );
    for (slave, port) in [("eth0", "p-nb0"), ("eth1", "p-nb1")] {
        lab.ip(
            &ns,
            &format!("link add {slave} type veth peer name {port} netns {lan}"),
        );
        lab.ip(&lan, &format!("link set {port} master br0 up"));
        lab.ip(&ns, &format!("link set {slave} master bond0"));
    }
    lab.ip(&ns, "addr add 10.99.0.11/24 dev bond0");
    lab.ip(&ns, "link set bond0 up");
    ns
}

#[test]
fn a_bond_over_plain_veths_takes_skb_mode_and_answers() {
    let mut lab = Lab::new("mode-bond");
    // Kernel gate: the lab machines' kernel is built without CONFIG_BONDING (and without
    // 802.1Q VLANs); where the driver exists, this runs.
    if !lab.kernel_has("bond", "type bond") {
        return;
    }
    let ns = bonded_node(&mut lab);
    let client = lab.host("c", "10.99.0.50/24");
    // Native on the bond would transmit through veths whose peers run no XDP program.
    let err = refused_native(&lab, &ns, "bond0");
    assert!(
        err.contains("a bond that transmits XDP_TX through eth") && err.contains("peer"),
        "the reason is missing: {err}"
    );
    let link = lab.ip(&ns, "link show dev bond0");
    assert!(!link.contains("xdp"), "XDP left attached: {link}");

    lab.havip_in(
        Launcher::NsenterNet,
        "havip",
        &ns,
        &["run", "--iface", "bond0", "--vip", "10.99.0.100/24"],
    )
    .wait_owned(Duration::from_secs(10));
    let stats = in_netns(&ns, || havip::stats::collect().expect("havip stats"));
    let d = stats.daemon.expect("a daemon");
    assert_eq!(d.xdp.len(), 1, "{:?}", d.xdp);
    assert_eq!(
        (d.xdp[0].iface.as_str(), d.xdp[0].mode.as_str()),
        ("bond0", "skb")
    );
    let r = lab.arping(&client, VIP, 10, 0.02);
    assert_eq!(
        (r.sent, r.received),
        (10, 10),
        "the bond's VIP answers: {r:?}"
    );
}
