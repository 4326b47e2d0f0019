//! havip: a VRRP daemon whose data plane is an XDP program.
//!
//! Layers, from the wire up (see ARCHITECTURE.md):
//! - [`wire`]: packet views and validated representations (Ethernet, ARP, IPv4/IPv6, VRRP v2/v3).
//! - [`vrrp`]: the election as a deterministic, sans-IO state machine.
//! - (Both are the `havip-proto` crate, which has no dependencies — no tokio, no clock, no
//!   sockets — re-exported so `havip::wire` and `havip::vrrp` keep their paths.)
//! - [`dataplane`]: the embedded XDP object, its attachments and maps.
//! - `net`: rtnetlink and raw sockets.
//! - `config`: keepalived.conf and havip's TOML format, read into the daemon's spec.
//! - `daemon`: the tokio driver; the only place with signals and clock reads.
//! - `track`, `notify`, `metrics`: health checks, notify hooks and the Prometheus
//!   exposition, as building blocks the daemon drives.

pub mod app;
pub(crate) mod bfd;
pub(crate) mod bgp;
pub(crate) mod cli;
pub(crate) mod config;
pub mod control;
pub(crate) mod daemon;
pub mod dataplane;
pub(crate) mod doctor;
/// The parser fuzz targets (`fuzz/`, `cargo xtask fuzz-parsers`); not an API.
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod logging;
pub(crate) mod metrics;
pub(crate) mod model;
pub(crate) mod net;
pub(crate) mod notify;
pub(crate) mod privs;
pub mod stats;
#[cfg(test)]
pub(crate) mod testutil;
pub(crate) mod track;
pub(crate) mod version;

pub use havip_proto::{vrrp, wire};
