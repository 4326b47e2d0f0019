//! One instance at run time: its router, whether it holds its VIPs, and the carrying out of
//! the router's actions (adverts sent, VIPs owned and released in XDP and on the interface,
//! GARPs), then its notify hooks. The order is the fail-safe's: XDP answers before the address
//! is added, and stops before it is removed.

use std::{
    collections::VecDeque,
    net::IpAddr,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use havip_ebpf::{
    Vip6Key, VipKey, VipState, VmacKey, VridKey, FAMILY_IPV4, FAMILY_IPV6, VIP_ANSWER_NS,
    VIP_OWNED, VMAC_V4_PREFIX, VMAC_V6_PREFIX,
};
use tracing::{debug, error, info};

use super::{advert::advert_repr, ifaces::Iface, Node};
use crate::{
    dataplane::Dataplane,
    model::{InstanceSpec, RouteSpec, RuleSpec},
    net::{
        netlink::Netlink,
        sockets::{VRRP_GROUP_V4, VRRP_GROUP_V6},
    },
    notify::{Notifier, NotifyHandle, NotifyState},
    vrrp::{Action, Centis, State, VirtualRouter},
    wire::{
        ArpFrame, ChecksumMode, EthernetAddress, IpRepr, NeighborAdvertFrame, VrrpFrame, VrrpPacket,
    },
};

/// One instance at run time.
pub(super) struct Instance {
    pub spec: InstanceSpec,
    pub ifindex: u32,
    /// `None` for a static owner (no election).
    pub router: Option<VirtualRouter>,
    pub checksum: ChecksumMode,
    /// Whether the VIPs are owned (in the XDP map and on the interface).
    pub owned: bool,
    /// Adverts for this instance that failed to parse (bad checksum, bad lengths...).
    pub malformed: u64,
    /// The heartbeat age after which XDP stops answering for this instance's VIPs: two
    /// advert intervals, or less with BFD sessions ([`super::node::bfd_heartbeat_age`]).
    pub max_heartbeat_age: Duration,
    /// Two advert intervals: the age without BFD's cap (a hitless restart hands this one over).
    pub advert_heartbeat_age: Duration,
    /// A VIP that could not be added (back): the instance stays in FAULT until the interface
    /// changes again (link, address, re-creation) or a reload.
    pub vip_fault: Option<String>,
    /// When VIPs of this instance were last added back after another agent removed them.
    pub readds: VecDeque<Instant>,
    /// Handed over as master by the previous process: starts with `resume_master`.
    pub resume: bool,
    /// When `notify_master_rx_lower_pri` was last sent (at most once per advert interval).
    pub last_rx_lower: Option<Instant>,
    /// The IPv4 identification of the next advert sent as a frame (`use_vmac`): counts up, as
    /// keepalived's does.
    pub advert_ident: std::sync::atomic::AtomicU16,
    /// The interface's `arp_announce` before `use_vmac` raised it to 2 (restored at stop).
    pub arp_announce_was: Option<(String, String)>,
    /// What the BGP thread was last told for this instance (`bgp_announce`).
    pub announced: crate::control::Announce,
}

impl Instance {
    pub fn new(
        spec: &InstanceSpec,
        ifindex: u32,
        router: Option<VirtualRouter>,
        max_heartbeat_age: Duration,
    ) -> Self {
        Instance {
            spec: spec.clone(),
            ifindex,
            router,
            checksum: spec
                .vrrp
                .as_ref()
                .map_or(ChecksumMode::PseudoHeader, |v| v.checksum),
            owned: false,
            malformed: 0,
            max_heartbeat_age,
            advert_heartbeat_age: max_heartbeat_age,
            vip_fault: None,
            readds: VecDeque::new(),
            resume: false,
            last_rx_lower: None,
            advert_ident: std::sync::atomic::AtomicU16::new(1),
            arp_announce_was: None,
            announced: crate::control::Announce::Withdrawn,
        }
    }

    /// IPv4 `use_vmac`: the interface's `arp_announce` at 2, so that the ARP requests its kernel
    /// sends (to reach a client it answers) carry its own address, never a VIP. Otherwise a
    /// client that resolved the VIP to the virtual MAC learns the interface's MAC for it from
    /// the master's request (Linux updates the sender's entry), and loses the VIP when that
    /// master dies: measured, before this, in `lab_arp`.
    fn hold_arp_announce(&mut self, iface: &str) -> Result<()> {
        let path = format!("/proc/sys/net/ipv4/conf/{iface}/arp_announce");
        let now = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let now = now.trim().to_string();
        if now.parse::<u8>().is_ok_and(|v| v >= 2) {
            return Ok(());
        }
        std::fs::write(&path, "2").with_context(|| {
            format!(
                "use_vmac: setting {path} to 2 (the master's ARP requests must not carry a VIP)"
            )
        })?;
        info!(instance = %self.spec.name, %iface, was = %now, "use_vmac: arp_announce set to 2 on the interface (restored at stop)");
        if self.arp_announce_was.is_none() {
            self.arp_announce_was = Some((path, now));
        }
        Ok(())
    }

    /// Puts back what [`Instance::hold_arp_announce`] changed (at stop).
    pub fn restore_arp_announce(&mut self) {
        if let Some((path, was)) = self.arp_announce_was.take() {
            if let Err(e) = std::fs::write(&path, &was) {
                debug!(instance = %self.spec.name, "restoring {path}: {e}");
            }
        }
    }

    /// The virtual MAC, 00:00:5e:00:01:VRID (IPv6: 00:00:5e:00:02:VRID), when the instance
    /// uses it (`use_vmac`).
    pub fn vmac(&self) -> Option<[u8; 6]> {
        let v = self.spec.vrrp.as_ref().filter(|v| v.use_vmac)?;
        let p = if self.is_v6() {
            VMAC_V6_PREFIX
        } else {
            VMAC_V4_PREFIX
        };
        Some([p[0], p[1], p[2], p[3], p[4], v.vrid])
    }

    fn vmac_key(&self, mac: [u8; 6]) -> VmacKey {
        VmacKey {
            ifindex: self.ifindex,
            mac,
            reserved: [0; 2],
        }
    }

    /// Whether the instance's VIPs (all of one family) are IPv6.
    pub fn is_v6(&self) -> bool {
        self.spec.vips.iter().any(|v| v.addr.is_ipv6())
    }

    /// The router's key in XDP's VRIDS map; `None` for a static owner.
    pub fn vrid_key(&self) -> Option<VridKey> {
        let v = self.spec.vrrp.as_ref()?;
        Some(vrid_key(self.ifindex, v.vrid, self.is_v6()))
    }

    /// Writes the VIPs into the XDP map, owned or not, answering with the virtual MAC
    /// (`use_vmac`) or the interface's, `mac`; and the virtual MAC's entry: owned, its frames
    /// go to the stack as `mac`'s.
    pub fn declare_vips(&self, dp: &mut Dataplane, mac: [u8; 6], owned: bool) -> Result<()> {
        // IPv6 with the virtual MAC: XDP answers neighbour solicitations itself (the kernel
        // would answer with the interface's MAC).
        let ns = if self.vmac().is_some() && self.is_v6() {
            VIP_ANSWER_NS
        } else {
            0
        };
        let state = VipState {
            flags: (if owned { VIP_OWNED } else { 0 }) | ns,
            reserved: 0,
            mac: self.vmac().unwrap_or(mac),
            reserved2: [0; 2],
            max_heartbeat_age_ns: self.max_heartbeat_age.as_nanos() as u64,
        };
        if let Some(vmac) = self.vmac() {
            dp.set_vmac(self.vmac_key(vmac), VipState { mac, ..state })?;
        }
        for vip in &self.spec.vips {
            match vip.addr {
                IpAddr::V4(v4) => dp.set_vip(
                    VipKey {
                        addr: v4.octets(),
                        ifindex: self.ifindex,
                    },
                    state,
                )?,
                IpAddr::V6(v6) => dp.set_vip(
                    Vip6Key {
                        addr: v6.octets(),
                        ifindex: self.ifindex,
                    },
                    state,
                )?,
            }
        }
        Ok(())
    }

    /// Removes the VIP and router entries from the XDP maps.
    pub fn forget_entries(&self, dp: &mut Dataplane) -> Result<()> {
        for vip in &self.spec.vips {
            match vip.addr {
                IpAddr::V4(v4) => dp.remove_vip(&VipKey {
                    addr: v4.octets(),
                    ifindex: self.ifindex,
                })?,
                IpAddr::V6(v6) => dp.remove_vip(&Vip6Key {
                    addr: v6.octets(),
                    ifindex: self.ifindex,
                })?,
            }
        }
        if let Some(key) = self.vrid_key() {
            dp.remove_vrid(&key)?;
        }
        if let Some(vmac) = self.vmac() {
            dp.remove_vmac(&self.vmac_key(vmac))?;
        }
        Ok(())
    }

    /// Takes the VIPs: XDP answers first (it is the fast path), then the addresses.
    pub async fn own(&mut self, iface: &Iface, dp: &mut Dataplane, nl: &Netlink) -> Result<()> {
        self.declare_vips(dp, iface.link.mac, true)?;
        self.owned = true;
        if let Some(vmac) = self.vmac() {
            if !self.is_v6() {
                self.hold_arp_announce(&iface.link.name)?;
            }
            // A NIC with a unicast filter would not hand frames to the virtual MAC up to XDP.
            nl.add_unicast_mac(self.ifindex, vmac).await?;
        }
        let primary = iface.primary_v4.map(IpAddr::V4);
        for vip in &self.spec.vips {
            if Some(vip.addr) == primary {
                continue; // An owner's own address (priority 255).
            }
            nl.add_address(self.ifindex, vip.addr, vip.prefix_len, vip.label.as_deref())
                .await
                .with_context(|| format!("adding VIP {vip}"))?;
            info!(instance = %self.spec.name, %vip, "VIP added");
        }
        // keepalived's virtual_routes, after the addresses (a route may use one as its source).
        // One the kernel refuses is logged as an error and the takeover goes on: the VIPs are
        // the service, and a route is not worth giving them up for.
        for rule in self.rules() {
            match nl.add_rule(rule).await {
                Ok(_) => info!(instance = %self.spec.name, %rule, "virtual rule added"),
                Err(e) => {
                    error!(instance = %self.spec.name, %rule, "virtual rule not added: {e:#}")
                }
            }
        }
        for route in self.routes() {
            match add_route(nl, route).await {
                Ok(_) => info!(instance = %self.spec.name, %route, "virtual route added"),
                Err(e) => {
                    error!(instance = %self.spec.name, %route, "virtual route not added: {e:#}")
                }
            }
        }
        Ok(())
    }

    /// keepalived `virtual_rules` of this instance.
    fn rules(&self) -> &[RuleSpec] {
        self.spec
            .vrrp
            .as_ref()
            .map_or(&[], |v| v.virtual_rules.as_slice())
    }

    /// keepalived `virtual_routes` of this instance.
    fn routes(&self) -> &[RouteSpec] {
        self.spec
            .vrrp
            .as_ref()
            .map_or(&[], |v| v.virtual_routes.as_slice())
    }

    /// Gives up the VIPs: XDP drops first, then the addresses go.
    pub async fn disown(&mut self, iface: &Iface, dp: &mut Dataplane, nl: &Netlink) -> Result<()> {
        if !iface.present {
            // The addresses went with the interface, and XDP forgets its entries (or, absent
            // since the start, never had them).
            self.owned = false;
            return Ok(());
        }
        self.declare_vips(dp, iface.link.mac, false)?;
        self.owned = false;
        let primary = iface.primary_v4.map(IpAddr::V4);
        let mut first_err = None;
        if let Some(vmac) = self.vmac() {
            if let Err(e) = nl.del_unicast_mac(self.ifindex, vmac).await {
                first_err = Some(e);
            }
        }
        // Every route and VIP is tried: one that cannot be removed must not keep the others
        // (XDP drops ARP for all the VIPs already, as not owned). Routes first, as keepalived.
        for rule in self.rules() {
            match nl.del_rule(rule).await {
                Ok(true) => info!(instance = %self.spec.name, %rule, "virtual rule removed"),
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e.context(format!("removing rule {rule}")));
                }
            }
        }
        for route in self.routes() {
            match del_route(nl, route).await {
                Ok(true) => info!(instance = %self.spec.name, %route, "virtual route removed"),
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e.context(format!("removing route {route}")));
                }
            }
        }
        for vip in &self.spec.vips {
            if Some(vip.addr) == primary {
                continue;
            }
            match nl.del_address(self.ifindex, vip.addr).await {
                Ok(true) => info!(instance = %self.spec.name, %vip, "VIP removed"),
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e.context(format!("removing VIP {vip}")));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// One gratuitous ARP (IPv6: unsolicited NA) per entry of `vips`, from `iface`, with its
    /// MAC now.
    pub fn send_garps(&self, iface: &Iface, vips: &[IpAddr]) -> Result<()> {
        let mac = EthernetAddress(self.vmac().unwrap_or(iface.link.mac));
        info!(instance = %self.spec.name, iface = %iface.link.name, count = vips.len(), "sending gratuitous ARP / unsolicited NA");
        for vip in vips {
            match vip {
                IpAddr::V6(v6) => {
                    let frame = NeighborAdvertFrame::unsolicited(mac, *v6).to_bytes()?;
                    iface
                        .packet
                        .send(&frame)
                        .context("sending an unsolicited NA")?;
                }
                IpAddr::V4(v4) => {
                    let frame = ArpFrame::gratuitous(mac, *v4).to_bytes()?;
                    iface
                        .packet
                        .send(&frame)
                        .context("sending gratuitous ARP")?;
                }
            }
        }
        Ok(())
    }

    /// Sends the advert the router asked for from `iface`: multicast to the group, or one copy
    /// per unicast peer (keepalived's `unicast_peer`).
    pub fn send_advert(
        &self,
        iface: &Iface,
        priority: u8,
        max_adver_int: Centis,
        addresses: &[IpAddr],
    ) -> Result<()> {
        let name = &self.spec.name;
        let v = self.spec.vrrp.as_ref().expect("VRRP instance");
        let Some(own) = iface.own_addr(self.is_v6()) else {
            // The address went (a flush): the priority-0 advert of a master entering
            // FAULT cannot go; the backup takes over a Master_Down_Interval later.
            debug!(instance = %name, "advert not sent: the interface has no address of its own");
            return Ok(());
        };
        let src = v.unicast_src.unwrap_or(own);
        let repr = advert_repr(v, priority, max_adver_int, addresses);
        // The v3 checksum covers the destination, so each copy is built anew.
        let targets: Vec<IpAddr> = if !v.unicast_peers.is_empty() {
            v.unicast_peers.clone()
        } else if let Some(group) = v.mcast_group {
            vec![group]
        } else if self.is_v6() {
            vec![VRRP_GROUP_V6.into()]
        } else {
            vec![VRRP_GROUP_V4.into()]
        };
        // keepalived `unicast_ttl`: unicast copies only (multicast stays link-local at 255).
        let ttl = (!v.unicast_peers.is_empty() && v.unicast_ttl != 255).then_some(v.unicast_ttl);
        // use_vmac: from the virtual MAC (RFC 9568 §7.3), as a whole frame, unless
        // vmac_xmit_base asks for the interface's own (unicast peers imply it, as in keepalived).
        if let (Some(vmac), false) = (self.vmac(), v.vmac_xmit_base) {
            if v.unicast_peers.is_empty() {
                let ident = self
                    .advert_ident
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for dst in targets {
                    let mac = EthernetAddress(vmac);
                    let frame = match (src, dst) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => {
                            let mut f = VrrpFrame::new_v4(mac, s, ident, repr.clone());
                            f.ethernet.dst_addr = EthernetAddress::ipv4_multicast(d);
                            if let IpRepr::V4(ip) = &mut f.ip {
                                ip.dst_addr = d;
                            }
                            f
                        }
                        (IpAddr::V6(s), IpAddr::V6(d)) => {
                            let mut f = VrrpFrame::new_v6(mac, s, repr.clone());
                            f.ethernet.dst_addr = EthernetAddress::ipv6_multicast(d);
                            if let IpRepr::V6(ip) = &mut f.ip {
                                ip.dst_addr = d;
                            }
                            f
                        }
                        _ => bail!("advert source {src} and destination {dst} differ in family"),
                    };
                    let sent = frame
                        .to_bytes(self.checksum)
                        .map_err(anyhow::Error::from)
                        .and_then(|b| iface.packet.send(&b));
                    if let Err(e) = sent {
                        debug!(instance = %name, %dst, "advert not sent: {e:#}");
                    }
                }
                return Ok(());
            }
        }
        let mut buf = vec![0u8; repr.buffer_len()];
        for dst in targets {
            repr.emit(
                &mut VrrpPacket::new_unchecked(&mut buf[..]),
                src,
                dst,
                self.checksum,
            )?;
            let sent = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    let sock = iface.vrrp4.as_ref().context("no IPv4 VRRP socket")?;
                    // The source always rides in IP_PKTINFO: the socket's multicast source is the
                    // address it was opened with, which may no longer be the interface's.
                    sock.send(&buf, d, Some(s), ttl)
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => iface
                    .vrrp6
                    .as_ref()
                    .context("no IPv6 VRRP socket")?
                    .send(&buf, d, s, ttl),
                _ => bail!("advert source {src} and destination {dst} differ in family"),
            };
            // A down link makes sends fail until it is back: the election copes.
            if let Err(e) = sent {
                debug!(instance = %name, %dst, "advert not sent: {e:#}");
            }
        }
        Ok(())
    }
}

