//! `RegistrarService`: the registry, presence server, buddy lists and events composed into the API a SIP stack
//! calls.
//!
//! - [`RegistrarService::builder`]: stores (memory by default; any `LocationStore` / `PresenceStore`),
//!   policies, clock, [`registrar_events::EventBus`], [`Notifier`] (where NOTIFYs leave), and [`Mode`]: P2P or
//!   B2BUA (automatic buddy lists on by default).
//! - Async API: `register`, `unregister`, `lookup`, `lookup_many`, `registered_users` (paged), `publish`,
//!   `update_presence`, `presence` (the cached composed PIDF), `presence_many`, `subscribe` (presence, winfo,
//!   reg, and buddy lists as RFC 4662 resource lists), `unsubscribe`, `authorize_watcher`, buddy list
//!   operations, `watchers_of`, `watching`.
//! - Every change emits its events as one batch and hands its NOTIFYs to the notifier.
//! - Background expiry: [`RegistrarService::start`] runs a task that sleeps until the earliest deadline of
//!   the expiry indexes (registrations, publications, subscriptions, held-back NOTIFYs), not a fixed poll;
//!   [`RegistrarService::shutdown`] stops it after the sweep in progress. [`RegistrarService::run_due`] does
//!   one sweep on demand (tests on a manual clock).
//!
//! - Call state: [`RegistrarService::report_call`] takes what the SIP stack says of a user's calls (RFC 4235
//!   dialog state for BLF watchers, RPID on-the-phone in presence); with the `infra-common` feature,
//!   `bridge::CallStateBridge` feeds it from rvoip's event coordinator. Message waiting without SIP:
//!   [`RegistrarService::set_message_summary`].
//!
//! - Push notifications (RFC 8599), with a [`push::PushSender`] given to the builder: REGISTERs' push
//!   parameters checked ([`RegistrarService::check_push_params`], 555/400) and answered with `Feature-Caps`
//!   ([`RegistrarService::push_feature_caps`]); [`RegistrarService::reach`] wakes sleeping devices before a
//!   request is forked; devices that cannot refresh by themselves are pushed before their bindings expire.
//!
//! Not here: SIP parsing and transactions (the SIP adapter), durable storage (the storage crate provides
//! stores), HTTP.

#[cfg(feature = "infra-common")]
pub mod bridge;
mod error;
mod notifier;
pub mod push;
mod service;

pub use error::Error;
pub use notifier::{ChannelNotifier, NoNotifier, Notifier};
pub use service::{CallReport, Mode, RegistrarService, ServiceBuilder, UsersPage};
