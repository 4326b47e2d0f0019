//! One virtual router: the RFC 9568 §6 / RFC 3768 §6 state machine, driven by inputs stamped
//! with `now` and drained through [`VirtualRouter::poll_action`] and
//! [`VirtualRouter::poll_timeout`].

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::config::{Centis, ConfigError, RouterConfig, StartState, Version, PRIORITY_OWNER};
use super::timer::{Timer, TimerTable};
use super::timing;

/// The protocol state (RFC 9568 §6.4, plus keepalived's FAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down: no timers, no adverts.
    Initialize,
    /// Watching the master; takes over when its Master_Down_Timer fires.
    Backup,
    /// Owns the VIPs and advertises every Advertisement_Interval.
    Master,
    /// The interface or a tracked check is down: owns nothing, sends nothing, ignores adverts.
    Fault,
}

/// Authentication carried by a received advert (VRRPv2 only; always `None` for v3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdvertAuth {
    /// Auth Type 0.
    None,
    /// Auth Type 1, simple text password: the 8 Authentication Data bytes.
    Pass([u8; 8]),
    /// Any other Auth Type (2 was IP AH in RFC 2338); never matches a configuration here.
    Other(u8),
}

/// A received advert, already parsed and checksum-verified by the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RxAdvert {
    /// IP source address of the packet.
    pub src: IpAddr,
    /// IPv4 TTL or IPv6 Hop Limit; anything but 255 is dropped (RFC 9568 §5.1.1.3, §5.1.2.3).
    pub ttl: u8,
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v3: the Max Advertise Interval field; v2: the Adver Int field in seconds, times 100.
    pub max_adver_int: Centis,
    /// The IPvX addresses listed in the advert.
    pub addresses: Vec<IpAddr>,
    /// v2 only; ignored for v3, which has no authentication.
    pub auth: AdvertAuth,
}

/// Why an advert was dropped before it reached the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// TTL / hop limit is not 255.
    Ttl,
    /// Advert's VRRP version is not ours.
    Version,
    /// Advert is for another virtual router id.
    Vrid,
    /// Source address is not of our address family.
    AddressFamily,
    /// Our own advert, looped back (source is our primary address).
    OwnAdvert,
    /// v2: auth type or password differs from ours.
    Auth,
    /// v2: address list differs from ours and the sender is not the owner (RFC 3768 §7.1).
    AddressList,
    /// v2: advert interval differs from ours (RFC 3768 §7.1); v3: interval is zero.
    Interval,
    /// Source is not one of `RouterConfig::allowed_sources` (keepalived `check_unicast_src`).
    NotPeer,
}

impl DropReason {
    pub const ALL: [DropReason; 9] = [
        DropReason::Ttl,
        DropReason::Version,
        DropReason::Vrid,
        DropReason::AddressFamily,
        DropReason::OwnAdvert,
        DropReason::Auth,
        DropReason::AddressList,
        DropReason::Interval,
        DropReason::NotPeer,
    ];
}

/// What [`VirtualRouter::handle_advert`] did with an advert, for the daemon's logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdvertOutcome {
    /// Valid, and fed to the state machine (which may still discard it, as a preempting backup
    /// does with a lower-priority advert). `address_list_mismatch`: the advert's addresses differ
    /// from our VIPs (RFC 9568 §7.1 SHOULD log; counted).
    Accepted { address_list_mismatch: bool },
    /// Failed a check; counted under [`Counters::rejected`].
    Dropped(DropReason),
    /// The router is in Initialize or Fault: not looked at, not counted.
    Inactive,
}

/// Why the router changed state; one per `BecomeMaster`/`BecomeBackup` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `startup()`: address owners become master, everyone else backup.
    Startup,
    /// `leave_fault()`: as at start-up, but always a full Master_Down_Interval.
    LeftFault,
    /// Backup heard no advert for Master_Down_Interval.
    MasterDown,
    /// Backup's Master_Down_Timer was cut to Skew_Time by a priority-0 advert from `from`.
    PriorityZero { from: IpAddr },
    /// Backup's Master_Down_Timer was cut by [`VirtualRouter::master_gone`]: something faster
    /// than VRRP (a BFD session, havip's fast takeover) said the master at `from` is gone.
    MasterGone { from: IpAddr },
    /// Backup ignored adverts from a lower-priority master (`from`, `priority`) and took over.
    Preempt { from: IpAddr, priority: u8 },
    /// Master heard an advert with a higher priority.
    HigherPriority { from: IpAddr, priority: u8 },
    /// Master heard an advert with its own priority from a higher address.
    EqualPriorityHigherAddress { from: IpAddr },
    /// `resume_master()`: a new process of this node took over from one that handed over to
    /// it while master (a hitless restart). No transition on the wire.
    Resumed,
    /// A `vrrp_sync_group` moved it with its other members (keepalived's vrrp_sync_master /
    /// vrrp_sync_backup): every member wanted MASTER, or one went back to BACKUP.
    SyncGroup,
}

