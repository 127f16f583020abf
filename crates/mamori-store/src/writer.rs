//! The bus's writer: takes published alerts off the bus and stores them in batches.
//!
//! Batching is "group commit": while one batch is being written, new envelopes queue up and
//! the next write takes them all (up to `batch_size`). Publishers that wait for a receipt are
//! answered as soon as their alerts are committed. Fire-and-forget publishers may let a small
//! batch wait up to `flush` for company. If a merged batch fails, each envelope is retried on
//! its own so one bad envelope does not fail its neighbours.
//!
//! The writing is pipelined: each envelope is prepared for the store ([`PreparedBatch`]:
//! columns and serialised bodies) on a blocking thread as soon as it arrives, while the
//! previous batch is being written, so the store never waits for that work. Batches are
//! still written one at a time and in arrival order, so correlation sees the alerts in the
//! same order as without the pipeline.

use crate::{DynStore, PreparedBatch};
use mamori_core::bus::{BusError, Envelope, Receipt, Subscriber};
use std::collections::HashMap;
use std::time::Duration;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub batch_size: usize,
    pub flush: Duration,
    pub window: time::Duration,
}

/// An envelope being prepared on a blocking thread; it comes back with its alerts.
type Preparing = JoinHandle<(Envelope, crate::Result<PreparedBatch>)>;

/// The envelopes of the next batch, in arrival order.
#[derive(Default)]
struct Pending {
    envelopes: Vec<Preparing>,
    alerts: usize,
    /// Whether a publisher waits for one of them.
    waits: bool,
}

impl Pending {
    fn push(&mut self, env: Envelope) {
        self.alerts += env.alerts.len();
        self.waits |= env.ack.is_some();
        self.envelopes.push(tokio::task::spawn_blocking(move || {
            let prepared = PreparedBatch::new(&env.alerts);
            (env, prepared)
        }));
    }

    fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }
}

/// Runs until every publisher is gone and the queue is drained.
pub async fn run(mut sub: Subscriber, store: DynStore, config: WriterConfig) {
    let mut next = Pending::default();
    let mut writing: Option<JoinHandle<()>> = None;
    let mut open = true;
    loop {
        if let Some(task) = writing.as_mut() {
            // While a batch is written, the next one gathers and prepares.
            tokio::select! {
                biased;
                done = task => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "the event writer's write task failed");
                    }
                    writing = None;
                }
                env = sub.recv(), if open && next.alerts < config.batch_size => match env {
                    Some(env) => next.push(env),
                    None => open = false,
                },
            }
            continue;
        }
        if next.is_empty() {
            match sub.recv().await {
                Some(env) => next.push(env),
                None => break,
            }
        }
        let deadline = tokio::time::Instant::now() + config.flush;
        while next.alerts < config.batch_size {
            if let Some(env) = sub.try_recv() {
                next.push(env);
                continue;
            }
            if next.waits || config.flush.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(env)) => next.push(env),
                Ok(None) | Err(_) => break,
            }
        }
        let batch = std::mem::take(&mut next);
        writing = Some(tokio::spawn(write(store.clone(), batch, config.clone())));
    }
    tracing::debug!("event writer drained and stopped");
}

async fn write(store: DynStore, pending: Pending, config: WriterConfig) {
    let mut batch = Vec::with_capacity(pending.envelopes.len());
    let mut all = PreparedBatch::default();
    for preparing in pending.envelopes {
        match preparing.await {
            Ok((env, Ok(prepared))) => {
                all.append(prepared);
                batch.push(env);
            }
            Ok((env, Err(e))) => {
                // Preparing is deterministic: trying again would fail the same way.
                tracing::error!(error = %e, alerts = env.alerts.len(), "alerts cannot be stored");
                if let Some(ack) = env.ack {
                    let _ = ack.send(Err(BusError::Store(e.to_string())));
                }
            }
            // Only a bug gets here; the envelope is gone and its publisher hears "closed".
            Err(e) => tracing::error!(error = %e, "preparing alerts for the store failed"),
        }
    }
    if batch.is_empty() {
        return;
    }
    match store.ingest_prepared(all, config.window).await {
        Ok(outcome) => {
            tracing::debug!(
                stored = outcome.stored,
                duplicates = outcome.duplicates,
                "batch stored"
            );
            let mut dups = tally(&outcome.duplicate_ids);
            for env in batch {
                answer(env, &mut dups);
            }
        }
        Err(e) if batch.len() > 1 => {
            tracing::warn!(error = %e, envelopes = batch.len(), "batch failed; storing envelopes one by one");
            for env in batch {
                write_one(&store, env, &config).await;
            }
        }
        Err(_) => {
            for env in batch {
                write_one(&store, env, &config).await;
            }
        }
    }
}

/// Stores one envelope; fire-and-forget envelopes are retried with backoff because nobody
/// else will resend them.
async fn write_one(store: &DynStore, env: Envelope, config: &WriterConfig) {
    let attempts = if env.ack.is_some() { 1 } else { 5 };
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=attempts {
        match store.ingest(&env.alerts, config.window).await {
            Ok(outcome) => {
                answer(env, &mut tally(&outcome.duplicate_ids));
                return;
            }
            Err(e) if attempt == attempts => {
                tracing::error!(error = %e, alerts = env.alerts.len(), "storing alerts failed");
                if let Some(ack) = env.ack {
                    let _ = ack.send(Err(BusError::Store(e.to_string())));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "storing alerts failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

/// How many times each id was reported as a duplicate.
fn tally(ids: &[ulid::Ulid]) -> HashMap<ulid::Ulid, usize> {
    let mut map = HashMap::new();
    for id in ids {
        *map.entry(*id).or_insert(0) += 1;
    }
    map
}

/// Tells a waiting publisher its share of the outcome, consuming the duplicates it owns.
fn answer(env: Envelope, dups: &mut HashMap<ulid::Ulid, usize>) {
    let mut duplicates = 0;
    for alert in &env.alerts {
        if let Some(n) = dups.get_mut(&alert.id).filter(|n| **n > 0) {
            *n -= 1;
            duplicates += 1;
        }
    }
    if let Some(ack) = env.ack {
        let _ = ack.send(Ok(Receipt {
            stored: env.alerts.len() - duplicates,
            duplicates,
        }));
    }
}
