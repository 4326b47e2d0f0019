//! `vrrp_instance`: one virtual router as written — its election settings, `authentication`,
//! `virtual_ipaddress`, `unicast_peer`, `track_interface`, `track_script`/`track_process`,
//! `track_file`, `track_bfd`, notify hooks, and havip's `havip_fast_takeover` and
//! `havip_bgp_announce` — into a [`RawInstance`] that `complete` turns into the spec.

use std::net::IpAddr;
use std::time::Duration;

use super::args::{loc, notify_slot, Cx};
use super::keywords::{handled, ignored, refused, Table, Wording};
use crate::config::diag::{Diagnostic, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::{NotifySpec, VipSpec};
use crate::vrrp::{StartState, Version};

/// A `vrrp_instance` as written, before keepalived's completion.
pub(super) struct RawInstance {
    pub(super) name: Word,
    pub(super) state: Option<(Option<StartState>, Location)>,
    pub(super) iface: Option<Word>,
    pub(super) vrid: Option<(u8, Location)>,
    /// `virtual_router_id` was written, valid or not.
    pub(super) vrid_given: bool,
    pub(super) priority: Option<(u8, Location)>,
    /// keepalived keeps intervals in microseconds.
    pub(super) advert_us: Option<(u64, Location)>,
    pub(super) version: Option<(Version, Location)>,
    pub(super) auth_type: Option<Location>,
    /// `auth_type` was written, valid or not.
    pub(super) auth_type_given: bool,
    pub(super) auth_pass: Option<(String, Location)>,
    /// `auth_pass ...` swallowed by a one-line `authentication { ... }` block.
    pub(super) auth_pass_swallowed: Option<(String, Location)>,
    /// The family of the instance, fixed by the first address that says it.
    pub(super) v6: Option<bool>,
    /// Each VIP with where it is and its `dev`, checked against `interface` at the end.
    pub(super) vips: Vec<(VipSpec, Location, Option<Word>)>,
    pub(super) nopreempt: Option<Location>,
    pub(super) preempt_delay: Option<(u64, Location)>,
    pub(super) garp_delay: Option<Duration>,
    pub(super) garp_repeat: Option<u32>,
    pub(super) garp_lower_prio_delay: Option<Duration>,
    pub(super) garp_lower_prio_repeat: Option<u32>,
    pub(super) garp_refresh: Option<Option<Duration>>,
    pub(super) garp_refresh_repeat: Option<u32>,
    pub(super) unicast_src: Option<(IpAddr, Location)>,
    pub(super) unicast_peers: Vec<(IpAddr, Location)>,
    /// havip's `no_check_unicast_src`: where the source check was turned off (the last of it
    /// and `check_unicast_src` wins).
    pub(super) no_check_unicast_src: Option<Location>,
    pub(super) track_interfaces: Vec<(String, i32, Location)>,
    pub(super) track_scripts: Vec<(String, Option<i32>, Location)>,
    pub(super) track_files: Vec<(String, Option<i32>)>,
    pub(super) track_bfds: Vec<(String, Option<i32>)>,
    /// havip's `havip_fast_takeover`, where written.
    pub(super) fast_takeover: Option<Location>,
    /// havip's `havip_bgp_announce`, where written.
    pub(super) bgp_announce: Option<Location>,
    /// `lower_prio_no_advert`, when written (else the global default).
    pub(super) lower_prio_no_advert: Option<bool>,
    pub(super) down_timer_adverts: Option<u8>,
    /// `notify_priority_changes`, when written (else the global default).
    pub(super) notify_priority_changes: Option<bool>,
    pub(super) unicast_ttl: Option<u8>,
    /// `unicast_peer { ADDR min_ttl N max_ttl M }`: the peers with a range.
    pub(super) peer_ttl: Vec<(IpAddr, u8, u8)>,
    pub(super) virtual_routes: Vec<crate::model::RouteSpec>,
    pub(super) virtual_rules: Vec<crate::model::RuleSpec>,
    /// `mcast_dst_ip`, with where it was written (its family is checked with the instance's).
    pub(super) mcast_dst: Option<(IpAddr, Location)>,
    pub(super) notify: NotifySpec,
    /// `no_accept`, unless a later `accept` turned Accept_Mode back on (the last one wins).
    pub(super) no_accept: Option<Location>,
    /// `accept`, unless a later `no_accept` turned it off: without either, Accept_Mode is
    /// keepalived's default (on, except in strict mode below priority 255).
    pub(super) accept: Option<Location>,
    /// `strict_mode [BOOL]`, when written (else the global `vrrp_strict`).
    pub(super) strict_mode: Option<bool>,
    /// `use_vmac [NAME]`, where written.
    pub(super) use_vmac: Option<Location>,
    /// `vmac_xmit_base`, where written.
    pub(super) vmac_xmit_base: Option<Location>,
}

impl RawInstance {
    pub(super) fn new(name: &Word) -> RawInstance {
        RawInstance {
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
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            garp_refresh: None,
            garp_refresh_repeat: None,
            unicast_src: None,
            unicast_peers: Vec::new(),
            no_check_unicast_src: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_bfds: Vec::new(),
            fast_takeover: None,
            bgp_announce: None,
            lower_prio_no_advert: None,
            down_timer_adverts: None,
            notify_priority_changes: None,
            unicast_ttl: None,
            peer_ttl: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            mcast_dst: None,
            notify: NotifySpec::default(),
            no_accept: None,
            accept: None,
            strict_mode: None,
            use_vmac: None,
            vmac_xmit_base: None,
        }
    }
}

/// `vrrp_instance`: what havip does with each keyword.
pub(super) static INSTANCE: Table<RawInstance> = Table {
    block: "vrrp_instance",
    place: "in vrrp_instance",
    keywords: &[
        handled("state", state),
        handled("interface", interface),
        handled("virtual_router_id", virtual_router_id),
        handled("priority", priority),
        handled("advert_int", advert_int),
        handled("authentication", authentication),
        handled("virtual_ipaddress", virtual_ipaddress),
        handled("nopreempt", nopreempt),
        handled("preempt", preempt),
        handled("preempt_delay", preempt_delay),
        handled("version", version),
        handled("garp_master_delay", garp_master_delay),
        handled("garp_master_repeat", garp_master_repeat),
        handled("garp_lower_prio_delay", garp_lower_prio_delay),
        handled("garp_lower_prio_repeat", garp_lower_prio_repeat),
        handled("garp_master_refresh", garp_master_refresh),
        handled("garp_master_refresh_repeat", garp_master_refresh_repeat),
        handled("unicast_src_ip", unicast_src),
        handled("mcast_src_ip", unicast_src),
        handled("unicast_peer", unicast_peer),
        handled("track_interface", track_interface),
        handled("track_script", track_script),
        handled("track_process", track_script),
        handled("notify_master", notify),
        handled("notify_backup", notify),
        handled("notify_fault", notify),
        handled("notify_stop", notify),
        handled("notify", notify),
        handled("notify_master_rx_lower_pri", notify),
        // accept/no_accept: no_accept is refused below priority 255 by check::finish.
        handled("accept", accept),
        handled("no_accept", no_accept),
        handled("native_ipv6", native_ipv6),
        // Accepted only with keepalived's default value.
        handled("strict_mode", strict_mode),
        handled("mcast_dst_ip", |cx, r, s| {
            if let Some(g) = cx.mcast_group(s, None, &INSTANCE) {
                r.mcast_dst = Some(g);
            }
        }),
        handled("down_timer_adverts", |cx, r, s| {
            if let Some(n) = cx.down_timer_adverts(s, &INSTANCE) {
                r.down_timer_adverts = Some(n);
            }
        }),
        handled("lower_prio_no_advert", |cx, r, s| {
            if let Some(b) = cx.bool_arg(s, &INSTANCE) {
                r.lower_prio_no_advert = Some(b);
            }
        }),
        ignored("smtp_alert", "e-mail alerts are not implemented"),
        ignored("debug", "keepalived does not implement it either"),
        ignored("promote_secondaries", "havip does not change interface sysctls"),
        ignored("skip_check_adv_addr", "havip checks advert address lists its own way (see the vrrp module docs)"),
        ignored("garp_extra_if", "GARPs are sent on the instance's interface only"),
        ignored("garp_extra_if_vmac", "GARPs go out on the instance's interface only (from the virtual MAC with use_vmac)"),
        ignored("higher_prio_send_advert", "havip always sends one advert before yielding to a higher priority"),
        handled("unicast_ttl", |cx, r, s| {
            if let Some(w) = cx.arg(s, "a TTL", &INSTANCE) {
                if let Some(t) = cx.unsigned(w, "unicast_ttl", 1, 255) {
                    r.unicast_ttl = Some(t as u8);
                }
            }
        }),
        handled("check_unicast_src", check_unicast_src),
        handled("no_check_unicast_src", no_check_unicast_src),
        ignored("track_src_ip", "the source address is not tracked"),
        ignored("unicast_fault_no_peer", "an instance with unicast keywords but no peer is refused anyway"),
        handled("notify_priority_changes", |cx, r, s| {
            if let Some(b) = cx.bool_arg(s, &INSTANCE) {
                r.notify_priority_changes = Some(b);
            }
        }),
        ignored("notify_deleted", "havip sends no notification for removed instances"),
        ignored("kernel_rx_buf_size", "socket buffer tuning"),
        ignored("linkbeat_use_polling", "havip follows link state through netlink"),
        ignored("old_unicast_checksum", "checksums follow RFC 9568"),
        handled("use_vmac", use_vmac),
        ignored("use_vmac_addr", "havip's virtual MAC lives in XDP on the instance's interface, where its VIPs are: there is no other interface to give it"),
        handled("vmac_xmit_base", |cx, r, s| {
            cx.flag(s, &INSTANCE);
            r.vmac_xmit_base = super::args::loc(s.keyword());
        }),
        refused("use_ipvlan", "ipvlan interfaces are not implemented"),
        refused("vrf", "VRFs are not implemented"),
        refused("dont_track_primary", "havip always goes to FAULT when the instance's interface goes down"),
        handled("track_file", track_file),
        handled("track_bfd", track_bfd),
        handled("havip_fast_takeover", |cx, r, s| {
            cx.flag(s, &INSTANCE);
            r.fast_takeover = loc(s.keyword());
        }),
        handled("havip_bgp_announce", |cx, r, s| {
            cx.flag(s, &INSTANCE);
            r.bgp_announce = loc(s.keyword());
        }),
        refused("virtual_ipaddress_excluded", "excluded addresses are not added by havip"),
        handled("virtual_routes", virtual_routes),
        handled("virtual_rules", |cx, r, s| {
            let rules = cx.word_lines(s, &INSTANCE, crate::config::route::parse_rule);
            r.virtual_rules.extend(rules);
        }),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// `authentication` in a `vrrp_instance`.
pub(super) static AUTHENTICATION: Table<RawInstance> = Table {
    block: "authentication",
    place: "in authentication",
    keywords: &[
        handled("auth_type", auth_type),
        handled("auth_pass", auth_pass),
    ],
    ignored_prefixes: &[],
    wording: Wording::ExpectHandled,
};

fn state(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "MASTER or BACKUP", &INSTANCE) {
        let st = match w.text.as_str() {
            "MASTER" => Some(StartState::Master),
            "BACKUP" => Some(StartState::Backup),
            _ => {
                cx.err(
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

fn interface(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "an interface name", &INSTANCE) {
        r.iface = Some(w.clone());
    }
}

fn virtual_router_id(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    r.vrid_given = true;
    if let Some(w) = cx.arg(s, "1-255", &INSTANCE) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 255) {
            r.vrid = Some((v as u8, w.loc.clone()));
        } else if let Some(d) = cx.diags.list.last_mut() {
            d.hint = Some("every node of a virtual router uses the same id, from 1 to 255".into());
        }
    }
}

fn priority(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "1-255", &INSTANCE) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 255) {
            r.priority = Some((v as u8, w.loc.clone()));
        } else if let Some(d) = cx.diags.list.last_mut() {
            d.hint = Some("1-254 for a backup-capable router, 255 for the address owner".into());
        }
    }
}

fn advert_int(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &INSTANCE) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.01, 255.0) {
            r.advert_us = Some((us, w.loc.clone()));
        }
    }
}

