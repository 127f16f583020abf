//! The PostgreSQL backend, for a console serving many tenants or sensors and for several
//! stateless console replicas sharing one database.
//!
//! Connections come from a deadpool pool (plain TCP, `NoTls`: put PostgreSQL on a private
//! network or a local socket). Statements are prepared once per connection and cached.
//!
//! Ingest costs a handful of round trips per batch, not one per alert: the alerts go in with
//! one binary `COPY` (no per-row planning, array decoding or conflict check; a batch is
//! assumed new, and only when the COPY meets an id stored already, as when a sensor resends
//! a batch whose answer it lost, does it go again with its ids looked up first), and the
//! incidents, their updates, timeline entries and rollup counts as arrays expanded with
//! `UNNEST`, one statement each. The alerts arrive prepared
//! ([`PreparedBatch`]), so no serialising happens while the transaction is open.
//!
//! A batch is split into [`INGEST_SHARDS`] shards by tenant and asset, stored at the same time
//! on separate connections. Replicas may ingest at the same time too, so each shard first
//! takes a transaction-scoped advisory lock per tenant and shard (in name order, so two
//! batches cannot deadlock) and locks the open incidents it may join with `FOR UPDATE`;
//! correlation of one tenant's asset therefore happens one batch at a time. A shard that
//! fails fails the batch; shards stored meanwhile are then found stored when it is sent
//! again, and counted as duplicates.

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
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime,
};
use mamori_core::incident::IncidentChange;
use mamori_core::tenant::Token;
use mamori_core::{from_unix_ms, unix_ms, Incident, Scope, Tenant, TimelineEntry, User};
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use ulid::Ulid;

const POOL_SIZE: usize = 16;
/// Advisory lock classes (the first key of `pg_advisory_xact_lock(int, int)`).
const LOCK_MIGRATIONS: i32 = 0x4d41_0001;
const LOCK_INGEST: i32 = 0x4d41_0002;
/// Alerts deleted per transaction by [`Store::purge_before`].
const PURGE_CHUNK: i64 = 10_000;

/// The PostgreSQL store: a connection pool. Cheap to share behind an `Arc`.
pub struct PostgresStore {
    pool: Pool,
}

type DynParam = Box<dyn ToSql + Sync + Send>;

/// A batch is stored in this many shards at once, each in its own transaction on its own
/// connection, so that PostgreSQL's work (mostly index insertion) runs on several backends.
/// An alert's shard follows its tenant and asset ([`ingest_shard`]), and correlation only ever
/// joins alerts of one tenant and asset, so shards never share an incident: they share only
/// the tenant's counters (`open_incidents`, the rollups), whose rows every transaction
/// updates in key order. Replicas must agree on this number.
const INGEST_SHARDS: usize = 2;

/// The shard of an alert: a stable hash (FNV-1a) of its tenant and asset, the same in every
/// build and replica.
fn ingest_shard(tenant: &str, asset: Option<&str>) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let asset = asset.unwrap_or("");
    for b in tenant.bytes().chain([0xff]).chain(asset.bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % INGEST_SHARDS as u64) as usize
}

/// Whether an ingest looks up which of its alert ids are stored already before its COPY.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IdsStored {
    /// None are: a stored one makes the COPY fail with a unique violation
    /// ([`Error::Conflict`]), the transaction rolls back and the batch goes again, looked up.
    Assumed,
    LookedUp,
}

fn to_params(params: Vec<Param>) -> Vec<DynParam> {
    params
        .into_iter()
        .map(|p| -> DynParam {
            match p {
                Param::Int(i) => Box::new(i),
                Param::Text(t) => Box::new(t),
            }
        })
        .collect()
}

fn refs(params: &[DynParam]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

/// A unique violation becomes [`Error::Conflict`] naming `what`; a foreign key violation
/// [`Error::Invalid`].
fn constraint(e: tokio_postgres::Error, what: &str) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::Conflict(what.to_string()),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => {
            Error::Invalid(format!("{what} refers to something that does not exist"))
        }
        _ => Error::Postgres(e),
    }
}

/// PostgreSQL text cannot hold NUL; the JSON body keeps the original, escaped.
fn pg_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

fn user_from(row: &Row, at: usize) -> Result<User> {
    let role: String = row.try_get(at + 3)?;
    records::user(
        row.try_get(at)?,
        row.try_get(at + 1)?,
        row.try_get(at + 2)?,
        &role,
        row.try_get(at + 4)?,
        row.try_get(at + 5)?,
    )
}

fn incident_row(row: &Row) -> Result<IncidentRow> {
    Ok(IncidentRow {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        asset: row.try_get(2)?,
        title: row.try_get(3)?,
        severity: row.try_get(4)?,
        state: row.try_get(5)?,
        assignee: row.try_get(6)?,
        alert_count: row.try_get(7)?,
        first_seen_ms: row.try_get(8)?,
        last_seen_ms: row.try_get(9)?,
        updated_at_ms: row.try_get(10)?,
        first_response_ms: row.try_get(11)?,
        contained_ms: row.try_get(12)?,
    })
}

fn token_from(row: &Row) -> Result<Token> {
    Ok(records::token(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    ))
}

fn tenant_from(row: &Row) -> Result<Tenant> {
    Ok(records::tenant(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
    ))
}

async fn tenant_exists(c: &impl GenericClient, name: &str) -> Result<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM tenants WHERE name = $1", &[&name])
            .await?
            .is_some(),
    )
}

fn action_from_pg(r: &tokio_postgres::Row) -> Result<ResponseAction> {
    crate::actions::from_row(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
    )
}

async fn action_by_id(c: &impl GenericClient, id: Ulid) -> Result<Option<ResponseAction>> {
    c.query_opt(
        &format!(
            "SELECT {} FROM response_actions WHERE id = $1",
            crate::actions::ACTION_COLUMNS
        ),
        &[&id.to_string()],
    )
    .await?
    .as_ref()
    .map(action_from_pg)
    .transpose()
}

