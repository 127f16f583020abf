//! The audit record of a request the rules matched (or login protection acted on): one JSON
//! line per request, with ModSecurity-like fields (rule ids, messages, matched data, anomaly
//! score), and its conversion into an [`Alert`] for the store.

use mamori_core::alert::{Alert, Endpoint, Engine, Severity};
use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleHit {
    pub id: u32,
    pub msg: String,
    /// `logdata`, macro-expanded.
    pub data: String,
    /// CRS severity (`CRITICAL`, `ERROR`, `WARNING`, `NOTICE`) when the rule sets one.
    pub severity: String,
    pub tags: Vec<String>,
    pub matched_var: String,
    pub matched_value: String,
}

/// What happened to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Refused by the rules.
    Blocked,
    /// Rules matched, but the site is in DetectionOnly or the score stayed under the threshold.
    Detected,
    /// Refused or slowed by login protection.
    LoginRefused,
}

/// One audit-log line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    /// RFC 3339.
    pub time: String,
    /// Unique id, also shown on the block page as the reference.
    pub id: String,
    pub site: String,
    pub client_ip: IpAddr,
    pub client_port: u16,
    pub method: String,
    pub uri: String,
    pub host: String,
    pub protocol: String,
    /// Status sent to the client.
    pub status: u16,
    pub action: Action,
    /// `On`, `DetectionOnly`.
    pub mode: String,
    pub inbound_anomaly_score: i64,
    pub outbound_anomaly_score: i64,
    pub rules: Vec<RuleHit>,
    /// Login protection's signal, when it acted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_signal: Option<String>,
}

impl AuditRecord {
    /// The rule that best names the attack: the first non-scoring rule (the 949/959
    /// blocking-evaluation rules only add up the others).
    pub fn headline(&self) -> Option<&RuleHit> {
        self.rules
            .iter()
            .find(|r| {
                !(949_000..950_000).contains(&r.id)
                    && !(959_000..960_000).contains(&r.id)
                    && !(980_000..981_000).contains(&r.id)
            })
            .or_else(|| self.rules.first())
    }

    /// The alert for the store.
    pub fn to_alert(&self, tenant: &str, sensor: &str) -> Alert {
        let head = self.headline();
        let severity = match (self.action, head.map(|h| h.severity.as_str())) {
            (Action::Blocked, Some("CRITICAL")) => Severity::High,
            (Action::Blocked, _) => Severity::Medium,
            (Action::LoginRefused, _) => Severity::Medium,
            (Action::Detected, Some("CRITICAL")) => Severity::Medium,
            (Action::Detected, _) => Severity::Low,
        };
        let (rule_id, rule_name) = match (head, &self.login_signal) {
            (_, Some(sig)) => (sig.clone(), "Login protection".to_string()),
            (Some(h), None) => (format!("waf.crs.{}", h.id), h.msg.clone()),
            (None, None) => ("waf.request".to_string(), "WAF".to_string()),
        };
        let verb = match self.action {
            Action::Blocked => "blocked",
            Action::Detected => "detected",
            Action::LoginRefused => "refused",
        };
        let summary = format!(
            "{verb}: {} {} {} from {} — {} (score {})",
            self.method,
            self.host,
            truncate(&self.uri, 200),
            self.client_ip,
            head.map(|h| h.msg.as_str()).unwrap_or("login protection"),
            self.inbound_anomaly_score
        );
        let mut alert = Alert::new(Engine::Waf, rule_id, rule_name, severity, summary);
        alert.tenant = tenant.to_string();
        alert.sensor = sensor.to_string();
        alert.category = Some("initial-access".into());
        alert.src = Endpoint {
            ip: Some(self.client_ip),
            port: Some(self.client_port),
            ..Endpoint::default()
        };
        alert.dst = Endpoint {
            host: Some(self.host.clone()),
            url: Some(truncate(&self.uri, 900).to_string()),
            ..Endpoint::default()
        };
        alert.evidence = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        alert
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The JSON-lines audit log file, appended to; each record is one write.
pub struct AuditLog {
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AuditLog {
            file: Mutex::new(file),
        })
    }

    pub fn write(&self, record: &AuditRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            time: "2026-11-23T00:00:00Z".into(),
            id: "x".into(),
            site: "shop".into(),
            client_ip: "203.0.113.9".parse().unwrap(),
            client_port: 5555,
            method: "GET".into(),
            uri: "/?id=1' or 1=1--".into(),
            host: "shop.example".into(),
            protocol: "HTTP/1.1".into(),
            status: 403,
            action: Action::Blocked,
            mode: "On".into(),
            inbound_anomaly_score: 10,
            outbound_anomaly_score: 0,
            rules: vec![
                RuleHit {
                    id: 949110,
                    msg: "Inbound Anomaly Score Exceeded".into(),
                    data: String::new(),
                    severity: "CRITICAL".into(),
                    tags: vec![],
                    matched_var: String::new(),
                    matched_value: String::new(),
                },
                RuleHit {
                    id: 942100,
                    msg: "SQL Injection Attack Detected via libinjection".into(),
                    data: "Matched Data: s&1c".into(),
                    severity: "CRITICAL".into(),
                    tags: vec!["attack-sqli".into()],
                    matched_var: "ARGS:id".into(),
                    matched_value: "1' or 1=1--".into(),
                },
            ],
            login_signal: None,
        }
    }

    #[test]
    fn the_alert_names_the_attack_rule_not_the_score_rule() {
        let a = record().to_alert("acme", "waf");
        assert_eq!(a.rule_id, "waf.crs.942100");
        assert_eq!(a.severity, Severity::High);
        assert!(a.summary.contains("SQL Injection"), "{}", a.summary);
        assert_eq!(a.src.ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn audit_lines_are_json_with_rule_ids() {
        let dir = mamori_core::scratch::dir("audit");
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path).unwrap();
        log.write(&record()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["rules"][1]["id"], 942100);
        assert_eq!(v["inbound_anomaly_score"], 10);
        let _ = std::fs::remove_dir_all(dir);
    }
}
