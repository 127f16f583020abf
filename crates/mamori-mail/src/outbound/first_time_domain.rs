//! `mail.first_time_domain`: a recipient domain the company has never mailed.
//!
//! A wrong address usually lands at a domain nobody at the company wrote to before (the
//! 7,500-person file went to such an address). Known domains come from the gateway's
//! history and the partner list; the company's own domains are never "new".

use super::external_domains;
use crate::domain::within;
use crate::inbound::quote_paths;
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.first_time_domain";
const SCORE: f64 = 3.0;

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let new: Vec<String> = external_domains(mail, ctx)
        .into_iter()
        .filter(|d| {
            !ctx.known_recipient_domains
                .iter()
                .chain(&ctx.partner_domains)
                .any(|k| within(d, k))
        })
        .collect();
    if new.is_empty() {
        return None;
    }
    let (ja, en) = quote_paths(new.iter().map(String::as_str));
    Some(Reason::new(
        CODE,
        policy.score(CODE, SCORE),
        format!("宛先のドメイン{ja}には、これまで社内から一度もメールを送ったことがありません。宛先が正しいか確認してください。"),
        format!("Nobody at the company has mailed the domain {en} before; please make sure the address is right."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    #[test]
    fn only_unknown_external_domains_count() {
        let ctx = CheckContext {
            company_domains: vec!["example.co.jp".into()],
            known_recipient_domains: vec!["client.co.jp".into()],
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
        assert!(check(&mail("a@client.co.jp"), &p, &ctx).is_none());
        assert!(check(&mail("a@sub.client.co.jp"), &p, &ctx).is_none());
        assert!(check(&mail("a@example.co.jp"), &p, &ctx).is_none());
        let r = check(&mail("a@new-shop.example"), &p, &ctx).expect("new");
        assert!(r.message_ja.contains("new-shop.example"));
    }
}
