//! Incidents: alerts on the same asset within a window, handled as one case.
//!
//! An incident's severity is the highest of its alerts. It moves through
//! `new → investigating → contained → resolved | false_positive`; every change (state,
//! assignee, note, a new alert raising the severity) is a [`TimelineEntry`] naming who and when.

use crate::alert::Severity;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use ulid::Ulid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    New,
    Investigating,
    Contained,
    Resolved,
    FalsePositive,
}

impl IncidentState {
    pub const ALL: [IncidentState; 5] = [
        IncidentState::New,
        IncidentState::Investigating,
        IncidentState::Contained,
        IncidentState::Resolved,
        IncidentState::FalsePositive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::New => "new",
            IncidentState::Investigating => "investigating",
            IncidentState::Contained => "contained",
            IncidentState::Resolved => "resolved",
            IncidentState::FalsePositive => "false_positive",
        }
    }

    /// Open incidents still collect new alerts on their asset; closed ones do not.
    pub fn is_open(self) -> bool {
        !matches!(self, IncidentState::Resolved | IncidentState::FalsePositive)
    }

    /// The states a person may move an incident to from this one. Work goes forward;
    /// a closed incident can be reopened into investigation, and a contained one can go
    /// back to investigation when containment turns out incomplete.
    pub fn next_states(self) -> &'static [IncidentState] {
        use IncidentState::*;
        match self {
            New => &[Investigating, Contained, Resolved, FalsePositive],
            Investigating => &[Contained, Resolved, FalsePositive],
            Contained => &[Investigating, Resolved, FalsePositive],
            Resolved | FalsePositive => &[Investigating],
        }
    }

    pub fn can_move_to(self, to: IncidentState) -> bool {
        self.next_states().contains(&to)
    }
}

impl fmt::Display for IncidentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IncidentState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("unknown state {s:?} (expected new, investigating, contained, resolved or false_positive)")
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: Ulid,
    pub tenant: String,
    /// Asset key (`host:10.0.0.5`) the alerts share.
    pub asset: String,
    /// The headline of the most severe alert so far.
    pub title: String,
    pub severity: Severity,
    pub state: IncidentState,
    pub assignee: Option<String>,
    pub alert_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When a person first acted on it (state, assignment, note): the SLA's first response.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_response: Option<OffsetDateTime>,
    /// When it was first contained (or resolved): the SLA's time to contain.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub contained: Option<OffsetDateTime>,
}

/// What changed, in a timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimelineKind {
    Opened {
        severity: Severity,
        alert: Ulid,
    },
    SeverityRaised {
        from: Severity,
        to: Severity,
        alert: Ulid,
    },
    StateChanged {
        from: IncidentState,
        to: IncidentState,
    },
    Assigned {
        to: Option<String>,
    },
    Note {
        text: String,
    },
    /// A help-desk message between the company and its provider (the internal notes are
    /// `Note`s).
    Message {
        text: String,
        side: Side,
        /// `web` or `mail`.
        via: String,
    },
}

/// Who wrote a help-desk message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The SME (a tenant's user).
    Customer,
    /// The service provider.
    Provider,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// A user's email, `token:NAME`, or `mamori` for automatic changes.
    pub actor: String,
    #[serde(flatten)]
    pub kind: TimelineKind,
}

/// A change a person asks for on an incident.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentChange {
    State(IncidentState),
    Assign(Option<String>),
    Note(String),
    /// A help-desk message (see [`TimelineKind::Message`]).
    Message {
        text: String,
        side: Side,
        via: String,
    },
}

/// Notes are free text from people; this bounds them.
pub const MAX_NOTE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_incidents_only_reopen_into_investigation() {
        assert!(IncidentState::New.can_move_to(IncidentState::Investigating));
        assert!(!IncidentState::Resolved.can_move_to(IncidentState::Contained));
        assert!(IncidentState::Resolved.can_move_to(IncidentState::Investigating));
        assert!(!IncidentState::New.can_move_to(IncidentState::New));
        for s in IncidentState::ALL {
            assert_eq!(s.as_str().parse::<IncidentState>(), Ok(s));
        }
    }
}
