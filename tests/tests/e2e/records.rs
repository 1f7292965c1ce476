//! Medical records: who may write and read, versions, retraction, sealing.

use healthsynx_tests::shared::api::{NewRecord, RecordPatch, RecordQuery};
use healthsynx_tests::shared::{Appointment, Prescription, RecordStatus};
use healthsynx_tests::{Clinic, TestApp, utc};
use uuid::Uuid;

use crate::support::{book, code, status};

fn record_for(a: &Appointment, diagnosis: &str) -> NewRecord {
    NewRecord {
        appointment_id: a.id,
        diagnosis: diagnosis.into(),
        notes: "Follow up in two weeks.".into(),
        prescriptions: vec![Prescription {
            drug: "Amoxicillin".into(),
            dose: "500 mg".into(),
            frequency: "three times daily".into(),
            days: 7,
        }],
    }
}

/// An appointment of the cardiology doctor with the first patient.
async fn visit(clinic: &Clinic, day: i64) -> Appointment {
    book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(day, 9, 0)).await.unwrap()
}

fn by_patient(id: Uuid) -> RecordQuery {
    RecordQuery { patient_id: Some(id), ..Default::default() }
}

#[tokio::test]
async fn each_role_may_do_to_records_what_the_table_says() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = visit(&clinic, 2).await;
    let pid = clinic.patient.patient_id;
    // Columns: patient, doctor (of the appointment), nurse, receptionist, admin.
    let want_create = [403, 200, 403, 403, 200];
    let mut made = Vec::new();
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_create) {
        let r = c.create_record(&record_for(&a, "Acute bronchitis")).await;
        assert_eq!(code(r.clone()), want, "{role} create");
        made.extend(r.ok());
    }
    let rec = made[0].clone();
    assert_eq!(
        code(clinic.doctor2.client.create_record(&record_for(&a, "x")).await),
        404,
        "another doctor's appointment"
    );
    let want_get = [200, 200, 200, 404, 200];
    let want_list = [200, 200, 200, 403, 200];
    for (i, (role, c)) in clinic.by_role().into_iter().enumerate() {
        assert_eq!(code(c.record(rec.id).await), want_get[i], "{role} get");
        assert_eq!(code(c.records(&by_patient(pid)).await), want_list[i], "{role} list");
    }
    for (who, c) in [
        ("other patient", &clinic.patient2.client),
        ("other doctor", &clinic.doctor2.client),
        ("other nurse", &clinic.nurse2.client),
    ] {
        assert_eq!(code(c.record(rec.id).await), 404, "{who} get");
        assert_eq!(code(c.records(&by_patient(pid)).await), 404, "{who} list");
    }
    let own = clinic.patient.client.records(&RecordQuery::default()).await.unwrap();
    assert_eq!(own.items.len(), 2);
    let patch = RecordPatch { notes: Some("changed".into()), ..Default::default() };
    let want_patch = [403, 200, 403, 404, 200];
    let mut version = rec.version;
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_patch) {
        let r = c.patch_record(rec.id, version, &patch).await;
        if let Ok(r) = &r {
            version = r.version;
        }
        assert_eq!(code(r), want, "{role} patch");
    }
    assert_eq!(code(clinic.doctor2.client.patch_record(rec.id, version, &patch).await), 404);
    let want_retract = [403, 403, 403, 404];
    for ((role, c), want) in clinic.by_role().into_iter().take(4).zip(want_retract).skip(2) {
        assert_eq!(code(c.retract_record(rec.id).await), want, "{role} retract");
    }
    assert_eq!(code(clinic.patient.client.retract_record(rec.id).await), 403);
    clinic.doctor.client.retract_record(rec.id).await.unwrap();
}

