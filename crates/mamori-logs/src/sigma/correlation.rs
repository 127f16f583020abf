//! Correlation state: Sigma correlation rules (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`) and the old `| count() by X > N` aggregation, fed with rule matches in
//! timestamp order.
//!
//! One window per (correlation, group-by values). Conditions that can only become true as
//! events arrive (`gt`, `gte`, and the temporal kinds) are checked on every match over a
//! sliding window of `timespan`, and a window that fires is emptied, so an ongoing attack gives
//! one detection per burst rather than one per event. Conditions that need the window to be
//! complete (`lt`, `lte`, `eq`, `range`) are decided when a match arrives `timespan` after the
//! window's first one, and at [`Correlator::finish`].
//!
//! Memory is bounded: at most [`MAX_WINDOW`] matches per window and [`MAX_GROUPS`] windows
//! (expired windows are dropped first; beyond that new groups are ignored and counted).
//! Events without a timestamp count as time 0.

use super::rule::{CorrKind, CountCond};
use super::{Correlation, RuleMatch, RuleSet};
use crate::detection::{Detection, RecordRef};
use crate::event::Event;
use std::collections::{HashMap, VecDeque};

/// Records listed in one correlation detection.
pub const MAX_RECORDS: usize = 1000;
/// Matches kept per window.
pub const MAX_WINDOW: usize = 10_000;
/// Windows kept at once.
pub const MAX_GROUPS: usize = 100_000;
/// Original records kept as evidence per window.
const MAX_EVIDENCE: usize = 3;

struct Entry {
    ts: i64,
    /// Position of the matched rule in the correlation's `rules`.
    rule_pos: usize,
    /// `value_count`'s field value.
    value: Option<String>,
    rec: RecordRef,
}

#[derive(Default)]
struct Window {
    entries: VecDeque<Entry>,
    /// How many entries hold each `value_count` value (kept as entries come and go, so the
    /// distinct count costs nothing per match).
    values: HashMap<String, u32>,
    /// How many entries each referenced rule has.
    per_rule: Vec<u32>,
    evidence: Vec<String>,
    last_host: Option<String>,
    last_channel: Option<String>,
    last_event_id: Option<u32>,
    last_record_id: Option<u64>,
}

impl Window {
    fn push_back(&mut self, e: Entry) {
        if let Some(v) = &e.value {
            *self.values.entry(v.clone()).or_default() += 1;
        }
        if self.per_rule.len() <= e.rule_pos {
            self.per_rule.resize(e.rule_pos + 1, 0);
        }
        if let Some(n) = self.per_rule.get_mut(e.rule_pos) {
            *n += 1;
        }
        self.entries.push_back(e);
    }

    fn pop_front(&mut self) {
        let Some(e) = self.entries.pop_front() else {
            return;
        };
        if let Some(v) = &e.value {
            if let Some(n) = self.values.get_mut(v) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.values.remove(v);
                }
            }
        }
        if let Some(n) = self.per_rule.get_mut(e.rule_pos) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Correlation state over one stream of matches.
pub struct Correlator<'r> {
    set: &'r RuleSet,
    /// rule index → correlations that reference it.
    by_rule: HashMap<usize, Vec<usize>>,
    windows: HashMap<(usize, String), Window>,
    /// Groups ignored because [`MAX_GROUPS`] windows were open.
    pub dropped_groups: u64,
}

