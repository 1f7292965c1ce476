//! The waitlist and its automatic offers. When a matching time is free (a
//! cancellation, a move, new hours, an offer passed on), the oldest waiting
//! entry that fits it gets an offer: the time is booked as a `held`
//! appointment, so it is busy for everyone else under the same guarantees
//! as any booking, on every backend. Accepting turns the hold into a
//! scheduled appointment; declining or expiry deletes it and the time goes
//! to the next entry. An entry is never offered the same time twice: each
//! entry remembers every time it was offered.

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::{NewAppointment, NewWaitlistEntry, WaitlistQuery};
use healthsynx_shared::value::IdempotencyKey;
use healthsynx_shared::{
    Appointment, AppointmentStatus, AppointmentType, Offer, OfferStatus, WaitlistEntry, WaitlistStatus,
};

use super::scheduling::{
    MAX_RANGE_DAYS, Shape, check_bookable, check_type_offered, claim_time, doctor_dept, doctor_row, free_slots, new_row,
};
use super::{Caller, State, idempotent, outbox};
use crate::audit::{Action, Actor, Draft};
use crate::error::{Error, Result};
use crate::policy;
use crate::store::{OfferRow, Txn, WaitlistRow};
use healthsynx_shared::EventType;
use serde_json::json;

/// The furthest ahead an entry's window may reach.
const MAX_WINDOW_DAYS: i64 = 366;
/// Free times tried for one entry in one round before the next entry's turn.
const TRIES_PER_ENTRY: usize = 10;
/// What a held time's reason says when the entry has no note.
const HELD_REASON: &str = "Offered from the waitlist";

/// Says that time may have freed up: the waitlist looks at once.
pub fn wake(st: &State) {
    st.waitlist_due.notify_one();
}

/// The actor of what the server does by itself (offers made, offers expired).
fn system() -> Actor {
    Actor { id: None, role: None, addr: None }
}

async fn to_entry(st: &State, row: &WaitlistRow) -> Result<WaitlistEntry> {
    let note = match &row.note_sealed {
        Some(s) => Some(st.sealer.open(s, row.id.as_bytes())?),
        None => None,
    };
    Ok(WaitlistEntry {
        id: row.id,
        patient_id: row.patient_id,
        patient_name: st.store.patient_name(row.patient_id).await?,
        doctor_id: row.doctor_id,
        department: row.department.clone(),
        type_id: row.type_id,
        earliest: row.earliest,
        latest: row.latest,
        note,
        status: row.status,
        offer_id: row.offer_id,
        created_at: row.created_at,
    })
}

async fn to_offer(st: &State, row: &OfferRow) -> Result<Offer> {
    Ok(Offer {
        id: row.id,
        waitlist_id: row.waitlist_id,
        appointment_id: row.appointment_id,
        patient_id: row.patient_id,
        patient_name: st.store.patient_name(row.patient_id).await?,
        doctor_id: row.doctor_id,
        doctor_name: st.store.user_name(row.doctor_id).await?,
        department: row.department.clone(),
        type_id: row.type_id,
        resource_id: row.resource_id,
        start: row.start,
        end: row.end,
        expires_at: row.expires_at,
        status: row.status,
        created_at: row.created_at,
    })
}

/// The department an entry waits in, from its doctor, department or type,
/// which must agree; each named one must exist and take bookings.
async fn entry_department(
    st: &State,
    who: &Caller<'_>,
    req: &NewWaitlistEntry,
    kind: Option<&AppointmentType>,
) -> Result<String> {
    let from_doctor = match req.doctor_id {
        Some(id) => {
            let d = doctor_row(st, id).await.map_err(|_| Error::invalid("doctor_id", "is not a doctor"))?;
            if !d.active {
                return Err(Error::invalid("doctor_id", "this doctor no longer takes appointments"));
            }
            Some(doctor_dept(&d).to_owned())
        }
        None => None,
    };
    if let Some(code) = &req.department
        && st.store.read().await?.department(code).await?.is_none()
    {
        return Err(Error::invalid("department", "is not a department"));
    }
    let from_type = kind.map(|t| t.department.clone());
    let named = [("doctor_id", from_doctor), ("department", req.department.clone()), ("type_id", from_type)];
    let mut department: Option<String> = None;
    for (field, d) in named {
        match (&department, d) {
            (Some(have), Some(d)) if *have != d => {
                return Err(Error::invalid(field, format!("belongs to {d}, not to {have}")));
            }
            (None, Some(d)) => department = Some(d),
            _ => {}
        }
    }
    if let Some(t) = kind {
        check_type_offered(who.who, t)?;
    }
    department.ok_or_else(|| Error::invalid("doctor_id", "name a doctor, a department or a kind of visit"))
}

