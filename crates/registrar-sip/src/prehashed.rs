//! Tables keyed by values that are already keyed hashes (transaction ids, nonce MACs): hashing them again
//! with SipHash only costs time, most visibly when a table grows and every key is rehashed while the
//! table's lock is held.

use std::hash::{BuildHasher, Hasher};

use dashmap::DashMap;

/// Shards of the tables below: each growth rehashes one shard, a 128th of the table, so a request that
/// meets it waits for microseconds, not the milliseconds a whole-table rehash under load takes.
const SHARDS: usize = 128;

/// A map from a pre-hashed key, sharded for concurrent writers.
pub(crate) type PrehashedMap<K, V> = DashMap<K, V, Prehashed>;

/// An empty [`PrehashedMap`].
pub(crate) fn map<K: Eq + std::hash::Hash, V>() -> PrehashedMap<K, V> {
    DashMap::with_hasher_and_shard_amount(Prehashed, SHARDS)
}

/// Uses the key's own bits as its hash. Only for keys that are uniformly distributed and that a peer cannot
/// choose (outputs of a keyed hash or MAC): anything else would let a peer pile entries into one bucket.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = Folding;

    fn build_hasher(&self) -> Folding {
        Folding(0)
    }
}

/// Folds the written integers into 64 bits.
#[derive(Debug)]
pub(crate) struct Folding(u64);

impl Hasher for Folding {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by the integer keys of these tables; correct (if slow) for anything else.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }

    fn write_u64(&mut self, i: u64) {
        self.0 ^= i;
    }

    fn write_u128(&mut self, i: u128) {
        // Both halves are independent keyed hashes: either alone is uniform.
        #[allow(clippy::cast_possible_truncation)]
        {
            self.0 ^= i as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_the_low_bits_of_a_u128_key() {
        assert_eq!(
            Prehashed.hash_one(0xdead_beef_u128 | (7_u128 << 64)),
            0xdead_beef
        );
        let m: PrehashedMap<u128, u32> = map();
        for i in 0..1_000_u32 {
            m.insert(
                (u128::from(i) << 64) | u128::from(i.wrapping_mul(2_654_435_761)),
                i,
            );
        }
        assert_eq!(m.len(), 1_000);
        let seven = (7_u128 << 64) | u128::from(7_u32.wrapping_mul(2_654_435_761));
        assert_eq!(m.get(&seven).map(|v| *v), Some(7));
    }
}
