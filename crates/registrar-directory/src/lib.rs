//! The participant directory: who a participant is, and whether the person asking may find and reach them.
//!
//! What it does: participants with several identity contexts, discovery permissions (public, unlisted,
//! private, stealth; searchable fields; what each audience sees; block and auto-accept lists; minimum trust),
//! organization context with access levels and cross-organization policy, relationships, topic
//! subscriptions and trust ratings ([`model`]); the privacy rules in one place ([`privacy`]); typo-tolerant
//! search over searchable fields only ([`search`]); network proximity by bidirectional breadth-first search
//! and a composite trust score ([`graph`]); contact resolution that ranks candidates and says why, with their
//! permission, trust, proximity and availability ([`Directory::resolve`]). Sans-IO: changes come back as
//! [`DirectoryChange`]s for a [`DirectoryStore`]; availability comes from the caller.
//!
//! What it does not do (yet): the priority engine, the audit log, data export and erasure, fair spreading
//! of experts, the durable stores (redb, PostgreSQL), a tantivy index, the HTTP API and federation. See the
//! crate README.

pub mod audit;
mod directory;
mod error;
pub mod graph;
pub mod model;
pub mod priority;
pub mod privacy;
pub mod search;
mod store;

pub use directory::{
    Availability, Candidate, Directory, DirectoryChange, ExpertQuery, Export, Hints, Query, Reach,
    Resolution, Urgency, ranking,
};
pub use error::Error;
pub use model::{Participant, ParticipantId};
pub use search::{MemorySearchIndex, SearchIndex};
pub use store::{DirectoryStore, MEMORY_AUDIT_CAP, MemoryDirectoryStore, Snapshot};
