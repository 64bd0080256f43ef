//! A hasher for the integer ids that the client numbers itself (subscriptions, wire
//! subscription ids): one multiply instead of SipHash on every update's lookup.
//!
//! Not for keys that the server chooses: its entries are inserted only under ids this side
//! allocated (the server may send any id, but a lookup does not grow the map), so there is
//! no collision flooding to defend against.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by ids allocated locally (see the [module](self) documentation).
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Multiplicative hashing (as in FxHash): the high bits, which the map's control bytes
/// use, depend on every bit of the id, and distinct ids stay distinct in the low bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(K);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_distinct_hashes() {
        let hashes: std::collections::HashSet<u64> = (0..10_000u64)
            .map(|n| {
                let mut h = IdHasher::default();
                h.write_u64(n);
                h.finish()
            })
            .collect();
        assert_eq!(hashes.len(), 10_000);
        let mut m: IdMap<u32, u32> = IdMap::default();
        m.insert(7, 1);
        assert_eq!(m.get(&7), Some(&1));
        assert_eq!(m.get(&8), None);
    }
}
