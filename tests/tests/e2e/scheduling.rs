//! Availability, slots, booking under concurrency, reschedules, transitions.

use std::collections::HashSet;
use std::sync::Arc;

use healthsynx_tests::shared::api::{
    AppointmentAction, AppointmentPatch, AppointmentQuery, NewAppointment, NewTimeOff, PatientPatch, RouteId,
};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{Appointment, AppointmentStatus, AvailabilityRule};
use healthsynx_tests::{Clinic, SLOT, TestApp, utc};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::support::{book, check_up, code, more_patients, range, status, visit_at};

fn assert_no_overlap(items: &[Appointment]) {
    let live: Vec<&Appointment> = items.iter().filter(|a| a.status != AppointmentStatus::Cancelled).collect();
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            assert!(!(a.start < b.end && b.start < a.end), "overlap: {a:?} {b:?}");
        }
    }
}

async fn calendar(clinic: &Clinic, doctor: Uuid, day: i64) -> Vec<Appointment> {
    clinic.reception.client.calendar(doctor, &range(utc(day, 0, 0), utc(day + 1, 0, 0))).await.unwrap()
}

#[tokio::test]
async fn slots_keep_local_clock_times_across_both_dst_changes() {
    let app = TestApp::spawn_with(|c| c.tz = TimeZone::get("Europe/Berlin").unwrap()).await;
    let clinic = app.clinic().await;
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let transitions: Vec<Timestamp> = tz.following(Timestamp::now()).take(2).map(|t| t.timestamp()).collect();
    assert_eq!(transitions.len(), 2, "Berlin changes clocks twice a year");
    for change in transitions {
        let day = change.to_zoned(tz.clone()).date();
        let before = day.yesterday().unwrap();
        let from = before.to_zoned(tz.clone()).unwrap().timestamp();
        let to = day.tomorrow().unwrap().to_zoned(tz.clone()).unwrap().timestamp();
        let slots = clinic.reception.client.slots(clinic.doctor.user_id, &range(from, to)).await.unwrap();
        assert_eq!(slots.len(), 48, "24 slots on each of the two days around {change}");
        for s in &slots {
            let local = s.start.to_zoned(tz.clone());
            assert!((8..20).contains(&local.hour()), "{} is {local} in Berlin", s.start);
            assert_eq!(s.end.duration_since(s.start), SLOT);
        }
        let first_utc_hour = |i: usize| slots[i].start.to_zoned(TimeZone::UTC).hour();
        assert_eq!((first_utc_hour(24) - first_utc_hour(0)).abs(), 1, "08:00 local moves by an hour in UTC");
    }
}

#[tokio::test]
async fn time_off_bookings_and_the_past_remove_slots() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doc = clinic.doctor.user_id;
    let day = range(utc(4, 0, 0), utc(5, 0, 0));
    let slots = clinic.patient.client.slots(doc, &day).await.unwrap();
    assert_eq!(slots.len(), 24);
    let off = NewTimeOff { start: utc(4, 9, 0), end: utc(4, 11, 0), reason: "training".into() };
    let t = clinic.doctor.client.add_time_off(doc, &off).await.unwrap();
    let slots = clinic.patient.client.slots(doc, &day).await.unwrap();
    assert_eq!(slots.len(), 20);
    assert!(!slots.iter().any(|s| s.start >= off.start && s.start < off.end));
    assert_eq!(
        status(book(&clinic.reception.client, clinic.patient.patient_id, doc, utc(4, 9, 30)).await, "in time off"),
        422
    );
    book(&clinic.reception.client, clinic.patient.patient_id, doc, utc(4, 12, 0)).await.unwrap();
    let slots = clinic.patient.client.slots(doc, &day).await.unwrap();
    assert_eq!(slots.len(), 19);
    assert!(!slots.iter().any(|s| s.start == utc(4, 12, 0)));
    clinic.doctor.client.delete_time_off(doc, t.id).await.unwrap();
    assert_eq!(clinic.patient.client.slots(doc, &day).await.unwrap().len(), 23);
    assert_eq!(code(clinic.doctor.client.delete_time_off(doc, t.id).await), 404);

    let now = Timestamp::now();
    let today = clinic.patient.client.slots(doc, &range(utc(0, 0, 0), utc(1, 0, 0))).await.unwrap();
    assert!(today.iter().all(|s| s.start >= now), "no past slots");
    let yesterday = clinic.patient.client.slots(doc, &range(utc(-1, 0, 0), utc(0, 0, 0))).await.unwrap();
    assert!(yesterday.is_empty());
}

