//! The `registrar` server as a library: the binary (`src/main.rs`) only calls [`run`], and tests call the
//! library rather than copying from it.
//!
//! Its parts:
//! - `runtime` — `registrar serve`: the SIP transports (UDP, TCP) around the sans-IO endpoint of
//!   `registrar-sip`, the stores of the configured storage mode, the HTTP listener, and shutdown;
//! - `admin` — the admin HTTP API (health, metrics, registrations, presence, subscriptions, buddy lists,
//!   watcher decisions) and the OpenAPI document;
//! - `directory` — the participant directory's network side: its HTTP API, bearer tokens, federation
//!   between directory servers (signed lookups), DNS and OpenID Connect identity proofs;
//! - `cli` — the command line (`serve`, `ctl`, `ha1`, `token`, `keygen`, `pidf`, `openapi`);
//! - `config` — the TOML configuration, every key with its default (docs/operations.md).

mod admin;
mod cli;
mod config;
mod directory;
mod runtime;
mod tls;

use std::sync::Arc;

use registrar_presence::PresenceStore;
use registrar_registry::LocationStore;
use registrar_sip::Endpoint;

pub use cli::run;

/// The endpoint type the server runs. The stores are chosen at start-up (`[storage] mode`), so the endpoint
/// holds them as trait objects. Shared by the runtime, the admin API and the directory API, none of which
/// owns it.
pub(crate) type Ep = Endpoint<Arc<dyn LocationStore>, Arc<dyn PresenceStore>>;
