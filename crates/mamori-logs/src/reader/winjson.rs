//! Windows events as JSON, one object per line, in the three shapes forwarders write:
//! - winlogbeat / Elastic Agent: `winlog.event_data.*`, `winlog.channel`, `winlog.event_id`,
//!   `winlog.computer_name`, `winlog.record_id`, `@timestamp`;
//! - NXLog's flat `im_msvistalog` JSON: `EventID`, `Hostname`, `Channel`, `EventTime`,
//!   `SourceName`, `RecordNumber` and the event data as top-level keys;
//! - `evtx_dump`-style `{"Event":{"System":{…},"EventData":{…}}}`.
//!
//! All three become the EVTX field names of `event.rs`. NXLog writes `EventTime` in the
//! forwarding host's local time without a zone; it is read at the configured offset.

use super::timestamp;
use crate::event::{Event, Fields, Origin, SourceKind};
use serde_json::{Map, Value};
use time::UtcOffset;

/// One JSON line to an event.
pub(crate) fn parse_line(line: &str, origin: Origin, offset: UtcOffset) -> Result<Event, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let mut fields = Fields::default();
    let time = if let Some(w) = obj.get("winlog").and_then(Value::as_object) {
        winlogbeat(obj, w, &mut fields);
        obj.get("@timestamp")
            .and_then(Value::as_str)
            .and_then(|t| timestamp::parse_iso(t, UtcOffset::UTC))
    } else if let Some(e) = obj.get("Event").and_then(Value::as_object) {
        evtx_dump(e, &mut fields);
        fields
            .get("TimeCreated")
            .and_then(|t| timestamp::parse_iso(t, UtcOffset::UTC))
    } else if obj.contains_key("EventID") {
        nxlog(obj, &mut fields);
        obj.get("EventTime")
            .and_then(Value::as_str)
            .and_then(|t| timestamp::parse_iso(t, offset))
    } else {
        return Err("not a Windows event (no winlog, Event or EventID)".into());
    };
    Ok(Event {
        timestamp: time,
        host: fields.get("Computer").map(str::to_string),
        source: SourceKind::WindowsJson,
        channel: fields.get("Channel").map(str::to_string),
        event_id: fields.get("EventID").and_then(|v| v.trim().parse().ok()),
        record_id: fields
            .get("EventRecordID")
            .and_then(|v| v.trim().parse().ok()),
        fields,
        raw: line.to_string(),
        origin,
    })
}

/// A JSON scalar as the string it was logged as; arrays are joined with `, `, objects
/// rendered as JSON.
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => Some(a.iter().filter_map(scalar).collect::<Vec<_>>().join(", ")),
        Value::Object(_) => Some(v.to_string()),
    }
}

fn push(fields: &mut Fields, name: &str, v: Option<&Value>) {
    if let Some(s) = v.and_then(scalar) {
        fields.push(name, s);
    }
}

fn winlogbeat(root: &Map<String, Value>, w: &Map<String, Value>, fields: &mut Fields) {
    let event_id = w
        .get("event_id")
        .or_else(|| root.get("event").and_then(|e| e.get("code")));
    push(fields, "EventID", event_id);
    push(fields, "Channel", w.get("channel"));
    push(fields, "Provider_Name", w.get("provider_name"));
    push(fields, "Provider_Guid", w.get("provider_guid"));
    let computer = w
        .get("computer_name")
        .or_else(|| root.get("host").and_then(|h| h.get("name")));
    push(fields, "Computer", computer);
    push(fields, "EventRecordID", w.get("record_id"));
    push(fields, "Task", w.get("task"));
    push(fields, "Opcode", w.get("opcode"));
    push(fields, "Keywords", w.get("keywords"));
    push(
        fields,
        "Level",
        root.get("log").and_then(|l| l.get("level")),
    );
    if let Some(p) = w.get("process") {
        push(fields, "ProcessID", p.get("pid"));
        push(
            fields,
            "ThreadID",
            p.get("thread").and_then(|t| t.get("id")),
        );
    }
    push(
        fields,
        "UserID",
        w.get("user").and_then(|u| u.get("identifier")),
    );
    push(fields, "ActivityID", w.get("activity_id"));
    if let Some(t) = root.get("@timestamp") {
        push(fields, "TimeCreated", Some(t));
    }
    if let Some(data) = w.get("event_data").and_then(Value::as_object) {
        data_items(data, fields);
    }
    if let Some(data) = w.get("user_data") {
        leaves(data, fields, 0);
    }
}

/// Event data items under their own names; winlogbeat calls unnamed items `param1`, ….
fn data_items(data: &Map<String, Value>, fields: &mut Fields) {
    for (k, v) in data {
        if let Some(s) = scalar(v) {
            fields.push(k.as_str(), s);
        }
    }
}

/// Nested user data by leaf name (objects walked, bounded depth).
fn leaves(v: &Value, fields: &mut Fields, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Some(o) = v.as_object() {
        for (k, v) in o {
            if k.starts_with('#') || k == "xmlns" {
                continue;
            }
            match v {
                Value::Object(_) => leaves(v, fields, depth + 1),
                _ => push(fields, k, Some(v)),
            }
        }
    }
}

