//! # mamori-store
//!
//! Where alerts, incidents, tenants, users, sessions and tokens are kept. One [`Store`]
//! trait, two backends that pass the same test suite:
//!
//! - [`sqlite::SqliteStore`]: the embedded default, one file in WAL mode in the data
//!   directory. One writer connection, a few reader connections.
//! - [`postgres::PostgresStore`]: for one console serving many tenants or sensors, and for
//!   stateless console replicas behind a load balancer.
//!
//! Both apply versioned migrations when opened. Every query that reads or changes tenant data
//! takes a [`Scope`]: a row outside the scope is answered as "not found", never returned.
//!
//! Alerts are correlated into incidents as they are stored ([`Store::ingest`]): an alert joins
//! the open incident on the same asset whose last alert is within the window, else it opens a
//! new one. The incident's severity is the maximum of its alerts'.
//!
//! This crate does not parse input from the network or decide who is allowed to do what
//! beyond the scope it is handed; the console does that.

pub mod actions;
mod correlate;
pub mod events;
mod migrations;
pub mod postgres;
mod query;
mod records;
pub mod sensors;
pub mod sqlite;
pub mod writer;

pub use actions::{ActionKind, ActionQuery, NewAction, ResponseAction};
use async_trait::async_trait;
pub use events::{EventQuery, FieldTerm, LogEvent, TermOp};
use mamori_core::incident::IncidentChange;
use mamori_core::tenant::Token;
use mamori_core::{
    Alert, Engine, Incident, IncidentState, Role, Scope, Severity, Tenant, TimelineEntry, User,
};
pub use sensors::{SensorContact, TenantHealth};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;
use ulid::Ulid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("migration {version} failed: {message}")]
    Migration { version: i64, message: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("background task failed: {0}")]
    Task(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A shared handle to whichever backend is configured.
pub type DynStore = Arc<dyn Store>;

/// Filters for listing alerts. All set filters must hold.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only this tenant (must also be inside the scope).
    pub tenant: Option<String>,
    /// Inclusive lower and exclusive upper bound on the alert time.
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    /// Alerts at least this severe.
    pub min_severity: Option<Severity>,
    pub engine: Option<Engine>,
    /// Exact asset key (`host:10.0.0.5`).
    pub asset: Option<String>,
    /// Only alerts of this incident.
    pub incident: Option<Ulid>,
    /// Case-insensitive substring of summary, rule name or rule id.
    pub text: Option<String>,
    /// Opaque cursor from a previous page's `next`.
    pub cursor: Option<String>,
    /// Page size; the store caps it at [`MAX_PAGE`].
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub tenant: Option<String>,
    pub state: Option<IncidentState>,
    /// Only open (not resolved / false positive) incidents.
    pub open_only: bool,
    pub min_severity: Option<Severity>,
    pub asset: Option<String>,
    /// The provider's triage order: open incidents only, most severe first, oldest first
    /// within a severity (instead of the most recently active first).
    pub triage: bool,
    pub cursor: Option<String>,
    pub limit: usize,
}

pub const MAX_PAGE: usize = 500;

/// One page of a keyset-paginated list, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor of the next page, `None` on the last.
    pub next: Option<String>,
}

/// An alert as stored: the alert plus the incident it was correlated into.
#[derive(Debug, Clone, Serialize)]
pub struct StoredAlert {
    #[serde(flatten)]
    pub alert: Alert,
    pub incident: Option<Ulid>,
}

/// Alerts made ready to store: their columns and serialised bodies, worked out without the
/// store (the costliest part of an alert), so that a caller can prepare the next batch while
/// the previous one is being written ([`writer`] does).
#[derive(Debug, Clone, Default)]
pub struct PreparedBatch {
    alerts: Vec<correlate::PreparedAlert>,
}

impl PreparedBatch {
    pub fn new(alerts: &[Alert]) -> Result<PreparedBatch> {
        Ok(PreparedBatch {
            alerts: correlate::PreparedAlert::batch(alerts)?,
        })
    }

    /// Appends another batch, keeping the order.
    pub fn append(&mut self, other: PreparedBatch) {
        if self.alerts.is_empty() {
            self.alerts = other.alerts;
        } else {
            self.alerts.extend(other.alerts);
        }
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }
}

