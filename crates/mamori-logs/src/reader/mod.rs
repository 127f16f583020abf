//! Log readers: each turns records of one format into [`Event`]s (see `event.rs` for the
//! field names) without losing the original text.
//!
//! CONTRACT shared by every reader (and used by `follow`, `listen`, the CLI):
//! - a reader hands each record to a sink as `Ok(Event)` or, for a record it cannot read,
//!   `Err(ReadError)` naming file and offset; it then goes on with the next record;
//! - only a failure to open or read the file at all ends a read early (`Err` return).
//!
//! `evtx` is the Windows EVTX reader; the text and XML/JSON readers live beside it.

pub mod evtx;

use crate::event::Event;
use std::path::PathBuf;

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
