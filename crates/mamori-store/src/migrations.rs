//! The schema of both backends as versioned migrations.
//!
//! Each backend has its own list of `(version, sql)` pairs, applied in order by the backend's
//! `open`/`connect` inside one transaction, and recorded in `schema_migrations(version,
//! applied_at_ms)`. Opening an up-to-date database applies nothing. A released migration is
//! never edited: a schema change is a new entry at the end of both lists.
//!
//! The two schemas hold the same tables with the same meaning (times are Unix milliseconds,
//! severities their [`Severity::rank`](mamori_core::Severity::rank), an alert's full JSON in
//! `body`); types and identity columns differ, and so do the indexes that find alerts by
//! asset or incident: SQLite writes every page an insert touches to its WAL, so there the
//! asset index is led by the hour and serves incidents too (see `sqlite.rs`), while
//! PostgreSQL keeps plain `(tenant, asset, time)` and `(incident, time)` indexes.
//!
//! `alert_rollup` counts alerts per tenant, hour, engine and severity as they are stored,
//! `alert_rollup_all` the same over all tenants, and `open_incidents` the open incidents per
//! tenant, so the overview never scans `alerts` or `incidents`.
//!
//! Alerts carry no foreign keys: ingest checks tenants itself once per batch, and a
//! per-row check would cost more than the rest of the insert.

/// SQL that creates the bookkeeping table; the same text works on both backends.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    applied_at_ms BIGINT NOT NULL
)";

/// 1: the first schema. 2: the hour-led asset index on alerts (replacing the asset and
/// incident indexes), a covering candidate index on incidents, and the `open_incidents` and
/// `alert_rollup_all` counters, filled from the existing rows.
pub(crate) const SQLITE: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT REFERENCES tenants(name),
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_expiry ON sessions(expires_at_ms);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_failures (
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX login_failures_email ON login_failures(email, at_ms);
CREATE INDEX login_failures_ip ON login_failures(ip, at_ms);
CREATE INDEX login_failures_at ON login_failures(at_ms);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    UNIQUE (tenant, name)
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    engine TEXT NOT NULL,
    severity INTEGER NOT NULL,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    summary TEXT NOT NULL,
    asset TEXT,
    incident_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX alerts_tenant_time ON alerts(tenant, time_ms, id);
CREATE INDEX alerts_time ON alerts(time_ms, id);
CREATE INDEX alerts_incident ON alerts(incident_id, time_ms, id) WHERE incident_id IS NOT NULL;
CREATE INDEX alerts_asset ON alerts(tenant, asset, time_ms, id) WHERE asset IS NOT NULL;

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    asset TEXT NOT NULL,
    title TEXT NOT NULL,
    severity INTEGER NOT NULL,
    state TEXT NOT NULL,
    assignee TEXT,
    alert_count INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX incidents_tenant_seen ON incidents(tenant, last_seen_ms, id);
CREATE INDEX incidents_seen ON incidents(last_seen_ms, id);
CREATE INDEX incidents_asset ON incidents(tenant, asset, first_seen_ms);
CREATE INDEX incidents_state ON incidents(state, tenant);

CREATE TABLE incident_timeline (
    seq INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    time_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, time_ms, seq);

CREATE TABLE alert_rollup (
    tenant TEXT NOT NULL,
    hour_ms INTEGER NOT NULL,
    engine TEXT NOT NULL,
    severity INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (tenant, hour_ms, engine, severity)
) WITHOUT ROWID;
CREATE INDEX alert_rollup_hour ON alert_rollup(hour_ms);
"#,
    ),
    (
        2,
        r#"
-- Alerts by asset, hour by hour (see query::ASSET_HOUR). Led by the hour so that a batch
-- of new alerts lands in a few pages at the end instead of one page per asset all over the
-- index; an asset's alerts are then read an hour at a time. Alerts by incident use it too.
DROP INDEX IF EXISTS alerts_incident;
DROP INDEX IF EXISTS alerts_asset;
CREATE INDEX alerts_asset ON alerts(time_ms / 3600000, asset, tenant, time_ms, id)
    WHERE asset IS NOT NULL;

-- Candidate incidents are filtered on the index before their rows are read.
DROP INDEX IF EXISTS incidents_asset;
CREATE INDEX incidents_asset ON incidents(tenant, asset, first_seen_ms, last_seen_ms, state);

-- Open incidents per tenant, kept by ingest and state changes, so the overview does not
-- count them one by one.
CREATE TABLE open_incidents (
    tenant TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO open_incidents (tenant, count)
    SELECT tenant, count(*) FROM incidents
    WHERE state IN ('new', 'investigating', 'contained') GROUP BY tenant;

-- The provider's overview reads counts over all tenants from one small table.
DROP INDEX IF EXISTS alert_rollup_hour;
CREATE TABLE alert_rollup_all (
    hour_ms INTEGER NOT NULL,
    engine TEXT NOT NULL,
    severity INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, engine, severity)
) WITHOUT ROWID;
INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
    SELECT hour_ms, engine, severity, SUM(count) FROM alert_rollup
    GROUP BY hour_ms, engine, severity;
"#,
    ),
    (
        3,
        r#"
-- The triage list walks open incidents newest first without sorting them all: partial
-- indexes whose condition is the list's own (query::open_states). The index on state alone
-- made the planner sort every open incident instead.
DROP INDEX IF EXISTS incidents_state;
CREATE INDEX incidents_open_seen ON incidents(last_seen_ms, id)
    WHERE state IN ('new', 'investigating', 'contained');
CREATE INDEX incidents_open_tenant_seen ON incidents(tenant, last_seen_ms, id)
    WHERE state IN ('new', 'investigating', 'contained');
"#,
    ),
    (
        4,
        r#"
-- Log events kept for search by field (events.rs). `fields` is a JSON object of the record's
-- named fields; searches walk (tenant, time) backwards and test fields with json_extract.
CREATE TABLE log_events (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT,
    event_id INTEGER,
    record_id INTEGER,
    file TEXT,
    fields TEXT NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX log_events_tenant_time ON log_events(tenant, time_ms, id);
CREATE INDEX log_events_time ON log_events(time_ms, id);
"#,
    ),
    (5, RESPONSE_ACTIONS),
    (6, SENSORS),
    (7, TRIAGE),
    (
        8,
        r#"
-- Nothing: SQLite compares the alerts' tenant and asset byte by byte already.
"#,
    ),
];

