//! # mamori-forward
//!
//! The sensor side of `mamori up --role sensor`: alerts the engines publish on the bus are
//! written to a durable on-disk [`Spool`] and a [`Forwarder`] delivers them to the
//! provider's console over HTTPS (`POST {console}/api/v1/events`, NDJSON).
//!
//! The promise is "no loss": an engine that waits for a receipt
//! ([`mamori_core::bus::Publisher::publish_and_wait`]) is answered only once its alerts are
//! fsynced in the spool ([`spool_writer`]); the forwarder advances the spool's ack position
//! only after the console has answered 2xx for every line before it. Delivery is therefore
//! at-least-once; the console stores an alert id once, so a resend after a crash or a lost
//! answer is harmless.
//!
//! What it does not do: it does not parse or judge alerts (the console validates each line
//! and the forwarder acknowledges refused lines after logging them), and it does not know
//! about the console's view of "last contact and lag" beyond sending the `X-Mamori-*`
//! headers described in [`forward`].
//!
//! Memory is bounded whatever the console's state: the backlog lives on disk (capped, with
//! backpressure on the bus when full), and memory holds at most the in-flight batches.
//!
//! Shutdown order for the binary: stop the engines (dropping every bus publisher), let
//! [`spool_writer`] return, then resolve the forwarder's shutdown future; it makes one last
//! delivery attempt bounded by [`ForwardConfig::flush_deadline`].

pub mod bus;
pub mod forward;
pub mod spool;

pub use bus::spool_writer;
pub use forward::{ForwardConfig, ForwardStatus, Forwarder};
pub use spool::{Batch, Position, Spool, SpoolConfig, SpoolStats};

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool directory {0} is in use by another process")]
    Locked(PathBuf),
    #[error("the spool's writer has stopped after an earlier failure: {0}")]
    Broken(String),
    #[error("writing to the spool failed: {0}")]
    Write(String),
    #[error("the spool's writer has stopped")]
    Closed,
    #[error("line {line} of the events to spool is not one JSON value: {reason}")]
    InvalidLine { line: usize, reason: String },
    #[error("encoding alert {id} as JSON: {reason}")]
    Encode { id: String, reason: String },
    #[error("console URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("{name} {value:?} cannot be sent as an HTTP header")]
    Header { name: &'static str, value: String },
    #[error("building the HTTPS client: {0}")]
    Client(String),
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
