//! Log readers: each turns records of one format into [`Event`]s (see `event.rs` for the
//! field names) without losing the original text.
//!
//! CONTRACT shared by every reader (and used by `follow`, `listen`, the CLI):
//! - a reader hands each record to a sink as `Ok(Event)` or, for a record it cannot read,
//!   `Err(ReadError)` naming file and offset; it then goes on with the next record;
//! - only a failure to open or read the file at all ends a read early (`Err` return).
//!
//! `evtx` is the Windows EVTX reader; the text and XML/JSON readers live beside it:
//! `winxml`/`winjson` (Windows events exported as XML or JSON), `syslog` (+ `program`: sshd,
//! sudo, PAM, Postfix, Dovecot, iptables/nftables), `web` (nginx/Apache), `squid`, `jsonl`
//! (JSON lines with a mapping). [`sniff`] tells the format from a file's name and first
//! lines, [`read_file`] reads a whole file (gzip'd rotations included), [`LineParser`] parses
//! one line at a time for `follow` and `listen`.
//!
//! Text logs: `record_id` is the 1-based line number, `origin.offset` the line's byte offset
//! (in the decompressed stream for `.gz`), lines longer than [`ReadOptions::max_line`] are
//! errors, not allocations. Files in UTF-16 (PowerShell 5's `Out-File` default) are not
//! decoded: convert them to UTF-8 first.

pub mod evtx;
mod gzip;
mod jsonl;
pub(crate) mod lines;
mod program;
mod squid;
mod syslog;
pub mod timestamp;
mod web;
mod winjson;
mod winxml;
mod xml;

pub use jsonl::JsonMapping;
pub use timestamp::local_offset;

use crate::event::{Event, Origin};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use time::UtcOffset;

/// A record (or chunk) that could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: offset {offset}: {reason}", file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "<input>".into()))]
pub struct ReadError {
    pub file: Option<PathBuf>,
    pub offset: u64,
    pub reason: String,
}

/// Where readers send what they read.
pub type Sink<'a> = dyn FnMut(Result<Event, ReadError>) + 'a;

/// Longest text line read by default; longer ones are reported and skipped.
pub const MAX_LINE: usize = 64 * 1024;

/// The log formats this crate reads. sshd/sudo/PAM, Postfix/Dovecot and firewall lines are
/// `Syslog`: the program-specific parsing recognises them inside syslog records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Evtx,
    WindowsXml,
    WindowsJson,
    Syslog,
    WebAccess,
    Squid,
    JsonLines,
}

impl Format {
    pub const ALL: [Format; 7] = [
        Format::Evtx,
        Format::WindowsXml,
        Format::WindowsJson,
        Format::Syslog,
        Format::WebAccess,
        Format::Squid,
        Format::JsonLines,
    ];

