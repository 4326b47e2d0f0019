//! The node: the data plane, the interfaces and the instances, brought up (`setup`), grown
//! and shrunk (`add_instance`, reload), and torn down so that no VIP or XDP program is left.
//! The rooms around it: `driver.rs` (the loop), `instance.rs` (one instance and its actions),
//! `ifaces.rs`, `host.rs` (the host changing), `health.rs`, `reload.rs`, `rx.rs` and
//! `advert.rs` (adverts in), `snapshot.rs` (what `havip stats` shows), `scrape.rs` (metrics).

use std::{
    collections::HashSet,
    net::IpAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use havip_ebpf::{VridConfig, VRID_CHECK_SRC, VRID_DELIVER_RINGBUF, VRID_UNICAST};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{
    handover::Handed,
    health::HealthState,
    host::own_addresses,
    ifaces::{Iface, Ifaces},
    instance::{vrid_key, Hooks, Instance},
    rx::{self, Delivery, Incoming},
};
use crate::{
    dataplane::{AdvertLimits, Attached, Dataplane},
    model::{AdvertPath, DaemonSpec, InstanceSpec, ModeChoice, VipSpec, VrrpSpec},
    net::{netlink::Netlink, sockets::PacketSender},
    vrrp::{Centis, Version, VirtualRouter},
};

pub struct Node {
    pub(super) nl: Netlink,
    pub(super) dp: Option<Dataplane>,
    pub(super) ifaces: Ifaces,
    pub(super) instances: Vec<Instance>,
    pub(super) advert_path: AdvertPath,
    pub(super) xdp_mode: ModeChoice,
    pub(super) beat_every: Duration,
    /// What the advert readers send; the driver loop takes it.
    pub(super) rx: Option<mpsc::UnboundedReceiver<Incoming>>,
    /// The control socket's path, once bound.
    pub(super) control: Option<PathBuf>,
    pub(super) delivery: Delivery,
    pub(super) health: HealthState,
    pub(super) hooks: Hooks,
    pub(super) metrics_listen: Option<std::net::SocketAddr>,
    /// `--mlock`: the running daemon keeps CAP_IPC_LOCK (see `privs::Needs`).
    pub(super) mlock: bool,
    /// What the previous process handed over and this one takes (see `handover.rs`); set
    /// before `setup`, empty after it.
    pub(super) adopt: Vec<Handed>,
    /// `startup_script`, `shutdown_script` and `vrrp_startup_delay` as read at start (a reload
    /// that changes them warns: they take effect at the next start).
    pub(super) start_only: StartOnly,
    /// The VIPs the nftables table drops traffic to (Accept_Mode off; empty: no table).
    pub(super) firewall: crate::net::firewall::Dropped,
    /// Whether route and rule deletions are followed (decided when the loop starts).
    pub(super) watching_routing: bool,
    /// The BFD thread, while there are `bfd_instance`s (started by the driver loop).
    pub(super) bfd: Option<crate::bfd::Bfd>,
    /// keepalived `bfd_rt_priority`, else `vrrp_rt_priority`: the BFD thread's.
    pub(super) bfd_rt_priority: Option<u8>,
    /// The election's last beat, for the BFD thread's (see [`crate::bfd::BeatGate`]).
    pub(super) beat_gate: std::sync::Arc<crate::bfd::BeatGate>,
    /// Where BFD state changes go (the driver loop holds the other end), for a thread a
    /// reload starts.
    pub(super) bfd_tx: Option<mpsc::UnboundedSender<crate::bfd::BfdEvent>>,
    /// havip's BGP block, as read (the thread runs from the driver loop's start).
    pub(super) bgp_spec: Option<crate::model::BgpSpec>,
    /// The BGP thread and BIRD under it.
    pub(super) bgp: Option<crate::bgp::Bgp>,
}

/// What a reload cannot change: read at start only (as keepalived's parent process does).
#[derive(Default, PartialEq)]
pub(super) struct StartOnly {
    startup_script: Option<crate::model::LifeScript>,
    shutdown_script: Option<crate::model::LifeScript>,
    startup_delay: Option<Duration>,
    net_namespace: Option<String>,
    static_addresses: Vec<crate::model::StaticAddress>,
    pub(super) static_routes: Vec<crate::model::RouteSpec>,
    pub(super) static_rules: Vec<crate::model::RuleSpec>,
}

impl StartOnly {
    pub(super) fn of(spec: &DaemonSpec) -> StartOnly {
        StartOnly {
            startup_script: spec.startup_script.clone(),
            shutdown_script: spec.shutdown_script.clone(),
            startup_delay: spec.startup_delay,
            net_namespace: spec.net_namespace.clone(),
            static_addresses: spec.static_addresses.clone(),
            static_routes: spec.static_routes.clone(),
            static_rules: spec.static_rules.clone(),
        }
    }
}

impl Node {
    pub fn new(nl: Netlink) -> Self {
        Node {
            nl,
            dp: None,
            ifaces: Ifaces::default(),
            instances: Vec::new(),
            advert_path: AdvertPath::Socket,
            xdp_mode: ModeChoice::Auto,
            beat_every: Duration::from_millis(100),
            rx: None,
            control: None,
            delivery: Delivery::default(),
            health: HealthState::default(),
            hooks: Hooks::default(),
            metrics_listen: None,
            mlock: false,
            adopt: Vec::new(),
            start_only: StartOnly::default(),
            firewall: Default::default(),
            watching_routing: false,
            bfd: None,
            bfd_rt_priority: None,
            bfd_tx: None,
            beat_gate: Default::default(),
            bgp_spec: None,
            bgp: None,
        }
    }

    /// Loads the XDP object, then brings up every interface and instance of `spec` (VIPs not
    /// owned yet, except static owners'). On error the caller runs [`Node::teardown`], which
    /// undoes whatever was done.
    pub async fn setup(&mut self, spec: &DaemonSpec) -> Result<()> {
        self.advert_path = spec.advert_path;
        self.xdp_mode = spec.xdp_mode;
        self.health.scripts = spec.scripts.clone();
        // Before the privileges are dropped (the subscription needs CAP_NET_ADMIN, a socket
        // made in the initial network namespace CAP_SYS_ADMIN).
        self.health.open_process_events();
        self.health.files = spec.track_files.clone();
        HealthState::init_files(&spec.track_files)?;
        self.health.sync_groups = spec.sync_groups.clone();
        self.health.bfds = spec.bfds.clone();
        self.bgp_spec = spec.bgp.clone();
        self.bfd_rt_priority = spec.bfd_rt_priority.or(spec.rt_priority);
        self.hooks.notifier.user = spec.script_user.clone();
        self.hooks.notifier.fifos.set(&spec.notify_fifos)?;
        crate::track::security::set_enforced(spec.script_security);
        self.metrics_listen = spec.metrics_listen;
        self.mlock = spec.mlock;
        self.start_only = StartOnly::of(spec);
        self.ifaces.vip_addrs = all_vips(spec);
        // Before any instance can become master: Accept_Mode off is in force from its first
        // moment as master, or havip does not start.
        self.set_firewall(spec).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.rx = Some(rx);
        self.ifaces.set_adverts_tx(tx.clone());
        let dp = self.dp.insert(Dataplane::load()?);
        dp.beat()?;
        if spec.advert_path == AdvertPath::Ringbuf {
            rx::spawn_ringbuf_reader(dp.take_adverts()?, tx);
        }
        for inst in &spec.instances {
            self.add_instance(inst).await?;
        }
        // Handed-over interfaces: their VIPs are declared owned in this program by now, so it
        // takes the old one's place answering.
        let mut replaced: Vec<u32> = Vec::new();
        for h in std::mem::take(&mut self.adopt) {
            if replaced.contains(&h.ifindex) {
                continue;
            }
            replaced.push(h.ifindex);
            let dp = self.dp.as_mut().context("data plane")?;
            // A fresh heartbeat first: the program answers from the moment it is in place.
            dp.beat()?;
            dp.replace(&self.nl, h.ifindex, &h.iface, h.mode(), h.prog_id)
                .await?;
            info!(iface = %h.iface, mode = %h.mode(), replaced_prog = h.prog_id, "XDP program put in the previous one's place");
        }
        self.apply_heartbeat_ages();
        Ok(())
    }

    /// The interface called `name`, attached and with its sockets open (done once). One that
    /// does not exist is kept as absent, and attached when it appears (as one deleted later).
    async fn ensure_iface(&mut self, name: &str) -> Result<u32> {
        if let Some(index) = self.ifaces.find(name) {
            return Ok(index);
        }
        let Some(link) = self.nl.find_link(name).await? else {
            warn!(iface = %name, "no interface of that name in this network namespace (`ip link` lists them): its instances start in FAULT, and havip attaches when it appears");
            // Never sends while absent (its instances are in FAULT); replaced on attachment.
            let packet = PacketSender::open(0)?;
            return Ok(self.ifaces.insert_absent(name, packet));
        };
        let index = link.index;
        if !self.adopt.iter().any(|h| h.ifindex == index) {
            let mode = self.attach_xdp(index, &link.name).await?;
            info!(iface = %link.name, %mode, "XDP program attached");
        }
        let packet = PacketSender::open(index)?;
        self.ifaces.insert(index, Iface::new(name, link, packet));
        let addrs = self.nl.addresses(index).await?;
        let vips = &self.ifaces.vip_addrs;
        let (v4, ll) = own_addresses(&addrs, vips, None, None);
        let iface = self.ifaces.get_mut(&index).expect("just inserted");
        (iface.primary_v4, iface.link_local) = (v4, ll);
        self.ifaces.open_sockets(index)?;
        Ok(index)
    }

    /// Attaches XDP to interface `ifindex` (`ifname`) in the configured mode: the one place
    /// the daemon attaches, at start-up and when a deleted interface comes back.
    pub(super) async fn attach_xdp(&mut self, ifindex: u32, ifname: &str) -> Result<Attached> {
        let mode = self.xdp_mode;
        let dp = self.dp.as_mut().context("data plane")?;
        dp.attach(&self.nl, ifindex, ifname, mode).await
    }

    /// Forgets the attachment to interface `ifindex`, which was deleted (the kernel detached
    /// the program with it), so that its successor can be attached.
    pub(super) fn forget_xdp(&mut self, ifindex: u32) -> Result<()> {
        self.dp.as_mut().context("data plane")?.forget(ifindex);
        Ok(())
    }

    /// Detaches XDP from interface `ifindex` (a re-attachment that could not be completed).
    pub(super) async fn detach_xdp(&mut self, ifindex: u32) -> Result<()> {
        let dp = self.dp.as_mut().context("data plane")?;
        dp.detach(&self.nl, ifindex).await
    }

    /// Whether an attachment runs in native mode (and so must be checked for a way to
    /// transmit).
    pub(super) fn has_native(&self) -> bool {
        self.dp
            .as_ref()
            .is_some_and(|dp| dp.attachments().iter().any(|a| a.mode == Attached::Native))
    }

    /// Brings up one instance: its interface, its router (not started), its VRID and VIP
    /// entries in XDP (not owned), and no VIP left on the interface; a static owner takes its
    /// VIPs at once.
    pub(super) async fn add_instance(&mut self, inst: &InstanceSpec) -> Result<()> {
        let ifindex = self.ensure_iface(&inst.iface).await?;
        if let Some(group) = inst.vrrp.as_ref().and_then(|v| v.mcast_group) {
            self.ifaces.join_group(ifindex, group)?;
        }
        let iface = &self.ifaces[&ifindex];
        let present = iface.present;
        if !present && inst.vrrp.is_none() {
            bail!(
                "instance {}: interface {} does not exist: VIPs without VRRP are added at once, \
                 so their interface must be there",
                inst.name,
                inst.iface
            );
        }
        let mut max_heartbeat_age = Duration::from_secs(1);
        let router = match &inst.vrrp {
            None => None,
            Some(v) => {
                let v6 = inst.vips.iter().any(|vip| vip.addr.is_ipv6());
                // Without an address of its own the instance is in FAULT (`host_fault`) until
                // one appears, which then becomes the router's (`resync_addresses`).
                let primary = match iface.own_addr(v6) {
                    Some(a) => a,
                    None => {
                        if present {
                            self.refuse_vip_only(inst, ifindex, &self.ifaces.vip_addrs)
                                .await?;
                            warn_no_source(&inst.name, &iface.link.name, v6);
                        }
                        if v6 {
                            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                        } else {
                            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
                        }
                    }
                };
                let router = VirtualRouter::new(v.router_config(&inst.vips, primary))
                    .map_err(|e| anyhow::anyhow!("instance {}: {e}", inst.name))?;
                max_heartbeat_age = heartbeat_age(v.advert_interval);
                let config = vrid_config(v, self.advert_path);
                if !v.unicast_peers.is_empty() && !v.check_unicast_src {
                    warn!(instance = %inst.name, "unicast source check off: adverts from any source are accepted, so any host that can reach this one can take the VIPs over");
                }
                // An absent interface's entries are written when it appears (`reattach`).
                if present {
                    self.dp.as_mut().context("data plane")?.set_vrid(
                        vrid_key(ifindex, v.vrid, v6),
                        config,
                        &vrid_peers(v),
                    )?;
                }
                Some(router)
            }
        };
        if let Some(v) = &inst.vrrp {
            for (name, _) in &v.track_interfaces {
                self.health.track_link(&self.nl, name).await;
            }
        }
        self.instances
            .push(Instance::new(inst, ifindex, router, max_heartbeat_age));
        let i = self.instances.len() - 1;
        if !present {
            return Ok(());
        }
        if self.adopt.iter().any(|h| h.name == inst.name) {
            // Handed over as master: the VIPs stay where they are, owned in this program too
            // before it takes the old one's place.
            self.declare_vips(i, true)?;
            self.instances[i].owned = true;
            self.instances[i].resume = true;
            return Ok(());
        }
        self.declare_vips(i, false)?;
        if let Some(vmac) = self.instances[i].vmac() {
            // A killed master's: the NIC would go on taking the virtual MAC's frames.
            if self.nl.del_unicast_mac(ifindex, vmac).await? {
                warn!(instance = %inst.name, vmac = %crate::net::netlink::mac_str(vmac), "removed the virtual MAC a previous run left in the interface's unicast filter");
            }
        }
        let has_source = self.ifaces[&ifindex]
            .own_addr(self.instances[i].is_v6())
            .is_some();
        if self.instances[i].router.is_some() && has_source {
            // A backup must not hold the VIPs: remove any left on the interface. (Without an
            // address of its own the instance is in FAULT; `refuse_vip_only` made sure that
            // none of them is the interface's only address.)
            let inst = &self.instances[i];
            for vip in &inst.spec.vips {
                if Some(vip.addr) != self.ifaces[&inst.ifindex].primary_v4.map(IpAddr::V4)
                    && self.nl.del_address(inst.ifindex, vip.addr).await?
                {
                    warn!(instance = %inst.spec.name, %vip, "removed the VIP found on the interface at start-up");
                }
            }
        } else if self.instances[i].router.is_none() {
            self.own(i).await?;
        }
        Ok(())
    }

    /// Refuses an instance whose interface's addresses of its family are all VIPs: it has no
    /// address of its own to advertise from, and removing the "VIPs" found there, as a backup
    /// does at start, would remove the host's address (a priority-255 owner's VIP, or a VIP
    /// copied from the node's own address).
    pub(super) async fn refuse_vip_only(
        &self,
        inst: &InstanceSpec,
        ifindex: u32,
        vips: &HashSet<IpAddr>,
    ) -> Result<()> {
        let addrs = self.nl.addresses(ifindex).await?;
        let v6 = inst.vips.iter().any(|v| v.addr.is_ipv6());
        let family: Vec<IpAddr> = addrs
            .iter()
            .map(|a| a.addr)
            .filter(|a| a.is_ipv6() == v6 && (!v6 || is_link_local(a)))
            .collect();
        if !family.iter().all(|a| vips.contains(a)) {
            return Ok(()); // It has one of its own.
        }
        if let Some(vip) = family
            .iter()
            .find(|a| inst.vips.iter().any(|v| v.addr == **a))
        {
            bail!(
                "instance {}: the only {} address of interface {} is VIP {vip}: VRRP adverts \
                 need an address of the node's own as their source (RFC 9568 §5.1.1.1); add \
                 one with `ip addr add ADDR/LEN dev {}`, or make the VIP another address",
                inst.name,
                if v6 { "link-local" } else { "IPv4" },
                inst.iface,
                inst.iface
            );
        }
        Ok(())
    }

    /// Starts instance `i`'s election (FAULT first when its interface is down, as keepalived).
    pub(super) async fn start_instance(&mut self, i: usize, now: Instant) {
        self.apply_health(i, now);
        let resume = std::mem::take(&mut self.instances[i].resume);
        if let Some(r) = &mut self.instances[i].router {
            if resume {
                r.resume_master(now);
            } else {
                r.startup(now);
            }
        }
        self.drain(i).await;
        // Handed over as master but not resumed (it starts in FAULT: its link went down, a
        // tracked interface or check is down...): the VIPs it was handed are given up.
        let resumed = self.instances[i]
            .router
            .as_ref()
            .is_some_and(|r| r.state() == crate::vrrp::State::Master);
        if resume && !resumed && self.instances[i].owned {
            if let Err(e) = self.disown(i).await {
                warn!(instance = %self.instances[i].spec.name, "giving up the VIPs handed over: {e:#}");
            }
        }
    }

    /// Each instance's heartbeat age: two advert intervals, capped by the BFD sessions
    /// ([`bfd_heartbeat_age`]); entries that change are written again. Then the beat period
    /// follows, and the BFD thread's gate (how stale the election's beat may be).
    pub(super) fn apply_heartbeat_ages(&mut self) {
        let cap = bfd_heartbeat_age(&self.health.bfds);
        for i in 0..self.instances.len() {
            let inst = &self.instances[i];
            let want = cap.map_or(inst.advert_heartbeat_age, |c| {
                inst.advert_heartbeat_age.min(c)
            });
            if want == inst.max_heartbeat_age {
                continue;
            }
            self.instances[i].max_heartbeat_age = want;
            let present = self
                .ifaces
                .get(&self.instances[i].ifindex)
                .is_some_and(|f| f.present);
            if present {
                let owned = self.instances[i].owned;
                if let Err(e) = self.declare_vips(i, owned) {
                    warn!(instance = %self.instances[i].spec.name, "heartbeat age: {e:#}");
                }
            }
        }
        self.recompute_beat();
    }

    /// The heartbeat period: a quarter of the shortest heartbeat age.
    pub(super) fn recompute_beat(&mut self) {
        let min_age = self
            .instances
            .iter()
            .map(|i| i.max_heartbeat_age)
            .min()
            .unwrap_or(Duration::from_secs(1));
        self.beat_every = (min_age / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        // The BFD thread beats too, while the election's own beat is no older than two advert
        // intervals: a stalled election still silences XDP as without BFD.
        let advert_age = self
            .instances
            .iter()
            .map(|i| i.advert_heartbeat_age)
            .min()
            .unwrap_or(Duration::from_secs(1));
        self.beat_gate.allow_ns.store(
            advert_age.as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Undoes whatever `setup` and `serve` left: VIPs disowned and removed, XDP detached.
    /// Errors are logged and teardown goes on.
    pub async fn teardown(&mut self) {
        // BIRD first (a start that failed half-way may have started it): no route outlives
        // the VIPs.
        self.stop_bgp();
        if let Some(path) = self.control.take() {
            let _ = std::fs::remove_file(path);
        }
        for i in 0..self.instances.len() {
            if let Err(e) = self.disown(i).await {
                warn!(instance = %self.instances[i].spec.name, "releasing VIPs: {e:#}");
            }
            self.instances[i].restore_arp_announce();
        }
        if !self.firewall.is_empty() {
            match crate::net::firewall::remove().await {
                Ok(()) => info!(table = "inet havip", "no_accept: nftables table removed"),
                Err(e) => warn!("no_accept: {e:#}"),
            }
            self.firewall = Default::default();
        }
        if let Some(dp) = self.dp.take() {
            match dp.shutdown(&self.nl).await {
                Ok(ifaces) => {
                    for iface in ifaces {
                        info!(%iface, "XDP program detached");
                    }
                }
                Err(e) => warn!("could not detach the XDP program: {e:#}"),
            }
        }
    }
}

impl Node {
    /// Makes the nftables table drop what `spec`'s instances with Accept_Mode off want dropped
    /// (net::firewall). Unchanged: nothing runs. (A table a previous run left is the start's
    /// business: `remove_left_firewall`.)
    pub(super) async fn set_firewall(&mut self, spec: &DaemonSpec) -> Result<()> {
        use crate::net::firewall;
        let want = firewall::Dropped::of(spec);
        if want == self.firewall {
            return Ok(());
        }
        if want.is_empty() {
            firewall::remove().await?;
            info!(table = "inet havip", "no_accept: nftables table removed");
        } else {
            firewall::apply(&want).await?;
            info!(
                table = "inet havip",
                vips = want.len(),
                "no_accept: traffic to the VIPs of masters that are not the address owner is dropped (nftables)"
            );
        }
        self.firewall = want;
        Ok(())
    }
}

/// How long XDP answers for a master's VIPs after the daemon's last heartbeat: two advert
/// intervals. A daemon stopped just before an advert beat up to one interval after its last
/// advert, and no backup takes over sooner than three intervals after that advert (its
/// Master_Down_Interval is at least that): never two responders. ¾ of the Master_Down_Interval,
/// as before, missed that interval (the 60-minute chaos run: one request answered by both).
pub(super) fn heartbeat_age(advert_interval: Centis) -> Duration {
    advert_interval.duration() * 2
}

/// With BFD sessions, a peer may take over within its detection time of this daemon's death
/// (fast takeover), far sooner than two advert intervals: XDP must stop answering for the VIPs
/// by then. A peer's detection time is at least multiplier × min_tx of our session, counted
/// from our last packet, which may be one interval before our last beat: the age is capped at
/// (multiplier − 1) × min_tx (one min_tx at multiplier 1), the smallest over the sessions.
/// The BFD thread, real-time and awake every interval, keeps the beat that fresh.
pub(super) fn bfd_heartbeat_age(bfds: &[crate::model::BfdSpec]) -> Option<Duration> {
    bfds.iter()
        .map(|b| b.min_tx * u32::from(b.multiplier.saturating_sub(1).max(1)))
        .min()
}

fn is_link_local(a: &IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// Says, at an instance's start, that its interface has no address to send adverts from.
fn warn_no_source(instance: &str, iface: &str, v6: bool) {
    if v6 {
        warn!(
            %instance,
            "interface {iface} has no IPv6 link-local address: VRRP over IPv6 sends from it \
             (RFC 9568 §5.1.2.1); is IPv6 disabled on it? The instance is in FAULT until it \
             has one"
        );
    } else {
        warn!(
            %instance,
            "interface {iface} has no IPv4 address of its own: VRRP adverts need one as their \
             source (RFC 9568 §5.1.1.1); add one with `ip addr add ADDR/LEN dev {iface}`. The \
             instance is in FAULT until it has one"
        );
    }
}

/// Every VIP address of `spec`.
pub(super) fn all_vips(spec: &DaemonSpec) -> HashSet<IpAddr> {
    spec.instances
        .iter()
        .flat_map(|i| i.vips.iter().map(|v: &VipSpec| v.addr))
        .collect()
}

/// What XDP must know of a virtual router.
pub(super) fn vrid_config(v: &VrrpSpec, path: AdvertPath) -> VridConfig {
    let mut flags = match path {
        AdvertPath::Ringbuf => VRID_DELIVER_RINGBUF,
        AdvertPath::Socket => 0,
    };
    if !v.unicast_peers.is_empty() {
        flags |= VRID_UNICAST;
    }
    if !vrid_peers(v).is_empty() {
        flags |= VRID_CHECK_SRC;
    }
    let version = match v.version {
        Version::V2 => 2,
        Version::V3 => 3,
    };
    let limits = AdvertLimits::for_interval(v.advert_interval.duration());
    VridConfig {
        version,
        reserved: [0; 3],
        flags,
        src_interval_ns: limits.src_interval_ns,
        src_tolerance_ns: limits.src_tolerance_ns,
        shared_interval_ns: limits.shared_interval_ns,
        shared_tolerance_ns: limits.shared_tolerance_ns,
        master: [0; 16],
    }
}

/// The only sources XDP accepts adverts from: the unicast peers, unless the check is off
/// (keepalived's `check_unicast_src`, on here by default). Empty: any source.
pub(super) fn vrid_peers(v: &VrrpSpec) -> Vec<std::net::IpAddr> {
    if v.check_unicast_src {
        v.unicast_peers.clone()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::heartbeat_age;
    use crate::vrrp::{master_down_interval, Centis, Version};

    /// The fail-safe's bound: a master's XDP stops answering (its last beat, up to one advert
    /// interval after its last advert, plus the heartbeat age) no later than any backup can
    /// take over (the last advert plus that backup's Master_Down_Interval), for every interval
    /// and backup priority. The old age, ¾ of the master's Master_Down_Interval, fails it.
    #[test]
    fn xdp_falls_silent_before_any_backup_can_take_over() {
        for version in [Version::V2, Version::V3] {
            for centis in [1u16, 2, 5, 10, 100, 300, 4095] {
                let i = Centis(centis);
                let silent = i.duration() + heartbeat_age(i);
                for q in 1..=254u8 {
                    let takeover = master_down_interval(version, i, q);
                    assert!(
                        silent <= takeover,
                        "{version:?} {centis} cs, backup {q}: silent at {silent:?}, takeover at {takeover:?}"
                    );
                }
            }
        }
    }
}
