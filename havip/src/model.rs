//! The model: what the daemon runs, whatever it was read from (the command line, keepalived.conf,
//! TOML): virtual routers ("instances") on interfaces, each with its VIPs, checks and hooks.
//! It sits below everything that reads or acts on it (config, CLI, daemon, track, notify) and
//! depends only on the protocol crate.

use std::net::IpAddr;

use crate::{
    vrrp::{Centis, GarpConfig, RouterConfig, StartState, Version},
    wire::ChecksumMode,
};

/// The XDP attach mode asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// Native (driver) mode where the driver supports it and can transmit XDP_TX frames, else
    /// generic (skb) mode.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Skb,
}

/// Everything `havip run` was asked to do.
#[derive(Clone, Debug)]
pub struct DaemonSpec {
    pub instances: Vec<InstanceSpec>,
    /// keepalived `vrrp_script` blocks (health checks), by name.
    pub scripts: Vec<ScriptSpec>,
    /// keepalived `vrrp_sync_group` blocks.
    pub sync_groups: Vec<SyncGroupSpec>,
    /// keepalived `global_defs { router_id }`, for logs.
    pub router_id: Option<String>,
    /// keepalived `enable_script_security` / `script_user`: who runs scripts and notify hooks.
    pub script_security: bool,
    pub script_user: Option<String>,
    pub xdp_mode: ModeChoice,
    pub advert_path: AdvertPath,
    /// Run the daemon with `SCHED_FIFO` at this priority (keepalived `vrrp_rt_priority`), so
    /// adverts leave on time on a busy machine.
    pub rt_priority: Option<u8>,
    /// Lock the daemon's memory (keepalived `vrrp_no_swap`): no page faults on the advert path.
    pub mlock: bool,
    /// Serve Prometheus metrics here (`--metrics-listen`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// keepalived `notify_fifo` and `vrrp_notify_fifo`: FIFOs each transition is written to,
    /// one line in keepalived's format.
    pub notify_fifos: Vec<FifoSpec>,
    /// keepalived `fifo_write_vrrp_states_on_reload`: after a reload, write every instance's
    /// state to the FIFOs, changed or not.
    pub fifo_states_on_reload: bool,
    /// keepalived `startup_script`: run before anything is set up, waited for.
    pub startup_script: Option<LifeScript>,
    /// keepalived `shutdown_script`: run after everything is torn down, waited for.
    pub shutdown_script: Option<LifeScript>,
    /// keepalived `track_file NAME { ... }` (and `vrrp_track_file`): files whose number moves
    /// the priority of the instances that track them.
    pub track_files: Vec<TrackFileSpec>,
    /// keepalived `vrrp_startup_delay`: how long after start-up the instances start (nothing is
    /// set up meanwhile). Not at a hitless restart.
    pub startup_delay: Option<std::time::Duration>,
    /// keepalived `net_namespace NAME`: the daemon enters `/run/netns/NAME` before anything
    /// else, and runs there (its instances, scripts and hooks). Read at start only.
    pub net_namespace: Option<String>,
    /// keepalived `static_ipaddress`: addresses (on the interface named with each) added at
    /// start and removed at stop, whatever the elections do.
    pub static_addresses: Vec<StaticAddress>,
    /// keepalived `static_routes`: routes added at start and removed at stop.
    pub static_routes: Vec<RouteSpec>,
    /// keepalived `static_rules`: rules added at start and removed at stop.
    pub static_rules: Vec<RuleSpec>,
    /// keepalived `bfd_instance NAME { ... }`: BFD sessions (RFC 5880/5881, single hop) to
    /// neighbours, run on a thread of their own; instances follow them with `track_bfd`, and
    /// with `fast_takeover`.
    pub bfds: Vec<BfdSpec>,
    /// keepalived `bfd_rt_priority`: the BFD thread's `SCHED_FIFO` priority (default: the
    /// daemon's `rt_priority`, if any).
    pub bfd_rt_priority: Option<u8>,
    /// havip's own block (keepalived.conf `havip_bgp { ... }`, TOML `[bgp]`, `--bgp-*`): the
    /// VIPs of the instances that say `bgp_announce` are announced as /32 (/128) routes by a
    /// BGP speaker (BIRD 2) that havip starts and supervises.
    pub bgp: Option<BgpSpec>,
}

