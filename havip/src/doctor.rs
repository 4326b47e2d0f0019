//! `havip doctor`: what breaks VRRP on a real host, checked before it bites: the kernel, BPF,
//! privileges, each configured interface (XDP modes, sysctls, multicast), firewall rules that
//! drop VRRP, a keepalived already running here, and the VRRP routers heard on the LAN for a few
//! seconds (VRIDs in use, conflicts with the configuration's). One line per check, with the fix;
//! exit 0 when all is well, 1 with warnings, 2 when something blocks VRRP.
//!
//! No check changes the host's configuration: no sysctl is changed, no XDP program attached, no
//! advert sent. Two leave traces: listening joins the VRRP groups (the host sends one IGMP/MLD
//! membership report), and `nft list` / `iptables-save` may load their kernel modules. On a
//! host where havip already runs with the ring-buffer path, XDP takes the adverts before the
//! listening socket sees them.

use std::{
    collections::BTreeMap,
    fmt,
    net::{IpAddr, Ipv4Addr},
    os::fd::{AsRawFd as _, OwnedFd},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use crate::{
    config,
    dataplane::{native_tx, NativeTx},
    model::DaemonSpec,
    net::netlink::Netlink,
    version::{self, KernelFacts},
    wire::{vrrp::Addresses, ChecksumMode, VrrpFrame},
};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    /// VRRP cannot work until it is fixed.
    Block,
}

/// One check's outcome: what was found and, unless it is fine, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub check: String,
    pub found: String,
    pub fix: Option<String>,
}

impl Finding {
    fn ok(check: impl Into<String>, found: impl Into<String>) -> Finding {
        Finding {
            level: Level::Ok,
            check: check.into(),
            found: found.into(),
            fix: None,
        }
    }

    fn warn(check: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            level: Level::Warn,
            check: check.into(),
            found: found.into(),
            fix: Some(fix.into()),
        }
    }

    fn block(
        check: impl Into<String>,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            level: Level::Block,
            ..Finding::warn(check, found, fix)
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok   ",
            Level::Warn => "WARN ",
            Level::Block => "BLOCK",
        };
        write!(f, "{tag} {}: {}", self.check, self.found)?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// What `havip doctor` was asked to check.
pub struct Options {
    /// The configuration whose interfaces and VRIDs are checked (`None`: the host checks only,
    /// plus `ifaces`).
    pub spec: Option<DaemonSpec>,
    /// Interfaces to check besides the configuration's.
    pub ifaces: Vec<String>,
    /// How long to listen for other routers' adverts.
    pub listen: Duration,
}

/// The exit status for these findings: 0 all fine, 1 warnings, 2 something blocks.
pub fn exit_code(findings: &[Finding]) -> u8 {
    match findings.iter().map(|f| f.level).max() {
        Some(Level::Block) => 2,
        Some(Level::Warn) => 1,
        _ => 0,
    }
}

