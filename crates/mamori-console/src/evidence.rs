//! Evidence export: one ZIP per incident for an insurer, a lawyer or the police.
//!
//! The archive holds one folder, `mamori-incident-<ID>/`, and in it always the same files,
//! written even when empty so that whoever receives several exports finds the same layout:
//!
//! | file | what |
//! | --- | --- |
//! | `README.txt` | what each file is and how to verify it, in Japanese and English |
//! | `manifest.json` | incident, tenant, export time and person, tool, every other file's size and SHA-256, notes |
//! | `manifest.sha256` | `sha256sum -c manifest.sha256` checks every other file |
//! | `incident.json`, `timeline.json`, `actions.json` | the incident, its history, the response actions taken |
//! | `alerts.ndjson` | every alert of the incident as stored, one JSON object a line, oldest first |
//! | `eve.json` | the IDS alerts whose evidence is a Suricata EVE record, one a line, as stored |
//! | `mail-headers.txt` | the mail headers found in mail alerts' evidence, one block per alert |
//! | `log-lines.txt` | the original log or WAF audit records found in log and WAF alerts, `<alert id>TAB<line>` |
//! | `packets.txt` | payload excerpts of IDS alerts with their flow's addresses and ports |
//!
//! `alerts.ndjson` is the complete record; the text files are extracts made readable, with
//! line breaks and other control characters inside a value written as `\n`, `\r`, `\u00XX`.
//! Input is what the store answers for the scope: an incident outside it is
//! [`ConsoleError::NotFound`]. Size is bounded: at most [`MAX_ALERTS`] alerts (the newest,
//! said in the manifest's notes) and [`zip::MAX_INPUT`](crate::zip::MAX_INPUT) bytes in all.

use crate::zip::{ZipWriter, MAX_INPUT};
use crate::ConsoleError;
use mamori_core::{Alert, Engine, Incident, Scope, Ulid};
use mamori_store::{ActionQuery, AlertQuery, DynStore, StoredAlert, MAX_PAGE};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The most alerts one export includes; an incident with more gets its newest ones.
pub const MAX_ALERTS: usize = 100_000;

/// The name to offer for the download: `mamori-incident-<ID>.zip`.
pub fn file_name(incident: Ulid) -> String {
    format!("mamori-incident-{incident}.zip")
}

/// The incident's evidence as a ZIP archive, exported now by `exported_by`.
pub async fn export(
    store: &DynStore,
    scope: &Scope,
    incident: Ulid,
    exported_by: &str,
) -> Result<Vec<u8>, ConsoleError> {
    export_at(
        store,
        scope,
        incident,
        exported_by,
        OffsetDateTime::now_utc(),
    )
    .await
}

/// [`export`] with the export time given: it dates the manifest and every ZIP entry.
pub async fn export_at(
    store: &DynStore,
    scope: &Scope,
    incident: Ulid,
    exported_by: &str,
    exported_at: OffsetDateTime,
) -> Result<Vec<u8>, ConsoleError> {
    let found = store
        .incident(scope, incident)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let mut notes = vec![
        "Every file is written, even when empty, so that every export has the same layout."
            .to_string(),
        "Times are UTC in RFC 3339. alerts.ndjson is the complete record; the .txt files are \
         readable extracts in which line breaks and control characters inside a value are \
         written as \\n, \\r and \\u00XX."
            .to_string(),
    ];
    let timeline = store.timeline(scope, incident).await?;
    let actions = store
        .actions(
            scope,
            &ActionQuery {
                tenant: Some(found.tenant.clone()),
                incident: Some(incident),
                limit: MAX_PAGE,
                ..ActionQuery::default()
            },
        )
        .await?;
    if actions.len() >= MAX_PAGE {
        notes.push(format!(
            "actions.json holds the newest {MAX_PAGE} response actions; there may be more."
        ));
    }
    let alerts = collect_alerts(store, scope, &found, &mut notes).await?;

    let folder = format!("mamori-incident-{incident}");
    let exported_at_text = rfc3339(exported_at);
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("README.txt", readme(&found, &exported_at_text).into_bytes()),
        ("incident.json", pretty(&found)?),
        ("timeline.json", pretty(&timeline)?),
        ("actions.json", pretty(&actions)?),
        ("alerts.ndjson", alerts.ndjson.into_bytes()),
        ("eve.json", alerts.eve.into_bytes()),
        ("mail-headers.txt", alerts.mail.into_bytes()),
        ("log-lines.txt", alerts.log.into_bytes()),
        ("packets.txt", alerts.packets.into_bytes()),
    ];
    let manifest = Manifest {
        incident,
        tenant: &found.tenant,
        exported_at: &exported_at_text,
        exported_by,
        tool: format!("Mamori {}", env!("CARGO_PKG_VERSION")),
        alerts: AlertCounts {
            in_incident: found.alert_count,
            exported: alerts.count,
        },
        files: files
            .iter()
            .map(|(name, data)| ListedFile {
                name,
                bytes: data.len(),
                sha256: sha256(data),
            })
            .collect(),
        notes,
    };
    files.insert(1, ("manifest.json", pretty(&manifest)?));
    let mut sums = String::new();
    for (name, data) in &files {
        let _ = writeln!(sums, "{}  {name}", sha256(data));
    }
    files.insert(2, ("manifest.sha256", sums.into_bytes()));

    let mut zip = ZipWriter::new(exported_at);
    for (name, data) in &files {
        zip.add(&format!("{folder}/{name}"), data)?;
    }
    zip.finish()
}

