//! Golden tests over real-world configs (`havip/tests/config/`, see its README) and
//! error-message tests that pin file:line:column, what was expected and the hint.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::diag::Severity;
use crate::model::ParamMatch;
use crate::vrrp::{Centis, StartState, Version};
use std::time::Duration;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config")
}

fn opts() -> ReadOptions {
    ReadOptions {
        config_id: Some("main".into()),
        ..ReadOptions::default()
    }
}

/// Diagnostics, then the spec (or "invalid"), with the test directory cut from file names.
fn golden_text(path: &Path) -> String {
    let result = load_as(path, Format::of_path(path), &opts());
    let mut out = String::new();
    let (diags, spec) = match &result {
        Ok(l) => (l.warnings.as_slice(), Some(&l.spec)),
        Err(e) => (e.diagnostics(), None),
    };
    out.push_str("== diagnostics\n");
    for d in diags {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    match spec {
        Some(s) => {
            out.push_str("== spec\n");
            out.push_str(&render(s));
        }
        None => out.push_str("== invalid\n"),
    }
    let prefix = format!("{}/", data_dir().display());
    out.replace(&prefix, "")
}

fn golden_inputs() -> Vec<PathBuf> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/config exists")
        .map(|e| e.expect("readable").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("conf" | "toml")
            )
        })
        .collect();
    inputs.push(data_dir().join("include/main.conf"));
    inputs.sort();
    inputs
}

/// Every config under tests/config against its `.golden`; `HAVIP_BLESS=1` rewrites them.
#[test]
fn golden() {
    let bless = std::env::var_os("HAVIP_BLESS").is_some();
    let mut failed = Vec::new();
    for input in golden_inputs() {
        let expected_path = input.with_extension("golden");
        let actual = golden_text(&input);
        if bless {
            std::fs::write(&expected_path, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failed.push(format!(
                "--- {} (expected)\n{expected}\n+++ actual\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "golden output changed; review and run HAVIP_BLESS=1 cargo test -p havip --lib config::tests::golden\n{}",
        failed.join("\n")
    );
}

fn load_k(text: &str) -> Result<Loaded, LoadError> {
    load_str("k.conf", text, Format::Keepalived, &opts())
}

fn load_t(text: &str) -> Result<Loaded, LoadError> {
    load_str("h.toml", text, Format::Toml, &opts())
}

/// The rendered errors of an invalid config.
fn errors(r: Result<Loaded, LoadError>) -> Vec<String> {
    match r {
        Ok(l) => panic!("config should be invalid; warnings: {:?}", l.warnings),
        Err(e) => e
            .diagnostics()
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

fn assert_error(errs: &[String], start: &str, contains: &[&str]) {
    let found = errs.iter().find(|e| e.starts_with(start));
    let Some(e) = found else {
        panic!("no error starting {start:?} in {errs:#?}");
    };
    for c in contains {
        assert!(e.contains(c), "{e:?} should contain {c:?}");
    }
}

const GOOD: &str = "vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100/24
    }
}
";

#[test]
fn the_seed_config_runs_without_authentication_like_keepalived() {
    let text = std::fs::read_to_string(data_dir().join("seed.conf")).unwrap();
    let l = load_str("keepalived.conf", &text, Format::Keepalived, &opts()).unwrap();
    let v = l.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(v.auth, None, "keepalived 2.2.7 sends no authentication");
    assert_eq!(
        (v.vrid, v.priority, v.start_as),
        (51, 101, StartState::Master)
    );
    let w = l.warnings[0].to_string();
    assert!(
        w.starts_with("keepalived.conf:7:38: warning: instance VI_1 runs WITHOUT authentication"),
        "{w}"
    );
    assert!(
        w.contains("Authentication specified but no password given"),
        "{w}"
    );
    assert!(
        w.contains("\n    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }"),
        "{w}"
    );
    // Written on lines of their own, the password applies.
    let fixed = text.replace(
        "authentication { auth_type PASS  auth_pass 1111 }",
        "authentication {\n        auth_type PASS\n        auth_pass 1111\n    }",
    );
    let l = load_k(&fixed).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert_eq!(
        l.spec.instances[0].vrrp.as_ref().unwrap().auth,
        Some(*b"1111\0\0\0\0")
    );
}

#[test]
fn one_line_vip_list_keeps_the_first_address_like_keepalived() {
    let l = load_k(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.1/24 10.0.0.2/24 }\n}\n",
    )
    .unwrap();
    assert_eq!(l.spec.instances[0].vips.len(), 1);
    let w = l.warnings[0].to_string();
    assert!(
        w.starts_with("k.conf:4:34: warning: keepalived takes one VIP per line"),
        "{w}"
    );
}

#[test]
fn bad_numbers_point_at_the_value() {
    let errs = errors(load_k(
        &GOOD.replace("virtual_router_id 51", "virtual_router_id 0"),
    ));
    assert_error(
        &errs,
        "k.conf:3:23: error: virtual_router_id 0 is out of range (expected 1-255)",
        &["hint: every node of a virtual router uses the same id"],
    );
    let errs = errors(load_k(
        &GOOD.replace("virtual_router_id 51", "virtual_router_id 5x"),
    ));
    assert_error(
        &errs,
        "k.conf:3:23: error: virtual_router_id 5x is not a whole number",
        &[],
    );
    let errs = errors(load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    priority 256",
    )));
    assert_error(
        &errs,
        "k.conf:4:14: error: priority 256 is out of range (expected 1-255)",
        &["255 for the address owner"],
    );
    let errs = errors(load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    advert_int abc",
    )));
    assert_error(
        &errs,
        "k.conf:4:16: error: advert_int abc is not a number",
        &["seconds"],
    );
    let errs = errors(load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    advert_int 300",
    )));
    assert_error(
        &errs,
        "k.conf:4:16: error: advert_int 300 is out of range (expected 0.01 to 255 seconds)",
        &[],
    );
    let errs = errors(load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    state MASTR",
    )));
    assert_error(
        &errs,
        "k.conf:4:11: error: state MASTR is not a state (expected MASTER or BACKUP",
        &["BACKUP"],
    );
}

#[test]
fn every_error_of_a_file_is_reported() {
    let errs = errors(load_k(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 0\n priority 0\n advert_int x\n virtual_ipaddress { 10.0.0.1/24 }\n}\n",
    ));
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn unknown_keywords_and_blocks() {
    let errs = errors(load_k(&format!("vrrp_instnace X {{\n}}\n{GOOD}")));
    assert_error(
        &errs,
        "k.conf:1:1: error: unknown keyword vrrp_instnace at the top level",
        &["spelling"],
    );
    let errs = errors(load_k(&GOOD.replace(
        "interface eth0",
        "interface eth0\n    bogus_block {\n        x\n    }",
    )));
    assert_error(
        &errs,
        "k.conf:3:5: error: unknown keyword bogus_block in vrrp_instance",
        &[],
    );
    let errs = errors(load_k(
        &GOOD.replace("interface eth0", "interface eth0\n    dont_track_primary"),
    ));
    assert_error(
        &errs,
        "k.conf:3:5: error: havip does not support dont_track_primary",
        &["hint: remove dont_track_primary"],
    );
    // The reader expands `include PATTERN`; keepalived knows no other include either.
    let errs = errors(load_k(&format!("include a.conf b.conf\n{GOOD}")));
    assert_error(
        &errs,
        "k.conf:1:1: error: unknown keyword include at the top level",
        &["spelling"],
    );
    // Authentication names its keywords.
    let errs = errors(load_k(&GOOD.replace(
        "interface eth0",
        "interface eth0\n    authentication {\n        auth_typ PASS\n    }",
    )));
    assert_error(
        &errs,
        "k.conf:4:9: error: unknown keyword auth_typ in authentication (expected auth_type or auth_pass)",
        &[],
    );
}

#[test]
fn track_process_reads_keepalived_s_keywords() {
    let load = |body: &str| load_k(&format!("vrrp_track_process P {{\n{body}}}\n{GOOD}"));
    let p = |body: &str| {
        let l = load(body).unwrap();
        assert!(l.warnings.is_empty(), "{:#?}", l.warnings);
        l.spec.scripts[0].process.clone().unwrap()
    };
    let t = p("    process nginx\n    delay 2\n");
    assert_eq!(
        (t.name.as_str(), t.full_command, t.param_match),
        ("nginx", false, ParamMatch::None)
    );
    assert_eq!((t.quorum, t.quorum_max), (1, u32::MAX));
    assert_eq!(t.fork_delay, Duration::from_secs(2));
    assert_eq!(t.terminate_delay, Duration::from_secs(2));
    let t = p("    process /usr/sbin/haproxy -f \"/etc/my cfg\"\n    fork_delay 0.25\n    terminate_delay 1.5\n    quorum 2\n    quorum_max 4\n");
    assert_eq!(t.params, ["-f", "/etc/my cfg"]);
    assert_eq!((t.full_command, t.param_match), (true, ParamMatch::Exact));
    assert_eq!(t.fork_delay, Duration::from_millis(250));
    assert_eq!(t.terminate_delay, Duration::from_millis(1500));
    assert_eq!((t.quorum, t.quorum_max), (2, 4));
    let t = p("    process haproxy -f /etc/hap\n    param_match initial\n");
    assert_eq!(t.param_match, ParamMatch::Initial);
    let t = p("    process haproxy\n    param_match\n");
    assert_eq!((t.full_command, t.param_match), (true, ParamMatch::Exact));
    let t = p("    process haproxy\n    full_command\n");
    assert_eq!((t.full_command, t.param_match), (true, ParamMatch::None));
    // quorum_max 0 alone: healthy while none runs.
    let t = p("    process haproxy\n    quorum_max 0\n");
    assert_eq!((t.quorum, t.quorum_max), (0, 0));
    assert_error(
        &errors(load("    process x\n    param_match whole\n")),
        "k.conf:3:17: error: param_match whole is not a match type",
        &[],
    );
    assert_error(
        &errors(load("    process x\n    weight -20 reverse\n")),
        "k.conf:3:16: error: vrrp_track_process: reverse weights are not supported",
        &[],
    );
    assert_error(
        &errors(load("    process x\n    quorum 3\n    quorum_max 2\n")),
        "k.conf:1:20: error: vrrp_track_process P: quorum_max 2 is below quorum 3",
        &[],
    );
    assert_error(
        &errors(load("    process x\n    delay 0\n")),
        "k.conf:3:11: error: delay 0 is out of range",
        &[],
    );
}

#[test]
fn missing_interface_and_vrid() {
    let errs = errors(load_k(&GOOD.replace("    interface eth0\n", "")));
    assert_error(
        &errs,
        "k.conf:1:15: error: instance VI_1 has no interface (expected interface IFACE)",
        &["hint: name the interface"],
    );
    let errs = errors(load_k(&GOOD.replace("    virtual_router_id 51\n", "")));
    assert_error(
        &errs,
        "k.conf:1:15: error: instance VI_1 has no virtual_router_id (expected virtual_router_id 1-255)",
        &["same id"],
    );
}

#[test]
fn duplicate_vrids_and_vip_conflicts() {
    let second = GOOD
        .replace("VI_1", "VI_2")
        .replace("10.0.0.100", "10.0.0.101");
    let errs = errors(load_k(&format!("{GOOD}{second}")));
    assert_error(
        &errs,
        "k.conf:10:23: error: instances VI_1 and VI_2 both use virtual_router_id 51 for IPv4 on eth0",
        &["hint: give one of them another virtual_router_id"],
    );
    let second = GOOD
        .replace("VI_1", "VI_2")
        .replace("router_id 51", "router_id 52");
    let errs = errors(load_k(&format!("{GOOD}{second}")));
    assert_error(
        &errs,
        "k.conf:12:9: error: VIP 10.0.0.100 is also a VIP of instance VI_1 (k.conf:5:9)",
        &["one virtual router only"],
    );
    let errs = errors(load_k(&format!("{GOOD}{GOOD}")));
    assert_error(
        &errs,
        "k.conf:8:15: error: instance VI_1 is defined twice",
        &["k.conf:1:15"],
    );
    let errs = errors(load_k(
        &GOOD.replace("10.0.0.100/24", "10.0.0.100/24\n        10.0.0.100/32"),
    ));
    assert_error(
        &errs,
        "k.conf:6:9: error: instance VI_1: VIP 10.0.0.100 is listed twice",
        &[],
    );
}

#[test]
fn a_track_script_must_follow_its_script_like_in_keepalived() {
    let inst = GOOD.replace(
        "interface eth0",
        "interface eth0\n    track_script {\n        chk\n    }",
    );
    let script = "vrrp_script chk {\n    script /bin/true\n}\n";
    assert!(load_k(&format!("{script}{inst}")).is_ok());
    let errs = errors(load_k(&format!("{inst}{script}")));
    assert_error(
        &errs,
        "k.conf:4:9: error: track_script chk: vrrp_script chk is defined below, at k.conf:11:13",
        &["track script chk not found", "move vrrp_script chk above"],
    );
    let errs = errors(load_k(&inst));
    assert_error(
        &errs,
        "k.conf:4:9: error: track_script chk: no vrrp_script of that name",
        &[],
    );
}

#[test]
fn keepalived_corrections_come_with_warnings() {
    let l = load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    advert_int 1.5",
    ))
    .unwrap();
    let v = l.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(v.advert_interval, Centis(200));
    assert!(l.warnings[0].to_string().starts_with(
        "k.conf:4:16: warning: instance VI_1: VRRPv2 advert_int 1.5 is rounded to 2 s"
    ));
    let l = load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    version 3\n    advert_int 0.015",
    ))
    .unwrap();
    let v = l.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!((v.version, v.advert_interval), (Version::V3, Centis(2)));
    let l = load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    state MASTER\n    nopreempt",
    ))
    .unwrap();
    let v = l.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(
        (v.priority, v.preempt, v.start_as),
        (255, true, StartState::Master)
    );
}

