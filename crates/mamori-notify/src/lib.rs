//! # mamori-notify
//!
//! Tells people about incidents, by mail and webhook, without burying them. The console
//! hands a [`Notice`] (an incident and why: opened, severity raised, updated, resolved) to
//! a [`Notifier`]; each matching [`Rule`] (tenant, minimum severity, engines, asset prefix)
//! decides through a gate whether a message goes out now, later, or not at all:
//!
//! - **De-duplication and throttling**, per rule and incident: the first `Opened` is sent;
//!   `Updated` notices within `throttle_minutes` of the last message are suppressed, and the
//!   next message says how many alerts came since; `SeverityRaised` is sent once per new
//!   severity; `Resolved` is sent once, and only if the incident was notified before.
//! - **Rate limit**, per rule and tenant: at most `max_per_hour` messages in any sliding
//!   hour. What is dropped is counted; when the hour frees up, one digest "X more incidents
//!   suppressed" goes out (from [`Notifier::flush`], which [`Notifier::run`] calls every
//!   30 s), or the count rides on the next message, whichever comes first.
//! - **Quiet hours**: below `override_severity` (default critical), notices are held in
//!   memory and in `notify-held.json`, and sent as one digest per rule and tenant once the
//!   quiet hours end. Critical ones go out at once.
//! - **Retries**: webhooks on 5xx, 429 (honouring `Retry-After`, capped) and network
//!   errors; mail on 4xx replies and connection failures; doubling delays, then
//!   [`Outcome::Failed`]. Other 4xx HTTP answers and 5xx SMTP replies are final.
//!
//! Every decision is appended to `notify-log.jsonl` ([`Notifier::sent_log`]). Webhook URLs
//! (they carry tokens) and the relay password never appear in the log, in errors or in
//! traces: the log names a webhook by its host.
//!
//! Bodies: a generic JSON object, Slack's `text` + `blocks`, a Teams MessageCard, and an
//! RFC 5322 mail with an RFC 2047 UTF-8 subject and a base64 UTF-8 body, in Japanese or
//! English.
//!
//! Not here: deciding what an incident is (the store and console do), templates chosen by
//! users, per-user preferences, SMS. A message whose delivery failed is logged, not queued
//! for later: the gate counts it as sent, so an outage does not turn into a retry storm
//! when it ends.
//!
//! ```no_run
//! # async fn example(incident: mamori_core::Incident) -> Result<(), mamori_notify::NotifyError> {
//! use mamori_notify::{Notice, NotifyConfig, Notifier, Trigger};
//! let config: NotifyConfig = toml::from_str(r#"
//!     language = "ja"
//!     console_url = "https://mamori.example.jp"
//!     smtp = { host = "smtp.example.jp", from = "mamori@example.jp", user = "mamori", password = "..." }
//!     quiet = { start = "22:00", end = "07:00" }
//!     [[rules]]
//!     name = "acme-admins"
//!     tenant = "acme"
//!     min_severity = "high"
//!     mail = ["admin@acme.example.jp"]
//!     webhook = { url = "https://hooks.slack.com/services/...", format = "slack" }
//! "#).expect("valid TOML");
//! let notifier = Notifier::new(config, std::path::Path::new("mamori-data/notify"))?;
//! let decisions = notifier.handle(Notice {
//!     incident, trigger: Trigger::Opened, engines: vec![mamori_core::Engine::Ids],
//!     summary: "C2 beacon from 10.0.0.5".into(), link: None,
//! }).await;
//! # let _ = decisions; Ok(()) }
//! ```

mod config;
mod error;
mod gate;
mod held;
mod log;
mod mail;
mod notice;
mod quiet;
mod render;
mod webhook;

pub use config::{
    Language, NotifyConfig, QuietHours, RetryPolicy, Rule, SmtpRelay, Webhook, WebhookFormat,
};
pub use error::NotifyError;
pub use gate::SuppressReason;
pub use log::{Channel, LogEntry, LogOutcome};
pub use notice::{Notice, Trigger};

use config::url_host;
use gate::{Gate, Verdict};
use held::{Held, HeldFile, MAX_HELD};
use log::SentLog;
use mail::Relay;
use quiet::QuietWindow;
use render::{Message, Style};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::{OffsetDateTime, UtcOffset};
use ulid::Ulid;
use webhook::{Attempted, Poster};

/// How often [`Notifier::run`] sends due digests.
const FLUSH_INTERVAL: Duration = Duration::from_secs(30);
/// Deliveries in flight at once in [`Notifier::run`].
const MAX_IN_FLIGHT: usize = 16;
/// How long [`Notifier::run`] lets deliveries finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The time, injectable so tests can step through throttle windows and quiet hours.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// What happened for one rule (and, once something was sent, one channel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        attempts: u32,
    },
    /// Quiet hours: kept for the digest when they end.
    Held,
    Suppressed(SuppressReason),
    /// Given up after `attempts` tries, or refused for good.
    Failed {
        attempts: u32,
        error: String,
    },
}

