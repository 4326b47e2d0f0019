//! `cargo xtask bench failover`: client-observed outage when the master's link drops, havip and
//! keepalived side by side in the same lab with the same settings, at advert_int 1 s (VRRPv2,
//! the seed config) and 0.01 s (VRRPv3). A benchmark: it prints numbers and asserts nothing.

use std::time::Duration;

use havip_lab::{
    lab::{cpu_seconds, Host, Lab},
    probe::{mac, rx_packets, trafgen_advert, trafgen_arp_request, AdvertCapture},
    scenario::{havip_args, keepalived_conf, median_p95, Daemon, Pair, Vrrp},
};

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// An SVG histogram of outages (ms) per daemon, side by side: the picture in BENCHMARKS.md.
fn outage_histogram_svg(title: &str, series: &[(&str, &[Duration])], bin_ms: f64) -> String {
    let all: Vec<f64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|d| d.as_secs_f64() * 1000.0))
        .collect();
    let lo = (all.iter().cloned().fold(f64::INFINITY, f64::min) / bin_ms).floor() * bin_ms;
    // Outliers beyond 4 × the median go in one last bin, so the shape stays readable.
    let mut sorted = all.clone();
    sorted.sort_by(f64::total_cmp);
    let cap = sorted[sorted.len() / 2] * 4.0;
    let hi = (sorted
        .iter()
        .cloned()
        .filter(|v| *v <= cap)
        .fold(lo, f64::max)
        / bin_ms)
        .ceil()
        * bin_ms
        + bin_ms;
    let bins = (((hi - lo) / bin_ms).round() as usize).max(1);
    let counts: Vec<Vec<usize>> = series
        .iter()
        .map(|(_, s)| {
            let mut c = vec![0usize; bins + 1];
            for d in *s {
                let v = d.as_secs_f64() * 1000.0;
                let i = if v > cap {
                    bins
                } else {
                    (((v - lo) / bin_ms) as usize).min(bins - 1)
                };
                c[i] += 1;
            }
            c
        })
        .collect();
    let max = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    // The legend stacks at the top right, one line per series, above the bars.
    let top = 30.0 + 13.0 * series.len() as f64;
    let (w, h, left, bottom) = (720.0, 290.0 + top, 50.0, 40.0);
    let plot_h = h - bottom - top;
    let group_w = (w - left - 20.0) / (bins + 1) as f64;
    let bar_w = group_w / (series.len() as f64 + 0.5);
    let colors = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b7791f"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"20\" font-size=\"14\">{title}</text>\n"
    );
    for (si, (name, _)) in series.iter().enumerate() {
        let (x, y) = (w - 200.0, 28.0 + si as f64 * 13.0);
        svg += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            y - 9.0,
            colors[si % colors.len()],
            x + 14.0,
            y
        );
    }
    for b in 0..=bins {
        let gx = left + b as f64 * group_w;
        for (si, c) in counts.iter().enumerate() {
            let bh = plot_h * c[b] as f64 / max as f64;
            let x = gx + si as f64 * bar_w;
            svg += &format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"/>\n",
                h - bottom - bh,
                bar_w * 0.95,
                colors[si % colors.len()]
            );
        }
        let label = if b == bins {
            format!(">{cap:.0}")
        } else {
            format!("{:.0}", lo + b as f64 * bin_ms)
        };
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>\n",
            gx + group_w / 2.0,
            h - bottom + 14.0
        );
    }
    svg += &format!(
        "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"black\"/>\n\
         <text x=\"{2}\" y=\"{3}\" text-anchor=\"middle\">client-observed outage, ms (bins of {bin_ms} ms); bar height: trials (max {max})</text>\n</svg>\n",
        h - bottom,
        w - 20.0,
        w / 2.0,
        h - 6.0
    );
    svg
}

