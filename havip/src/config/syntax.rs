//! keepalived.conf syntax, read the way keepalived 2.2.7 reads it (`lib/parser.c`), so that a
//! file means the same thing to both daemons, quirks included.
//!
//! keepalived does not parse a grammar. It reads "lines" (`read_line()`):
//! - a physical line loses its comment: from the first `#` or `!` outside double quotes, even in
//!   the middle of a word (`auth_pass ab!cd` is the password `ab`); `\#` and `\!` stand for the
//!   characters themselves (`decomment()`);
//! - the line is then cut at every `{` and `}` outside double quotes: each brace becomes a line
//!   of its own, and so does the text between two braces. `authentication { auth_type PASS
//!   auth_pass 1111 }` is four lines: `authentication`, `{`, `auth_type PASS auth_pass 1111`, `}`;
//! - a line is split into words at whitespace; a word that starts with `"` runs to the next `"`
//!   (no escapes; `'` is an ordinary character), and `"` also ends an unquoted word
//!   (`alloc_strvec_r()`);
//! - `include PATTERN` (exactly two words, checked before the cut at braces) reads the files the
//!   glob matches, relative to the directory of the file being read, in sorted order; a pattern
//!   that matches nothing is only logged. keepalived checks every line it produces, at any block
//!   depth: a physical line and the rest of one after a brace cut (`} include x` includes,
//!   `a { include x }` does not: its rest is three words). Where keepalived has no limits havip
//!   has three, each an error with file:line that stops the reading (so an error costs the
//!   text up to it, not every path through the includes): an include loop (a file already
//!   being read, the main file included), 16 levels, 1000 files in all. Before, 8 files that
//!   each included `*.inc` were read in every order (8! paths: 12 s, 283 MB);
//! - `@ID rest` keeps `rest` only when ID is the config id (keepalived's `-i`, by default the
//!   host name up to the first dot); `@^ID rest` only when it is not.
//!
//! The first word of a line is its keyword and the others are its arguments, whatever they are:
//! that is why keepalived reads a one-line block wrongly (see `keepalived/mod.rs`). The lines are
//! then grouped into a tree: a line followed by a `{` line owns the lines up to the matching `}`.

use std::path::{Component, Path, PathBuf};

use super::diag::{Diagnostic, Diags, Location};

/// One word of a line, with where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub loc: Location,
    /// Written between double quotes.
    pub quoted: bool,
}

/// A keyword line and the block that follows it, if any.
#[derive(Clone, Debug)]
pub struct Stmt {
    /// At least one word; the first is the keyword.
    pub words: Vec<Word>,
    pub block: Option<Block>,
}

impl Stmt {
    pub fn keyword(&self) -> &Word {
        &self.words[0]
    }

    pub fn args(&self) -> &[Word] {
        &self.words[1..]
    }
}

#[derive(Clone, Debug)]
pub struct Block {
    /// Where the `{` is.
    pub open: Location,
    pub body: Vec<Stmt>,
}

/// What the reader needs from outside: the config id for `@ID` lines, and where includes may
/// reach.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// keepalived's config id (`-i`); `None`: the host name up to the first dot.
    pub config_id: Option<String>,
    /// `Some(dir)`: includes resolve under `dir` only (an absolute pattern or a `..` is an
    /// error), whatever the directory of the file read. The fuzzers read arbitrary text this
    /// way, so that `include /**` cannot walk or read the machine's files. `None` (the
    /// daemon): keepalived's rules.
    pub include_root: Option<PathBuf>,
}

/// A keepalived "line": a brace, or the words between braces.
#[derive(Debug)]
enum Item {
    Open(Location),
    Close(Location),
    Line(Vec<Word>),
}

/// How deep includes may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// How many files one read may include in all: a fan-out of globs (each file including a
/// glob of several others) grows exponentially without a loop.
const MAX_INCLUDED_FILES: usize = 1000;
/// Blocks nest at most this deep. keepalived's own grammar goes four levels down
/// (`vrrp_instance { track_script { ... } }` inside a file); the limit keeps a hostile or broken
/// file from exhausting the stack, which a SIGHUP reload would otherwise turn into a crash
/// without teardown.
const MAX_BLOCK_DEPTH: usize = 32;