/// `check_unicast_src` is havip's default with unicast peers; both keepalived keywords are
/// accepted silently, and the opt-outs (`no_check_unicast_src`, `check_unicast_src = false`)
/// turn it off with a warning at their place.
#[test]
fn check_unicast_src_is_the_default_and_its_opt_out_warns() {
    let peers = "virtual_router_id 51\n    unicast_peer {\n        10.0.0.3\n    }";
    let on = load_k(&format!(
        "global_defs {{\n    vrrp_check_unicast_src\n}}\n{}",
        GOOD.replace(
            "virtual_router_id 51",
            &format!("{peers}\n    check_unicast_src")
        )
    ))
    .unwrap();
    assert!(on.warnings.is_empty(), "{:?}", on.warnings);
    assert!(
        on.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .check_unicast_src
    );
    let off = load_k(&GOOD.replace(
        "virtual_router_id 51",
        &format!("{peers}\n    no_check_unicast_src"),
    ))
    .unwrap();
    assert!(
        !off.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .check_unicast_src
    );
    let w = off.warnings[0].to_string();
    assert!(
        w.starts_with("k.conf:7:5: warning: instance VI_1: no_check_unicast_src"),
        "{w}"
    );
    let t = "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nunicast_peers = [\"10.0.0.3\"]\ncheck_unicast_src = false\nvips = [\"10.0.0.100/24\"]\n";
    let off = load_t(t).unwrap();
    assert!(
        !off.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .check_unicast_src
    );
    let w = off.warnings[0].to_string();
    assert!(
        w.starts_with("h.toml:6:21: warning: check_unicast_src = false"),
        "{w}"
    );
}

#[test]
fn auth_with_v3_is_ignored_in_keepalived_syntax_and_refused_in_toml() {
    let l = load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    version 3\n    authentication {\n        auth_type PASS\n        auth_pass 1\n    }",
    ))
    .unwrap();
    assert_eq!(l.spec.instances[0].vrrp.as_ref().unwrap().auth, None);
    assert!(l.warnings[0]
        .to_string()
        .contains("VRRPv3 has no authentication"));
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nversion = 3\nauth_pass = \"x\"\nvips = [\"10.0.0.1/24\"]\n",
    ));
    assert_error(
        &errs,
        "h.toml:2:8: error: instance a: authentication exists only in VRRPv2",
        &[],
    );
}

#[test]
fn toml_refuses_what_keepalived_would_round() {
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nadvert_interval = 0.5\nvips = [\"10.0.0.1/24\"]\n",
    ));
    assert_error(
        &errs,
        "h.toml:5:19: error: instance a: VRRPv2 advert interval 0.50s must be whole seconds",
        &["VRRPv3"],
    );
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nversion = 3\nadvert_interval = 0.015\nvips = [\"10.0.0.1/24\"]\n",
    ));
    assert_error(
        &errs,
        "h.toml:6:19: error: advert_interval 0.015 is not a whole number of centiseconds",
        &["two decimals"],
    );
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nstate = \"master\"\npreempt = false\nvips = [\"10.0.0.1/24\"]\n",
    ));
    assert_error(
        &errs,
        "h.toml:2:8: error: instance a: nopreempt cannot work with start state MASTER",
        &[],
    );
}

#[test]
fn toml_unknown_keys_name_their_path_and_place() {
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/24\"]\n[instance.garp]\nmaster_dely = 3\n",
    ));
    assert_error(
        &errs,
        "h.toml:7:1: error: instance[0].garp.master_dely: unknown field `master_dely`, expected one of `master_delay`",
        &["hint: see docs/config.md"],
    );
    let errs = errors(load_t("routerid = \"x\"\n"));
    assert_error(
        &errs,
        "h.toml:1:1: error: routerid: unknown field `routerid`, expected one of `router_id`",
        &[],
    );
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [{ address = \"10.0.0.1/24\", lable = \"x\" }]\n",
    ));
    assert_error(
        &errs,
        "h.toml:5:36: error: instance[0].vips[0].lable: unknown field `lable`",
        &[],
    );
    let errs = errors(load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvips = [\"10.0.0.1\"]\n",
    ));
    assert_error(
        &errs,
        "h.toml:2:8: error: instance a has no vrid",
        &["static = true"],
    );
    assert_error(
        &errs,
        "h.toml:4:9: error: VIP \"10.0.0.1\" has no prefix length",
        &[],
    );
}

#[test]
fn includes_follow_globs_relative_to_the_including_file() {
    let dir = std::env::temp_dir().join(format!("havip-config-test-{}", std::process::id()));
    let sub = dir.join("etc/keepalived/conf.d");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        dir.join("etc/keepalived/keepalived.conf"),
        "global_defs {\n    router_id glob\n}\ninclude conf.d/*.conf\ninclude conf.d/none-*.conf\n",
    )
    .unwrap();
    std::fs::write(
        sub.join("b.conf"),
        GOOD.replace("VI_1", "VI_B")
            .replace("router_id 51", "router_id 2")
            .replace(".100", ".2"),
    )
    .unwrap();
    std::fs::write(
        sub.join("a.conf"),
        GOOD.replace("VI_1", "VI_A")
            .replace("router_id 51", "router_id 1")
            .replace(".100", ".1"),
    )
    .unwrap();
    std::fs::write(sub.join("c.conf.disabled"), "garbage {").unwrap();
    // A nested include, relative to conf.d/, not to the main file.
    std::fs::write(sub.join("z.conf"), "include nested/*.conf\n").unwrap();
    std::fs::create_dir_all(sub.join("nested")).unwrap();
    std::fs::write(
        sub.join("nested/n.conf"),
        "vrrp_script chk {\n    script /bin/true\n}\n",
    )
    .unwrap();
    let main = dir.join("etc/keepalived/keepalived.conf");
    let l = load_as(&main, Format::Keepalived, &opts()).unwrap();
    let names: Vec<&str> = l.spec.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["VI_A", "VI_B"], "sorted glob order");
    assert_eq!(l.spec.scripts[0].name, "chk");
    assert_eq!(l.spec.router_id.as_deref(), Some("glob"));
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].contains("keepalived.conf:5:9: warning: include conf.d/none-*.conf matched no file"),
        "{w:?}"
    );
    // Errors in an included file name that file and its line.
    std::fs::write(
        sub.join("b.conf"),
        "vrrp_instance VI_B {\n    priority 0\n}\n",
    )
    .unwrap();
    let errs = errors(load_as(&main, Format::Keepalived, &opts()));
    let b = sub.join("b.conf").display().to_string();
    assert_error(
        &errs,
        &format!("{b}:2:14: error: priority 0 is out of range"),
        &[],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_files_are_read_errors() {
    let e = load(Path::new("/nonexistent/keepalived.conf")).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }), "{e}");
}

/// The TOML example in docs/config.md is tests/config/full.toml, which the golden test parses.
#[test]
fn the_doc_example_is_the_tested_file() {
    let doc = config_doc();
    let example = std::fs::read_to_string(data_dir().join("full.toml")).unwrap();
    let block = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a ```toml block in docs/config.md");
    assert_eq!(
        block, example,
        "docs/config.md's TOML example differs from tests/config/full.toml"
    );
    assert!(load_t(&example).is_ok());
}

fn config_doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config.md"))
        .expect("docs/config.md")
}

/// The lines of `doc` from the heading `start` to the next heading of its level.
fn doc_section<'d>(doc: &'d str, start: &str) -> Vec<&'d str> {
    let level = start.split(' ').next().unwrap_or_default();
    doc.lines()
        .skip_while(|l| *l != start)
        .skip(1)
        .take_while(|l| !(l.starts_with(level) && l.as_bytes().get(level.len()) == Some(&b' ')))
        .collect()
}

/// The body rows of the markdown tables in `lines` (not the header or the separator).
fn table_rows<'d>(lines: &[&'d str]) -> Vec<&'d str> {
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.starts_with('|')
                && !l.starts_with("|---")
                && lines.get(i + 1).is_none_or(|n| !n.starts_with("|---"))
        })
        .map(|(_, l)| *l)
        .collect()
}

/// The text of `s` outside parentheses.
fn outside_parens(s: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// docs/config.md and the keyword tables the reader dispatches through say the same: every
/// keyword havip reads is in its block's row of "Keywords havip acts on", and every keyword
/// named there (outside parentheses) is one it reads; the rows of each block under "Keywords
/// havip does not act on" are exactly the table's ignored and refused keywords, with the same
/// handling and reason, in the same order.
#[test]
fn the_doc_lists_every_keyword() {
    use keepalived::{listings, Kind};
    let doc = config_doc();
    let listings = listings();
    let acts_on = doc_section(&doc, "### Keywords havip acts on");
    let acts_on: Vec<(String, &str)> = table_rows(&acts_on)
        .into_iter()
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let block = cells[0].trim_start_matches("| ").replace('`', "");
            let block = block.split(" (").next().unwrap_or_default().to_string();
            (block, cells[1])
        })
        .collect();
    let not_acted_on = doc_section(&doc, "### Keywords havip does not act on");
    let subsections: Vec<String> = not_acted_on
        .iter()
        .filter_map(|l| l.strip_prefix("#### "))
        .map(str::to_lowercase)
        .collect();
    let mut problems = Vec::new();
    for l in &listings {
        let handled: Vec<&str> = l
            .keywords
            .iter()
            .filter(|(_, k)| *k == Kind::Handled)
            .map(|(n, _)| *n)
            .collect();
        let row = acts_on.iter().find(|(b, _)| b == l.block).map(|(_, r)| *r);
        match row {
            None if !handled.is_empty() => problems.push(format!(
                "\"Keywords havip acts on\" has no row for {}",
                l.block
            )),
            None => {}
            Some(row) => {
                for k in &handled {
                    if !row.contains(&format!("`{k}`")) && !row.contains(&format!("`{k} ")) {
                        problems.push(format!("{} row does not name {k}", l.block));
                    }
                }
                for named in outside_parens(row).split('`').skip(1).step_by(2) {
                    let k = named.split(' ').next().unwrap_or_default();
                    if !handled.contains(&k) {
                        problems.push(format!(
                            "{} row names {named:?}, which havip does not read there",
                            l.block
                        ));
                    }
                }
            }
        }
        let mut expected: Vec<String> = l
            .keywords
            .iter()
            .filter_map(|(k, kind)| match kind {
                Kind::Handled => None,
                Kind::Ignored(why) => Some(format!("| `{k}` | warning, ignored | {why} |")),
                Kind::Refused(why) => Some(format!("| `{k}` | **error** | {why} |")),
            })
            .collect();
        expected.extend(
            l.ignored_prefixes
                .iter()
                .map(|(p, why)| format!("| `{p}*` | warning, ignored | {why} |")),
        );
        let heading = format!("#### {}", l.block);
        let documented: Vec<String> = not_acted_on
            .iter()
            .position(|h| h.eq_ignore_ascii_case(&heading))
            .map(|at| {
                let section: Vec<&str> = not_acted_on[at + 1..]
                    .iter()
                    .take_while(|l| !l.starts_with("#### "))
                    .copied()
                    .collect();
                table_rows(&section).iter().map(|r| r.to_string()).collect()
            })
            .unwrap_or_default();
        if documented != expected {
            problems.push(format!(
                "\"Keywords havip does not act on\", {}: the doc has\n{}\nthe table has\n{}",
                l.block,
                documented.join("\n"),
                expected.join("\n")
            ));
        }
    }
    for (block, _) in &acts_on {
        if !listings.iter().any(|l| l.block == block) {
            problems.push(format!(
                "\"Keywords havip acts on\" lists {block}, which has no table"
            ));
        }
    }
    for s in &subsections {
        if !listings.iter().any(|l| l.block == s) {
            problems.push(format!(
                "\"Keywords havip does not act on\" lists {s}, which has no table"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/config.md and the keyword tables disagree:\n{}",
        problems.join("\n")
    );
}

/// Within a block a keyword has one handling, and no keyword falls under one of the block's
/// ignored prefixes: the order of the lookup cannot matter.
#[test]
fn each_keyword_has_one_handling() {
    for l in keepalived::listings() {
        for (i, (k, _)) in l.keywords.iter().enumerate() {
            assert!(
                !l.keywords[..i].iter().any(|(o, _)| o == k),
                "{k} is twice in the {} table",
                l.block
            );
            assert!(
                !l.ignored_prefixes.iter().any(|(p, _)| k.starts_with(p)),
                "{k} in the {} table is also under an ignored prefix",
                l.block
            );
        }
    }
}

/// `line` inside the block `block` of a keepalived.conf, and the line number it is on.
fn in_block(block: &str, line: &str) -> (String, u32) {
    match block {
        "top level" => (format!("{line}\n"), 1),
        "authentication" => (
            format!("vrrp_instance VI {{\nauthentication {{\n{line}\n}}\n}}\n"),
            3,
        ),
        "vrrp_instance" | "vrrp_script" | "vrrp_track_process" | "vrrp_sync_group"
        | "track_file" | "bfd_instance" => (format!("{block} NAME {{\n{line}\n}}\n"), 2),
        "global_defs" => (format!("global_defs {{\n{line}\n}}\n"), 2),
        "havip_bgp" => (format!("havip_bgp {{\n{line}\n}}\n"), 2),
        "neighbor" => (
            format!("havip_bgp {{\nneighbor 10.0.0.1 {{\n{line}\n}}\n}}\n"),
            3,
        ),
        other => panic!("no test config for a {other} block: add it to in_block"),
    }
}

/// What a file does with each keyword is what its table (and so the doc) says: written in its
/// block, an ignored keyword gets a warning with the table's reason, a refused one an error with
/// it, a handled one is read (its value may be wrong, but it is no unknown keyword), and a
/// keyword in no table is unknown.
#[test]
fn each_keyword_does_what_its_table_says() {
    use keepalived::{listings, Kind};
    let at_line = |block: &str, line: &str| -> Vec<Diagnostic> {
        let (text, n) = in_block(block, line);
        let diags = match load_k(&text) {
            Ok(l) => l.warnings,
            Err(e) => e.diagnostics().to_vec(),
        };
        diags
            .into_iter()
            .filter(|d| d.location.as_ref().is_some_and(|l| l.line == n))
            .collect()
    };
    for l in listings() {
        let mut cases: Vec<(String, Kind)> = l
            .keywords
            .iter()
            .map(|(k, kind)| (k.to_string(), *kind))
            .collect();
        cases.extend(
            l.ignored_prefixes
                .iter()
                .map(|(p, why)| (format!("{p}x"), Kind::Ignored(why))),
        );
        for (k, kind) in cases {
            // The reader expands `include PATTERN` before any block sees it.
            let line = if k == "include" {
                "include /nonexistent/*.conf".to_string()
            } else {
                k.clone()
            };
            let d = at_line(l.block, &line);
            let shown = |d: &[Diagnostic]| {
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            match kind {
                Kind::Handled => assert!(
                    !d.iter().any(|d| d.message.starts_with("unknown keyword")),
                    "{k} in {}: {}",
                    l.block,
                    shown(&d)
                ),
                Kind::Ignored(why) => assert!(
                    d.iter().any(|d| {
                        d.severity == Severity::Warning
                            && d.message.starts_with(&format!("havip ignores {k}"))
                            && (d.message.ends_with(why) || d.hint.as_deref() == Some(why))
                    }),
                    "{k} in {}: {}",
                    l.block,
                    shown(&d)
                ),
                Kind::Refused(why) => assert!(
                    d.iter().any(|d| d.is_error()
                        && d.message == format!("havip does not support {k}: {why}")),
                    "{k} in {}: {}",
                    l.block,
                    shown(&d)
                ),
            }
        }
        let d = at_line(l.block, "no_such_keyword");
        assert!(
            d.iter()
                .any(|d| d.is_error() && d.message.starts_with("unknown keyword no_such_keyword")),
            "no_such_keyword in {}: {d:?}",
            l.block
        );
    }
}

/// Accept_Mode as keepalived reads it: on by default, `no_accept` turns it off, the last of
/// `accept` / `no_accept` wins; TOML's `accept = false`. Off below priority 255 it is enforced
/// (net::firewall) without a word; on the address owner it changes nothing: a warning.
#[test]
fn accept_mode_is_keepalived_s() {
    let with = |lines: &str| {
        GOOD.replace(
            "virtual_router_id 51",
            &format!("virtual_router_id 51\n{lines}"),
        )
    };
    let accept = |l: &Loaded| l.spec.instances[0].vrrp.as_ref().unwrap().accept;
    let l = load_k(GOOD).unwrap();
    assert!(accept(&l));
    for (lines, want) in [
        ("    no_accept", false),
        ("    accept\n    no_accept", false),
        ("    no_accept\n    accept", true),
        ("    accept", true),
    ] {
        let l = load_k(&with(lines)).unwrap();
        assert_eq!(accept(&l), want, "{lines}");
        assert!(l.warnings.is_empty(), "{lines}: {:?}", l.warnings);
    }
    let l = load_k(&with("    priority 255\n    no_accept")).unwrap();
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter().any(|w| w.starts_with(
            "k.conf:5:5: warning: instance VI_1: no_accept has no effect on the address owner"
        )),
        "{w:?}"
    );

    let toml = |accept: &str| {
        format!("[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\n{accept}vips = [\"10.0.0.1/24\"]\n")
    };
    let l = load_t(&toml("accept = false\n")).unwrap();
    assert!(!accept(&l));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let l = load_t(&toml("accept = true\n")).unwrap();
    assert!(accept(&l));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let l = load_t(&toml("priority = 255\naccept = false\n")).unwrap();
    assert!(
        l.warnings[0]
            .to_string()
            .starts_with("h.toml:6:10: warning: instance a: accept = false has no effect"),
        "{:?}",
        l.warnings
    );
}

/// keepalived 2.2.7's strict mode (`vrrp_strict`, or `strict_mode` per instance, which wins
/// either way), rule by rule as its `vrrp_complete_instance()` applies them, checked against
/// `keepalived -t` on the same file: each rule resets the value with a warning; Accept_Mode
/// defaults to off below priority 255.
#[test]
fn strict_mode_resets_what_keepalived_resets() {
    use std::time::Duration;
    let strict = |global: bool, lines: &str| {
        format!(
            "{}vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{lines}\n    virtual_ipaddress {{\n        10.0.0.100/24\n    }}\n}}\n",
            if global { "global_defs {\n    vrrp_strict\n}\n" } else { "" }
        )
    };
    let vrrp = |l: &Loaded| l.spec.instances[0].vrrp.clone().unwrap();
    // Every rule at once, as in the file keepalived -t was run on.
    let l = load_k(&strict(
        true,
        "    state MASTER\n    priority 100\n    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n    \
         preempt_delay 10\n    accept\n    garp_lower_prio_repeat 2\n    garp_lower_prio_delay 2\n    \
         lower_prio_no_advert false\n    down_timer_adverts 5",
    ))
    .unwrap();
    let v = vrrp(&l);
    assert_eq!(v.start_as, StartState::Backup);
    assert_eq!(v.auth, None);
    assert_eq!(v.preempt_delay, Duration::ZERO);
    assert!(!v.accept, "VRRPv2 below 255: no Accept_Mode in strict mode");
    assert_eq!(v.garp.lower_prio_repeat, Some(0));
    assert_eq!(v.garp.lower_prio_delay, Some(Duration::ZERO));
    assert!(v.lower_prio_no_advert);
    assert_eq!(v.down_timer_adverts, 3);
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    for needle in [
        "strict mode: state must match being the address owner; starting as BACKUP",
        "strict mode does not support authentication",
        "preempt_delay is incompatible with strict mode",
        "strict mode: accept mode for VRRP version 2 does not comply with RFC 3768",
        "strict mode: garp_lower_prio_repeat",
        "strict mode: garp_lower_prio_delay",
        "strict mode: lower_prio_no_advert off",
        "strict mode: down_timer_adverts other than 3",
    ] {
        assert!(w.iter().any(|w| w.contains(needle)), "{needle}: {w:#?}");
    }

    // The Accept_Mode default: off below 255, on for the owner; VRRPv3 keeps a written accept.
    assert!(!vrrp(&load_k(&strict(true, "    priority 100")).unwrap()).accept);
    let owner = vrrp(&load_k(&strict(true, "    priority 255")).unwrap());
    assert!(owner.accept);
    assert_eq!(owner.start_as, StartState::Master);
    assert!(
        vrrp(&load_k(&strict(true, "    priority 100\n    version 3\n    accept")).unwrap()).accept
    );
    assert!(!vrrp(&load_k(&strict(true, "    priority 100\n    version 3")).unwrap()).accept);
    // strict_mode overrides vrrp_strict both ways.
    let l = load_k(&strict(true, "    priority 100\n    strict_mode off")).unwrap();
    assert!(vrrp(&l).accept);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    assert!(!vrrp(&load_k(&strict(false, "    priority 100\n    strict_mode")).unwrap()).accept);
    // Without strict mode nothing of this applies.
    let l = load_k(&strict(
        false,
        "    state MASTER\n    priority 100\n    preempt_delay 10\n    down_timer_adverts 5",
    ))
    .unwrap();
    let v = vrrp(&l);
    assert_eq!(v.start_as, StartState::Master);
    assert_eq!(v.down_timer_adverts, 5);
    assert!(v.accept);

    // IPv6 with version 2: an error, but in strict mode keepalived uses version 3 (a warning).
    let v6 = |global: bool| {
        strict(global, "    priority 100\n    version 2")
            .replace("10.0.0.100/24", "fe80::100/64\n        2001:db8::100/64")
    };
    assert!(load_k(&v6(false)).is_err());
    let l = load_k(&v6(true)).unwrap();
    assert_eq!(vrrp(&l).version, Version::V3);
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("IPv6 cannot use VRRP version 2")),
        "{w:#?}"
    );
    // The first IPv6 VIP not link-local: said, and run.
    let l = load_k(&strict(true, "    priority 100").replace("10.0.0.100/24", "2001:db8::100/64"))
        .unwrap();
    let w: Vec<String> = l.warnings.iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.contains("the first IPv6 VIP must be link-local")),
        "{w:#?}"
    );
}

