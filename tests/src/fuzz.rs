//! The XDP program fuzzed through `BPF_PROG_TEST_RUN`: frames drawn from a seed (mutated
//! ARP, neighbour solicitations, keepalived's own adverts from the vector captures, IPv4 and
//! IPv6 traffic, and random bytes) against a table of VIPs and virtual routers, each result
//! checked against an oracle written from the promises, not from the program:
//!
//! - an ARP request is answered (`XDP_TX`) exactly when its target is a VIP this node owns
//!   with a fresh heartbeat, and the answer is a well-formed reply, byte for byte; one for a
//!   VIP owned with a stale heartbeat, or not owned, is dropped;
//! - a neighbour solicitation for an IPv6 VIP passes only when owned with a fresh heartbeat;
//! - a frame that is neither ARP for a VIP, nor VRRP, nor a solicitation for an IPv6 VIP
//!   passes unchanged; VRRP passes unchanged or is dropped, and is never answered;
//! - the counters add up to the frames sent, by action.
//!
//! The frames run in this process's network namespace with no program attached anywhere:
//! `BPF_PROG_TEST_RUN` only runs the program on a buffer ("as if it arrived on loopback").

use std::time::Instant;

use havip::dataplane::{AdvertLimits, Dataplane};
use havip_ebpf::{
    global, Vip6Key, VipKey, VipState, VridConfig, VridKey, FAMILY_IPV4, FAMILY_IPV6, VIP_OWNED,
};

use crate::{frames, rng::Rng};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

const NODE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xcc];
const CLIENT_IP: [u8; 4] = [10, 99, 0, 50];
/// Owned, heartbeat fresh (a second of age allowed, and beaten every few thousand frames).
const V4_FRESH: [u8; 4] = [10, 99, 0, 100];
/// Owned, but its heartbeat may be at most 1 ns old: always stale.
const V4_STALE: [u8; 4] = [10, 99, 0, 101];
const V4_NOT_OWNED: [u8; 4] = [10, 99, 0, 102];
const V6_FRESH: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
const V6_STALE: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
const V6_NOT_OWNED: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2];
const SECOND: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// `XDP_TX` with exactly this reply.
    Reply,
    Drop,
    /// `XDP_PASS`, the frame unchanged.
    Pass,
    /// VRRP: passed unchanged or dropped (the rules are the election's and XDP's limits').
    PassOrDrop,
}

#[derive(Debug, Default)]
pub struct Report {
    pub frames: u64,
    pub passed: u64,
    pub dropped: u64,
    pub replied: u64,
    pub per_second: f64,
    /// The first broken promises (at most 20), each with the frame in hex.
    pub failures: Vec<String>,
    pub failure_count: u64,
}

/// What the oracle says about `frame`, and the reply it expects for `Want::Reply`.
fn oracle(frame: &[u8]) -> (Want, Option<Vec<u8>>) {
    if frame.len() < 14 {
        return (Want::Pass, None);
    }
    match [frame[12], frame[13]] {
        [0x08, 0x06] => arp_oracle(frame),
        [0x08, 0x00] => {
            // IPv4: VRRP (protocol 112) is the program's, the rest passes.
            if frame.len() >= 34 && frame[23] == 112 {
                (Want::PassOrDrop, None)
            } else {
                (Want::Pass, None)
            }
        }
        [0x86, 0xdd] => {
            if frame.len() < 54 {
                return (Want::Pass, None);
            }
            match frame[20] {
                112 => (Want::PassOrDrop, None),
                58 if frame.len() >= 54 + 24 && frame[54] == 135 => {
                    let target: [u8; 16] = frame[62..78].try_into().unwrap();
                    if target == V6_FRESH {
                        (Want::Pass, None)
                    } else if target == V6_STALE || target == V6_NOT_OWNED {
                        (Want::Drop, None)
                    } else {
                        (Want::Pass, None)
                    }
                }
                _ => (Want::Pass, None),
            }
        }
        _ => (Want::Pass, None),
    }
}

/// ARP (RFC 826 for Ethernet and IPv4): only a request that asks (not an announcement, whose
/// sender and target addresses are the same) for a VIP of this interface is the program's.
fn arp_oracle(f: &[u8]) -> (Want, Option<Vec<u8>>) {
    if f.len() < 42 {
        return (Want::Pass, None);
    }
    let a = &f[14..42];
    let (htype, ptype, hlen, plen, op) = (&a[0..2], &a[2..4], a[4], a[5], &a[6..8]);
    let (sha, spa, tpa) = (&a[8..14], &a[14..18], &a[24..28]);
    if htype != [0, 1] || ptype != [8, 0] || hlen != 6 || plen != 4 || op != [0, 1] || spa == tpa {
        return (Want::Pass, None);
    }
    let tpa: [u8; 4] = tpa.try_into().unwrap();
    if tpa == V4_STALE || tpa == V4_NOT_OWNED {
        return (Want::Drop, None);
    }
    if tpa != V4_FRESH {
        return (Want::Pass, None);
    }
    // The reply as Linux's arp_process() builds it: to the requester's hardware address,
    // from the VIP's; the frame's length (padding included) kept.
    let mut r = f.to_vec();
    r[0..6].copy_from_slice(sha);
    r[6..12].copy_from_slice(&NODE_MAC);
    r[20..22].copy_from_slice(&[0, 2]);
    r[22..28].copy_from_slice(&NODE_MAC);
    r[28..32].copy_from_slice(&V4_FRESH);
    r[32..38].copy_from_slice(sha);
    r[38..42].copy_from_slice(spa);
    (Want::Reply, Some(r))
}