/// Reads a keepalived config from `text` (the file `name`, whose includes are relative to
/// `dir`) into statements; problems go to `diags`.
pub fn parse_str(
    name: &str,
    text: &str,
    dir: &Path,
    opts: &ReadOptions,
    diags: &mut Diags,
) -> Vec<Stmt> {
    let config_id = opts.config_id.clone().unwrap_or_else(default_config_id);
    let mut reader = Reader {
        items: Vec::new(),
        diags,
        config_id,
        // The file itself, so that including it again is a loop from the first round.
        stack: vec![canonical(
            &dir.join(Path::new(name).file_name().unwrap_or_default()),
        )],
        included: 0,
        stopped: false,
        confined: opts.include_root.as_deref().map(canonical),
    };
    reader.read_text(name, text, opts.include_root.as_deref().unwrap_or(dir));
    let items = std::mem::take(&mut reader.items);
    let mut it = items.into_iter().peekable();
    build(&mut it, None, 0, diags)
}

/// Reads the keepalived config file at `path`. `Err` when the file itself cannot be read.
pub fn parse_file(
    path: &Path,
    opts: &ReadOptions,
    diags: &mut Diags,
) -> Result<Vec<Stmt>, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok(parse_str(
        &path.display().to_string(),
        &text,
        &dir,
        opts,
        diags,
    ))
}

/// The path that identifies a file on the include stack.
fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// keepalived's default config id: the node name up to the first dot.
fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    name.trim().split('.').next().unwrap_or("").to_string()
}

struct Reader<'d> {
    items: Vec<Item>,
    diags: &'d mut Diags,
    config_id: String,
    /// The files being read, outermost first (include loops).
    stack: Vec<PathBuf>,
    /// Files included so far, against [`MAX_INCLUDED_FILES`].
    included: usize,
    /// An include error that makes the rest meaningless (a loop, a limit): stop reading, so
    /// the error costs what the text up to it costs, not every path through the includes.
    stopped: bool,
    /// [`ReadOptions::include_root`], canonical: includes must stay beneath it.
    confined: Option<PathBuf>,
}

/// A character of a decommented line and its 1-based column in the physical line.
type Ch = (char, u32);

