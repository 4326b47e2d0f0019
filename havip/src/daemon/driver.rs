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
use tracing::info;

use super::{reload::Reloader, scrape, service, timer::Timer, Node};

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

impl Node {
    /// Starts the elections and runs until SIGINT/SIGTERM; then the routers shut down (a
    /// priority-0 advert from a master) and their VIPs are released.
    pub async fn serve(&mut self, control: &Path, reload: Option<&Reloader>) -> Result<()> {
        let _ = std::fs::remove_file(control);
        let listener = tokio::net::UnixListener::bind(control)
            .with_context(|| format!("binding the control socket {}", control.display()))?;
        self.control = Some(control.to_path_buf());
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut rx = self.rx.take().context("set up first")?;
        let mut beat = ticker(self.beat_every);
        let (host_tx, mut host_events) = mpsc::unbounded_channel();
        crate::net::netlink::watch_host(host_tx)?;
        let mut sighup = signal(SignalKind::hangup())?;
        let (track_tx, mut track_events) = mpsc::unbounded_channel();
        self.health.set_track_tx(track_tx);
        self.health.start_tracker().await?;
        // Metrics are rendered on a thread of their own from the snapshots published here.
        let (snapshot_tx, snapshot_rx) = watch::channel(self.snapshot());
        let _metrics = match self.metrics_listen {
            Some(addr) => {
                let maps = self.dp.as_ref().context("data plane")?.maps()?;
                Some(scrape::spawn(addr, maps, snapshot_rx)?)
            }
            None => None,
        };
        let mut publish = interval(PUBLISH_EVERY);
        // A veth's peer can lose its XDP program at any time, and native XDP_TX then goes
        // nowhere: checked once a second, replaced by skb mode at once.
        let mut native_check = ticker(NATIVE_RECHECK);
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.start_instance(i, now).await;
        }
        let timer = Timer::new()?;
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
                _ = sigterm.recv() => { info!("SIGTERM: stopping"); break; }
                _ = sighup.recv() => {
                    self.on_sighup(reload).await;
                    if beat.period() != self.beat_every {
                        beat = ticker(self.beat_every);
                    }
                }
                // Timers before packets: a flood of adverts must not delay our own.
                () = timer.wait() => self.on_timers().await,
                _ = beat.tick() => {
                    if let Some(dp) = &mut self.dp {
                        dp.beat()?;
                    }
                }
                Some(msg) = rx.recv() => self.on_advert(msg).await,
                Some(ev) = host_events.recv() => self.on_host(ev).await,
                Some(ev) = track_events.recv() => self.on_track(ev).await,
                _ = publish.tick(), if self.metrics_listen.is_some() => {
                    snapshot_tx.send_replace(self.snapshot());
                }
                Ok((stream, _)) = listener.accept() => self.answer_control(stream),
                _ = watchdog.tick(), if watchdog_every.is_some() => service::watchdog(),
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
        let now = Instant::now();
        for i in 0..self.instances.len() {
            if let Some(r) = &mut self.instances[i].router {
                r.shutdown(now);
            }
            self.drain(i).await;
        }
        self.hooks.wait_for_stops().await;
        Ok(())
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