fn check_window(req: &NewWaitlistEntry, now: Timestamp) -> Result<()> {
    if req.latest <= req.earliest {
        return Err(Error::invalid("latest", "must be after earliest"));
    }
    if req.latest <= now {
        return Err(Error::invalid("latest", "is in the past"));
    }
    if req.latest > now + SignedDuration::from_hours(24 * MAX_WINDOW_DAYS) {
        return Err(Error::invalid("latest", format!("may be at most {MAX_WINDOW_DAYS} days ahead")));
    }
    Ok(())
}

/// `POST /api/waitlist`: a patient for themselves, the front desk for anyone.
pub async fn join(
    st: &State,
    who: &Caller<'_>,
    req: NewWaitlistEntry,
    key: Option<&IdempotencyKey>,
) -> Result<WaitlistEntry> {
    policy::join_waitlist(who.who, req.patient_id)?;
    st.store.read().await?.patient(req.patient_id).await?.ok_or(Error::NotFound)?;
    let now = super::now();
    check_window(&req, now)?;
    let kind = match req.type_id {
        Some(id) => Some(
            st.store
                .read()
                .await?
                .appointment_type(id)
                .await?
                .ok_or_else(|| Error::invalid("type_id", "is not an appointment type"))?,
        ),
        None => None,
    };
    let department = entry_department(st, who, &req, kind.as_ref()).await?;
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &req, now).await?;
    if let Some(id) = once.replayed {
        let row = tx.waitlist_entry(id).await?.ok_or(Error::NotFound)?;
        drop(tx);
        return to_entry(st, &row).await;
    }
    // The same wish twice would take two offers for one visit.
    tx.hold_patient_bookings(req.patient_id).await?;
    let same = tx.waitlist_entries().await?.into_iter().any(|e| {
        e.live()
            && e.patient_id == req.patient_id
            && e.doctor_id == req.doctor_id
            && e.department == department
            && e.type_id == req.type_id
            && e.latest > now
    });
    if same {
        return Err(Error::Conflict("the patient is already on the waitlist for this".into()));
    }
    let id = Uuid::now_v7();
    let note = req.note.as_ref().map(|n| n.trim()).filter(|n| !n.is_empty());
    let row = WaitlistRow {
        id,
        patient_id: req.patient_id,
        doctor_id: req.doctor_id,
        department,
        type_id: req.type_id,
        earliest: req.earliest,
        latest: req.latest,
        note_sealed: note.map(|n| st.sealer.seal(n, id.as_bytes())).transpose()?,
        status: WaitlistStatus::Waiting,
        offer_id: None,
        offered: Vec::new(),
        created_at: now,
        created_by: who.who.user_id(),
        ended_at: None,
    };
    tx.put_waitlist_entry(&row).await?;
    once.remember(&mut tx, id).await?;
    tx.audit(Draft::new(&who.actor(), Action::WaitlistCreate, "waitlist", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    wake(st);
    to_entry(st, &row).await
}

/// `GET /api/waitlist?doctor_id=&department=`: live entries, oldest first
/// (a patient sees their own).
pub async fn list(st: &State, who: &Caller<'_>, q: WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
    let own = policy::waitlist_scope(who.who)?;
    let now = super::now();
    let rows = st.store.read().await?.waitlist_entries().await?;
    let wanted = |e: &WaitlistRow| {
        e.live()
            && e.latest > now
            && own.is_none_or(|p| e.patient_id == p)
            && q.doctor_id.is_none_or(|d| e.doctor_id == Some(d))
            && q.department.as_deref().is_none_or(|d| e.department == d)
    };
    let mut out = Vec::new();
    let mut audit = Vec::new();
    for row in rows.iter().filter(|e| wanted(e)) {
        out.push(to_entry(st, row).await?);
        audit.push(Draft::new(&who.actor(), Action::WaitlistList, "waitlist", Some(row.id)).patient(row.patient_id));
    }
    st.store.append_audit(audit).await?;
    Ok(out)
}

/// `GET /api/waitlist/{id}`: an entry as it is now, also once booked or removed.
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<WaitlistEntry> {
    let row = st.store.read().await?.waitlist_entry(id).await?.ok_or(Error::NotFound)?;
    policy::answer_waitlist(who.who, row.patient_id)?;
    let entry = to_entry(st, &row).await?;
    let read = Draft::new(&who.actor(), Action::WaitlistRead, "waitlist", Some(id)).patient(row.patient_id);
    st.store.append_audit([read]).await?;
    Ok(entry)
}

/// Ends `offer` as `status`: its held time is deleted, and its entry waits
/// again unless it was removed or booked.
async fn release(tx: &mut Txn<'_>, offer: &mut OfferRow, status: OfferStatus, now: Timestamp) -> Result<()> {
    if let Some(held) = tx.appointment(offer.appointment_id).await?
        && held.status == AppointmentStatus::Held
    {
        tx.remove_appointment(&held).await?;
    }
    offer.status = status;
    offer.ended_at = Some(now);
    tx.put_offer(offer).await?;
    if let Some(mut entry) = tx.waitlist_entry(offer.waitlist_id).await?
        && entry.offer_id == Some(offer.id)
    {
        entry.offer_id = None;
        if entry.status == WaitlistStatus::Offered {
            entry.status = WaitlistStatus::Waiting;
        }
        tx.put_waitlist_entry(&entry).await?;
    }
    Ok(())
}

/// `DELETE /api/waitlist/{id}`: takes the entry off, withdrawing its open offer.
pub async fn leave(st: &State, who: &Caller<'_>, id: Uuid) -> Result<()> {
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let mut entry = tx.waitlist_entry(id).await?.ok_or(Error::NotFound)?;
    policy::answer_waitlist(who.who, entry.patient_id)?;
    if !entry.live() {
        return Err(Error::NotFound);
    }
    if let Some(offer_id) = entry.offer_id
        && let Some(mut offer) = tx.offer(offer_id).await?
        && offer.status == OfferStatus::Open
    {
        release(&mut tx, &mut offer, OfferStatus::Withdrawn, now).await?;
        entry.offer_id = None;
    }
    entry.status = WaitlistStatus::Removed;
    entry.ended_at = Some(now);
    tx.put_waitlist_entry(&entry).await?;
    tx.audit(Draft::new(&who.actor(), Action::WaitlistRemove, "waitlist", Some(id)).patient(entry.patient_id));
    tx.commit().await?;
    wake(st);
    Ok(())
}

/// `GET /api/offers`: open offers, soonest to expire first (a patient sees their own).
pub async fn offers(st: &State, who: &Caller<'_>) -> Result<Vec<Offer>> {
    let own = policy::waitlist_scope(who.who)?;
    let now = super::now();
    let mut rows: Vec<OfferRow> = st.store.read().await?.offers().await?;
    rows.retain(|o| o.status == OfferStatus::Open && o.expires_at > now && own.is_none_or(|p| o.patient_id == p));
    rows.sort_by_key(|o| (o.expires_at, o.id));
    let mut out = Vec::new();
    let mut audit = Vec::new();
    for row in &rows {
        out.push(to_offer(st, row).await?);
        audit.push(Draft::new(&who.actor(), Action::OfferList, "offer", Some(row.id)).patient(row.patient_id));
    }
    st.store.append_audit(audit).await?;
    Ok(out)
}

/// An offer the caller may answer, locked for this transaction.
async fn offer_to_answer(tx: &mut Txn<'_>, who: &Caller<'_>, id: Uuid) -> Result<OfferRow> {
    let offer = tx.offer(id).await?.ok_or(Error::NotFound)?;
    policy::answer_waitlist(who.who, offer.patient_id)?;
    Ok(offer)
}

fn ended(offer: &OfferRow) -> Error {
    let how = match offer.status {
        OfferStatus::Open => "expired",
        OfferStatus::Accepted => "been accepted",
        OfferStatus::Declined => "been declined",
        OfferStatus::Expired => "expired",
        OfferStatus::Withdrawn => "been withdrawn (the patient left the waitlist)",
    };
    Error::Conflict(format!("this offer has {how}"))
}

/// `POST /api/offers/{id}/accept`: the held time becomes a scheduled
/// appointment. Accepting an accepted offer again answers the same appointment.
pub async fn accept(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Appointment> {
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let mut offer = offer_to_answer(&mut tx, who, id).await?;
    let held = tx.appointment(offer.appointment_id).await?;
    let held = match (offer.status, held) {
        (OfferStatus::Accepted, Some(row)) => {
            drop(tx);
            return super::scheduling::to_appointment(st, &row).await;
        }
        (OfferStatus::Open, Some(row)) if offer.expires_at > now && row.status == AppointmentStatus::Held => row,
        _ => return Err(ended(&offer)),
    };
    let mut row = held.clone();
    row.status = AppointmentStatus::Scheduled;
    row.version += 1;
    row.updated_at = now;
    tx.put_appointment(&row, Some(&held)).await?;
    offer.status = OfferStatus::Accepted;
    offer.ended_at = Some(now);
    tx.put_offer(&offer).await?;
    if let Some(mut entry) = tx.waitlist_entry(offer.waitlist_id).await? {
        entry.status = WaitlistStatus::Booked;
        entry.offer_id = None;
        entry.ended_at = Some(now);
        tx.put_waitlist_entry(&entry).await?;
    }
    tx.audit(Draft::new(&who.actor(), Action::OfferAccept, "offer", Some(id)).patient(offer.patient_id));
    tx.audit(Draft::new(&who.actor(), Action::AppointmentCreate, "appointment", Some(row.id)).patient(row.patient_id));
    let told = outbox::emit_appointment(&mut *tx, EventType::AppointmentBooked, &row, now, json!({})).await?;
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    super::scheduling::to_appointment(st, &row).await
}

/// `POST /api/offers/{id}/decline`: the time goes to the next entry.
pub async fn decline(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Offer> {
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let mut offer = offer_to_answer(&mut tx, who, id).await?;
    match offer.status {
        OfferStatus::Declined => {
            drop(tx);
            return to_offer(st, &offer).await;
        }
        OfferStatus::Open => {}
        _ => return Err(ended(&offer)),
    }
    release(&mut tx, &mut offer, OfferStatus::Declined, now).await?;
    tx.audit(Draft::new(&who.actor(), Action::OfferDecline, "offer", Some(id)).patient(offer.patient_id));
    tx.commit().await?;
    wake(st);
    to_offer(st, &offer).await
}

/// What one look at the waitlist did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub expired: usize,
    pub offered: usize,
}

/// Passes expired offers on and offers free time to waiting entries,
/// oldest entry first. Safe to run in any number of processes at once:
/// each step locks its entry or offer, and a held time is a booking.
pub async fn run(st: &State) -> Result<Round> {
    let now = super::now();
    let mut round = Round::default();
    let (offers, entries) = {
        let mut r = st.store.read().await?;
        (r.offers().await?, r.waitlist_entries().await?)
    };
    for o in offers.iter().filter(|o| o.status == OfferStatus::Open && o.expires_at <= now) {
        let mut tx = st.store.begin().await?;
        let Some(mut offer) = tx.offer(o.id).await? else { continue };
        if offer.status != OfferStatus::Open || offer.expires_at > now {
            continue;
        }
        release(&mut tx, &mut offer, OfferStatus::Expired, now).await?;
        tx.audit(Draft::new(&system(), Action::OfferExpire, "offer", Some(offer.id)).patient(offer.patient_id));
        tx.commit().await?;
        round.expired += 1;
    }
    let earliest_offer = now + st.config.offer_hold;
    let waiting: Vec<&WaitlistRow> =
        entries.iter().filter(|e| e.status == WaitlistStatus::Waiting && e.latest > earliest_offer).collect();
    for (i, entry) in waiting.iter().enumerate() {
        round.offered += offer_one(st, entry, &waiting[..=i], now).await?;
    }
    Ok(round)
}

/// The doctors an entry may be offered: its own, or the active ones of its department.
async fn doctors_of(st: &State, entry: &WaitlistRow) -> Result<Vec<Uuid>> {
    match entry.doctor_id {
        Some(d) => Ok(if doctor_row(st, d).await?.active { vec![d] } else { Vec::new() }),
        None => {
            let all = super::scheduling::doctors(st, Some(&entry.department)).await?;
            Ok(all.into_iter().map(|d| d.id).collect())
        }
    }
}

/// Whether `entry` wants `start..end` with `doctor` (of `department`) as a
/// visit of kind `type_id`, and was not offered it before.
fn wants(
    entry: &WaitlistRow,
    doctor: Uuid,
    department: &str,
    type_id: Option<Uuid>,
    slot: (Timestamp, Timestamp),
) -> bool {
    entry.doctor_id.map_or(entry.department == department, |d| d == doctor)
        && entry.type_id == type_id
        && entry.earliest <= slot.0
        && slot.1 <= entry.latest
        && !entry.offered.contains(&(doctor, slot.0))
}

/// Finds the earliest free time `entry` fits and offers it to the oldest
/// of `older` (the entries up to and including this one) that wants it and
/// can take it: a time freed while the round looked at later entries still
/// goes to the first in line.
async fn offer_one(st: &State, entry: &WaitlistRow, older: &[&WaitlistRow], now: Timestamp) -> Result<usize> {
    // Only a time that starts after the offer would expire is worth offering.
    let from = entry.earliest.max(now + st.config.offer_hold);
    let to = entry.latest.min(from + SignedDuration::from_hours(24 * MAX_RANGE_DAYS));
    let kind = match entry.type_id {
        Some(id) => match st.store.read().await?.appointment_type(id).await? {
            Some(t) if t.active => Some(t),
            _ => return Ok(0),
        },
        None => None,
    };
    let mut free = Vec::new();
    for doctor in doctors_of(st, entry).await? {
        let department = doctor_dept(&*doctor_row(st, doctor).await?).to_owned();
        for slot in free_slots(st, doctor, from, to, now, kind.as_ref()).await? {
            if wants(entry, doctor, &department, entry.type_id, (slot.start, slot.end)) {
                free.push((slot.start, slot.end, doctor, department.clone()));
            }
        }
    }
    free.sort();
    let mut made = 0;
    'times: for (start, end, doctor, department) in free.into_iter().take(TRIES_PER_ENTRY) {
        for first in older.iter().filter(|o| wants(o, doctor, &department, entry.type_id, (start, end))) {
            match hold(st, first.id, doctor, start, kind.as_ref(), now).await {
                Ok(Held::Made) if first.id == entry.id => return Ok(made + 1),
                Ok(Held::Made) => {
                    made += 1;
                    continue 'times;
                }
                Ok(Held::EntryMoved) | Ok(Held::Taken) => continue,
                Err(Error::Conflict(_)) | Err(Error::Collisions(..)) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(made)
}

enum Held {
    Made,
    /// The time is no longer free (or no longer bookable).
    Taken,
    /// The entry was answered, removed or offered meanwhile (another process).
    EntryMoved,
}

/// Books `start` with `doctor` as a held appointment for the entry and
/// makes the offer, in one transaction.
async fn hold(
    st: &State,
    entry_id: Uuid,
    doctor: Uuid,
    start: Timestamp,
    kind: Option<&AppointmentType>,
    now: Timestamp,
) -> Result<Held> {
    let doctor_row = doctor_row(st, doctor).await?;
    let mut tx = st.store.begin().await?;
    let Some(mut entry) = tx.waitlist_entry(entry_id).await? else { return Ok(Held::EntryMoved) };
    if entry.status != WaitlistStatus::Waiting {
        return Ok(Held::EntryMoved);
    }
    if entry.offered.contains(&(doctor, start)) {
        return Ok(Held::Taken);
    }
    let a = tx.availability(doctor).await?;
    let Ok(end) = check_bookable(st, &a, start, None, kind.map(Shape::of_type), now) else { return Ok(Held::Taken) };
    let reason = match &entry.note_sealed {
        Some(s) => st.sealer.open(s, entry.id.as_bytes())?,
        None => HELD_REASON.to_owned(),
    };
    let visit = NewAppointment {
        patient_id: entry.patient_id,
        doctor_id: doctor,
        start,
        end: Some(end),
        reason: reason.parse().map_err(|e: String| Error::Internal(anyhow::anyhow!("a stored note: {e}")))?,
        type_id: kind.map(|t| t.id),
    };
    let mut row = new_row(st, entry.created_by, &visit, &doctor_row, kind, end, now)?;
    row.status = AppointmentStatus::Held;
    let id = row.id;
    claim_time(&mut *tx, &mut row, kind).await?;
    tx.put_appointment(&row, None).await?;
    let offer = OfferRow {
        id: Uuid::now_v7(),
        waitlist_id: entry.id,
        appointment_id: id,
        patient_id: entry.patient_id,
        doctor_id: doctor,
        department: row.department.clone(),
        type_id: row.type_id,
        resource_id: row.resource_id,
        start,
        end,
        expires_at: now + st.config.offer_hold,
        status: OfferStatus::Open,
        created_at: now,
        ended_at: None,
    };
    tx.put_offer(&offer).await?;
    entry.status = WaitlistStatus::Offered;
    entry.offer_id = Some(offer.id);
    entry.offered.push((doctor, start));
    tx.put_waitlist_entry(&entry).await?;
    tx.audit(Draft::new(&system(), Action::OfferCreate, "offer", Some(offer.id)).patient(offer.patient_id));
    let told = outbox::emit_offer(&mut *tx, &offer, now).await?;
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    tracing::info!(offer = %offer.id, waitlist = %entry.id, "offered a freed time");
    Ok(Held::Made)
}
