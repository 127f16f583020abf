//! The SecLang rule engine: ModSecurity's rule language as OWASP CRS v3 and v4 write it.
//!
//! [`RuleSet::load`] reads a CRS directory (its `crs-setup.conf`, else the `.example`, then
//! `rules/*.conf`) or one `.conf` that includes the rest, and compiles every rule once:
//! targets, operators (regexes, phrase sets), transformations, actions. A directive, variable,
//! operator, transformation or action we do not support is an error naming file, line and word.
//!
//! A [`Transaction`] runs one request through the phases — 1 request headers, 2 request body,
//! 3 response headers, 4 response body, 5 logging — with CRS's own anomaly scoring (`setvar` on
//! `tx.*`, the 949/959 rules deny on the score), chains, `skipAfter`/`SecMarker`, `ctl:` rule
//! removals and body processors. In `DetectionOnly` it records what it would have done.

pub mod body;
mod compile;
pub mod operator;
pub mod parse;
mod run;
pub mod variable;

pub use compile::RuleSet;
pub use run::{Hit, Intervention, Transaction};

/// Errors loading rules: where and why.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuleError {
    #[error("{file}:{line}: {word}: {reason}")]
    Load {
        file: String,
        line: usize,
        word: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
}

/// `SecRuleEngine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineMode {
    On,
    DetectionOnly,
    Off,
}
