//! Syslog records, from files and from the network:
//! - RFC 3164 (BSD): `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg`, also without `<PRI>` as in
//!   `/var/log` files, with an ISO timestamp as rsyslog's file format writes it, and without a
//!   host as some devices send it;
//! - RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD…] MSG`, structured data params as
//!   fields named `<sd-id>.<param>`;
//! - `journalctl -o json` lines (`MESSAGE`, `SYSLOG_IDENTIFIER`, `__REALTIME_TIMESTAMP`…).
//!
//! The result is a `Syslog` event with `facility`, `severity`, `program`, `pid`, `message`;
//! [`super::program`] then recognises sshd, sudo, PAM, Postfix, Dovecot and firewall lines.
//! Year-less BSD times take the year that does not put them in the future (see
//! `timestamp::infer_year_ms`); zone-less times are read at the configured offset.

use super::timestamp;
use crate::event::{Event, Fields, Origin, SourceKind};
use time::UtcOffset;

const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// One syslog line (or network message) to a `Syslog` event; program-specific parsing is
/// applied by the caller.
pub(crate) fn parse(
    line: &str,
    origin: Origin,
    offset: UtcOffset,
    now: i64,
) -> Result<Event, String> {
    let text = line.trim_end_matches(['\r', '\n', '\0']);
    let mut fields = Fields::default();
    if text.starts_with('{') {
        return journal_json(text, origin);
    }
    let mut rest = text;
    let mut had_pri = false;
    if let Some(after) = rest.strip_prefix('<') {
        let close = after.find('>').filter(|&p| (1..=3).contains(&p));
        let pri: Option<usize> = close.and_then(|p| after.get(..p)?.parse().ok());
        match (close, pri) {
            (Some(p), Some(pri)) if pri < 192 => {
                push_pri(&mut fields, pri);
                rest = after.get(p + 1..).unwrap_or_default();
                had_pri = true;
            }
            _ => return Err("malformed <PRI>".into()),
        }
    }
    if let Some(r5424) = rest.strip_prefix("1 ").filter(|_| had_pri) {
        return rfc5424(r5424, text, fields, origin, offset);
    }

    // Timestamp: BSD `Mmm dd hh:mm:ss` or ISO 8601 (rsyslog's file format).
    let mut ts = None;
    if let Some((t, used)) = timestamp::parse_bsd(rest, offset, now) {
        ts = Some(t);
        rest = rest.get(used..).unwrap_or_default();
        // Some senders add the year after the time (`Mmm dd hh:mm:ss yyyy`) — not handled;
        // Cisco-style `Mmm dd yyyy hh:mm:ss` neither.
    } else if rest.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let end = rest.find(' ').unwrap_or(rest.len());
        let tok = rest.get(..end).unwrap_or_default();
        if let Some(t) = timestamp::parse_iso(tok, offset) {
            ts = Some(t);
            rest = rest.get(end..).unwrap_or_default();
        }
    }
    if ts.is_none() && !had_pri {
        return Err("not a syslog line (no <PRI> and no timestamp)".into());
    }
    rest = rest.trim_start_matches(' ');

    // Host, unless the next word is already the tag (`tag:` or `tag[pid]:`).
    let mut host = None;
    let first_end = rest.find(' ').unwrap_or(rest.len());
    let first = rest.get(..first_end).unwrap_or_default();
    if ts.is_some() && !first.is_empty() && !first.ends_with(':') && !first.contains('[') {
        host = Some(first.to_string());
        rest = rest
            .get(first_end..)
            .unwrap_or_default()
            .trim_start_matches(' ');
    }

    let (program, pid, message) = split_tag(rest);
    if let Some(p) = program {
        fields.push("program", p);
    }
    if let Some(p) = pid {
        fields.push("pid", p);
    }
    fields.push("message", message);
    Ok(Event {
        timestamp: ts,
        host,
        source: SourceKind::Syslog,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: text.to_string(),
        origin,
    })
}

fn push_pri(fields: &mut Fields, pri: usize) {
    if let Some(f) = FACILITIES.get(pri / 8) {
        fields.push("facility", *f);
    }
    if let Some(s) = SEVERITIES.get(pri % 8) {
        fields.push("severity", *s);
    }
}

