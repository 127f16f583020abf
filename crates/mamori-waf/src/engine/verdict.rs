//! What each link gave on a request value, remembered across requests.
//!
//! A link with an operator compiled at load is a pure function of the value it reads: its
//! transformation chain, its prefilter and its operator depend on nothing else. Browsers
//! send the same headers and cookie names on every request of a visit, and a site's paths
//! and parameters repeat, so most values a request carries were already run through every
//! link that reads them. For each such value a thread keeps one verdict per link — "gave no
//! match" or "matched" — and a link whose values are all known not to match is passed over
//! without transforming or scanning anything.
//!
//! Within a transaction a value's verdicts are a small bit table found by the value's key
//! (its place in the request); they are loaded from the thread's memo on the value's first
//! use and written back when the transaction ends if a link added to them. The memo keeps
//! a value only on its second sight and checks the bytes and rule set on every hit (see
//! [`super::memo`]), so a value that never repeats costs one hash.

use super::memo::{self, Memo};
use super::prefilter::FxMap;
use std::cell::RefCell;

/// Bytes of values and verdict tables a thread keeps before it starts over.
const BUDGET: usize = 8 << 20;
/// Most values a transaction keeps tables for; further values go the long way.
const MAX_VALUES: usize = 4096;
/// Value tables a pooled transaction cache keeps allocated for the next request.
const SPARE_VALUES: usize = 256;

thread_local! {
    /// (rule set, value bytes) → verdict table.
    static KEPT: RefCell<Memo<Box<[u64]>>> = const { RefCell::new(Memo::new(BUDGET)) };
}

/// One value's table: two bits per link slot, "known" and "matched".
#[derive(Debug, Default)]
struct Table {
    hash: u64,
    /// The value's length (its bytes are kept only when the table is not dormant).
    len: usize,
    bytes: Vec<u8>,
    words: Vec<u64>,
    /// A link added a verdict during this transaction.
    dirty: bool,
    /// The value's first sight: nothing is recorded for it (most values seen once are
    /// never seen again); the memo notes its hash when the transaction ends.
    dormant: bool,
}

/// The verdicts of one transaction's values, by value key.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// The rule set whose links the tables are for, and a table's size for it.
    owner: u64,
    words: usize,
    /// Value key → table: keys of the first [`DENSE_INDEX`] values of each storage in
    /// `dense` (by storage, the table's index + 1, 0 for none), the others in `index`.
    dense: Vec<Vec<u32>>,
    index: FxMap<u64, u32>,
    tables: Vec<Table>,
    used: usize,
    /// Per collection (by its union code): the links every one of its values is known not
    /// to match, one bit per slot in the low bit of its pair; valid while `ready` has the
    /// code's bit.
    misses: Vec<Vec<u64>>,
    /// The same over the collection's values that have verdicts (seen on an earlier
    /// request), for the collections with others (bits of `with_new`): with it, a link is
    /// ruled out by the scans of the new values alone.
    seen_misses: Vec<Vec<u64>>,
    with_new: u64,
    ready: u64,
}

/// The low bit of every two-bit pair.
const LOW: u64 = 0x5555_5555_5555_5555;

/// Value keys (see `tx::keys`: storage in the high half, place × 2 + name-or-value in the
/// low half) below these bounds are found in a dense table rather than a hash map.
const DENSE_STORES: usize = 32;
const DENSE_INDEX: usize = 1024;

/// The dense table position of a value key, when it has one.
#[inline]
fn dense_at(key: u64) -> Option<(usize, usize)> {
    let (store, at) = ((key >> 32) as usize, (key & 0xffff_ffff) as usize);
    (store < DENSE_STORES && at < DENSE_INDEX).then_some((store, at))
}

/// The low ("known not to match") bit of link `slot`'s pair in a collection's words.
#[inline]
fn miss_bit(words: &[u64], slot: u32) -> bool {
    (words[slot as usize / 32] >> ((slot % 32) * 2)) & 1 == 1
}

/// The words a table for `slots` link slots needs.
pub fn words_for(slots: u32) -> usize {
    (slots as usize * 2).div_ceil(64)
}

impl Verdicts {
    /// Starts a transaction of rule set `owner`, whose tables are `words` long.
    pub fn begin(&mut self, owner: u64, words: usize) {
        self.owner = owner;
        self.words = words;
    }

