//! Appointment types and resources: admins keep them, bookings take a type's
//! length and buffers and one free resource of its kind, and no doctor,
//! patient or resource is ever in two overlapping visits.

use std::collections::HashMap;
use std::sync::Arc;

use healthsynx_tests::shared::api::{
    AppointmentPatch, AppointmentTypePatch, CatalogQuery, NewAppointment, NewAppointmentType, NewResource,
    ResourcePatch, RouteId, SlotQuery,
};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{Appointment, AppointmentStatus, AppointmentType, AvailabilityRule, Money, Resource};
use healthsynx_tests::{Clinic, SLOT, TestApp, clock, utc};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::support::{another_doctor, code, more_patients, range, send_json};

fn eur(cents: i64) -> Money {
    Money { amount: cents, currency: "EUR".parse().unwrap() }
}

fn new_type(name: &str, minutes: u16, before: u16, after: u16, kind: Option<&str>) -> NewAppointmentType {
    NewAppointmentType {
        department: "cardiology".parse().unwrap(),
        name: name.into(),
        minutes,
        buffer_before: before,
        buffer_after: after,
        price: eur(4500),
        patient_bookable: true,
        resource_kind: kind.map(|k| k.parse().unwrap()),
    }
}

async fn add_type(clinic: &Clinic, t: NewAppointmentType) -> AppointmentType {
    clinic.admin.client.create_appointment_type(&t).await.unwrap()
}

async fn add_resource(clinic: &Clinic, kind: &str, name: &str) -> Resource {
    let r = NewResource { kind: kind.parse().unwrap(), name: name.into(), department: "cardiology".parse().unwrap() };
    clinic.admin.client.create_resource(&r).await.unwrap()
}

fn typed(patient: Uuid, doctor: Uuid, start: Timestamp, t: &AppointmentType) -> NewAppointment {
    NewAppointment {
        patient_id: patient,
        doctor_id: doctor,
        start,
        end: None,
        reason: "check-up".parse().unwrap(),
        type_id: Some(t.id),
    }
}

