//! Network-namespace labs: a LAN (a namespace holding a bridge), hosts joined to it by veth
//! pairs, and the processes running in them. Everything a `Lab` creates is torn down when it
//! drops, also when the test panics: processes are killed, havip's pins for the lab's
//! namespaces removed, namespaces deleted. Names start with `hv-<test>-<pid>-`, so two tests
//! (or two runs) never collide.

use std::{
    collections::BTreeSet,
    fs::{self, File},
    os::unix::process::CommandExt as _,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use havip::{
    control::{self, DaemonSnapshot, InstanceSnapshot},
    dataplane::Dataplane,
    stats::{Stats, VipStats},
};

use crate::require_root;

/// The havip executable under test: this package's `havip-test` binary, which cargo builds
/// before it runs the package's integration tests (from `target/<profile>/deps/<test>`).
///
/// `HAVIP_LAB_EXE=PATH` runs the labs against another build instead (e.g. the previous commit's
/// `havip-test`, to see a new test fail without the change it tests).
pub fn havip_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("HAVIP_LAB_EXE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("a directory");
    // Binaries of this package sit next to it; its integration tests one level down, in deps/.
    let candidates = [
        dir.join("havip-test"),
        dir.parent().unwrap_or(dir).join("havip-test"),
    ];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "havip-test is missing next to {}: run through `cargo xtask`",
                exe.display()
            )
        })
}

/// How a lab starts a process in a host's network namespace. They differ in the mount
/// namespace the process gets, which decides where /sys/fs/bpf points (and so whether pins in it
/// outlive the process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// `nsenter --net=/run/netns/NS CMD`: the test's own mount namespace, the host's bpffs.
    /// The labs' default.
    NsenterNet,
    /// `ip netns exec NS CMD`, what users type: a private mount namespace with a fresh /sys, so
    /// no bpffs on /sys/fs/bpf, and whatever the process mounts there dies with it.
    IpNetnsExec,
    /// `nsenter --net=... unshare --mount --propagation private CMD`: a mount namespace of the
    /// process's own (as in a container or a unit with `PrivateMounts=`), copied from the host's.
    UnshareMount,
    /// As [`Launcher::UnshareMount`], with every bpffs unmounted before the exec: a host where
    /// /sys/fs/bpf is not mounted. The launcher checks the mount table and logs
    /// [`NO_BPFFS_MARK`] (or exits 97 when a bpffs is still there).
    NoBpffs,
}

/// What [`Launcher::NoBpffs`] logs once /proc/self/mountinfo lists no bpffs.
pub const NO_BPFFS_MARK: &str = "havip-lab: no bpffs mounted in this mount namespace";

/// Unmounts every bpffs (fstype `bpf`, after the ` - ` separator of mountinfo), then checks the
/// mount table really has none left, then execs the command ("$@").
const NO_BPFFS_SCRIPT: &str = r#"
bpf_mounts() { awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "bpf") print $5; break } }' /proc/self/mountinfo; }
for i in 1 2 3 4 5 6 7 8; do
    for m in $(bpf_mounts); do umount -l "$m" 2>/dev/null; done
done
left=$(bpf_mounts)
if [ -n "$left" ]; then echo "havip-lab: bpffs still mounted on $left" >&2; exit 97; fi
echo "havip-lab: no bpffs mounted in this mount namespace" >&2
exec "$@"
"#;

impl Launcher {
    pub const ALL: [Launcher; 4] = [
        Launcher::NsenterNet,
        Launcher::IpNetnsExec,
        Launcher::UnshareMount,
        Launcher::NoBpffs,
    ];

    /// The command that runs `argv` in network namespace `ns` this way.
    pub fn command(self, ns: &str, argv: &[&str]) -> Command {
        let mut cmd = if self == Launcher::IpNetnsExec {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]);
            c
        } else {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/run/netns/{ns}"));
            c
        };
        if matches!(self, Launcher::UnshareMount | Launcher::NoBpffs) {
            cmd.args(["unshare", "--mount", "--propagation", "private"]);
        }
        if self == Launcher::NoBpffs {
            cmd.args(["sh", "-c", NO_BPFFS_SCRIPT, "sh"]);
        }
        cmd.args(argv);
        cmd
    }
}