#[tokio::test]
async fn history_keeps_every_version_and_stale_writes_change_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = visit(&clinic, 3).await;
    let doc = &clinic.doctor.client;
    let r = doc.create_record(&record_for(&a, "Sprained ankle")).await.unwrap();
    let mut v = r.version;
    for (i, notes) in ["Ice and rest.", "Swelling down.", "Cleared for sport."].iter().enumerate() {
        let patch = RecordPatch {
            notes: Some((*notes).into()),
            diagnosis: (i == 2).then(|| "Healed ankle sprain".into()),
            ..Default::default()
        };
        v = doc.patch_record(r.id, v, &patch).await.unwrap().version;
    }
    let stale =
        doc.patch_record(r.id, 2, &RecordPatch { notes: Some("lost update".into()), ..Default::default() }).await;
    assert_eq!(status(stale, "stale If-Match"), 412);
    let h = doc.record_history(r.id).await.unwrap();
    let versions: Vec<u64> = h.iter().map(|v| v.version).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(h[0].record.notes, "Follow up in two weeks.");
    assert_eq!(h[3].record.notes, "Cleared for sport.");
    assert_eq!(h[3].changed_fields, ["diagnosis", "notes"]);
    assert_eq!(h[1].changed_by, clinic.doctor.user_id);
    assert!(h.iter().all(|v| v.record.notes != "lost update"));

    doc.retract_record(r.id).await.unwrap();
    let listed = doc.records(&by_patient(clinic.patient.patient_id)).await.unwrap();
    assert!(listed.items.is_empty(), "retracted records leave default lists");
    let all = doc
        .records(&RecordQuery { include_retracted: Some(true), ..by_patient(clinic.patient.patient_id) })
        .await
        .unwrap();
    assert_eq!(all.items[0].status, RecordStatus::EnteredInError);
    assert_eq!(
        code(clinic.patient.client.records(&RecordQuery { include_retracted: Some(true), ..Default::default() }).await),
        403
    );
    let h = doc.record_history(r.id).await.unwrap();
    assert_eq!(h.len(), 5);
    assert_eq!(h[4].changed_fields, ["status"]);
    assert_eq!(code(doc.patch_record(r.id, 5, &RecordPatch::default()).await), 409, "retracted records are not edited");
}

#[tokio::test]
async fn clinical_text_never_reaches_the_disk_in_clear() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = visit(&clinic, 4).await;
    let mut new = record_for(&a, "Zebra-striped pneumonitis 4471");
    new.notes = "Quokka allergy noted 9921".into();
    new.prescriptions[0].drug = "Xylophonamide".into();
    clinic.doctor.client.create_record(&new).await.unwrap();
    for secret in ["Zebra-striped pneumonitis 4471", "Quokka allergy noted 9921", "Xylophonamide"] {
        assert!(!app.at_rest_contains(secret.as_bytes()).await, "{secret} stored in clear");
    }
    assert!(app.at_rest_contains(b"doc@test.dev").await, "the search itself works");
}

#[tokio::test]
async fn bad_record_input_is_refused_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let a = visit(&clinic, 5).await;
    let doc = &clinic.doctor.client;
    let unknown = NewRecord { appointment_id: Uuid::now_v7(), ..record_for(&a, "x") };
    assert_eq!(code(doc.create_record(&unknown).await), 404, "unknown appointment");
    let mut huge = record_for(&a, "x");
    huge.notes = "n".repeat(70 * 1024);
    assert_eq!(code(doc.create_record(&huge).await), 413, "70 KiB notes");
    let bad_rx = |f: fn(&mut Prescription)| {
        let mut r = record_for(&a, "x");
        f(&mut r.prescriptions[0]);
        r
    };
    for (what, r) in [
        ("empty drug", bad_rx(|p| p.drug = " ".into())),
        ("empty dose", bad_rx(|p| p.dose = String::new())),
        ("zero days", bad_rx(|p| p.days = 0)),
        ("too many days", bad_rx(|p| p.days = 366)),
        ("long frequency", bad_rx(|p| p.frequency = "f".repeat(65))),
        ("empty diagnosis", record_for(&a, "   ")),
    ] {
        let p = doc.create_record(&r).await.unwrap_err();
        assert_eq!(p.status, 422, "{what}");
        assert!(!p.errors.is_empty(), "{what} names its field");
    }
    clinic.reception.client.cancel(a.id, "").await.unwrap();
    assert_eq!(code(doc.create_record(&record_for(&a, "x")).await), 409, "cancelled appointment");
    let q = RecordQuery { include_retracted: Some(true), ..by_patient(clinic.patient.patient_id) };
    assert!(clinic.admin.client.records(&q).await.unwrap().items.is_empty(), "nothing was written");
}
