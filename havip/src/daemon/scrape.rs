//! `--metrics-listen`: the Prometheus endpoint, served off the election's thread. The driver
//! loop only publishes its snapshot into a `watch` channel; a thread of its own (with a small
//! current-thread runtime) accepts the scrapes, reads the XDP maps and encodes the text, so a
//! scrape (or a slow or hostile scraper) costs the election nothing but a snapshot clone.
//! The thread ends when the driver loop drops its end of the channel.

use std::{net::SocketAddr, thread::JoinHandle};

use anyhow::{Context as _, Result};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::{control::DaemonSnapshot, dataplane::XdpMaps, metrics, stats};

/// Listens on `addr` (on the caller's thread, so that a bad address fails the start) and
/// serves `/metrics` from a thread of its own: the latest snapshot of `snapshots` beside the
/// counters of `maps`.
pub(super) fn spawn(
    addr: SocketAddr,
    maps: XdpMaps,
    snapshots: watch::Receiver<DaemonSnapshot>,
) -> Result<JoinHandle<()>> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))?;
    listener
        .set_nonblocking(true)
        .context("--metrics-listen: making the listener non-blocking")?;
    // The thread is created after `--rt-priority` made this process SCHED_FIFO, with
    // SCHED_RESET_ON_FORK: it starts as an ordinary thread, below the election.
    let thread = std::thread::Builder::new()
        .name("havip-metrics".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    warn!("metrics: cannot start the runtime: {e}; /metrics is not served");
                    return;
                }
            };
            rt.block_on(serve(listener, maps, snapshots));
        })
        .context("--metrics-listen: starting the metrics thread")?;
    info!(%addr, "serving Prometheus metrics at /metrics");
    Ok(thread)
}

async fn serve(
    listener: std::net::TcpListener,
    maps: XdpMaps,
    mut snapshots: watch::Receiver<DaemonSnapshot>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            warn!("metrics: {e}; /metrics is not served");
            return;
        }
    };
    let latest = snapshots.clone();
    let source = move || {
        let daemon = Some(latest.borrow().clone());
        metrics::render(&stats::with_xdp(daemon, &maps))
    };
    tokio::select! {
        () = metrics::serve(listener, source) => {}
        // The driver loop is done: so is the endpoint.
        () = async { while snapshots.changed().await.is_ok() {} } => {}
    }
}
