//! Timestamp parsing shared by the text readers: ISO 8601/RFC 3339 (any number of fraction
//! digits, as Windows writes seven), BSD syslog's year-less `Mmm dd hh:mm:ss`, the web servers'
//! `10/Oct/2000:13:55:36 -0700` and Unix epoch numbers.
//!
//! All results are milliseconds since the Unix epoch (UTC). Times written without a zone are
//! read in the caller's configured offset. Nothing here reads the clock except
//! [`now_ms`], so the year inference can be tested with a fixed "now".

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The machine's local UTC offset, read once. `time` refuses to read it once the process has
/// several threads (the C library's time zone state is not thread-safe), so callers that care
/// should call this early in `main`; after that, or on failure, it is UTC.
pub fn local_offset() -> UtcOffset {
    static OFFSET: std::sync::OnceLock<UtcOffset> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC))
}

pub(crate) fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Milliseconds since the epoch of a civil date and time at `offset`; `None` if out of range.
#[allow(clippy::too_many_arguments)]
pub(crate) fn civil_to_ms(
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    milli: u16,
    offset: UtcOffset,
) -> Option<i64> {
    let month = Month::try_from(month).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    // A leap second (":60") is kept in the same second rather than rejected.
    let time = Time::from_hms_milli(hour, minute, second.min(59), milli).ok()?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `Jan`..`Dec`, case-insensitive, to 1..=12.
pub(crate) fn month_abbr(s: &str) -> Option<u8> {
    const NAMES: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let s = s.get(..3)?;
    NAMES
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u8 + 1)
}

/// A cursor over ASCII digits and separators.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor {
            b: s.as_bytes(),
            i: 0,
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for k in 0..n {
            let c = self.b.get(self.i + k).filter(|c| c.is_ascii_digit())?;
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }
    /// A fraction after the decimal point: milliseconds, extra digits ignored.
    fn fraction_ms(&mut self) -> u16 {
        let mut ms = 0u16;
        let mut n = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            if n < 3 {
                ms = ms * 10 + u16::from(c - b'0');
            }
            n += 1;
            self.i += 1;
        }
        while n < 3 {
            ms *= 10;
            n += 1;
        }
        ms
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.i..).unwrap_or_default()
    }
}

