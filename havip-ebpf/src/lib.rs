//! The ABI shared by havip's XDP program and its userspace loader: map names, map key and value
//! types, counter indices and flag bits.
//!
//! This file is compiled twice: for `bpfel-unknown-none` into the XDP object, and for the host
//! into `havip` (with the `user` feature, which adds `bytemuck::Pod` and `aya::Pod`). Every type
//! is `#[repr(C)]` with explicit byte arrays and reserved fields instead of implicit padding;
//! `bytemuck::Pod`'s derive refuses padding on the host, and the size assertions below hold on
//! both sides, so a layout drift fails the build of whichever side drifted.
#![no_std]

use core::mem::size_of;

/// Names of the maps in the object (also the file names under the pin directory).
pub mod map {
    /// `HashMap<VipKey, VipState>`: the VIPs this node knows, and whether it owns them.
    pub const VIPS: &str = "VIPS";
    /// `PerCpuHashMap<VipKey, VipCounters>`: ARP counters per VIP.
    pub const VIP_COUNTERS: &str = "VIP_COUNTERS";
    /// `Array<u64>` of one entry: the daemon's heartbeat, `CLOCK_MONOTONIC` nanoseconds (the
    /// clock `bpf_ktime_get_ns` reads).
    pub const HEARTBEAT: &str = "HEARTBEAT";
    /// `PerCpuArray<u64>` indexed by [`super::global`]: counters not tied to a VIP.
    pub const GLOBAL_COUNTERS: &str = "GLOBAL_COUNTERS";
    /// `HashMap<Vip6Key, VipState>`: IPv6 VIPs. XDP drops neighbour solicitations for one this
    /// node does not own (or owns with a stale heartbeat), so the kernel cannot answer either,
    /// and passes the others to the kernel, unless [`super::VIP_ANSWER_NS`] is set: then XDP
    /// answers them itself, with `VipState::mac` (the virtual MAC of `use_vmac`).
    pub const VIPS6: &str = "VIPS6";
    /// `PerCpuHashMap<Vip6Key, VipCounters>`: NS counters per IPv6 VIP (`replies` counts the
    /// solicitations passed to the kernel to answer).
    pub const VIP6_COUNTERS: &str = "VIP6_COUNTERS";
    /// `HashMap<VridKey, VridConfig>`: the virtual routers whose adverts this node wants.
    pub const VRIDS: &str = "VRIDS";
    /// `PerCpuHashMap<VridKey, VridCounters>`: advert counters per virtual router.
    pub const VRID_COUNTERS: &str = "VRID_COUNTERS";
    /// `HashMap<VridKey, AdvertSeen>`: the last accepted advert of each virtual router.
    pub const VRID_SEEN: &str = "VRID_SEEN";
    /// `RingBuf` of [`super::AdvertEvent`]: accepted adverts handed to the daemon.
    pub const ADVERTS: &str = "ADVERTS";
    /// `HashMap<SourceKey, u32>`: the unicast peers of routers with [`super::VRID_CHECK_SRC`];
    /// adverts from any other source are dropped (keepalived's `check_unicast_src`).
    pub const VRID_PEERS: &str = "VRID_PEERS";
    /// `HashMap<VridKey, VridRate>`: the advert rate limiters of each router (XDP writes them).
    pub const VRID_RATE: &str = "VRID_RATE";
    /// `LruHashMap<SourceKey, u64>`: each source's advert rate limiter (a GCRA theoretical
    /// arrival time, ns); the least recently seen sources are forgotten first.
    pub const SRC_RATE: &str = "SRC_RATE";
    /// `Array<u64>` of one entry: the rate limiter (GCRA theoretical arrival time, ns) of VRRP
    /// packets for routers this node does not run, of which a trickle is passed.
    pub const UNKNOWN_RATE: &str = "UNKNOWN_RATE";
    /// `HashMap<VmacKey, VipState>`: the VRRP virtual MACs (`use_vmac`) of this node's routers.
    /// A unicast frame to one is the master's: while the router owns it (`VIP_OWNED`) with a
    /// fresh heartbeat, its destination is rewritten to the interface's MAC (`VipState::mac`)
    /// so that the stack takes it as its own; otherwise it is dropped (a backup neither
    /// answers for nor accepts the virtual MAC).
    pub const VMACS: &str = "VMACS";
}

