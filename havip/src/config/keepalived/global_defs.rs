//! `global_defs`: the defaults every instance starts from (GARP schedule, VRRP version), the
//! daemon's own settings (router id, script security, real-time priorities, mlockall), and the
//! keywords havip accepts only with keepalived's default value.

use std::time::Duration;

use super::args::{joined, loc, Cx};
use super::keywords::{handled, ignored, refused, Table, Wording};
use crate::config::diag::Diagnostic;
use crate::config::syntax::Stmt;
use crate::model::FifoSpec;
use crate::vrrp::Version;

/// Defaults from `global_defs`.
#[derive(Default)]
pub(super) struct Globals {
    pub(super) router_id: Option<String>,
    pub(super) version: Option<Version>,
    pub(super) garp_delay: Option<Duration>,
    pub(super) garp_repeat: Option<u32>,
    pub(super) garp_lower_prio_delay: Option<Duration>,
    pub(super) garp_lower_prio_repeat: Option<u32>,
    pub(super) garp_refresh: Option<Option<Duration>>,
    pub(super) garp_refresh_repeat: Option<u32>,
    pub(super) garp_interval: Option<Duration>,
    pub(super) script_security: bool,
    pub(super) script_user: Option<String>,
    pub(super) rt_priority: Option<u8>,
    /// `bfd_rt_priority`: the BFD thread's.
    pub(super) bfd_rt_priority: Option<u8>,
    pub(super) no_swap: bool,
    pub(super) notify_fifos: Vec<FifoSpec>,
    pub(super) fifo_states_on_reload: bool,
    pub(super) startup_script: Option<String>,
    pub(super) startup_timeout: Option<Duration>,
    pub(super) shutdown_script: Option<String>,
    pub(super) shutdown_timeout: Option<Duration>,
    /// `vrrp_lower_prio_no_advert`: the instances' default.
    pub(super) lower_prio_no_advert: bool,
    /// `vrrp_down_timer_adverts`: the instances' default.
    pub(super) down_timer_adverts: Option<u8>,
    /// `vrrp_mcast_group4` / `vrrp_mcast_group6`: the instances' groups, by family.
    pub(super) mcast_group4: Option<std::net::IpAddr>,
    pub(super) mcast_group6: Option<std::net::IpAddr>,
    /// `vrrp_notify_priority_changes`: the instances' default.
    pub(super) notify_priority_changes: bool,
    pub(super) startup_delay: Option<Duration>,
    /// `net_namespace` (a top-level keyword, kept with the globals).
    pub(super) net_namespace: Option<String>,
    /// `static_ipaddress` and `static_routes` (top-level blocks, kept with the globals).
    pub(super) static_addresses: Vec<crate::model::StaticAddress>,
    pub(super) static_routes: Vec<crate::model::RouteSpec>,
    pub(super) static_rules: Vec<crate::model::RuleSpec>,
    /// `vrrp_strict`: the instances' default strict mode.
    pub(super) strict: bool,
}

