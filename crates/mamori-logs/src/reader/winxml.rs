//! Windows events exported as XML: `<Event xmlns=…>` records one per line, or a whole
//! `<Events>` document (wevtutil `qe /f:xml`, `Get-WinEvent … ToXml()`, Event Viewer's
//! "Save as XML"). Each record becomes one event with the same flattened field names as EVTX
//! (see `event.rs`).
//!
//! Records are found by scanning for `<Event` start tags and their `</Event>`, so the file
//! need not be one record per line; a record bigger than [`MAX_RECORD`] or left unterminated
//! is an error at its offset and reading goes on. `RenderingInfo` (localized message text) is
//! not turned into fields: its names collide with `System`'s and the raw record keeps it.

use super::xml::{Token, Tokenizer, MAX_DEPTH};
use super::{timestamp, ReadError, Sink};
use crate::event::{Event, Fields, Origin, SourceKind};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use time::UtcOffset;

/// Largest record accepted; real ones are a few KiB.
pub(crate) const MAX_RECORD: usize = 1 << 20;

/// One `<Event>` record to an event (`raw` is the record text).
pub(crate) fn parse_record(xml: &str, origin: Origin) -> Result<Event, String> {
    let mut fields = Fields::default();
    let mut tok = Tokenizer::new(xml);
    // Open elements: name, text seen, whether it has child elements, and the Data `Name`.
    struct Open<'a> {
        name: &'a str,
        text: String,
        has_child: bool,
        data_name: Option<String>,
    }
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut unnamed_data = 0usize;
    let mut saw_event = false;
    while let Some(t) = tok.next_token() {
        match t? {
            Token::Start { name, attrs, empty } => {
                if stack.is_empty() {
                    if name != "Event" {
                        return Err(format!("expected <Event>, found <{name}>"));
                    }
                    saw_event = true;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.has_child = true;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("elements nested too deep".into());
                }
                let section = stack.get(1).map(|o| o.name);
                if stack.len() == 2 && section == Some("System") {
                    system_attrs(name, &attrs, &mut fields);
                }
                let data_name = attrs
                    .iter()
                    .find(|(k, _)| *k == "Name")
                    .map(|(_, v)| v.clone());
                let open = Open {
                    name,
                    text: String::new(),
                    has_child: false,
                    data_name,
                };
                if empty {
                    close(&open, &stack, &mut fields, &mut unnamed_data);
                } else {
                    stack.push(open);
                }
            }
            Token::End(name) => {
                let Some(open) = stack.pop() else {
                    return Err(format!("unexpected </{name}>"));
                };
                if open.name != name {
                    return Err(format!("<{}> closed by </{name}>", open.name));
                }
                close(&open, &stack, &mut fields, &mut unnamed_data);
                if stack.is_empty() {
                    break;
                }
            }
            Token::Text(text) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&text);
                }
            }
        }
    }
    if !saw_event {
        return Err("no <Event> element".into());
    }
    if !stack.is_empty() {
        return Err("record ends inside an element".into());
    }

    fn close(open: &Open<'_>, stack: &[Open<'_>], fields: &mut Fields, unnamed: &mut usize) {
        // `stack` holds the ancestors: [Event, Section, ...].
        let section = stack.get(1).map(|o| o.name);
        if stack.len() < 2 || open.has_child {
            return;
        }
        let text = open.text.trim();
        match section {
            Some("System") if stack.len() == 2 && !text.is_empty() => {
                fields.push(open.name, text);
            }
            Some("EventData") | Some("UserData") => {
                if open.name == "Data" {
                    match &open.data_name {
                        Some(n) => fields.push(n.as_str(), text),
                        None => {
                            let name = if *unnamed == 0 {
                                "Data".to_string()
                            } else {
                                format!("Data[{unnamed}]")
                            };
                            *unnamed += 1;
                            fields.push(name, text);
                        }
                    }
                } else {
                    fields.push(open.name, text);
                }
            }
            _ => {}
        }
    }

    let mut event = Event {
        timestamp: None,
        host: fields.get("Computer").map(str::to_string),
        source: SourceKind::WindowsXml,
        channel: fields.get("Channel").map(str::to_string),
        event_id: fields.get("EventID").and_then(|v| v.trim().parse().ok()),
        record_id: fields
            .get("EventRecordID")
            .and_then(|v| v.trim().parse().ok()),
        fields,
        raw: xml.to_string(),
        origin,
    };
    event.timestamp = event
        .fields
        .get("TimeCreated")
        .and_then(|t| timestamp::parse_iso(t, UtcOffset::UTC));
    Ok(event)
}

/// `System` children keep their attributes under the names SigmaHQ rules use.
fn system_attrs(element: &str, attrs: &[(&str, String)], fields: &mut Fields) {
    for (attr, value) in attrs {
        let name = match (element, *attr) {
            ("Provider", "Name") => "Provider_Name".to_string(),
            ("Provider", "Guid") => "Provider_Guid".to_string(),
            ("Provider", "EventSourceName") => "EventSourceName".to_string(),
            ("TimeCreated", "SystemTime") => "TimeCreated".to_string(),
            ("Execution", a @ ("ProcessID" | "ThreadID")) => a.to_string(),
            ("Security", "UserID") => "UserID".to_string(),
            ("Correlation", a @ ("ActivityID" | "RelatedActivityID")) => a.to_string(),
            ("EventID", "Qualifiers") => "Qualifiers".to_string(),
            (e, a) => format!("{e}_{a}"),
        };
        fields.push(name, value.as_str());
    }
}

