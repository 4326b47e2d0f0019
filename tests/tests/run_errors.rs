//! `havip run` refuses bad input and missing privileges with an error that names the problem
//! and the fix, and leaves nothing behind (no XDP program attached, no VIP).

use std::process::Command;

use havip_lab::lab::{havip_exe, Lab};

/// Runs havip in `ns` (through the lab) and returns (success, stderr).
fn run_in(lab: &Lab, ns: &str, args: &[&str]) -> (bool, String) {
    let exe = havip_exe();
    let mut argv = vec![exe.to_str().unwrap()];
    argv.extend_from_slice(args);
    let out = lab.exec(ns, &argv);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Found in review: an interface whose only address is the VIP (a priority-255 owner's, or a VIP
/// copied from the node's own address). With no address of its own the instance would wait in
/// FAULT, and the start-up's removal of VIPs found on the interface would have removed the
/// host's address. Refused, and the address stays.
#[test]
fn an_interface_whose_only_address_is_the_vip_is_refused_and_kept() {
    let mut lab = Lab::new("err-viponly");
    let n = lab.host("n1", "10.99.0.100/24");
    let (ok, err) = run_in(
        &lab,
        &n.ns,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--vrid",
            "51",
            "--priority",
            "100",
            "--xdp-mode",
            "skb",
        ],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("only IPv4 address of interface eth0 is VIP 10.99.0.100"),
        "{err}"
    );
    let addrs = lab.ip(&n.ns, "-br addr show dev eth0");
    assert!(
        addrs.contains("10.99.0.100/24"),
        "the host's address went: {addrs}"
    );
    let links = lab.ip(&n.ns, "link show");
    assert!(!links.contains("xdp"), "XDP left attached: {links}");
}

#[test]
fn bad_address_is_named() {
    let mut lab = Lab::new("err-addr");
    let ns = lab.add_ns("n");
    let (ok, err) = run_in(
        &lab,
        &ns,
        &["run", "--iface", "lo", "--vip", "10.0.0.300/24"],
    );
    assert!(!ok);
    assert!(
        err.contains("\"10.0.0.300\" is not an IPv4 address"),
        "{err}"
    );
    assert!(err.contains("e.g. 10.0.0.100/24"), "{err}");
}

#[test]
fn refused_native_attach_names_the_mode_and_rolls_back() {
    let mut lab = Lab::new("err-native");
    let ns = lab.add_ns("n");
    // Loopback has no native XDP support.
    let (ok, err) = run_in(
        &lab,
        &ns,
        &[
            "run",
            "--iface",
            "lo",
            "--vip",
            "10.0.0.1/8",
            "--xdp-mode",
            "native",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("could not attach XDP to lo (native mode"),
        "{err}"
    );
    assert!(err.contains("--xdp-mode skb"), "the fix is missing: {err}");
    let link = lab.ip(&ns, "link show dev lo");
    assert!(!link.contains("xdp"), "XDP left attached: {link}");
    let addrs = lab.ip(&ns, "addr show dev lo");
    assert!(!addrs.contains("10.0.0.1/"), "VIP left: {addrs}");
}

#[test]
fn missing_privileges_are_named_with_the_fix() {
    let mut lab = Lab::new("err-priv");
    let ns = lab.add_ns("n");
    let exe = havip_exe();
    let out = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&exe)
        .args(["run", "--iface", "lo", "--vip", "10.0.0.1/8"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("needs root or the capabilities CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(
        err.contains("sudo") && err.contains("setcap"),
        "the fix is missing: {err}"
    );
}

#[test]
fn second_daemon_in_one_namespace_is_refused() {
    let mut lab = Lab::new("err-twice");
    let node = lab.host("n1", "10.99.0.11/24");
    lab.havip(
        "first",
        &node,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--xdp-mode",
            "skb",
        ],
    )
    .wait_owned(std::time::Duration::from_secs(10));
    let (ok, err) = run_in(
        &lab,
        &node.ns,
        &["run", "--iface", "eth0", "--vip", "10.99.0.101/24"],
    );
    assert!(!ok);
    assert!(err.contains("another havip (pid"), "{err}");
    assert!(
        lab.has_addr(&node, "10.99.0.100"),
        "the second run disturbed the first"
    );
}
