//! rtnetlink: look up interfaces, add or remove VIP addresses, and follow the host's link and
//! address changes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::TryStreamExt as _;

use crate::model::{RouteKind, RouteSpec, RuleAction, RuleSpec};
use rtnetlink::{
    packet_route::{
        address::{AddressAttribute, AddressHeaderFlags, AddressMessage},
        link::{LinkAttribute, LinkFlags, LinkMessage},
        neighbour::{NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState},
        route::{RouteMessage, RouteProtocol, RouteScope, RouteType},
        rule::{RuleAction as PacketRuleAction, RuleAttribute, RuleFlags, RuleMessage},
        AddressFamily,
    },
    AddressMessageBuilder, Handle, RouteMessageBuilder,
};

/// What the daemon needs to know about an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// Administratively up and with carrier (`IFF_UP` and `IFF_LOWER_UP`).
    pub up: bool,
}

/// An address configured on an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

/// A connection to rtnetlink (its driver task runs on the current tokio runtime).
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    pub fn new() -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// The underlying rtnetlink handle, for requests this type has no method for.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The kind of interface `index` (`veth`, `vlan`, `bond`...), `None` for a plain device.
    pub async fn link_kind(&self, index: u32) -> Result<Option<String>> {
        use rtnetlink::packet_route::link::LinkInfo;
        let mut links = self.handle.link().get().match_index(index).execute();
        let msg = links
            .try_next()
            .await
            .with_context(|| format!("looking up interface {index}"))?
            .with_context(|| format!("no interface with index {index}"))?;
        Ok(msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
                LinkInfo::Kind(k) => Some(k.to_string()),
                _ => None,
            }),
            _ => None,
        }))
    }

    /// The interfaces enslaved to `index` (a bond's or a bridge's ports): index and name.
    pub async fn slaves(&self, index: u32) -> Result<Vec<(u32, String)>> {
        let mut out = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(msg) = links.try_next().await.context("listing interfaces")? {
            let mut master = None;
            let mut name = String::new();
            for a in &msg.attributes {
                match a {
                    LinkAttribute::Controller(m) => master = Some(*m),
                    LinkAttribute::IfName(n) => name = n.clone(),
                    _ => {}
                }
            }
            if master == Some(index) {
                out.push((msg.header.index, name));
            }
        }
        Ok(out)
    }

    /// The interface called `name` in this network namespace.
    pub async fn link(&self, name: &str) -> Result<Link> {
        self.find_link(name)
            .await?
            .ok_or_else(|| no_such_interface(name))
    }

    /// As [`Netlink::link`], with `None` when there is no interface of that name.
    pub async fn find_link(&self, name: &str) -> Result<Option<Link>> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(msg)) => link_from_message(&msg).map(Some),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("looking up interface {name}")),
        }
    }

    /// The addresses of interface `index`.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IfAddr>> {
        let mut out = Vec::new();
        let mut msgs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(msg) = msgs.try_next().await.context("listing addresses")? {
            let label = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Label(l) => Some(l.clone()),
                _ => None,
            });
            if let Some(addr) = address_of(&msg) {
                out.push(IfAddr {
                    addr,
                    prefix_len: msg.header.prefix_len,
                    label,
                });
            }
        }
        Ok(out)
    }

    /// Adds `addr/prefix_len` to interface `index`. Returns false when it was already there.
    pub async fn add_address(
        &self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<bool> {
        let mut req = self.handle.address().add(index, addr, prefix_len);
        if addr.is_ipv6() {
            // No duplicate address detection for a VIP (keepalived does the same): a tentative
            // address is neither used nor defended for a second or more, which is the failover.
            req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        if let Some(label) = label {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Label(label.to_string()));
        }
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("adding {addr}/{prefix_len}")),
        }
    }

    /// Removes `addr` (whatever its prefix length) from interface `index`. Returns false when it
    /// was not there.
    pub async fn del_address(&self, index: u32, addr: IpAddr) -> Result<bool> {
        let Some(found) = self
            .addresses(index)
            .await?
            .into_iter()
            .find(|a| a.addr == addr)
        else {
            return Ok(false);
        };
        let msg: AddressMessage = match addr {
            IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, found.prefix_len)
                .build(),
            IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
                .index(index)
                .address(a, found.prefix_len)
                .build(),
        };
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::EADDRNOTAVAIL | libc::ENOENT)) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("removing {addr}")),
        }
    }
}

