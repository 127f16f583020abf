//! `mamori.toml`: every key has a default, so `mamori up` runs with no file at all.
//!
//! Errors name the file, the line and the key (`mamori.toml:7: console.listen: …`), both for
//! TOML syntax and unknown keys and for values that parse but make no sense.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        file: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Days alerts and closed incidents are kept.
    pub retention_days: u32,
    pub store: StoreConfig,
    pub console: ConsoleConfig,
    pub incidents: IncidentConfig,
    pub bus: BusConfig,
    /// The mail gateway's policy (`[mail]`); read by the mail engine, which owns its keys.
    pub mail: toml::Table,
    /// The WAF (`[waf]` with `[[waf.site]]`); read by the WAF engine, which owns its keys.
    pub waf: toml::Table,
    /// The SMTP gateway `mamori up` runs (`[mail_gateway]`).
    pub mail_gateway: MailGatewayConfig,
    /// The network sensor `mamori up` runs (`[ids]`).
    pub ids: IdsConfig,
    /// Response actions applied with nftables (`[respond]`).
    pub respond: RespondConfig,
    /// Notifications (`[notify]` with `[[notify.rules]]`); read by the notifier, which owns
    /// its keys.
    pub notify: toml::Table,
    /// The help desk's mail (`[helpdesk]`).
    pub helpdesk: HelpdeskConfig,
    /// Targeted-mail training (`[drill]`).
    pub drill: DrillConfig,
}

/// `[drill]`: the training's report mailbox and scanner filtering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DrillConfig {
    /// Where staff forward suspicious mail; a training mail forwarded here counts as
    /// reported (received on `[helpdesk].listen`).
    pub report_address: String,
    /// Mail-security scanners' networks (CIDRs): their clicks are recorded, not counted.
    pub scanner_networks: Vec<String>,
    /// Take the clicker's address from X-Forwarded-For (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

/// `[helpdesk]`: the conversation on each incident by mail. Messages go out through
/// `[notify].smtp`; replies come back to the SMTP listener here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HelpdeskConfig {
    /// Where replies are received (e.g. "0.0.0.0:2526"); empty: no mail in.
    pub listen: String,
    /// The help desk's address, set as Reply-To on every message it sends.
    pub address: String,
    /// The provider's addresses that get the customers' messages.
    pub provider_mail: Vec<String>,
}

/// `[respond]`: how block/isolate actions reach the gateway's firewall.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RespondConfig {
    /// Apply actions with nftables; off: actions are recorded but not applied.
    pub enabled: bool,
    /// The nftables table (family inet) Mamori owns.
    pub table: String,
    /// Apply inside this network namespace (`ip netns exec`); empty: the gateway's own.
    pub netns: String,
    /// Addresses an isolated host may still reach (the console), as IPs or CIDRs.
    pub allow: Vec<String>,
    /// Isolated hosts may still resolve names.
    pub allow_dns: bool,
}

impl Default for RespondConfig {
    fn default() -> Self {
        RespondConfig {
            enabled: true,
            table: "mamori".into(),
            netns: String::new(),
            allow: Vec::new(),
            allow_dns: true,
        }
    }
}

/// `[ids]`: the IDS sensor `mamori up` runs (the same settings as `mamori ids live|inline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    pub enabled: bool,
    /// `live` (watch `iface` with AF_PACKET) or `inline` (NFQUEUE `queue`, IPS).
    pub mode: String,
    pub iface: String,
    pub queue: u16,
    /// Suricata rule files.
    pub rules: Vec<String>,
    /// The tenant the sensor's alerts belong to.
    pub tenant: String,
    /// The company's networks (CIDRs, comma-separated); empty: the private ranges.
    pub home_net: String,
    pub blocklist_ip: Vec<String>,
    pub blocklist_domain: Vec<String>,
    /// EVE JSON file appended to; empty: none.
    pub eve: String,
    pub sensor: String,
}

