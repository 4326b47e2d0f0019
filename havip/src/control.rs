//! The daemon's control socket (`/run/havip/<ns>.sock`) and the snapshot of its state that it
//! serves, one JSON document per connection. `havip stats` reads it, and the XDP counters from
//! the attached program's maps (see `stats`).

use std::{
    collections::BTreeMap,
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

/// Where havip keeps its run-time files: the control socket and the lock, per network namespace.
pub const RUN_DIR: &str = "/run/havip";

/// This network namespace's name in havip's run-time files: `ns<inode of /proc/self/ns/net>`.
/// Keyed by namespace because /run is shared by every namespace of a host (or of a lab), and
/// two nodes may well both have an `eth0`.
pub fn ns_name() -> Result<String> {
    use std::os::unix::fs::MetadataExt as _;
    let ns = std::fs::metadata("/proc/thread-self/ns/net")
        .context("reading /proc/thread-self/ns/net")?;
    Ok(format!("ns{}", ns.ino()))
}

/// The control socket of the daemon of the namespace called `ns` (see [`ns_name`]).
pub fn socket_path(ns: &str) -> PathBuf {
    Path::new(RUN_DIR).join(format!("{ns}.sock"))
}

/// An enum of the daemon's own state that travels as one of a fixed set of names, the same
/// strings `havip stats --json`, the metrics' labels and the labs have always read. A name this
/// build does not know (a newer daemon's) is kept as it came in `Other`, so reading never fails
/// on it nor loses it. `as_str`, `Display`, `From<&str>` and comparison with `&str` go by name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, default $default:ident,
     { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
            /// A name this build does not know, as it came.
            #[serde(untagged)]
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::$default
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

named_enum!(
    /// An instance's state, as its router reports it; `STATIC` for a static owner (no election).
    InstanceState, default Init, {
        Init = "INIT",
        Backup = "BACKUP",
        Master = "MASTER",
        Fault = "FAULT",
        Static = "STATIC",
    }
);

named_enum!(
    /// How accepted adverts travel from XDP to the daemon (`--advert-path`).
    AdvertPath, default Socket, {
        Ringbuf = "ringbuf",
        Socket = "socket",
    }
);

named_enum!(
    /// The mode an XDP attachment runs in now (what `--xdp-mode auto` picked, or a fallback).
    XdpMode, default Skb, {
        Native = "native",
        Skb = "skb",
    }
);

/// What the daemon knows that the maps do not: the elections.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonSnapshot {
    pub pid: u32,
    pub advert_path: AdvertPath,
    pub instances: Vec<InstanceSnapshot>,
    /// Advert delivery latency, XDP to the election, over the last samples (every ring-buffer
    /// advert; one socket-path advert in eight).
    pub advert_delivery: Option<LatencySummary>,
    /// Health checks (`vrrp_script`, built-in probes): `None` until the first result.
    #[serde(default)]
    pub checks: Vec<CheckSnapshot>,
    /// The XDP attachments and the mode each runs in now.
    #[serde(default)]
    pub xdp: Vec<XdpAttachmentSnapshot>,
    /// The interfaces instances run on, and what changed under them.
    #[serde(default)]
    pub interfaces: Vec<IfaceSnapshot>,
    /// BFD sessions (`bfd_instance`), as the BFD thread last published them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd: Option<BfdSnapshot>,
    /// The BGP speaker (`havip_bgp`): sessions and announcements.
    #[serde(default)]
    pub bgp: Option<BgpSnapshot>,
}

/// What an instance announces now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announce {
    /// Nothing: withdrawn.
    #[default]
    Withdrawn,
    /// The best path: a master, or a healthy anycast node.
    Primary,
    /// The worse path of `backup prepend N` / `backup med N`.
    Backup,
}

impl Announce {
    pub fn as_str(self) -> &'static str {
        match self {
            Announce::Withdrawn => "withdrawn",
            Announce::Primary => "primary",
            Announce::Backup => "backup",
        }
    }
}

/// What `havip stats` shows of the speaker.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BgpSnapshot {
    /// `bird` with its version, as its control socket greets.
    pub speaker: String,
    pub speaker_pid: Option<u32>,
    /// Times BIRD was found dead and started again.
    pub speaker_restarts: u64,
    /// Whether the routes are held back because the election stalled.
    pub fenced: bool,
    /// Times the election's stall withdrew the routes.
    pub fenced_count: u64,
    pub neighbors: Vec<BgpNeighborSnapshot>,
    pub routes: Vec<BgpRouteSnapshot>,
}

