//! The project's task runner, so that local checks are exactly what CI runs.
//!
//! - `cargo xtask ci`: format check, clippy with `-D warnings` on all targets, every test, docs with
//!   `-D warnings`, and a short run of every fuzz target when `cargo fuzz` is installed (`FUZZ_SECONDS`, 30).
//! - `cargo xtask pbx`: the same checks and tests for the rvoip-sip PBX example alone (`ci` runs them too).
//! - `cargo xtask bench`: the criterion benches and the whole-system figures, one `name value unit` line each;
//!   `bench sip` only the SIP load, `bench directory` only the directory over 1 M participants,
//!   `bench directory-http` only the directory over HTTP and across three federated servers.

use std::env;
use std::process::{Command, ExitCode};

mod sipload;
mod tlsload;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("pbx") => pbx(),
        Some("bench") if args.get(1).is_some_and(|a| a == "sip") => sip_load(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "tls") => tls_load(&args[2..]),
        Some("bench") if args.get(1).is_some_and(|a| a == "directory") => directory_bench(),
        Some("bench") if args.get(1).is_some_and(|a| a == "push") => run(
            "push wake-ups",
            cargo().args([
                "bench",
                "--locked",
                "-p",
                "registrar-push",
                "--features",
                "local",
                "--bench",
                "wake",
            ]),
        ),
        Some("bench") if args.get(1).is_some_and(|a| a == "directory-http") => {
            directory_http_bench()
        }
        Some("bench") => bench(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|pbx|bench [quick]|bench sip [quick]|bench tls [quick]|bench directory|bench directory-http|bench push>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("==> {what}");
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    run("fmt", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            "registrar-storage/tantivy,registrar-push/local",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The tantivy index of the directory is behind a non-default feature of registrar-storage: on for the
    // whole workspace's tests.
    run(
        "test",
        cargo().args([
            "test",
            "--workspace",
            "--features",
            "registrar-storage/tantivy,registrar-push/local",
            "--locked",
        ]),
    )?;
    // Each storage engine is behind a feature: every one must build alone (and with none).
    for features in ["", "embedded", "redis", "postgres", "tantivy"] {
        run(
            &format!("check registrar-storage with features [{features}]"),
            cargo().args([
                "check",
                "-p",
                "registrar-storage",
                "--no-default-features",
                "--features",
                features,
                "--locked",
            ]),
        )?;
    }
    // The rvoip infra-common bridge is behind a non-default feature: lint and test it on its own.
    run(
        "clippy infra-common",
        cargo().args([
            "clippy",
            "-p",
            "registrar-events",
            "-p",
            "registrar-service",
            "--all-targets",
            "--features",
            "infra-common",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "test infra-common",
        cargo().args([
            "test",
            "-p",
            "registrar-events",
            "-p",
            "registrar-service",
            "--features",
            "infra-common",
            "--locked",
        ]),
    )?;
    run(
        "doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    pbx()?;
    fuzz_briefly()
}

/// The rvoip-sip PBX example (`examples/rvoip-pbx`, its own package and lockfile, outside the workspace):
/// format, clippy, and its tests, which place calls between real baresip phones. Built into the workspace's
/// target directory (its ~400 crates are built once and kept).
fn pbx() -> Result<(), String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest = root.join("examples/rvoip-pbx/Cargo.toml");
    let target = env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let manifest = manifest.to_string_lossy().into_owned();
    let pbx = |args: &[&str]| {
        let mut c = cargo();
        c.args(args)
            .args(["--manifest-path", &manifest])
            .env("CARGO_TARGET_DIR", &target);
        c
    };
    run("fmt rvoip-pbx", &mut pbx(&["fmt", "--check"]))?;
    run(
        "clippy rvoip-pbx",
        pbx(&["clippy", "--locked", "--all-targets"]).args(["--", "-D", "warnings"]),
    )?;
    run("test rvoip-pbx", &mut pbx(&["test", "--locked"]))
}

/// Every fuzz target for a short while, from the checked-in seeds, when `cargo fuzz` is installed
/// (`.ci/run` installs it). New inputs go to `target/fuzz-corpus`, never into the seeds.
fn fuzz_briefly() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!(
            "==> fuzz: skipped, cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
        );
        return Ok(());
    }
    let seconds = env::var("FUZZ_SECONDS").unwrap_or_else(|_| "30".into());
    for target in [
        "pidf_parse",
        "message_summary",
        "resource_lists",
        "sip_uri",
        "sip_message",
        "federation_lookup",
        "stun",
    ] {
        let corpus = format!("target/fuzz-corpus/{target}");
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{corpus}: {e}"))?;
        run(
            &format!("fuzz {target} for {seconds} s"),
            cargo()
                .args(["fuzz", "run", "--sanitizer", "none", target, &corpus])
                .arg(format!("fuzz/seeds/{target}"))
                .args([
                    "--",
                    &format!("-max_total_time={seconds}"),
                    "-rss_limit_mb=2048",
                ])
                .env("RUSTC_BOOTSTRAP", "1"),
        )?;
    }
    Ok(())
}

fn bench(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "quick");
    let mut criterion = cargo();
    criterion.args([
        "bench",
        "--locked",
        "-p",
        "registrar-registry",
        "--bench",
        "registry",
    ]);
    if quick {
        criterion.args(["--", "--quick"]);
    }
    run("criterion: registry", &mut criterion)?;
    let mut pidf = cargo();
    pidf.args([
        "bench",
        "--locked",
        "-p",
        "registrar-pidf",
        "--bench",
        "pidf",
    ]);
    if quick {
        pidf.args(["--", "--quick"]);
    }
    run("criterion: pidf", &mut pidf)?;
    let mut presence = cargo();
    presence.args([
        "bench",
        "--locked",
        "-p",
        "registrar-presence",
        "--bench",
        "presence",
    ]);
    if quick {
        presence.args(["--", "--quick"]);
    }
    run("criterion: presence", &mut presence)?;
    run(
        "memory per subscription",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-presence",
            "--bench",
            "subscription_memory",
        ]),
    )?;
    run(
        "memory per registration",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-registry",
            "--bench",
            "memory",
        ]),
    )?;
    run(
        "service with 1 M users",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-service",
            "--bench",
            "service",
        ]),
    )?;
    run(
        "embedded storage with 1 M users",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-storage",
            "--bench",
            "embedded",
        ]),
    )?;
    directory_bench()?;
    directory_http_bench()?;
    run(
        "each storage mode through the service API (shared mode when REDIS_URL is set)",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-storage",
            "--bench",
            "modes",
        ]),
    )?;
    sip_load(args)?;
    tls_load(args)
}

