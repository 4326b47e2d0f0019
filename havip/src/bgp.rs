//! The VIPs over BGP (see ARCHITECTURE.md, "BGP"): BIRD 2, started by havip as its child,
//! announces each announcing instance's VIPs as /32 (/128) routes to the neighbours, driven
//! through BIRD's own control socket.
//!
//! The announcement is fenced to havip's life:
//! - BIRD is started with `PR_SET_PDEATHSIG = SIGKILL` from this module's thread, so a havip
//!   killed by any means (`kill -9` included) takes BIRD with it: the kernel closes its TCP
//!   sessions and the routers withdraw at once (graceful restart is off, so no router keeps
//!   the routes as stale);
//! - a stalled election (its beat older than [`STALE_AFTER`] or eight beats, whichever is
//!   longer) withdraws everything until it beats again;
//! - a stalled havip (`SIGSTOP`, every thread frozen) cannot withdraw anything itself: a fence
//!   process forked beside each BIRD (async-signal-safe calls only) reads the election's beat
//!   from a shared page and kills BIRD when it is twice that old;
//! - BIRD that dies is started again after [`RESTART_AFTER`], and is handed the routes again.
//!
//! Each announcing instance has, per address family, two static protocols in BIRD: its VIPs
//! as a primary route (preference 200) and, when `backup` asks for it, as a worse one
//! (preference 100: AS path prepended or a MED). Changing from one to the other enables the
//! new one before it disables the old, so the neighbours get an update, never a withdrawal
//! in between.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::{BufRead, BufReader, Read, Write},
    net::IpAddr,
    os::unix::{net::UnixStream, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc as std_mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tracing::{debug, error, info, warn};

use crate::{
    control::{Announce, BgpNeighborSnapshot, BgpRouteSnapshot, BgpSnapshot},
    model::{BackupRoute, BgpSpec, VipSpec},
};

/// How long the election may go without a beat before the routes are withdrawn, at least
/// (eight beats when that is longer; the fence kills BIRD at twice the limit).
pub const STALE_AFTER: Duration = Duration::from_secs(1);
/// How long after BIRD died it is started again.
pub const RESTART_AFTER: Duration = Duration::from_secs(1);
/// How long BIRD has to open its control socket.
const START_WAIT: Duration = Duration::from_secs(5);
/// How often the thread looks at BIRD (alive, sessions) and at the election's beat.
const TICK: Duration = Duration::from_millis(100);
/// How often the neighbours' states are read for `havip stats`.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// One instance whose VIPs are announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcing {
    pub instance: String,
    pub vips: Vec<VipSpec>,
}

/// What the driver asks of the thread.
enum Command {
    /// Instance `instance` announces `route` now.
    Set(String, Announce),
    /// A reload: new settings and instances (BIRD reconfigured; the routes kept).
    Replace(BgpSpec, Vec<Announcing>),
    /// The end: BIRD told to shut down (it closes its sessions: the routers withdraw).
    Stop,
}

/// The running thread, and BIRD under it.
pub struct Bgp {
    commands: std_mpsc::Sender<Command>,
    snapshot: Arc<Mutex<BgpSnapshot>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Where BIRD's files go: next to the control socket, `<ns>.bird.conf` and `<ns>.bird.ctl`.
#[derive(Clone, Debug)]
pub struct Paths {
    pub conf: PathBuf,
    pub ctl: PathBuf,
}

impl Paths {
    /// BIRD's files beside havip's control socket `control` (`/run/havip/<ns>.sock`).
    pub fn beside(control: &Path) -> Paths {
        Paths {
            conf: control.with_extension("bird.conf"),
            ctl: control.with_extension("bird.ctl"),
        }
    }
}

impl Bgp {
    /// Starts the thread, which starts BIRD (and waits for its control socket, so that a BIRD
    /// that cannot start is an error here, at start-up). `beat` is the election's last beat
    /// (`CLOCK_MONOTONIC` ns) and `stale` how old it may get (the caller applies
    /// [`STALE_AFTER`]).
    pub fn spawn(
        spec: &BgpSpec,
        announcing: Vec<Announcing>,
        paths: Paths,
        beat: Arc<crate::bfd::BeatGate>,
        stale: Duration,
    ) -> Result<Bgp> {
        let snapshot = Arc::new(Mutex::new(BgpSnapshot::default()));
        let (conf, ctl) = (paths.conf.clone(), paths.ctl.clone());
        let (tx, rx) = std_mpsc::channel();
        let (started_tx, started_rx) = std_mpsc::channel();
        let mut speaker = Speaker {
            spec: spec.clone(),
            announcing,
            paths,
            child: None,
            ctl: None,
            wanted: BTreeMap::new(),
            applied: BTreeMap::new(),
            routes: BTreeMap::new(),
            neighbors: BTreeMap::new(),
            snapshot: snapshot.clone(),
            beat,
            stale_ns: stale.as_nanos() as u64,
            fenced: false,
            fenced_count: 0,
            restarts: 0,
            died_at: None,
            greeting: String::new(),
            last_poll: Instant::now(),
            shared: shared_page()?,
            fence: None,
        };
        let thread = thread::Builder::new()
            .name("havip-bgp".into())
            .spawn(move || {
                // BIRD is this thread's child: PR_SET_PDEATHSIG fires when this thread ends, so
                // the thread lives as long as BIRD should.
                let first = speaker.start();
                let ok = first.is_ok();
                let _ = started_tx.send(first);
                // A dead BGP thread takes BIRD with it (the routes withdrawn) while the election
                // goes on as master: no node would announce. The whole daemon goes instead, so
                // that the backup takes over.
                if ok
                    && std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| speaker.run(rx)))
                        .is_err()
                {
                    tracing::error!("the BGP thread panicked: havip aborts");
                    std::process::abort();
                }
            })
            .context("starting the BGP thread")?;
        match started_rx.recv() {
            Ok(Ok(())) => Ok(Bgp {
                commands: tx,
                snapshot,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                let _ = std::fs::remove_file(&conf);
                let _ = std::fs::remove_file(&ctl);
                Err(e)
            }
            Err(_) => bail!("the BGP thread ended before BIRD started"),
        }
    }

