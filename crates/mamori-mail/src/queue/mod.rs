//! The outgoing queue: what the gateway accepted, on its way to the next hop.
//!
//! [`spool`] keeps every message durably; this module decides when to try each one, hands it
//! to the SMTP client ([`mamori_smtp::client`]), records each recipient's outcome, retries
//! temporary failures on a backoff schedule, and bounces permanent failures (and messages too
//! old to keep trying) to the sender with a delivery status notification ([`bounce`]).
//!
//! Held, quarantined and delayed messages stay in the spool untouched until a person (or the
//! delay) releases them. `mamori mail queue` and the console list, retry, release and delete.

pub mod bounce;
mod journal;
mod reuse;
pub mod spool;

use crate::auth::Resolver;
use mamori_smtp::client::{Client, ClientConfig, RecipientStatus};
use mamori_smtp::Envelope;
use spool::{Entry, Hold, RcptState, Spool, SpoolError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where accepted mail goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    /// One relay for everything: the company's mail server (inbound) or the provider's
    /// smarthost (outbound).
    Relay { host: String, port: u16 },
    /// The recipient domain's MX hosts (then its address when it has no MX), on `port`.
    Mx { port: u16 },
}

#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub spool_dir: PathBuf,
    pub next_hop: NextHop,
    /// Waits after the 1st, 2nd, … failed attempt; the last one repeats.
    pub retry: Vec<Duration>,
    /// After this long a message that still cannot be delivered is bounced.
    pub max_age: Duration,
    /// How this gateway names itself in EHLO and in bounces.
    pub hostname: String,
}

impl QueueConfig {
    pub fn new(spool_dir: PathBuf, next_hop: NextHop, hostname: &str) -> QueueConfig {
        QueueConfig {
            spool_dir,
            next_hop,
            retry: [60, 300, 900, 1800, 3600, 7200, 14400]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_age: Duration::from_secs(5 * 86_400),
            hostname: hostname.to_string(),
        }
    }
}

/// Messages delivered at the same time by one queue.
pub const PARALLEL_DELIVERIES: usize = 16;

pub struct Queue {
    spool: Arc<Spool>,
    config: QueueConfig,
    client: Client,
    resolver: Option<Arc<Resolver>>,
    /// Sessions to next hops kept open between deliveries.
    sessions: reuse::Sessions,
    wake: Notify,
    outcomes: std::sync::OnceLock<Arc<crate::takeover::Tracker>>,
}

use mamori_core::now_ms;

impl Queue {
    /// Opens the spool (recovering what a crash left) and prepares the client.
    pub fn open(
        config: QueueConfig,
        resolver: Option<Arc<Resolver>>,
    ) -> Result<Arc<Queue>, QueueError> {
        let spool = Spool::open(&config.spool_dir)?;
        Queue::over(spool, config, resolver)
    }

    /// The queue of a spool that another process (`mamori mail serve`) serves: for listing,
    /// releasing, retrying and deleting without disturbing its writes.
    pub fn attach(config: QueueConfig) -> Result<Arc<Queue>, QueueError> {
        let spool = Spool::attach(&config.spool_dir)?;
        Queue::over(spool, config, None)
    }

    fn over(
        spool: Spool,
        config: QueueConfig,
        resolver: Option<Arc<Resolver>>,
    ) -> Result<Arc<Queue>, QueueError> {
        let client = Client::new(ClientConfig::new(&config.hostname))
            .map_err(|e| QueueError::Client(e.to_string()))?;
        Ok(Arc::new(Queue {
            spool: Arc::new(spool),
            config,
            client,
            resolver,
            sessions: reuse::Sessions::default(),
            wake: Notify::new(),
            outcomes: std::sync::OnceLock::new(),
        }))
    }

