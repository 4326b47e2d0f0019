//! Whole Ethernet frames, as the daemon sends and receives them on an AF_PACKET socket or sees
//! them in the XDP program: a VRRP advert, a (gratuitous) ARP, an unsolicited neighbour
//! advertisement. Each parses every layer with the validation of that layer's `Repr`, and emits
//! byte for byte what keepalived 2.2.7 sends for the same fields.
//!
//! Emitted frames are not padded to Ethernet's 60-byte minimum: the kernel or NIC pads on
//! transmit. Parsing ignores padding (the IP length, or ARP's fixed size, says where the packet
//! ends).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::arp::{self, Repr as ArpRepr};
use super::ethernet::{
    self, Address as EthernetAddress, EtherType, Frame as EthernetFrame, Repr as EthernetRepr,
};
use super::icmpv6::{self, NeighborAdvertRepr};
use super::ip::{IpProtocol, IpRepr};
use super::ipv4::{self, Repr as Ipv4Repr};
use super::ipv6::{self, Repr as Ipv6Repr};
use super::vrrp::{self, ChecksumMode, Repr as VrrpRepr};
use super::{Error, Result};

/// The IPv6 all-nodes group, destination of unsolicited neighbour advertisements.
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The Ethernet header of `frame` and its payload.
fn ethernet(frame: &[u8]) -> Result<(EthernetRepr, &[u8])> {
    let frame = EthernetFrame::new_checked(frame)?;
    let repr = EthernetRepr::parse(&frame)?;
    if repr.ethertype == EtherType::Vlan {
        return Err(Error::Unsupported("802.1Q VLAN tag"));
    }
    Ok((
        repr,
        frame
            .into_inner()
            .get(ethernet::HEADER_LEN..)
            .unwrap_or(&[]),
    ))
}

/// The IP header of an Ethernet payload carrying `protocol`, and the IP payload (padding cut).
fn ip(ethertype: EtherType, payload: &[u8], protocol: IpProtocol) -> Result<(IpRepr, &[u8])> {
    let (ip, payload) = match ethertype {
        EtherType::Ipv4 => {
            let packet = ipv4::Packet::new_checked(payload)?;
            let repr = Ipv4Repr::parse(&packet)?;
            if repr.more_frags || repr.frag_offset != 0 {
                return Err(Error::Unsupported("IPv4 fragment"));
            }
            let start = usize::from(packet.header_len());
            (IpRepr::V4(repr), &payload[start..start + repr.payload_len])
        }
        EtherType::Ipv6 => {
            let packet = ipv6::Packet::new_checked(payload)?;
            let repr = Ipv6Repr::parse(&packet)?;
            let start = ipv6::HEADER_LEN;
            (IpRepr::V6(repr), &payload[start..start + repr.payload_len])
        }
        _ => return Err(Error::Unsupported("EtherType other than IPv4 or IPv6")),
    };
    if ip.protocol() != protocol {
        return Err(Error::Unsupported(
            "IP protocol other than the one expected",
        ));
    }
    Ok((ip, payload))
}

/// Parses an advert that starts at the IP header — what a raw IPv4 socket (`IPPROTO_VRRP`)
/// receives, or an IPv6 packet copied from its header on: the version nibble picks IPv4 or IPv6,
/// then the same checks as [`VrrpFrame::parse`]. (A raw IPv6 socket strips the header: parse its
/// payload with [`VrrpRepr::parse`] and the addresses from the ancillary data instead.)
pub fn parse_ip_advert(packet: &[u8], mode: ChecksumMode) -> Result<(IpRepr, VrrpRepr)> {
    let ethertype = match packet.first().map(|b| b >> 4) {
        None => return Err(Error::Truncated),
        Some(4) => EtherType::Ipv4,
        Some(6) => EtherType::Ipv6,
        Some(v) => return Err(Error::BadVersion(v)),
    };
    let (ip, payload) = ip(ethertype, packet, IpProtocol::Vrrp)?;
    let vrrp = VrrpRepr::parse(
        &vrrp::Packet::new_checked(payload)?,
        ip.src_addr(),
        ip.dst_addr(),
        mode,
    )?;
    Ok((ip, vrrp))
}

