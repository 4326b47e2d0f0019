//! keepalived.conf → [`DaemonSpec`], with keepalived 2.2.7's meaning, defaults and corrections.
//!
//! The rule for a keyword havip does not act on (the full list is in docs/config.md, and the
//! tables below are that list):
//! - **ignored with a warning** when leaving it out does not change what the virtual router
//!   does on the wire or to the addresses (e-mail alerts, SNMP, process tuning, LVS blocks);
//! - **an error** when it would (a virtual MAC, routes, other multicast groups, firewall rules).
//!
//! For values, keepalived's behaviour splits in two, and so does havip's:
//! - a value keepalived *rejects* (it logs a config error and carries on with a default:
//!   `virtual_router_id 0`, `advert_int abc`, `state MASTR`) is an error here;
//! - a valid value keepalived *corrects* (rounds a VRRPv2 `advert_int 1.5` to 2 s, clears
//!   `nopreempt` with `state MASTER`, drops authentication with VRRPv3, takes only the first
//!   address of a one-line `virtual_ipaddress { a b }`) is corrected the same way here, with a
//!   warning that says so: both daemons must run the same virtual router from the same file,
//!   since a cluster may mix them during a migration.
//!
//! # One-line blocks
//! keepalived cuts lines at braces and takes the first word of each piece as its keyword (see
//! `syntax.rs`), so `authentication { auth_type PASS  auth_pass 1111 }` yields one line
//! `auth_type PASS auth_pass 1111`: `auth_pass` is an extra word of `auth_type`, never set.
//! keepalived 2.2.7 then logs "Authentication specified but no password given. Ignoring" and
//! sends adverts without authentication. havip does exactly that (a node running havip and one
//! running keepalived from the same file must agree, or each drops the other's adverts), and
//! warns, saying how to write the block so that the password applies. The same cut makes
//! `virtual_ipaddress { 10.0.0.1/24 10.0.0.2/24 }` one VIP (the second address is an unknown
//! option of the first), `unicast_peer { a b }` one peer and `track_interface { eth1 eth2 }` one
//! interface; each gets a warning. `group { VI_1 VI_2 }` in a sync group reads every word, so it
//! works on one line.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::check::{self, Draft, GroupAt};
use super::diag::{Diagnostic, Diags, Location};
use super::syntax::{self, ReadOptions, Stmt, Word};
use crate::{
    model::{DaemonSpec, InstanceSpec, NotifySpec, ScriptSpec, SyncGroupSpec, VipSpec, VrrpSpec},
    vrrp::{Centis, GarpConfig, StartState, Version},
};

