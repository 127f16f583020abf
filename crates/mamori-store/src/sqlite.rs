//! The SQLite backend: one database file in WAL mode, the embedded default.
//!
//! All writes go through one writer connection behind an async mutex, so SQLite never sees
//! two writers and ingest batches, incident changes and purges simply queue. Reads use a
//! small pool of read-only connections; WAL lets them read the last committed state while a
//! write is under way, so the console stays responsive during a large ingest. Calls into
//! SQLite run on tokio's blocking pool, and a thread of its own checkpoints the WAL so the
//! writer never waits for that copy and its fsync.
//!
//! Ingest stores a batch in one `BEGIN IMMEDIATE` transaction with cached prepared
//! statements: a primary-key probe and an insert per alert, then one statement per touched
//! incident, timeline entry and rollup row (see `crate::correlate`).
//!
//! What costs at ingest is not SQL but pages: every index whose key is not in time order
//! dirties a page per alert, and each dirty page is written to the WAL at commit. So alerts
//! have no index led by asset or incident; the asset index is led by the hour
//! (`query::ASSET_HOUR`), and lists by asset or incident walk it an hour at a time
//! (`alerts_by_asset`). That halves the bytes written per alert.

use crate::correlate::{self, Correlation, PreparedAlert};
use crate::query::{self, Dialect, Param};
use crate::records::{
    self, effective_tenant, now_ms, open_delta, IncidentRow, INCIDENT_COLUMNS, TOKEN_COLUMNS,
    USER_COLUMNS,
};
use crate::{
    migrations, ActionQuery, AlertCounts, AlertQuery, Error, EventQuery, IncidentQuery,
    IngestOutcome, LogEvent, NewAction, NewUser, Page, PreparedBatch, ResponseAction, Result,
    Session, Store, StoredAlert,
};
use crate::{SensorContact, TenantHealth};
use async_trait::async_trait;
use mamori_core::incident::IncidentChange;
use mamori_core::tenant::Token;
use mamori_core::{from_unix_ms, unix_ms, Incident, Scope, Tenant, TimelineEntry, User};
use rusqlite::config::DbConfig;
use rusqlite::ffi;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Mutex, Semaphore};
use ulid::Ulid;

/// Read connections kept open; more concurrent reads wait for one.
const READERS: usize = 4;
/// Alerts deleted per transaction by [`Store::purge_before`], so ingest is not held up.
const PURGE_CHUNK: usize = 10_000;

/// The embedded store. Cheap to share behind an `Arc`; dropping it closes the database.
pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Readers>,
    /// Dropping it stops the checkpoint thread.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

struct Readers {
    path: PathBuf,
    idle: std::sync::Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    fn take(&self) -> Result<Connection> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            // A reader is lost when a read panics; open a replacement.
            None => connect(&self.path, false),
        }
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
    }
}

fn connect(path: &Path, writer: bool) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Plans do not depend on bound values. Without this, SQLite (built with STAT4) prepares
    // a statement again on every execution whose LIMIT, or once statistics exist whose range
    // bounds, are parameters: ten times the cost of the ingest lookups.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    if writer {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Invalid(format!(
                "{}: SQLite refused WAL mode (got {mode})",
                path.display()
            )));
        }
    }
    // NORMAL: a commit is durable once the WAL is synced at checkpoint; a power cut may lose
    // the last moments of alerts but never corrupts the file.
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = 268435456;",
    )?;
    if writer {
        // Checkpoints run on their own thread (see `spawn_checkpoints`); the writer checkpoints
        // itself only if the WAL grows past 128 MiB, as a backstop. A larger page cache
        // because ingest batches touch the same index pages again and again.
        conn.execute_batch(
            "PRAGMA cache_size = -65536;
             PRAGMA wal_autocheckpoint = 32768;
             PRAGMA journal_size_limit = 67108864;",
        )?;
    } else {
        conn.execute_batch(
            "PRAGMA cache_size = -16384;
             PRAGMA query_only = ON;",
        )?;
    }
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// How often the checkpoint thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread that checkpoints the WAL, so that the writer never waits for the copy
/// and its fsync: a passive checkpoint runs alongside readers and the writer. The thread
/// ends when the returned sender is dropped.
fn spawn_checkpoints(path: &Path) -> Result<std::sync::mpsc::Sender<()>> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("mamori-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                    Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                });
                match done {
                    Ok((wal, copied)) => tracing::trace!(wal, copied, "wal checkpoint"),
                    Err(e) => tracing::warn!(error = %e, "wal checkpoint failed"),
                }
            }
        })
        .map_err(|e| Error::Task(format!("starting the checkpoint thread: {e}")))?;
    Ok(stop)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(migrations::CREATE_MIGRATIONS_TABLE)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let latest = migrations::latest(migrations::SQLITE);
    if current > latest {
        return Err(Error::Migration {
            version: current,
            message: format!("the database is newer than this build (knows up to {latest})"),
        });
    }
    for (version, sql) in migrations::SQLITE {
        if *version <= current {
            continue;
        }
        tx.execute_batch(sql).map_err(|e| Error::Migration {
            version: *version,
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
            params![version, now_ms()],
        )?;
        tracing::info!(version, "applied sqlite migration");
    }
    tx.commit()?;
    Ok(())
}

/// A unique violation becomes [`Error::Conflict`] naming `what`; a foreign key violation
/// [`Error::Invalid`].
fn constraint(e: rusqlite::Error, what: &str) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return Error::Conflict(what.to_string())
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                return Error::Invalid(format!("{what} refers to something that does not exist"))
            }
            _ => {}
        }
    }
    Error::Sqlite(e)
}

