//! Against keepalived 2.2.7's own BFD, captured (`havip-proto/tests/data/keepalived-bfd-*.pcap`,
//! how in `keepalived-bfd.md`): every packet it sent parses and emits back to the same bytes, and
//! a havip session put in one keepalived's place answers the other as keepalived did.

use std::time::Duration;

use super::*;
use crate::vrrp::sim::epoch;
use crate::wire::pcap;

static FILES: [(&str, &[u8]); 8] = [
    (
        "up",
        include_bytes!("../../tests/data/keepalived-bfd-up.pcap"),
    ),
    (
        "sigterm",
        include_bytes!("../../tests/data/keepalived-bfd-sigterm.pcap"),
    ),
    (
        "restart-after-sigterm",
        include_bytes!("../../tests/data/keepalived-bfd-restart-after-sigterm.pcap"),
    ),
    (
        "sigkill",
        include_bytes!("../../tests/data/keepalived-bfd-sigkill.pcap"),
    ),
    (
        "restart-after-sigkill",
        include_bytes!("../../tests/data/keepalived-bfd-restart-after-sigkill.pcap"),
    ),
    (
        "passive",
        include_bytes!("../../tests/data/keepalived-bfd-passive.pcap"),
    ),
    (
        "scripted-peer",
        include_bytes!("../../tests/data/keepalived-bfd-scripted-peer.pcap"),
    ),
    (
        "scripted-junk",
        include_bytes!("../../tests/data/keepalived-bfd-scripted-junk.pcap"),
    ),
];

/// A captured frame's BFD packet: source address's last byte, TTL, UDP payload, capture time.
/// Read from raw header bytes (Ethernet, IPv4 without options, UDP), not with the parser under test.
struct Frame<'a> {
    from: u8,
    ttl: u8,
    payload: &'a [u8],
    at: Duration,
}

fn frames(file: &[u8]) -> Vec<Frame<'_>> {
    pcap::records(file)
        .unwrap()
        .into_iter()
        .map(|r| {
            let d = r.data;
            assert_eq!(&d[12..14], &[8, 0], "IPv4");
            assert_eq!(d[14], 0x45, "no IP options");
            assert_eq!(d[23], 17, "UDP");
            assert_eq!(u16::from_be_bytes([d[36], d[37]]), CONTROL_PORT);
            let udp_len = usize::from(u16::from_be_bytes([d[38], d[39]]));
            Frame {
                from: d[29],
                ttl: d[22],
                payload: &d[42..34 + udp_len],
                at: r.at,
            }
        })
        .collect()
}

/// Everything keepalived sent (10.77.0.1, and 10.77.0.2 where that was keepalived) parses, and
/// emits back to the captured bytes; the scripted peer's junk is told apart as keepalived did
/// (where the RFC and keepalived agree).
#[test]
fn every_keepalived_packet_parses_and_emits_back_to_its_bytes() {
    let mut parsed = 0;
    for (name, file) in FILES {
        for (i, f) in frames(file).iter().enumerate() {
            let scripted = name.starts_with("scripted") && f.from == 2;
            match ControlPacket::parse(f.payload) {
                Ok(p) if f.payload.len() == CONTROL_LEN => {
                    assert_eq!(p.emit().as_slice(), f.payload, "{name} #{i}");
                    parsed += 1;
                }
                // Frame 14 of the junk file: Length 24 in a 28-byte datagram. keepalived drops
                // it ("Packet size mismatch"); RFC 5880 6.8.6 only drops a Length *above* the
                // payload, so havip takes it.
                Ok(_) => assert!(
                    scripted && name == "scripted-junk" && i == 14,
                    "{name} #{i}"
                ),
                // Frame 15: Init with Your Discriminator 0, dropped by both.
                Err(Malformed::ZeroYourDiscriminator) if scripted && i == 15 => {}
                Err(e) => panic!("{name} #{i} from .{}: {e:?}", f.from),
            }
        }
    }
    assert_eq!(parsed, 1469, "every frame counted");
    let junk = frames(FILES[7].1);
    assert_eq!(
        ControlPacket::parse(junk[15].payload),
        Err(Malformed::ZeroYourDiscriminator)
    );
    // The off-link one is there for the daemon's TTL check (frames 5-7: TTL 254).
    assert!(junk[5..8].iter().all(|f| f.ttl == 254 && f.from == 2));
}

/// A havip session in n1's place (its settings, its discriminator), fed what n2's keepalived
/// sent at the captured times: Down → Init on n2's Down, Up on n2's Up+Poll, and the answer to
/// that poll is, byte for byte, what n1's keepalived answered (#6: Up, F, 10 ms intervals).
#[test]
fn a_havip_session_answers_keepalived_as_keepalived_did() {
    let f = frames(FILES[0].1);
    let t0 = epoch();
    let first = f[0].at;
    let n1 = ControlPacket::parse(f[0].payload).unwrap();
    let cfg = SessionConfig {
        min_tx: Duration::from_millis(10),
        min_rx: Duration::from_millis(10),
        idle_tx: Duration::from_secs(1),
        detect_mult: 3,
        passive: false,
    };
    let mut s = Session::new(cfg, n1.my_disc, 7, t0);
    while s.poll_transmit(t0).is_some() {}
    let mut answered_poll = None;
    for (i, fr) in f.iter().enumerate().filter(|(_, fr)| fr.from == 2).take(3) {
        let now = t0 + (fr.at - first);
        let p = ControlPacket::parse(fr.payload).unwrap();
        s.handle_packet(now, &p).unwrap();
        while let Some(out) = s.poll_transmit(now) {
            if p.poll {
                answered_poll.get_or_insert((i, out));
            }
        }
        match i {
            2 => assert_eq!(s.state(), State::Init, "after n2's Down"),
            5 => assert_eq!(s.state(), State::Up, "after n2's Up+P"),
            _ => {}
        }
    }
    let (i, answer) = answered_poll.expect("the poll was answered");
    assert_eq!(i, 5);
    assert_eq!(
        answer.emit().as_slice(),
        f[6].payload,
        "keepalived n1's own answer"
    );
    // Then both sides run at keepalived's negotiated rate: n1 every max(10, n2's 20) ms.
    assert_eq!(s.negotiated().tx_interval, Some(Duration::from_millis(20)));
    assert_eq!(
        s.negotiated().detection_time,
        Some(Duration::from_millis(75))
    );
}
