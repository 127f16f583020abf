//! The monthly report's figures, gathered from the store for one tenant and one month (JST),
//! for `mamori report`, the console's Reports page and the scheduled run on the 1st.
//!
//! How alerts become the public counts (the way Japanese SME security services report them):
//! - **suspicious accesses blocked**: alerts whose evidence says the request or packet was
//!   blocked (`action: blocked`, as the WAF's audit record and Suricata's EVE write it; WAF
//!   `blocked:`/`refused:` alerts); **login attacks blocked** are those of the WAF's login
//!   protection (`waf.login.*`) or in the credential-access category;
//! - **C2 communications stopped**: blocked alerts in the command-and-control category (or
//!   naming C2/CnC/beacon), plus block actions taken on incidents with such alerts;
//! - **malware neutralised** / **phishing quarantined**: inbound mail quarantined or rejected,
//!   split by whether a reason concerns an attachment (archive, macro, executable, malware);
//! - **mails held**: outbound mail held for confirmation; **misdeliveries prevented**:
//!   outbound mail whose exposed recipients were turned into Bcc, and held mail the sender
//!   cancelled (deleted from the hold queue).
//!
//! At most [`MAX_ALERTS`] alerts are read per month; beyond that the report says so.

use crate::ConsoleError;
use mamori_core::{Engine, IncidentState, Scope, Severity};
use mamori_report::{Counts, DailyCount, IncidentLine, Month, ReportData};
use mamori_store::{ActionKind, ActionQuery, AlertQuery, DynStore, IncidentQuery, StoredAlert};
use std::collections::{HashMap, HashSet};
use time::{OffsetDateTime, UtcOffset};

/// Alerts read for one month's report.
pub const MAX_ALERTS: usize = 500_000;
const JST: UtcOffset = time::macros::offset!(+9);

/// The first instant of `month` and of the next, in JST.
pub fn month_bounds(month: Month) -> Result<(OffsetDateTime, OffsetDateTime), ConsoleError> {
    let start = |y: i32, m: u8| -> Result<OffsetDateTime, ConsoleError> {
        let m = time::Month::try_from(m).map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
        let d = time::Date::from_calendar_date(y, m, 1)
            .map_err(|e| ConsoleError::BadRequest(e.to_string()))?;
        Ok(d.midnight().assume_offset(JST))
    };
    let from = start(month.year(), month.month())?;
    let (ny, nm) = if month.month() == 12 {
        (month.year() + 1, 1)
    } else {
        (month.year(), month.month() + 1)
    };
    Ok((from, start(ny, nm)?))
}

/// The month before the current one in JST (what the 1st's run reports on); `None` only
/// for clocks outside the years a report can name.
pub fn last_month(now: OffsetDateTime) -> Option<Month> {
    let d = now.to_offset(JST);
    Month::new(d.year(), d.month() as u8)
        .ok()
        .map(Month::previous)
}

/// Everything about one month's alerts the report needs.
#[derive(Default)]
struct Tally {
    counts: Counts,
    daily: HashMap<u8, DailyCount>,
    engines: HashMap<Engine, u64>,
    sources: HashMap<String, u64>,
    targets: HashMap<String, u64>,
    c2_incidents: HashSet<mamori_core::Ulid>,
    read: usize,
}

fn contains_any(text: &str, words: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
}

