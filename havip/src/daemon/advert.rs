//! Adverts between the wire and the election, both ways, with no I/O: which router a received
//! packet is for ([`peek_vrid`]), the packet decoded into what `VirtualRouter::handle_advert`
//! takes ([`decode`], [`to_rx_advert`]), and the advert a router asks for encoded
//! ([`advert_repr`]). The driver loop and the instances call these; the tests below run them
//! against the real router, so a mistake here shows without a lab.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::{
    model::VrrpSpec,
    net::sockets::V6Meta,
    vrrp::{AdvertAuth, Centis, RxAdvert, Version},
    wire::{
        self, parse_ip_advert, ChecksumMode, VrrpAddresses, VrrpAuth, VrrpAuthType, VrrpPacket,
        VrrpRepr, VrrpVersion,
    },
};

/// The VRID of a VRRP packet (from its IP header on) and whether it is IPv6, without parsing
/// all of it.
pub(super) fn peek_vrid(packet: &[u8]) -> Option<(u8, bool)> {
    let first = *packet.first()?;
    match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            Some((*packet.get(ihl + 1)?, false))
        }
        6 => Some((*packet.get(40 + 1)?, true)),
        _ => None,
    }
}

/// As [`peek_vrid`], for what a reader hands over: a raw IPv6 socket (`v6` is what the kernel
/// said of the stripped header) gives the VRRP message alone; everything else starts at the IP
/// header.
pub(crate) fn peek(packet: &[u8], v6: Option<&V6Meta>) -> Option<(u8, bool)> {
    match v6 {
        Some(_) => packet.get(1).map(|vrid| (*vrid, true)),
        None => peek_vrid(packet),
    }
}

/// A received advert, checked (lengths, checksum in `checksum`'s mode) and turned into the
/// router's input. `v6` as for [`peek`].
pub(crate) fn decode(
    packet: &[u8],
    v6: Option<&V6Meta>,
    checksum: ChecksumMode,
) -> wire::Result<RxAdvert> {
    match v6 {
        Some(meta) => VrrpPacket::new_checked(packet)
            .and_then(|p| VrrpRepr::parse(&p, meta.src.into(), meta.dst.into(), checksum))
            .map(|repr| to_rx_advert(meta.src.into(), meta.hop_limit, &repr)),
        None => parse_ip_advert(packet, checksum)
            .map(|(ip, repr)| to_rx_advert(ip.src_addr(), ip.hop_limit(), &repr)),
    }
}