fn task_failed(e: tokio::task::JoinError) -> Error {
    Error::Task(e.to_string())
}

fn to_values(params: Vec<Param>) -> Vec<rusqlite::types::Value> {
    params
        .into_iter()
        .map(|p| match p {
            Param::Int(i) => rusqlite::types::Value::Integer(i),
            Param::Text(t) => rusqlite::types::Value::Text(t),
        })
        .collect()
}

type UserColumns = (i64, String, String, String, Option<String>, i64);

fn user_columns(r: &Row, at: usize) -> rusqlite::Result<UserColumns> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
    ))
}

fn decode_user((id, email, hash, role, tenant, created): UserColumns) -> Result<User> {
    records::user(id, email, hash, &role, tenant, created)
}

fn incident_row(r: &Row) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        id: r.get(0)?,
        tenant: r.get(1)?,
        asset: r.get(2)?,
        title: r.get(3)?,
        severity: r.get(4)?,
        state: r.get(5)?,
        assignee: r.get(6)?,
        alert_count: r.get(7)?,
        first_seen_ms: r.get(8)?,
        last_seen_ms: r.get(9)?,
        updated_at_ms: r.get(10)?,
        first_response_ms: r.get(11)?,
        contained_ms: r.get(12)?,
    })
}

fn token_row(r: &Row) -> rusqlite::Result<Token> {
    Ok(records::token(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
    ))
}

fn tenant_exists(conn: &Connection, name: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM tenants WHERE name = ?1")?
        .exists([name])?)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Invalid(format!("cannot create directory {}: {e}", dir.display()))
                })?;
            }
            let mut writer = connect(&path, true)?;
            migrate(&mut writer)?;
            let readers = (0..READERS)
                .map(|_| connect(&path, false))
                .collect::<Result<Vec<_>>>()?;
            let checkpoints = spawn_checkpoints(&path)?;
            Ok(SqliteStore {
                _checkpoints: checkpoints,
                writer: Arc::new(Mutex::new(writer)),
                readers: Arc::new(Readers {
                    path,
                    idle: std::sync::Mutex::new(readers),
                    permits: Arc::new(Semaphore::new(READERS)),
                }),
            })
        })
        .await
        .map_err(task_failed)?
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut conn))
            .await
            .map_err(task_failed)?
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.take()?;
            let out = f(&conn);
            readers.give_back(conn);
            out
        })
        .await
        .map_err(task_failed)?
    }
}

fn ingest_batch(
    conn: &mut Connection,
    alerts: &[PreparedAlert],
    window: time::Duration,
) -> Result<IngestOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut tenants: Vec<&str> = alerts.iter().map(|p| p.tenant.as_str()).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for t in tenants {
        if !tenant_exists(&tx, t)? {
            return Err(Error::Invalid(format!("unknown tenant {t}")));
        }
    }

    let mut outcome = IngestOutcome::default();
    let mut seen = HashSet::with_capacity(alerts.len());
    let mut fresh: Vec<&PreparedAlert> = Vec::with_capacity(alerts.len());
    {
        let mut stored = tx.prepare_cached("SELECT 1 FROM alerts WHERE id = ?1")?;
        for p in alerts {
            if !seen.insert(p.id) || stored.exists([&p.id_text])? {
                outcome.duplicates += 1;
                outcome.duplicate_ids.push(p.id);
            } else {
                fresh.push(p);
            }
        }
    }
    fresh.sort_by_key(|p| (p.time_ms, p.id));

    let mut correlation = Correlation::new(window, now_ms());
    {
        // The LIMIT applies to the index-only inner scan; only the incidents that can still
        // be joined are read in full.
        let mut open = tx.prepare_cached(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE rowid IN (
                 SELECT r FROM (
                     SELECT rowid AS r, last_seen_ms, state FROM incidents
                     WHERE tenant = ?1 AND asset = ?2
                         AND first_seen_ms > ?3 AND first_seen_ms <= ?4
                     ORDER BY first_seen_ms DESC LIMIT {})
                 WHERE last_seen_ms >= ?5 AND {})",
            correlate::CANDIDATES_PER_RANGE,
            query::open_states()
        ))?;
        for range in correlate::candidate_ranges(&fresh, window) {
            let rows = open.query_map(
                params![
                    range.tenant,
                    range.asset,
                    range.after_ms,
                    range.until_ms,
                    range.since_ms,
                ],
                incident_row,
            )?;
            for row in rows {
                correlation.add_candidate(row?.candidate()?);
            }
        }
    }

    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO alerts (id, tenant, time_ms, engine, severity, rule_id, rule_name,
                 summary, asset, incident_id, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for p in &fresh {
            let incident = correlation.assign(p);
            insert.execute(params![
                p.id_text,
                p.tenant,
                p.time_ms,
                p.engine.as_str(),
                p.severity.rank(),
                p.rule_id,
                p.rule_name,
                p.summary,
                p.asset,
                incident.map(|i| i.to_string()),
                p.body,
            ])?;
        }
    }
    outcome.stored = fresh.len();

    {
        let mut insert = tx.prepare_cached(&format!(
            "INSERT INTO incidents ({INCIDENT_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, NULL, NULL)"
        ))?;
        for inc in correlation.opened() {
            outcome.incidents_opened += 1;
            insert.execute(params![
                inc.id.to_string(),
                inc.tenant,
                inc.asset,
                inc.title,
                inc.severity.rank(),
                inc.state.as_str(),
                inc.alert_count,
                inc.first_seen_ms,
                inc.last_seen_ms,
                inc.updated_at_ms,
            ])?;
        }
        let mut open = tx.prepare_cached(
            "INSERT INTO open_incidents (tenant, count) VALUES (?1, ?2)
             ON CONFLICT (tenant) DO UPDATE SET count = count + excluded.count",
        )?;
        for (tenant, n) in correlation.opened_per_tenant() {
            open.execute(params![tenant, n])?;
        }
        let mut update = tx.prepare_cached(
            "UPDATE incidents SET title = ?2, severity = ?3, alert_count = ?4,
                 first_seen_ms = ?5, last_seen_ms = ?6, updated_at_ms = ?7
             WHERE id = ?1",
        )?;
        for inc in correlation.changed() {
            update.execute(params![
                inc.id.to_string(),
                inc.title,
                inc.severity.rank(),
                inc.alert_count,
                inc.first_seen_ms,
                inc.last_seen_ms,
                inc.updated_at_ms,
            ])?;
        }
        let mut entry = tx.prepare_cached(
            "INSERT INTO incident_timeline (incident_id, time_ms, actor, body)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for e in correlation.timeline() {
            entry.execute(params![
                e.incident.to_string(),
                e.time_ms,
                correlate::ACTOR,
                records::timeline_body(&e.kind)?,
            ])?;
        }
        let mut rollup = tx.prepare_cached(
            "INSERT INTO alert_rollup (tenant, hour_ms, engine, severity, count)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (tenant, hour_ms, engine, severity)
             DO UPDATE SET count = count + excluded.count",
        )?;
        for ((tenant, hour, engine, severity), count) in correlation.rollup() {
            rollup.execute(params![tenant, hour, engine, severity, count])?;
        }
        let mut rollup_all = tx.prepare_cached(
            "INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (hour_ms, engine, severity)
             DO UPDATE SET count = count + excluded.count",
        )?;
        for ((hour, engine, severity), count) in correlation.rollup_all() {
            rollup_all.execute(params![hour, engine, severity, count])?;
        }
    }
    tx.commit()?;
    Ok(outcome)
}

