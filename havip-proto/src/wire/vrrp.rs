//! VRRP advertisements, version 2 (RFC 3768, IPv4 only) and version 3 (RFC 9568, which obsoletes
//! RFC 5798; IPv4 or IPv6): the one message VRRP routers exchange, which carries who is master
//! (priority), how often it speaks, and which addresses it protects.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2: |   Auth Type   |   Adver Int   |          Checksum         |
//! v3: |(rsvd) |     Max Adver Int     |          Checksum         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            IPv4 (4 bytes) or IPv6 (16 bytes) addresses        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! v2 only:                 Authentication Data (8 bytes)
//! ```
//!
//! The message does not say whether its addresses are IPv4 or IPv6: the IP header around it does,
//! so [`Repr::parse`] and [`Repr::emit`] take the IP source and destination.
//!
//! Checksums differ by version and family:
//! - v2: over the VRRP message only (RFC 3768 §5.3.8).
//! - v3 over IPv6: over the IPv6 pseudo-header and the message (RFC 9568 §5.2.8).
//! - v3 over IPv4: RFC 9568 says with the IPv4 pseudo-header, which is what keepalived 2.2.7 and
//!   FRR do ([`ChecksumMode::PseudoHeader`]); keepalived's `v3_checksum_as_v2` (for peers from
//!   before RFC 5798 was read that way) leaves it out ([`ChecksumMode::MessageOnly`]).

use core::fmt;
use core::time::Duration;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes;
use super::checksum;
use super::enum_with_unknown;
use super::ethernet::Address as EthernetAddress;
use super::field::Field;
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use super::Field;

    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2.
    pub const AUTH_TYPE: usize = 4;
    /// v2, in seconds.
    pub const ADVER_INT: usize = 5;
    /// v3: four reserved bits, then the interval in centiseconds.
    pub const MAX_ADVER_INT: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// Length of the fixed part of the message, before the addresses.
pub const HEADER_LEN: usize = field::ADDRESSES;
/// Length of the v2 authentication data after the addresses.
pub const AUTH_DATA_LEN: usize = 8;
/// The largest v3 Max Advertise Interval: 12 bits of centiseconds, 40.95 s.
pub const MAX_ADVERT_INT_CS: u16 = 0x0fff;
/// IPv4 destination of every advert (RFC 9568 §5.1.1.2).
pub const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 destination of every advert (RFC 9568 §5.1.2.2).
pub const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit of every advert; receivers drop anything else (RFC 9568 §5.1.1.3).
pub const HOP_LIMIT: u8 = 255;
/// DSCP/ECN octet keepalived puts on adverts (CS6, network control), IPv4 TOS and IPv6 traffic
/// class alike.
pub const TOS: u8 = 0xc0;

/// The virtual router MAC for IPv4, 00:00:5e:00:01:VRID (RFC 9568 §7.3).
pub const fn virtual_mac_v4(vrid: u8) -> EthernetAddress {
    EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x01, vrid])
}

/// The virtual router MAC for IPv6, 00:00:5e:00:02:VRID (RFC 9568 §7.3).
pub const fn virtual_mac_v6(vrid: u8) -> EthernetAddress {
    EthernetAddress([0x00, 0x00, 0x5e, 0x00, 0x02, vrid])
}

enum_with_unknown! {
    /// VRRP message type. Only advertisements exist.
    pub enum MessageType(u8) {
        /// ADVERTISEMENT.
        Advertisement = 1,
    }
}

enum_with_unknown! {
    /// VRRPv2 authentication type (RFC 3768 §5.3.6, RFC 2338 §5.3.6).
    pub enum AuthType(u8) {
        /// No authentication.
        None = 0,
        /// Simple text password (keepalived `auth_type PASS`): up to 8 bytes, zero padded.
        SimplePassword = 1,
    }
}

/// Which checksum a VRRPv3-over-IPv4 advert carries. Ignored for v2 (always [`MessageOnly`]) and
/// v3 over IPv6 (always [`PseudoHeader`]), whose checksums have only ever had one form.
///
/// [`MessageOnly`]: ChecksumMode::MessageOnly
/// [`PseudoHeader`]: ChecksumMode::PseudoHeader
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChecksumMode {
    /// IPv4 pseudo-header included: RFC 9568, keepalived 2.2.7, FRR. The default.
    #[default]
    PseudoHeader,
    /// VRRP message only, as in v2: keepalived's `v3_checksum_as_v2`.
    MessageOnly,
}

/// The address family of the IP header around a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// 4-byte addresses.
    Ipv4,
    /// 16-byte addresses.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }

    /// Bytes per address.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }
}

