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
    /// A text naming this store and its state, which changes with every state change committed (audit
    /// entries do not count) and survives restarts: a directory image taken with one stamp is used only
    /// while the store still has it ([`crate::DirectoryService::open_with_image`]). `None` (the default):
    /// the store keeps no stamp, and images of it are not used.
    async fn stamp(&self) -> Result<Option<String>, Error> {
        Ok(None)
    }
}

/// One entry of a shared store's change feed: the state changes one write committed (audit entries are not
/// in the feed: every instance reads the audit log from the store), and the entry's position.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEntry {
    /// The position: strictly increasing in commit order.
    pub seq: u64,
    /// The changes, in order.
    pub changes: Vec<DirectoryChange>,
}

/// A store that several directory instances (server nodes) share, with an ordered feed of the changes
/// committed to it, so that each instance's memory follows the store ([`crate::DirectoryService::open_shared`]).
///
/// Writes are serialized by the store: [`SharedStore::begin`] takes the store's write lock (held until the
/// returned [`SharedWrite`] commits or is dropped) and hands back what other instances committed since the
/// caller's position, so the caller applies those first and decides on the newest state; the commit appends
/// one feed entry. Feed positions therefore follow commit order with no entry committed out of order.
#[async_trait]
pub trait SharedStore: Send + Sync {
    /// Everything stored, and the feed position it reflects (one consistent read).
    async fn load_at(&self) -> Result<(Snapshot, u64), Error>;
    /// The position of the newest committed entry (0: none).
    async fn head(&self) -> Result<u64, Error>;
    /// The entries committed after `after`, oldest first; `None` when some of them were pruned from the feed
    /// (the caller reloads everything with [`SharedStore::load_at`]).
    async fn changes_after(&self, after: u64) -> Result<Option<Vec<FeedEntry>>, Error>;
    /// Take the write lock and read the entries committed after `after`.
    ///
    /// # Errors
    /// [`Error::Storage`], also when entries after `after` were pruned from the feed.
    async fn begin(&self, after: u64)
    -> Result<(Box<dyn SharedWrite + '_>, Vec<FeedEntry>), Error>;
    /// Wait until an entry may have been committed (a notice from the store), at most `timeout`.
    async fn wait(&self, timeout: std::time::Duration);
    /// A text naming this store (not its state, which the feed position says): a directory image taken
    /// from one store is never used with another ([`crate::DirectoryService::open_shared_with_image`]).
    async fn origin(&self) -> Result<String, Error>;
}

/// A write under a [`SharedStore`]'s lock.
#[async_trait]
pub trait SharedWrite: Send {
    /// Store `changes` (their state changes as one feed entry, their audit entries in the log) and release
    /// the lock: the new feed position (unchanged when there was no state change).
    async fn commit(self: Box<Self>, changes: &[DirectoryChange]) -> Result<u64, Error>;
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
    /// The change feed (for instances that share this store).
    feed: Vec<FeedEntry>,
}

/// A [`DirectoryStore`] in memory (tests, memory mode). It is a [`SharedStore`] too, so that tests can run
/// several directory instances on one store in one process.
#[derive(Debug, Default)]
pub struct MemoryDirectoryStore {
    t: Mutex<Tables>,
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    notify: tokio::sync::Notify,
    /// This store's number in the process (its origin), given at first use.
    number: std::sync::OnceLock<u64>,
}

impl MemoryDirectoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn number(&self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        *self
            .number
            .get_or_init(|| NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
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

impl MemoryDirectoryStore {
    fn tables(&self) -> Result<std::sync::MutexGuard<'_, Tables>, Error> {
        self.t
            .lock()
            .map_err(|_| Error::Storage("memory store lock poisoned".into()))
    }

    /// Apply `changes`, appending their state changes to the feed; the feed's new head.
    fn write(&self, changes: &[DirectoryChange]) -> Result<u64, Error> {
        let mut t = self.tables()?;
        for c in changes {
            apply_one(&mut t, c);
        }
        let state: Vec<DirectoryChange> = changes
            .iter()
            .filter(|c| !matches!(c, DirectoryChange::Audit(_)))
            .cloned()
            .collect();
        let head = t.feed.last().map_or(0, |e| e.seq);
        if state.is_empty() {
            return Ok(head);
        }
        t.feed.push(FeedEntry {
            seq: head + 1,
            changes: state,
        });
        drop(t);
        self.notify.notify_waiters();
        Ok(head + 1)
    }

    fn snapshot(t: &Tables) -> Snapshot {
        Snapshot {
            participants: t.participants.values().cloned().collect(),
            relationships: t.relationships.values().cloned().collect(),
            topics: t.topics.values().cloned().collect(),
            ratings: t.ratings.values().cloned().collect(),
            priorities: t.priorities.values().cloned().collect(),
            contacts: t.contacts.values().cloned().collect(),
        }
    }
}

struct MemoryWrite<'a> {
    store: &'a MemoryDirectoryStore,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

#[async_trait]
impl SharedWrite for MemoryWrite<'_> {
    async fn commit(self: Box<Self>, changes: &[DirectoryChange]) -> Result<u64, Error> {
        self.store.write(changes)
    }
}

#[async_trait]
impl SharedStore for MemoryDirectoryStore {
    async fn load_at(&self) -> Result<(Snapshot, u64), Error> {
        let t = self.tables()?;
        Ok((Self::snapshot(&t), t.feed.last().map_or(0, |e| e.seq)))
    }

    async fn head(&self) -> Result<u64, Error> {
        Ok(self.tables()?.feed.last().map_or(0, |e| e.seq))
    }

    async fn changes_after(&self, after: u64) -> Result<Option<Vec<FeedEntry>>, Error> {
        let t = self.tables()?;
        let from = t.feed.partition_point(|e| e.seq <= after);
        Ok(Some(t.feed[from..].to_vec()))
    }

    async fn begin(
        &self,
        after: u64,
    ) -> Result<(Box<dyn SharedWrite + '_>, Vec<FeedEntry>), Error> {
        let lock = std::sync::Arc::clone(&self.writer).lock_owned().await;
        let pending = self.changes_after(after).await?.unwrap_or_default();
        Ok((
            Box::new(MemoryWrite {
                store: self,
                _lock: lock,
            }),
            pending,
        ))
    }

    async fn wait(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }

    async fn origin(&self) -> Result<String, Error> {
        Ok(format!("memory:{}:{}", std::process::id(), self.number()))
    }
}

#[async_trait]
impl DirectoryStore for MemoryDirectoryStore {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), Error> {
        let _lock = self.writer.lock().await;
        self.write(changes).map(|_| ())
    }

    async fn load(&self) -> Result<Snapshot, Error> {
        Ok(Self::snapshot(&*self.tables()?))
    }

    async fn audit_of(
        &self,
        subject: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let t = self.tables()?;
        let want = AuditParty::Participant(subject.clone());
        Ok(t.audit
            .iter()
            .rev()
            .filter(|e| e.subject == want)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn stamp(&self) -> Result<Option<String>, Error> {
        let head = self.tables()?.feed.last().map_or(0, |e| e.seq);
        Ok(Some(format!(
            "memory:{}:{}:{head}",
            std::process::id(),
            self.number()
        )))
    }
}