    /// Instance `instance` announces `route` from now.
    pub fn set(&self, instance: &str, route: Announce) {
        let _ = self
            .commands
            .send(Command::Set(instance.to_string(), route));
    }

    /// A reload's settings and instances.
    pub fn replace(&self, spec: &BgpSpec, announcing: Vec<Announcing>) {
        let _ = self
            .commands
            .send(Command::Replace(spec.clone(), announcing));
    }

    pub fn snapshot(&self) -> BgpSnapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// BIRD shut down (its sessions closed with a Cease: the routers withdraw at once), the
    /// thread ended.
    pub fn stop(mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One neighbour's state as last read.
#[derive(Default)]
struct Neighbor {
    state: String,
    info: String,
    established: bool,
    established_count: u64,
    changed: Option<Instant>,
}

/// One instance's announcement's history.
#[derive(Default)]
struct RouteStats {
    announced: u64,
    withdrawn: u64,
    changed: Option<Instant>,
}

struct Speaker {
    spec: BgpSpec,
    announcing: Vec<Announcing>,
    paths: Paths,
    child: Option<Child>,
    ctl: Option<Ctl>,
    /// What the driver asked for, by instance.
    wanted: BTreeMap<String, Announce>,
    /// What BIRD was told, by instance.
    applied: BTreeMap<String, Announce>,
    routes: BTreeMap<String, RouteStats>,
    neighbors: BTreeMap<usize, Neighbor>,
    snapshot: Arc<Mutex<BgpSnapshot>>,
    beat: Arc<crate::bfd::BeatGate>,
    stale_ns: u64,
    fenced: bool,
    fenced_count: u64,
    restarts: u64,
    died_at: Option<Instant>,
    greeting: String,
    last_poll: Instant,
    /// The election's last beat, shared with the fence process (see [`Fence`]).
    shared: &'static AtomicU64,
    fence: Option<Fence>,
}

impl Speaker {
    /// Writes the configuration and starts BIRD; returns once its control socket answers.
    fn start(&mut self) -> Result<()> {
        let conf = self.render();
        write_private(&self.paths.conf, &conf)?;
        let _ = std::fs::remove_file(&self.paths.ctl);
        let mut cmd = std::process::Command::new(&self.spec.bird);
        cmd.arg("-f")
            .arg("-c")
            .arg(&self.paths.conf)
            .arg("-s")
            .arg(&self.paths.ctl)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and
        // exec.
        let parent = std::process::id();
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then no signal would come.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "starting the BGP speaker `{}` (Debian: apt install bird2)",
                self.spec.bird.display()
            )
        })?;
        let pid = child.id();
        if let Some(err) = child.stderr.take() {
            let _ = thread::Builder::new()
                .name("havip-bird-log".into())
                .spawn(move || forward_log(err));
        }
        let deadline = Instant::now() + START_WAIT;
        let ctl = loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the BGP speaker `{}` exited at start ({status}); its messages are in \
                     havip's log, its configuration in {}",
                    self.spec.bird.display(),
                    self.paths.conf.display()
                );
            }
            match Ctl::connect(&self.paths.ctl) {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.context(format!(
                        "BIRD (pid {pid}) did not open its control socket {} in {START_WAIT:?}",
                        self.paths.ctl.display()
                    )));
                }
                Err(_) => thread::sleep(Duration::from_millis(20)),
            }
        };
        self.greeting = ctl.greeting.clone();
        self.shared
            .store(self.beat.last_ns.load(Ordering::Relaxed), Ordering::Relaxed);
        match Fence::spawn(pid, self.shared, self.fence_ns()) {
            Ok(f) => self.fence = Some(f),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
        info!(pid, speaker = %self.greeting, conf = %self.paths.conf.display(), "BGP speaker started");
        self.child = Some(child);
        self.ctl = Some(ctl);
        // Everything starts disabled in the file: what was asked for is told again.
        self.applied.clear();
        self.apply();
        self.poll();
        Ok(())
    }

    fn run(&mut self, rx: std_mpsc::Receiver<Command>) {
        loop {
            match rx.recv_timeout(TICK) {
                Ok(c) => {
                    // Everything queued at once: a batch of transitions is one pass (the last
                    // withdrawals included, before a Stop).
                    let mut go_on = self.take(c);
                    while go_on {
                        match rx.try_recv() {
                            Ok(c) => go_on = self.take(c),
                            Err(_) => break,
                        }
                    }
                    self.apply();
                    if !go_on {
                        return self.shutdown();
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                // The daemon is gone: so is BIRD, with this thread.
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return self.shutdown(),
            }
            self.tick();
        }
    }

    /// Takes a command; `false` for Stop.
    fn take(&mut self, c: Command) -> bool {
        match c {
            Command::Set(instance, route) => {
                self.wanted.insert(instance, route);
            }
            Command::Replace(spec, announcing) => self.reconfigure(spec, announcing),
            Command::Stop => return false,
        }
        true
    }

    /// A reload: the file rewritten and BIRD told to read it; what was applied is applied
    /// again (the protocols may have been renumbered).
    fn reconfigure(&mut self, spec: BgpSpec, announcing: Vec<Announcing>) {
        if spec == self.spec && announcing == self.announcing {
            return;
        }
        if spec.bird != self.spec.bird {
            warn!("the BGP speaker's executable changes at the next start, not at a reload");
        }
        let old = (
            std::mem::replace(&mut self.spec, spec),
            std::mem::replace(&mut self.announcing, announcing),
        );
        let wanted = self.wanted.clone();
        self.wanted
            .retain(|name, _| self.announcing.iter().any(|a| &a.instance == name));
        // The file says what runs now (see `render`): unchanged protocols keep running.
        let result = write_private(&self.paths.conf, &self.render())
            .and_then(|()| self.command("configure"));
        match result {
            Ok(r) => info!(bird = %r.trim(), "BGP speaker reconfigured"),
            Err(e) => {
                // BIRD keeps its configuration: so does havip (the protocols' numbers are the
                // old file's).
                error!("BGP: reconfiguring BIRD: {e:#}; the previous BGP configuration stays");
                (self.spec, self.announcing) = old;
                self.wanted = wanted;
                let _ = write_private(&self.paths.conf, &self.render());
            }
        }
        self.applied.clear();
    }

    /// What instance `instance` should announce now: what the driver asked, unless the
    /// election stalled (nothing) or a backup has nothing to announce.
    fn desired(&self, instance: &str) -> Announce {
        let want = self.wanted.get(instance).copied().unwrap_or_default();
        if self.fenced || (want == Announce::Backup && !has_backup(&self.spec)) {
            Announce::Withdrawn
        } else {
            want
        }
    }

    /// BIRD's file, with each static protocol in the state it should be in now.
    fn render(&self) -> String {
        render(&self.spec, &self.announcing, &|instance, kind| {
            self.desired(instance) == kind
        })
    }

    /// The fence's limit: twice the thread's own, so that a stalled election is met by a
    /// withdrawal (BIRD kept, its sessions up), and only a frozen havip by BIRD's death.
    fn fence_ns(&self) -> u64 {
        self.stale_ns.saturating_mul(2)
    }

    /// Tells BIRD what differs from what it was told: the wanted protocol enabled first, then
    /// the other disabled.
    fn apply(&mut self) {
        if self.ctl.is_none() {
            return;
        }
        for k in 0..self.announcing.len() {
            let instance = self.announcing[k].instance.clone();
            let want = self.desired(&instance);
            let had = self.applied.get(&instance).copied();
            if had == Some(want) {
                continue;
            }
            let families = families(&self.announcing[k].vips);
            let mut ok = true;
            let (on, off): (Vec<&str>, Vec<&str>) = match want {
                Announce::Primary => (vec!["p"], vec!["b"]),
                Announce::Backup => (vec!["b"], vec!["p"]),
                Announce::Withdrawn => (vec![], vec!["p", "b"]),
            };
            let has_backup = has_backup(&self.spec);
            for (verb, kinds) in [("enable", &on), ("disable", &off)] {
                for kind in kinds.iter().filter(|k| has_backup || **k != "b") {
                    for fam in &families {
                        let proto = static_name(k, *fam, kind);
                        if let Err(e) = self.command(&format!("{verb} {proto}")) {
                            error!(instance = %instance, "BGP: {verb} {proto}: {e:#}");
                            ok = false;
                        }
                    }
                }
            }
            if !ok {
                // Told again at the next tick.
                self.applied.remove(&instance);
                continue;
            }
            self.applied.insert(instance.clone(), want);
            // A first "withdrawn" (at start, or to a restarted BIRD) withdrew nothing.
            if had.is_none() && want == Announce::Withdrawn {
                continue;
            }
            info!(instance = %instance, route = want.as_str(), "BGP announcement");
            let stats = self.routes.entry(instance).or_default();
            match want {
                Announce::Withdrawn => stats.withdrawn += 1,
                _ => stats.announced += 1,
            }
            stats.changed = Some(Instant::now());
        }
        self.publish();
    }

    /// One command on the control socket; its reply's text. A broken socket is dropped (the
    /// tick connects again, or finds BIRD dead); BIRD refusing the command is only an error.
    fn command(&mut self, cmd: &str) -> Result<String> {
        let ctl = self.ctl.as_mut().context("BIRD is not running")?;
        match ctl.command(cmd) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(refused)) => bail!("BIRD refused `{cmd}`: {refused}"),
            Err(e) => {
                self.ctl = None;
                Err(e)
            }
        }
    }

    fn tick(&mut self) {
        if self.child.is_some() && self.ctl.is_none() {
            match Ctl::connect(&self.paths.ctl) {
                Ok(c) => {
                    self.ctl = Some(c);
                    self.applied.clear();
                }
                Err(e) => debug!("BGP: {e:#}"),
            }
        }
        // The fence reads the election's beat through this thread: a stall of either fences.
        self.shared
            .store(self.beat.last_ns.load(Ordering::Relaxed), Ordering::Relaxed);
        // BIRD alive? Looked at without reaping it, so that its fence goes first (a fence
        // must not kill a reused pid).
        let exited = self.child.as_ref().is_some_and(|c| exited_unreaped(c.id()));
        if exited {
            if let Some(f) = self.fence.take() {
                f.stop();
            }
            if let Some(mut child) = self.child.take() {
                let status = child.wait();
                error!(
                    ?status,
                    "BGP: BIRD exited: its sessions are closed and the routes withdrawn; \
                     starting it again in {RESTART_AFTER:?}"
                );
            }
            self.ctl = None;
            self.applied.clear();
            self.died_at = Some(Instant::now());
            for n in self.neighbors.values_mut() {
                if n.established {
                    n.established = false;
                    n.changed = Some(Instant::now());
                }
                n.state = "down".into();
            }
            self.publish();
        }
        // A fence that died (killed by someone), or could not be forked, is forked again.
        if let Some(child) = &self.child {
            if self.fence.as_ref().is_none_or(Fence::exited) {
                let bird = child.id();
                if self.fence.take().is_some() {
                    warn!("BGP: the fence process exited; forking another");
                }
                match Fence::spawn(bird, self.shared, self.fence_ns()) {
                    Ok(f) => self.fence = Some(f),
                    Err(e) => error!("BGP: {e:#}"),
                }
            }
        }
        // Not while the election stalls: the new BIRD's fence would kill it at once.
        if self.child.is_none()
            && !self.fenced
            && self.died_at.is_some_and(|t| t.elapsed() >= RESTART_AFTER)
        {
            self.restarts += 1;
            self.died_at = None;
            if let Err(e) = self.start() {
                error!("BGP: {e:#}");
                self.died_at = Some(Instant::now());
            }
        }
        // The election alive?
        let last = self.beat.last_ns.load(Ordering::Relaxed);
        let age = crate::dataplane::monotonic_ns().saturating_sub(last);
        let stale = last != 0 && age > self.stale_ns;
        if stale != self.fenced {
            self.fenced = stale;
            if stale {
                self.fenced_count += 1;
                error!(
                    age_ms = age / 1_000_000,
                    "BGP: the election has not run for too long: every route withdrawn until it does"
                );
            } else {
                info!("BGP: the election runs again: routes as it says");
            }
            self.applied.clear();
            self.apply();
        } else if self.applied.len() < self.announcing.len() {
            // What failed is told again.
            self.apply();
        }
        if self.last_poll.elapsed() >= POLL_EVERY {
            self.poll();
        }
    }

    /// Reads the sessions' states.
    fn poll(&mut self) {
        self.last_poll = Instant::now();
        if self.ctl.is_none() {
            return;
        }
        match self.command("show protocols") {
            Ok(text) => {
                let now = Instant::now();
                for (i, _) in self.spec.neighbors.iter().enumerate() {
                    let name = neighbor_name(i);
                    let (state, info) = protocol_row(&text, &name).unwrap_or_default();
                    let n = self.neighbors.entry(i).or_default();
                    let established = state == "Established";
                    if established != n.established {
                        n.changed = Some(now);
                        if established {
                            n.established_count += 1;
                        }
                        info!(neighbor = %self.spec.neighbors[i].addr, state = %state, info = %info, "BGP session");
                    }
                    n.established = established;
                    n.state = state;
                    n.info = info;
                }
            }
            Err(e) => debug!("BGP: show protocols: {e:#}"),
        }
        self.publish();
    }

    fn publish(&self) {
        let ago = |t: Option<Instant>| t.map(|t| t.elapsed().as_millis() as u64);
        let snap = BgpSnapshot {
            speaker: self.greeting.clone(),
            speaker_pid: self.child.as_ref().map(Child::id),
            speaker_restarts: self.restarts,
            fenced: self.fenced,
            fenced_count: self.fenced_count,
            neighbors: self
                .spec
                .neighbors
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let s = self.neighbors.get(&i);
                    BgpNeighborSnapshot {
                        address: n.addr.to_string(),
                        remote_as: n.remote_as,
                        bfd: n.bfd,
                        state: s.map(|s| s.state.clone()).unwrap_or_default(),
                        info: s.map(|s| s.info.clone()).unwrap_or_default(),
                        established: s.is_some_and(|s| s.established),
                        established_count: s.map_or(0, |s| s.established_count),
                        last_change_ago_ms: ago(s.and_then(|s| s.changed)),
                    }
                })
                .collect(),
            routes: self
                .announcing
                .iter()
                .map(|a| {
                    let r = self.routes.get(&a.instance);
                    BgpRouteSnapshot {
                        instance: a.instance.clone(),
                        prefixes: a.vips.iter().map(host_prefix).collect(),
                        announce: self.applied.get(&a.instance).copied().unwrap_or_default(),
                        announced: r.map_or(0, |r| r.announced),
                        withdrawn: r.map_or(0, |r| r.withdrawn),
                        last_change_ago_ms: ago(r.and_then(|r| r.changed)),
                    }
                })
                .collect(),
        };
        if let Ok(mut s) = self.snapshot.lock() {
            *s = snap;
        }
    }

    /// Graceful end: BIRD told to shut down (a Cease to every neighbour), waited for, its
    /// files removed.
    fn shutdown(&mut self) {
        if let Some(f) = self.fence.take() {
            f.stop();
        }
        if self.ctl.is_some() {
            let _ = self.command("down");
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
            info!("BGP speaker stopped: its sessions closed");
        }
        let _ = std::fs::remove_file(&self.paths.ctl);
        let _ = std::fs::remove_file(&self.paths.conf);
    }
}

