//! Client-side probes for failover labs: ICMP echo at a fixed rate (`ping -D`), to measure the
//! outage a client sees, and an ARP prober that records which MAC answers each request, to check
//! that never two nodes answer for the VIP.

use std::{
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd as _, OwnedFd},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::lab::{in_netns_spawn, Host, Lab};

/// Whether probers started from now on run `SCHED_FIFO` (see [`probes_realtime`]).
static REALTIME: AtomicBool = AtomicBool::new(false);

/// Makes the probers started from now on (and the calling harness's own watchers, through
/// [`enter_realtime`]) run `SCHED_FIFO` at priority 40, below the daemons' 50: on a loaded
/// machine a descheduled prober sends nothing and sees nothing for tens of milliseconds, which
/// reads as an outage that was not there.
pub fn probes_realtime() {
    REALTIME.store(true, Ordering::Relaxed);
}

/// Puts the calling thread in `SCHED_FIFO` 40 when [`probes_realtime`] was called.
pub fn enter_realtime() {
    if REALTIME.load(Ordering::Relaxed) {
        let param = libc::sched_param { sched_priority: 40 };
        // SAFETY: sched_setscheduler(2) on the calling thread (pid 0) with a valid parameter.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        assert_eq!(rc, 0, "SCHED_FIFO: {}", std::io::Error::last_os_error());
    }
}

/// What the ICMP prober recorded: reply arrivals, request sendings, and which were answered.
type Echoes = (Vec<Instant>, Vec<Instant>, Vec<bool>);

/// An ICMP echo prober in a namespace: one request every `interval` (a raw socket of its own,
/// so the interval holds during an outage; iputils ping slows down to 10 ms when replies stop,
/// which quantised the first failover measurements to 10 ms steps).
pub struct Ping {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Echoes>>,
    started: Instant,
}

impl Ping {
    pub fn start(ns: &str, target: &str, interval: Duration) -> Ping {
        let target: std::net::Ipv4Addr = target.parse().expect("IPv4 target");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = in_netns_spawn(ns, move || {
            enter_realtime();
            icmp_loop(target, interval, &flag)
        });
        Ping {
            stop,
            handle: Some(handle),
            started: Instant::now(),
        }
    }

    /// Stops the prober and returns when replies arrived.
    pub fn stop(mut self) -> PingResult {
        self.stop.store(true, Ordering::Relaxed);
        let (replies, sent, answered) = self
            .handle
            .take()
            .unwrap()
            .join()
            .expect("ICMP prober panicked");
        PingResult {
            replies,
            sent,
            answered,
            ran: self.started.elapsed(),
        }
    }
}

impl Drop for Ping {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub struct PingResult {
    /// Arrival times of the echo replies, in order.
    pub replies: Vec<Instant>,
    /// When each request was sent, and whether a reply to it came.
    pub sent: Vec<Instant>,
    pub answered: Vec<bool>,
    pub ran: Duration,
}

impl PingResult {
    /// The longest time without a reply, between two replies: the client-observed outage.
    pub fn longest_gap(&self) -> Duration {
        self.replies
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    /// Each run of unanswered requests: from the first one's sending to the sending of the
    /// next answered one. Unlike the gaps between replies, a prober that was not scheduled for
    /// a while (a loaded machine) makes no outage: it sent nothing then, and what it sends
    /// when it runs again is answered.
    pub fn unanswered_runs(&self) -> Vec<(Instant, Duration)> {
        let mut runs = Vec::new();
        let mut from: Option<Instant> = None;
        for (t, ok) in self.sent.iter().zip(&self.answered) {
            match (ok, from) {
                (false, None) => from = Some(*t),
                (true, Some(f)) => {
                    runs.push((f, t.saturating_duration_since(f)));
                    from = None;
                }
                _ => {}
            }
        }
        runs
    }
}

fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An AF_PACKET socket bound to `iface` (in the calling thread's namespace) for EtherType
/// `proto`, and the address it is bound to.
fn packet_socket(iface: &str, proto: u16) -> (OwnedFd, libc::sockaddr_ll) {
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: plain syscalls on a socket this function owns.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex != 0, "no {iface}");
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto.to_be())) };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto.to_be();
    addr.sll_ifindex = ifindex as i32;
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    (sock, addr)
}

/// One datagram received before `deadline` (the prober's next send), or `None`. ppoll's
/// timeout is an hrtimer; SO_RCVTIMEO counts in jiffies (4 ms here), which quantised outages to
/// 4 ms steps.
fn recv_until(sock: &OwnedFd, deadline: Instant, buf: &mut [u8]) -> Option<usize> {
    if !wait_readable(sock, deadline.saturating_duration_since(Instant::now())) {
        return None;
    }
    // SAFETY: a valid buffer for its length.
    let n = unsafe {
        libc::recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).ok()
}

