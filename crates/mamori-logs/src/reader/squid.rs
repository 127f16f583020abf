//! Squid's native `access.log`:
//! `time.ms elapsed client code/status bytes method URL user hierarchy/peer type`.
//!
//! `dst_host` (and `dst_port` when explicit) come from the URL — for `CONNECT` the target is
//! `host:port` — and `dst_ip` from the hierarchy peer when it is an address (`HIER_DIRECT/
//! 93.184.216.34`). Squid's other log formats (common/combined emulation) are read by the web
//! reader instead.

use super::timestamp;
use crate::event::{Event, Fields, Origin, SourceKind};
use std::net::IpAddr;

/// One native access.log line to a `Squid` event.
pub(crate) fn parse(line: &str, origin: Origin) -> Result<Event, String> {
    let t: Vec<&str> = line.split_whitespace().collect();
    if t.len() < 7 {
        return Err("too few fields for a Squid access.log line".into());
    }
    let get = |i: usize| t.get(i).copied().unwrap_or("-");
    let time: f64 = get(0)
        .parse()
        .map_err(|_| "first field is not a `seconds.millis` time")?;
    let ts = timestamp::epoch_to_ms(time).ok_or("time out of range")?;
    let elapsed = get(1);
    if !elapsed.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err("elapsed time is not a number".into());
    }
    let (cache, status) = get(3)
        .split_once('/')
        .ok_or("result code is not CODE/STATUS")?;
    let bytes = get(4);
    if !bytes.bytes().all(|b| b.is_ascii_digit()) {
        return Err("size is not a number".into());
    }
    let method = get(5);
    let url = get(6);
    let mut fields = Fields::default();
    fields.push("src_ip", get(2));
    fields.push("cache", cache);
    fields.push("status", status);
    fields.push("bytes", bytes);
    fields.push("method", method);
    fields.push("url", url);
    if let Some((host, port)) = url_host(method, url) {
        fields.push("dst_host", host);
        if let Some(p) = port {
            fields.push("dst_port", p);
        }
    }
    fields.push("duration_ms", elapsed);
    if get(7) != "-" {
        fields.push("user", get(7));
    }
    if let Some((hier, peer)) = t.get(8).and_then(|h| h.split_once('/')) {
        fields.push("hierarchy", hier);
        if peer.parse::<IpAddr>().is_ok() {
            fields.push("dst_ip", peer);
        } else if peer != "-" {
            fields.push("peer", peer);
        }
    }
    if let Some(ct) = t.get(9).filter(|c| **c != "-") {
        fields.push("content_type", *ct);
    }
    Ok(Event {
        timestamp: Some(ts),
        host: None,
        source: SourceKind::Squid,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: line.to_string(),
        origin,
    })
}

/// The host (and explicit port) a proxied URL goes to.
pub(crate) fn url_host<'a>(method: &str, url: &'a str) -> Option<(&'a str, Option<&'a str>)> {
    let authority = match url.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next()?,
        None if method.eq_ignore_ascii_case("CONNECT") => url,
        None => return None,
    };
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        return Some((host, rest.strip_prefix(':')));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            Some((h, Some(p)))
        }
        _ => Some((authority, None)),
    }
    .filter(|(h, _)| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_line_with_direct_peer() {
        let e = parse(
            "1286536309.586    921 192.168.0.68 TCP_MISS/200 507 POST http://rcv.example.com:8080/x?y=1 alice HIER_DIRECT/93.184.216.34 application/xml",
            Origin::default(),
        )
        .unwrap();
        assert_eq!(e.timestamp, Some(1_286_536_309_586));
        assert_eq!(e.get("src_ip"), Some("192.168.0.68"));
        assert_eq!(e.get("cache"), Some("TCP_MISS"));
        assert_eq!(e.get("status"), Some("200"));
        assert_eq!(e.get("dst_host"), Some("rcv.example.com"));
        assert_eq!(e.get("dst_port"), Some("8080"));
        assert_eq!(e.get("dst_ip"), Some("93.184.216.34"));
        assert_eq!(e.get("duration_ms"), Some("921"));
        assert_eq!(e.get("user"), Some("alice"));
    }

    #[test]
    fn connect_target_is_host_and_port() {
        let e = parse(
            "1286536309.586 5 10.0.0.1 TCP_TUNNEL/200 4000 CONNECT evil.example:443 - HIER_DIRECT/evil.example -",
            Origin::default(),
        )
        .unwrap();
        assert_eq!(e.get("dst_host"), Some("evil.example"));
        assert_eq!(e.get("dst_port"), Some("443"));
        assert_eq!(e.get("dst_ip"), None);
    }
}
