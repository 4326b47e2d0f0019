//! havip's XDP program. Built for `bpfel-unknown-none` by `cargo xtask build-ebpf`; on any other
//! target this file is an empty binary so that `cargo build --workspace` works on the host.
//!
//! What it does, per frame (see ARCHITECTURE.md):
//! - ARP request for a VIP of this interface (`VIPS` map): owned and heartbeat fresh → rewritten
//!   in place into the reply and sent back with `XDP_TX`; not owned, or heartbeat stale → dropped,
//!   so that the kernel, which may still hold the address, cannot answer either.
//! - Everything else, including gratuitous ARP, ARP replies, VLAN-tagged frames and anything it
//!   cannot parse → `XDP_PASS`.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {
    eprintln!("havip-xdp is an eBPF program: build it with `cargo xtask build-ebpf`");
    std::process::exit(2);
}
