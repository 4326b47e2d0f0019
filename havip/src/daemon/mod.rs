//! The daemon: the only place with tokio, signals and clock reads. It sets the node up (XDP,
//! VIP entries, addresses), keeps the heartbeat, and tears everything down on SIGINT/SIGTERM,
//! or on an error half-way through set-up, so that no VIP or XDP program is left by mistake.

mod lock;

use std::time::Duration;

use anyhow::{Context as _, Result};
use havip_ebpf::{VipKey, VipState, VIP_OWNED};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{info, warn};

use crate::{
    cli::RunArgs,
    dataplane::{cleanup_stale, default_pin_dir, Dataplane},
    net::netlink::{Link, Netlink},
    privs,
};

/// How long the XDP program keeps answering for an owned VIP after the daemon's last heartbeat,
/// and how often the daemon beats. A `kill -9` silences the node's ARP within `max_age`.
#[derive(Clone, Copy, Debug)]
pub struct Liveness {
    pub max_age: Duration,
    pub beat_every: Duration,
}

impl Liveness {
    /// Without an election: answers stop one second after the daemon dies.
    pub const STATIC: Liveness = Liveness {
        max_age: Duration::from_secs(1),
        beat_every: Duration::from_millis(100),
    };
}

pub fn run(args: RunArgs) -> Result<()> {
    privs::check_run_privileges()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run_async(args))
}

async fn run_async(args: RunArgs) -> Result<()> {
    let nl = Netlink::new()?;
    let link = nl.link(&args.iface).await?;
    let pin_dir = default_pin_dir()?;
    let _lock = lock::acquire(&pin_dir)?;
    remove_leftovers(&nl, &pin_dir).await?;

    let mut node = Node {
        nl,
        link,
        dp: None,
        vips: Vec::new(),
        liveness: Liveness::STATIC,
    };
    if let Err(e) = node.setup(&args, &pin_dir).await {
        node.teardown().await;
        return Err(e);
    }
    let result = node.serve().await;
    node.teardown().await;
    result
}

/// What a crashed run left in this namespace: its pinned XDP links (still attached, answering
/// nothing since its heartbeat stopped) and its VIP addresses.
async fn remove_leftovers(nl: &Netlink, pin_dir: &std::path::Path) -> Result<()> {
    let stale = cleanup_stale(pin_dir).context("removing what a previous run left")?;
    for key in stale {
        let addr = std::net::Ipv4Addr::from(key.addr);
        if nl
            .del_address(key.ifindex, addr.into())
            .await
            .unwrap_or(false)
        {
            warn!(%addr, ifindex = key.ifindex, "removed a VIP left behind by a previous run");
        }
    }
    Ok(())
}

struct Node {
    nl: Netlink,
    link: Link,
    dp: Option<Dataplane>,
    /// VIPs in the XDP map (and, once owned, on the interface).
    vips: Vec<crate::cli::Vip>,
    liveness: Liveness,
}

impl Node {
    /// Attach, then announce the VIPs to the program as not owned (their ARP is dropped), then
    /// add the addresses, then own them: at no point do the kernel and XDP both answer, or
    /// does a VIP sit on the interface unguarded.
    async fn setup(&mut self, args: &RunArgs, pin_dir: &std::path::Path) -> Result<()> {
        let dp = self.dp.insert(Dataplane::load(Some(pin_dir))?);
        let mode = dp.attach(&self.link.name, args.xdp_mode)?;
        info!(iface = %self.link.name, %mode, "XDP program attached");
        dp.beat()?;
        for vip in &args.vips {
            self.vips.push(*vip);
            let (key, state) = (self.key(vip), self.vip_state(false));
            self.dp
                .as_mut()
                .expect("loaded above")
                .set_vip(key, state)?;
        }
        for vip in &args.vips {
            self.nl
                .add_address(self.link.index, vip.addr.into(), vip.prefix_len, None)
                .await
                .with_context(|| format!("adding VIP {vip} to {}", self.link.name))?;
            let (key, state) = (self.key(vip), self.vip_state(true));
            self.dp
                .as_mut()
                .expect("loaded above")
                .set_vip(key, state)?;
            info!(%vip, iface = %self.link.name, "VIP owned");
        }
        Ok(())
    }

    /// Beats until SIGINT or SIGTERM.
    async fn serve(&mut self) -> Result<()> {
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut beat = tokio::time::interval(self.liveness.beat_every);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if let Some(dp) = &mut self.dp {
                        dp.beat()?;
                    }
                }
                _ = sigint.recv() => { info!("SIGINT: stopping"); return Ok(()); }
                _ = sigterm.recv() => { info!("SIGTERM: stopping"); return Ok(()); }
            }
        }
    }

    /// The reverse of `setup`, from wherever it got to: disown (XDP drops), remove the
    /// addresses, detach and unpin. Errors are logged, and teardown goes on.
    async fn teardown(&mut self) {
        let Some(mut dp) = self.dp.take() else { return };
        for vip in &self.vips {
            if let Err(e) = dp.set_vip(self.key(vip), self.vip_state(false)) {
                warn!(%vip, "could not disown VIP in the XDP map: {e:#}");
            }
        }
        for vip in &self.vips {
            match self.nl.del_address(self.link.index, vip.addr.into()).await {
                Ok(true) => info!(%vip, iface = %self.link.name, "VIP removed"),
                Ok(false) => {}
                Err(e) => warn!(%vip, "could not remove VIP: {e:#}"),
            }
        }
        match dp.shutdown() {
            Ok(ifaces) => {
                for iface in ifaces {
                    info!(%iface, "XDP program detached");
                }
            }
            Err(e) => warn!("could not detach the XDP program: {e:#}"),
        }
    }

    fn key(&self, vip: &crate::cli::Vip) -> VipKey {
        VipKey {
            addr: vip.addr.octets(),
            ifindex: self.link.index,
        }
    }

    fn vip_state(&self, owned: bool) -> VipState {
        VipState {
            flags: if owned { VIP_OWNED } else { 0 },
            reserved: 0,
            mac: self.link.mac,
            reserved2: [0; 2],
            max_heartbeat_age_ns: self.liveness.max_age.as_nanos() as u64,
        }
    }
}