impl Default for IdsConfig {
    fn default() -> Self {
        IdsConfig {
            enabled: false,
            mode: "live".into(),
            iface: String::new(),
            queue: 0,
            rules: Vec::new(),
            tenant: String::new(),
            home_net: String::new(),
            blocklist_ip: Vec::new(),
            blocklist_domain: Vec::new(),
            eve: String::new(),
            sensor: "ids".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailGatewayConfig {
    pub enabled: bool,
    pub listen: String,
    /// `outbound` (staff → internet) or `inbound` (internet → the company's server).
    pub direction: String,
    /// `HOST:PORT` of the relay (company server or smarthost), or `mx`.
    pub next_hop: String,
    /// The tenant the gateway's alerts and mail belong to.
    pub tenant: String,
    pub domains: Vec<String>,
    pub partners: Vec<String>,
    pub hostname: String,
    /// Where staff reach the console, for the links in hold notices.
    pub console_url: String,
    /// Require SMTP AUTH (after STARTTLS) against the console's users.
    pub auth: bool,
    pub tls_cert: String,
    pub tls_key: String,
}

impl Default for MailGatewayConfig {
    fn default() -> Self {
        MailGatewayConfig {
            enabled: false,
            listen: "127.0.0.1:2525".into(),
            direction: "outbound".into(),
            next_hop: String::new(),
            tenant: String::new(),
            domains: Vec::new(),
            partners: Vec::new(),
            hostname: "mamori.localhost".into(),
            console_url: "http://127.0.0.1:8080".into(),
            auth: false,
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Empty for the embedded SQLite database in the data directory, or a
    /// `postgres://user:password@host/db` URL.
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    pub listen: String,
    /// PEM certificate chain and key; both set turns on HTTPS.
    pub tls_cert: String,
    pub tls_key: String,
    /// Language of the console for users who have not chosen one: `ja` or `en`.
    pub language: String,
    pub session_hours: u32,
    /// Largest body `POST /api/v1/events` accepts.
    pub ingest_max_bytes: usize,
    /// Failed logins (per account or per address) before further attempts wait.
    pub login_max_failures: u32,
    pub login_lockout_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentConfig {
    /// Alerts on the same asset within this many minutes of the incident's last alert join it.
    pub window_minutes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Alerts waiting to be stored before publishers wait (backpressure).
    pub capacity: usize,
    /// Largest batch written in one transaction.
    pub batch_size: usize,
    /// Longest a partial batch waits before it is written.
    pub flush_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            retention_days: 400,
            store: StoreConfig::default(),
            console: ConsoleConfig::default(),
            incidents: IncidentConfig::default(),
            bus: BusConfig::default(),
            mail: toml::Table::new(),
            waf: toml::Table::new(),
            mail_gateway: MailGatewayConfig::default(),
            ids: IdsConfig::default(),
            respond: RespondConfig::default(),
            notify: toml::Table::new(),
            helpdesk: HelpdeskConfig::default(),
            drill: DrillConfig::default(),
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert: String::new(),
            tls_key: String::new(),
            language: "ja".into(),
            session_hours: 12,
            ingest_max_bytes: 10 * 1024 * 1024,
            login_max_failures: 5,
            login_lockout_minutes: 15,
        }
    }
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig { window_minutes: 60 }
    }
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            capacity: 50_000,
            batch_size: 20_000,
            flush_ms: 20,
        }
    }
}

/// The file `mamori init` writes: every key, its default and what it does.
pub const COMMENTED_DEFAULT: &str = r#"# Mamori configuration. Every key is optional; the values below are the defaults.

# Days alerts and closed incidents are kept before they are deleted.
retention_days = 400

[store]
# Empty: the embedded SQLite database in the data directory (nothing to install).
# For one console serving many tenants or sensors, a PostgreSQL URL:
#   url = "postgres://mamori:secret@127.0.0.1/mamori"
url = ""

[console]
# Address of the web console and API. Keep it on loopback unless TLS is configured.
listen = "127.0.0.1:8080"
# PEM certificate chain and private key. When both are set the console speaks HTTPS
# and its session cookie is marked Secure.
tls_cert = ""
tls_key = ""
# Language for users who have not chosen one: "ja" or "en".
language = "ja"
# Hours a login stays valid.
session_hours = 12
# Largest body POST /api/v1/events accepts, in bytes (10 MiB).
ingest_max_bytes = 10485760
# After this many failed logins for one account or from one address within the lockout
# period, further attempts are refused until the period has passed.
login_max_failures = 5
login_lockout_minutes = 15

[incidents]
# Alerts on the same asset (PC, server, mail account, website) within this many minutes of
# an open incident's last alert join that incident.
window_minutes = 60

[bus]
# Alerts waiting to be stored before engines and the ingest API are made to wait.
capacity = 50000
# Largest number of alerts written in one transaction, and how long a partial batch waits.
batch_size = 20000
flush_ms = 20

[mail_gateway]
# The SMTP gateway `mamori up` runs alongside the console (also: mamori mail serve).
enabled = false
listen = "127.0.0.1:2525"
# "outbound": staff's mail clients or the company server -> Mamori -> next_hop.
# "inbound": the internet -> Mamori -> the company's mail server (next_hop).
direction = "outbound"
# HOST:PORT of the smarthost / company server, or "mx" to deliver to recipients' MX hosts.
next_hop = ""
# The tenant whose mail this is (alerts and the console's Mail page).
tenant = ""
# The company's own domains and its usual partners' (lookalike and spoofing checks).
domains = []
partners = []
hostname = "mamori.localhost"
# Where staff reach the console: the send/cancel links in hold notices point here.
console_url = "http://127.0.0.1:8080"
# Require SMTP AUTH (PLAIN/LOGIN after STARTTLS) against the console's users.
auth = false
tls_cert = ""
tls_key = ""

[ids]
# The network sensor `mamori up` runs alongside the console (also: mamori ids live|inline).
enabled = false
# "live": watch iface (AF_PACKET, needs root or CAP_NET_RAW).
# "inline": judge packets on NFQUEUE `queue` (IPS: drop rules drop), e.g. after
#   nft add rule inet filter forward queue num 0 bypass
mode = "live"
iface = ""
queue = 0
# Suricata rule files (e.g. ET Open).
rules = []
# The tenant whose network this is.
tenant = ""
# The company's networks, comma-separated CIDRs (empty: 10/8, 172.16/12, 192.168/16).
home_net = ""
# Blocklists: files of addresses/CIDRs and of domains, one per line.
blocklist_ip = []
blocklist_domain = []
# EVE JSON file to append to (empty: none).
eve = ""
sensor = "ids"

[respond]
# Response actions (block an address or domain, isolate a host) from the console, the API
# and `mamori respond`, applied with nftables in a table of Mamori's own (needs root or
# CAP_NET_ADMIN; without it actions are recorded and shown as not applied).
enabled = true
table = "mamori"
# Apply inside this network namespace instead of the gateway's own (empty: the gateway's).
netns = ""
# Addresses an isolated PC may still reach: the console, the help desk's remote tool.
allow = []
# Isolated PCs may still resolve names.
allow_dns = true

[notify]
# Who is told about incidents, by mail and webhook (Slack, Teams or generic JSON). One
# message per incident when it opens, again when it becomes more severe or is resolved;
# further alerts on it are summed up at most once per throttle_minutes. Below the override
# severity, incidents in quiet hours are held and sent as one digest when they end.
# language = "ja"
# console_url = "https://mamori.example.jp"
# smtp = { host = "smtp.example.jp", port = 587, starttls = true, from = "mamori@example.jp", user = "", password = "" }
# quiet = { start = "22:00", end = "07:00", override_severity = "critical" }
# [[notify.rules]]
# name = "acme-admins"
# tenant = "acme"              # absent: every tenant
# min_severity = "medium"
# engines = []                 # empty: all
# mail = ["admin@acme.example.jp"]
# webhook = { url = "https://hooks.slack.com/services/…", format = "slack" }
# throttle_minutes = 60
# max_per_hour = 20

[helpdesk]
# Each incident has a conversation between the company and its provider (the incident
# page). Messages are mailed to the other side through [notify].smtp with the subject
# "[Mamori #<incident>] …"; replies to `address` arrive at `listen` and join the conversation.
listen = ""
address = ""
provider_mail = []

[drill]
# Targeted-mail training. Staff forward suspicious mail to report_address; a training mail
# forwarded there counts as reported (mail to it is received on [helpdesk].listen).
report_address = ""
# Mail-security scanners that follow links (CIDRs): recorded, not counted as clicks.
scanner_networks = []
trust_forwarded_for = false

[waf]
# The WAF reverse proxy `mamori up` runs alongside the console (also: mamori waf serve).
# Every key below shows its default.
# enabled = false
# listen = "127.0.0.1:8081"
# HTTPS listener for sites with a certificate (SNI picks the site); empty: none.
# tls_listen = ""
# tenant = ""
# A CRS directory (with crs-setup.conf) or a .conf including the rules; empty: Debian's
# modsecurity-crs (/usr/share/modsecurity-crs) when installed.
# rules = ""
# Rule exclusions written by the console's false-positive button (loaded after the rules).
# exclusions = "mamori-data/waf-exclusions.conf"
# audit_log = "mamori-data/waf-audit.jsonl"
# Rotated at this size (0: never) into waf-audit.jsonl.1 ... .<keep>.
# audit_log_max_mb = 100
# audit_log_keep = 5
# inspect_body_limit = 131072
# max_body = 10485760
# max_headers = 100
# max_header_bytes = 16384
#
# [[waf.site]]
# hosts = ["www.example.co.jp"]
# upstreams = ["http://192.168.1.10:80"]
# health_path = "/"
# mode = "On"            # or "DetectionOnly" while trying it out, or "Off"
# tls_cert = ""; tls_key = ""
# reset_paths = ["/password/reset"]
# [[waf.site.login]]
# path = "/login"
# method = "POST"
# username_field = "username"
# failure_status = [401, 403]
# failure_redirect = "/login?error"
# failure_text = ""
# max_failures_per_ip = 5     # in window_secs (600) -> blocked for block_secs (600)
# response = "block"          # or "429", "delay", "challenge"

[mail]
# The mail gateway's policy (mamori mail serve / mamori mail check). Every key is optional.
# Inbound: score at which a mail is tagged "[要注意]", quarantined, or refused.
# tag_score = 5.0
# quarantine_score = 10.0
# reject_score = 20.0
# Outbound: more external recipients in To/Cc than this are moved to Bcc ("bcc") or held ("hold").
# mass_recipients_threshold = 10
# mass_recipients_action = "bcc"
# Minutes external mail waits before it leaves, so the sender can still cancel (0 = off).
# send_delay_minutes = 0
# Addresses that get the hold notice (with the release/cancel links) besides the sender.
# hold_approvers = []
# Account takeover, per authenticated account and hour: recipients, recipient domains,
# share of recipients refused by the next hop (after this many refusals), and recipients
# at an hour of day the account never sent at in the past week.
# account_max_recipients_per_hour = 300
# account_max_domains_per_hour = 100
# account_max_failure_rate = 0.5
# account_min_failures = 10
# account_unusual_hour_recipients = 30
"#;

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and checks config text; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => {
                    let line = line_of_offset(text, span.start);
                    (line, key_at(text, span.start).unwrap_or_default())
                }
                None => (0, String::new()),
            };
            ConfigError::Invalid {
                file: file.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        config
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                file: file.to_path_buf(),
                line: line_of_key(text, key),
                key: key.to_string(),
                message,
            })?;
        Ok(config)
    }

    /// Checks values that parse but cannot work; answers the dotted key and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.console.listen.parse::<SocketAddr>().is_err() {
            return Err((
                "console.listen",
                format!(
                    "{:?} is not an address and port such as \"127.0.0.1:8080\"",
                    self.console.listen
                ),
            ));
        }
        if self.console.tls_cert.is_empty() != self.console.tls_key.is_empty() {
            let key = if self.console.tls_cert.is_empty() {
                "console.tls_cert"
            } else {
                "console.tls_key"
            };
            return Err((key, "tls_cert and tls_key must be set together".into()));
        }
        if !matches!(self.console.language.as_str(), "ja" | "en") {
            return Err((
                "console.language",
                format!("{:?} is not \"ja\" or \"en\"", self.console.language),
            ));
        }
        if self.console.session_hours == 0 {
            return Err(("console.session_hours", "must be at least 1".into()));
        }
        if self.console.ingest_max_bytes < 1024 {
            return Err(("console.ingest_max_bytes", "must be at least 1024".into()));
        }
        if self.console.login_max_failures == 0 {
            return Err(("console.login_max_failures", "must be at least 1".into()));
        }
        if !self.store.url.is_empty()
            && !self.store.url.starts_with("postgres://")
            && !self.store.url.starts_with("postgresql://")
        {
            return Err((
                "store.url",
                "must be empty (embedded SQLite) or a postgres:// URL".into(),
            ));
        }
        if self.retention_days == 0 {
            return Err(("retention_days", "must be at least 1".into()));
        }
        if self.incidents.window_minutes == 0 {
            return Err(("incidents.window_minutes", "must be at least 1".into()));
        }
        let ids = &self.ids;
        if ids.enabled {
            match ids.mode.as_str() {
                "live" if ids.iface.is_empty() => {
                    return Err(("ids.iface", "name the interface to watch".into()))
                }
                "live" | "inline" => {}
                _ => return Err(("ids.mode", "must be \"live\" or \"inline\"".into())),
            }
            if ids.tenant.is_empty() {
                return Err(("ids.tenant", "name the tenant the sensor watches".into()));
            }
        }
        let gw = &self.mail_gateway;
        if gw.enabled {
            if gw.listen.parse::<SocketAddr>().is_err() {
                return Err((
                    "mail_gateway.listen",
                    format!("{:?} is not an address and port", gw.listen),
                ));
            }
            if !matches!(gw.direction.as_str(), "inbound" | "outbound") {
                return Err((
                    "mail_gateway.direction",
                    "must be \"inbound\" or \"outbound\"".into(),
                ));
            }
            if gw.next_hop != "mx"
                && gw
                    .next_hop
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none()
            {
                return Err((
                    "mail_gateway.next_hop",
                    "must be HOST:PORT or \"mx\"".into(),
                ));
            }
            if gw.tenant.is_empty() {
                return Err((
                    "mail_gateway.tenant",
                    "name the tenant the gateway serves".into(),
                ));
            }
            if gw.tls_cert.is_empty() != gw.tls_key.is_empty() {
                return Err((
                    "mail_gateway.tls_cert",
                    "tls_cert and tls_key must be set together".into(),
                ));
            }
        }
        if self.bus.capacity == 0 || self.bus.batch_size == 0 {
            return Err((
                "bus.capacity",
                "capacity and batch_size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The dotted key of the line holding `offset`, as far as a line-based reading tells.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let mut section = String::new();
    let target = line_of_offset(text, offset);
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        if i + 1 == target {
            let key = l.split('=').next()?.trim();
            if l.starts_with('[') || key.is_empty() {
                return Some(section);
            }
            return Some(if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            });
        }
    }
    None
}

/// The line where a dotted key is set, or 0 when it comes from the defaults.
fn line_of_key(text: &str, dotted: &str) -> usize {
    let (want_section, want_key) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut section = String::new();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        if section == want_section {
            if let Some((k, _)) = l.split_once('=') {
                if k.trim() == want_key {
                    return i + 1;
                }
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commented_default_file_is_the_default() {
        let c = Config::parse(COMMENTED_DEFAULT, Path::new("mamori.toml")).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(
            Config::parse("", Path::new("x")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = Config::parse(
            "[console]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n",
            Path::new("m.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("m.toml:3: console.listn:"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_line() {
        let err = Config::parse(
            "retention_days = 3\n[console]\n\nlisten = \"localhost\"\n",
            Path::new("m.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("m.toml:4: console.listen:"), "{err}");
        let err = Config::parse("[console]\nsession_hours = \"x\"\n", Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("m.toml:2: console.session_hours:"), "{err}");
    }
}
