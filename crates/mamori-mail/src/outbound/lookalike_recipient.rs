//! `mail.lookalike_recipient`: a recipient domain that resembles a partner's.
//!
//! Typing `exampel.co.jp` for `example.co.jp`, or an attacker's lookalike domain saved in
//! the address book from an earlier fraud mail, sends the company's data to a stranger.
//! Recipient domains are compared with the company's, the partners' and the known
//! domains through [`crate::domain::resembles`].

use super::external_domains;
use crate::domain::{resembles, within};
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.lookalike_recipient";
const SCORE: f64 = 10.0;

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let protected: Vec<&String> = ctx
        .company_domains
        .iter()
        .chain(&ctx.partner_domains)
        .chain(&ctx.known_recipient_domains)
        .collect();
    for domain in external_domains(mail, ctx) {
        if protected.iter().any(|p| within(&domain, p)) {
            continue;
        }
        for p in &protected {
            if let Some(how) = resembles(&domain, p, policy.lookalike_max_distance) {
                let (how_ja, how_en) = how.describe();
                return Some(Reason::new(
                    CODE,
                    policy.score(CODE, SCORE),
                    format!("宛先のドメイン「{domain}」は、いつもの相手「{p}」に似ていますが別のドメインです（{how_ja}）。入力ミスか、偽のアドレスの可能性があります。"),
                    format!("The recipient domain {domain} resembles the usual {p} but is a different one ({how_en}): a typo or a fraudulent address."),
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

    #[test]
    fn typo_of_a_partner_domain_is_caught() {
        let ctx = CheckContext {
            company_domains: vec!["example.co.jp".into()],
            partner_domains: vec!["tokyo-buhin.co.jp".into()],
            ..CheckContext::default()
        };
        let mail = |to: &str| Mail {
            to: vec![Mailbox {
                name: None,
                address: to.into(),
            }],
            ..Mail::default()
        };
        let p = Policy::default();
        assert!(check(&mail("a@tokyo-buhim.co.jp"), &p, &ctx).is_some());
        assert!(check(&mail("a@tokyo-buhin.co.jp"), &p, &ctx).is_none());
        assert!(check(&mail("a@osaka-shoji.co.jp"), &p, &ctx).is_none());
    }
}
