//! The command line: `havip run`, and the parsers that turn bad input into errors that say
//! what was wrong and what to type instead.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    str::FromStr,
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    config::Format,
    logging::LogFormat,
    model::{
        AdvertPath, BackupRoute, BfdSpec, BgpBfdTimers, BgpMode, BgpNeighbor, BgpSpec, DaemonSpec,
        InstanceSpec, ModeChoice, VipSpec, VrrpSpec,
    },
    vrrp::{Centis, StartState, Version},
    wire::ChecksumMode,
};

#[derive(Parser, Debug)]
#[command(
    name = "havip",
    version,
    // `--version` is ours (commit, XDP object digest, with -v the kernel's features).
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = true,
    about = "VRRP with an XDP data plane: keeps a virtual IP alive"
)]
pub struct Cli {
    /// Print the version, git commit and embedded XDP object's digest (with -v, the kernel's
    /// features too) and exit.
    #[arg(short = 'V', long)]
    pub version: bool,
    /// With --version: also the kernel release, BTF, bpffs and XDP support found.
    #[arg(short, long, requires = "version")]
    pub verbose: bool,
    /// Log lines as text (no timestamp of havip's own under systemd's journal) or JSON.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: attach the XDP program, own or elect for the VIPs, until SIGINT/SIGTERM.
    Run(RunArgs),
    /// Show the daemon's state and the XDP counters of this network namespace.
    Stats(StatsArgs),
    /// Check a config file (keepalived.conf or havip TOML) without running it: print its
    /// warnings and errors.
    #[command(
        after_help = "Exit status: 0 when the file is valid (warnings allowed), 1 when it \
                            is invalid, 2 when it cannot be read."
    )]
    CheckConfig(CheckConfigArgs),
    /// Run one health probe and exit 0 when healthy, 1 when not (usable as a keepalived
    /// vrrp_script; havip itself runs `havip probe ...` scripts in process, without a fork).
    #[command(
        after_help = "Probes: tcp HOST:PORT | http URL [LOW-HIGH] | sip HOST:PORT | \
                            process NAME. Exit status: 0 healthy, 1 unhealthy, 2 bad usage."
    )]
    Probe(ProbeArgs),
    /// Check this host for what breaks VRRP (kernel, BPF, privileges, sysctls, firewall rules,
    /// multicast, a running keepalived, other routers on the LAN): one line per check, with
    /// the fix.
    #[command(after_help = "Exit status: 0 all fine, 1 warnings, 2 something blocks VRRP.")]
    Doctor(DoctorArgs),
    /// Hitless restart: ask this namespace's daemon to exit leaving its masters' VIPs and its
    /// XDP program answering for the next `havip run`, which resumes as master without a
    /// failover if it starts within the backups' Master_Down_Interval. Waits until the daemon
    /// has exited. havip.service runs it on `systemctl restart`.
    #[command(
        after_help = "Exit status: 0 handed over (or, with --if-restarting, nothing to do), \
                      1 it could not be."
    )]
    Handover(HandoverArgs),
}

#[derive(Args, Debug, Clone)]
pub struct HandoverArgs {
    /// Hand over only when systemd is restarting this unit (its job is a restart), else do
    /// nothing so that the stop goes on as usual: for `ExecStop=` (`%n` gives the name).
    #[arg(long, value_name = "UNIT")]
    pub if_restarting: Option<String>,
    /// Seconds to wait for the daemon to hand over and exit.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// The configuration whose interfaces and VRIDs are checked; default: the one `havip run`
    /// would read (/etc/havip/havip.conf, havip.toml, /etc/keepalived/keepalived.conf).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The syntax of --config whatever its name.
    #[arg(long, value_enum, requires = "config")]
    pub format: Option<Format>,
    /// Also check this interface (repeatable), e.g. without a configuration.
    #[arg(long = "iface", value_name = "IFACE")]
    pub ifaces: Vec<String>,
    /// Seconds to listen for other VRRP routers on each interface.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    pub listen: f64,
}

#[derive(Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Seconds to wait for an answer.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// The probe and its arguments, e.g. `sip 127.0.0.1:5060`.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
    pub probe: Vec<String>,
}

