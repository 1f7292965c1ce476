//! Availability, free slots, appointments and their life cycle. Times are
//! stored in UTC; weekly rules are read in the clinic's time zone, so a
//! 09:00 rule stays 09:00 on both sides of a daylight-saving change.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use jiff::civil::{Date, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::*;
use healthsynx_shared::validate::{self, Errors, MAX_SHORT_TEXT};
use healthsynx_shared::value::{IdempotencyKey, Reason};
use healthsynx_shared::{
    Appointment, AppointmentStatus, AppointmentType, Availability, AvailabilityRule, Doctor, Role, Slot, TimeOff,
};

use super::{Caller, Pager, State, idempotent, limit, outbox};
use crate::audit::{Action, Draft};
use crate::config::BookingRules;
use crate::error::{Error, Result};
use crate::policy::{self, ApptFacts, CareFacts, Principal, Reach};
use crate::scope::ApptScope;
use crate::store::{AppointmentRow, MAX_APPOINTMENT_HOURS, Tx, Txn, UserRow, longest_busy, longest_held, max_buffer};
use healthsynx_shared::EventType;
use serde_json::json;

/// Longest range a slot search or calendar may cover.
pub const MAX_RANGE_DAYS: i64 = 31;
const MAX_RULES: usize = 100;

pub(super) async fn doctor_row(st: &State, id: Uuid) -> Result<Arc<UserRow>> {
    st.store.user(id).await?.filter(|u| u.role == Role::Doctor).ok_or(Error::NotFound)
}

/// A doctor who takes appointments, and the patient of a booking: an
/// unknown doctor or patient is `404`, a retired doctor `422`.
pub(super) async fn booking_parties(st: &State, doctor: Uuid, patient: Uuid) -> Result<Arc<UserRow>> {
    let d = doctor_row(st, doctor).await?;
    if !d.active {
        return Err(Error::invalid("doctor_id", "this doctor no longer takes appointments"));
    }
    st.store.read().await?.patient(patient).await?.ok_or(Error::NotFound)?;
    Ok(d)
}

pub(super) fn doctor_dept(u: &UserRow) -> &str {
    u.department.as_deref().unwrap_or_default()
}

/// `GET /api/doctors?department=`: active doctors, by name.
pub async fn doctors(st: &State, department: Option<&str>) -> Result<Vec<Doctor>> {
    let mut out = Vec::new();
    for (_, u) in st.store.read().await?.users(None, usize::MAX).await? {
        if u.role == Role::Doctor && u.active && department.is_none_or(|d| u.department.as_deref() == Some(d)) {
            out.push(Doctor { id: u.id, full_name: u.full_name.clone(), department: doctor_dept(&u).to_owned() });
        }
    }
    out.sort_by(|a, b| a.full_name.cmp(&b.full_name));
    Ok(out)
}

// ---- availability ----

/// Checks weekly rules: valid fields, and no two overlapping on a weekday.
pub fn check_rules(rules: &[AvailabilityRule]) -> Result<()> {
    let mut errors = Errors::default();
    if rules.len() > MAX_RULES {
        errors.check("rules", Err(format!("at most {MAX_RULES} rules")));
    }
    let mut spans: Vec<(u8, u16, u16, usize)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let f = |n: &str| format!("rules[{i}].{n}");
        if !(1..=7).contains(&r.weekday) {
            errors.check(&f("weekday"), Err("must be 1 (Monday) to 7 (Sunday)".into()));
        }
        if !(5..=480).contains(&r.slot_minutes) {
            errors.check(&f("slot_minutes"), Err("must be between 5 and 480".into()));
        }
        let (s, e) = (r.start.minutes(), r.end.minutes());
        if s + r.slot_minutes.max(1) <= e && s < 1440 {
            spans.push((r.weekday, s, e, i));
        } else {
            errors.check(&f("end"), Err("must leave room for at least one slot after start".into()));
        }
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[0].0 == w[1].0 && w[1].1 < w[0].2 {
            errors
                .check(&format!("rules[{}]", w[1].3), Err(format!("overlaps rules[{}] on weekday {}", w[0].3, w[0].0)));
        }
    }
    errors.finish().map_err(Error::from)
}

/// `GET /api/doctors/{id}/availability`
pub async fn availability(st: &State, who: &Caller<'_>, doctor: Uuid) -> Result<Availability> {
    let d = doctor_row(st, doctor).await?;
    policy::read_availability(who.who, doctor, doctor_dept(&d))?;
    Ok(st.store.read().await?.availability(doctor).await?)
}

/// `PUT /api/doctors/{id}/availability`: replaces the weekly rules.
pub async fn set_rules(
    st: &State,
    who: &Caller<'_>,
    doctor: Uuid,
    rules: Vec<AvailabilityRule>,
) -> Result<Availability> {
    doctor_row(st, doctor).await?;
    policy::write_availability(who.who, doctor)?;
    check_rules(&rules)?;
    let mut tx = st.store.begin().await?;
    let mut a = tx.availability_to_change(doctor).await?;
    a.rules = rules;
    a.rules.sort_by(|x, y| (x.weekday, &x.start).cmp(&(y.weekday, &y.start)));
    tx.put_availability(doctor, &a).await?;
    tx.audit(Draft::new(&who.actor(), Action::AvailabilityUpdate, "doctor", Some(doctor)));
    tx.commit().await?;
    super::waitlist::wake(st);
    Ok(a)
}

