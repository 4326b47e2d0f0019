//! The XDP program proper (only compiled for the BPF target).

use aya_ebpf::{
    bindings::xdp_action::{XDP_DROP, XDP_PASS, XDP_TX},
    helpers::bpf_ktime_get_ns,
    macros::{map, xdp},
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap},
    programs::XdpContext,
};
use havip_ebpf::{global, VipCounters, VipKey, VipState, MAX_VIPS, VIP_OWNED};

#[map]
static VIPS: HashMap<VipKey, VipState> = HashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static VIP_COUNTERS: PerCpuHashMap<VipKey, VipCounters> =
    PerCpuHashMap::with_max_entries(MAX_VIPS, 0);
#[map]
static HEARTBEAT: Array<u64> = Array::with_max_entries(1, 0);
#[map]
static GLOBAL_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(global::COUNT, 0);

const ETH_P_ARP: [u8; 2] = [0x08, 0x06];
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
    if unsafe { (*eth).ethertype } != ETH_P_ARP {
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
