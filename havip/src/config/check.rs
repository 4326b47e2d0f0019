//! Checks common to both formats, on the instances as read: each virtual router against
//! [`RouterConfig::validate`](crate::vrrp::RouterConfig::validate) (the election's own rules, not
//! repeated here) on the config the daemon would build, Accept_Mode, and the instances
//! against each other (names, VRIDs per interface, VIPs, scripts and sync groups named).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::diag::{Diagnostic, Diags, Location};
use crate::{
    model::{BfdSpec, BgpMode, BgpNeighbor, DaemonSpec, InstanceSpec, VipSpec},
    vrrp::{ConfigError, PRIORITY_OWNER},
};

/// An instance as read, with where its parts were written.
#[derive(Clone, Debug)]
pub struct Draft {
    pub spec: InstanceSpec,
    /// The instance's name.
    pub at: Location,
    pub vrid_at: Option<Location>,
    pub advert_at: Option<Location>,
    /// Parallel to `spec.vips`.
    pub vip_at: Vec<Location>,
    /// Parallel to `spec.vrrp.track_scripts`.
    pub track_script_at: Vec<Location>,
    pub unicast_src_at: Option<Location>,
    /// Where Accept_Mode was turned off (keepalived `no_accept`, TOML `accept = false`), and
    /// how it was spelled.
    pub no_accept_at: Option<(Location, &'static str)>,
    /// Where havip's fast takeover was asked for (keepalived.conf `havip_fast_takeover`, TOML
    /// `fast_takeover = true`), and how it was spelled.
    pub fast_takeover_at: Option<(Location, &'static str)>,
    /// Where the instance was made to announce its VIPs over BGP (keepalived.conf
    /// `havip_bgp_announce`, TOML `bgp_announce = true`), and how it was spelled.
    pub bgp_announce_at: Option<(Location, &'static str)>,
}

/// Where the BGP block (keepalived.conf `havip_bgp`, TOML `[bgp]`) and its parts were written.
/// Given to [`finish`] whenever a block was written, valid or not: a block refused for its own
/// errors is not reported again as missing.
#[derive(Clone, Debug)]
pub struct BgpAt {
    pub at: Location,
    /// How the block is spelled: `havip_bgp` or `[bgp]`.
    pub spelled: &'static str,
    /// `backup`, where written.
    pub backup_at: Option<Location>,
    /// The first of the speaker's BFD timers written, and how it was spelled.
    pub bfd_at: Option<(Location, String)>,
}

/// Where the named parts of a sync group were written.
#[derive(Clone, Debug)]
pub struct GroupAt {
    pub at: Location,
    /// Parallel to the group's instances.
    pub members: Vec<Location>,
}

/// keepalived 2.2.7's limits of a `bfd_instance` (its `bfd.h`), which both formats keep.
pub mod bfd_limits {
    /// `min_rx` and `min_tx`: 1 ms to `UINT32_MAX / 1000` ms, in microseconds.
    pub const INTERVAL_US: (u64, u64) = (1_000, 4_294_967_000);
    /// `idle_tx`: at least one second (RFC 5880 6.8.3), in microseconds.
    pub const IDLE_TX_US: (u64, u64) = (1_000_000, 4_294_967_000);
    /// `weight`, and a `track_bfd`'s.
    pub const WEIGHT: (i64, i64) = (-253, 253);
    /// The longest name (keepalived's `BFD_INAME_MAX` less its NUL).
    pub const NAME_MAX: usize = 31;
}

/// The ranges of havip's BGP block, which every reader and `havip run`'s flags keep.
pub mod bgp_limits {
    /// `local_as`, `remote_as`: AS 0 is reserved (RFC 7607); 4-byte AS numbers (RFC 6793).
    pub const AS: (u64, u64) = (1, 4_294_967_295);
    /// `backup prepend N`: the local AS prepended N more times.
    pub const PREPEND: (u64, u64) = (1, 10);
    /// `backup med N`: the master's MED is 0, so a backup's must be more.
    pub const MED: (u64, u64) = (1, 4_294_967_295);
    /// `hold_time`, seconds: BIRD's and RFC 4271's, less 0 (no hold timer).
    pub const HOLD_TIME: (u64, u64) = (3, 65_535);
    /// `bfd_min_rx`, `bfd_min_tx`, in milliseconds.
    pub const BFD_INTERVAL_MS: (u64, u64) = (1, 10_000);
    /// `bfd_multiplier`.
    pub const BFD_MULTIPLIER: (u64, u64) = (1, 255);
}

/// Why `a` cannot be an address of a BGP session (the neighbour's or the local source): not a
/// unicast address, or an IPv6 link-local one (a session has no interface to scope it to).
pub fn bgp_address_problem(a: IpAddr) -> Option<&'static str> {
    let unicast = match a {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_loopback())
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_loopback()),
    };
    if !unicast {
        return Some("not a unicast address of another host");
    }
    if matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80) {
        return Some(
            "link-local, and a BGP session has no interface to scope it to: give a global address",
        );
    }
    None
}

