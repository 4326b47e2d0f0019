//! Probes and the tracker against real peers: child processes, and TCP/HTTP/SIP responders on
//! 127.0.0.1.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, UdpSocket},
    sync::mpsc,
};

use super::*;
use crate::testutil::*;
use crate::track::priority::Tracked;

fn script(command: &str) -> Check {
    Check::Script {
        command: command.into(),
        user: None,
    }
}

/// A local port nothing listens on (bound, then released).
fn closed_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still exists");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn script_exit_status_decides() {
    let ok = probe(&script("/bin/sh -c 'exit 0'"), Duration::from_secs(5)).await;
    assert!(ok.ok, "{}", ok.detail);
    let bad = probe(&script("/bin/sh -c 'exit 3'"), Duration::from_secs(5)).await;
    assert_eq!(bad, Outcome::down("exited with status 3"));
    let sig = probe(&script("/bin/sh -c 'kill -9 $$'"), Duration::from_secs(5)).await;
    assert!(!sig.ok);
    assert!(
        sig.detail.starts_with("killed by signal 9"),
        "{}",
        sig.detail
    );
}

#[tokio::test]
async fn script_gets_its_words_without_a_shell() {
    let dir = TempDir::new("argv");
    let out = dir.path().join("argv");
    let s = dir.script(
        "check",
        &format!(
            "for a in \"$@\"; do printf '%s|' \"$a\"; done > {}",
            out.display()
        ),
    );
    let line = format!(r#"{} "two words" '$HOME' a\ b *"#, s.display());
    let o = probe(&script(&line), Duration::from_secs(5)).await;
    assert!(o.ok, "{}", o.detail);
    // No shell: no expansion of $HOME or *, quotes and escapes as keepalived reads them.
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        "two words|$HOME|a b|*|"
    );
}

#[tokio::test]
async fn missing_script_fails_with_the_reason() {
    let o = probe(&script("/nonexistent/havip-check"), Duration::from_secs(5)).await;
    assert!(!o.ok);
    assert!(o.detail.starts_with("could not run:"), "{}", o.detail);
    assert!(o.detail.contains("No such file"), "{}", o.detail);
}

#[tokio::test]
async fn hung_script_is_killed_with_its_process_group_at_the_timeout() {
    let dir = TempDir::new("hung");
    let pids = dir.path().join("pids");
    // The script starts a grandchild in its group, records both pids, and hangs.
    let s = dir.script(
        "hang",
        &format!("sleep 300 &\necho $$ $! > {}\nwait", pids.display()),
    );
    let started = Instant::now();
    let o = probe(
        &script(&s.display().to_string()),
        Duration::from_millis(300),
    )
    .await;
    let took = started.elapsed();
    assert!(!o.ok);
    assert!(
        o.detail.starts_with("timed out after 300ms"),
        "{}",
        o.detail
    );
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let text = std::fs::read_to_string(pids).unwrap();
    let mut it = text.split_whitespace().map(|p| p.parse::<i32>().unwrap());
    let (script_pid, sleep_pid) = (it.next().unwrap(), it.next().unwrap());
    // The script was reaped by the probe; the grandchild died with the group (init reaps it).
    assert!(
        !pid_exists(script_pid),
        "the script is left as a process or zombie"
    );
    wait_gone(sleep_pid).await;
}