/// One decision of [`Notifier::handle`] or [`Notifier::flush`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub rule: String,
    /// Set when something was sent or tried.
    pub channel: Option<Channel>,
    pub outcome: Outcome,
}

/// Sends notifications; see the crate documentation. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: NotifyConfig,
    quiet: Option<QuietWindow>,
    offset: UtcOffset,
    style: Style,
    relay: Option<Relay>,
    poster: Poster,
    log: SentLog,
    held_file: HeldFile,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    gate: Gate,
    held: Vec<Held>,
    held_version: u64,
}

/// One message to deliver on all of a rule's channels.
struct Outgoing {
    rule: usize,
    message: Message,
    tenant: String,
    incident: Option<Ulid>,
    trigger: &'static str,
}

/// Work decided under the state lock, carried out after it.
#[derive(Default)]
struct Plan {
    sends: Vec<Outgoing>,
    decisions: Vec<Decision>,
    entries: Vec<LogEntry>,
    held_snapshot: Option<(u64, Vec<Held>)>,
}

impl Notifier {
    /// Checks the configuration (errors name the rule and key), opens the log in
    /// `log_dir` (created if missing) and reloads notices held before a restart.
    pub fn new(config: NotifyConfig, log_dir: &Path) -> Result<Notifier, NotifyError> {
        Notifier::with_clock(config, log_dir, Arc::new(SystemClock))
    }

    /// [`Notifier::new`] with another clock.
    pub fn with_clock(
        config: NotifyConfig,
        log_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Notifier, NotifyError> {
        let checked = config.check()?;
        let timeout = Duration::from_secs(checked.config.retry.timeout_secs.max(1));
        let relay = checked
            .config
            .smtp
            .as_ref()
            .map(|smtp| Relay::new(smtp, timeout))
            .transpose()?;
        let poster = Poster::new(timeout)?;
        let log = SentLog::open(log_dir, log::MAX_LOG_BYTES)?;
        let held_file = HeldFile::new(log_dir);
        let mut held = held_file.load()?;
        held.retain(|h| {
            let known = checked.config.rules.iter().any(|r| r.name == h.rule);
            if !known {
                tracing::warn!(rule = %h.rule, incident = %h.notice.incident.id, "held notice for a rule no longer configured; dropped");
            }
            known
        });
        let style = Style {
            language: checked.config.language,
            offset: checked.offset,
            console_url: checked.config.console_url.clone(),
        };
        Ok(Notifier {
            inner: Arc::new(Inner {
                quiet: checked.quiet,
                offset: checked.offset,
                config: checked.config,
                style,
                relay,
                poster,
                log,
                held_file,
                clock,
                state: Mutex::new(State {
                    held,
                    ..State::default()
                }),
            }),
        })
    }

    /// Decides and delivers one notice for every matching rule, retries included, and
    /// logs the outcome. Returns one decision per rule that matched and sent nothing, and
    /// one per channel for rules that sent.
    pub async fn handle(&self, notice: Notice) -> Vec<Decision> {
        let plan = self.plan(&notice);
        self.execute(plan).await
    }

    /// Sends what is due without a new notice: the digest of notices held during quiet
    /// hours once they are over, and "X more incidents suppressed" once a rate limit
    /// frees up. [`Notifier::run`] calls this every 30 seconds.
    pub async fn flush(&self) -> Vec<Decision> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let mut plan = Plan::default();
        {
            let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            let quiet_now = inner.quiet.as_ref().is_some_and(|q| q.contains(now));
            if !quiet_now && !state.held.is_empty() {
                let mut groups: BTreeMap<(String, String), Vec<Notice>> = BTreeMap::new();
                for h in std::mem::take(&mut state.held) {
                    groups
                        .entry((h.rule, h.notice.incident.tenant.clone()))
                        .or_default()
                        .push(h.notice);
                }
                for ((rule, tenant), notices) in groups {
                    let Some(index) = inner.config.rules.iter().position(|r| r.name == rule) else {
                        continue;
                    };
                    plan.sends.push(Outgoing {
                        rule: index,
                        message: Message::quiet_digest(&tenant, &notices, &inner.style),
                        tenant,
                        incident: None,
                        trigger: "quiet_digest",
                    });
                }
                state.held_version += 1;
                plan.held_snapshot = Some((state.held_version, Vec::new()));
            }
            let rules = &inner.config.rules;
            let due = state
                .gate
                .due_digests(|i| rules.get(i).map_or(0, |r| r.max_per_hour), now);
            for (index, tenant, count) in due {
                let Some(rule) = rules.get(index) else {
                    continue;
                };
                plan.sends.push(Outgoing {
                    rule: index,
                    message: Message::rate_digest(&tenant, &rule.name, count, &inner.style),
                    tenant,
                    incident: None,
                    trigger: "rate_digest",
                });
            }
        }
        self.execute(plan).await
    }

