//! The kernel's process events (the proc connector): one netlink socket per daemon, subscribed
//! once, that reports every fork, exec, comm change and exit on the host.
//!
//! keepalived (`keepalived/core/track_process.c`) follows `vrrp_track_process` the same way.
//! The socket is `NETLINK_CONNECTOR`, bound to the `CN_IDX_PROC` group, subscribed with a
//! `PROC_CN_MCAST_LISTEN` message; the kernel refuses the subscription without CAP_NET_ADMIN,
//! so [`ProcConnector::open`] runs during set-up, before the privileges are dropped.
//!
//! The connector exists in the initial network namespace only (the kernel registers it in
//! `init_net`): from any other namespace (`ip netns exec NS havip run`, `net_namespace`) the
//! subscription is refused (ECONNREFUSED) and no event ever arrives (measured on 6.18). A
//! socket keeps the namespace it was made in, so [`ProcConnector::open`] makes it, when its own
//! namespace fails, on a short-lived thread that enters another namespace first: the one of
//! PID 1, then those of the daemon's ancestors (the shell that ran `ip netns exec` is in the
//! initial one). The kernel also ignores subscriptions from outside the initial PID and user
//! namespaces, and its events carry initial-namespace PIDs.
//!
//! Nothing is trusted unverified: whatever socket is made must deliver the fork and the exit of
//! a thread the daemon starts for the purpose, with the PIDs the daemon sees, within
//! [`VERIFY_WITHIN`]; otherwise [`ProcConnector::open`] fails with the reason, and the caller
//! polls `/proc` instead and says so.

use std::{
    os::fd::{AsFd, OwnedFd},
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};
use rustix::net::{
    netlink::{self, SocketAddrNetlink},
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType,
};

/// `CN_IDX_PROC` and `CN_VAL_PROC` (`linux/connector.h`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `PROC_CN_MCAST_LISTEN` (`linux/cn_proc.h`).
const PROC_CN_MCAST_LISTEN: u32 = 1;
/// `NLMSG_DONE`: the type the subscription message is sent with (as keepalived and the
/// kernel's own sample do).
const NLMSG_DONE: u16 = 3;
/// `NLMSG_NOOP` and `NLMSG_ERROR`.
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
/// `struct nlmsghdr` and `struct cn_msg`.
const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;
/// `enum proc_cn_event` values havip uses.
const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_COMM: u32 = 0x200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `struct proc_event`: `what`, `cpu`, `timestamp_ns`, then the union.
const EVENT_DATA: usize = 16;

/// How long the check at start waits for the test thread's fork and exit.
pub const VERIFY_WITHIN: Duration = Duration::from_secs(2);

/// The socket's receive buffer: room for bursts of process events (keepalived starts with the
/// default and doubles it at each overflow).
const RCV_BUF: usize = 1 << 20;

/// One process event, as havip uses it. PIDs are the kernel's (initial PID namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// `parent_tgid` made a task; a process when `child_pid == child_tgid`, else a thread.
    Fork {
        parent_tgid: i32,
        child_pid: i32,
        child_tgid: i32,
    },
    /// Task `pid` of process `tgid` called exec.
    Exec { pid: i32, tgid: i32 },
    /// Task `pid` of process `tgid` was renamed (`prctl(PR_SET_NAME)`, `/proc/PID/comm`).
    Comm { pid: i32, tgid: i32, comm: Vec<u8> },
    /// Task `pid` of process `tgid` exited.
    Exit { pid: i32, tgid: i32 },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The events in one datagram from the socket: netlink messages, each a `cn_msg` holding a
/// `proc_event`. Messages that are not process events (other connector ids, acks, errors, the
/// subscription's answer, events havip does not use) and truncated ones are skipped.
pub fn parse(buf: &[u8]) -> Vec<ProcEvent> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(len) = u32_at(buf, at) {
        let len = len as usize;
        if len < NLMSG_HDR || at + len > buf.len() {
            break;
        }
        let msg = &buf[at..at + len];
        // NLMSG_ALIGN: messages are 4-byte aligned.
        at += (len + 3) & !3;
        let kind = u16_at(msg, 4).unwrap_or(0);
        if kind == NLMSG_NOOP || kind == NLMSG_ERROR {
            continue;
        }
        if let Some(ev) = parse_cn(&msg[NLMSG_HDR..]) {
            out.push(ev);
        }
    }
    out
}