#[tokio::test]
async fn abandoned_run_kills_the_group() {
    let dir = TempDir::new("abandon");
    let pids = dir.path().join("pids");
    let s = dir.script(
        "hang",
        &format!("echo $$ > {}\nexec sleep 300", pids.display()),
    );
    let check = script(&s.display().to_string());
    let run = tokio::spawn(async move { probe(&check, Duration::from_secs(300)).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&pids).map_or(true, |t| !t.ends_with('\n')) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    run.abort();
    let _ = run.await;
    wait_gone(pid).await;
}

#[tokio::test]
async fn script_runs_as_the_configured_user() {
    if !command::can_switch_user() {
        eprintln!("skipped: switching users needs root");
        return;
    }
    let Ok(nobody) = command::RunAs::resolve("nobody") else {
        eprintln!("skipped: no user nobody");
        return;
    };
    let dir = TempDir::new("user");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("id");
    let s = dir.script(
        "whoami",
        &format!("id -u > {0}; id -g >> {0}", out.display()),
    );
    let check = Check::Script {
        command: s.display().to_string(),
        user: Some("nobody".into()),
    };
    let o = probe(&check, Duration::from_secs(5)).await;
    assert!(o.ok, "{}", o.detail);
    let ids = std::fs::read_to_string(out).unwrap();
    assert_eq!(ids, format!("{}\n{}\n", nobody.uid, nobody.gid));
    let unknown = Check::Script {
        command: s.display().to_string(),
        user: Some("no-such-user-havip".into()),
    };
    let o = probe(&unknown, Duration::from_secs(5)).await;
    assert!(!o.ok);
    assert!(o.detail.contains("no user named"), "{}", o.detail);
}

/// `enable_script_security` at run time: a script root would run from a directory anyone may
/// write is refused before it runs; as another user, or without the setting, it runs.
#[test]
fn enforced_security_refuses_an_insecure_script_before_it_runs() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root-owned paths");
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("vet");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let s = dir.script("chk", "exit 0");
    let argv0 = s.as_os_str();
    let err = command::vet_with(argv0, None, true).unwrap_err();
    assert!(err.contains("writable by others"), "{err}");
    assert!(err.starts_with("refused (enable_script_security)"), "{err}");
    assert!(command::vet_with(argv0, None, false).is_ok());
    let nobody = command::RunAs::resolve("nobody").unwrap();
    assert!(command::vet_with(argv0, Some(&nobody), true).is_ok());
}

#[test]
fn script_does_not_inherit_real_time_scheduling() {
    // The daemon may run SCHED_FIFO (--rt-priority); its checks and hooks must not.
    let dir = TempDir::new("sched");
    let out = dir.path().join("policy");
    // Field 41 of /proc/PID/stat is the scheduling policy (0 = SCHED_OTHER, 1 = SCHED_FIFO).
    let s = dir.script(
        "policy",
        &format!("cut -d' ' -f41 /proc/$$/stat > {}", out.display()),
    );
    let check = script(&s.display().to_string());
    let policy = std::thread::spawn(move || {
        let param = libc::sched_param { sched_priority: 1 };
        // SAFETY: plain syscall on this (test-only) thread.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
            return None; // no CAP_SYS_NICE here
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let o = rt.block_on(probe(&check, Duration::from_secs(5)));
        assert!(o.ok, "{}", o.detail);
        Some(std::fs::read_to_string(&out).unwrap())
    })
    .join()
    .unwrap();
    match policy {
        None => eprintln!("skipped: SCHED_FIFO needs CAP_SYS_NICE"),
        Some(p) => assert_eq!(p.trim(), "0", "the script ran with policy {p}"),
    }
}

#[tokio::test]
async fn tcp_connect_to_a_listener_and_to_a_closed_port() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let o = probe(&Check::TcpConnect { addr }, Duration::from_secs(5)).await;
    assert!(o.ok, "{}", o.detail);
    let addr = closed_port();
    let o = probe(&Check::TcpConnect { addr }, Duration::from_secs(5)).await;
    assert!(!o.ok);
    assert!(o.detail.contains("refused"), "{}", o.detail);
}

/// An HTTP server answering every request with `status_line`; sends each request head it
/// received on the channel.
async fn http_responder(
    status_line: &'static str,
) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = l.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                let _ = tx.send(String::from_utf8(req).unwrap());
                let body = "ok\n";
                let resp = format!(
                    "{status_line}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn http_get_wants_a_status_in_range() {
    let (addr, mut reqs) = http_responder("HTTP/1.1 200 OK").await;
    let url = format!("http://{addr}/health?deep=1");
    let o = probe(&Check::http_get(&url), Duration::from_secs(5)).await;
    assert_eq!(o, Outcome::up("HTTP/1.1 200 OK"));
    let req = reqs.recv().await.unwrap();
    assert!(req.starts_with("GET /health?deep=1 HTTP/1.0\r\n"), "{req}");
    assert!(req.contains(&format!("\r\nHost: {addr}\r\n")), "{req}");

    let (addr, _reqs) = http_responder("HTTP/1.1 503 Service Unavailable").await;
    let url = format!("http://{addr}/");
    let o = probe(&Check::http_get(&url), Duration::from_secs(5)).await;
    assert_eq!(
        o,
        Outcome::down("HTTP/1.1 503 Service Unavailable (expected 200-299)")
    );
    let expect_5xx = Check::HttpGet {
        url,
        expect_status: 500..=599,
    };
    assert!(probe(&expect_5xx, Duration::from_secs(5)).await.ok);
}

