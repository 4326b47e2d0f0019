//! The XDP program proper (only compiled for the BPF target).

use aya_ebpf::{
    bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX},
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_xdp_adjust_tail, bpf_xdp_load_bytes},
    },
    macros::{map, xdp},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::XdpContext,
    EbpfContext as _,
};
use havip_ebpf::{
    global, AdvertEvent, AdvertSeen, SourceKey, Vip6Key, VipCounters, VipKey, VipState, VmacKey,
    VridConfig, VridCounters, VridKey, VridRate, ADVERTS_BYTES, ADVERT_MAX, FAMILY_IPV4,
    FAMILY_IPV6, MAX_VIPS, UNKNOWN_VRID_INTERVAL_NS, UNKNOWN_VRID_TOLERANCE_NS, VIP_ANSWER_NS,
    VIP_OWNED, VMAC_V4_PREFIX, VMAC_V6_PREFIX, VRID_CHECK_SRC, VRID_DELIVER_RINGBUF, VRID_UNICAST,
};

#[map]
static VIPS: HashMap<VipKey, VipState> = HashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static VIP_COUNTERS: PerCpuHashMap<VipKey, VipCounters> =
    PerCpuHashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static VIPS6: HashMap<Vip6Key, VipState> = HashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static VIP6_COUNTERS: PerCpuHashMap<Vip6Key, VipCounters> =
    PerCpuHashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static HEARTBEAT: Array<u64> = Array::with_max_entries(1, 0);
#[map]
static GLOBAL_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(global::COUNT, 0);
/// At most 255 VRIDs × 2 families × a few interfaces.
#[map]
static VRIDS: HashMap<VridKey, VridConfig> = HashMap::with_max_entries(1024, 0);
#[map]
static VRID_COUNTERS: PerCpuHashMap<VridKey, VridCounters> =
    PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static VRID_SEEN: HashMap<VridKey, AdvertSeen> = HashMap::with_max_entries(1024, 0);
#[map]
static ADVERTS: RingBuf = RingBuf::with_byte_size(ADVERTS_BYTES, 0);
/// A few unicast peers per router.
#[map]
static VRID_PEERS: HashMap<SourceKey, u32> = HashMap::with_max_entries(4096, 0);
#[map]
static VRID_RATE: HashMap<VridKey, VridRate> = HashMap::with_max_entries(1024, 0);
/// Bounded, and the least recently seen source goes first: a flood from random sources evicts
/// its own entries, while the real routers' are refreshed by their adverts. An evicted source
/// comes back with a full burst, which is why the shared limit stands behind this one.
#[map]
static SRC_RATE: LruHashMap<SourceKey, u64> = LruHashMap::with_max_entries(16384, 0);
#[map]
static UNKNOWN_RATE: Array<u64> = Array::with_max_entries(1, 0);
/// At most 255 VRIDs × a few interfaces.
#[map]
static VMACS: HashMap<VmacKey, VipState> = HashMap::with_max_entries(1024, 0);

const ETH_P_ARP: [u8; 2] = [0x08, 0x06];
const ETH_P_IPV4: [u8; 2] = [0x08, 0x00];
const ETH_P_IPV6: [u8; 2] = [0x86, 0xdd];
const IPPROTO_VRRP: u8 = 112;
const IPPROTO_ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOUR_SOLICITATION: u8 = 135;
const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// A neighbour advertisement as XDP sends it: Ethernet, IPv6, the advertisement with one
/// target link-layer address option.
const NA_FRAME_LEN: usize = ETH_HLEN + size_of::<Ipv6Hdr>() + size_of::<NeighbourAdvert>();
/// ff02::1 and its MAC, where the answer to a duplicate address detection probe goes.
const ALL_NODES: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const VRRP_TTL: u8 = 255;
const VRRP_TYPE_ADVERTISEMENT: u8 = 1;
const ETH_HLEN: usize = 14;
/// `bpf_ringbuf_submit` flag: wake the consumer now rather than adaptively.
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const ARP_HTYPE_ETHERNET: [u8; 2] = [0x00, 0x01];
const ARP_PTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ARP_OP_REQUEST: [u8; 2] = [0x00, 0x01];
const ARP_OP_REPLY: [u8; 2] = [0x00, 0x02];

