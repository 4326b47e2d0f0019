//! The data plane: loads the embedded XDP object, attaches it to interfaces, and reads and
//! writes the maps of the ABI in `havip_ebpf`.
//!
//! The program is attached through rtnetlink, not a BPF link, and nothing is pinned: the
//! attachment belongs to the interface and outlives the daemon however it was started and however
//! it died (see [`attach`] for why). After a `kill -9` the program stays, its heartbeat goes
//! stale and it drops every ARP request for the VIPs, so the kernel cannot answer for an address
//! the dead daemon left behind. A graceful stop detaches it; a new run finds what a crashed one
//! left by asking the interfaces ([`remove_stale`]).

use std::{
    collections::BTreeMap,
    fs,
    net::IpAddr,
    os::fd::{AsFd as _, BorrowedFd},
    path::Path,
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf},
    programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode},
    Ebpf, EbpfLoader,
};
use havip_ebpf::{
    global, map, prog, AdvertSeen, SourceKey, VipCounters, VipKey, VipState, VmacKey, VridConfig,
    VridCounters, VridKey, VridRate,
};
use tracing::{error, info, warn};

pub mod attach;

use crate::{model::ModeChoice, net::netlink::Netlink};

/// The XDP object, built by `cargo xtask build-ebpf` and committed (see `havip/bpf/README.md`).
pub static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/havip-xdp.o"));

/// The mode an attachment ended up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    Native,
    Skb,
}

impl std::fmt::Display for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attached::Native => "native",
            Attached::Skb => "skb",
        })
    }
}

struct Attachment {
    ifindex: u32,
    ifname: String,
    mode: Attached,
    /// Times native mode stopped transmitting and skb mode replaced it.
    fallbacks: u64,
}

/// One attachment as the daemon reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub ifindex: u32,
    pub ifname: String,
    pub mode: Attached,
    pub fallbacks_to_skb: u64,
}

/// A loaded XDP object and its attachments. Dropping it without [`Dataplane::shutdown`] leaves
/// the program attached: that is the crash behaviour, on purpose.
pub struct Dataplane {
    ebpf: Ebpf,
    attachments: Vec<Attachment>,
    /// The master lane last written per router (source, interval ns), so that the master's
    /// every advert does not cost a map read.
    lanes: std::collections::HashMap<VridKey, ([u8; 16], u64)>,
}

/// Whether native mode on an interface can deliver `XDP_TX` frames, as far as the kernel says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NativeTx {
    /// The driver reports it (or reports nothing against it).
    Works,
    /// It cannot: why, and what fixes it.
    Broken { why: String, fix: String },
}

