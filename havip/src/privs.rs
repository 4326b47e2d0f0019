//! Checking, before touching anything, that this process may do what `havip run` does.

use anyhow::{bail, Result};

const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Fails with the fix when the effective capabilities lack what loading XDP, changing addresses
/// and sending raw frames need.
pub fn check_run_privileges() -> Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
    else {
        return Ok(()); // Not Linux /proc: let the first syscall say what is wrong.
    };
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW");
    }
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF (or CAP_SYS_ADMIN)");
    }
    if !missing.is_empty() {
        bail!(
            "havip run needs root or the capabilities {}: run it with sudo, or grant them with \
             `setcap cap_net_admin,cap_net_raw,cap_bpf,cap_sys_admin+ep $(command -v havip)`",
            missing.join(", ")
        );
    }
    Ok(())
}
