//! What the checks are told: the tenant's [`Policy`] (thresholds, actions, lists and limits,
//! the `[mail]` section of `mamori.toml`) and the [`CheckContext`] of one message (who the
//! company is, who its partners and colleagues are, what it sent before).
//!
//! Every key has a default so that an empty `[mail]` section, or none, works. Scores can be
//! changed per check code and checks switched off by code, with the same codes that appear
//! in reports and alerts.

use crate::auth::AuthResults;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which way a message travels through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the internet to the company's mail server.
    Inbound,
    /// From staff (or the company's server) to the internet.
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "inbound" | "in" => Ok(Direction::Inbound),
            "outbound" | "out" => Ok(Direction::Outbound),
            other => Err(format!(
                "unknown direction {other:?} (expected inbound or outbound)"
            )),
        }
    }
}

/// What an outbound guard does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboundAction {
    /// Send anyway; the reason is reported to the sender.
    Warn,
    /// Move the visible external recipients to Bcc (mass-recipient guard only).
    Bcc,
    /// Keep the mail until the sender or an approver releases it.
    Hold,
}

/// Bounds on untrusted input. Reaching one is not an error: the rest is skipped and a note
/// says what was not inspected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Larger messages are refused by [`crate::check`].
    pub max_message_bytes: usize,
    /// message/rfc822 inside message/rfc822, and archive inside archive.
    pub max_depth: usize,
    /// Attachments (after unpacking attached messages) looked at per mail.
    pub max_attachments: usize,
    /// Entries listed per archive.
    pub max_archive_entries: usize,
    /// Bytes unpacked from one archive entry or one PDF stream.
    pub max_entry_bytes: usize,
    /// Bytes unpacked from all archives and streams of one mail together.
    pub max_total_unpacked_bytes: usize,
    /// Characters of text gathered for the personal-data scan.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024 * 1024,
            max_depth: 4,
            max_attachments: 256,
            max_archive_entries: 4096,
            max_entry_bytes: 32 * 1024 * 1024,
            max_total_unpacked_bytes: 128 * 1024 * 1024,
            max_text_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How many findings of each kind of personal data make an outbound mail wait for approval.
/// Counts are of distinct values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PiiThresholds {
    /// Individual numbers (マイナンバー) with a valid check digit. A single one is enough
    /// when the text also says マイナンバー or 個人番号.
    pub my_number: usize,
    /// Payment card numbers that pass the Luhn check and start like a card brand.
    pub card: usize,
    /// Japanese phone numbers.
    pub phone: usize,
    /// Postal codes and prefecture-level addresses.
    pub address: usize,
    /// Mail addresses in the body and attachments (not the headers).
    pub mail_list: usize,
}

impl Default for PiiThresholds {
    fn default() -> Self {
        PiiThresholds {
            my_number: 3,
            card: 1,
            phone: 20,
            address: 20,
            mail_list: 50,
        }
    }
}

/// A tenant's mail policy: the `[mail]` section of `mamori.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Inbound: at or above this score the subject is tagged and headers are added.
    pub tag_score: f64,
    /// Inbound: at or above this score the mail is quarantined.
    pub quarantine_score: f64,
    /// Inbound: at or above this score the mail is rejected.
    pub reject_score: f64,
    /// Put in front of the subject of tagged mail.
    pub subject_tag: String,

    /// Outbound: this many external addresses in To/Cc trigger the mass-recipient guard.
    pub mass_recipients_threshold: usize,
    /// Outbound: `bcc` (rewrite) or `hold`.
    pub mass_recipients_action: OutboundAction,
    /// Outbound: personal-data counts that hold a mail.
    pub pii: PiiThresholds,
    /// Outbound: what a recipient domain never mailed before does (`warn` or `hold`).
    pub first_time_domain_action: OutboundAction,
    /// Outbound: what a recipient domain resembling a partner's does (`warn` or `hold`).
    pub lookalike_recipient_action: OutboundAction,
    /// Outbound: what a password-protected zip does (`warn` or `hold`).
    pub ppap_action: OutboundAction,
    /// Outbound: minutes external mail waits so that the sender can cancel; 0 = off.
    pub send_delay_minutes: u32,
    /// Account takeover: recipients one authenticated account may send to in an hour before
    /// its mail is held (a taken-over account used as a spam relay sends far more).
    pub account_max_recipients_per_hour: usize,
    /// Account takeover: distinct recipient domains per account per hour.
    pub account_max_domains_per_hour: usize,
    /// Account takeover: share of an account's recipients in the last hour that the next
    /// hop refused permanently (a spammer's address list is full of dead addresses).
    pub account_max_failure_rate: f64,
    /// Account takeover: refused recipients needed before the failure rate counts.
    pub account_min_failures: usize,
    /// Account takeover: recipients in one hour at a time of day the account never sent at
    /// (in a week of history, Japan time) that hold its mail.
    pub account_unusual_hour_recipients: usize,
    /// Addresses (a manager, the administrator) that get the hold notice too, with the
    /// same release and cancel links as the sender.
    pub hold_approvers: Vec<String>,

    /// Largest edit distance at which a domain counts as a lookalike.
    pub lookalike_max_distance: usize,
    /// Free-mail and mobile-carrier domains: nobody's company, and their users don't know
    /// each other.
    pub freemail_domains: Vec<String>,
    /// Score per check code, replacing the built-in one (`"mail.encrypted_zip" = 8.0`).
    pub scores: BTreeMap<String, f64>,
    /// Check codes that are switched off.
    pub disabled: Vec<String>,
    /// clamd to scan inbound mail with: `127.0.0.1:3310` or `unix:/run/clamav/clamd.ctl`;
    /// none by default.
    pub clamd: Option<String>,
    pub limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            tag_score: 5.0,
            quarantine_score: 10.0,
            reject_score: 20.0,
            subject_tag: "[要注意]".into(),
            mass_recipients_threshold: 10,
            mass_recipients_action: OutboundAction::Bcc,
            pii: PiiThresholds::default(),
            first_time_domain_action: OutboundAction::Warn,
            lookalike_recipient_action: OutboundAction::Hold,
            ppap_action: OutboundAction::Warn,
            send_delay_minutes: 0,
            account_max_recipients_per_hour: 300,
            account_max_domains_per_hour: 100,
            account_max_failure_rate: 0.5,
            account_min_failures: 10,
            account_unusual_hour_recipients: 30,
            hold_approvers: Vec::new(),
            lookalike_max_distance: 2,
            freemail_domains: [
                "gmail.com",
                "googlemail.com",
                "yahoo.co.jp",
                "ymail.ne.jp",
                "yahoo.com",
                "outlook.com",
                "outlook.jp",
                "hotmail.com",
                "hotmail.co.jp",
                "live.jp",
                "msn.com",
                "icloud.com",
                "me.com",
                "mac.com",
                "aol.com",
                "docomo.ne.jp",
                "ezweb.ne.jp",
                "au.com",
                "softbank.ne.jp",
                "i.softbank.jp",
                "ymobile.ne.jp",
                "rakuten.jp",
                "nifty.com",
                "biglobe.ne.jp",
                "ocn.ne.jp",
                "so-net.ne.jp",
                "excite.co.jp",
                "proton.me",
                "protonmail.com",
                "gmx.com",
                "mail.ru",
                "qq.com",
                "163.com",
                "naver.com",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            scores: BTreeMap::new(),
            disabled: Vec::new(),
            clamd: None,
            limits: Limits::default(),
        }
    }
}

