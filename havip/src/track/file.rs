//! keepalived's `track_file`: a number read from a file whenever it is written, moved or
//! removed, followed with inotify on the file's directory (as keepalived does, so a file that
//! does not exist yet, or is replaced by a rename, is seen when it appears).

use std::{
    collections::HashMap,
    ffi::OsString,
    io::Read as _,
    os::{
        fd::{AsFd as _, AsRawFd, RawFd},
        unix::fs::OpenOptionsExt as _,
    },
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::{unix::AsyncFd, Interest};
use tracing::warn;

/// The most a value counts for: keepalived clamps what it reads to ±254.
pub const LIMIT: i64 = 254;

/// What keepalived reads from a tracked file: `strtol(first 127 bytes, base 0)` (leading
/// blanks, a sign, `0x` for hex, a leading `0` for octal; digits up to the first that is not
/// one; none = 0), clamped to ±254.
pub fn parse_value(bytes: &[u8]) -> i64 {
    let b = &bytes[..bytes.len().min(127)];
    let mut i = b
        .iter()
        .position(|c| !(*c == b' ' || (b'\t'..=b'\r').contains(c)))
        .unwrap_or(b.len());
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex = b.get(i) == Some(&b'0')
        && matches!(b.get(i + 1), Some(b'x' | b'X'))
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let (radix, start) = match (hex, b.get(i)) {
        (true, _) => (16, i + 2),
        (false, Some(b'0')) => (8, i),
        _ => (10, i),
    };
    let mut v: i64 = 0;
    for &c in &b[start..] {
        let Some(d) = char::from(c).to_digit(radix) else {
            break;
        };
        v = v
            .saturating_mul(i64::from(radix))
            .saturating_add(i64::from(d));
    }
    (if neg { -v } else { v }).clamp(-LIMIT, LIMIT)
}

/// The value of the file at `path` now: 0 when it is missing or cannot be read (keepalived's
/// rule). Opened non-blocking, so a FIFO put there never stalls the daemon.
pub fn read_value(path: &Path) -> i64 {
    let mut buf = [0u8; 127];
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    else {
        return 0;
    };
    match f.read(&mut buf) {
        Ok(n) => parse_value(&buf[..n]),
        Err(_) => 0,
    }
}

/// keepalived `init_file VALUE [overwrite]`: writes VALUE to `path` if it is missing, or in
/// any case with `overwrite`.
pub fn init_file(path: &Path, value: i64, overwrite: bool) -> Result<()> {
    if !overwrite && std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    std::fs::write(path, format!("{value}\n"))
        .with_context(|| format!("init_file: writing {}", path.display()))
}

/// Where a tracked file is watched: its directory (resolved) and its name in it.
fn resolve(path: &Path) -> Result<(PathBuf, OsString)> {
    // An existing file is followed where its links lead (keepalived's realpath()).
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_owned();
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("the directory of {} is not there", path.display()))?;
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    Ok((dir, name))
}