/// `tag[pid]: message` → (tag, pid, message); a line without a tag is all message.
fn split_tag(s: &str) -> (Option<&str>, Option<&str>, &str) {
    let tag_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '@')))
        .unwrap_or(s.len());
    let tag = s.get(..tag_end).unwrap_or_default();
    if tag.is_empty() || tag.len() > 64 {
        return (None, None, s);
    }
    let after = s.get(tag_end..).unwrap_or_default();
    let (pid, after) = match after.strip_prefix('[') {
        Some(a) => match a.find(']') {
            Some(close) => (a.get(..close), a.get(close + 1..).unwrap_or_default()),
            None => return (None, None, s),
        },
        None => (None, after),
    };
    match after.strip_prefix(':') {
        Some(msg) => (Some(tag), pid, msg.strip_prefix(' ').unwrap_or(msg)),
        None => (None, None, s),
    }
}

fn nil(tok: &str) -> Option<&str> {
    (tok != "-" && !tok.is_empty()).then_some(tok)
}

fn rfc5424(
    s: &str,
    raw: &str,
    mut fields: Fields,
    origin: Origin,
    offset: UtcOffset,
) -> Result<Event, String> {
    let mut parts = s.splitn(5, ' ');
    let (Some(time), Some(host), Some(app), Some(procid), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err("RFC 5424 header incomplete".into());
    };
    let ts = match nil(time) {
        Some(t) => Some(timestamp::parse_iso(t, offset).ok_or("bad RFC 5424 timestamp")?),
        None => None,
    };
    let (msgid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if let Some(a) = nil(app) {
        fields.push("program", a);
    }
    if let Some(p) = nil(procid) {
        fields.push("pid", p);
    }
    if let Some(m) = nil(msgid) {
        fields.push("msgid", m);
    }
    let msg = structured_data(rest, &mut fields)?;
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    fields.push("message", msg.strip_prefix('\u{feff}').unwrap_or(msg));
    Ok(Event {
        timestamp: ts,
        host: nil(host).map(str::to_string),
        source: SourceKind::Syslog,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: raw.to_string(),
        origin,
    })
}

/// Parses `-` or `[id k="v" …][…]` and returns what follows.
fn structured_data<'a>(s: &'a str, fields: &mut Fields) -> Result<&'a str, String> {
    if let Some(rest) = s.strip_prefix('-') {
        return Ok(rest);
    }
    let mut rest = s;
    while let Some(body) = rest.strip_prefix('[') {
        let id_end = body
            .find([' ', ']'])
            .ok_or("unterminated structured data")?;
        let id = body.get(..id_end).unwrap_or_default();
        let mut p = body.get(id_end..).unwrap_or_default();
        loop {
            p = p.trim_start_matches(' ');
            if let Some(after) = p.strip_prefix(']') {
                rest = after;
                break;
            }
            let (name, after) = p.split_once("=\"").ok_or("malformed SD parameter")?;
            // Value ends at the first `"` not escaped by `\`; `\"`, `\\`, `\]` are escapes.
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => break,
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("unterminated SD parameter value")?;
            fields.push(format!("{id}.{name}"), value);
            p = after.get(end + 1..).unwrap_or_default();
        }
    }
    if rest.len() == s.len() {
        return Err("malformed structured data".into());
    }
    Ok(rest)
}