/// Runs every check, printing each line as it is found (the listen takes seconds).
pub fn run(opts: &Options, out: &mut dyn FnMut(&Finding)) -> Result<Vec<Finding>> {
    let mut all = Vec::new();
    let mut emit = |f: Finding| {
        out(&f);
        all.push(f);
    };
    for f in host_checks(&KernelFacts::probe(), &cap_eff()) {
        emit(f);
    }
    let mut ifaces: Vec<String> = opts.ifaces.clone();
    if let Some(spec) = &opts.spec {
        for inst in &spec.instances {
            if !ifaces.contains(&inst.iface) {
                ifaces.push(inst.iface.clone());
            }
        }
    }
    let uses_multicast = opts.spec.as_ref().is_none_or(|s| {
        s.instances
            .iter()
            .any(|i| i.vrrp.as_ref().is_some_and(|v| v.unicast_peers.is_empty()))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let nl = rt.block_on(async { Netlink::new() })?;
    emit(sysctl_nonlocal_bind(read_sysctl(
        "net/ipv4/ip_nonlocal_bind",
    )));
    let mut present = Vec::new();
    for name in &ifaces {
        match rt.block_on(nl.link(name)) {
            Err(e) => emit(Finding::block(
                format!("interface {name}"),
                format!("{e:#}"),
                "fix the interface name in the configuration, or create the interface",
            )),
            Ok(link) => {
                emit(if link.up {
                    Finding::ok(format!("interface {name}"), "up, with carrier")
                } else {
                    Finding::block(
                        format!("interface {name}"),
                        "down or without carrier",
                        format!("ip link set dev {name} up; check the cable or the peer"),
                    )
                });
                emit(xdp_modes(&rt, &nl, name, link.index));
                for f in iface_sysctls(name) {
                    emit(f);
                }
                emit(multicast(name, uses_multicast));
                present.push((name.clone(), link.index));
            }
        }
    }
    for f in firewall_checks() {
        emit(f);
    }
    for f in keepalived_checks(&ifaces) {
        emit(f);
    }
    let mine = opts
        .spec
        .as_ref()
        .map(configured_routers)
        .unwrap_or_default();
    for (name, index) in &present {
        match listen(*index, opts.listen) {
            Err(e) => emit(Finding::warn(
                format!("VRRP on {name}"),
                format!("could not listen: {e:#}"),
                "run havip doctor as root",
            )),
            Ok(heard) => {
                for f in heard_checks(name, opts.listen, &heard, &mine) {
                    emit(f);
                }
            }
        }
    }
    Ok(all)
}

/// The kernel, BPF and privileges.
fn host_checks(k: &KernelFacts, cap_eff: &Option<u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    let (maj, min) = version::MIN_KERNEL;
    out.push(
        match (
            &k.release,
            k.release.as_deref().and_then(version::parse_release),
        ) {
            (Some(r), Some(v)) if v >= version::MIN_KERNEL => {
                Finding::ok("kernel", format!("{r} ({maj}.{min} or later needed)"))
            }
            (Some(r), _) => Finding::block(
                "kernel",
                format!("{r} is older than {maj}.{min}"),
                format!("run a kernel {maj}.{min} or later (Debian 11's 5.10 and later work)"),
            ),
            (None, _) => Finding::warn(
                "kernel",
                "unknown (no /proc/sys/kernel/osrelease)",
                "mount /proc",
            ),
        },
    );
    out.push(if k.btf {
        Finding::ok("BTF", version::BTF_PATH)
    } else {
        Finding::ok(
            "BTF",
            format!(
                "{} missing (havip does not need it; bpftool's CO-RE tools do)",
                version::BTF_PATH
            ),
        )
    });
    out.push(Finding::ok(
        "bpffs",
        if k.bpffs.is_empty() {
            "not mounted (havip pins nothing and does not need it)".to_string()
        } else {
            format!("mounted on {} (havip does not need it)", k.bpffs.join(" "))
        },
    ));
    out.push(match &k.xdp {
        Ok(true) => Finding::ok("XDP", "the kernel loads XDP programs"),
        Ok(false) => Finding::block(
            "XDP",
            "the kernel refuses XDP programs",
            "use a kernel built with CONFIG_BPF_SYSCALL and CONFIG_XDP_SOCKETS (any distribution \
             kernel)",
        ),
        Err(e) => Finding::warn(
            "XDP",
            format!("not probed: {e}"),
            "run havip doctor as root",
        ),
    });
    out.push(capabilities(cap_eff));
    out
}

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// This process's effective capabilities (`CapEff` in /proc/self/status).
fn cap_eff() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
}

fn capabilities(eff: &Option<u64>) -> Finding {
    let Some(eff) = *eff else {
        return Finding::warn("capabilities", "unknown (no /proc)", "mount /proc");
    };
    let has = |c: u32| eff & (1 << c) != 0;
    let mut missing = Vec::new();
    for (cap, name) in [
        (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
        (CAP_NET_RAW, "CAP_NET_RAW"),
    ] {
        if !has(cap) {
            missing.push(name);
        }
    }
    if !(has(CAP_BPF) && has(CAP_PERFMON) || has(CAP_SYS_ADMIN)) {
        missing.push("CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)");
    }
    if missing.is_empty() {
        Finding::ok(
            "capabilities",
            "this process may run havip (XDP, addresses, raw sockets)",
        )
    } else {
        Finding::warn(
            "capabilities",
            format!("this process lacks {}", missing.join(", ")),
            "run havip (and havip doctor) as root, or through havip.service, whose \
             CapabilityBoundingSet has them",
        )
    }
}

/// A sysctl under /proc/sys, `None` when it cannot be read.
fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(Path::new("/proc/sys").join(path))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn sysctl_nonlocal_bind(value: Option<i64>) -> Finding {
    match value {
        Some(0) => Finding::warn(
            "net.ipv4.ip_nonlocal_bind",
            "0: a service cannot bind the VIP on a backup (it has no such address until it \
             becomes master), so it fails to start there",
            "sysctl -w net.ipv4.ip_nonlocal_bind=1, and persist it in /etc/sysctl.d/havip.conf",
        ),
        Some(v) => Finding::ok("net.ipv4.ip_nonlocal_bind", format!("{v}")),
        None => Finding::warn("net.ipv4.ip_nonlocal_bind", "cannot be read", "mount /proc"),
    }
}

/// arp_ignore, arp_announce and rp_filter as the kernel applies them on `iface`: the larger of
/// `all` and the interface's value.
fn iface_sysctls(iface: &str) -> Vec<Finding> {
    let eff = |key: &str| -> Option<i64> {
        let all = read_sysctl(&format!("net/ipv4/conf/all/{key}"));
        let own = read_sysctl(&format!("net/ipv4/conf/{iface}/{key}"));
        all.max(own)
    };
    judge_iface_sysctls(
        iface,
        eff("arp_ignore"),
        eff("arp_announce"),
        eff("rp_filter"),
    )
}

fn judge_iface_sysctls(
    iface: &str,
    arp_ignore: Option<i64>,
    arp_announce: Option<i64>,
    rp_filter: Option<i64>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = |k: &str| format!("{iface}: {k}");
    out.push(match arp_ignore {
        Some(8) => Finding::warn(
            name("arp_ignore"),
            "8: the kernel answers no ARP at all on this interface, not even for its own \
             address (the VIP is answered by XDP)",
            format!("sysctl -w net.ipv4.conf.{iface}.arp_ignore=1 (and all.arp_ignore)"),
        ),
        Some(v) => Finding::ok(
            name("arp_ignore"),
            format!("{v} (XDP answers for the VIP whatever this says)"),
        ),
        None => Finding::warn(name("arp_ignore"), "cannot be read", "mount /proc"),
    });
    out.push(match arp_announce {
        Some(0) => Finding::warn(
            name("arp_announce"),
            "0: the kernel may put the VIP as the sender of its own ARP requests, so \
             neighbours learn the VIP from them (keepalived's docs advise 2)",
            format!("sysctl -w net.ipv4.conf.{iface}.arp_announce=2"),
        ),
        Some(v) => Finding::ok(name("arp_announce"), format!("{v}")),
        None => Finding::warn(name("arp_announce"), "cannot be read", "mount /proc"),
    });
    out.push(match rp_filter {
        Some(1) => Finding::warn(
            name("rp_filter"),
            "1 (strict): adverts from a unicast_peer reached through another interface are \
             dropped before havip sees them",
            format!(
                "sysctl -w net.ipv4.conf.{iface}.rp_filter=2 (loose) if peers are not on this \
                 interface's subnet"
            ),
        ),
        Some(v) => Finding::ok(name("rp_filter"), format!("{v}")),
        None => Finding::warn(name("rp_filter"), "cannot be read", "mount /proc"),
    });
    out
}

/// The XDP modes the interface offers havip: what is attached now, and whether native mode
/// can transmit (havip's own check, what `--xdp-mode auto` decides with).
fn xdp_modes(rt: &tokio::runtime::Runtime, nl: &Netlink, iface: &str, index: u32) -> Finding {
    let check = format!("{iface}: XDP");
    let attached = Command::new("ip")
        .args(["-d", "link", "show", "dev", iface])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
                l.trim()
                    .strip_prefix("prog/xdp")
                    .map(|r| r.trim().to_string())
            })
        });
    let now = match attached {
        Some(p) => format!("a program is attached ({p}); "),
        None => String::new(),
    };
    match rt.block_on(native_tx(nl, index)) {
        Ok(NativeTx::Works) => Finding::ok(
            check,
            format!("{now}native and skb mode possible (auto takes native)"),
        ),
        Ok(NativeTx::Broken { why, fix }) => Finding::ok(
            check,
            format!("{now}skb mode only (auto takes it): native mode would not transmit on {why}; for native: {fix}"),
        ),
        Err(e) => Finding::warn(check, format!("{now}not checked: {e:#}"), "run as root"),
    }
}