fn parse_cn(cn: &[u8]) -> Option<ProcEvent> {
    if u32_at(cn, 0)? != CN_IDX_PROC || u32_at(cn, 4)? != CN_VAL_PROC || u32_at(cn, 12)? != 0 {
        return None;
    }
    let data_len = u16_at(cn, 16)? as usize;
    let ev = cn.get(CN_MSG..CN_MSG + data_len)?;
    let d = EVENT_DATA;
    match u32_at(ev, 0)? {
        PROC_EVENT_FORK => Some(ProcEvent::Fork {
            parent_tgid: i32_at(ev, d + 4)?,
            child_pid: i32_at(ev, d + 8)?,
            child_tgid: i32_at(ev, d + 12)?,
        }),
        PROC_EVENT_EXEC => Some(ProcEvent::Exec {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
        }),
        PROC_EVENT_COMM => {
            let raw = ev.get(d + 8..d + 24)?;
            let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
            Some(ProcEvent::Comm {
                pid: i32_at(ev, d)?,
                tgid: i32_at(ev, d + 4)?,
                comm: raw[..end].to_vec(),
            })
        }
        PROC_EVENT_EXIT => Some(ProcEvent::Exit {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
        }),
        _ => None,
    }
}

/// The subscription message: `nlmsghdr`, `cn_msg`, `PROC_CN_MCAST_LISTEN`.
fn listen_message() -> Vec<u8> {
    let total = NLMSG_HDR + CN_MSG + 4;
    let mut m = Vec::with_capacity(total);
    m.extend_from_slice(&(total as u32).to_ne_bytes());
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills in the port id
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // len
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&PROC_CN_MCAST_LISTEN.to_ne_bytes());
    m
}

/// A subscribed, verified proc connector socket (non-blocking).
#[derive(Debug)]
pub struct ProcConnector {
    fd: OwnedFd,
    /// Where it was made: "this network namespace", or the namespace file entered.
    pub made_in: String,
}

/// What reading the socket gave.
pub enum Read {
    Events(Vec<ProcEvent>),
    /// Nothing waiting.
    Empty,
    /// The kernel dropped events (ENOBUFS): counts must be rebuilt from `/proc`.
    Lost,
}

impl ProcConnector {
    /// A socket that is verified to deliver process events, made in this network namespace or,
    /// failing that, in another one (see the module docs). The error names every attempt.
    pub fn open() -> Result<ProcConnector> {
        let mut why = Vec::new();
        match subscribe().and_then(|fd| verify(&fd).map(|()| fd)) {
            Ok(fd) => {
                return Ok(ProcConnector {
                    fd,
                    made_in: "this network namespace".into(),
                })
            }
            Err(e) => why.push(format!("in this network namespace: {e:#}")),
        }
        // This thread's (the daemon's threads may differ: `/proc/self` is the first one's).
        let mut tried = vec![namespace_id("/proc/thread-self/ns/net")];
        for path in other_namespaces() {
            let id = namespace_id(&path);
            if id.is_none() || tried.contains(&id) {
                continue;
            }
            tried.push(id);
            match subscribe_in(&path).and_then(|fd| verify(&fd).map(|()| fd)) {
                Ok(fd) => {
                    return Ok(ProcConnector {
                        fd,
                        made_in: format!("the network namespace of {path}"),
                    })
                }
                Err(e) => why.push(format!("in the network namespace of {path}: {e:#}")),
            }
        }
        bail!("{}", why.join("; "))
    }

    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// One datagram's events from a proc connector socket, without blocking.
pub fn read(fd: impl AsFd) -> std::io::Result<Read> {
    let mut buf = [0u8; 8192];
    match rustix::net::recvfrom(fd, &mut buf, RecvFlags::empty()) {
        Ok((n, _, from)) => {
            // Only the kernel (port 0) sends to the group.
            let from_kernel = from
                .and_then(|a| SocketAddrNetlink::try_from(a).ok())
                .is_none_or(|a| a.pid() == 0);
            if !from_kernel {
                return Ok(Read::Events(Vec::new()));
            }
            Ok(Read::Events(parse(&buf[..n.min(buf.len())])))
        }
        Err(rustix::io::Errno::AGAIN) => Ok(Read::Empty),
        Err(rustix::io::Errno::NOBUFS) => Ok(Read::Lost),
        Err(rustix::io::Errno::INTR) => Ok(Read::Events(Vec::new())),
        Err(e) => Err(e.into()),
    }
}

/// A socket in this thread's network namespace, bound and subscribed.
fn subscribe() -> Result<OwnedFd> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        Some(netlink::CONNECTOR),
    )
    .context("opening a NETLINK_CONNECTOR socket (is CONFIG_PROC_EVENTS set?)")?;
    rustix::net::bind(&fd, &SocketAddrNetlink::new(0, CN_IDX_PROC))
        .context("binding to the CN_IDX_PROC group")?;
    // Best effort: a larger buffer only makes losses (and rescans) rarer.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(&fd, RCV_BUF);
    rustix::net::send(&fd, &listen_message(), SendFlags::empty()).map_err(|e| {
        if e == rustix::io::Errno::CONNREFUSED {
            anyhow::anyhow!(
                "the kernel refused the subscription (ECONNREFUSED): the proc connector exists \
                 in the initial network namespace only"
            )
        } else {
            anyhow::Error::from(e).context("subscribing (PROC_CN_MCAST_LISTEN)")
        }
    })?;
    Ok(fd)
}

