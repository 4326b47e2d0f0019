//! The node: interfaces, instances and the data plane, and the driver loop that runs the
//! election for each instance: it feeds the state machines with time, adverts and signals, and
//! carries out their actions (adverts, VIP ownership, addresses, GARPs).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use havip_ebpf::{
    Vip6Key, VipKey, VipState, VridConfig, VridKey, FAMILY_IPV4, FAMILY_IPV6, VIP_OWNED,
    VRID_DELIVER_RINGBUF, VRID_UNICAST,
};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::{mpsc, watch},
};
use tracing::{debug, error, info, warn};

use super::rx::{self, Incoming};
use crate::model::{AdvertPath, DaemonSpec, InstanceSpec, ScriptSpec, VipSpec};
use crate::{
    control::{
        AdvertCounters, CheckSnapshot, DaemonSnapshot, HostChanges, IfaceSnapshot,
        InstanceSnapshot, LatencySummary, XdpAttachmentSnapshot,
    },
    dataplane::{monotonic_ns, Attached, Dataplane},
    net::{
        netlink::{Link, Netlink},
        sockets::{PacketSender, VrrpSocketV4, VrrpSocketV6, VRRP_GROUP_V4, VRRP_GROUP_V6},
    },
    vrrp::{Action, AdvertAuth, Centis, DropReason, RxAdvert, State, Version, VirtualRouter},
    wire::{
        parse_ip_advert, ArpFrame, ChecksumMode, EthernetAddress, NeighborAdvertFrame,
        VrrpAddresses, VrrpAuth, VrrpAuthType, VrrpPacket, VrrpRepr, VrrpVersion,
    },
};
use crate::{
    notify::{Notifier, NotifyHandle, NotifyState},
    track::{
        effective_priority, tracked_interfaces, tracked_scripts, CheckSpec, Health, TrackEvent,
        Tracker, Verdict,
    },
};

mod host;

use host::own_addresses;

/// An interface the node works on.
struct Iface {
    /// As the kernel last described it (name and MAC follow renames and MAC changes).
    link: Link,
    /// The name the configuration gave it: what a re-created interface must be called.
    configured: String,
    /// The name XDP was attached under (the data plane knows the attachment by it).
    attached_as: String,
    /// False from its deletion until an interface of the configured name appears again.
    present: bool,
    /// The interface's own IPv4 address: the source of adverts (RFC 9568 §5.1.1.1).
    primary_v4: Option<Ipv4Addr>,
    vrrp4: Option<Arc<VrrpSocketV4>>,
    /// The interface's IPv6 link-local address: the source of IPv6 adverts (RFC 9568 §5.1.2.1).
    link_local: Option<Ipv6Addr>,
    vrrp6: Option<Arc<VrrpSocketV6>>,
    /// The tasks reading `vrrp4` and `vrrp6`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    packet: PacketSender,
    changes: HostChanges,
}

impl Drop for Iface {
    fn drop(&mut self) {
        self.close_sockets();
    }
}

impl Iface {
    /// Closes the VRRP sockets (their readers stop): the interface is gone.
    fn close_sockets(&mut self) {
        for r in self.readers.drain(..) {
            r.abort();
        }
        self.vrrp4 = None;
        self.vrrp6 = None;
    }

    /// This node's own address of `v6`'s family on the interface: the advert source and
    /// tie-break key.
    fn own_addr(&self, v6: bool) -> Option<IpAddr> {
        if v6 {
            self.link_local.map(IpAddr::V6)
        } else {
            self.primary_v4.map(IpAddr::V4)
        }
    }
}

/// One instance at run time.
struct Instance {
    spec: InstanceSpec,
    ifindex: u32,
    router: Option<VirtualRouter>,
    checksum: ChecksumMode,
    /// Whether the VIPs are owned (in the XDP map and on the interface).
    owned: bool,
    /// Adverts for this instance that failed to parse (bad checksum, bad lengths...).
    malformed: u64,
    /// The heartbeat age after which XDP stops answering for this instance's VIPs.
    max_heartbeat_age: Duration,
    /// A VIP that could not be added (back): the instance stays in FAULT until the interface
    /// changes again (link, address, re-creation) or a reload.
    vip_fault: Option<String>,
    /// When VIPs of this instance were last added back after another agent removed them.
    readds: std::collections::VecDeque<Instant>,
}

impl Instance {
    /// Whether the instance's VIPs (all of one family) are IPv6.
    fn is_v6(&self) -> bool {
        self.spec.vips.iter().any(|v| v.addr.is_ipv6())
    }
}

pub struct Node {
    nl: Netlink,
    dp: Option<Dataplane>,
    ifaces: BTreeMap<u32, Iface>,
    instances: Vec<Instance>,
    advert_path: AdvertPath,
    xdp_mode: crate::model::ModeChoice,
    /// Where the advert readers send what they receive.
    adverts_tx: Option<mpsc::UnboundedSender<Incoming>>,
    beat_every: Duration,
    rx: Option<mpsc::UnboundedReceiver<Incoming>>,
    /// The control socket's path, once bound.
    control: Option<std::path::PathBuf>,
    /// Recent advert delivery latencies, nanoseconds.
    delivery_ns: std::collections::VecDeque<u64>,
    /// Adverts handled so far (for sampling the delivery latency).
    adverts_handled: u64,
    /// keepalived `vrrp_script` blocks, for the instances' `track_script`.
    scripts: Vec<ScriptSpec>,
    /// keepalived `vrrp_sync_group` blocks: their members share FAULT.
    sync_groups: Vec<crate::model::SyncGroupSpec>,
    tracker: Option<Tracker>,
    /// Where the current tracker's events go (the driver loop's end lives in `serve`).
    track_tx: Option<mpsc::UnboundedSender<TrackEvent>>,
    /// Health of each check, by name, as the tracker last reported it.
    check_health: HashMap<String, Health>,
    /// Link state of the interfaces instances track (`track_interface`), by index.
    tracked_links: BTreeMap<u32, (String, bool)>,
    notifier: Notifier,
    /// STOP hooks still running at exit (they get a second, as in keepalived).
    stop_hooks: Vec<NotifyHandle>,
    metrics_listen: Option<std::net::SocketAddr>,
    /// Every VIP of the configuration: never taken for an interface's own address.
    vip_addrs: HashSet<IpAddr>,
}

