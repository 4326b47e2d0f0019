//! `havip-docs OUT` (what `cargo xtask man` runs): the manual pages and shell completions,
//! generated so they cannot drift from what they describe: havip(8) and one page per subcommand from the clap definitions
//! (clap_mangen), havip.conf(5) from `docs/config.md` (a small Markdown-to-roff converter for the
//! constructs that page uses), and bash, zsh and fish completions (clap_complete). The .deb is
//! built from a fresh run, so the packaged pages are always the current docs. A crate of its
//! own so that xtask does not depend on havip (`cargo xtask build-ebpf` must work while havip
//! does not build, e.g. half-way through an ABI change).

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use clap_complete::Shell;

/// The workspace root (this crate lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("havip-docs is inside the workspace")
        .to_path_buf()
}

fn main() -> Result<()> {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: havip-docs OUT_DIR (man/ and completions/ are written under it)")?;
    for f in generate(&out)? {
        println!("{}", f.display());
    }
    Ok(())
}

/// Everything generated, relative to the output directory, and where the package installs it.
const FILES: &[(&str, &str)] = &[
    ("man/havip.8", "usr/share/man/man8/havip.8"),
    ("man/havip-run.8", "usr/share/man/man8/havip-run.8"),
    ("man/havip-stats.8", "usr/share/man/man8/havip-stats.8"),
    (
        "man/havip-check-config.8",
        "usr/share/man/man8/havip-check-config.8",
    ),
    ("man/havip-probe.8", "usr/share/man/man8/havip-probe.8"),
    ("man/havip-doctor.8", "usr/share/man/man8/havip-doctor.8"),
    (
        "man/havip-handover.8",
        "usr/share/man/man8/havip-handover.8",
    ),
    ("man/havip.conf.5", "usr/share/man/man5/havip.conf.5"),
    (
        "completions/havip",
        "usr/share/bash-completion/completions/havip",
    ),
    (
        "completions/_havip",
        "usr/share/zsh/vendor-completions/_havip",
    ),
    (
        "completions/havip.fish",
        "usr/share/fish/vendor_completions.d/havip.fish",
    ),
];

/// Generates every page and completion into `out` and returns the files written.
fn generate(out: &Path) -> Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    for d in [&man, &completions] {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut written = Vec::new();
    let mut cmd = havip::app::command().disable_help_subcommand(true);
    cmd.build();
    let main_page = man.join("havip.8");
    fs::write(&main_page, main_page_roff(&cmd)?)?;
    written.push(main_page);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = clap_mangen::Man::new(sub.clone())
            .section("8")
            .manual("havip")
            .generate_to(&man)?;
        written.push(page);
    }
    let config_md = root().join("docs/config.md");
    let md = fs::read_to_string(&config_md)
        .with_context(|| format!("reading {}", config_md.display()))?;
    let conf_page = man.join("havip.conf.5");
    fs::write(&conf_page, config_page_roff(&md))?;
    written.push(conf_page);
    for (shell, name) in [
        (Shell::Bash, "havip"),
        (Shell::Zsh, "_havip"),
        (Shell::Fish, "havip.fish"),
    ] {
        let path = completions.join(name);
        let mut f =
            fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        clap_complete::generate(shell, &mut cmd.clone(), "havip", &mut f);
        written.push(path);
    }
    // A new subcommand gets a page of its own: it must be packaged too.
    for f in &written {
        let rel = f
            .strip_prefix(out)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        if !FILES.iter().any(|(src, _)| *src == rel) {
            anyhow::bail!(
                "{rel} is generated but not packaged: add it to man::FILES (and the assets of \
                 havip/Cargo.toml if no glob covers it)"
            );
        }
    }
    Ok(written)
}

/// havip(8): clap_mangen's sections, then what the flags do not say: files, signals, the
/// environment, the service.
fn main_page_roff(cmd: &clap::Command) -> Result<String> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("havip");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    let mut s = String::from_utf8(out)?;
    s.push_str(&markdown_to_roff(MAIN_EXTRA));
    let mut out = Vec::new();
    man.render_version_section(&mut out)?;
    s.push_str(&String::from_utf8(out)?);
    Ok(s)
}

