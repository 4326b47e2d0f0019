//! `track_file NAME { file PATH; weight W; init_file [VALUE] [overwrite] }` (keepalived 2.2.7;
//! `vrrp_track_file` is its older name), read into a [`TrackFileSpec`].

use std::path::PathBuf;

use super::args::{loc, Cx};
use super::keywords::{handled, Table, Wording};
use crate::config::diag::{Diagnostic, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::{InitFile, TrackFileSpec};

/// A `track_file` block as written.
pub(super) struct RawFile {
    path: Option<PathBuf>,
    weight: i32,
    init: Option<InitFile>,
}

/// `track_file`: what havip does with each keyword.
pub(super) static TRACK_FILE: Table<RawFile> = Table {
    block: "track_file",
    place: "in track_file",
    keywords: &[
        handled("file", file),
        handled("weight", weight),
        handled("init_file", init_file),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// The block, or `None` (reported) without a usable `file`.
pub(super) fn read_track_file(
    cx: &mut Cx<'_>,
    name: &Word,
    body: &[Stmt],
) -> Option<(TrackFileSpec, Location)> {
    let mut r = RawFile {
        path: None,
        weight: 1,
        init: None,
    };
    cx.dispatch(&TRACK_FILE, &mut r, body);
    let Some(path) = r.path else {
        cx.err(
            Diagnostic::error(loc(name), format!("track_file {} has no file", name.text)).hint(
                "add file \"/path/to/file\" (keepalived drops the track_file with a config error)",
            ),
        );
        return None;
    };
    Some((
        TrackFileSpec {
            name: name.text.clone(),
            path,
            weight: r.weight,
            init: r.init,
        },
        name.loc.clone(),
    ))
}

fn file(cx: &mut Cx<'_>, r: &mut RawFile, s: &Stmt) {
    let Some(w) = cx.arg(s, "a path", &TRACK_FILE) else {
        return;
    };
    if !w.text.starts_with('/') {
        cx.err(
            Diagnostic::error(
                loc(w),
                format!("track_file: {} is not an absolute path", w.text),
            )
            .found(w.text.clone())
            .hint("keepalived resolves it against its working directory, /; write the full path"),
        );
        return;
    }
    r.path = Some(PathBuf::from(&w.text));
}

/// `weight W [reverse]`: keepalived takes any `int` (real servers use large ones); for VRRP
/// the product with the number read is clamped to -254..=253.
fn weight(cx: &mut Cx<'_>, r: &mut RawFile, s: &Stmt) {
    cx.no_block(s);
    let Some(w) = s.args().first() else {
        cx.err(
            Diagnostic::error(loc(s.keyword()), "weight needs a value")
                .expected("weight W [noreverse]"),
        );
        return;
    };
    if let Some(v) = cx.signed(w, "weight", -2_147_483_647, 2_147_483_647) {
        r.weight = v as i32;
    }
    match s.args().get(1).map(|w| w.text.as_str()) {
        Some("reverse") => cx.err(
            Diagnostic::error(loc(&s.args()[1]), "track_file: reverse weights are not supported")
                .found("reverse")
                .hint("give the weight with the opposite sign, which for a non-zero weight is the same (the number times the weight)"),
        ),
        Some("noreverse") => cx.extra(s, 2, &TRACK_FILE),
        _ => cx.extra(s, 1, &TRACK_FILE),
    }
}

/// `init_file [VALUE] [overwrite]`.
fn init_file(cx: &mut Cx<'_>, r: &mut RawFile, s: &Stmt) {
    cx.no_block(s);
    let mut init = InitFile {
        value: 0,
        overwrite: false,
    };
    let mut args = s.args();
    if let Some(w) = args.first().filter(|w| w.text != "overwrite") {
        let Some(v) = cx.signed(w, "init_file value", -2_147_483_647, 2_147_483_647) else {
            return;
        };
        init.value = v;
        args = &args[1..];
    }
    if let Some(w) = args.first() {
        if w.text != "overwrite" {
            cx.err(
                Diagnostic::error(loc(w), format!("init_file: unknown option {}", w.text))
                    .found(w.text.clone())
                    .expected("init_file [VALUE] [overwrite]"),
            );
            return;
        }
        init.overwrite = true;
        if args.len() > 1 {
            cx.extra(s, s.args().len() - args.len() + 1, &TRACK_FILE);
        }
    }
    r.init = Some(init);
}
