//! Episodes: how the analytics turn a stream of events into one detection per attack.
//!
//! An [`Episode`] gathers the events of one key (a user, a source address, a host and
//! service...) while they keep coming: it stays open as long as each event follows the previous
//! one within the analytic's `gap`, and closes when the key goes quiet (seen at the next sweep,
//! see `Analytics::process`), when it has lasted `max_span` (so a week-long attack gives a
//! detection a day rather than none until the end), when it is evicted, or at `finish`.
//! An episode becomes *hot* when its analytic's threshold is met (N events within a window,
//! N distinct values within a window, or at once for single-event analytics); only hot episodes
//! become detections, and all of their records — those before the threshold too — are covered.
//!
//! Everything here is bounded because attackers write these logs: [`Episodes`] holds at most
//! `cap` keys (quiet ones are closed first, then the oldest), an episode keeps at most
//! [`MAX_RECORDS`] record references and [`MAX_EVIDENCE`] raw records, and [`Names`] counts
//! distinct values exactly up to [`MAX_NAMES`], then says "at least".
//!
//! This module knows nothing of Windows or web logs; the analytics do.

use crate::detection::{Detection, Level, RecordRef};
use crate::event::Event;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// Record references kept per detection.
pub const MAX_RECORDS: usize = 1000;
/// Raw records kept as evidence per detection.
pub const MAX_EVIDENCE: usize = 5;
/// Distinct values counted exactly per episode.
pub const MAX_NAMES: usize = 1000;
/// Longest raw record kept as evidence (bytes); longer ones are cut at a char boundary.
const MAX_EVIDENCE_LEN: usize = 16 * 1024;

/// Distinct values seen in an episode (users tried, source addresses...), with when each was
/// last seen, in first-seen order for display.
#[derive(Debug, Clone, Default)]
pub struct Names {
    seen: HashMap<String, i64>,
    order: Vec<String>,
    /// Values not kept because [`MAX_NAMES`] was reached.
    overflow: bool,
}

impl Names {
    /// Adds `name` seen at `ts`; returns whether it was new. Empty names are ignored.
    pub fn add(&mut self, name: &str, ts: i64) -> bool {
        if name.is_empty() {
            return false;
        }
        if let Some(t) = self.seen.get_mut(name) {
            *t = (*t).max(ts);
            return false;
        }
        if self.seen.len() >= MAX_NAMES {
            self.overflow = true;
            return false;
        }
        self.seen.insert(name.to_string(), ts);
        self.order.push(name.to_string());
        true
    }

