//! Configuration of one virtual router, and the checks that make it safe to run.
//!
//! [`RouterConfig::validate`] rejects what the state machine cannot run correctly (a zero
//! interval would spin the advert timer; a v2 interval that is not whole seconds cannot be put on
//! the wire) and the contradictions keepalived silently "fixes" at start-up, so the config layer
//! decides explicitly (see the `vrrp` module docs for what keepalived does with each).

use std::error::Error;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Priority of the IP address owner (RFC 9568 §5.2.4): it becomes master at start-up at once.
pub const PRIORITY_OWNER: u8 = 255;

/// The VRRP version a virtual router speaks; both ends of a virtual router must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// RFC 3768: IPv4 only, advertisement interval in whole seconds, optional PASS authentication.
    V2,
    /// RFC 9568: IPv4 or IPv6, interval in centiseconds, no authentication.
    V3,
}

/// A time in centiseconds, the unit of the VRRPv3 Max Advertise Interval (12 bits on the wire).
///
/// VRRPv2 carries whole seconds; its intervals are whole multiples of 100 here
/// (`Centis::from_secs(1) == Centis(100)`), so one type serves both versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Centis(pub u16);

impl Centis {
    /// Largest VRRPv3 interval (12-bit field): 40.95 s.
    pub const V3_MAX: Centis = Centis(4095);

    /// `secs` whole seconds, as a VRRPv2 Adver Int field holds them.
    pub const fn from_secs(secs: u8) -> Self {
        Centis(secs as u16 * 100)
    }

    /// The interval as a [`Duration`].
    pub fn duration(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 10)
    }
}

impl fmt::Display for Centis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}s", self.0 / 100, self.0 % 100)
    }
}

/// What keepalived's `state MASTER|BACKUP` asks for at start-up (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StartState {
    /// Wait a full Master_Down_Interval for a master before taking over (RFC behaviour).
    #[default]
    Backup,
    /// keepalived `state MASTER` on a non-owner: start as backup, but with a Master_Down_Timer of
    /// one advertisement interval plus 1/256 of the skew unit, so it takes over after about one
    /// interval unless it hears a master of higher or equal priority. Owners ignore this.
    Master,
}

/// Gratuitous ARP (IPv4) / unsolicited neighbour advertisement (IPv6) schedule of a new master.
/// Defaults are keepalived's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GarpConfig {
    /// keepalived `garp_master_delay` (5 s): when the second burst goes out after becoming master.
    /// Zero: no second burst.
    pub delay: Duration,
    /// keepalived `garp_master_repeat` (5): GARPs per VIP in each burst. Zero: no GARPs at all.
    pub repeat: u32,
    /// keepalived `garp_master_refresh` (off): period of refresh bursts while master.
    pub refresh: Option<Duration>,
    /// keepalived `garp_master_refresh_repeat` (1): GARPs per VIP in each refresh burst.
    pub refresh_repeat: u32,
    /// keepalived `vrrp_garp_interval` (0): minimum gap between two GARP messages. Zero sends a
    /// whole burst at once.
    pub interval: Duration,
    /// keepalived `garp_lower_prio_delay` (`None`: `delay`): a master that hears a
    /// lower-priority advert sends a burst, and another this much later; it sends no new burst
    /// for such adverts until this much time (and at least one advert interval) has passed.
    pub lower_prio_delay: Option<Duration>,
    /// keepalived `garp_lower_prio_repeat` (`None`: `repeat`): GARPs per VIP in those bursts.
    /// Zero: a lower-priority advert gets no GARPs.
    pub lower_prio_repeat: Option<u32>,
}

impl GarpConfig {
    /// `lower_prio_delay`, or `delay` when unset (keepalived's default).
    pub fn lower_prio_delay(&self) -> Duration {
        self.lower_prio_delay.unwrap_or(self.delay)
    }

    /// `lower_prio_repeat`, or `repeat` when unset (keepalived's default).
    pub fn lower_prio_repeat(&self) -> u32 {
        self.lower_prio_repeat.unwrap_or(self.repeat)
    }
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: None,
            refresh_repeat: 1,
            interval: Duration::ZERO,
            lower_prio_delay: None,
            lower_prio_repeat: None,
        }
    }
}