/// One BGP session, as BIRD reports it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BgpNeighborSnapshot {
    pub address: String,
    pub remote_as: u32,
    pub bfd: bool,
    /// BGP's state: Idle, Connect, Active, OpenSent, OpenConfirm, Established (or BIRD's
    /// "down" while it is not running).
    pub state: String,
    /// BIRD's last error for the session, if any ("Error: Hold timer expired", ...).
    pub info: String,
    pub established: bool,
    /// Times the session reached Established since havip started.
    pub established_count: u64,
    /// How long ago it last changed between established and not, in ms.
    pub last_change_ago_ms: Option<u64>,
}

/// One instance's announcement.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BgpRouteSnapshot {
    pub instance: String,
    pub prefixes: Vec<String>,
    pub announce: Announce,
    pub announced: u64,
    pub withdrawn: u64,
    pub last_change_ago_ms: Option<u64>,
}

/// The BFD thread: its sessions, what it dropped, how late it woke.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BfdSnapshot {
    pub sessions: Vec<BfdSessionSnapshot>,
    /// Received datagrams dropped before any session saw them, by reason (RFC 5880 6.8.6,
    /// RFC 5881 5: `ttl`, `no_session`, `wrong_source`, and the malformed kinds).
    pub dropped: BTreeMap<String, u64>,
    /// SCHED_FIFO priority of the thread, if real-time.
    pub rt_priority: Option<u8>,
    /// How late the thread woke for its deadlines (sends, detection).
    pub wakeup_late: Option<LatencySummary>,
    /// Kernel receive timestamp to the session's handling of the packet.
    pub rx_delay: Option<LatencySummary>,
}

/// One BFD session.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BfdSessionSnapshot {
    pub name: String,
    pub neighbor: String,
    /// This side's address and port, as bound.
    pub local: String,
    /// RFC 5880 names: AdminDown, Down, Init, Up.
    pub state: String,
    pub remote_state: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// The diagnostic this side sends (RFC 5880 4.1), e.g. "1 (control detection time expired)".
    pub diag: String,
    /// Why it last went down from Up, and how long ago.
    pub last_down: Option<String>,
    pub last_down_ago_ms: Option<u64>,
    /// How often this side sends now (before jitter), in µs; `None`: nothing periodic.
    pub tx_interval_us: Option<u64>,
    /// How long without a packet before it goes down, in µs.
    pub detection_time_us: Option<u64>,
    pub remote_detect_mult: u8,
    pub remote_min_tx_us: u64,
    pub remote_min_rx_us: u64,
    pub rx: u64,
    pub tx: u64,
    pub tx_errors: u64,
    pub downs: u64,
    pub detect_expired: u64,
    pub polls_sent: u64,
    pub finals_sent: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct XdpAttachmentSnapshot {
    pub iface: String,
    pub mode: XdpMode,
    /// Times native mode was found unable to transmit while running and replaced by skb mode.
    pub fallbacks_to_skb: u64,
}

/// An interface the daemon works on.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IfaceSnapshot {
    /// Its name now (havip follows a renamed interface by index).
    pub name: String,
    /// The name it was configured with (what a re-created interface must be called).
    pub configured: String,
    pub ifindex: u32,
    pub mac: String,
    /// False once deleted, until an interface of the configured name appears again.
    pub present: bool,
    /// Administratively up and with carrier.
    pub up: bool,
    /// The advert sources: its own IPv4 address and its IPv6 link-local address, when it has them.
    pub source_v4: Option<String>,
    pub source_v6: Option<String>,
    pub changes: HostChanges,
}

/// Host changes seen on one interface, each also logged once when it happens.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostChanges {
    /// Owned VIPs that another agent removed and havip added back.
    pub vip_readded: u64,
    /// VIPs that could not be added back (their instance went to FAULT).
    pub vip_readd_failed: u64,
    /// The interface lost its own address of a family in use (instances went to FAULT).
    pub source_lost: u64,
    /// An address to send adverts from came back (or changed).
    pub source_returned: u64,
    pub mac_changed: u64,
    pub renamed: u64,
    /// Deleted (or moved to another network namespace).
    pub deleted: u64,
    /// An interface of the configured name appeared again and havip re-attached to it.
    pub reattached: u64,
}

