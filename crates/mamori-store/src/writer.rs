//! The bus's writer: takes published alerts off the bus and stores them in batches.
//!
//! Batching is "group commit": while one batch is being written, new envelopes queue up and
//! the next write takes them all (up to `batch_size`). Publishers that wait for a receipt are
//! answered as soon as their alerts are committed. Fire-and-forget publishers may let a small
//! batch wait up to `flush` for company. If a merged batch fails, each envelope is retried on
//! its own so one bad envelope does not fail its neighbours.

use crate::DynStore;
use mamori_core::bus::{BusError, Envelope, Receipt, Subscriber};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub batch_size: usize,
    pub flush: Duration,
    pub window: time::Duration,
}

/// Runs until every publisher is gone and the queue is drained.
pub async fn run(mut sub: Subscriber, store: DynStore, config: WriterConfig) {
    while let Some(first) = sub.recv().await {
        let mut count = first.alerts.len();
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.flush;
        while count < config.batch_size {
            if let Some(env) = sub.try_recv() {
                count += env.alerts.len();
                batch.push(env);
                continue;
            }
            let someone_waits = batch.iter().any(|e| e.ack.is_some());
            if someone_waits || config.flush.is_zero() {
                break;
            }
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(env)) => {
                    count += env.alerts.len();
                    batch.push(env);
                }
                Ok(None) | Err(_) => break,
            }
        }
        write(&store, batch, &config).await;
    }
    tracing::debug!("event writer drained and stopped");
}

async fn write(store: &DynStore, batch: Vec<Envelope>, config: &WriterConfig) {
    let all: Vec<_> = batch
        .iter()
        .flat_map(|e| e.alerts.iter().cloned())
        .collect();
    match store.ingest(&all, config.window).await {
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
                write_one(store, env, config).await;
            }
        }
        Err(_) => {
            for env in batch {
                write_one(store, env, config).await;
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