/// `check-config` validates the [`RouterConfig`](crate::vrrp::RouterConfig) the daemon builds
/// (`VrrpSpec::router_config`, one function for both), `unicast_src` and `check_ttl` included:
/// what the daemon would refuse at start, the check refuses first, with the same words.
#[test]
fn check_config_refuses_what_the_daemon_would() {
    use std::net::{IpAddr, Ipv4Addr};

    use crate::vrrp::VirtualRouter;

    let text = GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    unicast_src_ip 10.0.0.2\n    unicast_peer {\n        10.0.0.3\n    }",
    );
    let l = load_k(&text).unwrap();
    let inst = &l.spec.instances[0];
    let v = inst.vrrp.as_ref().unwrap();
    // The daemon passes the interface's own address; unicast_src_ip replaces it.
    let iface_addr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let cfg = v.router_config(&inst.vips, iface_addr);
    assert_eq!(cfg.primary_addr, "10.0.0.2".parse::<IpAddr>().unwrap());
    assert!(!cfg.check_ttl, "unicast adverts may be routed");
    assert!(VirtualRouter::new(cfg).is_ok());

    // A unicast source that is a VIP of a non-owner, or (TOML; keepalived's reader takes the
    // family from it) of the other family: the daemon refuses both, whatever the interface's
    // address; check-config used to pass them.
    let bad_k = text.replace("unicast_src_ip 10.0.0.2", "unicast_src_ip 10.0.0.100");
    let bad_t = "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nunicast_src = \"fd00::2\"\nvips = [\"10.0.0.100/24\"]\n";
    for (src, errs, at) in [
        ("10.0.0.100", errors(load_k(&bad_k)), "k.conf:4:20"),
        ("fd00::2", errors(load_t(bad_t)), "h.toml:5:15"),
    ] {
        let mut spec = v.clone();
        spec.unicast_src = Some(src.parse().unwrap());
        let daemon = VirtualRouter::new(spec.router_config(&inst.vips, iface_addr))
            .err()
            .unwrap_or_else(|| panic!("the daemon refuses unicast_src {src}"));
        assert_error(
            &errs,
            &format!("{at}: error: instance VI_1: {daemon}"),
            &["hint: the unicast source address stands for the primary address"],
        );
    }
}

#[test]
fn garp_lower_prio_keywords_are_read_globally_and_per_instance() {
    // They were ignored with a warning; the master's re-announcement on a lower-priority
    // advert now follows them (and its limits, see the vrrp module).
    let global =
        "global_defs {\n    vrrp_garp_lower_prio_delay 3\n    vrrp_garp_lower_prio_repeat 2\n}\n";
    let l = load_k(&format!("{global}{GOOD}")).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let g = &l.spec.instances[0].vrrp.as_ref().unwrap().garp;
    assert_eq!(
        (g.lower_prio_delay, g.lower_prio_repeat),
        (Some(std::time::Duration::from_secs(3)), Some(2))
    );
    let inst = GOOD.replace(
        "    interface eth0\n",
        "    interface eth0\n    garp_lower_prio_repeat 0\n",
    );
    let l = load_k(&format!("{global}{inst}")).unwrap();
    let g = &l.spec.instances[0].vrrp.as_ref().unwrap().garp;
    assert_eq!(
        (g.lower_prio_delay(), g.lower_prio_repeat()),
        (std::time::Duration::from_secs(3), 0),
        "the instance's own value wins"
    );
    // Unset: the garp_master_* values, as keepalived.
    let l = load_k(GOOD).unwrap();
    let g = &l.spec.instances[0].vrrp.as_ref().unwrap().garp;
    assert_eq!(
        (g.lower_prio_delay(), g.lower_prio_repeat()),
        (g.delay, g.repeat)
    );
}

