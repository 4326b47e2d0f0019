//! keepalived's notify hooks: commands run when an instance (or sync group) changes state.
//!
//! What keepalived does (`send_instance_notifies()`, `send_group_notifies()` and
//! `notify_script_exec()` in `keepalived/vrrp/vrrp_notify.c`):
//! - `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`: the one for the new state
//!   runs with the arguments written in its command line and nothing more;
//! - `notify`: runs for every transition with four more arguments,
//!   `INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY` (the effective priority; 0 for a
//!   group), launched after the state's own hook;
//! - both are forked and not waited for: a hook's failure or slowness never holds the daemon.
//!   The STOP hooks, run at shutdown, are given one second, then killed with their process group.
//!
//! havip runs hooks the same way ([`crate::track::command`]: no shell, own process group,
//! `script_user` (else `keepalived_script` if it exists), a clean environment,
//! `enable_script_security`), and bounds every hook by [`Notifier::timeout`] as well. Where
//! keepalived starts every transition's hooks at once (a flapping instance: one process per
//! transition), havip runs at most [`MAX_RUNNING`] transitions' hooks per instance and keeps
//! [`MAX_WAITING`] waiting, started oldest first; past that the oldest waiting transition is
//! skipped, never the newest, so the latest state's hooks always run. STOP hooks never wait.
//! Hooks started together may finish in any order, as in keepalived. Failures are logged with
//! `warn!`, never returned as errors. [`Notifier::instance`] and [`Notifier::group`] return at
//! once; the [`NotifyHandle`] lets a caller (tests, or shutdown waiting for the STOP hooks) see
//! the runs complete, or learn they were skipped.
//!
//! Each transition is also written to the notify FIFOs, if any ([`fifo`]), before its hooks
//! start.

pub mod fifo;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use crate::{
    model::NotifySpec,
    track::{command, Outcome},
    vrrp::{Action, Reason, State},
};

/// The state a hook announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotifyState {
    Master,
    Backup,
    Fault,
    /// The daemon is stopping the instance (shutdown).
    Stop,
}

impl NotifyState {
    /// As keepalived passes it to `notify`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
        }
    }

    /// The hook to run for a router entering `state` (none for Initialize: keepalived announces
    /// INIT to nobody).
    pub fn from_state(state: State) -> Option<NotifyState> {
        match state {
            State::Master => Some(NotifyState::Master),
            State::Backup => Some(NotifyState::Backup),
            State::Fault => Some(NotifyState::Fault),
            State::Initialize => None,
        }
    }

    /// The hook a router action calls for: `BecomeMaster`, `BecomeBackup`, `EnterFault`,
    /// `Stopped`. keepalived runs `notify_master` after the VIPs are up, so run the hooks once
    /// the batch of actions (the `AddVips` after `BecomeMaster`) is carried out.
    pub fn from_action(action: &Action) -> Option<NotifyState> {
        match action {
            // A hitless restart's new process resuming: nothing changed for the hooks (the
            // old process ran none when it handed over).
            Action::BecomeMaster {
                reason: Reason::Resumed,
            } => None,
            Action::BecomeMaster { .. } => Some(NotifyState::Master),
            Action::BecomeBackup { .. } => Some(NotifyState::Backup),
            Action::EnterFault => Some(NotifyState::Fault),
            Action::Stopped => Some(NotifyState::Stop),
            _ => None,
        }
    }
}