#[tokio::test]
async fn http_get_fails_on_silence_refusal_and_garbage() {
    // Accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(l.accept().await.unwrap());
        }
    });
    let started = Instant::now();
    let o = probe(
        &Check::http_get(format!("http://{addr}/")),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(o, Outcome::down("no answer within 200ms"));
    assert!(started.elapsed() < Duration::from_secs(2));

    let o = probe(
        &Check::http_get(format!("http://{}/", closed_port())),
        Duration::from_secs(5),
    )
    .await;
    assert!(!o.ok && o.detail.contains("refused"), "{}", o.detail);

    let (addr, _reqs) = http_responder("SSH-2.0-OpenSSH_9.2").await;
    let o = probe(
        &Check::http_get(format!("http://{addr}/")),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        !o.ok && o.detail.contains("not an HTTP status line"),
        "{}",
        o.detail
    );
}

/// A SIP UA answering OPTIONS with `SIP/2.0 200 OK`, echoing the Call-ID; it ignores the first
/// `drop_first` requests (lost datagrams).
async fn sip_responder(drop_first: usize) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        let mut seen = 0;
        loop {
            let (n, from) = sock.recv_from(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(
                req.starts_with(&format!("OPTIONS sip:{addr} SIP/2.0\r\n")),
                "{req}"
            );
            seen += 1;
            if seen <= drop_first {
                continue;
            }
            let echo: Vec<&str> = req
                .lines()
                .filter(|l| {
                    ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                        .iter()
                        .any(|h| l.starts_with(h))
                })
                .collect();
            let resp = format!(
                "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
                echo.join("\r\n")
            );
            sock.send_to(resp.as_bytes(), from).await.unwrap();
        }
    });
    addr
}

#[tokio::test]
async fn sip_options_answered() {
    let addr = sip_responder(0).await;
    let o = probe(&Check::SipOptions { addr }, Duration::from_secs(5)).await;
    assert_eq!(o, Outcome::up("SIP/2.0 200 OK"));
}

#[tokio::test]
async fn sip_options_retransmits_a_lost_request() {
    let addr = sip_responder(1).await;
    let started = Instant::now();
    let o = probe(&Check::SipOptions { addr }, Duration::from_secs(3)).await;
    assert!(o.ok, "{}", o.detail);
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn sip_options_fails_on_silence_and_on_a_closed_port() {
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let o = probe(&Check::SipOptions { addr }, Duration::from_millis(300)).await;
    assert_eq!(o, Outcome::down("no answer within 300ms"));
    drop(silent);
    // Nothing bound: the ICMP port unreachable fails the probe before the timeout.
    let started = Instant::now();
    let o = probe(&Check::SipOptions { addr }, Duration::from_secs(5)).await;
    assert!(!o.ok && o.detail.contains("refused"), "{}", o.detail);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn process_check_through_probe() {
    let check = |min| {
        Check::Process(crate::model::ProcessTrack {
            quorum: min,
            ..super::process::tests::track("no-such-proc-hv")
        })
    };
    assert!(!probe(&check(1), Duration::from_secs(5)).await.ok);
    assert!(probe(&check(0), Duration::from_secs(5)).await.ok);
}

fn polled() -> ProcessSource {
    ProcessSource::Poll {
        why: "a test".into(),
    }
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<TrackEvent>) -> TrackEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no event within 10 s")
        .expect("tracker gone")
}

#[tokio::test]
async fn tracker_reports_the_first_result_then_transitions_only() {
    let dir = TempDir::new("tracker");
    let flag = dir.path().join("healthy");
    let runs = dir.path().join("runs");
    let s = dir.script(
        "chk",
        &format!("echo run >> {}\ntest -e {}", runs.display(), flag.display()),
    );
    std::fs::write(&flag, "").unwrap();
    let mut spec = CheckSpec::new("chk", script(&s.display().to_string()));
    spec.interval = Duration::from_millis(50);
    spec.rise = 2;
    spec.fall = 3;
    let (tracker, mut rx) = Tracker::spawn(vec![spec], &polled()).unwrap();

    let e = next_event(&mut rx).await;
    assert_eq!((e.check.as_str(), e.healthy), ("chk", true), "{e:?}");
    std::fs::remove_file(&flag).unwrap();
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    let before = lines(&runs);
    let e = next_event(&mut rx).await;
    assert!(!e.healthy);
    assert_eq!(e.detail, "exited with status 1");
    // fall = 3: three failing runs at least (the flag went away between runs).
    assert!(lines(&runs) - before >= 3, "{} runs", lines(&runs) - before);
    std::fs::write(&flag, "").unwrap();
    let e = next_event(&mut rx).await;
    assert!(e.healthy);
    // No event while nothing changes.
    let quiet = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
    assert!(quiet.is_err(), "unexpected {quiet:?}");
    tracker.stop().await;
}

#[tokio::test]
async fn tracker_init_fail_reports_failed_at_once() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut spec = CheckSpec::new("tcp", Check::TcpConnect { addr });
    spec.interval = Duration::from_millis(20);
    spec.init_fail = true;
    spec.rise = 3;
    let started = Instant::now();
    let (_tracker, mut rx) = Tracker::spawn(vec![spec], &polled()).unwrap();
    let e = next_event(&mut rx).await;
    assert_eq!((e.healthy, e.detail.contains("init_fail")), (false, true));
    let e = next_event(&mut rx).await;
    assert!(e.healthy, "{e:?}");
    // Three successes at 20 ms intervals: the first at once, the third 40 ms later.
    assert!(started.elapsed() >= Duration::from_millis(40));
}

