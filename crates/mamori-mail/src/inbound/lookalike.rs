//! `mail.lookalike_domain`: the sender's domain imitates the company's, a partner's, or one
//! the company mails to.
//!
//! `examp1e.co.jp`, `exarnple.co.jp`, `example-co.jp` read as `example.co.jp` at a glance.
//! The From, Sender and Reply-To domains are compared with every protected domain through
//! [`crate::domain::resembles`]; a domain that is itself protected never counts.

use crate::domain::{resembles, within};
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.lookalike_domain";
const SCORE: f64 = 8.0;

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let candidates = mail
        .from
        .iter()
        .chain(mail.sender.iter())
        .chain(mail.reply_to.iter())
        .filter_map(|m| m.domain());
    let protected: Vec<(&str, &str, &str)> = ctx
        .company_domains
        .iter()
        .map(|d| (d.as_str(), "自社", "the company's own domain"))
        .chain(
            ctx.partner_domains
                .iter()
                .map(|d| (d.as_str(), "取引先", "a partner's domain")),
        )
        .chain(ctx.known_recipient_domains.iter().map(|d| {
            (
                d.as_str(),
                "過去のやり取り先",
                "a domain the company corresponds with",
            )
        }))
        .collect();
    for candidate in candidates {
        if protected.iter().any(|(p, _, _)| within(&candidate, p)) {
            continue;
        }
        for (p, whose_ja, whose_en) in &protected {
            if let Some(how) = resembles(&candidate, p, policy.lookalike_max_distance) {
                let (how_ja, how_en) = how.describe();
                return Some(Reason::new(
                    CODE,
                    policy.score(CODE, SCORE),
                    format!("差出人のドメイン「{candidate}」は{whose_ja}のドメイン「{p}」によく似ていますが別物です（{how_ja}）。取引先を装った詐欺の手口です。"),
                    format!("The sender's domain {candidate} imitates {whose_en} {p} but is a different one ({how_en}); a classic impersonation trick."),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    fn from(address: &str) -> Mail {
        Mail {
            from: Some(Mailbox {
                name: None,
                address: address.into(),
            }),
            ..Mail::default()
        }
    }

    #[test]
    fn imitations_of_partner_and_own_domains_are_flagged() {
        let ctx = CheckContext {
            company_domains: vec!["mamori-shoji.co.jp".into()],
            partner_domains: vec!["tokyo-buhin.co.jp".into()],
            ..CheckContext::default()
        };
        let p = Policy::default();
        let r = check(&from("keiri@tokyo-buhln.co.jp"), &p, &ctx).expect("lookalike");
        assert!(r.message_ja.contains("取引先"), "{}", r.message_ja);
        assert!(check(&from("ceo@mamori-shoji-co.jp"), &p, &ctx).is_some());
        assert!(check(&from("a@tokyo-buhin.co.jp"), &p, &ctx).is_none());
        assert!(check(&from("a@mail.tokyo-buhin.co.jp"), &p, &ctx).is_none());
        assert!(check(&from("a@unrelated.example"), &p, &ctx).is_none());
    }
}