/// How the VIPs reach the routing fabric over BGP (see ARCHITECTURE.md, "BGP").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpSpec {
    /// `local_as`: this node's AS number (1..=4294967295).
    pub local_as: u32,
    /// `router_id`: the BGP identifier (default: the first neighbour's source address as the
    /// kernel routes it, which BIRD picks as its lowest IPv4 address).
    pub router_id: Option<std::net::Ipv4Addr>,
    pub mode: BgpMode,
    /// What a BACKUP announces in active/standby (ignored in anycast).
    pub backup: BackupRoute,
    pub neighbors: Vec<BgpNeighbor>,
    /// `community A:B`: standard communities added to every announcement.
    pub communities: Vec<(u16, u16)>,
    /// `hold_time` (seconds, 3..=65535; default 9): BGP's own failure detection when BFD is off
    /// (the keepalive is a third of it).
    pub hold_time: u16,
    /// BFD timers of the sessions of the neighbours that have `bfd` (the speaker's BFD, not
    /// havip's `bfd_instance`).
    pub bfd: BgpBfdTimers,
    /// `bird`: the speaker's executable (default `bird`, found on PATH).
    pub bird: std::path::PathBuf,
}

/// `mode`: who announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BgpMode {
    /// The VRRP master announces; a backup withdraws (or announces a worse path, `backup`).
    #[default]
    ActiveStandby,
    /// Every healthy node announces; no election (no adverts are sent or heeded), and any
    /// failing tracked object (whatever its weight) withdraws the node's routes.
    Anycast,
}

/// `backup`: what a BACKUP announces in active/standby.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackupRoute {
    /// Nothing: the route is withdrawn (the default).
    #[default]
    Withdraw,
    /// The route with the local AS prepended this many more times (1..=10).
    Prepend(u8),
    /// The route with this MED (the master's is 0).
    Med(u32),
}

/// `neighbor ADDRESS { remote_as N; bfd; source ADDRESS }`: one BGP peer, directly connected
/// (single hop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpNeighbor {
    pub addr: IpAddr,
    pub remote_as: u32,
    /// BFD on the session (RFC 5882): the speaker drops it, and the router its routes, in a
    /// detection time rather than the hold time.
    pub bfd: bool,
    /// The local address of the session (default: the one the kernel routes from).
    pub source: Option<IpAddr>,
}

/// The speaker's BFD timers: `bfd_min_rx`, `bfd_min_tx` (ms), `bfd_multiplier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BgpBfdTimers {
    pub min_rx: std::time::Duration,
    pub min_tx: std::time::Duration,
    pub multiplier: u8,
}

impl Default for BgpBfdTimers {
    /// 50 ms × 3: a 150 ms detection that a loaded host does not trip (see BENCHMARKS.md).
    fn default() -> Self {
        BgpBfdTimers {
            min_rx: std::time::Duration::from_millis(50),
            min_tx: std::time::Duration::from_millis(50),
            multiplier: 3,
        }
    }
}

impl BgpSpec {
    /// A block for `local_as` with the defaults.
    pub fn new(local_as: u32) -> BgpSpec {
        BgpSpec {
            local_as,
            router_id: None,
            mode: BgpMode::ActiveStandby,
            backup: BackupRoute::Withdraw,
            neighbors: Vec::new(),
            communities: Vec::new(),
            hold_time: 9,
            bfd: BgpBfdTimers::default(),
            bird: "bird".into(),
        }
    }
}

