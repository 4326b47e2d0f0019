//! Prometheus metrics: the numbers `havip stats --json` prints ([`Stats`]), in the Prometheus
//! text exposition format (version 0.0.4), and a minimal HTTP server for `GET /metrics`.
//!
//! [`render`] is pure: it encodes one [`Stats`] snapshot with `prometheus-client`'s
//! `prometheus_text` encoder, through a collector of constant metrics, so nothing is kept
//! between scrapes and the numbers are exactly those of the snapshot. Names follow Prometheus'
//! conventions: `havip_` prefix, counters end in `_total`, base units (seconds); labels
//! `instance`, `iface`, `vrid` (empty for a static owner), `vip`, `reason`... Families with no
//! sample are left out. The list is in `docs/metrics.md`.
//!
//! Wiring (the daemon, `daemon/scrape.rs`): a thread of its own, with its own current-thread
//! runtime, runs `metrics::serve(listener, move || metrics::render(&latest()))`, where
//! `latest()` is the driver loop's last [`DaemonSnapshot`](crate::control::DaemonSnapshot)
//! (a `tokio::sync::watch` channel) beside the XDP counters (`stats::with_xdp`): map reads and
//! encoding never run on the election's thread.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{prometheus_text, DescriptorEncoder, EncodeGaugeValue, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::Registry,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tracing::{debug, warn};

use crate::stats::Stats;

/// The `Content-Type` of [`render`]'s output: `text/plain; version=0.0.4; charset=utf-8`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The instance states [`render`] always reports (1 for the current one, 0 for the others).
pub const STATES: [&str; 5] = ["INIT", "BACKUP", "MASTER", "FAULT", "STATIC"];

/// `stats` in the Prometheus text exposition format, version 0.0.4.
pub fn render(stats: &Stats) -> String {
    let mut registry = Registry::with_prefix("havip");
    registry.register_collector(Box::new(Snapshot(stats.clone())));
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry).expect("writing into a String cannot fail");
    out
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug)]
struct Snapshot(Stats);

/// Writes one family: its HELP and TYPE, then one sample per label set (nothing when empty).
fn family<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    samples: Vec<(Labels, M)>,
) -> fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let mut metric = enc.encode_descriptor(name, help, None, metric_type)?;
    for (labels, m) in &samples {
        m.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<(Labels, u64)>,
) -> fmt::Result {
    let samples = samples
        .into_iter()
        .map(|(l, v)| (l, ConstCounter::new(v)))
        .collect();
    family(enc, name, help, MetricType::Counter, samples)
}

fn gauges<N: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: Vec<(Labels, N)>,
) -> fmt::Result {
    let samples = samples
        .into_iter()
        .map(|(l, v)| (l, ConstGauge::new(v)))
        .collect();
    family(enc, name, help, MetricType::Gauge, samples)
}