/// The advert a router asks for, in its version and family.
pub(super) fn advert_repr(
    v: &VrrpSpec,
    priority: u8,
    max_adver_int: Centis,
    addrs: &[IpAddr],
) -> VrrpRepr {
    let v4: Vec<Ipv4Addr> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = addrs
        .iter()
        .filter_map(|a| match a {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    match v.version {
        Version::V2 => VrrpRepr::v2(
            v.vrid,
            priority,
            (max_adver_int.0 / 100) as u8,
            v.auth.map_or(VrrpAuth::NONE, |p| VrrpAuth::simple(&p)),
            v4,
        ),
        Version::V3 if !v6.is_empty() => {
            VrrpRepr::v3(v.vrid, priority, max_adver_int.0, VrrpAddresses::V6(v6))
        }
        Version::V3 => VrrpRepr::v3(v.vrid, priority, max_adver_int.0, VrrpAddresses::V4(v4)),
    }
}

/// A parsed advert from `src` with TTL (hop limit) `ttl`, as the router takes it.
pub(super) fn to_rx_advert(src: IpAddr, ttl: u8, repr: &VrrpRepr) -> RxAdvert {
    let (version, max_adver_int, auth) = match repr.version {
        VrrpVersion::V2 { advert_int_s, auth } => (
            Version::V2,
            Centis::from_secs(advert_int_s),
            match auth.auth_type {
                VrrpAuthType::None => AdvertAuth::None,
                VrrpAuthType::SimplePassword => AdvertAuth::Pass(auth.data),
                VrrpAuthType::Unknown(t) => AdvertAuth::Other(t),
            },
        ),
        VrrpVersion::V3 { max_advert_int_cs } => {
            (Version::V3, Centis(max_advert_int_cs), AdvertAuth::None)
        }
    };
    RxAdvert {
        src,
        ttl,
        version,
        vrid: repr.vrid,
        priority: repr.priority,
        max_adver_int,
        addresses: repr.addresses.iter().collect(),
        auth,
    }
}

#[cfg(test)]
mod tests {
    //! Emit what a peer's router asks for → decode it the way the driver loop does → feed it to
    //! a real `VirtualRouter`: the whole receive path but the socket.

    use std::time::Instant;

    use super::*;
    use crate::{
        model::VipSpec,
        vrrp::{AdvertOutcome, DropReason, State, VirtualRouter},
        wire::{EthernetAddress, VrrpFrame},
    };

    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn vip(addr: &str, prefix_len: u8) -> VipSpec {
        VipSpec {
            addr: addr.parse().unwrap(),
            prefix_len,
            label: None,
        }
    }

    /// Our router (priority 100, backup after start-up) for `v`, with `vips`, at `primary`.
    fn backup(v: &VrrpSpec, vips: &[VipSpec], primary: &str, now: Instant) -> VirtualRouter {
        let mut r = VirtualRouter::new(v.router_config(vips, primary.parse().unwrap())).unwrap();
        r.startup(now);
        while r.poll_action().is_some() {}
        assert_eq!(r.state(), State::Backup);
        r
    }

    /// The bytes a peer at `src` sends for `repr`, from the IP header on (what a raw IPv4
    /// socket or the ring buffer hands the driver loop).
    fn ip_packet(src: IpAddr, repr: VrrpRepr, checksum: ChecksumMode) -> Vec<u8> {
        let frame = match src {
            IpAddr::V4(s) => VrrpFrame::new_v4(PEER_MAC, s, 1, repr),
            IpAddr::V6(s) => VrrpFrame::new_v6(PEER_MAC, s, repr),
        };
        frame.to_bytes(checksum).unwrap()[14..].to_vec()
    }

    /// RFC 3768 §5.3.6 (v2 simple password): a peer's advert with the right password is
    /// accepted and its priority counts; the same advert with another password is dropped as
    /// an authentication failure.
    #[test]
    fn v2_with_auth_round_trips_and_a_wrong_password_is_refused() {
        let now = Instant::now();
        let vips = [vip("10.0.0.100", 24)];
        let ours = VrrpSpec {
            version: Version::V2,
            advert_interval: Centis(100),
            auth: Some(*b"secret\0\0"),
            ..VrrpSpec::new(7, 100)
        };
        let mut r = backup(&ours, &vips, "10.0.0.1", now);
        let peer = VrrpSpec {
            priority: 200,
            ..ours.clone()
        };
        let repr = advert_repr(&peer, 200, Centis(100), &[vips[0].addr]);
        let src: IpAddr = "10.0.0.2".parse().unwrap();
        let bytes = ip_packet(src, repr, ChecksumMode::PseudoHeader);
        assert_eq!(peek(&bytes, None), Some((7, false)));
        let rx = decode(&bytes, None, ChecksumMode::PseudoHeader).unwrap();
        assert_eq!((rx.src, rx.ttl, rx.priority), (src, 255, 200));
        assert_eq!(rx.auth, AdvertAuth::Pass(*b"secret\0\0"));
        assert_eq!(rx.max_adver_int, Centis(100));
        assert_eq!(
            r.handle_advert(now, &rx),
            AdvertOutcome::Accepted {
                address_list_mismatch: false
            }
        );
        assert_eq!(r.master_addr(), Some(src));

        let intruder = VrrpSpec {
            auth: Some(*b"guess\0\0\0"),
            ..peer
        };
        let repr = advert_repr(&intruder, 200, Centis(100), &[vips[0].addr]);
        let rx = decode(
            &ip_packet(src, repr, ChecksumMode::PseudoHeader),
            None,
            ChecksumMode::PseudoHeader,
        )
        .unwrap();
        assert_eq!(
            r.handle_advert(now, &rx),
            AdvertOutcome::Dropped(DropReason::Auth)
        );
        assert_eq!(r.counters().rejected.get(DropReason::Auth), 1);
    }

    /// RFC 9568 §5.2.7: a v3 IPv4 advert carries the interval in centiseconds; with the
    /// pseudo-header checksum (RFC) and without it (keepalived's `v3_checksum_as_v2`),
    /// as long as both ends agree.
    #[test]
    fn v3_ipv4_round_trips_in_both_checksum_modes() {
        let now = Instant::now();
        let vips = [vip("10.0.0.100", 24), vip("10.0.0.101", 24)];
        let addrs: Vec<IpAddr> = vips.iter().map(|v| v.addr).collect();
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::MessageOnly] {
            let ours = VrrpSpec {
                version: Version::V3,
                advert_interval: Centis(20),
                checksum: mode,
                ..VrrpSpec::new(42, 100)
            };
            let mut r = backup(&ours, &vips, "10.0.0.1", now);
            let repr = advert_repr(&ours, 150, Centis(20), &addrs);
            let src: IpAddr = "10.0.0.2".parse().unwrap();
            let bytes = ip_packet(src, repr, mode);
            assert_eq!(peek(&bytes, None), Some((42, false)));
            let rx = decode(&bytes, None, mode).unwrap();
            assert_eq!(rx.version, Version::V3);
            assert_eq!(rx.max_adver_int, Centis(20));
            assert_eq!(rx.addresses, addrs);
            assert_eq!(rx.auth, AdvertAuth::None);
            assert_eq!(
                r.handle_advert(now, &rx),
                AdvertOutcome::Accepted {
                    address_list_mismatch: false
                },
                "{mode:?}"
            );
            assert_eq!(r.counters().adverts_received, 1);
        }
    }

    /// RFC 9568 §5.1.2: IPv6 adverts, as the ring buffer hands them over (from the IPv6 header
    /// on) and as a raw IPv6 socket does (the VRRP message alone, addresses and hop limit from
    /// ancillary data): both decode to the same advert, which the router accepts.
    #[test]
    fn v3_ipv6_round_trips_from_the_header_and_from_a_raw_socket() {
        let now = Instant::now();
        let vips = [vip("2001:db8::100", 64)];
        let addrs = [vips[0].addr];
        let ours = VrrpSpec {
            version: Version::V3,
            ..VrrpSpec::new(9, 100)
        };
        let repr = advert_repr(&ours, 120, Centis(100), &addrs);
        assert!(matches!(repr.addresses, VrrpAddresses::V6(_)));
        let src: Ipv6Addr = "fe80::2".parse().unwrap();
        let mode = ChecksumMode::PseudoHeader;

        let bytes = ip_packet(src.into(), repr.clone(), mode);
        assert_eq!(peek(&bytes, None), Some((9, true)));
        let from_ring = decode(&bytes, None, mode).unwrap();

        let meta = V6Meta {
            src,
            dst: "ff02::12".parse().unwrap(),
            hop_limit: 255,
        };
        let vrrp_only = &bytes[40..];
        assert_eq!(peek(vrrp_only, Some(&meta)), Some((9, true)));
        let from_socket = decode(vrrp_only, Some(&meta), mode).unwrap();
        assert_eq!(from_ring, from_socket);
        assert_eq!((from_socket.src, from_socket.ttl), (IpAddr::V6(src), 255));

        let mut r = backup(&ours, &vips, "fe80::1", now);
        assert_eq!(
            r.handle_advert(now, &from_socket),
            AdvertOutcome::Accepted {
                address_list_mismatch: false
            }
        );
        assert_eq!(r.master_addr(), Some(IpAddr::V6(src)));
    }

    /// Bad input is an error or `None`, never a panic: truncated, garbage, a flipped bit under
    /// the checksum, a header length pointing past the end, a hop limit the router refuses.
    #[test]
    fn malformed_input_is_refused_without_panicking() {
        let ours = VrrpSpec {
            version: Version::V3,
            ..VrrpSpec::new(42, 100)
        };
        let mode = ChecksumMode::PseudoHeader;
        let repr = advert_repr(&ours, 150, Centis(100), &["10.0.0.100".parse().unwrap()]);
        let good = ip_packet("10.0.0.2".parse().unwrap(), repr, mode);
        assert!(decode(&good, None, mode).is_ok());

        assert_eq!(peek_vrid(&[]), None);
        assert_eq!(peek_vrid(&[0x45, 0, 0]), None, "IHL says 20 bytes, 3 given");
        assert_eq!(peek_vrid(&[0x5f; 64]), None, "IP version 5");
        assert_eq!(peek_vrid(&[0x60; 20]), None, "IPv6 header cut short");
        assert_eq!(peek(&[], Some(&v6_meta())), None);

        for len in 0..good.len() {
            assert!(
                decode(&good[..len], None, mode).is_err(),
                "cut to {len} bytes"
            );
        }
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode(&flipped, None, mode).is_err(), "checksum");
        let mut other_mode = good.clone();
        other_mode[20 + 6] ^= 0xff;
        assert!(decode(&other_mode, None, mode).is_err(), "checksum field");
        assert!(decode(&[0x5f; 64], None, mode).is_err());
        assert!(
            decode(&good[20..], Some(&v6_meta()), mode).is_err(),
            "IPv4 advert as IPv6"
        );

        // Decodes, but the router refuses it: a routed advert (RFC 9568 §7.1, TTL 255).
        let now = Instant::now();
        let mut r = backup(&ours, &[vip("10.0.0.100", 24)], "10.0.0.1", now);
        let mut rx = decode(&good, None, mode).unwrap();
        rx.ttl = 64;
        assert_eq!(
            r.handle_advert(now, &rx),
            AdvertOutcome::Dropped(DropReason::Ttl)
        );
    }

    fn v6_meta() -> V6Meta {
        V6Meta {
            src: "fe80::2".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
            hop_limit: 255,
        }
    }

    /// v2 carries whole seconds: the router's centiseconds are divided down, as keepalived.
    #[test]
    fn v2_advert_interval_is_in_seconds() {
        let v = VrrpSpec {
            version: Version::V2,
            ..VrrpSpec::new(1, 100)
        };
        let repr = advert_repr(&v, 100, Centis(300), &["10.0.0.1".parse().unwrap()]);
        assert!(matches!(
            repr.version,
            VrrpVersion::V2 {
                advert_int_s: 3,
                ..
            }
        ));
    }
}
