//! Reading back what the kernel holds, from `nft -j list table inet <table>`.
//!
//! Set elements become networks and isolated hosts with the time they have left; the
//! `block_domain` rules are decoded back into domain names from their payload matches (the
//! rule comment is only a label for people, and too short for long names). Anything in the
//! table this crate did not write is skipped with a warning, not an error, so a rule an
//! admin added by hand does not stop the console from showing the rest.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::Value;

use crate::domain::domain_from_chunks;
use crate::script::{self, BLOCK_DOMAIN};
use crate::{IpNet, RespondError};

/// One set element: a blocked host or network, or an isolated host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub set: &'static str,
    pub net: IpNet,
    /// Time left before the kernel removes it; `None` for no timeout.
    pub remaining: Option<Duration>,
}

/// The rules that block one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainBlock {
    pub domain: String,
    /// Rule handles, for deleting them.
    pub handles: Vec<u64>,
    /// Unix seconds the rules stop matching at (`meta time <`), if bounded.
    pub until: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub elements: Vec<Element>,
    pub domains: Vec<DomainBlock>,
}

/// Parses nft's JSON listing of `table`.
pub(crate) fn parse(json: &[u8], table: &str) -> Result<Listing, RespondError> {
    let bad = |reason: String| RespondError::Listing {
        table: table.to_string(),
        reason,
    };
    let doc: Value = serde_json::from_slice(json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no \"nftables\" array".into()))?;
    let mut listing = Listing::default();
    for item in items {
        if let Some(set) = item.get("set") {
            parse_set(set, &mut listing.elements);
        } else if let Some(rule) = item.get("rule") {
            if rule.get("chain").and_then(Value::as_str) == Some(BLOCK_DOMAIN) {
                parse_domain_rule(rule, &mut listing.domains);
            }
        }
    }
    Ok(listing)
}

fn parse_set(set: &Value, out: &mut Vec<Element>) {
    let Some(name) = set.get("name").and_then(Value::as_str) else {
        return;
    };
    let Some(&set_name) = script::ACTION_SETS.iter().find(|s| **s == name) else {
        return;
    };
    for elem in set
        .get("elem")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // A bare value, or {"elem": {"val": …, "timeout": s, "expires": s}}.
        let (val, remaining) = match elem.get("elem") {
            Some(e) => {
                let remaining = e.get("timeout").map(|_| {
                    // nft prints whole seconds left, rounded down; never report zero for
                    // an element that is still there.
                    let secs = e.get("expires").and_then(Value::as_u64).unwrap_or(0);
                    Duration::from_secs(secs.max(1))
                });
                (e.get("val"), remaining)
            }
            None => (Some(elem), None),
        };
        match val.and_then(parse_net) {
            Some(net) => out.push(Element {
                set: set_name,
                net,
                remaining,
            }),
            None => {
                tracing::warn!(set = name, element = %elem, "skipping a set element this crate did not write")
            }
        }
    }
}

/// `"10.0.0.1"` or `{"prefix": {"addr": "10.0.0.0", "len": 24}}`.
fn parse_net(v: &Value) -> Option<IpNet> {
    if let Some(s) = v.as_str() {
        return s.parse::<IpAddr>().ok().map(IpNet::host);
    }
    let p = v.get("prefix")?;
    let addr: IpAddr = p.get("addr")?.as_str()?.parse().ok()?;
    let len = u8::try_from(p.get("len")?.as_u64()?).ok()?;
    IpNet::new(addr, len).ok()
}