fn overlap(a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// No two live appointments overlap on a doctor (visits and buffers), a
/// patient (visits) or a resource (visits and buffers).
fn assert_never_double_booked(all: &[Appointment]) {
    let live: Vec<&Appointment> = all.iter().filter(|a| a.status != AppointmentStatus::Cancelled).collect();
    for (i, a) in live.iter().enumerate() {
        for b in &live[i + 1..] {
            if a.doctor_id == b.doctor_id {
                assert!(!overlap(a.busy(), b.busy()), "doctor double-booked: {a:?} {b:?}");
            }
            if a.patient_id == b.patient_id {
                assert!(!overlap((a.start, a.end), (b.start, b.end)), "patient double-booked: {a:?} {b:?}");
            }
            if a.resource_id.is_some() && a.resource_id == b.resource_id {
                assert!(!overlap(a.busy(), b.busy()), "resource double-booked: {a:?} {b:?}");
            }
        }
    }
}

#[tokio::test]
async fn admins_keep_types_and_resources_and_every_bad_field_is_refused() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let echo = new_type("Echocardiogram", 40, 5, 15, Some("echo"));
    // Columns: patient, doctor, nurse, receptionist, admin.
    for ((role, c), want) in clinic.by_role().into_iter().zip([403, 403, 403, 403, 201]) {
        let got = c.create_appointment_type(&echo).await.map(|_| 201);
        assert_eq!(got.unwrap_or_else(|p| p.status), want, "{role} creates a type");
    }
    assert_eq!(code(clinic.admin.client.create_appointment_type(&echo).await), 409, "same name, same department");
    let bad = [
        NewAppointmentType { minutes: 0, ..echo.clone() },
        NewAppointmentType { minutes: 481, ..echo.clone() },
        NewAppointmentType { buffer_after: 121, ..echo.clone() },
        NewAppointmentType { price: eur(-1), ..echo.clone() },
        NewAppointmentType { name: "  ".into(), ..echo.clone() },
        NewAppointmentType { department: "nowhere".parse().unwrap(), name: "Other".into(), ..echo.clone() },
    ];
    for t in bad {
        assert_eq!(code(clinic.admin.client.create_appointment_type(&t).await), 422, "{t:?}");
    }
    let body = serde_json::json!({"department": "cardiology", "name": "X", "minutes": 30,
        "price": {"amount": 100, "currency": "euro"}});
    let (status, _) = send_json(&app, &clinic.admin.client, RouteId::CreateAppointmentType, &[], body).await;
    assert_eq!(status, 422, "a currency is three capital letters");

    let all = clinic.patient.client.appointment_types(&CatalogQuery::default()).await.unwrap();
    assert_eq!(all.len(), 1);
    let t = &all[0];
    assert_eq!((t.minutes, t.buffer_before, t.buffer_after, t.version), (40, 5, 15, 1));
    let neuro = CatalogQuery { department: Some("neurology".into()), ..CatalogQuery::default() };
    assert!(clinic.patient.client.appointment_types(&neuro).await.unwrap().is_empty());

    // Changes need the version read; a stale one is refused.
    let patch = AppointmentTypePatch { minutes: Some(45), ..AppointmentTypePatch::default() };
    let (status, _) =
        send_json(&app, &clinic.admin.client, RouteId::PatchAppointmentType, &[t.id], serde_json::json!({})).await;
    assert_eq!(status, 428, "PATCH without If-Match");
    assert_eq!(code(clinic.reception.client.patch_appointment_type(t.id, 1, &patch).await), 403);
    let changed = clinic.admin.client.patch_appointment_type(t.id, 1, &patch).await.unwrap();
    assert_eq!((changed.minutes, changed.version), (45, 2));
    assert_eq!(code(clinic.admin.client.patch_appointment_type(t.id, 1, &patch).await), 412);
    let off =
        AppointmentTypePatch { active: Some(false), resource_kind: Some(None), ..AppointmentTypePatch::default() };
    let retired = clinic.admin.client.patch_appointment_type(t.id, 2, &off).await.unwrap();
    assert_eq!((retired.active, retired.resource_kind.as_deref()), (false, None));
    assert!(clinic.reception.client.appointment_types(&CatalogQuery::default()).await.unwrap().is_empty());
    let inactive = CatalogQuery { include_inactive: true, ..CatalogQuery::default() };
    assert_eq!(code(clinic.reception.client.appointment_types(&inactive).await), 403);
    assert_eq!(clinic.admin.client.appointment_types(&inactive).await.unwrap().len(), 1);

    // Resources: the same rules.
    let room =
        NewResource { kind: "room".parse().unwrap(), name: "Room 1".into(), department: "cardiology".parse().unwrap() };
    assert_eq!(code(clinic.reception.client.create_resource(&room).await), 403);
    let r1 = clinic.admin.client.create_resource(&room).await.unwrap();
    assert_eq!(code(clinic.admin.client.create_resource(&room).await), 409);
    let (status, _) = send_json(
        &app,
        &clinic.admin.client,
        RouteId::CreateResource,
        &[],
        serde_json::json!({"kind": "Big Room", "name": "R", "department": "cardiology"}),
    )
    .await;
    assert_eq!(status, 422, "a kind is a lowercase code");
    add_resource(&clinic, "ecg", "ECG cart").await;
    let rooms = CatalogQuery { kind: Some("room".into()), ..CatalogQuery::default() };
    assert_eq!(clinic.nurse.client.resources(&rooms).await.unwrap(), vec![r1.clone()]);
    let renamed = ResourcePatch { name: Some("Room A".into()), ..ResourcePatch::default() };
    assert_eq!(clinic.admin.client.patch_resource(r1.id, 1, &renamed).await.unwrap().name, "Room A");

    // A retried create with the same Idempotency-Key answers the first one.
    let again = new_type("Stress test", 60, 0, 10, None);
    let http = app.http();
    let token = clinic.admin.client.access_token().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = http
            .post(format!("{}{}", app.url(), RouteId::CreateAppointmentType.path(&[])))
            .bearer_auth(&token)
            .header("Idempotency-Key", "stress-1")
            .json(&again)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        ids.push(resp.json::<AppointmentType>().await.unwrap().id);
    }
    assert_eq!(ids[0], ids[1]);
    let listed = clinic.admin.client.appointment_types(&CatalogQuery::default()).await.unwrap();
    assert_eq!(listed.iter().filter(|t| t.name == "Stress test").count(), 1);
}

