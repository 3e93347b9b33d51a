//! Sets of addresses as sorted, merged, disjoint inclusive intervals of `u128`.
//! Memory is proportional to the number of intervals, never to the number of addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family. IPv4 sorts before IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) fn bits(self) -> u32 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The family and value of `ip`; an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is IPv4.
    pub(crate) fn of(ip: IpAddr) -> (Family, u128) {
        match ip.to_canonical() {
            IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a))),
            IpAddr::V6(a) => (Family::V6, u128::from(a)),
        }
    }

    /// The address `v` of this family. IPv4 values are always below 2^32 by construction;
    /// anything larger is clamped rather than panicking.
    pub(crate) fn ip(self, v: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX))),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }
}

/// An inclusive interval `lo..=hi` with `lo <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Iv {
    pub lo: u128,
    pub hi: u128,
}

impl Iv {
    pub(crate) fn new(lo: u128, hi: u128) -> Iv {
        Iv { lo: lo.min(hi), hi: lo.max(hi) }
    }

    /// Number of addresses; saturates at `u128::MAX` for the whole IPv6 space (2^128).
    pub(crate) fn count(&self) -> u128 {
        self.hi.saturating_sub(self.lo).saturating_add(1)
    }

    pub(crate) fn contains(&self, v: u128) -> bool {
        self.lo <= v && v <= self.hi
    }
}

/// Sorts and merges overlapping or adjacent intervals.
pub(crate) fn normalize(v: &mut Vec<Iv>) {
    v.sort_unstable();
    let mut out: Vec<Iv> = Vec::with_capacity(v.len());
    for iv in v.drain(..) {
        if let Some(last) = out.last_mut() {
            if iv.lo <= last.hi.saturating_add(1) {
                last.hi = last.hi.max(iv.hi);
                continue;
            }
        }
        out.push(iv);
    }
    *v = out;
}

/// `a` minus `b`, both normalized; the result is normalized.
pub(crate) fn subtract(a: &[Iv], b: &[Iv]) -> Vec<Iv> {
    let mut out = Vec::with_capacity(a.len());
    let mut j = 0;
    for iv in a {
        while b.get(j).is_some_and(|x| x.hi < iv.lo) {
            j += 1;
        }
        let mut lo = iv.lo;
        let mut alive = true;
        let mut k = j;
        while let Some(x) = b.get(k) {
            if x.lo > iv.hi {
                break;
            }
            if x.lo > lo {
                out.push(Iv { lo, hi: x.lo - 1 });
            }
            if x.hi >= iv.hi {
                alive = false;
                break;
            }
            // x.hi < iv.hi <= u128::MAX, so this cannot overflow.
            lo = x.hi + 1;
            k += 1;
        }
        if alive {
            out.push(Iv { lo, hi: iv.hi });
        }
    }
    out
}

/// Total number of addresses, saturating.
pub(crate) fn total(v: &[Iv]) -> u128 {
    v.iter().fold(0u128, |acc, iv| acc.saturating_add(iv.count()))
}

/// The first address of `lo..=hi` not covered by the normalized set `set`, if any.
pub(crate) fn first_outside(set: &[Iv], lo: u128, hi: u128) -> Option<u128> {
    let idx = set.partition_point(|iv| iv.lo <= lo);
    let Some(cover) = idx.checked_sub(1).and_then(|i| set.get(i)) else {
        return Some(lo);
    };
    if cover.hi < lo {
        Some(lo)
    } else if cover.hi >= hi {
        None
    } else {
        // cover.hi < hi, and the set is merged, so cover.hi + 1 is not in it.
        Some(cover.hi + 1)
    }
}

/// Whether the normalized set `set` has an address in `iv`.
pub(crate) fn overlaps(set: &[Iv], iv: Iv) -> bool {
    // The last interval starting at or before iv.hi is the only one that can reach into iv.
    let idx = set.partition_point(|x| x.lo <= iv.hi);
    idx.checked_sub(1).and_then(|i| set.get(i)).is_some_and(|x| x.hi >= iv.lo)
}