impl Netlink {
    /// Adds `mac` to interface `index`'s unicast address filter (`bridge fdb add MAC dev IFACE
    /// self`: the kernel's `ndo_dflt_fdb_add`, or the driver's), so that the NIC hands frames
    /// sent to it up to XDP: the `use_vmac` master's virtual MAC. A device without a unicast
    /// filter goes promiscuous instead. Returns false when it was already there.
    pub async fn add_unicast_mac(&self, index: u32, mac: [u8; 6]) -> Result<bool> {
        let req = self
            .handle
            .neighbours()
            .add_bridge(index, &mac)
            .flags(NeighbourFlags::Own);
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| {
                format!(
                    "adding {} to interface {index}'s unicast filter",
                    mac_str(mac)
                )
            }),
        }
    }

    /// Removes what [`Netlink::add_unicast_mac`] added. Returns false when it was not there.
    pub async fn del_unicast_mac(&self, index: u32, mac: [u8; 6]) -> Result<bool> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.flags = NeighbourFlags::Own;
        // `ndo_dflt_fdb_del` takes static entries only (EINVAL otherwise).
        msg.header.state = NeighbourState::Permanent;
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        match self.handle.neighbours().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::ENOENT | libc::ENODEV)) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| {
                format!(
                    "removing {} from interface {index}'s unicast filter",
                    mac_str(mac)
                )
            }),
        }
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

impl Netlink {
    /// Adds `route` (through interface `oif` when it names one). Returns false when it was
    /// already there.
    pub async fn add_route(&self, route: &RouteSpec, oif: Option<u32>) -> Result<bool> {
        let msg = route_message(route, oif)?;
        match self.handle.route().add(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("adding route {route}")),
        }
    }

    /// Removes `route`. Returns false when it was not there.
    pub async fn del_route(&self, route: &RouteSpec, oif: Option<u32>) -> Result<bool> {
        let msg = route_message(route, oif)?;
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENOENT | libc::ENODEV)) => {
                Ok(false)
            }
            Err(e) => Err(anyhow!(e)).with_context(|| format!("removing route {route}")),
        }
    }
}

impl Netlink {
    /// Adds `rule`. Returns false when it was already there.
    pub async fn add_rule(&self, rule: &RuleSpec) -> Result<bool> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = rule_message(rule);
        match req.execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("adding rule {rule}")),
        }
    }

    /// Removes `rule`. Returns false when it was not there.
    pub async fn del_rule(&self, rule: &RuleSpec) -> Result<bool> {
        match self.handle.rule().del(rule_message(rule)).execute().await {
            Ok(()) => Ok(true),
            Err(e) if matches!(errno(&e), Some(libc::ENOENT | libc::ESRCH)) => Ok(false),
            Err(e) => Err(anyhow!(e)).with_context(|| format!("removing rule {rule}")),
        }
    }
}

