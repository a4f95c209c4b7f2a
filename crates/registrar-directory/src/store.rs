//! Where the directory's data lives: [`DirectoryStore`], owned by this layer, implemented in memory here and
//! durably in `registrar-storage`. The [`Directory`](crate::Directory) keeps everything in memory and hands
//! each change to the store ([`DirectoryChange`]); on start it is rebuilt from [`DirectoryStore::load`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::Error;
use crate::audit::{AuditEntry, AuditParty};
use crate::directory::DirectoryChange;
use crate::model::{Participant, ParticipantId, Relationship, TopicSubscription, TrustRating};
use crate::priority::PrioritySettings;

/// Everything a store holds, for loading.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Participants.
    pub participants: Vec<Participant>,
    /// Relationships.
    pub relationships: Vec<Relationship>,
    /// Topic subscriptions.
    pub topics: Vec<TopicSubscription>,
    /// Ratings.
    pub ratings: Vec<TrustRating>,
    /// Priority settings.
    pub priorities: Vec<PrioritySettings>,
    /// Contact requests.
    pub contacts: Vec<crate::contact::ContactRequest>,
}

/// Durable storage of the directory.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    /// Make `changes` durable, in order, atomically (all or none).
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), Error>;
    /// Everything stored but the audit log.
    async fn load(&self) -> Result<Snapshot, Error>;
    /// The audit log's entries about `subject` ("who looked me up"), newest first, at most `limit`.
    async fn audit_of(
        &self,
        subject: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error>;
}

/// The most audit entries [`MemoryDirectoryStore`] keeps (the oldest go first): memory mode keeps nothing
/// across restarts anyway, and must not grow without bound.
pub const MEMORY_AUDIT_CAP: usize = 1_000_000;

#[derive(Debug, Default)]
struct Tables {
    participants: HashMap<ParticipantId, Participant>,
    relationships: HashMap<(ParticipantId, ParticipantId), Relationship>,
    topics: HashMap<(ParticipantId, String), TopicSubscription>,
    ratings: HashMap<(ParticipantId, ParticipantId, crate::model::TrustCategory), TrustRating>,
    priorities: HashMap<ParticipantId, PrioritySettings>,
    contacts: HashMap<u64, crate::contact::ContactRequest>,
    audit: VecDeque<AuditEntry>,
}

/// A [`DirectoryStore`] in memory (tests, memory mode).
#[derive(Debug, Default)]
pub struct MemoryDirectoryStore {
    t: Mutex<Tables>,
}

impl MemoryDirectoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Apply one change to plain maps (shared by the stores that keep maps).
fn apply_one(t: &mut Tables, c: &DirectoryChange) {
    match c {
        DirectoryChange::PutParticipant(p) => {
            t.participants.insert(p.id.clone(), (**p).clone());
        }
        DirectoryChange::EraseParticipant(id) => {
            t.participants.remove(id);
            t.relationships.retain(|(a, b), _| a != id && b != id);
            t.topics.retain(|(p, _), _| p != id);
            t.ratings.retain(|(a, b, _), _| a != id && b != id);
            t.priorities.remove(id);
            t.contacts.retain(|_, c| &c.from != id && &c.to != id);
            let audit = std::mem::take(&mut t.audit);
            t.audit = audit
                .into_iter()
                .filter_map(|e| e.after_erasure(id))
                .collect();
        }
        DirectoryChange::PutRelationship(r) => {
            t.relationships
                .insert((r.from.clone(), r.to.clone()), r.clone());
        }
        DirectoryChange::RemoveRelationship(a, b) => {
            t.relationships.remove(&(a.clone(), b.clone()));
        }
        DirectoryChange::PutTopic(s) => {
            t.topics
                .insert((s.participant.clone(), s.topic.clone()), s.clone());
        }
        DirectoryChange::PutRating(r) => {
            t.ratings
                .insert((r.rater.clone(), r.ratee.clone(), r.category), r.clone());
        }
        DirectoryChange::PutPriority(p) => {
            t.priorities.insert(p.participant.clone(), p.clone());
        }
        DirectoryChange::PutContact(c) => {
            t.contacts.insert(c.id, c.clone());
        }
        DirectoryChange::Audit(e) => {
            if t.audit.len() >= MEMORY_AUDIT_CAP {
                t.audit.pop_front();
            }
            t.audit.push_back(e.clone());
        }
    }
}

#[async_trait]
impl DirectoryStore for MemoryDirectoryStore {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), Error> {
        let mut t = self
            .t
            .lock()
            .map_err(|_| Error::Storage("memory store lock poisoned".into()))?;
        for c in changes {
            apply_one(&mut t, c);
        }
        Ok(())
    }

    async fn load(&self) -> Result<Snapshot, Error> {
        let t = self
            .t
            .lock()
            .map_err(|_| Error::Storage("memory store lock poisoned".into()))?;
        Ok(Snapshot {
            participants: t.participants.values().cloned().collect(),
            relationships: t.relationships.values().cloned().collect(),
            topics: t.topics.values().cloned().collect(),
            ratings: t.ratings.values().cloned().collect(),
            priorities: t.priorities.values().cloned().collect(),
            contacts: t.contacts.values().cloned().collect(),
        })
    }

    async fn audit_of(
        &self,
        subject: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let t = self
            .t
            .lock()
            .map_err(|_| Error::Storage("memory store lock poisoned".into()))?;
        let want = AuditParty::Participant(subject.clone());
        Ok(t.audit
            .iter()
            .rev()
            .filter(|e| e.subject == want)
            .take(limit)
            .cloned()
            .collect())
    }
}