/// `global_defs`: what havip does with each keyword.
pub(super) static GLOBAL_DEFS: Table<Globals> = Table {
    block: "global_defs",
    place: "in global_defs",
    keywords: &[
        handled("router_id", router_id),
        handled("vrrp_version", vrrp_version),
        handled("vrrp_garp_master_delay", garp_master_delay),
        handled("vrrp_garp_master_repeat", garp_master_repeat),
        handled("vrrp_garp_lower_prio_delay", garp_lower_prio_delay),
        handled("vrrp_garp_lower_prio_repeat", garp_lower_prio_repeat),
        handled("vrrp_garp_master_refresh", garp_master_refresh),
        handled("vrrp_garp_master_refresh_repeat", garp_master_refresh_repeat),
        handled("vrrp_garp_interval", garp_interval),
        handled("vrrp_min_garp", min_garp),
        handled("enable_script_security", enable_script_security),
        handled("script_user", script_user),
        handled("vrrp_rt_priority", rt_priority),
        handled("vrrp_no_swap", no_swap),
        handled("bfd_rt_priority", |cx, g, s| {
            if let Some(w) = cx.arg(s, "a priority 1-99", &GLOBAL_DEFS) {
                if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 99) {
                    g.bfd_rt_priority = Some(v as u8);
                }
            }
        }),
        ignored("notification_email", "e-mail alerts are not implemented"),
        ignored("notification_email_from", "e-mail alerts are not implemented"),
        ignored("no_email_faults", "e-mail alerts are not implemented"),
        ignored("enable_traps", "SNMP is not implemented"),
        ignored("snmp_socket", "SNMP is not implemented"),
        ignored("enable_dbus", "D-Bus is not implemented"),
        ignored("dbus_service_name", "D-Bus is not implemented"),
        ignored("vrrp_priority", "process tuning: set the nice value with the service manager"),
        ignored("vrrp_rlimit_rttime", "process tuning"),
        ignored("vrrp_cpu_affinity", "process tuning: set CPU affinity with the service manager"),
        ignored("vrrp_process_name", "havip's process is called havip"),
        ignored("process_name", "havip's process is called havip"),
        ignored("process_names", "havip's process is called havip"),
        ignored("vrrp_rx_bufs_policy", "socket buffer tuning"),
        ignored("vrrp_rx_bufs_multiplier", "socket buffer tuning"),
        ignored("max_auto_priority", "process tuning"),
        ignored("min_auto_priority_delay", "process tuning"),
        ignored("vrrp_iptables", "havip enforces no_accept with an nftables table of its own, inet havip (keepalived 2.2.7 as Debian builds it uses nftables for this keyword too)"),
        ignored("vrrp_ipsets", "havip enforces no_accept with an nftables table of its own, inet havip"),
        handled("vrrp_check_unicast_src", check_unicast_src),
        ignored("vrrp_skip_check_adv_addr", "havip checks advert address lists its own way (see the vrrp module docs)"),
        ignored("vrrp_gna_interval", "IPv6 neighbour advertisements use vrrp_garp_interval's spacing"),
        ignored("vrrp_garp_extra_if", "GARPs are sent on the instance's interface only"),
        ignored("vrrp_higher_prio_send_advert", "havip always sends one advert before yielding to a higher priority"),
        handled("vrrp_notify_priority_changes", |cx, g, s| {
            if let Some(b) = cx.bool_arg(s, &GLOBAL_DEFS) {
                g.notify_priority_changes = b;
            }
        }),
        handled("dynamic_interfaces", dynamic_interfaces),
        handled("notify_fifo", notify_fifo),
        handled("startup_script", |cx, g, s| life_script(cx, &mut g.startup_script, s)),
        handled("shutdown_script", |cx, g, s| life_script(cx, &mut g.shutdown_script, s)),
        handled("startup_script_timeout", |cx, g, s| {
            life_timeout(cx, &mut g.startup_timeout, s)
        }),
        handled("shutdown_script_timeout", |cx, g, s| {
            life_timeout(cx, &mut g.shutdown_timeout, s)
        }),
        handled("vrrp_notify_fifo", notify_fifo),
        handled("fifo_write_vrrp_states_on_reload", |cx, g, s| {
            cx.flag(s, &GLOBAL_DEFS);
            g.fifo_states_on_reload = true;
        }),
        ignored("default_interface", "every vrrp_instance must name its interface"),
        ignored("disable_local_igmp", "havip sends no IGMP of its own"),
        ignored("log_unknown_vrids", "unknown VRIDs are counted in the XDP counters instead (havip stats)"),
        ignored("rs_init_notifies", "LVS only"),
        ignored("no_checker_emails", "LVS only"),
        ignored("config_save_dir", "havip does not save configurations"),
        ignored("data_use_instance", "havip has no data files"),
        ignored("tmp_config_directory", "havip does not copy configurations"),
        ignored("umask", "havip creates no files besides its control socket"),
        ignored("random_seed", "no $_RANDOM substitution"),
        ignored("reload_check_config", "reload is handled by the daemon"),
        ignored("reload_file", "reload is handled by the daemon"),
        ignored("reload_repeat", "reload is handled by the daemon"),
        ignored("reload_time_file", "reload is handled by the daemon"),
        ignored("include_check", "includes are always read as plain includes"),
        ignored("vmac_prefix", "havip makes no interface for use_vmac (the virtual MAC lives in XDP): there is no name to prefix"),
        ignored("vmac_addr_prefix", "havip makes no interface for use_vmac (the virtual MAC lives in XDP): there is no name to prefix"),
        ignored("linkbeat_use_polling", "havip follows link state through netlink"),
        ignored("bfd_priority", "process tuning: the BFD sessions run on a thread of havip's; set the nice value with the service manager"),
        ignored("bfd_no_swap", "the BFD sessions run on a thread of havip's: vrrp_no_swap locks the whole process"),
        ignored("bfd_cpu_affinity", "process tuning: set CPU affinity with the service manager"),
        ignored("bfd_rlimit_rttime", "process tuning"),
        ignored("bfd_rlimit_rtime", "process tuning"),
        ignored("bfd_process_name", "the BFD sessions run on a thread of havip's, whose process is called havip"),
        // Accepted only with keepalived's default value.
        handled("vrrp_mcast_group4", |cx, g, s| {
            if let Some((a, _)) = cx.mcast_group(s, Some(false), &GLOBAL_DEFS) {
                g.mcast_group4 = Some(a);
            }
        }),
        handled("vrrp_mcast_group6", |cx, g, s| {
            if let Some((a, _)) = cx.mcast_group(s, Some(true), &GLOBAL_DEFS) {
                g.mcast_group6 = Some(a);
            }
        }),
        handled("vrrp_down_timer_adverts", |cx, g, s| {
            if let Some(n) = cx.down_timer_adverts(s, &GLOBAL_DEFS) {
                g.down_timer_adverts = Some(n);
            }
        }),
        handled("vrrp_lower_prio_no_advert", |cx, g, s| {
            if let Some(b) = cx.bool_arg(s, &GLOBAL_DEFS) {
                g.lower_prio_no_advert = b;
            }
        }),
        handled("vrrp_startup_delay", startup_delay),
        handled("vrrp_strict", |cx, g, s| {
            cx.flag(s, &GLOBAL_DEFS);
            g.strict = true;
        }),
        refused("vrrp_notify_fifo_script", "havip writes the FIFO but does not start its reader: run the reader as a service of its own (a systemd unit ordered after havip.service)"),
        refused("notify_fifo_script", "havip writes the FIFO but does not start its reader: run the reader as a service of its own (a systemd unit ordered after havip.service)"),
    ],
    ignored_prefixes: GLOBAL_IGNORED_PREFIXES,
    wording: Wording::Common,
};