/// `POST /api/doctors/{id}/time-off`
pub async fn add_time_off(st: &State, who: &Caller<'_>, doctor: Uuid, req: NewTimeOff) -> Result<TimeOff> {
    doctor_row(st, doctor).await?;
    policy::write_availability(who.who, doctor)?;
    let mut errors = Errors::default();
    if req.end <= req.start {
        errors.check("end", Err("must be after start".into()));
    }
    if req.end.duration_since(req.start) > SignedDuration::from_hours(24 * 366) {
        errors.check("end", Err("time off may last at most a year".into()));
    }
    errors.check("reason", validate::optional_text(&req.reason, MAX_SHORT_TEXT));
    errors.finish()?;
    let t = TimeOff { id: Uuid::now_v7(), start: req.start, end: req.end, reason: req.reason.trim().to_owned() };
    let mut tx = st.store.begin().await?;
    let mut a = tx.availability_to_change(doctor).await?;
    a.time_off.push(t.clone());
    a.time_off.sort_by_key(|t| t.start);
    tx.put_availability(doctor, &a).await?;
    tx.audit(Draft::new(&who.actor(), Action::TimeOffCreate, "doctor", Some(doctor)));
    tx.commit().await?;
    Ok(t)
}

/// `DELETE /api/doctors/{id}/time-off/{tid}`
pub async fn delete_time_off(st: &State, who: &Caller<'_>, doctor: Uuid, id: Uuid) -> Result<()> {
    doctor_row(st, doctor).await?;
    policy::write_availability(who.who, doctor)?;
    let mut tx = st.store.begin().await?;
    let mut a = tx.availability_to_change(doctor).await?;
    let before = a.time_off.len();
    a.time_off.retain(|t| t.id != id);
    if a.time_off.len() == before {
        return Err(Error::NotFound);
    }
    tx.put_availability(doctor, &a).await?;
    tx.audit(Draft::new(&who.actor(), Action::TimeOffDelete, "doctor", Some(doctor)));
    tx.commit().await?;
    super::waitlist::wake(st);
    Ok(())
}

// ---- slots ----

/// Checks a `from`/`to` range: ordered and at most 31 days.
pub fn check_range(from: Timestamp, to: Timestamp) -> Result<()> {
    if to <= from {
        return Err(Error::invalid("to", "must be after from"));
    }
    if to.duration_since(from) > SignedDuration::from_hours(24 * MAX_RANGE_DAYS) {
        return Err(Error::invalid("to", format!("the range may cover at most {MAX_RANGE_DAYS} days")));
    }
    Ok(())
}

/// A slot of a rule, with which rule made it and where that rule's
/// window ends that day (a visit longer than a slot must end by then).
#[derive(Debug, Clone, Copy)]
struct GridSlot {
    rule: usize,
    slot: Slot,
    window_end: Timestamp,
}

/// The instant of a civil time in `tz`; `None` in a daylight-saving gap
/// (that clock time does not exist that day). In a fold the earlier is taken.
fn instant(tz: &TimeZone, date: Date, minutes: u16) -> Option<Timestamp> {
    let time = Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?;
    let amb = tz.to_ambiguous_timestamp(date.to_datetime(time));
    if matches!(amb.offset(), AmbiguousOffset::Gap { .. }) {
        return None;
    }
    amb.compatible().ok()
}

/// Every slot the weekly rules make on local dates `first..=last`, in time order.
fn grid(tz: &TimeZone, rules: &[AvailabilityRule], first: Date, last: Date) -> Vec<GridSlot> {
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        let weekday = date.weekday().to_monday_one_offset() as u8;
        for (i, r) in rules.iter().enumerate().filter(|(_, r)| r.weekday == weekday) {
            let (s, e) = (r.start.minutes(), r.end.minutes());
            let step = r.slot_minutes.max(1);
            let first = out.len();
            let mut m = s;
            while m + step <= e {
                if let Some(start) = instant(tz, date, m) {
                    let end = start + SignedDuration::from_mins(step as i64);
                    out.push(GridSlot { rule: i, slot: Slot { start, end }, window_end: end });
                }
                m += step;
            }
            if let Some(window_end) = out[first..].last().map(|g| g.slot.end) {
                out[first..].iter_mut().for_each(|g| g.window_end = window_end);
            }
        }
        match date.tomorrow() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    out.sort_by_key(|g| g.slot.start);
    out
}

fn local_date(tz: &TimeZone, t: Timestamp) -> Date {
    t.to_zoned(tz.clone()).date()
}