/// [`subscribe`], on a thread that first enters the network namespace at `path`.
fn subscribe_in(path: &str) -> Result<OwnedFd> {
    let owned = path.to_string();
    std::thread::spawn(move || -> Result<OwnedFd> {
        let path = owned;
        let ns = std::fs::File::open(&path).with_context(|| format!("opening {path}"))?;
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .with_context(|| format!("entering {path} (setns needs CAP_SYS_ADMIN)"))?;
        subscribe()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the thread entering {path} panicked"))?
}

/// The namespace files to try after this one's: PID 1's, then the ancestors'.
fn other_namespaces() -> Vec<String> {
    let mut out = vec!["/proc/1/ns/net".to_string()];
    let mut pid = std::process::id();
    for _ in 0..32 {
        let Some(ppid) = parent_of(pid) else { break };
        if ppid <= 1 {
            break;
        }
        out.push(format!("/proc/{ppid}/ns/net"));
        pid = ppid;
    }
    out
}

/// The parent of `pid`, from `/proc/PID/stat`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|b| *b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    rest.split(' ').nth(1)?.parse().ok()
}

/// A namespace file's identity (`net:[INODE]`), or `None` when it cannot be read.
fn namespace_id(path: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(path).ok()
}

/// Waits for the fork and the exit of a thread started for the purpose, with the PIDs this
/// process sees: proof that the socket delivers events and that their PIDs are ours.
fn verify(fd: &OwnedFd) -> Result<()> {
    let me = std::process::id() as i32;
    let tid = std::thread::spawn(|| rustix::thread::gettid().as_raw_nonzero().get())
        .join()
        .map_err(|_| anyhow::anyhow!("the test thread panicked"))?;
    let deadline = Instant::now() + VERIFY_WITHIN;
    let (mut forked, mut exited) = (false, false);
    let mut buf = [0u8; 8192];
    while !(forked && exited) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "no {} of a test thread (pid {me}, tid {tid}) arrived within {VERIFY_WITHIN:?}",
                match (forked, exited) {
                    (false, false) => "fork or exit event",
                    (true, _) => "exit event",
                    (_, true) => "fork event",
                }
            );
        }
        // The socket does not block: a short nap between empty reads (this runs once, at
        // start, for a few milliseconds when events flow).
        let n = match rustix::net::recv(fd, &mut buf, RecvFlags::empty()) {
            Ok((n, _)) => n.min(buf.len()),
            Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {
                std::thread::sleep(left.min(Duration::from_millis(2)));
                continue;
            }
            // Lost events: the test thread's may be among them; keep waiting for the deadline.
            Err(rustix::io::Errno::NOBUFS) => continue,
            Err(e) => return Err(e).context("reading process events"),
        };
        for ev in parse(&buf[..n]) {
            match ev {
                // A thread's parent, for the kernel, is its process's parent: not compared.
                ProcEvent::Fork {
                    child_pid,
                    child_tgid,
                    ..
                } if child_pid == tid && child_tgid == me => forked = true,
                ProcEvent::Exit { pid, tgid } if pid == tid && tgid == me => exited = true,
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A netlink message holding one proc_event, as the kernel lays it out.
    fn message(what: u32, data: &[u8]) -> Vec<u8> {
        let ev_len = EVENT_DATA + data.len();
        let total = NLMSG_HDR + CN_MSG + ev_len;
        let mut m = Vec::new();
        m.extend_from_slice(&(total as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(ev_len as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&1u32.to_ne_bytes()); // cpu
        m.extend_from_slice(&123u64.to_ne_bytes()); // timestamp
        m.extend_from_slice(data);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn ints(v: &[i32]) -> Vec<u8> {
        v.iter().flat_map(|i| i.to_ne_bytes()).collect()
    }

    #[test]
    fn parses_the_events_havip_uses() {
        let mut buf = message(PROC_EVENT_FORK, &ints(&[10, 10, 11, 11]));
        buf.extend(message(PROC_EVENT_EXEC, &ints(&[11, 11])));
        let mut comm = ints(&[11, 11]);
        comm.extend_from_slice(b"hvp-worker\0\0\0\0\0\0");
        buf.extend(message(PROC_EVENT_COMM, &comm));
        buf.extend(message(PROC_EVENT_EXIT, &ints(&[12, 11, 0, 17, 1, 1])));
        assert_eq!(
            parse(&buf),
            vec![
                ProcEvent::Fork {
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11
                },
                ProcEvent::Exec { pid: 11, tgid: 11 },
                ProcEvent::Comm {
                    pid: 11,
                    tgid: 11,
                    comm: b"hvp-worker".to_vec()
                },
                ProcEvent::Exit { pid: 12, tgid: 11 },
            ]
        );
    }

    #[test]
    fn skips_what_is_not_a_process_event() {
        // The subscription's answer (PROC_EVENT_NONE), a UID change, another connector's
        // message, an ack, a truncated message.
        let mut buf = message(0, &ints(&[0, 0]));
        buf.extend(message(0x4, &ints(&[5, 5, 0, 0])));
        let mut other = message(PROC_EVENT_EXEC, &ints(&[5, 5]));
        other[NLMSG_HDR..NLMSG_HDR + 4].copy_from_slice(&9u32.to_ne_bytes());
        buf.extend(other);
        let mut ack = message(PROC_EVENT_EXEC, &ints(&[5, 5]));
        ack[NLMSG_HDR + 12..NLMSG_HDR + 16].copy_from_slice(&1u32.to_ne_bytes());
        buf.extend(ack);
        let short = message(PROC_EVENT_FORK, &ints(&[1, 1]));
        buf.extend(short);
        assert_eq!(parse(&buf), vec![]);
        // A length running past the buffer ends the walk.
        let mut bad = message(PROC_EVENT_EXEC, &ints(&[5, 5]));
        bad[..4].copy_from_slice(&4096u32.to_ne_bytes());
        assert_eq!(parse(&bad), vec![]);
        assert_eq!(parse(&[1, 2, 3]), vec![]);
    }

    /// Runs `f` on a thread of its own in a new network namespace (the test process keeps its).
    fn in_new_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: a network namespace only; this thread touches no file descriptor table
            // or working directory other threads rely on.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
                .unwrap();
            f()
        })
        .join()
        .unwrap()
    }

    #[test]
    fn the_kernel_delivers_events_to_the_initial_network_namespace_only() {
        // The tests run in the initial namespace (as root): events flow, verified.
        let here = ProcConnector::open().unwrap();
        assert_eq!(here.made_in, "this network namespace");
        // From another one the kernel refuses the subscription...
        let err = in_new_netns(|| format!("{:#}", subscribe().unwrap_err()));
        assert!(err.contains("ECONNREFUSED"), "{err}");
        // ...and open() makes the socket in an ancestor's namespace (the initial one), and
        // checks that it delivers.
        let made_in = in_new_netns(|| ProcConnector::open().map(|c| c.made_in));
        let made_in = made_in.unwrap();
        assert!(
            made_in.starts_with("the network namespace of /proc/"),
            "{made_in}"
        );
    }

    #[test]
    fn the_listen_message_is_the_kernels_layout() {
        let m = listen_message();
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40));
        assert_eq!(u32_at(&m, 16), Some(CN_IDX_PROC));
        assert_eq!(u16_at(&m, 32), Some(4));
        assert_eq!(u32_at(&m, 36), Some(PROC_CN_MCAST_LISTEN));
    }
}
