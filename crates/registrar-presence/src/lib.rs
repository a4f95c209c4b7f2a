//! The presence server's rules, sans-IO: `now` comes in, outcomes come out.
//!
//! What it does today:
//! - Publications (RFC 3903): [`plan_publish`] applies one PUBLISH — initial (body required, new entity-tag),
//!   refresh (`SIP-If-Match`, no body, new entity-tag and expiry), modify (`SIP-If-Match` and a body), remove
//!   (`Expires: 0`) — with 412 for an unknown or expired entity-tag, 423 below the minimum expiry, 489 for a
//!   package other than `presence`, 415 for a body other than `application/pidf+xml`, 400 for an invalid one.
//!   Entity-tags are 128 random bits: unguessable, and unique across restarts without state.
//! - Composition: all live publications of a presentity are merged by [`registrar_pidf::compose`] into one
//!   document, recomputed once per change (or expiry) and cached with its XML, never rebuilt per reader
//!   ([`Presences::presence`]). Presence set through the API ([`Presences::update_presence`]) takes the same
//!   path as a PUBLISH.
//! - [`PresenceStore`], owned here, with [`MemoryPresenceStore`]; expiry sweeps cost O(expired).
//!
//! Not yet: subscriptions (RFC 6665/3856), watcher authorization and watcher information (RFC 3857/3858),
//! registration-state subscriptions (RFC 3680), buddy and resource lists (RFC 4662).
//!
//! It performs no network or disk IO and never reads the clock.

mod error;
mod event;
mod policy;
mod publish;
mod server;
mod store;

pub use error::Error;
pub use event::EventPackage;
pub use policy::PresencePolicy;
pub use publish::{
    Origin, Publication, PublishKind, PublishOutcome, PublishPlan, PublishRequest,
    compose_publications, plan_publish,
};
pub use server::{ComposedPresence, Presences, PublishResult};
pub use store::{MemoryPresenceStore, PresenceStore, UpdateFn};
