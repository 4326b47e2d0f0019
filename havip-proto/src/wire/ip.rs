//! What IPv4 and IPv6 share: the protocol numbers havip meets, and [`IpRepr`], either header, so
//! VRRP (which runs over both) can be handled without caring which.

use std::net::IpAddr;

use super::enum_with_unknown;
use super::{ipv4, ipv6};

enum_with_unknown! {
    /// IP protocol number (IPv4 Protocol, IPv6 Next Header).
    pub enum IpProtocol(u8) {
        /// IPv6 Hop-by-Hop Options (MLD reports carry one).
        HopByHop = 0,
        /// ICMP for IPv4.
        Icmp = 1,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
        /// ICMPv6 (neighbour discovery).
        Icmpv6 = 58,
        /// VRRP (RFC 3768, RFC 9568).
        Vrrp = 112,
    }
}

/// An IPv4 or IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// An IPv4 header.
    V4(ipv4::Repr),
    /// An IPv6 fixed header.
    V6(ipv6::Repr),
}

impl IpRepr {
    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => r.src_addr.into(),
            IpRepr::V6(r) => r.src_addr.into(),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => r.dst_addr.into(),
            IpRepr::V6(r) => r.dst_addr.into(),
        }
    }

    /// IPv4 TTL or IPv6 hop limit. VRRP receivers must drop adverts where this is not 255
    /// (RFC 9568 §7.1): the wire layer reports it, the caller decides.
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.ttl,
            IpRepr::V6(r) => r.hop_limit,
        }
    }

    /// IPv4 protocol or IPv6 next header.
    pub fn protocol(&self) -> IpProtocol {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// Length of the payload after the header.
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// Length of the header `emit` writes.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.buffer_len(),
            IpRepr::V6(r) => r.buffer_len(),
        }
    }

    /// Writes the header into the start of `buffer`, which must be at least `header_len()` bytes
    /// long.
    pub fn emit(&self, buffer: &mut [u8]) -> super::Result<()> {
        match self {
            IpRepr::V4(r) => r.emit(&mut ipv4::Packet::new_unchecked(buffer)),
            IpRepr::V6(r) => r.emit(&mut ipv6::Packet::new_unchecked(buffer)),
        }
    }
}
