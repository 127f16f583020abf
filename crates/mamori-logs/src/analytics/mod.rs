//! Built-in analytics: detections that need no rule writing, each giving one [`Detection`] per
//! episode (a brute force of two hours is one detection with its counts, time span, sources and
//! targets, not thousands).
//!
//! - [`windows`]: brute force, password spraying, success after failures, lockouts, new
//!   users, privileged group changes, audit log cleared, new services, RDP from outside,
//!   DCSync, mass file deletion/renaming, a phone or USB drive followed by mass file reads;
//! - [`network`]: beaconing (a regularity score per source and destination), large uploads to
//!   rare new destinations, blocklisted addresses and domains, SSH/VPN/mail brute force;
//! - [`web`]: credential stuffing, scanners, SQL injection and XSS in URLs.
//!
//! Input: normalized events (see `event.rs` for the field names) **in timestamp order**, from a
//! hunt (sorted first) or a live follow. State is bounded: each analytic tracks at most
//! `max_keys` keys, episodes keep bounded records and evidence (see [`episode`]); attackers
//! write these logs and can make them as big and as varied as they like.
//!
//! An episode is reported when it closes: when its key has been quiet for the analytic's gap
//! (checked as log time advances), after a day, or at [`Analytics::finish`]. Success after
//! failures and similar "this just happened" analytics report at once. This module does not
//! read files, store detections or deduplicate against Sigma rules.

pub(crate) mod addr;
pub mod config;
pub(crate) mod episode;
pub(crate) mod network;
pub(crate) mod web;
pub(crate) mod windows;

pub use config::{AnalyticsConfig, NetworkConfig, WebConfig, WindowsConfig};

use crate::detection::Detection;
use crate::event::{Event, SourceKind};
use addr::CidrSet;
use episode::Rule;

/// How often, in log time, quiet episodes are looked for (ms).
const SWEEP_EVERY: i64 = 60_000;

/// One analytic (or a family sharing state): fed events in time order.
pub(crate) trait Analytic: Send + Sync {
    /// Looks at one event happening at `ts` (ms since the epoch).
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>);
    /// Closes the episodes that are over at `now`.
    fn expire(&mut self, now: i64, out: &mut Vec<Detection>);
    /// Closes every open episode.
    fn finish(&mut self, out: &mut Vec<Detection>);
}

/// What every analytic may need besides its own settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shared {
    /// `home_net`, parsed.
    pub home: CidrSet,
}

impl Shared {
    /// Inside the company's network: private ranges or `home_net`.
    pub fn inside(&self, ip: std::net::IpAddr) -> bool {
        addr::is_internal(ip) || self.home.contains(ip)
    }
}

/// Every analytic's id and title.
const IDS: &[Rule] = &[
    windows::logon::BRUTE_FORCE,
    windows::logon::SPRAY,
    windows::logon::SUCCESS_AFTER_FAILURES,
    windows::logon::LOCKOUT,
    windows::accounts::NEW_USER,
    windows::accounts::PRIVILEGED_GROUP,
    windows::tamper::LOG_CLEARED,
    windows::tamper::NEW_SERVICE,
    windows::rdp::RDP_EXTERNAL,
    windows::rdp::RDP_TUNNEL,
    windows::dcsync::DCSYNC,
    windows::files::MASS_FILE_DELETE,
    windows::files::DEVICE_COPY,
    network::beacon::BEACON,
    network::upload::UPLOAD,
    network::blocklist::BLOCKLIST,
    network::auth::BRUTE_FORCE,
    network::auth::SUCCESS_AFTER_FAILURES,
    web::stuffing::STUFFING,
    web::scanner::SCANNER,
    web::scanner::SCANNER_AGENT,
    web::injection::SQLI,
    web::injection::XSS,
];

/// The built-in analytics, ready to be fed events in time order.
pub struct Analytics {
    windows: Vec<Box<dyn Analytic>>,
    other: Vec<Box<dyn Analytic>>,
    disabled: Vec<String>,
    /// Latest event time seen (ms): events without a time, or slightly out of order, are
    /// placed here.
    now: Option<i64>,
    next_sweep: i64,
    wants_blocklist: bool,
}