impl<'r> Correlator<'r> {
    pub fn new(set: &'r RuleSet) -> Correlator<'r> {
        let mut by_rule: HashMap<usize, Vec<usize>> = HashMap::new();
        for (ci, c) in set.correlations.iter().enumerate() {
            for r in &c.rules {
                let v = by_rule.entry(*r).or_default();
                if !v.contains(&ci) {
                    v.push(ci);
                }
            }
        }
        Correlator {
            set,
            by_rule,
            windows: HashMap::new(),
            dropped_groups: 0,
        }
    }

    /// Feeds one match (in timestamp order); correlations that fire go to `out`.
    pub fn feed(&mut self, m: &RuleMatch, ev: &Event, out: &mut Vec<Detection>) {
        let Some(cs) = self.by_rule.get(&m.rule).cloned() else {
            return;
        };
        let set = self.set;
        for ci in cs {
            let Some(c) = set.correlations.get(ci) else {
                continue;
            };
            let ts = ev.timestamp.unwrap_or(0);
            let key = (ci, group_key(c, m.rule, ev));
            if !self.windows.contains_key(&key) && self.windows.len() >= MAX_GROUPS {
                self.expire(ts);
                if self.windows.len() >= MAX_GROUPS {
                    self.dropped_groups += 1;
                    continue;
                }
            }
            let grows = c.cond.is_none_or(|k| k.grows());
            let w = self.windows.entry(key.clone()).or_default();
            if !grows {
                // A window that needs to be complete closes when a match falls outside it.
                if let Some(first) = w.entries.front() {
                    if ts.saturating_sub(first.ts) > c.timespan_ms {
                        if holds(c, w) {
                            out.push(detection(set, c, w, &key.1));
                        }
                        *w = Window::default();
                    }
                }
            } else {
                while w
                    .entries
                    .front()
                    .is_some_and(|e| ts.saturating_sub(e.ts) > c.timespan_ms)
                {
                    w.pop_front();
                }
            }
            let rule_pos = c.rules.iter().position(|r| *r == m.rule).unwrap_or(0);
            let value = c
                .field
                .as_deref()
                .and_then(|f| field_value(c, m.rule, f, ev))
                .map(str::to_string);
            if c.kind == CorrKind::ValueCount && value.is_none() {
                continue;
            }
            if w.entries.len() >= MAX_WINDOW {
                w.pop_front();
            }
            w.push_back(Entry {
                ts,
                rule_pos,
                value,
                rec: RecordRef::of(ev),
            });
            if w.evidence.len() < MAX_EVIDENCE {
                w.evidence.push(ev.raw.clone());
            }
            w.last_host = ev.host.clone();
            w.last_channel = ev.channel.clone();
            w.last_event_id = ev.event_id;
            w.last_record_id = ev.record_id;
            // An ordered sequence can only complete when its last rule matches: skip the scan.
            let may_complete = c.kind != CorrKind::TemporalOrdered
                || c.cond.is_some()
                || rule_pos + 1 == c.rules.len();
            if grows && may_complete && holds(c, w) {
                out.push(detection(set, c, w, &key.1));
                *w = Window::default();
            }
        }
    }

    /// Decides the windows still open (end of input).
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut keys: Vec<(usize, String)> = self.windows.keys().cloned().collect();
        keys.sort();
        for key in keys {
            let Some(c) = self.set.correlations.get(key.0) else {
                continue;
            };
            if c.cond.is_none_or(|k| k.grows()) {
                continue;
            }
            if let Some(w) = self.windows.get(&key) {
                if !w.entries.is_empty() && holds(c, w) {
                    out.push(detection(self.set, c, w, &key.1));
                }
            }
        }
        self.windows.clear();
    }

    /// Drops windows whose matches are all older than their timespan before `now`.
    fn expire(&mut self, now: i64) {
        let set = self.set;
        self.windows.retain(|(ci, _), w| {
            let span = set.correlations.get(*ci).map_or(0, |c| c.timespan_ms);
            let grows = set
                .correlations
                .get(*ci)
                .is_some_and(|c| c.cond.is_none_or(|k| k.grows()));
            // Windows that are decided at close must be kept to be decided.
            !grows
                || w.entries
                    .back()
                    .is_some_and(|e| now.saturating_sub(e.ts) <= span)
        });
    }
}

/// The value of `field` for a match of `rule`, through the correlation's aliases.
fn field_value<'e>(c: &Correlation, rule: usize, field: &str, ev: &'e Event) -> Option<&'e str> {
    let actual = c
        .aliases
        .iter()
        .find(|(a, _)| a == field)
        .and_then(|(_, m)| m.iter().find(|(r, _)| *r == rule))
        .map_or(field, |(_, f)| f.as_str());
    ev.fields.get_ignore_case(actual)
}

