//! Notifications in `mamori up`: a watcher follows the store's incidents (opened, more
//! severe, more alerts, resolved) and hands them to the notifier of `[notify]`, which applies
//! the rules, throttling and quiet hours and sends mail and webhooks (`mamori-notify`).
//!
//! The watcher polls the most recently active incidents every few seconds, so it works the
//! same on SQLite and PostgreSQL and whoever stored the alerts. Incidents that already exist
//! when it starts are taken as known: a restart does not repeat old news.

use anyhow::{Context, Result};
use mamori_core::{Incident, IncidentState, Scope, Severity};
use mamori_notify::{Notice, NotifyConfig, Trigger};
use mamori_store::{AlertQuery, DynStore, IncidentQuery};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// The `[notify]` table as the notifier's configuration, or `None` when it has no rules.
pub fn configured(config: &mamori_core::config::Config) -> Result<Option<NotifyConfig>> {
    if config.notify.is_empty() {
        return Ok(None);
    }
    let cfg: NotifyConfig = toml::Value::Table(config.notify.clone())
        .try_into()
        .map_err(|e| anyhow::anyhow!("[notify]: {e}"))?;
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("[notify]: {e}"))?;
    Ok((!cfg.rules.is_empty()).then_some(cfg))
}

/// What the watcher last saw of an incident.
#[derive(Clone, Copy)]
struct Seen {
    severity: Severity,
    closed: bool,
    alerts: i64,
}

fn closed(s: IncidentState) -> bool {
    matches!(s, IncidentState::Resolved | IncidentState::FalsePositive)
}

/// Incidents remembered at most (the oldest are forgotten first).
const MAX_SEEN: usize = 50_000;

/// How an incident changed since it was last seen, if it did.
fn change(prev: Option<Seen>, inc: &Incident) -> Option<Trigger> {
    let now_closed = closed(inc.state);
    match prev {
        None if now_closed => None,
        None => Some(Trigger::Opened),
        Some(p) if inc.severity > p.severity && !now_closed => {
            Some(Trigger::SeverityRaised { from: p.severity })
        }
        Some(p) if now_closed && !p.closed => Some(Trigger::Resolved),
        Some(p) if !now_closed && p.closed => Some(Trigger::Opened),
        Some(p) if inc.alert_count > p.alerts && !now_closed => Some(Trigger::Updated),
        Some(_) => None,
    }
}

/// Runs the notifier and its watcher until the process stops.
pub async fn run(store: DynStore, cfg: NotifyConfig, data: &Path) -> Result<()> {
    let notifier = mamori_notify::Notifier::new(cfg, data).context("[notify]")?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Notice>(1000);
    let runner = tokio::spawn(notifier.run(rx, crate::up::shutdown_signal()));
    let mut seen: HashMap<mamori_core::Ulid, (Seen, u64)> = HashMap::new();
    let mut round = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::up::shutdown_signal() => break,
        }
        let page = match store
            .incidents(
                &Scope::All,
                &IncidentQuery {
                    limit: mamori_store::MAX_PAGE,
                    ..IncidentQuery::default()
                },
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "notifications: reading incidents failed");
                continue;
            }
        };
        for inc in page.items {
            let prev = seen.get(&inc.id).map(|(s, _)| *s);
            let trigger = if round == 0 { None } else { change(prev, &inc) };
            seen.insert(
                inc.id,
                (
                    Seen {
                        severity: inc.severity,
                        closed: closed(inc.state),
                        alerts: inc.alert_count,
                    },
                    round,
                ),
            );
            let Some(trigger) = trigger else { continue };
            let top = store
                .alerts(
                    &Scope::All,
                    &AlertQuery {
                        incident: Some(inc.id),
                        limit: 20,
                        ..AlertQuery::default()
                    },
                )
                .await
                .map(|p| p.items)
                .unwrap_or_default();
            let mut engines: Vec<_> = top.iter().map(|a| a.alert.engine).collect();
            engines.sort_by_key(|e| e.as_str());
            engines.dedup();
            let summary = top
                .iter()
                .max_by_key(|a| a.alert.severity)
                .map(|a| a.alert.headline().to_string())
                .unwrap_or_else(|| inc.title.clone());
            if tx
                .send(Notice {
                    incident: inc,
                    trigger,
                    engines,
                    summary,
                    link: None,
                })
                .await
                .is_err()
            {
                break;
            }
        }
        if seen.len() > MAX_SEEN {
            let cutoff = round.saturating_sub(100);
            seen.retain(|_, (_, r)| *r >= cutoff);
        }
        round += 1;
    }
    drop(tx);
    let _ = runner.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(severity: Severity, state: IncidentState, alerts: i64) -> Incident {
        let now = time::OffsetDateTime::now_utc();
        Incident {
            id: mamori_core::Ulid::new(),
            tenant: "acme".into(),
            asset: "host:10.0.0.5".into(),
            title: "x".into(),
            severity,
            state,
            assignee: None,
            alert_count: alerts,
            first_seen: now,
            last_seen: now,
            updated_at: now,
            first_response: None,
            contained: None,
        }
    }

    #[test]
    fn changes_become_the_right_triggers() {
        let seen = |severity, closed, alerts| {
            Some(Seen {
                severity,
                closed,
                alerts,
            })
        };
        let open = IncidentState::New;
        assert_eq!(
            change(None, &incident(Severity::High, open, 1)),
            Some(Trigger::Opened)
        );
        assert_eq!(
            change(None, &incident(Severity::High, IncidentState::Resolved, 1)),
            None
        );
        assert_eq!(
            change(
                seen(Severity::Medium, false, 1),
                &incident(Severity::High, open, 2)
            ),
            Some(Trigger::SeverityRaised {
                from: Severity::Medium
            })
        );
        assert_eq!(
            change(
                seen(Severity::High, false, 1),
                &incident(Severity::High, open, 5)
            ),
            Some(Trigger::Updated)
        );
        assert_eq!(
            change(
                seen(Severity::High, false, 5),
                &incident(Severity::High, IncidentState::Resolved, 5)
            ),
            Some(Trigger::Resolved)
        );
        assert_eq!(
            change(
                seen(Severity::High, false, 5),
                &incident(Severity::High, open, 5)
            ),
            None
        );
    }
}
