//! ICMPv6 (RFC 4443), as far as havip needs it: the checksum of any message, and neighbour
//! advertisements (RFC 4861 §4.4), which a new master sends unsolicited for each IPv6 VIP — the
//! IPv6 twin of a gratuitous ARP — so neighbours re-point their caches at once.

use std::net::Ipv6Addr;

use super::bytes;
use super::checksum;
use super::enum_with_unknown;
use super::ethernet::Address as EthernetAddress;
use super::field::Field;
use super::ip::IpProtocol;
use super::{Error, Result};

enum_with_unknown! {
    /// ICMPv6 message type.
    pub enum Message(u8) {
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Router solicitation.
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbour solicitation.
        NeighborSolicit = 135,
        /// Neighbour advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
    }
}

mod field {
    use super::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Neighbour solicitation/advertisement: flags, then 3 reserved bytes.
    pub const FLAGS: usize = 4;
    pub const RESERVED: Field = 5..8;
    pub const TARGET: Field = 8..24;
    pub const OPTIONS: usize = 24;
}

/// Length of the ICMPv6 header common to all messages.
pub const HEADER_LEN: usize = field::FLAGS;
/// Length of a neighbour solicitation or advertisement without options.
pub const NEIGHBOR_LEN: usize = field::OPTIONS;

/// NDP option type of a target link-layer address (RFC 4861 §4.6.1).
const OPT_TARGET_LLADDR: u8 = 2;

/// The flags byte of a neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NeighborFlags(pub u8);

impl NeighborFlags {
    /// R: the sender is a router.
    pub const ROUTER: NeighborFlags = NeighborFlags(0x80);
    /// S: an answer to a solicitation (never set in an unsolicited one).
    pub const SOLICITED: NeighborFlags = NeighborFlags(0x40);
    /// O: override an existing cache entry — what makes an unsolicited NA move a VIP.
    pub const OVERRIDE: NeighborFlags = NeighborFlags(0x20);

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: NeighborFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for NeighborFlags {
    type Output = NeighborFlags;

    fn bitor(self, rhs: NeighborFlags) -> NeighborFlags {
        NeighborFlags(self.0 | rhs.0)
    }
}

/// A read/write view of an ICMPv6 message (the whole IPv6 payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking it holds the common header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` without the 4-byte common header, or, for a neighbour solicitation or
    /// advertisement, without its 24 fixed bytes. After `Ok`, no getter panics (the neighbour
    /// getters return `None` on other messages too short for them).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let neighbor = matches!(
            self.msg_type(),
            Message::NeighborSolicit | Message::NeighborAdvert
        );
        if neighbor && len < NEIGHBOR_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Neighbour advertisement flags, if the buffer is long enough.
    pub fn neighbor_flags(&self) -> Option<NeighborFlags> {
        self.buffer
            .as_ref()
            .get(field::FLAGS)
            .map(|&b| NeighborFlags(b))
    }

    /// Neighbour solicitation/advertisement target, if the buffer is long enough.
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        self.buffer.as_ref().get(field::TARGET).map(bytes::ipv6)
    }

    /// The NDP options after a neighbour message's fixed part (empty if there are none).
    pub fn options(&self) -> &[u8] {
        self.buffer.as_ref().get(field::OPTIONS..).unwrap_or(&[])
    }

    fn sum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Option<u16> {
        let data = self.buffer.as_ref();
        let length = u32::try_from(data.len()).ok()?;
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, length);
        Some(checksum::combine(&[pseudo, checksum::data(data)]))
    }

    /// Whether the checksum (over the IPv6 pseudo-header and the whole message) verifies.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.buffer.as_ref().len() >= HEADER_LEN && self.sum(src, dst) == Some(0xffff)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into()
    }

    /// Sets the code.
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value
    }

    /// Sets the checksum field as given.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value)
    }

    /// Sets a neighbour message's flags and clears the 3 reserved bytes after them.
    pub fn set_neighbor_flags(&mut self, value: NeighborFlags) {
        let data = self.buffer.as_mut();
        data[field::FLAGS] = value.0;
        data[field::RESERVED].fill(0);
    }

    /// Sets a neighbour message's target.
    pub fn set_target_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&value.octets())
    }

    /// The options area, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::OPTIONS..]
    }

    /// Computes and stores the checksum over the whole buffer; every other byte must be set first.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        // A buffer over 4 GiB cannot be an ICMPv6 message; leave the checksum zero then.
        if let Some(sum) = self.sum(src, dst) {
            self.set_checksum(!sum)
        }
    }
}

/// A validated neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertRepr {
    /// Router / Solicited / Override.
    pub flags: NeighborFlags,
    /// The address being advertised.
    pub target_addr: Ipv6Addr,
    /// The target link-layer address option, if present.
    pub target_lladdr: Option<EthernetAddress>,
}

