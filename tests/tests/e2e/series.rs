//! Recurring series: the same local clock time across daylight-saving
//! changes, all or nothing with `fail`, exactly the collisions with `skip`,
//! and no occurrence ever lost by editing another.

use healthsynx_tests::shared::api::{AppointmentAction, AppointmentPatch, NewSeries, OnConflict, SeriesCancel};
use healthsynx_tests::shared::{AppointmentStatus, Every, Series, SeriesRule};
use healthsynx_tests::{Clinic, SLOT, TestApp, at, utc};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::support::{book, code};

fn weekly(patient: Uuid, doctor: Uuid, start: Timestamp, count: u16) -> NewSeries {
    NewSeries {
        patient_id: patient,
        doctor_id: doctor,
        type_id: None,
        start,
        rule: SeriesRule { every: Every::Week, count: Some(count), until: None },
        reason: "physiotherapy review".parse().unwrap(),
        on_conflict: OnConflict::Fail,
    }
}

async fn series_of(clinic: &Clinic, s: &Series) -> Series {
    clinic.reception.client.series(s.id).await.unwrap()
}

#[tokio::test]
async fn a_series_keeps_its_local_clock_time_across_both_daylight_saving_changes() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let app = TestApp::spawn_with(|c| c.tz = TimeZone::get("Europe/Berlin").unwrap()).await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    for change in berlin.following(Timestamp::now()).take(2).map(|t| t.timestamp()) {
        // Weekly at 09:00 local, from two weeks before the change to two after.
        let days_to = change.duration_since(Timestamp::now()).as_hours() / 24;
        let start = at(days_to - 14, 9, 0, &berlin);
        let s = desk.create_series(&weekly(clinic.patient.patient_id, doc, start, 5)).await.unwrap();
        assert_eq!(s.occurrences.len(), 5, "{s:?}");
        assert!(s.skipped.is_empty());
        let hours: Vec<i8> = s.occurrences.iter().map(|a| a.start.to_zoned(berlin.clone()).hour()).collect();
        assert_eq!(hours, [9; 5], "09:00 in Berlin every week");
        let utc_hours: Vec<i8> = s.occurrences.iter().map(|a| a.start.to_zoned(TimeZone::UTC).hour()).collect();
        assert_ne!(utc_hours.first(), utc_hours.last(), "the change moves it by an hour in UTC: {utc_hours:?}");
        assert!(s.occurrences.iter().all(|a| a.series_id == Some(s.id)));
    }
}

#[tokio::test]
async fn fail_books_nothing_when_one_occurrence_collides_and_skip_reports_exactly_the_collisions() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc, me) = (&clinic.reception.client, clinic.doctor.user_id, clinic.patient.patient_id);
    let start = utc(3, 10, 0);
    // Another patient holds the doctor at the third and fifth occurrence.
    let week = SignedDuration::from_hours(24 * 7);
    for k in [2, 4] {
        book(desk, clinic.patient2.patient_id, doc, start + week * k).await.unwrap();
    }
    let before = healthsynx_tests::all_appointments(desk).await.len();
    let refused = desk.create_series(&weekly(me, doc, start, 6)).await.unwrap_err();
    assert_eq!(refused.status, 409);
    let fields: Vec<&str> = refused.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["occurrences[2]", "occurrences[4]"], "{refused}");
    assert_eq!(healthsynx_tests::all_appointments(desk).await.len(), before, "fail booked nothing");

    let skip = NewSeries { on_conflict: OnConflict::Skip, ..weekly(me, doc, start, 6) };
    let s = desk.create_series(&skip).await.unwrap();
    let starts: Vec<Timestamp> = s.occurrences.iter().map(|a| a.start).collect();
    assert_eq!(starts, [0, 1, 3, 5].map(|k| start + week * k));
    let skipped: Vec<Timestamp> = s.skipped.iter().map(|k| k.start).collect();
    assert_eq!(skipped, [start + week * 2, start + week * 4]);
    assert!(s.skipped.iter().all(|k| k.why.contains("already has an appointment")), "{:?}", s.skipped);
    assert_eq!(healthsynx_tests::all_appointments(desk).await.len(), before + 4);
    assert_eq!(series_of(&clinic, &s).await, s, "read back the same");

    // Only the front desk books a series; the rule is checked.
    let other = weekly(me, doc, utc(40, 10, 0), 2);
    for c in [&clinic.patient.client, &clinic.doctor.client, &clinic.nurse.client] {
        assert_eq!(code(c.create_series(&other).await), 403);
    }
    let bad = NewSeries {
        rule: SeriesRule { every: Every::Week, count: Some(2), until: Some(jiff::civil::date(2030, 1, 1)) },
        ..other.clone()
    };
    assert_eq!(code(desk.create_series(&bad).await), 422, "count and until");
    let off_grid = NewSeries { start: utc(40, 10, 5), ..other.clone() };
    assert_eq!(code(desk.create_series(&off_grid).await), 422, "not a slot");
    assert_eq!(code(clinic.nurse2.client.series(s.id).await), 404, "outside the nurse's department");
}