/// IFF_MULTICAST on the interface (VRRP adverts go to 224.0.0.18 / ff02::12).
fn multicast(iface: &str, needed: bool) -> Finding {
    const IFF_MULTICAST: u64 = 0x1000;
    let flags = std::fs::read_to_string(format!("/sys/class/net/{iface}/flags"))
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok());
    let check = format!("{iface}: multicast");
    match flags {
        Some(f) if f & IFF_MULTICAST != 0 => Finding::ok(check, "on"),
        Some(_) if needed => Finding::block(
            check,
            "off: multicast adverts (224.0.0.18) neither leave nor arrive",
            format!("ip link set dev {iface} multicast on, or use unicast_peer"),
        ),
        Some(_) => Finding::ok(check, "off (the configuration uses unicast peers)"),
        None => Finding::ok(
            check,
            "not known (no /sys/class/net in this mount namespace)",
        ),
    }
}

/// Firewall rules that drop VRRP: nftables' ruleset, and iptables' where it is installed.
fn firewall_checks() -> Vec<Finding> {
    let mut out = Vec::new();
    match Command::new("nft").args(["list", "ruleset"]).output() {
        Err(_) => out.push(Finding::ok("nftables", "nft is not installed: not checked")),
        Ok(o) if !o.status.success() => out.push(Finding::warn(
            "nftables",
            format!(
                "nft list ruleset failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            "run havip doctor as root",
        )),
        Ok(o) => out.extend(judge_nft(&String::from_utf8_lossy(&o.stdout))),
    }
    match Command::new("iptables-save").output() {
        Err(_) => out.push(Finding::ok(
            "iptables",
            "iptables is not installed: not checked",
        )),
        Ok(o) if !o.status.success() => out.push(Finding::warn(
            "iptables",
            format!(
                "iptables-save failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            "run havip doctor as root",
        )),
        Ok(o) => out.extend(judge_iptables(&String::from_utf8_lossy(&o.stdout))),
    }
    out
}

/// Whether a rule's text matches VRRP: IP protocol 112 (`vrrp` in nft's and iptables'
/// output) or the group 224.0.0.18.
fn matches_vrrp(rule: &str) -> bool {
    let words: Vec<&str> = rule
        .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
        .collect();
    words
        .iter()
        .any(|w| *w == "vrrp" || *w == "112" || w.starts_with("224.0.0.18"))
}

/// `nft list ruleset`: rules that drop or reject VRRP, and input chains whose policy drops
/// with no rule accepting VRRP.
fn judge_nft(ruleset: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let (mut table, mut chain) = (String::new(), String::new());
    let mut policy_drop_inputs = Vec::new();
    let mut accepts_vrrp = false;
    for line in ruleset.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix("table ") {
            table = t.trim_end_matches(" {").to_string();
        } else if let Some(c) = line.strip_prefix("chain ") {
            chain = c.trim_end_matches(" {").to_string();
        } else if line.contains("hook input") && line.contains("policy drop") {
            policy_drop_inputs.push(format!("table {table} chain {chain}"));
        } else if matches_vrrp(line) {
            let verdict = line
                .split_whitespace()
                .find(|w| matches!(*w, "drop" | "reject" | "accept"));
            match verdict {
                Some("drop" | "reject") => out.push(Finding::block(
                    "nftables",
                    format!("table {table} chain {chain} drops VRRP: `{line}`"),
                    format!(
                        "delete that rule (nft -a list chain {table} {chain} shows its handle), \
                         or accept VRRP before it: nft insert rule {table} {chain} ip protocol \
                         vrrp accept"
                    ),
                )),
                Some(_) => accepts_vrrp = true,
                None => {}
            }
        }
    }
    if !accepts_vrrp {
        for c in policy_drop_inputs {
            out.push(Finding::block(
                "nftables",
                format!("{c}: policy drop and no rule accepting VRRP"),
                "add `ip protocol vrrp accept` (and `meta l4proto vrrp accept` for IPv6) to that \
                 chain",
            ));
        }
    }
    if out.is_empty() {
        out.push(Finding::ok("nftables", "no rule drops VRRP"));
    }
    out
}

/// `iptables-save`: -j DROP / REJECT rules matching VRRP, and INPUT chains whose policy is DROP
/// with no rule accepting it.
fn judge_iptables(save: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut table = "filter".to_string();
    let mut input_drop = false;
    let mut accepts = false;
    for line in save.lines().map(str::trim) {
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if line.starts_with(":INPUT DROP") && table == "filter" {
            input_drop = true;
        } else if line.starts_with("-A ") && matches_vrrp(line) {
            if line.contains("-j DROP") || line.contains("-j REJECT") {
                out.push(Finding::block(
                    "iptables",
                    format!("table {table} drops VRRP: `{line}`"),
                    format!(
                        "delete it (iptables -t {table} {}), or insert an accept before it: \
                         iptables -I INPUT -p vrrp -j ACCEPT",
                        line.replacen("-A ", "-D ", 1)
                    ),
                ));
            } else if line.contains("-j ACCEPT") {
                accepts = true;
            }
        }
    }
    if input_drop && !accepts {
        out.push(Finding::block(
            "iptables",
            "the INPUT policy is DROP and no rule accepts VRRP",
            "iptables -I INPUT -p vrrp -j ACCEPT",
        ));
    }
    if out.is_empty() {
        out.push(Finding::ok("iptables", "no rule drops VRRP"));
    }
    out
}

/// keepalived processes in this network namespace, and whether their configuration uses one
/// of `ifaces`.
fn keepalived_checks(ifaces: &[String]) -> Vec<Finding> {
    let our_ns = std::fs::read_link("/proc/self/ns/net").ok();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let proc_dir = entry.path();
        if std::fs::read_to_string(proc_dir.join("comm")).map_or(true, |c| c.trim() != "keepalived")
        {
            continue;
        }
        if std::fs::read_link(proc_dir.join("ns/net")).ok() != our_ns {
            continue;
        }
        let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        found.push((pid, keepalived_config(&args)));
    }
    if found.is_empty() {
        return vec![Finding::ok(
            "keepalived",
            "none running in this network namespace",
        )];
    }
    // Its parent and children share its command line: one finding per configuration.
    found.sort_by_key(|(_, c)| c.clone());
    found.dedup_by(|a, b| a.1 == b.1);
    found
        .into_iter()
        .map(|(pid, conf)| {
            let theirs: Vec<String> = config::load_as(
                &conf,
                config::Format::Keepalived,
                &config::ReadOptions::default(),
            )
            .map(|l| l.spec.instances.iter().map(|i| i.iface.clone()).collect())
            .unwrap_or_default();
            let shared: Vec<&String> = ifaces.iter().filter(|i| theirs.contains(i)).collect();
            let what = format!("pid {pid} runs {}", conf.display());
            if shared.is_empty() {
                Finding::warn(
                    "keepalived",
                    format!("{what}, on other interfaces"),
                    "make sure it holds none of havip's VIPs",
                )
            } else {
                Finding::block(
                    "keepalived",
                    format!(
                        "{what} on {}: two VRRP daemons would fight over the VIPs",
                        shared
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "systemctl disable --now keepalived before starting havip",
                )
            }
        })
        .collect()
}

/// keepalived's `-f FILE` / `--use-file=FILE`, or its default.
fn keepalived_config(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-f" || a == "--use-file" {
            if let Some(f) = it.next() {
                return PathBuf::from(f);
            }
        } else if let Some(f) = a
            .strip_prefix("--use-file=")
            .or_else(|| a.strip_prefix("-f"))
        {
            if !f.is_empty() {
                return PathBuf::from(f);
            }
        }
    }
    PathBuf::from("/etc/keepalived/keepalived.conf")
}

