//! The daemon's side doors to the kernel besides BPF: rtnetlink (interfaces, addresses), and
//! nftables for Accept_Mode off (`firewall`).

pub mod firewall;
pub mod netlink;
pub mod sockets;
