//! The argument helpers every block's handlers share: the reading context [`Cx`], a keyword's
//! block, name, value, flag or boolean, numbers and addresses with their ranges, and the warning
//! for words after a keyword's arguments (where a one-line block is recognised).

use std::net::IpAddr;

use super::keywords::Siblings;
use crate::config::diag::{Diagnostic, Diags, Location};
use crate::config::syntax::{Stmt, Word};
use crate::model::NotifySpec;
use crate::vrrp::Version;

/// What the reading of one file carries from block to block.
pub(super) struct Cx<'d> {
    pub(super) diags: &'d mut Diags,
    /// The `vrrp_script`s read so far: keepalived resolves a `track_script` when it reads it.
    /// A set: a file may define thousands, each looked up by every `track_script`.
    pub(super) scripts_so_far: std::collections::HashSet<String>,
    /// `track_script`s of a script not defined yet at that point, with where they are.
    pub(super) early_tracks: Vec<(String, Location)>,
    /// The `track_file` blocks read so far: keepalived resolves an instance's `track_file`
    /// when it reads it too.
    pub(super) files_so_far: std::collections::HashSet<String>,
    /// The `bfd_instance` blocks read so far, each with whether it reports to VRRP (keepalived's
    /// `checker` without `vrrp` does not): keepalived resolves `track_bfd` when it reads it.
    pub(super) bfds_so_far: std::collections::HashMap<String, bool>,
}

pub(super) fn loc(w: &Word) -> Option<Location> {
    Some(w.loc.clone())
}

