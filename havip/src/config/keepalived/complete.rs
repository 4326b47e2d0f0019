//! Completion: keepalived's `vrrp_complete_instance()` — defaults, corrections and their
//! warnings — turns each [`RawInstance`] into a [`Draft`], and the whole file into the
//! [`DaemonSpec`] that the checks common to both formats then finish.

use std::time::Duration;

use super::args::{loc, Cx};
use super::global_defs::Globals;
use super::instance::RawInstance;
use super::Top;
use crate::config::check::{self, Draft, GroupAt};
use crate::config::diag::{Diagnostic, Location};
use crate::model::{
    DaemonSpec, InstanceSpec, LifeScript, NotifySpec, SyncGroupSpec, VrrpSpec, LIFE_SCRIPT_TIMEOUT,
};
use crate::vrrp::{Centis, GarpConfig, StartState, Version};

/// What the top level read → the spec; `any_instance` says whether the file wrote a
/// `vrrp_instance` at all (valid or not), `file` names it for the problems of the whole file.
pub(super) fn spec(cx: &mut Cx<'_>, top: Top, any_instance: bool, file: &str) -> DaemonSpec {
    let Top {
        globals,
        instances: raws,
        scripts,
        files,
        groups,
        bfds,
        bgp,
    } = top;
    let written: Vec<String> = raws.iter().map(|r| r.name.text.clone()).collect();
    let defined: std::collections::HashMap<&str, &Location> = scripts
        .iter()
        .map(|(s, at)| (s.name.as_str(), at))
        .collect();
    for (name, at) in std::mem::take(&mut cx.early_tracks) {
        if let Some(def) = defined.get(name.as_str()) {
            cx.err(
                Diagnostic::error(Some(at), format!("track_script {name}: vrrp_script {name} is defined below, at {def}"))
                    .found(name.clone())
                    .hint(format!(
                        "keepalived 2.2.7 looks the script up when it reads track_script and ignores it (\"track script {name} not found, ignoring...\"); move vrrp_script {name} above the instance"
                    )),
            );
        }
    }
    let drafts: Vec<Draft> = raws
        .into_iter()
        .filter_map(|r| cx.complete(r, &globals))
        .collect();
    let g = &globals;
    let mut spec = DaemonSpec::new(Vec::new());
    spec.router_id = g.router_id.clone();
    spec.script_security = g.script_security;
    spec.script_user = g.script_user.clone();
    spec.rt_priority = g.rt_priority;
    spec.bfd_rt_priority = g.bfd_rt_priority;
    // keepalived's checker-only sessions are its checkers', which havip does not replace.
    spec.bfds = bfds
        .into_iter()
        .filter_map(|(b, vrrp)| vrrp.then_some(b))
        .collect();
    let bgp_at = bgp.as_ref().map(|b| b.at.clone());
    spec.bgp = bgp.and_then(|b| b.spec);
    spec.mlock = g.no_swap;
    spec.notify_fifos = g.notify_fifos.clone();
    spec.fifo_states_on_reload = g.fifo_states_on_reload;
    let life = |command: &Option<String>, timeout: Option<Duration>| {
        command.clone().map(|command| LifeScript {
            command,
            timeout: timeout.unwrap_or(LIFE_SCRIPT_TIMEOUT),
        })
    };
    spec.track_files = files;
    spec.startup_delay = g.startup_delay;
    spec.net_namespace = g.net_namespace.clone();
    spec.static_addresses = g.static_addresses.clone();
    spec.static_routes = g.static_routes.clone();
    spec.static_rules = g.static_rules.clone();
    spec.startup_script = life(&g.startup_script, g.startup_timeout);
    spec.shutdown_script = life(&g.shutdown_script, g.shutdown_timeout);
    cx.diags.script_at = scripts
        .iter()
        .map(|(s, at)| (s.name.clone(), at.clone()))
        .collect();
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
        bgp_at.as_ref(),
        cx.diags,
    )
}

