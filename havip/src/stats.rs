//! `havip stats`: the daemon's snapshot (over its control socket) beside the XDP program's
//! counters (from the maps of the program attached to this namespace's interfaces, readable even
//! when the daemon is gone).

use std::net::Ipv4Addr;

use anyhow::Result;
use aya::maps::{HashMap, MapData};
use havip_ebpf::{
    global, map, Vip6Key, VipKey, VipState, VridConfig, VridKey, GLOBAL_COUNTER_NAMES, VIP_OWNED,
};
use serde::{Deserialize, Serialize};

use crate::{
    control::{self, DaemonSnapshot},
    dataplane::{
        attach::havip_on_links_blocking, read_global_counters, read_vip_counters,
        read_vrid_counters, VipMapKey, XdpMaps,
    },
};

/// Everything `havip stats --json` prints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Stats {
    /// `None` when no daemon answers in this network namespace.
    pub daemon: Option<DaemonSnapshot>,
    /// `None` when no havip XDP program is attached here (no daemon ran, or it stopped cleanly).
    pub xdp: Option<XdpStats>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct XdpStats {
    /// Where the program is attached and in which mode (empty in the daemon's own metrics,
    /// which do not ask rtnetlink on every scrape).
    #[serde(default)]
    pub attachments: Vec<AttachmentStats>,
    pub vips: Vec<VipStats>,
    /// IPv6 VIPs: `arp_requests` counts neighbour solicitations for the VIP, `arp_replies`
    /// those passed to the kernel to answer (XDP answers only ARP itself).
    #[serde(default)]
    pub vips6: Vec<VipStats>,
    pub vrids: Vec<VridStats>,
    /// Counters not tied to a VIP or router, by name.
    pub global: std::collections::BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AttachmentStats {
    pub iface: String,
    /// "native" or "skb".
    pub mode: String,
    pub prog_id: u32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VipStats {
    pub vip: String,
    pub iface: String,
    pub owned: bool,
    pub arp_requests: u64,
    pub arp_replies: u64,
    pub dropped_not_owned: u64,
    pub dropped_stale_heartbeat: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VridStats {
    pub iface: String,
    pub vrid: u8,
    pub family: String,
    pub version: u8,
    pub received: u64,
    pub delivered_ringbuf: u64,
    pub passed_to_stack: u64,
    pub bad_ttl: u64,
    pub bad_version: u64,
    pub bad_type: u64,
    pub truncated: u64,
    /// Dropped: not from one of the unicast peers (`check_unicast_src`).
    #[serde(default)]
    pub not_peer: u64,
    /// Dropped: over XDP's advert rate limits.
    #[serde(default)]
    pub rate_limited: u64,
    /// Accepted from the master this node follows (its own lane in the rate limits).
    #[serde(default)]
    pub from_master: u64,
}

/// Collects the stats of the havip of this network namespace: its daemon's snapshot, if one
/// runs, and the counters of the XDP program attached to the namespace's interfaces, if any
/// (also after the daemon died, however it was started).
pub fn collect() -> Result<Stats> {
    let daemon = control::query(&control::socket_path(&control::ns_name()?))?;
    let attached = havip_on_links_blocking()?;
    let Some(first) = attached.first() else {
        return Ok(Stats { daemon, xdp: None });
    };
    let mut xdp = read_xdp(&XdpMaps::of_prog(first.prog_id)?)?;
    xdp.attachments = attached
        .iter()
        .map(|a| AttachmentStats {
            iface: a.ifname.clone(),
            mode: a.mode.to_string(),
            prog_id: a.prog_id,
        })
        .collect();
    Ok(Stats {
        daemon,
        xdp: Some(xdp),
    })
}

/// The daemon's own view (it has its snapshot at hand) beside the counters of its XDP maps;
/// XDP counters that cannot be read are left out.
pub fn with_xdp(daemon: Option<DaemonSnapshot>, maps: &XdpMaps) -> Stats {
    let xdp = read_xdp(maps).ok();
    Stats { daemon, xdp }
}

fn read_xdp(maps: &XdpMaps) -> Result<XdpStats> {
    let vips = read_vips::<VipKey>(maps, |k| Ipv4Addr::from(k.addr).to_string(), |k| k.ifindex)?;
    let vips6 = if maps.has(map::VIPS6) {
        read_vips::<Vip6Key>(
            maps,
            |k| std::net::Ipv6Addr::from(k.addr).to_string(),
            |k| k.ifindex,
        )?
    } else {
        Vec::new()
    };
    let mut out = XdpStats {
        vips,
        vips6,
        ..XdpStats::default()
    };
    let vrid_counters = maps.open(map::VRID_COUNTERS)?;
    let vrids: HashMap<MapData, VridKey, VridConfig> = HashMap::try_from(maps.open(map::VRIDS)?)?;
    for item in vrids.iter() {
        let (key, cfg) = item?;
        let c = read_vrid_counters(&vrid_counters, &key).unwrap_or_default();
        out.vrids.push(VridStats {
            iface: ifname(key.ifindex),
            vrid: key.vrid,
            family: if key.family == havip_ebpf::FAMILY_IPV6 {
                "ipv6"
            } else {
                "ipv4"
            }
            .into(),
            version: cfg.version,
            received: c.received,
            delivered_ringbuf: c.delivered_ringbuf,
            passed_to_stack: c.passed_to_stack,
            bad_ttl: c.bad_ttl,
            bad_version: c.bad_version,
            bad_type: c.bad_type,
            truncated: c.truncated,
            not_peer: c.not_peer,
            rate_limited: c.rate_limited,
            from_master: c.from_master,
        });
    }
    out.vrids.sort_by_key(|v| (v.iface.clone(), v.vrid));
    let g = read_global_counters(&maps.open(map::GLOBAL_COUNTERS)?)?;
    for i in 0..global::COUNT as usize {
        out.global.insert(GLOBAL_COUNTER_NAMES[i].to_string(), g[i]);
    }
    Ok(out)
}

/// One VIP map (IPv4 or IPv6) with its counters, sorted by interface and address.
fn read_vips<K: VipMapKey>(
    maps: &XdpMaps,
    addr: impl Fn(&K) -> String,
    ifindex: impl Fn(&K) -> u32,
) -> Result<Vec<VipStats>> {
    let counters = maps.open(K::COUNTERS)?;
    let vips: HashMap<MapData, K, VipState> = HashMap::try_from(maps.open(K::VIPS)?)?;
    let mut out = Vec::new();
    for item in vips.iter() {
        let (key, state) = item?;
        let c = read_vip_counters(&counters, &key).unwrap_or_default();
        out.push(VipStats {
            vip: addr(&key),
            iface: ifname(ifindex(&key)),
            owned: state.flags & VIP_OWNED != 0,
            arp_requests: c.requests,
            arp_replies: c.replies,
            dropped_not_owned: c.dropped_not_owned,
            dropped_stale_heartbeat: c.dropped_stale,
        });
    }
    out.sort_by(|a, b| (&a.iface, &a.vip).cmp(&(&b.iface, &b.vip)));
    Ok(out)
}

fn ifname(index: u32) -> String {
    // if_indextoname(3) asks through any socket: a UDP one is the cheapest to open.
    rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .and_then(|fd| rustix::net::netdevice::index_to_name(fd, index))
    .unwrap_or_else(|_| format!("if{index}"))
}

/// The BFD lines of [`render`]: one per session, then the thread's drops and timing.
fn render_bfd(o: &mut String, b: &crate::control::BfdSnapshot) {
    use std::fmt::Write as _;
    let us = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{:.1} ms", v as f64 / 1000.0));
    for s in &b.sessions {
        let _ = writeln!(
            o,
            "bfd {} to {} from {}: {} (neighbour {})  tx every {}  detection {}  rx {} tx {}  downs {}{}",
            s.name,
            s.neighbor,
            s.local,
            s.state,
            s.remote_state,
            us(s.tx_interval_us),
            us(s.detection_time_us),
            s.rx,
            s.tx,
            s.downs,
            match (&s.last_down, s.last_down_ago_ms) {
                (Some(why), Some(ago)) => format!("  last down {:.1} s ago: diag {why}", ago as f64 / 1000.0),
                _ => String::new(),
            }
        );
    }
    let dropped: Vec<String> = b.dropped.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let _ = write!(
        o,
        "  bfd thread: {}  dropped [{}]",
        b.rt_priority
            .map_or("SCHED_OTHER".to_string(), |p| format!("SCHED_FIFO {p}")),
        dropped.join(" ")
    );
    if let Some(l) = &b.wakeup_late {
        let _ = write!(
            o,
            "  woke late p50 {:.0} µs p99 {:.0} µs max {:.0} µs",
            l.p50_us, l.p99_us, l.max_us
        );
    }
    if let Some(l) = &b.rx_delay {
        let _ = write!(
            o,
            "  rx to session p50 {:.0} µs p99 {:.0} µs",
            l.p50_us, l.p99_us
        );
    }
    o.push('\n');
}

/// The BGP lines of [`render`]: the speaker, each session, each instance's route.
fn render_bgp(o: &mut String, b: &crate::control::BgpSnapshot) {
    use std::fmt::Write as _;
    let ago = |ms: Option<u64>| {
        ms.map_or("never".to_string(), |ms| {
            format!("{:.1} s ago", ms as f64 / 1000.0)
        })
    };
    let _ = writeln!(
        o,
        "bgp speaker: {} (pid {})  restarts {}{}",
        if b.speaker.is_empty() {
            "BIRD"
        } else {
            &b.speaker
        },
        b.speaker_pid.map_or("-".to_string(), |p| p.to_string()),
        b.speaker_restarts,
        if b.fenced {
            "  FENCED: the election stalled, every route withdrawn"
        } else {
            ""
        }
    );
    for n in &b.neighbors {
        let _ = writeln!(
            o,
            "bgp neighbor {} as {}{}: {}{}  established {} times, last change {}",
            n.address,
            n.remote_as,
            if n.bfd { " (bfd)" } else { "" },
            if n.state.is_empty() { "-" } else { &n.state },
            if n.info.is_empty() {
                String::new()
            } else {
                format!(" ({})", n.info)
            },
            n.established_count,
            ago(n.last_change_ago_ms)
        );
    }
    for r in &b.routes {
        let _ = writeln!(
            o,
            "bgp route {} [{}]: {}  announced {} withdrawn {}  last change {}",
            r.instance,
            r.prefixes.join(" "),
            r.announce.as_str(),
            r.announced,
            r.withdrawn,
            ago(r.last_change_ago_ms)
        );
    }
}

/// The human-readable form.
pub fn render(stats: &Stats) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    match &stats.daemon {
        None => o.push_str("daemon: none runs in this network namespace\n"),
        Some(d) => {
            let _ = writeln!(o, "daemon: pid {}, adverts via {}", d.pid, d.advert_path);
            if let Some(l) = &d.advert_delivery {
                let _ = writeln!(
                    o,
                    "  advert delivery XDP→daemon: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} samples)",
                    l.p50_us, l.p99_us, l.max_us, l.samples
                );
            }
            for x in &d.xdp {
                let _ = writeln!(
                    o,
                    "xdp on {}: {} mode{}",
                    x.iface,
                    x.mode,
                    if x.fallbacks_to_skb > 0 {
                        format!(
                            " (native could not transmit: fell back {} time(s))",
                            x.fallbacks_to_skb
                        )
                    } else {
                        String::new()
                    }
                );
            }
            for c in &d.checks {
                let state = match c.healthy {
                    Some(true) => "up",
                    Some(false) => "down",
                    None => "no result yet",
                };
                match &c.followed_by {
                    Some(how) => {
                        let _ = writeln!(o, "check {}: {state} ({how})", c.name);
                    }
                    None => {
                        let _ = writeln!(o, "check {}: {state}", c.name);
                    }
                }
            }
            if let Some(b) = &d.bgp {
                render_bgp(&mut o, b);
            }
            if let Some(b) = &d.bfd {
                render_bfd(&mut o, b);
            }
            for f in &d.interfaces {
                let changes: Vec<String> = f
                    .changes
                    .named()
                    .iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(k, n)| format!("{k}={n}"))
                    .collect();
                let _ = writeln!(
                    o,
                    "interface {} (index {}, configured as {}): {}  MAC {}  sources {} {}  host changes [{}]",
                    f.name,
                    f.ifindex,
                    f.configured,
                    if !f.present {
                        "gone"
                    } else if f.up {
                        "up"
                    } else {
                        "down"
                    },
                    f.mac,
                    f.source_v4.as_deref().unwrap_or("-"),
                    f.source_v6.as_deref().unwrap_or("-"),
                    changes.join(" ")
                );
            }
            for i in &d.instances {
                let vrid = i.vrid.map_or("-".into(), |v| v.to_string());
                let _ = writeln!(
                    o,
                    "instance {} ({} vrid {} v{}): {}  priority {}/{}  master {}  VIPs {} ({})",
                    i.name,
                    i.iface,
                    vrid,
                    i.version.map_or("-".into(), |v| v.to_string()),
                    i.state,
                    i.effective_priority.map_or("-".into(), |p| p.to_string()),
                    i.base_priority.map_or("-".into(), |p| p.to_string()),
                    i.master.as_deref().unwrap_or("-"),
                    i.vips.join(" "),
                    if i.owned { "owned" } else { "not owned" },
                );
                if let Some(why) = &i.host_fault {
                    let _ = writeln!(o, "  held in FAULT: {why}");
                }
                let a = &i.adverts;
                let rejected: Vec<String> = a
                    .rejected
                    .iter()
                    .filter(|(_, v)| **v > 0)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(
                    o,
                    "  adverts sent {} received {} malformed {} rejected [{}]  transitions {} (master {})  GARPs {}",
                    a.sent,
                    a.received,
                    a.malformed,
                    rejected.join(" "),
                    a.transitions,
                    a.became_master,
                    a.garps_sent
                );
            }
        }
    }
    match &stats.xdp {
        None => o.push_str("xdp: no havip program attached in this network namespace\n"),
        Some(x) => {
            for a in &x.attachments {
                let _ = writeln!(
                    o,
                    "xdp attached to {} in {} mode (program id {})",
                    a.iface, a.mode, a.prog_id
                );
            }
            for v in &x.vips {
                let _ = writeln!(
                    o,
                    "xdp VIP {} on {} ({}): ARP requests {} answered {} dropped: not owned {}, stale heartbeat {}",
                    v.vip,
                    v.iface,
                    if v.owned { "owned" } else { "not owned" },
                    v.arp_requests,
                    v.arp_replies,
                    v.dropped_not_owned,
                    v.dropped_stale_heartbeat
                );
            }
            for v in &x.vips6 {
                let _ = writeln!(
                    o,
                    "xdp VIP {} on {} ({}): neighbour solicitations {} passed to the kernel {} dropped: not owned {}, stale heartbeat {}",
                    v.vip,
                    v.iface,
                    if v.owned { "owned" } else { "not owned" },
                    v.arp_requests,
                    v.arp_replies,
                    v.dropped_not_owned,
                    v.dropped_stale_heartbeat
                );
            }
            for v in &x.vrids {
                let _ = writeln!(
                    o,
                    "xdp VRID {} on {} ({} v{}): received {} (from the master {}) ring buffer {} stack {} dropped: ttl {} version {} type {} truncated {} not_peer {} rate_limited {}",
                    v.vrid, v.iface, v.family, v.version, v.received, v.from_master, v.delivered_ringbuf, v.passed_to_stack,
                    v.bad_ttl, v.bad_version, v.bad_type, v.truncated, v.not_peer, v.rate_limited
                );
            }
            let g: Vec<String> = x.global.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(o, "xdp global: {}", g.join(" "));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{HostChanges, IfaceSnapshot, InstanceSnapshot};

    #[test]
    fn host_changes_and_faults_are_shown() {
        let stats = Stats {
            daemon: Some(DaemonSnapshot {
                pid: 7,
                advert_path: "socket".into(),
                instances: vec![InstanceSnapshot {
                    name: "VI_1".into(),
                    iface: "lan0".into(),
                    state: "FAULT".into(),
                    host_fault: Some(
                        "interface lan0 has no IPv4 address to send adverts from".into(),
                    ),
                    ..InstanceSnapshot::default()
                }],
                interfaces: vec![IfaceSnapshot {
                    name: "lan0".into(),
                    configured: "eth0".into(),
                    ifindex: 3,
                    mac: "02:00:00:00:00:01".into(),
                    present: true,
                    up: true,
                    source_v4: None,
                    source_v6: Some("fe80::1".into()),
                    changes: HostChanges {
                        renamed: 1,
                        source_lost: 2,
                        ..HostChanges::default()
                    },
                }],
                ..DaemonSnapshot::default()
            }),
            xdp: None,
        };
        let text = render(&stats);
        assert!(
            text.contains(
                "interface lan0 (index 3, configured as eth0): up  MAC 02:00:00:00:00:01  \
                 sources - fe80::1  host changes [source_lost=2 renamed=1]\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  held in FAULT: interface lan0 has no IPv4 address to send adverts from\n"
            ),
            "{text}"
        );
    }
}
