//! BPF_PROG_TEST_RUN table for the XDP program's VRRP path, fed with real keepalived adverts.

use havip::dataplane::{decode_advert_event, Dataplane};
use havip_ebpf::{
    global, VridConfig, VridCounters, VridKey, FAMILY_IPV4, FAMILY_IPV6, VRID_DELIVER_RINGBUF,
};
use havip_lab::{frames, require_root};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;

fn lo() -> u32 {
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

fn key(vrid: u8, family: u8) -> VridKey {
    VridKey {
        ifindex: lo(),
        vrid,
        family,
        reserved: [0; 2],
    }
}

/// A router without rate limits.
fn config(version: u8, flags: u32) -> VridConfig {
    VridConfig {
        version,
        reserved: [0; 3],
        flags,
        src_interval_ns: 0,
        src_tolerance_ns: 0,
        shared_interval_ns: 0,
        shared_tolerance_ns: 0,
        master: [0; 16],
    }
}

/// `frame` with IPv4 source `src`.
fn from(frame: &[u8], src: [u8; 4]) -> Vec<u8> {
    let mut f = frame.to_vec();
    f[26..30].copy_from_slice(&src);
    frames::fix_ipv4_checksum(&mut f);
    f
}

fn first(frames: &[Vec<u8>], pred: fn(&[u8]) -> bool) -> Vec<u8> {
    frames
        .iter()
        .find(|f| pred(f))
        .expect("a matching frame in the capture")
        .clone()
}

#[test]
fn xdp_vrrp_table() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let mut ring = dp.take_adverts().unwrap();
    let v2 = first(
        &frames::vector("keepalived-v2-pass.pcap"),
        frames::is_vrrp_v4,
    );
    let v3 = frames::vector("keepalived-v3.pcap");
    let v3_v4 = first(&v3, frames::is_vrrp_v4);
    let v3_v6 = first(&v3, frames::is_vrrp_v6);
    assert_eq!(
        (v2[34 + 1], v3_v4[34 + 1], v3_v6[54 + 1]),
        (51, 51, 52),
        "VRIDs of the vectors"
    );

    // 0: no router declared: VRRP passes (someone else's business, within the trickle).
    let (action, out) = dp.test_run(&v2).unwrap();
    assert_eq!((action, &out), (XDP_PASS, &v2), "0_unknown_vrid_passes");
    assert_eq!(
        dp.global_counters().unwrap()[global::VRRP_UNKNOWN_VRID as usize],
        1
    );

    // 1: v2 router, socket path: passed to the stack, counted, recorded.
    dp.set_vrid(key(51, FAMILY_IPV4), config(2, 0), &[])
        .unwrap();
    assert_eq!(
        dp.test_run(&v2).unwrap(),
        (XDP_PASS, v2.clone()),
        "1_v2_socket_path_passes"
    );
    let seen = dp.vrid_seen(&key(51, FAMILY_IPV4)).unwrap();
    assert_eq!(
        (&seen.src[..4], seen.priority),
        (&v2[26..30], v2[34 + 2]),
        "1_seen_recorded"
    );
    assert!(seen.ts_ns > 0);
    assert!(
        ring.next().is_none(),
        "1: nothing in the ring buffer on the socket path"
    );

    // 2: ring-buffer path: dropped from the stack, the IP packet in the ring buffer.
    dp.set_vrid(key(51, FAMILY_IPV4), config(2, VRID_DELIVER_RINGBUF), &[])
        .unwrap();
    assert_eq!(
        dp.test_run(&v2).unwrap().0,
        XDP_DROP,
        "2_v2_ringbuf_path_drops"
    );
    {
        let item = ring.next().expect("2: an event in the ring buffer");
        let ev = decode_advert_event(&item).expect("2: event size");
        let ip = &v2[14..];
        assert_eq!(
            (ev.ifindex, ev.family, usize::from(ev.len)),
            (lo(), FAMILY_IPV4, ip.len()),
            "2_event_header"
        );
        assert_eq!(
            &ev.data[..ip.len()],
            ip,
            "2_event_carries_the_whole_ip_packet"
        );
    }

    // 3..: what the program drops, with the reason counted.
    let mut ttl254 = v2.clone();
    ttl254[22] = 254;
    let mut type2 = v2.clone();
    type2[34] = 0x22;
    let mut truncated = v2.clone();
    truncated.truncate(v2.len() - 4); // IP total length now beyond the frame
    let mut short = v2[..34 + 3].to_vec(); // not even a VRRP header
    short[16..18].copy_from_slice(&[0, 23]);
    for (name, frame) in [
        ("3_ttl_254_drops", &ttl254),
        ("4_v3_advert_to_v2_router_drops", &v3_v4),
        ("5_type_2_drops", &type2),
        ("6_truncated_drops", &truncated),
        ("7_no_vrrp_header_drops", &short),
    ] {
        assert_eq!(dp.test_run(frame).unwrap().0, XDP_DROP, "{name}");
    }
    assert!(
        ring.next().is_none(),
        "dropped adverts must not reach the daemon"
    );
    let c = dp.vrid_counters(&key(51, FAMILY_IPV4)).unwrap();
    assert_eq!(
        c,
        VridCounters {
            received: 6,
            delivered_ringbuf: 1,
            passed_to_stack: 1,
            bad_ttl: 1,
            bad_version: 1,
            bad_type: 1,
            truncated: 1,
            ..VridCounters::default()
        }
    );
    assert_eq!(
        dp.global_counters().unwrap()[global::VRRP_MALFORMED as usize],
        1,
        "7 counted"
    );

    // 8: VRRPv3 over IPv6 (VRID 52) through the ring buffer.
    dp.set_vrid(key(52, FAMILY_IPV6), config(3, VRID_DELIVER_RINGBUF), &[])
        .unwrap();
    assert_eq!(
        dp.test_run(&v3_v6).unwrap().0,
        XDP_DROP,
        "8_v3_ipv6_ringbuf_drops"
    );
    let item = ring.next().expect("8: an event");
    let ev = decode_advert_event(&item).unwrap();
    assert_eq!(
        (ev.family, &ev.data[..usize::from(ev.len)]),
        (FAMILY_IPV6, &v3_v6[14..])
    );
    let mut hop254 = v3_v6.clone();
    hop254[21] = 254;
    assert_eq!(
        dp.test_run(&hop254).unwrap().0,
        XDP_DROP,
        "9_v6_hop_limit_254_drops"
    );
    assert_eq!(dp.vrid_counters(&key(52, FAMILY_IPV6)).unwrap().bad_ttl, 1);
}

