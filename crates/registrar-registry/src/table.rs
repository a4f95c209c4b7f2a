//! The map from AoR to bindings under [`MemoryLocationStore`](crate::MemoryLocationStore): sharded, open
//! addressing, tuned for the lookup of a random AoR among millions.
//!
//! Such a lookup is bound by memory latency, not by instructions: every pointer followed into a cold cache line
//! costs a DRAM round trip (about 180 ns on the development VM). A general-purpose hash map (hashbrown, under
//! dashmap) pays four in a row: its control bytes, the bucket, the stored key's text (to compare it), then the
//! bindings. This table pays two: each slot holds the key's full 64-bit hash next to both pointers, so reading
//! the slot (one miss) finds the candidate, and the stored key's text and the bindings are then fetched at the
//! same time (the second miss, overlapped), because the bindings are loaded before the key compare needs its
//! answer. A full-hash match that is not the key (about one in 2^64 per probe) only wastes that load.
//!
//! Linear probing with backward-shift deletion (no tombstones), at most 3/4 full; 64 shards, each behind its
//! own `RwLock`, chosen by the top bits of the hash, so writers to different AoRs rarely meet.

use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use registrar_types::{Aor, Binding};

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;
const MIN_SLOTS: usize = 16;

/// The stored bindings of one AoR: an immutable sorted slice, replaced whole on change.
pub(crate) type Set = Arc<[Binding]>;

#[derive(Debug)]
struct Entry {
    hash: u64,
    key: Aor,
    value: Set,
}

#[derive(Debug, Default)]
struct Shard {
    slots: Vec<Option<Entry>>,
    len: usize,
}

impl Shard {
    const fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `key`, if any.
    fn find(&self, hash: u64, key: &Aor) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = slot_of(hash) & mask;
        loop {
            match &self.slots[i] {
                None => return None,
                Some(e) if e.hash == hash => {
                    // Start loading the bindings now, so this miss overlaps the one of the key compare below.
                    std::hint::black_box(e.value.first().map(|b| b.expires_at));
                    if e.key == *key {
                        return Some(i);
                    }
                }
                Some(_) => {}
            }
            i = (i + 1) & mask;
        }
    }

    fn value(&self, i: usize) -> Option<&Set> {
        self.slots[i].as_ref().map(|e| &e.value)
    }

    /// Put a new entry (its key is not in the table).
    fn insert_new(&mut self, hash: u64, key: Aor, value: Set) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.mask();
        let mut i = slot_of(hash) & mask;
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(Entry { hash, key, value });
        self.len += 1;
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::take(&mut self.slots);
        self.slots.resize_with(n, || None);
        let mask = n - 1;
        for e in old.into_iter().flatten() {
            let mut i = slot_of(e.hash) & mask;
            while self.slots[i].is_some() {
                i = (i + 1) & mask;
            }
            self.slots[i] = Some(e);
        }
    }

    /// Remove the entry in slot `i`, shifting back the entries of its probe run so no lookup stops early.
    fn remove_at(&mut self, mut i: usize) -> Option<Entry> {
        let removed = self.slots[i].take();
        removed.as_ref()?;
        self.len -= 1;
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let home = match &self.slots[j] {
                None => break,
                Some(e) => slot_of(e.hash) & mask,
            };
            // Move the entry at j back into the hole at i unless its home lies in (i, j] (cyclically).
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.slots[i] = self.slots[j].take();
                i = j;
            }
        }
        removed
    }
}

/// The slot index bits of a hash (the top bits choose the shard).
const fn slot_of(hash: u64) -> usize {
    hash as usize
}

/// AoR → bindings, in memory.
#[derive(Debug)]
pub(crate) struct AorTable {
    hasher: RandomState,
    shards: Box<[RwLock<Shard>]>,
}

/// What [`AorTable::update`] should do with an AoR's entry.
pub(crate) enum Change {
    /// Leave it.
    Keep,
    /// Store this set (an empty set removes the AoR).
    Set(Set),
}

