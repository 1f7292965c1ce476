//! Webhooks against a real receiver (`tests/webhook_receiver.py`, which
//! checks signatures with the `standardwebhooks` package): bookings,
//! reschedules and cancellations arrive signed, without clinical text;
//! failures are retried with backoff, then listed dead and retried by hand;
//! URLs must be public `https` unless private ones are allowed; reminders
//! go out once per appointment and offset, across a restart, and never for
//! a cancelled appointment.

use std::time::Duration;

use healthsynx_tests::receiver::Receiver;
use healthsynx_tests::shared::api::{AppointmentPatch, DeliveryQuery, NewWebhook, WebhookPatch};
use healthsynx_tests::shared::{DeliveryStatus, EventType};
use healthsynx_tests::{SLOT, TestApp, utc};
use serde_json::Value;

use crate::support::{book, code};

/// A server that may post to the receiver on loopback, retrying fast.
async fn app_for_receiver() -> TestApp {
    TestApp::spawn_with(|c| {
        c.outreach.allow_private = true;
        c.outreach.retry_base = Duration::from_millis(100);
    })
    .await
}

fn hook(url: String, events: &[EventType]) -> NewWebhook {
    NewWebhook { url, events: events.to_vec(), active: true }
}

/// The verified bodies of `log` of one event type.
fn of_type<'a>(log: &'a [Value], t: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["body"]["type"] == t).map(|e| &e["body"]).collect()
}

