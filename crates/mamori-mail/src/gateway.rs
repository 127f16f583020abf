//! The SMTP gateway: what happens between `DATA` and `250`.
//!
//! A listener is either **inbound** (internet → Mamori → the company's server) or
//! **outbound** (staff → Mamori → the internet or a smarthost). For each message the gateway
//! runs [`crate::check`], acts on the verdict, writes the message to the durable spool, and
//! only then answers `250`. Inbound: `reject` is answered 550 and not kept; `quarantine` is
//! kept but not delivered; `tag` gets "[要注意]" in the subject and `X-Mamori-*` headers.
//! Outbound: `bcc` hides the visible recipients (the envelope still reaches everyone); `hold`
//! keeps the message until released; `delay` releases it after the send delay. Every verdict
//! other than plain delivery becomes an alert on the bus.

use crate::queue::spool::{Entry, Hold, RcptState, Recipient};
use crate::queue::Queue;
use crate::{check, CheckContext, Direction, Policy, Report, Verdict};
use mamori_core::bus::Publisher;
use mamori_smtp::{async_trait, Envelope, Handler, Reply, SessionInfo};
use std::sync::Arc;

/// Checks SMTP AUTH credentials (the console's users, or a configured list).
#[async_trait]
pub trait Accounts: Send + Sync {
    async fn verify(&self, user: &str, password: &str) -> bool;
}

/// Messages up to this size are checked on the session's own thread.
const INLINE_CHECK_BYTES: usize = 64 << 10;

pub struct Gateway {
    pub direction: Direction,
    pub tenant: String,
    pub policy: Policy,
    pub context: CheckContext,
    pub queue: Arc<Queue>,
    pub bus: Option<Publisher>,
    pub accounts: Option<Arc<dyn Accounts>>,
    /// The console's address as senders reach it, for the release/cancel links in hold
    /// notices; no notice is sent without it.
    pub console_url: Option<String>,
    /// This gateway's host name, in notices.
    pub hostname: String,
    /// Per-account sending volume, refusals and hours, for account-takeover detection; the
    /// queue reports delivery outcomes to the same tracker
    /// ([`Queue::report_outcomes_to`]).
    pub takeover: Arc<crate::takeover::Tracker>,
}

use mamori_core::now_ms;

impl Gateway {
    /// Applies a verdict: the bytes to keep, the hold state, or a refusal.
    fn act(&self, report: &Report, message: Vec<u8>) -> Result<(Vec<u8>, Option<Hold>), Reply> {
        let codes = || {
            report
                .reasons
                .iter()
                .map(|r| r.code.clone())
                .collect::<Vec<_>>()
        };
        match report.verdict {
            Verdict::Reject => {
                let why = report
                    .top_reason()
                    .map(|r| r.message_en.clone())
                    .unwrap_or_default();
                Err(Reply::new(
                    550,
                    Some((5, 7, 1)),
                    format!("Message refused by policy: {why}"),
                ))
            }
            Verdict::Quarantine => Ok((message, Some(Hold::Quarantined { reasons: codes() }))),
            Verdict::Tag => Ok((
                tag(&message, &self.policy.subject_tag, &report.headers()),
                None,
            )),
            Verdict::Bcc => Ok((hide_recipients(&message), None)),
            Verdict::Hold => Ok((message, Some(Hold::Held { reasons: codes() }))),
            Verdict::Delay => {
                let minutes = self.policy.send_delay_minutes as i64;
                Ok((
                    message,
                    Some(Hold::Delayed {
                        until_ms: now_ms() + minutes * 60_000,
                    }),
                ))
            }
            Verdict::Deliver => Ok((message, None)),
        }
    }
}

#[async_trait]
impl Handler for Gateway {
    async fn authenticate(&self, _session: &SessionInfo, user: &str, password: &str) -> bool {
        match &self.accounts {
            Some(a) => a.verify(user, password).await,
            None => false,
        }
    }