/// How often native attachments are checked for a way to transmit.
const NATIVE_RECHECK: Duration = Duration::from_secs(1);
/// How many delivery-latency samples the snapshot summarises.
const DELIVERY_SAMPLES: usize = 4096;
/// On the socket path, one advert in this many is timed (it costs a map read).
const DELIVERY_SAMPLE_EVERY: u64 = 8;

/// Master_Down_Interval for `priority` at `interval` (RFC 9568 §6.1; v2 has the same shape in
/// seconds): how long a backup waits before it takes over.
fn master_down_interval(version: Version, interval: Centis, priority: u8) -> Duration {
    crate::vrrp::master_down_interval(version, interval, priority)
}

impl Node {
    pub fn new(nl: Netlink) -> Self {
        Node {
            nl,
            dp: None,
            ifaces: BTreeMap::new(),
            instances: Vec::new(),
            advert_path: AdvertPath::Socket,
            xdp_mode: crate::model::ModeChoice::Auto,
            adverts_tx: None,
            beat_every: Duration::from_millis(100),
            rx: None,
            control: None,
            delivery_ns: std::collections::VecDeque::new(),
            adverts_handled: 0,
            scripts: Vec::new(),
            sync_groups: Vec::new(),
            tracker: None,
            track_tx: None,
            check_health: HashMap::new(),
            tracked_links: BTreeMap::new(),
            notifier: Notifier::default(),
            stop_hooks: Vec::new(),
            metrics_listen: None,
            vip_addrs: HashSet::new(),
        }
    }

    /// Loads the XDP object, then brings up every interface and instance of `spec` (VIPs not
    /// owned yet, except static owners'). On error the caller runs [`Node::teardown`], which
    /// undoes whatever was done.
    pub async fn setup(&mut self, spec: &DaemonSpec) -> Result<()> {
        self.advert_path = spec.advert_path;
        self.xdp_mode = spec.xdp_mode;
        self.scripts = spec.scripts.clone();
        self.sync_groups = spec.sync_groups.clone();
        self.notifier.user = spec.script_user.clone();
        self.metrics_listen = spec.metrics_listen;
        self.vip_addrs = all_vips(spec);
        let (tx, rx) = mpsc::unbounded_channel();
        self.rx = Some(rx);
        self.adverts_tx = Some(tx.clone());
        let dp = self.dp.insert(Dataplane::load()?);
        dp.beat()?;
        if spec.advert_path == AdvertPath::Ringbuf {
            rx::spawn_ringbuf_reader(dp.take_adverts()?, tx);
        }
        for inst in &spec.instances {
            self.add_instance(inst).await?;
        }
        self.recompute_beat();
        Ok(())
    }

    /// The interface called `name`, attached and with its sockets open (done once).
    async fn ensure_iface(&mut self, name: &str) -> Result<u32> {
        // By the configured name, or the name now (a reload after a rename names the new one).
        let known = |i: &Iface| i.configured == name || (i.present && i.link.name == name);
        if let Some((&index, _)) = self.ifaces.iter().find(|(_, i)| known(i)) {
            return Ok(index);
        }
        let link = self.nl.link(name).await?;
        let mode = self.attach_xdp(link.index, &link.name).await?;
        info!(iface = %link.name, %mode, "XDP program attached");
        let index = link.index;
        let packet = PacketSender::open(index)?;
        self.ifaces.insert(
            index,
            Iface {
                configured: name.to_string(),
                attached_as: link.name.clone(),
                link,
                present: true,
                primary_v4: None,
                vrrp4: None,
                link_local: None,
                vrrp6: None,
                readers: Vec::new(),
                packet,
                changes: HostChanges::default(),
            },
        );
        let addrs = self.nl.addresses(index).await?;
        let iface = self.ifaces.get_mut(&index).expect("just inserted");
        (iface.primary_v4, iface.link_local) = own_addresses(&addrs, &self.vip_addrs, None, None);
        self.open_sockets(index)?;
        Ok(index)
    }

    /// Attaches XDP to interface `ifindex` (`ifname`) in the configured mode: the one place
    /// the daemon attaches, at start-up and when a deleted interface comes back.
    async fn attach_xdp(&mut self, ifindex: u32, ifname: &str) -> Result<Attached> {
        let mode = self.xdp_mode;
        let dp = self.dp.as_mut().context("data plane")?;
        dp.attach(&self.nl, ifindex, ifname, mode).await
    }

    /// Forgets the attachment to interface `ifindex`, which was deleted (the kernel detached
    /// the program with it), so that its successor can be attached.
    fn forget_xdp(&mut self, ifindex: u32) -> Result<()> {
        self.dp.as_mut().context("data plane")?.forget(ifindex);
        Ok(())
    }

