//! The report mailbox: staff forward a suspicious mail to the report address, and a
//! training mail forwarded there counts as reported.
//!
//! The forwarded original may be attached (`message/rfc822`, or an `.eml` file) or quoted
//! inline. Either way its tracking links carry the recipient's token (also when a gateway
//! rewrote them into a percent-encoded "safe link"); an attached original also keeps its
//! `X-Mamori-Drill` header and `Message-ID: <token@…>`. Input is an untrusted mail: capped
//! at 10 MiB, nested messages followed five deep, nothing unwrapped.

use crate::{valid_token, Drill, DrillError, Kind, Origin};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;

/// Largest report mail accepted.
pub const MAX_REPORT_MAIL: usize = 10 * 1024 * 1024;

/// Whose training mail was reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reported {
    pub tenant: String,
    pub campaign_id: String,
    pub email: String,
}

impl Drill {
    /// Records a report for the training mail forwarded in `raw`; `None` when it holds no
    /// known token (an ordinary report for the mail team).
    pub fn handle_report_mail(&self, raw: &[u8]) -> Result<Option<Reported>, DrillError> {
        if raw.len() > MAX_REPORT_MAIL {
            return Err(DrillError::ReportTooBig(raw.len()));
        }
        let Some(message) = MessageParser::default().parse(raw) else {
            return Ok(None);
        };
        let mut tokens = Vec::new();
        candidate_tokens(&message, 0, &mut tokens);
        let origin = Origin {
            ip: None,
            user_agent: Some("report mailbox".into()),
            method: "MAIL".into(),
        };
        for token in tokens {
            if let Some(owner) = self.record(&token, Kind::Report, &origin)? {
                tracing::info!(campaign = %owner.campaign_id, recipient = owner.recipient_id, "drill mail reported");
                return Ok(Some(Reported {
                    tenant: owner.tenant,
                    campaign_id: owner.campaign_id,
                    email: owner.email,
                }));
            }
        }
        Ok(None)
    }
}

/// Tokens found in a message and the messages nested in it, most telling first.
pub(crate) fn candidate_tokens(message: &Message<'_>, depth: usize, out: &mut Vec<String>) {
    if depth > 5 {
        return;
    }
    if message.header_raw("X-Mamori-Drill").is_some() {
        if let Some(id) = message.message_id() {
            let local = id.split('@').next().unwrap_or("");
            if valid_token(local) && !out.iter().any(|t| t == local) {
                out.push(local.to_string());
            }
        }
    }
    for part in &message.parts {
        match &part.body {
            PartType::Text(text) | PartType::Html(text) => tokens_in_text(text, out),
            PartType::Message(nested) => candidate_tokens(nested, depth + 1, out),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                let looks_like_mail = part
                    .content_type()
                    .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("message"))
                    || part
                        .attachment_name()
                        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".eml"));
                if looks_like_mail {
                    if let Some(nested) = MessageParser::default().parse(bytes.as_ref()) {
                        candidate_tokens(&nested, depth + 1, out);
                    }
                }
            }
            PartType::Multipart(_) => {}
        }
    }
}

/// Tokens after `/t/<letter>/` in text, also percent-encoded (`%2Ft%2Fc%2F`).
fn tokens_in_text(text: &str, out: &mut Vec<String>) {
    let decoded = text.replace("%2F", "/").replace("%2f", "/");
    let bytes = decoded.as_bytes();
    let mut from = 0;
    while let Some(at) = decoded[from..].find("/t/") {
        let start = from + at + 3;
        from = start;
        if bytes.len() < start + 2 + 32
            || bytes[start + 1] != b'/'
            || !b"ocasre".contains(&bytes[start])
        {
            continue;
        }
        let Some(token) = decoded.get(start + 2..start + 34) else {
            continue;
        };
        if valid_token(token) && !out.iter().any(|t| t == token) {
            out.push(token.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn tokens_are_found_in_links_and_safe_links() {
        let mut out = Vec::new();
        tokens_in_text(
            &format!("see http://x/t/c/{TOKEN} and https://safe/?url=http%3A%2F%2Fx%2Ft%2Fo%2F{}.gif /t/c/short", "B".repeat(32)),
            &mut out,
        );
        assert_eq!(out, vec![TOKEN.to_string(), "B".repeat(32)]);
    }

    #[test]
    fn an_attached_original_is_searched() {
        let raw = format!(
            "From: a@x.jp\r\nTo: report@x.jp\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
             Looks fake\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
             From: evil@y.test\r\nMessage-ID: <{TOKEN}@y.test>\r\nX-Mamori-Drill: C1\r\nSubject: x\r\n\r\nbody\r\n--b--\r\n"
        );
        let message = MessageParser::default().parse(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        candidate_tokens(&message, 0, &mut out);
        assert_eq!(out, vec![TOKEN.to_string()]);
    }

    #[test]
    fn garbage_finds_nothing() {
        let mut out = Vec::new();
        tokens_in_text("/t/", &mut out);
        tokens_in_text("/t/c/", &mut out);
        tokens_in_text("/t/cé/ééééééééééééééééééééééééééééééé", &mut out);
        assert!(out.is_empty());
        assert!(MessageParser::default().parse(b"").is_none() || out.is_empty());
    }
}
