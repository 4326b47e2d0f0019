//! ARP (RFC 826) for Ethernet and IPv4: the requests the data plane answers for a VIP, and the
//! gratuitous ARPs a new master broadcasts so switches and neighbours learn where the VIP went.
//!
//! The view handles any hardware/protocol lengths (so a strange packet is still readable);
//! [`Repr`] only represents Ethernet + IPv4, the only kind that matters here.

use std::net::Ipv4Addr;

use super::bytes;
use super::enum_with_unknown;
use super::ethernet::{Address as EthernetAddress, EtherType};
use super::field::Field;
use super::{Error, Result};

enum_with_unknown! {
    /// ARP hardware type.
    pub enum Hardware(u16) {
        /// Ethernet.
        Ethernet = 1,
    }
}

enum_with_unknown! {
    /// ARP operation.
    pub enum Operation(u16) {
        /// Who has `target_ip`?
        Request = 1,
        /// `sender_ip` is at `sender_mac`.
        Reply = 2,
    }
}

mod field {
    #![allow(non_snake_case)]

    use super::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;

    // The address fields move with the declared lengths, so they are functions of them.
    pub const fn SHA(hlen: u8, _plen: u8) -> Field {
        let start = OPER.end;
        start..(start + hlen as usize)
    }

    pub const fn SPA(hlen: u8, plen: u8) -> Field {
        let start = SHA(hlen, plen).end;
        start..(start + plen as usize)
    }

    pub const fn THA(hlen: u8, plen: u8) -> Field {
        let start = SPA(hlen, plen).end;
        start..(start + hlen as usize)
    }

