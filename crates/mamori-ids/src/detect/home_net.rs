//! Address ranges: [`Cidr`] (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) and
//! [`HomeNet`], the company's own ranges, which tells "inside" from "outside".
//!
//! The default home net is Suricata's default `HOME_NET` (the three RFC 1918 ranges). A
//! company with public IPv4 servers or an IPv6 prefix from its ISP adds those ranges in
//! `[ids.detect] home_net`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address range in CIDR notation. A bare address is a /32 (or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The range; host bits of `addr` are cleared. `None` when the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        let (lo, _) = range_of(addr, prefix);
        let addr = match addr {
            IpAddr::V4(_) => IpAddr::from((lo as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(lo.to_be_bytes()),
        };
        Some(Cidr { addr, prefix })
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let (lo, hi) = self.bounds();
        let v = ip_to_u128(ip);
        lo <= v && v <= hi
    }

    /// First and last address as numbers (IPv4 in the low 32 bits).
    pub fn bounds(&self) -> (u128, u128) {
        range_of(self.addr, self.prefix)
    }
}

pub(crate) fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn range_of(addr: IpAddr, prefix: u8) -> (u128, u128) {
    let bits: u32 = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = u32::from(prefix).min(bits);
    let v = ip_to_u128(addr);
    let host_bits = bits - prefix;
    let host_mask: u128 = if host_bits == 0 {
        0
    } else if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    (v & !host_mask, v | host_mask)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0 to {max}"))?,
        };
        Cidr::new(addr, prefix).ok_or_else(|| format!("{s:?}: invalid prefix"))
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Cidr, String> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The company's address ranges. Anything not inside is "outside" (the Internet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HomeNet {
    ranges: Vec<Cidr>,
}

impl Default for HomeNet {
    /// Suricata's default `HOME_NET`: 192.168.0.0/16, 10.0.0.0/8, 172.16.0.0/12.
    fn default() -> HomeNet {
        let ranges = ["192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        HomeNet { ranges }
    }
}

impl HomeNet {
    pub fn new(ranges: Vec<Cidr>) -> HomeNet {
        HomeNet { ranges }
    }

    /// Parses a comma- or blank-separated list, e.g. `"192.168.0.0/16, 2001:db8:1::/48"`.
    pub fn parse(list: &str) -> Result<HomeNet, String> {
        let ranges = list
            .split([',', ' ', '\t', '\n'])
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Cidr>, String>>()?;
        Ok(HomeNet { ranges })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    pub fn ranges(&self) -> &[Cidr] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn default_home_net_is_suricatas() {
        let h = HomeNet::default();
        assert!(h.contains(ip("192.168.1.23")));
        assert!(h.contains(ip("10.200.0.1")));
        assert!(h.contains(ip("172.31.255.255")));
        assert!(!h.contains(ip("172.32.0.1")));
        assert!(!h.contains(ip("203.0.113.5")));
        assert!(!h.contains(ip("::1")));
    }

    #[test]
    fn cidr_parses_v4_v6_and_bare_addresses() {
        let c: Cidr = "203.0.113.77/24".parse().expect("cidr");
        assert_eq!(c.to_string(), "203.0.113.0/24");
        assert!(c.contains(ip("203.0.113.1")));
        assert!(!c.contains(ip("203.0.114.1")));
        let c: Cidr = "2001:db8::/32".parse().expect("cidr");
        assert!(c.contains(ip("2001:db8:ffff::1")));
        assert!(!c.contains(ip("2001:db9::1")));
        let c: Cidr = "198.51.100.7".parse().expect("cidr");
        assert_eq!(c.prefix(), 32);
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains(ip("8.8.8.8")));
        assert!(!all.contains(ip("::1")));
        let all6: Cidr = "::/0".parse().expect("cidr");
        assert!(all6.contains(ip("2001:db8::1")));
    }

    #[test]
    fn cidr_errors_say_what_is_wrong() {
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("prefix length"));
        assert!("not-an-ip"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("not an IP"));
        assert!(HomeNet::parse("10.0.0.0/8, bogus").is_err());
        let h = HomeNet::parse("10.0.0.0/8, 2001:db8:1::/48").expect("list");
        assert!(h.contains(ip("2001:db8:1::5")));
    }
}
