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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("havip: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
