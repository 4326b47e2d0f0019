//! `cargo xtask fuzz-parsers`: the parser targets of `fuzz/` (the functions of
//! `havip::fuzzing`) coverage-guided under cargo-fuzz and libFuzzer, each for a bounded time,
//! with executions, coverage, corpus and crashes per target (docs/fuzzing.md). The unit tier
//! runs the same functions over the committed corpus without cargo-fuzz.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{bail, Context as _, Result};

use crate::util::{output, root};

/// The targets, as `fuzz/Cargo.toml` and `havip::fuzzing::TARGETS` name them.
pub const TARGETS: [&str; 4] = ["wire", "keepalived_conf", "toml", "cli"];

/// What one target's run showed.
struct Outcome {
    target: String,
    execs: Option<u64>,
    seconds: Option<u64>,
    cov: Option<u64>,
    features: Option<u64>,
    corpus: Option<String>,
    /// libFuzzer's slowest input, whole seconds.
    slowest: Option<u64>,
    exit_ok: bool,
    artifacts: Vec<PathBuf>,
    log: PathBuf,
}

/// Runs `targets` (all when empty) for `seconds` each, one after the other, then prints the
/// table and fails if any crashed, hung or ran out of memory.
pub fn parsers(seconds: u64, targets: &[String]) -> Result<()> {
    for t in targets {
        if !TARGETS.contains(&t.as_str()) {
            bail!(
                "no fuzz target {t:?}: the targets are {}",
                TARGETS.join(", ")
            );
        }
    }
    let targets: Vec<&str> = if targets.is_empty() {
        TARGETS.to_vec()
    } else {
        targets.iter().map(String::as_str).collect()
    };
    crate::setup::cargo_fuzz()?;
    let root = root();
    let mut outcomes = Vec::new();
    for target in targets {
        outcomes.push(one(&root, target, seconds)?);
    }
    println!(
        "\n{:<16} {:>12} {:>8} {:>8} {:>8} {:>14} {:>8} result",
        "target", "executions", "exec/s", "edges", "features", "corpus", "slowest"
    );
    let mut failed = Vec::new();
    for o in &outcomes {
        let rate = match (o.execs, o.seconds) {
            (Some(e), Some(s)) if s > 0 => (e / s).to_string(),
            _ => "-".into(),
        };
        let show = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        let result = if o.exit_ok && o.artifacts.is_empty() {
            "no crash".to_string()
        } else {
            failed.push(o.target.clone());
            format!(
                "FAILED: {} (log {})",
                o.artifacts
                    .iter()
                    .map(|a| a.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                o.log.display()
            )
        };
        println!(
            "{:<16} {:>12} {:>8} {:>8} {:>8} {:>14} {:>8} {result}",
            o.target,
            show(o.execs),
            rate,
            show(o.cov),
            show(o.features),
            o.corpus.clone().unwrap_or_else(|| "-".into()),
            o.slowest.map_or("-".into(), |s| format!("{s} s")),
        );
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets {} failed: minimise with `cargo fuzz tmin --fuzz-dir fuzz TARGET FILE`, \
             fix the parser, add the input to fuzz/corpus/TARGET/ and a regression test",
            failed.join(", ")
        );
    }
    Ok(())
}

/// The toolchain cargo-fuzz builds with: rustup's nightly when installed, else the default
/// one with `RUSTC_BOOTSTRAP=1` (cargo-fuzz passes a few unstable flags; no sanitizer is used).
fn toolchain(cmd: &mut Command) {
    let nightly = output(Command::new("rustup").args(["toolchain", "list"])).and_then(|list| {
        list.lines()
            .filter_map(|l| l.split_whitespace().next())
            .find(|t| t.starts_with("nightly"))
            .map(str::to_string)
    });
    match nightly {
        Some(t) => cmd.env("RUSTUP_TOOLCHAIN", t),
        None => cmd
            .env_remove("RUSTUP_TOOLCHAIN")
            .env("RUSTC_BOOTSTRAP", "1"),
    };
}