/// Names of the programs in the object.
pub mod prog {
    /// The data plane: ARP responder (and VRRP advert filter).
    pub const XDP: &str = "havip_xdp";
    /// Passes every frame. Labs attach it to the peer of a veth so that native-mode `XDP_TX`
    /// frames are delivered (the kernel drops them when the peer has no XDP program).
    pub const PASS: &str = "havip_pass";
}

/// Indices into [`map::GLOBAL_COUNTERS`].
pub mod global {
    /// Frames passed to the kernel stack untouched.
    pub const PASSED: u32 = 0;
    /// Frames too short for the header their EtherType announces (or for Ethernet itself).
    pub const MALFORMED: u32 = 1;
    /// ARP requests whose target is not a VIP of this interface (passed).
    pub const ARP_NOT_VIP: u32 = 2;
    /// VRRP packets for a virtual router this node does not run, passed to the kernel (within
    /// [`super::UNKNOWN_VRID_INTERVAL_NS`], for another VRRP daemon on the host).
    pub const VRRP_UNKNOWN_VRID: u32 = 3;
    /// VRRP packets too short for their headers, before the VRID is known (dropped).
    pub const VRRP_MALFORMED: u32 = 4;
    /// Adverts that found the ring buffer full (passed to the raw socket instead).
    pub const VRRP_RINGBUF_FULL: u32 = 5;
    /// VRRP packets for a virtual router this node does not run, dropped: beyond the trickle
    /// [`super::UNKNOWN_VRID_INTERVAL_NS`] allows.
    pub const VRRP_UNKNOWN_VRID_DROPPED: u32 = 6;
    /// Frames to an owned virtual MAC, handed to the stack as the interface's own.
    pub const VMAC_ACCEPTED: u32 = 7;
    /// Frames to a virtual MAC of this node's that it does not own now (backup, or a stale
    /// heartbeat): dropped.
    pub const VMAC_DROPPED: u32 = 8;
    /// Number of global counters (the map's size).
    pub const COUNT: u32 = 9;
}

/// Names of the global counters, in index order (for stats output).
pub const GLOBAL_COUNTER_NAMES: [&str; global::COUNT as usize] = [
    "passed",
    "malformed",
    "arp_not_vip",
    "vrrp_unknown_vrid",
    "vrrp_malformed",
    "vrrp_ringbuf_full",
    "vrrp_unknown_vrid_dropped",
    "vmac_accepted",
    "vmac_dropped",
];

/// VRRP packets for routers this node does not run are passed to the kernel at most one per
/// this many nanoseconds on average (1000 per second)...
pub const UNKNOWN_VRID_INTERVAL_NS: u64 = 1_000_000;
/// ...with bursts of up to this many nanoseconds ahead (1000 packets).
pub const UNKNOWN_VRID_TOLERANCE_NS: u64 = 1_000_000_000;

/// Most VIPs one loaded program tracks (all interfaces together).
pub const MAX_VIPS: u32 = 1024;

/// Key of [`map::VIPS`] and [`map::VIP_COUNTERS`]: an IPv4 VIP on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VipKey {
    /// The VIP in network byte order (as it appears in the ARP payload).
    pub addr: [u8; 4],
    /// The interface the VIP lives on (`xdp_md.ingress_ifindex`).
    pub ifindex: u32,
}

/// Key of [`map::VIPS6`] and [`map::VIP6_COUNTERS`]: an IPv6 VIP on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct Vip6Key {
    /// The VIP in network byte order.
    pub addr: [u8; 16],
    pub ifindex: u32,
}

/// Key of [`map::VMACS`]: a virtual MAC on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VmacKey {
    pub ifindex: u32,
    /// 00:00:5e:00:01:VRID (RFC 9568 §7.3).
    pub mac: [u8; 6],
    /// Reserved, zero.
    pub reserved: [u8; 2],
}

/// The first five bytes of an IPv4 virtual router's MAC; the sixth is the VRID.
pub const VMAC_V4_PREFIX: [u8; 5] = [0x00, 0x00, 0x5e, 0x00, 0x01];
/// The first five bytes of an IPv6 virtual router's MAC.
pub const VMAC_V6_PREFIX: [u8; 5] = [0x00, 0x00, 0x5e, 0x00, 0x02];

