//! Quiet hours: a daily local-time window, possibly across midnight, in which only
//! incidents at or above an override severity are sent at once.

use crate::config::QuietHours;
use crate::error::NotifyError;
use mamori_core::Severity;
use time::{OffsetDateTime, UtcOffset};

/// Parsed quiet hours, in minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuietWindow {
    start: u16,
    end: u16,
    offset: UtcOffset,
    override_severity: Severity,
}

impl QuietWindow {
    pub(crate) fn parse(hours: &QuietHours, offset: UtcOffset) -> Result<Self, NotifyError> {
        let start = parse_hhmm(&hours.start).ok_or_else(|| {
            NotifyError::config(None, "quiet.start", "expected HH:MM (00:00-23:59)")
        })?;
        let end = parse_hhmm(&hours.end).ok_or_else(|| {
            NotifyError::config(None, "quiet.end", "expected HH:MM (00:00-23:59)")
        })?;
        if start == end {
            return Err(NotifyError::config(
                None,
                "quiet.end",
                "equals quiet.start; remove [notify.quiet] to have no quiet hours",
            ));
        }
        Ok(QuietWindow {
            start,
            end,
            offset,
            override_severity: hours.override_severity,
        })
    }

    /// `now` lies within the quiet hours.
    pub(crate) fn contains(&self, now: OffsetDateTime) -> bool {
        let local = now.to_offset(self.offset);
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// A notice of this severity arriving at `now` waits for the end of quiet hours.
    pub(crate) fn holds(&self, now: OffsetDateTime, severity: Severity) -> bool {
        severity < self.override_severity && self.contains(now)
    }
}

fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// `+09:00`, `-05:30`, `Z`.
pub(crate) fn parse_offset(text: &str) -> Option<UtcOffset> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("z") || text == "+00:00" {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1i8, &text[1..]),
        b'-' => (-1i8, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn window(start: &str, end: &str) -> QuietWindow {
        let hours = QuietHours {
            start: start.into(),
            end: end.into(),
            override_severity: Severity::Critical,
        };
        QuietWindow::parse(&hours, parse_offset("+09:00").expect("offset")).expect("valid")
    }

    #[test]
    fn quiet_hours_span_midnight_in_local_time() {
        let w = window("22:00", "07:00");
        // 13:30 UTC is 22:30 in Tokyo.
        assert!(w.contains(datetime!(2025-03-01 13:30 UTC)));
        assert!(w.contains(datetime!(2025-03-01 21:59 UTC))); // 06:59 JST
        assert!(!w.contains(datetime!(2025-03-01 22:00 UTC))); // 07:00 JST
        assert!(!w.contains(datetime!(2025-03-01 12:59 UTC))); // 21:59 JST
        assert!(w.contains(datetime!(2025-03-01 15:00 UTC))); // 00:00 JST
    }

    #[test]
    fn a_daytime_window_does_not_wrap() {
        let w = window("12:00", "13:00");
        assert!(w.contains(datetime!(2025-03-01 12:30 +09:00)));
        assert!(!w.contains(datetime!(2025-03-01 13:00 +09:00)));
        assert!(!w.contains(datetime!(2025-03-01 23:00 +09:00)));
    }

    #[test]
    fn critical_incidents_override_quiet_hours() {
        let w = window("22:00", "07:00");
        let night = datetime!(2025-03-01 02:00 +09:00);
        assert!(w.holds(night, Severity::High));
        assert!(!w.holds(night, Severity::Critical));
        assert!(!w.holds(datetime!(2025-03-01 10:00 +09:00), Severity::Low));
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in ["24:00", "7", "07:5", "ab:cd", "", "07:60"] {
            assert!(parse_hhmm(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_hhmm("7:05"), Some(425));
        assert_eq!(parse_offset("-05:30"), UtcOffset::from_hms(-5, -30, 0).ok());
        assert!(parse_offset("09:00").is_none());
    }
}
