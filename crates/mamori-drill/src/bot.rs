//! Telling mail-security scanners from people.
//!
//! Gateways (Mimecast, Proofpoint, Microsoft Safe Links, Barracuda…) fetch every link in a
//! mail as it arrives. Such hits are recorded but not counted as clicks, with the reason
//! shown: a HEAD request, a known scanner user agent, an address in a configured scanner
//! range, or a click within a few seconds of delivery (no person reads that fast).

use std::net::IpAddr;
use std::time::Duration;

/// User-agent substrings of scanners and scripts (matched case-insensitively).
pub const SCANNER_AGENTS: &[&str] = &[
    "mimecast",
    "proofpoint",
    "barracuda",
    "safelinks",
    "forcepoint",
    "trendmicro",
    "symantec",
    "sophos",
    "fortiguard",
    "cisco",
    "ironport",
    "zscaler",
    "paloalto",
    "checkpoint",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "libwww-perl",
    "java/",
    "okhttp",
    "headlesschrome",
    "phantomjs",
    "bot",
    "spider",
    "crawler",
    "preview",
    "scanner",
];

/// What makes a hit a scanner's rather than a person's.
#[derive(Debug, Clone)]
pub struct BotRules {
    /// Clicks sooner than this after the mail was sent are a scanner's (default 10 s).
    pub min_delay: Duration,
    /// Extra user-agent substrings, on top of [`SCANNER_AGENTS`].
    pub user_agents: Vec<String>,
    /// Address ranges of the tenant's mail-security service.
    pub networks: Vec<Cidr>,
}

impl Default for BotRules {
    fn default() -> Self {
        BotRules {
            min_delay: Duration::from_secs(10),
            user_agents: Vec::new(),
            networks: Vec::new(),
        }
    }
}

/// One hit on a tracking URL, as far as the rules care.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub head: bool,
    pub user_agent: Option<&'a str>,
    pub ip: Option<IpAddr>,
    /// Time since the mail was sent, if it was.
    pub since_sent: Option<Duration>,
    /// Whether the timing rule applies (clicks; an early open is often a real preview).
    pub timed: bool,
}

impl BotRules {
    /// `Some(reason)` when the hit is a scanner's.
    pub fn classify(&self, hit: &Hit<'_>) -> Option<String> {
        if hit.head {
            return Some("HEAD request".into());
        }
        if let Some(ip) = hit.ip {
            if let Some(net) = self.networks.iter().find(|n| n.contains(ip)) {
                return Some(format!("scanner network {net}"));
            }
        }
        match hit.user_agent.map(str::trim) {
            None | Some("") => return Some("no user agent".into()),
            Some(ua) => {
                let lower = ua.to_ascii_lowercase();
                let custom = self.user_agents.iter().map(|s| s.to_ascii_lowercase());
                if let Some(m) = SCANNER_AGENTS
                    .iter()
                    .map(|s| s.to_string())
                    .chain(custom)
                    .find(|s| !s.is_empty() && lower.contains(s.as_str()))
                {
                    return Some(format!("scanner user agent ({m})"));
                }
            }
        }
        if hit.timed {
            if let Some(since) = hit.since_sent {
                if since < self.min_delay {
                    return Some(format!(
                        "{} ms after delivery (under {} s)",
                        since.as_millis(),
                        self.min_delay.as_secs()
                    ));
                }
            }
        }
        None
    }
}

/// An address range such as `192.0.2.0/24` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` (a bare address is a single host).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        fn bits(ip: IpAddr) -> (u128, u8) {
            match ip {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, net_len) = bits(self.addr);
        let (host, host_len) = bits(ip);
        if net_len != host_len {
            return false;
        }
        if self.prefix == 0 {
            return true;
        }
        let mask = u128::MAX << (128 - u32::from(self.prefix));
        net & mask == host & mask
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36";

    fn hit<'a>(ua: &'a str, since: u64) -> Hit<'a> {
        Hit {
            head: false,
            user_agent: Some(ua),
            ip: Some("198.51.100.7".parse().unwrap()),
            since_sent: Some(Duration::from_secs(since)),
            timed: true,
        }
    }

    #[test]
    fn a_person_in_a_browser_minutes_later_is_not_a_bot() {
        assert_eq!(BotRules::default().classify(&hit(BROWSER, 300)), None);
    }

    #[test]
    fn head_requests_scanner_agents_and_fast_clicks_are_bots() {
        let rules = BotRules::default();
        let mut head = hit(BROWSER, 300);
        head.head = true;
        assert_eq!(rules.classify(&head).as_deref(), Some("HEAD request"));
        for ua in [
            "Mimecast-Scanner/1.0",
            "python-requests/2.31",
            "curl/8.5.0",
            "Googlebot/2.1",
        ] {
            let reason = rules.classify(&hit(ua, 300)).unwrap();
            assert!(reason.starts_with("scanner user agent"), "{ua}: {reason}");
        }
        assert!(rules
            .classify(&hit(BROWSER, 2))
            .unwrap()
            .contains("after delivery"));
        let mut open = hit(BROWSER, 2);
        open.timed = false;
        assert_eq!(
            rules.classify(&open),
            None,
            "early opens are previews, not bots"
        );
        let mut no_ua = hit(BROWSER, 300);
        no_ua.user_agent = None;
        assert!(rules.classify(&no_ua).is_some());
    }

    #[test]
    fn configured_scanner_networks_and_agents_match() {
        let rules = BotRules {
            networks: vec![
                Cidr::parse("198.51.100.0/24").unwrap(),
                Cidr::parse("2001:db8::/32").unwrap(),
            ],
            user_agents: vec!["AcmeGateway".into()],
            ..BotRules::default()
        };
        assert!(rules
            .classify(&hit(BROWSER, 300))
            .unwrap()
            .contains("198.51.100.0/24"));
        let mut v6 = hit(BROWSER, 300);
        v6.ip = Some("2001:db8:1::5".parse().unwrap());
        assert!(rules.classify(&v6).is_some());
        v6.ip = Some("::ffff:198.51.100.9".parse().unwrap());
        assert!(
            rules.classify(&v6).is_some(),
            "v4-mapped addresses match v4 ranges"
        );
        let mut other = hit("acmegateway/3", 300);
        other.ip = Some("203.0.113.1".parse().unwrap());
        assert!(rules.classify(&other).is_some());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }
}
