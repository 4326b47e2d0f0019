//! One BFD session in asynchronous mode (RFC 5880 section 6), sans-IO: packets and time in,
//! packets to send, state changes and the next deadline out.
//!
//! What it does, by section of the RFC:
//! - 6.2 / 6.8.6: the three-way handshake (Down → Init → Up) and the way down (the neighbour's
//!   Down or AdminDown, diag 3; no packet for a Detection Time, diag 1).
//! - 6.8.3: Desired Min TX Interval is `idle_tx` while the session is not Up (keepalived's
//!   knob for the RFC's "not less than one second") and `min_tx` once Up. A change while Up
//!   starts a Poll Sequence (P set until a packet with F arrives); a decrease applies at once, an
//!   increase only when the poll is over. Required Min RX never changes.
//! - 6.8.4: Detection Time = the neighbour's Detect Mult × max(our Required Min RX, its Desired
//!   Min TX); in Down, it only clears the neighbour's discriminator.
//! - 6.8.7: the interval is max(our Desired Min TX, its Required Min RX), jittered to 75–100 %
//!   (75–90 % with Detect Mult 1); nothing periodic while its Required Min RX is 0 or, passive,
//!   before it has spoken. A Poll is answered at once with F. A state change is sent at once too
//!   (it speeds the handshake and the way down; the RFC allows more than the periodic ones).
//! - Demand mode and the Echo function are not used (never asked for; a neighbour's D bit is
//!   ignored, which costs only packets).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::packet::{ControlPacket, Diag, State};

/// What a session is asked to do (keepalived's `bfd_instance`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Desired Min TX Interval while Up (`min_tx`).
    pub min_tx: Duration,
    /// Required Min RX Interval (`min_rx`).
    pub min_rx: Duration,
    /// Desired Min TX Interval while not Up (`idle_tx`).
    pub idle_tx: Duration,
    /// Detect Mult (`multiplier`), 1..=255.
    pub detect_mult: u8,
    /// Send nothing until the neighbour has sent something (`passive`).
    pub passive: bool,
}

/// A state change, with the diagnostic that explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub from: State,
    pub to: State,
    pub diag: Diag,
    pub at: Instant,
    /// The detection time in force before the change (for a way down by it: how long the
    /// neighbour had been silent; for a packet, before the packet's intervals).
    pub detection_time: Option<Duration>,
    /// The neighbour's state as its last packet said (AdminDown: it stopped the session;
    /// Down: it is alive and lost us).
    pub remote_state: State,
}

/// Why a packet that parsed was not taken by the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// Your Discriminator is not this session's.
    WrongDiscriminator,
    /// The session is AdminDown (section 6.8.6: discard).
    AdminDown,
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    pub rx: u64,
    pub tx: u64,
    /// Polls this side started (interval changes while Up).
    pub polls_sent: u64,
    /// Finals sent in answer to the neighbour's polls.
    pub finals_sent: u64,
    /// Times the session left Up.
    pub downs: u64,
    /// Times the Detection Time expired in Init or Up.
    pub detect_expired: u64,
}

/// The intervals in force, for stats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// How often this side sends (before jitter); `None`: nothing periodic.
    pub tx_interval: Option<Duration>,
    /// How long without a packet before the session goes down; `None` before the neighbour
    /// has spoken.
    pub detection_time: Option<Duration>,
    pub remote_detect_mult: u8,
    pub remote_desired_min_tx: Duration,
    pub remote_required_min_rx: Duration,
}

/// One session (RFC 5880's state variables, `bfd.*`, are fields here).
#[derive(Clone, Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    remote_state: State,
    local_disc: u32,
    remote_disc: u32,
    diag: Diag,
    /// bfd.DesiredMinTxInterval as sent.
    adv_tx: Duration,
    /// The Desired Min TX the transmit interval is computed from: `adv_tx`, or the old value
    /// until the poll for an increase ends.
    use_tx: Duration,
    polling: bool,
    want_final: bool,
    send_now: bool,
    remote_min_rx: Duration,
    remote_desired_tx: Duration,
    remote_mult: u8,
    next_tx: Option<Instant>,
    detect_at: Option<Instant>,
    rng: u64,
    events: VecDeque<Event>,
    counters: SessionCounters,
    /// The last way down: when and why.
    last_down: Option<(Instant, Diag)>,
}

