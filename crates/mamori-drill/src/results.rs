//! What a campaign found: a funnel of people (sent, opened, clicked, submitted, reported),
//! the same per department and position, a timeline of events, repeat clickers across
//! campaigns, and a CSV export.
//!
//! Counts are of people, not hits: ten clicks by one person are one click. The funnel is
//! cumulative, since mail clients block images: a person who clicked also opened, a person
//! who submitted also clicked. Scanner hits never count; people whose only clicks were
//! scanners' are counted in `bot_clicks`.

use crate::{from_ms, load_campaign, Drill, DrillError, Scope, State};
use rusqlite::params;
use serde::Serialize;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A group of targets.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub members: u32,
}

/// Counts of people at each step, and the rates over those sent to.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Funnel {
    pub sent: u32,
    pub opened: u32,
    pub clicked: u32,
    pub submitted: u32,
    pub reported: u32,
    pub click_rate: f64,
    pub submit_rate: f64,
    pub report_rate: f64,
}

/// The funnel of one department.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentRates {
    pub department: String,
    #[serde(flatten)]
    pub funnel: Funnel,
}

/// The funnel of one position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionRates {
    pub position: String,
    #[serde(flatten)]
    pub funnel: Funnel,
}

/// One event in a campaign's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: String,
    pub email: String,
    pub department: String,
    pub bot: bool,
    pub bot_reason: Option<String>,
}

/// A mail that could not be sent.
#[derive(Debug, Clone, Serialize)]
pub struct SendError {
    pub email: String,
    pub error: String,
}

/// A campaign's results; serialises to the JSON `mamori drill results --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub campaign_id: String,
    pub name: String,
    pub state: State,
    pub recipients: u32,
    pub sent: u32,
    pub opened: u32,
    pub clicked: u32,
    pub submitted: u32,
    pub reported: u32,
    /// People whose only clicks were scanners'.
    pub bot_clicks: u32,
    /// Scanner hits on click links, all recorded.
    pub bot_click_events: u32,
    pub attachment_opened: u32,
    pub errors: u32,
    pub click_rate: f64,
    pub submit_rate: f64,
    pub report_rate: f64,
    pub departments: Vec<DepartmentRates>,
    pub positions: Vec<PositionRates>,
    pub send_errors: Vec<SendError>,
    /// The first 10,000 events, oldest first.
    pub timeline: Vec<TimelineEvent>,
}

/// A person who clicked in more than one campaign.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatClicker {
    pub email: String,
    pub name: String,
    pub department: String,
    pub position: String,
    /// Campaigns in which they clicked.
    pub clicked: u32,
    /// Campaigns that mailed them.
    pub received: u32,
}

/// One campaign's headline numbers, for the monthly report.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignSummary {
    pub campaign_id: String,
    pub name: String,
    pub template_id: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    pub state: State,
    #[serde(flatten)]
    pub funnel: Funnel,
}

/// One recipient's outcome.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub email: String,
    pub name: String,
    pub department: String,
    pub position: String,
    pub sent_at: Option<i64>,
    pub error: Option<String>,
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub submitted_at: Option<i64>,
    pub reported_at: Option<i64>,
    pub attachment_at: Option<i64>,
    pub bot_clicks: u32,
}

impl Outcome {
    fn opened(&self) -> bool {
        self.opened_at.is_some() || self.clicked() || self.attachment_at.is_some()
    }
    fn clicked(&self) -> bool {
        self.clicked_at.is_some() || self.submitted_at.is_some()
    }
}

fn funnel<'a>(outcomes: impl Iterator<Item = &'a Outcome>) -> Funnel {
    let mut f = Funnel::default();
    for o in outcomes {
        f.sent += u32::from(o.sent_at.is_some());
        f.opened += u32::from(o.opened());
        f.clicked += u32::from(o.clicked());
        f.submitted += u32::from(o.submitted_at.is_some());
        f.reported += u32::from(o.reported_at.is_some());
    }
    let rate = |n: u32| {
        if f.sent == 0 {
            0.0
        } else {
            f64::from(n) / f64::from(f.sent)
        }
    };
    f.click_rate = rate(f.clicked);
    f.submit_rate = rate(f.submitted);
    f.report_rate = rate(f.reported);
    f
}

