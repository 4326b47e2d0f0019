//! BFD sessions (keepalived's `bfd_instance`; RFC 5880 asynchronous mode, RFC 5881 single hop)
//! on a thread of their own, `havip-bfd`: the sessions of `havip_proto::bfd` driven by real
//! sockets and a `timerfd`, their state changes sent to the driver loop.
//!
//! Why a thread and not the driver loop or XDP (ARCHITECTURE.md, "BFD"): at 1 ms intervals a
//! packet must leave within a few hundred microseconds of its deadline, whatever the election
//! is doing (a reload, a burst of netlink work, GARPs); and a BPF timer cannot send a packet,
//! so transmission is userspace's whichever side detects. On this thread a `kill -9` of havip
//! silences its side at once, as it must: the neighbour goes down within its detection time.
//!
//! Sockets: one receiving socket per address family on port 3784 (`IP_RECVTTL` /
//! `IPV6_RECVHOPLIMIT` for RFC 5881's TTL check, `SO_TIMESTAMPNS` to measure the delay to
//! the session), one sending socket per session, bound to its source (or the routed one) and a
//! port in 49152-65535, connected to the neighbour's 3784, TTL as configured, TOS 0xc0.

use std::{
    collections::BTreeMap,
    io::IoSliceMut,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc as std_mpsc, Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
pub use havip_proto::bfd::Diag;
pub use havip_proto::bfd::State as BfdState;
use havip_proto::bfd::{ControlPacket, Session, SessionConfig, CONTROL_PORT};
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::{
    control::{BfdSessionSnapshot, BfdSnapshot, LatencySummary},
    model::BfdSpec,
};

/// A session's state change, for the driver loop (`track_bfd`, fast takeover).
#[derive(Clone, Debug)]
pub struct BfdEvent {
    pub name: String,
    pub neighbor: IpAddr,
    pub from: BfdState,
    pub to: BfdState,
    pub diag: Diag,
    /// The detection time in force before the change (what the neighbour's silence took).
    pub detection_time: Option<Duration>,
    pub at: Instant,
}

/// The election's own heartbeat, as the BFD thread sees it: with BFD sessions XDP's heartbeat
/// age is a few milliseconds (`daemon::node::bfd_heartbeat_age`), so the BFD thread, real-time
/// and awake every interval, beats too; but only while the election's last beat is no older
/// than `allow_ns` (two advert intervals), so that a stalled election still silences XDP as it
/// would without BFD.
#[derive(Debug, Default)]
pub struct BeatGate {
    /// `CLOCK_MONOTONIC` ns of the election's last beat.
    pub last_ns: AtomicU64,
    /// How old it may be for the BFD thread to beat.
    pub allow_ns: AtomicU64,
}

/// The BFD thread's beat: the map, the gate, when it last beat.
pub struct Beat {
    pub writer: crate::dataplane::HeartbeatWriter,
    pub gate: Arc<BeatGate>,
}

/// What the driver asks of the thread.
enum Command {
    /// New sessions: unchanged ones keep running, changed and removed ones go AdminDown.
    Replace(Vec<BfdSpec>),
    /// Every session AdminDown (sent), then the thread ends.
    Stop,
    /// A hitless restart: every Up session polls for a Desired Min TX of [`HANDOVER_TX`], so
    /// that the neighbours wait that long (times their multiplier) before they call this side
    /// gone; once they answered (or after [`HANDOVER_WAIT`]) the thread ends without a word.
    /// The next process starts its sessions afresh: a neighbour then sees a Down from a live
    /// side, not a silence, and its fast takeover does not fire.
    Handover,
}

/// The Desired Min TX a handing-over process announces: the next process has that long, times
/// the neighbour's multiplier, to start its sessions.
const HANDOVER_TX: Duration = Duration::from_secs(5);
/// How long a handing-over process waits for the neighbours' finals.
const HANDOVER_WAIT: Duration = Duration::from_millis(250);

/// The running thread.
pub struct Bfd {
    commands: std_mpsc::Sender<Command>,
    wake: OwnedFd,
    shared: Arc<Mutex<BfdSnapshot>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the thread publishes its snapshot when nothing changes.
const PUBLISH_EVERY: Duration = Duration::from_millis(200);
/// Datagrams read per socket per turn of the thread's loop.
const RX_BATCH: usize = 32;
/// Latency samples kept for the snapshot.
const SAMPLES: usize = 4096;

impl Bfd {
    /// Opens the sockets (an error names what failed: a port in use, an address not on the
    /// host) and starts the thread, real-time at `rt_priority` if given; it then drops every
    /// capability of its own (it needs none). Waits until the thread is running.
    pub fn spawn(
        specs: &[BfdSpec],
        rt_priority: Option<u8>,
        events: mpsc::UnboundedSender<BfdEvent>,
        beat: Option<Beat>,
    ) -> Result<Bfd> {
        let now = Instant::now();
        let rx4 = specs
            .iter()
            .any(|s| s.neighbor.is_ipv4())
            .then(|| rx_socket(false))
            .transpose()?;
        let rx6 = specs
            .iter()
            .any(|s| s.neighbor.is_ipv6())
            .then(|| rx_socket(true))
            .transpose()?;
        let mut used = Vec::new();
        let mut sessions = Vec::new();
        for spec in specs {
            sessions.push(Running::open(spec, now, &mut used)?);
        }
        let wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::NONBLOCK | rustix::event::EventfdFlags::CLOEXEC,
        )
        .context("eventfd for the BFD thread")?;
        let timer = rustix::time::timerfd_create(
            rustix::time::TimerfdClockId::Monotonic,
            rustix::time::TimerfdFlags::NONBLOCK | rustix::time::TimerfdFlags::CLOEXEC,
        )
        .context("timerfd for the BFD thread")?;
        let shared = Arc::new(Mutex::new(BfdSnapshot::default()));
        let (commands, command_rx) = std_mpsc::channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let mut thread = Thread {
            rx4,
            rx6,
            timer,
            wake: wake.try_clone().context("eventfd")?,
            commands: command_rx,
            sessions,
            used,
            events,
            shared: shared.clone(),
            dropped: BTreeMap::new(),
            rt_priority,
            late: Samples::default(),
            rx_delay: Samples::default(),
            published: now,
            beat,
            beat_every: None,
            last_beat: now,
            seed: u64::from_ne_bytes(seed_bytes()?),
        };
        let handle = std::thread::Builder::new()
            .name("havip-bfd".into())
            .spawn(move || {
                if let Err(e) = thread.prepare() {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                let _ = ready_tx.send(Ok(()));
                // A BFD thread that died would leave the neighbours to call this node dead while
                // its election runs on, VIPs held: the whole daemon ends instead, as a kill -9
                // (XDP goes silent within its heartbeat age, the neighbours take over).
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| thread.run())).is_err()
                {
                    tracing::error!("the BFD thread panicked: havip aborts");
                    std::process::abort();
                }
            })
            .context("starting the BFD thread")?;
        ready_rx
            .recv()
            .context("the BFD thread ended before it ran")??;
        for s in specs {
            info!(bfd = %s.name, neighbor = %s.neighbor, min_tx = ?s.min_tx, min_rx = ?s.min_rx, multiplier = s.multiplier, "BFD session started");
        }
        Ok(Bfd {
            commands,
            wake,
            shared,
            thread: Some(handle),
        })
    }

    fn send(&self, c: Command) {
        if self.commands.send(c).is_ok() {
            let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
        }
    }

    /// A reload's sessions (see [`Command::Replace`]).
    pub fn replace(&self, specs: Vec<BfdSpec>) {
        self.send(Command::Replace(specs));
    }

    /// What the thread last published.
    pub fn snapshot(&self) -> BfdSnapshot {
        self.shared.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// A hitless restart's end of the sessions (see [`Command::Handover`]): returns once the
    /// thread has ended.
    pub fn hand_over(mut self) {
        self.send(Command::Handover);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Every session AdminDown (the neighbours go down at once, diag 3), and the thread ends.
    pub fn stop(mut self) {
        self.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Bfd {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.send(Command::Stop);
        }
    }
}

/// The receiving socket of a family: port 3784 on every address, the TTL (hop limit) and the
/// kernel's receive time with each datagram.
fn rx_socket(v6: bool) -> Result<UdpSocket> {
    let (domain, addr) = if v6 {
        (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, CONTROL_PORT)),
        )
    } else {
        (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, CONTROL_PORT)),
        )
    };
    let s = udp_socket(domain)?;
    if v6 {
        s.set_only_v6(true)?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).context("IPV6_RECVHOPLIMIT")?;
    } else {
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true).context("IP_RECVTTL")?;
    }
    setsockopt(&s, sockopt::ReceiveTimestampns, &true).context("SO_TIMESTAMPNS")?;
    s.bind(&addr.into()).with_context(|| {
        format!("binding BFD's UDP port {CONTROL_PORT} ({}): another BFD speaker (keepalived's bfd, FRR's bfdd) may hold it", if v6 { "IPv6" } else { "IPv4" })
    })?;
    Ok(s.into())
}

