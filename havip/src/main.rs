fn main() -> std::process::ExitCode {
    havip::app::main()
}