    /// Forgets values last seen before `since` (used before an episode is hot, to count
    /// distinct values within a sliding window).
    pub fn prune(&mut self, since: i64) {
        let seen = &mut self.seen;
        seen.retain(|_, t| *t >= since);
        self.order.retain(|n| seen.contains_key(n));
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// "3", or "1000+" once the bound was reached.
    pub fn count_text(&self) -> String {
        if self.overflow {
            format!("{}+", self.seen.len())
        } else {
            self.seen.len().to_string()
        }
    }

    /// The first `n` values, comma-separated, with "and N more" when there are more.
    pub fn summary(&self, n: usize) -> String {
        let shown: Vec<&str> = self.order.iter().take(n).map(String::as_str).collect();
        let more = self.order.len().saturating_sub(n);
        let mut s = shown.join(", ");
        if more > 0 || self.overflow {
            s.push_str(&format!(
                " and {}{} more",
                more,
                if self.overflow { "+" } else { "" }
            ));
        }
        s
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

/// The last record of an episode: a detection names it (computer, channel, event id...).
#[derive(Debug, Clone, Default)]
struct LastRecord {
    computer: Option<String>,
    channel: Option<String>,
    event_id: Option<u32>,
    record_id: Option<u64>,
    file: Option<String>,
}

/// One key's run of events.
#[derive(Debug, Clone)]
pub struct Episode {
    pub first: i64,
    pub last: i64,
    /// Events in the episode (all of them, not only those kept as records).
    pub count: u64,
    /// The threshold was met: this episode is a detection when it closes.
    pub hot: bool,
    /// When it became hot.
    pub hot_at: Option<i64>,
    /// Timestamps of the latest events, for "N events within a window" before it is hot.
    recent: VecDeque<i64>,
    /// What was attacked or used (users, files, paths...).
    pub targets: Names,
    /// Where it came from (addresses, workstations, accounts...).
    pub sources: Names,
    /// A second counter the analytic defines (successes, bytes...).
    pub extra: u64,
    /// A third one (failures, ...).
    pub extra2: u64,
    /// A free note the analytic keeps (a device name, a sample URL...).
    pub note: String,
    records: Vec<RecordRef>,
    /// Records beyond [`MAX_RECORDS`].
    records_dropped: u64,
    evidence: Vec<String>,
    last_record: LastRecord,
}

impl Episode {
    pub fn new(ts: i64) -> Episode {
        Episode {
            first: ts,
            last: ts,
            count: 0,
            hot: false,
            hot_at: None,
            recent: VecDeque::new(),
            targets: Names::default(),
            sources: Names::default(),
            extra: 0,
            extra2: 0,
            note: String::new(),
            records: Vec::new(),
            records_dropped: 0,
            evidence: Vec::new(),
            last_record: LastRecord::default(),
        }
    }

    /// Adds `ev` (at `ts`) to the episode: count, time span, record reference and evidence.
    pub fn add(&mut self, ev: &Event, ts: i64) {
        self.add_limited(ev, ts, MAX_RECORDS);
    }

    /// [`Episode::add`] keeping at most `limit` record references (for analytics that track
    /// many keys at once, such as beaconing pairs).
    pub fn add_limited(&mut self, ev: &Event, ts: i64, limit: usize) {
        self.count += 1;
        self.first = self.first.min(ts);
        self.last = self.last.max(ts);
        if self.records.len() < limit.min(MAX_RECORDS) {
            self.records.push(RecordRef::of(ev));
        } else {
            self.records_dropped += 1;
        }
        // Evidence: the first records (how it started) and, replacing the last slot, the latest.
        let raw = cut(&ev.raw, MAX_EVIDENCE_LEN).to_string();
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(raw);
        } else if let Some(slot) = self.evidence.last_mut() {
            *slot = raw;
        }
        self.last_record = LastRecord {
            computer: ev.host.clone(),
            channel: ev.channel.clone(),
            event_id: ev.event_id,
            record_id: ev.record_id,
            file: ev.origin.file.as_ref().map(|f| f.display().to_string()),
        };
    }

    /// Counts an event at `ts` towards "`threshold` events within `window` ms"; marks the
    /// episode hot when met. Returns whether it is hot.
    pub fn burst(&mut self, ts: i64, threshold: usize, window: i64) -> bool {
        if self.hot {
            return true;
        }
        self.recent.push_back(ts);
        while self
            .recent
            .front()
            .is_some_and(|t| *t < ts.saturating_sub(window))
        {
            self.recent.pop_front();
        }
        while self.recent.len() > threshold.max(1) {
            self.recent.pop_front();
        }
        if self.recent.len() >= threshold.max(1) {
            self.heat(ts);
        }
        self.hot
    }

    /// Counts `name` towards "`threshold` distinct targets within `window` ms"; marks the
    /// episode hot when met. Returns whether it is hot.
    pub fn distinct_targets(&mut self, name: &str, ts: i64, threshold: usize, window: i64) -> bool {
        let new = self.targets.add(name, ts);
        if self.hot {
            return true;
        }
        if new {
            self.targets.prune(ts.saturating_sub(window));
            if self.targets.len() >= threshold.max(1) {
                self.heat(ts);
            }
        }
        self.hot
    }

    /// Marks the episode hot now.
    pub fn heat(&mut self, ts: i64) {
        if !self.hot {
            self.hot = true;
            self.hot_at = Some(ts);
            self.recent = VecDeque::new();
        }
    }

    /// "from 2024-05-01 10:00:00Z to 2024-05-01 10:07:13Z" (or "at ..." for one instant).
    pub fn span_text(&self) -> String {
        if self.first == self.last {
            format!("at {}", fmt_time(self.first))
        } else {
            format!("from {} to {}", fmt_time(self.first), fmt_time(self.last))
        }
    }

    /// The host of the last record.
    pub fn last_host(&self) -> &str {
        self.last_record.computer.as_deref().unwrap_or("?")
    }

    /// The detection for this episode, named after its last record.
    pub fn detection(self, rule: &Rule, level: Level, details: String, tags: &[&str]) -> Detection {
        let details = if self.records_dropped > 0 {
            format!(
                "{details} ({} records listed, {} more not listed)",
                self.records.len(),
                self.records_dropped
            )
        } else {
            details
        };
        Detection {
            timestamp: Some(self.last),
            rule_id: rule.id.to_string(),
            rule_title: rule.title.to_string(),
            level,
            computer: self.last_record.computer,
            channel: self.last_record.channel,
            event_id: self.last_record.event_id,
            record_id: self.last_record.record_id,
            file: self.last_record.file,
            details,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            records: self.records,
            evidence: self.evidence,
        }
    }
}

/// An analytic's id and title.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub title: &'static str,
}

/// The open episodes of one analytic, by key, bounded.
#[derive(Debug)]
pub struct Episodes<K> {
    open: HashMap<K, Episode>,
    cap: usize,
    /// An episode closes when its key has been quiet this long (ms).
    pub gap: i64,
    /// An episode closes when it has lasted this long (ms).
    pub max_span: i64,
}

impl<K: Hash + Eq + Clone> Episodes<K> {
    pub fn new(cap: usize, gap: i64, max_span: i64) -> Episodes<K> {
        Episodes {
            open: HashMap::new(),
            cap: cap.max(1),
            gap: gap.max(1),
            max_span: max_span.max(1),
        }
    }

