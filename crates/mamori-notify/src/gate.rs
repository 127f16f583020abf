//! The gate between a matching notice and a message: de-duplication, throttling, the
//! hourly rate limit, and quiet hours. Pure state, no I/O; the time comes from the caller,
//! so tests step a clock instead of sleeping.
//!
//! State is kept per (rule, incident) — a *thread* — and per (rule, tenant) — a rate
//! *window*. Threads idle for a day are forgotten, and their number is capped, so a storm
//! of incidents cannot grow memory without bound.

use crate::config::Rule;
use crate::notice::{Notice, Trigger};
use crate::quiet::QuietWindow;
use mamori_core::Severity;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use time::{Duration, OffsetDateTime};
use ulid::Ulid;

/// Threads idle longer than this are forgotten.
const THREAD_IDLE: Duration = Duration::hours(24);
/// At most this many threads; the least recently touched go first.
const MAX_THREADS: usize = 50_000;
/// Distinct rate-limited incidents remembered per window (beyond, only counted).
const MAX_SUPPRESSED_IDS: usize = 10_000;

/// Why a matching notice sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    /// An update within `throttle_minutes` of the last message about the incident.
    Throttled,
    /// Already told: a second `Opened`, a `SeverityRaised` to a severity already sent, a
    /// second `Resolved`.
    Duplicate,
    /// `max_per_hour` messages already went out for this rule and tenant.
    RateLimit,
    /// A `Resolved` for an incident nobody was told about.
    NotNotified,
    /// Quiet hours, and the store of held notices is full.
    QuietHours,
}

impl SuppressReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressReason::Throttled => "throttled",
            SuppressReason::Duplicate => "duplicate",
            SuppressReason::RateLimit => "rate_limit",
            SuppressReason::NotNotified => "not_notified",
            SuppressReason::QuietHours => "quiet_hours",
        }
    }
}

/// What to do with a notice for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Send(Extra),
    Suppress(SuppressReason),
    /// Quiet hours: keep it for the morning digest.
    Hold,
}

/// What a message adds about what was held back before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extra {
    /// Alerts on this incident since the last message about it.
    pub more_alerts: i64,
    /// Other incidents of this rule and tenant dropped by the rate limit.
    pub suppressed_incidents: u64,
}

#[derive(Debug)]
struct Thread {
    last_sent: OffsetDateTime,
    alert_count: i64,
    severity: Severity,
    resolved: bool,
    touched: OffsetDateTime,
}

#[derive(Debug, Default)]
struct Window {
    sent: VecDeque<OffsetDateTime>,
    suppressed_ids: HashSet<Ulid>,
    suppressed: u64,
}

impl Window {
    fn prune(&mut self, now: OffsetDateTime) {
        while self
            .sent
            .front()
            .is_some_and(|t| now - *t >= Duration::HOUR)
        {
            self.sent.pop_front();
        }
    }

    fn take_suppressed(&mut self) -> u64 {
        self.suppressed_ids.clear();
        std::mem::take(&mut self.suppressed)
    }
}

/// The gate's state; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    threads: HashMap<(usize, Ulid), Thread>,
    windows: HashMap<(usize, String), Window>,
    last_prune: Option<OffsetDateTime>,
}