/// One session with its socket.
struct Running {
    spec: BfdSpec,
    session: Session,
    socket: UdpSocket,
    local: SocketAddr,
    tx_errors: u64,
}

impl Running {
    /// The session's sending socket: its source (or the one the kernel routes from) and a port
    /// of RFC 5881's range no other session here uses, connected to the neighbour.
    fn open(spec: &BfdSpec, now: Instant, used: &mut Vec<u32>) -> Result<Running> {
        let socket = tx_socket(spec).with_context(|| format!("bfd_instance {}", spec.name))?;
        let local = socket.local_addr()?;
        let disc = loop {
            let mut b = [0u8; 4];
            rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty())
                .context("getrandom")?;
            let d = u32::from_ne_bytes(b);
            if d != 0 && !used.contains(&d) {
                break d;
            }
        };
        used.push(disc);
        let mut seed = [0u8; 8];
        rustix::rand::getrandom(&mut seed, rustix::rand::GetRandomFlags::empty())
            .context("getrandom")?;
        let cfg = SessionConfig {
            min_tx: spec.min_tx,
            min_rx: spec.min_rx,
            idle_tx: spec.idle_tx,
            detect_mult: spec.multiplier,
            passive: spec.passive,
        };
        Ok(Running {
            spec: spec.clone(),
            session: Session::new(cfg, disc, u64::from_ne_bytes(seed), now),
            socket,
            local,
            tx_errors: 0,
        })
    }

    fn snapshot(&self, now: Instant) -> BfdSessionSnapshot {
        let s = &self.session;
        let n = s.negotiated();
        let c = s.counters();
        let us = |d: Duration| d.as_micros() as u64;
        BfdSessionSnapshot {
            name: self.spec.name.clone(),
            neighbor: self.spec.neighbor.to_string(),
            local: self.local.to_string(),
            state: s.state().name().into(),
            remote_state: s.remote_state().name().into(),
            local_discriminator: s.local_disc(),
            remote_discriminator: s.remote_disc(),
            diag: s.diag().to_string(),
            last_down: s.last_down().map(|(_, d)| d.to_string()),
            last_down_ago_ms: s
                .last_down()
                .map(|(t, _)| now.saturating_duration_since(t).as_millis() as u64),
            tx_interval_us: n.tx_interval.map(us),
            detection_time_us: n.detection_time.map(us),
            remote_detect_mult: n.remote_detect_mult,
            remote_min_tx_us: us(n.remote_desired_min_tx),
            remote_min_rx_us: us(n.remote_required_min_rx),
            rx: c.rx,
            tx: c.tx,
            tx_errors: self.tx_errors,
            downs: c.downs,
            detect_expired: c.detect_expired,
            polls_sent: c.polls_sent,
            finals_sent: c.finals_sent,
        }
    }
}