impl Drill {
    pub(crate) fn outcomes(&self, campaign_id: &str) -> Result<Vec<Outcome>, DrillError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT r.email, r.name, r.department, r.position, r.sent_at_ms, r.error,
               MIN(CASE WHEN e.kind = 'open' AND e.bot = 0 THEN e.at_ms END),
               MIN(CASE WHEN e.kind = 'click' AND e.bot = 0 THEN e.at_ms END),
               MIN(CASE WHEN e.kind = 'submit' AND e.bot = 0 THEN e.at_ms END),
               MIN(CASE WHEN e.kind = 'report' THEN e.at_ms END),
               MIN(CASE WHEN e.kind = 'attachment_open' AND e.bot = 0 THEN e.at_ms END),
               COALESCE(SUM(CASE WHEN e.kind = 'click' AND e.bot = 1 THEN 1 ELSE 0 END), 0)
             FROM recipients r LEFT JOIN events e ON e.recipient_id = r.id
             WHERE r.campaign_id = ?1 GROUP BY r.id ORDER BY r.email",
        )?;
        let rows = stmt.query_map([campaign_id], |r| {
            Ok(Outcome {
                email: r.get(0)?,
                name: r.get(1)?,
                department: r.get(2)?,
                position: r.get(3)?,
                sent_at: r.get(4)?,
                error: r.get(5)?,
                opened_at: r.get(6)?,
                clicked_at: r.get(7)?,
                submitted_at: r.get(8)?,
                reported_at: r.get(9)?,
                attachment_at: r.get(10)?,
                bot_clicks: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A campaign's results.
    pub fn results(&self, scope: &Scope, id: &str) -> Result<Results, DrillError> {
        let campaign = self.campaign(scope, id)?;
        let outcomes = self.outcomes(id)?;
        let total = funnel(outcomes.iter());
        let mut departments: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
        let mut positions: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
        for o in &outcomes {
            departments.entry(&o.department).or_default().push(o);
            positions.entry(&o.position).or_default().push(o);
        }
        let timeline = {
            let conn = self.conn();
            let mut stmt = conn.prepare_cached(
                "SELECT e.at_ms, e.kind, r.email, r.department, e.bot, e.bot_reason
                 FROM events e JOIN recipients r ON r.id = e.recipient_id
                 WHERE e.campaign_id = ?1 ORDER BY e.at_ms, e.id LIMIT 10000",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(TimelineEvent {
                    at: from_ms(r.get(0)?),
                    kind: r.get(1)?,
                    email: r.get(2)?,
                    department: r.get(3)?,
                    bot: r.get(4)?,
                    bot_reason: r.get(5)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        Ok(Results {
            campaign_id: campaign.id,
            name: campaign.name,
            state: campaign.state,
            recipients: campaign.recipients,
            sent: total.sent,
            opened: total.opened,
            clicked: total.clicked,
            submitted: total.submitted,
            reported: total.reported,
            bot_clicks: outcomes
                .iter()
                .filter(|o| o.bot_clicks > 0 && !o.clicked())
                .count() as u32,
            bot_click_events: outcomes.iter().map(|o| o.bot_clicks).sum(),
            attachment_opened: outcomes
                .iter()
                .filter(|o| o.attachment_at.is_some())
                .count() as u32,
            errors: outcomes.iter().filter(|o| o.error.is_some()).count() as u32,
            click_rate: total.click_rate,
            submit_rate: total.submit_rate,
            report_rate: total.report_rate,
            departments: departments
                .into_iter()
                .map(|(d, os)| DepartmentRates {
                    department: d.to_string(),
                    funnel: funnel(os.into_iter()),
                })
                .collect(),
            positions: positions
                .into_iter()
                .map(|(p, os)| PositionRates {
                    position: p.to_string(),
                    funnel: funnel(os.into_iter()),
                })
                .collect(),
            send_errors: outcomes
                .iter()
                .filter_map(|o| {
                    o.error.as_ref().map(|e| SendError {
                        email: o.email.clone(),
                        error: e.clone(),
                    })
                })
                .collect(),
            timeline,
        })
    }

    /// One row per recipient: who got the mail and when they first opened, clicked,
    /// submitted, reported. Cells that a spreadsheet would run as formulas are quoted.
    pub fn export_csv(&self, scope: &Scope, id: &str) -> Result<String, DrillError> {
        self.campaign(scope, id)?;
        let time = |ms: Option<i64>| {
            ms.map(|m| {
                from_ms(m)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            })
            .unwrap_or_default()
        };
        let mut out = String::from(
            "email,name,department,position,sent_at,error,opened_at,clicked_at,submitted_at,reported_at,attachment_opened_at,bot_clicks\r\n",
        );
        for o in self.outcomes(id)? {
            let cells = [
                o.email.clone(),
                o.name.clone(),
                o.department.clone(),
                o.position.clone(),
                time(o.sent_at),
                o.error.clone().unwrap_or_default(),
                time(o.opened_at),
                time(o.clicked_at),
                time(o.submitted_at),
                time(o.reported_at),
                time(o.attachment_at),
                o.bot_clicks.to_string(),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    /// People of the tenant who clicked (not as a scanner) in two or more campaigns, most
    /// clicks first.
    pub fn repeat_clickers(&self, tenant: &str) -> Result<Vec<RepeatClicker>, DrillError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT t.email, t.name, t.department, t.position,
               COUNT(DISTINCT CASE WHEN EXISTS (
                 SELECT 1 FROM events e WHERE e.recipient_id = r.id AND e.bot = 0
                   AND e.kind IN ('click', 'submit')) THEN r.campaign_id END) AS clicked,
               COUNT(DISTINCT CASE WHEN r.sent_at_ms IS NOT NULL THEN r.campaign_id END)
             FROM recipients r JOIN targets t ON t.id = r.target_id
             WHERE r.tenant = ?1 AND t.tenant = ?1
             GROUP BY t.id HAVING clicked >= 2 ORDER BY clicked DESC, t.email",
        )?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(RepeatClicker {
                email: r.get(0)?,
                name: r.get(1)?,
                department: r.get(2)?,
                position: r.get(3)?,
                clicked: r.get(4)?,
                received: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant's campaigns started in `[from, to)`, for the monthly report.
    pub fn summary(
        &self,
        tenant: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<CampaignSummary>, DrillError> {
        let ids: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT id FROM campaigns WHERE tenant = ?1 AND started_at_ms >= ?2
                 AND started_at_ms < ?3 ORDER BY started_at_ms",
            )?;
            let rows = stmt
                .query_map(params![tenant, crate::to_ms(from), crate::to_ms(to)], |r| {
                    r.get(0)
                })?;
            rows.collect::<Result<_, _>>()?
        };
        let scope = Scope::Tenant(tenant.to_string());
        ids.iter()
            .map(|id| {
                let campaign = {
                    let conn = self.conn();
                    load_campaign(&conn, &scope, id)?
                };
                let outcomes = self.outcomes(id)?;
                Ok(CampaignSummary {
                    campaign_id: campaign.id,
                    name: campaign.name,
                    template_id: campaign.template_id,
                    started_at: campaign.started_at,
                    state: campaign.state,
                    funnel: funnel(outcomes.iter()),
                })
            })
            .collect()
    }
}

/// RFC 4180 quoting, and a leading `'` for cells starting like a formula.
fn csv_cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funnel_counts_people_cumulatively() {
        let sent = Some(1);
        let people = [
            Outcome {
                sent_at: sent,
                ..Outcome::default()
            },
            Outcome {
                sent_at: sent,
                opened_at: Some(2),
                ..Outcome::default()
            },
            Outcome {
                sent_at: sent,
                clicked_at: Some(3),
                ..Outcome::default()
            },
            Outcome {
                sent_at: sent,
                submitted_at: Some(4),
                reported_at: Some(5),
                ..Outcome::default()
            },
        ];
        let f = funnel(people.iter());
        assert_eq!(
            (f.sent, f.opened, f.clicked, f.submitted, f.reported),
            (4, 3, 2, 1, 1)
        );
        assert_eq!(f.click_rate, 0.5);
        assert_eq!(f.report_rate, 0.25);
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
