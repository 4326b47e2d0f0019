//! Making sure a BPF filesystem is mounted where pins go.

use std::{ffi::CString, os::unix::ffi::OsStrExt as _, path::Path};

use anyhow::{bail, Context as _, Result};

/// Where the kernel's BPF filesystem is conventionally mounted.
pub const BPFFS: &str = "/sys/fs/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Mounts bpffs on `path` unless one is already there (as systemd and Cilium do).
pub fn ensure_bpffs(path: &Path) -> Result<()> {
    if is_bpffs(path)? {
        return Ok(());
    }
    let target = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated strings; a null data pointer is allowed.
    let rc = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            target.as_ptr(),
            c"bpf".as_ptr(),
            0,
            c"mode=0700".as_ptr().cast(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!(
            "{} is not a BPF filesystem and mounting one failed ({err}); mount it with \
             `mount -t bpf bpf {}`",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn is_bpffs(path: &Path) -> Result<bool> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: statfs fills a zeroed struct through a valid pointer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statfs {}", path.display()));
    }
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}