#[derive(Args, Debug, Clone)]
pub struct CheckConfigArgs {
    /// The config file: TOML when it ends in .toml, keepalived.conf syntax otherwise.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Read the file in this syntax whatever its name.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Also print what havip would run (instances, VIPs, timers, scripts).
    #[arg(long)]
    pub print: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Refresh every second until interrupted.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run what this config file says (keepalived.conf, or havip TOML when it ends in .toml)
    /// instead of the instance flags; --xdp-mode and --advert-path still apply. With neither
    /// --config nor --iface/--vip: /etc/havip/havip.conf, /etc/havip/havip.toml, else
    /// /etc/keepalived/keepalived.conf.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "iface", "vips", "vrid", "priority", "advert_int", "vrrp_version", "auth_pass",
        "nopreempt", "preempt_delay", "state", "v3_checksum_as_v2", "bfds", "fast_takeover",
        "bgp_as", "bgp_router_id", "bgp_neighbors", "bgp_mode", "bgp_backup", "bgp_communities",
        "bgp_hold_time", "bgp_bfd", "bird",
    ])]
    pub config: Option<PathBuf>,
    /// The syntax of --config whatever its name.
    #[arg(long, value_enum, requires = "config")]
    pub format: Option<Format>,
    /// The interface the VIPs live on.
    #[arg(long, value_name = "IFACE", requires = "vips")]
    pub iface: Option<String>,
    /// A virtual IP with its prefix length, e.g. 10.0.0.100/24 (repeat for more).
    #[arg(long = "vip", value_name = "ADDR/LEN", requires = "iface")]
    pub vips: Vec<Vip>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = ModeChoice::Auto)]
    pub xdp_mode: ModeChoice,
    /// Virtual router id (1-255). Without it, havip owns the VIPs with no election.
    #[arg(long, requires = "iface", value_parser = clap::value_parser!(u8).range(1..=255))]
    pub vrid: Option<u8>,
    /// Priority (1-255; 255 = the address owner).
    #[arg(long, default_value_t = 100, requires = "vrid",
          value_parser = clap::value_parser!(u8).range(1..=255))]
    pub priority: u8,
    /// Advertisement interval in seconds; fractions down to 0.01 with VRRPv3.
    #[arg(long, value_name = "SECONDS", default_value = "1", requires = "vrid")]
    pub advert_int: AdvertInt,
    /// VRRP version.
    #[arg(long, value_name = "2|3", default_value = "2", requires = "vrid")]
    pub vrrp_version: VersionArg,
    /// VRRPv2 simple password (keepalived `auth_type PASS`), up to 8 characters.
    #[arg(long, value_name = "PASS", requires = "vrid")]
    pub auth_pass: Option<String>,
    /// Do not take over from a lower-priority master.
    #[arg(long, requires = "vrid")]
    pub nopreempt: bool,
    /// Seconds to keep a lower-priority master before preempting it.
    #[arg(long, value_name = "SECONDS", requires = "vrid")]
    pub preempt_delay: Option<f64>,
    /// Initial state, as keepalived's `state`: master takes over after one advert interval
    /// unless a better master is heard.
    #[arg(long, value_enum, default_value_t = StateArg::Backup, requires = "vrid")]
    pub state: StateArg,
    /// VRRPv3 over IPv4: checksum without the pseudo-header (keepalived `v3_checksum_as_v2`).
    #[arg(long, requires = "vrid")]
    pub v3_checksum_as_v2: bool,
    /// Send adverts to this peer instead of multicast (repeatable; keepalived `unicast_peer`).
    #[arg(long = "unicast-peer", value_name = "ADDR", requires = "vrid")]
    pub unicast_peers: Vec<Ipv4Addr>,
    /// Accept adverts from any source, not only the unicast peers (turns keepalived's
    /// `check_unicast_src`, on by default, off; any host that can reach this one can then take
    /// the VIPs over).
    #[arg(long, requires = "unicast_peers")]
    pub no_check_unicast_src: bool,
    /// Source address of unicast adverts (keepalived `unicast_src_ip`); default: the interface's.
    #[arg(long, value_name = "ADDR", requires = "unicast_peers")]
    pub unicast_src_ip: Option<Ipv4Addr>,
    /// The RFC's virtual MAC, 00:00:5e:00:01:VRID (IPv6 :02:) (keepalived `use_vmac`, in XDP):
    /// the master answers ARP with it, sends GARPs and adverts from it and accepts frames to it,
    /// so a client's ARP entry never changes at a failover.
    #[arg(long, requires = "vrid")]
    pub use_vmac: bool,
    /// With --use-vmac, adverts go out from the interface's own MAC (keepalived `vmac_xmit_base`).
    #[arg(long, requires = "use_vmac")]
    pub vmac_xmit_base: bool,
    /// A BFD session (RFC 5880/5881) to NEIGHBOR, an IPv4 or IPv6 address (repeatable;
    /// keepalived `bfd_instance`), with keepalived's defaults unless given: `name=NAME` (default
    /// bfd1, bfd2, ... in order), `source=ADDR`, `min_rx=MS` (10), `min_tx=MS` (10),
    /// `idle_tx=MS` (1000, at least 1000), `multiplier=N` (5), `passive`, `ttl=N` (255; IPv6
    /// 64), `max_hops=N` (0, at most ttl), e.g. `--bfd 10.0.0.2,min_rx=50,min_tx=50`.
    #[arg(long = "bfd", value_name = "NEIGHBOR[,KEY=VALUE...]")]
    pub bfds: Vec<BfdArg>,
    /// havip's extension, outside RFC 9568: as a backup, take over as soon as the --bfd session
    /// to the master's address goes down, after a skew at BFD scale, instead of waiting for
    /// Master_Down_Interval (keepalived.conf `havip_fast_takeover`).
    #[arg(long, requires_all = ["vrid", "bfds"])]
    pub fast_takeover: bool,
    /// Real-time scheduling of the BFD sessions' thread: SCHED_FIFO at this priority, 1-99
    /// (keepalived `bfd_rt_priority`; default: --rt-priority's).
    #[arg(long, value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub bfd_rt_priority: Option<u8>,
    /// havip's BGP announcement of the VIPs (keepalived.conf `havip_bgp`).
    #[command(flatten)]
    pub bgp: Box<BgpArgs>,
    /// Serve Prometheus metrics on this address (GET /metrics), e.g. 127.0.0.1:9150.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Real-time scheduling: SCHED_FIFO at this priority, 1-99 (keepalived `vrrp_rt_priority`).
    #[arg(long, value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=99))]
    pub rt_priority: Option<u8>,
    /// Lock the daemon's memory so it is never swapped out (keepalived `vrrp_no_swap`).
    #[arg(long)]
    pub mlock: bool,
    /// How XDP hands adverts to the daemon.
    #[arg(long, value_enum, default_value_t = AdvertPath::Socket)]
    pub advert_path: AdvertPath,
}

/// `--state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    Master,
    Backup,
}