/// keepalived `bfd_instance NAME { ... }`: one asynchronous-mode BFD session (RFC 5880) over
/// UDP (RFC 5881: to port 3784, from a port in 49152-65535).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdSpec {
    pub name: String,
    /// keepalived `neighbor_ip` (or `neighbour_ip`).
    pub neighbor: IpAddr,
    /// keepalived `source_ip`: the local address the session is bound to (default: the one the
    /// kernel routes from).
    pub source: Option<IpAddr>,
    /// keepalived `min_rx` (ms, microsecond resolution; default 10 ms): Required Min RX
    /// Interval.
    pub min_rx: std::time::Duration,
    /// keepalived `min_tx` (default 10 ms): Desired Min TX Interval while the session is up.
    pub min_tx: std::time::Duration,
    /// keepalived `idle_tx` (default 1000 ms): Desired Min TX Interval while it is not up
    /// (RFC 5880 6.8.3 asks for at least one second).
    pub idle_tx: std::time::Duration,
    /// keepalived `multiplier` (default 5): Detect Mult.
    pub multiplier: u8,
    /// keepalived `passive`: send nothing until the neighbour has sent something.
    pub passive: bool,
    /// keepalived `ttl` (IPv4, default 255) / `hoplimit` (IPv6, default 64): what is sent.
    pub ttl: u8,
    /// keepalived `max_hops` (default 0, at most `ttl`): a received TTL / hop limit may be this
    /// much below `ttl` (keepalived discards a packet when `received + max_hops < ttl`; 255, or
    /// `max_hops == ttl`, is not checked).
    pub max_hops: u8,
    /// keepalived `weight` (default 0): the weight of `track_bfd` entries that give none.
    pub weight: i32,
}

impl BfdSpec {
    /// keepalived's defaults for a session to `neighbor`.
    pub fn new(name: &str, neighbor: IpAddr) -> BfdSpec {
        BfdSpec {
            name: name.to_string(),
            neighbor,
            source: None,
            min_rx: std::time::Duration::from_millis(10),
            min_tx: std::time::Duration::from_millis(10),
            idle_tx: std::time::Duration::from_millis(1000),
            multiplier: 5,
            passive: false,
            ttl: if neighbor.is_ipv4() { 255 } else { 64 },
            max_hops: 0,
            weight: 0,
        }
    }
}

/// One `static_ipaddress` line: `ADDRESS[/PREFIX] dev IFACE [label LABEL]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticAddress {
    pub addr: VipSpec,
    pub dev: String,
}

impl DaemonSpec {
    /// A spec with these instances and defaults for everything else.
    pub fn new(instances: Vec<InstanceSpec>) -> DaemonSpec {
        DaemonSpec {
            instances,
            scripts: Vec::new(),
            sync_groups: Vec::new(),
            router_id: None,
            script_security: false,
            script_user: None,
            xdp_mode: ModeChoice::Auto,
            advert_path: AdvertPath::Socket,
            rt_priority: None,
            mlock: false,
            metrics_listen: None,
            notify_fifos: Vec::new(),
            fifo_states_on_reload: false,
            startup_script: None,
            shutdown_script: None,
            track_files: Vec::new(),
            startup_delay: None,
            net_namespace: None,
            static_addresses: Vec::new(),
            static_routes: Vec::new(),
            static_rules: Vec::new(),
            bfds: Vec::new(),
            bfd_rt_priority: None,
            bgp: None,
        }
    }
}

/// Why `name` cannot be a network namespace name (a file in /run/netns), if it cannot.
pub fn netns_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        Some("not a namespace name (a file name in /run/netns, as `ip netns add NAME` makes)")
    } else {
        None
    }
}

/// keepalived `startup_script` / `shutdown_script` with its `*_timeout`: a command line run once
/// (as notify hooks run: `script_user`, no shell), waited for, its process group killed at the
/// timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifeScript {
    pub command: String,
    pub timeout: std::time::Duration,
}

