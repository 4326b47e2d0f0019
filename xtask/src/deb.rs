//! `cargo xtask deb`: the Debian package, with cargo-deb (pinned, installed by `cargo xtask
//! setup`): the binary, the systemd unit (installed, not enabled), man pages and completions
//! generated fresh (havip-docs), sample configs and docs. What goes where is
//! `[package.metadata.deb]` in havip/Cargo.toml. No BPF toolchain is needed: the XDP object is
//! committed and embedded.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::{setup, util};

/// Where `cargo xtask man` writes the pages and completions, and where the package takes them
/// from (`[package.metadata.deb]` in havip/Cargo.toml).
pub const DIST: &str = "target/dist";

/// `cargo xtask man`: runs havip-docs (its own crate, so xtask does not depend on havip).
pub fn man(out: &std::path::Path) -> Result<()> {
    let out = out.to_str().context("output path is not UTF-8")?;
    util::cargo(&["run", "-q", "-p", "havip-docs", "--", out])
}

/// Where the package is written.
pub const OUT: &str = "target/debian";

/// Builds the package (release build) and returns its path.
pub fn build() -> Result<PathBuf> {
    build_profile("release")
}

/// As [`build`], from cargo profile `profile`. The test tier packages its own `dev` build: what
/// it checks is where the files go, and a release build from scratch added about 5 minutes to
/// CI.
pub fn build_profile(profile: &str) -> Result<PathBuf> {
    setup::cargo_deb()?;
    let root = util::root();
    man(&root.join(DIST))?;
    let out = root.join(OUT);
    std::fs::create_dir_all(&out)?;
    let out_str = out.to_str().context("target path is not UTF-8")?;
    util::cargo(&[
        "deb",
        "-p",
        "havip",
        "--profile",
        profile,
        "--output",
        out_str,
    ])?;
    newest_deb(&out)
}

/// The most recently written `havip_*.deb` in `dir`.
pub fn newest_deb(dir: &std::path::Path) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("havip_") && n.ends_with(".deb"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .with_context(|| format!("no havip_*.deb in {}", dir.display()))
}