impl Tally {
    fn add(&mut self, s: &StoredAlert) {
        let a = &s.alert;
        self.read += 1;
        let c = &mut self.counts;
        c.alerts_total += 1;
        c.alerts_by_severity.add(a.severity, 1);
        *self.engines.entry(a.engine).or_default() += 1;
        let day = a.time.to_offset(JST).day();
        let daily = self.daily.entry(day).or_insert_with(|| DailyCount {
            day,
            ..DailyCount::default()
        });
        daily.alerts.add(a.severity, 1);
        let ev = &a.evidence;
        let c2 = a.category.as_deref() == Some("command-and-control")
            || contains_any(
                &a.rule_name,
                &["c2", "cnc", "beacon", "command and control"],
            );
        if c2 {
            if let Some(i) = s.incident {
                self.c2_incidents.insert(i);
            }
        }
        let action = ev
            .pointer("/alert/action")
            .or_else(|| ev.get("action"))
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let mut blocked = false;
        match a.engine {
            Engine::Mail => {
                let verdict = ev.get("verdict").and_then(|v| v.as_str()).unwrap_or(action);
                let inbound = ev.get("direction").and_then(|v| v.as_str()) == Some("inbound")
                    || a.category.as_deref() == Some("initial-access");
                let reasons = ev.get("reasons").map(|r| r.to_string()).unwrap_or_default();
                match (inbound, verdict) {
                    (true, "quarantine" | "quarantined" | "reject" | "rejected") => {
                        blocked = true;
                        let attachment = contains_any(
                            &format!("{} {reasons}", a.rule_id),
                            &[
                                "zip",
                                "macro",
                                "exe",
                                "malware",
                                "virus",
                                "attachment",
                                "emotet",
                                "archive",
                                "encrypted",
                            ],
                        );
                        if attachment {
                            c.malware_neutralized += 1;
                        } else {
                            c.phishing_quarantined += 1;
                        }
                    }
                    (false, "hold" | "held") => {
                        blocked = true;
                        c.mails_held += 1;
                    }
                    (false, "bcc") => {
                        blocked = true;
                        c.misdelivery_prevented += 1;
                    }
                    _ => {}
                }
            }
            _ if action == "blocked"
                || (a.engine == Engine::Waf
                    && (a.summary.starts_with("blocked:")
                        || a.summary.starts_with("refused:"))) =>
            {
                blocked = true;
                c.suspicious_access_blocked += 1;
                if a.rule_id.starts_with("waf.login")
                    || a.category.as_deref() == Some("credential-access")
                {
                    c.login_attacks_blocked += 1;
                }
                if c2 {
                    c.c2_stopped += 1;
                }
            }
            _ => {}
        }
        if blocked {
            daily.blocked += 1;
        }
        let source = a.src.ip.map(|ip| ip.to_string()).or_else(|| {
            a.src
                .mail
                .as_deref()
                .and_then(|m| m.rsplit_once('@'))
                .map(|(_, d)| d.to_lowercase())
        });
        if let Some(s) = source {
            *self.sources.entry(s).or_default() += 1;
        }
        if let Some(t) = a.asset() {
            *self.targets.entry(t.key()).or_default() += 1;
        }
    }
}

/// Reads the tenant's alerts of the month.
async fn tally(
    store: &DynStore,
    scope: &Scope,
    tenant: &str,
    month: Month,
) -> Result<Tally, ConsoleError> {
    let (from, to) = month_bounds(month)?;
    let mut tally = Tally::default();
    let mut q = AlertQuery {
        tenant: Some(tenant.to_string()),
        from: Some(from),
        to: Some(to),
        limit: mamori_store::MAX_PAGE,
        ..AlertQuery::default()
    };
    loop {
        let page = store.alerts(scope, &q).await?;
        for s in &page.items {
            tally.add(s);
        }
        match page.next {
            Some(n) if tally.read < MAX_ALERTS => q.cursor = Some(n),
            _ => break,
        }
    }
    // Blocks taken on C2 incidents stopped that communication.
    let actions = store
        .actions(
            scope,
            &ActionQuery {
                tenant: Some(tenant.to_string()),
                limit: mamori_store::MAX_PAGE,
                ..ActionQuery::default()
            },
        )
        .await?;
    tally.counts.c2_stopped += actions
        .iter()
        .filter(|a| a.created_at >= from && a.created_at < to)
        .filter(|a| matches!(a.kind, ActionKind::BlockIp | ActionKind::BlockDomain))
        .filter(|a| a.incident.is_some_and(|i| tally.c2_incidents.contains(&i)))
        .count() as u64;
    Ok(tally)
}

