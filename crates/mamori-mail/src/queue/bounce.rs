//! Delivery status notifications (RFC 3464): when a recipient fails for good, the sender
//! gets a `multipart/report` mail saying which addresses failed and what the receiving server
//! answered, in Japanese and English, with the original headers attached.
//! A bounce is sent with the null sender `<>`, so it can never bounce back.

use super::spool::{Entry, RcptState, Recipient};

/// The bounce's spool entry and bytes, for `failed` recipients of `original`.
pub fn notification(
    original: &Entry,
    failed: &[Recipient],
    data: &[u8],
    hostname: &str,
) -> (Entry, Vec<u8>) {
    let id = ulid::Ulid::new().to_string();
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let boundary = format!("=_mamori_{id}");
    let headers_end = crate::mime::header_end(data)
        .unwrap_or(data.len())
        .min(64 * 1024);
    let original_headers = String::from_utf8_lossy(&data[..headers_end]);
    let mut list = String::new();
    for r in failed {
        list.push_str(&format!(
            "  {}\r\n    {}\r\n",
            r.address,
            r.last_reply.trim()
        ));
    }
    let mut status = String::new();
    for r in failed {
        let code = r
            .last_reply
            .split_whitespace()
            .nth(1)
            .filter(|c| c.starts_with('5') || c.starts_with('4'))
            .unwrap_or("5.0.0");
        status.push_str(&format!(
            "Final-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\nDiagnostic-Code: smtp; {}\r\n\r\n",
            r.address,
            code,
            r.last_reply.trim().replace(['\r', '\n'], " ")
        ));
    }
    let text = format!(
        "次の宛先にメールを配送できませんでした。宛先のアドレスをご確認ください。\r\n\
         The mail could not be delivered to these recipients. Please check the addresses.\r\n\r\n{list}"
    );
    let body = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{to}>\r\n\
         Subject: =?UTF-8?B?{subject}?=\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {text}\r\n\
         --{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         \r\n\
         {status}\
         --{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n\
         {original_headers}\r\n\
         --{boundary}--\r\n",
        to = original.mail_from,
        subject = b64("配送できませんでした / Undelivered Mail Returned to Sender"),
    );
    let entry = Entry {
        id,
        tenant: original.tenant.clone(),
        direction: original.direction.clone(),
        mail_from: String::new(),
        recipients: vec![Recipient {
            address: original.mail_from.clone(),
            state: RcptState::Pending,
            last_reply: String::new(),
        }],
        received_ms: mamori_core::unix_ms(now),
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        hold: None,
        auth_user: None,
        size: body.len() as u64,
        report: None,
    };
    (entry, body.into_bytes())
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(i), o);
        }
    }
}
