//! The parser fuzz targets, one function per target, each taking arbitrary bytes: the
//! coverage-guided targets in `fuzz/` (cargo-fuzz, `cargo xtask fuzz-parsers`) and the unit
//! tier's bounded run over the committed corpus (`havip/tests/fuzz_parsers.rs`) both call
//! these, so the two cannot drift. Not an API: hidden from the docs, used by nothing else.
//!
//! Each target feeds the bytes to the entry points the daemon really uses on untrusted input,
//! and panics only when a promise breaks: a parser must return an error, never panic, and
//! what it parsed must survive re-encoding (`parse(emit(parse(x))) == parse(x)`).

use std::{
    ffi::OsString,
    net::{IpAddr, Ipv6Addr},
    os::unix::ffi::OsStringExt as _,
    path::PathBuf,
    sync::OnceLock,
};

use clap::Parser as _;

use crate::{
    cli::{Cli, Command},
    config::{self, Format, ReadOptions},
    daemon::advert,
    net::sockets::V6Meta,
    wire::{
        pcap, ArpFrame, ChecksumMode, IpRepr, NeighborAdvertFrame, VrrpFrame, VrrpPacket, VrrpRepr,
    },
};

/// A target: arbitrary bytes in, a panic when a promise breaks.
pub type Target = fn(&[u8]);

/// The targets by name, as `fuzz/fuzz_targets/` and the corpus directories call them.
pub const TARGETS: [(&str, Target); 4] = [
    ("wire", wire),
    ("keepalived_conf", keepalived_conf),
    ("toml", toml),
    ("cli", cli),
];

/// Received bytes, every way the daemon and the tests read them: an advert from its IP header
/// on (the ring buffer, a raw IPv4 socket) and a VRRP message alone (a raw IPv6 socket), both
/// checksum modes, through `daemon::advert` as the driver loop does; whole Ethernet frames
/// (VRRP, ARP, neighbour advertisements); and the bytes as a pcap file, each record a frame.
pub fn wire(data: &[u8]) {
    frames(data);
    if let Ok(records) = pcap::records(data) {
        for r in records {
            assert!(r.data.len() <= data.len(), "a record beyond the file");
            frames(r.data);
        }
    }
}

fn frames(data: &[u8]) {
    // What a raw IPv6 socket reports beside the message: keepalived's link-local source, the
    // VRRP group, hop limit 255.
    let meta = V6Meta {
        src: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        dst: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
        hop_limit: 255,
    };
    for mode in [ChecksumMode::PseudoHeader, ChecksumMode::MessageOnly] {
        // From the IP header on.
        let peeked = advert::peek(data, None);
        if let Ok(rx) = advert::decode(data, None, mode) {
            assert_eq!(
                peeked.map(|p| p.0),
                Some(rx.vrid),
                "peek and decode disagree on the VRID"
            );
        }
        // The message alone, from a raw IPv6 socket.
        if let Ok(rx) = advert::decode(data, Some(&meta), mode) {
            assert_eq!(advert::peek(data, Some(&meta)), Some((rx.vrid, true)));
            let repr = VrrpPacket::new_checked(data)
                .and_then(|p| VrrpRepr::parse(&p, meta.src.into(), meta.dst.into(), mode))
                .expect("decode accepted it");
            message_round_trip(&repr, meta.src.into(), meta.dst.into(), mode);
        }
        // The message alone with its checksum made right, between IPv4 and between IPv6
        // addresses: what lies behind the checksum (address lists, v2 authentication, the
        // round trip) with values a fuzzer would rarely match with a valid checksum by chance.
        for (src, dst) in [
            (IpAddr::from([192, 0, 2, 1]), IpAddr::from([224, 0, 0, 18])),
            (meta.src.into(), meta.dst.into()),
        ] {
            let mut fixed = data.to_vec();
            let mut packet = VrrpPacket::new_unchecked(&mut fixed[..]);
            if packet.check_len().is_ok() && packet.fill_checksum(src, dst, mode).is_ok() {
                if let Ok(repr) =
                    VrrpRepr::parse(&VrrpPacket::new_unchecked(&fixed[..]), src, dst, mode)
                {
                    message_round_trip(&repr, src, dst, mode);
                }
            }
        }
        // A whole frame, as the vector tests and the labs read captures.
        if let Ok(frame) = VrrpFrame::parse(data, mode) {
            message_round_trip(&frame.vrrp, frame.ip.src_addr(), frame.ip.dst_addr(), mode);
            let bytes = frame.to_bytes(mode).expect("a parsed frame re-encodes");
            let again = VrrpFrame::parse(&bytes, mode).expect("a re-encoded frame parses");
            // The payload length is the emitter's to compute; everything else must survive.
            let mut expect = frame.clone();
            match &mut expect.ip {
                IpRepr::V4(ip) => ip.payload_len = frame.vrrp.buffer_len(),
                IpRepr::V6(ip) => ip.payload_len = frame.vrrp.buffer_len(),
            }
            assert_eq!(again, expect, "VRRP frame round trip");
        }
    }
    if let Ok(frame) = ArpFrame::parse(data) {
        let bytes = frame.to_bytes().expect("a parsed ARP frame re-encodes");
        assert_eq!(ArpFrame::parse(&bytes), Ok(frame), "ARP frame round trip");
    }
    if let Ok(frame) = NeighborAdvertFrame::parse(data) {
        let bytes = frame.to_bytes().expect("a parsed NA frame re-encodes");
        // Options other than the target link-layer address are skipped (RFC 4861 §4.6), so the
        // payload length may shrink; everything else must survive.
        let mut expect = frame;
        expect.ip.payload_len = frame.na.buffer_len();
        assert_eq!(
            NeighborAdvertFrame::parse(&bytes),
            Ok(expect),
            "neighbour advertisement round trip"
        );
    }
}