impl NeighborAdvertRepr {
    /// An unsolicited advertisement of `target` at `mac`, as keepalived sends for a VIP when it
    /// becomes master: Override set, Solicited and Router clear, with the link-layer address.
    /// Send it from `target` to ff02::1 with hop limit 255 (see `NeighborAdvertFrame`).
    pub const fn unsolicited(target: Ipv6Addr, mac: EthernetAddress) -> NeighborAdvertRepr {
        NeighborAdvertRepr {
            flags: NeighborFlags::OVERRIDE,
            target_addr: target,
            target_lladdr: Some(mac),
        }
    }

    /// Parses and validates a neighbour advertisement (RFC 4861 §7.1.2, except the hop limit,
    /// which is the IP header's): type 136, code 0, checksum, target not multicast, Solicited
    /// clear when sent to a multicast group, options well formed. Options other than the target
    /// link-layer address are skipped, as RFC 4861 §4.6 requires of unknown ones.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Self> {
        packet.check_len()?;
        if packet.msg_type() != Message::NeighborAdvert {
            return Err(Error::Unsupported(
                "ICMPv6 message other than a neighbour advertisement",
            ));
        }
        if packet.code() != 0 {
            return Err(Error::Malformed(
                "neighbour advertisement with a code other than 0",
            ));
        }
        if !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let flags = packet.neighbor_flags().ok_or(Error::Truncated)?;
        let target_addr = packet.target_addr().ok_or(Error::Truncated)?;
        if target_addr.is_multicast() {
            return Err(Error::Malformed(
                "neighbour advertisement for a multicast target",
            ));
        }
        if dst.is_multicast() && flags.contains(NeighborFlags::SOLICITED) {
            return Err(Error::Malformed(
                "solicited neighbour advertisement sent to a group",
            ));
        }

        let mut target_lladdr = None;
        let mut options = packet.options();
        while !options.is_empty() {
            let [kind, units, ..] = *options else {
                return Err(Error::Truncated);
            };
            let len = usize::from(units) * 8;
            if len == 0 {
                return Err(Error::Malformed("NDP option of length 0"));
            }
            let option = options.get(..len).ok_or(Error::Truncated)?;
            if kind == OPT_TARGET_LLADDR && target_lladdr.is_none() {
                // Ethernet: 2 + 6 bytes = one unit (RFC 2464 §8).
                if len != 8 {
                    return Err(Error::Malformed(
                        "target link-layer address option not 8 bytes",
                    ));
                }
                target_lladdr = Some(EthernetAddress::from_bytes(&option[2..8]));
            }
            options = &options[len..];
        }

