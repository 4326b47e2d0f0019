//! Scenarios named after the rule they check, single routers driven by hand and whole LANs in
//! virtual time ([`Lan`]), plus properties over random crash/partition histories.
//!
//! Expected times are written out as numbers, not recomputed with the code's formula: with a 1 s
//! interval, Master_Down_Interval is 3 s + (256 − priority)/256 s, e.g. 3.609375 s at priority
//! 100, 3.4140625 s at 150, 3.21875 s at 200.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::sim::{epoch, Lan};
use super::*;

const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 101));
/// The simulated LAN's delivery delay.
const D: Duration = Duration::from_millis(1);

fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn us(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

fn ns(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// VRRPv3, 1 s adverts, one VIP, primary address 10.0.0.`n`.
fn v3(priority: u8, n: u8) -> RouterConfig {
    let mut c = RouterConfig::new(51, priority, addr(n), vec![VIP]);
    c.version = Version::V3;
    c.advert_interval = Centis(100);
    c
}

/// VRRPv2 (keepalived's default), 1 s adverts, one VIP.
fn v2(priority: u8, n: u8) -> RouterConfig {
    RouterConfig::new(51, priority, addr(n), vec![VIP])
}

fn router(config: RouterConfig) -> VirtualRouter {
    VirtualRouter::new(config).expect("valid config")
}

fn drain(r: &mut VirtualRouter) -> Vec<Action> {
    std::iter::from_fn(|| r.poll_action()).collect()
}

/// The advert `config`'s router would send at `priority`, as received.
fn advert_from(config: &RouterConfig, priority: u8) -> RxAdvert {
    RxAdvert {
        src: config.primary_addr,
        ttl: 255,
        version: config.version,
        vrid: config.vrid,
        priority,
        max_adver_int: config.advert_interval,
        addresses: config.vips.clone(),
        auth: config.auth.map_or(AdvertAuth::None, AdvertAuth::Pass),
    }
}

fn send_advert(priority: u8, config: &RouterConfig) -> Action {
    Action::SendAdvert {
        priority,
        max_adver_int: config.advert_interval,
        addresses: config.vips.clone(),
    }
}

/// A backup router (v3, priority 100, 10.0.0.2) started at the returned instant.
fn started_backup() -> (VirtualRouter, Instant) {
    let mut r = router(v3(100, 2));
    let t0 = epoch();
    r.startup(t0);
    drain(&mut r);
    (r, t0)
}

/// An owner (v3, priority 255, 10.0.0.1) that became master at the returned instant.
fn started_owner() -> (VirtualRouter, Instant) {
    let mut r = router(v3(255, 1));
    let t0 = epoch();
    r.startup(t0);
    drain(&mut r);
    (r, t0)
}

// ---------------------------------------------------------------------------------------------
// RFC 9568 §6.4.1 Initialize

#[test]
fn rfc9568_6_4_1_owner_becomes_master_at_startup_with_advert_vips_and_garp() {
    let config = v3(255, 1);
    let mut r = router(config.clone());
    let t0 = epoch();
    r.startup(t0);
    assert_eq!(
        drain(&mut r),
        vec![
            Action::BecomeMaster {
                reason: Reason::Startup
            },
            send_advert(255, &config),
            Action::AddVips(vec![VIP]),
            Action::SendGarp { vips: vec![VIP; 5] },
        ]
    );
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.master_addr(), Some(addr(1)));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1)), "Adver_Timer");
}

#[test]
fn rfc9568_6_4_1_non_owner_starts_as_backup_for_master_down_interval() {
    let (r, t0) = started_backup();
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.poll_timeout(), Some(t0 + us(3_609_375)));
}

#[test]
fn rfc3768_6_1_v2_skew_time_is_in_256ths_of_a_second() {
    // v2 Skew_Time does not scale with the interval: 2 s adverts at priority 100 give
    // 3 × 2 s + 156/256 s.
    let mut c = v2(100, 2);
    c.advert_interval = Centis::from_secs(2);
    let mut r = router(c);
    let t0 = epoch();
    r.startup(t0);
    assert_eq!(r.poll_timeout(), Some(t0 + us(6_609_375)));
}

#[test]
fn keepalived_state_master_starts_backup_with_one_interval_down_timer() {
    // vrrp_init_state(): master_adver_int + VRRP_TIMER_SKEW_MIN, for a non-owner.
    let mut c = v3(100, 2);
    c.advert_interval = Centis(50);
    c.start_as = StartState::Master;
    let mut r = router(c);
    let t0 = epoch();
    r.startup(t0);
    assert_eq!(
        drain(&mut r),
        vec![Action::BecomeBackup {
            reason: Reason::Startup
        }]
    );
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + ns(501_953_125)),
        "0.5 s + 0.5 s/256"
    );
    r.handle_timeout(t0 + ns(501_953_125));
    assert_eq!(r.state(), State::Master);

    let mut c = v2(100, 2);
    c.start_as = StartState::Master;
    let mut r = router(c);
    r.startup(t0);
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + ns(1_003_906_250)),
        "1 s + 1 s/256"
    );
}

#[test]
fn keepalived_state_master_yields_to_a_higher_master_and_preempts_a_lower_one() {
    let mut higher = Lan::new(vec![v3(200, 1), {
        let mut c = v3(100, 2);
        c.start_as = StartState::Master;
        c
    }]);
    higher.start(0);
    higher.run_for(secs(10));
    higher.start(1);
    higher.run_for(secs(30));
    assert_eq!(higher.sole_master(), Some(0));
    assert!(higher
        .times(1, |a| matches!(a, Action::BecomeMaster { .. }))
        .is_empty());

    let mut lower = Lan::new(vec![v3(50, 1), {
        let mut c = v3(100, 2);
        c.start_as = StartState::Master;
        c
    }]);
    lower.start(0);
    lower.run_for(secs(10));
    let t = lower.now;
    lower.start(1);
    lower.run_for(secs(30));
    assert_eq!(lower.sole_master(), Some(1));
    // One interval plus 1/256 s instead of the full 3.609375 s.
    assert_eq!(lower.became_master_at(1), Some(t + ns(1_003_906_250)));
}

#[test]
fn startup_while_faulted_enters_fault_and_leaving_it_goes_backup() {
    let mut r = router(v3(100, 2));
    let t0 = epoch();
    r.enter_fault(t0);
    assert!(
        drain(&mut r).is_empty(),
        "nothing to release before startup"
    );
    r.startup(t0);
    assert_eq!(drain(&mut r), vec![Action::EnterFault]);
    assert_eq!(r.state(), State::Fault);
    assert_eq!(r.poll_timeout(), None);
    r.leave_fault(t0 + secs(1));
    assert_eq!(
        drain(&mut r),
        vec![Action::BecomeBackup {
            reason: Reason::LeftFault
        }]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1) + us(3_609_375)));
}

/// Found by the 60-minute chaos run (seed 4242, 11 outages of 0.2–1 s): two backups took over
/// together when the master went away; the winner re-announced at once on the loser's advert,
/// and the loser's GARPs, which it sends after its advert, came after that and left the clients
/// on it. The winner's re-announcement now comes one advert interval (at most 100 ms) later.
#[test]
fn the_re_announcement_follows_the_other_master_s_own_garps() {
    let (mut r, t0) = started_owner();
    let t = t0 + secs(1) / 2;
    r.handle_advert(t, &advert_from(&v3(100, 2), 100));
    let is_garp = |a: &Action| matches!(a, Action::SendGarp { .. });
    assert!(
        !drain(&mut r).iter().any(is_garp),
        "not before the loser's GARPs"
    );
    r.handle_timeout(t + Duration::from_millis(99));
    assert!(!drain(&mut r).iter().any(is_garp));
    r.handle_timeout(t + Duration::from_millis(100));
    assert!(
        drain(&mut r).iter().any(is_garp),
        "then the re-announcement"
    );
    assert_eq!(r.state(), State::Master);
}

