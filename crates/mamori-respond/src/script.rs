//! The nft scripts: the table layout and the statements that add or remove one action.
//!
//! Everything here is pure text generation from validated values (`IpNet`, canonical
//! domain names, checked identifiers), so a script can be printed for `--dry-run` or
//! compared in a test without touching the kernel. Scripts are fed to `nft -f -`, which
//! applies a whole script as one transaction: either all of it takes effect or none.
//!
//! Layout of the `inet` table (default name `mamori`):
//!
//! ```text
//! set block_host_v4 / block_host_v6   blocked single addresses     flags timeout
//! set block_net_v4  / block_net_v6    blocked networks             flags interval, timeout
//! set isolated_v4   / isolated_v6     isolated hosts               flags timeout
//! set allow_v4      / allow_v6        what isolated hosts may reach (the console), from config
//! chain input / forward / output      base chains, priority filter - 10, policy accept:
//!                                     `jump respond`
//! chain respond                       drop from/to blocked hosts and networks; DNS queries
//!                                     go through block_domain; traffic from an isolated
//!                                     host through isolate_from, to one through isolate_to
//! chain block_domain                  one UDP and one TCP rule per blocked domain
//! chain isolate_from / isolate_to     return (let pass) what an isolated host may still
//!                                     do, drop the rest
//! ```
//!
//! Hosts and networks live in separate sets because the kernel refuses overlapping
//! intervals in one set: with hosts apart, blocking 10.0.0.5 and later 10.0.0.0/24 works;
//! only two overlapping networks conflict (see `RespondError::Overlap`).
//!
//! The chains only ever `drop` or let a packet continue (`return`, or the base chain's
//! `accept` policy), so a packet they pass is still judged by any other firewall on the
//! machine, and nothing the gateway already forbids is opened up.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::domain::{qname_chunks, Chunk};
use crate::{IpNet, RespondError};

pub(crate) const BLOCK_HOST_V4: &str = "block_host_v4";
pub(crate) const BLOCK_HOST_V6: &str = "block_host_v6";
pub(crate) const BLOCK_NET_V4: &str = "block_net_v4";
pub(crate) const BLOCK_NET_V6: &str = "block_net_v6";
pub(crate) const ISOLATED_V4: &str = "isolated_v4";
pub(crate) const ISOLATED_V6: &str = "isolated_v6";
pub(crate) const ALLOW_V4: &str = "allow_v4";
pub(crate) const ALLOW_V6: &str = "allow_v6";
pub(crate) const BLOCK_DOMAIN: &str = "block_domain";

/// The sets that hold actions (not the allow-list, which comes from config).
pub(crate) const ACTION_SETS: [&str; 6] = [
    BLOCK_HOST_V4,
    BLOCK_HOST_V6,
    BLOCK_NET_V4,
    BLOCK_NET_V6,
    ISOLATED_V4,
    ISOLATED_V6,
];

/// Marks the rules this crate writes into `block_domain` (nft comments hold ≤ 128 bytes,
/// so the name is added only when it fits; the rule's match is what counts).
pub(crate) const DOMAIN_COMMENT: &str = "block-domain";

/// The longest TTL accepted: ten years. The kernel refuses timeouts a little above a
/// hundred years; nothing a responder sets needs more than this.
pub const MAX_TTL: Duration = Duration::from_secs(3650 * 86_400);