/// What [`Store::ingest`] did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Alerts newly stored.
    pub stored: usize,
    /// Alerts whose id was already stored (nothing changed).
    pub duplicates: usize,
    /// The ids counted in `duplicates`, so a caller that merged several requests into one
    /// batch can tell each its own figures.
    pub duplicate_ids: Vec<Ulid>,
    /// Incidents opened by this batch.
    pub incidents_opened: usize,
}

/// Alert counts for the overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertCounts {
    pub total: i64,
    pub by_severity: BTreeMap<String, i64>,
    pub by_engine: BTreeMap<String, i64>,
    /// Per time bucket (start, unix ms) and severity: the chart's series.
    pub buckets: Vec<Bucket>,
    pub open_incidents: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub by_severity: BTreeMap<String, i64>,
}

/// A new console user; the password is already an argon2 hash.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub tenant: Option<String>,
}

/// A console login session. The store keeps only a hash of the cookie value.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub csrf: String,
    pub expires_at: OffsetDateTime,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // Tenants.
    async fn create_tenant(&self, name: &str, display_name: &str) -> Result<Tenant>;
    async fn tenants(&self, scope: &Scope) -> Result<Vec<Tenant>>;
    async fn tenant(&self, scope: &Scope, name: &str) -> Result<Option<Tenant>>;

    // Users.
    async fn create_user(&self, user: NewUser) -> Result<User>;
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn user_by_id(&self, id: i64) -> Result<Option<User>>;
    /// Users of the tenants in scope (provider admins only for `Scope::All`).
    async fn users(&self, scope: &Scope) -> Result<Vec<User>>;
    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()>;
    async fn count_users(&self) -> Result<i64>;

    // Sessions.
    async fn create_session(&self, session: Session) -> Result<()>;
    /// The unexpired session with this hash and its user.
    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<(Session, User)>>;
    async fn delete_session(&self, id_hash: &str) -> Result<()>;

    // Login throttling.
    async fn record_login_failure(&self, email: &str, ip: &str, at: OffsetDateTime) -> Result<()>;
    /// Failures since `since` for this email and for this address.
    async fn login_failures(
        &self,
        email: &str,
        ip: &str,
        since: OffsetDateTime,
    ) -> Result<(i64, i64)>;
    /// Forgets an account's failures after a successful login.
    async fn clear_login_failures(&self, email: &str) -> Result<()>;

    // Tokens. Only a hash of the secret is stored.
    async fn create_token(&self, tenant: &str, name: &str, secret_hash: &str) -> Result<Token>;
    /// The unrevoked token with this hash.
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>>;
    async fn tokens(&self, scope: &Scope) -> Result<Vec<Token>>;
    /// Revokes the tenant's token with this name; false when there is none.
    async fn revoke_token(&self, tenant: &str, name: &str) -> Result<bool>;

    // Alerts and incidents.
    /// Stores a batch in one transaction and correlates each new alert into an incident.
    /// Every alert's `tenant` must name an existing tenant. Alerts whose id is already stored
    /// are counted as duplicates and change nothing. `window` is the correlation window.
    async fn ingest(&self, alerts: &[Alert], window: time::Duration) -> Result<IngestOutcome> {
        if alerts.is_empty() {
            return Ok(IngestOutcome::default());
        }
        self.ingest_prepared(PreparedBatch::new(alerts)?, window)
            .await
    }
    /// [`Store::ingest`] for alerts already prepared; the same outcome.
    async fn ingest_prepared(
        &self,
        batch: PreparedBatch,
        window: time::Duration,
    ) -> Result<IngestOutcome>;
    async fn alerts(&self, scope: &Scope, query: &AlertQuery) -> Result<Page<StoredAlert>>;
    async fn alert(&self, scope: &Scope, id: Ulid) -> Result<Option<StoredAlert>>;
    /// Counts of alerts since `since`, bucketed by `bucket` for the chart.
    async fn alert_counts(
        &self,
        scope: &Scope,
        since: OffsetDateTime,
        bucket: time::Duration,
    ) -> Result<AlertCounts>;
    async fn incidents(&self, scope: &Scope, query: &IncidentQuery) -> Result<Page<Incident>>;
    async fn incident(&self, scope: &Scope, id: Ulid) -> Result<Option<Incident>>;
    async fn timeline(&self, scope: &Scope, id: Ulid) -> Result<Vec<TimelineEntry>>;
    /// Applies a change and records it in the timeline. A state change that
    /// [`IncidentState::can_move_to`] refuses is `Error::Invalid`; an incident outside the
    /// scope is `Error::NotFound`.
    async fn update_incident(
        &self,
        scope: &Scope,
        id: Ulid,
        change: IncidentChange,
        actor: &str,
    ) -> Result<Incident>;

    /// Stores log events for search; an id already stored is left as it is. Answers how
    /// many were new. Every event's tenant must exist.
    async fn ingest_events(&self, events: &[LogEvent]) -> Result<usize>;
    /// Log events matching the query, newest first.
    async fn events(&self, scope: &Scope, query: &EventQuery) -> Result<Page<LogEvent>>;

    /// Records a response action (in force from now). The tenant must exist, and the
    /// incident, when given, must be the tenant's.
    async fn create_action(&self, action: NewAction) -> Result<ResponseAction>;
    /// Actions matching the query, newest first.
    async fn actions(&self, scope: &Scope, query: &ActionQuery) -> Result<Vec<ResponseAction>>;
    async fn action(&self, scope: &Scope, id: Ulid) -> Result<Option<ResponseAction>>;
    /// Ends an action: `Error::NotFound` outside the scope, `Error::Invalid` when it was
    /// already released.
    async fn release_action(
        &self,
        scope: &Scope,
        id: Ulid,
        actor: &str,
        reason: &str,
    ) -> Result<ResponseAction>;
    /// The applier's report on an action (`applied`, `error: …`).
    async fn set_action_status(&self, id: Ulid, status: &str) -> Result<()>;

    /// Records a sensor's contact (one row per tenant and sensor name, replaced).
    async fn sensor_contact(&self, contact: &SensorContact) -> Result<()>;
    /// The sensors of the scope's tenants, by tenant and name.
    async fn sensors(&self, scope: &Scope) -> Result<Vec<SensorContact>>;
    /// Each tenant of the scope at a glance: last event, open incidents, sensors (online:
    /// heard from since `online_since`).
    async fn tenant_health(
        &self,
        scope: &Scope,
        online_since: OffsetDateTime,
    ) -> Result<Vec<TenantHealth>>;

    /// Deletes alerts and log events older than `cutoff` and closed incidents last seen before it, and
    /// expired sessions and old login failures. Answers the number of alerts deleted.
    async fn purge_before(&self, cutoff: OffsetDateTime) -> Result<u64>;
}