#[test]
fn resume_master_advertises_at_once_without_a_garp_burst() {
    let config = v3(150, 1);
    let mut r = router(config.clone());
    let t0 = epoch();
    r.resume_master(t0);
    assert_eq!(
        drain(&mut r),
        vec![
            Action::BecomeMaster {
                reason: Reason::Resumed
            },
            send_advert(150, &config),
            Action::AddVips(vec![VIP]),
        ],
        "no GARP: the VIPs and the MAC did not move"
    );
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1)), "Adver_Timer");
    // A higher priority master met afterwards wins as usual.
    let higher = v3(200, 3);
    r.handle_advert(t0 + secs(1) / 2, &advert_from(&higher, 200));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn resume_master_while_faulted_is_startup() {
    let mut r = router(v3(150, 1));
    let t0 = epoch();
    r.enter_fault(t0);
    r.resume_master(t0);
    assert_eq!(drain(&mut r), vec![Action::EnterFault]);
    assert_eq!(r.state(), State::Fault);
}

// ---------------------------------------------------------------------------------------------
// RFC 9568 §6.4.2 Backup

#[test]
fn rfc9568_6_4_2_highest_priority_wins_the_initial_election() {
    let mut lan = Lan::new(vec![v3(100, 1), v3(150, 2), v3(120, 3)]);
    let t0 = lan.now;
    lan.start_all();
    lan.run_for(secs(20));
    assert_eq!(lan.sole_master(), Some(1));
    // Priority 150 has the shortest Master_Down_Interval, and its first advert reaches the
    // others before theirs (3.46875 s, 3.609375 s) runs out.
    assert_eq!(lan.became_master_at(1), Some(t0 + ns(3_414_062_500)));
    for other in [0, 2] {
        assert!(lan
            .times(other, |a| matches!(a, Action::BecomeMaster { .. }))
            .is_empty());
        assert_eq!(lan.router(other).master_addr(), Some(addr(2)));
    }
    assert_eq!(lan.vip_holders(), vec![1]);
}

#[test]
fn rfc9568_6_4_2_backup_becomes_master_after_master_down_interval() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(0));
    let crash = lan.now;
    lan.crash(0);
    lan.run_for(secs(10));
    let last = lan.last_advert_from(0).expect("the master advertised");
    // The timer restarted when the last advert arrived.
    assert_eq!(lan.became_master_at(1), Some(last + D + us(3_609_375)));
    assert_eq!(lan.sole_master(), Some(1));
    let (gap, overlap) = lan.vip_gaps_and_overlaps(crash, lan.now);
    assert_eq!(gap, last + D + us(3_609_375) - crash);
    assert_eq!(overlap, Duration::ZERO);
    assert!(lan.log.iter().any(|l| l.node == 1
        && l.action
            == Action::BecomeMaster {
                reason: Reason::MasterDown
            }));
}

/// keepalived `down_timer_adverts 5`: the backup waits 5 intervals plus Skew_Time; fewer than
/// the RFC's 3 is refused (a stalled master's XDP heartbeat is sized for 3).
#[test]
fn down_timer_adverts_stretches_master_down_interval() {
    let backup = RouterConfig {
        down_timer_adverts: 5,
        ..v3(100, 2)
    };
    assert_eq!(backup.validate(), Ok(()));
    let mut lan = Lan::new(vec![v3(200, 1), backup]);
    lan.start_all();
    lan.run_for(secs(10));
    lan.crash(0);
    lan.run_for(secs(10));
    let last = lan.last_advert_from(0).expect("the master advertised");
    assert_eq!(lan.became_master_at(1), Some(last + D + us(5_609_375)));
    for n in [0, 2, 101] {
        let c = RouterConfig {
            down_timer_adverts: n,
            ..v3(100, 2)
        };
        assert_eq!(c.validate(), Err(ConfigError::DownTimerAdverts(n)));
    }
}

/// keepalived `unicast_peer { ADDR min_ttl N max_ttl M }`: an advert from ADDR outside the
/// range is dropped as a TTL error; other sources are not held to it.
#[test]
fn peer_ttl_ranges_drop_adverts_outside_them() {
    let mut config = v3(100, 1);
    config.check_ttl = false;
    config.peer_ttl = vec![(addr(2), 60, 64)];
    let mut r = router(config);
    let t0 = epoch();
    r.startup(t0);
    drain(&mut r);
    let mut adv = advert_from(&v3(200, 2), 200);
    adv.ttl = 255;
    r.handle_advert(t0 + us(10_000), &adv);
    assert_eq!(r.counters().rejected.get(DropReason::Ttl), 1);
    adv.ttl = 64;
    r.handle_advert(t0 + us(20_000), &adv);
    assert_eq!(r.counters().rejected.get(DropReason::Ttl), 1);
    assert_eq!(r.master_addr(), Some(addr(2)));
    let mut other = advert_from(&v3(200, 3), 200);
    other.ttl = 1;
    r.handle_advert(t0 + us(30_000), &other);
    assert_eq!(
        r.counters().rejected.get(DropReason::Ttl),
        1,
        "not a ranged peer"
    );
}

#[test]
fn rfc9568_6_4_2_priority_zero_advert_cuts_takeover_to_skew_time() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    let t = lan.now;
    lan.input(0, |r, now| r.shutdown(now));
    lan.run_for(secs(10));
    // Skew_Time at priority 100 and 1 s: 156/256 s.
    assert_eq!(lan.became_master_at(1), Some(t + D + us(609_375)));
    assert!(lan.log.iter().any(|l| l.node == 1
        && l.action
            == Action::BecomeMaster {
                reason: Reason::PriorityZero { from: addr(1) }
            }));
    let (gap, overlap) = lan.vip_gaps_and_overlaps(t, lan.now);
    assert_eq!((gap, overlap), (D + us(609_375), Duration::ZERO));
}

/// havip's fast takeover: a backup told its master is gone (by BFD) takes over after the skew
/// it is given, unless an advert comes first; a false alarm that beats the advert makes two
/// masters for one advert exchange, and VRRP puts the right one back.
#[test]
fn master_gone_cuts_the_takeover_to_the_given_skew_and_an_advert_undoes_it() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    let mut cut = None;
    lan.input(1, |r, now| cut = Some(r.master_gone(now, addr(3), us(500))));
    assert_eq!(cut, Some(false), "not the master's address");
    // The master is alive and adverts every second: with a 2 s skew its next advert comes
    // first and puts the timer back; nobody moves.
    lan.input(1, |r, now| cut = Some(r.master_gone(now, addr(1), secs(2))));
    assert_eq!(cut, Some(true));
    lan.run_for(secs(5));
    assert_eq!(lan.became_master_at(1), None);
    // A false alarm with a skew shorter than the interval: the backup takes over, the master
    // hears it and answers, the backup steps down: VIP on both for one round trip.
    let t = lan.now;
    lan.input(1, |r, now| cut = Some(r.master_gone(now, addr(1), us(500))));
    lan.run_for(secs(3));
    assert_eq!(lan.became_master_at(1), Some(t + us(500)));
    assert_eq!(lan.state(0), Some(State::Master));
    assert_eq!(lan.state(1), Some(State::Backup));
    let (_, overlap) = lan.vip_gaps_and_overlaps(t, lan.now);
    assert!(overlap <= D * 2, "{overlap:?}");
    // Now it is gone for real (silent, no priority 0), and the backup is told.
    lan.cut(0, 1);
    let t2 = lan.now;
    lan.input(1, |r, now| cut = Some(r.master_gone(now, addr(1), us(500))));
    assert_eq!(cut, Some(true));
    lan.run_for(secs(1));
    assert_eq!(lan.state(1), Some(State::Master));
    assert!(lan.log.iter().any(|l| l.node == 1
        && l.at == t2 + us(500)
        && l.action
            == Action::BecomeMaster {
                reason: Reason::MasterGone { from: addr(1) }
            }));
    // A master is not a backup: nothing to cut.
    lan.input(1, |r, now| cut = Some(r.master_gone(now, addr(1), us(500))));
    assert_eq!(cut, Some(false));
}

