//! The drill database `DATA/drill.db`: SQLite in WAL mode, schema as versioned migrations.
//!
//! Migrations are `(version, sql)` pairs applied in order inside one transaction and
//! recorded in `schema_migrations`; a released migration is never edited, a change is a new
//! entry at the end. Times are Unix milliseconds. Every row carries its tenant, and every
//! query filters on it (or on a campaign id already checked against the caller's scope).
//!
//! What is never stored: the values typed into a landing form. `events` records only that a
//! submission happened. The SMTP password of a sending profile is stored (the sender needs
//! it) inside `campaigns.smtp_json`; the data directory holding the file is created readable
//! by its owner only (`mamori::data_dir`).

use crate::DrillError;
use rusqlite::Connection;
use std::path::Path;

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at_ms INTEGER NOT NULL
)";

/// 1: the first schema.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
CREATE TABLE groups (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE targets (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    department TEXT NOT NULL,
    position TEXT NOT NULL,
    UNIQUE (tenant, email)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL REFERENCES targets(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, target_id)
) WITHOUT ROWID;

CREATE TABLE campaigns (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    template_id TEXT NOT NULL,
    state TEXT NOT NULL,
    smtp_json TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    from_name TEXT,
    base_url TEXT NOT NULL,
    start_at_ms INTEGER,
    spread_hours INTEGER NOT NULL,
    per_minute INTEGER NOT NULL,
    complete_after_hours INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    started_at_ms INTEGER,
    all_sent_at_ms INTEGER,
    completed_at_ms INTEGER
);
CREATE INDEX campaigns_tenant ON campaigns(tenant, created_at_ms);
CREATE INDEX campaigns_state ON campaigns(state);

CREATE TABLE campaign_groups (
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    PRIMARY KEY (campaign_id, group_id)
) WITHOUT ROWID;

CREATE TABLE recipients (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    target_id INTEGER NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    department TEXT NOT NULL,
    position TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    due_at_ms INTEGER,
    sent_at_ms INTEGER,
    last_attempt_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    UNIQUE (campaign_id, target_id)
);
CREATE INDEX recipients_due ON recipients(campaign_id, sent_at_ms, due_at_ms);
CREATE INDEX recipients_attempt ON recipients(campaign_id, last_attempt_ms);
CREATE INDEX recipients_target ON recipients(tenant, target_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    recipient_id INTEGER NOT NULL REFERENCES recipients(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    ip TEXT,
    user_agent TEXT,
    method TEXT,
    bot INTEGER NOT NULL DEFAULT 0,
    bot_reason TEXT
);
CREATE INDEX events_campaign ON events(campaign_id, kind, recipient_id);
CREATE INDEX events_recipient ON events(recipient_id);

CREATE TABLE education (
    tenant TEXT NOT NULL,
    language TEXT NOT NULL,
    intro TEXT NOT NULL,
    PRIMARY KEY (tenant, language)
) WITHOUT ROWID;
"#,
)];

/// Opens (creating if needed) `dir/drill.db`, sets WAL and applies pending migrations.
pub(crate) fn open(dir: &Path) -> Result<Connection, DrillError> {
    std::fs::create_dir_all(dir).map_err(|source| DrillError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut conn = Connection::open(dir.join("drill.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), DrillError> {
    let tx = conn.transaction()?;
    tx.execute_batch(CREATE_MIGRATIONS_TABLE)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)",
            rusqlite::params![version, crate::now_ms()],
        )?;
        tracing::info!(version, "drill database migrated");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reopening_applies_no_migration_twice() {
        let dir = mamori_core::scratch::dir("drill-db");
        drop(super::open(&dir).unwrap());
        let conn = super::open(&dir).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, super::MIGRATIONS.len());
        let _ = std::fs::remove_dir_all(dir);
    }
}
