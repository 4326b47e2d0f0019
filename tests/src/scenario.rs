//! Scenarios shared by the demo and the benchmarks: a two-node LAN with a client, either havip
//! or keepalived on both nodes, and a failover whose client-observed outage is measured.

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{
    lab::{Host, Lab},
    probe::Ping,
};

pub const VIP: &str = "10.99.0.100";
const LONG: Duration = Duration::from_secs(20);

/// Which VRRP daemon runs on the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Havip,
    Keepalived,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Havip => "havip",
            Daemon::Keepalived => "keepalived",
        }
    }
}

/// VRRP settings of a scenario.
#[derive(Clone, Copy, Debug)]
pub struct Vrrp {
    pub version: u8,
    /// Advertisement interval as the configs write it ("1", "0.01").
    pub advert_int: &'static str,
    /// VRRPv2 `auth_type PASS` password, if any.
    pub pass: Option<&'static str>,
}

impl Vrrp {
    /// VRRPv2 with `auth_type PASS` / `auth_pass 1111`, as the seed config.
    pub const fn v2(advert_int: &'static str) -> Vrrp {
        Vrrp {
            version: 2,
            advert_int,
            pass: Some("1111"),
        }
    }

    /// VRRPv3 (no authentication).
    pub const fn v3(advert_int: &'static str) -> Vrrp {
        Vrrp {
            version: 3,
            advert_int,
            pass: None,
        }
    }
}

impl Vrrp {
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.advert_int.parse().expect("advert_int"))
    }

    /// Master_Down_Interval for `priority` (RFC 9568 §6.1; v2 skew in seconds).
    pub fn master_down(&self, priority: u32) -> Duration {
        let skew_base = if self.version == 2 {
            Duration::from_secs(1)
        } else {
            self.interval()
        };
        self.interval() * 3 + skew_base * (256 - priority) / 256
    }
}

/// keepalived.conf for one node: the seed config's shape.
pub fn keepalived_conf(v: Vrrp, state: &str, priority: u8) -> String {
    keepalived_conf_with(v, state, priority, "")
}

/// As [`keepalived_conf`], with more `global_defs` lines (e.g. `vrrp_rt_priority 50`).
pub fn keepalived_conf_with(v: Vrrp, state: &str, priority: u8, globals: &str) -> String {
    // One keyword per line: keepalived 2.2.7 ignores the password of a one-line block.
    let auth = v.pass.map_or(String::new(), |p| {
        format!("    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n")
    });
    format!(
        "global_defs {{\n    router_id ka\n    vrrp_version {}\n{globals}}}\n\
         vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int {}\n{auth}    virtual_ipaddress {{\n        \
         10.99.0.100/24\n    }}\n}}\n",
        v.version, v.advert_int
    )
}

/// `havip run` arguments for one node, the same settings.
pub fn havip_args(v: Vrrp, priority: u8, mode: &str) -> Vec<String> {
    havip_args_on("eth0", "10.99.0.100/24", v, priority, mode)
}

/// As [`havip_args`], for VIP `vip` on interface `iface`.
pub fn havip_args_on(iface: &str, vip: &str, v: Vrrp, priority: u8, mode: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--iface",
        iface,
        "--vip",
        vip,
        "--vrid",
        "51",
        "--xdp-mode",
        mode,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(["--priority".into(), priority.to_string()]);
    a.extend(["--vrrp-version".into(), v.version.to_string()]);
    a.extend(["--advert-int".into(), v.advert_int.to_string()]);
    if let Some(p) = v.pass {
        a.extend(["--auth-pass".into(), p.to_string()]);
    }
    a
}

/// A LAN with two nodes (10.99.0.11 priority 101, 10.99.0.12 priority 100) running `daemon`,
/// and a client (10.99.0.50). Returns once node 1 is master and node 2 backup.
pub struct Pair {
    pub lab: Lab,
    pub n1: Host,
    pub n2: Host,
    pub client: Host,
    pub daemon: Daemon,
    pub vrrp: Vrrp,
}

impl Pair {
    pub fn start(name: &str, daemon: Daemon, vrrp: Vrrp, xdp_mode: &str) -> Pair {
        Pair::start_with(name, daemon, vrrp, xdp_mode, &[])
    }

