//! Frames built byte by byte, independently of havip's own `wire` module, so that a bug there
//! cannot hide a bug in the XDP program.

pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An Ethernet + ARP (Ethernet/IPv4) frame, 42 bytes.
#[allow(clippy::too_many_arguments)]
pub fn arp(
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x08, 0x06]); // EtherType ARP
    f.extend_from_slice(&[0x00, 0x01, 0x08, 0x00, 6, 4]); // Ethernet, IPv4, hlen, plen
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f
}

/// A broadcast ARP request from `sha`/`spa` asking for `tpa`.
pub fn arp_request(sha: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    arp(BROADCAST, sha, 1, sha, spa, [0; 6], tpa)
}

/// Inserts an 802.1Q tag (VLAN `vid`) after the MAC addresses.
pub fn vlan_tag(frame: &[u8], vid: u16) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(&[0x81, 0x00]);
    f.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    f.extend_from_slice(&frame[12..]);
    f
}

/// A minimal IPv4/UDP frame (checksums zero: nothing on the XDP path verifies them).
pub fn ipv4_udp(eth_src: [u8; 6], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&eth_src);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 8, 0, 0]);
    f
}

/// The frames of a keepalived capture from `havip-proto/tests/data/`, read by the crate's own
/// pcap reader (`havip::wire::pcap`: the file format only; the frames' contents are checked
/// here byte by byte, not by havip's parsers).
pub fn vector(name: &str) -> Vec<Vec<u8>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../havip-proto/tests/data")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    havip::wire::pcap::records(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .map(|r| r.data.to_vec())
        .collect()
}

/// Whether `frame` is an IPv4 VRRP packet (Ethernet, no VLAN).
pub fn is_vrrp_v4(frame: &[u8]) -> bool {
    frame.len() > 34 && frame[12..14] == [0x08, 0x00] && frame[23] == 112
}

/// Whether `frame` is an IPv6 VRRP packet (no extension headers).
pub fn is_vrrp_v6(frame: &[u8]) -> bool {
    frame.len() > 54 && frame[12..14] == [0x86, 0xdd] && frame[20] == 112
}

/// Sends `frame` `count` times out of `iface` (in the calling thread's namespace) with an
/// AF_PACKET socket.
pub fn send_raw(iface: &str, frame: &[u8], count: usize) {
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: plain syscalls on a socket this function owns.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex != 0, "no {iface}");
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET: {}", std::io::Error::last_os_error());
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&frame[..6]);
    for _ in 0..count {
        let rc = unsafe {
            libc::sendto(
                sock.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            rc as usize,
            frame.len(),
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Recomputes the IPv4 header checksum of an Ethernet frame after a header field was patched
/// (bridges with br_netfilter drop frames whose checksum is wrong).
pub fn fix_ipv4_checksum(frame: &mut [u8]) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    frame[24] = 0;
    frame[25] = 0;
    let mut sum = 0u32;
    for c in frame[14..14 + ihl].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    frame[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// An ICMPv6 neighbour solicitation from `src_mac`/`src` for `target`, to the target's
/// solicited-node multicast address (checksum left zero: nothing on the XDP path checks it).
pub fn neighbour_solicitation(src_mac: [u8; 6], src: [u8; 16], target: [u8; 16]) -> Vec<u8> {
    let mut dst = [0u8; 16];
    dst[..13].copy_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
    dst[13..].copy_from_slice(&target[13..]);
    let mut f = Vec::new();
    f.extend_from_slice(&[0x33, 0x33, dst[12], dst[13], dst[14], dst[15]]);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x86, 0xdd]);
    let payload_len: u16 = 8 + 16 + 8;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&payload_len.to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&target);
    f.extend_from_slice(&[1, 1]);
    f.extend_from_slice(&src_mac);
    f
}