/// A non-blocking UDP socket of `domain`.
fn udp_socket(domain: Domain) -> Result<Socket> {
    Socket::new(
        domain,
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )
    .context("BFD socket")
}

fn seed_bytes() -> Result<[u8; 8]> {
    let mut b = [0u8; 8];
    rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty()).context("getrandom")?;
    b[0] |= 1;
    Ok(b)
}

fn tx_socket(spec: &BfdSpec) -> Result<UdpSocket> {
    let v6 = spec.neighbor.is_ipv6();
    if spec.source.is_some_and(|s| s.is_ipv6() != v6) {
        bail!("source_ip and neighbor_ip are of different families");
    }
    let s = udp_socket(if v6 { Domain::IPV6 } else { Domain::IPV4 })?;
    if v6 {
        s.set_unicast_hops_v6(u32::from(spec.ttl))?;
        s.set_tclass_v6(0xc0)?;
    } else {
        s.set_ttl_v4(u32::from(spec.ttl))?;
        s.set_tos_v4(0xc0)?;
    }
    let ip = spec.source.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    // RFC 5881 section 4: a source port in 49152-65535, the same for the session's life.
    let mut start = [0u8; 2];
    let _ = rustix::rand::getrandom(&mut start, rustix::rand::GetRandomFlags::empty());
    let span =
        u32::from(*havip_proto::bfd::SOURCE_PORTS.end() - *havip_proto::bfd::SOURCE_PORTS.start())
            + 1;
    let first = u32::from(u16::from_ne_bytes(start)) % span;
    let mut last_err = None;
    for i in 0..span {
        let port = *havip_proto::bfd::SOURCE_PORTS.start() as u32 + (first + i) % span;
        match s.bind(&SocketAddr::new(ip, port as u16).into()) {
            Ok(()) => {
                last_err = None;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("binding to {ip} (source_ip must be an address of this host)")
                })
            }
        }
    }
    if let Some(e) = last_err {
        return Err(e).context("no free source port in 49152-65535");
    }
    s.connect(&SocketAddr::new(spec.neighbor, CONTROL_PORT).into())
        .with_context(|| format!("no route to the neighbour {}", spec.neighbor))?;
    Ok(s.into())
}

