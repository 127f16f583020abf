//! The crate's one error type.
//!
//! Only input that cannot be treated as a mail at all is an error; each variant says where
//! the input went wrong (byte offset, which part) so that the gateway's log and the CLI can
//! name it. Problems inside an attachment are not errors: they become notes in the report.

/// Why a message could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the message is empty (0 bytes)")]
    Empty,
    #[error("the message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("no header found: the input is not an RFC 5322 message (first bytes at offset 0: {start:?})")]
    NoHeader { start: String },
    #[error("the MIME parser failed on part {part} near byte offset {offset}: {reason}")]
    Parse {
        part: String,
        offset: usize,
        reason: String,
    },
    #[error("DNS resolver: {0}")]
    Resolver(String),
    #[error("clamd: {0}")]
    Clamd(String),
}
