//! Break-glass: emergency read access to a patient outside one's care, for a
//! while, audited as emergency, shown to the patient, reviewed by an admin.

use std::time::Duration;

use healthsynx_tests::shared::api::{
    AppointmentAction, AppointmentQuery, AuditQuery, BreakGlassGranted, BreakGlassQuery, NewRecord, PageQuery,
    PatientPatch, RecordPatch, RecordQuery, RouteId,
};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{Appointment, MedicalRecord};
use healthsynx_tests::{Clinic, TestApp, utc};
use uuid::Uuid;

use crate::support::{book, code, more_patients, send_json, status};

const REASON: &str = "Unconscious on arrival in the emergency room, needs history";

/// An appointment of the cardiology doctor with the first patient, and its record:
/// the neurology staff have no part in this patient's care.
async fn cardiology_visit(clinic: &Clinic) -> (Appointment, MedicalRecord) {
    let a = book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(2, 9, 0)).await;
    let a = a.unwrap();
    let new = NewRecord {
        appointment_id: a.id,
        diagnosis: "Atrial fibrillation".into(),
        notes: "Anticoagulated.".into(),
        prescriptions: vec![],
    };
    let rec = clinic.doctor.client.create_record(&new).await.unwrap();
    (a, rec)
}

fn of_patient(id: Uuid) -> AppointmentQuery {
    AppointmentQuery { patient_id: Some(id), ..AppointmentQuery::default() }
}

fn records_of(id: Uuid) -> RecordQuery {
    RecordQuery { patient_id: Some(id), ..RecordQuery::default() }
}

/// What `c` can read of the patient: profile, appointments listed, one appointment, records, one record.
async fn reads(c: &Client, patient: Uuid, a: &Appointment, rec: &MedicalRecord) -> [u16; 5] {
    let listed = c.appointments(&of_patient(patient)).await.map(|p| p.items.iter().any(|x| x.id == a.id));
    [
        code(c.patient(patient).await),
        if listed.clone().unwrap_or(false) { 200 } else { code(listed).max(404) },
        code(c.appointment(a.id).await),
        code(c.records(&records_of(patient)).await),
        code(c.record(rec.id).await),
    ]
}

/// Breaks glass over raw HTTP, to see the status: `201` and the grant.
async fn break_glass(app: &TestApp, c: &Client, patient: Uuid, reason: &str) -> BreakGlassGranted {
    let url = format!("{}{}", app.url(), RouteId::BreakGlass.path(&[patient]));
    let token = c.access_token().await.unwrap();
    let body = serde_json::json!({ "reason": reason });
    let resp = app.http().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201, "break glass");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_doctor_outside_the_care_breaks_glass_to_read_and_every_read_is_audited_as_emergency() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let (a, rec) = cardiology_visit(&clinic).await;
    let neuro = &clinic.doctor2.client;
    assert_eq!(reads(neuro, pid, &a, &rec).await, [404; 5], "out of scope before");

    let grant = break_glass(&app, neuro, pid, REASON).await;
    let minutes = grant.expires_at.duration_since(jiff::Timestamp::now()).as_secs() / 60;
    assert!((58..60).contains(&minutes), "an hour by default, not {minutes} min");
    assert_eq!(reads(neuro, pid, &a, &rec).await, [200; 5], "readable under the grant");
    neuro.record_history(rec.id).await.unwrap();
    let profile = neuro.patient(pid).await.unwrap();
    assert!(profile.insurance_id.unwrap().starts_with("****"), "still masked for clinical staff");

    // Read only: every write is refused as it was before.
    let patch = PatientPatch { phone: Some("+49 30 7654321".into()), ..PatientPatch::default() };
    assert_eq!(status(neuro.patch_patient(pid, &patch).await, "patch patient"), 404);
    let notes = RecordPatch { notes: Some("changed".into()), ..RecordPatch::default() };
    assert_eq!(status(neuro.patch_record(rec.id, rec.version, &notes).await, "patch record"), 404);
    assert_eq!(status(neuro.retract_record(rec.id).await, "retract record"), 404);
    assert_eq!(status(neuro.appointment_action(a.id, AppointmentAction::Complete).await, "complete"), 404);
    let new = NewRecord { appointment_id: a.id, diagnosis: "x".into(), notes: String::new(), prescriptions: vec![] };
    assert_eq!(status(neuro.create_record(&new).await, "create record"), 404);
    // A grant is the caller's own: the neurology nurse still sees nothing.
    assert_eq!(reads(&clinic.nurse2.client, pid, &a, &rec).await, [404; 5]);

    // Audited with the grant; the chain still verifies.
    let q = AuditQuery { actor_id: Some(clinic.doctor2.user_id), patient_id: Some(pid), ..AuditQuery::default() };
    let log = clinic.admin.client.audit(&q).await.unwrap().items;
    for action in
        ["break_glass.grant", "patient.read", "appointment.list", "appointment.read", "record.list", "record.read"]
    {
        assert!(
            log.iter().any(|e| e.action == action && e.grant_id == Some(grant.grant_id)),
            "{action} audited as emergency: {log:#?}"
        );
    }
    assert!(log.iter().all(|e| e.grant_id == Some(grant.grant_id)), "every access under the grant names it");
    let ordinary = AuditQuery { actor_id: Some(clinic.doctor.user_id), ..AuditQuery::default() };
    assert!(clinic.admin.client.audit(&ordinary).await.unwrap().items.iter().all(|e| e.grant_id.is_none()));
    assert!(clinic.admin.client.verify_audit().await.unwrap().ok);

    // The patient sees it, with the reason; ordinary reads stay plain.
    clinic.doctor.client.patient(pid).await.unwrap();
    let seen = clinic.patient.client.my_access_log(&PageQuery::default()).await.unwrap().items;
    let emergency: Vec<_> = seen.iter().filter(|e| e.emergency).collect();
    assert!(emergency.iter().any(|e| e.action == "record.read"));
    assert!(emergency.iter().all(|e| e.actor_name == "Nina Neuro" && e.reason.as_deref() == Some(REASON)));
    assert!(seen.iter().any(|e| e.actor_name == "Carl Cardio" && !e.emergency && e.reason.is_none()));

    // The reason is sealed at rest.
    app.state().store.flush().await.unwrap();
    let needle = b"needs history";
    match &app.db {
        Some(db) => assert!(!healthsynx_tests::pg_dump_contains(&db.url, needle), "reason in clear in PostgreSQL"),
        None => assert!(!healthsynx_tests::data_dir_contains(app.dir.path(), needle), "reason in clear on disk"),
    }
}

