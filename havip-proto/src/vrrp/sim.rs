//! A simulated LAN in virtual time, raft-rs `Network` style: every router's `SendAdvert` is
//! delivered to every other live router after `delay`, unless the link is cut or the (seeded,
//! deterministic) loss hits it. Time jumps to the next timer or delivery. The log records every
//! action with its time, and who holds the VIP over time.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{Action, AdvertAuth, AdvertOutcome, RouterConfig, RxAdvert, State, VirtualRouter};

/// A logged action of router `node` at `at`.
#[derive(Clone, Debug)]
pub(super) struct Logged {
    pub at: Instant,
    pub node: usize,
    pub action: Action,
}

struct Delivery {
    at: Instant,
    seq: u64,
    to: usize,
    advert: RxAdvert,
}

impl PartialEq for Delivery {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Delivery {}
impl PartialOrd for Delivery {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delivery {
    // Reversed: BinaryHeap is a max-heap and we want the earliest delivery first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

struct Node {
    config: RouterConfig,
    /// `None` while crashed.
    router: Option<VirtualRouter>,
    holds_vip: bool,
}

/// splitmix64: tiny, seeded, good enough to decide which packets get lost.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(super) struct Lan {
    pub now: Instant,
    pub delay: Duration,
    /// Probability that one delivery is lost.
    pub loss: f64,
    nodes: Vec<Node>,
    queue: BinaryHeap<Delivery>,
    seq: u64,
    cut: HashSet<(usize, usize)>,
    rng: Rng,
    pub log: Vec<Logged>,
    /// (time, node, holds VIP afterwards), one entry per change.
    pub vip_changes: Vec<(Instant, usize, bool)>,
}

/// Where virtual time starts. `Instant` has no constructor but the clock, so tests read it once
/// here; the election itself never does (`clippy.toml` forbids it everywhere else).
#[expect(
    clippy::disallowed_methods,
    reason = "an arbitrary epoch for virtual time; Instant has no other constructor"
)]
pub fn epoch() -> Instant {
    Instant::now()
}

impl Lan {
    /// Routers built from `configs`, not yet started; 1 ms delivery delay, no loss.
    pub fn new(configs: Vec<RouterConfig>) -> Self {
        let nodes = configs
            .into_iter()
            .map(|config| Node {
                router: Some(VirtualRouter::new(config.clone()).expect("valid config")),
                config,
                holds_vip: false,
            })
            .collect();
        Lan {
            now: epoch(),
            delay: Duration::from_millis(1),
            loss: 0.0,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            cut: HashSet::new(),
            rng: Rng(0x5eed),
            log: Vec::new(),
            vip_changes: Vec::new(),
        }
    }

    pub fn seed(&mut self, seed: u64) {
        self.rng = Rng(seed);
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn router(&self, i: usize) -> &VirtualRouter {
        self.nodes[i].router.as_ref().expect("router is crashed")
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].router.is_some()
    }

    pub fn state(&self, i: usize) -> Option<State> {
        self.nodes[i].router.as_ref().map(VirtualRouter::state)
    }

    /// Run `f` on router `i` at the current time, then route what it emitted.
    pub fn input<T>(&mut self, i: usize, f: impl FnOnce(&mut VirtualRouter, Instant) -> T) -> T {
        let now = self.now;
        let out = f(
            self.nodes[i].router.as_mut().expect("router is crashed"),
            now,
        );
        self.drain(i);
        out
    }

    pub fn start(&mut self, i: usize) {
        self.input(i, |r, now| r.startup(now));
    }

    pub fn start_all(&mut self) {
        for i in 0..self.len() {
            self.start(i);
        }
    }