#[tokio::test]
async fn availability_rules_are_validated_and_scoped() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doc = clinic.doctor.user_id;
    let rule = |w, s: &str, e: &str| AvailabilityRule {
        weekday: w,
        start: s.parse().unwrap(),
        end: e.parse().unwrap(),
        slot_minutes: 20,
    };
    let overlapping = vec![rule(1, "09:00", "12:00"), rule(1, "11:00", "13:00")];
    assert_eq!(code(clinic.doctor.client.set_availability(doc, overlapping).await), 422);
    assert_eq!(code(clinic.doctor.client.set_availability(doc, vec![rule(9, "09:00", "12:00")]).await), 422);
    let nine_am = serde_json::json!({"rules": [{"weekday": 1, "start": "9am", "end": "12:00", "slot_minutes": 20}]});
    let (nine_am, _) =
        crate::support::send_json(&app, &clinic.doctor.client, RouteId::PutAvailability, &[doc], nine_am).await;
    assert_eq!(nine_am, 422);
    let good = vec![rule(1, "09:00", "12:00"), rule(1, "13:00", "17:00")];
    // Columns: patient, doctor (own), nurse, receptionist, admin.
    let want_write = [403, 200, 403, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_write) {
        assert_eq!(code(c.set_availability(doc, good.clone()).await), want, "{role} write");
    }
    let want_read = [403, 200, 200, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_read) {
        assert_eq!(code(c.availability(doc).await), want, "{role} read");
    }
    assert_eq!(code(clinic.doctor2.client.set_availability(doc, good.clone()).await), 404, "another doctor");
    assert_eq!(code(clinic.nurse2.client.availability(doc).await), 404, "nurse of another department");
    assert_eq!(clinic.doctor.client.availability(doc).await.unwrap().rules, good);
}

#[tokio::test]
async fn two_hundred_concurrent_bookings_on_five_slots_give_five_winners() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pats = more_patients(&clinic, 20).await;
    let doc = clinic.doctor.user_id;
    let slots: Vec<Timestamp> = (0..5).map(|i| utc(6, 9, 0) + SLOT * i).collect();
    let desk = Arc::new(clinic.reception.client.clone());
    let admin = Arc::new(clinic.admin.client.clone());
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let c = if i % 2 == 0 { desk.clone() } else { admin.clone() };
        let (p, s) = (pats[i % 20], slots[i % 5]);
        tasks.push(tokio::spawn(async move { book(&c, p, doc, s).await }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => wins.push(a),
            Err(p) => assert_eq!(p.status, 409, "every loser is a conflict: {p}"),
        }
    }
    assert_eq!(wins.len(), 5);
    let won: HashSet<Timestamp> = wins.iter().map(|a| a.start).collect();
    assert_eq!(won.len(), 5, "one winner per slot");
    let stored = calendar(&clinic, doc, 6).await;
    assert_eq!(stored.len(), 5);
    assert_no_overlap(&stored);
}