fn lo() -> u32 {
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

fn vip_state(owned: bool, max_age_ns: u64) -> VipState {
    VipState {
        flags: if owned { VIP_OWNED } else { 0 },
        reserved: 0,
        mac: NODE_MAC,
        reserved2: [0; 2],
        max_heartbeat_age_ns: max_age_ns,
    }
}

/// The seeds the mutations start from.
fn corpus() -> Vec<Vec<u8>> {
    let mut c = Vec::new();
    for target in [V4_FRESH, V4_STALE, V4_NOT_OWNED, [10, 99, 0, 11]] {
        let req = frames::arp_request(CLIENT_MAC, CLIENT_IP, target);
        let mut padded = req.clone();
        padded.resize(60, 0);
        c.push(req);
        c.push(padded);
        // Unicast, and gratuitous.
        c.push(frames::arp(
            NODE_MAC, CLIENT_MAC, 1, CLIENT_MAC, CLIENT_IP, [0; 6], target,
        ));
        c.push(frames::arp_request(CLIENT_MAC, target, target));
        // A reply about it.
        c.push(frames::arp(
            NODE_MAC, CLIENT_MAC, 2, CLIENT_MAC, target, NODE_MAC, CLIENT_IP,
        ));
    }
    let client6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50];
    for target in [
        V6_FRESH,
        V6_STALE,
        V6_NOT_OWNED,
        [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
    ] {
        c.push(frames::neighbour_solicitation(CLIENT_MAC, client6, target));
    }
    c.extend(frames::vector("keepalived-v2-pass.pcap"));
    c.extend(frames::vector("keepalived-v3.pcap"));
    c.push(frames::ipv4_udp(CLIENT_MAC, CLIENT_IP, V4_FRESH));
    c
}

/// The shortest frame `BPF_PROG_TEST_RUN` takes for XDP (an Ethernet header: anything shorter
/// is EINVAL, and no driver hands XDP less).
const MIN_FRAME: usize = 14;

/// One frame: 1 in 10 random bytes, else a corpus frame with one to four mutations.
fn draw(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    if rng.below(10) == 0 {
        let len = MIN_FRAME + rng.below(129 - MIN_FRAME);
        return (0..len).map(|_| rng.next_u64() as u8).collect();
    }
    let mut f = corpus[rng.below(corpus.len())].clone();
    const INTERESTING: [u8; 12] = [0, 1, 2, 4, 6, 8, 0x20, 0x31, 58, 112, 135, 255];
    for _ in 0..1 + rng.below(4) {
        if f.is_empty() {
            break;
        }
        let i = rng.below(f.len());
        match rng.below(8) {
            0 => f[i] ^= 1 << rng.below(8),
            1 => f[i] = INTERESTING[rng.below(INTERESTING.len())],
            2 => f[i] = rng.next_u64() as u8,
            3 => f.truncate(MIN_FRAME + rng.below(f.len().saturating_sub(MIN_FRAME) + 1)),
            4 => f.extend((0..rng.below(40)).map(|_| rng.next_u64() as u8)),
            // Point an ARP target, or an NS target, at a VIP.
            5 if f.len() >= 42 => {
                f[38..42].copy_from_slice(&[V4_FRESH, V4_STALE, V4_NOT_OWNED][rng.below(3)])
            }
            6 if f.len() >= 78 => {
                f[62..78].copy_from_slice(&[V6_FRESH, V6_STALE, V6_NOT_OWNED][rng.below(3)])
            }
            _ if f.len() >= 14 => {
                let types: [[u8; 2]; 5] = [[8, 6], [8, 0], [0x86, 0xdd], [0x81, 0], [0x88, 0xcc]];
                f[12..14].copy_from_slice(&types[rng.below(types.len())]);
            }
            _ => {}
        }
    }
    f
}

fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `count` frames drawn from `seed` through the loaded program and checks each, then the
/// counters. Panics only when the program cannot be loaded or run at all.
pub fn fuzz_xdp(seed: u64, count: u64) -> Report {
    let mut dp = Dataplane::load().expect("loading the embedded XDP object");
    let lo = lo();
    let v4 = |addr| VipKey { addr, ifindex: lo };
    let v6 = |addr| Vip6Key { addr, ifindex: lo };
    dp.set_vip(v4(V4_FRESH), vip_state(true, SECOND)).unwrap();
    dp.set_vip(v4(V4_STALE), vip_state(true, 1)).unwrap();
    dp.set_vip(v4(V4_NOT_OWNED), vip_state(false, SECOND))
        .unwrap();
    dp.set_vip(v6(V6_FRESH), vip_state(true, SECOND)).unwrap();
    dp.set_vip(v6(V6_STALE), vip_state(true, 1)).unwrap();
    dp.set_vip(v6(V6_NOT_OWNED), vip_state(false, SECOND))
        .unwrap();
    // The vectors' virtual routers (VRID 51 over IPv4, 52 over IPv6) with the daemon's limits
    // at 1 s adverts; XDP's own checks and limits decide between pass and drop.
    let limits = AdvertLimits::for_interval(std::time::Duration::from_secs(1));
    for (vrid, family, version) in [(51, FAMILY_IPV4, 2), (52, FAMILY_IPV6, 3)] {
        let key = VridKey {
            ifindex: lo,
            vrid,
            family,
            reserved: [0; 2],
        };
        let config = VridConfig {
            version,
            reserved: [0; 3],
            flags: 0,
            src_interval_ns: limits.src_interval_ns,
            src_tolerance_ns: limits.src_tolerance_ns,
            shared_interval_ns: limits.shared_interval_ns,
            shared_tolerance_ns: limits.shared_tolerance_ns,
            master: [0; 16],
        };
        dp.set_vrid(key, config, &[]).unwrap();
    }
    let corpus = corpus();
    let mut rng = Rng::new(seed);
    let mut r = Report::default();
    let started = Instant::now();
    for n in 0..count {
        if n % 4096 == 0 {
            dp.beat().unwrap();
        }
        let frame = draw(&mut rng, &corpus);
        let (want, reply) = oracle(&frame);
        let (action, out) = dp.test_run(&frame).expect("BPF_PROG_TEST_RUN");
        match action {
            XDP_PASS => r.passed += 1,
            XDP_DROP => r.dropped += 1,
            XDP_TX => r.replied += 1,
            _ => {}
        }
        let ok = match want {
            Want::Reply => action == XDP_TX && reply.as_deref() == Some(&out[..]),
            Want::Drop => action == XDP_DROP,
            Want::Pass => action == XDP_PASS && out == frame,
            Want::PassOrDrop => action == XDP_DROP || (action == XDP_PASS && out == frame),
        };
        if !ok {
            r.failure_count += 1;
            if r.failures.len() < 20 {
                r.failures.push(format!(
                    "frame {n}: wanted {want:?}, got action {action}\n  in  {}\n  out {}",
                    hex(&frame),
                    hex(&out)
                ));
            }
        }
        r.frames += 1;
    }
    r.per_second = r.frames as f64 / started.elapsed().as_secs_f64();

    // The counters, by action: every frame counted once, where its action says.
    let g = dp.global_counters().unwrap();
    let vips4 = [V4_FRESH, V4_STALE, V4_NOT_OWNED].map(|a| dp.vip_counters(&v4(a)).unwrap());
    let vips6 = [V6_FRESH, V6_STALE, V6_NOT_OWNED].map(|a| dp.vip_counters(&v6(a)).unwrap());
    let replies: u64 = vips4.iter().map(|c| c.replies).sum();
    let vip_drops: u64 = vips4
        .iter()
        .chain(&vips6)
        .map(|c| c.dropped_not_owned + c.dropped_stale)
        .sum();
    let mut vrrp_drops =
        g[global::VRRP_MALFORMED as usize] + g[global::VRRP_UNKNOWN_VRID_DROPPED as usize];
    for (vrid, family) in [(51, FAMILY_IPV4), (52, FAMILY_IPV6)] {
        let c = dp
            .vrid_counters(&VridKey {
                ifindex: lo,
                vrid,
                family,
                reserved: [0; 2],
            })
            .unwrap();
        vrrp_drops += c.bad_ttl
            + c.bad_version
            + c.bad_type
            + c.truncated
            + c.not_peer
            + c.rate_limited
            + c.delivered_ringbuf;
    }
    let mut check = |what: &str, counted: u64, seen: u64| {
        if counted != seen {
            r.failure_count += 1;
            r.failures.push(format!(
                "{what}: the counters say {counted}, the runs {seen}"
            ));
        }
    };
    check("passed", g[global::PASSED as usize], r.passed);
    check("answered", replies, r.replied);
    check("dropped", vip_drops + vrrp_drops, r.dropped);
    r
}
