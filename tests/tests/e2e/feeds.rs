//! Calendar feeds, read back by a real iCalendar parser (Python's
//! `icalendar`): exactly the appointments of the feed's owner, updates
//! carried by `SEQUENCE`, cancellations as `STATUS:CANCELLED`, no clinical
//! text, and a revoked or replaced URL answers `404`.

use healthsynx_tests::shared::api::{AppointmentPatch, AuditQuery, feed_path};
use healthsynx_tests::{SLOT, TestApp, utc};
use serde_json::Value;

use crate::support::{book, code, python};

/// The feed's events as `icalendar` reads them, and every physical line checked.
fn parse(ics: &str) -> Vec<Value> {
    for line in ics.split_inclusive('\n') {
        assert!(line.ends_with("\r\n"), "lines end in CRLF: {line:?}");
        assert!(line.len() <= 77, "lines fold at 75 octets: {line:?}");
    }
    let script = r#"
import json, sys, icalendar
cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
assert cal.get('VERSION') == '2.0' and cal.get('PRODID'), 'VERSION and PRODID'
out = []
for e in cal.walk('VEVENT'):
    out.append({
        'uid': str(e['UID']), 'start': e.decoded('DTSTART').isoformat(), 'end': e.decoded('DTEND').isoformat(),
        'stamp': e.decoded('DTSTAMP').isoformat(), 'sequence': int(e['SEQUENCE']), 'summary': str(e['SUMMARY']),
        'status': str(e['STATUS']),
    })
print(json.dumps(out))
"#;
    serde_json::from_slice(&python(script, ics.as_bytes(), "icalendar (pip install icalendar)")).unwrap()
}

/// A time as the parser gave it (`2026-12-05T09:00:00+00:00`).
fn at(v: &Value) -> jiff::Timestamp {
    v.as_str().expect("a time").parse().expect("an RFC 3339 time")
}

fn event(events: &[Value], id: uuid::Uuid) -> &Value {
    let uid = format!("{id}@healthsynx");
    events.iter().find(|e| e["uid"] == uid.as_str()).unwrap_or_else(|| panic!("{uid} in {events:?}"))
}

#[tokio::test]
async fn a_doctors_feed_holds_their_appointments_without_clinical_text_and_ends_when_revoked() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    let (pid, other) = (clinic.patient.patient_id, clinic.patient2.patient_id);
    let kept = book(desk, pid, doc, utc(3, 9, 0)).await.unwrap();
    let moved = book(desk, other, doc, utc(3, 10, 0)).await.unwrap();
    let dropped = book(desk, pid, doc, utc(4, 9, 0)).await.unwrap();
    let not_his = book(desk, pid, clinic.doctor2.user_id, utc(5, 9, 0)).await.unwrap();
    desk.cancel(dropped.id, "called").await.unwrap();
    let patch = AppointmentPatch { start: Some(utc(3, 11, 0)), ..Default::default() };
    let moved = desk.patch_appointment(moved.id, moved.version, &patch).await.unwrap();

    let feed = clinic.doctor.client.create_calendar_feed().await.unwrap();
    assert!(feed.url.starts_with(&format!("{}/feeds/", app.url())) && feed.url.ends_with(".ics"), "{}", feed.url);
    let ics = app.client().calendar_feed(&feed.url).await.unwrap();
    let events = parse(&ics);
    assert_eq!(events.len(), 3, "two appointments and one recent cancellation: {events:?}");
    let k = event(&events, kept.id);
    assert_eq!((k["status"].as_str(), k["sequence"].as_i64()), (Some("CONFIRMED"), Some(0)));
    assert_eq!(at(&k["start"]), kept.start);
    assert_eq!(at(&k["end"]), kept.end);
    assert_eq!(k["summary"], "Visit: P. P.", "initials only");
    let m = event(&events, moved.id);
    assert_eq!(m["sequence"].as_i64(), Some(1), "a reschedule bumps SEQUENCE");
    assert_eq!(at(&m["start"]), moved.start);
    assert_eq!(event(&events, dropped.id)["status"], "CANCELLED");
    assert!(!ics.contains(&not_his.id.to_string()), "another doctor's appointment");
    for secret in ["check-up", "Paula", "Patient", "Peter", "called"] {
        assert!(!ics.contains(secret), "{secret:?} in the feed:\n{ics}");
    }
    let q = AuditQuery { action: Some("calendar_feed.read".into()), ..Default::default() };
    let reads = clinic.admin.client.audit(&q).await.unwrap().items;
    assert!(reads.iter().any(|e| e.actor_id == Some(doc)), "a feed read is the owner's, audited: {reads:?}");

    // A new URL ends the old one; revoking ends the new one.
    let again = clinic.doctor.client.create_calendar_feed().await.unwrap();
    assert_ne!(again.url, feed.url);
    assert_eq!(app.client().calendar_feed(&feed.url).await.unwrap_err().status, 404, "the replaced URL");
    assert!(app.client().calendar_feed(&again.url).await.is_ok());
    clinic.doctor.client.revoke_calendar_feed().await.unwrap();
    assert_eq!(app.client().calendar_feed(&again.url).await.unwrap_err().status, 404, "the revoked URL");
    assert_eq!(code(clinic.doctor.client.revoke_calendar_feed().await), 404, "nothing left to revoke");
    let guessed = format!("{}{}", app.url(), feed_path(&"A".repeat(43)));
    assert_eq!(app.client().calendar_feed(&guessed).await.unwrap_err().status, 404);
}

#[tokio::test]
async fn a_patients_feed_holds_only_their_appointments_and_only_doctors_and_patients_keep_one() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc) = (&clinic.reception.client, clinic.doctor.user_id);
    let mine = book(desk, clinic.patient.patient_id, doc, utc(3, 9, 0)).await.unwrap();
    let later = book(desk, clinic.patient.patient_id, doc, utc(3, 9, 0) + SLOT * 4).await.unwrap();
    let theirs = book(desk, clinic.patient2.patient_id, doc, utc(3, 10, 0)).await.unwrap();
    let feed = clinic.patient.client.create_calendar_feed().await.unwrap();
    let ics = app.client().calendar_feed(&feed.url).await.unwrap();
    let events = parse(&ics);
    assert_eq!(events.len(), 2, "{events:?}");
    event(&events, mine.id);
    event(&events, later.id);
    assert!(!ics.contains(&theirs.id.to_string()));
    assert!(event(&events, mine.id)["summary"].as_str().unwrap().starts_with("Appointment with "), "{events:?}");
    assert!(!ics.contains("check-up"), "no reason in any feed");
    for (role, c) in [("nurse", &clinic.nurse.client), ("receptionist", desk), ("admin", &clinic.admin.client)] {
        assert_eq!(code(c.create_calendar_feed().await), 403, "{role}");
    }
}

#[tokio::test]
async fn behind_a_proxy_the_feed_url_names_the_public_address() {
    let app = TestApp::spawn_with(|c| c.public_url = Some("https://clinic.example".into())).await;
    let clinic = app.clinic().await;
    let feed = clinic.doctor.client.create_calendar_feed().await.unwrap();
    assert!(feed.url.starts_with("https://clinic.example/feeds/") && feed.url.ends_with(".ics"), "{}", feed.url);
    let local = feed.url.replace("https://clinic.example", &app.url());
    parse(&app.client().calendar_feed(&local).await.unwrap());
}
