//! Shared pieces of havip's root tier: the root gate, hand-built frames, and the network
//! namespace lab (see `lab`).
//!
//! Tests here need root (BPF, netns, XDP). They are not default members of the workspace:
//! `cargo xtask test` runs them; `cargo test` alone runs only the unit tier.

pub mod bfd_bench;
pub mod bgp_bench;
pub mod bgp_lab;
pub mod chaos;
pub mod flows;
pub mod frames;
pub mod fuzz;
pub mod lab;
pub mod probe;
pub mod rng;
pub mod scenario;
pub mod soak;

/// Panics with the way out when not root: these tests load BPF programs and create namespaces.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("this test needs root (BPF, network namespaces): run `sudo cargo xtask test`");
    }
}
