//! keepalived.conf → [`DaemonSpec`], with keepalived 2.2.7's meaning, defaults and corrections.
//!
//! The rule for a keyword havip does not act on (the full list is in docs/config.md, and the
//! keyword tables are that list):
//! - **ignored with a warning** when leaving it out does not change what the virtual router
//!   does on the wire or to the addresses (e-mail alerts, SNMP, process tuning, LVS blocks);
//! - **an error** when it would (a virtual MAC, routes, other multicast groups, firewall rules).
//!
//! For values, keepalived's behaviour splits in two, and so does havip's:
//! - a value keepalived *rejects* (it logs a config error and carries on with a default:
//!   `virtual_router_id 0`, `advert_int abc`, `state MASTR`) is an error here;
//! - a valid value keepalived *corrects* (rounds a VRRPv2 `advert_int 1.5` to 2 s, clears
//!   `nopreempt` with `state MASTER`, drops authentication with VRRPv3, takes only the first
//!   address of a one-line `virtual_ipaddress { a b }`) is corrected the same way here, with a
//!   warning that says so: both daemons must run the same virtual router from the same file,
//!   since a cluster may mix them during a migration.
//!
//! # One-line blocks
//! keepalived cuts lines at braces and takes the first word of each piece as its keyword (see
//! `syntax.rs`), so `authentication { auth_type PASS  auth_pass 1111 }` yields one line
//! `auth_type PASS auth_pass 1111`: `auth_pass` is an extra word of `auth_type`, never set.
//! keepalived 2.2.7 then logs "Authentication specified but no password given. Ignoring" and
//! sends adverts without authentication. havip does exactly that (a node running havip and one
//! running keepalived from the same file must agree, or each drops the other's adverts), and
//! warns, saying how to write the block so that the password applies. The same cut makes
//! `virtual_ipaddress { 10.0.0.1/24 10.0.0.2/24 }` one VIP (the second address is an unknown
//! option of the first), `unicast_peer { a b }` one peer and `track_interface { eth1 eth2 }` one
//! interface; each gets a warning. `group { VI_1 VI_2 }` in a sync group reads every word, so it
//! works on one line.
//!
//! # Rooms
//! - `keywords`: the keyword table of a block (each keyword with the handler that reads it, or
//!   why it is ignored or refused), the dispatch through it, and [`listings`], which the docs
//!   test compares with docs/config.md. Each block's table opens its room, above its handlers.
//! - `args`: `Cx`, what the reading carries from block to block, and the argument helpers.
//! - One room a block: the top level here, `global_defs`, `instance` (with `authentication`),
//!   `scripts` (`vrrp_script`, `vrrp_track_process`), `track_file`, `bfd` (`bfd_instance`,
//!   and `track_bfd` wherever it is), `bgp` (havip's own `havip_bgp`) and `sync_group`.
//! - `complete`: keepalived's completion of each instance, then the [`DaemonSpec`].

mod args;
mod bfd;
mod bgp;
mod complete;
mod global_defs;
mod instance;
mod keywords;
mod scripts;
mod sync_group;
mod track_file;

use std::path::Path;

use super::diag::{Diagnostic, Diags, Location};
use super::syntax::{self, ReadOptions, Stmt};
use crate::model::{DaemonSpec, ScriptSpec, TrackFileSpec};
use args::Cx;
use global_defs::{Globals, GLOBAL_DEFS};
use instance::{RawInstance, INSTANCE};
use keywords::{handled, ignored, Table, Wording};
#[cfg(test)]
pub use keywords::{listings, Kind};

/// Reads the keepalived config at `path`; `Err` when the file itself cannot be read.
pub fn load_file(
    path: &Path,
    opts: &ReadOptions,
    diags: &mut Diags,
) -> Result<DaemonSpec, std::io::Error> {
    let stmts = syntax::parse_file(path, opts, diags)?;
    Ok(interpret(&stmts, &path.display().to_string(), diags))
}