/// Whether child `pid` has exited, leaving it to be reaped (`waitid` with `WNOWAIT`).
fn exited_unreaped(pid: u32) -> bool {
    // SAFETY: waitid on our own child with a zeroed siginfo it fills.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

/// A page shared with the fence processes (`MAP_SHARED`: a forked child sees the writes).
fn shared_page() -> Result<&'static AtomicU64> {
    // SAFETY: an anonymous mapping, never unmapped: the reference lives as long as the process.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mapping the fence's page");
        }
        Ok(&*(p as *const AtomicU64))
    }
}

/// The fence: a child of havip forked from the BGP thread (not exec'd: it is a loop of
/// async-signal-safe system calls, no allocation) that kills BIRD when the election's beat, as
/// the BGP thread copies it to a shared page, is older than the stale limit. A havip frozen
/// whole (`SIGSTOP`) cannot withdraw its routes; the fence, a process of its own, is not
/// frozen with it. It dies with the BGP thread (`PR_SET_PDEATHSIG`).
struct Fence {
    pid: libc::pid_t,
}

/// How often the fence looks.
const FENCE_EVERY_NS: i64 = 50_000_000;

impl Fence {
    fn spawn(bird: u32, beat: &'static AtomicU64, stale_ns: u64) -> Result<Fence> {
        let parent = std::process::id() as libc::pid_t;
        let bird = bird as libc::pid_t;
        // SAFETY: the child calls only async-signal-safe functions (prctl, getppid, close_range,
        // nanosleep, clock_gettime, kill, _exit) and reads an atomic in a shared mapping: nothing that
        // another thread's state at the fork could break.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(std::io::Error::last_os_error()).context("forking BIRD's fence");
        }
        if pid == 0 {
            unsafe { fence_loop(parent, bird, beat, stale_ns) }
        }
        Ok(Fence { pid })
    }

    /// Whether it has exited (reaped then).
    fn exited(&self) -> bool {
        // SAFETY: our own child; WNOHANG does not block.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::WNOHANG) == self.pid }
    }

    /// Killed and reaped.
    fn stop(self) {
        // SAFETY: our own child, not reaped yet: its pid cannot have been reused.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The fence's body (see [`Fence`]).
unsafe fn fence_loop(
    parent: libc::pid_t,
    bird: libc::pid_t,
    beat: &'static AtomicU64,
    stale_ns: u64,
) -> ! {
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::getppid() != parent {
        libc::kill(bird, libc::SIGKILL);
        libc::_exit(0);
    }
    // Nothing of havip's held open (its lock, sockets, XDP links): it needs none.
    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    libc::prctl(
        libc::PR_SET_NAME,
        c"havip-fence".as_ptr() as libc::c_ulong,
        0,
        0,
        0,
    );
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: FENCE_EVERY_NS,
    };
    loop {
        libc::nanosleep(&pause, std::ptr::null_mut());
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
        let now = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
        let last = beat.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) > stale_ns {
            libc::kill(bird, libc::SIGKILL);
            libc::_exit(0);
        }
    }
}

