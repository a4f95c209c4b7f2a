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
//! - Subscriptions to `presence` (RFC 6665, RFC 3856): [`plan_subscribe`] and [`Subscriptions`] — initial
//!   SUBSCRIBE (200 active, 202 pending), refresh, unsubscribe with a final `terminated` NOTIFY, 481 for a
//!   refresh of a gone subscription, 423, 489, a per-watcher limit; expiry ends subscriptions with
//!   `terminated;reason=timeout`. Every operation returns [`NotifyIntent`]s carrying the body (shared), the
//!   `Subscription-State` and the dialog's next CSeq.
//! - Watcher authorization: per-presentity rules (allow, block, polite-block — the watcher sees `closed` —,
//!   confirm — the subscription stays pending) with a default policy (allow the same domain, confirm others);
//!   a later decision activates or ends pending subscriptions and notifies.
//!
//! - Rate control: changes faster than a minimum interval are coalesced per subscription, newest state wins.
//! - Watcher information (RFC 3857/3858): `presence.winfo` for the presentity itself, full then partial.
//! - Registration state (RFC 3680): `reg` subscriptions fed with bindings by the service layer.
//!
//! - Buddy lists: add, remove, list (display names, groups), automatic same-domain lists, and the presence of a
//!   whole list in one call as each buddy's watcher rules allow.
//!
//! - Resource lists (RFC 4662): [`ResourceLists`] — a SUBSCRIBE with `Supported: eventlist` to a buddy list's
//!   URI ([`BuddyLists::list_uri`]) watches every buddy through one subscription: `multipart/related`
//!   NOTIFYs with RLMI plus one PIDF per visible buddy, full state first, then only what changed; 421 without
//!   eventlist support.
//!
//! - [`SubscriptionStore`], owned here: where subscriptions are kept across restarts (the storage crate
//!   implements it); [`Subscriptions::restore`] and [`Subscriptions::resume`] take them back and tell their
//!   watchers the current state.
//!
//! Not here: storage of watcher rules and buddy lists across restarts; back-end subscriptions to other servers' presentities (every buddy is served here).
//!
//! It performs no network or disk IO and never reads the clock.

mod buddies;
mod error;
mod event;
mod policy;
mod publish;
mod rls;
mod server;
mod store;
mod subscribe;
mod watchers;

pub use buddies::{Buddy, BuddyLists, BuddyPresence, DEFAULT_LIST_SUFFIX};
pub use error::Error;
pub use event::EventPackage;
pub use policy::PresencePolicy;
pub use publish::{
    DIALOG_VERSION_SLOT, Origin, Publication, PublishKind, PublishOutcome, PublishPlan,
    PublishRequest, Published, compose_dialogs, compose_publications, compose_summary,
    plan_publish,
};
pub use rls::{DocumentOf, ListContext, ListSubscription, MAX_ADHOC_RESOURCES, ResourceLists};
pub use server::{
    CallStateResult, ComposedPresence, EventBody, ExpiredPresence, Presences, PublishResult,
};
pub use store::{MemoryPresenceStore, PresenceStore, UpdateFn};
pub use store::{StoredPresence, SubscriptionChange, SubscriptionStore};
pub use subscribe::{
    DefaultWatcherPolicy, DialogId, NotifyIntent, Reason, SubState, SubscribeOutcome,
    SubscribeRequest, Subscription, SubscriptionPolicy, SubscriptionStateHeader, WatcherDecision,
    closed_document, plan_subscribe,
};
pub use watchers::{RESUME_GAP, Subscriptions};
