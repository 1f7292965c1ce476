//! The automatic reload of what a screen shows, every 30 seconds, so
//! colleagues' changes show up. It asks conditionally: each thing shown
//! keeps its last `ETag`, the server answers `304` while that is current,
//! and the screen then keeps what it shows (selection included).

use std::collections::HashMap;

use healthsynx_shared::client::Fresh;
use jiff::Timestamp;

/// Seconds between reloads.
pub const EVERY_SECS: i64 = 30;

/// The `ETag`s a load sends, by what they name (a screen's own keys, e.g. a doctor's calendar).
pub type Etags = HashMap<String, String>;

#[derive(Debug, Default)]
pub struct AutoRefresh {
    loaded_at: Option<Timestamp>,
    loading: bool,
    etags: Etags,
}

impl AutoRefresh {
    /// Whether the reload is due: the last load is old and none is running.
    pub fn due(&self, now: Timestamp) -> bool {
        !self.loading && self.loaded_at.is_some_and(|t| now.duration_since(t).as_secs() >= EVERY_SECS)
    }

    /// A load starts. A fresh one (asked for, or of another day) forgets
    /// the `ETag`s and so downloads everything; a due one sends them.
    pub fn start(&mut self, now: Timestamp, fresh: bool) -> Etags {
        self.loading = true;
        self.loaded_at = Some(now);
        if fresh {
            self.etags.clear();
        }
        self.etags.clone()
    }

    pub fn finish(&mut self) {
        self.loading = false;
    }

    /// Whether a load runs, or none has been asked for yet.
    pub fn loading(&self) -> bool {
        self.loading || self.loaded_at.is_none()
    }

    /// Remembers the answer's `ETag` under `what`; the new value if it changed.
    pub fn keep<T>(&mut self, what: &str, answer: Fresh<T>) -> Option<T> {
        match answer {
            Fresh::Unchanged => None,
            Fresh::Changed { value, etag } => {
                match etag {
                    Some(e) => self.etags.insert(what.to_owned(), e),
                    None => self.etags.remove(what),
                };
                Some(value)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn due_after_thirty_seconds_and_sends_the_last_etags_unless_fresh() {
        let mut r = AutoRefresh::default();
        assert!(!r.due(at(100)), "nothing loaded yet");
        assert!(r.start(at(0), true).is_empty());
        assert!(!r.due(at(40)), "still loading");
        assert_eq!(r.keep("cal", Fresh::Changed { value: 1, etag: Some("\"a\"".into()) }), Some(1));
        r.finish();
        assert!(!r.due(at(29)) && r.due(at(30)));
        assert_eq!(r.start(at(30), false).get("cal").map(String::as_str), Some("\"a\""));
        assert_eq!(r.keep::<u8>("cal", Fresh::Unchanged), None);
        r.finish();
        let sent = r.start(at(60), false);
        assert_eq!(sent.get("cal").map(String::as_str), Some("\"a\""), "a 304 keeps the tag");
        assert!(r.start(at(90), true).is_empty(), "a fresh load forgets the tags");
    }
}
