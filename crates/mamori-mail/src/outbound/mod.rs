//! The outbound guard: checks on mail leaving the company, against misdelivery and leaks.
//!
//! | code | file | action |
//! | --- | --- | --- |
//! | `mail.mass_recipients` | [`mass_recipients`] | `bcc` or `hold` (policy) |
//! | `mail.pii_my_number`, `mail.pii_card`, `mail.pii_phone`, `mail.pii_address`, `mail.pii_mail_list` | [`pii`] | `hold` |
//! | `mail.first_time_domain` | [`first_time_domain`] | `warn` or `hold` (policy) |
//! | `mail.lookalike_recipient` | [`lookalike_recipient`] | `warn` or `hold` (policy) |
//! | `mail.ppap_outbound` | [`ppap`] | `warn` or `hold` (policy) |
//! | `mail.external_delay` | [`delay`] | `delay` |
//!
//! Outbound reasons carry scores for ranking and reports, but the verdict comes from the
//! actions: any hold wins, then Bcc conversion, then the send delay (see
//! [`crate::Report`]).

pub mod delay;
pub mod first_time_domain;
pub mod lookalike_recipient;
pub mod mass_recipients;
pub mod pii;
pub mod ppap;

use crate::content::Files;
use crate::mime::Mail;
use crate::policy::{CheckContext, OutboundAction, Policy};
use crate::report::Reason;

/// Runs every outbound guard.
pub fn run(mail: &Mail, files: &Files, policy: &Policy, ctx: &CheckContext) -> Vec<Reason> {
    let mut reasons = Vec::new();
    reasons.extend(mass_recipients::check(mail, policy, ctx));
    reasons.extend(pii::check(mail, files, policy));
    reasons.extend(lookalike_recipient::check(mail, policy, ctx));
    reasons.extend(first_time_domain::check(mail, policy, ctx));
    reasons.extend(ppap::check(files, policy));
    reasons.extend(delay::check(mail, policy, ctx));
    reasons
}

/// What the policy does for a reason code; `None` for codes that only inform.
pub fn action(code: &str, policy: &Policy) -> Option<OutboundAction> {
    match code {
        mass_recipients::CODE => Some(policy.mass_recipients_action),
        first_time_domain::CODE => Some(policy.first_time_domain_action),
        lookalike_recipient::CODE => Some(policy.lookalike_recipient_action),
        ppap::CODE => Some(policy.ppap_action),
        c if c.starts_with("mail.pii_") => Some(OutboundAction::Hold),
        _ => None,
    }
}

/// The recipients' addresses: the envelope's when the gateway gave them (they include
/// Bcc), else To, Cc and Bcc from the headers.
pub(crate) fn recipient_addresses(mail: &Mail, ctx: &CheckContext) -> Vec<String> {
    if ctx.envelope_recipients.is_empty() {
        mail.recipients().map(|m| m.address.clone()).collect()
    } else {
        ctx.envelope_recipients.clone()
    }
}

/// Distinct external recipient domains, in order of first appearance.
pub(crate) fn external_domains(mail: &Mail, ctx: &CheckContext) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for address in recipient_addresses(mail, ctx) {
        if let Some(d) = crate::domain::of_address(&address) {
            if !ctx.is_company_domain(&d) && !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// `7500` → `7,500`.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7500), "7,500");
        assert_eq!(thousands(411), "411");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn actions_follow_the_policy() {
        let mut p = Policy::default();
        assert_eq!(
            action("mail.mass_recipients", &p),
            Some(OutboundAction::Bcc)
        );
        assert_eq!(action("mail.pii_card", &p), Some(OutboundAction::Hold));
        assert_eq!(action("mail.external_delay", &p), None);
        p.mass_recipients_action = OutboundAction::Hold;
        assert_eq!(
            action("mail.mass_recipients", &p),
            Some(OutboundAction::Hold)
        );
    }
}
