//! The daemon's raw sockets: VRRP over IPv4 (send adverts, and receive those XDP passes to the
//! stack), VRRP over IPv6, and AF_PACKET (gratuitous ARP and neighbour adverts, whole frames).
//!
//! rustix creates the sockets and sets the options it knows; nix sets the three it alone has
//! (`SO_BINDTODEVICE`, `IPV6_RECVHOPLIMIT`, `IPV6_RECVPKTINFO`) and carries the control messages
//! (`IP_PKTINFO`, `IPV6_PKTINFO`, `IPV6_HOPLIMIT`); socket2 attaches the classic BPF filter.
//! The crates' errors become `io::Error`, so a failure reads "IP_TTL: Operation not permitted
//! (os error 1)".
//!
//! The receiving sockets are the last line behind XDP, which drops what is not a well-formed
//! advert of a router this node runs, beyond a trickle, and rate-limits the rest: each gets an
//! explicit receive buffer ([`RCVBUF`]) and a socket filter that keeps only VRRP adverts
//! ([`advert_filter_v4`], [`advert_filter_v6`]), so what XDP passes for another VRRP daemon on
//! the host (other VRRP types, other versions) never wakes ours.

use std::{
    ffi::OsString,
    io::{self, IoSlice, IoSliceMut},
    mem::size_of,
    net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6},
    os::fd::{AsRawFd, OwnedFd, RawFd},
};

use anyhow::{Context as _, Result};
use nix::sys::socket::{
    recv, recvmsg, sendmsg, sendto, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    LinkAddr, MsgFlags, SockaddrIn, SockaddrIn6, SockaddrLike as _,
};
use rustix::net::{
    socket_with, sockopt as rsockopt, AddressFamily, Protocol, RawProtocol, SocketFlags, SocketType,
};
use tokio::io::{unix::AsyncFd, Interest};

use crate::wire::vrrp::{HOP_LIMIT, TOS};
/// VRRP's multicast groups (224.0.0.18, ff02::12), under the names the daemon imports.
pub use crate::wire::vrrp::{MULTICAST_V4 as VRRP_GROUP_V4, MULTICAST_V6 as VRRP_GROUP_V6};

/// VRRP's IP protocol number (`wire::IpProtocol::Vrrp`; a test keeps the two equal).
const IPPROTO_VRRP: Protocol = Protocol::from_raw(RawProtocol::new(112).unwrap());

/// The receive buffer of the VRRP sockets, bytes (`SO_RCVBUFFORCE`: above `rmem_max` too; the
/// kernel doubles it for its bookkeeping). A queued advert costs about 1 KiB of buffer (its skb),
/// so this holds some 500: at XDP's limits for a router with 1 s adverts (20 a second from
/// every source but the master together, 4 from the master) that is 20 s of a stalled loop,
/// and 200 ms for 10 ms adverts. Beyond that the kernel drops and counts (`RcvbufErrors`).
pub const RCVBUF: usize = 512 * 1024;

/// The classic BPF filter of the raw IPv4 VRRP socket, run by the kernel on each packet (from
/// its IP header on) before it is queued: IP protocol 112 and a VRRP version/type byte of
/// 0x21 or 0x31 (a v2 or v3 advertisement), else dropped. Which VRIDs are wanted is XDP's to
/// check (they change on reload, and a filter would have to be swapped with them).
pub fn advert_filter_v4() -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    // Opcodes of linux/filter.h (BPF_LD | BPF_B | BPF_ABS, ...).
    const LDB_ABS: u16 = 0x30;
    const LDXB_MSH: u16 = 0xb1;
    const LDB_IND: u16 = 0x50;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    vec![
        F::new(LDB_ABS, 0, 0, 9),      // 0: A = IP protocol
        F::new(JEQ_K, 0, 4, 112),      // 1: VRRP? else 6
        F::new(LDXB_MSH, 0, 0, 0),     // 2: X = IP header length
        F::new(LDB_IND, 0, 0, 0),      // 3: A = VRRP version and type
        F::new(JEQ_K, 2, 0, 0x21),     // 4: v2 advert: 7
        F::new(JEQ_K, 1, 0, 0x31),     // 5: v3 advert: 7, else 6
        F::new(RET_K, 0, 0, 0),        // 6: drop
        F::new(RET_K, 0, 0, u32::MAX), // 7: keep it whole
    ]
}

