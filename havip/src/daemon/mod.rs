//! The daemon: the only place with tokio, signals and clock reads. It sets the node up (XDP,
//! VRIDs, VIP entries, sockets), runs the elections, keeps the heartbeat, and tears everything
//! down on SIGINT/SIGTERM, or on an error half-way through set-up, so that no VIP or XDP program
//! is left by mistake.

pub(crate) mod advert;
mod announce;
mod driver;
mod handover;
mod health;
mod host;
mod ifaces;
mod instance;
mod lock;
mod node;
mod reload;
mod rx;
mod scrape;
mod service;
mod snapshot;
mod timer;

use anyhow::{Context as _, Result};
use tracing::{error, info, warn};

use crate::{dataplane::remove_stale, model::DaemonSpec, net::netlink::Netlink, privs};
pub use node::Node;
pub use reload::Reloader;
pub use service::systemd_job;

pub fn run(spec: DaemonSpec) -> Result<()> {
    run_with_reload(spec, None)
}

/// As [`run`]; SIGHUP calls `reload` for the new spec (e.g. re-reading a config file).
pub fn run_with_reload(mut spec: DaemonSpec, reload: Option<Reloader>) -> Result<()> {
    ignore_sighup_while_starting()?;
    crate::bgp::normalize(&mut spec);
    if let Some(name) = &spec.net_namespace {
        enter_net_namespace(name)?;
    }
    privs::check_run_privileges(spec.metrics_listen.is_some())?;
    realtime(&spec)?;
    // Fast takeover is timed on the election's thread: at ordinary priority a busy host
    // delays it by milliseconds, more than the skew that orders the backups (seen in the
    // three-node lab: 3.5 ms, and two backups took over at once).
    let fast = spec
        .instances
        .iter()
        .any(|i| i.vrrp.as_ref().is_some_and(|v| v.fast_takeover));
    if fast && spec.rt_priority.is_none() {
        tracing::warn!("fast takeover without real-time scheduling for the election (vrrp_rt_priority / --rt-priority): a busy host delays the takeover past its skew, and several backups may take over at once (VRRP then sorts them out)");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run_async(spec, reload))
}

/// SIGHUP's default action ends the process: until the daemon's handler is registered (first
/// thing in its runtime), a reload sent to a daemon still starting killed it (the 30-minute
/// chaos run of seed 1202: `kill -9`, the restart, a SIGHUP 470 ms later, the daemon gone).
/// Ignored until then (`havip run` calls this before it reads the configuration); the
/// handler then replaces the disposition, so children (scripts, hooks) get the default back at
/// exec.
pub fn ignore_sighup_while_starting() -> Result<()> {
    // SAFETY: SIG_IGN installs no handler; nothing else in the process handles SIGHUP yet.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        )
    }
    .context("ignoring SIGHUP during start-up")?;
    Ok(())
}