/// The sections of havip(8) beyond the flags, in the Markdown subset [`markdown_to_roff`] reads.
const MAIN_EXTRA: &str = "\
## Files

| path | what |
|---|---|
| `/etc/havip/havip.conf` | the configuration `havip run` reads without `--config` or `--iface` (keepalived.conf syntax; see havip.conf(5)) |
| `/etc/havip/havip.toml` | the same in TOML; having both is an error |
| `/etc/keepalived/keepalived.conf` | read when neither exists, with a log line saying so |
| `/etc/default/havip` | `HAVIP_ARGS=\"...\"`: extra arguments for the systemd unit |
| `/run/havip/ns<inode>.sock` | the control socket `havip stats` reads (one daemon per network namespace) |
| `/usr/share/doc/havip/examples/` | sample configurations, among them a MASTER/BACKUP pair |

## Signals

- SIGHUP: re-read the configuration file; unchanged instances keep their state, a bad file is refused and the running configuration kept.
- SIGINT, SIGTERM: a master sends a priority-0 advert, releases its VIPs, detaches the XDP program and exits 0.

## Environment

| variable | meaning |
|---|---|
| `HAVIP_LOG` | log filter, e.g. `debug` (every advert) or `havip=info`; default `info` |
| `NOTIFY_SOCKET`, `WATCHDOG_USEC` | set by systemd (`Type=notify`, `WatchdogSec=`): READY, RELOADING, STOPPING and watchdog pings from the election loop |
| `JOURNAL_STREAM` | set by systemd: when it names standard error, log lines carry no timestamp of their own and a journald priority |

## Service

`havip.service` (installed, not enabled): `systemctl enable --now havip` starts it; `systemctl reload havip` sends SIGHUP; `journalctl -u havip` shows one line per state transition. `havip doctor` checks the host for what breaks VRRP.

## See also

havip.conf(5), keepalived(8), keepalived.conf(5), systemd.service(5)
";

/// havip.conf(5): `docs/config.md` under a NAME and FILES section of its own.
fn config_page_roff(md: &str) -> String {
    let mut s = String::from(
        ".TH HAVIP.CONF 5 \"\" \"havip\" \"havip\"\n.SH NAME\nhavip.conf \\- havip's \
         configuration: keepalived.conf as it is, or TOML\n",
    );
    // The page's own title is the NAME above.
    let body: String = md
        .lines()
        .skip_while(|l| !l.starts_with("# "))
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    s.push_str(&markdown_to_roff(&format!("## Description\n{body}")));
    s.push_str(&markdown_to_roff(
        "## Files\n\n`havip run` without `--config`: `/etc/havip/havip.conf` (keepalived syntax) \
         or `/etc/havip/havip.toml`, else `/etc/keepalived/keepalived.conf`. Samples: \
         `/usr/share/doc/havip/examples/`.\n\n## See also\n\nhavip(8), keepalived.conf(5)\n",
    ));
    s
}

