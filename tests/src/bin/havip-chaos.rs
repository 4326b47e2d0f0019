//! `cargo xtask chaos [--seconds N | --minutes N] [--seed S] [--nodes N] [--until T] [--svg FILE]
//! [--with-keepalived]`: random, overlapping faults against a lab of havip nodes (the last one
//! keepalived 2.2.7 with `--with-keepalived`), checked against the invariants in
//! docs/chaos.md. Exits 1 on a violation; every violation prints the command that replays it.

use std::{path::PathBuf, process::ExitCode};

use havip_lab::chaos::{run_chaos, Options};

fn main() -> ExitCode {
    havip_lab::lab::catch_stop_signals();
    let mut opts = Options {
        seconds: 120.0,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        nodes: 3,
        until: None,
        svg: None,
        verbose: false,
        realtime: true,
        keepalived: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        let num = |name: &str, v: String| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: not a number: {v}")))
        };
        match a.as_str() {
            "--seconds" => opts.seconds = num("--seconds", value("--seconds")),
            "--minutes" => opts.seconds = 60.0 * num("--minutes", value("--minutes")),
            "--seed" => opts.seed = num("--seed", value("--seed")) as u64,
            "--nodes" => opts.nodes = num("--nodes", value("--nodes")) as usize,
            "--until" => opts.until = Some(num("--until", value("--until"))),
            "--svg" => opts.svg = Some(PathBuf::from(value("--svg"))),
            "--verbose" | "-v" => opts.verbose = true,
            "--no-rt" => opts.realtime = false,
            "--with-keepalived" => opts.keepalived = true,
            "--help" | "-h" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    if !(2..=8).contains(&opts.nodes) {
        usage("--nodes must be 2 to 8");
    }
    if opts.keepalived && !std::path::Path::new("/usr/sbin/keepalived").exists() {
        usage("--with-keepalived needs keepalived (apt-get install keepalived)");
    }
    if opts.seconds < 10.0 {
        usage("--seconds must be at least 10");
    }
    println!(
        "havip chaos: seed {} (replay with --seed {}), {} s",
        opts.seed, opts.seed, opts.seconds
    );
    let report = run_chaos(&opts);
    print!("{}", report.text);
    if report.violations.is_empty() && report.unjudged.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("havip-chaos: {err}");
    }
    eprintln!(
        "usage: cargo xtask chaos [--seconds N | --minutes N] [--seed S] [--nodes N] \
         [--until T] [--svg FILE] [--verbose] [--no-rt] [--with-keepalived]"
    );
    std::process::exit(if err.is_empty() { 0 } else { 2 })
}
