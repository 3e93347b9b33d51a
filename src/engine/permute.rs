//! A full-period random permutation of probe indices [0, n), computed on the fly (as masscan and
//! ZMap do) so that no (host, port) list is ever materialised and no host sees a burst.
//!
//! A keyed bijection on k-bit integers (2^k >= n) — multiply by an odd key, xor-shift, add a key,
//! each invertible modulo 2^k — is walked from 0 to 2^k - 1; values >= n are skipped
//! ("cycle walking"), so each index in [0, n) comes out exactly once and fewer than half the
//! steps are skipped.

#[derive(Debug, Clone)]
pub struct Permutation {
    n: u64,
    bits: u32,
    mask: u64,
    keys: Option<[u64; 6]>,
}

impl Permutation {
    /// `seed` None picks a random key; `randomize` false keeps the natural order.
    pub fn new(n: u64, randomize: bool, seed: Option<u64>) -> Self {
        let bits = (64 - n.saturating_sub(1).leading_zeros()).max(1);
        let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
        let keys = randomize.then(|| {
            let mut state = seed.unwrap_or_else(rand::random);
            let mut next = || {
                // splitmix64: spreads one seed into independent keys
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^ (z >> 31)
            };
            [next() | 1, next(), next() | 1, next(), next() | 1, next()]
        });
        Permutation { n, bits, mask, keys }
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of walk steps: positions in [0, steps) map to candidates, some of them skipped.
    pub fn steps(&self) -> u64 {
        if self.keys.is_none() {
            self.n
        } else {
            self.mask.saturating_add(1).max(self.n)
        }
    }

    /// The index at walk position `j`, or None when that position is skipped.
    pub fn at(&self, j: u64) -> Option<u64> {
        let x = match &self.keys {
            None => j,
            Some(k) => {
                let shift = self.bits.div_ceil(2);
                let mut x = j & self.mask;
                for r in 0..3 {
                    x = x.wrapping_mul(k[2 * r]) & self.mask;
                    x ^= x >> shift;
                    x = x.wrapping_add(k[2 * r + 1]) & self.mask;
                }
                x
            }
        };
        (x < self.n).then_some(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(p: &Permutation) -> Vec<u64> {
        (0..p.steps()).filter_map(|j| p.at(j)).collect()
    }

    #[test]
    fn every_index_exactly_once() {
        for n in [1u64, 2, 3, 7, 8, 9, 100, 1000, 65535, 65536, 4096 * 3] {
            let p = Permutation::new(n, true, Some(42));
            let mut v = collect(&p);
            assert_eq!(v.len() as u64, n, "n={n}");
            v.sort_unstable();
            assert!(v.iter().copied().eq(0..n), "n={n} is not a permutation");
        }
    }

    #[test]
    fn identity_when_not_randomized() {
        let p = Permutation::new(10, false, None);
        assert_eq!(collect(&p), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn randomized_order_spreads_consecutive_indices() {
        let p = Permutation::new(65536, true, Some(7));
        let v = collect(&p);
        // the first 1000 outputs should not be clustered at the start of the range
        let low = v[..1000].iter().filter(|&&x| x < 6554).count();
        assert!(low < 250, "{low} of the first 1000 fell in the lowest 10%");
        assert_ne!(v[..100], (0..100).collect::<Vec<_>>()[..]);
    }

    #[test]
    fn seeds_change_the_order() {
        let a = collect(&Permutation::new(1000, true, Some(1)));
        let b = collect(&Permutation::new(1000, true, Some(2)));
        assert_ne!(a, b);
    }

    #[test]
    fn huge_space_is_lazy() {
        let n = (1u64 << 40) * 65535;
        let p = Permutation::new(n, true, Some(3));
        let got: Vec<u64> = (0..64).filter_map(|j| p.at(j)).collect();
        assert!(!got.is_empty());
        assert!(got.iter().all(|&x| x < n));
    }
}
