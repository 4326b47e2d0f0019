//! Build facts for `havip --version`: the git commit (when built from a git checkout; the
//! `HAVIP_GIT_COMMIT` variable, or "unknown" from a source tarball or the .deb's source) and
//! the SHA-256 of the XDP object that `dataplane` embeds, computed from the same file.

use std::{path::Path, process::Command};

use sha2::{Digest as _, Sha256};

fn main() {
    let object = Path::new("bpf/havip-xdp.o");
    println!("cargo:rerun-if-changed={}", object.display());
    let bytes = std::fs::read(object).expect("reading bpf/havip-xdp.o (committed in the repo)");
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=HAVIP_XDP_SHA256={digest}");

    println!("cargo:rerun-if-env-changed=HAVIP_GIT_COMMIT");
    let commit = std::env::var("HAVIP_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown (built outside git)".into());
    println!("cargo:rustc-env=HAVIP_GIT_COMMIT={commit}");
}

/// `git rev-parse --short=12 HEAD`, and the files whose change means another commit (HEAD, the
/// branch it names, packed refs) so that cargo re-runs this script after a commit or checkout.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])?];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch.extend(git(&["rev-parse", "--git-path", &branch]));
    }
    watch.extend(git(&["rev-parse", "--git-path", "packed-refs"]));
    // A watched path that does not exist would re-run this script at every build.
    for path in watch.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
    }
    Some(commit)
}
