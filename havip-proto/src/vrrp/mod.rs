//! The VRRP election as a deterministic, sans-IO state machine (RFC 9568 §6 for VRRPv3, RFC 3768
//! §6 for VRRPv2), with keepalived's start-up and preemption semantics where they differ.
//!
//! [`VirtualRouter`] never reads the clock, opens a socket or spawns a task: the daemon feeds it
//! inputs stamped with `now` (`startup`, `handle_advert`, `handle_timeout`, `set_priority`,
//! `enter_fault`/`leave_fault`, `shutdown`), carries out the [`Action`]s drained from
//! `poll_action`, and sleeps until `poll_timeout`. Received adverts arrive as [`RxAdvert`], which
//! the daemon fills from the parsed packet; this module does not depend on `wire`.
//!
//! # Timing
//! - Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256 in v3, (256 − Priority) / 256 s
//!   in v2; Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time: [`skew_time`] and
//!   [`master_down_interval`], the one place these are computed (the daemon uses them too).
//! - A v3 backup learns Master_Adver_Interval from every advert it honours, and a master that
//!   yields learns it from the winner; v2 drops adverts whose interval differs from ours
//!   (RFC 3768 §7.1), so v2 always uses its own.
//!
//! # RFC choices
//! - A master that hears a lower-priority advert sends an advert at once (RFC 9568 §6.4.3) without
//!   resetting its Adver_Timer, in v2 too (keepalived does), and re-announces its VIPs with GARP
//!   bursts (`garp.lower_prio_repeat`, again `garp.lower_prio_delay` later; keepalived's
//!   `garp_lower_prio_*`): that is how the winner of a healed partition reclaims ARP caches that
//!   point at the loser's MAC.
//! - Unlike the RFC and keepalived, a master does not amplify: VRRP has no authentication, and
//!   answering every lower-priority advert turned 10 000 spoofed adverts into 10 000 adverts and
//!   100 000 GARPs. It answers lower-priority adverts with at most one advert per advert
//!   interval, priority-0 ones likewise, and starts at most one lower-priority announcement (a
//!   burst, and its repeat `garp.lower_prio_delay` later) per `garp.lower_prio_delay` (at least
//!   an interval): with keepalived's defaults and 2 VIPs, 20 GARPs per 5 s however fast the
//!   flood, where it was 10 per advert; what it holds back is counted
//!   ([`Counters::replies_limited`], [`Counters::garp_bursts_limited`]). A real second master
//!   yields to the first advert, so it loses nothing.
//! - A master that yields to a better advert first sends one advert at its own priority. Neither
//!   the RFC nor keepalived does this; without it, a loser that hears the winner first yields
//!   silently and the winner never learns it must re-announce. To RFC routers (keepalived
//!   included) it is an ordinary lower-priority advert.
//! - Address list ≠ our VIPs: v3 accepts and counts it (§7.1 only asks to log); v2 drops it unless
//!   the sender is the owner (RFC 3768 §7.1 MUST). keepalived drops it in both versions
//!   (`vrrp_check_packet()`, counted as `addr_list_err`).
//! - RFC 3768 §7.1 has an owner drop every advert; like RFC 9568 and keepalived, we process them
//!   (an owner master then asserts itself with an advert).
//! - Owners (priority 255) become master at once on `startup`/`leave_fault`, whatever
//!   [`StartState`] says.
//!
//! # keepalived compatibility (keepalived 2.x sources)
//! - **`state MASTER`** (`vrrp_scheduler.c`, `vrrp_init_state()`): for priority < 255 it does not
//!   make the instance master. It enters BACKUP with
//!   `ms_down_timer = master_adver_int + VRRP_TIMER_SKEW_MIN`, i.e. one advert interval plus 1/256
//!   of the skew unit (v3: of the interval; v2: of a second). It becomes master after about one
//!   interval unless an advert of equal or higher priority arrives first; a lower-priority master
//!   is preempted at that point (`state MASTER` forces preempt on). Only the owner (or an instance
//!   that was master before a reload) goes straight to master, via a 1 µs down timer. With no
//!   `state`, priority 255 implies MASTER and anything else BACKUP (`vrrp.c`,
//!   `vrrp_complete_instance()`); keepalived's owner with an explicit `state BACKUP` waits a full
//!   Master_Down_Interval, where we follow RFC 9568 §6.4.1. Modelled by [`StartState::Master`].
//! - **`nopreempt`** (`vrrp_complete_instance()`): cleared with a warning when the initial state
//!   is MASTER ("nopreempt will not work with initial state MASTER - clearing") and for priority
//!   255. [`RouterConfig::validate`] rejects the combination instead of clearing it silently.
//! - **`preempt_delay`** (`vrrp.c`, `vrrp_state_backup()`): cleared with `state MASTER`, `nopreempt`
//!   and strict mode. In 2.2 (Debian's 2.2.7) it is not counted from process start (older
//!   releases set `preempt_time` in the config parser, `vrrp_preempt_delay_handler()`): it starts
//!   when a backup first hears an advert with a priority lower than its own. Until it expires such adverts reset the Master_Down_Timer as if the master
//!   were better; afterwards they are discarded, so the backup takes over one Master_Down_Interval
//!   after the last advert it honoured. An advert of equal or higher priority cancels it, and
//!   entering backup resets it. It needs no timer of its own, only a deadline compared on
//!   receipt.
//! - **Advert on becoming master** (`vrrp_state_master_tx()`): the advert goes out first ("the old
//!   master needs to remove the VIPs before we send the gratuitous ARPs"), then the VIPs are added
//!   and `garp_master_repeat` GARPs per VIP sent (`vrrp_state_become_master()`), and a second
//!   burst follows after `garp_master_delay`. [`Action`]s come in that order.
//! - **FAULT**: leaving MASTER for FAULT sends a priority-0 advert (`vrrp_state_leave_master()`);
//!   leaving FAULT goes to BACKUP with a full Master_Down_Interval (`try_up_instance()`).
//! - **`garp_master_refresh`**: keepalived checks it on advert ticks; we run a timer, so refreshes
//!   come exactly every period.
//!
//! # GARPs
//! One [`Action::SendGarp`] carries every GARP due at that instant, one entry per address per
//! repetition (`repeat` 5 and 2 VIPs: 10 entries). With `garp.interval` > 0 (keepalived
//! `vrrp_garp_interval`) entries are spaced by that interval, one per action, and a burst due
//! while another is still queued is dropped (counted), so the queue never holds more than one
//! burst (at most 255 repeats × 255 VIPs).

mod config;
mod router;
mod timer;
mod timing;

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod tests;

pub use config::{
    Centis, ConfigError, GarpConfig, RouterConfig, StartState, Version, PRIORITY_OWNER,
};
pub use router::{
    Action, AdvertAuth, AdvertOutcome, Counters, DropReason, Reason, Rejected, RxAdvert, State,
    VirtualRouter,
};
pub use timing::{master_down_interval, skew_time};