/// `buffer`, cut to `len`, or `Truncated`.
fn exactly(buffer: &mut [u8], len: usize) -> Result<&mut [u8]> {
    buffer.get_mut(..len).ok_or(Error::Truncated)
}

/// A VRRP advertisement frame: Ethernet, IPv4 or IPv6, VRRP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VrrpFrame {
    /// Ethernet header. The source is the interface MAC (keepalived without `use_vmac`) or the
    /// virtual MAC ([`vrrp::virtual_mac_v4`] / [`vrrp::virtual_mac_v6`]).
    pub ethernet: EthernetRepr,
    /// IP header: its source identifies the sender; its TTL / hop limit must be 255 for the
    /// advert to count (RFC 9568 §7.1) — checking that is the caller's job.
    pub ip: IpRepr,
    /// The advert.
    pub vrrp: VrrpRepr,
}

impl VrrpFrame {
    /// Parses a frame: Ethernet, then IPv4 (header checksum verified, not a fragment, protocol
    /// 112) or IPv6 (next header 112, no extension headers), then VRRP with the checksum `mode`
    /// for v3 over IPv4. Anything else — ARP, other protocols, VLAN tags — is `Unsupported`.
    pub fn parse(frame: &[u8], mode: ChecksumMode) -> Result<VrrpFrame> {
        let (ethernet, payload) = ethernet(frame)?;
        let (ip, payload) = ip(ethernet.ethertype, payload, IpProtocol::Vrrp)?;
        let packet = vrrp::Packet::new_checked(payload)?;
        let vrrp = VrrpRepr::parse(&packet, ip.src_addr(), ip.dst_addr(), mode)?;
        Ok(VrrpFrame { ethernet, ip, vrrp })
    }

    /// An IPv4 advert as keepalived sends it: to 01:00:5e:00:00:12 / 224.0.0.18, TOS 0xc0,
    /// TTL 255, DF clear, identification `ident` (keepalived counts up from 1 per instance).
    pub fn new_v4(
        src_mac: EthernetAddress,
        src_ip: Ipv4Addr,
        ident: u16,
        vrrp: VrrpRepr,
    ) -> VrrpFrame {
        VrrpFrame {
            ethernet: EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress::ipv4_multicast(vrrp::MULTICAST_V4),
                ethertype: EtherType::Ipv4,
            },
            ip: IpRepr::V4(Ipv4Repr {
                src_addr: src_ip,
                dst_addr: vrrp::MULTICAST_V4,
                protocol: IpProtocol::Vrrp,
                payload_len: vrrp.buffer_len(),
                ttl: vrrp::HOP_LIMIT,
                tos: vrrp::TOS,
                ident,
                dont_frag: false,
                more_frags: false,
                frag_offset: 0,
            }),
            vrrp,
        }
    }

    /// An IPv6 advert as keepalived sends it: to 33:33:00:00:00:12 / ff02::12, traffic class
    /// 0xc0, hop limit 255. `src_ip` should be the interface's link-local address (RFC 9568
    /// §5.1.2.1). keepalived's kernel socket picks a flow label; this one is 0 unless you set
    /// it.
    pub fn new_v6(src_mac: EthernetAddress, src_ip: Ipv6Addr, vrrp: VrrpRepr) -> VrrpFrame {
        VrrpFrame {
            ethernet: EthernetRepr {
                src_addr: src_mac,
                dst_addr: EthernetAddress::ipv6_multicast(vrrp::MULTICAST_V6),
                ethertype: EtherType::Ipv6,
            },
            ip: IpRepr::V6(Ipv6Repr {
                src_addr: src_ip,
                dst_addr: vrrp::MULTICAST_V6,
                next_header: IpProtocol::Vrrp,
                payload_len: vrrp.buffer_len(),
                hop_limit: vrrp::HOP_LIMIT,
                traffic_class: vrrp::TOS,
                flow_label: 0,
            }),
            vrrp,
        }
    }

    /// Source IP address (the sender's primary or link-local address).
    pub fn src_addr(&self) -> IpAddr {
        self.ip.src_addr()
    }

    /// Length of the frame `emit` writes.
    pub fn buffer_len(&self) -> usize {
        ethernet::HEADER_LEN + self.ip.header_len() + self.vrrp.buffer_len()
    }

    /// Writes the frame into the first `buffer_len()` bytes of `buffer`. The EtherType, IP
    /// protocol and IP payload length come from what is carried, not from the reprs' fields, so
    /// they cannot disagree.
    pub fn emit(&self, buffer: &mut [u8], mode: ChecksumMode) -> Result<()> {
        let buffer = exactly(buffer, self.buffer_len())?;
        let payload_len = self.vrrp.buffer_len();
        let (ip, ethertype) = match self.ip {
            IpRepr::V4(r) => (
                IpRepr::V4(Ipv4Repr {
                    payload_len,
                    protocol: IpProtocol::Vrrp,
                    ..r
                }),
                EtherType::Ipv4,
            ),
            IpRepr::V6(r) => (
                IpRepr::V6(Ipv6Repr {
                    payload_len,
                    next_header: IpProtocol::Vrrp,
                    ..r
                }),
                EtherType::Ipv6,
            ),
        };
        // Check the advert first so a failure leaves the buffer untouched.
        self.vrrp.check(ip.src_addr(), ip.dst_addr())?;
        let ethernet = EthernetRepr {
            ethertype,
            ..self.ethernet
        };
        let (eth_header, rest) = buffer.split_at_mut(ethernet::HEADER_LEN);
        ethernet.emit(&mut EthernetFrame::new_unchecked(eth_header))?;
        let (ip_header, message) = rest.split_at_mut(ip.header_len());
        ip.emit(ip_header)?;
        let mut packet = vrrp::Packet::new_unchecked(message);
        self.vrrp
            .emit(&mut packet, ip.src_addr(), ip.dst_addr(), mode)
    }

    /// The frame as a new vector.
    pub fn to_bytes(&self, mode: ChecksumMode) -> Result<Vec<u8>> {
        let mut bytes = vec![0; self.buffer_len()];
        self.emit(&mut bytes, mode)?;
        Ok(bytes)
    }
}

