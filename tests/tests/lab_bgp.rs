//! The routed lab for havip's BGP mode, proved without havip: an FRR router with ECMP, three
//! nodes on subnets of their own announcing an anycast VIP with a hand-run BIRD (what havip's
//! own BIRD child will do), a client behind the router. The router's RIB and FIB, BGP paths and
//! BFD sessions are read through vtysh; 300 UDP flows show the spread; a withdrawal moves only
//! the withdrawn node's flows; a BIRD killed with SIGKILL, and a node gone silent, are timed out
//! of the router's FIB.

use std::{
    collections::{BTreeMap, BTreeSet},
    thread::sleep,
    time::{Duration, Instant},
};

use havip_lab::{
    bgp_lab::{bird_announce_config, BfdPeer, Bird, FrrConfig, RoutedHost},
    flows::{flow_map, FlowMap, UdpProbe, UdpProbeResult, UdpResponder},
    lab::{wait_until, Lab},
    probe::probes_realtime,
};

const VIP: &str = "203.0.113.10";
const PREFIX: &str = "203.0.113.10/32";
const PORT: u16 = 7777;
const ROUTER_AS: u32 = 65000;
const NODE_AS: u32 = 65001;
const FLOWS: std::ops::Range<u16> = 20000..20300;
const LONG: Duration = Duration::from_secs(10);
/// BFD at 10 ms × 3 detects in 30 ms, the hold time (3 s) in seconds: a withdrawal within this
/// was not the hold timer's.
const QUICK: Duration = Duration::from_secs(1);

fn ips<'a>(nodes: impl IntoIterator<Item = &'a RoutedHost>) -> Vec<&'a str> {
    nodes.into_iter().map(|n| n.ip.as_str()).collect()
}

fn set(ips: &[&str]) -> BTreeSet<String> {
    ips.iter().map(|s| s.to_string()).collect()
}

/// Which node answers each of the client's 300 flows; every flow answered.
fn map(client: &RoutedHost) -> FlowMap {
    let m = flow_map(&client.ns, VIP, PORT, FLOWS, Duration::from_secs(3));
    assert!(
        m.unanswered.is_empty(),
        "flows unanswered: {:?}",
        m.unanswered
    );
    m
}

/// Probes flow `sport` every millisecond while `act` runs, and 100 ms either side; returns
/// what the probe saw and when `act` began.
fn probe_through(client: &RoutedHost, sport: u16, act: impl FnOnce()) -> (UdpProbeResult, Instant) {
    let probe = UdpProbe::start(&client.ns, VIP, PORT, sport, Duration::from_millis(1));
    sleep(Duration::from_millis(100));
    let at = Instant::now();
    act();
    sleep(Duration::from_millis(100));
    (probe.stop(), at)
}

