//! The havip executable, built inside this package so that its integration tests get an
//! up-to-date binary at `env!("CARGO_BIN_EXE_havip-test")`.
fn main() -> std::process::ExitCode {
    havip::app::main()
}
