//! Routed labs for havip's BGP mode: a router namespace running FRR (zebra, bfdd, bgpd) with
//! ECMP, nodes each on a subnet of its own behind a veth to the router (no L2 shared between
//! nodes), a client behind the router; the router's state read through vtysh's JSON, as an
//! operator reads it. Everything belongs to a [`Lab`]: FRR's daemons and BIRD are lab processes
//! (their logs in the lab's panic dump), killed, and their files removed, when the lab drops.
//!
//! What the lab's router does, as measured with [`crate::flows`]:
//! - ECMP hashes each flow's 5-tuple (see [`Lab::router`]), the same tuple to the same next hop
//!   while the next hops stay the same.
//! - The kernel's multipath is hash-threshold (RFC 2992), not resilient: each next hop owns a
//!   slice of the hash space in order, so a withdrawal moves the withdrawn node's flows and, unless
//!   it was the middle one of three, some flows between the remaining nodes too (disabling the
//!   first of three moved half of the second's flows to the third); the return of the node
//!   restores the old map. zebra 8.4 makes no resilient nexthop groups.
//! - A route's change reaches the kernel's table 60-75 ms after the UPDATE (or the session's
//!   end) reaches bgpd: bgpd holds its route-processing queue 50 ms (built in), zebra its own
//!   10 ms. A BIRD killed with SIGKILL is out of the FIB in ~72 ms (its TCP connection closes);
//!   a node gone silent in ~100 ms (BFD's 30 ms, then the same).
//! - FRR 8.4's bgpd drops every BFD-enabled session once, just after it first establishes: the
//!   session's source address and interface become known then, bgpd reinstalls the BFD session,
//!   the BFD session goes down, and either bgpd ends BGP with a Cease "BFD Down" (6/10) or BIRD,
//!   seeing its BFD session go down, with a Cease (6/0) (FRRouting/frr#17337, fixed upstream by
//!   #17344 in November 2024). The session comes back a second later (neighbours show 2
//!   established, 1 dropped); BIRD, restarted after an error, sends its routes a second after
//!   that: a node's routes reach the router some 3 s after the start instead of about 1. Some
//!   starts (by the timing) keep BGP up and leave BFD down for a second or two instead: wait for
//!   both ([`Frr::wait_established`], [`Frr::wait_bfd`]).

