//! The demo clinic on PostgreSQL: moved there from the embedded store by
//! `healthsynx-server copy` it serves the same answers, and a `pg_dump` of
//! it holds no sealed value in clear.

use std::process::Command;
use std::sync::Arc;

use healthsynx_server::config::Secrets;
use healthsynx_server::{Config, State, demo};
use healthsynx_tests::all_appointments;
use healthsynx_tests::process::{ClinicStore, server_bin};
use healthsynx_tests::shared::Role;
use healthsynx_tests::shared::api::{AppointmentQuery, PatientQuery, RecordQuery, UserQuery};
use healthsynx_tests::shared::client::Client;
use serde_json::Value;

fn admin_login() -> &'static demo::DemoLogin {
    demo::LOGINS.iter().find(|l| l.role == Role::Admin).expect("a demo admin")
}

async fn serve(mut config: Config) -> healthsynx_server::Running {
    // The demo admin logs in with a password, as under `--demo`.
    config.mfa_required_roles.clear();
    let state = State::open(config).await.expect("open");
    healthsynx_server::start_with(Arc::new(state)).await.expect("serve")
}

async fn admin_of(url: &str) -> Client {
    let c = Client::new(url).unwrap();
    c.login(admin_login().email, admin_login().password).await.unwrap();
    c
}

fn json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