/// Everything that defines one virtual router on one interface.
///
/// RFC 9568's Accept_Mode is not here: it decides what the host does with traffic to the VIPs,
/// not how the election runs, and havip's masters always accept it (keepalived's default; the
/// config readers refuse `no_accept`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// Virtual router id, 1..=255.
    pub vrid: u8,
    /// Configured priority, 1..=255; 255 means this router owns the VIPs (see [`PRIORITY_OWNER`]).
    pub priority: u8,
    /// VRRP version (keepalived's default is v2).
    pub version: Version,
    /// Advertisement_Interval: v3 1..=4095 centiseconds, v2 whole seconds 1..=255.
    pub advert_interval: Centis,
    /// This router's own address on the interface: the source of its adverts, the tie-break key
    /// and how our own looped-back adverts are recognised. IPv6: the link-local address.
    pub primary_addr: IpAddr,
    /// The virtual addresses, all of `primary_addr`'s family; at most 255.
    pub vips: Vec<IpAddr>,
    /// Preempt_Mode: a backup with higher priority takes over from a lower-priority master.
    /// keepalived `nopreempt` is `false` here.
    pub preempt: bool,
    /// keepalived `preempt_delay`: how long after first seeing a lower-priority master a backup
    /// keeps treating its adverts as valid before it preempts. Zero: preempt at once.
    pub preempt_delay: Duration,
    /// VRRPv2 simple password (`auth_type PASS`), compared bytewise with the advert's 8 bytes;
    /// keepalived pads shorter passwords with zero bytes.
    pub auth: Option<[u8; 8]>,
    /// keepalived `state`: see [`StartState`].
    pub start_as: StartState,
    /// Gratuitous ARP schedule while master.
    pub garp: GarpConfig,
    /// Drop adverts whose TTL / hop limit is not 255 (RFC 9568 §7.1). keepalived skips the check
    /// for instances with unicast peers, whose adverts may be routed; so does havip.
    pub check_ttl: bool,
    /// keepalived's `check_unicast_src`: when not empty, adverts from any other source are
    /// dropped ([`super::DropReason::NotPeer`]). The daemon puts the unicast peers here.
    pub allowed_sources: Vec<IpAddr>,
    /// keepalived `lower_prio_no_advert`: a master does not answer a lower-priority advert with
    /// an advert of its own (RFC 9568 §6.4.3 only discards it); its GARPs still go out.
    pub lower_prio_no_advert: bool,
    /// keepalived `down_timer_adverts`: how many advert intervals Master_Down_Interval spans
    /// (the RFC's 3, plus Skew_Time). 3..=100: fewer would let a backup take over before a
    /// stalled master's XDP program falls silent (its heartbeat age is sized for 3).
    pub down_timer_adverts: u8,
    /// keepalived `unicast_peer { ADDR min_ttl N max_ttl M }`: adverts from ADDR whose TTL (hop
    /// limit) is outside N..=M are dropped ([`super::DropReason::Ttl`]).
    pub peer_ttl: Vec<(IpAddr, u8, u8)>,
}

impl RouterConfig {
    /// A config with keepalived's defaults: VRRPv2, 1 s adverts, preempt on, no delay, no auth,
    /// `state BACKUP`, default GARP schedule.
    pub fn new(vrid: u8, priority: u8, primary_addr: IpAddr, vips: Vec<IpAddr>) -> Self {
        RouterConfig {
            vrid,
            priority,
            version: Version::V2,
            advert_interval: Centis::from_secs(1),
            primary_addr,
            vips,
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth: None,
            start_as: StartState::Backup,
            garp: GarpConfig::default(),
            check_ttl: true,
            allowed_sources: Vec::new(),
            lower_prio_no_advert: false,
            down_timer_adverts: 3,
            peer_ttl: Vec::new(),
        }
    }

