//! The exposition parsed back with a strict reader of the text format, and served over HTTP.

use std::collections::{BTreeMap, HashMap};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

use super::*;
use crate::{
    control::{AdvertCounters, DaemonSnapshot, InstanceSnapshot, LatencySummary},
    stats::{VipStats, VridStats, XdpStats},
};

type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses Prometheus text format 0.0.4 as strictly as Prometheus does, and checks the
/// conventions: HELP then TYPE once per family before its samples, samples named after their
/// family (counters `_total`), `havip_` names, no duplicate series.
fn parse(text: &str) -> (Series, HashMap<String, String>) {
    let mut series = Series::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut current: Option<String> = None;
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(!help.is_empty(), "{line}");
            assert!(helped.insert(name.to_string()), "second HELP for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("TYPE name type");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(["counter", "gauge"].contains(&ty), "{line}");
            assert!(
                types.insert(name.into(), ty.into()).is_none(),
                "second TYPE {name}"
            );
            if ty == "counter" {
                assert!(name.ends_with("_total"), "counter {name} without _total");
            } else {
                assert!(
                    !name.ends_with("_total"),
                    "gauge {name} named like a counter"
                );
            }
            current = Some(name.to_string());
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (name, labels, value) = sample(line);
        assert!(name.starts_with("havip_"), "{name}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
            "{name}"
        );
        assert_eq!(
            Some(&name),
            current.as_ref(),
            "sample outside its family: {line}"
        );
        if types[&name] == "counter" {
            assert!(value >= 0.0 && value.fract() == 0.0, "{line}");
        }
        let mut keys: Vec<&String> = labels.iter().map(|(k, _)| k).collect();
        keys.dedup();
        assert_eq!(keys.len(), labels.len(), "repeated label in {line}");
        let mut sorted = labels.clone();
        sorted.sort();
        assert!(
            series.insert((name, sorted), value).is_none(),
            "duplicate series {line}"
        );
    }
    (series, types)
}

fn sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let name_end = line.find(['{', ' ']).expect("name then labels or value");
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '}' {
                end = Some(i);
                break;
            }
            if c == ',' {
                continue;
            }
            let key_start = i;
            let mut key_end = i;
            for (j, c) in chars.by_ref() {
                if c == '=' {
                    key_end = j;
                    break;
                }
            }
            let key = r[key_start..key_end].to_string();
            assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line}");
            let mut value = String::new();
            loop {
                match chars.next().expect("closing quote").1 {
                    '"' => break,
                    '\\' => match chars.next().expect("escape").1 {
                        'n' => value.push('\n'),
                        c @ ('\\' | '"') => value.push(c),
                        c => panic!("bad escape \\{c} in {line}"),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key, value));
        }
        rest = &r[end.expect("closing brace") + 1..];
    }
    let value = rest.strip_prefix(' ').expect("space before the value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    (name, labels, value)
}

fn get(series: &Series, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    *series
        .get(&(name.to_string(), l))
        .unwrap_or_else(|| panic!("no series {name}{labels:?}"))
}

