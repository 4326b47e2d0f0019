//! The keyword tables: one per block of keepalived.conf, naming every keyword havip knows there
//! with what it does with it — reads it (through the handler that acts on it), ignores it with a
//! warning, or refuses it. The interpreter dispatches through these tables, the one-line block
//! check takes its keywords from them, and [`listings`] (which the docs test compares with
//! docs/config.md) is made from them, so the docs, `havip check-config` and what a file does
//! cannot disagree.

use super::args::{loc, Cx};
use crate::config::diag::Diagnostic;
use crate::config::syntax::Stmt;

/// Reads one statement of a block into what the block is building (`T`: the instance being
/// read, the script, the spec so far...).
pub(super) type Handler<T> = fn(&mut Cx<'_>, &mut T, &Stmt);

/// What havip does with a keyword.
pub(super) enum Handling<T: 'static> {
    /// Read and acted on by the handler.
    Handled(Handler<T>),
    /// Warned about and ignored: leaving it out does not change what the virtual router does on
    /// the wire or to the addresses. The text says why.
    Ignored(&'static str),
    /// An error: ignoring it would change behaviour. The text says why.
    Refused(&'static str),
}

use Handling::{Handled, Ignored, Refused};

/// A keyword of a block and what havip does with it.
pub(super) struct Keyword<T: 'static> {
    pub(super) name: &'static str,
    pub(super) handling: Handling<T>,
}

/// A keyword that `f` reads.
pub(super) const fn handled<T>(name: &'static str, f: Handler<T>) -> Keyword<T> {
    Keyword {
        name,
        handling: Handled(f),
    }
}

/// A keyword ignored with a warning, and why.
pub(super) const fn ignored<T>(name: &'static str, why: &'static str) -> Keyword<T> {
    Keyword {
        name,
        handling: Ignored(why),
    }
}

/// A keyword refused with an error, and why.
pub(super) const fn refused<T>(name: &'static str, why: &'static str) -> Keyword<T> {
    Keyword {
        name,
        handling: Refused(why),
    }
}

/// How a block words the diagnostics its table makes, where blocks differ.
#[derive(Clone, Copy)]
pub(super) enum Wording {
    /// "havip ignores KW: WHY"; an unknown keyword gets a hint to check its spelling.
    Common,
    /// An unknown keyword names the block's keywords as what was expected (`authentication`,
    /// which has two).
    ExpectHandled,
}

/// The keyword table of one block.
pub(super) struct Table<T: 'static> {
    /// The block as docs/config.md names it ("top level", "vrrp_instance").
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by `listings`, which the docs test compares")
    )]
    pub(super) block: &'static str,
    /// Where the block is, in "unknown keyword KW PLACE" ("at the top level", "in vrrp_instance").
    pub(super) place: &'static str,
    pub(super) keywords: &'static [Keyword<T>],
    /// Keyword families ignored with a warning: (prefix, why). Checked after `keywords`.
    pub(super) ignored_prefixes: &'static [(&'static str, &'static str)],
    pub(super) wording: Wording,
}

/// The keywords of an enclosing block: a word among them after a keyword's arguments is a
/// one-line block (see [`Cx::extra`]).
pub(super) trait Siblings {
    fn has(&self, word: &str) -> bool;
}

impl<T> Siblings for Table<T> {
    /// Only the keywords havip reads: those are the ones whose loss the user must hear of.
    fn has(&self, word: &str) -> bool {
        self.handled_names().any(|k| k == word)
    }
}

impl<T> Table<T> {
    fn handled_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keywords
            .iter()
            .filter(|k| matches!(k.handling, Handled(_)))
            .map(|k| k.name)
    }

    /// The block's keywords as docs/config.md lists them.
    #[cfg(test)]
    pub(super) fn listing(&self) -> Listing {
        Listing {
            block: self.block,
            keywords: self
                .keywords
                .iter()
                .map(|k| {
                    let kind = match k.handling {
                        Handled(_) => Kind::Handled,
                        Ignored(why) => Kind::Ignored(why),
                        Refused(why) => Kind::Refused(why),
                    };
                    (k.name, kind)
                })
                .collect(),
            ignored_prefixes: self.ignored_prefixes,
        }
    }
}