/// Why havip does not act on a keyword, and whether that makes the file invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unsupported {
    /// Warned about and ignored: no effect on the virtual router.
    Ignored(&'static str),
    /// An error: ignoring it would change behaviour.
    Refused(&'static str),
}

use Unsupported::{Ignored, Refused};

/// Top-level keywords havip does not act on.
pub const TOP_UNSUPPORTED: &[(&str, Unsupported)] = &[
    ("virtual_server", Ignored("LVS (IPVS) load balancing is keepalived's other half; havip is VRRP only")),
    ("virtual_server_group", Ignored("LVS (IPVS) load balancing is keepalived's other half; havip is VRRP only")),
    ("SSL", Ignored("used by LVS health checks only")),
    ("bfd_instance", Ignored("BFD is not implemented; only track_bfd would use it")),
    ("linkbeat_interfaces", Ignored("havip follows link state through netlink")),
    ("garp_group", Ignored("per-interface GARP intervals are not implemented; the instance's schedule applies")),
    ("vrrp_track_file", Ignored("only track_file uses it, which havip refuses")),
    ("track_file", Ignored("only track_file in an instance uses it, which havip refuses")),
    ("track_process", Ignored("keepalived's name for vrrp_track_process is vrrp_track_process")),
    ("use_pid_dir", Ignored("havip has no pid files")),
    ("instance", Ignored("havip has no pid files to name")),
    ("static_ipaddress", Refused("keepalived adds these addresses at start-up; havip does not")),
    ("static_routes", Refused("keepalived adds these routes at start-up; havip does not")),
    ("static_rules", Refused("keepalived adds these rules at start-up; havip does not")),
    ("net_namespace", Refused("keepalived would run in that network namespace; run havip inside it instead (ip netns exec NAME havip run ...)")),
    ("net_namespace_ipvs", Ignored("LVS only")),
    ("namespace_with_ipsets", Ignored("havip installs no ipsets")),
];

/// `global_defs` keywords havip does not act on (besides the prefixes in [`GLOBAL_IGNORED_PREFIXES`]).
pub const GLOBAL_UNSUPPORTED: &[(&str, Unsupported)] = &[
    ("notification_email", Ignored("e-mail alerts are not implemented")),
    ("notification_email_from", Ignored("e-mail alerts are not implemented")),
    ("no_email_faults", Ignored("e-mail alerts are not implemented")),
    ("enable_traps", Ignored("SNMP is not implemented")),
    ("snmp_socket", Ignored("SNMP is not implemented")),
    ("enable_dbus", Ignored("D-Bus is not implemented")),
    ("dbus_service_name", Ignored("D-Bus is not implemented")),
    ("vrrp_priority", Ignored("process tuning: set the nice value with the service manager")),
    ("vrrp_rlimit_rttime", Ignored("process tuning")),
    ("vrrp_cpu_affinity", Ignored("process tuning: set CPU affinity with the service manager")),
    ("vrrp_process_name", Ignored("havip's process is called havip")),
    ("process_name", Ignored("havip's process is called havip")),
    ("process_names", Ignored("havip's process is called havip")),
    ("vrrp_rx_bufs_policy", Ignored("socket buffer tuning")),
    ("vrrp_rx_bufs_multiplier", Ignored("socket buffer tuning")),
    ("max_auto_priority", Ignored("process tuning")),
    ("min_auto_priority_delay", Ignored("process tuning")),
    ("vrrp_iptables", Ignored("havip installs no firewall rules (they only serve no_accept and vrrp_strict, which havip refuses)")),
    ("vrrp_ipsets", Ignored("havip installs no firewall rules")),
    ("vrrp_check_unicast_src", Ignored("unicast sources are not filtered yet")),
    ("vrrp_skip_check_adv_addr", Ignored("havip checks advert address lists its own way (see the vrrp module docs)")),
    ("vrrp_garp_lower_prio_delay", Ignored("a master re-announces on a lower-priority advert with its own GARP schedule")),
    ("vrrp_garp_lower_prio_repeat", Ignored("a master re-announces on a lower-priority advert with its own GARP schedule")),
    ("vrrp_gna_interval", Ignored("IPv6 neighbour advertisements use vrrp_garp_interval's spacing")),
    ("vrrp_garp_extra_if", Ignored("GARPs are sent on the instance's interface only")),
    ("vrrp_higher_prio_send_advert", Ignored("havip always sends one advert before yielding to a higher priority")),
    ("vrrp_notify_priority_changes", Ignored("priority changes are not notified")),
    ("dynamic_interfaces", Ignored("interfaces must exist when havip starts")),
    ("default_interface", Ignored("every vrrp_instance must name its interface")),
    ("disable_local_igmp", Ignored("havip sends no IGMP of its own")),
    ("log_unknown_vrids", Ignored("unknown VRIDs are counted in the XDP counters instead (havip stats)")),
    ("fifo_write_vrrp_states_on_reload", Ignored("notify FIFOs are refused")),
    ("rs_init_notifies", Ignored("LVS only")),
    ("no_checker_emails", Ignored("LVS only")),
    ("config_save_dir", Ignored("havip does not save configurations")),
    ("data_use_instance", Ignored("havip has no data files")),
    ("tmp_config_directory", Ignored("havip does not copy configurations")),
    ("umask", Ignored("havip creates no files besides its control socket")),
    ("random_seed", Ignored("no $_RANDOM substitution")),
    ("reload_check_config", Ignored("reload is handled by the daemon")),
    ("reload_file", Ignored("reload is handled by the daemon")),
    ("reload_repeat", Ignored("reload is handled by the daemon")),
    ("reload_time_file", Ignored("reload is handled by the daemon")),
    ("include_check", Ignored("includes are always read as plain includes")),
    ("vmac_prefix", Ignored("use_vmac is refused")),
    ("vmac_addr_prefix", Ignored("use_vmac is refused")),
    ("linkbeat_use_polling", Ignored("havip follows link state through netlink")),
    ("startup_script_timeout", Ignored("startup_script is refused")),
    ("shutdown_script_timeout", Ignored("shutdown_script is refused")),
    ("vrrp_strict", Refused("strict mode installs firewall rules that drop traffic to the VIPs and forbids authentication and unicast; havip does none of this")),
    ("vrrp_notify_fifo", Refused("notify FIFOs are not implemented: whatever reads it would never hear of a transition")),
    ("vrrp_notify_fifo_script", Refused("notify FIFOs are not implemented")),
    ("notify_fifo", Refused("notify FIFOs are not implemented: whatever reads it would never hear of a transition")),
    ("notify_fifo_script", Refused("notify FIFOs are not implemented")),
    ("startup_script", Refused("keepalived runs it at start-up; havip does not")),
    ("shutdown_script", Refused("keepalived runs it at shut-down; havip does not")),
];

/// `global_defs` keyword families that only concern keepalived's other parts or its plumbing.
pub const GLOBAL_IGNORED_PREFIXES: &[(&str, &str)] = &[
    ("smtp_", "e-mail alerts are not implemented"),
    (
        "checker_",
        "LVS health checkers are keepalived's other half",
    ),
    ("lvs_", "LVS (IPVS) is keepalived's other half"),
    ("bfd_", "BFD is not implemented"),
    ("enable_snmp", "SNMP is not implemented"),
    ("nftables", "havip installs no firewall rules"),
    ("vrrp_netlink_", "netlink buffer tuning"),
    ("process_monitor_", "netlink buffer tuning"),
];

/// `vrrp_instance` keywords havip does not act on.
pub const INSTANCE_UNSUPPORTED: &[(&str, Unsupported)] = &[
    ("smtp_alert", Ignored("e-mail alerts are not implemented")),
    ("debug", Ignored("keepalived does not implement it either")),
    ("promote_secondaries", Ignored("havip does not change interface sysctls")),
    ("skip_check_adv_addr", Ignored("havip checks advert address lists its own way (see the vrrp module docs)")),
    ("garp_lower_prio_delay", Ignored("a master re-announces on a lower-priority advert with its own GARP schedule")),
    ("garp_lower_prio_repeat", Ignored("a master re-announces on a lower-priority advert with its own GARP schedule")),
    ("garp_extra_if", Ignored("GARPs are sent on the instance's interface only")),
    ("garp_extra_if_vmac", Ignored("use_vmac is refused")),
    ("higher_prio_send_advert", Ignored("havip always sends one advert before yielding to a higher priority")),
    ("unicast_ttl", Ignored("adverts are always sent with TTL 255")),
    ("check_unicast_src", Ignored("unicast sources are not filtered yet")),
    ("track_src_ip", Ignored("the source address is not tracked")),
    ("unicast_fault_no_peer", Ignored("an instance with unicast keywords but no peer is refused anyway")),
    ("notify_priority_changes", Ignored("priority changes are not notified")),
    ("notify_deleted", Ignored("havip sends no notification for removed instances")),
    ("kernel_rx_buf_size", Ignored("socket buffer tuning")),
    ("linkbeat_use_polling", Ignored("havip follows link state through netlink")),
    ("old_unicast_checksum", Ignored("checksums follow RFC 9568")),
    ("use_vmac", Refused("the virtual MAC (00:00:5e:00:01:VRID) is not implemented in the data plane yet: the VIPs would answer with the interface's MAC")),
    ("use_vmac_addr", Refused("the virtual MAC is not implemented yet")),
    ("vmac_xmit_base", Refused("the virtual MAC is not implemented yet")),
    ("use_ipvlan", Refused("ipvlan interfaces are not implemented")),
    ("vrf", Refused("VRFs are not implemented")),
    ("dont_track_primary", Refused("havip always goes to FAULT when the instance's interface goes down")),
    ("track_file", Refused("tracked files are not implemented: the priority would not move")),
    ("track_bfd", Refused("BFD is not implemented: the priority would not move")),
    ("virtual_ipaddress_excluded", Refused("excluded addresses are not added by havip")),
    ("virtual_routes", Refused("havip does not add or remove routes")),
    ("virtual_rules", Refused("havip does not add or remove routing rules")),
    ("notify_master_rx_lower_pri", Refused("this notify hook is not implemented")),
];

/// `vrrp_script` keywords havip does not act on.
pub const SCRIPT_UNSUPPORTED: &[(&str, Unsupported)] = &[(
    "init_fail",
    Ignored("scripts start in the state their first run gives"),
)];

/// `vrrp_sync_group` keywords havip does not act on.
pub const SYNC_GROUP_UNSUPPORTED: &[(&str, Unsupported)] = &[
    ("smtp_alert", Ignored("e-mail alerts are not implemented")),
    (
        "notify_priority_changes",
        Ignored("priority changes are not notified"),
    ),
    (
        "global_tracking",
        Refused("group-wide tracking weights are not implemented"),
    ),
    (
        "sync_group_tracking_weight",
        Refused("group-wide tracking weights are not implemented"),
    ),
    (
        "track_interface",
        Refused("tracking on a sync group is not implemented: track in each instance"),
    ),
    (
        "track_script",
        Refused("tracking on a sync group is not implemented: track in each instance"),
    ),
    ("track_file", Refused("tracked files are not implemented")),
    (
        "track_process",
        Refused("tracked processes are not implemented"),
    ),
    ("track_bfd", Refused("BFD is not implemented")),
];

/// Keywords havip acts on, per block (for one-line block detection and the docs test).
pub const TOP_HANDLED: &[&str] = &[
    "global_defs",
    "vrrp_instance",
    "vrrp_script",
    "vrrp_track_process",
    "vrrp_sync_group",
    "include",
];
pub const GLOBAL_HANDLED: &[&str] = &[
    "router_id",
    "vrrp_version",
    "vrrp_garp_master_delay",
    "vrrp_garp_master_repeat",
    "vrrp_garp_master_refresh",
    "vrrp_garp_master_refresh_repeat",
    "vrrp_garp_interval",
    "vrrp_min_garp",
    "enable_script_security",
    "script_user",
    "vrrp_rt_priority",
    "vrrp_no_swap",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_down_timer_adverts",
    "vrrp_lower_prio_no_advert",
    "vrrp_startup_delay",
];
pub const INSTANCE_HANDLED: &[&str] = &[
    "state",
    "interface",
    "virtual_router_id",
    "priority",
    "advert_int",
    "authentication",
    "virtual_ipaddress",
    "nopreempt",
    "preempt",
    "preempt_delay",
    "version",
    "garp_master_delay",
    "garp_master_repeat",
    "garp_master_refresh",
    "garp_master_refresh_repeat",
    "unicast_src_ip",
    "mcast_src_ip",
    "unicast_peer",
    "track_interface",
    "track_script",
    "track_process",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "accept",
    "no_accept",
    "native_ipv6",
    "strict_mode",
    "mcast_dst_ip",
    "down_timer_adverts",
    "lower_prio_no_advert",
];
pub const AUTH_HANDLED: &[&str] = &["auth_type", "auth_pass"];
pub const SCRIPT_HANDLED: &[&str] = &[
    "script", "interval", "timeout", "weight", "rise", "fall", "user",
];
pub const SYNC_GROUP_HANDLED: &[&str] = &[
    "group",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
];

/// Reads the keepalived config at `path`; `Err` when the file itself cannot be read.
pub fn load_file(
    path: &Path,
    opts: &ReadOptions,
    diags: &mut Diags,
) -> Result<DaemonSpec, std::io::Error> {
    let stmts = syntax::parse_file(path, opts, diags)?;
    Ok(interpret(&stmts, &path.display().to_string(), diags))
}

/// Reads a keepalived config from text; includes are relative to the current directory.
pub fn load_str(name: &str, text: &str, opts: &ReadOptions, diags: &mut Diags) -> DaemonSpec {
    let stmts = syntax::parse_str(name, text, Path::new(""), opts, diags);
    interpret(&stmts, name, diags)
}

/// The statements of a whole file → the spec; every problem goes to `diags`.
fn interpret(stmts: &[Stmt], file: &str, diags: &mut Diags) -> DaemonSpec {
    let mut cx = Cx {
        diags,
        globals: Globals::default(),
        scripts_so_far: Vec::new(),
        early_tracks: Vec::new(),
    };
    let mut raws = Vec::new();
    let mut scripts = Vec::new();
    let mut groups = Vec::new();
    // global_defs applies wherever it is, as in keepalived (instances are completed last).
    for s in stmts {
        if s.keyword().text == "global_defs" {
            if let Some(body) = cx.block(s) {
                cx.extra(s, 0, TOP_HANDLED);
                cx.global_defs(body);
            }
        }
    }
    for s in stmts {
        let kw = s.keyword().text.as_str();
        match kw {
            "global_defs" => {}
            "vrrp_instance" => {
                if let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) {
                    raws.push(cx.instance(name, body));
                }
            }
            "vrrp_script" | "vrrp_track_process" => {
                if let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) {
                    let check = if kw == "vrrp_script" {
                        cx.script(name, body)
                    } else {
                        cx.track_process(name, body)
                    };
                    if let Some(sc) = check {
                        // Scripts and tracked processes are checks of one name space.
                        if scripts
                            .iter()
                            .any(|(o, _): &(ScriptSpec, Location)| o.name == sc.0.name)
                        {
                            cx.err(
                                Diagnostic::error(
                                    Some(sc.1.clone()),
                                    format!("check {} is defined twice ({kw})", sc.0.name),
                                )
                                .hint("rename one: vrrp_script and vrrp_track_process names share one name space in havip (keepalived skips a second vrrp_script)"),
                            );
                        } else {
                            cx.scripts_so_far.push(sc.0.name.clone());
                            scripts.push(sc);
                        }
                    }
                }
            }
            "vrrp_sync_group" => {
                if let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) {
                    groups.push(cx.sync_group(name, body));
                }
            }
            _ => cx.unsupported(s, TOP_UNSUPPORTED, &[], "at the top level"),
        }
    }
    let any_instance =
        !raws.is_empty() || stmts.iter().any(|s| s.keyword().text == "vrrp_instance");
    let written: Vec<String> = raws.iter().map(|r| r.name.text.clone()).collect();
    for (name, at) in std::mem::take(&mut cx.early_tracks) {
        if let Some((_, def)) = scripts.iter().find(|(s, _)| s.name == name) {
            cx.err(
                Diagnostic::error(Some(at), format!("track_script {name}: vrrp_script {name} is defined below, at {def}"))
                    .found(name.clone())
                    .hint(format!(
                        "keepalived 2.2.7 looks the script up when it reads track_script and ignores it (\"track script {name} not found, ignoring...\"); move vrrp_script {name} above the instance"
                    )),
            );
        }
    }
    let drafts: Vec<Draft> = raws.into_iter().filter_map(|r| cx.complete(r)).collect();
    let g = &cx.globals;
    let mut spec = DaemonSpec::new(Vec::new());
    spec.router_id = g.router_id.clone();
    spec.script_security = g.script_security;
    spec.script_user = g.script_user.clone();
    spec.rt_priority = g.rt_priority;
    spec.mlock = g.no_swap;
    spec.scripts = scripts.into_iter().map(|s| s.0).collect();
    let (sync_groups, groups_at): (Vec<SyncGroupSpec>, Vec<GroupAt>) = groups.into_iter().unzip();
    spec.sync_groups = sync_groups;
    let whole_file = Location {
        file: file.to_string(),
        line: 1,
        col: 1,
    };
    check::finish(
        drafts,
        spec,
        &groups_at,
        &written,
        (!any_instance).then_some(whole_file),
        cx.diags,
    )
}

