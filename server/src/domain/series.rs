//! Recurring appointments: a rule (every week, fortnight or month, a count
//! or an end date) makes occurrences at the same clock time in the clinic's
//! zone, across daylight-saving changes. Every occurrence is an ordinary
//! appointment carrying the series' id, booked in one transaction: with
//! `fail` all or nothing, with `skip` the free ones. Editing one occurrence
//! touches no other; cancelling the series cancels only its future,
//! scheduled occurrences.

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::{FieldError, NewAppointment, NewSeries, OnConflict, SeriesCancel};
use healthsynx_shared::value::IdempotencyKey;
use healthsynx_shared::{AppointmentStatus, Every, Series, SeriesRule, Skipped};

use super::scheduling::{
    Shape, booking_parties, check_bookable, claim_time, doctor_dept, new_row, to_appointment, type_for,
};
use super::{Caller, State, idempotent, outbox};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy::{self, ApptFacts, CareFacts};
use crate::store::{SeriesRow, Tx};
use healthsynx_shared::EventType;
use serde_json::json;

/// The most occurrences one series books.
pub const MAX_OCCURRENCES: usize = 52;

/// The starts `rule` makes from `start`: the same clock time in `tz` on each
/// date, or why a date has none (that time falls in a daylight-saving gap).
pub fn occurrence_starts(
    tz: &TimeZone,
    start: Timestamp,
    rule: &SeriesRule,
) -> Result<Vec<Result<Timestamp, Skipped>>> {
    let first = start.to_zoned(tz.clone());
    let (date, time) = (first.date(), first.time());
    match (rule.count, rule.until) {
        (Some(_), Some(_)) | (None, None) => return Err(Error::invalid("rule", "give either count or until")),
        (Some(n), None) if n == 0 || usize::from(n) > MAX_OCCURRENCES => {
            return Err(Error::invalid("rule.count", format!("must be between 1 and {MAX_OCCURRENCES}")));
        }
        (None, Some(until)) if until < date => {
            return Err(Error::invalid("rule.until", "is before the first occurrence"));
        }
        _ => {}
    }
    let mut out = Vec::new();
    for k in 0i64.. {
        if rule.count.is_some_and(|n| k >= i64::from(n)) {
            break;
        }
        let step = match rule.every {
            Every::Week => Span::new().weeks(k),
            Every::TwoWeeks => Span::new().weeks(2 * k),
            // From the first date each time, so a 31st comes back after a short month.
            Every::Month => Span::new().months(k),
        };
        let day = date.checked_add(step).map_err(|_| Error::invalid("rule", "runs past the calendar"))?;
        if rule.until.is_some_and(|u| day > u) {
            break;
        }
        if out.len() == MAX_OCCURRENCES {
            return Err(Error::invalid("rule.until", format!("makes more than {MAX_OCCURRENCES} occurrences")));
        }
        let at = tz.to_ambiguous_timestamp(day.to_datetime(time));
        let gap = matches!(at.offset(), AmbiguousOffset::Gap { .. });
        let instant = at.compatible().map_err(|_| Error::invalid("rule", "runs past the calendar"))?;
        out.push(if gap {
            Err(Skipped { start: instant, why: "that clock time does not exist that day (daylight saving)".into() })
        } else {
            Ok(instant)
        });
    }
    Ok(out)
}