struct Fd(Inotify);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Follows tracked files until dropped.
pub struct FileWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FileWatch {
    /// Watches `files` (name, path); calls `changed(name, value)` whenever a file's value may
    /// have changed (written and closed, moved in: its value; removed or moved away: 0), until
    /// `changed` returns false or the watch is dropped. Returns the watch and each file's value
    /// read once the watches are in place, so that no change falls between the two.
    pub fn spawn(
        files: &[(String, PathBuf)],
        mut changed: impl FnMut(&str, i64) -> bool + Send + 'static,
    ) -> Result<(FileWatch, Vec<i64>)> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .context("inotify_init1")?;
        let mask = AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_ONLYDIR;
        let mut by_wd: HashMap<WatchDescriptor, Vec<(OsString, String, PathBuf)>> = HashMap::new();
        for (name, path) in files {
            let (dir, file) = resolve(path).with_context(|| format!("track_file {name}"))?;
            let wd = ino
                .add_watch(&dir, mask)
                .with_context(|| format!("track_file {name}: watching {}", dir.display()))?;
            by_wd
                .entry(wd)
                .or_default()
                .push((file.clone(), name.clone(), dir.join(&file)));
        }
        let now = files.iter().map(|(_, p)| read_value(p)).collect();
        // SAFETY: `Fd` owns the inotify descriptor and always returns it.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(ino), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
            .context("registering inotify")?;
        let task = tokio::spawn(async move {
            loop {
                let Ok(mut ready) = fd.readable().await else {
                    return;
                };
                let events = match ready.get_inner().0.read_events() {
                    Ok(ev) => ev,
                    Err(nix::errno::Errno::EAGAIN) => {
                        ready.clear_ready();
                        continue;
                    }
                    Err(e) => {
                        warn!("track_file: reading inotify: {e}; tracked files are no longer followed");
                        return;
                    }
                };
                for ev in events {
                    if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                        // Events were lost: read every file again.
                        for (_, name, path) in by_wd.values().flatten() {
                            if !changed(name, read_value(path)) {
                                return;
                            }
                        }
                        continue;
                    }
                    if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
                        warn!("track_file: a watched directory was removed; files in it count as 0 until havip is reloaded");
                        for (_, name, _) in by_wd.get(&ev.wd).into_iter().flatten() {
                            if !changed(name, 0) {
                                return;
                            }
                        }
                        continue;
                    }
                    let Some(entries) = by_wd.get(&ev.wd) else {
                        continue;
                    };
                    for (file, name, path) in entries {
                        if ev.name.as_ref() != Some(file) {
                            continue;
                        }
                        let gone = ev
                            .mask
                            .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM);
                        let value = if gone { 0 } else { read_value(path) };
                        if !changed(name, value) {
                            return;
                        }
                    }
                }
            }
        });
        Ok((FileWatch { task }, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn values_are_read_as_keepalived_s_strtol_reads_them() {
        for (text, v) in [
            ("", 0),
            ("0", 0),
            ("5\n", 5),
            ("  -20 trailing words", -20),
            ("+7", 7),
            ("0x10", 16),
            ("0X1f\n", 31),
            ("010", 8),
            ("09", 0),
            ("0x", 0),
            ("abc", 0),
            ("99999999999999999999999", 254),
            ("-1000", -254),
            ("\t\n 3", 3),
        ] {
            assert_eq!(parse_value(text.as_bytes()), v, "{text:?}");
        }
        // Only the first 127 bytes count.
        let long = format!("{}5", " ".repeat(127));
        assert_eq!(parse_value(long.as_bytes()), 0);
    }

    #[test]
    fn init_file_writes_a_missing_file_and_overwrites_only_when_told() {
        let dir = TempDir::new("initfile");
        let p = dir.path().join("v");
        init_file(&p, 3, false).unwrap();
        assert_eq!(read_value(&p), 3);
        init_file(&p, 9, false).unwrap();
        assert_eq!(read_value(&p), 3, "an existing file is kept");
        init_file(&p, 9, true).unwrap();
        assert_eq!(read_value(&p), 9);
        assert_eq!(read_value(&dir.path().join("missing")), 0);
    }

    async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, i64)>) -> (String, i64) {
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .expect("an event")
            .unwrap()
    }

    /// Writes, renames over, removal and a file that appears later are all seen.
    #[tokio::test]
    async fn changes_are_followed_through_the_directory() {
        let dir = TempDir::new("watch");
        let a = dir.path().join("a");
        let b = dir.path().join("later");
        std::fs::write(&a, "4").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (_w, now) = FileWatch::spawn(
            &[("A".into(), a.clone()), ("B".into(), b.clone())],
            move |n, v| tx.send((n.to_string(), v)).is_ok(),
        )
        .unwrap();
        assert_eq!(now, [4, 0]);
        std::fs::write(&a, "-12\n").unwrap();
        assert_eq!(next(&mut rx).await, ("A".into(), -12));
        std::fs::write(&b, "0x20").unwrap();
        assert_eq!(next(&mut rx).await, ("B".into(), 32));
        let tmp = dir.path().join("tmp");
        std::fs::write(&tmp, "7").unwrap();
        std::fs::rename(&tmp, &a).unwrap();
        assert_eq!(next(&mut rx).await, ("A".into(), 7));
        std::fs::remove_file(&a).unwrap();
        assert_eq!(next(&mut rx).await, ("A".into(), 0));
        assert!(
            FileWatch::spawn(&[("C".into(), dir.path().join("no/such"))], |_, _| true).is_err()
        );
    }
}