fn version(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "2 or 3", &INSTANCE) {
        if let Some(v) = cx.version(w) {
            r.version = Some((v, w.loc.clone()));
        }
    }
}

fn authentication(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        cx.dispatch(&AUTHENTICATION, r, body);
    }
}

fn virtual_ipaddress(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.vip(r, line);
        }
    }
}

/// `virtual_routes { ROUTE... }`: one route per line, in `ip route`'s words.
fn virtual_routes(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    let routes = cx.word_lines(s, &INSTANCE, crate::config::route::parse);
    r.virtual_routes.extend(routes);
}

fn nopreempt(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.nopreempt = Some(s.keyword().loc.clone());
}

/// keepalived's `check_unicast_src`: havip's default already, kept explicit.
fn check_unicast_src(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.no_check_unicast_src = None;
}

/// havip's extension: accept unicast adverts from any source (warned at completion).
fn no_check_unicast_src(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.no_check_unicast_src = Some(s.keyword().loc.clone());
}

fn preempt(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.nopreempt = None;
}

fn preempt_delay(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &INSTANCE) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.0, 1000.0) {
            r.preempt_delay = Some((us, s.keyword().loc.clone()));
        }
    }
}

fn garp_master_delay(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &INSTANCE) {
        r.garp_delay = cx
            .unsigned(w, &s.keyword().text, 0, 86400)
            .map(Duration::from_secs);
    }
}

