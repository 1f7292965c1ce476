//! Patient profiles: scope, masking, validation, sealing at rest.

use healthsynx_server::config::Secrets;
use healthsynx_tests::shared::api::{NewPatient, PatientPatch, PatientQuery, RouteId};
use healthsynx_tests::shared::{PatientType, Role};
use healthsynx_tests::{Clinic, TestApp, insurance_of, utc};
use uuid::Uuid;

use crate::support::{book, code, status};

fn new_patient(email: &str, insurance: Option<&str>) -> NewPatient {
    NewPatient {
        email: email.parse().unwrap(),
        full_name: "Quentin Quill".into(),
        date_of_birth: "1975-02-03".into(),
        phone: "+44 20 7946 0958".into(),
        insurance_id: insurance.map(str::to_owned),
        patient_type: PatientType::Outpatient,
        password: None,
    }
}

/// Puts `clinic.patient` in the cardiology doctor's (and department's) care by booking.
async fn in_care(clinic: &Clinic) {
    book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(2, 9, 0)).await.unwrap();
}

#[tokio::test]
async fn each_role_sees_exactly_the_profiles_the_role_table_gives_it() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    in_care(&clinic).await;
    let own = clinic.patient.patient_id;
    let other = clinic.patient2.patient_id;
    // Columns as Role::ALL: patient, doctor, nurse, receptionist, admin.
    let want_own = [200, 200, 200, 200, 200];
    let want_other = [404, 404, 404, 200, 200];
    for ((role, c), (w_own, w_other)) in clinic.by_role().into_iter().zip(want_own.into_iter().zip(want_other)) {
        assert_eq!(code(c.patient(own).await), w_own, "{role} own");
        assert_eq!(code(c.patient(other).await), w_other, "{role} other");
    }
    assert_eq!(code(clinic.nurse2.client.patient(own).await), 404, "nurse of another department");
    assert_eq!(code(clinic.doctor2.client.patient(own).await), 404, "doctor without an appointment");
    assert_eq!(code(clinic.patient.client.patient(Uuid::now_v7()).await), 404, "unknown id");

    let phone = PatientPatch { phone: Some("+49 30 7654321".into()), ..Default::default() };
    let want_patch_own = [200, 403, 403, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_patch_own) {
        assert_eq!(code(c.patch_patient(own, &phone).await), want, "{role} patch own");
    }
    let want_patch_other = [404, 404, 404, 200, 200];
    for ((role, c), want) in clinic.by_role().into_iter().zip(want_patch_other) {
        assert_eq!(code(c.patch_patient(other, &phone).await), want, "{role} patch other");
    }
    let want_create = [403, 403, 403, 200, 200];
    for (i, ((role, c), want)) in clinic.by_role().into_iter().zip(want_create).enumerate() {
        let r = c.create_patient(&new_patient(&format!("new{i}@test.dev"), None)).await;
        assert_eq!(code(r), want, "{role} create");
    }
}

#[tokio::test]
async fn lists_are_scoped_and_searchable() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    in_care(&clinic).await;
    let ids = |page: healthsynx_tests::shared::Page<healthsynx_tests::shared::Patient>| -> Vec<Uuid> {
        page.items.into_iter().map(|p| p.id).collect()
    };
    let all = PatientQuery::default();
    assert_eq!(ids(clinic.patient.client.patients(&all).await.unwrap()), [clinic.patient.patient_id]);
    assert_eq!(ids(clinic.doctor.client.patients(&all).await.unwrap()), [clinic.patient.patient_id]);
    assert_eq!(ids(clinic.nurse.client.patients(&all).await.unwrap()), [clinic.patient.patient_id]);
    assert!(ids(clinic.doctor2.client.patients(&all).await.unwrap()).is_empty());
    assert_eq!(clinic.reception.client.patients(&all).await.unwrap().items.len(), 2);
    let q = PatientQuery { q: Some("peter".into()), ..Default::default() };
    assert_eq!(ids(clinic.reception.client.patients(&q).await.unwrap()), [clinic.patient2.patient_id]);
    let q = PatientQuery { q: Some("pat2@".into()), ..Default::default() };
    assert_eq!(ids(clinic.admin.client.patients(&q).await.unwrap()), [clinic.patient2.patient_id]);
}

#[tokio::test]
async fn care_scope_follows_the_index_alone() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let p = clinic.patient2.patient_id;
    assert_eq!(code(clinic.doctor2.client.patient(p).await), 404);
    assert_eq!(code(clinic.nurse2.client.patient(p).await), 404);
    let st = app.state();
    let mut tx = st.store.begin().await.unwrap();
    tx.link_care(clinic.doctor2.user_id, "neurology", p, Uuid::now_v7()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(code(clinic.doctor2.client.patient(p).await), 200);
    assert_eq!(code(clinic.nurse2.client.patient(p).await), 200);
    assert_eq!(code(clinic.nurse.client.patient(p).await), 404, "cardiology still has no link");
    assert_eq!(code(clinic.doctor.client.patient(p).await), 404);
}