/// A virtual router as adverts show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heard {
    pub vrid: u8,
    pub version: u8,
    pub priority: u8,
    pub src: IpAddr,
    pub addresses: Vec<IpAddr>,
}

/// The configuration's routers: (vrid, IPv6?) → VIPs.
fn configured_routers(spec: &DaemonSpec) -> BTreeMap<(u8, bool), Vec<IpAddr>> {
    let mut out = BTreeMap::new();
    for inst in &spec.instances {
        if let Some(v) = &inst.vrrp {
            let v6 = inst.vips.iter().any(|a| a.addr.is_ipv6());
            let mut vips: Vec<IpAddr> = inst.vips.iter().map(|a| a.addr).collect();
            vips.sort();
            out.insert((v.vrid, v6), vips);
        }
    }
    out
}

/// Reads every VRRP advert on interface `index` for `span`, one per sender and VRID: an
/// AF_PACKET socket sees them before any firewall does.
fn listen(index: u32, span: Duration) -> Result<Vec<Heard>> {
    let fd = packet_socket(index)?;
    // The NIC must pass the VRRP groups' frames up: join them on a datagram socket.
    let _groups = join_groups(index);
    let mut heard: Vec<Heard> = Vec::new();
    let end = Instant::now() + span;
    let mut buf = vec![0u8; 2048];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        rustix::net::sockopt::set_socket_timeout(
            &fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(left.max(Duration::from_millis(1))),
        )
        .context("SO_RCVTIMEO")?;
        let n = match rustix::net::recv(&fd, &mut buf, rustix::net::RecvFlags::empty()) {
            Ok((n, _)) => n,
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e).context("receiving on the AF_PACKET socket"),
        };
        let frame = &buf[..n.min(buf.len())];
        let parsed = VrrpFrame::parse(frame, ChecksumMode::PseudoHeader)
            .or_else(|_| VrrpFrame::parse(frame, ChecksumMode::MessageOnly));
        let Ok(f) = parsed else { continue };
        let addresses: Vec<IpAddr> = match &f.vrrp.addresses {
            Addresses::V4(a) => a.iter().map(|a| IpAddr::V4(*a)).collect(),
            Addresses::V6(a) => a.iter().map(|a| IpAddr::V6(*a)).collect(),
        };
        let version = match f.vrrp.version {
            crate::wire::vrrp::Version::V2 { .. } => 2,
            _ => 3,
        };
        let h = Heard {
            vrid: f.vrrp.vrid,
            version,
            priority: f.vrrp.priority,
            src: f.src_addr(),
            addresses: {
                let mut a = addresses;
                a.sort();
                a
            },
        };
        if !heard.iter().any(|x| x.vrid == h.vrid && x.src == h.src) {
            heard.push(h);
        }
    }
    Ok(heard)
}

