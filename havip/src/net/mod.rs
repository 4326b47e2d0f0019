//! The daemon's side doors to the kernel besides BPF: rtnetlink (interfaces, addresses).

pub mod netlink;
pub mod sockets;