/// A doctor working `day` in 10-minute slots, 09:00–12:00 UTC.
async fn ten_minute_grid(clinic: &Clinic, day: i64) {
    let weekday = utc(day, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).weekday().to_monday_one_offset() as u8;
    let rule = AvailabilityRule { weekday, start: clock("09:00"), end: clock("12:00"), slot_minutes: 10 };
    clinic.doctor.client.set_availability(clinic.doctor.user_id, vec![rule]).await.unwrap();
}

#[tokio::test]
async fn buffers_block_the_doctor_and_no_slot_cuts_into_one() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (doc, desk) = (clinic.doctor.user_id, &clinic.reception.client);
    let day = 5;
    ten_minute_grid(&clinic, day).await;
    let visit = add_type(&clinic, new_type("Consultation", 30, 10, 10, None)).await;
    let whole_day = range(utc(day, 0, 0), utc(day + 1, 0, 0));
    let before: Vec<Timestamp> = desk.slots(doc, &whole_day).await.unwrap().iter().map(|s| s.start).collect();
    assert_eq!(before.len(), 18);

    let mut wrong_end = typed(clinic.patient.patient_id, doc, utc(day, 10, 0), &visit);
    wrong_end.end = Some(utc(day, 10, 20));
    assert_eq!(code(desk.book(&wrong_end, None).await), 422, "a type sets the length");
    let a = desk.book(&typed(clinic.patient.patient_id, doc, utc(day, 10, 0), &visit), None).await.unwrap();
    assert_eq!((a.end, a.buffer_before, a.buffer_after, a.type_id), (utc(day, 10, 30), 10, 10, Some(visit.id)));
    assert_eq!(a.busy(), (utc(day, 9, 50), utc(day, 10, 40)));

    // The visit and its buffers take 50 minutes: five 10-minute slots.
    let after: Vec<Timestamp> = desk.slots(doc, &whole_day).await.unwrap().iter().map(|s| s.start).collect();
    let gone: Vec<Timestamp> = before.iter().copied().filter(|s| !after.contains(s)).collect();
    assert_eq!(gone, (0..5).map(|i| utc(day, 9, 50) + SignedDuration::from_mins(10 * i)).collect::<Vec<_>>());
    assert!(after.contains(&utc(day, 9, 40)) && after.contains(&utc(day, 10, 40)));

    // Slots of the type leave its own buffers clear of the booked ones.
    let q = SlotQuery { from: whole_day.from, to: whole_day.to, type_id: Some(visit.id) };
    let typed_slots = desk.slots_of_type(doc, &q).await.unwrap();
    for s in &typed_slots {
        assert_eq!(s.end.duration_since(s.start), SignedDuration::from_mins(30));
        let busy = (s.start - SignedDuration::from_mins(10), s.end + SignedDuration::from_mins(10));
        assert!(!overlap(busy, a.busy()), "{s:?} cuts into the booked visit's buffers");
        assert!(s.end <= utc(day, 12, 0), "{s:?} runs past the end of the day");
    }
    let starts: Vec<Timestamp> = typed_slots.iter().map(|s| s.start).collect();
    assert!(starts.contains(&utc(day, 9, 10)) && starts.contains(&utc(day, 10, 50)));
    assert!(!starts.contains(&utc(day, 9, 20)) && !starts.contains(&utc(day, 10, 40)));
    assert_eq!(starts.last(), Some(&utc(day, 11, 30)), "the last one ends when the day does");

    // Bookings that would cut into a buffer are conflicts, typed or not.
    let p2 = clinic.patient2.patient_id;
    let plain = |start| NewAppointment { type_id: None, ..typed(p2, doc, start, &visit) };
    assert_eq!(code(desk.book(&plain(utc(day, 10, 30)), None).await), 409, "into the buffer after");
    assert_eq!(code(desk.book(&plain(utc(day, 9, 50)), None).await), 409, "into the buffer before");
    assert_eq!(code(desk.book(&typed(p2, doc, utc(day, 10, 40), &visit), None).await), 409, "buffers meet buffers");
    desk.book(&typed(p2, doc, utc(day, 10, 50), &visit), None).await.unwrap();
    desk.book(&plain(utc(day, 9, 40)), None).await.unwrap();

    // A type changed later moves no booking: it keeps what it was booked with.
    let longer = AppointmentTypePatch { buffer_after: Some(60), ..AppointmentTypePatch::default() };
    clinic.admin.client.patch_appointment_type(visit.id, 1, &longer).await.unwrap();
    assert_eq!(desk.appointment(a.id).await.unwrap().buffer_after, 10);
    assert_never_double_booked(&healthsynx_tests::all_appointments(desk).await);
}