/// A read/write view of a VRRP message: the IP payload, exactly (its length is the message
/// length, which the address count is checked against).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checking that it holds the fixed header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than the 8-byte fixed header. After `Ok`, the
    /// fixed-field getters do not panic; the address and auth-data getters never do (they return
    /// `None` past the buffer). [`check_addresses`](Self::check_addresses) checks the rest.
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

    /// Length of the buffer, i.e. of the message.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buffer.as_ref().is_empty()
    }

    /// Version (upper nibble of the first byte).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    /// Type (lower nibble of the first byte).
    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[field::VER_TYPE] & 0x0f)
    }

    /// Virtual router ID.
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    /// Priority: 255 for the address owner, 0 when the master is leaving.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// Count IPvX Addrs.
    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2: authentication type.
    pub fn auth_type(&self) -> AuthType {
        AuthType::from(self.buffer.as_ref()[field::AUTH_TYPE])
    }

    /// v2: advertisement interval in seconds.
    pub fn advert_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3: the four reserved bits before the interval (zero when sent, ignored when received).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::MAX_ADVER_INT.start] >> 4
    }

    /// v3: Max Advertise Interval in centiseconds (12 bits).
    pub fn max_advert_int(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::MAX_ADVER_INT]) & MAX_ADVERT_INT_CS
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The `index`th address read as IPv4, or `None` if it lies past the buffer.
    pub fn ipv4_addr(&self, index: usize) -> Option<Ipv4Addr> {
        let start = HEADER_LEN.checked_add(index.checked_mul(4)?)?;
        self.buffer
            .as_ref()
            .get(start..start.checked_add(4)?)
            .map(bytes::ipv4)
    }

    /// The `index`th address read as IPv6, or `None` if it lies past the buffer.
    pub fn ipv6_addr(&self, index: usize) -> Option<Ipv6Addr> {
        let start = HEADER_LEN.checked_add(index.checked_mul(16)?)?;
        self.buffer
            .as_ref()
            .get(start..start.checked_add(16)?)
            .map(bytes::ipv6)
    }

    /// v2: the 8 bytes of authentication data after the `addr_count()` IPv4 addresses, or `None`
    /// if they lie past the buffer.
    pub fn auth_data(&self) -> Option<[u8; AUTH_DATA_LEN]> {
        let start = HEADER_LEN + 4 * usize::from(*self.buffer.as_ref().get(field::COUNT)?);
        let data = self.buffer.as_ref().get(start..start + AUTH_DATA_LEN)?;
        let mut auth = [0; AUTH_DATA_LEN];
        auth.copy_from_slice(data);
        Some(auth)
    }

    /// The length a message of this version and address count has with addresses of `family`.
    pub fn expected_len(&self, family: Family) -> usize {
        let addrs = usize::from(self.addr_count()) * family.addr_len();
        let auth = if self.version() == 2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        HEADER_LEN + addrs + auth
    }

    /// Checks that the message is exactly as long as its version and address count say for
    /// addresses of `family`: `Truncated` without the fixed header, `AddressCountMismatch`
    /// otherwise. After `Ok`, every address getter below `addr_count()` returns `Some`.
    pub fn check_addresses(&self, family: Family) -> Result<()> {
        self.check_len()?;
        let len = self.len();
        if len == self.expected_len(family) {
            return Ok(());
        }
        let auth = if self.version() == 2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        Err(Error::AddressCountMismatch {
            count: self.addr_count(),
            len: len.saturating_sub(HEADER_LEN + auth),
        })
    }

    /// The one's-complement sum over the message and, if asked, the pseudo-header.
    fn sum(&self, src: IpAddr, dst: IpAddr, pseudo_header: bool) -> Option<u16> {
        let data = self.buffer.as_ref();
        let message = checksum::data(data);
        if !pseudo_header {
            return Some(message);
        }
        let pseudo = match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => checksum::pseudo_header_v4(
                src,
                dst,
                IpProtocol::Vrrp,
                u16::try_from(data.len()).ok()?,
            ),
            (IpAddr::V6(src), IpAddr::V6(dst)) => checksum::pseudo_header_v6(
                src,
                dst,
                IpProtocol::Vrrp,
                u32::try_from(data.len()).ok()?,
            ),
            _ => return None,
        };
        Some(checksum::combine(&[pseudo, message]))
    }

    /// Whether the checksum verifies for this message's version, the family of `src`, and — for
    /// v3 over IPv4 only — `mode`. `src` and `dst` are the IP header's addresses.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
        if self.is_empty() {
            return false;
        }
        let pseudo = uses_pseudo_header(self.version(), Family::of(&src), mode);
        self.sum(src, dst, pseudo) == Some(0xffff)
    }

    /// Diagnostics for interop trouble: which checksum form this message actually carries,
    /// whatever its version — `Some(PseudoHeader)` if it verifies with the pseudo-header,
    /// `Some(MessageOnly)` if without, `None` if neither (a corrupt message).
    pub fn checksum_mode(&self, src: IpAddr, dst: IpAddr) -> Option<ChecksumMode> {
        if self.is_empty() {
            None
        } else if self.sum(src, dst, true) == Some(0xffff) {
            Some(ChecksumMode::PseudoHeader)
        } else if self.sum(src, dst, false) == Some(0xffff) {
            Some(ChecksumMode::MessageOnly)
        } else {
            None
        }
    }
}

/// The checksum rule of the module docs.
fn uses_pseudo_header(version: u8, family: Family, mode: ChecksumMode) -> bool {
    match (version, family) {
        (2, _) => false,
        (_, Family::Ipv6) => true,
        (_, Family::Ipv4) => mode == ChecksumMode::PseudoHeader,
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version and type.
    pub fn set_version_type(&mut self, version: u8, msg_type: MessageType) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (u8::from(msg_type) & 0x0f)
    }

    /// Sets the virtual router ID.
    pub fn set_vrid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VRID] = value
    }

    /// Sets the priority.
    pub fn set_priority(&mut self, value: u8) {
        self.buffer.as_mut()[field::PRIORITY] = value
    }

    /// Sets the address count.
    pub fn set_addr_count(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT] = value
    }

    /// v2: sets the authentication type.
    pub fn set_auth_type(&mut self, value: AuthType) {
        self.buffer.as_mut()[field::AUTH_TYPE] = value.into()
    }

    /// v2: sets the advertisement interval in seconds.
    pub fn set_advert_int(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = value
    }

    /// v3: sets the Max Advertise Interval in centiseconds and clears the reserved bits; bits
    /// above the 12th are dropped.
    pub fn set_max_advert_int(&mut self, value: u16) {
        bytes::write_u16(
            &mut self.buffer.as_mut()[field::MAX_ADVER_INT],
            value & MAX_ADVERT_INT_CS,
        )
    }

    /// Sets the checksum field as given.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], value)
    }

    /// Sets the `index`th address as IPv4.
    ///
    /// # Panics
    /// If the address lies past the buffer.
    pub fn set_ipv4_addr(&mut self, index: usize, value: Ipv4Addr) {
        let start = HEADER_LEN + 4 * index;
        self.buffer.as_mut()[start..start + 4].copy_from_slice(&value.octets())
    }

    /// Sets the `index`th address as IPv6.
    ///
    /// # Panics
    /// If the address lies past the buffer.
    pub fn set_ipv6_addr(&mut self, index: usize, value: Ipv6Addr) {
        let start = HEADER_LEN + 16 * index;
        self.buffer.as_mut()[start..start + 16].copy_from_slice(&value.octets())
    }

    /// v2: sets the authentication data after the `addr_count()` addresses.
    ///
    /// # Panics
    /// If it lies past the buffer.
    pub fn set_auth_data(&mut self, value: &[u8; AUTH_DATA_LEN]) {
        let start = HEADER_LEN + 4 * usize::from(self.addr_count());
        self.buffer.as_mut()[start..start + AUTH_DATA_LEN].copy_from_slice(value)
    }

    /// Computes and stores the checksum over the whole buffer, by the rule of
    /// [`verify_checksum`](Packet::verify_checksum). Every other field must be set first.
    ///
    /// # Panics
    /// If the buffer is shorter than the fixed header.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Result<()> {
        self.set_checksum(0);
        let pseudo = uses_pseudo_header(self.version(), Family::of(&src), mode);
        let sum = self.sum(src, dst, pseudo).ok_or(Error::Malformed(
            "source and destination address families differ",
        ))?;
        self.set_checksum(!sum);
        Ok(())
    }
}

