//! Rules whose outcome is settled at load: they read only `TX` variables that nothing after
//! the constant start of phase 1 (the prelude) writes, so they match on every request or on
//! none. CRS has about a hundred of them on each request's path — the paranoia-level gates
//! (`TX:EXECUTING_PARANOIA_LEVEL "@lt 2"` … `skipAfter`), the application-exclusion switches,
//! the checks that a setup value is present — and running them cost a fifth of the engine's
//! time on a plain request, more when their rules had left the CPU caches.
//!
//! Rules whose outcome is settled unless the request changed what they read ([`Replay`]):
//! rules that read only named `TX` keys and write only `TX` — CRS's score sums
//! (`setvar:'tx.anomaly_score=+%{tx.anomaly_score_pl1}'`), its blocking and reporting checks
//! — run once at load from the prelude's state, recording every key they read. A request
//! that wrote none of those keys (the transaction logs the keys it changes) gets their
//! recorded effect without running them; any other runs them as written.
//!
//! Rules that read request data too and do work on every request — CRS's rules that
//! capture each header name, the file extension or the `User-Agent` hash into `TX` — are
//! remembered per thread by their inputs ([`Fixed::Memo`]): the values their targets hold,
//! which are the memo's key, and the `TX` keys they read, which the request must have left
//! alone. A request with the same inputs gets the recorded effect.

use super::compile::{Action, Disruptive, Entry, Link, Op, Rule};
use super::macros::{Part, Template};
use super::prefilter::FxMap;
use super::vars::{Sel, Var};

/// What is known of one phase entry before any request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fixed {
    /// Depends on the request: evaluate it.
    #[default]
    No,
    /// Never matches.
    Never,
    /// Always matches: the index of its [`FixedMatch`].
    Always(u32),
    /// Does what its [`Replay`] (by index) says while the keys it reads are the prelude's.
    Replay(u32),
    /// Reads request data and writes `TX`: remembered per thread by its inputs.
    Memo,
}

/// The effect of a rule that always matches.
#[derive(Debug, Clone, Default)]
pub struct FixedMatch {
    /// The entry evaluation continues at (after `skipAfter` or `skip`).
    pub next: usize,
    pub severity: Option<u8>,
    /// `MATCHED_VARS` as the match leaves them (name, value); the last is `MATCHED_VAR`.
    pub vars: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a rule did when run from the prelude's state, and the `TX` keys its outcome
/// depends on.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub reads: KeySet,
    /// `TX` members it read by pattern (`TX:/^header_name_/`): a request that changed a key
    /// one of them selects changed its outcome.
    pub sels: Vec<Sel>,
    /// The entry evaluation continues at (past the rule, or where its match jumps: a rule
    /// that matched only passes, without logging).
    pub next: usize,
    pub severity: Option<u8>,
    /// `TX` entries it set (to these values) and removed.
    pub sets: Vec<(Vec<u8>, Vec<u8>)>,
    pub removes: Vec<Vec<u8>>,
    /// `MATCHED_VARS` as it leaves them, and `MATCHED_VAR` (value, name) when it set it.
    pub vars: Vec<(Vec<u8>, Vec<u8>)>,
    pub last: Option<(Vec<u8>, Vec<u8>)>,
}

impl Replay {
    /// Roughly the bytes it holds.
    pub fn size(&self) -> usize {
        let pairs =
            |v: &[(Vec<u8>, Vec<u8>)]| v.iter().map(|(a, b)| a.len() + b.len() + 48).sum::<usize>();
        pairs(&self.sets)
            + pairs(&self.vars)
            + self.removes.iter().map(|k| k.len() + 24).sum::<usize>()
            + self.reads.keys.iter().map(|k| k.len() + 24).sum::<usize>()
            + self.sels.len() * 64
            + self.last.as_ref().map_or(0, |(a, b)| a.len() + b.len())
            + 160
    }
}

/// A few keys, with a 256-bit filter of their hashes for a quick "none of these" answer.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub filter: [u64; 4],
    pub keys: Vec<Vec<u8>>,
}

impl KeySet {
    /// The filter bit of a key.
    #[inline]
    pub fn bit(key: &[u8]) -> (usize, u64) {
        use std::hash::Hasher;
        let mut h = super::prefilter::FxHasher::default();
        h.write(key);
        let h = h.finish();
        let h = h ^ (h >> 29) ^ (h >> 47);
        (((h >> 6) & 3) as usize, 1 << (h & 63))
    }