    /// The table of the value under `key` (bytes `value`), loading it from the thread's memo
    /// on first use; `None` when the value is too long to keep or the transaction has too
    /// many values.
    fn table(&mut self, key: u64, value: &[u8]) -> Option<&mut Table> {
        let (owner, words) = (self.owner, self.words);
        let known = match dense_at(key) {
            Some((store, at)) => self
                .dense
                .get(store)
                .and_then(|d| d.get(at))
                .and_then(|&i| i.checked_sub(1)),
            None => self.index.get(&key).copied(),
        };
        if let Some(i) = known {
            let t = &mut self.tables[i as usize];
            // A key names one place in the request, whose value stays put once parsed.
            return (t.len == value.len()).then_some(t);
        }
        if value.len() > memo::MAX || self.used >= MAX_VALUES || words == 0 {
            return None;
        }
        let hash = memo::hash((owner, 0), value);
        if self.used == self.tables.len() {
            self.tables.push(Table::default());
        }
        let t = &mut self.tables[self.used];
        t.hash = hash;
        t.len = value.len();
        t.dirty = false;
        t.bytes.clear();
        t.words.clear();
        t.dormant = KEPT.with(|m| {
            let m = m.borrow();
            match m.get(hash, (owner, 0), value) {
                Some(kept) if kept.len() == words => {
                    t.words.extend_from_slice(kept);
                    false
                }
                _ => !m.seen(hash),
            }
        });
        if !t.dormant {
            t.words.resize(words, 0);
            t.bytes.extend_from_slice(value);
        }
        match dense_at(key) {
            Some((store, at)) => {
                if self.dense.len() <= store {
                    self.dense.resize_with(store + 1, Vec::new);
                }
                let d = &mut self.dense[store];
                if d.len() <= at {
                    d.resize(at + 1, 0);
                }
                d[at] = self.used as u32 + 1;
            }
            None => {
                self.index.insert(key, self.used as u32);
            }
        }
        self.used += 1;
        Some(&mut self.tables[self.used - 1])
    }

    /// The verdict of link `slot` on the value under `key`: `Some(matched)` when known.
    #[inline]
    pub fn get(&mut self, key: u64, value: &[u8], slot: u32) -> Option<bool> {
        let t = self.table(key, value).filter(|t| !t.dormant)?;
        let bits = (t.words[slot as usize / 32] >> ((slot % 32) * 2)) & 3;
        (bits & 1 == 1).then_some(bits & 2 == 2)
    }

    /// Records the verdict of link `slot` on the value under `key`.
    pub fn set(&mut self, key: u64, value: &[u8], slot: u32, matched: bool) {
        let Some(t) = self.table(key, value).filter(|t| !t.dormant) else {
            return;
        };
        let w = &mut t.words[slot as usize / 32];
        let shift = (slot % 32) * 2;
        let bits = 1 | (u64::from(matched) << 1);
        if (*w >> shift) & 3 != bits {
            *w = (*w & !(3 << shift)) | (bits << shift);
            t.dirty = true;
        }
    }

    /// Whether every value of collection `code` is known not to match link `slot`, once
    /// [`Verdicts::collection`] computed it.
    #[inline]
    pub fn collection_miss(&self, code: u64, slot: u32) -> Option<bool> {
        self.ready(code)
            .then(|| miss_bit(&self.misses[code as usize], slot))
    }

    /// Whether [`Verdicts::collection`] computed collection `code` for this transaction.
    #[inline]
    pub fn ready(&self, code: u64) -> bool {
        code < 64 && self.ready & (1 << code) != 0
    }

    /// Whether every value of collection `code` that has verdicts is known not to match link
    /// `slot` (the others being values no earlier request carried), once computed.
    #[inline]
    pub fn seen_miss(&self, code: u64, slot: u32) -> Option<bool> {
        if !self.ready(code) {
            return None;
        }
        let of = match self.with_new & (1 << code) {
            0 => &self.misses,
            _ => &self.seen_misses,
        };
        Some(miss_bit(&of[code as usize], slot))
    }

    /// Whether collection `code`, computed for this transaction, holds a value without
    /// verdicts.
    #[inline]
    pub fn has_new(&self, code: u64) -> bool {
        self.ready(code) && self.with_new & (1 << code) != 0
    }

    /// Whether the value under `key` has no verdicts: its first sight, or too long to keep.
    #[inline]
    pub fn is_new(&mut self, key: u64, value: &[u8]) -> bool {
        self.table(key, value).filter(|t| !t.dormant).is_none()
    }

    /// Whether every value of each of these collections is known not to match link
    /// `slot` (false while one of them is not computed yet).
    #[inline]
    pub fn all_miss(&self, codes: &[u8], slot: u32) -> bool {
        codes
            .iter()
            .all(|&c| self.collection_miss(u64::from(c), slot) == Some(true))
    }