/// An instruction for the daemon, drained with [`VirtualRouter::poll_action`] and carried out in
/// order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an advert (with our vrid, version, auth and primary address as source, TTL 255).
    SendAdvert {
        priority: u8,
        max_adver_int: Centis,
        addresses: Vec<IpAddr>,
    },
    /// Now master. Log it; the VIP work follows as `AddVips`.
    BecomeMaster { reason: Reason },
    /// Now backup. If we were master, `RemoveVips` follows.
    BecomeBackup { reason: Reason },
    /// Now in FAULT (after `enter_fault`, or `startup` while faulted). If we were master, a
    /// priority-0 advert and `RemoveVips` come first.
    EnterFault,
    /// Take ownership of these VIPs: add them to the interface, set the data plane's flag.
    /// For an owner the list may hold the interface's own address: do not add it twice.
    AddVips(Vec<IpAddr>),
    /// Give them up. For an owner, never delete the interface's own primary address.
    RemoveVips(Vec<IpAddr>),
    /// Send one gratuitous ARP (IPv6: unsolicited NA) per entry, in order, now. Entries repeat
    /// an address once per repetition of the burst.
    SendGarp { vips: Vec<IpAddr> },
    /// `shutdown()` finished: state is Initialize, nothing armed.
    Stopped,
}

/// Adverts dropped, one counter per [`DropReason`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejected([u64; DropReason::ALL.len()]);

impl Rejected {
    /// The counter for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Every reason with its count, in [`DropReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.into_iter().map(|r| (r, self.get(r)))
    }

    fn bump(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }
}

/// Per-router statistics, for `havip stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Adverts sent, priority-0 ones included.
    pub adverts_sent: u64,
    pub priority_zero_sent: u64,
    /// Adverts that passed validation.
    pub adverts_received: u64,
    pub priority_zero_received: u64,
    /// Accepted adverts whose address list differed from our VIPs.
    pub address_list_mismatch: u64,
    pub rejected: Rejected,
    /// `BecomeMaster` + `BecomeBackup` + `EnterFault` actions emitted.
    pub transitions: u64,
    pub became_master: u64,
    /// GARP entries emitted (one per address per repetition).
    pub garps_sent: u64,
    /// Lower-priority and priority-0 adverts a master did not answer with an advert, because
    /// it had answered one less than an advert interval before (spoofing, or a storm).
    pub replies_limited: u64,
    /// GARP bursts not sent: a lower-priority advert within `garp.lower_prio_delay` of the
    /// last burst it caused, or any burst while another is still queued.
    pub garp_bursts_limited: u64,
    /// Adverts a master received from a lower-priority router (or an equal one with a lower
    /// address), priority 0 excepted: keepalived's `notify_master_rx_lower_pri` event.
    pub lower_priority_received: u64,
}

/// One VRRP virtual router, sans IO: it never reads the clock and never touches the network.
///
/// Contract for the driver:
/// - Feed inputs with the current time: [`startup`](Self::startup), [`handle_advert`](Self::handle_advert),
///   [`handle_timeout`](Self::handle_timeout), [`set_priority`](Self::set_priority),
///   [`enter_fault`](Self::enter_fault)/[`leave_fault`](Self::leave_fault),
///   [`shutdown`](Self::shutdown). `now` must never go backwards; every input takes it so the
///   driver treats them alike, though some do not use it yet.
/// - After every input, drain [`poll_action`](Self::poll_action) until `None` and carry the
///   actions out in order, then sleep until [`poll_timeout`](Self::poll_timeout) (or a packet)
///   and call `handle_timeout` when it is reached. Early or repeated `handle_timeout` calls are
///   harmless.
#[derive(Clone, Debug)]
pub struct VirtualRouter {
    config: RouterConfig,
    state: State,
    faulted: bool,
    priority: u8,
    /// Master_Adver_Interval: learned from the master's adverts in v3, always ours in v2.
    master_adver_int: Centis,
    master_addr: Option<IpAddr>,
    /// What to report if the Master_Down_Timer fires.
    down_reason: Reason,
    /// keepalived's `preempt_time`: lower-priority adverts are honoured until then.
    preempt_until: Option<Instant>,
    timers: TimerTable,
    garp_queue: VecDeque<IpAddr>,
    last_garp: Option<Instant>,
    /// GARPs per VIP in the burst `Timer::GarpDelayed` sends: `garp.repeat` after becoming
    /// master, `garp.lower_prio_repeat` after a lower-priority advert.
    delayed_repeat: u32,
    /// When a master last answered a lower-priority advert with an advert, a priority-0 one,
    /// and a lower-priority advert with GARPs: the limits on what a flood gets out of us.
    last_lower_reply: Option<Instant>,
    last_zero_reply: Option<Instant>,
    lower_garps: Reannounce,
    /// When this master last sent a scheduled advert (its Adver_Timer), and whether it has
    /// since been silent long enough (three intervals) for a backup to take over: a stall
    /// (SIGSTOP, a VM pause). A lower-priority advert after that is a real takeover, which the
    /// re-announcement bucket must not refuse (the chaos lab: four stalls in 5 s left the
    /// clients on a backup that had yielded, for 0.8 s).
    last_scheduled_advert: Option<Instant>,
    stalled: bool,
    /// A sync group holds its members' takeovers until they all want MASTER.
    held: bool,
    /// While held: the Master_Down_Timer ran out (the router would have taken over).
    wants_master: bool,
    actions: VecDeque<Action>,
    counters: Counters,
}

