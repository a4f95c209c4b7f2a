//! `rvoip-pbx`: the PBX of this example as a program.
//!
//! ```text
//! rvoip-pbx [--sip 127.0.0.1:5060] [--presence 127.0.0.1:5070] [--domain pbx.test]
//!           [--media-ports 20000-20999] [--ring-timeout 30] [--users FILE] [--auth-algorithms SHA-256,MD5]
//! ```
//!
//! `--users` names a file of `user:password` lines: REGISTER, SUBSCRIBE and PUBLISH are then authenticated
//! (digest, realm = the domain), challenging with SHA-256 then MD5 (RFC 8760) unless `--auth-algorithms` says
//! otherwise (phones that read only the first challenge and know only MD5, such as baresip 1.0, need `MD5`). It prints `ready sip=… presence=…` once both ports listen.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use registrar_rvoip_pbx::{PbxConfig, start};
use registrar_sip::auth::{Credentials, DigestAuth};

const USAGE: &str = "usage: rvoip-pbx [--sip ADDR] [--presence ADDR] [--domain NAME] \
                     [--media-ports FIRST-LAST] [--ring-timeout SECS] [--users FILE] \
                     [--auth-algorithms SHA-256,MD5]";

fn parse() -> Result<PbxConfig, String> {
    let mut cfg = PbxConfig {
        sip: "127.0.0.1:5060".parse().map_err(|_| "default address")?,
        presence: "127.0.0.1:5070".parse().map_err(|_| "default address")?,
        domain: "pbx.test".to_owned(),
        media_ports: (20_000, 20_999),
        ring_timeout: Duration::from_secs(30),
        auth: None,
    };
    let mut users = None;
    let mut algorithms = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let addr = |v: String| v.parse::<SocketAddr>().map_err(|e| format!("{v}: {e}"));
        match arg.as_str() {
            "--sip" => cfg.sip = addr(value()?)?,
            "--presence" => cfg.presence = addr(value()?)?,
            "--domain" => cfg.domain = value()?.to_ascii_lowercase(),
            "--media-ports" => {
                let v = value()?;
                let (a, b) = v
                    .split_once('-')
                    .ok_or(format!("--media-ports {v}: FIRST-LAST"))?;
                let (a, b) = (
                    a.parse::<u16>()
                        .map_err(|e| format!("--media-ports {v}: {e}"))?,
                    b.parse::<u16>()
                        .map_err(|e| format!("--media-ports {v}: {e}"))?,
                );
                if a >= b {
                    return Err(format!("--media-ports {v}: FIRST must be below LAST"));
                }
                cfg.media_ports = (a, b);
            }
            "--ring-timeout" => {
                let v = value()?;
                let secs: u64 = v.parse().map_err(|e| format!("--ring-timeout {v}: {e}"))?;
                if !(1..=600).contains(&secs) {
                    return Err(format!("--ring-timeout {v}: 1 to 600 seconds"));
                }
                cfg.ring_timeout = Duration::from_secs(secs);
            }
            "--users" => users = Some(value()?),
            "--auth-algorithms" => {
                let v = value()?;
                for name in v.split(',') {
                    algorithms.push(
                        DigestAuth::algorithm(name.trim())
                            .ok_or(format!("--auth-algorithms {v}: MD5 or SHA-256"))?,
                    );
                }
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if let Some(path) = users {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let mut map = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, password) = line
                .split_once(':')
                .ok_or(format!("{path}:{}: user:password", n + 1))?;
            map.insert(
                user.to_owned(),
                Credentials::from_password(user, &cfg.domain, password),
            );
        }
        let auth =
            DigestAuth::new(&cfg.domain, map, 300).map_err(|e| format!("random source: {e}"))?;
        cfg.auth = Some(auth.with_algorithms(&algorithms));
    }
    Ok(cfg)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,rvoip_sip=warn,rvoip_sip_dialog=warn,rvoip_media_core=warn,rvoip_rtp_core=warn".into()),
        )
        .init();
    let cfg = match parse() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let sip = cfg.sip;
    let pbx = match start(cfg).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rvoip-pbx: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("ready sip={sip} presence={}", pbx.presence);
    let _ = tokio::signal::ctrl_c().await;
    pbx.coordinator.shutdown();
    std::process::ExitCode::SUCCESS
}