impl Gate {
    /// Decides for rule number `rule_index` (which matches the notice) at `now`, and
    /// records the decision.
    pub(crate) fn decide(
        &mut self,
        rule_index: usize,
        rule: &Rule,
        quiet: Option<&QuietWindow>,
        notice: &Notice,
        now: OffsetDateTime,
    ) -> Verdict {
        self.prune(now);
        let incident = &notice.incident;
        let key = (rule_index, incident.id);
        let thread = self.threads.get(&key);
        let throttle = Duration::minutes(i64::from(rule.throttle_minutes));
        let suppressed = match (notice.trigger, thread) {
            (Trigger::Opened, Some(_)) => Some(SuppressReason::Duplicate),
            (Trigger::Updated, Some(t)) if now - t.last_sent < throttle => {
                Some(SuppressReason::Throttled)
            }
            (Trigger::SeverityRaised { .. }, Some(t)) if t.severity >= incident.severity => {
                Some(SuppressReason::Duplicate)
            }
            (Trigger::Resolved, None) => Some(SuppressReason::NotNotified),
            (Trigger::Resolved, Some(t)) if t.resolved => Some(SuppressReason::Duplicate),
            _ => None,
        };
        if let Some(reason) = suppressed {
            if let Some(t) = self.threads.get_mut(&key) {
                t.touched = now;
            }
            return Verdict::Suppress(reason);
        }

        let held = quiet.is_some_and(|q| q.holds(now, incident.severity));
        let mut extra = Extra::default();
        if !held {
            let window = self
                .windows
                .entry((rule_index, incident.tenant.clone()))
                .or_default();
            window.prune(now);
            // A resolution is only sent for incidents already told about, so it is
            // bounded by earlier messages and never dropped; it still takes a slot.
            if notice.trigger != Trigger::Resolved
                && window.sent.len() >= rule.max_per_hour as usize
            {
                if window.suppressed_ids.len() < MAX_SUPPRESSED_IDS {
                    if window.suppressed_ids.insert(incident.id) {
                        window.suppressed += 1;
                    }
                } else {
                    window.suppressed += 1;
                }
                return Verdict::Suppress(SuppressReason::RateLimit);
            }
            window.sent.push_back(now);
            extra.suppressed_incidents = window.take_suppressed();
        }

        let previous = self.threads.get(&key);
        if matches!(
            notice.trigger,
            Trigger::Updated | Trigger::SeverityRaised { .. }
        ) {
            extra.more_alerts = previous
                .map(|t| incident.alert_count - t.alert_count)
                .unwrap_or(0)
                .max(0);
        }
        self.threads.insert(
            key,
            Thread {
                last_sent: now,
                alert_count: incident.alert_count,
                severity: incident.severity,
                resolved: notice.trigger == Trigger::Resolved,
                touched: now,
            },
        );
        if held {
            Verdict::Hold
        } else {
            Verdict::Send(extra)
        }
    }

    /// The (rule, tenant) windows with rate-limited incidents and room for a digest now;
    /// each returned digest takes its slot.
    pub(crate) fn due_digests(
        &mut self,
        max_per_hour: impl Fn(usize) -> u32,
        now: OffsetDateTime,
    ) -> Vec<(usize, String, u64)> {
        let mut due = Vec::new();
        for ((rule, tenant), window) in &mut self.windows {
            window.prune(now);
            if window.suppressed > 0 && window.sent.len() < max_per_hour(*rule) as usize {
                window.sent.push_back(now);
                due.push((*rule, tenant.clone(), window.take_suppressed()));
            }
        }
        due
    }

    fn prune(&mut self, now: OffsetDateTime) {
        let due = self
            .last_prune
            .is_none_or(|last| now - last >= Duration::minutes(10));
        if !due && self.threads.len() <= MAX_THREADS {
            return;
        }
        self.last_prune = Some(now);
        self.threads.retain(|_, t| now - t.touched < THREAD_IDLE);
        if self.threads.len() > MAX_THREADS {
            let mut touched: Vec<_> = self.threads.iter().map(|(k, t)| (t.touched, *k)).collect();
            touched.sort_unstable();
            let excess = self.threads.len() - MAX_THREADS * 9 / 10;
            for (_, key) in touched.into_iter().take(excess) {
                self.threads.remove(&key);
            }
        }
        self.windows.retain(|_, w| {
            w.prune(now);
            !w.sent.is_empty() || w.suppressed > 0
        });
    }

