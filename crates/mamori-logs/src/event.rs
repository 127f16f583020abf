//! The normalized log event every reader produces and every analytic and Sigma rule reads.
//!
//! One [`Event`] per log record: when it happened, on which host, which reader produced it,
//! a flat list of named fields, and the original record text (never lost, shown as evidence).
//!
//! ## Field naming (the contract between readers, Sigma and the built-in analytics)
//!
//! **Windows events** (EVTX, XML exports, winlogbeat/NXLog JSON) are flattened the way
//! Hayabusa and Chainsaw present them to SigmaHQ rules:
//! - `System` children under their own names: `EventID`, `Channel`, `Computer`,
//!   `Provider_Name` (the `Name` attribute of `Provider`), `EventRecordID`, `Level`, `Task`,
//!   `Keywords`, `TimeCreated` (the `SystemTime` attribute), `ProcessID`/`ThreadID`
//!   (`Execution` attributes), `UserID` (`Security` attribute);
//! - every `EventData`/`UserData` item under its `Name` (`TargetUserName`, `IpAddress`,
//!   `CommandLine`, `Image`, ...); unnamed `Data` items as `Data` (the first) and `Data[1]`,
//!   `Data[2]`...; nested `UserData` elements by their leaf element name.
//!
//! **Everything else** uses these names where they apply (a reader adds any others it has):
//! `src_ip`, `src_port`, `dst_ip`, `dst_port`, `proto`, `user`, `action` (e.g. `accept`,
//! `drop`, `failure`, `success`), `program` (syslog app name), `pid`, `message`, `facility`,
//! `severity`; web/proxy access logs: `method`, `uri` (path and query as logged), `path`,
//! `query`, `status`, `bytes` (response size), `bytes_out` (request size, proxies), `referer`,
//! `user_agent`, `host` (virtual host or destination host name), `url` (full URL for proxies),
//! `dst_host`, `duration_ms`, `cache` (Squid result code, e.g. `TCP_MISS`).
//!
//! All values are strings as logged; numeric comparisons parse them when needed.

use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Which reader produced an event (the `source` of a timeline line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Evtx,
    WindowsXml,
    WindowsJson,
    Syslog,
    WebAccess,
    Squid,
    Auth,
    MailAuth,
    Firewall,
    JsonLines,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Evtx => "evtx",
            SourceKind::WindowsXml => "windows_xml",
            SourceKind::WindowsJson => "windows_json",
            SourceKind::Syslog => "syslog",
            SourceKind::WebAccess => "web_access",
            SourceKind::Squid => "squid",
            SourceKind::Auth => "auth",
            SourceKind::MailAuth => "mail_auth",
            SourceKind::Firewall => "firewall",
            SourceKind::JsonLines => "json_lines",
        }
    }
}

/// Where a record came from: the file (or listener) and the byte offset or record number in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The file read, or `None` for a network listener.
    pub file: Option<Arc<PathBuf>>,
    /// Byte offset of the record in a text file, or of its chunk in an EVTX file.
    pub offset: u64,
}

/// One normalized log record.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// When it happened, milliseconds since the Unix epoch (UTC); `None` when the record has no
    /// usable time (the reader logs why).
    pub timestamp: Option<i64>,
    /// The host that logged it (`Computer` for Windows, the syslog host, the proxy's name).
    pub host: Option<String>,
    pub source: SourceKind,
    /// Windows channel (`Security`, `System`, `Microsoft-Windows-Sysmon/Operational`, ...).
    pub channel: Option<String>,
    /// Windows event id.
    pub event_id: Option<u32>,
    /// Windows `EventRecordID`, or the 1-based line number of a text log.
    pub record_id: Option<u64>,
    /// The named fields, in record order (see the module doc for the names).
    pub fields: Fields,
    /// The original record: the XML or JSON of a Windows event, the line of a text log.
    pub raw: String,
    pub origin: Origin,
}

impl Event {
    /// The value of field `name` (exact name), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name)
    }
}

/// Named string fields, kept in record order. Events have tens of fields, so a linear scan
/// beats hashing; names compare exactly (Sigma field names are matched case-insensitively by
/// the Sigma engine itself via [`Fields::get_ignore_case`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_ignore_case(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
