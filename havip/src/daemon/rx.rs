//! Reader tasks: adverts from the XDP ring buffer and from raw VRRP sockets, forwarded to the
//! driver loop over one channel.

use std::sync::Arc;

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::mpsc};
use tracing::warn;

use crate::{
    dataplane::decode_advert_event,
    net::sockets::{V6Meta, VrrpSocketV4, VrrpSocketV6},
};

/// A received advert, from its IP header on.
#[derive(Debug)]
pub struct Incoming {
    pub ifindex: u32,
    pub packet: Vec<u8>,
    /// When XDP saw it (`bpf_ktime_get_ns`), if the event says (ring-buffer path).
    pub xdp_ts_ns: Option<u64>,
    /// From a raw IPv6 socket: `packet` is the VRRP message alone, and this is what the kernel
    /// said of its IPv6 header.
    pub v6: Option<V6Meta>,
}

/// Drains the ring buffer whenever the kernel wakes it.
pub fn spawn_ringbuf_reader(ring: RingBuf<MapData>, tx: mpsc::UnboundedSender<Incoming>) {
    tokio::spawn(async move {
        // SAFETY: the ring buffer is moved in and neither replaced nor closed while registered.
        let mut fd = match unsafe { AsyncFd::register(ring) } {
            Ok(fd) => fd,
            Err(e) => {
                warn!("cannot poll the advert ring buffer: {e}; adverts go unread");
                return;
            }
        };
        loop {
            let Ok(mut guard) = fd.readable_mut().await else {
                return;
            };
            let ring = guard.get_inner_mut();
            while let Some(item) = ring.next() {
                let Some(ev) = decode_advert_event(&item) else {
                    continue;
                };
                let len = usize::from(ev.len).min(ev.data.len());
                let msg = Incoming {
                    ifindex: ev.ifindex,
                    packet: ev.data[..len].to_vec(),
                    xdp_ts_ns: Some(ev.ts_ns),
                    v6: None,
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            guard.clear_ready();
        }
    });
}

/// Reads a raw VRRP socket (adverts XDP passed to the stack) until aborted.
pub fn spawn_socket_reader(
    ifindex: u32,
    socket: Arc<VrrpSocketV4>,
    tx: mpsc::UnboundedSender<Incoming>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            match socket.recv(&mut buf).await {
                Ok(n) => {
                    let msg = Incoming {
                        ifindex,
                        packet: buf[..n].to_vec(),
                        xdp_ts_ns: None,
                        v6: None,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("VRRP socket: {e:#}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Reads a raw IPv6 VRRP socket (adverts XDP passed to the stack) until aborted.
pub fn spawn_socket_reader_v6(
    ifindex: u32,
    socket: Arc<VrrpSocketV6>,
    tx: mpsc::UnboundedSender<Incoming>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            match socket.recv(&mut buf).await {
                Ok((n, meta)) => {
                    let msg = Incoming {
                        ifindex,
                        packet: buf[..n].to_vec(),
                        xdp_ts_ns: None,
                        v6: Some(meta),
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("IPv6 VRRP socket: {e:#}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}
