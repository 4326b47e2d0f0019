//! Local hardening, on a running daemon: after set-up every thread of havip keeps exactly the
//! documented capabilities with no_new_privs; the control socket is 0600 in a 0700 directory
//! under a permissive umask; checks and hooks run as `script_user` with a clean environment;
//! check-config names an insecure script's file:line; CAP_BPF without CAP_PERFMON is refused
//! with the capability named.

use std::{
    fs,
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use havip_lab::lab::{havip_exe, wait_until, Lab};

const LONG: Duration = Duration::from_secs(15);

/// CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_ADMIN, CAP_NET_RAW: what ARCHITECTURE.md
/// ("Privileges") says the running daemon keeps.
/// CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_NET_ADMIN, CAP_NET_RAW: what a daemon started as
/// another user with just those keeps.
const AS_USER_SET: u64 = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 12) | (1 << 13);
/// As root: those, CAP_DAC_READ_SEARCH and CAP_BPF.
const RUNNING_SET: u64 = AS_USER_SET | (1 << 2) | (1 << 39);

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("hv-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let p = self.0.join(name);
        fs::write(&p, text).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn field<'a>(status: &'a str, name: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .trim()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().mode() & 0o7777
}

/// CAP_SYS_ADMIN, kept with `--metrics-listen` (each scrape opens the XDP maps by id).
const SYS_ADMIN: u64 = 1 << 21;

/// Every thread of `pid` has exactly `set` (effective, permitted, bounding), nothing
/// inheritable or ambient, and no_new_privs. Returns the number of threads.
fn assert_caps(pid: u32, set: u64) -> usize {
    let mut threads = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let status = fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        let hex = |name| u64::from_str_radix(field(&status, name), 16).unwrap();
        let name = field(&status, "Name:").to_string();
        for s in ["CapEff:", "CapPrm:", "CapBnd:"] {
            assert_eq!(hex(s), set, "thread {name}: {s}\n{status}");
        }
        assert_eq!(hex("CapInh:"), 0, "thread {name}\n{status}");
        assert_eq!(hex("CapAmb:"), 0, "thread {name}\n{status}");
        assert_eq!(field(&status, "NoNewPrivs:"), "1", "thread {name}");
        threads += 1;
    }
    eprintln!("pid {pid}: {threads} threads, each CapEff = CapBnd = {set:016x}, NoNewPrivs 1");
    threads
}

