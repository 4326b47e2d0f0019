//! The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-headers, in one place, for IPv4
//! headers, ICMPv6 and VRRP.
//!
//! The functions return the one's-complement *sum* (not yet complemented), so partial sums over a
//! pseudo-header and a payload can be [`combine`]d; the value to store in a checksum field is
//! `!combine(&[..])`. A buffer whose stored checksum is right sums to `0xffff`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ip::IpProtocol;

/// Folds a 32-bit accumulator into 16 bits, carrying the overflow back in (end-around carry).
fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// One's-complement sum of `data` taken as big-endian 16-bit words; an odd last byte is padded
/// with a zero byte, as RFC 1071 says.
pub fn data(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for word in &mut chunks {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        // Fold every step so the accumulator cannot overflow, whatever the length.
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    fold(sum)
}

/// One's-complement sum of partial sums.
pub fn combine(checksums: &[u16]) -> u16 {
    let sum: u32 = checksums.iter().map(|&c| u32::from(c)).sum();
    fold(sum)
}

/// Sum of the IPv4 pseudo-header (RFC 768 / RFC 793): source, destination, zero, protocol and
/// the upper-layer length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let mut header = [0u8; 12];
    header[0..4].copy_from_slice(&src.octets());
    header[4..8].copy_from_slice(&dst.octets());
    header[9] = protocol.into();
    header[10..12].copy_from_slice(&length.to_be_bytes());
    data(&header)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit upper-layer length,
/// three zero bytes and the next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: IpProtocol, length: u32) -> u16 {
    let mut header = [0u8; 40];
    header[0..16].copy_from_slice(&src.octets());
    header[16..32].copy_from_slice(&dst.octets());
    header[32..36].copy_from_slice(&length.to_be_bytes());
    header[39] = next_header.into();
    data(&header)
}

#[cfg(test)]
mod test {
    use super::*;

    // RFC 1071 §3 worked example: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    #[test]
    fn rfc1071_example() {
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(combine(&[0xffff, 0x0002]), 0x0002);
        // A long run of 0xffff must not overflow the accumulator.
        assert_eq!(data(&[0xff; 200_000]), 0xffff);
    }

    #[test]
    fn split_sums_combine_at_even_offsets() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        assert_eq!(
            combine(&[data(&bytes[..100]), data(&bytes[100..])]),
            data(&bytes)
        );
    }

    // The IPv4 header of the first VRRPv2 advert in keepalived-v2-pass.pcap, stored checksum
    // included, sums to 0xffff.
    #[test]
    fn ipv4_header_from_vector_verifies() {
        let header = [
            0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x23, 0x0a, 0x63,
            0x00, 0x0c, 0xe0, 0x00, 0x00, 0x12,
        ];
        assert_eq!(data(&header), 0xffff);
    }

    #[test]
    fn pseudo_headers() {
        let v4 = pseudo_header_v4(
            Ipv4Addr::new(10, 99, 0, 11),
            Ipv4Addr::new(224, 0, 0, 18),
            IpProtocol::Vrrp,
            16,
        );
        // 0a63 + 000b + e000 + 0012 + 0070 + 0010, folded.
        assert_eq!(
            v4,
            fold(0x0a63 + 0x000b + 0xe000 + 0x0012 + 0x0070 + 0x0010)
        );
        let v6 = pseudo_header_v6(
            "fe80::1".parse().unwrap(),
            "ff02::12".parse().unwrap(),
            IpProtocol::Vrrp,
            24,
        );
        assert_eq!(
            v6,
            fold(0xfe80 + 0x0001 + 0xff02 + 0x0012 + 0x0018 + 0x0070)
        );
    }
}
