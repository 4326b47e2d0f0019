//! Client-side probes for failover labs: ICMP echo at a fixed rate (`ping -D`), to measure the
//! outage a client sees, and an ARP prober that records which MAC answers each request, to check
//! that never two nodes answer for the VIP.

use std::{
    io::Read as _,
    mem::size_of,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::lab::in_netns_spawn;

/// `ping -D -i INTERVAL TARGET` running in a namespace.
pub struct Ping {
    child: Child,
    started: Instant,
}

impl Ping {
    pub fn start(ns: &str, target: &str, interval: Duration) -> Ping {
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{ns}"))
            .args([
                "ping",
                "-D",
                "-n",
                "-i",
                &format!("{:.3}", interval.as_secs_f64()),
                target,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting ping");
        Ping {
            child,
            started: Instant::now(),
        }
    }

    /// Stops the ping and returns the reply times (seconds since the epoch, as `-D` prints).
    pub fn stop(mut self) -> PingResult {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = self.child.wait();
        let replies = out
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse::<f64>().ok())
            .collect();
        PingResult {
            replies,
            ran: self.started.elapsed(),
        }
    }
}

impl Drop for Ping {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct PingResult {
    /// Reply timestamps, in order.
    pub replies: Vec<f64>,
    pub ran: Duration,
}

impl PingResult {
    /// The longest time without a reply, between two replies: the client-observed outage.
    pub fn longest_gap(&self) -> Duration {
        let gap = self
            .replies
            .windows(2)
            .map(|w| w[1] - w[0])
            .fold(0.0, f64::max);
        Duration::from_secs_f64(gap)
    }
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
    handle: Option<JoinHandle<Vec<ArpReply>>>,
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

    pub fn stop(mut self) -> Vec<ArpReply> {
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
) -> Vec<ArpReply> {
    const ETH_P_ARP: u16 = 0x0806;
    let name = std::ffi::CString::new(iface).unwrap();
    // SAFETY: plain syscalls on a socket this function owns.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex != 0, "no {iface}");
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from(ETH_P_ARP.to_be()),
        )
    };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ARP.to_be();
    addr.sll_ifindex = ifindex as i32;
    let rc = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 1000,
    };
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            size_of::<libc::timeval>() as u32,
        )
    };
    let request = crate::frames::arp_request(mac, ip, target);
    let mut next = Instant::now();
    let mut sent = 0u64;
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
            next += interval;
        }
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 42 {
            let f = &buf[..n as usize];
            // An ARP reply (op 2) from the target address.
            if f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2] && f[28..32] == target {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&f[22..28]);
                replies.push(ArpReply {
                    at: start.elapsed(),
                    mac,
                    after_request: sent,
                });
            }
        }
    }
    replies
}

/// Parses "aa:bb:cc:dd:ee:ff".
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
