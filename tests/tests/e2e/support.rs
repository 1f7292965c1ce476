//! Small helpers shared by the test modules.

use healthsynx_tests::shared::api::{NewAppointment, NewPatient, RangeQuery, RouteId};
use healthsynx_tests::shared::client::{Client, Result, problem_of};
use healthsynx_tests::shared::{Appointment, PatientType, Problem};
use healthsynx_tests::{Clinic, TestApp};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

/// The status of a failed call (panics on success, naming `what`).
pub fn status<T: std::fmt::Debug>(r: Result<T>, what: &str) -> u16 {
    match r {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(p) => p.status,
    }
}

/// `0` for success, else the status: for role tables.
pub fn code<T>(r: Result<T>) -> u16 {
    r.map(|_| 200).unwrap_or_else(|p: Problem| p.status)
}

/// A default-length check-up.
pub fn check_up(patient: Uuid, doctor: Uuid, start: Timestamp) -> NewAppointment {
    NewAppointment {
        patient_id: patient,
        doctor_id: doctor,
        start,
        end: None,
        reason: "check-up".parse().unwrap(),
        type_id: None,
    }
}

/// Books one default-length slot.
pub async fn book(c: &Client, patient: Uuid, doctor: Uuid, start: Timestamp) -> Result<Appointment> {
    c.book(&check_up(patient, doctor, start), None).await
}

/// A `from`/`to` query.
pub fn range(from: Timestamp, to: Timestamp) -> RangeQuery {
    RangeQuery { from, to }
}

/// Sends `body` as it is to a route (bypassing the typed request structs,
/// which cannot hold a bad value): the status and the problem, if any.
pub async fn send_json(
    app: &TestApp,
    c: &Client,
    route: RouteId,
    ids: &[Uuid],
    body: serde_json::Value,
) -> (u16, Option<Problem>) {
    let method = reqwest::Method::from_bytes(route.method().as_bytes()).unwrap();
    let url = format!("{}{}", app.url(), route.path(ids));
    let token = c.access_token().await.unwrap();
    let resp = app.http().request(method, url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, (!resp.status().is_success()).then_some(problem_of(resp).await))
}

/// A raw login: its status, `Retry-After` seconds, and the problem body (if any).
pub async fn login_attempt(app: &TestApp, email: &str, password: &str) -> (u16, Option<u64>, Problem) {
    let resp = app
        .http()
        .post(format!("{}{}", app.url(), RouteId::JwtCreate.path(&[])))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry, problem_of(resp).await)
}

/// Registers `n` more patients, "Extra Patient0" …, (no password, so no hashing) and returns their ids.
pub async fn more_patients(clinic: &Clinic, n: usize) -> Vec<Uuid> {
    // Unique across calls, so one test may ask more than once.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let mut ids = Vec::new();
    for _ in 0..n {
        let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = NewPatient {
            email: format!("extra{i}@test.dev").parse().unwrap(),
            full_name: format!("Extra Patient{i}"),
            date_of_birth: "1990-01-01".into(),
            phone: "+49 30 1234567".into(),
            insurance_id: None,
            patient_type: PatientType::Outpatient,
            password: None,
        };
        ids.push(clinic.reception.client.create_patient(&p).await.unwrap().patient.id);
    }
    ids
}

/// A scheduled five-minute visit starting `from_now` (negative: already
/// started) for `patient` with the clinic's cardiology doctor, written
/// straight into the store: booking refuses the past, and check-in waits for
/// its window. Returns its id.
pub async fn visit_at(app: &TestApp, clinic: &Clinic, patient: Uuid, from_now: SignedDuration) -> Uuid {
    let start = Timestamp::from_second(Timestamp::now().as_second()).unwrap() + from_now;
    let status = healthsynx_tests::shared::AppointmentStatus::Scheduled;
    put_visit(app, clinic, patient, (start, SignedDuration::from_mins(5)), status, None).await
}

/// A visit of `patient` with the clinic's cardiology doctor at `(start,
/// length)` in `status`, of `kind`, written straight into the store with no
/// checks (the past, any status). Returns its id.
pub async fn put_visit(
    app: &TestApp,
    clinic: &Clinic,
    patient: Uuid,
    (start, length): (Timestamp, SignedDuration),
    status: healthsynx_tests::shared::AppointmentStatus,
    kind: Option<Uuid>,
) -> Uuid {
    use healthsynx_server::store::AppointmentRow;
    let st = app.state();
    let id = Uuid::now_v7();
    let row = AppointmentRow {
        id,
        patient_id: patient,
        doctor_id: clinic.doctor.user_id,
        department: "cardiology".into(),
        start,
        end: start + length,
        status,
        reason_sealed: st.sealer.seal("check-up", id.as_bytes()).unwrap(),
        cancel_reason_sealed: None,
        version: 1,
        created_at: start,
        updated_at: start,
        created_by: clinic.reception.user_id,
        type_id: kind,
        resource_id: None,
        buffer_before: 0,
        buffer_after: 0,
        series_id: None,
    };
    let mut tx = st.store.begin().await.unwrap();
    tx.put_appointment(&row, None).await.unwrap();
    tx.commit().await.unwrap();
    id
}

/// Adds a doctor to `department` who works the clinic's test hours, written
/// straight into the store (no login: the front desk books for them).
pub async fn another_doctor(app: &TestApp, department: &str, name: &str) -> Uuid {
    use healthsynx_server::domain::accounts::{NewAccount, stage_account};
    use healthsynx_tests::shared::Role;
    let st = app.state();
    let mut tx = st.store.begin().await.unwrap();
    let email = format!("{}@test.dev", name.to_lowercase().replace(' ', "."));
    let new = NewAccount {
        email: &email,
        full_name: name,
        role: Role::Doctor,
        department: Some(department),
        username: None,
        password_hash: None,
    };
    let row = stage_account(&mut tx, new).await.unwrap();
    let rules = healthsynx_tests::all_week_rules();
    tx.put_availability(row.id, &healthsynx_tests::shared::Availability { rules, time_off: vec![] }).await.unwrap();
    tx.commit().await.unwrap();
    row.id
}

/// Runs `script` in Python 3 with `input` on stdin: what it printed, or a
/// panic naming `what` (an outside implementation the test checks against,
/// installed by `.ci/run`) and what the script said on stderr.
pub fn python(script: &str, input: &[u8], what: &str) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run python3 for {what}: {e}"));
    child.stdin.take().expect("stdin").write_all(input).expect("write to python3");
    let out = child.wait_with_output().expect("python3 ends");
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
