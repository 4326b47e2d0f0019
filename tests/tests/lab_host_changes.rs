//! The host changing under havip: another agent deletes the VIP, flushes the interface's
//! addresses, changes its MAC, deletes and re-creates it, renames it; and VIPs on a VLAN and on
//! a bond. Two havip nodes (VRRPv3, 100 ms adverts, skb mode) and a client pinging the VIP every
//! 10 ms: the client's outage must end within one advert interval plus 100 ms where havip
//! repairs the host, or within one Master_Down_Interval where the answer is FAULT and the backup
//! takes over. Each test prints its measured outage (`RESULT ...`), and reads havip's own view
//! through `havip stats --json` in the node's namespace.

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use havip_lab::{
    lab::{havip_exe, wait_until, Host, Lab, Launcher},
    probe::{Ping, PingResult},
    scenario::{havip_args_on, Vrrp},
};
use serde_json::Value;

const VIP: &str = "10.99.0.100";
const ADVERT: Duration = Duration::from_millis(100);
const LONG: Duration = Duration::from_secs(10);
/// What the client may lose where havip repairs the host: one advert interval plus 100 ms.
const REPAIR_BOUND: Duration = Duration::from_millis(200);

/// Master_Down_Interval at 100 ms adverts (RFC 9568 §6.1).
fn mdi(priority: u32) -> Duration {
    ADVERT * 3 + ADVERT * (256 - priority) / 256
}

fn start(lab: &mut Lab, label: &str, host: &Host, priority: u8, vip: &str) {
    let args = havip_args_on(&host.iface, vip, Vrrp::v3("0.1"), priority, "skb");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.havip(label, host, &args).wait_started(LONG);
}

/// n1 (priority 101) master, n2 (100) backup, a client; the backup has heard a few adverts.
fn elected(test: &str) -> (Lab, Host, Host, Host) {
    let mut lab = Lab::new(test);
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n1", &n1, 101, "10.99.0.100/24");
    start(&mut lab, "n2", &n2, 100, "10.99.0.100/24");
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(mdi(100));
    lab.proc("n2").wait_state("BACKUP", LONG);
    (lab, n1, n2, client)
}

