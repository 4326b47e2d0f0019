//! The data plane: loads the embedded XDP object, attaches it to interfaces, pins what must
//! outlive a crash, and reads and writes the maps of the ABI in `havip_ebpf`.
//!
//! Why links are pinned: an XDP program attached through a BPF link is detached when the last
//! file descriptor of the link closes, i.e. when the daemon dies. Then nothing would stop the
//! kernel from answering ARP for a VIP that a crashed master left on its interface (keepalived's
//! failure mode). A pinned link keeps the program attached; its heartbeat check then turns the
//! answers off within `max_heartbeat_age_ns`. A graceful stop unpins (and so detaches); a new
//! run removes what a crashed one left (see [`cleanup_stale`]).

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _, Result};
use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues, RingBuf},
    programs::{
        links::FdLink, links::PinnedLink, ProgramError, TestRun, TestRunOptions, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use havip_ebpf::{
    global, map, prog, AdvertSeen, VipCounters, VipKey, VipState, VridConfig, VridCounters, VridKey,
};

mod bpffs;

pub use bpffs::ensure_bpffs;

/// The XDP object, built by `cargo xtask build-ebpf` and committed (see `havip/bpf/README.md`).
pub static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("CARGO_MANIFEST_DIR"), "/bpf/havip-xdp.o"));

/// Where this network namespace's havip pins its maps and links:
/// `/sys/fs/bpf/havip/ns<inode of /proc/self/ns/net>`. Keyed by namespace because bpffs is not
/// per namespace, and two nodes of a lab (or two containers) may both have an `eth0`.
pub fn default_pin_dir() -> Result<PathBuf> {
    let ns = fs::metadata("/proc/self/ns/net").context("reading /proc/self/ns/net")?;
    Ok(PathBuf::from(format!("/sys/fs/bpf/havip/ns{}", ns.ino())))
}

/// The XDP attach mode asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeChoice {
    /// Native (driver) mode where the driver supports it, else generic (skb) mode.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Skb,
}

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
    ifname: String,
    link: Option<PinnedLink>,
}

/// A loaded XDP object and its attachments. Dropping it without [`Dataplane::shutdown`] leaves
/// the pinned links attached: that is the crash behaviour, on purpose.
pub struct Dataplane {
    ebpf: Ebpf,
    pin_dir: Option<PathBuf>,
    attachments: Vec<Attachment>,
}

