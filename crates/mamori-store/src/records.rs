//! What both backends share between a database row and a `mamori-core` value: decoding
//! stored columns (a value that does not decode is [`Error::Corrupt`], never a panic),
//! checking what callers hand in, applying an [`IncidentChange`], resolving a [`Scope`]
//! against a query's tenant filter, and folding rollup rows into [`AlertCounts`].

use crate::{AlertCounts, Bucket, Error, Result, StoredAlert};
use mamori_core::alert::MAX_SHORT_FIELD;
use mamori_core::incident::{IncidentChange, MAX_NOTE};
use mamori_core::tenant::Token;
use mamori_core::{
    from_unix_ms, unix_ms, Alert, Incident, IncidentState, Role, Scope, Severity, Tenant,
    TimelineEntry, TimelineKind, User,
};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use ulid::Ulid;

/// The tenant a query is limited to: `None` when scope and filter exclude each other (the
/// answer is empty), `Some(None)` for every tenant, `Some(Some(t))` for one.
pub(crate) fn effective_tenant<'a>(
    scope: &'a Scope,
    asked: Option<&'a str>,
) -> Option<Option<&'a str>> {
    match (scope.tenant(), asked) {
        (Some(s), Some(a)) if s != a => None,
        (Some(s), _) => Some(Some(s)),
        (None, a) => Some(a),
    }
}

pub(crate) use mamori_core::now_ms;

pub(crate) fn parse_ulid(text: &str, what: &str) -> Result<Ulid> {
    Ulid::from_string(text).map_err(|_| Error::Corrupt(format!("{what} id {text:?}")))
}

pub(crate) fn parse_state(text: &str) -> Result<IncidentState> {
    text.parse()
        .map_err(|e: String| Error::Corrupt(format!("incident state: {e}")))
}

pub(crate) fn parse_role(text: &str) -> Result<Role> {
    text.parse()
        .map_err(|e: String| Error::Corrupt(format!("user role: {e}")))
}

/// The JSON kept in `alerts.body`.
pub(crate) fn alert_body(alert: &Alert) -> Result<String> {
    serde_json::to_string(alert).map_err(|e| Error::Invalid(format!("alert {}: {e}", alert.id)))
}

/// Rebuilds a stored alert from its columns; the row's tenant is authoritative.
pub(crate) fn stored_alert(
    tenant: String,
    incident: Option<String>,
    body: &str,
) -> Result<StoredAlert> {
    let mut alert: Alert =
        serde_json::from_str(body).map_err(|e| Error::Corrupt(format!("alert body: {e}")))?;
    alert.tenant = tenant;
    let incident = incident.map(|id| parse_ulid(&id, "incident")).transpose()?;
    Ok(StoredAlert { alert, incident })
}

/// An `incidents` row as read, before decoding.
pub(crate) struct IncidentRow {
    pub id: String,
    pub tenant: String,
    pub asset: String,
    pub title: String,
    pub severity: i64,
    pub state: String,
    pub assignee: Option<String>,
    pub alert_count: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub updated_at_ms: i64,
    pub first_response_ms: Option<i64>,
    pub contained_ms: Option<i64>,
}

/// The column list matching [`IncidentRow`]'s field order.
pub(crate) const INCIDENT_COLUMNS: &str = "id, tenant, asset, title, severity, state, assignee, \
     alert_count, first_seen_ms, last_seen_ms, updated_at_ms, first_response_ms, contained_ms";

/// The SLA times an incident change records (`first_response_ms`, `contained_ms`): a
/// person's first change is the first response (a message from the customer is not); the
/// first move to contained, resolved or false positive is containment. Each is kept once.
pub(crate) fn sla_marks(
    actor: &str,
    kind: &TimelineKind,
    state: IncidentState,
    now_ms: i64,
) -> (Option<i64>, Option<i64>) {
    let customer = matches!(
        kind,
        TimelineKind::Message {
            side: mamori_core::incident::Side::Customer,
            ..
        }
    );
    let person = actor != "mamori" && !customer;
    let contained = matches!(
        state,
        IncidentState::Contained | IncidentState::Resolved | IncidentState::FalsePositive
    );
    (person.then_some(now_ms), contained.then_some(now_ms))
}

impl IncidentRow {
    pub fn decode(self) -> Result<Incident> {
        Ok(Incident {
            id: parse_ulid(&self.id, "incident")?,
            tenant: self.tenant,
            asset: self.asset,
            title: self.title,
            severity: Severity::from_rank(self.severity),
            state: parse_state(&self.state)?,
            assignee: self.assignee,
            alert_count: self.alert_count,
            first_seen: from_unix_ms(self.first_seen_ms),
            last_seen: from_unix_ms(self.last_seen_ms),
            updated_at: from_unix_ms(self.updated_at_ms),
            first_response: self.first_response_ms.map(from_unix_ms),
            contained: self.contained_ms.map(from_unix_ms),
        })
    }