/// Whether two specs are the same session on the wire (all but the name and the weight, which
/// only the daemon's tracking reads, and min_tx, which a poll changes).
pub(crate) fn same_session(a: &BfdSpec, b: &BfdSpec) -> bool {
    BfdSpec {
        name: String::new(),
        weight: 0,
        min_tx: Duration::ZERO,
        ..a.clone()
    } == BfdSpec {
        name: String::new(),
        weight: 0,
        min_tx: Duration::ZERO,
        ..b.clone()
    }
}

/// Latency samples, in nanoseconds, the last [`SAMPLES`].
#[derive(Default)]
struct Samples {
    ns: Vec<u64>,
    next: usize,
}

impl Samples {
    fn push(&mut self, ns: u64) {
        if self.ns.len() < SAMPLES {
            self.ns.push(ns);
        } else {
            self.ns[self.next] = ns;
            self.next = (self.next + 1) % SAMPLES;
        }
    }

    fn summary(&self) -> Option<LatencySummary> {
        LatencySummary::from_ns(&self.ns)
    }
}

struct Thread {
    rx4: Option<UdpSocket>,
    rx6: Option<UdpSocket>,
    timer: OwnedFd,
    wake: OwnedFd,
    commands: std_mpsc::Receiver<Command>,
    sessions: Vec<Running>,
    used: Vec<u32>,
    events: mpsc::UnboundedSender<BfdEvent>,
    shared: Arc<Mutex<BfdSnapshot>>,
    dropped: BTreeMap<String, u64>,
    rt_priority: Option<u8>,
    late: Samples,
    rx_delay: Samples,
    published: Instant,
    beat: Option<Beat>,
    /// How often to beat: half the heartbeat age the sessions ask for.
    beat_every: Option<Duration>,
    /// When the thread last tried to beat (the gate may have kept it from it).
    last_beat: Instant,
    /// The jitter's random state for this turn of the loop, the same for every session.
    seed: u64,
}

