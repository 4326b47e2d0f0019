//! Reload (SIGHUP): the new configuration is read first (a bad one is logged and the running
//! one kept); instances whose spec did not change are not touched, changed and removed ones
//! stop, new and changed ones start.

use std::{net::IpAddr, time::Instant};

use anyhow::{bail, Result};
use tracing::{error, info, warn};

use super::Node;
use crate::model::DaemonSpec;

/// Re-reads the configuration the daemon was started with (SIGHUP).
pub type Reloader = Box<dyn Fn() -> Result<DaemonSpec>>;

impl Node {
    /// SIGHUP: re-reads the configuration; a bad one is logged and the running one kept.
    pub(super) async fn on_sighup(&mut self, reload: Option<&Reloader>) {
        // Told even when there is nothing to reload: a service manager waiting for the
        // answer to its SIGHUP gets one.
        super::service::reloading();
        match reload {
            None => warn!("SIGHUP: havip was started without --config; nothing to reload"),
            Some(reload) => {
                info!("SIGHUP: reloading the configuration");
                self.reload_checked(reload).await;
            }
        }
        super::service::ready();
    }

    /// The new configuration read, checked and applied; what fails is logged.
    async fn reload_checked(&mut self, reload: &Reloader) {
        match reload() {
            Err(e) => error!("reload refused, the running configuration stays: {e:#}"),
            Ok(new) => {
                // What cannot start now is refused before anything stops: a changed instance
                // on an interface that is gone would otherwise be stopped and not come back.
                if let Err(e) = self.can_start(&new).await {
                    error!("reload refused, the running configuration stays: {e:#}");
                    return;
                }
                if let Err(e) = self.reload(&new).await {
                    error!("reload failed half-way: {e:#}");
                }
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
        self.health.sync_groups = new.sync_groups.clone();
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
        self.recompute_beat();
        info!(instances = self.instances.len(), "reload done");
        Ok(())
    }

    /// Whether every instance of `new` that would (re)start has its interface, with an address
    /// of its own in the instance's family for a VRRP one (its advert source).
    async fn can_start(&self, new: &DaemonSpec) -> Result<()> {
        let vips = super::node::all_vips(new);
        for inst in &new.instances {
            if self.instances.iter().any(|i| i.spec == *inst) {
                continue; // Unchanged: not touched.
            }
            let v6 = inst.vips.iter().any(|v| v.addr.is_ipv6());
            let own = match self
                .ifaces
                .find(&inst.iface)
                .and_then(|i| self.ifaces.get(&i))
            {
                Some(iface) if !iface.present => {
                    bail!("instance {}: interface {} is gone", inst.name, inst.iface)
                }
                Some(iface) => iface.own_addr(v6),
                None => {
                    let link = self.nl.link(&inst.iface).await?;
                    let addrs = self.nl.addresses(link.index).await?;
                    let (v4, ll) = super::host::own_addresses(&addrs, &vips, None, None);
                    if v6 {
                        ll.map(IpAddr::V6)
                    } else {
                        v4.map(IpAddr::V4)
                    }
                }
            };
            // Start-up wants one even with unicast_src_ip (the router's own address).
            if inst.vrrp.is_some() && own.is_none() {
                bail!(
                    "instance {}: interface {} has no {} address of its own to send adverts from",
                    inst.name,
                    inst.iface,
                    if v6 { "IPv6 link-local" } else { "IPv4" }
                );
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
