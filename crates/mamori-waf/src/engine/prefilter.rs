//! What makes per-request work cheap: transformation chains interned as a trie (so a
//! transaction computes each (value, chain prefix) once), and one Aho-Corasick automaton
//! over every operator's required literals (so a value is scanned once per transformation
//! chain and most `@rx` never run).

use super::memo::{self, Memo};
use crate::transform::Transform;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A node of the transformation trie: the chain from the root to it. 0 is "no transform".
pub type ChainId = u32;

/// Interned transformation chains.
#[derive(Debug, Clone)]
pub struct Chains {
    /// (parent, transform) of each node; node 0 is the root.
    nodes: Vec<(ChainId, Transform)>,
    index: HashMap<(ChainId, Transform), ChainId>,
}

impl Chains {
    pub fn new() -> Chains {
        Chains {
            nodes: vec![(0, Transform::None)],
            index: HashMap::new(),
        }
    }

    /// The node of a chain (creating it).
    pub fn intern(&mut self, ts: &[Transform]) -> ChainId {
        let mut at = 0;
        for &t in ts {
            if t == Transform::None {
                at = 0;
                continue;
            }
            at = match self.index.get(&(at, t)) {
                Some(&n) => n,
                None => {
                    let n = self.nodes.len() as ChainId;
                    self.nodes.push((at, t));
                    self.index.insert((at, t), n);
                    n
                }
            };
        }
        at
    }

    /// (parent, transform) of a node other than the root.
    pub fn node(&self, id: ChainId) -> (ChainId, Transform) {
        self.nodes[id as usize]
    }

    /// The transforms from the root to `id`.
    pub fn path(&self, id: ChainId) -> Vec<Transform> {
        let mut out = Vec::new();
        let mut at = id;
        while at != 0 {
            let (p, t) = self.nodes[at as usize];
            out.push(t);
            at = p;
        }
        out.reverse();
        out
    }

    /// The nodes from the root (exclusive) to `id` (inclusive), in order.
    pub fn path_nodes(&self, id: ChainId, out: &mut Vec<ChainId>) {
        out.clear();
        let mut at = id;
        while at != 0 {
            out.push(at);
            at = self.nodes[at as usize].0;
        }
        out.reverse();
    }
}

impl Default for Chains {
    fn default() -> Self {
        Chains::new()
    }
}

/// Literals collected at load.
#[derive(Debug, Default)]
pub struct LiteralIndex {
    lits: Vec<Vec<u8>>,
    ids: HashMap<Vec<u8>, u32>,
}

impl LiteralIndex {
    /// Registers an operator's literals (lowercase): single bytes go in a byte mask, longer
    /// literals get ids in the automaton.
    pub fn add(&mut self, lits: &[Vec<u8>]) -> Want {
        let mut bytes = [0u64; 4];
        for l in lits.iter().filter(|l| l.len() == 1) {
            let b = l[0].to_ascii_lowercase();
            bytes[(b >> 6) as usize] |= 1 << (b & 63);
        }
        let mut out: Vec<u32> = lits
            .iter()
            .filter(|l| l.len() > 1)
            .map(|l| {
                let l = l.to_ascii_lowercase();
                match self.ids.get(&l) {
                    Some(&id) => id,
                    None => {
                        let id = self.lits.len() as u32;
                        self.ids.insert(l.clone(), id);
                        self.lits.push(l);
                        id
                    }
                }
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        Want { bytes, ids: out }
    }

    /// The automaton; `id` is the rule set's (unique per load, see [`Literals`]).
    pub fn build(self, id: u64) -> Option<Literals> {
        if self.lits.is_empty() {
            return Some(Literals { ac: None, id });
        }
        let build = |kind| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(kind)
                .build(&self.lits)
        };
        // A full DFA scans fastest; fall back when the literals make it too big.
        let ac = build(Some(AhoCorasickKind::DFA))
            .or_else(|_| build(None))
            .ok()?;
        Some(Literals { ac: Some(ac), id })
    }
}

/// What a link's operator needs: one of these bytes or one of these literal ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Want {
    /// Single-byte literals (lowercase), as a 256-bit mask.
    pub bytes: [u64; 4],
    /// Ids of longer literals, sorted.
    pub ids: Vec<u32>,
}