/// An AF_PACKET socket receiving every frame of interface `index`.
fn packet_socket(index: u32) -> Result<OwnedFd> {
    use rustix::net::{AddressFamily, Protocol, RawProtocol, SocketFlags, SocketType};
    let all = (libc::ETH_P_ALL as u16).to_be();
    let protocol = RawProtocol::new(u32::from(all)).map(Protocol::from_raw);
    let fd = rustix::net::socket_with(
        AddressFamily::PACKET,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        protocol,
    )
    .context("opening an AF_PACKET socket (needs CAP_NET_RAW)")?;
    let ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: all,
        sll_ifindex: index as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `ll` is a whole, initialised sockaddr_ll and the length is its size (nix and
    // rustix build no link-layer address safely; net/sockets.rs does the same).
    use nix::sys::socket::SockaddrLike as _;
    let addr = unsafe {
        nix::sys::socket::LinkAddr::from_raw(
            (&ll as *const libc::sockaddr_ll).cast(),
            Some(std::mem::size_of::<libc::sockaddr_ll>() as u32),
        )
    }
    .context("building the AF_PACKET address")?;
    nix::sys::socket::bind(fd.as_raw_fd(), &addr).context("binding the AF_PACKET socket")?;
    Ok(fd)
}

/// Datagram sockets that are members of 224.0.0.18 and ff02::12 on `index`, so that the NIC
/// delivers those groups; best effort (an interface without IPv6 refuses the second).
fn join_groups(index: u32) -> Vec<OwnedFd> {
    use rustix::net::{sockopt, AddressFamily, SocketType};
    let mut out = Vec::new();
    if let Ok(s) = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None) {
        let group = crate::wire::vrrp::MULTICAST_V4;
        if sockopt::set_ip_add_membership_with_ifindex(&s, &group, &Ipv4Addr::UNSPECIFIED, index)
            .is_ok()
        {
            out.push(s);
        }
    }
    if let Ok(s) = rustix::net::socket(AddressFamily::INET6, SocketType::DGRAM, None) {
        if sockopt::set_ipv6_add_membership(&s, &crate::wire::vrrp::MULTICAST_V6, index).is_ok() {
            out.push(s);
        }
    }
    out
}

