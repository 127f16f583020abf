//! Campaigns: what to send to whom, through which server, when; and the states a campaign
//! goes through.
//!
//! ```text
//! draft ──start──▶ scheduled ──first mail due──▶ sending ──all sent──▶ running ──▶ completed
//!                      │  ▲                         │  ▲                  │  ▲     (after
//!                      └─pause/resume (paused)──────┴──┴──────────────────┴──┘  complete_after
//!                                                                                or complete)
//! ```
//!
//! The moves driven by the clock (scheduled → sending → running → completed) are made by
//! the sender; the others by [`Action`]s from the console or CLI, checked by
//! [`transition`]. Pacing is pure too: [`due_times`] spreads a campaign's mails over its
//! hours, [`minute_budget`] caps what may go out in the current minute.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a campaign is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Draft,
    Scheduled,
    Sending,
    Running,
    Paused,
    Completed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Scheduled => "scheduled",
            State::Sending => "sending",
            State::Running => "running",
            State::Paused => "paused",
            State::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "draft" => State::Draft,
            "scheduled" => State::Scheduled,
            "sending" => State::Sending,
            "running" => State::Running,
            "paused" => State::Paused,
            "completed" => State::Completed,
            _ => return None,
        })
    }
}

/// A state change asked for by a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Pause,
    Resume,
    Complete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Complete => "complete",
        }
    }
}

/// The state after `action`, or `None` when `from` does not allow it. A resumed campaign
/// goes back to `scheduled`; the sender then moves it on as its mails fall due.
pub fn transition(from: State, action: Action) -> Option<State> {
    use State::*;
    match (from, action) {
        (Draft, Action::Start) => Some(Scheduled),
        (Scheduled | Sending | Running, Action::Pause) => Some(Paused),
        (Paused, Action::Resume) => Some(Scheduled),
        (Scheduled | Sending | Running | Paused, Action::Complete) => Some(Completed),
        _ => None,
    }
}

/// The next hop for a campaign's mails. The password is kept in the drill database (the
/// sender needs it) and never printed: `Debug` leaves it out.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SmtpProfile {
    pub host: String,
    pub port: u16,
    /// Require STARTTLS (otherwise it is used when offered).
    pub starttls: bool,
    /// AUTH PLAIN user; empty for none.
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for SmtpProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpProfile")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("starttls", &self.starttls)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// What `Drill::create_campaign` needs. `NewCampaign { name, template_id, group_ids, smtp,
/// from_addr, base_url, ..Default::default() }` starts now, unspread, unlimited, and runs
/// until completed by hand.
#[derive(Debug, Clone, Default)]
pub struct NewCampaign {
    pub name: String,
    pub template_id: String,
    pub group_ids: Vec<String>,
    pub smtp: SmtpProfile,
    /// Envelope and header sender.
    pub from_addr: String,
    /// Display name; the template's when `None`.
    pub from_name: Option<String>,
    /// Where the tracking router is reachable from the staff's PCs, e.g.
    /// `https://mamori.example.jp`.
    pub base_url: String,
    /// First mail; `None` is when the campaign is started.
    pub start_at: Option<OffsetDateTime>,
    /// Spread the mails evenly over this many hours (0: all at once).
    pub spread_hours: u32,
    /// At most this many mails a minute (0: no limit).
    pub per_minute: u32,
    /// Complete by itself this many hours after the last mail went out (0: never).
    pub complete_after_hours: u32,
}

/// A campaign as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub template_id: String,
    pub state: State,
    pub group_ids: Vec<String>,
    pub from_addr: String,
    pub from_name: Option<String>,
    pub base_url: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    #[serde(with = "time::serde::rfc3339::option")]
    pub start_at: Option<OffsetDateTime>,
    pub spread_hours: u32,
    pub per_minute: u32,
    pub complete_after_hours: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    pub recipients: u32,
}

/// When each of `n` mails is due: evenly over `spread_hours` from `start_ms`.
pub fn due_times(start_ms: i64, spread_hours: u32, n: usize) -> Vec<i64> {
    let spread_ms = i64::from(spread_hours) * 3_600_000;
    let n_i = i64::try_from(n).unwrap_or(i64::MAX).max(1);
    (0..n)
        .map(|i| start_ms + spread_ms * i64::try_from(i).unwrap_or(0) / n_i)
        .collect()
}

/// How many mails may go out now, given how many were tried in the last 60 seconds.
/// `per_minute` 0 is no limit; `batch` caps one round either way.
pub fn minute_budget(per_minute: u32, tried_last_minute: usize, batch: usize) -> usize {
    if per_minute == 0 {
        return batch;
    }
    (per_minute as usize)
        .saturating_sub(tried_last_minute)
        .min(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_transitions_follow_the_life_of_a_campaign() {
        assert_eq!(
            transition(State::Draft, Action::Start),
            Some(State::Scheduled)
        );
        assert_eq!(
            transition(State::Sending, Action::Pause),
            Some(State::Paused)
        );
        assert_eq!(
            transition(State::Paused, Action::Resume),
            Some(State::Scheduled)
        );
        assert_eq!(
            transition(State::Running, Action::Complete),
            Some(State::Completed)
        );
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let all = [
            State::Draft,
            State::Scheduled,
            State::Sending,
            State::Running,
            State::Paused,
            State::Completed,
        ];
        for from in all {
            for action in [
                Action::Start,
                Action::Pause,
                Action::Resume,
                Action::Complete,
            ] {
                let allowed = transition(from, action).is_some();
                let expected = matches!(
                    (from, action),
                    (State::Draft, Action::Start)
                        | (
                            State::Scheduled | State::Sending | State::Running,
                            Action::Pause
                        )
                        | (State::Paused, Action::Resume)
                        | (
                            State::Scheduled | State::Sending | State::Running | State::Paused,
                            Action::Complete
                        )
                );
                assert_eq!(allowed, expected, "{from:?} {action:?}");
            }
            assert_eq!(State::parse(from.as_str()), Some(from));
        }
    }

    #[test]
    fn mails_are_spread_evenly_over_the_hours() {
        assert_eq!(due_times(1000, 0, 3), vec![1000, 1000, 1000]);
        assert_eq!(due_times(0, 2, 4), vec![0, 1_800_000, 3_600_000, 5_400_000]);
        assert!(due_times(0, 1, 0).is_empty());
    }

    #[test]
    fn per_minute_limit_counts_the_last_minute() {
        assert_eq!(minute_budget(10, 0, 200), 10);
        assert_eq!(minute_budget(10, 7, 200), 3);
        assert_eq!(minute_budget(10, 12, 200), 0);
        assert_eq!(minute_budget(0, 5000, 200), 200);
        assert_eq!(minute_budget(1000, 0, 200), 200);
    }

    #[test]
    fn debug_output_leaves_out_the_smtp_password() {
        let p = SmtpProfile {
            password: "hunter2".into(),
            ..SmtpProfile::default()
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