/// `manifest.json`, fields in the order a reader expects them.
#[derive(Serialize)]
struct Manifest<'a> {
    incident: Ulid,
    tenant: &'a str,
    exported_at: &'a str,
    exported_by: &'a str,
    tool: String,
    alerts: AlertCounts,
    /// Every file but the two manifests.
    files: Vec<ListedFile<'a>>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct AlertCounts {
    in_incident: i64,
    exported: usize,
}

#[derive(Serialize)]
struct ListedFile<'a> {
    name: &'a str,
    bytes: usize,
    sha256: String,
}

/// The per-alert files, in time order, oldest first.
#[derive(Default)]
struct AlertFiles {
    count: usize,
    ndjson: String,
    eve: String,
    mail: String,
    log: String,
    packets: String,
}

/// One alert's contribution to each per-alert file.
#[derive(Default)]
struct Extract {
    ndjson: String,
    eve: String,
    mail: String,
    log: String,
    packets: String,
}

impl Extract {
    fn len(&self) -> usize {
        self.ndjson.len() + self.eve.len() + self.mail.len() + self.log.len() + self.packets.len()
    }
}

/// Pages through the incident's alerts (the store answers newest first) up to
/// [`MAX_ALERTS`] and [`MAX_INPUT`] bytes of extracts, then puts them in time order.
async fn collect_alerts(
    store: &DynStore,
    scope: &Scope,
    incident: &Incident,
    notes: &mut Vec<String>,
) -> Result<AlertFiles, ConsoleError> {
    let mut extracts: Vec<(OffsetDateTime, Ulid, Extract)> = Vec::new();
    let mut bytes = 0usize;
    let mut cursor: Option<String> = None;
    loop {
        let remaining = MAX_ALERTS.saturating_sub(extracts.len());
        let page = store
            .alerts(
                scope,
                &AlertQuery {
                    tenant: Some(incident.tenant.clone()),
                    incident: Some(incident.id),
                    limit: remaining.min(MAX_PAGE),
                    cursor: cursor.clone(),
                    ..AlertQuery::default()
                },
            )
            .await?;
        for stored in &page.items {
            let extract = extract(stored)?;
            bytes += extract.len();
            if bytes as u64 > MAX_INPUT {
                return Err(ConsoleError::Internal(format!(
                    "the evidence of incident {} passes {} MiB after {} alerts; too large for one export",
                    incident.id,
                    MAX_INPUT / (1024 * 1024),
                    extracts.len()
                )));
            }
            extracts.push((stored.alert.time, stored.alert.id, extract));
        }
        match page.next {
            None => break,
            Some(_) if page.items.is_empty() => break,
            Some(_) if extracts.len() >= MAX_ALERTS => {
                notes.push(format!(
                    "The incident has {} alerts; this export holds the newest {MAX_ALERTS}.",
                    incident.alert_count
                ));
                break;
            }
            Some(next) if cursor.as_ref() == Some(&next) => break,
            Some(next) => cursor = Some(next),
        }
    }
    extracts.sort_by_key(|(time, id, _)| (*time, *id));
    let mut files = AlertFiles {
        count: extracts.len(),
        ..AlertFiles::default()
    };
    for (_, _, e) in extracts {
        files.ndjson.push_str(&e.ndjson);
        files.eve.push_str(&e.eve);
        files.mail.push_str(&e.mail);
        files.log.push_str(&e.log);
        files.packets.push_str(&e.packets);
    }
    Ok(files)
}

