//! The `havip` executable's entry point, in the library so that the root-tier test package can
//! build the same binary (see tests/src/bin/havip.rs).

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

/// The command line's definition, for generated docs (`cargo xtask man`: havip(8) and the
/// shell completions).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init(cli.log_format);
    if cli.version {
        print!("{}", crate::version::text(cli.verbose));
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        // `arg_required_else_help` covers a bare `havip`; `havip -v` alone lands here.
        eprintln!("havip: give a command (see `havip --help`)");
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Run(args) => run(args),
        Command::Stats(args) => stats(&args),
        Command::CheckConfig(args) => return check_config(&args),
        Command::Probe(args) => return probe(&args),
        Command::Doctor(args) => return doctor(&args),
        Command::Handover(args) => handover(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::logging::fatal(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

/// `havip run`: with `--config`, SIGHUP re-reads the file (a bad one is refused, the running
/// configuration kept).
fn run(mut args: crate::cli::RunArgs) -> anyhow::Result<()> {
    crate::daemon::ignore_sighup_while_starting()?;
    if args.config.is_none() && args.iface.is_none() {
        // Chosen once: a reload re-reads the same file.
        args.config = Some(default_config(std::path::Path::new("/"))?);
    }
    let spec = run_spec(&args)?;
    if args.config.is_none() {
        return crate::daemon::run(spec);
    }
    let reload: crate::daemon::Reloader = std::sync::Arc::new(move || run_spec(&args));
    crate::daemon::run_with_reload(spec, Some(reload))
}

/// Where `havip run` looks without --config or --iface, under `root` (`/`; a test's temporary
/// directory): havip's own file in either syntax, else keepalived's, so that swapping
/// keepalived for havip needs no new file.
pub const DEFAULT_CONFIGS: [&str; 3] = [
    "etc/havip/havip.conf",
    "etc/havip/havip.toml",
    "etc/keepalived/keepalived.conf",
];

/// The config file `havip run` takes by default (see [`DEFAULT_CONFIGS`]).
fn default_config(root: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let [conf, toml, keepalived] = DEFAULT_CONFIGS.map(|p| root.join(p));
    match (conf.exists(), toml.exists()) {
        (true, true) => anyhow::bail!(
            "both {} and {} exist: keep one, or choose with --config FILE",
            conf.display(),
            toml.display()
        ),
        (true, false) => return Ok(conf),
        (false, true) => return Ok(toml),
        (false, false) => {}
    }
    if keepalived.exists() {
        tracing::info!(
            "no {} or {}: running keepalived's configuration, {}",
            conf.display(),
            toml.display(),
            keepalived.display()
        );
        return Ok(keepalived);
    }
    anyhow::bail!(
        "no configuration: tried {}, {} and {}; write one of them (keepalived.conf syntax, or \
         TOML for havip.toml; see havip.conf(5)), or give --config FILE, or --iface and --vip",
        conf.display(),
        toml.display(),
        keepalived.display()
    )
}

/// What `havip run` runs: the instance flags, or the `--config` file with the run flags.
fn run_spec(args: &crate::cli::RunArgs) -> anyhow::Result<crate::model::DaemonSpec> {
    let Some(path) = &args.config else {
        return args.to_spec().map_err(|e| anyhow::anyhow!(e));
    };
    let format = args
        .format
        .unwrap_or_else(|| crate::config::Format::of_path(path));
    let loaded = crate::config::load_checked(path, format, &crate::config::ReadOptions::default())
        .map_err(anyhow::Error::new)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut spec = loaded.spec;
    spec.xdp_mode = args.xdp_mode;
    spec.advert_path = args.advert_path;
    // The command line wins over the file's vrrp_rt_priority, bfd_rt_priority / vrrp_no_swap.
    spec.rt_priority = args.rt_priority.or(spec.rt_priority);
    spec.bfd_rt_priority = args.bfd_rt_priority.or(spec.bfd_rt_priority);
    spec.mlock |= args.mlock;
    spec.metrics_listen = args.metrics_listen.or(spec.metrics_listen);
    Ok(spec)
}

/// `havip check-config`: 0 valid (warnings allowed), 1 invalid, 2 unreadable.
fn check_config(args: &crate::cli::CheckConfigArgs) -> ExitCode {
    use crate::config::{self, LoadError};
    let format = args
        .format
        .unwrap_or_else(|| config::Format::of_path(&args.file));
    match config::load_checked(&args.file, format, &config::ReadOptions::default()) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            if args.print {
                print!("{}", config::render(&loaded.spec));
            }
            println!(
                "{}: valid ({} instance{}, {} warning{})",
                args.file.display(),
                loaded.spec.instances.len(),
                if loaded.spec.instances.len() == 1 {
                    ""
                } else {
                    "s"
                },
                loaded.warnings.len(),
                if loaded.warnings.len() == 1 { "" } else { "s" },
            );
            ExitCode::SUCCESS
        }
        Err(e @ LoadError::Invalid { .. }) => {
            println!("{e}");
            ExitCode::from(1)
        }
        Err(e @ LoadError::Read { .. }) => {
            eprintln!("havip: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn handover(args: &crate::cli::HandoverArgs) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(unit) = &args.if_restarting {
        match crate::daemon::systemd_job(unit) {
            Ok(Some(job)) if job == "restart" => {}
            Ok(job) => {
                println!(
                    "{unit}'s job is {}: not a restart, nothing to hand over",
                    job.as_deref().unwrap_or("none")
                );
                return Ok(());
            }
            Err(e) => {
                // The stop goes on as usual: safe, only not hitless.
                println!("cannot tell whether {unit} is restarting ({e:#}): not handing over");
                return Ok(());
            }
        }
    }
    let timeout = std::time::Duration::from_secs_f64(args.timeout.max(0.1));
    let ns = crate::control::ns_name()?;
    let socket = crate::control::socket_path(&ns);
    let pid = crate::control::handover(&socket, timeout)?.with_context(|| {
        format!(
            "no havip runs in this network namespace ({} is not there)",
            socket.display()
        )
    })?;
    // The next process needs the namespace lock, which the old one holds until it exits.
    let start = std::time::Instant::now();
    // A zombie has exited (its files, the lock among them, are closed); its parent reaps it.
    let running = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            // The state follows the command's closing parenthesis.
            s.rsplit_once(") ")
                .is_none_or(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    while running(pid) {
        if start.elapsed() > timeout {
            anyhow::bail!("havip (pid {pid}) handed over but has not exited after {timeout:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    println!("handed over: havip (pid {pid}) exited; start the next one now");
    Ok(())
}

fn stats(args: &crate::cli::StatsArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    loop {
        let stats = crate::stats::collect()?;
        let mut text = String::new();
        if args.watch {
            text.push_str("\x1b[2J\x1b[H");
        }
        if args.json {
            text.push_str(&serde_json::to_string_pretty(&stats)?);
            text.push('\n');
        } else {
            text.push_str(&crate::stats::render(&stats));
        }
        // `havip stats | head` closes the pipe early: that is the reader's choice, not an error.
        match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            r => r?,
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// `havip doctor`: 0 all fine, 1 warnings, 2 something blocks VRRP (or the configuration is
/// invalid).
fn doctor(args: &crate::cli::DoctorArgs) -> ExitCode {
    use crate::doctor::{self, Options};
    if !(args.listen.is_finite() && (0.0..=60.0).contains(&args.listen)) {
        eprintln!("havip doctor: --listen takes 0 to 60 seconds");
        return ExitCode::from(2);
    }
    let path = match &args.config {
        Some(p) => Some(p.clone()),
        None => default_config(std::path::Path::new("/")).ok(),
    };
    let spec = match &path {
        None => {
            println!("no configuration found: checking the host and --iface interfaces only");
            None
        }
        Some(path) => {
            let format = args
                .format
                .unwrap_or_else(|| crate::config::Format::of_path(path));
            match crate::config::load_checked(path, format, &crate::config::ReadOptions::default())
            {
                Ok(loaded) => {
                    println!("configuration {}", path.display());
                    Some(loaded.spec)
                }
                Err(e) => {
                    println!("BLOCK configuration: {e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    let opts = Options {
        spec,
        ifaces: args.ifaces.clone(),
        listen: std::time::Duration::from_secs_f64(args.listen),
    };
    match doctor::run(&opts, &mut |f| println!("{f}")) {
        Ok(findings) => ExitCode::from(doctor::exit_code(&findings)),
        Err(e) => {
            eprintln!("havip doctor: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `havip probe`: 0 healthy, 1 unhealthy, 2 bad usage.
fn probe(args: &crate::cli::ProbeArgs) -> ExitCode {
    let check = match crate::track::Check::from_probe_args(&args.probe) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("havip probe: {e:#}");
            return ExitCode::from(2);
        }
    };
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        eprintln!("havip probe: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let timeout = std::time::Duration::from_secs_f64(args.timeout);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("havip probe: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(crate::track::probe(&check, timeout));
    println!(
        "{}: {}",
        if outcome.ok { "healthy" } else { "unhealthy" },
        outcome.detail
    );
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use std::{fs, path::Path};

    use super::*;

    fn root_with(files: &[&str]) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "havip-defaults-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        for f in files {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "").unwrap();
        }
        root
    }

    fn chosen(files: &[&str]) -> Result<String, String> {
        let root = root_with(files);
        let r = default_config(&root)
            .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
            .map_err(|e| e.to_string().replace(root.to_str().unwrap(), ""));
        let _ = fs::remove_dir_all(&root);
        r
    }

    #[test]
    fn default_config_prefers_havips_own_file_then_keepalived() {
        let [conf, toml, keepalived] = DEFAULT_CONFIGS;
        assert_eq!(chosen(&[conf, keepalived]).as_deref(), Ok(conf));
        assert_eq!(chosen(&[toml, keepalived]).as_deref(), Ok(toml));
        assert_eq!(chosen(&[keepalived]).as_deref(), Ok(keepalived));
        let both = chosen(&[conf, toml]).unwrap_err();
        assert!(both.contains("both") && both.contains("--config"), "{both}");
    }

    #[test]
    fn no_default_config_names_every_path_tried() {
        let err = chosen(&[]).unwrap_err();
        for p in DEFAULT_CONFIGS {
            assert!(err.contains(&format!("/{p}")), "{p} not named: {err}");
        }
        assert!(Path::new(DEFAULT_CONFIGS[0]).is_relative());
    }
}