/// Why neighbour `n` is refused: its address or source is no session address
/// ([`bgp_address_problem`]), or the source is of the other family.
pub fn bgp_neighbor_problem(n: &BgpNeighbor) -> Option<String> {
    if let Some(why) = bgp_address_problem(n.addr) {
        return Some(format!("neighbor {}: {why}", n.addr));
    }
    let s = n.source?;
    if let Some(why) = bgp_address_problem(s) {
        return Some(format!("neighbor {}: source {s}: {why}", n.addr));
    }
    (s.is_ipv4() != n.addr.is_ipv4()).then(|| {
        format!(
            "neighbor {}: source {s} is not of the neighbour's family",
            n.addr
        )
    })
}

/// `community A:B`: a standard community (RFC 1997), each half 0 to 65535.
pub fn parse_community(s: &str) -> Result<(u16, u16), String> {
    let bad = || {
        format!(
            "community {s:?} is not a standard community: give ASN:VALUE, each 0 to 65535 (e.g. 65001:100)"
        )
    };
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    let half = |t: &str| {
        t.parse::<u16>()
            .ok()
            .filter(|_| t.bytes().all(|c| c.is_ascii_digit()))
    };
    match (half(a), half(b)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(bad()),
    }
}

/// `bird PATH`: an absolute path, or a bare name looked up on PATH (a relative path would
/// depend on the directory havip was started from).
pub fn bird_path_problem(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        Some("the path is empty")
    } else if p.contains('/') && !p.starts_with('/') {
        Some("a relative path: give an absolute path, or a bare name to look up on PATH")
    } else {
        None
    }
}

/// Why session `b` cannot join `existing` (the sessions read before it), as keepalived's
/// `bfd_instance` reading refuses it: its name is taken ("already configured"), or a session
/// to the same neighbour already exists from the same source address, or from any source when
/// either gives none ("duplicate neighbor address"). The message and a hint.
pub fn bfd_conflict<'a>(
    existing: impl IntoIterator<Item = &'a BfdSpec>,
    b: &BfdSpec,
) -> Option<(String, String)> {
    let mut same_session = None;
    for x in existing {
        if x.name == b.name {
            return Some((
                format!("bfd_instance {} is defined twice", b.name),
                "rename one (keepalived ignores the second: \"already configured\")".into(),
            ));
        }
        let same_source = match (x.source, b.source) {
            (Some(a), Some(c)) => a == c,
            _ => true,
        };
        if same_session.is_none() && x.neighbor == b.neighbor && same_source {
            same_session = Some(x.name.clone());
        }
    }
    let other = same_session?;
    let from = b.source.map_or(String::new(), |s| format!(" from {s}"));
    Some((
        format!(
            "bfd_instance {}: a session to {}{from} is already bfd_instance {other}",
            b.name, b.neighbor
        ),
        "one session per neighbour and source address: keepalived ignores the second (\"duplicate neighbor address\"); give each its own source_ip, or remove one".into(),
    ))
}

