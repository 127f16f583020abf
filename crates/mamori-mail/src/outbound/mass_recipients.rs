//! `mail.mass_recipients`: many outside people who can see each other's addresses.
//!
//! The 411-citizen leak: a notice went out with every address in Cc. The guard counts
//! external addresses in To and Cc; at the policy's threshold (10 by default) it rewrites
//! them to Bcc or holds the mail. Recipients who already know each other — all at one
//! partner company — are not a leak, so a single external organisation does not count
//! unless it is a free-mail or mobile provider, whose users are strangers to each other.

use super::thousands;
use crate::domain::organisation;
use crate::mime::Mail;
use crate::policy::{CheckContext, OutboundAction, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.mass_recipients";
const SCORE: f64 = 10.0;

/// External addresses in To and Cc, without duplicates.
pub fn visible_external(mail: &Mail, ctx: &CheckContext) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in mail.to.iter().chain(&mail.cc) {
        let Some(d) = m.domain() else { continue };
        let a = m.address.to_lowercase();
        if !ctx.is_company_domain(&d) && !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let external = visible_external(mail, ctx);
    if external.len() < policy.mass_recipients_threshold.max(1) {
        return None;
    }
    let mut orgs: Vec<String> = external
        .iter()
        .filter_map(|a| crate::domain::of_address(a))
        .map(|d| organisation(&d))
        .collect();
    orgs.sort();
    orgs.dedup();
    if orgs.len() < 2 && !orgs.iter().any(|o| policy.is_freemail(o)) {
        return None;
    }
    let n = thousands(external.len());
    let d = orgs.len();
    let (action_ja, action_en) = match policy.mass_recipients_action {
        OutboundAction::Bcc => (
            "宛先を Bcc に変換して送信します。",
            "The recipients will be moved to Bcc before sending.",
        ),
        OutboundAction::Hold => (
            "送信を保留しました。Bcc に直して送り直してください。",
            "The mail is held; please resend with the recipients in Bcc.",
        ),
        OutboundAction::Warn => ("", ""),
    };
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("宛先（To/Cc）に社外のアドレスが {n} 件（{d} 組織）並んでいます。このまま送ると受信者全員に互いのメールアドレスが見えてしまい、個人情報の漏えいになります。{action_ja}"),
        format!("{n} external addresses ({d} organisations) are visible in To/Cc; every recipient would see all the others' addresses. {action_en}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    fn mail(cc: Vec<String>) -> Mail {
        Mail {
            cc: cc
                .into_iter()
                .map(|address| Mailbox {
                    name: None,
                    address,
                })
                .collect(),
            ..Mail::default()
        }
    }

    fn ctx() -> CheckContext {
        CheckContext {
            company_domains: vec!["city.example.lg.jp".into()],
            ..CheckContext::default()
        }
    }

    #[test]
    fn many_strangers_in_cc_trigger_the_guard() {
        let cc = (0..12)
            .map(|i| format!("user{i}@domain{}.example", i % 4))
            .collect();
        let r = check(&mail(cc), &Policy::default(), &ctx()).expect("mass");
        assert!(r.message_ja.contains("12 件"), "{}", r.message_ja);
        let few = (0..9)
            .map(|i| format!("user{i}@domain{i}.example"))
            .collect();
        assert!(check(&mail(few), &Policy::default(), &ctx()).is_none());
    }

    #[test]
    fn one_partner_company_is_not_a_leak_but_one_freemail_is() {
        let partner = (0..15).map(|i| format!("u{i}@partner.co.jp")).collect();
        assert!(check(&mail(partner), &Policy::default(), &ctx()).is_none());
        let gmail = (0..15).map(|i| format!("u{i}@gmail.com")).collect();
        assert!(check(&mail(gmail), &Policy::default(), &ctx()).is_some());
        let internal = (0..15)
            .map(|i| format!("u{i}@city.example.lg.jp"))
            .collect();
        assert!(check(&mail(internal), &Policy::default(), &ctx()).is_none());
    }
}
