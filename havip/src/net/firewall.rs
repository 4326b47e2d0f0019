//! Accept_Mode off (keepalived `no_accept`, and `vrrp_strict`'s default below priority 255): a
//! master that is not the address owner drops the traffic sent to its VIPs (RFC 9568 §6.4.3,
//! "MUST NOT accept packets addressed to the IPvX address(es) associated with the virtual
//! router"). Enforced as keepalived 2.2.7 enforces it, with nftables, in a table of havip's own,
//! `inet havip`, that havip creates, replaces as one transaction and deletes, and nothing else
//! (others' tables are never read or touched):
//!
//! ```text
//! table inet havip {
//!     set vips4 { type ipv4_addr; elements = { 192.0.2.100 } }
//!     set vips6 { type ipv6_addr; ... }
//!     set vips6_link_local { type ipv6_addr . ifname; ... }
//!     chain in  { type filter hook input priority -1; policy accept;
//!                 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
//!                 ip daddr @vips4 counter drop; ... }
//!     chain out { type filter hook output priority -1; policy accept; (the same, saddr) }
//! }
//! ```
//!
//! keepalived's own (`keepalived/vrrp/vrrp_nftables.c`) has the same chains, priority, rules
//! and neighbour-discovery exception, in an `ip` and an `ip6` table named `keepalived`; it adds a
//! VIP to its set when the VIP is added (on becoming master) and removes it with the VIP. havip
//! keeps the VIPs of its no_accept instances in the set from start to stop instead, so that a
//! takeover runs no nft transaction on the failover path. For traffic to the VIPs the two are the
//! same: the input hook only sees packets for local addresses, and a VIP is local only on its
//! master. The difference: a backup's own packets sent *from* a VIP (an application bound to it
//! with `ip_nonlocal_bind`) are dropped by havip's output rule, where keepalived's backup lets
//! them go (their replies would reach the master anyway).
//!
//! Why nftables and not XDP: the rule must hold on every interface the VIP's traffic may
//! arrive on (routed to it through another interface, or from the host itself), and XDP sees
//! only the ingress of the interface it is attached to. The table is written with the `nft`
//! command (Debian's nftables package, what operators read the rules back with), and read back
//! after each change: a set that does not hold what was asked is an error, not a silent gap.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use anyhow::{bail, Context as _, Result};
use tokio::io::AsyncWriteExt as _;

use crate::model::DaemonSpec;
use crate::vrrp::PRIORITY_OWNER;

/// The table's family and name.
pub const TABLE: &str = "havip";

/// The chains' priority: keepalived's default (`nftables_priority`), before the usual filter
/// chains at 0, so that an accept there cannot let the traffic through.
const PRIORITY: i32 = -1;

/// What the table holds: the VIPs of the instances with Accept_Mode off that are not the
/// address owner (keepalived installs nothing for the owner, which must accept: RFC 9568).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub v4: BTreeSet<IpAddr>,
    pub v6: BTreeSet<IpAddr>,
    /// Link-local VIPs, with the interface they are on (a link-local address is only an
    /// address together with its link).
    pub v6_link_local: BTreeSet<(IpAddr, String)>,
}

impl Dropped {
    pub fn of(spec: &DaemonSpec) -> Dropped {
        let mut d = Dropped::default();
        for inst in &spec.instances {
            let Some(v) = &inst.vrrp else { continue };
            if v.accept || v.priority == PRIORITY_OWNER {
                continue;
            }
            for vip in &inst.vips {
                match vip.addr {
                    IpAddr::V4(_) => {
                        d.v4.insert(vip.addr);
                    }
                    IpAddr::V6(a) if a.is_unicast_link_local() => {
                        d.v6_link_local.insert((vip.addr, inst.iface.clone()));
                    }
                    IpAddr::V6(_) => {
                        d.v6.insert(vip.addr);
                    }
                }
            }
        }
        d
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty() && self.v6_link_local.is_empty()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len() + self.v6_link_local.len()
    }

