//! Correlation of newly stored alerts into incidents, worked out in memory for one batch.
//!
//! Both backends do the same thing at ingest: find which alerts of the batch are new, load
//! the open incidents those alerts could join ([`Candidate`]s), then hand each new alert, in
//! time order, to [`Correlation::assign`]. What comes out — incidents to insert or update,
//! timeline entries, rollup counts — is written back with a few batched statements. Keeping
//! the rules here means SQLite and PostgreSQL cannot drift apart, and the rules can be
//! tested without a database.
//!
//! The rule: an alert with an asset joins the open incident of the same tenant and asset
//! whose alerts span a range that the alert, widened by the window on both sides, touches
//! (`last_seen >= time - window` and `first_seen <= time + window`); when several qualify,
//! the one seen last. Otherwise a non-info alert opens a new incident; info alerts never do.

use crate::Result;
use mamori_core::{unix_ms, Alert, Engine, IncidentState, Severity, TimelineKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;
use time::OffsetDateTime;
use ulid::Ulid;

/// The automatic actor named in timeline entries.
pub(crate) const ACTOR: &str = "mamori";

const HOUR_MS: i64 = 3_600_000;

/// Start of the hour containing `ms`.
pub(crate) fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// An open incident an alert of the batch may join, as loaded from the store, or one the
/// batch opened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub id: Ulid,
    pub tenant: String,
    pub asset: String,
    pub title: String,
    pub severity: Severity,
    pub state: IncidentState,
    pub alert_count: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
}

/// A timeline entry the batch appends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewEntry {
    pub incident: Ulid,
    pub time_ms: i64,
    pub kind: TimelineKind,
}

/// One `alert_rollup` row's key: tenant, hour start, engine, severity rank.
pub(crate) type RollupKey = (String, i64, &'static str, i64);

struct Tracked {
    incident: Candidate,
    opened: bool,
    changed: bool,
}

/// The correlation state of one batch.
pub(crate) struct Correlation {
    window_ms: i64,
    now_ms: i64,
    tracked: Vec<Tracked>,
    by_asset: HashMap<(String, String), Vec<usize>>,
    known: HashSet<Ulid>,
    timeline: Vec<NewEntry>,
    rollup: BTreeMap<RollupKey, i64>,
}

/// An alert of a batch as the store writes it: its columns and serialised body, worked out
/// before the write lock is taken (serialising is the costliest part of an alert).
#[derive(Debug, Clone)]
pub(crate) struct PreparedAlert {
    pub id: Ulid,
    pub id_text: String,
    pub tenant: String,
    pub time: OffsetDateTime,
    pub time_ms: i64,
    pub engine: Engine,
    pub severity: Severity,
    pub rule_id: String,
    pub rule_name: String,
    pub summary: String,
    /// The asset key, `None` when the alert names no asset.
    pub asset: Option<String>,
    pub body: String,
}

impl PreparedAlert {
    pub fn new(alert: &Alert) -> Result<PreparedAlert> {
        Ok(PreparedAlert {
            id: alert.id,
            id_text: alert.id.to_string(),
            tenant: alert.tenant.clone(),
            time: alert.time,
            time_ms: unix_ms(alert.time),
            engine: alert.engine,
            severity: alert.severity,
            rule_id: alert.rule_id.clone(),
            rule_name: alert.rule_name.clone(),
            summary: alert.summary.clone(),
            asset: alert.asset().map(|a| a.key()),
            body: crate::records::alert_body(alert)?,
        })
    }

    pub fn batch(alerts: &[Alert]) -> Result<Vec<PreparedAlert>> {
        alerts.iter().map(PreparedAlert::new).collect()
    }

    /// [`Alert::headline`], which titles incidents.
    pub fn headline(&self) -> &str {
        if self.summary.is_empty() {
            &self.rule_name
        } else {
            &self.summary
        }
    }
}

/// Where to look for open incidents that a run of alerts on one asset may join: among the
/// [`CANDIDATES_PER_RANGE`] latest-starting incidents whose `first_seen_ms` lies in
/// `(after_ms, until_ms]`, those still open and last seen at `since_ms` or later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CandidateRange {
    pub tenant: String,
    pub asset: String,
    pub after_ms: i64,
    pub until_ms: i64,
    pub since_ms: i64,
}