/// `havip stats --json`, run in `host`'s namespace as a user does (`ip netns exec`).
fn stats(lab: &Lab, host: &Host) -> Value {
    let exe = havip_exe();
    let out = lab.exec_with(
        Launcher::IpNetnsExec,
        &host.ns,
        &[exe.to_str().unwrap(), "stats", "--json"],
    );
    assert!(
        out.status.success(),
        "havip stats: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("havip stats --json is JSON")
}

/// The one instance's state, from `havip stats --json`.
fn state(lab: &Lab, host: &Host) -> String {
    stats(lab, host)["daemon"]["instances"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The daemon's interface entry (`daemon.interfaces[]`) for `name`.
fn iface_stats(s: &Value, name: &str) -> Value {
    s["daemon"]["interfaces"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == name).cloned())
        .unwrap_or_else(|| panic!("no interface {name} in havip stats: {s:#}"))
}

/// One host-change counter of interface `name`.
fn change(s: &Value, name: &str, counter: &str) -> u64 {
    iface_stats(s, name)["changes"][counter]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {counter}: {s:#}"))
}

/// The longest time the client went without a reply from `from` to `end`, counting `end` as a
/// reply: what the client lost, also when it never recovered.
fn outage(r: &PingResult, from: Instant, end: Instant) -> Duration {
    let mut times: Vec<Instant> = r.replies.clone();
    times.push(end);
    let before = times.iter().rev().find(|t| **t <= from).copied();
    let mut last = before.unwrap_or(from);
    let mut worst = Duration::ZERO;
    for t in times.into_iter().filter(|t| *t > from) {
        worst = worst.max(t - last);
        last = t;
    }
    worst
}

/// Pings the VIP from the client, runs `change` on the host, keeps pinging for `window`, and
/// returns the client's outage.
fn ping_through(client: &Host, window: Duration, change: impl FnOnce()) -> Duration {
    let ping = Ping::start(&client.ns, VIP, Duration::from_millis(10));
    sleep(Duration::from_millis(300));
    let at = Instant::now();
    change();
    sleep(window);
    let end = Instant::now();
    let r = ping.stop();
    outage(&r, at, end)
}

fn has_addr(lab: &Lab, host: &Host, dev: &str, ip: &str) -> bool {
    lab.ip(&host.ns, &format!("-br addr show dev {dev}"))
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(ip))
}

fn mac_of(lab: &Lab, ns: &str, dev: &str) -> String {
    lab.ip(ns, &format!("-br link show dev {dev}"))
        .split_whitespace()
        .nth(2)
        .expect("MAC in `ip -br link`")
        .to_string()
}

/// A directory for config files, removed on drop. Not the lab's own directory (`hv-<test>-<pid>`),
/// whose logs a failing test prints.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("hv-conf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn vip_deleted_by_another_agent_is_readded_at_once() {
    let (lab, n1, n2, client) = elected("hc-vipdel");
    let lost = ping_through(&client, Duration::from_millis(1000), || {
        lab.ip(&n1.ns, "addr del 10.99.0.100/24 dev eth0");
    });
    eprintln!("RESULT vip-deleted: client outage {lost:?} (bound {REPAIR_BOUND:?})");
    assert!(has_addr(&lab, &n1, "eth0", VIP), "the VIP was not re-added");
    assert_eq!(state(&lab, &n1), "MASTER");
    assert_eq!(state(&lab, &n2), "BACKUP");
    assert!(lost <= REPAIR_BOUND, "client outage {lost:?}");
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "vip_readded"), 1, "{s:#}");
    // Our own removals are not someone else's: a graceful stop removes the VIP, no re-add.
    assert_eq!(change(&s, "eth0", "vip_readd_failed"), 0);
}

/// An agent that keeps removing the VIP (a network manager reconciling its own config) is not
/// fought forever: at the fifth removal within 10 s the master gives up, FAULT, and the backup
/// takes over.
#[test]
fn vip_removed_again_and_again_faults_so_the_backup_takes_over() {
    let (mut lab, n1, n2, client) = elected("hc-vipfight");
    for _ in 0..4 {
        lab.ip(&n1.ns, "addr del 10.99.0.100/24 dev eth0");
        wait_until("the VIP back on n1", REPAIR_BOUND, || {
            has_addr(&lab, &n1, "eth0", VIP)
        });
    }
    assert_eq!(state(&lab, &n1), "MASTER");
    let lost = ping_through(&client, Duration::from_millis(800), || {
        lab.ip(&n1.ns, "addr del 10.99.0.100/24 dev eth0");
    });
    let bound = mdi(100) + Duration::from_millis(100);
    eprintln!("RESULT vip-fight: client outage {lost:?} after the fifth removal (bound {bound:?})");
    lab.proc("n2").wait_state("MASTER", LONG);
    assert!(
        has_addr(&lab, &n2, "eth0", VIP),
        "n2 took over without the VIP"
    );
    let s = stats(&lab, &n1);
    let inst = &s["daemon"]["instances"][0];
    assert_eq!(inst["state"], "FAULT", "{s:#}");
    assert!(
        inst["host_fault"]
            .as_str()
            .is_some_and(|w| w.contains("keeps removing")),
        "{s:#}"
    );
    assert_eq!(change(&s, "eth0", "vip_readded"), 5, "{s:#}");
    assert!(
        !has_addr(&lab, &n1, "eth0", VIP),
        "n1 holds the VIP in FAULT"
    );
    assert!(lost <= bound, "client outage {lost:?} > {bound:?}");
    // The operator's link flap (or a reload) is a new start: n1 takes the VIP back.
    lab.ip(&n1.ns, "link set eth0 down");
    lab.ip(&n1.ns, "link set eth0 up");
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
}

