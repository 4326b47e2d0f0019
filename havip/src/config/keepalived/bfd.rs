//! `bfd_instance NAME { ... }` (keepalived 2.2.7's `bfd/bfd_parser.c`): one BFD session, read
//! into a [`BfdSpec`] with keepalived's defaults, ranges and corrections.

use std::net::IpAddr;
use std::time::Duration;

use super::args::{loc, Cx};
use super::keywords::{handled, Table, Wording};
use crate::config::check::bfd_limits;
use crate::config::diag::{Diagnostic, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::BfdSpec;

/// A `bfd_instance` block as written; a value refused is reported and left at its default.
pub(super) struct RawBfd {
    neighbor: Option<(IpAddr, Location)>,
    source: Option<IpAddr>,
    min_rx: Option<Duration>,
    min_tx: Option<Duration>,
    idle_tx: Option<Duration>,
    multiplier: Option<u8>,
    passive: bool,
    ttl: Option<u8>,
    /// keepalived reads -1 as 255 (its `max_hops` is a byte): not checked.
    max_hops: Option<(u8, Location)>,
    weight: i32,
    vrrp: bool,
    checker: Option<Location>,
}

/// `bfd_instance`: what havip does with each keyword.
pub(super) static BFD_INSTANCE: Table<RawBfd> = Table {
    block: "bfd_instance",
    place: "in bfd_instance",
    keywords: &[
        handled("neighbor_ip", neighbor_ip),
        handled("neighbour_ip", neighbor_ip),
        handled("source_ip", source_ip),
        handled("min_rx", interval),
        handled("min_tx", interval),
        handled("idle_tx", interval),
        handled("multiplier", multiplier),
        handled("passive", |cx, r, s| {
            cx.flag(s, &BFD_INSTANCE);
            r.passive = true;
        }),
        handled("ttl", ttl),
        handled("hoplimit", ttl),
        handled("max_hops", max_hops),
        handled("weight", weight),
        handled("vrrp", |cx, r, s| {
            cx.flag(s, &BFD_INSTANCE);
            r.vrrp = true;
        }),
        handled("checker", |cx, r, s| {
            cx.flag(s, &BFD_INSTANCE);
            r.checker = loc(s.keyword());
        }),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// A `bfd_instance` read: the session, where it was named, and whether it reports to VRRP
/// (keepalived's `checker` without `vrrp` does not: havip does not run such a session).
pub(super) struct ReadBfd {
    pub(super) spec: BfdSpec,
    pub(super) at: Location,
    pub(super) vrrp: bool,
}

/// The block, or `None` (reported) when keepalived would not run it either: no neighbour, a
/// source of the other family, a name too long.
pub(super) fn read_bfd(cx: &mut Cx<'_>, name: &Word, body: &[Stmt]) -> Option<ReadBfd> {
    let mut r = RawBfd {
        neighbor: None,
        source: None,
        min_rx: None,
        min_tx: None,
        idle_tx: None,
        multiplier: None,
        passive: false,
        ttl: None,
        max_hops: None,
        weight: 0,
        vrrp: false,
        checker: None,
    };
    cx.dispatch(&BFD_INSTANCE, &mut r, body);
    let n = &name.text;
    if n.len() > bfd_limits::NAME_MAX {
        cx.err(
            Diagnostic::error(
                loc(name),
                format!(
                    "bfd_instance {n}: the name is longer than {} characters",
                    bfd_limits::NAME_MAX
                ),
            )
            .found(n.clone())
            .hint("shorten it (keepalived ignores the instance: \"name too long\")"),
        );
        return None;
    }
    let Some((neighbor, _)) = r.neighbor else {
        cx.err(
            Diagnostic::error(loc(name), format!("bfd_instance {n} has no neighbor_ip"))
                .expected("neighbor_ip ADDRESS")
                .hint("name the peer the session runs to (keepalived disables the instance: \"no neighbor address set\")"),
        );
        return None;
    };
    let mut b = BfdSpec::new(n, neighbor);
    b.source = r.source;
    if let Some(why) = crate::config::check::bfd_family_problem(&b) {
        cx.err(
            Diagnostic::error(loc(name), why)
                .hint("give global addresses, the source of the neighbour's family or none (keepalived disables the instance)"),
        );
        return None;
    }
    b.min_rx = r.min_rx.unwrap_or(b.min_rx);
    b.min_tx = r.min_tx.unwrap_or(b.min_tx);
    b.idle_tx = r.idle_tx.unwrap_or(b.idle_tx);
    b.multiplier = r.multiplier.unwrap_or(b.multiplier);
    b.passive = r.passive;
    b.ttl = r.ttl.unwrap_or(b.ttl);
    b.weight = r.weight;
    if let Some((hops, at)) = r.max_hops {
        b.max_hops = hops;
        if hops > b.ttl {
            let what = if neighbor.is_ipv4() {
                "ttl"
            } else {
                "hoplimit"
            };
            cx.err(
                Diagnostic::warning(
                    Some(at),
                    format!(
                        "bfd_instance {n}: max_hops {hops} exceeds the {what} {}: set to {}, as keepalived does",
                        b.ttl, b.ttl
                    ),
                )
                .hint("received packets are not checked either way; write max_hops no greater than the ttl (hoplimit)"),
            );
            b.max_hops = b.ttl;
        }
    }
    let vrrp = r.vrrp || r.checker.is_none();
    if let Some(at) = r.checker.filter(|_| !vrrp) {
        cx.err(
            Diagnostic::warning(
                Some(at),
                format!("bfd_instance {n} reports to keepalived's checkers only (checker without vrrp): havip, VRRP only, does not run it, and no vrrp_instance can track it"),
            )
            .hint("keepalived's checker half (if it still runs) runs this session; add vrrp for havip to run it and instances to track it"),
        );
    }
    Some(ReadBfd {
        spec: b,
        at: name.loc.clone(),
        vrrp,
    })
}

fn neighbor_ip(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = cx.arg(s, "an IP address", &BFD_INSTANCE) {
        if let Some(a) = cx.addr(w, &s.keyword().text) {
            r.neighbor = Some((a, w.loc.clone()));
        }
    }
}

fn source_ip(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = cx.arg(s, "an IP address", &BFD_INSTANCE) {
        if let Some(a) = cx.addr(w, "source_ip") {
            r.source = Some(a);
        }
    }
}

/// `min_rx`, `min_tx` and `idle_tx`: milliseconds with at most three decimals (keepalived
/// keeps microseconds), 1 to 4294967 (`idle_tx` from 1000).
fn interval(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    let Some(w) = cx.arg(s, "milliseconds", &BFD_INSTANCE) else {
        return;
    };
    let (min, max) = if kw == "idle_tx" {
        bfd_limits::IDLE_TX_US
    } else {
        bfd_limits::INTERVAL_US
    };
    let Some(us) = cx.millis_us(w, kw, min, max) else {
        return;
    };
    let d = Duration::from_micros(us);
    match kw {
        "min_rx" => r.min_rx = Some(d),
        "min_tx" => r.min_tx = Some(d),
        _ => r.idle_tx = Some(d),
    }
}

fn multiplier(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = cx.arg(s, "a count, 1 to 255", &BFD_INSTANCE) {
        if let Some(v) = cx.unsigned(w, "multiplier", 1, 255) {
            r.multiplier = Some(v as u8);
        }
    }
}

/// `ttl` and `hoplimit`: the same setting in keepalived, whatever the neighbour's family.
fn ttl(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = cx.arg(s, "1 to 255", &BFD_INSTANCE) {
        if let Some(v) = cx.unsigned(w, &s.keyword().text, 1, 255) {
            r.ttl = Some(v as u8);
        }
    }
}

/// `max_hops`: -1 to 255; -1 is keepalived's 255 (a byte): the received TTL is not checked.
fn max_hops(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = cx.arg(s, "-1 to 255", &BFD_INSTANCE) {
        if let Some(v) = cx.signed(w, "max_hops", -1, 255) {
            r.max_hops = Some((if v < 0 { 255 } else { v as u8 }, w.loc.clone()));
        }
    }
}

fn weight(cx: &mut Cx<'_>, r: &mut RawBfd, s: &Stmt) {
    if let Some(w) = super::scripts::weight(
        cx,
        s,
        &BFD_INSTANCE,
        "bfd_instance",
        "give the weight with the opposite sign if that is what you mean, for the instances that track the session (for weight 0 reverse, FAULT while the session is up, there is no equivalent)",
    ) {
        r.weight = w;
    }
}

impl Cx<'_> {
    /// A number of milliseconds as keepalived reads a BFD interval (`read_decimal_unsigned`
    /// with three decimals): in microseconds, `min..=max`.
    pub(super) fn millis_us(&mut self, w: &Word, what: &str, min: u64, max: u64) -> Option<u64> {
        let expected = format!(
            "milliseconds from {} to {}, at most 3 decimals",
            min as f64 / 1000.0,
            max / 1000
        );
        let (whole, frac) = w.text.split_once('.').unwrap_or((&w.text, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) {
            self.err(
                Diagnostic::error(loc(w), format!("{what} {} is not a number", w.text))
                    .found(w.text.clone())
                    .expected(expected),
            );
            return None;
        }
        if frac.len() > 3 {
            self.err(
                Diagnostic::error(
                    loc(w),
                    format!("{what} {} has too many decimal places", w.text),
                )
                .found(w.text.clone())
                .expected(expected)
                .hint("BFD intervals are kept in microseconds: at most 3 decimals of a millisecond (keepalived refuses it too)"),
            );
            return None;
        }
        let us = whole
            .parse::<u64>()
            .ok()
            .and_then(|ms| ms.checked_mul(1000))
            .and_then(|us| us.checked_add(format!("{frac:0<3}").parse::<u64>().unwrap_or(0)));
        match us {
            Some(us) if (min..=max).contains(&us) => Some(us),
            _ => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is out of range", w.text))
                        .found(w.text.clone())
                        .expected(expected),
                );
                None
            }
        }
    }

    /// `track_bfd { NAME [weight W] }` (in an instance or a sync group): a `bfd_instance`
    /// defined above that reports to VRRP, as keepalived resolves it when it reads it.
    pub(super) fn track_bfd(&mut self, r: &mut super::instance::RawInstance, line: &Stmt) {
        self.no_block(line);
        let (min, max) = bfd_limits::WEIGHT;
        let Ok(weight) = self.weighted(line, "track_bfd", min, max) else {
            return;
        };
        let name = &line.keyword().text;
        match self.bfds_so_far.get(name) {
            None => {
                self.err(
                    Diagnostic::error(loc(line.keyword()), format!("track_bfd {name}: no bfd_instance of that name above"))
                        .found(name.clone())
                        .hint("define it before with bfd_instance NAME { neighbor_ip ADDRESS }: keepalived 2.2.7 looks it up when it reads track_bfd and ignores it otherwise (\"track bfd NAME not found, ignoring...\")"),
                );
                return;
            }
            Some(false) => {
                self.err(
                    Diagnostic::error(loc(line.keyword()), format!("track_bfd {name}: bfd_instance {name} reports to keepalived's checkers only (checker without vrrp)"))
                        .found(name.clone())
                        .hint("add vrrp to the bfd_instance, or remove this track_bfd (keepalived ignores it: \"track bfd NAME not found, ignoring...\")"),
                );
                return;
            }
            Some(true) => {}
        }
        if r.track_bfds.iter().any(|(n, _)| n == name) {
            self.err(
                Diagnostic::warning(
                    loc(line.keyword()),
                    format!("duplicate track_bfd {name} is ignored, as keepalived does"),
                )
                .hint("remove it"),
            );
            return;
        }
        r.track_bfds.push((name.clone(), weight));
    }
}