/// The key of router `vrid` of `v6`'s family on interface `ifindex` in XDP's VRIDS map.
pub(super) fn vrid_key(ifindex: u32, vrid: u8, v6: bool) -> VridKey {
    let family = if v6 { FAMILY_IPV6 } else { FAMILY_IPV4 };
    VridKey {
        ifindex,
        vrid,
        family,
        reserved: [0; 2],
    }
}

/// The notify hooks: launched after each batch of actions; STOP hooks are waited for at exit.
#[derive(Default)]
pub(super) struct Hooks {
    pub notifier: Notifier,
    /// STOP hooks still running at exit (they get a second, as in keepalived).
    stop: Vec<NotifyHandle>,
}

impl Hooks {
    /// Waits for the STOP hooks still running.
    pub async fn wait_for_stops(&mut self) {
        for h in std::mem::take(&mut self.stop) {
            h.wait().await;
        }
    }
}

impl Node {
    /// Carries out instance `i`'s pending actions, in order.
    /// Carries out instance `i`'s pending actions, then moves its sync group's other members
    /// if it must (keepalived's vrrp_sync_master / vrrp_sync_backup).
    pub(super) async fn drain(&mut self, i: usize) {
        self.drain_actions(i).await;
        self.couple_sync_group(i).await;
    }