    /// Checks the config; the first problem found is returned.
    ///
    /// Decisions worth knowing:
    /// - Priority 255 without `primary_addr` among the VIPs is allowed: keepalived allows it and
    ///   people use it to mean "always master". The opposite (our own primary address is a VIP
    ///   but priority < 255) is rejected: as a backup we would be told to remove our own address.
    /// - `preempt` off or a `preempt_delay` together with `start_as: Master`, and a
    ///   `preempt_delay` with `preempt` off, are rejected; keepalived clears the option with a
    ///   warning instead, which the keepalived config translation can do before calling this.
    /// - VRRPv2 over IPv6 (a keepalived extension outside RFC 3768) is rejected.
    pub fn validate(&self) -> Result<(), ConfigError> {
        use ConfigError as E;
        if self.vrid == 0 {
            return Err(E::VridZero);
        }
        if self.priority == 0 {
            return Err(E::PriorityZero);
        }
        if self.vips.is_empty() {
            return Err(E::NoVips);
        }
        if self.vips.len() > 255 {
            return Err(E::TooManyVips(self.vips.len()));
        }
        for (i, vip) in self.vips.iter().enumerate() {
            if vip.is_ipv4() != self.primary_addr.is_ipv4() {
                return Err(E::MixedFamilies {
                    primary: self.primary_addr,
                    vip: *vip,
                });
            }
            if self.vips[..i].contains(vip) {
                return Err(E::DuplicateVip(*vip));
            }
        }
        if self.priority != PRIORITY_OWNER && self.vips.contains(&self.primary_addr) {
            return Err(E::PrimaryIsVip {
                primary: self.primary_addr,
                priority: self.priority,
            });
        }
        let interval = self.advert_interval;
        match self.version {
            Version::V3 => {
                if interval.0 == 0 || interval > Centis::V3_MAX {
                    return Err(E::V3Interval(interval));
                }
                if self.auth.is_some() {
                    return Err(E::AuthRequiresV2);
                }
            }
            Version::V2 => {
                if self.primary_addr.is_ipv6() {
                    return Err(E::V2RequiresIpv4);
                }
                if interval.0 == 0
                    || !interval.0.is_multiple_of(100)
                    || interval > Centis::from_secs(255)
                {
                    return Err(E::V2Interval(interval));
                }
            }
        }
        if self.start_as == StartState::Master && !self.preempt {
            return Err(E::NopreemptWithStartMaster);
        }
        if !self.preempt_delay.is_zero() {
            if !self.preempt {
                return Err(E::PreemptDelayWithoutPreempt);
            }
            if self.start_as == StartState::Master {
                return Err(E::PreemptDelayWithStartMaster);
            }
        }
        if self.garp.refresh == Some(Duration::ZERO) {
            return Err(E::GarpRefreshZero);
        }
        if !(3..=100).contains(&self.down_timer_adverts) {
            return Err(E::DownTimerAdverts(self.down_timer_adverts));
        }
        Ok(())
    }
}

/// Why a [`RouterConfig`] cannot be run; `Display` says what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    VridZero,
    PriorityZero,
    NoVips,
    TooManyVips(usize),
    DuplicateVip(IpAddr),
    MixedFamilies { primary: IpAddr, vip: IpAddr },
    PrimaryIsVip { primary: IpAddr, priority: u8 },
    V3Interval(Centis),
    V2Interval(Centis),
    V2RequiresIpv4,
    AuthRequiresV2,
    NopreemptWithStartMaster,
    PreemptDelayWithoutPreempt,
    PreemptDelayWithStartMaster,
    GarpRefreshZero,
    DownTimerAdverts(u8),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::VridZero => write!(f, "virtual_router_id 0 is invalid: use 1..=255"),
            ConfigError::PriorityZero => write!(
                f,
                "priority 0 is reserved for a master that is leaving: use 1..=254, or 255 for the address owner"
            ),
            ConfigError::NoVips => write!(f, "no virtual address: give at least one VIP"),
            ConfigError::TooManyVips(n) => {
                write!(f, "{n} VIPs do not fit an advert (at most 255): split them across virtual routers")
            }
            ConfigError::DuplicateVip(vip) => write!(f, "VIP {vip} is listed twice: remove one"),
            ConfigError::MixedFamilies { primary, vip } => write!(
                f,
                "VIP {vip} is not of the same address family as the primary address {primary}: use one virtual router per family"
            ),
            ConfigError::PrimaryIsVip { primary, priority } => write!(
                f,
                "the primary address {primary} is also a VIP, but priority {priority} is not 255: the address owner must use priority 255 (RFC 9568 §5.2.4), otherwise remove it from the VIPs"
            ),
            ConfigError::V3Interval(c) => {
                write!(f, "VRRPv3 advert interval {c} is out of range: use 0.01s..=40.95s")
            }
            ConfigError::V2Interval(c) => write!(
                f,
                "VRRPv2 advert interval {c} must be whole seconds in 1..=255: round it, or use VRRPv3 for sub-second intervals"
            ),
            ConfigError::V2RequiresIpv4 => {
                write!(f, "VRRPv2 is IPv4 only (RFC 3768): use VRRPv3 for IPv6")
            }
            ConfigError::AuthRequiresV2 => write!(
                f,
                "authentication exists only in VRRPv2: remove it, or use VRRPv2 (keepalived ignores it for v3)"
            ),
            ConfigError::NopreemptWithStartMaster => write!(
                f,
                "nopreempt cannot work with start state MASTER (keepalived clears nopreempt): use state BACKUP"
            ),
            ConfigError::PreemptDelayWithoutPreempt => write!(
                f,
                "preempt_delay has no effect with nopreempt (keepalived clears it): remove one of them"
            ),
            ConfigError::PreemptDelayWithStartMaster => write!(
                f,
                "preempt_delay cannot work with start state MASTER (keepalived clears it): use state BACKUP"
            ),
            ConfigError::DownTimerAdverts(n) => write!(
                f,
                "down_timer_adverts {n} is out of range: use 3..=100 (fewer would let a backup take over while a stalled master's XDP program still answers ARP)"
            ),
            ConfigError::GarpRefreshZero => {
                write!(f, "GARP refresh period 0 would never stop: leave refresh off, or give a period")
            }
        }
    }
}

