//! Reminders: at each offset of `HEALTHSYNX_REMINDER_OFFSETS` before a
//! scheduled appointment, an `appointment.reminder` event. Each one is
//! noted in the same transaction that queues it, keyed by appointment,
//! start and offset, so it goes out once across restarts, crashes and
//! processes; a cancelled appointment gets none, and a moved one gets
//! those of its new time (its start is part of the key). When several are
//! due at once (booked late, or the server was down) only the nearest
//! goes out; the earlier ones are noted as passed.

use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use healthsynx_shared::{AppointmentStatus, EventType};

use super::{State, outbox};
use crate::error::Result;
use crate::scope::ApptScope;
use crate::store::AppointmentRow;

/// Whether any active webhook wants reminders (else a round does nothing,
/// and notes nothing, so a webhook added later gets the upcoming ones).
async fn anyone_listens(st: &State) -> Result<bool> {
    let hooks = st.store.read().await?.webhooks().await?;
    Ok(hooks.iter().any(|h| h.active && h.events.contains(&EventType::AppointmentReminder)))
}

/// The offsets due for `a` at `now`, nearest (smallest) first.
fn due_offsets(offsets: &[SignedDuration], a: &AppointmentRow, now: Timestamp) -> Vec<SignedDuration> {
    let mut due: Vec<SignedDuration> = offsets.iter().copied().filter(|o| a.start - *o <= now).collect();
    due.sort();
    due
}

/// One round: queues every reminder that has come due. Returns how many.
pub async fn run(st: &State) -> Result<usize> {
    let offsets = &st.config.outreach.reminder_offsets;
    let Some(furthest) = offsets.iter().max().copied() else { return Ok(0) };
    if !anyone_listens(st).await? {
        return Ok(0);
    }
    let now = super::now();
    let departments = st.store.read().await?.departments().await?;
    let mut sent = 0;
    for d in departments {
        let scope = ApptScope::Department(d.code.clone());
        let rows =
            st.store.read().await?.appointments_in(&scope, Some(now), Some(now + furthest), None, usize::MAX).await?;
        let upcoming: Vec<AppointmentRow> = rows
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a.status == AppointmentStatus::Scheduled && a.start > now)
            .filter(|a| !due_offsets(offsets, a, now).is_empty())
            .collect();
        if upcoming.is_empty() {
            continue;
        }
        sent += remind(st, &upcoming, offsets, now).await?;
    }
    if sent > 0 {
        outbox::wake(st);
    }
    Ok(sent)
}

/// Notes and queues the due reminders of `rows` in one transaction.
async fn remind(st: &State, rows: &[AppointmentRow], offsets: &[SignedDuration], now: Timestamp) -> Result<usize> {
    let mut tx = st.store.begin().await?;
    let mut sent = 0;
    for listed in rows {
        // Read again inside the transaction: cancelled or moved meanwhile, it
        // is judged as it is now.
        let Some(a) = tx.appointment(listed.id).await? else { continue };
        if a.status != AppointmentStatus::Scheduled || a.start <= now {
            continue;
        }
        let due = due_offsets(offsets, &a, now);
        let Some((nearest, passed)) = due.split_first() else { continue };
        if tx.mark_reminder_sent(a.id, a.start, nearest.as_secs()).await? {
            let extra = json!({ "offset": format!("{nearest:#}"), "offset_seconds": nearest.as_secs() });
            outbox::emit_appointment(&mut *tx, EventType::AppointmentReminder, &a, now, extra).await?;
            sent += 1;
        }
        for o in passed {
            tx.mark_reminder_sent(a.id, a.start, o.as_secs()).await?;
        }
    }
    tx.commit().await?;
    Ok(sent)
}