    async fn data(&self, session: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        let (policy, mut ctx, direction) =
            (self.policy.clone(), self.context.clone(), self.direction);
        ctx.envelope_recipients = envelope.rcpt_to.clone();
        // A small message is checked right here: handing it to the blocking pool costs two
        // thread switches, more than the check itself (6–8% of the relay's throughput).
        // A large one, whose attachments may take a while, goes to the blocking pool so that
        // it does not hold up the other sessions on this thread.
        let small = message.len() <= INLINE_CHECK_BYTES;
        let run = move || (check(&message, direction, &policy, &ctx), message);
        let checked = if small {
            Ok(run())
        } else {
            tokio::task::spawn_blocking(run).await
        };
        let (report, message) = match checked {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "mail check crashed");
                return Reply::new(
                    451,
                    Some((4, 3, 0)),
                    "Temporary local problem; try again later",
                );
            }
        };
        let mut report = match report {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(peer = %session.peer, error = %e, "unreadable message refused");
                return Reply::new(554, Some((5, 6, 0)), format!("Message not readable: {e}"));
            }
        };
        if let (Direction::Outbound, Some(account)) = (self.direction, &session.authenticated) {
            let over = self.takeover.record(
                account,
                &envelope.rcpt_to,
                now_ms(),
                &crate::takeover::Limits::from(&self.policy),
            );
            if let Some(reason) = over {
                tracing::warn!(%account, "outbound volume over the account's limit; holding its mail");
                report.score += reason.score;
                report.reasons.insert(0, reason);
                report.verdict = Verdict::Hold;
            }
        }
        if report.verdict != Verdict::Deliver {
            if let Some(bus) = &self.bus {
                if let Err(e) = bus.publish(report.alerts(&self.tenant)).await {
                    tracing::warn!(error = %e, "mail alert not published");
                }
            }
        }
        let (bytes, hold) = match self.act(&report, message) {
            Ok(x) => x,
            Err(refusal) => return refusal,
        };
        let id = ulid::Ulid::new().to_string();
        let entry = Entry {
            id: id.clone(),
            tenant: self.tenant.clone(),
            direction: self.direction.as_str().to_string(),
            mail_from: envelope.mail_from.clone().unwrap_or_default(),
            recipients: envelope
                .rcpt_to
                .iter()
                .map(|a| Recipient {
                    address: a.clone(),
                    state: RcptState::Pending,
                    last_reply: String::new(),
                })
                .collect(),
            received_ms: now_ms(),
            attempts: 0,
            next_attempt_ms: 0,
            last_error: String::new(),
            hold,
            auth_user: session.authenticated.clone(),
            size: bytes.len() as u64,
            report: Some(report.to_json()),
        };
        // The spool's writes and fsyncs block: never on the runtime's threads, so that other
        // sessions go on (and concurrent messages share one sync).
        let stored = self.queue.enqueue_async(entry.clone(), bytes).await;
        match stored {
            Ok(()) => {
                tracing::info!(id = %id, verdict = report.verdict.as_str(), score = report.score, "message accepted");
                if matches!(entry.hold, Some(Hold::Held { .. })) || report.verdict == Verdict::Bcc {
                    self.notify_sender(&entry, &report);
                }
                Reply::queued(&id)
            }
            Err(e) => {
                tracing::error!(error = %e, "spool write failed");
                Reply::new(
                    451,
                    Some((4, 3, 0)),
                    "Temporary local problem; try again later",
                )
            }
        }
    }
}

impl Gateway {
    /// Tells the sender (the authenticated account, else the envelope sender) what the guard
    /// did: recipients moved to Bcc, or the message held, with signed links to send or cancel
    /// — which the policy's approvers get too.
    fn notify_sender(&self, held: &Entry, report: &Report) {
        let to = held
            .auth_user
            .clone()
            .filter(|u| u.contains('@'))
            .unwrap_or_else(|| held.mail_from.clone());
        if to.is_empty() {
            return;
        }
        if report.verdict == Verdict::Bcc {
            let (entry, bytes) = crate::notice::moved_to_bcc(held, report, &to, &self.hostname);
            if let Err(e) = self.queue.enqueue(&entry, &bytes) {
                tracing::error!(error = %e, "Bcc notice not queued");
            }
            return;
        }
        let Some(url) = &self.console_url else { return };
        let secret = match self.queue.spool().link_secret() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no link secret; hold notice not sent");
                return;
            }
        };
        let sender = Some(to.as_str());
        let readers = std::iter::once((to.as_str(), None)).chain(
            self.policy
                .hold_approvers
                .iter()
                .filter(|a| !a.eq_ignore_ascii_case(&to))
                .map(|a| (a.as_str(), sender)),
        );
        for (reader, approving) in readers {
            let link = crate::notice::Links {
                console_url: url,
                secret: &secret,
            };
            let (entry, bytes) =
                crate::notice::held(held, report, reader, approving, &link, &self.hostname);
            if let Err(e) = self.queue.enqueue(&entry, &bytes) {
                tracing::error!(error = %e, "hold notice not queued");
            }
        }
    }
}

