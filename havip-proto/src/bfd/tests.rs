//! Two sessions on a simulated link: the handshake, the intervals, polls, the ways down.

use std::time::{Duration, Instant};

use super::*;
use crate::vrrp::sim::epoch;

const MS: Duration = Duration::from_millis(1);

fn cfg(min_tx_ms: u64, min_rx_ms: u64, mult: u8) -> SessionConfig {
    SessionConfig {
        min_tx: MS * min_tx_ms as u32,
        min_rx: MS * min_rx_ms as u32,
        idle_tx: Duration::from_secs(1),
        detect_mult: mult,
        passive: false,
    }
}

/// Two sessions joined by a link with a fixed delay that can be cut; every packet goes through
/// emit → parse, as on the wire.
struct Link {
    now: Instant,
    s: [Session; 2],
    delay: Duration,
    cut: bool,
    /// Packets to this side are lost (one direction).
    cut_to: Option<usize>,
    /// (arrival, to, bytes)
    flight: Vec<(Instant, usize, [u8; CONTROL_LEN])>,
    /// (time, from, packet) of every packet sent.
    sent: Vec<(Instant, usize, ControlPacket)>,
    events: Vec<(usize, Event)>,
}

impl Link {
    fn new(a: SessionConfig, b: SessionConfig) -> Link {
        let now = epoch();
        Link {
            now,
            s: [
                Session::new(a, 0x1111, 1, now),
                Session::new(b, 0x2222, 2, now),
            ],
            delay: Duration::from_micros(100),
            cut: false,
            cut_to: None,
            flight: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    fn flush(&mut self, i: usize) {
        while let Some(p) = self.s[i].poll_transmit(self.now) {
            self.sent.push((self.now, i, p));
            if !self.cut && self.cut_to != Some(1 - i) {
                self.flight.push((self.now + self.delay, 1 - i, p.emit()));
            }
        }
        while let Some(e) = self.s[i].poll_event() {
            self.events.push((i, e));
        }
    }

    /// Runs until `until`, stepping from deadline to deadline.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.flush(0);
            self.flush(1);
            let next = [
                self.s[0].poll_timeout(),
                self.s[1].poll_timeout(),
                self.flight.iter().map(|f| f.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|&t| t <= until) else {
                self.now = until;
                return;
            };
            self.now = self.now.max(next);
            let (due, rest): (Vec<_>, Vec<_>) =
                self.flight.drain(..).partition(|f| f.0 <= self.now);
            self.flight = rest;
            for (_, to, bytes) in due {
                let p = ControlPacket::parse(&bytes).expect("what we emit parses");
                let _ = self.s[to].handle_packet(self.now, &p);
                self.flush(to);
            }
            for i in 0..2 {
                self.s[i].handle_timeout(self.now);
            }
        }
    }

    fn run(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Gaps between consecutive packets `from` sent after `since`.
    fn gaps(&self, from: usize, since: Instant) -> Vec<Duration> {
        let times: Vec<Instant> = self
            .sent
            .iter()
            .filter(|(t, i, _)| *i == from && *t >= since)
            .map(|(t, _, _)| *t)
            .collect();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

#[test]
fn both_sides_come_up_at_once_and_switch_to_min_tx_by_a_poll() {
    let mut l = Link::new(cfg(1, 1, 3), cfg(3, 2, 5));
    l.run(MS * 5);
    assert_eq!(l.s[0].state(), State::Up);
    assert_eq!(l.s[1].state(), State::Up);
    // The handshake took packets sent at once, not idle_tx (1 s) apart.
    let ups: Vec<_> = l.events.iter().filter(|(_, e)| e.to == State::Up).collect();
    assert_eq!(ups.len(), 2);
    assert!(ups.iter().all(|(_, e)| e.at - epoch() < MS), "{ups:?}");
    // Polls went out with the new Desired Min TX, and were answered with F.
    assert!(l
        .sent
        .iter()
        .any(|(_, i, p)| *i == 0 && p.poll && p.desired_min_tx == MS));
    assert!(l.sent.iter().any(|(_, i, p)| *i == 1 && p.final_));
    l.run(MS * 50);
    assert!(!l.s[0].is_polling() && !l.s[1].is_polling());
    // A sends every max(1 ms, B's min_rx 2 ms), jittered to 75-100 %; B every max(3, 1) ms.
    let since = l.now - MS * 40;
    for (who, iv) in [(0, MS * 2), (1, MS * 3)] {
        let g = l.gaps(who, since);
        assert!(g.len() > 10);
        assert!(
            g.iter().all(|&d| d >= iv * 3 / 4 && d <= iv),
            "side {who}: {g:?}"
        );
        assert!(g.iter().any(|&d| d < iv * 95 / 100), "jittered: {g:?}");
    }
    let n = l.s[0].negotiated();
    assert_eq!(n.tx_interval, Some(MS * 2));
    // A's detection: B's mult 5 × max(A's min_rx 1, B's tx 3) = 15 ms.
    assert_eq!(n.detection_time, Some(MS * 15));
    assert_eq!(l.s[1].negotiated().detection_time, Some(MS * 6));
}

#[test]
fn a_silent_neighbour_is_down_after_the_detection_time_with_diag_1() {
    let mut l = Link::new(cfg(1, 1, 3), cfg(1, 1, 3));
    l.run(MS * 20);
    assert_eq!(l.s[0].state(), State::Up);
    l.cut = true;
    let cut_at = l.now;
    l.run(MS * 20);
    for i in 0..2 {
        assert_eq!(l.s[i].state(), State::Down);
        assert_eq!(l.s[i].diag(), Diag::TimeExpired);
        let (at, diag) = l.s[i].last_down().unwrap();
        assert_eq!(diag, Diag::TimeExpired);
        // Detection 3 ms after the last packet, which left at most one interval before the cut.
        let took = at - cut_at;
        assert!(took > MS * 2 && took <= MS * 3 + MS, "{took:?}");
        assert_eq!(l.s[i].counters().detect_expired, 1);
        let down = l
            .events
            .iter()
            .rev()
            .find(|(j, e)| *j == i && e.to == State::Down);
        assert_eq!(
            down.unwrap().1.detection_time,
            Some(MS * 3),
            "what the silence took"
        );
        // Down sends at idle_tx again, with the neighbour's discriminator cleared.
        assert_eq!(
            l.s[i].negotiated().tx_interval,
            Some(Duration::from_secs(1))
        );
        assert_eq!(l.s[i].remote_disc(), 0);
    }
    // Joined again, they come back up within a second (the Down side's idle packets).
    l.cut = false;
    l.run(Duration::from_millis(1100));
    assert_eq!(l.s[0].state(), State::Up);
    assert_eq!(l.s[1].state(), State::Up);
}

/// One way lost: the side that hears nothing goes down (diag 1) and says so; the other hears
/// a live neighbour's Down (diag 3, remote Down), and its event carries the detection time that
/// was in force, not the one of the Down packet's idle interval.
#[test]
fn a_neighbour_s_down_is_told_from_its_silence() {
    let mut l = Link::new(cfg(1, 1, 3), cfg(1, 1, 3));
    l.run(MS * 20);
    l.cut_to = Some(1);
    l.run(MS * 10);
    let down = |i: usize| {
        l.events
            .iter()
            .find(|(j, e)| *j == i && e.to == State::Down)
            .unwrap()
            .1
    };
    let (b, a) = (down(1), down(0));
    assert_eq!(
        (b.to, b.diag, b.remote_state),
        (State::Down, Diag::TimeExpired, State::Up)
    );
    assert_eq!(
        (a.to, a.diag, a.remote_state),
        (State::Down, Diag::NeighborDown, State::Down)
    );
    assert_eq!(a.detection_time, Some(MS * 3));
    assert!(a.at > b.at);
}

#[test]
fn admin_down_takes_the_neighbour_down_at_once_with_diag_3() {
    let mut l = Link::new(cfg(10, 10, 5), cfg(10, 10, 5));
    l.run(MS * 30);
    assert_eq!(l.s[1].state(), State::Up);
    let at = l.now;
    l.s[0].admin_down(at);
    l.run(MS);
    assert_eq!(l.s[1].state(), State::Down);
    assert_eq!(l.s[1].diag(), Diag::NeighborDown);
    let (t, _) = l.s[1].last_down().unwrap();
    assert!(t - at <= MS, "{:?}", t - at);
    let down = l.events.iter().rev().find(|(i, _)| *i == 1).unwrap().1;
    assert_eq!(down.remote_state, State::AdminDown);
    let sent = l
        .sent
        .iter()
        .find(|(t, i, _)| *i == 0 && *t >= at)
        .unwrap()
        .2;
    assert_eq!((sent.state, sent.diag), (State::AdminDown, Diag::AdminDown));
    // An AdminDown session takes nothing.
    let p = l.sent.iter().rev().find(|(_, i, _)| *i == 1).unwrap().2;
    assert_eq!(l.s[0].handle_packet(l.now, &p), Err(Ignored::AdminDown));
    // And the neighbour stays Down (it does not restart a handshake with an AdminDown peer).
    l.run(Duration::from_secs(3));
    assert_eq!(l.s[1].state(), State::Down);
}

#[test]
fn a_neighbour_that_restarts_is_noticed_by_its_down_and_comes_back() {
    let mut l = Link::new(cfg(5, 5, 3), cfg(5, 5, 3));
    l.run(MS * 30);
    // B restarts: a new session, a new discriminator, in Down.
    let now = l.now;
    l.s[1] = Session::new(cfg(5, 5, 3), 0x3333, 9, now);
    l.run(MS);
    // A saw B's Down (your_disc 0 is allowed in Down): diag 3, then the handshake again.
    let downs: Vec<_> = l
        .events
        .iter()
        .filter(|(i, e)| *i == 0 && e.to == State::Down)
        .collect();
    assert_eq!(downs.len(), 1);
    assert_eq!(downs[0].1.diag, Diag::NeighborDown);
    l.run(MS * 10);
    assert_eq!(l.s[0].state(), State::Up);
    assert_eq!(l.s[0].remote_disc(), 0x3333);
}

#[test]
fn a_passive_session_waits_for_the_neighbour() {
    let passive = SessionConfig {
        passive: true,
        ..cfg(1, 1, 3)
    };
    let mut l = Link::new(passive, passive);
    l.run(Duration::from_secs(3));
    assert!(l.sent.is_empty(), "two passive sides never speak");
    let mut l = Link::new(passive, cfg(1, 1, 3));
    l.run(MS * 10);
    assert_eq!(l.s[0].state(), State::Up);
    assert_eq!(l.s[1].state(), State::Up);
}

#[test]
fn an_increase_waits_for_the_final_and_a_decrease_does_not() {
    let mut l = Link::new(cfg(1, 1, 3), cfg(1, 1, 3));
    l.run(MS * 20);
    assert_eq!(l.s[0].counters().polls_sent, 1, "one poll, when it came Up");
    assert!(l.s[1].counters().finals_sent >= 1);
    // Up: 1 ms → 10 ms is an increase: polled, the old interval kept until the Final.
    let now = l.now;
    l.s[0].set_min_tx(now, MS * 10);
    assert!(l.s[0].is_polling());
    assert_eq!(l.s[0].negotiated().tx_interval, Some(MS));
    let (at, before) = (l.now, l.sent.len());
    l.run(MS / 2);
    let first = l.sent[before..].iter().find(|(_, i, _)| *i == 0).unwrap();
    assert!(
        first.0 == at && first.2.poll,
        "the poll left at once: {first:?}"
    );
    l.run(MS * 2);
    assert!(!l.s[0].is_polling(), "the Final came back");
    assert_eq!(l.s[0].negotiated().tx_interval, Some(MS * 10));
    // B's detection time follows A's new Desired Min TX: 3 × 10 ms.
    assert_eq!(l.s[1].negotiated().detection_time, Some(MS * 30));
    l.run(MS * 100);
    assert!(
        l.gaps(0, l.now - MS * 80).iter().all(|&d| d >= MS * 15 / 2),
        "10 ms now"
    );
    // 10 ms → 2 ms is a decrease: in force at once, polled all the same.
    let now = l.now;
    l.s[0].set_min_tx(now, MS * 2);
    assert!(l.s[0].is_polling());
    assert_eq!(l.s[0].negotiated().tx_interval, Some(MS * 2));
    assert_eq!(l.s[0].counters().polls_sent, 3);
    l.run(MS * 20);
    assert_eq!((l.s[0].state(), l.s[1].state()), (State::Up, State::Up));
}

#[test]
fn a_session_ignores_packets_for_another_discriminator() {
    let now = epoch();
    let mut s = Session::new(cfg(1, 1, 3), 7, 1, now);
    let p = ControlPacket {
        diag: Diag::None,
        state: State::Init,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_disc: 9,
        your_disc: 8,
        desired_min_tx: MS,
        required_min_rx: MS,
        required_min_echo_rx: Duration::ZERO,
    };
    assert_eq!(s.handle_packet(now, &p), Err(Ignored::WrongDiscriminator));
    assert_eq!(s.state(), State::Down);
    assert_eq!(
        s.handle_packet(now, &ControlPacket { your_disc: 7, ..p }),
        Ok(())
    );
    assert_eq!(s.state(), State::Up);
}

#[test]
fn detect_mult_1_jitters_to_at_most_90_percent() {
    let mut l = Link::new(cfg(10, 10, 1), cfg(10, 10, 3));
    l.run(MS * 500);
    let g = l.gaps(0, l.now - MS * 400);
    assert!(g.len() > 30);
    assert!(g.iter().all(|&d| d >= MS * 75 / 10 && d <= MS * 9), "{g:?}");
}

fn packet() -> ControlPacket {
    ControlPacket {
        diag: Diag::TimeExpired,
        state: State::Up,
        poll: true,
        final_: false,
        cpi: false,
        demand: false,
        detect_mult: 3,
        my_disc: 0xdead_beef,
        your_disc: 0x0102_0304,
        desired_min_tx: MS * 3,
        required_min_rx: Duration::from_micros(3312),
        required_min_echo_rx: Duration::ZERO,
    }
}

#[test]
fn control_packets_round_trip() {
    let p = packet();
    let b = p.emit();
    assert_eq!(b[0], 0x21, "version 1, diag 1");
    assert_eq!(b[1], 0xe0, "Up, P");
    assert_eq!(b[3], 24);
    assert_eq!(ControlPacket::parse(&b), Ok(p));
    // Bytes after the declared length (UDP padding) are allowed.
    let mut longer = b.to_vec();
    longer.extend([0; 8]);
    assert_eq!(ControlPacket::parse(&longer), Ok(p));
}

#[test]
fn malformed_packets_are_told_apart() {
    let b = packet().emit();
    let with = |f: &dyn Fn(&mut [u8; 24])| {
        let mut c = b;
        f(&mut c);
        ControlPacket::parse(&c)
    };
    assert_eq!(ControlPacket::parse(&b[..23]), Err(Malformed::Truncated));
    assert_eq!(with(&|c| c[0] = 0x41), Err(Malformed::BadVersion));
    assert_eq!(with(&|c| c[3] = 23), Err(Malformed::BadLength));
    assert_eq!(with(&|c| c[3] = 30), Err(Malformed::Truncated));
    assert_eq!(with(&|c| c[2] = 0), Err(Malformed::ZeroDetectMult));
    assert_eq!(with(&|c| c[1] |= 1), Err(Malformed::Multipoint));
    assert_eq!(
        with(&|c| c[4..8].fill(0)),
        Err(Malformed::ZeroMyDiscriminator)
    );
    assert_eq!(
        with(&|c| c[8..12].fill(0)),
        Err(Malformed::ZeroYourDiscriminator)
    );
    // Your Discriminator 0 is fine in Down and AdminDown.
    assert!(with(&|c| {
        c[8..12].fill(0);
        c[1] = 0x40;
    })
    .is_ok());
    assert_eq!(
        with(&|c| c[1] |= 0x04),
        Err(Malformed::BadLength),
        "A needs 26 bytes"
    );
    assert_eq!(
        with(&|c| {
            c[1] |= 0x04;
            c[3] = 24;
        }),
        Err(Malformed::BadLength)
    );
    let mut auth = b.to_vec();
    auth.extend([1, 2]);
    auth[1] |= 0x04;
    auth[3] = 26;
    assert_eq!(ControlPacket::parse(&auth), Err(Malformed::Authenticated));
    assert_eq!(with(&|c| c[1] |= 0x10), Err(Malformed::PollAndFinal));
}

/// Whatever the bytes, parse returns (never panics), and what parses emits back to the same
/// meaning.
#[test]
fn parse_never_panics_and_round_trips() {
    use proptest::prelude::*;
    proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..64))| {
        if let Ok(p) = ControlPacket::parse(&bytes) {
            prop_assert_eq!(ControlPacket::parse(&p.emit()), Ok(p));
        }
    });
}