#[test]
fn rfc9568_6_4_2_higher_priority_router_returns_and_preempts() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2)]);
    lan.start(1);
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(1));
    let t = lan.now;
    lan.start(0);
    lan.run_for(secs(10));
    // The lower master's adverts are discarded, so router 0's start-up timer runs out.
    assert_eq!(lan.became_master_at(0), Some(t + us(3_218_750)));
    assert!(lan.log.iter().any(|l| l.node == 0
        && l.action
            == Action::BecomeMaster {
                reason: Reason::Preempt {
                    from: addr(2),
                    priority: 100
                }
            }));
    assert_eq!(
        lan.times(1, |a| matches!(
            a,
            Action::BecomeBackup {
                reason: Reason::HigherPriority { priority: 200, .. }
            }
        )),
        vec![t + us(3_218_750) + D]
    );
    assert_eq!(lan.sole_master(), Some(0));
    let (gap, overlap) = lan.vip_gaps_and_overlaps(t, lan.now);
    assert_eq!((gap, overlap), (Duration::ZERO, D));
}

#[test]
fn rfc9568_6_4_2_without_preempt_a_higher_priority_backup_waits() {
    let mut high = v3(200, 1);
    high.preempt = false;
    let mut lan = Lan::new(vec![high, v3(100, 2)]);
    lan.start(1);
    lan.run_for(secs(10));
    lan.start(0);
    lan.run_for(secs(60));
    assert_eq!(lan.sole_master(), Some(1));
    assert_eq!(lan.state(0), Some(State::Backup));
    assert_eq!(lan.router(0).master_addr(), Some(addr(2)));
    // ... but it still takes over when that master goes away.
    lan.crash(1);
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(0));
}

#[test]
fn keepalived_preempt_delay_postpones_preemption() {
    let mut high = v3(200, 1);
    high.preempt_delay = secs(10);
    let mut lan = Lan::new(vec![high, v3(100, 2)]);
    lan.start(1);
    lan.run_for(secs(10));
    let t = lan.now;
    lan.start(0);
    lan.run_for(secs(60));
    // The delay starts when the first lower-priority advert arrives; adverts arriving before it
    // ends (t1 .. t1 + 9 s) still reset the timer, the one at t1 + 10 s is discarded.
    let first_send = *lan
        .times(1, |a| matches!(a, Action::SendAdvert { .. }))
        .iter()
        .find(|&&s| s + D > t)
        .expect("router 1 kept advertising");
    let t1 = first_send + D;
    assert_eq!(lan.became_master_at(0), Some(t1 + secs(9) + us(3_218_750)));
    assert_eq!(lan.sole_master(), Some(0));
}

#[test]
fn rfc9568_6_4_2_backup_learns_master_adver_interval() {
    let mut fast = v3(200, 1);
    fast.advert_interval = Centis(50);
    let mut lan = Lan::new(vec![fast, v3(100, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(0));
    assert_eq!(lan.router(1).master_adver_int(), Centis(50));
    lan.crash(0);
    lan.run_for(secs(10));
    let last = lan.last_advert_from(0).expect("advertised");
    // 3 × 0.5 s + 156 × 0.5 s / 256, not the configured 1 s.
    assert_eq!(lan.became_master_at(1), Some(last + D + ns(1_804_687_500)));
}

#[test]
fn rfc9568_6_4_2_lower_priority_advert_does_not_reset_preempting_backup() {
    let (mut r, t0) = started_backup();
    let before = r.poll_timeout();
    let lower = v3(50, 9);
    assert_eq!(
        r.handle_advert(t0 + secs(1), &advert_from(&lower, 50)),
        AdvertOutcome::Accepted {
            address_list_mismatch: false
        }
    );
    assert_eq!(r.poll_timeout(), before);
    assert_eq!(r.master_addr(), Some(addr(9)));
    // Equal priority does reset it, whatever the address.
    let equal = v3(100, 1);
    r.handle_advert(t0 + secs(2), &advert_from(&equal, 100));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(2) + us(3_609_375)));
}

// ---------------------------------------------------------------------------------------------
// RFC 9568 §6.4.3 Master

#[test]
fn rfc9568_6_4_3_equal_priority_higher_primary_address_wins() {
    for (configs, winner) in [
        (vec![v3(100, 1), v3(100, 2)], 1),
        (vec![v3(100, 2), v3(100, 1)], 0),
    ] {
        let mut lan = Lan::new(configs);
        lan.start_all();
        lan.run_for(secs(10));
        // Same priority, same timer: both took over, the lower address yielded.
        assert_eq!(lan.sole_master(), Some(winner));
        let loser = 1 - winner;
        assert!(lan.log.iter().any(|l| l.node == loser
            && l.action
                == Action::BecomeBackup {
                    reason: Reason::EqualPriorityHigherAddress { from: addr(2) }
                }));
    }
}

/// keepalived `lower_prio_no_advert`: the lower-priority advert is discarded without an advert
/// in reply (the RFC's rule); the VIPs are still re-announced, and the next advert is the
/// scheduled one.
#[test]
fn lower_prio_no_advert_discards_without_a_reply_but_re_announces() {
    let config = RouterConfig {
        lower_prio_no_advert: true,
        ..v3(255, 1)
    };
    let lower = advert_from(&v3(100, 2), 100);
    let mut r = router(config.clone());
    let t0 = epoch();
    r.startup(t0);
    drain(&mut r);
    r.handle_advert(t0 + us(300_000), &lower);
    assert_eq!(drain(&mut r), vec![], "no advert in reply");
    assert_eq!(r.counters().lower_priority_received, 1);
    r.handle_timeout(t0 + us(400_000));
    assert_eq!(drain(&mut r), vec![Action::SendGarp { vips: vec![VIP; 5] }]);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1)));
    r.handle_timeout(t0 + secs(1));
    assert_eq!(drain(&mut r), vec![send_advert(255, &config)]);
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.counters().replies_limited, 0, "not counted as limited");
}

#[test]
fn rfc9568_6_4_3_master_answers_lower_priority_advert_at_once() {
    let config = v3(255, 1);
    let lower = advert_from(&v3(100, 2), 100);
    let (mut r, t0) = started_owner();
    // Even while our own announcement (second burst due at t0 + 5 s) is under way: the other
    // side's hosts may have learned the other master's MAC since, so re-announce: the advert
    // at once, the GARPs 100 ms later (one advert interval, at most 100 ms), after the other
    // master's own GARPs.
    r.handle_advert(t0 + us(300_000), &lower);
    assert_eq!(drain(&mut r), vec![send_advert(255, &config)]);
    assert_eq!(r.poll_timeout(), Some(t0 + us(400_000)));
    r.handle_timeout(t0 + us(400_000));
    assert_eq!(drain(&mut r), vec![Action::SendGarp { vips: vec![VIP; 5] }]);
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + secs(1)),
        "Adver_Timer not reset"
    );
    // Later, the other side had a master of its own: re-announce the VIP too.
    for s in 1..=6 {
        r.handle_timeout(t0 + secs(s));
    }
    drain(&mut r);
    let at = t0 + us(6_300_000);
    r.handle_advert(at, &lower);
    assert_eq!(drain(&mut r), vec![send_advert(255, &config)]);
    r.handle_timeout(at + us(100_000));
    assert_eq!(drain(&mut r), vec![Action::SendGarp { vips: vec![VIP; 5] }]);
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        r.poll_timeout(),
        Some(t0 + secs(7)),
        "Adver_Timer not reset"
    );
}

#[test]
fn rfc9568_6_4_3_master_answers_priority_zero_and_resets_adver_timer() {
    let config = v3(255, 1);
    let (mut r, t0) = started_owner();
    let at = t0 + us(300_000);
    r.handle_advert(at, &advert_from(&v3(100, 2), 0));
    assert_eq!(drain(&mut r), vec![send_advert(255, &config)]);
    assert_eq!(r.poll_timeout(), Some(at + secs(1)));
    assert_eq!(r.counters().priority_zero_received, 1);
}

#[test]
fn rfc9568_6_4_3_master_yields_to_higher_priority_and_learns_its_interval() {
    let mut c = v3(100, 2);
    c.start_as = StartState::Master;
    let mut r = router(c);
    let t0 = epoch();
    r.startup(t0);
    r.handle_timeout(t0 + ns(1_003_906_250));
    assert_eq!(r.state(), State::Master);
    drain(&mut r);
    let mut higher = v3(200, 1);
    higher.advert_interval = Centis(200);
    let at = t0 + secs(2);
    r.handle_advert(at, &advert_from(&higher, 200));
    assert_eq!(
        drain(&mut r),
        vec![
            send_advert(100, r.config()),
            Action::BecomeBackup {
                reason: Reason::HigherPriority {
                    from: addr(1),
                    priority: 200
                }
            },
            Action::RemoveVips(vec![VIP]),
        ]
    );
    assert_eq!(r.master_adver_int(), Centis(200));
    // 3 × 2 s + 156 × 2 s / 256.
    assert_eq!(r.poll_timeout(), Some(at + us(7_218_750)));
}

