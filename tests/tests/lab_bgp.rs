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
    bgp_lab::{
        bird_announce_config, birds_in, start_havip, vrrp_bgp_conf, BfdPeer, Bird, FrrConfig,
        RoutedHost, BGP_VIP, NODE_AS, ROUTER_AS,
    },
    flows::{flow_map, FlowMap, UdpProbe, UdpProbeResult, UdpResponder},
    lab::{wait_until, Lab},
    probe::probes_realtime,
};

const VIP: &str = BGP_VIP;
const PREFIX: &str = "203.0.113.10/32";
const PORT: u16 = 7777;
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

// ---------------------------------------------------------------------------------------------
// havip's BGP mode: the same routed lab, with havip (started with `ip netns exec`, as users do)
// in place of the hand-run BIRDs. havip starts BIRD itself.

fn route_of(lab: &mut Lab, label: &str) -> String {
    let s = lab.proc(label).snapshot().expect("the daemon answers");
    let b = s.bgp.expect("BGP in the snapshot");
    b.routes[0].announce.as_str().to_string()
}

/// Active/standby: n1 (200) and n2 (100) elect over unicast VRRP through the router (no shared
/// L2); the master announces the VIP, the backup announces it with its AS prepended twice. On
/// each failure of the master the router's RIB holds exactly the new master, and the client's
/// outage is printed: link down, FAULT (its check fails), a freeze (SIGSTOP: the fence kills
/// BIRD), graceful stop, kill -9 (BIRD dies with havip).
#[test]
fn active_standby_moves_the_route_with_the_master_on_every_failure() {
    let t0 = Instant::now();
    probes_realtime();
    let mut lab = Lab::new("bgpas");
    let rtr = lab.router("r");
    let n1 = lab.routed_host(&rtr, "n1", "10.98.1.2/24");
    let n2 = lab.routed_host(&rtr, "n2", "10.98.2.2/24");
    let client = lab.routed_host(&rtr, "c", "10.97.0.2/24");
    let conf = FrrConfig::new(ROUTER_AS, &client.gateway)
        .neighbor(&n1.ip, NODE_AS, true)
        .neighbor(&n2.ip, NODE_AS, true);
    let frr = lab.frr("r", &rtr, &conf);
    let flag1 = lab.dir().join("n1.ok").to_str().unwrap().to_string();
    let flag2 = lab.dir().join("n2.ok").to_str().unwrap().to_string();
    std::fs::write(&flag1, "").unwrap();
    std::fs::write(&flag2, "").unwrap();
    let _r1 = UdpResponder::start(&n1.ns, "n1", PORT);
    let _r2 = UdpResponder::start(&n2.ns, "n2", PORT);
    let c1 = vrrp_bgp_conf(&n1, 200, "    backup prepend 2\n", &[&n2], &flag1);
    let c2 = vrrp_bgp_conf(&n2, 100, "    backup prepend 2\n", &[&n1], &flag2);
    start_havip(&mut lab, "n1", &n1, &c1);
    start_havip(&mut lab, "n2", &n2, &c2);
    lab.proc("n1").wait_state("MASTER", LONG);
    lab.proc("n2").wait_state("BACKUP", LONG);
    frr.wait_established(&[&n1.ip, &n2.ip], Duration::from_secs(20));
    frr.wait_nexthops(PREFIX, &[&n1.ip], LONG);
    // Both paths known, the master's best: the backup's is its AS three times.
    wait_until("the backup's worse path", LONG, || {
        frr.bgp_paths(PREFIX).len() == 2
    });
    let paths = frr.bgp_paths(PREFIX);
    let p1 = paths.iter().find(|p| p.peer == n1.ip).unwrap();
    let p2 = paths.iter().find(|p| p.peer == n2.ip).unwrap();
    assert!(p1.best && !p2.best, "{paths:#?}");
    assert_eq!(p1.as_path, NODE_AS.to_string());
    assert_eq!(p2.as_path, format!("{NODE_AS} {NODE_AS} {NODE_AS}"));
    assert_eq!(frr.rib_nexthops(PREFIX), set(&[&n1.ip]));
    assert_eq!(route_of(&mut lab, "n1"), "primary");
    assert_eq!(route_of(&mut lab, "n2"), "backup");
    let n1_stats = lab.proc("n1").snapshot().unwrap().bgp.unwrap();
    assert!(n1_stats.neighbors[0].established, "{n1_stats:?}");
    eprintln!("set up in {:?}", t0.elapsed());

    // A reload that changes the BGP block (a community added): BIRD is reconfigured and the
    // master's route stays in the router's kernel table throughout.
    let file = lab.dir().join("n1.conf");
    let c1r = c1.replace(
        "    backup prepend 2\n",
        "    backup prepend 2\n    community 65001:7\n",
    );
    std::fs::write(&file, &c1r).unwrap();
    lab.proc("n1").signal(libc::SIGHUP);
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let fib = havip_lab::bgp_lab::fib_nexthops(&frr.ns, PREFIX);
        assert!(
            fib.contains(&n1.ip),
            "n1's route left at the reload: {fib:?}"
        );
        sleep(Duration::from_millis(2));
    }
    lab.proc("n1").wait_log("BGP speaker reconfigured", LONG);
    wait_until("the community on n1's route", LONG, || {
        frr.bgp_paths(PREFIX).iter().any(|p| {
            p.peer == n1.ip
                && p.communities
                    .as_deref()
                    .is_some_and(|c| c.contains("65001:7"))
        })
    });
    assert_eq!(frr.rib_nexthops(PREFIX), set(&[&n1.ip]));
    std::fs::write(&file, &c1).unwrap();

    let sport = 20100;
    // Each failure: the route moves to n2 alone; the client's flow follows; then n1 returns.
    let mut outages = Vec::new();
    let mut fail = |lab: &mut Lab, what: &str, act: &dyn Fn(&mut Lab), undo: &dyn Fn(&mut Lab)| {
        wait_until("the flow on n1", LONG, || {
            flow_map(
                &client.ns,
                VIP,
                PORT,
                sport..sport + 1,
                Duration::from_secs(1),
            )
            .node
            .get(&sport)
            .is_some_and(|n| n == "n1")
        });
        let probe = UdpProbe::start(&client.ns, VIP, PORT, sport, Duration::from_millis(1));
        sleep(Duration::from_millis(100));
        let at = Instant::now();
        act(lab);
        let moved = frr.wait_nexthops(PREFIX, &[&n2.ip], LONG);
        // n2 may hold only its backup path yet (n1's withdrawn): the flow reaches it once it
        // is master.
        lab.proc("n2").wait_state("MASTER", LONG);
        sleep(Duration::from_millis(300));
        let seen = probe.stop();
        let last = seen.node_changes().last().map(|(_, n)| n.clone());
        assert_eq!(last.as_deref(), Some("n2"), "{what}: the flow moved to n2");
        assert_eq!(frr.rib_nexthops(PREFIX), set(&[&n2.ip]), "{what}");
        let outage = seen.longest_gap();
        eprintln!(
            "{what}: RIB on n2 alone {:?} after (polled every ~35 ms); the client's outage {outage:?}",
            moved.min(at.elapsed())
        );
        outages.push((what.to_string(), outage));
        undo(lab);
        if what != "kill -9" {
            frr.wait_nexthops(PREFIX, &[&n1.ip], Duration::from_secs(20));
            assert_eq!(frr.rib_nexthops(PREFIX), set(&[&n1.ip]), "{what}: back");
        }
    };

    // The master's link down: BFD (150 ms) tells the router, VRRP's Master_Down_Interval
    // (~0.35 s) the backup.
    fail(
        &mut lab,
        "link down",
        &|lab| {
            lab.ip(&n1.ns, "link set eth0 down");
        },
        &|lab| {
            lab.ip(&n1.ns, "link set eth0 up");
            lab.ip(&n1.ns, &format!("route add default via {}", n1.gateway));
            lab.proc("n1").wait_state("MASTER", LONG);
        },
    );
    // FAULT: n1's check fails (weight 0): it withdraws and stops advertising.
    fail(
        &mut lab,
        "FAULT",
        &|_| std::fs::remove_file(&flag1).unwrap(),
        &|lab| {
            std::fs::write(&flag1, "").unwrap();
            lab.proc("n1").wait_state("MASTER", LONG);
        },
    );
    // A frozen havip (SIGSTOP of the daemon, not of its children): n2 takes over after the
    // Master_Down_Interval; n1's routes go when its fence, a process of its own, kills BIRD.
    let n1_pid = lab.proc("n1").pid() as i32;
    fail(
        &mut lab,
        "SIGSTOP",
        &|_| unsafe {
            libc::kill(n1_pid, libc::SIGSTOP);
        },
        &|lab| {
            unsafe { libc::kill(n1_pid, libc::SIGCONT) };
            lab.proc("n1").wait_state("MASTER", LONG);
        },
    );
    // Graceful stop: BIRD withdraws and closes its sessions; a new process announces again.
    fail(
        &mut lab,
        "SIGTERM",
        &|lab| {
            lab.proc("n1").signal(libc::SIGTERM);
            lab.proc("n1").wait_exit(LONG);
        },
        &|lab| {
            assert!(birds_in(&n1.ns).is_empty(), "BIRD stopped with havip");
            start_havip(lab, "n1b", &n1, &c1);
            lab.proc("n1b").wait_state("MASTER", LONG);
        },
    );
    // kill -9: BIRD dies with havip (PR_SET_PDEATHSIG); the router's session closes.
    let label = "n1b";
    fail(
        &mut lab,
        "kill -9",
        &|lab| {
            lab.proc(label).signal(libc::SIGKILL);
        },
        &|lab| {
            lab.proc(label).wait_exit(LONG);
            wait_until("no BIRD left in n1", LONG, || birds_in(&n1.ns).is_empty());
        },
    );
    // kill -9 left n1's VIP: the next process is not needed for n2 to hold the route.
    assert_eq!(frr.rib_nexthops(PREFIX), set(&[&n2.ip]));
    for (what, outage) in &outages {
        // BFD and VRRP at 0.1 s adverts: well under the hold time (9 s) everywhere; a freeze
        // waits for the fence (eight beats, 1 s at least).
        let limit = if what == "SIGSTOP" { 4 } else { 2 };
        assert!(*outage < Duration::from_secs(limit), "{what}: {outage:?}");
    }
    eprintln!("test ran {:?}", t0.elapsed());
}

