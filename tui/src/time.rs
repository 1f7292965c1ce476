//! Times as people in front of the terminal read them: in the terminal's own
//! time zone, short.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// The local date of `ts`.
pub fn date_of(ts: Timestamp, tz: &TimeZone) -> Date {
    ts.to_zoned(tz.clone()).date()
}

/// `09:30`
pub fn hm(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// `Fri 27 Nov`
pub fn day(d: Date) -> String {
    d.strftime("%a %-d %b").to_string()
}

/// `Fri 27 Nov 09:30`
pub fn day_hm(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%a %-d %b %H:%M").to_string()
}

/// `2026-11-27 09:30`, for logs where the year matters.
pub fn full(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The instant a local day starts (midnight, or the first instant after a gap).
pub fn start_of(d: Date, tz: &TimeZone) -> Timestamp {
    d.to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or_else(|_| Timestamp::UNIX_EPOCH)
}

/// `[start of d, start of d + days)`.
pub fn days_range(d: Date, days: i64, tz: &TimeZone) -> (Timestamp, Timestamp) {
    let end = d.checked_add(days.days()).unwrap_or(d);
    (start_of(d, tz), start_of(end, tz))
}

/// `d` moved by `n` days (saturating at the calendar's ends).
pub fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(n.days()).unwrap_or(d)
}

/// The Monday of `d`'s week.
pub fn monday_of(d: Date) -> Date {
    add_days(d, -i64::from(d.weekday().to_monday_zero_offset()))
}

/// Parses `YYYY-MM-DD HH:MM` (or a bare date, meaning midnight) in `tz`.
pub fn parse_local(s: &str, tz: &TimeZone) -> Option<Timestamp> {
    let s = s.trim();
    let (d, t) = match s.split_once(' ') {
        Some((d, t)) => (d.parse::<Date>().ok()?, t.trim().parse::<Time>().ok()?),
        None => (s.parse::<Date>().ok()?, Time::midnight()),
    };
    d.to_datetime(t).to_zoned(tz.clone()).ok().map(|z: Zoned| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_parsed_and_shown_in_the_zone() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let ts = parse_local("2026-11-27 09:30", &tz).unwrap();
        assert_eq!(ts.to_string(), "2026-11-27T08:30:00Z");
        assert_eq!(hm(ts, &tz), "09:30");
        assert_eq!(day_hm(ts, &tz), "Fri 27 Nov 09:30");
        assert_eq!(monday_of(date_of(ts, &tz)).to_string(), "2026-11-23");
        assert!(parse_local("tomorrow", &tz).is_none());
    }
}