/// What one alert adds to each file.
fn extract(stored: &StoredAlert) -> Result<Extract, ConsoleError> {
    let alert = &stored.alert;
    let mut e = Extract {
        ndjson: json_line(stored)?,
        ..Extract::default()
    };
    match alert.engine {
        Engine::Ids => {
            if alert.evidence.get("event_type").is_some() {
                e.eve = json_line(&alert.evidence)?;
            }
            e.packets = packet_block(alert);
        }
        Engine::Mail => e.mail = header_block(alert),
        Engine::Logs | Engine::Waf => {
            for line in log_lines(alert) {
                let _ = writeln!(e.log, "{}\t{}", alert.id, one_line(&line));
            }
        }
        Engine::Scan | Engine::Drill | Engine::Console => {}
    }
    Ok(e)
}

/// `Name: value` lines from `evidence.headers` (an object, or a list of pairs or of
/// `{name, value}`), then the usual fields mail alerts carry (`subject`, `from`, `to` …)
/// for headers not already given.
fn header_block(alert: &Alert) -> String {
    let ev = &alert.evidence;
    let mut headers: Vec<(String, String)> = Vec::new();
    match ev.get("headers") {
        Some(Value::Object(map)) => {
            for (name, value) in map {
                for v in texts(value) {
                    headers.push((name.clone(), v));
                }
            }
        }
        Some(Value::Array(items)) => {
            for item in items {
                let (name, value) = match item {
                    Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
                    Value::Object(o) => match (o.get("name"), o.get("value")) {
                        (Some(n), Some(v)) => (n, v),
                        _ => continue,
                    },
                    _ => continue,
                };
                if let Some(name) = name.as_str() {
                    for v in texts(value) {
                        headers.push((name.to_string(), v));
                    }
                }
            }
        }
        _ => {}
    }
    const FIELDS: [(&str, &str); 8] = [
        ("date", "Date"),
        ("from", "From"),
        ("reply_to", "Reply-To"),
        ("return_path", "Return-Path"),
        ("to", "To"),
        ("cc", "Cc"),
        ("subject", "Subject"),
        ("message_id", "Message-ID"),
    ];
    for (field, header) in FIELDS {
        if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(header)) {
            continue;
        }
        let values = ev.get(field).map(texts).unwrap_or_default();
        if !values.is_empty() {
            headers.push((header.to_string(), values.join(", ")));
        }
    }
    if headers.is_empty() {
        return String::new();
    }
    let mut block = separator(alert);
    for (name, value) in headers {
        let _ = writeln!(block, "{}: {}", one_line(&name), one_line(&value));
    }
    block.push('\n');
    block
}