/// keepalived `track_file NAME { file PATH; weight W; init_file [VALUE] [overwrite] }`: the
/// number in the file (0 when missing or not a number), times the weight, is added to the
/// priority of each instance that tracks it; -254 or less puts it in FAULT. With weight 0, any
/// non-zero number is FAULT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFileSpec {
    pub name: String,
    /// Absolute (keepalived resolves a relative one against its working directory, `/`).
    pub path: std::path::PathBuf,
    /// The default weight of `track_file` entries that give none (keepalived: 1).
    pub weight: i32,
    /// keepalived `init_file [VALUE] [overwrite]`: at start, write VALUE (default 0) to the
    /// file if it is missing, or in any case with `overwrite`.
    pub init: Option<InitFile>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitFile {
    pub value: i64,
    pub overwrite: bool,
}

/// keepalived's default for `startup_script_timeout` and `shutdown_script_timeout`.
pub const LIFE_SCRIPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// keepalived `notify_fifo PATH [USER [GROUP]]` (and `vrrp_notify_fifo`, the same for havip,
/// which notifies VRRP only): a FIFO made if missing, owned by USER and GROUP when havip makes
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FifoSpec {
    pub path: std::path::PathBuf,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// How accepted adverts travel from XDP to the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AdvertPath {
    /// A BPF ring buffer: XDP copies the advert and drops it from the stack.
    Ringbuf,
    /// XDP passes the checked advert to the kernel stack; the daemon reads a raw VRRP socket.
    /// The default: measured faster here (p50 XDP→election 28-45 µs against 42-56 µs for the
    /// ring buffer, `cargo xtask bench adverts`; see ARCHITECTURE.md).
    Socket,
}

/// One virtual router on one interface, or (without `vrrp`) a static owner of its VIPs.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSpec {
    /// Name used in logs and stats (keepalived's `vrrp_instance` name).
    pub name: String,
    pub iface: String,
    pub vips: Vec<VipSpec>,
    /// `None`: no election; the VIPs are owned while the daemon runs.
    pub vrrp: Option<VrrpSpec>,
    /// keepalived.conf `havip_bgp_announce` (TOML `bgp_announce`): the VIPs are announced
    /// over BGP (the daemon's `bgp` block) while this instance is master (active/standby) or
    /// healthy (anycast).
    pub bgp_announce: bool,
}

/// A virtual address with the prefix length and label it gets on the interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

