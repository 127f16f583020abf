//! The crate's error type.
//!
//! Rule-level problems (a bad option, an unsupported keyword) are not errors of the whole
//! load: they become [`crate::Skipped`] entries and the rest of the file still loads. The
//! [`Error`] enum covers what the caller asks for directly: setting a variable, or a single
//! rule parsed on its own with [`crate::parse_rule`].

use thiserror::Error;

/// What went wrong, with the input's location.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// A variable value (address or port group) that does not parse.
    #[error("variable ${name}: {reason}")]
    InvalidVariable { name: String, reason: String },
    /// A rule that could not be loaded: syntax error or unsupported keyword.
    #[error("{file}:{line}: {}{reason}", keyword.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Rule {
        file: String,
        line: usize,
        keyword: Option<String>,
        reason: String,
    },
}

/// A problem with one rule, before the file and line are attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleError {
    /// The keyword whose value is wrong or which is not supported; `None` for header errors.
    pub keyword: Option<String>,
    pub reason: String,
}

impl RuleError {
    pub fn new(keyword: impl Into<String>, reason: impl Into<String>) -> Self {
        RuleError {
            keyword: Some(keyword.into()),
            reason: reason.into(),
        }
    }

    pub fn header(reason: impl Into<String>) -> Self {
        RuleError {
            keyword: None,
            reason: reason.into(),
        }
    }
}

/// Shorthand for option parsers.
pub(crate) type RResult<T> = Result<T, RuleError>;

/// Build a [`RuleError`] for `keyword` with a formatted reason.
macro_rules! bail {
    ($kw:expr, $($fmt:tt)*) => {
        return Err($crate::error::RuleError::new($kw, format!($($fmt)*)))
    };
}
pub(crate) use bail;