/// What a value contains: its (lowercased) bytes as a mask, and the literal ids found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub bytes: [u64; 4],
    pub ids: Vec<u32>,
}

impl Scan {
    /// Adds what `other` contains; the ids are left unsorted until [`Scan::sort`].
    pub fn merge(&mut self, other: &Scan) {
        for i in 0..4 {
            self.bytes[i] |= other.bytes[i];
        }
        self.ids.extend_from_slice(&other.ids);
    }

    /// Sorts and deduplicates the ids (after [`Scan::merge`]).
    pub fn sort(&mut self) {
        self.ids.sort_unstable();
        self.ids.dedup();
    }

    #[inline]
    pub fn satisfies(&self, want: &Want) -> bool {
        self.has_any(&want.bytes, &want.ids)
    }

    /// Whether the scan holds one of these bytes or literal ids (sorted).
    #[inline]
    pub fn has_any(&self, bytes: &[u64; 4], ids: &[u32]) -> bool {
        (self.bytes[0] & bytes[0])
            | (self.bytes[1] & bytes[1])
            | (self.bytes[2] & bytes[2])
            | (self.bytes[3] & bytes[3])
            != 0
            || intersects(&self.ids, ids)
    }
}

/// The automaton over every required literal.
#[derive(Debug, Clone)]
pub struct Literals {
    ac: Option<AhoCorasick>,
    /// The rule set's id: tells this automaton's literal ids from another's in the memo of
    /// scans.
    id: u64,
}

/// Bytes of values (and their ids) a thread's memo of scans holds before it starts over.
const SCAN_MEMO_BUDGET: usize = 4 << 20;

thread_local! {
    /// Scans of values seen on more than one request (see [`super::memo`]).
    static SCAN_MEMO: std::cell::RefCell<Memo<Scan>> =
        const { std::cell::RefCell::new(Memo::new(SCAN_MEMO_BUDGET)) };
}

impl Literals {
    /// As [`Literals::scan`], from this thread's memo of repeated values when it has it.
    pub fn scan_memo(&self, hay: &[u8], out: &mut Scan) {
        if !memo::fits(hay) || self.ac.is_none() {
            return self.scan(hay, out);
        }
        let owner = (self.id, 0);
        let h = memo::hash(owner, hay);
        SCAN_MEMO.with(|m| {
            let m = &mut *m.borrow_mut();
            if let Some(scan) = m.get(h, owner, hay) {
                out.bytes = scan.bytes;
                out.ids.clear();
                out.ids.extend_from_slice(&scan.ids);
                return;
            }
            self.scan(hay, out);
            m.offer(h, owner, hay, out.ids.len() * 4, || Scan {
                bytes: out.bytes,
                ids: out.ids.clone(),
            });
        });
    }

    /// The bytes and literal ids `hay` contains (ids sorted and deduplicated).
    pub fn scan(&self, hay: &[u8], out: &mut Scan) {
        out.ids.clear();
        out.bytes = [0; 4];
        for &b in hay {
            let b = b.to_ascii_lowercase();
            out.bytes[(b >> 6) as usize] |= 1 << (b & 63);
        }
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(hay) {
                out.ids.push(m.pattern().as_u32());
            }
        }
        if out.ids.len() > 1 {
            out.ids.sort_unstable();
            out.ids.dedup();
        }
    }
}

/// Whether two sorted id lists share an id.
pub fn intersects(a: &[u32], b: &[u32]) -> bool {
    if a.is_empty() || b.is_empty() {
        return false;
    }
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if small.len() * 8 < large.len() {
        return small.iter().any(|x| large.binary_search(x).is_ok());
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    false
}

/// A fast hasher for integer keys (FxHash).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Whole words, then the tail byte by byte: copying each chunk into a buffer made a
        // memcpy call per 8 bytes of every TX key looked up.
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.write_u64(u64::from_le_bytes(b));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            let v = tail
                .iter()
                .rev()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b));
            self.write_u64(v);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A cached (value, chain) result: the transformed bytes and the literals found in them.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Index in the arena, or [`SOURCE`] when the chain left the value unchanged.
    data: u32,
}