/// An ARP frame: Ethernet and an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet header.
    pub ethernet: EthernetRepr,
    /// ARP packet.
    pub arp: ArpRepr,
}

impl ArpFrame {
    /// Parses a frame with EtherType ARP; trailer padding is ignored.
    pub fn parse(frame: &[u8]) -> Result<ArpFrame> {
        let (ethernet, payload) = ethernet(frame)?;
        if ethernet.ethertype != EtherType::Arp {
            return Err(Error::Unsupported("EtherType other than ARP"));
        }
        let arp = ArpRepr::parse(&arp::Packet::new_checked(payload)?)?;
        Ok(ArpFrame { ethernet, arp })
    }

    /// A gratuitous ARP for `ip` at `mac`, broadcast, as keepalived sends (five at a time, by
    /// default) when it becomes master.
    pub const fn gratuitous(mac: EthernetAddress, ip: Ipv4Addr) -> ArpFrame {
        ArpFrame {
            ethernet: EthernetRepr {
                src_addr: mac,
                dst_addr: EthernetAddress::BROADCAST,
                ethertype: EtherType::Arp,
            },
            arp: ArpRepr::gratuitous(mac, ip),
        }
    }

    /// The unicast reply from `mac` to this request: what the XDP program turns a request for an
    /// owned VIP into.
    pub const fn answer(&self, mac: EthernetAddress) -> ArpFrame {
        ArpFrame {
            ethernet: EthernetRepr {
                src_addr: mac,
                dst_addr: self.arp.sender_mac,
                ethertype: EtherType::Arp,
            },
            arp: self.arp.answer(mac),
        }
    }

    /// 42 bytes.
    pub const fn buffer_len(&self) -> usize {
        ethernet::HEADER_LEN + arp::ETHERNET_IPV4_LEN
    }