/// `parse(emit(repr)) == repr` for a VRRP message between `src` and `dst`.
fn message_round_trip(repr: &VrrpRepr, src: IpAddr, dst: IpAddr, mode: ChecksumMode) {
    let mut buf = vec![0xa5; repr.buffer_len()];
    repr.emit(&mut VrrpPacket::new_unchecked(&mut buf[..]), src, dst, mode)
        .expect("a parsed advert re-encodes");
    let again = VrrpPacket::new_checked(&buf[..])
        .and_then(|p| VrrpRepr::parse(&p, src, dst, mode))
        .expect("a re-encoded advert parses");
    assert_eq!(&again, repr, "VRRP message round trip");
}

/// The bytes as a keepalived.conf (invalid UTF-8 replaced, as no reader would get further),
/// with `@ID` lines for the id "fuzz" and includes confined to a directory that does not
/// exist; then
/// what `check-config` prints, the spec or the diagnostics.
pub fn keepalived_conf(data: &[u8]) {
    load(data, Format::Keepalived, "fuzz.conf");
}

/// The bytes as havip's TOML format; then what `check-config` prints.
pub fn toml(data: &[u8]) {
    load(data, Format::Toml, "fuzz.toml");
}

fn load(data: &[u8], format: Format, name: &str) {
    let text = String::from_utf8_lossy(data);
    let opts = ReadOptions {
        config_id: Some("fuzz".into()),
        include_root: Some(include_root().clone()),
    };
    match config::load_str(name, &text, format, &opts) {
        Ok(loaded) => {
            let _ = config::render(&loaded.spec);
            for w in &loaded.warnings {
                assert!(
                    !w.is_error(),
                    "an error among the warnings of a valid config"
                );
                let _ = w.to_string();
            }
        }
        Err(e) => {
            if let config::LoadError::Invalid { diagnostics } = &e {
                assert!(
                    diagnostics.iter().any(|d| d.is_error()),
                    "refused without an error: {e}"
                );
            }
            let _ = e.to_string();
        }
    }
}

/// The root confined includes resolve under: a directory that does not exist, so an include
/// reads nothing and costs a glob of nothing, while the reader's include rules still run. Not
/// created, so that no run leaves a directory behind (should someone create it, includes stay
/// confined to it all the same).
fn include_root() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join("havip-fuzz-no-includes"))
}

/// The bytes as `havip`'s argument vector (NUL-separated, not necessarily UTF-8, as argv is),
/// parsed by clap as `main` does; a `run` with instance flags is turned into its spec; an
/// error is rendered as the user would see it.
pub fn cli(data: &[u8]) {
    let argv = std::iter::once(OsString::from("havip")).chain(
        data.split(|b| *b == 0)
            .map(|a| OsString::from_vec(a.to_vec())),
    );
    match Cli::try_parse_from(argv) {
        Ok(cli) => {
            if let Some(Command::Run(run)) = &cli.command {
                if run.config.is_none() {
                    let _ = run.to_spec();
                }
            }
        }
        Err(e) => {
            let _ = e.render().to_string();
        }
    }
}