/// Whether the normalized set contains `v`.
pub(crate) fn contains(set: &[Iv], v: u128) -> bool {
    first_outside(set, v, v).is_none()
}

/// Short text for an interval: an address, a CIDR when it is exactly one, or a range.
pub(crate) fn describe(fam: Family, iv: Iv) -> String {
    if iv.lo == iv.hi {
        return fam.ip(iv.lo).to_string();
    }
    let span = iv.hi.saturating_sub(iv.lo); // all host bits set when it is a CIDR
    if span & span.wrapping_add(1) == 0 && iv.lo & span == 0 {
        let prefix = fam.bits().saturating_sub(span.count_ones());
        return format!("{}/{}", fam.ip(iv.lo), prefix);
    }
    format!("{}-{}", fam.ip(iv.lo), fam.ip(iv.hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivs(v: &[(u128, u128)]) -> Vec<Iv> {
        v.iter().map(|&(lo, hi)| Iv::new(lo, hi)).collect()
    }

    #[test]
    fn normalize_merges_overlaps_and_neighbours() {
        let mut v = ivs(&[(10, 20), (0, 3), (4, 5), (15, 30), (40, 40), (u128::MAX, u128::MAX), (39, 39)]);
        normalize(&mut v);
        assert_eq!(v, ivs(&[(0, 5), (10, 30), (39, 40), (u128::MAX, u128::MAX)]));
        let mut full = ivs(&[(0, u128::MAX), (5, 6)]);
        normalize(&mut full);
        assert_eq!(full, ivs(&[(0, u128::MAX)]));
    }

    #[test]
    fn subtract_splits_and_removes() {
        let a = ivs(&[(0, 100), (200, 300)]);
        let b = ivs(&[(0, 0), (10, 20), (100, 210), (300, 400)]);
        assert_eq!(subtract(&a, &b), ivs(&[(1, 9), (21, 99), (211, 299)]));
        assert_eq!(subtract(&a, &ivs(&[(0, u128::MAX)])), vec![]);
        assert_eq!(subtract(&a, &[]), a);
        let top = ivs(&[(u128::MAX - 5, u128::MAX)]);
        assert_eq!(
            subtract(&top, &ivs(&[(u128::MAX - 3, u128::MAX - 3)])),
            ivs(&[(u128::MAX - 5, u128::MAX - 4), (u128::MAX - 2, u128::MAX)])
        );
    }

    #[test]
    fn coverage_and_description() {
        let s = ivs(&[(10, 20), (30, 40)]);
        assert_eq!(first_outside(&s, 10, 20), None);
        assert_eq!(first_outside(&s, 12, 25), Some(21));
        assert_eq!(first_outside(&s, 5, 15), Some(5));
        assert_eq!(first_outside(&s, 25, 26), Some(25));
        assert!(contains(&s, 40) && !contains(&s, 41) && !contains(&[], 0));
        assert!(overlaps(&s, Iv::new(0, 10)) && overlaps(&s, Iv::new(15, 16)) && overlaps(&s, Iv::new(40, 99)));
        assert!(!overlaps(&s, Iv::new(0, 9)) && !overlaps(&s, Iv::new(21, 29)) && !overlaps(&s, Iv::new(41, 99)));
        assert!(!overlaps(&[], Iv::new(0, u128::MAX)) && overlaps(&s, Iv::new(0, u128::MAX)));
        assert_eq!(Family::of("::ffff:198.18.0.1".parse().unwrap()), (Family::V4, 0xC612_0001));
        assert_eq!(Family::of("::198.18.0.1".parse().unwrap()), (Family::V6, 0xC612_0001));
        assert_eq!(describe(Family::V4, Iv::new(0xC612_0000, 0xC613_FFFF)), "198.18.0.0/15");
        assert_eq!(describe(Family::V4, Iv::new(0xC612_010A, 0xC612_0132)), "198.18.1.10-198.18.1.50");
        assert_eq!(describe(Family::V6, Iv::new(0, u128::MAX)), "::/0");
        assert_eq!(describe(Family::V4, Iv::new(7, 7)), "0.0.0.7");
        assert_eq!(Iv::new(0, u128::MAX).count(), u128::MAX);
    }
}
