//! What `mamori logs hunt` prints and writes: the timeline (terminal, JSON lines, CSV), the
//! progress line, the summary, and the alerts for the store.

use mamori_core::alert::{Alert, Endpoint, Engine, Severity};
use mamori_logs::{Detection, Level};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};

/// `2026-11-23 09:15:02.123` in UTC, or `-`.
pub fn fmt_ts(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".into() };
    match time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => "-".into(),
    }
}

fn rfc3339(ms: Option<i64>) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms? as i128 * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// One JSON line per detection (the fields outside checks rely on, then the rest).
pub fn json_line(d: &Detection) -> String {
    let record_ids: Vec<u64> = d.records.iter().filter_map(|r| r.record_id).collect();
    let v = serde_json::json!({
        "timestamp": rfc3339(d.timestamp),
        "rule_id": d.rule_id,
        "rule_title": d.rule_title,
        "level": d.level.as_str(),
        "computer": d.computer,
        "channel": d.channel,
        "event_id": d.event_id,
        "record_id": d.record_id,
        "file": d.file,
        "details": d.details,
        "tags": d.tags,
        "record_ids": record_ids,
        "records": d.records,
    });
    v.to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub const CSV_HEADER: &str =
    "timestamp,rule_id,rule_title,level,computer,channel,event_id,record_id,file,details\n";

pub fn csv_line(d: &Detection) -> String {
    let fields = [
        rfc3339(d.timestamp).unwrap_or_default(),
        d.rule_id.clone(),
        d.rule_title.clone(),
        d.level.as_str().to_string(),
        d.computer.clone().unwrap_or_default(),
        d.channel.clone().unwrap_or_default(),
        d.event_id.map(|e| e.to_string()).unwrap_or_default(),
        d.record_id.map(|e| e.to_string()).unwrap_or_default(),
        d.file.clone().unwrap_or_default(),
        d.details.clone(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

/// One timeline line for the terminal, Hayabusa-like.
pub fn timeline_line(d: &Detection) -> String {
    let details: String = d.details.chars().take(160).collect();
    format!(
        "{} | {:<8} | {} | {} | {} | {} | {} | {}\n",
        fmt_ts(d.timestamp),
        d.level.as_str(),
        d.computer.as_deref().unwrap_or("-"),
        d.channel.as_deref().unwrap_or("-"),
        d.event_id
            .map(|e| e.to_string())
            .unwrap_or_else(|| "-".into()),
        d.record_id
            .map(|e| e.to_string())
            .unwrap_or_else(|| "-".into()),
        d.rule_title,
        details
    )
}

/// A progress line on stderr, redrawn at most a few times a second, only on a terminal.
pub struct Progress {
    enabled: bool,
    last: std::time::Instant,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            enabled: std::io::stderr().is_terminal(),
            last: std::time::Instant::now(),
        }
    }

    pub fn update(&mut self, files_done: usize, files: usize, events: u64, detections: usize) {
        if !self.enabled || self.last.elapsed().as_millis() < 200 {
            return;
        }
        self.last = std::time::Instant::now();
        let width = 30;
        let filled = (files_done * width).checked_div(files).unwrap_or(width);
        let bar: String = "#".repeat(filled) + &" ".repeat(width - filled.min(width));
        let _ = write!(
            std::io::stderr(),
            "\r[{bar}] {files_done}/{files} files, {events} events, {detections} detections "
        );
    }

    pub fn finish(&self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// The summary printed after a hunt.
pub fn summary(
    detections: &[Detection],
    events: u64,
    errors: u64,
    files: usize,
    secs: f64,
) -> String {
    let mut by_level: HashMap<Level, usize> = HashMap::new();
    let mut rules: HashMap<&str, usize> = HashMap::new();
    let mut hosts: HashMap<&str, usize> = HashMap::new();
    for d in detections {
        *by_level.entry(d.level).or_default() += 1;
        *rules.entry(d.rule_title.as_str()).or_default() += 1;
        *hosts
            .entry(d.computer.as_deref().unwrap_or("-"))
            .or_default() += 1;
    }
    let mut out = String::new();
    out.push_str(&format!(
        "\nfiles {files}, events {events}, read errors {errors}, {:.1} s ({:.0} events/s)\n",
        secs,
        events as f64 / secs.max(1e-9)
    ));
    out.push_str("detections by level:");
    for l in [
        Level::Critical,
        Level::High,
        Level::Medium,
        Level::Low,
        Level::Info,
    ] {
        out.push_str(&format!(
            " {} {}",
            l.as_str(),
            by_level.get(&l).copied().unwrap_or(0)
        ));
    }
    out.push('\n');
    fn top(m: HashMap<&str, usize>) -> Vec<(&str, usize)> {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(10);
        v
    }
    out.push_str("top rules:\n");
    for (r, n) in top(rules) {
        out.push_str(&format!("  {n:>7}  {r}\n"));
    }
    out.push_str("top hosts:\n");
    for (h, n) in top(hosts) {
        out.push_str(&format!("  {n:>7}  {h}\n"));
    }
    out
}

/// A detection as an alert for the store.
pub fn to_alert(d: &Detection, tenant: &str, sensor: &str) -> Alert {
    let severity = match d.level {
        Level::Info => Severity::Info,
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
    };
    let mut a = Alert::new(
        Engine::Logs,
        &d.rule_id,
        &d.rule_title,
        severity,
        &d.details,
    );
    if let Some(t) = d
        .timestamp
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
    {
        a.time = t;
    }
    a.tenant = tenant.to_string();
    a.sensor = sensor.to_string();
    a.category = d
        .tags
        .iter()
        .find_map(|t| {
            t.strip_prefix("attack.")
                .filter(|s| !s.starts_with('t') && !s.starts_with('g') && !s.starts_with('s'))
        })
        .map(|s| s.replace('_', "-"));
    a.dst = Endpoint {
        host: d.computer.clone(),
        ..Endpoint::default()
    };
    a.summary = format!(
        "{}{}",
        d.details.chars().take(2000).collect::<String>(),
        d.computer
            .as_ref()
            .map(|c| format!(" (host {c})"))
            .unwrap_or_default()
    );
    a.evidence = serde_json::json!({
        "channel": d.channel,
        "event_id": d.event_id,
        "record_id": d.record_id,
        "file": d.file,
        "tags": d.tags,
        "records": d.records.iter().take(200).collect::<Vec<_>>(),
        "raw": d.evidence.iter().take(5).collect::<Vec<_>>(),
    });
    a
}

/// A log event as the store keeps it for search. The id hashes the tenant, the file, the
/// record's place in it and its text, so reading the same file again stores nothing new.
/// `now_ms` stands in for a record without a time.
pub fn to_log_event(ev: &mamori_logs::Event, tenant: &str, now_ms: i64) -> mamori_store::LogEvent {
    use sha2::{Digest, Sha256};
    let file = ev.origin.file.as_ref().map(|f| f.display().to_string());
    let mut h = Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0]);
    h.update(file.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(ev.origin.offset.to_le_bytes());
    h.update(ev.record_id.unwrap_or(0).to_le_bytes());
    h.update(ev.raw.as_bytes());
    if file.is_none() {
        // A listener's records have no place in a file: two equal syslog lines are two events.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        h.update(now_ms.to_le_bytes());
        h.update(
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_le_bytes(),
        );
    }
    let digest = h.finalize();
    let id: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    mamori_store::LogEvent {
        id,
        tenant: tenant.to_string(),
        time_ms: ev.timestamp.unwrap_or(now_ms),
        host: ev.host.clone().unwrap_or_default(),
        source: ev.source.as_str().to_string(),
        channel: ev.channel.clone(),
        event_id: ev.event_id.map(i64::from),
        record_id: ev.record_id.and_then(|r| i64::try_from(r).ok()),
        file,
        fields: ev.fields.0.clone(),
        raw: ev.raw.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection() -> Detection {
        Detection {
            timestamp: Some(1_700_000_000_123),
            rule_id: "abc".into(),
            rule_title: "Brute, \"force\"".into(),
            level: Level::High,
            computer: Some("DC01".into()),
            channel: Some("Security".into()),
            event_id: Some(4625),
            record_id: Some(42),
            file: Some("/x/a.evtx".into()),
            details: "user=admin".into(),
            tags: vec!["attack.credential_access".into(), "attack.t1110".into()],
            records: vec![],
            evidence: vec![],
        }
    }

    #[test]
    fn json_lines_carry_the_fields_checks_rely_on() {
        let v: serde_json::Value = serde_json::from_str(&json_line(&detection())).unwrap();
        for k in [
            "timestamp",
            "rule_id",
            "rule_title",
            "level",
            "computer",
            "channel",
            "event_id",
            "record_id",
            "file",
        ] {
            assert!(v.get(k).is_some_and(|x| !x.is_null()), "{k}");
        }
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn csv_quotes_fields_with_commas_and_quotes() {
        let line = csv_line(&detection());
        assert!(line.contains("\"Brute, \"\"force\"\"\""), "{line}");
    }

    #[test]
    fn alerts_take_the_attack_tactic_as_category() {
        let a = to_alert(&detection(), "acme", "logs");
        assert_eq!(a.category.as_deref(), Some("credential-access"));
        assert_eq!(a.severity, Severity::High);
    }
}
