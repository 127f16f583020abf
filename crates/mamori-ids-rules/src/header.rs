//! The rule header: `action proto src_addr src_port direction dst_addr dst_port`.
//!
//! Addresses and ports compile to sorted, disjoint range lists ([`IpSet`], [`PortSet`]) so
//! that a rule with hundreds of listed IPs (ET's CnC and Tor lists) costs one binary search
//! per packet. Negation, nested lists, ranges and `$VAR` references are resolved here, with
//! Suricata's meaning: a list matches what its positive entries match (everything when it
//! has none) minus what its negated entries match.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::input::{AppProto, Proto};
use crate::vars::Vars;

/// How deep `$VAR` references and `[...]` nesting may go before the value is rejected.
const MAX_NESTING: usize = 16;

/// What a rule does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Stop inspecting the packet (and the rest of its flow); no alerts.
    Pass,
    /// Drop the packet (IPS mode) and alert.
    Drop,
    /// Send a reset / ICMP unreachable and alert.
    Reject,
    /// Alert only.
    Alert,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "alert" => Action::Alert,
            "drop" => Action::Drop,
            "pass" => Action::Pass,
            "reject" | "rejectsrc" | "rejectdst" | "rejectboth" => Action::Reject,
            _ => return None,
        })
    }

    /// The lower-case keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pass => "pass",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Alert => "alert",
        }
    }
}

/// The protocol named in a rule header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleProto {
    /// `ip`: every packet.
    Ip,
    /// `tcp`; `tcp-pkt` and `tcp-stream` restrict payload inspection to packet or stream.
    Tcp,
    TcpPkt,
    TcpStream,
    /// `udp`, `udp-pkt`.
    Udp,
    /// `icmp`, `icmpv4`, `icmpv6`.
    Icmp,
    /// An application-layer protocol: matches when the flow's detected app protocol is it.
    App(AppProto),
}

impl RuleProto {
    fn parse(s: &str) -> Result<RuleProto, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "ip" | "pkthdr" | "ipv4" | "ipv6" => RuleProto::Ip,
            "tcp" => RuleProto::Tcp,
            "tcp-pkt" => RuleProto::TcpPkt,
            "tcp-stream" => RuleProto::TcpStream,
            "udp" | "udp-pkt" => RuleProto::Udp,
            "icmp" | "icmpv4" | "icmpv6" => RuleProto::Icmp,
            other => match AppProto::from_name(other) {
                Some(a) => RuleProto::App(a),
                None => return Err(format!("unsupported protocol {other:?}")),
            },
        })
    }

    /// Whether a packet of transport `proto` with app protocol `app` is in scope.
    pub fn matches(self, proto: Proto, app: Option<AppProto>) -> bool {
        match self {
            RuleProto::Ip => true,
            RuleProto::Tcp | RuleProto::TcpPkt | RuleProto::TcpStream => proto == Proto::Tcp,
            RuleProto::Udp => proto == Proto::Udp,
            RuleProto::Icmp => proto == Proto::Icmp,
            RuleProto::App(a) => app == Some(a),
        }
    }
}

/// A set of IP addresses as sorted, disjoint, inclusive ranges per family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

fn normalize<T: Copy + Ord + num::Step>(mut r: Vec<(T, T)>) -> Vec<(T, T)> {
    r.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        if let Some(last) = out.last_mut() {
            if lo <= last.1 || T::succ(last.1) == Some(lo) {
                if hi > last.1 {
                    last.1 = hi;
                }
                continue;
            }
        }
        out.push((lo, hi));
    }
    out
}

fn complement<T: Copy + Ord + num::Step>(r: &[(T, T)]) -> Vec<(T, T)> {
    let mut out = Vec::with_capacity(r.len() + 1);
    let mut next = Some(T::MIN);
    for &(lo, hi) in r {
        if let Some(n) = next {
            if lo > n {
                if let Some(p) = T::pred(lo) {
                    out.push((n, p));
                }
            }
        }
        next = T::succ(hi);
    }
    if let Some(n) = next {
        out.push((n, T::MAX));
    }
    out
}

