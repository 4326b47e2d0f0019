//! `havip_bgp { ... }`: havip's own top-level block (keepalived has no BGP), read into a
//! [`BgpSpec`]: the speaker (BIRD 2, which havip starts), its neighbours, and what a backup
//! announces. keepalived 2.2.7 does not know the keyword: it logs "Unknown keyword" for it and
//! for each line of the block, and runs the rest of the file (see docs/config.md, "BGP").

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::args::{joined, loc, Cx};
use super::keywords::{handled, Table, Wording};
use crate::config::check::{self, bgp_limits, BgpAt};
use crate::config::diag::{Diagnostic, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::{BackupRoute, BgpMode, BgpNeighbor, BgpSpec};

/// A `havip_bgp` block as written; a value refused is reported and left unset.
#[derive(Default)]
pub(super) struct RawBgp {
    local_as: Option<u32>,
    /// `local_as` was written, valid or not.
    local_as_given: bool,
    router_id: Option<Ipv4Addr>,
    mode: Option<BgpMode>,
    backup: Option<(BackupRoute, Location)>,
    hold_time: Option<u16>,
    communities: Vec<(u16, u16)>,
    bfd_min_rx: Option<Duration>,
    bfd_min_tx: Option<Duration>,
    bfd_multiplier: Option<u8>,
    /// The first BFD timer written, and its keyword.
    bfd_at: Option<(Location, String)>,
    bird: Option<std::path::PathBuf>,
    neighbors: Vec<BgpNeighbor>,
}

/// `havip_bgp`: what havip does with each keyword.
pub(super) static HAVIP_BGP: Table<RawBgp> = Table {
    block: "havip_bgp",
    place: "in havip_bgp",
    keywords: &[
        handled("local_as", |cx, r, s| {
            r.local_as_given = true;
            if let Some(w) = cx.arg(s, "an AS number, 1 to 4294967295", &HAVIP_BGP) {
                r.local_as = cx.as_number(w, "local_as");
            }
        }),
        handled("router_id", router_id),
        handled("mode", mode),
        handled("backup", backup),
        handled("hold_time", |cx, r, s| {
            if let Some(w) = cx.arg(s, "seconds, 3 to 65535", &HAVIP_BGP) {
                let (min, max) = bgp_limits::HOLD_TIME;
                if let Some(v) = cx.unsigned(w, "hold_time", min, max) {
                    r.hold_time = Some(v as u16);
                }
            }
        }),
        handled("community", community),
        handled("bfd_min_rx", bfd_timer),
        handled("bfd_min_tx", bfd_timer),
        handled("bfd_multiplier", bfd_timer),
        handled("bird", bird),
        handled("neighbor", neighbor),
        handled("neighbour", neighbor),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// A `neighbor ADDRESS { ... }` block as written.
#[derive(Default)]
pub(super) struct RawNeighbor {
    remote_as: Option<u32>,
    remote_as_given: bool,
    bfd: bool,
    source: Option<(IpAddr, Location)>,
}

/// `neighbor` (in `havip_bgp`): what havip does with each keyword.
pub(super) static NEIGHBOR: Table<RawNeighbor> = Table {
    block: "neighbor",
    place: "in neighbor",
    keywords: &[
        handled("remote_as", |cx, n, s| {
            n.remote_as_given = true;
            if let Some(w) = cx.arg(s, "an AS number, 1 to 4294967295", &NEIGHBOR) {
                n.remote_as = cx.as_number(w, "remote_as");
            }
        }),
        handled("bfd", |cx, n, s| {
            cx.flag(s, &NEIGHBOR);
            n.bfd = true;
        }),
        handled("source", |cx, n, s| {
            if let Some(w) = cx.arg(s, "an IP address of this host", &NEIGHBOR) {
                if let Some(a) = cx.addr(w, "source") {
                    n.source = Some((a, w.loc.clone()));
                }
            }
        }),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// A `havip_bgp` block read: the spec (`None` when the block has errors of its own, which
/// are reported), and where its parts were written.
pub(super) struct ReadBgp {
    pub(super) spec: Option<BgpSpec>,
    pub(super) at: BgpAt,
}

/// The block whose keyword is `kw`; `body` is `None` when it has none (reported).
pub(super) fn read_bgp(cx: &mut Cx<'_>, kw: &Word, body: Option<&[Stmt]>) -> ReadBgp {
    let errors_before = cx.diags.list.iter().filter(|d| d.is_error()).count();
    let mut r = RawBgp::default();
    if let Some(body) = body {
        cx.dispatch(&HAVIP_BGP, &mut r, body);
    }
    let at = BgpAt {
        at: kw.loc.clone(),
        spelled: "havip_bgp",
        backup_at: r.backup.as_ref().map(|b| b.1.clone()),
        bfd_at: r.bfd_at.clone(),
    };
    if body.is_some() && !r.local_as_given {
        cx.err(
            Diagnostic::error(loc(kw), "havip_bgp has no local_as")
                .expected("local_as AS")
                .hint("give this node's AS number, 1 to 4294967295 (a private one is 64512 to 65534, or 4200000000 to 4294967294)"),
        );
    }
    let errors = cx.diags.list.iter().filter(|d| d.is_error()).count();
    let spec = match r.local_as {
        Some(local_as) if errors == errors_before => {
            let mut b = BgpSpec::new(local_as);
            b.router_id = r.router_id;
            b.mode = r.mode.unwrap_or_default();
            b.backup = r.backup.map(|b| b.0).unwrap_or_default();
            b.hold_time = r.hold_time.unwrap_or(b.hold_time);
            b.communities = r.communities;
            b.bfd.min_rx = r.bfd_min_rx.unwrap_or(b.bfd.min_rx);
            b.bfd.min_tx = r.bfd_min_tx.unwrap_or(b.bfd.min_tx);
            b.bfd.multiplier = r.bfd_multiplier.unwrap_or(b.bfd.multiplier);
            b.bird = r.bird.unwrap_or(b.bird);
            b.neighbors = r.neighbors;
            Some(b)
        }
        _ => None,
    };
    ReadBgp { spec, at }
}

fn router_id(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    let Some(w) = cx.arg(s, "an IPv4 address", &HAVIP_BGP) else {
        return;
    };
    match w.text.parse::<Ipv4Addr>() {
        Ok(a) if !a.is_unspecified() => r.router_id = Some(a),
        Ok(_) => cx.err(
            Diagnostic::error(loc(w), "router_id 0.0.0.0 is not a BGP identifier")
                .found(w.text.clone())
                .expected(
                    "a non-zero IPv4 address, unique among the routers (often this host's address)",
                ),
        ),
        Err(_) => cx.err(
            Diagnostic::error(
                loc(w),
                format!("router_id {} is not an IPv4 address", w.text),
            )
            .found(w.text.clone())
            .expected("an IPv4 address: the BGP identifier is 32 bits, IPv6 sessions included"),
        ),
    }
}

fn mode(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    let Some(w) = cx.arg(s, "active_standby or anycast", &HAVIP_BGP) else {
        return;
    };
    match w.text.as_str() {
        "active_standby" => r.mode = Some(BgpMode::ActiveStandby),
        "anycast" => r.mode = Some(BgpMode::Anycast),
        _ => cx.err(
            Diagnostic::error(loc(w), format!("mode {} is not a BGP mode", w.text))
                .found(w.text.clone())
                .expected("active_standby (the VRRP master announces) or anycast (every healthy node announces)"),
        ),
    }
}

/// `backup withdraw`, `backup prepend N` or `backup med N`.
fn backup(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    cx.no_block(s);
    let expected = "withdraw, prepend N (1 to 10) or med N (1 to 4294967295)";
    let args = s.args();
    let Some(kind) = args.first() else {
        cx.err(Diagnostic::error(loc(s.keyword()), "backup needs a value").expected(expected));
        return;
    };
    let route = match kind.text.as_str() {
        "withdraw" => {
            cx.extra(s, 1, &HAVIP_BGP);
            BackupRoute::Withdraw
        }
        k @ ("prepend" | "med") => {
            let Some(n) = args.get(1) else {
                cx.err(
                    Diagnostic::error(loc(kind), format!("backup {k} needs a number"))
                        .expected(expected),
                );
                return;
            };
            cx.extra(s, 2, &HAVIP_BGP);
            let what = format!("backup {k}");
            if k == "prepend" {
                let (min, max) = bgp_limits::PREPEND;
                let Some(v) = cx.unsigned(n, &what, min, max) else {
                    return;
                };
                BackupRoute::Prepend(v as u8)
            } else {
                let (min, max) = bgp_limits::MED;
                let Some(v) = cx.unsigned(n, &what, min, max) else {
                    return;
                };
                BackupRoute::Med(v as u32)
            }
        }
        _ => {
            cx.err(
                Diagnostic::error(
                    loc(kind),
                    format!("backup {} is not a backup route", kind.text),
                )
                .found(joined(args))
                .expected(expected),
            );
            return;
        }
    };
    r.backup = Some((route, s.keyword().loc.clone()));
}

/// `community A:B [A:B...]`: standard communities; the keyword may repeat.
fn community(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    cx.no_block(s);
    if s.args().is_empty() {
        cx.err(
            Diagnostic::error(loc(s.keyword()), "community needs a value")
                .expected("ASN:VALUE, each 0 to 65535 (e.g. 65001:100), one or more"),
        );
    }
    for w in s.args() {
        match check::parse_community(&w.text) {
            Ok(c) if r.communities.contains(&c) => cx.err(
                Diagnostic::warning(loc(w), format!("community {} is listed twice", w.text))
                    .hint("routes carry it once; remove the second"),
            ),
            Ok(c) => r.communities.push(c),
            Err(why) => cx.err(Diagnostic::error(loc(w), why).found(w.text.clone())),
        }
    }
}

/// `bfd_min_rx MS`, `bfd_min_tx MS` (1 to 10000) and `bfd_multiplier N` (1 to 255): the
/// speaker's BFD, for the neighbours that say `bfd`.
fn bfd_timer(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if r.bfd_at.is_none() {
        r.bfd_at = Some((s.keyword().loc.clone(), kw.to_string()));
    }
    if kw == "bfd_multiplier" {
        let Some(w) = cx.arg(s, "a count, 1 to 255", &HAVIP_BGP) else {
            return;
        };
        let (min, max) = bgp_limits::BFD_MULTIPLIER;
        if let Some(v) = cx.unsigned(w, kw, min, max) {
            r.bfd_multiplier = Some(v as u8);
        }
        return;
    }
    let Some(w) = cx.arg(s, "milliseconds, 1 to 10000", &HAVIP_BGP) else {
        return;
    };
    let (min, max) = bgp_limits::BFD_INTERVAL_MS;
    let Some(ms) = cx.unsigned(w, kw, min, max) else {
        return;
    };
    let d = Some(Duration::from_millis(ms));
    if kw == "bfd_min_rx" {
        r.bfd_min_rx = d;
    } else {
        r.bfd_min_tx = d;
    }
}

fn bird(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    let Some(w) = cx.arg(s, "the path of BIRD 2's bird", &HAVIP_BGP) else {
        return;
    };
    match check::bird_path_problem(&w.text) {
        Some(why) => cx.err(
            Diagnostic::error(loc(w), format!("bird {:?}: {why}", w.text))
                .found(w.text.clone())
                .expected("an absolute path (e.g. /usr/sbin/bird), or a name found on PATH"),
        ),
        None => r.bird = Some(w.text.clone().into()),
    }
}

/// `neighbor ADDRESS { remote_as AS  bfd  source ADDRESS }` (and its spelling `neighbour`):
/// one BGP peer, directly connected.
fn neighbor(cx: &mut Cx<'_>, r: &mut RawBgp, s: &Stmt) {
    let kw = &s.keyword().text;
    let addr_w = match s.args() {
        [a] => Some(a),
        [] => {
            cx.err(
                Diagnostic::error(loc(s.keyword()), format!("{kw} needs an address"))
                    .expected(format!("{kw} ADDRESS {{ remote_as AS }}")),
            );
            None
        }
        [_, extra, ..] => {
            cx.err(
                Diagnostic::error(loc(extra), format!("{kw} takes one address"))
                    .found(joined(s.args()))
                    .hint("write one block per neighbour"),
            );
            None
        }
    };
    let Some(body) = cx.block(s) else {
        return;
    };
    let mut n = RawNeighbor::default();
    cx.dispatch(&NEIGHBOR, &mut n, body);
    let Some(addr_w) = addr_w else {
        return;
    };
    let Some(addr) = cx.addr(addr_w, kw) else {
        return;
    };
    if let Some(why) = check::bgp_address_problem(addr) {
        cx.err(
            Diagnostic::error(loc(addr_w), format!("{kw} {addr}: {why}"))
                .found(addr_w.text.clone()),
        );
        return;
    }
    let Some(remote_as) = n.remote_as else {
        if !n.remote_as_given {
            cx.err(
                Diagnostic::error(loc(addr_w), format!("{kw} {addr} has no remote_as"))
                    .expected("remote_as AS")
                    .hint("give the AS number of the router at the other end (the same as local_as for iBGP)"),
            );
        }
        return;
    };
    if let Some((source, sat)) = &n.source {
        let why = check::bgp_address_problem(*source)
            .map(str::to_string)
            .or_else(|| {
                (source.is_ipv4() != addr.is_ipv4())
                    .then(|| format!("not of the neighbour's family ({addr})"))
            });
        if let Some(why) = why {
            cx.err(
                Diagnostic::error(Some(sat.clone()), format!("{kw} {addr}: source {source}: {why}"))
                    .hint("give an address of this host in the neighbour's family, or no source (the kernel's route picks it)"),
            );
            return;
        }
    }
    if r.neighbors.iter().any(|x| x.addr == addr) {
        cx.err(
            Diagnostic::error(loc(addr_w), format!("{kw} {addr} is defined twice"))
                .hint("one session per neighbour: merge the two blocks"),
        );
        return;
    }
    r.neighbors.push(BgpNeighbor {
        addr,
        remote_as,
        bfd: n.bfd,
        source: n.source.map(|s| s.0),
    });
}

impl Cx<'_> {
    /// An AS number, 1 to 4294967295.
    fn as_number(&mut self, w: &Word, what: &str) -> Option<u32> {
        let (min, max) = bgp_limits::AS;
        self.unsigned(w, what, min, max).map(|v| v as u32)
    }
}