/// Has the kernel stamp each received frame (`SO_TIMESTAMPNS`): read back as a control message
/// or with `SIOCGSTAMPNS`.
fn receive_timestamps(sock: &OwnedFd) {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a valid int on a socket the caller owns.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        );
    }
}

/// Waits (precisely) until `sock` is readable or `timeout` passes.
pub(crate) fn wait_readable(sock: &impl AsRawFd, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: one valid pollfd and a valid timespec.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) > 0 }
}

fn icmp_loop(target: std::net::Ipv4Addr, interval: Duration, stop: &AtomicBool) -> Echoes {
    // SAFETY: plain syscalls on a socket this function owns.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(
        fd >= 0,
        "raw ICMP socket: {}",
        std::io::Error::last_os_error()
    );
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let dst = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(target).to_be(),
        },
        sin_zero: [0; 8],
    };
    let id = (std::process::id() as u16) ^ 0x4856;
    let mut seq = 0u16;
    let mut next = Instant::now();
    let mut replies = Vec::new();
    let mut sent = Vec::new();
    let mut answered: Vec<bool> = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            sent.push(Instant::now());
            answered.push(false);
            let mut req = [0u8; 16];
            req[0] = 8; // echo request
            req[4..6].copy_from_slice(&id.to_be_bytes());
            req[6..8].copy_from_slice(&seq.to_be_bytes());
            let sum = icmp_checksum(&req);
            req[2..4].copy_from_slice(&sum.to_be_bytes());
            unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    req.as_ptr().cast(),
                    req.len(),
                    0,
                    (&dst as *const libc::sockaddr_in).cast(),
                    size_of::<libc::sockaddr_in>() as u32,
                )
            };
            seq = seq.wrapping_add(1);
            next += interval;
        }
        let Some(n) = recv_until(&sock, next, &mut buf) else {
            continue;
        };
        if n >= 28 {
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            let icmp = &buf[ihl..n];
            // Echo reply (type 0) to our identifier, from the target.
            if icmp.len() >= 8
                && icmp[0] == 0
                && icmp[4..6] == id.to_be_bytes()
                && buf[12..16] == target.octets()
            {
                replies.push(Instant::now());
                // `seq` is the next to send: the reply's request is that many back.
                let reply_seq = u16::from_be_bytes([icmp[6], icmp[7]]);
                let back = usize::from(seq.wrapping_sub(reply_seq));
                if let Some(i) = answered.len().checked_sub(back) {
                    answered[i] = true;
                }
            }
        }
    }
    (replies, sent, answered)
}

/// One ARP reply the prober saw.
#[derive(Clone, Debug)]
pub struct ArpReply {
    /// Since the prober started.
    pub at: Duration,
    pub mac: [u8; 6],
    /// The number of the request it follows (replies between request n and n+1 get n).
    pub after_request: u64,
}

/// Sends an ARP request for a target every `interval` from a namespace and records replies.
pub struct ArpProbe {
    started: Instant,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(Vec<ArpReply>, Vec<Duration>)>>,
}

impl ArpProbe {
    /// `src_mac`/`src_ip`: the client's own; `iface` in namespace `ns`.
    pub fn start(
        ns: &str,
        iface: &str,
        src_mac: [u8; 6],
        src_ip: [u8; 4],
        target: [u8; 4],
        interval: Duration,
    ) -> ArpProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let iface = iface.to_string();
        let started = Instant::now();
        let handle = in_netns_spawn(ns, move || {
            enter_realtime();
            probe_loop(&iface, src_mac, src_ip, target, interval, started, &flag)
        });
        ArpProbe {
            started,
            stop,
            handle: Some(handle),
        }
    }

    /// When the prober started: `ArpReply::at` counts from here.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn stop(self) -> Vec<ArpReply> {
        self.stop_all().0
    }

    /// The replies, and when each request was sent (request n at index n − 1, since the
    /// prober started).
    pub fn stop_all(mut self) -> (Vec<ArpReply>, Vec<Duration>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("ARP prober panicked")
    }
}

