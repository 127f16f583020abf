//! Per-thread memos of work on values seen on more than one request. Browsers send the same
//! `User-Agent`, `Accept-*` and cookie on every request of a visit, and a site's paths and
//! parameters repeat, so a value's literal scan and the operators run on it are mostly
//! answers already given.
//!
//! A value is kept only the second time it is seen: a filter of hashes remembers the first,
//! so values that never repeat — an attack's, a random token — cost a hash and nothing more.
//! A hit is checked against the kept bytes and the owner (rule set, operator), so a hash
//! collision cannot hand a value another's answer. Each memo has a byte budget; over it, it
//! starts over.

use super::prefilter::{FxHasher, FxMap};
use std::hash::Hasher;

/// Values shorter than this are not looked up: the work is as cheap as the lookup.
pub const MIN: usize = 16;
/// Longer values are never kept.
pub const MAX: usize = 4096;
/// Slots of the "seen once" filter (a power of two).
const SEEN: usize = 1 << 14;

/// Whose answer a kept value holds: a rule set (a unique id per load) and, for an operator,
/// its address in that rule set.
pub type Owner = (u64, usize);

/// Whether values of this length are looked up at all.
#[inline]
pub fn fits(bytes: &[u8]) -> bool {
    (MIN..=MAX).contains(&bytes.len())
}

/// The key a value of `owner` is kept under (checked against the bytes on each hit).
pub fn hash(owner: Owner, bytes: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(owner.0);
    h.write_usize(owner.1);
    h.write(bytes);
    // FxHash leaves the low bits weak (a product's low bits depend only on the factors'
    // low bits), and the "seen" filter is indexed by them: short values that begin alike
    // took the same slot and kept pushing each other out. Fold the high bits in.
    let h = h.finish();
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

struct Kept<V> {
    owner: Owner,
    bytes: Box<[u8]>,
    value: V,
}

pub struct Memo<V> {
    seen: Vec<u64>,
    kept: FxMap<u64, Kept<V>>,
    used: usize,
    budget: usize,
}

impl<V> Memo<V> {
    pub const fn new(budget: usize) -> Memo<V> {
        Memo {
            seen: Vec::new(),
            kept: FxMap::with_hasher(std::hash::BuildHasherDefault::new()),
            used: 0,
            budget,
        }
    }

    /// The answer kept for `bytes` (hashed to `h`) of `owner`.
    pub fn get(&self, h: u64, owner: Owner, bytes: &[u8]) -> Option<&V> {
        self.kept
            .get(&h)
            .filter(|k| k.owner == owner && *k.bytes == *bytes)
            .map(|k| &k.value)
    }

    /// Whether `h` was offered (or noted) before: its slot in the "seen" filter holds it.
    pub fn seen(&self, h: u64) -> bool {
        self.seen.get(h as usize & (SEEN - 1)) == Some(&h)
    }

    /// Notes a first sight of `h` in the "seen" filter.
    pub fn note(&mut self, h: u64) {
        if self.seen.is_empty() {
            self.seen = vec![0; SEEN];
        }
        self.seen[h as usize & (SEEN - 1)] = h;
    }

    /// Offers an answer just computed: kept when the value was seen before (replacing the
    /// answer kept for it). `size` is what the answer holds besides the value's bytes.
    pub fn offer(
        &mut self,
        h: u64,
        owner: Owner,
        bytes: &[u8],
        size: usize,
        value: impl FnOnce() -> V,
    ) {
        // A value kept already gets the newer answer (one that holds more).
        if let Some(k) = self.kept.get_mut(&h) {
            if k.owner == owner && *k.bytes == *bytes {
                k.value = value();
                return;
            }
        }
        if !self.seen(h) {
            self.note(h);
            return;
        }
        let size = bytes.len() + size + 64;
        if self.used + size > self.budget {
            self.kept.clear();
            self.used = 0;
        }
        self.used += size;
        self.kept.insert(
            h,
            Kept {
                owner,
                bytes: bytes.into(),
                value: value(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_on_their_second_sight_within_the_budget() {
        let owner = (7, 0);
        let mut m: Memo<u32> = Memo::new(4096);
        let value = |i: u32| format!("value number {i:08} of the test").into_bytes();
        // First sight: remembered in the filter only.
        let v = value(1);
        let h = hash(owner, &v);
        m.offer(h, owner, &v, 0, || 1);
        assert!(m.get(h, owner, &v).is_none());
        // Second sight: kept, and found only for the same bytes and owner.
        m.offer(h, owner, &v, 0, || 1);
        assert_eq!(m.get(h, owner, &v), Some(&1));
        assert!(m.get(h, (8, 0), &v).is_none());
        assert!(m.get(h, owner, &value(2)).is_none());
        // Many values: the memo never holds more than its budget, and what it answers is
        // always the answer given for those bytes.
        for i in 0..2000 {
            let v = value(i);
            let h = hash(owner, &v);
            for _ in 0..2 {
                m.offer(h, owner, &v, 0, || i);
            }
            assert!(m.used <= m.budget);
            assert_eq!(m.get(h, owner, &v), Some(&i));
        }
        assert!(m.kept.len() < 2000);
        assert!(!fits(&[0; MIN - 1]) && fits(&[0; MIN]) && !fits(&vec![0; MAX + 1]));
    }
}