#[tokio::test]
async fn concurrent_overlapping_intervals_never_both_win() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pats = more_patients(&clinic, 12).await;
    let doc = clinic.doctor.user_id;
    let c = Arc::new(clinic.reception.client.clone());
    let mut tasks = Vec::new();
    for i in 0..120usize {
        let c = c.clone();
        let start = utc(7, 9, 0) + SLOT * (i % 6) as i32;
        let len = SLOT * (1 + (i % 4)) as i32;
        let req = NewAppointment {
            patient_id: pats[i % 12],
            doctor_id: doc,
            start,
            end: Some(start + len),
            reason: Default::default(),
            type_id: None,
        };
        tasks.push(tokio::spawn(async move { c.book(&req, None).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(p) => assert_eq!(p.status, 409, "{p}"),
        }
    }
    assert!(wins >= 1);
    let stored = calendar(&clinic, doc, 7).await;
    assert_eq!(stored.len(), wins);
    assert_no_overlap(&stored);
}

#[tokio::test]
async fn one_patient_cannot_be_booked_with_two_doctors_at_once() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let doctors = [clinic.doctor.user_id, clinic.doctor2.user_id];
    let c = Arc::new(clinic.reception.client.clone());
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let c = c.clone();
        let doc = doctors[i % 2];
        tasks.push(tokio::spawn(async move { book(&c, pid, doc, utc(8, 10, 0)).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(p) => assert_eq!(p.status, 409),
        }
    }
    assert_eq!(wins, 1);
    let q = AppointmentQuery { patient_id: Some(pid), ..Default::default() };
    assert_eq!(clinic.reception.client.appointments(&q).await.unwrap().items.len(), 1);
}

#[tokio::test]
async fn a_stale_version_is_412_and_a_reschedule_racing_a_cancel_stays_consistent() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, admin) = (&clinic.reception.client, &clinic.admin.client);
    let a = book(desk, clinic.patient.patient_id, clinic.doctor.user_id, utc(9, 9, 0)).await.unwrap();
    let fetched = desk.appointment(a.id).await.unwrap();
    assert_eq!(fetched.version, 1);
    let move_to = |h| AppointmentPatch { start: Some(utc(9, h, 0)), ..Default::default() };
    let (to_ten, to_eleven) = (move_to(10), move_to(11));
    let (r1, r2) = tokio::join!(desk.patch_appointment(a.id, 1, &to_ten), admin.patch_appointment(a.id, 1, &to_eleven));
    let mut codes = [code(r1), code(r2)];
    codes.sort();
    assert_eq!(codes, [200, 412]);
    let now = desk.appointment(a.id).await.unwrap();
    assert_eq!(now.version, 2);
    assert!(now.start == utc(9, 10, 0) || now.start == utc(9, 11, 0));

    for round in 0..10 {
        let start = utc(10, 8, 0) + SLOT * (2 * round);
        let a = book(desk, clinic.patient2.patient_id, clinic.doctor.user_id, start).await.unwrap();
        let later = AppointmentPatch { start: Some(start + SLOT), ..Default::default() };
        let (moved, cancelled) =
            tokio::join!(desk.patch_appointment(a.id, 1, &later), admin.cancel(a.id, "patient called"),);
        let end = desk.appointment(a.id).await.unwrap();
        match (moved, cancelled) {
            (Ok(_), Ok(_)) => {
                assert_eq!((end.status, end.start, end.version), (AppointmentStatus::Cancelled, start + SLOT, 3))
            }
            (Err(p), Ok(_)) => {
                assert!(p.status == 409 || p.status == 412, "{p}");
                assert_eq!((end.status, end.start, end.version), (AppointmentStatus::Cancelled, start, 2));
            }
            other => panic!("unexpected outcome {other:?}"),
        }
        let free = desk.slots(clinic.doctor.user_id, &range(start, start + SLOT * 2)).await.unwrap();
        assert_eq!(free.len(), 2, "a cancelled appointment frees its time");
    }
}