/// A running process in a lab namespace; killed when the lab drops (or by the test).
pub struct Proc {
    pub label: String,
    pub child: Child,
    pub log: PathBuf,
    /// The network namespace it runs in.
    pub ns: String,
    /// For a havip daemon, the executable it runs: its state is read through `havip stats`.
    havip: Option<PathBuf>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid this lab spawned.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// `sig` to the process and everything it started (its process group: keepalived's
    /// children, a hook's shell).
    pub fn signal_group(&self, sig: i32) {
        // SAFETY: kill(2) on the process group this lab created for the child.
        unsafe { libc::kill(-(self.child.id() as i32), sig) };
    }

    /// SIGKILL to the process and everything it started (its process group), then reaps it.
    fn kill_group(&mut self) {
        self.signal_group(libc::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The state keepalived last logged entering ("MASTER", "BACKUP", "FAULT").
    pub fn keepalived_state(&self) -> Option<String> {
        let log = self.log_text();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains(" Entering ") && l.contains(" STATE"))?;
        let rest = line.split(" Entering ").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    }

    /// Waits until keepalived's last state is `state`.
    pub fn wait_keepalived_state(&mut self, state: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.keepalived_state().as_deref() != Some(state) {
            assert!(
                Instant::now() < deadline,
                "{} (keepalived) not {state} within {timeout:?}:\n{}",
                self.label,
                self.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {timeout:?}",
                self.label
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemon's snapshot, from its control socket: what `havip stats` reads, asked from the
    /// test's own thread (a millisecond, no process started), for tight polling. `None` while no
    /// daemon answers in the namespace, or when the one that answers is not this process.
    pub fn snapshot(&self) -> Option<DaemonSnapshot> {
        self.ask().ok().flatten()
    }

    /// As [`Proc::snapshot`], saying why there is none when the answer is not a snapshot of
    /// this process.
    fn ask(&self) -> Result<Option<DaemonSnapshot>, String> {
        let _ = self.havip_exe(); // keepalived has no such socket: say so rather than wait
        let socket = control::socket_path(&format!("ns{}", netns_inode(&self.ns)));
        match control::query(&socket) {
            Err(e) => Err(format!("{}: {e:#}", socket.display())),
            Ok(Some(s)) if s.pid != self.pid() => Err(format!(
                "the daemon answering in {} is pid {}, not this process ({})",
                self.ns,
                s.pid,
                self.pid()
            )),
            Ok(answer) => Ok(answer),
        }
    }

    /// `havip stats --json` in the process's namespace, run as a user does
    /// (`ip netns exec NS havip stats --json`), parsed.
    pub fn stats(&self) -> Stats {
        stats_of(Launcher::IpNetnsExec, &self.ns, self.havip_exe())
    }

    /// The daemon's state as `havip stats --json` reports it ("MASTER", "BACKUP", "FAULT",
    /// "INIT", "STATIC"), read the way a user reads it: see [`daemon_state`]. `None` when this
    /// process's daemon does not answer (not started yet, or gone).
    pub fn vrrp_state(&self) -> Option<String> {
        let daemon = self.stats().daemon?;
        (daemon.pid == self.pid()).then(|| daemon_state(&daemon))?
    }

    /// The daemon's state, from its control socket (see [`Proc::snapshot`], [`daemon_state`]).
    pub fn state_now(&self) -> Option<String> {
        daemon_state(&self.snapshot()?)
    }

    /// Polls the daemon's snapshot every 5 ms until `done` holds for it; panics (with the last
    /// snapshot and the log) when the process exits first or after `timeout`.
    pub fn wait_snapshot(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&DaemonSnapshot) -> bool,
    ) -> DaemonSnapshot {
        let deadline = Instant::now() + timeout;
        loop {
            let answer = self.ask();
            if let Ok(Some(s)) = &answer {
                if done(s) {
                    return s.clone();
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.label,
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} not {what} within {timeout:?}; its control socket said {answer:#?}\n{}",
                self.label,
                self.log_text()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until the daemon's state (every instance's) is `state`.
    pub fn wait_state(&mut self, state: &str, timeout: Duration) {
        self.wait_snapshot(state, timeout, |s| {
            daemon_state(s).as_deref() == Some(state)
        });
    }

    /// Waits until the daemon answers with every instance out of INIT: it is up and has taken
    /// its first state.
    pub fn wait_started(&mut self, timeout: Duration) {
        self.wait_snapshot("started", timeout, |s| {
            !s.instances.is_empty() && s.instances.iter().all(|i| state_name(i) != "INIT")
        });
    }

    /// Waits until every instance of the daemon holds its VIPs (`owned` in `havip stats`).
    pub fn wait_owned(&mut self, timeout: Duration) {
        self.wait_snapshot("holding its VIPs", timeout, |s| {
            !s.instances.is_empty() && s.instances.iter().all(|i| i.owned)
        });
    }

    /// Waits until every health check of the daemon reports healthy.
    pub fn wait_checks_healthy(&mut self, timeout: Duration) {
        self.wait_snapshot("healthy", timeout, |s| {
            !s.checks.is_empty() && s.checks.iter().all(|c| c.healthy == Some(true))
        });
    }

    /// The havip executable this process runs; panics for a process that is not havip.
    fn havip_exe(&self) -> &Path {
        self.havip.as_deref().unwrap_or_else(|| {
            panic!(
                "{} is not a havip daemon: no `havip stats` to read",
                self.label
            )
        })
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`; panics (with the log) after `timeout`.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before logging {needle:?}:\n{}",
                    self.label,
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {timeout:?}:\n{}",
                self.label,
                self.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A host on the lab's LAN.
#[derive(Clone, Debug)]
pub struct Host {
    /// The namespace's full name.
    pub ns: String,
    /// Its interface on the LAN (always `eth0`).
    pub iface: String,
    /// The bridge port its veth peer is (in the LAN namespace).
    pub port: String,
    pub ip: String,
    pub mac: String,
}

pub struct Lab {
    prefix: String,
    dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    /// Pass-through XDP programs on bridge ports (detached on drop).
    pass_programs: Vec<Dataplane>,
    lan: Option<String>,
    /// Paths outside the lab's directory that its processes left (FRR's /var/tmp/frr/D.PID),
    /// removed when the lab drops, after the processes are killed.
    leftovers: Vec<PathBuf>,
}

impl Lab {
    /// A new, empty lab for the test called `test`.
    pub fn new(test: &str) -> Lab {
        require_root();
        let prefix = format!("hv-{test}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&prefix);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the lab's log directory");
        Lab {
            prefix,
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            pass_programs: Vec::new(),
            lan: None,
            leftovers: Vec::new(),
        }
    }

    /// The prefix of every namespace this lab creates (`hv-<test>-<pid>`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The lab's directory (process logs); removed when the lab drops.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Has the lab remove `path` (a file or a directory) when it drops, after its processes are
    /// killed: what they leave outside the lab's directory.
    pub fn remove_on_drop(&mut self, path: PathBuf) {
        self.leftovers.push(path);
    }

    /// Creates namespace `<prefix>-<short>` with loopback up.
    pub fn add_ns(&mut self, short: &str) -> String {
        let ns = format!("{}-{short}", self.prefix);
        sh_ok(Command::new("ip").args(["netns", "add", &ns]));
        self.namespaces.push(ns.clone());
        self.ip(&ns, "link set lo up");
        // No IPv6 duplicate address detection: link-local addresses usable at once.
        sh_ok(
            Command::new("ip")
                .args(["netns", "exec", &ns, "sysctl", "-qw"])
                .args([
                    "net.ipv6.conf.all.accept_dad=0",
                    "net.ipv6.conf.default.accept_dad=0",
                ]),
        );
        ns
    }

    /// The LAN: a namespace with bridge `br0`, multicast snooping off (VRRP is multicast).
    pub fn lan(&mut self) -> String {
        if let Some(lan) = &self.lan {
            return lan.clone();
        }
        let ns = self.add_ns("lan");
        self.ip(
            &ns,
            "link add br0 type bridge mcast_snooping 0 stp_state 0 forward_delay 0",
        );
        self.ip(&ns, "link set br0 up");
        self.lan = Some(ns.clone());
        ns
    }

    /// A host `short` on the LAN with address `cidr` (e.g. "10.99.0.11/24") on its `eth0`.
    pub fn host(&mut self, short: &str, cidr: &str) -> Host {
        let lan = self.lan();
        let ns = self.add_ns(short);
        let port = format!("p-{short}");
        sh_ok(Command::new("ip").args([
            "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port, "netns",
            &lan,
        ]));
        self.ip(&lan, &format!("link set {port} master br0 up"));
        self.ip(&ns, &format!("addr add {cidr} dev eth0"));
        self.ip(&ns, "link set eth0 up");
        let mac = self.ip(&ns, "-br link show eth0");
        let mac = mac
            .split_whitespace()
            .nth(2)
            .expect("MAC in `ip -br link`")
            .to_string();
        Host {
            ns,
            iface: "eth0".into(),
            port,
            ip: cidr.split('/').next().unwrap().to_string(),
            mac,
        }
    }

    /// `ip -n NS ARGS`, panicking on failure; returns stdout.
    pub fn ip(&self, ns: &str, args: &str) -> String {
        let out = sh_ok(
            Command::new("ip")
                .args(["-n", ns])
                .args(args.split_whitespace()),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command in `ns` and returns its output, whatever its exit status.
    pub fn exec(&self, ns: &str, argv: &[&str]) -> Output {
        self.exec_with(Launcher::NsenterNet, ns, argv)
    }

    /// As [`Lab::exec`], started by `launcher`.
    pub fn exec_with(&self, launcher: Launcher, ns: &str, argv: &[&str]) -> Output {
        launcher
            .command(ns, argv)
            .output()
            .unwrap_or_else(|e| panic!("running {argv:?} in {ns} ({launcher:?}): {e}"))
    }

    /// Starts `argv` in `ns` with stdout and stderr to a log file, with the lab's default
    /// launcher ([`Launcher::NsenterNet`]).
    pub fn spawn(&mut self, label: &str, ns: &str, argv: &[&str]) -> &mut Proc {
        self.spawn_with(Launcher::NsenterNet, label, ns, argv)
    }

    /// As [`Lab::spawn`], started by `launcher`. The launchers exec (none forks), so the
    /// process's pid is the program's own: `kill -9` reaches it, not a wrapper.
    pub fn spawn_with(
        &mut self,
        launcher: Launcher,
        label: &str,
        ns: &str,
        argv: &[&str],
    ) -> &mut Proc {
        let log = self.dir.join(format!("{label}.log"));
        let file = File::create(&log).expect("log file");
        let child = launcher
            .command(ns, argv)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {argv:?} in {ns} ({launcher:?}): {e}"));
        self.procs.push(Proc {
            label: label.into(),
            child,
            log,
            ns: ns.into(),
            havip: None,
        });
        self.procs.last_mut().unwrap()
    }

    /// Starts `WRAPPER... havip ARGS` on `host` with the lab's default launcher: a wrapper
    /// such as `setpriv --bounding-set ...` or `env NOTIFY_SOCKET=...` that execs (never
    /// forks), so the pid is the daemon's.
    pub fn havip_wrapped(
        &mut self,
        label: &str,
        host: &Host,
        wrapper: &[&str],
        args: &[&str],
    ) -> &mut Proc {
        let exe = havip_exe();
        let mut argv = wrapper.to_vec();
        argv.push(exe.to_str().expect("UTF-8 path"));
        argv.extend_from_slice(args);
        let ns = host.ns.clone();
        let p = self.spawn_with(Launcher::NsenterNet, label, &ns, &argv);
        p.havip = Some(exe.clone());
        p
    }

    /// Starts `havip ARGS` on `host` with the lab's default launcher.
    pub fn havip(&mut self, label: &str, host: &Host, args: &[&str]) -> &mut Proc {
        self.havip_with(Launcher::NsenterNet, label, host, args)
    }

    /// Starts `havip ARGS` on `host` the way `launcher` does. With [`Launcher::NoBpffs`] it
    /// first waits (briefly) for the launcher's check that no bpffs is mounted.
    pub fn havip_with(
        &mut self,
        launcher: Launcher,
        label: &str,
        host: &Host,
        args: &[&str],
    ) -> &mut Proc {
        self.havip_in(launcher, label, &host.ns.clone(), args)
    }

    /// As [`Lab::havip_with`], in namespace `ns` (a node the lab did not build with
    /// [`Lab::host`]).
    pub fn havip_in(
        &mut self,
        launcher: Launcher,
        label: &str,
        ns: &str,
        args: &[&str],
    ) -> &mut Proc {
        let exe = havip_exe();
        let mut argv = vec![exe.to_str().expect("UTF-8 path")];
        argv.extend_from_slice(args);
        let p = self.spawn_with(launcher, label, ns, &argv);
        p.havip = Some(exe.clone());
        if launcher == Launcher::NoBpffs {
            p.wait_log(NO_BPFFS_MARK, Duration::from_secs(5));
        }
        p
    }

    /// From now on namespace `ns` drops the VRRP adverts of VRID `vrid` it receives (an
    /// nftables table of the lab's own, `hvdrop`, in that namespace; it goes with it).
    pub fn drop_vrrp_vrid(&self, ns: &str, vrid: u8) {
        for rules in [
            "add table inet hvdrop".to_string(),
            "add chain inet hvdrop in { type filter hook input priority 0; }".to_string(),
            // The VRID is the VRRP header's second byte.
            format!("add rule inet hvdrop in ip protocol 112 @th,8,8 {vrid} drop"),
        ] {
            let out = self.exec(ns, &["nft", &rules]);
            assert!(out.status.success(), "nft {rules}: {out:?}");
        }
    }

    /// Ends what [`Lab::drop_vrrp_vrid`] dropped in `ns`.
    pub fn undrop_vrrp(&self, ns: &str) {
        let out = self.exec(ns, &["nft", "delete table inet hvdrop"]);
        assert!(out.status.success(), "nft delete table: {out:?}");
    }

    /// `havip stats --json` in `host`'s namespace, started as a user would
    /// (`ip netns exec NS havip stats --json`), parsed.
    pub fn stats(&self, host: &Host) -> Stats {
        self.stats_with(Launcher::IpNetnsExec, host)
    }

    /// As [`Lab::stats`], started by `launcher`.
    pub fn stats_with(&self, launcher: Launcher, host: &Host) -> Stats {
        stats_of(launcher, &host.ns, &havip_exe())
    }

    /// The XDP counters of IPv4 VIP `vip` on `host`'s eth0, as `havip stats --json` reports
    /// them; panics (with the whole report) when they are missing.
    pub fn vip_stats(&self, host: &Host, vip: &str) -> VipStats {
        let s = self.stats(host);
        find_vip(s.xdp.as_ref().map(|x| &x.vips), vip, &host.iface)
            .unwrap_or_else(|| panic!("no XDP counters for {vip} in `havip stats`: {s:#?}"))
    }

    /// As [`Lab::vip_stats`] for an IPv6 VIP.
    pub fn vip6_stats(&self, host: &Host, vip: &str) -> VipStats {
        let s = self.stats(host);
        find_vip(s.xdp.as_ref().map(|x| &x.vips6), vip, &host.iface)
            .unwrap_or_else(|| panic!("no XDP counters for {vip} in `havip stats`: {s:#?}"))
    }

    /// Starts keepalived 2.2.7 (VRRP only, foreground, console log) on `host` with `config`.
    pub fn keepalived(&mut self, label: &str, host: &Host, config: &str) -> &mut Proc {
        let conf = self.dir.join(format!("{label}.conf"));
        fs::write(&conf, config).expect("writing keepalived.conf");
        self.keepalived_file(label, host, &conf)
    }

    /// As [`Lab::keepalived`], with the configuration file at `conf` (for a process that
    /// rereads it on SIGHUP, or is restarted with it).
    pub fn keepalived_file(&mut self, label: &str, host: &Host, conf: &Path) -> &mut Proc {
        self.keepalived_run(label, host, conf, &["-P"])
    }

    /// As [`Lab::keepalived`], in namespace `ns` (a node the lab did not build with
    /// [`Lab::host`]).
    pub fn keepalived_in(&mut self, label: &str, ns: &str, config: &str) -> &mut Proc {
        let conf = self.dir.join(format!("{label}.conf"));
        fs::write(&conf, config).expect("writing keepalived.conf");
        self.keepalived_ns(label, ns, &conf, &["-P"])
    }

    /// keepalived 2.2.7 with its VRRP and BFD subsystems (`bfd_instance`), foreground.
    pub fn keepalived_bfd(&mut self, label: &str, host: &Host, config: &str) -> &mut Proc {
        let conf = self.dir.join(format!("{label}.conf"));
        fs::write(&conf, config).expect("writing keepalived.conf");
        let bfd_pid = self.dir.join(format!("{label}.bfd.pid"));
        let bfd_pid = format!("--bfd_pid={}", bfd_pid.display());
        self.keepalived_run(label, host, &conf, &[&bfd_pid])
    }

    fn keepalived_run(
        &mut self,
        label: &str,
        host: &Host,
        conf: &Path,
        opts: &[&str],
    ) -> &mut Proc {
        let ns = host.ns.clone();
        self.keepalived_ns(label, &ns, conf, opts)
    }

    fn keepalived_ns(&mut self, label: &str, ns: &str, conf: &Path, opts: &[&str]) -> &mut Proc {
        let pid = self.dir.join(format!("{label}.pid"));
        let vrrp_pid = self.dir.join(format!("{label}.vrrp.pid"));
        let mut argv = vec!["keepalived"];
        argv.extend_from_slice(opts);
        self.spawn(
            label,
            ns,
            &[
                argv.as_slice(),
                &[
                    "-n",
                    "-l",
                    "-D",
                    "-f",
                    conf.to_str().unwrap(),
                    "-p",
                    pid.to_str().unwrap(),
                    "-r",
                    vrrp_pid.to_str().unwrap(),
                ],
            ]
            .concat(),
        )
    }

    /// The pid of keepalived's VRRP child process (from its `-r` pid file), once written.
    pub fn keepalived_vrrp_pid(&self, label: &str) -> u32 {
        wait_until(
            "keepalived's VRRP pid file",
            Duration::from_secs(10),
            || self.keepalived_vrrp_pid_now(label).is_some(),
        );
        self.keepalived_vrrp_pid_now(label).unwrap()
    }

    /// The pid in keepalived's VRRP pid file, if it is written yet.
    pub fn keepalived_vrrp_pid_now(&self, label: &str) -> Option<u32> {
        let path = self.dir.join(format!("{label}.vrrp.pid"));
        fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    pub fn proc(&mut self, label: &str) -> &mut Proc {
        self.procs
            .iter_mut()
            .find(|p| p.label == label)
            .expect("no such process")
    }

    /// The processes whose label starts with `prefix`.
    pub fn procs_labelled<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Proc> + 'a {
        self.procs
            .iter()
            .filter(move |p| p.label.starts_with(prefix))
    }

    /// Attaches the pass-through XDP program to `host`'s bridge port, so that native-mode
    /// `XDP_TX` on the host's veth is delivered (see DESIGN.md).
    pub fn pass_on_port(&mut self, host: &Host) {
        let lan = self.lan.clone().expect("a LAN");
        let port = host.port.clone();
        let dp = in_netns(&lan, move || {
            let mut dp = Dataplane::load().expect("loading the XDP object");
            dp.attach_pass(&port).expect("attaching the pass program");
            dp
        });
        self.pass_programs.push(dp);
    }

    /// Whether this kernel can create links of `kind` (`ip link add probe0 ARGS` in a scratch
    /// namespace): false, with a SKIPPED line saying why, only when the driver is missing
    /// ("Unknown device type"); a module that is built but not loaded yet loads on the way.
    pub fn kernel_has(&mut self, kind: &str, args: &str) -> bool {
        let ns = self.add_ns(&format!("probe-{kind}"));
        let mut argv = vec!["ip", "link", "add", "probe0"];
        argv.extend(args.split_whitespace());
        let out = self.exec(&ns, &argv);
        // Only a missing driver skips: any other refusal is the lab's to report.
        if out.status.success()
            || !String::from_utf8_lossy(&out.stderr).contains("Unknown device type")
        {
            return true;
        }
        eprintln!(
            "SKIPPED: this kernel cannot create {kind} links ({}); build it with that driver to \
             run this lab",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        false
    }

    /// Detaches every pass-through program [`Lab::pass_on_port`] attached.
    pub fn remove_pass_programs(&mut self) {
        self.pass_programs.clear();
    }

    /// havip's pin directory for the namespace `ns`.
    pub fn pin_dir(&self, ns: &str) -> PathBuf {
        PathBuf::from(format!("/sys/fs/bpf/havip/ns{}", netns_inode(ns)))
    }

    /// Whether `host` has address `ip` on its LAN interface.
    pub fn has_addr(&self, host: &Host, ip: &str) -> bool {
        self.ip(&host.ns, "-br addr show dev eth0")
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(ip))
    }

    /// The XDP program attached to `host`'s eth0, as `ip link` names it, if any.
    pub fn xdp_on(&self, host: &Host) -> Option<String> {
        let out = self.ip(&host.ns, "link show dev eth0");
        out.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix("prog/xdp")
                .map(|rest| rest.trim().to_string())
        })
    }

    /// `arping` from `from` for `target`: `count` requests `interval` apart.
    /// The LAN bridge's ports that have learned `mac` (`bridge fdb`; the bridge's own
    /// permanent entries left out).
    pub fn fdb_ports(&self, mac: &str) -> Vec<String> {
        let lan = format!("{}-lan", self.prefix);
        let out = self.exec(&lan, &["bridge", "fdb", "show", "br", "br0"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(mac) && !l.contains("permanent"))
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
            .collect()
    }

    /// `count` pings from `from` to `target`, one every 10 ms, in the background as `label`;
    /// [`Lab::ping_summary`] waits for them.
    pub fn ping_every_10ms(&mut self, label: &str, from: &Host, target: &str, count: u32) {
        let count = count.to_string();
        self.spawn(
            label,
            &from.ns,
            &["ping", "-n", "-i", "0.01", "-W", "1", "-c", &count, target],
        );
    }

    /// (sent, answered) of the pings started as `label`, once they are over.
    pub fn ping_summary(&mut self, label: &str) -> (u32, u32) {
        let p = self.proc(label);
        p.wait_exit(Duration::from_secs(60));
        let log = p.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary in {log}"));
        let n: Vec<u32> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (n[0], n[1])
    }

    pub fn arping(&self, from: &Host, target: &str, count: u32, interval: f64) -> Arping {
        let out = self.exec(
            &from.ns,
            &[
                "arping",
                "-c",
                &count.to_string(),
                "-W",
                &interval.to_string(),
                "-w",
                "1",
                "-i",
                &from.iface,
                target,
            ],
        );
        Arping::parse(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.kill_group();
            if thread::panicking() {
                eprintln!(
                    "----- {} ({}) -----\n{}",
                    p.label,
                    p.log.display(),
                    p.log_text()
                );
            }
        }
        self.pass_programs.clear();
        for path in &self.leftovers {
            let _ = fs::remove_dir_all(path).or_else(|_| fs::remove_file(path));
        }
        for ns in self.namespaces.iter().rev() {
            // What a killed havip left pinned: remove it, or the program stays loaded.
            let pins = self.pin_dir(ns);
            if let Ok(entries) = fs::read_dir(&pins) {
                for e in entries.flatten() {
                    let _ = fs::remove_file(e.path());
                }
                let _ = fs::remove_dir(&pins);
            }
            // And its lock file, control socket and any handover no process took in
            // /run/havip.
            if let Some(name) = pins.file_name().and_then(|n| n.to_str()) {
                for ext in [
                    "lock",
                    "sock",
                    "handover",
                    "handover.tmp",
                    "bird.conf",
                    "bird.conf.tmp",
                    "bird.ctl",
                ] {
                    let _ = fs::remove_file(format!("/run/havip/{name}.{ext}"));
                }
            }
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What `arping` reported.
#[derive(Debug, Default)]
pub struct Arping {
    pub sent: u32,
    pub received: u32,
    /// The MAC addresses that answered.
    pub macs: BTreeSet<String>,
}

impl Arping {
    fn parse(out: &str) -> Arping {
        let mut r = Arping::default();
        for line in out.lines() {
            if let Some(rest) = line.split(" bytes from ").nth(1) {
                if let Some(mac) = rest.split_whitespace().next() {
                    r.macs.insert(mac.to_string());
                }
            }
            if line.contains("packets transmitted") {
                let nums: Vec<u32> = line
                    .split_whitespace()
                    .filter_map(|w| w.parse().ok())
                    .collect();
                r.sent = nums.first().copied().unwrap_or(0);
                r.received = nums.get(1).copied().unwrap_or(0);
            }
        }
        r
    }
}

static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// For the long-running lab binaries (chaos, soak): SIGINT and SIGTERM ask the run to stop at
/// its next look ([`stop_requested`]) instead of killing the process, so the labs tear down
/// (a Ctrl-C used to leave the namespaces and daemons behind).
pub fn catch_stop_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_stop_signal as *const () as libc::sighandler_t) };
    }
}

/// Whether SIGINT or SIGTERM came since [`catch_stop_signals`].
pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// CPU time (user + system, all threads) process `pid` has used, in seconds; 0 once it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after the last ')'.
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    (field(11) + field(12)) as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Resident memory of process `pid`, kB (`VmRSS`); `None` once it is gone.
pub fn rss_kb(pid: u32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Descriptors process `pid` has open; `None` once it is gone.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Runs `f` on a thread that has entered network namespace `ns`; returns its result.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    in_netns_spawn(ns, f).join().expect("netns thread panicked")
}

/// Starts `f` on a thread that has entered network namespace `ns`.
pub fn in_netns_spawn<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("opening {path}: {e}"));
        // SAFETY: setns on a valid namespace fd, affecting only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `cmd`, panicking (with its stderr) when it fails; returns its output.
pub(crate) fn sh_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The inode of network namespace `ns`: havip names its run-time files (pins, lock, control
/// socket) `ns<inode>` (see `havip::control::ns_name`).
pub fn netns_inode(ns: &str) -> u64 {
    fs::metadata(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("netns file of {ns}: {e}"))
        .ino()
}

/// `EXE stats --json` in `ns`, started by `launcher`, parsed.
fn stats_of(launcher: Launcher, ns: &str, exe: &Path) -> Stats {
    let exe = exe.to_str().expect("UTF-8 path");
    let out = launcher
        .command(ns, &[exe, "stats", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("running `havip stats --json` in {ns} ({launcher:?}): {e}"));
    assert!(
        out.status.success(),
        "`havip stats --json` in {ns} ({launcher:?}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`havip stats --json` printed no Stats ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// An instance's state as `havip stats --json` prints it ("MASTER", "BACKUP", ...).
pub fn state_name(instance: &InstanceSnapshot) -> String {
    // Through its JSON form, which is what users read and what the labs compare against.
    match serde_json::to_value(&instance.state) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("an instance state that is not a string: {other:?}"),
    }
}

/// A daemon's state: the one state all its instances are in, or, when they differ, each
/// instance's ("VI_1 MASTER, VI_2 BACKUP", which no single state equals). `None` with no
/// instance.
pub fn daemon_state(daemon: &DaemonSnapshot) -> Option<String> {
    let states: Vec<String> = daemon.instances.iter().map(state_name).collect();
    let first = states.first()?;
    if states.iter().all(|s| s == first) {
        return Some(first.clone());
    }
    Some(
        daemon
            .instances
            .iter()
            .zip(&states)
            .map(|(i, s)| format!("{} {s}", i.name))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// The entry for `vip` on `iface` among `vips`, cloned.
fn find_vip(vips: Option<&Vec<VipStats>>, vip: &str, iface: &str) -> Option<VipStats> {
    vips?
        .iter()
        .find(|v| v.vip == vip && v.iface == iface)
        .cloned()
}
