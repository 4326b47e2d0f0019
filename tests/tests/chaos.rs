//! The short chaos run CI does: a fixed seed, 100 s of random overlapping faults against three
//! havip nodes, failing on any violated invariant (docs/chaos.md). The long runs are
//! `cargo xtask chaos --minutes N`.

use havip_lab::chaos::{run_chaos, Options};

#[test]
fn a_fixed_seed_of_chaos_breaks_no_promise() {
    let report = run_chaos(&Options {
        seconds: 100.0,
        seed: 20261201,
        nodes: 3,
        until: None,
        svg: None,
        verbose: false,
        realtime: true,
    });
    println!("{}", report.text);
    assert!(
        report.violations.is_empty(),
        "{} violation(s), seed {}: see the report above",
        report.violations.len(),
        report.seed
    );
}
