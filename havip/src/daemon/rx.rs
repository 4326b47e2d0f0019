//! Adverts coming in: reader tasks (the XDP ring buffer, raw VRRP sockets) forward them to
//! the driver loop over one channel; there each goes to the instance it is for, decoded
//! (`advert.rs`), timed (XDP to the election), and handed to its router.

use std::{collections::VecDeque, sync::Arc, time::Instant};

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::mpsc};
use tracing::{debug, warn};

use super::{advert, instance::vrid_key, Node};
use crate::{
    control::LatencySummary,
    dataplane::{decode_advert_event, monotonic_ns},
    net::sockets::{V6Meta, VrrpSocketV4, VrrpSocketV6},
    vrrp::{AdvertOutcome, State},
};

/// How many delivery-latency samples the snapshot summarises.
const DELIVERY_SAMPLES: usize = 4096;
/// On the socket path, one advert in this many is timed (it costs a map read).
const DELIVERY_SAMPLE_EVERY: u64 = 8;

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

/// Advert delivery latency, XDP to the election: the last [`DELIVERY_SAMPLES`] samples.
#[derive(Default)]
pub(super) struct Delivery {
    /// Recent delivery latencies, nanoseconds.
    samples_ns: VecDeque<u64>,
    /// Adverts handled so far (for sampling on the socket path).
    handled: u64,
}

impl Delivery {
    /// Counts one advert; whether this one is to be timed when XDP's time is not in hand.
    fn count_and_pick(&mut self) -> bool {
        self.handled += 1;
        self.handled.is_multiple_of(DELIVERY_SAMPLE_EVERY)
    }

    fn record(&mut self, ns: u64) {
        if self.samples_ns.len() == DELIVERY_SAMPLES {
            self.samples_ns.pop_front();
        }
        self.samples_ns.push_back(ns);
    }

    pub fn summary(&self) -> Option<LatencySummary> {
        let samples: Vec<u64> = self.samples_ns.iter().copied().collect();
        LatencySummary::from_ns(&samples)
    }
}

impl Node {
    /// An advert from a reader: to the instance it is for (by interface, family and VRID),
    /// decoded, timed, and handed to its router; the router's actions follow.
    pub(super) async fn on_advert(&mut self, msg: Incoming) {
        let Some((vrid, v6)) = advert::peek(&msg.packet, msg.v6.as_ref()) else {
            return;
        };
        let Some(i) = self.instances.iter().position(|inst| {
            inst.ifindex == msg.ifindex
                && inst.is_v6() == v6
                && inst.spec.vrrp.as_ref().is_some_and(|v| v.vrid == vrid)
        }) else {
            return; // Another router's VRID (passed by XDP to the stack).
        };
        if self.anycast(i) {
            return; // No election in anycast: every healthy node announces.
        }
        let now = Instant::now();
        let inst = &mut self.instances[i];
        let rx = match advert::decode(&msg.packet, msg.v6.as_ref(), inst.checksum) {
            Ok(rx) => rx,
            Err(e) => {
                inst.malformed += 1;
                debug!(instance = %inst.spec.name, "malformed advert: {e}");
                return;
            }
        };
        // Delivery latency, XDP to the election: the ring-buffer event carries XDP's time; for
        // the socket path, XDP's record of the router's last advert (VRID_SEEN) does, at the
        // price of a map read: done for one advert in DELIVERY_SAMPLE_EVERY.
        let handled_ns = monotonic_ns();
        let pick = self.delivery.count_and_pick();
        let xdp_ts = msg.xdp_ts_ns.or_else(|| {
            if !pick {
                return None;
            }
            let key = vrid_key(msg.ifindex, vrid, v6);
            self.dp.as_ref()?.vrid_seen(&key).ok().map(|s| s.ts_ns)
        });
        if let Some(ts) = xdp_ts.filter(|ts| *ts > 0 && *ts <= handled_ns) {
            self.delivery.record(handled_ns - ts);
        }
        let inst = &mut self.instances[i];
        let router = inst.router.as_mut().expect("VRRP instance");
        let followed = router.master_addr();
        let lower_before = router.counters().lower_priority_received;
        let outcome = router.handle_advert(now, &rx);
        let heard_lower = router.counters().lower_priority_received > lower_before;
        debug!(instance = %inst.spec.name, from = %rx.src, priority = rx.priority, ?outcome, "advert handled");
        // The master this backup follows gets its own lane in XDP's rate limits: an advert the
        // election took as its master's (not a lower-priority one it ignores to preempt).
        // Without preemption any advert is taken: the lane then moves only to a priority at
        // least ours or to the master already followed, so one spoofed low-priority advert
        // does not take the lane from the real master (review).
        let follows = matches!(outcome, AdvertOutcome::Accepted { .. })
            && router.state() == State::Backup
            && rx.priority != 0
            && (rx.priority >= router.effective_priority()
                || (!router.config().preempt && followed == Some(rx.src)));
        if follows {
            let interval = router.master_adver_int().duration();
            let key = vrid_key(msg.ifindex, vrid, v6);
            if let Some(Err(e)) = self
                .dp
                .as_mut()
                .map(|dp| dp.set_vrid_master(key, Some(rx.src), interval))
            {
                warn!(instance = %inst.spec.name, "giving the master its lane in XDP: {e:#}");
            }
        }
        if heard_lower {
            self.master_heard_lower(i, now);
        }
        self.drain(i).await;
    }

    /// A master heard a lower-priority advert: keepalived's `notify_master_rx_lower_pri` and
    /// FIFO line. keepalived sends them for every such advert; here at most once per advert
    /// interval, since any host on the LAN can send them (a flood would fork a script each).
    fn master_heard_lower(&mut self, i: usize, now: Instant) {
        let inst = &mut self.instances[i];
        let (Some(router), Some(v)) = (&inst.router, &inst.spec.vrrp) else {
            return;
        };
        let interval = router.config().advert_interval.duration();
        if inst.last_rx_lower.is_some_and(|t| now < t + interval) {
            return;
        }
        inst.last_rx_lower = Some(now);
        self.hooks.notifier.master_rx_lower_pri(
            &v.notify,
            &inst.spec.name,
            router.effective_priority(),
        );
    }
}
