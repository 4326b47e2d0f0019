//! Interop with keepalived 2.2.7 (Debian's): havip and keepalived on one VRID elect correctly,
//! with havip as master and as backup, over VRRPv2 with `auth_type PASS` and over VRRPv3; a
//! keepalived with another `auth_pass` is ignored and counted.

use std::{thread::sleep, time::Duration};

use havip_lab::{
    lab::{Host, Lab},
    scenario::{self, Vrrp},
};

const LONG: Duration = Duration::from_secs(15);
const VIP: &str = "10.99.0.100";

/// The settings of one interop case: version, advert_int and PASS password.
fn vrrp(version: u8, advert_int: &'static str, pass: Option<&'static str>) -> Vrrp {
    Vrrp {
        version,
        advert_int,
        pass,
    }
}

fn keepalived_conf(
    version: u8,
    state: &str,
    priority: u8,
    advert_int: &'static str,
    pass: Option<&'static str>,
) -> String {
    scenario::keepalived_conf(vrrp(version, advert_int, pass), state, priority)
}

fn havip_args(
    priority: u8,
    version: u8,
    advert_int: &'static str,
    pass: Option<&'static str>,
) -> Vec<String> {
    scenario::havip_args(vrrp(version, advert_int, pass), priority, "skb")
}

fn start_havip(lab: &mut Lab, label: &str, host: &Host, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.havip(label, host, &args).wait_started(LONG);
}

fn two_nodes(test: &str) -> (Lab, Host, Host) {
    let mut lab = Lab::new(test);
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    (lab, n1, n2)
}

#[test]
fn interop_v2_pass_havip_master_keepalived_backup() {
    let (mut lab, n1, n2) = two_nodes("ka-v2-m");
    start_havip(
        &mut lab,
        "havip",
        &n1,
        &havip_args(101, 2, "1", Some("1111")),
    );
    lab.proc("havip").wait_state("MASTER", LONG);
    lab.keepalived(
        "ka",
        &n2,
        &keepalived_conf(2, "BACKUP", 100, "1", Some("1111")),
    );
    lab.proc("ka").wait_keepalived_state("BACKUP", LONG);
    sleep(Duration::from_secs(5)); // more than keepalived's Master_Down_Interval (3.6 s)
    assert_eq!(
        lab.proc("ka").keepalived_state().as_deref(),
        Some("BACKUP"),
        "keepalived took over"
    );
    assert!(lab.has_addr(&n1, VIP) && !lab.has_addr(&n2, VIP));
    // havip stops gracefully (priority 0): keepalived takes over at once.
    let h = lab.proc("havip");
    h.signal(libc::SIGTERM);
    assert!(h.wait_exit(LONG).success());
    lab.proc("ka")
        .wait_keepalived_state("MASTER", Duration::from_secs(2));
    assert!(lab.has_addr(&n2, VIP) && !lab.has_addr(&n1, VIP));
}

#[test]
fn interop_v2_pass_keepalived_master_havip_backup() {
    let (mut lab, n1, n2) = two_nodes("ka-v2-b");
    lab.keepalived(
        "ka",
        &n1,
        &keepalived_conf(2, "MASTER", 101, "1", Some("1111")),
    );
    lab.proc("ka").wait_keepalived_state("MASTER", LONG);
    start_havip(
        &mut lab,
        "havip",
        &n2,
        &havip_args(100, 2, "1", Some("1111")),
    );
    sleep(Duration::from_secs(5));
    assert_eq!(lab.proc("havip").vrrp_state().as_deref(), Some("BACKUP"));
    let s = lab.stats(&n2);
    let inst = &s.daemon.expect("daemon").instances[0];
    assert_eq!(inst.master.as_deref(), Some("10.99.0.11"));
    assert!(inst.adverts.received >= 4, "{:?}", inst.adverts);
    assert_eq!(
        inst.adverts.rejected.values().sum::<u64>(),
        0,
        "{:?}",
        inst.adverts
    );
    assert_eq!(
        inst.adverts.malformed, 0,
        "keepalived's v2 checksum rejected"
    );
    // keepalived stops (priority 0): havip takes over within Skew_Time (~0.6 s).
    lab.proc("ka").signal(libc::SIGTERM);
    lab.proc("havip")
        .wait_state("MASTER", Duration::from_secs(2));
    assert!(lab.proc("havip").log_text().contains("PriorityZero"));
    let s = lab.proc("havip").stats().daemon.expect("havip's daemon");
    assert!(
        s.instances[0].adverts.priority_zero_received >= 1,
        "keepalived's priority-0 advert not counted: {:?}",
        s.instances[0].adverts
    );
    assert!(lab.has_addr(&n2, VIP));
}

