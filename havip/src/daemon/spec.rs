//! What the daemon runs, whatever it was read from (command line today, config files later):
//! virtual routers ("instances") on interfaces, each with its VIPs.

use std::net::IpAddr;

use crate::{
    dataplane::ModeChoice,
    vrrp::{Centis, GarpConfig, StartState, Version},
    wire::ChecksumMode,
};

/// Everything `havip run` was asked to do.
#[derive(Clone, Debug)]
pub struct DaemonSpec {
    pub instances: Vec<InstanceSpec>,
    pub xdp_mode: ModeChoice,
    pub advert_path: AdvertPath,
}

/// How accepted adverts travel from XDP to the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AdvertPath {
    /// A BPF ring buffer: XDP copies the advert and drops it from the stack.
    Ringbuf,
    /// XDP passes the checked advert to the kernel stack; the daemon reads a raw VRRP socket.
    /// The default: measured faster here (p50 XDP→election 28-45 µs against 42-56 µs for the
    /// ring buffer, `cargo xtask bench adverts`; see ARCHITECTURE.md).
    Socket,
}

/// One virtual router on one interface, or (without `vrrp`) a static owner of its VIPs.
#[derive(Clone, Debug)]
pub struct InstanceSpec {
    /// Name used in logs and stats (keepalived's `vrrp_instance` name).
    pub name: String,
    pub iface: String,
    pub vips: Vec<VipSpec>,
    /// `None`: no election; the VIPs are owned while the daemon runs.
    pub vrrp: Option<VrrpSpec>,
}

/// A virtual address with the prefix length and label it gets on the interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipSpec {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub label: Option<String>,
}

impl std::fmt::Display for VipSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The election parameters of one instance; the primary address is found at run time.
#[derive(Clone, Debug)]
pub struct VrrpSpec {
    pub vrid: u8,
    pub priority: u8,
    pub version: Version,
    pub advert_interval: Centis,
    /// VRRPv2 `auth_type PASS` password, zero-padded to 8 bytes.
    pub auth: Option<[u8; 8]>,
    pub preempt: bool,
    pub preempt_delay: std::time::Duration,
    pub start_as: StartState,
    pub garp: GarpConfig,
    /// VRRPv3 over IPv4: checksum with the pseudo-header (RFC, keepalived 2.2.7) or without.
    pub checksum: ChecksumMode,
}