/// How many open incidents one [`CandidateRange`] loads at most.
pub(crate) const CANDIDATES_PER_RANGE: usize = 8;

/// The ranges to load candidates for, given the batch's new alerts in time order.
///
/// An incident an alert at `t` can join started by `t + window` and, incidents on one asset
/// rarely overlapping, is among the last few to have started by then. So each asset's alerts
/// are cut into runs no longer than the window, and each run asks for the latest-starting
/// incidents up to its end plus the window — past what the previous run asked for. An asset
/// alerting steadily costs one lookup per batch; alerts scattered over weeks (a sensor
/// catching up) one small index range each, however many incidents the asset has had.
pub(crate) fn candidate_ranges(
    fresh: &[&PreparedAlert],
    window: time::Duration,
) -> Vec<CandidateRange> {
    let window_ms = window_ms(window);
    let mut times: BTreeMap<(&str, &str), Vec<i64>> = BTreeMap::new();
    for p in fresh {
        if let Some(asset) = &p.asset {
            times
                .entry((p.tenant.as_str(), asset.as_str()))
                .or_default()
                .push(p.time_ms);
        }
    }
    let mut ranges = Vec::new();
    for ((tenant, asset), times) in times {
        let mut after_ms = i64::MIN;
        let mut i = 0;
        while i < times.len() {
            let start = times[i];
            while i + 1 < times.len() && times[i + 1].saturating_sub(start) <= window_ms {
                i += 1;
            }
            let until_ms = times[i].saturating_add(window_ms);
            i += 1;
            if until_ms > after_ms {
                ranges.push(CandidateRange {
                    tenant: tenant.to_string(),
                    asset: asset.to_string(),
                    after_ms,
                    until_ms,
                    since_ms: start.saturating_sub(window_ms),
                });
                after_ms = until_ms;
            }
        }
    }
    ranges
}

fn window_ms(window: time::Duration) -> i64 {
    i64::try_from(window.whole_milliseconds())
        .unwrap_or(i64::MAX)
        .max(0)
}

impl Correlation {
    pub fn new(window: time::Duration, now_ms: i64) -> Correlation {
        Correlation {
            window_ms: window_ms(window),
            now_ms,
            tracked: Vec::new(),
            by_asset: HashMap::new(),
            known: HashSet::new(),
            timeline: Vec::new(),
            rollup: BTreeMap::new(),
        }
    }

    /// Makes an open incident from the store joinable. Closed ones, and ones already
    /// known, are ignored.
    pub fn add_candidate(&mut self, incident: Candidate) {
        if incident.state.is_open() && self.known.insert(incident.id) {
            self.track(incident, false);
        }
    }

    fn track(&mut self, incident: Candidate, opened: bool) -> usize {
        let index = self.tracked.len();
        self.known.insert(incident.id);
        self.by_asset
            .entry((incident.tenant.clone(), incident.asset.clone()))
            .or_default()
            .push(index);
        self.tracked.push(Tracked {
            incident,
            opened,
            changed: opened,
        });
        index
    }

    /// Correlates one new alert (call in time order) and counts it in the rollup. Answers
    /// the incident it belongs to, if any.
    pub fn assign(&mut self, alert: &PreparedAlert) -> Option<Ulid> {
        let time_ms = alert.time_ms;
        *self
            .rollup
            .entry((
                alert.tenant.clone(),
                hour_of(time_ms),
                alert.engine.as_str(),
                alert.severity.rank(),
            ))
            .or_insert(0) += 1;
        let asset = alert.asset.as_deref()?;
        let key = (alert.tenant.clone(), asset.to_string());
        let joinable = self.by_asset.get(&key).and_then(|indexes| {
            indexes
                .iter()
                .copied()
                .filter(|&i| {
                    let inc = &self.tracked[i].incident;
                    inc.last_seen_ms >= time_ms.saturating_sub(self.window_ms)
                        && inc.first_seen_ms <= time_ms.saturating_add(self.window_ms)
                })
                .max_by_key(|&i| {
                    let inc = &self.tracked[i].incident;
                    (inc.last_seen_ms, inc.id)
                })
        });
        if let Some(i) = joinable {
            let now_ms = self.now_ms;
            let tracked = &mut self.tracked[i];
            tracked.changed = true;
            let inc = &mut tracked.incident;
            inc.alert_count += 1;
            inc.first_seen_ms = inc.first_seen_ms.min(time_ms);
            inc.last_seen_ms = inc.last_seen_ms.max(time_ms);
            inc.updated_at_ms = now_ms;
            if alert.severity > inc.severity {
                self.timeline.push(NewEntry {
                    incident: inc.id,
                    time_ms,
                    kind: TimelineKind::SeverityRaised {
                        from: inc.severity,
                        to: alert.severity,
                        alert: alert.id,
                    },
                });
                inc.severity = alert.severity;
                inc.title = alert.headline().to_string();
            }
            return Some(inc.id);
        }
        if alert.severity == Severity::Info {
            return None;
        }
        let id = Ulid::from_datetime(SystemTime::from(alert.time));
        self.timeline.push(NewEntry {
            incident: id,
            time_ms,
            kind: TimelineKind::Opened {
                severity: alert.severity,
                alert: alert.id,
            },
        });
        self.track(
            Candidate {
                id,
                tenant: alert.tenant.clone(),
                asset: asset.to_string(),
                title: alert.headline().to_string(),
                severity: alert.severity,
                state: IncidentState::New,
                alert_count: 1,
                first_seen_ms: time_ms,
                last_seen_ms: time_ms,
                updated_at_ms: self.now_ms,
            },
            true,
        );
        Some(id)
    }

