//! Configuration labs: the seed keepalived.conf runs unchanged and drives a two-node election;
//! SIGHUP reload keeps unchanged instances' state (no VIP flap, no extra GARP) and refuses a bad
//! file; `check-config` exit codes.

use std::{fs, path::Path, thread::sleep, time::Duration};

use havip_lab::{
    lab::{havip_exe, wait_until, Host, Lab},
    probe::{mac, mac_str, AdvertCapture, ArpProbe},
};

const LONG: Duration = Duration::from_secs(15);
const SEED: &str = include_str!("../../havip/tests/config/seed.conf");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn seed_config_runs_unchanged_and_elects() {
    let mut lab = Lab::new("seed");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    lab.ip(&client.ns, "addr add 34.122.40.50/24 dev eth0");
    let dir = std::env::temp_dir().join(format!("hv-seed-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    // The seed file verbatim on n1; on n2 what its comments say the peer runs.
    let peer = SEED
        .replace("state MASTER ", "state BACKUP ")
        .replace("priority 101 ", "priority 100 ");
    assert_ne!(peer, SEED);
    let c1 = write(&dir, "n1.conf", SEED);
    let c2 = write(&dir, "n2.conf", &peer);
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(Duration::from_secs(4)); // more than the backup's Master_Down_Interval
    assert_eq!(lab.proc("n2").vrrp_state().as_deref(), Some("BACKUP"));
    assert!(lab.has_addr(&n1, "34.122.40.122") && !lab.has_addr(&n2, "34.122.40.122"));
    // keepalived's reading of the one-line authentication block, with the warning.
    assert!(
        lab.proc("n1").log_text().contains("authentication"),
        "no warning about the auth block"
    );
    let s = lab.stats(&n2);
    let inst = &s.daemon.expect("daemon").instances[0];
    assert_eq!((inst.name.as_str(), inst.vrid), ("VI_1", Some(51)));
    assert!(inst.adverts.received >= 3 && inst.adverts.rejected.values().sum::<u64>() == 0);
    let r = lab.arping(&client, "34.122.40.122", 3, 0.05);
    assert_eq!(r.macs.into_iter().collect::<Vec<_>>(), vec![n1.mac.clone()]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reload_keeps_unchanged_instances_and_refuses_a_bad_file() {
    let mut lab = Lab::new("reload");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let client = lab.host("c", "10.99.0.50/24");
    let dir = std::env::temp_dir().join(format!("hv-reload-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let vi1 = "vrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
               priority 100\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {\n    \
               10.99.0.100/24\n  }\n}\n";
    let vi2 = "vrrp_instance VI_2 {\n  interface eth0\n  virtual_router_id 52\n  priority 100\n  \
               advert_int 0.1\n  version 3\n  virtual_ipaddress {\n    10.99.0.101/24\n  }\n}\n";
    let conf = write(&dir, "havip.conf", vi1);
    lab.havip("n1", &n1, &["run", "--config", &conf, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(300));
    let before = lab.stats(&n1).daemon.unwrap().instances[0].adverts.clone();

    // Add VI_2 and reload while a client watches VI_1's VIP answer every 10 ms.
    let probe = ArpProbe::start(
        &client.ns,
        "eth0",
        mac(&client.mac),
        [10, 99, 0, 50],
        [10, 99, 0, 100],
        Duration::from_millis(10),
    );
    sleep(Duration::from_millis(200));
    fs::write(&conf, format!("{vi1}{vi2}")).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload done", LONG);
    sleep(Duration::from_secs(1));
    let replies = probe.stop();
    let after = lab.stats(&n1).daemon.unwrap();
    let vi1_after = after
        .instances
        .iter()
        .find(|i| i.name == "VI_1")
        .expect("VI_1");
    assert_eq!(vi1_after.state, "MASTER");
    assert_eq!(
        vi1_after.adverts.transitions, before.transitions,
        "VI_1 flapped"
    );
    assert_eq!(
        vi1_after.adverts.garps_sent, before.garps_sent,
        "VI_1 sent GARPs again"
    );
    let gaps: Vec<_> = replies
        .windows(2)
        .map(|w| w[1].at - w[0].at)
        .filter(|g| *g > Duration::from_millis(50))
        .collect();
    assert!(
        gaps.is_empty(),
        "VI_1's VIP stopped answering during the reload: {gaps:?}"
    );
    assert!(replies.iter().all(|r| mac_str(&r.mac) == n1.mac));
    let vi2_after = after
        .instances
        .iter()
        .find(|i| i.name == "VI_2")
        .expect("VI_2 started");
    assert!(
        ["MASTER", "BACKUP"].contains(&vi2_after.state.as_str()),
        "{}",
        vi2_after.state
    );

    // A bad file: refused, both instances keep running.
    fs::write(
        &conf,
        format!("{vi1}{vi2}vrrp_instance VI_3 {{\n  virtual_router_id 0\n}}\n"),
    )
    .unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload refused", LONG);
    let log = lab.proc("n1").log_text();
    assert!(
        log.contains("havip.conf:"),
        "the refusal names the file and line: {log}"
    );
    let still = lab.stats(&n1).daemon.unwrap();
    assert_eq!(still.instances.len(), 2);
    assert!(lab.has_addr(&n1, "10.99.0.100"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn check_config_exit_codes() {
    let dir = std::env::temp_dir().join(format!("hv-check-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let good = write(&dir, "good.conf", SEED);
    let bad = write(
        &dir,
        "bad.conf",
        "vrrp_instance X {\n  interface eth0\n  virtual_router_id 300\n}\n",
    );
    let run = |file: &str| {
        std::process::Command::new(havip_exe())
            .args(["check-config", file])
            .output()
            .unwrap()
    };
    let ok = run(&good);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("bad.conf:3:"), "no file:line: {text}");
    assert_eq!(
        run(dir.join("missing.conf").to_str().unwrap())
            .status
            .code(),
        Some(2)
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The config that produced the keepalived captures (an IPv4 instance with two VIPs and an
/// IPv6 one) runs unchanged on one node and, with the peer's settings, on the other.
#[test]
fn vectors_v3_config_runs_both_families() {
    const V3: &str = include_str!("../../havip/tests/config/vectors-v3.conf");
    let mut lab = Lab::new("vec3");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = std::env::temp_dir().join(format!("hv-vec3-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let peer = V3
        .replace("state MASTER", "state BACKUP")
        .replace("priority 101", "priority 100");
    let c1 = write(&dir, "n1.conf", V3);
    let c2 = write(&dir, "n2.conf", &peer);
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    sleep(Duration::from_secs(3)); // 3 × 0.5 s + skew, twice over
    let states = |lab: &Lab, host: &Host| -> Vec<String> {
        let mut v: Vec<String> = lab
            .stats(host)
            .daemon
            .unwrap()
            .instances
            .iter()
            .map(|i| format!("{} {}", i.name, i.state))
            .collect();
        v.sort();
        v
    };
    assert_eq!(states(&lab, &n1), ["VI_4 MASTER", "VI_6 MASTER"]);
    assert_eq!(states(&lab, &n2), ["VI_4 BACKUP", "VI_6 BACKUP"]);
    for vip in ["10.99.0.100", "10.99.0.101", "fd00:99::100"] {
        assert!(lab.has_addr(&n1, vip) && !lab.has_addr(&n2, vip), "{vip}");
    }
    let _ = fs::remove_dir_all(&dir);
}

/// A reload while an instance's interface is gone: the changed instance restarts in FAULT, as
/// at start-up, and is served with its new VIPs when the interface comes back. (It once
/// stopped the instance and lost it until the next reload; then the reload was refused.)
#[test]
fn reload_while_an_interface_is_gone_waits_for_it() {
    let mut lab = Lab::new("reload-gone");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let lan = lab.lan();
    // A second LAN interface, eth1, on the same bridge.
    lab.ip(
        &n1.ns,
        &format!("link add eth1 type veth peer name p-n1b netns {lan}"),
    );
    lab.ip(&lan, "link set p-n1b master br0 up");
    lab.ip(&n1.ns, "addr add 10.99.1.11/24 dev eth1");
    lab.ip(&n1.ns, "link set eth1 up");
    let dir = std::env::temp_dir().join(format!("hv-conf-reload-gone-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let instance = |name: &str, iface: &str, vrid: u8, prio: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n  interface {iface}\n  virtual_router_id {vrid}\n  \
             priority {prio}\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    \
             {vip}\n  }}\n}}\n"
        )
    };
    let vi1 = instance("VI_1", "eth0", 51, 100, "10.99.0.100/24");
    let conf = write(
        &dir,
        "havip.conf",
        &format!(
            "{vi1}{}",
            instance("VI_2", "eth1", 52, 100, "10.99.1.100/24")
        ),
    );
    lab.havip("n1", &n1, &["run", "--config", &conf, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);

    lab.ip(&n1.ns, "link del eth1");
    // VI_2 changed (a second VIP: it must restart; a priority alone would not) while eth1 is
    // gone.
    fs::write(
        &conf,
        format!(
            "{vi1}{}",
            instance(
                "VI_2",
                "eth1",
                52,
                100,
                "10.99.1.100/24\n    10.99.1.101/24"
            )
        ),
    )
    .unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload done", LONG);
    let d = lab.stats(&n1).daemon.unwrap();
    let names: Vec<&str> = d.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["VI_1", "VI_2"], "an instance was lost");
    let vi1 = d.instances.iter().find(|i| i.name == "VI_1").unwrap();
    assert_eq!(vi1.state, "MASTER", "VI_1 was disturbed");
    let vi2 = d.instances.iter().find(|i| i.name == "VI_2").unwrap();
    assert_eq!(vi2.state, "FAULT", "VI_2 waits for its interface");
    assert!(
        vi2.host_fault
            .as_deref()
            .is_some_and(|f| f.contains("eth1")),
        "FAULT names the interface: {:?}",
        vi2.host_fault
    );
    assert_eq!(vi2.vips.len(), 2, "the new configuration: {:?}", vi2.vips);

    // The interface returns: VI_2 is served again (re-attached), as before the reload.
    lab.ip(
        &n1.ns,
        &format!("link add eth1 type veth peer name p-n1b netns {lan}"),
    );
    lab.ip(&lan, "link set p-n1b master br0 up");
    lab.ip(&n1.ns, "addr add 10.99.1.11/24 dev eth1");
    lab.ip(&n1.ns, "link set eth1 up");
    havip_lab::lab::wait_until("VI_2 serving eth1 again", LONG, || {
        lab.stats(&n1)
            .daemon
            .unwrap()
            .instances
            .iter()
            .any(|i| i.name == "VI_2" && i.state == "MASTER")
    });
    let _ = fs::remove_dir_all(&dir);
}

/// Found in the audit: SIGHUP read the configuration on the election's loop, so a file that
/// was slow to read stopped the adverts, and the backup took over. Here the new file is a FIFO
/// that the test writes a line at a time over 3 s; the master keeps advertising every 100 ms
/// (as its backup sees it) and the backup never takes over.
#[test]
fn a_slow_reload_does_not_stop_the_adverts() {
    use std::io::Write as _;
    let mut lab = Lab::new("slowrl");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = std::env::temp_dir().join(format!("hv-slowrl-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let conf = |priority: u32| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority \
             {priority}\n  advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    \
             10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let c1 = write(&dir, "n1.conf", &conf(101));
    let c2 = write(&dir, "n2.conf", &conf(100));
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    sleep(Duration::from_millis(500));

    // n1's file becomes a FIFO: reading it takes as long as its writer does.
    fs::remove_file(&c1).unwrap();
    let path = std::ffi::CString::new(c1.as_str()).unwrap();
    // SAFETY: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let capture = AdvertCapture::start(&n2.ns, "eth0", [10, 99, 0, 11]);
    sleep(Duration::from_millis(300));
    lab.proc("n1").signal(libc::SIGHUP);
    // A second SIGHUP during the read: the file is read again once the first read is done.
    sleep(Duration::from_millis(300));
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1")
        .wait_log("still being read; it will be read again", LONG);
    let fifo = c1.clone();
    let text = conf(101);
    let writer = std::thread::spawn(move || {
        let mut f = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let pause = Duration::from_millis(3000) / lines.len() as u32;
        for line in lines {
            f.write_all(line.as_bytes()).unwrap();
            f.flush().unwrap();
            sleep(pause);
        }
    });
    writer.join().unwrap();
    lab.proc("n1").wait_log("reload done", LONG);
    // The second read: the FIFO again, written at once this time.
    fs::write(&c1, conf(101)).unwrap();
    wait_until("the second reload", LONG, || {
        lab.proc("n1").log_text().matches("reload done").count() == 2
    });
    sleep(Duration::from_millis(300));
    let times = capture.stop();
    let gaps_ms: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    let longest = gaps_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "a reload read over 3 s: {} adverts seen by the backup, longest gap {longest:.1} ms",
        times.len()
    );
    assert!(
        longest < 130.0,
        "the master's adverts stopped for {longest:.1} ms during the reload"
    );
    assert!(times.len() >= 35, "{} adverts in ~3.6 s", times.len());
    assert_eq!(lab.proc("n1").state_now().as_deref(), Some("MASTER"));
    assert_eq!(lab.proc("n2").state_now().as_deref(), Some("BACKUP"));
    let n2_stats = lab.stats(&n2).daemon.unwrap();
    assert_eq!(
        n2_stats.instances[0].adverts.became_master, 0,
        "the backup took over during the reload"
    );

    // A read that never ends (nobody writes the FIFO) does not hold up a stop.
    lab.proc("n1").signal(libc::SIGHUP);
    wait_until("the third read", LONG, || {
        lab.proc("n1")
            .log_text()
            .matches("SIGHUP: reloading the configuration")
            .count()
            == 3
    });
    sleep(Duration::from_millis(200));
    lab.proc("n1").signal(libc::SIGTERM);
    let status = lab.proc("n1").wait_exit(Duration::from_secs(3));
    assert!(status.success(), "{status}");
    lab.proc("n2").wait_state("MASTER", LONG);
    let _ = fs::remove_dir_all(&dir);
}

/// A reload that changes only an instance's priority keeps its state, as keepalived's does: a
/// master raised stays master without a flap (it used to stop the instance, send priority 0,
/// hand the VIP to the backup and take it back a Master_Down_Interval later: chaos seed
/// 20261201 found it); a master lowered below its backup loses the VIP to it by preemption,
/// once, without priority 0.
#[test]
fn a_reload_that_changes_only_the_priority_keeps_the_state() {
    let mut lab = Lab::new("reprio");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = std::env::temp_dir().join(format!("hv-reprio-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = |prio: u8| {
        format!(
            "vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {prio}\n  advert_int 0.01\n  version 3\n  virtual_ipaddress {{\n    \
             10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let c1 = write(&dir, "n1.conf", &conf(150));
    let c2 = write(&dir, "n2.conf", &conf(120));
    lab.havip("n1", &n1, &["run", "--config", &c1])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2])
        .wait_started(LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    sleep(Duration::from_millis(300));
    let counters = |lab: &mut Lab, l: &str| {
        let s = lab.proc(l).snapshot().expect("a snapshot");
        let i = &s.instances[0];
        (i.adverts.clone(), i.effective_priority)
    };
    let (a1, _) = counters(&mut lab, "n1");
    let (b1, _) = counters(&mut lab, "n2");

    // Raised: still the highest. Nothing moves.
    fs::write(&c1, conf(160)).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload done", LONG);
    sleep(Duration::from_millis(300));
    let (a2, p) = counters(&mut lab, "n1");
    let (b2, _) = counters(&mut lab, "n2");
    assert_eq!(p, Some(160), "the new priority is not in effect");
    assert_eq!(
        (a2.transitions, a2.priority_zero_sent, b2.became_master),
        (a1.transitions, a1.priority_zero_sent, b1.became_master),
        "a raised master flapped: n1 {a2:?}, n2 {b2:?}"
    );

    // Lowered below n2: n2 preempts, once; n1 says no priority 0.
    fs::write(&c1, conf(100)).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n2").wait_state("MASTER", LONG);
    lab.proc("n1").wait_state("BACKUP", LONG);
    sleep(Duration::from_millis(300));
    let (a3, p) = counters(&mut lab, "n1");
    let (b3, _) = counters(&mut lab, "n2");
    assert_eq!(p, Some(100));
    assert_eq!(
        a3.priority_zero_sent, a1.priority_zero_sent,
        "n1 said priority 0"
    );
    assert_eq!(b3.became_master, b1.became_master + 1, "n2: {b3:?}");
    assert_eq!(a3.became_master, a1.became_master, "n1 came back: {a3:?}");
    let _ = fs::remove_dir_all(&dir);
}

/// keepalived's `vrrp_notify_fifo` as havip runs it: a missing FIFO is made at start and
/// removed at exit; a reload that names a path which is not a FIFO is refused and the running
/// FIFO keeps working; a start with such a path fails before anything is attached.
#[test]
fn notify_fifo_is_made_refused_when_not_a_fifo_and_removed_at_exit() {
    use std::os::unix::fs::FileTypeExt as _;
    let mut lab = Lab::new("fifo");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = lab.dir().to_path_buf();
    let fifo = dir.join("made.fifo");
    let plain = dir.join("plain");
    fs::write(&plain, "an operator's file\n").unwrap();
    let conf = |fifo: &Path| {
        format!(
            "global_defs {{\n  vrrp_notify_fifo {}\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  \
             virtual_router_id 51\n  advert_int 1\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n",
            fifo.display()
        )
    };
    let c = write(&dir, "n1.conf", &conf(&fifo));
    lab.havip("n1", &n1, &["run", "--config", &c])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    let meta = fs::symlink_metadata(&fifo).expect("havip made the FIFO");
    assert!(meta.file_type().is_fifo());

    // A reload naming a plain file: refused, the FIFO still in place.
    write(&dir, "n1.conf", &conf(&plain));
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload refused", LONG);
    assert!(
        lab.proc("n1").log_text().contains("is not a FIFO"),
        "{}",
        lab.proc("n1").log_text()
    );
    assert!(fifo.exists());
    assert_eq!(fs::read_to_string(&plain).unwrap(), "an operator's file\n");

    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    assert!(!fifo.exists(), "the FIFO havip made is left behind");

    // Started with the plain file: it fails, saying why, and leaves no XDP program.
    let c2 = write(&dir, "n2.conf", &conf(&plain));
    let p = lab.havip("bad", &n1, &["run", "--config", &c2]);
    assert!(!p.wait_exit(LONG).success());
    assert!(p.log_text().contains("is not a FIFO"), "{}", p.log_text());
    assert_eq!(lab.xdp_on(&n1), None, "an XDP program is left attached");
}

/// keepalived's `startup_script` and `shutdown_script`: the first runs and is waited for
/// before any interface is touched (it sees no XDP program though it sleeps a second first),
/// the second after the VIP is gone and XDP detached; a startup script that outlives its
/// `startup_script_timeout` is killed with its process group and the daemon goes on;
/// `vrrp_startup_delay` holds everything back (no XDP program) until it has passed.
#[test]
fn startup_script_runs_before_setup_shutdown_script_after_teardown() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut lab = Lab::new("life");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = lab.dir().to_path_buf();
    let script = |name: &str, body: &str| {
        let p = dir.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p.display().to_string()
    };
    let seen = |name: &str| dir.join(name).display().to_string();
    let up = script(
        "up.sh",
        &format!(
            "sleep 1\nip -o link show eth0 > {}\nip -o addr show eth0 >> {}",
            seen("up.seen"),
            seen("up.seen")
        ),
    );
    let down = script(
        "down.sh",
        &format!(
            "ip -o link show eth0 > {}\nip -o addr show eth0 >> {}",
            seen("down.seen"),
            seen("down.seen")
        ),
    );
    let conf = |globals: &str| {
        format!(
            "global_defs {{\n{globals}}}\nvrrp_instance VI_1 {{\n  interface eth0\n  state MASTER\n  \
             virtual_router_id 51\n  priority 150\n  advert_int 1\n  virtual_ipaddress {{\n    \
             10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let c = write(
        &dir,
        "n1.conf",
        &conf(&format!(
            "  startup_script {up}\n  shutdown_script {down}\n"
        )),
    );
    lab.havip("n1", &n1, &["run", "--config", &c, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    let up_seen = fs::read_to_string(dir.join("up.seen")).expect("the startup script ran");
    assert!(
        !up_seen.contains("xdp"),
        "XDP attached before the startup script ended:\n{up_seen}"
    );
    assert!(!up_seen.contains("10.99.0.100"), "{up_seen}");
    assert!(lab.xdp_on(&n1).is_some());
    assert!(
        !dir.join("down.seen").exists(),
        "the shutdown script ran at start"
    );

    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    let down_seen = fs::read_to_string(dir.join("down.seen")).expect("the shutdown script ran");
    assert!(
        !down_seen.contains("xdp"),
        "XDP still attached:\n{down_seen}"
    );
    assert!(
        !down_seen.contains("10.99.0.100"),
        "VIP still held:\n{down_seen}"
    );
    assert!(down_seen.contains("10.99.0.11/24"), "{down_seen}");

    // A startup script that hangs: killed at its timeout, the daemon starts anyway.
    let hang = script(
        "hang.sh",
        &format!("echo $$ > {}\nexec sleep 31.7", seen("hang.pid")),
    );
    let c2 = write(
        &dir,
        "n2.conf",
        &conf(&format!(
            "  startup_script {hang}\n  startup_script_timeout 1\n"
        )),
    );
    let started = std::time::Instant::now();
    lab.havip("n2", &n1, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "not waited for: started in {took:?}"
    );
    lab.proc("n2").wait_state("MASTER", LONG);
    assert!(
        lab.proc("n2").log_text().contains("timed out after 1s"),
        "{}",
        lab.proc("n2").log_text()
    );
    let pid: i32 = fs::read_to_string(dir.join("hang.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the timed-out startup script {pid} is still running"
    );
    let p = lab.proc("n2");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());

    // vrrp_startup_delay: nothing is attached until it has passed.
    let c3 = write(&dir, "n3.conf", &conf("  vrrp_startup_delay 1.5\n"));
    let started = std::time::Instant::now();
    lab.havip("n3", &n1, &["run", "--config", &c3, "--xdp-mode", "skb"])
        .wait_log("vrrp_startup_delay", LONG);
    sleep(Duration::from_millis(700));
    assert_eq!(
        lab.xdp_on(&n1),
        None,
        "XDP attached during the startup delay"
    );
    lab.proc("n3").wait_state("MASTER", LONG);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "MASTER after {took:?}");
}

/// keepalived's `track_file` as an operator drains a node: n1 (150) tracks `maint` at weight
/// -100 and `down` at weight 0. Writing 1 to `maint` drops it to 50 and n2 (100) takes over;
/// removing the file brings it back to 150 and MASTER; a number renamed onto `down` puts it in
/// FAULT; `init_file` made `maint` at start.
#[test]
fn track_file_numbers_move_the_priority_and_the_master() {
    let mut lab = Lab::new("tfile");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = lab.dir().to_path_buf();
    let maint = dir.join("maint");
    let down = dir.join("down");
    let conf = |prio: u32, track: bool| {
        let (files, tracked) = if track {
            (
                format!(
                    "track_file maint {{\n  file {}\n  weight -100\n  init_file 0\n}}\n\
                     vrrp_track_file down {{\n  file {}\n  weight 0\n}}\n",
                    maint.display(),
                    down.display()
                ),
                "  track_file {\n    maint\n    down\n  }\n",
            )
        } else {
            (String::new(), "")
        };
        format!(
            "{files}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n{tracked}}}\n"
        )
    };
    let c1 = write(&dir, "n1.conf", &conf(150, true));
    let c2 = write(&dir, "n2.conf", &conf(100, false));
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    assert_eq!(fs::read_to_string(&maint).unwrap().trim(), "0", "init_file");
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    let prio = |p: u8| {
        move |s: &havip::control::DaemonSnapshot| s.instances[0].effective_priority == Some(p)
    };
    lab.proc("n1")
        .wait_snapshot("priority 150", LONG, prio(150));

    fs::write(&maint, "1\n").unwrap();
    lab.proc("n1").wait_snapshot("priority 50", LONG, prio(50));
    lab.proc("n2").wait_state("MASTER", LONG);
    lab.proc("n1").wait_state("BACKUP", LONG);

    fs::remove_file(&maint).unwrap();
    lab.proc("n1")
        .wait_snapshot("priority 150 again", LONG, prio(150));
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);

    // Written elsewhere and renamed onto it, as tools that write atomically do.
    let tmp = dir.join("down.tmp");
    fs::write(&tmp, "0x1").unwrap();
    fs::rename(&tmp, &down).unwrap();
    lab.proc("n1").wait_state("FAULT", LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    fs::write(&down, "0").unwrap();
    lab.proc("n1").wait_state("MASTER", LONG);

    // A reload naming a file in a directory that does not exist: refused, the files followed.
    let gone = dir.join("no-such-dir/maint").display().to_string();
    write(
        &dir,
        "n1.conf",
        &conf(150, true).replace(&maint.display().to_string(), &gone),
    );
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1").wait_log("reload refused", LONG);
    assert!(
        lab.proc("n1")
            .log_text()
            .contains("refused, the running configuration stays: track_file maint:"),
        "{}",
        lab.proc("n1").log_text()
    );
    fs::write(&maint, "1\n").unwrap();
    lab.proc("n1")
        .wait_snapshot("priority 50 after the refused reload", LONG, prio(50));
    assert!(
        lab.proc("n1").log_text().contains("tracked file changed"),
        "{}",
        lab.proc("n1").log_text()
    );
}

/// keepalived's `unicast_ttl` and `unicast_peer { ADDR min_ttl N max_ttl M }`, through the
/// kernel: n1 (150) sends its unicast adverts with TTL 64. n2 (100) accepting only TTL 255
/// from n1 drops them all and is MASTER beside it; reloaded to accept 60..=64 it hears n1 and
/// goes BACKUP.
#[test]
fn unicast_ttl_is_sent_and_min_max_ttl_filter_it() {
    let mut lab = Lab::new("uttl");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let dir = lab.dir().to_path_buf();
    let conf = |prio: u32, peer: &str, extra: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n  version 3\n{extra}  unicast_peer {{\n    {peer}\n  }}\n  \
             virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let c1 = write(
        &dir,
        "n1.conf",
        &conf(150, "10.99.0.12", "  unicast_ttl 64\n"),
    );
    let c2 = write(&dir, "n2.conf", &conf(100, "10.99.0.11 min_ttl 255", ""));
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    sleep(Duration::from_millis(500));
    assert_eq!(
        lab.proc("n2").state_now().as_deref(),
        Some("MASTER"),
        "n2 heard adverts it should have dropped"
    );

    write(
        &dir,
        "n2.conf",
        &conf(100, "10.99.0.11 min_ttl 60 max_ttl 64", ""),
    );
    lab.proc("n2").signal(libc::SIGHUP);
    lab.proc("n2").wait_state("BACKUP", LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
}

/// keepalived's `notify_master_rx_lower_pri` under a flood: 3 s of spoofed lower-priority
/// adverts at 1000/s reach the master; keepalived would run the hook for each one the
/// election hears, havip at most once per advert interval (1 s here), and at least once.
#[test]
fn notify_master_rx_lower_pri_runs_at_most_once_per_advert_interval() {
    use havip_lab::probe::trafgen_advert;
    use std::os::unix::fs::PermissionsExt as _;
    let mut lab = Lab::new("rxlower");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let evil = lab.host("x", "10.99.0.66/24");
    let dir = lab.dir().to_path_buf();
    let heard = dir.join("heard");
    let hook = dir.join("hook.sh");
    fs::write(
        &hook,
        format!("#!/bin/sh\necho \"$#\" >> {}\n", heard.display()),
    )
    .unwrap();
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    let c = write(
        &dir,
        "n1.conf",
        &format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  state MASTER\n  virtual_router_id 51\n  \
             priority 150\n  advert_int 1\n  notify_master_rx_lower_pri {}\n  \
             virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n",
            hook.display()
        ),
    );
    lab.havip("n1", &n1, &["run", "--config", &c, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    let cfg = trafgen_advert(
        [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
        [224, 0, 0, 18],
        "10, 99, 0, 66",
        255,
        "51",
        50,
    );
    let cfg_path = write(&dir, "flood.cfg", &cfg);
    let started = std::time::Instant::now();
    lab.spawn(
        "trafgen",
        &evil.ns,
        &[
            "trafgen", "-o", "eth0", "-i", &cfg_path, "-t", "1ms", "-P", "1", "-q",
        ],
    );
    sleep(Duration::from_secs(3));
    let pid = lab.proc("trafgen").pid() as i32;
    // SAFETY: kill(2) on the process group of a process this test started.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    lab.proc("trafgen").wait_exit(Duration::from_secs(5));
    let secs = started.elapsed().as_secs_f64();
    sleep(Duration::from_millis(500)); // the last hook's run
    let runs = fs::read_to_string(&heard).unwrap_or_default();
    let runs: Vec<&str> = runs.lines().collect();
    assert!(!runs.is_empty(), "the hook never ran");
    assert!(
        runs.len() as f64 <= secs.ceil() + 1.0,
        "{} runs in {secs:.1} s at 1 s adverts",
        runs.len()
    );
    assert!(
        runs.iter().all(|r| *r == "0"),
        "arguments were passed: {runs:?}"
    );
    assert_eq!(lab.proc("n1").state_now().as_deref(), Some("MASTER"));
}

/// keepalived's `net_namespace NAME`: started in another namespace (an empty one here, so a
/// daemon that stayed there would find no eth0), havip enters /run/netns/NAME first and runs
/// there: the VIP and the XDP program on that namespace's eth0, its control socket found by
/// `ip netns exec NAME havip stats`, nothing left at SIGTERM. A namespace that does not exist
/// is refused at start with the way to make it.
#[test]
fn net_namespace_runs_the_daemon_in_that_namespace() {
    use havip_lab::lab::Launcher;
    let mut lab = Lab::new("netns");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let elsewhere = lab.add_ns("launch");
    let dir = std::env::temp_dir().join(format!("hv-netns-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = |ns: &str| {
        format!(
            "net_namespace {ns}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let good = write(&dir, "good.conf", &conf(&n1.ns));
    let p = lab.havip_in(
        Launcher::NsenterNet,
        "d",
        &elsewhere,
        &["run", "--config", &good, "--xdp-mode", "skb"],
    );
    // Its state is read where it runs.
    p.ns = n1.ns.clone();
    p.wait_started(LONG);
    lab.proc("d").wait_state("MASTER", LONG);
    assert!(lab.has_addr(&n1, "10.99.0.100"));
    assert!(
        lab.xdp_on(&n1).is_some(),
        "no XDP program on {}'s eth0",
        n1.ns
    );
    let stats = lab.proc("d").stats();
    assert_eq!(
        stats.daemon.as_ref().map(|d| d.pid),
        Some(lab.proc("d").pid()),
        "ip netns exec {} havip stats does not find the daemon",
        n1.ns
    );
    // Nothing of it where it was started.
    let here =
        havip::control::socket_path(&format!("ns{}", havip_lab::lab::netns_inode(&elsewhere)));
    assert!(!here.exists(), "{} exists", here.display());
    let log = lab.proc("d").log_text();
    assert!(log.contains("running in network namespace"), "{log}");
    let d = lab.proc("d");
    d.signal(libc::SIGTERM);
    assert!(d.wait_exit(LONG).success());
    assert!(!lab.has_addr(&n1, "10.99.0.100"));
    assert_eq!(lab.xdp_on(&n1), None);

    // A namespace that is not there: refused, saying how to make it.
    let missing = format!("{}-none", lab.prefix());
    let bad = write(&dir, "bad.conf", &conf(&missing));
    let p = lab.havip_in(
        Launcher::NsenterNet,
        "bad",
        &elsewhere,
        &["run", "--config", &bad, "--xdp-mode", "skb"],
    );
    let status = p.wait_exit(LONG);
    assert!(!status.success());
    let log = lab.proc("bad").log_text();
    assert!(
        log.contains(&format!("net_namespace {missing}")) && log.contains("ip netns add"),
        "{log}"
    );
    let _ = fs::remove_dir_all(&dir);
}

/// keepalived's `virtual_routes` and `virtual_rules` follow the VIP: the master adds them after
/// its VIPs (a gateway route with a metric, a blackhole, one with the VIP as its source, a
/// rule sending the VIP's traffic to table 100), a backup has none, a master that stops removes them, and the new master adds them. A route the kernel
/// refuses (its gateway is on no link) is logged as an error and the VIPs are held anyway. A
/// route a `kill -9` left behind is removed when havip starts again.
#[test]
fn virtual_routes_follow_the_master() {
    let mut lab = Lab::new("vroutes");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let _gw = lab.host("g", "10.99.0.1/24");
    let dir = std::env::temp_dir().join(format!("hv-vroutes-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = |prio: u8| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n  \
             virtual_routes {{\n    192.0.2.0/24 via 10.99.0.1 dev eth0 metric 7\n    \
             blackhole 198.51.100.0/24\n    src 10.99.0.100 203.0.113.0/24 via 10.99.0.1\n    \
             10.200.0.0/16 via 172.31.0.1\n  }}\n  virtual_rules {{\n    \
             from 10.99.0.100 table 100 priority 100\n  }}\n}}\n"
        )
    };
    let c1 = write(&dir, "n1.conf", &conf(150));
    let c2 = write(&dir, "n2.conf", &conf(100));
    let routes = |lab: &Lab, h: &Host| {
        [
            lab.ip(&h.ns, "route show 192.0.2.0/24"),
            lab.ip(&h.ns, "route show type blackhole"),
            lab.ip(&h.ns, "route show 203.0.113.0/24"),
            lab.ip(&h.ns, "rule show priority 100"),
        ]
        .join("")
    };
    let all_there = |r: &str| {
        r.contains("192.0.2.0/24 via 10.99.0.1 dev eth0")
            && r.contains("metric 7")
            && r.contains("blackhole 198.51.100.0/24")
            && r.contains("203.0.113.0/24 via 10.99.0.1 dev eth0")
            && r.contains("src 10.99.0.100")
            && r.contains("from 10.99.0.100 lookup 100")
    };
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    let r1 = routes(&lab, &n1);
    assert!(all_there(&r1), "the master's routes:\n{r1}");
    assert_eq!(
        routes(&lab, &n2).trim(),
        "",
        "a backup has no virtual route"
    );
    // The refused route is said loudly, and the VIP is held all the same.
    let log = lab.proc("n1").log_text();
    assert!(
        log.contains("virtual route not added") && log.contains("10.200.0.0/16"),
        "{log}"
    );
    assert!(lab.has_addr(&n1, "10.99.0.100"));
    // Another agent deletes the master's virtual route and rule: added back (keepalived 2.2.7
    // does the same); the backup, which has none, adds none.
    lab.ip(&n1.ns, "route del 192.0.2.0/24");
    lab.ip(&n1.ns, "rule del priority 100");
    wait_until("the master's route and rule back", LONG, || {
        all_there(&routes(&lab, &n1))
    });
    assert_eq!(
        routes(&lab, &n2).trim(),
        "",
        "a backup added a virtual route"
    );

    // The master stops: its routes go, the new master's come.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    p.wait_exit(LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    wait_until("n2's routes", LONG, || all_there(&routes(&lab, &n2)));
    assert_eq!(routes(&lab, &n1).trim(), "", "a stopped master left routes");

    // kill -9 leaves them; the next start removes them before anything else.
    let p = lab.proc("n2");
    p.signal(libc::SIGKILL);
    p.wait_exit(LONG);
    assert!(all_there(&routes(&lab, &n2)));
    lab.havip("n2b", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n2b").wait_state("MASTER", LONG);
    let log = lab.proc("n2b").log_text();
    assert!(
        log.contains("removed a virtual route left behind by a previous run")
            && log.contains("removed a virtual rule left behind by a previous run"),
        "{log}"
    );
    wait_until("n2's routes again", LONG, || all_there(&routes(&lab, &n2)));
    let _ = fs::remove_dir_all(&dir);
}

/// keepalived's `static_ipaddress`, `static_routes` and `static_rules`: there from the start whatever the
/// election (a backup has them too), gone at SIGTERM; one the kernel refuses is an error in
/// the log and the daemon runs on; after `kill -9` a new start finds them in place.
#[test]
fn static_addresses_and_routes_live_with_the_daemon() {
    let mut lab = Lab::new("static");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let _gw = lab.host("g", "10.99.0.1/24");
    let dir = std::env::temp_dir().join(format!("hv-static-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = |prio: u8, statics: bool| {
        let s = if statics {
            "static_ipaddress {\n  10.99.9.5/24 dev eth0 label eth0:st\n  192.0.2.77/32 dev eth9\n}\n\
             static_routes {\n  198.18.0.0/15 via 10.99.0.1 dev eth0\n  blackhole 203.0.113.0/24\n}\n\
             static_rules {\n  to 198.18.0.0/15 table 200 priority 200\n}\n"
        } else {
            ""
        };
        format!(
            "{s}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n"
        )
    };
    // n2 is the master; n1, with the static entries, a backup.
    let c2 = write(&dir, "n2.conf", &conf(150, false));
    let c1 = write(&dir, "n1.conf", &conf(100, true));
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    let statics = |lab: &Lab| {
        [
            lab.ip(&n1.ns, "-4 addr show dev eth0"),
            lab.ip(&n1.ns, "route show 198.18.0.0/15"),
            lab.ip(&n1.ns, "route show type blackhole"),
            lab.ip(&n1.ns, "rule show priority 200"),
        ]
        .join("")
    };
    let all_there = |s: &str| {
        s.contains("inet 10.99.9.5/24")
            && s.contains("eth0:st")
            && s.contains("198.18.0.0/15 via 10.99.0.1 dev eth0")
            && s.contains("blackhole 203.0.113.0/24")
            && s.contains("to 198.18.0.0/15 lookup 200")
    };
    let none_there = |s: &str| {
        !s.contains("10.99.9.5") && !s.contains("198.18.0.0") && !s.contains("203.0.113.0")
    };
    assert!(none_there(&statics(&lab)));
    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("BACKUP", LONG);
    let s = statics(&lab);
    assert!(all_there(&s), "a backup's static entries:\n{s}");
    let log = lab.proc("n1").log_text();
    assert!(
        log.contains("static address not added") && log.contains("192.0.2.77"),
        "{log}"
    );
    // Another agent deletes a static route and the static rule: added back, as keepalived
    // 2.2.7 adds back its own.
    lab.ip(&n1.ns, "route del 198.18.0.0/15");
    lab.ip(&n1.ns, "rule del priority 200");
    wait_until("the static route and rule back", LONG, || {
        all_there(&statics(&lab))
    });
    let log = lab.proc("n1").log_text();
    assert!(
        log.contains("route deleted by another agent: added back")
            && log.contains("rule deleted by another agent: added back"),
        "{log}"
    );
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    let s = statics(&lab);
    assert!(none_there(&s), "left at SIGTERM:\n{s}");

    lab.havip("n1b", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1b").wait_state("BACKUP", LONG);
    let p = lab.proc("n1b");
    p.signal(libc::SIGKILL);
    p.wait_exit(LONG);
    assert!(all_there(&statics(&lab)), "kill -9 removes nothing");
    lab.havip("n1c", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1c").wait_state("BACKUP", LONG);
    assert!(all_there(&statics(&lab)));
    let p = lab.proc("n1c");
    p.signal(libc::SIGTERM);
    assert!(p.wait_exit(LONG).success());
    assert!(none_there(&statics(&lab)));
    let _ = fs::remove_dir_all(&dir);
}

/// `no_accept`: a master that is not the address owner drops traffic to its VIPs (nftables, in
/// a table of havip's own) and still answers ARP for them; a master with Accept_Mode on
/// answers; others' tables are left alone; a reload follows the file; SIGTERM deletes the
/// table, a start after `kill -9` deletes the one left; without `nft` havip refuses to start.
#[test]
fn no_accept_drops_traffic_to_the_vips_of_a_master_that_is_not_the_owner() {
    let mut lab = Lab::new("noaccept");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    let dir = std::env::temp_dir().join(format!("hv-noaccept-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = |prio: u8, extra: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority {prio}\n  \
             advert_int 0.1\n{extra}\n  virtual_ipaddress {{\n    10.99.0.100/24\n  }}\n}}\n"
        )
    };
    let c1 = write(&dir, "n1.conf", &conf(150, "  no_accept"));
    let c1_accept = write(&dir, "n1-accept.conf", &conf(150, ""));
    let c2 = write(&dir, "n2.conf", &conf(100, ""));
    let nft = |lab: &Lab, h: &Host, args: &[&str]| {
        let mut argv = vec!["nft"];
        argv.extend_from_slice(args);
        let out = lab.exec(&h.ns, &argv);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let tables = |lab: &Lab, h: &Host| nft(lab, h, &["list", "tables"]);
    let pings = |lab: &Lab, to: &str| {
        let out = lab.exec(
            &client.ns,
            &["ping", "-c", "3", "-i", "0.2", "-W", "1", "-n", "-q", to],
        );
        out.status.success()
    };
    // Someone else's table in n1's namespace: havip must leave it be.
    nft(&lab, &n1, &["add", "table", "inet", "other"]);
    nft(
        &lab,
        &n1,
        &[
            "add",
            "chain",
            "inet",
            "other",
            "in",
            "{ type filter hook input priority 0; policy accept; }",
        ],
    );
    assert!(tables(&lab, &n1).contains("table inet other"));

    lab.havip("n1", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1").wait_state("MASTER", LONG);
    let table = nft(&lab, &n1, &["list", "table", "inet", "havip"]);
    assert!(
        table.contains("10.99.0.100") && table.contains("hook input priority filter - 1"),
        "{table}"
    );
    // ARP for the VIP is answered (the router is the next hop), the VIP's traffic dropped and
    // counted, the node's own address answers.
    let a = lab.arping(&client, "10.99.0.100", 3, 0.2);
    assert!(a.received >= 1, "no ARP answer for the VIP: {a:?}");
    assert!(
        !pings(&lab, "10.99.0.100"),
        "a no_accept master answered a ping to its VIP"
    );
    assert!(pings(&lab, "10.99.0.11"), "n1's own address must answer");
    let table = nft(&lab, &n1, &["list", "table", "inet", "havip"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains("ip daddr @vips4") && !l.contains("counter packets 0 ")),
        "the drop was not counted:\n{table}"
    );

    // The backup (Accept_Mode on) has no table; when n1 stops its table goes (the other
    // stays), and the new master answers.
    lab.havip("n2", &n2, &["run", "--config", &c2, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    assert!(
        !tables(&lab, &n2).contains("havip"),
        "{}",
        tables(&lab, &n2)
    );

    // A reload to Accept_Mode on removes the table; back to no_accept brings it back.
    fs::copy(&c1_accept, &c1).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    lab.proc("n1")
        .wait_log("no_accept: nftables table removed", LONG);
    wait_until("n1 master again", LONG, || {
        lab.proc("n1").state_now().as_deref() == Some("MASTER")
    });
    assert!(!tables(&lab, &n1).contains("havip"));
    assert!(
        pings(&lab, "10.99.0.100"),
        "Accept_Mode on: the VIP answers"
    );
    fs::write(&c1, conf(150, "  no_accept")).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    wait_until("the table back", LONG, || {
        tables(&lab, &n1).contains("table inet havip")
    });
    wait_until("n1 master again", LONG, || {
        lab.proc("n1").state_now().as_deref() == Some("MASTER")
    });
    assert!(!pings(&lab, "10.99.0.100"));

    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    p.wait_exit(LONG);
    let t = tables(&lab, &n1);
    assert!(
        !t.contains("havip") && t.contains("table inet other"),
        "{t}"
    );
    lab.proc("n2").wait_state("MASTER", LONG);
    assert!(pings(&lab, "10.99.0.100"), "an accepting master answers");

    // kill -9 leaves the table; the next start without no_accept deletes it.
    lab.havip("n1b", &n1, &["run", "--config", &c1, "--xdp-mode", "skb"])
        .wait_started(LONG);
    lab.proc("n1b").wait_state("MASTER", LONG);
    let p = lab.proc("n1b");
    p.signal(libc::SIGKILL);
    p.wait_exit(LONG);
    assert!(tables(&lab, &n1).contains("table inet havip"));
    lab.havip(
        "n1c",
        &n1,
        &["run", "--config", &c1_accept, "--xdp-mode", "skb"],
    )
    .wait_started(LONG);
    lab.proc("n1c")
        .wait_log("removed the nftables table a previous run left", LONG);
    let t = tables(&lab, &n1);
    assert!(
        !t.contains("havip") && t.contains("table inet other"),
        "{t}"
    );
    let p = lab.proc("n1c");
    p.signal(libc::SIGTERM);
    p.wait_exit(LONG);

    // No nft on the PATH: havip says so and does not start.
    let havip = havip_exe();
    let p = lab.spawn(
        "n1d",
        &n1.ns,
        &[
            "env",
            "PATH=/usr/bin:/bin",
            havip.to_str().unwrap(),
            "run",
            "--config",
            &c1,
            "--xdp-mode",
            "skb",
        ],
    );
    let status = p.wait_exit(LONG);
    assert!(!status.success());
    let log = p.log_text();
    assert!(log.contains("the nft command is not installed"), "{log}");
    assert!(!lab.has_addr(&n1, "10.99.0.100"));
    let _ = fs::remove_dir_all(&dir);
}

/// A SIGHUP that reaches `havip run` while it is still starting (reading its file, loading XDP,
/// setting up) is a reload once the daemon runs, never its end: the 30-minute chaos run of seed
/// 1202 had a daemon, restarted after `kill -9`, die of a reload sent 470 ms later.
#[test]
fn a_sighup_while_starting_does_not_kill_the_daemon() {
    let mut lab = Lab::new("hupstart");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = std::env::temp_dir().join(format!("hv-hupstart-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = write(
        &dir,
        "n1.conf",
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 150\n  \
         advert_int 0.1\n  virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n",
    );
    let p = lab.havip("n1", &n1, &["run", "--config", &conf, "--xdp-mode", "skb"]);
    let pid = p.pid();
    // Once the launcher has become havip (a SIGHUP before that is the launcher's), SIGHUPs
    // every 10 ms through its start.
    let comm = || fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    wait_until("havip's own process", LONG, || comm().starts_with("havip"));
    for _ in 0..50 {
        p.signal(libc::SIGHUP);
        sleep(Duration::from_millis(10));
    }
    p.wait_started(LONG);
    p.wait_state("MASTER", LONG);
    p.signal(libc::SIGHUP);
    p.wait_log("reload done", LONG);
    let _ = fs::remove_dir_all(&dir);
}
