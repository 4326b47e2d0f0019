//! havip: a VRRP daemon whose data plane is an XDP program.
//!
//! Layers, from the wire up (see ARCHITECTURE.md):
//! - [`wire`]: packet views and validated representations (Ethernet, ARP, IPv4/IPv6, VRRP v2/v3).
//! - [`vrrp`]: the election as a deterministic, sans-IO state machine.

pub mod dataplane;
pub mod vrrp;
pub mod wire;
