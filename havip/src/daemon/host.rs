//! The host changing under the node: link and address notifications (rtnetlink) turned into
//! what an operator wants. A VIP another agent removed is added back and announced; an
//! interface without its own address, or deleted, faults its instances until it is back (and a
//! re-created one is re-attached); a new MAC goes into XDP and is announced; a rename is
//! followed by index. Each is logged once and counted in [`HostChanges`]. ARCHITECTURE.md,
//! "The host changing under havip", says why.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use tracing::{debug, error, info, warn};

use super::{
    ifaces::Iface,
    instance::vrid_key,
    node::{vrid_config, vrid_peers},
    Node,
};
use crate::{
    control::HostChanges,
    model::{RouteSpec, RuleSpec, VipSpec},
    net::{
        netlink::{HostEvent, IfAddr, Link},
        sockets::PacketSender,
    },
    wire::EthernetAddress,
};

/// Another agent that removes the VIPs this often (`READD_LIMIT` re-adds within
/// `READD_WINDOW`) is fighting havip (e.g. a network manager reconciling its own config): the
/// instance gives up and enters FAULT rather than flap the VIP forever.
const READD_LIMIT: usize = 5;
const READD_WINDOW: Duration = Duration::from_secs(10);

impl Node {
    /// Why a host change holds VRRP instance `i` in FAULT: its interface is gone, has no
    /// address to send adverts from, or a VIP could not be added.
    pub(super) fn host_fault(&self, i: usize) -> Option<String> {
        let inst = &self.instances[i];
        inst.spec.vrrp.as_ref()?;
        let iface = &self.ifaces[&inst.ifindex];
        if !iface.present && iface.attached_as.is_empty() {
            return Some(format!(
                "interface {} does not exist; havip attaches when it appears",
                iface.configured
            ));
        }
        if !iface.present {
            return Some(format!(
                "interface {} is gone; waiting for it to come back",
                iface.configured
            ));
        }
        if iface.own_addr(inst.is_v6()).is_none() {
            let what = if inst.is_v6() {
                "IPv6 link-local"
            } else {
                "IPv4"
            };
            return Some(format!(
                "interface {} has no {what} address to send adverts from",
                iface.link.name
            ));
        }
        inst.vip_fault.clone()
    }

    /// A change on the host, from rtnetlink (see ARCHITECTURE.md, "The host changing").
    pub(super) async fn on_host(&mut self, ev: HostEvent) {
        match ev {
            HostEvent::Link(link) => self.on_link(link).await,
            HostEvent::LinkGone { index } => self.on_link_gone(index).await,
            HostEvent::Address { index, .. } => {
                if self.ifaces.get(&index).is_some_and(|i| i.present) {
                    self.resync_addresses(index).await;
                }
            }
            HostEvent::RouteGone { dst, table } => self.route_gone(dst, table).await,
            HostEvent::RuleGone { priority } => self.rule_gone(priority).await,
        }
    }

    /// Whether the configuration has routes or rules of its own to keep (virtual ones of the
    /// instances, static ones): only then are route and rule deletions followed.
    pub(super) fn has_routing(&self) -> bool {
        !self.start_only.static_routes.is_empty()
            || !self.start_only.static_rules.is_empty()
            || self.instances.iter().any(|i| {
                i.spec
                    .vrrp
                    .as_ref()
                    .is_some_and(|v| !v.virtual_routes.is_empty() || !v.virtual_rules.is_empty())
            })
    }

    /// Another agent deleted a route (the kernel says which destination and table): one of
    /// a master's virtual routes, or a static route, is added back, as keepalived 2.2.7 does
    /// (seen: `ip route del` of its virtual route, back within a second, the instance still
    /// MASTER). havip's own removals come from instances that no longer own their VIPs.
    async fn route_gone(&mut self, dst: (IpAddr, u8), table: u32) {
        let ours =
            |r: &&RouteSpec| (r.dest, r.prefix_len) == dst && r.table.unwrap_or(254) == table;
        let mut wanted: Vec<(String, RouteSpec)> = Vec::new();
        for inst in self.instances.iter().filter(|i| i.owned) {
            if let Some(v) = &inst.spec.vrrp {
                for r in v.virtual_routes.iter().filter(ours) {
                    wanted.push((inst.spec.name.clone(), r.clone()));
                }
            }
        }
        for r in self.start_only.static_routes.iter().filter(ours) {
            wanted.push(("static_routes".into(), r.clone()));
        }
        for (owner, route) in wanted {
            match super::instance::add_route(&self.nl, &route).await {
                Ok(true) => warn!(%owner, %route, "route deleted by another agent: added back"),
                Ok(false) => {}
                Err(e) => {
                    warn!(%owner, %route, "route deleted by another agent, not added back: {e:#}")
                }
            }
        }
    }