/// A `home_net` or blocklist entry that is not an address or network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("analytics config: {setting}: {value:?} is not an IP address or CIDR")]
pub struct ConfigError {
    pub setting: &'static str,
    pub value: String,
}

impl Analytics {
    /// Builds the analytics; entries of `home_net` or `blocklist_ips` that are not addresses
    /// are logged and ignored (see [`Analytics::try_new`] to refuse them).
    pub fn new(config: &AnalyticsConfig) -> Analytics {
        let (a, errors) = Analytics::build(config);
        for e in errors {
            tracing::warn!(setting = e.setting, value = %e.value, "analytics config entry ignored");
        }
        a
    }

    /// Builds the analytics, refusing a config with an entry that is not an address.
    pub fn try_new(config: &AnalyticsConfig) -> Result<Analytics, ConfigError> {
        let (a, mut errors) = Analytics::build(config);
        match errors.pop() {
            Some(e) => Err(e),
            None => Ok(a),
        }
    }

    fn build(config: &AnalyticsConfig) -> (Analytics, Vec<ConfigError>) {
        let mut errors = Vec::new();
        let (home, bad) = CidrSet::parse(&config.home_net);
        errors.extend(bad.into_iter().map(|value| ConfigError {
            setting: "home_net",
            value,
        }));
        let shared = Shared { home };
        let net = network::build(config, &shared, &mut errors);
        let a = Analytics {
            windows: windows::build(config, &shared),
            other: [net, web::build(config, &shared)]
                .into_iter()
                .flatten()
                .collect(),
            disabled: config.disabled.clone(),
            now: None,
            next_sweep: i64::MIN,
            wants_blocklist: !config.network.blocklist_ips.is_empty()
                || !config.network.blocklist_domains.is_empty(),
        };
        (a, errors)
    }

    /// Every analytic: (id, title).
    pub fn ids() -> Vec<(&'static str, &'static str)> {
        IDS.iter().map(|r| (r.id, r.title)).collect()
    }

    /// Whether `ev` can matter to an analytic: a hunt keeps only those events for the
    /// time-ordered pass. Cheap and conservative.
    pub fn wants(&self, ev: &Event) -> bool {
        match ev.source {
            SourceKind::Evtx | SourceKind::WindowsXml | SourceKind::WindowsJson => {
                ev.event_id.is_some_and(|id| {
                    windows::EVENT_IDS.contains(&id)
                        || (self.wants_blocklist && network::blocklist::WINDOWS_IDS.contains(&id))
                })
            }
            SourceKind::WebAccess
            | SourceKind::Squid
            | SourceKind::Firewall
            | SourceKind::Auth
            | SourceKind::MailAuth
            | SourceKind::JsonLines => true,
            SourceKind::Syslog => ev.get("src_ip").is_some() || ev.get("dst_ip").is_some(),
        }
    }

    /// Feeds one event; detections of episodes this closes go to `out`. Events must come in
    /// timestamp order (small disorder is tolerated: such events count at the latest time).
    pub fn process(&mut self, ev: &Event, out: &mut Vec<Detection>) {
        let ts = match (ev.timestamp, self.now) {
            (Some(t), Some(now)) => t.max(now),
            (Some(t), None) => t,
            (None, Some(now)) => now,
            // Nothing placed in time yet: windows cannot be measured.
            (None, None) => return,
        };
        self.now = Some(ts);
        let start = out.len();
        if ts >= self.next_sweep {
            if self.next_sweep != i64::MIN {
                for a in self.windows.iter_mut().chain(self.other.iter_mut()) {
                    a.expire(ts, out);
                }
            }
            self.next_sweep = ts.saturating_add(SWEEP_EVERY);
        }
        let family = match ev.source {
            SourceKind::Evtx | SourceKind::WindowsXml | SourceKind::WindowsJson => {
                &mut self.windows
            }
            _ => &mut self.other,
        };
        for a in family.iter_mut() {
            a.process(ev, ts, out);
        }
        // Blocklists also read Windows network events (Sysmon 3 and 22).
        if matches!(
            ev.source,
            SourceKind::Evtx | SourceKind::WindowsXml | SourceKind::WindowsJson
        ) && self.wants_blocklist
        {
            for a in self.other.iter_mut() {
                a.process(ev, ts, out);
            }
        }
        self.drop_disabled(out, start);
    }

