//! Tests against real traffic: the keepalived 2.2.7 captures in `havip-proto/tests/data/` (made
//! with the configs `havip/tests/config/vectors-*.conf`). Every frame must parse, and emitting what
//! was parsed must give the captured bytes back; counts per kind catch a frame silently skipped.

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::frame::{ArpFrame, NeighborAdvertFrame, VrrpFrame};
use super::icmpv6;
use super::ip::IpRepr;
use super::pcap;
use super::vrrp::{self, ChecksumMode, Version};
use super::Error;

static V2_PCAP: &[u8] = include_bytes!("../../tests/data/keepalived-v2-pass.pcap");
static V3_PCAP: &[u8] = include_bytes!("../../tests/data/keepalived-v3.pcap");

/// What a captured frame is, read from raw header bytes — deliberately not with the parsers
/// under test, so a parser that rejects a frame cannot also hide it from the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    VrrpV4,
    VrrpV6,
    Arp,
    NeighborAdvert,
    /// Router and neighbour solicitations the kernel sent on its own.
    OtherIcmpv6,
}

fn classify(frame: &[u8]) -> Kind {
    match (&frame[12..14], frame.get(23), frame.get(20), frame.get(54)) {
        ([0x08, 0x06], ..) => Kind::Arp,
        ([0x08, 0x00], Some(112), ..) => Kind::VrrpV4,
        ([0x86, 0xdd], _, Some(112), _) => Kind::VrrpV6,
        ([0x86, 0xdd], _, Some(58), Some(136)) => Kind::NeighborAdvert,
        ([0x86, 0xdd], _, Some(58), Some(_)) => Kind::OtherIcmpv6,
        _ => panic!("unexpected frame in a vector file: {frame:02x?}"),
    }
}

/// Every frame of a capture, checked not to have been cut by the capture's snap length.
fn frames(pcap: &'static [u8]) -> Vec<&'static [u8]> {
    let records = pcap::records(pcap).expect("vector file is a readable pcap");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r.data.len() as u32,
            r.orig_len,
            "frame {i} was cut by the capture"
        );
    }
    records.into_iter().map(|r| r.data).collect()
}