fn intersect<T: Copy + Ord + num::Step>(a: &[(T, T)], b: &[(T, T)]) -> Vec<(T, T)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn contains<T: Copy + Ord>(r: &[(T, T)], x: T) -> bool {
    // The first range whose end is >= x is the only candidate.
    let i = r.partition_point(|&(_, hi)| hi < x);
    r.get(i).is_some_and(|&(lo, _)| lo <= x)
}

/// Minimal integer-step trait for the range helpers.
mod num {
    pub trait Step: Sized {
        const MIN: Self;
        const MAX: Self;
        fn succ(x: Self) -> Option<Self>;
        fn pred(x: Self) -> Option<Self>;
    }
    macro_rules! step {
        ($($t:ty),*) => {$(
            impl Step for $t {
                const MIN: Self = <$t>::MIN;
                const MAX: Self = <$t>::MAX;
                fn succ(x: Self) -> Option<Self> { x.checked_add(1) }
                fn pred(x: Self) -> Option<Self> { x.checked_sub(1) }
            }
        )*};
    }
    step!(u16, u32, u128);
}

impl IpSet {
    /// Every address.
    pub fn any() -> Self {
        IpSet {
            v4: vec![(0, u32::MAX)],
            v6: vec![(0, u128::MAX)],
        }
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Whether `ip` is in the set (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => contains(&self.v4, u32::from(v4)),
                None => contains(&self.v6, u128::from(a)),
            },
        }
    }

    /// IPv4 ranges (inclusive, as integers).
    pub fn v4_ranges(&self) -> &[(u32, u32)] {
        &self.v4
    }

    /// IPv6 ranges (inclusive, as integers).
    pub fn v6_ranges(&self) -> &[(u128, u128)] {
        &self.v6
    }

    fn union(mut self, other: IpSet) -> IpSet {
        self.v4.extend(other.v4);
        self.v6.extend(other.v6);
        IpSet {
            v4: normalize(self.v4),
            v6: normalize(self.v6),
        }
    }

    fn not(&self) -> IpSet {
        IpSet {
            v4: complement(&self.v4),
            v6: complement(&self.v6),
        }
    }

    fn minus(&self, other: &IpSet) -> IpSet {
        IpSet {
            v4: intersect(&self.v4, &complement(&other.v4)),
            v6: intersect(&self.v6, &complement(&other.v6)),
        }
    }
}

/// A set of ports as sorted, disjoint, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSet {
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// Every port.
    pub fn any() -> Self {
        PortSet {
            ranges: vec![(0, u16::MAX)],
        }
    }

    /// Whether this is `any`.
    pub fn is_any(&self) -> bool {
        self.ranges == [(0, u16::MAX)]
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        contains(&self.ranges, port)
    }

    /// The inclusive ranges.
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }
}

/// A list-or-atom syntax tree shared by addresses and ports.
fn parse_group<S, F>(
    s: &str,
    vars: &Vars,
    depth: usize,
    atom: &F,
    lookup: &dyn Fn(&Vars, &str) -> Option<String>,
) -> Result<S, String>
where
    S: GroupSet,
    F: Fn(&str) -> Result<S, String>,
{
    if depth > MAX_NESTING {
        return Err("variables or lists nested too deep (a variable referring to itself?)".into());
    }
    let s = s.trim();
    if s.is_empty() {
        return Err("empty address or port".into());
    }
    if let Some(rest) = s.strip_prefix('!') {
        let inner: S = parse_group(rest, vars, depth + 1, atom, lookup)?;
        return Ok(inner.not());
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| format!("unbalanced brackets in {s:?}"))?;
        let mut pos: Option<S> = None;
        let mut neg: Option<S> = None;
        for item in split_top(inner)? {
            let item = item.trim();
            if item.is_empty() {
                return Err(format!("empty element in list {s:?}"));
            }
            if let Some(n) = item.strip_prefix('!') {
                let v: S = parse_group(n, vars, depth + 1, atom, lookup)?;
                neg = Some(match neg {
                    Some(x) => x.union(v),
                    None => v,
                });
            } else {
                let v: S = parse_group(item, vars, depth + 1, atom, lookup)?;
                pos = Some(match pos {
                    Some(x) => x.union(v),
                    None => v,
                });
            }
        }
        let base = pos.unwrap_or_else(S::any);
        return Ok(match neg {
            Some(n) => base.minus(&n),
            None => base,
        });
    }
    if let Some(name) = s.strip_prefix('$') {
        let value = lookup(vars, name).ok_or_else(|| format!("unknown variable ${name}"))?;
        return parse_group(&value, vars, depth + 1, atom, lookup);
    }
    if s.eq_ignore_ascii_case("any") {
        return Ok(S::any());
    }
    atom(s)
}

