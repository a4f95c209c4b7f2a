//! The in-memory location store: a sharded concurrent map plus a sharded expiry index.

use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use registrar_types::{Aor, Binding, ExpiryIndex, Timestamp};

use crate::store::{LocationStore, UpdateFn};
use crate::table::{AorTable, Change};
use crate::{Bindings, Error};

/// Bindings in memory, for tests, embedding, and as the read cache of the durable engines.
///
/// Lookups take a read lock on one shard of the map and clone one `Arc`: they never wait for writers to other
/// AoRs and never copy bindings. The map is laid out so that a lookup among millions of AoRs waits for two
/// cache misses rather than four (see the `table` module). Each AoR's set is an immutable sorted slice
/// replaced whole on change, so a reader sees a REGISTER's contacts all or none.
///
/// Expiry: every new expiry instant is filed under its second in a sharded ordered index. A sweep takes the
/// due seconds and checks only the AoRs filed there, so it costs O(entries due) — never a scan of all users.
/// A refreshed binding leaves its old entry behind; the sweep finds nothing to do for it and drops it.
#[derive(Debug)]
pub struct MemoryLocationStore {
    map: AorTable,
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
            map: AorTable::with_capacity(0),
            expiry: ExpiryIndex::new(),
            gruus: DashMap::new(),
        }
    }

    /// An empty store with room for `capacity` AoRs.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            map: AorTable::with_capacity(capacity),
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
        thread_local! {
            // An AoR without bindings answers with this thread's empty set: no allocation per miss, and no
            // reference count shared by every core.
            static EMPTY: Arc<[Binding]> = Arc::from(Vec::new());
        }
        self.map.get(aor).unwrap_or_else(|| EMPTY.with(Arc::clone))
    }

    /// Change `aor` with `f` under its shard's write lock.
    ///
    /// # Errors
    /// Whatever `f` returns; nothing is changed then.
    pub fn update_sync(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        self.map.update(aor, |old| {
            let Some(new) = f(old)? else {
                return Ok(Change::Keep);
            };
            self.reindex(aor, old, &new);
            Ok(Change::Set(new))
        })
    }

    /// Remove what expired at `now`, synchronously.
    pub fn remove_expired_sync(&self, now: Timestamp) -> Vec<(Aor, Binding)> {
        let mut due = self.expiry.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut removed = Vec::new();
        for aor in due {
            let _ = self.map.update::<std::convert::Infallible>(&aor, |old| {
                if old.iter().all(|b| b.is_live(now)) {
                    return Ok(Change::Keep);
                }
                let (live, dead): (Vec<Binding>, Vec<Binding>) =
                    old.iter().cloned().partition(|b| b.is_live(now));
                let new: Arc<[Binding]> = Arc::from(live);
                self.drop_gruus(old, &new);
                removed.extend(dead.into_iter().map(|b| (aor.clone(), b)));
                Ok(Change::Set(new))
            });
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
        self.map.for_each_key(|k| {
            if after.is_some_and(|a| k <= a) {
                return;
            }
            if best.len() < limit {
                best.push(k.clone());
            } else if best.peek().is_some_and(|top| k < top) {
                best.pop();
                best.push(k.clone());
            }
        });
        best.into_sorted_vec()
    }

    /// Number of AoRs with bindings.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no AoR has bindings.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
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

    fn bindings_in_memory(&self, aor: &Aor) -> Option<Arc<[Binding]>> {
        Some(self.stored(aor))
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
