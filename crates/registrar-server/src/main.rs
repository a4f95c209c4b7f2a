//! `registrar`: the command-line entry point.
//!
//! Today it offers `registrar pidf check FILE` and `registrar pidf parse FILE` for presence documents; the
//! SIP server (`registrar serve`) and the admin client (`registrar ctl`) come with the server release.

mod pidf_json;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use registrar_pidf::Document;

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
    /// Presence documents: PIDF, watcherinfo, reginfo, RLMI.
    Pidf {
        #[command(subcommand)]
        command: PidfCommand,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Pidf { command } => pidf(&command),
    }
}

/// Print a line on standard output. A reader that went away (`registrar … | head`) is not an error.
fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

fn pidf(command: &PidfCommand) -> ExitCode {
    let (PidfCommand::Check { file } | PidfCommand::Parse { file }) = command;
    let result = read(file).and_then(|bytes| Document::parse(&bytes).map_err(|e| e.to_string()));
    match (command, result) {
        (PidfCommand::Check { .. }, Ok(_)) => {
            out("ok");
            ExitCode::SUCCESS
        }
        (PidfCommand::Parse { .. }, Ok(doc)) => {
            let json = pidf_json::to_json(&doc);
            match serde_json::to_string_pretty(&json) {
                Ok(text) => {
                    out(&text);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
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
