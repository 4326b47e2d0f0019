//! Ethernet II frames: MAC addresses, the EtherType, and the 14-byte header in front of every
//! ARP, IPv4 and IPv6 packet havip sees.
//!
//! 802.1Q tags are recognised (`EtherType::Vlan`) but not parsed: havip runs on the untagged
//! interface, as keepalived does.

use core::fmt;
use core::str::FromStr;

use super::bytes;
use super::enum_with_unknown;
use super::field::Field;
use super::{Error, Result};

enum_with_unknown! {
    /// EtherType of the payload.
    pub enum EtherType(u16) {
        /// IPv4.
        Ipv4 = 0x0800,
        /// ARP.
        Arp = 0x0806,
        /// 802.1Q VLAN tag (recognised, not parsed).
        Vlan = 0x8100,
        /// IPv6.
        Ipv6 = 0x86dd,
    }
}

/// A six-byte Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Address = Address([0xff; 6]);
    /// 00:00:00:00:00:00, the "unknown" target of an ARP request.
    pub const UNSPECIFIED: Address = Address([0; 6]);

    /// The address from the first six bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than six bytes.
    pub fn from_bytes(data: &[u8]) -> Address {
        let mut octets = [0; 6];
        octets.copy_from_slice(&data[..6]);
        Address(octets)
    }

    /// The six bytes.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Group bit set (includes broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Neither multicast nor broadcast.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The multicast MAC an IPv4 group maps to (RFC 1112 §6.4): 01:00:5e + low 23 bits.
    pub const fn ipv4_multicast(group: std::net::Ipv4Addr) -> Address {
        let o = group.octets();
        Address([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// The multicast MAC an IPv6 group maps to (RFC 2464 §7): 33:33 + low 32 bits.
    pub const fn ipv6_multicast(group: std::net::Ipv6Addr) -> Address {
        let o = group.octets();
        Address([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Error returned when a MAC address string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseAddressError;

impl fmt::Display for ParseAddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address: expected six hex bytes like 00:00:5e:00:01:33"
        )
    }
}

impl std::error::Error for ParseAddressError {}

impl FromStr for Address {
    type Err = ParseAddressError;

    /// Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (one or two hex digits per byte, either
    /// case), the forms `ip link` and Windows tools print.
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut octets = [0u8; 6];
        let mut parts = s.split(sep);
        for octet in &mut octets {
            let part = parts.next().ok_or(ParseAddressError)?;
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseAddressError);
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| ParseAddressError)?;
        }
        if parts.next().is_some() {
            return Err(ParseAddressError);
        }
        Ok(Address(octets))
    }
}

mod field {
    use super::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer, checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header. After `Ok`, no getter panics.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source address.
    pub fn src_addr(&self) -> Address {
        Address::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// EtherType.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(bytes::read_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    /// Everything after the header, including any trailer padding.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0)
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0)
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, value: EtherType) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], value.into())
    }

    /// Everything after the header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// An Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source MAC.
    pub src_addr: Address,
    /// Destination MAC.
    pub dst_addr: Address,
    /// Payload type.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Length of the header `emit` writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the payload is left alone.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) -> Result<()> {
        frame.check_len()?;
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The header of the first VRRPv2 advert in keepalived-v2-pass.pcap.
    static FRAME_BYTES: [u8; 16] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, // destination: 224.0.0.18's group MAC
        0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68, // source: the node's own MAC
        0x08, 0x00, // IPv4
        0x45, 0xc0, // start of the payload
    ];

    fn frame_repr() -> Repr {
        Repr {
            dst_addr: Address([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]),
            src_addr: Address([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68]),
            ethertype: EtherType::Ipv4,
        }
    }

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(
            frame.dst_addr(),
            Address([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12])
        );
        assert_eq!(
            frame.src_addr(),
            Address([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68])
        );
        assert_eq!(frame.ethertype(), EtherType::Ipv4);
        assert_eq!(frame.payload(), &[0x45, 0xc0]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 16];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        frame.set_dst_addr(Address([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]));
        frame.set_src_addr(Address([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68]));
        frame.set_ethertype(EtherType::Ipv4);
        frame.payload_mut().copy_from_slice(&[0x45, 0xc0]);
        assert_eq!(bytes, FRAME_BYTES);
    }

    #[test]
    fn parse_and_emit() {
        let frame = Frame::new_checked(&FRAME_BYTES[..]).unwrap();
        assert_eq!(Repr::parse(&frame).unwrap(), frame_repr());

        let mut bytes = [0xa5; 14];
        frame_repr()
            .emit(&mut Frame::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes[..], FRAME_BYTES[..14]);
    }

    #[test]
    fn truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&FRAME_BYTES[..len]).unwrap_err(),
                Error::Truncated
            );
        }
        let mut short = [0u8; 13];
        assert_eq!(
            frame_repr().emit(&mut Frame::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn ethertype_keeps_unknown_values() {
        assert_eq!(EtherType::from(0x88cc), EtherType::Unknown(0x88cc));
        assert_eq!(u16::from(EtherType::Unknown(0x88cc)), 0x88cc);
        assert_eq!(EtherType::from(0x8100), EtherType::Vlan);
    }

    #[test]
    fn address_display_and_parse() {
        let mac = Address([0x00, 0x00, 0x5e, 0x00, 0x01, 0x33]);
        assert_eq!(mac.to_string(), "00:00:5e:00:01:33");
        assert_eq!("00:00:5e:00:01:33".parse::<Address>().unwrap(), mac);
        assert_eq!("00-00-5E-00-01-33".parse::<Address>().unwrap(), mac);
        assert_eq!("0:0:5e:0:1:33".parse::<Address>().unwrap(), mac);
        for bad in [
            "",
            "00:00:5e:00:01",
            "00:00:5e:00:01:33:44",
            "00:00:5e:00:01:333",
            "g0:00:00:00:00:00",
            "+1:00:00:00:00:00",
            "00::5e:00:01:33",
        ] {
            assert!(bad.parse::<Address>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn address_kinds() {
        assert!(Address::BROADCAST.is_broadcast());
        assert!(Address::BROADCAST.is_multicast());
        assert!(Address([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68]).is_unicast());
        assert_eq!(
            Address::ipv4_multicast("224.0.0.18".parse().unwrap()),
            Address([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12])
        );
        assert_eq!(
            Address::ipv6_multicast("ff02::12".parse().unwrap()),
            Address([0x33, 0x33, 0x00, 0x00, 0x00, 0x12])
        );
    }
}
