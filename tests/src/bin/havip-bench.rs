//! `cargo xtask bench failover`: client-observed outage when the master's link drops, havip and
//! keepalived side by side in the same lab with the same settings, at advert_int 1 s (VRRPv2,
//! the seed config) and 0.01 s (VRRPv3). A benchmark: it prints numbers and asserts nothing.

use std::time::Duration;

use havip_lab::scenario::{median_p95, Daemon, Pair, Vrrp};

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn failover(trials_fast: usize, trials_slow: usize) {
    let settings = [
        (
            Vrrp {
                version: 2,
                advert_int: "1",
            },
            trials_slow,
        ),
        (
            Vrrp {
                version: 3,
                advert_int: "0.01",
            },
            trials_fast,
        ),
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
    let vrrp = Vrrp {
        version: 3,
        advert_int: "0.01",
    };
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trials = args
        .windows(2)
        .find(|w| w[0] == "--trials")
        .and_then(|w| w[1].parse().ok());
    match args.first().map(String::as_str) {
        Some("failover") => failover(trials.unwrap_or(20), trials.unwrap_or(20).min(5)),
        Some("adverts") => adverts(10),
        _ => {
            eprintln!("usage: havip-bench failover [--trials N]");
            std::process::exit(2);
        }
    }
}