impl Drop for ArpProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn probe_loop(
    iface: &str,
    mac: [u8; 6],
    ip: [u8; 4],
    target: [u8; 4],
    interval: Duration,
    start: Instant,
    stop: &AtomicBool,
) -> (Vec<ArpReply>, Vec<Duration>) {
    const ETH_P_ARP: u16 = 0x0806;
    // asm-generic/sockios.h: the kernel's receive time of the last frame read (CLOCK_REALTIME).
    const SIOCGSTAMPNS: libc::c_ulong = 0x8907;
    let (sock, addr) = packet_socket(iface, ETH_P_ARP);
    receive_timestamps(&sock);
    let realtime_ns = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    let request = crate::frames::arp_request(mac, ip, target);
    let mut next = Instant::now();
    let mut sent = 0u64;
    let mut sends = Vec::new();
    // When each request left, on the clock of the kernel's receive times: a reply belongs to
    // the last request sent before it arrived, however late the prober reads it.
    let mut sent_ns: Vec<u64> = Vec::new();
    let mut replies = Vec::new();
    let mut buf = [0u8; 128];
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            let mut to: libc::sockaddr_ll = addr;
            to.sll_halen = 6;
            to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
            unsafe {
                libc::sendto(
                    sock.as_raw_fd(),
                    request.as_ptr().cast(),
                    request.len(),
                    0,
                    (&to as *const libc::sockaddr_ll).cast(),
                    size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            sent += 1;
            sends.push(start.elapsed());
            sent_ns.push(realtime_ns());
            next += interval;
        }
        let Some(n) = recv_until(&sock, next, &mut buf) else {
            continue;
        };
        if n >= 42 {
            let f = &buf[..n];
            // An ARP reply (op 2) from the target address.
            if f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2] && f[28..32] == target {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&f[22..28]);
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: SIOCGSTAMPNS fills a timespec.
                let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSTAMPNS, &mut ts) };
                let after_request = if rc == 0 {
                    let rx = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
                    sent_ns.partition_point(|t| *t <= rx) as u64
                } else {
                    sent
                };
                replies.push(ArpReply {
                    at: start.elapsed(),
                    mac,
                    after_request,
                });
            }
        }
    }
    (replies, sends)
}

/// Parses "aa:bb:cc:dd:ee:ff".
/// The octets of IPv4 address `s`.
pub fn ipv4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>()
        .expect("an IPv4 address")
        .octets()
}

pub fn mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, part) in s.split(':').enumerate() {
        m[i] = u8::from_str_radix(part, 16).expect("MAC");
    }
    m
}

