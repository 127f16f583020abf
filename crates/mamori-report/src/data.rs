//! What a monthly report is made of: plain data, gathered from the store by the caller.
//!
//! Nothing here is computed from alerts; the caller (the `mamori report` command) counts and
//! passes the figures. The report only derives rates, totals and the headline from them.
//! Everything serialises to JSON (`report.json` next to `report.html`), so a report can be
//! rendered again, or checked, without the store.
//!
//! Times are shown in the offset they carry: pass them in the tenant's local time (JST,
//! `+09:00`, for Japanese companies).

use crate::error::ReportError;
use mamori_core::{Engine, IncidentState, Severity};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// Everything one tenant's report for one month shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// The tenant's id (as in the store and the console), e.g. `yamada-shoji`.
    pub tenant: String,
    /// The company name printed on the report, e.g. `山田商事株式会社`.
    pub tenant_display: String,
    /// The month reported on.
    pub month: Month,
    /// When the report was made; printed on the cover.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The service provider running Mamori for the tenant, printed on the cover when set.
    #[serde(default)]
    pub provider: Option<String>,
    /// This month's figures.
    pub counts: Counts,
    /// Last month's figures, for the "vs last month" change; `None` for a first report.
    #[serde(default)]
    pub previous: Option<Counts>,
    /// One entry per day that had alerts or blocks; missing days are drawn as zero.
    #[serde(default)]
    pub daily: Vec<DailyCount>,
    /// Alerts per engine this month.
    #[serde(default)]
    pub by_engine: Vec<(Engine, u64)>,
    /// Incidents opened this month, and older ones still open at its end.
    #[serde(default)]
    pub incidents: Vec<IncidentLine>,
    /// Where attacks came from (IP address, country or sender domain) with their count,
    /// most first.
    #[serde(default)]
    pub top_sources: Vec<(String, u64)>,
    /// What was attacked (host, URL, mail account) with its count, most first.
    #[serde(default)]
    pub top_targets: Vec<(String, u64)>,
    /// The website diagnosis; `None` when no scan ran this month.
    #[serde(default)]
    pub scan: Option<ScanSection>,
    /// Targeted-mail training; `None` when no campaign ran this month.
    #[serde(default)]
    pub training: Option<TrainingSection>,
    /// Free remarks from the provider (maintenance done, changes made), printed as written.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The month's figures. The first six are the counts Japanese public reports on SME security
/// services use; the rest describe the monitoring itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Suspicious accesses blocked: IPS drops, WAF blocks, banned scanners.
    pub suspicious_access_blocked: u64,
    /// Malware neutralised: infected attachments removed, malicious downloads stopped.
    pub malware_neutralized: u64,
    /// Connections from company machines to command-and-control servers that were stopped.
    pub c2_stopped: u64,
    /// Outgoing mails held by the outbound guard for confirmation.
    pub mails_held: u64,
    /// Held mails the sender then cancelled: misdeliveries that did not happen (usually a
    /// part of `mails_held`).
    pub misdelivery_prevented: u64,
    /// Incoming phishing mails quarantined.
    pub phishing_quarantined: u64,
    /// Login attacks blocked (brute force, credential stuffing) by the WAF's login protection
    /// and the log analysis. Also counted in `suspicious_access_blocked`.
    pub login_attacks_blocked: u64,
    /// All alerts this month.
    pub alerts_total: u64,
    /// All alerts this month by severity.
    pub alerts_by_severity: BySeverity,
    /// Incidents opened this month.
    pub incidents_opened: u64,
    /// Incidents resolved (or closed as false positives) this month.
    pub incidents_resolved: u64,
}

/// A count per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BySeverity {
    pub info: u64,
    pub low: u64,
    pub medium: u64,
    pub high: u64,
    pub critical: u64,
}

impl BySeverity {
    pub fn get(&self, s: Severity) -> u64 {
        match s {
            Severity::Info => self.info,
            Severity::Low => self.low,
            Severity::Medium => self.medium,
            Severity::High => self.high,
            Severity::Critical => self.critical,
        }
    }

    pub fn add(&mut self, s: Severity, n: u64) {
        let slot = match s {
            Severity::Info => &mut self.info,
            Severity::Low => &mut self.low,
            Severity::Medium => &mut self.medium,
            Severity::High => &mut self.high,
            Severity::Critical => &mut self.critical,
        };
        *slot = slot.saturating_add(n);
    }

    pub fn total(&self) -> u64 {
        [self.info, self.low, self.medium, self.high, self.critical]
            .into_iter()
            .fold(0u64, u64::saturating_add)
    }

    /// High and critical together: what a manager should hear about.
    pub fn serious(&self) -> u64 {
        self.high.saturating_add(self.critical)
    }
}

/// One day of the month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyCount {
    /// Day of the month, 1-based.
    pub day: u8,
    /// Alerts that day by severity.
    #[serde(default)]
    pub alerts: BySeverity,
    /// Accesses, mails and connections blocked that day (all kinds together).
    #[serde(default)]
    pub blocked: u64,
}

/// One incident as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentLine {
    /// What happened, in a few words (the incident's title in the console).
    pub title: String,
    pub severity: Severity,
    /// Where the incident stood at the end of the month.
    pub state: IncidentState,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    /// The PC, account or site concerned, when known.
    #[serde(default)]
    pub asset: Option<String>,
    /// What was done and how it ended, as the analyst wrote it. Empty: the state alone is shown.
    #[serde(default)]
    pub outcome: String,
}