/// The table's sets and chains, created if missing; the fixed chains are flushed and
/// rewritten (so an older or damaged layout is repaired), the allow-list is replaced, and
/// the action sets and `block_domain` keep what they hold.
pub(crate) fn ensure(table: &str, allow: &[IpNet], allow_dns: bool) -> String {
    let mut s = String::new();
    let t = format!("inet {table}");
    let _ = writeln!(s, "add table {t}");
    for (set, ty, interval) in [
        (BLOCK_HOST_V4, "ipv4_addr", false),
        (BLOCK_HOST_V6, "ipv6_addr", false),
        (BLOCK_NET_V4, "ipv4_addr", true),
        (BLOCK_NET_V6, "ipv6_addr", true),
        (ISOLATED_V4, "ipv4_addr", false),
        (ISOLATED_V6, "ipv6_addr", false),
    ] {
        let flags = if interval {
            "interval, timeout"
        } else {
            "timeout"
        };
        let _ = writeln!(s, "add set {t} {set} {{ type {ty}; flags {flags}; }}");
    }
    for (set, ty, v4) in [
        (ALLOW_V4, "ipv4_addr", true),
        (ALLOW_V6, "ipv6_addr", false),
    ] {
        let _ = writeln!(s, "add set {t} {set} {{ type {ty}; flags interval; }}");
        let _ = writeln!(s, "flush set {t} {set}");
        let elems: Vec<String> = allow
            .iter()
            .filter(|n| n.is_ipv4() == v4)
            .map(|n| n.to_string())
            .collect();
        if !elems.is_empty() {
            let _ = writeln!(s, "add element {t} {set} {{ {} }}", elems.join(", "));
        }
    }

    let _ = writeln!(s, "add chain {t} {BLOCK_DOMAIN}");
    let nd = "icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert }";
    let mut from = vec![
        format!("ip daddr @{ALLOW_V4} return"),
        format!("ip6 daddr @{ALLOW_V6} return"),
        // Neighbour discovery and DHCP keep the host addressable, so the console can still
        // reach it.
        format!("{nd} return"),
        "udp sport 68 udp dport 67 return".to_string(),
        "udp sport 546 udp dport 547 return".to_string(),
    ];
    let mut to = vec![
        format!("ip saddr @{ALLOW_V4} return"),
        format!("ip6 saddr @{ALLOW_V6} return"),
        format!("{nd} return"),
        "udp sport 67 udp dport 68 return".to_string(),
        "udp sport 547 udp dport 546 return".to_string(),
    ];
    if allow_dns {
        from.push("udp dport 53 return".into());
        from.push("tcp dport 53 return".into());
        // Only answers to the host's own queries, not new connections to it on port 53.
        to.push("udp sport 53 ct direction reply return".into());
        to.push("tcp sport 53 ct direction reply return".into());
    }
    from.push("drop".into());
    to.push("drop".into());
    for (chain, rules) in [("isolate_from", from), ("isolate_to", to)] {
        let _ = writeln!(s, "add chain {t} {chain}");
        let _ = writeln!(s, "flush chain {t} {chain}");
        for rule in rules {
            let _ = writeln!(s, "add rule {t} {chain} {rule}");
        }
    }

    let _ = writeln!(s, "add chain {t} respond");
    let _ = writeln!(s, "flush chain {t} respond");
    for set in [BLOCK_HOST_V4, BLOCK_NET_V4] {
        let _ = writeln!(s, "add rule {t} respond ip saddr @{set} drop");
        let _ = writeln!(s, "add rule {t} respond ip daddr @{set} drop");
    }
    for set in [BLOCK_HOST_V6, BLOCK_NET_V6] {
        let _ = writeln!(s, "add rule {t} respond ip6 saddr @{set} drop");
        let _ = writeln!(s, "add rule {t} respond ip6 daddr @{set} drop");
    }
    let _ = writeln!(s, "add rule {t} respond udp dport 53 jump {BLOCK_DOMAIN}");
    let _ = writeln!(s, "add rule {t} respond tcp dport 53 jump {BLOCK_DOMAIN}");
    // isolate_from returns rather than accepts, so a packet between two isolated hosts
    // also meets isolate_to.
    let _ = writeln!(
        s,
        "add rule {t} respond ip saddr @{ISOLATED_V4} jump isolate_from"
    );
    let _ = writeln!(
        s,
        "add rule {t} respond ip6 saddr @{ISOLATED_V6} jump isolate_from"
    );
    let _ = writeln!(
        s,
        "add rule {t} respond ip daddr @{ISOLATED_V4} jump isolate_to"
    );
    let _ = writeln!(
        s,
        "add rule {t} respond ip6 daddr @{ISOLATED_V6} jump isolate_to"
    );

    for hook in ["input", "forward", "output"] {
        let _ = writeln!(
            s,
            "add chain {t} {hook} {{ type filter hook {hook} priority filter - 10; policy accept; }}"
        );
        let _ = writeln!(s, "flush chain {t} {hook}");
        let _ = writeln!(s, "add rule {t} {hook} jump respond");
    }
    s
}

/// The set that holds a blocked network: hosts and networks, v4 and v6 apart.
pub(crate) fn net_set(net: &IpNet) -> &'static str {
    match (net.is_host(), net.is_ipv4()) {
        (true, true) => BLOCK_HOST_V4,
        (true, false) => BLOCK_HOST_V6,
        (false, true) => BLOCK_NET_V4,
        (false, false) => BLOCK_NET_V6,
    }
}