    /// As [`Node::route_gone`], for policy routing rules (matched by priority).
    async fn rule_gone(&mut self, priority: Option<u32>) {
        let ours = |r: &&RuleSpec| r.priority == priority;
        let mut wanted: Vec<(String, RuleSpec)> = Vec::new();
        for inst in self.instances.iter().filter(|i| i.owned) {
            if let Some(v) = &inst.spec.vrrp {
                for r in v.virtual_rules.iter().filter(ours) {
                    wanted.push((inst.spec.name.clone(), r.clone()));
                }
            }
        }
        for r in self.start_only.static_rules.iter().filter(ours) {
            wanted.push(("static_rules".into(), r.clone()));
        }
        for (owner, rule) in wanted {
            match self.nl.add_rule(&rule).await {
                Ok(true) => warn!(%owner, %rule, "rule deleted by another agent: added back"),
                Ok(false) => {}
                Err(e) => {
                    warn!(%owner, %rule, "rule deleted by another agent, not added back: {e:#}")
                }
            }
        }
    }

    /// The indices of the instances on interface `index`.
    fn instances_on(&self, index: u32) -> Vec<usize> {
        (0..self.instances.len())
            .filter(|&i| self.instances[i].ifindex == index)
            .collect()
    }

    /// An interface appeared or changed: link up or down (its instances enter FAULT: VIPs
    /// released, no adverts; or leave it as backups, as keepalived does), a new MAC (XDP's
    /// answers and the GARPs carry it from now on), a new name (followed by index), or the
    /// return of a deleted interface under its configured name (re-attached).
    async fn on_link(&mut self, link: Link) {
        let mut changed = self.health.tracked_link_changed(&link);
        let returned = self
            .ifaces
            .iter()
            .find(|(_, i)| !i.present && i.configured == link.name)
            .map(|(&index, _)| index);
        if let Some(old) = returned {
            self.reattach(old, link).await;
            return;
        }
        let Some(iface) = self.ifaces.get_mut(&link.index).filter(|i| i.present) else {
            if changed {
                self.apply_health_all().await;
            }
            return;
        };
        if iface.link.name != link.name {
            info!(from = %iface.link.name, to = %link.name, "interface renamed: havip follows it by its index");
            iface.changes.renamed += 1;
            iface.link.name = link.name.clone();
        }
        let mac_changed = link.mac != [0; 6] && iface.link.mac != link.mac;
        if mac_changed {
            warn!(
                iface = %iface.link.name,
                from = %EthernetAddress(iface.link.mac),
                to = %EthernetAddress(link.mac),
                "MAC address changed: XDP answers with the new one, and owned VIPs are announced again"
            );
            iface.changes.mac_changed += 1;
            iface.link.mac = link.mac;
        }
        if iface.link.up != link.up {
            iface.link.up = link.up;
            changed = true;
            if link.up {
                info!(iface = %iface.link.name, "link up: instances leave FAULT");
            } else {
                warn!(iface = %iface.link.name, "link down: instances enter FAULT");
            }
        }
        if link.up && changed {
            // The host changed: a VIP that could not be added may be addable now.
            for i in self.instances_on(link.index) {
                self.instances[i].vip_fault = None;
            }
        }
        if mac_changed {
            for i in self.instances_on(link.index) {
                let owned = self.instances[i].owned;
                if let Err(e) = self.declare_vips(i, owned) {
                    error!(instance = %self.instances[i].spec.name, "writing the new MAC into XDP: {e:#}");
                }
                if owned {
                    let vips: Vec<IpAddr> =
                        self.instances[i].spec.vips.iter().map(|v| v.addr).collect();
                    if let Err(e) = self.send_garps(i, &vips) {
                        warn!(instance = %self.instances[i].spec.name, "announcing the new MAC: {e:#}");
                    }
                }
            }
        }
        if changed {
            self.apply_health_all().await;
        }
    }