impl Dataplane {
    /// Loads the embedded object. With `pin_dir`, its maps are pinned there (the directory is
    /// created, and bpffs mounted on /sys/fs/bpf when it is not).
    pub fn load(pin_dir: Option<&Path>) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .load(OBJECT)
            .context("loading the XDP object into the kernel")?;
        for name in [prog::XDP, prog::PASS] {
            let program: &mut Xdp = ebpf
                .program_mut(name)
                .with_context(|| format!("the XDP object has no program {name}"))?
                .try_into()?;
            program
                .load()
                .with_context(|| format!("the kernel refused program {name}"))?;
        }
        if let Some(dir) = pin_dir {
            bpffs::ensure_bpffs(Path::new(bpffs::BPFFS))?;
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, m) in ebpf.maps() {
                let path = dir.join(name);
                m.pin(&path)
                    .with_context(|| format!("pinning map {name} at {}", path.display()))?;
            }
        }
        Ok(Self {
            ebpf,
            pin_dir: pin_dir.map(Path::to_path_buf),
            attachments: Vec::new(),
        })
    }

    /// Attaches the data-plane program to `ifname`, in the mode asked for, and pins the link
    /// (when loaded with a pin directory).
    pub fn attach(&mut self, ifname: &str, mode: ModeChoice) -> Result<Attached> {
        let tries: &[(XdpMode, Attached)] = match mode {
            ModeChoice::Auto => &[
                (XdpMode::Driver, Attached::Native),
                (XdpMode::Skb, Attached::Skb),
            ],
            ModeChoice::Native => &[(XdpMode::Driver, Attached::Native)],
            ModeChoice::Skb => &[(XdpMode::Skb, Attached::Skb)],
        };
        let program: &mut Xdp = self
            .ebpf
            .program_mut(prog::XDP)
            .context("program missing")?
            .try_into()?;
        let mut errors = Vec::new();
        for &(xdp_mode, attached) in tries {
            match program.attach(ifname, xdp_mode) {
                Ok(id) => {
                    // Unpinned (tests): the link stays in the program's link table and is
                    // detached when the `Ebpf` drops.
                    let link = match &self.pin_dir {
                        Some(dir) => {
                            let fd: FdLink = program.take_link(id)?.try_into().context(
                                "the kernel attached XDP without a BPF link (kernel older than \
                                 5.9?): havip needs BPF links to pin the attachment",
                            )?;
                            let path = dir.join(format!("link-{ifname}"));
                            Some(fd.pin(&path).with_context(|| {
                                format!("pinning the XDP link at {}", path.display())
                            })?)
                        }
                        None => None,
                    };
                    self.attachments.push(Attachment {
                        ifname: ifname.to_string(),
                        link,
                    });
                    return Ok(attached);
                }
                Err(e) => errors.push(format!("{attached} mode: {}", describe_attach_error(&e))),
            }
        }
        bail!(
            "could not attach XDP to {ifname} ({}); try --xdp-mode skb, which every interface \
             supports, or check `ip link show {ifname}` for another XDP program",
            errors.join("; ")
        )
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

    /// Writes the heartbeat: now, on the clock the program reads.
    pub fn beat(&mut self) -> Result<()> {
        self.set_heartbeat(monotonic_ns())
    }

    /// Declares a virtual router whose adverts XDP must check and hand over; resets nothing
    /// when it exists already.
    pub fn set_vrid(&mut self, key: VridKey, config: VridConfig) -> Result<()> {
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
        let mut vrids: HashMap<&mut MapData, VridKey, VridConfig> =
            HashMap::try_from(self.ebpf.map_mut(map::VRIDS).context("map")?)?;
        vrids
            .insert(key, config, 0)
            .context("writing the VRID map")?;
        Ok(())
    }

    /// Forgets a virtual router.
    pub fn remove_vrid(&mut self, key: &VridKey) -> Result<()> {
        let mut vrids: HashMap<&mut MapData, VridKey, VridConfig> =
            HashMap::try_from(self.ebpf.map_mut(map::VRIDS).context("map")?)?;
        let _ = vrids.remove(key);
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

    /// Forgets the attachment made to `ifname` (the name it had then): its pin goes, which
    /// detaches the program if the interface still exists. For an interface that was deleted
    /// (its attachment went with it) before attaching to its successor. False when there was
    /// none. Unpinned (tests), the link stays in the program's table until the `Ebpf` drops.
    pub fn detach(&mut self, ifname: &str) -> Result<bool> {
        let Some(at) = self.attachments.iter().position(|a| a.ifname == ifname) else {
            return Ok(false);
        };
        let a = self.attachments.remove(at);
        if let Some(link) = a.link {
            link.unpin()
                .with_context(|| format!("unpinning the XDP link of {ifname}"))?;
        }
        Ok(true)
    }

    /// Detaches every attachment and removes the pins: the graceful stop. Returns the
    /// interfaces it detached from.
    pub fn shutdown(mut self) -> Result<Vec<String>> {
        let mut detached = Vec::new();
        for a in self.attachments.drain(..) {
            detached.push(a.ifname.clone());
            if let Some(link) = a.link {
                link.unpin()
                    .with_context(|| format!("unpinning the XDP link of {}", a.ifname))?;
            }
        }
        if let Some(dir) = &self.pin_dir {
            remove_pin_dir(dir)?;
        }
        Ok(detached)
    }
}

/// What a crashed run left: links still attached, pinned maps. Detaches and unpins all of it and
/// returns the VIPs the stale VIP map held, so that the caller can remove leftover addresses.
/// Returns an empty list when there is nothing stale.
pub fn cleanup_stale(pin_dir: &Path) -> Result<Vec<(std::net::IpAddr, u32)>> {
    if !pin_dir.exists() {
        return Ok(Vec::new());
    }
    let mut vips: Vec<(std::net::IpAddr, u32)> = stale_keys::<VipKey>(pin_dir)?
        .into_iter()
        .map(|k| (std::net::Ipv4Addr::from(k.addr).into(), k.ifindex))
        .collect();
    vips.extend(
        stale_keys::<havip_ebpf::Vip6Key>(pin_dir)?
            .into_iter()
            .map(|k| (std::net::Ipv6Addr::from(k.addr).into(), k.ifindex)),
    );
    remove_pin_dir(pin_dir)?;
    Ok(vips)
}

/// The keys of a crashed run's pinned VIP map (none when it was not pinned).
fn stale_keys<K: VipMapKey>(pin_dir: &Path) -> Result<Vec<K>> {
    let pin = pin_dir.join(K::VIPS);
    if !pin.exists() {
        return Ok(Vec::new());
    }
    let data = MapData::from_pin(&pin)
        .with_context(|| format!("opening the stale map {}", pin.display()))?;
    let m: HashMap<MapData, K, VipState> = HashMap::try_from(aya::maps::Map::HashMap(data))?;
    m.keys().map(|k| Ok(k?)).collect()
}

/// Removes every pin in `dir` (unpinning a link detaches it once no fd holds it) and the
/// directory itself.
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
        }))
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

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
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
