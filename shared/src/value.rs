//! Values parsed once, where they enter: a request body, a header, a form
//! field. Each type holds only valid values, so code past the parse never
//! checks again, and each rule lives in one place (`validate`).
//!
//! Request types use them as fields (`serde(try_from = "String")`), so a bad
//! value fails while the body is read. Its serde error starts with
//! [`REFUSED`], which is how the server tells "a field is not valid" (`422`
//! naming the field) from "the body is malformed" (`400`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validate;

/// The start of the serde error of every value refused here.
pub const REFUSED: &str = "value refused: ";

/// The message of a refused value, if `serde_message` is one (see [`REFUSED`]).
pub fn refused_message(serde_message: &str) -> Option<&str> {
    serde_message.strip_prefix(REFUSED)
}

/// A text value checked by `check` and kept as given.
macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `s`; the error is the message a user should read.
            pub fn parse(s: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s).map(|()| $name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(&s).map(|()| $name(s)).map_err(|m| format!("{REFUSED}{m}"))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_value!(
    /// Why an appointment is booked, changed or cancelled: may be empty, at
    /// most [`validate::MAX_REASON_CHARS`] characters.
    Reason,
    |s| validate::optional_text(s, validate::MAX_REASON_CHARS)
);

/// No reason given.
impl Default for Reason {
    fn default() -> Self {
        Reason(String::new())
    }
}

text_value!(
    /// A department's code, like `cardiology`.
    DepartmentCode,
    validate::department_code
);

text_value!(
    /// The kind of a resource, like `room` or `ecg`: 2–32 lowercase letters,
    /// digits or dashes.
    ResourceKind,
    validate::department_code
);

text_value!(
    /// An ISO 4217 currency code, like `EUR`.
    Currency,
    |s| {
        let ok = s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase());
        if ok { Ok(()) } else { Err("must be a three-letter currency code like EUR".to_owned()) }
    }
);

impl Currency {
    /// Digits after the decimal point of its minor unit (ISO 4217): 2 for
    /// most, 0 for the yen and its like, 3 for the dinars.
    pub fn minor_digits(&self) -> u32 {
        const NONE: [&str; 17] = [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF",
            "XOF", "XPF",
        ];
        const THREE: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
        if NONE.contains(&self.as_str()) {
            0
        } else if THREE.contains(&self.as_str()) {
            3
        } else {
            2
        }
    }

    /// `amount` minor units as people read it: `1,234.50 EUR`, `-45.00 EUR`.
    pub fn format(&self, amount: i64) -> String {
        let digits = self.minor_digits();
        let scale = 10u64.pow(digits);
        let abs = amount.unsigned_abs();
        let (major, minor) = (abs / scale, abs % scale);
        let major = major.to_string();
        let mut grouped = String::with_capacity(major.len() + major.len() / 3);
        for (i, c) in major.chars().enumerate() {
            if i > 0 && (major.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if amount < 0 { "-" } else { "" };
        match digits {
            0 => format!("{sign}{grouped} {self}"),
            d => format!("{sign}{grouped}.{minor:0width$} {self}", width = d as usize),
        }
    }
}

text_value!(
    /// An email address as given (the server compares addresses without case).
    Email,
    validate::email
);

text_value!(
    /// An `Idempotency-Key`: 1–128 visible ASCII characters.
    IdempotencyKey,
    |s| {
        let ok = (1..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic());
        if ok { Ok(()) } else { Err("must be 1–128 visible ASCII characters".to_owned()) }
    }
);

/// A wall-clock time `HH:MM` of an availability rule, as minutes after
/// midnight; `24:00` ends a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime(u16);

impl ClockTime {
    pub fn parse(s: &str) -> Result<Self, String> {
        validate::clock_minutes(s).map(ClockTime)
    }

    /// Minutes after midnight, 0..=1440.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClockTime::parse(s)
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ClockTime::parse(&s).map_err(|m| format!("{REFUSED}{m}"))
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> String {
        t.to_string()
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_once_and_say_why_not() {
        assert_eq!(ClockTime::parse("09:30").map(ClockTime::minutes), Ok(570));
        assert_eq!(ClockTime::parse("24:00").map(|t| t.to_string()), Ok("24:00".to_owned()));
        assert!(ClockTime::parse("25:00").is_err());
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(eur.format(123_450), "1,234.50 EUR");
        assert_eq!(eur.format(-5), "-0.05 EUR");
        assert_eq!(Currency::parse("JPY").unwrap().format(1_000_000), "1,000,000 JPY");
        assert_eq!(Currency::parse("KWD").unwrap().format(1_234), "1.234 KWD");
        assert!(Reason::parse(&"x".repeat(validate::MAX_REASON_CHARS)).is_ok());
        assert!(Reason::parse(&"x".repeat(validate::MAX_REASON_CHARS + 1)).is_err());
        assert!(DepartmentCode::parse("General Practice").is_err());
        assert!(Email::parse("a@b.org").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
    }

    #[test]
    fn a_refused_value_is_marked_in_the_serde_error() {
        let e = serde_json::from_value::<ClockTime>("25:00".into()).unwrap_err().to_string();
        assert_eq!(refused_message(&e), Some("`25:00` is not a time like 09:30"));
        let e = serde_json::from_value::<ClockTime>(5.into()).unwrap_err().to_string();
        assert_eq!(refused_message(&e), None, "a wrong type is not a refused value: {e}");
        let t: ClockTime = serde_json::from_str("\"08:05\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"08:05\"");
    }
}
