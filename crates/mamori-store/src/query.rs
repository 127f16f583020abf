//! SQL for the two list queries (alerts, incidents), built once for both backends.
//!
//! Filters become `AND` terms with bound parameters (`?N` for SQLite, `$N` for PostgreSQL);
//! nothing from the query is pasted into the SQL text. Pages are keyset-paginated on
//! `(time, id)` descending with a row-value comparison, which both databases answer from the
//! `(…, time_ms, id)` indexes by walking them backwards, so page 1000 costs what page 1 does.
//! One row more than the page is fetched to know whether there is a next page.

use crate::records::INCIDENT_COLUMNS;
use crate::{decode_cursor, encode_cursor, like_pattern, AlertQuery, IncidentQuery, Page, Result};
use mamori_core::IncidentState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// SQL text and its parameters in order.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

pub(crate) struct Builder {
    dialect: Dialect,
    text: String,
    params: Vec<Param>,
}

impl Builder {
    pub(crate) fn new(dialect: Dialect, select: &str) -> Builder {
        Builder {
            dialect,
            text: format!("{select} WHERE TRUE"),
            params: Vec::new(),
        }
    }

    /// Binds a parameter and answers its placeholder.
    pub(crate) fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    pub(crate) fn and(&mut self, term: &str) {
        self.text.push_str(" AND ");
        self.text.push_str(term);
    }

    pub(crate) fn and_eq(&mut self, column: &str, param: Param) {
        let p = self.bind(param);
        self.and(&format!("{column} = {p}"));
    }

    pub(crate) fn finish(mut self, order: &str, limit: usize) -> Sql {
        self.text
            .push_str(&format!(" ORDER BY {order} LIMIT {}", limit + 1));
        Sql {
            text: self.text,
            params: self.params,
        }
    }
}

/// The hour an alert is filed under in SQLite's `alerts_asset` index. The expression must
/// be written exactly so for SQLite to use the index; it truncates toward zero, as Rust's `/`
/// does.
pub(crate) const ASSET_HOUR: &str = "time_ms / 3600000";
pub(crate) const ASSET_HOUR_MS: i64 = 3_600_000;

