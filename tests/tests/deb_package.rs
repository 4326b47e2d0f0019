//! The Debian package as an operator meets it: `dpkg -i` of what `cargo xtask deb` built (the
//! root tier's runner builds it first), every file where the unit and the docs say, the unit
//! verified at its installed path with its man pages, the samples valid, nothing enabled, and
//! `dpkg -P` leaving nothing behind. The package is purged even when the test fails. It refuses
//! to run where havip is already installed (it would remove the operator's).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use havip_lab::require_root;

/// Files the package must install, as the unit, havip(8) and the README name them.
const INSTALLED: &[&str] = &[
    "/usr/sbin/havip",
    "/lib/systemd/system/havip.service",
    "/etc/default/havip",
    "/usr/share/man/man8/havip.8.gz",
    "/usr/share/man/man8/havip-run.8.gz",
    "/usr/share/man/man5/havip.conf.5.gz",
    "/usr/share/bash-completion/completions/havip",
    "/usr/share/zsh/vendor-completions/_havip",
    "/usr/share/fish/vendor_completions.d/havip.fish",
    "/usr/share/doc/havip/examples/master.conf",
    "/usr/share/doc/havip/examples/backup.conf",
    "/usr/share/doc/havip/examples/seed-master.conf",
    "/usr/share/doc/havip/examples/seed-backup.conf",
    "/usr/share/doc/havip/examples/keepalived-v3.conf",
    "/usr/share/doc/havip/examples/havip.toml",
    "/usr/share/doc/havip/README.md",
    "/usr/share/doc/havip/config.md",
];

fn run(argv: &[&str]) -> Output {
    Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {argv:?}: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn installed() -> bool {
    run(&["dpkg-query", "-W", "-f", "${Status}", "havip"])
        .stdout
        .ends_with(b" installed")
}

/// Purges the package when the test ends, however it ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = run(&["dpkg", "-P", "havip"]);
    }
}

fn the_deb() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}: run `cargo xtask deb` first", dir.display()))
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("havip_") && n.ends_with(".deb"))
        })
        .collect();
    debs.sort_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    debs.pop()
        .unwrap_or_else(|| panic!("no havip_*.deb in {}: run `cargo xtask deb`", dir.display()))
}

#[test]
fn deb_installs_where_the_docs_say_enables_nothing_and_purges_clean() {
    require_root();
    assert!(
        !installed(),
        "havip is installed on this machine: this test would remove it"
    );
    let deb = the_deb();
    let _purge = Purge;
    let out = run(&["dpkg", "-i", deb.to_str().unwrap()]);
    assert!(out.status.success(), "dpkg -i: {}", text(&out));

    let listed = text(&run(&["dpkg", "-L", "havip"]));
    for f in INSTALLED {
        assert!(Path::new(f).exists(), "{f} missing; dpkg -L:\n{listed}");
    }
    // /etc/default/havip is a conffile: an operator's edits survive upgrades.
    let conffiles = text(&run(&["dpkg-query", "-W", "-f", "${Conffiles}", "havip"]));
    assert!(conffiles.contains("/etc/default/havip"), "{conffiles}");

    // The installed binary is the build's, with its object digest.
    let v = run(&["/usr/sbin/havip", "--version"]);
    let sha = text(&run(&[
        "sha256sum",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../havip/bpf/havip-xdp.o"),
    ]));
    let sha = sha.split_whitespace().next().unwrap();
    assert!(
        v.status.success() && text(&v).contains(&format!("sha256:{sha}")),
        "{}",
        text(&v)
    );

    // The unit at its real path: ExecStart exists, the man pages it names are found.
    let verify = run(&[
        "systemd-analyze",
        "verify",
        "/lib/systemd/system/havip.service",
    ]);
    let complaints: Vec<String> = text(&verify)
        .lines()
        .filter(|l| l.contains("havip"))
        .map(str::to_string)
        .collect();
    assert!(
        verify.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {complaints:?}"
    );
    for page in ["havip", "havip.conf", "havip-run"] {
        let w = run(&["man", "-w", page]);
        assert!(w.status.success(), "man -w {page}: {}", text(&w));
    }

    // Every sample is valid.
    let examples: Vec<PathBuf> = std::fs::read_dir("/usr/share/doc/havip/examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    for ex in &examples {
        let c = run(&["/usr/sbin/havip", "check-config", ex.to_str().unwrap()]);
        assert!(c.status.success(), "{}: {}", ex.display(), text(&c));
    }

    // Installed, not enabled: no surprise.
    let enabled = run(&["systemctl", "is-enabled", "havip.service"]);
    let state = text(&enabled);
    assert!(
        !enabled.status.success() && state.trim() == "disabled",
        "systemctl is-enabled havip: {state}"
    );

    // Purge: the package, its conffile and every file gone.
    let out = run(&["dpkg", "-P", "havip"]);
    assert!(out.status.success(), "dpkg -P: {}", text(&out));
    assert!(!installed(), "still installed after dpkg -P");
    for f in INSTALLED {
        assert!(!Path::new(f).exists(), "{f} left after dpkg -P");
    }
    assert!(!Path::new("/usr/share/doc/havip").exists());
}