/// Every list endpoint, as the admin sees it, all pages.
async fn everything(c: &Client) -> Vec<(String, Value)> {
    let mut out = vec![("departments".to_owned(), json(&c.departments().await.unwrap()))];
    out.push(("doctors".into(), json(&c.doctors(None).await.unwrap())));
    let every = healthsynx_shared::api::CatalogQuery { include_inactive: true, ..Default::default() };
    out.push(("appointment types".into(), json(&c.appointment_types(&every).await.unwrap())));
    out.push(("resources".into(), json(&c.resources(&every).await.unwrap())));
    let mut users = Vec::new();
    let mut cursor = None;
    loop {
        let page = c.users(&UserQuery { limit: Some(500), cursor, ..Default::default() }).await.unwrap();
        users.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    out.push(("users".into(), json(&users)));
    let mut patients = Vec::new();
    let mut cursor = None;
    loop {
        let page = c.patients(&PatientQuery { limit: Some(500), cursor, ..Default::default() }).await.unwrap();
        patients.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    for p in &patients {
        let q = RecordQuery { patient_id: Some(p.id), include_retracted: Some(true), ..Default::default() };
        out.push((format!("records of {}", p.id), json(&c.records(&q).await.unwrap().items)));
    }
    out.push(("patients".into(), json(&patients)));
    let appointments = all_appointments(c).await;
    out.push(("appointments".into(), json(&appointments)));
    for d in c.doctors(None).await.unwrap() {
        out.push((format!("availability of {}", d.id), json(&c.availability(d.id).await.unwrap())));
    }
    let hooks = c.webhooks().await.unwrap();
    for w in &hooks {
        let deliveries = c.deliveries(w.id, &Default::default()).await.unwrap();
        out.push((format!("deliveries of {}", w.id), json(&deliveries.items)));
    }
    out.push(("webhooks".into(), json(&hooks)));
    out
}

/// The demo has no webhook (nothing would receive it): one is written
/// straight into the store, with a delivery given up on, so the copy
/// carries the outbox too.
async fn a_webhook_with_a_dead_delivery(state: &State) {
    use healthsynx_server::store::{DeliveryRow, WebhookRow};
    use healthsynx_tests::shared::{DeliveryStatus, EventType};
    let now = jiff::Timestamp::now();
    let id = uuid::Uuid::now_v7();
    let hook = WebhookRow {
        id,
        url: "https://sms.example.org/healthsynx".into(),
        events: vec![EventType::AppointmentReminder],
        secret_sealed: state.sealer.seal("whsec_dGVzdHRlc3R0ZXN0dGVzdA==", id.as_bytes()).unwrap(),
        active: false,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let dead = DeliveryRow {
        id: uuid::Uuid::now_v7(),
        webhook_id: id,
        event_id: uuid::Uuid::now_v7(),
        event_type: EventType::AppointmentReminder,
        created_at: now,
        data: serde_json::json!({ "appointment_id": uuid::Uuid::nil() }),
        status: DeliveryStatus::Dead,
        attempts: 3,
        next_attempt_at: now,
        window_from: now,
        last_attempt_at: Some(now),
        last_status: Some(503),
        last_error: Some("HTTP 503".into()),
        delivered_at: None,
    };
    let mut tx = state.store.begin().await.unwrap();
    tx.put_webhook(&hook).await.unwrap();
    tx.put_delivery(&dead).await.unwrap();
    tx.mark_reminder_sent(uuid::Uuid::nil(), now, 3600).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_clinic_copied_to_postgres_serves_the_same_answers_and_verifies() {
    let secrets = Secrets::generate();
    let dir = tempfile::tempdir().unwrap();
    {
        let state = State::open(Config::new(dir.path().to_path_buf(), secrets.clone())).await.unwrap();
        demo::seed(&state).await.unwrap();
        // The demo's waitlist offer is made now, so both servers below find
        // nothing new to offer and serve the same clinic.
        let round = healthsynx_server::domain::waitlist::run(&state).await.unwrap();
        assert_eq!(round.offered, 1, "Alice's offer");
        a_webhook_with_a_dead_delivery(&state).await;
        state.store.flush().await.unwrap();
    }
    let ClinicStore::Database(db) = ClinicStore::database().await else { unreachable!() };
    let copy = |url: &str| {
        Command::new(server_bin())
            .args(["copy", "--data-dir", dir.path().to_str().unwrap(), "--database-url", url])
            .output()
            .unwrap()
    };
    let out = copy(&db.url);
    assert!(out.status.success(), "copy: {}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("copied and verified") && said.contains("audit chain"), "{said}");
    let again = copy(&db.url);
    assert!(!again.status.success(), "a second copy into the same database is refused");
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let embedded = serve(Config::new(dir.path().to_path_buf(), secrets.clone())).await;
    let mut config = Config::new(tempfile::tempdir().unwrap().path().to_path_buf(), secrets);
    config.database_url = Some(db.url.clone());
    let on_pg = serve(config).await;
    let (a, b) = (admin_of(&embedded.url()).await, admin_of(&on_pg.url()).await);
    let (left, right) = (everything(&a).await, everything(&b).await);
    assert!(left.len() > 40, "the demo clinic has patients with records");
    for ((what, l), (_, r)) in left.iter().zip(&right) {
        assert_eq!(l, r, "{what} differs after the copy");
    }
    assert_eq!(left.len(), right.len());
    let report = b.verify_audit().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert!(report.entries.unwrap() > a.verify_audit().await.unwrap().entries.unwrap() / 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_of_the_demo_clinic_holds_no_insurance_id_reason_diagnosis_or_note_in_clear() {
    let ClinicStore::Database(db) = ClinicStore::database().await else { unreachable!() };
    let mut config = Config::new(tempfile::tempdir().unwrap().path().to_path_buf(), Secrets::generate());
    config.database_url = Some(db.url.clone());
    config.mfa_required_roles.clear();
    let state = State::open(config).await.unwrap();
    demo::seed(&state).await.unwrap();
    let server = healthsynx_server::start_with(Arc::new(state)).await.unwrap();
    let admin = admin_of(&server.url()).await;
    let patients = admin.patients(&PatientQuery { limit: Some(500), ..Default::default() }).await.unwrap().items;
    let mut secrets: Vec<String> = patients.iter().filter_map(|p| p.insurance_id.clone()).collect();
    let appointments =
        admin.appointments(&AppointmentQuery { limit: Some(500), ..Default::default() }).await.unwrap().items;
    secrets.extend(appointments.iter().map(|a| a.reason.clone()).filter(|r| r.len() > 3));
    for p in &patients {
        let q = RecordQuery { patient_id: Some(p.id), ..Default::default() };
        for r in admin.records(&q).await.unwrap().items {
            secrets.push(r.diagnosis);
            secrets.push(r.notes);
            secrets.extend(r.prescriptions.into_iter().map(|p| p.drug));
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() > 40, "the demo clinic holds sealed values: {}", secrets.len());
    server.state.store.flush().await.unwrap();
    let dump = Command::new("pg_dump").arg("--dbname").arg(&db.url).output().unwrap();
    assert!(dump.status.success());
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(text.contains(&patients[0].email), "the dump holds the clinic (emails are not sealed)");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "`{s}` is in the dump in clear");
    }
}