/// SIP over TLS and WebSocket against the server and Kamailio with its tls module (`bench tls`).
fn tls_load(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "quick");
    run(
        "release build of the server",
        cargo().args(["build", "--release", "--locked", "-p", "registrar-server"]),
    )?;
    tlsload::run(&tlsload::Plan::from_env(quick))
}

/// The directory over 1 M synthetic participants with each search index (`bench directory` runs only this).
fn directory_bench() -> Result<(), String> {
    run(
        "directory with 1 M participants (memory index)",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-directory",
            "--bench",
            "directory",
        ]),
    )?;
    run(
        "directory with 1 M participants (tantivy index)",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-storage",
            "--features",
            "tantivy",
            "--bench",
            "directory_tantivy",
        ]),
    )?;
    Ok(())
}

/// Discovery over HTTP at 1 M participants and federated discovery across three local servers, against
/// release builds of the server (`bench directory-http` runs only this).
fn directory_http_bench() -> Result<(), String> {
    run(
        "directory over HTTP (1 M participants) and federated across three servers",
        cargo().args([
            "bench",
            "--locked",
            "-p",
            "registrar-server",
            "--bench",
            "directory_http",
        ]),
    )
}

/// The sipp REGISTER load against the release server and Kamailio (`sip` alone runs only this part).
fn sip_load(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "quick");
    run(
        "release build of the server",
        cargo().args(["build", "--release", "--locked", "-p", "registrar-server"]),
    )?;
    eprintln!(
        "==> SIP REGISTER load: registrar (memory, embedded; each without and with digest auth), kamailio"
    );
    let plan = if quick {
        sipload::Plan {
            rate: 5_000,
            seconds: 5,
            search: vec![10_000, 20_000],
            search_seconds: 3,
        }
    } else {
        sipload::Plan {
            rate: 20_000,
            seconds: 15,
            search: vec![10_000, 20_000, 30_000, 40_000, 50_000, 60_000],
            search_seconds: 5,
        }
    };
    sipload::run(&plan)
}