    /// Writes the frame into the first `buffer_len()` bytes of `buffer`; the EtherType is ARP
    /// whatever `ethernet.ethertype` says.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let buffer = exactly(buffer, self.buffer_len())?;
        let (eth_header, payload) = buffer.split_at_mut(ethernet::HEADER_LEN);
        let ethernet = EthernetRepr {
            ethertype: EtherType::Arp,
            ..self.ethernet
        };
        ethernet.emit(&mut EthernetFrame::new_unchecked(eth_header))?;
        self.arp.emit(&mut arp::Packet::new_unchecked(payload))
    }

    /// The frame as a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = vec![0; self.buffer_len()];
        self.emit(&mut bytes)?;
        Ok(bytes)
    }
}

/// A neighbour advertisement frame: Ethernet, IPv6, ICMPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertFrame {
    /// Ethernet header.
    pub ethernet: EthernetRepr,
    /// IPv6 header; RFC 4861 §7.1.2 requires hop limit 255 (the caller's check).
    pub ip: Ipv6Repr,
    /// The advertisement.
    pub na: NeighborAdvertRepr,
}

impl NeighborAdvertFrame {
    /// Parses a frame carrying an ICMPv6 neighbour advertisement directly after the IPv6 header.
    /// Other ICMPv6 messages are `Unsupported`.
    pub fn parse(frame: &[u8]) -> Result<NeighborAdvertFrame> {
        let (ethernet, payload) = ethernet(frame)?;
        if ethernet.ethertype != EtherType::Ipv6 {
            return Err(Error::Unsupported("EtherType other than IPv6"));
        }
        let (ip, payload) = ip(ethernet.ethertype, payload, IpProtocol::Icmpv6)?;
        let IpRepr::V6(ip) = ip else {
            return Err(Error::Unsupported("EtherType other than IPv6"));
        };
        let packet = icmpv6::Packet::new_checked(payload)?;
        let na = NeighborAdvertRepr::parse(&packet, ip.src_addr, ip.dst_addr)?;
        Ok(NeighborAdvertFrame { ethernet, ip, na })
    }

    /// An unsolicited advertisement of `target` at `mac`, as keepalived sends for an IPv6 VIP:
    /// from `target` itself to ff02::1 (33:33:00:00:00:01), hop limit 255, traffic class 0,
    /// Override set, with the target link-layer address option.
    pub fn unsolicited(mac: EthernetAddress, target: Ipv6Addr) -> NeighborAdvertFrame {
        let na = NeighborAdvertRepr::unsolicited(target, mac);
        NeighborAdvertFrame {
            ethernet: EthernetRepr {
                src_addr: mac,
                dst_addr: EthernetAddress::ipv6_multicast(ALL_NODES_V6),
                ethertype: EtherType::Ipv6,
            },
            ip: Ipv6Repr {
                src_addr: target,
                dst_addr: ALL_NODES_V6,
                next_header: IpProtocol::Icmpv6,
                payload_len: na.buffer_len(),
                hop_limit: 255,
                traffic_class: 0,
                flow_label: 0,
            },
            na,
        }
    }