#[tokio::test]
async fn each_role_may_do_to_appointments_what_the_table_says() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (pid, doc) = (clinic.patient.patient_id, clinic.doctor.user_id);
    let desk = &clinic.reception.client;

    // Booking. Columns: patient, doctor, nurse, receptionist, admin.
    let mut hour = 8;
    let mut next = || {
        hour += 1;
        utc(12, hour, 0)
    };
    let first = book(desk, pid, doc, next()).await.unwrap();
    let want_book_own = [200, 200, 403, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_book_own) {
        assert_eq!(code(book(c, pid, doc, next()).await), want, "{role} books for the patient with the doctor");
    }
    assert_eq!(
        code(book(&clinic.patient.client, clinic.patient2.patient_id, doc, next()).await),
        403,
        "patient books for another"
    );
    assert_eq!(
        code(book(&clinic.doctor.client, pid, clinic.doctor2.user_id, next()).await),
        403,
        "doctor books on another calendar"
    );
    assert_eq!(
        code(book(&clinic.doctor.client, clinic.patient2.patient_id, doc, next()).await),
        404,
        "doctor books a stranger"
    );

    // Reading.
    let want_read = [200, 200, 200, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_read) {
        assert_eq!(code(c.appointment(first.id).await), want, "{role} reads");
    }
    for c in [&clinic.patient2.client, &clinic.doctor2.client, &clinic.nurse2.client] {
        assert_eq!(code(c.appointment(first.id).await), 404, "out of scope");
    }
    let mine = clinic.patient.client.appointments(&AppointmentQuery::default()).await.unwrap();
    assert!(mine.items.iter().all(|a| a.patient_id == pid));
    assert!(clinic.patient2.client.appointments(&AppointmentQuery::default()).await.unwrap().items.is_empty());
    let q = AppointmentQuery { patient_id: Some(pid), ..Default::default() };
    assert!(clinic.patient2.client.appointments(&q).await.unwrap().items.is_empty(), "filters cannot widen scope");
    assert!(clinic.doctor2.client.appointments(&AppointmentQuery::default()).await.unwrap().items.is_empty());
    assert_eq!(
        clinic.nurse.client.appointments(&AppointmentQuery::default()).await.unwrap().items.len(),
        mine.items.len()
    );
    assert_eq!(code(clinic.patient.client.calendar(doc, &range(utc(12, 0, 0), utc(13, 0, 0))).await), 403);
    assert_eq!(code(clinic.doctor2.client.calendar(doc, &range(utc(12, 0, 0), utc(13, 0, 0))).await), 404);
    assert_eq!(code(clinic.nurse.client.calendar(doc, &range(utc(12, 0, 0), utc(13, 0, 0))).await), 200);

    // Changing: each role on a fresh appointment.
    let want_reschedule = [403, 403, 403, 200, 200];
    let want_cancel = [200, 403, 403, 200, 200];
    let want_check_in = [403, 403, 200, 200, 200];
    // Visits due within the check-in window, half an hour apart (the patient is never in two).
    let mut due = (0..6).map(|k| SignedDuration::from_mins(90 - 30 * k));
    for (i, (role, c)) in clinic.by_role().into_iter().enumerate() {
        let a = book(desk, pid, doc, utc(13, 8, 0) + SLOT * (3 * i as i32)).await.unwrap();
        let patch = AppointmentPatch { reason: Some("changed".parse().unwrap()), ..Default::default() };
        assert_eq!(code(c.patch_appointment(a.id, 1, &patch).await), want_reschedule[i], "{role} reschedule");
        let b = book(desk, pid, doc, utc(13, 8, 30) + SLOT * (3 * i as i32)).await.unwrap();
        assert_eq!(code(c.cancel(b.id, "").await), want_cancel[i], "{role} cancel");
        let d = visit_at(&app, &clinic, pid, due.next().unwrap()).await;
        assert_eq!(
            code(c.appointment_action(d, AppointmentAction::CheckIn).await),
            want_check_in[i],
            "{role} check-in"
        );
    }
    let started = visit_at(&app, &clinic, pid, due.next().unwrap()).await;
    let d = clinic.nurse.client.appointment(started).await.unwrap();
    assert_eq!(code(clinic.nurse.client.appointment_action(d.id, AppointmentAction::Complete).await), 403);
    assert_eq!(
        code(clinic.doctor.client.appointment_action(d.id, AppointmentAction::Complete).await),
        409,
        "not checked in yet"
    );
    clinic.nurse.client.appointment_action(d.id, AppointmentAction::CheckIn).await.unwrap();
    assert_eq!(code(clinic.patient.client.appointment_action(d.id, AppointmentAction::Complete).await), 403);
    let done = clinic.doctor.client.appointment_action(d.id, AppointmentAction::Complete).await.unwrap();
    assert_eq!(done.status, AppointmentStatus::Completed);
    assert_eq!(code(clinic.doctor.client.appointment_action(d.id, AppointmentAction::NoShow).await), 409);
    assert_eq!(code(clinic.reception.client.cancel(d.id, "").await), 409, "completed cannot be cancelled");
    let e = book(desk, pid, doc, utc(14, 10, 0)).await.unwrap();
    assert_eq!(
        code(clinic.doctor.client.appointment_action(e.id, AppointmentAction::NoShow).await),
        409,
        "not started yet"
    );
}