/// Ethernet header; byte arrays only, so alignment 1 and no padding.
#[repr(C)]
struct EthHdr {
    dst: [u8; 6],
    src: [u8; 6],
    ethertype: [u8; 2],
}

/// ARP for Ethernet/IPv4 (RFC 826), as laid out on the wire.
#[repr(C)]
struct ArpEthIpv4 {
    htype: [u8; 2],
    ptype: [u8; 2],
    hlen: u8,
    plen: u8,
    op: [u8; 2],
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
}

/// IPv4 header without options.
#[repr(C)]
struct Ipv4Hdr {
    version_ihl: u8,
    tos: u8,
    total_len: [u8; 2],
    id: [u8; 2],
    frag: [u8; 2],
    ttl: u8,
    protocol: u8,
    checksum: [u8; 2],
    src: [u8; 4],
    dst: [u8; 4],
}

/// IPv6 fixed header.
#[repr(C)]
struct Ipv6Hdr {
    version_class_flow: [u8; 4],
    payload_len: [u8; 2],
    next_header: u8,
    hop_limit: u8,
    src: [u8; 16],
    dst: [u8; 16],
}

/// ICMPv6 neighbour solicitation (RFC 4861 §4.3) up to its target address.
#[repr(C)]
struct NeighbourSolicitation {
    icmp_type: u8,
    code: u8,
    checksum: [u8; 2],
    reserved: [u8; 4],
    target: [u8; 16],
}

/// ICMPv6 neighbour advertisement (RFC 4861 §4.4) with a target link-layer address option.
#[repr(C)]
struct NeighbourAdvert {
    icmp_type: u8,
    code: u8,
    checksum: [u8; 2],
    /// Router, Solicited, Override in the first byte's top bits.
    flags: [u8; 4],
    target: [u8; 16],
    opt_type: u8,
    /// In units of 8 bytes.
    opt_len: u8,
    lladdr: [u8; 6],
}

/// The part of a VRRP v2/v3 header XDP looks at.
#[repr(C)]
struct VrrpHdr {
    version_type: u8,
    vrid: u8,
    priority: u8,
    count: u8,
}

#[xdp]
pub fn havip_xdp(ctx: XdpContext) -> u32 {
    let action = try_havip_xdp(&ctx);
    if action == XDP_PASS {
        count_global(global::PASSED);
    }
    action
}

/// Attached to the peers of veth pairs in labs, see `havip_ebpf::prog::PASS`.
#[xdp]
pub fn havip_pass(_ctx: XdpContext) -> u32 {
    XDP_PASS
}

#[inline(always)]
fn try_havip_xdp(ctx: &XdpContext) -> u32 {
    let Some(eth) = ptr_at::<EthHdr>(ctx, 0) else {
        count_global(global::MALFORMED);
        return XDP_PASS;
    };
    // SAFETY: `ptr_at` checked that the header lies inside the frame.
    let dst = unsafe { (*eth).dst };
    if dst[..5] == VMAC_V4_PREFIX || dst[..5] == VMAC_V6_PREFIX {
        let key = VmacKey {
            ifindex: ctx.ingress_ifindex() as u32,
            mac: dst,
            reserved: [0; 2],
        };
        // SAFETY: read-only use of a value userspace replaces whole.
        if let Some(vmac) = unsafe { VMACS.get(&key) } {
            if vmac.flags & VIP_OWNED == 0 || !heartbeat_fresh(vmac.max_heartbeat_age_ns) {
                count_global(global::VMAC_DROPPED);
                return XDP_DROP;
            }
            // The master's: the stack takes it as addressed to the interface.
            // SAFETY: as above, inside the frame.
            unsafe { (*eth).dst = vmac.mac };
            count_global(global::VMAC_ACCEPTED);
        }
    }
    // SAFETY: `ptr_at` checked that the header lies inside the frame.
    let ethertype = unsafe { (*eth).ethertype };
    if ethertype == ETH_P_IPV4 {
        return ipv4(ctx);
    }
    if ethertype == ETH_P_IPV6 {
        return ipv6(ctx);
    }
    if ethertype != ETH_P_ARP {
        return XDP_PASS;
    }
    let Some(arp) = ptr_at::<ArpEthIpv4>(ctx, size_of::<EthHdr>()) else {
        count_global(global::MALFORMED);
        return XDP_PASS;
    };
    // SAFETY: both headers were bounds-checked by `ptr_at`.
    unsafe { arp_respond(ctx, &mut *eth, &mut *arp) }
}

