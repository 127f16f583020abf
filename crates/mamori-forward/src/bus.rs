//! The bus subscriber of a sensor: alerts go to the spool instead of a store.
//!
//! Like the console's store writer it takes every envelope already waiting and writes them
//! as one append, so one fsync covers many publishers. A publisher waiting for a receipt
//! gets `stored` = the number of its alerts now durable in the spool (`duplicates` is always
//! 0: the console finds duplicates later). The bus permits are returned only after the
//! append, so a full spool makes engines wait on the bus.

use crate::Spool;
use mamori_core::bus::{BusError, Envelope, Receipt, Subscriber};

/// How many alerts one append takes at most.
const BATCH_ALERTS: usize = 4096;

/// Runs until every publisher is gone and the bus is drained.
pub async fn spool_writer(mut sub: Subscriber, spool: Spool) {
    while let Some(first) = sub.recv().await {
        let mut count = first.alerts.len();
        let mut batch = vec![first];
        while count < BATCH_ALERTS {
            match sub.try_recv() {
                Some(env) => {
                    count += env.alerts.len();
                    batch.push(env);
                }
                None => break,
            }
        }
        write(&spool, batch, count).await;
    }
    tracing::debug!("spool writer drained and stopped");
}

async fn write(spool: &Spool, batch: Vec<Envelope>, count: usize) {
    let mut alerts = Vec::with_capacity(count);
    let mut waiting = Vec::new();
    let mut permits = Vec::with_capacity(batch.len());
    for env in batch {
        if let Some(ack) = env.ack {
            waiting.push((ack, env.alerts.len()));
        }
        alerts.extend(env.alerts);
        permits.push(env.permit);
    }
    match spool.append(&alerts).await {
        Ok(_) => {
            for (ack, stored) in waiting {
                let _ = ack.send(Ok(Receipt {
                    stored,
                    duplicates: 0,
                }));
            }
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(error = %reason, events = alerts.len(), "alerts could not be spooled and are lost");
            for (ack, _) in waiting {
                let _ = ack.send(Err(BusError::Store(reason.clone())));
            }
        }
    }
    drop(permits);
}