/// `AND tenant = $n` when the scope names one tenant, with its parameter.
fn tenant_clause(tenant: Option<&str>, n: usize) -> (String, Option<String>) {
    match tenant {
        Some(t) => (format!(" AND tenant = ${n}"), Some(t.to_string())),
        None => (String::new(), None),
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:pass@host/db`, options as tokio-postgres reads
    /// them) and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<PostgresStore> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Invalid(format!("PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::Pool(e.to_string()))?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Pool(e.to_string()))
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Replicas starting together migrate one after the other.
        tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_MIGRATIONS])
            .await?;
        tx.batch_execute(migrations::CREATE_MIGRATIONS_TABLE)
            .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::bigint FROM schema_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        let latest = migrations::latest(migrations::POSTGRES);
        if current > latest {
            return Err(Error::Migration {
                version: current,
                message: format!("the database is newer than this build (knows up to {latest})"),
            });
        }
        for (version, sql) in migrations::POSTGRES {
            if *version <= current {
                continue;
            }
            tx.batch_execute(sql).await.map_err(|e| Error::Migration {
                version: *version,
                message: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                &[version, &now_ms()],
            )
            .await?;
            tracing::info!(version, "applied postgres migration");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stores one shard of a batch. Almost every batch is new: its ids are looked up only
    /// when the COPY meets one stored.
    async fn ingest_shard(
        &self,
        shard: usize,
        prepared: &[PreparedAlert],
        window: time::Duration,
    ) -> Result<IngestOutcome> {
        match self
            .ingest_batch(shard, prepared, window, IdsStored::Assumed)
            .await
        {
            Err(Error::Conflict(_)) => {
                tracing::debug!(
                    "a batch holds alerts already stored; storing it again with its ids looked up"
                );
                self.ingest_batch(shard, prepared, window, IdsStored::LookedUp)
                    .await
            }
            done => done,
        }
    }

    /// Stores alerts of one shard in one transaction, holding the shard's ingest lock of
    /// each of their tenants.
    async fn ingest_batch(
        &self,
        shard: usize,
        prepared: &[PreparedAlert],
        window: time::Duration,
        ids_stored: IdsStored,
    ) -> Result<IngestOutcome> {
        let mut tenants: Vec<&str> = prepared.iter().map(|p| p.tenant.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();

        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let known_tenants = tx
            .prepare_cached("SELECT name FROM tenants WHERE name = ANY($1)")
            .await?;
        let known: HashSet<String> = tx
            .query(&known_tenants, &[&tenants])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        if let Some(t) = tenants.iter().find(|t| !known.contains(**t)) {
            return Err(Error::Invalid(format!("unknown tenant {t}")));
        }
        let lock = tx
            .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .await?;
        for t in &tenants {
            tx.execute(&lock, &[&LOCK_INGEST, &format!("{t}#{shard}")])
                .await?;
        }

        let stored: HashSet<String> = match ids_stored {
            IdsStored::Assumed => HashSet::new(),
            IdsStored::LookedUp => {
                let ids: Vec<&str> = prepared.iter().map(|p| p.id_text.as_str()).collect();
                let already = tx
                    .prepare_cached("SELECT id FROM alerts WHERE id = ANY($1)")
                    .await?;
                tx.query(&already, &[&ids])
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()?
            }
        };
        let mut outcome = IngestOutcome::default();
        let mut seen = HashSet::with_capacity(prepared.len());
        let mut fresh: Vec<&PreparedAlert> = Vec::with_capacity(prepared.len());
        for p in prepared {
            if !seen.insert(p.id) || stored.contains(&p.id_text) {
                outcome.duplicates += 1;
                outcome.duplicate_ids.push(p.id);
            } else {
                fresh.push(p);
            }
        }
        fresh.sort_by_key(|p| (p.time_ms, p.id));
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(outcome);
        }

        let mut correlation = Correlation::new(window, now_ms());
        let ranges = correlate::candidate_ranges(&fresh, window);
        let r_tenant: Vec<&str> = ranges.iter().map(|r| r.tenant.as_str()).collect();
        let r_asset: Vec<&str> = ranges.iter().map(|r| r.asset.as_str()).collect();
        let r_after: Vec<i64> = ranges.iter().map(|r| r.after_ms).collect();
        let r_until: Vec<i64> = ranges.iter().map(|r| r.until_ms).collect();
        let r_since: Vec<i64> = ranges.iter().map(|r| r.since_ms).collect();
        // The LIMIT applies to the inner index scan; only joinable incidents are read in full,
        // and locked against a concurrent state change (one closed meanwhile drops out).
        let candidates = tx
            .prepare_cached(&format!(
                "SELECT DISTINCT k.id FROM UNNEST($1::text[], $2::text[], $3::bigint[],
                         $4::bigint[], $5::bigint[]) AS r(tenant, asset, after_ms, until_ms, since_ms)
                     CROSS JOIN LATERAL (
                         SELECT i.id, i.last_seen_ms, i.state FROM incidents i
                         WHERE i.tenant = r.tenant AND i.asset = r.asset
                             AND i.first_seen_ms > r.after_ms AND i.first_seen_ms <= r.until_ms
                         ORDER BY i.first_seen_ms DESC LIMIT {}) k
                     WHERE k.last_seen_ms >= r.since_ms AND k.{}",
                correlate::CANDIDATES_PER_RANGE,
                query::open_states()
            ))
            .await?;
        let ids: Vec<String> = tx
            .query(
                &candidates,
                &[&r_tenant, &r_asset, &r_after, &r_until, &r_since],
            )
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        if !ids.is_empty() {
            let rows = tx
                .query(
                    &format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents
                         WHERE id = ANY($1) AND {} FOR UPDATE",
                        query::open_states()
                    ),
                    &[&ids],
                )
                .await?;
            for row in &rows {
                correlation.add_candidate(incident_row(row)?.candidate()?);
            }
        }

        // The alerts go in with COPY: no per-row planning, array decoding or conflict
        // check. A unique violation means an id was stored already: by an earlier sending of
        // this batch (its ids were not looked up), or, when they were, by another tenant's
        // batch meanwhile. The transaction fails and the retry sees them as duplicates.
        let n = fresh.len();
        let sink = tx
            .copy_in(
                "COPY alerts (id, tenant, time_ms, engine, severity, rule_id, rule_name,
                     summary, asset, incident_id, body) FROM STDIN BINARY",
            )
            .await?;
        let copy = BinaryCopyInWriter::new(
            sink,
            &[
                Type::TEXT,
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
            ],
        );
        tokio::pin!(copy);
        for p in &fresh {
            let incident = correlation.assign(p).map(|i| i.to_string());
            let severity = p.severity.rank();
            copy.as_mut()
                .write(&[
                    &p.id_text,
                    &p.tenant,
                    &p.time_ms,
                    &p.engine.as_str(),
                    &severity,
                    &pg_text(&p.rule_id),
                    &pg_text(&p.rule_name),
                    &pg_text(&p.summary),
                    &p.asset,
                    &incident,
                    &p.body,
                ])
                .await
                .map_err(|e| constraint(e, "an alert id of this batch"))?;
        }
        let inserted = copy
            .finish()
            .await
            .map_err(|e| constraint(e, "an alert id of this batch"))?;
        if inserted != n as u64 {
            return Err(Error::Corrupt(format!(
                "COPY stored {inserted} of {n} alerts"
            )));
        }
        outcome.stored = n;

        let opened: Vec<_> = correlation.opened().collect();
        outcome.incidents_opened = opened.len();
        if !opened.is_empty() {
            let ids: Vec<String> = opened.iter().map(|i| i.id.to_string()).collect();
            let tenants: Vec<&str> = opened.iter().map(|i| i.tenant.as_str()).collect();
            let assets: Vec<&str> = opened.iter().map(|i| i.asset.as_str()).collect();
            let titles: Vec<String> = opened.iter().map(|i| pg_text(&i.title)).collect();
            let severities: Vec<i64> = opened.iter().map(|i| i.severity.rank()).collect();
            let states: Vec<&str> = opened.iter().map(|i| i.state.as_str()).collect();
            let counts: Vec<i64> = opened.iter().map(|i| i.alert_count).collect();
            let firsts: Vec<i64> = opened.iter().map(|i| i.first_seen_ms).collect();
            let lasts: Vec<i64> = opened.iter().map(|i| i.last_seen_ms).collect();
            let updated: Vec<i64> = opened.iter().map(|i| i.updated_at_ms).collect();
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO incidents (id, tenant, asset, title, severity, state, alert_count,
                     first_seen_ms, last_seen_ms, updated_at_ms)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[],
                     $10::bigint[])",
                )
                .await?,
                &[
                    &ids,
                    &tenants,
                    &assets,
                    &titles,
                    &severities,
                    &states,
                    &counts,
                    &firsts,
                    &lasts,
                    &updated,
                ],
            )
            .await?;
        }

        let per_tenant = correlation.opened_per_tenant();
        if !per_tenant.is_empty() {
            let tenants: Vec<&str> = per_tenant.keys().copied().collect();
            let counts: Vec<i64> = per_tenant.values().copied().collect();
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO open_incidents (tenant, count)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[])
                 ON CONFLICT (tenant) DO UPDATE SET count = open_incidents.count + EXCLUDED.count",
                )
                .await?,
                &[&tenants, &counts],
            )
            .await?;
        }

        let changed: Vec<_> = correlation.changed().collect();
        if !changed.is_empty() {
            let ids: Vec<String> = changed.iter().map(|i| i.id.to_string()).collect();
            let titles: Vec<String> = changed.iter().map(|i| pg_text(&i.title)).collect();
            let severities: Vec<i64> = changed.iter().map(|i| i.severity.rank()).collect();
            let counts: Vec<i64> = changed.iter().map(|i| i.alert_count).collect();
            let firsts: Vec<i64> = changed.iter().map(|i| i.first_seen_ms).collect();
            let lasts: Vec<i64> = changed.iter().map(|i| i.last_seen_ms).collect();
            let updated: Vec<i64> = changed.iter().map(|i| i.updated_at_ms).collect();
            tx.execute(
                &tx.prepare_cached(
                    "UPDATE incidents AS i SET title = u.title, severity = u.severity,
                     alert_count = u.alert_count, first_seen_ms = u.first_seen_ms,
                     last_seen_ms = u.last_seen_ms, updated_at_ms = u.updated_at_ms
                 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::bigint[])
                     AS u(id, title, severity, alert_count, first_seen_ms, last_seen_ms,
                          updated_at_ms)
                 WHERE i.id = u.id",
                )
                .await?,
                &[
                    &ids,
                    &titles,
                    &severities,
                    &counts,
                    &firsts,
                    &lasts,
                    &updated,
                ],
            )
            .await?;
        }

        let entries = correlation.timeline();
        if !entries.is_empty() {
            let ids: Vec<String> = entries.iter().map(|e| e.incident.to_string()).collect();
            let times: Vec<i64> = entries.iter().map(|e| e.time_ms).collect();
            let actors: Vec<&str> = entries.iter().map(|_| correlate::ACTOR).collect();
            let bodies: Vec<String> = entries
                .iter()
                .map(|e| records::timeline_body(&e.kind))
                .collect::<Result<_>>()?;
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO incident_timeline (incident_id, time_ms, actor, body)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[])",
                )
                .await?,
                &[&ids, &times, &actors, &bodies],
            )
            .await?;
        }

        let rollup = correlation.rollup();
        let r_tenant: Vec<&str> = rollup.keys().map(|k| k.0.as_str()).collect();
        let r_hour: Vec<i64> = rollup.keys().map(|k| k.1).collect();
        let r_engine: Vec<&str> = rollup.keys().map(|k| k.2).collect();
        let r_severity: Vec<i64> = rollup.keys().map(|k| k.3).collect();
        let r_count: Vec<i64> = rollup.values().copied().collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO alert_rollup (tenant, hour_ms, engine, severity, count)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[],
                 $5::bigint[])
             ON CONFLICT (tenant, hour_ms, engine, severity)
             DO UPDATE SET count = alert_rollup.count + EXCLUDED.count",
            )
            .await?,
            &[&r_tenant, &r_hour, &r_engine, &r_severity, &r_count],
        )
        .await?;
        let rollup_all = correlation.rollup_all();
        let a_hour: Vec<i64> = rollup_all.keys().map(|k| k.0).collect();
        let a_engine: Vec<&str> = rollup_all.keys().map(|k| k.1).collect();
        let a_severity: Vec<i64> = rollup_all.keys().map(|k| k.2).collect();
        let a_count: Vec<i64> = rollup_all.values().copied().collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
             ON CONFLICT (hour_ms, engine, severity)
             DO UPDATE SET count = alert_rollup_all.count + EXCLUDED.count",
            )
            .await?,
            &[&a_hour, &a_engine, &a_severity, &a_count],
        )
        .await?;

        tx.commit().await?;
        Ok(outcome)
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_tenant(&self, name: &str, display_name: &str) -> Result<Tenant> {
        records::check_new_tenant(name, display_name)?;
        let now = now_ms();
        self.client()
            .await?
            .execute(
                "INSERT INTO tenants (name, display_name, created_at_ms) VALUES ($1, $2, $3)",
                &[&name, &display_name, &now],
            )
            .await
            .map_err(|e| constraint(e, &format!("tenant {name}")))?;
        Ok(records::tenant(
            name.to_string(),
            display_name.to_string(),
            now,
        ))
    }

    async fn tenants(&self, scope: &Scope) -> Result<Vec<Tenant>> {
        let client = self.client().await?;
        let rows = match scope.tenant() {
            Some(t) => {
                client
                    .query(
                        "SELECT name, display_name, created_at_ms FROM tenants WHERE name = $1",
                        &[&t],
                    )
                    .await?
            }
            None => {
                client
                    .query(
                        "SELECT name, display_name, created_at_ms FROM tenants ORDER BY name",
                        &[],
                    )
                    .await?
            }
        };
        rows.iter().map(tenant_from).collect()
    }

    async fn tenant(&self, scope: &Scope, name: &str) -> Result<Option<Tenant>> {
        if !scope.allows(name) {
            return Ok(None);
        }
        self.client()
            .await?
            .query_opt(
                "SELECT name, display_name, created_at_ms FROM tenants WHERE name = $1",
                &[&name],
            )
            .await?
            .as_ref()
            .map(tenant_from)
            .transpose()
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let email = records::check_new_user(&user.email, user.role, user.tenant.as_deref())?;
        let client = self.client().await?;
        if let Some(t) = &user.tenant {
            if !tenant_exists(&client, t).await? {
                return Err(Error::Invalid(format!("unknown tenant {t}")));
            }
        }
        let now = now_ms();
        let row = client
            .query_one(
                "INSERT INTO users (email, password_hash, role, tenant, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &email,
                    &user.password_hash,
                    &user.role.as_str(),
                    &user.tenant,
                    &now,
                ],
            )
            .await
            .map_err(|e| constraint(e, &format!("user {email}")))?;
        Ok(User {
            id: row.try_get(0)?,
            email,
            role: user.role,
            tenant: user.tenant,
            password_hash: user.password_hash,
            created_at: from_unix_ms(now),
        })
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let email = records::normalize_email(email);
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
                &[&email],
            )
            .await?
            .map(|r| user_from(&r, 0))
            .transpose()
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await?
            .map(|r| user_from(&r, 0))
            .transpose()
    }

    async fn users(&self, scope: &Scope) -> Result<Vec<User>> {
        let (clause, tenant) = tenant_clause(scope.tenant(), 1);
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE TRUE{clause} ORDER BY id");
        let client = self.client().await?;
        let rows = match &tenant {
            Some(t) => client.query(&sql, &[t]).await?,
            None => client.query(&sql, &[]).await?,
        };
        rows.iter().map(|r| user_from(r, 0)).collect()
    }

    async fn set_password(&self, user_id: i64, password_hash: &str) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1",
                &[&user_id, &password_hash],
            )
            .await?;
        if n == 0 {
            return Err(Error::NotFound(format!("user {user_id}")));
        }
        Ok(())
    }

    async fn count_users(&self) -> Result<i64> {
        Ok(self
            .client()
            .await?
            .query_one("SELECT count(*) FROM users", &[])
            .await?
            .try_get(0)?)
    }

    async fn create_session(&self, session: Session) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO sessions (id_hash, user_id, csrf, expires_at_ms)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &session.id_hash,
                    &session.user_id,
                    &session.csrf,
                    &unix_ms(session.expires_at),
                ],
            )
            .await
            .map_err(|e| constraint(e, "session"))?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: OffsetDateTime) -> Result<Option<(Session, User)>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT s.id_hash, s.user_id, s.csrf, s.expires_at_ms,
                     u.id, u.email, u.password_hash, u.role, u.tenant, u.created_at_ms
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_hash = $1 AND s.expires_at_ms > $2",
                &[&id_hash, &unix_ms(now)],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = Session {
            id_hash: row.try_get(0)?,
            user_id: row.try_get(1)?,
            csrf: row.try_get(2)?,
            expires_at: from_unix_ms(row.try_get(3)?),
        };
        Ok(Some((session, user_from(&row, 4)?)))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.client()
            .await?
            .execute("DELETE FROM sessions WHERE id_hash = $1", &[&id_hash])
            .await?;
        Ok(())
    }

    async fn record_login_failure(&self, email: &str, ip: &str, at: OffsetDateTime) -> Result<()> {
        let email = records::normalize_email(email);
        self.client()
            .await?
            .execute(
                "INSERT INTO login_failures (email, ip, at_ms) VALUES ($1, $2, $3)",
                &[&email, &ip, &unix_ms(at)],
            )
            .await?;
        Ok(())
    }

    async fn login_failures(
        &self,
        email: &str,
        ip: &str,
        since: OffsetDateTime,
    ) -> Result<(i64, i64)> {
        let email = records::normalize_email(email);
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT (SELECT count(*) FROM login_failures WHERE email = $1 AND at_ms >= $3),
                        (SELECT count(*) FROM login_failures WHERE ip = $2 AND at_ms >= $3)",
                &[&email, &ip, &unix_ms(since)],
            )
            .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    async fn clear_login_failures(&self, email: &str) -> Result<()> {
        let email = records::normalize_email(email);
        self.client()
            .await?
            .execute("DELETE FROM login_failures WHERE email = $1", &[&email])
            .await?;
        Ok(())
    }

    async fn create_token(&self, tenant: &str, name: &str, secret_hash: &str) -> Result<Token> {
        records::check_new_token(name, secret_hash)?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !tenant_exists(&tx, tenant).await? {
            return Err(Error::Invalid(format!("unknown tenant {tenant}")));
        }
        let existing = tx
            .query_opt(
                "SELECT revoked_at_ms FROM tokens WHERE tenant = $1 AND name = $2 FOR UPDATE",
                &[&tenant, &name],
            )
            .await?;
        let named = format!("token {name} of tenant {tenant}");
        if let Some(row) = existing {
            let revoked: Option<i64> = row.try_get(0)?;
            if revoked.is_none() {
                return Err(Error::Conflict(named));
            }
            // A revoked token's name may be used again; the old row goes.
            tx.execute(
                "DELETE FROM tokens WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await?;
        }
        let now = now_ms();
        let row = tx
            .query_one(
                "INSERT INTO tokens (tenant, name, secret_hash, created_at_ms)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&tenant, &name, &secret_hash, &now],
            )
            .await
            .map_err(|e| {
                let on_secret = e
                    .as_db_error()
                    .and_then(|d| d.constraint())
                    .is_some_and(|c| c.contains("secret_hash"));
                if on_secret {
                    constraint(e, "a token with this secret")
                } else {
                    constraint(e, &named)
                }
            })?;
        let id = row.try_get(0)?;
        tx.commit().await?;
        Ok(records::token(
            id,
            tenant.to_string(),
            name.to_string(),
            now,
            None,
        ))
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<Token>> {
        self.client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM tokens
                     WHERE secret_hash = $1 AND revoked_at_ms IS NULL"
                ),
                &[&secret_hash],
            )
            .await?
            .as_ref()
            .map(token_from)
            .transpose()
    }

    async fn tokens(&self, scope: &Scope) -> Result<Vec<Token>> {
        let (clause, tenant) = tenant_clause(scope.tenant(), 1);
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE TRUE{clause} ORDER BY tenant, name");
        let client = self.client().await?;
        let rows = match &tenant {
            Some(t) => client.query(&sql, &[t]).await?,
            None => client.query(&sql, &[]).await?,
        };
        rows.iter().map(token_from).collect()
    }

    async fn revoke_token(&self, tenant: &str, name: &str) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE tokens SET revoked_at_ms = $3
                 WHERE tenant = $1 AND name = $2 AND revoked_at_ms IS NULL",
                &[&tenant, &name, &now_ms()],
            )
            .await?;
        Ok(n > 0)
    }

    async fn ingest_prepared(
        &self,
        batch: PreparedBatch,
        window: time::Duration,
    ) -> Result<IngestOutcome> {
        if batch.is_empty() {
            return Ok(IngestOutcome::default());
        }
        let mut shards: Vec<Vec<PreparedAlert>> = vec![Vec::new(); INGEST_SHARDS];
        for alert in batch.alerts {
            shards[ingest_shard(&alert.tenant, alert.asset.as_deref())].push(alert);
        }
        let mut running = tokio::task::JoinSet::new();
        for (shard, alerts) in shards.into_iter().enumerate() {
            if alerts.is_empty() {
                continue;
            }
            let store = PostgresStore {
                pool: self.pool.clone(),
            };
            running.spawn(async move { store.ingest_shard(shard, &alerts, window).await });
        }
        // Every shard is waited for, so none is still writing when the caller hears of a
        // failure and tries again.
        let mut outcome = IngestOutcome::default();
        let mut failed = None;
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(part)) => {
                    outcome.stored += part.stored;
                    outcome.duplicates += part.duplicates;
                    outcome.duplicate_ids.extend(part.duplicate_ids);
                    outcome.incidents_opened += part.incidents_opened;
                }
                Ok(Err(e)) => failed = failed.or(Some(e)),
                Err(e) => {
                    failed = failed.or(Some(Error::Corrupt(format!("an ingest task failed: {e}"))))
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    async fn alerts(&self, scope: &Scope, query: &AlertQuery) -> Result<Page<StoredAlert>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let limit = crate::page_limit(query.limit);
        let sql = query::alert_page(Dialect::Postgres, tenant, query, limit, None)?;
        let params = to_params(sql.params);
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql.text).await?;
        let rows = client.query(&statement, &refs(&params)).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: String = row.try_get(0)?;
            let body: &str = row.try_get(3)?;
            let alert = records::stored_alert(row.try_get(1)?, row.try_get(2)?, body)?;
            items.push((row.try_get(4)?, id, alert));
        }
        Ok(query::into_page(items, limit))
    }

    async fn alert(&self, scope: &Scope, id: Ulid) -> Result<Option<StoredAlert>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT tenant, incident_id, body FROM alerts WHERE id = $1",
                &[&id.to_string()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let tenant: String = row.try_get(0)?;
        if !scope.allows(&tenant) {
            return Ok(None);
        }
        records::stored_alert(tenant, row.try_get(1)?, row.try_get(2)?).map(Some)
    }

    async fn alert_counts(
        &self,
        scope: &Scope,
        since: OffsetDateTime,
        bucket: time::Duration,
    ) -> Result<AlertCounts> {
        let mut counts = records::CountsBuilder::new(since, bucket, OffsetDateTime::now_utc());
        let client = self.client().await?;
        let first_hour = counts.first_hour_ms();
        let rows = match scope.tenant() {
            Some(t) => {
                client
                    .query(
                        "SELECT hour_ms, engine, severity, count FROM alert_rollup
                         WHERE tenant = $1 AND hour_ms >= $2",
                        &[&t, &first_hour],
                    )
                    .await?
            }
            None => {
                client
                    .query(
                        "SELECT hour_ms, engine, severity, count FROM alert_rollup_all
                         WHERE hour_ms >= $1",
                        &[&first_hour],
                    )
                    .await?
            }
        };
        for row in &rows {
            counts.add(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
        }
        let (clause, tenant) = tenant_clause(scope.tenant(), 1);
        let sql = format!(
            "SELECT COALESCE(SUM(count), 0)::bigint FROM open_incidents WHERE TRUE{clause}"
        );
        let open = match &tenant {
            Some(t) => client.query_one(&sql, &[t]).await?,
            None => client.query_one(&sql, &[]).await?,
        }
        .try_get(0)?;
        Ok(counts.finish(open))
    }

    async fn incidents(&self, scope: &Scope, query: &IncidentQuery) -> Result<Page<Incident>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let limit = crate::page_limit(query.limit);
        let sql = query::incident_page(Dialect::Postgres, tenant, query, limit)?;
        let params = to_params(sql.params);
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql.text).await?;
        let rows = client.query(&statement, &refs(&params)).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let row = incident_row(row)?;
            let ms = if query.triage {
                query::triage_key(row.severity, row.first_seen_ms)
            } else {
                row.last_seen_ms
            };
            let id = row.id.clone();
            items.push((ms, id, row.decode()?));
        }
        Ok(query::into_page(items, limit))
    }

    async fn incident(&self, scope: &Scope, id: Ulid) -> Result<Option<Incident>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1"),
                &[&id.to_string()],
            )
            .await?;
        match row {
            Some(row) => {
                let row = incident_row(&row)?;
                if scope.allows(&row.tenant) {
                    row.decode().map(Some)
                } else {
                    Ok(None)
                }
            }
            None => Ok(None),
        }
    }

    async fn timeline(&self, scope: &Scope, id: Ulid) -> Result<Vec<TimelineEntry>> {
        let client = self.client().await?;
        let id = id.to_string();
        let tenant = client
            .query_opt("SELECT tenant FROM incidents WHERE id = $1", &[&id])
            .await?;
        let allowed = match tenant {
            Some(row) => scope.allows(row.try_get(0)?),
            None => false,
        };
        if !allowed {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                "SELECT time_ms, actor, body FROM incident_timeline
                 WHERE incident_id = $1 ORDER BY time_ms, seq",
                &[&id],
            )
            .await?;
        rows.iter()
            .map(|r| records::timeline_entry(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
            .collect()
    }

    async fn update_incident(
        &self,
        scope: &Scope,
        id: Ulid,
        change: IncidentChange,
        actor: &str,
    ) -> Result<Incident> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let id_text = id.to_string();
        let row = tx
            .query_opt(
                &format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = $1 FOR UPDATE"),
                &[&id_text],
            )
            .await?;
        let row = match row {
            Some(row) => Some(incident_row(&row)?),
            None => None,
        };
        let Some(row) = row.filter(|r| scope.allows(&r.tenant)) else {
            return Err(Error::NotFound(format!("incident {id}")));
        };
        let mut incident = row.decode()?;
        let now = OffsetDateTime::now_utc();
        let was_open = incident.state.is_open();
        let kind = records::apply_change(&mut incident, change, now)?;
        if let Some(delta) = open_delta(was_open, incident.state.is_open()) {
            tx.execute(
                "INSERT INTO open_incidents (tenant, count) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET count = open_incidents.count + EXCLUDED.count",
                &[&incident.tenant, &delta],
            )
            .await?;
        }
        let (response, contained) = records::sla_marks(actor, &kind, incident.state, unix_ms(now));
        tx.execute(
            "UPDATE incidents SET state = $2, assignee = $3, updated_at_ms = $4,
                 first_response_ms = COALESCE(first_response_ms, $5),
                 contained_ms = COALESCE(contained_ms, $6)
             WHERE id = $1",
            &[
                &id_text,
                &incident.state.as_str(),
                &incident.assignee,
                &unix_ms(now),
                &response,
                &contained,
            ],
        )
        .await?;
        incident.first_response = incident.first_response.or(response.map(from_unix_ms));
        incident.contained = incident.contained.or(contained.map(from_unix_ms));
        tx.execute(
            "INSERT INTO incident_timeline (incident_id, time_ms, actor, body)
             VALUES ($1, $2, $3, $4)",
            &[
                &id_text,
                &unix_ms(now),
                &actor,
                &records::timeline_body(&kind)?,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(incident)
    }

    async fn ingest_events(&self, events: &[LogEvent]) -> Result<usize> {
        if events.is_empty() {
            return Ok(0);
        }
        for e in events {
            crate::events::check(e)?;
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut tenants: Vec<&str> = events.iter().map(|e| e.tenant.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        for t in tenants {
            if !tenant_exists(&tx, t).await? {
                return Err(Error::Invalid(format!("unknown tenant {t}")));
            }
        }
        let insert = tx
            .prepare_cached(
                "INSERT INTO log_events
                     (id, tenant, time_ms, host, source, channel, event_id, record_id, file,
                      fields, raw)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::json, $11)
                 ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        let mut stored = 0;
        for e in events {
            let fields = crate::events::fields_json(&e.fields);
            // PostgreSQL text cannot hold NUL; a log line that has one keeps the rest.
            let raw = crate::events::bounded_raw(&e.raw).replace('\0', "");
            stored += tx
                .execute(
                    &insert,
                    &[
                        &e.id,
                        &e.tenant,
                        &e.time_ms,
                        &e.host,
                        &e.source,
                        &e.channel,
                        &e.event_id,
                        &e.record_id,
                        &e.file,
                        &fields.replace("\\u0000", ""),
                        &raw,
                    ],
                )
                .await? as usize;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn events(&self, scope: &Scope, query: &EventQuery) -> Result<Page<LogEvent>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let limit = crate::page_limit(query.limit);
        let sql = crate::events::event_page(Dialect::Postgres, tenant, query, limit)?;
        let params = to_params(sql.params);
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql.text).await?;
        let rows = client.query(&statement, &refs(&params)).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let fields: &str = row.try_get(9)?;
            let e = LogEvent {
                id: row.try_get(0)?,
                tenant: row.try_get(1)?,
                time_ms: row.try_get(2)?,
                host: row.try_get(3)?,
                source: row.try_get(4)?,
                channel: row.try_get(5)?,
                event_id: row.try_get(6)?,
                record_id: row.try_get(7)?,
                file: row.try_get(8)?,
                fields: crate::events::fields_from_json(fields)?,
                raw: row.try_get(10)?,
            };
            items.push((e.time_ms, e.id.clone(), e));
        }
        Ok(query::into_page(items, limit))
    }

    async fn create_action(&self, action: NewAction) -> Result<ResponseAction> {
        crate::actions::check_new(&action)?;
        let id = Ulid::new();
        let client = self.client().await?;
        if let Some(t) = &action.tenant {
            if !tenant_exists(&client, t).await? {
                return Err(Error::Invalid(format!("unknown tenant {t}")));
            }
        }
        if let Some(i) = action.incident {
            let owner: Option<String> = client
                .query_opt(
                    "SELECT tenant FROM incidents WHERE id = $1",
                    &[&i.to_string()],
                )
                .await?
                .map(|r| r.try_get(0))
                .transpose()?;
            if owner.is_none() || (action.tenant.is_some() && owner != action.tenant) {
                return Err(Error::NotFound(format!("incident {i}")));
            }
        }
        client
            .execute(
                "INSERT INTO response_actions
                     (id, tenant, kind, target, incident_id, created_at_ms, created_by, reason,
                      expires_at_ms, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending')",
                &[
                    &id.to_string(),
                    &action.tenant,
                    &action.kind.as_str(),
                    &action.target,
                    &action.incident.map(|i| i.to_string()),
                    &now_ms(),
                    &action.actor,
                    &action.reason,
                    &action.expires_at.map(unix_ms),
                ],
            )
            .await?;
        action_by_id(&client, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("action {id}")))
    }

    async fn actions(&self, scope: &Scope, query: &ActionQuery) -> Result<Vec<ResponseAction>> {
        let Some(tenant) = effective_tenant(scope, query.tenant.as_deref()) else {
            return Ok(Vec::new());
        };
        let sql = crate::actions::action_list(Dialect::Postgres, tenant, query, now_ms());
        let params = to_params(sql.params);
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql.text).await?;
        let rows = client.query(&statement, &refs(&params)).await?;
        rows.iter()
            .take(crate::page_limit(query.limit))
            .map(action_from_pg)
            .collect()
    }

    async fn action(&self, scope: &Scope, id: Ulid) -> Result<Option<ResponseAction>> {
        let client = self.client().await?;
        Ok(action_by_id(&client, id)
            .await?
            .filter(|a| crate::sqlite::action_in_scope(scope, a)))
    }

    async fn release_action(
        &self,
        scope: &Scope,
        id: Ulid,
        actor: &str,
        reason: &str,
    ) -> Result<ResponseAction> {
        if reason.chars().count() > crate::actions::MAX_REASON {
            return Err(Error::Invalid("the reason is too long".into()));
        }
        let client = self.client().await?;
        let found = action_by_id(&client, id)
            .await?
            .filter(|a| crate::sqlite::action_in_scope(scope, a));
        let Some(_) = found else {
            return Err(Error::NotFound(format!("action {id}")));
        };
        let n = client
            .execute(
                "UPDATE response_actions
                 SET released_at_ms = $2, released_by = $3, release_reason = $4
                 WHERE id = $1 AND released_at_ms IS NULL",
                &[&id.to_string(), &now_ms(), &actor, &reason],
            )
            .await?;
        if n == 0 {
            return Err(Error::Invalid(format!("action {id} was already released")));
        }
        action_by_id(&client, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("action {id}")))
    }

    async fn set_action_status(&self, id: Ulid, status: &str) -> Result<()> {
        let status: String = status.chars().take(500).collect();
        self.client()
            .await?
            .execute(
                "UPDATE response_actions SET status = $2 WHERE id = $1",
                &[&id.to_string(), &status],
            )
            .await?;
        Ok(())
    }

    async fn sensor_contact(&self, contact: &SensorContact) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO sensors (tenant, name, last_contact_ms, backlog, oldest_unsent_ms, address)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, name) DO UPDATE SET last_contact_ms = excluded.last_contact_ms,
                     backlog = excluded.backlog, oldest_unsent_ms = excluded.oldest_unsent_ms,
                     address = excluded.address",
                &[
                    &contact.tenant,
                    &contact.name,
                    &unix_ms(contact.last_contact),
                    &contact.backlog,
                    &contact.oldest_unsent.map(unix_ms),
                    &contact.address,
                ],
            )
            .await?;
        Ok(())
    }

    async fn sensors(&self, scope: &Scope) -> Result<Vec<SensorContact>> {
        let only = scope.tenant().map(str::to_string);
        let rows = self
            .client()
            .await?
            .query(
                "SELECT tenant, name, last_contact_ms, backlog, oldest_unsent_ms, address FROM sensors
                 WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant, name LIMIT 10000",
                &[&only],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SensorContact {
                    tenant: r.try_get(0)?,
                    name: r.try_get(1)?,
                    last_contact: from_unix_ms(r.try_get(2)?),
                    backlog: r.try_get(3)?,
                    oldest_unsent: r.try_get::<_, Option<i64>>(4)?.map(from_unix_ms),
                    address: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn tenant_health(
        &self,
        scope: &Scope,
        online_since: OffsetDateTime,
    ) -> Result<Vec<TenantHealth>> {
        let only = scope.tenant().map(str::to_string);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&crate::sensors::health_sql(
                "$1",
                "$2::text",
                " COLLATE \"C\"",
            ))
            .await?;
        let rows = client
            .query(&statement, &[&unix_ms(online_since), &only])
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TenantHealth {
                    tenant: r.try_get(0)?,
                    display_name: r.try_get(1)?,
                    last_event: r.try_get::<_, Option<i64>>(2)?.map(from_unix_ms),
                    open_incidents: r.try_get(3)?,
                    sensors: r.try_get(4)?,
                    sensors_online: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn purge_before(&self, cutoff: OffsetDateTime) -> Result<u64> {
        let cutoff_ms = unix_ms(cutoff);
        let mut client = self.client().await?;
        let mut deleted = 0u64;
        loop {
            let n = client
                .execute(
                    "DELETE FROM alerts WHERE id IN
                         (SELECT id FROM alerts WHERE time_ms < $1 LIMIT $2)",
                    &[&cutoff_ms, &PURGE_CHUNK],
                )
                .await?;
            deleted += n;
            if n < PURGE_CHUNK as u64 {
                break;
            }
        }
        loop {
            let n = client
                .execute(
                    "DELETE FROM log_events WHERE id IN
                         (SELECT id FROM log_events WHERE time_ms < $1 LIMIT $2)",
                    &[&cutoff_ms, &PURGE_CHUNK],
                )
                .await?;
            if n < PURGE_CHUNK as u64 {
                break;
            }
        }
        let tx = client.transaction().await?;
        let closed = "state IN ('resolved', 'false_positive') AND last_seen_ms < $1";
        tx.execute(
            &format!(
                "DELETE FROM incident_timeline
                 WHERE incident_id IN (SELECT id FROM incidents WHERE {closed})"
            ),
            &[&cutoff_ms],
        )
        .await?;
        tx.execute(
            &format!("DELETE FROM incidents WHERE {closed}"),
            &[&cutoff_ms],
        )
        .await?;
        let hour = correlate::hour_of(cutoff_ms);
        tx.execute("DELETE FROM alert_rollup WHERE hour_ms < $1", &[&hour])
            .await?;
        tx.execute("DELETE FROM alert_rollup_all WHERE hour_ms < $1", &[&hour])
            .await?;
        if hour < cutoff_ms {
            // Recount the hour that straddles the cutoff; ingest must not add to it meanwhile,
            // so take every tenant's ingest lock, in the order ingest takes them.
            let mut tenants: Vec<String> = tx
                .query("SELECT name FROM tenants", &[])
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?;
            tenants.sort_unstable();
            let lock = tx
                .prepare_cached("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .await?;
            for t in &tenants {
                tx.execute(&lock, &[&LOCK_INGEST, t]).await?;
            }
            let next_hour = hour + 3_600_000;
            tx.execute("DELETE FROM alert_rollup WHERE hour_ms = $1", &[&hour])
                .await?;
            tx.execute("DELETE FROM alert_rollup_all WHERE hour_ms = $1", &[&hour])
                .await?;
            tx.execute(
                "INSERT INTO alert_rollup (tenant, hour_ms, engine, severity, count)
                 SELECT tenant, $1::bigint, engine, severity, count(*) FROM alerts
                 WHERE time_ms >= $1 AND time_ms < $2
                 GROUP BY tenant, engine, severity",
                &[&hour, &next_hour],
            )
            .await?;
            tx.execute(
                "INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
                 SELECT $1::bigint, engine, severity, count(*) FROM alerts
                 WHERE time_ms >= $1 AND time_ms < $2
                 GROUP BY engine, severity",
                &[&hour, &next_hour],
            )
            .await?;
        }
        tx.execute(
            "DELETE FROM sessions WHERE expires_at_ms <= $1",
            &[&now_ms()],
        )
        .await?;
        tx.execute("DELETE FROM login_failures WHERE at_ms < $1", &[&cutoff_ms])
            .await?;
        tx.commit().await?;
        tracing::info!(deleted, cutoff_ms, "purged old alerts");
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alerts_shard_is_stable_and_shards_share_the_load() {
        // Replicas and builds must agree: these values may never change.
        assert_eq!(ingest_shard("acme", Some("10.0.0.1")), 0);
        assert_eq!(ingest_shard("acme", Some("10.0.0.2")), 1);
        assert_eq!(ingest_shard("acme", None), ingest_shard("acme", Some("")));
        let mut per = [0usize; INGEST_SHARDS];
        for host in 0..2000 {
            per[ingest_shard("acme", Some(&format!("10.1.{}.{}", host / 250, host % 250)))] += 1;
        }
        assert!(
            per.iter().all(|&n| n > 2000 / INGEST_SHARDS * 8 / 10),
            "{per:?}"
        );
    }
}