    /// An interface was deleted (or moved to another namespace): its instances enter FAULT
    /// (the backup takes over), its sockets close, and XDP forgets it, until an interface of
    /// the configured name appears.
    async fn on_link_gone(&mut self, index: u32) {
        self.health.tracked_link_gone(index);
        let Some(iface) = self.ifaces.get_mut(&index).filter(|i| i.present) else {
            self.apply_health_all().await;
            return;
        };
        warn!(
            iface = %iface.link.name,
            index,
            "interface deleted: its instances enter FAULT; havip re-attaches when an interface named {} appears",
            iface.configured
        );
        iface.present = false;
        iface.link.up = false;
        iface.changes.deleted += 1;
        iface.close_sockets();
        // Its addresses went with it; a successor's are read when it appears.
        iface.primary_v4 = None;
        iface.link_local = None;
        let attached_as = iface.attached_as.clone();
        self.apply_health_all().await;
        if let Err(e) = self.forget_xdp(index) {
            warn!(iface = %attached_as, "forgetting the XDP attachment: {e:#}");
        }
        for i in self.instances_on(index) {
            if let Err(e) = self.forget_entries(i) {
                warn!(instance = %self.instances[i].spec.name, "removing XDP entries: {e:#}");
            }
        }
        // A renamed interface was deleted while another took its configured name meanwhile:
        // no event will announce that one, so look.
        let configured = self.ifaces[&index].configured.clone();
        if let Ok(link) = self.nl.link(&configured).await {
            self.reattach(index, link).await;
        }
    }

    /// Interface `old` was deleted and `link` has its configured name: attach XDP to it, open
    /// its sockets, declare the instances' routers and VIPs under its index; the instances
    /// leave FAULT once it is up with an address.
    async fn reattach(&mut self, old: u32, link: Link) {
        // Read it as start-up does, which refuses what havip cannot serve (no Ethernet address:
        // the notification's fallback carries a zero MAC).
        let link = match self.nl.link(&link.name).await {
            Ok(l) if l.index == link.index => l,
            Ok(_) => return, // Renamed or re-created again meanwhile: its own event follows.
            Err(e) => {
                error!(iface = %link.name, "interface is back but cannot be served: {e:#}; its instances stay in FAULT");
                return;
            }
        };
        let index = link.index;
        if index != old && self.ifaces.get(&index).is_some() {
            // Another interface havip serves (or waits for) had that index: taking it would
            // move that one's instances here.
            error!(iface = %link.name, index, "interface is back under the index of another interface havip serves; its instances stay in FAULT until a reload");
            return;
        }
        let mode = match self.attach_xdp(index, &link.name).await {
            Ok(mode) => mode,
            Err(e) => {
                error!(iface = %link.name, "interface is back but XDP cannot be attached: {e:#}; its instances stay in FAULT");
                return;
            }
        };
        let packet = match PacketSender::open(index) {
            Ok(p) => p,
            Err(e) => {
                error!(iface = %link.name, "interface is back but: {e:#}; its instances stay in FAULT");
                let _ = self.detach_xdp(index).await;
                return;
            }
        };
        let mut iface = self.ifaces.remove(&old).expect("a known interface");
        if iface.attached_as.is_empty() {
            info!(iface = %link.name, index, %mode, "interface appeared: XDP attached, its instances start");
        } else {
            info!(iface = %link.name, old_index = old, index, %mode, "interface is back: XDP re-attached, resuming");
            iface.changes.reattached += 1;
        }
        iface.attached_as = link.name.clone();
        iface.packet = packet;
        iface.link = link;
        iface.present = true;
        self.ifaces.insert(index, iface);
        let advert_path = self.advert_path;
        for i in self.instances_on(old) {
            self.instances[i].ifindex = index;
            self.instances[i].vip_fault = None;
            let inst = &self.instances[i];
            if let Some(v) = &inst.spec.vrrp {
                let key = vrid_key(index, v.vrid, inst.is_v6());
                let config = vrid_config(v, advert_path);
                if let Some(Err(e)) = self
                    .dp
                    .as_mut()
                    .map(|dp| dp.set_vrid(key, config, &vrid_peers(v)))
                {
                    error!(instance = %inst.spec.name, "declaring the router to XDP: {e:#}");
                }
            }
            // Not owned, but for a static owner (no election), which resumes at once.
            let declared = if self.instances[i].owned {
                self.own(i).await
            } else {
                self.declare_vips(i, false)
            };
            if let Err(e) = declared {
                error!(instance = %self.instances[i].spec.name, "declaring the VIPs: {e:#}");
            }
        }
        self.resync_addresses(index).await;
        self.apply_health_all().await;
    }