impl Dataplane {
    /// Loads the embedded object into the kernel (nothing attached yet).
    pub fn load() -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .load(OBJECT)
            .context("loading the XDP object into the kernel")?;
        for name in [prog::XDP, prog::PASS] {
            let program: &mut Xdp = ebpf
                .program_mut(name)
                .with_context(|| format!("the XDP object has no program {name}"))?
                .try_into()?;
            // The verifier gives up with EAGAIN when a signal is pending (a SIGHUP the daemon
            // keeps for its loop, say): try again, a few times.
            let mut tries = 0;
            loop {
                match program.load() {
                    Ok(()) => break,
                    Err(aya::programs::ProgramError::LoadError { io_error, .. })
                        if io_error.raw_os_error() == Some(libc::EAGAIN) && tries < 20 =>
                    {
                        tries += 1;
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("the kernel refused program {name}"));
                    }
                }
            }
        }
        Ok(Self {
            ebpf,
            attachments: Vec::new(),
            lanes: std::collections::HashMap::new(),
        })
    }

    fn prog_fd(&self) -> Result<BorrowedFd<'_>> {
        let program: &Xdp = self
            .ebpf
            .program(prog::XDP)
            .context("program missing")?
            .try_into()?;
        Ok(program.fd()?.as_fd())
    }

    /// The kernel's id of the data-plane program (what `ip link` shows as `prog/xdp id N`).
    pub fn prog_id(&self) -> Result<u32> {
        let program: &Xdp = self
            .ebpf
            .program(prog::XDP)
            .context("program missing")?
            .try_into()?;
        Ok(program.info()?.id())
    }

    /// Attaches the data-plane program to interface `ifindex` (`ifname`) in the mode asked for.
    /// `auto` picks native mode only where the kernel says it delivers `XDP_TX` frames
    /// ([`native_tx`]); an explicit `native` there is refused with the reason and the fix.
    pub async fn attach(
        &mut self,
        nl: &Netlink,
        ifindex: u32,
        ifname: &str,
        mode: ModeChoice,
    ) -> Result<Attached> {
        let tx = match mode {
            ModeChoice::Skb => NativeTx::Works,
            ModeChoice::Auto | ModeChoice::Native => native_tx(nl, ifindex).await?,
        };
        let tries: &[Attached] = match (mode, &tx) {
            (ModeChoice::Auto, NativeTx::Works) => &[Attached::Native, Attached::Skb],
            (ModeChoice::Auto, NativeTx::Broken { why, .. }) => {
                info!(iface = %ifname, "XDP: native mode would drop its replies ({why}); using skb mode");
                &[Attached::Skb]
            }
            (ModeChoice::Native, NativeTx::Works) => &[Attached::Native],
            (ModeChoice::Native, NativeTx::Broken { why, fix }) => bail!(
                "--xdp-mode native on {ifname}: XDP_TX would not be delivered ({why}); {fix}, \
                 or use --xdp-mode skb or auto"
            ),
            (ModeChoice::Skb, _) => &[Attached::Skb],
        };
        let mut errors = Vec::new();
        for &attached in tries {
            match attach::attach(nl, ifindex, self.prog_fd()?, attached).await {
                Ok(()) => {
                    self.attachments.push(Attachment {
                        ifindex,
                        ifname: ifname.to_string(),
                        mode: attached,
                        fallbacks: 0,
                    });
                    return Ok(attached);
                }
                Err(e) => errors.push(format!("{attached} mode: {}", describe_nl_error(&e))),
            }
        }
        if let Some(other) = attach::xdp_on_link(nl, ifindex).await.ok().flatten() {
            let name = attach::prog_name(other.prog_id).unwrap_or_else(|| "?".into());
            bail!(
                "could not attach XDP to {ifname}: another XDP program ({name}, id {}) is \
                 attached in {} mode; havip does not replace it (`ip link show {ifname}`; \
                 remove it with `ip link set dev {ifname} xdp off`)",
                other.prog_id,
                other.mode
            );
        }
        bail!(
            "could not attach XDP to {ifname} ({}); try --xdp-mode skb, which every interface \
             supports",
            errors.join("; ")
        )
    }

    /// Puts the data-plane program in the place of program `old_id` attached to `ifindex` in
    /// `mode` (a previous process's, handed over): one netlink call, so some program answers
    /// at every moment, and refused if another program is attached there by then. The mode is
    /// the old attachment's (the kernel refuses two modes at once).
    pub async fn replace(
        &mut self,
        nl: &Netlink,
        ifindex: u32,
        ifname: &str,
        mode: Attached,
        old_id: u32,
    ) -> Result<()> {
        let old = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == old_id)
            .with_context(|| format!("the previous XDP program (id {old_id}) is gone"))?
            .fd()
            .with_context(|| format!("opening the previous XDP program (id {old_id})"))?;
        attach::replace(nl, ifindex, self.prog_fd()?, old.as_fd(), mode)
            .await
            .map_err(|e| anyhow::anyhow!("{}", describe_nl_error(&e)))
            .with_context(|| {
                format!("putting the XDP program in the place of the previous one on {ifname}")
            })?;
        self.attachments.push(Attachment {
            ifindex,
            ifname: ifname.to_string(),
            mode,
            fallbacks: 0,
        });
        Ok(())
    }

    /// The attachments, in the order they were made.
    pub fn attachments(&self) -> Vec<AttachmentInfo> {
        self.attachments
            .iter()
            .map(|a| AttachmentInfo {
                ifindex: a.ifindex,
                ifname: a.ifname.clone(),
                mode: a.mode,
                fallbacks_to_skb: a.fallbacks,
            })
            .collect()
    }

    /// Checks that every native attachment can still transmit (a veth's peer may have lost its
    /// XDP program since); one that cannot is replaced by skb mode at once, with one warning.
    /// Each attachment is handled on its own: a failure is logged and the others are checked.
    /// Returns how many were replaced.
    pub async fn recheck_native(&mut self, nl: &Netlink) -> usize {
        let mut replaced = 0;
        for i in 0..self.attachments.len() {
            if self.attachments[i].mode != Attached::Native {
                continue;
            }
            let (ifindex, ifname) = (
                self.attachments[i].ifindex,
                self.attachments[i].ifname.clone(),
            );
            let why = match native_tx(nl, ifindex).await {
                Ok(NativeTx::Works) => continue,
                Ok(NativeTx::Broken { why, .. }) => why,
                Err(e) => {
                    warn!(iface = %ifname, "checking native XDP: {e:#}");
                    continue;
                }
            };
            match self.switch_to_skb(nl, ifindex, &ifname).await {
                Ok(()) => {
                    warn!(iface = %ifname, "XDP: native mode can no longer transmit ({why}); switched to skb mode");
                    let a = &mut self.attachments[i];
                    a.mode = Attached::Skb;
                    a.fallbacks += 1;
                    replaced += 1;
                }
                Err(e) => {
                    error!(iface = %ifname, "XDP: native mode can no longer transmit ({why}), and switching to skb mode failed: {e:#}")
                }
            }
        }
        replaced
    }

    /// Native → skb on one interface. Between the two calls the kernel answers for the VIP,
    /// which is right for a master; a backup does not hold the address. If skb mode cannot be
    /// attached, native mode is put back (better than no fail-safe at all).
    async fn switch_to_skb(&self, nl: &Netlink, ifindex: u32, ifname: &str) -> Result<()> {
        let fd = self.prog_fd()?;
        attach::detach(nl, ifindex, fd, Attached::Native)
            .await
            .with_context(|| format!("detaching native XDP from {ifname}"))?;
        if let Err(e) = attach::attach(nl, ifindex, fd, Attached::Skb).await {
            let back = attach::attach(nl, ifindex, fd, Attached::Native).await;
            bail!(
                "attaching XDP to {ifname} in skb mode: {}; native mode {}",
                describe_nl_error(&e),
                match back {
                    Ok(()) => "put back".to_string(),
                    Err(b) => format!(
                        "not put back either ({}): no XDP there now",
                        describe_nl_error(&b)
                    ),
                }
            );
        }
        Ok(())
    }

    /// Detaches the program from one interface (if it is still ours there) and forgets it.
    pub async fn detach(&mut self, nl: &Netlink, ifindex: u32) -> Result<()> {
        let Some(pos) = self.attachments.iter().position(|a| a.ifindex == ifindex) else {
            return Ok(());
        };
        let a = self.attachments.remove(pos);
        attach::detach(nl, a.ifindex, self.prog_fd()?, a.mode)
            .await
            .with_context(|| format!("detaching XDP from {}", a.ifname))
    }

    /// Forgets the attachment to an interface that is gone (the kernel detached it with it).
    pub fn forget(&mut self, ifindex: u32) {
        self.attachments.retain(|a| a.ifindex != ifindex);
    }

    /// Writes (inserts or replaces) the state of one VIP (IPv4 or IPv6), and makes sure it has
    /// counters.
    pub fn set_vip<K: VipMapKey>(&mut self, key: K, state: VipState) -> Result<()> {
        {
            let mut counters: PerCpuHashMap<&mut MapData, K, VipCounters> =
                PerCpuHashMap::try_from(self.ebpf.map_mut(K::COUNTERS).context("map")?)?;
            if counters.get(&key, 0).is_err() {
                let zero = PerCpuValues::try_from(vec![
                    VipCounters::default();
                    aya::util::nr_cpus().map_err(|(_, e)| e)?
                ])?;
                counters
                    .insert(key, zero, 0)
                    .context("creating VIP counters")?;
            }
        }
        let mut vips: HashMap<&mut MapData, K, VipState> =
            HashMap::try_from(self.ebpf.map_mut(K::VIPS).context("map")?)?;
        vips.insert(key, state, 0).context("writing the VIP map")?;
        Ok(())
    }

    /// Forgets a VIP (its counters go with it).
    pub fn remove_vip<K: VipMapKey>(&mut self, key: &K) -> Result<()> {
        let mut vips: HashMap<&mut MapData, K, VipState> =
            HashMap::try_from(self.ebpf.map_mut(K::VIPS).context("map")?)?;
        let _ = vips.remove(key);
        let mut counters: PerCpuHashMap<&mut MapData, K, VipCounters> =
            PerCpuHashMap::try_from(self.ebpf.map_mut(K::COUNTERS).context("map")?)?;
        let _ = counters.remove(key);
        Ok(())
    }

    /// Writes (inserts or replaces) the state of one virtual MAC (`use_vmac`): owned or not,
    /// and the interface MAC its frames are handed to the stack with.
    pub fn set_vmac(&mut self, key: VmacKey, state: VipState) -> Result<()> {
        let mut vmacs: HashMap<&mut MapData, VmacKey, VipState> =
            HashMap::try_from(self.ebpf.map_mut(map::VMACS).context("map")?)?;
        vmacs
            .insert(key, state, 0)
            .context("writing the virtual MAC map")?;
        Ok(())
    }

    /// Forgets a virtual MAC: its frames pass untouched (and the stack ignores them).
    pub fn remove_vmac(&mut self, key: &VmacKey) -> Result<()> {
        let mut vmacs: HashMap<&mut MapData, VmacKey, VipState> =
            HashMap::try_from(self.ebpf.map_mut(map::VMACS).context("map")?)?;
        let _ = vmacs.remove(key);
        Ok(())
    }

    /// Writes the heartbeat: now, on the clock the program reads.
    pub fn beat(&mut self) -> Result<()> {
        self.set_heartbeat(monotonic_ns())
    }

    /// Declares a virtual router whose adverts XDP must check and hand over; resets nothing
    /// when it exists already. `peers`: the only sources XDP accepts when `config` has
    /// `VRID_CHECK_SRC` (replacing those declared before).
    pub fn set_vrid(&mut self, key: VridKey, config: VridConfig, peers: &[IpAddr]) -> Result<()> {
        {
            let mut counters: PerCpuHashMap<&mut MapData, VridKey, VridCounters> =
                PerCpuHashMap::try_from(self.ebpf.map_mut(map::VRID_COUNTERS).context("map")?)?;
            if counters.get(&key, 0).is_err() {
                let zero = PerCpuValues::try_from(vec![
                    VridCounters::default();
                    aya::util::nr_cpus().map_err(|(_, e)| e)?
                ])?;
                counters
                    .insert(key, zero, 0)
                    .context("creating VRID counters")?;
            }
        }
        {
            let mut seen: HashMap<&mut MapData, VridKey, AdvertSeen> =
                HashMap::try_from(self.ebpf.map_mut(map::VRID_SEEN).context("map")?)?;
            if seen.get(&key, 0).is_err() {
                seen.insert(key, AdvertSeen::default(), 0)
                    .context("creating VRID_SEEN entry")?;
            }
        }
        {
            let mut rate: HashMap<&mut MapData, VridKey, VridRate> =
                HashMap::try_from(self.ebpf.map_mut(map::VRID_RATE).context("map")?)?;
            if rate.get(&key, 0).is_err() {
                rate.insert(key, VridRate::default(), 0)
                    .context("creating the VRID's rate limiter")?;
            }
        }
        self.set_peers(key, peers)?;
        self.lanes.remove(&key);
        let mut vrids: HashMap<&mut MapData, VridKey, VridConfig> =
            HashMap::try_from(self.ebpf.map_mut(map::VRIDS).context("map")?)?;
        vrids
            .insert(key, config, 0)
            .context("writing the VRID map")?;
        Ok(())
    }

    /// Replaces the unicast peers of one router in `VRID_PEERS`.
    fn set_peers(&mut self, key: VridKey, peers: &[IpAddr]) -> Result<()> {
        let mut m: HashMap<&mut MapData, SourceKey, u32> =
            HashMap::try_from(self.ebpf.map_mut(map::VRID_PEERS).context("map")?)?;
        let old: Vec<SourceKey> = m
            .keys()
            .filter_map(Result::ok)
            .filter(|k| k.vrid == key)
            .collect();
        let new: Vec<SourceKey> = peers.iter().map(|p| source_key(key, *p)).collect();
        for k in old.iter().filter(|k| !new.contains(k)) {
            let _ = m.remove(k);
        }
        for k in new {
            m.insert(k, 1, 0).context("writing the unicast peers map")?;
        }
        Ok(())
    }

    /// Gives the master this node follows for router `key` its own lane in XDP's rate limits,
    /// paced for adverts every `interval` (the master's, which VRRPv3 lets differ from ours).
    /// Writes nothing when both are as declared already.
    pub fn set_vrid_master(
        &mut self,
        key: VridKey,
        master: Option<IpAddr>,
        interval: std::time::Duration,
    ) -> Result<()> {
        let addr = master.map_or([0; 16], |m| source_key(key, m).addr);
        let lane = (addr, interval.as_nanos() as u64);
        if self.lanes.get(&key) == Some(&lane) {
            return Ok(());
        }
        let mut vrids: HashMap<&mut MapData, VridKey, VridConfig> =
            HashMap::try_from(self.ebpf.map_mut(map::VRIDS).context("map")?)?;
        let Ok(mut config) = vrids.get(&key, 0) else {
            return Ok(()); // not declared (interface gone): nothing to steer
        };
        let limits = AdvertLimits::for_interval(interval);
        if config.master == addr && config.src_interval_ns <= limits.src_interval_ns {
            self.lanes.insert(key, lane);
            return Ok(());
        }
        config.master = addr;
        // Never slower than what the router was declared with: only a faster master widens it.
        config.src_interval_ns = config.src_interval_ns.min(limits.src_interval_ns);
        config.src_tolerance_ns = config.src_tolerance_ns.max(limits.src_tolerance_ns);
        vrids
            .insert(key, config, 0)
            .context("writing the VRID map")?;
        self.lanes.insert(key, lane);
        Ok(())
    }

    /// Forgets a virtual router.
    pub fn remove_vrid(&mut self, key: &VridKey) -> Result<()> {
        let mut vrids: HashMap<&mut MapData, VridKey, VridConfig> =
            HashMap::try_from(self.ebpf.map_mut(map::VRIDS).context("map")?)?;
        let _ = vrids.remove(key);
        // Its counters, last-seen record, limiter and peers too: a re-created interface or a
        // reload makes new keys, and these maps are bounded.
        let mut counters: PerCpuHashMap<&mut MapData, VridKey, VridCounters> =
            PerCpuHashMap::try_from(self.ebpf.map_mut(map::VRID_COUNTERS).context("map")?)?;
        let _ = counters.remove(key);
        let mut seen: HashMap<&mut MapData, VridKey, AdvertSeen> =
            HashMap::try_from(self.ebpf.map_mut(map::VRID_SEEN).context("map")?)?;
        let _ = seen.remove(key);
        let mut rate: HashMap<&mut MapData, VridKey, VridRate> =
            HashMap::try_from(self.ebpf.map_mut(map::VRID_RATE).context("map")?)?;
        let _ = rate.remove(key);
        self.lanes.remove(key);
        self.set_peers(*key, &[])?;
        Ok(())
    }

    /// The advert counters of one virtual router, summed over CPUs.
    pub fn vrid_counters(&self, key: &VridKey) -> Result<VridCounters> {
        read_vrid_counters(self.ebpf.map(map::VRID_COUNTERS).context("map")?, key)
    }

    /// The last advert XDP accepted for one virtual router.
    pub fn vrid_seen(&self, key: &VridKey) -> Result<AdvertSeen> {
        let seen: HashMap<&MapData, VridKey, AdvertSeen> =
            HashMap::try_from(self.ebpf.map(map::VRID_SEEN).context("map")?)?;
        Ok(seen.get(key, 0)?)
    }

    /// Takes the ring buffer of accepted adverts (once).
    pub fn take_adverts(&mut self) -> Result<RingBuf<MapData>> {
        let m = self
            .ebpf
            .take_map(map::ADVERTS)
            .context("the ADVERTS ring buffer was taken")?;
        Ok(RingBuf::try_from(m)?)
    }

    /// Writes an explicit heartbeat value (tests use it to make the heartbeat stale).
    pub fn set_heartbeat(&mut self, ns: u64) -> Result<()> {
        let mut hb: Array<&mut MapData, u64> =
            Array::try_from(self.ebpf.map_mut(map::HEARTBEAT).context("map")?)?;
        hb.set(0, ns, 0).context("writing the heartbeat")?;
        Ok(())
    }

    /// A second handle on the heartbeat map (its fd duplicated), for a thread of its own (the
    /// BFD thread's beat).
    pub fn heartbeat_writer(&self) -> Result<HeartbeatWriter> {
        use std::os::fd::AsFd as _;
        let aya::maps::Map::Array(data) = self.ebpf.map(map::HEARTBEAT).context("map")? else {
            bail!("the heartbeat map is not an array");
        };
        let fd = data.fd().as_fd().try_clone_to_owned()?;
        let data = MapData::from_fd(fd).context("the heartbeat map")?;
        Ok(HeartbeatWriter(Array::try_from(aya::maps::Map::Array(
            data,
        ))?))
    }

    /// The ARP (IPv4) or neighbour-solicitation (IPv6) counters of one VIP, summed over CPUs.
    pub fn vip_counters<K: VipMapKey>(&self, key: &K) -> Result<VipCounters> {
        read_vip_counters(self.ebpf.map(K::COUNTERS).context("map")?, key)
    }

    /// The global counters, summed over CPUs, indexed by `havip_ebpf::global`.
    pub fn global_counters(&self) -> Result<[u64; global::COUNT as usize]> {
        read_global_counters(self.ebpf.map(map::GLOBAL_COUNTERS).context("map")?)
    }

    /// Runs the data-plane program on one frame with `BPF_PROG_TEST_RUN`; returns the action and
    /// the frame as the program left it. The ingress interface is the namespace's loopback.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<(u32, Vec<u8>)> {
        self.test_run_program(prog::XDP, frame)
    }

    fn test_run_program(&mut self, name: &str, frame: &[u8]) -> Result<(u32, Vec<u8>)> {
        let program: &mut Xdp = self.ebpf.program_mut(name).context("program")?.try_into()?;
        let mut out = vec![0u8; frame.len().max(64) + 256];
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.data_out = Some(&mut out);
        let result = program.test_run(opts).context("BPF_PROG_TEST_RUN")?;
        out.truncate(result.data_size_out as usize);
        Ok((result.return_value, out))
    }

    /// Attaches the pass-through program to `ifname` in native mode, unpinned: labs put it on
    /// the bridge side of a veth so that native `XDP_TX` frames get through. Detached when this
    /// value drops.
    pub fn attach_pass(&mut self, ifname: &str) -> Result<()> {
        let program: &mut Xdp = self
            .ebpf
            .program_mut(prog::PASS)
            .context("program")?
            .try_into()?;
        program
            .attach(ifname, XdpMode::Driver)
            .map_err(|e| anyhow::anyhow!("{}", describe_attach_error(&e)))
            .with_context(|| format!("attaching the pass program to {ifname}"))?;
        Ok(())
    }

    /// Detaches every attachment: the graceful stop. Returns the interfaces it detached from;
    /// the first error is returned after every detach was tried.
    pub async fn shutdown(mut self, nl: &Netlink) -> Result<Vec<String>> {
        let mut detached = Vec::new();
        let mut first_err = None;
        let attachments = std::mem::take(&mut self.attachments);
        let fd = self.prog_fd()?;
        for a in attachments {
            match attach::detach(nl, a.ifindex, fd, a.mode).await {
                Ok(()) => detached.push(a.ifname),
                Err(e) => {
                    first_err.get_or_insert(e.context(format!("detaching XDP from {}", a.ifname)));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(detached),
        }
    }

    /// Where this data plane's maps are, for reading them as `havip stats` does.
    pub fn maps(&self) -> Result<XdpMaps> {
        XdpMaps::of_prog(self.prog_id()?)
    }
}

/// Whether native XDP on `ifindex` can transmit. A veth hands its `XDP_TX` frames to its
/// peer's XDP ring, which the kernel sets up only while the peer runs an XDP program of its own
/// (or has GRO on, but measured on 6.18 that path counted 3 `xdp_tx` and delivered none of them,
/// while the kernel reported the veth able to transmit); otherwise every reply is dropped and a
/// MASTER answers nothing. So native mode on a veth needs an XDP program on the peer, which
/// havip looks up through rtnetlink in the peer's namespace. A bond transmits `XDP_TX` through
/// its slaves, so each slave must be able to. Other drivers transmit `XDP_TX` on queues of their
/// own: a native attachment that the kernel accepts works.
pub async fn native_tx(nl: &Netlink, ifindex: u32) -> Result<NativeTx> {
    // A bond of bonds is possible; a few levels are plenty.
    native_tx_at(nl, ifindex, 4).await
}

async fn native_tx_at(nl: &Netlink, ifindex: u32, depth: u8) -> Result<NativeTx> {
    match nl.link_kind(ifindex).await?.as_deref() {
        Some("veth") => Ok(match attach::veth_peer_xdp(nl, ifindex).await {
            Ok(Some(_)) => NativeTx::Works,
            Ok(None) => NativeTx::Broken {
                why: "a veth whose peer runs no XDP program, so the kernel drops XDP_TX frames"
                    .into(),
                fix: "load an XDP program (one that passes everything will do) on the veth's \
                      peer"
                    .into(),
            },
            Err(e) => NativeTx::Broken {
                why: format!("a veth whose peer cannot be inspected ({e:#})"),
                fix: "make sure the peer runs an XDP program".into(),
            },
        }),
        Some("bond") if depth > 0 => {
            for (slave, name) in nl.slaves(ifindex).await? {
                if let NativeTx::Broken { why, fix } =
                    Box::pin(native_tx_at(nl, slave, depth - 1)).await?
                {
                    return Ok(NativeTx::Broken {
                        why: format!("a bond that transmits XDP_TX through {name}, {why}"),
                        fix,
                    });
                }
            }
            Ok(NativeTx::Works)
        }
        _ => Ok(NativeTx::Works),
    }
}

/// Removes what a crashed run left in this network namespace: its program (still attached,
/// answering nothing since its heartbeat stopped) on every interface, and first the VIP
/// addresses its VIP maps name on the interfaces it is attached to, so the kernel never answers
/// for them in between. Also removes the pins of havip 0.1, which pinned its links under
/// /sys/fs/bpf/havip (unpinning detaches them; rtnetlink cannot). Refuses to touch a program
/// whose heartbeat stays fresh: that is a live daemon (e.g. one whose lock file is in another
/// mount namespace's /run). Returns the addresses removed with their interface index.
///
/// `adopted` lists what a previous process handed over (`daemon::handover`): (program,
/// interface index, VIP). Those VIPs stay, and that program stays attached there (the new
/// one takes its place with [`Dataplane::replace`]); it is not waited for either, since the
/// process that beat its heartbeat is gone.
pub async fn remove_stale(
    nl: &Netlink,
    old_pin_dir: &Path,
    adopted: &[(u32, u32, IpAddr)],
) -> Result<Vec<(IpAddr, u32)>> {
    let mut removed = Vec::new();
    let stale = attach::havip_on_links(nl).await?;
    let mut seen = Vec::new();
    for x in &stale {
        if seen.contains(&x.prog_id) {
            continue;
        }
        seen.push(x.prog_id);
        let handed = adopted.iter().any(|a| a.0 == x.prog_id);
        let maps = match XdpMaps::of_prog(x.prog_id) {
            Ok(m) => m,
            Err(e) => {
                warn!(
                    prog = x.prog_id,
                    "reading a stale XDP program's maps: {e:#}"
                );
                continue;
            }
        };
        if let Some(age) = maps.heartbeat_age().filter(|a| !handed && *a < STALE_AFTER) {
            // Just killed (a restart right after a crash), or alive: a dead daemon's heartbeat
            // stops, a live one's does not.
            tokio::time::sleep(STALE_AFTER - age + std::time::Duration::from_millis(50)).await;
            if let Some(age) = maps.heartbeat_age().filter(|a| !handed && *a < STALE_AFTER) {
                bail!(
                    "another havip runs in this network namespace: its XDP program (id {}, on \
                     {}) beat {} ms ago; stop it first",
                    x.prog_id,
                    x.ifname,
                    age.as_millis()
                );
            }
        }
        let vips = maps.vip_addrs().unwrap_or_else(|e| {
            warn!(
                prog = x.prog_id,
                "reading a stale XDP program's VIPs: {e:#}"
            );
            Vec::new()
        });
        for (addr, ifindex) in vips {
            // Only where that program is attached: an index may have been reused since.
            if !stale
                .iter()
                .any(|s| s.prog_id == x.prog_id && s.ifindex == ifindex)
            {
                continue;
            }
            if adopted.contains(&(x.prog_id, ifindex, addr)) {
                continue;
            }
            match nl.del_address(ifindex, addr).await {
                Ok(true) => removed.push((addr, ifindex)),
                Ok(false) => {}
                Err(e) => warn!(%addr, "removing a VIP a previous run left: {e:#}"),
            }
        }
    }
    if old_pin_dir.exists() {
        remove_pin_dir(old_pin_dir)?;
    }
    for x in &stale {
        if adopted.iter().any(|a| (a.0, a.1) == (x.prog_id, x.ifindex)) {
            continue;
        }
        // Unpinning havip 0.1's link above may have detached it already.
        if attach::xdp_on_link(nl, x.ifindex).await?.map(|a| a.prog_id) != Some(x.prog_id) {
            continue;
        }
        attach::detach_any(nl, x.ifindex, x.mode)
            .await
            .with_context(|| {
                format!(
                    "detaching the XDP program a previous run left on {} (id {})",
                    x.ifname, x.prog_id
                )
            })?;
        warn!(iface = %x.ifname, prog = x.prog_id, "detached the XDP program a previous run left");
    }
    Ok(removed)
}

/// The id of the XDP program attached to interface `ifindex`, if any.
pub async fn attached_prog(nl: &Netlink, ifindex: u32) -> Option<u32> {
    attach::xdp_on_link(nl, ifindex)
        .await
        .ok()
        .flatten()
        .map(|x| x.prog_id)
}

/// A heartbeat younger than this is a live daemon's: longer than any heartbeat period havip
/// uses (a quarter of the shortest heartbeat age, at most 250 ms).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The maps of one loaded havip program, found by the kernel's ids (no pins needed).
#[derive(Clone, Debug, Default)]
pub struct XdpMaps {
    ids: BTreeMap<String, u32>,
}

impl XdpMaps {
    /// The maps program `prog_id` uses, by name.
    pub fn of_prog(prog_id: u32) -> Result<Self> {
        let info = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == prog_id)
            .with_context(|| format!("no BPF program with id {prog_id}"))?;
        let mut ids = BTreeMap::new();
        for id in info
            .map_ids()
            .context("listing the program's maps")?
            .unwrap_or_default()
        {
            let m = MapData::from_id(id).with_context(|| format!("opening BPF map {id}"))?;
            if let Some(name) = m.info()?.name_as_str() {
                ids.insert(name.to_string(), id);
            }
        }
        Ok(Self { ids })
    }

    /// How long ago the program's daemon last beat, if the map can be read.
    pub fn heartbeat_age(&self) -> Option<std::time::Duration> {
        let hb: Array<MapData, u64> = Array::try_from(self.open(map::HEARTBEAT).ok()?).ok()?;
        let beat = hb.get(&0, 0).ok()?;
        Some(std::time::Duration::from_nanos(
            monotonic_ns().saturating_sub(beat),
        ))
    }

    pub fn has(&self, name: &str) -> bool {
        self.ids.contains_key(name)
    }

    /// Opens map `name` (names are at most 15 bytes in the kernel; havip's fit).
    pub fn open(&self, name: &str) -> Result<aya::maps::Map> {
        let id = self
            .ids
            .get(name)
            .with_context(|| format!("the XDP program has no map {name}"))?;
        let data = MapData::from_id(*id).with_context(|| format!("opening map {name}"))?;
        Ok(aya::maps::Map::from_map_data(data)?)
    }

    /// Every VIP address the program's VIP maps hold, with its interface index.
    pub fn vip_addrs(&self) -> Result<Vec<(IpAddr, u32)>> {
        let mut out: Vec<(IpAddr, u32)> = self
            .keys::<VipKey>()?
            .into_iter()
            .map(|k| (std::net::Ipv4Addr::from(k.addr).into(), k.ifindex))
            .collect();
        out.extend(
            self.keys::<havip_ebpf::Vip6Key>()?
                .into_iter()
                .map(|k| (std::net::Ipv6Addr::from(k.addr).into(), k.ifindex)),
        );
        Ok(out)
    }

    fn keys<K: VipMapKey>(&self) -> Result<Vec<K>> {
        if !self.has(K::VIPS) {
            return Ok(Vec::new());
        }
        let m: HashMap<aya::maps::MapData, K, VipState> = HashMap::try_from(self.open(K::VIPS)?)?;
        m.keys().map(|k| Ok(k?)).collect()
    }
}

