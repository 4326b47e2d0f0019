//! One daemon per network namespace: an exclusive `flock` on `/run/havip/<ns>.lock`.

use std::{
    fs::{self, File, OpenOptions},
    io::{Read as _, Seek as _, Write as _},
    path::Path,
};

use anyhow::{bail, Context as _, Result};

/// Held for the daemon's lifetime; the kernel releases it when the process dies, however it dies.
pub struct NamespaceLock {
    _file: File,
}

/// Takes the lock for the namespace called `ns` (see `control::ns_name`).
pub fn acquire(ns: &str) -> Result<NamespaceLock> {
    let dir = Path::new(crate::control::RUN_DIR);
    crate::control::prepare_dir(dir)?;
    let path = dir.join(format!("{ns}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
        Err(fs::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            bail!(
                "another havip (pid {}) already runs in this network namespace ({}): stop it first",
                pid.trim(),
                path.display()
            );
        }
    }
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(NamespaceLock { _file: file })
}