    #[cfg(test)]
    fn thread_count(&self) -> usize {
        self.threads.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::QuietHours;
    use crate::notice::tests::{incident, notice};
    use crate::quiet::parse_offset;
    use time::macros::datetime;

    fn rule(throttle_minutes: u32, max_per_hour: u32) -> Rule {
        let mut rule: Rule =
            toml::from_str("name = \"r\"\nwebhook = { url = \"https://h.example/x\" }")
                .expect("rule");
        rule.throttle_minutes = throttle_minutes;
        rule.max_per_hour = max_per_hour;
        rule
    }

    const T0: OffsetDateTime = datetime!(2025-03-01 10:00 +09:00);

    #[test]
    fn updates_within_the_throttle_window_are_suppressed_then_counted() {
        let (mut gate, rule) = (Gate::default(), rule(60, 20));
        let mut inc = incident("acme", Severity::High);
        let opened = notice(inc.clone(), Trigger::Opened);
        assert!(matches!(
            gate.decide(0, &rule, None, &opened, T0),
            Verdict::Send(_)
        ));
        for minute in 1..50 {
            inc.alert_count += 1;
            let n = notice(inc.clone(), Trigger::Updated);
            let at = T0 + Duration::minutes(minute);
            assert_eq!(
                gate.decide(0, &rule, None, &n, at),
                Verdict::Suppress(SuppressReason::Throttled)
            );
        }
        assert_eq!(
            gate.decide(0, &rule, None, &opened, T0 + Duration::minutes(59)),
            Verdict::Suppress(SuppressReason::Duplicate)
        );
        inc.alert_count += 1;
        let late = notice(inc.clone(), Trigger::Updated);
        match gate.decide(0, &rule, None, &late, T0 + Duration::minutes(60)) {
            Verdict::Send(extra) => assert_eq!(extra.more_alerts, 50),
            other => panic!("expected a message after the window, got {other:?}"),
        }
    }

    #[test]
    fn escalation_notifies_once_per_severity_and_resolution_only_if_told() {
        let (mut gate, rule) = (Gate::default(), rule(60, 20));
        let mut inc = incident("acme", Severity::Medium);
        let never = incident("acme", Severity::High);
        assert_eq!(
            gate.decide(0, &rule, None, &notice(never, Trigger::Resolved), T0),
            Verdict::Suppress(SuppressReason::NotNotified)
        );
        assert!(matches!(
            gate.decide(0, &rule, None, &notice(inc.clone(), Trigger::Opened), T0),
            Verdict::Send(_)
        ));
        inc.severity = Severity::Critical;
        let raised = notice(
            inc.clone(),
            Trigger::SeverityRaised {
                from: Severity::Medium,
            },
        );
        assert!(matches!(
            gate.decide(0, &rule, None, &raised, T0 + Duration::minutes(1)),
            Verdict::Send(_)
        ));
        assert_eq!(
            gate.decide(0, &rule, None, &raised, T0 + Duration::minutes(2)),
            Verdict::Suppress(SuppressReason::Duplicate)
        );
        let resolved = notice(inc, Trigger::Resolved);
        assert!(matches!(
            gate.decide(0, &rule, None, &resolved, T0 + Duration::minutes(3)),
            Verdict::Send(_)
        ));
        assert_eq!(
            gate.decide(0, &rule, None, &resolved, T0 + Duration::minutes(4)),
            Verdict::Suppress(SuppressReason::Duplicate)
        );
    }

    #[test]
    fn the_rate_limit_slides_and_reports_what_it_dropped() {
        let (mut gate, rule) = (Gate::default(), rule(60, 3));
        for i in 0..3 {
            let n = notice(incident("acme", Severity::High), Trigger::Opened);
            assert!(matches!(
                gate.decide(0, &rule, None, &n, T0 + Duration::minutes(i)),
                Verdict::Send(_)
            ));
        }
        for i in 0..5 {
            let n = notice(incident("acme", Severity::High), Trigger::Opened);
            assert_eq!(
                gate.decide(0, &rule, None, &n, T0 + Duration::minutes(10 + i)),
                Verdict::Suppress(SuppressReason::RateLimit)
            );
        }
        // Another tenant has its own window.
        let other = notice(incident("beta", Severity::High), Trigger::Opened);
        assert!(matches!(
            gate.decide(0, &rule, None, &other, T0),
            Verdict::Send(_)
        ));
        assert!(gate
            .due_digests(|_| 3, T0 + Duration::minutes(30))
            .is_empty());
        let due = gate.due_digests(|_| 3, T0 + Duration::minutes(60));
        assert_eq!(due, vec![(0, "acme".to_string(), 5)]);
        assert!(gate
            .due_digests(|_| 3, T0 + Duration::minutes(61))
            .is_empty());
    }

    #[test]
    fn quiet_hours_hold_below_the_override() {
        let (mut gate, rule) = (Gate::default(), rule(60, 20));
        let offset = parse_offset("+09:00").expect("offset");
        let quiet = QuietWindow::parse(
            &QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
                override_severity: Severity::Critical,
            },
            offset,
        )
        .expect("quiet");
        let night = datetime!(2025-03-01 23:30 +09:00);
        let medium = notice(incident("acme", Severity::Medium), Trigger::Opened);
        assert_eq!(
            gate.decide(0, &rule, Some(&quiet), &medium, night),
            Verdict::Hold
        );
        let critical = notice(incident("acme", Severity::Critical), Trigger::Opened);
        assert!(matches!(
            gate.decide(0, &rule, Some(&quiet), &critical, night),
            Verdict::Send(_)
        ));
    }

    #[test]
    fn idle_threads_are_forgotten() {
        let (mut gate, rule) = (Gate::default(), rule(60, 1000));
        for _ in 0..100 {
            let n = notice(incident("acme", Severity::High), Trigger::Opened);
            gate.decide(0, &rule, None, &n, T0);
        }
        assert_eq!(gate.thread_count(), 100);
        let n = notice(incident("acme", Severity::High), Trigger::Opened);
        gate.decide(0, &rule, None, &n, T0 + Duration::hours(25));
        assert_eq!(gate.thread_count(), 1);
    }
}