impl HostChanges {
    /// Each counter with its name, in a fixed order (for `havip stats` and the metrics).
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("vip_readded", self.vip_readded),
            ("vip_readd_failed", self.vip_readd_failed),
            ("source_lost", self.source_lost),
            ("source_returned", self.source_returned),
            ("mac_changed", self.mac_changed),
            ("renamed", self.renamed),
            ("deleted", self.deleted),
            ("reattached", self.reattached),
        ]
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CheckSnapshot {
    pub name: String,
    pub healthy: Option<bool>,
    /// A `vrrp_track_process`: how processes are followed ("process events (...)", or
    /// "polling /proc every 200ms: WHY" when the proc connector failed its check at start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed_by: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct InstanceSnapshot {
    pub name: String,
    pub iface: String,
    /// `None` for a static owner (no election).
    pub vrid: Option<u8>,
    pub version: Option<u8>,
    pub state: InstanceState,
    pub base_priority: Option<u8>,
    pub effective_priority: Option<u8>,
    /// The current master's address as this node knows it.
    pub master: Option<String>,
    pub vips: Vec<String>,
    /// Whether this node holds the VIPs now.
    pub owned: bool,
    /// Why the instance is held in FAULT by a host change (no advert source, interface gone,
    /// a VIP that cannot be added), if it is.
    #[serde(default)]
    pub host_fault: Option<String>,
    pub adverts: AdvertCounters,
}

/// The election's counters for one instance (the XDP program counts separately).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AdvertCounters {
    pub sent: u64,
    pub priority_zero_sent: u64,
    pub received: u64,
    pub priority_zero_received: u64,
    /// Failed to parse (checksum, lengths, address count).
    pub malformed: u64,
    pub address_list_mismatch: u64,
    /// Dropped by the election's checks, per reason (ttl, version, auth, interval...).
    pub rejected: BTreeMap<String, u64>,
    pub transitions: u64,
    pub became_master: u64,
    pub garps_sent: u64,
    /// Lower-priority or priority-0 adverts not answered: one reply per advert interval.
    #[serde(default)]
    pub replies_limited: u64,
    /// GARP bursts not sent: see `garp_lower_prio_delay`, and one burst queued at a time.
    #[serde(default)]
    pub garp_bursts_limited: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub samples: usize,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl LatencySummary {
    /// Summarises nanosecond samples.
    pub fn from_ns(samples: &[u64]) -> Option<LatencySummary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_unstable();
        let pick = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        Some(LatencySummary {
            samples: s.len(),
            p50_us: pick(0.5),
            p99_us: pick(0.99),
            max_us: pick(1.0),
        })
    }
}

/// Makes `dir` (havip's run-time directory) a directory of this process's user, mode 0700
/// whatever the umask: created so, or tightened if a run under a looser umask made it wider.
/// A symbolic link or another user's directory there is refused (someone could swap the
/// socket or the lock under the daemon).
pub fn prepare_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let meta =
        std::fs::symlink_metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() {
        anyhow::bail!(
            "{} is not a directory: remove it (havip keeps its control socket and lock there)",
            dir.display()
        );
    }
    if meta.uid() != euid {
        anyhow::bail!(
            "{} belongs to uid {}, not to havip's uid {euid}: remove it, or chown it to the \
             user havip runs as",
            dir.display(),
            meta.uid()
        );
    }
    if meta.mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} mode 0700", dir.display()))?;
    }
    Ok(())
}

/// Binds the control socket at `path` (replacing a dead run's), mode 0600 whatever the umask,
/// in a directory made 0700 by [`prepare_dir`] (so no other user reaches it even before the
/// `chmod`). Non-blocking, for the daemon's runtime.
pub fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = path.parent() {
        prepare_dir(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} mode 0600", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Connects to the daemon's control socket. `Ok(None)`: no daemon listens there.
fn connect(socket: &Path) -> Result<Option<UnixStream>> {
    match UnixStream::connect(socket) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("connecting to {}", socket.display())),
    }
}

