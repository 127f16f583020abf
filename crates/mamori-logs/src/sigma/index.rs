//! The rule index: which rules an event can match. Rules are filed by (channel, event id)
//! from their logsource and the `EventID` values their detection requires, and each rule gets
//! the literals one of which any event it matches must contain (for the Aho-Corasick
//! prefilter in `matching.rs`) and a rough evaluation cost.
//!
//! Derivations are conservative: a rule for which no literal set or event id set can be proven
//! necessary is simply tried on every event of its channels.

use super::logsource::{self, Target};
use super::rule::{FnvBuild, Node};
use super::value::{self, Matcher};
use super::RuleSet;
use aho_corasick::AhoCorasick;
use std::collections::HashMap;

/// Shortest literal worth prefiltering on: shorter ones are in nearly every event.
const MIN_ATOM: usize = 3;
/// A keyword is searched in every value of an event: it costs about this many field tests.
const KEYWORD_COST: u64 = 32;

/// Rules of one channel (or of any Windows channel), by event id.
#[derive(Debug, Default)]
pub(super) struct Bucket {
    pub(super) by_eid: HashMap<u32, Vec<u32>, FnvBuild>,
    pub(super) any: Vec<u32>,
}

impl Bucket {
    pub(super) fn add(&mut self, rule: u32, eids: &[u32]) {
        if eids.is_empty() {
            self.any.push(rule);
        } else {
            for e in eids {
                self.by_eid.entry(*e).or_default().push(rule);
            }
        }
    }
}

/// The literals one of which must be present for `n` to hold (`None`: no such set).
fn required_atoms(n: &Node) -> Option<Vec<String>> {
    fn group_atoms(groups: &[Vec<Matcher>], all: bool) -> Option<Vec<String>> {
        if all {
            // Every group must match: any one group's alternatives will do; take the best.
            groups
                .iter()
                .filter_map(|g| alternatives(g))
                .max_by_key(|a| score(a))
        } else {
            let mut out = Vec::new();
            for g in groups {
                out.extend(alternatives(g)?);
            }
            Some(out)
        }
    }
    fn alternatives(g: &[Matcher]) -> Option<Vec<String>> {
        g.iter()
            .map(|m| m.atom().filter(|a| a.len() >= MIN_ATOM).map(str::to_string))
            .collect()
    }
    fn score(a: &[String]) -> (usize, std::cmp::Reverse<usize>) {
        let min = a.iter().map(String::len).min().unwrap_or(0);
        (min.min(12), std::cmp::Reverse(a.len()))
    }
    match n {
        Node::Field(fc) => group_atoms(&fc.values, fc.all),
        Node::Keywords { values, all } => group_atoms(values, *all),
        Node::And(v) => v.iter().filter_map(required_atoms).max_by_key(|a| score(a)),
        Node::Or(v) => {
            if v.is_empty() {
                return None;
            }
            let mut out = Vec::new();
            for x in v {
                out.extend(required_atoms(x)?);
            }
            Some(out)
        }
        Node::Not(_) | Node::Const(_) => None,
    }
}