#[test]
fn ipv6_vip_deleted_by_another_agent_is_readded_at_once() {
    let mut lab = Lab::new("hc-vipdel6");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    lab.ip(&client.ns, "-6 addr add fd00:99::50/64 dev eth0 nodad");
    // The command line takes IPv4 VIPs only: a keepalived.conf for the IPv6 one.
    let dir = TempDir::new("hc-vipdel6");
    for (label, host, prio) in [("n1", &n1, 101), ("n2", &n2, 100)] {
        let conf = dir.0.join(format!("{label}.conf"));
        std::fs::write(
            &conf,
            format!(
                "vrrp_instance VI_6 {{\n    state BACKUP\n    interface eth0\n    \
                 virtual_router_id 52\n    priority {prio}\n    advert_int 0.1\n    \
                 virtual_ipaddress {{\n        fd00:99::100/64\n    }}\n}}\n"
            ),
        )
        .unwrap();
        let args = [
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--xdp-mode",
            "skb",
        ];
        lab.havip(label, host, &args).wait_started(LONG);
    }
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(mdi(100));
    assert_eq!(state(&lab, &n2), "BACKUP");
    let vip6 = "fd00:99::100";
    assert!(has_addr(&lab, &n1, "eth0", vip6));
    let at = Instant::now();
    lab.ip(&n1.ns, "-6 addr del fd00:99::100/64 dev eth0");
    wait_until("the IPv6 VIP back on n1", REPAIR_BOUND, || {
        has_addr(&lab, &n1, "eth0", vip6)
    });
    let back = at.elapsed();
    let out = lab.exec(&client.ns, &["ping", "-6", "-c", "1", "-W", "1", vip6]);
    eprintln!("RESULT vip6-deleted: VIP back on n1 after {back:?}");
    assert!(out.status.success(), "the client cannot reach the IPv6 VIP");
    assert_eq!(state(&lab, &n1), "MASTER");
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "vip_readded"), 1, "{s:#}");
}

#[test]
fn address_flush_faults_until_the_address_returns() {
    let (mut lab, n1, n2, client) = elected("hc-flush");
    let lost = ping_through(&client, Duration::from_millis(800), || {
        lab.ip(&n1.ns, "addr flush dev eth0");
    });
    let bound = mdi(100) + Duration::from_millis(100);
    eprintln!(
        "RESULT flush: client outage {lost:?} (Master_Down_Interval {:?})",
        mdi(100)
    );
    assert_eq!(state(&lab, &n2), "MASTER", "the backup did not take over");
    assert_eq!(state(&lab, &n1), "FAULT");
    assert!(
        !has_addr(&lab, &n1, "eth0", VIP),
        "n1 holds the VIP in FAULT"
    );
    assert!(lost <= bound, "client outage {lost:?} > {bound:?}");
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "source_lost"), 1, "{s:#}");

    // The address returns: n1 leaves FAULT and, with the higher priority, takes the VIP back.
    let back = ping_through(&client, Duration::from_millis(1500), || {
        lab.ip(&n1.ns, "addr add 10.99.0.11/24 dev eth0");
    });
    eprintln!("RESULT flush-return: client outage {back:?} while n1 took the VIP back");
    lab.proc("n1").wait_state("MASTER", LONG);
    assert_eq!(state(&lab, &n2), "BACKUP");
    assert!(has_addr(&lab, &n1, "eth0", VIP));
    assert!(
        back <= REPAIR_BOUND,
        "client outage {back:?} on the way back"
    );
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "source_returned"), 1, "{s:#}");
    // n2 removed the VIP itself when it yielded: its own removal, not someone else's.
    let s = stats(&lab, &n2);
    assert_eq!(change(&s, "eth0", "vip_readded"), 0, "{s:#}");
    assert!(!has_addr(&lab, &n2, "eth0", VIP));
}

