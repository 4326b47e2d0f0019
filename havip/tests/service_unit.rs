//! The shipped systemd unit (`packaging/havip.service`) passes `systemd-analyze verify`, with
//! its ExecStart pointed at the binary cargo just built (the packaged path, /usr/sbin/havip, is
//! checked by the .deb lab once installed), and says what the daemon relies on.

use std::{fs, process::Command};

const UNIT: &str = include_str!("../../packaging/havip.service");

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = std::env::temp_dir().join(format!("havip-unit-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("havip.service");
    let exe = env!("CARGO_BIN_EXE_havip");
    assert!(UNIT.contains("ExecStart=/usr/sbin/havip run $HAVIP_ARGS"));
    fs::write(&unit, UNIT.replace("/usr/sbin/havip", exe)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("running systemd-analyze (Debian package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = fs::remove_dir_all(&dir);
    // verify exits 0 on some warnings: any line about our unit is a failure too.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("havip")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

#[test]
fn unit_declares_what_the_daemon_relies_on() {
    let has = |line: &str| UNIT.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "EnvironmentFile=-/etc/default/havip",
        "RuntimeDirectory=havip",
        "LimitMEMLOCK=infinity",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "Restart=on-failure",
    ] {
        assert!(has(line), "the unit lacks {line:?}");
    }
    // The control socket and lock live where RuntimeDirectory= puts them.
    assert_eq!(havip::control::RUN_DIR, "/run/havip");
    // Every capability the daemon checks for at start-up is in the bounding set.
    let caps = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .unwrap();
    for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_PERFMON"] {
        assert!(caps.split_whitespace().any(|c| c == cap), "{cap}: {caps}");
    }
    assert!(UNIT.lines().any(|l| l.starts_with("WatchdogSec=")));
    // Installing enables nothing: WantedBy only takes effect through `systemctl enable`.
    assert!(has("WantedBy=multi-user.target"));
}
