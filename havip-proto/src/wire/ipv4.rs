//! The IPv4 header (RFC 791), as far as VRRP needs it: VRRP adverts travel in IPv4 with TTL 255
//! to 224.0.0.18, and a receiver checks version, lengths, TTL, protocol and the header checksum.
//!
//! Options are skipped on parse (the payload starts at IHL × 4) and never emitted: VRRP does not
//! use them. Fragments parse (the flags and offset are kept); refusing them is the caller's call.

use std::net::Ipv4Addr;

use super::bytes;
use super::checksum;
use super::field::Field;
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use super::Field;

    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking the length fields against it (see [`check_len`](Self::check_len)).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed header, the header length (IHL) and the total
    /// length, and that those fields are possible: `Truncated` if the buffer is shorter than
    /// they say, `BadLength` if IHL < 5 or the total length is shorter than the header.
    ///
    /// A buffer longer than the total length is fine: Ethernet pads short frames to 60 bytes.
    /// After `Ok`, no getter panics.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(Error::BadLength);
        }
        if len < total_len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole second byte: DSCP (upper six bits) and ECN (lower two), the old TOS octet.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length of header and payload.
    pub fn total_len(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    /// Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        bytes::read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & FLAG_DF != 0
    }

    /// More Fragments flag.
    pub fn more_frags(&self) -> bool {
        bytes::read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & FLAG_MF != 0
    }

    /// Fragment offset in units of 8 bytes.
    pub fn frag_offset(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::FLG_OFF]) & OFFSET_MASK
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        bytes::ipv4(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        bytes::ipv4(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Whether the header checksum (over IHL × 4 bytes, options included) is right.
    pub fn verify_checksum(&self) -> bool {
        let header_len = usize::from(self.header_len());
        let data = self.buffer.as_ref();
        // Guarded rather than trusted, so this cannot panic even on an unchecked view.
        match data.get(..header_len) {
            Some(header) => checksum::data(header) == 0xffff,
            None => false,
        }
    }

    /// The payload: from the end of the header (options skipped) to the total length, without
    /// any Ethernet padding after it.
    pub fn payload(&self) -> &[u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version.
    pub fn set_version(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::VER_IHL] = (data[field::VER_IHL] & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes (a multiple of 4, at most 60).
    pub fn set_header_len(&mut self, value: u8) {
        let data = self.buffer.as_mut();
        data[field::VER_IHL] = (data[field::VER_IHL] & 0xf0) | ((value / 4) & 0x0f);
    }

    /// Sets the DSCP/ECN octet.
    pub fn set_tos(&mut self, value: u8) {
        self.buffer.as_mut()[field::TOS] = value
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::LENGTH], value)
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::IDENT], value)
    }

    /// Sets the flags and fragment offset (in units of 8 bytes; the reserved flag is cleared).
    pub fn set_flags_and_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut raw = offset & OFFSET_MASK;
        if dont_frag {
            raw |= FLAG_DF;
        }
        if more_frags {
            raw |= FLAG_MF;
        }
        bytes::write_u16(&mut self.buffer.as_mut()[field::FLG_OFF], raw)
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into()
    }

    /// Sets the checksum field as given.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value)
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets())
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets())
    }

    /// Computes and stores the header checksum; every other header field must be set first.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(!sum)
    }

    /// The payload, mutably (see [`payload`](Packet::payload)).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// A validated IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub protocol: IpProtocol,
    /// Payload length: total length minus the header (options included).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP and ECN octet; keepalived sends VRRP with 0xc0 (CS6, network control).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// More Fragments.
    pub more_frags: bool,
    /// Fragment offset in units of 8 bytes (13 bits).
    pub frag_offset: u16,
}

