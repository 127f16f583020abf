//! What a scan reports: findings, the report of one scan, the difference between two
//! scans and the conversion to Mamori alerts.

use crate::catalog;
use mamori_core::{Alert, Asset, AssetKind, Engine, Severity};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use time::OffsetDateTime;

/// Evidence is cut to this many bytes so a finding stays readable and storable.
pub const MAX_EVIDENCE: usize = 2048;

/// One problem found on the target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable check id (`exposed_git`); the alert's rule id is `scan.<id>`.
    pub id: String,
    pub severity: Severity,
    /// `tls`, `headers`, `cookies`, `exposure`, `admin`, `software`, `service`, `privacy`,
    /// `mail` or `template`.
    pub category: String,
    pub title_en: String,
    pub title_ja: String,
    /// The exact URL that shows the problem (`tcp://host:port` for services, `dns:name` for
    /// mail records).
    pub url: String,
    /// The request and the matching part of the response.
    pub evidence: String,
    pub advice_en: String,
    pub advice_ja: String,
}

impl Finding {
    /// A finding of a built-in check. Unknown ids are a programming error caught by tests;
    /// they still produce a finding rather than a panic.
    pub fn builtin(id: &str, url: impl Into<String>, evidence: impl Into<String>) -> Finding {
        let e = catalog::entry(id);
        Finding {
            id: id.to_string(),
            severity: e.map_or(Severity::Medium, |e| e.severity),
            category: e.map_or("other", |e| e.category).to_string(),
            title_en: e.map_or(id, |e| e.title_en).to_string(),
            title_ja: e.map_or(id, |e| e.title_ja).to_string(),
            url: url.into(),
            evidence: bound(evidence.into()),
            advice_en: e.map_or("", |e| e.advice_en).to_string(),
            advice_ja: e.map_or("", |e| e.advice_ja).to_string(),
        }
    }

    /// Appends a specific detail to both titles: "… : contact-form-7 5.3.1".
    pub fn detail(mut self, detail: &str) -> Finding {
        self.title_en = format!("{}: {detail}", self.title_en);
        self.title_ja = format!("{}: {detail}", self.title_ja);
        self
    }

    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }

    pub fn title(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.title_en,
            Lang::Ja => &self.title_ja,
        }
    }

    pub fn advice(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.advice_en,
            Lang::Ja => &self.advice_ja,
        }
    }

    /// The alert stored for this finding, on the website asset `site` (a host name).
    pub fn to_alert(&self, tenant: &str, site: &str) -> Alert {
        let mut alert = Alert::new(
            Engine::Scan,
            format!("scan.{}", self.id),
            self.title_en.clone(),
            self.severity,
            format!("{}: {}", self.title_en, self.url),
        );
        alert.tenant = tenant.to_string();
        alert.category = Some(self.category.clone());
        alert.asset = Some(Asset::new(AssetKind::Website, site));
        alert.dst.url = Some(self.url.clone());
        alert.evidence = serde_json::json!({
            "url": self.url,
            "evidence": self.evidence,
            "title_ja": self.title_ja,
            "advice_en": self.advice_en,
            "advice_ja": self.advice_ja,
        });
        alert
    }

    fn key(&self) -> (&str, &str) {
        (&self.id, &self.url)
    }
}

/// Cuts evidence at a character boundary.
pub(crate) fn bound(mut s: String) -> String {
    if s.len() > MAX_EVIDENCE {
        let mut cut = MAX_EVIDENCE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" …");
    }
    s
}

/// The language of `title` and `advice` in the CLI's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

/// The result of one scan. Findings found before an error are kept; errors say what could
/// not be checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    pub target: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished: OffsetDateTime,
    /// HTTP requests and TCP/TLS connections made to the target.
    pub requests_sent: usize,
    pub findings: Vec<Finding>,
    pub errors: Vec<String>,
}