/// The least of three timings of `f` (a busy machine only ever adds time).
fn fastest(f: impl Fn()) -> std::time::Duration {
    (0..3)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
fn reading_time_grows_linearly_with_the_number_of_instances_and_scripts() {
    // Found by the parser fuzzing (docs/fuzzing.md): every TOML location was found by counting
    // lines from the start of the text, and script and instance names were looked up in
    // lists, so 20 000 instances took minutes to read and a reload stalled the daemon.
    // Four times the input must take well under sixteen times as long (a quadratic path
    // takes sixteen).
    let toml_text = |n: usize| -> String {
        let mut t = String::new();
        for i in 0..n {
            t.push_str(&format!(
                "[[script]]\nname = \"s{i}\"\ncommand = \"/bin/true\"\n\
                 [[instance]]\nname = \"I{i}\"\ninterface = \"eth{}\"\nvrid = {}\n\
                 track_scripts = [{{ script = \"s{i}\" }}]\nvips = [\"10.{}.{}.1/24\"]\n",
                i / 255,
                i % 255 + 1,
                i / 256 % 256,
                i % 256
            ));
        }
        t
    };
    let keepalived_text = |n: usize| -> String {
        let mut t = String::new();
        for i in 0..n {
            t.push_str(&format!("vrrp_script s{i} {{\n script \"/bin/true\"\n}}\n"));
        }
        t.push_str("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n track_script {\n");
        for i in 0..n {
            t.push_str(&format!(" s{i}\n"));
        }
        t.push_str(" }\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n");
        t.push_str("vrrp_sync_group G {\n group {\n");
        for i in 0..n {
            t.push_str(&format!(" X{i}"));
        }
        t.push_str("\n }\n}\n");
        t
    };
    let n = 1000;
    for (what, small, big, format) in [
        ("TOML", toml_text(n), toml_text(4 * n), Format::Toml),
        (
            "keepalived",
            keepalived_text(n),
            keepalived_text(4 * n),
            Format::Keepalived,
        ),
    ] {
        let read = |text: &str| {
            let _ = load_str("big", text, format, &opts());
        };
        let t1 = fastest(|| read(&small));
        let t4 = fastest(|| read(&big));
        assert!(
            t4 < t1 * 10 + std::time::Duration::from_millis(50),
            "{what}: {n} entries read in {t1:?}, {} in {t4:?}: not linear",
            4 * n
        );
    }
}

/// keepalived's notify FIFOs, in both formats: the path with its owner, both keywords, the
/// states-on-reload flag; a relative path is an error in each.
#[test]
fn notify_fifos_are_read() {
    let k = load_k(&format!(
        "global_defs {{\n  notify_fifo /run/k.fifo\n  vrrp_notify_fifo /run/v.fifo sipmon daemon\n  \
         fifo_write_vrrp_states_on_reload\n}}\n{GOOD}"
    ))
    .unwrap();
    let fifos: Vec<(String, Option<String>, Option<String>)> = k
        .spec
        .notify_fifos
        .iter()
        .map(|f| {
            (
                f.path.display().to_string(),
                f.user.clone(),
                f.group.clone(),
            )
        })
        .collect();
    assert_eq!(
        fifos,
        [
            ("/run/k.fifo".into(), None, None),
            (
                "/run/v.fifo".into(),
                Some("sipmon".into()),
                Some("daemon".into())
            )
        ]
    );
    assert!(k.spec.fifo_states_on_reload);
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);

    let t = load_t(
        "fifo_states_on_reload = true\n[[notify_fifo]]\npath = \"/run/k.fifo\"\n\
         [[notify_fifo]]\npath = \"/run/v.fifo\"\nuser = \"sipmon\"\ngroup = \"daemon\"\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    )
    .unwrap();
    assert_eq!(t.spec.notify_fifos, k.spec.notify_fifos);
    assert!(t.spec.fifo_states_on_reload);

    let errs = errors(load_k(&format!(
        "global_defs {{\n  notify_fifo run/k.fifo\n}}\n{GOOD}"
    )));
    assert_error(&errs, "k.conf:2:15: error", &["must be absolute"]);
    let errs = errors(load_t(
        "[[notify_fifo]]\npath = \"k.fifo\"\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
         vrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    ));
    assert_error(&errs, "h.toml:", &["must be absolute"]);
}

#[test]
fn startup_and_shutdown_scripts_are_read() {
    let k = load_k(&format!(
        "global_defs {{\n  startup_script \"/usr/bin/logger up\"\n  startup_script_timeout 3\n  \
         shutdown_script /usr/bin/true\n}}\n{GOOD}"
    ))
    .unwrap();
    let life =
        |s: &Option<crate::model::LifeScript>| s.as_ref().map(|s| (s.command.clone(), s.timeout));
    assert_eq!(
        life(&k.spec.startup_script),
        Some((
            "/usr/bin/logger up".into(),
            std::time::Duration::from_secs(3)
        ))
    );
    assert_eq!(
        life(&k.spec.shutdown_script),
        Some(("/usr/bin/true".into(), crate::model::LIFE_SCRIPT_TIMEOUT))
    );
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);

    let t = load_t(
        "startup_script = { command = \"/usr/bin/logger up\", timeout = 3 }\n\
         shutdown_script = { command = \"/usr/bin/true\" }\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    )
    .unwrap();
    assert_eq!(t.spec.startup_script, k.spec.startup_script);
    assert_eq!(t.spec.shutdown_script, k.spec.shutdown_script);

    let errs = errors(load_k(&format!(
        "global_defs {{\n  startup_script /bin/a\n  startup_script /bin/b\n}}\n{GOOD}"
    )));
    assert_error(&errs, "k.conf:3:3: error", &["given twice"]);
    let errs = errors(load_k(&format!(
        "global_defs {{\n  shutdown_script_timeout 0\n}}\n{GOOD}"
    )));
    assert_error(&errs, "k.conf:2:", &["shutdown_script_timeout"]);
    let errs = errors(load_t(
        "startup_script = { command = \"/bin/a\", timeout = 0.5 }\n[[instance]]\nname = \"VI_1\"\n\
         interface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    ));
    assert_error(&errs, "h.toml:", &["at least 1 s"]);
}

#[test]
fn track_files_are_read() {
    let k = load_k(
        "track_file maint {\n  file /run/maint\n  weight -10\n  init_file 0 overwrite\n}\n\
         vrrp_track_file old {\n  file \"/var/run/old value\"\n}\n\
         vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         virtual_ipaddress {\n    10.0.0.100/24\n  }\n  track_file {\n    maint\n    old weight 0\n  }\n}\n",
    )
    .unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    let files = &k.spec.track_files;
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name, "maint");
    assert_eq!(files[0].path, Path::new("/run/maint"));
    assert_eq!(files[0].weight, -10);
    assert_eq!(
        files[0].init,
        Some(crate::model::InitFile {
            value: 0,
            overwrite: true
        })
    );
    assert_eq!(files[1].path, Path::new("/var/run/old value"));
    assert_eq!((files[1].weight, files[1].init), (1, None));
    let v = k.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(
        v.track_files,
        [("maint".to_string(), None), ("old".to_string(), Some(0))]
    );

    let t = load_t(
        "[[track_file]]\nname = \"maint\"\npath = \"/run/maint\"\nweight = -10\ninit = { value = 0, overwrite = true }\n\
         [[track_file]]\nname = \"old\"\npath = \"/var/run/old value\"\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         track_files = [{ file = \"maint\" }, { file = \"old\", weight = 0 }]\n",
    )
    .unwrap();
    assert_eq!(t.spec.track_files, k.spec.track_files);
    assert_eq!(
        t.spec.instances[0].vrrp.as_ref().unwrap().track_files,
        v.track_files
    );

    // Used above its definition: keepalived ignores it, havip refuses it.
    let errs = errors(load_k(
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  virtual_ipaddress {\n    \
         10.0.0.100/24\n  }\n  track_file {\n    maint\n  }\n}\ntrack_file maint {\n  file /run/m\n}\n",
    ));
    assert_error(
        &errs,
        "k.conf:8:5: error",
        &["no track_file block of that name above"],
    );
    let errs = errors(load_k(&format!(
        "track_file m {{\n  file run/m\n}}\n{GOOD}"
    )));
    assert_error(&errs, "k.conf:2:8: error", &["not an absolute path"]);
    let errs = errors(load_k(&format!("track_file m {{\n  weight 2\n}}\n{GOOD}")));
    assert_error(&errs, "k.conf:1:12: error", &["has no file"]);
    let errs = errors(load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         track_files = [{ file = \"nope\" }]\n",
    ));
    assert_error(&errs, "h.toml:", &["no [[track_file]] named nope"]);
}

#[test]
fn startup_delay_and_lower_prio_no_advert_are_read() {
    let two = |extra: &str| {
        format!(
            "global_defs {{\n  vrrp_startup_delay 2.5\n  vrrp_lower_prio_no_advert\n}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n{extra}}}\n"
        )
    };
    let k = load_k(&two("  lower_prio_no_advert false\n")).unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    assert_eq!(
        k.spec.startup_delay,
        Some(std::time::Duration::from_millis(2500))
    );
    let flags: Vec<bool> = k
        .spec
        .instances
        .iter()
        .map(|i| i.vrrp.as_ref().unwrap().lower_prio_no_advert)
        .collect();
    assert_eq!(flags, [true, false], "the global default, then B's own");

    let k = load_k(&format!(
        "global_defs {{\n  vrrp_startup_delay 0\n}}\n{GOOD}"
    ))
    .unwrap();
    assert_eq!(k.spec.startup_delay, None);
    assert!(
        !k.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .lower_prio_no_advert
    );

    let t = load_t(
        "startup_delay = 2.5\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
         vips = [\"10.0.0.100/24\"]\nlower_prio_no_advert = true\n",
    )
    .unwrap();
    assert_eq!(
        t.spec.startup_delay,
        Some(std::time::Duration::from_millis(2500))
    );
    assert!(
        t.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .lower_prio_no_advert
    );

    let errs = errors(load_k(&format!(
        "global_defs {{\n  vrrp_lower_prio_no_advert maybe\n}}\n{GOOD}"
    )));
    assert_error(&errs, "k.conf:2:29: error", &["not a boolean"]);
}

#[test]
fn notify_priority_changes_is_read_with_its_global_default() {
    let two = |global: &str, extra: &str| {
        format!(
            "global_defs {{\n{global}}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n{extra}}}\n"
        )
    };
    let flags = |text: &str| -> Vec<bool> {
        let k = load_k(text).unwrap();
        assert!(k.warnings.is_empty(), "{:?}", k.warnings);
        k.spec
            .instances
            .iter()
            .map(|i| i.vrrp.as_ref().unwrap().notify.priority_changes)
            .collect()
    };
    assert_eq!(flags(&two("", "")), [false, false]);
    assert_eq!(
        flags(&two("", "  notify_priority_changes\n")),
        [false, true]
    );
    assert_eq!(
        flags(&two(
            "  vrrp_notify_priority_changes true\n",
            "  notify_priority_changes off\n"
        )),
        [true, false],
        "the global default, then B's own"
    );
    let errs = errors(load_k(&two("", "  notify_priority_changes sometimes\n")));
    assert_error(&errs, "k.conf:", &["not a boolean"]);

    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
         vips = [\"10.0.0.100/24\"]\nnotify = { priority_changes = true }\n",
    )
    .unwrap();
    assert!(
        t.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .notify
            .priority_changes
    );
}

#[test]
fn net_namespace_is_read_and_names_a_namespace() {
    let k = load_k(&format!("net_namespace blue\n{GOOD}")).unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    assert_eq!(k.spec.net_namespace.as_deref(), Some("blue"));
    let k = load_k(GOOD).unwrap();
    assert_eq!(k.spec.net_namespace, None);
    for bad in ["../etc", "a/b", ".."] {
        let errs = errors(load_k(&format!("net_namespace {bad}\n{GOOD}")));
        assert_error(&errs, "k.conf:1:15: error", &["not a namespace name"]);
    }
    let t = load_t(
        "net_namespace = \"blue\"\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
         vrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    )
    .unwrap();
    assert_eq!(t.spec.net_namespace.as_deref(), Some("blue"));
    let errs = errors(load_t(
        "net_namespace = \"a/b\"\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\n\
         vrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    ));
    assert_error(&errs, "h.toml:", &["not a namespace name"]);
}

#[test]
fn virtual_routes_are_read_in_both_formats() {
    let with = |routes: &str| {
        format!(
            "vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 1\n  \
             virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  virtual_routes {{\n{routes}  }}\n}}\n"
        )
    };
    let k = load_k(&with(
        "    192.0.2.0/24 via 10.0.0.254 metric 5\n    blackhole 198.51.100.0/24\n",
    ))
    .unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    let shown: Vec<String> = k.spec.instances[0]
        .vrrp
        .as_ref()
        .unwrap()
        .virtual_routes
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "192.0.2.0/24 via 10.0.0.254 metric 5",
            "blackhole 198.51.100.0/24"
        ]
    );
    let errs = errors(load_k(&with("    192.0.2.0/24 via 10.0.0.254 mtu 1400\n")));
    assert_error(
        &errs,
        "k.conf:8:33: error",
        &["virtual_routes: route option mtu is not implemented"],
    );

    let toml = |routes: &str| {
        format!(
            "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
             vips = [\"10.0.0.100/24\"]\nvirtual_routes = [{routes}]\n"
        )
    };
    let t = load_t(&toml("\"192.0.2.0/24 dev eth0\"")).unwrap();
    assert_eq!(
        t.spec.instances[0].vrrp.as_ref().unwrap().virtual_routes[0].to_string(),
        "192.0.2.0/24 dev eth0"
    );
    let errs = errors(load_t(&toml("\"192.0.2.0/24\"")));
    assert_error(&errs, "h.toml:", &["needs via or dev"]);
}

#[test]
fn static_addresses_and_routes_are_read_in_both_formats() {
    let k = load_k(&format!(
        "static_ipaddress {{\n  10.1.0.5/24 dev eth1 label eth1:s\n}}\n\
         static_routes {{\n  10.2.0.0/16 via 10.1.0.1\n}}\n{GOOD}"
    ))
    .unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    assert_eq!(k.spec.static_addresses.len(), 1);
    assert_eq!(k.spec.static_addresses[0].dev, "eth1");
    assert_eq!(
        k.spec.static_routes[0].to_string(),
        "10.2.0.0/16 via 10.1.0.1"
    );
    let errs = errors(load_k(&format!(
        "static_ipaddress {{\n  10.1.0.5/24\n}}\n{GOOD}"
    )));
    assert_error(
        &errs,
        "k.conf:2:3: error",
        &["static_ipaddress: a static address needs dev"],
    );
    let t = load_t(
        "static_ipaddress = [\"10.1.0.5/24 dev eth1\"]\nstatic_routes = [\"blackhole 10.3.0.0/16\"]\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n",
    )
    .unwrap();
    assert_eq!(t.spec.static_addresses[0].addr.to_string(), "10.1.0.5/24");
    assert_eq!(t.spec.static_routes[0].to_string(), "blackhole 10.3.0.0/16");

    // Rules, static and virtual, in both formats.
    let k = load_k(&format!(
        "static_rules {{\n  to 10.2.0.0/16 table 200\n}}\n{}",
        GOOD.replacen(
            "virtual_ipaddress",
            "virtual_rules {\n    from 10.0.0.100 table 100 priority 100\n  }\n  virtual_ipaddress",
            1
        )
    ))
    .unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    assert_eq!(
        k.spec.static_rules[0].to_string(),
        "to 10.2.0.0/16 table 200"
    );
    assert_eq!(
        k.spec.instances[0].vrrp.as_ref().unwrap().virtual_rules[0].to_string(),
        "from 10.0.0.100/32 priority 100 table 100"
    );
    let t = load_t(
        "static_rules = [\"fwmark 7 table 7\"]\n[[instance]]\nname = \"VI_1\"\n\
         interface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         virtual_rules = [\"from 10.0.0.100 prohibit\"]\n",
    )
    .unwrap();
    assert_eq!(t.spec.static_rules[0].to_string(), "fwmark 7 table 7");
    assert_eq!(
        t.spec.instances[0].vrrp.as_ref().unwrap().virtual_rules[0].to_string(),
        "from 10.0.0.100/32 prohibit"
    );
}

#[test]
fn multicast_groups_are_read_by_family() {
    let two = |global: &str, extra: &str| {
        format!(
            "global_defs {{\n{global}}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n{extra}}}\n"
        )
    };
    let groups = |text: &str| -> Vec<Option<String>> {
        let k = load_k(text).unwrap();
        assert!(k.warnings.is_empty(), "{:?}", k.warnings);
        k.spec
            .instances
            .iter()
            .map(|i| i.vrrp.as_ref().unwrap().mcast_group.map(|g| g.to_string()))
            .collect()
    };
    assert_eq!(groups(&two("", "")), [None, None]);
    assert_eq!(
        groups(&two(
            "  vrrp_mcast_group4 224.0.0.19\n  vrrp_mcast_group6 ff02::99\n",
            "  mcast_dst_ip 224.0.0.20\n"
        )),
        [Some("224.0.0.19".into()), Some("224.0.0.20".into())],
        "the family's global group, then B's own"
    );
    // The RFC's group written out is no group of its own.
    assert_eq!(
        groups(&two("  vrrp_mcast_group4 224.0.0.18\n", "")),
        [None, None]
    );
    let errs = errors(load_k(&two("  vrrp_mcast_group4 ff02::12\n", "")));
    assert_error(
        &errs,
        "k.conf:2:21: error",
        &["not an IPv4 multicast address"],
    );
    let errs = errors(load_k(&two("", "  mcast_dst_ip 10.0.0.9\n")));
    assert_error(&errs, "k.conf:", &["not a multicast address"]);
    let errs = errors(load_k(&two("", "  mcast_dst_ip ff02::12\n")));
    assert_error(
        &errs,
        "k.conf:",
        &["mcast_dst_ip ff02::12: instance B is IPv4"],
    );
    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\n\
         vips = [\"10.0.0.100/24\"]\nmcast_group = \"224.0.0.19\"\n",
    )
    .unwrap();
    assert_eq!(
        t.spec.instances[0].vrrp.as_ref().unwrap().mcast_group,
        Some("224.0.0.19".parse().unwrap())
    );
}

#[test]
fn down_timer_adverts_is_read_from_3_up() {
    let k = load_k(
        "global_defs {\n  vrrp_down_timer_adverts 4\n}\n\
         vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n}\n\
         vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  down_timer_adverts 10\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n}\n",
    )
    .unwrap();
    let n: Vec<u8> = k
        .spec
        .instances
        .iter()
        .map(|i| i.vrrp.as_ref().unwrap().down_timer_adverts)
        .collect();
    assert_eq!(n, [4, 10]);
    let errs = errors(load_k(&format!(
        "global_defs {{\n  vrrp_down_timer_adverts 1\n}}\n{GOOD}"
    )));
    assert_error(
        &errs,
        "k.conf:2:3: error",
        &["stalled master's XDP program"],
    );
    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         down_timer_adverts = 6\n",
    )
    .unwrap();
    assert_eq!(
        t.spec.instances[0]
            .vrrp
            .as_ref()
            .unwrap()
            .down_timer_adverts,
        6
    );
    let errs = errors(load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         down_timer_adverts = 2\n",
    ));
    assert_error(&errs, "h.toml:", &["down_timer_adverts 2 is out of range"]);
}

#[test]
fn unicast_ttl_and_peer_ttl_ranges_are_read() {
    let k = load_k(
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  unicast_ttl 64\n  \
         unicast_peer {\n    10.0.0.2 min_ttl 250\n    10.0.0.3 max_ttl 64\n    10.0.0.4\n  }\n  \
         virtual_ipaddress {\n    10.0.0.100/24\n  }\n}\n",
    )
    .unwrap();
    assert!(k.warnings.is_empty(), "{:?}", k.warnings);
    let v = k.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(v.unicast_ttl, 64);
    let a = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        v.peer_ttl,
        [(a("10.0.0.2"), 250, 255), (a("10.0.0.3"), 0, 64)]
    );
    assert_eq!(v.unicast_peers.len(), 3);

    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         unicast_ttl = 64\nunicast_peers = [{ address = \"10.0.0.2\", min_ttl = 250 }, \
         { address = \"10.0.0.3\", max_ttl = 64 }, \"10.0.0.4\"]\n",
    )
    .unwrap();
    let tv = t.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(
        (tv.unicast_ttl, &tv.peer_ttl, &tv.unicast_peers),
        (64, &v.peer_ttl, &v.unicast_peers)
    );

    let errs = errors(load_k(
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n  unicast_peer {\n    \
         10.0.0.2 min_ttl 200 max_ttl 100\n  }\n  virtual_ipaddress {\n    10.0.0.100/24\n  }\n}\n",
    ));
    assert_error(
        &errs,
        "k.conf:5:5: error",
        &["min_ttl 200 is above max_ttl 100"],
    );
    let errs = errors(load_k(&GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n  unicast_ttl 0",
    )));
    assert_error(&errs, "k.conf:", &["unicast_ttl"]);
}