/// Reads a keepalived config from text; includes are relative to the current directory.
pub fn load_str(name: &str, text: &str, opts: &ReadOptions, diags: &mut Diags) -> DaemonSpec {
    let stmts = syntax::parse_str(name, text, Path::new(""), opts, diags);
    interpret(&stmts, name, diags)
}

/// What the top level has read, before completion.
#[derive(Default)]
struct Top {
    globals: Globals,
    instances: Vec<RawInstance>,
    /// `vrrp_script`s and `vrrp_track_process`es, with where each was defined.
    scripts: Vec<(ScriptSpec, Location)>,
    /// `track_file` (and `vrrp_track_file`) blocks.
    files: Vec<TrackFileSpec>,
    groups: Vec<sync_group::RawGroup>,
    /// `bfd_instance` blocks, each with whether it reports to VRRP (only those are run).
    bfds: Vec<(crate::model::BfdSpec, bool)>,
    /// havip's `havip_bgp` block, the first one written.
    bgp: Option<bgp::ReadBgp>,
}

/// The statements of a whole file → the spec; every problem goes to `diags`.
fn interpret(stmts: &[Stmt], file: &str, diags: &mut Diags) -> DaemonSpec {
    let mut cx = Cx {
        diags,
        scripts_so_far: Default::default(),
        early_tracks: Vec::new(),
        files_so_far: Default::default(),
        bfds_so_far: Default::default(),
    };
    let mut top = Top::default();
    // global_defs applies wherever it is, as in keepalived (instances are completed last).
    let (defs, rest): (Vec<&Stmt>, Vec<&Stmt>) = stmts
        .iter()
        .partition(|s| s.keyword().text == "global_defs");
    cx.dispatch(&TOP, &mut top, defs);
    cx.dispatch(&TOP, &mut top, rest);
    let any_instance =
        !top.instances.is_empty() || stmts.iter().any(|s| s.keyword().text == "vrrp_instance");
    complete::spec(&mut cx, top, any_instance, file)
}

/// The top level: what havip does with each keyword.
static TOP: Table<Top> = Table {
    block: "top level",
    place: "at the top level",
    keywords: &[
        handled("global_defs", global_defs),
        handled("vrrp_instance", vrrp_instance),
        handled("vrrp_script", check),
        handled("vrrp_track_process", check),
        handled("vrrp_sync_group", vrrp_sync_group),
        handled("include", include),
        ignored(
            "virtual_server",
            "LVS (IPVS) load balancing is keepalived's other half; havip is VRRP only",
        ),
        ignored(
            "virtual_server_group",
            "LVS (IPVS) load balancing is keepalived's other half; havip is VRRP only",
        ),
        ignored("SSL", "used by LVS health checks only"),
        handled("bfd_instance", bfd_instance),
        handled("havip_bgp", havip_bgp),
        ignored(
            "linkbeat_interfaces",
            "havip follows link state through netlink",
        ),
        ignored(
            "garp_group",
            "per-interface GARP intervals are not implemented; the instance's schedule applies",
        ),
        handled("track_file", track_file),
        handled("vrrp_track_file", track_file),
        ignored(
            "track_process",
            "keepalived's name for vrrp_track_process is vrrp_track_process",
        ),
        ignored("use_pid_dir", "havip has no pid files"),
        ignored("instance", "havip has no pid files to name"),
        handled("static_ipaddress", |cx, top, s| {
            let a = cx.word_lines(s, &TOP, crate::config::route::parse_address);
            top.globals.static_addresses.extend(a);
        }),
        handled("static_routes", |cx, top, s| {
            let r = cx.word_lines(s, &TOP, crate::config::route::parse);
            top.globals.static_routes.extend(r);
        }),
        handled("static_rules", |cx, top, s| {
            let r = cx.word_lines(s, &TOP, crate::config::route::parse_rule);
            top.globals.static_rules.extend(r);
        }),
        handled("net_namespace", net_namespace),
        ignored("net_namespace_ipvs", "LVS only"),
        ignored("namespace_with_ipsets", "havip installs no ipsets"),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

fn global_defs(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        cx.extra(s, 0, &TOP);
        cx.dispatch(&GLOBAL_DEFS, &mut top.globals, body);
    }
}

fn vrrp_instance(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    if let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) {
        let mut r = RawInstance::new(name);
        cx.dispatch(&INSTANCE, &mut r, body);
        top.instances.push(r);
    }
}