#[tokio::test]
async fn check_in_opens_two_hours_before_the_start_and_a_visit_completes_only_after_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (pid, nurse, doctor) = (clinic.patient.patient_id, &clinic.nurse.client, &clinic.doctor.client);
    let desk = &clinic.reception.client;
    let in_three_days = book(desk, pid, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();
    let early = nurse.appointment_action(in_three_days.id, AppointmentAction::CheckIn).await.unwrap_err();
    assert_eq!(early.status, 409, "three days ahead is too early: {early}");
    assert!(early.detail.as_deref().unwrap_or("").contains("120 minutes"), "says when it opens: {early}");
    assert_eq!(desk.appointment(in_three_days.id).await.unwrap().status, AppointmentStatus::Scheduled);

    let too_early = visit_at(&app, &clinic, pid, SignedDuration::from_mins(125)).await;
    assert_eq!(code(nurse.appointment_action(too_early, AppointmentAction::CheckIn).await), 409, "2 h 5 min ahead");
    let due = visit_at(&app, &clinic, pid, SignedDuration::from_mins(115)).await;
    nurse.appointment_action(due, AppointmentAction::CheckIn).await.expect("1 h 55 min ahead is within the window");
    let not_yet = doctor.appointment_action(due, AppointmentAction::Complete).await.unwrap_err();
    assert_eq!(not_yet.status, 409, "checked in but not started: {not_yet}");
    assert_eq!(desk.appointment(due).await.unwrap().status, AppointmentStatus::CheckedIn, "nothing changed");

    let started = visit_at(&app, &clinic, pid, SignedDuration::from_mins(-10)).await;
    nurse.appointment_action(started, AppointmentAction::CheckIn).await.unwrap();
    let done = doctor.appointment_action(started, AppointmentAction::Complete).await.unwrap();
    assert_eq!(done.status, AppointmentStatus::Completed);
}

#[tokio::test]
async fn the_check_in_window_is_configurable() {
    let app = TestApp::spawn_with(|c| c.checkin_early = SignedDuration::from_hours(96)).await;
    let clinic = app.clinic().await;
    let (desk, nurse) = (&clinic.reception.client, &clinic.nurse.client);
    let (pid, doc) = (clinic.patient.patient_id, clinic.doctor.user_id);
    let within = book(desk, pid, doc, utc(3, 9, 0)).await.unwrap();
    let beyond = book(desk, pid, doc, utc(5, 9, 0)).await.unwrap();
    assert_eq!(code(nurse.appointment_action(within.id, AppointmentAction::CheckIn).await), 200, "under four days");
    let p = nurse.appointment_action(beyond.id, AppointmentAction::CheckIn).await.unwrap_err();
    assert_eq!(p.status, 409);
    assert!(p.detail.as_deref().unwrap_or("").contains("5760 minutes"), "{p}");
}

/// The field and message of a `422`.
fn refusal<T: std::fmt::Debug>(r: healthsynx_tests::shared::client::Result<T>) -> (String, String) {
    let p = r.expect_err("refused");
    assert_eq!(p.status, 422, "{p}");
    let e = p.errors.first().expect("a field error");
    (e.field.clone(), e.message.clone())
}