#[test]
fn interop_v3_both_roles() {
    let (mut lab, n1, n2) = two_nodes("ka-v3");
    // havip master, keepalived backup.
    start_havip(&mut lab, "havip", &n1, &havip_args(101, 3, "0.1", None));
    lab.proc("havip").wait_state("MASTER", LONG);
    lab.keepalived("ka", &n2, &keepalived_conf(3, "BACKUP", 100, "0.1", None));
    lab.proc("ka").wait_keepalived_state("BACKUP", LONG);
    sleep(Duration::from_secs(1));
    assert_eq!(lab.proc("ka").keepalived_state().as_deref(), Some("BACKUP"));
    assert!(lab.has_addr(&n1, VIP) && !lab.has_addr(&n2, VIP));
    // havip leaves: keepalived master; havip returns as backup (lower priority now): it hears
    // keepalived's v3 adverts (pseudo-header checksum) and stays backup.
    let h = lab.proc("havip");
    h.signal(libc::SIGTERM);
    assert!(h.wait_exit(LONG).success());
    lab.proc("ka")
        .wait_keepalived_state("MASTER", Duration::from_secs(2));
    start_havip(&mut lab, "havip2", &n1, &havip_args(99, 3, "0.1", None));
    sleep(Duration::from_secs(1));
    assert_eq!(lab.proc("havip2").vrrp_state().as_deref(), Some("BACKUP"));
    let s = lab.stats(&n1);
    let inst = &s.daemon.expect("daemon").instances[0];
    assert_eq!(inst.master.as_deref(), Some("10.99.0.12"));
    assert!(inst.adverts.received >= 5, "{:?}", inst.adverts);
    assert_eq!(
        inst.adverts.malformed, 0,
        "keepalived's v3 checksum rejected"
    );
    assert_eq!(lab.proc("ka").keepalived_state().as_deref(), Some("MASTER"));
}

#[test]
fn keepalived_with_another_auth_pass_is_ignored_and_counted() {
    let (mut lab, n1, n2) = two_nodes("ka-auth");
    lab.keepalived(
        "ka",
        &n1,
        &keepalived_conf(2, "MASTER", 200, "1", Some("2222")),
    );
    lab.proc("ka").wait_keepalived_state("MASTER", LONG);
    start_havip(
        &mut lab,
        "havip",
        &n2,
        &havip_args(100, 2, "1", Some("1111")),
    );
    // Its adverts carry the wrong password: havip hears no master and takes over.
    lab.proc("havip")
        .wait_state("MASTER", Duration::from_secs(6));
    sleep(Duration::from_secs(1));
    let s = lab.stats(&n2);
    let inst = &s.daemon.expect("daemon").instances[0];
    let auth = inst.adverts.rejected.get("auth").copied().unwrap_or(0);
    assert!(auth >= 3, "auth rejections not counted: {:?}", inst.adverts);
    assert_eq!(inst.adverts.received, 0, "{:?}", inst.adverts);
    assert_eq!(inst.master.as_deref(), Some("10.99.0.12"));
}

/// A FIFO the test makes and holds open read-write and non-blocking, as a reader written for
/// keepalived's `vrrp_notify_fifo` would read it.
struct FifoReader {
    file: std::fs::File,
    text: String,
}

impl FifoReader {
    fn make(path: &std::path::Path) -> FifoReader {
        use std::os::unix::fs::OpenOptionsExt as _;
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("mkfifo");
        assert!(status.success(), "mkfifo {}", path.display());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .expect("opening the FIFO");
        FifoReader {
            file,
            text: String::new(),
        }
    }

    /// The lines read so far, once there are at least `n` (or the timeout passed).
    fn wait_lines(&mut self, n: usize, timeout: Duration) -> Vec<String> {
        use std::io::Read as _;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut buf = [0u8; 4096];
            while let Ok(k) = self.file.read(&mut buf) {
                if k == 0 {
                    break;
                }
                self.text.push_str(&String::from_utf8_lossy(&buf[..k]));
            }
            let lines: Vec<String> = self.text.lines().map(String::from).collect();
            if lines.len() >= n || std::time::Instant::now() > deadline {
                return lines;
            }
            sleep(Duration::from_millis(10));
        }
    }
}