#[test]
fn rfc9568_6_4_3_shutdown_sends_priority_zero_and_releases() {
    let config = v3(255, 1);
    let (mut r, t0) = started_owner();
    r.shutdown(t0 + secs(1));
    assert_eq!(
        drain(&mut r),
        vec![
            send_advert(0, &config),
            Action::RemoveVips(vec![VIP]),
            Action::Stopped
        ]
    );
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(r.counters().priority_zero_sent, 1);
    // A backup just stops.
    let (mut b, t0) = started_backup();
    b.shutdown(t0);
    assert_eq!(drain(&mut b), vec![Action::Stopped]);
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn rfc9568_6_4_1_owner_takes_over_at_once_from_a_running_master() {
    let mut lan = Lan::new(vec![v3(255, 1), v3(100, 2)]);
    lan.start(1);
    lan.run_for(secs(10));
    let t = lan.now;
    lan.start(0);
    lan.run_for(secs(10));
    assert_eq!(lan.became_master_at(0), Some(t));
    assert_eq!(lan.sole_master(), Some(0));
    let (gap, overlap) = lan.vip_gaps_and_overlaps(t, lan.now);
    assert_eq!((gap, overlap), (Duration::ZERO, D));
}

#[test]
fn partition_heal_leaves_one_master_which_reannounces_with_garp() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2), v3(150, 3)]);
    lan.start_all();
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(0));
    lan.isolate(0);
    lan.run_for(secs(10));
    assert_eq!(lan.masters(), vec![0, 2], "each side has its master");
    let heal = lan.now;
    lan.recover();
    lan.run_for(secs(20));
    assert_eq!(lan.sole_master(), Some(0));
    assert_eq!(lan.vip_holders(), vec![0]);
    // The winner heard the other side's lower-priority advert, asserted itself and re-announced
    // the VIP: one burst at once, one garp_master_delay (5 s) later.
    let garps: Vec<_> = lan
        .garps(0)
        .into_iter()
        .filter(|(at, _)| *at >= heal)
        .collect();
    assert_eq!(garps.len(), 2, "{garps:?}");
    assert_eq!(garps[0].1, vec![VIP; 5]);
    assert_eq!(garps[1].0 - garps[0].0, secs(5));
    assert!(garps[0].0 - heal <= secs(1) + D);
}

// ---------------------------------------------------------------------------------------------
// Advert validation: RFC 9568 §5.1.1.3, §7.1; RFC 3768 §7.1

#[test]
fn rfc9568_5_1_1_3_ttl_not_255_is_dropped() {
    let (mut r, t0) = started_backup();
    let before = r.poll_timeout();
    let mut adv = advert_from(&v3(200, 1), 200);
    adv.ttl = 254;
    assert_eq!(
        r.handle_advert(t0 + secs(1), &adv),
        AdvertOutcome::Dropped(DropReason::Ttl)
    );
    assert_eq!(r.poll_timeout(), before, "timer untouched");
    assert_eq!(r.counters().rejected.get(DropReason::Ttl), 1);
    assert_eq!(r.counters().adverts_received, 0);
    adv.ttl = 255;
    assert!(matches!(
        r.handle_advert(t0 + secs(1), &adv),
        AdvertOutcome::Accepted { .. }
    ));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1) + us(3_609_375)));
}

/// keepalived `check_unicast_src`: a master with unicast peers is not demoted by a
/// priority-255 advert from a source outside them, whatever its TTL (unicast skips the TTL
/// check); its peer's adverts still count.
#[test]
fn check_unicast_src_drops_adverts_from_non_peers() {
    let mut cfg = v3(100, 2);
    cfg.start_as = StartState::Master;
    cfg.check_ttl = false;
    cfg.allowed_sources = vec![addr(3)];
    let mut r = router(cfg);
    let t0 = epoch();
    r.startup(t0);
    r.handle_timeout(t0 + secs(2));
    drain(&mut r);
    assert_eq!(r.state(), State::Master);
    let mut spoofed = advert_from(&v3(255, 1), 255);
    spoofed.src = "198.51.100.66".parse().unwrap();
    for ttl in [7, 255] {
        spoofed.ttl = ttl;
        assert_eq!(
            r.handle_advert(t0 + secs(3), &spoofed),
            AdvertOutcome::Dropped(DropReason::NotPeer)
        );
    }
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.counters().rejected.get(DropReason::NotPeer), 2);
    let mut peer = advert_from(&v3(200, 3), 200);
    peer.ttl = 7;
    assert!(matches!(
        r.handle_advert(t0 + secs(3), &peer),
        AdvertOutcome::Accepted { .. }
    ));
    assert_eq!(r.state(), State::Backup);
}

#[test]
fn rfc9568_7_1_version_vrid_family_and_own_adverts_are_dropped() {
    let (mut r, t0) = started_backup();
    let good = advert_from(&v3(200, 1), 200);
    type Mutation = fn(&mut RxAdvert);
    let cases: [(Mutation, DropReason); 4] = [
        (|a| a.version = Version::V2, DropReason::Version),
        (|a| a.vrid = 52, DropReason::Vrid),
        (
            |a| a.src = "fe80::1".parse().unwrap(),
            DropReason::AddressFamily,
        ),
        (|a| a.src = addr(2), DropReason::OwnAdvert),
    ];
    for (mutate, reason) in cases {
        let mut adv = good.clone();
        mutate(&mut adv);
        assert_eq!(r.handle_advert(t0, &adv), AdvertOutcome::Dropped(reason));
        assert_eq!(r.counters().rejected.get(reason), 1);
    }
    assert_eq!(r.poll_timeout(), Some(t0 + us(3_609_375)));
    let mut zero = good.clone();
    zero.max_adver_int = Centis(0);
    assert_eq!(
        r.handle_advert(t0, &zero),
        AdvertOutcome::Dropped(DropReason::Interval)
    );
    let total: u64 = r.counters().rejected.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 5);
    assert_eq!(r.counters().adverts_received, 0);
}

#[test]
fn rfc3768_7_1_auth_mismatch_is_dropped_and_counted() {
    let mut ours = v2(100, 2);
    ours.auth = Some(*b"1111\0\0\0\0");
    let mut r = router(ours.clone());
    let t0 = epoch();
    r.startup(t0);
    let mut adv = advert_from(&v2(200, 1), 200);
    for auth in [
        AdvertAuth::None,
        AdvertAuth::Pass(*b"2222\0\0\0\0"),
        AdvertAuth::Other(2),
    ] {
        adv.auth = auth;
        assert_eq!(
            r.handle_advert(t0, &adv),
            AdvertOutcome::Dropped(DropReason::Auth)
        );
    }
    assert_eq!(r.counters().rejected.get(DropReason::Auth), 3);
    adv.auth = AdvertAuth::Pass(*b"1111\0\0\0\0");
    assert!(matches!(
        r.handle_advert(t0, &adv),
        AdvertOutcome::Accepted { .. }
    ));
    // Without auth configured, a password is a mismatch too (keepalived: auth type differs).
    let (mut plain, t0) = (router(v2(100, 2)), t0);
    plain.startup(t0);
    assert_eq!(
        plain.handle_advert(t0, &adv),
        AdvertOutcome::Dropped(DropReason::Auth)
    );

    // On a LAN the two sides never hear each other: both end up master.
    let mut other = v2(200, 1);
    other.auth = Some(*b"2222\0\0\0\0");
    let mut lan = Lan::new(vec![other, ours]);
    lan.start_all();
    lan.run_for(secs(10));
    assert_eq!(lan.masters(), vec![0, 1]);
    assert!(lan.router(1).counters().rejected.get(DropReason::Auth) > 0);
}

