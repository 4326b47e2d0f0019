//! UDP flows to an anycast VIP: a responder on each node that answers with the node's name, a
//! client's map of which node answers each of many flows (distinct source ports, which an L4
//! ECMP hash spreads over the router's next hops), and a one-flow probe that times the outage a
//! client sees through a withdrawal or a failover, and which node answered before and after.

use std::{
    collections::{BTreeMap, BTreeSet},
    mem::size_of,
    net::UdpSocket,
    ops::Range,
    os::fd::AsRawFd as _,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    lab::in_netns_spawn,
    probe::{enter_realtime, wait_readable, PingResult},
};

/// How long [`flow_map`] waits for an answer before it asks again.
const RETRY: Duration = Duration::from_millis(100);

/// A UDP responder on a node: answers every datagram to its port, on any of the namespace's
/// addresses (bound to 0.0.0.0), with `<name> <the datagram>`, sent from the address the
/// datagram was sent to (`IP_PKTINFO`), so a client of the VIP hears the VIP answer (a socket
/// connected to the VIP takes nothing else).
pub struct UdpResponder {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl UdpResponder {
    /// Starts answering on UDP port `port` in namespace `ns`, as node `name`; returns once the
    /// socket is bound. Runs `SCHED_FIFO` when [`crate::probe::probes_realtime`] was called.
    pub fn start(ns: &str, name: &str, port: u16) -> UdpResponder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = name.to_string();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = in_netns_spawn(ns, move || {
            enter_realtime();
            let sock = UdpSocket::bind(("0.0.0.0", port))
                .unwrap_or_else(|e| panic!("binding the UDP responder to port {port}: {e}"));
            set_int_option(&sock, libc::IPPROTO_IP, libc::IP_PKTINFO, 1);
            ready_tx.send(()).unwrap();
            let mut answered = 0;
            let mut buf = [0u8; 1500];
            let mut reply = Vec::with_capacity(1600);
            while !flag.load(Ordering::Relaxed) {
                if !wait_readable(&sock, Duration::from_millis(20)) {
                    continue;
                }
                while let Some((n, from, to)) = recv_with_destination(&sock, &mut buf) {
                    reply.clear();
                    reply.extend_from_slice(name.as_bytes());
                    reply.push(b' ');
                    reply.extend_from_slice(&buf[..n]);
                    send_from(&sock, &reply, &from, to);
                    answered += 1;
                }
            }
            answered
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the UDP responder did not start");
        UdpResponder {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops answering (the socket closes); returns how many datagrams it answered.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("UDP responder panicked")
    }
}

impl Drop for UdpResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn set_int_option(sock: &UdpSocket, level: i32, name: i32, value: libc::c_int) {
    // SAFETY: setsockopt with a valid int on a socket the caller owns.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// One datagram waiting on `sock` (with `IP_PKTINFO` on): its length, sender, and the address
/// it was sent to. `None` when none is waiting.
fn recv_with_destination(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> Option<(usize, libc::sockaddr_in, libc::in_addr)> {
    // SAFETY: recvmsg into buffers that outlive the call, sized as the header says; the
    // control messages are walked with the CMSG macros over what recvmsg filled in.
    unsafe {
        let mut from: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u64; 16];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut from as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 16]>();
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        let n = usize::try_from(n).ok()?;
        let mut to = libc::in_addr { s_addr: 0 };
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_PKTINFO {
                let info = libc::CMSG_DATA(cmsg)
                    .cast::<libc::in_pktinfo>()
                    .read_unaligned();
                to = info.ipi_addr;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        Some((n, from, to))
    }
}

/// Sends `data` to `to` from source address `src` (an address of the namespace's).
fn send_from(sock: &UdpSocket, data: &[u8], to: &libc::sockaddr_in, src: libc::in_addr) {
    // SAFETY: sendmsg from buffers that outlive the call; the one control message is built with
    // the CMSG macros inside a buffer of CMSG_SPACE(in_pktinfo) bytes (aligned by its u64s).
    unsafe {
        let mut iov = libc::iovec {
            iov_base: data.as_ptr().cast_mut().cast(),
            iov_len: data.len(),
        };
        let mut control = [0u64; 8];
        let space = libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
        assert!(space <= size_of::<[u64; 8]>());
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (to as *const libc::sockaddr_in).cast_mut().cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: src,
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        libc::CMSG_DATA(cmsg)
            .cast::<libc::in_pktinfo>()
            .write_unaligned(info);
        // A reply lost is asked again by the client.
        libc::sendmsg(sock.as_raw_fd(), &msg, 0);
    }
}

/// Which node answered each of a client's flows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowMap {
    /// Source port → the node that answered that flow (the first answer).
    pub node: BTreeMap<u16, String>,
    /// The source ports no node answered in time.
    pub unanswered: BTreeSet<u16>,
}

impl FlowMap {
    /// How many flows each node answered.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let mut c = BTreeMap::new();
        for n in self.node.values() {
            *c.entry(n.clone()).or_default() += 1;
        }
        c
    }

    /// The source ports of the flows `node` answered.
    pub fn flows_of(&self, node: &str) -> BTreeSet<u16> {
        self.node
            .iter()
            .filter(|(_, n)| *n == node)
            .map(|(p, _)| *p)
            .collect()
    }

    /// The flows answered here and in `later` by different nodes: source port → (node here,
    /// node in `later`).
    pub fn moved(&self, later: &FlowMap) -> BTreeMap<u16, (String, String)> {
        self.node
            .iter()
            .filter_map(|(p, n)| {
                let m = later.node.get(p)?;
                (m != n).then(|| (*p, (n.clone(), m.clone())))
            })
            .collect()
    }
}

/// From namespace `ns`, one UDP flow to `vip:port` from each source port in `sports` (a
/// connected socket each: only the VIP's answers count), asked again every 100 ms until
/// answered or `timeout` passes: which node ([`UdpResponder`]) answered each.
pub fn flow_map(ns: &str, vip: &str, port: u16, sports: Range<u16>, timeout: Duration) -> FlowMap {
    let vip = vip.to_string();
    in_netns_spawn(ns, move || map_flows(&vip, port, sports, timeout))
        .join()
        .expect("the flow mapper panicked")
}

fn map_flows(vip: &str, port: u16, sports: Range<u16>, timeout: Duration) -> FlowMap {
    let socks: Vec<(u16, UdpSocket)> = sports
        .map(|sport| {
            let s = UdpSocket::bind(("0.0.0.0", sport))
                .unwrap_or_else(|e| panic!("binding UDP source port {sport}: {e}"));
            s.connect((vip, port))
                .unwrap_or_else(|e| panic!("connecting to {vip}:{port}: {e}"));
            s.set_nonblocking(true).unwrap();
            (sport, s)
        })
        .collect();
    let mut node: BTreeMap<u16, String> = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    let mut next_send = Instant::now();
    let mut attempt = 0u32;
    let mut buf = [0u8; 1500];
    while node.len() < socks.len() && Instant::now() < deadline {
        let waiting: Vec<&(u16, UdpSocket)> = socks
            .iter()
            .filter(|(p, _)| !node.contains_key(p))
            .collect();
        if Instant::now() >= next_send {
            for (sport, s) in &waiting {
                // Refused (no route yet, nothing listening) is asked again.
                let _ = s.send(format!("flow {sport} {attempt}").as_bytes());
            }
            attempt += 1;
            next_send = Instant::now() + RETRY;
        }
        let mut fds: Vec<libc::pollfd> = waiting
            .iter()
            .map(|(_, s)| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let wait = next_send
            .min(deadline)
            .saturating_duration_since(Instant::now());
        // SAFETY: poll(2) over pollfds this function owns, for their number.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait.as_millis() as i32,
            )
        };
        for (fd, (sport, s)) in fds.iter().zip(&waiting) {
            if fd.revents == 0 {
                continue;
            }
            while let Ok(n) = s.recv(&mut buf) {
                let reply = String::from_utf8_lossy(&buf[..n]);
                let mut w = reply.split_whitespace();
                let (Some(name), Some("flow"), Some(p)) = (w.next(), w.next(), w.next()) else {
                    continue;
                };
                if p == sport.to_string() {
                    node.entry(*sport).or_insert_with(|| name.to_string());
                }
            }
        }
    }
    let unanswered = socks
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| !node.contains_key(p))
        .collect();
    FlowMap { node, unanswered }
}

