//! `registrar`: the command-line entry point; everything is in the library (`registrar_server`).

fn main() -> std::process::ExitCode {
    registrar_server::run()
}
