//! The one alert shape every engine produces.
//!
//! An alert says what happened (rule id and name, summary), how bad it is ([`Severity`]),
//! who saw it ([`Engine`], sensor), where (source and destination [`Endpoint`]s), which of the
//! company's things it concerns ([`Asset`]) and the evidence (packet excerpt, mail headers,
//! log lines) as JSON. Alerts are identified by a ULID so that a sensor can resend the same
//! alert and the store keeps it once.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use time::OffsetDateTime;
use ulid::Ulid;

/// How bad an alert is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The word the console and the reports show, in Japanese or English.
    pub fn label(self, japanese: bool) -> &'static str {
        match (japanese, self) {
            (true, Severity::Critical) => "緊急",
            (true, Severity::High) => "高",
            (true, Severity::Medium) => "中",
            (true, Severity::Low) => "低",
            (true, Severity::Info) => "情報",
            (false, Severity::Critical) => "Critical",
            (false, Severity::High) => "High",
            (false, Severity::Medium) => "Medium",
            (false, Severity::Low) => "Low",
            (false, Severity::Info) => "Info",
        }
    }

    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The number stored in the database; larger is worse.
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Severity {
        match rank {
            i64::MIN..=0 => Severity::Info,
            1 => Severity::Low,
            2 => Severity::Medium,
            3 => Severity::High,
            _ => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" | "informational" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected info, low, medium, high or critical)"
            )),
        }
    }
}

/// Which engine raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Ids,
    Waf,
    Mail,
    Logs,
    Scan,
    Drill,
    Console,
}

impl Engine {
    pub const ALL: [Engine; 7] = [
        Engine::Ids,
        Engine::Waf,
        Engine::Mail,
        Engine::Logs,
        Engine::Scan,
        Engine::Drill,
        Engine::Console,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Ids => "ids",
            Engine::Waf => "waf",
            Engine::Mail => "mail",
            Engine::Logs => "logs",
            Engine::Scan => "scan",
            Engine::Drill => "drill",
            Engine::Console => "console",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!(
                    "unknown engine {s:?} (expected ids, waf, mail, logs, scan, drill or console)"
                )
            })
    }
}

/// One side of what an alert is about. Every field is optional: a network alert fills ip
/// and port, a mail alert the address, a log alert the user, a WAF alert the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl Endpoint {
    pub fn is_empty(&self) -> bool {
        self == &Endpoint::default()
    }

    /// A short human form: `10.0.0.5:445`, `taro@example.co.jp`, a URL or a user name.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ip) = self.ip {
            match self.port {
                Some(p) if ip.is_ipv6() => parts.push(format!("[{ip}]:{p}")),
                Some(p) => parts.push(format!("{ip}:{p}")),
                None => parts.push(ip.to_string()),
            }
        }
        for s in [&self.host, &self.user, &self.mail, &self.url]
            .into_iter()
            .flatten()
        {
            parts.push(s.clone());
        }
        parts.join(" ")
    }
}

/// What kind of company asset an alert concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Host,
    MailAccount,
    Website,
    User,
}

impl AssetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Host => "host",
            AssetKind::MailAccount => "mail_account",
            AssetKind::Website => "website",
            AssetKind::User => "user",
        }
    }
}

/// The company's thing an alert is about: a PC or server, a mail account, a website or a
/// user account. Alerts on the same asset are correlated into one incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Asset {
    pub kind: AssetKind,
    pub value: String,
}

impl Asset {
    pub fn new(kind: AssetKind, value: impl Into<String>) -> Asset {
        Asset {
            kind,
            value: value.into(),
        }
    }

    /// The stable key used for correlation and filtering: `host:10.0.0.5`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.value.to_ascii_lowercase())
    }

    /// Parses a key produced by [`Asset::key`].
    pub fn from_key(key: &str) -> Option<Asset> {
        let (kind, value) = key.split_once(':')?;
        let kind = match kind {
            "host" => AssetKind::Host,
            "mail_account" => AssetKind::MailAccount,
            "website" => AssetKind::Website,
            "user" => AssetKind::User,
            _ => return None,
        };
        Some(Asset::new(kind, value))
    }
}

/// One alert, the unit every engine emits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Resending an alert with the same id stores it once. Generated when absent.
    #[serde(default = "Ulid::new")]
    pub id: Ulid,
    /// When it happened (RFC 3339). The time of arrival when absent.
    #[serde(default = "OffsetDateTime::now_utc", with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Tenant name. When events arrive with a token, the token's tenant is authoritative.
    #[serde(default)]
    pub tenant: String,
    /// Which sensor (host or gateway instance) saw it.
    #[serde(default)]
    pub sensor: String,
    pub engine: Engine,
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    /// ATT&CK tactic where one fits (`initial-access`, `command-and-control`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Endpoint::is_empty")]
    pub src: Endpoint,
    #[serde(default, skip_serializing_if = "Endpoint::is_empty")]
    pub dst: Endpoint,
    /// The affected asset; derived from the endpoints when absent (see [`Alert::asset`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<Asset>,
    pub summary: String,
    #[serde(default)]
    pub evidence: serde_json::Value,
}

/// Bounds on an alert arriving from outside; longer fields are refused rather than stored.
pub const MAX_SHORT_FIELD: usize = 1024;
pub const MAX_SUMMARY: usize = 8 * 1024;

impl Alert {
    /// A new alert with a fresh id at the current time; the caller fills in the rest.
    pub fn new(
        engine: Engine,
        rule_id: impl Into<String>,
        rule_name: impl Into<String>,
        severity: Severity,
        summary: impl Into<String>,
    ) -> Alert {
        Alert {
            id: Ulid::new(),
            time: OffsetDateTime::now_utc(),
            tenant: String::new(),
            sensor: String::new(),
            engine,
            rule_id: rule_id.into(),
            rule_name: rule_name.into(),
            severity,
            category: None,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            asset: None,
            summary: summary.into(),
            evidence: serde_json::Value::Null,
        }
    }