/// Formats a MAC like `ip link` does.
pub fn mac_str(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Records when VRRP adverts from `src` arrive on an interface of a namespace, with the kernel's
/// receive timestamps (`SO_TIMESTAMPNS`), so the observer's own scheduling does not blur them.
pub struct AdvertCapture {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<u64>>>,
}

impl AdvertCapture {
    pub fn start(ns: &str, iface: &str, src: [u8; 4]) -> AdvertCapture {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let iface = iface.to_string();
        let handle = in_netns_spawn(ns, move || capture_loop(&iface, src, &flag));
        AdvertCapture {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops and returns the arrival times, nanoseconds (CLOCK_REALTIME), in order.
    pub fn stop(mut self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("advert capture panicked")
    }
}

impl Drop for AdvertCapture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn capture_loop(iface: &str, src: [u8; 4], stop: &AtomicBool) -> Vec<u64> {
    const ETH_P_IP: u16 = 0x0800;
    let (sock, _) = packet_socket(iface, ETH_P_IP);
    receive_timestamps(&sock);
    let mut times = Vec::new();
    let mut buf = [0u8; 256];
    let mut control = [0u64; 16];
    while !stop.load(Ordering::Relaxed) {
        if !wait_readable(&sock, Duration::from_millis(50)) {
            continue;
        }
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
        // IPv4 VRRP (protocol 112) from `src`: SOCK_RAW on AF_PACKET keeps the Ethernet header.
        if n < 34 || buf[23] != 112 || buf[26..30] != src {
            continue;
        }
        // SAFETY: walking the control messages recvmsg filled in.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET
                    && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
                {
                    let ts = libc::CMSG_DATA(cmsg)
                        .cast::<libc::timespec>()
                        .read_unaligned();
                    times.push(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    times
}

/// A small SIP endpoint on UDP in a namespace: answers every request (OPTIONS) with
/// `SIP/2.0 200 OK`, echoing Via, From, To, Call-ID and CSeq, like a SIP gateway would.
pub struct SipResponder {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

impl SipResponder {
    pub fn start(ns: &str, addr: &str) -> SipResponder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let addr = addr.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = in_netns_spawn(ns, move || {
            let sock = std::net::UdpSocket::bind(&addr).expect("binding the SIP responder");
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut answered = 0;
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let req = String::from_utf8_lossy(&buf[..n]);
                let mut resp = String::from("SIP/2.0 200 OK\r\n");
                for line in req.lines() {
                    let l = line.to_ascii_lowercase();
                    if ["via:", "from:", "to:", "call-id:", "cseq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                    {
                        resp.push_str(line);
                        resp.push_str("\r\n");
                    }
                }
                resp.push_str("Content-Length: 0\r\n\r\n");
                let _ = sock.send_to(resp.as_bytes(), from);
                answered += 1;
            }
            answered
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("SIP responder did not start");
        SipResponder {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops answering (the socket closes); returns how many requests it answered.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("SIP responder panicked")
    }
}

impl Drop for SipResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One VRRPv2 advert for trafgen: to `dst_mac`/`dst`, from `src` (trafgen syntax for four
/// bytes), with `ttl`, `vrid` and `priority` (trafgen expressions), advertising the lab's VIP.
/// Both checksums are trafgen's, recomputed for every frame.
pub fn trafgen_advert(
    dst_mac: [u8; 6],
    dst: [u8; 4],
    src: &str,
    ttl: u8,
    vrid: &str,
    prio: u8,
) -> String {
    let m = dst_mac.map(|b| format!("{b:#04x}")).join(", ");
    let d = dst.map(|b| b.to_string()).join(", ");
    format!(
        "{{ {m}, 0x02, 0x66, 0x66, 0x66, 0x66, 0x66, c16(0x0800), \
         0x45, 0xc0, c16(40), drnd(2), c16(0), {ttl}, 112, csumip(14, 33), {src}, {d}, \
         0x21, {vrid}, {prio}, 1, 0, 1, csumip(34, 53), 10, 99, 0, 100, \
         0, 0, 0, 0, 0, 0, 0, 0 }}"
    )
}

/// trafgen's description of an ARP request for `target` from the client's fixed MAC and
/// 10.99.0.50, or with `random_sources` from a random MAC and a random IP in 10.99.0.0/16 per
/// frame (what a large L2 segment or an ARP flood looks like).
pub fn trafgen_arp_request(target: [u8; 4], random_sources: bool) -> String {
    let sender = if random_sources {
        "0x02, drnd(5)"
    } else {
        "0x02, 0x00, 0x00, 0x00, 0x00, 0x50"
    };
    let spa = if random_sources {
        "10, 99, drnd(2)"
    } else {
        "10, 99, 0, 50"
    };
    let [a, b, c, d] = target;
    format!(
        "{{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, {sender}, c16(0x0806), c16(1), c16(0x0800), \
         c8(6), c8(4), c16(1), {sender}, {spa}, 0, 0, 0, 0, 0, 0, {a}, {b}, {c}, {d} }}"
    )
}

/// Packets received on `host`'s eth0 so far (`ip -s -j link`); a veth counts every frame its
/// peer delivered, whatever its destination MAC.
pub fn rx_packets(lab: &Lab, host: &Host) -> u64 {
    let out = lab.ip(&host.ns, "-s -j link show dev eth0");
    let v: serde_json::Value = serde_json::from_str(&out).expect("ip -j");
    v[0]["stats64"]["rx"]["packets"].as_u64().unwrap_or(0)
}

/// What an ARP flood got: frames that reached the responder, replies that reached the sender.
#[derive(Clone, Copy, Debug)]
pub struct Flood {
    pub offered: u64,
    pub answered: u64,
    pub seconds: f64,
}

impl Flood {
    pub fn answered_pct(&self) -> f64 {
        100.0 * self.answered as f64 / self.offered.max(1) as f64
    }
}

/// Floods `count` ARP requests for `target` from `from` (trafgen, one CPU) at `responder`,
/// and counts what reached each side.
pub fn arp_flood(
    lab: &Lab,
    from: &Host,
    responder: &Host,
    target: [u8; 4],
    random_sources: bool,
    count: u64,
) -> Flood {
    let cfg_path = std::env::temp_dir().join(format!(
        "havip-arp-flood-{}-{}.cfg",
        std::process::id(),
        from.ns
    ));
    std::fs::write(&cfg_path, trafgen_arp_request(target, random_sources))
        .expect("writing the trafgen config");
    let offered0 = rx_packets(lab, responder);
    let answered0 = rx_packets(lab, from);
    let start = Instant::now();
    let out = lab.exec(
        &from.ns,
        &[
            "trafgen",
            "-o",
            &from.iface,
            "-i",
            cfg_path.to_str().unwrap(),
            "-n",
            &count.to_string(),
            "-P",
            "1",
            "-q",
        ],
    );
    let seconds = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&cfg_path);
    assert!(
        out.status.success(),
        "trafgen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(200)); // let the last replies land
    Flood {
        offered: rx_packets(lab, responder) - offered0,
        answered: rx_packets(lab, from) - answered0,
        seconds,
    }
}
