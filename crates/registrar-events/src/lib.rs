//! What changes in a registrar, as a stream of events.
//!
//! - [`RegistrarEvent`]: registrations added, refreshed, updated, removed and expired (per binding); presence
//!   published, expired and changed (per presentity); subscriptions created, activated, refreshed and
//!   terminated; watcher decisions; buddy list changes.
//! - [`EventBus`]: publish one event or the batch of one operation, subscribe with an [`EventFilter`] (by kind,
//!   by address). Every event gets a sequence number, increasing by one across the bus, and a timestamp, so a
//!   consumer detects gaps and orders events.
//! - [`InProcessBus`]: the bus on a tokio broadcast channel. Publishing never waits: a slow subscriber cannot
//!   hold up the registrar. A subscriber that falls too far behind receives [`Delivery::Lagged`] with the number
//!   of events it missed, then the following events; nothing is dropped silently.
//!
//! - `infra` (cargo feature `infra-common`): a bridge that republishes bus events on rvoip's
//!   `infra-common` `GlobalEventCoordinator`, where session-core consumes them.
//!
//! Not here: events across processes (the storage layer's Redis pub/sub carries changes between nodes) and
//! persistence of events (a consumer that must not miss any stores what it receives).

mod bus;
mod event;
#[cfg(feature = "infra-common")]
pub mod infra;

pub use bus::{Batch, Delivery, EventBus, EventStream, InProcessBus};
pub use event::{BuddyChange, Envelope, EventFilter, EventKind, RegistrarEvent, SubscriptionRef};