    pub const fn TPA(hlen: u8, plen: u8) -> Field {
        let start = THA(hlen, plen).end;
        start..(start + plen as usize)
    }
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = field::TPA(6, 4).end;

/// A read/write view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that it holds the addresses its length fields declare.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer ends before the fixed fields or before the last address
    /// the length fields declare. After `Ok`, no getter panics. Bytes after the target protocol
    /// address (Ethernet padding) are ignored.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::OPER.end || len < field::TPA(self.hardware_len(), self.protocol_len()).end {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> Hardware {
        Hardware::from(bytes::read_u16(&self.buffer.as_ref()[field::HTYPE]))
    }

    /// Protocol type (an EtherType).
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(bytes::read_u16(&self.buffer.as_ref()[field::PTYPE]))
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    pub fn operation(&self) -> Operation {
        Operation::from(bytes::read_u16(&self.buffer.as_ref()[field::OPER]))
    }

    /// Sender hardware address, `hardware_len()` bytes.
    pub fn sender_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SHA(self.hardware_len(), self.protocol_len())]
    }

    /// Sender protocol address, `protocol_len()` bytes.
    pub fn sender_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SPA(self.hardware_len(), self.protocol_len())]
    }

    /// Target hardware address, `hardware_len()` bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::THA(self.hardware_len(), self.protocol_len())]
    }

    /// Target protocol address, `protocol_len()` bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TPA(self.hardware_len(), self.protocol_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: Hardware) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::HTYPE], value.into())
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::PTYPE], value.into())
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, value: Operation) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::OPER], value.into())
    }

    /// Sets the sender hardware address.
    ///
    /// # Panics
    /// If `value` is not `hardware_len()` bytes long or the buffer is too short.
    pub fn set_sender_hardware_addr(&mut self, value: &[u8]) {
        let range = field::SHA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[range].copy_from_slice(value)
    }

    /// Sets the sender protocol address.
    ///
    /// # Panics
    /// If `value` is not `protocol_len()` bytes long or the buffer is too short.
    pub fn set_sender_protocol_addr(&mut self, value: &[u8]) {
        let range = field::SPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[range].copy_from_slice(value)
    }

    /// Sets the target hardware address.
    ///
    /// # Panics
    /// If `value` is not `hardware_len()` bytes long or the buffer is too short.
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        let range = field::THA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[range].copy_from_slice(value)
    }

    /// Sets the target protocol address.
    ///
    /// # Panics
    /// If `value` is not `protocol_len()` bytes long or the buffer is too short.
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        let range = field::TPA(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[range].copy_from_slice(value)
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Request, reply, or an unknown operation kept as found.
    pub operation: Operation,
    /// Sender hardware address.
    pub sender_mac: EthernetAddress,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in an ordinary request).
    pub target_mac: EthernetAddress,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl Repr {
    /// An ordinary request: who has `target_ip`? Tell `sender_ip`. The target MAC is zero, as
    /// RFC 826 leaves it unknown.
    pub const fn request(
        sender_mac: EthernetAddress,
        sender_ip: Ipv4Addr,
        target_ip: Ipv4Addr,
    ) -> Repr {
        Repr {
            operation: Operation::Request,
            sender_mac,
            sender_ip,
            target_mac: EthernetAddress::UNSPECIFIED,
            target_ip,
        }
    }

    /// A reply telling `target` that `sender_ip` is at `sender_mac`.
    pub const fn reply(
        sender_mac: EthernetAddress,
        sender_ip: Ipv4Addr,
        target_mac: EthernetAddress,
        target_ip: Ipv4Addr,
    ) -> Repr {
        Repr {
            operation: Operation::Reply,
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        }
    }

    /// The reply to this request, from `mac` (which owns `target_ip`): what the data plane sends.
    pub const fn answer(&self, mac: EthernetAddress) -> Repr {
        Repr::reply(mac, self.target_ip, self.sender_mac, self.sender_ip)
    }

    /// A gratuitous ARP announcing that `ip` is at `mac`, byte for byte as keepalived 2.2.7 sends
    /// it: a *request* with sender IP == target IP and the broadcast address as target MAC
    /// (RFC 5227 §3 allows either operation; requests are what every stack updates its cache on).
    pub const fn gratuitous(mac: EthernetAddress, ip: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: EthernetAddress::BROADCAST,
            target_ip: ip,
        }
    }

    /// Sender and target IP are the same: an announcement, not a question (RFC 5227 §3).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// Parses an Ethernet/IPv4 ARP packet; anything else is `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != Hardware::Ethernet || packet.hardware_len() != 6 {
            return Err(Error::Unsupported("ARP hardware other than Ethernet"));
        }
        if packet.protocol_type() != EtherType::Ipv4 || packet.protocol_len() != 4 {
            return Err(Error::Unsupported("ARP protocol other than IPv4"));
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_mac: EthernetAddress::from_bytes(packet.sender_hardware_addr()),
            sender_ip: bytes::ipv4(packet.sender_protocol_addr()),
            target_mac: EthernetAddress::from_bytes(packet.target_hardware_addr()),
            target_ip: bytes::ipv4(packet.target_protocol_addr()),
        })
    }

    /// 28 bytes.
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet into the first `buffer_len()` bytes of the buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::Truncated);
        }
        packet.set_hardware_type(Hardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.sender_mac.as_bytes());
        packet.set_sender_protocol_addr(&self.sender_ip.octets());
        packet.set_target_hardware_addr(self.target_mac.as_bytes());
        packet.set_target_protocol_addr(&self.target_ip.octets());
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // A gratuitous ARP from keepalived-v2-pass.pcap (frame 1), Ethernet header stripped.
    static PACKET_BYTES: [u8; 28] = [
        0x00, 0x01, // Ethernet
        0x08, 0x00, // IPv4
        0x06, 0x04, // hlen, plen
        0x00, 0x01, // request
        0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68, // sender MAC
        0x0a, 0x63, 0x00, 0x64, // sender IP 10.99.0.100
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // target MAC: broadcast
        0x0a, 0x63, 0x00, 0x64, // target IP 10.99.0.100
    ];

    const MAC: EthernetAddress = EthernetAddress([0x9a, 0xb0, 0x56, 0x26, 0xb5, 0x68]);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(packet.hardware_type(), Hardware::Ethernet);
        assert_eq!(packet.protocol_type(), EtherType::Ipv4);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), Operation::Request);
        assert_eq!(packet.sender_hardware_addr(), MAC.as_bytes());
        assert_eq!(packet.sender_protocol_addr(), &[10, 99, 0, 100]);
        assert_eq!(packet.target_hardware_addr(), &[0xff; 6]);
        assert_eq!(packet.target_protocol_addr(), &[10, 99, 0, 100]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5; 28];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_hardware_type(Hardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(Operation::Request);
        packet.set_sender_hardware_addr(MAC.as_bytes());
        packet.set_sender_protocol_addr(&[10, 99, 0, 100]);
        packet.set_target_hardware_addr(&[0xff; 6]);
        packet.set_target_protocol_addr(&[10, 99, 0, 100]);
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn parse() {
        let packet = Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(repr, Repr::gratuitous(MAC, VIP));
        assert!(repr.is_gratuitous());
    }

    #[test]
    fn emit() {
        let mut bytes = [0xa5; 28];
        Repr::gratuitous(MAC, VIP)
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn request_and_answer() {
        let client = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
        let client_ip = Ipv4Addr::new(10, 99, 0, 50);
        let request = Repr::request(client, client_ip, VIP);
        assert_eq!(request.target_mac, EthernetAddress::UNSPECIFIED);
        assert!(!request.is_gratuitous());
        let reply = request.answer(MAC);
        assert_eq!(reply, Repr::reply(MAC, VIP, client, client_ip));

        let mut bytes = [0xa5; 28];
        reply
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let parsed = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(parsed, reply);
        assert_eq!(&bytes[6..8], &[0x00, 0x02]);
    }

    #[test]
    fn padding_is_ignored() {
        let mut padded = PACKET_BYTES.to_vec();
        padded.extend_from_slice(&[0; 18]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(Repr::parse(&packet).unwrap(), Repr::gratuitous(MAC, VIP));
    }

    #[test]
    fn truncated() {
        for len in 0..PACKET_BYTES.len() {
            assert_eq!(
                Packet::new_checked(&PACKET_BYTES[..len]).unwrap_err(),
                Error::Truncated,
                "length {len}"
            );
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&PACKET_BYTES[..len])).unwrap_err(),
                Error::Truncated
            );
        }
        let mut short = [0u8; 27];
        let result = Repr::gratuitous(MAC, VIP).emit(&mut Packet::new_unchecked(&mut short[..]));
        assert_eq!(result, Err(Error::Truncated));
    }

    #[test]
    fn large_declared_lengths_are_truncated_not_panics() {
        let mut bytes = PACKET_BYTES;
        bytes[4] = 0xff;
        bytes[5] = 0xff;
        assert_eq!(
            Packet::new_checked(&bytes[..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn unsupported_kinds_and_unknown_operations() {
        let mut bytes = PACKET_BYTES;
        bytes[1] = 6; // IEEE 802 hardware
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.hardware_type(), Hardware::Unknown(6));
        assert!(matches!(Repr::parse(&packet), Err(Error::Unsupported(_))));

        let mut bytes = PACKET_BYTES;
        bytes[2] = 0x86;
        bytes[3] = 0xdd;
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(matches!(Repr::parse(&packet), Err(Error::Unsupported(_))));

        let mut bytes = PACKET_BYTES;
        bytes[7] = 8; // InARP request: kept, not rejected
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.operation, Operation::Unknown(8));
        let mut out = [0xa5; 28];
        repr.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
        assert_eq!(out, bytes);
    }
}