/// The daemon as root, started under umask 000 with a check and hooks as `script_user
/// nobody`: every thread's capabilities are the running set, the control socket 0600 in a 0700
/// /run/havip, scripts run as nobody with PATH alone, and the daemon still does its work
/// (MASTER with the VIP, then a clean teardown). A second daemon with `--metrics-listen` keeps
/// CAP_SYS_ADMIN too, and its scrapes still read the XDP counters.
///
/// Before: CapEff 000001fffeffffff (all 41) on every thread, NoNewPrivs 0, the socket 0777 and
/// /run/havip 0755, and the check ran as uid 0.
#[test]
fn running_daemon_keeps_the_documented_capabilities_and_runs_scripts_as_script_user() {
    let mut lab = Lab::new("privs");
    let n1 = lab.host("n1", "10.98.0.11/24");
    let n2 = lab.host("n2", "10.98.0.12/24");
    let dir = Dir::new("privs");
    let out = dir.0.join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    let chk = dir.file(
        "chk.sh",
        &format!("#!/bin/sh\nid -u > {0}/check.uid\nexit 0\n", out.display()),
        0o755,
    );
    let hook = dir.file(
        "hook.sh",
        &format!(
            "#!/bin/sh\nid -u > {0}/hook.uid\nenv > {0}/hook.env\n",
            out.display()
        ),
        0o755,
    );
    let conf = dir.file(
        "n1.conf",
        &format!(
            "global_defs {{\n  enable_script_security\n  script_user nobody\n}}\n\
             vrrp_script chk {{\n  script {}\n  interval 0.2\n}}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 61\n  priority 150\n  \
             advert_int 0.1\n  version 3\n  virtual_ipaddress {{\n    10.98.0.100/24\n  }}\n  \
             track_script {{\n    chk\n  }}\n  notify_master {}\n}}\n",
            chk.display(),
            hook.display()
        ),
        0o644,
    );
    // The umask havip inherits (this test binary's other tests do not mind it).
    let old = unsafe { libc::umask(0) };
    let p = lab.havip(
        "n1",
        &n1,
        &[
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--xdp-mode",
            "skb",
        ],
    );
    unsafe { libc::umask(old) };
    p.wait_state("MASTER", LONG);
    p.wait_owned(LONG);
    p.wait_checks_healthy(LONG);
    let pid = p.pid();
    wait_until("the hook ran", LONG, || out.join("hook.env").exists());
    let threads = assert_caps(pid, RUNNING_SET);
    assert!(
        threads >= 2,
        "no thread besides the driver's: the check ran on none"
    );

    let m = lab.havip(
        "n2",
        &n2,
        &[
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.98.0.101/24",
            "--vrid",
            "62",
            "--xdp-mode",
            "skb",
            "--metrics-listen",
            "127.0.0.1:9487",
        ],
    );
    m.wait_owned(LONG);
    let mpid = m.pid();
    // The metrics thread started after the drop, and its scrapes still read the XDP maps.
    let scraped = lab.exec(
        &n2.ns,
        &[
            "curl",
            "-s",
            "--max-time",
            "5",
            "http://127.0.0.1:9487/metrics",
        ],
    );
    let text = String::from_utf8_lossy(&scraped.stdout);
    assert!(text.contains("havip_xdp_"), "no XDP counters: {text}");
    assert!(assert_caps(mpid, RUNNING_SET | SYS_ADMIN) >= 2);

    let inode = fs::metadata(format!("/proc/{pid}/ns/net")).unwrap().ino();
    let socket = Path::new("/run/havip").join(format!("ns{inode}.sock"));
    assert_eq!(mode(Path::new("/run/havip")), 0o700);
    assert_eq!(mode(&socket), 0o600, "{}", socket.display());

    let nobody = "65534";
    assert_eq!(
        fs::read_to_string(out.join("check.uid")).unwrap().trim(),
        nobody
    );
    assert_eq!(
        fs::read_to_string(out.join("hook.uid")).unwrap().trim(),
        nobody
    );
    let env = fs::read_to_string(out.join("hook.env")).unwrap();
    assert!(
        env.contains("PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"),
        "{env}"
    );
    assert!(!env.contains("HOME=") && !env.contains("CARGO"), "{env}");

    // Teardown still works with the reduced set: VIP removed, XDP detached.
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    let status = p.wait_exit(LONG);
    assert!(status.success(), "{status}");
    assert!(!lab.has_addr(&n1, "10.98.0.100"));
    assert_eq!(lab.xdp_on(&n1), None);
}

