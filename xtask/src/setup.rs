//! Installing what a fresh machine of the project's kind (Debian 12, root, rustup stable) lacks:
//! Debian packages for the BPF build route and the labs, `bpf-linker` and `cargo-deb` (and, for
//! `cargo xtask fuzz-parsers` only, `cargo-fuzz`).
//! Every step checks first, so a second run does nothing and takes well under a second.

use std::{path::Path, process::Command};

use anyhow::{bail, Result};

use crate::util::{is_root, output, run};

/// Debian's rustc with a prebuilt `core` for `bpfel-unknown-none`, and the LLVM that
/// `bpf-linker` links against (see ARCHITECTURE.md, "Building the XDP object").
pub const BUILD_PACKAGES: &[&str] = &[
    "rustc-web",
    "libstd-rust-web-dev-bpf",
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];

/// What the labs, interop tests, demo and benchmarks run, and the package tests check with
/// (dpkg-dev: cargo-deb's dpkg-shlibdeps; man-db: rendering the pages; systemd:
/// systemd-analyze; frr: the BGP labs' upstream router; bird2: the BGP speaker).
pub const LAB_PACKAGES: &[&str] = &[
    "dpkg-dev",
    "man-db",
    "systemd",
    "nftables",
    "iproute2",
    "arping",
    "iputils-ping",
    "keepalived",
    "tcpdump",
    "ethtool",
    "util-linux",
    "procps",
    "netsniff-ng",
    "stress-ng",
    "nftables",
    "bpftool",
    "frr",
    "bird2",
];

/// The `bpf-linker` release this project builds with.
pub const BPF_LINKER_VERSION: &str = "0.13.0";

/// The `cargo-deb` release `cargo xtask deb` builds with.
pub const CARGO_DEB_VERSION: &str = "3.8.0";

pub fn all() -> Result<()> {
    let mut pkgs = BUILD_PACKAGES.to_vec();
    pkgs.extend_from_slice(LAB_PACKAGES);
    apt(&pkgs)?;
    bpf_linker(22)?;
    cargo_deb()
}

/// Installs `cargo-deb` at [`CARGO_DEB_VERSION`] unless that version is already there.
pub fn cargo_deb() -> Result<()> {
    let have = output(Command::new(env!("CARGO")).args(["deb", "--version"]));
    if have.is_some_and(|v| v.split_whitespace().any(|w| w == CARGO_DEB_VERSION)) {
        return Ok(());
    }
    run(Command::new(env!("CARGO")).args([
        "install",
        "cargo-deb",
        "--version",
        CARGO_DEB_VERSION,
        "--locked",
    ]))
}

/// The `cargo-fuzz` release `cargo xtask fuzz-parsers` fuzzes with.
pub const CARGO_FUZZ_VERSION: &str = "0.13.1";

/// Installs `cargo-fuzz` at [`CARGO_FUZZ_VERSION`] unless that version is already there. Only
/// `cargo xtask fuzz-parsers` calls this, not [`all`]: CI's bounded fuzzing is a plain test.
pub fn cargo_fuzz() -> Result<()> {
    let have = output(Command::new("cargo-fuzz").arg("--version"));
    if have.is_some_and(|v| v.split_whitespace().any(|w| w == CARGO_FUZZ_VERSION)) {
        return Ok(());
    }
    run(Command::new(env!("CARGO")).args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]))
}

/// Installs the Debian packages of `pkgs` that are missing.
pub fn apt(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !Path::new("/etc/debian_version").exists() {
        bail!("missing packages ({list}) and this is not Debian: install their equivalents");
    }
    if !is_root() {
        bail!("missing Debian packages: run `sudo apt-get update && sudo apt-get install {list}`");
    }
    // Package lists are empty on a fresh machine; refreshing them is cheap next to installing.
    run(Command::new("apt-get").args(["update", "-q"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn installed(pkg: &str) -> bool {
    output(Command::new("dpkg-query").args(["-W", "-f", "${Status}", pkg]))
        .is_some_and(|s| s.ends_with("installed") && !s.contains("not-installed"))
}

/// Installs `bpf-linker` built against LLVM `llvm_major` (Debian's `llvm-N-dev`) unless a
/// `bpf-linker` is already on PATH.
pub fn bpf_linker(llvm_major: u32) -> Result<()> {
    if output(Command::new("bpf-linker").arg("--version")).is_some() {
        return Ok(());
    }
    let llvm_bin = format!("/usr/lib/llvm-{llvm_major}/bin");
    if !Path::new(&llvm_bin).join("llvm-config").exists() {
        bail!(
            "bpf-linker is missing and so is LLVM {llvm_major}: install llvm-{llvm_major}-dev \
             (Debian) and rerun, or install bpf-linker yourself (`cargo install bpf-linker`)"
        );
    }
    let path = format!("{llvm_bin}:{}", std::env::var("PATH").unwrap_or_default());
    run(Command::new(env!("CARGO"))
        .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{llvm_major}"),
        ])
        .env("PATH", path))
}