/// Original records in a log or WAF alert's evidence: `records[].raw` (or plain strings in
/// `records`), then `raw`, `log` and `request` (a string or a list of strings). A WAF alert
/// whose evidence is the audit record itself (`method`, `uri` …) gives that record.
fn log_lines(alert: &Alert) -> Vec<String> {
    let ev = &alert.evidence;
    let mut lines: Vec<String> = Vec::new();
    if let Some(Value::Array(records)) = ev.get("records") {
        for record in records {
            match record {
                Value::String(s) => lines.push(s.clone()),
                Value::Object(o) => {
                    if let Some(Value::String(s)) = o.get("raw") {
                        lines.push(s.clone());
                    }
                }
                _ => {}
            }
        }
    }
    for field in ["raw", "log", "request"] {
        if let Some(value) = ev.get(field) {
            lines.extend(texts(value));
        }
    }
    if lines.is_empty()
        && alert.engine == Engine::Waf
        && ev.get("method").is_some()
        && ev.get("uri").is_some()
    {
        lines.push(ev.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    lines.retain(|l| seen.insert(l.clone()));
    lines
}

/// An IDS alert's payload fields as stored (`payload` is base64 in EVE) under its flow:
/// protocol, source and destination from the EVE record, else from the alert's endpoints.
fn packet_block(alert: &Alert) -> String {
    let ev = &alert.evidence;
    let fields: Vec<(&str, String)> = ["payload", "payload_printable", "packet"]
        .into_iter()
        .filter_map(|k| {
            let v = ev.get(k)?;
            texts(v).into_iter().next().map(|t| (k, t))
        })
        .collect();
    if fields.is_empty() {
        return String::new();
    }
    let side = |ip_key: &str, port_key: &str, endpoint: &mamori_core::Endpoint| {
        let ip = ev
            .get(ip_key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| endpoint.ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "?".to_string());
        let port = ev
            .get(port_key)
            .and_then(Value::as_u64)
            .or(endpoint.port.map(u64::from));
        match port {
            Some(p) if ip.contains(':') => format!("[{ip}]:{p}"),
            Some(p) => format!("{ip}:{p}"),
            None => ip,
        }
    };
    let proto = ev.get("proto").and_then(Value::as_str).unwrap_or("?");
    let mut block = separator(alert);
    let _ = writeln!(
        block,
        "flow: {} {} -> {}",
        one_line(proto),
        one_line(&side("src_ip", "src_port", &alert.src)),
        one_line(&side("dest_ip", "dest_port", &alert.dst)),
    );
    for (name, value) in fields {
        let _ = writeln!(block, "{name}: {}", one_line(&value));
    }
    block.push('\n');
    block
}

/// The line that opens an alert's block in the text files.
fn separator(alert: &Alert) -> String {
    format!(
        "=== alert {} {} {} ===\n",
        alert.id,
        rfc3339(alert.time),
        one_line(&alert.rule_id)
    )
}

/// A JSON value's text: a string as it is, each string of a list, other scalars printed.
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Keeps one value on one line: line breaks and other control characters (tab excepted)
/// become `\n`, `\r`, `\u00XX`, so a value cannot forge a line of its own.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn json_line<T: Serialize>(value: &T) -> Result<String, ConsoleError> {
    let mut line = serde_json::to_string(value)
        .map_err(|e| ConsoleError::Internal(format!("evidence JSON: {e}")))?;
    line.push('\n');
    Ok(line)
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>, ConsoleError> {
    let mut out = serde_json::to_vec_pretty(value)
        .map_err(|e| ConsoleError::Internal(format!("evidence JSON: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

fn sha256(data: &[u8]) -> String {
    crate::auth::hex(&Sha256::digest(data))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

fn readme(incident: &Incident, exported_at: &str) -> String {
    format!(
        "Mamori 証拠エクスポート / evidence export
インシデント / incident: {id}
テナント / tenant: {tenant}
対象資産 / asset: {asset}
エクスポート日時 / exported at: {exported_at}

【日本語】
このフォルダは Mamori が記録したインシデント 1 件の証拠一式です。
  manifest.json     エクスポートの情報と、各ファイルのサイズ・SHA-256
  manifest.sha256   各ファイルの SHA-256（sha256sum 形式）
  incident.json     インシデント（資産、重大度、状態、期間）
  timeline.json     インシデントの経緯（状態変更、担当、メモ）
  actions.json      実施した対処（IP 遮断、ドメイン遮断、端末隔離）
  alerts.ndjson     インシデントの全アラート（1 行 1 件の JSON、古い順）
  eve.json          IDS アラートの Suricata EVE 記録（1 行 1 件）
  mail-headers.txt  メールアラートのメールヘッダー（アラートごと）
  log-lines.txt     ログ・WAF アラートの元の記録（アラート ID、タブ、記録）
  packets.txt       IDS アラートのパケット内容の抜粋と通信の送信元・宛先
データのないファイルも空のまま含めています。時刻はすべて UTC です。
alerts.ndjson が完全な記録で、.txt ファイルは読みやすく抜き出したものです
（値の中の改行・制御文字は \\n、\\r、\\u00XX と書いています）。

改ざんされていないことの確認: このフォルダで次を実行し、すべて「OK」と出ることを確かめます。
  sha256sum -c manifest.sha256
（Windows では PowerShell の Get-FileHash -Algorithm SHA256 の値を manifest.sha256 と比べます。）
ZIP ファイル自体のハッシュを受け渡し時に記録しておくと、受け取った ZIP が同じものか確かめられます。

[English]
This folder is the evidence Mamori recorded for one incident.
  manifest.json     about the export, and each file's size and SHA-256
  manifest.sha256   each file's SHA-256 (sha256sum format)
  incident.json     the incident (asset, severity, state, first and last seen)
  timeline.json     its history (state changes, assignment, notes)
  actions.json      response actions taken (IP block, domain block, host isolation)
  alerts.ndjson     every alert of the incident, one JSON object per line, oldest first
  eve.json          the IDS alerts' Suricata EVE records, one per line
  mail-headers.txt  the mail headers of mail alerts, one block per alert
  log-lines.txt     the original records of log and WAF alerts: alert id, TAB, record
  packets.txt       payload excerpts of IDS alerts with the flow's source and destination
Files without data are included empty. All times are UTC.
alerts.ndjson is the complete record; the .txt files are readable extracts (line breaks and
control characters inside a value are written as \\n, \\r, \\u00XX).

To verify that nothing was changed, run this in this folder; every line must say OK:
  sha256sum -c manifest.sha256
(On Windows, compare PowerShell's Get-FileHash -Algorithm SHA256 with manifest.sha256.)
Record the ZIP file's own hash when handing it over, so the receiver can check it is the same.
",
        id = incident.id,
        tenant = one_line(&incident.tenant),
        asset = one_line(&incident.asset),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mamori_core::Severity;
    use serde_json::json;

    fn alert(engine: Engine, evidence: Value) -> Alert {
        let mut a = Alert::new(engine, "t.rule", "rule", Severity::High, "summary");
        a.evidence = evidence;
        a
    }

    #[test]
    fn mail_headers_come_from_the_headers_object_then_the_usual_fields() {
        let a = alert(
            Engine::Mail,
            json!({
                "headers": {"Subject": "請求書", "Received": ["from a", "from b"]},
                "subject": "ignored, the header is there",
                "from": "経理 <keiri@example.net>",
                "to": ["a@example.jp", "b@example.jp"],
                "message_id": null,
            }),
        );
        let block = header_block(&a);
        assert!(
            block.starts_with(&format!("=== alert {} ", a.id)),
            "{block}"
        );
        assert!(block.contains("Subject: 請求書\n"), "{block}");
        assert!(!block.contains("ignored"), "{block}");
        assert!(
            block.contains("Received: from a\nReceived: from b\n"),
            "{block}"
        );
        assert!(
            block.contains("From: 経理 <keiri@example.net>\n"),
            "{block}"
        );
        assert!(
            block.contains("To: a@example.jp, b@example.jp\n"),
            "{block}"
        );
        assert!(!block.contains("Message-ID"), "{block}");
        assert_eq!(header_block(&alert(Engine::Mail, json!({"score": 3}))), "");
    }

    #[test]
    fn a_value_with_line_breaks_cannot_forge_a_line() {
        let a = alert(
            Engine::Mail,
            json!({"headers": [["Subject", "x\r\nFrom: boss@example.jp"]]}),
        );
        let block = header_block(&a);
        assert!(
            block.contains("Subject: x\\r\\nFrom: boss@example.jp\n"),
            "{block}"
        );
        assert_eq!(one_line("a\u{7}b\tc"), "a\\u0007b\tc");
    }

    #[test]
    fn log_lines_come_from_records_raw_log_and_request_once_each() {
        let a = alert(
            Engine::Logs,
            json!({
                "records": [{"raw": "line 1", "record_id": 7}, {"record_id": 8}, "line 2"],
                "raw": ["line 1", "line 3"],
                "log": "line 4",
            }),
        );
        assert_eq!(log_lines(&a), ["line 1", "line 2", "line 3", "line 4"]);
        let waf = alert(
            Engine::Waf,
            json!({"method": "GET", "uri": "/?id=1%27", "host": "shop"}),
        );
        let lines = log_lines(&waf);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("\"uri\":\"/?id=1%27\""), "{lines:?}");
    }

    #[test]
    fn packet_excerpts_name_the_flow_from_eve_or_the_endpoints() {
        let a = alert(
            Engine::Ids,
            json!({"event_type": "alert", "proto": "TCP", "src_ip": "10.0.0.5", "src_port": 51000,
                   "dest_ip": "2001:db8::1", "dest_port": 80, "payload": "R0VU", "payload_printable": "GET"}),
        );
        let block = packet_block(&a);
        assert!(
            block.contains("flow: TCP 10.0.0.5:51000 -> [2001:db8::1]:80\n"),
            "{block}"
        );
        assert!(
            block.contains("payload: R0VU\npayload_printable: GET\n"),
            "{block}"
        );
        let mut b = alert(Engine::Ids, json!({"packet": "\u{1}\u{2}"}));
        b.src.ip = Some("192.168.1.2".parse().unwrap());
        assert!(packet_block(&b).contains("flow: ? 192.168.1.2 -> ?\n"));
        assert_eq!(packet_block(&alert(Engine::Ids, json!({"flows": 3}))), "");
    }
}