/// One keepalived.conf for both daemons: VRRPv3 at 100 ms, this node's priority, and the FIFO.
fn fifo_conf(priority: u8, fifo: Option<&std::path::Path>) -> String {
    let globals = fifo.map_or(String::new(), |f| {
        format!(
            "    vrrp_notify_fifo {}\n    fifo_write_vrrp_states_on_reload\n",
            f.display()
        )
    });
    format!(
        "global_defs {{\n    vrrp_version 3\n{globals}}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// Starts havip (`havip`) or keepalived as `label` on `host` with keepalived.conf `conf`.
fn start(lab: &mut Lab, label: &str, host: &Host, havip: bool, conf: String) {
    if havip {
        let file = lab.dir().join(format!("{label}.conf"));
        std::fs::write(&file, conf).unwrap();
        let file = file.to_str().unwrap().to_string();
        lab.havip(label, host, &["run", "--config", &file])
            .wait_started(LONG);
    } else {
        lab.keepalived(label, host, &conf);
    }
}

/// The lines the FIFO of a node at priority 100 gets, running havip or keepalived, through the
/// same transitions: alone (BACKUP, then MASTER), a priority-150 peer of the other kind arrives
/// (BACKUP), a reload (the states written again), the peer stops (MASTER), it stops itself.
fn fifo_lines(test: &str, havip_under_test: bool) -> Vec<String> {
    let (mut lab, n1, n2) = two_nodes(test);
    let path = lab.dir().join("notify.fifo");
    let mut fifo = FifoReader::make(&path);
    start(
        &mut lab,
        "d",
        &n1,
        havip_under_test,
        fifo_conf(100, Some(&path)),
    );
    fifo.wait_lines(2, LONG);
    start(
        &mut lab,
        "peer",
        &n2,
        !havip_under_test,
        fifo_conf(150, None),
    );
    fifo.wait_lines(3, LONG);
    lab.proc("d").signal(libc::SIGHUP);
    fifo.wait_lines(4, LONG);
    let peer = lab.proc("peer");
    peer.signal(libc::SIGTERM);
    peer.wait_exit(LONG);
    fifo.wait_lines(5, LONG);
    let d = lab.proc("d");
    d.signal(libc::SIGTERM);
    d.wait_exit(LONG);
    // Whatever it writes as it stops, and nothing after.
    sleep(Duration::from_millis(500));
    fifo.wait_lines(usize::MAX, Duration::ZERO)
}

/// keepalived's `vrrp_notify_fifo` and `fifo_write_vrrp_states_on_reload`, compared with
/// keepalived 2.2.7 itself: a FIFO reader gets the same lines from either daemon, in either
/// role, for the same transitions.
#[test]
fn notify_fifo_lines_are_keepalived_s_in_both_roles() {
    let theirs = fifo_lines("fifo-ka", false);
    let ours = fifo_lines("fifo-hv", true);
    println!("keepalived wrote {theirs:#?}\nhavip wrote {ours:#?}");
    let line = |state: &str| format!("INSTANCE \"VI_1\" {state} 100");
    assert_eq!(
        theirs.get(..3),
        Some(&[line("BACKUP"), line("MASTER"), line("BACKUP")][..]),
        "keepalived's own lines are not what this test expects of it"
    );
    assert_eq!(ours, theirs, "havip's FIFO lines differ from keepalived's");
}

/// The lines a lone node's FIFO gets, running havip or keepalived, with
/// `notify_priority_changes` and a tracked file whose number moves the priority: 100, then
/// 110 and 70 while master, then it stops.
fn priority_change_lines(test: &str, havip_under_test: bool) -> Vec<String> {
    let (mut lab, n1, _n2) = two_nodes(test);
    let path = lab.dir().join("notify.fifo");
    let number = lab.dir().join("weight");
    std::fs::write(&number, "0\n").unwrap();
    let mut fifo = FifoReader::make(&path);
    let conf = format!(
        "global_defs {{\n    vrrp_version 3\n    vrrp_notify_fifo {}\n}}\n\
         vrrp_track_file moves {{\n    file {}\n    weight 1\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 100\n    advert_int 0.1\n    notify_priority_changes\n    track_file {{\n        \
         moves\n    }}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n",
        path.display(),
        number.display()
    );
    start(&mut lab, "d", &n1, havip_under_test, conf);
    fifo.wait_lines(2, LONG);
    std::fs::write(&number, "10\n").unwrap();
    fifo.wait_lines(3, LONG);
    std::fs::write(&number, "-30\n").unwrap();
    fifo.wait_lines(4, LONG);
    let d = lab.proc("d");
    d.signal(libc::SIGTERM);
    d.wait_exit(LONG);
    sleep(Duration::from_millis(500));
    fifo.wait_lines(usize::MAX, Duration::ZERO)
}

/// keepalived's `notify_priority_changes`: a tracked file moving a master's priority writes
/// `INSTANCE "VI_1" MASTER_PRIORITY N` lines, the same from havip as from keepalived 2.2.7.
#[test]
fn priority_change_lines_are_keepalived_s() {
    let theirs = priority_change_lines("prio-ka", false);
    let ours = priority_change_lines("prio-hv", true);
    println!("keepalived wrote {theirs:#?}\nhavip wrote {ours:#?}");
    assert!(
        theirs.contains(&"INSTANCE \"VI_1\" MASTER_PRIORITY 110".to_string()),
        "keepalived's own lines are not what this test expects of it"
    );
    assert_eq!(ours, theirs, "havip's FIFO lines differ from keepalived's");
}

/// The routes and rules a lone master installs from one keepalived.conf, running havip or
/// keepalived: `virtual_routes` and `virtual_rules` while master, `static_*` from the start.
/// Read as `ip route` / `ip rule` print them, with the routes' protocol left out (havip marks
/// them `proto static`, `ip route`'s default), then again after SIGTERM.
fn installed_routes(test: &str, havip_under_test: bool) -> (String, String) {
    let (mut lab, n1, _n2) = two_nodes(test);
    let _gw = lab.host("g", "10.99.0.1/24");
    let conf = format!(
        "global_defs {{\n    vrrp_version 3\n}}\n\
         static_routes {{\n    198.18.0.0/15 via 10.99.0.1 dev eth0\n}}\n\
         static_rules {{\n    to 198.18.0.0/15 table 200 priority 200\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 100\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n    \
         virtual_routes {{\n        192.0.2.0/24 via 10.99.0.1 dev eth0 metric 7\n        \
         blackhole 198.51.100.0/24\n        src {VIP} 203.0.113.0/24 via 10.99.0.1 dev eth0\n    }}\n    \
         virtual_rules {{\n        from {VIP} table 100 priority 100\n    }}\n}}\n"
    );
    start(&mut lab, "d", &n1, havip_under_test, conf);
    if havip_under_test {
        lab.proc("d").wait_state("MASTER", LONG);
    } else {
        lab.proc("d").wait_keepalived_state("MASTER", LONG);
    }
    let table = |lab: &Lab| {
        let mut lines: Vec<String> = [
            lab.ip(&n1.ns, "route show"),
            lab.ip(&n1.ns, "route show type blackhole"),
            lab.ip(&n1.ns, "rule show priority 100"),
            lab.ip(&n1.ns, "rule show priority 200"),
        ]
        .concat()
        .lines()
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" proto keepalived", "")
                .replace(" proto static", "")
        })
        .filter(|l| !l.is_empty())
        .collect();
        lines.sort();
        lines.dedup();
        lines.join("\n")
    };
    // keepalived adds its routes a moment after it says MASTER.
    let mut master = table(&lab);
    for _ in 0..50 {
        if master.contains("192.0.2.0/24") && master.contains("lookup 100") {
            break;
        }
        sleep(Duration::from_millis(50));
        master = table(&lab);
    }
    let d = lab.proc("d");
    d.signal(libc::SIGTERM);
    d.wait_exit(LONG);
    (master, table(&lab))
}