#[tokio::test]
async fn patients_book_by_notice_horizon_and_upcoming_limits_and_staff_are_not_bound() {
    use healthsynx_server::config::BookingRules;
    let rules = BookingRules { min_notice_hours: 48, horizon_days: 5, max_open: 2 };
    let app = TestApp::spawn_with(|c| c.booking_rules = rules).await;
    let clinic = app.clinic().await;
    let (pid, doc) = (clinic.patient.patient_id, clinic.doctor.user_id);
    let (me, desk) = (&clinic.patient.client, &clinic.reception.client);
    let now = Timestamp::now();
    let week = range(now, now + SignedDuration::from_hours(24 * 8));
    let all = desk.slots(doc, &week).await.unwrap();
    let mine = me.slots(doc, &week).await.unwrap();
    let (earliest, latest) = (now + SignedDuration::from_hours(48), now + SignedDuration::from_hours(24 * 5));
    assert!(
        mine.iter().all(|s| s.start >= earliest && s.start <= latest),
        "a patient is offered only what they may book"
    );
    assert!(all.len() > mine.len(), "the front desk sees every free slot");
    let (first, last) = (mine.first().unwrap().start, mine.last().unwrap().start);
    let before = all.iter().rev().find(|s| s.start < first).expect("a free slot inside the notice").start;
    let after = all.iter().find(|s| s.start > last).expect("a free slot beyond the horizon").start;

    // Notice: the slot before the patient's first is refused, the first is not.
    let (field, message) = refusal(book(me, pid, doc, before).await);
    assert_eq!(field, "start");
    assert!(message.contains("HEALTHSYNX_MIN_NOTICE_HOURS = 48"), "{message}");
    let kept = book(me, pid, doc, first).await.expect("exactly the notice is enough");
    // Horizon: the patient's last slot is bookable, the next one is not.
    let mut to_cancel = vec![book(me, pid, doc, last).await.expect("the last day of the horizon").id];
    let (field, message) = refusal(book(me, pid, doc, after).await);
    assert_eq!(field, "start");
    assert!(message.contains("HEALTHSYNX_BOOKING_HORIZON_DAYS = 5"), "{message}");
    to_cancel.push(book(desk, pid, doc, after).await.expect("staff book beyond the horizon").id);
    // That made three upcoming: over the patient's limit of two, not the desk's.
    let mid = mine[mine.len() / 2].start;
    let (field, message) = refusal(book(me, pid, doc, mid).await);
    assert_eq!(field, "patient_id");
    assert!(message.contains("HEALTHSYNX_MAX_OPEN_PER_PATIENT = 2"), "{message}");
    to_cancel.push(book(desk, pid, doc, before).await.expect("staff book inside the notice").id);
    to_cancel.push(book(desk, pid, doc, mid).await.expect("staff are not bound by the limit").id);

    // The refusals wrote nothing; cancellations make room under the limit.
    let q = AppointmentQuery { patient_id: Some(pid), limit: Some(100), ..Default::default() };
    assert_eq!(desk.appointments(&q).await.unwrap().items.len(), 5);
    for id in to_cancel {
        desk.cancel(id, "rebooking").await.unwrap();
    }
    let free = me.slots(doc, &week).await.unwrap();
    let again = free.iter().find(|s| s.start != kept.start).expect("a free slot").start;
    book(me, pid, doc, again).await.expect("one upcoming leaves room for a second");
}

#[tokio::test]
async fn patients_cancel_only_before_the_cancel_window() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (pid, doc) = (clinic.patient.patient_id, clinic.doctor.user_id);
    let soon = Timestamp::now() + SignedDuration::from_hours(3);
    let soon = clinic.patient.client.slots(doc, &range(soon, soon + SignedDuration::from_hours(12))).await.unwrap();
    let Some(slot) = soon.first() else { return };
    let a = book(&clinic.reception.client, pid, doc, slot.start).await.unwrap();
    let p = clinic.patient.client.cancel(a.id, "").await.unwrap_err();
    assert_eq!(p.status, 409);
    assert!(p.detail.unwrap().contains("24 hours"));
    let later = book(&clinic.reception.client, pid, doc, utc(5, 9, 0)).await.unwrap();
    assert_eq!(
        clinic.patient.client.cancel(later.id, "cannot come").await.unwrap().status,
        AppointmentStatus::Cancelled
    );
    assert_eq!(clinic.reception.client.cancel(a.id, "").await.unwrap().status, AppointmentStatus::Cancelled);
}

