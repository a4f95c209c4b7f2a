//! Durable engines for the registrar's store traits.
//!
//! Embedded mode (the server's default): [`EmbeddedLocationStore`] and [`EmbeddedPresenceStore`] keep
//! everything in memory, so reads never touch the disk, and write every change through to one redb file
//! ([`Journal`]) before the change is acknowledged. One writer thread commits queued changes in groups: many
//! concurrent REGISTERs share one fsync. On start, [`EmbeddedLocationStore::load`] and
//! [`EmbeddedPresenceStore::load`] bring the state back, dropping what expired while the server was down.
//! The file records its format version ([`FORMAT_VERSION`]); a newer binary migrates an older file, and an
//! unknown newer file is refused before anything is written.
//!
//! [`EmbeddedSubscriptionStore`] keeps subscriptions (with the SIP layer's route of each dialog) in the same
//! file, so a restart resumes them.
//!
//! Shared mode (several nodes): [`SharedLocationStore`], [`SharedPresenceStore`] and
//! [`SharedSubscriptionStore`] keep everything in Redis ([`Redis`]) with atomic per-AoR updates
//! (compare-and-set scripts), expiry indexes any node sweeps, and change notices ([`Redis::listen`]) so each
//! node's presence cache and watchers stay current. See the `shared` module's documentation for the layout.
//!
//! The participant directory (`registrar-directory`): [`EmbeddedDirectoryStore`] keeps its records and audit
//! log in two more tables of the same data file (format 3), each change list one log frame (an erasure is all
//! or nothing); [`PostgresDirectoryStore`] keeps them in PostgreSQL for shared mode (migrations embedded,
//! run at connect; the audit table is append-only but for erasures, enforced by a trigger); with the
//! `tantivy` feature, `TantivySearchIndex` is a search index on tantivy.
//!
//! Not here: watcher rules, buddy lists and buddy list (RFC 4662) subscriptions are not persisted (a
//! watcher whose list subscription is gone gets a 481 on its next refresh and subscribes again); Sentinel
//! discovery; TLS to PostgreSQL (loopback or a private network only).

mod codec;
mod directory;
mod error;
mod journal;
mod location;
mod postgres;
mod presence;
mod shared;
mod subscriptions;
#[cfg(feature = "tantivy")]
mod tantivy_index;

pub use directory::EmbeddedDirectoryStore;
pub use error::Error;
pub use journal::{FORMAT_VERSION, Journal, JournalStats, format_version, set_format_version};
pub use location::{EmbeddedLocationStore, LoadReport};
pub use postgres::{FEED_CHANNEL, FEED_RETENTION_SECS, PostgresDirectoryStore};
pub use presence::EmbeddedPresenceStore;
pub use shared::{
    Change, Redis, SharedLocationStore, SharedPresenceStore, SharedSubscriptionStore,
};
pub use subscriptions::EmbeddedSubscriptionStore;
#[cfg(feature = "tantivy")]
pub use tantivy_index::TantivySearchIndex;
