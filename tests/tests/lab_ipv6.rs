//! VRRPv3 over IPv6 (the vectors' VI_6 instance): election and failover between havip nodes,
//! the fail-safe for an IPv6 VIP after `kill -9` (neighbour solicitations dropped in XDP), and
//! interop with keepalived.

use std::{fs, path::PathBuf, thread::sleep, time::Duration};

use havip_lab::lab::{Host, Lab};

const LONG: Duration = Duration::from_secs(15);
const VIP6: &str = "fd00:99::100";

fn conf(state: &str, priority: u8) -> String {
    format!(
        "vrrp_instance VI_6 {{\n    state {state}\n    interface eth0\n    virtual_router_id 52\n    \
         priority {priority}\n    advert_int 0.1\n    virtual_ipaddress {{\n        fd00:99::100/64\n    }}\n}}\n"
    )
}

fn node(lab: &mut Lab, short: &str, v4: &str, v6: &str) -> Host {
    let h = lab.host(short, v4);
    lab.ip(&h.ns, &format!("-6 addr add {v6}/64 dev eth0 nodad"));
    h
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hv-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// Who answers the client for the VIP now: ping it once (after forgetting what the client
/// knew) and read the client's neighbour entry.
fn responder(lab: &Lab, client: &Host) -> Option<String> {
    let _ = lab.ip(&client.ns, "-6 neigh flush all");
    let out = lab.exec(&client.ns, &["ping", "-6", "-c", "1", "-W", "1", VIP6]);
    if !out.status.success() {
        return None;
    }
    let neigh = lab.ip(&client.ns, &format!("-6 neigh show {VIP6}"));
    neigh
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
}

#[test]
fn ipv6_election_failover_and_kill_9_fail_safe() {
    let mut lab = Lab::new("ipv6");
    let n1 = node(&mut lab, "n1", "10.99.0.11/24", "fd00:99::11");
    let n2 = node(&mut lab, "n2", "10.99.0.12/24", "fd00:99::12");
    let client = node(&mut lab, "c", "10.99.0.50/24", "fd00:99::50");
    let dir = tempdir("ipv6");
    let (c1, c2) = (dir.join("n1.conf"), dir.join("n2.conf"));
    fs::write(&c1, conf("MASTER", 101)).unwrap();
    fs::write(&c2, conf("BACKUP", 100)).unwrap();
    lab.havip(
        "n1",
        &n1,
        &["run", "--config", c1.to_str().unwrap(), "--xdp-mode", "skb"],
    )
    .wait_started(LONG);
    lab.havip(
        "n2",
        &n2,
        &["run", "--config", c2.to_str().unwrap(), "--xdp-mode", "skb"],
    )
    .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(800));
    assert_eq!(
        lab.proc("n2").vrrp_state().as_deref(),
        Some("BACKUP"),
        "n2 hears n1's IPv6 adverts"
    );
    assert!(lab.has_addr(&n1, VIP6) && !lab.has_addr(&n2, VIP6));
    assert_eq!(responder(&lab, &client), Some(n1.mac.clone()));

    // kill -9 of the master: the VIP stays on n1's eth0, but its XDP program drops the
    // solicitations once the heartbeat is stale, and n2 takes over and answers.
    let p = lab.proc("n1");
    p.signal(libc::SIGKILL);
    p.wait_exit(LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(300));
    assert!(
        lab.has_addr(&n1, VIP6),
        "the crash left the VIP: the case to cover"
    );
    assert_eq!(
        responder(&lab, &client),
        Some(n2.mac.clone()),
        "only n2 answers"
    );
    let c = lab.vip6_stats(&n1, VIP6);
    assert!(
        c.dropped_stale_heartbeat >= 1,
        "n1's XDP dropped no solicitation: {c:?}"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn ipv6_interop_with_keepalived() {
    let mut lab = Lab::new("ipv6ka");
    let n1 = node(&mut lab, "n1", "10.99.0.11/24", "fd00:99::11");
    let n2 = node(&mut lab, "n2", "10.99.0.12/24", "fd00:99::12");
    let dir = tempdir("ipv6ka");
    let c1 = dir.join("n1.conf");
    fs::write(&c1, conf("MASTER", 101)).unwrap();
    lab.havip(
        "n1",
        &n1,
        &["run", "--config", c1.to_str().unwrap(), "--xdp-mode", "skb"],
    )
    .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.keepalived("ka", &n2, &conf("BACKUP", 100));
    lab.proc("ka").wait_keepalived_state("BACKUP", LONG);
    sleep(Duration::from_secs(1));
    assert_eq!(
        lab.proc("ka").keepalived_state().as_deref(),
        Some("BACKUP"),
        "keepalived took over"
    );
    // havip leaves (priority 0): keepalived takes over within its skew time.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    lab.proc("ka")
        .wait_keepalived_state("MASTER", Duration::from_secs(2));
    assert!(lab.has_addr(&n2, VIP6) && !lab.has_addr(&n1, VIP6));
    let _ = fs::remove_dir_all(&dir);
}

/// `use_vmac` on IPv6: the master answers neighbour solicitations for the VIP with
/// 00:00:5e:00:02:34 (from XDP; the kernel would give the interface's MAC), before and after a
/// failover, no advertisement for the VIP carries another MAC, and a client with a static
/// neighbour entry VIP → that MAC keeps reaching the VIP when the master is killed.
#[test]
fn ipv6_virtual_mac_answers_and_survives_a_failover() {
    const VMAC6: &str = "00:00:5e:00:02:34";
    let mut lab = Lab::new("ipv6-vmac");
    let n1 = node(&mut lab, "n1", "10.99.0.11/24", "fd00:99::11");
    let n2 = node(&mut lab, "n2", "10.99.0.12/24", "fd00:99::12");
    let client = node(&mut lab, "c", "10.99.0.50/24", "fd00:99::50");
    let fixed = node(&mut lab, "f", "10.99.0.51/24", "fd00:99::51");
    let dir = tempdir("ipv6-vmac");
    let (c1, c2) = (dir.join("n1.conf"), dir.join("n2.conf"));
    let with_vmac =
        |c: String| c.replace("    advert_int 0.1\n", "    advert_int 0.1\n    use_vmac\n");
    fs::write(&c1, with_vmac(conf("BACKUP", 150))).unwrap();
    fs::write(&c2, with_vmac(conf("BACKUP", 100))).unwrap();
    // Every neighbour advertisement the client receives, with its Ethernet source.
    lab.spawn(
        "na",
        &client.ns,
        &[
            "tcpdump",
            "-i",
            "eth0",
            "-e",
            "-nn",
            "-l",
            "icmp6 and ip6[40] == 136",
        ],
    )
    .wait_log("listening on", LONG);
    for (label, host, c) in [("n1", &n1, &c1), ("n2", &n2, &c2)] {
        lab.havip(
            label,
            host,
            &["run", "--config", c.to_str().unwrap(), "--xdp-mode", "skb"],
        )
        .wait_started(LONG);
    }
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    let answered = |lab: &mut Lab| {
        let before = lab.proc("na").log_text().lines().count();
        assert!(responder(lab, &client).is_some(), "the VIP does not answer");
        sleep(Duration::from_millis(300));
        let log = lab.proc("na").log_text();
        let nas: Vec<String> = log
            .lines()
            .skip(before)
            .filter(|l| l.contains(&format!("tgt is {VIP6}")))
            .map(str::to_string)
            .collect();
        assert!(!nas.is_empty(), "no advertisement for the VIP:\n{log}");
        for na in &nas {
            assert!(
                na.contains(&format!("{VMAC6} >")),
                "an advertisement for the VIP from another MAC: {na}"
            );
        }
    };
    answered(&mut lab);
    lab.ip(
        &fixed.ns,
        &format!("-6 neigh replace {VIP6} lladdr {VMAC6} dev eth0 nud permanent"),
    );
    let pings = |lab: &Lab| {
        lab.exec(
            &fixed.ns,
            &[
                "ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", "-n", "-q", VIP6,
            ],
        )
        .status
        .success()
    };
    assert!(pings(&lab), "the static client reaches the master");
    let p = lab.proc("n1");
    p.signal(libc::SIGKILL);
    p.wait_exit(LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    havip_lab::lab::wait_until("the static client reaches the new master", LONG, || {
        pings(&lab)
    });
    answered(&mut lab);
    let _ = fs::remove_dir_all(&dir);
}
