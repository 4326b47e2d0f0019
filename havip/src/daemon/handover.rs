//! Hitless restart: a master's daemon hands over to the next process instead of giving the VIPs
//! up. Asked to (`havip handover`, which havip.service's `ExecStop=` runs when systemd's job is
//! a restart), it leaves its masters' VIPs on the interface and its XDP program attached and
//! answering, writes what it hands over to `/run/havip/<ns>.handover`, and exits without a
//! priority-0 advert. The next process, started within one advert interval (the old program
//! answers for two, and the backups wait at least three), finds the file, keeps those
//! VIPs, declares them owned in its own program, puts its program in the old one's place in
//! one netlink call (no moment without an answering program), and resumes as master with an
//! advert at once ([`crate::vrrp::VirtualRouter::resume_master`]). ARCHITECTURE.md, "Hitless
//! restart", says why it is built this way.

use std::{
    net::IpAddr,
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;
use tracing::{error, info, warn};

use super::Node;
use crate::{dataplane::Attached, model::DaemonSpec, net::netlink::Netlink, vrrp::State};

/// A handover older than this is not taken: the backups have taken over long since.
const MAX_AGE: Duration = Duration::from_secs(30);

/// What a daemon handed over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    /// The process that handed over (it must be gone before its state is taken).
    pub pid: u32,
    /// When it was written, in ms since the Unix epoch.
    pub written_ms: u64,
    pub instances: Vec<Handed>,
}

/// One master instance handed over: its VIPs are on `ifindex` and the program `prog_id`
/// attached there answers ARP for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handed {
    pub name: String,
    /// The interface as configured.
    pub iface: String,
    pub ifindex: u32,
    pub vrid: u8,
    pub vips: Vec<IpAddr>,
    pub prog_id: u32,
    /// The attachment's mode: the new program takes the old one's place in the same mode.
    pub native: bool,
    /// How long after the handover (its advert and heartbeat) the next process may take it:
    /// one advert interval, which leaves it another to put its program in place before the old
    /// one's heartbeat is stale (two intervals), and two to advertise before any backup's
    /// Master_Down_Interval (at least three) ends. Later, it starts afresh.
    pub adopt_within_ms: u64,
}

impl Handed {
    pub fn mode(&self) -> Attached {
        if self.native {
            Attached::Native
        } else {
            Attached::Skb
        }
    }
}

