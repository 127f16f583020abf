//! The crate's one error type.

/// What went wrong, naming the input and where in it.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The database could not be opened, migrated, read or written.
    #[error("drill database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Creating the data directory failed.
    #[error("drill data directory {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The CSV as a whole is unusable (too big, no header, no e-mail column).
    #[error("CSV line {line}: {message}")]
    Csv { line: usize, message: String },
    /// No campaign with that id in the caller's scope.
    #[error("no campaign {0}")]
    NoCampaign(String),
    /// No group with that id in the tenant.
    #[error("no group {0}")]
    NoGroup(String),
    /// No built-in template with that id.
    #[error("no template {0}")]
    NoTemplate(String),
    /// A campaign setting is invalid (empty group, bad address or base URL).
    #[error("invalid campaign: {0}")]
    Invalid(String),
    /// A state change the campaign's current state does not allow.
    #[error("campaign {id} is {from}; cannot {action}")]
    Transition {
        id: String,
        from: &'static str,
        action: &'static str,
    },
    /// A forwarded report mail is over the size limit.
    #[error("report mail of {0} bytes is over the limit")]
    ReportTooBig(usize),
    /// A blocking database task was cancelled or panicked.
    #[error("database task failed: {0}")]
    Task(String),
}