/// `havip run`'s BGP flags (keepalived.conf `havip_bgp`), boxed: most runs have none.
#[derive(Args, Debug, Clone)]
pub struct BgpArgs {
    /// Announce the VIPs over BGP from this AS number, 1-4294967295 (keepalived.conf
    /// `havip_bgp`'s `local_as`): havip starts BIRD 2, which announces each VIP as a /32 (/128)
    /// route to the --bgp-neighbor routers while the instance is master (or, with --bgp-mode
    /// anycast, while it is healthy). Needs --vrid and a --bgp-neighbor.
    #[arg(long, value_name = "AS", value_parser = clap::value_parser!(u32).range(1..))]
    pub bgp_as: Option<u32>,
    /// A BGP neighbour, directly connected (repeatable; keepalived.conf `neighbor ADDR { ... }`):
    /// its address, `as=N` its AS number (required), `bfd` to watch the session with the
    /// speaker's BFD (--bgp-bfd), `source=ADDR` the local address (default: the one the kernel
    /// routes from), e.g. `--bgp-neighbor 10.0.0.254,as=65000,bfd`.
    #[arg(
        long = "bgp-neighbor",
        value_name = "ADDR,as=N[,bfd][,source=ADDR]",
        requires = "bgp_as"
    )]
    pub bgp_neighbors: Vec<BgpNeighborArg>,
    /// The BGP identifier, an IPv4 address (default: BIRD's, the lowest IPv4 address of the host).
    #[arg(long, value_name = "IPV4", requires = "bgp_as")]
    pub bgp_router_id: Option<Ipv4Addr>,
    /// Who announces: the VRRP master (active-standby, the default) or every healthy node
    /// (anycast: no adverts are sent or heeded, and any failing tracked object withdraws).
    #[arg(long, value_name = "MODE", value_enum, requires = "bgp_as")]
    pub bgp_mode: Option<BgpModeArg>,
    /// What a backup announces in active-standby: nothing (withdraw, the default), the route
    /// with the local AS prepended N more times (prepend=N, 1-10), or with this MED (med=N,
    /// 1-4294967295; the master's is 0).
    #[arg(long, value_name = "withdraw|prepend=N|med=N", requires = "bgp_as")]
    pub bgp_backup: Option<BackupArg>,
    /// A standard community added to every route, ASN:VALUE (repeatable), e.g. 65001:100.
    #[arg(long = "bgp-community", value_name = "ASN:VALUE", requires = "bgp_as")]
    pub bgp_communities: Vec<CommunityArg>,
    /// The BGP hold time in seconds, 3-65535 (default 9; the keepalive is a third of it): how
    /// long a router keeps the routes of a silent session without BFD.
    #[arg(long, value_name = "SECONDS", requires = "bgp_as",
          value_parser = clap::value_parser!(u16).range(3..))]
    pub bgp_hold_time: Option<u16>,
    /// The speaker's BFD timers for the neighbours with `bfd`: `min_rx=MS`, `min_tx=MS` (1-10000,
    /// default 50), `multiplier=N` (1-255, default 3), e.g. `--bgp-bfd min_rx=100,min_tx=100`.
    #[arg(long, value_name = "KEY=VALUE[,...]", requires = "bgp_as")]
    pub bgp_bfd: Option<BgpBfdArg>,
    /// The BIRD 2 executable havip starts as the BGP speaker (default: bird, found on PATH).
    #[arg(long, value_name = "PATH", requires = "bgp_as")]
    pub bird: Option<String>,
}

/// `--bgp-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BgpModeArg {
    /// The VRRP master announces; a backup withdraws or announces a worse path (--bgp-backup).
    ActiveStandby,
    /// Every healthy node announces; no election.
    Anycast,
}

/// `--vrrp-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionArg(pub Version);

impl FromStr for VersionArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "2" => Ok(VersionArg(Version::V2)),
            "3" => Ok(VersionArg(Version::V3)),
            _ => Err(format!(
                "VRRP version {s:?}: use 2 (RFC 3768) or 3 (RFC 9568)"
            )),
        }
    }
}

/// `--advert-int`: seconds with at most two decimals (VRRPv3 counts centiseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertInt(pub Centis);

impl FromStr for AdvertInt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "give seconds with at most two decimals, from 0.01 to 40.95 (VRRPv3) or a \
                    whole number from 1 to 255 (VRRPv2)";
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 2 || (whole.is_empty() && frac.is_empty()) {
            return Err(format!(
                "advert interval {s:?}: VRRP counts centiseconds; {hint}"
            ));
        }
        let whole: u32 = if whole.is_empty() {
            Ok(0)
        } else {
            whole.parse()
        }
        .map_err(|_| format!("advert interval {s:?} is not a number: {hint}"))?;
        let frac: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<2}")
                .parse()
                .map_err(|_| format!("advert interval {s:?}: {hint}"))?
        };
        let cs = whole.saturating_mul(100).saturating_add(frac);
        if cs == 0 || cs > 25500 {
            return Err(format!("advert interval {s:?} is out of range: {hint}"));
        }
        Ok(AdvertInt(Centis(cs as u16)))
    }
}

impl RunArgs {
    /// What to run, checked: one instance on `--iface` (for `--config`, see `app.rs`).
    pub fn to_spec(&self) -> Result<DaemonSpec, String> {
        let iface = self
            .iface
            .clone()
            .ok_or("give --iface and --vip, or --config FILE")?;
        let vips = self
            .vips
            .iter()
            .map(|v| VipSpec {
                addr: v.addr.into(),
                prefix_len: v.prefix_len,
                label: None,
            })
            .collect();
        let vrrp = match self.vrid {
            None => None,
            Some(vrid) => Some(self.vrrp_spec(vrid)?),
        };
        let name = match self.vrid {
            Some(vrid) => format!("VI_{vrid}"),
            None => "static".to_string(),
        };
        let bgp = match self.bgp.bgp_as {
            None => None,
            Some(local_as) => Some(self.bgp_spec(local_as, vrrp.as_ref())?),
        };
        let mut spec = DaemonSpec::new(vec![InstanceSpec {
            name,
            iface,
            vips,
            vrrp,
            bgp_announce: bgp.is_some(),
        }]);
        spec.bgp = bgp;
        spec.xdp_mode = self.xdp_mode;
        spec.advert_path = self.advert_path;
        spec.rt_priority = self.rt_priority;
        spec.bfd_rt_priority = self.bfd_rt_priority;
        spec.mlock = self.mlock;
        for (i, b) in self.bfds.iter().enumerate() {
            let mut b = b.0.clone();
            if b.name.is_empty() {
                b.name = format!("bfd{}", i + 1);
            }
            if let Some((msg, _)) = crate::config::bfd_conflict(&spec.bfds, &b) {
                return Err(format!(
                    "--bfd: {msg}: one session per neighbour and source"
                ));
            }
            spec.bfds.push(b);
        }
        spec.metrics_listen = self.metrics_listen;
        Ok(spec)
    }