    /// After the host's notifications are followed: an interface absent at start-up that
    /// appeared, or an address added, before they were is taken in now.
    pub(super) async fn catch_up_host(&mut self) {
        let absent: Vec<(u32, String)> = self
            .ifaces
            .iter()
            .filter(|(_, i)| !i.present)
            .map(|(&index, i)| (index, i.configured.clone()))
            .collect();
        for (index, name) in absent {
            if let Ok(Some(link)) = self.nl.find_link(&name).await {
                self.reattach(index, link).await;
            }
        }
        let present: Vec<u32> = self
            .ifaces
            .iter()
            .filter(|(_, i)| i.present)
            .map(|(&index, _)| index)
            .collect();
        for index in present {
            self.resync_addresses(index).await;
        }
    }

    /// An address of interface `index` changed: compares what is there now with what havip
    /// needs. The interface's own address gone: its instances enter FAULT until one returns
    /// (adverts need it as their source); back: they leave FAULT. An owned VIP gone (another
    /// agent removed it): added back at once and announced, or FAULT if it cannot be. Reading
    /// the addresses rather than the event's one makes havip's own removals (already
    /// disowned) and stale events harmless.
    async fn resync_addresses(&mut self, index: u32) {
        let addrs = match self.nl.addresses(index).await {
            Ok(a) => a,
            Err(e) => {
                debug!(index, "listing addresses: {e:#}");
                return;
            }
        };
        let on_iface = self.instances_on(index);
        let uses_v4 = on_iface.iter().any(|&i| !self.instances[i].is_v6());
        let uses_v6 = on_iface.iter().any(|&i| self.instances[i].is_v6());
        let Some(iface) = self.ifaces.get(&index) else {
            return;
        };
        let (v4, ll) = own_addresses(
            &addrs,
            &self.ifaces.vip_addrs,
            iface.primary_v4,
            iface.link_local,
        );
        let name = iface.link.name.clone();
        let lost = (iface.primary_v4.is_some() && v4.is_none())
            || (iface.link_local.is_some() && ll.is_none());
        if lost && self.nl.link(&name).await.is_err() {
            return; // Being deleted: its RTM_DELLINK follows, and says it all.
        }
        let Some(iface) = self.ifaces.get_mut(&index) else {
            return;
        };
        let mut health = false;
        if v4 != iface.primary_v4 {
            if uses_v4 {
                log_source_change(&name, iface.primary_v4.map(IpAddr::V4), v4.map(IpAddr::V4));
                count_source_change(&mut iface.changes, iface.primary_v4.is_some(), v4.is_some());
            }
            iface.primary_v4 = v4;
            health = true;
        }
        if ll != iface.link_local {
            if uses_v6 {
                log_source_change(&name, iface.link_local.map(IpAddr::V6), ll.map(IpAddr::V6));
                count_source_change(&mut iface.changes, iface.link_local.is_some(), ll.is_some());
            }
            iface.link_local = ll;
            health = true;
        }
        if let Err(e) = self.ifaces.open_sockets(index) {
            error!(iface = %name, "opening the VRRP sockets: {e:#}");
        }
        if health {
            for &i in &on_iface {
                let own = self.ifaces[&index].own_addr(self.instances[i].is_v6());
                let inst = &mut self.instances[i];
                inst.vip_fault = None;
                let unicast_src = inst.spec.vrrp.as_ref().and_then(|v| v.unicast_src);
                if let (Some(r), Some(own), None) = (&mut inst.router, own, unicast_src) {
                    r.set_primary_addr(own);
                }
            }
        }
        for &i in &on_iface {
            if !self.instances[i].owned || self.host_fault(i).is_some() {
                continue;
            }
            let primary = self.ifaces[&index].primary_v4.map(IpAddr::V4);
            let missing: Vec<VipSpec> = self.instances[i]
                .spec
                .vips
                .iter()
                .filter(|v| Some(v.addr) != primary && !addrs.iter().any(|a| a.addr == v.addr))
                .cloned()
                .collect();
            let mut readded = Vec::new();
            for vip in missing {
                let name = self.instances[i].spec.name.clone();
                match self
                    .nl
                    .add_address(index, vip.addr, vip.prefix_len, vip.label.as_deref())
                    .await
                {
                    Ok(false) => {}
                    Ok(true) => {
                        warn!(instance = %name, %vip, "VIP removed by another agent: added back and announced");
                        self.iface_mut(index).changes.vip_readded += 1;
                        readded.push(vip.addr);
                    }
                    Err(e) => {
                        error!(instance = %name, %vip, "VIP removed by another agent and cannot be added back: {e:#}; the instance enters FAULT so the backup takes over");
                        self.iface_mut(index).changes.vip_readd_failed += 1;
                        self.instances[i].vip_fault =
                            Some(format!("VIP {vip} cannot be added back: {e:#}"));
                        health = true;
                        break;
                    }
                }
            }
            // One removal of several VIPs (an agent re-applying its configuration once) is one
            // re-add, not one per VIP: the fight is counted in passes.
            if !readded.is_empty() {
                let now = Instant::now();
                let readds = &mut self.instances[i].readds;
                readds.push_back(now);
                while readds.front().is_some_and(|t| now - *t > READD_WINDOW) {
                    readds.pop_front();
                }
                if readds.len() >= READD_LIMIT {
                    readds.clear();
                    let name = &self.instances[i].spec.name;
                    error!(
                        instance = %name,
                        "another agent keeps removing the VIPs ({READD_LIMIT} times in \
                         {READD_WINDOW:?}): the instance enters FAULT so the backup takes \
                         over; tell that agent to leave them alone (systemd-networkd: \
                         KeepConfiguration=yes; NetworkManager: unmanage the interface), \
                         then reload havip"
                    );
                    self.instances[i].vip_fault = Some(format!(
                        "another agent keeps removing the VIPs ({READD_LIMIT} times in \
                         {READD_WINDOW:?})"
                    ));
                    health = true;
                    continue;
                }
                if let Err(e) = self.send_garps(i, &readded) {
                    warn!(instance = %self.instances[i].spec.name, "announcing the VIPs again: {e:#}");
                }
            }
        }
        if health {
            self.apply_health_all().await;
        }
    }