/// Removes every pin in `dir` (unpinning a link detaches it once no fd holds it) and the
/// directory itself: what havip 0.1 left.
fn remove_pin_dir(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        fs::remove_file(&path).with_context(|| format!("removing pin {}", path.display()))?;
    }
    fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(())
}

/// The key types of the VIP maps: IPv4 (`VIPS`, answered in XDP) and IPv6 (`VIPS6`, guarded
/// in XDP, answered by the kernel).
pub trait VipMapKey: aya::Pod {
    const VIPS: &'static str;
    const COUNTERS: &'static str;
}

impl VipMapKey for VipKey {
    const VIPS: &'static str = map::VIPS;
    const COUNTERS: &'static str = map::VIP_COUNTERS;
}

impl VipMapKey for havip_ebpf::Vip6Key {
    const VIPS: &'static str = map::VIPS6;
    const COUNTERS: &'static str = map::VIP6_COUNTERS;
}

/// Sums one VIP's per-CPU counters from a map opened by name or from a pin.
pub fn read_vip_counters<K: VipMapKey>(m: &aya::maps::Map, key: &K) -> Result<VipCounters> {
    let counters: PerCpuHashMap<&MapData, K, VipCounters> = PerCpuHashMap::try_from(m)?;
    let per_cpu = counters.get(key, 0).context("reading VIP counters")?;
    Ok(per_cpu
        .iter()
        .fold(VipCounters::default(), |a, c| VipCounters {
            requests: a.requests + c.requests,
            replies: a.replies + c.replies,
            dropped_not_owned: a.dropped_not_owned + c.dropped_not_owned,
            dropped_stale: a.dropped_stale + c.dropped_stale,
        }))
}

