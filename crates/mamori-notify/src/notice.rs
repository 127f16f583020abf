//! What the console hands the notifier: a [`Notice`] about an incident and why it is sent
//! ([`Trigger`]), and which rules it concerns.

use crate::config::Rule;
use mamori_core::{Engine, Incident, Severity};
use serde::{Deserialize, Serialize};

/// Why a notice is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A new incident.
    Opened,
    /// A new alert made the incident more severe.
    SeverityRaised { from: Severity },
    /// More alerts on an open incident.
    Updated,
    /// The incident was resolved (or marked a false positive).
    Resolved,
}

impl Trigger {
    /// The stable name used in the log and the generic JSON body.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Opened => "opened",
            Trigger::SeverityRaised { .. } => "severity_raised",
            Trigger::Updated => "updated",
            Trigger::Resolved => "resolved",
        }
    }
}

/// One change of an incident worth telling people about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub incident: Incident,
    pub trigger: Trigger,
    /// The engines whose alerts the incident holds (an incident carries no engine itself);
    /// rules with `engines` match when one of them is listed.
    #[serde(default)]
    pub engines: Vec<Engine>,
    /// The most severe alert's headline: what happened, in one line.
    pub summary: String,
    /// A link to the incident; derived from `console_url` when absent.
    #[serde(default)]
    pub link: Option<String>,
}

impl Rule {
    /// This rule wants to hear about the notice's incident.
    pub fn matches(&self, notice: &Notice) -> bool {
        let incident = &notice.incident;
        self.tenant.as_ref().is_none_or(|t| *t == incident.tenant)
            && incident.severity >= self.min_severity
            && (self.engines.is_empty() || notice.engines.iter().any(|e| self.engines.contains(e)))
            && self.asset_prefix.as_ref().is_none_or(|p| {
                incident
                    .asset
                    .to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
            })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mamori_core::IncidentState;
    use time::macros::datetime;

    /// An open incident for tests.
    pub(crate) fn incident(tenant: &str, severity: Severity) -> Incident {
        let t = datetime!(2025-03-01 10:00 +09:00);
        Incident {
            id: ulid::Ulid::new(),
            tenant: tenant.into(),
            asset: "host:10.0.0.5".into(),
            title: "C2 サーバーへの定期通信".into(),
            severity,
            state: IncidentState::New,
            assignee: None,
            alert_count: 1,
            first_seen: t,
            last_seen: t,
            updated_at: t,
            first_response: None,
            contained: None,
        }
    }

    pub(crate) fn notice(incident: Incident, trigger: Trigger) -> Notice {
        Notice {
            incident,
            trigger,
            engines: vec![Engine::Ids],
            summary: "10.0.0.5 が 203.0.113.7 へ 4,126 回通信".into(),
            link: None,
        }
    }

    fn rule(text: &str) -> Rule {
        toml::from_str(&format!(
            "name = \"r\"\nwebhook = {{ url = \"https://h.example/x\" }}\n{text}"
        ))
        .expect("test rule parses")
    }

    #[test]
    fn rules_match_on_tenant_severity_engine_and_asset() {
        let n = notice(incident("acme", Severity::High), Trigger::Opened);
        assert!(rule("").matches(&n));
        assert!(rule("tenant = \"acme\"").matches(&n));
        assert!(!rule("tenant = \"other\"").matches(&n));
        assert!(rule("min_severity = \"high\"").matches(&n));
        assert!(!rule("min_severity = \"critical\"").matches(&n));
        assert!(rule("engines = [\"mail\", \"ids\"]").matches(&n));
        assert!(!rule("engines = [\"waf\"]").matches(&n));
        assert!(rule("asset_prefix = \"HOST:10.0.\"").matches(&n));
        assert!(!rule("asset_prefix = \"mail_account:\"").matches(&n));
        let low = notice(incident("acme", Severity::Low), Trigger::Opened);
        assert!(!rule("").matches(&low), "default min_severity is medium");
    }
}