/// keepalived's `virtual_routes`, `virtual_rules`, `static_routes` and `static_rules`, against
/// keepalived 2.2.7 itself: from one file, the same routes and rules while master, and the
/// same left after a stop.
#[test]
fn routes_and_rules_are_keepalived_s() {
    let theirs = installed_routes("routes-ka", false);
    let ours = installed_routes("routes-hv", true);
    println!(
        "keepalived, master:\n{}\nstopped:\n{}\nhavip, master:\n{}\nstopped:\n{}",
        theirs.0, theirs.1, ours.0, ours.1
    );
    assert!(
        theirs.0.contains("192.0.2.0/24 via 10.99.0.1 dev eth0"),
        "keepalived's own routes are not what this test expects of it"
    );
    assert_eq!(ours.0, theirs.0, "the master's routes and rules differ");
    assert_eq!(ours.1, theirs.1, "what is left after a stop differs");
}

/// A two-member sync group on a backup (`havip_backup`: havip, else keepalived) facing a master
/// of the other kind: while the backup hears no VI_1 advert (an nftables drop) but still hears
/// VI_2's, does it take any VIP? And when the master is killed, does it take both?
fn sync_group_backup(test: &str, havip_backup: bool) -> (bool, bool) {
    let (mut lab, n1, n2) = two_nodes(test);
    let conf = |prio: u8| {
        let member = |name: &str, vrid: u8, vip: &str| {
            format!(
                "vrrp_instance {name} {{\n    state BACKUP\n    interface eth0\n    \
                 virtual_router_id {vrid}\n    priority {prio}\n    advert_int 0.1\n    \
                 virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
            )
        };
        format!(
            "global_defs {{\n    vrrp_version 3\n}}\n\
             vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
            member("VI_1", 51, "10.99.0.100"),
            member("VI_2", 52, "10.99.0.101")
        )
    };
    start(&mut lab, "master", &n1, !havip_backup, conf(150));
    let deadline = std::time::Instant::now() + LONG;
    while !(lab.has_addr(&n1, "10.99.0.100") && lab.has_addr(&n1, "10.99.0.101")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the master took no VIPs"
        );
        sleep(Duration::from_millis(20));
    }
    start(&mut lab, "backup", &n2, havip_backup, conf(100));
    sleep(Duration::from_secs(1));
    lab.drop_vrrp_vrid(&n2.ns, 51);
    let mut took_any = false;
    let until = std::time::Instant::now() + Duration::from_millis(1500);
    while std::time::Instant::now() < until {
        took_any |= lab.has_addr(&n2, "10.99.0.100") || lab.has_addr(&n2, "10.99.0.101");
        sleep(Duration::from_millis(20));
    }
    lab.undrop_vrrp(&n2.ns);
    lab.proc("master").signal_group(libc::SIGKILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut took_both = false;
    while std::time::Instant::now() < deadline && !took_both {
        took_both = lab.has_addr(&n2, "10.99.0.100") && lab.has_addr(&n2, "10.99.0.101");
        sleep(Duration::from_millis(20));
    }
    (took_any, took_both)
}