fn full_stats() -> Stats {
    let mut rejected = BTreeMap::new();
    rejected.insert("auth".to_string(), 4);
    rejected.insert("ttl".to_string(), 0);
    let web = InstanceSnapshot {
        name: "web".into(),
        iface: "eth0".into(),
        vrid: Some(51),
        version: Some(3),
        state: "MASTER".into(),
        base_priority: Some(100),
        effective_priority: Some(80),
        master: Some("192.0.2.1".into()),
        vips: vec!["192.0.2.100/24".into()],
        owned: true,
        host_fault: None,
        adverts: AdvertCounters {
            sent: 1000,
            priority_zero_sent: 1,
            received: 12,
            priority_zero_received: 2,
            malformed: 3,
            address_list_mismatch: 5,
            rejected,
            transitions: 7,
            became_master: 3,
            garps_sent: 25,
        },
    };
    let lb = InstanceSnapshot {
        name: "lb \"east\"".into(),
        iface: "eth1".into(),
        state: "STATIC".into(),
        vips: vec!["198.51.100.1/32".into()],
        owned: true,
        ..InstanceSnapshot::default()
    };
    let mut global = BTreeMap::new();
    global.insert("passed".to_string(), 123456);
    global.insert("vrrp_unknown_vrid".to_string(), 9);
    Stats {
        daemon: Some(DaemonSnapshot {
            pid: 4242,
            advert_path: "socket".into(),
            instances: vec![web, lb],
            advert_delivery: Some(LatencySummary {
                samples: 512,
                p50_us: 31.5,
                p99_us: 850.0,
                max_us: 4000.0,
            }),
            checks: vec![
                crate::control::CheckSnapshot {
                    name: "chk_sip".into(),
                    healthy: Some(true),
                },
                crate::control::CheckSnapshot {
                    name: "chk_http".into(),
                    healthy: Some(false),
                },
                crate::control::CheckSnapshot {
                    name: "chk_new".into(),
                    healthy: None,
                },
            ],
            xdp: vec![crate::control::XdpAttachmentSnapshot {
                iface: "eth0".into(),
                mode: "skb".into(),
                fallbacks_to_skb: 1,
            }],
            interfaces: vec![crate::control::IfaceSnapshot {
                name: "lan0".into(),
                configured: "eth0".into(),
                ifindex: 7,
                mac: "02:00:00:00:00:01".into(),
                present: true,
                up: true,
                source_v4: Some("192.0.2.1".into()),
                source_v6: None,
                changes: crate::control::HostChanges {
                    vip_readded: 2,
                    vip_readd_failed: 1,
                    source_lost: 3,
                    source_returned: 4,
                    mac_changed: 5,
                    renamed: 6,
                    deleted: 7,
                    reattached: 8,
                },
            }],
        }),
        xdp: Some(XdpStats {
            attachments: Vec::new(),
            vips: vec![VipStats {
                vip: "192.0.2.100".into(),
                iface: "eth0".into(),
                owned: true,
                arp_requests: 40,
                arp_replies: 38,
                dropped_not_owned: 1,
                dropped_stale_heartbeat: 1,
            }],
            vips6: vec![VipStats {
                vip: "fd00:99::100".into(),
                iface: "eth0".into(),
                owned: false,
                arp_requests: 12,
                arp_replies: 7,
                dropped_not_owned: 4,
                dropped_stale_heartbeat: 1,
            }],
            vrids: vec![VridStats {
                iface: "eth0".into(),
                vrid: 51,
                family: "ipv4".into(),
                version: 3,
                received: 900,
                delivered_ringbuf: 0,
                passed_to_stack: 880,
                bad_ttl: 10,
                bad_version: 6,
                bad_type: 3,
                truncated: 1,
                not_peer: 17,
                rate_limited: 23,
                from_master: 850,
            }],
            global,
        }),
    }
}