impl Reader<'_> {
    fn read_text(&mut self, name: &str, text: &str, dir: &Path) {
        for (idx, raw) in text.split('\n').enumerate() {
            if self.stopped {
                return;
            }
            let line_no = idx as u32 + 1;
            let raw = raw.trim_end_matches(['\r', '\n']);
            let loc = |col: u32| Location {
                file: name.to_string(),
                line: line_no,
                col,
            };
            let chars = match decomment(raw) {
                Ok(c) => c,
                Err(col) => {
                    self.diags.push(
                        Diagnostic::error(Some(loc(col)), "unterminated quote")
                            .expected("a closing \" on the same line")
                            .hint("keepalived reports this line as an error too; close the quote"),
                    );
                    continue;
                }
            };
            let mut seg: &[Ch] = &chars;
            loop {
                seg = skip_ws(seg);
                if seg.is_empty() {
                    break;
                }
                // Lines for another config id.
                if seg[0].0 == '@' {
                    match self.conditional(seg, &loc) {
                        Some(rest) => {
                            seg = rest;
                            continue;
                        }
                        None => break,
                    }
                }
                if seg[0].0 == '$' || starts_with(seg, "~SEQ") {
                    self.diags.push(
                        Diagnostic::error(
                            Some(loc(seg[0].1)),
                            "keepalived parameter definitions and ~SEQ are not supported",
                        )
                        .found(seg.iter().map(|c| c.0).collect::<String>())
                        .hint("write the values out in place of the parameters"),
                    );
                    break;
                }
                if let Some((pattern, at)) = include_of(seg) {
                    self.include(&pattern, dir, loc(at));
                    break;
                }
                if self.stopped {
                    return;
                }
                match find_brace(seg) {
                    Some(0) => {
                        let l = loc(seg[0].1);
                        self.items.push(if seg[0].0 == '{' {
                            Item::Open(l)
                        } else {
                            Item::Close(l)
                        });
                        seg = &seg[1..];
                    }
                    Some(p) => {
                        self.push_line(&seg[..p], &loc);
                        seg = &seg[p..];
                    }
                    None => {
                        self.push_line(seg, &loc);
                        break;
                    }
                }
            }
        }
    }

    /// `@ID rest` / `@^ID rest`: the rest of the line when it applies here.
    fn conditional<'s>(
        &mut self,
        seg: &'s [Ch],
        loc: &dyn Fn(u32) -> Location,
    ) -> Option<&'s [Ch]> {
        let negate = seg.get(1).map(|c| c.0) == Some('^');
        let start = if negate { 2 } else { 1 };
        let end = seg
            .iter()
            .position(|c| c.0 == ' ' || c.0 == '\t')
            .unwrap_or(seg.len());
        if end == seg.len() {
            // keepalived drops a conditional with nothing after the id.
            self.diags.push(
                Diagnostic::warning(
                    Some(loc(seg[0].1)),
                    "conditional line has no text after its config id: ignored",
                )
                .found(seg.iter().map(|c| c.0).collect::<String>()),
            );
            return None;
        }
        let id: String = seg[start.min(end)..end].iter().map(|c| c.0).collect();
        if (id == self.config_id) != negate {
            Some(&seg[end..])
        } else {
            None
        }
    }

    fn push_line(&mut self, seg: &[Ch], loc: &dyn Fn(u32) -> Location) {
        match tokenize(seg) {
            Ok(words) if words.is_empty() => {}
            Ok(words) => self.items.push(Item::Line(
                words
                    .into_iter()
                    .map(|(text, col, quoted)| Word {
                        text,
                        loc: loc(col),
                        quoted,
                    })
                    .collect(),
            )),
            Err((words, col)) => {
                self.diags.push(
                    Diagnostic::error(Some(loc(col)), "unmatched quote")
                        .expected("a closing \" before the end of the line")
                        .hint("keepalived cuts the line here and reports it; close the quote"),
                );
                if !words.is_empty() {
                    self.items.push(Item::Line(
                        words
                            .into_iter()
                            .map(|(text, col, quoted)| Word {
                                text,
                                loc: loc(col),
                                quoted,
                            })
                            .collect(),
                    ));
                }
            }
        }
    }

    fn include(&mut self, pattern: &str, dir: &Path, at: Location) {
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(
                Diagnostic::error(Some(at), format!("include {pattern} nests too deep"))
                    .expected(format!("at most {MAX_INCLUDE_DEPTH} levels of include"))
                    .hint("an included file probably includes itself; keepalived would loop"),
            );
            self.stopped = true;
            return;
        }
        if self.confined.is_some()
            && Path::new(pattern)
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            self.diags.push(
                Diagnostic::error(
                    Some(at),
                    format!("include {pattern} leaves the directory includes are confined to"),
                )
                .hint("name a file beneath the config's directory, without '..'"),
            );
            return;
        }
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let paths = match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => paths,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        Some(at),
                        format!("include pattern {pattern:?} is invalid: {e}"),
                    )
                    .hint("use a shell glob such as conf.d/*.conf"),
                );
                return;
            }
        };
        let mut matched = 0;
        for entry in paths {
            let path = match entry {
                Ok(p) => p,
                Err(e) => {
                    self.diags.push(Diagnostic::warning(
                        Some(at.clone()),
                        format!("include {pattern}: {e}: skipped, as keepalived does"),
                    ));
                    continue;
                }
            };
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(_) => continue,
            };
            if meta.is_dir() {
                continue;
            }
            use std::os::unix::fs::PermissionsExt as _;
            if !meta.is_file() || meta.permissions().mode() & 0o111 != 0 {
                self.diags.push(
                    Diagnostic::warning(
                        Some(at.clone()),
                        format!(
                            "include {pattern}: {} is not a regular non-executable file: skipped, as keepalived does",
                            path.display()
                        ),
                    )
                    .hint("clear its execute bits (chmod a-x) if it should be read"),
                );
                continue;
            }
            let canonical = canonical(&path);
            // A glob reaches outside without a literal '..': `.*` matches `..` (as glob(3)
            // does), so the match itself must be beneath the root (found by the fuzzing: the
            // fuzzer read /tmp through `include .*/*`).
            if let Some(root) = &self.confined {
                if !canonical.starts_with(root) {
                    self.diags.push(
                        Diagnostic::error(
                            Some(at),
                            format!(
                                "include {pattern} leaves the directory includes are confined to ({})",
                                path.display()
                            ),
                        )
                        .hint("name a file beneath the config's directory, without '..'"),
                    );
                    return;
                }
            }
            if let Some(first) = self.stack.iter().position(|p| *p == canonical) {
                let chain: Vec<String> = self.stack[first..]
                    .iter()
                    .chain([&canonical])
                    .map(|p| p.display().to_string())
                    .collect();
                self.diags.push(
                    Diagnostic::error(
                        Some(at.clone()),
                        format!(
                            "include loop: {} includes itself ({})",
                            canonical.display(),
                            chain.join(" -> ")
                        ),
                    )
                    .hint("keepalived would read it again and again; remove the include that closes the loop"),
                );
                self.stopped = true;
                return;
            }
            if self.included >= MAX_INCLUDED_FILES {
                self.diags.push(
                    Diagnostic::error(
                        Some(at.clone()),
                        format!("include reads more than {MAX_INCLUDED_FILES} files"),
                    )
                    .hint("included files probably include globs of each other; include each file once, from one place"),
                );
                self.stopped = true;
                return;
            }
            self.included += 1;
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(
                            Some(at.clone()),
                            format!("cannot read included file {}: {e}", path.display()),
                        )
                        .hint("keepalived skips a file it cannot open; havip refuses to run without it"),
                    );
                    continue;
                }
            };
            matched += 1;
            let sub_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
            self.stack.push(canonical);
            self.read_text(&path.display().to_string(), &text, &sub_dir);
            self.stack.pop();
            if self.stopped {
                return;
            }
        }
        if matched == 0 {
            self.diags.push(
                Diagnostic::warning(Some(at), format!("include {pattern} matched no file"))
                    .found(full.display().to_string())
                    .hint("keepalived only logs this and carries on; so does havip"),
            );
        }
    }
}