impl Policy {
    /// The score of a check: the configured one, else the check's built-in default.
    pub fn score(&self, code: &str, default: f64) -> f64 {
        self.scores.get(code).copied().unwrap_or(default)
    }

    pub fn enabled(&self, code: &str) -> bool {
        !self.disabled.iter().any(|c| c == code)
    }

    pub fn is_freemail(&self, domain: &str) -> bool {
        self.freemail_domains
            .iter()
            .any(|f| crate::domain::within(domain, f))
    }
}

/// What the gateway knows about the company and this message's surroundings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckContext {
    /// The company's own domains; subdomains count as the company's too.
    pub company_domains: Vec<String>,
    /// Domains of the company's usual partners.
    pub partner_domains: Vec<String>,
    /// Staff: (display name, address).
    pub colleagues: Vec<(String, String)>,
    /// Domains the company has mailed before.
    pub known_recipient_domains: Vec<String>,
    /// Message-IDs of mail the company sent (with or without angle brackets).
    pub sent_message_ids: Vec<String>,
    /// SPF/DKIM/DMARC results, when the gateway computed them (see [`crate::authenticate`]).
    pub auth: Option<AuthResults>,
    /// Envelope recipients (RCPT TO), which include Bcc; when empty the To, Cc and Bcc
    /// headers are used.
    pub envelope_recipients: Vec<String>,
    /// The signature ClamAV found, when the gateway scanned the mail
    /// (see [`crate::inbound::clamav::scan`]).
    pub virus: Option<String>,
}

impl CheckContext {
    /// Whether a domain belongs to the company (equal to or below one of its domains).
    pub fn is_company_domain(&self, domain: &str) -> bool {
        self.company_domains
            .iter()
            .any(|c| crate::domain::within(domain, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_mail_section_gives_the_defaults() {
        let p: Policy = toml::from_str("").expect("empty policy");
        assert_eq!(p, Policy::default());
    }

    #[test]
    fn toml_overrides_scores_actions_and_limits() {
        let p: Policy = toml::from_str(
            r#"
            quarantine_score = 12.5
            mass_recipients_action = "hold"
            send_delay_minutes = 5
            disabled = ["mail.link_mismatch"]
            [scores]
            "mail.encrypted_zip" = 9.0
            [pii]
            phone = 3
            [limits]
            max_depth = 2
            "#,
        )
        .expect("policy");
        assert_eq!(p.quarantine_score, 12.5);
        assert_eq!(p.mass_recipients_action, OutboundAction::Hold);
        assert_eq!(p.score("mail.encrypted_zip", 8.0), 9.0);
        assert_eq!(p.score("mail.office_macro", 8.0), 8.0);
        assert!(!p.enabled("mail.link_mismatch"));
        assert_eq!(p.pii.phone, 3);
        assert_eq!(p.pii.card, 1);
        assert_eq!(p.limits.max_depth, 2);
        assert_eq!(p.limits.max_attachments, Limits::default().max_attachments);
    }
}