#[tokio::test]
async fn insurance_ids_are_masked_for_clinical_staff() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    in_care(&clinic).await;
    let clear = insurance_of(&clinic.patient.email);
    let masked = format!("****{}", &clear[clear.len() - 4..]);
    let id = clinic.patient.patient_id;
    for (role, c) in clinic.by_role() {
        let want = if matches!(role, Role::Doctor | Role::Nurse) { &masked } else { &clear };
        assert_eq!(c.patient(id).await.unwrap().insurance_id.as_deref(), Some(want.as_str()), "{role}");
    }
    let listed = clinic.doctor.client.patients(&PatientQuery::default()).await.unwrap();
    assert_eq!(listed.items[0].insurance_id.as_deref(), Some(masked.as_str()));
}

#[tokio::test]
async fn a_patient_may_change_only_their_phone() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let c = &clinic.patient.client;
    let id = clinic.patient.patient_id;
    let p = c
        .patch_patient(id, &PatientPatch { phone: Some("+49 30 1111111".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(p.phone, "+49 30 1111111");
    let name = PatientPatch { full_name: Some("Someone Else".into()), ..Default::default() };
    assert_eq!(status(c.patch_patient(id, &name).await, "name"), 403);
    let ins = PatientPatch { insurance_id: Some("INS-FREE-STUFF".into()), ..Default::default() };
    assert_eq!(status(c.patch_patient(id, &ins).await, "insurance"), 403);
    assert_eq!(c.patient(id).await.unwrap().full_name, "Paula Patient");
}

#[tokio::test]
async fn registration_validates_and_refuses_duplicates() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let created = desk.create_patient(&new_patient("quentin@test.dev", Some("I1"))).await;
    assert_eq!(status(created, "short insurance id"), 422);
    let created = desk.create_patient(&new_patient("quentin@test.dev", Some("INS-12345"))).await.unwrap();
    assert_eq!(created.patient.full_name, "Quentin Quill");
    let token = created.activation_token.expect("no password: activation token");
    assert_eq!(status(desk.create_patient(&new_patient("QUENTIN@test.dev", None)).await, "dup"), 409);
    for (what, tweak) in [
        (
            "date of birth",
            Box::new(|p: &mut NewPatient| p.date_of_birth = "1975-13-40".into()) as Box<dyn Fn(&mut NewPatient)>,
        ),
        ("future birth", Box::new(|p: &mut NewPatient| p.date_of_birth = "2999-01-01".into())),
        ("phone", Box::new(|p: &mut NewPatient| p.phone = "call me".into())),
        ("name", Box::new(|p: &mut NewPatient| p.full_name = "  ".into())),
    ] {
        let mut p = new_patient("fresh@test.dev", None);
        tweak(&mut p);
        assert_eq!(status(desk.create_patient(&p).await, what), 422, "{what}");
    }
    let mut bad_email = serde_json::to_value(new_patient("fresh@test.dev", None)).unwrap();
    bad_email["email"] = "quentin.at.test".into();
    let (bad_email, _) = crate::support::send_json(&app, desk, RouteId::CreatePatient, &[], bad_email).await;
    assert_eq!(bad_email, 422, "email");
    let all = desk.patients(&PatientQuery::default()).await.unwrap();
    assert_eq!(all.items.len(), 3, "only the one good registration was written");
    // The activation token sets the first password.
    let anon = app.client();
    anon.confirm_password_reset(&token.token, "harvest-moonlit-osprey-31").await.unwrap();
    anon.login("quentin@test.dev", "harvest-moonlit-osprey-31").await.unwrap();
    assert_eq!(anon.me().await.unwrap().patient.unwrap().id, created.patient.id);
}

#[tokio::test]
async fn insurance_ids_never_reach_the_disk_in_clear_and_keys_rotate() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let first =
        clinic.reception.client.create_patient(&new_patient("rot1@test.dev", Some("INS-TEST-7781"))).await.unwrap();
    assert!(!app.at_rest_contains(b"INS-TEST-7781").await);
    assert!(app.at_rest_contains(b"rot1@test.dev").await, "the search itself works");
    let key_a = app.state().config.secrets.data_key;
    let key_b = Secrets::generate().data_key;

    // A server with the wrong key refuses to serve the value: a clear error, no garbage.
    let app = app.restart(|c| c.secrets.data_key = key_b).await;
    let desk = app.login("desk@test.dev").await;
    let p = desk.patient(first.patient.id).await.unwrap_err();
    assert_eq!(p.status, 500);
    assert!(p.detail.unwrap().contains("data key"));

    // Rotation: A becomes the previous key; old and new values both read.
    let app = app.restart(|c| c.secrets.data_key_previous = Some(key_a)).await;
    let desk = app.login("desk@test.dev").await;
    let second = desk.create_patient(&new_patient("rot2@test.dev", Some("INS-TEST-9902"))).await.unwrap();
    assert_eq!(desk.patient(first.patient.id).await.unwrap().insurance_id.as_deref(), Some("INS-TEST-7781"));
    assert_eq!(desk.patient(second.patient.id).await.unwrap().insurance_id.as_deref(), Some("INS-TEST-9902"));
}