    /// The open episode of `key` at `ts`, started if needed. Episodes this ends (the key's
    /// previous one if it went quiet or ran too long; quiet or oldest ones evicted to stay
    /// within the cap) are pushed to `closed`.
    pub fn at(&mut self, key: K, ts: i64, closed: &mut Vec<(K, Episode)>) -> &mut Episode {
        if let Some(ep) = self.open.get(&key) {
            let stale = ts.saturating_sub(ep.last) > self.gap
                || ts.saturating_sub(ep.first) > self.max_span;
            if stale {
                if let Some(old) = self.open.remove(&key) {
                    closed.push((key.clone(), old));
                }
            }
        }
        if !self.open.contains_key(&key) && self.open.len() >= self.cap {
            self.evict(ts, closed);
        }
        match self.open.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Episode::new(ts)),
        }
    }

    /// The open episode of `key`, if any (not started).
    pub fn get_mut(&mut self, key: &K) -> Option<&mut Episode> {
        self.open.get_mut(key)
    }

    pub fn get(&self, key: &K) -> Option<&Episode> {
        self.open.get(key)
    }

    pub fn remove(&mut self, key: &K) -> Option<Episode> {
        self.open.remove(key)
    }

    /// Makes room: closes the quiet episodes, and if that is not enough the eighth that was
    /// active longest ago (a batch, so a flood of new keys costs one sort per cap/8 keys).
    fn evict(&mut self, now: i64, closed: &mut Vec<(K, Episode)>) {
        self.expire(now, closed);
        if self.open.len() < self.cap {
            return;
        }
        let mut ages: Vec<(i64, K)> = self.open.iter().map(|(k, e)| (e.last, k.clone())).collect();
        ages.sort_by_key(|(t, _)| *t);
        let n = (self.cap / 8).max(1);
        for (_, k) in ages.into_iter().take(n) {
            if let Some(ep) = self.open.remove(&k) {
                closed.push((k, ep));
            }
        }
    }

    /// Closes the episodes quiet since before `now - gap` or older than `max_span`.
    pub fn expire(&mut self, now: i64, closed: &mut Vec<(K, Episode)>) {
        let (gap, span) = (self.gap, self.max_span);
        let done: Vec<K> = self
            .open
            .iter()
            .filter(|(_, e)| now.saturating_sub(e.last) > gap || now.saturating_sub(e.first) > span)
            .map(|(k, _)| k.clone())
            .collect();
        for k in done {
            if let Some(ep) = self.open.remove(&k) {
                closed.push((k, ep));
            }
        }
    }

    /// Closes every episode.
    pub fn drain(&mut self, closed: &mut Vec<(K, Episode)>) {
        closed.extend(self.open.drain());
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.open.len()
    }
}

