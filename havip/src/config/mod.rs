//! Config files: keepalived.conf as keepalived 2.2.7 reads it, and havip's own TOML format, both
//! turned into the [`DaemonSpec`] the daemon runs. `havip run --config` and `havip
//! check-config` both go through [`load_checked`] ([`load_as`] and the checks of scripts
//! against this host): the warnings are printed, the spec is run.
//!
//! - `syntax`: keepalived's lexing (comments, quotes, braces, `include` with globs, `@id`
//!   lines), every word with its file, line and column.
//! - `keepalived`: keepalived's keywords, defaults and corrections; the tables of what havip
//!   ignores (warning) or refuses (error).
//! - `toml`: the TOML format (serde; unknown keys are errors).
//! - `check`: what both share: [`crate::vrrp::RouterConfig::validate`] per instance, and the
//!   instances against each other.
//! - [`Diagnostic`]: errors and warnings, `file:line:col: error: ...` with a hint.

mod check;
mod diag;
pub mod keepalived;
mod render;
pub mod route;
mod syntax;
mod toml;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use check::{
    bfd_conflict, bfd_family_problem, bfd_limits, bgp_limits, bgp_neighbor_problem,
    bird_path_problem, parse_community,
};
pub use diag::{Diagnostic, LoadError};
pub use render::render;
pub use syntax::ReadOptions;

use crate::model::DaemonSpec;
use diag::Diags;

/// The syntax of a config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// keepalived.conf, as keepalived 2.2.7 reads it.
    Keepalived,
    /// havip's TOML format (docs/config.md).
    Toml,
}

impl Format {
    /// TOML for a `.toml` file, keepalived syntax for anything else.
    pub fn of_path(path: &Path) -> Format {
        match path.extension() {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Keepalived,
        }
    }
}

/// A valid config: what to run, and the warnings to show the user.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub spec: DaemonSpec,
    pub warnings: Vec<Diagnostic>,
}

/// Reads the config at `path`, in the format its extension says.
#[cfg(test)]
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_as(path, Format::of_path(path), &ReadOptions::default())
}

/// Reads the config at `path` in `format`, without the checks against this host (the golden
/// tests read configs written for other hosts; `havip doctor` reads another daemon's).
pub fn load_as(path: &Path, format: Format, opts: &ReadOptions) -> Result<Loaded, LoadError> {
    read_as(path, format, opts, false)
}

/// [`load_as`], then the checks against this host (`check::host`: script users, files and
/// their permissions): what `havip run` and `havip check-config` use.
pub fn load_checked(path: &Path, format: Format, opts: &ReadOptions) -> Result<Loaded, LoadError> {
    read_as(path, format, opts, true)
}

fn read_as(
    path: &Path,
    format: Format,
    opts: &ReadOptions,
    host: bool,
) -> Result<Loaded, LoadError> {
    let mut diags = Diags::default();
    let spec = match format {
        Format::Keepalived => keepalived::load_file(path, opts, &mut diags),
        Format::Toml => std::fs::read_to_string(path)
            .map(|text| toml::load_str(&path.display().to_string(), &text, &mut diags)),
    }
    .map_err(|error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    if host && !diags.has_errors() {
        check::host(&spec, &mut diags);
    }
    finish(spec, diags)
}

/// Reads a config from `text`, named `name` in diagnostics (keepalived includes are relative to
/// the current directory, or to `opts.include_root`). The tests and the fuzzers read this way.
pub fn load_str(
    name: &str,
    text: &str,
    format: Format,
    opts: &ReadOptions,
) -> Result<Loaded, LoadError> {
    let mut diags = Diags::default();
    let spec = match format {
        Format::Keepalived => keepalived::load_str(name, text, opts, &mut diags),
        Format::Toml => toml::load_str(name, text, &mut diags),
    };
    finish(spec, diags)
}

fn finish(spec: DaemonSpec, mut diags: Diags) -> Result<Loaded, LoadError> {
    // File order: files as they first appear, then line and column; whole-file ones last.
    let mut files: Vec<String> = Vec::new();
    for d in &diags.list {
        if let Some(l) = &d.location {
            if !files.contains(&l.file) {
                files.push(l.file.clone());
            }
        }
    }
    diags.list.sort_by_key(|d| match &d.location {
        Some(l) => (
            files.iter().position(|f| f == &l.file).unwrap_or(0),
            l.line,
            l.col,
        ),
        None => (usize::MAX, 0, 0),
    });
    if diags.has_errors() {
        Err(LoadError::Invalid {
            diagnostics: diags.list,
        })
    } else {
        Ok(Loaded {
            spec,
            warnings: diags.list,
        })
    }
}