    pub fn insert(&mut self, key: &[u8]) {
        if !self.keys.iter().any(|k| k == key) {
            let (w, b) = KeySet::bit(key);
            self.filter[w] |= b;
            self.keys.push(key.to_vec());
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.contains_at(key, KeySet::bit(key))
    }

    /// [`KeySet::contains`] for a key whose [`KeySet::bit`] is known.
    #[inline]
    pub fn contains_at(&self, key: &[u8], (w, b): (usize, u64)) -> bool {
        self.filter[w] & b != 0 && self.keys.iter().any(|k| k == key)
    }
}

/// Per phase, by entry, what is fixed; the matches of the rules that always match, and the
/// replays.
#[derive(Debug, Default)]
pub struct FixedRules {
    pub phases: [Vec<Fixed>; 5],
    pub matches: Vec<FixedMatch>,
    pub replays: Vec<Replay>,
}

/// The `TX` keys rules may write after the prelude: literal keys, and keys built from macros
/// (any key holding all their literal parts).
#[derive(Debug, Default)]
pub struct TxWrites {
    keys: FxMap<Vec<u8>, ()>,
    built: Vec<Vec<Vec<u8>>>,
}

impl TxWrites {
    /// The writes of every rule of `phases` except phase 1's first `resume` entries.
    pub fn of(phases: &[Vec<Entry>; 5], resume: usize) -> TxWrites {
        let mut w = TxWrites::default();
        for (pi, entries) in phases.iter().enumerate() {
            let from = if pi == 0 { resume } else { 0 };
            for e in entries.iter().skip(from) {
                if let Entry::Rule(rule) = e {
                    for link in &rule.links {
                        w.add_link(link);
                    }
                }
            }
        }
        w
    }

    fn add_link(&mut self, link: &Link) {
        if link.capture {
            for d in b'0'..=b'9' {
                self.keys.insert(vec![d], ());
            }
        }
        for a in &link.actions {
            // SetVar on a collection that is not a store writes TX (see `Transaction::action`).
            if let Action::SetVar { coll, key, .. } = a {
                if super::tx::store_index(*coll).is_none() {
                    self.add_key(key);
                }
            }
        }
    }

    fn add_key(&mut self, key: &Template) {
        let lits: Vec<Vec<u8>> = key
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Lit(l) => Some(l.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        if lits.len() == key.parts.len() {
            self.keys.insert(lits.concat(), ());
        } else {
            self.built.push(lits);
        }
    }

    /// Whether some rule after the prelude may write `TX:key` (`key` lowercase).
    pub fn may_write(&self, key: &[u8]) -> bool {
        self.keys.contains_key(key)
            || self.built.iter().any(|lits| {
                lits.iter()
                    .all(|l| l.is_empty() || key.windows(l.len()).any(|w| w == &l[..]))
            })
    }

    /// Whether a macro argument reads only `TX` keys no rule writes after the prelude.
    fn template_fixed(&self, t: &Template) -> bool {
        t.parts.iter().all(|p| match p {
            Part::Lit(_) | Part::Rule(_) => true,
            Part::Var(Var::Tx, Some(k)) => !self.may_write(k),
            Part::Var(..) => false,
        })
    }

    /// Whether the rule's outcome is the same on every request: each link (a chain's too)
    /// over `TX` keys (values or counts) that are fixed after the prelude, with a constant or
    /// fixed argument, and no effect but its match (no actions, no log, `pass`).
    pub fn rule_fixed(&self, rule: &Rule) -> bool {
        !rule.links.is_empty()
            && !rule.log
            && rule.disruptive == Disruptive::Pass
            && rule.links.iter().all(|link| self.link_fixed(link))
    }

    /// Whether the rule may be remembered by its inputs ([`Fixed::Memo`]): it does work when
    /// it matches (captures or `setvar`), reads request data that stays put once parsed or
    /// `TX`, and changes only `TX`. Whether a run really read and changed only that is
    /// checked as it runs.
    pub fn rule_memo(rule: &Rule) -> bool {
        let template = |t: &Template| t.reads_only_tx();
        let works = rule
            .links
            .iter()
            .any(|l| l.capture || !l.actions.is_empty());
        let reads_request = rule
            .links
            .first()
            .is_some_and(|l| l.targets.iter().any(|t| t.var != Var::Tx));
        works
            && reads_request
            && rule.links.iter().all(|l| {
                !l.unconditional
                    && l.targets
                        .iter()
                        .all(|t| t.var == Var::Tx || super::tx::union_code(t).is_some())
                    && match &l.op {
                        Op::Static(_) => true,
                        Op::Dynamic { arg, .. } => template(arg),
                        Op::Inert => false,
                    }
                    && l.actions.iter().all(|a| match a {
                        Action::SetVar {
                            coll, key, value, ..
                        } => {
                            super::tx::store_index(*coll).is_none()
                                && template(key)
                                && template(value)
                        }
                        _ => false,
                    })
            })
    }

    fn link_fixed(&self, link: &Link) -> bool {
        !link.unconditional
            && !link.capture
            && link.actions.is_empty()
            && link.excludes.is_empty()
            && !link.targets.is_empty()
            && link
                .targets
                .iter()
                .all(|t| t.var == Var::Tx && matches!(&t.sel, Sel::Name(n) if !self.may_write(n)))
            && match &link.op {
                Op::Static(_) => true,
                Op::Dynamic { arg, .. } => self.template_fixed(arg),
                Op::Inert => false,
            }
    }
}
