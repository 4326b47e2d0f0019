//! The interfaces the node works on, by index: what the kernel last said of each (name, MAC,
//! link), its own addresses (the advert sources), its VRRP sockets and their reader tasks, its
//! packet socket for GARPs, and the host changes seen on it. Attaching XDP is the node's job
//! (`node.rs`); following the host's changes is `host.rs`'s.

use std::{
    collections::{BTreeMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use anyhow::{Context as _, Result};
use tokio::sync::mpsc;

use super::rx::{self, Incoming};
use crate::{
    control::HostChanges,
    net::{
        netlink::Link,
        sockets::{PacketSender, VrrpSocketV4, VrrpSocketV6},
    },
};

/// An interface the node works on.
pub(super) struct Iface {
    /// As the kernel last described it (name and MAC follow renames and MAC changes).
    pub link: Link,
    /// The name the configuration gave it: what a re-created interface must be called.
    pub configured: String,
    /// The name XDP was attached under (the data plane knows the attachment by it); empty
    /// while it never was.
    pub attached_as: String,
    /// False from its deletion (or, for one absent at start, from the start) until an
    /// interface of the configured name appears.
    pub present: bool,
    /// The interface's own IPv4 address: the source of adverts (RFC 9568 §5.1.1.1).
    pub primary_v4: Option<Ipv4Addr>,
    pub vrrp4: Option<Arc<VrrpSocketV4>>,
    /// The interface's IPv6 link-local address: the source of IPv6 adverts (RFC 9568 §5.1.2.1).
    pub link_local: Option<Ipv6Addr>,
    pub vrrp6: Option<Arc<VrrpSocketV6>>,
    /// The tasks reading `vrrp4` and `vrrp6`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// Multicast groups other than the RFC's that instances here send to (keepalived
    /// `mcast_dst_ip`): the sockets join them, now and whenever they are opened again.
    pub groups: std::collections::BTreeSet<IpAddr>,
    pub packet: PacketSender,
    pub changes: HostChanges,
}

impl Drop for Iface {
    fn drop(&mut self) {
        self.close_sockets();
    }
}

impl Iface {
    /// A newly attached interface, with no address known and no socket open yet.
    pub fn new(configured: &str, link: Link, packet: PacketSender) -> Self {
        Iface {
            configured: configured.to_string(),
            attached_as: link.name.clone(),
            link,
            present: true,
            primary_v4: None,
            vrrp4: None,
            link_local: None,
            vrrp6: None,
            readers: Vec::new(),
            groups: std::collections::BTreeSet::new(),
            packet,
            changes: HostChanges::default(),
        }
    }

    /// The open sockets of `group`'s family join it.
    fn join_open(&self, index: u32, group: IpAddr) -> Result<()> {
        match group {
            IpAddr::V4(g) => {
                if let (Some(s), Some(src)) = (&self.vrrp4, self.primary_v4) {
                    s.join(g, src, index)?;
                }
            }
            IpAddr::V6(g) => {
                if let Some(s) = &self.vrrp6 {
                    s.join(g)?;
                }
            }
        }
        Ok(())
    }

    /// Closes the VRRP sockets (their readers stop): the interface is gone.
    pub fn close_sockets(&mut self) {
        for r in self.readers.drain(..) {
            r.abort();
        }
        self.vrrp4 = None;
        self.vrrp6 = None;
    }

    /// This node's own address of `v6`'s family on the interface: the advert source and
    /// tie-break key.
    pub fn own_addr(&self, v6: bool) -> Option<IpAddr> {
        if v6 {
            self.link_local.map(IpAddr::V6)
        } else {
            self.primary_v4.map(IpAddr::V4)
        }
    }
}

/// The first placeholder index of an interface that does not exist (see
/// [`Ifaces::insert_absent`]).
const ABSENT_INDEX: u32 = 1 << 31;

/// Every interface the node works on, by index (an interface re-created under its configured
/// name moves to its new index).
#[derive(Default)]
pub(super) struct Ifaces {
    by_index: BTreeMap<u32, Iface>,
    /// Every VIP of the configuration: never taken for an interface's own address.
    pub vip_addrs: HashSet<IpAddr>,
    /// Where the advert readers send what they receive.
    adverts_tx: Option<mpsc::UnboundedSender<Incoming>>,
}

impl std::ops::Index<&u32> for Ifaces {
    type Output = Iface;

    fn index(&self, index: &u32) -> &Iface {
        &self.by_index[index]
    }
}

impl Ifaces {
    /// Readers started from now on send their adverts to `tx`.
    pub fn set_adverts_tx(&mut self, tx: mpsc::UnboundedSender<Incoming>) {
        self.adverts_tx = Some(tx);
    }

    /// The index of the interface configured as `name`, or called `name` now (a reload after a
    /// rename names the new one).
    pub fn find(&self, name: &str) -> Option<u32> {
        let known = |i: &Iface| i.configured == name || (i.present && i.link.name == name);
        self.by_index
            .iter()
            .find(|(_, i)| known(i))
            .map(|(&index, _)| index)
    }

    pub fn get(&self, index: &u32) -> Option<&Iface> {
        self.by_index.get(index)
    }

    pub fn get_mut(&mut self, index: &u32) -> Option<&mut Iface> {
        self.by_index.get_mut(index)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u32, &Iface)> {
        self.by_index.iter()
    }

    pub fn insert(&mut self, index: u32, iface: Iface) {
        self.by_index.insert(index, iface);
    }

    pub fn remove(&mut self, index: &u32) -> Option<Iface> {
        self.by_index.remove(index)
    }

    /// An interface the configuration names that does not exist (yet): kept under a
    /// placeholder index until one of that name appears (`host.rs` attaches it then). Its
    /// instances are in FAULT meanwhile. Returns the placeholder.
    pub fn insert_absent(&mut self, configured: &str, packet: PacketSender) -> u32 {
        // The kernel's interface indices are positive `int`s: none reaches 2^31.
        let index = (ABSENT_INDEX..)
            .find(|i| !self.by_index.contains_key(i))
            .expect("fewer than 2^31 interfaces");
        let link = Link {
            name: configured.to_string(),
            index,
            mac: [0; 6],
            up: false,
        };
        let mut iface = Iface::new(configured, link, packet);
        iface.attached_as = String::new();
        iface.present = false;
        self.by_index.insert(index, iface);
        index
    }

    /// Opens the VRRP sockets interface `index` lacks, for each family it has an address of
    /// its own in, and starts their readers.
    pub fn open_sockets(&mut self, index: u32) -> Result<()> {
        let tx = self.adverts_tx.clone().context("set up first")?;
        let iface = self.by_index.get_mut(&index).context("no such interface")?;
        if let (Some(src), None) = (iface.primary_v4, &iface.vrrp4) {
            let s = Arc::new(VrrpSocketV4::open(&iface.link.name, index, src)?);
            iface
                .readers
                .push(rx::spawn_socket_reader(index, s.clone(), tx.clone()));
            iface.vrrp4 = Some(s);
        }
        if let (Some(_), None) = (iface.link_local, &iface.vrrp6) {
            let s = Arc::new(VrrpSocketV6::open(&iface.link.name, index)?);
            iface
                .readers
                .push(rx::spawn_socket_reader_v6(index, s.clone(), tx));
            iface.vrrp6 = Some(s);
        }
        // Freshly opened sockets: every group of the interface's instances.
        for g in iface.groups.clone() {
            iface.join_open(index, g)?;
        }
        Ok(())
    }

    /// Interface `index`'s sockets join multicast `group` (one of an instance's, not the
    /// RFC's), now if they are open, and whenever they are opened again.
    pub fn join_group(&mut self, index: u32, group: IpAddr) -> Result<()> {
        let iface = self.by_index.get_mut(&index).context("no such interface")?;
        if iface.groups.insert(group) {
            iface.join_open(index, group)?;
        }
        Ok(())
    }
}