fn top(map: HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<_> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

/// The report's data for `tenant` and `month`, as the store (and the training database, when
/// there is one) has it now.
pub async fn gather(
    store: &DynStore,
    data_dir: Option<&std::path::Path>,
    drill: Option<&mamori_drill::Drill>,
    scope: &Scope,
    tenant: &str,
    month: Month,
) -> Result<ReportData, ConsoleError> {
    let t = store
        .tenant(scope, tenant)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let (from, to) = month_bounds(month)?;
    let tally_now = tally(store, scope, tenant, month).await?;
    let previous = tally(store, scope, tenant, month.previous()).await?;
    let Tally {
        mut counts,
        daily,
        engines,
        sources,
        targets,
        read,
        ..
    } = tally_now;

    // Incidents opened this month, and older ones still open at its end.
    let mut incidents = Vec::new();
    let mut q = IncidentQuery {
        tenant: Some(tenant.to_string()),
        limit: mamori_store::MAX_PAGE,
        ..IncidentQuery::default()
    };
    let mut seen = 0usize;
    loop {
        let page = store.incidents(scope, &q).await?;
        for inc in &page.items {
            seen += 1;
            let opened_in_month = inc.first_seen >= from && inc.first_seen < to;
            if opened_in_month {
                counts.incidents_opened += 1;
            }
            let closed = matches!(
                inc.state,
                IncidentState::Resolved | IncidentState::FalsePositive
            );
            if closed && inc.updated_at >= from && inc.updated_at < to {
                counts.incidents_resolved += 1;
            }
            let open_at_end = !closed && inc.first_seen < to;
            if (opened_in_month || open_at_end)
                && inc.severity >= Severity::Low
                && incidents.len() < 200
            {
                incidents.push(inc.clone());
            }
        }
        // Pages are newest first by last activity: older ones cannot have been seen this month.
        let past = page.items.last().is_some_and(|i| i.last_seen < from);
        match page.next {
            Some(n) if !past && seen < 20_000 => q.cursor = Some(n),
            _ => break,
        }
    }
    incidents.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.first_seen.cmp(&b.first_seen))
    });
    let mut lines = Vec::with_capacity(incidents.len());
    for inc in incidents {
        // The outcome is the last note an analyst wrote.
        let outcome = store
            .timeline(scope, inc.id)
            .await?
            .into_iter()
            .rev()
            .find_map(|e| match e.kind {
                mamori_core::TimelineKind::Note { text } => Some(text),
                _ => None,
            })
            .unwrap_or_default();
        lines.push(IncidentLine {
            title: inc.title.clone(),
            severity: inc.severity,
            state: inc.state,
            opened_at: inc.first_seen.to_offset(JST),
            asset: Some(inc.asset.clone()),
            outcome: outcome.chars().take(300).collect(),
        });
    }
    let mut daily: Vec<DailyCount> = daily.into_values().collect();
    daily.sort_by_key(|d| d.day);
    let mut by_engine: Vec<(Engine, u64)> = engines.into_iter().collect();
    by_engine.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
    let mut notes = Vec::new();
    if read >= MAX_ALERTS {
        notes.push(format!(
            "この月のアラートは {MAX_ALERTS} 件を超えたため、最初の {MAX_ALERTS} 件で集計しています。 / More than {MAX_ALERTS} alerts this month: the figures count the first {MAX_ALERTS}."
        ));
    }
    Ok(ReportData {
        tenant: t.name.clone(),
        tenant_display: t.display_name.clone(),
        month,
        generated_at: OffsetDateTime::now_utc().to_offset(JST),
        provider: None,
        counts,
        previous: (previous.read > 0).then_some(previous.counts),
        daily,
        by_engine,
        incidents: lines,
        top_sources: top(sources, 8),
        top_targets: top(targets, 8),
        scan: data_dir.and_then(|d| crate::scans::report_section(d, tenant, month, to)),
        training: match drill {
            Some(d) => training(d, tenant, from, to).await?,
            None => None,
        },
        notes,
    })
}