/// NXLog renames a few `System` values and puts its own metadata beside the event data.
fn nxlog(obj: &Map<String, Value>, fields: &mut Fields) {
    const RENAMED: [(&str, &str); 6] = [
        ("EventID", "EventID"),
        ("Channel", "Channel"),
        ("Hostname", "Computer"),
        ("SourceName", "Provider_Name"),
        ("RecordNumber", "EventRecordID"),
        ("EventTime", "TimeCreated"),
    ];
    // NXLog's own bookkeeping, not part of the Windows event.
    const METADATA: [&str; 9] = [
        "EventReceivedTime",
        "SourceModuleName",
        "SourceModuleType",
        "EventType",
        "SeverityValue",
        "Severity",
        "OpcodeValue",
        "ProviderGuid",
        "Category",
    ];
    for (from, to) in RENAMED {
        push(fields, to, obj.get(from));
    }
    push(fields, "Provider_Guid", obj.get("ProviderGuid"));
    for (k, v) in obj {
        if RENAMED.iter().any(|(from, _)| from == k) || METADATA.contains(&k.as_str()) {
            continue;
        }
        if !v.is_object() {
            push(fields, k, Some(v));
        }
    }
}

/// `evtx_dump -o json`: `System` children with `#text`/`#attributes`, data by name.
fn evtx_dump(e: &Map<String, Value>, fields: &mut Fields) {
    if let Some(sys) = e.get("System").and_then(Value::as_object) {
        for (k, v) in sys {
            let attrs = v.get("#attributes").and_then(Value::as_object);
            let text = match v {
                Value::Object(o) => o.get("#text"),
                other => Some(other),
            };
            push(fields, k, text);
            for (a, av) in attrs.into_iter().flatten() {
                let name = match (k.as_str(), a.as_str()) {
                    ("Provider", "Name") => "Provider_Name".to_string(),
                    ("Provider", "Guid") => "Provider_Guid".to_string(),
                    ("TimeCreated", "SystemTime") => "TimeCreated".to_string(),
                    ("Execution" | "Security" | "Correlation" | "EventID" | "Provider", _) => {
                        a.clone()
                    }
                    _ => format!("{k}_{a}"),
                };
                push(fields, &name, Some(av));
            }
        }
    }
    if let Some(data) = e.get("EventData").and_then(Value::as_object) {
        for (k, v) in data {
            if k == "#attributes" {
                continue;
            }
            if k == "Data" {
                // Unnamed items: `Data`, `Data[1]`, ... as in the XML flattening.
                let items: Vec<&Value> = match v {
                    Value::Array(a) => a.iter().collect(),
                    other => vec![other],
                };
                for (i, item) in items.into_iter().enumerate() {
                    let name = if i == 0 {
                        "Data".to_string()
                    } else {
                        format!("Data[{i}]")
                    };
                    let text = item.get("#text").unwrap_or(item);
                    push(fields, &name, Some(text));
                }
            } else {
                push(fields, k, Some(v));
            }
        }
    }
    if let Some(data) = e.get("UserData") {
        leaves(data, fields, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winlogbeat_line_maps_to_evtx_names() {
        let line = r#"{"@timestamp":"2024-05-01T10:00:00.123Z","winlog":{"channel":"Security","event_id":4625,"computer_name":"DC01","record_id":77,"provider_name":"Microsoft-Windows-Security-Auditing","event_data":{"TargetUserName":"alice","IpAddress":"10.0.0.9","LogonType":"3"}}}"#;
        let ev = parse_line(line, Origin::default(), UtcOffset::UTC).unwrap();
        assert_eq!(ev.event_id, Some(4625));
        assert_eq!(ev.record_id, Some(77));
        assert_eq!(ev.host.as_deref(), Some("DC01"));
        assert_eq!(ev.timestamp, Some(1_714_557_600_123));
        assert_eq!(ev.get("IpAddress"), Some("10.0.0.9"));
        assert_eq!(
            ev.get("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
    }

    #[test]
    fn nxlog_line_maps_to_evtx_names() {
        let line = r#"{"EventTime":"2024-05-01 19:00:00","Hostname":"DC01","EventID":4740,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","RecordNumber":5,"TargetUserName":"bob","SourceModuleName":"eventlog"}"#;
        let nine = UtcOffset::from_hms(9, 0, 0).unwrap();
        let ev = parse_line(line, Origin::default(), nine).unwrap();
        assert_eq!(ev.event_id, Some(4740));
        assert_eq!(ev.timestamp, Some(1_714_557_600_000));
        assert_eq!(ev.get("Computer"), Some("DC01"));
        assert_eq!(ev.get("TargetUserName"), Some("bob"));
        assert_eq!(ev.get("SourceModuleName"), None);
    }

    #[test]
    fn evtx_dump_json_maps_attributes() {
        let line = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},"EventID":7045,"Channel":"System","Computer":"WS1","EventRecordID":9,"TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T10:00:00Z"}}},"EventData":{"ServiceName":"evil","ImagePath":"c:\\x.exe"}}}"##;
        let ev = parse_line(line, Origin::default(), UtcOffset::UTC).unwrap();
        assert_eq!(ev.event_id, Some(7045));
        assert_eq!(ev.get("Provider_Name"), Some("Service Control Manager"));
        assert_eq!(ev.get("ServiceName"), Some("evil"));
        assert_eq!(ev.timestamp, Some(1_714_557_600_000));
    }
}
