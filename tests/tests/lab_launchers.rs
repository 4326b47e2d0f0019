//! The fail-safe however havip is started: a master and a backup (VRRPv3, 10 ms adverts, skb
//! mode) and a client, the master killed with `kill -9`, once per way of starting it
//! (`nsenter --net`, `ip netns exec`, a mount namespace of its own, a host without bpffs).
//! From one Master_Down_Interval after the kill only the backup's MAC may answer ARP for the
//! VIP, the dead node may send no ARP reply for it (its kernel still holds the VIP: the attack),
//! and `havip stats --json` in the dead node's namespace still shows its XDP counters.
//!
//! Every check is collected before the test fails, so one run shows all that broke. A first
//! test checks, from the kernel's side, that each launcher gives what it claims.

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    thread::sleep,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use havip_lab::{
    lab::{wait_until, Host, Lab, Launcher},
    probe::{mac, mac_str, ArpProbe},
    scenario::{havip_args, Vrrp},
};

const VIP: &str = "10.99.0.100";
const VIP_B: [u8; 4] = [10, 99, 0, 100];
const ADVERT: Duration = Duration::from_millis(10);
const LONG: Duration = Duration::from_secs(10);
/// How late the client's ARP prober may stamp a reply it received.
const RECV_SLACK: Duration = Duration::from_millis(15);

/// Master_Down_Interval at 10 ms adverts (RFC 9568 §6.1: 3 × interval + skew).
fn mdi(priority: u32) -> Duration {
    ADVERT * 3 + ADVERT * (256 - priority) / 256
}

fn start(lab: &mut Lab, launcher: Launcher, label: &str, host: &Host, priority: u8) {
    let args = havip_args(Vrrp::v3("0.01"), priority, "skb");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.havip_with(launcher, label, host, &args)
        .wait_started(LONG);
}

/// Wall-clock seconds, as `tcpdump -tt` prints them.
fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The lines of ARP replies for the VIP in a `tcpdump -tt -e -nn` log stamped `since` or later.
fn vip_replies(log: &str, since: f64) -> Vec<String> {
    let needle = format!("Reply {VIP} is-at");
    log.lines()
        .filter(|l| l.contains(&needle))
        .filter(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|t| t >= since)
        })
        .map(str::to_string)
        .collect()
}