/// `journalctl -o json`: one entry per line.
fn journal_json(text: &str, origin: Origin) -> Result<Event, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid journal JSON: {e}"))?;
    let get = |k: &str| v.get(k).and_then(serde_json::Value::as_str);
    let message = match v.get("MESSAGE") {
        Some(serde_json::Value::String(s)) => s.clone(),
        // Non-UTF-8 messages are exported as byte arrays.
        Some(serde_json::Value::Array(bytes)) => {
            let b: Vec<u8> = bytes
                .iter()
                .filter_map(|b| b.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => return Err("journal entry without MESSAGE".into()),
    };
    let mut fields = Fields::default();
    let fac = get("SYSLOG_FACILITY").and_then(|f| f.parse::<usize>().ok());
    if let Some(f) = fac.and_then(|f| FACILITIES.get(f)) {
        fields.push("facility", *f);
    }
    let sev = get("PRIORITY").and_then(|f| f.parse::<usize>().ok());
    if let Some(s) = sev.and_then(|s| SEVERITIES.get(s)) {
        fields.push("severity", *s);
    }
    if let Some(p) = get("SYSLOG_IDENTIFIER").or_else(|| get("_COMM")) {
        fields.push("program", p);
    }
    if let Some(p) = get("SYSLOG_PID").or_else(|| get("_PID")) {
        fields.push("pid", p);
    }
    fields.push("message", message);
    let ts = get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.parse::<i64>().ok())
        .map(|us| us / 1000);
    Ok(Event {
        timestamp: ts,
        host: get("_HOSTNAME").map(str::to_string),
        source: SourceKind::Syslog,
        channel: None,
        event_id: None,
        record_id: None,
        fields,
        raw: text.to_string(),
        origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        timestamp::civil_to_ms(2024, 6, 1, 0, 0, 0, 0, UtcOffset::UTC).unwrap()
    }

    #[test]
    fn bsd_line_without_pri() {
        let ev = parse(
            "May  3 10:00:01 web1 sshd[812]: Accepted publickey for bob from 10.0.0.2 port 5 ssh2",
            Origin::default(),
            UtcOffset::UTC,
            now(),
        )
        .unwrap();
        assert_eq!(ev.host.as_deref(), Some("web1"));
        assert_eq!(ev.get("program"), Some("sshd"));
        assert_eq!(ev.get("pid"), Some("812"));
        assert!(ev.get("message").unwrap().starts_with("Accepted"));
        assert_eq!(
            ev.timestamp,
            timestamp::civil_to_ms(2024, 5, 3, 10, 0, 1, 0, UtcOffset::UTC)
        );
    }

    #[test]
    fn bsd_with_pri_and_no_host() {
        let ev = parse(
            "<34>Oct 11 22:14:15 su: 'su root' failed",
            Origin::default(),
            UtcOffset::UTC,
            now(),
        )
        .unwrap();
        assert_eq!(ev.host, None);
        assert_eq!(ev.get("facility"), Some("auth"));
        assert_eq!(ev.get("severity"), Some("crit"));
        assert_eq!(ev.get("program"), Some("su"));
    }

    #[test]
    fn rsyslog_iso_timestamp() {
        let ev = parse(
            "2024-05-03T10:00:01.123456+09:00 fw kernel: [UFW BLOCK] IN=eth0",
            Origin::default(),
            UtcOffset::UTC,
            now(),
        )
        .unwrap();
        assert_eq!(ev.host.as_deref(), Some("fw"));
        assert_eq!(
            ev.timestamp,
            timestamp::civil_to_ms(2024, 5, 3, 1, 0, 1, 123, UtcOffset::UTC)
        );
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let ev = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\"x\]"][other a="b"] BOMAn application event"#,
            Origin::default(),
            UtcOffset::UTC,
            now(),
        )
        .unwrap();
        assert_eq!(ev.host.as_deref(), Some("mymachine.example.com"));
        assert_eq!(ev.get("program"), Some("evntslog"));
        assert_eq!(ev.get("pid"), None);
        assert_eq!(ev.get("msgid"), Some("ID47"));
        assert_eq!(ev.get("exampleSDID@32473.eventSource"), Some("App\"x]"));
        assert_eq!(ev.get("other.a"), Some("b"));
        assert_eq!(ev.get("message"), Some("BOMAn application event"));
        assert_eq!(ev.timestamp, Some(1_065_910_455_003));
    }

    #[test]
    fn journal_json_entry() {
        let ev = parse(
            r#"{"__REALTIME_TIMESTAMP":"1714557600123456","_HOSTNAME":"h","SYSLOG_IDENTIFIER":"sshd","_PID":"9","MESSAGE":"Invalid user x from 1.2.3.4 port 22","PRIORITY":"6","SYSLOG_FACILITY":"10"}"#,
            Origin::default(),
            UtcOffset::UTC,
            now(),
        )
        .unwrap();
        assert_eq!(ev.timestamp, Some(1_714_557_600_123));
        assert_eq!(ev.get("facility"), Some("authpriv"));
        assert_eq!(ev.get("program"), Some("sshd"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse("hello world", Origin::default(), UtcOffset::UTC, now()).is_err());
        assert!(parse("<999>x", Origin::default(), UtcOffset::UTC, now()).is_err());
    }
}