    /// Detaches XDP from interface `ifindex` (a re-attachment that could not be completed).
    async fn detach_xdp(&mut self, ifindex: u32) -> Result<()> {
        let dp = self.dp.as_mut().context("data plane")?;
        dp.detach(&self.nl, ifindex).await
    }

    /// Opens the VRRP sockets interface `index` lacks, for each family it has an address of
    /// its own in, and starts their readers.
    fn open_sockets(&mut self, index: u32) -> Result<()> {
        let tx = self.adverts_tx.clone().context("set up first")?;
        let iface = self.ifaces.get_mut(&index).context("no such interface")?;
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
        Ok(())
    }

    /// Brings up one instance: its interface, its router (not started), its VRID and VIP
    /// entries in XDP (not owned), and no VIP left on the interface; a static owner takes its
    /// VIPs at once.
    async fn add_instance(&mut self, inst: &InstanceSpec) -> Result<()> {
        let ifindex = self.ensure_iface(&inst.iface).await?;
        let iface = &self.ifaces[&ifindex];
        let mut max_heartbeat_age = Duration::from_secs(1);
        let router = match &inst.vrrp {
            None => None,
            Some(v) => {
                let v6 = inst.vips.iter().any(|vip| vip.addr.is_ipv6());
                let Some(primary) = iface.own_addr(v6) else {
                    if v6 {
                        bail!(
                            "interface {} has no IPv6 link-local address: VRRP over IPv6 sends \
                             from it (RFC 9568 §5.1.2.1); is IPv6 disabled on it?",
                            iface.link.name
                        );
                    }
                    bail!(
                        "interface {} has no IPv4 address of its own: VRRP adverts need one as \
                         their source (RFC 9568 §5.1.1.1); add one with `ip addr add ADDR/LEN \
                         dev {}`",
                        iface.link.name,
                        iface.link.name
                    );
                };
                let router = VirtualRouter::new(v.router_config(&inst.vips, primary))
                    .map_err(|e| anyhow::anyhow!("instance {}: {e}", inst.name))?;
                // Answers stop three quarters of a Master_Down_Interval after the daemon
                // dies: before the backup takes over, so never two responders.
                max_heartbeat_age =
                    master_down_interval(v.version, v.advert_interval, v.priority) * 3 / 4;
                let config = vrid_config(v, self.advert_path);
                self.dp
                    .as_mut()
                    .context("data plane")?
                    .set_vrid(vrid_key(ifindex, v.vrid, v6), config)?;
                Some(router)
            }
        };
        if let Some(v) = &inst.vrrp {
            for (name, _) in &v.track_interfaces {
                self.track_link(name).await;
            }
        }
        self.instances.push(Instance {
            spec: inst.clone(),
            ifindex,
            router,
            checksum: inst
                .vrrp
                .as_ref()
                .map_or(ChecksumMode::PseudoHeader, |v| v.checksum),
            owned: false,
            malformed: 0,
            max_heartbeat_age,
            vip_fault: None,
            readds: std::collections::VecDeque::new(),
        });
        let i = self.instances.len() - 1;
        self.declare_vips(i, false)?;
        if self.instances[i].router.is_some() {
            // A backup must not hold the VIPs: remove any left on the interface.
            let inst = &self.instances[i];
            for vip in &inst.spec.vips {
                if Some(vip.addr) != self.ifaces[&inst.ifindex].primary_v4.map(IpAddr::V4)
                    && self.nl.del_address(inst.ifindex, vip.addr).await?
                {
                    warn!(instance = %inst.spec.name, %vip, "removed the VIP found on the interface at start-up");
                }
            }
        } else {
            self.own(i).await?;
        }
        Ok(())
    }

    /// Starts instance `i`'s election (FAULT first when its interface is down, as keepalived).
    async fn start_instance(&mut self, i: usize, now: Instant) {
        self.apply_health(i, now);
        if let Some(r) = &mut self.instances[i].router {
            r.startup(now);
        }
        self.drain(i).await;
    }

    /// (Re)starts the health checks of `self.scripts`; their events reach the driver loop
    /// through `track_tx`, which outlives any one tracker.
    async fn start_tracker(&mut self) -> Result<()> {
        if let Some(old) = self.tracker.take() {
            old.stop().await;
        }
        let checks = self
            .scripts
            .iter()
            .map(CheckSpec::from_script)
            .collect::<Result<Vec<_>>>()?;
        let (tracker, mut events) = Tracker::spawn(checks)?;
        let tx = self
            .track_tx
            .clone()
            .context("the driver loop is not running")?;
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        self.tracker = Some(tracker);
        Ok(())
    }

    /// Starts following `name`'s link state for `track_interface` (once per interface). A
    /// missing interface counts as down.
    async fn track_link(&mut self, name: &str) {
        if self.tracked_links.values().any(|(n, _)| n == name) {
            return;
        }
        match self.nl.link(name).await {
            Ok(link) => {
                self.tracked_links.insert(link.index, (link.name, link.up));
            }
            Err(e) => warn!(iface = %name, "track_interface: {e:#}; counted as down"),
        }
    }