impl std::fmt::Display for VipSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The election parameters of one instance; the primary address is found at run time.
#[derive(Clone, Debug, PartialEq)]
pub struct VrrpSpec {
    pub vrid: u8,
    pub priority: u8,
    pub version: Version,
    pub advert_interval: Centis,
    /// VRRPv2 `auth_type PASS` password, zero-padded to 8 bytes.
    pub auth: Option<[u8; 8]>,
    pub preempt: bool,
    pub preempt_delay: std::time::Duration,
    pub start_as: StartState,
    pub garp: GarpConfig,
    /// VRRPv3 over IPv4: checksum with the pseudo-header (RFC, keepalived 2.2.7) or without.
    pub checksum: ChecksumMode,
    /// keepalived `unicast_src_ip`: the source of unicast adverts (default: primary address).
    pub unicast_src: Option<IpAddr>,
    /// keepalived `unicast_peer { ... }`: send adverts to each of these instead of multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// keepalived `check_unicast_src`: with unicast peers, accept adverts only from them (in
    /// XDP and in the election). On by default in havip; off only when asked for.
    pub check_unicast_src: bool,
    /// keepalived `use_vmac`: the virtual router's MAC 00:00:5e:00:01:VRID (IPv6:
    /// 00:00:5e:00:02:VRID), in XDP (no macvlan): the master answers ARP (and NS) with it, sends GARPs and adverts from it, and accepts
    /// frames sent to it; a backup does none of this.
    pub use_vmac: bool,
    /// keepalived `vmac_xmit_base`: with `use_vmac`, adverts go out with the interface's own
    /// MAC (GARPs and ARP replies keep the virtual MAC).
    pub vmac_xmit_base: bool,
    /// keepalived `track_interface`: interface name and weight (0: down means FAULT).
    pub track_interfaces: Vec<(String, i32)>,
    /// keepalived `track_script`: script name and weight override.
    pub track_scripts: Vec<(String, Option<i32>)>,
    /// keepalived `track_file { NAME [weight W] }`: the file's weight unless overridden.
    pub track_files: Vec<(String, Option<i32>)>,
    /// keepalived `track_bfd { NAME [weight W] }`: the session's weight unless overridden
    /// (keepalived's rule: a positive weight is added while the session is up, a negative one
    /// while it is down; 0: down means FAULT).
    pub track_bfds: Vec<(String, Option<i32>)>,
    /// havip's extension, outside RFC 9568 (keepalived.conf `havip_fast_takeover`): a backup
    /// whose BFD session (any `bfd_instance` whose neighbour is the master's address) goes down
    /// from up takes over after a skew at BFD scale, instead of waiting for
    /// Master_Down_Interval.
    pub fast_takeover: bool,
    /// keepalived `lower_prio_no_advert`: a master does not answer a lower-priority advert
    /// with an advert (its GARPs still go out).
    pub lower_prio_no_advert: bool,
    /// keepalived `down_timer_adverts`: advert intervals in Master_Down_Interval (3..=100).
    pub down_timer_adverts: u8,
    /// keepalived `unicast_ttl`: the TTL (hop limit) of unicast adverts.
    pub unicast_ttl: u8,
    /// keepalived `unicast_peer { ADDR min_ttl N max_ttl M }`, for the peers that give a range.
    pub peer_ttl: Vec<(IpAddr, u8, u8)>,
    /// keepalived `virtual_routes`: added after the VIPs when the instance becomes master,
    /// removed when it stops being master.
    pub virtual_routes: Vec<RouteSpec>,
    /// keepalived `virtual_rules`: as the routes, added before them and removed before them.
    pub virtual_rules: Vec<RuleSpec>,
    /// keepalived `mcast_dst_ip` (or `vrrp_mcast_group4`/`6`): the multicast group adverts go
    /// to, when not the RFC's (224.0.0.18, ff02::12).
    pub mcast_group: Option<IpAddr>,
    /// RFC 9568 Accept_Mode (keepalived `accept`, the default; `no_accept` turns it off): off,
    /// a master that is not the address owner drops traffic to its VIPs (net::firewall).
    pub accept: bool,
    pub notify: NotifySpec,
}

/// One `virtual_rules` / `static_rules` line: a policy routing rule in `ip rule`'s words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub v6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub tos: Option<u8>,
    pub priority: Option<u32>,
    pub action: RuleAction,
    /// `not`: the selector inverted.
    pub invert: bool,
}

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    Table(u32),
    Goto(u32),
    Blackhole,
    Unreachable,
    Prohibit,
}

impl std::fmt::Display for RuleSpec {
    /// The line as `ip rule` would take it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut words = Vec::new();
        if self.v6 && self.from.is_none() && self.to.is_none() {
            words.push("inet6".to_string());
        }
        if self.invert {
            words.push("not".into());
        }
        if let Some((a, l)) = self.from {
            words.push(format!("from {a}/{l}"));
        }
        if let Some((a, l)) = self.to {
            words.push(format!("to {a}/{l}"));
        }
        if let Some(i) = &self.iif {
            words.push(format!("iif {i}"));
        }
        if let Some(o) = &self.oif {
            words.push(format!("oif {o}"));
        }
        if let Some(m) = self.fwmark {
            words.push(format!("fwmark {m}"));
        }
        if let Some(t) = self.tos {
            words.push(format!("tos {t}"));
        }
        if let Some(p) = self.priority {
            words.push(format!("priority {p}"));
        }
        words.push(match self.action {
            RuleAction::Table(t) => format!("table {t}"),
            RuleAction::Goto(g) => format!("goto {g}"),
            RuleAction::Blackhole => "blackhole".into(),
            RuleAction::Unreachable => "unreachable".into(),
            RuleAction::Prohibit => "prohibit".into(),
        });
        write!(f, "{}", words.join(" "))
    }
}

