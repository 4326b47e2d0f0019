//! Reload (SIGHUP): the new configuration is read first, on a thread of its own (a file that
//! is slow to read, a FIFO or a network filesystem, once stopped the adverts for as long, and
//! the backup took over); a bad one is logged and the running one kept. Then, on the driver
//! loop: instances whose spec did not change are not touched, those whose priority alone changed
//! take it with their state kept, other changed and removed ones stop,
//! new and changed ones start, provided every one of them can start.

use std::{sync::Arc, time::Instant};

use anyhow::{bail, Result};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::Node;
use crate::{
    model::{DaemonSpec, InstanceSpec},
    notify::{fifo, NotifyState},
};

/// Re-reads the configuration the daemon was started with (SIGHUP), off the election's thread.
pub type Reloader = Arc<dyn Fn() -> Result<DaemonSpec> + Send + Sync>;

/// A configuration being read for a reload, and whether another SIGHUP came meanwhile.
pub(super) struct Reading {
    result: oneshot::Receiver<Result<DaemonSpec>>,
    started: Instant,
    /// A SIGHUP during the read: the file may have changed after it began, so read it again.
    pub(super) again: bool,
}

impl Reading {
    /// Starts `reload` on a thread of its own. Created after `--rt-priority`, the thread runs
    /// as an ordinary one (SCHED_RESET_ON_FORK), below the election. It is not waited for: a
    /// read that never ends (a FIFO nobody writes) must not hold up a stop.
    pub(super) fn start(reload: &Reloader) -> Result<Reading> {
        let (tx, rx) = oneshot::channel();
        let reload = reload.clone();
        std::thread::Builder::new()
            .name("havip-reload".into())
            .spawn(move || {
                let _ = tx.send(reload());
            })
            .map_err(|e| anyhow::anyhow!("starting the reload thread: {e}"))?;
        Ok(Reading {
            result: rx,
            started: Instant::now(),
            again: false,
        })
    }

    /// The read's outcome (for `select!`).
    pub(super) async fn done(&mut self) -> Result<DaemonSpec> {
        match (&mut self.result).await {
            Ok(result) => result,
            Err(_) => bail!("the configuration reader stopped without an answer"),
        }
    }
}

impl Node {
    /// SIGHUP: starts re-reading the configuration off the loop (see [`Node::on_read`]); one
    /// read at a time, and one more if SIGHUP comes again meanwhile.
    pub(super) fn on_sighup(&mut self, reload: Option<&Reloader>, reading: &mut Option<Reading>) {
        let Some(reload) = reload else {
            // Told even when there is nothing to reload: a service manager waiting for the
            // answer to its SIGHUP gets one.
            super::service::reloading();
            warn!("SIGHUP: havip was started without --config; nothing to reload");
            super::service::ready();
            return;
        };
        if let Some(r) = reading {
            info!(
                reading_for = ?r.started.elapsed(),
                "SIGHUP: the configuration is still being read; it will be read again after"
            );
            r.again = true;
            return;
        }
        info!("SIGHUP: reloading the configuration");
        super::service::reloading();
        match Reading::start(reload) {
            Ok(r) => *reading = Some(r),
            Err(e) => {
                error!("reload refused, the running configuration stays: {e:#}");
                super::service::ready();
            }
        }
    }

    /// The configuration read for a reload: a bad one is logged and the running one kept;
    /// otherwise applied, on the loop.
    pub(super) async fn on_read(&mut self, read: Result<DaemonSpec>) {
        match read {
            Err(e) => error!("reload refused, the running configuration stays: {e:#}"),
            Ok(mut new) => {
                crate::bgp::normalize(&mut new);
                // An instance whose interface is gone, or has no address of its own, starts
                // in FAULT and waits for it, as at start-up. What `add_instance` refuses is
                // refused before anything stops.
                if let Err(e) = self.can_start(&new).await {
                    error!("reload refused, the running configuration stays: {e:#}");
                } else if let Err(e) = self.set_firewall(&new).await {
                    error!("reload refused, the running configuration stays: {e:#}");
                } else if let Err(e) = self.hooks.notifier.fifos.set(&new.notify_fifos) {
                    error!("reload refused, the running configuration stays: {e:#}");
                } else if let Err(e) = self.follow_files(&new) {
                    error!("reload refused, the running configuration stays: {e:#}");
                } else if let Err(e) = {
                    self.replace_bfds(&new.bfds);
                    // The mode first: the instances the reload starts are anycast or not.
                    self.bgp_spec = new.bgp.clone();
                    let r = self.reload(&new).await;
                    // The speaker follows what did start, even after a half-way failure.
                    if let Err(e) = self.replace_bgp(&new) {
                        error!("reload: BGP: {e:#}");
                    }
                    r
                } {
                    error!("reload failed half-way: {e:#}");
                } else if new.fifo_states_on_reload {
                    self.write_states_to_fifos();
                }
            }
        }
        // The reload is over, applied or not (the service manager sent SIGHUP and waits).
        super::service::ready();
    }

    /// Tracked files the reload changes are followed anew (their `init_file` written, their
    /// numbers read again) before anything else changes; the verdicts follow in `reload`.
    fn follow_files(&mut self, new: &DaemonSpec) -> Result<()> {
        if new.track_files != self.health.files {
            super::health::HealthState::init_files(&new.track_files)?;
            self.health.start_files(&new.track_files)?;
            info!(
                files = new.track_files.len(),
                "reload: tracked files followed anew"
            );
        }
        Ok(())
    }