    /// Instance `i`'s own verdict: FAULT when its interface is down or a host change holds it,
    /// else what its tracked interfaces and scripts say (keepalived's weights). `None` for a
    /// static owner.
    fn own_verdict(&self, i: usize) -> Option<Verdict> {
        let inst = &self.instances[i];
        let v = inst.spec.vrrp.as_ref()?;
        if !self.ifaces[&inst.ifindex].link.up || self.host_fault(i).is_some() {
            return Some(Verdict::Fault);
        }
        let check = |name: &str| {
            self.check_health
                .get(name)
                .copied()
                .unwrap_or(Health::Unknown)
        };
        let link = |name: &str| {
            self.tracked_links
                .values()
                .find(|(n, _)| n == name)
                .map_or(Health::Down, |(_, up)| Health::from(*up))
        };
        let mut tracked = tracked_scripts(v, &self.scripts, check);
        tracked.extend(tracked_interfaces(v, link));
        Some(effective_priority(v.priority, &tracked))
    }

    /// Applies instance `i`'s health to its router (idempotent). Members of a
    /// `vrrp_sync_group` share FAULT: when one is in FAULT, all are (keepalived's rule, so a
    /// group's VIPs never end up split across nodes by a failed link or check).
    fn apply_health(&mut self, i: usize, now: Instant) {
        let Some(mut verdict) = self.own_verdict(i) else {
            return;
        };
        let name = &self.instances[i].spec.name;
        let group_faulted = self
            .sync_groups
            .iter()
            .filter(|g| g.instances.contains(name))
            .flat_map(|g| g.instances.iter())
            .filter_map(|member| self.instances.iter().position(|x| &x.spec.name == member))
            .any(|j| j != i && self.own_verdict(j) == Some(Verdict::Fault));
        if group_faulted {
            verdict = Verdict::Fault;
        }
        let Some(r) = &mut self.instances[i].router else {
            return;
        };
        match verdict {
            Verdict::Fault => r.enter_fault(now),
            Verdict::Priority(p) | Verdict::Init(p) => {
                r.set_priority(now, p);
                r.leave_fault(now);
            }
        }
    }