/// keepalived's `decomment()`: the characters of the line without its comment, with their
/// columns. `Err(column)` for an unterminated double quote.
fn decomment(raw: &str) -> Result<Vec<Ch>, u32> {
    let chars: Vec<Ch> = raw.chars().zip(1u32..).collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut quote: Option<u32> = None;
    let mut i = 0;
    while i < chars.len() {
        let (c, col) = chars[i];
        match c {
            '"' => {
                quote = if quote.is_some() { None } else { Some(col) };
                out.push((c, col));
            }
            '\\' if i + 1 < chars.len() => {
                let next = chars[i + 1];
                if quote.is_none() && (next.0 == '#' || next.0 == '!') {
                    out.push(next);
                } else {
                    out.push((c, col));
                    out.push(next);
                }
                i += 2;
                continue;
            }
            '#' | '!' if quote.is_none() => break,
            _ => out.push((c, col)),
        }
        i += 1;
    }
    if let Some(col) = quote {
        return Err(col);
    }
    while out.last().is_some_and(|c| c.0 == ' ' || c.0 == '\t') {
        out.pop();
    }
    Ok(out)
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c' | '\x0b' | '\r' | '\n')
}

fn skip_ws(seg: &[Ch]) -> &[Ch] {
    let n = seg.iter().take_while(|c| is_ws(c.0)).count();
    &seg[n..]
}

fn starts_with(seg: &[Ch], s: &str) -> bool {
    seg.len() >= s.len() && seg.iter().zip(s.chars()).all(|(a, b)| a.0 == b)
}

