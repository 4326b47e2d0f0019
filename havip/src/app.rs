//! The `havip` executable's entry point, in the library so that the root-tier test package can
//! build the same binary (see tests/src/bin/havip.rs).

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HAVIP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let cli = Cli::parse();
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("havip: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `havip run`: with `--config`, SIGHUP re-reads the file (a bad one is refused, the running
/// configuration kept).
fn run(args: crate::cli::RunArgs) -> anyhow::Result<()> {
    let spec = run_spec(&args)?;
    if args.config.is_none() {
        return crate::daemon::run(spec);
    }
    let reload: crate::daemon::Reloader = Box::new(move || run_spec(&args));
    crate::daemon::run_with_reload(spec, Some(reload))
}

/// What `havip run` runs: the instance flags, or the `--config` file with the run flags.
fn run_spec(args: &crate::cli::RunArgs) -> anyhow::Result<crate::model::DaemonSpec> {
    let Some(path) = &args.config else {
        return args.to_spec().map_err(|e| anyhow::anyhow!(e));
    };
    let format = args
        .format
        .unwrap_or_else(|| crate::config::Format::of_path(path));
    let loaded = crate::config::load_as(path, format, &crate::config::ReadOptions::default())
        .map_err(anyhow::Error::new)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut spec = loaded.spec;
    spec.xdp_mode = args.xdp_mode;
    spec.advert_path = args.advert_path;
    // The command line wins over the file's vrrp_rt_priority / vrrp_no_swap.
    spec.rt_priority = args.rt_priority.or(spec.rt_priority);
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
    match config::load_as(&args.file, format, &config::ReadOptions::default()) {
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