impl std::fmt::Display for NotifyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hook that ran (or could not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookRun {
    /// The words it ran with, extra arguments included.
    pub argv: Vec<String>,
    pub outcome: Outcome,
}

/// How many transitions of one instance may have their hooks running at once (each runs its
/// state's hook and `notify`: at most twice as many processes).
pub const MAX_RUNNING: usize = 4;
/// How many transitions of one instance may wait for a place; past that the oldest waiting one
/// is skipped, so the latest is always run.
pub const MAX_WAITING: usize = 8;

/// The hooks of one transition, run (or skipped) on a task of their own.
#[derive(Debug)]
pub struct NotifyHandle {
    done: Option<oneshot::Receiver<Vec<HookRun>>>,
}

impl NotifyHandle {
    /// Waits for every hook of the transition to finish or be killed at its timeout (or for
    /// the transition to be skipped: its runs then say so). Dropping the handle instead leaves
    /// them running.
    pub async fn wait(self) -> Vec<HookRun> {
        match self.done {
            None => Vec::new(),
            Some(rx) => rx.await.unwrap_or_default(),
        }
    }

    /// Whether the transition ran no hook at all (none configured for it).
    pub fn is_empty(&self) -> bool {
        self.done.is_none()
    }
}

/// One transition's hooks, ready to run.
struct Job {
    hooks: Vec<(String, Vec<String>)>,
    user: Option<String>,
    timeout: Duration,
    context: String,
    done: oneshot::Sender<Vec<HookRun>>,
}

/// The transitions of one instance (or group) whose hooks run or wait.
#[derive(Default)]
struct Lane {
    running: usize,
    waiting: VecDeque<Job>,
    /// Transitions skipped since the lane was last idle (logged once, when it is).
    skipped: u64,
}

/// Every instance's lane, shared by the clones of a [`Notifier`] and its runner tasks.
type Lanes = Arc<Mutex<HashMap<String, Lane>>>;

/// Runs notify hooks: per instance at most [`MAX_RUNNING`] transitions' hooks at once and
/// [`MAX_WAITING`] waiting.
#[derive(Clone)]
pub struct Notifier {
    /// keepalived `script_user` (`USER [GROUP]`): whom hooks run as, when havip may switch
    /// users; without it `keepalived_script` if that user exists, as in keepalived.
    pub user: Option<String>,
    /// Longest a MASTER/BACKUP/FAULT hook may run before its process group is killed
    /// (keepalived: unbounded).
    pub timeout: Duration,
    /// Longest a STOP hook may run (keepalived: one second).
    pub stop_timeout: Duration,
    /// keepalived `notify_fifo` / `vrrp_notify_fifo`.
    pub fifos: Arc<fifo::Fifos>,
    lanes: Lanes,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("user", &self.user)
            .field("timeout", &self.timeout)
            .field("stop_timeout", &self.stop_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            user: None,
            timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(1),
            fifos: Arc::default(),
            lanes: Lanes::default(),
        }
    }
}

impl Notifier {
    /// Runs the hooks of instance `name` entering `state`; `priority` is its effective priority.
    /// Must be called within a tokio runtime; returns at once.
    pub fn instance(
        &self,
        spec: &NotifySpec,
        name: &str,
        state: NotifyState,
        priority: u8,
    ) -> NotifyHandle {
        self.launch(spec, "INSTANCE", name, state, priority)
    }

    /// Runs the hooks of sync group `name` entering `state` (`notify` gets priority 0).
    #[cfg(test)]
    pub fn group(&self, spec: &NotifySpec, name: &str, state: NotifyState) -> NotifyHandle {
        self.launch(spec, "GROUP", name, state, 0)
    }

    fn launch(
        &self,
        spec: &NotifySpec,
        kind: &str,
        name: &str,
        state: NotifyState,
        priority: u8,
    ) -> NotifyHandle {
        self.fifos
            .write(&fifo::line(kind, name, state.as_str(), priority));
        let own = match state {
            NotifyState::Master => &spec.master,
            NotifyState::Backup => &spec.backup,
            NotifyState::Fault => &spec.fault,
            NotifyState::Stop => &spec.stop,
        };
        let mut hooks: Vec<(String, Vec<String>)> = Vec::new();
        if let Some(line) = own {
            hooks.push((line.clone(), Vec::new()));
        }
        if let Some(line) = &spec.any {
            let extra = [kind, name, state.as_str(), &priority.to_string()].map(String::from);
            hooks.push((line.clone(), extra.to_vec()));
        }
        if hooks.is_empty() {
            return NotifyHandle { done: None };
        }
        let timeout = match state {
            NotifyState::Stop => self.stop_timeout,
            _ => self.timeout,
        };
        let (tx, rx) = oneshot::channel();
        let job = Job {
            hooks,
            user: self.user.clone(),
            timeout,
            context: format!("{} {name} {state}", kind.to_lowercase()),
            done: tx,
        };
        // STOP hooks come last and are given a second at shutdown: they never wait.
        if state == NotifyState::Stop {
            tokio::spawn(run_job(job));
            return NotifyHandle { done: Some(rx) };
        }
        self.enqueue(format!("{kind} {name}"), job);
        NotifyHandle { done: Some(rx) }
    }

