//! What a Sigma rule or a built-in analytic reports: one [`Detection`] per match or per
//! episode, with the records it covers.

use crate::event::Event;
use serde::Serialize;

/// Sigma's levels (`informational` is shown as `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// Sigma's `level:` value; unknown values are `None`.
    pub fn from_sigma(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Level::Info),
            "low" => Some(Level::Low),
            "medium" => Some(Level::Medium),
            "high" => Some(Level::High),
            "critical" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// A record a detection covers (for correlations and episodes, several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordRef {
    pub timestamp: Option<i64>,
    pub record_id: Option<u64>,
    pub file: Option<String>,
}

impl RecordRef {
    pub fn of(event: &Event) -> RecordRef {
        RecordRef {
            timestamp: event.timestamp,
            record_id: event.record_id,
            file: event.origin.file.as_ref().map(|f| f.display().to_string()),
        }
    }
}

/// One detection: a Sigma match, a Sigma correlation, or a built-in analytic's episode.
#[derive(Debug, Clone, Serialize)]
pub struct Detection {
    /// Time of the (last) matching record, ms since the epoch.
    pub timestamp: Option<i64>,
    /// The Sigma rule's `id`, or the analytic's id (`logs.win.brute_force`, ...).
    pub rule_id: String,
    pub rule_title: String,
    pub level: Level,
    pub computer: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    pub record_id: Option<u64>,
    pub file: Option<String>,
    /// One line for a human: who, what, how many, over what time.
    pub details: String,
    /// ATT&CK and other tags from the rule (`attack.t1110`, ...).
    pub tags: Vec<String>,
    /// The records covered (one for a plain match; all of them for a correlation/episode,
    /// bounded by the producer).
    pub records: Vec<RecordRef>,
    /// Original records as evidence (bounded by the producer: a few, not thousands).
    pub evidence: Vec<String>,
}
