//! The storage trait for publications, owned by this layer, and its in-memory implementation.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use registrar_types::{Aor, ExpiryIndex, Timestamp};

use crate::Error;
use crate::publish::Publication;
use crate::subscribe::{DialogId, Subscription};

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

/// One change to the stored subscriptions.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SubscriptionChange {
    /// The subscription's complete new record.
    Put(Subscription),
    /// The subscription ended.
    Remove(DialogId),
}

/// Where subscriptions are kept so that they outlive a restart. Memory ([`crate::Subscriptions`]) serves
/// every read; a store only records changes and hands them back once at start-up.
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Record `changes` in order; resolves once they are durable.
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), Error>;

    /// Every stored subscription (expired ones included; the caller drops those).
    async fn load(&self) -> Result<Vec<Subscription>, Error>;
}

#[async_trait]
impl<T: SubscriptionStore + ?Sized> SubscriptionStore for Arc<T> {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), Error> {
        (**self).save(changes).await
    }
    async fn load(&self) -> Result<Vec<Subscription>, Error> {
        (**self).load().await
    }
}