    fn iface_mut(&mut self, index: u32) -> &mut Iface {
        self.ifaces.get_mut(&index).expect("a known interface")
    }
}

/// Logs, once, that an interface's own address of one family (an advert source) went, came
/// back, or changed.
fn log_source_change(iface: &str, old: Option<IpAddr>, new: Option<IpAddr>) {
    match (old, new) {
        (Some(old), None) => warn!(
            %iface, %old,
            "the interface lost its own address: its instances of that family enter FAULT \
             until one returns (adverts need it as their source)"
        ),
        (None, Some(new)) => {
            info!(%iface, %new, "the interface has an address of its own again: its instances leave FAULT")
        }
        (old, new) => {
            info!(%iface, ?old, ?new, "the interface's own address changed: adverts go from the new one")
        }
    }
}

fn count_source_change(c: &mut HostChanges, had: bool, has: bool) {
    if had && !has {
        c.source_lost += 1;
    } else if has {
        c.source_returned += 1;
    }
}

/// An interface's own addresses among `addrs`: its IPv4 address that is no VIP, and its IPv6
/// link-local address. The current ones (`v4`, `ll`) are kept while they are still there, so
/// that adding a second address does not move the advert source.
pub(super) fn own_addresses(
    addrs: &[IfAddr],
    vips: &HashSet<IpAddr>,
    v4: Option<Ipv4Addr>,
    ll: Option<Ipv6Addr>,
) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
    let has = |a: IpAddr| addrs.iter().any(|x| x.addr == a);
    let v4 = v4.filter(|a| has(IpAddr::V4(*a))).or_else(|| {
        addrs.iter().find_map(|a| match a.addr {
            IpAddr::V4(v4) if !vips.contains(&a.addr) => Some(v4),
            _ => None,
        })
    });
    let ll = ll.filter(|a| has(IpAddr::V6(*a))).or_else(|| {
        addrs.iter().find_map(|a| match a.addr {
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some(v6),
            _ => None,
        })
    });
    (v4, ll)
}