/// What a [`UdpProbe`] saw: when it asked and was answered, and which node answered each.
pub struct UdpProbeResult {
    /// The requests' sendings, the answers' arrivals, which requests were answered: gaps and
    /// unanswered runs as for ICMP ([`PingResult::longest_gap`], [`PingResult::unanswered_runs`]).
    pub timing: PingResult,
    /// For each request, the node that answered it.
    pub node: Vec<Option<String>>,
}

impl UdpProbeResult {
    /// The longest time without an answer, between two answers: the client-observed outage.
    pub fn longest_gap(&self) -> Duration {
        self.timing.longest_gap()
    }

    /// The answering node each time it changed, with the sending of the first request it
    /// answered: the first answer's node first, then where the flow moved, and when.
    pub fn node_changes(&self) -> Vec<(Instant, String)> {
        let mut changes: Vec<(Instant, String)> = Vec::new();
        for (sent, n) in self.timing.sent.iter().zip(&self.node) {
            if let Some(n) = n {
                if changes.last().is_none_or(|(_, last)| last != n) {
                    changes.push((*sent, n.clone()));
                }
            }
        }
        changes
    }
}

/// One UDP flow from a fixed source port to a VIP, a request every `interval` (1 ms for
/// failover timing), recording the answers and who gave them: the outage a client of that flow
/// sees, and where the flow went. Pick the source port from a [`flow_map`] to probe a flow a
/// given node answers.
pub struct UdpProbe {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<UdpProbeResult>>,
}