    /// Closes every open episode (end of a hunt, or shutdown).
    pub fn finish(&mut self, out: &mut Vec<Detection>) {
        let start = out.len();
        for a in self.windows.iter_mut().chain(self.other.iter_mut()) {
            a.finish(out);
        }
        self.drop_disabled(out, start);
    }

    fn drop_disabled(&self, out: &mut Vec<Detection>, start: usize) {
        if self.disabled.is_empty() || out.len() == start {
            return;
        }
        let mut i = 0;
        out.retain(|d| {
            i += 1;
            i <= start || !self.disabled.contains(&d.rule_id)
        });
    }
}

/// Test helpers: events built directly, as the readers would produce them.
#[cfg(test)]
pub(crate) mod testing {
    use crate::detection::Detection;
    use crate::event::{Event, Fields, Origin, SourceKind};

    /// A Windows event with `fields` (name, value).
    pub fn win(ts: i64, host: &str, channel: &str, id: u32, fields: &[(&str, &str)]) -> Event {
        let mut f = Fields::default();
        f.push("EventID", id.to_string());
        f.push("Channel", channel);
        f.push("Computer", host);
        for (k, v) in fields {
            f.push(*k, *v);
        }
        Event {
            timestamp: Some(ts),
            host: Some(host.into()),
            source: SourceKind::Evtx,
            channel: Some(channel.into()),
            event_id: Some(id),
            record_id: Some(ts as u64),
            raw: format!("{{\"EventID\":{id},\"t\":{ts}}}"),
            fields: f,
            origin: Origin::default(),
        }
    }

    /// A text-log event of `source` with `fields`.
    pub fn line(ts: i64, source: SourceKind, fields: &[(&str, &str)]) -> Event {
        let mut f = Fields::default();
        for (k, v) in fields {
            f.push(*k, *v);
        }
        Event {
            timestamp: Some(ts),
            host: Some("gw".into()),
            source,
            channel: None,
            event_id: None,
            record_id: Some(ts as u64),
            raw: format!("line at {ts}"),
            fields: f,
            origin: Origin::default(),
        }
    }

    /// Runs the default analytics over `events`, finish included.
    pub fn run(events: &[Event]) -> Vec<Detection> {
        run_with(&super::AnalyticsConfig::default(), events)
    }

    pub fn run_with(config: &super::AnalyticsConfig, events: &[Event]) -> Vec<Detection> {
        let mut a = super::Analytics::new(config);
        let mut out = Vec::new();
        for e in events {
            a.process(e, &mut out);
        }
        a.finish(&mut out);
        out
    }

    /// The detections of rule `id`.
    pub fn of<'a>(dets: &'a [Detection], id: &str) -> Vec<&'a Detection> {
        dets.iter().filter(|d| d.rule_id == id).collect()
    }

    pub const MIN: i64 = 60_000;
    /// 2024-05-01 00:00:00Z.
    pub const T0: i64 = 1_714_521_600_000;
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn ids_are_unique_and_readable() {
        let ids = Analytics::ids();
        let mut seen = std::collections::HashSet::new();
        for (id, title) in &ids {
            assert!(id.starts_with("logs."), "{id}");
            assert!(!title.is_empty());
            assert!(seen.insert(*id), "duplicate {id}");
        }
        assert!(ids.len() >= 20);
    }

    #[test]
    fn disabled_analytics_report_nothing() {
        let events: Vec<Event> = (0..3)
            .map(|i| {
                win(
                    T0 + i,
                    "dc1",
                    "Security",
                    1102,
                    &[("SubjectUserName", "eve")],
                )
            })
            .collect();
        assert_eq!(of(&run(&events), "logs.win.log_cleared").len(), 1);
        let config = AnalyticsConfig {
            disabled: vec!["logs.win.log_cleared".into()],
            ..AnalyticsConfig::default()
        };
        assert!(of(&run_with(&config, &events), "logs.win.log_cleared").is_empty());
    }

    #[test]
    fn bad_home_net_is_refused_by_try_new() {
        let config = AnalyticsConfig {
            home_net: vec!["not-a-net".into()],
            ..AnalyticsConfig::default()
        };
        assert!(Analytics::try_new(&config).is_err());
    }
}
