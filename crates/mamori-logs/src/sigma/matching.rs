//! Matching one event: prepare it once (values lowercased, field names mapped to the ids the
//! rules were compiled with, Windows and text-log aliases applied), pick the candidate rules
//! from the index, run the Aho-Corasick prefilter when the candidates are costly enough, and
//! evaluate the survivors' condition trees.
//!
//! All per-event state lives in a per-thread [`Scratch`] reused across events, so `RuleSet`
//! stays immutable and shareable between threads.

use super::rule::{self, Node};
use super::value::Matcher;
use super::{RuleMatch, RuleSet};
use crate::event::{Event, SourceKind};
use std::cell::RefCell;

/// Below this estimated cost (see `index.rs`) of the candidate rules, trying them all is
/// cheaper than the Aho-Corasick pass over the event.
const PREFILTER_MIN_COST: u64 = 256;

/// Per-thread scratch space for matching (reused across events).
#[derive(Default)]
pub(super) struct Scratch {
    gen: u32,
    slot_gen: Vec<u32>,
    slot: Vec<u32>,
    lower: String,
    ranges: Vec<(usize, usize)>,
    atom_gen: Vec<u32>,
    rule_gen: Vec<u32>,
    name_buf: String,
}

thread_local! {
    pub(super) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One event prepared for matching: its values lowercased, its fields by interned id.
struct Prepared<'a> {
    ev: &'a Event,
    s: &'a Scratch,
    set: &'a RuleSet,
}

impl<'a> Prepared<'a> {
    fn by_index(&self, i: usize) -> Option<(&'a str, &'a str)> {
        let orig = self.ev.fields.0.get(i).map(|(_, v)| v.as_str())?;
        let (a, b) = *self.s.ranges.get(i)?;
        let lower = self.s.lower.get(a..b)?;
        Some((orig, lower))
    }

    fn field(&self, fid: usize) -> Option<(&'a str, &'a str)> {
        if self.s.slot_gen.get(fid) != Some(&self.s.gen) {
            return None;
        }
        let i = *self.s.slot.get(fid)? as usize;
        self.by_index(i)
    }

    fn field_by_name(&self, lower_name: &str) -> Option<(&'a str, &'a str)> {
        let fid = *self.set.fields.ids.get(lower_name)?;
        self.field(fid)
    }

    fn eval(&self, n: &Node) -> bool {
        match n {
            Node::And(v) => v.iter().all(|x| self.eval(x)),
            Node::Or(v) => v.iter().any(|x| self.eval(x)),
            Node::Not(x) => !self.eval(x),
            Node::Const(b) => *b,
            Node::Field(fc) => {
                let value = self.field(fc.fid);
                let mut fref = |name: &str| self.field_by_name(name);
                let mut hit = |g: &Vec<Matcher>| g.iter().any(|m| m.test(value, &mut fref));
                if fc.all {
                    fc.values.iter().all(&mut hit)
                } else {
                    fc.values.iter().any(&mut hit)
                }
            }
            Node::Keywords { values, all } => {
                let n = self.ev.fields.len();
                let group_hits = |g: &Vec<Matcher>| {
                    (0..n).any(|i| {
                        let v = self.by_index(i);
                        g.iter().any(|m| m.test(v, &mut |_| None))
                    })
                };
                if *all {
                    values.iter().all(group_hits)
                } else {
                    values.iter().any(group_hits)
                }
            }
        }
    }
}

impl RuleSet {
    pub(super) fn matches_with(&self, ev: &Event, s: &mut Scratch, out: &mut Vec<RuleMatch>) {
        // Candidate lists for this event.
        let mut lists: [&[u32]; 4] = [&[], &[], &[], &[]];
        // Windows events: by channel and id. A Windows record without a channel (ETW
        // conversions) is still Windows: only channel-independent rules apply.
        let windows = ev.channel.is_some()
            || matches!(
                ev.source,
                SourceKind::Evtx | SourceKind::WindowsXml | SourceKind::WindowsJson
            );
        if windows {
            let eid = ev.event_id;
            if let Some(ch) = &ev.channel {
                s.name_buf.clear();
                if ch.is_ascii() {
                    s.name_buf.push_str(ch);
                    s.name_buf.make_ascii_lowercase();
                } else {
                    s.name_buf.push_str(&ch.to_lowercase());
                }
                if let Some(b) = self.channels.get(s.name_buf.as_str()) {
                    lists[0] = &b.any;
                    if let Some(l) = eid.and_then(|e| b.by_eid.get(&e)) {
                        lists[1] = l;
                    }
                }
            }
            lists[2] = &self.any_windows.any;
            if let Some(l) = eid.and_then(|e| self.any_windows.by_eid.get(&e)) {
                lists[3] = l;
            }
        } else if let Some(l) = self.non_windows.get(&ev.source) {
            lists[0] = l;
        }
        let total: usize = lists.iter().map(|l| l.len()).sum();
        if total == 0 {
            return;
        }
        self.prepare(ev, s);
        let cost: u64 = lists
            .iter()
            .flat_map(|l| l.iter())
            .map(|r| u64::from(self.cost.get(*r as usize).copied().unwrap_or(0)))
            .sum();
        let use_prefilter = cost >= PREFILTER_MIN_COST && self.ac.is_some();
        if use_prefilter {
            self.prefilter(s);
        }
        let p = Prepared { ev, s, set: self };
        for list in lists {
            for &ri in list {
                let i = ri as usize;
                if use_prefilter
                    && !self.always.get(i).copied().unwrap_or(true)
                    && p.s.rule_gen.get(i) != Some(&p.s.gen)
                {
                    continue;
                }
                if let Some(r) = self.rules.get(i) {
                    if p.eval(&r.node) {
                        out.push(RuleMatch { rule: i });
                    }
                }
            }
        }
    }