/// The master is renumbered (its own address flushed, another one added): its adverts must go
/// from the new address. The socket was opened with the old one as its multicast source, so
/// adverts that relied on it were refused by the kernel: the master went silent and the backup
/// stayed MASTER too, two masters.
#[test]
fn renumbered_master_adverts_from_its_new_address() {
    let (mut lab, n1, n2, client) = elected("hc-renum");
    lab.ip(&n1.ns, "addr flush dev eth0");
    lab.proc("n2").wait_state("MASTER", LONG);
    lab.ip(&n1.ns, "addr add 10.99.0.21/24 dev eth0");
    lab.proc("n1").wait_state("MASTER", LONG);
    // Long enough for the backup to time out twice over if n1's adverts did not reach it.
    sleep(mdi(100) * 3);
    assert_eq!(
        state(&lab, &n2),
        "BACKUP",
        "two masters after n1 was renumbered"
    );
    let s = stats(&lab, &n2);
    assert_eq!(
        s["daemon"]["instances"][0]["master"], "10.99.0.21",
        "n2 does not hear n1 from its new address: {s:#}"
    );
    assert!(!has_addr(&lab, &n2, "eth0", VIP), "n2 still holds the VIP");
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(
        r.macs.iter().collect::<Vec<_>>(),
        vec![&n1.mac],
        "only n1 answers: {r:?}"
    );
}

#[test]
fn mac_change_is_followed_by_xdp_and_announced() {
    let (lab, n1, _n2, client) = elected("hc-mac");
    let new_mac = "02:00:5e:10:00:11";
    let lost = ping_through(&client, Duration::from_millis(1000), || {
        lab.ip(&n1.ns, &format!("link set dev eth0 address {new_mac}"));
    });
    eprintln!("RESULT mac-change: client outage {lost:?} (bound {REPAIR_BOUND:?})");
    assert!(
        lab.ip(&client.ns, &format!("neigh show {VIP}"))
            .contains(new_mac),
        "the client did not learn the new MAC"
    );
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.received, 5, "{r:?}");
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![new_mac], "{r:?}");
    assert!(lost <= REPAIR_BOUND, "client outage {lost:?}");
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "mac_changed"), 1, "{s:#}");
    assert_eq!(iface_stats(&s, "eth0")["mac"], new_mac);
}

#[test]
fn interface_deleted_faults_then_reattaches_when_it_returns() {
    deleted_then_recreated(false);
}

/// As above, with havip stopped (SIGSTOP) while the interface is re-created, addressed and
/// brought up: it reads the finished interface at once, with its events queued behind.
#[test]
fn interface_recreated_while_havip_was_not_looking_is_reattached() {
    deleted_then_recreated(true);
}