/// VRRPv2 authentication: the type and the 8 data bytes, kept as found so an unknown type or
/// stray data round-trips. RFC 3768 deprecates authentication; keepalived still sends `PASS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Auth {
    /// Authentication type.
    pub auth_type: AuthType,
    /// Authentication data: the zero-padded password for `SimplePassword`, zero for `None`
    /// (RFC 3768 says receivers ignore it then).
    pub data: [u8; AUTH_DATA_LEN],
}

impl Auth {
    /// No authentication, zero data.
    pub const NONE: Auth = Auth {
        auth_type: AuthType::None,
        data: [0; AUTH_DATA_LEN],
    };

    /// A simple password, keepalived's `auth_type PASS`: the first 8 bytes of `password`, zero
    /// padded. keepalived likewise truncates a longer `auth_pass` to 8 bytes.
    pub fn simple(password: &[u8]) -> Auth {
        let mut data = [0; AUTH_DATA_LEN];
        let len = password.len().min(AUTH_DATA_LEN);
        data[..len].copy_from_slice(&password[..len]);
        Auth {
            auth_type: AuthType::SimplePassword,
            data,
        }
    }

    /// For `SimplePassword`, the password without its zero padding; otherwise `None`.
    pub fn password(&self) -> Option<&[u8]> {
        if self.auth_type != AuthType::SimplePassword {
            return None;
        }
        let end = self.data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        Some(&self.data[..end])
    }
}

/// The fields that differ between the two versions, with their units in the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2 (RFC 3768), IPv4 only.
    V2 {
        /// Advertisement interval in whole **seconds** (keepalived rounds `advert_int` up).
        advert_int_s: u8,
        /// Authentication.
        auth: Auth,
    },
    /// VRRPv3 (RFC 9568), IPv4 or IPv6.
    V3 {
        /// Max Advertise Interval in **centiseconds**, 12 bits (at most 4095).
        max_advert_int_cs: u16,
    },
}

impl Version {
    /// The number in the version field: 2 or 3.
    pub const fn number(&self) -> u8 {
        match self {
            Version::V2 { .. } => 2,
            Version::V3 { .. } => 3,
        }
    }

    /// The advertisement interval as a duration, whatever the version's unit.
    pub fn advert_interval(&self) -> Duration {
        match *self {
            Version::V2 { advert_int_s, .. } => Duration::from_secs(u64::from(advert_int_s)),
            Version::V3 { max_advert_int_cs } => {
                Duration::from_millis(u64::from(max_advert_int_cs) * 10)
            }
        }
    }
}

/// The addresses an advert protects, all of the IP header's family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// IPv4 addresses (v2, or v3 over IPv4).
    V4(Vec<Ipv4Addr>),
    /// IPv6 addresses (v3 over IPv6).
    V6(Vec<Ipv6Addr>),
}

impl Addresses {
    /// Their family.
    pub const fn family(&self) -> Family {
        match self {
            Addresses::V4(_) => Family::Ipv4,
            Addresses::V6(_) => Family::Ipv6,
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        match self {
            Addresses::V4(a) => a.len(),
            Addresses::V6(a) => a.len(),
        }
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each address as an `IpAddr`.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = match self {
            Addresses::V4(a) => &a[..],
            Addresses::V6(_) => &[],
        };
        let v6 = match self {
            Addresses::V6(a) => &a[..],
            Addresses::V4(_) => &[],
        };
        v4.iter()
            .map(|&a| IpAddr::V4(a))
            .chain(v6.iter().map(|&a| IpAddr::V6(a)))
    }

    /// Whether `addr` is one of them.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self, addr) {
            (Addresses::V4(list), IpAddr::V4(a)) => list.contains(&a),
            (Addresses::V6(list), IpAddr::V6(a)) => list.contains(&a),
            _ => false,
        }
    }
}

/// A validated VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Virtual router ID. 0 is not a valid VRID (RFC 9568 §5.2.3) but parses: matching VRIDs is
    /// the state machine's job.
    pub vrid: u8,
    /// Priority: 255 = address owner, 0 = the master is stepping down.
    pub priority: u8,
    /// Version and the fields that depend on it.
    pub version: Version,
    /// The virtual addresses.
    pub addresses: Addresses,
}

impl Repr {
    /// A VRRPv2 advert.
    pub fn v2(
        vrid: u8,
        priority: u8,
        advert_int_s: u8,
        auth: Auth,
        addresses: Vec<Ipv4Addr>,
    ) -> Repr {
        Repr {
            vrid,
            priority,
            version: Version::V2 { advert_int_s, auth },
            addresses: Addresses::V4(addresses),
        }
    }