/// A session's source of the other family than its neighbour (keepalived: "are not of the
/// same family, disabling instance").
/// Also an IPv6 link-local neighbour or source: a session has no interface to scope it to
/// (keepalived's bfd_instance has no keyword for one), so the socket could not be bound.
pub fn bfd_family_problem(b: &BfdSpec) -> Option<String> {
    let link_local = |a: &std::net::IpAddr| matches!(a, std::net::IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    if let Some(a) = [Some(b.neighbor), b.source]
        .into_iter()
        .flatten()
        .find(link_local)
    {
        return Some(format!(
            "bfd_instance {}: {a} is link-local, and a BFD session has no interface to scope it \
             to: give global addresses",
            b.name
        ));
    }
    let s = b.source?;
    (s.is_ipv4() != b.neighbor.is_ipv4()).then(|| {
        format!(
            "bfd_instance {}: source {s} and neighbour {} are not of the same family",
            b.name, b.neighbor
        )
    })
}

/// Runs every check and returns the spec with the instances; `groups_at` is parallel to
/// `spec.sync_groups`; `written` names every instance in the file, valid or not; `no_instance` is where to report a file without any instance (`None`
/// when the file has instances, valid or not).
pub fn finish(
    drafts: Vec<Draft>,
    mut spec: DaemonSpec,
    groups_at: &[GroupAt],
    written: &[String],
    no_instance: Option<Location>,
    bgp_at: Option<&BgpAt>,
    diags: &mut Diags,
) -> DaemonSpec {
    if let Some(at) = no_instance {
        diags.push(
            Diagnostic::error(Some(at), "no VRRP instance: havip has nothing to run")
                .hint("havip replaces keepalived's VRRP half: add a vrrp_instance (or an [[instance]] in TOML)"),
        );
    }
    // Sets, not list scans: a file of thousands of scripts or instances reads in linear time.
    let script_names: HashSet<&str> = spec.scripts.iter().map(|s| s.name.as_str()).collect();
    let written_names: HashSet<&str> = written.iter().map(String::as_str).collect();
    let mut names: HashMap<&str, &Location> = HashMap::new();
    let mut vrids: HashMap<(&str, bool, u8), &Draft> = HashMap::new();
    let mut vips: HashMap<IpAddr, (&Draft, &Location)> = HashMap::new();
    for d in &drafts {
        if let Some(first) = names.insert(&d.spec.name, &d.at) {
            diags.push(
                Diagnostic::error(
                    Some(d.at.clone()),
                    format!("instance {} is defined twice", d.spec.name),
                )
                .found(d.spec.name.clone())
                .hint(format!(
                    "the first definition is at {first}; rename one (keepalived skips the second)"
                )),
            );
        }
        check_router(d, diags);
        check_fast_takeover(d, !spec.bfds.is_empty(), diags);
        if let Some(v) = &d.spec.vrrp {
            let v6 = d.spec.vips.first().is_some_and(|a| a.addr.is_ipv6());
            if let Some(other) = vrids.insert((&d.spec.iface, v6, v.vrid), d) {
                diags.push(
                    Diagnostic::error(
                        d.vrid_at.clone().or(Some(d.at.clone())),
                        format!(
                            "instances {} and {} both use virtual_router_id {} for {} on {}",
                            other.spec.name,
                            d.spec.name,
                            v.vrid,
                            if v6 { "IPv6" } else { "IPv4" },
                            d.spec.iface
                        ),
                    )
                    .expected("one virtual router per id, family and interface")
                    .hint("give one of them another virtual_router_id, on every node (keepalived refuses this too)"),
                );
            }
        }
        for (vip, at) in d.spec.vips.iter().zip(&d.vip_at) {
            if let Some((other, other_at)) = vips.get(&vip.addr) {
                if other.spec.name != d.spec.name {
                    diags.push(
                        Diagnostic::error(
                            Some(at.clone()),
                            format!(
                                "VIP {} is also a VIP of instance {} ({other_at})",
                                vip.addr, other.spec.name
                            ),
                        )
                        .found(vip.to_string())
                        .hint("an address can belong to one virtual router only: the data plane answers ARP for it on behalf of one owner"),
                    );
                }
            } else {
                vips.insert(vip.addr, (d, at));
            }
        }
        if let Some(v) = &d.spec.vrrp {
            for ((name, _), at) in v.track_scripts.iter().zip(&d.track_script_at) {
                if !script_names.contains(name.as_str()) {
                    diags.push(
                        Diagnostic::error(Some(at.clone()), format!("track_script {name}: no vrrp_script of that name"))
                            .found(name.clone())
                            .hint("define it with vrrp_script NAME { script ... }, or remove it (keepalived ignores it with a config error)"),
                    );
                }
            }
        }
    }
    let mut member_of: HashMap<&str, &str> = HashMap::new();
    for (g, at) in spec.sync_groups.iter().zip(groups_at) {
        for (member, mat) in g.instances.iter().zip(&at.members) {
            if let Some(other) = member_of.insert(member, &g.name) {
                diags.push(
                    Diagnostic::error(
                        Some(mat.clone()),
                        format!("instance {member} is in sync groups {other} and {}", g.name),
                    )
                    .hint(format!(
                        "an instance belongs to one sync group at most (group {} is at {})",
                        g.name, at.at
                    )),
                );
            }
        }
        for (member, mat) in g.instances.iter().zip(&at.members) {
            if !written_names.contains(member.as_str()) {
                diags.push(
                    Diagnostic::error(Some(mat.clone()), format!("sync group {}: no instance named {member}", g.name))
                        .found(member.clone())
                        .hint("name a vrrp_instance defined in this file (keepalived ignores it with a config error)"),
                );
            }
        }
    }
    check_bgp(&drafts, &spec, bgp_at, diags);
    diags.instance_at = drafts
        .iter()
        .map(|d| (d.spec.name.clone(), d.at.clone()))
        .collect();
    spec.instances = drafts.into_iter().map(|d| d.spec).collect();
    weightless_in_groups(&mut spec, diags);
    group_tracking_to_members(&mut spec, groups_at, diags);
    // keepalived: a script without a `user` of its own runs as `script_user`.
    for s in &mut spec.scripts {
        if s.user.is_none() {
            s.user.clone_from(&spec.script_user);
        }
    }
    spec
}

/// keepalived 2.2.7 (`vrrp_complete_instance()`): the tracking of a sync group member must not
/// move its priority, or the group's members could end up master on different nodes. A
/// tracked interface with a weight loses it (down is then FAULT, for the whole group); a
/// tracked script, process, file or BFD session with a weight is dropped. Each with
/// keepalived's warning (`keepalived -t` prints the same), since a check dropped this way does
/// nothing.
fn weightless_in_groups(spec: &mut DaemonSpec, diags: &mut Diags) {
    // `sync_group_tracking_weight`: that group's members keep their weights.
    let grouped: HashSet<&str> = spec
        .sync_groups
        .iter()
        .filter(|g| !g.tracking_weight)
        .flat_map(|g| g.instances.iter().map(String::as_str))
        .collect();
    let mut found = Vec::new();
    for inst in &mut spec.instances {
        if !grouped.contains(inst.name.as_str()) {
            continue;
        }
        let Some(v) = &mut inst.vrrp else { continue };
        let name = &inst.name;
        for (iface, w) in &mut v.track_interfaces {
            if *w != 0 {
                found.push((name.clone(), format!("ignoring {iface} tracked interface weight {w} due to SYNC group: it is tracked with weight 0 (down puts the group in FAULT)")));
                *w = 0;
            }
        }
        v.track_scripts.retain(|(s, w)| {
            let own = spec.scripts.iter().find(|x| &x.name == s).map_or(0, |x| x.weight);
            let w = w.unwrap_or(own);
            if w != 0 {
                found.push((name.clone(), format!("ignoring tracked script {s} with weight {w} due to SYNC group: it is not tracked at all")));
            }
            w == 0
        });
        v.track_files.retain(|(f, w)| {
            let own = spec.track_files.iter().find(|x| &x.name == f).map_or(0, |x| x.weight);
            let w = w.unwrap_or(own);
            if w != 0 {
                found.push((name.clone(), format!("ignoring tracked file {f} with weight {w} due to SYNC group: it is not tracked at all")));
            }
            w == 0
        });
        v.track_bfds.retain(|(b, w)| {
            let own = spec.bfds.iter().find(|x| &x.name == b).map_or(0, |x| x.weight);
            let w = w.unwrap_or(own);
            if w != 0 {
                found.push((name.clone(), format!("ignoring tracked bfd {b} with weight {w} due to SYNC group: it is not tracked at all")));
            }
            w == 0
        });
    }
    for (inst, msg) in found {
        let at = diags
            .instance_at
            .iter()
            .find(|(n, _)| *n == inst)
            .map(|(_, at)| at.clone());
        diags.push(
            Diagnostic::warning(at, format!("({inst}) {msg}"))
                .hint("keepalived 2.2.7 does the same; give it weight 0 so that its failure puts the sync group in FAULT"),
        );
    }
}

/// keepalived's tracking on a sync group (`vrrp_sync_group { track_script { ... } }`): every
/// member tracks those objects, with their weights, which move all members alike; where a
/// member is an address owner the weights are cleared, as keepalived does ("Cannot have
/// weighted track script ... with member having priority 255 - clearing weight").
fn group_tracking_to_members(spec: &mut DaemonSpec, groups_at: &[GroupAt], diags: &mut Diags) {
    for (gi, g) in spec.sync_groups.iter().enumerate() {
        let at = groups_at.get(gi).map(|a| a.at.clone());
        let mut track = g.track.clone();
        for (s, _) in &track.scripts {
            if !spec.scripts.iter().any(|x| &x.name == s) {
                diags.push(
                    Diagnostic::error(at.clone(), format!("sync group {}: track_script {s}: no vrrp_script or vrrp_track_process of that name", g.name))
                        .hint("define it above the group (keepalived ignores it with a config error)"),
                );
            }
        }
        for (f, _) in &track.files {
            if !spec.track_files.iter().any(|x| &x.name == f) {
                diags.push(
                    Diagnostic::error(
                        at.clone(),
                        format!(
                            "sync group {}: track_file {f}: no track_file of that name",
                            g.name
                        ),
                    )
                    .hint("define it above the group with track_file NAME { file /path }"),
                );
            }
        }
        for (b, _) in &track.bfds {
            if !spec.bfds.iter().any(|x| &x.name == b) {
                diags.push(
                    Diagnostic::error(
                        at.clone(),
                        format!(
                            "sync group {}: track_bfd {b}: no BFD session of that name",
                            g.name
                        ),
                    )
                    .hint("define it above the group (bfd_instance NAME { neighbor_ip ADDRESS }, or [[bfd]] in TOML)"),
                );
            }
        }
        let has_owner = g.instances.iter().any(|m| {
            spec.instances
                .iter()
                .find(|i| &i.name == m)
                .and_then(|i| i.vrrp.as_ref())
                .is_some_and(|v| v.priority == 255)
        });
        if has_owner {
            let mut cleared = Vec::new();
            for (n, w) in &mut track.interfaces {
                if *w != 0 {
                    cleared.push(format!("track_interface {n}"));
                    *w = 0;
                }
            }
            for (n, w) in &mut track.scripts {
                let own = spec
                    .scripts
                    .iter()
                    .find(|x| &x.name == n)
                    .map_or(0, |x| x.weight);
                if w.unwrap_or(own) != 0 {
                    cleared.push(format!("track_script {n}"));
                    *w = Some(0);
                }
            }
            for (n, w) in &mut track.files {
                let own = spec
                    .track_files
                    .iter()
                    .find(|x| &x.name == n)
                    .map_or(0, |x| x.weight);
                if w.unwrap_or(own) != 0 {
                    cleared.push(format!("track_file {n}"));
                    *w = Some(0);
                }
            }
            for (n, w) in &mut track.bfds {
                let own = spec
                    .bfds
                    .iter()
                    .find(|x| &x.name == n)
                    .map_or(0, |x| x.weight);
                if w.unwrap_or(own) != 0 {
                    cleared.push(format!("track_bfd {n}"));
                    *w = Some(0);
                }
            }
            if !cleared.is_empty() {
                diags.push(
                    Diagnostic::warning(at.clone(), format!("sync group {}: a member has priority 255, so the weights of {} are cleared: a failure puts the group in FAULT", g.name, cleared.join(", ")))
                        .hint("keepalived 2.2.7 does the same"),
                );
            }
        }
        for inst in &mut spec.instances {
            if !g.instances.contains(&inst.name) {
                continue;
            }
            let Some(v) = &mut inst.vrrp else { continue };
            v.track_interfaces.extend(track.interfaces.iter().cloned());
            v.track_scripts.extend(track.scripts.iter().cloned());
            v.track_files.extend(track.files.iter().cloned());
            v.track_bfds.extend(track.bfds.iter().cloned());
        }
    }
}

/// keepalived's checks of scripts and hooks against this host (`check_script_secure()`, see
/// [`crate::track::security`]): whom each runs as, whether that user exists, and, for one run
/// as root, whether a non-root user could change it (an error with `enable_script_security`,
/// which refuses it; a warning without, as keepalived's "SECURITY VIOLATION"). Files that
/// keepalived would disable (missing, not executable) are warnings: havip runs them and counts
/// each failure. Run by `havip check-config` and `havip run` (`config::load_checked`), not by
/// the golden tests, whose configs name scripts of other hosts.
pub fn host(spec: &DaemonSpec, diags: &mut Diags) {
    use crate::track::{command, security, Check};
    let default = || spec.script_user.clone().or_else(security::default_user);
    let at_of = |list: &[(String, Location)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, at)| at.clone())
    };
    let mut sites: Vec<(String, &str, Option<String>, Option<Location>)> = Vec::new();
    for s in &spec.scripts {
        if Check::from_command(&s.script).is_some() {
            continue; // a built-in probe: runs in havip, not as a process
        }
        let user = s.user.clone().or_else(security::default_user);
        sites.push((
            format!("vrrp_script {}", s.name),
            &s.script,
            user,
            at_of(&diags.script_at, &s.name),
        ));
    }
    for (kw, s) in [
        ("startup_script", &spec.startup_script),
        ("shutdown_script", &spec.shutdown_script),
    ] {
        if let Some(s) = s {
            sites.push((format!("global_defs {kw}"), &s.command, default(), None));
        }
    }
    for i in &spec.instances {
        let Some(v) = &i.vrrp else { continue };
        let n = &v.notify;
        for (kw, line) in [
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify", &n.any),
            ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
        ] {
            if let Some(line) = line {
                sites.push((
                    format!("instance {} {kw}", i.name),
                    line,
                    default(),
                    at_of(&diags.instance_at, &i.name),
                ));
            }
        }
    }
    let security = spec.script_security;
    for (what, line, user, at) in sites {
        let Some(argv0) = command::split_command(line)
            .ok()
            .and_then(|w| w.into_iter().next())
        else {
            continue; // reported by the reader
        };
        let shown = argv0.to_string_lossy().into_owned();
        let (uid, gid) = match &user {
            Some(u) => match command::RunAs::resolve(u) {
                Ok(r) => (r.uid, r.gid),
                Err(e) => {
                    diags.push(
                        Diagnostic::error(at, format!("{what}: runs as {u}: {e:#}"))
                            .hint("create the user, or name another with user / script_user (keepalived removes the script: \"Unable to set uid/gid for script\")"),
                    );
                    continue;
                }
            },
            None if security => {
                diags.push(
                    Diagnostic::error(at, format!("{what}: enable_script_security without script_user, and no user {}", security::DEFAULT_USER))
                        .hint(format!("add script_user NAME to global_defs (script_user root to run scripts as root knowingly), or create the user {} (keepalived removes every script: \"Unable to set default user {} for script\")", security::DEFAULT_USER, security::DEFAULT_USER)),
                );
                continue;
            }
            // havip as root; a daemon of another user is checked at run time.
            None => (0, 0),
        };
        match security::check_script(&argv0, uid, gid, security) {
            security::Verdict::Runs { insecure: None, .. } => {}
            security::Verdict::Runs { insecure: Some(why), path } => diags.push(
                Diagnostic::warning(at, format!("{what}: {} runs as root and {why}", path.display()))
                    .hint("keepalived: \"SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts.\" Make the file and every directory above it root's and writable by root only, or run it as another user (user / script_user); then set enable_script_security"),
            ),
            security::Verdict::Insecure(why) => diags.push(
                Diagnostic::error(at, format!("{what}: {shown} runs as uid {uid} and {why}: enable_script_security refuses it"))
                    .hint("keepalived disables it (\"Disabling track script ... due to insecure\"); chown root and chmod go-w the file and its directories, or run it as another user (user / script_user)"),
            ),
            security::Verdict::Unusable(why) => diags.push(
                Diagnostic::warning(at, format!("{what}: {why}"))
                    .hint("keepalived disables such a script and ignores it (\"Disabling track script ... since not found/accessible\"); havip runs it, and each run fails"),
            ),
        }
    }
}

