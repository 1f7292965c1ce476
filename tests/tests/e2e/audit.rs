//! The audit log: one entry per action, tamper evidence, the patient's access log.

use healthsynx_tests::shared::api::{AuditQuery, NewPatient, NewRecord, NewUser, PageQuery, PatientPatch, RouteId};
use healthsynx_tests::shared::{AuditEntry, Outcome, PatientType, Role};
use healthsynx_tests::{Clinic, TestApp, utc};
use uuid::Uuid;

use crate::support::book;

async fn entries(clinic: &Clinic, action: &str) -> Vec<AuditEntry> {
    let q = AuditQuery { action: Some(action.into()), limit: Some(500), ..Default::default() };
    clinic.admin.client.audit(&q).await.unwrap().items
}

/// Exactly one entry for `action` on `target`, by `actor`.
async fn one(clinic: &Clinic, action: &str, actor: Option<Uuid>, target: Option<Uuid>) -> AuditEntry {
    let found: Vec<AuditEntry> =
        entries(clinic, action).await.into_iter().filter(|e| e.target_id == target && e.actor_id == actor).collect();
    assert_eq!(found.len(), 1, "{action}: {found:?}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn every_listed_action_leaves_exactly_one_entry() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doc = clinic.doctor.user_id;
    let pid = clinic.patient.patient_id;

    // Logins (made by the clinic builder) and a failure with the account's id.
    let e = one(&clinic, "auth.login", Some(doc), Some(doc)).await;
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.actor_role, Some(Role::Doctor));
    assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"));
    assert!(app.client().login("doc@test.dev", "wrong password here").await.is_err());
    let failures: Vec<_> =
        entries(&clinic, "auth.login").await.into_iter().filter(|e| e.outcome == Outcome::Failure).collect();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].actor_id, Some(doc));

    clinic.doctor.client.refresh().await.unwrap();
    one(&clinic, "auth.refresh", Some(doc), Some(doc)).await;

    let a = book(&clinic.reception.client, pid, doc, utc(2, 10, 0)).await.unwrap();
    let e = one(&clinic, "appointment.create", Some(clinic.reception.user_id), Some(a.id)).await;
    assert_eq!(e.patient_id, Some(pid));

    clinic.doctor.client.patient(pid).await.unwrap();
    one(&clinic, "patient.read", Some(doc), Some(pid)).await;
    let phone = PatientPatch { phone: Some("+49 30 2222222".into()), ..Default::default() };
    clinic.patient.client.patch_patient(pid, &phone).await.unwrap();
    one(&clinic, "patient.update", Some(clinic.patient.user_id), Some(pid)).await;

    clinic.admin.client.deactivate_user(clinic.nurse2.user_id).await.unwrap();
    one(&clinic, "user.deactivate", Some(clinic.admin.user_id), Some(clinic.nurse2.user_id)).await;
    clinic.admin.client.issue_password_reset(clinic.nurse.user_id).await.unwrap();
    one(&clinic, "user.password_reset_issue", Some(clinic.admin.user_id), Some(clinic.nurse.user_id)).await;

    clinic.patient2.client.change_password(healthsynx_tests::PASSWORD, "tundra-pickle-aurora-66").await.unwrap();
    one(&clinic, "auth.password_change", Some(clinic.patient2.user_id), Some(clinic.patient2.user_id)).await;
    clinic.reception.client.logout().await.unwrap();
    one(&clinic, "auth.logout", Some(clinic.reception.user_id), Some(clinic.reception.user_id)).await;

    let nu = NewUser {
        email: "new.staff@test.dev".parse().unwrap(),
        full_name: "New Staff".into(),
        role: Role::Receptionist,
        department: None,
        password: None,
        username: None,
    };
    let u = clinic.admin.client.create_user(&nu).await.unwrap();
    one(&clinic, "user.create", Some(clinic.admin.user_id), Some(u.id)).await;
    let reset = clinic.admin.client.issue_password_reset(u.id).await.unwrap();
    app.client().confirm_password_reset(&reset.token, "juniper-quasar-walnut-47").await.unwrap();
    one(&clinic, "auth.password_reset", Some(u.id), Some(u.id)).await;
    let np = NewPatient {
        email: "new.patient@test.dev".parse().unwrap(),
        full_name: "New Patient".into(),
        date_of_birth: "2001-02-03".into(),
        phone: "+49 30 3333333".into(),
        insurance_id: None,
        patient_type: PatientType::Inpatient,
        password: None,
    };
    let p = clinic.admin.client.create_patient(&np).await.unwrap();
    let e = one(&clinic, "patient.create", Some(clinic.admin.user_id), Some(p.patient.id)).await;
    assert_eq!(e.patient_id, Some(p.patient.id));

    // No entry carries a secret or clinical text: entries are ids and verbs.
    let all = clinic.admin.client.audit(&AuditQuery { limit: Some(500), ..Default::default() }).await.unwrap();
    let text = serde_json::to_string(&all).unwrap();
    for secret in [healthsynx_tests::PASSWORD, "check-up", "tundra-pickle-aurora-66", "+49 30 2222222"] {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }
    assert!(clinic.admin.client.verify_audit().await.unwrap().ok);
}

