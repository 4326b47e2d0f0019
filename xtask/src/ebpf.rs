//! `cargo xtask build-ebpf`: builds `havip-ebpf` for `bpfel-unknown-none` and installs the object
//! at `havip/bpf/havip-xdp.o`, where `havip` embeds it.
//!
//! Two routes to a Rust compiler that can target BPF:
//! - Debian's `rustc-web` (1.96, `/usr/bin/rustc`) with the prebuilt `core` of
//!   `libstd-rust-web-dev-bpf`: no `-Z build-std`; `RUSTC_BOOTSTRAP=1` for the unstable bits.
//!   Installed here when missing, on Debian as root. The rustup toolchains on this machine kind
//!   have no `rust-src`, so this is the route CI takes.
//! - rustup nightly with `rust-src`: `cargo +nightly build -Z build-std=core`.
//!
//! The object is committed, so `havip` builds with plain stable cargo and no BPF toolchain.
//! `--check` rebuilds and fails when the committed object is stale (CI runs it); a unit test
//! compares a digest of the eBPF sources with the one recorded at the last build.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::{
    setup,
    util::{is_root, output, root, run},
};

const TARGET: &str = "bpfel-unknown-none";
/// The committed object, relative to the workspace root.
pub const OBJECT: &str = "havip/bpf/havip-xdp.o";
/// The digest of the eBPF sources the committed object was built from.
pub const STAMP: &str = "havip/bpf/havip-xdp.o.sources";

enum Route {
    Debian { rustc: PathBuf, llvm_major: u32 },
    Nightly { llvm_major: u32 },
}

pub fn build(check: bool) -> Result<()> {
    let route = find_route()?;
    let root = root();
    let target_dir = root.join("target/bpf");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&root).env("CARGO_TARGET_DIR", &target_dir);
    let llvm_major = match &route {
        Route::Debian { rustc, llvm_major } => {
            cmd.env("RUSTC", rustc).env("RUSTC_BOOTSTRAP", "1");
            cmd.args(["build", "--release"]);
            *llvm_major
        }
        Route::Nightly { llvm_major } => {
            cmd.args(["+nightly", "build", "--release", "-Z", "build-std=core"]);
            *llvm_major
        }
    };
    setup::bpf_linker(llvm_major)?;
    // The host's rustc wrapper settings must not leak into the BPF build.
    cmd.env_remove("RUSTC_WRAPPER").env_remove("RUSTFLAGS");
    cmd.args([
        "--package",
        "havip-ebpf",
        "--bin",
        "havip-xdp",
        "--target",
        TARGET,
    ]);
    run(&mut cmd)?;

    let fresh = fs::read(target_dir.join(TARGET).join("release/havip-xdp"))
        .context("reading the built object")?;
    let object = root.join(OBJECT);
    let stamp = stamp_text(&root)?;
    let committed = fs::read(&object).unwrap_or_default();
    let committed_stamp = fs::read_to_string(root.join(STAMP)).unwrap_or_default();
    if check {
        if committed != fresh || committed_stamp != stamp {
            bail!(
                "{OBJECT} is stale: it differs from a fresh build of havip-ebpf. Run \
                 `cargo xtask build-ebpf` and commit havip/bpf/"
            );
        }
        eprintln!("{OBJECT} is up to date ({} bytes)", fresh.len());
        return Ok(());
    }
    if committed != fresh {
        fs::write(&object, &fresh).with_context(|| format!("writing {OBJECT}"))?;
        eprintln!("wrote {OBJECT} ({} bytes)", fresh.len());
    } else {
        eprintln!("{OBJECT} unchanged ({} bytes)", fresh.len());
    }
    if committed_stamp != stamp {
        fs::write(root.join(STAMP), stamp)?;
    }
    Ok(())
}

fn find_route() -> Result<Route> {
    if let Some(r) = debian_route() {
        return Ok(r);
    }
    if let Some(r) = nightly_route() {
        return Ok(r);
    }
    if Path::new("/etc/debian_version").exists() && is_root() {
        eprintln!("no Rust compiler for {TARGET} found: installing Debian's");
        setup::apt(setup::BUILD_PACKAGES)?;
        if let Some(r) = debian_route() {
            return Ok(r);
        }
    }
    bail!(
        "no Rust compiler that can build for {TARGET}. Either:\n\
         - on Debian: `sudo apt-get install {}` (then rerun; `cargo xtask build-ebpf` does this \
         itself when run as root), or\n\
         - with rustup: `rustup toolchain install nightly --component rust-src`",
        setup::BUILD_PACKAGES.join(" ")
    )
}

/// Debian's rustc with a prebuilt `core` for the BPF target.
fn debian_route() -> Option<Route> {
    let rustc = PathBuf::from("/usr/bin/rustc");
    let sysroot = output(Command::new(&rustc).args(["--print", "sysroot"]))?;
    let core = Path::new(sysroot.trim()).join("lib/rustlib").join(TARGET);
    if !core.is_dir() {
        return None;
    }
    let llvm_major = llvm_major(Command::new(&rustc).arg("-vV"))?;
    Some(Route::Debian { rustc, llvm_major })
}

/// rustup's nightly with `rust-src`, for `-Z build-std=core`.
fn nightly_route() -> Option<Route> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
    let src = Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/core");
    if !src.is_dir() {
        return None;
    }
    let llvm_major = llvm_major(Command::new("rustc").args(["+nightly", "-vV"]))?;
    Some(Route::Nightly { llvm_major })
}

fn llvm_major(cmd: &mut Command) -> Option<u32> {
    let v = output(cmd)?;
    let line = v.lines().find_map(|l| l.strip_prefix("LLVM version: "))?;
    line.split('.').next()?.parse().ok()
}

/// What `STAMP` holds: a digest of every input of the eBPF build that lives in this repository.
fn stamp_text(root: &Path) -> Result<String> {
    Ok(format!(
        "# digest of havip-ebpf's sources when {OBJECT} was built; `cargo xtask build-ebpf` writes it\n\
         fnv1a64 {:016x}\n",
        source_digest(root)?
    ))
}

/// FNV-1a over the eBPF crate's manifest and sources, in path order.
fn source_digest(root: &Path) -> Result<u64> {
    let crate_dir = root.join("havip-ebpf");
    let mut files = vec![crate_dir.join("Cargo.toml")];
    for entry in fs::read_dir(crate_dir.join("src"))? {
        files.push(entry?.path());
    }
    files.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        for b in rel.bytes().chain(fs::read(&f)?) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when havip-ebpf's sources changed after the committed object was built: the
    /// check that works without a BPF toolchain (CI also rebuilds and compares bytes).
    #[test]
    fn committed_object_was_built_from_these_sources() {
        let root = root();
        let committed = fs::read_to_string(root.join(STAMP)).expect("the stamp is committed");
        assert_eq!(
            committed,
            stamp_text(&root).unwrap(),
            "havip-ebpf changed since {OBJECT} was built: run `cargo xtask build-ebpf` and commit \
             havip/bpf/"
        );
    }
}
