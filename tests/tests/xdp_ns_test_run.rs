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