    /// A VRRPv3 advert; the interval is in centiseconds.
    pub fn v3(vrid: u8, priority: u8, max_advert_int_cs: u16, addresses: Addresses) -> Repr {
        Repr {
            vrid,
            priority,
            version: Version::V3 { max_advert_int_cs },
            addresses,
        }
    }

    /// The advertisement interval as a duration.
    pub fn advert_interval(&self) -> Duration {
        self.version.advert_interval()
    }

    /// v2 authentication, `None` for v3.
    pub fn auth(&self) -> Option<&Auth> {
        match &self.version {
            Version::V2 { auth, .. } => Some(auth),
            Version::V3 { .. } => None,
        }
    }

    /// Parses and validates an advert. `packet` is the whole IP payload; `src` and `dst` are the
    /// IP header's addresses (they give the address family and feed the pseudo-header); `mode`
    /// is the checksum form expected for v3 over IPv4 (see [`ChecksumMode`]).
    ///
    /// Errors, in the order checked: `Truncated` (no fixed header), `BadVersion` (not 2 or 3),
    /// `UnknownVrrpType` (not an advertisement), `Malformed` (src/dst families differ),
    /// `Unsupported` (v2 over IPv6), `AddressCountMismatch` (length ≠ what the count says),
    /// `BadChecksum`. Unknown v2 auth types are kept, not rejected.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<Repr> {
        packet.check_len()?;
        let version = packet.version();
        if version != 2 && version != 3 {
            return Err(Error::BadVersion(version));
        }
        if packet.msg_type() != MessageType::Advertisement {
            return Err(Error::UnknownVrrpType(packet.msg_type().into()));
        }
        let family = Family::of(&src);
        if family != Family::of(&dst) {
            return Err(Error::Malformed(
                "source and destination address families differ",
            ));
        }
        if version == 2 && family == Family::Ipv6 {
            return Err(Error::Unsupported("VRRPv2 over IPv6"));
        }
        packet.check_addresses(family)?;
        if !packet.verify_checksum(src, dst, mode) {
            return Err(Error::BadChecksum);
        }

