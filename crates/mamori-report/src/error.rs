//! The one error type of this crate: what went wrong, and with which file or program.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("unknown report language {0:?} (expected ja or en)")]
    UnknownLanguage(String),

    #[error("invalid month {input:?}: {reason} (expected YYYY-MM, e.g. 2026-10)")]
    InvalidMonth { input: String, reason: &'static str },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot prepare {path}: {source}")]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot encode the report data as JSON: {0}")]
    Json(#[from] serde_json::Error),

    #[error("cannot start {program}: {source}")]
    ChromiumStart {
        program: PathBuf,
        source: std::io::Error,
    },

    #[error("{program} did not finish printing within {seconds} s and was stopped; stderr ends with:\n{stderr_tail}")]
    ChromiumTimeout {
        program: PathBuf,
        seconds: u64,
        stderr_tail: String,
    },

    #[error("{program} failed ({status}) printing {html}; stderr ends with:\n{stderr_tail}")]
    ChromiumFailed {
        program: PathBuf,
        html: PathBuf,
        status: String,
        stderr_tail: String,
    },

    #[error("{program} exited without writing a PDF to {pdf}; stderr ends with:\n{stderr_tail}")]
    NoPdfWritten {
        program: PathBuf,
        pdf: PathBuf,
        stderr_tail: String,
    },
}