/// The classic BPF filter of the raw IPv6 VRRP socket. The kernel runs it on the VRRP message
/// (an IPv6 raw socket receives no IP header): a version/type byte of 0x31 (a v3 advertisement,
/// the only VRRP over IPv6), else dropped.
pub fn advert_filter_v6() -> Vec<socket2::SockFilter> {
    use socket2::SockFilter as F;
    const LDB_ABS: u16 = 0x30;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    vec![
        F::new(LDB_ABS, 0, 0, 0),      // 0: A = VRRP version and type
        F::new(JEQ_K, 1, 0, 0x31),     // 1: v3 advert: 3, else 2
        F::new(RET_K, 0, 0, 0),        // 2: drop
        F::new(RET_K, 0, 0, u32::MAX), // 3: keep it whole
    ]
}

/// Sets the explicit receive buffer ([`RCVBUF`]).
fn set_rcvbuf(fd: &OwnedFd) -> Result<()> {
    os(
        rsockopt::set_socket_recv_buffer_size_force(fd, RCVBUF),
        "SO_RCVBUFFORCE",
    )
}

/// A failed system call as an error that says what was being done.
fn os<T, E: Into<io::Error>>(r: Result<T, E>, what: &'static str) -> Result<T> {
    r.map_err(Into::into).context(what)
}

/// A non-blocking, close-on-exec raw socket.
fn raw_socket(
    family: AddressFamily,
    protocol: Option<Protocol>,
    what: &'static str,
) -> Result<OwnedFd> {
    os(
        socket_with(
            family,
            SocketType::RAW,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            protocol,
        ),
        what,
    )
}

/// Binds a socket to one interface (`SO_BINDTODEVICE`): it sends and receives there only.
fn bind_to_device(fd: &OwnedFd, ifname: &str) -> Result<()> {
    os(
        setsockopt(fd, sockopt::BindToDevice, &OsString::from(ifname)),
        "SO_BINDTODEVICE",
    )
}

fn in_addr(addr: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from(addr).to_be(),
    }
}

/// A raw `IPPROTO_VRRP` socket on one interface: multicast TTL 255 (RFC 9568 §5.1.1.3), TOS
/// 0xc0 as keepalived sends, no loopback of our own adverts, member of 224.0.0.18.
pub struct VrrpSocketV4 {
    fd: AsyncFd<OwnedFd>,
}

impl VrrpSocketV4 {
    pub fn open(ifname: &str, ifindex: u32, src: Ipv4Addr) -> Result<Self> {
        let fd = raw_socket(
            AddressFamily::INET,
            Some(IPPROTO_VRRP),
            "opening a raw VRRP socket",
        )?;
        bind_to_device(&fd, ifname)?;
        // An `ip_mreqn` with both the interface and `src`: the kernel then also takes `src` as
        // the source of multicast sends that name none (`inet->mc_addr`).
        os(
            rsockopt::set_ip_multicast_if_with_ifindex(&fd, &VRRP_GROUP_V4, &src, ifindex),
            "IP_MULTICAST_IF",
        )?;
        os(
            rsockopt::set_ip_add_membership_with_ifindex(&fd, &VRRP_GROUP_V4, &src, ifindex),
            "joining 224.0.0.18",
        )?;
        let ttl = u32::from(HOP_LIMIT);
        os(rsockopt::set_ip_multicast_ttl(&fd, ttl), "IP_MULTICAST_TTL")?;
        os(rsockopt::set_ip_ttl(&fd, ttl), "IP_TTL")?;
        os(
            rsockopt::set_ip_multicast_loop(&fd, false),
            "IP_MULTICAST_LOOP",
        )?;
        os(rsockopt::set_ip_tos(&fd, TOS), "IP_TOS")?;
        set_rcvbuf(&fd)?;
        os(
            socket2::SockRef::from(&fd).attach_filter(&advert_filter_v4()),
            "SO_ATTACH_FILTER",
        )?;
        // SAFETY: the OwnedFd is moved in, and never replaced or closed while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Self { fd })
    }