fn one(root: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    // New inputs go to a working corpus under target/, seeded with the committed one, so a run
    // leaves the repository alone; `cargo fuzz cmin` over it makes a new committed corpus.
    let work = root.join("target/fuzz-corpus").join(target);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let artifacts = root.join("fuzz/artifacts").join(target);
    let before = list(&artifacts);
    let logs = root.join("target/fuzz-logs");
    std::fs::create_dir_all(&logs)?;
    let log = logs.join(format!("{target}.log"));
    println!("fuzzing {target} for {seconds} s (log {})", log.display());
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["fuzz", "run", "--fuzz-dir", "fuzz"])
        // No sanitizer: the parsers are safe Rust, and ASan would halve the executions.
        // Debug assertions on: an arithmetic overflow is a finding.
        .args(["--sanitizer", "none", "--debug-assertions", target])
        .arg(&work)
        .arg(root.join("fuzz/corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        // A parser input that takes a second is a hang: they are linear and inputs are small.
        .args(["-timeout=5", "-rss_limit_mb=2048", "-max_len=16384"])
        .arg("-print_final_stats=1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?);
    toolchain(&mut cmd);
    let status = cmd
        .status()
        .context("running cargo fuzz (installed by this command; is ~/.cargo/bin on PATH?)")?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut o = Outcome {
        target: target.into(),
        execs: None,
        seconds: None,
        cov: None,
        features: None,
        corpus: None,
        slowest: None,
        exit_ok: status.success(),
        artifacts: list(&artifacts)
            .into_iter()
            .filter(|a| !before.contains(a))
            .collect(),
        log,
    };
    for line in text.lines() {
        // "#123456	REDUCE cov: 812 ft: 2301 corp: 240/21Kb lim: 4096 exec/s: 9000 rss: 80Mb"
        if line.starts_with('#') {
            o.cov = field(line, "cov:").and_then(|v| v.parse().ok()).or(o.cov);
            o.features = field(line, "ft:")
                .and_then(|v| v.parse().ok())
                .or(o.features);
            o.corpus = field(line, "corp:").map(str::to_string).or(o.corpus);
        }
        if let Some(v) = line.strip_prefix("stat::slowest_unit_time_sec:") {
            o.slowest = v.trim().parse().ok();
        }
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            o.execs = v.trim().parse().ok();
        }
        // "Done 123456 runs in 600 second(s)"
        if let Some(rest) = line.strip_prefix("Done ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [runs, "runs", "in", secs, ..] = words[..] {
                o.execs = o.execs.or(runs.parse().ok());
                o.seconds = secs.parse().ok();
            }
        }
    }
    if o.seconds.is_none() && o.execs.is_some() {
        o.seconds = Some(seconds);
    }
    if !o.exit_ok {
        eprintln!(
            "{target}: libFuzzer stopped with {status}; the end of {}:",
            o.log.display()
        );
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[lines.len().saturating_sub(30)..] {
            eprintln!("  {l}");
        }
    }
    Ok(o)
}

/// The word after `key` in a libFuzzer status line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read() {
        let line = "#1048576\tpulse  cov: 812 ft: 2301 corp: 240/21Kb lim: 4096 exec/s: 9000";
        assert_eq!(field(line, "cov:"), Some("812"));
        assert_eq!(field(line, "ft:"), Some("2301"));
        assert_eq!(field(line, "corp:"), Some("240/21Kb"));
        assert_eq!(field(line, "rss:"), None);
    }

    #[test]
    fn the_targets_are_the_fuzz_crates_bins() {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml"),
        )
        .unwrap();
        for t in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{t}\"")),
                "fuzz/Cargo.toml has no target {t}"
            );
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../fuzz/corpus")
                    .join(t)
                    .is_dir(),
                "no committed corpus for {t}"
            );
        }
    }
}
