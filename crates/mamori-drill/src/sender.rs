//! The sender: mails each campaign's due recipients through the campaign's SMTP server,
//! within its per-minute limit, and moves campaigns along as their mails go out.
//!
//! One round ([`Drill::send_due`]): advance states (scheduled → sending when a mail is
//! due, → running when none is left, → completed after `complete_after_hours`), pick each
//! sending campaign's due recipients up to its budget, send them over one SMTP session,
//! record each outcome. A 4xx or a connection failure is retried a minute later, three
//! attempts in all; a 5xx is final. Run one sender per data directory.

use crate::campaign::{self, SmtpProfile, State};
use crate::message::{self, Addressing};
use crate::{now_ms, templates, Drill, DrillError};
use mamori_smtp::{
    CertificateCheck, Client, ClientConfig, Credentials, Envelope, RecipientStatus, StartTls,
};
use rusqlite::params;
use std::future::Future;
use std::time::Duration;

/// Attempts before a temporary failure becomes the recipient's error.
const MAX_ATTEMPTS: i64 = 3;
/// Wait after a temporary failure.
const RETRY_MS: i64 = 60_000;

struct Batch {
    campaign_id: String,
    template_id: String,
    smtp: SmtpProfile,
    from_addr: String,
    from_name: Option<String>,
    base_url: String,
    due: Vec<Due>,
}

struct Due {
    id: i64,
    token: String,
    email: String,
    name: String,
    department: String,
    attempts: i64,
}

enum Outcome {
    Sent,
    Temporary(String),
    Permanent(String),
}