    /// A check changed state: every instance's health is re-applied.
    async fn on_track(&mut self, ev: TrackEvent) {
        let level = if ev.healthy { "up" } else { "down" };
        debug!(check = %ev.check, state = level, detail = %ev.detail, "check");
        self.check_health.insert(ev.check, Health::from(ev.healthy));
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.apply_health(i, now);
            self.drain(i).await;
        }
    }

    /// Stops instance `i` (a master says priority 0 and releases its VIPs) and forgets it, in
    /// XDP too.
    async fn remove_instance(&mut self, i: usize) -> Result<()> {
        if let Some(r) = &mut self.instances[i].router {
            r.shutdown(Instant::now());
        }
        self.drain(i).await;
        self.disown(i).await?;
        self.forget_entries(i)?;
        self.instances.remove(i);
        Ok(())
    }

    /// The heartbeat period: a quarter of the shortest heartbeat age.
    fn recompute_beat(&mut self) {
        let min_age = self
            .instances
            .iter()
            .map(|i| i.max_heartbeat_age)
            .min()
            .unwrap_or(Duration::from_secs(1));
        self.beat_every = (min_age / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
    }

    /// SIGHUP: moves to `new`. Instances whose spec did not change keep their state (no VIP
    /// flap, no extra GARP); changed ones are stopped and started anew; removed ones stop; new
    /// ones start. The XDP mode and advert path need a restart (a warning says so).
    pub async fn reload(&mut self, new: &DaemonSpec) -> Result<()> {
        if new.xdp_mode != self.xdp_mode || new.advert_path != self.advert_path {
            warn!("reload: --xdp-mode and --advert-path changes take effect at the next restart");
        }
        self.sync_groups = new.sync_groups.clone();
        self.vip_addrs = all_vips(new);
        // A reload is the operator's "try again" for VIPs that could not be held.
        for inst in &mut self.instances {
            inst.vip_fault = None;
        }
        if new.scripts != self.scripts {
            // Checks restart from no result: instances tracking them keep their state until the
            // first results (keepalived restarts its scripts on reload too).
            self.scripts = new.scripts.clone();
            self.check_health
                .retain(|name, _| new.scripts.iter().any(|s| &s.name == name));
            self.start_tracker().await?;
            info!(
                checks = self.scripts.len(),
                "reload: health checks restarted"
            );
        }
        let mut i = 0;
        while i < self.instances.len() {
            let keep = new.instances.iter().any(|n| *n == self.instances[i].spec);
            if keep {
                i += 1;
            } else {
                info!(instance = %self.instances[i].spec.name, "reload: stopping (changed or removed)");
                self.remove_instance(i).await?;
            }
        }
        let now = Instant::now();
        for inst in &new.instances {
            if self.instances.iter().any(|i| i.spec == *inst) {
                continue;
            }
            info!(instance = %inst.name, "reload: starting");
            self.add_instance(inst).await?;
            let i = self.instances.len() - 1;
            self.start_instance(i, now).await;
        }
        self.apply_health_all().await;
        self.recompute_beat();
        info!(instances = self.instances.len(), "reload done");
        Ok(())
    }

    /// Starts the elections and runs until SIGINT/SIGTERM; then the routers shut down (a
    /// priority-0 advert from a master) and their VIPs are released.
    pub async fn serve(&mut self, control: &Path, reload: Option<&Reloader>) -> Result<()> {
        let _ = std::fs::remove_file(control);
        let listener = tokio::net::UnixListener::bind(control)
            .with_context(|| format!("binding the control socket {}", control.display()))?;
        self.control = Some(control.to_path_buf());
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut rx = self.rx.take().context("set up first")?;
        let mut beat = tokio::time::interval(self.beat_every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (host_tx, mut host_events) = mpsc::unbounded_channel();
        crate::net::netlink::watch_host(host_tx)?;
        let mut sighup = signal(SignalKind::hangup())?;
        let (track_tx, mut track_events) = mpsc::unbounded_channel();
        self.track_tx = Some(track_tx);
        self.start_tracker().await?;
        let (snapshot_tx, snapshot_rx) = watch::channel(self.snapshot());
        if let Some(addr) = self.metrics_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))?;
            let maps = self.dp.as_ref().context("data plane")?.maps()?;
            tokio::spawn(crate::metrics::serve(listener, move || {
                let daemon = Some(snapshot_rx.borrow().clone());
                crate::metrics::render(&crate::stats::with_xdp(daemon, &maps))
            }));
            info!(%addr, "serving Prometheus metrics at /metrics");
        }
        let mut publish = tokio::time::interval(Duration::from_millis(250));
        // A veth's peer can lose its XDP program at any time, and native XDP_TX then goes
        // nowhere: checked once a second, replaced by skb mode at once.
        let mut native_check = tokio::time::interval(NATIVE_RECHECK);
        native_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.start_instance(i, now).await;
        }
        let timer = super::timer::Timer::new()?;
        loop {
            let deadline = self
                .instances
                .iter()
                .filter_map(|i| i.router.as_ref()?.poll_timeout())
                .min();
            timer.arm(deadline)?;
            tokio::select! {
                biased;
                _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
                _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
                _ = sighup.recv() => {
                    self.on_sighup(reload).await;
                    if beat.period() != self.beat_every {
                        beat = tokio::time::interval(self.beat_every);
                        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                }
                // Timers before packets: a flood of adverts must not delay our own.
                () = timer.wait() => {
                    let now = Instant::now();
                    for i in 0..self.instances.len() {
                        let Some(r) = &mut self.instances[i].router else { continue };
                        if r.poll_timeout().is_some_and(|t| t <= now) {
                            r.handle_timeout(now);
                            self.drain(i).await;
                        }
                    }
                }
                _ = beat.tick() => {
                    if let Some(dp) = &mut self.dp {
                        dp.beat()?;
                    }
                }
                Some(msg) = rx.recv() => self.on_advert(msg).await,
                Some(ev) = host_events.recv() => self.on_host(ev).await,
                Some(ev) = track_events.recv() => self.on_track(ev).await,
                _ = publish.tick(), if self.metrics_listen.is_some() => {
                    snapshot_tx.send_replace(self.snapshot());
                }
                Ok((stream, _)) = listener.accept() => self.answer_control(stream),
                _ = native_check.tick(), if self.has_native() => {
                    if let Some(dp) = &mut self.dp {
                        if let Err(e) = dp.recheck_native(&self.nl).await {
                            error!("checking native XDP: {e:#}");
                        }
                    }
                }
            }
        }
        if let Some(t) = self.tracker.take() {
            t.stop().await;
        }
        let now = Instant::now();
        for i in 0..self.instances.len() {
            if let Some(r) = &mut self.instances[i].router {
                r.shutdown(now);
            }
            self.drain(i).await;
        }
        for h in std::mem::take(&mut self.stop_hooks) {
            h.wait().await;
        }
        Ok(())
    }

    async fn on_advert(&mut self, msg: Incoming) {
        // A raw IPv6 socket hands over the VRRP message alone; everything else starts at the
        // IP header.
        let peeked = match msg.v6 {
            Some(_) => msg.packet.get(1).map(|vrid| (*vrid, true)),
            None => peek_vrid(&msg.packet),
        };
        let Some((vrid, v6)) = peeked else { return };
        let Some(i) = self.instances.iter().position(|inst| {
            inst.ifindex == msg.ifindex
                && inst.is_v6() == v6
                && inst.spec.vrrp.as_ref().is_some_and(|v| v.vrid == vrid)
        }) else {
            return; // Another router's VRID (passed by XDP to the stack).
        };
        let now = Instant::now();
        let inst = &mut self.instances[i];
        let parsed = match msg.v6 {
            Some(meta) => VrrpPacket::new_checked(&msg.packet[..])
                .and_then(|p| VrrpRepr::parse(&p, meta.src.into(), meta.dst.into(), inst.checksum))
                .map(|repr| to_rx_advert(meta.src.into(), meta.hop_limit, &repr)),
            None => parse_ip_advert(&msg.packet, inst.checksum)
                .map(|(ip, repr)| to_rx_advert(ip.src_addr(), ip.hop_limit(), &repr)),
        };
        let rx = match parsed {
            Ok(rx) => rx,
            Err(e) => {
                inst.malformed += 1;
                debug!(instance = %inst.spec.name, "malformed advert: {e}");
                return;
            }
        };
        // Delivery latency, XDP to the election: the ring-buffer event carries XDP's time; for
        // the socket path, XDP's record of the router's last advert (VRID_SEEN) does, at the
        // price of a map read: done for one advert in DELIVERY_SAMPLE_EVERY.
        let handled_ns = monotonic_ns();
        self.adverts_handled += 1;
        let xdp_ts = msg.xdp_ts_ns.or_else(|| {
            if !self.adverts_handled.is_multiple_of(DELIVERY_SAMPLE_EVERY) {
                return None;
            }
            let key = vrid_key(msg.ifindex, vrid, v6);
            self.dp.as_ref()?.vrid_seen(&key).ok().map(|s| s.ts_ns)
        });
        if let Some(ts) = xdp_ts.filter(|ts| *ts > 0 && *ts <= handled_ns) {
            if self.delivery_ns.len() == DELIVERY_SAMPLES {
                self.delivery_ns.pop_front();
            }
            self.delivery_ns.push_back(handled_ns - ts);
        }
        let inst = &mut self.instances[i];
        let router = inst.router.as_mut().expect("VRRP instance");
        let outcome = router.handle_advert(now, &rx);
        debug!(instance = %inst.spec.name, from = %rx.src, priority = rx.priority, ?outcome, "advert handled");
        self.drain(i).await;
    }

    /// SIGHUP: re-reads the configuration; a bad one is logged and the running one kept.
    async fn on_sighup(&mut self, reload: Option<&Reloader>) {
        let Some(reload) = reload else {
            warn!("SIGHUP: havip was started without --config; nothing to reload");
            return;
        };
        info!("SIGHUP: reloading the configuration");
        match reload() {
            Err(e) => error!("reload refused, the running configuration stays: {e:#}"),
            Ok(new) => {
                if let Err(e) = self.reload(&new).await {
                    error!("reload failed half-way: {e:#}");
                }
            }
        }
    }

    /// Re-applies the health of every instance and carries out what follows.
    async fn apply_health_all(&mut self) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.apply_health(i, now);
            self.drain(i).await;
        }
    }

    /// Removes instance `i`'s VIP and router entries from the XDP maps.
    fn forget_entries(&mut self, i: usize) -> Result<()> {
        let inst = &self.instances[i];
        let dp = self.dp.as_mut().context("data plane")?;
        for vip in &inst.spec.vips {
            match vip.addr {
                IpAddr::V4(v4) => dp.remove_vip(&VipKey {
                    addr: v4.octets(),
                    ifindex: inst.ifindex,
                })?,
                IpAddr::V6(v6) => dp.remove_vip(&Vip6Key {
                    addr: v6.octets(),
                    ifindex: inst.ifindex,
                })?,
            }
        }
        if let Some(v) = &inst.spec.vrrp {
            dp.remove_vrid(&vrid_key(inst.ifindex, v.vrid, inst.is_v6()))?;
        }
        Ok(())
    }

    /// Carries out instance `i`'s pending actions, in order.
    async fn drain(&mut self, i: usize) {
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
        // Hooks run once the batch is done (keepalived runs notify_master with the VIPs up).
        let inst = &self.instances[i];
        let (Some(v), Some(r)) = (&inst.spec.vrrp, &inst.router) else {
            return;
        };
        for state in notify {
            let h =
                self.notifier
                    .instance(&v.notify, &inst.spec.name, state, r.effective_priority());
            if state == NotifyState::Stop && !h.is_empty() {
                self.stop_hooks.push(h);
            }
        }
    }

    async fn execute(&mut self, i: usize, action: Action) -> Result<()> {
        let inst = &self.instances[i];
        let name = inst.spec.name.clone();
        match action {
            Action::SendAdvert {
                priority,
                max_adver_int,
                addresses,
            } => {
                let iface = &self.ifaces[&inst.ifindex];
                let v = inst.spec.vrrp.as_ref().expect("VRRP instance");
                let Some(own) = iface.own_addr(inst.is_v6()) else {
                    // The address went (a flush): the priority-0 advert of a master entering
                    // FAULT cannot go; the backup takes over a Master_Down_Interval later.
                    debug!(instance = %name, "advert not sent: the interface has no address of its own");
                    return Ok(());
                };
                let src = v.unicast_src.unwrap_or(own);
                let repr = advert_repr(v, priority, max_adver_int, &addresses);
                // Multicast to the group, or one copy per unicast peer (keepalived's
                // `unicast_peer`); the v3 checksum covers the destination, so each is built anew.
                let targets: Vec<IpAddr> = if !v.unicast_peers.is_empty() {
                    v.unicast_peers.clone()
                } else if inst.is_v6() {
                    vec![VRRP_GROUP_V6.into()]
                } else {
                    vec![VRRP_GROUP_V4.into()]
                };
                let mut buf = vec![0u8; repr.buffer_len()];
                for dst in targets {
                    repr.emit(
                        &mut VrrpPacket::new_unchecked(&mut buf[..]),
                        src,
                        dst,
                        inst.checksum,
                    )?;
                    let sent = match (src, dst) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => {
                            let sock = iface.vrrp4.as_ref().context("no IPv4 VRRP socket")?;
                            sock.send(&buf, d, (src != own).then_some(s))
                        }
                        (IpAddr::V6(s), IpAddr::V6(d)) => iface
                            .vrrp6
                            .as_ref()
                            .context("no IPv6 VRRP socket")?
                            .send(&buf, d, s),
                        _ => bail!("advert source {src} and destination {dst} differ in family"),
                    };
                    // A down link makes sends fail until it is back: the election copes.
                    if let Err(e) = sent {
                        debug!(instance = %name, %dst, "advert not sent: {e:#}");
                    }
                }
            }
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

    fn has_native(&self) -> bool {
        self.dp.as_ref().is_some_and(|dp| {
            dp.attachments()
                .iter()
                .any(|a| a.mode == crate::dataplane::Attached::Native)
        })
    }

    /// One gratuitous ARP (IPv6: unsolicited NA) per entry of `vips`, from instance `i`'s
    /// interface, with its MAC now.
    fn send_garps(&self, i: usize, vips: &[IpAddr]) -> Result<()> {
        let inst = &self.instances[i];
        let iface = &self.ifaces[&inst.ifindex];
        let mac = EthernetAddress(iface.link.mac);
        info!(instance = %inst.spec.name, iface = %iface.link.name, count = vips.len(), "sending gratuitous ARP / unsolicited NA");
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

    /// Writes instance `i`'s VIPs into the XDP map, owned or not.
    fn declare_vips(&mut self, i: usize, owned: bool) -> Result<()> {
        let inst = &self.instances[i];
        let mac = self.ifaces[&inst.ifindex].link.mac;
        let dp = self.dp.as_mut().context("data plane")?;
        let state = VipState {
            flags: if owned { VIP_OWNED } else { 0 },
            reserved: 0,
            mac,
            reserved2: [0; 2],
            max_heartbeat_age_ns: inst.max_heartbeat_age.as_nanos() as u64,
        };
        for vip in &inst.spec.vips {
            match vip.addr {
                IpAddr::V4(v4) => dp.set_vip(
                    VipKey {
                        addr: v4.octets(),
                        ifindex: inst.ifindex,
                    },
                    state,
                )?,
                IpAddr::V6(v6) => dp.set_vip(
                    Vip6Key {
                        addr: v6.octets(),
                        ifindex: inst.ifindex,
                    },
                    state,
                )?,
            }
        }
        Ok(())
    }

    /// Takes instance `i`'s VIPs: XDP answers first (it is the fast path), then the addresses.
    async fn own(&mut self, i: usize) -> Result<()> {
        self.declare_vips(i, true)?;
        self.instances[i].owned = true;
        let inst = &self.instances[i];
        let primary = self.ifaces[&inst.ifindex].primary_v4.map(IpAddr::V4);
        for vip in &inst.spec.vips {
            if Some(vip.addr) == primary {
                continue; // An owner's own address (priority 255).
            }
            self.nl
                .add_address(inst.ifindex, vip.addr, vip.prefix_len, vip.label.as_deref())
                .await
                .with_context(|| format!("adding VIP {vip}"))?;
            info!(instance = %inst.spec.name, %vip, "VIP added");
        }
        Ok(())
    }

    /// Gives up instance `i`'s VIPs: XDP drops first, then the addresses go.
    async fn disown(&mut self, i: usize) -> Result<()> {
        self.declare_vips(i, false)?;
        self.instances[i].owned = false;
        let inst = &self.instances[i];
        if !self.ifaces[&inst.ifindex].present {
            return Ok(()); // The addresses went with the interface.
        }
        let primary = self.ifaces[&inst.ifindex].primary_v4.map(IpAddr::V4);
        for vip in &inst.spec.vips {
            if Some(vip.addr) == primary {
                continue;
            }
            if self.nl.del_address(inst.ifindex, vip.addr).await? {
                info!(instance = %inst.spec.name, %vip, "VIP removed");
            }
        }
        Ok(())
    }

    /// Undoes whatever `setup` and `serve` left: VIPs disowned and removed, XDP detached and
    /// unpinned. Errors are logged and teardown goes on.
    pub async fn teardown(&mut self) {
        if let Some(path) = self.control.take() {
            let _ = std::fs::remove_file(path);
        }
        for i in 0..self.instances.len() {
            if let Err(e) = self.disown(i).await {
                warn!(instance = %self.instances[i].spec.name, "releasing VIPs: {e:#}");
            }
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

    /// Serves one control request: the snapshot as JSON, written by a task of its own.
    fn answer_control(&self, mut stream: tokio::net::UnixStream) {
        let body = serde_json::to_vec(&self.snapshot()).unwrap_or_default();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut req = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut req)).await;
            let _ = stream.write_all(&body).await;
        });
    }

    /// What `havip stats` shows of the daemon.
    pub fn snapshot(&self) -> DaemonSnapshot {
        let samples: Vec<u64> = self.delivery_ns.iter().copied().collect();
        DaemonSnapshot {
            pid: std::process::id(),
            advert_path: match self.advert_path {
                AdvertPath::Ringbuf => "ringbuf".into(),
                AdvertPath::Socket => "socket".into(),
            },
            instances: (0..self.instances.len())
                .map(|i| self.instance_snapshot(i))
                .collect(),
            advert_delivery: LatencySummary::from_ns(&samples),
            checks: self
                .scripts
                .iter()
                .map(|s| CheckSnapshot {
                    name: s.name.clone(),
                    healthy: match self.check_health.get(&s.name) {
                        Some(Health::Up) => Some(true),
                        Some(Health::Down) => Some(false),
                        _ => None,
                    },
                })
                .collect(),
            xdp: self
                .dp
                .as_ref()
                .map(|dp| dp.attachments())
                .unwrap_or_default()
                .into_iter()
                .map(|a| XdpAttachmentSnapshot {
                    // The name now: havip follows a renamed interface by index.
                    iface: self
                        .ifaces
                        .get(&a.ifindex)
                        .map_or(a.ifname, |i| i.link.name.clone()),
                    mode: a.mode.to_string(),
                    fallbacks_to_skb: a.fallbacks_to_skb,
                })
                .collect(),
            interfaces: self
                .ifaces
                .iter()
                .map(|(&index, i)| IfaceSnapshot {
                    name: i.link.name.clone(),
                    configured: i.configured.clone(),
                    ifindex: index,
                    mac: EthernetAddress(i.link.mac).to_string(),
                    present: i.present,
                    up: i.link.up,
                    source_v4: i.primary_v4.map(|a| a.to_string()),
                    source_v6: i.link_local.map(|a| a.to_string()),
                    changes: i.changes.clone(),
                })
                .collect(),
        }
    }

    fn instance_snapshot(&self, i: usize) -> InstanceSnapshot {
        let inst = &self.instances[i];
        let host_fault = self.host_fault(i);
        let iface = self.ifaces[&inst.ifindex].link.name.clone();
        let vips = inst.spec.vips.iter().map(ToString::to_string).collect();
        let Some(r) = &inst.router else {
            return InstanceSnapshot {
                name: inst.spec.name.clone(),
                iface,
                state: "STATIC".into(),
                vips,
                owned: inst.owned,
                host_fault,
                adverts: AdvertCounters {
                    malformed: inst.malformed,
                    ..Default::default()
                },
                ..Default::default()
            };
        };
        let c = r.counters();
        let rejected = c
            .rejected
            .iter()
            .map(|(reason, n)| (drop_reason_name(reason).to_string(), n))
            .collect();
        let cfg = r.config();
        InstanceSnapshot {
            name: inst.spec.name.clone(),
            iface,
            vrid: Some(cfg.vrid),
            version: Some(match cfg.version {
                Version::V2 => 2,
                Version::V3 => 3,
            }),
            state: state_name(r.state()).into(),
            base_priority: Some(cfg.priority),
            effective_priority: Some(r.effective_priority()),
            master: r.master_addr().map(|a| a.to_string()),
            vips,
            owned: inst.owned,
            host_fault,
            adverts: AdvertCounters {
                sent: c.adverts_sent,
                priority_zero_sent: c.priority_zero_sent,
                received: c.adverts_received,
                priority_zero_received: c.priority_zero_received,
                malformed: inst.malformed,
                address_list_mismatch: c.address_list_mismatch,
                rejected,
                transitions: c.transitions,
                became_master: c.became_master,
                garps_sent: c.garps_sent,
            },
        }
    }
}

