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
    let result = match cli.command {
        Command::Run(args) => match args.to_spec() {
            Ok(spec) => crate::daemon::run(spec),
            Err(e) => Err(anyhow::anyhow!(e)),
        },
        Command::Stats(args) => stats(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("havip: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn stats(args: &crate::cli::StatsArgs) -> anyhow::Result<()> {
    let pin_dir = crate::dataplane::default_pin_dir()?;
    loop {
        let stats = crate::stats::collect(&pin_dir)?;
        if args.watch {
            print!("\x1b[2J\x1b[H");
        }
        if args.json {
            println!("{}", serde_json::to_string_pretty(&stats)?);
        } else {
            print!("{}", crate::stats::render(&stats));
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