/// Decides what to do with an ARP frame and, when answering, rewrites it into the reply.
#[inline(always)]
fn arp_respond(ctx: &XdpContext, eth: &mut EthHdr, arp: &mut ArpEthIpv4) -> u32 {
    if arp.htype != ARP_HTYPE_ETHERNET
        || arp.ptype != ARP_PTYPE_IPV4
        || arp.hlen != 6
        || arp.plen != 4
        || arp.op != ARP_OP_REQUEST
        // Gratuitous ARP (an announcement, not a question): the kernel may learn from it.
        || arp.spa == arp.tpa
    {
        return XDP_PASS;
    }
    let key = VipKey {
        addr: arp.tpa,
        ifindex: ctx.ingress_ifindex() as u32,
    };
    // SAFETY: the value is only read, and entries are updated by userspace as a whole.
    let Some(vip) = (unsafe { VIPS.get(&key) }) else {
        count_global(global::ARP_NOT_VIP);
        return XDP_PASS;
    };
    let counters = VIP_COUNTERS.get_ptr_mut(&key);
    bump(counters, |c| c.requests += 1);
    if vip.flags & VIP_OWNED == 0 {
        bump(counters, |c| c.dropped_not_owned += 1);
        return XDP_DROP;
    }
    if !heartbeat_fresh(vip.max_heartbeat_age_ns) {
        bump(counters, |c| c.dropped_stale += 1);
        return XDP_DROP;
    }
    // The reply, as Linux's arp_process() builds it: to the requester's hardware address.
    eth.dst = arp.sha;
    eth.src = vip.mac;
    arp.op = ARP_OP_REPLY;
    arp.tha = arp.sha;
    arp.sha = vip.mac;
    arp.tpa = arp.spa;
    arp.spa = key.addr;
    bump(counters, |c| c.replies += 1);
    XDP_TX
}

/// IPv4: VRRP (protocol 112) is checked and handed over; everything else passes.
#[inline(always)]
fn ipv4(ctx: &XdpContext) -> u32 {
    let Some(ip) = ptr_at::<Ipv4Hdr>(ctx, ETH_HLEN) else {
        count_global(global::MALFORMED);
        return XDP_PASS;
    };
    // SAFETY: bounds-checked by `ptr_at`.
    let ip = unsafe { &*ip };
    if ip.protocol != IPPROTO_VRRP {
        return XDP_PASS;
    }
    let ihl = ((ip.version_ihl & 0x0f) as usize) * 4;
    if ihl < size_of::<Ipv4Hdr>() {
        count_global(global::VRRP_MALFORMED);
        return XDP_DROP;
    }
    let total_len = u16::from_be_bytes(ip.total_len) as usize;
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&ip.src);
    vrrp(ctx, FAMILY_IPV4, ETH_HLEN + ihl, total_len, ip.ttl, src)
}