/// keepalived 2.2.7's rule (its `keepalived -t` prints "(A) ignoring tracked script chk with
/// weights due to SYNC group"): a member's weighted interface tracks with weight 0, its
/// weighted scripts and files are dropped; weight-0 tracking and non-members are untouched.
#[test]
fn sync_group_members_track_without_weights_as_keepalived() {
    let k = load_k(
        "vrrp_script chk {\n  script /bin/true\n  weight -20\n}\nvrrp_script zero {\n  script /bin/true\n}\n\
         track_file f {\n  file /run/f\n  weight 5\n}\n\
         vrrp_sync_group G {\n  group {\n    A\n    B\n  }\n}\n\
         vrrp_instance A {\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {\n    10.0.0.1/24\n  }\n  \
         track_interface {\n    eth1 weight -10\n  }\n  track_script {\n    chk\n    zero\n  }\n  track_file {\n    f\n  }\n}\n\
         vrrp_instance B {\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {\n    10.0.0.2/24\n  }\n  \
         track_script {\n    chk weight 0\n  }\n  track_file {\n    f weight 0\n  }\n}\n\
         vrrp_instance C {\n  interface eth0\n  virtual_router_id 3\n  virtual_ipaddress {\n    10.0.0.3/24\n  }\n  \
         track_script {\n    chk\n  }\n}\n",
    )
    .unwrap();
    let v = |n: usize| k.spec.instances[n].vrrp.as_ref().unwrap();
    assert_eq!(v(0).track_interfaces, [("eth1".to_string(), 0)]);
    assert_eq!(v(0).track_scripts, [("zero".to_string(), None)]);
    assert!(v(0).track_files.is_empty());
    assert_eq!(v(1).track_scripts, [("chk".to_string(), Some(0))]);
    assert_eq!(v(1).track_files, [("f".to_string(), Some(0))]);
    assert_eq!(
        v(2).track_scripts,
        [("chk".to_string(), None)],
        "not in a group"
    );
    let w = k
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for needle in [
        "(A) ignoring eth1 tracked interface weight -10 due to SYNC group",
        "(A) ignoring tracked script chk with weight -20 due to SYNC group",
        "(A) ignoring tracked file f with weight 5 due to SYNC group",
    ] {
        assert!(w.contains(needle), "{needle:?} not in\n{w}");
    }
    assert_eq!(k.warnings.len(), 3, "{w}");
}

/// keepalived's `sync_group_tracking_weight` (and `global_tracking`, its older name): the
/// group's members keep their weights, where without it they lose them (above); TOML's
/// `tracking_weight`.
#[test]
fn sync_group_tracking_weight_keeps_the_members_weights() {
    for keyword in ["sync_group_tracking_weight", "global_tracking"] {
        let k = load_k(&format!(
            "vrrp_script chk {{\n  script /bin/true\n  weight -20\n}}\n\
             vrrp_sync_group G {{\n  group {{\n    A\n    B\n  }}\n  {keyword}\n}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n  \
             track_interface {{\n    eth1 weight -10\n  }}\n  track_script {{\n    chk\n  }}\n}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n}}\n"
        ))
        .unwrap();
        let v = k.spec.instances[0].vrrp.as_ref().unwrap();
        assert_eq!(v.track_interfaces, [("eth1".to_string(), -10)], "{keyword}");
        assert_eq!(v.track_scripts, [("chk".to_string(), None)], "{keyword}");
        assert!(k.spec.sync_groups[0].tracking_weight);
        assert!(k.warnings.is_empty(), "{keyword}: {:?}", k.warnings);
    }
    let t = load_t(
        "[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/24\"]\n\
         track_interfaces = [{ interface = \"eth1\", weight = -10 }]\n\
         [[instance]]\nname = \"b\"\ninterface = \"eth0\"\nvrid = 2\nvips = [\"10.0.0.2/24\"]\n\
         [[sync_group]]\nname = \"G\"\ninstances = [\"a\", \"b\"]\ntracking_weight = true\n",
    )
    .unwrap();
    assert_eq!(
        t.spec.instances[0].vrrp.as_ref().unwrap().track_interfaces,
        [("eth1".to_string(), -10)]
    );
}

/// keepalived's tracking on a sync group: every member tracks it with its weight; with an
/// address owner among the members the weights are cleared (keepalived: "Cannot have weighted
/// track script ... - clearing weight"); unknown names are errors.
#[test]
fn sync_group_tracking_goes_to_every_member() {
    let conf = |prio_b: u32| {
        format!(
            "vrrp_script chk {{\n  script /bin/true\n  weight -20\n}}\ntrack_file f {{\n  file /run/f\n}}\n\
             vrrp_sync_group G {{\n  group {{\n    A\n    B\n  }}\n  track_interface {{\n    eth1 weight -5\n  }}\n  \
             track_script {{\n    chk\n  }}\n  track_file {{\n    f weight 3\n  }}\n}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  priority {prio_b}\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n}}\n"
        )
    };
    let k = load_k(&conf(100)).unwrap();
    for i in &k.spec.instances {
        let v = i.vrrp.as_ref().unwrap();
        assert_eq!(v.track_interfaces, [("eth1".to_string(), -5)], "{}", i.name);
        assert_eq!(v.track_scripts, [("chk".to_string(), None)]);
        assert_eq!(v.track_files, [("f".to_string(), Some(3))]);
    }
    let k = load_k(&conf(255)).unwrap();
    let v = k.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(v.track_interfaces, [("eth1".to_string(), 0)]);
    assert_eq!(v.track_scripts, [("chk".to_string(), Some(0))]);
    assert_eq!(v.track_files, [("f".to_string(), Some(0))]);
    assert!(
        k.warnings
            .iter()
            .any(|w| w.to_string().contains("a member has priority 255")),
        "{:?}",
        k.warnings
    );
    let errs = errors(load_k(
        &conf(100).replace("    chk\n  }\n  track_file", "    nope\n  }\n  track_file"),
    ));
    assert_error(&errs, "k.conf:", &["nope"]);

    let t = load_t(
        "[[script]]\nname = \"chk\"\ncommand = \"/bin/true\"\n\
         [[instance]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/24\"]\n\
         [[instance]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 2\nvips = [\"10.0.0.2/24\"]\n\
         [[sync_group]]\nname = \"G\"\ninstances = [\"A\", \"B\"]\n\
         track_interfaces = [{ interface = \"eth1\" }]\ntrack_scripts = [{ script = \"chk\" }]\n",
    )
    .unwrap();
    for i in &t.spec.instances {
        let v = i.vrrp.as_ref().unwrap();
        assert_eq!(v.track_interfaces, [("eth1".to_string(), 0)]);
        assert_eq!(v.track_scripts, [("chk".to_string(), None)]);
    }
}

/// keepalived's `use_vmac [NAME]` and `vmac_xmit_base`, and TOML's `use_vmac`: the virtual
/// MAC in XDP, both families; a name is warned of (no interface is made), a MAC of its own refused.
#[test]
fn use_vmac_is_read_in_both_formats() {
    let with = |lines: &str| {
        GOOD.replace(
            "virtual_router_id 51",
            &format!("virtual_router_id 51\n{lines}"),
        )
    };
    let vrrp = |l: &Loaded| l.spec.instances[0].vrrp.clone().unwrap();
    let l = load_k(GOOD).unwrap();
    assert!(!vrrp(&l).use_vmac);
    let l = load_k(&with("    use_vmac")).unwrap();
    assert!(vrrp(&l).use_vmac && !vrrp(&l).vmac_xmit_base);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let l = load_k(&with("    use_vmac\n    vmac_xmit_base")).unwrap();
    assert!(vrrp(&l).use_vmac && vrrp(&l).vmac_xmit_base);
    let l = load_k(&with("    use_vmac vrrp.51")).unwrap();
    assert!(vrrp(&l).use_vmac);
    assert!(
        l.warnings[0]
            .to_string()
            .contains("use_vmac vrrp.51: havip makes no interface of that name"),
        "{:?}",
        l.warnings
    );
    let errs = errors(load_k(&with("    use_vmac 02:00:00:00:00:01")));
    assert_error(
        &errs,
        "k.conf:4:14: error: use_vmac 02:00:00:00:00:01: a MAC of its own is not supported",
        &[],
    );
    let l = load_k(&with("    use_vmac").replace("10.0.0.100/24", "fe80::100/64")).unwrap();
    assert!(vrrp(&l).use_vmac, "IPv6 too: 00:00:5e:00:02:VRID");
    // Strict mode resets vmac_xmit_base, as keepalived's does.
    let l = load_k(&format!(
        "global_defs {{\n    vrrp_strict\n}}\n{}",
        with("    use_vmac\n    vmac_xmit_base")
    ))
    .unwrap();
    assert!(vrrp(&l).use_vmac && !vrrp(&l).vmac_xmit_base);

    let toml = |extra: &str| {
        format!("[[instance]]\nname = \"a\"\ninterface = \"eth0\"\nvrid = 1\n{extra}vips = [\"10.0.0.1/24\"]\n")
    };
    let l = load_t(&toml("use_vmac = true\nvmac_xmit_base = true\n")).unwrap();
    assert!(vrrp(&l).use_vmac && vrrp(&l).vmac_xmit_base);
    let l = load_t(&toml("version = 3\nuse_vmac = true\n").replace("10.0.0.1/24", "fd00::1/64"))
        .unwrap();
    assert!(vrrp(&l).use_vmac);
    // IPv6: said, with the gap the kernel's own solicitations leave.
    assert!(
        l.warnings
            .iter()
            .any(|w| w.to_string().contains("use_vmac on IPv6")),
        "{:?}",
        l.warnings
    );
}

/// An instance tracking `track` (lines of a `track_bfd` block), after `top` (blocks above).
fn bfd_conf(top: &str, instance_extra: &str) -> String {
    format!(
        "{top}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  \
         virtual_ipaddress {{\n    10.0.0.100/24\n  }}\n{instance_extra}}}\n"
    )
}