/// `global_defs` keyword families that only concern keepalived's other parts or its plumbing.
const GLOBAL_IGNORED_PREFIXES: &[(&str, &str)] = &[
    ("smtp_", "e-mail alerts are not implemented"),
    (
        "checker_",
        "LVS health checkers are keepalived's other half",
    ),
    ("lvs_", "LVS (IPVS) is keepalived's other half"),
    ("enable_snmp", "SNMP is not implemented"),
    ("nftables", "havip's no_accept table is inet havip, its chains at priority -1 (keepalived's defaults), with counters"),
    ("vrrp_netlink_", "netlink buffer tuning"),
    ("process_monitor_", "netlink buffer tuning"),
];

fn router_id(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a name", &GLOBAL_DEFS) {
        g.router_id = Some(w.text.clone());
    }
}

fn vrrp_version(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "2 or 3", &GLOBAL_DEFS) {
        g.version = cx.version(w);
    }
}

fn garp_master_delay(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 0, 86400) {
            g.garp_delay = Some(Duration::from_secs(v));
        }
    }
}

fn garp_master_repeat(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 0, 255) {
            g.garp_repeat = Some(v as u32);
        }
    }
}

fn garp_lower_prio_delay(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 0, 86400) {
            g.garp_lower_prio_delay = Some(Duration::from_secs(v));
        }
    }
}

fn garp_lower_prio_repeat(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 0, 255) {
            g.garp_lower_prio_repeat = Some(v as u32);
        }
    }
}

fn garp_master_refresh(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 0, 86400) {
            g.garp_refresh = Some((v > 0).then(|| Duration::from_secs(v)));
        }
    }
}

fn garp_master_refresh_repeat(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 255) {
            g.garp_refresh_repeat = Some(v as u32);
        }
    }
}

fn garp_interval(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.0, 86400.0) {
            g.garp_interval = Some(Duration::from_micros(us));
        }
    }
}