/// IPv6: VRRP as the first next header is checked and handed over; everything else passes.
#[inline(always)]
fn ipv6(ctx: &XdpContext) -> u32 {
    let Some(ip) = ptr_at::<Ipv6Hdr>(ctx, ETH_HLEN) else {
        count_global(global::MALFORMED);
        return XDP_PASS;
    };
    // SAFETY: bounds-checked by `ptr_at`.
    let ip = unsafe { &*ip };
    if ip.next_header == IPPROTO_ICMPV6 {
        return neighbour_solicitation(ctx);
    }
    if ip.next_header != IPPROTO_VRRP {
        return XDP_PASS;
    }
    let total_len = size_of::<Ipv6Hdr>() + u16::from_be_bytes(ip.payload_len) as usize;
    vrrp(
        ctx,
        FAMILY_IPV6,
        ETH_HLEN + size_of::<Ipv6Hdr>(),
        total_len,
        ip.hop_limit,
        ip.src,
    )
}

/// ICMPv6 right after the IPv6 header: a neighbour solicitation for an IPv6 VIP of this
/// interface is passed to the kernel (which holds the address and answers) only while this
/// node owns the VIP with a fresh heartbeat; otherwise it is dropped, the IPv6 side of the
/// fail-safe. Everything else passes.
#[inline(always)]
fn neighbour_solicitation(ctx: &XdpContext) -> u32 {
    const NS_OFF: usize = ETH_HLEN + size_of::<Ipv6Hdr>();
    let Some(ns) = ptr_at::<NeighbourSolicitation>(ctx, NS_OFF) else {
        return XDP_PASS;
    };
    // SAFETY: bounds-checked by `ptr_at`.
    let ns = unsafe { &*ns };
    if ns.icmp_type != ICMPV6_NEIGHBOUR_SOLICITATION {
        return XDP_PASS;
    }
    let key = Vip6Key {
        addr: ns.target,
        ifindex: ctx.ingress_ifindex() as u32,
    };
    // SAFETY: read-only use of a value userspace replaces whole.
    let Some(vip) = (unsafe { VIPS6.get(&key) }) else {
        return XDP_PASS;
    };
    let counters = VIP6_COUNTERS.get_ptr_mut(&key);
    bump(counters, |c| c.requests += 1);
    if vip.flags & VIP_OWNED == 0 {
        bump(counters, |c| c.dropped_not_owned += 1);
        return XDP_DROP;
    }
    if !heartbeat_fresh(vip.max_heartbeat_age_ns) {
        bump(counters, |c| c.dropped_stale += 1);
        return XDP_DROP;
    }
    bump(counters, |c| c.replies += 1);
    if vip.flags & VIP_ANSWER_NS != 0 {
        return neighbour_advert(ctx, key.addr, vip.mac);
    }
    XDP_PASS
}

