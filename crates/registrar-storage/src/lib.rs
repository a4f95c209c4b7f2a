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
//! node's presence cache and watchers stay current. See the `registrar::redis` module's documentation for the
//! layout.
//!
//! The participant directory (`registrar-directory`): [`EmbeddedDirectoryStore`] keeps its records and audit
//! log in two more tables of the same data file, each change list one log frame (an erasure is all
//! or nothing); [`PostgresDirectoryStore`] keeps them in PostgreSQL for shared mode (migrations embedded,
//! run at connect; the audit table is append-only but for erasures, enforced by a trigger); with the
//! `tantivy` feature, `TantivySearchIndex` is a search index on tantivy.
//!
//! [`EmbeddedSubscriptionStore`] and [`SharedSubscriptionStore`] also keep what users set about presence:
//! watcher decisions, buddy lists and buddy list (RFC 4662) subscriptions.
//!
//! Each engine is behind a cargo feature, so a program that embeds one layer compiles only its engine:
//! `embedded` (redb and the write-ahead log), `redis` (shared mode), `postgres` (the directory's shared
//! store), `tantivy` (the directory's tantivy index). The first three are default features. The folders show
//! the domain (`registrar/`, `directory/`) and the engine of each store.
//!
//! Not here: Sentinel discovery; TLS to PostgreSQL (loopback or a private network only).

#[cfg(any(feature = "embedded", feature = "redis"))]
mod codec;
mod directory;
mod error;
#[cfg(feature = "embedded")]
mod journal;
mod registrar;

#[cfg(feature = "embedded")]
pub use directory::embedded::EmbeddedDirectoryStore;
#[cfg(feature = "postgres")]
pub use directory::postgres::{FEED_CHANNEL, FEED_RETENTION_SECS, PostgresDirectoryStore};
#[cfg(feature = "tantivy")]
pub use directory::tantivy::TantivySearchIndex;
pub use error::Error;
#[cfg(feature = "embedded")]
pub use journal::{FORMAT_VERSION, Journal, JournalStats, format_version, set_format_version};
#[cfg(feature = "embedded")]
pub use registrar::embedded::location::{EmbeddedLocationStore, LoadReport};
#[cfg(feature = "embedded")]
pub use registrar::embedded::presence::EmbeddedPresenceStore;
#[cfg(feature = "embedded")]
pub use registrar::embedded::subscriptions::EmbeddedSubscriptionStore;
#[cfg(feature = "redis")]
pub use registrar::redis::{
    Change, Redis, SharedLocationStore, SharedPresenceStore, SharedSubscriptionStore,
};