trait GroupSet: Sized {
    fn any() -> Self;
    fn not(&self) -> Self;
    fn union(self, other: Self) -> Self;
    fn minus(&self, other: &Self) -> Self;
}

impl GroupSet for IpSet {
    fn any() -> Self {
        IpSet::any()
    }
    fn not(&self) -> Self {
        IpSet::not(self)
    }
    fn union(self, other: Self) -> Self {
        IpSet::union(self, other)
    }
    fn minus(&self, other: &Self) -> Self {
        IpSet::minus(self, other)
    }
}

impl GroupSet for PortSet {
    fn any() -> Self {
        PortSet::any()
    }
    fn not(&self) -> Self {
        PortSet {
            ranges: complement(&self.ranges),
        }
    }
    fn union(mut self, other: Self) -> Self {
        self.ranges.extend(other.ranges);
        PortSet {
            ranges: normalize(self.ranges),
        }
    }
    fn minus(&self, other: &Self) -> Self {
        PortSet {
            ranges: intersect(&self.ranges, &complement(&other.ranges)),
        }
    }
}

/// Split a list body on commas that are not inside nested brackets.
fn split_top(s: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced brackets in {s:?}"))?
            }
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("unbalanced brackets in {s:?}"));
    }
    out.push(&s[start..]);
    Ok(out)
}

fn ip_atom(s: &str) -> Result<IpSet, String> {
    let bad = || format!("invalid address {s:?}");
    if let Some((a, b)) = s.split_once('/') {
        let ip: IpAddr = a.parse().map_err(|_| bad())?;
        return match ip {
            IpAddr::V4(v4) => {
                let prefix: u32 = if b.contains('.') {
                    let mask: Ipv4Addr = b.parse().map_err(|_| bad())?;
                    let m = u32::from(mask);
                    if m.leading_ones() + m.trailing_zeros() != 32 {
                        return Err(bad());
                    }
                    m.leading_ones()
                } else {
                    b.parse().map_err(|_| bad())?
                };
                if prefix > 32 {
                    return Err(bad());
                }
                let host = if prefix == 0 {
                    u32::MAX
                } else {
                    (1u32 << (32 - prefix)).wrapping_sub(1)
                };
                let lo = u32::from(v4) & !host;
                Ok(IpSet {
                    v4: vec![(lo, lo | host)],
                    v6: vec![],
                })
            }
            IpAddr::V6(v6) => {
                let prefix: u32 = b.parse().map_err(|_| bad())?;
                if prefix > 128 {
                    return Err(bad());
                }
                let host = if prefix == 0 {
                    u128::MAX
                } else {
                    (1u128 << (128 - prefix)).wrapping_sub(1)
                };
                let lo = u128::from(v6) & !host;
                Ok(IpSet {
                    v4: vec![],
                    v6: vec![(lo, lo | host)],
                })
            }
        };
    }
    if let Some((a, b)) = s.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>()) {
            let (a, b) = (u32::from(a), u32::from(b));
            if a > b {
                return Err(bad());
            }
            return Ok(IpSet {
                v4: vec![(a, b)],
                v6: vec![],
            });
        }
        if let (Ok(a), Ok(b)) = (a.trim().parse::<Ipv6Addr>(), b.trim().parse::<Ipv6Addr>()) {
            let (a, b) = (u128::from(a), u128::from(b));
            if a > b {
                return Err(bad());
            }
            return Ok(IpSet {
                v4: vec![],
                v6: vec![(a, b)],
            });
        }
        return Err(bad());
    }
    match s.parse::<IpAddr>().map_err(|_| bad())? {
        IpAddr::V4(a) => Ok(IpSet {
            v4: vec![(u32::from(a), u32::from(a))],
            v6: vec![],
        }),
        IpAddr::V6(a) => Ok(IpSet {
            v4: vec![],
            v6: vec![(u128::from(a), u128::from(a))],
        }),
    }
}

