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

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// 224.0.0.18, VRRP's IPv4 multicast group.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

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
        let name = std::ffi::CString::new(ifname)?;
        // SAFETY: a valid NUL-terminated name and its length.
        check(
            unsafe {
                libc::setsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    name.as_ptr().cast(),
                    name.as_bytes_with_nul().len() as u32,
                )
            },
            "SO_BINDTODEVICE",
        )?;
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
        let ttl: libc::c_int = 255;
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
        let tos: libc::c_int = 0xc0;
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