    /// Joins multicast `group` too (keepalived `vrrp_mcast_group4` / `mcast_dst_ip`).
    pub fn join(&self, group: Ipv4Addr, src: Ipv4Addr, ifindex: u32) -> Result<()> {
        os(
            rsockopt::set_ip_add_membership_with_ifindex(self.fd.get_ref(), &group, &src, ifindex),
            "joining a VRRP multicast group",
        )
        .with_context(|| format!("joining {group}"))
    }

    /// Sends one VRRP message (no IP header: the kernel adds it) to `dst`, from `src` (through
    /// `IP_PKTINFO`) or from the address the kernel picks.
    /// `ttl`: this message's TTL (an `IP_TTL` control message) in place of the socket's 255
    /// (keepalived `unicast_ttl`).
    pub fn send(
        &self,
        vrrp: &[u8],
        dst: Ipv4Addr,
        src: Option<Ipv4Addr>,
        ttl: Option<u8>,
    ) -> Result<()> {
        let info = src.map(|src| libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: in_addr(src),
            ipi_addr: in_addr(Ipv4Addr::UNSPECIFIED),
        });
        let ttl = ttl.map(libc::c_int::from);
        let cmsg: Vec<ControlMessage<'_>> = info
            .as_ref()
            .map(ControlMessage::Ipv4PacketInfo)
            .into_iter()
            .chain(ttl.as_ref().map(ControlMessage::Ipv4Ttl))
            .collect();
        let to = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        os(
            sendmsg(
                self.fd.as_raw_fd(),
                &[IoSlice::new(vrrp)],
                &cmsg,
                MsgFlags::empty(),
                Some(&to),
            ),
            "sending a VRRP advert",
        )
        .map(drop)
    }

    /// The socket's receive buffer as the kernel reports it (`SO_RCVBUF`: twice what was set).
    #[cfg(test)]
    fn recv_buffer_size(&self) -> Result<usize> {
        os(
            rsockopt::socket_recv_buffer_size(self.fd.get_ref()),
            "SO_RCVBUF",
        )
    }

    /// Receives one IP packet (IPv4 header included), waiting for it.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| Ok(recv(fd.as_raw_fd(), buf, MsgFlags::empty())?)) {
                Ok(result) => return result.context("receiving from the VRRP socket"),
                Err(_would_block) => continue,
            }
        }
    }
}

/// An AF_PACKET socket that only sends whole Ethernet frames out of one interface.
pub struct PacketSender {
    fd: OwnedFd,
    to: LinkAddr,
}

impl PacketSender {
    pub fn open(ifindex: u32) -> Result<Self> {
        // Protocol 0: receives nothing, so it costs nothing on the receive path.
        let fd = raw_socket(AddressFamily::PACKET, None, "opening an AF_PACKET socket")?;
        // A SOCK_RAW packet socket sends the frame as given: of the address the kernel reads
        // the family, protocol and interface only (`packet_snd()`), so one serves every frame.
        let ll = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: 0,
            sll_ifindex: ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: `ll` is a whole, initialised sockaddr_ll and the length is its size. Neither
        // nix nor rustix builds a link-layer address safely.
        let to = unsafe {
            LinkAddr::from_raw(
                (&ll as *const libc::sockaddr_ll).cast(),
                Some(size_of::<libc::sockaddr_ll>() as u32),
            )
        }
        .context("building the AF_PACKET address")?;
        Ok(Self { fd, to })
    }

    /// Sends `frame` (Ethernet header included) as is.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        os(
            sendto(self.fd.as_raw_fd(), frame, &self.to, MsgFlags::empty()),
            "sending a frame",
        )
        .map(drop)
    }
}