fn failover(trials_fast: usize, trials_slow: usize) {
    let settings = [
        (Vrrp::v2("1"), trials_slow),
        (Vrrp::v3("0.01"), trials_fast),
    ];
    let mut rows = Vec::new();
    for (vrrp, trials) in settings {
        for daemon in [Daemon::Havip, Daemon::Keepalived] {
            let mut samples = Vec::new();
            for t in 0..trials {
                let mut pair = Pair::start(&format!("bf{t}"), daemon, vrrp, "native");
                let outage = pair.failover(Duration::from_millis(1), Pair::drop_master_link);
                eprintln!(
                    "  {} advert_int {} trial {}: {} ms",
                    daemon.name(),
                    vrrp.advert_int,
                    t + 1,
                    ms(outage)
                );
                samples.push(outage);
            }
            rows.push((vrrp, daemon, samples));
        }
    }
    let fast: Vec<(&str, &[Duration])> = rows
        .iter()
        .filter(|(v, _, _)| v.advert_int == "0.01")
        .map(|(_, d, s)| (d.name(), s.as_slice()))
        .collect();
    let svg = outage_histogram_svg(
        "failover at advert_int 0.01 s: client-observed outage",
        &fast,
        2.0,
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let out = out.as_path();
    let _ = std::fs::create_dir_all(out);
    let file = out.join("failover-0.01.svg");
    if std::fs::write(&file, svg).is_ok() {
        println!("\nhistogram: {}", file.display());
    }
    println!("\nfailover: the master's link drops; client-observed outage (ICMP echo every 1 ms)");
    println!(
        "{:<14} {:<11} {:>6} {:>10} {:>10} {:>10} {:>10} {:>12}",
        "advert_int", "daemon", "trials", "median ms", "p95 ms", "min ms", "max ms", "MDI(100) ms"
    );
    for (vrrp, daemon, samples) in &rows {
        let (median, p95) = median_p95(samples);
        println!(
            "{:<14} {:<11} {:>6} {:>10} {:>10} {:>10} {:>10} {:>12}",
            format!("{} s (v{})", vrrp.advert_int, vrrp.version),
            daemon.name(),
            samples.len(),
            ms(median),
            ms(p95),
            ms(*samples.iter().min().unwrap()),
            ms(*samples.iter().max().unwrap()),
            ms(vrrp.master_down(100)),
        );
    }
}

/// Advert delivery latency, XDP to the election, by delivery path.
fn adverts(seconds: u64) {
    let vrrp = Vrrp::v3("0.01");
    println!("advert delivery, XDP sees the advert -> the election handles it (backup node, 10 ms adverts, {seconds} s)");
    println!(
        "{:<10} {:>8} {:>10} {:>10} {:>10}",
        "path", "samples", "p50 us", "p99 us", "max us"
    );
    for path in ["ringbuf", "socket"] {
        let pair = Pair::start_with(
            &format!("ba-{path}"),
            Daemon::Havip,
            vrrp,
            "native",
            &["--advert-path", path],
        );
        std::thread::sleep(Duration::from_secs(seconds));
        let stats = pair.stats(&pair.n2);
        let l = stats
            .daemon
            .and_then(|d| d.advert_delivery)
            .expect("latency samples");
        println!(
            "{:<10} {:>8} {:>10.1} {:>10.1} {:>10.1}",
            path, l.samples, l.p50_us, l.p99_us, l.max_us
        );
    }
}

/// What one ARP-under-load run measured.
struct ArpRun {
    offered: u64,
    answered: u64,
    seconds: f64,
    softirq_pct: f64,
    neighbours: usize,
}

/// CPU time counters of /proc/stat's first line: (softirq, total), in USER_HZ ticks.
fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = stat.lines().next().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    (v.get(6).copied().unwrap_or(0), v.iter().sum())
}