#[tokio::test]
async fn two_hundred_concurrent_room_bookings_fill_exactly_the_capacity() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doctors = [clinic.doctor.user_id, another_doctor(&app, "cardiology", "Cora Second").await];
    for n in 1..=3 {
        add_resource(&clinic, "room", &format!("Room {n}")).await;
    }
    let visit = add_type(&clinic, new_type("Room visit", 30, 0, 0, Some("room"))).await;
    let pats = more_patients(&clinic, 40).await;
    let slots: Vec<Timestamp> = (0..5).map(|i| utc(6, 9, 0) + SLOT * i).collect();
    let desk = Arc::new(clinic.reception.client.clone());
    let admin = Arc::new(clinic.admin.client.clone());
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let c = if i % 2 == 0 { desk.clone() } else { admin.clone() };
        // Each patient asks for one doctor at one time, four patients per pair.
        let req = typed(pats[i % 40], doctors[i % 2], slots[(i / 2) % 5], &visit);
        tasks.push(tokio::spawn(async move { c.book(&req, None).await }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => wins.push(a),
            Err(p) => assert_eq!(p.status, 409, "every loser is a conflict: {p}"),
        }
    }
    // Two doctors and three rooms: two visits at each of the five times.
    assert_eq!(wins.len(), 10, "winners = capacity");
    let mut per_time: HashMap<Timestamp, usize> = HashMap::new();
    for w in &wins {
        assert!(w.resource_id.is_some(), "a room visit holds a room");
        *per_time.entry(w.start).or_default() += 1;
    }
    assert!(per_time.values().all(|n| *n == 2), "{per_time:?}");
    let all = healthsynx_tests::all_appointments(&clinic.reception.client).await;
    assert_eq!(all.len(), 10);
    assert_never_double_booked(&all);
}

#[tokio::test]
async fn one_device_between_two_doctors_is_booked_once_at_a_time() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, p1, p2) = (&clinic.reception.client, clinic.patient.patient_id, clinic.patient2.patient_id);
    let (doc_a, doc_b) = (clinic.doctor.user_id, another_doctor(&app, "cardiology", "Cora Second").await);
    let ecg = add_resource(&clinic, "ecg", "ECG cart").await;
    let visit = add_type(&clinic, new_type("ECG", 30, 0, 10, Some("ecg"))).await;
    let at = utc(7, 10, 0);

    // Forty at once for the same time: the device goes to one of them.
    let pats = more_patients(&clinic, 40).await;
    let desk_arc = Arc::new(desk.clone());
    let tasks: Vec<_> = (0..40usize)
        .map(|i| {
            let (c, req) = (desk_arc.clone(), typed(pats[i], [doc_a, doc_b][i % 2], at, &visit));
            tokio::spawn(async move { c.book(&req, None).await })
        })
        .collect();
    let mut wins = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(a) => wins.push(a),
            Err(p) => assert_eq!(p.status, 409, "{p}"),
        }
    }
    assert_eq!(wins.len(), 1, "one device, one visit at a time");
    let first = wins.remove(0);
    assert_eq!(first.resource_id, Some(ecg.id));
    let other_doc = if first.doctor_id == doc_a { doc_b } else { doc_a };

    // The other doctor's slots of the type leave that time (and its buffer) out; plain slots keep it.
    let day = range(utc(7, 0, 0), utc(8, 0, 0));
    let q = SlotQuery { from: day.from, to: day.to, type_id: Some(visit.id) };
    let typed_starts: Vec<Timestamp> =
        desk.slots_of_type(other_doc, &q).await.unwrap().iter().map(|s| s.start).collect();
    assert!(!typed_starts.contains(&at) && !typed_starts.contains(&(at + SLOT)), "{typed_starts:?}");
    let plain: Vec<Timestamp> = desk.slots(other_doc, &day).await.unwrap().iter().map(|s| s.start).collect();
    assert!(plain.contains(&at));
    let refused = desk.book(&typed(p1, other_doc, at, &visit), None).await.unwrap_err();
    assert_eq!(refused.status, 409);
    assert!(refused.to_string().contains("no ecg is free"), "{refused}");

    // Moved, it keeps its device; the time it left is free for the other doctor.
    let moved = AppointmentPatch { start: Some(utc(7, 11, 0)), ..AppointmentPatch::default() };
    let first = desk.patch_appointment(first.id, first.version, &moved).await.unwrap();
    assert_eq!((first.resource_id, first.end), (Some(ecg.id), utc(7, 11, 30)));
    let second = desk.book(&typed(p2, other_doc, at, &visit), None).await.unwrap();
    assert_eq!(second.resource_id, Some(ecg.id));

    // A device out of use is not given out; cancelling frees what it held.
    let retire = ResourcePatch { active: Some(false), ..ResourcePatch::default() };
    clinic.admin.client.patch_resource(ecg.id, 1, &retire).await.unwrap();
    assert_eq!(code(desk.book(&typed(p1, other_doc, utc(7, 14, 0), &visit), None).await), 409);
    clinic
        .admin
        .client
        .patch_resource(ecg.id, 2, &ResourcePatch { active: Some(true), ..ResourcePatch::default() })
        .await
        .unwrap();
    desk.cancel(second.id, "moved elsewhere").await.unwrap();
    let third = desk.book(&typed(p1, first.doctor_id, at, &visit), None).await.unwrap();
    assert_never_double_booked(&healthsynx_tests::all_appointments(desk).await);

    if app.on_postgres() {
        // The database itself refuses a second visit on the device at that
        // time, whoever the doctor and patient, whatever a server process does.
        let copy = "INSERT INTO appointments (id, patient_id, doctor_id, department, start_at, end_at, status,
                    reason_sealed, version, created_at, updated_at, created_by, resource_id, busy_start, busy_end)
                    SELECT gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), department, start_at, end_at,
                    status, reason_sealed, version, created_at, updated_at, created_by, resource_id, busy_start,
                    busy_end FROM appointments WHERE id = $1";
        let err = app.sql().await.execute(copy, &[&third.id]).await.unwrap_err();
        let constraint = err.as_db_error().and_then(|e| e.constraint()).unwrap_or_default().to_owned();
        assert_eq!(constraint, "appointments_resource_no_overlap", "{err}");
    }
}

