//! `vrrp_sync_group`: instances that move together (the daemon couples them: see
//! `daemon/health.rs` and `daemon/instance.rs`), the group's notify hooks and tracking.

use super::args::{loc, notify_slot, Cx};
use super::instance::RawInstance;
use super::keywords::{handled, ignored, Table, Wording};
use crate::config::check::GroupAt;
use crate::config::diag::Diagnostic;
use crate::config::syntax::{Stmt, Word};
use crate::model::{NotifySpec, SyncGroupSpec};

/// A sync group as read, with where its parts were written.
pub(super) type RawGroup = (SyncGroupSpec, GroupAt);

/// `vrrp_sync_group`: what havip does with each keyword.
pub(super) static SYNC_GROUP: Table<RawGroup> = Table {
    block: "vrrp_sync_group",
    place: "in vrrp_sync_group",
    keywords: &[
        handled("group", group),
        handled("notify_master", notify),
        handled("notify_backup", notify),
        handled("notify_fault", notify),
        handled("notify_stop", notify),
        handled("notify", notify),
        ignored("smtp_alert", "e-mail alerts are not implemented"),
        ignored(
            "notify_priority_changes",
            "priority changes are not notified",
        ),
        handled("sync_group_tracking_weight", tracking_weight),
        handled("global_tracking", tracking_weight),
        handled("track_interface", track),
        handled("track_script", track),
        handled("track_process", track),
        handled("track_file", track),
        handled("track_bfd", track),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// keepalived `sync_group_tracking_weight`, and `global_tracking`, its older name (keepalived
/// 2.2.7 reads both the same way): the members keep their tracking's weights.
fn tracking_weight(cx: &mut Cx<'_>, g: &mut RawGroup, s: &Stmt) {
    cx.flag(s, &SYNC_GROUP);
    g.0.tracking_weight = true;
}

/// `vrrp_sync_group NAME { ... }`.
pub(super) fn read_sync_group(cx: &mut Cx<'_>, name: &Word, body: &[Stmt]) -> RawGroup {
    let mut g = (
        SyncGroupSpec {
            name: name.text.clone(),
            instances: Vec::new(),
            notify: NotifySpec::default(),
            track: Default::default(),
            tracking_weight: false,
        },
        GroupAt {
            at: name.loc.clone(),
            members: Vec::new(),
        },
    );
    cx.dispatch(&SYNC_GROUP, &mut g, body);
    let n = g.0.instances.len();
    if n < 2 {
        cx.err(
            Diagnostic::warning(
                loc(name),
                format!("sync group {} has {} member(s)", name.text, n),
            )
            .hint("a sync group synchronises two or more instances; keepalived warns about it too"),
        );
    }
    g
}

/// `group { VI_1 VI_2 }`: every word is a member, so it works on one line.
fn group(cx: &mut Cx<'_>, (g, at): &mut RawGroup, s: &Stmt) {
    if let Some(body) = cx.block(s) {
        for line in body {
            cx.no_block(line);
            for w in &line.words {
                g.instances.push(w.text.clone());
                at.members.push(w.loc.clone());
            }
        }
    }
}

/// `track_interface`, `track_script` / `track_process`, `track_file` and `track_bfd` on the
/// group: read
/// as an instance reads them (same weights, same checks), kept for every member.
fn track(cx: &mut Cx<'_>, (g, _): &mut RawGroup, s: &Stmt) {
    let Some(body) = cx.block(s) else { return };
    cx.extra(s, 0, &SYNC_GROUP);
    let mut r = RawInstance::new(s.keyword());
    for line in body {
        match s.keyword().text.as_str() {
            "track_interface" => cx.track_interface(&mut r, line),
            "track_file" => cx.track_file(&mut r, line),
            "track_bfd" => cx.track_bfd(&mut r, line),
            _ => cx.track_script(&mut r, line),
        }
    }
    g.track
        .interfaces
        .extend(r.track_interfaces.into_iter().map(|(n, w, _)| (n, w)));
    g.track
        .scripts
        .extend(r.track_scripts.into_iter().map(|(n, w, _)| (n, w)));
    g.track.files.extend(r.track_files);
    g.track.bfds.extend(r.track_bfds);
}

/// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop` and `notify`.
fn notify(cx: &mut Cx<'_>, (g, _): &mut RawGroup, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if let Some(cmd) = cx.notify(s) {
        *notify_slot(&mut g.notify, kw) = Some(cmd);
        cx.err(
            Diagnostic::warning(
                loc(s.keyword()),
                format!("havip does not run a sync group's {kw} hook"),
            )
            .hint("put the hook on the group's instances: each runs its own"),
        );
    }
}
