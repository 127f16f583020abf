//! What a message says, in Japanese or English, and the bodies built from it: the generic
//! JSON object, Slack's `text` + `blocks`, a Teams MessageCard, and the plain text of a
//! mail (the RFC 5322 wrapping is in [`crate::mail`]).
//!
//! A [`Message`] is built once per notice and rule, and every channel formats the same
//! facts, so the mail and the chat message never disagree.

use crate::config::{Language, WebhookFormat};
use crate::gate::Extra;
use crate::notice::{Notice, Trigger};
use mamori_core::{IncidentState, Severity};
use serde_json::{json, Value};
use time::{OffsetDateTime, UtcOffset};

/// Longest title kept in subjects and headers.
const MAX_TITLE_CHARS: usize = 200;
/// Incidents listed in one digest; the rest are counted.
pub(crate) const MAX_DIGEST_ITEMS: usize = 50;

/// The facts of one message, ready to be formatted for any channel.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub severity: Severity,
    /// The mail subject and the chat title.
    pub subject: String,
    /// One line of what happened.
    pub headline: String,
    pub facts: Vec<(String, String)>,
    /// Extra lines: escalations, what was held back.
    pub notes: Vec<String>,
    pub link: Option<String>,
    pub link_label: String,
    /// The generic webhook body.
    pub json: Value,
    pub language: Language,
}

/// How messages are written: language, local time, console link.
#[derive(Debug, Clone)]
pub(crate) struct Style {
    pub language: Language,
    pub offset: UtcOffset,
    pub console_url: Option<String>,
}

impl Style {
    fn ja(&self) -> bool {
        self.language == Language::Ja
    }

    fn t<'a>(&self, ja: &'a str, en: &'a str) -> &'a str {
        if self.ja() {
            ja
        } else {
            en
        }
    }

    pub(crate) fn link(&self, notice: &Notice) -> Option<String> {
        notice.link.clone().or_else(|| {
            self.console_url.as_ref().map(|base| {
                format!(
                    "{}/incidents/{}",
                    base.trim_end_matches('/'),
                    notice.incident.id
                )
            })
        })
    }

    fn severity(&self, s: Severity) -> &'static str {
        match (self.ja(), s) {
            (true, Severity::Info) => "情報",
            (true, Severity::Low) => "低",
            (true, Severity::Medium) => "中",
            (true, Severity::High) => "高",
            (true, Severity::Critical) => "重大",
            (false, Severity::Info) => "Info",
            (false, Severity::Low) => "Low",
            (false, Severity::Medium) => "Medium",
            (false, Severity::High) => "High",
            (false, Severity::Critical) => "Critical",
        }
    }

    fn state(&self, s: IncidentState) -> &'static str {
        match (self.ja(), s) {
            (true, IncidentState::New) => "未対応",
            (true, IncidentState::Investigating) => "調査中",
            (true, IncidentState::Contained) => "封じ込め済み",
            (true, IncidentState::Resolved) => "解決済み",
            (true, IncidentState::FalsePositive) => "誤検知",
            (false, s) => s.as_str(),
        }
    }

    fn trigger(&self, t: Trigger) -> &'static str {
        match (self.ja(), t) {
            (true, Trigger::Opened) => "新しいインシデント",
            (true, Trigger::SeverityRaised { .. }) => "深刻度が上昇",
            (true, Trigger::Updated) => "インシデント更新",
            (true, Trigger::Resolved) => "インシデント解決",
            (false, Trigger::Opened) => "New incident",
            (false, Trigger::SeverityRaised { .. }) => "Severity raised",
            (false, Trigger::Updated) => "Incident update",
            (false, Trigger::Resolved) => "Incident resolved",
        }
    }

    fn time(&self, t: OffsetDateTime) -> String {
        let t = t.to_offset(self.offset);
        let (h, m, _) = self.offset.as_hms();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} ({}{:02}:{:02})",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            if h < 0 || m < 0 { '-' } else { '+' },
            h.unsigned_abs(),
            m.unsigned_abs()
        )
    }
}

