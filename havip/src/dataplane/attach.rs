//! Attaching the XDP program through rtnetlink (`IFLA_XDP`), the way `ip link set dev X xdp`
//! does, rather than through a BPF link.
//!
//! Why: a BPF link lives as long as a file descriptor or a pin holds it. A `kill -9` closes the
//! daemon's descriptors, and pins live in a bpffs mount, which `ip netns exec` (a private mount
//! namespace with a fresh /sys), `unshare -m` or a host without /sys/fs/bpf take away with the
//! process. An rtnetlink attachment belongs to the interface: it stays until someone detaches it
//! or the interface goes, however the daemon was started and however it died. The program's maps
//! live as long as the program, so `havip stats` finds them through the interface
//! ([`havip_on_links`]) and the next run finds what a crashed one left the same way.
//!
//! The price: any process with CAP_NET_ADMIN can replace an rtnetlink attachment, where a BPF
//! link refuses that. havip attaches with `XDP_FLAGS_UPDATE_IF_NOEXIST` (it never replaces a
//! program it did not load) and detaches with `XDP_FLAGS_REPLACE` and its own program as the
//! expected one (it never removes someone else's).

use std::os::fd::{AsRawFd as _, BorrowedFd};

use anyhow::{anyhow, bail, Context as _, Result};
use futures::TryStreamExt as _;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage, LinkXdp, XdpAttached};

use super::Attached;
use crate::net::netlink::Netlink;

/// `XDP_FLAGS_*` of linux/if_link.h.
const XDP_FLAGS_UPDATE_IF_NOEXIST: u32 = 1 << 0;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const XDP_FLAGS_REPLACE: u32 = 1 << 4;

fn mode_flags(mode: Attached) -> u32 {
    match mode {
        Attached::Native => XDP_FLAGS_DRV_MODE,
        Attached::Skb => XDP_FLAGS_SKB_MODE,
    }
}

/// An XDP program attached to an interface of this network namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpOnLink {
    pub ifindex: u32,
    pub ifname: String,
    pub prog_id: u32,
    pub mode: Attached,
}

/// Attaches `prog` to interface `ifindex` in `mode`, unless an XDP program is attached already
/// (in any mode): the kernel's answer is returned as an error with its errno.
pub async fn attach(
    nl: &Netlink,
    ifindex: u32,
    prog: BorrowedFd<'_>,
    mode: Attached,
) -> std::result::Result<(), rtnetlink::Error> {
    set_xdp(
        nl,
        ifindex,
        vec![
            LinkXdp::Fd(prog.as_raw_fd()),
            LinkXdp::Flags(XDP_FLAGS_UPDATE_IF_NOEXIST | mode_flags(mode)),
        ],
    )
    .await
}

/// Attaches `prog` to interface `ifindex` in `mode` in the place of `old`, if `old` is still
/// the program attached there (`XDP_FLAGS_REPLACE`: the kernel checks and swaps the pointer
/// at once, so some program answers at every moment and no other program is replaced).
pub async fn replace(
    nl: &Netlink,
    ifindex: u32,
    prog: BorrowedFd<'_>,
    old: BorrowedFd<'_>,
    mode: Attached,
) -> std::result::Result<(), rtnetlink::Error> {
    set_xdp(
        nl,
        ifindex,
        vec![
            LinkXdp::Fd(prog.as_raw_fd()),
            LinkXdp::ExpectedFd(old.as_raw_fd() as u32),
            LinkXdp::Flags(XDP_FLAGS_REPLACE | mode_flags(mode)),
        ],
    )
    .await
}

/// Detaches `prog` from `ifindex` if it is still the program attached there in `mode`.
pub async fn detach(
    nl: &Netlink,
    ifindex: u32,
    prog: BorrowedFd<'_>,
    mode: Attached,
) -> Result<()> {
    set_xdp(
        nl,
        ifindex,
        vec![
            LinkXdp::Fd(-1),
            LinkXdp::ExpectedFd(prog.as_raw_fd() as u32),
            LinkXdp::Flags(XDP_FLAGS_REPLACE | mode_flags(mode)),
        ],
    )
    .await
    .map_err(|e| anyhow!(e))
}

/// Detaches whatever program is attached to `ifindex` in `mode` (a crashed run's).
pub async fn detach_any(nl: &Netlink, ifindex: u32, mode: Attached) -> Result<()> {
    set_xdp(
        nl,
        ifindex,
        vec![LinkXdp::Fd(-1), LinkXdp::Flags(mode_flags(mode))],
    )
    .await
    .map_err(|e| anyhow!(e))
}