        let count = usize::from(packet.addr_count());
        // check_addresses guarantees every index below `count` is inside the buffer.
        let addresses = match family {
            Family::Ipv4 => Addresses::V4((0..count).filter_map(|i| packet.ipv4_addr(i)).collect()),
            Family::Ipv6 => Addresses::V6((0..count).filter_map(|i| packet.ipv6_addr(i)).collect()),
        };
        let version = if version == 2 {
            Version::V2 {
                advert_int_s: packet.advert_int(),
                auth: Auth {
                    auth_type: packet.auth_type(),
                    data: packet.auth_data().ok_or(Error::Truncated)?,
                },
            }
        } else {
            // The reserved bits are ignored on receipt (RFC 9568 §5.2.5) and not kept.
            Version::V3 {
                max_advert_int_cs: packet.max_advert_int(),
            }
        };
        Ok(Repr {
            vrid: packet.vrid(),
            priority: packet.priority(),
            version,
            addresses,
        })
    }

    /// Length of the message `emit` writes.
    pub fn buffer_len(&self) -> usize {
        let auth = match self.version {
            Version::V2 { .. } => AUTH_DATA_LEN,
            Version::V3 { .. } => 0,
        };
        HEADER_LEN + self.addresses.len() * self.addresses.family().addr_len() + auth
    }

    /// Checks what `emit` needs beyond the buffer: at most 255 addresses, IPv4 only for v2, an
    /// interval that fits 12 bits for v3, and `src`/`dst` of the addresses' family.
    pub fn check(&self, src: IpAddr, dst: IpAddr) -> Result<()> {
        if self.addresses.len() > usize::from(u8::MAX) {
            return Err(Error::Malformed("more than 255 VRRP addresses"));
        }
        match self.version {
            Version::V2 { .. } if self.addresses.family() != Family::Ipv4 => {
                return Err(Error::Unsupported("VRRPv2 over IPv6"));
            }
            Version::V3 { max_advert_int_cs } if max_advert_int_cs > MAX_ADVERT_INT_CS => {
                return Err(Error::Malformed("VRRPv3 interval above 4095 centiseconds"));
            }
            _ => {}
        }
        let family = self.addresses.family();
        if Family::of(&src) != family || Family::of(&dst) != family {
            return Err(Error::Malformed(
                "IP addresses of another family than the VRRP addresses",
            ));
        }
        Ok(())
    }

    /// Writes the message, checksum included, into the first `buffer_len()` bytes of the buffer;
    /// `src`, `dst` and `mode` as for [`parse`](Self::parse). Fails, writing nothing, if
    /// [`check`](Self::check) fails or the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<()> {
        self.check(src, dst)?;
        let len = self.buffer_len();
        let buffer = packet
            .buffer
            .as_mut()
            .get_mut(..len)
            .ok_or(Error::Truncated)?;
        // The checksum covers exactly the message, so work on a view of exactly its length.
        let mut packet = Packet::new_unchecked(buffer);
        packet.set_version_type(self.version.number(), MessageType::Advertisement);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        // `check` bounded the count to 255.
        packet.set_addr_count(self.addresses.len() as u8);
        match self.version {
            Version::V2 { advert_int_s, auth } => {
                packet.set_auth_type(auth.auth_type);
                packet.set_advert_int(advert_int_s);
            }
            Version::V3 { max_advert_int_cs } => packet.set_max_advert_int(max_advert_int_cs),
        }
        match &self.addresses {
            Addresses::V4(list) => {
                for (i, &addr) in list.iter().enumerate() {
                    packet.set_ipv4_addr(i, addr);
                }
            }
            Addresses::V6(list) => {
                for (i, &addr) in list.iter().enumerate() {
                    packet.set_ipv6_addr(i, addr);
                }
            }
        }
        if let Version::V2 { auth, .. } = &self.version {
            packet.set_auth_data(&auth.data);
        }
        packet.fill_checksum(src, dst, mode)
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Version::V2 { advert_int_s, auth } => write!(
                f,
                "VRRPv2 vrid={} prio={} int={}s auth={:?}",
                self.vrid, self.priority, advert_int_s, auth.auth_type
            )?,
            Version::V3 { max_advert_int_cs } => write!(
                f,
                "VRRPv3 vrid={} prio={} int={}cs",
                self.vrid, self.priority, max_advert_int_cs
            )?,
        }
        write!(f, " addrs=[")?;
        for (i, addr) in self.addresses.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{addr}")?;
        }
        write!(f, "]")
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use proptest::prelude::*;

    const N1_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
    const N2_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);
    const VIP1: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);
    const VIP2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 101);

    fn v4(a: Ipv4Addr) -> IpAddr {
        IpAddr::V4(a)
    }

    fn group_v4() -> IpAddr {
        IpAddr::V4(MULTICAST_V4)
    }

    // VRRPv2 from 10.99.0.12, keepalived-v2-pass.pcap frame 0: VRID 51, priority 100, one
    // address, auth PASS "1111", interval 1 s.
    static V2_BYTES: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, // v2 advert, VRID 51, priority 100, 1 address
        0x01, 0x01, 0x0c, 0xa1, // auth type 1, interval 1 s, checksum
        0x0a, 0x63, 0x00, 0x64, // 10.99.0.100
        0x31, 0x31, 0x31, 0x31, 0x00, 0x00, 0x00, 0x00, // "1111", zero padded
    ];

    // VRRPv3 over IPv4 from 10.99.0.11, keepalived-v3.pcap frame 1: VRID 51, priority 101, two
    // addresses, 50 cs; checksum includes the IPv4 pseudo-header.
    static V3_V4_BYTES: [u8; 16] = [
        0x31, 0x33, 0x65, 0x02, // v3 advert, VRID 51, priority 101, 2 addresses
        0x00, 0x32, 0x69, 0x08, // 50 cs, checksum
        0x0a, 0x63, 0x00, 0x64, // 10.99.0.100
        0x0a, 0x63, 0x00, 0x65, // 10.99.0.101
    ];

    // VRRPv3 over IPv6 from fe80::980b:39ff:fee5:12e7, keepalived-v3.pcap frame 12: VRID 52,
    // priority 101, one address, 50 cs.
    static V3_V6_BYTES: [u8; 24] = [
        0x31, 0x34, 0x65, 0x01, 0x00, 0x32, 0x89, 0x08, // header
        0xfd, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x00, // fd00:99::100
    ];

    fn v6_src() -> IpAddr {
        "fe80::980b:39ff:fee5:12e7".parse().unwrap()
    }

    fn group_v6() -> IpAddr {
        IpAddr::V6(MULTICAST_V6)
    }

    fn v2_repr() -> Repr {
        Repr::v2(51, 100, 1, Auth::simple(b"1111"), vec![VIP1])
    }

    fn v3_v4_repr() -> Repr {
        Repr::v3(51, 101, 50, Addresses::V4(vec![VIP1, VIP2]))
    }

    fn v3_v6_repr() -> Repr {
        Repr::v3(
            52,
            101,
            50,
            Addresses::V6(vec!["fd00:99::100".parse().unwrap()]),
        )
    }

    #[test]
    fn deconstruct_v2() {
        let packet = Packet::new_checked(&V2_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 2);
        assert_eq!(packet.msg_type(), MessageType::Advertisement);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 100);
        assert_eq!(packet.addr_count(), 1);
        assert_eq!(packet.auth_type(), AuthType::SimplePassword);
        assert_eq!(packet.advert_int(), 1);
        assert_eq!(packet.checksum(), 0x0ca1);
        assert_eq!(packet.ipv4_addr(0), Some(VIP1));
        assert_eq!(packet.auth_data(), Some(*b"1111\0\0\0\0"));
        assert_eq!(packet.expected_len(Family::Ipv4), 20);
        assert!(packet.verify_checksum(v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader));
        // The mode is ignored for v2: its checksum never has a pseudo-header.
        assert_eq!(
            packet.checksum_mode(v4(N2_V4), group_v4()),
            Some(ChecksumMode::MessageOnly)
        );
    }

    #[test]
    fn deconstruct_v3() {
        let packet = Packet::new_checked(&V3_V4_BYTES[..]).unwrap();
        assert_eq!(packet.version(), 3);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 101);
        assert_eq!(packet.addr_count(), 2);
        assert_eq!(packet.reserved(), 0);
        assert_eq!(packet.max_advert_int(), 50);
        assert_eq!(packet.checksum(), 0x6908);
        assert_eq!(packet.ipv4_addr(1), Some(VIP2));
        assert_eq!(packet.ipv4_addr(2), None);
        assert_eq!(
            packet.checksum_mode(v4(N1_V4), group_v4()),
            Some(ChecksumMode::PseudoHeader)
        );

        let packet = Packet::new_checked(&V3_V6_BYTES[..]).unwrap();
        assert_eq!(packet.ipv6_addr(0), Some("fd00:99::100".parse().unwrap()));
        assert_eq!(packet.ipv6_addr(1), None);
        assert_eq!(
            packet.checksum_mode(v6_src(), group_v6()),
            Some(ChecksumMode::PseudoHeader)
        );
    }

    #[test]
    fn construct_v2() {
        let mut bytes = [0xa5; 20];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_type(2, MessageType::Advertisement);
        packet.set_vrid(51);
        packet.set_priority(100);
        packet.set_addr_count(1);
        packet.set_auth_type(AuthType::SimplePassword);
        packet.set_advert_int(1);
        packet.set_ipv4_addr(0, VIP1);
        packet.set_auth_data(b"1111\0\0\0\0");
        packet
            .fill_checksum(v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader)
            .unwrap();
        assert_eq!(bytes, V2_BYTES);
    }

    #[test]
    fn construct_v3() {
        let mut bytes = [0xa5; 16];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version_type(3, MessageType::Advertisement);
        packet.set_vrid(51);
        packet.set_priority(101);
        packet.set_addr_count(2);
        packet.set_max_advert_int(50);
        packet.set_ipv4_addr(0, VIP1);
        packet.set_ipv4_addr(1, VIP2);
        packet
            .fill_checksum(v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader)
            .unwrap();
        assert_eq!(bytes, V3_V4_BYTES);
    }

    #[test]
    fn parse() {
        let mode = ChecksumMode::PseudoHeader;
        let parse = |bytes: &[u8], src, dst| {
            Repr::parse(&Packet::new_checked(bytes).unwrap(), src, dst, mode)
        };
        assert_eq!(parse(&V2_BYTES, v4(N2_V4), group_v4()).unwrap(), v2_repr());
        assert_eq!(
            parse(&V3_V4_BYTES, v4(N1_V4), group_v4()).unwrap(),
            v3_v4_repr()
        );
        assert_eq!(
            parse(&V3_V6_BYTES, v6_src(), group_v6()).unwrap(),
            v3_v6_repr()
        );
    }

    #[test]
    fn emit() {
        let mode = ChecksumMode::PseudoHeader;
        let cases: [(Repr, &[u8], IpAddr, IpAddr); 3] = [
            (v2_repr(), &V2_BYTES, v4(N2_V4), group_v4()),
            (v3_v4_repr(), &V3_V4_BYTES, v4(N1_V4), group_v4()),
            (v3_v6_repr(), &V3_V6_BYTES, v6_src(), group_v6()),
        ];
        for (repr, expected, src, dst) in cases {
            assert_eq!(repr.buffer_len(), expected.len());
            let mut bytes = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, mode)
                .unwrap();
            assert_eq!(bytes, expected, "{repr}");
        }
    }

    #[test]
    fn emit_leaves_bytes_after_the_message_alone() {
        let mut bytes = [0xa5; 24];
        v2_repr()
            .emit(
                &mut Packet::new_unchecked(&mut bytes[..]),
                v4(N2_V4),
                group_v4(),
                ChecksumMode::PseudoHeader,
            )
            .unwrap();
        assert_eq!(bytes[..20], V2_BYTES);
        assert_eq!(bytes[20..], [0xa5; 4]);
    }

    #[test]
    fn intervals_keep_their_units() {
        assert_eq!(v2_repr().advert_interval(), Duration::from_secs(1));
        assert_eq!(v3_v4_repr().advert_interval(), Duration::from_millis(500));
        assert_eq!(
            Version::V3 {
                max_advert_int_cs: 1
            }
            .advert_interval(),
            Duration::from_millis(10)
        );
        assert_eq!(v2_repr().version.number(), 2);
        assert_eq!(v3_v6_repr().version.number(), 3);
    }

    #[test]
    fn auth_helpers() {
        assert_eq!(Auth::simple(b"1111").password(), Some(&b"1111"[..]));
        assert_eq!(Auth::simple(b"longer than eight").data, *b"longer t");
        assert_eq!(Auth::simple(b"").password(), Some(&b""[..]));
        assert_eq!(Auth::NONE.password(), None);
        assert_eq!(v2_repr().auth(), Some(&Auth::simple(b"1111")));
        assert_eq!(v3_v4_repr().auth(), None);
    }

    #[test]
    fn virtual_macs() {
        assert_eq!(virtual_mac_v4(51).to_string(), "00:00:5e:00:01:33");
        assert_eq!(virtual_mac_v6(52).to_string(), "00:00:5e:00:02:34");
    }

    #[test]
    fn display() {
        assert_eq!(
            v3_v4_repr().to_string(),
            "VRRPv3 vrid=51 prio=101 int=50cs addrs=[10.99.0.100 10.99.0.101]"
        );
        assert_eq!(
            v2_repr().to_string(),
            "VRRPv2 vrid=51 prio=100 int=1s auth=SimplePassword addrs=[10.99.0.100]"
        );
    }

    fn parse_err(bytes: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Error {
        Repr::parse(&Packet::new_unchecked(bytes), src, dst, mode).unwrap_err()
    }

    #[test]
    fn truncated_messages() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                parse_err(
                    &V2_BYTES[..len],
                    v4(N2_V4),
                    group_v4(),
                    ChecksumMode::PseudoHeader
                ),
                Error::Truncated
            );
        }
        // Past the fixed header, a short message is one whose count claims too much.
        for len in HEADER_LEN..V2_BYTES.len() {
            assert!(matches!(
                parse_err(
                    &V2_BYTES[..len],
                    v4(N2_V4),
                    group_v4(),
                    ChecksumMode::PseudoHeader
                ),
                Error::AddressCountMismatch { count: 1, .. }
            ));
        }
        for len in HEADER_LEN..V3_V6_BYTES.len() {
            assert_eq!(
                parse_err(
                    &V3_V6_BYTES[..len],
                    v6_src(),
                    group_v6(),
                    ChecksumMode::PseudoHeader
                ),
                Error::AddressCountMismatch {
                    count: 1,
                    len: len - HEADER_LEN
                }
            );
        }
    }

    #[test]
    fn address_count_mismatch() {
        // Count says 3, two addresses present.
        let mut bytes = V3_V4_BYTES;
        bytes[3] = 3;
        assert_eq!(
            parse_err(&bytes, v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::AddressCountMismatch { count: 3, len: 8 }
        );
        // Count says 1, two present.
        bytes[3] = 1;
        assert_eq!(
            parse_err(&bytes, v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::AddressCountMismatch { count: 1, len: 8 }
        );
        // v2 without its auth data: the 4 bytes before the end are not enough.
        assert_eq!(
            parse_err(
                &V2_BYTES[..12],
                v4(N2_V4),
                group_v4(),
                ChecksumMode::PseudoHeader
            ),
            Error::AddressCountMismatch { count: 1, len: 0 }
        );
        // Trailing bytes after a whole message are a mismatch too: the IP payload is the message.
        let mut long = V2_BYTES.to_vec();
        long.extend_from_slice(&[0; 4]);
        assert_eq!(
            parse_err(&long, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::AddressCountMismatch { count: 1, len: 8 }
        );
        // A v3 IPv4 message read as if it came over IPv6: 8 bytes are not one 16-byte address.
        assert_eq!(
            parse_err(
                &V3_V4_BYTES,
                v6_src(),
                group_v6(),
                ChecksumMode::PseudoHeader
            ),
            Error::AddressCountMismatch { count: 2, len: 8 }
        );
    }

    #[test]
    fn bad_checksum() {
        for i in 0..V2_BYTES.len() {
            // Flipping a count byte changes the length rule: skip it, the mismatch test covers it.
            if i == field::COUNT || i == field::VER_TYPE {
                continue;
            }
            let mut bytes = V2_BYTES;
            bytes[i] ^= 0x01;
            assert_eq!(
                parse_err(&bytes, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
                Error::BadChecksum,
                "byte {i}"
            );
        }
        let mut bytes = V3_V6_BYTES;
        bytes[23] ^= 0x80;
        assert_eq!(
            parse_err(&bytes, v6_src(), group_v6(), ChecksumMode::PseudoHeader),
            Error::BadChecksum
        );
        // The pseudo-header counts: the same v3 message from another source fails.
        assert_eq!(
            parse_err(
                &V3_V4_BYTES,
                v4(N2_V4),
                group_v4(),
                ChecksumMode::PseudoHeader
            ),
            Error::BadChecksum
        );
    }

    #[test]
    fn v3_ipv4_checksum_modes() {
        // Re-checksum the v3 vector over the message only, as `v3_checksum_as_v2` peers do.
        let mut bytes = V3_V4_BYTES;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet
            .fill_checksum(v4(N1_V4), group_v4(), ChecksumMode::MessageOnly)
            .unwrap();
        assert_ne!(bytes, V3_V4_BYTES);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            packet.checksum_mode(v4(N1_V4), group_v4()),
            Some(ChecksumMode::MessageOnly)
        );
        assert_eq!(
            parse_err(&bytes, v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::BadChecksum
        );
        assert_eq!(
            Repr::parse(&packet, v4(N1_V4), group_v4(), ChecksumMode::MessageOnly).unwrap(),
            v3_v4_repr()
        );
        // And the keepalived vector itself is rejected by a MessageOnly receiver.
        assert_eq!(
            parse_err(
                &V3_V4_BYTES,
                v4(N1_V4),
                group_v4(),
                ChecksumMode::MessageOnly
            ),
            Error::BadChecksum
        );
        // Emitting in MessageOnly mode gives the same bytes as the re-checksummed vector.
        let mut out = [0xa5; 16];
        v3_v4_repr()
            .emit(
                &mut Packet::new_unchecked(&mut out[..]),
                v4(N1_V4),
                group_v4(),
                ChecksumMode::MessageOnly,
            )
            .unwrap();
        assert_eq!(out, bytes);
        // Over IPv6 the mode does not apply: the pseudo-header is always in.
        let packet = Packet::new_checked(&V3_V6_BYTES[..]).unwrap();
        assert!(Repr::parse(&packet, v6_src(), group_v6(), ChecksumMode::MessageOnly).is_ok());
    }

    #[test]
    fn bad_version_and_type() {
        let mut bytes = V2_BYTES;
        bytes[0] = 0x11;
        assert_eq!(
            parse_err(&bytes, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::BadVersion(1)
        );
        bytes[0] = 0x41;
        assert_eq!(
            parse_err(&bytes, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::BadVersion(4)
        );
        bytes[0] = 0x22;
        assert_eq!(
            parse_err(&bytes, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::UnknownVrrpType(2)
        );
        bytes[0] = 0x3f;
        assert_eq!(
            parse_err(&bytes, v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader),
            Error::UnknownVrrpType(15)
        );
    }

    #[test]
    fn family_errors() {
        assert!(matches!(
            parse_err(&V2_BYTES, v4(N2_V4), group_v6(), ChecksumMode::PseudoHeader),
            Error::Malformed(_)
        ));
        assert!(matches!(
            parse_err(&V2_BYTES, v6_src(), group_v6(), ChecksumMode::PseudoHeader),
            Error::Unsupported(_)
        ));
    }

    #[test]
    fn unknown_auth_type_is_kept() {
        let mut bytes = V2_BYTES;
        bytes[4] = 2; // RFC 2338 IP Authentication Header
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet
            .fill_checksum(v4(N2_V4), group_v4(), ChecksumMode::PseudoHeader)
            .unwrap();
        let repr = Repr::parse(
            &Packet::new_checked(&bytes[..]).unwrap(),
            v4(N2_V4),
            group_v4(),
            ChecksumMode::PseudoHeader,
        )
        .unwrap();
        assert_eq!(repr.auth().unwrap().auth_type, AuthType::Unknown(2));
        assert_eq!(repr.auth().unwrap().password(), None);
        let mut out = [0xa5; 20];
        repr.emit(
            &mut Packet::new_unchecked(&mut out[..]),
            v4(N2_V4),
            group_v4(),
            ChecksumMode::PseudoHeader,
        )
        .unwrap();
        assert_eq!(out, bytes);
    }

    #[test]
    fn v3_reserved_bits_are_ignored() {
        let mut bytes = V3_V4_BYTES;
        bytes[4] |= 0xf0;
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet
            .fill_checksum(v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader)
            .unwrap();
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.reserved(), 0xf);
        assert_eq!(packet.max_advert_int(), 50);
        assert_eq!(
            Repr::parse(&packet, v4(N1_V4), group_v4(), ChecksumMode::PseudoHeader).unwrap(),
            v3_v4_repr()
        );
    }

    #[test]
    fn emit_refuses_what_cannot_be_sent() {
        let mode = ChecksumMode::PseudoHeader;
        let mut buf = vec![0u8; 2048];
        let many = Repr::v3(1, 100, 100, Addresses::V4(vec![VIP1; 256]));
        assert!(matches!(
            many.emit(
                &mut Packet::new_unchecked(&mut buf[..]),
                v4(N1_V4),
                group_v4(),
                mode
            ),
            Err(Error::Malformed(_))
        ));
        let fine = Repr::v3(1, 100, 100, Addresses::V4(vec![VIP1; 255]));
        fine.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            v4(N1_V4),
            group_v4(),
            mode,
        )
        .unwrap();
        let parsed = Repr::parse(
            &Packet::new_checked(&buf[..fine.buffer_len()]).unwrap(),
            v4(N1_V4),
            group_v4(),
            mode,
        );
        assert_eq!(parsed.unwrap(), fine);

        let slow = Repr::v3(1, 100, 4096, Addresses::V4(vec![VIP1]));
        assert!(matches!(
            slow.emit(
                &mut Packet::new_unchecked(&mut buf[..]),
                v4(N1_V4),
                group_v4(),
                mode
            ),
            Err(Error::Malformed(_))
        ));
        let v2_v6 = Repr {
            version: Version::V2 {
                advert_int_s: 1,
                auth: Auth::NONE,
            },
            ..v3_v6_repr()
        };
        assert!(matches!(
            v2_v6.emit(
                &mut Packet::new_unchecked(&mut buf[..]),
                v6_src(),
                group_v6(),
                mode
            ),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(
            v3_v6_repr().emit(
                &mut Packet::new_unchecked(&mut buf[..]),
                v4(N1_V4),
                group_v4(),
                mode
            ),
            Err(Error::Malformed(_))
        ));
        let mut short = [0xa5u8; 23];
        assert_eq!(
            v3_v6_repr().emit(
                &mut Packet::new_unchecked(&mut short[..]),
                v6_src(),
                group_v6(),
                mode
            ),
            Err(Error::Truncated)
        );
        assert_eq!(short, [0xa5; 23], "a failed emit writes nothing");
    }

    fn arb_ipv4() -> impl Strategy<Value = Ipv4Addr> {
        any::<[u8; 4]>().prop_map(Ipv4Addr::from)
    }

    fn arb_ipv6() -> impl Strategy<Value = Ipv6Addr> {
        any::<[u8; 16]>().prop_map(Ipv6Addr::from)
    }

    /// A valid advert with IP source and destination of its family.
    fn arb_advert() -> impl Strategy<Value = (Repr, IpAddr, IpAddr)> {
        let auth = (0u8..4, any::<[u8; 8]>()).prop_map(|(t, data)| Auth {
            auth_type: AuthType::from(t),
            data,
        });
        let v2 = (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            auth,
            prop::collection::vec(arb_ipv4(), 0..20),
            arb_ipv4(),
            arb_ipv4(),
        )
            .prop_map(|(vrid, prio, int, auth, addrs, src, dst)| {
                (
                    Repr::v2(vrid, prio, int, auth, addrs),
                    IpAddr::V4(src),
                    IpAddr::V4(dst),
                )
            });
        let v3_v4 = (
            any::<u8>(),
            any::<u8>(),
            0..=MAX_ADVERT_INT_CS,
            prop::collection::vec(arb_ipv4(), 0..20),
            arb_ipv4(),
            arb_ipv4(),
        )
            .prop_map(|(vrid, prio, int, addrs, src, dst)| {
                (
                    Repr::v3(vrid, prio, int, Addresses::V4(addrs)),
                    IpAddr::V4(src),
                    IpAddr::V4(dst),
                )
            });
        let v3_v6 = (
            any::<u8>(),
            any::<u8>(),
            0..=MAX_ADVERT_INT_CS,
            prop::collection::vec(arb_ipv6(), 0..20),
            arb_ipv6(),
            arb_ipv6(),
        )
            .prop_map(|(vrid, prio, int, addrs, src, dst)| {
                (
                    Repr::v3(vrid, prio, int, Addresses::V6(addrs)),
                    IpAddr::V6(src),
                    IpAddr::V6(dst),
                )
            });
        prop_oneof![v2, v3_v4, v3_v6]
    }

    fn arb_mode() -> impl Strategy<Value = ChecksumMode> {
        prop_oneof![
            Just(ChecksumMode::PseudoHeader),
            Just(ChecksumMode::MessageOnly)
        ]
    }

    proptest! {
        #[test]
        fn emit_then_parse_round_trips((repr, src, dst) in arb_advert(), mode in arb_mode()) {
            let mut bytes = vec![0xa5; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, mode).unwrap();
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet, src, dst, mode).unwrap(), repr.clone());
            // And emitting what was parsed gives the same bytes.
            let mut again = vec![0x5a; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut again[..]), src, dst, mode).unwrap();
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn parse_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..96),
            header in any::<[u8; 8]>(),
            use_header in any::<bool>(),
            v6 in any::<bool>(),
            mode in arb_mode(),
        ) {
            // Half the time, start from a plausible header so the deeper checks are reached.
            let mut bytes = bytes;
            if use_header && bytes.len() >= 8 {
                bytes[..8].copy_from_slice(&header);
                bytes[0] = 0x20 | (header[0] & 0x11);
            }
            let (src, dst) = if v6 { (v6_src(), group_v6()) } else { (v4(N1_V4), group_v4()) };
            let packet = Packet::new_unchecked(&bytes[..]);
            let _ = Repr::parse(&packet, src, dst, mode);
            let _ = packet.checksum_mode(src, dst);
            let _ = packet.auth_data();
            let _ = packet.ipv6_addr(usize::MAX);
            let _ = packet.ipv4_addr(usize::MAX / 2);
        }
    }
}