    /// keepalived's `send_event_notify()` for a master that heard a lower-priority advert:
    /// the FIFO line `INSTANCE "NAME" MASTER_RX_LOWER_PRI PRIO`, and
    /// `notify_master_rx_lower_pri` run with no arguments (not `notify`), in a lane of its
    /// own so that it never holds up the instance's transition hooks.
    pub fn master_rx_lower_pri(&self, spec: &NotifySpec, name: &str, priority: u8) {
        self.fifos.write(&fifo::line(
            "INSTANCE",
            name,
            "MASTER_RX_LOWER_PRI",
            priority,
        ));
        let Some(line) = &spec.master_rx_lower_pri else {
            return;
        };
        let (tx, _) = oneshot::channel();
        let job = Job {
            hooks: vec![(line.clone(), Vec::new())],
            user: self.user.clone(),
            timeout: self.timeout,
            context: format!("instance {name} MASTER_RX_LOWER_PRI"),
            done: tx,
        };
        self.enqueue(format!("EVENT {name}"), job);
    }

    /// keepalived's `send_instance_priority_notifies()` (with `notify_priority_changes`): the
    /// FIFO line `INSTANCE "NAME" MASTER_PRIORITY PRIO` (or `BACKUP_PRIORITY`), no hook.
    pub fn priority_changed(&self, name: &str, master: bool, priority: u8) {
        let event = if master {
            "MASTER_PRIORITY"
        } else {
            "BACKUP_PRIORITY"
        };
        self.fifos
            .write(&fifo::line("INSTANCE", name, event, priority));
    }

    /// Runs `job` in lane `key` now, or queues it (the oldest waiting one skipped past the
    /// bound).
    fn enqueue(&self, key: String, job: Job) {
        let mut lanes = self.lanes.lock().expect("notify lanes");
        let lane = lanes.entry(key.clone()).or_default();
        if lane.running < MAX_RUNNING {
            lane.running += 1;
            tokio::spawn(run_lane(self.lanes.clone(), key, job));
        } else {
            lane.waiting.push_back(job);
            if lane.waiting.len() > MAX_WAITING {
                let skipped = lane.waiting.pop_front().expect("over the bound");
                lane.skipped += 1;
                if lane.skipped == 1 {
                    warn!(
                        "notify hooks of {}: transitions come faster than their hooks finish; \
                         the oldest waiting ones are skipped (the latest always runs)",
                        key.to_lowercase()
                    );
                }
                skip(skipped);
            }
        }
    }
}

/// A waiting transition pushed out by newer ones: its hooks are not run, and say so (the
/// lane warns at the first skip of a burst and says how many when it is idle again, not one
/// line per transition).
fn skip(job: Job) {
    debug!("notify hooks for {} skipped", job.context);
    let runs = job
        .hooks
        .into_iter()
        .map(|(line, _)| HookRun {
            argv: vec![line],
            outcome: Outcome::down(format!(
                "skipped: {MAX_WAITING} newer transitions were waiting"
            )),
        })
        .collect();
    let _ = job.done.send(runs);
}

/// Runs `job`, then the lane's waiting transitions, oldest first, while there are any.
async fn run_lane(lanes: Lanes, key: String, mut job: Job) {
    loop {
        run_job(job).await;
        let mut all = lanes.lock().expect("notify lanes");
        let Some(lane) = all.get_mut(&key) else {
            return;
        };
        match lane.waiting.pop_front() {
            Some(next) => job = next,
            None => {
                lane.running -= 1;
                if lane.running == 0 {
                    if lane.skipped > 0 {
                        warn!(
                            "notify hooks of {} transitions of {} skipped: {MAX_RUNNING} \
                             transitions' hooks were running and {MAX_WAITING} newer ones \
                             waiting (the latest always runs)",
                            lane.skipped,
                            key.to_lowercase()
                        );
                    }
                    all.remove(&key);
                }
                return;
            }
        }
    }
}