fn warnings_of(l: &Loaded) -> String {
    l.warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// keepalived's `bfd_instance` (its defaults: `BfdSpec::new`), `track_bfd`, `bfd_rt_priority`
/// and havip's `havip_fast_takeover`, and the same in TOML: one spec.
#[test]
fn bfd_instances_are_read_in_both_formats() {
    let k = load_k(&bfd_conf(
        "global_defs {\n  bfd_rt_priority 40\n}\n\
         bfd_instance peer_b {\n  neighbor_ip 10.0.0.2\n  source_ip 10.0.0.1\n  min_rx 3.312\n  \
         min_tx 50\n  idle_tx 1500.25\n  multiplier 3\n  passive\n  ttl 200\n  max_hops 2\n  weight -50\n}\n\
         bfd_instance peer_c {\n  neighbour_ip fd00::3\n}\n\
         bfd_instance peer_d {\n  neighbor_ip 10.0.0.4\n  hoplimit 100\n  vrrp\n  checker\n}\n",
        "  track_bfd {\n    peer_b\n    peer_c weight 10 noreverse\n  }\n  havip_fast_takeover\n",
    ))
    .unwrap();
    assert!(k.warnings.is_empty(), "{}", warnings_of(&k));
    assert_eq!(k.spec.bfd_rt_priority, Some(40));
    let b = &k.spec.bfds;
    assert_eq!(b.len(), 3);
    assert_eq!(
        b[0],
        crate::model::BfdSpec {
            source: Some("10.0.0.1".parse().unwrap()),
            min_rx: Duration::from_micros(3312),
            min_tx: Duration::from_millis(50),
            idle_tx: Duration::from_micros(1_500_250),
            multiplier: 3,
            passive: true,
            ttl: 200,
            max_hops: 2,
            weight: -50,
            ..crate::model::BfdSpec::new("peer_b", "10.0.0.2".parse().unwrap())
        }
    );
    // keepalived's defaults: 10 ms, 10 ms, 1000 ms, 5, active, hop limit 64 for IPv6, 0, 0.
    let c = &b[1];
    assert_eq!(
        (c.min_rx, c.min_tx, c.idle_tx, c.multiplier, c.passive),
        (
            Duration::from_millis(10),
            Duration::from_millis(10),
            Duration::from_secs(1),
            5,
            false
        )
    );
    assert_eq!((c.ttl, c.max_hops, c.weight, c.source), (64, 0, 0, None));
    assert_eq!(b[2].ttl, 100, "hoplimit and ttl are one setting");
    let v = k.spec.instances[0].vrrp.as_ref().unwrap();
    assert_eq!(
        v.track_bfds,
        [
            ("peer_b".to_string(), None),
            ("peer_c".to_string(), Some(10))
        ]
    );
    assert!(v.fast_takeover);

    let t = load_t(
        "bfd_rt_priority = 40\n\
         [[bfd]]\nname = \"peer_b\"\nneighbor = \"10.0.0.2\"\nsource = \"10.0.0.1\"\nmin_rx_ms = 3.312\n\
         min_tx_ms = 50\nidle_tx_ms = 1500.25\nmultiplier = 3\npassive = true\nttl = 200\nmax_hops = 2\nweight = -50\n\
         [[bfd]]\nname = \"peer_c\"\nneighbor = \"fd00::3\"\n\
         [[bfd]]\nname = \"peer_d\"\nneighbor = \"10.0.0.4\"\nttl = 100\n\
         [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n\
         track_bfds = [{ bfd = \"peer_b\" }, { bfd = \"peer_c\", weight = 10 }]\nfast_takeover = true\n",
    )
    .unwrap();
    assert!(t.warnings.is_empty(), "{}", warnings_of(&t));
    assert_eq!(t.spec.bfds, k.spec.bfds);
    assert_eq!(t.spec.bfd_rt_priority, Some(40));
    assert_eq!(t.spec.instances[0].vrrp, k.spec.instances[0].vrrp);
    let shown = render(&k.spec);
    for needle in [
        "bfd_rt_priority: 40",
        "  track_bfd: peer_b (the session's weight)",
        "  track_bfd: peer_c weight 10",
        "  fast_takeover: true",
        "bfd peer_b\n  neighbor: 10.0.0.2, source: 10.0.0.1\n  min_rx 3.312ms, min_tx 50ms, idle_tx 1.50025s, multiplier 3, passive true\n  ttl 200, max_hops 2, weight -50\n",
    ] {
        assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
    }
}

/// What keepalived 2.2.7 refuses in a `bfd_instance` ("Configuration error: BFD instance ...",
/// `keepalived -t` exits 5) is an error, at the value.
#[test]
fn bfd_values_keepalived_refuses_are_errors() {
    let one = |lines: &str| {
        errors(load_k(&bfd_conf(
            &format!("bfd_instance B {{\n  neighbor_ip 10.0.0.2\n{lines}}}\n"),
            "",
        )))
    };
    for (line, says) in [
        ("  min_rx 0.5\n", "k.conf:3:10: error: min_rx 0.5 is out of range"),
        ("  min_tx 4294968\n", "k.conf:3:10: error: min_tx 4294968 is out of range"),
        ("  min_rx 1.0005\n", "k.conf:3:10: error: min_rx 1.0005 has too many decimal places"),
        ("  min_rx abc\n", "k.conf:3:10: error: min_rx abc is not a number"),
        ("  idle_tx 500\n", "k.conf:3:11: error: idle_tx 500 is out of range"),
        ("  multiplier 0\n", "k.conf:3:14: error: multiplier 0 is out of range"),
        ("  ttl 0\n", "k.conf:3:7: error: ttl 0 is out of range"),
        ("  hoplimit 256\n", "k.conf:3:12: error: hoplimit 256 is out of range"),
        ("  max_hops -2\n", "k.conf:3:12: error: max_hops -2 is out of range"),
        ("  weight 254\n", "k.conf:3:10: error: weight 254 is out of range"),
        ("  weight -10 reverse\n", "k.conf:3:14: error: bfd_instance: reverse weights are not supported"),
        ("  source_ip 10.0.0.300\n", "k.conf:3:13: error: source_ip 10.0.0.300 is not an IP address"),
        ("  source_ip fd00::1\n", "k.conf:1:14: error: bfd_instance B: source fd00::1 and neighbour 10.0.0.2 are not of the same family"),
        ("  multihop\n", "k.conf:3:3: error: unknown keyword multihop in bfd_instance"),
    ] {
        assert_error(&one(line), says, &[]);
    }
    let errs = errors(load_k(&bfd_conf(
        "bfd_instance B3 {\n  min_rx 20\n}\nbfd_instance B1 {\n  neighbor_ip 10.0.0.2\n}\n\
         bfd_instance B4 {\n  neighbor_ip 10.0.0.2\n}\nbfd_instance B1 {\n  neighbor_ip 10.0.0.9\n}\n\
         bfd_instance B5 {\n  neighbour_ip 10.0.0.9\n  source_ip 10.0.0.1\n}\n\
         bfd_instance B6 {\n  neighbour_ip 10.0.0.9\n  source_ip 10.0.0.1\n}\n\
         bfd_instance averyveryveryveryverylongname_ab {\n  neighbor_ip 10.0.0.7\n}\n",
        "  track_bfd {\n    B3\n  }\n",
    )));
    assert_error(
        &errs,
        "k.conf:1:14: error: bfd_instance B3 has no neighbor_ip",
        &["no neighbor address set"],
    );
    assert_error(
        &errs,
        "k.conf:7:14: error: bfd_instance B4: a session to 10.0.0.2 is already bfd_instance B1",
        &["duplicate neighbor address"],
    );
    assert_error(
        &errs,
        "k.conf:10:14: error: bfd_instance B1 is defined twice",
        &["already configured"],
    );
    // B5 (10.0.0.9 from 10.0.0.1) is no duplicate of the second B1 (10.0.0.9, refused), B6 is of B5.
    assert_error(&errs, "k.conf:17:14: error: bfd_instance B6: a session to 10.0.0.9 from 10.0.0.1 is already bfd_instance B5", &[]);
    assert_error(&errs, "k.conf:21:14: error: bfd_instance averyveryveryveryverylongname_ab: the name is longer than 31 characters", &["name too long"]);
    // A track of the refused B3 is not reported again.
    assert_eq!(errs.len(), 5, "{errs:#?}");
    // Sessions to one neighbour from two sources are two sessions, as in keepalived.
    let l = load_k(&bfd_conf(
        "bfd_instance B1 {\n  neighbor_ip 10.0.0.2\n  source_ip 10.0.0.1\n}\n\
         bfd_instance B2 {\n  neighbor_ip 10.0.0.2\n  source_ip 10.0.0.4\n}\n",
        "",
    ))
    .unwrap();
    assert_eq!(l.spec.bfds.len(), 2);
    // global_defs: bfd_rt_priority is keepalived's 1 to 99 (it clamps with a config error).
    let errs = errors(load_k(&bfd_conf(
        "global_defs {\n  bfd_rt_priority 0\n}\n",
        "",
    )));
    assert_error(
        &errs,
        "k.conf:2:19: error: bfd_rt_priority 0 is out of range",
        &[],
    );
}

/// What keepalived corrects or drops with a message, havip does too, with a warning: max_hops
/// above the ttl, a session for the checkers only, a duplicate track_bfd; the other `bfd_*`
/// globals are warned of.
#[test]
fn bfd_corrections_come_with_warnings() {
    let l = load_k(&bfd_conf(
        "global_defs {\n  bfd_no_swap\n  bfd_priority -5\n  bfd_cpu_affinity 1\n  bfd_rlimit_rttime 1000\n  \
         bfd_process_name b\n}\n\
         bfd_instance B1 {\n  neighbor_ip fd00::2\n  hoplimit 10\n  max_hops 20\n}\n\
         bfd_instance B2 {\n  neighbor_ip 10.0.0.2\n  max_hops -1\n}\n\
         bfd_instance B3 {\n  neighbor_ip 10.0.0.3\n  checker\n}\n",
        "  track_bfd {\n    B1\n    B1 weight 5\n  }\n",
    ))
    .unwrap();
    let w = warnings_of(&l);
    for needle in [
        "k.conf:2:3: warning: havip ignores bfd_no_swap",
        "k.conf:3:3: warning: havip ignores bfd_priority",
        "k.conf:4:3: warning: havip ignores bfd_cpu_affinity",
        "k.conf:5:3: warning: havip ignores bfd_rlimit_rttime",
        "k.conf:6:3: warning: havip ignores bfd_process_name",
        "k.conf:11:12: warning: bfd_instance B1: max_hops 20 exceeds the hoplimit 10: set to 10, as keepalived does",
        "k.conf:19:3: warning: bfd_instance B3 reports to keepalived's checkers only (checker without vrrp): havip, VRRP only, does not run it",
        "warning: duplicate track_bfd B1 is ignored, as keepalived does",
    ] {
        assert!(w.contains(needle), "{needle:?} not in\n{w}");
    }
    assert_eq!(l.warnings.len(), 8, "{w}");
    let names: Vec<&str> = l.spec.bfds.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["B1", "B2"], "the checkers' session is not run");
    assert_eq!(l.spec.bfds[0].max_hops, 10);
    assert_eq!(l.spec.bfds[1].max_hops, 255, "-1 is 255: not checked");
    assert_eq!(
        l.spec.instances[0].vrrp.as_ref().unwrap().track_bfds,
        [("B1".to_string(), None)]
    );
    // An unknown bfd_ global is unknown (keepalived: "Unknown keyword"), as bfd_pidfile.
    let errs = errors(load_k(&bfd_conf(
        "global_defs {\n  bfd_pidfile /x\n}\n",
        "",
    )));
    assert_error(&errs, "k.conf:2:3: error: unknown keyword bfd_pidfile", &[]);
}

/// keepalived resolves `track_bfd` when it reads it ("track bfd NAME not found, ignoring...",
/// a config error): a session defined below, not at all, or for the checkers only is an error;
/// so are a reverse weight and a weight out of -253..253.
#[test]
fn track_bfd_names_a_session_above() {
    let errs = errors(load_k(&format!(
        "{}bfd_instance B1 {{\n  neighbor_ip 10.0.0.2\n}}\nbfd_instance C {{\n  neighbor_ip 10.0.0.3\n  checker\n}}\n",
        bfd_conf(
            "bfd_instance C0 {\n  neighbor_ip 10.0.0.5\n  checker\n}\n",
            "  track_bfd {\n    B1\n    NOPE\n    C0\n  }\n"
        )
    )));
    assert_error(
        &errs,
        "k.conf:13:5: error: track_bfd B1: no bfd_instance of that name above",
        &["not found, ignoring"],
    );
    assert_error(
        &errs,
        "k.conf:14:5: error: track_bfd NOPE: no bfd_instance of that name above",
        &[],
    );
    assert_error(
        &errs,
        "k.conf:15:5: error: track_bfd C0: bfd_instance C0 reports to keepalived's checkers only",
        &["add vrrp"],
    );
    let top = "bfd_instance B1 {\n  neighbor_ip 10.0.0.2\n}\n";
    let errs = errors(load_k(&bfd_conf(
        top,
        "  track_bfd {\n    B1 weight 10 reverse\n  }\n",
    )));
    assert_error(
        &errs,
        "k.conf:12:18: error: track_bfd: reverse weights are not supported",
        &[],
    );
    let errs = errors(load_k(&bfd_conf(
        top,
        "  track_bfd {\n    B1 weight 254\n  }\n",
    )));
    assert_error(
        &errs,
        "k.conf:12:15: error: weight 254 is out of range",
        &["-253 to 253"],
    );
}

/// `track_bfd` in a sync group goes to every member, cleared of its weight when a member is
/// the address owner; a member's own weighted track_bfd is dropped, as keepalived does
/// ("(VI_1) ignoring tracked bfd B1 with weight -10 due to SYNC group").
#[test]
fn sync_group_track_bfd_is_keepalived_s() {
    let conf = |prio_b: u32, member_track: &str| {
        format!(
            "bfd_instance B1 {{\n  neighbor_ip 10.0.0.2\n  weight -10\n}}\nbfd_instance B2 {{\n  neighbor_ip 10.0.0.3\n}}\n\
             vrrp_sync_group G {{\n  group {{\n    A\n    B\n  }}\n  track_bfd {{\n    B2 weight 5\n  }}\n}}\n\
             vrrp_instance A {{\n  interface eth0\n  virtual_router_id 1\n  virtual_ipaddress {{\n    10.0.0.1/24\n  }}\n{member_track}}}\n\
             vrrp_instance B {{\n  interface eth0\n  virtual_router_id 2\n  priority {prio_b}\n  virtual_ipaddress {{\n    10.0.0.2/24\n  }}\n}}\n"
        )
    };
    let k = load_k(&conf(100, "")).unwrap();
    assert!(k.warnings.is_empty(), "{}", warnings_of(&k));
    for i in &k.spec.instances {
        assert_eq!(
            i.vrrp.as_ref().unwrap().track_bfds,
            [("B2".to_string(), Some(5))]
        );
    }
    let k = load_k(&conf(255, "")).unwrap();
    assert_eq!(
        k.spec.instances[0].vrrp.as_ref().unwrap().track_bfds,
        [("B2".to_string(), Some(0))]
    );
    assert!(
        warnings_of(&k).contains("the weights of track_bfd B2 are cleared"),
        "{}",
        warnings_of(&k)
    );
    let k = load_k(&conf(100, "  track_bfd {\n    B1\n    B2 weight 0\n  }\n")).unwrap();
    assert_eq!(
        k.spec.instances[0].vrrp.as_ref().unwrap().track_bfds,
        [("B2".to_string(), Some(0)), ("B2".to_string(), Some(5))]
    );
    assert!(
        warnings_of(&k).contains("(A) ignoring tracked bfd B1 with weight -10 due to SYNC group"),
        "{}",
        warnings_of(&k)
    );
    let errs = errors(load_k(
        &conf(100, "").replace("    B2 weight 5", "    NOPE"),
    ));
    assert_error(&errs, "k.conf:14:5: error: track_bfd NOPE", &[]);

    let t = load_t(
        "[[bfd]]\nname = \"B2\"\nneighbor = \"10.0.0.3\"\n\
         [[instance]]\nname = \"A\"\ninterface = \"eth0\"\nvrid = 1\nvips = [\"10.0.0.1/24\"]\n\
         [[instance]]\nname = \"B\"\ninterface = \"eth0\"\nvrid = 2\nvips = [\"10.0.0.2/24\"]\n\
         [[sync_group]]\nname = \"G\"\ninstances = [\"A\", \"B\"]\ntrack_bfds = [{ bfd = \"B2\", weight = 5 }]\n",
    )
    .unwrap();
    for i in &t.spec.instances {
        assert_eq!(
            i.vrrp.as_ref().unwrap().track_bfds,
            [("B2".to_string(), Some(5))]
        );
    }
}

