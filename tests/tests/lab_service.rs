//! The systemd service, checked against the real thing where this machine allows it (systemd
//! is not PID 1 here, so no `systemctl start`): the daemon started the way the unit starts it
//! (its `CapabilityBoundingSet` and `NoNewPrivileges` through `setpriv`, `NOTIFY_SOCKET` and
//! `WATCHDOG_USEC` in the environment) talks to a datagram socket the test binds, as systemd's
//! would: READY=1 only once XDP is attached and the instance runs, RELOADING=1 / READY=1
//! around SIGHUP, WATCHDOG=1 from the driver loop (none while the process is stopped), and
//! STOPPING=1 on SIGTERM.

use std::{
    fs,
    os::unix::net::UnixDatagram,
    path::Path,
    time::{Duration, Instant},
};

use havip_lab::lab::Lab;

const LONG: Duration = Duration::from_secs(15);
const UNIT: &str = include_str!("../../packaging/havip.service");
/// The watchdog interval the test asks for; havip pings at half of it.
const WATCHDOG_USEC: u64 = 400_000;

/// `setpriv` arguments that give the process what the unit gives it: the bounding set (for
/// root, what survives the exec) and no new privileges.
fn unit_privileges() -> Vec<String> {
    let caps = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("the unit sets CapabilityBoundingSet");
    let list: Vec<String> = caps
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    assert!(list.len() >= 3, "{caps}");
    vec![
        "setpriv".into(),
        format!("--bounding-set=-all,{}", list.join(",")),
        "--inh-caps=-all".into(),
        "--no-new-privs".into(),
    ]
}

/// The notification socket, as systemd's: every datagram, split into its lines.
struct Listener {
    sock: UnixDatagram,
    /// Everything received, in order, for failure messages.
    seen: Vec<String>,
}

impl Listener {
    fn bind(path: &Path) -> Listener {
        let _ = fs::remove_file(path);
        let sock = UnixDatagram::bind(path).expect("binding the NOTIFY_SOCKET");
        Listener {
            sock,
            seen: Vec::new(),
        }
    }

    /// The next datagram's lines, or `None` after `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Vec<String>> {
        self.sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 4096];
        match self.sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                Some(msg.lines().map(str::to_string).collect())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("reading the notify socket: {e}"),
        }
    }

    /// Waits for a datagram with line `want`, skipping watchdog pings; panics on any other
    /// message or after `timeout`. Returns the datagram's lines.
    fn expect(&mut self, want: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(lines) = self.next(left.max(Duration::from_millis(1))) else {
                panic!("no {want} within {timeout:?}; received: {:?}", self.seen);
            };
            if lines.iter().any(|l| l == want) {
                return lines;
            }
            assert!(
                lines == ["WATCHDOG=1"],
                "expected {want}, got {lines:?}; received: {:?}",
                self.seen
            );
        }
    }

    /// The WATCHDOG=1 pings received during `span`; panics on any other message.
    fn pings(&mut self, span: Duration) -> usize {
        let end = Instant::now() + span;
        let mut n = 0;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.next(left.max(Duration::from_millis(1))) {
                None => break,
                Some(lines) if lines == ["WATCHDOG=1"] => n += 1,
                Some(lines) => panic!("unexpected {lines:?}; received: {:?}", self.seen),
            }
        }
        n
    }
}