#[test]
fn lab_infra_frr_router_ecmp_with_hand_run_bird() {
    let t0 = Instant::now();
    // The client's prober and the nodes' responders: a stalled prober reads as an outage.
    probes_realtime();
    let mut lab = Lab::new("bgpinfra");
    let rtr = lab.router("r");
    let nodes: Vec<RoutedHost> = (1..=3)
        .map(|i| lab.routed_host(&rtr, &format!("n{i}"), &format!("10.98.{i}.2/24")))
        .collect();
    let (n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2]);
    let client = lab.routed_host(&rtr, "c", "10.97.0.2/24");
    let mut conf = FrrConfig::new(ROUTER_AS, &client.gateway);
    for n in &nodes {
        conf = conf.neighbor(&n.ip, NODE_AS, true);
    }
    let frr = lab.frr("r", &rtr, &conf);
    let mut responders = Vec::new();
    let mut birds: Vec<Bird> = Vec::new();
    for n in &nodes {
        // The node takes the VIP's packets as its own.
        lab.ip(&n.ns, &format!("addr add {VIP}/32 dev lo"));
        responders.push(UdpResponder::start(&n.ns, &n.name, PORT));
        let c = bird_announce_config(n, NODE_AS, ROUTER_AS, &[VIP]);
        birds.push(lab.bird(&format!("bird-{}", n.name), &n.ns, &c));
    }
    let up = frr.wait_established(&ips(&nodes), LONG);
    let all = frr.wait_nexthops(PREFIX, &ips(&nodes), LONG);
    let bfd = frr.wait_bfd(&ips(&nodes), "up", LONG);
    eprintln!(
        "sessions up {up:?} after FRR and BIRD started, 3 next hops {all:?} later, BFD up \
         {bfd:?} later, {:?} after the lab started",
        t0.elapsed()
    );

    // zebra's view, the kernel's, BGP's and BFD's agree.
    assert_eq!(frr.fib_nexthops(PREFIX), set(&ips(&nodes)));
    let paths = frr.bgp_paths(PREFIX);
    assert_eq!(paths.len(), 3, "{paths:#?}");
    for p in &paths {
        assert!(p.valid && p.multipath, "{p:?}");
        assert_eq!(p.as_path, NODE_AS.to_string(), "{p:?}");
        assert_eq!(p.nexthop, p.peer, "{p:?}");
        assert_eq!(p.med, None, "{p:?}");
    }
    assert_eq!(paths.iter().filter(|p| p.best).count(), 1, "{paths:#?}");
    // BIRD's side leaves its slow start (1 s) by a poll once the session is up.
    let remote = |b: &BfdPeer| {
        (
            b.remote_transmit_ms,
            b.remote_receive_ms,
            b.remote_multiplier,
        )
    };
    wait_until("BIRD's BFD at 10 ms x 3", LONG, || {
        frr.bfd_peers().iter().all(|b| remote(b) == (10, 10, 3))
    });
    let bfd = frr.bfd_peers();
    assert_eq!(bfd.len(), 3, "{bfd:#?}");
    for b in &bfd {
        assert_eq!(b.status, "up", "{b:?}");
        assert_eq!(
            (b.transmit_ms, b.receive_ms, b.multiplier),
            (10, 10, 3),
            "{b:?}"
        );
    }
    let neighbors = frr.neighbors();
    for (n, bird) in nodes.iter().zip(&birds) {
        let nb = &neighbors[&n.ip];
        assert_eq!(nb.state, "Established", "{nb:?}");
        assert_eq!(nb.prefixes_received, Some(1), "{nb:?}");
        assert_eq!(bird.protocol("up"), ("up".into(), "Established".into()));
    }
    let established: BTreeMap<String, u64> = neighbors
        .iter()
        .map(|(ip, n)| (ip.clone(), n.established))
        .collect();

    // 300 flows, each a source port: all three nodes get a fair share.
    let before = map(&client);
    let counts = before.counts();
    eprintln!("300 flows over 3 next hops: {counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|c| *c >= 50), "{counts:?}");

    // The node in the middle of the kernel's group withdraws (BIRD disables its static
    // routes): its flows, and only its, move. With hash-threshold ECMP the others keep theirs
    // only when the middle one goes (see bgp_lab); the group's order is BGP's, which varies.
    let order = frr.fib_gateways(PREFIX);
    let mid = nodes.iter().position(|n| n.ip == order[1]).unwrap();
    let (m, rest) = (&nodes[mid], nodes.iter().filter(|n| n.ip != order[1]));
    let rest: Vec<&str> = ips(rest);
    let sport = *before.flows_of(&m.name).first().unwrap();
    let mut withdrawn = Duration::ZERO;
    let (seen, _) = probe_through(&client, sport, || {
        birds[mid].birdc("disable vips");
        withdrawn = frr.wait_fib_nexthops(PREFIX, &rest, LONG);
    });
    assert_eq!(frr.rib_nexthops(PREFIX), set(&rest));
    assert_eq!(frr.bgp_paths(PREFIX).len(), 2);
    let after = map(&client);
    let moved: BTreeSet<u16> = before.moved(&after).into_keys().collect();
    eprintln!(
        "{} (the middle of {order:?}) withdrew: out of the FIB {withdrawn:?} after `birdc \
         disable`; its flows went to {:?}; the probed flow's longest gap {:?}",
        m.name,
        after.counts(),
        seen.longest_gap()
    );
    assert_eq!(
        moved,
        before.flows_of(&m.name),
        "only {}'s flows move",
        m.name
    );
    // Answered throughout, if late (the prober's own stalls make gaps, not lost requests).
    let lost = seen.timing.unanswered_runs();
    assert!(
        lost.is_empty(),
        "{} answers while it withdraws: {lost:?}",
        m.name
    );
    birds[mid].birdc("enable vips");
    let back = frr.wait_fib_nexthops(PREFIX, &ips(&nodes), LONG);
    assert_eq!(frr.rib_nexthops(PREFIX), set(&ips(&nodes)));
    assert_eq!(
        map(&client),
        before,
        "{} back: every flow where it was",
        m.name
    );
    eprintln!(
        "{} announced again: in the FIB {back:?} after `birdc enable`",
        m.name
    );

    // n3's BIRD is killed: its TCP connection closes, the router withdraws. n3 itself still
    // answers, so its flows move without a gap.
    let sport3 = *before.flows_of("n3").first().unwrap();
    let mut fib = Duration::ZERO;
    let (seen, killed) = probe_through(&client, sport3, || {
        lab.proc("bird-n3").signal(libc::SIGKILL);
        fib = frr.wait_fib_nexthops(PREFIX, &ips([n1, n2]), LONG);
    });
    let changes = seen.node_changes();
    assert_eq!(changes.len(), 2, "n3, then another node: {changes:?}");
    assert_eq!(changes[0].1, "n3");
    let moved_after = changes[1].0 - killed;
    eprintln!(
        "kill -9 of n3's BIRD: out of the FIB {fib:?} after (polled); the probed flow moved to {} \
         {moved_after:?} after; longest gap {:?}",
        changes[1].1,
        seen.longest_gap()
    );
    assert!(fib < QUICK, "{fib:?}");
    let lost = seen.timing.unanswered_runs();
    assert!(lost.is_empty(), "n3 answers until its flows move: {lost:?}");
    assert!(
        frr.neighbors()
            .get(&n3.ip)
            .is_none_or(|n| n.state != "Established"),
        "n3's session is down"
    );

    // n1 goes silent (every packet dropped): only BFD tells, 30 ms; the client of one of its
    // flows is cut off until the router moves it.
    let now = map(&client);
    let sport1 = *now.flows_of("n1").first().unwrap();
    let mut fib = Duration::ZERO;
    let (seen, silenced) = probe_through(&client, sport1, || {
        lab.silence(&n1.ns);
        fib = frr.wait_fib_nexthops(PREFIX, &ips([n2]), LONG);
    });
    let changes = seen.node_changes();
    assert_eq!(changes.len(), 2, "n1, then n2: {changes:?}");
    assert_eq!((changes[0].1.as_str(), changes[1].1.as_str()), ("n1", "n2"));
    let outage = seen.longest_gap();
    let runs = seen.timing.unanswered_runs();
    let bfd_n1 = frr
        .bfd_peers()
        .into_iter()
        .find(|b| b.peer == n1.ip)
        .expect("n1's BFD session");
    eprintln!(
        "n1 silent: out of the FIB {fib:?} after (polled); the client's outage {outage:?} (from \
         the silence to the first answer from n2: {:?}); unanswered runs {:?}; BFD {} ({})",
        changes[1].0 - silenced,
        runs.iter().map(|r| r.1).collect::<Vec<_>>(),
        bfd_n1.status,
        bfd_n1.diagnostic
    );
    assert!(outage < QUICK, "BFD, not the hold time: {outage:?}");
    assert_eq!(bfd_n1.status, "down", "{bfd_n1:?}");

    // n2's session never dropped after the start.
    let now = frr.neighbors();
    assert_eq!(now[&n2.ip].established, established[&n2.ip], "{now:#?}");
    drop(responders);
    eprintln!("test ran {:?}", t0.elapsed());
}