#[test]
fn rfc3768_7_1_interval_mismatch_is_dropped() {
    let (mut r, t0) = (router(v2(100, 2)), epoch());
    r.startup(t0);
    let before = r.poll_timeout();
    let mut other = v2(200, 1);
    other.advert_interval = Centis::from_secs(2);
    assert_eq!(
        r.handle_advert(t0 + secs(1), &advert_from(&other, 200)),
        AdvertOutcome::Dropped(DropReason::Interval)
    );
    assert_eq!(r.poll_timeout(), before);
    assert_eq!(r.counters().rejected.get(DropReason::Interval), 1);

    let mut lan = Lan::new(vec![other, v2(100, 2)]);
    lan.start_all();
    lan.run_for(secs(20));
    assert_eq!(lan.masters(), vec![0, 1], "each ignores the other");
}

#[test]
fn rfc9568_7_1_v3_address_list_mismatch_is_accepted_and_counted() {
    let (mut r, t0) = started_backup();
    let mut adv = advert_from(&v3(200, 1), 200);
    adv.addresses = vec![VIP2];
    assert_eq!(
        r.handle_advert(t0 + secs(1), &adv),
        AdvertOutcome::Accepted {
            address_list_mismatch: true
        }
    );
    assert_eq!(r.counters().address_list_mismatch, 1);
    assert_eq!(r.poll_timeout(), Some(t0 + secs(1) + us(3_609_375)));
    // Order does not matter.
    let mut c = v3(100, 2);
    c.vips = vec![VIP, VIP2];
    let mut r = router(c);
    r.startup(t0);
    adv.addresses = vec![VIP2, VIP];
    assert_eq!(
        r.handle_advert(t0, &adv),
        AdvertOutcome::Accepted {
            address_list_mismatch: false
        }
    );
}

#[test]
fn rfc3768_7_1_v2_address_list_mismatch_is_dropped_unless_from_owner() {
    let (mut r, t0) = (router(v2(100, 2)), epoch());
    r.startup(t0);
    let mut adv = advert_from(&v2(200, 1), 200);
    adv.addresses = vec![VIP2];
    assert_eq!(
        r.handle_advert(t0, &adv),
        AdvertOutcome::Dropped(DropReason::AddressList)
    );
    adv.priority = 255;
    assert_eq!(
        r.handle_advert(t0, &adv),
        AdvertOutcome::Accepted {
            address_list_mismatch: true
        }
    );
    assert_eq!(r.counters().rejected.get(DropReason::AddressList), 1);
    assert_eq!(r.counters().address_list_mismatch, 1);
}

// ---------------------------------------------------------------------------------------------
// FAULT and health tracking

#[test]
fn fault_releases_vip_stops_adverts_and_recovers() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(100, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    let t = lan.now;
    lan.input(0, |r, now| r.enter_fault(now));
    let faulted: Vec<_> = lan
        .log
        .iter()
        .filter(|l| l.node == 0 && l.at == t)
        .map(|l| l.action.clone())
        .collect();
    assert_eq!(
        faulted,
        vec![
            send_advert(0, &v3(200, 1)),
            Action::RemoveVips(vec![VIP]),
            Action::EnterFault
        ]
    );
    assert_eq!(lan.router(0).poll_timeout(), None);
    lan.run_for(secs(20));
    assert_eq!(lan.became_master_at(1), Some(t + D + us(609_375)));
    assert!(
        lan.times(0, |a| matches!(a, Action::SendAdvert { .. }))
            .iter()
            .all(|&at| at <= t),
        "no adverts while in FAULT"
    );
    assert_eq!(
        lan.inject(0, &advert_from(&v3(100, 2), 100)),
        AdvertOutcome::Inactive
    );

    let t2 = lan.now;
    lan.input(0, |r, now| r.leave_fault(now));
    assert_eq!(lan.state(0), Some(State::Backup));
    lan.run_for(secs(10));
    // Back as backup, it preempts the lower master after its Master_Down_Interval.
    assert_eq!(lan.became_master_at(0), Some(t2 + us(3_218_750)));
    assert_eq!(lan.sole_master(), Some(0));
}

#[test]
fn set_priority_below_a_backup_lets_the_backup_preempt() {
    let mut lan = Lan::new(vec![v3(200, 1), v3(150, 2)]);
    lan.start_all();
    lan.run_for(secs(10));
    assert_eq!(lan.sole_master(), Some(0));
    lan.run_for(us(500_000));
    lan.input(0, |r, now| r.set_priority(now, 100));
    assert_eq!(lan.router(0).effective_priority(), 100);
    lan.run_for(secs(10));
    let last_200 = *lan
        .log
        .iter()
        .filter(|l| l.node == 0)
        .filter_map(|l| match l.action {
            Action::SendAdvert { priority: 200, .. } => Some(l.at),
            _ => None,
        })
        .collect::<Vec<_>>()
        .last()
        .expect("advertised at 200");
    // The backup discards the priority-100 adverts and times out from the last 200 one.
    assert_eq!(
        lan.became_master_at(1),
        Some(last_200 + D + ns(3_414_062_500))
    );
    assert_eq!(lan.sole_master(), Some(1));
}

#[test]
fn set_priority_is_clamped_and_ignored_for_owners() {
    let (mut b, t0) = started_backup();
    b.set_priority(t0, 0);
    assert_eq!(b.effective_priority(), 1);
    b.set_priority(t0, 255);
    assert_eq!(b.effective_priority(), 254);
    let (mut o, t0) = started_owner();
    o.set_priority(t0, 10);
    assert_eq!(o.effective_priority(), 255);
}

// ---------------------------------------------------------------------------------------------
// Gratuitous ARP schedule (keepalived garp_master_*)

fn owner_with(garp: GarpConfig) -> (VirtualRouter, Instant) {
    let mut c = v3(255, 1);
    c.vips = vec![VIP, VIP2];
    c.garp = garp;
    let mut r = router(c);
    let t0 = epoch();
    r.startup(t0);
    (r, t0)
}

/// Runs `r` from `now` (pending actions happened then) until `end`, returning the GARP actions
/// with their times.
fn garps_until(
    r: &mut VirtualRouter,
    mut now: Instant,
    end: Instant,
) -> Vec<(Instant, Vec<IpAddr>)> {
    let mut out = Vec::new();
    loop {
        for a in drain(r) {
            if let Action::SendGarp { vips } = a {
                out.push((now, vips));
            }
        }
        match r.poll_timeout() {
            Some(t) if t <= end => {
                now = t;
                r.handle_timeout(t);
            }
            _ => return out,
        }
    }
}

#[test]
fn garp_bursts_follow_keepalived_defaults() {
    let (mut r, t0) = owner_with(GarpConfig::default());
    let burst = [VIP, VIP2].repeat(5);
    assert_eq!(
        garps_until(&mut r, t0, t0 + secs(60)),
        vec![(t0, burst.clone()), (t0 + secs(5), burst)]
    );
    assert_eq!(r.counters().garps_sent, 20);
}

#[test]
fn garp_refresh_and_interval() {
    let (mut r, t0) = owner_with(GarpConfig {
        delay: Duration::ZERO,
        repeat: 1,
        refresh: Some(secs(10)),
        refresh_repeat: 2,
        interval: us(100_000),
        ..GarpConfig::default()
    });
    let ms = |m: u64| t0 + Duration::from_millis(m);
    assert_eq!(
        garps_until(&mut r, t0, t0 + secs(25)),
        vec![
            (ms(0), vec![VIP]),
            (ms(100), vec![VIP2]),
            (ms(10_000), vec![VIP]),
            (ms(10_100), vec![VIP2]),
            (ms(10_200), vec![VIP]),
            (ms(10_300), vec![VIP2]),
            (ms(20_000), vec![VIP]),
            (ms(20_100), vec![VIP2]),
            (ms(20_200), vec![VIP]),
            (ms(20_300), vec![VIP2]),
        ]
    );
}

#[test]
fn leaving_master_cancels_pending_garps() {
    let (mut r, t0) = owner_with(GarpConfig::default());
    drain(&mut r);
    r.enter_fault(t0 + secs(1));
    assert!(garps_until(&mut r, t0 + secs(1), t0 + secs(60)).is_empty());

    // Spaced out, a burst is still queued when the owner faults at 250 ms; back as master it
    // sends only the new announcement.
    let spaced = GarpConfig {
        repeat: 2,
        interval: us(100_000),
        ..GarpConfig::default()
    };
    let (mut r, t0) = owner_with(spaced);
    let fault = t0 + us(250_000);
    assert_eq!(garps_until(&mut r, t0, fault).len(), 3, "at 0, 100, 200 ms");
    r.enter_fault(fault);
    drain(&mut r);
    let back = t0 + secs(1);
    r.leave_fault(back);
    let garps = garps_until(&mut r, back, back + secs(60));
    let entries: usize = garps.iter().map(|(_, v)| v.len()).sum();
    assert_eq!(entries, 8, "two bursts of 2 × 2 VIPs: {garps:?}");
    assert_eq!(garps[0], (back, vec![VIP]));
}