fn parse_domain_rule(rule: &Value, out: &mut Vec<DomainBlock>) {
    let Some(handle) = rule.get("handle").and_then(Value::as_u64) else {
        return;
    };
    let mut chunks = Vec::new();
    let mut until = None;
    for expr in rule
        .get("expr")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(m) = expr.get("match") else { continue };
        let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
            continue;
        };
        if left.pointer("/meta/key").and_then(Value::as_str) == Some("time") {
            until = right.as_str().and_then(parse_utc);
            continue;
        }
        // `@ih,o,l == v` or `@ih,o,l & mask == v`.
        let payload = left
            .get("payload")
            .or_else(|| left.get("&").and_then(|a| a.get(0)?.get("payload")));
        let Some(p) = payload else { continue };
        if p.get("base").and_then(Value::as_str) != Some("ih") {
            continue;
        }
        let (Some(offset), Some(len)) = (
            p.get("offset").and_then(Value::as_u64),
            p.get("len").and_then(Value::as_u64),
        ) else {
            continue;
        };
        match constant_bytes(right, len) {
            Some(bytes) => chunks.push((offset as usize, bytes)),
            None => {
                tracing::warn!(
                    handle,
                    "skipping a block_domain rule with an unreadable match"
                );
                return;
            }
        }
    }
    let Some(domain) = domain_from_chunks(&mut chunks) else {
        tracing::warn!(
            handle,
            "skipping a block_domain rule this crate did not write"
        );
        return;
    };
    match out.iter_mut().find(|d| d.domain == domain) {
        Some(d) => {
            d.handles.push(handle);
            // If the UDP and TCP rules disagree, report the earlier end.
            d.until = match (d.until, until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        None => out.push(DomainBlock {
            domain,
            handles: vec![handle],
            until,
        }),
    }
}

/// A raw payload constant as `len` bits of big-endian bytes. nft prints it as a JSON
/// number when it fits 64 bits and as a `0x…` string (leading zeros dropped) otherwise.
fn constant_bytes(v: &Value, len_bits: u64) -> Option<Vec<u8>> {
    if len_bits == 0 || len_bits & 7 != 0 || len_bits > 128 {
        return None;
    }
    let n: u128 = match v {
        Value::Number(n) => u128::from(n.as_u64()?),
        Value::String(s) => {
            let hex = s.strip_prefix("0x")?;
            u128::from_str_radix(hex, 16).ok()?
        }
        _ => return None,
    };
    let len = (len_bits / 8) as usize;
    let all = n.to_be_bytes();
    if all[..16 - len].iter().any(|&b| b != 0) {
        return None;
    }
    Some(all[16 - len..].to_vec())
}

/// `YYYY-MM-DD HH:MM:SS` as nft prints `meta time` (UTC, since nft runs with `TZ=UTC`).
fn parse_utc(s: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let t = time::PrimitiveDateTime::parse(s, format).ok()?;
    Some(t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from what nft 1.0.6 prints for a table this crate wrote.
    const LISTING: &str = r#"{"nftables": [
      {"metainfo": {"version": "1.0.6", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "mamori", "handle": 1}},
      {"set": {"family": "inet", "name": "block_net_v4", "table": "mamori", "type": "ipv4_addr",
        "flags": ["interval", "timeout"],
        "elem": [{"elem": {"val": {"prefix": {"addr": "10.0.0.0", "len": 24}}, "timeout": 10, "expires": 9}},
                 {"prefix": {"addr": "192.0.2.0", "len": 25}},
                 {"range": ["10.9.0.1", "10.9.0.5"]}]}},
      {"set": {"family": "inet", "name": "block_host_v6", "table": "mamori", "type": "ipv6_addr",
        "flags": ["timeout"], "elem": ["2001:db8::5"]}},
      {"set": {"family": "inet", "name": "isolated_v4", "table": "mamori", "type": "ipv4_addr",
        "flags": ["timeout"], "elem": [{"elem": {"val": "10.1.1.2", "timeout": 2, "expires": 0}}]}},
      {"set": {"family": "inet", "name": "allow_v4", "table": "mamori", "type": "ipv4_addr",
        "flags": ["interval"], "elem": ["10.1.1.1"]}},
      {"chain": {"family": "inet", "table": "mamori", "name": "block_domain", "handle": 9}},
      {"rule": {"family": "inet", "table": "mamori", "chain": "block_domain", "handle": 10,
        "comment": "block-domain c2.example", "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
        {"match": {"op": "==", "left": {"&": [{"payload": {"base": "ih", "offset": 96, "len": 96}}, "0xffdfffffdfdfdfdfdfdfdfff"]}, "right": "0x24332074558414d504c4500"}},
        {"match": {"op": "<", "left": {"meta": {"key": "time"}}, "right": "2030-03-17 17:46:40"}},
        {"drop": null}]}},
      {"rule": {"family": "inet", "table": "mamori", "chain": "block_domain", "handle": 11, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 53}},
        {"match": {"op": "==", "left": {"&": [{"payload": {"base": "ih", "offset": 112, "len": 96}}, "0xffdfffffdfdfdfdfdfdfdfff"]}, "right": "0x24332074558414d504c4500"}},
        {"match": {"op": "<", "left": {"meta": {"key": "time"}}, "right": "2030-03-17 17:46:40"}},
        {"reject": {"type": "tcp reset"}}]}},
      {"rule": {"family": "inet", "table": "mamori", "chain": "block_domain", "handle": 12, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
        {"match": {"op": "==", "left": {"payload": {"base": "ih", "offset": 96, "len": 40}}, "right": 5117129216}},
        {"drop": null}]}},
      {"rule": {"family": "inet", "table": "mamori", "chain": "block_domain", "handle": 13, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 53}},
        {"drop": null}]}},
      {"rule": {"family": "inet", "table": "mamori", "chain": "respond", "handle": 20, "expr": []}}
    ]}"#;

    #[test]
    fn reads_elements_with_time_left() {
        let l = parse(LISTING.as_bytes(), "mamori").unwrap();
        assert_eq!(
            l.elements,
            vec![
                Element {
                    set: "block_net_v4",
                    net: "10.0.0.0/24".parse().unwrap(),
                    remaining: Some(Duration::from_secs(9)),
                },
                Element {
                    set: "block_net_v4",
                    net: "192.0.2.0/25".parse().unwrap(),
                    remaining: None,
                },
                Element {
                    set: "block_host_v6",
                    net: "2001:db8::5".parse().unwrap(),
                    remaining: None,
                },
                Element {
                    set: "isolated_v4",
                    net: "10.1.1.2".parse().unwrap(),
                    remaining: Some(Duration::from_secs(1)),
                },
            ]
        );
    }

    #[test]
    fn decodes_domain_rules_back_into_names() {
        let l = parse(LISTING.as_bytes(), "mamori").unwrap();
        assert_eq!(
            l.domains,
            vec![
                DomainBlock {
                    domain: "c2.example".into(),
                    handles: vec![10, 11],
                    until: Some(1_900_000_000),
                },
                DomainBlock {
                    domain: "1.2".into(),
                    handles: vec![12],
                    until: None,
                },
            ]
        );
    }

    #[test]
    fn rejects_what_is_not_a_listing() {
        assert!(parse(b"not json", "mamori").is_err());
        assert!(parse(b"{\"x\": 1}", "mamori").is_err());
        assert!(parse(b"{\"nftables\": []}", "mamori")
            .unwrap()
            .elements
            .is_empty());
    }

    #[test]
    fn constants_keep_their_leading_zero_bytes() {
        assert_eq!(
            constant_bytes(&Value::from(0x0102u64), 32),
            Some(vec![0, 0, 1, 2])
        );
        assert_eq!(
            constant_bytes(&Value::from("0x1ff"), 16),
            Some(vec![1, 0xff])
        );
        assert_eq!(constant_bytes(&Value::from("0x1ffff"), 16), None);
        assert_eq!(constant_bytes(&Value::from("zz"), 16), None);
        assert_eq!(constant_bytes(&Value::from(1u64), 136), None);
    }
}
