//! keepalived's notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`): each transition written as one
//! line, `INSTANCE "NAME" STATE PRIORITY` (`notify_fifo()` in keepalived/vrrp/vrrp_notify.c), so
//! that readers written for keepalived work unchanged.
//!
//! As keepalived does:
//! - a missing FIFO is made (and removed again at exit); an existing path must be a FIFO;
//! - it is opened read-write and non-blocking: opening never waits for a reader, and a write
//!   never blocks the daemon nor raises SIGPIPE when the reader is gone. A line (well under
//!   `PIPE_BUF`) goes in whole or not at all: a full pipe drops it. havip counts the drops and
//!   warns at the first of each run of them, where keepalived drops silently.

use std::{
    fs::{self, File},
    io::{ErrorKind, Write as _},
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use anyhow::{bail, Context as _, Result};
use tracing::{info, warn};

use crate::model::FifoSpec;

/// One line as keepalived writes it: `INSTANCE "VI_1" MASTER 150` (a group: `GROUP`, priority 0).
pub fn line(kind: &str, name: &str, state: &str, priority: u8) -> String {
    format!("{kind} \"{name}\" {state} {priority}\n")
}

/// An open notify FIFO.
#[derive(Debug)]
pub struct Fifo {
    spec: FifoSpec,
    file: File,
    /// havip made it, so removes it when done with it.
    made: bool,
    /// Lines dropped because the pipe was full (nobody reading).
    dropped: AtomicU64,
    /// The pipe was full at the last write: warn again only after a line went through.
    full: std::sync::atomic::AtomicBool,
}

impl Fifo {
    /// Opens the FIFO of `spec`, making it (owned by its user and group) if it is missing.
    pub fn open(spec: &FifoSpec) -> Result<Fifo> {
        let path = &spec.path;
        let made = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_fifo() => false,
            Ok(_) => bail!(
                "notify FIFO {}: exists and is not a FIFO (keepalived refuses it too); remove it, or name another path",
                path.display()
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let owner = owner(spec)?;
                nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                    .with_context(|| format!("making the notify FIFO {}", path.display()))?;
                if let Some((uid, gid)) = owner {
                    if let Err(e) = nix::unistd::chown(path, Some(uid), Some(gid)) {
                        let _ = fs::remove_file(path);
                        return Err(e).with_context(|| {
                            format!("giving the notify FIFO {} to its owner", path.display())
                        });
                    }
                }
                true
            }
            Err(e) => {
                return Err(e).with_context(|| format!("notify FIFO {}", path.display()));
            }
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
            .open(path);
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                if made {
                    let _ = fs::remove_file(path);
                }
                return Err(e)
                    .with_context(|| format!("opening the notify FIFO {}", path.display()));
            }
        };
        info!(fifo = %path.display(), made, "notify FIFO open");
        Ok(Fifo {
            spec: spec.clone(),
            file,
            made,
            dropped: AtomicU64::new(0),
            full: Default::default(),
        })
    }

    /// Writes one line, whole or not at all.
    fn write(&self, line: &str) {
        match (&self.file).write(line.as_bytes()) {
            Ok(n) if n == line.len() => {
                if self.full.swap(false, Ordering::Relaxed) {
                    info!(fifo = %self.spec.path.display(), dropped = self.dropped.load(Ordering::Relaxed), "notify FIFO read again");
                }
            }
            Ok(_) | Err(_) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if !self.full.swap(true, Ordering::Relaxed) {
                    warn!(fifo = %self.spec.path.display(), dropped, "notify FIFO full (is its reader running?): lines are dropped until it reads");
                }
            }
        }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.made {
            let _ = fs::remove_file(&self.spec.path);
        }
    }
}

/// The uid and gid a FIFO havip makes is given: its user's (and that user's group, unless one is
/// named); none when no user is named.
fn owner(spec: &FifoSpec) -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>> {
    let Some(name) = &spec.user else {
        return Ok(None);
    };
    let user = nix::unistd::User::from_name(name)
        .with_context(|| format!("looking up user {name}"))?
        .with_context(|| format!("notify FIFO {}: no user {name}", spec.path.display()))?;
    let gid = match &spec.group {
        None => user.gid,
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .with_context(|| format!("looking up group {g}"))?
                .with_context(|| format!("notify FIFO {}: no group {g}", spec.path.display()))?
                .gid
        }
    };
    Ok(Some((user.uid, gid)))
}

/// The daemon's notify FIFOs, replaced as a whole at a reload.
#[derive(Debug, Default)]
pub struct Fifos(Mutex<Vec<Fifo>>);