/// The re-announcements a master makes for lower-priority adverts: a bucket of
/// [`Reannounce::BURSTS`], one back per `garp_lower_prio_delay`, at most one per advert interval.
/// A flood of spoofed adverts gets three bursts, then one per delay; two or three real episodes
/// in quick succession (a healed partition, a stall) each pull the clients back.
#[derive(Clone, Debug, Default)]
struct Reannounce {
    /// Bursts spent since the bucket was last full.
    spent: u32,
    /// When the last burst was given back (or the first one taken from a full bucket).
    refilled: Option<Instant>,
    last: Option<Instant>,
}

impl Reannounce {
    const BURSTS: u32 = 3;

    fn take(&mut self, now: Instant, refill: Duration, spacing: Duration) -> bool {
        if let Some(at) = self.refilled.filter(|_| self.spent > 0) {
            let back = (now.saturating_duration_since(at).as_nanos() / refill.as_nanos().max(1))
                .min(u128::from(self.spent)) as u32;
            self.spent -= back;
            self.refilled = Some(at + refill * back);
        }
        if self.spent >= Self::BURSTS || self.last.is_some_and(|l| now < l + spacing) {
            return false;
        }
        if self.spent == 0 {
            self.refilled = Some(now);
        }
        self.spent += 1;
        self.last = Some(now);
        true
    }
}

impl VirtualRouter {
    /// A router in Initialize; nothing happens until [`startup`](Self::startup).
    pub fn new(config: RouterConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(VirtualRouter {
            priority: config.priority,
            master_adver_int: config.advert_interval,
            config,
            state: State::Initialize,
            faulted: false,
            master_addr: None,
            down_reason: Reason::MasterDown,
            preempt_until: None,
            timers: TimerTable::default(),
            garp_queue: VecDeque::new(),
            last_garp: None,
            delayed_repeat: 0,
            last_lower_reply: None,
            last_zero_reply: None,
            lower_garps: Reannounce::default(),
            last_scheduled_advert: None,
            stalled: false,
            held: false,
            wants_master: false,
            actions: VecDeque::new(),
            counters: Counters::default(),
        })
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The current master as far as we know: ourselves while master, the source of the last
    /// valid advert while backup, `None` in Initialize and Fault.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master_addr
    }

    /// The priority we advertise and compare with (see [`set_priority`](Self::set_priority)).
    pub fn effective_priority(&self) -> u8 {
        self.priority
    }

    /// Master_Adver_Interval: ours, or in v3 the one learned from the current master.
    pub fn master_adver_int(&self) -> Centis {
        self.master_adver_int
    }