impl UdpProbe {
    /// Starts probing `vip:port` from `sport` in namespace `ns`; returns once the socket is
    /// bound. Runs `SCHED_FIFO` when [`crate::probe::probes_realtime`] was called.
    pub fn start(ns: &str, vip: &str, port: u16, sport: u16, interval: Duration) -> UdpProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let vip = vip.to_string();
        let (ready_tx, ready_rx) = mpsc::channel();
        let handle = in_netns_spawn(ns, move || {
            enter_realtime();
            let sock = UdpSocket::bind(("0.0.0.0", sport))
                .unwrap_or_else(|e| panic!("binding UDP source port {sport}: {e}"));
            sock.connect((vip.as_str(), port))
                .unwrap_or_else(|e| panic!("connecting to {vip}:{port}: {e}"));
            sock.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            probe_loop(&sock, interval, &flag)
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the UDP probe did not start");
        UdpProbe {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops probing; what it saw.
    pub fn stop(mut self) -> UdpProbeResult {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("UDP probe panicked")
    }
}

impl Drop for UdpProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn probe_loop(sock: &UdpSocket, interval: Duration, stop: &AtomicBool) -> UdpProbeResult {
    let started = Instant::now();
    let mut next = started;
    let (mut sent, mut replies, mut answered, mut node) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            // Refused while there is no route: the run of unanswered requests shows it.
            let _ = sock.send(format!("probe {}", sent.len()).as_bytes());
            sent.push(Instant::now());
            answered.push(false);
            node.push(None);
            next += interval;
        }
        if !wait_readable(sock, next.saturating_duration_since(Instant::now())) {
            continue;
        }
        while let Ok(n) = sock.recv(&mut buf) {
            let reply = String::from_utf8_lossy(&buf[..n]);
            let mut w = reply.split_whitespace();
            let (Some(name), Some("probe"), Some(seq)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let Ok(seq) = seq.parse::<usize>() else {
                continue;
            };
            if seq < sent.len() && !answered[seq] {
                replies.push(Instant::now());
                answered[seq] = true;
                node[seq] = Some(name.to_string());
            }
        }
    }
    UdpProbeResult {
        timing: PingResult {
            replies,
            sent,
            answered,
            ran: started.elapsed(),
        },
        node,
    }
}