fn port_atom(s: &str) -> Result<PortSet, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u16>()
            .map_err(|_| format!("invalid port {s:?}"))
    };
    let (lo, hi) = match s.split_once(':') {
        Some((a, b)) => (
            if a.trim().is_empty() { 0 } else { num(a)? },
            if b.trim().is_empty() {
                u16::MAX
            } else {
                num(b)?
            },
        ),
        None => {
            let p = num(s)?;
            (p, p)
        }
    };
    if lo > hi {
        return Err(format!("invalid port range {s:?}"));
    }
    Ok(PortSet {
        ranges: vec![(lo, hi)],
    })
}

/// Parse an address specification (`any`, `$HOME_NET`, `![1.2.3.0/24,::1]`, ...).
pub fn parse_addresses(s: &str, vars: &Vars) -> Result<IpSet, String> {
    let set: IpSet = parse_group(s, vars, 0, &ip_atom, &|v, n| {
        v.address(n).map(str::to_string)
    })?;
    if set.is_empty() {
        return Err(format!("address {s:?} matches nothing"));
    }
    Ok(set)
}

/// Parse a port specification (`any`, `80`, `[1024:,!8080]`, `$HTTP_PORTS`, ...).
pub fn parse_ports(s: &str, vars: &Vars) -> Result<PortSet, String> {
    let set: PortSet = parse_group(s, vars, 0, &port_atom, &|v, n| {
        v.port(n).map(str::to_string)
    })?;
    if set.ranges.is_empty() {
        return Err(format!("port {s:?} matches nothing"));
    }
    Ok(set)
}

/// A parsed rule header.
#[derive(Debug, Clone)]
pub struct Header {
    pub action: Action,
    pub proto: RuleProto,
    pub src: IpSet,
    pub src_ports: PortSet,
    pub dst: IpSet,
    pub dst_ports: PortSet,
    /// `<>`: the rule also matches with source and destination swapped.
    pub bidirectional: bool,
}

impl Header {
    /// Parse the text before the option list's `(`.
    pub fn parse(text: &str, vars: &Vars) -> Result<Header, String> {
        let tokens = split_header(text)?;
        let [action, proto, src, sp, dir, dst, dp] = tokens.as_slice() else {
            return Err(format!(
                "header needs 7 fields (action proto src sport -> dst dport), found {}",
                tokens.len()
            ));
        };
        let action = Action::parse(action).ok_or_else(|| format!("unknown action {action:?}"))?;
        let proto = RuleProto::parse(proto)?;
        let bidirectional = match *dir {
            "->" => false,
            "<>" => true,
            other => return Err(format!("invalid direction {other:?} (expected -> or <>)")),
        };
        Ok(Header {
            action,
            proto,
            src: parse_addresses(src, vars).map_err(|e| format!("source address: {e}"))?,
            src_ports: parse_ports(sp, vars).map_err(|e| format!("source port: {e}"))?,
            dst: parse_addresses(dst, vars).map_err(|e| format!("destination address: {e}"))?,
            dst_ports: parse_ports(dp, vars).map_err(|e| format!("destination port: {e}"))?,
            bidirectional,
        })
    }

    /// Whether the packet's addresses and ports fit (either way round for `<>`).
    pub fn matches_endpoints(
        &self,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        ports_apply: bool,
    ) -> bool {
        let fwd = |s: IpAddr, sp: u16, d: IpAddr, dp: u16| {
            (!ports_apply || (self.src_ports.contains(sp) && self.dst_ports.contains(dp)))
                && self.src.contains(s)
                && self.dst.contains(d)
        };
        fwd(src, sport, dst, dport) || (self.bidirectional && fwd(dst, dport, src, sport))
    }
}