    /// keepalived `fifo_write_vrrp_states_on_reload`: every instance's state, changed by the
    /// reload or not, written to the notify FIFOs (only there: no hook runs for it).
    fn write_states_to_fifos(&self) {
        for inst in &self.instances {
            let Some(r) = &inst.router else { continue };
            if let Some(state) = NotifyState::from_state(r.state()) {
                self.hooks.notifier.fifos.write(&fifo::line(
                    "INSTANCE",
                    &inst.spec.name,
                    state.as_str(),
                    r.effective_priority(),
                ));
            }
        }
    }

    /// SIGHUP: moves to `new`. Instances whose spec did not change keep their state (no VIP
    /// flap, no extra GARP); changed ones are stopped and started anew; removed ones stop; new
    /// ones start. The XDP mode and advert path need a restart (a warning says so).
    pub async fn reload(&mut self, new: &DaemonSpec) -> Result<()> {
        if new.xdp_mode != self.xdp_mode || new.advert_path != self.advert_path {
            warn!("reload: --xdp-mode and --advert-path changes take effect at the next restart");
        }
        if super::node::StartOnly::of(new) != self.start_only {
            warn!("reload: startup_script, shutdown_script, vrrp_startup_delay, net_namespace, static_ipaddress, static_routes and static_rules changes take effect at the next restart");
        }
        self.health.sync_groups = new.sync_groups.clone();
        // Whom scripts and hooks run as, and whether insecure ones are refused, follow the file
        // (checks get the new user through `replace_scripts`; hooks here).
        self.hooks.notifier.user = new.script_user.clone();
        crate::track::security::set_enforced(new.script_security);
        self.ifaces.vip_addrs = super::node::all_vips(new);
        // A reload is the operator's "try again" for VIPs that could not be held.
        for inst in &mut self.instances {
            inst.vip_fault = None;
        }
        if new.scripts != self.health.scripts {
            // Instances tracking the checks keep their state until the first results.
            self.health.replace_scripts(&new.scripts).await?;
            info!(
                checks = self.health.scripts.len(),
                "reload: health checks restarted"
            );
        }
        // Only the priority changed: the new one takes effect through the health verdict below,
        // with the state kept (keepalived's reload does the same; stopping the instance made a
        // master send priority 0 and take its VIP back a Master_Down_Interval later).
        for inst in &mut self.instances {
            if let Some(n) = new.instances.iter().find(|n| priority_only(&inst.spec, n)) {
                info!(
                    instance = %n.name,
                    from = inst.spec.vrrp.as_ref().map(|v| v.priority),
                    to = n.vrrp.as_ref().map(|v| v.priority),
                    "reload: priority changed, state kept"
                );
                inst.spec = n.clone();
            }
        }
        let mut i = 0;
        while i < self.instances.len() {
            let keep = new.instances.iter().any(|n| *n == self.instances[i].spec);
            if keep {
                i += 1;
            } else {
                info!(instance = %self.instances[i].spec.name, "reload: stopping (changed or removed)");
                self.remove_instance(i).await?;
            }
        }
        let now = Instant::now();
        for inst in &new.instances {
            if self.instances.iter().any(|i| i.spec == *inst) {
                continue;
            }
            info!(instance = %inst.name, "reload: starting");
            self.add_instance(inst).await?;
            let i = self.instances.len() - 1;
            self.start_instance(i, now).await;
        }
        self.apply_health_all().await;
        self.apply_heartbeat_ages();
        if self.has_routing() && !self.watching_routing {
            warn!("reload: routes and rules deleted by another agent are added back from the next restart (the first virtual or static ones came with this reload)");
        }
        info!(instances = self.instances.len(), "reload done");
        Ok(())
    }

    /// What `add_instance` would refuse for an instance of `new` that (re)starts: VIPs without
    /// VRRP on an interface that does not exist, or an interface whose only addresses are the
    /// instance's VIPs.
    async fn can_start(&self, new: &DaemonSpec) -> Result<()> {
        let vips = super::node::all_vips(new);
        for inst in &new.instances {
            if self
                .instances
                .iter()
                .any(|i| i.spec == *inst || priority_only(&i.spec, inst))
            {
                continue; // Unchanged, or only its priority: not restarted.
            }
            let index = match self.ifaces.find(&inst.iface) {
                Some(i) if self.ifaces.get(&i).is_some_and(|x| x.present) => Some(i),
                Some(_) => None,
                None => self.nl.find_link(&inst.iface).await?.map(|l| l.index),
            };
            match index {
                None if inst.vrrp.is_none() => bail!(
                    "instance {}: interface {} does not exist: VIPs without VRRP are added at \
                     once, so their interface must be there",
                    inst.name,
                    inst.iface
                ),
                Some(index) if inst.vrrp.is_some() => {
                    self.refuse_vip_only(inst, index, &vips).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stops instance `i` (a master says priority 0 and releases its VIPs) and forgets it, in
    /// XDP too.
    async fn remove_instance(&mut self, i: usize) -> Result<()> {
        if let Some(r) = &mut self.instances[i].router {
            r.shutdown(Instant::now());
        }
        self.drain(i).await;
        self.disown(i).await?;
        self.forget_entries(i)?;
        self.instances.remove(i);
        Ok(())
    }
}

/// Whether `new` is `old` with another priority, neither of them the address owner's 255
/// (whose semantics differ: it takes over at once and ignores tracking).
fn priority_only(old: &InstanceSpec, new: &InstanceSpec) -> bool {
    let (Some(a), Some(b)) = (&old.vrrp, &new.vrrp) else {
        return false;
    };
    if a.priority == b.priority || a.priority == 255 || b.priority == 255 {
        return false;
    }
    let mut same = new.clone();
    if let Some(v) = &mut same.vrrp {
        v.priority = a.priority;
    }
    same == *old
}
