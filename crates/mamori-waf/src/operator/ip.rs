//! `@ipMatch`, `@ipMatchF`/`@ipMatchFromFile`: is the input an address inside one of the
//! listed IPv4/IPv6 addresses or CIDR networks.
//!
//! The list is separated by commas (and, leniently, spaces); a file has one entry per line
//! with `#` comments. The input must be an address as written (`10.0.0.1`, `::1`); anything
//! else does not match.

use std::net::IpAddr;
use std::path::Path;

#[derive(Debug, Clone)]
pub(crate) struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub(crate) fn parse_list(arg: &str) -> Result<IpSet, String> {
        Self::from_entries(
            arg.split([',', ' ', '\t'])
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        )
    }

    pub(crate) fn from_file(arg: &str, base_dir: &Path) -> Result<IpSet, String> {
        let name = arg.trim();
        if name.starts_with("https://") || name.starts_with("http://") {
            return Err(format!("{name}: address lists from URLs are not supported"));
        }
        let path = base_dir.join(name);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_entries(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty()),
        )
    }

    fn from_entries<'a>(entries: impl Iterator<Item = &'a str>) -> Result<IpSet, String> {
        let mut set = IpSet {
            v4: Vec::new(),
            v6: Vec::new(),
        };
        for e in entries {
            let (addr, bits) = match e.split_once('/') {
                Some((a, b)) => (
                    a,
                    Some(
                        b.parse::<u8>()
                            .map_err(|_| format!("{e:?}: bad prefix length"))?,
                    ),
                ),
                None => (e, None),
            };
            match addr
                .parse::<IpAddr>()
                .map_err(|_| format!("{e:?} is not an address or network"))?
            {
                IpAddr::V4(a) => {
                    let bits = bits.unwrap_or(32);
                    if bits > 32 {
                        return Err(format!("{e:?}: prefix longer than 32"));
                    }
                    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
                    set.v4.push((u32::from(a) & mask, mask));
                }
                IpAddr::V6(a) => {
                    let bits = bits.unwrap_or(128);
                    if bits > 128 {
                        return Err(format!("{e:?}: prefix longer than 128"));
                    }
                    let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
                    set.v6.push((u128::from(a) & mask, mask));
                }
            }
        }
        if set.v4.is_empty() && set.v6.is_empty() {
            return Err("no addresses".into());
        }
        Ok(set)
    }

    pub(crate) fn contains(&self, input: &[u8]) -> bool {
        let Some(ip) = std::str::from_utf8(input)
            .ok()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
        else {
            return false;
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(net, mask)| a & mask == net)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(net, mask)| a & mask == net)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_of_both_families_match() {
        let s = IpSet::parse_list("127.0.0.1, 10.0.0.0/8,::1,2001:db8::/32").unwrap();
        assert!(s.contains(b"127.0.0.1"));
        assert!(s.contains(b"10.200.3.4"));
        assert!(!s.contains(b"11.0.0.1"));
        assert!(s.contains(b"::1"));
        assert!(s.contains(b"2001:db8:1::5"));
        assert!(!s.contains(b"2001:db9::1"));
        assert!(!s.contains(b"not an ip"));
        assert!(IpSet::parse_list("0.0.0.0/0").unwrap().contains(b"8.8.8.8"));
    }

    #[test]
    fn bad_entries_are_errors() {
        assert!(IpSet::parse_list("10.0.0.0/33").is_err());
        assert!(IpSet::parse_list("example.com").is_err());
        assert!(IpSet::parse_list("").is_err());
    }
}