impl AorTable {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let slots = if per_shard == 0 {
            0
        } else {
            (per_shard * 4 / 3 + 1).next_power_of_two().max(MIN_SLOTS)
        };
        let shards = (0..SHARDS)
            .map(|_| {
                let mut s = Shard::default();
                s.slots.resize_with(slots, || None);
                RwLock::new(s)
            })
            .collect();
        Self {
            hasher: RandomState::new(),
            shards,
        }
    }

    fn hash(&self, key: &Aor) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard(&self, hash: u64) -> &RwLock<Shard> {
        &self.shards[(hash >> (64 - SHARD_BITS)) as usize]
    }

    fn read(&self, hash: u64) -> RwLockReadGuard<'_, Shard> {
        // A panic while a shard was locked cannot leave it half-changed: every change is one slot write or a
        // completed shift, so the data is still consistent.
        self.shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self, hash: u64) -> RwLockWriteGuard<'_, Shard> {
        self.shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored set of `key`.
    pub(crate) fn get(&self, key: &Aor) -> Option<Set> {
        let hash = self.hash(key);
        let shard = self.read(hash);
        shard
            .find(hash, key)
            .and_then(|i| shard.value(i).map(Arc::clone))
    }

    /// Decide about `key`'s entry with `f` (given the current set, empty when absent) under the shard's write
    /// lock, and apply the decision. `f`'s error leaves the entry as it was.
    pub(crate) fn update<E>(
        &self,
        key: &Aor,
        f: impl FnOnce(&[Binding]) -> Result<Change, E>,
    ) -> Result<(), E> {
        let hash = self.hash(key);
        let mut shard = self.write(hash);
        match shard.find(hash, key) {
            Some(i) => {
                let Some(Entry { value, .. }) = shard.slots[i].as_mut() else {
                    return Ok(());
                };
                match f(value)? {
                    Change::Keep => {}
                    Change::Set(new) if new.is_empty() => {
                        shard.remove_at(i);
                    }
                    Change::Set(new) => *value = new,
                }
            }
            None => {
                if let Change::Set(new) = f(&[])?
                    && !new.is_empty()
                {
                    shard.insert_new(hash, key.clone(), new);
                }
            }
        }
        Ok(())
    }

    /// Call `f` with every key (shard by shard, each under its read lock).
    pub(crate) fn for_each_key(&self, mut f: impl FnMut(&Aor)) {
        for s in &self.shards {
            let s = s.read().unwrap_or_else(PoisonError::into_inner);
            for e in s.slots.iter().flatten() {
                f(&e.key);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;

    use proptest::prelude::*;
    use registrar_types::Timestamp;

    use super::*;

    fn aor(i: u32) -> Aor {
        format!("sip:u{i}@example.com").parse().unwrap()
    }

    fn set(n: u64) -> Set {
        let b = Binding {
            contact: "sip:x@192.0.2.1".parse().unwrap(),
            q: registrar_types::QValue::ONE,
            expires_at: Timestamp::from_secs(n),
            call_id: "c@h".parse().unwrap(),
            cseq: registrar_types::CSeq::new(1).unwrap(),
            instance_id: None,
            reg_id: None,
            path: Vec::new(),
            source: None,
            transport: None,
            user_agent: None,
            registered_at: Timestamp::from_secs(0),
            last_refresh: Timestamp::from_secs(0),
            temp_gruu: None,
            pnsreg: false,
        };
        Arc::from(vec![b])
    }

    fn put(t: &AorTable, k: &Aor, v: Option<Set>) {
        t.update::<()>(k, |_| {
            Ok(Change::Set(v.unwrap_or_else(|| Arc::from(Vec::new()))))
        })
        .unwrap();
    }

    fn expires(s: &Set) -> u64 {
        s[0].expires_at.as_millis() / 1000
    }

    /// Every shard's invariant: each entry is reachable from its home slot without crossing an empty slot.
    fn check(t: &AorTable) {
        for s in &t.shards {
            let s = s.read().unwrap();
            let mut n = 0;
            for (at, e) in s.slots.iter().enumerate() {
                let Some(e) = e else { continue };
                n += 1;
                let mut i = slot_of(e.hash) & s.mask();
                while i != at {
                    assert!(s.slots[i].is_some(), "hole in a probe run");
                    i = (i + 1) & s.mask();
                }
            }
            assert_eq!(n, s.len);
        }
    }

    #[test]
    fn insert_update_remove() {
        let t = AorTable::with_capacity(0);
        assert!(t.get(&aor(1)).is_none());
        put(&t, &aor(1), Some(set(10)));
        put(&t, &aor(2), Some(set(20)));
        assert_eq!(expires(&t.get(&aor(1)).unwrap()), 10);
        put(&t, &aor(1), Some(set(11)));
        assert_eq!(expires(&t.get(&aor(1)).unwrap()), 11);
        assert_eq!(t.len(), 2);
        put(&t, &aor(1), None);
        assert!(t.get(&aor(1)).is_none());
        assert_eq!(t.len(), 1);
        // An error from the decision changes nothing.
        assert_eq!(t.update(&aor(2), |_| Err::<Change, _>("no")), Err("no"));
        assert_eq!(expires(&t.get(&aor(2)).unwrap()), 20);
        // Keep leaves it; an empty set for an absent key stores nothing.
        t.update::<()>(&aor(2), |_| Ok(Change::Keep)).unwrap();
        put(&t, &aor(3), None);
        assert_eq!(t.len(), 1);
        check(&t);
    }

    #[test]
    fn grows_and_keeps_everything() {
        let t = AorTable::with_capacity(0);
        for i in 0..20_000 {
            put(&t, &aor(i), Some(set(u64::from(i))));
        }
        check(&t);
        assert_eq!(t.len(), 20_000);
        for i in 0..20_000 {
            assert_eq!(expires(&t.get(&aor(i)).unwrap()), u64::from(i));
        }
        let mut keys = 0;
        t.for_each_key(|_| keys += 1);
        assert_eq!(keys, 20_000);
    }

    proptest! {
        /// Any sequence of puts and removes leaves the table agreeing with a HashMap, probe runs intact.
        #[test]
        fn agrees_with_a_hashmap(ops in proptest::collection::vec((0u32..300, proptest::option::of(0u64..1000)), 0..2000)) {
            let t = AorTable::with_capacity(0);
            let mut m = HashMap::new();
            for (k, v) in ops {
                put(&t, &aor(k), v.map(set));
                match v {
                    Some(v) => { m.insert(k, v); }
                    None => { m.remove(&k); }
                }
            }
            check(&t);
            prop_assert_eq!(t.len(), m.len());
            for k in 0..300 {
                prop_assert_eq!(t.get(&aor(k)).map(|s| expires(&s)), m.get(&k).copied());
            }
        }
    }
}