/// `track_file NAME { ... }` and its older name `vrrp_track_file`.
fn track_file(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) else {
        return;
    };
    let Some((f, at)) = track_file::read_track_file(cx, name, body) else {
        return;
    };
    if !cx.files_so_far.insert(f.name.clone()) {
        cx.err(
            Diagnostic::error(Some(at), format!("track_file {} is defined twice", f.name))
                .hint("rename one (keepalived ignores the second with a config error)"),
        );
        return;
    }
    top.files.push(f);
}

/// `bfd_instance NAME { ... }`: a BFD session; names and sessions (neighbour and source) are
/// unique, as keepalived requires.
fn bfd_instance(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) else {
        return;
    };
    let Some(b) = bfd::read_bfd(cx, name, body) else {
        // Reported: the file is invalid. A track_bfd of it is not reported again as unknown.
        cx.bfds_so_far.entry(name.text.clone()).or_insert(true);
        return;
    };
    if let Some((msg, hint)) = super::check::bfd_conflict(top.bfds.iter().map(|(b, _)| b), &b.spec)
    {
        cx.err(Diagnostic::error(Some(b.at), msg).hint(hint));
        return;
    }
    cx.bfds_so_far.insert(b.spec.name.clone(), b.vrrp);
    top.bfds.push((b.spec, b.vrrp));
}

/// `havip_bgp { ... }`: havip's BGP block, once per file.
fn havip_bgp(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    let body = cx.block(s);
    cx.extra(s, 0, &TOP);
    if let Some(first) = &top.bgp {
        cx.err(
            Diagnostic::error(args::loc(s.keyword()), "havip_bgp is defined twice").hint(format!(
                "one BGP speaker per node: merge this block into the first, at {}",
                first.at.at
            )),
        );
        return;
    }
    top.bgp = Some(bgp::read_bgp(cx, s.keyword(), body));
}

/// `vrrp_script` and `vrrp_track_process`: checks of one name space.
fn check(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) else {
        return;
    };
    let check = if kw == "vrrp_script" {
        scripts::read_script(cx, name, body)
    } else {
        scripts::read_track_process(cx, name, body)
    };
    let Some(sc) = check else {
        return;
    };
    // `scripts_so_far` names exactly `top.scripts`: a set lookup, not a scan of the list.
    if cx.scripts_so_far.contains(&sc.0.name) {
        cx.err(
            Diagnostic::error(
                Some(sc.1.clone()),
                format!("check {} is defined twice ({kw})", sc.0.name),
            )
            .hint("rename one: vrrp_script and vrrp_track_process names share one name space in havip (keepalived skips a second vrrp_script)"),
        );
    } else {
        cx.scripts_so_far.insert(sc.0.name.clone());
        top.scripts.push(sc);
    }
}

fn vrrp_sync_group(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    if let (Some(name), Some(body)) = (cx.name(s), cx.block(s)) {
        top.groups.push(sync_group::read_sync_group(cx, name, body));
    }
}

/// The reader (`syntax.rs`) has expanded every `include PATTERN`; one that reaches here has
/// another number of words, which keepalived does not know either. `include` is in the table
/// so that it counts as a keyword for the one-line block check.
/// `net_namespace NAME`: a name under /run/netns, as `ip netns add` makes.
fn net_namespace(cx: &mut Cx<'_>, top: &mut Top, s: &Stmt) {
    let Some(w) = cx.arg(s, "a network namespace name", &TOP) else {
        return;
    };
    match crate::model::netns_name_problem(&w.text) {
        Some(why) => cx.err(Diagnostic::error(
            args::loc(w),
            format!("net_namespace {:?}: {why}", w.text),
        )),
        None => top.globals.net_namespace = Some(w.text.clone()),
    }
}

fn include(cx: &mut Cx<'_>, _: &mut Top, s: &Stmt) {
    cx.unknown(&TOP, s);
}