fn kill_9_of_the_master_leaves_only_the_backup_answering(launcher: Launcher, name: &str) {
    let mut lab = Lab::new(name);
    let n1 = lab.host("n1", "10.99.0.11/24");
    let n2 = lab.host("n2", "10.99.0.12/24");
    let client = lab.host("c", "10.99.0.50/24");
    let lan = lab.lan();
    // Everything n1 sends onto the LAN (XDP's replies included), seen on its bridge port...
    lab.spawn(
        "port-capture",
        &lan,
        &[
            "tcpdump", "-i", &n1.port, "-nn", "-l", "-tt", "-e", "-Q", "in", "arp",
        ],
    )
    .wait_log("listening on", LONG);
    // ...and what n1's kernel itself sends (XDP_TX frames bypass the taps, kernel replies don't).
    lab.spawn(
        "kernel-capture",
        &n1.ns,
        &[
            "tcpdump", "-i", "eth0", "-nn", "-l", "-tt", "-e", "-Q", "out", "arp",
        ],
    )
    .wait_log("listening on", LONG);
    start(&mut lab, launcher, "n1", &n1, 101);
    start(&mut lab, launcher, "n2", &n2, 100);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    sleep(mdi(100) * 3); // the backup hears a few adverts

    let probe = ArpProbe::start(
        &client.ns,
        "eth0",
        mac(&client.mac),
        [10, 99, 0, 50],
        VIP_B,
        Duration::from_millis(5),
    );
    let probe_started = probe.started();
    sleep(Duration::from_millis(200));
    let killed_at = Instant::now();
    let killed_wall = SystemTime::now();
    let n1p = lab.proc("n1");
    n1p.signal(libc::SIGKILL);
    n1p.wait_exit(LONG);
    lab.proc("n2").wait_state("MASTER", LONG);
    // Long enough for a detached program's kernel to answer many requests.
    sleep(Duration::from_millis(500));
    let replies = probe.stop();

    let mut failed: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failed.push(what);
        }
    };
    check(
        lab.has_addr(&n1, VIP),
        "kill -9 should leave the VIP on n1's eth0: the case the fail-safe covers".into(),
    );
    check(
        lab.xdp_on(&n1).is_some(),
        format!(
            "no XDP program on the dead n1's eth0 after kill -9 ({launcher:?}): {}",
            lab.ip(&n1.ns, "link show dev eth0").trim()
        ),
    );

    let (m1, m2) = (mac(&n1.mac), mac(&n2.mac));
    let kill_at = killed_at - probe_started;
    // The master answered before the kill, and only it: otherwise the checks after the kill
    // would pass for a launcher under which n1's replies never reached the wire.
    check(
        replies.iter().any(|r| r.at < kill_at && r.mac == m1),
        format!("n1 answered nothing before the kill ({launcher:?})"),
    );
    check(
        !replies.iter().any(|r| r.at < kill_at && r.mac == m2),
        format!("n2 answered while n1 was master ({launcher:?})"),
    );
    // The prober stamps a reply when its thread wakes up, late by a few ms when the machine is
    // busy: it gets RECV_SLACK. The capture on n1's bridge port (kernel timestamps) below
    // checks the exact bound.
    let settled = kill_at + mdi(100) + RECV_SLACK;
    let late: Vec<String> = replies
        .iter()
        .filter(|r| r.at >= settled && r.mac != m2)
        .map(|r| format!("+{:?} {}", r.at - kill_at, mac_str(&r.mac)))
        .collect();
    check(
        late.is_empty(),
        format!(
            "the client got {} ARP replies for the VIP not from the backup ({}) from one \
             Master_Down_Interval ({:?}, + {RECV_SLACK:?}) after the kill on; n1 is {}; first: \
             {:?}",
            late.len(),
            n2.mac,
            mdi(100),
            n1.mac,
            &late[..late.len().min(5)]
        ),
    );
    check(
        replies.iter().any(|r| r.at >= settled && r.mac == m2),
        "the backup never answered after taking over".into(),
    );
    // The time until only the backup answers: after the last other answer, its first one.
    let last_other = replies
        .iter()
        .filter(|r| r.at >= kill_at && r.mac != m2)
        .map(|r| r.at)
        .max();
    let only_backup_from = replies
        .iter()
        .filter(|r| r.mac == m2 && r.at >= kill_at && last_other.is_none_or(|t| r.at > t))
        .map(|r| r.at)
        .min();
    let last_n1 = replies.iter().filter(|r| r.mac == m1).map(|r| r.at).max();
    eprintln!(
        "{launcher:?}: after kill -9 only the backup answers from +{} (n1's last answer at {}, \
         Master_Down_Interval {:?}; {} replies in all)",
        only_backup_from.map_or("never".into(), |t| format!("{:?}", t - kill_at)),
        last_n1.map_or("none".into(), |t| format!(
            "+{:?}",
            t.saturating_sub(kill_at)
        )),
        mdi(100),
        replies.len()
    );

    // arping as an operator would: only the backup's MAC.
    let r = lab.arping(&client, VIP, 5, 0.02);
    check(
        r.received == 5 && r.macs.iter().all(|m| *m == n2.mac),
        format!("arping after the takeover: {r:?} (backup {})", n2.mac),
    );

    let since = epoch_secs(killed_wall) + mdi(100).as_secs_f64();
    let from_n1 = vip_replies(&lab.proc("port-capture").log_text(), since);
    check(
        from_n1.is_empty(),
        format!(
            "n1 sent {} ARP replies for the VIP onto the LAN from one Master_Down_Interval after \
             the kill on: {:?}",
            from_n1.len(),
            &from_n1[..from_n1.len().min(3)]
        ),
    );
    let kernel = vip_replies(
        &lab.proc("kernel-capture").log_text(),
        epoch_secs(killed_wall),
    );
    check(
        kernel.is_empty(),
        format!(
            "n1's kernel answered ARP for the VIP {} times after the kill: {:?}",
            kernel.len(),
            &kernel[..kernel.len().min(3)]
        ),
    );

    // `havip stats --json` in the dead node's namespace (`ip netns exec`, as a user types).
    let s = lab.stats(&n1);
    check(
        s.daemon.is_none(),
        format!(
            "a daemon answers in the dead n1's namespace: {:?}",
            s.daemon
        ),
    );
    match s
        .xdp
        .as_ref()
        .and_then(|x| x.vips.iter().find(|v| v.vip == VIP))
    {
        None => check(
            false,
            format!("`havip stats --json` on the dead n1 shows no XDP counters for the VIP: {s:?}"),
        ),
        Some(v) => check(
            v.dropped_stale_heartbeat > 0,
            format!("n1's XDP dropped no request as stale after the kill: {v:?}"),
        ),
    }

    assert!(
        failed.is_empty(),
        "kill -9 of the master started with {launcher:?}:\n  - {}",
        failed.join("\n  - ")
    );
}

