//! RFC 5545 iCalendar text for calendar feeds: `VCALENDAR` with one
//! `VEVENT` per appointment, times in UTC, lines ending in CRLF and folded
//! at 75 octets, text values escaped.

use jiff::Timestamp;
use uuid::Uuid;

/// One event of a feed.
pub struct Event {
    pub id: Uuid,
    pub start: Timestamp,
    pub end: Timestamp,
    /// When the appointment last changed (`DTSTAMP`, `LAST-MODIFIED`).
    pub changed: Timestamp,
    /// Bumped on every change, so subscribers replace what they hold.
    pub sequence: u64,
    pub summary: String,
    pub cancelled: bool,
}

/// A whole calendar named `name`.
pub fn calendar(name: &str, events: &[Event]) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Health Synx//Calendar feed//EN", "CALSCALE:GREGORIAN"] {
        push(&mut out, line);
    }
    push(&mut out, "METHOD:PUBLISH");
    push(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    for e in events {
        push(&mut out, "BEGIN:VEVENT");
        push(&mut out, &format!("UID:{}@healthsynx", e.id));
        push(&mut out, &format!("DTSTAMP:{}", utc(e.changed)));
        push(&mut out, &format!("LAST-MODIFIED:{}", utc(e.changed)));
        push(&mut out, &format!("DTSTART:{}", utc(e.start)));
        push(&mut out, &format!("DTEND:{}", utc(e.end)));
        push(&mut out, &format!("SEQUENCE:{}", e.sequence));
        push(&mut out, &format!("SUMMARY:{}", text(&e.summary)));
        push(&mut out, if e.cancelled { "STATUS:CANCELLED" } else { "STATUS:CONFIRMED" });
        push(&mut out, "TRANSP:OPAQUE");
        push(&mut out, "END:VEVENT");
    }
    push(&mut out, "END:VCALENDAR");
    out
}

/// `20261202T164500Z`.
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslash, semicolon, comma and newlines escaped (RFC 5545 3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (never inside a character), with CRLF.
fn push(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_within_75_octets_without_splitting_a_character() {
        let mut out = String::new();
        push(&mut out, &format!("SUMMARY:{}", "Zoë ".repeat(40)));
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{} octets: {line}", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.strip_suffix("\r\n"), Some(format!("SUMMARY:{}", "Zoë ".repeat(40)).as_str()));
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