impl Fifos {
    /// Moves to the FIFOs of `specs`: those already open stay open (their readers see no
    /// gap), new ones are opened, the others closed (and removed if havip made them). All or
    /// nothing: on an error the FIFOs open before stay as they were.
    pub fn set(&self, specs: &[FifoSpec]) -> Result<()> {
        let mut fifos = self.0.lock().expect("notify FIFOs");
        let mut wanted: Vec<&FifoSpec> = Vec::new();
        for spec in specs {
            // notify_fifo and vrrp_notify_fifo naming one FIFO: one line each, not two.
            if !wanted.iter().any(|w| w.path == spec.path) {
                wanted.push(spec);
            }
        }
        // Open the new paths first: an error drops them (removing those made) and leaves the
        // open ones untouched. A path already open stays open as it is (a new owner applies to
        // a FIFO havip makes, at the next start).
        let mut opened: Vec<Fifo> = wanted
            .iter()
            .filter(|w| !fifos.iter().any(|f| f.spec.path == w.path))
            .map(|w| Fifo::open(w))
            .collect::<Result<_>>()?;
        let mut old = std::mem::take(&mut *fifos);
        for w in wanted {
            let from = |v: &mut Vec<Fifo>| {
                let i = v.iter().position(|f| f.spec.path == w.path)?;
                Some(v.remove(i))
            };
            if let Some(f) = from(&mut old).or_else(|| from(&mut opened)) {
                fifos.push(f);
            }
        }
        Ok(())
    }

    /// Writes `line` to every FIFO.
    pub fn write(&self, line: &str) {
        for f in self.0.lock().expect("notify FIFOs").iter() {
            f.write(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::testutil::TempDir;

    fn spec(path: &std::path::Path) -> FifoSpec {
        FifoSpec {
            path: path.to_path_buf(),
            user: None,
            group: None,
        }
    }

    /// A reader of the FIFO that never blocks (the test's own end).
    fn reader(path: &std::path::Path) -> File {
        fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    fn read_all(r: &mut File) -> String {
        let mut buf = vec![0; 1 << 20];
        let n = r.read(&mut buf).unwrap_or(0);
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn the_line_is_keepalived_s() {
        assert_eq!(
            line("INSTANCE", "VI_1", "MASTER", 150),
            "INSTANCE \"VI_1\" MASTER 150\n"
        );
        assert_eq!(line("GROUP", "G1", "FAULT", 0), "GROUP \"G1\" FAULT 0\n");
    }

    /// A missing FIFO is made, written, and removed at the end; one that existed is kept.
    #[test]
    fn a_missing_fifo_is_made_and_removed_an_existing_one_kept() {
        let dir = TempDir::new("fifo");
        let path = dir.path().join("notify.fifo");
        let fifos = Fifos::default();
        fifos.set(&[spec(&path)]).unwrap();
        assert!(fs::symlink_metadata(&path).unwrap().file_type().is_fifo());
        let mut r = reader(&path);
        fifos.write(&line("INSTANCE", "VI_1", "BACKUP", 100));
        fifos.write(&line("INSTANCE", "VI_1", "MASTER", 100));
        assert_eq!(
            read_all(&mut r),
            "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n"
        );
        fifos.set(&[]).unwrap();
        assert!(!path.exists(), "the FIFO havip made is removed");

        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        fifos.set(&[spec(&path)]).unwrap();
        fifos.set(&[]).unwrap();
        assert!(path.exists(), "an operator's FIFO stays");
    }

    /// A path that is not a FIFO is refused, and the FIFOs open before stay open.
    #[test]
    fn a_path_that_is_not_a_fifo_is_refused_and_nothing_changes() {
        let dir = TempDir::new("fifo");
        let good = dir.path().join("a.fifo");
        let file = dir.path().join("plain");
        fs::write(&file, "x").unwrap();
        let fifos = Fifos::default();
        fifos.set(&[spec(&good)]).unwrap();
        let third = dir.path().join("c.fifo");
        let err = fifos
            .set(&[spec(&good), spec(&third), spec(&file)])
            .unwrap_err();
        assert!(format!("{err:#}").contains("is not a FIFO"), "{err:#}");
        assert!(
            !third.exists(),
            "a FIFO made for the refused set is removed"
        );
        let mut r = reader(&good);
        fifos.write("x\n");
        assert_eq!(read_all(&mut r), "x\n", "the FIFO open before still works");
        assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    }

    /// Nobody reading: the pipe fills, lines are dropped and counted, the daemon never blocks;
    /// once read, lines go through again.
    #[test]
    fn a_full_fifo_drops_lines_without_blocking() {
        let dir = TempDir::new("fifo");
        let path = dir.path().join("full.fifo");
        let fifos = Fifos::default();
        fifos.set(&[spec(&path)]).unwrap();
        let l = line("INSTANCE", "VI_1", "MASTER", 100);
        let started = std::time::Instant::now();
        for _ in 0..10_000 {
            fifos.write(&l); // 270 kB: more than a pipe holds (64 kB)
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let dropped = fifos.0.lock().unwrap()[0].dropped.load(Ordering::Relaxed);
        assert!(dropped > 5_000, "{dropped} dropped");
        let mut r = reader(&path);
        let text = read_all(&mut r);
        assert!(text.lines().all(|x| x == l.trim_end()), "only whole lines");
        assert_eq!(text.lines().count() as u64, 10_000 - dropped);
        fifos.write(&l);
        assert_eq!(read_all(&mut r), l);
    }

    /// notify_fifo and vrrp_notify_fifo naming one FIFO get each line once.
    #[test]
    fn one_path_named_twice_gets_one_line() {
        let dir = TempDir::new("fifo");
        let path = dir.path().join("n.fifo");
        let fifos = Fifos::default();
        fifos.set(&[spec(&path), spec(&path)]).unwrap();
        let mut r = reader(&path);
        fifos.write("y\n");
        assert_eq!(read_all(&mut r), "y\n");
    }
}