async fn run_job(job: Job) {
    let Job {
        hooks,
        user,
        timeout,
        context,
        done,
    } = job;
    let runs = hooks
        .into_iter()
        .map(|(line, extra)| run_hook(line, extra, user.clone(), timeout, context.clone()));
    let _ = done.send(futures::future::join_all(runs).await);
}

/// Runs `line` once as the hooks run (as `user`, no shell, a clean environment, the script
/// security checks) and waits for it; its process group is killed at `timeout`. keepalived's
/// `startup_script` and `shutdown_script`: a failure is logged, never fatal.
pub async fn run_once(line: &str, user: Option<String>, timeout: Duration, what: &str) -> HookRun {
    let run = run_hook(
        line.to_string(),
        Vec::new(),
        user,
        timeout,
        what.to_string(),
    )
    .await;
    if run.outcome.ok {
        tracing::info!("{what} `{line}`: {}", run.outcome.detail);
    }
    run
}

async fn run_hook(
    line: String,
    extra: Vec<String>,
    user: Option<String>,
    timeout: Duration,
    context: String,
) -> HookRun {
    let started = Instant::now();
    let mut argv = match command::split_command(&line) {
        Ok(a) => a,
        Err(e) => {
            warn!("notify hook for {context}: {e:#}");
            return HookRun {
                argv: vec![line],
                outcome: Outcome::down(format!("{e:#}")),
            };
        }
    };
    argv.extend(extra.into_iter().map(Into::into));
    let shown = command::display(&argv);
    let words = argv
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let vetted = match command::resolve_user(user).await {
        Ok(run_as) => command::vet(&argv[0], run_as.as_ref()).map(|()| run_as),
        Err(e) => Err(format!("{e:#}")),
    };
    let run_as = match vetted {
        Ok(r) => r,
        Err(why) => {
            warn!("notify hook `{shown}` for {context} not run: {why}");
            return HookRun {
                argv: words,
                outcome: Outcome::down(why),
            };
        }
    };
    let exit = command::run(&argv, run_as.as_ref(), timeout).await;
    let outcome = command::outcome(&exit, timeout, started);
    if outcome.ok {
        debug!("notify hook `{shown}` for {context}: {}", outcome.detail);
    } else {
        warn!("notify hook `{shown}` for {context}: {}", outcome.detail);
    }
    HookRun {
        argv: words,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use std::{
        path::Path,
        sync::{Arc, Mutex},
    };

    use super::*;
    use crate::testutil::{pid_alive, TempDir};

    /// A hook script that records its name and arguments, `|`-separated, in a file of its own
    /// under `out` (hooks of one transition run concurrently: one file each keeps their
    /// writes apart).
    fn recorder(dir: &TempDir, name: &str, out: &Path) -> String {
        std::fs::create_dir_all(out).unwrap();
        dir.script(
            name,
            &format!(
                "line=$(basename \"$0\"); for a in \"$@\"; do line=\"$line|$a\"; done\n\
                 echo \"$line\" >> {}/$(basename \"$0\")",
                out.display()
            ),
        )
        .display()
        .to_string()
    }

    /// Every line the recorders wrote, sorted.
    fn lines(out: &Path) -> Vec<String> {
        let mut l = Vec::new();
        for f in std::fs::read_dir(out).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(f.path()).unwrap();
            l.extend(text.lines().map(String::from));
        }
        l.sort();
        l
    }

    fn full_spec(dir: &TempDir, out: &Path) -> NotifySpec {
        NotifySpec {
            master: Some(format!("{} 'as master'", recorder(dir, "master", out))),
            backup: Some(recorder(dir, "backup", out)),
            fault: Some(recorder(dir, "fault", out)),
            stop: Some(recorder(dir, "stop", out)),
            any: Some(recorder(dir, "any", out)),
            master_rx_lower_pri: Some(recorder(dir, "rxlower", out)),
            priority_changes: false,
        }
    }

    /// keepalived's `send_event_notify()`: the FIFO line, and `notify_master_rx_lower_pri`
    /// alone (not `notify`, not the state's hook), with no arguments.
    #[tokio::test]
    async fn master_rx_lower_pri_writes_its_line_and_runs_its_hook_alone() {
        use std::{io::Read as _, os::unix::fs::OpenOptionsExt as _};
        let dir = TempDir::new("notify-rxlower");
        let out = dir.path().join("calls");
        let spec = full_spec(&dir, &out);
        let path = dir.path().join("fifo");
        let n = Notifier::default();
        n.fifos
            .set(&[crate::model::FifoSpec {
                path: path.clone(),
                user: None,
                group: None,
            }])
            .unwrap();
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        n.master_rx_lower_pri(&spec, "web", 150);
        for _ in 0..500 {
            if !lines(&out).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(lines(&out), ["rxlower"]);
        let mut got = String::new();
        reader.read_to_string(&mut got).ok();
        assert_eq!(got, "INSTANCE \"web\" MASTER_RX_LOWER_PRI 150\n");
    }

    #[tokio::test]
    async fn state_hook_gets_its_own_words_and_notify_gets_keepalived_arguments() {
        let dir = TempDir::new("notify");
        let out = dir.path().join("calls");
        let spec = full_spec(&dir, &out);
        let runs = Notifier::default()
            .instance(&spec, "VI_1", NotifyState::Master, 150)
            .wait()
            .await;
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r.outcome.ok), "{runs:?}");
        assert_eq!(
            lines(&out),
            ["any|INSTANCE|VI_1|MASTER|150", "master|as master"]
        );
        assert_eq!(&runs[1].argv[1..], ["INSTANCE", "VI_1", "MASTER", "150"]);
    }

    #[tokio::test]
    async fn each_state_runs_its_hook() {
        for (state, own) in [
            (NotifyState::Backup, "backup"),
            (NotifyState::Fault, "fault"),
            (NotifyState::Stop, "stop"),
        ] {
            let dir = TempDir::new("notify-state");
            let out = dir.path().join("calls");
            let spec = full_spec(&dir, &out);
            let runs = Notifier::default()
                .instance(&spec, "web", state, 90)
                .wait()
                .await;
            assert_eq!(runs.len(), 2);
            assert_eq!(
                lines(&out),
                [format!("any|INSTANCE|web|{state}|90"), own.to_string()]
            );
        }
    }

    #[tokio::test]
    async fn group_hooks_get_priority_zero() {
        let dir = TempDir::new("notify-group");
        let out = dir.path().join("calls");
        let spec = full_spec(&dir, &out);
        Notifier::default()
            .group(&spec, "G1", NotifyState::Fault)
            .wait()
            .await;
        assert_eq!(lines(&out), ["any|GROUP|G1|FAULT|0", "fault"]);
    }

    #[tokio::test]
    async fn no_hook_configured_runs_nothing() {
        let spec = NotifySpec {
            master: Some("/bin/true".into()),
            ..NotifySpec::default()
        };
        let h = Notifier::default().instance(&spec, "x", NotifyState::Backup, 1);
        assert!(h.is_empty());
        assert!(h.wait().await.is_empty());
    }

    #[tokio::test]
    async fn hung_hook_is_killed_at_the_timeout() {
        let dir = TempDir::new("notify-hung");
        let pid_file = dir.path().join("pid");
        let hang = dir.script(
            "hang",
            &format!("sleep 300 &\necho $! > {}\nwait", pid_file.display()),
        );
        let spec = NotifySpec {
            backup: Some(hang.display().to_string()),
            ..NotifySpec::default()
        };
        let notifier = Notifier {
            timeout: Duration::from_millis(300),
            ..Notifier::default()
        };
        let started = Instant::now();
        let handle = notifier.instance(&spec, "x", NotifyState::Backup, 100);
        let runs = handle.wait().await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(runs.len(), 1);
        assert!(!runs[0].outcome.ok);
        assert!(
            runs[0].outcome.detail.starts_with("timed out after 300ms"),
            "{}",
            runs[0].outcome.detail
        );
        let sleeper: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_alive(sleeper) {
            assert!(Instant::now() < deadline, "the hook's child survived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn stop_hooks_get_the_stop_timeout() {
        let spec = NotifySpec {
            stop: Some("/bin/sleep 300".into()),
            backup: Some("/bin/sleep 0.3".into()),
            ..NotifySpec::default()
        };
        let notifier = Notifier {
            timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_millis(100),
            ..Notifier::default()
        };
        let runs = notifier
            .instance(&spec, "x", NotifyState::Stop, 100)
            .wait()
            .await;
        assert!(runs[0].outcome.detail.starts_with("timed out after 100ms"));
        let runs = notifier
            .instance(&spec, "x", NotifyState::Backup, 100)
            .wait()
            .await;
        assert!(runs[0].outcome.ok, "{:?}", runs[0]);
    }

    /// Captures what `tracing` logs on this thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn missing_or_broken_hook_is_logged_not_fatal() {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let dir = TempDir::new("notify-missing");
        let out = dir.path().join("calls");
        let spec = NotifySpec {
            master: Some("/nonexistent/havip-hook".into()),
            fault: Some("/bin/sh -c 'exit 7'".into()),
            stop: Some("'unterminated".into()),
            any: Some(recorder(&dir, "any", &out)),
            ..NotifySpec::default()
        };
        let n = Notifier::default();
        let runs = n
            .instance(&spec, "VI_9", NotifyState::Master, 9)
            .wait()
            .await;
        assert!(!runs[0].outcome.ok);
        assert!(runs[0].outcome.detail.starts_with("could not run"));
        // The generic hook still ran.
        assert!(runs[1].outcome.ok);
        assert_eq!(lines(&out), ["any|INSTANCE|VI_9|MASTER|9"]);
        let runs = n
            .instance(&spec, "VI_9", NotifyState::Fault, 9)
            .wait()
            .await;
        assert_eq!(runs[0].outcome, Outcome::down("exited with status 7"));
        let runs = n.instance(&spec, "VI_9", NotifyState::Stop, 9).wait().await;
        assert!(runs[0].outcome.detail.contains("closing"), "{runs:?}");
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(
            logged.contains(
                "notify hook `/nonexistent/havip-hook` for instance VI_9 MASTER: could not run"
            ),
            "{logged}"
        );
        assert!(logged.contains("exited with status 7"), "{logged}");
        assert!(logged.contains("lacks its closing '"), "{logged}");
    }

    /// The audit's finding: 300 transitions gave 300 live hook processes. Now at most
    /// [`MAX_RUNNING`] transitions' hooks of an instance run at once, [`MAX_WAITING`] wait,
    /// the older waiting ones are skipped and say so, and the latest runs.
    #[tokio::test]
    async fn hooks_of_a_flapping_instance_are_bounded_and_the_latest_runs() {
        let dir = TempDir::new("notify-bound");
        let live = dir.path().join("live");
        std::fs::create_dir(&live).unwrap();
        let log = dir.path().join("started");
        // Each hook marks itself live while it sleeps, and logs its priority (the sequence).
        let hook = dir.script(
            "slow",
            &format!(
                "touch {live}/$$; echo \"$4\" >> {log}; sleep 0.4; rm {live}/$$",
                live = live.display(),
                log = log.display()
            ),
        );
        let spec = NotifySpec {
            any: Some(hook.display().to_string()),
            ..NotifySpec::default()
        };
        let n = Notifier::default();
        let transitions = 250usize;
        let mut handles = Vec::new();
        for i in 0..transitions {
            let state = if i % 2 == 0 {
                NotifyState::Master
            } else {
                NotifyState::Backup
            };
            handles.push(n.instance(&spec, "VI_1", state, i as u8));
        }
        // Another instance has a lane of its own.
        let other = n.instance(&spec, "VI_2", NotifyState::Master, 7);
        let sampler = {
            let live = live.clone();
            tokio::spawn(async move {
                let mut most = 0;
                for _ in 0..400 {
                    let now = std::fs::read_dir(&live).map_or(0, |d| d.count());
                    most = most.max(now);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                most
            })
        };
        let mut ran = 0;
        let mut skipped = 0;
        for h in handles {
            let runs = h.wait().await;
            assert_eq!(runs.len(), 1);
            if runs[0].outcome.ok {
                ran += 1;
            } else {
                assert!(
                    runs[0].outcome.detail.starts_with("skipped"),
                    "{:?}",
                    runs[0]
                );
                skipped += 1;
            }
        }
        assert!(other.wait().await[0].outcome.ok);
        let most = sampler.await.unwrap();
        let started: Vec<u32> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        eprintln!(
            "{transitions} transitions: {ran} ran, {skipped} skipped, at most {most} hooks live"
        );
        // VI_2's one hook may overlap VI_1's.
        assert!(most <= MAX_RUNNING + 1, "{most} hooks at once");
        assert_eq!(ran, MAX_RUNNING + MAX_WAITING);
        assert_eq!(ran + skipped, transitions);
        // The first MAX_RUNNING ran at once, then the MAX_WAITING latest (taken from the queue
        // oldest first; hooks started together may log in any order).
        let mut vi1: Vec<u32> = started.iter().copied().filter(|&p| p != 7).collect();
        vi1.sort_unstable();
        let t = transitions as u32;
        let want: Vec<u32> = (0..MAX_RUNNING as u32)
            .chain(t - MAX_WAITING as u32..t)
            .collect();
        assert_eq!(vi1, want, "{started:?}");
    }

    /// Hooks get PATH and nothing else of havip's environment (before: all of it).
    #[tokio::test]
    async fn hooks_get_a_clean_environment() {
        let dir = TempDir::new("notify-env");
        let out = dir.path().join("env.out");
        let hook = dir.script("env", &format!("env > {}", out.display()));
        let spec = NotifySpec {
            master: Some(hook.display().to_string()),
            ..NotifySpec::default()
        };
        let runs = Notifier::default()
            .instance(&spec, "VI_1", NotifyState::Master, 100)
            .wait()
            .await;
        assert!(runs[0].outcome.ok, "{runs:?}");
        let env = std::fs::read_to_string(&out).unwrap();
        let names: Vec<&str> = env
            .lines()
            .filter_map(|l| l.split_once('=').map(|(n, _)| n))
            .collect();
        // The shell adds PWD of its own.
        assert!(
            names
                .iter()
                .all(|n| ["PATH", "PWD", "SHLVL", "_"].contains(n)),
            "{env}"
        );
        assert!(
            env.lines()
                .any(|l| l == format!("PATH={}", crate::track::security::SCRIPT_PATH)),
            "{env}"
        );
        // cargo runs the tests with variables of its own: none reaches the hook.
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(!env.contains("CARGO"), "{env}");
    }

    /// Hooks run as `script_user` (`id -u` in the hook).
    #[tokio::test]
    async fn hooks_run_as_script_user() {
        if !command::can_switch_user() {
            eprintln!("skipped: switching users needs root");
            return;
        }
        let Ok(nobody) = command::RunAs::resolve("nobody") else {
            eprintln!("skipped: no user nobody");
            return;
        };
        use std::os::unix::fs::PermissionsExt as _;
        let dir = TempDir::new("notify-user");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = dir.path().join("uid");
        let hook = dir.script("whoami", &format!("id -u > {}", out.display()));
        let spec = NotifySpec {
            fault: Some(hook.display().to_string()),
            ..NotifySpec::default()
        };
        let n = Notifier {
            user: Some("nobody".into()),
            ..Notifier::default()
        };
        let runs = n
            .instance(&spec, "VI_1", NotifyState::Fault, 0)
            .wait()
            .await;
        assert!(runs[0].outcome.ok, "{runs:?}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("{}\n", nobody.uid)
        );
    }

    #[test]
    fn router_states_map_to_hooks() {
        assert_eq!(
            NotifyState::from_state(State::Master),
            Some(NotifyState::Master)
        );
        assert_eq!(
            NotifyState::from_state(State::Backup),
            Some(NotifyState::Backup)
        );
        assert_eq!(
            NotifyState::from_state(State::Fault),
            Some(NotifyState::Fault)
        );
        assert_eq!(NotifyState::from_state(State::Initialize), None);
        assert_eq!(
            NotifyState::from_action(&Action::EnterFault),
            Some(NotifyState::Fault)
        );
        assert_eq!(
            NotifyState::from_action(&Action::Stopped),
            Some(NotifyState::Stop)
        );
        assert_eq!(
            NotifyState::from_action(&Action::RemoveVips(Vec::new())),
            None
        );
    }
}
