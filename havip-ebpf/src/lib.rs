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
    /// Number of global counters (the map's size).
    pub const COUNT: u32 = 3;
}

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

/// [`VipState::flags`]: this node owns the VIP (it is VRRP master for it) and answers ARP for it.
pub const VIP_OWNED: u32 = 1;

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

const _: () = assert!(size_of::<VipKey>() == 8);
const _: () = assert!(size_of::<VipState>() == 24);
const _: () = assert!(size_of::<VipCounters>() == 32);

#[cfg(feature = "user")]
mod user {
    // SAFETY: each type derives `bytemuck::Pod` above, which proves at compile time that it is
    // `repr(C)`, `Copy`, without padding, and valid for any bit pattern: what `aya::Pod` asks.
    unsafe impl aya::Pod for super::VipKey {}
    unsafe impl aya::Pod for super::VipState {}
    unsafe impl aya::Pod for super::VipCounters {}
}
