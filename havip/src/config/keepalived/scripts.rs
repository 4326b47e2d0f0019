//! Checks: `vrrp_script` (a command run every interval) and `vrrp_track_process` (a count of
//! running processes, with keepalived's parameters, quorum and delays: a
//! [`ProcessTrack`]), both read into a [`ScriptSpec`]; they share one name space, which the top
//! level checks.

use std::time::Duration;

use super::args::{joined, loc, Cx};
use super::keywords::{handled, ignored, Table, Wording};
use crate::config::diag::{Diagnostic, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::{ParamMatch, ProcessTrack, ScriptSpec};

/// A `vrrp_script` as written.
pub(super) struct RawScript {
    command: Option<String>,
    interval: Duration,
    timeout: Option<Duration>,
    weight: i32,
    rise: u32,
    fall: u32,
    user: Option<String>,
}

/// `vrrp_script`: what havip does with each keyword.
pub(super) static SCRIPT: Table<RawScript> = Table {
    block: "vrrp_script",
    place: "in vrrp_script",
    keywords: &[
        handled("script", script),
        handled("interval", interval),
        handled("timeout", timeout),
        handled("weight", script_weight),
        handled("rise", rise_fall),
        handled("fall", rise_fall),
        handled("user", user),
        ignored(
            "init_fail",
            "scripts start in the state their first run gives",
        ),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// A `vrrp_track_process` as written.
pub(super) struct RawProcess {
    process: Option<String>,
    params: Vec<String>,
    param_match: ParamMatch,
    full_command: bool,
    quorum: Option<u64>,
    quorum_max: Option<u64>,
    weight: i32,
    fork_delay: Duration,
    terminate_delay: Duration,
}

/// `vrrp_track_process`: what havip does with each keyword.
pub(super) static TRACK_PROCESS: Table<RawProcess> = Table {
    block: "vrrp_track_process",
    place: "in vrrp_track_process",
    keywords: &[
        handled("process", process),
        handled("quorum", quorum),
        handled("quorum_max", quorum),
        handled("weight", process_weight),
        handled("delay", process_delay),
        handled("terminate_delay", process_delay),
        handled("fork_delay", process_delay),
        handled("full_command", full_command),
        handled("param_match", param_match),
    ],
    ignored_prefixes: &[],
    wording: Wording::Common,
};

/// `vrrp_script NAME { ... }`: the check, or `None` (reported) without a command.
pub(super) fn read_script(
    cx: &mut Cx<'_>,
    name: &Word,
    body: &[Stmt],
) -> Option<(ScriptSpec, Location)> {
    let mut r = RawScript {
        command: None,
        interval: Duration::from_secs(1),
        timeout: None,
        weight: 0,
        rise: 1,
        fall: 1,
        user: None,
    };
    cx.dispatch(&SCRIPT, &mut r, body);
    let Some(script) = r.command else {
        cx.err(
            Diagnostic::error(
                loc(name),
                format!("vrrp_script {} has no script", name.text),
            )
            .hint(
                "add script \"/path/to/check\" (keepalived drops the script with a config error)",
            ),
        );
        return None;
    };
    Some((
        ScriptSpec {
            name: name.text.clone(),
            script,
            interval: r.interval,
            // keepalived waits for a script without a timeout until its next run.
            timeout: r.timeout.unwrap_or(r.interval),
            weight: r.weight,
            rise: r.rise,
            fall: r.fall,
            user: r.user,
            process: None,
        },
        name.loc.clone(),
    ))
}

fn script(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    cx.no_block(s);
    match s.args() {
        [] => cx.err(
            Diagnostic::error(loc(s.keyword()), "script needs a command")
                .expected("script \"/path/to/check args\""),
        ),
        [cmd, rest @ ..] => {
            r.command = Some(cmd.text.clone());
            if !rest.is_empty() {
                cx.err(
                    Diagnostic::warning(loc(&rest[0]), format!("keepalived runs only {} and ignores {}", cmd.text, joined(rest)))
                        .found(joined(s.args()))
                        .hint(format!("havip does the same; to pass arguments, quote the whole command line: script \"{}\"", s.args().iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))),
                );
            }
        }
    }
}

fn interval(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &SCRIPT) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.001, 86400.0) {
            r.interval = Duration::from_micros(us);
        }
    }
}

