//! `cargo xtask bench bgp`: the client's outage when the master fails, with the VIP carried by
//! BGP (havip's BIRD child announcing to an FRR router, active/standby over unicast VRRP at
//! 10 ms adverts through the router), with and without BFD on the BGP sessions; beside the
//! same failures in L2 mode (VRRP at 10 ms adverts, ARP, one LAN); and beside the setup havip
//! replaces, keepalived with a BIRD of its own exporting the VIP from the interface (`protocol
//! direct`). Then the fencing: after `kill -9` of the VRRP daemon, is the dead node still in the
//! router's table, and how many of 300 flows still go to it?
//!
//! Failures: the master's link down, FAULT (its check fails), graceful stop (SIGTERM), `kill -9`.
//! The outage is the longest gap in answers on one UDP flow the master served, a request every
//! millisecond from a client behind the router (or on the LAN).

use std::{
    fs,
    thread::sleep,
    time::{Duration, Instant},
};

use crate::{
    bgp_lab::{
        start_havip, vrrp_bgp_conf_with, Frr, FrrConfig, RoutedHost, BGP_VIP, NODE_AS, ROUTER_AS,
    },
    flows::{flow_map, UdpProbe, UdpResponder},
    lab::{wait_until, Lab},
    probe::probes_realtime,
    scenario::median_p95,
};

const PORT: u16 = 7777;
const SPORT: u16 = 20100;
const LONG: Duration = Duration::from_secs(20);
const L2_VIP: &str = "10.99.0.100";

/// What carries the VIP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Setup {
    /// havip, BGP through its BIRD child; BFD on the sessions at `bfd_ms` × 3, or none (the
    /// hold time, 9 s, then).
    HavipBgp { bfd_ms: Option<u32> },
    /// keepalived for the election, a BIRD of the operator's announcing the VIP while it is on
    /// the interface (`protocol direct`), BFD at `bfd_ms` × 3.
    KeepalivedBird { bfd_ms: u32 },
    /// havip in L2 mode: VRRP and ARP on one LAN, no router.
    HavipL2,
}