/// Sums one virtual router's per-CPU advert counters.
pub fn read_vrid_counters(m: &aya::maps::Map, key: &VridKey) -> Result<VridCounters> {
    let counters: PerCpuHashMap<&MapData, VridKey, VridCounters> = PerCpuHashMap::try_from(m)?;
    let per_cpu = counters.get(key, 0).context("reading VRID counters")?;
    Ok(per_cpu
        .iter()
        .fold(VridCounters::default(), |a, c| VridCounters {
            received: a.received + c.received,
            delivered_ringbuf: a.delivered_ringbuf + c.delivered_ringbuf,
            passed_to_stack: a.passed_to_stack + c.passed_to_stack,
            bad_ttl: a.bad_ttl + c.bad_ttl,
            bad_version: a.bad_version + c.bad_version,
            bad_type: a.bad_type + c.bad_type,
            truncated: a.truncated + c.truncated,
            not_peer: a.not_peer + c.not_peer,
            rate_limited: a.rate_limited + c.rate_limited,
            from_master: a.from_master + c.from_master,
        }))
}

/// `SourceKey` of address `addr` for router `key` (IPv4 in the first 4 bytes).
pub fn source_key(key: VridKey, addr: IpAddr) -> SourceKey {
    let mut a = [0u8; 16];
    match addr {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    SourceKey { vrid: key, addr: a }
}

/// XDP's advert rate limits for a router advertising every `interval` (GCRA: on average one
/// advert per `*_interval_ns`, running ahead by at most `*_tolerance_ns`).
///
/// - Per source, and for the master's lane: [`AdvertLimits::PER_SOURCE`] adverts per interval,
///   bursts of twice that. A router sends one per interval; a few more come at a transition (a
///   priority-0 advert, a new master's first, the answer to a lower-priority advert), and
///   timers jitter.
/// - All other sources together: [`AdvertLimits::SHARED`] per interval, bursts of twice that:
///   room for the few routers of an election at once, while a flood from random sources
///   reaches the election at most that fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertLimits {
    pub src_interval_ns: u64,
    pub src_tolerance_ns: u64,
    pub shared_interval_ns: u64,
    pub shared_tolerance_ns: u64,
}