#[tokio::test]
async fn dropping_the_tracker_kills_running_scripts() {
    let dir = TempDir::new("drop");
    let pids = dir.path().join("pid");
    let s = dir.script(
        "hang",
        &format!("echo $$ > {}\nexec sleep 300", pids.display()),
    );
    let mut spec = CheckSpec::new("hang", script(&s.display().to_string()));
    spec.timeout = Duration::from_secs(300);
    let (tracker, _rx) = Tracker::spawn(vec![spec], &polled()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&pids).map_or(true, |t| !t.ends_with('\n')) {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid: i32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    drop(tracker);
    wait_gone(pid).await;
}

#[tokio::test]
async fn a_weight_moves_the_advertised_priority() {
    // The whole path the daemon will wire: a check's events into effective_priority.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let mut spec = CheckSpec::new("svc", Check::TcpConnect { addr });
    spec.interval = Duration::from_millis(20);
    let (_tracker, mut rx) = Tracker::spawn(vec![spec], &polled()).unwrap();
    let verdict = |h: Health| {
        effective_priority(
            100,
            &[Tracked {
                weight: -60,
                reverse: false,
                health: h,
            }],
        )
    };
    assert_eq!(verdict(Health::Unknown), Verdict::Priority(100));
    let e = next_event(&mut rx).await;
    assert_eq!(verdict(Health::from(e.healthy)), Verdict::Priority(100));
    drop(l);
    let e = next_event(&mut rx).await;
    assert_eq!(verdict(Health::from(e.healthy)), Verdict::Priority(40));
}

/// keepalived's `track_file` arithmetic: the number times the weight, clamped to -254..=253,
/// -254 meaning FAULT; weight 0 makes any non-zero number FAULT; an owner keeps 255.
#[test]
fn tracked_file_numbers_move_the_priority_as_keepalived_s() {
    let file = |weight: i32, v: i64| Tracked {
        weight,
        reverse: false,
        health: Health::Value(v),
    };
    assert_eq!(
        effective_priority(100, &[file(1, 0)]),
        Verdict::Priority(100)
    );
    assert_eq!(
        effective_priority(100, &[file(1, 20)]),
        Verdict::Priority(120)
    );
    assert_eq!(
        effective_priority(100, &[file(-10, 3)]),
        Verdict::Priority(70)
    );
    assert_eq!(
        effective_priority(100, &[file(1, 200)]),
        Verdict::Priority(254)
    );
    assert_eq!(
        effective_priority(100, &[file(1, -99)]),
        Verdict::Priority(1)
    );
    assert_eq!(effective_priority(100, &[file(1, -254)]), Verdict::Fault);
    assert_eq!(effective_priority(100, &[file(2, -127)]), Verdict::Fault);
    assert_eq!(
        effective_priority(100, &[file(2, -126)]),
        Verdict::Priority(1)
    );
    assert_eq!(
        effective_priority(100, &[file(0, 0)]),
        Verdict::Priority(100)
    );
    assert_eq!(effective_priority(100, &[file(0, 1)]), Verdict::Fault);
    assert_eq!(effective_priority(100, &[file(0, -3)]), Verdict::Fault);
    assert_eq!(
        effective_priority(255, &[file(5, 10)]),
        Verdict::Priority(255)
    );
    assert_eq!(effective_priority(255, &[file(0, 1)]), Verdict::Fault);
    let reversed = Tracked {
        reverse: true,
        ..file(0, 0)
    };
    assert_eq!(effective_priority(100, &[reversed]), Verdict::Fault);
    // With other tracked objects: the sums add.
    assert_eq!(
        effective_priority(100, &[file(1, 5), file(-1, 5)]),
        Verdict::Priority(100)
    );
}

/// Copies of `sleep` and `sh` under names no other process has (so that nothing on the machine
/// matches by accident, and parallel tests do not see each other's), and the children started
/// from them, killed and reaped on drop.
struct Named {
    dir: TempDir,
    children: Vec<std::process::Child>,
}

impl Named {
    fn new(tag: &str) -> Named {
        Named {
            dir: TempDir::new(tag),
            children: Vec::new(),
        }
    }

    /// A copy of `program` called `tag` + this process's id (at most 15 bytes: a whole comm).
    fn copy(&self, program: &str, tag: &str) -> (String, std::path::PathBuf) {
        let name = format!("{tag}{}", std::process::id() % 1_000_000);
        assert!(name.len() <= 15);
        let exe = self.dir.path().join(&name);
        std::fs::copy(which(program), &exe).unwrap();
        (name, exe)
    }

    fn start(&mut self, exe: &std::path::Path, args: &[&str]) -> u32 {
        let child = std::process::Command::new(exe)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    fn kill(&mut self, pid: u32) {
        let i = self.children.iter().position(|c| c.id() == pid).unwrap();
        let mut c = self.children.remove(i);
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn process_spec(name: &str, t: crate::model::ProcessTrack) -> CheckSpec {
    CheckSpec::new(name, Check::Process(t))
}

fn events() -> ProcessSource {
    ProcessSource::Events(std::sync::Arc::new(
        proc_events::ProcConnector::open()
            .expect("the tests run as root in the initial namespaces"),
    ))
}

/// The next event, and how long it took.
async fn timed(rx: &mut mpsc::UnboundedReceiver<TrackEvent>) -> (TrackEvent, Duration) {
    let t0 = Instant::now();
    let e = next_event(rx).await;
    (e, t0.elapsed())
}

async fn quiet_for(rx: &mut mpsc::UnboundedReceiver<TrackEvent>, d: Duration) {
    let got = tokio::time::timeout(d, rx.recv()).await;
    assert!(got.is_err(), "unexpected {got:?}");
}

#[tokio::test]
async fn process_events_report_a_start_and_an_exit_at_once() {
    let mut n = Named::new("pev");
    let (name, exe) = n.copy("sleep", "hpe");
    let mut lat = Vec::new();
    for (how, source) in [("events", events()), ("polling", polled())] {
        let spec = process_spec("p", super::process::tests::track(&name));
        let (tracker, mut rx) = Tracker::spawn(vec![spec], &source).unwrap();
        let (e, _) = timed(&mut rx).await;
        assert!(!e.healthy, "{e:?}");
        let t0 = Instant::now();
        let pid = n.start(&exe, &["30"]);
        let e = next_event(&mut rx).await;
        let up = t0.elapsed();
        assert!(e.healthy, "{e:?}");
        assert_eq!(
            e.detail,
            format!("1 process(es) named {name:?} running (want at least 1)")
        );
        let t0 = Instant::now();
        n.kill(pid);
        let e = next_event(&mut rx).await;
        let down = t0.elapsed();
        assert!(!e.healthy, "{e:?}");
        eprintln!("{how}: start seen after {up:?}, exit after {down:?}");
        lat.push((up, down));
        tracker.stop().await;
    }
    // Events: within milliseconds (the bound leaves room for a loaded machine), where polling
    // takes up to its 200 ms interval.
    let (up, down) = lat[0];
    assert!(up < Duration::from_millis(60), "{up:?}");
    assert!(down < Duration::from_millis(60), "{down:?}");
}

#[tokio::test]
async fn terminate_delay_hides_a_quick_restart_and_delays_a_loss() {
    let mut n = Named::new("ptd");
    let (name, exe) = n.copy("sleep", "htd");
    let delay = Duration::from_millis(400);
    let spec = process_spec(
        "p",
        crate::model::ProcessTrack {
            terminate_delay: delay,
            ..super::process::tests::track(&name)
        },
    );
    let pid = n.start(&exe, &["30"]);
    // Counted once its exec happened.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !super::process::check(&super::process::tests::track(&name)).ok {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_tracker, mut rx) = Tracker::spawn(vec![spec], &events()).unwrap();
    assert!(next_event(&mut rx).await.healthy);
    // A restart within the delay: nothing to report.
    n.kill(pid);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pid = n.start(&exe, &["30"]);
    quiet_for(&mut rx, delay + Duration::from_millis(200)).await;
    // An exit with nothing after: reported once the delay has passed.
    let t0 = Instant::now();
    n.kill(pid);
    let e = next_event(&mut rx).await;
    let took = t0.elapsed();
    assert!(!e.healthy, "{e:?}");
    assert!(
        took >= delay && took < delay + Duration::from_millis(100),
        "{took:?}"
    );
}

#[tokio::test]
async fn fork_delay_holds_a_quorum_a_fork_gives() {
    let mut n = Named::new("pfd");
    let (name, sh) = n.copy("sh", "hfd");
    let delay = Duration::from_millis(300);
    // quorum 2: the shell alone is not enough; its subshell (a fork that stays a shell for a
    // second) makes two.
    let spec = process_spec(
        "p",
        crate::model::ProcessTrack {
            quorum: 2,
            fork_delay: delay,
            ..super::process::tests::track(&name)
        },
    );
    let (_tracker, mut rx) = Tracker::spawn(vec![spec], &events()).unwrap();
    assert!(!next_event(&mut rx).await.healthy);
    let t0 = Instant::now();
    n.start(&sh, &["-c", "(sleep 1; true) & wait"]);
    let e = next_event(&mut rx).await;
    let took = t0.elapsed();
    assert!(e.healthy, "{e:?}");
    assert!(
        took >= delay && took < delay + Duration::from_millis(150),
        "{took:?}"
    );
    // The subshell exits after its sleep: no terminate_delay, reported at once.
    let (e, _) = timed(&mut rx).await;
    assert!(!e.healthy, "{e:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(1300),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn a_comm_change_and_the_command_line_count_as_keepalived_s() {
    let mut n = Named::new("pcm");
    let (_, sh) = n.copy("sh", "hcm");
    let (_, sleep) = n.copy("sleep", "hcs");
    let renamed = format!("hrn{}", std::process::id() % 1_000_000);
    let argv0 = sleep.to_str().unwrap().to_string();
    let t = super::process::tests::track;
    let full = |params: &[&str], pm| crate::model::ProcessTrack {
        full_command: true,
        params: params.iter().map(|s| s.to_string()).collect(),
        param_match: pm,
        ..t(&argv0)
    };
    use crate::model::ParamMatch;
    let specs = vec![
        process_spec("renamed", t(&renamed)),
        process_spec("exact", full(&["30"], ParamMatch::Exact)),
        process_spec("initial", full(&["3"], ParamMatch::Initial)),
        process_spec("exact3", full(&["3"], ParamMatch::Exact)),
        process_spec("noargs", full(&[], ParamMatch::Exact)),
    ];
    let (_tracker, mut rx) = Tracker::spawn(specs, &events()).unwrap();
    let mut first = Vec::new();
    for _ in 0..5 {
        let e = next_event(&mut rx).await;
        assert!(!e.healthy, "{e:?}");
        first.push(e.check);
    }
    first.sort();
    assert_eq!(first, ["exact", "exact3", "initial", "noargs", "renamed"]);
    // A shell renames itself (/proc/PID/comm): counted by the new name, at once.
    let t0 = Instant::now();
    n.start(
        &sh,
        &["-c", &format!("printf {renamed} > /proc/$$/comm; read x")],
    );
    let e = next_event(&mut rx).await;
    assert_eq!((e.check.as_str(), e.healthy), ("renamed", true), "{e:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    // `sleep 30` by its full path: the exact and initial parameter matches count it, the
    // others do not.
    n.start(&sleep, &["30"]);
    let mut up = [next_event(&mut rx).await, next_event(&mut rx).await];
    up.sort_by(|a, b| a.check.cmp(&b.check));
    assert_eq!(
        up.iter()
            .map(|e| (e.check.as_str(), e.healthy))
            .collect::<Vec<_>>(),
        [("exact", true), ("initial", true)]
    );
    quiet_for(&mut rx, Duration::from_millis(300)).await;
}