    /// The machine dies: no more adverts, and its VIP is gone with it.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].router = None;
        self.set_vip(i, false);
    }

    /// A crashed machine boots again with a fresh router and starts it.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.is_up(i), "restart of a running router");
        self.nodes[i].router =
            Some(VirtualRouter::new(self.nodes[i].config.clone()).expect("valid config"));
        self.start(i);
    }

    /// Drop everything between `a` and `b`, both ways, until [`recover`](Self::recover).
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    pub fn isolate(&mut self, a: usize) {
        for b in 0..self.len() {
            if b != a {
                self.cut(a, b);
            }
        }
    }

    pub fn recover(&mut self) {
        self.cut.clear();
    }

    /// Hand `advert` to router `i` now, bypassing the network.
    pub fn inject(&mut self, i: usize, advert: &RxAdvert) -> AdvertOutcome {
        self.input(i, |r, now| r.handle_advert(now, advert))
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Process every delivery and timer up to and including `end`, in time order; deliveries
    /// before timers at the same instant.
    ///
    /// Panics on an advert storm (routers answering each other's adverts without end): more
    /// than 10 000 deliveries, plus 2 000 per simulated second, is a bug, not a long simulation.
    pub fn run_until(&mut self, end: Instant) {
        let budget = 10_000 + 2_000 * end.saturating_duration_since(self.now).as_secs();
        let mut steps = 0u64;
        loop {
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.router.as_ref()?.poll_timeout())
                .min();
            let next_delivery = self.queue.peek().map(|d| d.at);
            let next = match (next_timer, next_delivery) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            assert!(next >= self.now, "a deadline in the past: {next:?}");
            self.now = next;
            while self.queue.peek().is_some_and(|d| d.at <= self.now) {
                steps += 1;
                assert!(steps < budget, "advert storm at {next:?}");
                let d = self.queue.pop().expect("peeked");
                if self.nodes[d.to].router.is_some() {
                    self.inject(d.to, &d.advert);
                }
            }
            for i in 0..self.len() {
                let due = self.nodes[i]
                    .router
                    .as_ref()
                    .and_then(VirtualRouter::poll_timeout)
                    .is_some_and(|t| t <= self.now);
                if due {
                    self.input(i, |r, now| r.handle_timeout(now));
                }
            }
        }
        self.now = end;
    }

    fn drain(&mut self, i: usize) {
        while let Some(action) = self.nodes[i].router.as_mut().and_then(|r| r.poll_action()) {
            match &action {
                Action::SendAdvert {
                    priority,
                    max_adver_int,
                    addresses,
                } => {
                    let cfg = &self.nodes[i].config;
                    let advert = RxAdvert {
                        src: cfg.primary_addr,
                        ttl: 255,
                        version: cfg.version,
                        vrid: cfg.vrid,
                        priority: *priority,
                        max_adver_int: *max_adver_int,
                        addresses: addresses.clone(),
                        auth: cfg.auth.map_or(AdvertAuth::None, AdvertAuth::Pass),
                    };
                    self.broadcast(i, advert);
                }
                Action::AddVips(_) => self.set_vip(i, true),
                Action::RemoveVips(_) => self.set_vip(i, false),
                _ => {}
            }
            self.log.push(Logged {
                at: self.now,
                node: i,
                action,
            });
        }
    }

    fn broadcast(&mut self, from: usize, advert: RxAdvert) {
        for to in 0..self.len() {
            if to == from || self.cut.contains(&(from, to)) {
                continue;
            }
            if self.loss > 0.0 && self.rng.next_f64() < self.loss {
                continue;
            }
            self.seq += 1;
            self.queue.push(Delivery {
                at: self.now + self.delay,
                seq: self.seq,
                to,
                advert: advert.clone(),
            });
        }
    }

    fn set_vip(&mut self, i: usize, holds: bool) {
        if self.nodes[i].holds_vip != holds {
            self.nodes[i].holds_vip = holds;
            self.vip_changes.push((self.now, i, holds));
        }
    }

    // ---- queries ----

    pub fn masters(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.state(i) == Some(State::Master))
            .collect()
    }

    /// The only master, if there is exactly one.
    pub fn sole_master(&self) -> Option<usize> {
        match self.masters()[..] {
            [m] => Some(m),
            _ => None,
        }
    }

    pub fn vip_holders(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.nodes[i].holds_vip)
            .collect()
    }

    /// Times at which node `i` emitted an action matching `f`.
    pub fn times(&self, i: usize, f: impl Fn(&Action) -> bool) -> Vec<Instant> {
        self.log
            .iter()
            .filter(|l| l.node == i && f(&l.action))
            .map(|l| l.at)
            .collect()
    }

    /// When node `i` last became master, if ever.
    pub fn became_master_at(&self, i: usize) -> Option<Instant> {
        self.times(i, |a| matches!(a, Action::BecomeMaster { .. }))
            .last()
            .copied()
    }

    /// When node `i` last sent an advert with a non-zero priority.
    pub fn last_advert_from(&self, i: usize) -> Option<Instant> {
        self.times(
            i,
            |a| matches!(a, Action::SendAdvert { priority, .. } if *priority > 0),
        )
        .last()
        .copied()
    }

    /// GARP entries sent by node `i`, with their times.
    pub fn garps(&self, i: usize) -> Vec<(Instant, Vec<IpAddr>)> {
        self.log
            .iter()
            .filter(|l| l.node == i)
            .filter_map(|l| match &l.action {
                Action::SendGarp { vips } => Some((l.at, vips.clone())),
                _ => None,
            })
            .collect()
    }

    /// Within `[from, to)`: how long nobody held the VIP, and how long two or more did.
    pub fn vip_gaps_and_overlaps(&self, from: Instant, to: Instant) -> (Duration, Duration) {
        let mut holders = vec![false; self.len()];
        let mut gap = Duration::ZERO;
        let mut overlap = Duration::ZERO;
        let mut t = from;
        let mut account = |holders: &[bool], a: Instant, b: Instant| {
            let (a, b) = (a.max(from), b.min(to));
            if b > a {
                match holders.iter().filter(|&&h| h).count() {
                    0 => gap += b - a,
                    1 => {}
                    _ => overlap += b - a,
                }
            }
        };
        for &(at, node, holds) in &self.vip_changes {
            account(&holders, t, at);
            t = t.max(at);
            holders[node] = holds;
        }
        account(&holders, t, to);
        (gap, overlap)
    }
}
