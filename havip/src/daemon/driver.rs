//! The driver loop: one `select!` on the election's thread that feeds the routers with time
//! (one timerfd armed with their earliest deadline), adverts, host and check events and
//! signals, beats the heartbeat, answers the control socket, publishes the snapshot for the
//! metrics thread, and stops everything on SIGINT/SIGTERM. What each input does lives in its
//! room (`rx.rs`, `host.rs`, `health.rs`, `reload.rs`, `instance.rs`).

use std::{path::Path, time::Duration, time::Instant};

use anyhow::{Context as _, Result};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::{mpsc, watch},
    time::{interval, Interval, MissedTickBehavior},
};
use tracing::{error, info};

use super::{
    reload::{Reading, Reloader},
    rx::Incoming,
    scrape, service,
    timer::Timer,
    Node,
};
use crate::vrrp::State;

/// How often native attachments are checked for a way to transmit.
const NATIVE_RECHECK: Duration = Duration::from_secs(1);
/// How often the snapshot is published for the metrics thread.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// A ticker that waits a whole `period` after a late tick rather than bursting.
fn ticker(period: Duration) -> Interval {
    let mut t = interval(period);
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

/// How the loop ended without an error.
pub(super) enum Stop {
    /// SIGINT/SIGTERM: the routers shut down; the caller releases everything.
    Done,
    /// `havip handover` on this connection: nothing was shut down; the caller hands over.
    Handover(tokio::net::UnixStream),
}

impl Node {
    /// Starts the elections and runs until SIGINT/SIGTERM; then the routers shut down (a
    /// priority-0 advert from a master) and their VIPs are released. Or until `havip
    /// handover`, after which nothing is shut down (see `handover.rs`).
    /// `sighup`: registered when the daemon started, so that a SIGHUP during set-up is a
    /// reload once the loop runs, not the signal's default action (the process's end).
    pub(super) async fn serve(
        &mut self,
        control: &Path,
        reload: Option<&Reloader>,
        mut sighup: tokio::signal::unix::Signal,
    ) -> Result<Stop> {
        let listener = tokio::net::UnixListener::from_std(crate::control::bind(control)?)
            .context("registering the control socket")?;
        self.control = Some(control.to_path_buf());
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut rx = self.rx.take().context("set up first")?;
        let mut beat = ticker(self.beat_every);
        let (host_tx, mut host_events) = mpsc::unbounded_channel();
        self.watching_routing = self.has_routing();
        crate::net::netlink::watch_host(host_tx, self.watching_routing)?;
        let (handover_tx, mut handover_rx) = mpsc::channel(1);
        let (track_tx, mut track_events) = mpsc::unbounded_channel();
        self.health.set_track_tx(track_tx);
        // The BFD thread: its sockets opened and its scheduling set before the privileges go
        // (it drops its own).
        let (bfd_tx, mut bfd_events) = mpsc::unbounded_channel();
        self.bfd_tx = Some(bfd_tx.clone());
        if !self.health.bfds.is_empty() {
            let beat = self.bfd_beat()?;
            self.bfd = Some(crate::bfd::Bfd::spawn(
                &self.health.bfds,
                self.bfd_rt_priority,
                bfd_tx,
                Some(beat),
            )?);
        }
        // The metrics thread starts after the drop, so that it inherits the reduced sets
        // (its scrapes open the XDP maps by id: with --metrics-listen CAP_SYS_ADMIN stays).
        let metrics_maps = match self.metrics_listen {
            Some(_) => Some(self.dp.as_ref().context("data plane")?.maps()?),
            None => None,
        };
        self.drop_privileges()?;
        // BIRD starts from a thread that inherits the running set (CAP_NET_BIND_SERVICE kept
        // for its port 179), before any instance can become master.
        self.start_bgp(control)?;
        self.health.start_tracker().await?;
        let files = self.health.files.clone();
        self.health.start_files(&files)?;
        // Metrics are rendered on a thread of their own from the snapshots published here.
        let (snapshot_tx, snapshot_rx) = watch::channel(self.snapshot());
        let _metrics = match (self.metrics_listen, metrics_maps) {
            (Some(addr), Some(maps)) => Some(scrape::spawn(addr, maps, snapshot_rx)?),
            _ => None,
        };
        let mut publish = interval(PUBLISH_EVERY);
        // A veth's peer can lose its XDP program at any time, and native XDP_TX then goes
        // nowhere: checked once a second, replaced by skb mode at once.
        let mut native_check = ticker(NATIVE_RECHECK);
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.start_instance(i, now).await;
        }
        self.catch_up_host().await;
        let timer = Timer::new()?;
        // The configuration being read for a reload, off this thread.
        let mut reading: Option<Reading> = None;
        // Why the loop stopped when it was not asked to: returned after the orderly stop.
        let mut failed: Option<anyhow::Error> = None;
        // systemd's watchdog is fed from this loop only: a stalled loop stops the pings.
        let watchdog_every = service::watchdog_every();
        let mut watchdog = ticker(watchdog_every.unwrap_or(Duration::from_secs(3600)));
        service::ready();
        loop {
            let deadline = self
                .instances
                .iter()
                .filter_map(|i| i.router.as_ref()?.poll_timeout())
                .min();
            timer.arm(deadline)?;
            tokio::select! {
                biased;
                _ = sigint.recv() => { info!("SIGINT: stopping"); break; }
                Some(asker) = handover_rx.recv() => {
                    info!("handover asked for: leaving the VIPs and the XDP program to the next process");
                    service::stopping();
                    drop(snapshot_tx);
                    self.health.stop_tracker().await;
                    if let Some(b) = self.bfd.take() {
                        b.hand_over();
                    }
                    if let Some(b) = self.bgp.take() {
                        tracing::warn!("handover: BIRD is this process's child and stops with it: the BGP routes are withdrawn until the next process's BIRD announces them");
                        b.stop();
                    }
                    return Ok(Stop::Handover(asker));
                }
                _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
                _ = sighup.recv() => self.on_sighup(reload, &mut reading),
                read = async { reading.as_mut().expect("guarded").done().await },
                    if reading.is_some() =>
                {
                    let again = reading.take().is_some_and(|r| r.again);
                    self.on_read(read).await;
                    if beat.period() != self.beat_every {
                        beat = ticker(self.beat_every);
                    }
                    if again {
                        self.on_sighup(reload, &mut reading);
                    }
                }
                // Timers before packets: a flood of adverts must not delay our own. Except that
                // a backup about to take over first reads what is already queued (bounded).
                () = timer.wait() => {
                    if self.takeover_due() {
                        self.catch_up(&mut rx).await;
                    }
                    self.on_timers().await
                }
                _ = beat.tick() => {
                    // A heartbeat that cannot be written silences XDP within two advert
                    // intervals anyway: stop the way SIGTERM does (priority 0, VIPs released)
                    // rather than leave with them held.
                    if let Some(Err(e)) = self.dp.as_mut().map(|dp| dp.beat()) {
                        error!("the XDP heartbeat cannot be written, stopping: {e:#}");
                        failed = Some(e);
                        break;
                    }
                    self.beat_gate.last_ns.store(
                        crate::dataplane::monotonic_ns(),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                // Before the adverts: a loop kept busy by a flood is alive, and a watchdog
                // starved by it would have systemd kill a working master (review).
                _ = watchdog.tick(), if watchdog_every.is_some() => service::watchdog(),
                // Before the adverts too: a session to the master going down may be a takeover.
                Some(ev) = bfd_events.recv() => self.on_bfd(ev).await,
                Some(msg) = rx.recv() => self.on_advert(msg).await,
                Some(ev) = host_events.recv() => self.on_host(ev).await,
                Some(ev) = track_events.recv() => self.on_track(ev).await,
                _ = publish.tick(), if self.metrics_listen.is_some() => {
                    snapshot_tx.send_replace(self.snapshot());
                }
                Ok((stream, _)) = listener.accept() => {
                    self.answer_control(stream, handover_tx.clone());
                }
                _ = native_check.tick(), if self.has_native() => {
                    if let Some(dp) = &mut self.dp {
                        dp.recheck_native(&self.nl).await;
                    }
                }
            }
        }
        service::stopping();
        // The metrics thread ends with the channel; it is not waited for (a scrape in flight
        // must not hold up the release of the VIPs).
        drop(snapshot_tx);
        self.health.stop_tracker().await;
        self.stop_routers().await;
        self.stop_bgp();
        self.stop_bfd();
        failed.map_or(Ok(Stop::Done), Err)
    }

    /// Shuts every router down (a master sends priority 0 and releases its VIPs) and waits
    /// for the STOP hooks.
    pub(super) async fn stop_routers(&mut self) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            if let Some(r) = &mut self.instances[i].router {
                r.shutdown(now);
            }
            self.drain(i).await;
        }
        self.hooks.wait_for_stops().await;
    }

    /// Set-up is done (XDP attached, maps loaded, sockets and the control socket open): keeps
    /// only the capabilities the running daemon needs ([`crate::privs::running_set`]), with
    /// `no_new_privs`. Runs on the only thread, before the tracker and the metrics thread.
    fn drop_privileges(&self) -> Result<()> {
        let needs = crate::privs::Needs {
            mlock: self.mlock,
            // BIRD, started after the drop, binds BGP's port 179.
            low_port: self.metrics_listen.is_some_and(|a| a.port() < 1024)
                || self.bgp_spec.is_some(),
            metrics: self.metrics_listen.is_some(),
        };
        // The BFD thread dropped its own.
        let threads = crate::privs::thread_count() - usize::from(self.bfd.is_some());
        if threads > 1 {
            tracing::warn!(
                threads,
                "capabilities are dropped on this thread only: the other threads keep theirs"
            );
        }
        let dropped = crate::privs::drop_after_setup(crate::privs::running_set(needs))
            .context("dropping the capabilities set-up needed")?;
        info!(
            keep = %crate::privs::names(dropped.kept),
            bounding_set = dropped.bounded,
            "capabilities dropped after set-up (no_new_privs)"
        );
        Ok(())
    }

    /// Whether a backup's Master_Down_Timer is due: it would take over now.
    fn takeover_due(&self) -> bool {
        let now = Instant::now();
        self.instances.iter().any(|inst| {
            inst.router.as_ref().is_some_and(|r| {
                r.state() == State::Backup && r.poll_timeout().is_some_and(|t| t <= now)
            })
        })
    }

    /// Reads the adverts that arrived but are not handled yet, before a backup takes over.
    /// After a stall (SIGSTOP, a VM pause, the CPU taken) the timer is overdue and the
    /// master's adverts are waiting in the ring buffer: firing first made the backup master for
    /// a millisecond, and its GARP burst pulled the clients to it just as it stepped down
    /// (found by the chaos lab). One yield lets the reader tasks move what is ready into the
    /// channel; at most `CATCH_UP` are handled, so a flood cannot hold the timers.
    async fn catch_up(&mut self, rx: &mut mpsc::UnboundedReceiver<Incoming>) {
        const CATCH_UP: usize = 256;
        tokio::task::yield_now().await;
        for _ in 0..CATCH_UP {
            let Ok(msg) = rx.try_recv() else { break };
            self.on_advert(msg).await;
        }
    }

    /// The timerfd fired: every router whose deadline has come handles it.
    async fn on_timers(&mut self) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            let Some(r) = &mut self.instances[i].router else {
                continue;
            };
            if r.poll_timeout().is_some_and(|t| t <= now) {
                r.handle_timeout(now);
                self.drain(i).await;
            }
        }
    }
}