/// BIRD's control socket: one command at a time, replies in numbered lines (`DDDD-` a line
/// that more follow, `DDDD ` the last, a leading space a continuation; codes 8000 and up are
/// errors).
struct Ctl {
    stream: BufReader<UnixStream>,
    greeting: String,
}

impl Ctl {
    fn connect(path: &Path) -> Result<Ctl> {
        let s = UnixStream::connect(path)
            .with_context(|| format!("connecting to BIRD's socket {}", path.display()))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.set_write_timeout(Some(Duration::from_secs(2)))?;
        let mut c = Ctl {
            stream: BufReader::new(s),
            greeting: String::new(),
        };
        let hello = c.reply()?.map_err(|e| anyhow::anyhow!("BIRD: {e}"))?;
        c.greeting = hello.trim().trim_end_matches(" ready.").to_string();
        Ok(c)
    }

    /// Its reply's text, or (inside) BIRD's refusal (codes 8000 and up); an I/O error outside.
    fn command(&mut self, cmd: &str) -> Result<std::result::Result<String, String>> {
        let s = self.stream.get_mut();
        s.write_all(cmd.as_bytes())?;
        s.write_all(b"\n")?;
        self.reply()
            .with_context(|| format!("BIRD's answer to `{cmd}`"))
    }

    /// One reply's text (codes stripped); inside, an error for codes 8000 and up.
    fn reply(&mut self) -> Result<std::result::Result<String, String>> {
        let mut text = String::new();
        let mut refused = false;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line)? == 0 {
                bail!("BIRD closed its control socket");
            }
            let line = line.trim_end_matches('\n');
            let b = line.as_bytes();
            if b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) {
                let code: u16 = line[..4].parse().unwrap_or(0);
                refused |= code >= 8000;
                text.push_str(&line[5..]);
                text.push('\n');
                if b[4] == b' ' {
                    return Ok(if refused {
                        Err(text.trim().to_string())
                    } else {
                        Ok(text)
                    });
                }
            } else {
                text.push_str(line.strip_prefix(' ').unwrap_or(line));
                text.push('\n');
            }
        }
    }
}