/// What the routers heard on `iface` mean for this configuration: a VRID of ours advertising
/// other addresses is a conflict; the same VIPs are our peer; other VRIDs are taken.
fn heard_checks(
    iface: &str,
    span: Duration,
    heard: &[Heard],
    mine: &BTreeMap<(u8, bool), Vec<IpAddr>>,
) -> Vec<Finding> {
    let check = format!("VRRP on {iface}");
    if heard.is_empty() {
        return vec![Finding::ok(
            check,
            format!("no other router heard in {} s", span.as_secs_f32()),
        )];
    }
    let mut out = Vec::new();
    let mut others = Vec::new();
    for h in heard {
        let v6 = h.src.is_ipv6();
        let desc = format!(
            "VRID {} from {} (VRRPv{}, priority {}, {})",
            h.vrid,
            h.src,
            h.version,
            h.priority,
            h.addresses
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        match mine.get(&(h.vrid, v6)) {
            None => others.push(h.vrid),
            Some(vips) if *vips == h.addresses => out.push(Finding::ok(
                check.clone(),
                format!("peer {desc}: the same virtual router"),
            )),
            Some(vips) => out.push(Finding::block(
                check.clone(),
                format!(
                    "conflict: {desc}, but the configuration's VRID {} has {}",
                    h.vrid,
                    vips.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                format!(
                    "give this virtual router a virtual_router_id no one uses on the LAN \
                     (in use: {})",
                    in_use(heard)
                ),
            )),
        }
    }
    if !others.is_empty() {
        others.sort_unstable();
        others.dedup();
        out.push(Finding::ok(
            check,
            format!(
                "other routers' VRIDs in use: {} (avoid them)",
                others
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    out
}

fn in_use(heard: &[Heard]) -> String {
    let mut v: Vec<u8> = heard.iter().map(|h| h.vrid).collect();
    v.sort_unstable();
    v.dedup();
    v.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_rules_dropping_vrrp_block() {
        let ruleset = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority \
                       filter; policy accept;\n\t\tip protocol vrrp drop\n\t\tip daddr \
                       224.0.0.18 counter packets 0 bytes 0 reject with icmp port-unreachable\n\
                       \t\ttcp dport 22 accept\n\t}\n}\n";
        let f = judge_nft(ruleset);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().all(|f| f.level == Level::Block));
        assert!(f[0].found.contains("table inet f chain input"), "{}", f[0]);
        assert!(f[0].found.contains("ip protocol vrrp drop"));
        assert!(f[1].found.contains("224.0.0.18"));
    }

    #[test]
    fn nft_policy_drop_blocks_unless_vrrp_is_accepted() {
        let closed = "table inet f {\n\tchain input {\n\t\ttype filter hook input priority \
                      filter; policy drop;\n\t\ttcp dport 22 accept\n\t}\n}\n";
        let f = judge_nft(closed);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Block);
        let open = closed.replace("tcp dport 22 accept", "ip protocol vrrp accept");
        assert_eq!(judge_nft(&open)[0].level, Level::Ok);
        assert_eq!(judge_nft("")[0].level, Level::Ok);
        // Port 1120 is not protocol 112.
        let other = "table ip t {\n chain c {\n  tcp dport 1120 drop\n }\n}\n";
        assert_eq!(judge_nft(other)[0].level, Level::Ok);
    }

    #[test]
    fn iptables_rules_dropping_vrrp_block() {
        let save = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p vrrp -j DROP\n-A INPUT -d \
                    224.0.0.18/32 -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n";
        let f = judge_iptables(save);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("-D INPUT -p vrrp -j DROP"));
        let policy = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n";
        assert_eq!(judge_iptables(policy)[0].level, Level::Block);
        let fine = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p vrrp -j ACCEPT\nCOMMIT\n";
        assert_eq!(judge_iptables(fine)[0].level, Level::Ok);
    }

    #[test]
    fn sysctls_say_what_they_break() {
        assert_eq!(sysctl_nonlocal_bind(Some(0)).level, Level::Warn);
        assert_eq!(sysctl_nonlocal_bind(Some(1)).level, Level::Ok);
        let f = judge_iface_sysctls("eth0", Some(0), Some(2), Some(1));
        assert_eq!(
            f.iter().map(|f| f.level).collect::<Vec<_>>(),
            [Level::Ok, Level::Ok, Level::Warn]
        );
        assert!(f[2].fix.as_deref().unwrap().contains("rp_filter=2"));
        let f = judge_iface_sysctls("eth0", Some(8), Some(0), Some(0));
        assert_eq!(f[0].level, Level::Warn);
        assert_eq!(f[1].level, Level::Warn);
    }

    #[test]
    fn heard_routers_are_peers_conflicts_or_taken() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mine = BTreeMap::from([((51, false), vec![ip("10.0.0.100")])]);
        let heard = [
            Heard {
                vrid: 51,
                version: 2,
                priority: 100,
                src: ip("10.0.0.12"),
                addresses: vec![ip("10.0.0.100")],
            },
            Heard {
                vrid: 51,
                version: 2,
                priority: 200,
                src: ip("10.0.0.13"),
                addresses: vec![ip("10.0.0.200")],
            },
            Heard {
                vrid: 7,
                version: 3,
                priority: 100,
                src: ip("10.0.0.14"),
                addresses: vec![ip("10.0.0.7")],
            },
        ];
        let f = heard_checks("eth0", Duration::from_secs(3), &heard, &mine);
        assert_eq!(
            f.iter().map(|f| f.level).collect::<Vec<_>>(),
            [Level::Ok, Level::Block, Level::Ok],
            "{f:?}"
        );
        assert!(f[1].found.contains("10.0.0.13") && f[1].found.contains("10.0.0.200"));
        assert!(f[1].fix.as_deref().unwrap().contains("in use: 7, 51"));
        assert!(f[2].found.contains("VRIDs in use: 7"));
        assert_eq!(exit_code(&f), 2);
        assert_eq!(exit_code(&f[..1]), 0);
    }

    #[test]
    fn capabilities_name_what_is_missing() {
        assert_eq!(capabilities(&Some(u64::MAX)).level, Level::Ok);
        let f = capabilities(&Some(1 << CAP_NET_RAW));
        assert_eq!(f.level, Level::Warn);
        assert!(f.found.contains("CAP_NET_ADMIN") && f.found.contains("CAP_BPF"));
    }

    #[test]
    fn keepalived_config_from_its_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keepalived_config(&args(&["keepalived", "-f", "/tmp/k.conf", "-n"])),
            PathBuf::from("/tmp/k.conf")
        );
        assert_eq!(
            keepalived_config(&args(&["keepalived", "--use-file=/x.conf"])),
            PathBuf::from("/x.conf")
        );
        assert_eq!(
            keepalived_config(&args(&["keepalived", "--dont-fork"])),
            PathBuf::from("/etc/keepalived/keepalived.conf")
        );
    }
}