impl Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn base() -> RouterConfig {
        RouterConfig::new(51, 100, v4(1), vec![v4(100)])
    }

    fn err(f: impl FnOnce(&mut RouterConfig)) -> ConfigError {
        let mut c = base();
        f(&mut c);
        c.validate().expect_err("config should be rejected")
    }

    #[test]
    fn defaults_are_valid_and_match_keepalived() {
        let c = base();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.version, Version::V2);
        assert_eq!(c.advert_interval, Centis(100));
        assert!(c.preempt);
        assert_eq!(c.garp.delay, Duration::from_secs(5));
        assert_eq!(c.garp.repeat, 5);
        assert_eq!(c.garp.refresh, None);
        assert_eq!(c.garp.refresh_repeat, 1);
    }

    #[test]
    fn rejects_zero_vrid_and_priority() {
        assert_eq!(err(|c| c.vrid = 0), ConfigError::VridZero);
        assert_eq!(err(|c| c.priority = 0), ConfigError::PriorityZero);
    }

    #[test]
    fn v2_interval_must_be_whole_seconds() {
        assert_eq!(
            err(|c| c.advert_interval = Centis(150)),
            ConfigError::V2Interval(Centis(150))
        );
        assert_eq!(
            err(|c| c.advert_interval = Centis(0)),
            ConfigError::V2Interval(Centis(0))
        );
        assert_eq!(
            err(|c| c.advert_interval = Centis(25600)),
            ConfigError::V2Interval(Centis(25600))
        );
        let mut c = base();
        c.advert_interval = Centis::from_secs(255);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn v3_interval_range_and_no_auth() {
        let v3 = |c: &mut RouterConfig| c.version = Version::V3;
        let mut c = base();
        v3(&mut c);
        c.advert_interval = Centis(1);
        assert_eq!(c.validate(), Ok(()));
        c.advert_interval = Centis(4095);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            err(|c| {
                v3(c);
                c.advert_interval = Centis(4096)
            }),
            ConfigError::V3Interval(Centis(4096))
        );
        assert_eq!(
            err(|c| {
                v3(c);
                c.auth = Some(*b"1111\0\0\0\0")
            }),
            ConfigError::AuthRequiresV2
        );
    }

    #[test]
    fn address_checks() {
        let v6: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(err(|c| c.vips.clear()), ConfigError::NoVips);
        assert_eq!(
            err(|c| c.vips.push(v4(100))),
            ConfigError::DuplicateVip(v4(100))
        );
        assert_eq!(
            err(|c| c.vips.push(v6)),
            ConfigError::MixedFamilies {
                primary: v4(1),
                vip: v6
            }
        );
        assert_eq!(
            err(|c| {
                c.primary_addr = v6;
                c.vips = vec!["fe80::100".parse().unwrap()];
            }),
            ConfigError::V2RequiresIpv4
        );
        assert_eq!(
            err(|c| c.vips.push(v4(1))),
            ConfigError::PrimaryIsVip {
                primary: v4(1),
                priority: 100
            }
        );
        // The owner may list its own address, and may also be "owner" without it.
        let mut c = base();
        c.priority = PRIORITY_OWNER;
        assert_eq!(c.validate(), Ok(()));
        c.vips.push(v4(1));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn keepalived_contradictions_are_errors() {
        assert_eq!(
            err(|c| {
                c.start_as = StartState::Master;
                c.preempt = false
            }),
            ConfigError::NopreemptWithStartMaster
        );
        assert_eq!(
            err(|c| {
                c.preempt = false;
                c.preempt_delay = Duration::from_secs(1)
            }),
            ConfigError::PreemptDelayWithoutPreempt
        );
        assert_eq!(
            err(|c| {
                c.start_as = StartState::Master;
                c.preempt_delay = Duration::from_secs(1)
            }),
            ConfigError::PreemptDelayWithStartMaster
        );
        assert_eq!(
            err(|c| c.garp.refresh = Some(Duration::ZERO)),
            ConfigError::GarpRefreshZero
        );
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let msg = ConfigError::V2Interval(Centis(150)).to_string();
        assert!(msg.contains("1.50s") && msg.contains("VRRPv3"), "{msg}");
    }

    #[test]
    fn centis_conversions() {
        assert_eq!(Centis::from_secs(3), Centis(300));
        assert_eq!(Centis(5).duration(), Duration::from_millis(50));
        assert_eq!(Centis(4095).to_string(), "40.95s");
    }
}
