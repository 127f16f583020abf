//! Country of an address from a GeoIP CSV (`first_ip,last_ip,country`, the layout of the free
//! "IP to country" databases), for login surges by country.
//!
//! Loaded once into sorted ranges; a lookup is a binary search. Lines that do not parse are
//! reported with their line number.

use std::net::IpAddr;
use std::path::Path;

pub struct GeoIp {
    /// (first, last, country) with addresses as u128 (IPv4 mapped into IPv6).
    ranges: Vec<(u128, u128, [u8; 2])>,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl GeoIp {
    pub fn load(path: &Path) -> Result<GeoIp, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        GeoIp::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<GeoIp, String> {
        let mut ranges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            let parsed = (|| {
                let first: IpAddr = cols.first()?.parse().ok()?;
                let last: IpAddr = cols.get(1)?.parse().ok()?;
                let cc = cols.get(2)?.as_bytes();
                (cc.len() == 2).then(|| (key(first), key(last), [cc[0], cc[1]]))
            })();
            match parsed {
                Some(r) => ranges.push(r),
                None if n == 0 => {} // a header line
                None => return Err(format!("line {}: expected first_ip,last_ip,CC", n + 1)),
            }
        }
        ranges.sort_unstable();
        Ok(GeoIp { ranges })
    }

    /// The two-letter country code of `ip`, if a range holds it.
    pub fn country(&self, ip: IpAddr) -> Option<&str> {
        let k = key(ip);
        let i = self.ranges.partition_point(|r| r.0 <= k);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (k <= r.1).then(|| std::str::from_utf8(&r.2).ok()).flatten()
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_map_to_their_country_range() {
        let g = GeoIp::parse("start,end,cc\n1.0.0.0,1.0.0.255,AU\n203.0.113.0,203.0.113.255,JP\n2001:db8::,2001:db8::ffff,JP\n").unwrap();
        assert_eq!(g.country("203.0.113.7".parse().unwrap()), Some("JP"));
        assert_eq!(g.country("1.0.0.1".parse().unwrap()), Some("AU"));
        assert_eq!(g.country("2001:db8::1".parse().unwrap()), Some("JP"));
        assert_eq!(g.country("8.8.8.8".parse().unwrap()), None);
        assert!(GeoIp::parse("a,b\n1.1.1.1,x,JP").is_err());
    }
}
