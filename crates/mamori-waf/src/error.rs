//! The crate's errors: loading rules (with the file, line and offending word) and I/O.

/// An error loading or compiling rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A directive, variable, operator, transformation or action we cannot accept: where it
    /// is (`file:line`), the offending word and why.
    #[error("{file}:{line}: {word}: {reason}")]
    Load {
        file: String,
        line: usize,
        word: String,
        reason: String,
    },
    /// A file or directory that could not be read.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
        Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}
