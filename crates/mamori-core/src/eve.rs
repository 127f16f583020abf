//! Suricata EVE JSON `alert` records, read as Mamori alerts.
//!
//! An existing Suricata can feed the console by posting its `eve.json` lines as they are.
//! EVE has no event id, so the id is derived from the record itself (time plus a hash of the
//! line): the same line sent twice is stored once. Suricata's severity runs the other way
//! round (1 is the most severe); it maps to high, medium, low and info.

use crate::alert::{Alert, Endpoint, Engine, Severity};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use ulid::Ulid;

/// What one NDJSON line turned out to be.
#[derive(Debug)]
pub enum Line {
    Alert(Box<Alert>),
    /// An EVE record that is not an alert (flow, dns, stats …): accepted and not stored.
    Skipped(String),
}

#[derive(Deserialize)]
struct EveRecord {
    timestamp: String,
    event_type: String,
    #[serde(default)]
    src_ip: Option<String>,
    #[serde(default)]
    src_port: Option<u16>,
    #[serde(default)]
    dest_ip: Option<String>,
    #[serde(default)]
    dest_port: Option<u16>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    alert: Option<EveAlert>,
    #[serde(default)]
    http: Option<EveHttp>,
}

#[derive(Deserialize)]
struct EveAlert {
    #[serde(default)]
    gid: Option<u64>,
    signature_id: u64,
    signature: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    severity: Option<u8>,
}

#[derive(Deserialize)]
struct EveHttp {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

/// Parses one NDJSON line: a Mamori event, or a Suricata EVE record (recognised by its
/// `event_type` field).
pub fn parse_line(line: &str) -> Result<Line, String> {
    // Mamori events are parsed straight into an Alert; only lines that may be EVE records
    // take the slower way through a JSON value.
    if !line.contains("\"event_type\"") {
        let alert: Alert = serde_json::from_str(line).map_err(|e| e.to_string())?;
        alert.validate()?;
        return Ok(Line::Alert(Box::new(alert)));
    }
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if value.get("event_type").is_none() {
        let alert: Alert = serde_json::from_value(value).map_err(|e| e.to_string())?;
        alert.validate()?;
        return Ok(Line::Alert(Box::new(alert)));
    }
    let record: EveRecord =
        serde_json::from_value(value.clone()).map_err(|e| format!("EVE record: {e}"))?;
    if record.event_type != "alert" {
        return Ok(Line::Skipped(record.event_type));
    }
    let Some(eve) = record.alert else {
        return Err("EVE alert record without an \"alert\" object".into());
    };
    let time = parse_eve_time(&record.timestamp)?;
    let severity = match eve.severity {
        Some(1) => Severity::High,
        Some(2) => Severity::Medium,
        Some(3) => Severity::Low,
        _ => Severity::Info,
    };
    let mut alert = Alert::new(
        Engine::Ids,
        format!("{}:{}", eve.gid.unwrap_or(1), eve.signature_id),
        eve.signature.clone(),
        severity,
        eve.signature,
    );
    alert.id = derived_id(time, line);
    alert.time = time;
    alert.sensor = record.host.unwrap_or_default();
    alert.category = eve.category;
    alert.src = Endpoint {
        ip: record.src_ip.as_deref().and_then(|s| s.parse().ok()),
        port: record.src_port,
        ..Endpoint::default()
    };
    alert.dst = Endpoint {
        ip: record.dest_ip.as_deref().and_then(|s| s.parse().ok()),
        port: record.dest_port,
        ..Endpoint::default()
    };
    if let Some(http) = record.http {
        alert.dst.host = http.hostname;
        alert.dst.url = http.url;
    }
    alert.evidence = value;
    alert.validate()?;
    Ok(Line::Alert(Box::new(alert)))
}

/// EVE writes `2024-01-02T03:04:05.123456+0000`; RFC 3339 wants a colon in the offset.
fn parse_eve_time(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fixed = if s.len() > 5 && !s.ends_with('Z') && !s[s.len() - 5..].contains(':') {
        let (head, off) = s.split_at(s.len() - 2);
        format!("{head}:{off}")
    } else {
        s.to_string()
    };
    OffsetDateTime::parse(&fixed, &Rfc3339).map_err(|e| format!("timestamp {s:?}: {e}"))
}

fn derived_id(time: OffsetDateTime, line: &str) -> Ulid {
    let digest = Sha256::digest(line.trim().as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    let ms = crate::unix_ms(time).max(0) as u64;
    Ulid::from_parts(ms, u128::from_be_bytes(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVE: &str = r#"{"timestamp":"2026-10-03T09:14:07.402193+0900","flow_id":1,"in_iface":"eth0","event_type":"alert","src_ip":"192.168.1.23","src_port":51234,"dest_ip":"203.0.113.50","dest_port":443,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2027758,"rev":2,"signature":"ET MALWARE Emotet CnC Beacon","category":"A Network Trojan was detected","severity":1}}"#;

    #[test]
    fn eve_alert_becomes_an_ids_alert_on_the_internal_host() {
        let Line::Alert(a) = parse_line(EVE).unwrap() else {
            panic!("not an alert")
        };
        assert_eq!(a.engine, Engine::Ids);
        assert_eq!(a.rule_id, "1:2027758");
        assert_eq!(a.severity, Severity::High);
        assert_eq!(a.asset().unwrap().key(), "host:192.168.1.23");
        assert_eq!(a.time.offset().whole_hours(), 9);
    }

    #[test]
    fn the_same_eve_line_gets_the_same_id() {
        let (Line::Alert(a), Line::Alert(b)) = (parse_line(EVE).unwrap(), parse_line(EVE).unwrap())
        else {
            panic!()
        };
        assert_eq!(a.id, b.id);
    }

    #[test]
    fn eve_flow_records_are_skipped_not_refused() {
        let line = r#"{"timestamp":"2026-10-03T09:14:07.402193+0000","event_type":"flow","src_ip":"10.0.0.1"}"#;
        assert!(matches!(parse_line(line).unwrap(), Line::Skipped(t) if t == "flow"));
    }
}