/// What `havip handover` sends on the control socket.
pub const HANDOVER_REQUEST: &str = "handover\n";

/// Asks the daemon to hand over to the next process (see `daemon::handover`) and returns the
/// pid it answered with once it has: it is exiting. `Ok(None)`: no daemon listens there.
pub fn handover(socket: &Path, timeout: Duration) -> Result<Option<u32>> {
    let Some(mut stream) = connect(socket)? else {
        return Ok(None);
    };
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(HANDOVER_REQUEST.as_bytes())?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .context("reading the daemon's answer")?;
    let answer = answer.trim();
    match answer.strip_prefix("handed over, pid ") {
        Some(pid) => Ok(Some(pid.parse().with_context(|| {
            format!("the daemon's answer {answer:?} has no pid")
        })?)),
        None if answer.is_empty() => bail!("the daemon closed the connection without handing over"),
        // An older daemon answers every request with its snapshot.
        None if answer.starts_with('{') => {
            bail!("the daemon does not know `handover` (an older havip): it was not asked to stop")
        }
        None => bail!("the daemon did not hand over: {answer}"),
    }
}

/// Asks the daemon for its snapshot. `Ok(None)`: no daemon listens there.
pub fn query(socket: &Path) -> Result<Option<DaemonSnapshot>> {
    let Some(mut stream) = connect(socket)? else {
        return Ok(None);
    };
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"stats\n")?;
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .context("reading the daemon's answer")?;
    Ok(Some(
        serde_json::from_str(&body).context("decoding the daemon's answer")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    /// The socket is 0600 and its directory 0700 whatever the umask left (bind(2) creates the
    /// socket 0777 & ~umask: 0755 under the usual 022), and a directory a looser run left
    /// wider is tightened.
    #[test]
    fn control_socket_is_0600_in_a_0700_directory() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = crate::testutil::TempDir::new("control-mode");
        let dir = base.path().join("run");
        let sock = dir.join("ns1.sock");
        let l = bind(&sock).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&sock), 0o600);
        drop(l);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let _l = bind(&sock).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&sock), 0o600);
        // A symbolic link in its place is refused.
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = bind(&link.join("x.sock")).unwrap_err();
        assert!(format!("{err:#}").contains("not a directory"), "{err:#}");
    }

    /// The typed states travel as the strings `havip stats --json`, the metrics and the labs
    /// have always read, both ways.
    #[test]
    fn states_travel_as_the_same_strings() {
        let names = [
            (InstanceState::Init, "INIT"),
            (InstanceState::Backup, "BACKUP"),
            (InstanceState::Master, "MASTER"),
            (InstanceState::Fault, "FAULT"),
            (InstanceState::Static, "STATIC"),
        ];
        for (state, name) in names {
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{name}\"")
            );
            assert_eq!(
                serde_json::from_str::<InstanceState>(&format!("\"{name}\"")).unwrap(),
                state
            );
            assert_eq!(InstanceState::from(name), state);
            assert_eq!(state, name);
        }
        for (path, name) in [
            (AdvertPath::Ringbuf, "ringbuf"),
            (AdvertPath::Socket, "socket"),
        ] {
            assert_eq!(serde_json::to_string(&path).unwrap(), format!("\"{name}\""));
            assert_eq!(path.to_string(), name);
        }
        for (mode, name) in [(XdpMode::Native, "native"), (XdpMode::Skb, "skb")] {
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<XdpMode>(&format!("\"{name}\"")).unwrap(),
                mode
            );
        }
    }

    /// A name from a newer daemon is kept, not refused: `havip stats` still reads the rest.
    #[test]
    fn an_unknown_name_is_kept_as_it_came() {
        let s: InstanceState = serde_json::from_str("\"BACKUP_PENDING\"").unwrap();
        assert_eq!(s, InstanceState::Other("BACKUP_PENDING".into()));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"BACKUP_PENDING\"");
        assert_eq!(format!("[{s:>16}]"), "[  BACKUP_PENDING]");
        let snap = InstanceSnapshot {
            state: "MASTER".into(),
            ..Default::default()
        };
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["state"], "MASTER");
        assert_eq!(
            serde_json::from_value::<InstanceSnapshot>(json).unwrap(),
            snap
        );
    }
}