    /// The nft script that replaces the table with this one, as one transaction (`add` makes
    /// sure there is a table to delete, so a first run and a replacement read the same). Empty:
    /// only the deletion.
    pub fn script(&self) -> String {
        let mut s = format!("add table inet {TABLE}\ndelete table inet {TABLE}\n");
        if self.is_empty() {
            return s;
        }
        let _ = writeln!(s, "table inet {TABLE} {{");
        let set = |s: &mut String, name: &str, ty: &str, elems: Vec<String>| {
            let _ = writeln!(s, "  set {name} {{\n    type {ty}");
            if !elems.is_empty() {
                let _ = writeln!(s, "    elements = {{ {} }}", elems.join(", "));
            }
            let _ = writeln!(s, "  }}");
        };
        set(
            &mut s,
            "vips4",
            "ipv4_addr",
            self.v4.iter().map(ToString::to_string).collect(),
        );
        set(
            &mut s,
            "vips6",
            "ipv6_addr",
            self.v6.iter().map(ToString::to_string).collect(),
        );
        set(
            &mut s,
            "vips6_link_local",
            "ipv6_addr . ifname",
            self.v6_link_local
                .iter()
                .map(|(a, i)| format!("{a} . \"{i}\""))
                .collect(),
        );
        for (chain, hook, addr, iface) in [
            ("in", "input", "daddr", "iifname"),
            ("out", "output", "saddr", "oifname"),
        ] {
            let _ = writeln!(
                s,
                "  chain {chain} {{\n    type filter hook {hook} priority {PRIORITY}; policy accept;\n    \
                 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n    \
                 ip {addr} @vips4 counter drop\n    \
                 ip6 {addr} . {iface} @vips6_link_local counter drop\n    \
                 ip6 {addr} @vips6 counter drop\n  }}"
            );
        }
        s.push_str("}\n");
        s
    }
}

/// Makes the table hold `want` (deletes it when `want` is empty), then reads it back.
pub async fn apply(want: &Dropped) -> Result<()> {
    nft_stdin(&want.script()).await.with_context(|| {
        if want.is_empty() {
            format!("deleting nftables table inet {TABLE}")
        } else {
            format!(
                "installing nftables table inet {TABLE} (no_accept: traffic to {} VIP(s) dropped)",
                want.len()
            )
        }
    })?;
    if want.is_empty() {
        return Ok(());
    }
    let held = read_back().await?;
    if held != *want {
        bail!(
            "nftables table inet {TABLE} does not hold what havip wrote: wrote {want:?}, read back {held:?}"
        );
    }
    Ok(())
}

/// Deletes the table (at stop).
pub async fn remove() -> Result<()> {
    apply(&Dropped::default()).await
}

/// At a start without Accept_Mode off: deletes the table a killed run (or a configuration
/// with no_accept before this one) left, which would drop traffic to the VIPs it names.
/// `Ok(false)` when there is none, or no `nft` to have made one.
pub async fn remove_leftover() -> Result<bool> {
    let listed = nft().args(["list", "table", "inet", TABLE]).output().await;
    match listed {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(spawn_error(e)),
        // "No such file or directory": no table. Any other failure, the deletion reports.
        Ok(o)
            if !o.status.success()
                && String::from_utf8_lossy(&o.stderr).contains("No such file") =>
        {
            Ok(false)
        }
        Ok(_) => remove().await.map(|()| true),
    }
}

/// Runs `nft -f -` with `script` on its standard input.
async fn nft_stdin(script: &str) -> Result<()> {
    let mut child = nft()
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let mut stdin = child.stdin.take().context("nft's standard input")?;
    stdin.write_all(script.as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!(
            "nft -f failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn nft() -> tokio::process::Command {
    let mut c = tokio::process::Command::new("nft");
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

fn spawn_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "the nft command is not installed (Debian: apt install nftables); havip enforces \
             no_accept with an nftables table of its own"
        )
    } else {
        anyhow::anyhow!("running nft: {e}")
    }
}