impl ScanReport {
    /// The CLI's JSON: `{"target", "findings": [{"id", "severity", "title", "url",
    /// "evidence", "advice", …}], …}` with `title`/`advice` in `lang` and both languages in
    /// `title_ja`/`title_en`/`advice_ja`/`advice_en`.
    pub fn to_json(&self, lang: Lang) -> serde_json::Value {
        let findings: Vec<_> = self
            .findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "id": f.id,
                    "severity": f.severity,
                    "title": f.title(lang),
                    "url": f.url,
                    "evidence": f.evidence,
                    "advice": f.advice(lang),
                    "category": f.category,
                    "title_en": f.title_en,
                    "title_ja": f.title_ja,
                    "advice_en": f.advice_en,
                    "advice_ja": f.advice_ja,
                })
            })
            .collect();
        let ts = |t: OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        };
        serde_json::json!({
            "target": self.target,
            "started": ts(self.started),
            "finished": ts(self.finished),
            "requests_sent": self.requests_sent,
            "findings": findings,
            "errors": self.errors,
        })
    }

    /// Whether a finding with this id exists (any URL).
    pub fn has(&self, id: &str) -> bool {
        self.findings.iter().any(|f| f.id == id)
    }
}

/// How the findings changed between two scans of the same target, keyed by (id, url).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    pub new: Vec<Finding>,
    pub fixed: Vec<Finding>,
    pub still_open: Vec<Finding>,
}

/// Compares two scans. A finding counts as fixed only when the current scan could have
/// seen it; callers showing "fixed" should also show the current scan's errors.
pub fn diff(previous: &ScanReport, current: &ScanReport) -> Diff {
    let before: HashSet<_> = previous.findings.iter().map(Finding::key).collect();
    let now: HashSet<_> = current.findings.iter().map(Finding::key).collect();
    let mut d = Diff::default();
    for f in &current.findings {
        if before.contains(&f.key()) {
            d.still_open.push(f.clone());
        } else {
            d.new.push(f.clone());
        }
    }
    for f in &previous.findings {
        if !now.contains(&f.key()) {
            d.fixed.push(f.clone());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(findings: Vec<Finding>) -> ScanReport {
        ScanReport {
            target: "https://example.jp/".into(),
            started: OffsetDateTime::UNIX_EPOCH,
            finished: OffsetDateTime::UNIX_EPOCH,
            requests_sent: 0,
            findings,
            errors: vec![],
        }
    }

    #[test]
    fn diff_keys_on_id_and_url() {
        let a = Finding::builtin("exposed_git", "https://example.jp/.git/config", "x");
        let b = Finding::builtin("exposed_env", "https://example.jp/.env", "x");
        let c = Finding::builtin("directory_listing", "https://example.jp/files/", "x");
        let c2 = Finding::builtin("directory_listing", "https://example.jp/img/", "x");
        let d = diff(
            &report(vec![a.clone(), b.clone(), c.clone()]),
            &report(vec![b.clone(), c2.clone(), c.clone()]),
        );
        assert_eq!(d.new, vec![c2]);
        assert_eq!(d.fixed, vec![a]);
        assert_eq!(d.still_open, vec![b, c]);
    }

    #[test]
    fn alert_names_scan_rule_and_website_asset() {
        let f = Finding::builtin("exposed_env", "https://example.jp/.env", "GET /.env");
        let alert = f.to_alert("acme", "example.jp");
        assert_eq!(alert.rule_id, "scan.exposed_env");
        assert_eq!(alert.engine, Engine::Scan);
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.asset().unwrap().key(), "website:example.jp");
        assert!(alert.validate().is_ok());
    }

    #[test]
    fn json_has_the_cli_shape_in_the_chosen_language() {
        let f = Finding::builtin("exposed_env", "https://example.jp/.env", "GET /.env");
        let v = report(vec![f]).to_json(Lang::Ja);
        let f = &v["findings"][0];
        for key in ["id", "severity", "title", "url", "evidence", "advice"] {
            assert!(f.get(key).is_some(), "{key}");
        }
        assert_eq!(f["severity"], "critical");
        assert!(f["title"].as_str().unwrap().contains(".env"));
        assert!(f["advice"].as_str().unwrap().contains("パスワード"));
    }

    #[test]
    fn evidence_is_bounded_at_a_char_boundary() {
        let f = Finding::builtin("exposed_env", "u", "あ".repeat(5000));
        assert!(f.evidence.len() <= MAX_EVIDENCE + 4);
    }
}
