//! Values are parsed once, while the body is read: a bad value is a `422`
//! naming the field, with the message a person can act on, and changes nothing.

use healthsynx_tests::TestApp;
use healthsynx_tests::shared::api::{AppointmentQuery, RouteId};
use healthsynx_tests::shared::validate::MAX_REASON_CHARS;
use serde_json::json;

use crate::support::send_json;

async fn field_errors(
    app: &TestApp,
    c: &healthsynx_tests::shared::client::Client,
    route: RouteId,
    ids: &[uuid::Uuid],
    body: serde_json::Value,
) -> Vec<(String, String)> {
    let (status, problem) = send_json(app, c, route, ids, body).await;
    assert_eq!(status, 422, "{route:?}");
    problem.unwrap().errors.into_iter().map(|e| (e.field, e.message)).collect()
}

#[tokio::test]
async fn bad_values_fail_while_the_body_is_read_with_the_field_named() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    let long = "x".repeat(MAX_REASON_CHARS + 1);
    let booking = json!({
        "patient_id": clinic.patient.patient_id, "doctor_id": clinic.doctor.user_id,
        "start": soon.to_string(), "reason": long,
    });
    let errors = field_errors(&app, desk, RouteId::CreateAppointment, &[], booking).await;
    assert_eq!(errors, [("reason".to_owned(), format!("must be at most {MAX_REASON_CHARS} characters"))]);
    let booked = desk.appointments(&AppointmentQuery::default()).await.unwrap();
    assert!(booked.items.is_empty(), "nothing was booked");

    let rules = json!({"rules": [{"weekday": 1, "start": "25:00", "end": "12:00", "slot_minutes": 30}]});
    let doctor = &clinic.doctor.client;
    let errors = field_errors(&app, doctor, RouteId::PutAvailability, &[clinic.doctor.user_id], rules).await;
    assert_eq!(errors, [("rules[0].start".to_owned(), "`25:00` is not a time like 09:30".to_owned())]);

    let admin = &clinic.admin.client;
    let department = json!({"code": "Bad Code!", "name": "Bad"});
    let errors = field_errors(&app, admin, RouteId::CreateDepartment, &[], department).await;
    assert_eq!(errors, [("code".to_owned(), "must be 2–32 lowercase letters, digits or dashes".to_owned())]);
    assert!(admin.departments().await.unwrap().iter().all(|d| d.name != "Bad"), "nothing was created");

    // A wrong type is still a malformed body, not a bad value.
    let (status, _) = send_json(&app, admin, RouteId::CreateDepartment, &[], json!({"code": 7, "name": "Seven"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_bad_idempotency_key_is_refused_before_anything_is_booked() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    let booking = crate::support::check_up(clinic.patient.patient_id, clinic.doctor.user_id, soon);
    let problem = desk.book(&booking, Some(&"k".repeat(129))).await.unwrap_err();
    assert_eq!(problem.status, 400);
    assert!(problem.detail.unwrap().contains("Idempotency-Key"));
    assert!(desk.appointments(&AppointmentQuery::default()).await.unwrap().items.is_empty());
}