impl Drill {
    /// Sends until `shutdown` resolves, a round every [`Settings::tick`](crate::Settings)
    /// or as soon as a campaign is started or resumed.
    pub async fn run_sender(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.send_due().await {
                Ok(0) => {}
                Ok(sent) => tracing::debug!(sent, "drill sender round"),
                Err(error) => tracing::warn!(%error, "drill sender round failed"),
            }
            let tick = self.settings().tick;
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(tick) => {}
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    /// One round; answers how many mails were accepted by the next hop.
    pub async fn send_due(&self) -> Result<usize, DrillError> {
        let drill = self.clone();
        let batches = blocking(move || {
            drill.advance()?;
            drill.plan()
        })
        .await?;
        let helo = self.settings().helo_name;
        let mut sent = 0;
        for batch in batches {
            let outcomes = deliver(&batch, &helo).await;
            sent += outcomes
                .iter()
                .filter(|(_, o)| matches!(o, Outcome::Sent))
                .count();
            let drill = self.clone();
            blocking(move || drill.record_outcomes(&batch, outcomes)).await?;
        }
        let drill = self.clone();
        blocking(move || drill.advance()).await?;
        Ok(sent)
    }

    /// Moves campaigns along with the clock.
    fn advance(&self) -> Result<(), DrillError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE campaigns SET state = 'sending' WHERE state = 'scheduled' AND EXISTS (
               SELECT 1 FROM recipients r WHERE r.campaign_id = campaigns.id
               AND r.sent_at_ms IS NULL AND r.error IS NULL AND r.due_at_ms <= ?1)",
            [now],
        )?;
        tx.execute(
            "UPDATE campaigns SET state = 'running', all_sent_at_ms = ?1
             WHERE state IN ('scheduled', 'sending') AND NOT EXISTS (
               SELECT 1 FROM recipients r WHERE r.campaign_id = campaigns.id
               AND r.sent_at_ms IS NULL AND r.error IS NULL)",
            [now],
        )?;
        tx.execute(
            "UPDATE campaigns SET state = 'completed', completed_at_ms = ?1
             WHERE state = 'running' AND complete_after_hours > 0
             AND all_sent_at_ms + complete_after_hours * 3600000 <= ?1",
            [now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The due recipients of each sending campaign, within budgets.
    fn plan(&self) -> Result<Vec<Batch>, DrillError> {
        let now = now_ms();
        let batch_cap = self.settings().batch.max(1);
        let conn = self.conn();
        let campaigns: Vec<(Batch, String, u32)> = {
            let mut stmt = conn.prepare(
                "SELECT id, template_id, smtp_json, from_addr, from_name, base_url, per_minute
                 FROM campaigns WHERE state = ?1",
            )?;
            let rows = stmt.query_map([State::Sending.as_str()], |r| {
                let batch = Batch {
                    campaign_id: r.get(0)?,
                    template_id: r.get(1)?,
                    smtp: SmtpProfile::default(),
                    from_addr: r.get(3)?,
                    from_name: r.get(4)?,
                    base_url: r.get(5)?,
                    due: Vec::new(),
                };
                Ok((batch, r.get(2)?, r.get(6)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut batches = Vec::new();
        for (mut batch, smtp_json, per_minute) in campaigns {
            let id = batch.campaign_id.clone();
            let tried: i64 = conn.query_row(
                "SELECT COUNT(*) FROM recipients WHERE campaign_id = ?1 AND last_attempt_ms > ?2",
                params![id, now - 60_000],
                |r| r.get(0),
            )?;
            let budget =
                campaign::minute_budget(per_minute, usize::try_from(tried).unwrap_or(0), batch_cap);
            if budget == 0 {
                continue;
            }
            let Ok(smtp) = serde_json::from_str::<SmtpProfile>(&smtp_json) else {
                tracing::warn!(campaign = %id, "unreadable SMTP profile");
                continue;
            };
            batch.smtp = smtp;
            let mut stmt = conn.prepare_cached(
                "SELECT id, token, email, name, department, attempts FROM recipients
                 WHERE campaign_id = ?1 AND sent_at_ms IS NULL AND error IS NULL
                 AND due_at_ms <= ?2 AND (last_attempt_ms IS NULL OR last_attempt_ms <= ?3)
                 ORDER BY due_at_ms, id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![id, now, now - RETRY_MS, i64::try_from(budget).unwrap_or(0)],
                |r| {
                    Ok(Due {
                        id: r.get(0)?,
                        token: r.get(1)?,
                        email: r.get(2)?,
                        name: r.get(3)?,
                        department: r.get(4)?,
                        attempts: r.get(5)?,
                    })
                },
            )?;
            batch.due = rows.collect::<Result<_, _>>()?;
            if !batch.due.is_empty() {
                batches.push(batch);
            }
        }
        Ok(batches)
    }

    fn record_outcomes(
        &self,
        batch: &Batch,
        outcomes: Vec<(i64, Outcome)>,
    ) -> Result<(), DrillError> {
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (id, outcome) in outcomes {
            let attempts = batch
                .due
                .iter()
                .find(|d| d.id == id)
                .map_or(0, |d| d.attempts)
                + 1;
            match outcome {
                Outcome::Sent => tx.execute(
                    "UPDATE recipients SET sent_at_ms = ?1, last_attempt_ms = ?1, attempts = ?2 WHERE id = ?3",
                    params![now, attempts, id],
                )?,
                Outcome::Temporary(error) => tx.execute(
                    "UPDATE recipients SET last_attempt_ms = ?1, attempts = ?2,
                       error = CASE WHEN ?2 >= ?3 THEN ?4 END WHERE id = ?5",
                    params![now, attempts, MAX_ATTEMPTS, error, id],
                )?,
                Outcome::Permanent(error) => tx.execute(
                    "UPDATE recipients SET last_attempt_ms = ?1, attempts = ?2, error = ?3 WHERE id = ?4",
                    params![now, attempts, error, id],
                )?,
            };
        }
        tx.commit()?;
        Ok(())
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DrillError> + Send + 'static,
) -> Result<T, DrillError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DrillError::Task(e.to_string()))?
}

/// Sends a batch over one session; recipients after a connection failure are left due.
async fn deliver(batch: &Batch, helo: &str) -> Vec<(i64, Outcome)> {
    let mut outcomes = Vec::with_capacity(batch.due.len());
    let Some(template) = templates::find(&batch.template_id) else {
        for d in &batch.due {
            outcomes.push((
                d.id,
                Outcome::Permanent(format!("no template {}", batch.template_id)),
            ));
        }
        return outcomes;
    };
    let mut config = ClientConfig::new(helo);
    config.command_timeout = Duration::from_secs(60);
    config.data_timeout = Duration::from_secs(120);
    if batch.smtp.starttls {
        config.starttls = StartTls::Required;
        config.certificates = CertificateCheck::WebPkiRoots;
    }
    if !batch.smtp.user.is_empty() {
        config.credentials = Some(Credentials {
            user: batch.smtp.user.clone(),
            password: batch.smtp.password.clone(),
        });
    }
    let fail_all = |outcomes: &mut Vec<(i64, Outcome)>, error: String| {
        tracing::warn!(campaign = %batch.campaign_id, host = %batch.smtp.host, %error, "drill SMTP connection failed");
        for d in &batch.due {
            outcomes.push((d.id, Outcome::Temporary(error.clone())));
        }
    };
    let client = match Client::new(config) {
        Ok(c) => c,
        Err(e) => {
            fail_all(&mut outcomes, e.to_string());
            return outcomes;
        }
    };
    let mut session = match client.connect(&batch.smtp.host, batch.smtp.port).await {
        Ok(s) => s,
        Err(e) => {
            fail_all(&mut outcomes, e.to_string());
            return outcomes;
        }
    };
    let from_name = batch
        .from_name
        .clone()
        .unwrap_or_else(|| template.sender_name.clone());
    for d in &batch.due {
        let raw = message::compose(
            &template,
            &Addressing {
                campaign_id: &batch.campaign_id,
                token: &d.token,
                base_url: &batch.base_url,
                from_addr: &batch.from_addr,
                from_name: &from_name,
                to_addr: &d.email,
                to_name: &d.name,
                department: &d.department,
                date: time::OffsetDateTime::now_utc(),
            },
        );
        let envelope = Envelope {
            mail_from: Some(batch.from_addr.clone()),
            rcpt_to: vec![d.email.clone()],
            ..Envelope::default()
        };
        match session.send(&envelope, &raw).await {
            Ok(delivery) => {
                let outcome = match delivery.recipients.first() {
                    Some(r) if r.status == RecipientStatus::Accepted => Outcome::Sent,
                    Some(r) if r.status == RecipientStatus::PermanentFailure => {
                        Outcome::Permanent(r.reply.text())
                    }
                    Some(r) => Outcome::Temporary(r.reply.text()),
                    None => Outcome::Temporary("no reply for the recipient".into()),
                };
                outcomes.push((d.id, outcome));
            }
            Err(e) => {
                // The session is unusable; this one is retried, the rest stay due.
                outcomes.push((d.id, Outcome::Temporary(e.to_string())));
                return outcomes;
            }
        }
    }
    if let Err(error) = session.quit().await {
        tracing::debug!(%error, "QUIT failed after drill batch");
    }
    tracing::info!(campaign = %batch.campaign_id, mails = outcomes.len(), "drill mails sent");
    outcomes
}
