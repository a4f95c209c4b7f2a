//! The storage trait for publications, owned by this layer, and its in-memory implementation.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use registrar_types::{Aor, ExpiryIndex, Timestamp};

use crate::Error;
use crate::buddies::Buddy;
use crate::publish::Publication;
use crate::subscribe::{DialogId, Subscription, WatcherDecision};

/// The function a store runs to change one presentity's publications: current set in, new complete set out
/// (`None` for no change). An error aborts with nothing changed.
pub type UpdateFn<'a> =
    dyn FnMut(&[Publication]) -> Result<Option<Arc<[Publication]>>, Error> + Send + 'a;

/// Where publications live. Same contract as the registry's `LocationStore`: `update` is atomic per
/// presentity and may run its function more than once in optimistic engines.
#[async_trait]
pub trait PresenceStore: Send + Sync {
    /// The stored publications of `aor` (possibly including expired ones).
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, Error>;

    /// Change the publications of `aor` atomically with `f`.
    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error>;

    /// Remove every publication expired at `now`; returns them with their presentity. Costs O(expired).
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Publication)>, Error>;

    /// The earliest instant something may expire.
    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error>;
}

#[async_trait]
impl<T: PresenceStore + ?Sized> PresenceStore for Arc<T> {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, Error> {
        (**self).publications(aor).await
    }
    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        (**self).update(aor, f).await
    }
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Publication)>, Error> {
        (**self).remove_expired(now).await
    }
    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        (**self).next_expiry().await
    }
}

/// Publications in memory: a sharded map of immutable per-presentity sets plus an expiry index.
#[derive(Debug, Default)]
pub struct MemoryPresenceStore {
    map: DashMap<Aor, Arc<[Publication]>>,
    expiry: ExpiryIndex<Aor>,
}

impl MemoryPresenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many presentities have publications.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no presentity has publications.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[async_trait]
impl PresenceStore for MemoryPresenceStore {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, Error> {
        Ok(self
            .map
            .get(aor)
            .map_or_else(|| Arc::from(Vec::new()), |e| Arc::clone(e.value())))
    }

    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        let file = |old: &[Publication], new: &[Publication]| {
            for p in new {
                if !old.iter().any(|o| o.expires_at == p.expires_at) {
                    self.expiry.insert(aor, p.expires_at);
                }
            }
        };
        match self.map.entry(aor.clone()) {
            Entry::Occupied(mut o) => {
                let Some(new) = f(o.get())? else {
                    return Ok(());
                };
                file(o.get(), &new);
                if new.is_empty() {
                    o.remove();
                } else {
                    *o.get_mut() = new;
                }
            }
            Entry::Vacant(v) => {
                let Some(new) = f(&[])? else {
                    return Ok(());
                };
                if !new.is_empty() {
                    file(&[], &new);
                    v.insert(new);
                }
            }
        }
        Ok(())
    }

    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Publication)>, Error> {
        let mut due = self.expiry.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut removed = Vec::new();
        for aor in due {
            let Entry::Occupied(mut o) = self.map.entry(aor) else {
                continue;
            };
            if o.get().iter().all(|p| p.is_live(now)) {
                continue;
            }
            let (live, dead): (Vec<Publication>, Vec<Publication>) =
                o.get().iter().cloned().partition(|p| p.is_live(now));
            let aor = o.key().clone();
            if live.is_empty() {
                o.remove();
            } else {
                *o.get_mut() = Arc::from(live);
            }
            removed.extend(dead.into_iter().map(|p| (aor.clone(), p)));
        }
        Ok(removed)
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        Ok(self.expiry.next())
    }
}

/// One change to what the presence server keeps for its users across restarts: subscriptions (those to a
/// presentity and those to a buddy list, RFC 4662), watcher decisions, buddy list entries and the members of
/// automatic (same-domain) lists.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SubscriptionChange {
    /// The subscription's complete new record.
    Put(Subscription),
    /// The subscription ended.
    Remove(DialogId),
    /// A buddy list subscription's complete new record (its presentity is the list's URI).
    PutList(Subscription),
    /// A buddy list subscription ended.
    RemoveList(DialogId),
    /// `presentity` decided about `watcher`.
    Rule {
        /// Whose decision.
        presentity: Aor,
        /// About whom.
        watcher: Aor,
        /// The decision.
        decision: WatcherDecision,
    },
    /// `owner`'s buddy list is now `list`, in order (empty: the list is gone).
    Buddies {
        /// Whose list.
        owner: Aor,
        /// Its entries, in the order they were added.
        list: Vec<Buddy>,
    },
    /// `user` joined its domain's automatic buddy lists.
    Joined(Aor),
}

/// Everything a [`SubscriptionStore`] keeps, as it hands it back at start-up.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct StoredPresence {
    /// Subscriptions to presentities (expired ones included; the caller drops those).
    pub subscriptions: Vec<Subscription>,
    /// Buddy list subscriptions.
    pub lists: Vec<Subscription>,
    /// Watcher decisions: (presentity, watcher, decision).
    pub rules: Vec<(Aor, Aor, WatcherDecision)>,
    /// Buddy lists: each owner's entries in the order they were added.
    pub buddies: Vec<(Aor, Vec<Buddy>)>,
    /// Users who joined their domain's automatic lists, in the order they joined.
    pub joined: Vec<Aor>,
}

/// Where the presence server keeps what must outlive a restart. Memory ([`crate::Subscriptions`],
/// [`crate::BuddyLists`], [`crate::ResourceLists`]) serves every read; a store records changes, hands
/// everything back once at start-up, and — when several nodes share it — answers for one presentity's
/// decisions or one owner's list after another node changed them.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Record `changes` in order; resolves once they are durable.
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), Error>;

    /// Everything stored.
    async fn load(&self) -> Result<StoredPresence, Error>;

    /// The decisions `presentity` made, as stored.
    async fn rules_of(&self, presentity: &Aor) -> Result<Vec<(Aor, WatcherDecision)>, Error>;

    /// `owner`'s buddy list, as stored.
    async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, Error>;
}

#[async_trait]
impl<T: SubscriptionStore + ?Sized> SubscriptionStore for Arc<T> {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), Error> {
        (**self).save(changes).await
    }
    async fn load(&self) -> Result<StoredPresence, Error> {
        (**self).load().await
    }
    async fn rules_of(&self, presentity: &Aor) -> Result<Vec<(Aor, WatcherDecision)>, Error> {
        (**self).rules_of(presentity).await
    }
    async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, Error> {
        (**self).buddies_of(owner).await
    }
}