/// The netlink message for `rule`, the same for adding and removing it (as `ip rule` builds).
fn rule_message(rule: &RuleSpec) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = if rule.v6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    if let Some((a, l)) = rule.from {
        msg.header.src_len = l;
        msg.attributes.push(RuleAttribute::Source(a));
    }
    if let Some((a, l)) = rule.to {
        msg.header.dst_len = l;
        msg.attributes.push(RuleAttribute::Destination(a));
    }
    if let Some(i) = &rule.iif {
        msg.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &rule.oif {
        msg.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some(m) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(m));
    }
    if let Some(t) = rule.tos {
        msg.header.tos = t;
    }
    if let Some(p) = rule.priority {
        msg.attributes.push(RuleAttribute::Priority(p));
    }
    if rule.invert {
        msg.header.flags |= RuleFlags::Invert;
    }
    match rule.action {
        RuleAction::Table(t) => {
            msg.header.action = PacketRuleAction::ToTable;
            if t > 255 {
                msg.attributes.push(RuleAttribute::Table(t));
            } else {
                msg.header.table = t as u8;
            }
        }
        RuleAction::Goto(g) => {
            msg.header.action = PacketRuleAction::Goto;
            msg.attributes.push(RuleAttribute::Goto(g));
        }
        RuleAction::Blackhole => msg.header.action = PacketRuleAction::Blackhole,
        RuleAction::Unreachable => msg.header.action = PacketRuleAction::Unreachable,
        RuleAction::Prohibit => msg.header.action = PacketRuleAction::Prohibit,
    }
    msg
}

/// The netlink message for `route`, the same for adding and removing it.
fn route_message(route: &RouteSpec, oif: Option<u32>) -> Result<RouteMessage> {
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.dest, route.prefix_len)
        .map_err(|e| anyhow!("route {route}: {e}"))?;
    if let Some(via) = route.via {
        b = b.gateway(via).map_err(|e| anyhow!("route {route}: {e}"))?;
    }
    if let Some(src) = route.src {
        b = b
            .pref_source(src)
            .map_err(|e| anyhow!("route {route}: {e}"))?;
    }
    if let Some(i) = oif {
        b = b.output_interface(i);
    }
    if let Some(t) = route.table {
        b = b.table_id(t);
    }
    if let Some(m) = route.metric {
        b = b.priority(m);
    }
    if let Some(p) = route.protocol {
        b = b.protocol(RouteProtocol::from(p));
    }
    let kind = match route.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
        RouteKind::Throw => RouteType::Throw,
    };
    b = b.kind(kind);
    // As `ip route`: link scope for a route with no gateway through an interface, else global.
    let scope = route.scope.map_or(
        if route.via.is_none() && oif.is_some() {
            RouteScope::Link
        } else {
            RouteScope::Universe
        },
        RouteScope::from,
    );
    b = b.scope(scope);
    if route.onlink {
        b = b.onlink();
    }
    Ok(b.build())
}

fn no_such_interface(name: &str) -> anyhow::Error {
    anyhow!("no interface named {name:?} in this network namespace (`ip link` lists them)")
}

fn link_from_message(msg: &LinkMessage) -> Result<Link> {
    let mut name = None;
    let mut mac = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(m) => mac = Some(m.clone()),
            _ => {}
        }
    }
    let name = name.unwrap_or_default();
    let mac: [u8; 6] = match mac.as_deref().map(<[u8; 6]>::try_from) {
        Some(Ok(m)) => m,
        _ => bail!("interface {name} has no Ethernet address: havip needs an Ethernet interface"),
    };
    let flags = msg.header.flags;
    Ok(Link {
        name,
        index: msg.header.index,
        mac,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
    })
}

/// The errno of a netlink error reply, positive.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// A change on the host, from the kernel's rtnetlink notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// RTM_NEWLINK: an interface appeared, or its state, name or MAC changed. `link.mac` is
    /// all zeroes for an interface without an Ethernet address.
    Link(Link),
    /// RTM_DELLINK: the interface is gone (deleted, or moved to another namespace).
    LinkGone { index: u32 },
    /// RTM_NEWADDR / RTM_DELADDR: an address was added to or removed from interface `index`.
    Address {
        index: u32,
        addr: IpAddr,
        added: bool,
    },
    /// RTM_DELROUTE: a route to `dst` in routing table `table` was deleted.
    RouteGone { dst: (IpAddr, u8), table: u32 },
    /// RTM_DELRULE: a policy routing rule at `priority` was deleted.
    RuleGone { priority: Option<u32> },
}