/// Split the header on whitespace, keeping bracketed lists (which may hold spaces) whole.
fn split_header(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match c {
            '[' => {
                depth += 1;
                start.get_or_insert(i);
            }
            ']' => {
                depth = depth.checked_sub(1).ok_or("unbalanced ']' in header")?;
            }
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    out.push(&text[s..i]);
                }
            }
            _ => {
                start.get_or_insert(i);
            }
        }
        if out.len() > 7 {
            break;
        }
    }
    if depth != 0 {
        return Err("unbalanced '[' in header".into());
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn home_and_external_net_partition_the_address_space() {
        let v = Vars::default();
        let home = parse_addresses("$HOME_NET", &v).unwrap();
        let ext = parse_addresses("$EXTERNAL_NET", &v).unwrap();
        for a in ["10.1.2.3", "192.168.255.1", "172.31.0.1"] {
            assert!(home.contains(ip(a)) && !ext.contains(ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!home.contains(ip(a)) && ext.contains(ip(a)), "{a}");
        }
    }

    #[test]
    fn lists_with_negation_ranges_and_masks() {
        let v = Vars::default();
        let s = parse_addresses(
            "[10.0.0.0/8,!10.1.0.0/16, 192.168.1.0/255.255.255.0,1.1.1.1-1.1.1.3]",
            &v,
        )
        .unwrap();
        assert!(s.contains(ip("10.2.0.1")));
        assert!(!s.contains(ip("10.1.0.1")));
        assert!(s.contains(ip("192.168.1.77")));
        assert!(s.contains(ip("1.1.1.2")) && !s.contains(ip("1.1.1.4")));
        let only_neg = parse_addresses("[!1.2.3.4]", &v).unwrap();
        assert!(only_neg.contains(ip("1.2.3.5")) && !only_neg.contains(ip("1.2.3.4")));
        let v6 = parse_addresses("[2001:db8::/32]", &v).unwrap();
        assert!(v6.contains(ip("2001:db8::5")) && !v6.contains(ip("2001:db9::5")));
        assert!(parse_addresses("!any", &v).is_err());
        assert!(parse_addresses("[1.2.3.4", &v).is_err());
        assert!(parse_addresses("1.2.3.4/33", &v).is_err());
        assert!(parse_addresses("$NOPE", &v).unwrap_err().contains("$NOPE"));
    }

    #[test]
    fn port_groups() {
        let v = Vars::default();
        let p = parse_ports("[1024:,!8080]", &v).unwrap();
        assert!(p.contains(1024) && p.contains(65535) && !p.contains(8080) && !p.contains(80));
        let p = parse_ports(":1023", &v).unwrap();
        assert!(p.contains(0) && p.contains(1023) && !p.contains(1024));
        let p = parse_ports("$FILE_DATA_PORTS", &v).unwrap();
        assert!(p.contains(80) && p.contains(110) && p.contains(143) && !p.contains(25));
        let p = parse_ports("$SHELLCODE_PORTS", &v).unwrap();
        assert!(!p.contains(80) && p.contains(81));
        assert!(parse_ports("70000", &v).is_err());
        assert!(parse_ports("90:80", &v).is_err());
    }

    #[test]
    fn header_bidirectional_matches_both_ways() {
        let v = Vars::default();
        let h = Header::parse("alert tcp 10.0.0.1 any <> 8.8.8.8 53", &v).unwrap();
        assert!(h.bidirectional);
        assert!(h.matches_endpoints(ip("10.0.0.1"), 1234, ip("8.8.8.8"), 53, true));
        assert!(h.matches_endpoints(ip("8.8.8.8"), 53, ip("10.0.0.1"), 1234, true));
        assert!(!h.matches_endpoints(ip("8.8.8.8"), 54, ip("10.0.0.1"), 1234, true));
        let h = Header::parse("alert tcp 10.0.0.1 any -> 8.8.8.8 53", &v).unwrap();
        assert!(!h.matches_endpoints(ip("8.8.8.8"), 53, ip("10.0.0.1"), 1234, true));
    }

    #[test]
    fn header_errors_are_specific() {
        let v = Vars::default();
        assert!(Header::parse("alert tcp any any -> any", &v)
            .unwrap_err()
            .contains("7 fields"));
        assert!(Header::parse("shout tcp any any -> any any", &v)
            .unwrap_err()
            .contains("action"));
        assert!(Header::parse("alert tcp any any => any any", &v)
            .unwrap_err()
            .contains("direction"));
        assert!(Header::parse("alert gopher any any -> any any", &v)
            .unwrap_err()
            .contains("protocol"));
        let h = Header::parse("alert http [1.2.3.4, 5.6.7.8] any -> any any", &v).unwrap();
        assert_eq!(h.proto, RuleProto::App(AppProto::Http));
        assert!(h.src.contains(ip("5.6.7.8")));
    }
}