        Ok(NeighborAdvertRepr {
            flags,
            target_addr,
            target_lladdr,
        })
    }

    /// 24 bytes, plus 8 for the link-layer address option.
    pub const fn buffer_len(&self) -> usize {
        NEIGHBOR_LEN + if self.target_lladdr.is_some() { 8 } else { 0 }
    }

    /// Writes the message, checksum included, into the first `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) -> Result<()> {
        let len = self.buffer_len();
        let buffer = packet
            .buffer
            .as_mut()
            .get_mut(..len)
            .ok_or(Error::Truncated)?;
        let mut packet = Packet::new_unchecked(buffer);
        packet.set_msg_type(Message::NeighborAdvert);
        packet.set_code(0);
        packet.set_neighbor_flags(self.flags);
        packet.set_target_addr(self.target_addr);
        if let Some(mac) = self.target_lladdr {
            let options = packet.options_mut();
            options[0] = OPT_TARGET_LLADDR;
            options[1] = 1;
            options[2..8].copy_from_slice(mac.as_bytes());
        }
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // The unsolicited NA for fd00:99::100 from keepalived-v3.pcap frame 13 (ICMPv6 part), sent
    // from fd00:99::100 to ff02::1.
    static NA_BYTES: [u8; 32] = [
        0x88, 0x00, 0x72, 0x94, // type 136, code 0, checksum
        0x20, 0x00, 0x00, 0x00, // Override
        0xfd, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, // target fd00:99::100
        0x02, 0x01, 0x9a, 0x0b, 0x39, 0xe5, 0x12, 0xe7, // target link-layer address
    ];

    const MAC: EthernetAddress = EthernetAddress([0x9a, 0x0b, 0x39, 0xe5, 0x12, 0xe7]);

    fn vip() -> Ipv6Addr {
        "fd00:99::100".parse().unwrap()
    }

    fn all_nodes() -> Ipv6Addr {
        "ff02::1".parse().unwrap()
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&NA_BYTES[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::NeighborAdvert);
        assert_eq!(packet.code(), 0);
        assert_eq!(packet.checksum(), 0x7294);
        assert_eq!(packet.neighbor_flags(), Some(NeighborFlags::OVERRIDE));
        assert_eq!(packet.target_addr(), Some(vip()));
        assert_eq!(packet.options(), &NA_BYTES[24..]);
        assert!(packet.verify_checksum(vip(), all_nodes()));
        assert!(!packet.verify_checksum(vip(), "ff02::2".parse().unwrap()));
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 32];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_msg_type(Message::NeighborAdvert);
        packet.set_code(0);
        packet.set_neighbor_flags(NeighborFlags::OVERRIDE);
        packet.set_target_addr(vip());
        packet.options_mut().copy_from_slice(&NA_BYTES[24..]);
        packet.fill_checksum(vip(), all_nodes());
        assert_eq!(bytes, NA_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&NA_BYTES[..]).unwrap();
        let repr = NeighborAdvertRepr::parse(&packet, vip(), all_nodes()).unwrap();
        assert_eq!(repr, NeighborAdvertRepr::unsolicited(vip(), MAC));
    }

    #[test]
    fn emit() {
        let repr = NeighborAdvertRepr::unsolicited(vip(), MAC);
        assert_eq!(repr.buffer_len(), 32);
        let mut bytes = [0xa5; 32];
        repr.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            vip(),
            all_nodes(),
        )
        .unwrap();
        assert_eq!(bytes, NA_BYTES);

        let bare = NeighborAdvertRepr {
            target_lladdr: None,
            ..repr
        };
        let mut bytes = [0xa5; 24];
        bare.emit(
            &mut Packet::new_unchecked(&mut bytes[..]),
            vip(),
            all_nodes(),
        )
        .unwrap();
        let parsed = NeighborAdvertRepr::parse(
            &Packet::new_checked(&bytes[..]).unwrap(),
            vip(),
            all_nodes(),
        );
        assert_eq!(parsed.unwrap(), bare);

        let mut short = [0u8; 31];
        assert_eq!(
            repr.emit(
                &mut Packet::new_unchecked(&mut short[..]),
                vip(),
                all_nodes()
            ),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn flags() {
        let f = NeighborFlags::ROUTER | NeighborFlags::OVERRIDE;
        assert!(f.contains(NeighborFlags::ROUTER));
        assert!(!f.contains(NeighborFlags::SOLICITED));
    }

    fn parse_err(bytes: &[u8]) -> Error {
        NeighborAdvertRepr::parse(&Packet::new_unchecked(bytes), vip(), all_nodes()).unwrap_err()
    }

    /// Re-checksums a modified message so that the check under test is the one that fails.
    fn fixed(mut bytes: Vec<u8>) -> Vec<u8> {
        Packet::new_unchecked(&mut bytes[..]).fill_checksum(vip(), all_nodes());
        bytes
    }

    #[test]
    fn malformed() {
        for len in 0..NEIGHBOR_LEN {
            assert_eq!(
                parse_err(&NA_BYTES[..len]),
                Error::Truncated,
                "length {len}"
            );
        }
        // Cut inside the option: truncated option (checksum fixed so it is the option that fails).
        for len in NEIGHBOR_LEN + 1..NA_BYTES.len() {
            assert_eq!(
                parse_err(&fixed(NA_BYTES[..len].to_vec())),
                Error::Truncated,
                "length {len}"
            );
        }
        let mut bytes = NA_BYTES;
        bytes[31] ^= 1;
        assert_eq!(parse_err(&bytes), Error::BadChecksum);

        let mut bytes = NA_BYTES.to_vec();
        bytes[25] = 0;
        assert!(matches!(parse_err(&fixed(bytes)), Error::Malformed(_)));
        let mut bytes = NA_BYTES.to_vec();
        bytes[1] = 1;
        assert!(matches!(parse_err(&fixed(bytes)), Error::Malformed(_)));
        let mut bytes = NA_BYTES.to_vec();
        bytes[4] = 0x60; // Solicited, to a group
        assert!(matches!(parse_err(&fixed(bytes)), Error::Malformed(_)));
        let mut bytes = NA_BYTES.to_vec();
        bytes[8] = 0xff; // multicast target
        assert!(matches!(parse_err(&fixed(bytes)), Error::Malformed(_)));
        let mut bytes = NA_BYTES.to_vec();
        bytes[0] = 135;
        assert!(matches!(parse_err(&fixed(bytes)), Error::Unsupported(_)));
    }

    #[test]
    fn unknown_options_are_skipped() {
        let mut bytes = NA_BYTES[..24].to_vec();
        bytes.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]); // nonce option (RFC 7527)
        bytes.extend_from_slice(&NA_BYTES[24..]);
        let bytes = fixed(bytes);
        let repr = NeighborAdvertRepr::parse(
            &Packet::new_checked(&bytes[..]).unwrap(),
            vip(),
            all_nodes(),
        );
        assert_eq!(repr.unwrap(), NeighborAdvertRepr::unsolicited(vip(), MAC));
    }
}