    /// Whether `enter_fault` is in force (also before `startup`).
    pub fn is_faulted(&self) -> bool {
        self.faulted
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The next action for the daemon, in the order they must be carried out.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// GARP entries waiting for `garp.interval`; bounded by one burst.
    pub fn garp_queue_len(&self) -> usize {
        self.garp_queue.len()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next; `None` if no timer is armed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Initialize → Master for the address owner (advert, VIPs, GARP at once), otherwise →
    /// Backup (RFC 9568 §6.4.1), or → Fault if `enter_fault` came first. Ignored unless in
    /// Initialize.
    pub fn startup(&mut self, now: Instant) {
        if self.state != State::Initialize {
            return;
        }
        if self.faulted {
            self.enter_fault_state();
        } else {
            self.initialize(now, Reason::Startup);
        }
    }

    /// Instead of `startup`, in a new process of a node whose previous process was master and
    /// handed over to this one, keeping its VIPs and its XDP program answering (a hitless
    /// restart): master at once. It advertises at once, so the backups' Master_Down_Timers
    /// start again before they expire, and sends no GARP burst, since neither the VIPs nor the
    /// MAC moved. `AddVips` still follows (the daemon finds them in place). Faulted, or not in
    /// Initialize: as `startup`.
    pub fn resume_master(&mut self, now: Instant) {
        if self.state != State::Initialize || self.faulted {
            self.startup(now);
            return;
        }
        self.state = State::Master;
        self.timers.stop(Timer::MasterDown);
        self.preempt_until = None;
        self.master_addr = Some(self.config.primary_addr);
        self.counters.transitions += 1;
        self.counters.became_master += 1;
        self.actions.push_back(Action::BecomeMaster {
            reason: Reason::Resumed,
        });
        self.send_advert(self.priority);
        self.timers
            .set(Timer::Advert, now + self.config.advert_interval.duration());
        self.actions
            .push_back(Action::AddVips(self.config.vips.clone()));
        if let Some(period) = self.config.garp.refresh {
            self.timers.set(Timer::GarpRefresh, now + period);
        }
    }

    /// Master: cancel the advert timer, send a priority-0 advert and release the VIPs
    /// (RFC 9568 §6.4.3 Shutdown). Backup: cancel the Master_Down_Timer (§6.4.2). Then
    /// Initialize and `Stopped`. Ignored in Initialize.
    pub fn shutdown(&mut self, _now: Instant) {
        if self.state == State::Initialize {
            return;
        }
        self.release_if_master();
        self.go_quiet();
        self.master_addr = None;
        self.state = State::Initialize;
        self.actions.push_back(Action::Stopped);
    }

    /// The interface went down or a tracked check failed: a master sends a priority-0 advert and
    /// releases the VIPs (as keepalived does), then the router stays silent in Fault. Before
    /// `startup`, or after `shutdown`, it only records the fault.
    pub fn enter_fault(&mut self, _now: Instant) {
        if self.faulted {
            return;
        }
        self.faulted = true;
        if self.state == State::Initialize {
            return;
        }
        self.release_if_master();
        self.enter_fault_state();
    }

    /// The fault cleared: leave Fault as from Initialize (an owner becomes master at once,
    /// others backup with a full Master_Down_Interval).
    pub fn leave_fault(&mut self, now: Instant) {
        if !self.faulted {
            return;
        }
        self.faulted = false;
        if self.state == State::Fault {
            self.initialize(now, Reason::LeftFault);
        }
    }

    /// The interface's own address changed (removed, and another one came): adverts go from
    /// `addr`, and ties are broken with it. Ignored for another address family.
    pub fn set_primary_addr(&mut self, addr: IpAddr) {
        if addr.is_ipv4() == self.config.primary_addr.is_ipv4() {
            self.config.primary_addr = addr;
        }
    }

    /// Health tracking changed the priority to advertise. Clamped to 1..=254 (only the configured
    /// owner advertises 255); ignored for an owner, whose priority stays 255 as keepalived
    /// ignores track weights there. Takes effect at the next advert sent or received: a master
    /// that drops below a preempting backup loses the VIP one Master_Down_Interval later.
    pub fn set_priority(&mut self, _now: Instant, priority: u8) {
        if self.config.priority != PRIORITY_OWNER {
            self.priority = priority.clamp(1, PRIORITY_OWNER - 1);
        }
    }

    /// A `vrrp_sync_group` holds this router's takeovers (keepalived's
    /// vrrp_sync_can_goto_master): when its Master_Down_Timer runs out it stays BACKUP and
    /// [`wants_master`](Self::wants_master), until the group moves it with
    /// [`sync_take_over`](Self::sync_take_over). Released, it takes over as the RFC says.
    pub fn hold_takeover(&mut self, held: bool) {
        self.held = held;
        if !held {
            self.wants_master = false;
        }
    }

    /// MASTER, or a held BACKUP whose Master_Down_Timer ran out: what keepalived's
    /// `wantstate == MASTER` says of a sync group member.
    pub fn wants_master(&self) -> bool {
        self.state == State::Master || (self.state == State::Backup && self.wants_master)
    }

    /// keepalived's vrrp_sync_master: every member of the group wants MASTER, so this BACKUP
    /// takes over now. Nothing happens in any other state.
    pub fn sync_take_over(&mut self, now: Instant) {
        if self.state == State::Backup {
            self.become_master(now, Reason::SyncGroup);
        }
    }

    /// keepalived's vrrp_sync_backup: another member of the group went back to BACKUP, so this
    /// MASTER does too (its VIPs go, its adverts stop; the other node's member takes over when
    /// its Master_Down_Interval runs out). Nothing happens in any other state.
    pub fn sync_backup(&mut self, now: Instant) {
        if self.state == State::Master {
            self.enter_backup(now, Reason::SyncGroup, self.master_down_interval());
        }
    }

    /// havip's fast takeover (outside RFC 9568): another detector (a BFD session) says the
    /// master at `from` is gone. A backup whose master is `from` cuts its Master_Down_Timer to
    /// `after` from now (a skew, so that the backup that would win goes first); an advert
    /// from a master that is in fact alive sets it back, as any advert does, and VRRP decides
    /// as ever if two end up master. Whether the timer was cut.
    pub fn master_gone(&mut self, now: Instant, from: IpAddr, after: Duration) -> bool {
        if self.state != State::Backup || self.master_addr != Some(from) {
            return false;
        }
        let at = now + after;
        if self.timers.get(Timer::MasterDown).is_none_or(|t| t <= at) {
            return false;
        }
        self.timers.set(Timer::MasterDown, at);
        self.down_reason = Reason::MasterGone { from };
        true
    }

    /// Every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::ALL {
            let Some(due) = self.timers.get(timer).filter(|at| *at <= now) else {
                continue;
            };
            self.timers.stop(timer);
            match timer {
                // RFC 9568 §6.4.2: Master_Down_Timer fires.
                // keepalived vrrp_sync_can_goto_master(): a held member waits, wanting MASTER,
                // its timer armed again, until its group's other members want it too.
                Timer::MasterDown if self.held => {
                    self.wants_master = true;
                    self.timers
                        .set(Timer::MasterDown, now + self.master_down_interval());
                }
                Timer::MasterDown => self.become_master(now, self.down_reason),
                // §6.4.3: Adver_Timer fires. The next one is an interval after this one was
                // due, not after the driver got to it, so a late wake-up does not stretch
                // every later interval (measured: 11.3 ms between 10 ms adverts otherwise).
                // After a long stall, resume from now rather than send a burst.
                Timer::Advert => {
                    self.send_advert(self.priority);
                    let interval = self.config.advert_interval.duration();
                    self.note_silence(now);
                    self.last_scheduled_advert = Some(now);
                    let next = due + interval;
                    self.timers.set(
                        Timer::Advert,
                        if next > now { next } else { now + interval },
                    );
                }
                Timer::GarpDelayed => self.queue_garps(now, self.delayed_repeat),
                Timer::GarpRefresh => {
                    if let Some(period) = self.config.garp.refresh {
                        self.timers.set(Timer::GarpRefresh, now + period);
                    }
                    self.queue_garps(now, self.config.garp.refresh_repeat);
                }
                Timer::GarpQueue => self.send_queued_garps(now),
                Timer::GarpAfterLoser => {
                    let (repeat, delay) = (
                        self.config.garp.lower_prio_repeat(),
                        self.config.garp.lower_prio_delay(),
                    );
                    self.garp_bursts(now, repeat, delay);
                }
            }
        }
    }

