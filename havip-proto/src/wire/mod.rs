//! Wire formats: byte-level views and validated representations of every packet havip sends or
//! receives — Ethernet, ARP, IPv4, IPv6, ICMPv6 neighbour advertisements and VRRP v2/v3.
//!
//! Pure code: no I/O, no clock, no allocation except the address lists of VRRP.
//!
//! Each format follows the smoltcp pattern:
//!
//! - `XxxPacket<T: AsRef<[u8]>>` (or `EthernetFrame`) is a zero-copy view over a buffer. Build it
//!   with `new_checked` for untrusted input: after a successful `check_len`, no getter panics,
//!   whatever the bytes say. Setters (on `T: AsMut<[u8]>`) may panic on a buffer that is too
//!   short; they are for emitting into a buffer you sized yourself.
//! - `XxxRepr` is the validated meaning of a packet: `parse` checks everything the format requires
//!   (lengths, versions, checksums) and returns a typed [`Error`]; `buffer_len` says how many bytes
//!   `emit` writes; `emit` never panics on a buffer of exactly `buffer_len()` bytes.
//! - Enums keep unknown values (`Operation::Unknown(u16)`), so parsing loses no information.
//!
//! The daemon mostly needs the whole-frame helpers in [`frame`]: [`VrrpFrame`] parses or builds
//! an advertisement (Ethernet + IPv4/IPv6 + VRRP), [`ArpFrame`] a (gratuitous) ARP and
//! [`NeighborAdvertFrame`] an unsolicited neighbour advertisement.
//!
//! Addresses are `std::net` types, plus [`EthernetAddress`] for MACs.

use core::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod frame;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod pcap;
pub mod vrrp;

#[cfg(test)]
mod vector_tests;

pub use arp::{Operation as ArpOperation, Packet as ArpPacket, Repr as ArpRepr};
pub use ethernet::{
    Address as EthernetAddress, EtherType, Frame as EthernetFrame, Repr as EthernetRepr,
};
pub use frame::{parse_ip_advert, ArpFrame, NeighborAdvertFrame, VrrpFrame};
pub use icmpv6::{
    Message as Icmpv6Message, NeighborAdvertRepr, NeighborFlags, Packet as Icmpv6Packet,
};
pub use ip::{IpProtocol, IpRepr};
pub use ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
pub use ipv6::{Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use vrrp::{
    virtual_mac_v4, virtual_mac_v6, Addresses as VrrpAddresses, Auth as VrrpAuth,
    AuthType as VrrpAuthType, ChecksumMode, Packet as VrrpPacket, Repr as VrrpRepr,
    Version as VrrpVersion,
};

/// Why a buffer could not be parsed, or a representation could not be emitted.
///
/// Every parser in this module returns one of these instead of panicking, whatever the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer ends before the header, or before the length a header field declares.
    Truncated,
    /// A length field is impossible: an IPv4 IHL below 5, a total length shorter than the header.
    BadLength,
    /// An IP or VRRP version this layer does not speak; carries the value found.
    BadVersion(u8),
    /// A checksum does not verify.
    BadChecksum,
    /// A VRRP message whose address list does not match its "Count IPvX Addrs" field: `count`
    /// addresses declared, `len` bytes present between the fixed header and the end of the
    /// message (v2: before the authentication data).
    AddressCountMismatch {
        /// The Count IPvX Addrs field.
        count: u8,
        /// Bytes present for the addresses.
        len: usize,
    },
    /// A VRRP message type other than 1 (advertisement); carries the value found.
    UnknownVrrpType(u8),
    /// Well-formed, but not something this layer represents (non-Ethernet ARP, a VLAN tag, a
    /// fragment, an IP protocol other than the one asked for...). Says what.
    Unsupported(&'static str),
    /// A field holds a value its format forbids, or a representation cannot be emitted as asked
    /// (too many addresses, wrong address family...). Says what.
    Malformed(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => write!(f, "packet truncated"),
            Error::BadLength => write!(f, "impossible length field"),
            Error::BadVersion(v) => write!(f, "unsupported version {v}"),
            Error::BadChecksum => write!(f, "bad checksum"),
            Error::AddressCountMismatch { count, len } => write!(
                f,
                "VRRP address count {count} does not match the {len} bytes of addresses present"
            ),
            Error::UnknownVrrpType(t) => {
                write!(f, "VRRP type {t} is not an advertisement (type 1)")
            }
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::Malformed(what) => write!(f, "malformed: {what}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result of every parse and emit in this module.
pub type Result<T> = core::result::Result<T, Error>;

/// Byte ranges of header fields, as used by every `mod field` below.
mod field {
    pub type Field = core::ops::Range<usize>;
}

/// Declares a `Copy` enum over an integer that keeps values it does not know in `Unknown`, with
/// `From` conversions both ways, so parse → emit never loses information.
macro_rules! enum_with_unknown {
    (
        $( #[$enum_attr:meta] )*
        pub enum $name:ident($ty:ty) {
            $(
              $( #[$variant_attr:meta] )*
              $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $( #[$enum_attr] )*
        #[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Clone, Copy)]
        pub enum $name {
            $(
              $( #[$variant_attr] )*
              $variant
            ),*,
            /// A value this module has no name for, kept as found.
            Unknown($ty)
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other)
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other
                }
            }
        }
    }
}
pub(crate) use enum_with_unknown;

/// Big-endian reads and writes on slices the caller has already bounds-checked.
mod bytes {
    #[inline]
    pub fn read_u16(data: &[u8]) -> u16 {
        u16::from_be_bytes([data[0], data[1]])
    }

    #[inline]
    pub fn read_u32(data: &[u8]) -> u32 {
        u32::from_be_bytes([data[0], data[1], data[2], data[3]])
    }

    #[inline]
    pub fn write_u16(data: &mut [u8], value: u16) {
        data[..2].copy_from_slice(&value.to_be_bytes())
    }

    #[inline]
    pub fn write_u32(data: &mut [u8], value: u32) {
        data[..4].copy_from_slice(&value.to_be_bytes())
    }

    #[inline]
    pub fn ipv4(data: &[u8]) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(data[0], data[1], data[2], data[3])
    }

    #[inline]
    pub fn ipv6(data: &[u8]) -> std::net::Ipv6Addr {
        let mut octets = [0; 16];
        octets.copy_from_slice(&data[..16]);
        std::net::Ipv6Addr::from(octets)
    }
}