/// Opens the configured store: SQLite at `sqlite_path` when `url` is empty, else PostgreSQL.
pub async fn open(url: &str, sqlite_path: &std::path::Path) -> Result<DynStore> {
    if url.is_empty() {
        Ok(Arc::new(sqlite::SqliteStore::open(sqlite_path).await?))
    } else {
        Ok(Arc::new(postgres::PostgresStore::connect(url).await?))
    }
}

/// Keyset cursor: the sort key of the last row of a page (time in ms, id).
pub fn encode_cursor(ms: i64, id: &str) -> String {
    format!("{ms}.{id}")
}

pub fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let (ms, id) = cursor
        .split_once('.')
        .ok_or_else(|| Error::Invalid(format!("cursor {cursor:?}")))?;
    let ms = ms
        .parse()
        .map_err(|_| Error::Invalid(format!("cursor {cursor:?}")))?;
    // Alert and incident ids are ULIDs; log event ids are the caller's stable hashes.
    let id_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if id.is_empty() || id.len() > 128 || !id.bytes().all(id_char) {
        return Err(Error::Invalid(format!("cursor {cursor:?}")));
    }
    Ok((ms, id.to_string()))
}

/// The effective page size.
pub fn page_limit(limit: usize) -> usize {
    if limit == 0 {
        50
    } else {
        limit.min(MAX_PAGE)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
