//! The privileges of `havip run`: checking, before touching anything, that the process may do
//! what set-up does, and dropping, once set up, every capability the running daemon no longer
//! needs (ARCHITECTURE.md, "Privileges", says which and why).
//!
//! What the kernel (6.18) asked for, measured by running `havip run` under `setpriv
//! --bounding-set`: loading the XDP program needs CAP_BPF, CAP_NET_ADMIN (a networking program
//! type) and CAP_PERFMON (without it the verifier refuses the program: "R1 pointer -= pointer
//! prohibited", pointer arithmetic it allows only to `perfmon_capable()` loaders), or
//! CAP_SYS_ADMIN, which implies both; finding the program a crashed run left, and the maps
//! `--metrics-listen` reads, go through `BPF_PROG_GET_NEXT_ID` / `BPF_*_GET_FD_BY_ID`, which only
//! CAP_SYS_ADMIN may call (without it a restart after a crash failed: "another XDP program (?)
//! is attached"). Capabilities are per thread: [`drop_after_setup`] must run before the daemon
//! starts any other thread, so that every later one inherits the reduced sets.

use anyhow::{bail, Context as _, Result};
use rustix::thread::{self, CapabilitySet, CapabilitySets};

/// The capabilities' names, by number, as `capsh` and systemd spell them.
const NAMES: [&str; 41] = [
    "cap_chown",
    "cap_dac_override",
    "cap_dac_read_search",
    "cap_fowner",
    "cap_fsetid",
    "cap_kill",
    "cap_setgid",
    "cap_setuid",
    "cap_setpcap",
    "cap_linux_immutable",
    "cap_net_bind_service",
    "cap_net_broadcast",
    "cap_net_admin",
    "cap_net_raw",
    "cap_ipc_lock",
    "cap_ipc_owner",
    "cap_sys_module",
    "cap_sys_rawio",
    "cap_sys_chroot",
    "cap_sys_ptrace",
    "cap_sys_pacct",
    "cap_sys_admin",
    "cap_sys_boot",
    "cap_sys_nice",
    "cap_sys_resource",
    "cap_sys_time",
    "cap_sys_tty_config",
    "cap_mknod",
    "cap_lease",
    "cap_audit_write",
    "cap_audit_control",
    "cap_setfcap",
    "cap_mac_override",
    "cap_mac_admin",
    "cap_syslog",
    "cap_wake_alarm",
    "cap_block_suspend",
    "cap_audit_read",
    "cap_perfmon",
    "cap_bpf",
    "cap_checkpoint_restore",
];