/// The first `{` or `}` outside double quotes (`read_line()`).
fn find_brace(seg: &[Ch]) -> Option<usize> {
    let mut i = 0;
    while i < seg.len() {
        match seg[i].0 {
            '{' | '}' => return Some(i),
            '"' => match seg[i + 1..].iter().position(|c| c.0 == '"') {
                Some(p) => i += p + 2,
                None => return None,
            },
            _ => i += 1,
        }
    }
    None
}

/// `alloc_strvec_r()`: words with their columns and whether they were quoted.
/// `Err` with the words before an unmatched quote and the quote's column.
#[expect(
    clippy::type_complexity,
    reason = "private helper; a struct would only rename it"
)]
fn tokenize(seg: &[Ch]) -> Result<Vec<(String, u32, bool)>, (Vec<(String, u32, bool)>, u32)> {
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < seg.len() && is_ws(seg[i].0) {
            i += 1;
        }
        if i >= seg.len() {
            return Ok(words);
        }
        let col = seg[i].1;
        if seg[i].0 == '"' {
            match seg[i + 1..].iter().position(|c| c.0 == '"') {
                Some(p) => {
                    words.push((
                        seg[i + 1..i + 1 + p].iter().map(|c| c.0).collect(),
                        col,
                        true,
                    ));
                    i += p + 2;
                }
                None => return Err((words, col)),
            }
        } else {
            let start = i;
            while i < seg.len() && !is_ws(seg[i].0) && seg[i].0 != '"' {
                i += 1;
            }
            words.push((seg[start..i].iter().map(|c| c.0).collect(), col, false));
        }
    }
}

/// `check_include()`: a segment that is exactly `include PATTERN`.
fn include_of(seg: &[Ch]) -> Option<(String, u32)> {
    // Only a segment that starts with the bare word is tokenized: tokenizing every segment of a
    // line cut by braces read the rest of the line again at each brace (quadratic: one line of
    // 20k `{}` took 37 s).
    if !(starts_with(seg, "include") && seg.get(7).is_some_and(|c| is_ws(c.0))) {
        return None;
    }
    let words = tokenize(seg).ok()?;
    match words.as_slice() {
        [(kw, _, false), (pattern, col, _)] if kw == "include" => Some((pattern.clone(), *col)),
        _ => None,
    }
}

/// Groups lines into statements and blocks; `open` is the `{` of the block being read.
fn build(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Item>>,
    open: Option<&Location>,
    depth: usize,
    diags: &mut Diags,
) -> Vec<Stmt> {
    let mut body = Vec::new();
    while let Some(item) = it.next() {
        match item {
            Item::Line(words) => {
                let block = if let Some(Item::Open(_)) = it.peek() {
                    let Some(Item::Open(at)) = it.next() else {
                        unreachable!("peeked")
                    };
                    if depth + 1 >= MAX_BLOCK_DEPTH {
                        skip_block(it);
                        diags.push(
                            Diagnostic::error(Some(at.clone()), "blocks nest too deep")
                                .expected(format!("at most {MAX_BLOCK_DEPTH} levels of blocks"))
                                .hint("keepalived's blocks nest a few levels: a brace is probably \
                                       missing or doubled"),
                        );
                        // What it holds is not read; the file is invalid anyway.
                        Some(Block {
                            open: at,
                            body: Vec::new(),
                        })
                    } else {
                        let inner = build(it, Some(&at), depth + 1, diags);
                        Some(Block {
                            open: at,
                            body: inner,
                        })
                    }
                } else {
                    None
                };
                body.push(Stmt { words, block });
            }
            Item::Open(at) => diags.push(
                Diagnostic::error(Some(at), "unexpected '{'")
                    .expected("a keyword before the block")
                    .hint("keepalived ignores this brace, and its '}' then closes the enclosing block"),
            ),
            Item::Close(at) => {
                if open.is_some() {
                    return body;
                }
                diags.push(
                    Diagnostic::error(Some(at), "extra '}'")
                        .hint("remove it, or the '{' it was meant to close is missing"),
                );
            }
        }
    }
    if let Some(at) = open {
        diags.push(
            Diagnostic::error(Some(at.clone()), "this '{' is never closed")
                .expected("a matching '}' before the end of the file")
                .hint("a '#' or '!' on a line comments out the rest of it, braces included"),
        );
    }
    body
}