impl Cx<'_> {
    /// keepalived's `vrrp_complete_instance()`: defaults and corrections, then the spec.
    pub(super) fn complete(&mut self, r: RawInstance, globals: &Globals) -> Option<Draft> {
        let name = r.name.text.clone();
        let at = r.name.loc.clone();
        // keepalived: `strict_mode` overrides `vrrp_strict` either way.
        let strict = r.strict_mode.unwrap_or(globals.strict);
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
        if let Some((a, at)) = &r.mcast_dst {
            if a.is_ipv6() != v6 {
                self.err(
                    Diagnostic::error(
                        Some(at.clone()),
                        format!(
                            "mcast_dst_ip {a}: instance {name} is {}",
                            if v6 { "IPv6" } else { "IPv4" }
                        ),
                    )
                    .expected("a multicast address of the instance's family"),
                );
                return None;
            }
        }
        // The group adverts go to, unless it is the RFC's.
        let mcast_group = r
            .mcast_dst
            .as_ref()
            .map(|g| g.0)
            .or(if v6 {
                globals.mcast_group6
            } else {
                globals.mcast_group4
            })
            .filter(|a| {
                *a != std::net::IpAddr::from(crate::wire::vrrp::MULTICAST_V4)
                    && *a != std::net::IpAddr::from(crate::wire::vrrp::MULTICAST_V6)
            });
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
        let mut start_as = match explicit_state {
            Some(s) => s,
            None if priority == 255 => StartState::Master,
            None => StartState::Backup,
        };
        // Strict mode (keepalived's `vrrp_complete_instance()`): MASTER is the address
        // owner's state, and only its.
        if strict && (start_as == StartState::Master) != (priority == 255) {
            let fixed = if priority == 255 {
                StartState::Master
            } else {
                StartState::Backup
            };
            let sat = r.state.as_ref().map(|s| s.1.clone()).unwrap_or(at.clone());
            self.err(
                Diagnostic::warning(Some(sat), format!("instance {name}: strict mode: state must match being the address owner; starting as {} (priority {priority}), as keepalived does (\"State MASTER must match being address owner\")", if fixed == StartState::Master { "MASTER" } else { "BACKUP" }))
                    .hint("write state MASTER with priority 255 only, or leave strict mode"),
            );
            start_as = fixed;
        }
        if let Some(at) = &r.no_check_unicast_src {
            self.err(
                Diagnostic::warning(Some(at.clone()), format!("instance {name}: no_check_unicast_src: adverts from any source are accepted, so any host that can reach this one can take the VIPs over"))
                    .hint("list every peer in unicast_peer and remove no_check_unicast_src"),
            );
        }
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
            } else if strict {
                self.err(
                    Diagnostic::warning(Some(pat.clone()), format!("instance {name}: preempt_delay is incompatible with strict mode: cleared, as keepalived does"))
                        .hint("remove preempt_delay, or strict mode"),
                );
            } else {
                preempt_delay = Duration::from_micros(*us);
            }
        }
        let mut version = r
            .version
            .as_ref()
            .map(|v| v.0)
            .or(globals.version)
            .unwrap_or(Version::V2);
        if v6 && version == Version::V2 {
            if let Some((_, vat)) = r.version.as_ref().filter(|_| strict) {
                self.err(
                    Diagnostic::warning(Some(vat.clone()), format!("instance {name}: strict mode: IPv6 cannot use VRRP version 2; version 3 is used, as keepalived does"))
                        .hint("write version 3"),
                );
            } else if let Some((_, vat)) = &r.version {
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
        if strict && auth.is_some() {
            self.err(
                Diagnostic::warning(auth_at.clone(), format!("instance {name}: strict mode does not support authentication: it is ignored, as keepalived does"))
                    .hint("remove the authentication block, or strict mode"),
            );
            auth = None;
        }
        if strict && !r.unicast_peers.is_empty() {
            self.err(
                Diagnostic::warning(r.unicast_peers.first().map(|p| p.1.clone()), format!("instance {name}: strict mode forbids unicast peers (keepalived's manual), but keepalived 2.2.7 runs them (keepalived issue #2645), and so does havip"))
                    .hint("use multicast, or leave strict mode"),
            );
        }
        if strict && v6 && r.unicast_peers.is_empty() {
            if let Some((first, fat, _)) = r.vips.first() {
                if !matches!(first.addr, std::net::IpAddr::V6(a) if a.is_unicast_link_local()) {
                    self.err(
                        Diagnostic::warning(Some(fat.clone()), format!("instance {name}: strict mode: the first IPv6 VIP must be link-local (RFC 9568), as keepalived says; it runs all the same"))
                            .hint("list a link-local address (fe80::...) first"),
                    );
                }
            }
        }
        let g = globals;
        let defaults = GarpConfig::default();
        let mut garp = GarpConfig {
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
            // Unset: the instance's garp_master_* values, keepalived's default. Strict mode:
            // none (below).
            lower_prio_delay: r.garp_lower_prio_delay.or(g.garp_lower_prio_delay),
            lower_prio_repeat: r.garp_lower_prio_repeat.or(g.garp_lower_prio_repeat),
        };
        let mut lower_prio_no_advert = r.lower_prio_no_advert.unwrap_or(g.lower_prio_no_advert);
        let mut down_timer_adverts = r.down_timer_adverts.or(g.down_timer_adverts).unwrap_or(3);
        if strict {
            // keepalived resets these, with a warning when the instance wrote them.
            for (written, what) in [
                (
                    r.garp_lower_prio_repeat.is_some_and(|n| n != 0),
                    "garp_lower_prio_repeat (no repeat GARPs)",
                ),
                (
                    r.garp_lower_prio_delay.is_some_and(|d| !d.is_zero()),
                    "garp_lower_prio_delay (no repeat GARP delay)",
                ),
                (
                    r.lower_prio_no_advert == Some(false),
                    "lower_prio_no_advert off (no advert to a lower priority)",
                ),
                (down_timer_adverts != 3, "down_timer_adverts other than 3"),
            ] {
                if written {
                    self.err(
                        Diagnostic::warning(
                            Some(at.clone()),
                            format!(
                                "instance {name}: strict mode: {what} is reset, as keepalived does"
                            ),
                        )
                        .hint("remove it, or strict mode"),
                    );
                }
            }
            garp.lower_prio_repeat = Some(0);
            garp.lower_prio_delay = Some(Duration::ZERO);
            lower_prio_no_advert = true;
            down_timer_adverts = 3;
        }
        // use_vmac, in XDP. keepalived uses the base interface for unicast adverts (they are
        // not the LAN's to learn from); strict mode resets vmac_xmit_base.
        let mut vmac_xmit_base = r.vmac_xmit_base.is_some();
        if r.use_vmac.is_some() {
            if strict && vmac_xmit_base {
                self.err(
                    Diagnostic::warning(r.vmac_xmit_base.clone(), format!("instance {name}: vmac_xmit_base is incompatible with strict mode: reset, as keepalived does"))
                        .hint("remove vmac_xmit_base, or strict mode"),
                );
                vmac_xmit_base = false;
            }
        } else if let Some(xat) = &r.vmac_xmit_base {
            self.err(
                Diagnostic::warning(
                    Some(xat.clone()),
                    format!("instance {name}: vmac_xmit_base without use_vmac changes nothing"),
                )
                .hint("remove it, or add use_vmac"),
            );
        }
        // RFC 9568 Accept_Mode. keepalived's default: on, except in strict mode below priority
        // 255; strict VRRPv2 below 255 has it off whatever was written (RFC 3768 has no
        // Accept_Mode: a backup that took over never accepts).
        let mut accept = match (&r.no_accept, &r.accept) {
            (Some(_), _) => false,
            (None, Some(_)) => true,
            (None, None) => priority == 255 || !strict,
        };
        if strict && accept && version == Version::V2 && priority != 255 {
            self.err(
                Diagnostic::warning(r.accept.clone(), format!("instance {name}: strict mode: accept mode for VRRP version 2 does not comply with RFC 3768: reset, traffic to the VIPs is dropped while master, as keepalived does"))
                    .hint("remove accept, or use version 3"),
            );
            accept = false;
        }
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
            check_unicast_src: r.no_check_unicast_src.is_none(),
            track_interfaces: r
                .track_interfaces
                .iter()
                .map(|t| (t.0.clone(), t.1))
                .collect(),
            track_scripts: r.track_scripts.iter().map(|t| (t.0.clone(), t.1)).collect(),
            track_files: r.track_files.clone(),
            track_bfds: r.track_bfds.clone(),
            fast_takeover: r.fast_takeover.is_some(),
            lower_prio_no_advert,
            down_timer_adverts,
            unicast_ttl: r.unicast_ttl.unwrap_or(255),
            peer_ttl: r.peer_ttl.clone(),
            virtual_routes: r.virtual_routes.clone(),
            virtual_rules: r.virtual_rules.clone(),
            mcast_group,
            accept,
            use_vmac: r.use_vmac.is_some(),
            vmac_xmit_base,
            notify: NotifySpec {
                priority_changes: r
                    .notify_priority_changes
                    .unwrap_or(g.notify_priority_changes),
                ..r.notify.clone()
            },
            ..VrrpSpec::new(vrid, priority)
        };
        Some(Draft {
            spec: InstanceSpec {
                name,
                iface,
                vips: r.vips.iter().map(|v| v.0.clone()).collect(),
                vrrp: Some(vrrp),
                bgp_announce: r.bgp_announce.is_some(),
            },
            at,
            vrid_at: Some(vrid_at),
            advert_at,
            vip_at: r.vips.iter().map(|v| v.1.clone()).collect(),
            track_script_at: r.track_scripts.iter().map(|t| t.2.clone()).collect(),
            unicast_src_at: r.unicast_src.as_ref().map(|u| u.1.clone()),
            no_accept_at: r.no_accept.clone().map(|at| (at, "no_accept")),
            fast_takeover_at: r
                .fast_takeover
                .clone()
                .map(|at| (at, "havip_fast_takeover")),
            bgp_announce_at: r.bgp_announce.clone().map(|at| (at, "havip_bgp_announce")),
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