fn path(ns: &str) -> PathBuf {
    std::path::Path::new(crate::control::RUN_DIR).join(format!("{ns}.handover"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes what this process hands over (atomically: a reader never sees half of it).
pub fn write(ns: &str, instances: Vec<Handed>) -> Result<()> {
    let h = Handover {
        pid: std::process::id(),
        written_ms: now_ms(),
        instances,
    };
    let path = path(ns);
    let tmp = path.with_extension("handover.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&h)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The handover left for this namespace, if there is one to take: removed either way (it is
/// good once). Refused, with a warning, when it is too old. Call it with the namespace lock
/// held, which the process that wrote it held until it exited.
pub fn take(ns: &str) -> Option<Handover> {
    let path = path(ns);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let h: Handover = match serde_json::from_slice(&bytes) {
        Ok(h) => h,
        Err(e) => {
            warn!(file = %path.display(), "ignoring an unreadable handover: {e}");
            return None;
        }
    };
    let age = Duration::from_millis(now_ms().saturating_sub(h.written_ms));
    if age > MAX_AGE {
        warn!(
            age_s = age.as_secs(),
            "ignoring a handover written too long ago: starting afresh"
        );
        return None;
    }
    // The namespace lock is held by now: the process that wrote it is gone.
    Some(h)
}

/// The handed-over instances this start can adopt: the same instance (name, interface, VRID,
/// VIPs) in `spec`, on the same interface index, with the old program still attached there.
/// The others start afresh (their VIPs are removed as any previous run's).
pub async fn adoptable(h: Handover, spec: &DaemonSpec, nl: &Netlink) -> Vec<Handed> {
    let mut out = Vec::new();
    for x in h.instances {
        let same = spec.instances.iter().any(|s| {
            let mut vips: Vec<IpAddr> = s.vips.iter().map(|v| v.addr).collect();
            let mut theirs = x.vips.clone();
            vips.sort();
            theirs.sort();
            s.name == x.name
                && s.iface == x.iface
                && s.vrrp.as_ref().is_some_and(|v| v.vrid == x.vrid)
                && vips == theirs
        });
        let index = nl.find_link(&x.iface).await.ok().flatten().map(|l| l.index);
        let attached = crate::dataplane::attached_prog(nl, x.ifindex).await;
        let age = crate::dataplane::XdpMaps::of_prog(x.prog_id)
            .ok()
            .and_then(|m| m.heartbeat_age());
        let answering = age.is_some_and(|a| a < Duration::from_millis(x.adopt_within_ms));
        if same && index == Some(x.ifindex) && attached == Some(x.prog_id) && answering {
            info!(instance = %x.name, iface = %x.iface, from_pid = h.pid, "taking over from the previous process: its VIPs stay, it resumes as master");
            out.push(x);
        } else {
            warn!(
                instance = %x.name,
                changed = !same,
                iface_changed = index != Some(x.ifindex),
                program_gone = attached != Some(x.prog_id),
                stale_ms = age.map(|a| a.as_millis() as u64),
                "the previous process handed this instance over, but it cannot be taken (changed, or its program stopped answering: the backups may have taken over): starting afresh"
            );
        }
    }
    out
}

impl Node {
    /// The loop ended on `havip handover` (`asker`'s connection): masters keep their VIPs and
    /// the XDP program stays attached where they are; everything else is released as at a
    /// stop. What is handed over is written for the next process, and `asker` is answered.
    /// If it cannot be written, this is an ordinary stop (priority 0, VIPs released).
    pub(super) async fn hand_over(
        &mut self,
        ns: &str,
        mut asker: tokio::net::UnixStream,
    ) -> Result<()> {
        let Some(dp) = self.dp.as_mut() else {
            self.teardown().await;
            return Ok(());
        };
        let prog_id = dp.prog_id().unwrap_or(0);
        let attachments = dp.attachments();
        // BFD's cap on the heartbeat age is not handed over: the neighbours were asked to wait
        // seconds (`Bfd::hand_over`), and the next process needs two advert intervals.
        for i in 0..self.instances.len() {
            let inst = &mut self.instances[i];
            if inst.max_heartbeat_age != inst.advert_heartbeat_age {
                inst.max_heartbeat_age = inst.advert_heartbeat_age;
                let owned = inst.owned;
                if let Err(e) = self.declare_vips(i, owned) {
                    warn!(instance = %self.instances[i].spec.name, "heartbeat age: {e:#}");
                }
            }
        }
        let mut handed = Vec::new();
        for inst in &self.instances {
            let (Some(r), Some(v)) = (&inst.router, &inst.spec.vrrp) else {
                continue;
            };
            let iface = self.ifaces.get(&inst.ifindex);
            let attached = attachments.iter().find(|a| a.ifindex == inst.ifindex);
            if r.state() != State::Master || !inst.owned || !iface.is_some_and(|i| i.present) {
                continue;
            }
            let Some(a) = attached else { continue };
            handed.push(Handed {
                name: inst.spec.name.clone(),
                iface: inst.spec.iface.clone(),
                ifindex: inst.ifindex,
                vrid: v.vrid,
                vips: inst.spec.vips.iter().map(|v| v.addr).collect(),
                prog_id,
                native: a.mode == Attached::Native,
                // Two advert intervals.
                adopt_within_ms: (inst.advert_heartbeat_age / 2).as_millis() as u64,
            });
        }
        // One advert per handed master now, so the backups' Master_Down_Intervals count
        // from here, and a fresh heartbeat: the old program answers for two intervals.
        for inst in &self.instances {
            let (Some(r), Some(iface)) = (&inst.router, self.ifaces.get(&inst.ifindex)) else {
                continue;
            };
            if handed.iter().any(|h| h.name == inst.spec.name) {
                let addrs: Vec<IpAddr> = inst.spec.vips.iter().map(|v| v.addr).collect();
                let adver_int = r.config().advert_interval;
                if let Err(e) = inst.send_advert(iface, r.effective_priority(), adver_int, &addrs) {
                    warn!(instance = %inst.spec.name, "the handover's advert: {e:#}");
                }
            }
        }
        let Some(dp) = self.dp.as_mut() else {
            return Ok(());
        };
        let _ = dp.beat();
        if let Err(e) = write(ns, handed.clone()) {
            error!("cannot hand over, stopping instead: {e:#}");
            let _ = asker
                .write_all(format!("cannot hand over: {e:#}\n").as_bytes())
                .await;
            self.stop_routers().await;
            self.teardown().await;
            return Ok(());
        }
        // What is not handed over goes as at a stop, without the priority-0 adverts (a
        // backup has none to send; a master not handed over is in no state to).
        for i in 0..self.instances.len() {
            let name = self.instances[i].spec.name.clone();
            if handed.iter().any(|h| h.name == name) {
                continue;
            }
            if let Err(e) = self.disown(i).await {
                warn!(instance = %name, "releasing VIPs: {e:#}");
            }
        }
        let keep: Vec<u32> = handed.iter().map(|h| h.ifindex).collect();
        for a in &attachments {
            if !keep.contains(&a.ifindex) {
                if let Err(e) = self.detach_xdp(a.ifindex).await {
                    warn!(iface = %a.ifname, "could not detach the XDP program: {e:#}");
                }
            }
        }
        if let Some(path) = self.control.take() {
            let _ = std::fs::remove_file(path);
        }
        // Dropped without detaching: the program stays attached and its maps with it.
        self.dp = None;
        for h in &handed {
            info!(instance = %h.name, iface = %h.iface, "handed over as master: VIPs and XDP program left for the next process");
        }
        let _ = asker
            .write_all(format!("handed over, pid {}\n", std::process::id()).as_bytes())
            .await;
        Ok(())
    }
}