/// One run: `responder` is "kernel", "skb" or "native"; `many` randomises the requester per
/// frame (sender MAC and IP in 10.99.0.0/16).
fn arp_run(responder: &str, many: bool, seconds: u64) -> ArpRun {
    let mut lab = Lab::new(&format!(
        "barp-{responder}-{}",
        if many { "m" } else { "1" }
    ));
    let node = lab.host("n1", "10.99.0.11/16");
    let client = lab.host("c", "10.99.0.50/16");
    match responder {
        "kernel" => {
            lab.ip(&node.ns, "addr add 10.99.0.100/16 dev eth0");
        }
        mode => {
            if mode == "native" {
                lab.pass_on_port(&node);
            }
            lab.havip(
                "havip",
                &node,
                &[
                    "run",
                    "--iface",
                    "eth0",
                    "--vip",
                    "10.99.0.100/16",
                    "--xdp-mode",
                    mode,
                ],
            )
            .wait_owned(Duration::from_secs(10));
        }
    }
    let cfg = trafgen_arp_request([10, 99, 0, 100], many);
    let cfg_path = std::env::temp_dir().join(format!("havip-bench-arp-{}.cfg", std::process::id()));
    std::fs::write(&cfg_path, cfg).unwrap();
    let _ = lab.ip(&node.ns, "neigh flush all");
    let node_rx0 = rx_packets(&lab, &node);
    let client_rx0 = rx_packets(&lab, &client);
    let (soft0, total0) = cpu_ticks();
    let start = std::time::Instant::now();
    let out = lab.exec(
        &client.ns,
        &[
            "timeout",
            &seconds.to_string(),
            "trafgen",
            "-o",
            "eth0",
            "-i",
            cfg_path.to_str().unwrap(),
            "-P",
            "1",
            "-q",
        ],
    );
    let seconds = start.elapsed().as_secs_f64();
    let (soft1, total1) = cpu_ticks();
    assert!(
        out.status.code() == Some(124) || out.status.success(),
        "trafgen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(200)); // let the last replies land
    let _ = std::fs::remove_file(&cfg_path);
    let neighbours = lab.ip(&node.ns, "neigh show").lines().count();
    ArpRun {
        offered: rx_packets(&lab, &node) - node_rx0,
        answered: rx_packets(&lab, &client) - client_rx0,
        seconds,
        softirq_pct: 100.0 * (soft1 - soft0) as f64 / (total1 - total0).max(1) as f64,
        neighbours,
    }
}

/// ARP under load: the kernel, havip in skb mode and havip in native mode answering a flood.
fn arp(seconds: u64) {
    println!("ARP under load: trafgen floods requests for the VIP for {seconds} s (one CPU), the node answers");
    println!(
        "{:<16} {:<9} {:>12} {:>12} {:>9} {:>13} {:>11}",
        "requesters",
        "responder",
        "offered/s",
        "answered/s",
        "answered",
        "softirq CPU %",
        "neighbours"
    );
    for many in [false, true] {
        for responder in ["kernel", "skb", "native"] {
            let r = arp_run(responder, many, seconds);
            println!(
                "{:<16} {:<9} {:>12.0} {:>12.0} {:>8.1}% {:>13.1} {:>11}",
                if many { "many (random)" } else { "one" },
                responder,
                r.offered as f64 / r.seconds,
                r.answered as f64 / r.seconds,
                100.0 * r.answered as f64 / r.offered.max(1) as f64,
                r.softirq_pct,
                r.neighbours
            );
        }
    }
    println!(
        "(softirq CPU is machine-wide, both cores; the generator's own softirq work is in it too)"
    );
}

/// Advert send-interval jitter at 10 ms adverts with both cores saturated by stress-ng, with
/// and without real-time scheduling and locked memory, havip beside keepalived; false
/// failovers (the backup becoming master) counted.
fn jitter(seconds: u64) {
    let vrrp = Vrrp::v3("0.01");
    println!(
        "advert interval jitter: 10 ms adverts, both cores busy (stress-ng --cpu 2), {seconds} s each; \
         intervals seen by an observer (kernel receive timestamps)"
    );
    println!(
        "{:<11} {:<16} {:>8} {:>9} {:>9} {:>9} {:>11} {:>16}",
        "daemon",
        "scheduling",
        "adverts",
        "p50 ms",
        "p99 ms",
        "max ms",
        "> 30 ms",
        "false failovers"
    );
    let cases: [(Daemon, bool); 4] = [
        (Daemon::Havip, false),
        (Daemon::Havip, true),
        (Daemon::Keepalived, false),
        (Daemon::Keepalived, true),
    ];
    for (daemon, rt) in cases {
        let extra: &[&str] = match (daemon, rt) {
            (Daemon::Havip, true) => &["--rt-priority", "50", "--mlock"],
            (Daemon::Keepalived, true) => &["vrrp_rt_priority 50", "vrrp_no_swap"],
            _ => &[],
        };
        let mut pair = Pair::start_with(
            &format!("bj{}", u8::from(rt)),
            daemon,
            vrrp,
            "native",
            extra,
        );
        let client = pair.client.clone();
        pair.lab.spawn(
            "stress",
            &client.ns,
            &[
                "stress-ng",
                "--cpu",
                "2",
                "--timeout",
                &format!("{}s", seconds + 5),
            ],
        );
        std::thread::sleep(Duration::from_secs(1));
        let masters_before = times_became_master(&mut pair);
        let capture = AdvertCapture::start(&client.ns, "eth0", [10, 99, 0, 11]);
        std::thread::sleep(Duration::from_secs(seconds));
        let times = capture.stop();
        let false_failovers = times_became_master(&mut pair) - masters_before;
        let mut gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]) as f64 / 1e6)
            .collect();
        gaps.sort_by(f64::total_cmp);
        let q = |p: f64| {
            gaps.get(((gaps.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{:<11} {:<16} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>11} {:>16}",
            daemon.name(),
            if rt { "SCHED_FIFO+mlock" } else { "default" },
            times.len(),
            q(0.5),
            q(0.99),
            q(1.0),
            gaps.iter().filter(|g| **g > 30.0).count(),
            false_failovers
        );
    }
    println!("(> 30 ms: gaps that come close to the backup's Master_Down_Interval, 36.1 ms)");
}