async fn set_xdp(
    nl: &Netlink,
    ifindex: u32,
    xdp: Vec<LinkXdp>,
) -> std::result::Result<(), rtnetlink::Error> {
    let mut msg = LinkMessage::default();
    msg.header.index = ifindex;
    msg.attributes.push(LinkAttribute::Xdp(xdp));
    nl.handle().link().set(msg).execute().await
}

/// Every XDP program attached to an interface of this network namespace.
pub async fn xdp_on_links(nl: &Netlink) -> Result<Vec<XdpOnLink>> {
    let mut out = Vec::new();
    let mut links = nl.handle().link().get().execute();
    while let Some(msg) = links.try_next().await.context("listing interfaces")? {
        if let Some(x) = xdp_of(&msg) {
            out.push(x);
        }
    }
    Ok(out)
}

/// The XDP program attached to one interface, if any.
pub async fn xdp_on_link(nl: &Netlink, ifindex: u32) -> Result<Option<XdpOnLink>> {
    let mut links = nl.handle().link().get().match_index(ifindex).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(xdp_of(&msg)),
        Ok(None) => Ok(None),
        Err(e) => Err(anyhow!(e)).with_context(|| format!("looking up interface {ifindex}")),
    }
}

fn xdp_of(msg: &LinkMessage) -> Option<XdpOnLink> {
    let mut ifname = String::new();
    let mut xdp = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => ifname = n.clone(),
            LinkAttribute::Xdp(x) => xdp = Some(x),
            _ => {}
        }
    }
    let (mut mode, mut prog_id) = (None, None);
    for x in xdp? {
        match x {
            LinkXdp::Attached(XdpAttached::Driver) => mode = Some(Attached::Native),
            LinkXdp::Attached(XdpAttached::SocketBuffer) => mode = Some(Attached::Skb),
            LinkXdp::ProgId(id) => prog_id = Some(*id),
            _ => {}
        }
    }
    Some(XdpOnLink {
        ifindex: msg.header.index,
        ifname,
        prog_id: prog_id?,
        mode: mode?,
    })
}

/// The XDP program on the peer of veth `ifindex`, looked up in the peer's network namespace
/// (`IFLA_LINK_NETNSID`, then `IFLA_TARGET_NETNSID`); `None` when the peer runs none.
pub async fn veth_peer_xdp(nl: &Netlink, ifindex: u32) -> Result<Option<XdpOnLink>> {
    let mut links = nl.handle().link().get().match_index(ifindex).execute();
    let msg = links
        .try_next()
        .await
        .with_context(|| format!("looking up interface {ifindex}"))?
        .with_context(|| format!("no interface with index {ifindex}"))?;
    let mut peer = None;
    let mut nsid = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::Link(p) => peer = Some(*p),
            LinkAttribute::LinkNetNsId(id) => nsid = Some(*id),
            _ => {}
        }
    }
    let peer = peer.context("the veth does not name its peer")?;
    let mut req = nl.handle().link().get().match_index(peer);
    if let Some(id) = nsid {
        req.message_mut()
            .attributes
            .push(LinkAttribute::IfNetnsId(id));
    }
    let mut peers = req.execute();
    match peers.try_next().await {
        Ok(Some(msg)) => Ok(xdp_of(&msg)),
        Ok(None) => bail!("the veth's peer (index {peer}) was not found"),
        Err(e) => Err(anyhow!(e)).context("looking up the veth's peer in its namespace"),
    }
}

/// The name the kernel keeps for program `id` (at most 15 bytes), if it still exists.
pub fn prog_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_string))
}

/// The XDP programs of havip's (by program name) attached in this network namespace.
pub async fn havip_on_links(nl: &Netlink) -> Result<Vec<XdpOnLink>> {
    Ok(xdp_on_links(nl)
        .await?
        .into_iter()
        .filter(|x| prog_name(x.prog_id).as_deref() == Some(havip_ebpf::prog::XDP))
        .collect())
}

/// [`havip_on_links`] for callers without a runtime (`havip stats`, tests): runs it on a
/// current-thread runtime of its own, in the calling thread's network namespace.
pub fn havip_on_links_blocking() -> Result<Vec<XdpOnLink>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    rt.block_on(async {
        let nl = Netlink::new()?;
        havip_on_links(&nl).await
    })
}