impl AdvertLimits {
    pub const PER_SOURCE: u64 = 4;
    pub const SHARED: u64 = 16;

    pub fn for_interval(interval: std::time::Duration) -> AdvertLimits {
        let i = (interval.as_nanos() as u64).max(1_000_000);
        let (src, shared) = (i / Self::PER_SOURCE, i / Self::SHARED);
        AdvertLimits {
            src_interval_ns: src,
            // A burst of 2 × PER_SOURCE adverts: the first passes at `tat`, the rest within
            // (burst − 1) intervals ahead of it.
            src_tolerance_ns: src * (2 * Self::PER_SOURCE - 1),
            shared_interval_ns: shared,
            shared_tolerance_ns: shared * (2 * Self::SHARED - 1),
        }
    }
}

/// Decodes a ring-buffer record into an event (records are exactly one `AdvertEvent`).
pub fn decode_advert_event(bytes: &[u8]) -> Option<havip_ebpf::AdvertEvent> {
    (bytes.len() == std::mem::size_of::<havip_ebpf::AdvertEvent>())
        .then(|| bytemuck::pod_read_unaligned(bytes))
}

/// Sums the global per-CPU counters.
pub fn read_global_counters(m: &aya::maps::Map) -> Result<[u64; global::COUNT as usize]> {
    let counters: PerCpuArray<&MapData, u64> = PerCpuArray::try_from(m)?;
    let mut out = [0u64; global::COUNT as usize];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = counters.get(&(i as u32), 0)?.iter().sum();
    }
    Ok(out)
}