/// Text from alerts goes into headers and chat markup: no control characters, bounded.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> Value {
    t.to_offset(UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

impl Message {
    /// A message about one incident.
    pub(crate) fn incident(notice: &Notice, extra: Extra, style: &Style) -> Message {
        let i = &notice.incident;
        let title = one_line(&i.title, MAX_TITLE_CHARS);
        let summary = one_line(&notice.summary, 1000);
        let severity = style.severity(i.severity);
        let subject = if style.ja() {
            format!(
                "[Mamori][{severity}] {} : {} {title}",
                i.tenant,
                style.trigger(notice.trigger)
            )
        } else {
            format!(
                "[Mamori][{severity}] {}: {}: {title}",
                i.tenant,
                style.trigger(notice.trigger)
            )
        };
        let mut notes = Vec::new();
        if let Trigger::SeverityRaised { from } = notice.trigger {
            notes.push(if style.ja() {
                format!(
                    "深刻度が「{}」から「{severity}」に上がりました。",
                    style.severity(from)
                )
            } else {
                format!(
                    "Severity raised from {} to {severity}.",
                    style.severity(from)
                )
            });
        }
        if extra.more_alerts > 0 {
            notes.push(if style.ja() {
                format!(
                    "前回の通知以降、さらに {} 件のアラートがありました。",
                    extra.more_alerts
                )
            } else {
                format!("{} more alerts since the last message.", extra.more_alerts)
            });
        }
        if extra.suppressed_incidents > 0 {
            notes.push(suppressed_note(style, extra.suppressed_incidents));
        }
        let facts = vec![
            (style.t("テナント", "Tenant").into(), i.tenant.clone()),
            (style.t("深刻度", "Severity").into(), severity.into()),
            (style.t("状態", "State").into(), style.state(i.state).into()),
            (style.t("対象", "Asset").into(), one_line(&i.asset, 200)),
            (
                style.t("アラート数", "Alerts").into(),
                i.alert_count.to_string(),
            ),
            (
                style.t("最初の検知", "First seen").into(),
                style.time(i.first_seen),
            ),
            (
                style.t("最後の検知", "Last seen").into(),
                style.time(i.last_seen),
            ),
            (
                style.t("インシデントID", "Incident ID").into(),
                i.id.to_string(),
            ),
        ];
        let link = style.link(notice);
        let json = json!({
            "tenant": i.tenant,
            "incident_id": i.id.to_string(),
            "title": i.title,
            "severity": i.severity.as_str(),
            "state": i.state.as_str(),
            "asset": i.asset,
            "alert_count": i.alert_count,
            "first_seen": rfc3339(i.first_seen),
            "last_seen": rfc3339(i.last_seen),
            "trigger": notice.trigger.as_str(),
            "previous_severity": match notice.trigger {
                Trigger::SeverityRaised { from } => Value::from(from.as_str()),
                _ => Value::Null,
            },
            "summary": notice.summary,
            "link": link,
            "more_alerts": extra.more_alerts,
            "suppressed_incidents": extra.suppressed_incidents,
        });
        Message {
            severity: i.severity,
            subject,
            headline: format!("{} — {summary}", style.trigger(notice.trigger)),
            facts,
            notes,
            link,
            link_label: style.t("コンソールで確認", "Open in the console").into(),
            json,
            language: style.language,
        }
    }

    /// One message for the incidents held during quiet hours, for one tenant.
    pub(crate) fn quiet_digest(tenant: &str, held: &[Notice], style: &Style) -> Message {
        let count = held.len();
        let severity = held
            .iter()
            .map(|n| n.incident.severity)
            .max()
            .unwrap_or(Severity::Info);
        let subject = if style.ja() {
            format!("[Mamori] {tenant} : 夜間・休日に保留した通知 {count} 件")
        } else {
            format!("[Mamori] {tenant}: {count} notifications held during quiet hours")
        };
        let facts = held
            .iter()
            .take(MAX_DIGEST_ITEMS)
            .map(|n| {
                let i = &n.incident;
                (
                    format!(
                        "[{}] {}",
                        style.severity(i.severity),
                        one_line(&i.title, 120)
                    ),
                    format!(
                        "{} · {} · {} · {}",
                        style.trigger(n.trigger),
                        style.state(i.state),
                        one_line(&i.asset, 100),
                        style.time(i.last_seen)
                    ),
                )
            })
            .collect();
        let mut notes = Vec::new();
        if count > MAX_DIGEST_ITEMS {
            notes.push(if style.ja() {
                format!(
                    "ほか {} 件はコンソールで確認してください。",
                    count - MAX_DIGEST_ITEMS
                )
            } else {
                format!("{} more in the console.", count - MAX_DIGEST_ITEMS)
            });
        }
        let items: Vec<Value> = held
            .iter()
            .take(MAX_DIGEST_ITEMS)
            .map(|n| {
                let i = &n.incident;
                json!({
                    "incident_id": i.id.to_string(),
                    "title": i.title,
                    "severity": i.severity.as_str(),
                    "state": i.state.as_str(),
                    "asset": i.asset,
                    "alert_count": i.alert_count,
                    "last_seen": rfc3339(i.last_seen),
                    "trigger": n.trigger.as_str(),
                    "summary": n.summary,
                    "link": style.link(n),
                })
            })
            .collect();
        let link = style
            .console_url
            .as_ref()
            .map(|base| format!("{}/incidents", base.trim_end_matches('/')));
        Message {
            severity,
            headline: subject.clone(),
            json: json!({
                "tenant": tenant,
                "digest": "quiet_hours",
                "count": count,
                "incidents": items,
                "link": link,
            }),
            subject,
            facts,
            notes,
            link,
            link_label: style.t("インシデント一覧", "Incidents").into(),
            language: style.language,
        }
    }

    /// "X more incidents suppressed": sent when the hourly limit frees up.
    pub(crate) fn rate_digest(tenant: &str, rule: &str, count: u64, style: &Style) -> Message {
        let subject = if style.ja() {
            format!("[Mamori] {tenant} : 通知の上限により {count} 件のインシデントを抑制しました")
        } else {
            format!("[Mamori] {tenant}: {count} more incidents suppressed")
        };
        let link = style
            .console_url
            .as_ref()
            .map(|base| format!("{}/incidents", base.trim_end_matches('/')));
        Message {
            severity: Severity::Info,
            headline: subject.clone(),
            subject,
            facts: vec![
                (style.t("テナント", "Tenant").into(), tenant.into()),
                (style.t("ルール", "Rule").into(), rule.into()),
            ],
            notes: vec![suppressed_note(style, count)],
            link: link.clone(),
            link_label: style.t("インシデント一覧", "Incidents").into(),
            json: json!({
                "tenant": tenant,
                "digest": "rate_limit",
                "rule": rule,
                "count": count,
                "link": link,
            }),
            language: style.language,
        }
    }

    /// The webhook body in the configured format.
    pub(crate) fn webhook_body(&self, format: WebhookFormat) -> Value {
        match format {
            WebhookFormat::Generic => self.json.clone(),
            WebhookFormat::Slack => self.slack(),
            WebhookFormat::Teams => self.teams(),
        }
    }

    fn slack(&self) -> Value {
        // Slack's mrkdwn treats these three as markup.
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut text = esc(&self.headline);
        for note in &self.notes {
            text.push('\n');
            text.push_str(&esc(note));
        }
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": one_line(&self.subject, 148)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
        ];
        // Block Kit allows ten fields per section.
        for chunk in self.facts.chunks(10) {
            let fields: Vec<Value> = chunk
                .iter()
                .map(
                    |(k, v)| json!({"type": "mrkdwn", "text": format!("*{}*\n{}", esc(k), esc(v))}),
                )
                .collect();
            blocks.push(json!({"type": "section", "fields": fields}));
        }
        if let Some(link) = &self.link {
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("<{}|{}>", esc(link), esc(&self.link_label))}}));
        }
        let mut fallback = self.subject.clone();
        for note in &self.notes {
            fallback.push('\n');
            fallback.push_str(note);
        }
        json!({"text": fallback, "blocks": blocks})
    }

    fn teams(&self) -> Value {
        let mut text = self.headline.clone();
        for note in &self.notes {
            text.push_str("\n\n");
            text.push_str(note);
        }
        let facts: Vec<Value> = self
            .facts
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let mut card = json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": self.subject,
            "themeColor": theme_color(self.severity),
            "title": self.subject,
            "text": text,
            "sections": [{"facts": facts}],
        });
        if let Some(link) = &self.link {
            card["potentialAction"] = json!([{
                "@type": "OpenUri",
                "name": self.link_label,
                "targets": [{"os": "default", "uri": link}],
            }]);
        }
        card
    }

    /// The plain-text mail body.
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.headline);
        out.push_str("\n\n");
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        for (k, v) in &self.facts {
            out.push_str(&format!("{k}: {v}\n"));
        }
        if let Some(link) = &self.link {
            out.push_str(&format!("\n{}: {link}\n", self.link_label));
        }
        out.push_str(match self.language {
            Language::Ja => {
                "\n-- \nこのメールは Mamori が自動で送信しています。返信しても届きません。\n"
            }
            Language::En => "\n-- \nSent automatically by Mamori. Replies are not read.\n",
        });
        out
    }
}