/// The election's own rules, on the [`RouterConfig`] the daemon would build
/// ([`VrrpSpec::router_config`](crate::model::VrrpSpec::router_config)) with a stand-in primary
/// address of the VIPs' family (the real one is found at run time); and Accept_Mode.
fn check_router(d: &Draft, diags: &mut Diags) {
    let Some(v) = &d.spec.vrrp else {
        if d.spec.vips.is_empty() {
            diags.push(
                Diagnostic::error(
                    Some(d.at.clone()),
                    format!("instance {} has no VIP", d.spec.name),
                )
                .hint("give it at least one address to own"),
            );
        }
        return;
    };
    check_accept(d, v.priority, diags);
    check_vmac_v6(d, v.use_vmac, diags);
    let cfg = v.router_config(&d.spec.vips, stand_in_primary(&d.spec.vips));
    let Err(e) = cfg.validate() else {
        return;
    };
    let from_unicast_src = matches!(
        e,
        ConfigError::MixedFamilies { .. } | ConfigError::PrimaryIsVip { .. }
    ) && v.unicast_src.is_some();
    if from_unicast_src {
        diags.push(
            Diagnostic::error(
                d.unicast_src_at.clone().or_else(|| Some(d.at.clone())),
                format!("instance {}: {e}", d.spec.name),
            )
            .hint("the unicast source address stands for the primary address (the adverts' source and the tie-break): give an address of this host in the VIPs' family that is not a VIP"),
        );
        return;
    }
    let at = match &e {
        ConfigError::DuplicateVip(addr) => d
            .spec
            .vips
            .iter()
            .zip(&d.vip_at)
            .filter(|(v, _)| v.addr == *addr)
            .nth(1)
            .map(|(_, at)| at.clone()),
        ConfigError::MixedFamilies { vip, .. } => d
            .spec
            .vips
            .iter()
            .zip(&d.vip_at)
            .find(|(v, _)| v.addr == *vip)
            .map(|(_, at)| at.clone()),
        ConfigError::V2Interval(_) | ConfigError::V3Interval(_) => d.advert_at.clone(),
        ConfigError::VridZero => d.vrid_at.clone(),
        _ => None,
    }
    .unwrap_or_else(|| d.at.clone());
    diags.push(Diagnostic::error(
        Some(at),
        format!("instance {}: {e}", d.spec.name),
    ));
}

