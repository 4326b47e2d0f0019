//! Diagnostics: what was wrong (or questionable) in a config file, where, and what to do.
//!
//! One type for errors and warnings of both formats, rendered like a compiler's:
//!
//! ```text
//! keepalived.conf:12:5: error: virtual_router_id 0 is out of range (expected 1-255)
//!   hint: every node of a virtual router uses the same id; pick one from 1 to 255
//! ```

use std::fmt;

/// How bad a [`Diagnostic`] is: errors make the file invalid, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A place in a config file: the file as the user named it (includes: as the glob found it),
/// and 1-based line and column (columns count characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One finding in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Where; `None` for problems of the whole file (e.g. "no vrrp_instance").
    pub location: Option<Location>,
    /// What is wrong, naming what was found.
    pub message: String,
    /// The offending text as it was written, when there is one.
    pub found: Option<String>,
    /// What would have been accepted there.
    pub expected: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(location: Option<Location>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            location,
            message: message.into(),
            found: None,
            expected: None,
            hint: None,
        }
    }

    pub fn warning(location: Option<Location>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(location, message)
        }
    }

    pub fn found(mut self, found: impl Into<String>) -> Diagnostic {
        self.found = Some(found.into());
        self
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Diagnostic {
        self.expected = Some(expected.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}: {}", self.severity, self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Collects the diagnostics of one load, and where the parts that the host checks
/// (`check::host`) report on were written.
#[derive(Debug, Default)]
pub struct Diags {
    pub list: Vec<Diagnostic>,
    /// Each `vrrp_script` (TOML `[[script]]`) by name, where it was defined.
    pub script_at: Vec<(String, Location)>,
    /// Each instance by name, where it was defined (its notify hooks are reported there).
    pub instance_at: Vec<(String, Location)>,
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}

/// Why a config could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file itself could not be read (missing, permissions, not UTF-8).
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    /// The file was read but is invalid: every error found, with the warnings, in file order.
    Invalid { diagnostics: Vec<Diagnostic> },
}

impl LoadError {
    /// The errors and warnings of an invalid file (none for a read error).
    #[cfg(test)]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LoadError::Read { .. } => &[],
            LoadError::Invalid { diagnostics } => diagnostics,
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            LoadError::Invalid { diagnostics } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                for d in diagnostics {
                    writeln!(f, "{d}")?;
                }
                write!(
                    f,
                    "{errors} error{} in the configuration",
                    if errors == 1 { "" } else { "s" }
                )
            }
        }
    }
}

impl std::error::Error for LoadError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic::error(
            Some(Location {
                file: "keepalived.conf".into(),
                line: 12,
                col: 5,
            }),
            "virtual_router_id 0 is out of range",
        )
        .found("0")
        .expected("1-255")
        .hint("pick an id from 1 to 255");
        assert_eq!(
            d.to_string(),
            "keepalived.conf:12:5: error: virtual_router_id 0 is out of range (expected 1-255)\n  hint: pick an id from 1 to 255"
        );
        let w = Diagnostic::warning(None, "no VIP");
        assert_eq!(w.to_string(), "warning: no VIP");
    }
}
