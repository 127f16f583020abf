//! The crate's one error type. Each variant names what was being done and where.

use std::path::PathBuf;

/// What went wrong while scanning or loading scan data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid target URL {url:?}: {reason}")]
    InvalidTarget { url: String, reason: String },
    #[error("invalid scan configuration: {0}")]
    Config(String),
    #[error("{url}: not sent, it would leave the target host {host}")]
    OutOfScope { url: String, host: String },
    #[error("{url}: not sent, the budget of {max} requests is used up")]
    Budget { url: String, max: usize },
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: redirect loop back to {again}")]
    RedirectLoop { url: String, again: String },
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: String, max: usize },
    #[error("{addr}: {what} timed out")]
    Timeout { addr: String, what: &'static str },
    #[error("{addr}: {what}: {source}")]
    Io {
        addr: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {addr}: {reason}")]
    Tls { addr: String, reason: String },
    #[error("DNS TXT lookup of {name}: {reason}")]
    Dns { name: String, reason: String },
    #[error("vulnerability data {path}: {entry}: {reason}")]
    VulnDb {
        path: String,
        entry: String,
        reason: String,
    },
    #[error("template {path}: {reason}")]
    Template { path: PathBuf, reason: String },
    #[error("template {path}: unsupported feature `{feature}`, template skipped")]
    TemplateUnsupported { path: PathBuf, feature: String },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The error and its causes on one line: reqwest and io errors hide the useful part in
/// their sources ("connection refused", "certificate expired").
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    let mut depth = 0;
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
        depth += 1;
        if depth > 8 {
            break;
        }
    }
    out
}
