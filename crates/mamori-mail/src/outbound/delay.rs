//! `mail.external_delay`: external mail waits a few minutes before it leaves.
//!
//! Most misdeliveries are noticed seconds after pressing Send. With
//! `send_delay_minutes > 0` every mail with an external recipient gets this reason and the
//! `delay` verdict (unless a guard holds it or converts it to Bcc), and the gateway keeps
//! it that long so the sender can cancel.

use super::external_domains;
use crate::mime::Mail;
use crate::policy::{CheckContext, Policy};
use crate::report::Reason;

pub const CODE: &str = "mail.external_delay";

pub fn check(mail: &Mail, policy: &Policy, ctx: &CheckContext) -> Option<Reason> {
    let minutes = policy.send_delay_minutes;
    if minutes == 0 || external_domains(mail, ctx).is_empty() {
        return None;
    }
    Some(Reason::new(
        CODE,
        policy.score(CODE, 0.0),
        format!("社外宛てのメールは {minutes} 分後に送信されます。その間は送信を取り消せます。"),
        format!("Mail to external recipients leaves after {minutes} minutes; until then the sender can cancel it."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::Mailbox;

    #[test]
    fn only_external_mail_is_delayed_and_only_when_configured() {
        let ctx = CheckContext {
            company_domains: vec!["example.co.jp".into()],
            ..CheckContext::default()
        };
        let mail = |to: &str| Mail {
            to: vec![Mailbox {
                name: None,
                address: to.into(),
            }],
            ..Mail::default()
        };
        let on = Policy {
            send_delay_minutes: 5,
            ..Policy::default()
        };
        assert!(check(&mail("a@client.example"), &on, &ctx).is_some());
        assert!(check(&mail("a@example.co.jp"), &on, &ctx).is_none());
        assert!(check(&mail("a@client.example"), &Policy::default(), &ctx).is_none());
    }
}