/// keepalived's sync group rules, against keepalived 2.2.7 in both roles: a backup that stops
/// hearing one member's master takes neither VIP, and takes both when the master dies.
#[test]
fn sync_groups_move_as_keepalived_s() {
    let keepalived_backup = sync_group_backup("sync-ka", false);
    let havip_backup = sync_group_backup("sync-hv", true);
    println!(
        "(took a VIP while one member's master was unheard, took both when the master died): \
         keepalived {keepalived_backup:?}, havip {havip_backup:?}"
    );
    assert_eq!(
        keepalived_backup,
        (false, true),
        "keepalived does not do what this test expects of it"
    );
    assert_eq!(havip_backup, keepalived_backup);
}

/// keepalived's `vrrp_mcast_group4`: a havip master and a keepalived backup on group
/// 224.0.0.19 keep their roles, and so do a keepalived master and a havip backup; a keepalived
/// backup on the RFC's group, hearing nothing, takes over: the setting carries the adverts.
#[test]
fn a_non_default_multicast_group_is_keepalived_s() {
    let conf = |prio: u8, group: Option<&str>| {
        let g = group.map_or(String::new(), |g| format!("    vrrp_mcast_group4 {g}\n"));
        format!(
            "global_defs {{\n    vrrp_version 3\n{g}}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {prio}\n    advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        )
    };
    for (test, ka_group, ka_takes_over) in [
        ("mcast-same", Some("224.0.0.19"), false),
        ("mcast-other", None, true),
    ] {
        let (mut lab, n1, n2) = two_nodes(test);
        let file = lab.dir().join("hv.conf");
        std::fs::write(&file, conf(150, Some("224.0.0.19"))).unwrap();
        let file = file.to_str().unwrap().to_string();
        lab.havip("hv", &n1, &["run", "--config", &file])
            .wait_started(LONG);
        lab.proc("hv").wait_state("MASTER", LONG);
        lab.keepalived("ka", &n2, &conf(100, ka_group));
        lab.proc("ka").wait_keepalived_state("BACKUP", LONG);
        // Five of keepalived's Master_Down_Intervals.
        sleep(Duration::from_millis(1800));
        let ka = lab.proc("ka").keepalived_state();
        let hv = lab.proc("hv").state_now();
        println!("{test}: keepalived {ka:?}, havip {hv:?}");
        if ka_takes_over {
            assert_eq!(ka.as_deref(), Some("MASTER"), "{test}");
        } else {
            assert_eq!(ka.as_deref(), Some("BACKUP"), "{test}");
            assert_eq!(hv.as_deref(), Some("MASTER"), "{test}");
            // Stopped, havip's priority-0 advert on 224.0.0.19 hands over to keepalived; a havip
            // backup then hears keepalived there and stays BACKUP.
            let p = lab.proc("hv");
            p.signal(libc::SIGTERM);
            p.wait_exit(LONG);
            lab.proc("ka").wait_keepalived_state("MASTER", LONG);
            let file = lab.dir().join("hv2.conf");
            std::fs::write(&file, conf(50, Some("224.0.0.19"))).unwrap();
            let file = file.to_str().unwrap().to_string();
            lab.havip("hv2", &n1, &["run", "--config", &file])
                .wait_started(LONG);
            lab.proc("hv2").wait_state("BACKUP", LONG);
            sleep(Duration::from_millis(1800));
            assert_eq!(lab.proc("hv2").state_now().as_deref(), Some("BACKUP"));
        }
    }
}

/// What a client sees of a lone master's VIP, running havip or keepalived, for each of
/// `variants` (the `global_defs` lines, the instance's lines): whether a ping to the VIP is
/// answered, and whether ARP for it is.
fn accept_mode_answers(
    test: &str,
    havip_under_test: bool,
    variants: &[(&str, &str)],
) -> Vec<(bool, bool)> {
    let (mut lab, n1, client) = two_nodes(test);
    let mut seen = Vec::new();
    for (i, (globals, lines)) in variants.iter().enumerate() {
        let conf = format!(
            "global_defs {{\n    vrrp_version 3\n{globals}\n}}\n\
             vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{lines}\n    \
             advert_int 0.1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        );
        let label = format!("d{i}");
        start(&mut lab, &label, &n1, havip_under_test, conf);
        if havip_under_test {
            lab.proc(&label).wait_state("MASTER", LONG);
        } else {
            lab.proc(&label).wait_keepalived_state("MASTER", LONG);
        }
        // keepalived fills its set just before it adds the VIP: wait for the address.
        havip_lab::lab::wait_until("the VIP", LONG, || lab.has_addr(&n1, VIP));
        let ping = lab
            .exec(
                &client.ns,
                &["ping", "-c", "3", "-i", "0.2", "-W", "1", "-n", "-q", VIP],
            )
            .status
            .success();
        let arp = lab.arping(&client, VIP, 2, 0.2).received > 0;
        seen.push((ping, arp));
        let d = lab.proc(&label);
        d.signal(libc::SIGTERM);
        d.wait_exit(LONG);
        let left = String::from_utf8_lossy(&lab.exec(&n1.ns, &["nft", "list", "ruleset"]).stdout)
            .to_string();
        assert!(
            !left.contains("table"),
            "{label} left a table after its stop:\n{left}"
        );
    }
    seen
}

/// `no_accept` and strict mode against keepalived 2.2.7 itself: from the same files, a client
/// gets the same answers from either master (ARP always; a ping only with Accept_Mode on), and
/// neither leaves a table behind.
#[test]
fn no_accept_and_strict_mode_drop_what_keepalived_drops() {
    let variants = [
        ("", "    priority 100"),
        ("", "    priority 100\n    no_accept"),
        ("    vrrp_strict", "    priority 100"),
        ("    vrrp_strict", "    priority 100\n    accept"),
        ("    vrrp_strict", "    priority 255"),
        ("    vrrp_strict", "    priority 100\n    strict_mode off"),
    ];
    let theirs = accept_mode_answers("accept-ka", false, &variants);
    let ours = accept_mode_answers("accept-hv", true, &variants);
    println!(
        "(ping answered, ARP answered) per variant:\nkeepalived {theirs:?}\nhavip      {ours:?}"
    );
    assert_eq!(
        theirs,
        vec![
            (true, true),
            (false, true),
            (false, true),
            (true, true),
            (true, true),
            (true, true)
        ],
        "keepalived's own answers are not what this test expects of it"
    );
    assert_eq!(ours, theirs, "havip's master answers differently");
}

/// `use_vmac` with keepalived 2.2.7 (its macvlan `vrrp.51`) as the peer: a client with a
/// static neighbour entry VIP → 00:00:5e:00:01:33 keeps reaching the VIP when the master,
/// havip or keepalived, is killed, and the LAN bridge has the virtual MAC on the master's port
/// only, before and after. Returns the pings answered of those sent across the failover.
fn vmac_failover(test: &str, havip_master: bool) -> (u32, u32) {
    const VMAC: &str = "00:00:5e:00:01:33";
    let conf = |prio: u8| {
        format!(
            "global_defs {{\n    vrrp_version 3\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {prio}\n    advert_int 0.1\n    use_vmac\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        )
    };
    let (mut lab, n1, n2) = two_nodes(test);
    let client = lab.host("c", "10.99.0.50/24");
    start(&mut lab, "master", &n1, havip_master, conf(150));
    if havip_master {
        lab.proc("master").wait_state("MASTER", LONG);
    } else {
        lab.proc("master").wait_keepalived_state("MASTER", LONG);
    }
    start(&mut lab, "backup", &n2, !havip_master, conf(100));
    if havip_master {
        lab.proc("backup").wait_keepalived_state("BACKUP", LONG);
    } else {
        lab.proc("backup").wait_state("BACKUP", LONG);
    }
    lab.ip(
        &client.ns,
        &format!("neigh replace {VIP} lladdr {VMAC} dev eth0 nud permanent"),
    );
    havip_lab::lab::wait_until("the virtual MAC on the master's port", LONG, || {
        lab.fdb_ports(VMAC) == vec![n1.port.clone()]
    });
    lab.ping_every_10ms("ping", &client, VIP, 500);
    sleep(Duration::from_secs(1));
    let p = lab.proc("master");
    if havip_master {
        p.signal(libc::SIGKILL);
    } else {
        // keepalived's parent and its VRRP child, as a crash would take them.
        p.signal_group(libc::SIGKILL);
    }
    p.wait_exit(LONG);
    if havip_master {
        lab.proc("backup").wait_keepalived_state("MASTER", LONG);
    } else {
        lab.proc("backup").wait_state("MASTER", LONG);
    }
    havip_lab::lab::wait_until("the virtual MAC on the new master's port", LONG, || {
        lab.fdb_ports(VMAC) == vec![n2.port.clone()]
    });
    let (sent, received) = lab.ping_summary("ping");
    // Still there, and only there, once the pings are over.
    assert_eq!(lab.fdb_ports(VMAC), vec![n2.port.clone()], "{test}");
    (sent, received)
}

#[test]
fn use_vmac_against_keepalived_keeps_a_static_client_across_failovers() {
    let havip_to_keepalived = vmac_failover("vmac-hv-ka", true);
    let keepalived_to_havip = vmac_failover("vmac-ka-hv", false);
    println!(
        "pings answered across the failover (static entry to the virtual MAC, 10 ms, 0.1 s adverts):\n\
         havip master killed, keepalived takes over: {:?}\nkeepalived master killed, havip takes over: {:?}",
        havip_to_keepalived, keepalived_to_havip
    );
    for (what, (sent, received)) in [
        ("havip -> keepalived", havip_to_keepalived),
        ("keepalived -> havip", keepalived_to_havip),
    ] {
        // A Master_Down_Interval (~0.35 s) and the takeover: a few tens of pings, not the rest.
        assert!(
            received + 100 >= sent,
            "{what}: {received} of {sent} answered"
        );
    }
}

/// BFD with keepalived 2.2.7's own (`bfd_instance`): the session comes up both ways (each side
/// says Up in its packets; the intervals are negotiated by keepalived's poll and havip's final);
/// havip's `track_bfd` takes its weight off when keepalived's side goes away (keepalived sends
/// nothing at a SIGTERM: havip's detection time finds it, diag 1) and puts it back when it
/// returns; keepalived's `track_bfd` moves its priority when havip's side stops.
#[test]
fn bfd_sessions_with_keepalived_come_up_and_track_bfd_follows_them() {
    let (mut lab, n1, n2) = two_nodes("ibfd");
    let keepalived = "global_defs {\n    vrrp_version 3\n}\n\
        bfd_instance to_havip {\n    neighbor_ip 10.99.0.12\n    source_ip 10.99.0.11\n    \
        min_rx 10\n    min_tx 10\n    multiplier 3\n}\n\
        vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
        priority 90\n    advert_int 1\n    track_bfd {\n        to_havip weight 5\n    }\n    \
        virtual_ipaddress {\n        10.99.0.100/24\n    }\n}\n";
    let havip = "global_defs {\n    vrrp_version 3\n}\n\
        bfd_instance to_keepalived {\n    neighbor_ip 10.99.0.11\n    source_ip 10.99.0.12\n    \
        min_rx 20\n    min_tx 15\n    multiplier 5\n}\n\
        vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
        priority 100\n    advert_int 1\n    track_bfd {\n        to_keepalived weight -20\n    }\n    \
        virtual_ipaddress {\n        10.99.0.100/24\n    }\n}\n";
    let file = lab.dir().join("havip.conf");
    std::fs::write(&file, havip).unwrap();
    let file = file.to_str().unwrap().to_string();
    lab.havip_with(
        havip_lab::lab::Launcher::IpNetnsExec,
        "hv",
        &n2,
        &["run", "--config", &file],
    )
    .wait_started(LONG);
    let session = |lab: &mut Lab| {
        let s = lab.proc("hv").snapshot().unwrap();
        (
            s.bfd.unwrap().sessions.remove(0),
            s.instances[0].effective_priority,
        )
    };
    // keepalived not there yet: down, 100 - 20.
    havip_lab::lab::wait_until("priority 80", LONG, || session(&mut lab).1 == Some(80));
    lab.keepalived_bfd("ka", &n1, keepalived);
    havip_lab::lab::wait_until("the session up", LONG, || {
        let (s, _) = session(&mut lab);
        s.state == "Up" && s.remote_state == "Up"
    });
    sleep(Duration::from_millis(500));
    let (s, prio) = session(&mut lab);
    assert_eq!(prio, Some(100), "the weight lifted: {s:?}");
    // havip sends every max(15, keepalived's 10) ms; it declares keepalived gone after
    // keepalived's 3 × max(20, 10) ms. keepalived polled when it came up; havip answered.
    assert_eq!(s.tx_interval_us, Some(15_000), "{s:?}");
    assert_eq!(s.detection_time_us, Some(60_000), "{s:?}");
    assert!(s.finals_sent >= 1, "{s:?}");
    assert_eq!(s.remote_min_tx_us, 10_000);
    // keepalived's track_bfd: up, so 90 + 5 (its log says so).
    lab.proc("ka")
        .wait_log("Changing effective priority from 90 to 95", LONG);

    // keepalived stops (SIGTERM: it sends no AdminDown): havip finds it by its silence.
    lab.proc("ka").signal(libc::SIGTERM);
    lab.proc("ka").wait_exit(LONG);
    havip_lab::lab::wait_until("priority 80 again", LONG, || {
        session(&mut lab).1 == Some(80)
    });
    let (s, _) = session(&mut lab);
    assert_eq!(s.state, "Down");
    assert_eq!(
        s.last_down.as_deref(),
        Some("1 (control detection time expired)")
    );
    // Back, and up again.
    lab.keepalived_bfd("ka2", &n1, keepalived);
    havip_lab::lab::wait_until("the session up again", LONG, || {
        session(&mut lab).0.state == "Up"
    });
    havip_lab::lab::wait_until("priority 100 again", LONG, || {
        session(&mut lab).1 == Some(100)
    });
    lab.proc("ka2")
        .wait_log("Changing effective priority from 90 to 95", LONG);
    // havip's side goes silent (kill -9): keepalived's track_bfd takes its 5 back off.
    lab.proc("hv").signal(libc::SIGKILL);
    lab.proc("hv").wait_exit(LONG);
    lab.proc("ka2")
        .wait_log("Changing effective priority from 95 to 90", LONG);
}