/// keepalived skips the TTL check for unicast peers (their adverts may be routed): so does XDP
/// for a router flagged VRID_UNICAST.
#[test]
fn xdp_vrrp_unicast_router_accepts_routed_ttl() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let v2 = first(
        &frames::vector("keepalived-v2-pass.pcap"),
        frames::is_vrrp_v4,
    );
    let mut routed = v2.clone();
    routed[22] = 62;
    dp.set_vrid(key(51, FAMILY_IPV4), config(2, 0), &[])
        .unwrap();
    assert_eq!(
        dp.test_run(&routed).unwrap().0,
        XDP_DROP,
        "multicast router: TTL 62 dropped"
    );
    dp.set_vrid(
        key(51, FAMILY_IPV4),
        config(2, havip_ebpf::VRID_UNICAST),
        &[],
    )
    .unwrap();
    assert_eq!(
        dp.test_run(&routed).unwrap(),
        (XDP_PASS, routed.clone()),
        "unicast: accepted"
    );
    let c = dp.vrid_counters(&key(51, FAMILY_IPV4)).unwrap();
    assert_eq!((c.received, c.bad_ttl, c.passed_to_stack), (2, 1, 1));
}

/// keepalived's `check_unicast_src`: a router with VRID_CHECK_SRC accepts adverts only from
/// its declared peers, at any TTL; the others are dropped and counted.
#[test]
fn xdp_vrrp_non_peer_source_drops() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let v2 = first(
        &frames::vector("keepalived-v2-pass.pcap"),
        frames::is_vrrp_v4,
    );
    let mut spoofed = from(&v2, [198, 51, 100, 66]);
    spoofed[22] = 7;
    frames::fix_ipv4_checksum(&mut spoofed);
    let peer = from(&v2, [10, 99, 0, 12]);
    let flags = havip_ebpf::VRID_UNICAST | havip_ebpf::VRID_CHECK_SRC;
    let peers = ["10.99.0.12".parse().unwrap()];
    dp.set_vrid(key(51, FAMILY_IPV4), config(2, flags), &peers)
        .unwrap();
    assert_eq!(
        dp.test_run(&spoofed).unwrap().0,
        XDP_DROP,
        "0_non_peer_ttl7_drops"
    );
    spoofed[22] = 255;
    frames::fix_ipv4_checksum(&mut spoofed);
    assert_eq!(
        dp.test_run(&spoofed).unwrap().0,
        XDP_DROP,
        "1_non_peer_ttl255_drops"
    );
    assert_eq!(
        dp.test_run(&peer).unwrap(),
        (XDP_PASS, peer.clone()),
        "2_peer_passes"
    );
    // The peer list is replaced, not added to.
    dp.set_vrid(
        key(51, FAMILY_IPV4),
        config(2, flags),
        &["198.51.100.66".parse().unwrap()],
    )
    .unwrap();
    assert_eq!(
        dp.test_run(&peer).unwrap().0,
        XDP_DROP,
        "3_former_peer_drops"
    );
    let c = dp.vrid_counters(&key(51, FAMILY_IPV4)).unwrap();
    assert_eq!((c.received, c.not_peer, c.passed_to_stack), (4, 3, 1));
}

