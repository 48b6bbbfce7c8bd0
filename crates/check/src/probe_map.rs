//! A hash map for lookups only, with a fixed, seedless hasher.
//!
//! `clippy.toml` bans `HashMap` because its iteration order must not reach the output. A
//! [`ProbeMap`] is filled and then only probed (`get`, `entry`, `contains_key`), never iterated,
//! and its hasher has no random seed, so nothing order-dependent or run-dependent can leak; it
//! replaces a `BTreeMap` where a million string keys made every lookup twenty string compares.

#[allow(clippy::disallowed_types)]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map that is only probed, never iterated (see the module docs).
#[allow(clippy::disallowed_types)]
pub(crate) type ProbeMap<K, V> = HashMap<K, V, BuildHasherDefault<FixedHasher>>;

/// FxHash's multiply-rotate over 8-byte words, with murmur3's finalizer: fixed and seedless.
#[derive(Default, Clone, Copy)]
pub(crate) struct FixedHasher {
    hash: u64,
}

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0_u8; 8];
            word.copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0_u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.hash = (self.hash.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn agrees_with_a_btreemap_on_string_pairs() {
        let mut map: ProbeMap<(String, String), usize> = ProbeMap::default();
        let mut model: BTreeMap<(String, String), usize> = BTreeMap::new();
        for i in 0..5000_usize {
            let key = (format!("k{}", i % 7), format!("v{}", (i * 7919) % 1300));
            *map.entry(key.clone()).or_default() += i;
            *model.entry(key).or_default() += i;
        }
        assert_eq!(map.len(), model.len());
        for (key, value) in &model {
            assert_eq!(map.get(key), Some(value));
        }
        assert_eq!(map.get(&("k0".to_owned(), "nope".to_owned())), None);
        // "a" + "bc" and "ab" + "c" are different keys (str hashing adds a terminator).
        let mut pairs: ProbeMap<(&str, &str), u8> = ProbeMap::default();
        pairs.insert(("a", "bc"), 1);
        pairs.insert(("ab", "c"), 2);
        assert_eq!(pairs.get(&("a", "bc")), Some(&1));
        assert_eq!(pairs.get(&("ab", "c")), Some(&2));
    }
}
