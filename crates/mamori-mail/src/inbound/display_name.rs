//! `mail.display_name_spoof`: a familiar name on an unfamiliar address.
//!
//! Mail clients show the display name and hide the address, so Emotet sends as
//! `"山田 太郎" <random@freemail.example>` using names stolen from earlier mail. This check
//! fires when the display name is a colleague's but the address is not that colleague's,
//! and when the display name contains an address (`"ceo@example.co.jp" <x@evil.example>`)
//! other than the real sender's. Names are compared without spaces and case, with
//! full-width letters folded, because `山田太郎` and `山田　太郎` are the same person.

use crate::content::text::fold;
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;
use regex::Regex;
use std::sync::LazyLock;

pub const CODE: &str = "mail.display_name_spoof";
const SCORE: f64 = 6.0;

static ADDRESS_IN_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+").expect("valid regex")
});

fn normalise(name: &str) -> String {
    fold(name)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '・' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let from = mail.from.as_ref()?;
    let name = from.name.as_deref()?;
    let address = from.address.to_lowercase();
    let domain = from.domain().unwrap_or_default();
    let score = policy.score(CODE, SCORE);
    let shown = normalise(name);
    if shown.chars().count() >= 2 {
        for (colleague, colleague_address) in &ctx.colleagues {
            let theirs = normalise(colleague);
            let same = theirs == shown || (theirs.chars().count() >= 3 && shown.contains(&theirs));
            if !same || colleague_address.eq_ignore_ascii_case(&address) {
                continue;
            }
            return Some(if ctx.is_company_domain(&domain) {
                Reason::new(
                    CODE,
                    score / 2.0,
                    format!("差出人の表示名「{name}」は社内の人ですが、本人のアドレス（{colleague_address}）ではなく {address} から送られています。なりすましの可能性があります。"),
                    format!("The sender's display name \"{name}\" is a colleague's, but the mail comes from {address} instead of their address {colleague_address}. This may be impersonation."),
                )
            } else {
                Reason::new(
                    CODE,
                    score,
                    format!("差出人の表示名「{name}」は社内の人ですが、アドレスは社外（{domain}）です。なりすましの可能性があります。"),
                    format!("The sender's display name \"{name}\" is a colleague's, but the address is outside the company ({domain}). This may be impersonation."),
                )
            });
        }
    }
    let fake = ADDRESS_IN_NAME.find(name)?.as_str().to_lowercase();
    if fake == address {
        return None;
    }
    Some(Reason::new(
        CODE,
        score,
        format!("差出人の表示名にアドレス「{fake}」が書かれていますが、実際の差出人は {address} です。表示名で別人を装う手口です。"),
        format!("The display name shows the address {fake}, but the real sender is {address}: a display-name disguise."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    fn mail(name: &str, address: &str) -> Mail {
        Mail {
            from: Some(Mailbox {
                name: Some(name.into()),
                address: address.into(),
            }),
            ..Mail::default()
        }
    }

    fn ctx() -> CheckContext {
        CheckContext {
            company_domains: vec!["example.co.jp".into()],
            colleagues: vec![("山田 太郎".into(), "yamada@example.co.jp".into())],
            ..CheckContext::default()
        }
    }

    #[test]
    fn colleague_name_on_outside_address_is_spoofing() {
        let r = check(
            &mail("山田　太郎", "yamada.taro@freemail.example"),
            &Policy::default(),
            &ctx(),
        )
        .expect("spoof");
        assert_eq!(r.code, CODE);
        assert_eq!(r.score, 6.0);
        assert!(
            r.message_ja.contains("社外（freemail.example）"),
            "{}",
            r.message_ja
        );
    }

    #[test]
    fn colleague_on_own_address_is_fine() {
        assert!(check(
            &mail("山田 太郎", "Yamada@example.co.jp"),
            &Policy::default(),
            &ctx()
        )
        .is_none());
        assert!(check(
            &mail("佐藤 花子", "sato@partner.example"),
            &Policy::default(),
            &ctx()
        )
        .is_none());
    }

    #[test]
    fn address_inside_display_name_must_match_the_sender() {
        let r = check(
            &mail("ceo@example.co.jp", "attacker@evil.example"),
            &Policy::default(),
            &ctx(),
        )
        .expect("spoof");
        assert!(r.message_en.contains("ceo@example.co.jp"));
        assert!(check(
            &mail("a@b.example (A)", "a@b.example"),
            &Policy::default(),
            &ctx()
        )
        .is_none());
    }
}