/// The rate limits: one source over its own limit, other sources over the shared one, and the
/// master's lane, which the shared limit does not touch.
#[test]
fn xdp_vrrp_rate_limits_drop_and_the_master_has_a_lane() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let v2 = first(
        &frames::vector("keepalived-v2-pass.pcap"),
        frames::is_vrrp_v4,
    );
    let k = key(51, FAMILY_IPV4);
    // Per source: one advert a minute, no burst; shared: unlimited.
    let mut cfg = config(2, 0);
    cfg.src_interval_ns = 60_000_000_000;
    dp.set_vrid(k, cfg, &[]).unwrap();
    let a = from(&v2, [10, 99, 0, 21]);
    let b = from(&v2, [10, 99, 0, 22]);
    assert_eq!(
        dp.test_run(&a).unwrap().0,
        XDP_PASS,
        "0_first_from_a_passes"
    );
    assert_eq!(
        dp.test_run(&a).unwrap().0,
        XDP_DROP,
        "1_second_from_a_rate_limited"
    );
    assert_eq!(
        dp.test_run(&b).unwrap().0,
        XDP_PASS,
        "2_b_has_its_own_limit"
    );
    // Shared: one a minute for everyone but the master.
    cfg.src_interval_ns = 0;
    cfg.shared_interval_ns = 60_000_000_000;
    let c = from(&v2, [10, 99, 0, 23]);
    dp.set_vrid(k, cfg, &[]).unwrap();
    assert_eq!(
        dp.test_run(&c).unwrap().0,
        XDP_PASS,
        "3_first_shared_passes"
    );
    assert_eq!(
        dp.test_run(&a).unwrap().0,
        XDP_DROP,
        "4_shared_limit_drops_another"
    );
    // The master's lane: not charged to the shared limit, whatever the others send.
    dp.set_vrid_master(
        k,
        Some("10.99.0.11".parse().unwrap()),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let master = from(&v2, [10, 99, 0, 11]);
    for i in 0..3 {
        assert_eq!(
            dp.test_run(&c).unwrap().0,
            XDP_DROP,
            "5_{i}_others_still_limited"
        );
        assert_eq!(
            dp.test_run(&master).unwrap().0,
            XDP_PASS,
            "6_{i}_master_passes"
        );
    }
    let n = dp.vrid_counters(&k).unwrap();
    assert_eq!((n.received, n.rate_limited, n.from_master), (11, 5, 3));
}

/// VRRP for routers this node does not run: a trickle passes (another VRRP daemon on the host
/// may want it), a flood is dropped and counted.
#[test]
fn xdp_vrrp_unknown_vrid_flood_drops() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let v2 = first(
        &frames::vector("keepalived-v2-pass.pcap"),
        frames::is_vrrp_v4,
    );
    let start = std::time::Instant::now();
    let mut passed = 0u64;
    for _ in 0..2000 {
        if dp.test_run(&v2).unwrap().0 == XDP_PASS {
            passed += 1;
        }
    }
    let elapsed_ms = start.elapsed().as_millis() as u64;
    let g = dp.global_counters().unwrap();
    let dropped = g[global::VRRP_UNKNOWN_VRID_DROPPED as usize];
    println!("unknown VRIDs: {passed} passed, {dropped} dropped in {elapsed_ms} ms");
    assert_eq!(g[global::VRRP_UNKNOWN_VRID as usize], passed);
    assert_eq!(passed + dropped, 2000);
    // A burst of 1000, then one a millisecond.
    assert!(
        passed >= 1000 && passed <= 1001 + elapsed_ms,
        "{passed} passed"
    );
    assert!(dropped > 0);
}