#[tokio::test]
async fn bad_booking_input_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (pid, doc) = (clinic.patient.patient_id, clinic.doctor.user_id);
    let desk = &clinic.reception.client;
    let req = |start: Timestamp, end: Option<Timestamp>| NewAppointment {
        patient_id: pid,
        doctor_id: doc,
        start,
        end,
        reason: Default::default(),
        type_id: None,
    };
    let s = utc(15, 10, 0);
    for (what, r, want) in [
        ("end before start", req(s, Some(s - SLOT)), 422),
        ("zero length", req(s, Some(s)), 422),
        ("24 hours", req(s, Some(s + SignedDuration::from_hours(24))), 422),
        ("off the grid", req(s + SignedDuration::from_mins(10), None), 422),
        ("end off the grid", req(s, Some(s + SignedDuration::from_mins(45))), 422),
        ("outside hours", req(utc(15, 21, 0), None), 422),
        ("in the past", req(utc(-1, 10, 0), None), 422),
    ] {
        assert_eq!(code(desk.book(&r, None).await), want, "{what}");
    }
    let unknown = NewAppointment { doctor_id: Uuid::now_v7(), ..req(s, None) };
    assert_eq!(code(desk.book(&unknown, None).await), 404, "unknown doctor");
    let not_doctor = NewAppointment { doctor_id: clinic.nurse.user_id, ..req(s, None) };
    assert_eq!(code(desk.book(&not_doctor, None).await), 404, "a nurse is not a doctor");
    assert_eq!(code(desk.slots(doc, &range(utc(1, 0, 0), utc(33, 0, 0))).await), 422, "range over 31 days");
    assert_eq!(code(desk.slots(doc, &range(utc(2, 0, 0), utc(1, 0, 0))).await), 422, "to before from");
    assert_eq!(code(desk.slots(Uuid::now_v7(), &range(utc(1, 0, 0), utc(2, 0, 0))).await), 404, "unknown doctor");
    assert!(calendar(&clinic, doc, 15).await.is_empty(), "nothing was written");
    // A longer, on-grid appointment inside one window is fine.
    let two_slots = desk.book(&req(s, Some(s + SLOT * 2)), None).await.unwrap();
    assert_eq!(two_slots.end, s + SLOT * 2);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let req = check_up(clinic.patient.patient_id, clinic.doctor.user_id, utc(16, 9, 0));
    let a = desk.book(&req, Some("key-123")).await.unwrap();
    let b = desk.book(&req, Some("key-123")).await.unwrap();
    assert_eq!(a.id, b.id);
    let other = NewAppointment { start: utc(16, 10, 0), ..req.clone() };
    assert_eq!(code(desk.book(&other, Some("key-123")).await), 422);
    assert_eq!(calendar(&clinic, clinic.doctor.user_id, 16).await.len(), 1);
    assert_eq!(code(desk.book(&req, None).await), 409, "without the key it is a second booking");
}

#[tokio::test]
async fn calendars_and_lists_page_through_in_time_order() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pats = more_patients(&clinic, 6).await;
    let doc = clinic.doctor.user_id;
    for (i, p) in pats.iter().enumerate() {
        book(&clinic.reception.client, *p, doc, utc(17, 9, 0) + SLOT * i as i32).await.unwrap();
    }
    let q = |cursor| AppointmentQuery { doctor_id: Some(doc), limit: Some(4), cursor, ..Default::default() };
    let p1 = clinic.reception.client.appointments(&q(None)).await.unwrap();
    let p2 = clinic.reception.client.appointments(&q(p1.next_cursor.clone())).await.unwrap();
    assert_eq!((p1.items.len(), p2.items.len()), (4, 2));
    assert!(p2.next_cursor.is_none());
    let starts: Vec<Timestamp> = p1.items.iter().chain(&p2.items).map(|a| a.start).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]));
    let cal = calendar(&clinic, doc, 17).await;
    assert_eq!(cal.len(), 6);
    assert_eq!(cal[0].doctor_name, "Carl Cardio");
    let by_status = AppointmentQuery { status: Some(AppointmentStatus::Cancelled), ..Default::default() };
    assert!(clinic.admin.client.appointments(&by_status).await.unwrap().items.is_empty());
}