/// The length of the frame without Ethernet trailer padding: the IP total length (or ARP's fixed
/// 28 bytes) after the 14-byte Ethernet header. The captures were taken on a Linux bridge, which
/// sees frames before any NIC pads them, so none is padded today; a capture from a real wire
/// would pad short frames to 60 bytes, which the parsers must ignore and emit does not write.
fn unpadded_len(frame: &[u8], kind: Kind) -> usize {
    match kind {
        Kind::Arp => 14 + 28,
        Kind::VrrpV4 => 14 + usize::from(u16::from_be_bytes([frame[16], frame[17]])),
        _ => 14 + 40 + usize::from(u16::from_be_bytes([frame[18], frame[19]])),
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    vrrp_v2: usize,
    vrrp_v3_ipv4: usize,
    vrrp_v3_ipv6: usize,
    priority_0: usize,
    garp: usize,
    neighbor_advert: usize,
    other_icmpv6: usize,
}

/// Parses every frame of a capture, re-emits it, compares bytes, and counts kinds.
fn round_trip_all(pcap: &'static [u8]) -> Counts {
    let mut counts = Counts::default();
    for (i, frame) in frames(pcap).into_iter().enumerate() {
        let kind = classify(frame);
        let len = unpadded_len(frame, kind);
        assert_eq!(
            len,
            frame.len(),
            "frame {i}: no trailer padding expected in these captures"
        );
        let emitted = match kind {
            Kind::VrrpV4 | Kind::VrrpV6 => {
                let parsed = VrrpFrame::parse(frame, ChecksumMode::PseudoHeader)
                    .unwrap_or_else(|e| panic!("frame {i}: {e}"));
                assert_eq!(parsed.ip.hop_limit(), 255, "frame {i}");
                match (kind, &parsed.vrrp.version) {
                    (Kind::VrrpV4, Version::V2 { .. }) => counts.vrrp_v2 += 1,
                    (Kind::VrrpV4, Version::V3 { .. }) => counts.vrrp_v3_ipv4 += 1,
                    (Kind::VrrpV6, Version::V3 { .. }) => counts.vrrp_v3_ipv6 += 1,
                    _ => panic!("frame {i}: VRRPv2 over IPv6"),
                }
                if parsed.vrrp.priority == 0 {
                    counts.priority_0 += 1;
                }
                parsed.to_bytes(ChecksumMode::PseudoHeader).unwrap()
            }
            Kind::Arp => {
                let parsed = ArpFrame::parse(frame).unwrap_or_else(|e| panic!("frame {i}: {e}"));
                assert!(
                    parsed.arp.is_gratuitous(),
                    "frame {i}: only gratuitous ARPs were captured"
                );
                assert_eq!(
                    parsed,
                    ArpFrame::gratuitous(parsed.arp.sender_mac, parsed.arp.sender_ip)
                );
                counts.garp += 1;
                parsed.to_bytes().unwrap()
            }
            Kind::NeighborAdvert => {
                let parsed =
                    NeighborAdvertFrame::parse(frame).unwrap_or_else(|e| panic!("frame {i}: {e}"));
                assert_eq!(
                    parsed,
                    NeighborAdvertFrame::unsolicited(
                        parsed.ethernet.src_addr,
                        parsed.na.target_addr
                    )
                );
                counts.neighbor_advert += 1;
                parsed.to_bytes().unwrap()
            }
            Kind::OtherIcmpv6 => {
                // Not represented; their checksums must verify with the shared pseudo-header code.
                let src = super::bytes::ipv6(&frame[22..38]);
                let dst = super::bytes::ipv6(&frame[38..54]);
                let packet = icmpv6::Packet::new_checked(&frame[54..]).unwrap();
                assert!(packet.verify_checksum(src, dst), "frame {i}");
                assert!(matches!(
                    NeighborAdvertFrame::parse(frame),
                    Err(Error::Unsupported(_))
                ));
                counts.other_icmpv6 += 1;
                continue;
            }
        };
        assert_eq!(
            emitted,
            frame[..len],
            "frame {i} ({kind:?}) does not round-trip"
        );
    }
    counts
}

#[test]
fn v2_capture_round_trips() {
    assert_eq!(
        round_trip_all(V2_PCAP),
        Counts {
            vrrp_v2: 14,
            priority_0: 1,
            garp: 25,
            ..Counts::default()
        }
    );
}

#[test]
fn v3_capture_round_trips() {
    assert_eq!(
        round_trip_all(V3_PCAP),
        Counts {
            vrrp_v3_ipv4: 22,
            vrrp_v3_ipv6: 22,
            priority_0: 2,
            garp: 30,
            neighbor_advert: 20,
            other_icmpv6: 5,
            ..Counts::default()
        }
    );
}

fn adverts(pcap: &'static [u8]) -> Vec<(&'static [u8], VrrpFrame)> {
    frames(pcap)
        .into_iter()
        .filter(|f| matches!(classify(f), Kind::VrrpV4 | Kind::VrrpV6))
        .map(|f| (f, VrrpFrame::parse(f, ChecksumMode::PseudoHeader).unwrap()))
        .collect()
}

#[test]
fn v2_capture_contents() {
    let adverts = adverts(V2_PCAP);
    let n1 = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    for (_, frame) in &adverts {
        assert_eq!(frame.vrrp.vrid, 51);
        assert_eq!(frame.vrrp.auth().unwrap().password(), Some(&b"1111"[..]));
        assert_eq!(
            frame.vrrp.advert_interval(),
            core::time::Duration::from_secs(1)
        );
        assert_eq!(
            frame.vrrp.addresses.iter().collect::<Vec<_>>(),
            [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100))]
        );
        let IpRepr::V4(ip) = frame.ip else {
            panic!("v2 over IPv6")
        };
        assert_eq!(ip.tos, 0xc0, "keepalived marks adverts CS6");
        assert!(!ip.dont_frag);
        // keepalived sends without the virtual MAC unless use_vmac is set.
        assert_ne!(frame.ethernet.src_addr, vrrp::virtual_mac_v4(51));
    }
    // The graceful stop: node 10.99.0.11 (priority 101) sends priority 0 last.
    let (_, last) = adverts.last().unwrap();
    assert_eq!((last.vrrp.priority, last.ip.src_addr()), (0, n1));
}

#[test]
fn v3_capture_contents() {
    for (raw, frame) in adverts(V3_PCAP) {
        assert_eq!(
            frame.vrrp.advert_interval(),
            core::time::Duration::from_millis(500)
        );
        let expected_vrid = if matches!(frame.ip, IpRepr::V4(_)) {
            51
        } else {
            52
        };
        assert_eq!(frame.vrrp.vrid, expected_vrid);
        assert_eq!(
            frame.vrrp.addresses.len(),
            if expected_vrid == 51 { 2 } else { 1 }
        );
        // Which checksum keepalived used, by the diagnostic: the pseudo-header, for both families.
        let ip_start = 14;
        let payload = match frame.ip {
            IpRepr::V4(_) => &raw[ip_start + 20..],
            IpRepr::V6(ref r) => {
                assert_eq!(r.traffic_class, 0xc0);
                assert!(
                    r.src_addr.segments()[0] == 0xfe80,
                    "adverts come from link-local"
                );
                &raw[ip_start + 40..]
            }
        };
        let packet = vrrp::Packet::new_checked(payload).unwrap();
        assert_eq!(
            packet.checksum_mode(frame.ip.src_addr(), frame.ip.dst_addr()),
            Some(ChecksumMode::PseudoHeader)
        );
    }
}

#[test]
fn v2_checksums_are_message_only() {
    for (raw, frame) in adverts(V2_PCAP) {
        let packet = vrrp::Packet::new_checked(&raw[34..]).unwrap();
        assert_eq!(
            packet.checksum_mode(frame.ip.src_addr(), frame.ip.dst_addr()),
            Some(ChecksumMode::MessageOnly)
        );
    }
}