impl Cx<'_> {
    /// Reads `body` through `table`: each statement goes to its keyword's handler, or gets the
    /// table's warning or error, or an "unknown keyword" error.
    pub(super) fn dispatch<'s, T>(
        &mut self,
        table: &Table<T>,
        state: &mut T,
        body: impl IntoIterator<Item = &'s Stmt>,
    ) {
        for s in body {
            let kw = &s.keyword().text;
            match table.keywords.iter().find(|k| k.name == kw) {
                Some(Keyword {
                    handling: Handled(f),
                    ..
                }) => f(self, state, s),
                Some(Keyword {
                    handling: Ignored(why),
                    ..
                }) => self.ignored(table, s, why),
                Some(Keyword {
                    handling: Refused(why),
                    ..
                }) => self.err(
                    Diagnostic::error(
                        loc(s.keyword()),
                        format!("havip does not support {kw}: {why}"),
                    )
                    .found(kw.clone())
                    .hint(format!(
                        "remove {kw} to run this file with havip, or keep keepalived for it"
                    )),
                ),
                None => match table
                    .ignored_prefixes
                    .iter()
                    .find(|(p, _)| kw.starts_with(p))
                {
                    Some((_, why)) => self.ignored(table, s, why),
                    None => self.unknown(table, s),
                },
            }
        }
    }

    fn ignored<T>(&mut self, table: &Table<T>, s: &Stmt, why: &str) {
        let kw = &s.keyword().text;
        let d = match table.wording {
            Wording::Common | Wording::ExpectHandled => {
                Diagnostic::warning(loc(s.keyword()), format!("havip ignores {kw}: {why}"))
                    .found(kw.clone())
            }
        };
        self.err(d);
    }

    /// An error for a keyword that keepalived does not know in this block either.
    pub(super) fn unknown<T>(&mut self, table: &Table<T>, s: &Stmt) {
        let kw = &s.keyword().text;
        let d = Diagnostic::error(
            loc(s.keyword()),
            format!("unknown keyword {kw} {}", table.place),
        )
        .found(kw.clone());
        let d = match table.wording {
            Wording::ExpectHandled => {
                d.expected(table.handled_names().collect::<Vec<_>>().join(" or "))
            }
            Wording::Common => {
                d.hint("check the spelling and the block it is in (keepalived reports it too)")
            }
        };
        self.err(d);
    }
}

/// What havip does with a keyword, as docs/config.md lists it.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read and acted on.
    Handled,
    /// Ignored with a warning, and why.
    Ignored(&'static str),
    /// Refused with an error, and why.
    Refused(&'static str),
}

/// The keywords of one block, made from the table the interpreter dispatches through.
#[cfg(test)]
#[derive(Clone, Debug)]
pub struct Listing {
    /// The block as docs/config.md names it: "top level", "global_defs", "vrrp_instance", ...
    pub block: &'static str,
    /// In the table's order.
    pub keywords: Vec<(&'static str, Kind)>,
    /// Keyword families ignored with a warning: (prefix, why).
    pub ignored_prefixes: &'static [(&'static str, &'static str)],
}

/// Every block's keywords, in the order docs/config.md lists the blocks.
#[cfg(test)]
pub fn listings() -> Vec<Listing> {
    vec![
        super::TOP.listing(),
        super::global_defs::GLOBAL_DEFS.listing(),
        super::instance::INSTANCE.listing(),
        super::instance::AUTHENTICATION.listing(),
        super::scripts::SCRIPT.listing(),
        super::scripts::TRACK_PROCESS.listing(),
        super::track_file::TRACK_FILE.listing(),
        super::bfd::BFD_INSTANCE.listing(),
        super::bgp::HAVIP_BGP.listing(),
        super::bgp::NEIGHBOR.listing(),
        super::sync_group::SYNC_GROUP.listing(),
    ]
}