use std::{
    collections::{BTreeMap, BTreeSet},
    ffi::CString,
    fmt::Write as _,
    fs,
    net::Ipv4Addr,
    os::unix::fs::PermissionsExt as _,
    path::PathBuf,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::lab::{sh_ok, Lab};

/// FRR's daemons, in the order they start (bfdd and bgpd connect to zebra).
const FRR_DAEMONS: [&str; 3] = ["zebra", "bfdd", "bgpd"];

/// How long a daemon may take to open its vty socket.
const START: Duration = Duration::from_secs(10);

/// How long a BGP session stays up before [`Frr::wait_established`] calls it so.
const SETTLE: Duration = Duration::from_millis(100);

/// FRR's daemons and the hand-run BIRD run `SCHED_FIFO` at this priority (the havip daemons'
/// in the labs, above the probers' 40): on a loaded machine (2 cores, a build beside) a BFD
/// sender at normal priority once stalled 60 ms, past 10 ms × 3, and a session fell that no
/// test had touched. The router is the lab's reference, not what a test measures.
pub const RT_PRIORITY: &str = "50";

/// A host on a subnet of its own, routed by a lab router: its `eth0` is a veth whose peer is in
/// the router's namespace (no bridge), its default route via the router's address on that link.
#[derive(Clone, Debug)]
pub struct RoutedHost {
    /// The short name it was created with (`n1`): a node's name in the flow probes.
    pub name: String,
    /// The namespace's full name.
    pub ns: String,
    /// Its interface to the router (always `eth0`).
    pub iface: String,
    /// Its address on the link.
    pub ip: String,
    pub prefix_len: u8,
    /// The router's address on the link: the host's default gateway, a node's BGP neighbour.
    pub gateway: String,
    /// The router's end of the veth, in the router's namespace (`to-<name>`).
    pub router_iface: String,
    pub mac: String,
}

impl RoutedHost {
    /// The link's subnet, e.g. "10.98.1.0/24".
    pub fn subnet(&self) -> String {
        let ip: Ipv4Addr = self.ip.parse().expect("IPv4");
        format!(
            "{}/{}",
            Ipv4Addr::from(u32::from(ip) & mask(self.prefix_len)),
            self.prefix_len
        )
    }
}

fn mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

impl Lab {
    /// A router: namespace `<prefix>-<short>` forwarding IPv4 and IPv6, hashing each flow's
    /// 5-tuple over a multipath route's next hops, so flows that differ only in their source port
    /// spread. Connect hosts with [`Lab::routed_host`], run FRR in it with [`Lab::frr`].
    ///
    /// The hash is policy 3 with the 5-tuple's fields (`fib_multipath_hash_fields=0x37`), not
    /// policy 1: policy 1 takes a hash the packet already carries, and over a veth a packet keeps
    /// its sending socket's random one, so each new socket of the client's (each flow map) would
    /// land anywhere, where a router in another box hashes the headers.
    pub fn router(&mut self, short: &str) -> String {
        let ns = self.add_ns(short);
        sh_ok(
            Command::new("ip")
                .args(["netns", "exec", &ns, "sysctl", "-qw"])
                .args([
                    "net.ipv4.ip_forward=1",
                    "net.ipv4.fib_multipath_hash_policy=3",
                    "net.ipv4.fib_multipath_hash_fields=0x37",
                    "net.ipv6.conf.all.forwarding=1",
                    "net.ipv6.fib_multipath_hash_policy=3",
                    "net.ipv6.fib_multipath_hash_fields=0x37",
                ]),
        );
        ns
    }

    /// Host `short` with address `cidr` (e.g. "10.98.1.2/24") on its `eth0`, on a link of its
    /// own to namespace `router`: a veth pair whose router end, `to-<short>`, gets the subnet's
    /// first address, the host's default gateway. A node, or the client.
    pub fn routed_host(&mut self, router: &str, short: &str, cidr: &str) -> RoutedHost {
        let router_iface = format!("to-{short}");
        assert!(
            router_iface.len() <= 15,
            "{router_iface}: an interface name too long"
        );
        let (ip, len) = cidr
            .split_once('/')
            .unwrap_or_else(|| panic!("{cidr}: not address/length"));
        let addr: Ipv4Addr = ip.parse().unwrap_or_else(|e| panic!("{cidr}: {e}"));
        let prefix_len: u8 = len.parse().unwrap_or_else(|e| panic!("{cidr}: {e}"));
        assert!(prefix_len <= 30, "{cidr}: no room for a router and a host");
        let gateway = Ipv4Addr::from((u32::from(addr) & mask(prefix_len)) + 1);
        assert_ne!(
            addr, gateway,
            "{cidr}: the subnet's first address is the router's"
        );
        let ns = self.add_ns(short);
        sh_ok(Command::new("ip").args([
            "link",
            "add",
            "eth0",
            "netns",
            &ns,
            "type",
            "veth",
            "peer",
            "name",
            &router_iface,
            "netns",
            router,
        ]));
        self.ip(
            router,
            &format!("addr add {gateway}/{prefix_len} dev {router_iface}"),
        );
        self.ip(router, &format!("link set {router_iface} up"));
        self.ip(&ns, &format!("addr add {cidr} dev eth0"));
        self.ip(&ns, "link set eth0 up");
        self.ip(&ns, &format!("route add default via {gateway}"));
        let mac = self.ip(&ns, "-br link show eth0");
        let mac = mac
            .split_whitespace()
            .nth(2)
            .expect("MAC in `ip -br link`")
            .to_string();
        RoutedHost {
            name: short.into(),
            ns,
            iface: "eth0".into(),
            ip: ip.into(),
            prefix_len,
            gateway: gateway.to_string(),
            router_iface,
            mac,
        }
    }

    /// Starts FRR's zebra, bfdd and bgpd (in that order, each once the one before opened its
    /// vty socket; `SCHED_FIFO` [`RT_PRIORITY`]) in namespace `ns`, configured from `config`,
    /// as lab processes labelled
    /// `<name>-zebra`, `<name>-bfdd`, `<name>-bgpd`, logging to their lab logs. Their files
    /// (configs, vty and zserv sockets, pid files) are in the lab directory's `<name>-frr`,
    /// owned by `frr` (the daemons drop to that user); what they leave in /var/tmp/frr goes
    /// when the lab drops.
    pub fn frr(&mut self, name: &str, ns: &str, config: &FrrConfig) -> Frr {
        // The daemons, as user frr, reach their directory through the lab's.
        fs::set_permissions(self.dir(), fs::Permissions::from_mode(0o755))
            .expect("opening the lab directory to frr");
        let dir = self.dir().join(format!("{name}-frr"));
        fs::create_dir_all(&dir).expect("creating FRR's directory");
        let (uid, gid) = user_ids("frr");
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown frr: FRR's directory");
        let frr = Frr {
            ns: ns.into(),
            dir: dir.clone(),
            labels: FRR_DAEMONS.map(|d| format!("{name}-{d}")),
        };
        for (daemon, label) in FRR_DAEMONS.iter().zip(&frr.labels) {
            let conf = dir.join(format!("{daemon}.conf"));
            fs::write(&conf, config.daemon_conf(daemon, name))
                .unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
            let file = |ext: &str| dir.join(format!("{daemon}.{ext}")).display().to_string();
            let exe = format!("/usr/lib/frr/{daemon}");
            let dir_s = dir.display().to_string();
            let zserv = dir.join("zserv.api").display().to_string();
            let (pid, conf) = (file("pid"), file("conf"));
            let mut argv = vec![
                "chrt",
                "-f",
                RT_PRIORITY,
                exe.as_str(),
                "-u",
                "frr",
                "-g",
                "frr",
                "--vty_socket",
                &dir_s,
                "-z",
                &zserv,
                "-i",
                &pid,
                "-f",
                &conf,
                "--log",
                "stdout",
                // No vty on TCP: vtysh talks to the socket in the directory.
                "-P",
                "0",
            ];
            let bfdctl = dir.join("bfdd.sock").display().to_string();
            if *daemon == "bfdd" {
                argv.extend(["--bfdctl", &bfdctl]);
            }
            let p = self.spawn(label, ns, &argv);
            let pid = p.pid();
            // FRR's per-process scratch directory (crash logs), which a killed daemon keeps.
            self.remove_on_drop(PathBuf::from(format!("/var/tmp/frr/{daemon}.{pid}")));
            let vty = dir.join(format!("{daemon}.vty"));
            let deadline = Instant::now() + START;
            while !vty.exists() {
                let p = self.proc(label);
                if let Ok(Some(status)) = p.child.try_wait() {
                    panic!("{label} exited ({status}) at start:\n{}", p.log_text());
                }
                assert!(
                    Instant::now() < deadline,
                    "{label} opened no vty socket within {START:?}:\n{}",
                    p.log_text()
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
        frr
    }

    /// Starts BIRD 2 in namespace `ns` in the foreground (`SCHED_FIFO` [`RT_PRIORITY`]) with
    /// configuration `config`, as lab process `label`, its control socket in the lab
    /// directory; returns once the socket is
    /// there. Its log reaches the lab's when the configuration says `log stderr all;` (as
    /// [`bird_announce_config`]'s does).
    pub fn bird(&mut self, label: &str, ns: &str, config: &str) -> Bird {
        let conf = self.dir().join(format!("{label}.bird.conf"));
        fs::write(&conf, config).expect("writing bird.conf");
        let socket = self.dir().join(format!("{label}.bird.ctl"));
        let pid = self.dir().join(format!("{label}.bird.pid"));
        let p = self.spawn(
            label,
            ns,
            &[
                "chrt",
                "-f",
                RT_PRIORITY,
                "bird",
                "-f",
                "-c",
                conf.to_str().unwrap(),
                "-s",
                socket.to_str().unwrap(),
                "-P",
                pid.to_str().unwrap(),
            ],
        );
        let deadline = Instant::now() + START;
        while !socket.exists() {
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!(
                    "{label} (BIRD) exited ({status}) at start:\n{}",
                    p.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{label} (BIRD) opened no control socket within {START:?}:\n{}",
                p.log_text()
            );
            thread::sleep(Duration::from_millis(10));
        }
        Bird {
            label: label.into(),
            ns: ns.into(),
            socket,
        }
    }

    /// From now on namespace `ns` drops every packet it receives or sends (an nftables table
    /// of the lab's own, `hvsilence`, in that namespace): a host frozen or dead without a word,
    /// which only BFD or the hold time tells its neighbours about.
    pub fn silence(&self, ns: &str) {
        for rules in [
            "add table inet hvsilence",
            "add chain inet hvsilence in { type filter hook input priority -300; policy drop; }",
            "add chain inet hvsilence out { type filter hook output priority -300; policy drop; }",
        ] {
            let out = self.exec(ns, &["nft", rules]);
            assert!(out.status.success(), "nft {rules}: {out:?}");
        }
    }

    /// Ends what [`Lab::silence`] did to `ns`.
    pub fn unsilence(&self, ns: &str) {
        let out = self.exec(ns, &["nft", "delete table inet hvsilence"]);
        assert!(out.status.success(), "nft delete table: {out:?}");
    }
}

/// The uid and gid of user `name`.
fn user_ids(name: &str) -> (u32, u32) {
    let c = CString::new(name).unwrap();
    // SAFETY: getpwnam with a valid C string; the fields are read before any other call.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    assert!(!pw.is_null(), "no user {name}: is FRR installed?");
    // SAFETY: a non-null entry from getpwnam.
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// A BGP neighbour of the FRR router.
#[derive(Clone, Debug)]
pub struct FrrNeighbor {
    pub ip: String,
    pub remote_as: u32,
    /// Whether the session has BFD (bfdd's profile `fast`, see [`FrrConfig`]).
    pub bfd: bool,
}

/// What an FRR router runs: `router bgp` with the `datacenter` defaults (eBGP without
/// policies, advertisement interval 0), ECMP over `maximum_paths`, and the BFD profile `fast`
/// its BFD neighbours use.
#[derive(Clone, Debug)]
pub struct FrrConfig {
    pub local_as: u32,
    pub router_id: String,
    pub neighbors: Vec<FrrNeighbor>,
    /// `maximum-paths` for eBGP in IPv4 unicast: how many next hops a prefix gets.
    pub maximum_paths: u32,
    /// `bgp bestpath as-path multipath-relax`: ECMP also over paths from different ASes.
    pub multipath_relax: bool,
    /// Profile `fast`: the intervals (ms) and multiplier bfdd asks for.
    pub bfd_tx_ms: u32,
    pub bfd_rx_ms: u32,
    pub bfd_multiplier: u32,
    /// Lines added as they are to `router bgp` (before the address family).
    pub extra_bgp: Vec<String>,
}

impl FrrConfig {
    /// AS `local_as`, router id `router_id`, no neighbour yet, 8 paths, BFD at 10 ms × 3.
    pub fn new(local_as: u32, router_id: &str) -> FrrConfig {
        FrrConfig {
            local_as,
            router_id: router_id.into(),
            neighbors: Vec::new(),
            maximum_paths: 8,
            multipath_relax: false,
            bfd_tx_ms: 10,
            bfd_rx_ms: 10,
            bfd_multiplier: 3,
            extra_bgp: Vec::new(),
        }
    }

    /// Adds neighbour `ip` in AS `remote_as`, with BFD or not.
    pub fn neighbor(mut self, ip: &str, remote_as: u32, bfd: bool) -> FrrConfig {
        self.neighbors.push(FrrNeighbor {
            ip: ip.into(),
            remote_as,
            bfd,
        });
        self
    }

    /// The configuration file of FRR daemon `daemon` (each gets only its own commands: bgpd
    /// refuses bfdd's block, and the other way round), for router `hostname`.
    pub fn daemon_conf(&self, daemon: &str, hostname: &str) -> String {
        let mut c = String::new();
        if daemon == "bgpd" {
            // Only read as a file's first command.
            c += "frr defaults datacenter\n";
        }
        c += &format!("hostname {hostname}\nlog timestamp precision 3\n");
        match daemon {
            "bfdd" => {
                let _ = write!(
                    c,
                    "bfd\n profile fast\n  transmit-interval {}\n  receive-interval {}\n  \
                     detect-multiplier {}\n exit\nexit\n",
                    self.bfd_tx_ms, self.bfd_rx_ms, self.bfd_multiplier
                );
            }
            "bgpd" => {
                let _ = writeln!(c, "router bgp {}", self.local_as);
                let _ = writeln!(c, " bgp router-id {}", self.router_id);
                c += " no bgp ebgp-requires-policy\n";
                if self.multipath_relax {
                    c += " bgp bestpath as-path multipath-relax\n";
                }
                for n in &self.neighbors {
                    let _ = writeln!(c, " neighbor {} remote-as {}", n.ip, n.remote_as);
                    let _ = writeln!(c, " neighbor {} timers connect 1", n.ip);
                    if n.bfd {
                        let _ = writeln!(c, " neighbor {} bfd", n.ip);
                        let _ = writeln!(c, " neighbor {} bfd profile fast", n.ip);
                    }
                }
                for line in &self.extra_bgp {
                    let _ = writeln!(c, " {line}");
                }
                let _ = write!(
                    c,
                    " address-family ipv4 unicast\n  maximum-paths {}\n exit-address-family\nexit\n",
                    self.maximum_paths
                );
            }
            _ => {}
        }
        c
    }
}

/// An FRR router a lab started ([`Lab::frr`]): read with vtysh.
#[derive(Clone, Debug)]
pub struct Frr {
    /// The router's namespace.
    pub ns: String,
    /// Its directory: configurations, vty sockets, pid files.
    pub dir: PathBuf,
    /// Its daemons' lab labels (zebra, bfdd, bgpd).
    pub labels: [String; 3],
}

/// One of the router's BGP paths to a prefix (`show bgp ipv4 unicast PREFIX json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpPath {
    /// The neighbour it came from.
    pub peer: String,
    pub nexthop: String,
    /// As FRR prints it: "65001", "65001 65001", "" for a local route.
    pub as_path: String,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    /// Communities as FRR prints them ("65001:100 no-export"), if any.
    pub communities: Option<String>,
    pub origin: String,
    pub valid: bool,
    /// The best path.
    pub best: bool,
    /// Used for ECMP (the best path is one too).
    pub multipath: bool,
}

/// A BGP neighbour's row in `show bgp summary json`.
#[derive(Clone, Debug)]
pub struct BgpNeighbor {
    pub remote_as: u32,
    /// "Established", "Active", "Connect", "Idle", ...
    pub state: String,
    /// Prefixes received, while established.
    pub prefixes_received: Option<u64>,
    pub established: u64,
    pub dropped: u64,
    /// Since the state last changed.
    pub uptime: Duration,
}

/// A BFD session of bfdd's (`show bfd peers json`).
#[derive(Clone, Debug)]
pub struct BfdPeer {
    pub peer: String,
    pub local: String,
    pub interface: String,
    /// "up", "down", "init", "shutdown".
    pub status: String,
    pub diagnostic: String,
    pub remote_diagnostic: String,
    /// The intervals and multiplier in use, ms (bfdd's own and the peer's).
    pub transmit_ms: u64,
    pub receive_ms: u64,
    pub multiplier: u64,
    pub remote_transmit_ms: u64,
    pub remote_receive_ms: u64,
    pub remote_multiplier: u64,
}

impl Frr {
    /// `vtysh -c CMD` against this router's daemons; its output. Panics when vtysh fails.
    pub fn vtysh(&self, cmd: &str) -> String {
        let out = sh_ok(
            Command::new("vtysh")
                .arg("--vty_socket")
                .arg(&self.dir)
                .args(["-c", cmd]),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `vtysh -c CMD` (a `... json` command), parsed; `{}` for an empty answer.
    pub fn json(&self, cmd: &str) -> Value {
        let out = self.vtysh(cmd);
        if out.trim().is_empty() {
            return Value::Object(Default::default());
        }
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("`{cmd}` printed no JSON ({e}):\n{out}"))
    }

    /// The next hops zebra installed for `prefix` (exactly that prefix, e.g.
    /// "203.0.113.10/32"): the gateways of its selected route's next hops that are active and
    /// in the FIB. Empty when there is no such route.
    pub fn rib_nexthops(&self, prefix: &str) -> BTreeSet<String> {
        let v = self.json(&format!("show ip route {prefix} json"));
        let mut hops = BTreeSet::new();
        for route in v[prefix].as_array().into_iter().flatten() {
            if route["selected"] != Value::Bool(true) {
                continue;
            }
            for nh in route["nexthops"].as_array().into_iter().flatten() {
                if nh["active"] == Value::Bool(true) && nh["fib"] == Value::Bool(true) {
                    if let Some(ip) = nh["ip"].as_str() {
                        hops.insert(ip.to_string());
                    }
                }
            }
        }
        hops
    }

    /// The gateways of `prefix`'s route in the router's kernel table (`ip route show PREFIX`):
    /// what forwards, read without vtysh (a few milliseconds, for tight polling).
    pub fn fib_nexthops(&self, prefix: &str) -> BTreeSet<String> {
        fib_nexthops(&self.ns, prefix)
    }

    /// As [`Frr::fib_nexthops`], in the kernel's order (see [`fib_gateways`]).
    pub fn fib_gateways(&self, prefix: &str) -> Vec<String> {
        fib_gateways(&self.ns, prefix)
    }

    /// The router's BGP paths to `prefix` (IPv4 unicast).
    pub fn bgp_paths(&self, prefix: &str) -> Vec<BgpPath> {
        let v = self.json(&format!("show bgp ipv4 unicast {prefix} json"));
        v["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| BgpPath {
                peer: p["peer"]["peerId"].as_str().unwrap_or_default().into(),
                nexthop: p["nexthops"][0]["ip"].as_str().unwrap_or_default().into(),
                as_path: p["aspath"]["string"].as_str().unwrap_or_default().into(),
                med: p["metric"].as_u64().map(|m| m as u32),
                local_pref: p["locPrf"].as_u64().map(|m| m as u32),
                communities: p["community"]["string"].as_str().map(str::to_string),
                origin: p["origin"].as_str().unwrap_or_default().into(),
                valid: p["valid"] == Value::Bool(true),
                best: p["bestpath"]["overall"] == Value::Bool(true),
                multipath: p["multipath"] == Value::Bool(true),
            })
            .collect()
    }

    /// The router's BGP neighbours (IPv4 unicast), by address.
    pub fn neighbors(&self) -> BTreeMap<String, BgpNeighbor> {
        let v = self.json("show bgp summary json");
        let Some(peers) = v["ipv4Unicast"]["peers"].as_object() else {
            return BTreeMap::new();
        };
        peers
            .iter()
            .map(|(ip, p)| {
                let n = BgpNeighbor {
                    remote_as: p["remoteAs"].as_u64().unwrap_or_default() as u32,
                    state: p["state"].as_str().unwrap_or_default().into(),
                    prefixes_received: p["pfxRcd"].as_u64(),
                    established: p["connectionsEstablished"].as_u64().unwrap_or_default(),
                    dropped: p["connectionsDropped"].as_u64().unwrap_or_default(),
                    uptime: Duration::from_millis(p["peerUptimeMsec"].as_u64().unwrap_or_default()),
                };
                (ip.clone(), n)
            })
            .collect()
    }

    /// bfdd's sessions.
    pub fn bfd_peers(&self) -> Vec<BfdPeer> {
        let v = self.json("show bfd peers json");
        let s = |p: &Value, k: &str| p[k].as_str().unwrap_or_default().to_string();
        let n = |p: &Value, k: &str| p[k].as_u64().unwrap_or_default();
        v.as_array()
            .into_iter()
            .flatten()
            .map(|p| BfdPeer {
                peer: s(p, "peer"),
                local: s(p, "local"),
                interface: s(p, "interface"),
                status: s(p, "status"),
                diagnostic: s(p, "diagnostic"),
                remote_diagnostic: s(p, "remote-diagnostic"),
                transmit_ms: n(p, "transmit-interval"),
                receive_ms: n(p, "receive-interval"),
                multiplier: n(p, "detect-multiplier"),
                remote_transmit_ms: n(p, "remote-transmit-interval"),
                remote_receive_ms: n(p, "remote-receive-interval"),
                remote_multiplier: n(p, "remote-detect-multiplier"),
            })
            .collect()
    }

    /// Waits until every neighbour in `peers` is Established, and still is, on the same
    /// connection, 100 ms later (FRR 8.4 drops a BFD session just after its first
    /// establishment: see the module's notes); returns how long that took.
    pub fn wait_established(&self, peers: &[&str], timeout: Duration) -> Duration {
        let connections = |n: &BTreeMap<String, BgpNeighbor>| -> Option<Vec<u64>> {
            peers
                .iter()
                .map(|p| {
                    let n = n.get(*p)?;
                    (n.state == "Established").then_some(n.established)
                })
                .collect()
        };
        let mut up: Option<(Instant, Vec<u64>)> = None;
        self.wait_for(&format!("{peers:?} Established"), timeout, || {
            let n = self.neighbors();
            match (connections(&n), &up) {
                (None, _) => up = None,
                (Some(c), Some((since, was))) if c == *was => {
                    return (since.elapsed() >= SETTLE, format!("{n:#?}"));
                }
                (Some(c), _) => up = Some((Instant::now(), c)),
            }
            (false, format!("{n:#?}"))
        })
    }

    /// Waits until bfdd's sessions with every one of `peers` are in `status` ("up", "down");
    /// returns how long that took.
    pub fn wait_bfd(&self, peers: &[&str], status: &str, timeout: Duration) -> Duration {
        self.wait_for(&format!("BFD {status} with {peers:?}"), timeout, || {
            let sessions = self.bfd_peers();
            let ok = peers
                .iter()
                .all(|p| sessions.iter().any(|s| s.peer == *p && s.status == status));
            (ok, format!("{sessions:#?}"))
        })
    }

    /// Waits until zebra's next hops for `prefix` ([`Frr::rib_nexthops`]) are exactly
    /// `expected` (empty: the route is gone); returns how long that took. vtysh takes some
    /// 35 ms a call: for finer timing poll [`Frr::fib_nexthops`] (see [`Frr::wait_fib_nexthops`]).
    pub fn wait_nexthops(&self, prefix: &str, expected: &[&str], timeout: Duration) -> Duration {
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        self.wait_for(&format!("{prefix} via {want:?}"), timeout, || {
            let have = self.rib_nexthops(prefix);
            (have == want, format!("zebra has {have:?}"))
        })
    }

    /// As [`Frr::wait_nexthops`], reading the kernel's table (`ip route`, a few milliseconds a
    /// look).
    pub fn wait_fib_nexthops(
        &self,
        prefix: &str,
        expected: &[&str],
        timeout: Duration,
    ) -> Duration {
        let want: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        self.wait_for(
            &format!("{prefix} via {want:?} in the kernel"),
            timeout,
            || {
                let have = self.fib_nexthops(prefix);
                (have == want, format!("the kernel has {have:?}"))
            },
        )
    }

    /// Polls `check` (done, what it saw) until done; panics after `timeout` with what it saw
    /// last and BGP's and BFD's views.
    fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> (bool, String),
    ) -> Duration {
        let start = Instant::now();
        loop {
            let (done, seen) = check();
            if done {
                return start.elapsed();
            }
            if start.elapsed() > timeout {
                panic!(
                    "the router had not {what} after {timeout:?}: {seen}\n{}\n{}",
                    self.vtysh("show bgp summary"),
                    self.vtysh("show bfd peers brief")
                );
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The gateways of `prefix`'s route in namespace `ns`'s main table (`ip -j route show`; one
/// next hop or several).
pub fn fib_nexthops(ns: &str, prefix: &str) -> BTreeSet<String> {
    fib_gateways(ns, prefix).into_iter().collect()
}

/// As [`fib_nexthops`], in the kernel's order: the order that decides which slice of the hash
/// space each next hop gets (hash-threshold, see the module's notes).
pub fn fib_gateways(ns: &str, prefix: &str) -> Vec<String> {
    let out = sh_ok(Command::new("ip").args(["-j", "-n", ns, "route", "show", prefix]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut hops = Vec::new();
    for route in v.as_array().into_iter().flatten() {
        if let Some(gw) = route["gateway"].as_str() {
            hops.push(gw.to_string());
        }
        for nh in route["nexthops"].as_array().into_iter().flatten() {
            if let Some(gw) = nh["gateway"].as_str() {
                hops.push(gw.to_string());
            }
        }
    }
    hops
}

/// A BIRD a lab started ([`Lab::bird`]).
#[derive(Clone, Debug)]
pub struct Bird {
    /// Its lab label (see [`Lab::proc`]).
    pub label: String,
    pub ns: String,
    /// Its control socket.
    pub socket: PathBuf,
}

impl Bird {
    /// `birdc -s SOCKET CMD...` (words split on whitespace); its output. Panics when birdc
    /// fails.
    pub fn birdc(&self, cmd: &str) -> String {
        let out = sh_ok(
            Command::new("birdc")
                .arg("-s")
                .arg(&self.socket)
                .args(cmd.split_whitespace()),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The state of protocol `name` as `show protocols` prints it ("up", "down", "start") and
    /// its info column ("Established", "Active", ...).
    pub fn protocol(&self, name: &str) -> (String, String) {
        let out = self.birdc(&format!("show protocols {name}"));
        // "Name  Proto  Table  State  Since  Info": the since column holds a space-less time.
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no protocol {name} in {out}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        (
            w.get(3).copied().unwrap_or_default().into(),
            w.get(5..).map(|i| i.join(" ")).unwrap_or_default(),
        )
    }
}

/// A hand-run BIRD's configuration for `node` (scaffolding until havip runs its own): eBGP
/// session `up` from AS `local_as` to the node's gateway in AS `router_as`, with BFD at
/// 10 ms × 3 and quick retries (`error wait time 1,5`: after an early BFD down BIRD otherwise
/// waits 60 s), announcing each of `vips` as a /32 from static protocol `vips` (`birdc disable
/// vips` withdraws them), importing nothing; its log to stderr (the lab's log).
pub fn bird_announce_config(
    node: &RoutedHost,
    local_as: u32,
    router_as: u32,
    vips: &[&str],
) -> String {
    let routes: String = vips
        .iter()
        .map(|v| format!("    route {v}/32 blackhole;\n"))
        .collect();
    format!(
        "log stderr all;\ndebug protocols {{ states, events }};\nrouter id {ip};\nprotocol device {{}}\n\
         protocol bfd {{\n    interface \"*\" {{ min rx interval 10 ms; min tx interval 10 ms; \
         multiplier 3; }};\n}}\n\
         protocol static vips {{\n    ipv4;\n{routes}}}\n\
         protocol bgp up {{\n    local {ip} as {local_as};\n    neighbor {gw} as {router_as};\n    \
         bfd on;\n    hold time 3;\n    error wait time 1,5;\n    connect retry time 1;\n    \
         ipv4 {{ import none; export where source = RTS_STATIC; }};\n}}\n",
        ip = node.ip,
        gw = node.gateway,
    )
}

/// The routed labs' VIP, and the ASes of the router and of the nodes.
pub const BGP_VIP: &str = "203.0.113.10";
pub const ROUTER_AS: u32 = 65000;
pub const NODE_AS: u32 = 65001;

/// A node's keepalived.conf: one instance on `eth0` announcing the VIP, BGP to the router with
/// BFD (havip's default timers, 50 ms × 3), a check that fails when `flag` is missing.
pub fn vrrp_bgp_conf(
    me: &RoutedHost,
    priority: u8,
    bgp_extra: &str,
    peers: &[&RoutedHost],
    flag: &str,
) -> String {
    vrrp_bgp_conf_with(me, priority, "0.1", Some(bgp_extra), peers, flag)
}

/// As [`vrrp_bgp_conf`] with the advert interval `advert_int` (seconds), and without the
/// `havip_bgp` block when `bgp_extra` is `None` (keepalived beside a BIRD of its own).
pub fn vrrp_bgp_conf_with(
    me: &RoutedHost,
    priority: u8,
    advert_int: &str,
    bgp_extra: Option<&str>,
    peers: &[&RoutedHost],
    flag: &str,
) -> String {
    let unicast = if peers.is_empty() {
        String::new()
    } else {
        let list: String = peers
            .iter()
            .map(|p| format!("        {}\n", p.ip))
            .collect();
        format!(
            "    unicast_src_ip {}\n    unicast_peer {{\n{list}    }}\n",
            me.ip
        )
    };
    let (bgp, announce) = match bgp_extra {
        Some(extra) => (
            format!(
                "havip_bgp {{\n    local_as {NODE_AS}\n{extra}    neighbor {} {{\n        remote_as \
                 {ROUTER_AS}\n        bfd\n    }}\n}}\n",
                me.gateway
            ),
            "    havip_bgp_announce\n",
        ),
        None => (String::new(), ""),
    };
    format!(
        "global_defs {{\n    vrrp_version 3\n    vrrp_rt_priority 50\n}}\n\
         vrrp_script chk {{\n    script \"/usr/bin/test -e {flag}\"\n    interval 1\n    fall 1\n    rise 1\n    weight -20\n}}\n\
         {bgp}vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {advert_int}\n{unicast}    virtual_ipaddress {{\n        {BGP_VIP}/32\n    }}\n    \
         track_script {{\n        chk weight 0\n    }}\n{announce}}}\n"
    )
}

pub fn start_havip(lab: &mut Lab, label: &str, node: &RoutedHost, conf: &str) {
    let file = lab.dir().join(format!("{label}.conf"));
    std::fs::write(&file, conf).unwrap();
    let file = file.to_str().unwrap().to_string();
    let ns = node.ns.clone();
    lab.havip_in(
        crate::lab::Launcher::IpNetnsExec,
        label,
        &ns,
        &["run", "--config", &file],
    )
    .wait_started(Duration::from_secs(15));
}

/// The BIRD processes running in `ns` (havip's child, or none).
pub fn birds_in(ns: &str) -> Vec<u32> {
    let want = crate::lab::netns_inode(ns);
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "bird")
                && std::fs::metadata(format!("/proc/{pid}/ns/net"))
                    .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                    .is_ok_and(|i| i == want)
        })
        .collect()
}
