//! A stable text rendering of a [`DaemonSpec`]: what `havip check-config --print` shows and what
//! the golden tests compare, so that any change of the model shows up in a diff.

use std::fmt::Write as _;

use crate::model::{BackupRoute, BgpMode, DaemonSpec, NotifySpec};

/// Every field of the spec that a config file sets, one per line.
pub fn render(spec: &DaemonSpec) -> String {
    let mut o = String::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(o, "router_id: {}", opt(&spec.router_id));
    let _ = writeln!(o, "script_security: {}", spec.script_security);
    let _ = writeln!(o, "script_user: {}", opt(&spec.script_user));
    if let Some(p) = spec.rt_priority {
        let _ = writeln!(o, "rt_priority: {p}");
    }
    if spec.mlock {
        let _ = writeln!(o, "mlock: true");
    }
    if let Some(p) = spec.bfd_rt_priority {
        let _ = writeln!(o, "bfd_rt_priority: {p}");
    }
    for f in &spec.notify_fifos {
        let owner = match (&f.user, &f.group) {
            (Some(u), Some(g)) => format!(" owner {u}:{g}"),
            (Some(u), None) => format!(" owner {u}"),
            _ => String::new(),
        };
        let _ = writeln!(o, "notify_fifo: {}{owner}", f.path.display());
    }
    if spec.fifo_states_on_reload {
        let _ = writeln!(o, "fifo_states_on_reload: true");
    }
    for a in &spec.static_addresses {
        let label = a
            .addr
            .label
            .as_ref()
            .map_or(String::new(), |l| format!(" label {l}"));
        let _ = writeln!(o, "static_address: {} dev {}{label}", a.addr, a.dev);
    }
    for route in &spec.static_routes {
        let _ = writeln!(o, "static_route: {route}");
    }
    for rule in &spec.static_rules {
        let _ = writeln!(o, "static_rule: {rule}");
    }
    if let Some(ns) = &spec.net_namespace {
        let _ = writeln!(o, "net_namespace: {ns}");
    }
    if let Some(d) = spec.startup_delay {
        let _ = writeln!(o, "startup_delay: {d:?}");
    }
    for (what, s) in [
        ("startup_script", &spec.startup_script),
        ("shutdown_script", &spec.shutdown_script),
    ] {
        if let Some(s) = s {
            let _ = writeln!(o, "{what}: {} (timeout {:?})", s.command, s.timeout);
        }
    }
    for i in &spec.instances {
        let _ = writeln!(o, "instance {}", i.name);
        let _ = writeln!(o, "  interface: {}", i.iface);
        for v in &i.vips {
            match &v.label {
                Some(l) => {
                    let _ = writeln!(o, "  vip: {v} label {l}");
                }
                None => {
                    let _ = writeln!(o, "  vip: {v}");
                }
            }
        }
        if i.bgp_announce {
            let _ = writeln!(o, "  bgp_announce: true");
        }
        let Some(r) = &i.vrrp else {
            let _ = writeln!(o, "  static owner (no election)");
            continue;
        };
        let _ = writeln!(o, "  vrid: {}", r.vrid);
        let _ = writeln!(o, "  priority: {}", r.priority);
        let _ = writeln!(o, "  version: {:?}", r.version);
        let _ = writeln!(o, "  advert_interval: {}", r.advert_interval);
        let auth = match &r.auth {
            None => "none".to_string(),
            Some(a) => format!(
                "PASS {:?}",
                String::from_utf8_lossy(a).trim_end_matches('\0')
            ),
        };
        let _ = writeln!(o, "  auth: {auth}");
        let _ = writeln!(o, "  start_as: {:?}", r.start_as);
        let _ = writeln!(o, "  preempt: {}", r.preempt);
        let _ = writeln!(o, "  preempt_delay: {:?}", r.preempt_delay);
        if r.lower_prio_no_advert {
            let _ = writeln!(o, "  lower_prio_no_advert: true");
        }
        if r.down_timer_adverts != 3 {
            let _ = writeln!(o, "  down_timer_adverts: {}", r.down_timer_adverts);
        }
        if !r.accept {
            let _ = writeln!(o, "  accept: false");
        }
        if r.use_vmac {
            let _ = writeln!(o, "  use_vmac: true (xmit_base: {})", r.vmac_xmit_base);
        }
        let _ = writeln!(o, "  checksum: {:?}", r.checksum);
        let g = &r.garp;
        let _ = writeln!(
            o,
            "  garp: delay {:?}, repeat {}, refresh {}, refresh_repeat {}, interval {:?}",
            g.delay,
            g.repeat,
            g.refresh
                .map(|d| format!("{d:?}"))
                .unwrap_or_else(|| "off".into()),
            g.refresh_repeat,
            g.interval
        );
        if g.lower_prio_delay.is_some() || g.lower_prio_repeat.is_some() {
            let _ = writeln!(
                o,
                "  garp_lower_prio: delay {:?}, repeat {}",
                g.lower_prio_delay(),
                g.lower_prio_repeat()
            );
        }
        if let Some(s) = r.unicast_src {
            let _ = writeln!(o, "  unicast_src: {s}");
        }
        for p in &r.unicast_peers {
            match r.peer_ttl.iter().find(|(a, ..)| a == p) {
                Some((_, min, max)) => {
                    let _ = writeln!(o, "  unicast_peer: {p} ttl {min}..={max}");
                }
                None => {
                    let _ = writeln!(o, "  unicast_peer: {p}");
                }
            }
        }
        if r.unicast_ttl != 255 {
            let _ = writeln!(o, "  unicast_ttl: {}", r.unicast_ttl);
        }
        for (t, w) in &r.track_interfaces {
            let _ = writeln!(o, "  track_interface: {t} weight {w}");
        }
        for (kw, list, own) in [
            ("track_script", &r.track_scripts, "script"),
            ("track_file", &r.track_files, "file"),
            ("track_bfd", &r.track_bfds, "session"),
        ] {
            for (t, w) in list {
                match w {
                    Some(w) => {
                        let _ = writeln!(o, "  {kw}: {t} weight {w}");
                    }
                    None => {
                        let _ = writeln!(o, "  {kw}: {t} (the {own}'s weight)");
                    }
                }
            }
        }
        if r.fast_takeover {
            let _ = writeln!(o, "  fast_takeover: true");
        }
        for route in &r.virtual_routes {
            let _ = writeln!(o, "  virtual_route: {route}");
        }
        if let Some(g) = r.mcast_group {
            let _ = writeln!(o, "  mcast_group: {g}");
        }
        for rule in &r.virtual_rules {
            let _ = writeln!(o, "  virtual_rule: {rule}");
        }
        notify(&mut o, &r.notify);
    }
    for s in &spec.scripts {
        let _ = writeln!(o, "script {}", s.name);
        match &s.process {
            None => {
                let _ = writeln!(o, "  command: {:?}", s.script);
            }
            Some(p) => {
                let max = if p.quorum_max == u32::MAX {
                    "-".to_string()
                } else {
                    p.quorum_max.to_string()
                };
                let _ = writeln!(
                    o,
                    "  process: {:?} params {:?} ({:?}), full_command {}, quorum {}, quorum_max {max}, fork_delay {:?}, terminate_delay {:?}",
                    p.name, p.params, p.param_match, p.full_command, p.quorum, p.fork_delay, p.terminate_delay
                );
            }
        }
        let _ = writeln!(
            o,
            "  interval {:?}, timeout {:?}, weight {}, rise {}, fall {}, user {}",
            s.interval,
            s.timeout,
            s.weight,
            s.rise,
            s.fall,
            opt(&s.user)
        );
    }
    for f in &spec.track_files {
        let _ = writeln!(o, "track_file {}", f.name);
        let _ = writeln!(o, "  path: {}, weight {}", f.path.display(), f.weight);
        if let Some(i) = f.init {
            let _ = writeln!(o, "  init_file: {} (overwrite: {})", i.value, i.overwrite);
        }
    }
    for b in &spec.bfds {
        let _ = writeln!(o, "bfd {}", b.name);
        let source = b.source.map_or("-".to_string(), |s| s.to_string());
        let _ = writeln!(o, "  neighbor: {}, source: {source}", b.neighbor);
        let _ = writeln!(
            o,
            "  min_rx {:?}, min_tx {:?}, idle_tx {:?}, multiplier {}, passive {}",
            b.min_rx, b.min_tx, b.idle_tx, b.multiplier, b.passive
        );
        let _ = writeln!(
            o,
            "  ttl {}, max_hops {}, weight {}",
            b.ttl, b.max_hops, b.weight
        );
    }
    if let Some(b) = &spec.bgp {
        let _ = writeln!(o, "bgp");
        let router_id = b.router_id.map_or("-".to_string(), |r| r.to_string());
        let _ = writeln!(o, "  local_as: {}, router_id: {router_id}", b.local_as);
        let mode = match b.mode {
            BgpMode::ActiveStandby => "active-standby",
            BgpMode::Anycast => "anycast",
        };
        let backup = match b.backup {
            BackupRoute::Withdraw => "withdraw".to_string(),
            BackupRoute::Prepend(n) => format!("prepend {n}"),
            BackupRoute::Med(m) => format!("med {m}"),
        };
        let _ = writeln!(
            o,
            "  mode: {mode}, backup: {backup}, hold_time: {}",
            b.hold_time
        );
        if !b.communities.is_empty() {
            let c: Vec<String> = b
                .communities
                .iter()
                .map(|(a, v)| format!("{a}:{v}"))
                .collect();
            let _ = writeln!(o, "  communities: {}", c.join(", "));
        }
        let _ = writeln!(
            o,
            "  bfd: min_rx {:?}, min_tx {:?}, multiplier {}",
            b.bfd.min_rx, b.bfd.min_tx, b.bfd.multiplier
        );
        let _ = writeln!(o, "  bird: {}", b.bird.display());
        for n in &b.neighbors {
            let source = n.source.map_or("-".to_string(), |s| s.to_string());
            let _ = writeln!(
                o,
                "  neighbor {}: remote_as {}, bfd {}, source {source}",
                n.addr, n.remote_as, n.bfd
            );
        }
    }
    for g in &spec.sync_groups {
        let _ = writeln!(o, "sync_group {}", g.name);
        let _ = writeln!(o, "  instances: {}", g.instances.join(", "));
        notify(&mut o, &g.notify);
    }
    o
}

fn notify(o: &mut String, n: &NotifySpec) {
    for (what, cmd) in [
        ("master", &n.master),
        ("backup", &n.backup),
        ("fault", &n.fault),
        ("stop", &n.stop),
        ("any", &n.any),
        ("master_rx_lower_pri", &n.master_rx_lower_pri),
    ] {
        if let Some(c) = cmd {
            let _ = writeln!(o, "  notify_{what}: {c:?}");
        }
    }
    if n.priority_changes {
        let _ = writeln!(o, "  notify_priority_changes: true");
    }
}