fn garp_master_repeat(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &INSTANCE) {
        r.garp_repeat = cx.unsigned(w, &s.keyword().text, 0, 255).map(|v| v as u32);
    }
}

fn garp_lower_prio_delay(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &INSTANCE) {
        r.garp_lower_prio_delay = cx
            .unsigned(w, &s.keyword().text, 0, 86400)
            .map(Duration::from_secs);
    }
}

fn garp_lower_prio_repeat(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &INSTANCE) {
        r.garp_lower_prio_repeat = cx.unsigned(w, &s.keyword().text, 0, 255).map(|v| v as u32);
    }
}

fn garp_master_refresh(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &INSTANCE) {
        r.garp_refresh = cx
            .unsigned(w, &s.keyword().text, 0, 86400)
            .map(|v| (v > 0).then(|| Duration::from_secs(v)));
    }
}

fn garp_master_refresh_repeat(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count", &INSTANCE) {
        r.garp_refresh_repeat = cx.unsigned(w, &s.keyword().text, 1, 255).map(|v| v as u32);
    }
}

/// `unicast_src_ip` and `mcast_src_ip`: both set the advert source.
fn unicast_src(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if let Some(w) = cx.arg(s, "an IP address", &INSTANCE) {
        if let Some(a) = cx.addr(w, kw) {
            if cx.family(r, a, w, kw) {
                r.unicast_src = Some((a, w.loc.clone()));
            }
        }
    }
}