/// keepalived `net_namespace NAME`: this thread (the daemon's first: every thread, script and
/// hook it starts follows) moves into `/run/netns/NAME`, as keepalived's `set_namespaces()`
/// and `nsenter --net` do. The run files are keyed by namespace, so `ip netns exec NAME havip
/// stats` finds the daemon.
fn enter_net_namespace(name: &str) -> Result<()> {
    let path = std::path::Path::new("/run/netns").join(name);
    let fd = std::fs::File::open(&path).with_context(|| {
        format!(
            "net_namespace {name}: opening {} (make the namespace with `ip netns add {name}`, \
             or remove net_namespace)",
            path.display()
        )
    })?;
    rustix::thread::move_into_link_name_space(
        std::os::fd::AsFd::as_fd(&fd),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .with_context(|| {
        format!(
            "net_namespace {name}: entering {} (setns needs CAP_SYS_ADMIN)",
            path.display()
        )
    })?;
    info!(
        namespace = name,
        "running in network namespace (net_namespace)"
    );
    Ok(())
}

async fn run_async(spec: DaemonSpec, reload: Option<Reloader>) -> Result<()> {
    // Before anything that takes time (set-up, start-up script, delay): a SIGHUP meanwhile is
    // kept for the loop, which reloads once it runs.
    let sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("registering SIGHUP")?;
    let nl = Netlink::new()?;
    let ns = crate::control::ns_name()?;
    let _lock = lock::acquire(&ns)?;
    // A hitless restart (`havip restart`): the service goes on, so neither the startup script
    // nor the startup delay (the previous process ran no shutdown script either).
    let handed = handover::take(&ns);
    let restarted = handed.is_some();
    let adopt = match handed {
        Some(h) => handover::adoptable(h, &spec, &nl).await,
        None => Vec::new(),
    };
    remove_leftovers(&nl, &ns, &adopt).await?;
    remove_left_firewall(&spec).await;
    if !restarted {
        remove_left_routes(&nl, &spec).await;
    }
    if !restarted {
        // keepalived runs it before its children start, and waits (up to its timeout).
        life_script(&spec, spec.startup_script.as_ref(), "startup_script").await;
        if !startup_delay(spec.startup_delay).await? {
            life_script(&spec, spec.shutdown_script.as_ref(), "shutdown_script").await;
            return Ok(());
        }
    }

    add_static(&nl, &spec).await;
    let mut node = Node::new(nl);
    let adopting = !adopt.is_empty();
    node.adopt = adopt;
    if let Err(e) = node.setup(&spec).await {
        node.teardown().await;
        if adopting {
            // What was handed over and not taken up goes as a crashed run's would.
            if let Err(e) = remove_leftovers(&node.nl, &ns, &[]).await {
                warn!("removing what the previous process handed over: {e:#}");
            }
        }
        remove_static(&node.nl, &spec).await;
        life_script(&spec, spec.shutdown_script.as_ref(), "shutdown_script").await;
        return Err(e);
    }
    let result = node
        .serve(&crate::control::socket_path(&ns), reload.as_ref(), sighup)
        .await;
    // A hitless restart hands the node over: the service goes on, so no shutdown_script.
    if let Ok(driver::Stop::Handover(asker)) = result {
        return node.hand_over(&ns, asker).await;
    }
    node.teardown().await;
    remove_static(&node.nl, &spec).await;
    // keepalived runs it once its children have stopped (VIPs gone, here XDP detached too).
    life_script(&spec, spec.shutdown_script.as_ref(), "shutdown_script").await;
    result.map(|_| ())
}

/// keepalived `vrrp_startup_delay`: nothing is set up (no XDP program, no VIP, no advert)
/// until it has passed. `false` when SIGTERM or SIGINT came meanwhile: stop, nothing to undo.
async fn startup_delay(delay: Option<std::time::Duration>) -> Result<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let Some(delay) = delay else {
        return Ok(true);
    };
    info!("vrrp_startup_delay: the VRRP instances start in {delay:?}");
    // Under systemd the start is not over until READY=1: the delay must not time it out.
    service::extend_start(delay);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        () = tokio::time::sleep(delay) => Ok(true),
        _ = term.recv() => { info!("SIGTERM during vrrp_startup_delay: stopping"); Ok(false) }
        _ = int.recv() => { info!("SIGINT during vrrp_startup_delay: stopping"); Ok(false) }
    }
}

/// keepalived's `startup_script` / `shutdown_script`, run as the notify hooks are, waited for.
/// The spec is the one the daemon started with (keepalived reads these at start only too).
async fn life_script(spec: &DaemonSpec, script: Option<&crate::model::LifeScript>, what: &str) {
    if let Some(s) = script {
        crate::notify::run_once(&s.command, spec.script_user.clone(), s.timeout, what).await;
    }
}

/// What a crashed run left in this namespace: its XDP program (still attached, answering
/// nothing since its heartbeat stopped) and its VIP addresses; also havip 0.1's pins. What
/// the previous process handed over (`adopt`) stays.
async fn remove_leftovers(nl: &Netlink, ns: &str, adopt: &[handover::Handed]) -> Result<()> {
    let old_pins = std::path::Path::new("/sys/fs/bpf/havip").join(ns);
    let adopted: Vec<_> = adopt
        .iter()
        .flat_map(|h| h.vips.iter().map(|v| (h.prog_id, h.ifindex, *v)))
        .collect();
    let stale = remove_stale(nl, &old_pins, &adopted)
        .await
        .context("removing what a previous run left")?;
    for (addr, ifindex) in stale {
        warn!(%addr, ifindex, "removed a VIP left behind by a previous run");
    }
    Ok(())
}

/// The no_accept table a killed run (or the process that handed over, with a configuration
/// that had no_accept) left, when this configuration wants none: it would drop traffic to the
/// VIPs it names. With no_accept, set-up replaces it in one transaction instead.
async fn remove_left_firewall(spec: &DaemonSpec) {
    use crate::net::firewall;
    if !firewall::Dropped::of(spec).is_empty() {
        return;
    }
    match firewall::remove_leftover().await {
        Ok(true) => warn!(
            table = "inet havip",
            "no_accept: removed the nftables table a previous run left"
        ),
        Ok(false) => {}
        Err(e) => warn!("no_accept: could not remove a table a previous run may have left: {e:#}"),
    }
}