    /// How long after a lower-priority advert its sender's GARPs are surely out: one advert
    /// interval, from 10 ms to 100 ms (a sender's GARPs follow its advert by its netlink work,
    /// a millisecond or so, more when loaded).
    fn after_loser(interval: Duration) -> Duration {
        interval.clamp(Duration::from_millis(10), Duration::from_millis(100))
    }

    /// A received advert. It is validated (RFC 9568 §7.1, RFC 3768 §7.1) and then run through
    /// the Backup (§6.4.2) or Master (§6.4.3) rules.
    pub fn handle_advert(&mut self, now: Instant, advert: &RxAdvert) -> AdvertOutcome {
        if !matches!(self.state, State::Backup | State::Master) {
            return AdvertOutcome::Inactive;
        }
        let address_list_mismatch = match self.check(advert) {
            Ok(mismatch) => mismatch,
            Err(reason) => {
                self.counters.rejected.bump(reason);
                return AdvertOutcome::Dropped(reason);
            }
        };
        self.counters.adverts_received += 1;
        if advert.priority == 0 {
            self.counters.priority_zero_received += 1;
        }
        if address_list_mismatch {
            self.counters.address_list_mismatch += 1;
        }
        match self.state {
            State::Backup => self.backup_rx(now, advert),
            State::Master => self.master_rx(now, advert),
            State::Initialize | State::Fault => unreachable!("checked above"),
        }
        AdvertOutcome::Accepted {
            address_list_mismatch,
        }
    }