#[tokio::test]
async fn a_type_is_used_only_where_and_by_whom_it_is_offered() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (doc, at) = (clinic.doctor.user_id, utc(8, 10, 0));
    let me = clinic.patient.patient_id;
    let staff_only =
        add_type(&clinic, NewAppointmentType { patient_bookable: false, ..new_type("Procedure", 60, 0, 0, None) })
            .await;
    let online = add_type(&clinic, new_type("Follow-up", 30, 0, 0, None)).await;
    let q = |t: &AppointmentType| SlotQuery { from: utc(8, 0, 0), to: utc(9, 0, 0), type_id: Some(t.id) };

    let patient: &Client = &clinic.patient.client;
    assert_eq!(code(patient.book(&typed(me, doc, at, &staff_only), None).await), 422, "booked by the clinic");
    assert_eq!(code(patient.slots_of_type(doc, &q(&staff_only)).await), 422);
    assert_eq!(patient.slots_of_type(doc, &q(&online)).await.unwrap().len(), 24);
    patient.book(&typed(me, doc, at, &online), None).await.unwrap();
    clinic
        .reception
        .client
        .book(&typed(clinic.patient2.patient_id, doc, at + SLOT * 2, &staff_only), None)
        .await
        .unwrap();

    // Another department's doctor, an unknown type, a retired type: refused.
    let neuro = clinic.doctor2.user_id;
    let desk = &clinic.reception.client;
    assert_eq!(code(desk.book(&typed(me, neuro, at + SLOT * 6, &online), None).await), 422);
    let mut unknown = typed(me, doc, at + SLOT * 6, &online);
    unknown.type_id = Some(Uuid::now_v7());
    assert_eq!(code(desk.book(&unknown, None).await), 422);
    let retire = AppointmentTypePatch { active: Some(false), ..AppointmentTypePatch::default() };
    clinic.admin.client.patch_appointment_type(online.id, 1, &retire).await.unwrap();
    assert_eq!(code(desk.book(&typed(me, doc, at + SLOT * 6, &online), None).await), 422);
    assert_eq!(desk.appointments(&Default::default()).await.unwrap().items.len(), 2, "nothing refused was booked");
}