    /// keepalived's sync group states for the group of instance `i` (FAULT is shared through
    /// the health, `apply_health`): the members hold their takeovers until all want MASTER,
    /// then all take over at once; a member back in BACKUP while another is MASTER takes the
    /// masters back to BACKUP. So a group's VIPs are never split between two nodes for longer
    /// than it takes to move them.
    pub(super) async fn couple_sync_group(&mut self, i: usize) {
        // Every drained advert comes here: without sync groups, nothing to look up or copy.
        if self.health.sync_groups.is_empty() {
            if let Some(r) = &mut self.instances[i].router {
                r.hold_takeover(false);
            }
            return;
        }
        let name = &self.instances[i].spec.name;
        let members: Vec<usize> = self
            .health
            .sync_peers(name)
            .filter_map(|m| self.instances.iter().position(|x| &x.spec.name == m))
            .collect();
        let name = name.clone();
        let grouped = members.len() > 1;
        if let Some(r) = &mut self.instances[i].router {
            r.hold_takeover(grouped);
        }
        if !grouped {
            return;
        }
        let now = Instant::now();
        let (mut states, mut owners) = (Vec::new(), Vec::new());
        for &j in &members {
            let Some(r) = &mut self.instances[j].router else {
                return;
            };
            r.hold_takeover(true);
            states.push((r.state(), r.wants_master()));
            owners.push(r.config().priority == 255);
        }
        if states
            .iter()
            .any(|(s, _)| !matches!(s, State::Master | State::Backup))
        {
            return; // FAULT or not started: the health moves the group.
        }
        let deferring = states.iter().any(|(s, w)| *s == State::Backup && !w);
        // An address owner (priority 255) is master whatever its group does (RFC 9568).
        let any_master = states
            .iter()
            .zip(&owners)
            .any(|((s, _), owner)| *s == State::Master && !owner);
        let moved: Vec<usize> = if deferring && any_master {
            info!(instance = %name, "sync group: a member is BACKUP, so its MASTERs go to BACKUP");
            members
                .iter()
                .copied()
                .filter(|&j| {
                    let r = self.instances[j].router.as_mut().expect("checked above");
                    let was = r.state() == State::Master && r.config().priority != 255;
                    if was {
                        r.sync_backup(now);
                    }
                    was
                })
                .collect()
        } else if !deferring && states.iter().any(|(s, _)| *s == State::Backup) {
            info!(instance = %name, "sync group: every member wants MASTER, taking over together");
            members
                .iter()
                .copied()
                .filter(|&j| {
                    let r = self.instances[j].router.as_mut().expect("checked above");
                    let was = r.state() == State::Backup;
                    r.sync_take_over(now);
                    was
                })
                .collect()
        } else {
            Vec::new()
        };
        for j in moved {
            self.drain_actions(j).await;
        }
    }