    pub fn candidate(self) -> Result<crate::correlate::Candidate> {
        Ok(crate::correlate::Candidate {
            id: parse_ulid(&self.id, "incident")?,
            tenant: self.tenant,
            asset: self.asset,
            title: self.title,
            severity: Severity::from_rank(self.severity),
            state: parse_state(&self.state)?,
            alert_count: self.alert_count,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            updated_at_ms: self.updated_at_ms,
        })
    }
}

pub(crate) fn timeline_body(kind: &TimelineKind) -> Result<String> {
    serde_json::to_string(kind).map_err(|e| Error::Invalid(format!("timeline entry: {e}")))
}

pub(crate) fn timeline_entry(time_ms: i64, actor: String, body: &str) -> Result<TimelineEntry> {
    let kind =
        serde_json::from_str(body).map_err(|e| Error::Corrupt(format!("timeline entry: {e}")))?;
    Ok(TimelineEntry {
        time: from_unix_ms(time_ms),
        actor,
        kind,
    })
}

pub(crate) fn tenant(name: String, display_name: String, created_at_ms: i64) -> Tenant {
    Tenant {
        name,
        display_name,
        created_at: from_unix_ms(created_at_ms),
    }
}

/// The column list matching [`user`]'s arguments.
pub(crate) const USER_COLUMNS: &str = "id, email, password_hash, role, tenant, created_at_ms";

pub(crate) fn user(
    id: i64,
    email: String,
    password_hash: String,
    role: &str,
    tenant: Option<String>,
    created_at_ms: i64,
) -> Result<User> {
    Ok(User {
        id,
        email,
        role: parse_role(role)?,
        tenant,
        password_hash,
        created_at: from_unix_ms(created_at_ms),
    })
}

/// The column list matching [`token`]'s arguments.
pub(crate) const TOKEN_COLUMNS: &str = "id, tenant, name, created_at_ms, revoked_at_ms";

pub(crate) fn token(
    id: i64,
    tenant: String,
    name: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
) -> Token {
    Token {
        id,
        tenant,
        name,
        created_at: from_unix_ms(created_at_ms),
        revoked_at: revoked_at_ms.map(from_unix_ms),
    }
}

/// Emails are matched case-insensitively, so they are kept in lower case.
pub(crate) fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn check_new_tenant(name: &str, display_name: &str) -> Result<()> {
    if !mamori_core::valid_tenant_name(name) {
        return Err(Error::Invalid(format!(
            "tenant name {name:?}: use 1-63 characters of a-z, 0-9 and '-', not starting with '-'"
        )));
    }
    if display_name.len() > MAX_SHORT_FIELD {
        return Err(Error::Invalid(format!(
            "display name is longer than {MAX_SHORT_FIELD} bytes"
        )));
    }
    Ok(())
}

/// Checks a new user apart from whether their tenant exists; answers the email to store.
pub(crate) fn check_new_user(email: &str, role: Role, tenant: Option<&str>) -> Result<String> {
    let email = normalize_email(email);
    if email.is_empty() || email.len() > MAX_SHORT_FIELD {
        return Err(Error::Invalid(format!("email {email:?}")));
    }
    if role != Role::ProviderAdmin && tenant.is_none() {
        return Err(Error::Invalid(format!("a {role} user needs a tenant")));
    }
    Ok(email)
}

pub(crate) fn check_new_token(name: &str, secret_hash: &str) -> Result<()> {
    if name.trim().is_empty() || name.len() > MAX_SHORT_FIELD {
        return Err(Error::Invalid(format!("token name {name:?}")));
    }
    if secret_hash.is_empty() {
        return Err(Error::Invalid("token secret hash is empty".into()));
    }
    Ok(())
}

/// Applies a person's change to an incident; answers the timeline entry to record.
pub(crate) fn apply_change(
    incident: &mut Incident,
    change: IncidentChange,
    now: OffsetDateTime,
) -> Result<TimelineKind> {
    let kind = match change {
        IncidentChange::State(to) => {
            let from = incident.state;
            if !from.can_move_to(to) {
                return Err(Error::Invalid(format!(
                    "an incident cannot move from {from} to {to}"
                )));
            }
            incident.state = to;
            TimelineKind::StateChanged { from, to }
        }
        IncidentChange::Assign(to) => {
            let to = to.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            if to.as_ref().is_some_and(|s| s.len() > MAX_SHORT_FIELD) {
                return Err(Error::Invalid(format!(
                    "assignee is longer than {MAX_SHORT_FIELD} bytes"
                )));
            }
            incident.assignee = to.clone();
            TimelineKind::Assigned { to }
        }
        IncidentChange::Note(text) => {
            if text.trim().is_empty() {
                return Err(Error::Invalid("the note is empty".into()));
            }
            if text.len() > MAX_NOTE {
                return Err(Error::Invalid(format!(
                    "the note is longer than {MAX_NOTE} bytes"
                )));
            }
            TimelineKind::Note { text }
        }
        IncidentChange::Message { text, side, via } => {
            if text.trim().is_empty() {
                return Err(Error::Invalid("the message is empty".into()));
            }
            if text.len() > MAX_NOTE {
                return Err(Error::Invalid(format!(
                    "the message is longer than {MAX_NOTE} bytes"
                )));
            }
            let via: String = via.chars().take(16).collect();
            TimelineKind::Message { text, side, via }
        }
    };
    incident.updated_at = now;
    Ok(kind)
}