    /// `--bgp-*`: the BGP block for `--bgp-as`, which the instance (`vrrp`) announces from.
    /// What the config files warn of (ignored settings) is refused here, as the other flags do.
    fn bgp_spec(&self, local_as: u32, vrrp: Option<&VrrpSpec>) -> Result<BgpSpec, String> {
        let a = &self.bgp;
        let Some(v) = vrrp else {
            return Err(
                "--bgp-as: the instance needs an election (--vrid) to announce from; in anycast \
                 mode it sends no adverts, but its tracking decides whether the node announces"
                    .into(),
            );
        };
        if a.bgp_neighbors.is_empty() {
            return Err(
                "--bgp-as: give at least one --bgp-neighbor ADDR,as=N: no router would hear the \
                 routes"
                    .into(),
            );
        }
        let mut b = BgpSpec::new(local_as);
        b.router_id = a.bgp_router_id;
        if b.router_id.is_some_and(|r| r.is_unspecified()) {
            return Err(
                "--bgp-router-id 0.0.0.0 is not a BGP identifier: give a non-zero IPv4 address"
                    .into(),
            );
        }
        b.mode = match a.bgp_mode {
            None | Some(BgpModeArg::ActiveStandby) => BgpMode::ActiveStandby,
            Some(BgpModeArg::Anycast) => BgpMode::Anycast,
        };
        if let Some(backup) = a.bgp_backup {
            b.backup = backup.0;
        }
        if let Some(h) = a.bgp_hold_time {
            b.hold_time = h;
        }
        for c in &a.bgp_communities {
            if b.communities.contains(&c.0) {
                return Err(format!(
                    "--bgp-community {}:{} is given twice",
                    c.0 .0, c.0 .1
                ));
            }
            b.communities.push(c.0);
        }
        if let Some(t) = a.bgp_bfd {
            b.bfd = t.0;
        }
        if let Some(p) = &a.bird {
            if let Some(why) = crate::config::bird_path_problem(p) {
                return Err(format!("--bird {p:?}: {why}"));
            }
            b.bird = p.into();
        }
        for n in &a.bgp_neighbors {
            if b.neighbors.iter().any(|x| x.addr == n.0.addr) {
                return Err(format!(
                    "--bgp-neighbor {} is given twice: one session per neighbour",
                    n.0.addr
                ));
            }
            b.neighbors.push(n.0.clone());
        }
        if a.bgp_bfd.is_some() && !b.neighbors.iter().any(|n| n.bfd) {
            return Err(
                "--bgp-bfd: no --bgp-neighbor has bfd, so the timers would apply to no session; \
                 add ,bfd to a neighbour or drop --bgp-bfd"
                    .into(),
            );
        }
        if b.mode == BgpMode::Anycast {
            let why = "in anycast mode every healthy node announces: no adverts are sent or \
                       heeded; drop it, or use --bgp-mode active-standby";
            for (given, flag) in [
                (a.bgp_backup.is_some(), "--bgp-backup"),
                (!v.unicast_peers.is_empty(), "--unicast-peer"),
                (v.fast_takeover, "--fast-takeover"),
            ] {
                if given {
                    return Err(format!(
                        "{flag} has no effect with --bgp-mode anycast: {why}"
                    ));
                }
            }
        }
        Ok(b)
    }

    fn vrrp_spec(&self, vrid: u8) -> Result<VrrpSpec, String> {
        let version = self.vrrp_version.0;
        let interval = self.advert_int.0;
        match version {
            Version::V2 if !interval.0.is_multiple_of(100) => {
                return Err(format!(
                    "--advert-int {interval}: VRRPv2 carries whole seconds; use \
                     --vrrp-version 3 for sub-second adverts"
                ))
            }
            Version::V3 if interval > Centis::V3_MAX => {
                return Err(format!(
                    "--advert-int {interval}: VRRPv3 allows at most 40.95 s"
                ))
            }
            _ => {}
        }
        let auth = match &self.auth_pass {
            None => None,
            Some(_) if version == Version::V3 => {
                return Err(
                    "--auth-pass: VRRPv3 has no authentication (RFC 9568); drop it or \
                            use --vrrp-version 2"
                        .into(),
                )
            }
            Some(p) if p.is_empty() || p.len() > 8 => {
                return Err(format!(
                    "--auth-pass {p:?}: VRRPv2 passwords are 1 to 8 characters"
                ))
            }
            Some(p) => {
                let mut a = [0u8; 8];
                a[..p.len()].copy_from_slice(p.as_bytes());
                Some(a)
            }
        };
        let preempt_delay = match self.preempt_delay {
            None => Duration::ZERO,
            Some(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => Duration::from_secs_f64(s),
            Some(s) => return Err(format!("--preempt-delay {s}: give 0 to 3600 seconds")),
        };
        let start_as = match self.state {
            StateArg::Master => StartState::Master,
            StateArg::Backup => StartState::Backup,
        };
        if start_as == StartState::Master && (self.nopreempt || !preempt_delay.is_zero()) {
            return Err(
                "--state master always preempts: drop --nopreempt/--preempt-delay, or \
                        use --state backup"
                    .into(),
            );
        }
        if self.fast_takeover && self.priority == 255 {
            return Err(
                "--fast-takeover has no effect on the address owner (priority 255), which takes \
                 over at once anyway: drop it, or lower --priority"
                    .into(),
            );
        }
        if self.nopreempt && !preempt_delay.is_zero() {
            return Err("--preempt-delay has no effect with --nopreempt: drop one".into());
        }
        Ok(VrrpSpec {
            version,
            advert_interval: interval,
            auth,
            preempt: !self.nopreempt,
            preempt_delay,
            start_as,
            checksum: if self.v3_checksum_as_v2 {
                ChecksumMode::MessageOnly
            } else {
                ChecksumMode::PseudoHeader
            },
            unicast_peers: self.unicast_peers.iter().map(|p| (*p).into()).collect(),
            unicast_src: self.unicast_src_ip.map(Into::into),
            check_unicast_src: !self.no_check_unicast_src,
            use_vmac: self.use_vmac,
            vmac_xmit_base: self.vmac_xmit_base,
            fast_takeover: self.fast_takeover,
            ..VrrpSpec::new(vrid, self.priority)
        })
    }
}

/// `--bfd NEIGHBOR[,KEY=VALUE...]`: a session, unnamed (empty) unless `name=` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdArg(pub BfdSpec);

impl FromStr for BfdArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        use crate::config::bfd_limits;
        let mut parts = s.split(',');
        let first = parts.next().unwrap_or_default();
        let neighbor: IpAddr = first.parse().map_err(|_| {
            format!(
                "{first:?} is not an IP address: give the neighbour first, e.g. 10.0.0.2,min_rx=50"
            )
        })?;
        let mut b = BfdSpec::new("", neighbor);
        let mut max_hops = None;
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let number = |min: u64, max: u64| -> Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| {
                        format!("{key}={value:?}: give a whole number from {min} to {max}")
                    })
            };
            match key {
                "name" if !value.is_empty() && value.len() <= bfd_limits::NAME_MAX => {
                    b.name = value.to_string()
                }
                "name" => return Err(format!("name={value:?}: 1 to 31 characters")),
                "source" => {
                    b.source = Some(
                        value
                            .parse()
                            .map_err(|_| format!("source={value:?} is not an IP address"))?,
                    )
                }
                "min_rx" | "min_tx" | "idle_tx" => {
                    let (min, max) = if key == "idle_tx" {
                        bfd_limits::IDLE_TX_US
                    } else {
                        bfd_limits::INTERVAL_US
                    };
                    let us = millis_us(value)
                        .filter(|us| (min..=max).contains(us))
                        .ok_or_else(|| {
                            format!(
                            "{key}={value:?}: give milliseconds from {} to {}, at most 3 decimals",
                            min as f64 / 1000.0,
                            max / 1000
                        )
                        })?;
                    let d = Duration::from_micros(us);
                    match key {
                        "min_rx" => b.min_rx = d,
                        "min_tx" => b.min_tx = d,
                        _ => b.idle_tx = d,
                    }
                }
                "multiplier" => b.multiplier = number(1, 255)? as u8,
                "ttl" => b.ttl = number(1, 255)? as u8,
                "max_hops" => max_hops = Some(number(0, 255)? as u8),
                "passive" if value.is_empty() => b.passive = true,
                _ => {
                    return Err(format!(
                        "{part:?}: the options are name=, source=, min_rx=, min_tx=, idle_tx=, \
                         multiplier=, passive, ttl=, max_hops="
                    ))
                }
            }
        }
        if let Some(why) = crate::config::bfd_family_problem(&b) {
            // The session is not named yet: the reason without the name.
            return Err(why.replacen("bfd_instance : ", "", 1));
        }
        if let Some(h) = max_hops {
            if h > b.ttl {
                return Err(format!(
                    "max_hops={h} exceeds the ttl {}: at most the ttl",
                    b.ttl
                ));
            }
            b.max_hops = h;
        }
        Ok(BfdArg(b))
    }
}