    /// The asset this alert concerns: the explicit one, else the company-side host of a
    /// network alert (a private address among source and destination, the source first
    /// because an infected PC calling out is the usual story), else a mail account, a
    /// user, a website, and finally the destination address.
    pub fn asset(&self) -> Option<Asset> {
        if let Some(a) = &self.asset {
            return Some(a.clone());
        }
        let internal = |ip: &Option<IpAddr>| ip.filter(|ip| is_internal(*ip));
        if let Some(ip) = internal(&self.src.ip).or_else(|| internal(&self.dst.ip)) {
            return Some(Asset::new(AssetKind::Host, ip.to_string()));
        }
        if let Some(m) = self.src.mail.as_ref().or(self.dst.mail.as_ref()) {
            return Some(Asset::new(AssetKind::MailAccount, m.clone()));
        }
        if let Some(u) = self.dst.user.as_ref().or(self.src.user.as_ref()) {
            return Some(Asset::new(AssetKind::User, u.clone()));
        }
        if let Some(url) = self.dst.url.as_ref() {
            return Some(Asset::new(AssetKind::Website, url_host(url)));
        }
        if let Some(h) = self.dst.host.as_ref() {
            return Some(Asset::new(AssetKind::Host, h.clone()));
        }
        self.dst
            .ip
            .or(self.src.ip)
            .map(|ip| Asset::new(AssetKind::Host, ip.to_string()))
    }

    /// Parses one NDJSON line of a Mamori event and checks it.
    pub fn from_json(line: &str) -> Result<Alert, String> {
        let alert: Alert = serde_json::from_str(line).map_err(|e| e.to_string())?;
        alert.validate()?;
        Ok(alert)
    }

    /// Refuses alerts a store should not keep: empty required fields, oversized text.
    pub fn validate(&self) -> Result<(), String> {
        if self.rule_id.trim().is_empty() {
            return Err("rule_id is empty".into());
        }
        if self.summary.trim().is_empty() && self.rule_name.trim().is_empty() {
            return Err("summary and rule_name are both empty".into());
        }
        for (name, value) in [
            ("rule_id", &self.rule_id),
            ("rule_name", &self.rule_name),
            ("sensor", &self.sensor),
            ("tenant", &self.tenant),
        ] {
            if value.len() > MAX_SHORT_FIELD {
                return Err(format!("{name} is longer than {MAX_SHORT_FIELD} bytes"));
            }
        }
        if self.summary.len() > MAX_SUMMARY {
            return Err(format!("summary is longer than {MAX_SUMMARY} bytes"));
        }
        Ok(())
    }

    /// The one-line text shown in lists: the summary, or the rule name when there is none.
    pub fn headline(&self) -> &str {
        if self.summary.is_empty() {
            &self.rule_name
        } else {
            &self.summary
        }
    }
}

/// Private, loopback, link-local and unique-local addresses: the company side of a flow.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_from_info_to_critical() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::High < Severity::Critical);
        for s in Severity::ALL {
            assert_eq!(Severity::from_rank(s.rank()), s);
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
    }

    #[test]
    fn asset_prefers_the_internal_host_of_a_network_alert() {
        let mut a = Alert::new(Engine::Ids, "ids.beacon", "beacon", Severity::High, "x");
        a.src.ip = Some("10.1.2.3".parse().unwrap());
        a.dst.ip = Some("203.0.113.9".parse().unwrap());
        assert_eq!(a.asset().unwrap().key(), "host:10.1.2.3");
        a.src.ip = Some("198.51.100.7".parse().unwrap());
        a.dst.ip = Some("192.168.0.10".parse().unwrap());
        assert_eq!(a.asset().unwrap().key(), "host:192.168.0.10");
    }

    #[test]
    fn asset_falls_back_to_mail_then_website() {
        let mut a = Alert::new(Engine::Mail, "mail.x", "x", Severity::Low, "x");
        a.src.mail = Some("Taro@Example.co.jp".into());
        assert_eq!(a.asset().unwrap().key(), "mail_account:taro@example.co.jp");
        let mut w = Alert::new(Engine::Waf, "waf.sqli", "x", Severity::Low, "x");
        w.dst.url = Some("https://Shop.example.jp/cart?id=1".into());
        assert_eq!(w.asset().unwrap().key(), "website:shop.example.jp");
        assert_eq!(
            Asset::from_key("website:shop.example.jp"),
            Some(Asset::new(AssetKind::Website, "shop.example.jp"))
        );
    }

    #[test]
    fn json_round_trip_keeps_every_field() {
        let mut a = Alert::new(
            Engine::Waf,
            "waf.942100",
            "SQLi",
            Severity::Critical,
            "SQL injection",
        );
        a.tenant = "acme".into();
        a.dst.url = Some("https://shop/".into());
        a.evidence = serde_json::json!({"matched": "1 OR 1=1"});
        let line = serde_json::to_string(&a).unwrap();
        let b = Alert::from_json(&line).unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.evidence, b.evidence);
        assert_eq!(a.dst, b.dst);
    }

    #[test]
    fn json_errors_say_what_is_wrong() {
        let err =
            Alert::from_json(r#"{"id":"01HZZZZZZZZZZZZZZZZZZZZZZZ","engine":"ids"}"#).unwrap_err();
        assert!(err.contains("missing field"), "{err}");
        let err = Alert::from_json("{not json").unwrap_err();
        assert!(err.contains("key must be a string"), "{err}");
    }
}