fn purge_rest(conn: &mut Connection, cutoff_ms: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let closed = "state IN ('resolved', 'false_positive') AND last_seen_ms < ?1";
    tx.execute(
        &format!(
            "DELETE FROM incident_timeline
             WHERE incident_id IN (SELECT id FROM incidents WHERE {closed})"
        ),
        [cutoff_ms],
    )?;
    tx.execute(
        &format!("DELETE FROM incidents WHERE {closed}"),
        [cutoff_ms],
    )?;
    // The rollup hour that straddles the cutoff is recounted from the alerts that remain.
    let hour = correlate::hour_of(cutoff_ms);
    tx.execute("DELETE FROM alert_rollup WHERE hour_ms < ?1", [hour])?;
    tx.execute("DELETE FROM alert_rollup_all WHERE hour_ms < ?1", [hour])?;
    if hour < cutoff_ms {
        tx.execute("DELETE FROM alert_rollup WHERE hour_ms = ?1", [hour])?;
        tx.execute("DELETE FROM alert_rollup_all WHERE hour_ms = ?1", [hour])?;
        tx.execute(
            "INSERT INTO alert_rollup (tenant, hour_ms, engine, severity, count)
             SELECT tenant, ?1, engine, severity, count(*) FROM alerts
             WHERE time_ms >= ?1 AND time_ms < ?2
             GROUP BY tenant, engine, severity",
            params![hour, hour + 3_600_000],
        )?;
        tx.execute(
            "INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
             SELECT ?1, engine, severity, count(*) FROM alerts
             WHERE time_ms >= ?1 AND time_ms < ?2
             GROUP BY engine, severity",
            params![hour, hour + 3_600_000],
        )?;
    }
    tx.execute("DELETE FROM sessions WHERE expires_at_ms <= ?1", [now_ms()])?;
    tx.execute("DELETE FROM login_failures WHERE at_ms < ?1", [cutoff_ms])?;
    tx.commit()?;
    Ok(())
}

fn empty_page<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next: None,
    }
}

/// Runs a `query::alert_page` query: rows with their sort key.
fn alert_rows(c: &Connection, sql: query::Sql) -> Result<Vec<(i64, String, StoredAlert)>> {
    let mut st = c.prepare_cached(&sql.text)?;
    let rows = st.query_map(rusqlite::params_from_iter(to_values(sql.params)), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (id, tenant, incident, body, time_ms) = row?;
        items.push((time_ms, id, records::stored_alert(tenant, incident, &body)?));
    }
    Ok(items)
}