/// `--bgp-neighbor ADDR,as=N[,bfd][,source=ADDR]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpNeighborArg(pub BgpNeighbor);

impl FromStr for BgpNeighborArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(',');
        let first = parts.next().unwrap_or_default();
        let addr: IpAddr = first.parse().map_err(|_| {
            format!("{first:?} is not an IP address: give the neighbour first, e.g. 10.0.0.254,as=65000")
        })?;
        let mut remote_as = None;
        let mut n = BgpNeighbor {
            addr,
            remote_as: 0,
            bfd: false,
            source: None,
        };
        for part in parts {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            match key {
                "as" => {
                    let (min, max) = crate::config::bgp_limits::AS;
                    remote_as = Some(
                        value
                            .parse::<u64>()
                            .ok()
                            .filter(|v| (min..=max).contains(v))
                            .ok_or_else(|| {
                                format!(
                                    "as={value:?}: give the neighbour's AS number, {min} to {max}"
                                )
                            })? as u32,
                    );
                }
                "bfd" if value.is_empty() => n.bfd = true,
                "source" => {
                    n.source = Some(
                        value
                            .parse()
                            .map_err(|_| format!("source={value:?} is not an IP address"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "{part:?}: the options are as=N (required), bfd and source=ADDR"
                    ))
                }
            }
        }
        n.remote_as = remote_as.ok_or_else(|| {
            format!("{s:?} has no as=N: give the neighbour's AS number, e.g. {addr},as=65000")
        })?;
        if let Some(why) = crate::config::bgp_neighbor_problem(&n) {
            return Err(why);
        }
        Ok(BgpNeighborArg(n))
    }
}

/// `--bgp-backup withdraw|prepend=N|med=N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupArg(pub BackupRoute);

impl FromStr for BackupArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        use crate::config::bgp_limits::{MED, PREPEND};
        let (key, value) = s.split_once('=').unwrap_or((s, ""));
        let number = |(min, max): (u64, u64)| {
            value
                .parse::<u64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(|| format!("{key}={value:?}: give a whole number from {min} to {max}"))
        };
        match key {
            "withdraw" if value.is_empty() => Ok(BackupArg(BackupRoute::Withdraw)),
            "prepend" => Ok(BackupArg(BackupRoute::Prepend(number(PREPEND)? as u8))),
            "med" => Ok(BackupArg(BackupRoute::Med(number(MED)? as u32))),
            _ => Err(format!(
                "{s:?}: give withdraw, prepend=N (1 to 10) or med=N (1 to 4294967295)"
            )),
        }
    }
}

/// `--bgp-community ASN:VALUE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommunityArg(pub (u16, u16));

impl FromStr for CommunityArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        crate::config::parse_community(s).map(CommunityArg)
    }
}

/// `--bgp-bfd min_rx=MS,min_tx=MS,multiplier=N`, each optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BgpBfdArg(pub BgpBfdTimers);

impl FromStr for BgpBfdArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        use crate::config::bgp_limits::{BFD_INTERVAL_MS, BFD_MULTIPLIER};
        let mut t = BgpBfdTimers::default();
        for part in s.split(',') {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let number = |(min, max): (u64, u64)| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| {
                        format!("{key}={value:?}: give a whole number from {min} to {max}")
                    })
            };
            match key {
                "min_rx" => t.min_rx = Duration::from_millis(number(BFD_INTERVAL_MS)?),
                "min_tx" => t.min_tx = Duration::from_millis(number(BFD_INTERVAL_MS)?),
                "multiplier" => t.multiplier = number(BFD_MULTIPLIER)? as u8,
                _ => {
                    return Err(format!(
                        "{part:?}: the options are min_rx=MS, min_tx=MS and multiplier=N"
                    ))
                }
            }
        }
        Ok(BgpBfdArg(t))
    }
}

/// Milliseconds with at most three decimals, in microseconds.
fn millis_us(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 3 {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = format!("{frac:0<3}").parse().ok()?;
    whole.checked_mul(1000)?.checked_add(frac)
}

/// An IPv4 VIP and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl FromStr for Vip {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "expected an IPv4 address with a prefix length, e.g. 10.0.0.100/24";
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} has no prefix length: {hint}"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address: {hint}"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{len:?} is not a prefix length from 0 to 32: {hint}"))?;
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() || addr.is_loopback()
        {
            return Err(format!(
                "{addr} cannot be a VIP: it must be a unicast address"
            ));
        }
        Ok(Vip { addr, prefix_len })
    }
}