/// How many times node 2 (the backup) became master: havip's count from its control socket
/// (`became_master` in `havip stats`), keepalived's from its log.
fn times_became_master(pair: &mut Pair) -> usize {
    let p = pair.lab.proc("n2");
    match pair.daemon {
        Daemon::Havip => {
            let s = p
                .snapshot()
                .expect("n2's havip answers on its control socket");
            s.instances
                .iter()
                .map(|i| i.adverts.became_master as usize)
                .sum()
        }
        Daemon::Keepalived => p.log_text().matches("Entering MASTER STATE").count(),
    }
}

/// keepalived.conf with `n` VRRPv3 instances at 10 ms adverts (VRIDs 1..=n, one VIP each).
fn many_instances_conf(n: u8, priority: u8, state: &str) -> String {
    let mut c = String::from("global_defs {\n    vrrp_version 3\n}\n");
    for i in 1..=n {
        c.push_str(&format!(
            "vrrp_instance VI_{i} {{\n    state {state}\n    interface eth0\n    virtual_router_id {i}\n    \
             priority {priority}\n    advert_int 0.01\n    virtual_ipaddress {{\n        10.99.1.{i}/24\n    }}\n}}\n"
        ));
    }
    c
}

/// CPU per second of the daemons running 50 virtual routers at 10 ms adverts (5000 adverts a
/// second each way), havip (the same keepalived.conf) beside keepalived.
fn cpu_50(seconds: u64) {
    println!("\nCPU of the daemon with 50 virtual routers at 10 ms adverts (VRRPv3), {seconds} s:");
    println!(
        "{:<11} {:>20} {:>20}",
        "daemon", "master CPU ms/s", "backup CPU ms/s"
    );
    for daemon in [Daemon::Havip, Daemon::Keepalived] {
        let mut lab = Lab::new(&format!("b50-{}", daemon.name()));
        let n1 = lab.host("n1", "10.99.0.11/16");
        let n2 = lab.host("n2", "10.99.0.12/16");
        let dir = std::env::temp_dir().join(format!("hv-b50-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if daemon == Daemon::Havip {
            // Native mode, as the failover bench: the bridge side runs the pass program.
            lab.pass_on_port(&n1);
            lab.pass_on_port(&n2);
        }
        let pids: Vec<u32> = match daemon {
            Daemon::Havip => [("n1", &n1, 101, "MASTER"), ("n2", &n2, 100, "BACKUP")]
                .into_iter()
                .map(|(label, host, prio, state)| {
                    let conf = dir.join(format!("{label}.conf"));
                    std::fs::write(&conf, many_instances_conf(50, prio, state)).unwrap();
                    let p = lab.havip(
                        label,
                        host,
                        &[
                            "run",
                            "--config",
                            conf.to_str().unwrap(),
                            "--xdp-mode",
                            "native",
                        ],
                    );
                    p.wait_started(Duration::from_secs(20));
                    p.pid()
                })
                .collect(),
            Daemon::Keepalived => [("n1", &n1, 101, "MASTER"), ("n2", &n2, 100, "BACKUP")]
                .into_iter()
                .map(|(label, host, prio, state)| {
                    lab.keepalived(label, host, &many_instances_conf(50, prio, state));
                    lab.proc(label)
                        .wait_log("Entering", Duration::from_secs(20));
                    // The VRRP work happens in keepalived's child process.
                    lab.keepalived_vrrp_pid(label)
                })
                .collect(),
        };
        std::thread::sleep(Duration::from_secs(3)); // elections settle
                                                    // What crossed the wire, counted by XDP on each node (adverts received from the other).
        let received = |lab: &Lab, host: &Host| -> u64 {
            let out = lab.ip(&host.ns, "-s -j link show dev eth0");
            let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
            v[0]["stats64"]["rx"]["packets"].as_u64().unwrap_or(0)
        };
        let rx0 = received(&lab, &n2);
        let before: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
        let start = std::time::Instant::now();
        std::thread::sleep(Duration::from_secs(seconds));
        let secs = start.elapsed().as_secs_f64();
        let used: Vec<f64> = pids
            .iter()
            .zip(&before)
            .map(|(p, b)| (cpu_seconds(*p) - b) * 1000.0 / secs)
            .collect();
        let rate = (received(&lab, &n2) - rx0) as f64 / secs;
        println!(
            "{:<11} {:>20.1} {:>20.1}   ({rate:.0} frames/s reached the backup)",
            daemon.name(),
            used[0],
            used[1]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// VRRPv2 at 1 s adverts without authentication, keepalived's defaults, for the hostile bench.
const HOSTILE_V2: Vrrp = Vrrp {
    version: 2,
    advert_int: "1",
    pass: None,
};

/// keepalived.conf for the hostile bench: the seed shape, with unicast peers when `peer` is
/// given (and keepalived's defaults otherwise: no `check_unicast_src`).
fn hostile_keepalived_conf(state: &str, priority: u8, unicast: Option<(&str, &str)>) -> String {
    let base = keepalived_conf(HOSTILE_V2, state, priority);
    match unicast {
        None => base,
        Some((src, peer)) => base.replace(
            "    virtual_ipaddress {",
            &format!("    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n    virtual_ipaddress {{"),
        ),
    }
}

/// Packets the raw sockets of a namespace dropped so far (`/proc/net/raw`, last column): what
/// overflowed a VRRP daemon's receive buffer.
fn raw_socket_drops(lab: &Lab, ns: &str) -> u64 {
    let out = lab.exec(ns, &["cat", "/proc/net/raw"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// State changes of a node so far: havip's from its control socket, keepalived's from its log.
fn transitions(lab: &mut Lab, daemon: Daemon, label: &str) -> u64 {
    let p = lab.proc(label);
    match daemon {
        Daemon::Havip => p.snapshot().map_or(0, |s| {
            s.instances.iter().map(|i| i.adverts.transitions).sum()
        }),
        Daemon::Keepalived => p.log_text().matches(" Entering ").count() as u64,
    }
}

/// `bench hostile`: the flood of `lab_hostile` (a LAN host that is not a peer, trafgen at full
/// rate, `seconds` each) at a pair of havip and at a pair of keepalived 2.2.7 with the same
/// config; transitions, socket drops and CPU side by side.
fn hostile(seconds: u64) {
    println!(
        "hostile LAN: VRRPv2, 1 s adverts, n1 master (101), n2 backup (100); trafgen floods from \
         a third host for {seconds} s"
    );
    println!(
        "{:<11} {:<22} {:>9} {:>12} {:>9} {:>12} {:>12} {:>10} {:>10}",
        "daemon",
        "flood",
        "kpps",
        "transitions",
        "n1 end",
        "n1 sockdrop",
        "n2 sockdrop",
        "n1 CPU",
        "n2 CPU"
    );
    let mcast_mac = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
    for daemon in [Daemon::Havip, Daemon::Keepalived] {
        for (flood, unicast) in [
            ("unicast p255 TTL 7", true),
            ("mcast lower priority", false),
            ("mcast unknown VRIDs", false),
        ] {
            let mut lab = Lab::new(&format!("bh-{}", &daemon.name()[..2]));
            let n1 = lab.host("n1", "10.99.0.11/24");
            let n2 = lab.host("n2", "10.99.0.12/24");
            let evil = lab.host("x", "10.99.0.66/24");
            for (label, host, prio, state, src, peer) in [
                ("n1", &n1, 101, "MASTER", "10.99.0.11", "10.99.0.12"),
                ("n2", &n2, 100, "BACKUP", "10.99.0.12", "10.99.0.11"),
            ] {
                match daemon {
                    Daemon::Havip => {
                        let mut args = havip_args(HOSTILE_V2, prio, "auto");
                        if unicast {
                            args.extend(["--unicast-peer".into(), peer.into()]);
                        }
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        lab.havip(label, host, &args)
                            .wait_started(Duration::from_secs(20));
                    }
                    Daemon::Keepalived => {
                        let conf =
                            hostile_keepalived_conf(state, prio, unicast.then_some((src, peer)));
                        lab.keepalived(label, host, &conf);
                    }
                }
            }
            match daemon {
                Daemon::Havip => lab.proc("n1").wait_state("MASTER", Duration::from_secs(20)),
                Daemon::Keepalived => lab
                    .proc("n1")
                    .wait_keepalived_state("MASTER", Duration::from_secs(20)),
            }
            std::thread::sleep(HOSTILE_V2.master_down(100) + Duration::from_millis(500));
            let pids: Vec<u32> = ["n1", "n2"]
                .iter()
                .map(|l| match daemon {
                    Daemon::Havip => lab.proc(l).pid(),
                    Daemon::Keepalived => lab.keepalived_vrrp_pid(l),
                })
                .collect();
            let cfg = match flood {
                "unicast p255 TTL 7" => trafgen_advert(
                    mac(&n1.mac),
                    [10, 99, 0, 11],
                    "198, 51, 100, 66",
                    7,
                    "51",
                    255,
                ),
                "mcast lower priority" => trafgen_advert(
                    mcast_mac,
                    [224, 0, 0, 18],
                    "198, 18, drnd(2)",
                    255,
                    "51",
                    50,
                ),
                _ => (52..=251)
                    .map(|v| {
                        trafgen_advert(
                            mcast_mac,
                            [224, 0, 0, 18],
                            "198, 18, drnd(2)",
                            255,
                            &v.to_string(),
                            200,
                        )
                    })
                    .collect(),
            };
            let path = std::env::temp_dir().join(format!("havip-bh-{}.cfg", std::process::id()));
            std::fs::write(&path, cfg).unwrap();
            let t0 = transitions(&mut lab, daemon, "n1") + transitions(&mut lab, daemon, "n2");
            let drops0 = [
                raw_socket_drops(&lab, &n1.ns),
                raw_socket_drops(&lab, &n2.ns),
            ];
            let cpu0: Vec<f64> = pids.iter().map(|p| cpu_seconds(*p)).collect();
            let sent0 = tx_packets(&lab, &evil);
            let start = std::time::Instant::now();
            let argv = [
                "trafgen",
                "-o",
                "eth0",
                "-i",
                path.to_str().unwrap(),
                "-P",
                "1",
                "-q",
            ];
            let pid = lab.spawn("trafgen", &evil.ns, &argv).pid() as i32;
            std::thread::sleep(Duration::from_secs(seconds));
            // SAFETY: kill(2) on the process group of the trafgen this bench started (it sends
            // from a child).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let secs = start.elapsed().as_secs_f64();
            let sent = tx_packets(&lab, &evil) - sent0;
            let cpu: Vec<f64> = pids
                .iter()
                .zip(&cpu0)
                .map(|(p, c)| (cpu_seconds(*p) - c) / secs)
                .collect();
            std::thread::sleep(HOSTILE_V2.master_down(100));
            let trans =
                transitions(&mut lab, daemon, "n1") + transitions(&mut lab, daemon, "n2") - t0;
            let n1_state = match daemon {
                Daemon::Havip => lab.proc("n1").state_now(),
                Daemon::Keepalived => lab.proc("n1").keepalived_state(),
            }
            .unwrap_or_default();
            let drops = [
                raw_socket_drops(&lab, &n1.ns) - drops0[0],
                raw_socket_drops(&lab, &n2.ns) - drops0[1],
            ];
            let _ = std::fs::remove_file(&path);
            println!(
                "{:<11} {:<22} {:>9.0} {:>12} {:>9} {:>12} {:>12} {:>9.2}c {:>9.2}c",
                daemon.name(),
                flood,
                sent as f64 / secs / 1000.0,
                trans,
                n1_state,
                drops[0],
                drops[1],
                cpu[0],
                cpu[1]
            );
        }
    }
    println!(
        "(transitions: state changes of both nodes during the flood and one Master_Down_Interval \
         after; sockdrop: packets the raw sockets of the node's namespace dropped, buffer full; \
         CPU: cores, the daemon's (keepalived's VRRP process) user + system time per second)"
    );
}

/// Packets `host` sent so far (`ip -s -j link`).
fn tx_packets(lab: &Lab, host: &Host) -> u64 {
    let out = lab.ip(&host.ns, "-s -j link show dev eth0");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["stats64"]["tx"]["packets"].as_u64().unwrap_or(0)
}

/// How the master is restarted in `bench restart`.
#[derive(Clone, Copy, PartialEq)]
enum Restart {
    /// `havip handover`, then `havip run`: what havip.service does on `systemctl restart`.
    Handover,
    /// SIGTERM, then `havip run`: a restart without the handover (priority 0, then preempt).
    HavipStop,
    /// SIGTERM, then keepalived again: what `systemctl restart keepalived` does.
    Keepalived,
}

impl Restart {
    fn name(self) -> &'static str {
        match self {
            Restart::Handover => "havip handover",
            Restart::HavipStop => "havip stop+start",
            Restart::Keepalived => "keepalived",
        }
    }
}

/// Restarting the master `rounds` times at advert_int 1 (VRRPv3), as `systemctl restart` would:
/// havip's handover, havip without it, keepalived; per round, whether the backup took over,
/// the longest run of unanswered ARP requests (one every 10 ms) and the longest ping gap.
fn restart(rounds: usize) {
    use havip_lab::{
        lab::Launcher,
        probe::{ipv4, ArpProbe, Ping},
        scenario::keepalived_conf_with,
    };
    let vrrp = Vrrp::v3("1");
    let arp_every = Duration::from_millis(10);
    let mut rows = Vec::new();
    for method in [Restart::Handover, Restart::HavipStop, Restart::Keepalived] {
        let daemon = match method {
            Restart::Keepalived => Daemon::Keepalived,
            _ => Daemon::Havip,
        };
        let mut pair = Pair::start("brestart", daemon, vrrp, "auto");
        let (mut takeovers, mut arp_gaps, mut ping_gaps) = (Vec::new(), Vec::new(), Vec::new());
        let mut label = "n1".to_string();
        for round in 1..=rounds {
            let before = times_became_master(&mut pair);
            let c = pair.client.clone();
            let arp = ArpProbe::start(
                &c.ns,
                "eth0",
                mac(&c.mac),
                ipv4(&c.ip),
                ipv4("10.99.0.100"),
                arp_every,
            );
            let ping = Ping::start(&c.ns, "10.99.0.100", Duration::from_millis(10));
            std::thread::sleep(Duration::from_millis(300));
            let n1 = pair.n1.clone();
            let next = format!("n1-r{round}");
            match method {
                Restart::Handover => {
                    let exe = havip_lab::lab::havip_exe();
                    let out = pair.lab.exec_with(
                        Launcher::IpNetnsExec,
                        &n1.ns,
                        &[exe.to_str().unwrap(), "handover"],
                    );
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                Restart::HavipStop | Restart::Keepalived => {
                    pair.lab.proc(&label).signal(libc::SIGTERM)
                }
            }
            let _ = pair.lab.proc(&label).wait_exit(Duration::from_secs(15));
            match method {
                Restart::Keepalived => {
                    pair.lab
                        .keepalived(&next, &n1, &keepalived_conf_with(vrrp, "MASTER", 101, ""));
                }
                _ => {
                    let args = havip_args(vrrp, 101, "auto");
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    pair.lab
                        .havip_with(Launcher::IpNetnsExec, &next, &n1, &args);
                }
            }
            label = next;
            pair.wait_master(&label, Duration::from_secs(20));
            // Until the backup is back in BACKUP and a few adverts went by.
            std::thread::sleep(Duration::from_millis(2500));
            let pings = ping.stop();
            let (replies, sent) = arp.stop_all();
            let mut answered = vec![false; sent.len()];
            for r in &replies {
                if let Some(a) = (r.after_request as usize)
                    .checked_sub(1)
                    .and_then(|i| answered.get_mut(i))
                {
                    *a = true;
                }
            }
            let (mut run, mut longest) = (0usize, 0usize);
            for a in &answered[..answered.len().saturating_sub(1)] {
                run = if *a { 0 } else { run + 1 };
                longest = longest.max(run);
            }
            let took = times_became_master(&mut pair) - before;
            eprintln!(
                "  {} round {round}: backup took over {took}x, ARP unanswered for {} ms, ping gap {} ms",
                method.name(),
                longest * 10,
                ms(pings.longest_gap())
            );
            takeovers.push(took);
            arp_gaps.push(arp_every * longest as u32);
            ping_gaps.push(pings.longest_gap());
        }
        rows.push((method, takeovers, arp_gaps, ping_gaps));
    }
    println!(
        "\nrestart of the master at advert_int 1 s (VRRPv3), {rounds} rounds each, one lab run"
    );
    println!(
        "{:<18} {:>17} {:>14} {:>14} {:>14} {:>14}",
        "restart", "backup takeovers", "ARP gap med", "ARP gap max", "ping gap med", "ping gap max"
    );
    for (method, takeovers, arp_gaps, ping_gaps) in &rows {
        let (am, _) = median_p95(arp_gaps);
        let (pm, _) = median_p95(ping_gaps);
        println!(
            "{:<18} {:>17} {:>11} ms {:>11} ms {:>11} ms {:>11} ms",
            method.name(),
            takeovers.iter().sum::<usize>(),
            ms(am),
            ms(*arp_gaps.iter().max().unwrap()),
            ms(pm),
            ms(*ping_gaps.iter().max().unwrap()),
        );
    }
    println!("(ARP gap: the longest run of unanswered ARP requests for the VIP, one every 10 ms)");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trials = args
        .windows(2)
        .find(|w| w[0] == "--trials")
        .and_then(|w| w[1].parse().ok());
    match args.first().map(String::as_str) {
        Some("failover") if args.iter().any(|a| a == "--bfd") => {
            use havip_lab::bfd_bench::{self, Setup};
            let number = |flag: &str| {
                args.windows(2)
                    .find(|w| w[0] == flag)
                    .and_then(|w| w[1].parse::<f64>().ok())
            };
            // keepalived's own BFD at its fastest setting that stays up here (see BENCHMARKS.md).
            let keepalived_ms = number("--keepalived-bfd-ms").unwrap_or(10.0);
            let setups = [
                Setup::Vrrp(Daemon::Havip),
                Setup::HavipBfd { ms: 1.0 },
                Setup::HavipBfd { ms: 3.0 },
                Setup::Vrrp(Daemon::Keepalived),
                Setup::KeepalivedBfd { ms: keepalived_ms },
            ];
            // The link-down rows as a histogram; from this run, or (`--replot LOG`) from the
            // trial lines of an earlier run's log.
            let link_down: Vec<(String, Vec<Duration>)> =
                match args.windows(2).find(|w| w[0] == "--replot") {
                    Some(w) => bfd_bench::trials_from_log(&std::fs::read_to_string(&w[1]).unwrap()),
                    None if trials != Some(0) => bfd_bench::failover(&setups, trials.unwrap_or(20))
                        .into_iter()
                        .filter(|(_, f, _)| matches!(f, bfd_bench::Failure::LinkDown))
                        .map(|(s, _, d)| (s.name(), d))
                        .collect(),
                    None => Vec::new(),
                };
            if !link_down.is_empty() {
                let series: Vec<(&str, &[Duration])> = link_down
                    .iter()
                    .map(|(n, d)| (n.as_str(), d.as_slice()))
                    .collect();
                let svg = outage_histogram_svg(
                    "master link down, 10 ms adverts: client-observed outage",
                    &series,
                    2.0,
                );
                let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
                let _ = std::fs::create_dir_all(&out);
                let file = out.join("failover-bfd.svg");
                if std::fs::write(&file, svg).is_ok() {
                    println!("\nhistogram: {}", file.display());
                }
            }
            if let Some(minutes) = number("--stress-minutes") {
                bfd_bench::stress(&setups[1..3], minutes as u64);
            }
        }
        Some("bgp") => {
            use havip_lab::bgp_bench::{run, Setup};
            // `--only WORD`: the setups whose name has it.
            let only = args
                .windows(2)
                .find(|w| w[0] == "--only")
                .map(|w| w[1].clone());
            let setups: Vec<Setup> = [
                Setup::HavipBgp { bfd_ms: Some(10) },
                Setup::HavipBgp { bfd_ms: Some(50) },
                Setup::HavipBgp { bfd_ms: None },
                Setup::HavipL2,
                Setup::KeepalivedBird { bfd_ms: 10 },
            ]
            .into_iter()
            .filter(|s| only.as_ref().is_none_or(|o| s.name().contains(o.as_str())))
            .collect();
            run(&setups, trials.unwrap_or(5));
        }
        Some("failover") => failover(trials.unwrap_or(20), trials.unwrap_or(20).min(5)),
        Some("adverts") => {
            adverts(10);
            cpu_50(10);
        }
        Some("arp") => arp(10),
        Some("jitter") => jitter(trials.map_or(60, |t| t as u64)),
        Some("hostile") => hostile(10),
        Some("restart") => restart(trials.unwrap_or(10)),
        _ => {
            eprintln!(
                "usage: havip-bench failover [--trials N] [--bfd [--stress-minutes M] \
                 [--keepalived-bfd-ms MS]] | bgp [--trials N] [--only WORD] | adverts | arp | jitter | \
                 hostile | restart [--trials N]"
            );
            std::process::exit(2);
        }
    }
}