/// The change to a tenant's `open_incidents` count when an incident moves between open
/// and closed states.
pub(crate) fn open_delta(was_open: bool, is_open: bool) -> Option<i64> {
    match (was_open, is_open) {
        (true, false) => Some(-1),
        (false, true) => Some(1),
        _ => None,
    }
}

/// Folds `alert_rollup` rows into the overview's counts.
pub(crate) struct CountsBuilder {
    since_ms: i64,
    bucket_ms: i64,
    counts: AlertCounts,
}

impl CountsBuilder {
    /// Buckets of `bucket` (at least an hour, the rollup's grain) from `since` to about
    /// `now`, oldest first, every severity present with zero counts.
    pub fn new(since: OffsetDateTime, bucket: time::Duration, now: OffsetDateTime) -> Self {
        let since_ms = unix_ms(since);
        let bucket_ms = i64::try_from(bucket.whole_milliseconds())
            .unwrap_or(i64::MAX)
            .max(3_600_000);
        // Rounded to the nearest whole bucket so that `since = now - 24h` gives 24 buckets
        // whatever milliseconds pass between the caller's clock reading and ours.
        let span = unix_ms(now).saturating_sub(since_ms).max(0);
        let n = (span.saturating_add(bucket_ms / 2) / bucket_ms).clamp(1, 10_000);
        let zero: BTreeMap<String, i64> = Severity::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        let buckets = (0..n)
            .map(|i| Bucket {
                start_ms: since_ms.saturating_add(i * bucket_ms),
                by_severity: zero.clone(),
            })
            .collect();
        CountsBuilder {
            since_ms,
            bucket_ms,
            counts: AlertCounts {
                by_severity: zero,
                buckets,
                ..AlertCounts::default()
            },
        }
    }

    /// The earliest rollup hour to read: the one containing `since`.
    pub fn first_hour_ms(&self) -> i64 {
        crate::correlate::hour_of(self.since_ms)
    }

    /// Adds one rollup row. The hour containing `since` counts whole, into the first bucket;
    /// hours after `now` (clock skew) go into the last.
    pub fn add(&mut self, hour_ms: i64, engine: &str, severity: i64, count: i64) {
        let severity = Severity::from_rank(severity).as_str();
        self.counts.total += count;
        *self
            .counts
            .by_severity
            .entry(severity.to_string())
            .or_insert(0) += count;
        *self.counts.by_engine.entry(engine.to_string()).or_insert(0) += count;
        let last = self.counts.buckets.len().saturating_sub(1);
        let index = (hour_ms.saturating_sub(self.since_ms) / self.bucket_ms).max(0);
        let index = usize::try_from(index).unwrap_or(last).min(last);
        if let Some(bucket) = self.counts.buckets.get_mut(index) {
            *bucket.by_severity.entry(severity.to_string()).or_insert(0) += count;
        }
    }

    pub fn finish(mut self, open_incidents: i64) -> AlertCounts {
        self.counts.open_incidents = open_incidents;
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_filter_outside_the_scope_matches_nothing() {
        let a = Scope::Tenant("a".into());
        assert_eq!(effective_tenant(&a, Some("b")), None);
        assert_eq!(effective_tenant(&a, None), Some(Some("a")));
        assert_eq!(effective_tenant(&Scope::All, Some("b")), Some(Some("b")));
        assert_eq!(effective_tenant(&Scope::All, None), Some(None));
    }

    #[test]
    fn a_corrupt_body_is_an_error_not_a_panic() {
        assert!(matches!(
            stored_alert("a".into(), None, "{"),
            Err(Error::Corrupt(_))
        ));
        assert!(matches!(
            timeline_entry(0, "x".into(), r#"{"kind":"nope"}"#),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn counts_fill_empty_buckets_oldest_first() {
        let since = from_unix_ms(0);
        let now = from_unix_ms(3 * 3_600_000);
        let mut b = CountsBuilder::new(since, time::Duration::hours(1), now);
        b.add(3_600_000, "ids", Severity::High.rank(), 2);
        b.add(99 * 3_600_000, "waf", Severity::Low.rank(), 1);
        let c = b.finish(4);
        assert_eq!(c.total, 3);
        assert_eq!(c.buckets.len(), 3);
        assert_eq!(c.buckets[0].by_severity["high"], 0);
        assert_eq!(c.buckets[1].by_severity["high"], 2);
        assert_eq!(c.buckets[2].by_severity["low"], 1);
        assert_eq!(c.by_engine["waf"], 1);
        assert_eq!(c.open_incidents, 4);
    }
}