/// Reads every `<Event>` record of an XML stream into the sink; returns the events produced.
pub(crate) fn read_stream(
    mut input: impl Read,
    file: &Path,
    sink: &mut Sink<'_>,
) -> Result<u64, ReadError> {
    let file_arc = Arc::new(file.to_path_buf());
    let io_err = |offset: u64, e: std::io::Error| ReadError {
        file: Some(file.to_path_buf()),
        offset,
        reason: format!("read error: {e}"),
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut base: u64 = 0; // file offset of buf[0]
    let mut eof = false;
    let mut produced = 0u64;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Find a record start in what we have.
        match find_event_start(&buf) {
            None => {
                if eof {
                    return Ok(produced);
                }
                // Keep a short tail in case `<Event` is split across reads.
                let keep = buf.len().min(7);
                let drop = buf.len() - keep;
                buf.drain(..drop);
                base += drop as u64;
            }
            Some(start) => {
                let rec_offset = base + start as u64;
                if let Some(len) =
                    memchr::memmem::find(buf.get(start..).unwrap_or_default(), b"</Event>")
                {
                    let end = start + len + b"</Event>".len();
                    let text = String::from_utf8_lossy(buf.get(start..end).unwrap_or_default());
                    let origin = Origin {
                        file: Some(file_arc.clone()),
                        offset: rec_offset,
                    };
                    match parse_record(&text, origin) {
                        Ok(ev) => {
                            produced += 1;
                            sink(Ok(ev));
                        }
                        Err(reason) => sink(Err(ReadError {
                            file: Some(file.to_path_buf()),
                            offset: rec_offset,
                            reason,
                        })),
                    }
                    buf.drain(..end);
                    base += end as u64;
                    continue;
                }
                if buf.len() - start > MAX_RECORD || eof {
                    sink(Err(ReadError {
                        file: Some(file.to_path_buf()),
                        offset: rec_offset,
                        reason: if eof {
                            "record not terminated by </Event>".into()
                        } else {
                            format!("record longer than {MAX_RECORD} bytes")
                        },
                    }));
                    // Skip this start tag and look for the next record.
                    let skip = start + 6;
                    buf.drain(..skip.min(buf.len()));
                    base += skip as u64;
                    continue;
                }
            }
        }
        if eof {
            continue;
        }
        let n = input.read(&mut chunk).map_err(|e| io_err(base, e))?;
        if n == 0 {
            eof = true;
        } else {
            buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// Offset of the next `<Event` start tag (not `<Events`, `<EventData`, ...).
pub(crate) fn find_event_start(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = memchr::memmem::find(buf.get(from..)?, b"<Event") {
        let at = from + p;
        match buf.get(at + 6) {
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') => return Some(at),
            // Not known yet: wait for more input by reporting nothing past here.
            None => return None,
            _ => from = at + 6,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4625</EventID><Level>0</Level><Task>12544</Task><Keywords>0x8010000000000000</Keywords><TimeCreated SystemTime='2024-05-01T10:00:00.1234567Z'/><EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID='620' ThreadID='700'/><Channel>Security</Channel><Computer>DC01.corp.local</Computer><Security/></System><EventData><Data Name='TargetUserName'>alice</Data><Data Name='IpAddress'>10.0.0.5</Data><Data Name='CommandLine'>a &amp; b</Data></EventData></Event>"#;

    #[test]
    fn security_record_flattens_like_evtx() {
        let ev = parse_record(RECORD, Origin::default()).unwrap();
        assert_eq!(ev.event_id, Some(4625));
        assert_eq!(ev.channel.as_deref(), Some("Security"));
        assert_eq!(ev.host.as_deref(), Some("DC01.corp.local"));
        assert_eq!(ev.record_id, Some(42));
        assert_eq!(ev.timestamp, Some(1_714_557_600_123));
        assert_eq!(
            ev.get("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(ev.get("ProcessID"), Some("620"));
        assert_eq!(ev.get("TargetUserName"), Some("alice"));
        assert_eq!(ev.get("CommandLine"), Some("a & b"));
        assert_eq!(ev.get("Keywords"), Some("0x8010000000000000"));
    }

    #[test]
    fn unnamed_data_and_user_data_leaves() {
        let xml = "<Event><System><EventID>104</EventID><Channel>System</Channel></System>\
            <UserData><LogFileCleared xmlns='x'><SubjectUserName>bob</SubjectUserName>\
            <Channel2>Application</Channel2></LogFileCleared></UserData>\
            <EventData><Data>one</Data><Data>two</Data></EventData></Event>";
        let ev = parse_record(xml, Origin::default()).unwrap();
        assert_eq!(ev.get("SubjectUserName"), Some("bob"));
        assert_eq!(ev.get("Data"), Some("one"));
        assert_eq!(ev.get("Data[1]"), Some("two"));
    }

    #[test]
    fn mismatched_tags_are_an_error() {
        assert!(parse_record("<Event><System></Event>", Origin::default()).is_err());
        assert!(parse_record("<Other/>", Origin::default()).is_err());
    }
}
