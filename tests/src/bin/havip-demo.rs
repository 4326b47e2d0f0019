//! `cargo xtask demo`: two havip nodes and a client in network namespaces. The master node dies
//! (its havip is killed with SIGKILL and its link drops), the backup takes over and the client's
//! outage is measured; then the dead node's link comes back with its daemon still dead, and its
//! XDP program keeps it from answering ARP for the VIP it still holds. Everything is torn down
//! at the end.

use std::time::Duration;

use havip::stats::render;
use havip_lab::scenario::{Daemon, Pair, Vrrp, VIP};

fn main() {
    let vrrp = Vrrp::v3("0.01");
    println!("havip demo: VIP {VIP} on a bridged LAN in network namespaces");
    println!(
        "  n1 10.99.0.11 priority 101, n2 10.99.0.12 priority 100, VRRPv3 adverts every 10 ms,"
    );
    println!(
        "  XDP mode auto (as users type it); a client (10.99.0.50) pings the VIP every 1 ms.\n"
    );
    let mut pair = Pair::start("demo", Daemon::Havip, vrrp, "auto");
    println!("== n1 after the election ==");
    print!("{}", render(&pair.stats(&pair.n1)));
    println!("\n== n2 ==");
    print!("{}", render(&pair.stats(&pair.n2)));

    println!("\n== the master dies: kill -9 of n1's havip, and n1's link drops ==");
    let outage = pair.failover(Duration::from_millis(1), |p| {
        p.lab.proc("n1").signal(libc::SIGKILL);
        p.drop_master_link();
    });
    println!(
        "client-observed outage: {:.1} ms (n2's Master_Down_Interval: {:.1} ms; keepalived's \
         median in the same lab: 42.5 ms, see BENCHMARKS.md)",
        outage.as_secs_f64() * 1000.0,
        vrrp.master_down(100).as_secs_f64() * 1000.0
    );

    println!("\n== n1's link comes back; its havip stays dead ==");
    let lan = pair.lab.lan();
    let port = pair.n1.port.clone();
    pair.lab.ip(&lan, &format!("link set {port} up"));
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "n1 still has the VIP on its eth0: {}; its XDP program is still attached (pinned): {}",
        pair.lab.has_addr(&pair.n1, VIP),
        pair.lab.xdp_on(&pair.n1).is_some()
    );
    let client = pair.client.clone();
    let r = pair.lab.arping(&client, VIP, 5, 0.05);
    println!(
        "arping {VIP} from the client: {} of {} answered, by {:?} (n2 is {}, n1 is {}): one \
         responder, never two",
        r.received, r.sent, r.macs, pair.n2.mac, pair.n1.mac
    );
    println!("n1 (no daemon; the pinned XDP counters):");
    print!("{}", render(&pair.stats(&pair.n1)));
    println!("\n== n2, the new master ==");
    print!("{}", render(&pair.stats(&pair.n2)));
    println!("\ntearing the lab down");
}