    /// Reports each finished delivery of an authenticated account's message (recipients
    /// accepted and refused) to the account-takeover tracker.
    pub fn report_outcomes_to(&self, tracker: Arc<crate::takeover::Tracker>) {
        let _ = self.outcomes.set(tracker);
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Runs spool I/O on the blocking pool: a read, an fsync or an unlink (with a
    /// synchronous discard on some file systems) takes milliseconds, which on the runtime's
    /// few worker threads would stall every SMTP session scheduled behind it.
    async fn on_spool<T: Send + 'static>(
        &self,
        io: impl FnOnce(&Spool) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let spool = Arc::clone(&self.spool);
        tokio::task::spawn_blocking(move || io(&spool))
            .await
            .unwrap_or_else(|e| {
                Err(SpoolError::Io {
                    path: PathBuf::new(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// Stores an accepted message; once this returns the sender may be told `250`.
    pub fn enqueue(&self, entry: &Entry, data: &[u8]) -> Result<(), QueueError> {
        self.spool.put(entry, data)?;
        if entry.hold.is_none() {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// [`Queue::enqueue`] for async callers: a message on its way to delivery waits for the
    /// journal's shared sync without holding a thread; others are written on the blocking
    /// pool.
    pub async fn enqueue_async(&self, entry: Entry, data: Vec<u8>) -> Result<(), QueueError> {
        let hold = entry.hold.is_some();
        match self.spool.submit(&entry, &data) {
            Some(answer) => answer.await.unwrap_or_else(|_| {
                Err(SpoolError::Io {
                    path: self.config.spool_dir.clone(),
                    source: std::io::Error::other("the journal writer has stopped"),
                })
            })?,
            None => self.on_spool(move |s| s.put(&entry, &data)).await?,
        }
        if !hold {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Lets a held, quarantined or delayed message go now.
    pub fn release(&self, id: &str) -> Result<Entry, QueueError> {
        let e = self.spool.release(id)?;
        self.wake.notify_one();
        Ok(e)
    }

    /// Tries a waiting message now instead of at its scheduled time.
    pub fn retry_now(&self, id: &str) -> Result<(), QueueError> {
        let mut e = self.spool.entry(id)?;
        e.next_attempt_ms = now_ms();
        self.spool.update(&e)?;
        self.wake.notify_one();
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<(), QueueError> {
        self.spool.entry(id)?;
        Ok(self.spool.remove(id)?)
    }

    /// Delivers due messages until `shutdown`; wakes on new mail, at the next due time, and
    /// every few seconds to see releases made by another process (`mamori mail queue`).
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let next = match self.deliver_due().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "mail queue pass failed");
                    Some(now_ms() + 5_000)
                }
            };
            self.sessions.close_expired();
            let wait = next
                .map(|t| Duration::from_millis((t - now_ms()).clamp(0, 5_000) as u64))
                .unwrap_or(Duration::from_secs(5));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One pass: attempts every due message, [`PARALLEL_DELIVERIES`] at a time. Answers
    /// when the next one falls due.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<Option<i64>, QueueError> {
        let now = now_ms();
        let mut next: Option<i64> = None;
        let mut due = Vec::new();
        for mut entry in self.on_spool(|s| s.entries()).await? {
            match &entry.hold {
                Some(Hold::Held { .. }) | Some(Hold::Quarantined { .. }) => continue,
                Some(Hold::Delayed { until_ms }) if *until_ms > now => {
                    next = Some(next.map_or(*until_ms, |n| n.min(*until_ms)));
                    continue;
                }
                Some(Hold::Delayed { .. }) => entry.hold = None,
                None => {}
            }
            if entry.next_attempt_ms > now {
                next = Some(next.map_or(entry.next_attempt_ms, |n| n.min(entry.next_attempt_ms)));
                continue;
            }
            due.push(entry);
        }
        let mut running = tokio::task::JoinSet::new();
        let mut due = due.into_iter();
        loop {
            while running.len() < PARALLEL_DELIVERIES {
                let Some(entry) = due.next() else { break };
                let queue = Arc::clone(self);
                running.spawn(async move {
                    let id = entry.id.clone();
                    (id, queue.attempt(entry).await)
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            match done {
                Ok((_, Ok(Some(e)))) => {
                    next = Some(next.map_or(e.next_attempt_ms, |n| n.min(e.next_attempt_ms)))
                }
                Ok((_, Ok(None))) => {}
                Ok((id, Err(e))) => {
                    tracing::error!(id = %id, error = %e, "delivery attempt failed")
                }
                Err(e) => tracing::error!(error = %e, "delivery task failed"),
            }
        }
        Ok(next)
    }

    /// One delivery attempt for one message. Answers the entry if it stays queued.
    pub async fn attempt(&self, mut entry: Entry) -> Result<Option<Entry>, QueueError> {
        let id = entry.id.clone();
        // A message in the journal was written moments ago: its bytes are in the page cache.
        let data = if self.spool.in_journal(&id) {
            self.spool.data(&id)?
        } else {
            self.on_spool(move |s| s.data(&id)).await?
        };
        let pending: Vec<String> = entry
            .recipients
            .iter()
            .filter(|r| r.state == RcptState::Pending)
            .map(|r| r.address.clone())
            .collect();
        for (targets, rcpts) in self.routes(&pending).await {
            let outcome = self.try_targets(&targets, &entry, &rcpts, &data).await;
            for r in entry
                .recipients
                .iter_mut()
                .filter(|r| rcpts.contains(&r.address))
            {
                match &outcome {
                    Ok(results) => {
                        if let Some((status, reply)) = results
                            .iter()
                            .find(|(a, _, _)| a == &r.address)
                            .map(|(_, s, t)| (*s, t.clone()))
                        {
                            r.last_reply = reply;
                            r.state = match status {
                                RecipientStatus::Accepted => RcptState::Delivered,
                                RecipientStatus::PermanentFailure => RcptState::Failed,
                                RecipientStatus::TemporaryFailure => RcptState::Pending,
                            };
                        }
                    }
                    Err(e) => r.last_reply = e.clone(),
                }
            }
            if let Err(e) = outcome {
                entry.last_error = e;
            }
        }
        entry.attempts += 1;
        let age = Duration::from_millis((now_ms() - entry.received_ms).max(0) as u64);
        let still_pending = entry
            .recipients
            .iter()
            .any(|r| r.state == RcptState::Pending);
        if still_pending && age >= self.config.max_age {
            for r in entry
                .recipients
                .iter_mut()
                .filter(|r| r.state == RcptState::Pending)
            {
                r.state = RcptState::Failed;
                if r.last_reply.is_empty() {
                    r.last_reply = "no delivery possible within the retry period".into();
                }
            }
        }
        if entry
            .recipients
            .iter()
            .any(|r| r.state == RcptState::Pending)
        {
            let i = (entry.attempts as usize)
                .saturating_sub(1)
                .min(self.config.retry.len().saturating_sub(1));
            let wait = self
                .config
                .retry
                .get(i)
                .copied()
                .unwrap_or(Duration::from_secs(300));
            entry.next_attempt_ms = now_ms() + wait.as_millis() as i64;
            let deferred = entry.clone();
            self.on_spool(move |s| s.update(&deferred)).await?;
            tracing::info!(id = %entry.id, attempts = entry.attempts, error = %entry.last_error, "delivery deferred");
            return Ok(Some(entry));
        }
        let failed: Vec<_> = entry
            .recipients
            .iter()
            .filter(|r| r.state == RcptState::Failed)
            .cloned()
            .collect();
        if let (Some(tracker), Some(account)) = (self.outcomes.get(), &entry.auth_user) {
            let delivered = entry.recipients.len() - failed.len();
            tracker.record_outcome(account, delivered, failed.len(), now_ms());
        }
        if !failed.is_empty() && !entry.mail_from.is_empty() {
            let (dsn_entry, dsn) =
                bounce::notification(&entry, &failed, &data, &self.config.hostname);
            let bounce_id = dsn_entry.id.clone();
            self.on_spool(move |s| s.put(&dsn_entry, &dsn)).await?;
            self.wake.notify_one();
            tracing::info!(id = %entry.id, bounce = %bounce_id, failed = failed.len(), "bounced to the sender");
        }
        let id = entry.id.clone();
        if self.spool.in_journal(&id) {
            // A tombstone: one short write to the page cache.
            self.spool.remove(&id)?;
        } else {
            self.on_spool(move |s| s.remove(&id)).await?;
        }
        tracing::info!(id = %entry.id, delivered = entry.recipients.len() - failed.len(), failed = failed.len(), "message done");
        Ok(None)
    }

    /// Groups recipients by where they go: one group for a relay, one per domain for MX.
    async fn routes(&self, rcpts: &[String]) -> Vec<(Vec<(String, u16)>, Vec<String>)> {
        match &self.config.next_hop {
            NextHop::Relay { host, port } => vec![(vec![(host.clone(), *port)], rcpts.to_vec())],
            NextHop::Mx { port } => {
                let mut by_domain: std::collections::BTreeMap<String, Vec<String>> =
                    Default::default();
                for r in rcpts {
                    let domain = r
                        .rsplit_once('@')
                        .map(|(_, d)| d.to_ascii_lowercase())
                        .unwrap_or_default();
                    by_domain.entry(domain).or_default().push(r.clone());
                }
                let mut out = Vec::new();
                for (domain, rs) in by_domain {
                    let hosts = match &self.resolver {
                        Some(res) => res.mail_exchangers(&domain).await,
                        None => vec![domain.clone()],
                    };
                    out.push((hosts.into_iter().map(|h| (h, *port)).collect(), rs));
                }
                out
            }
        }
    }

    /// Tries each target in turn until one answers; per-recipient results or the last error.
    async fn try_targets(
        &self,
        targets: &[(String, u16)],
        entry: &Entry,
        rcpts: &[String],
        data: &[u8],
    ) -> Result<Vec<(String, RecipientStatus, String)>, String> {
        let envelope = Envelope {
            mail_from: (!entry.mail_from.is_empty()).then(|| entry.mail_from.clone()),
            rcpt_to: rcpts.to_vec(),
            body_8bit: true,
            smtputf8: rcpts.iter().any(|r| !r.is_ascii()) || !entry.mail_from.is_ascii(),
            size_hint: Some(data.len() as u64),
        };
        let mut last = "no mail server found for the recipient domain".to_string();
        for (host, port) in targets {
            match self
                .sessions
                .deliver(&self.client, host, *port, &envelope, data)
                .await
            {
                Ok(d) => {
                    return Ok(d
                        .recipients
                        .into_iter()
                        .map(|r| (r.address, r.status, r.reply.to_string()))
                        .collect())
                }
                Err(e) => {
                    if let Some(reply) = e.reply().filter(|r| r.is_permanent()) {
                        return Ok(rcpts
                            .iter()
                            .map(|r| {
                                (
                                    r.clone(),
                                    RecipientStatus::PermanentFailure,
                                    reply.to_string(),
                                )
                            })
                            .collect());
                    }
                    last = e.to_string();
                }
            }
        }
        Err(last)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("SMTP client: {0}")]
    Client(String),
}
