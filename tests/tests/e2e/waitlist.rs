//! The waitlist: a freed time goes to the oldest matching entry as an
//! exclusive, time-limited hold; accepting books it, declining or expiry
//! passes it on, and no entry is offered the same time twice.

use std::time::Duration;

use healthsynx_tests::shared::api::{
    AppointmentAction, NewAppointmentType, NewResource, NewWaitlistEntry, SlotQuery, WaitlistQuery,
};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{AppointmentStatus, Money, Offer, OfferStatus, WaitlistEntry, WaitlistStatus};
use healthsynx_tests::{Clinic, SLOT, TestApp, utc};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::support::{another_doctor, book, code, more_patients, range};

fn wish(patient: Uuid, doctor: Option<Uuid>, earliest: Timestamp, latest: Timestamp) -> NewWaitlistEntry {
    NewWaitlistEntry {
        patient_id: patient,
        doctor_id: doctor,
        department: None,
        type_id: None,
        earliest,
        latest,
        note: Some("sooner if possible".parse().unwrap()),
    }
}

/// The open offers the front desk sees, once `done` holds of them (or panics after 10 s).
async fn offers_until(desk: &Client, what: &str, done: impl Fn(&[Offer]) -> bool) -> Vec<Offer> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let offers = desk.offers().await.unwrap();
        if done(&offers) {
            return offers;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: offers are {offers:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits long enough for several waitlist rounds to run.
async fn a_few_rounds() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

async fn entry(desk: &Client, id: Uuid) -> Option<WaitlistEntry> {
    desk.waitlist(&WaitlistQuery::default()).await.unwrap().into_iter().find(|e| e.id == id)
}

/// A doctor whose one free hour (10:00–11:00 in three days) is fully booked by others.
async fn full_hour(clinic: &Clinic) -> (Timestamp, [Uuid; 2], Vec<Uuid>) {
    let desk = &clinic.reception.client;
    let extra = more_patients(clinic, 3).await;
    let ten = utc(3, 10, 0);
    let a = book(desk, clinic.patient2.patient_id, clinic.doctor.user_id, ten).await.unwrap();
    let b = book(desk, extra[0], clinic.doctor.user_id, ten + SLOT).await.unwrap();
    (ten, [a.id, b.id], extra)
}

#[tokio::test]
async fn a_cancelled_time_is_held_for_the_first_matching_entry_until_accepted() {
    let app = TestApp::spawn_with(|c| c.waitlist_tick = Duration::from_millis(100)).await;
    let clinic = app.clinic().await;
    let (desk, doc, me) = (&clinic.reception.client, clinic.doctor.user_id, clinic.patient.patient_id);
    let (ten, [first, _], extra) = full_hour(&clinic).await;
    let hour = (ten, ten + SLOT * 2);

    // Oldest first: Paula, then an extra patient, both for this doctor.
    let mine = clinic.patient.client.join_waitlist(&wish(me, Some(doc), hour.0, hour.1)).await.unwrap();
    assert_eq!((mine.status, mine.department.as_str()), (WaitlistStatus::Waiting, "cardiology"));
    let second = desk.join_waitlist(&wish(extra[1], Some(doc), hour.0, hour.1)).await.unwrap();
    // Any neurology doctor: that department's doctor is free, so it is offered at once.
    let elsewhere = NewWaitlistEntry { department: Some("neurology".into()), ..wish(extra[2], None, hour.0, hour.1) };
    let elsewhere = desk.join_waitlist(&elsewhere).await.unwrap();
    let neuro = offers_until(desk, "neurology's free time", |o| o.len() == 1).await.remove(0);
    assert_eq!((neuro.waitlist_id, neuro.doctor_id, neuro.start), (elsewhere.id, clinic.doctor2.user_id, ten));
    a_few_rounds().await;
    let ours = |o: &[Offer]| o.iter().filter(|o| o.doctor_id == doc).cloned().collect::<Vec<_>>();
    assert!(ours(&desk.offers().await.unwrap()).is_empty(), "nothing of this doctor is free, so nothing is offered");

    desk.appointment_action(first, AppointmentAction::Cancel).await.unwrap();
    let offers = ours(&offers_until(desk, "the freed 10:00", |o| !ours(o).is_empty()).await);
    let [offer] = offers.as_slice() else { panic!("one offer: {offers:?}") };
    assert_eq!((offer.waitlist_id, offer.start, offer.doctor_id), (mine.id, ten, doc));
    assert_eq!(offer.status, OfferStatus::Open);
    let hold = offer.expires_at.duration_since(Timestamp::now());
    assert!(hold > SignedDuration::from_mins(29) && hold <= SignedDuration::from_mins(30), "{hold:?}");
    assert_eq!(entry(desk, mine.id).await.unwrap().status, WaitlistStatus::Offered);
    assert_eq!(entry(desk, second.id).await.unwrap().status, WaitlistStatus::Waiting);

    // Held: busy for everyone else, shown on the doctor's calendar, offered in no slot search.
    let taken = book(desk, extra[2], doc, ten).await.unwrap_err();
    assert_eq!(taken.status, 409, "{taken}");
    let free = desk.slots(doc, &range(hour.0, hour.1)).await.unwrap();
    assert!(free.is_empty(), "{free:?}");
    let calendar = clinic.doctor.client.calendar(doc, &range(hour.0, hour.1)).await.unwrap();
    let held = calendar.iter().find(|a| a.id == offer.appointment_id).expect("the hold is on the calendar");
    assert_eq!((held.status, held.patient_id), (AppointmentStatus::Held, me));
    assert_eq!(code(desk.appointment_action(held.id, AppointmentAction::CheckIn).await), 409);

    // Each patient sees only their own offers; another's cannot be answered.
    assert!(clinic.patient2.client.offers().await.unwrap().is_empty());
    assert_eq!(code(clinic.patient2.client.accept_offer(offer.id).await), 404);
    assert_eq!(code(clinic.nurse.client.offers().await), 403);
    let own = clinic.patient.client.offers().await.unwrap();
    assert_eq!(own.iter().map(|o| o.id).collect::<Vec<_>>(), [offer.id]);

    // Twenty bookings of the held time race the patient's accept: only the accept wins.
    let racers = more_patients(&clinic, 20).await;
    let attempts: Vec<_> = racers
        .iter()
        .map(|p| {
            let (desk, p) = (desk.clone(), *p);
            tokio::spawn(async move { code(book(&desk, p, doc, ten).await) })
        })
        .collect();
    let booked = clinic.patient.client.accept_offer(offer.id).await.unwrap();
    for a in attempts {
        assert_eq!(a.await.unwrap(), 409, "the held time is never booked by anyone else");
    }
    assert_eq!((booked.id, booked.status, booked.start), (offer.appointment_id, AppointmentStatus::Scheduled, ten));
    assert_eq!(booked.reason, "sooner if possible");
    let again = clinic.patient.client.accept_offer(offer.id).await.unwrap();
    assert_eq!(again.id, booked.id, "accepting twice answers the same appointment");
    assert_eq!(code(clinic.patient.client.decline_offer(offer.id).await), 409);
    assert!(ours(&desk.offers().await.unwrap()).is_empty());
    assert!(entry(desk, mine.id).await.is_none(), "a booked entry leaves the list");
    assert_eq!(clinic.patient.client.waitlist_entry(mine.id).await.unwrap().status, WaitlistStatus::Booked);
    assert_eq!(code(clinic.patient2.client.waitlist_entry(mine.id).await), 404, "another patient's");
    assert_eq!(entry(desk, second.id).await.unwrap().status, WaitlistStatus::Waiting);
    // Now a real appointment: it puts Paula in the doctor's care.
    assert!(clinic.doctor.client.patient(me).await.is_ok());
}

#[tokio::test]
async fn declining_or_letting_an_offer_expire_passes_it_on_and_no_entry_gets_the_same_time_twice() {
    let app = TestApp::spawn_with(|c| {
        c.offer_hold = SignedDuration::from_millis(1500);
        c.waitlist_tick = Duration::from_millis(100);
    })
    .await;
    let clinic = app.clinic().await;
    let (desk, doc, me) = (&clinic.reception.client, clinic.doctor.user_id, clinic.patient.patient_id);
    let (ten, [first, _], extra) = full_hour(&clinic).await;
    let hour = (ten, ten + SLOT * 2);
    let a = clinic.patient.client.join_waitlist(&wish(me, Some(doc), hour.0, hour.1)).await.unwrap();
    // Any cardiology doctor will do for the second.
    let anyone = NewWaitlistEntry { department: Some("cardiology".into()), ..wish(extra[1], None, hour.0, hour.1) };
    let b = desk.join_waitlist(&anyone).await.unwrap();

    desk.appointment_action(first, AppointmentAction::Cancel).await.unwrap();
    let to_a = offers_until(desk, "offer to the first", |o| o.len() == 1).await.remove(0);
    assert_eq!(to_a.waitlist_id, a.id);
    let declined = clinic.patient.client.decline_offer(to_a.id).await.unwrap();
    assert_eq!(declined.status, OfferStatus::Declined);
    assert_eq!(clinic.patient.client.decline_offer(to_a.id).await.unwrap().status, OfferStatus::Declined);
    assert_eq!(code(clinic.patient.client.accept_offer(to_a.id).await), 409, "a declined offer is over");

    let to_b = offers_until(desk, "passed to the second", |o| o.iter().any(|o| o.waitlist_id == b.id)).await;
    assert_eq!(to_b.len(), 1, "one entry at a time: {to_b:?}");
    assert_eq!((to_b[0].start, to_b[0].doctor_id), (ten, doc));
    assert_ne!(to_b[0].appointment_id, to_a.appointment_id, "a new hold for the new patient");
    assert!(desk.appointment(to_a.appointment_id).await.is_err(), "the declined hold is gone");

    // Nobody answers: it expires, and the time is free again for a booking.
    let after = offers_until(desk, "expiry", |o| o.is_empty()).await;
    assert!(after.is_empty());
    assert_eq!(code(desk.accept_offer(to_b[0].id).await), 409, "expired");
    a_few_rounds().await;
    assert!(desk.offers().await.unwrap().is_empty(), "neither entry is offered 10:00 again");
    for id in [a.id, b.id] {
        assert_eq!(entry(desk, id).await.unwrap().status, WaitlistStatus::Waiting);
    }
    let free = desk.slots(doc, &range(hour.0, hour.1)).await.unwrap();
    assert_eq!(free.iter().map(|s| s.start).collect::<Vec<_>>(), [ten]);

    // A new entry has not had it: it is offered 10:00.
    let c = desk.join_waitlist(&wish(extra[2], Some(doc), hour.0, hour.1)).await.unwrap();
    let to_c = offers_until(desk, "offer to a new entry", |o| o.len() == 1).await.remove(0);
    assert_eq!((to_c.waitlist_id, to_c.start), (c.id, ten));
    // Leaving the waitlist withdraws the offer and frees the time.
    desk.leave_waitlist(c.id).await.unwrap();
    assert!(desk.offers().await.unwrap().is_empty());
    assert!(entry(desk, c.id).await.is_none());
    assert_eq!(desk.waitlist_entry(c.id).await.unwrap().status, WaitlistStatus::Removed);
    assert_eq!(code(desk.leave_waitlist(c.id).await), 404);
    assert_eq!(desk.slots(doc, &range(hour.0, hour.1)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_entry_for_a_kind_of_visit_is_offered_a_time_that_fits_it_with_its_room_held() {
    let app = TestApp::spawn_with(|c| c.waitlist_tick = Duration::from_millis(100)).await;
    let clinic = app.clinic().await;
    let (admin, desk, doc) = (&clinic.admin.client, &clinic.reception.client, clinic.doctor.user_id);
    let room = NewResource {
        kind: "procedure-room".parse().unwrap(),
        name: "Room 1".into(),
        department: "cardiology".parse().unwrap(),
    };
    let room = admin.create_resource(&room).await.unwrap();
    let kind = NewAppointmentType {
        department: "cardiology".parse().unwrap(),
        name: "Procedure".into(),
        minutes: 60,
        buffer_before: 0,
        buffer_after: 0,
        price: Money { amount: 9000, currency: "EUR".parse().unwrap() },
        patient_bookable: true,
        resource_kind: Some("procedure-room".parse().unwrap()),
    };
    let kind = admin.create_appointment_type(&kind).await.unwrap();
    // 10:00–12:00 in three days: the doctor is busy at 10:30, so only 11:00 fits an hour.
    let (ten, noon) = (utc(3, 10, 0), utc(3, 12, 0));
    book(desk, clinic.patient2.patient_id, doc, ten + SLOT).await.unwrap();
    let wish = NewWaitlistEntry { type_id: Some(kind.id), ..wish(clinic.patient.patient_id, Some(doc), ten, noon) };
    desk.join_waitlist(&wish).await.unwrap();
    let offer = offers_until(desk, "a typed offer", |o| o.len() == 1).await.remove(0);
    assert_eq!((offer.start, offer.end), (ten + SLOT * 2, noon));
    assert_eq!((offer.type_id, offer.resource_id), (Some(kind.id), Some(room.id)));
    // The room is held too: another doctor's procedure finds it taken at 11:00, free at 10:00.
    let other = another_doctor(&app, "cardiology", "Olga Other").await;
    let q = SlotQuery { from: ten, to: noon, type_id: Some(kind.id) };
    let starts: Vec<Timestamp> = desk.slots_of_type(other, &q).await.unwrap().iter().map(|s| s.start).collect();
    assert_eq!(starts, [ten], "only 10:00 ends before the held room's hour");

    // A kind of another department, or no place at all, is refused; so are staff who do not keep the list.
    let p = clinic.patient.patient_id;
    let cases = [
        (NewWaitlistEntry { doctor_id: Some(clinic.doctor2.user_id), ..wish.clone() }, "type_id"),
        (NewWaitlistEntry { doctor_id: None, type_id: None, ..wish.clone() }, "doctor_id"),
        (NewWaitlistEntry { latest: ten, ..wish.clone() }, "latest"),
        (NewWaitlistEntry { doctor_id: None, department: Some("nowhere".into()), ..wish.clone() }, "department"),
    ];
    for (bad, field) in cases {
        let e = desk.join_waitlist(&bad).await.unwrap_err();
        assert_eq!((e.status, e.errors.first().map(|f| f.field.as_str())), (422, Some(field)), "{e}");
    }
    assert_eq!(code(desk.join_waitlist(&wish).await), 409, "the same wish twice");
    assert_eq!(code(clinic.doctor.client.join_waitlist(&wish).await), 403);
    assert_eq!(code(clinic.nurse.client.waitlist(&WaitlistQuery::default()).await), 403);
    assert_eq!(code(clinic.patient2.client.join_waitlist(&wish).await), 403, "not for another patient");
    let listed = clinic.patient2.client.waitlist(&WaitlistQuery::default()).await.unwrap();
    assert!(listed.iter().all(|e| e.patient_id != p), "a patient sees only their own entries");
    let by_doctor = WaitlistQuery { doctor_id: Some(clinic.doctor2.user_id), department: None };
    assert!(desk.waitlist(&by_doctor).await.unwrap().is_empty());
}

#[tokio::test]
async fn ended_and_lapsed_entries_are_swept_thirty_days_on() {
    use healthsynx_server::domain::IDEMPOTENCY_TTL;
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    let (ten, _, extra) = full_hour(&clinic).await;
    let hour = (ten, ten + SLOT * 2);
    let left = desk.join_waitlist(&wish(extra[1], Some(doc), hour.0, hour.1)).await.unwrap();
    desk.leave_waitlist(left.id).await.unwrap();
    desk.join_waitlist(&wish(extra[2], Some(doc), hour.0, hour.1)).await.unwrap();
    let store = &app.state().store;
    let stored = || async { store.read().await.unwrap().waitlist_entries().await.unwrap().len() };
    store.sweep_expired(Timestamp::now(), IDEMPOTENCY_TTL).await.unwrap();
    assert_eq!(stored().await, 2, "kept while recent");
    store.sweep_expired(hour.1 + SignedDuration::from_hours(24 * 31), IDEMPOTENCY_TTL).await.unwrap();
    assert_eq!(stored().await, 0, "the removed one and the one whose window passed");
}
