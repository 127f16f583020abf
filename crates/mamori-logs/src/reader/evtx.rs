//! Windows EVTX files, through the `evtx` crate's compact JSON rendering of each record,
//! flattened straight into the field names SigmaHQ rules use (see `event.rs`).
//!
//! Speed matters here (a hunt reads millions of records): the JSON text the crate renders is
//! kept as the event's `raw` and walked once by a serde visitor that pushes fields as it goes,
//! without building a `serde_json::Value` tree and without serializing anything twice.
//!
//! A chunk or record the crate cannot parse is an `Err` in the sink naming the file and the
//! byte offset of the chunk (or the record ordinal when the crate does not say which chunk);
//! reading goes on with the next one. This reader does not follow files (see `follow`) and
//! does not use the crate's `multithreading` feature: callers parallelize across files.
//!
//! `Origin::offset` of an event is the record's ordinal in the file (0-based): the crate's
//! record iterator does not expose chunk positions.

use super::{ReadError, Sink};
use crate::event::{Event, Fields, Origin, SourceKind};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// EVTX file header size and chunk size, to turn a chunk number into a byte offset.
const FILE_HEADER: u64 = 4096;
const CHUNK: u64 = 65536;

/// Reads every record of `path` into `sink`; returns the number of events produced.
pub fn read(path: &Path, sink: &mut Sink<'_>) -> Result<u64, ReadError> {
    let settings = evtx::ParserSettings::default().indent(false).num_threads(1);
    let mut parser = evtx::EvtxParser::from_path(path)
        .map_err(|e| ReadError {
            file: Some(path.to_path_buf()),
            offset: 0,
            reason: format!("not a readable EVTX file: {}", chain(&e)),
        })?
        .with_configuration(settings);
    let file = Arc::new(path.to_path_buf());
    let mut n = 0u64;
    for (i, record) in parser.records_json().enumerate() {
        match record {
            Ok(r) => {
                let mut ev = from_json_text(r.data, SourceKind::Evtx);
                // The record's own TimeCreated: the crate's per-record timestamp lags by one
                // record on some files (and is zero on the last).
                ev.timestamp = ev
                    .get("TimeCreated")
                    .and_then(|t| {
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .ok()
                    })
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                    .or_else(|| Some(r.timestamp.as_millisecond()));
                ev.record_id = Some(r.event_record_id);
                ev.origin = Origin {
                    file: Some(file.clone()),
                    offset: i as u64,
                };
                n += 1;
                sink(Ok(ev));
            }
            Err(e) => sink(Err(ReadError {
                file: Some(path.to_path_buf()),
                offset: error_offset(&e).unwrap_or(i as u64),
                reason: format!("record {}: {}", i + 1, chain(&e)),
            })),
        }
    }
    Ok(n)
}

/// The byte offset an `evtx` error points at, when it names a chunk.
fn error_offset(e: &evtx::err::EvtxError) -> Option<u64> {
    use evtx::err::EvtxError as E;
    match e {
        E::FailedToParseChunk { chunk_id, .. } => {
            Some(FILE_HEADER.saturating_add(chunk_id.saturating_mul(CHUNK)))
        }
        E::FailedToReadRecordAt {
            chunk: Some(c),
            offset,
            ..
        } => Some(
            FILE_HEADER
                .saturating_add(c.saturating_mul(CHUNK))
                .saturating_add(*offset),
        ),
        _ => None,
    }
}

/// An error and its sources on one line (the crate's top-level messages say little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    let mut depth = 0;
    while let Some(c) = cur {
        if depth >= 8 {
            break;
        }
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
        depth += 1;
    }
    s
}

/// A Windows event rendered by the `evtx` crate as JSON text → Event (`raw` is that text).
/// Text that is not JSON gives an event with no fields (the raw text is kept).
pub fn from_json_text(text: String, source: SourceKind) -> Event {
    let mut fields = Fields::default();
    let mut de = serde_json::Deserializer::from_str(&text);
    // A malformed record keeps whatever fields came before the fault.
    let _ = Walk {
        ctx: Ctx::Root,
        out: &mut fields,
        depth: 0,
    }
    .deserialize(&mut de);
    finish(fields, text, source)
}