/// The Markdown subset havip's docs use, as man(7) roff: `##` sections, `###`/`####`
/// subsections, paragraphs, `- ` lists (continued by indented lines), fenced code, pipe tables
/// (one `.TP` entry per row: the first cell as the tag, the others prefixed by their column's
/// name), and inline `code`, **bold** and [links](...).
fn markdown_to_roff(md: &str) -> String {
    let mut out = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("```") {
            out.push_str(".PP\n.RS 4\n.nf\n");
            i += 1;
            while i < lines.len() && !lines[i].starts_with("```") {
                out.push_str(&escape_line(lines[i]));
                out.push('\n');
                i += 1;
            }
            out.push_str(".fi\n.RE\n");
            i += 1;
        } else if let Some(h) = line.strip_prefix("## ") {
            out.push_str(&format!(".SH {}\n", escape_text(&h.to_uppercase())));
            i += 1;
        } else if let Some(h) = line
            .strip_prefix("#### ")
            .or_else(|| line.strip_prefix("### "))
            .or_else(|| line.strip_prefix("# "))
        {
            out.push_str(&format!(".SS \"{}\"\n", inline(h).replace('"', "\\(dq")));
            i += 1;
        } else if line.starts_with('|') {
            let mut rows: Vec<Vec<String>> = Vec::new();
            while i < lines.len() && lines[i].starts_with('|') {
                let cells = split_row(lines[i]);
                if !cells
                    .iter()
                    .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'))
                {
                    rows.push(cells);
                }
                i += 1;
            }
            let header = rows.first().cloned().unwrap_or_default();
            for row in rows.iter().skip(1) {
                out.push_str(".TP\n");
                out.push_str(&line_of(&inline(row.first().map_or("", String::as_str))));
                for (j, cell) in row.iter().enumerate().skip(1) {
                    if cell.is_empty() {
                        continue;
                    }
                    let text = if header.len() > 2 {
                        format!("{}: {}", header.get(j).map_or("", String::as_str), cell)
                    } else {
                        cell.clone()
                    };
                    if j > 1 {
                        out.push_str(".br\n");
                    }
                    out.push_str(&line_of(&inline(&text)));
                }
            }
        } else if let Some(item) = line.strip_prefix("- ") {
            let mut text = item.to_string();
            i += 1;
            while i < lines.len() && lines[i].starts_with("  ") && !lines[i].trim().is_empty() {
                text.push(' ');
                text.push_str(lines[i].trim());
                i += 1;
            }
            out.push_str(".IP \\(bu 2\n");
            out.push_str(&line_of(&inline(&text)));
        } else if line.trim().is_empty() {
            i += 1;
        } else {
            let mut text = line.trim().to_string();
            i += 1;
            while i < lines.len() && is_paragraph_line(lines[i]) {
                text.push(' ');
                text.push_str(lines[i].trim());
                i += 1;
            }
            out.push_str(".PP\n");
            out.push_str(&line_of(&inline(&text)));
        }
    }
    out
}

fn is_paragraph_line(l: &str) -> bool {
    !(l.trim().is_empty()
        || l.starts_with('#')
        || l.starts_with('|')
        || l.starts_with("```")
        || l.starts_with("- "))
}

/// A text line for roff: a leading `.` or `'` would be read as a request.
fn line_of(text: &str) -> String {
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}\n")
    } else {
        format!("{text}\n")
    }
}

fn escape_text(s: &str) -> String {
    s.replace('\\', "\\e")
}

fn escape_line(s: &str) -> String {
    let s = escape_text(s);
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// `a | b` cells, trimmed; `\|` inside a cell is a literal bar.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    let mut in_code = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '`' => {
                in_code = !in_code;
                cells.last_mut().unwrap().push(c);
            }
            '|' if !in_code => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_string()).collect()
}