fn group_key(c: &Correlation, rule: usize, ev: &Event) -> String {
    let mut key = String::new();
    for (i, g) in c.group_by.iter().enumerate() {
        if i > 0 {
            key.push('\u{1f}');
        }
        key.push_str(field_value(c, rule, g, ev).unwrap_or(""));
    }
    key
}

fn holds(c: &Correlation, w: &Window) -> bool {
    match c.kind {
        CorrKind::EventCount => c.cond.is_some_and(|k| k.holds(w.entries.len() as u64)),
        CorrKind::ValueCount => c.cond.is_some_and(|k| k.holds(w.values.len() as u64)),
        CorrKind::Temporal => {
            let n = w.per_rule.iter().filter(|n| **n > 0).count() as u64;
            match c.cond {
                Some(k) => k.holds(n),
                None => n as usize >= c.rules.len(),
            }
        }
        CorrKind::TemporalOrdered => {
            // The referenced rules matched in their listed order.
            let mut next = 0usize;
            for e in &w.entries {
                if e.rule_pos == next {
                    next += 1;
                    if next == c.rules.len() {
                        break;
                    }
                }
            }
            let n = next as u64;
            match c.cond {
                Some(k) => k.holds(n),
                None => next == c.rules.len(),
            }
        }
    }
}

fn cond_text(k: &CountCond) -> String {
    match k {
        CountCond::Gt(n) => format!("> {n}"),
        CountCond::Gte(n) => format!(">= {n}"),
        CountCond::Lt(n) => format!("< {n}"),
        CountCond::Lte(n) => format!("<= {n}"),
        CountCond::Eq(n) => format!("= {n}"),
        CountCond::Range(a, b) => format!("in {a}..{b}"),
    }
}

fn detection(set: &RuleSet, c: &Correlation, w: &Window, key: &str) -> Detection {
    let first = w.entries.front().map(|e| e.ts);
    let last = w.entries.back().map(|e| e.ts);
    let span_s = match (first, last) {
        (Some(a), Some(b)) => b.saturating_sub(a) / 1000,
        _ => 0,
    };
    let what = match c.kind {
        CorrKind::EventCount => format!("{} events", w.entries.len()),
        CorrKind::ValueCount => format!(
            "{} distinct {}",
            w.values.len(),
            c.field.as_deref().unwrap_or("values")
        ),
        CorrKind::Temporal | CorrKind::TemporalOrdered => {
            let titles: Vec<&str> = c
                .rules
                .iter()
                .filter_map(|r| set.rule_meta(*r).map(|m| m.title.as_str()))
                .collect();
            format!(
                "{} rules within the timespan: {}",
                titles.len(),
                titles.join(", ")
            )
        }
    };
    let group = if c.group_by.is_empty() {
        String::new()
    } else {
        let pairs: Vec<String> = c
            .group_by
            .iter()
            .zip(key.split('\u{1f}'))
            .map(|(f, v)| format!("{f}={v}"))
            .collect();
        format!(" by {}", pairs.join(", "))
    };
    let cond = c.cond.as_ref().map(cond_text).unwrap_or_default();
    let details = format!(
        "{what} {cond}{group} over {span_s}s ({} records)",
        w.entries.len()
    );
    Detection {
        timestamp: last,
        rule_id: c.meta.id.clone(),
        rule_title: c.meta.title.clone(),
        level: c.meta.level,
        computer: w.last_host.clone(),
        channel: w.last_channel.clone(),
        event_id: w.last_event_id,
        record_id: w.last_record_id,
        file: w.entries.back().and_then(|e| e.rec.file.clone()),
        details,
        tags: c.meta.tags.clone(),
        records: w
            .entries
            .iter()
            .take(MAX_RECORDS)
            .map(|e| e.rec.clone())
            .collect(),
        evidence: w.evidence.clone(),
    }
}