/// A Windows event as a JSON value (`{"Event": {"System": …, "EventData": …}}`) → Event.
pub fn from_json(data: &Value, source: SourceKind) -> Event {
    let mut fields = Fields::default();
    let _ = Walk {
        ctx: Ctx::Root,
        out: &mut fields,
        depth: 0,
    }
    .deserialize(data);
    finish(fields, data.to_string(), source)
}

fn finish(fields: Fields, raw: String, source: SourceKind) -> Event {
    Event {
        timestamp: None,
        host: fields.get("Computer").map(str::to_string),
        source,
        channel: fields.get("Channel").map(str::to_string),
        event_id: fields.get("EventID").and_then(|e| e.trim().parse().ok()),
        record_id: fields
            .get("EventRecordID")
            .and_then(|r| r.trim().parse().ok()),
        fields,
        raw,
        origin: Origin::default(),
    }
}

/// Deepest nesting flattened (UserData can nest a few levels; deeper is ignored).
const MAX_DEPTH: usize = 12;
/// Most fields kept from one record (a bound against hostile input).
const MAX_FIELDS: usize = 1000;

/// Where in the record the walker is.
#[derive(Clone, Copy)]
enum Ctx<'n> {
    /// The top-level object (holding `Event`).
    Root,
    /// Inside `Event`.
    Event,
    /// Inside `System`.
    System,
    /// A `System` child element named `.0` (scalar, or `#attributes`/`#text`).
    SystemChild(&'n str),
    /// The `#attributes` of `System` child `.0`.
    SystemAttrs(&'n str),
    /// A value under `EventData`/`UserData`, pushed under name `.0`.
    Data(&'n str),
    /// Unnamed items (`#text` of `Data`): `Data`, `Data[1]`, ...
    Unnamed(&'n str),
}

struct Walk<'a, 'n> {
    ctx: Ctx<'n>,
    out: &'a mut Fields,
    depth: usize,
}

impl Walk<'_, '_> {
    fn push(&mut self, value: String) {
        if self.out.len() >= MAX_FIELDS {
            return;
        }
        match self.ctx {
            Ctx::SystemChild(name) | Ctx::Data(name) => self.out.push(name, value),
            Ctx::Unnamed(name) => {
                let n = self.out.iter().filter(|(k, _)| unnamed_of(k, name)).count();
                if n == 0 {
                    self.out.push(name, value);
                } else {
                    self.out.push(format!("{name}[{n}]"), value);
                }
            }
            Ctx::Root | Ctx::Event | Ctx::System | Ctx::SystemAttrs(_) => {}
        }
    }
}

/// Whether `key` is `name` or `name[i]`.
fn unnamed_of(key: &str, name: &str) -> bool {
    match key.strip_prefix(name) {
        Some("") => true,
        Some(rest) => rest.starts_with('[') && rest.ends_with(']'),
        None => false,
    }
}

/// `System` child attributes under the names SigmaHQ rules use (as the XML reader names them).
fn system_attr_name(element: &str, attr: &str) -> String {
    match (element, attr) {
        ("Provider", "Name") => "Provider_Name".into(),
        ("Provider", "Guid") => "Provider_Guid".into(),
        ("Provider", "EventSourceName") => "EventSourceName".into(),
        ("TimeCreated", "SystemTime") => "TimeCreated".into(),
        ("Execution", a @ ("ProcessID" | "ThreadID")) => a.into(),
        ("Security", "UserID") => "UserID".into(),
        ("Correlation", a @ ("ActivityID" | "RelatedActivityID")) => a.into(),
        ("EventID", "Qualifiers") => "Qualifiers".into(),
        (e, a) => format!("{e}_{a}"),
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Windows event rendered as JSON")
    }

    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_string<E>(mut self, v: String) -> Result<(), E> {
        self.push(v);
        Ok(())
    }
    fn visit_u64<E>(mut self, v: u64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_i64<E>(mut self, v: i64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_f64<E>(mut self, v: f64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_bool<E>(mut self, v: bool) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_unit<E>(mut self) -> Result<(), E> {
        // An empty EventData item is present and empty; an empty System element is absent.
        if matches!(self.ctx, Ctx::Data(_) | Ctx::Unnamed(_)) {
            self.push(String::new());
        }
        Ok(())
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Repeated elements: the first under the name, then `name[1]`, `name[2]`...
        let ctx = match self.ctx {
            Ctx::Data(n) | Ctx::Unnamed(n) => Ctx::Unnamed(n),
            _ => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
        };
        while seq
            .next_element_seed(Walk {
                ctx,
                out: &mut *self.out,
                depth: self.depth + 1,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth >= MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key: &str = &key;
            let child = match (self.ctx, key) {
                (Ctx::Root, "Event") => Some(Ctx::Event),
                (Ctx::Event, "System") => Some(Ctx::System),
                (Ctx::Event, "EventData" | "UserData") => Some(Ctx::Data(key)),
                (Ctx::System, _) => Some(Ctx::SystemChild(key)),
                (Ctx::SystemChild(e), "#attributes") => Some(Ctx::SystemAttrs(e)),
                (Ctx::SystemChild(e), "#text") => Some(Ctx::SystemChild(e)),
                (Ctx::SystemAttrs(e), a) => {
                    let name = system_attr_name(e, a);
                    let mut value = String::new();
                    map.next_value_seed(Scalar(&mut value))?;
                    if !value.is_empty() && self.out.len() < MAX_FIELDS {
                        self.out.push(name, value);
                    }
                    continue;
                }
                (Ctx::Data(_) | Ctx::Unnamed(_), "#attributes") => None,
                (Ctx::Data(n) | Ctx::Unnamed(n), "#text") => Some(Ctx::Unnamed(n)),
                (Ctx::Data(_) | Ctx::Unnamed(_), _) => Some(Ctx::Data(key)),
                _ => None,
            };
            match child {
                Some(ctx) => map.next_value_seed(Walk {
                    ctx,
                    out: &mut *self.out,
                    depth: self.depth + 1,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads one scalar as text (objects and arrays read as empty).
struct Scalar<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for Scalar<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scalar<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        *self.0 = v.to_string();
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        *self.0 = v.to_string();
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        *self.0 = v.to_string();
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        *self.0 = v.to_string();
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECURITY_4625: &str = r##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625}"}},
        "EventID":4625,"Level":0,"Correlation":null,"Channel":"Security","Computer":"DC01","EventRecordID":77,
        "Execution":{"#attributes":{"ProcessID":612,"ThreadID":4}},"Security":null,
        "TimeCreated":{"#attributes":{"SystemTime":"2026-11-23T01:02:03Z"}}},
        "EventData":{"TargetUserName":"admin","IpAddress":"203.0.113.5","LogonType":3,"Empty":null}}}"##;

    #[test]
    fn windows_json_flattens_to_sigma_field_names() {
        let e = from_json_text(SECURITY_4625.to_string(), SourceKind::Evtx);
        assert_eq!(e.event_id, Some(4625));
        assert_eq!(e.record_id, Some(77));
        assert_eq!(e.channel.as_deref(), Some("Security"));
        assert_eq!(e.host.as_deref(), Some("DC01"));
        assert_eq!(e.get("TargetUserName"), Some("admin"));
        assert_eq!(e.get("LogonType"), Some("3"));
        assert_eq!(e.get("Empty"), Some(""));
        assert_eq!(e.get("ProcessID"), Some("612"));
        assert_eq!(e.get("TimeCreated"), Some("2026-11-23T01:02:03Z"));
        assert_eq!(e.get("Correlation"), None);
        assert_eq!(
            e.get("Provider_Name"),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(e.raw, SECURITY_4625);
    }

    #[test]
    fn event_id_with_qualifiers_and_unnamed_data_items() {
        let q = r##"{"Event":{"System":{"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045}},"EventData":{"Data":{"#text":["a","b","c"]},"Binary":"00"}}}"##;
        let e = from_json_text(q.to_string(), SourceKind::Evtx);
        assert_eq!(e.event_id, Some(7045));
        assert_eq!(e.get("Qualifiers"), Some("16384"));
        assert_eq!(e.get("Data"), Some("a"));
        assert_eq!(e.get("Data[1]"), Some("b"));
        assert_eq!(e.get("Data[2]"), Some("c"));
        assert_eq!(e.get("Binary"), Some("00"));
        let v: Value = serde_json::from_str(q).unwrap();
        assert_eq!(
            from_json(&v, SourceKind::WindowsJson).get("Data[2]"),
            Some("c")
        );
    }

    #[test]
    fn user_data_is_flattened_by_leaf_element_name() {
        let q = r##"{"Event":{"System":{"EventID":1102,"Channel":"Security"},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"y"},"SubjectUserName":"bob","SubjectDomainName":"CORP"}}}}"##;
        let e = from_json_text(q.to_string(), SourceKind::Evtx);
        assert_eq!(e.get("SubjectUserName"), Some("bob"));
        assert_eq!(e.get("SubjectDomainName"), Some("CORP"));
        assert_eq!(e.get("xmlns"), None);
    }

    #[test]
    fn malformed_json_keeps_the_raw_text() {
        let e = from_json_text(
            "{\"Event\":{\"System\":{\"EventID\":4".into(),
            SourceKind::Evtx,
        );
        assert!(e.raw.starts_with("{\"Event\""));
        assert_eq!(e.channel, None);
    }

    #[test]
    fn a_file_that_is_not_evtx_is_an_error_naming_it() {
        let p = mamori_core::scratch::dir("evtx").join("not-evtx.evtx");
        std::fs::write(&p, b"hello").unwrap();
        let e = read(&p, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("not-evtx"), "{e}");
        let _ = std::fs::remove_file(p);
    }

    /// Damages one chunk of a real multi-chunk sample: the reader reports it at the chunk's
    /// offset and still reads the other chunks.
    #[test]
    fn a_corrupt_chunk_is_reported_and_the_rest_is_read() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/logs/evtx-attack-samples"
        ));
        let mut found = None;
        for sub in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(sub.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if f.path().extension().is_some_and(|x| x == "evtx")
                    && len > FILE_HEADER + 3 * CHUNK
                {
                    found = Some(f.path());
                }
            }
        }
        let Some(sample) = found else {
            eprintln!("note: no multi-chunk EVTX under {}, skipped", dir.display());
            return;
        };
        let mut bytes = std::fs::read(&sample).unwrap();
        let mut clean = 0u64;
        read(&sample, &mut |r| clean += u64::from(r.is_ok())).unwrap();
        // Chunk 1's magic ("ElfChnk") overwritten.
        let at = (FILE_HEADER + CHUNK) as usize;
        bytes[at..at + 8].copy_from_slice(b"garbage!");
        let p = std::env::temp_dir().join(format!("corrupt-{}.evtx", std::process::id()));
        std::fs::write(&p, &bytes).unwrap();
        let (mut ok, mut errs) = (0u64, Vec::new());
        read(&p, &mut |r| match r {
            Ok(_) => ok += 1,
            Err(e) => errs.push(e),
        })
        .unwrap();
        let _ = std::fs::remove_file(&p);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].offset, FILE_HEADER + CHUNK);
        assert!(ok > 0 && ok < clean, "{ok} of {clean}");
    }

    #[test]
    fn attack_samples_read_without_errors_when_present() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/testdata/logs/evtx-attack-samples"
        ));
        let Ok(rd) = std::fs::read_dir(dir) else {
            eprintln!("note: {} absent, skipped", dir.display());
            return;
        };
        // One directory's worth is enough for a unit test; the example reads them all.
        let Some(sub) = rd.flatten().map(|e| e.path()).find(|p| p.is_dir()) else {
            return;
        };
        let mut events = 0;
        for f in std::fs::read_dir(&sub).into_iter().flatten().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|x| x == "evtx") {
                read(&p, &mut |r| match r {
                    Ok(e) => {
                        assert!(e.event_id.is_some() && e.channel.is_some(), "{}", e.raw);
                        events += 1;
                    }
                    Err(e) => panic!("{e}"),
                })
                .unwrap();
            }
        }
        assert!(events > 0);
    }
}
