//! havip's own config format: TOML, for new users. The same model as keepalived.conf, with
//! explicit names and no legacy corrections: where keepalived would quietly fix a value
//! (round an interval, clear `nopreempt`), this format refuses it and says why. Unknown keys are
//! errors, with their path and position. See docs/config.md for the full example.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, BgpAt, Draft, GroupAt};
use super::diag::{Diagnostic, Diags, Location};
use crate::{
    model::{
        BackupRoute, BfdSpec, BgpMode, BgpNeighbor, BgpSpec, DaemonSpec, FifoSpec, GroupTrack,
        InitFile, InstanceSpec, LifeScript, NotifySpec, ScriptSpec, SyncGroupSpec, TrackFileSpec,
        VipSpec, VrrpSpec, LIFE_SCRIPT_TIMEOUT,
    },
    vrrp::{Centis, GarpConfig, StartState, Version},
    wire::ChecksumMode,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    router_id: Option<String>,
    #[serde(default)]
    script_security: bool,
    script_user: Option<String>,
    /// SCHED_FIFO priority, 1-99 (keepalived vrrp_rt_priority).
    rt_priority: Option<Spanned<i64>>,
    /// Lock memory (keepalived vrrp_no_swap).
    #[serde(default)]
    mlock: bool,
    /// keepalived notify_fifo / vrrp_notify_fifo.
    #[serde(default, rename = "notify_fifo")]
    notify_fifos: Vec<Spanned<NotifyFifo>>,
    /// keepalived fifo_write_vrrp_states_on_reload.
    #[serde(default)]
    fifo_states_on_reload: bool,
    /// keepalived startup_script / shutdown_script.
    startup_script: Option<Spanned<Life>>,
    shutdown_script: Option<Spanned<Life>>,
    /// keepalived vrrp_startup_delay.
    startup_delay: Option<Spanned<Secs>>,
    /// keepalived net_namespace.
    net_namespace: Option<Spanned<String>>,
    /// keepalived static_ipaddress and static_routes: one line each, in keepalived's words.
    #[serde(default)]
    static_ipaddress: Vec<Spanned<String>>,
    #[serde(default)]
    static_routes: Vec<Spanned<String>>,
    #[serde(default)]
    static_rules: Vec<Spanned<String>>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default, rename = "instance")]
    instances: Vec<Spanned<Instance>>,
    #[serde(default, rename = "script")]
    scripts: Vec<Spanned<Script>>,
    #[serde(default, rename = "track_file")]
    track_files: Vec<Spanned<TrackFileDef>>,
    #[serde(default, rename = "sync_group")]
    sync_groups: Vec<Spanned<SyncGroup>>,
    /// keepalived bfd_instance.
    #[serde(default, rename = "bfd")]
    bfds: Vec<Spanned<BfdDef>>,
    /// keepalived bfd_rt_priority: the BFD thread's SCHED_FIFO priority, 1-99.
    bfd_rt_priority: Option<Spanned<i64>>,
    /// havip's BGP block (keepalived.conf havip_bgp).
    bgp: Option<Spanned<BgpDef>>,
}

/// `[bgp]`: keepalived.conf `havip_bgp { ... }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BgpDef {
    local_as: Spanned<i64>,
    router_id: Option<Spanned<String>>,
    mode: Option<BgpModeDef>,
    backup: Option<Spanned<BackupDef>>,
    hold_time: Option<Spanned<i64>>,
    #[serde(default)]
    communities: Vec<Spanned<String>>,
    bird: Option<Spanned<String>>,
    /// The speaker's BFD timers (keepalived.conf bfd_min_rx, bfd_min_tx, bfd_multiplier).
    bfd: Option<Spanned<BgpBfdDef>>,
    #[serde(default, rename = "neighbor")]
    neighbors: Vec<Spanned<BgpNeighborDef>>,
}

/// `mode = "active-standby" | "anycast"`.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum BgpModeDef {
    ActiveStandby,
    Anycast,
}

/// `backup = "withdraw" | { prepend = N } | { med = N }`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum BackupDef {
    Withdraw,
    Prepend(i64),
    Med(i64),
}

/// `[bgp.bfd]`: intervals in whole milliseconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BgpBfdDef {
    min_rx_ms: Option<Spanned<i64>>,
    min_tx_ms: Option<Spanned<i64>>,
    multiplier: Option<Spanned<i64>>,
}

/// `[[bgp.neighbor]]`: keepalived.conf `neighbor ADDRESS { ... }` in `havip_bgp`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BgpNeighborDef {
    address: Spanned<String>,
    remote_as: Spanned<i64>,
    #[serde(default)]
    bfd: bool,
    source: Option<Spanned<String>>,
}

/// `[[bfd]]`: keepalived `bfd_instance NAME { ... }`, intervals in milliseconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BfdDef {
    name: Spanned<String>,
    neighbor: Spanned<String>,
    source: Option<Spanned<String>>,
    min_rx_ms: Option<Spanned<Millis>>,
    min_tx_ms: Option<Spanned<Millis>>,
    idle_tx_ms: Option<Spanned<Millis>>,
    multiplier: Option<Spanned<i64>>,
    #[serde(default)]
    passive: bool,
    /// The TTL (IPv4) or hop limit (IPv6) sent: keepalived ttl / hoplimit.
    ttl: Option<Spanned<i64>>,
    max_hops: Option<Spanned<i64>>,
    weight: Option<Spanned<i64>>,
}

/// An instance's or a sync group's `track_bfds` entry: a `[[bfd]]` by name, its weight
/// overridden.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackBfd {
    bfd: String,
    weight: Option<i32>,
}

/// `[[notify_fifo]]`: a FIFO each transition is written to, in keepalived's line format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyFifo {
    path: String,
    user: Option<String>,
    group: Option<String>,
}