fn deleted_then_recreated(frozen: bool) {
    let (mut lab, n1, n2, client) = elected(if frozen {
        "hc-recreate-frozen"
    } else {
        "hc-recreate"
    });
    let old_index = lab.ip(&n1.ns, "-o link show dev eth0");
    let lost = ping_through(&client, Duration::from_millis(800), || {
        lab.ip(&n1.ns, "link del eth0");
    });
    let bound = mdi(100) + Duration::from_millis(100);
    eprintln!(
        "RESULT iface-deleted: client outage {lost:?} (Master_Down_Interval {:?})",
        mdi(100)
    );
    assert_eq!(state(&lab, &n2), "MASTER", "the backup did not take over");
    assert_eq!(state(&lab, &n1), "FAULT");
    assert!(lost <= bound, "client outage {lost:?} > {bound:?}");

    // The same name comes back: a new ifindex and a new MAC.
    let lan = lab.lan();
    let pid = lab.proc("n1").pid() as i32;
    let back = ping_through(&client, Duration::from_millis(1500), || {
        if frozen {
            // SAFETY: kill(2) on the havip this lab started.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
        lab.ip(
            &n1.ns,
            &format!("link add eth0 type veth peer name {} netns {lan}", n1.port),
        );
        lab.ip(&lan, &format!("link set {} master br0 up", n1.port));
        lab.ip(&n1.ns, "addr add 10.99.0.11/24 dev eth0");
        lab.ip(&n1.ns, "link set eth0 up");
        if frozen {
            sleep(Duration::from_millis(100));
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    });
    eprintln!("RESULT iface-recreated: client outage {back:?} while n1 took the VIP back");
    lab.proc("n1").wait_state("MASTER", LONG);
    assert_eq!(state(&lab, &n2), "BACKUP");
    let new_index = lab.ip(&n1.ns, "-o link show dev eth0");
    assert_ne!(
        old_index.split(':').next(),
        new_index.split(':').next(),
        "the re-created interface should have a new index"
    );
    let xdp = lab.ip(&n1.ns, "link show dev eth0");
    assert!(xdp.contains("prog/xdp"), "XDP not re-attached: {xdp}");
    let new_mac = mac_of(&lab, &n1.ns, "eth0");
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.received, 5, "{r:?}");
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&new_mac], "{r:?}");
    assert!(
        back <= REPAIR_BOUND,
        "client outage {back:?} on the way back"
    );
    let s = stats(&lab, &n1);
    assert_eq!(change(&s, "eth0", "deleted"), 1, "{s:#}");
    assert_eq!(change(&s, "eth0", "reattached"), 1, "{s:#}");
    // Its addresses went with it (no "lost" reported) and came back with the new one.
    assert_eq!(change(&s, "eth0", "source_lost"), 0, "{s:#}");
    assert_eq!(change(&s, "eth0", "source_returned"), 1, "{s:#}");
    let xdp_vips = s["xdp"]["vips"].as_array().expect("xdp vips");
    assert_eq!(xdp_vips.len(), 1, "the old ifindex's entry is left: {s:#}");
    assert_eq!(xdp_vips[0]["iface"], "eth0");
    assert_eq!(xdp_vips[0]["owned"], true);

    // A graceful stop still cleans up the new attachment.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    let after = lab.ip(&n1.ns, "link show dev eth0");
    assert!(!after.contains("prog/xdp"), "XDP left attached: {after}");
    assert!(!has_addr(&lab, &n1, "eth0", VIP));
}