/// `s` cut to at most `max` bytes at a char boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `2024-05-01 10:00:00Z` for a time in ms since the epoch.
pub fn fmt_time(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{ms} ms"),
    }
}

/// "12 minutes" / "3 hours" / "45 seconds" for a duration in ms.
pub fn fmt_duration(ms: i64) -> String {
    // Rounded to the nearest unit: a 299.4 s period is "5 minutes".
    let s = (ms + 500) / 1000;
    if s < 120 {
        format!("{s} seconds")
    } else if s < 7200 {
        format!("{} minutes", (s + 30) / 60)
    } else if s < 2 * 86400 {
        format!("{} hours", (s + 1800) / 3600)
    } else {
        format!("{} days", (s + 43200) / 86400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Fields, Origin, SourceKind};

    fn ev(ts: i64) -> Event {
        Event {
            timestamp: Some(ts),
            host: Some("h".into()),
            source: SourceKind::Syslog,
            channel: None,
            event_id: None,
            record_id: Some(ts as u64),
            fields: Fields::default(),
            raw: format!("line {ts}"),
            origin: Origin::default(),
        }
    }

    #[test]
    fn burst_needs_threshold_within_window() {
        let mut e = Episode::new(0);
        assert!(!e.burst(0, 3, 1000));
        assert!(!e.burst(600, 3, 1000));
        // The first two are now out of the window.
        assert!(!e.burst(1700, 3, 1000));
        assert!(!e.burst(1800, 3, 1000));
        assert!(e.burst(1900, 3, 1000));
    }

    #[test]
    fn quiet_key_starts_a_new_episode() {
        let mut eps: Episodes<&str> = Episodes::new(10, 1000, 1_000_000);
        let mut closed = Vec::new();
        eps.at("a", 0, &mut closed).add(&ev(0), 0);
        eps.at("a", 500, &mut closed).add(&ev(500), 500);
        assert!(closed.is_empty());
        eps.at("a", 5000, &mut closed).add(&ev(5000), 5000);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].1.count, 2);
    }

    #[test]
    fn cap_evicts_oldest_keys() {
        let mut eps: Episodes<u32> = Episodes::new(16, 1_000_000, 1_000_000);
        let mut closed = Vec::new();
        for k in 0..100u32 {
            eps.at(k, k as i64, &mut closed)
                .add(&ev(k as i64), k as i64);
        }
        assert!(eps.len() <= 16);
        assert_eq!(closed.len() + eps.len(), 100);
    }

    #[test]
    fn records_are_bounded() {
        let mut e = Episode::new(0);
        for t in 0..(MAX_RECORDS as i64 + 50) {
            e.add(&ev(t), t);
        }
        assert_eq!(e.count, MAX_RECORDS as u64 + 50);
        let rule = Rule {
            id: "x",
            title: "x",
        };
        let d = e.detection(&rule, Level::Low, "d".into(), &[]);
        assert_eq!(d.records.len(), MAX_RECORDS);
        assert_eq!(d.evidence.len(), MAX_EVIDENCE);
        assert!(d.details.contains("50 more"));
    }

    #[test]
    fn names_summary_and_overflow() {
        let mut n = Names::default();
        for i in 0..(MAX_NAMES + 5) {
            n.add(&format!("u{i}"), 0);
        }
        assert_eq!(n.count_text(), format!("{MAX_NAMES}+"));
        assert!(n.summary(2).starts_with("u0, u1 and"));
    }
}