    /// As [`Pair::start`], with more `havip run` arguments (havip) or `global_defs` lines
    /// (keepalived).
    pub fn start_with(
        name: &str,
        daemon: Daemon,
        vrrp: Vrrp,
        xdp_mode: &str,
        extra: &[&str],
    ) -> Pair {
        let mut lab = Lab::new(name);
        let n1 = lab.host("n1", "10.99.0.11/24");
        let n2 = lab.host("n2", "10.99.0.12/24");
        let client = lab.host("c", "10.99.0.50/24");
        if xdp_mode == "native" {
            // Only the benchmark's native-mode figures ask for this: native XDP_TX on a veth
            // needs an XDP program on the peer. Tests and the demo use `auto`, as users do.
            lab.pass_on_port(&n1);
            lab.pass_on_port(&n2);
        }
        match daemon {
            Daemon::Havip => {
                for (label, host, prio) in [("n1", &n1, 101), ("n2", &n2, 100)] {
                    let args = havip_args(vrrp, prio, xdp_mode);
                    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
                    args.extend_from_slice(extra);
                    lab.havip(label, host, &args).wait_started(LONG);
                }
                lab.proc("n1").wait_state("MASTER", LONG);
            }
            Daemon::Keepalived => {
                let globals: String = extra.iter().map(|l| format!("    {l}\n")).collect();
                lab.keepalived(
                    "n1",
                    &n1,
                    &keepalived_conf_with(vrrp, "MASTER", 101, &globals),
                );
                lab.keepalived(
                    "n2",
                    &n2,
                    &keepalived_conf_with(vrrp, "BACKUP", 100, &globals),
                );
                lab.proc("n1").wait_keepalived_state("MASTER", LONG);
            }
        }
        // Let the backup hear a few adverts.
        sleep(vrrp.master_down(100) + Duration::from_millis(100));
        Pair {
            lab,
            n1,
            n2,
            client,
            daemon,
            vrrp,
        }
    }

    /// Whether node `label` is master now: havip's by its control socket (what `havip stats`
    /// reads, a millisecond per look), keepalived's by its log (it has no such interface).
    pub fn is_master(&mut self, label: &str) -> bool {
        let p = self.lab.proc(label);
        let state = match self.daemon {
            Daemon::Havip => p.state_now(),
            Daemon::Keepalived => p.keepalived_state(),
        };
        state.as_deref() == Some("MASTER")
    }

    /// Waits until node `label` is master.
    pub fn wait_master(&mut self, label: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.is_master(label) {
            assert!(
                Instant::now() < deadline,
                "{label} not master within {timeout:?}"
            );
            sleep(Duration::from_millis(2));
        }
    }

    /// Pings the VIP from the client every `ping_every`, runs `fail` at a random phase of the
    /// advert interval, waits for node 2 to take over, and returns the longest gap between
    /// replies: the outage the client saw.
    pub fn failover(&mut self, ping_every: Duration, fail: impl FnOnce(&mut Pair)) -> Duration {
        let ping = Ping::start(&self.client.ns, VIP, ping_every);
        sleep(Duration::from_millis(300));
        sleep(self.vrrp.interval().mul_f64(random_fraction()));
        fail(self);
        self.wait_master("n2", Duration::from_secs(15));
        sleep(Duration::from_millis(300));
        let result = ping.stop();
        assert!(
            result.replies.len() > 10,
            "the client got almost no replies"
        );
        result.longest_gap()
    }

    /// `havip stats --json` of a node, run in its namespace as a user would.
    pub fn stats(&self, host: &Host) -> havip::stats::Stats {
        self.lab.stats(host)
    }

    /// The master's link drops (its bridge port goes down).
    pub fn drop_master_link(&mut self) {
        let lan = self.lab.lan();
        let port = self.n1.port.clone();
        self.lab.ip(&lan, &format!("link set {port} down"));
    }
}

/// A number in [0, 1) that differs between calls (clock-seeded; good enough for a phase).
fn random_fraction() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let x = (u64::from(nanos))
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Median and 95th percentile (nearest rank) of durations.
pub fn median_p95(samples: &[Duration]) -> (Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort();
    let rank = |q: f64| s[(((s.len() as f64) * q).ceil() as usize).clamp(1, s.len()) - 1];
    (rank(0.5), rank(0.95))
}
