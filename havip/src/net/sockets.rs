//! The daemon's raw sockets: VRRP over IPv4 (send adverts, and receive those XDP passes to the
//! stack) and AF_PACKET (gratuitous ARP, whole frames).

use std::{
    io,
    mem::size_of,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd as _, OwnedFd, RawFd},
};

use anyhow::{Context as _, Result};
use tokio::io::{unix::AsyncFd, Interest};

use crate::wire::vrrp::{HOP_LIMIT, TOS};
/// VRRP's multicast groups (224.0.0.18, ff02::12), under the names the daemon imports.
pub use crate::wire::vrrp::{MULTICAST_V4 as VRRP_GROUP_V4, MULTICAST_V6 as VRRP_GROUP_V6};

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;

fn check(rc: libc::c_int, what: &str) -> Result<libc::c_int> {
    if rc < 0 {
        return Err(io::Error::last_os_error()).context(what.to_string());
    }
    Ok(rc)
}

fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T, what: &str) -> Result<()> {
    // SAFETY: `value` is a valid T for the length given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as u32,
        )
    };
    check(rc, what).map(|_| ())
}

/// Binds a socket to one interface (`SO_BINDTODEVICE`): it sends and receives there only.
fn bind_to_device(fd: RawFd, ifname: &str) -> Result<()> {
    let name = std::ffi::CString::new(ifname)?;
    // SAFETY: a valid NUL-terminated name and its length.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            name.as_ptr().cast(),
            name.as_bytes_with_nul().len() as u32,
        )
    };
    check(rc, "SO_BINDTODEVICE").map(|_| ())
}

fn new_socket(domain: i32, ty: i32, proto: i32, what: &str) -> Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = check(
        unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, proto) },
        what,
    )?;
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A raw `IPPROTO_VRRP` socket on one interface: multicast TTL 255 (RFC 9568 §5.1.1.3), TOS
/// 0xc0 as keepalived sends, no loopback of our own adverts, member of 224.0.0.18.
pub struct VrrpSocketV4 {
    fd: AsyncFd<OwnedFd>,
}

impl VrrpSocketV4 {
    pub fn open(ifname: &str, ifindex: u32, src: Ipv4Addr) -> Result<Self> {
        let fd = new_socket(
            libc::AF_INET,
            libc::SOCK_RAW,
            IPPROTO_VRRP,
            "opening a raw VRRP socket",
        )?;
        let raw = fd.as_raw_fd();
        bind_to_device(raw, ifname)?;
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr {
                s_addr: u32::from(VRRP_GROUP_V4).to_be(),
            },
            imr_address: libc::in_addr {
                s_addr: u32::from(src).to_be(),
            },
            imr_ifindex: ifindex as i32,
        };
        setsockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn,
            "IP_MULTICAST_IF",
        )?;
        setsockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            &mreqn,
            "joining 224.0.0.18",
        )?;
        let ttl = libc::c_int::from(HOP_LIMIT);
        setsockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_TTL,
            &ttl,
            "IP_MULTICAST_TTL",
        )?;
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_TTL, &ttl, "IP_TTL")?;
        let off: libc::c_int = 0;
        setsockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_LOOP,
            &off,
            "IP_MULTICAST_LOOP",
        )?;
        let tos = libc::c_int::from(TOS);
        setsockopt(raw, libc::IPPROTO_IP, libc::IP_TOS, &tos, "IP_TOS")?;
        // SAFETY: the OwnedFd is moved in, and never replaced or closed while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Self { fd })
    }

    /// Sends one VRRP message (no IP header: the kernel adds it) to `dst`, from `src` (through
    /// `IP_PKTINFO`) or from the address the kernel picks.
    pub fn send(&self, vrrp: &[u8], dst: Ipv4Addr, src: Option<Ipv4Addr>) -> Result<()> {
        let mut addr = sockaddr_in(dst);
        let mut iov = libc::iovec {
            iov_base: vrrp.as_ptr() as *mut _,
            iov_len: vrrp.len(),
        };
        // u64 storage keeps the control buffer aligned for cmsghdr.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(src) = src {
            let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) } as usize;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: the control buffer holds CMSG_SPACE(in_pktinfo) bytes, aligned.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::IPPROTO_IP;
                (*cmsg).cmsg_type = libc::IP_PKTINFO;
                (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
                let info = libc::CMSG_DATA(cmsg).cast::<libc::in_pktinfo>();
                info.write_unaligned(libc::in_pktinfo {
                    ipi_ifindex: 0,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                });
            }
        }
        // SAFETY: a fully initialised msghdr.
        let rc = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        check(rc as i32, "sending a VRRP advert").map(|_| ())
    }

    /// Receives one IP packet (IPv4 header included), waiting for it.
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                // SAFETY: valid buffer for its length.
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            }) {
                Ok(result) => return result.context("receiving from the VRRP socket"),
                Err(_would_block) => continue,
            }
        }
    }
}