fn unicast_peer(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.peer(r, line);
        }
    }
}

fn track_interface(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.track_interface(r, line);
        }
    }
}

/// `track_script` and `track_process`: scripts and tracked processes are checks of one name
/// space.
fn track_script(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.track_script(r, line);
        }
    }
}

/// `track_file { NAME [weight W] }`: files defined above by `track_file NAME { ... }`.
fn track_file(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.track_file(r, line);
        }
    }
}

/// `track_bfd { NAME [weight W] }`: sessions defined above by `bfd_instance NAME { ... }`.
fn track_bfd(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &INSTANCE);
        for line in body {
            cx.track_bfd(r, line);
        }
    }
}

/// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop` and `notify`.
fn notify(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(cmd) = cx.notify(s) {
        *notify_slot(&mut r.notify, &s.keyword().text) = Some(cmd);
    }
}

fn accept(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.no_accept = None;
    r.accept = super::args::loc(s.keyword());
}

/// Where it was written: `check::finish` warns of it on the address owner, where it changes
/// nothing.
fn no_accept(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    r.no_accept = super::args::loc(s.keyword());
    r.accept = None;
}

fn native_ipv6(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.flag(s, &INSTANCE);
    if r.v6 == Some(false) {
        cx.err(
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

/// `use_vmac [NAME]`: the virtual MAC, which havip keeps in XDP on the instance's own
/// interface; keepalived's macvlan interface NAME is not made. A MAC of its own (keepalived
/// tells it from a name by its `:`) is refused: the RFC's is the point.
fn use_vmac(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.no_block(s);
    cx.extra(s, 1, &INSTANCE);
    if let Some(w) = s.args().first() {
        if w.text.contains(':') {
            cx.err(
                Diagnostic::error(
                    loc(w),
                    format!("use_vmac {}: a MAC of its own is not supported", w.text),
                )
                .found(w.text.clone())
                .expected("use_vmac [NAME]")
                .hint("havip's virtual MAC is the RFC's, 00:00:5e:00:01:VRID; remove the MAC"),
            );
            return;
        }
        cx.err(
            Diagnostic::warning(loc(w), format!("use_vmac {}: havip makes no interface of that name: the virtual MAC lives in XDP on the instance's interface", w.text))
                .hint("a track_interface, script or firewall rule naming it will not find it; keepalived's vrrp.VRID-style interface is what havip does without"),
        );
    }
    r.use_vmac = super::args::loc(s.keyword());
}

/// keepalived's per-instance override of `vrrp_strict` (both ways): see `complete.rs`.
fn strict_mode(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(b) = cx.bool_arg(s, &INSTANCE) {
        r.strict_mode = Some(b);
    }
}

fn auth_type(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    cx.no_block(s);
    let Some(w) = s.args().first() else {
        cx.err(Diagnostic::error(loc(s.keyword()), "auth_type needs a value").expected("PASS"));
        return;
    };
    r.auth_type_given = true;
    match w.text.as_str() {
        "PASS" => r.auth_type = Some(w.loc.clone()),
        "AH" => cx.err(
            Diagnostic::error(loc(w), "havip does not support auth_type AH")
                .found("AH")
                .expected("PASS, or no authentication")
                .hint("IPsec AH authentication is obsolete (RFC 3768 removed it) and not implemented; keepalived peers must change too"),
        ),
        other => cx.err(
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
        cx.extra(s, 1, &AUTHENTICATION);
    }
}

fn auth_pass(cx: &mut Cx<'_>, r: &mut RawInstance, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a password", &AUTHENTICATION) {
        r.auth_pass = Some((w.text.clone(), w.loc.clone()));
    }
}

impl Cx<'_> {
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
                            .hint("a VIP is on its instance's interface: write use_vmac in the vrrp_instance"),
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
        let (mut min, mut max) = (0u8, 255u8);
        let mut i = 0;
        while i < args.len() {
            let o = &args[i];
            match o.text.as_str() {
                kw @ ("min_ttl" | "max_ttl") => {
                    let Some(v) = args.get(i + 1) else {
                        self.err(
                            Diagnostic::error(loc(o), format!("{kw} needs a value"))
                                .expected("0 to 255"),
                        );
                        return;
                    };
                    let Some(t) = self.unsigned(v, kw, 0, 255) else {
                        return;
                    };
                    if kw == "min_ttl" {
                        min = t as u8;
                    } else {
                        max = t as u8;
                    }
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
        if min > max {
            self.err(
                Diagnostic::error(
                    loc(w),
                    format!("unicast peer {a}: min_ttl {min} is above max_ttl {max}"),
                )
                .hint("swap them: no advert from this peer could pass"),
            );
            return;
        }
        if (min, max) != (0, 255) {
            r.peer_ttl.push((a, min, max));
        }
        r.unicast_peers.push((a, w.loc.clone()));
    }

    /// `NAME [weight N [reverse|noreverse]]`: the weight, if any; `Err` when refused.
    pub(super) fn weighted(
        &mut self,
        line: &Stmt,
        what: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i32>, ()> {
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

    pub(super) fn track_interface(&mut self, r: &mut RawInstance, line: &Stmt) {
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

    pub(super) fn track_file(&mut self, r: &mut RawInstance, line: &Stmt) {
        self.no_block(line);
        let Ok(weight) = self.weighted(line, "track_file", -254, 254) else {
            return;
        };
        let name = &line.keyword().text;
        if !self.files_so_far.contains(name) {
            self.err(
                Diagnostic::error(loc(line.keyword()), format!("track_file {name}: no track_file block of that name above"))
                    .found(name.clone())
                    .hint("define it before the instance with track_file NAME { file /path }: keepalived 2.2.7 looks it up when it reads the instance and ignores it otherwise (\"track file NAME not found, ignoring...\")"),
            );
            return;
        }
        if r.track_files.iter().any(|(n, _)| n == name) {
            self.err(
                Diagnostic::warning(
                    loc(line.keyword()),
                    format!("duplicate track_file {name} is ignored, as keepalived does"),
                )
                .hint("remove it"),
            );
            return;
        }
        r.track_files.push((name.clone(), weight));
    }

    pub(super) fn track_script(&mut self, r: &mut RawInstance, line: &Stmt) {
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
}