    /// Lowercases the event's values and maps its field names to interned ids.
    fn prepare(&self, ev: &Event, s: &mut Scratch) {
        s.gen = s.gen.wrapping_add(1);
        if s.gen == 0 {
            // Stamps wrapped around: forget them all.
            s.slot_gen.iter_mut().for_each(|g| *g = u32::MAX);
            s.atom_gen.iter_mut().for_each(|g| *g = u32::MAX);
            s.rule_gen.iter_mut().for_each(|g| *g = u32::MAX);
            s.gen = 1;
        }
        let nf = self.fields.names.len();
        if s.slot_gen.len() < nf {
            s.slot_gen.resize(nf, 0);
            s.slot.resize(nf, 0);
        }
        s.lower.clear();
        s.ranges.clear();
        for (i, (k, v)) in ev.fields.0.iter().enumerate() {
            let start = s.lower.len();
            if v.is_ascii() {
                s.lower.push_str(v);
                if let Some(tail) = s.lower.get_mut(start..) {
                    tail.make_ascii_lowercase();
                }
            } else {
                s.lower.push_str(&v.to_lowercase());
            }
            s.ranges.push((start, s.lower.len()));
            s.lower.push('\n');
            s.name_buf.clear();
            if k.is_ascii() && !k.contains(' ') {
                s.name_buf.push_str(k);
                s.name_buf.make_ascii_lowercase();
            } else {
                s.name_buf.push_str(&rule::normalize_field(k));
            }
            if let Some(&fid) = self.fields.ids.get(s.name_buf.as_str()) {
                if s.slot_gen.get(fid) != Some(&s.gen) {
                    if let (Some(g), Some(sl)) = (s.slot_gen.get_mut(fid), s.slot.get_mut(fid)) {
                        *g = s.gen;
                        *sl = i as u32;
                    }
                }
            }
        }
        // Text logs name web and network fields our way; rules use Sigma's taxonomy.
        if ev.channel.is_none()
            && !matches!(
                ev.source,
                SourceKind::Evtx | SourceKind::WindowsXml | SourceKind::WindowsJson
            )
        {
            for (fid, ours) in &self.aliases_text {
                if s.slot_gen.get(*fid) == Some(&s.gen) {
                    continue;
                }
                let found = ours
                    .iter()
                    .find_map(|name| ev.fields.0.iter().position(|(k, _)| k == name));
                if let Some(i) = found {
                    if let (Some(g), Some(sl)) = (s.slot_gen.get_mut(*fid), s.slot.get_mut(*fid)) {
                        *g = s.gen;
                        *sl = i as u32;
                    }
                }
            }
        }
        // Security 4688 carries process creation under other names.
        if ev.event_id == Some(4688)
            && ev
                .channel
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("security"))
        {
            for (fid, src) in &self.aliases_4688 {
                if s.slot_gen.get(*fid) == Some(&s.gen) {
                    continue;
                }
                if let Some(i) = ev.fields.0.iter().position(|(k, _)| k == src) {
                    if let (Some(g), Some(sl)) = (s.slot_gen.get_mut(*fid), s.slot.get_mut(*fid)) {
                        *g = s.gen;
                        *sl = i as u32;
                    }
                }
            }
        }
    }

    /// Marks the rules whose required literals occur in the event.
    fn prefilter(&self, s: &mut Scratch) {
        let Some(ac) = &self.ac else { return };
        if s.atom_gen.len() < self.atom_rules.len() {
            s.atom_gen.resize(self.atom_rules.len(), 0);
        }
        if s.rule_gen.len() < self.rules.len() {
            s.rule_gen.resize(self.rules.len(), 0);
        }
        let gen = s.gen;
        for m in ac.find_overlapping_iter(s.lower.as_str()) {
            let a = m.pattern().as_usize();
            match s.atom_gen.get_mut(a) {
                Some(g) if *g != gen => *g = gen,
                _ => continue,
            }
            for &r in self.atom_rules.get(a).map(Vec::as_slice).unwrap_or(&[]) {
                if let Some(g) = s.rule_gen.get_mut(r as usize) {
                    *g = gen;
                }
            }
        }
    }
}
