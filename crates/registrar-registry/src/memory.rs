//! The in-memory location store: a sharded concurrent map plus a sharded expiry index.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use registrar_types::{Aor, Binding, ExpiryIndex, Timestamp};

use crate::store::{LocationStore, UpdateFn};
use crate::{Bindings, Error};

/// Bindings in memory, for tests, embedding, and as the read cache of the durable engines.
///
/// Lookups take a read lock on one shard of the map and clone one `Arc`: they never wait for writers to other
/// AoRs and never copy bindings. Each AoR's set is an immutable sorted slice replaced whole on change, so a
/// reader sees a REGISTER's contacts all or none.
///
/// Expiry: every new expiry instant is filed under its second in a sharded ordered index. A sweep takes the
/// due seconds and checks only the AoRs filed there, so it costs O(entries due) — never a scan of all users.
/// A refreshed binding leaves its old entry behind; the sweep finds nothing to do for it and drops it.
#[derive(Debug)]
pub struct MemoryLocationStore {
    map: DashMap<Aor, Arc<[Binding]>>,
    expiry: ExpiryIndex<Aor>,
    gruus: DashMap<u64, Aor>,
}

impl Default for MemoryLocationStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryLocationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            map: DashMap::new(),
            expiry: ExpiryIndex::new(),
            gruus: DashMap::new(),
        }
    }

    /// An empty store with room for `capacity` AoRs.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            map: DashMap::with_capacity(capacity),
            expiry: ExpiryIndex::new(),
            gruus: DashMap::new(),
        }
    }

    /// The live bindings of `aor` at `now`, without going through the async trait.
    pub fn lookup(&self, aor: &Aor, now: Timestamp) -> Bindings {
        Bindings::new(self.stored(aor), now)
    }

    /// The stored bindings of `aor`, expired ones included.
    pub fn stored(&self, aor: &Aor) -> Arc<[Binding]> {
        self.map
            .get(aor)
            .map_or_else(|| Arc::from(Vec::new()), |e| Arc::clone(e.value()))
    }

    /// Change `aor` with `f` under its shard's write lock.
    ///
    /// # Errors
    /// Whatever `f` returns; nothing is changed then.
    pub fn update_sync(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        match self.map.entry(aor.clone()) {
            Entry::Occupied(mut o) => {
                let Some(new) = f(o.get())? else {
                    return Ok(());
                };
                self.reindex(aor, o.get(), &new);
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
                    self.reindex(aor, &[], &new);
                    v.insert(new);
                }
            }
        }
        Ok(())
    }

    /// Remove what expired at `now`, synchronously.
    pub fn remove_expired_sync(&self, now: Timestamp) -> Vec<(Aor, Binding)> {
        let mut due = self.expiry.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut removed = Vec::new();
        for aor in due {
            let Entry::Occupied(mut o) = self.map.entry(aor) else {
                continue;
            };
            if o.get().iter().all(|b| b.is_live(now)) {
                continue;
            }
            let (live, dead): (Vec<Binding>, Vec<Binding>) =
                o.get().iter().cloned().partition(|b| b.is_live(now));
            let new: Arc<[Binding]> = Arc::from(live);
            self.drop_gruus(o.get(), &new);
            let aor = o.key().clone();
            if new.is_empty() {
                o.remove();
            } else {
                *o.get_mut() = new;
            }
            removed.extend(dead.into_iter().map(|b| (aor.clone(), b)));
        }
        removed
    }

    /// Up to `limit` stored AoRs after `after`, ascending. One pass over the map, keeping only the `limit`
    /// smallest candidates: O(n log limit) without sorting every key.
    pub fn aors_sync(&self, after: Option<&Aor>, limit: usize) -> Vec<Aor> {
        if limit == 0 {
            return Vec::new();
        }
        let mut best: std::collections::BinaryHeap<Aor> = std::collections::BinaryHeap::new();
        for e in self.map.iter() {
            let k = e.key();
            if after.is_some_and(|a| k <= a) {
                continue;
            }
            if best.len() < limit {
                best.push(k.clone());
            } else if best.peek().is_some_and(|top| k < top) {
                best.pop();
                best.push(k.clone());
            }
        }
        best.into_sorted_vec()
    }

    /// Number of AoRs with bindings.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no AoR has bindings.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// File new expiry instants and keep the GRUU index in step with a change from `old` to `new`.
    fn reindex(&self, aor: &Aor, old: &[Binding], new: &[Binding]) {
        for b in new {
            // An instant already filed for this AoR already triggers a check at that time.
            if !old.iter().any(|o| o.expires_at == b.expires_at) {
                self.expiry.insert(aor, b.expires_at);
            }
            if let Some(t) = b.temp_gruu
                && !old
                    .iter()
                    .any(|o| o.temp_gruu.map(|x| x.key) == Some(t.key))
            {
                self.gruus.insert(t.key, aor.clone());
            }
        }
        self.drop_gruus(old, new);
    }

    fn drop_gruus(&self, old: &[Binding], new: &[Binding]) {
        for o in old {
            if let Some(t) = o.temp_gruu
                && !new
                    .iter()
                    .any(|b| b.temp_gruu.map(|x| x.key) == Some(t.key))
            {
                self.gruus.remove(&t.key);
            }
        }
    }
}

#[async_trait]
impl LocationStore for MemoryLocationStore {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, Error> {
        Ok(self.stored(aor))
    }

    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        self.update_sync(aor, f)
    }

    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, Error> {
        Ok(self.remove_expired_sync(now))
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        Ok(self.expiry.next())
    }

    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, Error> {
        Ok(self.gruus.get(&key).map(|e| e.value().clone()))
    }

    async fn aor_count(&self) -> Result<usize, Error> {
        Ok(self.map.len())
    }

    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, Error> {
        Ok(self.aors_sync(after, limit))
    }
}
