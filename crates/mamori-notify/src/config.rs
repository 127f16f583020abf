//! The `[notify]` configuration: rules, the SMTP relay, quiet hours, retries; and the
//! checks that turn it into something the [`crate::Notifier`] can run.
//!
//! Every key but `rules` has a default. Validation names the rule and the key, so a typo
//! in `mamori.toml` is found at start-up rather than at 3 a.m. when the first incident
//! should have gone out. Secrets (webhook URLs carry a token; the relay password) are kept
//! out of `Debug` output.

use crate::error::NotifyError;
use crate::quiet::{parse_offset, QuietWindow};
use mamori_core::{Engine, Severity};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;
use time::UtcOffset;

/// Everything the notifier needs; usually the `[notify]` table of `mamori.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// Who is told about what. An incident may match several rules; each notifies.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The relay mail goes through; required when a rule has `mail` recipients.
    #[serde(default)]
    pub smtp: Option<SmtpRelay>,
    /// Hours in which only severe incidents go out at once.
    #[serde(default)]
    pub quiet: Option<QuietHours>,
    /// Language of subjects and bodies: `ja` (default) or `en`.
    #[serde(default)]
    pub language: Language,
    /// The console's base URL (`https://mamori.example.jp`), for links to incidents.
    #[serde(default)]
    pub console_url: Option<String>,
    /// The local time of quiet hours and of times in messages (default `+09:00`).
    #[serde(default = "default_offset")]
    pub utc_offset: String,
    /// How failed deliveries are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_offset() -> String {
    "+09:00".into()
}

/// Subjects and bodies are written in one language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ja,
    En,
}

/// One notification rule: which incidents, and where to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique; appears in the log and in errors.
    pub name: String,
    /// Only this tenant's incidents; absent for every tenant (a provider's rule).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Incidents at least this severe (default `medium`).
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Only incidents with alerts from these engines; empty for all.
    #[serde(default)]
    pub engines: Vec<Engine>,
    /// Only assets whose key starts with this (`host:10.0.1.`, `mail_account:`).
    #[serde(default)]
    pub asset_prefix: Option<String>,
    /// Mail recipients; one message to all of them.
    #[serde(default)]
    pub mail: Vec<String>,
    /// A webhook to POST to.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    /// After a message about an incident, further updates of it are held back this long
    /// (default 60; 0 sends every update).
    #[serde(default = "default_throttle")]
    pub throttle_minutes: u32,
    /// Messages per tenant in any sliding hour for this rule (default 20).
    #[serde(default = "default_max_per_hour")]
    pub max_per_hour: u32,
}

fn default_min_severity() -> Severity {
    Severity::Medium
}
fn default_throttle() -> u32 {
    60
}
fn default_max_per_hour() -> u32 {
    20
}

/// A webhook target. The URL usually embeds a secret token (Slack, Teams), so it is never
/// logged: the log and traces show the host only.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    /// Body format (default `generic`).
    #[serde(default)]
    pub format: WebhookFormat,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("host", &url_host(&self.url))
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// The JSON a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Mamori's own flat object, for scripts and ticket systems.
    #[default]
    Generic,
    /// Slack incoming webhooks: `text` and Block Kit `blocks`.
    Slack,
    /// Microsoft Teams incoming webhooks: a MessageCard.
    Teams,
}

/// The relay mail is handed to (the company's or the provider's submission server).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpRelay {
    pub host: String,
    /// Default 587.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Require STARTTLS (default true); false sends in clear, for a relay on localhost.
    #[serde(default = "default_true")]
    pub starttls: bool,
    /// Accept any certificate after STARTTLS (default false: verify against the web PKI).
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// The sender address (`mamori@example.jp`).
    pub from: String,
    /// AUTH PLAIN user; with `password`.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The name sent in EHLO (default `mamori`).
    #[serde(default = "default_helo")]
    pub helo_name: String,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_true() -> bool {
    true
}
fn default_helo() -> String {
    "mamori".into()
}