/// `havip check-config` names the insecure script's file:line and fails (before: "valid (1
/// instance, 0 warnings)").
#[test]
fn check_config_refuses_an_insecure_script_with_its_place() {
    let dir = Dir::new("privs-cc");
    let open = dir.0.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let chk = open.join("chk.sh");
    fs::write(&chk, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&chk, fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.file(
        "k.conf",
        &format!(
            "global_defs {{\n  enable_script_security\n  script_user root\n}}\n\
             vrrp_script chk {{\n  script {}\n}}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 1\n  priority 100\n  \
             virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  track_script {{\n    chk\n  }}\n}}\n",
            chk.display()
        ),
        0o644,
    );
    let out = Command::new(havip_exe())
        .args(["check-config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("{}:5:13: error: vrrp_script chk:", conf.display())),
        "{text}"
    );
    assert!(text.contains("is writable by others"), "{text}");
}

/// CAP_BPF without CAP_PERFMON passed the old check, then the verifier refused the program
/// ("R1 pointer -= pointer prohibited"). Now start-up refuses it naming CAP_PERFMON, before
/// touching the interface.
#[test]
fn cap_bpf_without_cap_perfmon_is_refused_by_name() {
    let mut lab = Lab::new("privs-caps");
    let n1 = lab.host("n1", "10.98.1.11/24");
    let exe = havip_exe();
    let out = lab.exec(
        &n1.ns,
        &[
            "setpriv",
            "--inh-caps=-all",
            "--bounding-set=-all,+net_admin,+net_raw,+bpf",
            exe.to_str().unwrap(),
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.98.1.100/24",
            "--vrid",
            "9",
            "--xdp-mode",
            "skb",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert!(!out.status.success());
    assert!(err.contains("CAP_PERFMON"), "{err}");
    assert!(!err.contains("Verifier output"), "{err}");
    assert_eq!(lab.xdp_on(&n1), None);
}

/// The way ARCHITECTURE.md ("Privileges") says to run havip as another user: uid nobody with
/// the start-up set as ambient capabilities (what systemd's `User=` + `AmbientCapabilities=`
/// give), its run-time directory its own (`RuntimeDirectory=`; here a tmpfs in a mount
/// namespace of its own). It takes the VIP, keeps the running set with no_new_privs, and
/// releases everything at SIGTERM.
#[test]
fn runs_as_another_user_with_ambient_capabilities() {
    let mut lab = Lab::new("privs-user");
    let n1 = lab.host("n1", "10.98.2.11/24");
    let dir = Dir::new("privs-user");
    let caps = "+net_admin,+net_raw,+sys_admin,+setuid,+setgid,+kill";
    let script = dir.file(
        "start.sh",
        &format!(
            "set -e\nmount -t tmpfs -o mode=0700,uid=65534,gid=65534 tmpfs /run/havip\n\
             exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps={caps} \
             --ambient-caps={caps} {} run --iface eth0 --vip 10.98.2.100/24 --vrid 7 \
             --xdp-mode skb\n",
            havip_exe().display()
        ),
        0o755,
    );
    let p = lab.spawn(
        "n1",
        &n1.ns,
        &[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            script.to_str().unwrap(),
        ],
    );
    let pid = p.pid();
    let log = p.log.clone();
    wait_until("the VIP is held", LONG, || lab.has_addr(&n1, "10.98.2.100"));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(field(&status, "Uid:").starts_with("65534"), "{status}");
    let hex = |name| u64::from_str_radix(field(&status, name), 16).unwrap();
    assert_eq!(hex("CapEff:"), AS_USER_SET, "{status}");
    assert_eq!(hex("CapPrm:"), AS_USER_SET, "{status}");
    assert_eq!(hex("CapAmb:"), 0, "{status}");
    assert_eq!(field(&status, "NoNewPrivs:"), "1");
    let p = lab.proc("n1");
    p.signal(libc::SIGTERM);
    let exit = p.wait_exit(LONG);
    assert!(
        exit.success(),
        "{exit}: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(!lab.has_addr(&n1, "10.98.2.100"));
    assert_eq!(lab.xdp_on(&n1), None);
}

/// Hook processes of the running daemon under a flapping check (weight 0: FAULT, BACKUP, FAULT
/// ... 20 times a second) with a slow `notify` hook: at most 4 live at once (4 transitions'
/// hooks of the instance; the others wait or are skipped). Measured with this test: 103
/// transitions in 3 s, at most 4; the previous build: 66 transitions, 21 hooks at once (and
/// with 5 s hooks over 5 s, 100 at once). Each hook marks itself live in a directory read in
/// one getdents: a scan of /proc is not atomic, and one hook ending during it while the next
/// starts at a higher pid counted both (5 in CI).
#[test]
fn a_flapping_instance_keeps_its_hook_processes_bounded() {
    let mut lab = Lab::new("privs-flap");
    let n1 = lab.host("n1", "10.98.3.11/24");
    let dir = Dir::new("privs-flap");
    let state = dir.0.join("up");
    let flap = dir.file(
        "flap.sh",
        &format!(
            "#!/bin/sh\nif [ -e {0} ]; then rm {0}; exit 1; else touch {0}; exit 0; fi\n",
            state.display()
        ),
        0o755,
    );
    let live_dir = dir.0.join("live");
    fs::create_dir(&live_dir).unwrap();
    let hook = dir.file(
        "hook.sh",
        &format!(
            "#!/bin/sh\ntouch {0}/$$\nsleep 1\nrm {0}/$$\n",
            live_dir.display()
        ),
        0o755,
    );
    let conf = dir.file(
        "n1.conf",
        &format!(
            "vrrp_script flap {{\n  script {}\n  interval 0.05\n  weight 0\n}}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 63\n  priority 100\n  \
             virtual_ipaddress {{\n    10.98.3.100/24\n  }}\n  track_script {{\n    flap\n  }}\n  \
             notify {}\n}}\n",
            flap.display(),
            hook.display()
        ),
        0o644,
    );
    let p = lab.havip(
        "n1",
        &n1,
        &[
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--xdp-mode",
            "skb",
        ],
    );
    p.wait_started(LONG);
    let live = || fs::read_dir(&live_dir).unwrap().count();
    let mut most = 0;
    for _ in 0..30 {
        most = most.max(live());
        std::thread::sleep(Duration::from_millis(100));
    }
    let transitions = p.log_text().matches("transition").count();
    eprintln!("{transitions} transitions in 3 s: at most {most} hook processes at once");
    assert!(transitions >= 20, "the check did not flap: {transitions}");
    assert!(most <= 4, "{most} hook processes at once");
    assert!(most >= 1, "no hook ran");
}
