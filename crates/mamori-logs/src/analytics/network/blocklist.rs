//! Connections to or from blocklisted addresses (CIDRs) and domains (with subdomains), from
//! firewall, proxy, authentication and JSON-lines events (`src_ip`, `dst_ip`, `dst_host`) and
//! from Windows events that name a peer (Sysmon 3 network connections, Sysmon 22 DNS
//! queries, logons' `IpAddress`). One detection per (internal side, listed indicator)
//! episode. The lists come from the config; fetching threat feeds is not done here.

use super::field;
use crate::analytics::addr::{parse_ip, CidrSet, DomainSet};
use crate::analytics::episode::{Episode, Episodes, Rule};
use crate::analytics::{Analytic, AnalyticsConfig, ConfigError};
use crate::detection::{Detection, Level};
use crate::event::{Event, SourceKind};

pub const BLOCKLIST: Rule = Rule {
    id: "logs.net.blocklisted",
    title: "Connection with a blocklisted address or domain",
};

/// Windows events that carry a peer address or name.
pub const WINDOWS_IDS: &[u32] = &[3, 22, 4624, 4625, 4648, 4771, 4776, 5156];

const ADDRESS_FIELDS: &[&str] = &[
    "dst_ip",
    "src_ip",
    "DestinationIp",
    "SourceIp",
    "IpAddress",
    "DestAddress",
    "SourceAddress",
];
const NAME_FIELDS: &[&str] = &["dst_host", "DestinationHostname", "QueryName"];

pub struct Blocklist {
    ips: CidrSet,
    domains: DomainSet,
    open: Episodes<(String, String)>,
}

impl Blocklist {
    pub fn new(c: &AnalyticsConfig, errors: &mut Vec<ConfigError>) -> Blocklist {
        let (ips, bad) = CidrSet::parse(&c.network.blocklist_ips);
        errors.extend(bad.into_iter().map(|value| ConfigError {
            setting: "network.blocklist_ips",
            value,
        }));
        Blocklist {
            ips,
            domains: DomainSet::new(&c.network.blocklist_domains),
            open: Episodes::new(c.max_keys, 3_600_000, 86_400_000),
        }
    }

    /// (matched value, list entry or "address list", field it came from).
    fn hit<'a>(&'a self, ev: &'a Event) -> Option<(String, String, &'static str)> {
        if !self.ips.is_empty() {
            for f in ADDRESS_FIELDS {
                if let Some(ip) = field(ev, f).and_then(parse_ip) {
                    if self.ips.contains(ip) {
                        return Some((ip.to_string(), "address list".into(), f));
                    }
                }
            }
        }
        if !self.domains.is_empty() {
            for f in NAME_FIELDS {
                if let Some(name) = field(ev, f) {
                    if let Some(d) = self.domains.find(name) {
                        return Some((name.to_ascii_lowercase(), d.to_string(), f));
                    }
                }
            }
        }
        None
    }
}

fn emit(ep: Episode, out: &mut Vec<Detection>) {
    let details = format!(
        "{} and blocklisted {} ({}) in {} records, {}",
        ep.sources.summary(3),
        ep.targets.summary(3),
        ep.note,
        ep.count,
        ep.span_text()
    );
    out.push(ep.detection(
        &BLOCKLIST,
        Level::High,
        details,
        &["attack.command_and_control", "attack.t1071"],
    ));
}

impl Analytic for Blocklist {
    fn process(&mut self, ev: &Event, ts: i64, out: &mut Vec<Detection>) {
        if ev.source == SourceKind::WebAccess && self.ips.is_empty() {
            return;
        }
        let Some((indicator, entry, from)) = self.hit(ev) else {
            return;
        };
        // The other side: the internal address, or the Windows host.
        let local = if from == "src_ip" || from == "SourceIp" {
            field(ev, "dst_ip")
                .or_else(|| field(ev, "DestinationIp"))
                .map(str::to_string)
        } else {
            field(ev, "src_ip")
                .or_else(|| field(ev, "SourceIp"))
                .map(str::to_string)
        }
        .or_else(|| ev.host.clone())
        .unwrap_or_else(|| "?".into());
        let mut closed = Vec::new();
        let ep = self
            .open
            .at((local.clone(), indicator.clone()), ts, &mut closed);
        ep.add(ev, ts);
        ep.heat(ts);
        ep.sources.add(&local, ts);
        ep.targets.add(&indicator, ts);
        ep.note = format!("{entry}, seen in {from}");
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.expire(now, &mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }

    fn finish(&mut self, out: &mut Vec<Detection>) {
        let mut closed = Vec::new();
        self.open.drain(&mut closed);
        closed.drain(..).for_each(|(_, ep)| emit(ep, out));
    }
}

#[cfg(test)]
mod tests {
    use crate::analytics::testing::*;
    use crate::analytics::{AnalyticsConfig, NetworkConfig};
    use crate::event::SourceKind;

    fn config() -> AnalyticsConfig {
        AnalyticsConfig {
            network: NetworkConfig {
                blocklist_ips: vec!["203.0.113.0/24".into()],
                blocklist_domains: vec!["evil.example".into()],
                ..NetworkConfig::default()
            },
            ..AnalyticsConfig::default()
        }
    }

    #[test]
    fn listed_address_domain_and_sysmon_dns_are_reported() {
        let mut events: Vec<_> = (0..20)
            .map(|i| {
                line(
                    T0 + i * 1000,
                    SourceKind::Firewall,
                    &[
                        ("src_ip", "10.0.0.5"),
                        ("dst_ip", "203.0.113.7"),
                        ("dst_port", "443"),
                    ],
                )
            })
            .collect();
        events.push(line(
            T0 + 30_000,
            SourceKind::Squid,
            &[("src_ip", "10.0.0.6"), ("dst_host", "cdn.EVIL.example")],
        ));
        events.push(win(
            T0 + 40_000,
            "pc9",
            "Microsoft-Windows-Sysmon/Operational",
            22,
            &[("QueryName", "x.evil.example")],
        ));
        let d = run_with(&config(), &events);
        let b = of(&d, "logs.net.blocklisted");
        assert_eq!(b.len(), 3, "{d:#?}");
        assert!(b.iter().any(|x| x.details.starts_with(
            "10.0.0.5 and blocklisted 203.0.113.7 (address list, seen in dst_ip) in 20 records"
        )));
        assert!(b
            .iter()
            .any(|x| x.details.starts_with("pc9 and blocklisted x.evil.example")));
    }

    #[test]
    fn lookalikes_and_empty_lists_are_quiet() {
        let events = vec![
            line(
                T0,
                SourceKind::Squid,
                &[("src_ip", "10.0.0.6"), ("dst_host", "notevil.example")],
            ),
            line(
                T0,
                SourceKind::Firewall,
                &[("src_ip", "10.0.0.6"), ("dst_ip", "203.0.114.1")],
            ),
        ];
        assert!(run_with(&config(), &events).is_empty());
        assert!(run(&events).is_empty());
    }
}