#[tokio::test]
async fn a_grant_ends_when_it_expires() {
    let app = TestApp::spawn_with(|c| c.break_glass_ttl = Duration::from_secs(2)).await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let (a, rec) = cardiology_visit(&clinic).await;
    let nurse = &clinic.nurse2.client;
    assert_eq!(reads(nurse, pid, &a, &rec).await, [404; 5]);
    let grant = break_glass(&app, nurse, pid, REASON).await;
    assert_eq!(reads(nurse, pid, &a, &rec).await, [200; 5], "a nurse reads under a grant too");
    let left = grant.expires_at.duration_since(jiff::Timestamp::now()).as_millis().max(0) as u64;
    tokio::time::sleep(Duration::from_millis(left + 200)).await;
    assert_eq!(reads(nurse, pid, &a, &rec).await, [404; 5], "out of scope again after expiry");
}

#[tokio::test]
async fn only_doctors_and_nurses_break_glass_with_a_real_reason_for_a_real_patient() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    // Columns: patient, doctor, nurse, receptionist, admin.
    let want = [403, 200, 200, 403, 403];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want) {
        assert_eq!(code(c.break_glass(pid, REASON).await), want, "{role}");
    }
    let (status, problem) =
        send_json(&app, &clinic.nurse2.client, RouteId::BreakGlass, &[pid], serde_json::json!({"reason": "urgent"}))
            .await;
    assert_eq!(status, 422);
    assert_eq!(problem.unwrap().errors[0].field, "reason");
    let padded = serde_json::json!({"reason": format!("{:>30}", "urgent")});
    assert_eq!(send_json(&app, &clinic.nurse2.client, RouteId::BreakGlass, &[pid], padded).await.0, 422);
    let extra = serde_json::json!({"reason": REASON, "minutes": 600});
    assert_eq!(send_json(&app, &clinic.nurse2.client, RouteId::BreakGlass, &[pid], extra).await.0, 400);
    assert_eq!(code(clinic.nurse2.client.break_glass(Uuid::now_v7(), REASON).await), 404, "unknown patient");
    // A staff account's id is not a patient's.
    assert_eq!(code(clinic.nurse2.client.break_glass(clinic.doctor.user_id, REASON).await), 404);
}