    async fn drain_actions(&mut self, i: usize) {
        let mut notify = Vec::new();
        while let Some(action) = self.instances[i]
            .router
            .as_mut()
            .and_then(|r| r.poll_action())
        {
            notify.extend(NotifyState::from_action(&action));
            if let Err(e) = self.execute(i, action).await {
                error!(instance = %self.instances[i].spec.name, "{e:#}");
            }
        }
        // The route follows the batch: announced once the VIPs are up.
        self.announce(i);
        // Hooks run once the batch is done (keepalived runs notify_master with the VIPs up).
        let inst = &self.instances[i];
        let (Some(v), Some(r)) = (&inst.spec.vrrp, &inst.router) else {
            return;
        };
        for state in notify {
            let h = self.hooks.notifier.instance(
                &v.notify,
                &inst.spec.name,
                state,
                r.effective_priority(),
            );
            if state == NotifyState::Stop && !h.is_empty() {
                self.hooks.stop.push(h);
            }
        }
    }

    async fn execute(&mut self, i: usize, action: Action) -> Result<()> {
        let inst = &self.instances[i];
        let name = &inst.spec.name;
        match action {
            // Anycast: no election, nothing to tell anyone.
            Action::SendAdvert { .. } if self.anycast(i) => {}
            Action::SendAdvert {
                priority,
                max_adver_int,
                addresses,
            } => inst.send_advert(
                &self.ifaces[&inst.ifindex],
                priority,
                max_adver_int,
                &addresses,
            )?,
            Action::BecomeMaster { reason } => {
                info!(instance = %name, state = "MASTER", ?reason, "transition");
            }
            Action::BecomeBackup { reason } => {
                info!(instance = %name, state = "BACKUP", ?reason, "transition");
            }
            Action::EnterFault => info!(instance = %name, state = "FAULT", "transition"),
            Action::AddVips(_) => {
                if let Err(e) = self.own(i).await {
                    // A master without its VIPs answers nothing: FAULT, so the backup takes over.
                    self.instances[i].vip_fault = Some(format!("{e:#}"));
                    self.apply_health(i, Instant::now());
                    return Err(e.context("the instance enters FAULT"));
                }
            }
            Action::RemoveVips(_) => self.disown(i).await?,
            Action::SendGarp { vips } => self.send_garps(i, &vips)?,
            Action::Stopped => debug!(instance = %name, "stopped"),
        }
        Ok(())
    }