/// The transformed value is the source value itself.
pub const SOURCE: u32 = u32::MAX;

/// Caches kept per thread for reuse. A thread has a transaction open for each request it is
/// forwarding (from its headers until the upstream's answer is through), dozens under load:
/// with room for 8 only, every other request allocated a fresh cache.
const CACHE_POOL_SIZE: usize = 64;
/// Id lists a cache keeps for reuse, and the longest kept.
const SPARE_ID_LISTS: usize = 256;
const SPARE_ID_CAPACITY: usize = 1024;

thread_local! {
    static CACHE_POOL: std::cell::RefCell<Vec<Cache>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Per-transaction cache of transformation results and literal scans.
#[derive(Debug, Default)]
pub struct Cache {
    map: FxMap<u64, Slot>,
    arena: Vec<Vec<u8>>,
    scans: Vec<Scan>,
    /// (source value or arena entry) → index in `scans`.
    scan_index: FxMap<u64, u32>,
    /// Id lists of the scans and unions of earlier requests, emptied, for reuse.
    spare_ids: Vec<Vec<u32>>,
    /// Per (collection, chain): what all its transformed values contain together.
    unions: FxMap<u64, Scan>,
    /// What links gave on the request's values, here and on earlier requests.
    pub verdicts: super::verdict::Verdicts,
}

fn key(value: u64, chain: ChainId) -> u64 {
    (value << 20) ^ u64::from(chain)
}

impl Cache {
    /// The result of `chain` on the value identified by `value_key` (bytes `src`): an arena
    /// index or [`SOURCE`].
    pub fn transformed(
        &mut self,
        chains: &Chains,
        value_key: u64,
        src: &[u8],
        chain: ChainId,
    ) -> u32 {
        if chain == 0 {
            return SOURCE;
        }
        let k = key(value_key, chain);
        if let Some(s) = self.map.get(&k) {
            return s.data;
        }
        let (parent, t) = chains.node(chain);
        let p = self.transformed(chains, value_key, src, parent);
        let input: &[u8] = if p == SOURCE {
            src
        } else {
            &self.arena[p as usize]
        };
        let owned = match t.apply(input) {
            std::borrow::Cow::Borrowed(b)
                if b.len() == input.len() && b.as_ptr() == input.as_ptr() =>
            {
                None
            }
            other => Some(other.into_owned()),
        };
        let data = match owned {
            None => p,
            Some(v) => {
                self.arena.push(v);
                (self.arena.len() - 1) as u32
            }
        };
        self.map.insert(k, Slot { data });
        data
    }

    /// The bytes of a [`Cache::transformed`] result.
    pub fn bytes<'a>(&'a self, data: u32, src: &'a [u8]) -> &'a [u8] {
        if data == SOURCE {
            src
        } else {
            &self.arena[data as usize]
        }
    }

    /// Whether the transformed value (`value_key`, `chain`, giving `data`) contains one of
    /// `want`'s literals. Scans are cached by the bytes' identity, so chains that leave a
    /// value unchanged share one scan.
    pub fn has_literal(
        &mut self,
        lits: &Literals,
        value_key: u64,
        _chain: ChainId,
        data: u32,
        src: &[u8],
        want: &Want,
    ) -> bool {
        self.scan_of(lits, value_key, _chain, data, src)
            .satisfies(want)
    }

    /// An empty cache with room for a typical request.
    pub fn with_room() -> Cache {
        let mut map = FxMap::default();
        map.reserve(512);
        Cache {
            map,
            arena: Vec::with_capacity(64),
            scans: Vec::with_capacity(64),
            scan_index: FxMap::default(),
            spare_ids: Vec::new(),
            unions: FxMap::default(),
            verdicts: Default::default(),
        }
    }

    /// A cleared cache from this thread's pool, else a new one: a fresh cache's tables are
    /// about 20 KB, too large for the allocator's small-block caches, and were otherwise
    /// allocated and freed on every request.
    pub fn pooled() -> Cache {
        CACHE_POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(Cache::with_room)
    }

    /// An empty scan, in an id list an earlier request used when there is one.
    pub fn scan(&mut self) -> Scan {
        let mut ids = self.spare_ids.pop().unwrap_or_default();
        ids.clear();
        Scan { bytes: [0; 4], ids }
    }

    /// Empties the cache (keeping its tables' capacity) and returns it to this thread's pool.
    pub fn recycle(mut self) {
        self.verdicts.flush();
        self.map.clear();
        self.arena.clear();
        let mut scans = std::mem::take(&mut self.scans);
        self.keep_ids(scans.drain(..));
        self.scans = scans;
        self.clear_unions();
        self.scan_index.clear();
        // A request with huge values must not pin its tables for the thread's lifetime.
        if self.map.capacity() > 4096 || self.scans.capacity() > 1024 {
            return;
        }
        CACHE_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < CACHE_POOL_SIZE {
                p.push(self);
            }
        });
    }

    /// The scan of a transformed value (computing it once per distinct bytes).
    pub fn scan_of(
        &mut self,
        lits: &Literals,
        value_key: u64,
        _chain: ChainId,
        data: u32,
        src: &[u8],
    ) -> &Scan {
        let k = if data == SOURCE {
            (value_key << 1) | 1
        } else {
            u64::from(data) << 1
        };
        let idx = match self.scan_index.get(&k) {
            Some(&i) => i,
            None => {
                let mut out = self.scan();
                let hay: &[u8] = if data == SOURCE {
                    src
                } else {
                    &self.arena[data as usize]
                };
                lits.scan_memo(hay, &mut out);
                self.scans.push(out);
                let idx = (self.scans.len() - 1) as u32;
                self.scan_index.insert(k, idx);
                idx
            }
        };
        &self.scans[idx as usize]
    }

    /// A collection's union scan for a chain, when computed.
    pub fn union(&self, coll: u64, chain: ChainId) -> Option<&Scan> {
        self.unions.get(&key(coll, chain))
    }

    pub fn set_union(&mut self, coll: u64, chain: ChainId, scan: Scan) {
        self.unions.insert(key(coll, chain), scan);
    }

    /// Forgets the unions (a request collection changed: the body was parsed).
    pub fn clear_unions(&mut self) {
        self.verdicts.clear_collections();
        let mut unions = std::mem::take(&mut self.unions);
        self.keep_ids(unions.drain().map(|(_, scan)| scan));
        self.unions = unions;
    }

    /// Keeps the scans' id lists for reuse (up to [`SPARE_ID_LISTS`], none of them huge).
    fn keep_ids(&mut self, scans: impl IntoIterator<Item = Scan>) {
        for scan in scans {
            if self.spare_ids.len() < SPARE_ID_LISTS && scan.ids.capacity() <= SPARE_ID_CAPACITY {
                self.spare_ids.push(scan.ids);
            }
        }
    }
}