#[tokio::test]
async fn an_admin_reviews_a_grant_and_it_leaves_the_queue() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let grant = clinic.nurse2.client.break_glass(pid, REASON).await.unwrap();
    let other = clinic.doctor2.client.break_glass(clinic.patient2.patient_id, REASON).await.unwrap();
    let admin = &clinic.admin.client;
    let open = BreakGlassQuery { reviewed: Some(false), ..BreakGlassQuery::default() };
    for (role, c) in clinic.by_role().into_iter().take(4) {
        assert_eq!(code(c.break_glass_grants(&open).await), 403, "{role} lists");
        assert_eq!(code(c.review_break_glass(grant.grant_id, "fine").await), 403, "{role} reviews");
    }
    let queue = admin.break_glass_grants(&open).await.unwrap().items;
    assert_eq!(queue.iter().map(|g| g.id).collect::<Vec<_>>(), [grant.grant_id, other.grant_id], "oldest first");
    let g = &queue[0];
    assert_eq!((g.actor_name.as_str(), g.patient_name.as_str()), ("Ned Nurse", "Paula Patient"));
    assert_eq!((g.actor_id, g.patient_id, g.reason.as_str()), (clinic.nurse2.user_id, pid, REASON));
    assert_eq!(g.expires_at, grant.expires_at);
    assert!(g.reviewed_at.is_none() && g.review_note.is_none());

    let (status, problem) =
        send_json(&app, admin, RouteId::ReviewBreakGlass, &[grant.grant_id], serde_json::json!({"note": " "})).await;
    assert_eq!((status, problem.unwrap().errors[0].field.as_str()), (422, "note"));
    let reviewed = admin.review_break_glass(grant.grant_id, "Confirmed with the ER: justified.").await.unwrap();
    assert_eq!(reviewed.reviewed_by, Some(clinic.admin.user_id));
    assert_eq!(reviewed.review_note.as_deref(), Some("Confirmed with the ER: justified."));
    assert!(reviewed.reviewed_at.is_some());
    let queue = admin.break_glass_grants(&BreakGlassQuery::default()).await.unwrap().items;
    assert_eq!(queue.iter().map(|g| g.id).collect::<Vec<_>>(), [other.grant_id], "reviewed=false by default");
    assert_eq!(code(admin.review_break_glass(grant.grant_id, "again").await), 409);
    assert_eq!(code(admin.review_break_glass(Uuid::now_v7(), "who?").await), 404);
    let reviewed_too = BreakGlassQuery { reviewed: Some(true), ..BreakGlassQuery::default() };
    assert_eq!(code(admin.break_glass_grants(&reviewed_too).await), 422);
    // Reviewing is the after-the-fact check: the grant runs on.
    clinic.nurse2.client.patient(pid).await.unwrap();
    let q = AuditQuery { action: Some("break_glass.review".into()), ..AuditQuery::default() };
    let log = admin.audit(&q).await.unwrap().items;
    assert_eq!(log.iter().map(|e| e.target_id).collect::<Vec<_>>(), [Some(grant.grant_id)]);
}

#[tokio::test]
async fn an_emergency_search_finds_a_patient_outside_the_care_by_name_and_the_patient_sees_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let neuro = &clinic.doctor2.client;
    assert!(neuro.patients(&Default::default()).await.unwrap().items.is_empty(), "nobody in Nina's care");

    let found = neuro.emergency_search("  paula PAT ").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].patient_id, found[0].full_name.as_str()), (pid, "Paula Patient"));
    assert_eq!(found[0].date_of_birth.to_string(), "1980-04-23");
    // The body has nothing more than the match: no contact, insurance or clinical data.
    let url = format!("{}{}", app.url(), RouteId::SearchBreakGlass.path(&[]));
    let token = neuro.access_token().await.unwrap();
    let resp = app.http().post(url).bearer_auth(token).json(&serde_json::json!({"q": "Paula"})).send().await;
    let raw: serde_json::Value = resp.unwrap().json().await.unwrap();
    let keys: Vec<_> = raw[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["date_of_birth", "full_name", "patient_id"]);

    // The result leads straight to a grant.
    neuro.break_glass(found[0].patient_id, REASON).await.unwrap();
    neuro.patient(pid).await.unwrap();

    // The patient sees who searched; the other patient, not found, sees nothing of it.
    let seen = clinic.patient.client.my_access_log(&PageQuery::default()).await.unwrap().items;
    assert!(seen.iter().any(|e| e.action == "break_glass.search" && e.actor_name == "Nina Neuro"), "{seen:?}");
    let other = clinic.patient2.client.my_access_log(&PageQuery::default()).await.unwrap().items;
    assert!(other.iter().all(|e| e.action != "break_glass.search"));

    // A search that finds nobody is audited too, without a patient.
    assert!(clinic.nurse2.client.emergency_search("Zebedee").await.unwrap().is_empty());
    let q = AuditQuery { actor_id: Some(clinic.nurse2.user_id), ..AuditQuery::default() };
    let entries = clinic.admin.client.audit(&q).await.unwrap().items;
    assert!(entries.iter().any(|e| e.action == "break_glass.search" && e.target_id.is_none()), "{entries:?}");
}

#[tokio::test]
async fn an_emergency_search_is_for_doctors_and_nurses_needs_three_letters_and_lists_ten_at_most() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    // Columns: patient, doctor, nurse, receptionist, admin.
    let want = [403, 200, 200, 403, 403];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want) {
        assert_eq!(code(c.emergency_search("Paula").await), want, "{role}");
    }
    let nurse = &clinic.nurse2.client;
    assert_eq!(code(nurse.emergency_search(" pa ").await), 422, "two letters list half the clinic");
    assert_eq!(code(nurse.emergency_search(&"a".repeat(201)).await), 422);
    let extra = serde_json::json!({"q": "Paula", "all": true});
    assert_eq!(send_json(&app, nurse, RouteId::SearchBreakGlass, &[], extra).await.0, 400);

    more_patients(&clinic, 12).await;
    let found = nurse.emergency_search("extra patient").await.unwrap();
    assert_eq!(found.len(), 10, "capped, so a search cannot browse the clinic");
    assert!(found.iter().all(|m| m.full_name.starts_with("Extra Patient")));
}
