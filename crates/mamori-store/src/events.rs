//! Log events kept for search: the records the log readers produced, with their named fields,
//! so the console can answer "every 4625 for user admin on DC01 last night".
//!
//! An event's id is chosen by whoever stores it and must be stable for the same record (the
//! binary hashes tenant, file, offset and the original text), so reading a file twice stores
//! its records once.
//!
//! Searches are a list of field terms and free words, written as a user types them:
//! `EventID=4625 TargetUserName~adm host=DC01 powershell` means field `EventID` equals `4625`
//! (case-insensitively), `TargetUserName` contains `adm`, the host is `DC01`, and the original
//! record contains `powershell`. `field!=value` excludes, `field=*` asks that the field exist,
//! and values with spaces are quoted (`CommandLine~"-enc "`). The names `host`, `source`,
//! `channel`, `event_id`, `record_id` and `file` are the event's own columns; any other name
//! is looked up among the record's fields.

use crate::query::{Builder, Dialect, Param, Sql};
use crate::{decode_cursor, like_pattern, Error, Result};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One log record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Stable for the same record: storing it again changes nothing. Letters, digits, `-`
    /// and `_`, at most 128.
    pub id: String,
    pub tenant: String,
    /// When it happened (Unix ms, UTC); the time it was read when the record had none.
    pub time_ms: i64,
    pub host: String,
    /// The reader: `evtx`, `syslog`, `web_access`, `squid`, …
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The named fields in record order (a name given twice keeps its first value in search).
    pub fields: Vec<(String, String)>,
    /// The original record: a Windows event's XML or JSON, a text log's line.
    pub raw: String,
}

/// How a [`FieldTerm`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermOp {
    /// Equal, ignoring ASCII case.
    Eq,
    /// Not equal (or absent).
    Ne,
    /// Contains, ignoring ASCII case.
    Contains,
    /// The field is present.
    Exists,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldTerm {
    pub field: String,
    pub op: TermOp,
    pub value: String,
}

/// Filters for [`Store::events`](crate::Store::events). All set filters must hold.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub tenant: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub terms: Vec<FieldTerm>,
    /// Case-insensitive substrings of the original record; all must appear.
    pub words: Vec<String>,
    pub cursor: Option<String>,
    pub limit: usize,
}

/// Bounds on a search typed by a user.
const MAX_QUERY: usize = 2048;
const MAX_TERMS: usize = 16;
const MAX_FIELD_NAME: usize = 128;

/// Event columns a search may name directly.
const COLUMNS: &[&str] = &["host", "source", "channel", "event_id", "record_id", "file"];

impl EventQuery {
    /// Parses a search line (see the module doc) into terms and words; errors say which part
    /// is wrong.
    pub fn parse(line: &str) -> Result<(Vec<FieldTerm>, Vec<String>)> {
        if line.len() > MAX_QUERY {
            return Err(Error::Invalid(format!(
                "the search is longer than {MAX_QUERY} bytes"
            )));
        }
        let mut terms = Vec::new();
        let mut words = Vec::new();
        for token in tokens(line)? {
            match split_term(&token)? {
                Some(term) => terms.push(term),
                None => words.push(token),
            }
        }
        if terms.len() + words.len() > MAX_TERMS {
            return Err(Error::Invalid(format!(
                "at most {MAX_TERMS} terms in one search"
            )));
        }
        Ok((terms, words))
    }
}

/// Splits on whitespace outside double quotes and removes the quotes.
fn tokens(line: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(Error::Invalid("a quote is not closed in the search".into()));
    }
    if any {
        out.push(cur);
    }
    Ok(out)
}

/// `name=value`, `name!=value`, `name~value`, `name=*`; `None` for a plain word.
fn split_term(token: &str) -> Result<Option<FieldTerm>> {
    let Some(at) = token.find(['=', '~']) else {
        return Ok(None);
    };
    let (mut name, rest) = token.split_at(at);
    let mut op = if rest.starts_with('~') {
        TermOp::Contains
    } else {
        TermOp::Eq
    };
    if op == TermOp::Eq && name.ends_with('!') {
        name = &name[..name.len() - 1];
        op = TermOp::Ne;
    }
    let value = &rest[1..];
    if name.is_empty() {
        // "=x" or "~x": a word that happens to hold the sign.
        return Ok(None);
    }
    check_field_name(name)?;
    if op == TermOp::Eq && value == "*" {
        op = TermOp::Exists;
    }
    Ok(Some(FieldTerm {
        field: name.to_string(),
        op,
        value: value.to_string(),
    }))
}

/// Field names go into a JSON path, so only the characters field names use are accepted.
fn check_field_name(name: &str) -> Result<()> {
    let ok = name.len() <= MAX_FIELD_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']' | ':' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "field name {name:?}: use letters, digits and _ . - [ ] : @ (at most {MAX_FIELD_NAME})"
        )))
    }
}

/// The fields as a JSON object in record order (first value of a repeated name), as the
/// `fields` column holds.
pub(crate) fn fields_json(fields: &[(String, String)]) -> String {
    let mut seen = std::collections::HashSet::with_capacity(fields.len());
    let mut out = String::from("{");
    for (k, v) in fields {
        if !seen.insert(k.as_str()) {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(k).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(v).unwrap_or_default());
    }
    out.push('}');
    out
}

/// The fields back from the stored object, in the order the object is written (SQLite keeps
/// the record's order, and so does PostgreSQL's `json` type).
pub(crate) fn fields_from_json(text: &str) -> Result<Vec<(String, String)>> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of strings")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_FIELDS));
            while let Some(pair) = map.next_entry::<String, String>()? {
                out.push(pair);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde::Deserializer::deserialize_map(&mut de, Pairs)
        .map_err(|e| Error::Corrupt(format!("event fields: {e}")))
}