/// Splits a message into its header block (with the blank line) and body.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    match crate::mime::header_end(message) {
        Some(i) => message.split_at(i),
        None => (&message[..0], message),
    }
}

/// Header fields as (raw name, raw field including continuation lines).
fn fields(head: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        let end = head[i..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| i + p + 2)
            .unwrap_or(head.len());
        let continuation = head.get(end).is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            let field = &head[start..end];
            let name = field.split(|b| *b == b':').next().unwrap_or(field);
            out.push((name, field));
            start = end;
        }
        i = end;
    }
    out
}

/// Adds the tag to the subject and the verdict headers on top.
fn tag(message: &[u8], prefix: &str, headers: &[(String, String)]) -> Vec<u8> {
    let (head, body) = split(message);
    let mut out = Vec::with_capacity(message.len() + 256);
    for (name, value) in headers {
        out.extend_from_slice(
            format!("{name}: {}\r\n", value.replace(['\r', '\n'], " ")).as_bytes(),
        );
    }
    let encoded = format!(
        "=?UTF-8?B?{}?=",
        base64_encode(format!("{prefix} ").as_bytes())
    );
    let mut had_subject = false;
    for (name, field) in fields(head) {
        if name.eq_ignore_ascii_case(b"subject") && !had_subject {
            had_subject = true;
            let value = &field[name.len() + 1..];
            out.extend_from_slice(b"Subject: ");
            out.extend_from_slice(encoded.as_bytes());
            out.extend_from_slice(value);
        } else {
            out.extend_from_slice(field);
        }
    }
    if !had_subject {
        out.extend_from_slice(format!("Subject: {encoded}\r\n").as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Removes To and Cc so that recipients no longer see each other; the envelope still
/// delivers to every one of them.
fn hide_recipients(message: &[u8]) -> Vec<u8> {
    let (head, body) = split(message);
    let mut out = Vec::with_capacity(message.len());
    let mut replaced = false;
    for (name, field) in fields(head) {
        if name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"cc") {
            if !replaced {
                out.extend_from_slice(b"To: undisclosed-recipients:;\r\n");
                replaced = true;
            }
        } else {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(body);
    out
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@example.jp\r\nTo: x@a.example,\r\n y@b.example\r\nCc: z@c.example\r\nSubject: =?UTF-8?B?5qGI5YaF?=\r\n\r\nbody\r\n";

    #[test]
    fn hiding_recipients_drops_to_and_cc_with_their_continuations() {
        let out = String::from_utf8(hide_recipients(MAIL)).unwrap();
        assert_eq!(out, "From: a@example.jp\r\nTo: undisclosed-recipients:;\r\nSubject: =?UTF-8?B?5qGI5YaF?=\r\n\r\nbody\r\n");
    }

    #[test]
    fn tagging_prefixes_the_subject_and_adds_headers() {
        let out = String::from_utf8(tag(
            MAIL,
            "[要注意]",
            &[("X-Mamori-Verdict".into(), "tag".into())],
        ))
        .unwrap();
        assert!(out.starts_with("X-Mamori-Verdict: tag\r\n"));
        assert!(
            out.contains("Subject: =?UTF-8?B?W+imgeazqOaEj10g?= =?UTF-8?B?5qGI5YaF?=\r\n"),
            "{out}"
        );
        assert!(out.ends_with("\r\n\r\nbody\r\n"));
    }
}