/// `startup_script = { command = "...", timeout = 10 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Life {
    command: String,
    timeout: Option<Spanned<Secs>>,
}

/// Values every instance starts from.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Defaults {
    version: Option<Spanned<i64>>,
    #[serde(default)]
    garp: Garp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Instance {
    name: Spanned<String>,
    interface: Spanned<String>,
    /// No election: own the VIPs while the daemon runs.
    #[serde(default, rename = "static")]
    static_owner: bool,
    vrid: Option<Spanned<i64>>,
    priority: Option<Spanned<i64>>,
    version: Option<Spanned<i64>>,
    advert_interval: Option<Spanned<Secs>>,
    state: Option<Spanned<State>>,
    #[serde(default = "yes")]
    preempt: bool,
    preempt_delay: Option<Spanned<Secs>>,
    /// Accept_Mode: only `true` (the default) is supported; `false` is refused by the checks.
    accept: Option<Spanned<bool>>,
    auth_pass: Option<Spanned<String>>,
    #[serde(default)]
    v3_checksum_as_v2: bool,
    vips: Spanned<Vec<Spanned<Vip>>>,
    unicast_src: Option<Spanned<String>>,
    #[serde(default)]
    unicast_peers: Vec<Spanned<Peer>>,
    /// keepalived unicast_ttl.
    unicast_ttl: Option<Spanned<u8>>,
    /// keepalived `check_unicast_src`: on unless set to false (with a warning).
    check_unicast_src: Option<Spanned<bool>>,
    #[serde(default)]
    track_interfaces: Vec<TrackInterface>,
    #[serde(default)]
    track_scripts: Vec<Spanned<TrackScript>>,
    #[serde(default)]
    track_files: Vec<Spanned<TrackFile>>,
    /// keepalived track_bfd.
    #[serde(default)]
    track_bfds: Vec<Spanned<TrackBfd>>,
    /// havip's fast takeover on a BFD session's loss (keepalived.conf havip_fast_takeover).
    fast_takeover: Option<Spanned<bool>>,
    /// havip's BGP announcement of the VIPs (keepalived.conf havip_bgp_announce).
    bgp_announce: Option<Spanned<bool>>,
    /// keepalived lower_prio_no_advert.
    #[serde(default)]
    lower_prio_no_advert: bool,
    /// keepalived use_vmac: the virtual MAC, in XDP.
    use_vmac: Option<Spanned<bool>>,
    /// keepalived vmac_xmit_base: adverts from the interface's MAC.
    #[serde(default)]
    vmac_xmit_base: bool,
    /// keepalived down_timer_adverts.
    down_timer_adverts: Option<Spanned<u8>>,
    /// keepalived virtual_routes: one `ip route` line each.
    #[serde(default)]
    virtual_routes: Vec<Spanned<String>>,
    /// keepalived virtual_rules: one `ip rule` line each.
    #[serde(default)]
    virtual_rules: Vec<Spanned<String>>,
    /// keepalived mcast_dst_ip: the adverts' multicast group, when not the RFC's.
    mcast_group: Option<Spanned<String>>,
    garp: Option<Garp>,
    #[serde(default)]
    notify: Notify,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum State {
    Master,
    Backup,
}

/// A unicast peer: `"10.0.0.2"`, or `{ address = "10.0.0.2", min_ttl = 250, max_ttl = 255 }`
/// (keepalived `unicast_peer { ADDR min_ttl N max_ttl M }`).
enum Peer {
    Plain(String),
    Full(PeerTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerTable {
    address: String,
    #[serde(default)]
    min_ttl: u8,
    #[serde(default = "ttl_max")]
    max_ttl: u8,
}

fn ttl_max() -> u8 {
    255
}

impl Peer {
    fn address(&self) -> &str {
        match self {
            Peer::Plain(a) => a,
            Peer::Full(t) => &t.address,
        }
    }
}

impl<'de> Deserialize<'de> for Peer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Peer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"ADDRESS\" or { address = \"ADDRESS\", min_ttl = N, max_ttl = M }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Peer, E> {
                Ok(Peer::Plain(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Peer, A::Error> {
                PeerTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Peer::Full)
            }
        }
        d.deserialize_any(V)
    }
}

/// A VIP: `"10.0.0.100/24"`, or `{ address = "10.0.0.100/24", label = "eth0:vip" }`.
enum Vip {
    Plain(String),
    Full(VipTable),
}

impl<'de> Deserialize<'de> for Vip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vip;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "\"ADDRESS/PREFIX\" or { address = \"ADDRESS/PREFIX\", label = \"LABEL\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vip, E> {
                Ok(Vip::Plain(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vip, A::Error> {
                VipTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Vip::Full)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VipTable {
    address: String,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackInterface {
    interface: String,
    #[serde(default)]
    weight: i32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackScript {
    script: String,
    weight: Option<i32>,
}

/// An instance's `track_files` entry: a `[[track_file]]` by name, its weight overridden.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackFile {
    file: String,
    weight: Option<i32>,
}

/// `[[track_file]]`: keepalived `track_file NAME { file; weight; init_file }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackFileDef {
    name: String,
    path: String,
    #[serde(default = "one_i32")]
    weight: i32,
    init: Option<InitFileDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InitFileDef {
    #[serde(default)]
    value: i64,
    #[serde(default)]
    overwrite: bool,
}

fn one_i32() -> i32 {
    1
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Garp {
    master_delay: Option<Spanned<Secs>>,
    master_repeat: Option<u32>,
    master_refresh: Option<Spanned<Secs>>,
    master_refresh_repeat: Option<u32>,
    interval: Option<Spanned<Secs>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Notify {
    master: Option<String>,
    backup: Option<String>,
    fault: Option<String>,
    stop: Option<String>,
    any: Option<String>,
    master_rx_lower_pri: Option<String>,
    /// keepalived notify_priority_changes.
    #[serde(default)]
    priority_changes: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Script {
    name: String,
    command: String,
    interval: Option<Spanned<Secs>>,
    timeout: Option<Spanned<Secs>>,
    #[serde(default)]
    weight: i32,
    #[serde(default = "one")]
    rise: u32,
    #[serde(default = "one")]
    fall: u32,
    user: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncGroup {
    name: String,
    instances: Vec<Spanned<String>>,
    #[serde(default)]
    notify: Notify,
    /// keepalived's tracking on a sync group: every member tracks these.
    #[serde(default)]
    track_interfaces: Vec<TrackInterface>,
    #[serde(default)]
    track_scripts: Vec<Spanned<TrackScript>>,
    #[serde(default)]
    track_files: Vec<Spanned<TrackFile>>,
    #[serde(default)]
    track_bfds: Vec<Spanned<TrackBfd>>,
    /// keepalived sync_group_tracking_weight: the members keep their tracking's weights.
    #[serde(default)]
    tracking_weight: bool,
}

/// Seconds, written as an integer or a float.
#[derive(Clone, Copy, Debug)]
struct Secs(f64);

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Secs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Secs, E> {
                Ok(Secs(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Secs, E> {
                Ok(Secs(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Secs, E> {
                Ok(Secs(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Milliseconds, written as an integer or a float.
#[derive(Clone, Copy, Debug)]
struct Millis(f64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Secs::deserialize(d).map(|s| Millis(s.0))
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn position(file: &str, text: &str, offset: usize) -> Location {
    Lines::new(text).position(file, offset)
}

/// Where each line of a text starts, so that a location costs a binary search and the length
/// of its own line, not a count from the start of the text: a file of 20 000 instances has
/// about 100 000 locations (found by the parser fuzzing: its reading took minutes).
struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    fn position(&self, file: &str, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        // The last line starting at or before `offset`; `starts[0]` is 0, so there is one.
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        Location {
            file: file.to_string(),
            line: line as u32,
            col: col as u32 + 1,
        }
    }
}

struct Cx<'a> {
    file: &'a str,
    lines: Lines<'a>,
    diags: &'a mut Diags,
}

impl Cx<'_> {
    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.lines.position(self.file, s.span().start)
    }

    /// Lines in keepalived's words (`virtual_routes`, `static_rules`...), each read by `parse`;
    /// one it refuses is an error at that string.
    fn word_lines<T>(
        &mut self,
        lines: &[Spanned<String>],
        key: &str,
        parse: crate::config::route::LineParser<T>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for line in lines {
            let words: Vec<&str> = line.get_ref().split_whitespace().collect();
            match parse(&words) {
                Ok(t) => out.push(t),
                Err((_, why)) => {
                    self.error(line, format!("{key} {:?}: {why}", line.get_ref()));
                }
            }
        }
        out
    }

    fn error<T>(&mut self, s: &Spanned<T>, msg: impl Into<String>) -> &mut Diagnostic {
        let d = Diagnostic::error(Some(self.at(s)), msg);
        self.diags.push(d);
        self.diags.list.last_mut().expect("just pushed")
    }

    fn ranged(&mut self, v: &Spanned<i64>, what: &str, min: i64, max: i64) -> Option<i64> {
        let x = *v.get_ref();
        if (min..=max).contains(&x) {
            return Some(x);
        }
        let d = self.error(v, format!("{what} {x} is out of range"));
        d.found = Some(x.to_string());
        d.expected = Some(format!("{min}-{max}"));
        None
    }

    fn duration(&mut self, v: &Spanned<Secs>, what: &str, max: f64) -> Option<Duration> {
        let s = v.get_ref().0;
        if s.is_finite() && (0.0..=max).contains(&s) {
            return Some(Duration::from_secs_f64(s));
        }
        let d = self.error(v, format!("{what} {s} is out of range"));
        d.expected = Some(format!("0 to {max} seconds"));
        None
    }

    fn addr(&mut self, v: &Spanned<String>, what: &str) -> Option<IpAddr> {
        match v.get_ref().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                let d = self.error(v, format!("{what} {:?} is not an IP address", v.get_ref()));
                d.found = Some(v.get_ref().clone());
                d.expected = Some("an IPv4 or IPv6 address".into());
                None
            }
        }
    }

    fn version(&mut self, v: &Spanned<i64>) -> Option<Version> {
        match v.get_ref() {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            x => {
                let d = self.error(v, format!("VRRP version {x} is not supported"));
                d.expected = Some("2 or 3".into());
                None
            }
        }
    }

    fn garp(&mut self, base: GarpConfig, g: &Garp) -> GarpConfig {
        let mut out = base;
        if let Some(d) = g
            .master_delay
            .as_ref()
            .and_then(|d| self.duration(d, "garp.master_delay", 86400.0))
        {
            out.delay = d;
        }
        if let Some(r) = g.master_repeat {
            out.repeat = r;
        }
        if let Some(r) = &g.master_refresh {
            if let Some(d) = self.duration(r, "garp.master_refresh", 86400.0) {
                out.refresh = (!d.is_zero()).then_some(d);
            }
        }
        if let Some(r) = g.master_refresh_repeat {
            out.refresh_repeat = r;
        }
        if let Some(d) = g
            .interval
            .as_ref()
            .and_then(|d| self.duration(d, "garp.interval", 86400.0))
        {
            out.interval = d;
        }
        out
    }

    fn vip(&mut self, v: &Spanned<Vip>) -> Option<VipSpec> {
        let (text, label) = match v.get_ref() {
            Vip::Plain(s) => (s.as_str(), None),
            Vip::Full(t) => (t.address.as_str(), t.label.clone()),
        };
        let hint = "write ADDRESS/PREFIX, e.g. \"10.0.0.100/24\" or \"fd00::100/64\"";
        let Some((a, l)) = text.split_once('/') else {
            self.error(v, format!("VIP {text:?} has no prefix length"))
                .hint = Some(hint.into());
            return None;
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            let d = self.error(v, format!("VIP {text:?} is not an IP address"));
            d.hint = Some(hint.into());
            return None;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let Some(prefix_len) = l.parse::<u8>().ok().filter(|l| *l <= max) else {
            let d = self.error(
                v,
                format!("VIP {text:?}: prefix length {l:?} is out of range"),
            );
            d.expected = Some(format!("0-{max}"));
            return None;
        };
        let unicast = match addr {
            IpAddr::V4(a) => {
                !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
            }
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
        };
        if !unicast {
            self.error(v, format!("{addr} cannot be a VIP")).expected =
                Some("a unicast address".into());
            return None;
        }
        Some(VipSpec {
            addr,
            prefix_len,
            label,
        })
    }

    /// A `[[bfd]]` table: keepalived's ranges and defaults; where keepalived would correct
    /// (`max_hops` above the TTL) this format refuses.
    fn bfd(&mut self, sb: &Spanned<BfdDef>, before: &[BfdSpec]) -> Option<BfdSpec> {
        let d = sb.get_ref();
        let name = d.name.get_ref();
        if name.is_empty() || name.len() > check::bfd_limits::NAME_MAX {
            self.error(&d.name, format!("bfd name {name:?}: 1 to 31 characters"));
            return None;
        }
        let neighbor = self.addr(&d.neighbor, "bfd neighbor")?;
        let mut b = BfdSpec::new(name, neighbor);
        if let Some(s) = &d.source {
            b.source = Some(self.addr(s, "bfd source")?);
        }
        if let Some(why) = check::bfd_family_problem(&b) {
            self.error(sb, why);
            return None;
        }
        for (v, key, (min, max), slot) in [
            (
                &d.min_rx_ms,
                "min_rx_ms",
                check::bfd_limits::INTERVAL_US,
                &mut b.min_rx,
            ),
            (
                &d.min_tx_ms,
                "min_tx_ms",
                check::bfd_limits::INTERVAL_US,
                &mut b.min_tx,
            ),
            (
                &d.idle_tx_ms,
                "idle_tx_ms",
                check::bfd_limits::IDLE_TX_US,
                &mut b.idle_tx,
            ),
        ] {
            let Some(v) = v else { continue };
            let us = v.get_ref().0 * 1000.0;
            if !us.is_finite() || us < min as f64 || us > max as f64 {
                let e = self.error(
                    v,
                    format!("bfd {name}: {key} {} is out of range", v.get_ref().0),
                );
                e.expected = Some(format!("{} to {} ms", min as f64 / 1000.0, max / 1000));
                return None;
            }
            if (us - us.round()).abs() > 1e-6 {
                let e = self.error(
                    v,
                    format!(
                        "bfd {name}: {key} {} has more than 3 decimals",
                        v.get_ref().0
                    ),
                );
                e.hint = Some("BFD intervals are kept in microseconds".into());
                return None;
            }
            *slot = Duration::from_micros(us.round() as u64);
        }
        if let Some(m) = &d.multiplier {
            b.multiplier = self.ranged(m, "multiplier", 1, 255)? as u8;
        }
        b.passive = d.passive;
        if let Some(t) = &d.ttl {
            b.ttl = self.ranged(t, "ttl", 1, 255)? as u8;
        }
        if let Some(h) = &d.max_hops {
            let hops = self.ranged(h, "max_hops", 0, 255)? as u8;
            if hops > b.ttl {
                let e = self.error(
                    h,
                    format!("bfd {name}: max_hops {hops} exceeds the ttl {}", b.ttl),
                );
                e.hint = Some("keepalived would lower it to the ttl (hop limit), where received packets are not checked; write that".into());
                return None;
            }
            b.max_hops = hops;
        }
        if let Some(w) = &d.weight {
            let (min, max) = check::bfd_limits::WEIGHT;
            b.weight = self.ranged(w, "weight", min, max)? as i32;
        }
        if let Some((msg, hint)) = check::bfd_conflict(before, &b) {
            self.error(sb, msg).hint = Some(hint);
            return None;
        }
        Some(b)
    }

    /// The `[bgp]` table: `None` when it has errors of its own (reported).
    fn bgp(&mut self, sb: &Spanned<BgpDef>) -> Option<BgpSpec> {
        use check::bgp_limits;
        let errors_before = self.errors();
        let d = sb.get_ref();
        let as_number = |cx: &mut Self, v: &Spanned<i64>, what: &str| {
            let (min, max) = bgp_limits::AS;
            cx.ranged(v, what, min as i64, max as i64).map(|v| v as u32)
        };
        let local_as = as_number(self, &d.local_as, "local_as");
        let mut b = BgpSpec::new(local_as.unwrap_or(1));
        if let Some(r) = &d.router_id {
            match r.get_ref().parse::<std::net::Ipv4Addr>() {
                Ok(a) if !a.is_unspecified() => b.router_id = Some(a),
                _ => {
                    let e = self.error(
                        r,
                        format!("router_id {:?} is not a non-zero IPv4 address", r.get_ref()),
                    );
                    e.expected = Some(
                        "an IPv4 address: the BGP identifier is 32 bits, IPv6 sessions included"
                            .into(),
                    );
                }
            }
        }
        b.mode = match d.mode {
            None | Some(BgpModeDef::ActiveStandby) => BgpMode::ActiveStandby,
            Some(BgpModeDef::Anycast) => BgpMode::Anycast,
        };
        if let Some(bk) = &d.backup {
            b.backup = match bk.get_ref() {
                BackupDef::Withdraw => BackupRoute::Withdraw,
                BackupDef::Prepend(n) => {
                    let (min, max) = bgp_limits::PREPEND;
                    let n = Spanned::new(bk.span(), *n);
                    self.ranged(&n, "backup prepend", min as i64, max as i64)
                        .map_or(BackupRoute::Withdraw, |n| BackupRoute::Prepend(n as u8))
                }
                BackupDef::Med(n) => {
                    let (min, max) = bgp_limits::MED;
                    let n = Spanned::new(bk.span(), *n);
                    self.ranged(&n, "backup med", min as i64, max as i64)
                        .map_or(BackupRoute::Withdraw, |n| BackupRoute::Med(n as u32))
                }
            };
        }
        if let Some(h) = &d.hold_time {
            let (min, max) = bgp_limits::HOLD_TIME;
            if let Some(h) = self.ranged(h, "hold_time", min as i64, max as i64) {
                b.hold_time = h as u16;
            }
        }
        for c in &d.communities {
            match check::parse_community(c.get_ref()) {
                Ok(v) if b.communities.contains(&v) => {
                    let w = Diagnostic::warning(
                        Some(self.at(c)),
                        format!("community {} is listed twice", c.get_ref()),
                    )
                    .hint("routes carry it once; remove the second");
                    self.diags.push(w);
                }
                Ok(v) => b.communities.push(v),
                Err(why) => {
                    self.error(c, why);
                }
            }
        }
        if let Some(p) = &d.bird {
            match check::bird_path_problem(p.get_ref()) {
                Some(why) => {
                    self.error(p, format!("bird {:?}: {why}", p.get_ref()));
                }
                None => b.bird = p.get_ref().into(),
            }
        }
        if let Some(t) = &d.bfd {
            let t = t.get_ref();
            let (min, max) = bgp_limits::BFD_INTERVAL_MS;
            for (v, key, slot) in [
                (&t.min_rx_ms, "bfd.min_rx_ms", &mut b.bfd.min_rx),
                (&t.min_tx_ms, "bfd.min_tx_ms", &mut b.bfd.min_tx),
            ] {
                if let Some(ms) = v
                    .as_ref()
                    .and_then(|v| self.ranged(v, key, min as i64, max as i64))
                {
                    *slot = Duration::from_millis(ms as u64);
                }
            }
            if let Some(m) = &t.multiplier {
                let (min, max) = bgp_limits::BFD_MULTIPLIER;
                if let Some(m) = self.ranged(m, "bfd.multiplier", min as i64, max as i64) {
                    b.bfd.multiplier = m as u8;
                }
            }
        }
        for sn in &d.neighbors {
            let n = sn.get_ref();
            let Some(addr) = self.addr(&n.address, "bgp neighbor address") else {
                continue;
            };
            let Some(remote_as) = as_number(self, &n.remote_as, "remote_as") else {
                continue;
            };
            let source = match &n.source {
                None => None,
                Some(s) => match self.addr(s, "bgp neighbor source") {
                    Some(a) => Some(a),
                    None => continue,
                },
            };
            let nb = BgpNeighbor {
                addr,
                remote_as,
                bfd: n.bfd,
                source,
            };
            if let Some(why) = check::bgp_neighbor_problem(&nb) {
                self.error(sn, why);
                continue;
            }
            if b.neighbors.iter().any(|x| x.addr == addr) {
                self.error(sn, format!("neighbor {addr} is defined twice"))
                    .hint = Some("one session per neighbour: merge the two tables".into());
                continue;
            }
            b.neighbors.push(nb);
        }
        (local_as.is_some() && self.errors() == errors_before).then_some(b)
    }

    fn errors(&self) -> usize {
        self.diags.list.iter().filter(|d| d.is_error()).count()
    }

    fn instance(
        &mut self,
        si: &Spanned<Instance>,
        defaults: &(Option<Version>, GarpConfig),
    ) -> Option<Draft> {
        let i = si.get_ref();
        let name = i.name.get_ref().clone();
        let vips: Vec<(VipSpec, Location)> = i
            .vips
            .get_ref()
            .iter()
            .filter_map(|v| Some((self.vip(v)?, self.at(v))))
            .collect();
        let mut draft = Draft {
            spec: InstanceSpec {
                name: name.clone(),
                iface: i.interface.get_ref().clone(),
                vips: vips.iter().map(|v| v.0.clone()).collect(),
                vrrp: None,
                bgp_announce: i.bgp_announce.as_ref().is_some_and(|b| *b.get_ref()),
            },
            at: self.at(&i.name),
            vrid_at: i.vrid.as_ref().map(|v| self.at(v)),
            advert_at: i.advert_interval.as_ref().map(|v| self.at(v)),
            vip_at: vips.iter().map(|v| v.1.clone()).collect(),
            track_script_at: Vec::new(),
            unicast_src_at: i.unicast_src.as_ref().map(|s| self.at(s)),
            no_accept_at: i
                .accept
                .as_ref()
                .filter(|a| !*a.get_ref())
                .map(|a| (self.at(a), "accept = false")),
            fast_takeover_at: i
                .fast_takeover
                .as_ref()
                .filter(|f| *f.get_ref())
                .map(|f| (self.at(f), "fast_takeover = true")),
            bgp_announce_at: i
                .bgp_announce
                .as_ref()
                .filter(|b| *b.get_ref())
                .map(|b| (self.at(b), "bgp_announce = true")),
        };
        if i.static_owner {
            if let Some(v) = &i.vrid {
                self.error(v, format!("instance {name} is static and has a vrid"))
                    .hint = Some(
                    "a static instance owns its VIPs without an election: remove vrid, or static"
                        .into(),
                );
                return None;
            }
            return Some(draft);
        }
        let Some(vrid) = &i.vrid else {
            self.error(&i.name, format!("instance {name} has no vrid")).hint =
                Some("give vrid = 1..255 (the same on every node), or static = true to own the VIPs without an election".into());
            return None;
        };
        let vrid = self.ranged(vrid, "vrid", 1, 255)? as u8;
        let priority = match &i.priority {
            Some(p) => self.ranged(p, "priority", 1, 255)? as u8,
            None => 100,
        };
        let version = match &i.version {
            Some(v) => self.version(v)?,
            None => defaults.0.unwrap_or(Version::V2),
        };
        let advert_interval = match &i.advert_interval {
            None => Centis(100),
            Some(a) => {
                let s = a.get_ref().0;
                let cs = s * 100.0;
                if !s.is_finite()
                    || s <= 0.0
                    || (cs - cs.round()).abs() > 1e-6
                    || cs.round() > 25500.0
                {
                    let d = self.error(
                        a,
                        format!("advert_interval {s} is not a whole number of centiseconds"),
                    );
                    d.expected = Some(
                        "0.01 to 40.95 (VRRPv3) or a whole number from 1 to 255 (VRRPv2)".into(),
                    );
                    d.hint = Some("VRRP counts centiseconds: at most two decimals".into());
                    return None;
                }
                Centis(cs.round() as u16)
            }
        };
        let auth = match &i.auth_pass {
            None => None,
            Some(p) => {
                let b = p.get_ref().as_bytes();
                if b.is_empty() || b.len() > 8 {
                    let d = self.error(p, "auth_pass must be 1 to 8 bytes");
                    d.found = Some(p.get_ref().clone());
                    return None;
                }
                let mut a = [0u8; 8];
                a[..b.len()].copy_from_slice(b);
                Some(a)
            }
        };
        let preempt_delay = match &i.preempt_delay {
            None => Duration::ZERO,
            Some(d) => self.duration(d, "preempt_delay", 1000.0)?,
        };
        let unicast_src = match &i.unicast_src {
            None => None,
            Some(s) => Some(self.addr(s, "unicast_src")?),
        };
        let virtual_routes = self.word_lines(
            &i.virtual_routes,
            "virtual_routes",
            crate::config::route::parse,
        );
        let mcast_group = match &i.mcast_group {
            None => None,
            Some(g) => {
                let a = self.addr(g, "mcast_group")?;
                let v6 = i.vips.get_ref().iter().any(|v| match v.get_ref() {
                    Vip::Plain(a) => a.contains(':'),
                    Vip::Full(t) => t.address.contains(':'),
                });
                if !a.is_multicast() || a.is_ipv6() != v6 {
                    self.error(
                        g,
                        format!(
                            "mcast_group {a}: not a multicast address of the instance's family"
                        ),
                    );
                    return None;
                }
                Some(a).filter(|a| {
                    *a != IpAddr::from(crate::wire::vrrp::MULTICAST_V4)
                        && *a != IpAddr::from(crate::wire::vrrp::MULTICAST_V6)
                })
            }
        };
        let use_vmac = i.use_vmac.as_ref().filter(|u| *u.get_ref());
        let virtual_rules = self.word_lines(
            &i.virtual_rules,
            "virtual_rules",
            crate::config::route::parse_rule,
        );
        let mut peer_ttl = Vec::new();
        let mut unicast_peers = Vec::new();
        for p in &i.unicast_peers {
            let addr = Spanned::new(p.span(), p.get_ref().address().to_string());
            let Some(a) = self.addr(&addr, "unicast peer") else {
                continue;
            };
            if let Peer::Full(t) = p.get_ref() {
                if t.min_ttl > t.max_ttl {
                    self.error(
                        p,
                        format!(
                            "unicast peer {a}: min_ttl {} is above max_ttl {}",
                            t.min_ttl, t.max_ttl
                        ),
                    );
                    continue;
                }
                if (t.min_ttl, t.max_ttl) != (0, 255) {
                    peer_ttl.push((a, t.min_ttl, t.max_ttl));
                }
            }
            unicast_peers.push(a);
        }
        let unicast_ttl = match &i.unicast_ttl {
            Some(t) if *t.get_ref() == 0 => {
                self.error(t, "unicast_ttl 0 is out of range: 1 to 255".to_string());
                return None;
            }
            Some(t) => *t.get_ref(),
            None => 255,
        };
        let check_unicast_src = match &i.check_unicast_src {
            Some(c) if !*c.get_ref() => {
                let d = Diagnostic::warning(
                    Some(self.at(c)),
                    "check_unicast_src = false: adverts from any source are accepted, so any \
                     host that can reach this one can take the VIPs over",
                )
                .hint("list every peer in unicast_peers and remove check_unicast_src");
                self.diags.push(d);
                false
            }
            _ => true,
        };
        let garp = match &i.garp {
            Some(g) => self.garp(defaults.1.clone(), g),
            None => defaults.1.clone(),
        };
        draft.track_script_at = i.track_scripts.iter().map(|t| self.at(t)).collect();
        draft.spec.vrrp = Some(VrrpSpec {
            version,
            advert_interval,
            auth,
            preempt: i.preempt,
            preempt_delay,
            start_as: match i.state.as_ref().map(|s| *s.get_ref()) {
                Some(State::Master) => StartState::Master,
                Some(State::Backup) | None => StartState::Backup,
            },
            garp,
            checksum: if i.v3_checksum_as_v2 {
                ChecksumMode::MessageOnly
            } else {
                ChecksumMode::PseudoHeader
            },
            unicast_src,
            unicast_peers,
            check_unicast_src,
            track_interfaces: i
                .track_interfaces
                .iter()
                .map(|t| (t.interface.clone(), t.weight))
                .collect(),
            track_scripts: i
                .track_scripts
                .iter()
                .map(|t| (t.get_ref().script.clone(), t.get_ref().weight))
                .collect(),
            track_files: i
                .track_files
                .iter()
                .map(|t| (t.get_ref().file.clone(), t.get_ref().weight))
                .collect(),
            track_bfds: i
                .track_bfds
                .iter()
                .map(|t| (t.get_ref().bfd.clone(), t.get_ref().weight))
                .collect(),
            fast_takeover: i.fast_takeover.as_ref().is_some_and(|f| *f.get_ref()),
            lower_prio_no_advert: i.lower_prio_no_advert,
            unicast_ttl,
            peer_ttl,
            down_timer_adverts: i.down_timer_adverts.as_ref().map_or(3, |n| *n.get_ref()),
            virtual_routes,
            virtual_rules,
            mcast_group,
            accept: i.accept.as_ref().is_none_or(|a| *a.get_ref()),
            use_vmac: use_vmac.is_some(),
            vmac_xmit_base: i.vmac_xmit_base,
            notify: notify(&i.notify),
            ..VrrpSpec::new(vrid, priority)
        });
        Some(draft)
    }
}

fn notify(n: &Notify) -> NotifySpec {
    NotifySpec {
        master: n.master.clone(),
        backup: n.backup.clone(),
        fault: n.fault.clone(),
        stop: n.stop.clone(),
        any: n.any.clone(),
        master_rx_lower_pri: n.master_rx_lower_pri.clone(),
        priority_changes: n.priority_changes,
    }
}

/// Reads a TOML config from `text` (named `file` in diagnostics).
pub fn load_str(file: &str, text: &str, diags: &mut Diags) -> DaemonSpec {
    let parsed: Result<File, _> = toml::de::Deserializer::parse(text)
        .map_err(|e| (String::new(), e))
        .and_then(|de| {
            serde_path_to_error::deserialize(de).map_err(|e| (e.path().to_string(), e.into_inner()))
        });
    let f = match parsed {
        Ok(f) => f,
        Err((path, e)) => {
            let at = e.span().map(|s| position(file, text, s.start));
            let msg = e.message().trim_end().to_string();
            let path = path
                .replace(".$__serde_spanned_private_value", "")
                .replace("$__serde_spanned_private_value", "");
            let msg = if path.is_empty() || path == "." {
                msg
            } else {
                format!("{path}: {msg}")
            };
            diags.push(
                Diagnostic::error(at, msg).hint("see docs/config.md for the keys of each table"),
            );
            return DaemonSpec::new(Vec::new());
        }
    };
    let mut cx = Cx {
        file,
        lines: Lines::new(text),
        diags,
    };
    let default_version = f.defaults.version.as_ref().and_then(|v| cx.version(v));
    let default_garp = cx.garp(GarpConfig::default(), &f.defaults.garp);
    let defaults = (default_version, default_garp);
    let drafts: Vec<Draft> = f
        .instances
        .iter()
        .filter_map(|i| cx.instance(i, &defaults))
        .collect();
    let mut spec = DaemonSpec::new(Vec::new());
    spec.router_id = f.router_id.clone();
    spec.script_security = f.script_security;
    spec.script_user = f.script_user.clone();
    spec.rt_priority = f
        .rt_priority
        .as_ref()
        .and_then(|p| cx.ranged(p, "rt_priority", 1, 99))
        .map(|p| p as u8);
    spec.mlock = f.mlock;
    for n in &f.notify_fifos {
        let fifo = n.get_ref();
        if !fifo.path.starts_with('/') {
            cx.error(
                n,
                format!("notify_fifo path {}: must be absolute", fifo.path),
            );
            continue;
        }
        if fifo.group.is_some() && fifo.user.is_none() {
            cx.error(n, "notify_fifo: a group needs a user");
            continue;
        }
        spec.notify_fifos.push(FifoSpec {
            path: fifo.path.clone().into(),
            user: fifo.user.clone(),
            group: fifo.group.clone(),
        });
    }
    spec.fifo_states_on_reload = f.fifo_states_on_reload;
    spec.static_addresses = cx.word_lines(
        &f.static_ipaddress,
        "static_ipaddress",
        crate::config::route::parse_address,
    );
    let parsed = cx.word_lines(
        &f.static_rules,
        "static_rules",
        crate::config::route::parse_rule,
    );
    spec.static_rules.extend(parsed);
    let parsed = cx.word_lines(
        &f.static_routes,
        "static_routes",
        crate::config::route::parse,
    );
    spec.static_routes.extend(parsed);
    if let Some(ns) = &f.net_namespace {
        match crate::model::netns_name_problem(ns.get_ref()) {
            Some(why) => {
                cx.error(ns, format!("net_namespace {:?}: {why}", ns.get_ref()));
            }
            None => spec.net_namespace = Some(ns.get_ref().clone()),
        }
    }
    spec.startup_delay = f
        .startup_delay
        .as_ref()
        .and_then(|d| cx.duration(d, "startup_delay", 3600.0))
        .filter(|d| !d.is_zero());
    let mut life = |l: &Option<Spanned<Life>>, key: &str| {
        let l = l.as_ref()?.get_ref();
        let timeout = match &l.timeout {
            None => LIFE_SCRIPT_TIMEOUT,
            Some(t) => {
                let d = cx.duration(t, &format!("{key}.timeout"), 1000.0)?;
                if d < Duration::from_secs(1) {
                    cx.error(
                        t,
                        format!("{key}.timeout: at least 1 s (keepalived: 1 to 1000)"),
                    );
                    return None;
                }
                d
            }
        };
        Some(LifeScript {
            command: l.command.clone(),
            timeout,
        })
    };
    spec.startup_script = life(&f.startup_script, "startup_script");
    spec.shutdown_script = life(&f.shutdown_script, "shutdown_script");
    let mut script_names = std::collections::HashSet::new();
    for s in &f.scripts {
        let sc = s.get_ref();
        let interval = sc
            .interval
            .as_ref()
            .and_then(|i| cx.duration(i, "interval", 86400.0))
            .unwrap_or(Duration::from_secs(1));
        let timeout = sc
            .timeout
            .as_ref()
            .and_then(|t| cx.duration(t, "timeout", 86400.0))
            .unwrap_or(interval);
        if !script_names.insert(sc.name.as_str()) {
            cx.error(s, format!("script {} is defined twice", sc.name));
        }
        let at = cx.at(s);
        cx.diags.script_at.push((sc.name.clone(), at));
        spec.scripts.push(ScriptSpec {
            name: sc.name.clone(),
            script: sc.command.clone(),
            interval,
            timeout,
            weight: sc.weight,
            rise: sc.rise.max(1),
            fall: sc.fall.max(1),
            user: sc.user.clone(),
            process: None,
        });
    }
    for t in &f.track_files {
        let tf = t.get_ref();
        if !tf.path.starts_with('/') {
            cx.error(
                t,
                format!(
                    "track_file {}: path {:?} must be absolute",
                    tf.name, tf.path
                ),
            );
            continue;
        }
        if spec.track_files.iter().any(|x| x.name == tf.name) {
            cx.error(t, format!("track_file {} is defined twice", tf.name));
            continue;
        }
        spec.track_files.push(TrackFileSpec {
            name: tf.name.clone(),
            path: tf.path.clone().into(),
            weight: tf.weight,
            init: tf.init.as_ref().map(|i| InitFile {
                value: i.value,
                overwrite: i.overwrite,
            }),
        });
    }
    for i in &f.instances {
        for t in &i.get_ref().track_files {
            let name = &t.get_ref().file;
            if !f.track_files.iter().any(|d| &d.get_ref().name == name) {
                cx.error(t, format!("track_files: no [[track_file]] named {name}"));
            } else if t
                .get_ref()
                .weight
                .is_some_and(|w| !(-254..=254).contains(&w))
            {
                cx.error(
                    t,
                    format!("track_files {name}: weight is out of range -254 to 254"),
                );
            }
        }
    }
    spec.bfd_rt_priority = f
        .bfd_rt_priority
        .as_ref()
        .and_then(|p| cx.ranged(p, "bfd_rt_priority", 1, 99))
        .map(|p| p as u8);
    for b in &f.bfds {
        if let Some(b) = cx.bfd(b, &spec.bfds) {
            spec.bfds.push(b);
        }
    }
    let tracks = f
        .instances
        .iter()
        .flat_map(|i| &i.get_ref().track_bfds)
        .chain(f.sync_groups.iter().flat_map(|g| &g.get_ref().track_bfds));
    for t in tracks {
        let name = &t.get_ref().bfd;
        if !f.bfds.iter().any(|d| d.get_ref().name.get_ref() == name) {
            cx.error(t, format!("track_bfds: no [[bfd]] named {name}"));
        } else if t.get_ref().weight.is_some_and(|w| {
            let (min, max) = check::bfd_limits::WEIGHT;
            !(min..=max).contains(&i64::from(w))
        }) {
            cx.error(
                t,
                format!("track_bfds {name}: weight is out of range -253 to 253"),
            );
        }
    }
    let bgp_at = f.bgp.as_ref().map(|b| {
        spec.bgp = cx.bgp(b);
        let d = b.get_ref();
        BgpAt {
            at: cx.at(b),
            spelled: "[bgp]",
            backup_at: d.backup.as_ref().map(|x| cx.at(x)),
            bfd_at: d.bfd.as_ref().map(|x| (cx.at(x), "bfd".to_string())),
        }
    });
    let mut groups_at = Vec::new();
    for g in &f.sync_groups {
        let gr = g.get_ref();
        if gr.notify.master_rx_lower_pri.is_some() {
            cx.error(
                g,
                format!(
                    "sync_group {}: notify.master_rx_lower_pri is an instance's hook",
                    gr.name
                ),
            );
        }
        if gr.notify.priority_changes {
            cx.error(
                g,
                format!(
                    "sync_group {}: notify.priority_changes is an instance's setting",
                    gr.name
                ),
            );
        }
        spec.sync_groups.push(SyncGroupSpec {
            name: gr.name.clone(),
            instances: gr.instances.iter().map(|i| i.get_ref().clone()).collect(),
            notify: notify(&gr.notify),
            tracking_weight: gr.tracking_weight,
            track: GroupTrack {
                interfaces: gr
                    .track_interfaces
                    .iter()
                    .map(|t| (t.interface.clone(), t.weight))
                    .collect(),
                scripts: gr
                    .track_scripts
                    .iter()
                    .map(|t| (t.get_ref().script.clone(), t.get_ref().weight))
                    .collect(),
                files: gr
                    .track_files
                    .iter()
                    .map(|t| (t.get_ref().file.clone(), t.get_ref().weight))
                    .collect(),
                bfds: gr
                    .track_bfds
                    .iter()
                    .map(|t| (t.get_ref().bfd.clone(), t.get_ref().weight))
                    .collect(),
            },
        });
        groups_at.push(GroupAt {
            at: cx.at(g),
            members: gr.instances.iter().map(|i| cx.at(i)).collect(),
        });
    }
    let whole = Location {
        file: file.to_string(),
        line: 1,
        col: 1,
    };
    let no_instance = f.instances.is_empty().then_some(whole);
    let written: Vec<String> = f
        .instances
        .iter()
        .map(|i| i.get_ref().name.get_ref().clone())
        .collect();
    check::finish(
        drafts,
        spec,
        &groups_at,
        &written,
        no_instance,
        bgp_at.as_ref(),
        cx.diags,
    )
}