pub(super) fn joined(words: &[Word]) -> String {
    words
        .iter()
        .map(|w| {
            if w.quoted {
                format!("\"{}\"", w.text)
            } else {
                w.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Cx<'_> {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The block of `s`, or an error saying it needs one.
    pub(super) fn block<'s>(&mut self, s: &'s Stmt) -> Option<&'s [Stmt]> {
        match &s.block {
            Some(b) => Some(&b.body),
            None => {
                let kw = &s.keyword().text;
                self.err(
                    Diagnostic::error(loc(s.keyword()), format!("{kw} needs a block"))
                        .expected(format!("{kw} ... {{ ... }}"))
                        .hint("open the block with '{' after the keyword (on the same line or the next)"),
                );
                None
            }
        }
    }

    /// An error for a block after a keyword that takes none.
    pub(super) fn no_block(&mut self, s: &Stmt) {
        if let Some(b) = &s.block {
            self.err(
                Diagnostic::error(Some(b.open.clone()), format!("{} takes no block", s.keyword().text))
                    .hint("keepalived ignores this '{' and its '}' then closes the enclosing block; remove the braces"),
            );
        }
    }

    /// The name of a `vrrp_instance`/`vrrp_script`/`vrrp_sync_group`.
    pub(super) fn name<'s>(&mut self, s: &'s Stmt) -> Option<&'s Word> {
        match s.args() {
            [name] => Some(name),
            [] => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a name", s.keyword().text),
                    )
                    .expected(format!("{} NAME {{ ... }}", s.keyword().text)),
                );
                None
            }
            [_, extra, ..] => {
                self.err(
                    Diagnostic::error(loc(extra), format!("{} takes one name", s.keyword().text))
                        .found(joined(s.args()))
                        .hint(
                            "keepalived skips the whole block when the name is not a single word",
                        ),
                );
                None
            }
        }
    }

    /// Warns about words after the `used` arguments of `s`; `siblings` are the keywords of the
    /// enclosing block, to recognise a one-line block.
    /// The lines of block `s`, each read by `parse` from its words (`virtual_routes`,
    /// `static_routes`, `static_ipaddress`); a line it refuses is an error at the word it names.
    pub(super) fn word_lines<T>(
        &mut self,
        s: &Stmt,
        siblings: &dyn Siblings,
        parse: impl Fn(&[&str]) -> Result<T, (usize, String)>,
    ) -> Vec<T> {
        let Some(body) = self.block(s) else {
            return Vec::new();
        };
        self.extra(s, 0, siblings);
        let mut out = Vec::new();
        for line in body {
            self.no_block(line);
            let words: Vec<&str> = line.words.iter().map(|w| w.text.as_str()).collect();
            match parse(&words) {
                Ok(t) => out.push(t),
                Err((at, why)) => {
                    let w = &line.words[at.min(line.words.len() - 1)];
                    self.err(
                        Diagnostic::error(loc(w), format!("{}: {why}", s.keyword().text))
                            .found(w.text.clone()),
                    );
                }
            }
        }
        out
    }

    pub(super) fn extra(&mut self, s: &Stmt, used: usize, siblings: &dyn Siblings) {
        let Some(rest) = s.args().get(used..).filter(|r| !r.is_empty()) else {
            return;
        };
        let kw = &s.keyword().text;
        if let Some(i) = rest.iter().position(|w| !w.quoted && siblings.has(&w.text)) {
            let sib = &rest[i];
            self.err(
                Diagnostic::warning(
                    loc(sib),
                    format!(
                        "keepalived reads one keyword per line: `{}` is taken as more words of `{kw}` and ignored",
                        joined(&rest[i..])
                    ),
                )
                .found(joined(rest))
                .hint(format!(
                    "keepalived 2.2.7 ignores it too, so havip does the same; to have it apply, put `{}` on a line of its own",
                    sib.text
                )),
            );
        } else {
            self.err(
                Diagnostic::warning(loc(&rest[0]), format!("extra words after {kw} are ignored"))
                    .found(joined(rest))
                    .hint("keepalived ignores them too; remove them"),
            );
        }
    }

    /// The single argument of `s`.
    pub(super) fn arg<'s>(
        &mut self,
        s: &'s Stmt,
        expected: &str,
        siblings: &dyn Siblings,
    ) -> Option<&'s Word> {
        self.no_block(s);
        match s.args().first() {
            Some(w) => {
                self.extra(s, 1, siblings);
                Some(w)
            }
            None => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a value", s.keyword().text),
                    )
                    .expected(expected.to_string()),
                );
                None
            }
        }
    }

    /// A keyword without arguments.
    pub(super) fn flag(&mut self, s: &Stmt, siblings: &dyn Siblings) {
        self.no_block(s);
        self.extra(s, 0, siblings);
    }

    /// An optional `<BOOL>` argument (on|off|true|false|yes|no), `true` when absent.
    pub(super) fn bool_arg(&mut self, s: &Stmt, siblings: &dyn Siblings) -> Option<bool> {
        self.no_block(s);
        let Some(w) = s.args().first() else {
            return Some(true);
        };
        self.extra(s, 1, siblings);
        match w.text.as_str() {
            "on" | "true" | "yes" => Some(true),
            "off" | "false" | "no" => Some(false),
            _ => {
                self.err(
                    Diagnostic::error(
                        loc(w),
                        format!("{} {} is not a boolean", s.keyword().text, w.text),
                    )
                    .found(w.text.clone())
                    .expected("on, off, true, false, yes or no"),
                );
                None
            }
        }
    }

    pub(super) fn unsigned(&mut self, w: &Word, what: &str, min: u64, max: u64) -> Option<u64> {
        let t = w.text.trim_start();
        let bad = |cx: &mut Self, msg: String| {
            cx.err(
                Diagnostic::error(loc(w), msg)
                    .found(w.text.clone())
                    .expected(format!("{min}-{max}")),
            );
            None
        };
        if t.starts_with('-') {
            return bad(self, format!("{what} {} is negative", w.text));
        }
        match t.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            Ok(_) => bad(self, format!("{what} {} is out of range", w.text)),
            Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                bad(self, format!("{what} {} is out of range", w.text))
            }
            Err(_) => bad(self, format!("{what} {} is not a whole number", w.text)),
        }
    }

    pub(super) fn signed(&mut self, w: &Word, what: &str, min: i64, max: i64) -> Option<i64> {
        match w.text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            r => {
                let msg = if r.is_ok() {
                    format!("{what} {} is out of range", w.text)
                } else {
                    format!("{what} {} is not a whole number", w.text)
                };
                self.err(
                    Diagnostic::error(loc(w), msg)
                        .found(w.text.clone())
                        .expected(format!("{min} to {max}")),
                );
                None
            }
        }
    }

    /// A decimal number of seconds as keepalived reads it (`read_double`), in microseconds
    /// (truncated, as keepalived's `(unsigned long)(value * TIMER_HZ)`).
    pub(super) fn seconds_us(&mut self, w: &Word, what: &str, min: f64, max: f64) -> Option<u64> {
        let v: Option<f64> = w.text.parse().ok().filter(|v: &f64| v.is_finite());
        match v {
            Some(v) if v >= min && v <= max => Some((v * 1e6) as u64),
            Some(_) => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is out of range", w.text))
                        .found(w.text.clone())
                        .expected(format!("{min} to {max} seconds")),
                );
                None
            }
            None => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is not a number", w.text))
                        .found(w.text.clone())
                        .expected(format!("seconds from {min} to {max}, e.g. 1 or 0.5")),
                );
                None
            }
        }
    }

    pub(super) fn addr(&mut self, w: &Word, what: &str) -> Option<IpAddr> {
        match w.text.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    Diagnostic::error(loc(w), format!("{what} {} is not an IP address", w.text))
                        .found(w.text.clone())
                        .expected("an IPv4 or IPv6 address"),
                );
                None
            }
        }
    }

    /// `vrrp_mcast_group4`/`6` and `mcast_dst_ip`: a multicast address (of the family `v6`
    /// says, when it says one), with where it was written.
    pub(super) fn mcast_group(
        &mut self,
        s: &Stmt,
        v6: Option<bool>,
        siblings: &dyn Siblings,
    ) -> Option<(IpAddr, Location)> {
        let w = self.arg(s, "a multicast address", siblings)?;
        let kw = &s.keyword().text;
        match w.text.parse::<IpAddr>() {
            Ok(a) if a.is_multicast() && v6.is_none_or(|v6| a.is_ipv6() == v6) => {
                Some((a, w.loc.clone()))
            }
            _ => {
                let family = match v6 {
                    Some(true) => "an IPv6 ",
                    Some(false) => "an IPv4 ",
                    None => "a ",
                };
                self.err(
                    Diagnostic::error(
                        loc(w),
                        format!("{kw} {}: not {family}multicast address", w.text),
                    )
                    .found(w.text.clone())
                    .expected(format!(
                        "{family}multicast address (the RFC's: 224.0.0.18, ff02::12)"
                    )),
                );
                None
            }
        }
    }

    /// `[vrrp_]down_timer_adverts N`: keepalived takes 1..=100; havip 3..=100 (see
    /// `RouterConfig::down_timer_adverts`).
    pub(super) fn down_timer_adverts(&mut self, s: &Stmt, siblings: &dyn Siblings) -> Option<u8> {
        let w = self.arg(s, "a count", siblings)?;
        let n = self.unsigned(w, &s.keyword().text, 1, 100)?;
        if n < 3 {
            self.refuse_value(
                s,
                "fewer than the RFC's 3 adverts would let a backup take over while a stalled master's XDP program still answers ARP for the VIP",
            );
            return None;
        }
        Some(n as u8)
    }

    pub(super) fn refuse_value(&mut self, s: &Stmt, why: &str) {
        self.err(
            Diagnostic::error(
                loc(s.keyword()),
                format!("havip does not support {}: {why}", joined(&s.words)),
            )
            .found(joined(&s.words))
            .hint(format!("remove {}", s.keyword().text)),
        );
    }

    pub(super) fn version(&mut self, w: &Word) -> Option<Version> {
        match w.text.as_str() {
            "2" => Some(Version::V2),
            "3" => Some(Version::V3),
            _ => {
                self.err(
                    Diagnostic::error(loc(w), format!("VRRP version {} is not supported", w.text))
                        .found(w.text.clone())
                        .expected("2 or 3"),
                );
                None
            }
        }
    }

    /// `notify_* COMMAND [USER [GROUP]]`: the command line.
    pub(super) fn notify(&mut self, s: &Stmt) -> Option<String> {
        self.no_block(s);
        match s.args() {
            [] => {
                self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("{} needs a command", s.keyword().text),
                    )
                    .expected(format!("{} \"/path/to/script args\"", s.keyword().text)),
                );
                None
            }
            [cmd] => Some(cmd.text.clone()),
            [cmd, user, ..] => {
                self.err(
                    Diagnostic::error(
                        loc(user),
                        format!("{}: running the hook as user {} is not supported", s.keyword().text, user.text),
                    )
                    .found(joined(s.args()))
                    .hint(format!(
                        "keepalived reads the words after the command as USER [GROUP]; to pass arguments, quote the whole command line: {} \"{}\"",
                        s.keyword().text,
                        s.args().iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
                    )),
                );
                let _ = cmd;
                None
            }
        }
    }
}

/// Where a `notify_*` keyword's command goes.
pub(super) fn notify_slot<'n>(n: &'n mut NotifySpec, kw: &str) -> &'n mut Option<String> {
    match kw {
        "notify_master" => &mut n.master,
        "notify_backup" => &mut n.backup,
        "notify_fault" => &mut n.fault,
        "notify_stop" => &mut n.stop,
        "notify_master_rx_lower_pri" => &mut n.master_rx_lower_pri,
        _ => &mut n.any,
    }
}
