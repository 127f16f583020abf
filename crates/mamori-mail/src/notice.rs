//! The mail a sender gets when the outbound guard acts. Moved to Bcc: a short note that it
//! happened and why. Held: what was held, why
//! (each reason in Japanese and English), and two signed links — send it anyway, or cancel
//! it. The links open a confirmation page on the console; nothing happens on a mere GET, so
//! a mail scanner that follows links cannot release anything.

use crate::queue::spool::{Entry, RcptState, Recipient};
use crate::Report;
use base64::Engine;

/// Where release and cancel links point and what signs them.
pub struct Links<'a> {
    pub console_url: &'a str,
    pub secret: &'a [u8],
}

/// The notice's spool entry and bytes, for the held message `held`, to `to`: its sender,
/// or an approver of the sender `approving`.
pub fn held(
    held: &Entry,
    report: &Report,
    to: &str,
    approving: Option<&str>,
    links: &Links,
    hostname: &str,
) -> (Entry, Vec<u8>) {
    let link = |action: &str| {
        let sig = mamori_core::sign::mail_action_signature(links.secret, &held.id, action);
        format!(
            "{}/mail/action/{}/{action}?sig={sig}",
            links.console_url.trim_end_matches('/'),
            held.id
        )
    };
    let (intro_ja, intro_en) = match approving {
        None => (
            "送信されたメールを保留しました。内容と宛先をご確認ください。".to_string(),
            "Your message was held before it left. Please check its content and recipients."
                .to_string(),
        ),
        Some(sender) => (
            format!("{sender} さんが送信したメールを保留しました。承認者として内容と宛先をご確認ください。"),
            format!("A message from {sender} was held before it left. As an approver, please check its content and recipients."),
        ),
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
        "{intro_ja}\r\n\r\n\
         件名: {subject}\r\n宛先: {shown}{more_ja}\r\n\r\n保留の理由:\r\n{reasons_ja}\r\n\
         このまま送信する: {release}\r\n送信を取り消す: {cancel}\r\n\r\n\
         -- \r\n\
         {intro_en}\r\n\r\n\
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
    compose(held, to, &subject, &text, hostname)
}

/// The note a sender gets when their visible recipients were moved to Bcc before sending.
pub fn moved_to_bcc(sent: &Entry, report: &Report, to: &str, hostname: &str) -> (Entry, Vec<u8>) {
    let n = report.bcc.len();
    let text = format!(
        "送信されたメール「{subject}」は、社外の宛先 {n} 件が To/Cc に並んでいたため、\r\n\
         受信者同士のアドレスが見えないよう Bcc に変えて送信しました。\r\n\
         次回からは多数の社外宛てには Bcc をお使いください。\r\n\r\n-- \r\n\
         Your message \"{subject}\" had {n} external addresses in To/Cc. So that recipients\r\n\
         cannot see each other's addresses, they were moved to Bcc before it was sent.\r\n",
        subject = report.subject,
    );
    let subject = format!(
        "宛先を Bcc に変更して送信しました / Recipients moved to Bcc: {}",
        report.subject
    );
    compose(sent, to, &subject, &text, hostname)
}

/// A plain UTF-8 notice from the gateway to `to` about the message `about`, as a spool
/// entry and its bytes, sent with the null sender so it never bounces back.
fn compose(about: &Entry, to: &str, subject: &str, text: &str, hostname: &str) -> (Entry, Vec<u8>) {
    let id = ulid::Ulid::new().to_string();
    let now = time::OffsetDateTime::now_utc();
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let body = format!(
        "From: Mamori <postmaster@{hostname}>\r\nTo: <{to}>\r\nSubject: =?UTF-8?B?{}?=\r\nDate: {date}\r\n\
         Message-ID: <{id}@{hostname}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64::engine::general_purpose::STANDARD.encode(subject.as_bytes()),
        wrap(&base64::engine::general_purpose::STANDARD.encode(text.as_bytes())),
    );
    let entry = Entry {
        id,
        tenant: about.tenant.clone(),
        direction: about.direction.clone(),
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