    /// Takes instance `i`'s VIPs (see [`Instance::own`]).
    pub(super) async fn own(&mut self, i: usize) -> Result<()> {
        let iface = &self.ifaces[&self.instances[i].ifindex];
        let dp = self.dp.as_mut().context("data plane")?;
        self.instances[i].own(iface, dp, &self.nl).await
    }

    /// Gives up instance `i`'s VIPs (see [`Instance::disown`]).
    pub(super) async fn disown(&mut self, i: usize) -> Result<()> {
        let iface = &self.ifaces[&self.instances[i].ifindex];
        let dp = self.dp.as_mut().context("data plane")?;
        self.instances[i].disown(iface, dp, &self.nl).await
    }

    /// Writes instance `i`'s VIPs into the XDP map, owned or not, with its interface's MAC now.
    pub(super) fn declare_vips(&mut self, i: usize, owned: bool) -> Result<()> {
        let inst = &self.instances[i];
        let mac = self.ifaces[&inst.ifindex].link.mac;
        inst.declare_vips(self.dp.as_mut().context("data plane")?, mac, owned)
    }

    /// Removes instance `i`'s VIP and router entries from the XDP maps.
    pub(super) fn forget_entries(&mut self, i: usize) -> Result<()> {
        self.instances[i].forget_entries(self.dp.as_mut().context("data plane")?)
    }

    /// Announces `vips` of instance `i` from its interface (see [`Instance::send_garps`]).
    pub(super) fn send_garps(&self, i: usize, vips: &[IpAddr]) -> Result<()> {
        let inst = &self.instances[i];
        inst.send_garps(&self.ifaces[&inst.ifindex], vips)
    }
}

/// Adds `route`, through the interface its `dev` names (looked up now: interfaces come and go).
pub(super) async fn add_route(nl: &Netlink, route: &RouteSpec) -> Result<bool> {
    let oif = route_oif(nl, route).await?;
    nl.add_route(route, oif).await
}

/// Removes `route` if it is there.
pub(super) async fn del_route(nl: &Netlink, route: &RouteSpec) -> Result<bool> {
    match route_oif(nl, route).await {
        Ok(oif) => nl.del_route(route, oif).await,
        // Its interface is gone, and the route with it.
        Err(_) => Ok(false),
    }
}

async fn route_oif(nl: &Netlink, route: &RouteSpec) -> Result<Option<u32>> {
    match &route.dev {
        None => Ok(None),
        Some(dev) => Ok(Some(nl.link(dev).await?.index)),
    }
}