    /// The `--format` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::WindowsXml => "windows-xml",
            Format::WindowsJson => "windows-json",
            Format::Syslog => "syslog",
            Format::WebAccess => "web-access",
            Format::Squid => "squid",
            Format::JsonLines => "json-lines",
        }
    }

    /// Formats read one line (or one network message) at a time.
    pub fn is_line_based(self) -> bool {
        self != Format::Evtx
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--format` values: the names of [`Format::as_str`] and a few obvious aliases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?} (one of: evtx, windows-xml, windows-json, syslog, web-access, squid, json-lines)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Format, UnknownFormat> {
        let f = match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "evtx" => Format::Evtx,
            "windows-xml" | "xml" | "winxml" => Format::WindowsXml,
            "windows-json" | "winjson" | "winlogbeat" | "nxlog" => Format::WindowsJson,
            "syslog" | "auth" | "auth.log" | "mail" | "maillog" | "firewall" | "kern"
            | "journal" => Format::Syslog,
            "web-access" | "web" | "access" | "nginx" | "apache" | "combined" | "common" => {
                Format::WebAccess
            }
            "squid" => Format::Squid,
            "json-lines" | "json" | "jsonl" | "ndjson" => Format::JsonLines,
            _ => return Err(UnknownFormat(s.to_string())),
        };
        Ok(f)
    }
}

/// How text records are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Offset for times logged without a zone (BSD syslog, NXLog `EventTime`, ...).
    pub utc_offset: UtcOffset,
    /// "Now" for year-less syslog times, ms since the epoch; `None` reads the clock.
    pub now_ms: Option<i64>,
    /// Mapping for [`Format::JsonLines`].
    pub json_mapping: JsonMapping,
    /// Longest line accepted.
    pub max_line: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            utc_offset: local_offset(),
            now_ms: None,
            json_mapping: JsonMapping::default(),
            max_line: MAX_LINE,
        }
    }
}

/// Parses single lines (or network messages) of one text format.
#[derive(Debug, Clone)]
pub struct LineParser {
    format: Format,
    opts: ReadOptions,
}

impl LineParser {
    pub fn new(format: Format, opts: ReadOptions) -> LineParser {
        LineParser { format, opts }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn options(&self) -> &ReadOptions {
        &self.opts
    }

    /// One line to an event; `None` for lines that hold no record (blank lines, the XML
    /// prolog and `<Events>` wrapper). `line_no` becomes `record_id` unless the record has
    /// its own (Windows `EventRecordID`).
    pub fn parse(
        &self,
        line: &str,
        origin: Origin,
        line_no: Option<u64>,
    ) -> Option<Result<Event, ReadError>> {
        let text = line
            .trim_start_matches('\u{feff}')
            .trim_end_matches(['\r', '\n']);
        if text.trim().is_empty() {
            return None;
        }
        let offset = origin.offset;
        let file = origin.file.as_deref().cloned();
        let o = self.opts.utc_offset;
        let result = match self.format {
            Format::Evtx => Err("EVTX is a binary format; read it with read_file".to_string()),
            Format::WindowsXml => {
                // Only `<Event` itself starts a record (not `<Events>`, the wrapper).
                let start = winxml::find_event_start(text.as_bytes())?;
                let rest = text.get(start..).unwrap_or_default();
                let end = rest.find("</Event>").map(|e| e + 8).unwrap_or(rest.len());
                let origin = Origin {
                    offset: offset + start as u64,
                    ..origin
                };
                winxml::parse_record(rest.get(..end).unwrap_or(rest), origin)
            }
            Format::WindowsJson => winjson::parse_line(text, origin, o),
            Format::Syslog => {
                let now = self.opts.now_ms.unwrap_or_else(timestamp::now_ms);
                syslog::parse(text, origin, o, now).map(|mut ev| {
                    program::refine(&mut ev);
                    ev
                })
            }
            Format::WebAccess => web::parse(text, origin),
            Format::Squid => squid::parse(text, origin),
            Format::JsonLines => jsonl::parse(text, origin, &self.opts.json_mapping, o),
        };
        Some(match result {
            Ok(mut ev) => {
                if ev.record_id.is_none() {
                    ev.record_id = line_no;
                }
                Ok(ev)
            }
            Err(reason) => Err(ReadError {
                file,
                offset,
                reason: match line_no {
                    Some(n) => format!("line {n}: {reason}"),
                    None => reason,
                },
            }),
        })
    }
}

/// One line of a text format with default options (the machine's offset, the clock, the
/// default JSON mapping); `record_id` is left unset.
pub fn parse_line(format: Format, line: &str, origin: Origin) -> Option<Result<Event, ReadError>> {
    LineParser::new(format, ReadOptions::default()).parse(line, origin, None)
}

/// The file name with rotation suffixes removed: `auth.log.2.gz` → `auth.log`,
/// `messages-20240501` → `messages`.
fn base_name(path: &Path) -> String {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    loop {
        let before = name.len();
        for suffix in [".gz", ".old", ".bak"] {
            if let Some(n) = name.strip_suffix(suffix) {
                name = n.to_string();
            }
        }
        if let Some((stem, tail)) = name.rsplit_once(['.', '-']) {
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) && !stem.is_empty() {
                name = stem.to_string();
            }
        }
        if name.len() == before {
            return name;
        }
    }
}

/// The format a file name alone suggests.
fn format_from_name(name: &str) -> Option<Format> {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "evtx" => return Some(Format::Evtx),
        "xml" => return Some(Format::WindowsXml),
        "json" | "jsonl" | "ndjson" => return Some(Format::JsonLines),
        _ => {}
    }
    const SYSLOG: [&str; 11] = [
        "auth.log",
        "secure",
        "maillog",
        "mail.log",
        "mail.err",
        "mail.warn",
        "kern.log",
        "ufw.log",
        "messages",
        "syslog",
        "daemon.log",
    ];
    if SYSLOG.contains(&name) || name.ends_with("syslog") {
        return Some(Format::Syslog);
    }
    if name.contains("access") {
        return Some(Format::WebAccess);
    }
    None
}

/// The format of a file's first bytes, with the name's hint to break ties (`head` is
/// already decompressed).
pub fn sniff_content(name_hint: Option<Format>, head: &[u8]) -> Option<Format> {
    if head.starts_with(b"ElfFile\0") {
        return Some(Format::Evtx);
    }
    if name_hint == Some(Format::Evtx) || name_hint == Some(Format::WindowsXml) {
        return name_hint;
    }
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}');
    let first = text.trim_start();
    if first.starts_with("<?xml") || first.starts_with("<Events") || first.starts_with("<Event ") {
        return Some(Format::WindowsXml);
    }
    // Look at the first few complete lines (the head may cut the last one).
    let complete = match text.rfind('\n') {
        Some(p) if head.len() >= 4096 => text.get(..p).unwrap_or(text),
        _ => text,
    };
    let opts = ReadOptions {
        utc_offset: UtcOffset::UTC,
        ..ReadOptions::default()
    };
    for line in complete.lines().filter(|l| !l.trim().is_empty()).take(5) {
        let line = line.trim();
        if line.starts_with('{') {
            let v: Option<serde_json::Value> = serde_json::from_str(line).ok();
            let has = |k: &str| v.as_ref().is_some_and(|v| v.get(k).is_some());
            if has("winlog") || has("Event") || has("EventID") {
                return Some(Format::WindowsJson);
            }
            if has("__REALTIME_TIMESTAMP") || (has("MESSAGE") && has("SYSLOG_IDENTIFIER")) {
                return Some(Format::Syslog);
            }
            if v.is_some() {
                return Some(Format::JsonLines);
            }
            continue;
        }
        for f in [Format::Squid, Format::WebAccess, Format::Syslog] {
            if let Some(Ok(_)) =
                LineParser::new(f, opts.clone()).parse(line, Origin::default(), None)
            {
                return Some(f);
            }
        }
    }
    name_hint
}

/// Opens a file, transparently decompressing gzip; tells whether it was compressed.
fn open(path: &Path) -> io::Result<(Box<dyn Read>, bool)> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    let n = read_full(&mut f, &mut magic)?;
    use std::io::Seek;
    f.seek(io::SeekFrom::Start(0))?;
    if n == 2 && magic == gzip::MAGIC {
        Ok((Box::new(gzip::GzDecoder::new(BufReader::new(f))), true))
    } else {
        Ok((Box::new(f), false))
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The format of a file, from its name and first bytes; `None` if it is not recognised.
pub fn sniff(path: &Path) -> io::Result<Option<Format>> {
    let hint = format_from_name(&base_name(path));
    let (mut r, _) = open(path)?;
    let mut head = vec![0u8; 8192];
    let n = match read_full(&mut r, &mut head) {
        Ok(n) => n,
        // A corrupt .gz tells nothing by content; the name may still.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(hint),
        Err(e) => return Err(e),
    };
    head.truncate(n);
    Ok(sniff_content(hint, &head))
}

/// Reads a whole file with default options; see [`read_file_with`].
pub fn read_file(
    path: &Path,
    format: Option<Format>,
    sink: &mut Sink<'_>,
) -> Result<u64, ReadError> {
    read_file_with(path, format, &ReadOptions::default(), sink)
}

/// Reads every record of a file into the sink (its format sniffed when `None`) and returns
/// the number of events produced. Bad records are `Err`s in the sink; only a file that cannot
/// be opened, recognised or read ends the read early.
pub fn read_file_with(
    path: &Path,
    format: Option<Format>,
    opts: &ReadOptions,
    sink: &mut Sink<'_>,
) -> Result<u64, ReadError> {
    let fail = |offset: u64, reason: String| ReadError {
        file: Some(path.to_path_buf()),
        offset,
        reason,
    };
    let format = match format {
        Some(f) => f,
        None => sniff(path)
            .map_err(|e| fail(0, format!("cannot open: {e}")))?
            .ok_or_else(|| fail(0, "log format not recognised; name it with --format".into()))?,
    };
    let (input, compressed) = open(path).map_err(|e| fail(0, format!("cannot open: {e}")))?;
    match format {
        Format::Evtx if compressed => Err(fail(
            0,
            "compressed EVTX is not supported; decompress it first".into(),
        )),
        Format::Evtx => evtx::read(path, sink),
        Format::WindowsXml => winxml::read_stream(input, path, sink),
        _ => read_lines(input, path, LineParser::new(format, opts.clone()), sink),
    }
}

fn read_lines(
    input: Box<dyn Read>,
    path: &Path,
    parser: LineParser,
    sink: &mut Sink<'_>,
) -> Result<u64, ReadError> {
    let file = Arc::new(path.to_path_buf());
    let mut lines = lines::Lines::new(
        BufReader::with_capacity(64 * 1024, input),
        0,
        0,
        parser.opts.max_line,
        true,
    );
    let mut produced = 0;
    loop {
        let line = lines.next_line().map_err(|e| ReadError {
            file: Some(path.to_path_buf()),
            offset: lines.offset(),
            reason: format!("read error: {e}"),
        })?;
        match line {
            None => return Ok(produced),
            Some(lines::Line::TooLong {
                offset,
                number,
                len,
            }) => sink(Err(ReadError {
                file: Some(path.to_path_buf()),
                offset,
                reason: format!(
                    "line {number}: {len} bytes, longer than the {} limit",
                    parser.opts.max_line
                ),
            })),
            Some(lines::Line::Text {
                offset,
                number,
                bytes,
            }) => {
                let text = String::from_utf8_lossy(&bytes);
                let origin = Origin {
                    file: Some(file.clone()),
                    offset,
                };
                match parser.parse(&text, origin, Some(number)) {
                    Some(Ok(ev)) => {
                        produced += 1;
                        sink(Ok(ev));
                    }
                    Some(Err(e)) => sink(Err(e)),
                    None => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_suffixes_are_ignored_in_names() {
        assert_eq!(base_name(Path::new("/var/log/auth.log.2.gz")), "auth.log");
        assert_eq!(base_name(Path::new("messages-20240501")), "messages");
        assert_eq!(base_name(Path::new("access.log.1")), "access.log");
        assert_eq!(base_name(Path::new("Security.evtx")), "security.evtx");
    }

    #[test]
    fn format_names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert_eq!("nginx".parse::<Format>(), Ok(Format::WebAccess));
        assert!("foo".parse::<Format>().is_err());
    }
}
