//! `mail.thread_hijack`: a reply that answers nothing.
//!
//! Emotet quotes stolen conversations and puts "RE:" in front of the subject so the mail
//! looks like the next message of a real thread. A genuine reply carries In-Reply-To or
//! References; a "RE:"/"FW:"/"返信:"/"転送:" subject without either is a strong sign. When
//! the gateway keeps a table of the Message-IDs the company sent, a reply that references
//! none of them is a weaker one.

use crate::content::text::fold;
use crate::mime::{strip_brackets, Mail};
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;
use regex::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.thread_hijack";
const SCORE: f64 = 5.0;

static REPLY_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:\[[^\]]{0,40}\]\s*)*(re|fw|fwd|aw|wg|sv|vs|tr|antw|返信|転送|返|転)(?:\[\d+\]|\(\d+\))?\s*[:：]")
        .expect("valid regex")
});

/// What a subject prefix claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Reply,
    /// Forwards often start a new thread legitimately (Outlook writes no In-Reply-To), so
    /// they weigh less.
    Forward,
}

/// Whether a subject says it is a reply or a forward.
pub fn claim(subject: &str) -> Option<Claim> {
    let folded = fold(subject);
    let word = REPLY_PREFIX
        .captures(&folded)?
        .get(1)?
        .as_str()
        .to_lowercase();
    Some(match word.as_str() {
        "fw" | "fwd" | "wg" | "tr" | "転送" | "転" => Claim::Forward,
        _ => Claim::Reply,
    })
}

/// Whether a subject says it is a reply or a forward.
pub fn is_reply_subject(subject: &str) -> bool {
    claim(subject).is_some()
}

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let claim = claim(&mail.subject)?;
    let subject = &mail.subject;
    if mail.in_reply_to.is_empty() && mail.references.is_empty() {
        let weight = if claim == Claim::Forward { 0.4 } else { 1.0 };
        return Some(Reason::new(
            CODE,
            policy.score(CODE, SCORE) * weight,
            format!("件名「{subject}」は返信・転送の形ですが、元のメールを示すヘッダー（In-Reply-To / References）がありません。過去のやり取りを装う Emotet などの手口です。"),
            format!("The subject \"{subject}\" looks like a reply or forward, but the mail has no In-Reply-To or References header: a fake thread, as Emotet makes them."),
        ));
    }
    if ctx.sent_message_ids.is_empty() {
        return None;
    }
    let ours = |id: &String| {
        ctx.sent_message_ids
            .iter()
            .any(|s| strip_brackets(s).eq_ignore_ascii_case(id))
    };
    if mail.in_reply_to.iter().chain(&mail.references).any(ours) {
        return None;
    }
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE) * 0.4,
        format!("件名「{subject}」は返信の形ですが、参照している元のメールは当社から送られたものではありません。"),
        format!("The subject \"{subject}\" looks like a reply, but none of the mails it refers to was sent by the company."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(subject: &str, in_reply_to: &[&str]) -> Mail {
        Mail {
            subject: subject.into(),
            in_reply_to: in_reply_to.iter().map(|s| s.to_string()).collect(),
            ..Mail::default()
        }
    }

    #[test]
    fn reply_prefixes_in_many_forms_are_recognised() {
        for s in [
            "RE: 見積",
            "Re:x",
            "FW: a",
            "Fwd: a",
            "返信: a",
            "転送：a",
            "ＲＥ：全角",
            "[ML:12] Re: a",
            "Re[2]: a",
            "AW: a",
        ] {
            assert!(is_reply_subject(s), "{s}");
        }
        for s in [
            "Regarding invoice",
            "お見積り",
            "Report: Q3",
            "FWD information",
        ] {
            assert!(!is_reply_subject(s), "{s}");
        }
    }

    #[test]
    fn reply_without_thread_headers_is_hijack() {
        let p = Policy::default();
        let c = CheckContext::default();
        let r = check(&mail("RE: ご請求書", &[]), &p, &c).expect("hijack");
        assert_eq!(r.score, 5.0);
        assert!(check(&mail("RE: ご請求書", &["x@y"]), &p, &c).is_none());
        assert_eq!(
            check(&mail("FW: 資料", &[]), &p, &c).map(|r| r.score),
            Some(2.0)
        );
        assert_eq!(claim("転送: 資料"), Some(Claim::Forward));
        assert_eq!(claim("Re: 資料"), Some(Claim::Reply));
        assert!(check(&mail("ご請求書", &[]), &p, &c).is_none());
    }

    #[test]
    fn reply_to_a_mail_the_company_never_sent_is_weak_sign() {
        let p = Policy::default();
        let c = CheckContext {
            sent_message_ids: vec!["<ours@example.co.jp>".into()],
            ..CheckContext::default()
        };
        assert!(check(&mail("Re: a", &["ours@example.co.jp"]), &p, &c).is_none());
        let r = check(&mail("Re: a", &["theirs@evil.example"]), &p, &c).expect("weak");
        assert_eq!(r.score, 2.0);
    }
}