    /// `Ok(address list differs)`, or why the advert must be dropped.
    fn check(&self, adv: &RxAdvert) -> Result<bool, DropReason> {
        let cfg = &self.config;
        if self.config.check_ttl && adv.ttl != 255 {
            return Err(DropReason::Ttl);
        }
        if let Some((_, min, max)) = cfg.peer_ttl.iter().find(|(a, ..)| *a == adv.src) {
            if !(*min..=*max).contains(&adv.ttl) {
                return Err(DropReason::Ttl);
            }
        }
        if adv.version != cfg.version {
            return Err(DropReason::Version);
        }
        if adv.vrid != cfg.vrid {
            return Err(DropReason::Vrid);
        }
        if adv.src.is_ipv4() != cfg.primary_addr.is_ipv4() {
            return Err(DropReason::AddressFamily);
        }
        if adv.src == cfg.primary_addr {
            return Err(DropReason::OwnAdvert);
        }
        if !cfg.allowed_sources.is_empty() && !cfg.allowed_sources.contains(&adv.src) {
            return Err(DropReason::NotPeer);
        }
        let mismatch = adv.addresses.len() != cfg.vips.len()
            || cfg.vips.iter().any(|vip| !adv.addresses.contains(vip));
        match cfg.version {
            Version::V2 => {
                let auth_ok = match (cfg.auth, adv.auth) {
                    (None, AdvertAuth::None) => true,
                    (Some(ours), AdvertAuth::Pass(theirs)) => ours == theirs,
                    _ => false,
                };
                if !auth_ok {
                    return Err(DropReason::Auth);
                }
                if mismatch && adv.priority != PRIORITY_OWNER {
                    return Err(DropReason::AddressList);
                }
                if adv.max_adver_int != cfg.advert_interval {
                    return Err(DropReason::Interval);
                }
            }
            Version::V3 => {
                if adv.max_adver_int.0 == 0 {
                    return Err(DropReason::Interval);
                }
            }
        }
        Ok(mismatch)
    }

    /// RFC 9568 §6.4.2, "If an ADVERTISEMENT is received", with keepalived's preempt_delay.
    fn backup_rx(&mut self, now: Instant, adv: &RxAdvert) {
        self.master_addr = Some(adv.src);
        if adv.priority == 0 {
            self.timers.set(Timer::MasterDown, now + self.skew_time());
            self.down_reason = Reason::PriorityZero { from: adv.src };
            return;
        }
        let lower = adv.priority < self.priority;
        let delay = self.config.preempt_delay;
        let delaying = !delay.is_zero() && self.preempt_until.is_none_or(|until| until > now);
        if !self.config.preempt || !lower || delaying {
            if self.config.version == Version::V3 {
                self.master_adver_int = adv.max_adver_int;
            }
            self.timers
                .set(Timer::MasterDown, now + self.master_down_interval());
            self.down_reason = Reason::MasterDown;
            // A master it defers to is alive.
            self.wants_master = false;
            if !delay.is_zero() {
                if !lower {
                    self.preempt_until = None;
                } else if self.preempt_until.is_none() {
                    self.preempt_until = Some(now + delay);
                }
            }
        } else {
            // Preempt: discard, so the Master_Down_Timer runs out.
            self.down_reason = Reason::Preempt {
                from: adv.src,
                priority: adv.priority,
            };
        }
    }