/// A zone suffix: `Z`, `+hh:mm`, `+hhmm` or `+hh`; `None` if there is none (or it is malformed).
fn zone(c: &mut Cursor<'_>) -> Option<UtcOffset> {
    if c.eat(b'Z') || c.eat(b'z') {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let h = c.digits(2)? as i8;
    c.eat(b':');
    let m = c.digits(2).unwrap_or(0) as i8;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

/// ISO 8601 / RFC 3339: `YYYY-MM-DD[T ]hh:mm[:ss[.fff…]][Z|±hh:mm|±hhmm]`, with trailing text
/// allowed (callers cut fields first). Without a zone the time is read at `default_offset`.
pub(crate) fn parse_iso(s: &str, default_offset: UtcOffset) -> Option<i64> {
    let mut c = Cursor::new(s.trim());
    let year = c.digits(4)? as i32;
    c.eat(b'-').then_some(())?;
    let month = c.digits(2)? as u8;
    c.eat(b'-').then_some(())?;
    let day = c.digits(2)? as u8;
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        // A bare date.
        return civil_to_ms(year, month, day, 0, 0, 0, 0, default_offset);
    }
    let hour = c.digits(2)? as u8;
    c.eat(b':').then_some(())?;
    let minute = c.digits(2)? as u8;
    let mut second = 0;
    let mut milli = 0;
    if c.eat(b':') {
        second = c.digits(2)? as u8;
        if c.eat(b'.') || c.eat(b',') {
            milli = c.fraction_ms();
        }
    }
    c.eat(b' ');
    let offset = zone(&mut c).unwrap_or(default_offset);
    civil_to_ms(year, month, day, hour, minute, second, milli, offset)
}

/// The year for a year-less syslog time: this year, or the previous one when this year would
/// put it more than a day ahead of `now` (a day of slack so that clock skew or a wrong zone
/// between hosts does not throw a fresh record a year back).
#[allow(clippy::too_many_arguments)]
pub(crate) fn infer_year_ms(
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    milli: u16,
    offset: UtcOffset,
    now: i64,
) -> Option<i64> {
    const DAY_MS: i64 = 86_400_000;
    let year = OffsetDateTime::from_unix_timestamp(now / 1000)
        .ok()?
        .to_offset(offset)
        .year();
    // Feb 29 exists only in some years: try this year, then fall back a year at a time.
    match civil_to_ms(year, month, day, hour, minute, second, milli, offset) {
        Some(t) if t <= now + DAY_MS => Some(t),
        _ => (1..=4).find_map(|back| {
            civil_to_ms(year - back, month, day, hour, minute, second, milli, offset)
        }),
    }
}

/// BSD syslog's `Mmm dd hh:mm:ss[.fff]` (the day may be space-padded) at the start of `s`.
/// Returns the time and the number of bytes it took.
pub(crate) fn parse_bsd(s: &str, offset: UtcOffset, now: i64) -> Option<(i64, usize)> {
    let month = month_abbr(s)?;
    let mut c = Cursor::new(s);
    c.i = 3;
    c.eat(b' ').then_some(())?;
    c.eat(b' ');
    let day = match c.digits(2) {
        Some(d) => d,
        None => c.digits(1)?,
    } as u8;
    c.eat(b' ').then_some(())?;
    let hour = c.digits(2)? as u8;
    c.eat(b':').then_some(())?;
    let minute = c.digits(2)? as u8;
    c.eat(b':').then_some(())?;
    let second = c.digits(2)? as u8;
    let milli = if c.eat(b'.') { c.fraction_ms() } else { 0 };
    let t = infer_year_ms(month, day, hour, minute, second, milli, offset, now)?;
    Some((t, c.i))
}

/// The web servers' `%t`: `10/Oct/2000:13:55:36 -0700` (brackets already removed).
pub(crate) fn parse_clf(s: &str) -> Option<i64> {
    let mut c = Cursor::new(s);
    let day = c.digits(2)? as u8;
    c.eat(b'/').then_some(())?;
    let month = month_abbr(std::str::from_utf8(c.rest()).ok()?)?;
    c.i += 3;
    c.eat(b'/').then_some(())?;
    let year = c.digits(4)? as i32;
    c.eat(b':').then_some(())?;
    let hour = c.digits(2)? as u8;
    c.eat(b':').then_some(())?;
    let minute = c.digits(2)? as u8;
    c.eat(b':').then_some(())?;
    let second = c.digits(2)? as u8;
    let milli = if c.eat(b'.') { c.fraction_ms() } else { 0 };
    c.eat(b' ');
    let offset = zone(&mut c).unwrap_or(UtcOffset::UTC);
    civil_to_ms(year, month, day, hour, minute, second, milli, offset)
}

/// A Unix epoch number in seconds, milliseconds, microseconds or nanoseconds (told apart by
/// magnitude: anything past year 5138 in seconds is taken as a finer unit).
pub(crate) fn epoch_to_ms(v: f64) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v < 1e11 {
        v * 1e3
    } else if v < 1e14 {
        v
    } else if v < 1e17 {
        v / 1e3
    } else {
        v / 1e6
    };
    Some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_with_seven_fraction_digits_and_zone() {
        let t = parse_iso("2019-03-19T23:34:24.1234567Z", UtcOffset::UTC);
        assert_eq!(t, Some(1_553_038_464_123));
        let t = parse_iso("2019-03-20T08:34:24.123+09:00", UtcOffset::UTC);
        assert_eq!(t, Some(1_553_038_464_123));
    }

    #[test]
    fn iso_without_zone_uses_the_configured_offset() {
        let nine = UtcOffset::from_hms(9, 0, 0).unwrap();
        assert_eq!(
            parse_iso("2019-03-20 08:34:24", nine),
            Some(1_553_038_464_000)
        );
    }

    #[test]
    fn year_less_time_in_the_future_is_last_year() {
        // now = 2024-01-02T00:00:00Z
        let now = civil_to_ms(2024, 1, 2, 0, 0, 0, 0, UtcOffset::UTC).unwrap();
        let (t, n) = parse_bsd("Dec 31 23:00:00 host", UtcOffset::UTC, now).unwrap();
        assert_eq!(n, 15);
        assert_eq!(
            t,
            civil_to_ms(2023, 12, 31, 23, 0, 0, 0, UtcOffset::UTC).unwrap()
        );
        let (t, _) = parse_bsd("Jan  1 10:00:00", UtcOffset::UTC, now).unwrap();
        assert_eq!(
            t,
            civil_to_ms(2024, 1, 1, 10, 0, 0, 0, UtcOffset::UTC).unwrap()
        );
    }

    #[test]
    fn clf_time_with_offset() {
        assert_eq!(
            parse_clf("10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000)
        );
    }

    #[test]
    fn malformed_times_are_none() {
        assert_eq!(parse_iso("2019-13-01T00:00:00Z", UtcOffset::UTC), None);
        assert_eq!(parse_clf("99/Foo/2000:13:55:36"), None);
        assert_eq!(parse_bsd("Foo 1 00:00:00", UtcOffset::UTC, 0), None);
    }
}
