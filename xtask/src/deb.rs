//! `cargo xtask deb`: the Debian package, with cargo-deb (pinned, installed by `cargo xtask
//! setup`): the binary, the systemd unit (installed, not enabled), man pages and completions
//! generated fresh (`man.rs`), sample configs and docs. What goes where is
//! `[package.metadata.deb]` in havip/Cargo.toml. No BPF toolchain is needed: the XDP object is
//! committed and embedded.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::{man, setup, util};

/// Where the package is written.
pub const OUT: &str = "target/debian";

/// Builds the package and returns its path.
pub fn build() -> Result<PathBuf> {
    setup::cargo_deb()?;
    let root = util::root();
    man::generate(&root.join(man::DIST))?;
    let out = root.join(OUT);
    std::fs::create_dir_all(&out)?;
    let out_str = out.to_str().context("target path is not UTF-8")?;
    util::cargo(&["deb", "-p", "havip", "--output", out_str])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every generated file is packaged, where `man::FILES` says.
    #[test]
    fn package_assets_carry_every_generated_file() {
        let toml = std::fs::read_to_string(util::root().join("havip/Cargo.toml")).unwrap();
        for (src, dest) in man::FILES {
            // man/havip-run.8 may come in through the glob man/*.8.
            let glob = match (src.rsplit_once('/'), src.rsplit_once('.')) {
                (Some((dir, _)), Some((_, ext))) => format!("../target/dist/{dir}/*.{ext}"),
                _ => String::from("no glob"),
            };
            let dir = format!("{}/", dest.rsplit_once('/').unwrap().0);
            let by_name = toml.contains(&format!("\"../target/dist/{src}\""));
            assert!(
                by_name || toml.contains(&format!("\"{glob}\"")),
                "{src} is not packaged"
            );
            assert!(
                toml.contains(&format!("\"{dest}\"")) || toml.contains(&format!("\"{dir}\"")),
                "{src} is not installed at {dest}"
            );
        }
    }
}