    /// Incidents the batch opened.
    pub fn opened(&self) -> impl Iterator<Item = &Candidate> {
        self.tracked
            .iter()
            .filter(|t| t.opened)
            .map(|t| &t.incident)
    }

    /// How many incidents the batch opened, per tenant.
    pub fn opened_per_tenant(&self) -> BTreeMap<&str, i64> {
        let mut per = BTreeMap::new();
        for inc in self.opened() {
            *per.entry(inc.tenant.as_str()).or_insert(0) += 1;
        }
        per
    }

    /// Incidents that existed before the batch and gained alerts.
    pub fn changed(&self) -> impl Iterator<Item = &Candidate> {
        self.tracked
            .iter()
            .filter(|t| t.changed && !t.opened)
            .map(|t| &t.incident)
    }

    pub fn timeline(&self) -> &[NewEntry] {
        &self.timeline
    }

    /// Counts per tenant, hour, engine and severity, for `alert_rollup`.
    pub fn rollup(&self) -> &BTreeMap<RollupKey, i64> {
        &self.rollup
    }

    /// Counts per hour, engine and severity over all tenants, for `alert_rollup_all`.
    pub fn rollup_all(&self) -> BTreeMap<(i64, &'static str, i64), i64> {
        let mut all = BTreeMap::new();
        for ((_, hour, engine, severity), count) in &self.rollup {
            *all.entry((*hour, *engine, *severity)).or_insert(0) += count;
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_core::{from_unix_ms, Engine};

    const MIN: i64 = 60_000;

    fn alert(at_ms: i64, severity: Severity, summary: &str) -> Alert {
        let mut a = Alert::new(Engine::Ids, "ids.test", "test", severity, summary);
        a.time = from_unix_ms(at_ms);
        a.tenant = "acme".into();
        a
    }

    /// The alert as a batch would carry it, on `asset`.
    fn on(asset: Option<&str>, a: &Alert) -> PreparedAlert {
        PreparedAlert {
            asset: asset.map(str::to_string),
            ..PreparedAlert::new(a).unwrap()
        }
    }

    fn window() -> time::Duration {
        time::Duration::minutes(30)
    }

    #[test]
    fn alerts_within_the_window_share_an_incident_and_raise_its_severity() {
        let mut c = Correlation::new(window(), 0);
        let first = alert(0, Severity::Low, "scan");
        let second = alert(10 * MIN, Severity::Critical, "beacon");
        let a = c.assign(&on(Some("host:10.0.0.5"), &first));
        let b = c.assign(&on(Some("host:10.0.0.5"), &second));
        assert!(a.is_some());
        assert_eq!(a, b);
        let opened: Vec<_> = c.opened().collect();
        assert_eq!(opened.len(), 1);
        assert_eq!(opened[0].alert_count, 2);
        assert_eq!(opened[0].severity, Severity::Critical);
        assert_eq!(opened[0].title, "beacon");
        assert_eq!(c.timeline().len(), 2);
    }

    #[test]
    fn an_alert_after_the_window_opens_a_new_incident() {
        let mut c = Correlation::new(window(), 0);
        let a = c.assign(&on(Some("host:a"), &alert(0, Severity::Low, "x")));
        let b = c.assign(&on(Some("host:a"), &alert(31 * MIN, Severity::Low, "x")));
        assert_ne!(a, b);
        assert_eq!(c.opened().count(), 2);
    }

    #[test]
    fn info_alerts_join_but_never_open() {
        let mut c = Correlation::new(window(), 0);
        assert_eq!(
            c.assign(&on(Some("host:a"), &alert(0, Severity::Info, "x"))),
            None
        );
        let opened = c.assign(&on(Some("host:a"), &alert(MIN, Severity::Medium, "x")));
        assert_eq!(
            c.assign(&on(Some("host:a"), &alert(2 * MIN, Severity::Info, "x"))),
            opened
        );
        assert_eq!(
            c.assign(&on(None, &alert(3 * MIN, Severity::High, "x"))),
            None
        );
        let total: i64 = c.rollup().values().sum();
        assert_eq!(total, 4);
        assert_eq!(c.rollup_all().values().sum::<i64>(), 4);
    }

    #[test]
    fn closed_candidates_are_not_joined_and_existing_ones_are_reported_changed() {
        let mut c = Correlation::new(window(), 5);
        let existing = Candidate {
            id: Ulid::new(),
            tenant: "acme".into(),
            asset: "host:a".into(),
            title: "old".into(),
            severity: Severity::High,
            state: IncidentState::Investigating,
            alert_count: 3,
            first_seen_ms: 0,
            last_seen_ms: MIN,
            updated_at_ms: 0,
        };
        let closed = Candidate {
            id: Ulid::new(),
            asset: "host:b".into(),
            state: IncidentState::Resolved,
            ..existing.clone()
        };
        c.add_candidate(existing.clone());
        c.add_candidate(closed);
        assert_eq!(
            c.assign(&on(Some("host:a"), &alert(2 * MIN, Severity::Low, "x"))),
            Some(existing.id)
        );
        let b = c.assign(&on(Some("host:b"), &alert(2 * MIN, Severity::Low, "x")));
        assert!(b.is_some());
        let changed: Vec<_> = c.changed().collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].alert_count, 4);
        assert_eq!(changed[0].title, "old");
        assert_eq!(changed[0].updated_at_ms, 5);
        assert_eq!(c.opened().count(), 1);
    }