/// Defaults from `global_defs`.
#[derive(Default)]
struct Globals {
    router_id: Option<String>,
    version: Option<Version>,
    garp_delay: Option<Duration>,
    garp_repeat: Option<u32>,
    garp_refresh: Option<Option<Duration>>,
    garp_refresh_repeat: Option<u32>,
    garp_interval: Option<Duration>,
    script_security: bool,
    script_user: Option<String>,
    rt_priority: Option<u8>,
    no_swap: bool,
}

/// A `vrrp_instance` as written, before keepalived's completion.
struct RawInstance {
    name: Word,
    state: Option<(Option<StartState>, Location)>,
    iface: Option<Word>,
    vrid: Option<(u8, Location)>,
    /// `virtual_router_id` was written, valid or not.
    vrid_given: bool,
    priority: Option<(u8, Location)>,
    /// keepalived keeps intervals in microseconds.
    advert_us: Option<(u64, Location)>,
    version: Option<(Version, Location)>,
    auth_type: Option<Location>,
    /// `auth_type` was written, valid or not.
    auth_type_given: bool,
    auth_pass: Option<(String, Location)>,
    /// `auth_pass ...` swallowed by a one-line `authentication { ... }` block.
    auth_pass_swallowed: Option<(String, Location)>,
    /// The family of the instance, fixed by the first address that says it.
    v6: Option<bool>,
    /// Each VIP with where it is and its `dev`, checked against `interface` at the end.
    vips: Vec<(VipSpec, Location, Option<Word>)>,
    nopreempt: Option<Location>,
    preempt_delay: Option<(u64, Location)>,
    garp_delay: Option<Duration>,
    garp_repeat: Option<u32>,
    garp_refresh: Option<Option<Duration>>,
    garp_refresh_repeat: Option<u32>,
    unicast_src: Option<(IpAddr, Location)>,
    unicast_peers: Vec<(IpAddr, Location)>,
    track_interfaces: Vec<(String, i32, Location)>,
    track_scripts: Vec<(String, Option<i32>, Location)>,
    notify: NotifySpec,
    /// `no_accept`, unless a later `accept` turned Accept_Mode back on (the last one wins).
    no_accept: Option<Location>,
}

struct Cx<'d> {
    diags: &'d mut Diags,
    globals: Globals,
    /// The `vrrp_script`s read so far: keepalived resolves a `track_script` when it reads it.
    scripts_so_far: Vec<String>,
    /// `track_script`s of a script not defined yet at that point, with where they are.
    early_tracks: Vec<(String, Location)>,
}

fn loc(w: &Word) -> Option<Location> {
    Some(w.loc.clone())
}