#[test]
fn rfc9568_6_1_ten_millisecond_adverts_fail_over_in_36_ms() {
    // The DESIGN target: 3 × 10 ms + 156 × 10 ms / 256 = 36.09375 ms at priority 100.
    let fast = |priority, n| {
        let mut c = v3(priority, n);
        c.advert_interval = Centis(1);
        c
    };
    let mut lan = Lan::new(vec![fast(101, 1), fast(100, 2)]);
    lan.start_all();
    lan.run_for(secs(2));
    assert_eq!(lan.sole_master(), Some(0));
    let crash = lan.now;
    lan.crash(0);
    lan.run_for(secs(1));
    let last = lan.last_advert_from(0).expect("advertised");
    assert_eq!(lan.became_master_at(1), Some(last + D + ns(36_093_750)));
    let (gap, _) = lan.vip_gaps_and_overlaps(crash, lan.now);
    assert!(gap <= D + ns(36_093_750), "{gap:?}");
}

// ---------------------------------------------------------------------------------------------
// Properties over random histories

#[derive(Clone, Debug)]
enum Op {
    Crash(usize),
    Restart(usize),
    Isolate(usize),
    Cut(usize, usize),
    Recover,
    SetPriority(usize, u8),
    Wait(u64),
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..n).prop_map(Op::Crash),
        (0..n).prop_map(Op::Restart),
        (0..n).prop_map(Op::Isolate),
        (0..n, 0..n).prop_map(|(a, b)| Op::Cut(a, b)),
        Just(Op::Recover),
        (0..n, 1..=254u8).prop_map(|(i, p)| Op::SetPriority(i, p)),
        (0..8_000u64).prop_map(Op::Wait),
    ]
}

#[derive(Clone, Debug)]
struct History {
    configs: Vec<RouterConfig>,
    ops: Vec<Op>,
    loss: f64,
    delay_us: u64,
    seed: u64,
}

/// 2..=4 routers (priorities may tie, 255 makes an owner) and up to 25 operations.
fn history(preempt: bool) -> impl Strategy<Value = History> {
    (2..=4usize)
        .prop_flat_map(move |n| {
            let router = (1..=255u8, any::<bool>(), any::<bool>(), any::<bool>());
            (
                proptest::collection::vec(router, n),
                proptest::collection::vec(op(n), 0..25),
                0.0..0.4f64,
                0..5_000u64,
                any::<u64>(),
            )
        })
        .prop_map(move |(routers, ops, loss, delay_us, seed)| {
            let configs = routers
                .into_iter()
                .enumerate()
                .map(|(i, (priority, is_v2, start_master, delayed))| {
                    let n = u8::try_from(i + 1).expect("few routers");
                    let mut c = if is_v2 {
                        v2(priority, n)
                    } else {
                        v3(priority, n)
                    };
                    c.preempt = preempt;
                    if preempt && start_master {
                        c.start_as = StartState::Master;
                    } else if preempt && delayed {
                        c.preempt_delay = secs(2);
                    }
                    c
                })
                .collect::<Vec<_>>();
            // One version per LAN: v2 and v3 routers never hear each other.
            let version = configs[0].version;
            let configs = configs
                .into_iter()
                .map(|mut c| {
                    c.version = version;
                    c
                })
                .collect();
            History {
                configs,
                ops,
                loss,
                delay_us,
                seed,
            }
        })
}

/// Plays `h` with loss and partitions, then heals everything, restarts crashed routers and
/// waits a quiet minute.
fn play(h: &History) -> Lan {
    let mut lan = Lan::new(h.configs.clone());
    lan.seed(h.seed);
    lan.loss = h.loss;
    lan.delay = us(h.delay_us);
    lan.start_all();
    for op in &h.ops {
        match *op {
            Op::Crash(i) if lan.is_up(i) => lan.crash(i),
            Op::Restart(i) if !lan.is_up(i) => lan.restart(i),
            Op::Isolate(i) => lan.isolate(i),
            Op::Cut(a, b) if a != b => lan.cut(a, b),
            Op::Recover => lan.recover(),
            Op::SetPriority(i, p) if lan.is_up(i) => lan.input(i, |r, now| r.set_priority(now, p)),
            Op::Wait(ms) => lan.run_for(Duration::from_millis(ms)),
            _ => {}
        }
    }
    lan.recover();
    lan.loss = 0.0;
    for i in 0..lan.len() {
        if !lan.is_up(i) {
            lan.restart(i);
        }
    }
    lan.run_for(secs(60));
    lan
}

fn one_master_holding_the_vip(lan: &Lan) -> Result<usize, TestCaseError> {
    let masters = lan.masters();
    prop_assert_eq!(
        masters.len(),
        1,
        "masters after the quiet period: {:?}",
        masters
    );
    prop_assert_eq!(
        lan.vip_holders(),
        masters.clone(),
        "VIP held by the master only"
    );
    Ok(masters[0])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// With preempt on, the RFC winner is the highest effective priority, ties by the highest
    /// primary address among the tied masters. A backup never preempts an equal priority
    /// (RFC 9568 §6.4.2: "greater than or equal" resets its timer), so with a tie at the top
    /// any of the tied routers may hold it.
    #[test]
    fn prop_preempt_on_converges_to_the_highest_priority(h in history(true)) {
        let lan = play(&h);
        let master = one_master_holding_the_vip(&lan)?;
        let prio = |i: usize| lan.router(i).effective_priority();
        let best = (0..lan.len()).map(prio).max().expect("routers");
        prop_assert_eq!(prio(master), best);
        let tied: Vec<_> = (0..lan.len()).filter(|&i| prio(i) == best).collect();
        if tied.len() == 1 {
            prop_assert_eq!(master, tied[0]);
        }
    }

    /// With preempt off the winner depends on history, but there is exactly one.
    #[test]
    fn prop_preempt_off_converges_to_one_master(h in history(false)) {
        let lan = play(&h);
        one_master_holding_the_vip(&lan)?;
    }
}

#[test]
fn rfc9568_6_4_3_adver_timer_keeps_its_period_when_the_driver_wakes_late() {
    let (mut r, t0) = started_owner();
    // The driver handles each expiry 3 ms late (a busy machine, a coarse timer).
    let mut due = t0 + secs(1);
    for _ in 0..5 {
        assert_eq!(r.poll_timeout(), Some(due), "the Adver_Timer drifted");
        r.handle_timeout(due + us(3_000));
        let adverts = drain(&mut r)
            .into_iter()
            .filter(|a| matches!(a, Action::SendAdvert { .. }));
        assert_eq!(adverts.count(), 1, "one advert per expiry");
        due += secs(1);
    }
    // After a stall longer than an interval: one advert, then a full interval from now.
    let late = due + secs(3);
    r.handle_timeout(late);
    let adverts = drain(&mut r)
        .into_iter()
        .filter(|a| matches!(a, Action::SendAdvert { .. }));
    assert_eq!(adverts.count(), 1, "no burst after a stall");
    assert_eq!(r.poll_timeout(), Some(late + secs(1)));
}

// ---------------------------------------------------------------------------------------------
// The host changing: the interface's own address replaced