fn suppressed_note(style: &Style, count: u64) -> String {
    if style.ja() {
        format!("通知数の上限（1時間あたり）により、ほかに {count} 件のインシデントの通知を抑制しました。")
    } else {
        format!("{count} more incidents suppressed by the hourly limit.")
    }
}

fn theme_color(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "B00020",
        Severity::High => "E65100",
        Severity::Medium => "F9A825",
        Severity::Low => "1565C0",
        Severity::Info => "757575",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notice::tests::{incident, notice};
    use crate::quiet::parse_offset;

    fn style(language: Language) -> Style {
        Style {
            language,
            offset: parse_offset("+09:00").expect("offset"),
            console_url: Some("https://console.example.jp/".into()),
        }
    }

    #[test]
    fn the_generic_body_carries_every_documented_field() {
        let n = notice(incident("acme", Severity::High), Trigger::Opened);
        let body = Message::incident(&n, Extra::default(), &style(Language::Ja))
            .webhook_body(WebhookFormat::Generic);
        for key in [
            "tenant",
            "incident_id",
            "title",
            "severity",
            "state",
            "asset",
            "alert_count",
            "first_seen",
            "last_seen",
            "trigger",
            "summary",
            "link",
        ] {
            assert!(body.get(key).is_some(), "missing {key}");
        }
        assert_eq!(body["severity"], "high");
        assert_eq!(body["trigger"], "opened");
        assert_eq!(body["first_seen"], "2025-03-01T01:00:00Z");
        assert_eq!(
            body["link"],
            format!("https://console.example.jp/incidents/{}", n.incident.id)
        );
    }

    #[test]
    fn slack_gets_text_and_blocks_with_escaped_markup() {
        let mut n = notice(
            incident("acme", Severity::Critical),
            Trigger::SeverityRaised {
                from: Severity::Medium,
            },
        );
        n.summary = "<script> & co".into();
        let extra = Extra {
            more_alerts: 7,
            suppressed_incidents: 0,
        };
        let body =
            Message::incident(&n, extra, &style(Language::En)).webhook_body(WebhookFormat::Slack);
        let text = body["text"].as_str().expect("text");
        assert!(
            text.starts_with("[Mamori][Critical] acme: Severity raised:"),
            "{text}"
        );
        assert!(text.contains("7 more alerts since"), "{text}");
        assert_eq!(body["blocks"][0]["type"], "header");
        let blocks = body["blocks"].to_string();
        assert!(blocks.contains("&lt;script&gt; &amp; co"), "{blocks}");
        assert!(blocks.contains("Severity raised from Medium to Critical"));
    }

    #[test]
    fn teams_gets_a_message_card() {
        let n = notice(incident("acme", Severity::High), Trigger::Opened);
        let body = Message::incident(&n, Extra::default(), &style(Language::Ja))
            .webhook_body(WebhookFormat::Teams);
        assert_eq!(body["@type"], "MessageCard");
        assert_eq!(body["themeColor"], "E65100");
        assert!(body["title"].as_str().is_some_and(|t| t.contains("[高]")));
        assert!(body["potentialAction"][0]["targets"][0]["uri"].is_string());
    }

    #[test]
    fn japanese_text_names_the_facts_and_the_link() {
        let n = notice(incident("acme", Severity::Critical), Trigger::Opened);
        let m = Message::incident(&n, Extra::default(), &style(Language::Ja));
        assert_eq!(
            m.subject,
            "[Mamori][重大] acme : 新しいインシデント C2 サーバーへの定期通信"
        );
        let text = m.text();
        assert!(text.contains("深刻度: 重大"), "{text}");
        assert!(
            text.contains("最初の検知: 2025-03-01 10:00 (+09:00)"),
            "{text}"
        );
        assert!(
            text.contains("https://console.example.jp/incidents/"),
            "{text}"
        );
    }

    #[test]
    fn titles_cannot_break_out_of_a_header() {
        assert_eq!(one_line("a\r\nBcc: x", 100), "a  Bcc: x");
        assert_eq!(one_line("あいうえお", 3), "あいう…");
    }
}