fn overlaps(a_start: Timestamp, a_end: Timestamp, b_start: Timestamp, b_end: Timestamp) -> bool {
    a_start < b_end && b_start < a_end
}

/// The busy spans (visit and buffers) of a scope's appointments that can
/// reach into `[from, to)`.
async fn busy_in(
    tx: &mut (dyn Tx + '_),
    scope: &ApptScope,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<(Timestamp, Timestamp)>> {
    let rows = tx.appointments_in(scope, Some(from - longest_held(scope)), Some(to + max_buffer()), None, usize::MAX);
    Ok(rows.await?.into_iter().filter(|(_, a)| a.status.holds_time()).map(|(_, a)| a.held_in(scope)).collect())
}

/// The active resources a type books one of, in the order they are given out.
async fn resources_for(tx: &mut (dyn Tx + '_), department: &str, kind: &str) -> Result<Vec<Uuid>> {
    let all = tx.resources().await?;
    Ok(all.into_iter().filter(|r| r.active && r.department == department && r.kind == kind).map(|r| r.id).collect())
}

/// The length and buffers of a typed visit: its type's when booked, its
/// own once booked (a changed type moves no booking).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    minutes: u16,
    before: u16,
    after: u16,
}

impl Shape {
    pub(super) fn of_type(t: &AppointmentType) -> Self {
        Shape { minutes: t.minutes, before: t.buffer_before, after: t.buffer_after }
    }

    fn of_row(row: &AppointmentRow) -> Self {
        let minutes = u16::try_from(row.end.duration_since(row.start).as_mins()).unwrap_or(u16::MAX);
        Shape { minutes, before: row.buffer_before, after: row.buffer_after }
    }
}

/// What a visit takes from a slot's start: its end, and the time the
/// doctor (and resource) are busy with it.
fn visit_at(start: Timestamp, grid_end: Timestamp, shape: Option<Shape>) -> (Timestamp, (Timestamp, Timestamp)) {
    match shape {
        None => (grid_end, (start, grid_end)),
        Some(t) => {
            let end = start + SignedDuration::from_mins(i64::from(t.minutes));
            (end, healthsynx_shared::busy_span(start, end, t.before, t.after))
        }
    }
}

/// Free slots = rules − time off − booked appointments and their buffers −
/// the past; for a type, slots as long as it whose buffers are clear too
/// and that leave one of its resources free.
pub async fn free_slots(
    st: &State,
    doctor: Uuid,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
    kind: Option<&AppointmentType>,
) -> Result<Vec<Slot>> {
    let tz = &st.config.tz;
    let mut tx = st.store.read().await?;
    let a = tx.availability(doctor).await?;
    // A day either side: local dates of the UTC range, whatever the offset.
    let first = local_date(tz, from).yesterday().unwrap_or(local_date(tz, from));
    let last = local_date(tz, to).tomorrow().unwrap_or(local_date(tz, to));
    let booked = busy_in(&mut *tx, &ApptScope::Doctor(doctor), from, to).await?;
    // Each resource of the type's kind: the busy spans of its visits.
    let mut rooms: Vec<Vec<(Timestamp, Timestamp)>> = Vec::new();
    if let Some(t) = kind
        && let Some(k) = &t.resource_kind
    {
        let ids = resources_for(&mut *tx, &t.department, k).await?;
        let held = tx.appointments_of_resources(&ids, from - longest_busy(), to + max_buffer()).await?;
        let live = |id: Uuid| held.iter().filter(move |a| a.resource_id == Some(id) && a.status.holds_time());
        rooms = ids.iter().map(|id| live(*id).map(AppointmentRow::busy).collect()).collect();
    }
    let clear = |spans: &[(Timestamp, Timestamp)], (b0, b1): (Timestamp, Timestamp)| {
        !spans.iter().any(|(s0, s1)| overlaps(b0, b1, *s0, *s1))
    };
    let needs_room = kind.is_some_and(|t| t.resource_kind.is_some());
    let slots: Vec<Slot> = grid(tz, &a.rules, first, last)
        .into_iter()
        .filter(|g| g.slot.start >= from && g.slot.start < to && g.slot.start >= now)
        .filter_map(|g| {
            let (end, busy) = visit_at(g.slot.start, g.slot.end, kind.map(Shape::of_type));
            let fits = end <= g.window_end
                && !a.time_off.iter().any(|t| overlaps(busy.0, busy.1, t.start, t.end))
                && clear(&booked, busy)
                && (!needs_room || rooms.iter().any(|r| clear(r, busy)));
            fits.then_some(Slot { start: g.slot.start, end })
        })
        .collect();
    Ok(slots)
}

/// A type as a booking or slot search of `doctor` may use it: active, of
/// the doctor's department, and bookable by the caller.
fn check_type_use(who: &Principal, t: &AppointmentType, doctor: &UserRow) -> Result<()> {
    check_type_offered(who, t)?;
    if t.department != doctor_dept(doctor) {
        return Err(Error::invalid(
            "type_id",
            format!("is a type of {}, not of this doctor's department", t.department),
        ));
    }
    Ok(())
}

/// A type still offered, and offered online when the caller books online.
pub(super) fn check_type_offered(who: &Principal, t: &AppointmentType) -> Result<()> {
    if !t.active {
        return Err(Error::invalid("type_id", "is no longer offered"));
    }
    if policy::bound_by_booking_rules(who) && !t.patient_bookable {
        return Err(Error::invalid("type_id", "is booked by the clinic, not online; please call the clinic"));
    }
    Ok(())
}

pub(super) async fn type_for(
    tx: &mut (dyn Tx + '_),
    who: &Principal,
    id: Option<Uuid>,
    doctor: &UserRow,
) -> Result<Option<AppointmentType>> {
    let Some(id) = id else { return Ok(None) };
    let t = tx.appointment_type(id).await?.ok_or_else(|| Error::invalid("type_id", "is not an appointment type"))?;
    check_type_use(who, &t, doctor)?;
    Ok(Some(t))
}

/// `GET /api/doctors/{id}/slots?from=&to=&type_id=` (any role).
pub async fn slots(st: &State, who: &Caller<'_>, doctor: Uuid, q: SlotQuery) -> Result<Vec<Slot>> {
    let d = doctor_row(st, doctor).await?;
    check_range(q.from, q.to)?;
    let kind = type_for(&mut *st.store.read().await?, who.who, q.type_id, &d).await?;
    let now = super::now();
    let mut free = free_slots(st, doctor, q.from, q.to, now, kind.as_ref()).await?;
    if policy::bound_by_booking_rules(who.who) {
        // A patient is offered only what the booking rules let them book.
        let (earliest, latest) = (st.config.booking_rules.earliest(now), st.config.booking_rules.latest(now));
        free.retain(|s| s.start >= earliest && s.start <= latest);
    }
    Ok(free)
}

/// Checks that `[start, end)` lies on the doctor's slot grid, inside one
/// rule, its busy time outside time off, and not in the past; returns `end`
/// resolved: one slot when not given, or the type's length.
pub(super) fn check_bookable(
    st: &State,
    a: &Availability,
    start: Timestamp,
    end: Option<Timestamp>,
    shape: Option<Shape>,
    now: Timestamp,
) -> Result<Timestamp> {
    if start < now {
        return Err(Error::invalid("start", "is in the past"));
    }
    if let Some(end) = end {
        if end <= start {
            return Err(Error::invalid("end", "must be after start"));
        }
        if end.duration_since(start) > SignedDuration::from_hours(MAX_APPOINTMENT_HOURS) {
            return Err(Error::invalid(
                "end",
                format!("an appointment may last at most {MAX_APPOINTMENT_HOURS} hours"),
            ));
        }
    }
    let tz = &st.config.tz;
    let day = local_date(tz, start);
    let grid = grid(tz, &a.rules, day, day);
    let Some(first) = grid.iter().find(|g| g.slot.start == start) else {
        return Err(Error::invalid("start", "is not the start of a slot in the doctor's availability"));
    };
    let (visit_end, busy) = visit_at(start, first.slot.end, shape);
    let end = match (end, shape) {
        (None, _) => visit_end,
        (Some(end), Some(t)) if end != visit_end => {
            return Err(Error::invalid("end", format!("is set by the appointment type: {} minutes", t.minutes)));
        }
        (Some(end), Some(_)) => end,
        (Some(end), None) => {
            let fits = grid.iter().any(|g| g.rule == first.rule && g.slot.start >= start && g.slot.end == end);
            if !fits {
                return Err(Error::invalid("end", "must be the end of a slot in the same availability window"));
            }
            end
        }
    };
    if end > first.window_end {
        return Err(Error::invalid("start", "leaves too little time before the doctor's availability ends"));
    }
    let busy = if shape.is_some() { busy } else { (start, end) };
    if a.time_off.iter().any(|t| overlaps(busy.0, busy.1, t.start, t.end)) {
        return Err(Error::invalid("start", "falls in the doctor's time off"));
    }
    Ok(end)
}

/// Books one free resource of `kind` for `row`'s busy time, the one it
/// holds already if that is still free; others booking the same kind wait.
async fn pick_resource(tx: &mut (dyn Tx + '_), row: &AppointmentRow, kind: &str) -> Result<Uuid> {
    tx.hold_resources(&row.department, kind).await?;
    let mut candidates = resources_for(tx, &row.department, kind).await?;
    if let Some(held) = row.resource_id {
        candidates.sort_by_key(|r| *r != held);
    }
    // One read for all of them: the visits that could reach into this one's busy time.
    let (start, end) = row.busy();
    let near = tx.appointments_of_resources(&candidates, start - longest_busy(), end + max_buffer()).await?;
    let taken = |r: Uuid| {
        near.iter().any(|a| {
            let (s, e) = a.busy();
            a.resource_id == Some(r) && a.id != row.id && a.status.holds_time() && s < end && start < e
        })
    };
    candidates
        .into_iter()
        .find(|r| !taken(*r))
        .ok_or_else(|| Error::Conflict(format!("no {kind} is free at that time")))
}

// ---- appointments ----

/// An appointment as the API shows it: names joined, reason opened.
pub async fn to_appointment(st: &State, row: &AppointmentRow) -> Result<Appointment> {
    let patient_name = st.store.patient_name(row.patient_id).await?;
    let doctor_name = st.store.user_name(row.doctor_id).await?;
    Ok(Appointment {
        id: row.id,
        patient_id: row.patient_id,
        patient_name,
        doctor_id: row.doctor_id,
        doctor_name,
        department: row.department.clone(),
        start: row.start,
        end: row.end,
        status: row.status,
        reason: st.sealer.open(&row.reason_sealed, row.id.as_bytes())?,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
        type_id: row.type_id,
        resource_id: row.resource_id,
        buffer_before: row.buffer_before,
        buffer_after: row.buffer_after,
        series_id: row.series_id,
    })
}

pub(super) fn facts(row: &AppointmentRow) -> ApptFacts<'_> {
    ApptFacts { patient_id: row.patient_id, doctor_id: row.doctor_id, department: &row.department }
}

/// The doctor is free for the visit and its buffers, the patient for the visit.
async fn check_no_overlap(tx: &mut (dyn Tx + '_), row: &AppointmentRow) -> Result<()> {
    let ((busy_start, busy_end), id) = (row.busy(), Some(row.id));
    if !tx.overlapping(&ApptScope::Doctor(row.doctor_id), busy_start, busy_end, id).await?.is_empty() {
        return Err(Error::Conflict("the doctor already has an appointment at that time".into()));
    }
    if !tx.overlapping(&ApptScope::Patient(row.patient_id), row.start, row.end, id).await?.is_empty() {
        return Err(Error::Conflict("the patient already has an appointment at that time".into()));
    }
    Ok(())
}

/// The online booking rules: enough notice, within the horizon, and fewer
/// upcoming appointments than the most a patient may hold. Each refusal is
/// a `422` naming its setting and value.
async fn check_booking_rules(
    tx: &mut Txn<'_>,
    rules: BookingRules,
    patient: Uuid,
    start: Timestamp,
    now: Timestamp,
) -> Result<()> {
    if start < rules.earliest(now) {
        let h = rules.min_notice_hours;
        return Err(Error::invalid(
            "start",
            format!(
                "online bookings need {h} hours' notice (HEALTHSYNX_MIN_NOTICE_HOURS = {h}); please call the clinic"
            ),
        ));
    }
    if start > rules.latest(now) {
        let d = rules.horizon_days;
        return Err(Error::invalid(
            "start",
            format!("online bookings open {d} days ahead (HEALTHSYNX_BOOKING_HORIZON_DAYS = {d})"),
        ));
    }
    tx.hold_patient_bookings(patient).await?;
    let upcoming = tx.appointments_in(&ApptScope::Patient(patient), Some(now), None, None, usize::MAX).await?;
    let open = upcoming.iter().filter(|(_, a)| a.status.holds_time()).count() as u64;
    if open >= rules.max_open {
        let n = rules.max_open;
        return Err(Error::invalid(
            "patient_id",
            format!(
                "already holds {open} upcoming appointments, the most that can be booked online (HEALTHSYNX_MAX_OPEN_PER_PATIENT = {n})"
            ),
        ));
    }
    Ok(())
}

/// A new scheduled appointment of `req`'s patient and doctor at `start`
/// (its length checked already), its reason sealed, shaped by `kind`.
pub(super) fn new_row(
    st: &State,
    created_by: Uuid,
    req: &NewAppointment,
    doctor: &UserRow,
    kind: Option<&AppointmentType>,
    end: Timestamp,
    now: Timestamp,
) -> Result<AppointmentRow> {
    let id = Uuid::now_v7();
    Ok(AppointmentRow {
        id,
        patient_id: req.patient_id,
        doctor_id: req.doctor_id,
        department: doctor_dept(doctor).to_owned(),
        start: req.start,
        end,
        status: AppointmentStatus::Scheduled,
        reason_sealed: st.sealer.seal(req.reason.trim(), id.as_bytes())?,
        cancel_reason_sealed: None,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by,
        type_id: kind.map(|t| t.id),
        resource_id: None,
        buffer_before: kind.map_or(0, |t| t.buffer_before),
        buffer_after: kind.map_or(0, |t| t.buffer_after),
        series_id: None,
    })
}

/// Checks that the doctor and patient are free for `row` and books it a
/// resource if its type needs one.
pub(super) async fn claim_time(
    tx: &mut (dyn Tx + '_),
    row: &mut AppointmentRow,
    kind: Option<&AppointmentType>,
) -> Result<()> {
    check_no_overlap(tx, row).await?;
    if let Some(k) = kind.and_then(|t| t.resource_kind.as_deref()) {
        row.resource_id = Some(pick_resource(tx, row, k).await?);
    }
    Ok(())
}

/// Whether a booking made a new appointment or replayed an earlier answer.
pub enum Booked {
    New(Appointment),
    Replayed(Appointment),
}

/// `POST /api/appointments`: checks, overlap re-check and write under one
/// lock; answered only once durable. An `Idempotency-Key` replays the first answer.
pub async fn book(
    st: &State,
    who: &Caller<'_>,
    req: NewAppointment,
    idempotency_key: Option<&IdempotencyKey>,
) -> Result<Booked> {
    let doctor = booking_parties(st, req.doctor_id, req.patient_id).await?;
    let care = st.care_facts(who.who, req.patient_id).await?;
    policy::book(who.who, req.patient_id, req.doctor_id, care)?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, idempotency_key, &req, now).await?;
    if let Some(id) = once.replayed {
        let row = tx.appointment(id).await?.ok_or(Error::NotFound)?;
        drop(tx);
        return Ok(Booked::Replayed(to_appointment(st, &row).await?));
    }
    let kind = type_for(&mut *tx, who.who, req.type_id, &doctor).await?;
    let a = tx.availability(req.doctor_id).await?;
    let end = check_bookable(st, &a, req.start, req.end, kind.as_ref().map(Shape::of_type), now)?;
    if policy::bound_by_booking_rules(who.who) {
        check_booking_rules(&mut tx, st.config.booking_rules, req.patient_id, req.start, now).await?;
    }
    let mut row = new_row(st, who.who.user_id(), &req, &doctor, kind.as_ref(), end, now)?;
    let id = row.id;
    claim_time(&mut *tx, &mut row, kind.as_ref()).await?;
    tx.put_appointment(&row, None).await?;
    once.remember(&mut tx, id).await?;
    tx.audit(Draft::new(&who.actor(), Action::AppointmentCreate, "appointment", Some(id)).patient(row.patient_id));
    let told = outbox::emit_appointment(&mut *tx, EventType::AppointmentBooked, &row, now, json!({})).await?;
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    Ok(Booked::New(to_appointment(st, &row).await?))
}

/// `GET /api/appointments/{id}` (scoped).
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Appointment> {
    let row = st.store.read().await?.appointment(id).await?.ok_or(Error::NotFound)?;
    let rule = |care| policy::read_appointment(who.who, facts(&row), care);
    let reach = st.with_grant(who.who, row.patient_id, CareFacts::default(), rule).await?;
    let a = to_appointment(st, &row).await?;
    let entry =
        Draft::new(&who.actor(), Action::AppointmentRead, "appointment", Some(id)).patient(row.patient_id).reach(reach);
    st.store.append_audit([entry]).await?;
    Ok(a)
}

fn check_version(row: &AppointmentRow, if_match: Option<u64>) -> Result<()> {
    match if_match {
        Some(v) if v != row.version => Err(Error::PreconditionFailed),
        _ => Ok(()),
    }
}

/// `PATCH /api/appointments/{id}` with `If-Match`: reschedule or change the reason.
pub async fn reschedule(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    if_match: u64,
    req: AppointmentPatch,
) -> Result<Appointment> {
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let old = tx.appointment(id).await?.ok_or(Error::NotFound)?;
    policy::reschedule_appointment(who.who, facts(&old))?;
    check_version(&old, Some(if_match))?;
    if old.status != AppointmentStatus::Scheduled {
        return Err(Error::Conflict(format!("a {} appointment cannot be changed", old.status.as_str())));
    }
    let mut row = old.clone();
    if req.start.is_some() || req.end.is_some() {
        let start = req.start.unwrap_or(old.start);
        let end = match (req.end, req.start) {
            (Some(e), _) => Some(e),
            (None, Some(s)) => Some(s + old.end.duration_since(old.start)),
            (None, None) => None,
        };
        let a = tx.availability(old.doctor_id).await?;
        // A typed visit keeps the length and buffers it was booked with.
        let shape = old.type_id.map(|_| Shape::of_row(&old));
        row.end = check_bookable(st, &a, start, end, shape, now)?;
        row.start = start;
        check_no_overlap(&mut *tx, &row).await?;
        if let Some(held) = old.resource_id {
            let kind = tx.resource(held).await?.map(|r| r.kind).ok_or(Error::NotFound)?;
            row.resource_id = Some(pick_resource(&mut *tx, &row, &kind).await?);
        }
    }
    if let Some(r) = &req.reason {
        row.reason_sealed = st.sealer.seal(r.trim(), id.as_bytes())?;
    }
    row.version += 1;
    row.updated_at = now;
    tx.put_appointment(&row, Some(&old)).await?;
    tx.audit(Draft::new(&who.actor(), Action::AppointmentUpdate, "appointment", Some(id)).patient(row.patient_id));
    let moved = row.start != old.start || row.end != old.end;
    let told = moved && {
        let was = json!({ "previous_start": old.start, "previous_end": old.end });
        outbox::emit_appointment(&mut *tx, EventType::AppointmentRescheduled, &row, now, was).await?
    };
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    super::waitlist::wake(st);
    to_appointment(st, &row).await
}

/// The status changes of an appointment.
pub async fn transition(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    action: AppointmentAction,
    if_match: Option<u64>,
    cancel_reason: Option<Reason>,
) -> Result<Appointment> {
    use AppointmentStatus::*;
    let now = super::now();
    let cancel_hours = st.config.cancel_hours;
    let mut tx = st.store.begin().await?;
    let row = {
        let old = tx.appointment(id).await?.ok_or(Error::NotFound)?;
        policy::act_on_appointment(who.who, facts(&old), action)?;
        check_version(&old, if_match)?;
        let next = match (action, old.status) {
            (AppointmentAction::Cancel, Scheduled) => Cancelled,
            (AppointmentAction::CheckIn, Scheduled) if now >= old.start - st.config.checkin_early => CheckedIn,
            (AppointmentAction::CheckIn, Scheduled) => {
                let opens = st.config.checkin_early.as_mins();
                return Err(Error::Conflict(format!("check-in opens {opens} minutes before the start time")));
            }
            (AppointmentAction::Complete, CheckedIn) if now >= old.start => Completed,
            (AppointmentAction::Complete, CheckedIn) => {
                return Err(Error::Conflict("a visit can only be completed after its start time".into()));
            }
            (AppointmentAction::NoShow, Scheduled) if now >= old.start => NoShow,
            (AppointmentAction::NoShow, Scheduled) => {
                return Err(Error::Conflict("a no-show can only be recorded after the start time".into()));
            }
            (_, from) => {
                return Err(Error::Conflict(
                    format!("cannot {action:?} an appointment that is {}", from.as_str()).to_lowercase(),
                ));
            }
        };
        if action == AppointmentAction::Cancel && policy::bound_by_cancel_window(who.who) {
            let deadline = old.start - SignedDuration::from_hours(cancel_hours as i64);
            if now > deadline {
                return Err(Error::Conflict(format!(
                    "appointments can be cancelled online up to {cancel_hours} hours before the start; please call the clinic"
                )));
            }
        }
        let mut row = old.clone();
        row.status = next;
        if let Some(r) = &cancel_reason {
            row.cancel_reason_sealed = Some(st.sealer.seal(r.trim(), id.as_bytes())?);
        }
        row.version += 1;
        row.updated_at = now;
        tx.put_appointment(&row, Some(&old)).await?;
        let verb = match action {
            AppointmentAction::Cancel => Action::AppointmentCancel,
            AppointmentAction::CheckIn => Action::AppointmentCheckIn,
            AppointmentAction::Complete => Action::AppointmentComplete,
            AppointmentAction::NoShow => Action::AppointmentNoShow,
        };
        tx.audit(Draft::new(&who.actor(), verb, "appointment", Some(id)).patient(row.patient_id));
        let told = action == AppointmentAction::Cancel
            && outbox::emit_appointment(&mut *tx, EventType::AppointmentCancelled, &row, now, json!({})).await?;
        (row, told)
    };
    let (row, told) = row;
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    if !row.status.holds_time() {
        super::waitlist::wake(st);
    }
    to_appointment(st, &row).await
}

/// `GET /api/doctors/{id}/calendar?from=&to=`: appointments starting in the
/// range, each already encoded as the API shows it (the store's view cache).
pub async fn calendar(st: &State, who: &Caller<'_>, doctor: Uuid, q: RangeQuery) -> Result<Vec<Bytes>> {
    check_calendar_read(st, who, doctor, &q).await?;
    let rows = st
        .store
        .read()
        .await?
        .appointments_in(&ApptScope::Doctor(doctor), Some(q.from), Some(q.to), None, usize::MAX)
        .await?;
    let (mut views, generation) = st.store.views_of(rows.iter().map(|(_, r)| r.id))?;
    let mut rendered = Vec::new();
    for ((_, row), view) in rows.iter().zip(views.iter_mut()) {
        if view.is_none() {
            let fresh: Bytes = serde_json::to_vec(&to_appointment(st, row).await?).map_err(anyhow::Error::from)?.into();
            rendered.push((row.id, fresh.clone()));
            *view = Some(fresh);
        }
    }
    st.store.keep_views(generation, rendered)?;
    audit_calendar_read(st, who, doctor).await?;
    Ok(views.into_iter().flatten().collect())
}

/// Whether the caller may read `doctor`'s calendar over the range.
pub async fn check_calendar_read(st: &State, who: &Caller<'_>, doctor: Uuid, q: &RangeQuery) -> Result<()> {
    let d = doctor_row(st, doctor).await?;
    policy::read_calendar(who.who, doctor, doctor_dept(&d))?;
    check_range(q.from, q.to)
}

/// The audit entry of a calendar read, also when it was answered "unchanged".
pub async fn audit_calendar_read(st: &State, who: &Caller<'_>, doctor: Uuid) -> Result<()> {
    st.store.append_audit([Draft::new(&who.actor(), Action::CalendarRead, "doctor", Some(doctor))]).await?;
    Ok(())
}

/// Which index serves a list: the caller's scope when limited, else the most
/// selective filter given.
fn list_index(p: &Principal, q: &AppointmentQuery) -> Result<ApptScope> {
    if let Some(scope) = policy::appointment_list_scope(p)? {
        return Ok(scope);
    }
    Ok(match (q.doctor_id, q.patient_id, &q.department) {
        (Some(d), _, _) => ApptScope::Doctor(d),
        (None, Some(pt), _) => ApptScope::Patient(pt),
        (None, None, Some(dep)) => ApptScope::Department(dep.clone()),
        (None, None, None) => ApptScope::All,
    })
}

/// `GET /api/appointments` (scoped, filtered, in start order, cursor pages).
pub async fn list(st: &State, who: &Caller<'_>, q: AppointmentQuery) -> Result<Page<Appointment>> {
    if let (Some(f), Some(t)) = (q.from, q.to)
        && t <= f
    {
        return Err(Error::invalid("to", "must be after from"));
    }
    // A doctor's or nurse's list of one patient reads all of that patient's
    // appointments while they hold a live grant on them; only those lists
    // look a grant up.
    let emergency = match q.patient_id {
        Some(patient) if policy::may_hold_grant(who.who) => {
            let care = CareFacts { grant: st.live_grant(who.who, patient).await?, ..CareFacts::default() };
            policy::emergency_appointment_list(who.who, patient, care)
        }
        _ => None,
    };
    let (index, reach) = match emergency {
        Some(found) => found,
        None => (list_index(who.who, &q)?, Reach::InScope),
    };
    let wanted = |a: &AppointmentRow| {
        q.doctor_id.is_none_or(|d| a.doctor_id == d)
            && q.patient_id.is_none_or(|p| a.patient_id == p)
            && q.department.as_deref().is_none_or(|d| a.department == d)
            && q.status.is_none_or(|s| a.status == s)
    };
    let mut pager = Pager::new(super::cursor(q.cursor.as_deref())?, limit(q.limit)?);
    let mut patients: BTreeSet<Uuid> = BTreeSet::new();
    let mut tx = st.store.read().await?;
    loop {
        let rows = tx.appointments_in(&index, q.from, q.to, pager.at(), pager.batch()).await?;
        let n = rows.len();
        for (at, row) in rows {
            let item = if wanted(&row) { Some(to_appointment(st, &row).await?) } else { None };
            let patient = row.patient_id;
            let kept = item.is_some();
            if !pager.push(at, item) {
                break;
            }
            if kept {
                patients.insert(patient);
            }
        }
        if pager.ended(n) {
            break;
        }
    }
    st.store
        .append_audit(
            patients
                .into_iter()
                .map(|p| Draft::new(&who.actor(), Action::AppointmentList, "patient", Some(p)).patient(p).reach(reach)),
        )
        .await?;
    Ok(pager.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(weekday: u8, start: &str, end: &str, slot: u16) -> AvailabilityRule {
        AvailabilityRule { weekday, start: start.parse().unwrap(), end: end.parse().unwrap(), slot_minutes: slot }
    }

    #[test]
    fn overlapping_rules_on_a_weekday_are_refused() {
        assert!(check_rules(&[rule(1, "09:00", "12:00", 30), rule(1, "13:00", "17:00", 30)]).is_ok());
        assert!(check_rules(&[rule(1, "09:00", "12:00", 30), rule(1, "11:30", "17:00", 30)]).is_err());
        assert!(check_rules(&[rule(1, "09:00", "12:00", 30), rule(2, "11:30", "17:00", 30)]).is_ok());
        assert!(check_rules(&[rule(8, "09:00", "12:00", 30)]).is_err());
        assert!(check_rules(&[rule(1, "12:00", "09:00", 30)]).is_err());
        assert!(check_rules(&[rule(1, "09:00", "09:20", 30)]).is_err());
    }

    #[test]
    fn grid_keeps_local_clock_times_across_dst() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let rules = [rule(7, "09:00", "10:00", 30), rule(6, "09:00", "10:00", 30)];
        // 2026-03-29 is the spring-forward Sunday in Berlin.
        let sat: Date = "2026-03-28".parse().unwrap();
        let sun: Date = "2026-03-29".parse().unwrap();
        let g = grid(&tz, &rules, sat, sun);
        let starts: Vec<String> = g.iter().map(|g| g.slot.start.to_string()).collect();
        assert_eq!(
            starts,
            ["2026-03-28T08:00:00Z", "2026-03-28T08:30:00Z", "2026-03-29T07:00:00Z", "2026-03-29T07:30:00Z"]
        );
    }

    #[test]
    fn clock_times_in_a_gap_make_no_slot() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let sun: Date = "2026-03-29".parse().unwrap();
        let g = grid(&tz, &[rule(7, "01:00", "04:00", 60)], sun, sun);
        let starts: Vec<String> = g.iter().map(|g| g.slot.start.to_string()).collect();
        // 02:00 does not exist that night.
        assert_eq!(starts, ["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z"]);
    }
}