/// What a route does with the packets it matches (`ip route`'s type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKind {
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
}

/// One `virtual_routes` line: keepalived's (and `ip route`'s) words, the ones havip reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub kind: RouteKind,
    pub dest: IpAddr,
    pub prefix_len: u8,
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// The preferred source address (`src`).
    pub src: Option<IpAddr>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
    pub scope: Option<u8>,
    pub protocol: Option<u8>,
    pub onlink: bool,
}

impl std::fmt::Display for RouteSpec {
    /// The line as `ip route` would take it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            RouteKind::Unicast => {}
            RouteKind::Blackhole => write!(f, "blackhole ")?,
            RouteKind::Unreachable => write!(f, "unreachable ")?,
            RouteKind::Prohibit => write!(f, "prohibit ")?,
            RouteKind::Throw => write!(f, "throw ")?,
        }
        write!(f, "{}/{}", self.dest, self.prefix_len)?;
        if let Some(v) = self.via {
            write!(f, " via {v}")?;
        }
        if let Some(d) = &self.dev {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = self.src {
            write!(f, " src {s}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(s) = self.scope {
            write!(f, " scope {s}")?;
        }
        if let Some(p) = self.protocol {
            write!(f, " proto {p}")?;
        }
        if self.onlink {
            write!(f, " onlink")?;
        }
        Ok(())
    }
}

/// keepalived's notify hooks: command lines, run with the instance's name and new state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifySpec {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// keepalived `notify`: called for every transition with `INSTANCE name STATE priority`.
    pub any: Option<String>,
    /// keepalived `notify_master_rx_lower_pri` (instances only): run, with no arguments, when a
    /// master hears a lower-priority advert.
    pub master_rx_lower_pri: Option<String>,
    /// keepalived `notify_priority_changes` (instances only; `vrrp_notify_priority_changes` is
    /// the default): each change of the priority tracking gives writes
    /// `INSTANCE "NAME" MASTER_PRIORITY PRIO` (or `BACKUP_PRIORITY`) to the notify FIFOs.
    pub priority_changes: bool,
}

/// keepalived `vrrp_script NAME { ... }`: a health check whose result moves the priority.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptSpec {
    pub name: String,
    /// The command line (keepalived `script`).
    pub script: String,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    /// Added to the priority while the check succeeds (> 0) or fails (< 0); 0 means a failing
    /// check puts the instance in FAULT.
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
    /// keepalived `user`.
    pub user: Option<String>,
    /// A `vrrp_track_process` (then `script` is only its description, `havip probe process
    /// NAME RANGE`, and `interval`/`timeout` are the polling fallback's).
    pub process: Option<ProcessTrack>,
}

/// keepalived `vrrp_track_process NAME { ... }`: which processes count, and how their number
/// becomes health (`keepalived/core/track_process.c`; the semantics are in `track/process.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessTrack {
    /// `process NAME`: compared with `/proc/PID/comm`, or with `argv[0]` when `full_command`.
    pub name: String,
    /// The words after the name in `process NAME PARAM...`, compared with `argv[1..]`.
    pub params: Vec<String>,
    pub param_match: ParamMatch,
    /// keepalived `full_command` (also implied by parameters and `param_match`).
    pub full_command: bool,
    /// Healthy while `quorum <= count <= quorum_max`.
    pub quorum: u32,
    pub quorum_max: u32,
    /// keepalived `fork_delay` (and `delay`): a quorum gained by a tracked process forking
    /// counts after this long.
    pub fork_delay: std::time::Duration,
    /// keepalived `terminate_delay` (and `delay`): a quorum lost by a process exiting counts
    /// after this long.
    pub terminate_delay: std::time::Duration,
}

