//! BPF_PROG_TEST_RUN table for the IPv6 side of the fail-safe: neighbour solicitations for an
//! IPv6 VIP reach the kernel only while this node owns the VIP with a fresh heartbeat.

use havip::dataplane::{monotonic_ns, Dataplane};
use havip_ebpf::{Vip6Key, VipCounters, VipState, VIP_OWNED};
use havip_lab::{frames, require_root};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const SECOND: u64 = 1_000_000_000;

fn lo() -> u32 {
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn state(flags: u32) -> VipState {
    VipState {
        flags,
        reserved: 0,
        mac: [2, 0, 0, 0, 0, 0x11],
        reserved2: [0; 2],
        max_heartbeat_age_ns: SECOND,
    }
}

#[test]
fn xdp_neighbour_solicitation_table() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let client = [2, 0, 0, 0, 0, 0xcc];
    let from = v6("fe80::cc");
    let owned = Vip6Key {
        addr: v6("fd00:99::100"),
        ifindex: lo(),
    };
    let other = Vip6Key {
        addr: v6("fd00:99::101"),
        ifindex: lo(),
    };
    dp.set_vip(owned, state(VIP_OWNED)).unwrap();
    dp.set_vip(other, state(0)).unwrap();
    let ns_owned = frames::neighbour_solicitation(client, from, owned.addr);
    let ns_other = frames::neighbour_solicitation(client, from, other.addr);
    let ns_plain = frames::neighbour_solicitation(client, from, v6("fd00:99::11"));
    let dad = frames::neighbour_solicitation(client, [0; 16], owned.addr);

    dp.beat().unwrap();
    for (name, frame, action) in [
        ("0_owned_fresh_passes_to_the_kernel", &ns_owned, XDP_PASS),
        ("1_dad_probe_for_owned_passes", &dad, XDP_PASS),
        ("2_not_owned_drops", &ns_other, XDP_DROP),
        ("3_not_a_vip_passes", &ns_plain, XDP_PASS),
    ] {
        let (got, out) = dp.test_run(frame).unwrap();
        assert_eq!((got, &out), (action, frame), "{name}");
    }
    dp.set_heartbeat(monotonic_ns() - 2 * SECOND).unwrap();
    assert_eq!(
        dp.test_run(&ns_owned).unwrap().0,
        XDP_DROP,
        "4_owned_stale_drops"
    );

    assert_eq!(
        dp.vip_counters(&owned).unwrap(),
        VipCounters {
            requests: 3,
            replies: 2,
            dropped_not_owned: 0,
            dropped_stale: 1
        }
    );
    assert_eq!(
        dp.vip_counters(&other).unwrap(),
        VipCounters {
            requests: 1,
            replies: 0,
            dropped_not_owned: 1,
            dropped_stale: 0
        }
    );
    // Truncated solicitations (shorter than the target) pass untouched.
    for len in 54..ns_owned.len().min(54 + 24) {
        assert_eq!(
            dp.test_run(&ns_owned[..len]).unwrap().0,
            XDP_PASS,
            "{len} bytes"
        );
    }
}

/// `use_vmac` on IPv6 (`VIP_ANSWER_NS`): XDP answers a neighbour solicitation for an owned VIP
/// itself, with the virtual MAC 00:00:5e:00:02:VRID as target link-layer address and Ethernet
/// source (the kernel would answer with the interface's): Solicited and Override to the
/// solicitor, Override only to ff02::1 for a duplicate address detection probe; the frame
/// cut or grown to one option (a unicast solicitation may carry none); a valid checksum
/// (checked by havip's own parser, which verifies it). Not owned, or stale: dropped.
#[test]
fn xdp_answers_neighbour_solicitations_with_the_virtual_mac() {
    use havip::wire::{EthernetAddress, NeighborAdvertFrame, NeighborFlags};
    use havip_ebpf::VIP_ANSWER_NS;
    const XDP_TX: u32 = 3;
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let vmac = [0x00, 0x00, 0x5e, 0x00, 0x02, 51];
    let client = [2, 0, 0, 0, 0, 0xcc];
    let from = v6("fe80::cc");
    let key = Vip6Key {
        addr: v6("fd00:99::100"),
        ifindex: lo(),
    };
    let with_vmac = |flags| VipState {
        mac: vmac,
        ..state(flags)
    };
    dp.set_vip(key, with_vmac(VIP_OWNED | VIP_ANSWER_NS))
        .unwrap();
    dp.beat().unwrap();
    let ns = frames::neighbour_solicitation(client, from, key.addr);
    // A unicast solicitation without the source link-layer address option.
    let mut bare = ns[..ns.len() - 8].to_vec();
    bare[18..20].copy_from_slice(&24u16.to_be_bytes());
    let mut padded = ns.clone();
    padded.resize(ns.len() + 10, 0);
    let dad = frames::neighbour_solicitation(client, [0; 16], key.addr);
    let vip: std::net::Ipv6Addr = "fd00:99::100".parse().unwrap();
    for (name, frame, to, to_mac, flags) in [
        (
            "with an option",
            &ns,
            from,
            client,
            NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
        ),
        (
            "without one",
            &bare,
            from,
            client,
            NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
        ),
        (
            "padded",
            &padded,
            from,
            client,
            NeighborFlags::SOLICITED | NeighborFlags::OVERRIDE,
        ),
        (
            "dad probe",
            &dad,
            v6("ff02::1"),
            [0x33, 0x33, 0, 0, 0, 1],
            NeighborFlags::OVERRIDE,
        ),
    ] {
        let (action, out) = dp.test_run(frame).unwrap();
        assert_eq!(action, XDP_TX, "{name}");
        let na = NeighborAdvertFrame::parse(&out)
            .unwrap_or_else(|e| panic!("{name}: not a valid NA ({e:?}): {out:02x?}"));
        assert_eq!(na.ethernet.src_addr, EthernetAddress(vmac), "{name}");
        assert_eq!(na.ethernet.dst_addr, EthernetAddress(to_mac), "{name}");
        assert_eq!(na.ip.src_addr, vip, "{name}");
        assert_eq!(na.ip.dst_addr.octets(), to, "{name}");
        assert_eq!(na.ip.hop_limit, 255, "{name}");
        assert_eq!(na.na.target_addr, vip, "{name}");
        assert_eq!(na.na.target_lladdr, Some(EthernetAddress(vmac)), "{name}");
        assert_eq!(na.na.flags, flags, "{name}");
        assert_eq!(out.len(), 86, "{name}: one option, no padding");
    }
    // A backup's entry, then a stale heartbeat: dropped, nothing answered.
    dp.set_vip(key, with_vmac(VIP_ANSWER_NS)).unwrap();
    assert_eq!(dp.test_run(&ns).unwrap(), (XDP_DROP, ns.clone()));
    dp.set_vip(key, with_vmac(VIP_OWNED | VIP_ANSWER_NS))
        .unwrap();
    dp.set_heartbeat(monotonic_ns() - 2 * SECOND).unwrap();
    assert_eq!(dp.test_run(&ns).unwrap(), (XDP_DROP, ns));
}