/// A small deterministic generator for the property test.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn editing_occurrences_never_loses_one_that_was_not_itself_cancelled() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    let s = desk.create_series(&weekly(clinic.patient.patient_id, doc, utc(2, 9, 0), 8)).await.unwrap();
    // Moving occurrence 3 leaves every other exactly as it was.
    let third = &s.occurrences[2];
    let moved = AppointmentPatch { start: Some(third.start + SLOT * 2), ..AppointmentPatch::default() };
    desk.patch_appointment(third.id, third.version, &moved).await.unwrap();
    let now = series_of(&clinic, &s).await;
    for (i, (a, b)) in s.occurrences.iter().zip(&now.occurrences).enumerate() {
        if i == 2 {
            assert_eq!((b.id, b.start), (a.id, a.start + SLOT * 2));
        } else {
            assert_eq!(a, b, "occurrence {i} changed");
        }
    }
    // Random edits (moves, reason changes, cancellations): every occurrence
    // not itself cancelled is still scheduled in the series.
    let mut dice = Dice(7);
    let mut cancelled = std::collections::HashSet::new();
    for _ in 0..20 {
        let current = series_of(&clinic, &s).await;
        assert_eq!(current.occurrences.len(), 8, "the series still lists all eight");
        for a in &current.occurrences {
            let want =
                if cancelled.contains(&a.id) { AppointmentStatus::Cancelled } else { AppointmentStatus::Scheduled };
            assert_eq!(a.status, want, "{a:?}");
        }
        let a = &current.occurrences[dice.roll(8) as usize];
        if a.status != AppointmentStatus::Scheduled {
            continue;
        }
        match dice.roll(3) {
            0 => {
                let to = a.start + SLOT * (1 + dice.roll(4) as i32);
                let patch = AppointmentPatch { start: Some(to), ..AppointmentPatch::default() };
                desk.patch_appointment(a.id, a.version, &patch).await.unwrap();
            }
            1 => {
                let patch =
                    AppointmentPatch { reason: Some("changed".parse().unwrap()), ..AppointmentPatch::default() };
                desk.patch_appointment(a.id, a.version, &patch).await.unwrap();
            }
            _ => {
                desk.appointment_action(a.id, AppointmentAction::Cancel).await.unwrap();
                cancelled.insert(a.id);
            }
        }
    }
}

#[tokio::test]
async fn cancelling_a_series_from_a_date_cancels_only_its_later_scheduled_occurrences() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    let s = desk.create_series(&weekly(clinic.patient.patient_id, doc, utc(1, 11, 0), 6)).await.unwrap();
    let from = s.occurrences[3].start;
    let cancel = SeriesCancel { from: Some(from), reason: "moving abroad".parse().unwrap() };
    assert_eq!(code(clinic.patient.client.cancel_series(s.id, &cancel).await), 403);
    let after = desk.cancel_series(s.id, &cancel).await.unwrap();
    let statuses: Vec<AppointmentStatus> = after.occurrences.iter().map(|a| a.status).collect();
    use AppointmentStatus::*;
    assert_eq!(statuses, [Scheduled, Scheduled, Scheduled, Cancelled, Cancelled, Cancelled]);
    // The rest of it (no date): the remaining scheduled ones.
    let rest = desk.cancel_series(s.id, &SeriesCancel::default()).await.unwrap();
    assert!(rest.occurrences.iter().all(|a| a.status == Cancelled));
}