impl Thread {
    /// On the thread, before it runs: real-time scheduling if asked for (the thread does not
    /// inherit it: the daemon is SCHED_RESET_ON_FORK), the finest timer slack, then every
    /// capability of this thread dropped, with no_new_privs.
    fn prepare(&mut self) -> Result<()> {
        if let Some(prio) = self.rt_priority {
            let param = libc::sched_param {
                sched_priority: i32::from(prio),
            };
            // SAFETY: a valid sched_param, for this thread (0).
            let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
            if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
                return Err(std::io::Error::last_os_error()).with_context(|| {
                    format!("setting the BFD thread's SCHED_FIFO priority {prio}")
                });
            }
        }
        // SAFETY: PR_SET_TIMERSLACK takes an unsigned long; 1 ns, the finest.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        crate::privs::drop_after_setup(rustix::thread::CapabilitySet::empty())
            .context("dropping the BFD thread's capabilities")?;
        Ok(())
    }

    fn run(&mut self) {
        self.publish(Instant::now(), true);
        self.set_beat_every();
        let mut handing_over: Option<Instant> = None;
        loop {
            let now = Instant::now();
            // xorshift64: one jitter state per turn, shared (see `Session::reseed`).
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            if let Some(until) = handing_over {
                if now >= until || !self.sessions.iter().any(|r| r.session.is_polling()) {
                    info!("BFD: the sessions are left to the next process");
                    return;
                }
            }
            for i in 0..self.sessions.len() {
                self.sessions[i].session.reseed(self.seed);
                self.sessions[i].session.handle_timeout(now);
                self.flush(i, now);
            }
            self.publish(now, false);
            self.beat(now);
            let deadline = self
                .sessions
                .iter()
                .filter_map(|r| r.session.poll_timeout())
                .chain(
                    self.beat_every
                        .filter(|_| self.beat.is_some())
                        .map(|e| self.last_beat + e),
                )
                .chain(handing_over)
                .min()
                .map(|d| d.max(now + Duration::from_micros(1)));
            let _ = crate::dataplane::arm_timerfd(self.timer.as_fd(), deadline);
            let (woke, readable4, readable6) = {
                use rustix::event::{poll, PollFd, PollFlags};
                let mut fds = vec![
                    PollFd::new(&self.wake, PollFlags::IN),
                    PollFd::new(&self.timer, PollFlags::IN),
                ];
                if let Some(s) = &self.rx4 {
                    fds.push(PollFd::new(s, PollFlags::IN));
                }
                if let Some(s) = &self.rx6 {
                    fds.push(PollFd::new(s, PollFlags::IN));
                }
                if poll(&mut fds, None).is_err() {
                    continue;
                }
                let ready = |i: usize| fds.get(i).is_some_and(|f| !f.revents().is_empty());
                let n4 = self.rx4.is_some().then_some(2);
                let n6 = self
                    .rx6
                    .is_some()
                    .then_some(2 + usize::from(self.rx4.is_some()));
                (ready(0), n4.is_some_and(ready), n6.is_some_and(ready))
            };
            if let Some(d) = deadline {
                let now = Instant::now();
                let mut b = [0u8; 8];
                if rustix::io::read(&self.timer, &mut b) == Ok(8) {
                    self.late
                        .push(now.saturating_duration_since(d).as_nanos() as u64);
                }
            }
            if readable4 {
                self.receive(false);
            }
            if readable6 {
                self.receive(true);
            }
            if woke {
                let mut b = [0u8; 8];
                let _ = rustix::io::read(&self.wake, &mut b);
                while let Ok(c) = self.commands.try_recv() {
                    match c {
                        Command::Stop => {
                            self.admin_down_all();
                            return;
                        }
                        Command::Replace(specs) => self.replace(specs),
                        Command::Handover => {
                            let now = Instant::now();
                            for i in 0..self.sessions.len() {
                                if self.sessions[i].session.state() == BfdState::Up {
                                    self.sessions[i].session.set_min_tx(now, HANDOVER_TX);
                                    self.flush(i, now);
                                }
                            }
                            handing_over = Some(now + HANDOVER_WAIT);
                        }
                    }
                }
            }
        }
    }

    /// XDP's heartbeat, while the election's own is fresh enough (see [`BeatGate`]).
    fn beat(&mut self, now: Instant) {
        let Some(b) = &mut self.beat else { return };
        // The next try is `beat_every` from this one, whether it beat or not (a closed gate
        // must not make a past deadline of it: the thread would spin).
        self.last_beat = now;
        let mono = crate::dataplane::monotonic_ns();
        let last = b.gate.last_ns.load(Ordering::Relaxed);
        if mono.saturating_sub(last) <= b.gate.allow_ns.load(Ordering::Relaxed) {
            let _ = b.writer.beat();
        }
    }

    /// Half the heartbeat age the sessions ask for (`daemon::node::bfd_heartbeat_age`).
    fn set_beat_every(&mut self) {
        self.beat_every = self
            .sessions
            .iter()
            .map(|r| r.spec.min_tx * u32::from(r.spec.multiplier.saturating_sub(1).max(1)) / 2)
            .min();
    }

    /// Sends what session `i` has due and forwards its state changes.
    fn flush(&mut self, i: usize, now: Instant) {
        let r = &mut self.sessions[i];
        while let Some(p) = r.session.poll_transmit(now) {
            if r.socket.send(&p.emit()).is_err() {
                r.tx_errors += 1;
            }
        }
        let mut changed = false;
        let mut came_up = false;
        while let Some(e) = r.session.poll_event() {
            changed = true;
            came_up |= e.to == BfdState::Up;
            // The election first (a takeover may hang on it), the log after.
            let _ = self.events.send(BfdEvent {
                name: r.spec.name.clone(),
                neighbor: r.spec.neighbor,
                from: e.from,
                to: e.to,
                diag: e.diag,
                detection_time: e.detection_time,
                at: e.at,
            });
            info!(bfd = %r.spec.name, neighbor = %r.spec.neighbor, from = %e.from, to = %e.to, diag = %e.diag, "BFD session changed state");
        }
        if came_up {
            self.align(i, now);
        }
        if changed {
            self.publish(now, true);
        }
    }

    /// Session `i` came up: its periodic packets leave with those of another Up session of
    /// the same interval, if there is one, and stay with them (one jitter state per turn). A
    /// master's neighbours then hear its last packets together, and their detection times run
    /// out within microseconds of each other, so that the fast takeover's skew, not the
    /// jitter, orders the backups.
    fn align(&mut self, i: usize, now: Instant) {
        let iv = self.sessions[i].session.negotiated().tx_interval;
        let with = self.sessions.iter().enumerate().find_map(|(j, r)| {
            (j != i
                && r.session.state() == BfdState::Up
                && r.session.negotiated().tx_interval == iv)
                .then(|| r.session.next_periodic())
                .flatten()
                .filter(|&t| t > now)
        });
        if let Some(at) = with {
            self.sessions[i].session.align_periodic(at);
        }
    }

    fn count(&mut self, why: &str) {
        *self.dropped.entry(why.to_string()).or_default() += 1;
    }

    /// Every datagram waiting on a receiving socket.
    fn receive(&mut self, v6: bool) {
        let mut buf = [0u8; 128];
        // A bounded batch: a flood on port 3784 must not keep the thread from its sends
        // (the rest is read on the next turn, after the deadlines).
        for _ in 0..RX_BATCH {
            let sock = if v6 { &self.rx6 } else { &self.rx4 };
            let Some(sock) = sock else { return };
            let mut cmsg = nix::cmsg_space!(libc::c_int, nix::sys::time::TimeSpec);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let (len, src, ttl, stamp) = match recvmsg::<SockaddrStorage>(
                sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => {
                    let src = msg.address.and_then(|a| {
                        a.as_sockaddr_in()
                            .map(|s| IpAddr::V4(s.ip()))
                            .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
                    });
                    let mut ttl = None;
                    let mut stamp = None;
                    if let Ok(cmsgs) = msg.cmsgs() {
                        for c in cmsgs {
                            match c {
                                ControlMessageOwned::Ipv4Ttl(t) => ttl = Some(t as u8),
                                ControlMessageOwned::Ipv6HopLimit(t) => ttl = Some(t as u8),
                                ControlMessageOwned::ScmTimestampns(ts) => stamp = Some(ts),
                                _ => {}
                            }
                        }
                    }
                    (msg.bytes, src, ttl, stamp)
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    self.count("recv_error");
                    return;
                }
            };
            let now = Instant::now();
            if let Some(ts) = stamp {
                // SO_TIMESTAMPNS is CLOCK_REALTIME: compare with the realtime clock now.
                let recv = Duration::new(ts.tv_sec() as u64, ts.tv_nsec() as u32);
                if let Ok(wall) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)
                {
                    self.rx_delay
                        .push(wall.saturating_sub(recv).as_nanos() as u64);
                }
            }
            let (Some(src), Some(ttl)) = (src, ttl) else {
                self.count("no_metadata");
                continue;
            };
            self.handle(&buf[..len], src, ttl, now);
        }
    }

    /// One datagram: parsed, matched to a session (Your Discriminator, or the neighbour's
    /// address while it is 0), its TTL checked against the session's `max_hops`.
    fn handle(&mut self, bytes: &[u8], src: IpAddr, ttl: u8, now: Instant) {
        let p = match ControlPacket::parse(bytes) {
            Ok(p) => p,
            Err(m) => {
                self.count(m.name());
                return;
            }
        };
        let found = if p.your_disc != 0 {
            self.sessions
                .iter()
                .position(|r| r.session.local_disc() == p.your_disc)
        } else {
            self.sessions.iter().position(|r| r.spec.neighbor == src)
        };
        let Some(i) = found else {
            self.count("no_session");
            return;
        };
        let r = &self.sessions[i];
        if r.spec.neighbor != src {
            self.count("wrong_source");
            return;
        }
        // RFC 5881 section 5: single hop means TTL 255. keepalived checks against its own
        // `ttl` (IPv6 `hoplimit`, 64 by default), less `max_hops` (255: not checked).
        if r.spec.max_hops != 255
            && u16::from(ttl) + u16::from(r.spec.max_hops) < u16::from(r.spec.ttl)
        {
            self.count("ttl");
            return;
        }
        self.sessions[i].session.reseed(self.seed);
        match self.sessions[i].session.handle_packet(now, &p) {
            Ok(()) => {}
            Err(havip_proto::bfd::Ignored::WrongDiscriminator) => self.count("no_session"),
            Err(havip_proto::bfd::Ignored::AdminDown) => self.count("admin_down"),
        }
        self.flush(i, now);
    }

    fn admin_down_all(&mut self) {
        let now = Instant::now();
        for i in 0..self.sessions.len() {
            self.sessions[i].session.admin_down(now);
            self.flush(i, now);
        }
        self.publish(now, true);
    }

    /// A reload: sessions whose spec is unchanged go on; the others go AdminDown and are
    /// replaced (or removed).
    fn replace(&mut self, specs: Vec<BfdSpec>) {
        let now = Instant::now();
        let mut keep = Vec::new();
        for mut r in std::mem::take(&mut self.sessions) {
            // The same session (neighbour, source, timers): kept, its name and weight updated;
            // a new min_tx alone goes by a poll.
            if let Some(spec) = specs.iter().find(|n| same_session(n, &r.spec)) {
                if spec.min_tx != r.spec.min_tx {
                    r.session.set_min_tx(now, spec.min_tx);
                }
                if spec.name != r.spec.name {
                    // Under its new name the daemon's tracking learns its state.
                    let state = r.session.state();
                    let _ = self.events.send(BfdEvent {
                        name: spec.name.clone(),
                        neighbor: spec.neighbor,
                        from: state,
                        to: state,
                        diag: r.session.diag(),
                        detection_time: r.session.negotiated().detection_time,
                        at: now,
                    });
                }
                r.spec = spec.clone();
                keep.push(r);
            } else {
                // Removed, or its other settings changed: AdminDown (a neighbour does not take
                // that for a death, RFC 5882 3.2); a changed one starts again from Down.
                r.session.admin_down(now);
                while let Some(p) = r.session.poll_transmit(now) {
                    let _ = r.socket.send(&p.emit());
                }
                self.used.retain(|&d| d != r.session.local_disc());
                info!(bfd = %r.spec.name, "BFD session stopped (reload)");
            }
        }
        // A family the thread did not receive yet gets its socket now (no privilege needed).
        for v6 in [false, true] {
            let slot = if v6 { &mut self.rx6 } else { &mut self.rx4 };
            if slot.is_none() && specs.iter().any(|s| s.neighbor.is_ipv6() == v6) {
                match rx_socket(v6) {
                    Ok(sock) => *slot = Some(sock),
                    Err(e) => warn!("reload: BFD cannot receive: {e:#}"),
                }
            }
        }
        for spec in &specs {
            if keep.iter().any(|r| &r.spec == spec) {
                continue;
            }
            // Unchanged neighbour but new settings: it restarts (the flush above is the old
            // one's AdminDown).
            match Running::open(spec, now, &mut self.used) {
                Ok(r) => {
                    info!(bfd = %spec.name, neighbor = %spec.neighbor, "BFD session started (reload)");
                    keep.push(r);
                }
                Err(e) => warn!(bfd = %spec.name, "BFD session not started: {e:#}"),
            }
        }
        self.sessions = keep;
        self.set_beat_every();
        self.publish(now, true);
    }

    fn publish(&mut self, now: Instant, force: bool) {
        if !force && now.saturating_duration_since(self.published) < PUBLISH_EVERY {
            return;
        }
        self.published = now;
        let snap = BfdSnapshot {
            sessions: self.sessions.iter().map(|r| r.snapshot(now)).collect(),
            dropped: self.dropped.clone(),
            rt_priority: self.rt_priority,
            wakeup_late: self.late.summary(),
            rx_delay: self.rx_delay.summary(),
        };
        // Never wait on the reader (the election's thread) from this one.
        if let Ok(mut s) = self.shared.try_lock() {
            *s = snap;
        }
    }
}
