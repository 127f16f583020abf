//! nginx and Apache access logs: the combined and common formats, also with a leading virtual
//! host (`%v:%p`, Apache's `vhost_combined`) or trailing extras (nginx `$request_time`, a
//! quoted host) — the variants small sites actually run.
//!
//! `uri` is the request target as logged, `path`/`query` split at the first `?`, nothing
//! percent-decoded (detections look for encodings themselves). A request line that is not
//! `METHOD target [PROTOCOL]` (TLS bytes sent to a plain port, scanners' junk) still makes an
//! event, with the text in `request` and no `method`. Custom `log_format`s other than these
//! are not recognised: use JSON logs with a mapping for them.

use super::timestamp;
use crate::event::{Event, Fields, Origin, SourceKind};

#[derive(Debug)]
enum Tok<'a> {
    Bare(&'a str),
    Quoted(String),
    Bracket(&'a str),
}

fn tokens(line: &str) -> Result<Vec<Tok<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix('"') {
            // `\"` and `\\` are escapes (nginx writes `\x22`, which stays as is).
            let mut value = String::new();
            let mut end = None;
            let mut chars = body.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => value.push('\\'),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("unterminated quoted field")?;
            out.push(Tok::Quoted(value));
            rest = body.get(end + 1..).unwrap_or_default();
        } else if let Some(body) = rest.strip_prefix('[') {
            let end = body.find(']').ok_or("unterminated [time]")?;
            out.push(Tok::Bracket(body.get(..end).unwrap_or_default()));
            rest = body.get(end + 1..).unwrap_or_default();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(Tok::Bare(rest.get(..end).unwrap_or_default()));
            rest = rest.get(end..).unwrap_or_default();
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// One access log line to a `WebAccess` event.
pub(crate) fn parse(line: &str, origin: Origin) -> Result<Event, String> {
    let toks = tokens(line)?;
    let time_at = toks
        .iter()
        .position(|t| matches!(t, Tok::Bracket(_)))
        .ok_or("no [time] field")?;
    let bare = |i: usize| match toks.get(i) {
        Some(Tok::Bare(s)) => Some(*s),
        _ => None,
    };
    let (vhost, client, user) = match time_at {
        3 => (None, bare(0), bare(2)),
        4 => (bare(0), bare(1), bare(3)),
        _ => return Err("expected `client ident user [time]` before the request".into()),
    };
    let client = client.ok_or("missing client address")?;
    let Some(Tok::Bracket(time)) = toks.get(time_at) else {
        return Err("no [time] field".into());
    };
    let ts = timestamp::parse_clf(time).ok_or("bad [time] field")?;
    let Some(Tok::Quoted(request)) = toks.get(time_at + 1) else {
        return Err("missing \"request\"".into());
    };
    let status = bare(time_at + 2)
        .filter(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("missing or bad status")?;
    let bytes = bare(time_at + 3)
        .filter(|s| *s == "-" || s.bytes().all(|b| b.is_ascii_digit()))
        .ok_or("missing or bad response size")?;

    let mut fields = Fields::default();
    fields.push("src_ip", client);
    if let Some(u) = user.filter(|u| *u != "-") {
        fields.push("user", u);
    }
    let parts: Vec<&str> = request.split(' ').collect();
    let method_ok = |m: &str| !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase());
    match parts.as_slice() {
        [m, target, ..] if parts.len() <= 3 && method_ok(m) => {
            fields.push("method", *m);
            fields.push("uri", *target);
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (*target, None),
            };
            fields.push("path", path);
            if let Some(q) = query {
                fields.push("query", q);
            }
            if let Some(proto) = parts.get(2) {
                fields.push("protocol", *proto);
            }
        }
        _ => fields.push("request", request.as_str()),
    }
    fields.push("status", status);
    fields.push("bytes", if bytes == "-" { "0" } else { bytes });

    let mut i = time_at + 4;
    let mut quoted_after = 0;
    let mut host = vhost.map(|v| strip_port(v).to_string());
    while let Some(t) = toks.get(i) {
        match t {
            Tok::Quoted(q) => {
                match quoted_after {
                    0 if q != "-" => fields.push("referer", q.as_str()),
                    1 if q != "-" => fields.push("user_agent", q.as_str()),
                    n if n >= 2 && q != "-" && host.is_none() && looks_like_host(q) => {
                        host = Some(strip_port(q).to_string())
                    }
                    _ => {}
                }
                quoted_after += 1;
            }
            Tok::Bare(b) => {
                // nginx `$request_time`: seconds with millisecond decimals.
                let secs = b.strip_prefix("rt=").unwrap_or(b);
                if secs.contains('.') {
                    if let Ok(s) = secs.parse::<f64>() {
                        if s.is_finite() && s >= 0.0 && fields.get("duration_ms").is_none() {
                            fields.push("duration_ms", format!("{}", (s * 1000.0).round() as u64));
                        }
                    } else if host.is_none() && looks_like_host(b) {
                        host = Some(strip_port(b).to_string());
                    }
                }
            }
            Tok::Bracket(_) => {}
        }
        i += 1;
    }
    if let Some(h) = &host {
        fields.push("host", h.as_str());
    }
    Ok(Event {
        timestamp: Some(ts),
        host: None,
        source: SourceKind::WebAccess,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: line.to_string(),
        origin,
    })
}

fn looks_like_host(s: &str) -> bool {
    s.contains('.')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

fn strip_port(s: &str) -> &str {
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_line() {
        let e = parse(
            r#"203.0.113.5 - bob [10/Oct/2000:13:55:36 -0700] "GET /login.php?u=a%27 HTTP/1.1" 401 2326 "http://x/" "Mozilla/5.0 (X11)""#,
            Origin::default(),
        )
        .unwrap();
        assert_eq!(e.timestamp, Some(971_211_336_000));
        assert_eq!(e.get("src_ip"), Some("203.0.113.5"));
        assert_eq!(e.get("user"), Some("bob"));
        assert_eq!(e.get("method"), Some("GET"));
        assert_eq!(e.get("uri"), Some("/login.php?u=a%27"));
        assert_eq!(e.get("path"), Some("/login.php"));
        assert_eq!(e.get("query"), Some("u=a%27"));
        assert_eq!(e.get("status"), Some("401"));
        assert_eq!(e.get("bytes"), Some("2326"));
        assert_eq!(e.get("referer"), Some("http://x/"));
        assert_eq!(e.get("user_agent"), Some("Mozilla/5.0 (X11)"));
    }

    #[test]
    fn vhost_and_request_time_variants() {
        let e = parse(
            r#"shop.example.com:443 198.51.100.1 - - [10/Oct/2000:13:55:36 +0000] "POST /cart HTTP/2.0" 200 - "-" "curl/8" 0.250"#,
            Origin::default(),
        )
        .unwrap();
        assert_eq!(e.get("host"), Some("shop.example.com"));
        assert_eq!(e.get("bytes"), Some("0"));
        assert_eq!(e.get("duration_ms"), Some("250"));
        assert_eq!(e.get("referer"), None);
    }

    #[test]
    fn junk_request_line_is_kept() {
        let e = parse(
            r#"192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "\x16\x03\x01\x00" 400 157"#,
            Origin::default(),
        )
        .unwrap();
        assert_eq!(e.get("method"), None);
        assert_eq!(e.get("request"), Some(r"\x16\x03\x01\x00"));
    }
}