fn min_garp(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if cx.bool_arg(s, &GLOBAL_DEFS) == Some(true) {
        g.garp_delay = Some(Duration::ZERO);
        g.garp_repeat = Some(1);
    }
}

/// keepalived's `vrrp_check_unicast_src`: havip checks unicast sources by default already.
fn check_unicast_src(cx: &mut Cx<'_>, _g: &mut Globals, s: &Stmt) {
    cx.flag(s, &GLOBAL_DEFS);
}

/// keepalived's `dynamic_interfaces [allow_if_changes]`: what havip always does. An instance
/// whose interface is absent waits in FAULT; one deleted and re-created (of any kind) is
/// attached again.
fn dynamic_interfaces(cx: &mut Cx<'_>, _g: &mut Globals, s: &Stmt) {
    cx.no_block(s);
    let used = usize::from(
        s.args()
            .first()
            .is_some_and(|w| w.text == "allow_if_changes"),
    );
    cx.extra(s, used, &GLOBAL_DEFS);
}

/// keepalived's `notify_fifo` and `vrrp_notify_fifo PATH [USER [GROUP]]`: the same to havip,
/// which notifies VRRP transitions only (keepalived's `notify_fifo` also gets its LVS
/// checkers').
fn notify_fifo(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    cx.no_block(s);
    let kw = &s.keyword().text;
    let args = s.args();
    let Some(path) = args.first() else {
        cx.err(
            Diagnostic::error(loc(s.keyword()), format!("{kw} needs the FIFO's path"))
                .expected(format!("{kw} /run/keepalived.fifo [USER [GROUP]]")),
        );
        return;
    };
    if !path.text.starts_with('/') {
        cx.err(
            Diagnostic::error(loc(path), format!("{kw}: the path must be absolute"))
                .found(path.text.clone())
                .hint(
                    "keepalived would take it from / (its working directory); write it from / too",
                ),
        );
        return;
    }
    cx.extra(s, 3, &GLOBAL_DEFS);
    g.notify_fifos.push(FifoSpec {
        path: path.text.clone().into(),
        user: args.get(1).map(|w| w.text.clone()),
        group: args.get(2).map(|w| w.text.clone()),
    });
}

/// keepalived's `startup_script` / `shutdown_script COMMAND`: one of each (keepalived: "startup
/// script already specified").
fn life_script(cx: &mut Cx<'_>, slot: &mut Option<String>, s: &Stmt) {
    let Some(line) = cx.notify(s) else { return };
    if slot.is_some() {
        cx.err(
            Diagnostic::error(loc(s.keyword()), format!("{} is given twice", s.keyword().text))
                .hint("keepalived runs one of each (\"script already specified\"); call the others from it"),
        );
        return;
    }
    *slot = Some(line);
}

/// `startup_script_timeout` / `shutdown_script_timeout SECONDS`, 1-1000 as in keepalived.
fn life_timeout(cx: &mut Cx<'_>, slot: &mut Option<Duration>, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 1000) {
            *slot = Some(Duration::from_secs(v));
        }
    }
}

fn enable_script_security(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    cx.flag(s, &GLOBAL_DEFS);
    g.script_security = true;
}

fn rt_priority(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a priority 1-99", &GLOBAL_DEFS) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 99) {
            g.rt_priority = Some(v as u8);
        }
    }
}

fn no_swap(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    cx.flag(s, &GLOBAL_DEFS);
    g.no_swap = true;
}

fn script_user(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    cx.no_block(s);
    match s.args() {
        [user] => g.script_user = Some(user.text.clone()),
        [] => cx.err(
            Diagnostic::error(loc(s.keyword()), "script_user needs a user name")
                .expected("script_user USER"),
        ),
        [_, group, ..] => cx.err(
            Diagnostic::error(loc(group), "script_user with a group is not supported")
                .found(joined(s.args()))
                .hint("scripts run with the user's own group; drop the group name"),
        ),
    }
}

/// `vrrp_startup_delay SECONDS` (keepalived: decimal, 0 = none).
fn startup_delay(cx: &mut Cx<'_>, g: &mut Globals, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &GLOBAL_DEFS) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.0, 3600.0) {
            g.startup_delay = (us > 0).then(|| Duration::from_micros(us));
        }
    }
}
