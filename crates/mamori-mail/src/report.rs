//! The outcome of [`crate::check`]: a [`Verdict`], the total score and the [`Reason`]s,
//! plus what a person needs to recognise the mail (subject, sender, recipients,
//! attachments).
//!
//! Inbound, the verdict follows the score thresholds of the policy. Outbound, it follows the
//! action each guard is configured with: any `hold` wins, then `bcc`, then the send delay.
//! A report becomes at most one [`Alert`] (engine `mail`) with every reason in its
//! evidence, and the JSON the CLI prints (`{"verdict", "score", "reasons", …}`).

use crate::content::Files;
use crate::mime::Mail;
use crate::outbound;
use crate::policy::{CheckContext, Direction, OutboundAction, Policy};
use mamori_core::{Alert, Asset, AssetKind, Engine, Severity};
use serde::{Deserialize, Serialize};

/// One finding: a stable code, its score, and a sentence in Japanese and in English that
/// names the trick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub score: f64,
    pub message_ja: String,
    pub message_en: String,
}

impl Reason {
    pub fn new(
        code: &str,
        score: f64,
        message_ja: impl Into<String>,
        message_en: impl Into<String>,
    ) -> Reason {
        Reason {
            code: code.to_string(),
            score,
            message_ja: message_ja.into(),
            message_en: message_en.into(),
        }
    }
}