fn drop_reason_name(r: DropReason) -> &'static str {
    match r {
        DropReason::Ttl => "ttl",
        DropReason::Version => "version",
        DropReason::Vrid => "vrid",
        DropReason::AddressFamily => "address_family",
        DropReason::OwnAdvert => "own_advert",
        DropReason::Auth => "auth",
        DropReason::AddressList => "address_list",
        DropReason::Interval => "interval",
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

/// Re-reads the configuration the daemon was started with (SIGHUP).
pub type Reloader = Box<dyn Fn() -> Result<DaemonSpec>>;

fn vrid_key(ifindex: u32, vrid: u8, v6: bool) -> VridKey {
    let family = if v6 { FAMILY_IPV6 } else { FAMILY_IPV4 };
    VridKey {
        ifindex,
        vrid,
        family,
        reserved: [0; 2],
    }
}

/// Every VIP address of `spec`.
fn all_vips(spec: &DaemonSpec) -> HashSet<IpAddr> {
    spec.instances
        .iter()
        .flat_map(|i| i.vips.iter().map(|v: &VipSpec| v.addr))
        .collect()
}

/// What XDP must know of a virtual router.
fn vrid_config(v: &crate::model::VrrpSpec, path: AdvertPath) -> VridConfig {
    let mut flags = match path {
        AdvertPath::Ringbuf => VRID_DELIVER_RINGBUF,
        AdvertPath::Socket => 0,
    };
    if !v.unicast_peers.is_empty() {
        flags |= VRID_UNICAST;
    }
    let version = match v.version {
        Version::V2 => 2,
        Version::V3 => 3,
    };
    VridConfig {
        version,
        reserved: [0; 3],
        flags,
    }
}

/// The VRID of a VRRP packet (from its IP header on) and whether it is IPv6, without parsing
/// all of it.
fn peek_vrid(packet: &[u8]) -> Option<(u8, bool)> {
    let first = *packet.first()?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            Some((*packet.get(ihl + 1)?, false))
        }
        6 => Some((*packet.get(40 + 1)?, true)),
        _ => None,
    }
}

