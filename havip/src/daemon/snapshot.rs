//! The control snapshot: what `havip stats` (and the metrics) show of the daemon, built from
//! the node's state on the election's thread, and answered on the control socket by a task of
//! its own. The daemon's own states go out typed ([`InstanceState`], [`AdvertPath`],
//! [`XdpMode`]); serde writes them as the names they always had.

use std::time::Duration;

use crate::{
    control::{
        AdvertCounters, AdvertPath, DaemonSnapshot, IfaceSnapshot, InstanceSnapshot, InstanceState,
        XdpAttachmentSnapshot, XdpMode,
    },
    dataplane::Attached,
    model,
    vrrp::{DropReason, State, Version},
    wire::EthernetAddress,
};

use super::Node;

impl Node {
    /// What `havip stats` shows of the daemon.
    pub fn snapshot(&self) -> DaemonSnapshot {
        DaemonSnapshot {
            pid: std::process::id(),
            advert_path: advert_path(self.advert_path),
            instances: (0..self.instances.len())
                .map(|i| self.instance_snapshot(i))
                .collect(),
            advert_delivery: self.delivery.summary(),
            checks: self.health.check_snapshots(),
            bfd: self.bfd.as_ref().map(|b| b.snapshot()),
            bgp: self.bgp.as_ref().map(|b| b.snapshot()),
            xdp: self
                .dp
                .as_ref()
                .map(|dp| dp.attachments())
                .unwrap_or_default()
                .into_iter()
                .map(|a| XdpAttachmentSnapshot {
                    // The name now: havip follows a renamed interface by index.
                    iface: self
                        .ifaces
                        .get(&a.ifindex)
                        .map_or(a.ifname, |i| i.link.name.clone()),
                    mode: xdp_mode(a.mode),
                    fallbacks_to_skb: a.fallbacks_to_skb,
                })
                .collect(),
            interfaces: self
                .ifaces
                .iter()
                .map(|(&index, i)| IfaceSnapshot {
                    name: i.link.name.clone(),
                    configured: i.configured.clone(),
                    ifindex: index,
                    mac: EthernetAddress(i.link.mac).to_string(),
                    present: i.present,
                    up: i.link.up,
                    source_v4: i.primary_v4.map(|a| a.to_string()),
                    source_v6: i.link_local.map(|a| a.to_string()),
                    changes: i.changes.clone(),
                })
                .collect(),
        }
    }

    fn instance_snapshot(&self, i: usize) -> InstanceSnapshot {
        let inst = &self.instances[i];
        let host_fault = self.host_fault(i);
        let iface = self.ifaces[&inst.ifindex].link.name.clone();
        let vips = inst.spec.vips.iter().map(ToString::to_string).collect();
        let Some(r) = &inst.router else {
            return InstanceSnapshot {
                name: inst.spec.name.clone(),
                iface,
                state: InstanceState::Static,
                vips,
                owned: inst.owned,
                host_fault,
                adverts: AdvertCounters {
                    malformed: inst.malformed,
                    ..Default::default()
                },
                ..Default::default()
            };
        };
        let c = r.counters();
        let anycast = self.anycast(i);
        let rejected = c
            .rejected
            .iter()
            .map(|(reason, n)| (drop_reason_name(reason).to_string(), n))
            .collect();
        let cfg = r.config();
        InstanceSnapshot {
            name: inst.spec.name.clone(),
            iface,
            vrid: Some(cfg.vrid),
            version: Some(match cfg.version {
                Version::V2 => 2,
                Version::V3 => 3,
            }),
            state: instance_state(r.state()),
            base_priority: Some(cfg.priority),
            effective_priority: Some(r.effective_priority()),
            master: r.master_addr().map(|a| a.to_string()),
            vips,
            owned: inst.owned,
            host_fault,
            adverts: AdvertCounters {
                // Anycast: the election asks, the driver sends nothing (see `Node::anycast`).
                sent: if anycast { 0 } else { c.adverts_sent },
                priority_zero_sent: if anycast { 0 } else { c.priority_zero_sent },
                received: c.adverts_received,
                priority_zero_received: c.priority_zero_received,
                malformed: inst.malformed,
                address_list_mismatch: c.address_list_mismatch,
                rejected,
                transitions: c.transitions,
                became_master: c.became_master,
                garps_sent: c.garps_sent,
                replies_limited: c.replies_limited,
                garp_bursts_limited: c.garp_bursts_limited,
            },
        }
    }

    /// Serves one control connection, from a task of its own: `stats` (or anything else) gets
    /// the snapshot as JSON; `handover`, from root only, is passed to the loop on `handover`,
    /// which answers it once done.
    pub(super) fn answer_control(
        &self,
        mut stream: tokio::net::UnixStream,
        handover: tokio::sync::mpsc::Sender<tokio::net::UnixStream>,
    ) {
        let body = serde_json::to_vec(&self.snapshot()).unwrap_or_default();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut req = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut req))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            if req[..n].starts_with(crate::control::HANDOVER_REQUEST.as_bytes()) {
                // The socket is mode 0600 already; a handover is root's even so.
                if stream.peer_cred().is_ok_and(|c| c.uid() == 0) {
                    let _ = handover.try_send(stream);
                } else {
                    let _ = stream
                        .write_all(b"refused: handover is for root only\n")
                        .await;
                }
                return;
            }
            let _ = stream.write_all(&body).await;
        });
    }
}

fn instance_state(s: State) -> InstanceState {
    match s {
        State::Initialize => InstanceState::Init,
        State::Backup => InstanceState::Backup,
        State::Master => InstanceState::Master,
        State::Fault => InstanceState::Fault,
    }
}

fn advert_path(p: model::AdvertPath) -> AdvertPath {
    match p {
        model::AdvertPath::Ringbuf => AdvertPath::Ringbuf,
        model::AdvertPath::Socket => AdvertPath::Socket,
    }
}

fn xdp_mode(m: Attached) -> XdpMode {
    match m {
        Attached::Native => XdpMode::Native,
        Attached::Skb => XdpMode::Skb,
    }
}

fn drop_reason_name(r: DropReason) -> &'static str {
    match r {
        DropReason::Ttl => "ttl",
        DropReason::Version => "version",
        DropReason::Vrid => "vrid",
        DropReason::AddressFamily => "address_family",
        DropReason::OwnAdvert => "own_advert",
        DropReason::Auth => "auth",
        DropReason::AddressList => "address_list",
        DropReason::Interval => "interval",
        DropReason::NotPeer => "not_peer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed values keep the names the stats, metrics and labs read (and that `Attached`
    /// prints in the logs).
    #[test]
    fn daemon_states_map_to_their_names() {
        let states = [
            (State::Initialize, "INIT"),
            (State::Backup, "BACKUP"),
            (State::Master, "MASTER"),
            (State::Fault, "FAULT"),
        ];
        for (s, name) in states {
            assert_eq!(instance_state(s).as_str(), name);
        }
        for m in [Attached::Native, Attached::Skb] {
            assert_eq!(xdp_mode(m).as_str(), m.to_string());
        }
        assert_eq!(advert_path(model::AdvertPath::Ringbuf), "ringbuf");
        assert_eq!(advert_path(model::AdvertPath::Socket), "socket");
    }
}
