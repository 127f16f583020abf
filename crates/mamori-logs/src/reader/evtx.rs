//! Windows EVTX files, through the `evtx` crate's JSON rendering of each record, flattened into
//! the field names SigmaHQ rules use (see `event.rs`).
//!
//! A record the crate cannot parse is an `Err` in the sink naming the file and record number;
//! reading goes on with the next one.

use super::{ReadError, Sink};
use crate::event::{Event, Fields, Origin, SourceKind};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// Reads every record of `path` into `sink`; returns the number of events produced.
pub fn read(path: &Path, sink: &mut Sink<'_>) -> Result<u64, ReadError> {
    let mut parser = evtx::EvtxParser::from_path(path).map_err(|e| ReadError {
        file: Some(path.to_path_buf()),
        offset: 0,
        reason: format!("not a readable EVTX file: {e}"),
    })?;
    let file = Arc::new(path.to_path_buf());
    let mut n = 0u64;
    for (i, record) in parser.records_json_value().enumerate() {
        match record {
            Ok(r) => {
                let mut ev = from_json(&r.data, SourceKind::Evtx);
                // The record's own TimeCreated; the crate's per-record timestamp can lag by a
                // record on some files.
                ev.timestamp = ev
                    .get("TimeCreated")
                    .and_then(|t| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    .or_else(|| Some(r.timestamp.as_millisecond()));
                ev.record_id = Some(r.event_record_id);
                ev.origin = Origin {
                    file: Some(file.clone()),
                    offset: i as u64,
                };
                n += 1;
                sink(Ok(ev));
            }
            Err(e) => sink(Err(ReadError {
                file: Some(path.to_path_buf()),
                offset: i as u64,
                reason: format!("record {}: {e}", i + 1),
            })),
        }
    }
    Ok(n)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Object(o) => o.get("#text").and_then(scalar),
        Value::Array(a) => Some(a.iter().filter_map(scalar).collect::<Vec<_>>().join(" ")),
    }
}

fn attr<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get("#attributes").and_then(|a| a.get(name))
}

/// Flattens `EventData`/`UserData` leaves under their own names (nested elements by their
/// leaf name), bounded in depth.
fn flatten(name: &str, v: &Value, out: &mut Fields, depth: usize) {
    if depth > 8 || out.len() > 500 {
        return;
    }
    match v {
        Value::Object(o) => {
            let has_children = o.keys().any(|k| !k.starts_with('#'));
            if !has_children {
                if let Some(s) = o.get("#text").and_then(scalar) {
                    out.push(name, s);
                }
                return;
            }
            for (k, child) in o {
                if k.starts_with('#') {
                    continue;
                }
                flatten(k, child, out, depth + 1);
            }
        }
        Value::Array(items) => {
            // Unnamed <Data> items: Data, Data[1], Data[2]…
            for (i, item) in items.iter().enumerate() {
                let key = if i == 0 {
                    name.to_string()
                } else {
                    format!("{name}[{i}]")
                };
                if let Some(s) = scalar(item) {
                    out.push(key, s);
                }
            }
        }
        other => {
            if let Some(s) = scalar(other) {
                out.push(name, s);
            }
        }
    }
}

/// A Windows event rendered as JSON (`{"Event": {"System": …, "EventData": …}}`) → Event.
pub fn from_json(data: &Value, source: SourceKind) -> Event {
    let event = data.get("Event").unwrap_or(data);
    let system = event.get("System").unwrap_or(&Value::Null);
    let mut fields = Fields::default();
    let event_id = system.get("EventID").and_then(scalar);
    if let Some(id) = &event_id {
        fields.push("EventID", id.clone());
    }
    for key in [
        "Channel",
        "Computer",
        "Level",
        "Task",
        "Keywords",
        "Opcode",
        "Version",
        "EventRecordID",
    ] {
        if let Some(v) = system.get(key).and_then(scalar) {
            fields.push(key, v);
        }
    }
    if let Some(p) = system.get("Provider") {
        if let Some(n) = attr(p, "Name").and_then(scalar) {
            fields.push("Provider_Name", n);
        }
        if let Some(g) = attr(p, "Guid").and_then(scalar) {
            fields.push("Provider_Guid", g);
        }
    }
    if let Some(t) = system
        .get("TimeCreated")
        .and_then(|t| attr(t, "SystemTime"))
        .and_then(scalar)
    {
        fields.push("TimeCreated", t);
    }
    if let Some(x) = system.get("Execution") {
        for (k, name) in [("ProcessID", "ProcessID"), ("ThreadID", "ThreadID")] {
            if let Some(v) = attr(x, k).and_then(scalar) {
                fields.push(name, v);
            }
        }
    }
    if let Some(u) = system
        .get("Security")
        .and_then(|s| attr(s, "UserID"))
        .and_then(scalar)
    {
        fields.push("UserID", u);
    }
    for part in ["EventData", "UserData"] {
        if let Some(d) = event.get(part) {
            flatten("Data", d, &mut fields, 0);
        }
    }
    let channel = fields.get("Channel").map(str::to_string);
    let host = fields.get("Computer").map(str::to_string);
    Event {
        timestamp: None,
        host,
        source,
        channel,
        event_id: event_id.and_then(|e| e.parse().ok()),
        record_id: fields.get("EventRecordID").and_then(|r| r.parse().ok()),
        fields,
        raw: data.to_string(),
        origin: Origin::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_json_flattens_to_sigma_field_names() {
        let v: Value = serde_json::from_str(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing"}},
            "EventID":4625,"Channel":"Security","Computer":"DC01","EventRecordID":77,
            "TimeCreated":{"#attributes":{"SystemTime":"2026-11-23T01:02:03Z"}}},
            "EventData":{"TargetUserName":"admin","IpAddress":"203.0.113.5","LogonType":3}}}"##,
        )
        .unwrap();
        let e = from_json(&v, SourceKind::Evtx);
        assert_eq!(e.event_id, Some(4625));
        assert_eq!(e.channel.as_deref(), Some("Security"));
        assert_eq!(e.host.as_deref(), Some("DC01"));
        assert_eq!(e.get("TargetUserName"), Some("admin"));
        assert_eq!(e.get("LogonType"), Some("3"));
        assert_eq!(
            e.get("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        let q: Value = serde_json::from_str(r##"{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}},"EventData":{"Data":["a","b"]}}}"##).unwrap();
        let e = from_json(&q, SourceKind::Evtx);
        assert_eq!(e.event_id, Some(7045));
        assert_eq!(e.get("Data[1]"), Some("b"));
    }

    #[test]
    fn a_file_that_is_not_evtx_is_an_error_naming_it() {
        let p = std::env::temp_dir().join(format!("not-evtx-{}.evtx", std::process::id()));
        std::fs::write(&p, b"hello").unwrap();
        let e = read(&p, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("not-evtx"), "{e}");
        let _ = std::fs::remove_file(p);
    }
}
