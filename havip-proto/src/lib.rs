//! havip's protocol core, sans-IO: what VRRP says on the wire and how the election decides,
//! with no sockets, no clock and no async runtime (quinn-proto is the model).
//!
//! - [`bfd`]: BFD Control packets and the session state machine (RFC 5880/5881).
//! - [`wire`]: packet views and validated representations (Ethernet, ARP, IPv4/IPv6, ICMPv6
//!   neighbour advertisements, VRRP v2/v3), and a pcap reader for tests against captures.
//! - [`vrrp`]: the election as a deterministic state machine: inputs stamped with `now`, actions
//!   out, the next deadline to sleep until; the RFC's derived timers
//!   ([`vrrp::master_down_interval`], [`vrrp::skew_time`]) in one place.
//!
//! The crate has no dependencies, and keeps it that way on purpose: `cargo xtask test` fails if
//! `cargo tree -p havip-proto -e normal` shows a crate outside its allow-list (tokio, mio,
//! socket2, libc... never), and this crate's `clippy.toml` forbids reading the clock
//! (`Instant::now`, `SystemTime::now`). The daemon (`havip`) drives it and re-exports both
//! modules as `havip::wire` and `havip::vrrp`.

pub mod bfd;
pub mod vrrp;
pub mod wire;
