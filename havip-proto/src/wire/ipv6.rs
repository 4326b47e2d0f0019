//! The fixed IPv6 header (RFC 8200), for VRRPv3 over IPv6 (hop limit 255, link-local source, to
//! ff02::12) and for unsolicited neighbour advertisements.
//!
//! Extension headers are not walked: the next header is reported as found, and a VRRP or ICMPv6
//! parser above refuses what is not directly its own protocol. keepalived sends neither adverts
//! nor NAs with extension headers.

use std::net::Ipv6Addr;

use super::bytes;
use super::field::Field;
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use super::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking it holds the header and the payload length it declares.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than the fixed header plus the payload length.
    /// Longer is fine (Ethernet padding). After `Ok`, no getter panics.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < HEADER_LEN + usize::from(self.payload_len()) {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        bytes::read_u32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    /// Version field (6).
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class (DSCP and ECN); keepalived sends VRRP with 0xc0.
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & FLOW_LABEL_MASK
    }

    /// Payload length (everything after the fixed header).
    pub fn payload_len(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Next header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        bytes::ipv6(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        bytes::ipv6(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The payload, without Ethernet padding after it.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_ver_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let raw = (u32::from(version) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & FLOW_LABEL_MASK);
        bytes::write_u32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], raw)
    }

    /// Sets version, traffic class and flow label (its upper 12 bits are dropped), which share the
    /// first word.
    pub fn set_version_class_label(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        self.set_ver_tc_flow(version & 0x0f, traffic_class, flow_label)
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::LENGTH], value)
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into()
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets())
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets())
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// A validated fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Next header.
    pub next_header: IpProtocol,
    /// Payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits). The kernel picks one per socket for keepalived's adverts.
    pub flow_label: u32,
}

impl Repr {
    /// Parses a header: lengths and version 6.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::BadVersion(packet.version()));
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// 40 bytes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 40 bytes of the buffer; the payload is left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let payload_len = u16::try_from(self.payload_len)
            .map_err(|_| Error::Malformed("IPv6 payload longer than 65535 bytes (jumbogram)"))?;
        if self.flow_label > FLOW_LABEL_MASK {
            return Err(Error::Malformed("IPv6 flow label wider than 20 bits"));
        }
        packet.set_ver_tc_flow(6, self.traffic_class, self.flow_label);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The IPv6 header of a VRRPv3 advert from keepalived-v3.pcap (frame 12): traffic class 0xc0,
    // flow label 0x0c787, payload 24, next header 112, hop limit 255, fe80::...:12e7 -> ff02::12.
    static PACKET_BYTES: [u8; 42] = [
        0x6c, 0x00, 0xc7, 0x87, 0x00, 0x18, 0x70, 0xff, //
        0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x0b, 0x39, 0xff, 0xfe, 0xe5, 0x12,
        0xe7, //
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x12, //
        0x31, 0x34, // the first two of the 24 payload bytes (view tests only)
    ];

    fn packet_repr() -> Repr {
        Repr {
            src_addr: "fe80::980b:39ff:fee5:12e7".parse().unwrap(),
            dst_addr: "ff02::12".parse().unwrap(),
            next_header: IpProtocol::Vrrp,
            payload_len: 24,
            hop_limit: 255,
            traffic_class: 0xc0,
            flow_label: 0x0c787,
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_unchecked(&PACKET_BYTES[..]);
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xc0);
        assert_eq!(packet.flow_label(), 0x0c787);
        assert_eq!(packet.payload_len(), 24);
        assert_eq!(packet.next_header(), IpProtocol::Vrrp);
        assert_eq!(packet.hop_limit(), 255);
        assert_eq!(packet.src_addr(), packet_repr().src_addr);
        assert_eq!(packet.dst_addr(), packet_repr().dst_addr);
        // Only two of the 24 payload bytes are here.
        assert_eq!(packet.check_len(), Err(Error::Truncated));
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 42];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_class_label(6, 0xc0, 0x0c787);
        packet.set_payload_len(24);
        packet.set_next_header(IpProtocol::Vrrp);
        packet.set_hop_limit(255);
        packet.set_src_addr(packet_repr().src_addr);
        packet.set_dst_addr(packet_repr().dst_addr);
        bytes[40..].copy_from_slice(&[0x31, 0x34]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    fn whole_packet() -> Vec<u8> {
        let mut bytes = PACKET_BYTES.to_vec();
        bytes.resize(HEADER_LEN + 24, 0);
        bytes
    }

    #[test]
    fn parse() {
        let bytes = whole_packet();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), packet_repr());
        assert_eq!(packet.payload().len(), 24);
    }

    #[test]
    fn emit() {
        let mut bytes = [0xa5; 40];
        packet_repr()
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes[..], PACKET_BYTES[..40]);
    }

    #[test]
    fn padding_is_ignored() {
        let mut bytes = whole_packet();
        bytes.extend_from_slice(&[0xee; 8]);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload().len(), 24);
        assert_eq!(Repr::parse(&packet).unwrap(), packet_repr());
    }

    #[test]
    fn truncated_and_bad_version() {
        let bytes = whole_packet();
        for len in 0..bytes.len() {
            assert_eq!(
                Packet::new_checked(&bytes[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        let mut bytes = whole_packet();
        bytes[0] = 0x4c;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap_err(),
            Error::BadVersion(4)
        );
    }

    #[test]
    fn emit_rejects_what_does_not_fit() {
        let mut bytes = [0u8; 40];
        let jumbo = Repr {
            payload_len: 65_536,
            ..packet_repr()
        };
        assert!(matches!(
            jumbo.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed(_))
        ));
        let wide = Repr {
            flow_label: 0x10_0000,
            ..packet_repr()
        };
        assert!(matches!(
            wide.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed(_))
        ));
        let mut short = [0u8; 39];
        assert_eq!(
            packet_repr().emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
    }
}
