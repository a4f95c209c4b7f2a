//! An index of keys by expiry second, so that removing what expired costs O(expired), not O(everything).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};

use crate::Timestamp;

const SHARDS: usize = 64;

/// One shard: second → keys to check at that second.
type Shard<K> = Mutex<BTreeMap<u64, Vec<K>>>;

/// Keys filed under the second at which something of theirs expires, sharded by key so that writers on
/// different cores rarely meet.
///
/// The index only says *when to look*: a key filed at a second that later got a longer expiry stays filed, and
/// the sweeper finds nothing to do for it. So a store files every new expiry instant and never unfiles.
#[derive(Debug)]
pub struct ExpiryIndex<K> {
    shards: Box<[Shard<K>]>,
    hasher: RandomState,
}

impl<K: Clone + Hash> Default for ExpiryIndex<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Hash> ExpiryIndex<K> {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(BTreeMap::new())).collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> &Shard<K> {
        let h = self.hasher.hash_one(key);
        // The modulo keeps the index in range, so the cast cannot truncate meaningfully.
        #[allow(clippy::cast_possible_truncation)]
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// File `key` under the second that ends at or after `at`, so a sweep at that second finds it expired.
    pub fn insert(&self, key: &K, at: Timestamp) {
        let second = at.as_millis().div_ceil(1000);
        self.shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(second)
            .or_default()
            .push(key.clone());
    }

    /// Take every key filed at or before `now` (possibly with repeats).
    pub fn take_due(&self, now: Timestamp) -> Vec<K> {
        let now_second = now.as_millis() / 1000;
        let mut due = Vec::new();
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if map.first_key_value().is_none_or(|(s, _)| *s > now_second) {
                continue;
            }
            let later = map.split_off(&(now_second + 1));
            let taken = std::mem::replace(&mut *map, later);
            drop(map);
            due.extend(taken.into_values().flatten());
        }
        due
    }

    /// The earliest second at which something is filed.
    pub fn next(&self) -> Option<Timestamp> {
        self.shards
            .iter()
            .filter_map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .first_key_value()
                    .map(|(k, _)| *k)
            })
            .min()
            .map(Timestamp::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_by_second_and_takes_only_what_is_due() {
        let idx: ExpiryIndex<u32> = ExpiryIndex::new();
        idx.insert(&1, Timestamp::from_millis(10_500));
        idx.insert(&2, Timestamp::from_millis(11_000));
        idx.insert(&3, Timestamp::from_millis(20_000));
        assert_eq!(idx.next(), Some(Timestamp::from_secs(11)));
        assert!(idx.take_due(Timestamp::from_millis(10_999)).is_empty());
        let mut due = idx.take_due(Timestamp::from_secs(11));
        due.sort_unstable();
        assert_eq!(due, [1, 2]);
        assert_eq!(idx.next(), Some(Timestamp::from_secs(20)));
        assert!(idx.take_due(Timestamp::from_secs(11)).is_empty());
    }
}