#[test]
fn kill_9_nsenter_net() {
    kill_9_of_the_master_leaves_only_the_backup_answering(Launcher::NsenterNet, "k9-nsenter");
}

#[test]
fn kill_9_ip_netns_exec() {
    kill_9_of_the_master_leaves_only_the_backup_answering(Launcher::IpNetnsExec, "k9-ipnetns");
}

#[test]
fn kill_9_own_mount_namespace() {
    kill_9_of_the_master_leaves_only_the_backup_answering(Launcher::UnshareMount, "k9-unshare");
}

#[test]
fn kill_9_no_bpffs() {
    kill_9_of_the_master_leaves_only_the_backup_answering(Launcher::NoBpffs, "k9-nobpffs");
}

/// Mount points of bpffs instances in a mountinfo text (fstype after the ` - ` separator).
fn bpffs_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next() == Some("bpf"))
                .then(|| left.split_whitespace().nth(4).unwrap_or("?").to_string())
        })
        .collect()
}

/// The launchers do what they claim, read from the kernel: the lab's network namespace; the
/// test's mount namespace or one of the process's own; no bpffs on /sys/fs/bpf under
/// `ip netns exec`, none at all under `NoBpffs`; and no wrapper process (the pid a lab signals
/// is the program's own).
#[test]
fn launchers_give_the_namespaces_they_claim() {
    let mut lab = Lab::new("launchers");
    let host = lab.host("n1", "10.99.0.11/24");
    let netns = fs::metadata(format!("/run/netns/{}", host.ns))
        .unwrap()
        .ino();
    let own_mnt = fs::read_link("/proc/self/ns/mnt").unwrap();
    for launcher in Launcher::ALL {
        let out = lab.exec_with(
            launcher,
            &host.ns,
            &[
                "sh",
                "-c",
                "stat -L -c %i /proc/self/ns/net; readlink /proc/self/ns/mnt; cat /proc/self/mountinfo",
            ],
        );
        assert!(
            out.status.success(),
            "{launcher:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let net: u64 = lines.next().unwrap().trim().parse().unwrap();
        let mnt = lines.next().unwrap().trim().to_string();
        let bpffs = bpffs_mounts(&lines.collect::<Vec<_>>().join("\n"));
        assert_eq!(
            net, netns,
            "{launcher:?} is not in the lab's network namespace"
        );
        let same_mnt = mnt == own_mnt.to_string_lossy();
        assert_eq!(
            same_mnt,
            launcher == Launcher::NsenterNet,
            "{launcher:?}: mount namespace {mnt} (the test's: {own_mnt:?})"
        );
        match launcher {
            Launcher::IpNetnsExec => assert!(
                !bpffs.iter().any(|m| m == "/sys/fs/bpf"),
                "ip netns exec kept a bpffs on /sys/fs/bpf: {bpffs:?}"
            ),
            Launcher::NoBpffs => assert!(bpffs.is_empty(), "bpffs still mounted: {bpffs:?}"),
            Launcher::NsenterNet | Launcher::UnshareMount => {}
        }

        let label = format!("sleep-{launcher:?}");
        let pid = lab
            .spawn_with(launcher, &label, &host.ns, &["sleep", "30"])
            .pid();
        wait_until(&format!("{label} to exec sleep"), LONG, || {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        });
        let p = lab.proc(&label);
        p.signal(libc::SIGKILL);
        p.wait_exit(LONG);
    }
}