impl Repr {
    /// Parses and validates a header: lengths, version 4 and the header checksum.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::BadVersion(packet.version()));
        }
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// 20 bytes: options are never emitted.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (checksum included) into the first 20 bytes of the buffer; the payload
    /// is left alone. `Malformed` if the payload length or fragment offset does not fit.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let total_len = u16::try_from(HEADER_LEN + self.payload_len)
            .map_err(|_| Error::Malformed("IPv4 payload longer than 65515 bytes"))?;
        if self.frag_offset > OFFSET_MASK {
            return Err(Error::Malformed("IPv4 fragment offset wider than 13 bits"));
        }
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_tos(self.tos);
        packet.set_total_len(total_len);
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The IPv4 part of the first VRRPv2 advert in keepalived-v2-pass.pcap: TOS 0xc0, ID 1, no
    // flags, TTL 255, protocol 112, 10.99.0.12 -> 224.0.0.18, then 20 bytes of VRRP.
    static PACKET_BYTES: [u8; 40] = [
        0x45, 0xc0, 0x00, 0x28, // version, IHL, TOS, total length 40
        0x00, 0x01, 0x00, 0x00, // ident, flags/offset
        0xff, 0x70, 0xd0, 0x23, // TTL, protocol, checksum
        0x0a, 0x63, 0x00, 0x0c, // 10.99.0.12
        0xe0, 0x00, 0x00, 0x12, // 224.0.0.18
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x0c, 0xa1, 0x0a, 0x63, 0x00, 0x64, 0x31, 0x31, 0x31,
        0x31, 0x00, 0x00, 0x00, 0x00,
    ];

    fn packet_repr() -> Repr {
        Repr {
            src_addr: Ipv4Addr::new(10, 99, 0, 12),
            dst_addr: Ipv4Addr::new(224, 0, 0, 18),
            protocol: IpProtocol::Vrrp,
            payload_len: 20,
            ttl: 255,
            tos: 0xc0,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.tos(), 0xc0);
        assert_eq!(packet.total_len(), 40);
        assert_eq!(packet.ident(), 1);
        assert!(!packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.ttl(), 255);
        assert_eq!(packet.protocol(), IpProtocol::Vrrp);
        assert_eq!(packet.checksum(), 0xd023);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 99, 0, 12));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(224, 0, 0, 18));
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 40];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(4);
        packet.set_header_len(20);
        packet.set_tos(0xc0);
        packet.set_total_len(40);
        packet.set_ident(1);
        packet.set_flags_and_offset(false, false, 0);
        packet.set_ttl(255);
        packet.set_protocol(IpProtocol::Vrrp);
        packet.set_src_addr(Ipv4Addr::new(10, 99, 0, 12));
        packet.set_dst_addr(Ipv4Addr::new(224, 0, 0, 18));
        packet.fill_checksum();
        packet.payload_mut().copy_from_slice(&PACKET_BYTES[20..]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), packet_repr());
    }

    #[test]
    fn emit() {
        let mut bytes = [0xa5; 40];
        packet_repr()
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes[..20], PACKET_BYTES[..20]);
        assert_eq!(bytes[20..], [0xa5; 20], "emit must leave the payload alone");
    }

    #[test]
    fn flags_round_trip() {
        let repr = Repr {
            dont_frag: true,
            more_frags: true,
            frag_offset: 0x1abc,
            ..packet_repr()
        };
        let mut bytes = PACKET_BYTES;
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(&bytes[6..8], &[0x7a, 0xbc]);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap(),
            repr
        );
    }

    #[test]
    fn padding_after_total_length_is_ignored() {
        let mut padded = PACKET_BYTES.to_vec();
        padded.extend_from_slice(&[0; 6]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), packet_repr());
        assert_eq!(packet.payload(), &PACKET_BYTES[20..]);
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with a 4-byte Router Alert option (RFC 2113) before the payload.
        let mut bytes = vec![0x46, 0xc0, 0x00, 0x1c, 0, 1, 0, 0, 255, 112, 0, 0];
        bytes.extend_from_slice(&[10, 99, 0, 12, 224, 0, 0, 18, 0x94, 0x04, 0x00, 0x00]);
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.payload(), &[1, 2, 3, 4]);
        assert_eq!(Repr::parse(&packet).unwrap().payload_len, 4);
    }

    #[test]
    fn truncated_and_bad_lengths() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(
                Packet::new_checked(&PACKET_BYTES[..len]).unwrap_err(),
                Error::Truncated,
                "length {len}"
            );
        }
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x44; // IHL 4: impossible
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadLength
        );
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x4f; // IHL 15: 60 bytes, longer than the buffer
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Truncated
        );
        let mut bytes = PACKET_BYTES;
        bytes[3] = 19; // total length inside the header
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::BadLength
        );
        let mut bytes = PACKET_BYTES;
        bytes[3] = 41; // total length past the buffer
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn bad_version_and_checksum() {
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x65;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap_err(), Error::BadVersion(6));

        let mut bytes = PACKET_BYTES;
        bytes[8] = 0xfe; // TTL changed, checksum not refreshed
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Repr::parse(&packet).unwrap_err(), Error::BadChecksum);
    }

    #[test]
    fn emit_rejects_what_does_not_fit() {
        let mut bytes = [0u8; 20];
        let too_long = Repr {
            payload_len: 65_516,
            ..packet_repr()
        };
        assert!(matches!(
            too_long.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed(_))
        ));
        let bad_offset = Repr {
            frag_offset: 0x2000,
            ..packet_repr()
        };
        assert!(matches!(
            bad_offset.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed(_))
        ));
        let mut short = [0u8; 19];
        assert_eq!(
            packet_repr().emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
    }
}