/// [`VipState::flags`]: this node owns the VIP (it is VRRP master for it) and answers ARP for it.
pub const VIP_OWNED: u32 = 1;
/// [`VipState::flags`] of an IPv6 VIP: XDP answers neighbour solicitations for it itself, with
/// `mac` as the target link-layer address (the kernel would answer with the interface's).
pub const VIP_ANSWER_NS: u32 = 2;

/// Value of [`map::VIPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VipState {
    /// Bit set of `VIP_*` flags.
    pub flags: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The hardware address ARP replies carry: the interface's MAC, or the VRRP virtual MAC.
    pub mac: [u8; 6],
    /// Reserved, zero (keeps `max_heartbeat_age_ns` 8-byte aligned without implicit padding).
    pub reserved2: [u8; 2],
    /// An owned VIP is answered only while `now - heartbeat <= max_heartbeat_age_ns`; after
    /// that the daemon is presumed dead and requests are dropped (the fail-safe).
    pub max_heartbeat_age_ns: u64,
}

/// Value of [`map::VIP_COUNTERS`] (one per CPU; userspace sums them).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VipCounters {
    /// ARP requests (not gratuitous) for this VIP seen on this interface.
    pub requests: u64,
    /// Replies sent with `XDP_TX`.
    pub replies: u64,
    /// Requests dropped because this node does not own the VIP.
    pub dropped_not_owned: u64,
    /// Requests dropped because the daemon's heartbeat was stale.
    pub dropped_stale: u64,
}

/// [`VridKey::family`] values.
pub const FAMILY_IPV4: u8 = 4;
pub const FAMILY_IPV6: u8 = 6;

/// Key of the per-virtual-router maps: a VRID of one address family on one interface.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VridKey {
    pub ifindex: u32,
    pub vrid: u8,
    /// [`FAMILY_IPV4`] or [`FAMILY_IPV6`].
    pub family: u8,
    /// Reserved, zero.
    pub reserved: [u8; 2],
}

/// [`VridConfig::flags`]: hand accepted adverts to the daemon through the `ADVERTS` ring buffer
/// and drop them; without it they are passed to the kernel stack (the daemon's raw socket).
pub const VRID_DELIVER_RINGBUF: u32 = 1;
/// [`VridConfig::flags`]: the router talks to unicast peers, whose adverts may be routed: the
/// TTL is not checked (keepalived does the same).
pub const VRID_UNICAST: u32 = 2;
/// [`VridConfig::flags`]: only adverts from a source listed in [`map::VRID_PEERS`] for this
/// router are accepted (keepalived's `check_unicast_src`).
pub const VRID_CHECK_SRC: u32 = 4;

/// Value of [`map::VRIDS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VridConfig {
    /// The VRRP version this router speaks (2 or 3); adverts of another version are dropped.
    pub version: u8,
    /// Reserved, zero.
    pub reserved: [u8; 3],
    /// Bit set of `VRID_*` flags.
    pub flags: u32,
    /// Advert rate limit per source (and for the master's lane): on average one advert per
    /// this many ns (a GCRA emission interval); 0: no limit.
    pub src_interval_ns: u64,
    /// How far ahead of that pace a source may run (the burst, in ns).
    pub src_tolerance_ns: u64,
    /// Advert rate limit of all sources but the master's together; 0: no limit.
    pub shared_interval_ns: u64,
    pub shared_tolerance_ns: u64,
    /// The source of the master this node follows (IPv4 in the first 4 bytes), written by the
    /// daemon; its adverts take their own lane, not charged to the shared limit, so a flood
    /// from other sources cannot crowd them out. All zero: none known.
    pub master: [u8; 16],
}

/// Key of [`map::VRID_PEERS`] and [`map::SRC_RATE`]: a source address for one router.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct SourceKey {
    pub vrid: VridKey,
    /// Source address (IPv4 in the first 4 bytes, the rest zero).
    pub addr: [u8; 16],
}

/// Value of [`map::VRID_RATE`]: GCRA theoretical arrival times, ns (`bpf_ktime_get_ns`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VridRate {
    /// Of the limit shared by every source but the master.
    pub shared_tat: u64,
    /// Of the master's lane.
    pub master_tat: u64,
}

