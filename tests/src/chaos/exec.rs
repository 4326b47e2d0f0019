//! The chaos lab's hands: building the lab, running the fault schedule against it (each
//! fault's start and end as `ip`, `nft`, `tc` and signals), and watching the daemons meanwhile
//! (their state through the control socket, crashes, RSS and fds).

use std::{
    collections::BTreeMap,
    fs,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use havip::control;

use super::{
    ms, node_conf, state_at, Done, Fault, Kind, Node, Sample, Violation, RESTART_AFTER, VIP,
};
use crate::lab::{daemon_state, netns_inode, open_fds, rss_kb, Host, Lab};

/// The lab while a run goes on.
pub(super) struct Run {
    pub lab: Lab,
    pub lan: String,
    pub nodes: Vec<Node>,
    pub client: Host,
    /// Whether the kernel has sch_netem (delay and reorder faults need it).
    pub netem: bool,
    /// The clock of the run: faults, samples, pings and ARP replies all count from here.
    pub t0: Instant,
    pub timeline: Vec<(f64, String)>,
    pub violations: Vec<Violation>,
    stress_n: usize,
    realtime: bool,
    /// Daemons that exited by themselves, as faults of kind [`Kind::Exit`].
    exits: Vec<Done>,
}

impl Run {
    /// N nodes (the last one keepalived when `keepalived`) and a client on one bridge; returns
    /// once n1 is master.
    pub fn build(prios: &[u8], realtime: bool, keepalived: bool) -> Run {
        let mut lab = Lab::new("chaos");
        let netem = kernel_has_netem(&mut lab);
        let lan = lab.lan();
        let mut nodes: Vec<Node> = Vec::new();
        for (i, prio) in prios.iter().enumerate() {
            let label = format!("n{}", i + 1);
            let host = lab.host(&label, &format!("10.99.0.{}/24", 11 + i));
            let conf = lab.dir().join(format!("{label}.conf"));
            let fifo = (keepalived && i + 1 == prios.len()).then(|| {
                let path = lab.dir().join(format!("{label}.fifo"));
                (path.clone(), open_fifo(&path))
            });
            let fifo_path = fifo.as_ref().map(|f| f.0.as_path());
            fs::write(&conf, node_conf(*prio, realtime, fifo_path))
                .expect("writing a node's config");
            nodes.push(Node {
                host,
                prio: *prio,
                prio_history: vec![(0.0, *prio)],
                conf,
                label,
                restarts: 0,
                alive: false,
                stopped: false,
                restart_at: None,
                samples: Arc::new(Mutex::new(Vec::new())),
                resources: BTreeMap::new(),
                fifo,
            });
        }
        let client = lab.host("c", "10.99.0.50/24");
        for n in &mut nodes {
            start(&mut lab, n);
            if !n.is_keepalived() {
                lab.proc(&n.label).wait_started(Duration::from_secs(20));
            }
        }
        lab.proc("n1").wait_state("MASTER", Duration::from_secs(20));
        Run {
            lab,
            lan,
            nodes,
            client,
            netem,
            t0: Instant::now(),
            timeline: Vec::new(),
            violations: Vec::new(),
            stress_n: 0,
            realtime,
            exits: Vec::new(),
        }
    }

    fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// One observer thread per node (a stalled daemon stalls only its own observer): a havip
    /// node's control socket, a keepalived node's FIFO.
    pub fn observe(&self, stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<()>> {
        self.nodes
            .iter()
            .map(|n| {
                let (ns, samples, stop, t0) =
                    (n.host.ns.clone(), n.samples.clone(), stop.clone(), self.t0);
                let fifo = n
                    .fifo
                    .as_ref()
                    .map(|f| f.1.try_clone().expect("cloning the FIFO's fd"));
                thread::spawn(move || {
                    crate::probe::enter_realtime();
                    match fifo {
                        Some(f) => observe_fifo(f, t0, samples),
                        None => observe(&ns, t0, samples, stop),
                    }
                })
            })
            .collect()
    }

    /// Ends the FIFO observers, which block reading: a line of the run's own says the end.
    pub fn wake_fifo_observers(&self) {
        use std::io::Write as _;
        for n in &self.nodes {
            if let Some((_, f)) = &n.fifo {
                // (`Write` is implemented for `&File`.)
                let _ = (&*f).write_all(FIFO_END.as_bytes());
            }
        }
    }

    /// Runs `schedule` until `run_end`; returns what happened to each fault.
    pub fn execute(&mut self, schedule: &[Fault], run_end: f64) -> Vec<Done> {
        let mut actions: Vec<(f64, usize, bool)> = Vec::new();
        for (i, f) in schedule.iter().enumerate() {
            actions.push((f.at, i, false));
            if f.dur > 0.0 {
                actions.push((f.at + f.dur, i, true));
            }
        }
        actions.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut done: Vec<Done> = schedule
            .iter()
            .map(|f| Done {
                fault: f.clone(),
                skipped: None,
                start: f.at,
                end: None,
                heal: None,
                hit_master: false,
            })
            .collect();
        let mut next_resources = 0.0;
        let mut a = 0;
        loop {
            let t = self.now();
            if t >= run_end {
                break;
            }
            if crate::lab::stop_requested() {
                self.violations.push(Violation::new(
                    t,
                    0,
                    "stopped by a signal: the run is incomplete".into(),
                    Vec::new(),
                ));
                break;
            }
            self.watch_crashes(t);
            self.restart_exited(t);
            if t >= next_resources {
                next_resources = t + 5.0;
                self.sample_resources(t);
            }
            match actions.get(a) {
                Some(&(at, fi, is_end)) if at <= t => {
                    a += 1;
                    self.step(&mut done[fi], is_end);
                }
                next => {
                    let next = next.map_or(run_end, |x| x.0).min(run_end);
                    thread::sleep(Duration::from_secs_f64((next - t).clamp(0.0, 0.005)));
                }
            }
        }
        done.append(&mut self.exits);
        done
    }

    /// A daemon that exits without being killed has crashed: a violation, and a fault of
    /// kind [`Kind::Exit`] from then until it is back (restarted [`RESTART_AFTER`] later).
    fn watch_crashes(&mut self, t: f64) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if !n.alive {
                continue;
            }
            if let Ok(Some(status)) = self.lab.proc(&n.label).child.try_wait() {
                n.alive = false;
                n.stopped = false;
                n.restart_at = Some(t + RESTART_AFTER);
                n.mark_down(t);
                let what = format!("n{} ({}) exited by itself: {status}", i + 1, n.daemon());
                self.timeline
                    .push((t, format!("{what}; restarted {RESTART_AFTER} s later")));
                self.violations.push(Violation::new(t, 4, what, vec![i]));
                self.exits.push(Done {
                    fault: Fault {
                        at: t,
                        dur: RESTART_AFTER,
                        node: i,
                        kind: Kind::Exit,
                    },
                    skipped: None,
                    start: t,
                    end: None,
                    heal: None,
                    hit_master: state_at(&n.samples.lock().unwrap(), t) == "MASTER",
                });
            }
        }
    }

    /// Starts again the daemons that exited by themselves, once their time has come.
    fn restart_exited(&mut self, t: f64) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].restart_at.is_none_or(|at| at > t) {
                continue;
            }
            self.nodes[i].restart_at = None;
            if self.nodes[i].alive {
                continue; // A kill -9's end started it meanwhile.
            }
            self.start_again(i);
            self.timeline
                .push((t, format!("RESTART n{} (it had exited by itself)", i + 1)));
            if let Some(d) = self
                .exits
                .iter_mut()
                .rev()
                .find(|d| d.fault.node == i && d.end.is_none())
            {
                d.end = Some(t);
            }
        }
    }

    /// Starts node `i`'s daemon again, as a new process of the lab (the old log stays).
    fn start_again(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.restarts += 1;
        node.label = format!("n{}-r{}", i + 1, node.restarts);
        start(&mut self.lab, node);
    }

    fn sample_resources(&mut self, t: f64) {
        for n in &mut self.nodes {
            if !n.alive {
                continue;
            }
            // keepalived's work is its VRRP child's; its parent only supervises.
            let pid = if n.is_keepalived() {
                match self.lab.keepalived_vrrp_pid_now(&n.label) {
                    Some(p) => p,
                    None => continue,
                }
            } else {
                self.lab.proc(&n.label).pid()
            };
            if let Some((rss, fds)) = resources(pid) {
                n.resources.entry(pid).or_default().push((t, rss, fds));
            }
        }
    }

    /// Applies one fault's start or end, and writes it in the timeline.
    fn step(&mut self, d: &mut Done, is_end: bool) {
        if d.skipped.is_some() {
            return;
        }
        let f = d.fault.clone();
        let t = self.now();
        let label = format!("n{}", f.node + 1);
        if f.kind == Kind::VipDelete {
            d.start = t;
            self.delete_vip(t);
            return;
        }
        let node = &self.nodes[f.node];
        let result = if is_end {
            d.end = Some(t);
            self.undo(f.node, f.kind)
        } else {
            d.start = t;
            d.hit_master = state_at(&node.samples.lock().unwrap(), t) == "MASTER";
            let skipped = match f.kind {
                Kind::Kill if !node.alive => Some("not running"),
                Kind::Stop if !node.alive || node.stopped => Some("not running"),
                k if k.needs_netem() && !self.netem => Some("no sch_netem in this kernel"),
                _ => None,
            };
            if let Some(why) = skipped {
                d.skipped = Some(why.into());
                return;
            }
            self.apply(f.node, f.kind, t)
        };
        let what = if is_end {
            format!("END   {} on {label}", f.kind.describe())
        } else if f.dur > 0.0 {
            format!(
                "FAULT {} on {label} for {} ms",
                f.kind.describe(),
                ms(f.dur)
            )
        } else {
            format!("FAULT {} on {label}", f.kind.describe())
        };
        self.timeline.push((
            t,
            match result {
                Ok(()) => what,
                Err(e) => format!("{what} (failed: {e})"),
            },
        ));
    }

    /// Another agent deletes the VIP from whichever node is master now.
    fn delete_vip(&mut self, t: f64) {
        let master = self
            .nodes
            .iter()
            .position(|n| state_at(&n.samples.lock().unwrap(), t) == "MASTER");
        let what = match master {
            None => "FAULT VIP deleted: no master to delete it from".to_string(),
            Some(m) => {
                let r = run(&[
                    "ip",
                    "-n",
                    &self.nodes[m].host.ns,
                    "addr",
                    "del",
                    &format!("{VIP}/24"),
                    "dev",
                    "eth0",
                ]);
                format!(
                    "FAULT VIP deleted on n{}{}",
                    m + 1,
                    r.err().map_or(String::new(), |e| format!(" (failed: {e})"))
                )
            }
        };
        self.timeline.push((t, what));
    }

    /// Applies a fault's start to node `i`.
    fn apply(&mut self, i: usize, kind: Kind, t: f64) -> Result<(), String> {
        let (lab, lan) = (&mut self.lab, self.lan.as_str());
        let node = &mut self.nodes[i];
        let label = format!("n{}", i + 1);
        let ns = node.host.ns.clone();
        let port = node.host.port.clone();
        match kind {
            // Signals go to the process group: keepalived's VRRP child with its parent.
            Kind::Kill => {
                let p = lab.proc(&node.label);
                p.signal_group(libc::SIGKILL);
                let _ = p.wait_exit(Duration::from_secs(5));
                node.alive = false;
                node.stopped = false;
                node.mark_down(t);
                Ok(())
            }
            Kind::Stop => {
                lab.proc(&node.label).signal_group(libc::SIGSTOP);
                node.stopped = true;
                Ok(())
            }
            Kind::LinkDown => run(&["ip", "-n", &ns, "link", "set", "eth0", "down"]),
            Kind::Partition => run(&["ip", "-n", lan, "link", "set", &port, "down"]),
            // (Chain names avoid nft's keywords: `fwd` and `dup` are statements.)
            Kind::Loss(p) => nft(
                lan,
                &format!(
                    "table bridge havip_chaos_{label} {{\n chain c {{\n  type filter hook forward priority 0;\n  \
                     iifname \"{port}\" numgen random mod 100 < {p} drop\n  \
                     oifname \"{port}\" numgen random mod 100 < {p} drop\n }}\n}}\n"
                ),
            ),
            Kind::Duplicate(p) => nft(
                lan,
                &format!(
                    "table netdev havip_chaos_{label} {{\n chain c {{\n  type filter hook ingress device \"{port}\" \
                     priority 0;\n  numgen random mod 100 < {p} dup to \"br0\"\n }}\n}}\n"
                ),
            ),
            Kind::Delay(d, j) => netem(lan, &ns, &port, &format!("delay {d}ms {j}ms")),
            Kind::Reorder(p) => netem(lan, &ns, &port, &format!("delay 5ms reorder {p}% 50%")),
            Kind::Stress => {
                // stress-ng (Debian's), two workers per core; stopped at the fault's end, and
                // killed with the lab if the run stops first.
                let client_ns = lab.prefix().to_string() + "-c";
                let workers = 2 * thread::available_parallelism().map_or(2, |n| n.get());
                self.stress_n += 1;
                lab.spawn(
                    &format!("stress-{}", self.stress_n),
                    &client_ns,
                    &["stress-ng", "--cpu", &workers.to_string(), "--timeout", "600s", "--quiet"],
                );
                Ok(())
            }
            Kind::Reload(p) => {
                let fifo = node.fifo.as_ref().map(|f| f.0.as_path());
                fs::write(&node.conf, node_conf(p, self.realtime, fifo))
                    .map_err(|e| e.to_string())?;
                node.prio = p;
                node.prio_history.push((t, p));
                if node.alive {
                    lab.proc(&node.label).signal(libc::SIGHUP);
                }
                Ok(())
            }
            Kind::VipDelete => Ok(()), // see `delete_vip`
            Kind::Recreate => run(&["ip", "-n", &ns, "link", "del", "eth0"]),
            Kind::Exit => Ok(()), // never scheduled
        }
    }

    /// Undoes a fault on node `i` at its end.
    fn undo(&mut self, i: usize, kind: Kind) -> Result<(), String> {
        if kind == Kind::Kill {
            if self.nodes[i].alive {
                return Err("already running (restarted after it exited)".into());
            }
            self.start_again(i);
            return Ok(());
        }
        let (lab, lan) = (&mut self.lab, self.lan.as_str());
        let node = &mut self.nodes[i];
        let label = format!("n{}", i + 1);
        let ns = node.host.ns.clone();
        let port = node.host.port.clone();
        match kind {
            // Handled above; an exit is restarted by `restart_exited`, never scheduled.
            Kind::Kill | Kind::Exit => Ok(()),
            Kind::Stop => {
                if node.stopped {
                    lab.proc(&node.label).signal_group(libc::SIGCONT);
                    node.stopped = false;
                }
                Ok(())
            }
            Kind::LinkDown => run(&["ip", "-n", &ns, "link", "set", "eth0", "up"]),
            Kind::Partition => run(&["ip", "-n", lan, "link", "set", &port, "up"]),
            Kind::Loss(_) => run(&[
                "ip",
                "netns",
                "exec",
                lan,
                "nft",
                "delete",
                "table",
                "bridge",
                &format!("havip_chaos_{label}"),
            ]),
            Kind::Duplicate(_) => run(&[
                "ip",
                "netns",
                "exec",
                lan,
                "nft",
                "delete",
                "table",
                "netdev",
                &format!("havip_chaos_{label}"),
            ]),
            Kind::Delay(..) | Kind::Reorder(_) => {
                let a = run(&["tc", "-n", lan, "qdisc", "del", "dev", &port, "root"]);
                let b = run(&["tc", "-n", &ns, "qdisc", "del", "dev", "eth0", "root"]);
                a.and(b)
            }
            Kind::Stress => {
                for p in lab.procs_labelled("stress-") {
                    // stress-ng's workers are its children: the whole process group.
                    // SAFETY: kill(2) on a process group the lab created.
                    unsafe { libc::kill(-(p.pid() as i32), libc::SIGKILL) };
                }
                Ok(())
            }
            Kind::Reload(_) | Kind::VipDelete => Ok(()),
            Kind::Recreate => {
                run(&[
                    "ip",
                    "link",
                    "add",
                    "eth0",
                    "netns",
                    &ns,
                    "address",
                    &node.host.mac,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &port,
                    "netns",
                    lan,
                ])?;
                run(&["ip", "-n", lan, "link", "set", &port, "master", "br0", "up"])?;
                run(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{}/24", node.host.ip),
                    "dev",
                    "eth0",
                ])?;
                run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])
            }
        }
    }
}

