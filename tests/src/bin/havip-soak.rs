//! `cargo xtask soak [--minutes N] [--instances N]`: see `havip_lab::soak`. Exits 1 when a
//! transition happened, adverts were lost, a daemon exited or fds grew.

use std::process::ExitCode;

use havip_lab::soak::{run_soak, Options};

fn main() -> ExitCode {
    havip_lab::lab::catch_stop_signals();
    let mut opts = Options {
        minutes: 60.0,
        instances: 50,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next();
        let num = |v: Option<String>| -> f64 {
            v.and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("havip-soak: {a} needs a number");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--minutes" => opts.minutes = num(v),
            "--instances" => opts.instances = num(v).clamp(1.0, 255.0) as u8,
            _ => {
                eprintln!("usage: cargo xtask soak [--minutes N] [--instances N]");
                return ExitCode::from(2);
            }
        }
    }
    let report = run_soak(&opts);
    print!("{}", report.text);
    if report.failures.is_empty() {
        println!("soak: passed");
        ExitCode::SUCCESS
    } else {
        println!("soak: FAILED: {}", report.failures.join("; "));
        ExitCode::FAILURE
    }
}