/// What `check-config` passes for the primary address, which only the running daemon knows: the
/// unspecified address of the VIPs' family.
fn stand_in_primary(vips: &[VipSpec]) -> IpAddr {
    match vips.first() {
        Some(vip) if vip.addr.is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

/// Accept_Mode off on the address owner changes nothing: keepalived installs no rule for it
/// (`vrrp_handle_accept_mode()` returns at priority 255), and RFC 9568 has the owner accept.
/// Below 255 it is enforced (net::firewall), and says so.
fn check_accept(d: &Draft, priority: u8, diags: &mut Diags) {
    let Some((at, spelled)) = &d.no_accept_at else {
        return;
    };
    let name = &d.spec.name;
    if priority == PRIORITY_OWNER {
        diags.push(
            Diagnostic::warning(
                Some(at.clone()),
                format!("instance {name}: {spelled} has no effect on the address owner (priority 255), as in keepalived"),
            )
            .hint(format!("remove {spelled}")),
        );
    }
}

/// havip's fast takeover (outside RFC 9568) acts on a BFD session to the master's address: it
/// needs one, and means nothing to the address owner, which never waits for
/// Master_Down_Interval.
fn check_fast_takeover(d: &Draft, any_bfd: bool, diags: &mut Diags) {
    let (Some((at, spelled)), Some(v)) = (&d.fast_takeover_at, &d.spec.vrrp) else {
        return;
    };
    let name = &d.spec.name;
    if !any_bfd {
        diags.push(
            Diagnostic::error(
                Some(at.clone()),
                format!("instance {name}: {spelled} needs a BFD session, and none is defined"),
            )
            .hint("a backup takes over at once when its BFD session to the master's address goes down: define one to each peer (bfd_instance NAME { neighbor_ip PEER } in keepalived.conf, [[bfd]] in TOML, --bfd on the command line), or remove it"),
        );
    } else if v.priority == PRIORITY_OWNER {
        diags.push(
            Diagnostic::warning(
                Some(at.clone()),
                format!(
                    "instance {name}: {spelled} has no effect on the address owner (priority 255)"
                ),
            )
            .hint("the owner takes over at once anyway; fast takeover is for backups"),
        );
    }
}

/// havip's BGP block against the instances: an instance that announces needs a block and an
/// election; a block needs a neighbour, and an instance to announce (a warning). In anycast
/// mode an announcing instance holds no election: what only an election uses (sync groups,
/// unicast peers, fast takeover, `backup`) is warned of as ignored. Timers for the speaker's
/// BFD with no neighbour asking for BFD are too.
fn check_bgp(drafts: &[Draft], spec: &DaemonSpec, at: Option<&BgpAt>, diags: &mut Diags) {
    let announcing: Vec<(&Draft, Location, &'static str)> = drafts
        .iter()
        .filter(|d| d.spec.bgp_announce)
        .map(|d| {
            let (aat, spelled) = d
                .bgp_announce_at
                .clone()
                .unwrap_or((d.at.clone(), "bgp_announce"));
            (d, aat, spelled)
        })
        .collect();
    for (d, aat, spelled) in &announcing {
        let name = &d.spec.name;
        if d.spec.vrrp.is_none() {
            diags.push(
                Diagnostic::error(
                    Some(aat.clone()),
                    format!("instance {name}: {spelled}, but the instance is static: it holds no election, so it has no state to announce from"),
                )
                .hint("give the instance a VRRP election (a vrid); in anycast mode it sends no adverts, but its tracking decides whether the node announces"),
            );
        }
        if at.is_none() {
            diags.push(
                Diagnostic::error(
                    Some(aat.clone()),
                    format!("instance {name}: {spelled}, but no BGP block is defined"),
                )
                .hint("define the speaker and its neighbours (havip_bgp { local_as AS  neighbor ADDRESS { remote_as AS } } in keepalived.conf, [bgp] in TOML, --bgp-as and --bgp-neighbor on the command line), or remove it"),
            );
        }
    }
    let (Some(at), Some(bgp)) = (at, &spec.bgp) else {
        return;
    };
    let block = at.spelled;
    if bgp.neighbors.is_empty() {
        diags.push(
            Diagnostic::error(
                Some(at.at.clone()),
                format!("{block} has no neighbor: no router would hear the routes"),
            )
            .hint("add the router(s) to announce to: neighbor ADDRESS { remote_as AS } in havip_bgp, [[bgp.neighbor]] in TOML"),
        );
    }
    if announcing.is_empty() {
        diags.push(
            Diagnostic::warning(
                Some(at.at.clone()),
                format!("{block}: no instance announces its VIPs, so the BGP sessions carry no route"),
            )
            .hint("add havip_bgp_announce to the vrrp_instance(s) whose VIPs the routers should learn (TOML: bgp_announce = true), or remove the block"),
        );
    }
    if let Some((bat, spelled)) = &at.bfd_at {
        if !bgp.neighbors.iter().any(|n| n.bfd) {
            diags.push(
                Diagnostic::warning(
                    Some(bat.clone()),
                    format!("{block}: {spelled} is set, but no neighbor has bfd: the timers apply to no session"),
                )
                .hint("add bfd to the neighbors whose sessions BFD should watch (TOML: bfd = true), or remove the timers"),
            );
        }
    }
    // BIRD's BFD and havip's bfd_instance sessions both bind UDP port 3784 in the namespace.
    if bgp.neighbors.iter().any(|n| n.bfd) && !spec.bfds.is_empty() {
        diags.push(
            Diagnostic::error(
                Some(at.at.clone()),
                format!("{block}: bfd on a BGP neighbor and bfd_instance sessions cannot run together: BIRD's BFD and havip's both need UDP port 3784 in this network namespace"),
            )
            .hint("keep one: BFD on the BGP sessions (the routers withdraw a dead node fast) or bfd_instance (track_bfd, fast takeover between havip nodes)"),
        );
    }
    // A route goes only to neighbours of its family (BIRD's channel is the session's).
    for (d, aat, _) in &announcing {
        for v6 in [false, true] {
            let has_vip = d.spec.vips.iter().any(|v| v.addr.is_ipv6() == v6);
            let has_neighbor = bgp.neighbors.iter().any(|n| n.addr.is_ipv6() == v6);
            if has_vip && !has_neighbor && !bgp.neighbors.is_empty() {
                let fam = if v6 { "IPv6" } else { "IPv4" };
                diags.push(
                    Diagnostic::warning(
                        Some(aat.clone()),
                        format!("instance {}: its {fam} VIPs are announced to no one: no neighbor is {fam}", d.spec.name),
                    )
                    .hint("each session carries routes of its own family: add a neighbor of that family"),
                );
            }
        }
    }
    if bgp.mode != BgpMode::Anycast {
        return;
    }
    if let Some(bat) = &at.backup_at {
        diags.push(
            Diagnostic::warning(
                Some(bat.clone()),
                format!("{block}: backup is ignored in anycast mode: every healthy node announces the same route, and there is no backup"),
            )
            .hint("remove backup, or use mode active_standby (TOML: mode = \"active-standby\")"),
        );
    }
    let hint = "in anycast mode every healthy node announces: no adverts are sent or heeded; remove it, or use mode active_standby (TOML: mode = \"active-standby\")";
    for (d, aat, _) in &announcing {
        let name = &d.spec.name;
        let Some(v) = &d.spec.vrrp else { continue };
        let mut ignored = Vec::new();
        if let Some(g) = spec.sync_groups.iter().find(|g| g.instances.contains(name)) {
            ignored.push(format!("its sync group {} is", g.name));
        }
        if !v.unicast_peers.is_empty() {
            ignored.push("its unicast peers are".to_string());
        }
        if v.fast_takeover {
            ignored.push("fast takeover is".to_string());
        }
        for what in ignored {
            diags.push(
                Diagnostic::warning(
                    Some(aat.clone()),
                    format!("instance {name}: {what} ignored in anycast mode: an announcing instance holds no election"),
                )
                .hint(hint),
            );
        }
    }
}

/// `use_vmac` on IPv6 works for XDP's own answers, but the master's kernel still solicits the
/// clients it must reach from the VIP with the interface's MAC (docs/config.md, "Virtual
/// MAC"): said, whichever format the instance was written in.
fn check_vmac_v6(d: &Draft, use_vmac: bool, diags: &mut Diags) {
    if use_vmac && d.spec.vips.iter().any(|v| v.addr.is_ipv6()) {
        diags.push(
            Diagnostic::warning(
                Some(d.at.clone()),
                format!("instance {}: use_vmac on IPv6: XDP answers neighbour solicitations for the VIPs with 00:00:5e:00:02:VRID, but the master's kernel, to reach a client it has not resolved, solicits it from the VIP with the interface's MAC, and that client then holds the interface's MAC for the VIP until the next advertisement", d.spec.name),
            )
            .hint("clients with a static neighbour entry for the VIP, and clients that take the unsolicited advertisements, are served; with IPv4 there is no such gap (havip sets arp_announce 2 on the interface)"),
        );
    }
}

#[cfg(test)]
mod host_tests {
    use std::os::unix::fs::PermissionsExt as _;

    use crate::config::{load_checked, Format, ReadOptions};
    use crate::testutil::TempDir;

    fn chmod(p: &std::path::Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The audit's case: a 0777 script in a 0777 directory, run as root. With
    /// `enable_script_security` the config is refused, naming the script's file:line, for the
    /// check and for the hook; without it, a warning each (before: "valid, 0 warnings").
    #[test]
    fn insecure_scripts_are_reported_with_file_and_line() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root-owned paths");
            return;
        }
        let dir = TempDir::new("host-check");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        chmod(&open, 0o777);
        let script = open.join("chk.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        chmod(&script, 0o777);
        let conf = |globals: &str| {
            format!(
                "global_defs {{\n{globals}}}\nvrrp_script chk {{\n  script {s}\n}}\n\
                 vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 1\n  \
                 priority 100\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  \
                 track_script {{\n    chk\n  }}\n  notify_master {s}\n}}\n",
                s = script.display()
            )
        };
        let path = dir.path().join("k.conf");
        std::fs::write(
            &path,
            conf("  enable_script_security\n  script_user root\n"),
        )
        .unwrap();
        let err = load_checked(&path, Format::Keepalived, &ReadOptions::default()).unwrap_err();
        let text = err.to_string();
        let file = path.display().to_string();
        assert!(
            text.contains(&format!("{file}:5:13: error: vrrp_script chk: ")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "{file}:8:15: error: instance VI_1 notify_master: "
            )),
            "{text}"
        );
        assert!(text.contains("enable_script_security refuses it"), "{text}");
        std::fs::write(&path, conf("")).unwrap();
        let loaded = load_checked(&path, Format::Keepalived, &ReadOptions::default()).unwrap();
        let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("SECURITY VIOLATION"), "{warnings:?}");
        // Made safe, nothing is said.
        chmod(&open, 0o755);
        chmod(&script, 0o755);
        std::fs::write(
            &path,
            conf("  enable_script_security\n  script_user root\n"),
        )
        .unwrap();
        let loaded = load_checked(&path, Format::Keepalived, &ReadOptions::default()).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    /// keepalived refuses every script under `enable_script_security` without `script_user`
    /// when no user `keepalived_script` exists, and a script of a user that does not exist.
    #[test]
    fn script_users_must_exist() {
        if crate::track::security::default_user().is_some() {
            eprintln!("skipped: this host has a keepalived_script user");
            return;
        }
        let dir = TempDir::new("host-users");
        let path = dir.path().join("k.conf");
        let conf = |globals: &str, user: &str| {
            format!(
                "global_defs {{\n{globals}}}\nvrrp_script chk {{\n  script /bin/true\n{user}}}\n\
                 vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 1\n  \
                 priority 100\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  \
                 track_script {{\n    chk\n  }}\n}}\n"
            )
        };
        std::fs::write(&path, conf("  enable_script_security\n", "")).unwrap();
        let err = load_checked(&path, Format::Keepalived, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("without script_user, and no user keepalived_script"),
            "{err}"
        );
        std::fs::write(&path, conf("", "  user no-such-user-havip\n")).unwrap();
        let err = load_checked(&path, Format::Keepalived, &ReadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no user named no-such-user-havip"), "{err}");
        std::fs::write(&path, conf("", "")).unwrap();
        assert!(load_checked(&path, Format::Keepalived, &ReadOptions::default()).is_ok());
    }

    /// The audit's finding: `script_user` reached the notify hooks only, and a `vrrp_script`
    /// without a `user` of its own ran as root. From the config file to the process, it now runs
    /// as `script_user` (before: `id -u` wrote 0).
    #[tokio::test]
    async fn script_user_runs_checks_from_the_config_file() {
        if !crate::track::command::can_switch_user() {
            eprintln!("skipped: switching users needs root");
            return;
        }
        let Ok(nobody) = crate::track::command::RunAs::resolve("nobody") else {
            eprintln!("skipped: no user nobody");
            return;
        };
        let dir = TempDir::new("script-user");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = dir.path().join("uid");
        let s = dir.script("whoami", &format!("id -u > {}", out.display()));
        let conf = format!(
            "global_defs {{\n  script_user nobody\n}}\nvrrp_script chk {{\n  script \"{}\"\n}}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 1\n  priority 100\n  \
             virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  track_script {{\n    chk\n  }}\n}}\n",
            s.display()
        );
        let loaded = crate::config::load_str(
            "k.conf",
            &conf,
            crate::config::Format::Keepalived,
            &crate::config::ReadOptions::default(),
        )
        .unwrap();
        assert_eq!(loaded.spec.scripts[0].user.as_deref(), Some("nobody"));
        let check = crate::track::CheckSpec::from_script(&loaded.spec.scripts[0]).unwrap();
        let o = crate::track::probe(&check.check, std::time::Duration::from_secs(5)).await;
        assert!(o.ok, "{}", o.detail);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{}\n", nobody.uid)
        );
    }
}

#[cfg(test)]
mod bfd_address_tests {
    use super::*;

    /// A link-local neighbour or source has no interface to scope it: refused by all readers.
    #[test]
    fn link_local_bfd_addresses_are_refused() {
        let b = BfdSpec::new("x", "fe80::1".parse().unwrap());
        assert!(bfd_family_problem(&b).unwrap().contains("link-local"));
        let mut b = BfdSpec::new("x", "2001:db8::1".parse().unwrap());
        assert_eq!(bfd_family_problem(&b), None);
        b.source = Some("fe80::2".parse().unwrap());
        assert!(bfd_family_problem(&b)
            .unwrap()
            .contains("fe80::2 is link-local"));
        b.source = Some("192.0.2.1".parse().unwrap());
        assert!(bfd_family_problem(&b).unwrap().contains("same family"));
    }
}