#[tokio::test]
async fn flipping_one_byte_of_an_entry_makes_verify_name_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let report = clinic.admin.client.verify_audit().await.unwrap();
    assert!(report.ok);
    let n = report.entries.unwrap();
    assert!(n > 10);
    if app.on_postgres() {
        // One bit of the first letter of the action: still valid JSON, no longer the signed entry.
        let flip = |mut bytes: Vec<u8>| {
            let at = bytes.windows(10).position(|w| w == b"\"action\":\"").unwrap() + 10;
            bytes[at] ^= 0x01;
            bytes
        };
        let db = app.sql().await;
        let entry: String = db.query_one("SELECT entry FROM audit WHERE seq = 5", &[]).await.unwrap().get(0);
        let tampered = String::from_utf8(flip(entry.into_bytes())).unwrap();
        db.execute("UPDATE audit SET entry = $1 WHERE seq = 5", &[&tampered]).await.unwrap();
    } else {
        // Entries are stored in binary blocks keyed by their first sequence
        // number, each entry ending in its hash: flip one bit of entry 5's.
        let sled = app.state().store.sled().unwrap();
        let fifth = sled.audit_entries(4, 1).unwrap().remove(0);
        let hash: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&fifth.hash[2 * i..2 * i + 2], 16).unwrap()).collect();
        let tree = sled.raw_tree("audit").unwrap();
        let (key, block) = tree.range(..=5u64.to_be_bytes()).next_back().unwrap().unwrap();
        let mut block = block.to_vec();
        // Its first place in the block: entry 6 repeats it as its prev_hash, later.
        let at = block.windows(32).position(|w| w == hash.as_slice()).unwrap();
        block[at] ^= 0x01;
        tree.insert(key, block).unwrap();
    }
    let report = clinic.admin.client.verify_audit().await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.first_bad, Some(5));
}

#[tokio::test]
async fn the_access_log_shows_others_reads_and_not_the_patients_own() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let pid = clinic.patient.patient_id;
    let a = book(&clinic.reception.client, pid, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();
    clinic.doctor.client.patient(pid).await.unwrap();
    let rec = NewRecord {
        appointment_id: a.id,
        diagnosis: "Mild asthma".into(),
        notes: String::new(),
        prescriptions: vec![],
    };
    let rec = clinic.doctor.client.create_record(&rec).await.unwrap();
    clinic.nurse.client.record(rec.id).await.unwrap();
    clinic.patient.client.patient(pid).await.unwrap();
    let log = clinic.patient.client.my_access_log(&PageQuery::default()).await.unwrap();
    assert!(
        log.items
            .iter()
            .any(|e| e.actor_name == "Carl Cardio" && e.actor_role == Some(Role::Doctor) && e.action == "patient.read")
    );
    assert!(log.items.iter().any(|e| e.actor_name == "Rita Reception" && e.action == "appointment.create"));
    assert!(log.items.iter().any(|e| e.actor_name == "Carl Cardio" && e.action == "record.create"));
    assert!(log.items.iter().any(|e| e.actor_name == "Nora Nurse" && e.action == "record.read"));
    assert!(!log.items.iter().any(|e| e.actor_name == "Paula Patient"), "own reads are not listed");
    let other = clinic.patient2.client.my_access_log(&PageQuery::default()).await.unwrap();
    assert!(!other.items.iter().any(|e| e.action == "patient.read"), "another patient's log is their own");
    let staff = app.http().get(format!("{}{}", app.url(), RouteId::MyAccessLog.path(&[])));
    let token = clinic.doctor.client.access_token().await.unwrap();
    assert_eq!(staff.bearer_auth(token).send().await.unwrap().status().as_u16(), 403);
}