fn action_row(r: &Row) -> rusqlite::Result<Result<ResponseAction>> {
    Ok(crate::actions::from_row(
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn action_by_id(c: &Connection, id: Ulid) -> Result<Option<ResponseAction>> {
    c.prepare_cached(&format!(
        "SELECT {} FROM response_actions WHERE id = ?1",
        crate::actions::ACTION_COLUMNS
    ))?
    .query_row([id.to_string()], action_row)
    .optional()?
    .transpose()
}

/// A tenant's user sees its own actions; only the provider sees the gateway's own.
pub(crate) fn action_in_scope(scope: &Scope, a: &ResponseAction) -> bool {
    match (&a.tenant, scope) {
        (_, Scope::All) => true,
        (Some(t), s) => s.allows(t),
        (None, _) => false,
    }
}

/// The oldest or newest alert time, of one tenant or all.
fn alert_time_bound(c: &Connection, tenant: Option<&str>, newest: bool) -> Result<Option<i64>> {
    let order = if newest { "DESC" } else { "ASC" };
    Ok(match tenant {
        Some(t) => c
            .prepare_cached(&format!(
                "SELECT time_ms FROM alerts WHERE tenant = ?1 ORDER BY time_ms {order} LIMIT 1"
            ))?
            .query_row([t], |r| r.get(0))
            .optional()?,
        None => c
            .prepare_cached(&format!(
                "SELECT time_ms FROM alerts ORDER BY time_ms {order} LIMIT 1"
            ))?
            .query_row([], |r| r.get(0))
            .optional()?,
    })
}

/// Alerts of one asset or incident, read from the hour-led `alerts_asset` index one hour
/// at a time, newest first, until the page is full. An incident's alerts are on its asset
/// between its first and last alert, so an incident narrows both.
fn alerts_by_asset(
    c: &Connection,
    mut tenant: Option<String>,
    mut q: AlertQuery,
    limit: usize,
) -> Result<Page<StoredAlert>> {
    let mut from_ms = q.from.map(unix_ms);
    let mut to_ms = q.to.map(unix_ms);
    if let Some(id) = q.incident {
        let row = c
            .prepare_cached(
                "SELECT tenant, asset, first_seen_ms, last_seen_ms FROM incidents WHERE id = ?1",
            )?
            .query_row([id.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()?;
        let Some((owner, asset, first, last)) = row else {
            return Ok(empty_page());
        };
        if tenant.as_ref().is_some_and(|t| *t != owner)
            || q.asset.as_ref().is_some_and(|a| *a != asset)
        {
            return Ok(empty_page());
        }
        tenant = Some(owner);
        q.asset = Some(asset);
        from_ms = Some(from_ms.map_or(first, |f| f.max(first)));
        to_ms = Some(to_ms.map_or(last + 1, |t| t.min(last + 1)));
        q.from = from_ms.map(from_unix_ms);
        q.to = to_ms.map(from_unix_ms);
    }
    let tenant_ref = tenant.as_deref();
    let (Some(newest), Some(oldest)) = (
        alert_time_bound(c, tenant_ref, true)?,
        alert_time_bound(c, tenant_ref, false)?,
    ) else {
        return Ok(empty_page());
    };
    let mut hi = newest;
    if let Some(to) = to_ms {
        hi = hi.min(to.saturating_sub(1));
    }
    if let Some(cursor) = &q.cursor {
        hi = hi.min(crate::decode_cursor(cursor)?.0);
    }
    let lo = from_ms.map_or(oldest, |f| f.max(oldest));
    let mut items = Vec::new();
    let mut hour = hi / query::ASSET_HOUR_MS;
    let last_hour = lo / query::ASSET_HOUR_MS;
    while hi >= lo && hour >= last_hour && items.len() <= limit {
        let sql = query::alert_page(Dialect::Sqlite, tenant_ref, &q, limit, Some(hour))?;
        items.extend(alert_rows(c, sql)?);
        hour -= 1;
    }
    Ok(query::into_page(items, limit))
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_tenant(&self, name: &str, display_name: &str) -> Result<Tenant> {
        records::check_new_tenant(name, display_name)?;
        let (name, display_name) = (name.to_string(), display_name.to_string());
        self.write(move |c| {
            let now = now_ms();
            c.execute(
                "INSERT INTO tenants (name, display_name, created_at_ms) VALUES (?1, ?2, ?3)",
                params![name, display_name, now],
            )
            .map_err(|e| constraint(e, &format!("tenant {name}")))?;
            Ok(records::tenant(name, display_name, now))
        })
        .await
    }

    async fn tenants(&self, scope: &Scope) -> Result<Vec<Tenant>> {
        let only = scope.tenant().map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT name, display_name, created_at_ms FROM tenants
                 WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
            )?;
            let rows = st.query_map([only], |r| {
                Ok(records::tenant(r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn tenant(&self, scope: &Scope, name: &str) -> Result<Option<Tenant>> {
        if !scope.allows(name) {
            return Ok(None);
        }
        let name = name.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT name, display_name, created_at_ms FROM tenants WHERE name = ?1",
            )?
            .query_row([name], |r| {
                Ok(records::tenant(r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?)
        })
        .await
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let email = records::check_new_user(&user.email, user.role, user.tenant.as_deref())?;
        self.write(move |c| {
            if let Some(t) = &user.tenant {
                if !tenant_exists(c, t)? {
                    return Err(Error::Invalid(format!("unknown tenant {t}")));
                }
            }
            let now = now_ms();
            c.execute(
                "INSERT INTO users (email, password_hash, role, tenant, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    email,
                    user.password_hash,
                    user.role.as_str(),
                    user.tenant,
                    now
                ],
            )
            .map_err(|e| constraint(e, &format!("user {email}")))?;
            Ok(User {
                id: c.last_insert_rowid(),
                email,
                role: user.role,
                tenant: user.tenant,
                password_hash: user.password_hash,
                created_at: from_unix_ms(now),
            })
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = records::normalize_email(email);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
            ))?
            .query_row([email], |r| user_columns(r, 0))
            .optional()?
            .map(decode_user)
            .transpose()
        })
        .await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
                .query_row([id], |r| user_columns(r, 0))
                .optional()?
                .map(decode_user)
                .transpose()
        })
        .await
    }

    async fn users(&self, scope: &Scope) -> Result<Vec<User>> {
        let only = scope.tenant().map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR tenant = ?1 ORDER BY id"
            ))?;
            let rows = st.query_map([only], |r| user_columns(r, 0))?;
            rows.map(|r| decode_user(r?)).collect()
        })
        .await
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        let hash = password_hash.to_string();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![user_id, hash],
            )?;
            if n == 0 {
                return Err(Error::NotFound(format!("user {user_id}")));
            }
            Ok(())
        })
        .await
    }

    async fn count_users(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?))
            .await
    }

    async fn create_session(&self, session: Session) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    session.id_hash,
                    session.user_id,
                    session.csrf,
                    unix_ms(session.expires_at)
                ],
            )
            .map_err(|e| constraint(e, "session"))?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<(Session, User)>> {
        let id_hash = id_hash.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT s.id_hash, s.user_id, s.csrf, s.expires_at_ms,
                         u.id, u.email, u.password_hash, u.role, u.tenant, u.created_at_ms
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.id_hash = ?1 AND s.expires_at_ms > ?2",
                )?
                .query_row(params![id_hash, unix_ms(now)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        user_columns(r, 4)?,
                    ))
                })
                .optional()?;
            let Some((id_hash, user_id, csrf, expires, user)) = row else {
                return Ok(None);
            };
            let session = Session {
                id_hash,
                user_id,
                csrf,
                expires_at: from_unix_ms(expires),
            };
            Ok(Some((session, decode_user(user)?)))
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        let id_hash = id_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE id_hash = ?1", [id_hash])?;
            Ok(())
        })
        .await
    }

    async fn record_login_failure(&self, email: &str, ip: &str, at: OffsetDateTime) -> Result<()> {
        let (email, ip) = (records::normalize_email(email), ip.to_string());
        self.write(move |c| {
            c.prepare_cached("INSERT INTO login_failures (email, ip, at_ms) VALUES (?1, ?2, ?3)")?
                .execute(params![email, ip, unix_ms(at)])?;
            Ok(())
        })
        .await
    }

    async fn login_failures(
        &self,
        email: &str,
        ip: &str,
        since: OffsetDateTime,
    ) -> Result<(i64, i64)> {
        let (email, ip) = (records::normalize_email(email), ip.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT (SELECT count(*) FROM login_failures WHERE email = ?1 AND at_ms >= ?3),
                        (SELECT count(*) FROM login_failures WHERE ip = ?2 AND at_ms >= ?3)",
            )?
            .query_row(params![email, ip, unix_ms(since)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?)
        })
        .await
    }

    async fn clear_login_failures(&self, email: &str) -> Result<()> {
        let email = records::normalize_email(email);
        self.write(move |c| {
            c.execute("DELETE FROM login_failures WHERE email = ?1", [email])?;
            Ok(())
        })
        .await
    }

    async fn create_token(&self, tenant: &str, name: &str, secret_hash: &str) -> Result<Token> {
        records::check_new_token(name, secret_hash)?;
        let (tenant, name, hash) = (
            tenant.to_string(),
            name.to_string(),
            secret_hash.to_string(),
        );
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !tenant_exists(&tx, &tenant)? {
                return Err(Error::Invalid(format!("unknown tenant {tenant}")));
            }
            let existing: Option<Option<i64>> = tx
                .query_row(
                    "SELECT revoked_at_ms FROM tokens WHERE tenant = ?1 AND name = ?2",
                    params![tenant, name],
                    |r| r.get(0),
                )
                .optional()?;
            match existing {
                Some(None) => {
                    return Err(Error::Conflict(format!("token {name} of tenant {tenant}")))
                }
                // A revoked token's name may be used again; the old row goes.
                Some(Some(_)) => {
                    tx.execute(
                        "DELETE FROM tokens WHERE tenant = ?1 AND name = ?2",
                        params![tenant, name],
                    )?;
                }
                None => {}
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO tokens (tenant, name, secret_hash, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![tenant, name, hash, now],
            )
            .map_err(|e| constraint(e, "a token with this secret"))?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(records::token(id, tenant, name, now, None))
        })
        .await
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>> {
        let hash = secret_hash.to_string();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens
                 WHERE secret_hash = ?1 AND revoked_at_ms IS NULL"
            ))?
            .query_row([hash], token_row)
            .optional()?)
        })
        .await
    }

    async fn tokens(&self, scope: &Scope) -> Result<Vec<Token>> {
        let only = scope.tenant().map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens
                 WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, name"
            ))?;
            let rows = st.query_map([only], token_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn revoke_token(&self, tenant: &str, name: &str) -> Result<bool> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE tokens SET revoked_at_ms = ?3
                 WHERE tenant = ?1 AND name = ?2 AND revoked_at_ms IS NULL",
                params![tenant, name, now_ms()],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn ingest_prepared(
        &self,
        batch: PreparedBatch,
        window: time::Duration,
    ) -> Result<IngestOutcome> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        // The batch was serialised before the write lock is taken, so that work overlaps
        // another caller's write.
        self.write(move |c| ingest_batch(c, &batch.alerts, window))
            .await
    }

    async fn alerts(&self, scope: &Scope, query: &AlertQuery) -> Result<Page<StoredAlert>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(empty_page());
        };
        let limit = crate::page_limit(query.limit);
        let tenant = tenant.map(str::to_string);
        let query = query.clone();
        self.read(move |c| {
            if query.asset.is_some() || query.incident.is_some() {
                return alerts_by_asset(c, tenant, query, limit);
            }
            let sql = query::alert_page(Dialect::Sqlite, tenant.as_deref(), &query, limit, None)?;
            Ok(query::into_page(alert_rows(c, sql)?, limit))
        })
        .await
    }

    async fn alert(&self, scope: &Scope, id: Ulid) -> Result<Option<StoredAlert>> {
        let scope = scope.clone();
        self.read(move |c| {
            let row = c
                .prepare_cached("SELECT tenant, incident_id, body FROM alerts WHERE id = ?1")?
                .query_row([id.to_string()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .optional()?;
            match row {
                Some((tenant, incident, body)) if scope.allows(&tenant) => {
                    records::stored_alert(tenant, incident, &body).map(Some)
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn alert_counts(
        &self,
        scope: &Scope,
        since: OffsetDateTime,
        bucket: time::Duration,
    ) -> Result<AlertCounts> {
        let only = scope.tenant().map(str::to_string);
        let mut counts = records::CountsBuilder::new(since, bucket, OffsetDateTime::now_utc());
        self.read(move |c| {
            let first_hour = counts.first_hour_ms();
            let columns = |r: &Row| -> rusqlite::Result<(i64, String, i64, i64)> {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            };
            let (rows, open_sql) = match &only {
                Some(t) => {
                    let mut st = c.prepare_cached(
                        "SELECT hour_ms, engine, severity, count FROM alert_rollup
                         WHERE tenant = ?1 AND hour_ms >= ?2",
                    )?;
                    let rows = st
                        .query_map(params![t, first_hour], columns)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let sql =
                        "SELECT COALESCE(SUM(count), 0) FROM open_incidents WHERE tenant = ?1";
                    (rows, sql)
                }
                None => {
                    let mut st = c.prepare_cached(
                        "SELECT hour_ms, engine, severity, count FROM alert_rollup_all
                         WHERE hour_ms >= ?1",
                    )?;
                    let rows = st
                        .query_map([first_hour], columns)?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let sql = "SELECT COALESCE(SUM(count), 0) FROM open_incidents";
                    (rows, sql)
                }
            };
            for (hour, engine, severity, count) in rows {
                counts.add(hour, &engine, severity, count);
            }
            let mut st = c.prepare_cached(open_sql)?;
            let open: i64 = match &only {
                Some(t) => st.query_row([t], |r| r.get(0))?,
                None => st.query_row([], |r| r.get(0))?,
            };
            Ok(counts.finish(open))
        })
        .await
    }

    async fn incidents(&self, scope: &Scope, query: &IncidentQuery) -> Result<Page<Incident>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let limit = crate::page_limit(query.limit);
        let sql = query::incident_page(Dialect::Sqlite, tenant, query, limit)?;
        let triage = query.triage;
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql.text)?;
            let rows = st.query_map(
                rusqlite::params_from_iter(to_values(sql.params)),
                incident_row,
            )?;
            let mut items = Vec::with_capacity(limit + 1);
            for row in rows {
                let row = row?;
                let ms = if triage {
                    query::triage_key(row.severity, row.first_seen_ms)
                } else {
                    row.last_seen_ms
                };
                let id = row.id.clone();
                items.push((ms, id, row.decode()?));
            }
            Ok(query::into_page(items, limit))
        })
        .await
    }

    async fn incident(&self, scope: &Scope, id: Ulid) -> Result<Option<Incident>> {
        let scope = scope.clone();
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"
                ))?
                .query_row([id.to_string()], incident_row)
                .optional()?;
            match row {
                Some(row) if scope.allows(&row.tenant) => row.decode().map(Some),
                _ => Ok(None),
            }
        })
        .await
    }

    async fn timeline(&self, scope: &Scope, id: Ulid) -> Result<Vec<TimelineEntry>> {
        let scope = scope.clone();
        self.read(move |c| {
            let id = id.to_string();
            let tenant: Option<String> = c
                .prepare_cached("SELECT tenant FROM incidents WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()?;
            if !tenant.is_some_and(|t| scope.allows(&t)) {
                return Ok(Vec::new());
            }
            let mut st = c.prepare_cached(
                "SELECT time_ms, actor, body FROM incident_timeline
                 WHERE incident_id = ?1 ORDER BY time_ms, seq",
            )?;
            let rows = st.query_map([&id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            rows.map(|row| {
                let (time_ms, actor, body) = row?;
                records::timeline_entry(time_ms, actor, &body)
            })
            .collect()
        })
        .await
    }

    async fn update_incident(
        &self,
        scope: &Scope,
        id: Ulid,
        change: IncidentChange,
        actor: &str,
    ) -> Result<Incident> {
        let (scope, actor) = (scope.clone(), actor.to_string());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row = tx
                .prepare_cached(&format!(
                    "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?1"
                ))?
                .query_row([id.to_string()], incident_row)
                .optional()?;
            let Some(row) = row.filter(|r| scope.allows(&r.tenant)) else {
                return Err(Error::NotFound(format!("incident {id}")));
            };
            let mut incident = row.decode()?;
            let now = OffsetDateTime::now_utc();
            let was_open = incident.state.is_open();
            let kind = records::apply_change(&mut incident, change, now)?;
            if let Some(delta) = open_delta(was_open, incident.state.is_open()) {
                tx.execute(
                    "INSERT INTO open_incidents (tenant, count) VALUES (?1, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET count = count + excluded.count",
                    params![incident.tenant, delta],
                )?;
            }
            let (response, contained) =
                records::sla_marks(&actor, &kind, incident.state, unix_ms(now));
            tx.execute(
                "UPDATE incidents SET state = ?2, assignee = ?3, updated_at_ms = ?4,
                     first_response_ms = COALESCE(first_response_ms, ?5),
                     contained_ms = COALESCE(contained_ms, ?6)
                 WHERE id = ?1",
                params![
                    id.to_string(),
                    incident.state.as_str(),
                    incident.assignee,
                    unix_ms(now),
                    response,
                    contained
                ],
            )?;
            incident.first_response = incident.first_response.or(response.map(from_unix_ms));
            incident.contained = incident.contained.or(contained.map(from_unix_ms));
            tx.execute(
                "INSERT INTO incident_timeline (incident_id, time_ms, actor, body)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    id.to_string(),
                    unix_ms(now),
                    actor,
                    records::timeline_body(&kind)?
                ],
            )?;
            tx.commit()?;
            Ok(incident)
        })
        .await
    }

    async fn ingest_events(&self, events: &[LogEvent]) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        for e in events {
            crate::events::check(e)?;
        }
        // Serialising happens before taking the write lock, as for alerts.
        let rows: Vec<(LogEvent, String)> = events
            .iter()
            .map(|e| (e.clone(), crate::events::fields_json(&e.fields)))
            .collect();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut tenants: Vec<&str> = rows.iter().map(|(e, _)| e.tenant.as_str()).collect();
            tenants.sort_unstable();
            tenants.dedup();
            for t in tenants {
                if !tenant_exists(&tx, t)? {
                    return Err(Error::Invalid(format!("unknown tenant {t}")));
                }
            }
            let mut stored = 0;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO log_events
                         (id, tenant, time_ms, host, source, channel, event_id, record_id, file,
                          fields, raw)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                for (e, fields) in &rows {
                    stored += insert.execute(params![
                        e.id,
                        e.tenant,
                        e.time_ms,
                        e.host,
                        e.source,
                        e.channel,
                        e.event_id,
                        e.record_id,
                        e.file,
                        fields,
                        crate::events::bounded_raw(&e.raw),
                    ])?;
                }
            }
            tx.commit()?;
            Ok(stored)
        })
        .await
    }

    async fn events(&self, scope: &Scope, query: &EventQuery) -> Result<Page<LogEvent>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(empty_page());
        };
        let limit = crate::page_limit(query.limit);
        let sql = crate::events::event_page(Dialect::Sqlite, tenant, query, limit)?;
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql.text)?;
            let rows = st.query_map(rusqlite::params_from_iter(to_values(sql.params)), |r| {
                Ok((
                    LogEvent {
                        id: r.get(0)?,
                        tenant: r.get(1)?,
                        time_ms: r.get(2)?,
                        host: r.get(3)?,
                        source: r.get(4)?,
                        channel: r.get(5)?,
                        event_id: r.get(6)?,
                        record_id: r.get(7)?,
                        file: r.get(8)?,
                        fields: Vec::new(),
                        raw: r.get(10)?,
                    },
                    r.get::<_, String>(9)?,
                ))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let (mut e, fields) = row?;
                e.fields = crate::events::fields_from_json(&fields)?;
                items.push((e.time_ms, e.id.clone(), e));
            }
            Ok(query::into_page(items, limit))
        })
        .await
    }

    async fn create_action(&self, action: NewAction) -> Result<ResponseAction> {
        crate::actions::check_new(&action)?;
        let id = Ulid::new();
        self.write(move |c| {
            if let Some(t) = &action.tenant {
                if !tenant_exists(c, t)? {
                    return Err(Error::Invalid(format!("unknown tenant {t}")));
                }
            }
            if let Some(i) = action.incident {
                let owner: Option<String> = c
                    .prepare_cached("SELECT tenant FROM incidents WHERE id = ?1")?
                    .query_row([i.to_string()], |r| r.get(0))
                    .optional()?;
                if owner.is_none() || (action.tenant.is_some() && owner != action.tenant) {
                    return Err(Error::NotFound(format!("incident {i}")));
                }
            }
            c.prepare_cached(
                "INSERT INTO response_actions
                     (id, tenant, kind, target, incident_id, created_at_ms, created_by, reason,
                      expires_at_ms, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')",
            )?
            .execute(params![
                id.to_string(),
                action.tenant,
                action.kind.as_str(),
                action.target,
                action.incident.map(|i| i.to_string()),
                now_ms(),
                action.actor,
                action.reason,
                action.expires_at.map(unix_ms),
            ])?;
            action_by_id(c, id)?.ok_or_else(|| Error::NotFound(format!("action {id}")))
        })
        .await
    }

    async fn actions(&self, scope: &Scope, query: &ActionQuery) -> Result<Vec<ResponseAction>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Vec::new());
        };
        let sql = crate::actions::action_list(Dialect::Sqlite, tenant, query, now_ms());
        let limit = crate::page_limit(query.limit);
        self.read(move |c| {
            let mut st = c.prepare_cached(&sql.text)?;
            let rows = st.query_map(
                rusqlite::params_from_iter(to_values(sql.params)),
                action_row,
            )?;
            let mut out = Vec::new();
            for row in rows.take(limit) {
                out.push(row??);
            }
            Ok(out)
        })
        .await
    }

    async fn action(&self, scope: &Scope, id: Ulid) -> Result<Option<ResponseAction>> {
        let scope = scope.clone();
        self.read(move |c| Ok(action_by_id(c, id)?.filter(|a| action_in_scope(&scope, a))))
            .await
    }

    async fn release_action(
        &self,
        scope: &Scope,
        id: Ulid,
        actor: &str,
        reason: &str,
    ) -> Result<ResponseAction> {
        let (scope, actor, reason) = (scope.clone(), actor.to_string(), reason.to_string());
        if reason.chars().count() > crate::actions::MAX_REASON {
            return Err(Error::Invalid("the reason is too long".into()));
        }
        self.write(move |c| {
            let found = action_by_id(c, id)?.filter(|a| action_in_scope(&scope, a));
            let Some(found) = found else {
                return Err(Error::NotFound(format!("action {id}")));
            };
            if found.released_at.is_some() {
                return Err(Error::Invalid(format!("action {id} was already released")));
            }
            c.prepare_cached(
                "UPDATE response_actions
                 SET released_at_ms = ?2, released_by = ?3, release_reason = ?4
                 WHERE id = ?1",
            )?
            .execute(params![id.to_string(), now_ms(), actor, reason])?;
            action_by_id(c, id)?.ok_or_else(|| Error::NotFound(format!("action {id}")))
        })
        .await
    }

    async fn set_action_status(&self, id: Ulid, status: &str) -> Result<()> {
        let status: String = status.chars().take(500).collect();
        self.write(move |c| {
            c.prepare_cached("UPDATE response_actions SET status = ?2 WHERE id = ?1")?
                .execute(params![id.to_string(), status])?;
            Ok(())
        })
        .await
    }

    async fn sensor_contact(&self, contact: &SensorContact) -> Result<()> {
        let c2 = contact.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO sensors (tenant, name, last_contact_ms, backlog, oldest_unsent_ms, address)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant, name) DO UPDATE SET last_contact_ms = excluded.last_contact_ms,
                     backlog = excluded.backlog, oldest_unsent_ms = excluded.oldest_unsent_ms,
                     address = excluded.address",
            )?
            .execute(params![
                c2.tenant,
                c2.name,
                unix_ms(c2.last_contact),
                c2.backlog,
                c2.oldest_unsent.map(unix_ms),
                c2.address
            ])?;
            Ok(())
        })
        .await
    }

    async fn sensors(&self, scope: &Scope) -> Result<Vec<SensorContact>> {
        let only = scope.tenant().map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT tenant, name, last_contact_ms, backlog, oldest_unsent_ms, address FROM sensors
                 WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, name LIMIT 10000",
            )?;
            let rows = st.query_map([only], |r| {
                Ok(SensorContact {
                    tenant: r.get(0)?,
                    name: r.get(1)?,
                    last_contact: from_unix_ms(r.get(2)?),
                    backlog: r.get(3)?,
                    oldest_unsent: r.get::<_, Option<i64>>(4)?.map(from_unix_ms),
                    address: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn tenant_health(
        &self,
        scope: &Scope,
        online_since: OffsetDateTime,
    ) -> Result<Vec<TenantHealth>> {
        let only = scope.tenant().map(str::to_string);
        let since = unix_ms(online_since);
        self.read(move |c| {
            let mut st = c.prepare_cached(&crate::sensors::health_sql("?1", "?2", ""))?;
            let rows = st.query_map(params![since, only], |r| {
                Ok(TenantHealth {
                    tenant: r.get(0)?,
                    display_name: r.get(1)?,
                    last_event: r.get::<_, Option<i64>>(2)?.map(from_unix_ms),
                    open_incidents: r.get(3)?,
                    sensors: r.get(4)?,
                    sensors_online: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn purge_before(&self, cutoff: OffsetDateTime) -> Result<u64> {
        let cutoff_ms = unix_ms(cutoff);
        let mut deleted = 0u64;
        loop {
            let n = self
                .write(move |c| {
                    Ok(c.prepare_cached(&format!(
                        "DELETE FROM alerts WHERE rowid IN
                             (SELECT rowid FROM alerts WHERE time_ms < ?1 LIMIT {PURGE_CHUNK})"
                    ))?
                    .execute([cutoff_ms])?)
                })
                .await?;
            deleted += n as u64;
            if n < PURGE_CHUNK {
                break;
            }
        }
        loop {
            let n = self
                .write(move |c| {
                    Ok(c.prepare_cached(&format!(
                        "DELETE FROM log_events WHERE rowid IN
                             (SELECT rowid FROM log_events WHERE time_ms < ?1 LIMIT {PURGE_CHUNK})"
                    ))?
                    .execute([cutoff_ms])?)
                })
                .await?;
            if n < PURGE_CHUNK {
                break;
            }
        }
        self.write(move |c| purge_rest(c, cutoff_ms)).await?;
        tracing::info!(deleted, cutoff_ms, "purged old alerts");
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_is_upgraded_with_its_counters_filled() {
        let dir = mamori_core::scratch::dir("upgrade");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mamori.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(migrations::CREATE_MIGRATIONS_TABLE)
                .unwrap();
            c.execute_batch(migrations::SQLITE[0].1).unwrap();
            c.execute_batch(
                "INSERT INTO schema_migrations VALUES (1, 0);
                 INSERT INTO tenants VALUES ('acme', 'Acme', 0);
                 INSERT INTO incidents VALUES
                     ('01HZZZZZZZZZZZZZZZZZZZZZZ1', 'acme', 'host:a', 't', 3, 'new', NULL,
                      2, 0, 10, 10),
                     ('01HZZZZZZZZZZZZZZZZZZZZZZ2', 'acme', 'host:b', 't', 3, 'resolved', NULL,
                      1, 0, 10, 10);
                 INSERT INTO alert_rollup VALUES ('acme', 0, 'ids', 3, 2), ('acme', 0, 'waf', 3, 1);",
            )
            .unwrap();
        }
        let mut c = connect(&path, true).unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let open: i64 = c
            .query_row(
                "SELECT count FROM open_incidents WHERE tenant = 'acme'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(open, 1);
        let all: i64 = c
            .query_row("SELECT SUM(count) FROM alert_rollup_all", [], |r| r.get(0))
            .unwrap();
        assert_eq!(all, 3);
        let versions: i64 = c
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(versions, migrations::SQLITE.len() as i64);
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