/// BIRD's messages (`log stderr`) into havip's log.
fn forward_log(err: impl Read) {
    let mut r = BufReader::new(err);
    let mut line = Vec::new();
    while matches!(r.read_until(b'\n', &mut line), Ok(n) if n > 0) {
        let text = String::from_utf8_lossy(&line);
        info!(target: "havip::bird", "{}", text.trim_end());
        line.clear();
    }
}

/// A file only root reads (it may name neighbours and policies).
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("conf.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all().ok();
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The state and info columns of protocol `name` in `show protocols`' table.
fn protocol_row(table: &str, name: &str) -> Option<(String, String)> {
    table.lines().find_map(|l| {
        let mut cols = l.split_whitespace();
        if cols.next()? != name {
            return None;
        }
        let _proto = cols.next()?;
        let _table = cols.next()?;
        let state = cols.next()?;
        let _since = cols.next()?;
        let rest: Vec<&str> = cols.collect();
        // BGP's info: its state, then maybe "Error: ..." or "Received: ...".
        let (bgp_state, info) = match rest.split_first() {
            Some((s, more)) => (s.to_string(), more.join(" ")),
            None => (state.to_string(), String::new()),
        };
        Some((bgp_state, info))
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    V4,
    V6,
}

fn families(vips: &[VipSpec]) -> Vec<Family> {
    let mut f = Vec::new();
    if vips.iter().any(|v| v.addr.is_ipv4()) {
        f.push(Family::V4);
    }
    if vips.iter().any(|v| v.addr.is_ipv6()) {
        f.push(Family::V6);
    }
    f
}

fn static_name(k: usize, fam: Family, kind: &str) -> String {
    let f = if fam == Family::V4 { 4 } else { 6 };
    format!("havip{f}_{k}_{kind}")
}

fn neighbor_name(i: usize) -> String {
    format!("havip_n{i}")
}

/// Anycast announcers run no election: they start as master (`state MASTER`, preempting), and
/// every tracked object counts as weight 0, so that any failing one is FAULT: the route
/// withdrawn. Applied to what the configuration says before the daemon runs it (at start and
/// at each reload).
pub fn normalize(spec: &mut crate::model::DaemonSpec) {
    let anycast = spec
        .bgp
        .as_ref()
        .is_some_and(|b| b.mode == crate::model::BgpMode::Anycast);
    if !anycast {
        return;
    }
    // No sync group holds an anycast announcer back (the config check warns of it).
    let announcers: Vec<String> = spec
        .instances
        .iter()
        .filter(|i| i.bgp_announce)
        .map(|i| i.name.clone())
        .collect();
    for g in &mut spec.sync_groups {
        g.instances.retain(|n| !announcers.contains(n));
    }
    for inst in spec.instances.iter_mut().filter(|i| i.bgp_announce) {
        let Some(v) = &mut inst.vrrp else { continue };
        v.start_as = crate::vrrp::StartState::Master;
        v.preempt = true;
        v.preempt_delay = Duration::ZERO;
        for (_, w) in &mut v.track_interfaces {
            *w = 0;
        }
        for (_, w) in v
            .track_scripts
            .iter_mut()
            .chain(v.track_files.iter_mut())
            .chain(v.track_bfds.iter_mut())
        {
            *w = Some(0);
        }
    }
}

/// A VIP as the host route announced: `/32` or `/128`.
fn host_prefix(v: &VipSpec) -> String {
    match v.addr {
        IpAddr::V4(a) => format!("{a}/32"),
        IpAddr::V6(a) => format!("{a}/128"),
    }
}

/// Whether a BACKUP announces anything: `backup prepend|med` in active/standby (anycast has
/// no backups).
fn has_backup(spec: &BgpSpec) -> bool {
    spec.backup != BackupRoute::Withdraw && spec.mode != crate::model::BgpMode::Anycast
}

/// BIRD's configuration: the neighbours, BFD if any asks for it, and two disabled static
/// protocols per announcing instance and family.
pub fn render(
    spec: &BgpSpec,
    announcing: &[Announcing],
    on: &dyn Fn(&str, Announce) -> bool,
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Written by havip at each start and reload; BIRD is havip's child. Do not edit.\n\
         log stderr {{ warning, error, fatal, info, remote, auth, bug }};"
    );
    if let Some(id) = spec.router_id {
        let _ = writeln!(o, "router id {id};");
    }
    let _ = writeln!(o, "protocol device {{ scan time 10; }}");
    if spec.neighbors.iter().any(|n| n.bfd) {
        let t = &spec.bfd;
        let _ = writeln!(
            o,
            "protocol bfd havip_bfd {{\n  interface \"*\" {{ min rx interval {} us; min tx \
             interval {} us; idle tx interval 1000 ms; multiplier {}; }};\n}}",
            t.min_rx.as_micros(),
            t.min_tx.as_micros(),
            t.multiplier
        );
    }
    let communities: String = spec
        .communities
        .iter()
        .map(|(a, b)| format!(" bgp_community.add(({a}, {b}));"))
        .collect();
    for (k, a) in announcing.iter().enumerate() {
        for fam in families(&a.vips) {
            let channel = if fam == Family::V4 { "ipv4" } else { "ipv6" };
            let vips: Vec<&VipSpec> = a
                .vips
                .iter()
                .filter(|v| v.addr.is_ipv4() == (fam == Family::V4))
                .collect();
            let worse = match spec.backup {
                BackupRoute::Withdraw => String::new(),
                BackupRoute::Prepend(n) => {
                    format!(" bgp_path.prepend({});", spec.local_as).repeat(usize::from(n))
                }
                BackupRoute::Med(m) => format!(" bgp_med = {m};"),
            };
            for (kind, pref, extra) in [("p", 200, String::new()), ("b", 100, worse)] {
                if kind == "b" && !has_backup(spec) {
                    continue;
                }
                // The file says what runs now, so that `configure` leaves a running protocol
                // running (BIRD restarts a protocol whose `disabled` differs from its state).
                let now = if kind == "p" {
                    Announce::Primary
                } else {
                    Announce::Backup
                };
                let _ =
                    writeln!(
                    o,
                    "# instance {}\nprotocol static {} {{\n  {channel} {{ preference {pref}; }};{}",
                    a.instance,
                    static_name(k, fam, kind),
                    if on(&a.instance, now) { "" } else { "\n  disabled;" },
                );
                for v in &vips {
                    let _ = writeln!(
                        o,
                        "  route {} blackhole {{{communities}{extra} }};",
                        host_prefix(v)
                    );
                }
                let _ = writeln!(o, "}}");
            }
        }
    }
    for (i, n) in spec.neighbors.iter().enumerate() {
        let channel = if n.addr.is_ipv4() { "ipv4" } else { "ipv6" };
        let local = n.source.map(|s| format!("{s} ")).unwrap_or_default();
        let _ = writeln!(
            o,
            "protocol bgp {} {{\n  local {local}as {};\n  neighbor {} as {};\n  hold time {};\n  \
             keepalive time {};\n  connect delay time 1;\n  connect retry time 1;\n  \
             error wait time 1, 10;\n  graceful restart off;\n  long lived graceful restart off;\n  \
             {}{}\n  {channel} {{ import none; export where source = RTS_STATIC; next hop self; }};\n}}",
            neighbor_name(i),
            spec.local_as,
            n.addr,
            n.remote_as,
            spec.hold_time,
            (spec.hold_time / 3).max(1),
            if n.bfd { "bfd on;" } else { "bfd off;" },
            // iBGP is multihop to BIRD unless told: single hop, as every neighbour here is.
            if n.remote_as == spec.local_as { "\n  direct;" } else { "" },
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BgpMode, BgpNeighbor};

    fn spec() -> BgpSpec {
        let mut s = BgpSpec::new(65001);
        s.router_id = Some("10.1.1.2".parse().unwrap());
        s.neighbors.push(BgpNeighbor {
            addr: "10.1.1.1".parse().unwrap(),
            remote_as: 65000,
            bfd: true,
            source: Some("10.1.1.2".parse().unwrap()),
        });
        s.communities.push((65001, 100));
        s.backup = BackupRoute::Prepend(2);
        s.mode = BgpMode::ActiveStandby;
        s
    }

    #[test]
    fn the_configuration_has_both_paths_disabled_and_the_fence_settings() {
        let conf = render(
            &spec(),
            &[Announcing {
                instance: "VI_1".into(),
                vips: vec![VipSpec {
                    addr: "203.0.113.10".parse().unwrap(),
                    prefix_len: 32,
                    label: None,
                }],
            }],
            &|_, _| false,
        );
        assert!(conf.contains("protocol static havip4_0_p {\n  ipv4 { preference 200; };\n  disabled;\n  route 203.0.113.10/32 blackhole { bgp_community.add((65001, 100)); };"), "{conf}");
        assert!(conf.contains("protocol static havip4_0_b {\n  ipv4 { preference 100; };\n  disabled;\n  route 203.0.113.10/32 blackhole { bgp_community.add((65001, 100)); bgp_path.prepend(65001); bgp_path.prepend(65001); };"), "{conf}");
        assert!(
            conf.contains("local 10.1.1.2 as 65001;\n  neighbor 10.1.1.1 as 65000;"),
            "{conf}"
        );
        assert!(conf.contains("graceful restart off;"));
        assert!(conf.contains("bfd on;"));
        assert!(conf.contains("min rx interval 50000 us; min tx interval 50000 us"));
        assert!(!conf.contains("havip6_"));
    }

    #[test]
    fn protocol_rows_give_the_bgp_state_and_error() {
        let t = "Name       Proto      Table      State  Since         Info\n\
                 device1    Device     ---        up     10:32:38.329\n\
                 havip_n0   BGP        ---        start  10:26:57.161  Idle          Error: BFD session down\n\
                 havip_n1   BGP        ---        up     10:32:40.131  Established\n";
        assert_eq!(
            protocol_row(t, "havip_n0"),
            Some(("Idle".into(), "Error: BFD session down".into()))
        );
        assert_eq!(
            protocol_row(t, "havip_n1"),
            Some(("Established".into(), String::new()))
        );
        assert_eq!(protocol_row(t, "havip_n2"), None);
    }

    /// BIRD itself reads what havip writes: both families, both kinds of worse path, BFD,
    /// communities (`bird -p`: parse only; bird2 is a lab package).
    #[test]
    fn bird_parses_the_configuration() {
        let dir = crate::testutil::TempDir::new("bird-conf");
        let vips = vec![
            VipSpec {
                addr: "203.0.113.10".parse().unwrap(),
                prefix_len: 24,
                label: None,
            },
            VipSpec {
                addr: "2001:db8::10".parse().unwrap(),
                prefix_len: 64,
                label: None,
            },
        ];
        for backup in [
            BackupRoute::Withdraw,
            BackupRoute::Prepend(3),
            BackupRoute::Med(100),
        ] {
            let mut s = spec();
            s.backup = backup;
            // iBGP: written `direct`.
            s.neighbors.push(BgpNeighbor {
                addr: "10.1.2.1".parse().unwrap(),
                remote_as: 65001,
                bfd: true,
                source: None,
            });
            s.neighbors.push(BgpNeighbor {
                addr: "2001:db8:1::1".parse().unwrap(),
                remote_as: 65000,
                bfd: false,
                source: None,
            });
            let conf = render(
                &s,
                &[
                    Announcing {
                        instance: "VI_1".into(),
                        vips: vips.clone(),
                    },
                    Announcing {
                        instance: "VI_2".into(),
                        vips: vips[..1].to_vec(),
                    },
                ],
                &|i, k| i == "VI_1" && k == Announce::Primary,
            );
            let path = dir.path().join("bird.conf");
            std::fs::write(&path, &conf).unwrap();
            let out = std::process::Command::new("bird")
                .arg("-p")
                .arg("-c")
                .arg(&path)
                .output()
                .expect("bird (Debian: bird2; `cargo xtask setup` installs it)");
            assert!(
                out.status.success(),
                "{backup:?}: {}\n{conf}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
