//! The help desk: a conversation on each incident between the company (a tenant's users) and
//! its provider. A message is kept in the incident's timeline and mailed to the other side
//! (the tenant's admins, or `[helpdesk].provider_mail`) through `[notify].smtp`, with the
//! subject `[Mamori #<incident>] <title>` and `Reply-To: [helpdesk].address`, so replies by
//! mail come back to the same conversation (the SMTP listener of `mamori up`).

use crate::{AppState, ConsoleError};
use mamori_core::incident::{IncidentChange, Side};
use mamori_core::{Incident, Role, Scope, Ulid};

/// The subject tag that ties a mail to an incident.
pub fn subject(incident: &Incident) -> String {
    format!("[Mamori #{}] {}", incident.id, incident.title)
}

/// The incident id in a subject carrying [`subject`]'s tag.
pub fn incident_in_subject(subject: &str) -> Option<Ulid> {
    let start = subject.find("[Mamori #")? + "[Mamori #".len();
    let id = subject.get(start..start + 26)?;
    if subject.get(start + 26..start + 27) != Some("]") {
        return None;
    }
    Ulid::from_string(id).ok()
}

/// Which side a user writes for.
pub fn side_of(role: Role) -> Side {
    if role == Role::ProviderAdmin {
        Side::Provider
    } else {
        Side::Customer
    }
}

/// Adds `text` to the incident's conversation as `actor` and mails it to the other side (in
/// the background; a failure is logged, the message is kept either way).
pub async fn post(
    state: &AppState,
    scope: &Scope,
    actor: &str,
    side: Side,
    incident: Ulid,
    text: &str,
    via: &str,
) -> Result<Incident, ConsoleError> {
    let change = IncidentChange::Message {
        text: text.trim().to_string(),
        side,
        via: via.to_string(),
    };
    let inc = state
        .store
        .update_incident(scope, incident, change, actor)
        .await?;
    let recipients: Vec<String> = match side {
        Side::Provider => state
            .store
            .users(&Scope::Tenant(inc.tenant.clone()))
            .await?
            .into_iter()
            .filter(|u| u.role == Role::TenantAdmin)
            .map(|u| u.email)
            .collect(),
        Side::Customer => state.config.helpdesk.provider_mail.clone(),
    };
    let relay = state
        .config
        .notify
        .get("smtp")
        .cloned()
        .and_then(|v| v.try_into::<mamori_notify::SmtpRelay>().ok());
    match relay {
        Some(relay) if !recipients.is_empty() => {
            let subject = subject(&inc);
            let link = format!(
                "{}/incidents/{}",
                state.config.mail_gateway.console_url.trim_end_matches('/'),
                inc.id
            );
            let body = format!(
                "{text}\n\n-- \n{actor}\n{link}\nこのメールに返信すると、インシデントの会話に追加されます。 / Reply to add to the incident's conversation.\n",
                text = text.trim()
            );
            let reply_to = state.config.helpdesk.address.clone();
            tokio::spawn(async move {
                let extra: Vec<(&str, &str)> = if reply_to.is_empty() {
                    Vec::new()
                } else {
                    vec![("Reply-To", reply_to.as_str())]
                };
                let policy = mamori_notify::RetryPolicy::default();
                if let Err(e) =
                    mamori_notify::send_mail(&relay, &policy, &recipients, &subject, &body, &extra)
                        .await
                {
                    tracing::warn!(error = %e, "help-desk message not mailed");
                }
            });
        }
        _ => tracing::debug!("help-desk message kept; no relay or no recipient to mail it to"),
    }
    Ok(inc)
}

/// The new text of a reply: what is above the quoted original and the signature.
pub fn reply_text(body: &str) -> String {
    let mut out = Vec::new();
    for line in body.lines() {
        let t = line.trim_end();
        if t == "-- " || t == "--" || t.starts_with('>') {
            break;
        }
        // "On … wrote:" / 「… のメッセージ:」 / 「…wrote:」 introduce the quoted original.
        if (t.starts_with("On ") && t.ends_with("wrote:"))
            || t.ends_with("のメッセージ:")
            || t.ends_with("書きました:")
        {
            break;
        }
        out.push(t);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_tag_names_the_incident() {
        let id = Ulid::new();
        assert_eq!(
            incident_in_subject(&format!("Re: [Mamori #{id}] C2 beacon")),
            Some(id)
        );
        assert_eq!(incident_in_subject("Re: [Mamori #01J0] x"), None);
        assert_eq!(incident_in_subject("no tag"), None);
    }

    #[test]
    fn replies_lose_the_quoted_original_and_the_signature() {
        let body = "対応ありがとうございます。\nPCは電源を切りました。\n\n2026年11月23日 10:00 Mamori のメッセージ:\n> 隔離しました\n";
        assert_eq!(
            reply_text(body),
            "対応ありがとうございます。\nPCは電源を切りました。"
        );
        assert_eq!(reply_text("ok\n-- \nsig"), "ok");
        assert_eq!(reply_text("On Mon, X wrote:\n> a"), "");
    }
}
