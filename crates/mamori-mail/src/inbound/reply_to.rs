//! `mail.reply_to_mismatch`: replies would go to another organisation than the sender's.
//!
//! Business-email-compromise mail sets Reply-To to the attacker's mailbox so that the
//! conversation continues away from the real sender. Mailing lists and services set
//! Reply-To too, but within their own organisation; so only a Reply-To whose
//! organisation differs from the From organisation counts, and one at a free-mail provider
//! weighs more.

use crate::domain::organisation;
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.reply_to_mismatch";
const SCORE: f64 = 3.0;

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let from = mail.from_domain()?;
    let from_org = organisation(&from);
    let reply = mail.reply_to.iter().find_map(|m| {
        let d = m.domain()?;
        (organisation(&d) != from_org && !ctx.is_company_domain(&d)).then_some((m, d))
    })?;
    let (mailbox, domain) = reply;
    let freemail = policy.is_freemail(&domain) && !policy.is_freemail(&from);
    let score = policy.score(CODE, SCORE) * if freemail { 1.5 } else { 1.0 };
    let address = &mailbox.address;
    Some(Reason::new(
        CODE,
        score,
        format!("返信先（Reply-To）が {address} になっていて、差出人（{from}）と別の組織です。返信すると差出人ではない相手に届きます。"),
        format!("Replies go to {address} (Reply-To), another organisation than the sender's ({from}); a reply would not reach the sender."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    fn mail(from: &str, reply: &str) -> Mail {
        Mail {
            from: Some(Mailbox {
                name: None,
                address: from.into(),
            }),
            reply_to: vec![Mailbox {
                name: None,
                address: reply.into(),
            }],
            ..Mail::default()
        }
    }

    #[test]
    fn reply_to_another_organisation_is_flagged() {
        let p = Policy::default();
        let c = CheckContext::default();
        let r = check(
            &mail("keiri@partner.co.jp", "partner.keiri@gmail.com"),
            &p,
            &c,
        )
        .expect("flag");
        assert_eq!(r.score, 4.5);
        assert!(check(
            &mail("news@shop.example", "support@mail.shop.example"),
            &p,
            &c
        )
        .is_none());
        assert!(check(&mail("a@x.example", "b@y.example"), &p, &c).is_some());
    }
}
