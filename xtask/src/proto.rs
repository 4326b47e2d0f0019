//! The guard that keeps `havip-proto` sans-IO: the compiler only enforces it if no async
//! runtime, socket or clock crate can get into the crate's dependencies, so `cargo xtask test`
//! checks `cargo tree -p havip-proto -e normal` against an allow-list (empty today: the crate
//! depends on nothing but std).

use std::process::Command;

use anyhow::{bail, Context as _, Result};

use crate::util;

const CRATE: &str = "havip-proto";

/// Crates `havip-proto` may depend on, directly or not. Add one only if it does no I/O, reads no
/// clock and runs no tasks (e.g. `bitflags`), and say why in the commit.
const ALLOWED: &[&str] = &[];

/// Fails if `havip-proto`'s normal dependency tree holds a crate outside [`ALLOWED`].
pub fn check() -> Result<()> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "tree", "-p", CRATE, "-e", "normal", "--prefix", "none", "--format", "{p}",
    ])
    .current_dir(util::root());
    let out = cmd.output().context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {CRATE} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let tree = String::from_utf8(out.stdout).context("cargo tree printed non-UTF-8")?;
    let bad = violations(&tree, ALLOWED);
    if !bad.is_empty() {
        bail!(
            "{CRATE} must stay sans-IO, but its dependencies (cargo tree -p {CRATE} -e normal) \
             include {}: keep sockets, clocks and runtimes (tokio, mio, socket2, libc, nix, \
             rustix...) in havip; a crate that does none of that goes on ALLOWED in \
             xtask/src/proto.rs",
            bad.join(", ")
        );
    }
    eprintln!("+ {CRATE}: no dependencies outside the allow-list");
    Ok(())
}

/// The crates named in `cargo tree --prefix none --format {p}` output that are neither the crate
/// itself nor allowed.
fn violations<'t>(tree: &'t str, allowed: &[&str]) -> Vec<&'t str> {
    let mut bad: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != CRATE && !allowed.contains(name))
        .collect();
    bad.sort_unstable();
    bad.dedup();
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_alone_passes() {
        assert!(violations("havip-proto v0.1.0 (/w/havip-proto)\n", &[]).is_empty());
    }

    #[test]
    fn tokio_anywhere_in_the_tree_fails() {
        let tree = "havip-proto v0.1.0 (/w/havip-proto)\n\
                    bytes v1.10.1\n\
                    tokio v1.48.0\n\
                    mio v1.0.4\n\
                    libc v0.2.177\n\
                    libc v0.2.177 (*)\n";
        assert_eq!(
            violations(tree, &["bytes"]),
            ["libc", "mio", "tokio"],
            "each offender once, the allowed crate not"
        );
    }

    /// The real tree, so `cargo test -p xtask` catches a new dependency too.
    #[test]
    fn havip_proto_has_no_dependency_outside_the_allow_list() {
        check().unwrap();
    }
}