#[tokio::test]
async fn bookings_reschedules_and_cancellations_arrive_signed_without_clinical_text() {
    let app = app_for_receiver().await;
    let clinic = app.clinic().await;
    let rx = Receiver::start();
    let events = [EventType::AppointmentBooked, EventType::AppointmentRescheduled, EventType::AppointmentCancelled];
    let w = clinic.admin.client.create_webhook(&hook(rx.url("/ok"), &events)).await.unwrap();
    let secret = w.secret.clone().expect("the secret is shown when the webhook is made");
    assert!(secret.starts_with("whsec_"));
    rx.set_secret(&secret).await;

    let desk = &clinic.reception.client;
    let mut new = crate::support::check_up(clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 9, 0));
    new.reason = "chest pain since tuesday".parse().unwrap();
    let a = desk.book(&new, None).await.unwrap();
    let moved = AppointmentPatch { start: Some(utc(3, 10, 0)), ..Default::default() };
    let a = desk.patch_appointment(a.id, a.version, &moved).await.unwrap();
    desk.cancel(a.id, "feeling better, stomach flu").await.unwrap();

    let log = rx.wait_for(Duration::from_secs(20), |l| l.len() >= 3).await;
    assert_eq!(log.len(), 3, "each event once: {log:#?}");
    for e in &log {
        assert!(e["verified"].as_bool().unwrap(), "standardwebhooks verifies it: {e:#?}");
        assert_eq!(e["webhook_id"], e["body"]["id"], "Webhook-Id is the event's id");
        let text = e["body"].to_string();
        for secret_text in ["chest pain", "stomach flu", "Paula Patient", "Patient"] {
            assert!(!text.contains(secret_text), "{secret_text:?} in {text}");
        }
    }
    let types: Vec<&str> = log.iter().map(|e| e["body"]["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["appointment.booked", "appointment.rescheduled", "appointment.cancelled"]);
    let booked = &log[0]["body"]["data"];
    assert_eq!(booked["appointment_id"], a.id.to_string());
    assert_eq!(booked["patient_first_name"], "Paula");
    let rescheduled = &log[1]["body"]["data"];
    assert_eq!(rescheduled["start"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap(), utc(3, 10, 0));
    assert_eq!(rescheduled["previous_start"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap(), utc(3, 9, 0));

    let page = clinic.admin.client.deliveries(w.id, &DeliveryQuery::default()).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.items.iter().all(|d| d.status == DeliveryStatus::Delivered && d.attempts == 1), "{page:#?}");
    // Nobody subscribed to invoices or reminders, and a disabled webhook hears nothing.
    let off = WebhookPatch { active: Some(false), ..Default::default() };
    let w = clinic.admin.client.patch_webhook(w.id, w.version, &off).await.unwrap();
    assert!(!w.active && w.secret.is_none());
    book(desk, clinic.patient2.patient_id, clinic.doctor.user_id, utc(4, 9, 0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.log().await.len(), 3, "a disabled webhook gets no events");
    assert_eq!(clinic.admin.client.deliveries(w.id, &DeliveryQuery::default()).await.unwrap().items.len(), 3);
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_event_on_the_fourth_try() {
    let app = app_for_receiver().await;
    let clinic = app.clinic().await;
    let rx = Receiver::start();
    let w = clinic.admin.client.create_webhook(&hook(rx.url("/fail/3"), &[EventType::AppointmentBooked])).await;
    let w = w.unwrap();
    rx.set_secret(w.secret.as_deref().unwrap()).await;
    book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();

    let log = rx.wait_for(Duration::from_secs(30), |l| l.iter().any(|e| e["answered"] == 200)).await;
    assert_eq!(log.len(), 4, "three 500s, then the 200: {log:#?}");
    assert!(log.iter().all(|e| e["verified"] == true && e["webhook_id"] == log[0]["webhook_id"]), "one Webhook-Id");
    let answered: Vec<i64> = log.iter().map(|e| e["answered"].as_i64().unwrap()).collect();
    assert_eq!(answered, [500, 500, 500, 200]);
    let d = &clinic.admin.client.deliveries(w.id, &DeliveryQuery::default()).await.unwrap().items[0];
    assert_eq!((d.status, d.attempts, d.last_status), (DeliveryStatus::Delivered, 4, Some(200)));
    assert!(d.delivered_at.is_some() && d.next_attempt_at.is_none());
}

#[tokio::test]
async fn a_delivery_past_its_retry_window_is_dead_until_retried_by_hand() {
    let app = TestApp::spawn_with(|c| {
        c.outreach.allow_private = true;
        c.outreach.retry_base = Duration::from_millis(100);
        c.outreach.retry_for = Duration::from_millis(800);
    })
    .await;
    let clinic = app.clinic().await;
    let admin = &clinic.admin.client;
    let rx = Receiver::start();
    let w = admin.create_webhook(&hook(rx.url("/fail/1000"), &[EventType::AppointmentCancelled])).await.unwrap();
    rx.set_secret(w.secret.as_deref().unwrap()).await;
    let desk = &clinic.reception.client;
    let a = book(desk, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();
    desk.cancel(a.id, "").await.unwrap();

    let dead = DeliveryQuery { status: Some(DeliveryStatus::Dead), ..Default::default() };
    let mut waited = 0;
    let d = loop {
        if let Some(d) = admin.deliveries(w.id, &dead).await.unwrap().items.pop() {
            break d;
        }
        waited += 1;
        assert!(waited < 200, "the delivery never died");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(d.attempts >= 2, "retried before it died: {d:?}");
    assert_eq!((d.last_status, d.last_error.as_deref()), (Some(500), Some("HTTP 500")));
    let pending = DeliveryQuery { status: Some(DeliveryStatus::Pending), ..Default::default() };
    assert!(admin.deliveries(w.id, &pending).await.unwrap().items.is_empty());
    assert_eq!(code(admin.retry_delivery(uuid::Uuid::now_v7()).await), 404);

    // The receiver is mended; the retry brings the same event.
    let mended = WebhookPatch { url: Some(rx.url("/ok")), ..Default::default() };
    admin.patch_webhook(w.id, w.version, &mended).await.unwrap();
    let again = admin.retry_delivery(d.id).await.unwrap();
    assert_eq!(again.status, DeliveryStatus::Pending);
    assert_eq!(code(admin.retry_delivery(d.id).await), 409, "only a dead delivery is retried");
    let log = rx.wait_for(Duration::from_secs(20), |l| l.iter().any(|e| e["path"] == "/ok")).await;
    let ok = log.iter().find(|e| e["path"] == "/ok").unwrap();
    assert_eq!(ok["webhook_id"], d.event_id.to_string(), "the same Webhook-Id after a manual retry");
    assert!(ok["verified"].as_bool().unwrap());
}

#[tokio::test]
async fn webhook_urls_must_be_public_https_and_only_admins_manage_webhooks() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let admin = &clinic.admin.client;
    let events = [EventType::InvoiceIssued];
    for url in [
        "http://example.org/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://user:pw@8.8.8.8/hooks",
        "ftp://8.8.8.8/hooks",
        "not a url",
    ] {
        let r = admin.create_webhook(&hook(url.into(), &events)).await;
        let p = r.expect_err(url);
        assert_eq!(p.status, 422, "{url}: {p}");
        assert!(p.errors.iter().any(|e| e.field == "url"), "{url}: {p:?}");
    }
    assert_eq!(code(admin.create_webhook(&hook("https://8.8.8.8/hooks".into(), &[])).await), 422, "no events");
    // A public address is accepted (nothing is sent: nobody listens there for invoices here).
    let w = admin.create_webhook(&hook("https://8.8.8.8/hooks".into(), &events)).await.unwrap();
    let secret = w.secret.clone().unwrap();
    assert!(admin.webhooks().await.unwrap().iter().all(|w| w.secret.is_none()), "shown once");
    assert!(!app.at_rest_contains(secret.as_bytes()).await, "the secret is sealed at rest");
    for (role, c) in clinic.by_role() {
        if role != healthsynx_tests::shared::Role::Admin {
            assert_eq!(code(c.webhooks().await), 403, "{role:?}");
            assert_eq!(code(c.create_webhook(&hook("https://8.8.8.8/x".into(), &events)).await), 403, "{role:?}");
            assert_eq!(code(c.delete_webhook(w.id).await), 403, "{role:?}");
        }
    }
    admin.delete_webhook(w.id).await.unwrap();
    assert_eq!(code(admin.delete_webhook(w.id).await), 404);
    assert!(admin.webhooks().await.unwrap().is_empty());
}

#[tokio::test]
async fn reminders_go_out_once_per_offset_across_a_restart_and_never_after_a_cancel() {
    let start = utc(2, 9, 0);
    let lead = start.duration_since(jiff::Timestamp::now());
    // Two offsets that come due 2 and 4 seconds from now.
    let offsets = vec![lead - jiff::SignedDuration::from_secs(2), lead - jiff::SignedDuration::from_secs(4)];
    let tune = |c: &mut healthsynx_server::Config| {
        c.outreach.allow_private = true;
        c.outreach.reminder_offsets = offsets.clone();
        c.outreach.reminder_check = Duration::from_millis(200);
    };
    let app = TestApp::spawn_with(tune).await;
    let clinic = app.clinic().await;
    let rx = Receiver::start();
    let w = clinic.admin.client.create_webhook(&hook(rx.url("/ok"), &[EventType::AppointmentReminder])).await;
    rx.set_secret(w.unwrap().secret.as_deref().unwrap()).await;
    let desk = &clinic.reception.client;
    let kept = book(desk, clinic.patient.patient_id, clinic.doctor.user_id, start).await.unwrap();
    let cancelled = book(desk, clinic.patient2.patient_id, clinic.doctor.user_id, start + SLOT).await.unwrap();
    desk.cancel(cancelled.id, "").await.unwrap();

    let log = rx.wait_for(Duration::from_secs(30), |l| of_type(l, "appointment.reminder").len() >= 2).await;
    let app = app.restart(|_| {}).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rx.log().await;
    assert_eq!(after.len(), log.len(), "nothing more after the restart: {after:#?}");
    let reminders = of_type(&after, "appointment.reminder");
    assert_eq!(reminders.len(), 2, "one per offset: {reminders:#?}");
    let mut got: Vec<i64> = reminders.iter().map(|r| r["data"]["offset_seconds"].as_i64().unwrap()).collect();
    got.sort();
    let mut want: Vec<i64> = offsets.iter().map(|o| o.as_secs()).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(reminders.iter().all(|r| r["data"]["appointment_id"] == kept.id.to_string()), "none for the cancelled");
    assert!(after.iter().all(|e| e["verified"] == true));
    drop(app);
}

#[tokio::test]
async fn a_moved_appointment_gets_no_reminder_for_its_old_time() {
    let start = utc(2, 9, 0);
    // Due for the old start 4 seconds from now; for the new one an hour later.
    let offset = start.duration_since(jiff::Timestamp::now()) - jiff::SignedDuration::from_secs(4);
    let app = TestApp::spawn_with(|c| {
        c.outreach.allow_private = true;
        c.outreach.reminder_offsets = vec![offset];
        c.outreach.reminder_check = Duration::from_millis(200);
    })
    .await;
    let clinic = app.clinic().await;
    let rx = Receiver::start();
    let events = [EventType::AppointmentReminder, EventType::AppointmentRescheduled];
    let w = clinic.admin.client.create_webhook(&hook(rx.url("/ok"), &events)).await.unwrap();
    rx.set_secret(w.secret.as_deref().unwrap()).await;
    let desk = &clinic.reception.client;
    let a = book(desk, clinic.patient.patient_id, clinic.doctor.user_id, start).await.unwrap();
    let later = AppointmentPatch { start: Some(start + jiff::SignedDuration::from_hours(1)), ..Default::default() };
    desk.patch_appointment(a.id, a.version, &later).await.unwrap();

    tokio::time::sleep(Duration::from_secs(7)).await;
    let log = rx.log().await;
    assert_eq!(of_type(&log, "appointment.rescheduled").len(), 1, "{log:#?}");
    assert!(of_type(&log, "appointment.reminder").is_empty(), "no reminder for the old time: {log:#?}");
}
