//! JSON lines with a configurable mapping: one object per line, fields picked by dotted paths
//! (`client.ip`), the time from a string (ISO 8601) or an epoch number, and every unmapped
//! top-level scalar kept under its own name. Nested objects that are not mapped are left out
//! of the fields (the raw line keeps them): flattening unknown trees would invent names no
//! rule uses.

use super::{timestamp, winjson::scalar};
use crate::event::{Event, Fields, Origin, SourceKind};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use time::UtcOffset;

/// How to read a JSON log line. An empty `timestamp`/`host` means "try the usual names"
/// (`@timestamp`, `timestamp`, `time`, `ts` / `host`, `hostname`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JsonMapping {
    /// Dotted path of the time value.
    pub timestamp: Option<String>,
    /// Dotted path of the host name.
    pub host: Option<String>,
    /// Event field name → dotted path in the JSON (`"src_ip": "client.ip"`).
    pub fields: BTreeMap<String, String>,
}

const TIME_KEYS: [&str; 4] = ["@timestamp", "timestamp", "time", "ts"];
const HOST_KEYS: [&str; 2] = ["host", "hostname"];

/// The value at a dotted path; keys that themselves contain dots are matched too
/// (`{"a.b":{"c":1}}` answers `a.b.c`). The path comes from configuration, not input.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(found) = v.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let inner = v.get(path.get(..i)?)?;
        lookup(inner, path.get(i + 1..)?)
    })
}

fn time_of(v: &Value, offset: UtcOffset) -> Option<i64> {
    match v {
        Value::Number(n) => timestamp::epoch_to_ms(n.as_f64()?),
        Value::String(s) => timestamp::parse_iso(s, offset)
            .or_else(|| timestamp::parse_clf(s))
            .or_else(|| timestamp::epoch_to_ms(s.trim().parse().ok()?)),
        _ => None,
    }
}

/// One JSON line to a `JsonLines` event.
pub(crate) fn parse(
    line: &str,
    origin: Origin,
    mapping: &JsonMapping,
    offset: UtcOffset,
) -> Result<Event, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let (time_key, time_val) = match &mapping.timestamp {
        Some(p) => (Some(p.as_str()), lookup(&v, p)),
        None => TIME_KEYS
            .iter()
            .find_map(|k| obj.get(*k).map(|val| (Some(*k), Some(val))))
            .unwrap_or((None, None)),
    };
    let (host_key, host_val) = match &mapping.host {
        Some(p) => (Some(p.as_str()), lookup(&v, p)),
        None => HOST_KEYS
            .iter()
            .find_map(|k| {
                obj.get(*k)
                    .filter(|h| !h.is_object())
                    .map(|val| (Some(*k), Some(val)))
            })
            .unwrap_or((None, None)),
    };
    let mut fields = Fields::default();
    for (name, path) in &mapping.fields {
        if let Some(s) = lookup(&v, path).and_then(scalar) {
            fields.push(name.as_str(), s);
        }
    }
    let mapped = |k: &str| {
        Some(k) == time_key || Some(k) == host_key || mapping.fields.values().any(|p| p == k)
    };
    for (k, val) in obj {
        if mapped(k) || val.is_object() || fields.get(k).is_some() {
            continue;
        }
        if let Some(s) = scalar(val) {
            fields.push(k.as_str(), s);
        }
    }
    Ok(Event {
        timestamp: time_val.and_then(|t| time_of(t, offset)),
        host: host_val.and_then(scalar),
        source: SourceKind::JsonLines,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: line.to_string(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_paths_and_unmapped_scalars() {
        let mut m = JsonMapping {
            timestamp: Some("ts".into()),
            host: Some("meta.host".into()),
            ..Default::default()
        };
        m.fields.insert("src_ip".into(), "client.ip".into());
        m.fields.insert("user".into(), "usr".into());
        let e = parse(
            r#"{"ts":1714557600.5,"meta":{"host":"vpn1"},"client":{"ip":"198.51.100.4"},"usr":"carol","event":"login_failed","n":3}"#,
            Origin::default(),
            &m,
            UtcOffset::UTC,
        )
        .unwrap();
        assert_eq!(e.timestamp, Some(1_714_557_600_500));
        assert_eq!(e.host.as_deref(), Some("vpn1"));
        assert_eq!(e.get("src_ip"), Some("198.51.100.4"));
        assert_eq!(e.get("user"), Some("carol"));
        assert_eq!(e.get("event"), Some("login_failed"));
        assert_eq!(e.get("n"), Some("3"));
        assert_eq!(e.get("usr"), None);
        assert_eq!(e.get("ts"), None);
    }

    #[test]
    fn default_mapping_finds_usual_time_keys() {
        let e = parse(
            r#"{"@timestamp":"2024-05-01T10:00:00Z","msg":"x"}"#,
            Origin::default(),
            &JsonMapping::default(),
            UtcOffset::UTC,
        )
        .unwrap();
        assert_eq!(e.timestamp, Some(1_714_557_600_000));
    }

    #[test]
    fn dotted_key_is_matched_whole() {
        let v: Value = serde_json::from_str(r#"{"a.b":{"c":1},"x":{"y.z":2}}"#).unwrap();
        assert_eq!(lookup(&v, "a.b.c"), Some(&Value::from(1)));
        assert_eq!(lookup(&v, "x.y.z"), Some(&Value::from(2)));
    }
}
