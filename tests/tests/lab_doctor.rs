//! `havip doctor` on a LAN with real trouble: an nftables rule in the node's namespace that drops
//! VRRP, `ip_nonlocal_bind=0`, and another router (havip in another namespace on the same
//! bridge) advertising the configuration's VRID for another VIP. Each is reported with its fix
//! and the exit status is 2; fixed one by one, the status falls to 1 (warnings) and 0; a
//! keepalived started on the same interface makes it 2 again.

use std::{fs, process::Output, time::Duration};

use havip_lab::lab::{havip_exe, Lab};

const LONG: Duration = Duration::from_secs(15);

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The line of `report` that starts with `tag` and mentions every word of `says`.
fn line<'a>(report: &'a str, tag: &str, says: &[&str]) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(tag) && says.iter().all(|s| l.contains(s)))
        .unwrap_or_else(|| panic!("no {tag} line with {says:?} in:\n{report}"))
}

#[test]
fn doctor_reports_dropped_vrrp_nonlocal_bind_and_a_vrid_conflict() {
    let mut lab = Lab::new("doctor");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = std::env::temp_dir().join(format!("hv-doctor-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("havip.conf");
    fs::write(
        &conf,
        "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n",
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_string();
    let exe = havip_exe();
    let exe = exe.to_str().unwrap();
    let doctor = |lab: &Lab| {
        let o = lab.exec(&n1.ns, &[exe, "doctor", "--config", &conf, "--listen", "3"]);
        (o.status.code(), out(&o))
    };

    // Trouble: VRRP dropped in n1's input chain, and another router using VRID 51 for
    // 10.99.0.200.
    let nft = |lab: &Lab, args: &str| {
        let o = lab.exec(&n1.ns, &["sh", "-c", &format!("nft {args}")]);
        assert!(o.status.success(), "nft {args}: {}", out(&o));
    };
    nft(&lab, "add table inet hvdoctor");
    nft(
        &lab,
        "'add chain inet hvdoctor input { type filter hook input priority 0; policy accept; }'",
    );
    nft(&lab, "add rule inet hvdoctor input ip protocol vrrp drop");
    lab.havip(
        "intruder",
        &n2,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.200/24",
            "--vrid",
            "51",
            "--priority",
            "150",
            "--state",
            "master",
            "--xdp-mode",
            "skb",
        ],
    )
    .wait_state("MASTER", LONG);

    let (code, report) = doctor(&lab);
    println!("{report}");
    assert_eq!(code, Some(2), "{report}");
    let l = line(
        &report,
        "BLOCK nftables",
        &["inet hvdoctor", "ip protocol vrrp drop"],
    );
    assert!(l.contains("fix: "), "{l}");
    line(
        &report,
        "WARN  net.ipv4.ip_nonlocal_bind",
        &["0:", "ip_nonlocal_bind=1"],
    );
    // Heard although the firewall drops it: doctor listens below the firewall.
    line(
        &report,
        "BLOCK VRRP on eth0",
        &[
            "conflict",
            "VRID 51 from 10.99.0.12",
            "10.99.0.200",
            "10.99.0.100",
        ],
    );
    line(&report, "ok    kernel", &[]);
    line(&report, "ok    capabilities", &[]);
    line(&report, "ok    eth0: XDP", &["skb mode only"]);

    // Fixed: the rule deleted, ip_nonlocal_bind on, the other router gone and our peer on the
    // LAN instead. What is left is a warning (arp_announce 0 in a fresh namespace).
    nft(&lab, "delete table inet hvdoctor");
    lab.exec(&n1.ns, &["sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=1"]);
    lab.proc("intruder").signal(libc::SIGTERM);
    lab.proc("intruder").wait_exit(LONG);
    lab.havip(
        "peer",
        &n2,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.99.0.100/24",
            "--vrid",
            "51",
            "--priority",
            "150",
            "--state",
            "master",
            "--xdp-mode",
            "skb",
        ],
    )
    .wait_state("MASTER", LONG);
    let (code, report) = doctor(&lab);
    println!("{report}");
    assert_eq!(code, Some(1), "{report}");
    assert!(!report.contains("BLOCK"), "{report}");
    line(&report, "ok    nftables", &["no rule drops VRRP"]);
    line(&report, "ok    net.ipv4.ip_nonlocal_bind", &["1"]);
    line(
        &report,
        "ok    VRRP on eth0",
        &["peer VRID 51 from 10.99.0.12", "the same virtual router"],
    );
    line(&report, "WARN  eth0: arp_announce", &["arp_announce=2"]);

    lab.exec(
        &n1.ns,
        &["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"],
    );
    let (code, report) = doctor(&lab);
    assert_eq!(code, Some(0), "{report}");

    // keepalived already running on the same interface (an operator mid-migration).
    let keepalived_conf = fs::read_to_string(&conf)
        .unwrap()
        .replace("10.99.0.100", "10.99.0.150");
    lab.keepalived("keepalived", &n1, &keepalived_conf)
        .wait_log("Entering BACKUP STATE", LONG);
    let (code, report) = doctor(&lab);
    assert_eq!(code, Some(2), "{report}");
    line(
        &report,
        "BLOCK keepalived",
        &["on eth0", "systemctl disable --now keepalived"],
    );
    let _ = fs::remove_dir_all(&dir);
}
