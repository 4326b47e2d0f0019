//! Log lines as each reader wants them, from the real binary: timestamps on a terminal or in a
//! file; under systemd (stderr is the stream `JOURNAL_STREAM` names) none of our own and a
//! `<N>` priority prefix for journald; `--log-format json` one object a line. The lines come
//! from `havip run` on a file with a warning, run without capabilities (`setpriv
//! --bounding-set=-all`, as root too), so the run stops at the privilege check before touching
//! anything. (An interface that does not exist no longer stopped it: the instance waits in
//! FAULT for it, and a root run went on in the machine's own namespace.)

use std::{fs, os::unix::fs::MetadataExt as _, path::PathBuf, process::Command};

const CONF: &str = "vrrp_instance VI_1 {\n  state BACKUP\n  interface hvnone0\n  \
                    virtual_router_id 51\n  priority 100\n  \
                    authentication { auth_type PASS auth_pass 1111 }\n  \
                    virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n";

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `havip ARGS run --config CONF` with stderr into a file; `journal`: set JOURNAL_STREAM
/// to that file's device:inode, or (false) to another file's. Returns stderr.
fn run(name: &str, args: &[&str], journal: Option<bool>) -> String {
    let dir = Dir(std::env::temp_dir().join(format!("havip-log-{name}-{}", std::process::id())));
    fs::create_dir_all(&dir.0).unwrap();
    let conf = dir.0.join("k.conf");
    fs::write(&conf, CONF).unwrap();
    let err_path = dir.0.join("stderr");
    let err = fs::File::create(&err_path).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-all", "--inh-caps=-all", "--"])
        .arg(env!("CARGO_BIN_EXE_havip"))
        .args(args)
        .args(["run", "--config"])
        .arg(&conf)
        .env_remove("HAVIP_LOG")
        .env_remove("JOURNAL_STREAM")
        .stderr(err);
    if let Some(ours) = journal {
        let m = fs::metadata(if ours { &err_path } else { &conf }).unwrap();
        cmd.env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()));
    }
    let status = cmd.status().unwrap();
    assert!(!status.success(), "without capabilities the run must fail");
    fs::read_to_string(&err_path).unwrap()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[test]
fn text_logs_carry_timestamps_off_the_journal() {
    for (name, journal) in [("plain", None), ("other", Some(false))] {
        let err = run(name, &[], journal);
        let line = first_line(&err);
        // 2026-12-01T01:40:31.917186Z  WARN havip::app: ...
        assert!(
            line.len() > 20 && line.as_bytes()[4] == b'-' && line.contains("WARN"),
            "{name}: {err}"
        );
        // The privilege check's error.
        assert!(err.contains("\nhavip: error: "), "{name}: {err}");
    }
}

#[test]
fn journal_gets_priorities_and_no_timestamps() {
    let err = run("journal", &[], Some(true));
    assert!(
        first_line(&err).starts_with("<4> WARN havip::app: "),
        "{err}"
    );
    assert!(err.contains("\n<3>havip: error: "), "{err}");
}

#[test]
fn json_lines_for_shippers() {
    let err = run("json", &["--log-format", "json"], Some(true));
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{err}")))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0]["level"], "WARN");
    assert!(lines[0]["timestamp"]
        .as_str()
        .is_some_and(|t| t.starts_with("20")));
    assert!(lines[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("WITHOUT authentication")));
    assert_eq!(lines[1]["level"], "ERROR");
}
