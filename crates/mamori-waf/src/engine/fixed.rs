//! Rules whose outcome is settled at load: they read only `TX` variables that nothing after
//! the constant start of phase 1 (the prelude) writes, so they match on every request or on
//! none. CRS has about a hundred of them on each request's path — the paranoia-level gates
//! (`TX:EXECUTING_PARANOIA_LEVEL "@lt 2"` … `skipAfter`), the application-exclusion switches,
//! the checks that a setup value is present — and running them cost a fifth of the engine's
//! time on a plain request, more when their rules had left the CPU caches.

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

/// Per phase, by entry, what is fixed; and the matches of the rules that always match.
#[derive(Debug, Default)]
pub struct FixedRules {
    pub phases: [Vec<Fixed>; 5],
    pub matches: Vec<FixedMatch>,
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