/// havip's fast takeover needs a BFD session (an error without one, in both formats) and means
/// nothing to the address owner (a warning).
#[test]
fn fast_takeover_needs_a_session_and_a_backup() {
    let errs = errors(load_k(&bfd_conf("", "  havip_fast_takeover\n")));
    assert_error(
        &errs,
        "k.conf:8:3: error: instance VI_1: havip_fast_takeover needs a BFD session, and none is defined",
        &["bfd_instance NAME { neighbor_ip PEER }"],
    );
    let top = "bfd_instance B1 {\n  neighbor_ip 10.0.0.2\n}\n";
    let l =
        load_k(&bfd_conf(top, "  havip_fast_takeover\n").replace("priority 100", "priority 255"))
            .unwrap();
    assert!(
        warnings_of(&l).contains("k.conf:11:3: warning: instance VI_1: havip_fast_takeover has no effect on the address owner (priority 255)"),
        "{}",
        warnings_of(&l)
    );
    let l = load_k(&bfd_conf(top, "  havip_fast_takeover yes\n")).unwrap();
    assert!(l.spec.instances[0].vrrp.as_ref().unwrap().fast_takeover);
    assert!(warnings_of(&l).contains("extra words after havip_fast_takeover are ignored"));
    let toml = "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nfast_takeover = true\n";
    let errs = errors(load_t(toml));
    assert_error(
        &errs,
        "h.toml:6:17: error: instance VI_1: fast_takeover = true needs a BFD session",
        &[],
    );
    assert!(load_t(&toml.replace("true", "false")).is_ok());
}

/// TOML refuses what keepalived would refuse or correct, at the value.
#[test]
fn toml_bfd_errors_point_at_the_value() {
    let with = |bfd: &str, inst: &str| {
        load_t(&format!(
            "[[bfd]]\nname = \"B\"\nneighbor = \"10.0.0.2\"\n{bfd}\
             [[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n{inst}"
        ))
    };
    for (bfd, says) in [
        ("min_rx_ms = 0.5\n", "h.toml:4:13: error: bfd B: min_rx_ms 0.5 is out of range"),
        ("min_tx_ms = 1.0005\n", "h.toml:4:13: error: bfd B: min_tx_ms 1.0005 has more than 3 decimals"),
        ("idle_tx_ms = 999\n", "h.toml:4:14: error: bfd B: idle_tx_ms 999 is out of range"),
        ("multiplier = 0\n", "h.toml:4:14: error: multiplier 0 is out of range"),
        ("ttl = 10\nmax_hops = 20\n", "h.toml:5:12: error: bfd B: max_hops 20 exceeds the ttl 10"),
        ("weight = -254\n", "h.toml:4:10: error: weight -254 is out of range"),
        ("source = \"fd00::1\"\n", "h.toml:1:1: error: bfd_instance B: source fd00::1 and neighbour 10.0.0.2 are not of the same family"),
        ("passive = 1\n", "h.toml:4:11: error: bfd[0].passive: invalid type"),
        ("detect = 3\n", "h.toml:4:1: error: bfd[0].detect: unknown field `detect`"),
        (
            "[[bfd]]\nname = \"C\"\nneighbor = \"10.0.0.2\"\n",
            "h.toml:4:1: error: bfd_instance C: a session to 10.0.0.2 is already bfd_instance B",
        ),
        (
            "[[bfd]]\nname = \"B\"\nneighbor = \"10.0.0.3\"\n",
            "h.toml:4:1: error: bfd_instance B is defined twice",
        ),
    ] {
        assert_error(&errors(with(bfd, "")), says, &[]);
    }
    let errs = errors(with("", "track_bfds = [{ bfd = \"nope\" }]\n"));
    assert_error(
        &errs,
        "h.toml:9:15: error: track_bfds: no [[bfd]] named nope",
        &[],
    );
    let errs = errors(with("", "track_bfds = [{ bfd = \"B\", weight = 254 }]\n"));
    assert_error(
        &errs,
        "h.toml:9:15: error: track_bfds B: weight is out of range -253 to 253",
        &[],
    );
    let errs = errors(load_t("bfd_rt_priority = 100\n[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n"));
    assert_error(
        &errs,
        "h.toml:1:19: error: bfd_rt_priority 100 is out of range",
        &[],
    );
}

/// A `havip_bgp` block: every keyword, with the TOML and the rendering that say the same.
const BGP_FULL: &str = "havip_bgp {
  local_as 65001
  router_id 10.0.0.1
  mode active_standby
  backup prepend 3
  hold_time 30
  community 65001:100 65001:200
  community 65535:65281
  bfd_min_rx 100
  bfd_min_tx 200
  bfd_multiplier 5
  bird /usr/sbin/bird
  neighbor 10.0.0.254 {
    remote_as 65000
    bfd
    source 10.0.0.1
  }
  neighbour fd00::fe {
    remote_as 4200000000
  }
}
";

/// A `havip_bgp` block with one neighbour, `extra` lines after `local_as` and `neighbor`
/// lines in the neighbour's block (the block's first line is 1, `extra` starts on line 3).
fn bgp_block(extra: &str, neighbor: &str) -> String {
    format!(
        "havip_bgp {{\n  local_as 65001\n{extra}  neighbor 10.0.0.254 {{\n    remote_as 65000\n{neighbor}  }}\n}}\n"
    )
}

/// havip's `havip_bgp` and `havip_bgp_announce`, and TOML's `[bgp]` and `bgp_announce`: one
/// spec, rendered by check-config.
#[test]
fn bgp_is_read_in_both_formats() {
    use crate::model::{BackupRoute, BgpBfdTimers, BgpMode, BgpNeighbor, BgpSpec};
    let k = load_k(&bfd_conf(BGP_FULL, "  havip_bgp_announce\n")).unwrap();
    assert!(k.warnings.is_empty(), "{}", warnings_of(&k));
    let want = BgpSpec {
        router_id: Some("10.0.0.1".parse().unwrap()),
        mode: BgpMode::ActiveStandby,
        backup: BackupRoute::Prepend(3),
        neighbors: vec![
            BgpNeighbor {
                addr: "10.0.0.254".parse().unwrap(),
                remote_as: 65000,
                bfd: true,
                source: Some("10.0.0.1".parse().unwrap()),
            },
            BgpNeighbor {
                addr: "fd00::fe".parse().unwrap(),
                remote_as: 4_200_000_000,
                bfd: false,
                source: None,
            },
        ],
        communities: vec![(65001, 100), (65001, 200), (65535, 65281)],
        hold_time: 30,
        bfd: BgpBfdTimers {
            min_rx: Duration::from_millis(100),
            min_tx: Duration::from_millis(200),
            multiplier: 5,
        },
        bird: "/usr/sbin/bird".into(),
        ..BgpSpec::new(65001)
    };
    assert_eq!(k.spec.bgp.as_ref(), Some(&want));
    assert!(k.spec.instances[0].bgp_announce);

    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nbgp_announce = true\n\
         [bgp]\nlocal_as = 65001\nrouter_id = \"10.0.0.1\"\nmode = \"active-standby\"\nbackup = { prepend = 3 }\n\
         hold_time = 30\ncommunities = [\"65001:100\", \"65001:200\", \"65535:65281\"]\nbird = \"/usr/sbin/bird\"\n\
         bfd = { min_rx_ms = 100, min_tx_ms = 200, multiplier = 5 }\n\
         [[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65000\nbfd = true\nsource = \"10.0.0.1\"\n\
         [[bgp.neighbor]]\naddress = \"fd00::fe\"\nremote_as = 4200000000\n",
    )
    .unwrap();
    assert!(t.warnings.is_empty(), "{}", warnings_of(&t));
    assert_eq!(t.spec.bgp, k.spec.bgp);
    assert!(t.spec.instances[0].bgp_announce);
    let shown = render(&k.spec);
    for needle in [
        "instance VI_1\n  interface: eth0\n  vip: 10.0.0.100/24\n  bgp_announce: true\n",
        "bgp\n  local_as: 65001, router_id: 10.0.0.1\n  mode: active-standby, backup: prepend 3, hold_time: 30\n  \
         communities: 65001:100, 65001:200, 65535:65281\n  bfd: min_rx 100ms, min_tx 200ms, multiplier 5\n  \
         bird: /usr/sbin/bird\n  neighbor 10.0.0.254: remote_as 65000, bfd true, source 10.0.0.1\n  \
         neighbor fd00::fe: remote_as 4200000000, bfd false, source -\n",
    ] {
        assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
    }

    // The defaults: BgpSpec::new's (active/standby, withdraw, hold time 9, 50 ms x 3, bird).
    let k = load_k(&bfd_conf(&bgp_block("", ""), "  havip_bgp_announce\n")).unwrap();
    assert!(k.warnings.is_empty(), "{}", warnings_of(&k));
    let neighbor = BgpNeighbor {
        addr: "10.0.0.254".parse().unwrap(),
        remote_as: 65000,
        bfd: false,
        source: None,
    };
    let defaults = BgpSpec {
        neighbors: vec![neighbor],
        ..BgpSpec::new(65001)
    };
    assert_eq!(k.spec.bgp.as_ref(), Some(&defaults));
    let b = k.spec.bgp.as_ref().unwrap();
    assert_eq!(
        (b.mode, b.backup, b.hold_time, b.bird.to_str()),
        (
            BgpMode::ActiveStandby,
            BackupRoute::Withdraw,
            9,
            Some("bird")
        )
    );
    assert_eq!(
        (b.bfd.min_rx, b.bfd.min_tx, b.bfd.multiplier),
        (Duration::from_millis(50), Duration::from_millis(50), 3)
    );
    let t = load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nbgp_announce = true\n\
         [bgp]\nlocal_as = 65001\n[[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65000\n",
    )
    .unwrap();
    assert_eq!(t.spec.bgp.as_ref(), Some(&defaults));
    // The other values of mode and backup.
    for (block, mode, backup) in [
        (
            "  backup withdraw\n",
            BgpMode::ActiveStandby,
            BackupRoute::Withdraw,
        ),
        (
            "  backup med 100\n",
            BgpMode::ActiveStandby,
            BackupRoute::Med(100),
        ),
        ("  mode anycast\n", BgpMode::Anycast, BackupRoute::Withdraw),
    ] {
        let k = load_k(&bfd_conf(&bgp_block(block, ""), "  havip_bgp_announce\n")).unwrap();
        let b = k.spec.bgp.unwrap();
        assert_eq!((b.mode, b.backup), (mode, backup), "{block}");
    }
    for (toml, mode, backup) in [
        (
            "backup = \"withdraw\"\n",
            BgpMode::ActiveStandby,
            BackupRoute::Withdraw,
        ),
        (
            "backup = { med = 100 }\n",
            BgpMode::ActiveStandby,
            BackupRoute::Med(100),
        ),
        (
            "mode = \"anycast\"\n",
            BgpMode::Anycast,
            BackupRoute::Withdraw,
        ),
    ] {
        let t = load_t(&format!(
            "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nbgp_announce = true\n\
             [bgp]\nlocal_as = 65001\n{toml}[[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65000\n"
        ))
        .unwrap();
        let b = t.spec.bgp.unwrap();
        assert_eq!((b.mode, b.backup), (mode, backup), "{toml}");
    }
    // Without the block, nothing announces and nothing is shown.
    let k = load_k(&bfd_conf("", "")).unwrap();
    assert!(k.spec.bgp.is_none() && !k.spec.instances[0].bgp_announce);
    assert!(!render(&k.spec).contains("bgp"));
}

