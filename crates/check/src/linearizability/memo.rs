//! The search's memo table: a set of (linearized set, state) pairs, open addressing with linear
//! probing, no allocation per probe.
//!
//! Every key lives once in two arenas (the bitsets, `words` words each, back to back, and the
//! states); a slot holds the key's full 64-bit hash and its index in the arenas. A probe compares
//! the stored hash first and the key itself only when the hashes agree, so a hash collision never
//! merges two different keys: membership is exact. The table is only probed, never iterated, so
//! no order can leak into output.

use std::hash::{Hash, Hasher};

/// A slot: the key's hash and its index in the arenas, or [`EMPTY`].
#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    id: usize,
}

/// The index of an empty slot.
const EMPTY: usize = usize::MAX;

/// Slots in a new table (a power of two).
const SLOTS_FIRST: usize = 1 << 10;

/// A set of (bitset, state) keys; every bitset has the same number of words.
pub(super) struct MemoTable<S> {
    /// Invariant: a power of two in length, at most half full; a full slot's `id` indexes the
    /// arenas and its `hash` is the hash it was inserted with.
    slots: Vec<Slot>,
    /// Words per bitset.
    words: usize,
    /// Key `i`'s bitset is `bits[i * words..(i + 1) * words]`.
    bits: Vec<u64>,
    /// Key `i`'s state.
    states: Vec<S>,
}

impl<S: Eq + Clone> MemoTable<S> {
    /// An empty table for bitsets of `words` words.
    pub(super) fn new(words: usize) -> Self {
        Self {
            slots: vec![Slot { hash: 0, id: EMPTY }; SLOTS_FIRST],
            words,
            bits: Vec::new(),
            states: Vec::new(),
        }
    }

    /// How many keys the table holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.states.len()
    }

    /// Inserts the key (`bits`, `state`), whose hash is `hash` (the caller must give equal keys
    /// equal hashes; unequal keys may share one). Returns true when the key was not there yet.
    pub(super) fn insert(&mut self, hash: u64, bits: &[u64], state: &S) -> bool {
        debug_assert_eq!(bits.len(), self.words);
        let mask = self.slots.len() - 1;
        let mut index = (hash as usize) & mask;
        loop {
            let slot = self.slots[index];
            if slot.id == EMPTY {
                break;
            }
            if slot.hash == hash
                && self.states[slot.id] == *state
                && self.bits[slot.id * self.words..(slot.id + 1) * self.words] == *bits
            {
                return false;
            }
            index = (index + 1) & mask;
        }
        let id = self.states.len();
        self.slots[index] = Slot { hash, id };
        self.bits.extend_from_slice(bits);
        self.states.push(state.clone());
        if 2 * self.states.len() > self.slots.len() {
            self.grow();
        }
        true
    }

    /// Doubles the slots and puts every key back by its stored hash.
    fn grow(&mut self) {
        let len = self.slots.len() * 2;
        let mask = len - 1;
        let mut slots = vec![Slot { hash: 0, id: EMPTY }; len];
        for slot in self.slots.iter().filter(|s| s.id != EMPTY) {
            let mut index = (slot.hash as usize) & mask;
            while slots[index].id != EMPTY {
                index = (index + 1) & mask;
            }
            slots[index] = *slot;
        }
        self.slots = slots;
    }
}

/// Zobrist keys for the linearized set: operation `i` contributes `set_key(i)`, and a set's hash
/// is the XOR of its members' keys, updated in O(1) as the search adds and removes operations.
pub(super) fn set_key(i: usize) -> u64 {
    // splitmix64 of the index: fixed, seedless, well spread.
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The memo hash of a key: the set's Zobrist hash combined with the state's hash, avalanched so
/// that the low bits (the slot index) depend on every input bit.
pub(super) fn key_hash<S: Hash>(set_hash: u64, state: &S) -> u64 {
    let mut hasher = WordHasher { hash: set_hash };
    state.hash(&mut hasher);
    let mut h = hasher.hash;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A fixed, seedless multiply-rotate hasher (FxHash's step) for the state; [`key_hash`] finishes.
struct WordHasher {
    hash: u64,
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0_u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.hash = (self.hash.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, value: i64) {
        self.write_u64(value as u64);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn write_isize(&mut self, value: isize) {
        self.write_u64(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A small deterministic generator for the tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(1);
            set_key(self.0 as usize)
        }
    }

    /// Inserts random keys into the table and into a `BTreeSet` model and checks that both always
    /// agree on whether the key was new, with `hash_of` deciding the hashes (a bad one forces
    /// collisions).
    fn agrees_with_model(words: usize, inserts: usize, hash_of: &dyn Fn(&[u64], &i64) -> u64) {
        let mut rng = Rng(words as u64 * 1000 + inserts as u64);
        let mut table: MemoTable<i64> = MemoTable::new(words);
        let mut model: BTreeSet<(Vec<u64>, i64)> = BTreeSet::new();
        for _ in 0..inserts {
            // Few distinct values, so that repeats are common.
            let bits: Vec<u64> = (0..words).map(|_| rng.next() % 4).collect();
            let state = (rng.next() % 5) as i64 - 2;
            let hash = hash_of(&bits, &state);
            let new_in_model = model.insert((bits.clone(), state));
            assert_eq!(table.insert(hash, &bits, &state), new_in_model);
            assert_eq!(table.len(), model.len());
        }
        // Every key is found again, and nothing else was merged into it.
        for (bits, state) in &model {
            assert!(!table.insert(hash_of(bits, state), bits, state));
        }
        assert_eq!(table.len(), model.len());
    }

    fn good_hash(bits: &[u64], state: &i64) -> u64 {
        let set = bits
            .iter()
            .enumerate()
            .fold(0, |h, (i, &w)| h ^ set_key(i * 64 + w as usize));
        key_hash(set, state)
    }

    #[test]
    fn agrees_with_a_btreeset_with_a_good_hash() {
        for words in [1, 2, 5] {
            agrees_with_model(words, 20_000, &good_hash);
        }
    }

    #[test]
    fn agrees_with_a_btreeset_when_every_hash_collides() {
        agrees_with_model(2, 600, &|_, _| 42);
        agrees_with_model(1, 600, &|bits, _| bits[0] % 2);
    }

    #[test]
    fn equal_hash_different_state_or_bits_are_different_keys() {
        let mut table: MemoTable<Option<i64>> = MemoTable::new(1);
        assert!(table.insert(7, &[1], &None));
        assert!(table.insert(7, &[1], &Some(0)));
        assert!(table.insert(7, &[3], &None));
        assert!(!table.insert(7, &[1], &Some(0)));
        assert_eq!(table.len(), 3);
    }

    #[test]
    fn zobrist_hash_is_order_independent() {
        let a = set_key(3) ^ set_key(70) ^ set_key(5);
        let b = set_key(70) ^ set_key(5) ^ set_key(3);
        assert_eq!(a, b);
        assert_ne!(set_key(0), set_key(1));
    }
}
