//! The in-process bus: engines publish alerts, one writer stores them in batches.
//!
//! The bus is bounded by the number of alerts waiting, not by the number of messages: a
//! publisher first takes one permit per alert from a semaphore and the writer gives them back
//! once the alerts are stored, so a flood makes publishers wait (backpressure) instead of
//! growing memory. A publisher that must know its alerts are stored before it answers its own
//! client (the ingest API, the SMTP gateway) uses [`Publisher::publish_and_wait`].
//!
//! Shutdown: when every [`Publisher`] is dropped the writer drains what is queued, then stops.

use crate::alert::Alert;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// What the writer reports back for one published batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    pub stored: usize,
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BusError {
    #[error("the event writer has stopped")]
    Closed,
    #[error("storing events failed: {0}")]
    Store(String),
}

/// One published batch as the writer receives it.
pub struct Envelope {
    pub alerts: Vec<Alert>,
    /// Answered once the batch is stored (or failed), when the publisher waits.
    pub ack: Option<oneshot::Sender<Result<Receipt, BusError>>>,
    /// Returned to the bus when the envelope is dropped, after storing.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// The publishing side; cheap to clone, one per engine or request.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Envelope>,
    room: Arc<Semaphore>,
    capacity: usize,
}

/// The writer's side.
pub struct Subscriber {
    rx: mpsc::UnboundedReceiver<Envelope>,
}

/// A bus holding at most `capacity` alerts that are published but not yet stored.
pub fn channel(capacity: usize) -> (Publisher, Subscriber) {
    let capacity = capacity.max(1);
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Publisher {
            tx,
            room: Arc::new(Semaphore::new(capacity)),
            capacity,
        },
        Subscriber { rx },
    )
}

impl Publisher {
    async fn envelope(&self, alerts: Vec<Alert>) -> Result<Envelope, BusError> {
        // A batch larger than the whole bus takes the whole bus rather than waiting forever.
        let want = alerts.len().clamp(1, self.capacity) as u32;
        let permit = self
            .room
            .clone()
            .acquire_many_owned(want)
            .await
            .map_err(|_| BusError::Closed)?;
        Ok(Envelope {
            alerts,
            ack: None,
            permit: Some(permit),
        })
    }

    /// Queues alerts for storing; waits while the bus is full.
    pub async fn publish(&self, alerts: Vec<Alert>) -> Result<(), BusError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let env = self.envelope(alerts).await?;
        self.tx.send(env).map_err(|_| BusError::Closed)
    }

    /// Queues alerts and waits until they are stored.
    pub async fn publish_and_wait(&self, alerts: Vec<Alert>) -> Result<Receipt, BusError> {
        if alerts.is_empty() {
            return Ok(Receipt::default());
        }
        let (ack, done) = oneshot::channel();
        let mut env = self.envelope(alerts).await?;
        env.ack = Some(ack);
        self.tx.send(env).map_err(|_| BusError::Closed)?;
        done.await.map_err(|_| BusError::Closed)?
    }

    /// Alerts currently waiting to be stored.
    pub fn queued(&self) -> usize {
        self.capacity - self.room.available_permits()
    }
}

impl Subscriber {
    /// The next envelope; `None` once every publisher is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Envelope> {
        self.rx.recv().await
    }

    /// An envelope if one is waiting now.
    pub fn try_recv(&mut self) -> Option<Envelope> {
        self.rx.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Engine, Severity};

    fn alert() -> Alert {
        Alert::new(Engine::Ids, "t", "t", Severity::Low, "t")
    }

    #[tokio::test]
    async fn a_full_bus_makes_publishers_wait_until_the_writer_frees_room() {
        let (publisher, mut sub) = channel(2);
        publisher.publish(vec![alert(), alert()]).await.unwrap();
        assert_eq!(publisher.queued(), 2);
        let p2 = publisher.clone();
        let waiting = tokio::spawn(async move { p2.publish(vec![alert()]).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(sub.recv().await.unwrap());
        waiting.await.unwrap().unwrap();
        assert_eq!(publisher.queued(), 1);
    }

    #[tokio::test]
    async fn the_queue_drains_after_publishers_are_gone() {
        let (publisher, mut sub) = channel(10);
        publisher.publish(vec![alert()]).await.unwrap();
        publisher.publish(vec![alert()]).await.unwrap();
        drop(publisher);
        assert!(sub.recv().await.is_some());
        assert!(sub.recv().await.is_some());
        assert!(sub.recv().await.is_none());
    }
}