/// What the kernel says about a received IPv6 VRRP message (a raw IPv6 socket strips the
/// header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V6Meta {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
}

/// A raw `IPPROTO_VRRP` socket over IPv6 on one interface: hop limit 255 (RFC 9568 §5.1.2.3),
/// traffic class 0xc0, member of ff02::12, the source chosen per send (the link-local address,
/// or `unicast_src_ip`), hop limit and destination reported on receive.
pub struct VrrpSocketV6 {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
}

impl VrrpSocketV6 {
    pub fn open(ifname: &str, ifindex: u32) -> Result<Self> {
        let fd = raw_socket(
            AddressFamily::INET6,
            Some(IPPROTO_VRRP),
            "opening a raw IPv6 VRRP socket",
        )?;
        bind_to_device(&fd, ifname)?;
        os(
            rsockopt::set_ipv6_multicast_if(&fd, ifindex),
            "IPV6_MULTICAST_IF",
        )?;
        os(
            rsockopt::set_ipv6_add_membership(&fd, &VRRP_GROUP_V6, ifindex),
            "joining ff02::12",
        )?;
        os(
            rsockopt::set_ipv6_multicast_hops(&fd, u32::from(HOP_LIMIT)),
            "IPV6_MULTICAST_HOPS",
        )?;
        os(
            rsockopt::set_ipv6_unicast_hops(&fd, Some(HOP_LIMIT)),
            "IPV6_UNICAST_HOPS",
        )?;
        os(
            rsockopt::set_ipv6_multicast_loop(&fd, false),
            "IPV6_MULTICAST_LOOP",
        )?;
        os(
            rsockopt::set_ipv6_tclass(&fd, u32::from(TOS)),
            "IPV6_TCLASS",
        )?;
        os(
            setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true),
            "IPV6_RECVHOPLIMIT",
        )?;
        set_rcvbuf(&fd)?;
        os(
            socket2::SockRef::from(&fd).attach_filter(&advert_filter_v6()),
            "SO_ATTACH_FILTER",
        )?;
        os(
            setsockopt(&fd, sockopt::Ipv6RecvPacketInfo, &true),
            "IPV6_RECVPKTINFO",
        )?;
        // SAFETY: the OwnedFd is moved in, and never replaced or closed while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Self { fd, ifindex })
    }

    /// Joins multicast `group` too (keepalived `vrrp_mcast_group6` / `mcast_dst_ip`).
    pub fn join(&self, group: Ipv6Addr) -> Result<()> {
        os(
            rsockopt::set_ipv6_add_membership(self.fd.get_ref(), &group, self.ifindex),
            "joining a VRRP multicast group",
        )
        .with_context(|| format!("joining {group}"))
    }

    /// Sends one VRRP message from `src` (through `IPV6_PKTINFO`) to `dst`.
    /// `hops`: this message's hop limit (an `IPV6_HOPLIMIT` control message) in place of 255
    /// (keepalived `unicast_ttl`).
    pub fn send(&self, vrrp: &[u8], dst: Ipv6Addr, src: Ipv6Addr, hops: Option<u8>) -> Result<()> {
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        let hops = hops.map(libc::c_int::from);
        let cmsg: Vec<ControlMessage<'_>> = std::iter::once(ControlMessage::Ipv6PacketInfo(&info))
            .chain(hops.as_ref().map(ControlMessage::Ipv6HopLimit))
            .collect();
        let to = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, self.ifindex));
        os(
            sendmsg(
                self.fd.as_raw_fd(),
                &[IoSlice::new(vrrp)],
                &cmsg,
                MsgFlags::empty(),
                Some(&to),
            ),
            "sending an IPv6 VRRP advert",
        )
        .map(drop)
    }

    /// Receives one VRRP message (no IPv6 header) and what the kernel says of it.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<(usize, V6Meta)> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_v6(fd.as_raw_fd(), buf)) {
                Ok(result) => return result.context("receiving from the IPv6 VRRP socket"),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Room for the `IPV6_PKTINFO` and `IPV6_HOPLIMIT` control messages (64 bytes), aligned as a