/// `cap_a,cap_b` (numbers for capabilities newer than this table).
pub fn names(set: CapabilitySet) -> String {
    (0..64u32)
        .filter(|i| set.bits() & (1 << i) != 0)
        .map(|i| {
            NAMES
                .get(i as usize)
                .map_or_else(|| format!("cap_{i}"), |n| n.to_string())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What start-up lacks, given the effective set `eff`: errors (it cannot work) and warnings
/// (it works, less well).
fn startup_problems(eff: CapabilitySet, metrics: bool) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    let has = |c: CapabilitySet| eff.contains(c);
    if !has(CapabilitySet::NET_ADMIN) {
        errors.push("CAP_NET_ADMIN (addresses, XDP attachment)".to_string());
    }
    if !has(CapabilitySet::NET_RAW) {
        errors.push("CAP_NET_RAW (VRRP and ARP sockets)".to_string());
    }
    let admin = has(CapabilitySet::SYS_ADMIN);
    match (has(CapabilitySet::BPF), has(CapabilitySet::PERFMON)) {
        _ if admin => {}
        (true, true) => {
            let why = "CAP_SYS_ADMIN: without it havip cannot recognise the XDP program a \
                       crashed run left (BPF_PROG_GET_FD_BY_ID needs it), and the restart \
                       after a crash fails";
            if metrics {
                errors.push(format!(
                    "{why}; --metrics-listen reads the maps the same way"
                ));
            } else {
                warnings.push(why.to_string());
            }
        }
        (true, false) => errors.push(
            "CAP_PERFMON (with CAP_BPF: the verifier refuses havip's program without it)".into(),
        ),
        (false, _) => errors.push("CAP_SYS_ADMIN, or CAP_BPF and CAP_PERFMON (loading XDP)".into()),
    }
    (errors, warnings)
}

/// The command that grants what start-up needs.
const GRANT: &str = "run it with sudo, or grant them: \
    `setcap cap_net_admin,cap_net_raw,cap_sys_admin+ep $(command -v havip)` (cap_bpf and \
    cap_perfmon also load the program, but only cap_sys_admin finds a crashed run's program); \
    under systemd see ARCHITECTURE.md, \"Privileges\"";

/// Fails with the fix when the effective capabilities lack what loading XDP, changing addresses
/// and sending raw frames need; warns of what works less well without CAP_SYS_ADMIN.
pub fn check_run_privileges(metrics: bool) -> Result<()> {
    let Ok(sets) = thread::capabilities(None) else {
        return Ok(()); // capget refused: let the first syscall say what is wrong.
    };
    let (errors, warnings) = startup_problems(sets.effective, metrics);
    if !errors.is_empty() {
        bail!(
            "havip run needs root or the capabilities {}: {GRANT}",
            errors.join(", ")
        );
    }
    for w in warnings {
        tracing::warn!("missing {w}");
    }
    Ok(())
}

/// What the running daemon still does, and so the capabilities it keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    /// `--mlock`: `mlockall(MCL_FUTURE)` locks every later allocation, within RLIMIT_MEMLOCK
    /// unless CAP_IPC_LOCK stays.
    pub mlock: bool,
    /// `--metrics-listen` on a port below 1024, bound after the drop.
    pub low_port: bool,
    /// `--metrics-listen`: each scrape opens the XDP maps by id (`dataplane::XdpMaps`),
    /// `BPF_MAP_GET_FD_BY_ID`, which only CAP_SYS_ADMIN may call.
    pub metrics: bool,
}

/// The capabilities the running daemon keeps (ARCHITECTURE.md, "Privileges", says why each):
/// CAP_NET_ADMIN (VIPs, XDP re-attached to a re-created interface or switched to skb mode),
/// CAP_NET_RAW (raw and packet sockets reopened for a re-created interface or an instance a
/// reload adds), CAP_SETUID + CAP_SETGID (scripts and hooks as `script_user`), CAP_KILL (killing
/// such a script's process group at its timeout), CAP_BPF (up to Linux 5.18, with
/// `kernel.unprivileged_bpf_disabled` set, as Debian 11, Ubuntu 22.04 and RHEL 9 ship it, every
/// `bpf()` call needs it, map updates through descriptors already held included), and
/// CAP_DAC_READ_SEARCH (scripts are vetted before each run by the daemon: their path as another
/// user owns it, a 0750 directory, is unreadable to a root without it); CAP_IPC_LOCK,
/// CAP_NET_BIND_SERVICE and CAP_SYS_ADMIN only for what [`Needs`] names.
pub fn running_set(needs: Needs) -> CapabilitySet {
    let mut keep = CapabilitySet::NET_ADMIN
        | CapabilitySet::NET_RAW
        | CapabilitySet::SETUID
        | CapabilitySet::SETGID
        | CapabilitySet::KILL
        | CapabilitySet::BPF
        | CapabilitySet::DAC_READ_SEARCH;
    if needs.mlock {
        keep |= CapabilitySet::IPC_LOCK;
    }
    if needs.low_port {
        keep |= CapabilitySet::NET_BIND_SERVICE;
    }
    if needs.metrics {
        keep |= CapabilitySet::SYS_ADMIN;
    }
    keep
}

/// What [`drop_after_setup`] did.
#[derive(Debug)]
pub struct Dropped {
    /// The effective and permitted sets now.
    pub kept: CapabilitySet,
    /// Whether the bounding set was reduced too (it needs CAP_SETPCAP, which a non-root
    /// daemon started with ambient capabilities usually lacks: its service manager bounds it).
    pub bounded: bool,
}

/// Keeps only `keep` (of what this thread has): the bounding set first (while CAP_SETPCAP is
/// still effective), then `no_new_privs` (no exec regains anything: setuid binaries and file
/// capabilities are ignored), then the ambient and inheritable sets cleared (scripts inherit no
/// capability through them) and the permitted and effective sets cut to `keep`.
///
/// Capabilities are per thread: call it before any other thread starts.
pub fn drop_after_setup(keep: CapabilitySet) -> Result<Dropped> {
    let now = thread::capabilities(None).context("reading this thread's capabilities")?;
    let bounded = if now.effective.contains(CapabilitySet::SETPCAP) {
        let last = last_cap();
        for i in 0..=last {
            let cap = CapabilitySet::from_bits_retain(1 << i);
            if keep.contains(cap) || !thread::capability_is_in_bounding_set(cap).unwrap_or(false) {
                continue;
            }
            thread::remove_capability_from_bounding_set(cap)
                .with_context(|| format!("dropping {} from the bounding set", names(cap)))?;
        }
        true
    } else {
        false
    };
    thread::set_no_new_privs(true).context("setting no_new_privs")?;
    thread::clear_ambient_capability_set().context("clearing the ambient capabilities")?;
    let kept = keep & now.permitted;
    thread::set_capabilities(
        None,
        CapabilitySets {
            effective: kept,
            permitted: kept,
            inheritable: CapabilitySet::empty(),
        },
    )
    .with_context(|| format!("keeping only {}", names(kept)))?;
    Ok(Dropped { kept, bounded })
}

/// The highest capability number this kernel knows.
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
        .min(63)
}