/// The table's sets as the kernel holds them (`nft -j list table`).
async fn read_back() -> Result<Dropped> {
    let out = nft()
        .args(["-j", "list", "table", "inet", TABLE])
        .output()
        .await
        .map_err(spawn_error)?;
    if !out.status.success() {
        bail!(
            "nft list table inet {TABLE} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_listing(&out.stdout)
}

/// The sets of `nft -j list table inet havip`'s output.
fn parse_listing(json: &[u8]) -> Result<Dropped> {
    let v: serde_json::Value = serde_json::from_slice(json).context("nft's JSON output")?;
    let mut d = Dropped::default();
    let items = v["nftables"]
        .as_array()
        .context("nft's JSON: no nftables array")?;
    for set in items.iter().filter_map(|i| i.get("set")) {
        let elems = set["elem"].as_array().cloned().unwrap_or_default();
        let addr = |e: &serde_json::Value| -> Result<IpAddr> {
            e.as_str()
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("nft's JSON: not an address: {e}"))
        };
        match set["name"].as_str() {
            Some("vips4") => {
                for e in &elems {
                    d.v4.insert(addr(e)?);
                }
            }
            Some("vips6") => {
                for e in &elems {
                    d.v6.insert(addr(e)?);
                }
            }
            Some("vips6_link_local") => {
                for e in &elems {
                    let parts = e["concat"]
                        .as_array()
                        .filter(|p| p.len() == 2)
                        .with_context(|| format!("nft's JSON: not ADDR . IFNAME: {e}"))?;
                    let iface = parts[1]
                        .as_str()
                        .with_context(|| format!("nft's JSON: not an interface: {e}"))?;
                    d.v6_link_local
                        .insert((addr(&parts[0])?, iface.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped() -> Dropped {
        let mut d = Dropped::default();
        d.v4.insert("192.0.2.100".parse().unwrap());
        d.v4.insert("192.0.2.101".parse().unwrap());
        d.v6.insert("2001:db8::100".parse().unwrap());
        d.v6_link_local
            .insert(("fe80::100".parse().unwrap(), "eth0".into()));
        d
    }

    #[test]
    fn the_script_replaces_the_table_in_one_transaction() {
        let s = dropped().script();
        assert!(s.starts_with("add table inet havip\ndelete table inet havip\ntable inet havip {"));
        assert!(s.contains("elements = { 192.0.2.100, 192.0.2.101 }"), "{s}");
        assert!(s.contains("elements = { fe80::100 . \"eth0\" }"), "{s}");
        assert!(s.contains("type filter hook input priority -1; policy accept;"));
        assert!(s.contains("ip saddr @vips4 counter drop"));
        // Nothing to drop: only the deletion.
        assert_eq!(
            Dropped::default().script(),
            "add table inet havip\ndelete table inet havip\n"
        );
    }

    /// The listing nft 1.0.6 (Debian 12) prints for the table the script above installs.
    #[test]
    fn the_listing_reads_back_every_set() {
        let json = br#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "havip", "handle": 7}},
 {"set": {"family": "inet", "name": "vips4", "table": "havip", "type": "ipv4_addr", "handle": 1, "elem": ["192.0.2.100", "192.0.2.101"]}},
 {"set": {"family": "inet", "name": "vips6", "table": "havip", "type": "ipv6_addr", "handle": 2, "elem": ["2001:db8::100"]}},
 {"set": {"family": "inet", "name": "vips6_link_local", "table": "havip", "type": ["ipv6_addr", "ifname"], "handle": 3, "elem": [{"concat": ["fe80::100", "eth0"]}]}},
 {"chain": {"family": "inet", "table": "havip", "name": "in", "handle": 4, "type": "filter", "hook": "input", "prio": -1, "policy": "accept"}}]}"#;
        assert_eq!(parse_listing(json).unwrap(), dropped());
    }
}