/// `cmsghdr` must be.
#[repr(C, align(8))]
struct ControlBuf([u8; 128]);

fn recv_v6(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, V6Meta)> {
    let mut control = ControlBuf([0; 128]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(fd, &mut iov, Some(&mut control.0), MsgFlags::empty())?;
    let mut meta = V6Meta {
        src: msg.address.map_or(Ipv6Addr::UNSPECIFIED, |a| a.ip()),
        dst: Ipv6Addr::UNSPECIFIED,
        hop_limit: 0,
    };
    // Were the control messages cut short (they cannot be: the buffer holds both), the advert
    // goes on with hop limit 0, which the receive checks drop.
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            match cmsg {
                ControlMessageOwned::Ipv6HopLimit(hops) => meta.hop_limit = hops as u8,
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    meta.dst = Ipv6Addr::from(info.ipi6_addr.s6_addr)
                }
                _ => {}
            }
        }
    }
    Ok((msg.bytes, meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::IpProtocol;

    /// Runs `test` on a thread moved into a network namespace of its own (`unshare`, loopback
    /// up), in a runtime of its own. That needs root: without it the test says so and checks
    /// nothing (the root tier runs it).
    fn in_a_namespace_of_its_own(test: impl std::future::Future<Output = ()> + Send + 'static) {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: a network namespace of its own needs root");
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: unshare(2) affecting only this thread's network namespace.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "unshare: {}", io::Error::last_os_error());
            let lo = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .expect("ip");
            assert!(lo.success());
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test);
        })
        .join()
        .expect("namespace thread");
    }

    /// The raw IPv4 socket keeps VRRP adverts only, and its buffer is the one asked for.
    #[test]
    fn the_v4_socket_filter_keeps_only_adverts() {
        in_a_namespace_of_its_own(async {
            let rx = VrrpSocketV4::open("lo", 1, Ipv4Addr::LOCALHOST).expect("open");
            assert!(rx.recv_buffer_size().unwrap() >= RCVBUF);
            let tx = raw_socket(AddressFamily::INET, Some(IPPROTO_VRRP), "tx").unwrap();
            let to = SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
            // Version/type bytes: v2 type 2, v4 advert, a v3 advert, a v2 advert.
            for first in [0x22u8, 0x41, 0x31, 0x21] {
                let msg = [first, 51, 100, 1, 0, 1, 0, 0, 10, 0, 0, 1];
                sendto(tx.as_raw_fd(), &msg, &to, MsgFlags::empty()).unwrap();
            }
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(Ok(n)) =
                tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv(&mut buf)).await
            {
                got.push(buf[(usize::from(buf[0] & 0x0f) * 4).min(n - 1)]);
            }
            assert_eq!(got, [0x31, 0x21], "the filter kept only the adverts");
        });
    }

    /// The raw IPv6 socket keeps v3 adverts only.
    #[test]
    fn the_v6_socket_filter_keeps_only_v3_adverts() {
        in_a_namespace_of_its_own(async {
            let rx = VrrpSocketV6::open("lo", 1).expect("open");
            let tx = raw_socket(AddressFamily::INET6, Some(IPPROTO_VRRP), "tx").unwrap();
            let to = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0));
            // Version/type bytes: v3 type 2, v2 advert, a v3 advert.
            for first in [0x32u8, 0x21, 0x31] {
                let mut msg = vec![first, 51, 100, 1, 0, 100, 0, 0];
                msg.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
                sendto(tx.as_raw_fd(), &msg, &to, MsgFlags::empty()).unwrap();
            }
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(Ok((_, _))) =
                tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv(&mut buf)).await
            {
                got.push(buf[0]);
            }
            assert_eq!(got, [0x31], "the filter kept only the v3 advert");
        });
    }

    #[test]
    fn vrrp_protocol_number_is_the_wire_one() {
        assert_eq!(
            IPPROTO_VRRP.as_raw().get(),
            u32::from(u8::from(IpProtocol::Vrrp))
        );
    }
}