/// The interface does not exist when havip starts (a bond, VLAN or veth created later at
/// boot): havip runs, the instance waits in FAULT with XDP attached nowhere, and leaves an
/// elected master alone; the interface appears with no address (XDP attached, still FAULT),
/// then gets one: havip takes the VIP (higher priority, preempt) and answers ARP for it.
/// Started with `ip netns exec`, as a user does. keepalived drops such an instance unless
/// `dynamic_interfaces` is set; havip exited 1 here before.
#[test]
fn interface_absent_at_start_is_attached_when_it_appears() {
    let mut lab = Lab::new("hc-absent");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n2", &n2, 100, "10.99.0.100/24");
    lab.proc("n2").wait_state("MASTER", LONG);
    lab.ip(&n1.ns, "link del eth0");
    let args = havip_args_on("eth0", "10.99.0.100/24", Vrrp::v3("0.1"), 101, "skb");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.havip_with(Launcher::IpNetnsExec, "n1", &n1, &args)
        .wait_started(LONG);
    let s = stats(&lab, &n1);
    let inst = &s["daemon"]["instances"][0];
    assert_eq!(inst["state"], "FAULT", "{s:#}");
    let why = inst["host_fault"].as_str().unwrap_or_default();
    assert!(why.contains("eth0 does not exist"), "{s:#}");
    assert!(
        lab.proc("n1")
            .log_text()
            .contains("no interface of that name"),
        "the log says why"
    );
    let links = lab.ip(&n1.ns, "link show");
    assert!(!links.contains("xdp"), "XDP attached somewhere: {links}");
    sleep(mdi(100));
    assert_eq!(
        state(&lab, &n2),
        "MASTER",
        "the waiting node disturbed the master"
    );

    // The interface appears, up but with no address yet: attached, still in FAULT.
    let lan = lab.lan();
    lab.ip(
        &n1.ns,
        &format!("link add eth0 type veth peer name {} netns {lan}", n1.port),
    );
    lab.ip(&lan, &format!("link set {} master br0 up", n1.port));
    lab.ip(&n1.ns, "link set eth0 up");
    wait_until("XDP attached to the new eth0", LONG, || {
        lab.ip(&n1.ns, "link show dev eth0").contains("prog/xdp")
    });
    let s = stats(&lab, &n1);
    let inst = &s["daemon"]["instances"][0];
    assert_eq!(inst["state"], "FAULT", "{s:#}");
    let why = inst["host_fault"].as_str().unwrap_or_default();
    assert!(why.contains("no IPv4 address"), "{s:#}");
    assert_eq!(state(&lab, &n2), "MASTER");

    // Its address arrives: n1 (101) preempts n2 (100) and answers for the VIP.
    lab.ip(&n1.ns, "addr add 10.99.0.11/24 dev eth0");
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(mdi(100));
    assert_eq!(state(&lab, &n2), "BACKUP");
    let mac = mac_of(&lab, &n1.ns, "eth0");
    let r = lab.arping(&client, VIP, 5, 0.02);
    assert_eq!(r.received, 5, "{r:?}");
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&mac], "{r:?}");
    let s = stats(&lab, &n1);
    assert_eq!(
        change(&s, "eth0", "reattached"),
        0,
        "a first attachment: {s:#}"
    );
    let xdp_vips = s["xdp"]["vips"].as_array().expect("xdp vips");
    assert_eq!(xdp_vips.len(), 1, "a placeholder entry is left: {s:#}");

    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    let after = lab.ip(&n1.ns, "link show dev eth0");
    assert!(!after.contains("prog/xdp"), "XDP left attached: {after}");
    assert!(!has_addr(&lab, &n1, "eth0", VIP));
}

/// Found in review: a `track_interface` that does not exist at start was counted as down for
/// good, so a weight-0 track held the instance in FAULT even after the interface appeared.
#[test]
fn a_tracked_interface_absent_at_start_is_followed_when_it_appears() {
    let mut lab = Lab::new("hc-track-absent");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = TempDir::new("track-absent");
    let conf = dir.0.join("n1.conf");
    std::fs::write(
        &conf,
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
         advert_int 0.1\n  version 3\n  track_interface {\n    up0\n  }\n  \
         virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n",
    )
    .unwrap();
    lab.havip(
        "n1",
        &n1,
        &[
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--xdp-mode",
            "skb",
        ],
    )
    .wait_started(LONG);
    assert_eq!(state(&lab, &n1), "FAULT", "up0 is absent: down");
    // (This kernel has no dummy interfaces: a veth pair, both ends up for its carrier.)
    lab.ip(&n1.ns, "link add up0 type veth peer name up0p");
    lab.ip(&n1.ns, "link set up0p up");
    lab.ip(&n1.ns, "link set up0 up");
    lab.proc("n1").wait_state("MASTER", LONG);
}