/// ULIDs are compared byte-wise (`COLLATE "C"`) so that keyset pagination and `ORDER BY`
/// agree whatever the database's locale. 1: the first schema. 2: a covering candidate index
/// on incidents and the `open_incidents` and `alert_rollup_all` counters, filled from the
/// existing rows.
pub(crate) const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT REFERENCES tenants(name),
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX users_tenant ON users(tenant);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at_ms);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_failures (
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures(email, at_ms);
CREATE INDEX login_failures_ip ON login_failures(ip, at_ms);
CREATE INDEX login_failures_at ON login_failures(at_ms);

CREATE TABLE tokens (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    UNIQUE (tenant, name)
);

CREATE TABLE alerts (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    engine TEXT NOT NULL,
    severity BIGINT NOT NULL,
    rule_id TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    summary TEXT NOT NULL,
    asset TEXT,
    incident_id TEXT COLLATE "C",
    body TEXT NOT NULL
);
CREATE INDEX alerts_tenant_time ON alerts(tenant, time_ms, id);
CREATE INDEX alerts_time ON alerts(time_ms, id);
CREATE INDEX alerts_incident ON alerts(incident_id, time_ms, id) WHERE incident_id IS NOT NULL;
CREATE INDEX alerts_asset ON alerts(tenant, asset, time_ms, id) WHERE asset IS NOT NULL;

CREATE TABLE incidents (
    id TEXT COLLATE "C" PRIMARY KEY,
    tenant TEXT NOT NULL REFERENCES tenants(name),
    asset TEXT NOT NULL,
    title TEXT NOT NULL,
    severity BIGINT NOT NULL,
    state TEXT NOT NULL,
    assignee TEXT,
    alert_count BIGINT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX incidents_tenant_seen ON incidents(tenant, last_seen_ms, id);
CREATE INDEX incidents_seen ON incidents(last_seen_ms, id);
CREATE INDEX incidents_asset ON incidents(tenant, asset, first_seen_ms);
CREATE INDEX incidents_state ON incidents(state, tenant);

CREATE TABLE incident_timeline (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id TEXT COLLATE "C" NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    time_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, time_ms, seq);

CREATE TABLE alert_rollup (
    tenant TEXT NOT NULL,
    hour_ms BIGINT NOT NULL,
    engine TEXT NOT NULL,
    severity BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (tenant, hour_ms, engine, severity)
);
CREATE INDEX alert_rollup_hour ON alert_rollup(hour_ms);
"#,
    ),
    (
        2,
        r#"
-- Candidate incidents are filtered on the index before their rows are read.
DROP INDEX IF EXISTS incidents_asset;
CREATE INDEX incidents_asset ON incidents(tenant, asset, first_seen_ms, last_seen_ms, state);

-- Open incidents per tenant, kept by ingest and state changes, so the overview does not
-- count them one by one.
CREATE TABLE open_incidents (
    tenant TEXT PRIMARY KEY,
    count BIGINT NOT NULL
);
INSERT INTO open_incidents (tenant, count)
    SELECT tenant, count(*) FROM incidents
    WHERE state IN ('new', 'investigating', 'contained') GROUP BY tenant;

-- The provider's overview reads counts over all tenants from one small table.
DROP INDEX IF EXISTS alert_rollup_hour;
CREATE TABLE alert_rollup_all (
    hour_ms BIGINT NOT NULL,
    engine TEXT NOT NULL,
    severity BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (hour_ms, engine, severity)
);
INSERT INTO alert_rollup_all (hour_ms, engine, severity, count)
    SELECT hour_ms, engine, severity, SUM(count)::bigint FROM alert_rollup
    GROUP BY hour_ms, engine, severity;
"#,
    ),
    (
        3,
        r#"
-- The triage list walks open incidents newest first without sorting them all: partial
-- indexes whose condition is the list's own (query::open_states). The index on state alone
-- made the planner sort every open incident instead.
DROP INDEX IF EXISTS incidents_state;
CREATE INDEX incidents_open_seen ON incidents(last_seen_ms, id)
    WHERE state IN ('new', 'investigating', 'contained');
CREATE INDEX incidents_open_tenant_seen ON incidents(tenant, last_seen_ms, id)
    WHERE state IN ('new', 'investigating', 'contained');
"#,
    ),
    (
        4,
        r#"
CREATE TABLE log_events (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    time_ms BIGINT NOT NULL,
    host TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT,
    event_id BIGINT,
    record_id BIGINT,
    file TEXT,
    fields JSON NOT NULL,
    raw TEXT NOT NULL
);
CREATE INDEX log_events_tenant_time ON log_events(tenant, time_ms, id);
CREATE INDEX log_events_time ON log_events(time_ms, id);
"#,
    ),
    (5, RESPONSE_ACTIONS),
    (6, SENSORS),
    (7, TRIAGE),
    (
        8,
        r#"
-- Every alert stored updates two indexes on tenant and asset. Byte-wise comparison ("C")
-- costs about a tenth less per insert than the database's locale (measured with C.UTF-8),
-- and nothing depends on the order: tenant names are ASCII (both orders agree there) and
-- nothing is listed in asset order. The table is not rewritten; the indexes on these
-- columns are rebuilt.
ALTER TABLE alerts ALTER COLUMN tenant TYPE TEXT COLLATE "C",
    ALTER COLUMN asset TYPE TEXT COLLATE "C";
"#,
    ),
];