fn timeout(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    if let Some(w) = cx.arg(s, "seconds", &SCRIPT) {
        if let Some(us) = cx.seconds_us(w, &s.keyword().text, 0.001, 86400.0) {
            r.timeout = Some(Duration::from_micros(us));
        }
    }
}

fn script_weight(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    if let Some(w) = weight(
        cx,
        s,
        &SCRIPT,
        "vrrp_script",
        "give the weight with the opposite sign if that is what you mean",
    ) {
        r.weight = w;
    }
}

/// `weight W [reverse]` of a `vrrp_script`, `vrrp_track_process` or `bfd_instance` (`block`): -253 to 253;
/// `reverse` is refused with `hint`.
pub(super) fn weight(
    cx: &mut Cx<'_>,
    s: &Stmt,
    siblings: &dyn super::keywords::Siblings,
    block: &str,
    hint: &str,
) -> Option<i32> {
    cx.no_block(s);
    match s.args() {
        [] => {
            cx.err(
                Diagnostic::error(loc(s.keyword()), "weight needs a value").expected("-253 to 253"),
            );
            None
        }
        [w, rest @ ..] => {
            let v = cx.signed(w, "weight", -253, 253).map(|v| v as i32);
            match rest.first().map(|w| w.text.as_str()) {
                Some("reverse") => cx.err(
                    Diagnostic::error(
                        loc(&rest[0]),
                        format!("{block}: reverse weights are not supported"),
                    )
                    .found("reverse")
                    .hint(hint),
                ),
                Some(_) => cx.extra(s, 1, siblings),
                None => {}
            }
            v
        }
    }
}

/// `rise` and `fall`.
fn rise_fall(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if let Some(w) = cx.arg(s, "a count", &SCRIPT) {
        if let Some(v) = cx.unsigned(w, kw, 1, 1_000_000) {
            if kw == "rise" {
                r.rise = v as u32;
            } else {
                r.fall = v as u32;
            }
        }
    }
}

fn user(cx: &mut Cx<'_>, r: &mut RawScript, s: &Stmt) {
    cx.no_block(s);
    match s.args() {
        [] => cx.err(
            Diagnostic::error(loc(s.keyword()), "user needs a user name").expected("user USER"),
        ),
        [u] => r.user = Some(u.text.clone()),
        [_, g, ..] => cx.err(
            Diagnostic::error(loc(g), "vrrp_script user with a group is not supported")
                .found(joined(s.args()))
                .hint("the script runs with the user's own group; drop the group name"),
        ),
    }
}