#[test]
fn sd_notify_ready_reload_watchdog_stopping_under_the_units_privileges() {
    let mut lab = Lab::new("sdnotify");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = std::env::temp_dir().join(format!("hv-sdnotify-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("havip.conf");
    fs::write(
        &conf,
        "vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  \
         priority 150\n  advert_int 1\n  virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n",
    )
    .unwrap();
    let sock_path = dir.join("notify.sock");
    let mut listener = Listener::bind(&sock_path);

    let mut wrapper = unit_privileges();
    wrapper.extend([
        "env".into(),
        format!("NOTIFY_SOCKET={}", sock_path.display()),
        format!("WATCHDOG_USEC={WATCHDOG_USEC}"),
    ]);
    let wrapper: Vec<&str> = wrapper.iter().map(String::as_str).collect();
    let conf = conf.to_str().unwrap();
    lab.havip_wrapped(
        "n1",
        &n1,
        &wrapper,
        &["run", "--config", conf, "--xdp-mode", "skb"],
    );

    // READY=1 comes once the program is attached and the instance runs, not before: the
    // daemon is frozen the moment READY arrives, so set-up cannot finish behind our back.
    let ready = listener.expect("READY=1", LONG);
    lab.proc("n1").signal(libc::SIGSTOP);
    assert_eq!(ready, ["READY=1"], "{:?}", listener.seen);
    let attached = lab.xdp_on(&n1);
    lab.proc("n1").signal(libc::SIGCONT);
    assert!(
        attached.is_some(),
        "READY=1 before the XDP program was attached"
    );
    let p = lab.proc("n1");
    let snap = p
        .snapshot()
        .or_else(|| {
            std::thread::sleep(Duration::from_millis(200));
            p.snapshot()
        })
        .expect("the daemon answers once ready");
    assert_eq!(snap.instances.len(), 1, "{snap:?}");

    // Pings at half of WATCHDOG_USEC, from the loop.
    let pings = listener.pings(Duration::from_millis(1200));
    assert!(
        (3..=8).contains(&pings),
        "{pings} pings in 1.2 s at a {WATCHDOG_USEC} µs watchdog: {:?}",
        listener.seen
    );

    // SIGHUP: RELOADING=1 with MONOTONIC_USEC (systemd >= 253's notify-reload), then READY=1.
    lab.proc("n1").signal(libc::SIGHUP);
    let reloading = listener.expect("RELOADING=1", LONG);
    assert!(
        reloading.iter().any(|l| l.starts_with("MONOTONIC_USEC=")),
        "{reloading:?}"
    );
    listener.expect("READY=1", LONG);
    p_alive(&mut lab);

    // A stopped process sends nothing: systemd would kill and restart it.
    lab.proc("n1").signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(50));
    while listener.next(Duration::from_millis(1)).is_some() {} // in flight before the stop
    let during_stop = listener.pings(Duration::from_micros(3 * WATCHDOG_USEC));
    lab.proc("n1").signal(libc::SIGCONT);
    assert_eq!(
        during_stop, 0,
        "watchdog pings while the process was stopped"
    );
    assert!(
        listener.pings(Duration::from_millis(1000)) >= 1,
        "no pings after SIGCONT: {:?}",
        listener.seen
    );

    // SIGTERM: STOPPING=1, a clean exit, the program detached.
    lab.proc("n1").signal(libc::SIGTERM);
    listener.expect("STOPPING=1", LONG);
    let status = lab.proc("n1").wait_exit(LONG);
    assert!(status.success(), "{status}");
    assert!(lab.xdp_on(&n1).is_none(), "XDP left attached");
    let _ = fs::remove_dir_all(&dir);
}

fn p_alive(lab: &mut Lab) {
    let p = lab.proc("n1");
    assert!(
        p.child.try_wait().unwrap().is_none(),
        "havip exited:\n{}",
        p.log_text()
    );
}

/// `vrrp_startup_delay` under systemd: the first message extends the start timeout by the
/// delay (and a minute), and READY=1 comes only once the delay has passed and XDP is attached.
#[test]
fn startup_delay_extends_the_start_timeout_and_delays_ready() {
    let mut lab = Lab::new("sddelay");
    let n1 = lab.host("n1", "10.99.0.11/24");
    let dir = lab.dir().to_path_buf();
    let conf = dir.join("havip.conf");
    fs::write(
        &conf,
        "global_defs {\n  vrrp_startup_delay 1\n}\nvrrp_instance VI_1 {\n  state MASTER\n  \
         interface eth0\n  virtual_router_id 51\n  priority 150\n  advert_int 1\n  \
         virtual_ipaddress {\n    10.99.0.100/24\n  }\n}\n",
    )
    .unwrap();
    let sock_path = dir.join("notify.sock");
    let mut listener = Listener::bind(&sock_path);
    let notify = format!("NOTIFY_SOCKET={}", sock_path.display());
    let started = Instant::now();
    lab.havip_wrapped(
        "n1",
        &n1,
        &["env", &notify],
        &[
            "run",
            "--config",
            conf.to_str().unwrap(),
            "--xdp-mode",
            "skb",
        ],
    );
    let first = listener.expect("EXTEND_TIMEOUT_USEC=61000000", LONG);
    assert_eq!(
        first,
        ["EXTEND_TIMEOUT_USEC=61000000"],
        "{:?}",
        listener.seen
    );
    assert_eq!(lab.xdp_on(&n1), None, "attached during the delay");
    listener.expect("READY=1", LONG);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(1), "READY=1 after {took:?}");
    assert!(lab.xdp_on(&n1).is_some());
}