/// Columns of [`event_page`]'s rows, in order: id, tenant, time_ms, host, source, channel,
/// event_id, record_id, file, fields (JSON text), raw.
fn event_columns(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "id, tenant, time_ms, host, source, channel, event_id, record_id, file, fields, raw"
        }
        Dialect::Postgres => {
            "id, tenant, time_ms, host, source, channel, event_id, record_id, file, fields::text, raw"
        }
    }
}

/// The page query for [`EventQuery`].
pub(crate) fn event_page(
    dialect: Dialect,
    tenant: Option<&str>,
    q: &EventQuery,
    limit: usize,
) -> Result<Sql> {
    let mut b = Builder::new(
        dialect,
        &format!("SELECT {} FROM log_events", event_columns(dialect)),
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
    let like = match dialect {
        Dialect::Sqlite => "LIKE",
        Dialect::Postgres => "ILIKE",
    };
    for term in &q.terms {
        check_field_name(&term.field)?;
        let expr = if COLUMNS.contains(&term.field.as_str()) {
            match (dialect, term.field.as_str()) {
                (Dialect::Postgres, "event_id" | "record_id") => format!("{}::text", term.field),
                (_, c) => c.to_string(),
            }
        } else {
            match dialect {
                Dialect::Sqlite => {
                    let p = b.bind(Param::Text(format!("$.\"{}\"", term.field)));
                    format!("json_extract(fields, {p})")
                }
                Dialect::Postgres => {
                    let p = b.bind(Param::Text(term.field.clone()));
                    format!("(fields ->> {p})")
                }
            }
        };
        let eq = |b: &mut Builder| {
            let p = b.bind(Param::Text(term.value.clone()));
            match dialect {
                Dialect::Sqlite => format!("{expr} = {p} COLLATE NOCASE"),
                Dialect::Postgres => format!("lower({expr}) = lower({p})"),
            }
        };
        let cond = match term.op {
            TermOp::Eq => eq(&mut b),
            TermOp::Ne => format!("({expr} IS NULL OR NOT ({}))", eq(&mut b)),
            TermOp::Contains => {
                let p = b.bind(Param::Text(like_pattern(&term.value)));
                format!("{expr} {like} {p} ESCAPE '\\'")
            }
            TermOp::Exists => format!("{expr} IS NOT NULL"),
        };
        b.and(&cond);
    }
    for word in &q.words {
        let p = b.bind(Param::Text(like_pattern(word)));
        b.and(&format!("raw {like} {p} ESCAPE '\\'"));
    }
    if let Some(cursor) = &q.cursor {
        let (ms, id) = decode_cursor(cursor)?;
        let pm = b.bind(Param::Int(ms));
        let pi = b.bind(Param::Text(id));
        b.and(&format!("(time_ms, id) < ({pm}, {pi})"));
    }
    Ok(b.finish("time_ms DESC, id DESC", limit))
}

/// Bounds on one stored event, so a hostile log line cannot fill the database.
pub const MAX_RAW: usize = 64 * 1024;
pub const MAX_FIELDS: usize = 512;

/// Checks an event before storing it; the error names the event.
pub(crate) fn check(e: &LogEvent) -> Result<()> {
    let id_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if e.id.is_empty() || e.id.len() > 128 || !e.id.bytes().all(id_char) {
        return Err(Error::Invalid(format!("event id {:?}", e.id)));
    }
    if e.fields.len() > MAX_FIELDS {
        return Err(Error::Invalid(format!(
            "event {} has {} fields (at most {MAX_FIELDS})",
            e.id,
            e.fields.len()
        )));
    }
    Ok(())
}

/// The raw text cut to [`MAX_RAW`] on a character boundary.
pub(crate) fn bounded_raw(raw: &str) -> &str {
    if raw.len() <= MAX_RAW {
        return raw;
    }
    let mut end = MAX_RAW;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    &raw[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_terms_and_words() {
        let (terms, words) = EventQuery::parse(
            r#"EventID=4625 TargetUserName~adm host!=dc02 Image=* "a b" CommandLine~"-enc ""#,
        )
        .unwrap();
        assert_eq!(words, vec!["a b".to_string()]);
        let ops: Vec<_> = terms
            .iter()
            .map(|t| (t.field.as_str(), t.op, t.value.as_str()))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("EventID", TermOp::Eq, "4625"),
                ("TargetUserName", TermOp::Contains, "adm"),
                ("host", TermOp::Ne, "dc02"),
                ("Image", TermOp::Exists, "*"),
                ("CommandLine", TermOp::Contains, "-enc "),
            ]
        );
    }

    #[test]
    fn refuses_bad_searches() {
        assert!(EventQuery::parse("a=\"open").is_err());
        assert!(EventQuery::parse("bad'name=1").is_err());
        assert!(EventQuery::parse(&"a ".repeat(40)).is_err());
        assert!(EventQuery::parse(&"a".repeat(3000)).is_err());
    }

    #[test]
    fn first_value_of_a_repeated_field_is_searched() {
        let json = fields_json(&[
            ("A".into(), "1".into()),
            ("A".into(), "2".into()),
            ("B".into(), "x\"y".into()),
        ]);
        assert_eq!(json, r#"{"A":"1","B":"x\"y"}"#);
        let back = fields_from_json(&json).unwrap();
        assert_eq!(
            back,
            vec![("A".into(), "1".into()), ("B".into(), "x\"y".into())]
        );
    }

    #[test]
    fn raw_is_cut_on_a_char_boundary() {
        let s = "あ".repeat(MAX_RAW);
        let cut = bounded_raw(&s);
        assert!(cut.len() <= MAX_RAW && s.starts_with(cut));
    }
}
