//! The participant directory: who a participant is, and whether the person asking may find and reach them.
//!
//! What it does: participants with several identity contexts, discovery permissions (public, unlisted,
//! private, stealth; searchable fields; what each audience sees; block and auto-accept lists; minimum trust),
//! organization context with access levels and cross-organization policy, relationships, topic
//! subscriptions and trust ratings ([`model`]); the privacy rules in one place ([`privacy`]); typo-tolerant
//! search over searchable fields only ([`search`]); a maximum for every stored text and list ([`limits`]); network proximity by bidirectional breadth-first search
//! and a composite trust score ([`graph`]); contact resolution that ranks candidates and says why, with their
//! permission, trust, proximity and availability ([`Directory::resolve`]); expert discovery filtered by
//! presence, organization and region and routed fairly ([`Directory::find_experts`],
//! [`Directory::route_expert`]); the priority engine and per-participant queues ([`priority`]); the audit
//! log ([`audit`]); data export and erasure ([`Directory::export`], [`Directory::erase`]). Sans-IO: changes
//! and audit entries come back as [`DirectoryChange`]s for a [`DirectoryStore`]; availability comes from the
//! caller; time is an argument. [`DirectoryService`] shares the directory with its store between tasks: every
//! answer's audit entries and every change are stored before the answer returns (fail-stop on a failed change).
//!
//! What it does not do: storage engines other than memory (the embedded and PostgreSQL stores and the
//! tantivy index are in `registrar-storage`), and the network: the HTTP API, request signing and the fan-out
//! to peer servers are in `registrar-server`; this crate holds federation's protocol types and trust rules
//! ([`federation`]). See the crate README.

pub mod audit;
pub mod contact;
mod directory;
mod error;
pub mod federation;
pub mod graph;
pub mod limits;
pub mod model;
pub mod priority;
pub mod privacy;
pub mod search;
mod service;
mod store;

pub use directory::{
    Availability, Candidate, Directory, DirectoryChange, ExpertQuery, Export, Gathered, Hints,
    ImageHeader, Query, Reach, Resolution, Urgency, image_header, ranking,
};
pub use error::Error;
pub use model::{Participant, ParticipantId};
pub use search::{MemorySearchIndex, SearchIndex};
pub use service::{DirectoryService, ImageUse, IndexFactory, Presence};
pub use store::{
    DirectoryStore, FeedEntry, MEMORY_AUDIT_CAP, MemoryDirectoryStore, SharedStore, SharedWrite,
    Snapshot,
};
