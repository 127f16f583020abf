//! Mail into Mamori: an SMTP listener (`[helpdesk].listen`) that takes replies to the help
//! desk's messages and adds them to their incident's conversation, and suspicious mail staff
//! forward to the training's report address (`[drill].report_address`).
//!
//! A reply is accepted when its subject carries `[Mamori #<incident>]` and its sender (the
//! From address) is a console user who may see that incident; the text above the quoted
//! original becomes the message. Anything else is refused at DATA with the reason, so the
//! sender's server bounces it back to them.

use anyhow::{Context, Result};
use mamori_console::AppState;
use mamori_smtp::{Envelope, Handler, Reply, SessionInfo};
use std::sync::Arc;

/// Largest reply accepted.
const MAX_REPLY: usize = 2 * 1024 * 1024;

struct Inbox {
    state: AppState,
}

fn refuse(text: &str) -> Reply {
    Reply::new(550, None, text)
}

#[mamori_smtp::async_trait]
impl Handler for Inbox {
    async fn data(&self, _: &SessionInfo, envelope: &Envelope, message: Vec<u8>) -> Reply {
        if message.len() > MAX_REPLY {
            return Reply::new(552, None, "message too large for the help desk");
        }
        let report_address = &self.state.config.drill.report_address;
        if let Some(drill) = self.state.drill.clone().filter(|_| {
            !report_address.is_empty()
                && envelope
                    .rcpt_to
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(report_address))
        }) {
            // A suspicious mail forwarded by staff: a training mail counts as reported.
            let outcome =
                tokio::task::spawn_blocking(move || drill.handle_report_mail(&message)).await;
            return match outcome {
                Ok(Ok(Some(r))) => {
                    tracing::info!(campaign = %r.campaign_id, "training mail reported");
                    Reply::queued("reported")
                }
                Ok(Ok(None)) => Reply::queued("thank you"),
                Ok(Err(e)) => refuse(&e.to_string()),
                Err(e) => {
                    tracing::warn!(error = %e, "report mail not handled");
                    Reply::new(451, None, "try again later")
                }
            };
        }
        let Some(parsed) = mail_parser::MessageParser::default().parse(&message) else {
            return refuse("not a mail message");
        };
        let subject = parsed.subject().unwrap_or_default();
        let Some(incident) = mamori_console::helpdesk::incident_in_subject(subject) else {
            return refuse(
                "no [Mamori #incident] tag in the subject; reply to a help-desk message",
            );
        };
        let from = parsed
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_lowercase)
            .or_else(|| envelope.mail_from.clone().map(|m| m.to_lowercase()));
        let Some(from) = from else {
            return refuse("no sender address");
        };
        let user = match self.state.store.user_by_email(&from).await {
            Ok(Some(u)) => u,
            Ok(None) => return refuse("the sender is not a user of this console"),
            Err(e) => {
                tracing::warn!(error = %e, "help desk: user lookup failed");
                return Reply::new(451, None, "try again later");
            }
        };
        let body = parsed.body_text(0).unwrap_or_default();
        let text = mamori_console::helpdesk::reply_text(&body);
        if text.is_empty() {
            return refuse("the reply has no text above the quoted message");
        }
        let side = mamori_console::helpdesk::side_of(user.role);
        match mamori_console::helpdesk::post(
            &self.state,
            &user.scope(),
            &user.email,
            side,
            incident,
            &text,
            "mail",
        )
        .await
        {
            Ok(_) => {
                tracing::info!(%incident, sender = %user.email, "help-desk reply added");
                Reply::queued(&incident.to_string())
            }
            Err(mamori_console::ConsoleError::NotFound) => {
                refuse("no such incident for this sender")
            }
            Err(e) => {
                tracing::warn!(error = %e, "help desk: reply not stored");
                Reply::new(451, None, "try again later")
            }
        }
    }
}

/// Serves the help desk's SMTP listener until the process stops.
pub async fn run(state: AppState) -> Result<()> {
    let listen = state.config.helpdesk.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("[helpdesk] listen {listen}"))?;
    tracing::info!(address = %listener.local_addr()?, "help desk receiving replies by mail");
    let mut config = mamori_smtp::ServerConfig::new("mamori-helpdesk");
    config.max_message_bytes = MAX_REPLY as u64;
    mamori_smtp::listen(
        listener,
        Arc::new(config),
        Arc::new(Inbox { state }),
        crate::up::shutdown_signal(),
    )
    .await;
    Ok(())
}
