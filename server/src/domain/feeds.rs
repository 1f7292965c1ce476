//! Calendar feeds: a doctor's calendar or a patient's appointments as
//! iCalendar at an unguessable URL that a phone's calendar app subscribes
//! to. The token in the URL is the credential (such apps send no headers);
//! only its hash is stored, and asking for a new URL ends the old one.
//! A feed never carries clinical text: no reasons, and a doctor's feed
//! names patients by their initials only.

use jiff::{SignedDuration, Timestamp};

use healthsynx_shared::AppointmentStatus;
use healthsynx_shared::api::{CalendarFeedUrl, feed_path};

use super::{Caller, State};
use crate::audit::{Action, Draft};
use crate::crypto::{random_token, sha256_hex};
use crate::error::{Error, Result};
use crate::ics;
use crate::policy;
use crate::scope::ApptScope;
use crate::store::CalendarFeedRow;

/// How far back a feed reaches, and how long a cancellation stays in it
/// (as `STATUS:CANCELLED`, so subscribed calendars drop the event).
const PAST: SignedDuration = SignedDuration::from_hours(24 * 30);
/// How far ahead a feed reaches.
const AHEAD: SignedDuration = SignedDuration::from_hours(24 * 365);
/// The most events one feed holds.
const MAX_EVENTS: usize = 5_000;

/// `POST /api/me/calendar-feed`: a new feed URL on `origin` (scheme and
/// host the caller reached us by), ending the previous one.
pub async fn create(st: &State, who: &Caller<'_>, origin: &str) -> Result<CalendarFeedUrl> {
    policy::calendar_feed_scope(who.who)?;
    let token = random_token();
    let row = CalendarFeedRow {
        user_id: who.who.user_id(),
        token_hash: sha256_hex(token.as_bytes()),
        created_at: Timestamp::now(),
    };
    let mut tx = st.store.begin().await?;
    let old = tx.calendar_feed_of(row.user_id).await?;
    tx.put_calendar_feed(&row, old.as_ref()).await?;
    tx.audit(Draft::new(&who.actor(), Action::CalendarFeedCreate, "user", Some(row.user_id)));
    tx.commit().await?;
    Ok(CalendarFeedUrl { url: format!("{origin}{}", feed_path(&token)) })
}

/// `DELETE /api/me/calendar-feed`: `404` when there is none.
pub async fn revoke(st: &State, who: &Caller<'_>) -> Result<()> {
    let mut tx = st.store.begin().await?;
    let feed = tx.calendar_feed_of(who.who.user_id()).await?.ok_or(Error::NotFound)?;
    tx.remove_calendar_feed(&feed).await?;
    tx.audit(Draft::new(&who.actor(), Action::CalendarFeedRevoke, "user", Some(feed.user_id)));
    tx.commit().await?;
    Ok(())
}

/// `GET /feeds/{token}.ics`: the feed as iCalendar text; an unknown or
/// revoked token, or a deactivated owner, is `404`. Audited as the owner's read.
pub async fn render(st: &State, token: &str, addr: Option<&str>) -> Result<String> {
    let hash = sha256_hex(token.as_bytes());
    let feed = st.store.read().await?.calendar_feed_by_hash(&hash).await?.ok_or(Error::NotFound)?;
    let owner = st.store.user(feed.user_id).await?.filter(|u| u.active).ok_or(Error::NotFound)?;
    let name = owner.full_name.clone();
    let who = super::accounts::principal_of(st, &owner).await.map_err(|_| Error::NotFound)?;
    let scope = policy::calendar_feed_scope(&who).map_err(|_| Error::NotFound)?;
    let now = Timestamp::now();
    let rows =
        st.store.read().await?.appointments_in(&scope, Some(now - PAST), Some(now + AHEAD), None, MAX_EVENTS).await?;
    let mut events = Vec::with_capacity(rows.len());
    // A held time is an offer, not yet a visit.
    for (_, a) in rows.into_iter().filter(|(_, a)| a.status != AppointmentStatus::Held) {
        let cancelled = a.status == AppointmentStatus::Cancelled;
        if cancelled && a.updated_at < now - PAST {
            continue;
        }
        // A patient's own feed names the doctor; a doctor's names no patient in full.
        let summary = match &scope {
            ApptScope::Patient(_) => {
                format!("Appointment with {} ({})", st.store.user_name(a.doctor_id).await?, a.department)
            }
            _ => format!("Visit: {}", initials(&st.store.patient_name(a.patient_id).await?)),
        };
        events.push(ics::Event {
            id: a.id,
            start: a.start,
            end: a.end,
            changed: a.updated_at,
            sequence: a.version.saturating_sub(1),
            summary,
            cancelled,
        });
    }
    let mut entry = Draft::new(&super::actor_of(&who, addr), Action::CalendarFeedRead, "user", Some(who.user_id()));
    if let ApptScope::Patient(patient) = scope {
        entry = entry.patient(patient);
    }
    st.store.append_audit([entry]).await?;
    Ok(ics::calendar(&format!("Health Synx · {name}"), &events))
}

/// "Alice Moreau" → "A. M.": enough to tell visits apart on a phone's lock screen.
fn initials(full_name: &str) -> String {
    let parts: Vec<String> = full_name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect();
    if parts.is_empty() { "patient".into() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_keep_nothing_but_first_letters() {
        assert_eq!(super::initials("Alice  Moreau"), "A. M.");
        assert_eq!(super::initials("élodie de la cour"), "É. D. L. C.");
        assert_eq!(super::initials(" "), "patient");
    }
}