    /// What was sent, held, suppressed or failed, newest first, for one tenant or all.
    pub fn sent_log(
        &self,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, NotifyError> {
        self.inner.log.read(tenant, limit)
    }

    /// Handles notices from `rx` until it closes or `shutdown` completes, flushing digests
    /// every 30 seconds. Decisions are made in arrival order; deliveries run concurrently
    /// (up to 16), and those under way at shutdown get 30 seconds to finish.
    pub async fn run(
        self,
        mut rx: tokio::sync::mpsc::Receiver<Notice>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = tick.tick() => {
                    let me = self.clone();
                    tasks.spawn(async move { me.flush().await; });
                }
                notice = rx.recv(), if tasks.len() < MAX_IN_FLIGHT => match notice {
                    Some(notice) => {
                        let plan = self.plan(&notice);
                        let me = self.clone();
                        tasks.spawn(async move { me.execute(plan).await; });
                    }
                    None => break,
                },
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!("notifications still being delivered at shutdown were abandoned");
        }
    }

    /// The gate's decisions for one notice, made under the lock.
    fn plan(&self, notice: &Notice) -> Plan {
        let inner = &self.inner;
        let now = inner.clock.now();
        let incident = &notice.incident;
        let mut plan = Plan::default();
        let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let State {
            gate,
            held,
            held_version,
        } = &mut *state;
        let mut held_changed = false;
        for (index, rule) in inner.config.rules.iter().enumerate() {
            if !rule.matches(notice) {
                continue;
            }
            let same = |h: &Held| h.rule == rule.name && h.notice.incident.id == incident.id;
            let outcome = match gate.decide(index, rule, inner.quiet.as_ref(), notice, now) {
                Verdict::Send(extra) => {
                    plan.sends.push(Outgoing {
                        rule: index,
                        message: Message::incident(notice, extra, &inner.style),
                        tenant: incident.tenant.clone(),
                        incident: Some(incident.id),
                        trigger: notice.trigger.as_str(),
                    });
                    continue;
                }
                Verdict::Hold => {
                    if let Some(h) = held.iter_mut().find(|h| same(h)) {
                        // The digest says what the night brought: a new incident stays
                        // new however often it was updated.
                        let trigger = match notice.trigger {
                            Trigger::Updated => h.notice.trigger,
                            other => other,
                        };
                        h.notice = notice.clone();
                        h.notice.trigger = trigger;
                        held_changed = true;
                        Outcome::Held
                    } else if held.len() < MAX_HELD {
                        held.push(Held {
                            rule: rule.name.clone(),
                            notice: notice.clone(),
                            held_at: now,
                        });
                        held_changed = true;
                        Outcome::Held
                    } else {
                        Outcome::Suppressed(SuppressReason::QuietHours)
                    }
                }
                Verdict::Suppress(reason) => {
                    // A held incident that keeps growing shows its latest state in the
                    // digest.
                    if let Some(h) = held.iter_mut().find(|h| same(h)) {
                        h.notice.incident = incident.clone();
                        h.notice.summary = notice.summary.clone();
                        held_changed = true;
                    }
                    Outcome::Suppressed(reason)
                }
            };
            plan.entries.push(entry(
                now,
                &incident.tenant,
                &rule.name,
                Some(incident.id),
                notice.trigger.as_str(),
                None,
                &outcome,
            ));
            plan.decisions.push(Decision {
                rule: rule.name.clone(),
                channel: None,
                outcome,
            });
        }
        if held_changed {
            *held_version += 1;
            plan.held_snapshot = Some((*held_version, held.clone()));
        }
        plan
    }