/// Anycast: three nodes announce the VIP, no election; 300 client flows spread over all three.
/// One node's check fails: its route is withdrawn, its flows move and the others' stay; its
/// check passes again: it announces again and every flow is back where it was. The failing
/// node is the one in the middle of the router's multipath group: Linux's hash-threshold
/// multipath (zebra 8.4 makes no resilient groups) moves some of a neighbouring next hop's
/// flows too when the first or last one leaves, whoever withdraws (see `bgp_lab`).
#[test]
fn anycast_nodes_all_announce_and_a_failing_check_withdraws_only_that_node() {
    let t0 = Instant::now();
    probes_realtime();
    let mut lab = Lab::new("bgpany");
    let rtr = lab.router("r");
    let nodes: Vec<RoutedHost> = (1..=3)
        .map(|i| lab.routed_host(&rtr, &format!("n{i}"), &format!("10.98.{i}.2/24")))
        .collect();
    let client = lab.routed_host(&rtr, "c", "10.97.0.2/24");
    let mut conf = FrrConfig::new(ROUTER_AS, &client.gateway);
    for n in &nodes {
        conf = conf.neighbor(&n.ip, NODE_AS, true);
    }
    let frr = lab.frr("r", &rtr, &conf);
    let mut flags = Vec::new();
    let mut responders = Vec::new();
    for n in &nodes {
        let flag = lab
            .dir()
            .join(format!("{}.ok", n.name))
            .to_str()
            .unwrap()
            .to_string();
        std::fs::write(&flag, "").unwrap();
        responders.push(UdpResponder::start(&n.ns, &n.name, PORT));
        // Priorities and a weight of -20 as an active/standby file would have them: anycast
        // counts the failing check as FAULT whatever its weight.
        let c = vrrp_bgp_conf(n, 100, "    mode anycast\n", &[], &flag)
            .replace("        chk weight 0\n", "        chk\n");
        start_havip(&mut lab, &n.name, n, &c);
        flags.push(flag);
    }
    for n in &nodes {
        lab.proc(&n.name).wait_state("MASTER", LONG);
    }
    frr.wait_established(&ips(&nodes), Duration::from_secs(20));
    frr.wait_nexthops(PREFIX, &ips(&nodes), LONG);
    // No election: no node sent an advert.
    for n in &nodes {
        let s = lab.proc(&n.name).snapshot().unwrap();
        assert_eq!(
            s.instances[0].adverts.sent, 0,
            "{}: {:?}",
            n.name, s.instances[0]
        );
        assert_eq!(route_of(&mut lab, &n.name), "primary");
    }
    let before = map(&client);
    let counts = before.counts();
    eprintln!(
        "set up in {:?}; 300 flows over 3 nodes: {counts:?}",
        t0.elapsed()
    );
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|c| *c >= 50), "{counts:?}");

    let order = frr.fib_gateways(PREFIX);
    let mid = nodes.iter().position(|n| n.ip == order[1]).unwrap();
    let m = &nodes[mid];
    let rest: Vec<&str> = nodes
        .iter()
        .filter(|n| n.ip != m.ip)
        .map(|n| n.ip.as_str())
        .collect();
    let sport = *before.flows_of(&m.name).first().unwrap();
    let probe = UdpProbe::start(&client.ns, VIP, PORT, sport, Duration::from_millis(1));
    sleep(Duration::from_millis(100));
    std::fs::remove_file(&flags[mid]).unwrap();
    let gone = frr.wait_nexthops(PREFIX, &rest, LONG);
    lab.proc(&m.name).wait_state("FAULT", LONG);
    sleep(Duration::from_millis(200));
    let seen = probe.stop();
    assert_eq!(frr.rib_nexthops(PREFIX), set(&rest));
    assert_eq!(route_of(&mut lab, &m.name), "withdrawn");
    let after = map(&client);
    let moved: BTreeSet<u16> = before.moved(&after).into_keys().collect();
    eprintln!(
        "{}'s check failed: out of the RIB {gone:?} after (checks run every 1 s); its flows went \
         to {:?}; the probed flow's longest gap {:?}",
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
    assert!(!after.counts().contains_key(&m.name));

    std::fs::write(&flags[mid], "").unwrap();
    let back = frr.wait_nexthops(PREFIX, &ips(&nodes), LONG);
    assert_eq!(frr.rib_nexthops(PREFIX), set(&ips(&nodes)));
    assert_eq!(
        map(&client),
        before,
        "{} back: every flow where it was",
        m.name
    );
    eprintln!("{} healthy again: back in the RIB {back:?} after", m.name);
    let s = lab.proc(&m.name).snapshot().unwrap().bgp.unwrap();
    assert_eq!(
        (s.routes[0].announced, s.routes[0].withdrawn),
        (2, 1),
        "{s:?}"
    );
    drop(responders);
    eprintln!("test ran {:?}", t0.elapsed());
}