/// `vrrp_track_process NAME { process NAME [PARAM...]; param_match [initial|partial];
/// full_command; quorum N; quorum_max N; delay S; fork_delay S; terminate_delay S; weight W }`:
/// a check that is up while `quorum..=quorum_max` matching processes run, followed from the
/// kernel's process events (`track/process.rs` has keepalived's semantics). Its `script` is
/// only a description, `havip probe process NAME RANGE`, the one-shot probe of the same count.
pub(super) fn read_track_process(
    cx: &mut Cx<'_>,
    name: &Word,
    body: &[Stmt],
) -> Option<(ScriptSpec, Location)> {
    let mut r = RawProcess {
        process: None,
        params: Vec::new(),
        param_match: ParamMatch::None,
        full_command: false,
        quorum: None,
        quorum_max: None,
        weight: 0,
        fork_delay: Duration::ZERO,
        terminate_delay: Duration::ZERO,
    };
    cx.dispatch(&TRACK_PROCESS, &mut r, body);
    let Some(process) = r.process else {
        cx.err(
            Diagnostic::error(
                loc(name),
                format!("vrrp_track_process {} has no process", name.text),
            )
            .hint("add process NAME"),
        );
        return None;
    };
    // keepalived: `quorum_max 0` without a quorum means "healthy while none runs".
    let quorum = match (r.quorum, r.quorum_max) {
        (Some(q), _) => q,
        (None, Some(0)) => 0,
        (None, _) => 1,
    };
    if let Some(max) = r.quorum_max.filter(|m| *m < quorum) {
        cx.err(
            Diagnostic::error(
                loc(name),
                format!(
                    "vrrp_track_process {}: quorum_max {max} is below quorum {quorum}",
                    name.text
                ),
            )
            .hint("keepalived ignores such a quorum_max with a config error; raise it or lower quorum"),
        );
        return None;
    }
    let range = match r.quorum_max {
        Some(max) => format!("{quorum}-{max}"),
        None => quorum.to_string(),
    };
    // Parameters and param_match compare the command line.
    let full_command = r.full_command || !r.params.is_empty() || r.param_match != ParamMatch::None;
    let param_match = match r.param_match {
        ParamMatch::None if !r.params.is_empty() => ParamMatch::Exact,
        m => m,
    };
    Some((
        ScriptSpec {
            name: name.text.clone(),
            script: format!("havip probe process {process} {range}"),
            // The polling fallback's.
            interval: crate::track::POLL_EVERY,
            timeout: crate::track::POLL_EVERY,
            weight: r.weight,
            rise: 1,
            fall: 1,
            user: None,
            process: Some(ProcessTrack {
                name: process,
                params: r.params,
                param_match,
                full_command,
                quorum: quorum as u32,
                quorum_max: r.quorum_max.map_or(u32::MAX, |m| m as u32),
                fork_delay: r.fork_delay,
                terminate_delay: r.terminate_delay,
            }),
        },
        name.loc.clone(),
    ))
}

fn process(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    cx.no_block(s);
    match s.args() {
        [] => cx.err(
            Diagnostic::error(loc(s.keyword()), "process needs a process name")
                .expected("process NAME [PARAMETER...]"),
        ),
        [p, rest @ ..] => {
            r.process = Some(p.text.clone());
            r.params = rest.iter().map(|w| w.text.clone()).collect();
        }
    }
}

/// `param_match [initial|partial]`: bare, the process must have exactly the parameters given
/// (none if none are).
fn param_match(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    cx.no_block(s);
    match s.args().first().map(|w| w.text.as_str()) {
        None => r.param_match = ParamMatch::Exact,
        Some("initial") => r.param_match = ParamMatch::Initial,
        Some("partial") => r.param_match = ParamMatch::Partial,
        Some(other) => {
            cx.err(
                Diagnostic::error(
                    loc(&s.args()[0]),
                    format!("param_match {other} is not a match type"),
                )
                .found(other.to_string())
                .expected("param_match, param_match initial or param_match partial"),
            );
            return;
        }
    }
    cx.extra(s, 1, &TRACK_PROCESS);
}

fn full_command(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    cx.flag(s, &TRACK_PROCESS);
    r.full_command = true;
}

/// `delay` (both), `fork_delay` and `terminate_delay`: seconds, 0.000001 to 3600.
fn process_delay(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if let Some(w) = cx.arg(s, "seconds", &TRACK_PROCESS) {
        if let Some(us) = cx.seconds_us(w, kw, 0.000001, 3600.0) {
            let d = Duration::from_micros(us);
            if kw != "fork_delay" {
                r.terminate_delay = d;
            }
            if kw != "terminate_delay" {
                r.fork_delay = d;
            }
        }
    }
}

/// `quorum` and `quorum_max`.
fn quorum(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    let kw = s.keyword().text.as_str();
    if let Some(w) = cx.arg(s, "a count", &TRACK_PROCESS) {
        if let Some(v) = cx.unsigned(w, kw, if kw == "quorum" { 1 } else { 0 }, 65535) {
            if kw == "quorum" {
                r.quorum = Some(v);
            } else {
                r.quorum_max = Some(v);
            }
        }
    }
}

fn process_weight(cx: &mut Cx<'_>, r: &mut RawProcess, s: &Stmt) {
    if let Some(w) = weight(
        cx,
        s,
        &TRACK_PROCESS,
        "vrrp_track_process",
        "give the weight with the opposite sign if that is what you mean (for weight 0 reverse, FAULT while the quorum holds, there is no equivalent)",
    ) {
        r.weight = w;
    }
}