fn netem(lan: &str, ns: &str, port: &str, args: &str) -> Result<(), String> {
    let mut a = vec![
        "tc", "-n", lan, "qdisc", "replace", "dev", port, "root", "netem",
    ];
    a.extend(args.split_whitespace());
    run(&a)?;
    let mut b = vec![
        "tc", "-n", ns, "qdisc", "replace", "dev", "eth0", "root", "netem",
    ];
    b.extend(args.split_whitespace());
    run(&b)
}

/// Runs a command; `Err` with its stderr when it fails.
fn run(argv: &[&str]) -> Result<(), String> {
    match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn nft(ns: &str, script: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Whether this kernel has sch_netem (Debian's has; some cloud kernels do not).
fn kernel_has_netem(lab: &mut Lab) -> bool {
    let ns = lab.add_ns("netem-probe");
    lab.ip(&ns, "link add v0 type veth peer name v1");
    run(&[
        "tc", "-n", &ns, "qdisc", "add", "dev", "v0", "root", "netem", "delay", "1ms",
    ])
    .is_ok()
}

/// (RSS in kB, open fds) of a process. The fewest fds of five looks 1 ms apart: the chaos
/// observer's own control-socket connection is open in the daemon now and then, and is not
/// the daemon's.
fn resources(pid: u32) -> Option<(u64, usize)> {
    let rss = rss_kb(pid)?;
    let mut fds = usize::MAX;
    for _ in 0..5 {
        fds = fds.min(open_fds(pid)?);
        thread::sleep(Duration::from_millis(1));
    }
    Some((rss, fds))
}

/// Starts node's daemon, havip or keepalived, as the lab's process `node.label`.
fn start(lab: &mut Lab, node: &mut Node) {
    if node.is_keepalived() {
        lab.keepalived_file(&node.label, &node.host, &node.conf);
    } else {
        let conf = node.conf.to_str().unwrap().to_string();
        lab.havip(&node.label, &node.host, &["run", "--config", &conf]);
    }
    node.alive = true;
}

/// The line the run writes in a keepalived node's FIFO to end its observer.
const FIFO_END: &str = "END OF RUN\n";

/// Makes the FIFO at `path` and opens it read-write: the run is then a reader whenever
/// keepalived writes, and a writer that can wake its own reader at the end.
fn open_fifo(path: &std::path::Path) -> fs::File {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("a path without NUL");
    // SAFETY: mkfifo(3) with a NUL-terminated path that lives across the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        panic!(
            "mkfifo {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

/// Reads keepalived's `vrrp_notify_fifo` lines (`INSTANCE "VI_1" MASTER 100`) as they come,
/// blocking, and records each state; ends at the run's own last line.
fn observe_fifo(fifo: fs::File, t0: Instant, samples: Arc<Mutex<Vec<Sample>>>) {
    use std::io::BufRead as _;
    for line in std::io::BufReader::new(fifo).lines() {
        let Ok(line) = line else { break };
        if line == FIFO_END.trim_end() {
            break;
        }
        let mut words = line.split_whitespace();
        let (Some("INSTANCE"), Some(_name), Some(state)) =
            (words.next(), words.next(), words.next())
        else {
            continue;
        };
        samples.lock().unwrap().push(Sample {
            t: t0.elapsed().as_secs_f64(),
            pid: None,
            state: state.to_string(),
        });
    }
}

/// Polls a node's control socket every 3 ms and records each change of (pid, state).
fn observe(ns: &str, t0: Instant, samples: Arc<Mutex<Vec<Sample>>>, stop: Arc<AtomicBool>) {
    let socket = control::socket_path(&format!("ns{}", netns_inode(ns)));
    let mut last: Option<(Option<u32>, String)> = None;
    while !stop.load(Ordering::Relaxed) {
        let (pid, state) = match control::query(&socket) {
            Ok(Some(s)) => (
                Some(s.pid),
                daemon_state(&s).unwrap_or_else(|| "none".into()),
            ),
            Ok(None) => (None, "down".into()),
            Err(_) => (None, "unreachable".into()),
        };
        if last.as_ref() != Some(&(pid, state.clone())) {
            samples.lock().unwrap().push(Sample {
                t: t0.elapsed().as_secs_f64(),
                pid,
                state: state.clone(),
            });
            last = Some((pid, state));
        }
        thread::sleep(Duration::from_millis(3));
    }
}
