//! The mail a sender gets when the outbound guard holds their message: what was held, why
//! (each reason in Japanese and English), and two signed links — send it anyway, or cancel
//! it. The links open a confirmation page on the console; nothing happens on a mere GET, so
//! a mail scanner that follows links cannot release anything.

use crate::queue::spool::{Entry, RcptState, Recipient};
use crate::Report;
use base64::Engine;

/// The notice's spool entry and bytes, for the held message `held` (sent by `to`).
pub fn held(
    held: &Entry,
    report: &Report,
    to: &str,
    console_url: &str,
    secret: &[u8],
    hostname: &str,
) -> (Entry, Vec<u8>) {
    let id = ulid::Ulid::new().to_string();
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let link = |action: &str| {
        let sig = mamori_core::sign::mail_action_signature(secret, &held.id, action);
        format!(
            "{}/mail/action/{}/{action}?sig={sig}",
            console_url.trim_end_matches('/'),
            held.id
        )
    };
    let recipients: Vec<&str> = held.recipients.iter().map(|r| r.address.as_str()).collect();
    let shown = recipients
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = recipients.len().saturating_sub(10);
    let mut reasons_ja = String::new();
    let mut reasons_en = String::new();
    for r in &report.reasons {
        reasons_ja.push_str(&format!("・{}\r\n", r.message_ja));
        reasons_en.push_str(&format!("- {}\r\n", r.message_en));
    }
    let text = format!(
        "送信されたメールを保留しました。内容と宛先をご確認ください。\r\n\r\n\
         件名: {subject}\r\n宛先: {shown}{more_ja}\r\n\r\n保留の理由:\r\n{reasons_ja}\r\n\
         このまま送信する: {release}\r\n送信を取り消す: {cancel}\r\n\r\n\
         -- \r\n\
         Your message was held before it left. Please check its content and recipients.\r\n\r\n\
         Subject: {subject}\r\nTo: {shown}{more_en}\r\n\r\nWhy it was held:\r\n{reasons_en}\r\n\
         Send it anyway: {release}\r\nCancel it: {cancel}\r\n",
        subject = report.subject,
        more_ja = if more > 0 {
            format!(" ほか {more} 件")
        } else {
            String::new()
        },
        more_en = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        },
        release = link("release"),
        cancel = link("cancel"),
    );
    let subject = format!(
        "【要確認】メールの送信を保留しました / Your mail was held: {}",
        report.subject
    );
    let body = format!(
        "From: Mamori <postmaster@{hostname}>\r\nTo: <{to}>\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {date}\r\n\
         Message-ID: <{id}@{hostname}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64::engine::general_purpose::STANDARD.encode(subject.as_bytes()),
        wrap(&base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
    );
    let entry = Entry {
        id,
        tenant: held.tenant.clone(),
        direction: held.direction.clone(),
        mail_from: String::new(),
        recipients: vec![Recipient {
            address: to.to_string(),
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

/// Base64 in 76-character lines (RFC 2045).
fn wrap(b64: &str) -> String {
    b64.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}
