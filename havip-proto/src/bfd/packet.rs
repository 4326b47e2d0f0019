//! The BFD Control packet (RFC 5880 section 4.1), as carried in UDP (RFC 5881): parsed with the
//! stateless checks of section 6.8.6, emitted in 24 bytes (havip sends no authentication).

use std::time::Duration;

/// Bytes of a Control packet without the authentication section.
pub const CONTROL_LEN: usize = 24;

/// UDP port of single-hop Control packets (RFC 5881 section 4).
pub const CONTROL_PORT: u16 = 3784;
/// The source ports a session may use (RFC 5881 section 4: 49152 through 65535).
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// bfd.SessionState and the packet's `Sta` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(b: u8) -> State {
        match b & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    /// The RFC's spelling, as logs and stats show it.
    pub fn name(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The diagnostic code (RFC 5880 section 4.1): why the session last left Up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diag {
    None,
    /// 1: Control Detection Time Expired.
    TimeExpired,
    /// 2: Echo Function Failed.
    EchoFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborDown,
    /// 4: Forwarding Plane Reset.
    ForwardingReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdminDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9-31: reserved, kept as found.
    Reserved(u8),
}

impl Diag {
    pub fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::TimeExpired => 1,
            Diag::EchoFailed => 2,
            Diag::NeighborDown => 3,
            Diag::ForwardingReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdminDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(c) => c & 0x1f,
        }
    }

    pub fn from_code(c: u8) -> Diag {
        match c & 0x1f {
            0 => Diag::None,
            1 => Diag::TimeExpired,
            2 => Diag::EchoFailed,
            3 => Diag::NeighborDown,
            4 => Diag::ForwardingReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdminDown,
            8 => Diag::ReverseConcatenatedPathDown,
            c => Diag::Reserved(c),
        }
    }

    /// The RFC's words for the code.
    pub fn describe(self) -> &'static str {
        match self {
            Diag::None => "no diagnostic",
            Diag::TimeExpired => "control detection time expired",
            Diag::EchoFailed => "echo function failed",
            Diag::NeighborDown => "neighbor signaled session down",
            Diag::ForwardingReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdminDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Reserved(_) => "reserved diagnostic code",
        }
    }
}

impl std::fmt::Display for Diag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.describe())
    }
}

/// Why a received datagram is not a Control packet a session may take (RFC 5880 section
/// 6.8.6, the checks that need no session). Each is counted by the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// Shorter than 24 bytes, or than its own Length field.
    Truncated,
    /// Version other than 1.
    BadVersion,
    /// Length below 24 (26 with the A bit), or above the datagram.
    BadLength,
    /// Detect Mult 0.
    ZeroDetectMult,
    /// The Multipoint bit set.
    Multipoint,
    /// My Discriminator 0.
    ZeroMyDiscriminator,
    /// Your Discriminator 0 while the state is neither Down nor AdminDown.
    ZeroYourDiscriminator,
    /// The A bit: havip's sessions have no authentication, so such a packet is discarded.
    Authenticated,
    /// Both Poll and Final set (section 6.5 forbids it).
    PollAndFinal,
}

impl Malformed {
    /// A short name for counters.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated",
            Malformed::BadVersion => "bad_version",
            Malformed::BadLength => "bad_length",
            Malformed::ZeroDetectMult => "zero_detect_mult",
            Malformed::Multipoint => "multipoint",
            Malformed::ZeroMyDiscriminator => "zero_my_discriminator",
            Malformed::ZeroYourDiscriminator => "zero_your_discriminator",
            Malformed::Authenticated => "authenticated",
            Malformed::PollAndFinal => "poll_and_final",
        }
    }
}

/// A Control packet's meaning. Intervals are microseconds on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    /// Control Plane Independent (C): never set by havip, whose BFD shares the daemon's fate.
    pub cpi: bool,
    pub demand: bool,
    pub detect_mult: u8,
    pub my_disc: u32,
    pub your_disc: u32,
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub required_min_echo_rx: Duration,
}

fn us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl ControlPacket {
    /// Parses a UDP payload with the checks of RFC 5880 section 6.8.6 that need no session.
    pub fn parse(b: &[u8]) -> Result<ControlPacket, Malformed> {
        if b.len() < CONTROL_LEN {
            return Err(Malformed::Truncated);
        }
        if b[0] >> 5 != 1 {
            return Err(Malformed::BadVersion);
        }
        let flags = b[1];
        let auth = flags & 0x04 != 0;
        let len = usize::from(b[3]);
        if len < CONTROL_LEN || (auth && len < CONTROL_LEN + 2) {
            return Err(Malformed::BadLength);
        }
        if len > b.len() {
            return Err(Malformed::Truncated);
        }
        let p = ControlPacket {
            diag: Diag::from_code(b[0]),
            state: State::from_bits(flags >> 6),
            poll: flags & 0x20 != 0,
            final_: flags & 0x10 != 0,
            cpi: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            detect_mult: b[2],
            my_disc: be32(b, 4),
            your_disc: be32(b, 8),
            desired_min_tx: Duration::from_micros(be32(b, 12).into()),
            required_min_rx: Duration::from_micros(be32(b, 16).into()),
            required_min_echo_rx: Duration::from_micros(be32(b, 20).into()),
        };
        if p.detect_mult == 0 {
            return Err(Malformed::ZeroDetectMult);
        }
        if flags & 0x01 != 0 {
            return Err(Malformed::Multipoint);
        }
        if p.my_disc == 0 {
            return Err(Malformed::ZeroMyDiscriminator);
        }
        if p.your_disc == 0 && !matches!(p.state, State::Down | State::AdminDown) {
            return Err(Malformed::ZeroYourDiscriminator);
        }
        if auth {
            return Err(Malformed::Authenticated);
        }
        if p.poll && p.final_ {
            return Err(Malformed::PollAndFinal);
        }
        Ok(p)
    }

    /// The 24 bytes of this packet (no authentication section).
    pub fn emit(&self) -> [u8; CONTROL_LEN] {
        let mut b = [0u8; CONTROL_LEN];
        b[0] = (1 << 5) | self.diag.code();
        b[1] = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.cpi) << 3)
            | (u8::from(self.demand) << 1);
        b[2] = self.detect_mult;
        b[3] = CONTROL_LEN as u8;
        b[4..8].copy_from_slice(&self.my_disc.to_be_bytes());
        b[8..12].copy_from_slice(&self.your_disc.to_be_bytes());
        b[12..16].copy_from_slice(&us(self.desired_min_tx).to_be_bytes());
        b[16..20].copy_from_slice(&us(self.required_min_rx).to_be_bytes());
        b[20..24].copy_from_slice(&us(self.required_min_echo_rx).to_be_bytes());
        b
    }
}