/// Migration 5, the same on both backends.
const RESPONSE_ACTIONS: &str = r#"
-- Response actions (actions.rs): the audit trail of blocks and isolations; the applier keeps
-- nftables equal to the rows in force.
CREATE TABLE response_actions (
    id TEXT PRIMARY KEY,
    tenant TEXT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    incident_id TEXT,
    created_at_ms BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at_ms BIGINT,
    released_at_ms BIGINT,
    released_by TEXT,
    release_reason TEXT,
    status TEXT NOT NULL
);
CREATE INDEX response_actions_tenant ON response_actions(tenant, created_at_ms);
CREATE INDEX response_actions_incident ON response_actions(incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX response_actions_active ON response_actions(created_at_ms) WHERE released_at_ms IS NULL;
"#;

/// Migration 6, the same on both backends.
const SENSORS: &str = r#"
-- Sensors' last contact (sensors.rs), written by the ingest API.
CREATE TABLE sensors (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    last_contact_ms BIGINT NOT NULL,
    backlog BIGINT NOT NULL,
    oldest_unsent_ms BIGINT,
    address TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);
"#;

/// Migration 7, the same on both backends.
const TRIAGE: &str = r#"
-- The provider's triage queue (query::TRIAGE_KEY): open incidents, most severe and oldest
-- first, over all tenants or one; and the SLA times the queue shows (records::sla_marks).
ALTER TABLE incidents ADD COLUMN first_response_ms BIGINT;
ALTER TABLE incidents ADD COLUMN contained_ms BIGINT;
CREATE INDEX incidents_triage ON incidents(((4 - severity) * 10000000000000 + first_seen_ms), id)
    WHERE state IN ('new', 'investigating', 'contained');
CREATE INDEX incidents_triage_tenant ON incidents(tenant, ((4 - severity) * 10000000000000 + first_seen_ms), id)
    WHERE state IN ('new', 'investigating', 'contained');
"#;

/// The newest version a list knows; a database beyond it was written by a newer build.
pub(crate) fn latest(list: &[(i64, &str)]) -> i64 {
    list.iter().map(|(v, _)| *v).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_and_both_backends_agree() {
        for list in [SQLITE, POSTGRES] {
            assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
        }
        let versions = |l: &[(i64, &str)]| l.iter().map(|(v, _)| *v).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
    }
}