/// Consumes a block's contents up to its closing brace, without recursing.
fn skip_block(it: &mut std::iter::Peekable<std::vec::IntoIter<Item>>) {
    let mut open = 1usize;
    for item in it.by_ref() {
        match item {
            Item::Open(_) => open += 1,
            Item::Close(_) => {
                open -= 1;
                if open == 0 {
                    return;
                }
            }
            Item::Line(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<Vec<String>> {
        let mut diags = Diags::default();
        let mut r = Reader {
            items: Vec::new(),
            diags: &mut diags,
            config_id: "main".into(),
            stack: Vec::new(),
            included: 0,
            stopped: false,
            confined: None,
        };
        r.read_text("t.conf", text, Path::new("."));
        r.items
            .into_iter()
            .map(|i| match i {
                Item::Open(_) => vec!["{".to_string()],
                Item::Close(_) => vec!["}".to_string()],
                Item::Line(w) => w.into_iter().map(|w| w.text).collect(),
            })
            .collect()
    }

    #[test]
    fn braces_cut_lines_like_keepalived() {
        assert_eq!(
            lines("authentication { auth_type PASS  auth_pass 1111 }"),
            vec![
                vec!["authentication"],
                vec!["{"],
                vec!["auth_type", "PASS", "auth_pass", "1111"],
                vec!["}"]
            ]
        );
        assert_eq!(
            lines("a{b}c"),
            vec![vec!["a"], vec!["{"], vec!["b"], vec!["}"], vec!["c"]]
        );
        assert_eq!(
            lines(r#"router_id "a{b}c" x"#),
            vec![vec!["router_id", "a{b}c", "x"]]
        );
    }

    #[test]
    fn comments_and_quotes_like_keepalived() {
        assert_eq!(lines("auth_pass ab!cd"), vec![vec!["auth_pass", "ab"]]);
        assert_eq!(lines(r"router_id a\#b"), vec![vec!["router_id", "a#b"]]);
        assert_eq!(
            lines(r#"auth_pass "ab!cd""#),
            vec![vec!["auth_pass", "ab!cd"]]
        );
        assert_eq!(
            lines(r#"router_id "a b"c x"a b""#),
            vec![vec!["router_id", "a b", "c", "x", "a b"]]
        );
        assert_eq!(
            lines("router_id 'a b'"),
            vec![vec!["router_id", "'a", "b'"]]
        );
        assert_eq!(
            lines("  # only a comment\n\n  ! another"),
            Vec::<Vec<String>>::new()
        );
    }

    #[test]
    fn conditional_lines_follow_the_config_id() {
        assert_eq!(
            lines("@main router_id a\n@backup router_id b\n@^backup priority 1\n@^main priority 2"),
            vec![vec!["router_id", "a"], vec!["priority", "1"]]
        );
    }

    #[test]
    fn columns_point_at_words() {
        let mut diags = Diags::default();
        let stmts = parse_str(
            "k.conf",
            "vrrp_instance VI_1 {\n\tpriority   101\n}\n",
            Path::new("."),
            &ReadOptions {
                config_id: Some("x".into()),
                ..ReadOptions::default()
            },
            &mut diags,
        );
        assert!(diags.list.is_empty(), "{:?}", diags.list);
        let inst = &stmts[0];
        assert_eq!((inst.keyword().loc.line, inst.keyword().loc.col), (1, 1));
        let body = &inst.block.as_ref().unwrap().body;
        assert_eq!(body[0].args()[0].text, "101");
        assert_eq!(
            (body[0].args()[0].loc.line, body[0].args()[0].loc.col),
            (2, 13)
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // 20k levels overflowed the parser's stack (SIGABRT; a reload crashed the daemon).
        let depth = 20_000;
        let text = format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth));
        let mut diags = Diags::default();
        let stmts = parse_str(
            "k.conf",
            &text,
            Path::new("."),
            &ReadOptions::default(),
            &mut diags,
        );
        let msgs: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].starts_with("k.conf:32:3: error: blocks nest too deep"),
            "{msgs:?}"
        );
        assert_eq!(stmts.len(), 1);
        // Nothing after the skipped block is mistaken for its content, nor reported extra.
        let text = format!("{}{}b\n", "a {\n".repeat(40), "}\n".repeat(40));
        let mut diags = Diags::default();
        let stmts = parse_str(
            "k.conf",
            &text,
            Path::new("."),
            &ReadOptions::default(),
            &mut diags,
        );
        assert_eq!(diags.list.len(), 1);
        assert_eq!(stmts.len(), 2, "a, then b at the top level");
        assert_eq!(stmts[1].keyword().text, "b");
    }

    #[test]
    fn a_long_line_of_braces_reads_in_linear_time() {
        // One line of 20k `{}` took 37 s (each brace re-tokenized the rest of the line).
        let text = format!("a {}\n", "{} ".repeat(20_000));
        let start = std::time::Instant::now();
        let mut diags = Diags::default();
        parse_str(
            "k.conf",
            &text,
            Path::new("."),
            &ReadOptions::default(),
            &mut diags,
        );
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(2),
            "20k braces on one line took {took:?}"
        );
    }

    /// A fresh directory for one test's files.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("havip-syntax-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn parse_path(path: &Path) -> (Vec<Stmt>, Vec<String>, std::time::Duration) {
        let start = std::time::Instant::now();
        let mut diags = Diags::default();
        let stmts = parse_file(path, &ReadOptions::default(), &mut diags).unwrap();
        let took = start.elapsed();
        (
            stmts,
            diags.list.iter().map(|d| d.to_string()).collect(),
            took,
        )
    }

    #[test]
    fn a_glob_of_eight_files_reads_each_once_in_linear_time() {
        let dir = scratch("glob8");
        for i in 0..8 {
            std::fs::write(dir.join(format!("{i}.inc")), format!("router_id r{i}\n")).unwrap();
        }
        std::fs::write(dir.join("main.conf"), "include *.inc\n").unwrap();
        let (stmts, msgs, took) = parse_path(&dir.join("main.conf"));
        assert!(msgs.is_empty(), "{msgs:?}");
        let ids: Vec<&str> = stmts.iter().map(|s| s.args()[0].text.as_str()).collect();
        assert_eq!(ids, ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"]);
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_include_bomb_is_an_error_in_bounded_time() {
        // 8 files, each `include *.inc`: every order of them was read (8! = 40320 paths),
        // 12 s and 283 MB, before the loop was reported.
        let dir = scratch("bomb");
        for i in 0..8 {
            std::fs::write(
                dir.join(format!("{i}.inc")),
                format!("router_id r{i}\ninclude *.inc\n"),
            )
            .unwrap();
        }
        std::fs::write(dir.join("main.conf"), "include *.inc\n").unwrap();
        let (_, msgs, took) = parse_path(&dir.join("main.conf"));
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
        let inc0 = dir.join("0.inc").display().to_string();
        assert_eq!(msgs.len(), 1, "one error, then the reader stops: {msgs:?}");
        assert!(
            msgs[0].starts_with(&format!(
                "{inc0}:2:9: error: include loop: {inc0} includes itself"
            )),
            "{msgs:?}"
        );
        // A fan-out without a loop (every level includes the next level's 4 files, 8 levels:
        // 4^8 = 65536 reads) stops at the file limit.
        let dir = scratch("fanout");
        for level in 0..8 {
            for f in 0..4 {
                std::fs::write(
                    dir.join(format!("l{level}-{f}.inc")),
                    if level < 7 {
                        format!("router_id x\ninclude l{}-*.inc\n", level + 1)
                    } else {
                        "router_id x\n".to_string()
                    },
                )
                .unwrap();
            }
        }
        std::fs::write(dir.join("main.conf"), "include l0-*.inc\n").unwrap();
        let (_, msgs, took) = parse_path(&dir.join("main.conf"));
        assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].contains(&format!(
                "error: include reads more than {MAX_INCLUDED_FILES} files"
            )),
            "{msgs:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(scratch("bomb")).unwrap();
    }

    #[test]
    fn an_include_loop_names_the_file_and_line() {
        let dir = scratch("loop");
        std::fs::write(dir.join("main.conf"), "router_id a\ninclude b.conf\n").unwrap();
        std::fs::write(dir.join("b.conf"), "\n  include main.conf\n").unwrap();
        let (_, msgs, _) = parse_path(&dir.join("main.conf"));
        let b = dir.join("b.conf").display().to_string();
        let main = dir.join("main.conf").display().to_string();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].starts_with(&format!(
                "{b}:2:11: error: include loop: {main} includes itself"
            )),
            "{msgs:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn include_is_recognised_where_keepalived_recognises_it() {
        // keepalived's read_line() calls check_include() on every line it produces, at any
        // block depth: a physical line, or the rest of one after a brace cut, checked before
        // the next cut. So the rest must be exactly `include PATTERN`: `a { include x }` has
        // `include x }` (three words) and reads `include x` as an ordinary line, as does
        // `include x { y }`; `} include x` includes.
        let dir = scratch("where");
        std::fs::write(dir.join("x.inc"), "priority 7\n").unwrap();
        let text = "a { include x.inc }\nb {\n  include x.inc\n}\nc {\n} include x.inc\ninclude x.inc { y }\n";
        std::fs::write(dir.join("main.conf"), text).unwrap();
        let (stmts, msgs, _) = parse_path(&dir.join("main.conf"));
        assert!(msgs.is_empty(), "{msgs:?}");
        let keywords = |stmts: &[Stmt]| -> Vec<String> {
            stmts.iter().map(|s| s.keyword().text.clone()).collect()
        };
        let body = |i: usize| keywords(&stmts[i].block.as_ref().unwrap().body);
        assert_eq!(keywords(&stmts), ["a", "b", "c", "priority", "include"]);
        assert_eq!(body(0), ["include"]);
        assert_eq!(body(1), ["priority"]);
        assert_eq!(stmts[4].args()[0].text, "x.inc");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unbalanced_braces_are_reported() {
        let mut diags = Diags::default();
        parse_str(
            "k.conf",
            "global_defs { router_id a#b }\n}\n}",
            Path::new("."),
            &ReadOptions::default(),
            &mut diags,
        );
        let msgs: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert!(
            msgs[0].starts_with("k.conf:3:1: error: extra '}'"),
            "{msgs:?}"
        );
    }

    #[test]
    fn confined_includes_stay_beneath_their_root() {
        // The fuzzers read arbitrary text: `include /etc/*` or `include ../../*` must not read
        // the machine's files, while a name beneath the root is still read.
        let base = std::env::temp_dir().join(format!("havip-confined-{}", std::process::id()));
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("in.inc"), "router_id inside\n").unwrap();
        std::fs::write(base.join("out.inc"), "router_id outside\n").unwrap();
        let mut diags = Diags::default();
        let stmts = parse_str(
            "k.conf",
            "include /etc/*\ninclude ../*\ninclude ./a/../../x\ninclude ..*/*.inc\ninclude in.inc\n",
            Path::new("/"),
            &ReadOptions {
                config_id: Some("x".into()),
                include_root: Some(root.clone()),
            },
            &mut diags,
        );
        std::fs::remove_dir_all(&base).unwrap();
        let msgs: Vec<String> = diags.list.iter().map(|d| d.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        for (i, m) in msgs.iter().enumerate() {
            assert!(
                m.starts_with(&format!("k.conf:{}:9: error: include ", i + 1))
                    && m.contains("leaves the directory includes are confined to"),
                "{msgs:?}"
            );
        }
        assert_eq!(stmts.len(), 1, "only in.inc was read");
        assert_eq!(stmts[0].args()[0].text, "inside");
    }
}