/// Every truncation of every captured frame is a `Truncated` error for the parser of its kind,
/// and no parser panics on it.
#[test]
fn every_truncation_is_an_error() {
    let mut checked = 0;
    for frame in frames(V2_PCAP).into_iter().chain(frames(V3_PCAP)) {
        let kind = classify(frame);
        for len in 0..frame.len() {
            let cut = &frame[..len];
            let vrrp = VrrpFrame::parse(cut, ChecksumMode::PseudoHeader);
            let vrrp_message_only = VrrpFrame::parse(cut, ChecksumMode::MessageOnly);
            let arp = ArpFrame::parse(cut);
            let na = NeighborAdvertFrame::parse(cut);
            let result = match kind {
                Kind::VrrpV4 | Kind::VrrpV6 => vrrp.map(drop),
                Kind::Arp => arp.map(drop),
                Kind::NeighborAdvert => na.map(drop),
                Kind::OtherIcmpv6 => continue,
            };
            assert_eq!(result, Err(Error::Truncated), "{kind:?} cut to {len} bytes");
            assert!(vrrp_message_only.is_err());
            checked += 1;
        }
    }
    assert!(checked > 5000, "only {checked} truncations checked");
}

/// Any single flipped bit in a checksummed part of an advert (IPv4 header, VRRP message, IPv6
/// addresses) is rejected: one's-complement sums always see a one-bit change.
#[test]
fn every_bit_flip_in_checksummed_bytes_is_rejected() {
    for (raw, frame) in adverts(V2_PCAP).into_iter().chain(adverts(V3_PCAP)) {
        let covered: Vec<usize> = match frame.ip {
            IpRepr::V4(_) => (14..raw.len()).collect(),
            // The IPv6 header has no checksum: only its addresses (pseudo-header), payload length
            // and next header, and the VRRP message are covered.
            IpRepr::V6(_) => [18, 19, 20].into_iter().chain(22..raw.len()).collect(),
        };
        for at in covered {
            for bit in 0..8 {
                let mut bytes = raw.to_vec();
                bytes[at] ^= 1 << bit;
                assert!(
                    VrrpFrame::parse(&bytes, ChecksumMode::PseudoHeader).is_err(),
                    "flip of bit {bit} at byte {at} accepted"
                );
            }
        }
    }
}

/// The captured v3 IPv4 adverts re-checksummed without the pseudo-header (keepalived's
/// `v3_checksum_as_v2`): rejected in PseudoHeader mode, accepted in MessageOnly mode; the
/// original adverts the other way round.
#[test]
fn v3_ipv4_checksum_modes_on_vectors() {
    let mut tested = 0;
    for (raw, frame) in adverts(V3_PCAP) {
        let IpRepr::V4(_) = frame.ip else { continue };
        let mut bytes = raw.to_vec();
        let (src, dst) = (frame.ip.src_addr(), frame.ip.dst_addr());
        vrrp::Packet::new_unchecked(&mut bytes[34..])
            .fill_checksum(src, dst, ChecksumMode::MessageOnly)
            .unwrap();
        assert_ne!(bytes, raw);
        assert_eq!(
            VrrpFrame::parse(&bytes, ChecksumMode::PseudoHeader),
            Err(Error::BadChecksum)
        );
        assert_eq!(
            VrrpFrame::parse(&bytes, ChecksumMode::MessageOnly).unwrap(),
            frame
        );
        assert_eq!(
            VrrpFrame::parse(raw, ChecksumMode::MessageOnly),
            Err(Error::BadChecksum)
        );
        assert_eq!(frame.to_bytes(ChecksumMode::MessageOnly).unwrap(), bytes);
        tested += 1;
    }
    assert_eq!(tested, 22);
}

fn all_frames() -> Vec<&'static [u8]> {
    frames(V2_PCAP).into_iter().chain(frames(V3_PCAP)).collect()
}

proptest! {
    /// Captured frames with random bytes overwritten, cut or extended: no parser panics.
    #[test]
    fn mutated_vectors_never_panic(
        index in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let frames = all_frames();
        let mut bytes = index.get(&frames).to_vec();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        bytes.extend_from_slice(&extra);
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::MessageOnly] {
            if let Ok(frame) = VrrpFrame::parse(&bytes, mode) {
                // Whatever parses must emit.
                prop_assert!(frame.to_bytes(mode).is_ok());
            }
        }
        if let Ok(frame) = ArpFrame::parse(&bytes) {
            prop_assert!(frame.to_bytes().is_ok());
        }
        if let Ok(frame) = NeighborAdvertFrame::parse(&bytes) {
            prop_assert!(frame.to_bytes().is_ok());
        }
    }

    /// Arbitrary bytes: no parser panics.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        let _ = VrrpFrame::parse(&bytes, ChecksumMode::PseudoHeader);
        let _ = ArpFrame::parse(&bytes);
        let _ = NeighborAdvertFrame::parse(&bytes);
    }
}
