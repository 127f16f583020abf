//! `IpNet`: an IPv4 or IPv6 network in CIDR notation (`10.0.0.0/24`, `2001:db8::/32`, or a
//! bare address meaning a single host).
//!
//! Parsing is strict: host bits must be zero (`10.0.0.5/24` is refused rather than silently
//! widened, so the audit trail and the firewall always name the same network), and the text
//! must be exactly what `std` parses as an address plus an optional decimal prefix length.
//! That strictness is also what keeps user input from smuggling anything into an nft script.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::RespondError;

/// An IPv4 or IPv6 network: an address with all host bits zero and a prefix length.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network `addr/prefix`; refuses a prefix longer than the address or host bits set.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, RespondError> {
        let invalid = |reason: &str| RespondError::InvalidNet {
            input: format!("{addr}/{prefix}"),
            reason: reason.to_string(),
        };
        if prefix > max_prefix(addr) {
            return Err(invalid("prefix length is longer than the address"));
        }
        let net = IpNet { addr, prefix };
        if net.network() != addr {
            return Err(invalid(&format!(
                "host bits are set; the network is {}",
                IpNet {
                    addr: net.network(),
                    prefix
                }
            )));
        }
        Ok(net)
    }

    /// The single-host network holding just `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// True for a single address (`/32` or `/128`).
    pub fn is_host(&self) -> bool {
        self.prefix == max_prefix(self.addr)
    }

    /// True for an IPv4 network.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True if `ip` lies inside this network (always false across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_v4(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_v6(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// True if the two networks share at least one address. CIDR blocks never partly
    /// overlap: either one contains the other or they are disjoint.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// The first and last address as numbers (IPv4 in the low 32 bits).
    pub(crate) fn range(&self) -> (u128, u128) {
        let (first, bits) = match self.addr {
            IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => (u128::from(a), 128),
        };
        let host_bits = bits - u32::from(self.prefix);
        let size_minus_one = u128::MAX.checked_shr(128 - host_bits).unwrap_or(0);
        (first, first + size_minus_one)
    }

    /// The address with the host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask_v6(self.prefix))),
        }
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = RespondError;

    fn from_str(s: &str) -> Result<IpNet, RespondError> {
        let invalid = |reason: &str| RespondError::InvalidNet {
            input: s.chars().take(64).collect(),
            reason: reason.to_string(),
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| invalid("not an IPv4 or IPv6 address"))?;
        let prefix = match prefix {
            None => max_prefix(addr),
            // `u8::from_str` accepts a leading '+'; a prefix is digits only.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => p
                .parse()
                .map_err(|_| invalid("prefix length is not a number"))?,
            Some(_) => return Err(invalid("prefix length is not a number")),
        };
        IpNet::new(addr, prefix).map_err(|e| match e {
            RespondError::InvalidNet { reason, .. } => invalid(&reason),
            other => other,
        })
    }
}

impl fmt::Display for IpNet {
    /// CIDR notation; a single host is written as the bare address, as nft lists it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_host() {
            write!(f, "{}", self.addr)
        } else {
            write!(f, "{}/{}", self.addr, self.prefix)
        }
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpNet({}/{})", self.addr, self.prefix)
    }
}

impl From<IpAddr> for IpNet {
    fn from(addr: IpAddr) -> IpNet {
        IpNet::host(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect(s)
    }

    #[test]
    fn parses_networks_and_hosts() {
        assert_eq!(net("10.0.0.0/24").to_string(), "10.0.0.0/24");
        assert_eq!(net("10.0.0.7").to_string(), "10.0.0.7");
        assert_eq!(net("10.0.0.7/32").to_string(), "10.0.0.7");
        assert!(net("10.0.0.7").is_host());
        assert_eq!(net("0.0.0.0/0").prefix_len(), 0);
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("2001:DB8::1").to_string(), "2001:db8::1");
        assert!(!net("2001:db8::/32").is_ipv4());
    }

    #[test]
    fn refuses_host_bits_and_garbage() {
        for bad in [
            "10.0.0.5/24",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/0008",
            "10.0.0.0/24 ",
            "10.0.0.0/24;flush ruleset",
            "10.0.0",
            "example.com",
            "",
            "2001:db8::1/32",
            "2001:db8::/129",
            "::ffff:10.0.0.0/200",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad:?} was accepted");
        }
        let err = "10.0.0.5/24".parse::<IpNet>().unwrap_err().to_string();
        assert!(err.contains("10.0.0.0/24"), "{err}");
    }

    #[test]
    fn containment_and_overlap() {
        let lan = net("10.0.0.0/24");
        assert!(lan.contains("10.0.0.200".parse().unwrap()));
        assert!(!lan.contains("10.0.1.1".parse().unwrap()));
        assert!(!lan.contains("::1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(lan.overlaps(&net("10.0.0.0/16")));
        assert!(net("10.0.0.0/16").overlaps(&lan));
        assert!(lan.overlaps(&net("10.0.0.9")));
        assert!(!lan.overlaps(&net("10.0.1.0/24")));
        assert!(net("2001:db8::/32").contains("2001:db8:ffff::1".parse().unwrap()));
    }

    #[test]
    fn ranges_span_the_whole_network() {
        assert_eq!(net("10.0.0.0/24").range(), (0x0a00_0000, 0x0a00_00ff));
        assert_eq!(net("10.0.0.1").range(), (0x0a00_0001, 0x0a00_0001));
        assert_eq!(net("0.0.0.0/0").range(), (0, 0xffff_ffff));
        assert_eq!(net("::/0").range(), (0, u128::MAX));
        assert_eq!(net("::1").range(), (1, 1));
    }
}
