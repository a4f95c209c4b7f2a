//! The `registrar` command line: every subcommand, parsed with clap and carried out here (the binary only
//! calls [`run`]).
//!
//! - `registrar serve [--config FILE] [--sip-listen udp:IP:PORT]… [--http-listen IP:PORT]`: the SIP
//!   registrar and presence server with its HTTP admin API.
//! - `registrar ctl …`: that API from the command line.
//! - `registrar ha1 USER REALM`: the HA1 hashes to put in `[auth.users]` (the password is read from stdin).
//! - `registrar pidf check|parse FILE`: presence documents.
//! - `registrar openapi`: print the HTTP API's OpenAPI document.
//! - `registrar token SUBJECT [--eddsa] [--admin] [--hours N]`: a bearer token for the directory API (the
//!   key — `directory.jwt_secret`, or with `--eddsa` a private key of `registrar keygen` — from standard
//!   input).
//! - `registrar keygen`: an Ed25519 key pair for EdDSA tokens or a federation key (`federation.private_key`).

mod ctl;
mod pidf_json;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use registrar_pidf::Document;

use crate::directory::jwt;
use crate::{admin, config, runtime};

#[derive(Debug, Parser)]
#[command(
    name = "registrar",
    version,
    about = "SIP registrar, presence server and participant directory"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the SIP registrar and presence server with its HTTP API.
    Serve {
        /// The TOML configuration file (defaults apply without one).
        #[arg(long)]
        config: Option<PathBuf>,
        /// A SIP listening address, `udp:IP:PORT` or `tcp:IP:PORT` (repeatable; replaces `sip.listen`).
        #[arg(long = "sip-listen")]
        sip_listen: Vec<String>,
        /// The HTTP API's address (replaces `http.listen`).
        #[arg(long = "http-listen")]
        http_listen: Option<String>,
        /// Check the configuration and print it as it takes effect (every key, secrets hidden), or the first
        /// error (exit status 2); do not start.
        #[arg(long = "check-config")]
        check_config: bool,
    },
    /// Call a running registrar's HTTP API.
    Ctl {
        /// The API's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// An admin bearer token (`http.admin_tokens`, or `registrar token --admin`); default: the
        /// `REGISTRAR_TOKEN` environment variable.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        command: CtlCommand,
    },
    /// Print the HA1 hashes of a user for `[auth.users]`; the password is read from standard input.
    Ha1 {
        /// The user name.
        user: String,
        /// The realm (`auth.realm`).
        realm: String,
    },
    /// Print the HTTP API's OpenAPI document.
    Openapi,
    /// Print a bearer token for the directory API; the key (`directory.jwt_secret`) is read from standard
    /// input.
    Token {
        /// The participant the token speaks for (`alice@example.com`).
        subject: String,
        /// Sign with Ed25519 (EdDSA): the private key from `registrar keygen` is read from standard input.
        #[arg(long)]
        eddsa: bool,
        /// With the operators' `admin` scope.
        #[arg(long)]
        admin: bool,
        /// Valid for this many hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Print a new Ed25519 key pair: the private key (keep it secret; `registrar token --eddsa` reads it, or
    /// `federation.private_key`) and the public key (`directory.jwt_ed25519_public_keys`, or a peer's
    /// `public_key`).
    Keygen,
    /// Presence documents: PIDF, watcherinfo, reginfo, RLMI.
    Pidf {
        #[command(subcommand)]
        command: PidfCommand,
    },
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// List registered users with their binding counts.
    Registrations {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Start after this address-of-record.
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one address-of-record: its bindings and its composed presence.
    Show {
        /// `sip:user@domain` or `user@domain`.
        aor: String,
    },
    /// Remove every binding of an address-of-record.
    Unregister {
        /// `sip:user@domain` or `user@domain`.
        aor: String,
    },
    /// Show a mailbox's message summary (RFC 3842), or set its voice message counts.
    Mwi {
        /// The mailbox: `sip:user@domain` or `user@domain`.
        aor: String,
        /// Set the voice messages: `NEW/OLD` (for example `2/5`).
        #[arg(long)]
        voice: Option<String>,
    },
    /// Show a user's dialogs (RFC 4235), as busy lamp field watchers see them.
    Dialogs {
        /// `sip:user@domain` or `user@domain`.
        aor: String,
    },
    /// List the subscriptions to a presentity (or held by a watcher).
    Subscriptions {
        /// The watched user.
        #[arg(long, conflicts_with = "watcher")]
        presentity: Option<String>,
        /// The watching user.
        #[arg(long)]
        watcher: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PidfCommand {
    /// Validate a document: prints `ok` and exits 0, or prints the error on one line and exits 1.
    Check {
        /// The document (`-` for standard input).
        file: PathBuf,
    },
    /// Print a document as JSON, or the error on one line (exit 1).
    Parse {
        /// The document (`-` for standard input).
        file: PathBuf,
    },
}

/// Parse the command line and carry out the command; the process's exit status.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            sip_listen,
            http_listen,
            check_config,
        } => serve(config.as_deref(), sip_listen, http_listen, check_config),
        Command::Ctl {
            http,
            token,
            command,
        } => {
            let token = token.or_else(|| std::env::var("REGISTRAR_TOKEN").ok());
            ctl::set_token(token);
            ctl_command(http, &command)
        }
        Command::Ha1 { user, realm } => ha1(&user, &realm),
        Command::Token {
            subject,
            eddsa,
            admin,
            hours,
        } => token(&subject, eddsa, admin, hours),
        Command::Keygen => match jwt::keygen() {
            Ok((private, public)) => {
                out(&format!("private = \"{private}\""));
                out(&format!("public = \"{public}\""));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Openapi => match serde_json::to_string_pretty(&admin::openapi_json()) {
            Ok(t) => {
                out(&t);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Pidf { command } => pidf(&command),
    }
}

fn serve(
    config: Option<&std::path::Path>,
    sip_listen: Vec<String>,
    http_listen: Option<String>,
    check_config: bool,
) -> ExitCode {
    if check_config {
        return check(config, sip_listen, http_listen);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut cfg = match config {
        Some(p) => match config::Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => config::Config::default(),
    };
    if !sip_listen.is_empty() {
        cfg.sip.listen = sip_listen;
    }
    if let Some(h) = http_listen {
        cfg.http.listen = h;
    }
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(runtime::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ctl_command(http: SocketAddr, command: &CtlCommand) -> ExitCode {
    let result = match command {
        CtlCommand::Registrations { limit, after } => {
            let mut path = format!("/v1/registrations?limit={limit}");
            if let Some(a) = after {
                path.push_str("&after=");
                path.push_str(&ctl::encode(a));
            }
            ctl::call(http, "GET", &path).map(|(st, body)| {
                if st != 200 {
                    return (st, body);
                }
                let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let mut lines = Vec::new();
                for u in v["users"].as_array().into_iter().flatten() {
                    lines.push(format!(
                        "{} {}",
                        u["aor"].as_str().unwrap_or(""),
                        u["bindings"].as_u64().unwrap_or(0)
                    ));
                }
                if let Some(n) = v["next"].as_str() {
                    lines.push(format!("# more: --after {n}"));
                }
                (st, lines.join("\n"))
            })
        }
        CtlCommand::Show { aor } => {
            let a = ctl::encode(aor);
            ctl::call(http, "GET", &format!("/v1/registrations/{a}")).and_then(|(st, b)| {
                if st != 200 {
                    return Ok((st, b));
                }
                let (pst, p) = ctl::call(http, "GET", &format!("/v1/presence/{a}"))?;
                let mut v: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
                if pst == 200 {
                    v["presence"] = serde_json::Value::String(p);
                }
                Ok((st, serde_json::to_string_pretty(&v).unwrap_or(b)))
            })
        }
        CtlCommand::Unregister { aor } => ctl::call(
            http,
            "DELETE",
            &format!("/v1/registrations/{}", ctl::encode(aor)),
        ),
        CtlCommand::Mwi { aor, voice } => {
            let path = format!("/v1/mwi/{}", ctl::encode(aor));
            let call = match voice {
                None => ctl::call(http, "GET", &path),
                Some(v) => {
                    let Some((new, old)) = v.split_once('/').and_then(|(n, o)| {
                        Some((n.trim().parse::<u32>().ok()?, o.trim().parse::<u32>().ok()?))
                    }) else {
                        eprintln!("error: --voice takes NEW/OLD, for example 2/5");
                        return ExitCode::from(2);
                    };
                    let body = serde_json::json!({ "voice": { "new": new, "old": old } });
                    ctl::call_with(http, "PUT", &path, Some(body.to_string()))
                }
            };
            call.map(|(st, b)| (st, pretty(b)))
        }
        CtlCommand::Dialogs { aor } => {
            ctl::call(http, "GET", &format!("/v1/dialogs/{}", ctl::encode(aor))).map(|(st, b)| {
                if st != 200 {
                    return (st, b);
                }
                let v: serde_json::Value = serde_json::from_str(&b).unwrap_or_default();
                let lines: Vec<String> = v["dialogs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        let f = |k: &str| d[k].as_str().unwrap_or("-").to_owned();
                        format!(
                            "{} {} {} {}",
                            f("id"),
                            f("state"),
                            f("direction"),
                            f("remote")
                        )
                    })
                    .collect();
                if lines.is_empty() {
                    return (st, "no dialog".to_owned());
                }
                (st, lines.join("\n"))
            })
        }
        CtlCommand::Subscriptions {
            presentity,
            watcher,
        } => {
            let q = match (presentity, watcher) {
                (Some(p), _) => format!("presentity={}", ctl::encode(p)),
                (None, Some(w)) => format!("watcher={}", ctl::encode(w)),
                (None, None) => {
                    eprintln!("error: give --presentity or --watcher");
                    return ExitCode::from(2);
                }
            };
            ctl::call(http, "GET", &format!("/v1/subscriptions?{q}")).map(|(st, b)| {
                let pretty = serde_json::from_str::<serde_json::Value>(&b)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or(b);
                (st, pretty)
            })
        }
    };
    match result {
        Ok((200, body)) => {
            out(&body);
            ExitCode::SUCCESS
        }
        Ok((status, body)) => {
            eprintln!("error: HTTP {status}: {body}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A JSON body indented, or as it came when it is not JSON.
fn pretty(body: String) -> String {
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(body)
}

/// `registrar serve --check-config`: the effective configuration, or the first error.
fn check(
    config: Option<&std::path::Path>,
    sip_listen: Vec<String>,
    http_listen: Option<String>,
) -> ExitCode {
    let mut cfg = match config {
        Some(p) => match config::Config::load(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => config::Config::default(),
    };
    if !sip_listen.is_empty() {
        cfg.sip.listen = sip_listen;
    }
    if let Some(h) = http_listen {
        cfg.http.listen = h;
    }
    if let Err(e) = cfg.validate() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match cfg.to_effective_toml() {
        Ok(text) => {
            out(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn ha1(user: &str, realm: &str) -> ExitCode {
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("error: cannot read the password from standard input");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    let c = registrar_sip::auth::Credentials::from_password(user, realm, password);
    out(&format!("[auth.users.{user}]"));
    out(&format!("md5 = \"{}\"", c.md5.unwrap_or_default()));
    out(&format!("sha256 = \"{}\"", c.sha256.unwrap_or_default()));
    ExitCode::SUCCESS
}

fn token(subject: &str, eddsa: bool, admin: bool, hours: u64) -> ExitCode {
    let mut secret = String::new();
    if std::io::stdin().read_line(&mut secret).is_err() {
        eprintln!("error: cannot read the key from standard input");
        return ExitCode::FAILURE;
    }
    let secret = secret.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        eprintln!("error: the key (directory.jwt_secret) is empty");
        return ExitCode::FAILURE;
    }
    if registrar_directory::ParticipantId::parse(subject).is_err() {
        eprintln!("error: {subject} is not a participant id (local@domain)");
        return ExitCode::FAILURE;
    }
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + hours.saturating_mul(3_600);
    if eddsa {
        match jwt::mint_eddsa(subject, exp, admin, secret) {
            Ok(t) => out(&t),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        out(&jwt::mint(subject, exp, admin, secret.as_bytes()));
    }
    ExitCode::SUCCESS
}

/// Print a line on standard output. A reader that went away (`registrar … | head`) is not an error.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

fn pidf(command: &PidfCommand) -> ExitCode {
    let (PidfCommand::Check { file } | PidfCommand::Parse { file }) = command;
    // XML documents by their root; anything else is read as a message summary (RFC 3842, plain text).
    let result = read(file).and_then(|bytes| {
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let xml = body.trim_ascii_start().starts_with(b"<");
        if xml {
            Document::parse(&bytes)
                .map(|d| pidf_json::to_json(&d))
                .map_err(|e| e.to_string())
        } else {
            registrar_pidf::MessageSummary::parse(&bytes)
                .map(|s| pidf_json::summary_json(&s))
                .map_err(|e| format!("message-summary: {e}"))
        }
    });
    match (command, result) {
        (PidfCommand::Check { .. }, Ok(_)) => {
            out("ok");
            ExitCode::SUCCESS
        }
        (PidfCommand::Parse { .. }, Ok(json)) => match serde_json::to_string_pretty(&json) {
            Ok(text) => {
                out(&text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        (PidfCommand::Check { .. }, Err(e)) => {
            out(&one_line(&e));
            ExitCode::FAILURE
        }
        (PidfCommand::Parse { .. }, Err(e)) => {
            eprintln!("{}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn read(file: &PathBuf) -> Result<Vec<u8>, String> {
    if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        return Ok(buf);
    }
    std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))
}

/// Errors quote document text, which may hold line breaks: keep the message on one line.
fn one_line(message: &str) -> String {
    message.replace(['\r', '\n'], " ")
}