/// keepalived `param_match`: how `process NAME PARAM...`'s parameters are compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParamMatch {
    /// Not compared (no parameters, no `param_match`).
    #[default]
    None,
    /// All of `argv[1..]`, exactly (parameters given, or a bare `param_match`).
    Exact,
    /// The first parameters are the given ones (`param_match partial`).
    Partial,
    /// As `Partial`, and the last given one need only begin its argument
    /// (`param_match initial`).
    Initial,
}

/// keepalived `vrrp_sync_group NAME { group { ... } }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupSpec {
    pub name: String,
    pub instances: Vec<String>,
    pub notify: NotifySpec,
    /// keepalived's `track_interface`, `track_script` / `track_process`, `track_file` and
    /// `track_bfd` on the group: each member tracks them, with their weights (0 where a member
    /// is an address owner). The config reader adds them to the members' own lists.
    pub track: GroupTrack,
    /// keepalived `sync_group_tracking_weight` (or its older `global_tracking`): the members
    /// keep the weights of their own tracking (without it they lose them, so that they cannot
    /// end up master on different nodes); keeping the group together is then the operator's.
    pub tracking_weight: bool,
}

/// What a sync group tracks for all its members.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTrack {
    pub interfaces: Vec<(String, i32)>,
    pub scripts: Vec<(String, Option<i32>)>,
    pub files: Vec<(String, Option<i32>)>,
    pub bfds: Vec<(String, Option<i32>)>,
}

impl VrrpSpec {
    /// keepalived's defaults for everything but the router's id and priority.
    pub fn new(vrid: u8, priority: u8) -> VrrpSpec {
        VrrpSpec {
            vrid,
            priority,
            version: Version::V2,
            advert_interval: Centis(100),
            auth: None,
            preempt: true,
            preempt_delay: std::time::Duration::ZERO,
            start_as: StartState::Backup,
            garp: GarpConfig::default(),
            checksum: ChecksumMode::PseudoHeader,
            unicast_src: None,
            unicast_peers: Vec::new(),
            check_unicast_src: true,
            use_vmac: false,
            vmac_xmit_base: false,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_bfds: Vec::new(),
            fast_takeover: false,
            lower_prio_no_advert: false,
            down_timer_adverts: 3,
            unicast_ttl: 255,
            peer_ttl: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            mcast_group: None,
            accept: true,
            notify: NotifySpec::default(),
        }
    }