#[test]
fn renamed_interface_is_followed_by_index() {
    let (mut lab, n1, n2, client) = elected("hc-rename");
    // Linux renames an up interface since 6.x; older kernels want it down (EBUSY), and then
    // the link going down is what moves the VIP (FAULT, the backup takes over, n1 preempts).
    let mut live = true;
    let lost = ping_through(&client, Duration::from_millis(1500), || {
        let out = lab.exec(&n1.ns, &["ip", "link", "set", "eth0", "name", "lan0"]);
        if !out.status.success() {
            live = false;
            lab.ip(&n1.ns, "link set eth0 down");
            lab.ip(&n1.ns, "link set eth0 name lan0");
            lab.ip(&n1.ns, "link set lan0 up");
        }
    });
    let bound = if live {
        REPAIR_BOUND
    } else {
        mdi(100) + Duration::from_millis(100)
    };
    eprintln!("RESULT rename (live: {live}): client outage {lost:?} (bound {bound:?})");
    lab.proc("n1").wait_state("MASTER", LONG);
    assert_eq!(state(&lab, &n2), "BACKUP");
    assert!(has_addr(&lab, &n1, "lan0", VIP));
    assert!(lost <= bound, "client outage {lost:?}");
    let s = stats(&lab, &n1);
    assert_eq!(s["daemon"]["instances"][0]["iface"], "lan0", "{s:#}");
    assert_eq!(change(&s, "lan0", "renamed"), 1, "{s:#}");
    // The client still reaches the VIP on n1.
    let r = lab.arping(&client, VIP, 3, 0.02);
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n1.mac], "{r:?}");
    // And a graceful stop cleans up under the new name.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    assert!(!lab.ip(&n1.ns, "link show dev lan0").contains("prog/xdp"));
    assert!(!has_addr(&lab, &n1, "lan0", VIP));
}

/// Two nodes and a client on VLAN 100 over their veths: XDP (skb mode) on `eth0.100` answers
/// ARP for the VIP with the VLAN device's MAC, and failover works.
/// keepalived's `track_interface` names an interface: deleted, it faults the instance;
/// re-created under that name (a new index), it is followed again.
#[test]
fn tracked_interface_recreated_is_followed_by_name() {
    let mut lab = Lab::new("hc-track");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let _client = lab.host("c", "10.99.0.50/24");
    let uplink = |lab: &Lab| {
        lab.ip(&n1.ns, "link add eth1 type veth peer name eth1p");
        lab.ip(&n1.ns, "link set eth1p up");
        lab.ip(&n1.ns, "link set eth1 up");
    };
    uplink(&lab);
    let dir = TempDir::new("hc-track");
    let conf = dir.0.join("n1.conf");
    std::fs::write(
        &conf,
        "global_defs {\n    vrrp_version 3\n}\nvrrp_instance VI_1 {\n    state BACKUP\n    \
         interface eth0\n    virtual_router_id 51\n    priority 101\n    advert_int 0.1\n    \
         track_interface {\n        eth1\n    }\n    virtual_ipaddress {\n        \
         10.99.0.100/24\n    }\n}\n",
    )
    .unwrap();
    let args = [
        "run",
        "--config",
        conf.to_str().unwrap(),
        "--xdp-mode",
        "skb",
    ];
    lab.havip("n1", &n1, &args).wait_started(LONG);
    start(&mut lab, "n2", &n2, 100, "10.99.0.100/24");
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.ip(&n1.ns, "link del eth1");
    lab.proc("n1").wait_state("FAULT", LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    uplink(&lab);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    assert!(has_addr(&lab, &n1, "eth0", VIP));
}

#[test]
fn vip_on_an_8021q_vlan_interface() {
    let mut lab = Lab::new("hc-vlan");
    if !lab.kernel_has("vlan", "type vlan id 100") {
        return;
    }
    let mut hosts = Vec::new();
    for (short, ip) in [("n1", "11"), ("n2", "12"), ("c", "50")] {
        let mut h = lab.host(short, &format!("10.99.0.{ip}/24"));
        lab.ip(&h.ns, "link add link eth0 name eth0.100 type vlan id 100");
        lab.ip(&h.ns, &format!("addr add 10.99.100.{ip}/24 dev eth0.100"));
        lab.ip(&h.ns, "link set eth0.100 up");
        h.iface = "eth0.100".into();
        h.ip = format!("10.99.100.{ip}");
        h.mac = mac_of(&lab, &h.ns, "eth0.100");
        hosts.push(h);
    }
    let (n1, n2, client) = (hosts[0].clone(), hosts[1].clone(), hosts[2].clone());
    start(&mut lab, "n1", &n1, 101, "10.99.100.100/24");
    start(&mut lab, "n2", &n2, 100, "10.99.100.100/24");
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(mdi(100));
    assert_eq!(state(&lab, &n2), "BACKUP");
    let r = lab.arping(&client, "10.99.100.100", 10, 0.02);
    assert_eq!((r.sent, r.received), (10, 10), "{r:?}");
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n1.mac], "{r:?}");
    let s = stats(&lab, &n1);
    let v = &s["xdp"]["vips"][0];
    assert_eq!(v["iface"], "eth0.100", "{s:#}");
    assert!(
        v["arp_replies"].as_u64().unwrap() >= 10,
        "answered by XDP: {s:#}"
    );
    // Failover on the VLAN: the master stops, the backup answers.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    lab.proc("n2").wait_state("MASTER", LONG);
    let r = lab.arping(&client, "10.99.100.100", 3, 0.02);
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n2.mac], "{r:?}");
    eprintln!("RESULT vlan: ARP answered 10/10 by XDP on eth0.100, failover to n2");
}