/// Forwards the kernel's link and address notifications (RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
/// RTNLGRP_IPV6_IFADDR) for every interface as [`HostEvent`]s, on a task of its own; with
/// `routing`, the deletions of routes and rules too (RTNLGRP_IPV4/IPV6_ROUTE and _RULE: only
/// when the configuration has routes or rules of its own, since a host that carries a routing
/// daemon's table changes many routes). Ends when the receiver is dropped.
pub fn watch_host(tx: tokio::sync::mpsc::UnboundedSender<HostEvent>, routing: bool) -> Result<()> {
    use futures::StreamExt as _;
    use rtnetlink::packet_core::NetlinkPayload;
    use rtnetlink::packet_route::{route::RouteAttribute, RouteNetlinkMessage};
    use rtnetlink::MulticastGroup;
    let mut groups = vec![
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ];
    if routing {
        groups.extend([
            MulticastGroup::Ipv4Route,
            MulticastGroup::Ipv6Route,
            MulticastGroup::Ipv4Rule,
            MulticastGroup::Ipv6Rule,
        ]);
    }
    let (conn, _handle, mut messages) = rtnetlink::new_multicast_connection(&groups)
        .context("subscribing to link and address notifications")?;
    tokio::spawn(conn);
    tokio::spawn(async move {
        while let Some((msg, _)) = messages.next().await {
            let event = match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    HostEvent::Link(link_from_message(&link).unwrap_or_else(|_| {
                        let flags = link.header.flags;
                        Link {
                            name: link
                                .attributes
                                .iter()
                                .find_map(|a| match a {
                                    LinkAttribute::IfName(n) => Some(n.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default(),
                            index: link.header.index,
                            mac: [0; 6],
                            up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
                        }
                    }))
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                    HostEvent::LinkGone {
                        index: link.header.index,
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(a)) => {
                    match address_of(&a) {
                        Some(addr) => HostEvent::Address {
                            index: a.header.index,
                            addr,
                            added: true,
                        },
                        None => continue,
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelAddress(a)) => {
                    match address_of(&a) {
                        Some(addr) => HostEvent::Address {
                            index: a.header.index,
                            addr,
                            added: false,
                        },
                        None => continue,
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(r)) => {
                    let dst = r.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Destination(d) => route_address(d),
                        _ => None,
                    });
                    let table = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RouteAttribute::Table(t) => Some(*t),
                            _ => None,
                        })
                        .unwrap_or(u32::from(r.header.table));
                    // A default route carries no destination.
                    let dst = dst.or(match r.header.address_family {
                        AddressFamily::Inet => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                        AddressFamily::Inet6 => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
                        _ => None,
                    });
                    match dst {
                        Some(d) => HostEvent::RouteGone {
                            dst: (d, r.header.destination_prefix_length),
                            table,
                        },
                        None => continue,
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRule(r)) => {
                    HostEvent::RuleGone {
                        priority: r.attributes.iter().find_map(|a| match a {
                            RuleAttribute::Priority(p) => Some(*p),
                            _ => None,
                        }),
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    tracing::warn!(
                        "the kernel dropped interface or address notifications (socket \
                         overrun): changes made meanwhile may go unnoticed until the next event"
                    );
                    continue;
                }
                _ => continue,
            };
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// An IP destination of a route message.
fn route_address(a: &rtnetlink::packet_route::route::RouteAddress) -> Option<IpAddr> {
    use rtnetlink::packet_route::route::RouteAddress;
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The interface's own address of an address message: IFA_LOCAL for IPv4 (IFA_ADDRESS is the
/// peer's on point-to-point links), else IFA_ADDRESS.
fn address_of(msg: &AddressMessage) -> Option<IpAddr> {
    let mut addr = None;
    let mut local = None;
    for a in &msg.attributes {
        match a {
            AddressAttribute::Address(ip) => addr = Some(*ip),
            AddressAttribute::Local(ip) => local = Some(*ip),
            _ => {}
        }
    }
    local.or(addr)
}