    /// RFC 9568 §6.4.3, "If an ADVERTISEMENT is received".
    fn master_rx(&mut self, now: Instant, adv: &RxAdvert) {
        if adv.priority == 0 {
            // Answered once per advert interval at most: a spoofed flood of priority-0 adverts
            // got one advert each (10 000 in 10 s).
            let interval = self.interval();
            if !Self::allow(&mut self.last_zero_reply, now, interval) {
                self.counters.replies_limited += 1;
                return;
            }
            self.send_advert(self.priority);
            self.timers.set(Timer::Advert, now + self.interval());
            return;
        }
        // Unsigned comparison in network byte order is `Ord` on same-family `IpAddr`s.
        let reason = if adv.priority > self.priority {
            Reason::HigherPriority {
                from: adv.src,
                priority: adv.priority,
            }
        } else if adv.priority == self.priority && adv.src > self.config.primary_addr {
            Reason::EqualPriorityHigherAddress { from: adv.src }
        } else {
            // Discard, and assert mastership at once (RFC 9568 §6.4.3; keepalived does it for
            // v2 too). The sender believed it was master, so hosts may have learned its MAC
            // after our own announcement: re-announce the VIPs now and once more after the
            // delay, as keepalived does (`garp_lower_prio_repeat`/`_delay`, defaulting to the
            // `garp_master_*` values), even when our own second burst is still pending (found
            // in a lab: a healed partition within 5 s of start-up left clients on the loser).
            // Both are limited, since VRRP has no authentication and a flood of spoofed
            // lower-priority adverts got an advert and a burst each (10 000 adverts in 10 s:
            // 10 000 adverts and 100 000 GARPs): the advert at most once per advert interval,
            // the bursts as [`Reannounce`] allows. A real second master yields to our first
            // advert, so one episode needs one burst; but episodes can follow each other closely
            // (a takeover, then a stall 1.1 s later: the chaos lab), and each needs its own.
            self.counters.lower_priority_received += 1;
            let interval = self.interval();
            if self.config.lower_prio_no_advert {
                // keepalived `lower_prio_no_advert`: the RFC's discard; the sender yields to
                // our next scheduled advert.
            } else if Self::allow(&mut self.last_lower_reply, now, interval) {
                self.send_advert(self.priority);
            } else {
                self.counters.replies_limited += 1;
            }
            let delay = self.config.garp.lower_prio_delay();
            // After a stall of ours a backup may really have taken over, and the clients
            // followed its GARPs: that episode is re-announced whatever the bucket says. A
            // spoofer cannot make us stall, and each stall counts once.
            self.note_silence(now);
            let stalled = std::mem::take(&mut self.stalled);
            if stalled || self.lower_garps.take(now, delay.max(interval), interval) {
                // Not at once: the other master sends its advert before its GARPs, so when it
                // has just taken over too (two backups racing when the master went away),
                // its GARPs would follow our burst and the clients end on it, a backup once it
                // hears us (the chaos lab: 11 outages of 0.2–1 s in an hour). A little later,
                // after its GARPs (`after_loser`).
                self.timers
                    .set(Timer::GarpAfterLoser, now + Self::after_loser(interval));
            } else {
                self.counters.garp_bursts_limited += 1;
            }
            return;
        };
        // One advert at our priority on the way out (not in the RFC, nor in keepalived): if the
        // winner's advert reached us first after a partition healed, this is how the winner
        // learns there was another master, so it re-announces the VIPs (above).
        self.send_advert(self.priority);
        if self.config.version == Version::V3 {
            self.master_adver_int = adv.max_adver_int;
        }
        self.master_addr = Some(adv.src);
        self.enter_backup(now, reason, self.master_down_interval());
    }

    /// Leave Initialize or Fault (RFC 9568 §6.4.1).
    fn initialize(&mut self, now: Instant, reason: Reason) {
        if self.config.priority == PRIORITY_OWNER {
            self.become_master(now, reason);
            return;
        }
        self.master_adver_int = self.config.advert_interval;
        let down = if reason == Reason::Startup && self.config.start_as == StartState::Master {
            // keepalived vrrp_init_state(): master_adver_int + VRRP_TIMER_SKEW_MIN.
            self.master_adver_int.duration()
                + timing::skew(self.config.version, self.master_adver_int, 1)
        } else {
            self.master_down_interval()
        };
        self.enter_backup(now, reason, down);
    }

