//! The XDP program under random and mutated frames (`havip_lab::fuzz`): a fixed seed and
//! 2 000 000 frames in CI; `cargo xtask fuzz --frames N --seed S` for long runs.

use havip_lab::{fuzz::fuzz_xdp, require_root};

#[test]
fn xdp_keeps_its_promises_under_fuzzed_frames() {
    require_root();
    let r = fuzz_xdp(20261201, 2_000_000);
    println!(
        "{} frames ({:.0}/s): {} passed, {} dropped, {} answered",
        r.frames, r.per_second, r.passed, r.dropped, r.replied
    );
    assert!(
        r.replied > 1000 && r.dropped > 1000,
        "the corpus reached too little: {r:?}"
    );
    assert_eq!(
        r.failure_count,
        0,
        "{} broken promises, the first:\n{}",
        r.failure_count,
        r.failures.join("\n")
    );
}