/// What the `havip_bgp` block refuses, at the value (or the keyword, for what is missing).
#[test]
fn bgp_values_refused_are_errors() {
    let one = |extra: &str, neighbor: &str| {
        errors(load_k(&bfd_conf(
            &bgp_block(extra, neighbor),
            "  havip_bgp_announce\n",
        )))
    };
    for (extra, says, contains) in [
        (
            "  local_as 0\n",
            "k.conf:3:12: error: local_as 0 is out of range",
            "1-4294967295",
        ),
        (
            "  local_as 4294967296\n",
            "k.conf:3:12: error: local_as 4294967296 is out of range",
            "",
        ),
        (
            "  local_as -5\n",
            "k.conf:3:12: error: local_as -5 is negative",
            "",
        ),
        (
            "  router_id fd00::1\n",
            "k.conf:3:13: error: router_id fd00::1 is not an IPv4 address",
            "32 bits",
        ),
        (
            "  router_id 0.0.0.0\n",
            "k.conf:3:13: error: router_id 0.0.0.0 is not a BGP identifier",
            "",
        ),
        (
            "  mode hot_standby\n",
            "k.conf:3:8: error: mode hot_standby is not a BGP mode",
            "active_standby",
        ),
        (
            "  backup prepend 11\n",
            "k.conf:3:18: error: backup prepend 11 is out of range",
            "1-10",
        ),
        (
            "  backup prepend 0\n",
            "k.conf:3:18: error: backup prepend 0 is out of range",
            "",
        ),
        (
            "  backup med 0\n",
            "k.conf:3:14: error: backup med 0 is out of range",
            "1-4294967295",
        ),
        (
            "  backup prepend\n",
            "k.conf:3:10: error: backup prepend needs a number",
            "",
        ),
        (
            "  backup local_pref 50\n",
            "k.conf:3:10: error: backup local_pref is not a backup route",
            "withdraw, prepend N",
        ),
        ("  backup\n", "k.conf:3:3: error: backup needs a value", ""),
        (
            "  hold_time 2\n",
            "k.conf:3:13: error: hold_time 2 is out of range",
            "3-65535",
        ),
        (
            "  community 65536:1\n",
            "k.conf:3:13: error: community \"65536:1\" is not a standard community",
            "each 0 to 65535",
        ),
        (
            "  community 65001:1:2\n",
            "k.conf:3:13: error: community \"65001:1:2\" is not a standard community",
            "",
        ),
        (
            "  community\n",
            "k.conf:3:3: error: community needs a value",
            "",
        ),
        (
            "  bfd_min_rx 0\n",
            "k.conf:3:14: error: bfd_min_rx 0 is out of range",
            "1-10000",
        ),
        (
            "  bfd_min_tx 10001\n",
            "k.conf:3:14: error: bfd_min_tx 10001 is out of range",
            "",
        ),
        (
            "  bfd_multiplier 256\n",
            "k.conf:3:18: error: bfd_multiplier 256 is out of range",
            "1-255",
        ),
        (
            "  bird sbin/bird\n",
            "k.conf:3:8: error: bird \"sbin/bird\": a relative path",
            "",
        ),
        (
            "  as 65001\n",
            "k.conf:3:3: error: unknown keyword as in havip_bgp",
            "",
        ),
        (
            "  neighbor 10.0.0.254 {\n    remote_as 65001\n  }\n",
            "k.conf:6:12: error: neighbor 10.0.0.254 is defined twice",
            "merge",
        ),
        (
            "  neighbor 10.0.0.300 {\n    remote_as 65001\n  }\n",
            "k.conf:3:12: error: neighbor 10.0.0.300 is not an IP address",
            "",
        ),
        (
            "  neighbor fe80::1 {\n    remote_as 65001\n  }\n",
            "k.conf:3:12: error: neighbor fe80::1: link-local",
            "",
        ),
        (
            "  neighbour 224.0.0.5 {\n    remote_as 65001\n  }\n",
            "k.conf:3:13: error: neighbour 224.0.0.5: not a unicast address",
            "",
        ),
        (
            "  neighbor 10.0.0.9 {\n  }\n",
            "k.conf:3:12: error: neighbor 10.0.0.9 has no remote_as",
            "remote_as AS",
        ),
        (
            "  neighbor {\n    remote_as 65001\n  }\n",
            "k.conf:3:3: error: neighbor needs an address",
            "",
        ),
        (
            "  neighbor 10.0.0.9\n",
            "k.conf:3:3: error: neighbor needs a block",
            "",
        ),
    ] {
        let errs = one(extra, "");
        assert_error(&errs, says, &[contains]);
        assert_eq!(errs.len(), 1, "{extra:?}: {errs:#?}");
    }
    // In the neighbour's block (`neighbor` lines start on line 5).
    for (neighbor, says, contains) in [
        ("    remote_as 0\n", "k.conf:5:15: error: remote_as 0 is out of range", "1-4294967295"),
        ("    source 10.0.0\n", "k.conf:5:12: error: source 10.0.0 is not an IP address", ""),
        ("    source fd00::1\n", "k.conf:5:12: error: neighbor 10.0.0.254: source fd00::1: not of the neighbour's family (10.0.0.254)", "neighbour's family"),
        ("    source fe80::1\n", "k.conf:5:12: error: neighbor 10.0.0.254: source fe80::1: link-local", ""),
        ("    multihop 2\n", "k.conf:5:5: error: unknown keyword multihop in neighbor", ""),
    ] {
        let errs = one("", neighbor);
        assert_error(&errs, says, &[contains]);
        assert_eq!(errs.len(), 1, "{neighbor:?}: {errs:#?}");
    }
    // No local_as; a second block.
    let errs = errors(load_k(&bfd_conf(
        "havip_bgp {\n  neighbor 10.0.0.254 {\n    remote_as 65000\n  }\n}\n",
        "  havip_bgp_announce\n",
    )));
    assert_error(
        &errs,
        "k.conf:1:1: error: havip_bgp has no local_as (expected local_as AS)",
        &[],
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let errs = errors(load_k(&bfd_conf(
        &format!("{}havip_bgp {{\n  local_as 65002\n}}\n", bgp_block("", "")),
        "  havip_bgp_announce\n",
    )));
    assert_error(
        &errs,
        "k.conf:7:1: error: havip_bgp is defined twice",
        &["merge this block into the first, at k.conf:1:1"],
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    // A one-line neighbour block reads as keepalived's lines do: `bfd` is lost, with a warning.
    let l = load_k(&bfd_conf(
        "havip_bgp {\n  local_as 65001\n  neighbor 10.0.0.254 { remote_as 65000 bfd }\n}\n",
        "  havip_bgp_announce\n",
    ))
    .unwrap();
    assert!(!l.spec.bgp.as_ref().unwrap().neighbors[0].bfd);
    assert!(
        warnings_of(&l).contains("k.conf:3:41: warning: keepalived reads one keyword per line: `bfd` is taken as more words of `remote_as`"),
        "{}",
        warnings_of(&l)
    );
}

/// The block against the instances, in both formats: an instance announcing without a block,
/// a block without a neighbour (errors); a block nothing announces from, timers no neighbour
/// uses (warnings); in anycast mode, what only an election uses (warnings).
#[test]
fn bgp_cross_checks() {
    let errs = errors(load_k(&bfd_conf("", "  havip_bgp_announce\n")));
    assert_error(
        &errs,
        "k.conf:8:3: error: instance VI_1: havip_bgp_announce, but no BGP block is defined",
        &["havip_bgp { local_as AS  neighbor ADDRESS { remote_as AS } }"],
    );
    let errs = errors(load_k(&bfd_conf(
        "havip_bgp {\n  local_as 65001\n}\n",
        "  havip_bgp_announce\n",
    )));
    assert_error(
        &errs,
        "k.conf:1:1: error: havip_bgp has no neighbor: no router would hear the routes",
        &["neighbor ADDRESS { remote_as AS }"],
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    // A block with errors of its own is not reported as missing, nor as empty.
    let errs = errors(load_k(&bfd_conf(
        "havip_bgp {\n  local_as 0\n}\n",
        "  havip_bgp_announce\n",
    )));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let l = load_k(&bfd_conf(&bgp_block("  bfd_min_rx 100\n", ""), "")).unwrap();
    let w = warnings_of(&l);
    assert!(
        w.contains("k.conf:1:1: warning: havip_bgp: no instance announces its VIPs, so the BGP sessions carry no route"),
        "{w}"
    );
    assert!(
        w.contains("k.conf:3:3: warning: havip_bgp: bfd_min_rx is set, but no neighbor has bfd: the timers apply to no session"),
        "{w}"
    );
    assert_eq!(l.warnings.len(), 2, "{w}");
    // Anycast: the members' election settings are ignored; active/standby says nothing of them.
    let conf = |mode: &str| {
        format!(
            "bfd_instance B {{\n  neighbor_ip 10.0.0.2\n}}\n\
             {}vrrp_sync_group G {{\n  group {{\n    VI_1\n    VI_2\n  }}\n}}\n\
             vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  unicast_peer {{\n    10.0.0.2\n  }}\n  \
             virtual_ipaddress {{\n    10.0.0.100/24\n  }}\n  havip_fast_takeover\n  havip_bgp_announce\n}}\n\
             vrrp_instance VI_2 {{\n  interface eth0\n  virtual_router_id 52\n  virtual_ipaddress {{\n    10.0.0.101/24\n  }}\n}}\n",
            bgp_block(&format!("  mode {mode}\n  backup med 10\n"), "")
        )
    };
    let l = load_k(&conf("active_standby")).unwrap();
    assert!(l.warnings.is_empty(), "{}", warnings_of(&l));
    let l = load_k(&conf("anycast")).unwrap();
    let w = warnings_of(&l);
    for needle in [
        "k.conf:7:3: warning: havip_bgp: backup is ignored in anycast mode",
        "k.conf:28:3: warning: instance VI_1: its sync group G is ignored in anycast mode: an announcing instance holds no election",
        "k.conf:28:3: warning: instance VI_1: its unicast peers are ignored in anycast mode",
        "k.conf:28:3: warning: instance VI_1: fast takeover is ignored in anycast mode",
    ] {
        assert!(w.contains(needle), "{needle:?} not in\n{w}");
    }
    assert_eq!(l.warnings.len(), 4, "{w}");

    // TOML: the same checks, at the keys; a static instance cannot announce.
    let inst = "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n";
    let errs = errors(load_t(&format!("{inst}bgp_announce = true\n")));
    assert_error(
        &errs,
        "h.toml:6:16: error: instance VI_1: bgp_announce = true, but no BGP block is defined",
        &["[bgp] in TOML"],
    );
    let errs = errors(load_t(&format!(
        "{inst}bgp_announce = true\n[bgp]\nlocal_as = 65001\n"
    )));
    assert_error(&errs, "h.toml:7:1: error: [bgp] has no neighbor", &[]);
    let block = "[bgp]\nlocal_as = 65001\nmode = \"anycast\"\nbackup = \"withdraw\"\nbfd = { multiplier = 5 }\n\
                 [[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65000\n";
    let l = load_t(&format!("{inst}unicast_peers = [\"10.0.0.2\"]\n{block}")).unwrap();
    let w = warnings_of(&l);
    for needle in [
        "h.toml:7:1: warning: [bgp]: no instance announces its VIPs",
        "h.toml:10:10: warning: [bgp]: backup is ignored in anycast mode",
        "h.toml:11:7: warning: [bgp]: bfd is set, but no neighbor has bfd",
    ] {
        assert!(w.contains(needle), "{needle:?} not in\n{w}");
    }
    let l = load_t(&format!(
        "{inst}unicast_peers = [\"10.0.0.2\"]\nbgp_announce = true\n{block}"
    ))
    .unwrap();
    assert!(
        warnings_of(&l).contains(
            "h.toml:7:16: warning: instance VI_1: its unicast peers are ignored in anycast mode"
        ),
        "{}",
        warnings_of(&l)
    );
    let errs = errors(load_t(&format!(
        "[[instance]]\nname = \"S\"\ninterface = \"eth0\"\nstatic = true\nvips = [\"10.0.0.100/24\"]\nbgp_announce = true\n{block}"
    )));
    assert_error(
        &errs,
        "h.toml:6:16: error: instance S: bgp_announce = true, but the instance is static: it holds no election",
        &["give the instance a VRRP election"],
    );
}

/// TOML refuses what the keepalived block refuses, at the value or the table.
#[test]
fn toml_bgp_errors_point_at_the_value() {
    let with = |bgp: &str, neighbor: &str| {
        load_t(&format!(
            "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\nbgp_announce = true\n\
             [bgp]\nlocal_as = 65001\n{bgp}[[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65000\n{neighbor}"
        ))
    };
    for (bgp, says) in [
        ("router_id = \"fd00::1\"\n", "h.toml:9:13: error: router_id \"fd00::1\" is not a non-zero IPv4 address"),
        ("mode = \"hot-standby\"\n", "h.toml:9:8: error: bgp.mode: unknown variant `hot-standby`, expected `active-standby` or `anycast`"),
        ("backup = { prepend = 11 }\n", "h.toml:9:10: error: backup prepend 11 is out of range"),
        ("backup = { med = 0 }\n", "h.toml:9:10: error: backup med 0 is out of range"),
        ("backup = \"local-pref\"\n", "h.toml:9:10: error: bgp.backup: unknown variant `local-pref`"),
        ("hold_time = 70000\n", "h.toml:9:13: error: hold_time 70000 is out of range"),
        ("communities = [\"65001\"]\n", "h.toml:9:16: error: community \"65001\" is not a standard community"),
        ("bird = \"bin/bird\"\n", "h.toml:9:8: error: bird \"bin/bird\": a relative path"),
        ("bfd = { min_rx_ms = 0 }\n", "h.toml:9:21: error: bfd.min_rx_ms 0 is out of range"),
        ("bfd = { multiplier = 0 }\n", "h.toml:9:22: error: bfd.multiplier 0 is out of range"),
        ("bfd = { min_rx_ms = 2.5 }\n", "h.toml:9:21: error: bgp.bfd.min_rx_ms: invalid type: floating point `2.5`, expected i64"),
        ("hold = 9\n", "h.toml:9:1: error: bgp.hold: unknown field `hold`"),
    ] {
        let errs = errors(with(bgp, ""));
        assert_error(&errs, says, &[]);
        assert_eq!(errs.len(), 1, "{bgp:?}: {errs:#?}");
    }
    let errs = errors(load_t(
        "[[instance]]\nname = \"VI_1\"\ninterface = \"eth0\"\nvrid = 51\nvips = [\"10.0.0.100/24\"]\n[bgp]\nlocal_as = 0\n",
    ));
    assert_error(&errs, "h.toml:7:12: error: local_as 0 is out of range", &[]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    for (neighbor, says) in [
        ("source = \"fd00::1\"\n", "h.toml:9:1: error: neighbor 10.0.0.254: source fd00::1 is not of the neighbour's family"),
        ("remote_as = 0\n", "h.toml:12:1: error: duplicate key"),
        (
            "[[bgp.neighbor]]\naddress = \"10.0.0.254\"\nremote_as = 65002\n",
            "h.toml:12:1: error: neighbor 10.0.0.254 is defined twice",
        ),
        (
            "[[bgp.neighbor]]\naddress = \"10.0.0.9\"\n",
            "h.toml:12:1: error: bgp.neighbor[1]: missing field `remote_as`",
        ),
        (
            "[[bgp.neighbor]]\naddress = \"10.0.0.9\"\nremote_as = 0\n",
            "h.toml:14:13: error: remote_as 0 is out of range",
        ),
        (
            "[[bgp.neighbor]]\naddress = \"fe80::9\"\nremote_as = 1\n",
            "h.toml:12:1: error: neighbor fe80::9: link-local",
        ),
        (
            "[[bgp.neighbor]]\naddress = \"10.0.0.x\"\nremote_as = 1\n",
            "h.toml:13:11: error: bgp neighbor address \"10.0.0.x\" is not an IP address",
        ),
    ] {
        let errs = errors(with("", neighbor));
        assert_error(&errs, says, &[]);
        assert_eq!(errs.len(), 1, "{neighbor:?}: {errs:#?}");
    }
}

/// BIRD's BFD and havip's `bfd_instance` cannot share UDP port 3784; a VIP family without a
/// neighbour of that family is announced to no one.
#[test]
fn bgp_bfd_beside_bfd_instance_is_refused_and_a_family_without_neighbor_warned() {
    let top = format!(
        "bfd_instance B {{\n  neighbor_ip 10.0.0.2\n}}\n{}",
        bgp_block("", "    bfd\n")
    );
    let errs = errors(load_k(&bfd_conf(&top, "  havip_bgp_announce\n")));
    assert_error(
        &errs,
        "k.conf:4:1: error: havip_bgp: bfd on a BGP neighbor and bfd_instance sessions cannot run together: BIRD's BFD and havip's both need UDP port 3784 in this network namespace",
        &["keep one"],
    );
    // Without bfd on the neighbour, both run.
    let top = format!(
        "bfd_instance B {{\n  neighbor_ip 10.0.0.2\n}}\n{}",
        bgp_block("", "")
    );
    let l = load_k(&bfd_conf(&top, "  havip_bgp_announce\n")).unwrap();
    assert!(l.warnings.is_empty(), "{}", warnings_of(&l));
    let conf = format!(
        "{}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 51\n  \
         virtual_ipaddress {{\n    fd00::100/128\n  }}\n  havip_bgp_announce\n}}\n",
        bgp_block("", "")
    );
    let w = warnings_of(&load_k(&conf).unwrap());
    assert!(
        w.contains(
            "warning: instance VI_1: its IPv6 VIPs are announced to no one: no neighbor is IPv6"
        ),
        "{w}"
    );
    assert!(!w.contains("IPv4 VIPs"), "{w}");
}