/// Turns the neighbour solicitation in `ctx` (already checked: for `target`, owned, fresh)
/// into the advertisement of `target` at `mac`, as Linux's `ndisc_send_na()` builds it: to the
/// soliciting address with Solicited and Override set, or, for a duplicate address detection
/// probe (from ::), to ff02::1 with Override only; hop limit 255; the frame cut or grown to
/// exactly one target link-layer address option.
#[inline(always)]
fn neighbour_advert(ctx: &XdpContext, target: [u8; 16], mac: [u8; 6]) -> u32 {
    let (Some(eth), Some(ip)) = (ptr_at::<EthHdr>(ctx, 0), ptr_at::<Ipv6Hdr>(ctx, ETH_HLEN)) else {
        return XDP_DROP;
    };
    // SAFETY: bounds-checked by `ptr_at`; read before the frame is resized.
    let (requester_mac, requester) = unsafe { ((*eth).src, (*ip).src) };
    let len = ctx.data_end() - ctx.data();
    let delta = NA_FRAME_LEN as i32 - len as i32;
    // SAFETY: the context is the program's; the helper checks the new size.
    if delta != 0 && unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
        count_global(global::MALFORMED);
        return XDP_DROP;
    }
    let (Some(eth), Some(ip), Some(na)) = (
        ptr_at::<EthHdr>(ctx, 0),
        ptr_at::<Ipv6Hdr>(ctx, ETH_HLEN),
        ptr_at::<NeighbourAdvert>(ctx, ETH_HLEN + size_of::<Ipv6Hdr>()),
    ) else {
        return XDP_DROP;
    };
    let dad = requester == [0; 16];
    let (dst, dst_mac, flags) = if dad {
        (ALL_NODES, ALL_NODES_MAC, 0x20)
    } else {
        (requester, requester_mac, 0x60)
    };
    // SAFETY: the three headers were bounds-checked by `ptr_at` on the resized frame.
    unsafe {
        (*eth).dst = dst_mac;
        (*eth).src = mac;
        (*ip).version_class_flow = [0x60, 0, 0, 0];
        (*ip).payload_len = (size_of::<NeighbourAdvert>() as u16).to_be_bytes();
        (*ip).next_header = IPPROTO_ICMPV6;
        (*ip).hop_limit = 255;
        (*ip).src = target;
        (*ip).dst = dst;
        (*na).icmp_type = ICMPV6_NEIGHBOUR_ADVERTISEMENT;
        (*na).code = 0;
        (*na).flags = [flags, 0, 0, 0];
        (*na).target = target;
        (*na).opt_type = 2;
        (*na).opt_len = 1;
        (*na).lladdr = mac;
        (*na).checksum = na_checksum(&target, &dst, flags, &mac);
    }
    XDP_TX
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of the advertisement `neighbour_advert` writes.
#[inline(always)]
fn na_checksum(src: &[u8; 16], dst: &[u8; 16], flags: u8, mac: &[u8; 6]) -> [u8; 2] {
    let words = |b: &[u8; 16]| {
        let mut s = 0u32;
        let mut i = 0;
        while i < 16 {
            s += u16::from_be_bytes([b[i], b[i + 1]]) as u32;
            i += 2;
        }
        s
    };
    // Pseudo-header: source, destination, upper-layer length, next header.
    let mut sum = words(src) + words(dst);
    sum += size_of::<NeighbourAdvert>() as u32 + IPPROTO_ICMPV6 as u32;
    // The message, checksum zero: type and code, flags, target (= source), the option.
    sum += u16::from_be_bytes([ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0]) as u32;
    sum += u16::from_be_bytes([flags, 0]) as u32;
    sum += words(src);
    sum += u16::from_be_bytes([2, 1]) as u32;
    sum += u16::from_be_bytes([mac[0], mac[1]]) as u32;
    sum += u16::from_be_bytes([mac[2], mac[3]]) as u32;
    sum += u16::from_be_bytes([mac[4], mac[5]]) as u32;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    (!(sum as u16)).to_be_bytes()
}