/// Most targets a rule may have for [`Quick`].
pub const QUICK_TARGETS: usize = 12;

/// What it takes to rule out a rule's first link from the unions of its collections, kept
/// in one dense table in evaluation order so that the many rules a benign request cannot
/// match are passed over without reading the rules themselves (each in its own
/// allocations, they cost a cache miss or three apiece).
#[derive(Debug, Clone)]
pub struct Quick {
    /// The link's required bytes, and its literal ids as a range of [`QuickTable::ids`].
    pub bytes: [u64; 4],
    pub ids: (u32, u32),
    /// The link's transformation chain.
    pub chain: ChainId,
    /// The union codes of the link's targets (the first `targets` of them).
    pub codes: [u8; QUICK_TARGETS],
    pub targets: u8,
}

/// What it takes to rule out a rule's first link from what its collections' values are
/// known not to match (see [`super::verdict`]): its slot and its targets' union codes.
#[derive(Debug, Clone)]
pub struct VerdictQuick {
    pub slot: u32,
    pub codes: [u8; QUICK_TARGETS],
    pub targets: u8,
}

/// [`Quick`] entries of one phase, by entry index, and the literal ids they refer to; and
/// the [`VerdictQuick`] entries.
#[derive(Debug, Default)]
pub struct QuickTable {
    pub entries: Vec<Option<Quick>>,
    pub ids: Vec<u32>,
    pub verdicts: Vec<Option<VerdictQuick>>,
}
