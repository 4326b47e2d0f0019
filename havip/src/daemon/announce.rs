//! The VIPs over BGP, on the driver's side: the BGP thread started, told what each announcing
//! instance's state means for its route, reconfigured at a reload, stopped (see `crate::bgp`).

use std::path::Path;

use anyhow::Result;
use tracing::info;

use super::Node;
use crate::{
    bgp::{Announcing, Bgp, Paths},
    control::Announce,
    model::{BgpMode, DaemonSpec},
    vrrp::State,
};

impl Node {
    /// Whether instance `i` is an anycast announcer: no election (its adverts are neither sent
    /// nor heeded), master while healthy.
    pub(super) fn anycast(&self, i: usize) -> bool {
        self.instances[i].spec.bgp_announce
            && self
                .bgp_spec
                .as_ref()
                .is_some_and(|b| b.mode == BgpMode::Anycast)
    }

    /// The instances whose VIPs are announced, for the BGP thread.
    fn announcing(&self) -> Vec<Announcing> {
        self.instances
            .iter()
            .filter(|i| i.spec.bgp_announce)
            .map(|i| Announcing {
                instance: i.spec.name.clone(),
                vips: i.spec.vips.clone(),
            })
            .collect()
    }

    /// Starts the BGP thread and BIRD under it, if there is a `havip_bgp` block. A stalled
    /// election (or a frozen daemon, through the fence) withdraws the routes after the longer
    /// of a second and eight of the election's beats.
    pub(super) fn start_bgp(&mut self, control: &Path) -> Result<()> {
        let Some(spec) = &self.bgp_spec else {
            return Ok(());
        };
        let stale = (self.beat_every * 8).max(crate::bgp::STALE_AFTER);
        self.bgp = Some(Bgp::spawn(
            spec,
            self.announcing(),
            Paths::beside(control),
            self.beat_gate.clone(),
            stale,
        )?);
        Ok(())
    }

    /// Tells the BGP thread what instance `i`'s state means for its route, if that changed:
    /// a master (or a healthy anycast node) announces the best path, a backup the worse one
    /// (or nothing), FAULT, Initialize and a stopped router nothing.
    pub(super) fn announce(&mut self, i: usize) {
        let anycast = self.anycast(i);
        let verdict = if anycast { self.own_verdict(i) } else { None };
        let Some(bgp) = &self.bgp else { return };
        let inst = &mut self.instances[i];
        if !inst.spec.bgp_announce {
            return;
        }
        let mut want = match inst.router.as_ref().map(|r| r.state()) {
            Some(State::Master) if inst.owned => Announce::Primary,
            Some(State::Backup) => Announce::Backup,
            _ => Announce::Withdrawn,
        };
        // Anycast: not before every tracked object has reported (a node just started must
        // not draw its share of the flows before its service is known to be up).
        if anycast && matches!(verdict, Some(crate::track::Verdict::Init(_))) {
            want = Announce::Withdrawn;
        }
        if inst.announced != want {
            inst.announced = want;
            bgp.set(&inst.spec.name, want);
        }
    }

    /// At the end: BIRD shut down (a Cease to each neighbour), after the routers stopped.
    pub(super) fn stop_bgp(&mut self) {
        if let Some(b) = self.bgp.take() {
            b.stop();
        }
    }

    /// A reload: BIRD reconfigured (or started, or stopped), then every instance's route told
    /// again where it changed.
    pub(super) fn replace_bgp(&mut self, new: &DaemonSpec) -> Result<()> {
        self.bgp_spec = new.bgp.clone();
        match (&self.bgp, &self.bgp_spec) {
            (Some(_), None) => {
                info!("reload: no havip_bgp block any more: BIRD stops");
                self.stop_bgp();
            }
            (Some(b), Some(spec)) => b.replace(spec, self.announcing()),
            (None, Some(_)) => {
                // The capabilities were dropped at start without one for port 179.
                tracing::warn!("reload: a BGP block where there was none: BIRD starts, but without CAP_NET_BIND_SERVICE (havip kept none at start): it connects to its neighbours and cannot accept their connections; restart havip to give it port 179");
                let control = self.control.clone().unwrap_or_default();
                self.start_bgp(&control)?;
            }
            (None, None) => {}
        }
        // Told again: a new thread was told nothing yet, a reconfigured one keeps what it
        // has for the instances it still announces (told the same is a no-op).
        for i in 0..self.instances.len() {
            self.instances[i].announced = Announce::Withdrawn;
            self.announce(i);
        }
        Ok(())
    }
}