/// What the gateway should do with the mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Pass it on unchanged.
    Deliver,
    /// Inbound: deliver with a warning in the subject and headers.
    Tag,
    /// Inbound: keep it out of the mailbox; an admin can release it.
    Quarantine,
    /// Inbound: refuse it at SMTP time.
    Reject,
    /// Outbound: move the external To/Cc recipients to Bcc, then send.
    Bcc,
    /// Outbound: keep it until the sender or an approver releases it.
    Hold,
    /// Outbound: wait the configured minutes, during which the sender can cancel.
    Delay,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Deliver => "deliver",
            Verdict::Tag => "tag",
            Verdict::Quarantine => "quarantine",
            Verdict::Reject => "reject",
            Verdict::Bcc => "bcc",
            Verdict::Hold => "hold",
            Verdict::Delay => "delay",
        }
    }

    fn label_ja(self) -> &'static str {
        match self {
            Verdict::Deliver => "配送",
            Verdict::Tag => "警告付きで配送",
            Verdict::Quarantine => "隔離",
            Verdict::Reject => "受信拒否",
            Verdict::Bcc => "Bcc に変換",
            Verdict::Hold => "送信保留",
            Verdict::Delay => "送信遅延",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attachment or file inside one, as shown to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentSummary {
    pub path: String,
    pub kind: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub macros: bool,
}

/// The result of checking one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub score: f64,
    pub reasons: Vec<Reason>,
    pub direction: Direction,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentSummary>,
    /// For [`Verdict::Bcc`]: the addresses to take out of To/Cc and send as Bcc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<String>,
    /// For [`Verdict::Delay`] (and held mail once released): minutes to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_minutes: Option<u32>,
    /// For [`Verdict::Tag`]: what to put in front of the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_tag: Option<String>,
    /// What was not inspected (limits, damaged containers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(
        direction: Direction,
        mail: &Mail,
        files: &Files,
        mut reasons: Vec<Reason>,
        policy: &Policy,
        ctx: &CheckContext,
    ) -> Report {
        reasons.retain(|r| policy.enabled(&r.code));
        let score = (reasons.iter().map(|r| r.score).sum::<f64>() * 100.0).round() / 100.0;
        let verdict = match direction {
            Direction::Inbound => {
                if score >= policy.reject_score {
                    Verdict::Reject
                } else if score >= policy.quarantine_score {
                    Verdict::Quarantine
                } else if score >= policy.tag_score {
                    Verdict::Tag
                } else {
                    Verdict::Deliver
                }
            }
            Direction::Outbound => {
                let actions: Vec<Option<OutboundAction>> = reasons
                    .iter()
                    .map(|r| outbound::action(&r.code, policy))
                    .collect();
                if actions.contains(&Some(OutboundAction::Hold)) {
                    Verdict::Hold
                } else if actions.contains(&Some(OutboundAction::Bcc)) {
                    Verdict::Bcc
                } else if reasons.iter().any(|r| r.code == outbound::delay::CODE) {
                    Verdict::Delay
                } else {
                    Verdict::Deliver
                }
            }
        };
        let mut notes = mail.notes.clone();
        notes.extend(files.notes.iter().cloned());
        Report {
            verdict,
            score,
            direction,
            subject: mail.subject.clone(),
            from: mail.from.as_ref().map(|m| m.address.clone()),
            to: mail.recipients().map(|m| m.address.clone()).collect(),
            message_id: mail.message_id.clone(),
            attachments: files
                .files
                .iter()
                .map(|f| AttachmentSummary {
                    path: f.path.clone(),
                    kind: f.kind.as_str().to_string(),
                    size: f.size,
                    encrypted: f.encrypted,
                    macros: f.macros,
                })
                .collect(),
            bcc: if verdict == Verdict::Bcc {
                outbound::mass_recipients::visible_external(mail, ctx)
            } else {
                Vec::new()
            },
            delay_minutes: (direction == Direction::Outbound
                && policy.send_delay_minutes > 0
                && reasons.iter().any(|r| r.code == outbound::delay::CODE))
            .then_some(policy.send_delay_minutes),
            subject_tag: (verdict == Verdict::Tag).then(|| policy.subject_tag.clone()),
            notes,
            reasons,
        }
    }

    /// The JSON the CLI prints and the console stores:
    /// `{"verdict", "score", "reasons": [{"code", "score", "message_ja", "message_en"}], …}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| {
            serde_json::json!({"verdict": self.verdict, "score": self.score, "reasons": self.reasons})
        })
    }

    /// Headers the gateway adds to delivered inbound mail.
    pub fn headers(&self) -> Vec<(String, String)> {
        let codes: Vec<&str> = self.reasons.iter().map(|r| r.code.as_str()).collect();
        vec![
            ("X-Mamori-Verdict".into(), self.verdict.as_str().into()),
            ("X-Mamori-Score".into(), format!("{}", self.score)),
            ("X-Mamori-Reasons".into(), codes.join(", ")),
        ]
    }

    /// The reason that weighs most.
    pub fn top_reason(&self) -> Option<&Reason> {
        self.reasons
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }

    /// One alert for a mail that was not simply delivered; none otherwise.
    pub fn alerts(&self, tenant: &str) -> Vec<Alert> {
        if self.verdict == Verdict::Deliver {
            return Vec::new();
        }
        let top = self.top_reason();
        let severity = match self.verdict {
            Verdict::Reject => Severity::High,
            Verdict::Quarantine | Verdict::Hold | Verdict::Bcc => Severity::Medium,
            Verdict::Tag => Severity::Low,
            Verdict::Delay | Verdict::Deliver => Severity::Info,
        };
        let rule_id = top.map_or_else(|| format!("mail.{}", self.verdict), |r| r.code.clone());
        let rule_name = top.map_or_else(|| self.verdict.to_string(), |r| r.message_en.clone());
        let summary = match top {
            Some(r) => format!("{}: {}", self.verdict.label_ja(), r.message_ja),
            None => self.verdict.label_ja().to_string(),
        };
        let mut alert = Alert::new(
            Engine::Mail,
            rule_id,
            truncate(&rule_name, 200),
            severity,
            truncate(&summary, 1000),
        );
        alert.tenant = tenant.to_string();
        alert.category = Some(
            match self.direction {
                Direction::Inbound => "initial-access",
                Direction::Outbound => "exfiltration",
            }
            .to_string(),
        );
        alert.src.mail = self.from.clone();
        alert.dst.mail = self.to.first().cloned();
        let account = match self.direction {
            Direction::Inbound => self.to.first(),
            Direction::Outbound => self.from.as_ref(),
        };
        alert.asset = account.map(|a| Asset::new(AssetKind::MailAccount, a.to_lowercase()));
        alert.evidence = serde_json::json!({
            "verdict": self.verdict,
            "score": self.score,
            "direction": self.direction,
            "subject": self.subject,
            "from": self.from,
            "to": self.to.iter().take(50).collect::<Vec<_>>(),
            "recipients": self.to.len(),
            "message_id": self.message_id,
            "reasons": self.reasons,
            "attachments": self.attachments.iter().take(50).collect::<Vec<_>>(),
        });
        vec![alert]
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Limits;

    fn report(direction: Direction, reasons: Vec<Reason>, policy: &Policy) -> Report {
        let mail = Mail::parse(
            b"From: a@example.net\r\nTo: b@example.co.jp\r\nSubject: s\r\n\r\nx",
            &Limits::default(),
        )
        .expect("mail");
        Report::new(
            direction,
            &mail,
            &Files::default(),
            reasons,
            policy,
            &CheckContext::default(),
        )
    }

    #[test]
    fn inbound_verdict_follows_score_thresholds() {
        let p = Policy::default();
        let r = |s: f64| {
            report(
                Direction::Inbound,
                vec![Reason::new("mail.x", s, "x", "x")],
                &p,
            )
        };
        assert_eq!(r(0.0).verdict, Verdict::Deliver);
        assert_eq!(r(5.0).verdict, Verdict::Tag);
        assert_eq!(r(5.0).subject_tag.as_deref(), Some("[要注意]"));
        assert_eq!(r(10.0).verdict, Verdict::Quarantine);
        assert_eq!(r(25.0).verdict, Verdict::Reject);
    }

    #[test]
    fn disabled_codes_do_not_count() {
        let p = Policy {
            disabled: vec!["mail.x".into()],
            ..Policy::default()
        };
        let r = report(
            Direction::Inbound,
            vec![Reason::new("mail.x", 50.0, "x", "x")],
            &p,
        );
        assert_eq!(r.verdict, Verdict::Deliver);
        assert!(r.reasons.is_empty());
    }

    #[test]
    fn json_and_alert_carry_every_reason() {
        let p = Policy::default();
        let r = report(
            Direction::Inbound,
            vec![
                Reason::new("mail.encrypted_zip", 8.0, "暗号化ZIP", "encrypted zip"),
                Reason::new("mail.thread_hijack", 5.0, "RE:", "RE:"),
            ],
            &p,
        );
        let j = r.to_json();
        assert_eq!(j["verdict"], "quarantine");
        assert_eq!(j["score"], 13.0);
        assert_eq!(j["reasons"][0]["code"], "mail.encrypted_zip");
        assert_eq!(j["reasons"][1]["message_en"], "RE:");
        let alerts = r.alerts("acme");
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!(a.engine, Engine::Mail);
        assert_eq!(a.rule_id, "mail.encrypted_zip");
        assert_eq!(a.tenant, "acme");
        assert!(a.validate().is_ok());
        assert_eq!(a.evidence["reasons"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            a.asset().map(|x| x.key()).as_deref(),
            Some("mail_account:b@example.co.jp")
        );
        assert!(report(Direction::Inbound, vec![], &p)
            .alerts("acme")
            .is_empty());
    }
}