    /// The election's configuration for this instance: the one mapping from the spec to
    /// [`RouterConfig`], used by the daemon and by `check-config`, so what the check validates is
    /// what the daemon runs.
    ///
    /// `primary` is the interface's own address of the VIPs' family (the daemon's), or a stand-in
    /// of that family (`check-config`, which has no interface); `unicast_src`, when given,
    /// replaces it as the adverts' source and the tie-break address. Adverts from unicast peers
    /// may be routed, so their TTL is not checked (as keepalived).
    pub fn router_config(&self, vips: &[VipSpec], primary: IpAddr) -> RouterConfig {
        // Both sides spelled out: a field added to either struct must be decided on here.
        let VrrpSpec {
            vrid,
            priority,
            version,
            advert_interval,
            auth,
            preempt,
            preempt_delay,
            start_as,
            garp,
            unicast_src,
            unicast_peers,
            check_unicast_src,
            lower_prio_no_advert,
            down_timer_adverts,
            peer_ttl,
            // Not the election's: the wire (checksum, unicast_ttl), the data plane (use_vmac),
            // the firewall (accept),
            // health and hooks.
            checksum: _,
            unicast_ttl: _,
            use_vmac: _,
            vmac_xmit_base: _,
            track_interfaces: _,
            track_scripts: _,
            track_files: _,
            track_bfds: _,
            fast_takeover: _,
            virtual_routes: _,
            virtual_rules: _,
            mcast_group: _,
            accept: _,
            notify: _,
        } = self;
        RouterConfig {
            vrid: *vrid,
            priority: *priority,
            version: *version,
            advert_interval: *advert_interval,
            primary_addr: unicast_src.unwrap_or(primary),
            vips: vips.iter().map(|v| v.addr).collect(),
            preempt: *preempt,
            preempt_delay: *preempt_delay,
            auth: *auth,
            start_as: *start_as,
            garp: garp.clone(),
            check_ttl: unicast_peers.is_empty(),
            lower_prio_no_advert: *lower_prio_no_advert,
            down_timer_adverts: *down_timer_adverts,
            peer_ttl: peer_ttl.clone(),
            allowed_sources: if *check_unicast_src {
                unicast_peers.clone()
            } else {
                Vec::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn vip(last: u8) -> VipSpec {
        VipSpec {
            addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)),
            prefix_len: 24,
            label: None,
        }
    }

    /// Every election field of the spec reaches the router's config; the interface's address is
    /// the primary unless `unicast_src` says otherwise.
    #[test]
    fn router_config_maps_every_election_field() {
        let garp = GarpConfig {
            delay: Duration::from_secs(2),
            repeat: 3,
            refresh: Some(Duration::from_secs(60)),
            refresh_repeat: 2,
            interval: Duration::from_millis(10),
            lower_prio_delay: Some(Duration::from_secs(9)),
            lower_prio_repeat: Some(4),
        };
        let v = VrrpSpec {
            version: Version::V2,
            advert_interval: Centis(200),
            auth: Some(*b"secret\0\0"),
            preempt: true,
            preempt_delay: Duration::from_secs(7),
            start_as: StartState::Backup,
            garp: garp.clone(),
            ..VrrpSpec::new(42, 150)
        };
        let primary = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let cfg = v.router_config(&[vip(100), vip(101)], primary);
        assert_eq!(
            cfg,
            RouterConfig {
                vrid: 42,
                priority: 150,
                version: Version::V2,
                advert_interval: Centis(200),
                primary_addr: primary,
                vips: vec![vip(100).addr, vip(101).addr],
                preempt: true,
                preempt_delay: Duration::from_secs(7),
                auth: Some(*b"secret\0\0"),
                start_as: StartState::Backup,
                garp,
                check_ttl: true,
                allowed_sources: Vec::new(),
                lower_prio_no_advert: false,
                down_timer_adverts: 3,
                peer_ttl: Vec::new(),
            }
        );
        assert_eq!(cfg.validate(), Ok(()));
    }

    /// keepalived `unicast_src_ip` is the adverts' source (and so the tie-break address); adverts
    /// from unicast peers may be routed, so their TTL is not checked.
    #[test]
    fn unicast_src_is_the_primary_and_unicast_peers_skip_the_ttl_check() {
        let src = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
        let v = VrrpSpec {
            unicast_src: Some(src),
            unicast_peers: vec![IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2))],
            ..VrrpSpec::new(1, 100)
        };
        let cfg = v.router_config(&[vip(100)], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(cfg.primary_addr, src);
        assert!(!cfg.check_ttl);
        let multicast = VrrpSpec::new(1, 100)
            .router_config(&[vip(100)], IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(multicast.check_ttl);
    }

    /// keepalived `check_unicast_src`, on by default here: the unicast peers are the only
    /// sources the election accepts; turned off, any source is.
    #[test]
    fn unicast_peers_are_the_only_sources_unless_the_check_is_off() {
        let peer = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 2));
        let primary = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let v = VrrpSpec {
            unicast_peers: vec![peer],
            ..VrrpSpec::new(1, 100)
        };
        assert_eq!(
            v.router_config(&[vip(100)], primary).allowed_sources,
            [peer]
        );
        let off = VrrpSpec {
            check_unicast_src: false,
            ..v
        };
        assert!(off
            .router_config(&[vip(100)], primary)
            .allowed_sources
            .is_empty());
        let multicast = VrrpSpec::new(1, 100).router_config(&[vip(100)], primary);
        assert!(multicast.allowed_sources.is_empty());
    }
}