    /// Length of the frame `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        ethernet::HEADER_LEN + ipv6::HEADER_LEN + self.na.buffer_len()
    }

    /// Writes the frame into the first `buffer_len()` bytes of `buffer`; EtherType, next header
    /// and payload length come from what is carried.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let buffer = exactly(buffer, self.buffer_len())?;
        let ip = Ipv6Repr {
            payload_len: self.na.buffer_len(),
            next_header: IpProtocol::Icmpv6,
            ..self.ip
        };
        let ethernet = EthernetRepr {
            ethertype: EtherType::Ipv6,
            ..self.ethernet
        };
        let (eth_header, rest) = buffer.split_at_mut(ethernet::HEADER_LEN);
        ethernet.emit(&mut EthernetFrame::new_unchecked(eth_header))?;
        let (ip_header, message) = rest.split_at_mut(ipv6::HEADER_LEN);
        ip.emit(&mut ipv6::Packet::new_unchecked(ip_header))?;
        self.na.emit(
            &mut icmpv6::Packet::new_unchecked(message),
            ip.src_addr,
            ip.dst_addr,
        )
    }

    /// The frame as a new vector.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut bytes = vec![0; self.buffer_len()];
        self.emit(&mut bytes)?;
        Ok(bytes)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::vrrp::{Addresses, Auth};

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // keepalived-v2-pass.pcap frame 0, 10.99.0.12's first advert.
    const V2_ADVERT: &str = "01005e0000129ab05626b568080045c0002800010000ff70d0230a63000ce00000122133640101010ca10a6300643131313100000000";
    // keepalived-v3.pcap frame 1 (IPv4, VRID 51) and frame 12 (IPv6, VRID 52).
    const V3_V4_ADVERT: &str = "01005e0000129a0b39e512e7080045c0002400010000ff70d0280a63000be000001231336502003269080a6300640a630065";
    const V3_V6_ADVERT: &str = "3333000000129a0b39e512e786dd6c00c787001870fffe80000000000000980b39fffee512e7ff0200000000000000000000000000123134650100328908fd000099000000000000000000000100";
    // keepalived-v3.pcap frame 2 (gratuitous ARP) and 13 (unsolicited NA).
    const GARP: &str =
        "ffffffffffff9a0b39e512e7080600010800060400019a0b39e512e70a630064ffffffffffff0a630064";
    const NA: &str = "3333000000019a0b39e512e786dd6000000000203afffd000099000000000000000000000100ff0200000000000000000000000000018800729420000000fd00009900000000000000000000010002019a0b39e512e7";

    const N1_MAC: EthernetAddress = EthernetAddress([0x9a, 0x0b, 0x39, 0xe5, 0x12, 0xe7]);
    const N2_MAC: EthernetAddress = EthernetAddress([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68]);
    const VIP1: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);
    const VIP2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 101);

    #[test]
    fn build_v2_advert_like_keepalived() {
        let vrrp = VrrpRepr::v2(51, 100, 1, Auth::simple(b"1111"), vec![VIP1]);
        let frame = VrrpFrame::new_v4(N2_MAC, Ipv4Addr::new(10, 99, 0, 12), 1, vrrp);
        let mut bytes = vec![0xa5; frame.buffer_len()];
        frame.emit(&mut bytes, ChecksumMode::default()).unwrap();
        assert_eq!(bytes, unhex(V2_ADVERT));
        assert_eq!(
            VrrpFrame::parse(&bytes, ChecksumMode::default()).unwrap(),
            frame
        );
    }

    #[test]
    fn build_v3_adverts_like_keepalived() {
        let vrrp = VrrpRepr::v3(51, 101, 50, Addresses::V4(vec![VIP1, VIP2]));
        let frame = VrrpFrame::new_v4(N1_MAC, Ipv4Addr::new(10, 99, 0, 11), 1, vrrp);
        assert_eq!(
            frame.to_bytes(ChecksumMode::PseudoHeader).unwrap(),
            unhex(V3_V4_ADVERT)
        );

        let vrrp = VrrpRepr::v3(
            52,
            101,
            50,
            Addresses::V6(vec!["fd00:99::100".parse().unwrap()]),
        );
        let mut frame =
            VrrpFrame::new_v6(N1_MAC, "fe80::980b:39ff:fee5:12e7".parse().unwrap(), vrrp);
        if let IpRepr::V6(ip) = &mut frame.ip {
            ip.flow_label = 0x0c787; // the kernel's choice in the capture
        }
        assert_eq!(
            frame.to_bytes(ChecksumMode::PseudoHeader).unwrap(),
            unhex(V3_V6_ADVERT)
        );
    }

    #[test]
    fn build_garp_and_na_like_keepalived() {
        assert_eq!(
            ArpFrame::gratuitous(N1_MAC, VIP1).to_bytes().unwrap(),
            unhex(GARP)
        );
        let na = NeighborAdvertFrame::unsolicited(N1_MAC, "fd00:99::100".parse().unwrap());
        assert_eq!(na.to_bytes().unwrap(), unhex(NA));
        assert_eq!(NeighborAdvertFrame::parse(&unhex(NA)).unwrap(), na);
    }

    #[test]
    fn arp_answer() {
        let client = EthernetAddress([0x02, 0, 0, 0, 0, 0x42]);
        let request = ArpFrame {
            ethernet: EthernetRepr {
                src_addr: client,
                dst_addr: EthernetAddress::BROADCAST,
                ethertype: EtherType::Arp,
            },
            arp: ArpRepr::request(client, Ipv4Addr::new(10, 99, 0, 50), VIP1),
        };
        let reply = request.answer(N1_MAC);
        assert_eq!(reply.ethernet.dst_addr, client);
        assert_eq!(reply.ethernet.src_addr, N1_MAC);
        assert_eq!(reply.arp.sender_ip, VIP1);
        assert_eq!(reply.arp.target_ip, Ipv4Addr::new(10, 99, 0, 50));
        assert_eq!(ArpFrame::parse(&reply.to_bytes().unwrap()).unwrap(), reply);
    }

    #[test]
    fn parse_from_the_ip_header() {
        for hex in [V2_ADVERT, V3_V4_ADVERT, V3_V6_ADVERT] {
            let bytes = unhex(hex);
            let frame = VrrpFrame::parse(&bytes, ChecksumMode::default()).unwrap();
            let parsed = parse_ip_advert(&bytes[14..], ChecksumMode::default()).unwrap();
            assert_eq!(parsed, (frame.ip, frame.vrrp));
            for len in 0..bytes.len() - 14 {
                assert_eq!(
                    parse_ip_advert(&bytes[14..14 + len], ChecksumMode::default()),
                    Err(Error::Truncated)
                );
            }
        }
        assert_eq!(
            parse_ip_advert(&unhex(GARP)[14..], ChecksumMode::default()),
            Err(Error::BadVersion(0))
        );
    }

    #[test]
    fn padded_frames_parse() {
        for hex in [V2_ADVERT, V3_V4_ADVERT, GARP] {
            let mut bytes = unhex(hex);
            let original = bytes.len();
            bytes.resize(60, 0);
            if hex == GARP {
                assert_eq!(
                    ArpFrame::parse(&bytes).unwrap().to_bytes().unwrap(),
                    bytes[..original]
                );
            } else {
                let frame = VrrpFrame::parse(&bytes, ChecksumMode::default()).unwrap();
                assert_eq!(
                    frame.to_bytes(ChecksumMode::default()).unwrap(),
                    bytes[..original]
                );
            }
        }
    }

    #[test]
    fn wrong_kinds_are_unsupported() {
        assert!(matches!(
            VrrpFrame::parse(&unhex(GARP), ChecksumMode::default()),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            VrrpFrame::parse(&unhex(NA), ChecksumMode::default()),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            ArpFrame::parse(&unhex(V2_ADVERT)),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            NeighborAdvertFrame::parse(&unhex(V3_V6_ADVERT)),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            NeighborAdvertFrame::parse(&unhex(V2_ADVERT)),
            Err(Error::Unsupported(_))
        ));
        let mut tagged = unhex(V2_ADVERT);
        tagged[12..14].copy_from_slice(&[0x81, 0x00]);
        assert!(matches!(
            VrrpFrame::parse(&tagged, ChecksumMode::default()),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn fragments_are_unsupported() {
        let mut bytes = unhex(V2_ADVERT);
        bytes[14 + 6] = 0x20; // More Fragments
        let mut ip = ipv4::Packet::new_unchecked(&mut bytes[14..]);
        ip.fill_checksum();
        assert!(matches!(
            VrrpFrame::parse(&bytes, ChecksumMode::default()),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn emit_needs_room_and_writes_nothing_on_error() {
        let vrrp = VrrpRepr::v2(51, 100, 1, Auth::simple(b"1111"), vec![VIP1]);
        let frame = VrrpFrame::new_v4(N2_MAC, Ipv4Addr::new(10, 99, 0, 12), 1, vrrp);
        let mut short = vec![0xa5; frame.buffer_len() - 1];
        assert_eq!(
            frame.emit(&mut short, ChecksumMode::default()),
            Err(Error::Truncated)
        );
        assert!(short.iter().all(|&b| b == 0xa5));

        // A v2 advert cannot travel over IPv6.
        let bad = VrrpFrame::new_v6(N2_MAC, "fe80::1".parse().unwrap(), frame.vrrp.clone());
        let mut bytes = vec![0xa5; bad.buffer_len()];
        assert!(bad.emit(&mut bytes, ChecksumMode::default()).is_err());
        assert!(bytes.iter().all(|&b| b == 0xa5));
    }
}
