//! The client and the server read one route table: calling every client
//! method once reaches every route of `shared::api::ROUTES`, each resolved by
//! the server's dispatch (its per-route request counter moves), and nothing
//! the client sends falls outside the table. Its own test binary, so the
//! process-wide counters hold only this test's requests.

use healthsynx_tests::TestApp;
use healthsynx_tests::shared::api::*;
use healthsynx_tests::shared::{PatientType, Role};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

#[tokio::test]
async fn every_client_method_reaches_its_route_and_every_route_has_a_client_method() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let c = &clinic.admin.client;
    let doctor = clinic.doctor.user_id;
    let patient = clinic.patient.patient_id;
    let nobody = Uuid::now_v7();
    let soon = Timestamp::now() + SignedDuration::from_hours(48);
    let range = RangeQuery { from: soon, to: soon + SignedDuration::from_hours(24) };
    let email = |s: &str| s.parse().unwrap();

    // Outcomes do not matter here (many are 404 or 422); reaching the route does.
    let _ = c.healthz().await;
    let _ = c.readyz().await;
    let anon = app.client();
    let _ = anon.login("nobody@test.dev", "not the password").await;
    let _ = c.refresh().await;
    let _ = c.verify_token("not-a-token").await;
    let _ = c.change_password("not the password", "another-long-passphrase-42").await;
    let _ = anon.confirm_password_reset("not-a-token", "another-long-passphrase-42").await;
    let _ = c.me().await;
    let _ = c.my_access_log(&PageQuery::default()).await;
    let _ = c.users(&UserQuery::default()).await;
    let new_user = NewUser {
        email: email("route.walker@test.dev"),
        full_name: "Route Walker".into(),
        role: Role::Receptionist,
        department: None,
        password: None,
        username: None,
    };
    let _ = c.create_user(&new_user).await;
    let _ = c.user_by_id(nobody).await;
    let _ = c.patch_user(nobody, &UserPatch::default()).await;
    let _ = c.deactivate_user(nobody).await;
    let _ = c.activate_user(nobody).await;
    let _ = c.issue_password_reset(nobody).await;
    let _ = c.departments().await;
    let _ = c.create_department("radiology", "Radiology").await;
    let _ = c.patients(&PatientQuery::default()).await;
    let new_patient = NewPatient {
        email: email("route.patient@test.dev"),
        full_name: "Route Patient".into(),
        date_of_birth: "1990-01-01".into(),
        phone: "+49 30 1234567".into(),
        insurance_id: None,
        patient_type: PatientType::Outpatient,
        password: None,
    };
    let _ = c.create_patient(&new_patient).await;
    let _ = c.patient(patient).await;
    let _ = c.patch_patient(nobody, &PatientPatch::default()).await;
    let _ = c.doctors(None).await;
    let _ = c.availability(doctor).await;
    let _ = c.set_availability(nobody, vec![]).await;
    let _ = c.add_time_off(nobody, &NewTimeOff { start: soon, end: soon, reason: String::new() }).await;
    let _ = c.delete_time_off(doctor, nobody).await;
    let _ = c.slots(doctor, &range).await;
    let _ = c.calendar_if_changed(doctor, &range, None).await;
    let _ = c.appointments(&AppointmentQuery::default()).await;
    let booking = NewAppointment {
        patient_id: patient,
        doctor_id: nobody,
        start: soon,
        end: None,
        reason: Default::default(),
        type_id: None,
    };
    let _ = c.book(&booking, None).await;
    let _ = c.appointment(nobody).await;
    let _ = c.patch_appointment(nobody, 1, &AppointmentPatch::default()).await;
    let _ = c.cancel(nobody, "").await;
    for action in [AppointmentAction::CheckIn, AppointmentAction::Complete, AppointmentAction::NoShow] {
        let _ = c.appointment_action(nobody, action).await;
    }
    let _ = c.records(&RecordQuery::default()).await;
    let record =
        NewRecord { appointment_id: nobody, diagnosis: "x".into(), notes: String::new(), prescriptions: vec![] };
    let _ = c.create_record(&record).await;
    let _ = c.record(nobody).await;
    let _ = c.patch_record(nobody, 1, &RecordPatch::default()).await;
    let _ = c.retract_record(nobody).await;
    let _ = c.record_history(nobody).await;
    let _ = c.audit(&AuditQuery::default()).await;
    let _ = c.verify_audit().await;
    let _ = c.backup().await;
    // ---- break-glass ----
    let _ = c.break_glass(patient, "an admin may not break glass").await;
    let _ = c.break_glass_grants(&BreakGlassQuery::default()).await;
    let _ = c.review_break_glass(nobody, "no such grant").await;
    let _ = c.emergency_search("an admin may not search").await;
    let _ = anon.verify_mfa("not-a-token", "123456").await;
    let _ = c.enrol_totp().await;
    let _ = c.confirm_totp("123456").await;
    let _ = c.remove_totp("123456").await;
    let _ = c.mfa_status().await;
    let _ = c.sessions().await;
    let _ = c.revoke_session(nobody).await;
    let _ = c.revoke_user_sessions(nobody).await;
    let _ = c.create_calendar_feed().await;
    let _ = c.revoke_calendar_feed().await;
    use healthsynx_shared::api::{AppointmentTypePatch, CatalogQuery, NewAppointmentType, NewResource, ResourcePatch};
    let _ = c.appointment_types(&CatalogQuery::default()).await;
    let new_type = NewAppointmentType {
        department: "cardiology".parse().unwrap(),
        name: "Route check".into(),
        minutes: 30,
        buffer_before: 0,
        buffer_after: 0,
        price: healthsynx_shared::Money { amount: 0, currency: "EUR".parse().unwrap() },
        patient_bookable: true,
        resource_kind: None,
    };
    let _ = c.create_appointment_type(&new_type).await;
    let _ = c.appointment_type(nobody).await;
    let _ = c.patch_appointment_type(nobody, 1, &AppointmentTypePatch::default()).await;
    let _ = c.resources(&CatalogQuery::default()).await;
    let room = NewResource {
        kind: "room".parse().unwrap(),
        name: "Route room".into(),
        department: "cardiology".parse().unwrap(),
    };
    let _ = c.create_resource(&room).await;
    let _ = c.resource(nobody).await;
    let _ = c.patch_resource(nobody, 1, &ResourcePatch::default()).await;
    use healthsynx_shared::api::{NewSeries, OnConflict, SeriesCancel};
    let rule = healthsynx_shared::SeriesRule { every: healthsynx_shared::Every::Week, count: Some(2), until: None };
    let new_series = NewSeries {
        patient_id: nobody,
        doctor_id: nobody,
        type_id: None,
        start: soon,
        rule,
        reason: Default::default(),
        on_conflict: OnConflict::Fail,
    };
    let _ = c.create_series(&new_series).await;
    let _ = c.series(nobody).await;
    let _ = c.cancel_series(nobody, &SeriesCancel::default()).await;
    let wish = NewWaitlistEntry {
        patient_id: patient,
        doctor_id: Some(doctor),
        department: None,
        type_id: None,
        earliest: soon,
        latest: soon + SignedDuration::from_hours(4),
        note: None,
    };
    let _ = c.join_waitlist(&wish).await;
    let _ = c.waitlist(&WaitlistQuery::default()).await;
    let _ = c.waitlist_entry(nobody).await;
    let _ = c.leave_waitlist(nobody).await;
    let _ = c.offers().await;
    let _ = c.accept_offer(nobody).await;
    let _ = c.decline_offer(nobody).await;
    let _ = c.create_invoice(&NewInvoice { patient_id: patient, appointment_ids: vec![], lines: vec![] }).await;
    let _ = c.invoices(&InvoiceQuery::default()).await;
    let _ = c.invoice(nobody).await;
    let _ = c.invoice_pdf(nobody).await;
    let _ = c.patch_invoice(nobody, 1, &InvoicePatch::default()).await;
    let _ = c.issue_invoice(nobody).await;
    let _ = c.void_invoice(nobody, "test").await;
    let _ = c
        .pay_invoice(
            nobody,
            &NewPayment { amount: 1, method: healthsynx_tests::shared::PaymentMethod::Cash, reference: None },
        )
        .await;
    let _ = c.refund_payment(nobody, &NewRefund::default()).await;
    let _ = c.cash_report(None).await;
    let _ = c.outstanding_report().await;
    let _ = c.webhooks().await;
    let hook = NewWebhook { url: "not a url".into(), events: vec![], active: true };
    let _ = c.create_webhook(&hook).await;
    let _ = c.patch_webhook(nobody, 1, &WebhookPatch::default()).await;
    let _ = c.delete_webhook(nobody).await;
    let _ = c.deliveries(nobody, &DeliveryQuery::default()).await;
    let _ = c.retry_delivery(nobody).await;
    let _ = anon.calendar_feed(&format!("{}{}", app.url(), feed_path("no-such-token"))).await;
    let _ = anon.fhir_metadata().await;
    let _ = c.fhir_patient(patient).await;
    let _ = c.fhir_search_patients(&[("name", "route")]).await;
    let _ = c.fhir_practitioner(doctor).await;
    let _ = c.fhir_search_practitioners(&[]).await;
    let _ = c.fhir_schedule(doctor).await;
    let _ = c.fhir_search_schedules(&[]).await;
    let _ = c.fhir_search_slots(&[]).await;
    let _ = c.fhir_appointment(nobody).await;
    let _ = c.fhir_search_appointments(&[]).await;
    let _ = c.logout().await;
    // The counters are written after an answer, so the second read shows the first.
    let _ = app.client().metrics().await;
    let metrics = app.client().metrics().await.expect("metrics from loopback");

    let reached =
        |label: &str| metrics.lines().any(|l| l.starts_with(&format!("healthsynx_requests_total{{route=\"{label}\"")));
    let missed: Vec<String> =
        ROUTES.iter().map(|r| format!("{} {}", r.method, r.pattern)).filter(|label| !reached(label)).collect();
    assert!(missed.is_empty(), "routes no client method reached (or dispatch did not resolve): {missed:#?}");
    assert!(!reached("unmatched"), "the client sent a request outside the route table:\n{metrics}");
}