#[test]
fn a_new_primary_address_is_the_tie_break_and_the_own_advert_filter() {
    // Master 10.0.0.1 at priority 100 meets an equal-priority advert from 10.0.0.2: it yields.
    // After its address became 10.0.0.3 (flushed, another added), it keeps the VIP instead.
    let lower_addr = advert_from(&v3(100, 2), 100);
    for (primary, yields) in [(None, true), (Some(addr(3)), false)] {
        let mut r = router(v3(100, 1));
        let t0 = crate::vrrp::sim::epoch();
        r.startup(t0);
        r.handle_timeout(t0 + secs(4)); // Master_Down_Interval: master
        if let Some(p) = primary {
            r.set_primary_addr(p);
        }
        drain(&mut r);
        r.handle_advert(t0 + secs(5), &lower_addr);
        assert_eq!(r.state() == State::Backup, yields, "primary {primary:?}");
    }
    // Adverts from the new address are our own; another family's address is ignored.
    let mut r = router(v3(100, 1));
    r.set_primary_addr(addr(3));
    r.set_primary_addr("fe80::1".parse().unwrap());
    assert_eq!(r.config().primary_addr, addr(3));
    let t0 = crate::vrrp::sim::epoch();
    r.startup(t0);
    let own = advert_from(&v3(100, 3), 100);
    assert_eq!(
        r.handle_advert(t0, &own),
        AdvertOutcome::Dropped(DropReason::OwnAdvert)
    );
}

// ---------------------------------------------------------------------------------------------
// No amplification: what a flood of spoofed adverts gets out of a master

/// What `r` sent while it got `advert` every `every` from `from` to `until`, and then nothing
/// until `quiet_until`, timers run on time: (adverts sent, GARP entries sent, last GARP).
fn flood(
    r: &mut VirtualRouter,
    advert: &RxAdvert,
    from: Instant,
    every: Duration,
    until: Instant,
    quiet_until: Instant,
) -> (u64, u64, Option<Instant>) {
    let (mut adverts, mut garps, mut last_garp) = (0, 0, None);
    let mut count = |r: &mut VirtualRouter, now: Instant| {
        for action in drain(r) {
            match action {
                Action::SendAdvert { .. } => adverts += 1,
                Action::SendGarp { vips } => {
                    garps += vips.len() as u64;
                    last_garp = Some(now);
                }
                _ => {}
            }
        }
    };
    let mut next_spoof = Some(from);
    loop {
        let timer = r.poll_timeout().filter(|t| *t <= quiet_until);
        let now = match (timer, next_spoof) {
            (Some(t), Some(s)) => t.min(s),
            (Some(t), None) => t,
            (None, Some(s)) => s,
            (None, None) => break,
        };
        if next_spoof == Some(now) {
            r.handle_advert(now, advert);
            next_spoof = Some(now + every).filter(|n| *n < until);
        } else {
            r.handle_timeout(now);
        }
        count(r, now);
    }
    (adverts, garps, last_garp)
}

/// keepalived's defaults (VRRPv2, 1 s adverts, 5 GARPs per VIP, second burst after 5 s), two
/// VIPs, priority 200: master at `t`.
fn master_with_two_vips() -> (VirtualRouter, Instant) {
    let mut config = v2(200, 1);
    config.vips = vec![VIP, VIP2];
    let mut r = router(config);
    let t0 = epoch();
    r.startup(t0);
    r.handle_timeout(t0 + secs(4));
    assert_eq!(r.state(), State::Master);
    drain(&mut r);
    (r, t0 + secs(4))
}

#[test]
fn spoofed_lower_priority_adverts_get_at_most_one_reply_per_interval_and_garp_delay() {
    // Found: every lower-priority advert was answered with an advert and a GARP burst: 10 000
    // spoofed adverts in 10 s with 2 VIPs gave 10 000 adverts and 100 000 GARPs.
    let (mut r, t) = master_with_two_vips();
    let mut spoof = advert_from(&v2(100, 66), 100);
    spoof.addresses = vec![VIP, VIP2];
    let start = t + us(500_000);
    let (adverts, garps, last) = flood(
        &mut r,
        &spoof,
        start,
        Duration::from_millis(1),
        start + secs(10),
        start + secs(30),
    );
    // 30 s of Adver_Timer (30 adverts) plus one reply per 1 s interval of flood (10).
    assert_eq!(adverts, 30 + 10, "adverts");
    // GARPs: bursts of 5 per VIP from a bucket of 3, one back per garp_lower_prio_delay (5 s),
    // at most one per advert interval (1 s), and the repeat of the last one 5 s after it (a new
    // burst supersedes a pending repeat): bursts at 0, 1, 2 and 5 s, the repeat at 10 s = 5
    // bursts of 10, each 100 ms after the advert that earned it (after the other master's own
    // GARPs).
    assert_eq!(garps, 50, "GARP entries");
    assert_eq!(
        last,
        Some(start + secs(10) + us(100_000)),
        "nothing after the last repeat"
    );
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.counters().replies_limited, 10_000 - 10);
    assert_eq!(r.counters().adverts_received, 10_000);
}

#[test]
fn spoofed_adverts_do_not_fill_the_spaced_garp_queue() {
    // Found: with vrrp_garp_interval the queue grew by a burst per spoofed advert, to 100 000
    // entries, and kept sending for 1000 s after the flood stopped.
    let (mut r, t) = {
        let mut config = v2(200, 1);
        config.vips = vec![VIP, VIP2];
        config.garp.interval = Duration::from_millis(10);
        let mut r = router(config);
        let t0 = epoch();
        r.startup(t0);
        r.handle_timeout(t0 + secs(4));
        drain(&mut r);
        (r, t0 + secs(4))
    };
    let mut spoof = advert_from(&v2(100, 66), 100);
    spoof.addresses = vec![VIP, VIP2];
    let start = t + secs(6); // our own second burst is done
    while let Some(due) = r.poll_timeout().filter(|due| *due < start) {
        r.handle_timeout(due);
    }
    drain(&mut r);
    assert_eq!(r.garp_queue_len(), 0);
    let end = start + secs(10);
    let (_, garps, last) = flood(
        &mut r,
        &spoof,
        start,
        Duration::from_millis(1),
        end,
        end + secs(60),
    );
    assert_eq!(garps, 50, "5 bursts of 5 × 2 VIPs, spaced");
    // The last burst (the repeat 5 s after the flood's last burst, which came 100 ms after its
    // advert) is 10 entries 10 ms apart.
    let last = last.expect("GARPs sent");
    assert!(
        last <= end + Duration::from_millis(200),
        "last GARP {:?} after the flood",
        last - end
    );
}

#[test]
fn spoofed_priority_zero_adverts_get_at_most_one_reply_per_interval() {
    let (mut r, t) = master_with_two_vips();
    let mut spoof = advert_from(&v2(100, 66), 0);
    spoof.addresses = vec![VIP, VIP2];
    let start = t + us(500_000);
    let (adverts, garps, _) = flood(
        &mut r,
        &spoof,
        start,
        Duration::from_millis(1),
        start + secs(10),
        start + secs(10),
    );
    // One reply per interval; each reply re-arms the Adver_Timer (RFC 9568 §6.4.3), so the
    // replies take the place of the timer's adverts: 10 replies, then the timer at 10 s.
    assert_eq!(adverts, 11, "adverts");
    assert_eq!(r.counters().replies_limited, 10_000 - 10);
    assert_eq!(
        garps, 10,
        "only our own second burst, due 5 s after becoming master"
    );
    assert_eq!(r.state(), State::Master);
}

#[test]
fn a_refresh_burst_is_not_queued_while_one_is_pending() {
    // garp_master_refresh every 1 s with 5 × 2 entries 300 ms apart (3 s a burst): the queue
    // would grow by 10 entries a second and never drain.
    let mut config = v2(255, 1);
    config.vips = vec![VIP, VIP2];
    config.garp.interval = Duration::from_millis(300);
    config.garp.refresh = Some(secs(1));
    config.garp.refresh_repeat = 5;
    config.garp.delay = Duration::ZERO;
    let mut r = router(config);
    let t0 = epoch();
    r.startup(t0);
    let mut sent = 0;
    let mut now = t0;
    while now < t0 + secs(60) {
        now = r.poll_timeout().unwrap();
        r.handle_timeout(now);
        for a in drain(&mut r) {
            if let Action::SendGarp { vips } = a {
                sent += vips.len();
            }
        }
    }
    // One GARP per 300 ms at most, whatever the refresh asks for.
    assert!(sent <= 60_000 / 300 + 1, "{sent}");
    assert!(r.garp_queue_len() <= 10, "queue {}", r.garp_queue_len());
}

