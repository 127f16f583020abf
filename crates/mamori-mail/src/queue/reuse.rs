//! Connection reuse toward next hops, as Postfix's connection cache does: after a delivery
//! the session stays open for [`IDLE_LIMIT`], and the next message for the same host and
//! port goes over it, without a new TCP handshake, greeting, EHLO (STARTTLS, AUTH) and QUIT.
//! For a gateway relaying to the company's one mail server that is most of the per-message
//! work of both ends.
//!
//! A cached session the server has closed meanwhile fails before any of the message was
//! sent (no reply to MAIL, RCPT or DATA, or a 421 for every recipient); the message then
//! goes over a new connection, so reuse never costs a delivery. A failure once the message
//! was sent is the delivery's own and is reported as it is.

use mamori_smtp::client::{Client, ClientSession, Delivery};
use mamori_smtp::{Envelope, Error};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a session waits for its next message (Postfix: `smtp_connection_cache_time_limit`).
pub const IDLE_LIMIT: Duration = Duration::from_secs(2);
/// After this long a session is closed even if busy, so a next hop that changed (a new
/// certificate, a DNS change behind the name) is seen (Postfix:
/// `smtp_connection_reuse_time_limit`).
const AGE_LIMIT: Duration = Duration::from_secs(300);
/// Idle sessions kept per next hop: one per delivery that can run at once.
const IDLE_PER_HOP: usize = super::PARALLEL_DELIVERIES;

struct Idle {
    session: ClientSession,
    opened: Instant,
    since: Instant,
}

impl Idle {
    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.since) >= IDLE_LIMIT || now.duration_since(self.opened) >= AGE_LIMIT
    }
}

/// The idle sessions, by next hop.
#[derive(Default)]
pub struct Sessions {
    idle: Mutex<HashMap<(String, u16), Vec<Idle>>>,
}

impl Sessions {
    /// Sends one message to `host:port`, over an idle session when there is one.
    pub async fn deliver(
        &self,
        client: &Client,
        host: &str,
        port: u16,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Delivery, Error> {
        if let Some(mut idle) = self.take(host, port) {
            match idle.session.send(envelope, message).await {
                Ok(delivery) if !all_421(&delivery) => {
                    self.keep(host, port, idle.session, idle.opened).await;
                    return Ok(delivery);
                }
                Ok(_) => tracing::debug!(host, port, "cached session closed by the server (421)"),
                Err(e) if failed_before_message(&e) => {
                    tracing::debug!(host, port, error = %e, "cached session no longer usable")
                }
                Err(e) => return Err(e),
            }
            // The others went idle about as long ago: open afresh rather than try each.
            self.close_hop(host, port);
        }
        let mut session = client.connect(host, port).await?;
        let delivery = session.send(envelope, message).await?;
        self.keep(host, port, session, Instant::now()).await;
        Ok(delivery)
    }

    /// Closes sessions idle for longer than [`IDLE_LIMIT`] (call now and then: a server
    /// should not keep a connection open for a gateway that has nothing more to send).
    pub fn close_expired(&self) {
        let now = Instant::now();
        let mut gone = Vec::new();
        if let Ok(mut idle) = self.idle.lock() {
            for sessions in idle.values_mut() {
                let (old, fresh): (Vec<Idle>, Vec<Idle>) =
                    sessions.drain(..).partition(|s| s.expired(now));
                *sessions = fresh;
                gone.extend(old);
            }
            idle.retain(|_, sessions| !sessions.is_empty());
        }
        quit_later(gone);
    }

    /// The most recently used idle session to `host:port` that has not expired.
    fn take(&self, host: &str, port: u16) -> Option<Idle> {
        let now = Instant::now();
        let mut gone = Vec::new();
        let found = {
            let mut idle = self.idle.lock().ok()?;
            let sessions = idle.get_mut(&(host.to_string(), port))?;
            let mut found = None;
            while let Some(s) = sessions.pop() {
                if s.expired(now) {
                    gone.push(s);
                } else {
                    found = Some(s);
                    break;
                }
            }
            found
        };
        quit_later(gone);
        found
    }

    /// Keeps a session whose transaction is over for the next message, or says goodbye
    /// when it is too old or enough are idle already.
    async fn keep(&self, host: &str, port: u16, session: ClientSession, opened: Instant) {
        let now = Instant::now();
        let rest = if now.duration_since(opened) >= AGE_LIMIT {
            Some(session)
        } else {
            match self.idle.lock() {
                Ok(mut idle) => {
                    let sessions = idle.entry((host.to_string(), port)).or_default();
                    if sessions.len() < IDLE_PER_HOP {
                        sessions.push(Idle {
                            session,
                            opened,
                            since: now,
                        });
                        None
                    } else {
                        Some(session)
                    }
                }
                Err(_) => Some(session),
            }
        };
        if let Some(session) = rest {
            if let Err(error) = session.quit().await {
                // The outcome is known; a failed goodbye changes nothing.
                tracing::debug!(%error, "QUIT failed after delivery");
            }
        }
    }

    fn close_hop(&self, host: &str, port: u16) {
        let gone = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.remove(&(host.to_string(), port)))
            .unwrap_or_default();
        quit_later(gone);
    }
}

/// Says goodbye to sessions without making anyone wait for it.
fn quit_later(sessions: Vec<Idle>) {
    for idle in sessions {
        tokio::spawn(async move {
            let _ = idle.session.quit().await;
        });
    }
}

/// The server answered 421 (closing) to the whole transaction: it gave up on the session.
fn all_421(delivery: &Delivery) -> bool {
    !delivery.recipients.is_empty() && delivery.recipients.iter().all(|r| r.reply.code == 421)
}

/// The connection failed before the message itself was sent: nothing can have been
/// delivered, so sending it again elsewhere cannot duplicate it.
fn failed_before_message(e: &Error) -> bool {
    match e {
        Error::Io { during, .. } | Error::Closed { during, .. } => {
            matches!(during.as_str(), "MAIL FROM" | "RCPT TO" | "DATA" | "RSET")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_before_the_message_was_sent_are_retried() {
        let closed = |during: &str| Error::Closed {
            peer: "mx:25".into(),
            during: during.into(),
        };
        assert!(failed_before_message(&closed("MAIL FROM")));
        assert!(failed_before_message(&closed("DATA")));
        assert!(!failed_before_message(&closed("end of DATA")));
        assert!(!failed_before_message(&Error::Timeout {
            peer: "mx:25".into(),
            during: "MAIL FROM".into(),
        }));
    }
}