/// Random sequences of book / cancel / reschedule through the real server
/// never leave two overlapping live appointments for a doctor or a patient.
#[test]
fn random_operation_sequences_never_overlap() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, clinic, pats) = rt.block_on(async {
        let app = TestApp::spawn().await;
        let clinic = app.clinic().await;
        let pats = more_patients(&clinic, 3).await;
        (app, clinic, pats)
    });
    let doctors = [clinic.doctor.user_id, clinic.doctor2.user_id];
    let desk: Client = clinic.reception.client.clone();
    let day = std::cell::Cell::new(20i64);
    #[derive(Debug, Clone)]
    enum Op {
        Book { patient: usize, doctor: usize, slot: i32, len: i32 },
        Cancel(usize),
        Move { which: usize, slot: i32 },
    }
    let op = prop_oneof![
        3 => (0..3usize, 0..2usize, 0..8i32, 1..3i32).prop_map(|(patient, doctor, slot, len)| Op::Book { patient, doctor, slot, len }),
        1 => (0..16usize).prop_map(Op::Cancel),
        1 => (0..16usize, 0..8i32).prop_map(|(which, slot)| Op::Move { which, slot }),
    ];
    let config = ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(ops in proptest::collection::vec(op, 1..25))| {
        let d = day.get();
        day.set(d + 1);
        rt.block_on(async {
            let base = utc(d, 9, 0);
            let mut made: Vec<Uuid> = Vec::new();
            for op in &ops {
                match op {
                    Op::Book { patient, doctor, slot, len } => {
                        let start = base + SLOT * *slot;
                        let req = NewAppointment { patient_id: pats[*patient], doctor_id: doctors[*doctor], start, end: Some(start + SLOT * *len), reason: Default::default(), type_id: None };
                        match desk.book(&req, None).await {
                            Ok(a) => made.push(a.id),
                            Err(p) => assert_eq!(p.status, 409, "{p}"),
                        }
                    }
                    Op::Cancel(i) if !made.is_empty() => {
                        let id = made[i % made.len()];
                        if let Err(p) = desk.cancel(id, "").await { assert_eq!(p.status, 409) }
                    }
                    Op::Move { which, slot } if !made.is_empty() => {
                        let id = made[which % made.len()];
                        let v = desk.appointment(id).await.unwrap().version;
                        let patch = AppointmentPatch { start: Some(base + SLOT * *slot), ..Default::default() };
                        if let Err(p) = desk.patch_appointment(id, v, &patch).await { assert!(p.status == 409 || p.status == 422, "{p}") }
                    }
                    _ => {}
                }
            }
            for doctor in doctors {
                let q = AppointmentQuery { doctor_id: Some(doctor), from: Some(utc(d, 0, 0)), to: Some(utc(d + 1, 0, 0)), limit: Some(500), ..Default::default() };
                assert_no_overlap(&desk.appointments(&q).await.unwrap().items);
            }
            for p in &pats {
                let q = AppointmentQuery { patient_id: Some(*p), from: Some(utc(d, 0, 0)), to: Some(utc(d + 1, 0, 0)), limit: Some(500), ..Default::default() };
                assert_no_overlap(&desk.appointments(&q).await.unwrap().items);
            }
        });
    });
    drop(app);
}

#[tokio::test]
async fn a_calendar_read_again_after_each_kind_of_write_is_never_stale() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doctor) = (&clinic.reception.client, clinic.doctor.user_id);
    let a = book(desk, clinic.patient.patient_id, doctor, utc(3, 9, 0)).await.unwrap();
    let b = book(desk, clinic.patient2.patient_id, doctor, utc(3, 10, 0)).await.unwrap();
    // Reads fill the server's view cache (from an appointment's second miss
    // on); each write must show on the next read.
    assert_eq!(calendar(&clinic, doctor, 3).await.len(), 2);
    assert_eq!(calendar(&clinic, doctor, 3).await.len(), 2);

    let patch = AppointmentPatch { reason: Some("follow-up, fasting".parse().unwrap()), ..Default::default() };
    let a = desk.patch_appointment(a.id, a.version, &patch).await.unwrap();
    assert_eq!(calendar(&clinic, doctor, 3).await[0].reason, "follow-up, fasting");

    desk.cancel(b.id, "patient called").await.unwrap();
    assert_eq!(calendar(&clinic, doctor, 3).await[1].status, AppointmentStatus::Cancelled);

    let moved = AppointmentPatch { start: Some(utc(4, 9, 0)), end: Some(utc(4, 9, 30)), ..Default::default() };
    desk.patch_appointment(a.id, a.version, &moved).await.unwrap();
    assert_eq!(calendar(&clinic, doctor, 3).await.len(), 1, "moved out of day 3");
    assert_eq!(calendar(&clinic, doctor, 4).await[0].id, a.id);

    let rename = PatientPatch { full_name: Some("Renamed Patient".into()), ..Default::default() };
    clinic.admin.client.patch_patient(clinic.patient.patient_id, &rename).await.unwrap();
    assert_eq!(calendar(&clinic, doctor, 4).await[0].patient_name, "Renamed Patient");
}