/// The advert a router asks for, in its version and family.
fn advert_repr(
    v: &crate::model::VrrpSpec,
    priority: u8,
    max_adver_int: Centis,
    addrs: &[IpAddr],
) -> VrrpRepr {
    let v4: Vec<Ipv4Addr> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<std::net::Ipv6Addr> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    match v.version {
        Version::V2 => VrrpRepr::v2(
            v.vrid,
            priority,
            (max_adver_int.0 / 100) as u8,
            v.auth.map_or(VrrpAuth::NONE, |p| VrrpAuth::simple(&p)),
            v4,
        ),
        Version::V3 if !v6.is_empty() => {
            VrrpRepr::v3(v.vrid, priority, max_adver_int.0, VrrpAddresses::V6(v6))
        }
        Version::V3 => VrrpRepr::v3(v.vrid, priority, max_adver_int.0, VrrpAddresses::V4(v4)),
    }
}

fn to_rx_advert(src: IpAddr, ttl: u8, repr: &VrrpRepr) -> RxAdvert {
    let (version, max_adver_int, auth) = match repr.version {
        VrrpVersion::V2 { advert_int_s, auth } => (
            Version::V2,
            Centis::from_secs(advert_int_s),
            match auth.auth_type {
                VrrpAuthType::None => AdvertAuth::None,
                VrrpAuthType::SimplePassword => AdvertAuth::Pass(auth.data),
                VrrpAuthType::Unknown(t) => AdvertAuth::Other(t),
            },
        ),
        VrrpVersion::V3 { max_advert_int_cs } => {
            (Version::V3, Centis(max_advert_int_cs), AdvertAuth::None)
        }
    };
    RxAdvert {
        src,
        ttl,
        version,
        vrid: repr.vrid,
        priority: repr.priority,
        max_adver_int,
        addresses: repr.addresses.iter().collect(),
        auth,
    }
}