/// Event ids the detection requires (`None`: any).
fn required_eids(n: &Node) -> Option<Vec<u32>> {
    match n {
        Node::Field(fc) if fc.name.eq_ignore_ascii_case("EventID") && !fc.all => {
            let mut ids = Vec::new();
            for g in &fc.values {
                for m in g {
                    match m {
                        Matcher::Str {
                            pat: value::StrPat::Exact(s),
                            ..
                        } => ids.push(s.trim().parse::<u32>().ok()?),
                        _ => return None,
                    }
                }
            }
            Some(ids)
        }
        Node::And(v) => {
            let mut acc: Option<Vec<u32>> = None;
            for x in v {
                if let Some(ids) = required_eids(x) {
                    acc = Some(match acc {
                        None => ids,
                        Some(a) => a.into_iter().filter(|e| ids.contains(e)).collect(),
                    });
                }
            }
            acc
        }
        Node::Or(v) => {
            if v.is_empty() {
                return None;
            }
            let mut out = Vec::new();
            for x in v {
                out.extend(required_eids(x)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// Roughly how many value tests evaluating `n` takes (keywords search every field).
fn rule_cost(n: &Node) -> u64 {
    match n {
        Node::And(v) | Node::Or(v) => v.iter().map(rule_cost).sum(),
        Node::Not(x) => rule_cost(x),
        Node::Field(fc) => fc.values.iter().map(|g| g.len() as u64).sum(),
        Node::Keywords { values, .. } => values.iter().map(|g| g.len() as u64 * KEYWORD_COST).sum(),
        Node::Const(_) => 0,
    }
}

fn uses_expand_never(n: &Node) -> bool {
    match n {
        Node::And(v) | Node::Or(v) => v.iter().any(uses_expand_never),
        Node::Not(x) => uses_expand_never(x),
        Node::Field(fc) => fc
            .values
            .iter()
            .any(|g| g.iter().any(|m| matches!(m, Matcher::Never))),
        Node::Keywords { .. } | Node::Const(_) => false,
    }
}

impl RuleSet {
    pub(super) fn build_index(&mut self) {
        let mut atoms: Vec<String> = Vec::new();
        let mut atom_ids: HashMap<String, usize> = HashMap::new();
        self.always = vec![true; self.rules.len()];
        self.cost = self
            .rules
            .iter()
            .map(|r| u32::try_from(rule_cost(&r.node)).unwrap_or(u32::MAX))
            .collect();
        for (i, r) in self.rules.iter().enumerate() {
            let ri = i as u32;
            *self
                .coverage
                .by_logsource
                .entry(r.logsource.clone())
                .or_default() += 1;
            *self
                .coverage
                .by_status
                .entry(r.meta.status.clone().unwrap_or_else(|| "none".into()))
                .or_default() += 1;
            if uses_expand_never(&r.node) {
                self.coverage.expand_placeholders += 1;
            }
            let det_eids = required_eids(&r.node);
            let narrow = |ls: &[u32]| -> Vec<u32> {
                match (&det_eids, ls.is_empty()) {
                    (None, _) => ls.to_vec(),
                    (Some(d), true) => d.clone(),
                    (Some(d), false) => ls.iter().copied().filter(|e| d.contains(e)).collect(),
                }
            };
            match &r.target {
                Target::Channels(chans) => {
                    for (c, ls) in chans {
                        let eids = narrow(ls);
                        if !ls.is_empty() && eids.is_empty() {
                            continue; // the detection's EventID excludes this channel's ids
                        }
                        self.channels.entry(c.clone()).or_default().add(ri, &eids);
                    }
                }
                Target::AnyWindows => self.any_windows.add(ri, &narrow(&[])),
                Target::NonWindows(kinds) => {
                    self.coverage.non_windows += 1;
                    for k in *kinds {
                        self.non_windows.entry(*k).or_default().push(ri);
                    }
                }
                Target::Unmapped(what) => {
                    *self
                        .coverage
                        .unmapped_logsource
                        .entry(what.clone())
                        .or_default() += 1;
                }
            }
            if let Some(list) = required_atoms(&r.node) {
                if let Some(a) = self.always.get_mut(i) {
                    *a = false;
                }
                for atom in list {
                    let next = atoms.len();
                    let id = *atom_ids.entry(atom.clone()).or_insert(next);
                    if id == next {
                        atoms.push(atom);
                        self.atom_rules.push(Vec::new());
                    }
                    if let Some(v) = self.atom_rules.get_mut(id) {
                        if v.last() != Some(&ri) {
                            v.push(ri);
                        }
                    }
                }
            }
        }
        self.coverage.rules_loaded = self.rules.len();
        self.coverage.without_prefilter = self.always.iter().filter(|a| **a).count();
        self.coverage.prefilter_literals = atoms.len();
        if !atoms.is_empty() {
            match AhoCorasick::builder().build(&atoms) {
                Ok(ac) => self.ac = Some(ac),
                Err(e) => {
                    // Without the automaton every rule is tried: slower, still correct.
                    tracing::warn!(error = %e, "sigma prefilter unavailable");
                    self.always = vec![true; self.rules.len()];
                }
            }
        }
        for (alias, src) in logsource::SECURITY_4688_ALIASES {
            if let Some(fid) = self.fields.ids.get(*alias) {
                self.aliases_4688.push((*fid, src.to_string()));
            }
        }
        for (alias, ours) in logsource::TEXT_ALIASES {
            if let Some(fid) = self.fields.ids.get(*alias) {
                self.aliases_text.push((*fid, ours));
            }
        }
    }
}
