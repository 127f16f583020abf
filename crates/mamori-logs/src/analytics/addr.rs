//! Addresses as the analytics need them: parsing the IP forms logs write (`::ffff:10.0.0.5`,
//! `-`, `[2001:db8::1]`), CIDR sets (`home_net`, blocklists), "inside the network" (private,
//! loopback, link-local, CGNAT or `home_net`) and domain suffix sets for blocklists.
//!
//! No DNS lookups and no geolocation: a hostname is only compared by name.

use std::net::IpAddr;

/// The address in a log field, if it is one. IPv4-mapped IPv6 becomes IPv4.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr = parse_ip(a)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A set of networks.
#[derive(Debug, Clone, Default)]
pub struct CidrSet(Vec<Cidr>);

impl CidrSet {
    /// Parses each entry; returns the set and the entries that are not addresses or networks.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a String>) -> (CidrSet, Vec<String>) {
        let mut set = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            match Cidr::parse(e) {
                Some(c) => set.push(c),
                None => bad.push(e.clone()),
            }
        }
        (CidrSet(set), bad)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Private, loopback, link-local, CGNAT (VPNs such as Tailscale use it), unique-local IPv6 or
/// unspecified: never "outside the network".
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            a.is_loopback()
                || a.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Domains and their subdomains (`example.com` matches `a.example.com`, not `badexample.com`).
#[derive(Debug, Clone, Default)]
pub struct DomainSet(Vec<String>);

impl DomainSet {
    pub fn new<'a>(entries: impl IntoIterator<Item = &'a String>) -> DomainSet {
        DomainSet(
            entries
                .into_iter()
                .map(|d| d.trim().trim_matches('.').to_ascii_lowercase())
                .filter(|d| !d.is_empty())
                .collect(),
        )
    }

    /// The listed domain `host` is or is under.
    pub fn find(&self, host: &str) -> Option<&str> {
        let host = host.trim().trim_end_matches('.');
        self.0
            .iter()
            .find(|d| {
                host.len() >= d.len()
                    && host
                        .get(host.len() - d.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(d))
                    && (host.len() == d.len()
                        || host.as_bytes().get(host.len() - d.len() - 1) == Some(&b'.'))
            })
            .map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_log_forms() {
        assert_eq!(parse_ip("::ffff:10.1.2.3"), "10.1.2.3".parse().ok());
        assert_eq!(parse_ip("[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip("-"), None);
    }

    #[test]
    fn cidr_membership() {
        let c = Cidr::parse("203.0.113.0/24").expect("cidr");
        assert!(c.contains("203.0.113.77".parse().expect("ip")));
        assert!(!c.contains("203.0.114.1".parse().expect("ip")));
        let all = Cidr::parse("0.0.0.0/0").expect("cidr");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn internal_ranges() {
        for a in [
            "10.0.0.1",
            "192.168.1.1",
            "172.16.5.5",
            "127.0.0.1",
            "100.64.1.1",
            "fd00::1",
        ] {
            assert!(is_internal(parse_ip(a).expect("ip")), "{a}");
        }
        for a in ["8.8.8.8", "203.0.113.5", "2001:db8::1", "172.32.0.1"] {
            assert!(!is_internal(parse_ip(a).expect("ip")), "{a}");
        }
    }

    #[test]
    fn domain_suffixes() {
        let d = DomainSet::new(&["evil.example".to_string()]);
        assert_eq!(d.find("c2.evil.example"), Some("evil.example"));
        assert_eq!(d.find("EVIL.example."), Some("evil.example"));
        assert_eq!(d.find("notevil.example"), None);
    }
}