/// How many threads this process has (the drop reaches only the calling thread and those it
/// starts afterwards).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_ALL: CapabilitySet = CapabilitySet::from_bits_retain((1 << 41) - 1);

    #[test]
    fn root_starts_without_a_word() {
        assert_eq!(startup_problems(ROOT_ALL, true), (vec![], vec![]));
        let admin = CapabilitySet::NET_ADMIN | CapabilitySet::NET_RAW | CapabilitySet::SYS_ADMIN;
        assert_eq!(startup_problems(admin, true), (vec![], vec![]));
    }

    /// CAP_BPF alone passed the old check, and the kernel then refused the program in the
    /// verifier ("pointer -= pointer prohibited"): the error names CAP_PERFMON.
    #[test]
    fn cap_bpf_without_cap_perfmon_is_named() {
        let set = CapabilitySet::NET_ADMIN | CapabilitySet::NET_RAW | CapabilitySet::BPF;
        let (errors, _) = startup_problems(set, false);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("CAP_PERFMON"), "{errors:?}");
    }

    #[test]
    fn bpf_and_perfmon_load_but_warn_of_crash_recovery_and_refuse_metrics() {
        let set = CapabilitySet::NET_ADMIN
            | CapabilitySet::NET_RAW
            | CapabilitySet::BPF
            | CapabilitySet::PERFMON;
        let (errors, warnings) = startup_problems(set, false);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(warnings[0].contains("crashed run"), "{warnings:?}");
        let (errors, _) = startup_problems(set, true);
        assert!(errors[0].contains("--metrics-listen"), "{errors:?}");
    }

    #[test]
    fn nothing_names_everything() {
        let (errors, _) = startup_problems(CapabilitySet::empty(), false);
        let all = errors.join(", ");
        for cap in [
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_SYS_ADMIN",
            "CAP_BPF",
            "CAP_PERFMON",
        ] {
            assert!(all.contains(cap), "{all}");
        }
    }

    #[test]
    fn the_running_set_is_named_as_systemd_spells_it() {
        assert_eq!(
            names(running_set(Needs::default())),
            "cap_dac_read_search,cap_kill,cap_setgid,cap_setuid,cap_net_admin,cap_net_raw,cap_bpf"
        );
        let all = running_set(Needs {
            mlock: true,
            low_port: true,
            metrics: true,
        });
        assert_eq!(
            names(all),
            "cap_dac_read_search,cap_kill,cap_setgid,cap_setuid,cap_net_bind_service,\
             cap_net_admin,cap_net_raw,cap_ipc_lock,cap_sys_admin,cap_bpf"
        );
        assert_eq!(names(CapabilitySet::from_bits_retain(1 << 45)), "cap_45");
    }

    /// The drop on a thread of its own (capabilities are per thread, so the test's other
    /// threads keep theirs): what it keeps, the bounding set, no_new_privs, as the kernel
    /// reports them in /proc.
    #[test]
    fn drop_keeps_exactly_the_set_on_this_thread() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: dropping capabilities is tested as root");
            return;
        }
        let keep = running_set(Needs::default());
        let status = std::thread::spawn(move || {
            let dropped = drop_after_setup(keep).unwrap();
            assert!(dropped.bounded);
            assert_eq!(dropped.kept, keep);
            std::fs::read_to_string("/proc/thread-self/status").unwrap()
        })
        .join()
        .unwrap();
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line[name.len()..].trim().to_string()
        };
        let hex = format!("{:016x}", keep.bits());
        assert_eq!(field("CapEff:"), hex, "{status}");
        assert_eq!(field("CapPrm:"), hex, "{status}");
        assert_eq!(field("CapBnd:"), hex, "{status}");
        assert_eq!(field("CapInh:"), "0000000000000000", "{status}");
        assert_eq!(field("CapAmb:"), "0000000000000000", "{status}");
        assert_eq!(field("NoNewPrivs:"), "1", "{status}");
    }
}