/// Inline Markdown to roff fonts: `code` and **bold** in bold, [text](url) as its text.
fn inline(s: &str) -> String {
    let s = escape_text(s);
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(pos) = rest.find(['`', '*', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(code) = tail.strip_prefix('`') {
            if let Some(end) = code.find('`') {
                out.push_str(&format!("\\fB{}\\fR", &code[..end]));
                rest = &code[end + 1..];
                continue;
            }
        } else if let Some(bold) = tail.strip_prefix("**") {
            if let Some(end) = bold.find("**") {
                // Code inside bold is bold already: its backquotes go.
                out.push_str(&format!("\\fB{}\\fR", bold[..end].replace('`', "")));
                rest = &bold[end + 2..];
                continue;
            }
        } else if let Some(link) = tail.strip_prefix('[') {
            if let Some(close) = link.find("](") {
                if let Some(end) = link[close..].find(')') {
                    out.push_str(&link[..close]);
                    rest = &link[close + end + 1..];
                    continue;
                }
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn markdown_constructs_become_roff() {
        let roff = markdown_to_roff(
            "## Signals\n\nA `code` word and **bold**,\ncontinued [here](x.md).\n\n\
             - **Every `{` cuts**: one\n  two\n\n```\n.leading dot \\ back\n```\n\n\
             | key | keepalived | havip |\n|---|---|---|\n| `a` | x | y \\| z |\n",
        );
        for want in [
            ".SH SIGNALS\n",
            ".PP\nA \\fBcode\\fR word and \\fBbold\\fR, continued here.\n",
            ".IP \\(bu 2\n\\fBEvery { cuts\\fR: one two\n",
            ".nf\n\\&.leading dot \\e back\n.fi\n",
            ".TP\n\\fBa\\fR\nkeepalived: x\n.br\nhavip: y | z\n",
        ] {
            assert!(roff.contains(want), "{want:?} not in:\n{roff}");
        }
    }

    /// `man -l` on each generated page: groff's warnings fail the test, and the pages say what
    /// they are generated from.
    #[test]
    fn generated_pages_render_cleanly() {
        let out = std::env::temp_dir().join(format!("havip-man-{}", std::process::id()));
        let written = generate(&out).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
            .collect();
        let listed: Vec<&str> = FILES.iter().map(|(f, _)| *f).collect();
        let mut sorted = names.clone();
        sorted.sort();
        let mut want: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(sorted, want, "FILES lists what generate writes");
        let render = |page: &str| {
            let o = Command::new("man")
                .args(["--warnings", "-E", "UTF-8", "-l"])
                .arg(out.join(page))
                .env("MANWIDTH", "100")
                .env("MAN_KEEP_FORMATTING", "0")
                .output()
                .expect("man (Debian package man-db)");
            let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(o.status.success() && stderr.is_empty(), "{page}: {stderr}");
            // Bold and underline come as overstrikes ("c\bc", "_\bc") when not on a terminal.
            let text = String::from_utf8_lossy(&o.stdout);
            let chars: Vec<char> = text.chars().collect();
            let mut plain = String::new();
            let mut i = 0;
            while i < chars.len() {
                if chars.get(i + 1) == Some(&'\u{8}') {
                    i += 2;
                    continue;
                }
                plain.push(chars[i]);
                i += 1;
            }
            plain.replace(['\u{2010}', '\u{2212}'], "-")
        };
        let run = render("man/havip-run.8");
        for flag in ["--iface", "--vip", "--config", "--xdp-mode"] {
            assert!(run.contains(flag), "havip-run(8) lacks {flag}");
        }
        let main = render("man/havip.8");
        for want in [
            "havip-run(8)",
            "/etc/default/havip",
            "--log-format",
            "--version",
        ] {
            assert!(main.contains(want), "havip(8) lacks {want}");
        }
        let conf = render("man/havip.conf.5");
        let md = fs::read_to_string(root().join("docs/config.md")).unwrap();
        for h in md.lines().filter_map(|l| l.strip_prefix("## ")) {
            assert!(
                conf.contains(&h.to_uppercase()),
                "havip.conf(5) lacks section {h:?}"
            );
        }
        assert!(conf.contains("virtual_router_id"));
        let bash = fs::read_to_string(out.join("completions/havip")).unwrap();
        assert!(bash.contains("check-config") && bash.contains("--xdp-mode"));
        let _ = fs::remove_dir_all(&out);
    }

    /// Every generated file is packaged, where `FILES` says (`[package.metadata.deb]`).
    #[test]
    fn package_assets_carry_every_generated_file() {
        let toml = fs::read_to_string(root().join("havip/Cargo.toml")).unwrap();
        for (src, dest) in FILES {
            // man/havip-run.8 may come in through the glob man/*.8.
            let glob = match (src.rsplit_once('/'), src.rsplit_once('.')) {
                (Some((dir, _)), Some((_, ext))) => format!("../target/dist/{dir}/*.{ext}"),
                _ => String::from("no glob"),
            };
            let dir = format!("{}/", dest.rsplit_once('/').unwrap().0);
            let by_name = toml.contains(&format!("\"../target/dist/{src}\""));
            assert!(
                by_name || toml.contains(&format!("\"{glob}\"")),
                "{src} is not packaged"
            );
            assert!(
                toml.contains(&format!("\"{dest}\"")) || toml.contains(&format!("\"{dir}\"")),
                "{src} is not installed at {dest}"
            );
        }
    }
}