impl std::fmt::Display for Vip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_parses_address_and_prefix() {
        assert_eq!(
            "10.99.0.100/24".parse::<Vip>(),
            Ok(Vip {
                addr: Ipv4Addr::new(10, 99, 0, 100),
                prefix_len: 24
            })
        );
    }

    #[test]
    fn bad_vips_say_what_is_wrong() {
        for (input, says) in [
            ("10.99.0.100", "no prefix length"),
            ("10.99.0.300/24", "not an IPv4 address"),
            ("10.99.0.1/33", "not a prefix length"),
            ("10.99.0.1/x", "not a prefix length"),
            ("224.0.0.18/32", "must be a unicast address"),
            ("0.0.0.0/0", "must be a unicast address"),
        ] {
            let err = input.parse::<Vip>().unwrap_err();
            assert!(err.contains(says), "{input}: {err}");
        }
    }

    fn spec(args: &[&str]) -> Result<DaemonSpec, String> {
        let mut argv = vec!["havip", "run", "--iface", "eth0", "--vip", "10.0.0.1/24"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Some(Command::Run(run)) => run.to_spec(),
            _ => unreachable!("parsed a run command"),
        }
    }

    #[test]
    fn advert_int_parses_centiseconds() {
        for (input, cs) in [
            ("1", 100),
            ("0.01", 1),
            ("0.5", 50),
            (".25", 25),
            ("40.95", 4095),
        ] {
            assert_eq!(
                input.parse::<AdvertInt>(),
                Ok(AdvertInt(Centis(cs))),
                "{input}"
            );
        }
        for bad in ["0", "0.001", "abc", "-1", "300", ""] {
            assert!(bad.parse::<AdvertInt>().is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_follow_keepalived() {
        let s = spec(&["--vrid", "51"]).unwrap();
        let v = s.instances[0].vrrp.clone().unwrap();
        assert_eq!((v.vrid, v.priority, v.version), (51, 100, Version::V2));
        assert_eq!(v.advert_interval, Centis(100));
        assert!(v.preempt);
        assert_eq!(v.start_as, StartState::Backup);
        assert_eq!(s.instances[0].name, "VI_51");
        assert!(
            spec(&[]).unwrap().instances[0].vrrp.is_none(),
            "no --vrid: static owner"
        );
    }

    #[test]
    fn inconsistent_vrrp_flags_are_refused_with_the_fix() {
        for (args, says) in [
            (
                &["--vrid", "51", "--advert-int", "0.5"][..],
                "VRRPv2 carries whole seconds",
            ),
            (
                &["--vrid", "51", "--vrrp-version", "3", "--auth-pass", "x"],
                "no authentication",
            ),
            (
                &["--vrid", "51", "--auth-pass", "123456789"],
                "1 to 8 characters",
            ),
            (
                &["--vrid", "51", "--state", "master", "--nopreempt"],
                "always preempts",
            ),
            (
                &["--vrid", "51", "--nopreempt", "--preempt-delay", "5"],
                "no effect",
            ),
            (&["--priority", "101"], "--vrid"),
            (&["--vrid", "0"], "0"),
            (&["--vrid", "51", "--vrrp-version", "4"], "use 2"),
        ] {
            let err = spec(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
        let s = spec(&[
            "--vrid",
            "51",
            "--vrrp-version",
            "3",
            "--advert-int",
            "0.01",
        ])
        .unwrap();
        assert_eq!(
            s.instances[0].vrrp.as_ref().unwrap().advert_interval,
            Centis(1)
        );
    }

    /// `--bfd` sessions with keepalived's defaults, named in order unless `name=` says;
    /// `--fast-takeover` needs one and a --vrid, and means nothing to the address owner.
    #[test]
    fn bfd_flags_make_sessions_and_fast_takeover() {
        let s = spec(&[
            "--vrid",
            "51",
            "--bfd",
            "10.0.0.2",
            "--bfd",
            "fd00::3,name=peer_c,source=fd00::1,min_rx=3.312,min_tx=50,idle_tx=2000,multiplier=3,passive,ttl=200,max_hops=2",
            "--fast-takeover",
            "--bfd-rt-priority",
            "40",
        ])
        .unwrap();
        let first = BfdSpec::new("bfd1", "10.0.0.2".parse().unwrap());
        assert_eq!(s.bfds[0], first);
        assert_eq!(
            s.bfds[1],
            BfdSpec {
                source: Some("fd00::1".parse().unwrap()),
                min_rx: Duration::from_micros(3312),
                min_tx: Duration::from_millis(50),
                idle_tx: Duration::from_secs(2),
                multiplier: 3,
                passive: true,
                ttl: 200,
                max_hops: 2,
                ..BfdSpec::new("peer_c", "fd00::3".parse().unwrap())
            }
        );
        assert_eq!(s.bfds[1].ttl, 200);
        assert_eq!(BfdSpec::new("x", "fd00::3".parse().unwrap()).ttl, 64);
        assert!(s.instances[0].vrrp.as_ref().unwrap().fast_takeover);
        assert_eq!(s.bfd_rt_priority, Some(40));
        for (args, says) in [
            (&["--bfd", "nope"][..], "not an IP address"),
            (&["--bfd", "10.0.0.2,min_rx=0.5"], "from 1 to 4294967"),
            (&["--bfd", "10.0.0.2,min_tx=1.0005"], "at most 3 decimals"),
            (&["--bfd", "10.0.0.2,idle_tx=500"], "from 1000"),
            (&["--bfd", "10.0.0.2,multiplier=0"], "from 1 to 255"),
            (&["--bfd", "10.0.0.2,ttl=10,max_hops=20"], "exceeds the ttl"),
            (
                &["--bfd", "10.0.0.2,source=fd00::1"],
                "not of the same family",
            ),
            (&["--bfd", "fe80::2"], "fe80::2 is link-local"),
            (&["--bfd", "10.0.0.2,weight=5"], "the options are"),
            (
                &["--bfd", "10.0.0.2", "--bfd", "10.0.0.2"],
                "already bfd_instance bfd1",
            ),
            (
                &["--bfd", "10.0.0.2,name=a", "--bfd", "10.0.0.3,name=a"],
                "defined twice",
            ),
            (&["--vrid", "51", "--fast-takeover"], "--bfd"),
            (&["--bfd", "10.0.0.2", "--fast-takeover"], "--vrid"),
            (
                &[
                    "--vrid",
                    "51",
                    "--priority",
                    "255",
                    "--bfd",
                    "10.0.0.2",
                    "--fast-takeover",
                ],
                "address owner",
            ),
        ] {
            let err = spec(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
        // Two sessions to one neighbour from two sources are two sessions, as in keepalived.
        let s = spec(&[
            "--bfd",
            "10.0.0.2,source=10.0.0.1",
            "--bfd",
            "10.0.0.2,source=10.0.0.9",
        ])
        .unwrap();
        assert_eq!(s.bfds.len(), 2);
        let err = Cli::try_parse_from(["havip", "run", "--config", "k.conf", "--bfd", "10.0.0.2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be used with"), "{err}");
    }

    /// `--bgp-*`: the BGP block of the flags' instance, which announces; the defaults are
    /// `BgpSpec::new`'s.
    #[test]
    fn bgp_flags_make_the_block_and_announce() {
        let s = spec(&[
            "--vrid",
            "51",
            "--bgp-as",
            "65001",
            "--bgp-router-id",
            "10.0.0.1",
            "--bgp-neighbor",
            "10.0.0.254,as=65000,bfd,source=10.0.0.1",
            "--bgp-neighbor",
            "fd00::fe,as=4200000000",
            "--bgp-mode",
            "active-standby",
            "--bgp-backup",
            "prepend=3",
            "--bgp-community",
            "65001:100",
            "--bgp-community",
            "65535:65281",
            "--bgp-hold-time",
            "30",
            "--bgp-bfd",
            "min_rx=100,min_tx=200,multiplier=5",
            "--bird",
            "/usr/sbin/bird",
        ])
        .unwrap();
        assert!(s.instances[0].bgp_announce);
        assert_eq!(
            s.bgp,
            Some(BgpSpec {
                router_id: Some(Ipv4Addr::new(10, 0, 0, 1)),
                backup: BackupRoute::Prepend(3),
                neighbors: vec![
                    BgpNeighbor {
                        addr: "10.0.0.254".parse().unwrap(),
                        remote_as: 65000,
                        bfd: true,
                        source: Some("10.0.0.1".parse().unwrap()),
                    },
                    BgpNeighbor {
                        addr: "fd00::fe".parse().unwrap(),
                        remote_as: 4_200_000_000,
                        bfd: false,
                        source: None,
                    },
                ],
                communities: vec![(65001, 100), (65535, 65281)],
                hold_time: 30,
                bfd: BgpBfdTimers {
                    min_rx: Duration::from_millis(100),
                    min_tx: Duration::from_millis(200),
                    multiplier: 5,
                },
                bird: "/usr/sbin/bird".into(),
                ..BgpSpec::new(65001)
            })
        );
        // Defaults; the other modes and backups; `--bgp-bfd` keys one by one.
        let s = spec(&[
            "--vrid",
            "51",
            "--bgp-as",
            "65001",
            "--bgp-neighbor",
            "10.0.0.254,as=65000",
        ])
        .unwrap();
        let mut want = BgpSpec::new(65001);
        want.neighbors = s.bgp.as_ref().unwrap().neighbors.clone();
        assert_eq!(s.bgp, Some(want));
        let base = [
            "--vrid",
            "51",
            "--bgp-as",
            "65001",
            "--bgp-neighbor",
            "10.0.0.254,as=65000,bfd",
        ];
        for (extra, check) in [
            (&["--bgp-backup", "med=100"][..], BackupRoute::Med(100)),
            (&["--bgp-backup", "withdraw"], BackupRoute::Withdraw),
        ] {
            let s = spec(&[&base[..], extra].concat()).unwrap();
            assert_eq!(s.bgp.unwrap().backup, check, "{extra:?}");
        }
        let s = spec(
            &[
                &base[..],
                &["--bgp-mode", "anycast", "--bgp-bfd", "min_tx=10"],
            ]
            .concat(),
        )
        .unwrap();
        let b = s.bgp.unwrap();
        assert_eq!(b.mode, BgpMode::Anycast);
        assert_eq!(
            (b.bfd.min_rx, b.bfd.min_tx, b.bfd.multiplier),
            (Duration::from_millis(50), Duration::from_millis(10), 3)
        );
        // Without --bgp-as: no block, no announcing.
        let s = spec(&["--vrid", "51"]).unwrap();
        assert!(s.bgp.is_none() && !s.instances[0].bgp_announce);
    }

    #[test]
    fn bad_bgp_flags_say_what_to_do() {
        let base = ["--vrid", "51", "--bgp-as", "65001"];
        let n = ["--bgp-neighbor", "10.0.0.254,as=65000"];
        for (args, says) in [
            (&["--bgp-neighbor", "10.0.0.254,as=65000"][..], "--bgp-as"),
            (&["--bgp-mode", "anycast"], "--bgp-as"),
            (&["--bird", "/usr/sbin/bird"], "--bgp-as"),
            (
                &["--bgp-as", "65001", "--bgp-neighbor", "10.0.0.254,as=65000"],
                "needs an election (--vrid)",
            ),
            (&base[..], "at least one --bgp-neighbor"),
            (
                &["--vrid", "51", "--bgp-as", "0"],
                "0 is not in 1..=4294967295",
            ),
            (&["--vrid", "51", "--bgp-as", "4294967296"], "4294967296"),
            (
                &[&base[..], &["--bgp-neighbor", "10.0.0.254"]].concat(),
                "has no as=N",
            ),
            (
                &[&base[..], &["--bgp-neighbor", "10.0.0.254,as=0"]].concat(),
                "give the neighbour's AS number, 1 to 4294967295",
            ),
            (
                &[&base[..], &["--bgp-neighbor", "nope,as=1"]].concat(),
                "not an IP address",
            ),
            (
                &[
                    &base[..],
                    &["--bgp-neighbor", "10.0.0.254,as=1,source=fd00::1"],
                ]
                .concat(),
                "not of the neighbour's family",
            ),
            (
                &[&base[..], &["--bgp-neighbor", "fe80::1,as=1"]].concat(),
                "link-local",
            ),
            (
                &[&base[..], &["--bgp-neighbor", "10.0.0.254,as=1,multihop"]].concat(),
                "the options are",
            ),
            (&[&base[..], &n, &n].concat(), "given twice"),
            (
                &[&base[..], &n, &["--bgp-backup", "prepend=11"]].concat(),
                "from 1 to 10",
            ),
            (
                &[&base[..], &n, &["--bgp-backup", "med=0"]].concat(),
                "from 1 to 4294967295",
            ),
            (
                &[&base[..], &n, &["--bgp-backup", "local-pref=5"]].concat(),
                "give withdraw, prepend=N",
            ),
            (&[&base[..], &n, &["--bgp-mode", "hot"]].concat(), "hot"),
            (
                &[&base[..], &n, &["--bgp-community", "65536:1"]].concat(),
                "not a standard community",
            ),
            (
                &[
                    &base[..],
                    &n,
                    &["--bgp-community", "1:1", "--bgp-community", "1:1"],
                ]
                .concat(),
                "given twice",
            ),
            (
                &[&base[..], &n, &["--bgp-hold-time", "2"]].concat(),
                "2 is not in 3..=65535",
            ),
            (
                &[&base[..], &n, &["--bgp-router-id", "fd00::1"]].concat(),
                "fd00::1",
            ),
            (
                &[&base[..], &n, &["--bgp-router-id", "0.0.0.0"]].concat(),
                "not a BGP identifier",
            ),
            (
                &[&base[..], &n, &["--bgp-bfd", "min_rx=0"]].concat(),
                "from 1 to 10000",
            ),
            (
                &[&base[..], &n, &["--bgp-bfd", "multiplier=5"]].concat(),
                "no --bgp-neighbor has bfd",
            ),
            (
                &[&base[..], &n, &["--bird", "sbin/bird"]].concat(),
                "a relative path",
            ),
            (
                &[
                    &base[..],
                    &n,
                    &["--bgp-mode", "anycast", "--bgp-backup", "med=5"],
                ]
                .concat(),
                "--bgp-backup has no effect with --bgp-mode anycast",
            ),
            (
                &[
                    &base[..],
                    &n,
                    &["--bgp-mode", "anycast", "--unicast-peer", "10.0.0.2"],
                ]
                .concat(),
                "--unicast-peer has no effect",
            ),
            (
                &[
                    &base[..],
                    &n,
                    &[
                        "--bgp-mode",
                        "anycast",
                        "--bfd",
                        "10.0.0.2",
                        "--fast-takeover",
                    ],
                ]
                .concat(),
                "--fast-takeover has no effect",
            ),
        ] {
            let err = spec(args).unwrap_err();
            assert!(err.contains(says), "{args:?}: {err}");
        }
        let err = Cli::try_parse_from(["havip", "run", "--config", "k.conf", "--bgp-as", "65001"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be used with"), "{err}");
    }

    #[test]
    fn bare_run_takes_the_default_config() {
        let cli = Cli::try_parse_from(["havip", "run", "--xdp-mode", "skb"]).unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("run")
        };
        assert!(run.config.is_none() && run.iface.is_none() && run.vips.is_empty());
        // An instance flag without an interface is still refused.
        assert!(Cli::try_parse_from(["havip", "run", "--vrid", "51"]).is_err());
    }

    #[test]
    fn run_requires_iface_and_vip() {
        assert!(Cli::try_parse_from(["havip", "run", "--iface", "eth0"]).is_err());
        assert!(Cli::try_parse_from(["havip", "run", "--vip", "10.0.0.1/24"]).is_err());
        let cli = Cli::try_parse_from([
            "havip",
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.0.0.1/24",
            "--vip",
            "10.0.0.2/24",
            "--xdp-mode",
            "skb",
        ])
        .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("run")
        };
        assert_eq!(run.vips.len(), 2);
        assert_eq!(run.xdp_mode, ModeChoice::Skb);
    }

    #[test]
    fn run_config_excludes_the_instance_flags() {
        let cli = Cli::try_parse_from([
            "havip",
            "run",
            "--config",
            "/etc/keepalived/keepalived.conf",
            "--xdp-mode",
            "skb",
            "--advert-path",
            "ringbuf",
        ])
        .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("run")
        };
        assert_eq!(
            run.config.as_deref(),
            Some(std::path::Path::new("/etc/keepalived/keepalived.conf"))
        );
        assert_eq!(run.xdp_mode, ModeChoice::Skb);
        assert_eq!(run.advert_path, AdvertPath::Ringbuf);
        for extra in [
            &["--iface", "eth0"][..],
            &["--vip", "10.0.0.1/24"],
            &["--vrid", "51"],
            &["--priority", "101"],
            &["--nopreempt"],
        ] {
            let mut argv = vec!["havip", "run", "--config", "k.conf"];
            argv.extend_from_slice(extra);
            let err = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(err.contains("cannot be used with"), "{extra:?}: {err}");
        }
        assert!(Cli::try_parse_from(["havip", "run", "--format", "toml"]).is_err());
    }

    #[test]
    fn check_config_takes_a_file_and_a_format() {
        let cli =
            Cli::try_parse_from(["havip", "check-config", "--format", "toml", "x.conf"]).unwrap();
        let Some(Command::CheckConfig(c)) = cli.command else {
            panic!("check-config")
        };
        assert_eq!(c.format, Some(Format::Toml));
        assert!(!c.print);
        assert!(Cli::try_parse_from(["havip", "check-config"]).is_err());
    }

    #[test]
    fn version_takes_verbose_and_needs_no_command() {
        let cli = Cli::try_parse_from(["havip", "--version", "-v"]).unwrap();
        assert!(cli.version && cli.verbose && cli.command.is_none());
        let cli = Cli::try_parse_from(["havip", "-V"]).unwrap();
        assert!(cli.version && !cli.verbose);
        // -v means nothing without --version; a bare `havip` prints the help.
        assert!(Cli::try_parse_from(["havip", "-v"]).is_err());
        assert!(Cli::try_parse_from(["havip"]).is_err());
    }
}
