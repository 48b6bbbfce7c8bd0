//! A small seeded generator: the crate's only source of randomness.
//!
//! The simulated disk draws every choice from one of these, so a seed replays a run bit for
//! bit. The bits come from the consensus core's SplitMix64 ([`invar_raft::Prng`]); this type
//! adds the bounded draws the disk model uses (multiply-shift, not modulo, so its streams stay
//! what they were when its tests were written).

use invar_raft::Prng;

/// SplitMix64 (Steele, Lea, Flood 2014) with multiply-shift bounded draws.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    bits: Prng,
}

impl SplitMix64 {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 {
            bits: Prng::new(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.bits.next_u64()
    }

    /// A value in `0..bound` (`0` when `bound` is 0). Multiply-shift: negligible bias for the
    /// small bounds used here.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A value in `min..=max` (`min` when `max <= min`).
    pub fn between(&mut self, min: u64, max: u64) -> u64 {
        if max <= min {
            return min;
        }
        min + self.below(max - min + 1)
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert!(SplitMix64::new(1).below(10) < 10);
        assert_eq!(SplitMix64::new(1).between(5, 5), 5);
    }
}