/// keepalived's `static_ipaddress` and `static_routes`, added at start (addresses first, a
/// route may need one). One the kernel refuses is logged as an error; the daemon goes on, as
/// keepalived does. At a hitless restart they are there already.
async fn add_static(nl: &Netlink, spec: &DaemonSpec) {
    for a in &spec.static_addresses {
        let added = match nl.link(&a.dev).await {
            Ok(link) => {
                nl.add_address(
                    link.index,
                    a.addr.addr,
                    a.addr.prefix_len,
                    a.addr.label.as_deref(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match added {
            Ok(true) => info!(address = %a.addr, dev = %a.dev, "static address added"),
            Ok(false) => {}
            Err(e) => error!(address = %a.addr, dev = %a.dev, "static address not added: {e:#}"),
        }
    }
    for rule in &spec.static_rules {
        match nl.add_rule(rule).await {
            Ok(true) => info!(%rule, "static rule added"),
            Ok(false) => {}
            Err(e) => error!(%rule, "static rule not added: {e:#}"),
        }
    }
    for route in &spec.static_routes {
        match instance::add_route(nl, route).await {
            Ok(true) => info!(%route, "static route added"),
            Ok(false) => {}
            Err(e) => error!(%route, "static route not added: {e:#}"),
        }
    }
}

/// Removes what [`add_static`] added (routes first), at stop.
async fn remove_static(nl: &Netlink, spec: &DaemonSpec) {
    for rule in &spec.static_rules {
        match nl.del_rule(rule).await {
            Ok(true) => info!(%rule, "static rule removed"),
            Ok(false) => {}
            Err(e) => warn!(%rule, "static rule not removed: {e:#}"),
        }
    }
    for route in &spec.static_routes {
        match instance::del_route(nl, route).await {
            Ok(true) => info!(%route, "static route removed"),
            Ok(false) => {}
            Err(e) => warn!(%route, "static route not removed: {e:#}"),
        }
    }
    for a in &spec.static_addresses {
        let removed = match nl.find_link(&a.dev).await {
            Ok(Some(link)) => nl.del_address(link.index, a.addr.addr).await,
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        match removed {
            Ok(true) => info!(address = %a.addr, dev = %a.dev, "static address removed"),
            Ok(false) => {}
            Err(e) => warn!(address = %a.addr, dev = %a.dev, "static address not removed: {e:#}"),
        }
    }
}

/// The instances' virtual routes, removed at a fresh start: none is master yet, and a route a
/// killed run left would draw traffic to a node that no longer holds the VIP. (At a hitless
/// restart the masters' routes stay with their VIPs.)
async fn remove_left_routes(nl: &Netlink, spec: &DaemonSpec) {
    let vrrp = spec.instances.iter().filter_map(|i| i.vrrp.as_ref());
    for rule in vrrp.clone().flat_map(|v| v.virtual_rules.iter()) {
        if let Ok(true) = nl.del_rule(rule).await {
            warn!(%rule, "removed a virtual rule left behind by a previous run");
        }
    }
    for route in vrrp.flat_map(|v| v.virtual_routes.iter()) {
        if let Ok(true) = instance::del_route(nl, route).await {
            warn!(%route, "removed a virtual route left behind by a previous run");
        }
    }
}

/// `--rt-priority` and `--mlock`: real-time scheduling and locked memory for the whole process
/// (one thread runs everything), set before anything else starts.
fn realtime(spec: &DaemonSpec) -> Result<()> {
    if let Some(prio) = spec.rt_priority {
        let param = libc::sched_param {
            sched_priority: i32::from(prio),
        };
        // SAFETY: a valid sched_param for this process.
        // SCHED_RESET_ON_FORK: scripts and hooks the daemon starts run as ordinary processes.
        let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
        if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| {
                format!("setting SCHED_FIFO priority {prio} (needs CAP_SYS_NICE; valid 1-99)")
            });
        }
        tracing::info!(priority = prio, "real-time scheduling (SCHED_FIFO)");
    }
    if spec.mlock {
        use rustix::mm::{mlockall, MlockAllFlags};
        mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE)
            .context("locking memory (needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK)")?;
        tracing::info!("memory locked");
    }
    Ok(())
}