    /// Notes whether this master has been silent for three advert intervals up to `now`.
    fn note_silence(&mut self, now: Instant) {
        let quiet = 3 * self.config.advert_interval.duration();
        if self
            .last_scheduled_advert
            .is_some_and(|t| now.saturating_duration_since(t) >= quiet)
        {
            self.stalled = true;
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.wants_master = false;
        self.stalled = false;
        self.last_scheduled_advert = Some(now);
        self.state = State::Master;
        self.timers.stop(Timer::MasterDown);
        self.preempt_until = None;
        self.master_addr = Some(self.config.primary_addr);
        self.counters.transitions += 1;
        self.counters.became_master += 1;
        self.actions.push_back(Action::BecomeMaster { reason });
        // The advert goes first so the old master drops the VIPs before our GARPs arrive.
        self.send_advert(self.priority);
        self.timers
            .set(Timer::Advert, now + self.config.advert_interval.duration());
        self.actions
            .push_back(Action::AddVips(self.config.vips.clone()));
        self.garp_bursts(now, self.config.garp.repeat, self.config.garp.delay);
        if let Some(period) = self.config.garp.refresh {
            self.timers.set(Timer::GarpRefresh, now + period);
        }
    }

    fn enter_backup(&mut self, now: Instant, reason: Reason, master_down: Duration) {
        self.wants_master = false;
        self.stalled = false;
        self.last_scheduled_advert = None;
        let was_master = self.state == State::Master;
        self.go_quiet();
        self.state = State::Backup;
        self.counters.transitions += 1;
        self.actions.push_back(Action::BecomeBackup { reason });
        if was_master {
            self.actions
                .push_back(Action::RemoveVips(self.config.vips.clone()));
        }
        self.timers.set(Timer::MasterDown, now + master_down);
        self.down_reason = Reason::MasterDown;
    }

    fn enter_fault_state(&mut self) {
        self.wants_master = false;
        self.go_quiet();
        self.master_addr = None;
        self.state = State::Fault;
        self.counters.transitions += 1;
        self.actions.push_back(Action::EnterFault);
    }

    /// A master going away says so with priority 0 and gives the VIPs up.
    fn release_if_master(&mut self) {
        if self.state == State::Master {
            self.send_advert(0);
            self.actions
                .push_back(Action::RemoveVips(self.config.vips.clone()));
        }
    }

    /// Disarm everything and forget pending GARPs and preemption.
    fn go_quiet(&mut self) {
        self.timers.stop_all();
        self.garp_queue.clear();
        self.preempt_until = None;
    }

    fn send_advert(&mut self, priority: u8) {
        self.counters.adverts_sent += 1;
        if priority == 0 {
            self.counters.priority_zero_sent += 1;
        }
        self.actions.push_back(Action::SendAdvert {
            priority,
            max_adver_int: self.config.advert_interval,
            addresses: self.config.vips.clone(),
        });
    }

    /// The advert interval, the unit of the reply limits.
    fn interval(&self) -> Duration {
        self.config.advert_interval.duration()
    }

    /// Whether something last done at `*last` may be done again at `now`, `spacing` apart;
    /// if so, `*last` becomes `now`.
    fn allow(last: &mut Option<Instant>, now: Instant, spacing: Duration) -> bool {
        if last.is_some_and(|at| now < at + spacing) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// keepalived's announcement: `repeat` GARPs per VIP now, and again after `delay`. The
    /// repeat of an earlier announcement still pending is superseded by this one's.
    fn garp_bursts(&mut self, now: Instant, repeat: u32, delay: Duration) {
        if repeat > 0 && !delay.is_zero() {
            self.timers.set(Timer::GarpDelayed, now + delay);
            self.delayed_repeat = repeat;
        }
        self.queue_garps(now, repeat);
    }

    /// Queues a burst, unless one is still queued (`garp.interval` spacing it out): bursts
    /// arriving faster than the spacing lets them out grew the queue without bound (100 000
    /// entries from a flood, sent for 1000 s after it stopped). So the queue never holds more
    /// than one burst: `repeat` × VIPs entries.
    fn queue_garps(&mut self, now: Instant, repeat: u32) {
        if !self.garp_queue.is_empty() {
            self.counters.garp_bursts_limited += 1;
            return;
        }
        for _ in 0..repeat {
            self.garp_queue.extend(self.config.vips.iter().copied());
        }
        if self.timers.get(Timer::GarpQueue).is_none() {
            self.send_queued_garps(now);
        }
    }

    /// Send what `garp.interval` allows now; arm the queue timer for the rest.
    fn send_queued_garps(&mut self, now: Instant) {
        if self.garp_queue.is_empty() {
            return;
        }
        let interval = self.config.garp.interval;
        let vips: Vec<IpAddr> = if interval.is_zero() {
            self.garp_queue.drain(..).collect()
        } else {
            let due = self
                .last_garp
                .map_or(now, |last| (last + interval).max(now));
            if due > now {
                self.timers.set(Timer::GarpQueue, due);
                return;
            }
            if self.garp_queue.len() > 1 {
                self.timers.set(Timer::GarpQueue, now + interval);
            }
            self.garp_queue.pop_front().into_iter().collect()
        };
        self.last_garp = Some(now);
        self.counters.garps_sent += vips.len() as u64;
        self.actions.push_back(Action::SendGarp { vips });
    }

    /// Skew_Time at our current priority and Master_Adver_Interval.
    fn skew_time(&self) -> Duration {
        timing::skew_time(self.config.version, self.master_adver_int, self.priority)
    }

    /// Master_Down_Interval at our current priority and Master_Adver_Interval.
    fn master_down_interval(&self) -> Duration {
        timing::master_down_interval_of(
            self.config.version,
            self.master_adver_int,
            self.priority,
            self.config.down_timer_adverts,
        )
    }
}