fn sockaddr_in(addr: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// An AF_PACKET socket that only sends whole Ethernet frames out of one interface.
pub struct PacketSender {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSender {
    pub fn open(ifindex: u32) -> Result<Self> {
        // Protocol 0: receives nothing, so it costs nothing on the receive path.
        let fd = new_socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            0,
            "opening an AF_PACKET socket",
        )?;
        Ok(Self { fd, ifindex })
    }

    /// Sends `frame` (Ethernet header included) as is.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: sockaddr_ll is plain data; zeroed is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: valid buffer and address for their lengths.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        check(rc as i32, "sending a frame").map(|_| ())
    }
}

/// What the kernel says about a received IPv6 VRRP message (a raw IPv6 socket strips the
/// header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V6Meta {
    pub src: std::net::Ipv6Addr,
    pub dst: std::net::Ipv6Addr,
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
        let fd = new_socket(
            libc::AF_INET6,
            libc::SOCK_RAW,
            IPPROTO_VRRP,
            "opening a raw IPv6 VRRP socket",
        )?;
        let raw = fd.as_raw_fd();
        bind_to_device(raw, ifname)?;
        let index = ifindex as libc::c_int;
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_IF,
            &index,
            "IPV6_MULTICAST_IF",
        )?;
        let mreq = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: VRRP_GROUP_V6.octets(),
            },
            ipv6mr_interface: ifindex,
        };
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            &mreq,
            "joining ff02::12",
        )?;
        let hops = libc::c_int::from(HOP_LIMIT);
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            &hops,
            "IPV6_MULTICAST_HOPS",
        )?;
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_UNICAST_HOPS,
            &hops,
            "IPV6_UNICAST_HOPS",
        )?;
        let off: libc::c_int = 0;
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_LOOP,
            &off,
            "IPV6_MULTICAST_LOOP",
        )?;
        let tclass = libc::c_int::from(TOS);
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_TCLASS,
            &tclass,
            "IPV6_TCLASS",
        )?;
        let on: libc::c_int = 1;
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVHOPLIMIT,
            &on,
            "IPV6_RECVHOPLIMIT",
        )?;
        setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_RECVPKTINFO,
            &on,
            "IPV6_RECVPKTINFO",
        )?;
        // SAFETY: the OwnedFd is moved in, and never replaced or closed while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? };
        Ok(Self { fd, ifindex })
    }

    /// Sends one VRRP message from `src` (through `IPV6_PKTINFO`) to `dst`.
    pub fn send(
        &self,
        vrrp: &[u8],
        dst: std::net::Ipv6Addr,
        src: std::net::Ipv6Addr,
    ) -> Result<()> {
        // SAFETY: sockaddr_in6 is plain data; zeroed is a valid start.
        let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        addr.sin6_family = libc::AF_INET6 as u16;
        addr.sin6_addr = libc::in6_addr {
            s6_addr: dst.octets(),
        };
        addr.sin6_scope_id = self.ifindex;
        let mut iov = libc::iovec {
            iov_base: vrrp.as_ptr() as *mut _,
            iov_len: vrrp.len(),
        };
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        let space = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as usize;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer holds CMSG_SPACE(in6_pktinfo) bytes, aligned.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
            (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize;
            libc::CMSG_DATA(cmsg)
                .cast::<libc::in6_pktinfo>()
                .write_unaligned(libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                });
        }
        // SAFETY: a fully initialised msghdr.
        let rc = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, 0) };
        check(rc as i32, "sending an IPv6 VRRP advert").map(|_| ())
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

fn recv_v6(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, V6Meta)> {
    // SAFETY: plain data, filled by recvmsg.
    let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: a fully initialised msghdr with buffers that outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut meta = V6Meta {
        src: std::net::Ipv6Addr::from(from.sin6_addr.s6_addr),
        dst: std::net::Ipv6Addr::UNSPECIFIED,
        hop_limit: 0,
    };
    // SAFETY: walking the control messages recvmsg filled in.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IPV6 {
                if (*cmsg).cmsg_type == libc::IPV6_HOPLIMIT {
                    meta.hop_limit =
                        libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned() as u8;
                } else if (*cmsg).cmsg_type == libc::IPV6_PKTINFO {
                    let info = libc::CMSG_DATA(cmsg)
                        .cast::<libc::in6_pktinfo>()
                        .read_unaligned();
                    meta.dst = std::net::Ipv6Addr::from(info.ipi6_addr.s6_addr);
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, meta))
}