#[test]
fn keepalived_garp_lower_prio_repeat_and_delay_shape_the_reannouncement() {
    // garp_lower_prio_repeat 1, garp_lower_prio_delay 2: one GARP per VIP at once and one 2 s
    // later, while becoming master keeps garp_master_* (5 now, 5 after 5 s).
    let mut config = v2(200, 1);
    config.vips = vec![VIP, VIP2];
    config.garp.lower_prio_repeat = Some(1);
    config.garp.lower_prio_delay = Some(secs(2));
    let mut r = router(config);
    let t0 = epoch();
    r.startup(t0);
    r.handle_timeout(t0 + secs(4));
    let garps = |actions: Vec<Action>| -> Vec<usize> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::SendGarp { vips } => Some(vips.len()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        garps(drain(&mut r)),
        vec![10],
        "garp_master_repeat 5 × 2 VIPs"
    );
    let t = t0 + secs(10);
    for s in 5..=10 {
        r.handle_timeout(t0 + secs(s));
    }
    drain(&mut r);
    let mut spoof = advert_from(&v2(100, 66), 100);
    spoof.addresses = vec![VIP, VIP2];
    // Each burst 100 ms after the advert that earned it (after the other master's GARPs).
    let later = us(100_000);
    r.handle_advert(t, &spoof);
    r.handle_timeout(t + later);
    assert_eq!(garps(drain(&mut r)), vec![2]);
    // Another 1 s later: a second episode, announced too; its repeat supersedes the first's.
    r.handle_advert(t + secs(1), &spoof);
    r.handle_timeout(t + secs(1) + later);
    assert_eq!(garps(drain(&mut r)), vec![2], "the second episode");
    // Within an advert interval of it: nothing.
    r.handle_advert(t + us(1_500_000), &spoof);
    r.handle_timeout(t + us(1_500_000) + later);
    assert_eq!(garps(drain(&mut r)), Vec::<usize>::new());
    assert_eq!(r.counters().garp_bursts_limited, 1);
    r.handle_timeout(t + secs(2) + later);
    assert_eq!(garps(drain(&mut r)), Vec::<usize>::new(), "superseded");
    r.handle_timeout(t + secs(3) + later);
    assert_eq!(garps(drain(&mut r)), vec![2], "the repeat");
}

#[test]
fn a_second_lower_priority_episode_within_the_delay_is_re_announced() {
    // Found by the chaos lab (seed 20261201): a master re-announced for a backup's takeover,
    // then stalled 150 ms 1.1 s later; the backup took over again and its GARP moved the
    // clients; the master resumed, heard the backup's lower-priority advert, and sent no GARP
    // (one per garp_lower_prio_delay), so the clients stayed on the backup, which had yielded,
    // for 0.9 s (until their ARP locktime let XDP's replies in).
    let (mut r, t) = master_with_two_vips();
    let mut other = advert_from(&v2(100, 66), 100);
    other.addresses = vec![VIP, VIP2];
    let garps = |r: &mut VirtualRouter| {
        drain(r)
            .iter()
            .filter(|a| matches!(a, Action::SendGarp { .. }))
            .count()
    };
    let first = t + us(500_000);
    r.handle_advert(first, &other);
    r.handle_timeout(first + us(100_000));
    assert_eq!(garps(&mut r), 1, "the first episode");
    let second = first + secs(1) + us(100_000);
    r.handle_advert(second, &other);
    r.handle_timeout(second + us(100_000));
    assert_eq!(garps(&mut r), 1, "the second episode, 1.1 s later");
    assert_eq!(r.state(), State::Master);
}

/// keepalived's vrrp_sync_can_goto_master: a held backup whose Master_Down_Timer runs out stays
/// BACKUP, wanting MASTER, its timer armed again; an advert it defers to ends the wanting; the
/// group moves it with `sync_take_over`, and released it takes over as the RFC says.
#[test]
fn a_held_sync_group_member_waits_wanting_master() {
    let (mut r, t0) = started_backup();
    r.hold_takeover(true);
    drain(&mut r);
    let down = t0 + us(3_609_375);
    r.handle_timeout(down);
    assert_eq!(r.state(), State::Backup);
    assert!(r.wants_master());
    assert!(drain(&mut r).is_empty(), "a held takeover does nothing");
    assert_eq!(r.poll_timeout(), Some(down + us(3_609_375)));
    // A master it defers to is heard: no longer wanting.
    let master = v3(150, 1);
    r.handle_advert(down + secs(1), &advert_from(&master, 150));
    assert!(!r.wants_master());
    // It runs out again; the group, all wanting, moves it.
    let again = down + secs(1) + us(3_609_375);
    r.handle_timeout(again);
    assert!(r.wants_master());
    r.sync_take_over(again);
    assert_eq!(r.state(), State::Master);
    let acts = drain(&mut r);
    assert_eq!(
        acts.first(),
        Some(&Action::BecomeMaster {
            reason: Reason::SyncGroup
        })
    );
    assert!(acts.iter().any(|a| matches!(a, Action::AddVips(_))));
    // keepalived's vrrp_sync_backup: back to BACKUP, VIPs gone, no priority-0 advert.
    r.sync_backup(again + secs(1));
    assert_eq!(r.state(), State::Backup);
    let acts = drain(&mut r);
    assert_eq!(
        acts.first(),
        Some(&Action::BecomeBackup {
            reason: Reason::SyncGroup
        })
    );
    assert!(acts.iter().any(|a| matches!(a, Action::RemoveVips(_))));
    assert!(!acts
        .iter()
        .any(|a| matches!(a, Action::SendAdvert { priority: 0, .. })));
    // Released: the next time it runs out, it takes over by itself.
    r.hold_takeover(false);
    let t = r.poll_timeout().unwrap();
    r.handle_timeout(t);
    assert_eq!(r.state(), State::Master);
}

/// Found by the chaos lab (seed 1202, and a lab replaying it): a master stalled four times in
/// 5 s, a backup took over during each stall and its GARPs moved the clients; the master
/// re-announced after the first three and not the fourth (the bucket of three was spent), and
/// the clients stayed 0.8 s on the backup that had yielded. A stall of the master's own (no
/// advert for three intervals) makes the next lower-priority advert a real takeover, which is
/// re-announced whatever the bucket holds; without a stall, the bucket still limits (spoofs).
#[test]
fn a_takeover_during_a_stall_is_re_announced_even_with_the_bucket_spent() {
    // VRRPv3 at 100 ms: three intervals of silence are 0.3 s, well inside the bucket's 5 s.
    let mut config = v3(200, 1);
    config.advert_interval = Centis(10);
    let mut r = router(config);
    let t = epoch();
    r.startup(t);
    r.handle_timeout(t + secs(1));
    assert_eq!(r.state(), State::Master);
    drain(&mut r);
    let mut backup = v3(100, 66);
    backup.advert_interval = Centis(10);
    let other = advert_from(&backup, 100);
    let garps = |r: &mut VirtualRouter| {
        drain(r)
            .iter()
            .filter(|a| matches!(a, Action::SendGarp { .. }))
            .count()
    };
    // Adverts on time every 100 ms, and an episode every 350 ms: three spend the bucket.
    let mut now = t + secs(1);
    let episode = |r: &mut VirtualRouter, now: &mut Instant| {
        for _ in 0..2 {
            *now += us(100_000);
            r.handle_timeout(*now);
        }
        r.handle_advert(*now + us(1_000), &other);
        // The re-announcement comes an interval after the advert that earned it.
        for _ in 0..3 {
            *now += us(50_000);
            r.handle_timeout(*now);
        }
        garps(r)
    };
    for _ in 0..3 {
        assert_eq!(episode(&mut r, &mut now), 1);
    }
    assert_eq!(
        episode(&mut r, &mut now),
        0,
        "a fourth without a stall: the bucket is spent"
    );
    // The master stalls 0.5 s (five intervals without an advert): the backup took over. On
    // resuming, its lower-priority advert is re-announced, bucket or not.
    let resumed = now + us(500_000);
    r.handle_timeout(resumed);
    r.handle_advert(resumed + us(1_000), &other);
    r.handle_timeout(resumed + us(101_000));
    assert_eq!(garps(&mut r), 1, "the takeover during the stall");
    // The stall counted once: the next episode is the bucket's again (still spent).
    now = resumed + us(101_000);
    assert_eq!(episode(&mut r, &mut now), 0);
    assert_eq!(r.state(), State::Master);
}