    fn prepared(alerts: &[Alert], asset: Option<&str>) -> Vec<PreparedAlert> {
        alerts.iter().map(|a| on(asset, a)).collect()
    }

    #[test]
    fn a_prepared_alert_has_the_alerts_headline() {
        let mut a = alert(0, Severity::Low, "summary");
        assert_eq!(on(None, &a).headline(), a.headline());
        a.summary.clear();
        assert_eq!(on(None, &a).headline(), a.headline());
    }

    #[test]
    fn steady_alerts_cost_one_lookup_and_scattered_ones_one_each() {
        let steady: Vec<Alert> = (0..10)
            .map(|i| alert(i * MIN, Severity::Low, "x"))
            .collect();
        let steady = prepared(&steady, Some("host:a"));
        let fresh: Vec<_> = steady.iter().collect();
        let ranges = candidate_ranges(&fresh, window());
        assert_eq!(ranges.len(), 1);
        assert_eq!(ranges[0].after_ms, i64::MIN);
        assert_eq!(ranges[0].until_ms, 9 * MIN + 30 * MIN);
        assert_eq!(ranges[0].since_ms, -30 * MIN);

        let scattered: Vec<Alert> = (0..3)
            .map(|i| alert(i * 1000 * MIN, Severity::Low, "x"))
            .collect();
        let on_a = prepared(&scattered, Some("host:a"));
        let on_b = prepared(&scattered[..1], Some("host:b"));
        let on_none = prepared(&scattered[..1], None);
        let fresh: Vec<_> = on_a.iter().chain(&on_b).chain(&on_none).collect();
        let ranges = candidate_ranges(&fresh, window());
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[1].after_ms, ranges[0].until_ms);
        assert_eq!(ranges[3].asset, "host:b");
    }

    #[test]
    fn hours_round_down_also_before_the_epoch() {
        assert_eq!(hour_of(3_600_001), 3_600_000);
        assert_eq!(hour_of(-1), -3_600_000);
    }
}