impl Session {
    /// A session in Down, with this side's discriminator (non-zero, unique on the host) and a
    /// seed for the transmit jitter. It sends its first packet at once unless passive.
    pub fn new(cfg: SessionConfig, local_disc: u32, seed: u64, now: Instant) -> Session {
        assert!(local_disc != 0, "a discriminator is never 0");
        assert!(cfg.detect_mult != 0, "Detect Mult is never 0");
        Session {
            cfg,
            state: State::Down,
            remote_state: State::Down,
            local_disc,
            remote_disc: 0,
            diag: Diag::None,
            adv_tx: cfg.idle_tx,
            use_tx: cfg.idle_tx,
            polling: false,
            want_final: false,
            send_now: !cfg.passive,
            // Section 6.8.1: initialised to 1 (µs), so that we send until told otherwise.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_tx: Duration::ZERO,
            remote_mult: 0,
            next_tx: Some(now),
            detect_at: None,
            rng: seed | 1,
            events: VecDeque::new(),
            counters: SessionCounters::default(),
            last_down: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    pub fn local_disc(&self) -> u32 {
        self.local_disc
    }

    pub fn remote_disc(&self) -> u32 {
        self.remote_disc
    }

    pub fn diag(&self) -> Diag {
        self.diag
    }

    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &SessionCounters {
        &self.counters
    }

    pub fn last_down(&self) -> Option<(Instant, Diag)> {
        self.last_down
    }

    pub fn is_polling(&self) -> bool {
        self.polling
    }

    /// The intervals in force.
    pub fn negotiated(&self) -> Negotiated {
        Negotiated {
            tx_interval: self.tx_interval(),
            detection_time: self.detection_time(),
            remote_detect_mult: self.remote_mult,
            remote_desired_min_tx: self.remote_desired_tx,
            remote_required_min_rx: self.remote_min_rx,
        }
    }

    /// Section 6.8.7: max(bfd.DesiredMinTxInterval, bfd.RemoteMinRxInterval); `None` when the
    /// neighbour asks for nothing periodic, or (passive) has not spoken.
    fn tx_interval(&self) -> Option<Duration> {
        if self.remote_min_rx.is_zero() || (self.cfg.passive && self.remote_disc == 0) {
            return None;
        }
        Some(self.use_tx.max(self.remote_min_rx))
    }

    /// Section 6.8.4, asynchronous mode.
    fn detection_time(&self) -> Option<Duration> {
        (self.remote_mult != 0)
            .then(|| self.cfg.min_rx.max(self.remote_desired_tx) * u32::from(self.remote_mult))
    }

    /// The next deadline: the periodic packet, or the Detection Time. (Packets due at once, a
    /// state change or a Final, are taken by the `poll_transmit` calls that follow every input.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tx = self.tx_interval().and(self.next_tx);
        match (tx, self.detect_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// xorshift64*: the jitter needs no more.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The interval, less 0–25 % (10–25 % with Detect Mult 1).
    fn jittered(&mut self, interval: Duration) -> Duration {
        let (lo, span) = if self.cfg.detect_mult == 1 {
            (7_500, 1_500)
        } else {
            (7_500, 2_500)
        };
        let permyriad = lo + (self.random() % (span + 1)) as u32;
        interval * permyriad / 10_000
    }

    fn set_state(&mut self, now: Instant, to: State, diag: Diag) {
        let detection_time = self.detection_time();
        self.set_state_detected(now, to, diag, detection_time);
    }

    fn set_state_detected(
        &mut self,
        now: Instant,
        to: State,
        diag: Diag,
        detection_time: Option<Duration>,
    ) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.diag = diag;
        self.send_now = true;
        if from == State::Up {
            self.counters.downs += 1;
            self.last_down = Some((now, diag));
        }
        if to == State::Up {
            // 6.8.3: min_tx replaces idle_tx, by a Poll Sequence (a decrease: in force now).
            self.change_tx(now, self.cfg.min_tx);
        } else if from == State::Up || self.adv_tx != self.cfg.idle_tx {
            // Not Up: back to idle_tx at once (no poll: the neighbour is not Up with us).
            self.polling = false;
            self.adv_tx = self.cfg.idle_tx;
            self.use_tx = self.cfg.idle_tx;
        }
        self.events.push_back(Event {
            from,
            to,
            diag,
            at: now,
            detection_time,
            remote_state: self.remote_state,
        });
    }

    /// A new Desired Min TX while Up: polled for; in force now if lower, after the poll if
    /// higher.
    fn change_tx(&mut self, now: Instant, tx: Duration) {
        if tx == self.adv_tx {
            return;
        }
        self.adv_tx = tx;
        if tx < self.use_tx {
            self.use_tx = tx;
            self.reschedule(now);
        }
        self.polling = true;
        self.send_now = true;
        self.counters.polls_sent += 1;
    }

    /// The interval may have shrunk: the next packet no later than one new interval from now.
    fn reschedule(&mut self, now: Instant) {
        if let Some(iv) = self.tx_interval() {
            let at = now + self.jittered(iv);
            if self.next_tx.is_none_or(|t| t > at) {
                self.next_tx = Some(at);
            }
        }
    }

    /// A packet that parsed ([`ControlPacket::parse`]) and was matched to this session by the
    /// caller (Your Discriminator, or the neighbour's address when it is 0), with its TTL
    /// already checked (RFC 5881 section 5).
    pub fn handle_packet(&mut self, now: Instant, p: &ControlPacket) -> Result<(), Ignored> {
        if p.your_disc != 0 && p.your_disc != self.local_disc {
            return Err(Ignored::WrongDiscriminator);
        }
        if self.state == State::AdminDown {
            return Err(Ignored::AdminDown);
        }
        self.counters.rx += 1;
        let detection_before = self.detection_time();
        let spoke_first = self.remote_disc == 0;
        self.remote_disc = p.my_disc;
        self.remote_state = p.state;
        let old_min_rx = self.remote_min_rx;
        self.remote_min_rx = p.required_min_rx;
        self.remote_desired_tx = p.desired_min_tx;
        self.remote_mult = p.detect_mult;
        if p.final_ && self.polling {
            self.polling = false;
            self.use_tx = self.adv_tx;
        }
        self.detect_at = self.detection_time().map(|d| now + d);
        match (self.state, p.state) {
            (State::Down | State::AdminDown, State::AdminDown) => {}
            (_, State::AdminDown) | (State::Up, State::Down) => {
                self.set_state_detected(now, State::Down, Diag::NeighborDown, detection_before)
            }
            (State::Down, State::Down) => self.set_state(now, State::Init, Diag::None),
            (State::Down, State::Init) => self.set_state(now, State::Up, Diag::None),
            (State::Init, State::Init | State::Up) => self.set_state(now, State::Up, Diag::None),
            _ => {}
        }
        if p.poll {
            self.want_final = true;
        }
        if spoke_first || self.remote_min_rx < old_min_rx {
            self.reschedule(now);
        }
        Ok(())
    }

    /// The clock reached [`Session::poll_timeout`]: the Detection Time may have passed.
    /// (Packets due are taken with [`Session::poll_transmit`].)
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.detect_at.is_some_and(|t| t <= now) {
            self.detect_at = None;
            if matches!(self.state, State::Init | State::Up) {
                self.counters.detect_expired += 1;
                self.set_state(now, State::Down, Diag::TimeExpired);
            }
            // 6.8.1: a Detection Time without a packet clears bfd.RemoteDiscr.
            self.remote_disc = 0;
            self.remote_state = State::Down;
            self.remote_mult = 0;
        }
    }

    /// The next packet to send now, if one is due (a state change, a Final, or the periodic
    /// one). Call until `None` after every input.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        if self.cfg.passive && self.remote_disc == 0 {
            return None;
        }
        let periodic = self.tx_interval().is_some() && self.next_tx.is_some_and(|t| t <= now);
        if !(self.send_now || self.want_final || periodic) {
            return None;
        }
        let final_ = self.want_final;
        let p = ControlPacket {
            diag: self.diag,
            state: self.state,
            // 6.5: never both; the Final goes first, the poll on the next packet.
            poll: self.polling && !final_,
            final_,
            cpi: false,
            demand: false,
            detect_mult: self.cfg.detect_mult,
            my_disc: self.local_disc,
            your_disc: self.remote_disc,
            desired_min_tx: self.adv_tx,
            required_min_rx: self.cfg.min_rx,
            required_min_echo_rx: Duration::ZERO,
        };
        self.send_now = false;
        if final_ {
            self.want_final = false;
            self.counters.finals_sent += 1;
        }
        self.counters.tx += 1;
        // The periodic cadence is kept through the packets sent out of it (state changes,
        // finals): sessions the caller aligned stay aligned.
        if periodic || self.next_tx.is_none() {
            self.next_tx = match self.tx_interval() {
                Some(iv) => Some(now + self.jittered(iv)),
                None => self.next_tx,
            };
        }
        Some(p)
    }

    /// A new `min_tx` (a reload): while Up, by a Poll Sequence (6.8.3); otherwise it applies
    /// when the session comes Up.
    pub fn set_min_tx(&mut self, now: Instant, min_tx: Duration) {
        self.cfg.min_tx = min_tx;
        if self.state == State::Up {
            self.change_tx(now, min_tx);
        }
    }

    /// When the next periodic packet is due, if any.
    pub fn next_periodic(&self) -> Option<Instant> {
        self.tx_interval().and(self.next_tx)
    }

    /// Moves the next periodic packet to `at` (the caller aligns sessions of one interval, so
    /// that they leave together: then their neighbours' detection times run out together).
    pub fn align_periodic(&mut self, at: Instant) {
        if self.tx_interval().is_some() {
            self.next_tx = Some(at);
        }
    }

    /// Replaces the jitter's random state (the caller gives sessions due together one state,
    /// so that aligned sessions draw the same jitter and stay aligned).
    pub fn reseed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    /// Takes the session to AdminDown (diag 7), to be sent at once: the neighbour goes Down
    /// with diag 3 instead of waiting for its Detection Time. Packets are then discarded.
    pub fn admin_down(&mut self, now: Instant) {
        self.set_state(now, State::AdminDown, Diag::AdminDown);
        self.detect_at = None;
    }

    /// The next state change, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