/// Value of [`map::VRID_COUNTERS`] (per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct VridCounters {
    /// VRRP packets for this router seen by XDP.
    pub received: u64,
    /// Accepted and handed over through the ring buffer.
    pub delivered_ringbuf: u64,
    /// Accepted and passed to the kernel stack (raw socket path).
    pub passed_to_stack: u64,
    /// Dropped: TTL / hop limit not 255 (RFC 9568 §7.1).
    pub bad_ttl: u64,
    /// Dropped: VRRP version other than the router's.
    pub bad_version: u64,
    /// Dropped: VRRP type other than 1 (advertisement).
    pub bad_type: u64,
    /// Dropped: IP length beyond the frame, or too short for the VRRP header.
    pub truncated: u64,
    /// Dropped: the source is not one of the router's unicast peers ([`VRID_CHECK_SRC`]).
    pub not_peer: u64,
    /// Dropped: over the source's rate limit, the master lane's, or the shared one.
    pub rate_limited: u64,
    /// Accepted, from the master this node follows (its lane).
    pub from_master: u64,
}

/// Value of [`map::VRID_SEEN`]: the last advert XDP accepted for a router.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct AdvertSeen {
    /// `bpf_ktime_get_ns()` at arrival.
    pub ts_ns: u64,
    /// Source address (IPv4 in the first 4 bytes).
    pub src: [u8; 16],
    pub priority: u8,
    /// Reserved, zero.
    pub reserved: [u8; 7],
}

/// Largest IP packet (header + VRRP) carried in an [`AdvertEvent`]; longer adverts go to the
/// kernel stack instead. 248 bytes hold 53 IPv4 or 12 IPv6 addresses.
pub const ADVERT_MAX: usize = 248;

/// A ring-buffer record: one accepted advert, from its IP header on.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "user", derive(bytemuck::Pod, bytemuck::Zeroable))]
pub struct AdvertEvent {
    /// `bpf_ktime_get_ns()` at arrival.
    pub ts_ns: u64,
    pub ifindex: u32,
    /// Bytes of `data` in use (the IP total length).
    pub len: u16,
    /// [`FAMILY_IPV4`] or [`FAMILY_IPV6`].
    pub family: u8,
    /// Reserved, zero.
    pub reserved: u8,
    pub data: [u8; ADVERT_MAX],
}

/// Size of the `ADVERTS` ring buffer in bytes (a power-of-two multiple of the page size).
pub const ADVERTS_BYTES: u32 = 64 * 1024;

const _: () = assert!(size_of::<VipKey>() == 8);
const _: () = assert!(size_of::<VmacKey>() == 12);
const _: () = assert!(size_of::<Vip6Key>() == 20);
const _: () = assert!(size_of::<VridKey>() == 8);
const _: () = assert!(size_of::<VridConfig>() == 56);
const _: () = assert!(size_of::<VridCounters>() == 80);
const _: () = assert!(size_of::<SourceKey>() == 24);
const _: () = assert!(size_of::<VridRate>() == 16);
const _: () = assert!(size_of::<AdvertSeen>() == 32);
const _: () = assert!(size_of::<AdvertEvent>() == 16 + ADVERT_MAX);
const _: () = assert!(size_of::<VipState>() == 24);
const _: () = assert!(size_of::<VipCounters>() == 32);

#[cfg(feature = "user")]
mod user {
    // SAFETY: each type derives `bytemuck::Pod` above, which proves at compile time that it is
    // `repr(C)`, `Copy`, without padding, and valid for any bit pattern: what `aya::Pod` asks.
    unsafe impl aya::Pod for super::VipKey {}
    unsafe impl aya::Pod for super::VmacKey {}
    unsafe impl aya::Pod for super::Vip6Key {}
    unsafe impl aya::Pod for super::VipState {}
    unsafe impl aya::Pod for super::VipCounters {}
    unsafe impl aya::Pod for super::VridKey {}
    unsafe impl aya::Pod for super::VridConfig {}
    unsafe impl aya::Pod for super::VridCounters {}
    unsafe impl aya::Pod for super::AdvertSeen {}
    unsafe impl aya::Pod for super::SourceKey {}
    unsafe impl aya::Pod for super::VridRate {}
}
