//! `havip --version [-v]`: what this binary is (version, git commit, the embedded XDP object's
//! digest) and, verbose, what this kernel offers it (release, BTF, bpffs, XDP). The kernel facts
//! are also `havip doctor`'s first checks.

use std::{fmt::Write as _, path::Path};

/// The git commit this binary was built from (see `build.rs`).
pub const COMMIT: &str = env!("HAVIP_GIT_COMMIT");
/// SHA-256 of `havip/bpf/havip-xdp.o` as embedded at build time.
pub const XDP_SHA256: &str = env!("HAVIP_XDP_SHA256");
/// Where the kernel exposes its own BTF (CO-RE, `bpftool btf dump`).
pub const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// The oldest kernel havip runs on: the BPF ring buffer, `CAP_BPF` (5.8) and
/// `XDP_FLAGS_REPLACE` (5.7).
pub const MIN_KERNEL: (u32, u32) = (5, 8);

/// What the running kernel offers havip.
#[derive(Clone, Debug)]
pub struct KernelFacts {
    /// `uname -r`, or `None` when /proc is missing.
    pub release: Option<String>,
    pub btf: bool,
    /// Mount points of bpffs in this mount namespace.
    pub bpffs: Vec<String>,
    /// Whether the kernel loads an XDP program: `Err` when the probe could not tell (no
    /// privileges).
    pub xdp: Result<bool, String>,
}

impl KernelFacts {
    pub fn probe() -> KernelFacts {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        KernelFacts {
            release,
            btf: Path::new(BTF_PATH).exists(),
            bpffs: bpffs_mounts(
                &std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default(),
            ),
            xdp: aya::sys::is_program_supported(aya::programs::ProgramType::Xdp)
                .map_err(|e| format!("probe failed: {e} (run as root to probe)")),
        }
    }
}

/// "6.1.0-27-amd64" → (6, 1).
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The mount points whose file system type is `bpf`, from /proc/self/mountinfo (the type is the
/// first field after the ` - ` separator).
pub fn bpffs_mounts(mountinfo: &str) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            (fields.get(sep + 1) == Some(&"bpf")).then(|| fields.get(4).map(|m| m.to_string()))?
        })
        .collect()
}

/// The `--version` text; with `verbose`, the kernel facts too.
pub fn text(verbose: bool) -> String {
    let mut s = format!(
        "havip {}\ncommit {COMMIT}\nxdp object sha256:{XDP_SHA256} ({} bytes embedded)\n",
        env!("CARGO_PKG_VERSION"),
        crate::dataplane::OBJECT.len(),
    );
    if verbose {
        let k = KernelFacts::probe();
        let _ = match k.release.as_deref() {
            None => writeln!(s, "kernel unknown (no /proc)"),
            Some(r) => match parse_release(r) {
                Some(v) if v < MIN_KERNEL => writeln!(
                    s,
                    "kernel {r} (too old: havip needs {}.{} or later)",
                    MIN_KERNEL.0, MIN_KERNEL.1
                ),
                _ => writeln!(s, "kernel {r}"),
            },
        };
        let _ = writeln!(
            s,
            "btf {}",
            if k.btf {
                BTF_PATH.to_string()
            } else {
                format!("missing ({BTF_PATH})")
            }
        );
        let _ = writeln!(
            s,
            "bpffs {}",
            if k.bpffs.is_empty() {
                "not mounted (havip does not need it)".to_string()
            } else {
                k.bpffs.join(" ")
            }
        );
        let _ = writeln!(
            s,
            "xdp {}",
            match &k.xdp {
                Ok(true) => "supported (a test program loaded)".to_string(),
                Ok(false) => "not supported by this kernel".to_string(),
                Err(e) => format!("unknown: {e}"),
            }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_versions_parse() {
        assert_eq!(parse_release("6.1.0-27-amd64"), Some((6, 1)));
        assert_eq!(parse_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_release("5.10"), Some((5, 10)));
        assert_eq!(parse_release("weird"), None);
    }

    #[test]
    fn bpffs_found_in_mountinfo() {
        let mi = "24 30 0:22 / /sys rw,nosuid - sysfs sysfs rw\n\
                  41 24 0:35 / /sys/fs/bpf rw,relatime shared:17 - bpf bpf rw,mode=700\n\
                  42 24 0:36 / /srv/bpf rw - bpf none rw\n";
        assert_eq!(bpffs_mounts(mi), vec!["/sys/fs/bpf", "/srv/bpf"]);
        assert!(bpffs_mounts("24 30 0:22 / /sys rw - sysfs sysfs rw\n").is_empty());
    }

    #[test]
    fn version_names_commit_and_object_digest() {
        let t = text(false);
        assert!(
            t.starts_with(&format!("havip {}\n", env!("CARGO_PKG_VERSION"))),
            "{t}"
        );
        assert!(t.contains(&format!("commit {COMMIT}")), "{t}");
        assert_eq!(XDP_SHA256.len(), 64, "a SHA-256 in hex");
        // The digest is the embedded object's, not just any file's.
        use sha2::Digest as _;
        let digest: String = sha2::Sha256::digest(crate::dataplane::OBJECT)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, XDP_SHA256);
        assert!(t.contains(&format!("sha256:{XDP_SHA256}")), "{t}");
        assert!(!t.contains("kernel "), "kernel facts only with -v: {t}");
    }
}
