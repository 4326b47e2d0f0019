//! `cargo xtask`: everything beyond plain `cargo build`: building the XDP object, installing
//! what a fresh machine lacks, the test tiers, the lab demo and the benchmarks.

mod deb;
mod ebpf;
mod fuzz;
mod layers;
mod proto;
mod setup;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "havip's developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the XDP object into havip/bpf/havip-xdp.o (installs the BPF toolchain if missing).
    BuildEbpf {
        /// Build, then fail if the committed object differs from the fresh one.
        #[arg(long)]
        check: bool,
    },
    /// Install what the project needs on this machine (Debian packages, bpf-linker, cargo-deb).
    Setup,
    /// Set up, then run every tier: format, lints, havip-proto's dependency guard, unit tests,
    /// the eBPF staleness check and the root tier (BPF_PROG_TEST_RUN and network-namespace labs).
    Test {
        /// Only the unit tier (no root needed, no set-up).
        #[arg(long)]
        unit: bool,
        /// Root-tier test binaries (file names under tests/tests, e.g. `lab_config`) and test-name
        /// filters.
        #[arg(last = true)]
        filter: Vec<String>,
    },
    /// Generate the manual pages (havip(8) from the CLI, havip.conf(5) from docs/config.md)
    /// and the bash, zsh and fish completions.
    Man {
        /// Output directory (default target/dist): man/ and completions/ under it.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Build the Debian package into target/debian (installs the pinned cargo-deb if missing).
    Deb,
    /// Set up, then run the lab demo: two havip nodes, the master dies, the client's outage.
    Demo,
    /// Set up, then run the chaos lab: random overlapping faults from a seed, checked against
    /// havip's invariants (docs/chaos.md), e.g. `--minutes 10 --seed 42`, `--until 37.5`.
    Chaos {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then fuzz the XDP program through BPF_PROG_TEST_RUN (`--frames N`, `--seed S`;
    /// ten million frames by default).
    Fuzz {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Fuzz the parsers (wire, keepalived_conf, toml, cli) coverage-guided with cargo-fuzz,
    /// one target after the other (installs the pinned cargo-fuzz if missing; no root needed).
    FuzzParsers {
        /// Seconds per target.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Targets to run (default: all).
        targets: Vec<String>,
    },
    /// Set up, then soak: 50 instances at 10 ms adverts on one pair for an hour, no faults
    /// (`--minutes N`, `--instances N`).
    Soak {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run a benchmark (`failover`, `bgp`, `adverts`, `arp`, `jitter`, `hostile`,
    /// `restart`); see BENCHMARKS.md.
    Bench {
        /// Which benchmark, and its options (e.g. `failover --trials 10`).
        #[arg(trailing_var_arg = true, required = true)]
        args: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::BuildEbpf { check } => ebpf::build(check),
        Command::Setup => setup::all(),
        Command::Test { unit, filter } => test(unit, &filter),
        Command::Man { out } => deb::man(&out.unwrap_or_else(|| util::root().join(deb::DIST))),
        Command::Deb => {
            println!("{}", deb::build()?.display());
            Ok(())
        }
        Command::Demo => lab_binary("havip-demo", &[]),
        Command::Bench { args } => lab_binary("havip-bench", &args),
        Command::Chaos { args } => lab_binary("havip-chaos", &args),
        Command::Soak { args } => lab_binary("havip-soak", &args),
        Command::Fuzz { args } => lab_binary("havip-fuzz-xdp", &args),
        Command::FuzzParsers { seconds, targets } => fuzz::parsers(seconds, &targets),
    }
}

/// Sets up, builds the lab binaries in release mode and runs one of them.
fn lab_binary(name: &str, args: &[String]) -> Result<()> {
    util::require_root(name)?;
    setup::all()?;
    util::cargo(&["build", "--release", "-p", "havip-lab", "--bins"])?;
    util::run(std::process::Command::new(util::root().join("target/release").join(name)).args(args))
}

fn test(unit_only: bool, filter: &[String]) -> Result<()> {
    use util::cargo;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    proto::check()?;
    layers::check(&util::root().join("havip/src"))?;
    cargo(&[
        "test",
        "-p",
        "havip",
        "-p",
        "havip-docs",
        "-p",
        "havip-proto",
        "-p",
        "havip-ebpf",
        "-p",
        "xtask",
    ])?;
    if unit_only {
        return Ok(());
    }
    util::require_root("the root tier (BPF, network namespaces)")?;
    setup::all()?;
    ebpf::build(true)?;
    // The package the root tier's deb_package test installs, built when that test runs (without
    // filters, or when one names it) from the tests' own dev build: `cargo xtask deb` makes the
    // release one.
    if filter.is_empty() || filter.iter().any(|f| f.starts_with("deb")) {
        deb::build_profile("dev")?;
    }
    // A word naming a root-tier file (`lab_config`) picks that test binary; other words are
    // test-name filters.
    let (binaries, names): (Vec<&String>, Vec<&String>) = filter.iter().partition(|f| {
        util::root()
            .join("tests/tests")
            .join(format!("{f}.rs"))
            .exists()
    });
    // Every test binary runs even when one fails: a root-tier run is long, and CI should show
    // all that broke, not the first.
    let mut args = vec!["test", "-p", "havip-lab", "--no-fail-fast"];
    for b in &binaries {
        args.extend(["--test", b.as_str()]);
    }
    // One test at a time: lab tests measure timing on a 2-core machine.
    args.extend(["--", "--test-threads=1"]);
    args.extend(names.iter().map(|s| s.as_str()));
    cargo(&args)
}