/// n1 on an active-backup bond of two veths into the same bridge, n2 on a plain veth: XDP
/// (skb mode) on `bond0` answers for the VIP, and the client's pings survive the bond's
/// active slave failing.
#[test]
fn vip_on_a_bond() {
    let mut lab = Lab::new("hc-bond");
    if !lab.kernel_has("bond", "type bond") {
        return;
    }
    let lan = lab.lan();
    let ns = lab.add_ns("n1");
    lab.ip(&ns, "link add bond0 type bond mode active-backup miimon 10");
    for (dev, port) in [("eth0", "p-n1a"), ("eth1", "p-n1b")] {
        lab.ip(
            &ns,
            &format!("link add {dev} type veth peer name {port} netns {lan}"),
        );
        lab.ip(&lan, &format!("link set {port} master br0 up"));
        lab.ip(&ns, &format!("link set {dev} master bond0"));
        lab.ip(&ns, &format!("link set {dev} up"));
    }
    lab.ip(&ns, "addr add 10.99.0.11/24 dev bond0");
    lab.ip(&ns, "link set bond0 up");
    let n1 = Host {
        ns: ns.clone(),
        iface: "bond0".into(),
        port: "p-n1a".into(),
        ip: "10.99.0.11".into(),
        mac: mac_of(&lab, &ns, "bond0"),
    };
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "n1", &n1, 101, "10.99.0.100/24");
    start(&mut lab, "n2", &n2, 100, "10.99.0.100/24");
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(mdi(100));
    assert_eq!(state(&lab, &n2), "BACKUP");
    let r = lab.arping(&client, VIP, 10, 0.02);
    assert_eq!((r.sent, r.received), (10, 10), "{r:?}");
    assert_eq!(r.macs.iter().collect::<Vec<_>>(), vec![&n1.mac], "{r:?}");
    let s = stats(&lab, &n1);
    assert_eq!(s["xdp"]["vips"][0]["iface"], "bond0", "{s:#}");
    assert!(s["xdp"]["vips"][0]["arp_replies"].as_u64().unwrap() >= 10);
    // The active slave's bridge port fails: the bond moves to eth1 and the VIP stays on n1.
    let lost = ping_through(&client, Duration::from_millis(1000), || {
        lab.ip(&lan, "link set p-n1a down");
    });
    eprintln!("RESULT bond-slave-failover: client outage {lost:?}");
    assert_eq!(state(&lab, &n1), "MASTER");
    assert_eq!(state(&lab, &n2), "BACKUP");
    assert!(lost <= REPAIR_BOUND, "client outage {lost:?}");
    let bond = lab.exec(&n1.ns, &["cat", "/proc/net/bonding/bond0"]);
    let bond = String::from_utf8_lossy(&bond.stdout);
    assert!(
        bond.contains("Currently Active Slave: eth1"),
        "the bond did not fail over: {bond}"
    );
}
