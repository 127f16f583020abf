//! Mail: the RFC 5322 message (UTF-8 subject in RFC 2047 encoded words, a base64
//! `text/plain; charset=UTF-8` body, so no relay needs 8BITMIME), and delivery through
//! the configured relay with `mamori_smtp`'s client, retrying 4xx replies and connection
//! failures.

use crate::config::{RetryPolicy, SmtpRelay};
use crate::error::NotifyError;
use crate::render::Message;
use crate::webhook::Attempted;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use mamori_smtp::{CertificateCheck, Client, ClientConfig, Credentials, Envelope, StartTls};
use mamori_smtp::{Error as SmtpError, RecipientStatus};
use std::time::Duration;
use time::{OffsetDateTime, UtcOffset};

/// Bytes of UTF-8 per encoded word: 45 bytes are 60 base64 characters, and with
/// `=?UTF-8?B?` and `?=` the word stays within RFC 2047's 75.
const WORD_BYTES: usize = 45;

/// Encodes a header value as RFC 2047 `B` encoded words when it is not plain short ASCII;
/// words are folded onto continuation lines.
pub(crate) fn encode_header(value: &str) -> String {
    if value.is_ascii() && value.len() <= 60 && !value.contains("=?") {
        return value.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars() {
        // Never split a character across words (RFC 2047 section 5).
        if chunk.len() + c.len_utf8() > WORD_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", BASE64.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", BASE64.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// The whole message, CRLF line endings, ready for DATA.
pub(crate) fn compose(
    from: &str,
    to: &[String],
    message: &Message,
    now: OffsetDateTime,
    offset: UtcOffset,
) -> Vec<u8> {
    compose_text(
        from,
        to,
        &message.subject,
        &message.text(),
        now,
        offset,
        &[],
    )
}

/// A plain-text UTF-8 message with `extra` headers (already valid header lines' name and
/// value, e.g. `Reply-To`).
pub(crate) fn compose_text(
    from: &str,
    to: &[String],
    subject: &str,
    text: &str,
    now: OffsetDateTime,
    offset: UtcOffset,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    let date = now
        .to_offset(offset)
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or("mamori");
    let mut out = String::new();
    out.push_str(&format!("Date: {date}\r\n"));
    out.push_str(&format!(
        "Message-ID: <{}.notify@{domain}>\r\n",
        ulid::Ulid::new()
    ));
    out.push_str(&format!("From: Mamori <{from}>\r\n"));
    out.push_str(&format!("To: {}\r\n", to.join(",\r\n ")));
    out.push_str(&format!("Subject: {}\r\n", encode_header(subject)));
    for (name, value) in extra {
        // Header values never carry line breaks from the caller.
        let value: String = value.chars().filter(|c| !c.is_control()).collect();
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
    out.push_str("Content-Transfer-Encoding: base64\r\n");
    // RFC 3834: vacation responders must not answer.
    out.push_str("Auto-Submitted: auto-generated\r\n");
    out.push_str("\r\n");
    let body = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let encoded = BASE64.encode(body.as_bytes());
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// The relay and a client for it.
pub(crate) struct Relay {
    client: Client,
    host: String,
    port: u16,
    pub from: String,
}

impl Relay {
    pub(crate) fn new(relay: &SmtpRelay, timeout: Duration) -> Result<Relay, NotifyError> {
        let mut config = ClientConfig::new(relay.helo_name.clone());
        config.starttls = if relay.starttls {
            StartTls::Required
        } else {
            StartTls::Never
        };
        config.certificates = if relay.accept_invalid_certs {
            CertificateCheck::AcceptAny
        } else {
            CertificateCheck::WebPkiRoots
        };
        config.credentials = match (&relay.user, &relay.password) {
            (Some(user), Some(password)) => Some(Credentials {
                user: user.clone(),
                password: password.clone(),
            }),
            _ => None,
        };
        config.connect_timeout = timeout;
        config.command_timeout = timeout;
        config.data_timeout = timeout * 3;
        let client = Client::new(config).map_err(|e| NotifyError::Client {
            what: "SMTP",
            message: e.to_string(),
        })?;
        Ok(Relay {
            client,
            host: relay.host.clone(),
            port: relay.port,
            from: relay.from.clone(),
        })
    }

    /// Delivers to every recipient, retrying those that failed temporarily.
    pub(crate) async fn send(
        &self,
        to: &[String],
        bytes: &[u8],
        policy: &RetryPolicy,
    ) -> Attempted {
        let mut pending = to.to_vec();
        let mut permanent: Vec<String> = Vec::new();
        let mut last_error = None;
        let mut attempts = 0;
        while attempts < policy.attempts && !pending.is_empty() {
            if attempts > 0 {
                tokio::time::sleep(policy.delay(attempts)).await;
            }
            attempts += 1;
            let envelope = Envelope {
                mail_from: Some(self.from.clone()),
                rcpt_to: pending.clone(),
                ..Envelope::default()
            };
            match self
                .client
                .deliver(&self.host, self.port, &envelope, bytes)
                .await
            {
                Ok(delivery) => {
                    pending.clear();
                    for r in delivery.recipients {
                        let failure = format!("{}: {}", r.address, r.reply);
                        match r.status {
                            RecipientStatus::Accepted => {}
                            RecipientStatus::TemporaryFailure => {
                                pending.push(r.address);
                                last_error = Some(failure);
                            }
                            RecipientStatus::PermanentFailure => permanent.push(failure),
                        }
                    }
                }
                Err(error) if is_permanent(&error) => {
                    permanent.push(error.to_string());
                    pending.clear();
                }
                Err(error) => last_error = Some(error.to_string()),
            }
            if !pending.is_empty() {
                tracing::debug!(attempt = attempts, relay = %self.host, error = last_error.as_deref().unwrap_or(""), "mail delivery failed, may retry");
            }
        }
        if !pending.is_empty() {
            permanent.push(last_error.unwrap_or_else(|| "not delivered".into()));
        }
        Attempted {
            attempts,
            error: (!permanent.is_empty()).then(|| permanent.join("; ")),
        }
    }
}

/// Failures that another try will not fix: a 5xx refusal, TLS or AUTH missing.
fn is_permanent(error: &SmtpError) -> bool {
    match error {
        SmtpError::Refused { reply, .. } => reply.is_permanent(),
        SmtpError::TlsUnavailable { .. }
        | SmtpError::AuthUnavailable { .. }
        | SmtpError::AuthWithoutTls { .. }
        | SmtpError::ServerName { .. }
        | SmtpError::TlsConfig(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal RFC 2047 `B` decoder, to check that encoding round-trips.
    fn decode(value: &str) -> String {
        let mut bytes = Vec::new();
        for word in value.split("\r\n ") {
            let inner = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .expect("an encoded word");
            bytes.extend(BASE64.decode(inner).expect("base64"));
        }
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn japanese_subjects_round_trip_through_encoded_words() {
        let subject = "[Mamori][重大] acme : 新しいインシデント 社内PCから C2 サーバーへの定期通信（4,126 回）が検知されました";
        let encoded = encode_header(subject);
        for line in encoded.split("\r\n") {
            assert!(line.len() <= 76, "{line}");
            assert!(line.is_ascii());
        }
        assert!(encoded.contains("\r\n "), "long subjects fold");
        assert_eq!(decode(&encoded), subject);
        assert_eq!(encode_header("[Mamori] short"), "[Mamori] short");
    }

    #[test]
    fn the_message_is_mime_with_a_base64_utf8_body() {
        use crate::config::Language;
        use crate::gate::Extra;
        use crate::notice::tests::{incident, notice};
        use crate::notice::Trigger;
        use crate::render::Style;
        let style = Style {
            language: Language::Ja,
            offset: UtcOffset::from_hms(9, 0, 0).expect("offset"),
            console_url: None,
        };
        let n = notice(
            incident("acme", mamori_core::Severity::High),
            Trigger::Opened,
        );
        let m = Message::incident(&n, Extra::default(), &style);
        let now = time::macros::datetime!(2025-03-01 01:00 UTC);
        let bytes = compose(
            "mamori@example.jp",
            &["a@example.jp".into()],
            &m,
            now,
            style.offset,
        );
        let text = String::from_utf8(bytes).expect("ascii");
        assert!(text.is_ascii());
        assert!(
            text.contains("Date: Sat, 01 Mar 2025 10:00:00 +0900\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Type: text/plain; charset=UTF-8\r\n"));
        let (_, body) = text.split_once("\r\n\r\n").expect("header and body");
        let decoded = BASE64
            .decode(body.replace("\r\n", ""))
            .expect("base64 body");
        let decoded = String::from_utf8(decoded).expect("utf-8");
        assert!(decoded.contains("深刻度: 高"), "{decoded}");
    }
}
