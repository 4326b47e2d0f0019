//! `vrrp_sync_group`: instances that share FAULT, and the group's notify hooks (read, warned
//! about, not run).

use super::args::{loc, notify_slot, Cx};
use super::instance::RawInstance;
use super::keywords::{handled, ignored, refused, Table, Wording};
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
        refused(
            "global_tracking",
            "a member's own weighted tracking could split the group across nodes: track on the group, or with weight 0",
        ),
        refused(
            "sync_group_tracking_weight",
            "a member's own weighted tracking could split the group across nodes: track on the group, or with weight 0",
        ),
        handled("track_interface", track),
        handled("track_script", track),
        handled("track_process", track),
        handled("track_file", track),
        refused("track_bfd", "BFD is not implemented"),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// `vrrp_sync_group NAME { ... }`.
pub(super) fn read_sync_group(cx: &mut Cx<'_>, name: &Word, body: &[Stmt]) -> RawGroup {
    let mut g = (
        SyncGroupSpec {
            name: name.text.clone(),
            instances: Vec::new(),
            notify: NotifySpec::default(),
            track: Default::default(),
        },
        GroupAt {
            at: name.loc.clone(),
            members: Vec::new(),
        },
    );
    cx.dispatch(&SYNC_GROUP, &mut g, body);
    let n = g.0.instances.len();
    if n >= 2 {
        cx.err(
            Diagnostic::warning(loc(name), format!("sync group {}: havip shares FAULT between its members, not BACKUP", name.text))
                .hint("a failed link or check of one member puts all of them in FAULT, as in keepalived; but a member that loses an election on its own (a partition of one network without link loss) does not pull the others to BACKUP as keepalived's group would"),
        );
    }
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

/// `track_interface`, `track_script` / `track_process` and `track_file` on the group: read
/// as an instance reads them (same weights, same checks), kept for every member.
fn track(cx: &mut Cx<'_>, (g, _): &mut RawGroup, s: &Stmt) {
    let Some(body) = cx.block(s) else { return };
    cx.extra(s, 0, &SYNC_GROUP);
    let mut r = RawInstance::new(s.keyword());
    for line in body {
        match s.keyword().text.as_str() {
            "track_interface" => cx.track_interface(&mut r, line),
            "track_file" => cx.track_file(&mut r, line),
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
