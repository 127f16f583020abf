//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong building a [`crate::Notifier`] or reading its log.
///
/// Delivery failures are not errors: they are [`crate::Outcome::Failed`] decisions, logged.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A configuration value is invalid. `rule` is the rule's name (or its position when
    /// the name itself is the problem); `None` for keys outside `[[notify.rules]]`.
    #[error("{}key `{key}`: {message}", rule.as_ref().map(|r| format!("notify rule {r:?}, ")).unwrap_or_default())]
    Config {
        rule: Option<String>,
        key: String,
        message: String,
    },
    /// Reading or writing the log directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The SMTP or HTTP client could not be built.
    #[error("building the {what} client: {message}")]
    Client { what: &'static str, message: String },
}

impl NotifyError {
    pub(crate) fn config(rule: Option<&str>, key: &str, message: impl Into<String>) -> Self {
        NotifyError::Config {
            rule: rule.map(str::to_string),
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NotifyError::Io {
            path: path.into(),
            source,
        }
    }
}