/// The external website diagnosis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSection {
    /// The sites scanned this month (base URLs).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Every finding of this month's scans, including those fixed since last month.
    #[serde(default)]
    pub findings: Vec<ScanFinding>,
    /// Open findings per month, oldest first, ending with this month: `("2026-05", 7)`.
    #[serde(default)]
    pub trend: Vec<(String, u64)>,
}

impl ScanSection {
    /// Findings not fixed, by severity.
    pub fn open_by_severity(&self) -> BySeverity {
        let mut by = BySeverity::default();
        for f in self.findings.iter().filter(|f| f.status.is_open()) {
            by.add(f.severity, 1);
        }
        by
    }
}

/// One finding of the website diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanFinding {
    /// The check's stable id, e.g. `scan.exposed_git`.
    pub id: String,
    pub severity: Severity,
    pub title: String,
    /// Where it was found.
    pub url: String,
    pub status: FindingStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// First seen this month.
    New,
    /// Seen before and still there.
    Open,
    /// Seen before and gone this month.
    Fixed,
}

impl FindingStatus {
    pub fn is_open(self) -> bool {
        !matches!(self, FindingStatus::Fixed)
    }
}

/// Targeted-mail training run this month.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingSection {
    #[serde(default)]
    pub campaigns: Vec<CampaignResult>,
    /// All of the month's campaigns together, per department.
    #[serde(default)]
    pub departments: Vec<DepartmentResult>,
}

impl TrainingSection {
    /// Mails sent and links clicked over all campaigns.
    pub fn sent_and_clicked(&self) -> (u64, u64) {
        self.campaigns.iter().fold((0u64, 0u64), |(s, c), r| {
            (s.saturating_add(r.sent), c.saturating_add(r.clicked))
        })
    }
}

/// One training campaign: how far recipients went with the simulated mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignResult {
    pub name: String,
    /// Training mails delivered.
    pub sent: u64,
    /// Recipients who opened the mail.
    pub opened: u64,
    /// Recipients who clicked its link.
    pub clicked: u64,
    /// Recipients who entered something on the fake page.
    pub submitted: u64,
    /// Recipients who reported the mail as suspicious (the desired reaction).
    pub reported: u64,
}

/// One department's results over the month's campaigns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentResult {
    pub name: String,
    pub sent: u64,
    pub opened: u64,
    pub clicked: u64,
    pub submitted: u64,
    pub reported: u64,
}

/// A calendar month, written `YYYY-MM` in files and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Month {
    year: i32,
    month: u8,
}

impl Month {
    pub fn new(year: i32, month: u8) -> Result<Month, ReportError> {
        let input = format!("{year:04}-{month:02}");
        if !(1..=12).contains(&month) {
            return Err(ReportError::InvalidMonth {
                input,
                reason: "the month must be 01 to 12",
            });
        }
        if !(2000..=9999).contains(&year) {
            return Err(ReportError::InvalidMonth {
                input,
                reason: "the year must be 2000 to 9999",
            });
        }
        Ok(Month { year, month })
    }

    pub fn year(self) -> i32 {
        self.year
    }

    /// 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    pub fn days(self) -> u8 {
        match time::Month::try_from(self.month) {
            Ok(m) => time::util::days_in_month(m, self.year),
            Err(_) => 31,
        }
    }

    pub fn previous(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Month, ReportError> {
        let invalid = |reason| ReportError::InvalidMonth {
            input: s.to_string(),
            reason,
        };
        let (y, m) = s.trim().split_once('-').ok_or_else(|| invalid("no '-'"))?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()))
        {
            return Err(invalid("not four digits, '-', two digits"));
        }
        let year = y.parse().map_err(|_| invalid("bad year"))?;
        let month = m.parse().map_err(|_| invalid("bad month"))?;
        Month::new(year, month).map_err(|e| match e {
            ReportError::InvalidMonth { reason, .. } => invalid(reason),
            other => other,
        })
    }
}

impl TryFrom<String> for Month {
    type Error = ReportError;
    fn try_from(s: String) -> Result<Month, ReportError> {
        s.parse()
    }
}

impl From<Month> for String {
    fn from(m: Month) -> String {
        m.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_parses_yyyy_mm_and_names_what_is_wrong() {
        let m: Month = "2026-10".parse().unwrap();
        assert_eq!((m.year(), m.month(), m.days()), (2026, 10, 31));
        assert_eq!(m.to_string(), "2026-10");
        assert_eq!("2028-02".parse::<Month>().unwrap().days(), 29);
        assert_eq!(
            "2026-01".parse::<Month>().unwrap().previous().to_string(),
            "2025-12"
        );
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-10",
            "2026/10",
            "",
            "２０２６-10",
        ] {
            let err = bad.parse::<Month>().unwrap_err().to_string();
            assert!(err.contains("YYYY-MM"), "{bad}: {err}");
        }
        let err = "2026-13".parse::<Month>().unwrap_err().to_string();
        assert!(err.contains("01 to 12"), "{err}");
    }

    #[test]
    fn month_round_trips_through_json_as_a_string() {
        let m = Month::new(2026, 3).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"2026-03\"");
        assert_eq!(serde_json::from_str::<Month>("\"2026-03\"").unwrap(), m);
        assert!(serde_json::from_str::<Month>("\"2026-3\"").is_err());
    }
}