/// A VRRP packet whose header starts at `vrrp_off`; `total_len` is the IP packet's length from
/// its header on. Checks what can be checked without the router's state (TTL, version, type,
/// length), records it, and hands it to the daemon. Checksum, auth and the election's own
/// rules are the daemon's.
#[inline(always)]
fn vrrp(
    ctx: &XdpContext,
    family: u8,
    vrrp_off: usize,
    total_len: usize,
    ttl: u8,
    src: [u8; 16],
) -> u32 {
    let Some(hdr) = ptr_at::<VrrpHdr>(ctx, vrrp_off) else {
        count_global(global::VRRP_MALFORMED);
        return XDP_DROP;
    };
    // SAFETY: bounds-checked by `ptr_at`.
    let hdr = unsafe { &*hdr };
    let key = VridKey {
        ifindex: ctx.ingress_ifindex() as u32,
        vrid: hdr.vrid,
        family,
        reserved: [0; 2],
    };
    // SAFETY: read-only use of a value userspace replaces whole.
    let Some(cfg) = (unsafe { VRIDS.get(&key) }) else {
        // Not ours. Another VRRP daemon on this host may want it, so a trickle still goes to
        // the kernel (which drops what nobody wants); a flood does not reach our raw socket.
        let passed = UNKNOWN_RATE.get_ptr_mut(0).is_some_and(|tat| {
            // SAFETY: a map value pointer; concurrent CPUs may race, which skews the limit a
            // little and nothing else.
            gcra(
                unsafe { &mut *tat },
                unsafe { bpf_ktime_get_ns() },
                UNKNOWN_VRID_INTERVAL_NS,
                UNKNOWN_VRID_TOLERANCE_NS,
            )
        });
        if passed {
            count_global(global::VRRP_UNKNOWN_VRID);
            return XDP_PASS;
        }
        count_global(global::VRRP_UNKNOWN_VRID_DROPPED);
        return XDP_DROP;
    };
    let counters = VRID_COUNTERS.get_ptr_mut(&key);
    bump_vrid(counters, |c| c.received += 1);
    if ttl != VRRP_TTL && cfg.flags & VRID_UNICAST == 0 {
        bump_vrid(counters, |c| c.bad_ttl += 1);
        return XDP_DROP;
    }
    if hdr.version_type >> 4 != cfg.version {
        bump_vrid(counters, |c| c.bad_version += 1);
        return XDP_DROP;
    }
    if hdr.version_type & 0x0f != VRRP_TYPE_ADVERTISEMENT {
        bump_vrid(counters, |c| c.bad_type += 1);
        return XDP_DROP;
    }
    let frame_len = ctx.data_end() - ctx.data();
    if total_len < vrrp_off - ETH_HLEN + 8 || ETH_HLEN + total_len > frame_len {
        bump_vrid(counters, |c| c.truncated += 1);
        return XDP_DROP;
    }
    let src_key = SourceKey {
        vrid: key,
        addr: src,
    };
    // SAFETY: read-only lookup of a value userspace writes whole.
    if cfg.flags & VRID_CHECK_SRC != 0 && unsafe { VRID_PEERS.get(&src_key) }.is_none() {
        bump_vrid(counters, |c| c.not_peer += 1);
        return XDP_DROP;
    }
    // SAFETY: a helper call without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    match rate_check(key, src_key, cfg, now) {
        Rate::Master => bump_vrid(counters, |c| c.from_master += 1),
        Rate::Other => {}
        Rate::Limited => {
            bump_vrid(counters, |c| c.rate_limited += 1);
            return XDP_DROP;
        }
    }
    if let Some(seen) = VRID_SEEN.get_ptr_mut(&key) {
        // SAFETY: a map value pointer; a torn read by userspace only skews a statistic.
        unsafe {
            (*seen).ts_ns = now;
            (*seen).src = src;
            (*seen).priority = hdr.priority;
        }
    }
    if cfg.flags & VRID_DELIVER_RINGBUF != 0 && total_len <= ADVERT_MAX {
        if let Some(mut entry) = ADVERTS.reserve::<AdvertEvent>(0) {
            let event = entry.as_mut_ptr();
            // SAFETY: `event` points at a reserved record of the right size; the copy length is
            // bounded by ADVERT_MAX (the verifier needs the explicit mask to see it).
            let copied = unsafe {
                (*event).ts_ns = now;
                (*event).ifindex = key.ifindex;
                (*event).len = total_len as u16;
                (*event).family = family;
                (*event).reserved = 0;
                let len = (total_len as u32) & 0xff;
                len <= ADVERT_MAX as u32
                    && len > 0
                    && bpf_xdp_load_bytes(
                        ctx.as_ptr().cast(),
                        ETH_HLEN as u32,
                        (*event).data.as_mut_ptr().cast(),
                        len,
                    ) == 0
            };
            if copied {
                entry.submit(BPF_RB_FORCE_WAKEUP);
                bump_vrid(counters, |c| c.delivered_ringbuf += 1);
                return XDP_DROP;
            }
            entry.discard(0);
        } else {
            count_global(global::VRRP_RINGBUF_FULL);
        }
    }
    bump_vrid(counters, |c| c.passed_to_stack += 1);
    XDP_PASS
}