fn with(labels: &Labels, more: &[(&'static str, &str)]) -> Labels {
    let mut l = labels.clone();
    l.extend(more.iter().map(|(k, v)| (*k, v.to_string())));
    l
}

/// The BFD sessions: state, intervals, packets, the ways down; the thread's drops.
fn encode_bfd(enc: &mut DescriptorEncoder, b: &crate::control::BfdSnapshot) -> fmt::Result {
    let by = |s: &crate::control::BfdSessionSnapshot| {
        vec![
            ("session", s.name.clone()),
            ("neighbor", s.neighbor.clone()),
        ]
    };
    let all = |f: &dyn Fn(&crate::control::BfdSessionSnapshot) -> u64| -> Vec<(Labels, u64)> {
        b.sessions.iter().map(|s| (by(s), f(s))).collect()
    };
    gauges(
        enc,
        "bfd_session_up",
        "BFD sessions (bfd_instance): 1 while Up, 0 otherwise.",
        all(&|s| u64::from(s.state == "Up")),
    )?;
    gauges(
        enc,
        "bfd_session_state",
        "BFD session state, by RFC 5880 name: 1 for the state it is in.",
        b.sessions
            .iter()
            .map(|s| {
                let mut l = by(s);
                l.push(("state", s.state.clone()));
                (l, 1u64)
            })
            .collect(),
    )?;
    gauges(
        enc,
        "bfd_tx_interval_seconds",
        "How often the session sends now (negotiated, before jitter); absent when it sends \
         nothing periodic.",
        b.sessions
            .iter()
            .filter_map(|s| Some((by(s), s.tx_interval_us? as f64 / 1e6)))
            .collect(),
    )?;
    gauges(
        enc,
        "bfd_detection_time_seconds",
        "How long the neighbour may be silent before the session goes down (negotiated).",
        b.sessions
            .iter()
            .filter_map(|s| Some((by(s), s.detection_time_us? as f64 / 1e6)))
            .collect(),
    )?;
    counters(
        enc,
        "bfd_rx_packets",
        "BFD control packets the session took.",
        all(&|s| s.rx),
    )?;
    counters(
        enc,
        "bfd_tx_packets",
        "BFD control packets the session sent.",
        all(&|s| s.tx),
    )?;
    counters(
        enc,
        "bfd_session_downs",
        "Times the session left Up.",
        all(&|s| s.downs),
    )?;
    counters(
        enc,
        "bfd_detection_expired",
        "Times the detection time ran out (RFC 5880 diag 1): the neighbour went silent.",
        all(&|s| s.detect_expired),
    )?;
    gauges(
        enc,
        "bfd_last_down_info",
        "Why the session last left Up (RFC 5880 diagnostic code and meaning).",
        b.sessions
            .iter()
            .filter_map(|s| {
                let mut l = by(s);
                l.push(("diag", s.last_down.clone()?));
                Some((l, 1u64))
            })
            .collect(),
    )?;
    counters(
        enc,
        "bfd_dropped_packets",
        "Received datagrams no session took, by reason (malformed kinds, ttl, no_session, \
         wrong_source).",
        b.dropped
            .iter()
            .map(|(k, n)| (vec![("reason", k.clone())], *n))
            .collect(),
    )
}

/// The BGP speaker: sessions and announcements.
fn encode_bgp(enc: &mut DescriptorEncoder, b: &crate::control::BgpSnapshot) -> fmt::Result {
    let by = |n: &crate::control::BgpNeighborSnapshot| vec![("neighbor", n.address.clone())];
    let route = |r: &crate::control::BgpRouteSnapshot| vec![("instance", r.instance.clone())];
    gauges(
        enc,
        "bgp_session_established",
        "BGP sessions (havip_bgp neighbours): 1 while Established, 0 otherwise.",
        b.neighbors
            .iter()
            .map(|n| (by(n), u64::from(n.established)))
            .collect(),
    )?;
    counters(
        enc,
        "bgp_sessions_established",
        "Times the session reached Established.",
        b.neighbors
            .iter()
            .map(|n| (by(n), n.established_count))
            .collect(),
    )?;
    gauges(
        enc,
        "bgp_route_announced",
        "The instance's VIPs as announced now: 1 for the kind (primary, backup, withdrawn).",
        b.routes
            .iter()
            .map(|r| {
                let mut l = route(r);
                l.push(("route", r.announce.as_str().to_string()));
                (l, 1u64)
            })
            .collect(),
    )?;
    counters(
        enc,
        "bgp_announcements",
        "Times the instance's VIPs were announced (primary or backup path).",
        b.routes.iter().map(|r| (route(r), r.announced)).collect(),
    )?;
    counters(
        enc,
        "bgp_withdrawals",
        "Times the instance's VIPs were withdrawn.",
        b.routes.iter().map(|r| (route(r), r.withdrawn)).collect(),
    )?;
    gauges(
        enc,
        "bgp_route_last_change_seconds",
        "How long ago the instance's announcement last changed.",
        b.routes
            .iter()
            .filter_map(|r| Some((route(r), r.last_change_ago_ms? as f64 / 1000.0)))
            .collect(),
    )?;
    counters(
        enc,
        "bgp_speaker_restarts",
        "Times BIRD was found dead and started again.",
        vec![(Labels::new(), b.speaker_restarts)],
    )?;
    gauges(
        enc,
        "bgp_fenced",
        "1 while every route is withdrawn because the election stalled.",
        vec![(Labels::new(), u64::from(b.fenced))],
    )
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let enc = &mut enc;
        let stats = &self.0;
        let none = Labels::new();

        gauges(
            enc,
            "daemon_up",
            "Whether a havip daemon answered for this network namespace.",
            vec![(none.clone(), i64::from(stats.daemon.is_some()))],
        )?;
        if let Some(d) = &stats.daemon {
            gauges(
                enc,
                "daemon_info",
                "The running daemon, by advert delivery path (socket or ringbuf).",
                vec![(vec![("advert_path", d.advert_path.to_string())], 1i64)],
            )?;
            let inst: Vec<(Labels, &crate::control::InstanceSnapshot)> = d
                .instances
                .iter()
                .map(|i| {
                    let l = vec![
                        ("instance", i.name.clone()),
                        ("iface", i.iface.clone()),
                        ("vrid", i.vrid.map(|v| v.to_string()).unwrap_or_default()),
                    ];
                    (l, i)
                })
                .collect();
            let mut states = Vec::new();
            for (l, i) in &inst {
                for s in STATES {
                    states.push((with(l, &[("state", s)]), i64::from(i.state == s)));
                }
                if !STATES.contains(&i.state.as_str()) {
                    states.push((with(l, &[("state", i.state.as_str())]), 1));
                }
            }
            gauges(
                enc,
                "instance_state",
                "1 for the state the instance is in, 0 for the others.",
                states,
            )?;
            let each = |f: &dyn Fn(&crate::control::InstanceSnapshot) -> Option<u64>| {
                inst.iter()
                    .filter_map(|(l, i)| f(i).map(|v| (l.clone(), v)))
                    .collect::<Vec<_>>()
            };
            gauges(
                enc,
                "instance_base_priority",
                "The configured VRRP priority.",
                each(&|i| i.base_priority.map(u64::from)),
            )?;
            gauges(
                enc,
                "instance_effective_priority",
                "The priority advertised now: the base moved by tracked checks' weights.",
                each(&|i| i.effective_priority.map(u64::from)),
            )?;
            gauges(
                enc,
                "instance_vips_owned",
                "Whether this node holds the instance's VIPs now.",
                each(&|i| Some(u64::from(i.owned))),
            )?;
            counters(
                enc,
                "instance_transitions",
                "State transitions of the instance.",
                each(&|i| Some(i.adverts.transitions)),
            )?;
            counters(
                enc,
                "instance_became_master",
                "Transitions of the instance to MASTER.",
                each(&|i| Some(i.adverts.became_master)),
            )?;
            counters(
                enc,
                "adverts_sent",
                "VRRP adverts sent, priority-0 ones included.",
                each(&|i| Some(i.adverts.sent)),
            )?;
            counters(
                enc,
                "adverts_priority_zero_sent",
                "Priority-0 adverts sent (a master giving up).",
                each(&|i| Some(i.adverts.priority_zero_sent)),
            )?;
            counters(
                enc,
                "adverts_received",
                "VRRP adverts received by the election.",
                each(&|i| Some(i.adverts.received)),
            )?;
            counters(
                enc,
                "adverts_priority_zero_received",
                "Priority-0 adverts received (the master giving up).",
                each(&|i| Some(i.adverts.priority_zero_received)),
            )?;
            counters(
                enc,
                "adverts_malformed",
                "Adverts that failed to parse (checksum, lengths, address count).",
                each(&|i| Some(i.adverts.malformed)),
            )?;
            counters(
                enc,
                "adverts_address_list_mismatch",
                "Adverts whose address list differs from the instance's VIPs.",
                each(&|i| Some(i.adverts.address_list_mismatch)),
            )?;
            let mut rejected = Vec::new();
            for (l, i) in &inst {
                for (reason, n) in &i.adverts.rejected {
                    rejected.push((with(l, &[("reason", reason)]), *n));
                }
            }
            counters(
                enc,
                "adverts_rejected",
                "Adverts dropped by the election's checks, by reason.",
                rejected,
            )?;
            counters(
                enc,
                "garps_sent",
                "Gratuitous ARPs sent for the instance's VIPs.",
                each(&|i| Some(i.adverts.garps_sent)),
            )?;
            counters(
                enc,
                "replies_limited",
                "Lower-priority or priority-0 adverts a master did not answer: one reply per advert interval.",
                each(&|i| Some(i.adverts.replies_limited)),
            )?;
            counters(
                enc,
                "garp_bursts_limited",
                "GARP bursts not sent: one per garp_lower_prio_delay for lower-priority adverts, one queued at a time.",
                each(&|i| Some(i.adverts.garp_bursts_limited)),
            )?;
            let mut ifaces = Vec::new();
            let mut changes = Vec::new();
            for f in &d.interfaces {
                ifaces.push((
                    vec![
                        ("iface", f.name.clone()),
                        ("configured", f.configured.clone()),
                    ],
                    i64::from(f.present),
                ));
                for (change, n) in f.changes.named() {
                    changes.push((
                        vec![("iface", f.name.clone()), ("change", change.to_string())],
                        n,
                    ));
                }
            }
            gauges(
                enc,
                "iface_present",
                "1 while the interface exists; 0 once deleted, until one of its configured name \
                 appears again.",
                ifaces,
            )?;
            counters(
                enc,
                "host_changes",
                "Changes to the host under havip, by interface and kind (vip_readded, \
                 vip_readd_failed, source_lost, source_returned, mac_changed, renamed, deleted, \
                 reattached).",
                changes,
            )?;
            if let Some(lat) = &d.advert_delivery {
                let q = |q: &str, us: f64| (vec![("quantile", q.to_string())], us / 1e6);
                gauges(
                    enc,
                    "advert_delivery_latency_seconds",
                    "Advert delivery latency from XDP to the daemon over the last samples \
                     (a sliding window, not since start), by quantile.",
                    vec![
                        q("0.5", lat.p50_us),
                        q("0.99", lat.p99_us),
                        q("1", lat.max_us),
                    ],
                )?;
                gauges(
                    enc,
                    "advert_delivery_latency_samples",
                    "Samples in the advert delivery latency window.",
                    vec![(none.clone(), lat.samples as u64)],
                )?;
            }
            gauges(
                enc,
                "check_up",
                "Health checks (vrrp_script, built-in probes): 1 up, 0 down; absent before the \
                 first result.",
                d.checks
                    .iter()
                    .filter_map(|c| Some((vec![("check", c.name.clone())], i64::from(c.healthy?))))
                    .collect(),
            )?;
            if let Some(b) = &d.bgp {
                encode_bgp(enc, b)?;
            }
            if let Some(b) = &d.bfd {
                encode_bfd(enc, b)?;
            }
            gauges(
                enc,
                "xdp_attached",
                "The XDP attachments of the daemon, by interface and mode (native or skb).",
                d.xdp
                    .iter()
                    .map(|x| {
                        (
                            vec![("iface", x.iface.clone()), ("mode", x.mode.to_string())],
                            1i64,
                        )
                    })
                    .collect(),
            )?;
            counters(
                enc,
                "xdp_native_fallbacks",
                "Times native XDP was found unable to transmit while running and replaced by \
                 skb mode.",
                d.xdp
                    .iter()
                    .map(|x| (vec![("iface", x.iface.clone())], x.fallbacks_to_skb))
                    .collect(),
            )?;
        }

        gauges(
            enc,
            "xdp_loaded",
            "Whether havip's XDP program is loaded and its maps readable in this network namespace.",
            vec![(none.clone(), i64::from(stats.xdp.is_some()))],
        )?;
        let Some(x) = &stats.xdp else {
            return Ok(());
        };
        let vips: Vec<(Labels, &crate::stats::VipStats)> = x
            .vips
            .iter()
            .map(|v| (vec![("vip", v.vip.clone()), ("iface", v.iface.clone())], v))
            .collect();
        let per_vip = |f: &dyn Fn(&crate::stats::VipStats) -> u64| {
            vips.iter()
                .map(|(l, v)| (l.clone(), f(v)))
                .collect::<Vec<_>>()
        };
        gauges(
            enc,
            "xdp_vip_owned",
            "Whether the XDP program answers ARP for the VIP (this node owns it).",
            per_vip(&|v| u64::from(v.owned)),
        )?;
        counters(
            enc,
            "xdp_arp_requests",
            "ARP requests for the VIP seen by the XDP program.",
            per_vip(&|v| v.arp_requests),
        )?;
        counters(
            enc,
            "xdp_arp_replies",
            "ARP replies the XDP program sent for the VIP.",
            per_vip(&|v| v.arp_replies),
        )?;
        let mut dropped = Vec::new();
        for (l, v) in &vips {
            dropped.push((with(l, &[("reason", "not_owned")]), v.dropped_not_owned));
            dropped.push((
                with(l, &[("reason", "stale_heartbeat")]),
                v.dropped_stale_heartbeat,
            ));
        }
        counters(
            enc,
            "xdp_arp_dropped",
            "ARP requests for the VIP the XDP program dropped, by reason.",
            dropped,
        )?;

        // IPv6 VIPs: the kernel answers neighbour solicitations; XDP only lets them through.
        let vips6: Vec<(Labels, &crate::stats::VipStats)> = x
            .vips6
            .iter()
            .map(|v| (vec![("vip", v.vip.clone()), ("iface", v.iface.clone())], v))
            .collect();
        let per_vip6 = |f: &dyn Fn(&crate::stats::VipStats) -> u64| {
            vips6
                .iter()
                .map(|(l, v)| (l.clone(), f(v)))
                .collect::<Vec<_>>()
        };
        gauges(
            enc,
            "xdp_vip6_owned",
            "Whether the XDP program lets neighbour solicitations for the IPv6 VIP through.",
            per_vip6(&|v| u64::from(v.owned)),
        )?;
        counters(
            enc,
            "xdp_ns_requests",
            "Neighbour solicitations for the IPv6 VIP seen by the XDP program.",
            per_vip6(&|v| v.arp_requests),
        )?;
        counters(
            enc,
            "xdp_ns_passed",
            "Neighbour solicitations for the IPv6 VIP passed to the kernel to answer.",
            per_vip6(&|v| v.arp_replies),
        )?;
        let mut dropped6 = Vec::new();
        for (l, v) in &vips6 {
            dropped6.push((with(l, &[("reason", "not_owned")]), v.dropped_not_owned));
            dropped6.push((
                with(l, &[("reason", "stale_heartbeat")]),
                v.dropped_stale_heartbeat,
            ));
        }
        counters(
            enc,
            "xdp_ns_dropped",
            "Neighbour solicitations for the IPv6 VIP the XDP program dropped, by reason.",
            dropped6,
        )?;

        let vrids: Vec<(Labels, &crate::stats::VridStats)> = x
            .vrids
            .iter()
            .map(|v| {
                let l = vec![
                    ("iface", v.iface.clone()),
                    ("vrid", v.vrid.to_string()),
                    ("family", v.family.clone()),
                    ("version", v.version.to_string()),
                ];
                (l, v)
            })
            .collect();
        counters(
            enc,
            "xdp_adverts_received",
            "VRRP adverts for the router seen by the XDP program.",
            vrids.iter().map(|(l, v)| (l.clone(), v.received)).collect(),
        )?;
        counters(
            enc,
            "xdp_adverts_from_master",
            "Adverts the XDP program accepted from the master this node follows (their own \
             lane in the rate limits).",
            vrids
                .iter()
                .map(|(l, v)| (l.clone(), v.from_master))
                .collect(),
        )?;
        let mut delivered = Vec::new();
        let mut vrid_dropped = Vec::new();
        for (l, v) in &vrids {
            delivered.push((with(l, &[("path", "ringbuf")]), v.delivered_ringbuf));
            delivered.push((with(l, &[("path", "stack")]), v.passed_to_stack));
            for (reason, n) in [
                ("bad_ttl", v.bad_ttl),
                ("bad_version", v.bad_version),
                ("bad_type", v.bad_type),
                ("truncated", v.truncated),
                ("not_peer", v.not_peer),
                ("rate_limited", v.rate_limited),
            ] {
                vrid_dropped.push((with(l, &[("reason", reason)]), n));
            }
        }
        counters(
            enc,
            "xdp_adverts_delivered",
            "Checked adverts the XDP program handed on, by path (ringbuf, or stack for the raw \
             socket).",
            delivered,
        )?;
        counters(
            enc,
            "xdp_adverts_dropped",
            "Adverts for the router the XDP program dropped, by reason.",
            vrid_dropped,
        )?;
        counters(
            enc,
            "xdp_frames",
            "Frames counted by the XDP program outside any VIP or router, by counter \
             (passed, malformed, arp_not_vip, vrrp_unknown_vrid, vrrp_malformed, \
             vrrp_ringbuf_full).",
            x.global
                .iter()
                .map(|(k, v)| (vec![("counter", k.clone())], *v))
                .collect(),
        )?;
        Ok(())
    }
}

/// How many connections [`serve`] keeps open at once; it closes the others as soon as it
/// accepts them (and counts them). 1100 idle clients once held 1100 descriptors of the
/// daemon: its health checks failed with "Too many open files", FAULT with weight 0.
pub const MAX_CONNECTIONS: usize = 16;

/// How long one connection may take, request in and response out, before it is closed (and
/// counted): a slow or silent client holds one of the [`MAX_CONNECTIONS`] slots no longer.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest request head read, in bytes.
pub const MAX_REQUEST: usize = 8192;

/// What [`serve`] turned away, exposed with every scrape.
#[derive(Debug, Default)]
struct Refusals {
    /// Closed at accept: [`MAX_CONNECTIONS`] were open.
    busy: AtomicU64,
    /// Closed after [`CONNECTION_TIMEOUT`].
    timed_out: AtomicU64,
    /// The request head was over [`MAX_REQUEST`] bytes.
    too_large: AtomicU64,
}

impl Refusals {
    /// The three counters as text-format families, appended to a scrape.
    fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, n) in [
            (
                "havip_metrics_connections_refused_total",
                "Metrics connections closed at once because 16 were open.",
                &self.busy,
            ),
            (
                "havip_metrics_connections_timed_out_total",
                "Metrics connections closed because the exchange took over 2 s.",
                &self.timed_out,
            ),
            (
                "havip_metrics_requests_too_large_total",
                "Metrics requests refused because their head was over 8 KiB.",
                &self.too_large,
            ),
        ] {
            let n = n.load(Ordering::Relaxed);
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}\n"
            ));
        }
        out
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped: `200` with `source()` as a
/// `text/plain; version=0.0.4` body; `405` for other methods on `/metrics`; `404` elsewhere.
/// One request per connection (`Connection: close`). At most [`MAX_CONNECTIONS`] at once (the
/// others are reset as soon as accepted), each closed after [`CONNECTION_TIMEOUT`], heads of
/// [`MAX_REQUEST`] bytes at most; the body ends with the counts of those refusals.
/// `source` is called once per scrape, on the runtime: it must be quick.
pub async fn serve<F>(listener: TcpListener, source: F)
where
    F: Fn() -> String + Send + Sync + 'static,
{
    let source = Arc::new(source);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let refusals = Arc::new(Refusals::default());
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: let descriptors free up instead of spinning.
                warn!("metrics: accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refusals.busy.fetch_add(1, Ordering::Relaxed);
            // A reset, not a FIN: the socket is freed at once rather than lingering in
            // TIME_WAIT, and the client knows it was refused.
            #[expect(
                deprecated,
                reason = "tokio warns that SO_LINGER blocks on drop; with a zero timeout it resets at once"
            )]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
            continue;
        };
        let source = source.clone();
        let refusals = refusals.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(CONNECTION_TIMEOUT, answer(stream, &*source, &refusals))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!("metrics: {e}"),
                Err(_) => {
                    refusals.timed_out.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    source: &(dyn Fn() -> String + Send + Sync),
    refusals: &Refusals,
) -> std::io::Result<()> {
    let head = match read_head(&mut stream).await {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            refusals.too_large.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (status, content_type, body) = match (method, target, version) {
        (Some(m), Some(t), Some(v)) if v.starts_with("HTTP/") => {
            let path = t.split('?').next().unwrap_or_default();
            match (m, path) {
                ("GET" | "HEAD", "/metrics") => {
                    ("200 OK", CONTENT_TYPE, source() + &refusals.render())
                }
                (_, "/metrics") => (
                    "405 Method Not Allowed",
                    "text/plain; charset=utf-8",
                    "/metrics answers GET only\n".to_string(),
                ),
                _ => (
                    "404 Not Found",
                    "text/plain; charset=utf-8",
                    "havip serves its metrics at /metrics\n".to_string(),
                ),
            }
        }
        _ => (
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "not an HTTP request\n".to_string(),
        ),
    };
    let allow = if status.starts_with("405") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != Some("HEAD") {
        resp.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&resp).await?;
    stream.shutdown().await
}

/// The request head, up to the blank line ([`MAX_REQUEST`] bytes at most).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() > MAX_REQUEST {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request head over 8 KiB",
            ));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

#[cfg(test)]
mod tests;