/// The heartbeat written from another thread than the election's ([`Dataplane::heartbeat_writer`]).
pub struct HeartbeatWriter(Array<MapData, u64>);

impl HeartbeatWriter {
    /// Writes the heartbeat: now.
    pub fn beat(&mut self) -> Result<()> {
        self.0
            .set(0, monotonic_ns(), 0)
            .context("writing the heartbeat")
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Arms a `CLOCK_MONOTONIC` timerfd for `deadline` as an absolute time (a past one fires at
/// once), or disarms it: the driver loop's timer and the BFD thread's.
pub fn arm_timerfd(
    fd: std::os::fd::BorrowedFd<'_>,
    deadline: Option<std::time::Instant>,
) -> rustix::io::Result<()> {
    use rustix::time::{timerfd_settime, Itimerspec, TimerfdTimerFlags, Timespec};
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let value = match deadline {
        None => zero,
        Some(d) => {
            let now = std::time::Instant::now();
            let at = monotonic_ns() + d.saturating_duration_since(now).as_nanos() as u64;
            // A zero it_value disarms: never pass zero for a real deadline.
            let at = at.max(1);
            Timespec {
                tv_sec: (at / 1_000_000_000) as i64,
                tv_nsec: (at % 1_000_000_000) as _,
            }
        }
    };
    let spec = Itimerspec {
        it_interval: zero,
        it_value: value,
    };
    timerfd_settime(fd, TimerfdTimerFlags::ABSTIME, &spec).map(drop)
}

fn describe_nl_error(e: &rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            std::io::Error::from_raw_os_error(-m.raw_code()).to_string()
        }
        other => other.to_string(),
    }
}

fn describe_attach_error(e: &ProgramError) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