/// Columns of [`alert_page`]'s rows: id, tenant, incident_id, body, time_ms. With `hour`,
/// only alerts of that [`ASSET_HOUR`].
pub(crate) fn alert_page(
    dialect: Dialect,
    tenant: Option<&str>,
    q: &AlertQuery,
    limit: usize,
    hour: Option<i64>,
) -> Result<Sql> {
    let mut b = Builder::new(
        dialect,
        "SELECT id, tenant, incident_id, body, time_ms FROM alerts",
    );
    if let Some(t) = tenant {
        b.and_eq("tenant", Param::Text(t.to_string()));
    }
    if let Some(from) = q.from {
        let p = b.bind(Param::Int(mamori_core::unix_ms(from)));
        b.and(&format!("time_ms >= {p}"));
    }
    if let Some(to) = q.to {
        let p = b.bind(Param::Int(mamori_core::unix_ms(to)));
        b.and(&format!("time_ms < {p}"));
    }
    if let Some(s) = q.min_severity {
        let p = b.bind(Param::Int(s.rank()));
        b.and(&format!("severity >= {p}"));
    }
    if let Some(e) = q.engine {
        b.and_eq("engine", Param::Text(e.as_str().to_string()));
    }
    if let Some(a) = &q.asset {
        b.and_eq("asset", Param::Text(a.clone()));
    }
    if let Some(i) = q.incident {
        b.and_eq("incident_id", Param::Text(i.to_string()));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let p = b.bind(Param::Text(like_pattern(text)));
        let like = match dialect {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        b.and(&format!(
            "(summary {like} {p} ESCAPE '\\' OR rule_name {like} {p} ESCAPE '\\' \
             OR rule_id {like} {p} ESCAPE '\\')"
        ));
    }
    if let Some(hour) = hour {
        let p = b.bind(Param::Int(hour));
        b.and(&format!("{ASSET_HOUR} = {p}"));
    }
    if let Some(cursor) = &q.cursor {
        let (ms, id) = decode_cursor(cursor)?;
        let pm = b.bind(Param::Int(ms));
        let pi = b.bind(Param::Text(id));
        b.and(&format!("(time_ms, id) < ({pm}, {pi})"));
    }
    Ok(b.finish("time_ms DESC, id DESC", limit))
}

/// Columns of [`incident_page`]'s rows: [`INCIDENT_COLUMNS`].
pub(crate) fn incident_page(
    dialect: Dialect,
    tenant: Option<&str>,
    q: &IncidentQuery,
    limit: usize,
) -> Result<Sql> {
    let mut b = Builder::new(
        dialect,
        &format!("SELECT {INCIDENT_COLUMNS} FROM incidents"),
    );
    if let Some(t) = tenant {
        b.and_eq("tenant", Param::Text(t.to_string()));
    }
    if let Some(state) = q.state {
        b.and_eq("state", Param::Text(state.as_str().to_string()));
    }
    if q.open_only {
        b.and(&open_states());
    }
    if let Some(s) = q.min_severity {
        let p = b.bind(Param::Int(s.rank()));
        b.and(&format!("severity >= {p}"));
    }
    if let Some(a) = &q.asset {
        b.and_eq("asset", Param::Text(a.clone()));
    }
    if q.triage {
        if !q.open_only {
            b.and(&open_states());
        }
        if let Some(cursor) = &q.cursor {
            let (key, id) = decode_cursor(cursor)?;
            let pk = b.bind(Param::Int(key));
            let pi = b.bind(Param::Text(id));
            b.and(&format!("({TRIAGE_KEY}, id) > ({pk}, {pi})"));
        }
        return Ok(b.finish(&format!("{TRIAGE_KEY} ASC, id ASC"), limit));
    }
    if let Some(cursor) = &q.cursor {
        let (ms, id) = decode_cursor(cursor)?;
        let pm = b.bind(Param::Int(ms));
        let pi = b.bind(Param::Text(id));
        b.and(&format!("(last_seen_ms, id) < ({pm}, {pi})"));
    }
    Ok(b.finish("last_seen_ms DESC, id DESC", limit))
}

/// The triage order as one number, so one index answers it and one cursor continues it:
/// most severe first, then oldest first. The expression must be written exactly so for the
/// `incidents_triage` indexes to serve it.
pub(crate) const TRIAGE_KEY: &str = "((4 - severity) * 10000000000000 + first_seen_ms)";

/// [`TRIAGE_KEY`] of an incident row.
pub(crate) fn triage_key(severity: i64, first_seen_ms: i64) -> i64 {
    (4 - severity) * 10_000_000_000_000 + first_seen_ms
}

/// Turns up to `limit + 1` rows, each with its sort key `(ms, id)`, into a page whose
/// `next` cursor points after the last row kept.
pub(crate) fn into_page<T>(mut rows: Vec<(i64, String, T)>, limit: usize) -> Page<T> {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(ms, id, _)| encode_cursor(*ms, id))
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, _, item)| item).collect(),
        next,
    }
}

/// The SQL condition for an open incident, as a list of states so that an index on
/// `state` can seek to each.
pub(crate) fn open_states() -> String {
    let open: Vec<String> = IncidentState::ALL
        .iter()
        .filter(|s| s.is_open())
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("state IN ({})", open.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_core::Severity;

    #[test]
    fn filters_are_bound_not_pasted() {
        let q = AlertQuery {
            text: Some("'; DROP TABLE alerts; --".into()),
            min_severity: Some(Severity::High),
            ..AlertQuery::default()
        };
        let sql = alert_page(Dialect::Postgres, Some("acme"), &q, 50, None).unwrap();
        assert!(!sql.text.contains("DROP"));
        assert!(sql.text.contains("ILIKE $3"));
        assert!(sql.text.ends_with("LIMIT 51"));
        assert_eq!(sql.params.len(), 3);
        let sql = alert_page(Dialect::Sqlite, None, &q, 10, Some(7)).unwrap();
        assert!(sql.text.contains("time_ms / 3600000 = ?3"));
        assert!(sql.text.contains("LIKE ?2 ESCAPE"));
    }

    #[test]
    fn open_states_are_the_states_that_collect_alerts() {
        assert_eq!(
            open_states(),
            "state IN ('new', 'investigating', 'contained')"
        );
    }

    #[test]
    fn the_sqlite_asset_index_is_on_the_same_hour_expression() {
        let index = format!("alerts_asset ON alerts({ASSET_HOUR},");
        assert!(crate::migrations::SQLITE
            .iter()
            .any(|(_, sql)| sql.contains(&index)));
        assert_eq!(ASSET_HOUR, format!("time_ms / {ASSET_HOUR_MS}"));
    }

    #[test]
    fn a_bad_cursor_is_refused() {
        let q = IncidentQuery {
            cursor: Some("nonsense".into()),
            ..IncidentQuery::default()
        };
        assert!(incident_page(Dialect::Sqlite, None, &q, 10).is_err());
    }
}