    /// Computes what collection `code`'s values are all known not to match: `values` calls
    /// its argument with each value's key (`None`: a value without one) and bytes.
    pub fn collection(
        &mut self,
        code: u64,
        values: impl FnOnce(&mut dyn FnMut(Option<u64>, &[u8])),
    ) {
        let words = self.words;
        if code >= 64 {
            return;
        }
        if self.misses.len() <= code as usize {
            self.misses.resize_with(code as usize + 1, Vec::new);
        }
        if self.seen_misses.len() <= code as usize {
            self.seen_misses.resize_with(code as usize + 1, Vec::new);
        }
        let mut acc = std::mem::take(&mut self.misses[code as usize]);
        acc.clear();
        acc.resize(words, LOW);
        // Only once a value without verdicts turns up: until then it is `acc`.
        let mut seen = std::mem::take(&mut self.seen_misses[code as usize]);
        let mut with_new = false;
        values(&mut |key, value| {
            let known = match key {
                Some(k) => self.table(k, value).filter(|t| !t.dormant),
                None => None,
            };
            match known {
                Some(t) => {
                    let acc = if with_new { &mut seen } else { &mut acc };
                    for (a, w) in acc.iter_mut().zip(&t.words) {
                        *a &= w & !(w >> 1);
                    }
                }
                // A value without a key has neither verdicts nor a scan of its own: no link
                // is known not to match the collection, nor ruled out on its new values.
                None if key.is_none() => {
                    acc.fill(0);
                    seen.fill(0);
                }
                None => {
                    if !with_new {
                        with_new = true;
                        seen.clone_from(&acc);
                        acc.fill(0);
                    }
                }
            }
        });
        self.misses[code as usize] = acc;
        self.seen_misses[code as usize] = seen;
        self.with_new = (self.with_new & !(1 << code)) | (u64::from(with_new) << code);
        self.ready |= 1 << code;
    }

    /// Forgets the collections' verdicts (a collection changed: the body was parsed).
    pub fn clear_collections(&mut self) {
        self.ready = 0;
    }

    /// Offers the tables links added to to the thread's memo and empties the transaction's.
    pub fn flush(&mut self) {
        if self.tables[..self.used]
            .iter()
            .any(|t| t.dirty || t.dormant)
        {
            let owner = (self.owner, 0);
            KEPT.with(|m| {
                let m = &mut *m.borrow_mut();
                for t in self.tables[..self.used].iter().filter(|t| t.dormant) {
                    m.note(t.hash);
                }
                for t in self.tables[..self.used].iter().filter(|t| t.dirty) {
                    m.offer(t.hash, owner, &t.bytes, t.words.len() * 8, || {
                        t.words.clone().into_boxed_slice()
                    });
                }
            });
        }
        self.index.clear();
        for d in &mut self.dense {
            d.clear();
        }
        self.used = 0;
        self.ready = 0;
        self.tables.truncate(SPARE_VALUES);
        for t in &mut self.tables {
            if t.bytes.capacity() > memo::MAX {
                t.bytes = Vec::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_kept_per_value_and_rule_set_across_transactions() {
        let words = words_for(40);
        let ua = b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101";
        // One transaction: the verdicts known before it, and those known once it set two.
        let run = |v: &mut Verdicts, owner: u64, key: u64, value: &[u8]| {
            v.begin(owner, words);
            let get = |v: &mut Verdicts| (v.get(key, value, 3), v.get(key, value, 39));
            let before = get(v);
            v.set(key, value, 3, false);
            v.set(key, value, 39, true);
            let after = get(v);
            assert_eq!(v.get(key, value, 4), None);
            v.flush();
            (before, after)
        };
        let (unknown, known) = ((None, None), (Some(false), Some(true)));
        let mut v = Verdicts::default();
        // First sight: nothing is recorded. Second: recorded, and kept at the end. Third:
        // known from the start, under any key.
        assert_eq!(run(&mut v, 1, 7, ua), (unknown, unknown));
        assert_eq!(run(&mut v, 1, 7, ua), (unknown, known));
        assert_eq!(run(&mut v, 1, 7, ua), (known, known));
        let far = (40u64 << 32) | (5000 << 1);
        assert_eq!(run(&mut v, 1, far, ua), (known, known));
        // Another rule set, or other bytes, know nothing of them.
        assert_eq!(run(&mut v, 2, 7, ua).0, unknown);
        let other = b"Mozilla/5.0 (X11; Linux x86_64; rv:129.0)";
        assert_eq!(run(&mut v, 1, 7, other).0, unknown);
        // A key whose bytes changed length is not answered from the old table.
        v.begin(1, words);
        assert_eq!(v.get(9, ua, 3), Some(false));
        assert_eq!(v.get(9, &ua[1..], 3), None);
        v.flush();
        // Values too long to keep go unanswered.
        let long = vec![b'a'; memo::MAX + 1];
        for _ in 0..3 {
            v.begin(1, words);
            v.set(8, &long, 0, false);
            assert_eq!(v.get(8, &long, 0), None);
            v.flush();
        }
    }
}