    /// Delivers what the plan says, saves held notices, and writes the log.
    async fn execute(&self, plan: Plan) -> Vec<Decision> {
        let Plan {
            sends,
            mut decisions,
            mut entries,
            held_snapshot,
        } = plan;
        if let Some((version, held)) = held_snapshot {
            let inner = Arc::clone(&self.inner);
            match tokio::task::spawn_blocking(move || inner.held_file.save(version, &held)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "saving held notifications failed"),
                Err(error) => tracing::error!(%error, "saving held notifications failed"),
            }
        }
        for send in &sends {
            for (decision, log_entry) in self.deliver(send).await {
                decisions.push(decision);
                entries.push(log_entry);
            }
        }
        let inner = Arc::clone(&self.inner);
        match tokio::task::spawn_blocking(move || inner.log.append(&entries)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "writing the notification log failed"),
            Err(error) => tracing::error!(%error, "writing the notification log failed"),
        }
        decisions
    }

    /// Sends one message on every channel of its rule, concurrently.
    async fn deliver(&self, send: &Outgoing) -> Vec<(Decision, LogEntry)> {
        let inner = &self.inner;
        let Some(rule) = inner.config.rules.get(send.rule) else {
            return Vec::new();
        };
        let policy = &inner.config.retry;
        let mail = async {
            let relay = inner.relay.as_ref().filter(|_| !rule.mail.is_empty())?;
            let bytes = mail::compose(
                &relay.from,
                &rule.mail,
                &send.message,
                inner.clock.now(),
                inner.offset,
            );
            let attempted = relay.send(&rule.mail, &bytes, policy).await;
            Some((Channel::Mail, rule.mail.join(", "), attempted))
        };
        let hook = async {
            let hook = rule.webhook.as_ref()?;
            let body = send.message.webhook_body(hook.format);
            let attempted = inner.poster.post(&hook.url, &body, policy).await;
            Some((Channel::Webhook, url_host(&hook.url), attempted))
        };
        let (mail, hook) = tokio::join!(mail, hook);
        let now = inner.clock.now();
        [mail, hook]
            .into_iter()
            .flatten()
            .map(|(channel, target, Attempted { attempts, error })| {
                let outcome = match error {
                    None => {
                        tracing::info!(tenant = %send.tenant, rule = %rule.name, incident = ?send.incident, channel = ?channel, %target, attempts, trigger = send.trigger, "notification sent");
                        Outcome::Sent { attempts }
                    }
                    Some(error) => {
                        tracing::warn!(tenant = %send.tenant, rule = %rule.name, incident = ?send.incident, channel = ?channel, %target, attempts, %error, "notification failed");
                        Outcome::Failed { attempts, error }
                    }
                };
                let mut log_entry = entry(
                    now,
                    &send.tenant,
                    &rule.name,
                    send.incident,
                    send.trigger,
                    Some(channel),
                    &outcome,
                );
                log_entry.target = Some(target);
                (
                    Decision {
                        rule: rule.name.clone(),
                        channel: Some(channel),
                        outcome,
                    },
                    log_entry,
                )
            })
            .collect()
    }
}

fn entry(
    time: OffsetDateTime,
    tenant: &str,
    rule: &str,
    incident: Option<Ulid>,
    trigger: &str,
    channel: Option<Channel>,
    outcome: &Outcome,
) -> LogEntry {
    let (kind, reason, attempts, error) = match outcome {
        Outcome::Sent { attempts } => (LogOutcome::Sent, None, *attempts, None),
        Outcome::Held => (LogOutcome::Held, None, 0, None),
        Outcome::Suppressed(reason) => (LogOutcome::Suppressed, Some(*reason), 0, None),
        Outcome::Failed { attempts, error } => (
            LogOutcome::Failed,
            None,
            *attempts,
            Some(render::one_line(error, 500)),
        ),
    };
    LogEntry {
        time,
        tenant: tenant.to_string(),
        rule: rule.to_string(),
        incident,
        channel,
        target: None,
        trigger: trigger.to_string(),
        outcome: kind,
        reason,
        attempts,
        error,
    }
}

/// The log in `log_dir` without a notifier (the console's page reads it this way): what was
/// sent, held, suppressed or failed, newest first.
pub fn read_log(
    log_dir: &Path,
    tenant: Option<&str>,
    limit: usize,
) -> Result<Vec<LogEntry>, NotifyError> {
    SentLog::open(log_dir, log::MAX_LOG_BYTES)?.read(tenant, limit)
}

/// Sends one plain-text mail through `relay` (the help desk's replies, the monthly report):
/// `extra` headers such as `Reply-To` are added as given. Retries as `policy` says; the error
/// names what failed.
pub async fn send_mail(
    relay: &SmtpRelay,
    policy: &RetryPolicy,
    to: &[String],
    subject: &str,
    text: &str,
    extra: &[(&str, &str)],
) -> Result<(), NotifyError> {
    let client = mail::Relay::new(relay, Duration::from_secs(policy.timeout_secs))?;
    let bytes = mail::compose_text(
        &relay.from,
        to,
        subject,
        text,
        OffsetDateTime::now_utc(),
        time::macros::offset!(+9),
        extra,
    );
    let outcome = client.send(to, &bytes, policy).await;
    match outcome.error {
        None => Ok(()),
        Some(e) => Err(NotifyError::Client {
            what: "SMTP",
            message: e,
        }),
    }
}