fn joined(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| {
            if w.quoted {
                format!("\"{}\"", w.text)
            } else {
                w.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Cx<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The block of `s`, or an error saying it needs one.
    fn block<'s>(&mut self, s: &'s Stmt) -> Option<&'s [Stmt]> {
        match &s.block {
            Some(b) => Some(&b.body),
            None => {
                let kw = &s.keyword().text;
                self.err(
                    Diagnostic::error(loc(s.keyword()), format!("{kw} needs a block"))
                        .expected(format!("{kw} ... {{ ... }}"))
                        .hint("open the block with '{' after the keyword (on the same line or the next)"),
                );
                None
            }
        }
    }

    /// An error for a block after a keyword that takes none.
    fn no_block(&mut self, s: &Stmt) {
        if let Some(b) = &s.block {
            self.err(
                Diagnostic::error(Some(b.open.clone()), format!("{} takes no block", s.keyword().text))
                    .hint("keepalived ignores this '{' and its '}' then closes the enclosing block; remove the braces"),
            );
        }
    }

    /// The name of a `vrrp_instance`/`vrrp_script`/`vrrp_sync_group`.
    fn name<'s>(&mut self, s: &'s Stmt) -> Option<&'s Word> {
        match s.args() {
            [name] => Some(name),
            [] => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a name", s.keyword().text),
                    )
                    .expected(format!("{} NAME {{ ... }}", s.keyword().text)),
                );
                None
            }
            [_, extra, ..] => {
                self.err(
                    Diagnostic::error(loc(extra), format!("{} takes one name", s.keyword().text))
                        .found(joined(s.args()))
                        .hint(
                            "keepalived skips the whole block when the name is not a single word",
                        ),
                );
                None
            }
        }
    }

    /// Warns about words after the `used` arguments of `s`; `siblings` are the keywords of the
    /// enclosing block, to recognise a one-line block.
    fn extra(&mut self, s: &Stmt, used: usize, siblings: &[&str]) {
        let Some(rest) = s.args().get(used..).filter(|r| !r.is_empty()) else {
            return;
        };
        let kw = &s.keyword().text;
        if let Some(i) = rest
            .iter()
            .position(|w| !w.quoted && siblings.contains(&w.text.as_str()))
        {
            let sib = &rest[i];
            self.err(
                Diagnostic::warning(
                    loc(sib),
                    format!(
                        "keepalived reads one keyword per line: `{}` is taken as more words of `{kw}` and ignored",
                        joined(&rest[i..])
                    ),
                )
                .found(joined(rest))
                .hint(format!(
                    "keepalived 2.2.7 ignores it too, so havip does the same; to have it apply, put `{}` on a line of its own",
                    sib.text
                )),
            );
        } else {
            self.err(
                Diagnostic::warning(loc(&rest[0]), format!("extra words after {kw} are ignored"))
                    .found(joined(rest))
                    .hint("keepalived ignores them too; remove them"),
            );
        }
    }

    /// The single argument of `s`.
    fn arg<'s>(&mut self, s: &'s Stmt, expected: &str, siblings: &[&str]) -> Option<&'s Word> {
        self.no_block(s);
        match s.args().first() {
            Some(w) => {
                self.extra(s, 1, siblings);
                Some(w)
            }
            None => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a value", s.keyword().text),
                    )
                    .expected(expected.to_string()),
                );
                None
            }
        }
    }

    /// A keyword without arguments.
    fn flag(&mut self, s: &Stmt, siblings: &[&str]) {
        self.no_block(s);
        self.extra(s, 0, siblings);
    }

    /// An optional `<BOOL>` argument (on|off|true|false|yes|no), `true` when absent.
    fn bool_arg(&mut self, s: &Stmt, siblings: &[&str]) -> Option<bool> {
        self.no_block(s);
        let Some(w) = s.args().first() else {
            return Some(true);
        };
        self.extra(s, 1, siblings);
        match w.text.as_str() {
            "on" | "true" | "yes" => Some(true),
            "off" | "false" | "no" => Some(false),
            _ => {
                self.err(
                    Diagnostic::error(
                        loc(w),
                        format!("{} {} is not a boolean", s.keyword().text, w.text),
                    )
                    .found(w.text.clone())
                    .expected("on, off, true, false, yes or no"),
                );
                None
            }
        }
    }

    fn unsigned(&mut self, w: &Word, what: &str, min: u64, max: u64) -> Option<u64> {
        let t = w.text.trim_start();
        let bad = |cx: &mut Self, msg: String| {
            cx.err(
                Diagnostic::error(loc(w), msg)
                    .found(w.text.clone())
                    .expected(format!("{min}-{max}")),
            );
            None
        };
        if t.starts_with('-') {
            return bad(self, format!("{what} {} is negative", w.text));
        }
        match t.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(_) => bad(self, format!("{what} {} is out of range", w.text)),
            Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                bad(self, format!("{what} {} is out of range", w.text))
            }
            Err(_) => bad(self, format!("{what} {} is not a whole number", w.text)),
        }
    }

    fn signed(&mut self, w: &Word, what: &str, min: i64, max: i64) -> Option<i64> {
        match w.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            r => {
                let msg = if r.is_ok() {
                    format!("{what} {} is out of range", w.text)
                } else {
                    format!("{what} {} is not a whole number", w.text)
                };
                self.err(
                    Diagnostic::error(loc(w), msg)
                        .found(w.text.clone())
                        .expected(format!("{min} to {max}")),
                );
                None
            }
        }
    }

    /// A decimal number of seconds as keepalived reads it (`read_double`), in microseconds
    /// (truncated, as keepalived's `(unsigned long)(value * TIMER_HZ)`).
    fn seconds_us(&mut self, w: &Word, what: &str, min: f64, max: f64) -> Option<u64> {
        let v: Option<f64> = w.text.parse().ok().filter(|v: &f64| v.is_finite());
        match v {
            Some(v) if v >= min && v <= max => Some((v * 1e6) as u64),
            Some(_) => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is out of range", w.text))
                        .found(w.text.clone())
                        .expected(format!("{min} to {max} seconds")),
                );
                None
            }
            None => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is not a number", w.text))
                        .found(w.text.clone())
                        .expected(format!("seconds from {min} to {max}, e.g. 1 or 0.5")),
                );
                None
            }
        }
    }

    fn addr(&mut self, w: &Word, what: &str) -> Option<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is not an IP address", w.text))
                        .found(w.text.clone())
                        .expected("an IPv4 or IPv6 address"),
                );
                None
            }
        }
    }

    /// A keyword this block does not handle: a warning or an error from `table`, or "unknown".
    fn unsupported(
        &mut self,
        s: &Stmt,
        table: &[(&str, Unsupported)],
        prefixes: &[(&str, &'static str)],
        place: &str,
    ) {
        let kw = &s.keyword().text;
        let found = table
            .iter()
            .find(|(k, _)| k == kw)
            .map(|(_, u)| *u)
            .or_else(|| {
                prefixes
                    .iter()
                    .find(|(p, _)| kw.starts_with(p))
                    .map(|(_, why)| Ignored(why))
            });
        match found {
            Some(Ignored(why)) => self.err(
                Diagnostic::warning(loc(s.keyword()), format!("havip ignores {kw}: {why}"))
                    .found(kw.clone()),
            ),
            Some(Refused(why)) => self.err(
                Diagnostic::error(
                    loc(s.keyword()),
                    format!("havip does not support {kw}: {why}"),
                )
                .found(kw.clone())
                .hint(format!(
                    "remove {kw} to run this file with havip, or keep keepalived for it"
                )),
            ),
            None => self.err(
                Diagnostic::error(loc(s.keyword()), format!("unknown keyword {kw} {place}"))
                    .found(kw.clone())
                    .hint("check the spelling and the block it is in (keepalived reports it too)"),
            ),
        }
    }

    fn global_defs(&mut self, body: &[Stmt]) {
        let sib = GLOBAL_HANDLED;
        for s in body {
            let kw = s.keyword().text.as_str();
            match kw {
                "router_id" => {
                    if let Some(w) = self.arg(s, "a name", sib) {
                        self.globals.router_id = Some(w.text.clone());
                    }
                }
                "vrrp_version" => {
                    if let Some(w) = self.arg(s, "2 or 3", sib) {
                        self.globals.version = self.version(w);
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(v) = self.unsigned(w, kw, 0, 86400) {
                            self.globals.garp_delay = Some(Duration::from_secs(v));
                        }
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        if let Some(v) = self.unsigned(w, kw, 0, 255) {
                            self.globals.garp_repeat = Some(v as u32);
                        }
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(v) = self.unsigned(w, kw, 0, 86400) {
                            self.globals.garp_refresh =
                                Some((v > 0).then(|| Duration::from_secs(v)));
                        }
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        if let Some(v) = self.unsigned(w, kw, 1, 255) {
                            self.globals.garp_refresh_repeat = Some(v as u32);
                        }
                    }
                }
                "vrrp_garp_interval" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(us) = self.seconds_us(w, kw, 0.0, 86400.0) {
                            self.globals.garp_interval = Some(Duration::from_micros(us));
                        }
                    }
                }
                "vrrp_min_garp" => {
                    if self.bool_arg(s, sib) == Some(true) {
                        self.globals.garp_delay = Some(Duration::ZERO);
                        self.globals.garp_repeat = Some(1);
                    }
                }
                "enable_script_security" => {
                    self.flag(s, sib);
                    self.globals.script_security = true;
                }
                "vrrp_rt_priority" => {
                    if let Some(w) = self.arg(s, "a priority 1-99", sib) {
                        if let Some(v) = self.unsigned(w, kw, 1, 99) {
                            self.globals.rt_priority = Some(v as u8);
                        }
                    }
                }
                "vrrp_no_swap" => {
                    self.flag(s, sib);
                    self.globals.no_swap = true;
                }
                "script_user" => {
                    self.no_block(s);
                    match s.args() {
                        [user] => self.globals.script_user = Some(user.text.clone()),
                        [] => self.err(
                            Diagnostic::error(loc(s.keyword()), "script_user needs a user name")
                                .expected("script_user USER"),
                        ),
                        [_, group, ..] => self.err(
                            Diagnostic::error(
                                loc(group),
                                "script_user with a group is not supported",
                            )
                            .found(joined(s.args()))
                            .hint("scripts run with the user's own group; drop the group name"),
                        ),
                    }
                }
                "vrrp_mcast_group4" | "vrrp_mcast_group6" => {
                    let default = if kw.ends_with('4') {
                        "224.0.0.18"
                    } else {
                        "ff02::12"
                    };
                    if let Some(w) = self.arg(s, "a multicast address", sib) {
                        self.default_only(
                            w,
                            kw,
                            default,
                            "havip sends and listens on the RFC's group only",
                        );
                    }
                }
                "vrrp_down_timer_adverts" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        self.default_only(
                            w,
                            kw,
                            "3",
                            "the Master_Down_Interval is the RFC's 3 adverts plus skew",
                        );
                    }
                }
                "vrrp_lower_prio_no_advert" => {
                    if let Some(false) | None = self.bool_arg(s, sib) {
                    } else {
                        self.refuse_value(s, "a master answers a lower-priority advert with an advert of its own (RFC 9568 §6.4.3)");
                    }
                }
                "vrrp_startup_delay" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if self.seconds_us(w, kw, 0.0, 3600.0).is_some_and(|us| us > 0) {
                            self.refuse_value(s, "havip starts its elections at once");
                        }
                    }
                }
                _ => self.unsupported(
                    s,
                    GLOBAL_UNSUPPORTED,
                    GLOBAL_IGNORED_PREFIXES,
                    "in global_defs",
                ),
            }
        }
    }

    /// A keyword havip accepts only with keepalived's default value.
    fn default_only(&mut self, w: &Word, kw: &str, default: &str, why: &str) {
        let same = match (w.text.parse::<IpAddr>(), default.parse::<IpAddr>()) {
            (Ok(a), Ok(b)) => a == b,
            _ => w.text == default,
        };
        if !same {
            self.err(
                Diagnostic::error(
                    loc(w),
                    format!("havip does not support {kw} {}: {why}", w.text),
                )
                .found(w.text.clone())
                .expected(format!("{default} (keepalived's default), or no {kw}")),
            );
        }
    }

    fn refuse_value(&mut self, s: &Stmt, why: &str) {
        self.err(
            Diagnostic::error(
                loc(s.keyword()),
                format!("havip does not support {}: {why}", joined(&s.words)),
            )
            .found(joined(&s.words))
            .hint(format!("remove {}", s.keyword().text)),
        );
    }

    fn version(&mut self, w: &Word) -> Option<Version> {
        match w.text.as_str() {
            "2" => Some(Version::V2),
            "3" => Some(Version::V3),
            _ => {
                self.err(
                    Diagnostic::error(loc(w), format!("VRRP version {} is not supported", w.text))
                        .found(w.text.clone())
                        .expected("2 or 3"),
                );
                None
            }
        }
    }

    fn instance(&mut self, name: &Word, body: &[Stmt]) -> RawInstance {
        let mut r = RawInstance {
            name: name.clone(),
            state: None,
            iface: None,
            vrid: None,
            vrid_given: false,
            priority: None,
            advert_us: None,
            version: None,
            auth_type: None,
            auth_type_given: false,
            auth_pass: None,
            auth_pass_swallowed: None,
            v6: None,
            vips: Vec::new(),
            nopreempt: None,
            preempt_delay: None,
            garp_delay: None,
            garp_repeat: None,
            garp_refresh: None,
            garp_refresh_repeat: None,
            unicast_src: None,
            unicast_peers: Vec::new(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            notify: NotifySpec::default(),
            no_accept: None,
        };
        let sib = INSTANCE_HANDLED;
        for s in body {
            let kw = s.keyword().text.as_str();
            match kw {
                "state" => {
                    if let Some(w) = self.arg(s, "MASTER or BACKUP", sib) {
                        let st = match w.text.as_str() {
                            "MASTER" => Some(StartState::Master),
                            "BACKUP" => Some(StartState::Backup),
                            _ => {
                                self.err(
                                    Diagnostic::error(loc(w), format!("state {} is not a state", w.text))
                                        .found(w.text.clone())
                                        .expected("MASTER or BACKUP, in capitals")
                                        .hint("keepalived falls back to BACKUP with a config error; say which you mean"),
                                );
                                None
                            }
                        };
                        r.state = Some((st, w.loc.clone()));
                    }
                }
                "interface" => {
                    if let Some(w) = self.arg(s, "an interface name", sib) {
                        r.iface = Some(w.clone());
                    }
                }
                "virtual_router_id" => {
                    r.vrid_given = true;
                    if let Some(w) = self.arg(s, "1-255", sib) {
                        if let Some(v) = self.unsigned(w, kw, 1, 255) {
                            r.vrid = Some((v as u8, w.loc.clone()));
                        } else if let Some(d) = self.diags.list.last_mut() {
                            d.hint = Some(
                                "every node of a virtual router uses the same id, from 1 to 255"
                                    .into(),
                            );
                        }
                    }
                }
                "priority" => {
                    if let Some(w) = self.arg(s, "1-255", sib) {
                        if let Some(v) = self.unsigned(w, kw, 1, 255) {
                            r.priority = Some((v as u8, w.loc.clone()));
                        } else if let Some(d) = self.diags.list.last_mut() {
                            d.hint = Some(
                                "1-254 for a backup-capable router, 255 for the address owner"
                                    .into(),
                            );
                        }
                    }
                }
                "advert_int" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(us) = self.seconds_us(w, kw, 0.01, 255.0) {
                            r.advert_us = Some((us, w.loc.clone()));
                        }
                    }
                }
                "version" => {
                    if let Some(w) = self.arg(s, "2 or 3", sib) {
                        if let Some(v) = self.version(w) {
                            r.version = Some((v, w.loc.clone()));
                        }
                    }
                }
                "authentication" => {
                    if let Some(body) = self.block(s) {
                        self.extra(s, 0, sib);
                        self.authentication(&mut r, body);
                    }
                }
                "virtual_ipaddress" => {
                    if let Some(body) = self.block(s) {
                        self.extra(s, 0, sib);
                        for line in body {
                            self.vip(&mut r, line);
                        }
                    }
                }
                "nopreempt" => {
                    self.flag(s, sib);
                    r.nopreempt = Some(s.keyword().loc.clone());
                }
                "preempt" => {
                    self.flag(s, sib);
                    r.nopreempt = None;
                }
                "preempt_delay" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(us) = self.seconds_us(w, kw, 0.0, 1000.0) {
                            r.preempt_delay = Some((us, s.keyword().loc.clone()));
                        }
                    }
                }
                "garp_master_delay" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        r.garp_delay = self.unsigned(w, kw, 0, 86400).map(Duration::from_secs);
                    }
                }
                "garp_master_repeat" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        r.garp_repeat = self.unsigned(w, kw, 0, 255).map(|v| v as u32);
                    }
                }
                "garp_master_refresh" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        r.garp_refresh = self
                            .unsigned(w, kw, 0, 86400)
                            .map(|v| (v > 0).then(|| Duration::from_secs(v)));
                    }
                }
                "garp_master_refresh_repeat" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        r.garp_refresh_repeat = self.unsigned(w, kw, 1, 255).map(|v| v as u32);
                    }
                }
                "unicast_src_ip" | "mcast_src_ip" => {
                    if let Some(w) = self.arg(s, "an IP address", sib) {
                        if let Some(a) = self.addr(w, kw) {
                            if self.family(&mut r, a, w, kw) {
                                r.unicast_src = Some((a, w.loc.clone()));
                            }
                        }
                    }
                }
                "unicast_peer" => {
                    if let Some(body) = self.block(s) {
                        self.extra(s, 0, sib);
                        for line in body {
                            self.peer(&mut r, line);
                        }
                    }
                }
                "track_interface" => {
                    if let Some(body) = self.block(s) {
                        self.extra(s, 0, sib);
                        for line in body {
                            self.track_interface(&mut r, line);
                        }
                    }
                }
                "track_script" | "track_process" => {
                    if let Some(body) = self.block(s) {
                        self.extra(s, 0, sib);
                        for line in body {
                            self.track_script(&mut r, line);
                        }
                    }
                }
                "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                    if let Some(cmd) = self.notify(s) {
                        *notify_slot(&mut r.notify, kw) = Some(cmd);
                    }
                }
                "accept" => {
                    self.flag(s, sib);
                    r.no_accept = None;
                }
                "no_accept" => {
                    self.flag(s, sib);
                    r.no_accept = loc(s.keyword());
                }
                "native_ipv6" => {
                    self.flag(s, sib);
                    if r.v6 == Some(false) {
                        self.err(
                            Diagnostic::warning(
                                loc(s.keyword()),
                                "native_ipv6 in an IPv4 instance is ignored, as keepalived does",
                            )
                            .hint("remove it; the VIPs decide the family"),
                        );
                    } else {
                        r.v6 = Some(true);
                        r.version = Some((Version::V3, s.keyword().loc.clone()));
                    }
                }
                "strict_mode" => {
                    if self.bool_arg(s, sib) == Some(true) {
                        self.refuse_value(s, "strict mode installs firewall rules that drop traffic to the VIPs; havip does not");
                    }
                }
                "mcast_dst_ip" => {
                    if let Some(w) = self.arg(s, "a multicast address", sib) {
                        let default = if r.v6 == Some(true) {
                            "ff02::12"
                        } else {
                            "224.0.0.18"
                        };
                        self.default_only(
                            w,
                            kw,
                            default,
                            "havip sends and listens on the RFC's group only",
                        );
                    }
                }
                "down_timer_adverts" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        self.default_only(
                            w,
                            kw,
                            "3",
                            "the Master_Down_Interval is the RFC's 3 adverts plus skew",
                        );
                    }
                }
                "lower_prio_no_advert" => {
                    if let Some(false) | None = self.bool_arg(s, sib) {
                    } else {
                        self.refuse_value(s, "a master answers a lower-priority advert with an advert of its own (RFC 9568 §6.4.3)");
                    }
                }
                _ => self.unsupported(s, INSTANCE_UNSUPPORTED, &[], "in vrrp_instance"),
            }
        }
        r
    }

    fn authentication(&mut self, r: &mut RawInstance, body: &[Stmt]) {
        for s in body {
            match s.keyword().text.as_str() {
                "auth_type" => {
                    self.no_block(s);
                    let Some(w) = s.args().first() else {
                        self.err(
                            Diagnostic::error(loc(s.keyword()), "auth_type needs a value")
                                .expected("PASS"),
                        );
                        continue;
                    };
                    r.auth_type_given = true;
                    match w.text.as_str() {
                        "PASS" => r.auth_type = Some(w.loc.clone()),
                        "AH" => self.err(
                            Diagnostic::error(loc(w), "havip does not support auth_type AH")
                                .found("AH")
                                .expected("PASS, or no authentication")
                                .hint("IPsec AH authentication is obsolete (RFC 3768 removed it) and not implemented; keepalived peers must change too"),
                        ),
                        other => self.err(
                            Diagnostic::error(loc(w), format!("auth_type {other} is not a type"))
                                .found(other.to_string())
                                .expected("PASS"),
                        ),
                    }
                    // One-line block: `auth_type PASS auth_pass 1111`.
                    let rest = &s.args()[1..];
                    if let Some(i) = rest.iter().position(|w| w.text == "auth_pass" && !w.quoted) {
                        let pass = rest.get(i + 1).map(|w| w.text.clone()).unwrap_or_default();
                        r.auth_pass_swallowed = Some((pass, rest[i].loc.clone()));
                    } else {
                        self.extra(s, 1, AUTH_HANDLED);
                    }
                }
                "auth_pass" => {
                    if let Some(w) = self.arg(s, "a password", AUTH_HANDLED) {
                        r.auth_pass = Some((w.text.clone(), w.loc.clone()));
                    }
                }
                _ => self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("unknown keyword {} in authentication", s.keyword().text),
                    )
                    .found(s.keyword().text.clone())
                    .expected("auth_type or auth_pass"),
                ),
            }
        }
    }

    /// Sets the instance's family from `a`, or warns that `a` is of the other family.
    fn family(&mut self, r: &mut RawInstance, a: IpAddr, w: &Word, what: &str) -> bool {
        match r.v6 {
            None => {
                r.v6 = Some(a.is_ipv6());
                true
            }
            Some(v6) if v6 == a.is_ipv6() => true,
            Some(v6) => {
                self.err(
                    Diagnostic::warning(
                        loc(w),
                        format!(
                            "{what} {} is not of the instance's family ({}): ignored, as keepalived does",
                            w.text,
                            if v6 { "IPv6" } else { "IPv4" }
                        ),
                    )
                    .found(w.text.clone())
                    .hint("a virtual router is IPv4 or IPv6; use a second vrrp_instance for the other family"),
                );
                false
            }
        }
    }

    fn vip(&mut self, r: &mut RawInstance, line: &Stmt) {
        self.no_block(line);
        let w = line.keyword();
        let (addr_s, len_s) = match w.text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (w.text.as_str(), None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            self.err(
                Diagnostic::error(loc(w), format!("VIP {} is not an IP address", w.text))
                    .found(w.text.clone())
                    .expected("ADDRESS[/PREFIX] [dev IFACE] [label LABEL] [brd ADDRESS]"),
            );
            return;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len_s {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => {
                    self.err(
                        Diagnostic::error(
                            loc(w),
                            format!("VIP {}: prefix length {l} is out of range", w.text),
                        )
                        .found(l.to_string())
                        .expected(format!("0-{max}")),
                    );
                    return;
                }
            },
        };
        let unicast = match addr {
            IpAddr::V4(a) => {
                !(a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback())
            }
            IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast() || a.is_loopback()),
        };
        if !unicast {
            self.err(
                Diagnostic::error(loc(w), format!("{addr} cannot be a VIP"))
                    .found(w.text.clone())
                    .expected("a unicast address"),
            );
            return;
        }
        let mut vip = VipSpec {
            addr,
            prefix_len,
            label: None,
        };
        let args = line.args();
        let mut i = 0;
        let mut ok = true;
        let mut dev = None;
        while i < args.len() {
            let o = &args[i];
            let value = args.get(i + 1);
            let needs_value = |cx: &mut Self| {
                cx.err(
                    Diagnostic::error(loc(o), format!("VIP option {} needs a value", o.text))
                        .found(o.text.clone()),
                );
            };
            match o.text.as_str() {
                "dev" => match value {
                    Some(v) => {
                        dev = Some(v.clone());
                        i += 2;
                    }
                    None => {
                        needs_value(self);
                        return;
                    }
                },
                "label" => match value {
                    Some(v) => {
                        vip.label = Some(v.text.clone());
                        i += 2;
                    }
                    None => {
                        needs_value(self);
                        return;
                    }
                },
                "brd" | "broadcast" | "preferred_lft" | "track_group" => {
                    match value {
                        Some(v) => {
                            self.err(
                            Diagnostic::warning(loc(o), format!("havip ignores VIP option {} {}", o.text, v.text))
                                .found(format!("{} {}", o.text, v.text))
                                .hint("the address is added without it; it does not change the election"),
                        );
                            i += 2;
                        }
                        None => {
                            needs_value(self);
                            return;
                        }
                    }
                }
                "scope" => match value {
                    Some(v) => {
                        if v.text != "global" && v.text != "universe" {
                            self.err(
                                Diagnostic::error(
                                    loc(v),
                                    format!("VIP {addr}: scope {} is not supported", v.text),
                                )
                                .found(v.text.clone())
                                .expected("scope global (the default)"),
                            );
                            ok = false;
                        }
                        i += 2;
                    }
                    None => {
                        needs_value(self);
                        return;
                    }
                },
                "peer" => {
                    self.err(
                        Diagnostic::error(
                            loc(o),
                            format!("VIP {addr}: peer addresses are not supported"),
                        )
                        .found(o.text.clone())
                        .hint("havip adds VIPs as ordinary addresses"),
                    );
                    ok = false;
                    i += 2;
                }
                "use_vmac" => {
                    self.err(
                        Diagnostic::error(loc(o), "havip does not support use_vmac on a VIP")
                            .found(o.text.clone())
                            .hint("the virtual MAC is not implemented in the data plane yet"),
                    );
                    ok = false;
                    i += 1;
                }
                "no_track" | "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute"
                | "autojoin" => {
                    self.err(
                        Diagnostic::warning(loc(o), format!("havip ignores VIP option {}", o.text))
                            .found(o.text.clone())
                            .hint("the address is added without it"),
                    );
                    i += 1;
                }
                other => {
                    let (msg, hint) = if other
                        .split('/')
                        .next()
                        .is_some_and(|a| a.parse::<IpAddr>().is_ok())
                    {
                        (
                            format!("keepalived takes one VIP per line: {other} is read as an unknown option of {} and is not a VIP", w.text),
                            "keepalived 2.2.7 ignores it too (\"Unknown configuration entry\"), so havip does the same; to make it a VIP, put it on a line of its own".to_string(),
                        )
                    } else {
                        (
                            format!("unknown VIP option {other}: ignored, as keepalived does"),
                            "the options are dev, label, brd, scope; check the spelling"
                                .to_string(),
                        )
                    };
                    self.err(
                        Diagnostic::warning(loc(o), msg)
                            .found(other.to_string())
                            .hint(hint),
                    );
                    i += 1;
                }
            }
        }
        if ok && self.family(r, addr, w, "VIP") {
            r.vips.push((vip, w.loc.clone(), dev));
        }
    }

    fn peer(&mut self, r: &mut RawInstance, line: &Stmt) {
        self.no_block(line);
        let w = line.keyword();
        let Some(a) = self.addr(w, "unicast peer") else {
            return;
        };
        let args = line.args();
        let mut i = 0;
        while i < args.len() {
            let o = &args[i];
            match o.text.as_str() {
                "min_ttl" | "max_ttl" => {
                    self.err(
                        Diagnostic::warning(
                            loc(o),
                            format!("havip ignores unicast peer option {}", o.text),
                        )
                        .hint("received adverts must have TTL 255 whatever their source"),
                    );
                    i += 2;
                }
                other => {
                    let msg = if other.parse::<IpAddr>().is_ok() {
                        format!("keepalived takes one unicast peer per line: {other} is read as an option of {} and is not a peer", w.text)
                    } else {
                        format!("unknown unicast peer option {other}: ignored, as keepalived does")
                    };
                    self.err(
                        Diagnostic::warning(loc(o), msg)
                            .found(other.to_string())
                            .hint("keepalived 2.2.7 ignores it too, so havip does the same; put each peer on a line of its own"),
                    );
                    break;
                }
            }
        }
        if a.is_ipv6() != r.v6.unwrap_or(false) && r.v6.is_some() {
            self.err(
                Diagnostic::error(
                    loc(w),
                    format!("unicast peer {a} is not of the instance's family"),
                )
                .found(w.text.clone()),
            );
            return;
        }
        r.unicast_peers.push((a, w.loc.clone()));
    }

    /// `NAME [weight N [reverse|noreverse]]`: the weight, if any; `Err` when refused.
    fn weighted(&mut self, line: &Stmt, what: &str, min: i64, max: i64) -> Result<Option<i32>, ()> {
        let args = line.args();
        let mut weight = None;
        let mut i = 0;
        while i < args.len() {
            let o = &args[i];
            match o.text.as_str() {
                "weight" => {
                    let Some(v) = args.get(i + 1) else {
                        self.err(
                            Diagnostic::error(loc(o), format!("{what}: weight needs a value"))
                                .expected(format!("{min} to {max}")),
                        );
                        return Err(());
                    };
                    weight = Some(self.signed(v, "weight", min, max).ok_or(())? as i32);
                    i += 2;
                }
                "reverse" => {
                    self.err(
                        Diagnostic::error(loc(o), format!("{what}: reverse weights are not supported"))
                            .found(o.text.clone())
                            .hint("give the weight with the opposite sign if that is what you mean; reverse also changes when it applies"),
                    );
                    return Err(());
                }
                "noreverse" | "no_reverse" => i += 1,
                other => {
                    self.err(
                        Diagnostic::warning(
                            loc(o),
                            format!(
                                "{what} {}: unknown option {other} is ignored, as keepalived does",
                                line.keyword().text
                            ),
                        )
                        .found(other.to_string())
                        .hint("keepalived takes one name per line; put each on a line of its own"),
                    );
                    i += 1;
                }
            }
        }
        Ok(weight)
    }

    fn track_interface(&mut self, r: &mut RawInstance, line: &Stmt) {
        self.no_block(line);
        let Ok(weight) = self.weighted(line, "track_interface", -253, 253) else {
            return;
        };
        let name = &line.keyword().text;
        if r.iface.as_ref().is_some_and(|i| &i.text == name) {
            self.err(
                Diagnostic::warning(loc(line.keyword()), format!("track_interface {name} is the instance's own interface: ignored, as keepalived does"))
                    .hint("the instance's interface is always tracked; remove it"),
            );
            return;
        }
        r.track_interfaces.push((
            name.clone(),
            weight.unwrap_or(0),
            line.keyword().loc.clone(),
        ));
    }

    fn track_script(&mut self, r: &mut RawInstance, line: &Stmt) {
        self.no_block(line);
        let Ok(weight) = self.weighted(line, "track_script", -253, 253) else {
            return;
        };
        let name = &line.keyword().text;
        if !self.scripts_so_far.contains(name) {
            // Either defined later (an error below) or not at all (an error in `check`).
            self.early_tracks
                .push((name.clone(), line.keyword().loc.clone()));
        }
        r.track_scripts
            .push((name.clone(), weight, line.keyword().loc.clone()));
    }

    /// `notify_* COMMAND [USER [GROUP]]`: the command line.
    fn notify(&mut self, s: &Stmt) -> Option<String> {
        self.no_block(s);
        match s.args() {
            [] => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a command", s.keyword().text),
                    )
                    .expected(format!("{} \"/path/to/script args\"", s.keyword().text)),
                );
                None
            }
            [cmd] => Some(cmd.text.clone()),
            [cmd, user, ..] => {
                self.err(
                    Diagnostic::error(
                        loc(user),
                        format!("{}: running the hook as user {} is not supported", s.keyword().text, user.text),
                    )
                    .found(joined(s.args()))
                    .hint(format!(
                        "keepalived reads the words after the command as USER [GROUP]; to pass arguments, quote the whole command line: {} \"{}\"",
                        s.keyword().text,
                        s.args().iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
                    )),
                );
                let _ = cmd;
                None
            }
        }
    }

    /// `vrrp_track_process NAME { process NAME; quorum N; quorum_max N; weight W }`: a check
    /// that is up while `quorum..=quorum_max` processes of that name run. havip polls /proc
    /// every 200 ms where keepalived listens to the kernel's process events; it runs as the
    /// built-in probe `havip probe process NAME MIN[-MAX]`.
    fn track_process(&mut self, name: &Word, body: &[Stmt]) -> Option<(ScriptSpec, Location)> {
        let mut process = None;
        let mut quorum = 1u64;
        let mut quorum_max = None;
        let mut weight = 0;
        let sib: &[&str] = &["process", "quorum", "quorum_max", "weight"];
        for s in body {
            let kw = s.keyword().text.as_str();
            match kw {
                "process" => {
                    self.no_block(s);
                    match s.args() {
                        [] => self.err(
                            Diagnostic::error(loc(s.keyword()), "process needs a process name")
                                .expected("process NAME"),
                        ),
                        [p] => process = Some(p.text.clone()),
                        [p, rest @ ..] => {
                            process = Some(p.text.clone());
                            self.err(
                                Diagnostic::error(
                                    loc(&rest[0]),
                                    "track_process: matching process parameters is not supported",
                                )
                                .found(joined(s.args()))
                                .hint("havip matches the process name only; drop the parameters"),
                            );
                        }
                    }
                }
                "quorum" | "quorum_max" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        if let Some(v) =
                            self.unsigned(w, kw, if kw == "quorum" { 1 } else { 0 }, 65535)
                        {
                            if kw == "quorum" {
                                quorum = v;
                            } else {
                                quorum_max = Some(v);
                            }
                        }
                    }
                }
                "weight" => {
                    if let Some(w) = self.arg(s, "-253 to 253", sib) {
                        if let Some(v) = self.signed(w, "weight", -253, 253) {
                            weight = v as i32;
                        }
                    }
                }
                "delay" | "terminate_delay" | "fork_delay" | "full_command" | "param_match" => {
                    self.err(
                        Diagnostic::warning(
                            loc(s.keyword()),
                            format!("havip ignores {kw} in vrrp_track_process"),
                        )
                        .hint("havip matches the process name (/proc/PID/comm) every 200 ms"),
                    );
                }
                _ => self.unsupported(s, &[], &[], "in vrrp_track_process"),
            }
        }
        let Some(process) = process else {
            self.err(
                Diagnostic::error(
                    loc(name),
                    format!("vrrp_track_process {} has no process", name.text),
                )
                .hint("add process NAME"),
            );
            return None;
        };
        let range = match quorum_max {
            Some(max) => format!("{quorum}-{max}"),
            None => quorum.to_string(),
        };
        Some((
            ScriptSpec {
                name: name.text.clone(),
                script: format!("havip probe process {process} {range}"),
                interval: Duration::from_millis(200),
                timeout: Duration::from_millis(200),
                weight,
                rise: 1,
                fall: 1,
                user: None,
            },
            name.loc.clone(),
        ))
    }

    fn script(&mut self, name: &Word, body: &[Stmt]) -> Option<(ScriptSpec, Location)> {
        let mut command = None;
        let mut interval = Duration::from_secs(1);
        let mut timeout = None;
        let mut weight = 0;
        let mut rise = 1;
        let mut fall = 1;
        let mut user = None;
        let sib = SCRIPT_HANDLED;
        for s in body {
            let kw = s.keyword().text.as_str();
            match kw {
                "script" => {
                    self.no_block(s);
                    match s.args() {
                        [] => self.err(
                            Diagnostic::error(loc(s.keyword()), "script needs a command")
                                .expected("script \"/path/to/check args\""),
                        ),
                        [cmd, rest @ ..] => {
                            command = Some(cmd.text.clone());
                            if !rest.is_empty() {
                                self.err(
                                    Diagnostic::warning(loc(&rest[0]), format!("keepalived runs only {} and ignores {}", cmd.text, joined(rest)))
                                        .found(joined(s.args()))
                                        .hint(format!("havip does the same; to pass arguments, quote the whole command line: script \"{}\"", s.args().iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))),
                                );
                            }
                        }
                    }
                }
                "interval" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(us) = self.seconds_us(w, kw, 0.001, 86400.0) {
                            interval = Duration::from_micros(us);
                        }
                    }
                }
                "timeout" => {
                    if let Some(w) = self.arg(s, "seconds", sib) {
                        if let Some(us) = self.seconds_us(w, kw, 0.001, 86400.0) {
                            timeout = Some(Duration::from_micros(us));
                        }
                    }
                }
                "weight" => {
                    self.no_block(s);
                    match s.args() {
                        [] => self.err(
                            Diagnostic::error(loc(s.keyword()), "weight needs a value")
                                .expected("-253 to 253"),
                        ),
                        [w, rest @ ..] => {
                            if let Some(v) = self.signed(w, "weight", -253, 253) {
                                weight = v as i32;
                            }
                            match rest.first().map(|w| w.text.as_str()) {
                                Some("reverse") => self.err(
                                    Diagnostic::error(loc(&rest[0]), "vrrp_script: reverse weights are not supported")
                                        .found("reverse")
                                        .hint("give the weight with the opposite sign if that is what you mean"),
                                ),
                                Some(_) => self.extra(s, 1, sib),
                                None => {}
                            }
                        }
                    }
                }
                "rise" | "fall" => {
                    if let Some(w) = self.arg(s, "a count", sib) {
                        if let Some(v) = self.unsigned(w, kw, 1, 1_000_000) {
                            if kw == "rise" {
                                rise = v as u32;
                            } else {
                                fall = v as u32;
                            }
                        }
                    }
                }
                "user" => {
                    self.no_block(s);
                    match s.args() {
                        [] => self.err(
                            Diagnostic::error(loc(s.keyword()), "user needs a user name")
                                .expected("user USER"),
                        ),
                        [u] => user = Some(u.text.clone()),
                        [_, g, ..] => self.err(
                            Diagnostic::error(
                                loc(g),
                                "vrrp_script user with a group is not supported",
                            )
                            .found(joined(s.args()))
                            .hint("the script runs with the user's own group; drop the group name"),
                        ),
                    }
                }
                _ => self.unsupported(s, SCRIPT_UNSUPPORTED, &[], "in vrrp_script"),
            }
        }
        let Some(script) = command else {
            self.err(
                Diagnostic::error(loc(name), format!("vrrp_script {} has no script", name.text))
                    .hint("add script \"/path/to/check\" (keepalived drops the script with a config error)"),
            );
            return None;
        };
        Some((
            ScriptSpec {
                name: name.text.clone(),
                script,
                interval,
                // keepalived waits for a script without a timeout until its next run.
                timeout: timeout.unwrap_or(interval),
                weight,
                rise,
                fall,
                user,
            },
            name.loc.clone(),
        ))
    }

    fn sync_group(&mut self, name: &Word, body: &[Stmt]) -> (SyncGroupSpec, GroupAt) {
        let mut g = SyncGroupSpec {
            name: name.text.clone(),
            instances: Vec::new(),
            notify: NotifySpec::default(),
        };
        let mut at = GroupAt {
            at: name.loc.clone(),
            members: Vec::new(),
        };
        for s in body {
            let kw = s.keyword().text.as_str();
            match kw {
                "group" => {
                    if let Some(body) = self.block(s) {
                        for line in body {
                            self.no_block(line);
                            for w in &line.words {
                                g.instances.push(w.text.clone());
                                at.members.push(w.loc.clone());
                            }
                        }
                    }
                }
                "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                    if let Some(cmd) = self.notify(s) {
                        *notify_slot(&mut g.notify, kw) = Some(cmd);
                        self.err(
                            Diagnostic::warning(
                                loc(s.keyword()),
                                format!("havip does not run a sync group's {kw} hook"),
                            )
                            .hint("put the hook on the group's instances: each runs its own"),
                        );
                    }
                }
                _ => self.unsupported(s, SYNC_GROUP_UNSUPPORTED, &[], "in vrrp_sync_group"),
            }
        }
        if g.instances.len() >= 2 {
            self.err(
                Diagnostic::warning(loc(name), format!("sync group {}: havip shares FAULT between its members, not BACKUP", name.text))
                    .hint("a failed link or check of one member puts all of them in FAULT, as in keepalived; but a member that loses an election on its own (a partition of one network without link loss) does not pull the others to BACKUP as keepalived's group would"),
            );
        }
        if g.instances.len() < 2 {
            self.err(
                Diagnostic::warning(loc(name), format!("sync group {} has {} member(s)", name.text, g.instances.len()))
                    .hint("a sync group synchronises two or more instances; keepalived warns about it too"),
            );
        }
        (g, at)
    }

    /// keepalived's `vrrp_complete_instance()`: defaults and corrections, then the spec.
    fn complete(&mut self, r: RawInstance) -> Option<Draft> {
        let name = r.name.text.clone();
        let at = r.name.loc.clone();
        let iface = match &r.iface {
            Some(w) => w.text.clone(),
            None => {
                self.err(
                    Diagnostic::error(Some(at.clone()), format!("instance {name} has no interface"))
                        .expected("interface IFACE")
                        .hint("name the interface the VIPs live on (keepalived refuses the file too: \"Unknown interface!\")"),
                );
                return None;
            }
        };
        let Some((vrid, vrid_at)) = r.vrid.clone() else {
            if r.vrid_given {
                // Its value was reported.
                return None;
            }
            self.err(
                Diagnostic::error(Some(at.clone()), format!("instance {name} has no virtual_router_id"))
                    .expected("virtual_router_id 1-255")
                    .hint("every node of this virtual router must use the same id (keepalived refuses the file too)"),
            );
            return None;
        };
        for (vip, _, dev) in &r.vips {
            if let Some(d) = dev.as_ref().filter(|d| d.text != iface) {
                self.err(
                    Diagnostic::error(loc(d), format!("VIP {} is on {}, not on the instance's interface {iface}", vip.addr, d.text))
                        .found(format!("dev {}", d.text))
                        .expected(format!("dev {iface}, or no dev"))
                        .hint("havip answers ARP for a VIP on the instance's interface only; move the VIP to an instance on that interface"),
                );
            }
        }
        let v6 = r.v6.unwrap_or(false);
        let explicit_state = r.state.as_ref().and_then(|s| s.0);
        if r.state.as_ref().is_some_and(|s| s.0.is_none()) {
            // Already reported as an error.
            return None;
        }
        // Priority: keepalived's default is 255 with state MASTER, 100 otherwise.
        let priority = match (&r.priority, explicit_state) {
            (Some((p, _)), _) => *p,
            (None, Some(StartState::Master)) => {
                let (_, sat) = r.state.as_ref().expect("state given");
                self.err(
                    Diagnostic::warning(Some(sat.clone()), format!("instance {name}: state MASTER without a priority makes it the address owner (priority 255), as in keepalived"))
                        .hint("it takes over at once and is never preempted; give a priority (e.g. priority 150) if that is not meant"),
                );
                255
            }
            (None, _) => 100,
        };
        let start_as = match explicit_state {
            Some(s) => s,
            None if priority == 255 => StartState::Master,
            None => StartState::Backup,
        };
        let mut preempt = r.nopreempt.is_none();
        if let Some(np) = &r.nopreempt {
            if priority == 255 {
                self.err(
                    Diagnostic::warning(Some(np.clone()), format!("instance {name}: nopreempt is cleared because the priority is 255, as keepalived does"))
                        .hint("the address owner always preempts; remove nopreempt or lower the priority"),
                );
                preempt = true;
            } else if start_as == StartState::Master {
                self.err(
                    Diagnostic::warning(Some(np.clone()), format!("instance {name}: nopreempt is cleared because of state MASTER, as keepalived does"))
                        .hint("nopreempt only works with state BACKUP on every node"),
                );
                preempt = true;
            }
        }
        let mut preempt_delay = Duration::ZERO;
        if let Some((us, pat)) = &r.preempt_delay {
            if !preempt {
                self.err(
                    Diagnostic::warning(Some(pat.clone()), format!("instance {name}: preempt_delay is cleared because of nopreempt, as keepalived does"))
                        .hint("remove one of them"),
                );
            } else if start_as == StartState::Master {
                self.err(
                    Diagnostic::warning(Some(pat.clone()), format!("instance {name}: preempt_delay is cleared because of state MASTER, as keepalived does"))
                        .hint("preempt_delay only works with state BACKUP"),
                );
            } else {
                preempt_delay = Duration::from_micros(*us);
            }
        }
        let mut version = r
            .version
            .as_ref()
            .map(|v| v.0)
            .or(self.globals.version)
            .unwrap_or(Version::V2);
        if v6 && version == Version::V2 {
            if let Some((_, vat)) = &r.version {
                // keepalived 2.2.7 runs VRRPv2 over IPv6 here (its extension, not RFC 3768).
                self.err(
                    Diagnostic::error(Some(vat.clone()), format!("instance {name} is IPv6 with version 2: VRRPv2 over IPv6 is not supported"))
                        .expected("version 3 for an IPv6 instance")
                        .hint("keepalived 2.2.7 runs a non-standard VRRPv2 over IPv6 with this; write version 3 on every node (RFC 9568)"),
                );
                return None;
            }
            // Without an explicit `version`, keepalived uses VRRPv3 for IPv6.
            version = Version::V3;
        }
        let advert_at = r.advert_us.as_ref().map(|a| a.1.clone());
        let advert_interval = match &r.advert_us {
            None => Centis(100),
            Some((us, aat)) => self.round_interval(&name, version, *us, aat),
        };
        let mut auth = None;
        let auth_at = r
            .auth_type
            .clone()
            .or_else(|| r.auth_pass.as_ref().map(|p| p.1.clone()));
        match (&r.auth_type, &r.auth_pass) {
            (Some(_), _) | (None, Some(_)) if version == Version::V3 => {
                self.err(
                    Diagnostic::warning(auth_at.clone(), format!("instance {name}: VRRPv3 has no authentication; it is ignored, as keepalived does"))
                        .hint("remove the authentication block"),
                );
            }
            (Some(tat), None) => {
                let d = match &r.auth_pass_swallowed {
                    Some((pass, pat)) => Diagnostic::warning(
                        Some(pat.clone()),
                        format!(
                            "instance {name} runs WITHOUT authentication: on this one-line authentication block keepalived reads `auth_pass {pass}` as extra words of `auth_type`, never sets the password, and sends adverts without authentication (it logs \"Authentication specified but no password given. Ignoring\")"
                        ),
                    )
                    .found(format!("auth_type PASS auth_pass {pass}"))
                    .hint(format!(
                        "havip does the same so that it agrees with keepalived peers using this file; to use the password, change the file on every node to\n    authentication {{\n        auth_type PASS\n        auth_pass {pass}\n    }}"
                    )),
                    None => Diagnostic::warning(
                        Some(tat.clone()),
                        format!("instance {name}: auth_type PASS without auth_pass: no authentication, as in keepalived"),
                    )
                    .hint("add auth_pass on a line of its own, or remove the authentication block"),
                };
                self.err(d);
            }
            (None, Some(_)) if r.auth_type_given => {}
            (None, Some((_, pat))) => {
                self.err(
                    Diagnostic::warning(Some(pat.clone()), format!("instance {name}: auth_pass without auth_type PASS: no authentication, as in keepalived"))
                        .hint("add auth_type PASS on a line of its own, or remove the authentication block"),
                );
            }
            (Some(_), Some((pass, pat))) => {
                let bytes = pass.as_bytes();
                if bytes.len() > 8 {
                    self.err(
                        Diagnostic::warning(Some(pat.clone()), format!("auth_pass is {} bytes long: only the first 8 are used, as in keepalived", bytes.len()))
                            .found(pass.clone()),
                    );
                }
                let mut a = [0u8; 8];
                let n = bytes.len().min(8);
                a[..n].copy_from_slice(&bytes[..n]);
                auth = Some(a);
            }
            (None, None) => {}
        }
        let g = &self.globals;
        let defaults = GarpConfig::default();
        let garp = GarpConfig {
            delay: r.garp_delay.or(g.garp_delay).unwrap_or(defaults.delay),
            repeat: r.garp_repeat.or(g.garp_repeat).unwrap_or(defaults.repeat),
            refresh: r
                .garp_refresh
                .or(g.garp_refresh)
                .unwrap_or(defaults.refresh),
            refresh_repeat: r
                .garp_refresh_repeat
                .or(g.garp_refresh_repeat)
                .unwrap_or(defaults.refresh_repeat),
            interval: g.garp_interval.unwrap_or(defaults.interval),
        };
        let vrrp = VrrpSpec {
            version,
            advert_interval,
            auth,
            preempt,
            preempt_delay,
            start_as,
            garp,
            unicast_src: r.unicast_src.as_ref().map(|u| u.0),
            unicast_peers: r.unicast_peers.iter().map(|p| p.0).collect(),
            track_interfaces: r
                .track_interfaces
                .iter()
                .map(|t| (t.0.clone(), t.1))
                .collect(),
            track_scripts: r.track_scripts.iter().map(|t| (t.0.clone(), t.1)).collect(),
            notify: r.notify.clone(),
            ..VrrpSpec::new(vrid, priority)
        };
        Some(Draft {
            spec: InstanceSpec {
                name,
                iface,
                vips: r.vips.iter().map(|v| v.0.clone()).collect(),
                vrrp: Some(vrrp),
            },
            at,
            vrid_at: Some(vrid_at),
            advert_at,
            vip_at: r.vips.iter().map(|v| v.1.clone()).collect(),
            track_script_at: r.track_scripts.iter().map(|t| t.2.clone()).collect(),
            unicast_src_at: r.unicast_src.as_ref().map(|u| u.1.clone()),
            no_accept_at: r.no_accept.clone().map(|at| (at, "no_accept")),
        })
    }

    /// keepalived's rounding of `advert_int` (microseconds) for the instance's version.
    fn round_interval(&mut self, name: &str, version: Version, us: u64, at: &Location) -> Centis {
        let shown = us as f64 / 1e6;
        match version {
            Version::V2 => {
                if us.is_multiple_of(1_000_000) {
                    return Centis((us / 10_000) as u16);
                }
                let secs = ((us + 500_000) / 1_000_000).max(1);
                self.err(
                    Diagnostic::warning(Some(at.clone()), format!("instance {name}: VRRPv2 advert_int {shown} is rounded to {secs} s, as keepalived does"))
                        .hint("VRRPv2 carries whole seconds; write a whole number, or use version 3 for sub-second adverts"),
                );
                Centis((secs * 100) as u16)
            }
            Version::V3 => {
                if us > 4_095_000 * 10 {
                    self.err(
                        Diagnostic::warning(Some(at.clone()), format!("instance {name}: VRRPv3 advert_int {shown} is above 40.95 s and set to 40.95 s, as keepalived does"))
                            .hint("the VRRPv3 field holds at most 40.95 s"),
                    );
                    return Centis::V3_MAX;
                }
                if us.is_multiple_of(10_000) {
                    return Centis((us / 10_000) as u16);
                }
                let cs = ((us + 5_000) / 10_000).max(1);
                self.err(
                    Diagnostic::warning(Some(at.clone()), format!("instance {name}: VRRPv3 advert_int {shown} is rounded to {}, as keepalived does", Centis(cs as u16)))
                        .hint("VRRPv3 counts centiseconds; write at most two decimals"),
                );
                Centis(cs as u16)
            }
        }
    }
}

fn notify_slot<'n>(n: &'n mut NotifySpec, kw: &str) -> &'n mut Option<String> {
    match kw {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        _ => &mut n.any,
    }
}