/// The set that holds an isolated host.
pub(crate) fn isolated_set(host: IpAddr) -> &'static str {
    match host {
        IpAddr::V4(_) => ISOLATED_V4,
        IpAddr::V6(_) => ISOLATED_V6,
    }
}

/// A set element with its timeout, as nft writes it (`10.0.0.0/24 timeout 60s`).
pub(crate) fn element_text(elem: &str, ttl: Option<Duration>) -> Result<String, RespondError> {
    Ok(match ttl {
        Some(ttl) => format!("{elem} timeout {}s", ttl_secs(ttl)?),
        None => elem.to_string(),
    })
}

/// A TTL in whole seconds, rounded up so a block never ends early.
pub(crate) fn ttl_secs(ttl: Duration) -> Result<u64, RespondError> {
    if ttl.is_zero() {
        return Err(RespondError::InvalidTtl {
            ttl,
            reason: "must be longer than zero (omit it for a block without expiry)",
        });
    }
    if ttl > MAX_TTL {
        return Err(RespondError::InvalidTtl {
            ttl,
            reason: "longer than ten years",
        });
    }
    Ok(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
}

/// Adds (or re-adds with a new timeout) a set element. `add` of an existing element would
/// keep its old timeout, and `delete` of a missing one fails the whole transaction, so the
/// element is added bare, deleted, and added again with its timeout.
pub(crate) fn add_element(
    table: &str,
    set: &str,
    elem: &str,
    ttl: Option<Duration>,
) -> Result<String, RespondError> {
    let with_ttl = element_text(elem, ttl)?;
    Ok(format!(
        "add element inet {table} {set} {{ {elem} }}\n\
         delete element inet {table} {set} {{ {elem} }}\n\
         add element inet {table} {set} {{ {with_ttl} }}\n"
    ))
}

/// Deletes a set element that is known to be there.
pub(crate) fn delete_element(table: &str, set: &str, elem: &str) -> String {
    format!("delete element inet {table} {set} {{ {elem} }}\n")
}

/// Deletes rules by handle.
pub(crate) fn delete_rules(table: &str, chain: &str, handles: &[u64]) -> String {
    handles.iter().fold(String::new(), |mut s, h| {
        let _ = writeln!(s, "delete rule inet {table} {chain} handle {h}");
        s
    })
}

/// The two rules that drop DNS queries for `domain` (canonical form): UDP, and TCP where
/// the message follows a two-byte length. `until` (Unix seconds) bounds them in time with
/// `meta time`, since rules, unlike set elements, have no timeout of their own.
pub(crate) fn domain_rules(table: &str, domain: &str, until: Option<i64>) -> String {
    let comment = {
        let with_name = format!("{DOMAIN_COMMENT} {domain}");
        if with_name.len() <= 128 {
            with_name
        } else {
            DOMAIN_COMMENT.to_string()
        }
    };
    let time = match until {
        Some(t) => format!(" meta time < {t}"),
        None => String::new(),
    };
    let mut s = String::new();
    for (proto, header_offset, verdict) in [
        ("udp", 0, "drop"),
        // A reset makes the client give up at once instead of retrying into silence.
        ("tcp", 2, "reject with tcp reset"),
    ] {
        let matches: Vec<String> = qname_chunks(domain, header_offset)
            .iter()
            .map(chunk_match)
            .collect();
        let _ = writeln!(
            s,
            "add rule inet {table} {BLOCK_DOMAIN} {proto} dport 53 {}{time} {verdict} comment \"{comment}\"",
            matches.join(" ")
        );
    }
    s
}

fn chunk_match(c: &Chunk) -> String {
    let bits = c.value.len() * 8;
    if c.is_exact() {
        format!("@ih,{},{bits} == 0x{}", c.offset_bits, hex(&c.value))
    } else {
        format!(
            "@ih,{},{bits} & 0x{} == 0x{}",
            c.offset_bits,
            hex(&c.mask),
            hex(&c.value)
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_declares_sets_chains_and_allow_list() {
        let allow = ["10.0.0.1".parse().unwrap(), "fd00::/64".parse().unwrap()];
        let s = ensure("mamori", &allow, true);
        assert!(s.starts_with("add table inet mamori\n"));
        assert!(s.contains(
            "add set inet mamori block_net_v4 { type ipv4_addr; flags interval, timeout; }"
        ));
        assert!(s.contains("add set inet mamori isolated_v6 { type ipv6_addr; flags timeout; }"));
        assert!(s.contains(
            "flush set inet mamori allow_v4\nadd element inet mamori allow_v4 { 10.0.0.1 }"
        ));
        assert!(s.contains("add element inet mamori allow_v6 { fd00::/64 }"));
        assert!(s.contains(
            "add chain inet mamori forward { type filter hook forward priority filter - 10; policy accept; }"
        ));
        assert!(s.contains("add rule inet mamori respond ip daddr @block_net_v4 drop"));
        assert!(
            s.contains("add rule inet mamori isolate_to tcp sport 53 ct direction reply return")
        );
        // Domain rules and action sets survive a repeated ensure.
        assert!(!s.contains("flush chain inet mamori block_domain"));
        assert!(!s.contains("flush set inet mamori block_"));
        assert!(!s.contains("flush set inet mamori isolated_"));
    }

    #[test]
    fn without_dns_an_isolated_host_reaches_only_the_allow_list() {
        let s = ensure("t", &[], false);
        assert!(!s.contains("dport 53 return"));
        assert!(!s.contains("add element inet t allow_v4"));
        assert!(s.contains("add rule inet t isolate_from drop\n"));
    }

    #[test]
    fn elements_carry_rounded_up_timeouts() {
        let net: IpNet = "192.0.2.0/24".parse().unwrap();
        assert_eq!(net_set(&net), BLOCK_NET_V4);
        assert_eq!(net_set(&"192.0.2.1".parse().unwrap()), BLOCK_HOST_V4);
        assert_eq!(net_set(&"2001:db8::/48".parse().unwrap()), BLOCK_NET_V6);
        assert_eq!(isolated_set("2001:db8::7".parse().unwrap()), ISOLATED_V6);
        assert_eq!(
            element_text("192.0.2.0/24", Some(Duration::from_millis(1500))).unwrap(),
            "192.0.2.0/24 timeout 2s"
        );
        assert_eq!(element_text("10.0.0.1", None).unwrap(), "10.0.0.1");
        assert!(matches!(
            element_text("10.0.0.1", Some(Duration::ZERO)),
            Err(RespondError::InvalidTtl { .. })
        ));
        assert!(ttl_secs(MAX_TTL + Duration::from_secs(1)).is_err());
        assert_eq!(ttl_secs(MAX_TTL).unwrap(), 3650 * 86_400);
    }

    #[test]
    fn readding_an_element_replaces_its_timeout() {
        assert_eq!(
            add_element("m", "s", "10.0.0.1", Some(Duration::from_secs(5))).unwrap(),
            "add element inet m s { 10.0.0.1 }\ndelete element inet m s { 10.0.0.1 }\n\
             add element inet m s { 10.0.0.1 timeout 5s }\n"
        );
        assert_eq!(
            delete_rules("m", "block_domain", &[4, 7]),
            "delete rule inet m block_domain handle 4\ndelete rule inet m block_domain handle 7\n"
        );
    }

    #[test]
    fn domain_rules_match_the_qname_case_insensitively() {
        let s = domain_rules("mamori", "c2.example", Some(1_900_000_000));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "add rule inet mamori block_domain udp dport 53 \
             @ih,96,96 & 0xffdfffffdfdfdfdfdfdfdfff == 0x024332074558414d504c4500 \
             meta time < 1900000000 drop comment \"block-domain c2.example\""
        );
        assert!(
            lines[1].starts_with("add rule inet mamori block_domain tcp dport 53 @ih,112,96 & ")
        );
        assert!(lines[1].ends_with("reject with tcp reset comment \"block-domain c2.example\""));
    }

    #[test]
    fn long_domains_use_several_matches_and_a_short_comment() {
        let name = ["abcdefghijklmnopqrstuvwxyz0123456789"; 6].join(".");
        let s = domain_rules("mamori", &name, None);
        let first = s.lines().next().unwrap();
        assert_eq!(first.matches("@ih,").count(), 14); // 223 wire bytes / 16
        assert!(first.ends_with("drop comment \"block-domain\""));
        assert!(!first.contains("meta time"));
        let digits_only = domain_rules("mamori", "1.2", None);
        assert!(digits_only.contains("@ih,96,40 == 0x0131013200 drop"));
    }
}