impl fmt::Debug for SmtpRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpRelay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("from", &self.from)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Quiet hours: incidents below `override_severity` that arrive between `start` and `end`
/// (local time, see [`NotifyConfig::utc_offset`]) are held and sent as one digest when the
/// quiet hours end.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, e.g. `22:00`.
    pub start: String,
    /// `HH:MM`, e.g. `07:00`; earlier than `start` means the next morning.
    pub end: String,
    /// Incidents at least this severe go out anyway (default `critical`).
    #[serde(default = "default_override")]
    pub override_severity: Severity,
}

fn default_override() -> Severity {
    Severity::Critical
}

/// Retries of a failed delivery: `initial_delay_ms`, doubled each time up to
/// `max_delay_ms`, for at most `attempts` tries in all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries in all, the first included (default 5).
    pub attempts: u32,
    /// Delay before the second try (default 1000).
    pub initial_delay_ms: u64,
    /// Longest delay, also the cap on a webhook's `Retry-After` (default 30000).
    pub max_delay_ms: u64,
    /// Time allowed for one HTTP request or SMTP connection step (default 10 s).
    pub timeout_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_delay_ms: 1000,
            max_delay_ms: 30_000,
            timeout_secs: 10,
        }
    }
}

impl RetryPolicy {
    /// The wait after failed try number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        Duration::from_millis(
            self.initial_delay_ms
                .saturating_mul(factor)
                .min(self.max_delay_ms),
        )
    }

    /// A server's requested wait (`Retry-After`), capped.
    pub fn capped(&self, wanted: Duration) -> Duration {
        wanted.min(Duration::from_millis(self.max_delay_ms))
    }
}

/// A configuration that passed [`NotifyConfig::validate`].
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub config: NotifyConfig,
    pub offset: UtcOffset,
    pub quiet: Option<QuietWindow>,
}

impl NotifyConfig {
    /// Checks every rule and key; the error names the first problem's rule and key.
    pub fn validate(&self) -> Result<(), NotifyError> {
        self.check().map(|_| ())
    }

    pub(crate) fn check(&self) -> Result<Checked, NotifyError> {
        let offset = parse_offset(&self.utc_offset)
            .ok_or_else(|| NotifyError::config(None, "utc_offset", "expected +HH:MM or -HH:MM"))?;
        let quiet = self
            .quiet
            .as_ref()
            .map(|q| QuietWindow::parse(q, offset))
            .transpose()?;
        if let Some(url) = &self.console_url {
            check_url(url).map_err(|m| NotifyError::config(None, "console_url", m))?;
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return Err(NotifyError::config(None, "smtp.host", "is empty"));
            }
            if !valid_address(&smtp.from) {
                return Err(NotifyError::config(
                    None,
                    "smtp.from",
                    format!("{:?} is not a mail address", smtp.from),
                ));
            }
            if smtp.user.is_some() != smtp.password.is_some() {
                return Err(NotifyError::config(
                    None,
                    "smtp.user",
                    "user and password go together",
                ));
            }
        }
        if self.retry.attempts == 0 {
            return Err(NotifyError::config(
                None,
                "retry.attempts",
                "must be at least 1",
            ));
        }
        let mut names = HashSet::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                return Err(NotifyError::config(
                    Some(&format!("#{}", index + 1)),
                    "name",
                    "is empty",
                ));
            }
            let name = Some(rule.name.as_str());
            if !names.insert(rule.name.as_str()) {
                return Err(NotifyError::config(name, "name", "is used by another rule"));
            }
            if let Some(tenant) = &rule.tenant {
                if !mamori_core::valid_tenant_name(tenant) {
                    return Err(NotifyError::config(
                        name,
                        "tenant",
                        format!("{tenant:?} is not a tenant name"),
                    ));
                }
            }
            for address in &rule.mail {
                if !valid_address(address) {
                    return Err(NotifyError::config(
                        name,
                        "mail",
                        format!("{address:?} is not a mail address"),
                    ));
                }
            }
            if !rule.mail.is_empty() && self.smtp.is_none() {
                return Err(NotifyError::config(
                    name,
                    "mail",
                    "mail recipients need an [notify.smtp] relay",
                ));
            }
            if let Some(hook) = &rule.webhook {
                // The message never includes the URL: it carries the token.
                check_url(&hook.url).map_err(|m| NotifyError::config(name, "webhook.url", m))?;
            }
            if rule.mail.is_empty() && rule.webhook.is_none() {
                return Err(NotifyError::config(
                    name,
                    "mail",
                    "the rule has neither mail recipients nor a webhook",
                ));
            }
            if rule.max_per_hour == 0 {
                return Err(NotifyError::config(
                    name,
                    "max_per_hour",
                    "must be at least 1",
                ));
            }
        }
        Ok(Checked {
            config: self.clone(),
            offset,
            quiet,
        })
    }
}

fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        Ok(_) => Err("expected an http:// or https:// URL with a host".into()),
        // The parser's message does not echo the URL.
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

/// The host of a URL, the only part of a webhook that may be shown.
pub(crate) fn url_host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "(invalid)".into())
}

/// A plain `local@domain` address: no display name, nothing a header could be injected
/// through.
pub(crate) fn valid_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !"<>,;\"()[]\\@".contains(c))
    };
    address.len() <= 254
        && local.len() <= 64
        && plain(local)
        && plain(domain)
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifyConfig {
        toml::from_str(text).expect("test config parses")
    }

    #[test]
    fn a_minimal_rule_gets_the_documented_defaults() {
        let config = parse(
            r#"
            [[rules]]
            name = "ops"
            webhook = { url = "https://hooks.example.jp/T0/B0/secret" }
            "#,
        );
        config.validate().expect("valid");
        let rule = &config.rules[0];
        assert_eq!(rule.min_severity, Severity::Medium);
        assert_eq!(rule.throttle_minutes, 60);
        assert_eq!(rule.max_per_hour, 20);
        assert_eq!(config.language, Language::Ja);
        assert_eq!(config.retry.attempts, 5);
        assert!(!format!("{config:?}").contains("secret"));
    }

    fn error_of(text: &str) -> String {
        match parse(text).validate() {
            Err(e) => e.to_string(),
            Ok(()) => panic!("expected an error for {text}"),
        }
    }

    #[test]
    fn invalid_values_are_reported_with_rule_and_key() {
        let e = error_of(
            r#"
            [[rules]]
            name = "slack"
            webhook = { url = "hooks.slack.com/services/secret" }
            "#,
        );
        assert!(e.contains("\"slack\"") && e.contains("webhook.url"), "{e}");
        assert!(!e.contains("secret"), "{e}");

        let e = error_of(
            r#"
            smtp = { host = "relay", from = "mamori@example.jp" }
            [[rules]]
            name = "boss"
            mail = ["boss at example.jp"]
            "#,
        );
        assert!(e.contains("\"boss\"") && e.contains("`mail`"), "{e}");

        let e = error_of(
            r#"
            [[rules]]
            name = "boss"
            mail = ["boss@example.jp"]
            "#,
        );
        assert!(e.contains("relay"), "{e}");

        let e = error_of(
            r#"
            quiet = { start = "25:00", end = "07:00" }
            "#,
        );
        assert!(e.contains("quiet.start"), "{e}");

        let e = error_of(
            r#"
            [[rules]]
            name = "a"
            tenant = "Acme Corp"
            webhook = { url = "https://h.example/x" }
            "#,
        );
        assert!(e.contains("tenant"), "{e}");
    }

    #[test]
    fn addresses_that_could_inject_headers_are_refused() {
        assert!(valid_address("taro@example.co.jp"));
        assert!(!valid_address("taro@example.co.jp\r\nBcc: x@y"));
        assert!(!valid_address("Taro <taro@example.jp>"));
        assert!(!valid_address("@example.jp"));
        assert!(!valid_address("taro@example..jp"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            attempts: 5,
            initial_delay_ms: 1000,
            max_delay_ms: 5000,
            timeout_secs: 10,
        };
        let delays: Vec<u64> = (1..=5)
            .map(|a| policy.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
        assert_eq!(
            policy.capped(Duration::from_secs(3600)),
            Duration::from_secs(5)
        );
    }
}