/// The month's training campaigns (started in it), with all their people by department.
async fn training(
    drill: &mamori_drill::Drill,
    tenant: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Option<mamori_report::TrainingSection>, ConsoleError> {
    let (d, t) = (drill.clone(), tenant.to_string());
    let found = tokio::task::spawn_blocking(move || {
        let summaries = d.summary(&t, from, to)?;
        let mut departments: std::collections::BTreeMap<String, mamori_report::DepartmentResult> =
            Default::default();
        for s in &summaries {
            let r = d.results(&Scope::Tenant(t.clone()), &s.campaign_id)?;
            for dep in r.departments {
                let e = departments
                    .entry(dep.department.clone())
                    .or_insert_with(|| mamori_report::DepartmentResult {
                        name: dep.department.clone(),
                        ..Default::default()
                    });
                e.sent += u64::from(dep.funnel.sent);
                e.opened += u64::from(dep.funnel.opened);
                e.clicked += u64::from(dep.funnel.clicked);
                e.submitted += u64::from(dep.funnel.submitted);
                e.reported += u64::from(dep.funnel.reported);
            }
        }
        Ok::<_, mamori_drill::DrillError>((summaries, departments))
    })
    .await
    .map_err(|e| ConsoleError::Internal(e.to_string()))?
    .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let (summaries, departments) = found;
    if summaries.is_empty() {
        return Ok(None);
    }
    Ok(Some(mamori_report::TrainingSection {
        campaigns: summaries
            .into_iter()
            .map(|s| mamori_report::CampaignResult {
                name: s.name,
                sent: u64::from(s.funnel.sent),
                opened: u64::from(s.funnel.opened),
                clicked: u64::from(s.funnel.clicked),
                submitted: u64::from(s.funnel.submitted),
                reported: u64::from(s.funnel.reported),
            })
            .collect(),
        departments: departments.into_values().collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_bounded_in_japan_time() {
        let (from, to) = month_bounds("2026-12".parse().unwrap()).unwrap();
        assert_eq!(from.to_string(), "2026-12-01 0:00:00.0 +09:00:00");
        assert_eq!(to.to_string(), "2027-01-01 0:00:00.0 +09:00:00");
        let now = time::macros::datetime!(2026-10-31 16:00 UTC); // 1 Nov 01:00 JST
        assert_eq!(last_month(now).unwrap().to_string(), "2026-10");
    }

    #[test]
    fn blocked_waf_and_ids_c2_count_as_the_public_reports_do() {
        let mut t = Tally::default();
        let mut waf = mamori_core::Alert::new(
            Engine::Waf,
            "waf.login.ip_failures",
            "Login protection",
            Severity::Medium,
            "refused: POST /login",
        );
        waf.time = time::macros::datetime!(2026-10-03 01:00 UTC);
        t.add(&StoredAlert {
            alert: waf,
            incident: None,
        });
        let mut ids = mamori_core::Alert::new(
            Engine::Ids,
            "ids.2024897",
            "ET MALWARE C2 beacon",
            Severity::High,
            "x",
        );
        ids.evidence = serde_json::json!({"alert": {"action": "blocked"}});
        t.add(&StoredAlert {
            alert: ids,
            incident: None,
        });
        let mut mail = mamori_core::Alert::new(
            Engine::Mail,
            "mail.encrypted_zip",
            "Encrypted zip",
            Severity::Medium,
            "x",
        );
        mail.evidence =
            serde_json::json!({"verdict": "quarantine", "direction": "inbound", "reasons": []});
        t.add(&StoredAlert {
            alert: mail,
            incident: None,
        });
        let mut held = mamori_core::Alert::new(
            Engine::Mail,
            "mail.many_external_recipients",
            "Cc",
            Severity::Medium,
            "x",
        );
        held.evidence = serde_json::json!({"verdict": "bcc", "direction": "outbound"});
        t.add(&StoredAlert {
            alert: held,
            incident: None,
        });
        let c = &t.counts;
        assert_eq!(
            (
                c.suspicious_access_blocked,
                c.login_attacks_blocked,
                c.c2_stopped
            ),
            (2, 1, 1)
        );
        assert_eq!(
            (
                c.malware_neutralized,
                c.phishing_quarantined,
                c.misdelivery_prevented
            ),
            (1, 0, 1)
        );
        assert_eq!(c.alerts_total, 4);
        assert_eq!(t.daily[&3].blocked, 1);
    }
}