impl Setup {
    pub fn name(self) -> String {
        match self {
            Setup::HavipBgp { bfd_ms: Some(ms) } => format!("havip BGP, BFD {ms} ms x 3"),
            Setup::HavipBgp { bfd_ms: None } => "havip BGP, no BFD (hold 9 s)".into(),
            Setup::KeepalivedBird { bfd_ms } => {
                format!("keepalived + BIRD direct, BFD {bfd_ms} ms x 3")
            }
            Setup::HavipL2 => "havip L2 (ARP)".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Failure {
    /// `ip link set eth0 down` on the master: the router's end loses carrier too (a veth).
    LinkDown,
    /// The master drops every packet, in and out, its link up: a hung host, a dead switch
    /// port beyond which the router sees carrier. Only BFD, or the hold time, tells the router.
    Silent,
    Fault,
    Stop,
    /// `kill -9` of the VRRP daemon; the service on the node lives on.
    Kill,
}

impl Failure {
    pub const ALL: [Failure; 5] = [
        Failure::LinkDown,
        Failure::Silent,
        Failure::Fault,
        Failure::Stop,
        Failure::Kill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failure::LinkDown => "link down",
            Failure::Silent => "silent",
            Failure::Fault => "FAULT",
            Failure::Stop => "SIGTERM",
            Failure::Kill => "kill -9",
        }
    }
}

/// One node: where it runs and what runs there.
struct Node {
    host: RoutedHost,
    flag: String,
    conf: String,
    /// The label of the daemon running now (a restart gets a new one).
    label: String,
    starts: u32,
}

/// The lab of one setup.
struct Bed {
    setup: Setup,
    lab: Lab,
    frr: Option<Frr>,
    n1: Node,
    n2: Node,
    client_ns: String,
    vip: &'static str,
    _responders: Vec<UdpResponder>,
}

impl Bed {
    fn new(setup: Setup) -> Bed {
        let mut lab = Lab::new("bgpbench");
        let routed = setup != Setup::HavipL2;
        let (h1, h2, client_ns, frr) = if routed {
            let rtr = lab.router("r");
            let h1 = lab.routed_host(&rtr, "n1", "10.98.1.2/24");
            let h2 = lab.routed_host(&rtr, "n2", "10.98.2.2/24");
            let c = lab.routed_host(&rtr, "c", "10.97.0.2/24");
            let mut conf = FrrConfig::new(ROUTER_AS, &c.gateway);
            let bfd = !matches!(setup, Setup::HavipBgp { bfd_ms: None });
            conf = conf
                .neighbor(&h1.ip, NODE_AS, bfd)
                .neighbor(&h2.ip, NODE_AS, bfd);
            let ms = match setup {
                Setup::HavipBgp { bfd_ms: Some(ms) } | Setup::KeepalivedBird { bfd_ms: ms } => ms,
                _ => 10,
            };
            conf.bfd_tx_ms = ms;
            conf.bfd_rx_ms = ms;
            let frr = lab.frr("r", &rtr, &conf);
            (h1, h2, c.ns, Some(frr))
        } else {
            let h1 = lab.host("n1", "10.99.0.11/24");
            let h2 = lab.host("n2", "10.99.0.12/24");
            let c = lab.host("c", "10.99.0.50/24");
            let as_routed = |h: crate::lab::Host, name: &str| RoutedHost {
                name: name.into(),
                ns: h.ns,
                iface: h.iface,
                ip: h.ip,
                prefix_len: 24,
                gateway: String::new(),
                router_iface: h.port,
                mac: h.mac,
            };
            (as_routed(h1, "n1"), as_routed(h2, "n2"), c.ns, None)
        };
        let vip = if routed { BGP_VIP } else { L2_VIP };
        let responders = vec![
            UdpResponder::start(&h1.ns, "n1", PORT),
            UdpResponder::start(&h2.ns, "n2", PORT),
        ];
        let node = |lab: &Lab, h: RoutedHost, prio: u8, peer: &RoutedHost| {
            let flag = lab.dir().join(format!("{}.ok", h.name));
            fs::write(&flag, "").unwrap();
            let flag = flag.to_str().unwrap().to_string();
            let conf = match setup {
                Setup::HavipBgp { bfd_ms } => {
                    let bfd = bfd_ms.map_or(String::new(), |ms| {
                        format!("    bfd_min_rx {ms}\n    bfd_min_tx {ms}\n    bfd_multiplier 3\n")
                    });
                    let c = vrrp_bgp_conf_with(&h, prio, "0.01", Some(&bfd), &[peer], &flag);
                    if bfd_ms.is_none() {
                        c.replace("        bfd\n", "")
                    } else {
                        c
                    }
                }
                Setup::KeepalivedBird { .. } => {
                    vrrp_bgp_conf_with(&h, prio, "0.01", None, &[peer], &flag)
                }
                Setup::HavipL2 => vrrp_bgp_conf_with(&h, prio, "0.01", None, &[], &flag)
                    .replace(&format!("{BGP_VIP}/32"), &format!("{L2_VIP}/24")),
            };
            Node {
                label: h.name.clone(),
                host: h,
                flag,
                conf,
                starts: 0,
            }
        };
        let n1 = node(&lab, h1.clone(), 200, &h2);
        let n2 = node(&lab, h2, 100, &h1);
        let mut bed = Bed {
            setup,
            lab,
            frr,
            n1,
            n2,
            client_ns,
            vip,
            _responders: responders,
        };
        if let Setup::KeepalivedBird { bfd_ms } = setup {
            for n in [&bed.n1, &bed.n2] {
                let c = bird_direct_config(&n.host, bfd_ms);
                bed.lab
                    .bird(&format!("bird-{}", n.host.name), &n.host.ns, &c);
            }
        }
        bed.start(1);
        bed.start(2);
        bed.wait_state(2, "BACKUP");
        bed
    }

    fn node(&mut self, i: u8) -> &mut Node {
        if i == 1 {
            &mut self.n1
        } else {
            &mut self.n2
        }
    }

    fn start(&mut self, i: u8) {
        let keepalived = matches!(self.setup, Setup::KeepalivedBird { .. });
        let n = self.node(i);
        n.starts += 1;
        n.label = format!("{}-{}", n.host.name, n.starts);
        let (label, host, conf) = (n.label.clone(), n.host.clone(), n.conf.clone());
        if keepalived {
            self.lab.keepalived_in(&label, &host.ns, &conf);
        } else {
            start_havip(&mut self.lab, &label, &host, &conf);
        }
    }

    fn state(&mut self, i: u8) -> Option<String> {
        let keepalived = matches!(self.setup, Setup::KeepalivedBird { .. });
        let label = self.node(i).label.clone();
        let p = self.lab.proc(&label);
        if keepalived {
            p.keepalived_state()
        } else {
            p.state_now()
        }
    }

    fn wait_state(&mut self, i: u8, state: &str) {
        let deadline = Instant::now() + LONG;
        while self.state(i).as_deref() != Some(state) {
            assert!(Instant::now() < deadline, "n{i} not {state}");
            sleep(Duration::from_millis(5));
        }
    }

    fn prefix(&self) -> String {
        format!("{}/32", self.vip)
    }

    /// n1 master, n2 backup, the router's table on n1 alone, the probed flow answered by n1.
    fn steady(&mut self) {
        self.wait_state(1, "MASTER");
        self.wait_state(2, "BACKUP");
        if let Some(frr) = &self.frr {
            let peers = [self.n1.host.ip.as_str(), self.n2.host.ip.as_str()];
            frr.wait_established(&peers, LONG);
            // FRR 8.4 restarts a BFD session just after its BGP session comes up (bgp_lab):
            // a trial must not start on a session that only the hold time guards.
            if !matches!(self.setup, Setup::HavipBgp { bfd_ms: None }) {
                frr.wait_bfd(&peers, "up", LONG);
                sleep(Duration::from_millis(500));
                frr.wait_bfd(&peers, "up", LONG);
            }
            frr.wait_fib_nexthops(&self.prefix(), &[&self.n1.host.ip], LONG);
        }
        let (ns, vip) = (self.client_ns.clone(), self.vip);
        wait_until("the flow on n1", LONG, || {
            flow_map(&ns, vip, PORT, SPORT..SPORT + 1, Duration::from_millis(300))
                .node
                .get(&SPORT)
                .is_some_and(|n| n == "n1")
        });
    }

    fn fail(&mut self, f: Failure) {
        let label = self.n1.label.clone();
        match f {
            Failure::LinkDown => {
                self.lab.ip(&self.n1.host.ns, "link set eth0 down");
            }
            Failure::Silent => self.lab.silence(&self.n1.host.ns),
            Failure::Fault => fs::remove_file(&self.n1.flag).unwrap(),
            Failure::Stop => self.lab.proc(&label).signal(libc::SIGTERM),
            Failure::Kill => {
                let p = self.lab.proc(&label);
                // keepalived: its whole process group (the VRRP child).
                p.signal_group(libc::SIGKILL);
                p.signal(libc::SIGKILL);
            }
        }
    }

    fn undo(&mut self, f: Failure) {
        let label = self.n1.label.clone();
        match f {
            Failure::LinkDown => {
                self.lab.ip(&self.n1.host.ns, "link set eth0 up");
                if !self.n1.host.gateway.is_empty() {
                    let gw = self.n1.host.gateway.clone();
                    self.lab
                        .ip(&self.n1.host.ns, &format!("route replace default via {gw}"));
                }
            }
            Failure::Silent => self.lab.unsilence(&self.n1.host.ns),
            Failure::Fault => fs::write(&self.n1.flag, "").unwrap(),
            Failure::Stop | Failure::Kill => {
                self.lab.proc(&label).wait_exit(LONG);
                // What a killed daemon left on the interface (havip clears its own at start).
                let _ = self.lab.exec(
                    &self.n1.host.ns.clone(),
                    &["ip", "addr", "del", &self.prefix(), "dev", "eth0"],
                );
                self.start(1);
            }
        }
    }
}

/// keepalived's companion: BIRD exporting the VIP while it is on `eth0` (keepalived adds it on
/// the master), with BFD on the session.
fn bird_direct_config(node: &RoutedHost, ms: u32) -> String {
    format!(
        "log stderr all;\nrouter id {ip};\nprotocol device {{}}\n\
         protocol direct vip {{\n    ipv4;\n    interface \"eth0\";\n}}\n\
         protocol bfd {{\n    interface \"*\" {{ min rx interval {ms} ms; min tx interval {ms} ms; \
         multiplier 3; }};\n}}\n\
         protocol bgp up {{\n    local {ip} as {NODE_AS};\n    neighbor {gw} as {ROUTER_AS};\n    \
         bfd on;\n    hold time 9;\n    error wait time 1,5;\n    connect retry time 1;\n    \
         ipv4 {{ import none; export where net = {BGP_VIP}/32; }};\n}}\n",
        ip = node.ip,
        gw = node.gateway,
    )
}

/// How long a trial waits for the router's table to hold n2 alone.
const TABLE_WAIT: Duration = Duration::from_secs(12);

/// What one trial measured.
struct Trial {
    outage: Duration,
    /// Failure → the router's FIB holds n2 alone: `None` for L2, `Some(None)` never (within
    /// [`TABLE_WAIT`]).
    table: Option<Option<Duration>>,
}

/// One trial: the outage the probed flow saw, and (routed setups) when the router's table
/// held n2 alone, from the failure.
fn trial(bed: &mut Bed, f: Failure) -> Trial {
    bed.steady();
    let probe = UdpProbe::start(
        &bed.client_ns,
        bed.vip,
        PORT,
        SPORT,
        Duration::from_millis(1),
    );
    sleep(Duration::from_millis(100));
    let at = Instant::now();
    bed.fail(f);
    bed.wait_state(2, "MASTER");
    let prefix = bed.prefix();
    let n2 = bed.n2.host.ip.clone();
    let table = bed.frr.as_ref().map(|frr| loop {
        if crate::bgp_lab::fib_nexthops(&frr.ns, &prefix) == [n2.clone()].into() {
            break Some(at.elapsed());
        }
        if at.elapsed() > TABLE_WAIT {
            break None;
        }
        sleep(Duration::from_millis(2));
    });
    sleep(Duration::from_millis(300));
    let seen = probe.stop();
    if table != Some(None) {
        let last = seen.node_changes().last().map(|(_, n)| n.clone());
        assert_eq!(
            last.as_deref(),
            Some("n2"),
            "{}: the flow ends on n2",
            f.name()
        );
    }
    bed.undo(f);
    Trial {
        outage: seen.longest_gap(),
        table,
    }
}

/// The fencing: `kill -9` of n1's VRRP daemon; after `wait`, whether n1 is still in the
/// router's table and how many of 300 flows it still gets.
fn fencing(bed: &mut Bed, wait: Duration) -> (bool, usize) {
    bed.steady();
    bed.fail(Failure::Kill);
    bed.wait_state(2, "MASTER");
    sleep(wait);
    let prefix = bed.prefix();
    let in_table = bed
        .frr
        .as_ref()
        .is_some_and(|f| f.fib_nexthops(&prefix).contains(&bed.n1.host.ip));
    let map = flow_map(
        &bed.client_ns,
        bed.vip,
        PORT,
        20000..20300,
        Duration::from_secs(3),
    );
    let to_dead = map.counts().get("n1").copied().unwrap_or(0);
    let ns = bed.n1.host.ns.clone();
    let addrs = bed.lab.ip(&ns, "-br addr show eth0");
    let procs: Vec<String> = std::process::Command::new("ip")
        .args(["netns", "pids", &ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| fs::read_to_string(format!("/proc/{p}/comm")).ok())
                .map(|c| c.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    println!(
        "  n1 {wait:?} after the kill: processes in its namespace {procs:?}; eth0: {}",
        addrs
            .split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    bed.undo(Failure::Kill);
    (in_table, to_dead)
}

/// The benchmark: every setup, every failure, `trials` each; the table printed as it goes.
pub fn run(setups: &[Setup], trials: usize) {
    probes_realtime();
    println!(
        "bench bgp: client outage on one UDP flow (a request every 1 ms), median / p95 / max of \
         {trials} trials; VRRPv3 10 ms adverts (unicast through the router in the BGP setups), \
         real-time daemons; FRR 8.4 router with ECMP; \"table\": failure → the router's FIB \
         holds n2 alone (polled)"
    );
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    let mut rows = Vec::new();
    let mut fences = Vec::new();
    for &setup in setups {
        let mut bed = Bed::new(setup);
        // The peer is here for what havip changes: a VRRP daemon's death (the rest is BIRD's
        // and FRR's, the same for both).
        let failures: &[Failure] = if matches!(setup, Setup::KeepalivedBird { .. }) {
            &[Failure::Kill]
        } else {
            &Failure::ALL
        };
        for &f in failures {
            let mut outages = Vec::new();
            let mut tables = Vec::new();
            let mut never = 0;
            for t in 0..trials {
                let r = trial(&mut bed, f);
                println!(
                    "trial {} / {} #{t}: outage {} ms{}",
                    setup.name(),
                    f.name(),
                    ms(r.outage),
                    match r.table {
                        None => String::new(),
                        Some(Some(c)) => format!(", table {} ms", ms(c)),
                        Some(None) => format!(", table: n1 still in it after {TABLE_WAIT:?}"),
                    }
                );
                outages.push(r.outage);
                match r.table {
                    Some(Some(c)) => tables.push(c),
                    Some(None) => never += 1,
                    None => {}
                }
            }
            rows.push((setup.name(), f.name(), outages, tables, never));
        }
        if setup != Setup::HavipL2 {
            let (in_table, to_dead) = fencing(&mut bed, Duration::from_secs(10));
            println!(
                "fencing {}: 10 s after kill -9 of n1's daemon: n1 {} the router's table, {to_dead} \
                 of 300 flows still go to n1",
                setup.name(),
                if in_table { "STILL IN" } else { "out of" }
            );
            fences.push((setup.name(), in_table, to_dead));
        }
        drop(bed);
    }
    println!("\n| setup | failure | outage median ms | p95 | max | table median ms | p95 |");
    println!("|---|---|---|---|---|---|---|");
    for (s, f, o, c, never) in &rows {
        let (m, p) = median_p95(o);
        let max = o.iter().max().copied().unwrap_or_default();
        let (cm, cp) = if *never > 0 {
            (format!("never ({never} of {trials})"), "-".to_string())
        } else if c.is_empty() {
            ("-".to_string(), "-".to_string())
        } else {
            let (a, b) = median_p95(c);
            (ms(a), ms(b))
        };
        println!(
            "| {s} | {f} | {} | {} | {} | {cm} | {cp} |",
            ms(m),
            ms(p),
            ms(max)
        );
    }
    println!("\n| setup | 10 s after kill -9 of the master's VRRP daemon: in the router's table | flows of 300 still sent to it |");
    println!("|---|---|---|");
    for (s, t, n) in &fences {
        println!("| {s} | {} | {n} |", if *t { "yes" } else { "no" });
    }
}