/// What a refused occurrence says.
fn why(e: &Error) -> String {
    match e {
        Error::Unprocessable(errors) => errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

/// `POST /api/series` (the front desk): books every occurrence in one
/// transaction; `fail` books none if one cannot be booked.
pub async fn create(st: &State, who: &Caller<'_>, req: NewSeries, key: Option<&IdempotencyKey>) -> Result<Series> {
    let doctor = booking_parties(st, req.doctor_id, req.patient_id).await?;
    let facts = ApptFacts { patient_id: req.patient_id, doctor_id: req.doctor_id, department: doctor_dept(&doctor) };
    policy::manage_series(who.who, facts)?;
    let starts = occurrence_starts(&st.config.tz, req.start, &req.rule)?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &req, now).await?;
    if let Some(id) = once.replayed {
        let row = tx.series(id).await?.ok_or(Error::NotFound)?;
        return view(st, &mut *tx, &row).await;
    }
    let kind = type_for(&mut *tx, who.who, req.type_id, &doctor).await?;
    let a = tx.availability(req.doctor_id).await?;
    let series_id = Uuid::now_v7();
    let (mut booked, mut skipped) = (Vec::new(), Vec::<(usize, Skipped)>::new());
    for (i, start) in starts.into_iter().enumerate() {
        let start = match start {
            Ok(s) => s,
            Err(gap) => {
                skipped.push((i, gap));
                continue;
            }
        };
        let one = NewAppointment {
            patient_id: req.patient_id,
            doctor_id: req.doctor_id,
            start,
            end: None,
            reason: req.reason.clone(),
            type_id: req.type_id,
        };
        let placed = async {
            let end = check_bookable(st, &a, start, None, kind.as_ref().map(Shape::of_type), now)?;
            let mut row = new_row(st, who.who.user_id(), &one, &doctor, kind.as_ref(), end, now)?;
            row.series_id = Some(series_id);
            claim_time(&mut *tx, &mut row, kind.as_ref()).await?;
            Ok::<_, Error>(row)
        };
        match placed.await {
            Ok(row) => booked.push(row),
            // The first occurrence off the grid or in the past: the request is wrong.
            Err(e @ Error::Unprocessable(_)) if i == 0 => return Err(e),
            Err(e @ (Error::Conflict(_) | Error::Unprocessable(_))) => {
                skipped.push((i, Skipped { start, why: why(&e) }))
            }
            Err(e) => return Err(e),
        }
    }
    if booked.is_empty() || (!skipped.is_empty() && req.on_conflict == OnConflict::Fail) {
        let errors = skipped
            .iter()
            .map(|(i, s)| FieldError::new(format!("occurrences[{i}]"), format!("{}: {}", s.start, s.why)))
            .collect();
        let detail = if booked.is_empty() {
            "no occurrence of the series can be booked".to_owned()
        } else {
            format!("{} occurrences cannot be booked, so none was (on_conflict = fail)", skipped.len())
        };
        return Err(Error::Collisions(detail, errors));
    }
    let mut told = false;
    for row in &booked {
        tx.put_appointment(row, None).await?;
        let entry = Draft::new(&who.actor(), Action::AppointmentCreate, "appointment", Some(row.id));
        tx.audit(entry.patient(row.patient_id));
        let extra = json!({ "series_id": series_id });
        told |= outbox::emit_appointment(&mut *tx, EventType::AppointmentBooked, row, now, extra).await?;
    }
    let row = SeriesRow {
        id: series_id,
        patient_id: req.patient_id,
        doctor_id: req.doctor_id,
        department: doctor_dept(&doctor).to_owned(),
        type_id: req.type_id,
        start: req.start,
        rule: req.rule.clone(),
        occurrences: booked.iter().map(|r| r.id).collect(),
        skipped: skipped.into_iter().map(|(_, s)| s).collect(),
        created_at: now,
        created_by: who.who.user_id(),
    };
    tx.put_series(&row).await?;
    once.remember(&mut tx, series_id).await?;
    tx.audit(Draft::new(&who.actor(), Action::SeriesCreate, "series", Some(series_id)).patient(row.patient_id));
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    view(st, &mut *st.store.read().await?, &row).await
}

/// A series as the API shows it, its occurrences read as they are now.
async fn view(st: &State, tx: &mut (dyn Tx + '_), row: &SeriesRow) -> Result<Series> {
    let mut occurrences = Vec::with_capacity(row.occurrences.len());
    for id in &row.occurrences {
        if let Some(a) = tx.appointment(*id).await? {
            occurrences.push(to_appointment(st, &a).await?);
        }
    }
    occurrences.sort_by_key(|a| a.start);
    Ok(Series {
        id: row.id,
        patient_id: row.patient_id,
        doctor_id: row.doctor_id,
        type_id: row.type_id,
        start: row.start,
        rule: row.rule.clone(),
        occurrences,
        skipped: row.skipped.clone(),
        created_at: row.created_at,
    })
}

fn facts(row: &SeriesRow) -> ApptFacts<'_> {
    ApptFacts { patient_id: row.patient_id, doctor_id: row.doctor_id, department: &row.department }
}

/// `GET /api/series/{id}`: whoever may read its appointments.
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Series> {
    let mut tx = st.store.read().await?;
    let row = tx.series(id).await?.ok_or(Error::NotFound)?;
    let rule = |care| policy::read_appointment(who.who, facts(&row), care);
    let reach = st.with_grant(who.who, row.patient_id, CareFacts::default(), rule).await?;
    let series = view(st, &mut *tx, &row).await?;
    let entry = Draft::new(&who.actor(), Action::SeriesRead, "series", Some(id)).patient(row.patient_id).reach(reach);
    st.store.append_audit([entry]).await?;
    Ok(series)
}

/// `POST /api/series/{id}/cancel` (the front desk): cancels the scheduled
/// occurrences that start from `from` (default now, never earlier); the
/// past, checked-in and completed ones stay as they are.
pub async fn cancel(st: &State, who: &Caller<'_>, id: Uuid, req: SeriesCancel) -> Result<Series> {
    let now = super::now();
    let from = req.from.map_or(now, |f| f.max(now));
    let mut tx = st.store.begin().await?;
    let row = tx.series(id).await?.ok_or(Error::NotFound)?;
    policy::manage_series(who.who, facts(&row))?;
    let mut told = false;
    for occurrence in &row.occurrences {
        let Some(old) = tx.appointment(*occurrence).await? else { continue };
        if old.status != AppointmentStatus::Scheduled || old.start < from {
            continue;
        }
        let mut a = old.clone();
        a.status = AppointmentStatus::Cancelled;
        a.cancel_reason_sealed = Some(st.sealer.seal(req.reason.trim(), a.id.as_bytes())?);
        a.version += 1;
        a.updated_at = now;
        tx.put_appointment(&a, Some(&old)).await?;
        tx.audit(Draft::new(&who.actor(), Action::AppointmentCancel, "appointment", Some(a.id)).patient(a.patient_id));
        let extra = json!({ "series_id": id });
        told |= outbox::emit_appointment(&mut *tx, EventType::AppointmentCancelled, &a, now, extra).await?;
    }
    tx.audit(Draft::new(&who.actor(), Action::SeriesCancel, "series", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    if told {
        outbox::wake(st);
    }
    super::waitlist::wake(st);
    view(st, &mut *st.store.read().await?, &row).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(every: Every, count: Option<u16>, until: Option<&str>) -> SeriesRule {
        SeriesRule { every, count, until: until.map(|u| u.parse().unwrap()) }
    }

    #[test]
    fn occurrences_keep_the_clock_time_across_daylight_saving() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // Mondays 09:00 in Berlin from before the March change to after it.
        let start: Timestamp = "2027-03-22T08:00:00Z".parse().unwrap();
        let got = occurrence_starts(&tz, start, &rule(Every::Week, Some(3), None)).unwrap();
        let got: Vec<String> = got.into_iter().map(|s| s.unwrap().to_string()).collect();
        assert_eq!(got, ["2027-03-22T08:00:00Z", "2027-03-29T07:00:00Z", "2027-04-05T07:00:00Z"]);
        // And back in October: 09:00 summer time, then 09:00 winter time.
        let start: Timestamp = "2027-10-25T07:00:00Z".parse().unwrap();
        let got = occurrence_starts(&tz, start, &rule(Every::TwoWeeks, None, Some("2027-11-08"))).unwrap();
        let got: Vec<String> = got.into_iter().map(|s| s.unwrap().to_string()).collect();
        assert_eq!(got, ["2027-10-25T07:00:00Z", "2027-11-08T08:00:00Z"]);
    }

    #[test]
    fn a_monthly_series_on_the_31st_takes_the_last_day_of_shorter_months() {
        let start: Timestamp = "2027-01-31T10:00:00Z".parse().unwrap();
        let got = occurrence_starts(&TimeZone::UTC, start, &rule(Every::Month, Some(3), None)).unwrap();
        let got: Vec<String> = got.into_iter().map(|s| s.unwrap().to_string()).collect();
        assert_eq!(got, ["2027-01-31T10:00:00Z", "2027-02-28T10:00:00Z", "2027-03-31T10:00:00Z"]);
    }

    #[test]
    fn a_clock_time_in_a_gap_is_skipped_and_bad_rules_are_refused() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        // Sundays 02:30 local: 2027-03-28 has no 02:30.
        let start: Timestamp = "2027-03-21T01:30:00Z".parse().unwrap();
        let got = occurrence_starts(&tz, start, &rule(Every::Week, Some(2), None)).unwrap();
        assert!(got[0].is_ok() && got[1].as_ref().is_err_and(|s| s.why.contains("daylight saving")), "{got:?}");
        for bad in [
            rule(Every::Week, None, None),
            rule(Every::Week, Some(2), Some("2027-12-01")),
            rule(Every::Week, Some(0), None),
            rule(Every::Week, Some(53), None),
            rule(Every::Week, None, Some("2027-01-01")),
            rule(Every::Week, None, Some("2029-01-01")),
        ] {
            assert!(occurrence_starts(&tz, start, &bad).is_err(), "{bad:?}");
        }
    }
}