/// What the rate limits made of an advert.
enum Rate {
    /// From the master this node follows, within its lane's limit.
    Master,
    /// From another source, within its own limit and the shared one.
    Other,
    /// Over a limit: drop it.
    Limited,
}

/// The advert rate limits: the master's source has a lane of its own; any other source is
/// charged to its own limit and then to the one all of them share, so neither one noisy source
/// nor a crowd of random ones can fill the socket, and the master's adverts still pass.
#[inline(always)]
fn rate_check(key: VridKey, src_key: SourceKey, cfg: &VridConfig, now: u64) -> Rate {
    let Some(rate) = VRID_RATE.get_ptr_mut(&key) else {
        return Rate::Other; // not declared by the daemon: no limit known
    };
    // SAFETY: a map value pointer; CPUs may race on it, which only skews the limits a little.
    let rate = unsafe { &mut *rate };
    if cfg.master != [0u8; 16] && src_key.addr == cfg.master {
        return if gcra(
            &mut rate.master_tat,
            now,
            cfg.src_interval_ns,
            cfg.src_tolerance_ns,
        ) {
            Rate::Master
        } else {
            Rate::Limited
        };
    }
    if cfg.src_interval_ns != 0 {
        match SRC_RATE.get_ptr_mut(&src_key) {
            // SAFETY: as above.
            Some(tat) => {
                if !gcra(
                    unsafe { &mut *tat },
                    now,
                    cfg.src_interval_ns,
                    cfg.src_tolerance_ns,
                ) {
                    return Rate::Limited;
                }
            }
            None => {
                // A new source starts with a full burst.
                let _ = SRC_RATE.insert(&src_key, &(now + cfg.src_interval_ns), 0);
            }
        }
    }
    if gcra(
        &mut rate.shared_tat,
        now,
        cfg.shared_interval_ns,
        cfg.shared_tolerance_ns,
    ) {
        Rate::Other
    } else {
        Rate::Limited
    }
}

/// The generic cell rate algorithm (a token bucket kept as one number): `tat` is the
/// theoretical arrival time of the next packet at the allowed pace; a packet may run ahead of it
/// by `tolerance` ns. `interval` 0 means no limit.
#[inline(always)]
fn gcra(tat: &mut u64, now: u64, interval: u64, tolerance: u64) -> bool {
    if interval == 0 {
        return true;
    }
    let t = if *tat > now { *tat } else { now };
    if t - now > tolerance {
        return false;
    }
    *tat = t + interval;
    true
}

#[inline(always)]
fn bump_vrid(counters: Option<*mut VridCounters>, f: impl FnOnce(&mut VridCounters)) {
    if let Some(c) = counters {
        // SAFETY: per-CPU, as in `bump`.
        f(unsafe { &mut *c });
    }
}

/// Whether the daemon wrote its heartbeat no longer than `max_age_ns` ago.
#[inline(always)]
fn heartbeat_fresh(max_age_ns: u64) -> bool {
    let Some(&beat) = HEARTBEAT.get(0) else {
        return false;
    };
    // SAFETY: a helper call without arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    // A beat written after `now` was read (another CPU) is fresh: saturate to 0.
    now.saturating_sub(beat) <= max_age_ns
}

#[inline(always)]
fn bump(counters: Option<*mut VipCounters>, f: impl FnOnce(&mut VipCounters)) {
    if let Some(c) = counters {
        // SAFETY: a per-CPU value: no other CPU writes it, and XDP does not nest on one CPU.
        f(unsafe { &mut *c });
    }
}

#[inline(always)]
fn count_global(index: u32) {
    if let Some(c) = GLOBAL_COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU, as in `bump`.
        unsafe { *c += 1 };
    }
}

/// The one bounds-checked accessor: a pointer to a `T` at `offset` bytes into the frame, or
/// `None` when the frame is too short. The comparison against `data_end` is what the verifier
/// needs to see before any access through the pointer.
#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Option<*mut T> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return None;
    }
    Some((start + offset) as *mut T)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