#[test]
fn every_stats_number_is_exposed() {
    let text = render(&full_stats());
    let (s, types) = parse(&text);
    let web = [("instance", "web"), ("iface", "eth0"), ("vrid", "51")];
    let w = |more: &[(&'static str, &'static str)]| {
        let mut l = web.to_vec();
        l.extend_from_slice(more);
        l
    };
    assert_eq!(get(&s, "havip_daemon_up", &[]), 1.0);
    assert_eq!(get(&s, "havip_check_up", &[("check", "chk_sip")]), 1.0);
    assert_eq!(
        get(
            &s,
            "havip_xdp_attached",
            &[("iface", "eth0"), ("mode", "skb")]
        ),
        1.0
    );
    assert_eq!(
        get(&s, "havip_xdp_native_fallbacks_total", &[("iface", "eth0")]),
        1.0
    );
    let v6 = [("vip", "fd00:99::100"), ("iface", "eth0")];
    assert_eq!(get(&s, "havip_xdp_vip6_owned", &v6), 0.0);
    assert_eq!(get(&s, "havip_xdp_ns_requests_total", &v6), 12.0);
    assert_eq!(get(&s, "havip_xdp_ns_passed_total", &v6), 7.0);
    let mut d6 = v6.to_vec();
    d6.push(("reason", "not_owned"));
    assert_eq!(get(&s, "havip_xdp_ns_dropped_total", &d6), 4.0);
    assert_eq!(get(&s, "havip_check_up", &[("check", "chk_http")]), 0.0);
    assert!(
        !text.contains("chk_new"),
        "a check without a result has no sample"
    );
    assert_eq!(
        get(&s, "havip_daemon_info", &[("advert_path", "socket")]),
        1.0
    );
    assert_eq!(
        get(&s, "havip_instance_state", &w(&[("state", "MASTER")])),
        1.0
    );
    for other in ["INIT", "BACKUP", "FAULT", "STATIC"] {
        assert_eq!(
            get(&s, "havip_instance_state", &w(&[("state", other)])),
            0.0
        );
    }
    assert_eq!(get(&s, "havip_instance_base_priority", &web), 100.0);
    assert_eq!(get(&s, "havip_instance_effective_priority", &web), 80.0);
    assert_eq!(get(&s, "havip_instance_vips_owned", &web), 1.0);
    assert_eq!(get(&s, "havip_instance_transitions_total", &web), 7.0);
    assert_eq!(get(&s, "havip_instance_became_master_total", &web), 3.0);
    assert_eq!(get(&s, "havip_adverts_sent_total", &web), 1000.0);
    assert_eq!(get(&s, "havip_adverts_priority_zero_sent_total", &web), 1.0);
    assert_eq!(get(&s, "havip_adverts_received_total", &web), 12.0);
    assert_eq!(
        get(&s, "havip_adverts_priority_zero_received_total", &web),
        2.0
    );
    assert_eq!(get(&s, "havip_adverts_malformed_total", &web), 3.0);
    assert_eq!(
        get(&s, "havip_adverts_address_list_mismatch_total", &web),
        5.0
    );
    assert_eq!(
        get(
            &s,
            "havip_adverts_rejected_total",
            &w(&[("reason", "auth")])
        ),
        4.0
    );
    assert_eq!(
        get(&s, "havip_adverts_rejected_total", &w(&[("reason", "ttl")])),
        0.0
    );
    assert_eq!(get(&s, "havip_garps_sent_total", &web), 25.0);
    let lat = |q| {
        get(
            &s,
            "havip_advert_delivery_latency_seconds",
            &[("quantile", q)],
        )
    };
    assert_eq!(lat("0.5"), 31.5e-6);
    assert_eq!(lat("0.99"), 850e-6);
    assert_eq!(lat("1"), 4e-3);
    assert_eq!(get(&s, "havip_advert_delivery_latency_samples", &[]), 512.0);

    // A static owner: no vrid, no priorities, and a name that needs escaping.
    let lb = [("instance", "lb \"east\""), ("iface", "eth1"), ("vrid", "")];
    let mut st = lb.to_vec();
    st.push(("state", "STATIC"));
    assert_eq!(get(&s, "havip_instance_state", &st), 1.0);
    assert!(text.contains(r#"instance="lb \"east\"""#));
    assert!(!s.contains_key(&(
        "havip_instance_base_priority".to_string(),
        vec![
            ("iface".into(), "eth1".into()),
            ("instance".into(), "lb \"east\"".into()),
            ("vrid".into(), "".into())
        ]
    )));

    let vip = [("vip", "192.0.2.100"), ("iface", "eth0")];
    let v = |reason| [vip[0], vip[1], ("reason", reason)];
    assert_eq!(get(&s, "havip_xdp_loaded", &[]), 1.0);
    assert_eq!(get(&s, "havip_xdp_vip_owned", &vip), 1.0);
    assert_eq!(get(&s, "havip_xdp_arp_requests_total", &vip), 40.0);
    assert_eq!(get(&s, "havip_xdp_arp_replies_total", &vip), 38.0);
    assert_eq!(get(&s, "havip_xdp_arp_dropped_total", &v("not_owned")), 1.0);
    assert_eq!(
        get(&s, "havip_xdp_arp_dropped_total", &v("stale_heartbeat")),
        1.0
    );
    let vr = [
        ("iface", "eth0"),
        ("vrid", "51"),
        ("family", "ipv4"),
        ("version", "3"),
    ];
    let r = |k: &'static str, val: &'static str| {
        let mut l = vr.to_vec();
        l.push((k, val));
        l
    };
    assert_eq!(get(&s, "havip_xdp_adverts_received_total", &vr), 900.0);
    assert_eq!(
        get(&s, "havip_xdp_adverts_delivered_total", &r("path", "stack")),
        880.0
    );
    assert_eq!(
        get(
            &s,
            "havip_xdp_adverts_delivered_total",
            &r("path", "ringbuf")
        ),
        0.0
    );
    for (reason, n) in [
        ("bad_ttl", 10.0),
        ("bad_version", 6.0),
        ("bad_type", 3.0),
        ("truncated", 1.0),
        ("not_peer", 17.0),
        ("rate_limited", 23.0),
    ] {
        assert_eq!(
            get(&s, "havip_xdp_adverts_dropped_total", &r("reason", reason)),
            n
        );
    }
    assert_eq!(get(&s, "havip_xdp_adverts_from_master_total", &vr), 850.0);
    assert_eq!(
        get(&s, "havip_xdp_frames_total", &[("counter", "passed")]),
        123456.0
    );
    assert_eq!(
        get(
            &s,
            "havip_xdp_frames_total",
            &[("counter", "vrrp_unknown_vrid")]
        ),
        9.0
    );

    assert_eq!(
        get(
            &s,
            "havip_iface_present",
            &[("iface", "lan0"), ("configured", "eth0")]
        ),
        1.0
    );
    for (change, n) in [
        ("vip_readded", 2.0),
        ("vip_readd_failed", 1.0),
        ("source_lost", 3.0),
        ("source_returned", 4.0),
        ("mac_changed", 5.0),
        ("renamed", 6.0),
        ("deleted", 7.0),
        ("reattached", 8.0),
    ] {
        assert_eq!(
            get(
                &s,
                "havip_host_changes_total",
                &[("iface", "lan0"), ("change", change)]
            ),
            n,
            "{change}"
        );
    }
    assert_eq!(types["havip_host_changes_total"], "counter");

    assert_eq!(types["havip_adverts_sent_total"], "counter");
    assert_eq!(types["havip_instance_effective_priority"], "gauge");
}

#[test]
#[ignore = "prints the exposition of a sample snapshot"]
fn show() {
    print!("{}", render(&full_stats()));
}

#[test]
fn nothing_running_is_said_plainly() {
    let text = render(&Stats::default());
    let (s, _) = parse(&text);
    assert_eq!(get(&s, "havip_daemon_up", &[]), 0.0);
    assert_eq!(get(&s, "havip_xdp_loaded", &[]), 0.0);
    assert_eq!(s.len(), 2, "{text}");
}

#[test]
fn the_documented_names_are_the_rendered_names() {
    let (_, types) = parse(&render(&full_stats()));
    let doc = include_str!("../../../docs/metrics.md");
    let mut rendered: Vec<&String> = types.keys().collect();
    rendered.sort();
    for name in &rendered {
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is missing from docs/metrics.md"
        );
    }
    // And the doc lists nothing that does not exist.
    for word in doc.split('`').skip(1).step_by(2) {
        if word.starts_with("havip_") && !word.contains('{') {
            assert!(
                types.contains_key(word),
                "docs/metrics.md lists {word}, not rendered"
            );
        }
    }
}

async fn http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp
}

#[tokio::test]
async fn serves_metrics_over_http() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scrapes = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = scrapes.clone();
    let server = tokio::spawn(serve(listener, move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        render(&full_stats())
    }));

    let resp = http(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    )
    .await;
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
    assert_eq!(body, render(&full_stats()));
    parse(body);

    let resp = http(addr, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"));
    let resp = http(addr, "HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("\r\n\r\n"),
        "{resp}"
    );
    let resp = http(addr, "GET / HTTP/1.1\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    let resp = http(addr, "GET /metricsx HTTP/1.1\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 404 Not Found\r\n"), "{resp}");
    let resp = http(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{resp}"
    );
    assert!(resp.contains("\r\nAllow: GET, HEAD\r\n"));
    let resp = http(addr, "hello\n\n").await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert_eq!(scrapes.load(std::sync::atomic::Ordering::Relaxed), 3);
    server.abort();
}
