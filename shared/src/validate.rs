//! Pure checks shared by server and client, so the client can say "too short"
//! before a round trip. Each returns the message a user should read.

use crate::api::FieldError;

/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password; argon2 cost must not be an attacker's lever.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Longest free-text field that is not clinical text (names, reasons).
pub const MAX_SHORT_TEXT: usize = 200;
/// Longest reason for booking, moving or cancelling an appointment.
pub const MAX_REASON_CHARS: usize = 500;
/// Longest clinical free text (diagnosis, notes).
pub const MAX_CLINICAL_TEXT: usize = 16 * 1024;
/// Shortest reason for emergency (break-glass) access: enough words that a
/// reviewer can judge it, not a click-through.
pub const MIN_BREAK_GLASS_REASON_CHARS: usize = 20;
/// Shortest name fragment an emergency search takes: fewer letters would
/// list half the clinic.
pub const MIN_EMERGENCY_QUERY_CHARS: usize = 3;

/// Collects field errors so one answer can name every bad field.
#[derive(Debug, Default)]
pub struct Errors(pub Vec<FieldError>);

impl Errors {
    /// Records `message` for `field` when `check` failed.
    pub fn check(&mut self, field: &str, check: Result<(), String>) {
        if let Err(message) = check {
            self.0.push(FieldError::new(field, message));
        }
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }
}

/// A plausible address: one `@`, a dotted domain, no spaces, at most 254 bytes.
pub fn email(s: &str) -> Result<(), String> {
    let bad = || Err("must be an email address like name@example.org".to_owned());
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = s.split_once('@') else { return bad() };
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-'));
    if local.is_empty() || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return bad();
    }
    Ok(())
}

/// Non-blank text of at most `max` characters, without control characters
/// other than line breaks and tabs.
pub fn text(s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    optional_text(s, max)
}

/// Like [`text`], but may be empty.
pub fn optional_text(s: &str, max: usize) -> Result<(), String> {
    if s.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// Why someone needs emergency access to a patient outside their care: at
/// least [`MIN_BREAK_GLASS_REASON_CHARS`] characters (not counting spaces
/// around it), at most [`MAX_REASON_CHARS`].
pub fn break_glass_reason(s: &str) -> Result<(), String> {
    if s.trim().chars().count() < MIN_BREAK_GLASS_REASON_CHARS {
        return Err(format!("must be at least {MIN_BREAK_GLASS_REASON_CHARS} characters: say why you need access"));
    }
    optional_text(s, MAX_REASON_CHARS)
}

/// What an emergency search looks for: part of a name,
/// [`MIN_EMERGENCY_QUERY_CHARS`] to [`MAX_SHORT_TEXT`] characters.
pub fn emergency_query(s: &str) -> Result<(), String> {
    if s.trim().chars().count() < MIN_EMERGENCY_QUERY_CHARS {
        return Err(format!("must be at least {MIN_EMERGENCY_QUERY_CHARS} letters of the patient's name"));
    }
    optional_text(s, MAX_SHORT_TEXT)
}

/// A phone number: digits with optional `+`, spaces, dashes, dots and
/// parentheses; 6–15 digits.
pub fn phone(s: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_digit() || " -.()+".contains(c);
    let digits = s.chars().filter(char::is_ascii_digit).count();
    let plus_ok = s.rfind('+').is_none_or(|i| i == 0);
    if !s.chars().all(allowed) || !(6..=15).contains(&digits) || !plus_ok {
        return Err("must be a phone number of 6 to 15 digits, like +49 30 1234567".to_owned());
    }
    Ok(())
}

/// A department code: 2–32 lowercase letters, digits or dashes.
pub fn department_code(s: &str) -> Result<(), String> {
    let ok = (2..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err("must be 2–32 lowercase letters, digits or dashes".to_owned()) }
}

/// The password rules that need no dictionary; the server adds a strength check.
pub fn password_basics(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return Err("must not be all digits".to_owned());
    }
    Ok(())
}

/// A clock time `HH:MM` as minutes after midnight; `24:00` is allowed as an end.
pub fn clock_minutes(s: &str) -> Result<u16, String> {
    let bad = || format!("`{s}` is not a time like 09:30");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// Medicine frequencies the client offers; free text up to 64 characters is also taken.
pub const FREQUENCIES: &[&str] = &[
    "once daily",
    "twice daily",
    "three times daily",
    "four times daily",
    "every 4 hours",
    "every 6 hours",
    "every 8 hours",
    "every 12 hours",
    "at bedtime",
    "as needed",
    "weekly",
];

/// A prescription: `drug` and `dose` non-empty, `days` 1–365, `frequency` from
/// [`FREQUENCIES`] or free text of at most 64 characters.
pub fn prescription(p: &crate::model::Prescription, index: usize, errors: &mut Errors) {
    let f = |name: &str| format!("prescriptions[{index}].{name}");
    errors.check(&f("drug"), text(&p.drug, 120));
    errors.check(&f("dose"), text(&p.dose, 120));
    errors.check(&f("frequency"), text(&p.frequency, 64));
    if !(1..=365).contains(&p.days) {
        errors.0.push(FieldError::new(f("days"), "must be between 1 and 365"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(email("a.b@example.org").is_ok());
        for bad in ["", "a", "a@b", "@b.org", "a@@b.org", "a b@c.org", "a@.org", "a@b..org"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert!(phone("+49 30 1234567").is_ok());
        assert!(phone("(030) 123-4567").is_ok());
        for bad in ["", "12345", "abc1234567", "12+3456789", "1234567890123456"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password_basics("short").is_err());
        assert!(password_basics("123456789012345").is_err());
        assert!(password_basics("correct horse battery").is_ok());
    }

    #[test]
    fn clock_times() {
        assert_eq!(clock_minutes("09:30"), Ok(570));
        assert_eq!(clock_minutes("24:00"), Ok(1440));
        for bad in ["9:30", "24:01", "12:60", "ab:cd", "1230"] {
            assert!(clock_minutes(bad).is_err(), "{bad}");
        }
    }
}
