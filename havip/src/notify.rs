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
//! `script_user` when root), and bounds every hook by [`Notifier::timeout`] as well, so a hung
//! hook cannot pile up one process per transition. Failures are logged with `warn!`, never
//! returned as errors. [`Notifier::instance`] and [`Notifier::group`] return at once; the
//! [`NotifyHandle`] lets a caller (tests, or shutdown waiting for the STOP hooks) see the runs
//! complete. Hooks of successive transitions are not serialised, as in keepalived.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tracing::{debug, warn};

#[cfg(test)]
use crate::vrrp::State;
use crate::{
    model::NotifySpec,
    track::{
        command::{self, RunAs},
        Outcome,
    },
    vrrp::Action,
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
    #[cfg(test)]
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

/// The hooks of one transition, running on a task of their own.
#[derive(Debug)]
pub struct NotifyHandle {
    task: Option<JoinHandle<Vec<HookRun>>>,
}

impl NotifyHandle {
    /// Waits for every hook of the transition to finish or be killed at its timeout. Dropping
    /// the handle instead leaves them running.
    pub async fn wait(self) -> Vec<HookRun> {
        match self.task {
            None => Vec::new(),
            Some(t) => t.await.unwrap_or_default(),
        }
    }

    /// Whether the transition ran no hook at all (none configured for it).
    pub fn is_empty(&self) -> bool {
        self.task.is_none()
    }
}

/// Runs notify hooks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notifier {
    /// keepalived `script_user` (`USER [GROUP]`): whom hooks run as, when havip is root.
    pub user: Option<String>,
    /// Longest a MASTER/BACKUP/FAULT hook may run before its process group is killed
    /// (keepalived: unbounded).
    pub timeout: Duration,
    /// Longest a STOP hook may run (keepalived: one second).
    pub stop_timeout: Duration,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            user: None,
            timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(1),
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
            return NotifyHandle { task: None };
        }
        let timeout = match state {
            NotifyState::Stop => self.stop_timeout,
            _ => self.timeout,
        };
        let user = self.user.clone();
        let context = format!("{} {name} {state}", kind.to_lowercase());
        let task = tokio::spawn(async move {
            let runs = hooks
                .into_iter()
                .map(|(line, extra)| run_hook(line, extra, user.clone(), timeout, context.clone()));
            futures::future::join_all(runs).await
        });
        NotifyHandle { task: Some(task) }
    }
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
    let run_as = match user.filter(|_| command::can_switch_user()) {
        None => None,
        Some(u) => match tokio::task::spawn_blocking(move || RunAs::resolve(&u)).await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                warn!("notify hook `{shown}` for {context} not run: {e:#}");
                return HookRun {
                    argv: words,
                    outcome: Outcome::down(format!("{e:#}")),
                };
            }
            Err(e) => {
                return HookRun {
                    argv: words,
                    outcome: Outcome::down(format!("resolving the user: {e}")),
                }
            }
        },
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
        }
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
            user: None,
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
