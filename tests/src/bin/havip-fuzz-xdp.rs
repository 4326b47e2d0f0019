//! `cargo xtask fuzz [--frames N] [--seed S]`: the XDP program through BPF_PROG_TEST_RUN with
//! random and mutated frames (see `havip_lab::fuzz`). Exits 1 on a broken promise.

use std::process::ExitCode;

use havip_lab::fuzz::fuzz_xdp;

fn main() -> ExitCode {
    let (mut frames, mut seed) = (10_000_000u64, 1u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().and_then(|v| v.parse().ok());
        match (a.as_str(), v) {
            ("--frames", Some(n)) => frames = n,
            ("--seed", Some(s)) => seed = s,
            _ => {
                eprintln!("usage: cargo xtask fuzz [--frames N] [--seed S]");
                return ExitCode::from(2);
            }
        }
    }
    let r = fuzz_xdp(seed, frames);
    println!(
        "havip XDP fuzz, seed {seed}: {} frames in {:.1} s ({:.0}/s): {} passed, {} dropped, {} \
         answered; {} broken promises",
        r.frames,
        r.frames as f64 / r.per_second,
        r.per_second,
        r.passed,
        r.dropped,
        r.replied,
        r.failure_count
    );
    for f in &r.failures {
        println!("{f}");
    }
    if r.failure_count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
