//! Throttling, TLS, secret rotation, rekey, backups.

use std::time::Duration;

use healthsynx_server::audit::{Action, Actor, Draft};
use healthsynx_server::config::Secrets;
use healthsynx_server::crypto::seal::Sealer;
use healthsynx_server::domain::IDEMPOTENCY_TTL;
use healthsynx_server::store::Store;
use healthsynx_server::throttle::Limits;
use healthsynx_server::{Config, State};
use healthsynx_tests::shared::api::{NewPatient, NewRecord, NewUser, PatientQuery, RangeQuery, RouteId, UserQuery};
use healthsynx_tests::shared::{PatientType, Role};
use healthsynx_tests::{PASSWORD, TestApp, data_dir_contains, utc};
use jiff::{SignedDuration, Timestamp};

use crate::support::{book, check_up, code, login_attempt};

async fn login_status(app: &TestApp, email: &str, password: &str) -> (u16, Option<u64>) {
    let (status, retry, _) = login_attempt(app, email, password).await;
    (status, retry)
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_for_a_while() {
    let app =
        TestApp::spawn_with(|c| c.limits = Limits { lockout_base: Duration::from_secs(2), ..Limits::default() }).await;
    app.clinic().await;
    let mut first_429 = None;
    for attempt in 1..=12 {
        let (status, retry) = login_status(&app, "nurse@test.dev", "definitely wrong").await;
        match status {
            401 => assert!(first_429.is_none(), "a 401 after the lockout began (attempt {attempt})"),
            429 => {
                assert!(retry.is_some_and(|s| (1..=2).contains(&s)), "Retry-After {retry:?}");
                first_429.get_or_insert(attempt);
            }
            other => panic!("attempt {attempt}: {other}"),
        }
    }
    assert!(first_429.is_some_and(|a| a <= 6), "429 from the 6th attempt at the latest: {first_429:?}");
    assert_eq!(login_status(&app, "nurse@test.dev", PASSWORD).await.0, 429, "the right password is refused too");
    assert_eq!(login_status(&app, "doc@test.dev", PASSWORD).await.0, 200, "another account is unaffected");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(login_status(&app, "nurse@test.dev", PASSWORD).await.0, 200, "after the wait it works");
    let admin = app.login("admin@test.dev").await;
    let q =
        healthsynx_tests::shared::api::AuditQuery { action: Some("auth.login_throttled".into()), ..Default::default() };
    assert!(!admin.audit(&q).await.unwrap().items.is_empty(), "throttled attempts are audited");
}

#[tokio::test]
async fn each_user_has_a_request_budget() {
    let app = TestApp::spawn_with(|c| c.limits = Limits { per_second: 1, burst: 3, ..Limits::default() }).await;
    let clinic = app.clinic().await;
    let token = clinic.patient.client.access_token().await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r =
            app.http().get(format!("{}{}", app.url(), RouteId::Me.path(&[]))).bearer_auth(&token).send().await.unwrap();
        statuses.push((r.status().as_u16(), r.headers().contains_key("retry-after")));
    }
    assert!(statuses[..3].iter().all(|s| s.0 == 200), "{statuses:?}");
    assert_eq!(statuses[4], (429, true), "{statuses:?}");
    assert_eq!(code(clinic.doctor.client.me().await), 200, "other users keep their budget");
}

fn tls_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, ca_cert.pem())
}

#[tokio::test]
async fn tls_serves_https_with_hsts_and_refuses_plain_http() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = tls_files(certs.path());
    let app = TestApp::spawn_with(|c| c.tls = Some((cert, key))).await;
    assert!(app.url().starts_with("https://"));
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("{}/healthz", app.url())).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("strict-transport-security").unwrap().to_str().unwrap().starts_with("max-age="));
    let untrusting = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(untrusting.get(format!("{}/healthz", app.url())).send().await.is_err(), "unknown CA is refused");
    let plain = app.url().replace("https://", "http://");
    let r = tokio::time::timeout(Duration::from_secs(15), reqwest::get(format!("{plain}/healthz"))).await;
    assert!(matches!(r, Ok(Err(_))), "plain HTTP fails promptly with an error: {r:?}");
}

#[tokio::test]
async fn a_token_signed_before_a_jwt_secret_rotation_works_until_the_old_secret_goes() {
    let app = TestApp::spawn().await;
    app.clinic().await;
    let c = app.login("doc@test.dev").await;
    let token = c.access_token().await.unwrap();
    let me = |app: &TestApp, t: String| {
        let req = app.http().get(format!("{}{}", app.url(), RouteId::Me.path(&[]))).bearer_auth(t);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let old = app.state().config.secrets.jwt.clone();
    let new = Secrets::generate().jwt;
    let app = app
        .restart(|c| {
            c.secrets.jwt = new.clone();
            c.secrets.jwt_previous = Some(old.clone());
        })
        .await;
    assert_eq!(me(&app, token.clone()).await, 200, "old token verifies with the previous secret");
    let fresh = app.login("doc@test.dev").await.access_token().await.unwrap();
    assert_ne!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid,
        jsonwebtoken::decode_header(&token).unwrap().kid,
        "new tokens are signed with the new secret"
    );
    let app = app.restart(|c| c.secrets.jwt_previous = None).await;
    assert_eq!(me(&app, token).await, 401, "gone with the previous secret");
    assert_eq!(me(&app, fresh).await, 200);
}

/// A clinic with a booked visit and a record, for the key and backup tests.
async fn clinic_with_data(app: &TestApp) -> (uuid::Uuid, uuid::Uuid, uuid::Uuid) {
    let clinic = app.clinic().await;
    let a =
        book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();
    let rec = NewRecord {
        appointment_id: a.id,
        diagnosis: "Tension headache".into(),
        notes: "Hydrate.".into(),
        prescriptions: vec![],
    };
    let r = clinic.doctor.client.create_record(&rec).await.unwrap();
    (clinic.patient.patient_id, a.id, r.id)
}

async fn reads_everything(app: &TestApp, ids: (uuid::Uuid, uuid::Uuid, uuid::Uuid)) {
    let admin = app.login("admin@test.dev").await;
    assert_eq!(admin.patient(ids.0).await.unwrap().insurance_id.as_deref(), Some("INS-PAT"));
    let appt = admin.appointment(ids.1).await.unwrap();
    assert_eq!(appt.reason, "check-up");
    // The doctor index carries its own copy of the row; it must open too.
    let hour = jiff::SignedDuration::from_hours(1);
    let range = RangeQuery { from: appt.start - hour, to: appt.start + hour };
    assert_eq!(admin.calendar(appt.doctor_id, &range).await.unwrap()[0].reason, "check-up");
    assert_eq!(admin.record(ids.2).await.unwrap().diagnosis, "Tension headache");
    assert_eq!(admin.record_history(ids.2).await.unwrap().len(), 1);
    assert!(admin.verify_audit().await.unwrap().ok);
}

#[tokio::test]
async fn rekey_leaves_every_sealed_value_readable_under_the_new_key_alone() {
    let app = TestApp::spawn().await;
    let ids = clinic_with_data(&app).await;
    let key_a = app.state().config.secrets.data_key;
    let key_b = Secrets::generate().data_key;
    let dir = app.dir.path().to_path_buf();
    let app = app
        .restart(|c| {
            c.secrets.data_key = key_b;
            c.secrets.data_key_previous = Some(key_a);
        })
        .await;
    let actor = Actor { id: None, role: None, addr: Some("test".into()) };
    let changed = app
        .state()
        .store
        .rekey(&app.state().sealer, Draft::new(&actor, Action::StoreRekey, "store", None))
        .await
        .unwrap();
    assert_eq!(changed, 5, "two insurance ids, a reason, a record and its first version");
    let app = app.restart(|c| c.secrets.data_key_previous = None).await;
    assert_eq!(app.dir.path(), dir);
    reads_everything(&app, ids).await;
}

#[tokio::test]
async fn a_backup_restores_to_the_same_clinic_and_refuses_bad_files() {
    let backups = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_with(|c| c.backup_dir = backups.path().to_path_buf()).await;
    let ids = clinic_with_data(&app).await;
    let admin = app.login("admin@test.dev").await;
    if app.on_postgres() {
        // PostgreSQL has its own backups; the server says so instead of half-working.
        let p = admin.backup().await.unwrap_err();
        assert_eq!(p.status, 501);
        assert!(p.detail.unwrap().contains("pg_dump"));
        return;
    }
    let done = admin.backup().await.unwrap();
    assert!(done.entries > 20 && done.bytes > 1000, "{done:?}");
    let file = std::path::PathBuf::from(&done.file);
    assert!(file.starts_with(backups.path()));
    assert!(!data_dir_contains(backups.path(), b"@test.dev"), "no email address in clear in the backup");
    assert_eq!(code(app.login("doc@test.dev").await.backup().await), 403);
    let users_before = admin.users(&UserQuery::default()).await.unwrap().items.len();
    let secrets = app.state().config.secrets.clone();
    let sealer = Sealer::new(&secrets.data_key, None);

    // Refusals: a non-empty directory, a truncated file, another key.
    assert!(Store::restore_backup(&sealer, &file, app.dir.path()).unwrap_err().to_string().contains("not empty"));
    let bytes = std::fs::read(&file).unwrap();
    let truncated = backups.path().join("truncated.hsbak");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let err = Store::restore_backup(&sealer, &truncated, fresh.path()).unwrap_err().to_string();
    assert!(err.contains("damaged or truncated"), "{err}");
    let other = Sealer::new(&Secrets::generate().data_key, None);
    let err = Store::restore_backup(&other, &file, fresh.path()).unwrap_err().to_string();
    assert!(err.contains("another data key"), "{err}");
    assert!(std::fs::read_dir(fresh.path()).unwrap().next().is_none(), "refusals write nothing");

    // The round trip serves the same clinic.
    Store::restore_backup(&sealer, &file, fresh.path()).unwrap();
    let mut config = Config::new(fresh.path().to_path_buf(), secrets);
    config.addr = "127.0.0.1:0".parse().unwrap();
    config.mfa_required_roles.clear();
    let restored = TestApp::spawn_on(std::sync::Arc::new(State::open(config).await.unwrap()), fresh).await;
    reads_everything(&restored, ids).await;
    let admin = restored.login("admin@test.dev").await;
    assert_eq!(admin.users(&UserQuery::default()).await.unwrap().items.len(), users_before);
    assert_eq!(admin.patients(&PatientQuery::default()).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn metrics_answer_loopback_and_their_counters_move() {
    let app = TestApp::spawn().await;
    let metrics = || async {
        app.http()
            .get(format!("{}{}", app.url(), RouteId::Metrics.path(&[])))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let count = |text: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(r#"healthsynx_requests_total{route="GET /healthz",status="200"}"#))
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse().unwrap())
    };
    let before = count(&metrics().await);
    for _ in 0..3 {
        app.http().get(format!("{}/healthz", app.url())).send().await.unwrap();
    }
    let text = metrics().await;
    assert_eq!(count(&text), before + 3);
    assert!(text.contains("healthsynx_request_seconds_bucket"));
    assert!(text.contains("healthsynx_store_bytes"));
    assert!(text.contains("healthsynx_throttled_total"));
}

/// Rows of refresh families, reset tokens and idempotency answers, as stored.
async fn swept_rows(app: &TestApp) -> (usize, usize, usize) {
    let tables = ["refresh_families", "reset_tokens", "idempotency"];
    let mut n = [0usize; 3];
    for (i, t) in tables.iter().enumerate() {
        n[i] = if app.on_postgres() {
            let row = app.sql().await.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap();
            row.get::<_, i64>(0) as usize
        } else {
            app.state().store.sled().unwrap().raw_tree(t).unwrap().len()
        };
    }
    (n[0], n[1], n[2])
}

#[tokio::test]
async fn expired_tokens_and_idempotency_answers_are_swept_and_live_ones_kept() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await; // logins: refresh token families
    let desk = &clinic.reception.client;
    let new = NewPatient {
        email: "new@test.dev".parse().unwrap(),
        full_name: "Nell New".into(),
        date_of_birth: "1990-01-01".into(),
        phone: "+49 30 1234567".into(),
        insurance_id: None,
        patient_type: PatientType::Outpatient,
        password: None,
    };
    let created = desk.create_patient(&new).await.unwrap(); // an activation token
    assert!(created.activation_token.is_some());
    let req = check_up(clinic.patient.patient_id, clinic.doctor.user_id, utc(16, 9, 0));
    let first = desk.book(&req, Some("key-1")).await.unwrap();

    let store = &app.state().store;
    let (families, resets, answers) = swept_rows(&app).await;
    let held = families + resets + answers;
    assert!(families >= 7 && resets == 1 && answers == 1, "{families} {resets} {answers}");

    assert_eq!(store.sweep_expired(Timestamp::now(), IDEMPOTENCY_TTL).await.unwrap(), 0, "nothing has expired yet");
    assert_eq!(desk.book(&req, Some("key-1")).await.unwrap().id, first.id, "the answer still replays");

    let later = Timestamp::now() + SignedDuration::from_hours(25);
    assert_eq!(store.sweep_expired(later, IDEMPOTENCY_TTL).await.unwrap() as usize, held);
    assert_eq!(swept_rows(&app).await, (0, 0, 0));
    assert!(app.state().store.verify_audit().await.unwrap().ok);
}

/// Re-signs a copy of `token`'s claims, changed by `edit`, with the server's secret.
fn resign(app: &TestApp, token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    edit(&mut claims);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = jsonwebtoken::decode_header(token).unwrap().kid;
    let key = jsonwebtoken::EncodingKey::from_secret(&app.state().config.secrets.jwt);
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.http()
        .get(format!("{}{}", app.url(), RouteId::Me.path(&[])))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn signed_tokens_dated_in_the_future_or_living_too_long_are_refused() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = clinic.nurse.client.access_token().await.unwrap();
    let now = Timestamp::now().as_second();
    let hour = 3600;
    assert_eq!(me_status(&app, &resign(&app, &token, |_| {})).await, 200, "re-signed unchanged, it works");
    let not_yet = resign(&app, &token, |c| c["nbf"] = (now + hour).into());
    assert_eq!(me_status(&app, &not_yet).await, 401, "nbf an hour ahead");
    let issued_later = resign(&app, &token, |c| {
        c["iat"] = (now + hour).into();
        c["exp"] = (now + hour + 300).into();
    });
    assert_eq!(me_status(&app, &issued_later).await, 401, "iat an hour ahead");
    let ten_years = resign(&app, &token, |c| c["exp"] = (now + 10 * 365 * 24 * hour).into());
    assert_eq!(me_status(&app, &ten_years).await, 401, "exp ten years away");
    let no_iat = resign(&app, &token, |c| {
        c.as_object_mut().unwrap().remove("iat");
    });
    assert_eq!(me_status(&app, &no_iat).await, 401, "no iat");
}

/// Passwords made of John Smith's own words, however arranged and decorated.
const JOHN_SMITHS_OWN_WORDS: [&str; 4] = ["JohnSmith!2024", "smithjohn5678", "johnsmith1234", "Smith.John#7788"];

#[tokio::test]
async fn passwords_made_of_the_users_own_names_are_refused_at_creation_and_change() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let new_user = |password: &str| NewUser {
        email: "john.smith@test.dev".parse().unwrap(),
        full_name: "John Smith".into(),
        role: Role::Receptionist,
        department: None,
        password: Some(password.into()),
        username: None,
    };
    for pw in JOHN_SMITHS_OWN_WORDS {
        let refused = clinic.admin.client.create_user(&new_user(pw)).await.unwrap_err();
        assert_eq!(refused.status, 422, "{pw} at creation: {refused:?}");
        assert_eq!(refused.errors[0].field, "password", "{pw}");
    }
    let strong = "umbrella-falcon-ginger-93";
    clinic.admin.client.create_user(&new_user(strong)).await.unwrap();
    let john = app.client();
    john.login("john.smith@test.dev", strong).await.unwrap();
    for pw in JOHN_SMITHS_OWN_WORDS {
        let refused = john.change_password(strong, pw).await.unwrap_err();
        assert_eq!(refused.status, 422, "{pw} as a new password: {refused:?}");
    }
    john.change_password(strong, "lantern-quarry-nimbus-58").await.unwrap();
}

#[tokio::test]
async fn an_access_token_ends_with_its_login_at_logout_and_at_a_password_change() {
    // In-process: one server, one store. (Several processes sharing a store
    // need the PostgreSQL backend, which does not exist yet.)
    let app = TestApp::spawn().await;
    app.clinic().await;
    let first = app.login("doc@test.dev").await;
    let second = app.login("doc@test.dev").await;
    let (first_token, second_token) = (first.access_token().await.unwrap(), second.access_token().await.unwrap());
    assert_eq!(me_status(&app, &first_token).await, 200);
    first.logout().await.unwrap();
    assert_eq!(me_status(&app, &first_token).await, 401, "the logged-out login's access token");
    assert_eq!(code(first.verify_token(&first_token).await), 401, "jwt/verify agrees");
    assert_eq!(me_status(&app, &second_token).await, 200, "another login of the same user goes on");

    second.change_password(PASSWORD, "lantern-quarry-nimbus-58").await.unwrap();
    assert_eq!(me_status(&app, &second_token).await, 401, "an access token from before the change");
    let fresh = second.access_token().await.unwrap();
    assert_eq!(me_status(&app, &fresh).await, 200, "the login after the change");
}

// ---- the wire: answers below hyper, slow clients, the connection cap ----

/// An answer read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The status, the contract's headers and a problem+json body agreeing with it.
    fn assert_problem(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        for (name, value) in [
            ("cache-control", "no-store"),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("content-security-policy", "default-src 'none'"),
            ("referrer-policy", "no-referrer"),
            ("content-type", "application/problem+json"),
        ] {
            assert_eq!(self.header(name), Some(value), "{what}: {name}");
        }
        let p: healthsynx_tests::shared::Problem = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(p.status, status, "{what}");
    }
}

fn parse_raw(bytes: &[u8]) -> Raw {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| {
        panic!("no complete answer: {:?}", String::from_utf8_lossy(bytes));
    });
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw { status, headers, body: bytes[end + 4..].to_vec() }
}

/// Sends `request` on a new connection (while reading, so a refusal that
/// comes before the request is all sent is still read) and reads until the
/// server closes.
async fn raw(app: &TestApp, request: Vec<u8>) -> Raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    let (mut rx, mut tx) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = tx.write_all(&request).await;
        tx
    });
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), rx.read_to_end(&mut answer)).await.unwrap().unwrap();
    drop(writer.await);
    parse_raw(&answer)
}

#[tokio::test]
async fn requests_hyper_would_refuse_bare_get_problem_answers_with_the_contracts_headers() {
    let app = TestApp::spawn().await;
    let get = |target: &str, fields: &str| format!("GET {target} HTTP/1.1\r\nHost: x\r\n{fields}\r\n").into_bytes();
    raw(&app, b"HELLO THERE\r\n\r\n".to_vec()).await.assert_problem(400, "bad request line");
    raw(&app, [b"GET /api/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".as_slice()].concat())
        .await
        .assert_problem(400, "invalid UTF-8 in the target");
    let conflicting =
        "POST /api/auth/jwt/create/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    raw(&app, conflicting.into()).await.assert_problem(400, "conflicting Content-Length");
    let many: String = (0..2000).map(|i| format!("x-field-{i}: {i}\r\n")).collect();
    raw(&app, get("/healthz", &many)).await.assert_problem(431, "2 000 header fields");
    let params: Vec<String> = (0..10_000).map(|i| format!("p{i}={i}")).collect();
    raw(&app, get(&format!("/api/users?{}", params.join("&")), "")).await.assert_problem(414, "10 000 parameters");

    raw(&app, b"GET /healthz HTTP/1.1\r\n\r\n".to_vec()).await.assert_problem(400, "HTTP/1.1 without Host");
    let two = b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec();
    raw(&app, two).await.assert_problem(400, "two Hosts");
    let old = raw(&app, b"GET /healthz HTTP/1.0\r\n\r\n".to_vec()).await;
    assert_eq!(old.status, 200, "HTTP/1.0 needs no Host: {old:?}");
    assert_eq!(old.header("x-frame-options"), Some("DENY"));

    // A good request first on the same connection: the refusal comes after its answer.
    let two_requests = [get("/healthz", ""), b"BAD\r\n\r\n".to_vec()].concat();
    let mut answers = raw_all(&app, two_requests).await;
    let second = answers.split_off(answers.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    assert!(answers.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&answers));
    let second = String::from_utf8_lossy(&second);
    assert!(second.contains("HTTP/1.1 400") && second.contains("problem+json"), "{second}");

    let metrics = app
        .http()
        .get(format!("{}{}", app.url(), RouteId::Metrics.path(&[])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"healthsynx_protocol_errors_total{status="431"}"#), "{metrics}");
}

/// Every byte the server sends on one connection for `request`.
async fn raw_all(app: &TestApp, request: Vec<u8>) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.unwrap().unwrap();
    answer
}

#[tokio::test]
async fn answers_refused_below_hyper_carry_hsts_under_tls() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, ca) = tls_files(certs.path());
    let app = TestApp::spawn_with(|c| c.tls = Some((cert, key))).await;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut req = client.get(format!("{}/healthz", app.url()));
    for i in 0..150 {
        req = req.header(format!("x-field-{i}"), "1");
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 431);
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

/// Ten slow or silent connections; each must be closed within `within`.
#[tokio::test]
async fn slow_and_silent_clients_are_timed_out_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(|c| {
        c.connections.header_timeout = Duration::from_secs(1);
        c.connections.body_timeout = Duration::from_secs(2);
        c.connections.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let body = "POST /api/auth/jwt/create/ HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n";
    let mut clients = Vec::new();
    for i in 0..10 {
        let stream = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
        let (mut rx, mut tx) = stream.into_split();
        // 0–3 trickle header lines, 4–6 trickle a body byte, 7–9 send nothing.
        let (first, then): (String, &'static [u8]) = match i {
            0..=3 => ("GET /healthz HTTP/1.1\r\nHost: x\r\n".into(), b"x-slow: 1\r\n"),
            4..=6 => (body.into(), b"a"),
            _ => (String::new(), b""),
        };
        let writer = tokio::spawn(async move {
            let _ = tx.write_all(first.as_bytes()).await;
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if !then.is_empty() && tx.write_all(then).await.is_err() {
                    break;
                }
            }
            tx
        });
        let reader = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut got = Vec::new();
            let ended = tokio::time::timeout(Duration::from_secs(6), rx.read_to_end(&mut got)).await.is_ok();
            (ended, started.elapsed(), got)
        });
        clients.push((i, writer, reader));
    }
    // Meanwhile the server answers others.
    for _ in 0..5 {
        let r = app.http().get(format!("{}/healthz", app.url())).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, writer, reader) in clients {
        let (ended, took, got) = reader.await.unwrap();
        writer.abort();
        assert!(ended, "connection {i} still open after 6 s");
        assert!(took < Duration::from_secs(5), "connection {i} took {took:?}");
        if i <= 3 {
            parse_raw(&got).assert_problem(408, "a head that trickles");
        }
        if i >= 7 {
            assert!(got.is_empty(), "a silent connection is closed without an answer");
        }
    }

    // A kept-alive connection is closed once it has been idle long enough.
    let mut stream = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let answered = std::time::Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(4), stream.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(rest, 0, "closed");
    assert!(answered.elapsed() >= Duration::from_millis(900), "not before the idle timeout");

    let metrics = app
        .http()
        .get(format!("{}{}", app.url(), RouteId::Metrics.path(&[])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for phase in ["header", "body", "idle"] {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(&format!("healthsynx_connections_timed_out_total{{phase=\"{phase}\"}}")))
            .unwrap();
        assert_ne!(line.rsplit(' ').next(), Some("0"), "{line}");
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503_and_counted() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::spawn_with(|c| c.connections.max_connections = 2).await;
    let held = [
        tokio::net::TcpStream::connect(app.server.addr).await.unwrap(),
        tokio::net::TcpStream::connect(app.server.addr).await.unwrap(),
    ];
    // Both are accepted before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer)).await.unwrap().unwrap();
    parse_raw(&answer).assert_problem(503, "over the cap");
    drop(held);
    let metrics = async {
        loop {
            if let Ok(r) = app.http().get(format!("{}{}", app.url(), RouteId::Metrics.path(&[]))).send().await {
                return r.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let metrics = tokio::time::timeout(Duration::from_secs(5), metrics).await.unwrap();
    let refused = metrics.lines().find(|l| l.starts_with("healthsynx_connections_refused_total ")).unwrap();
    assert_ne!(refused, "healthsynx_connections_refused_total 0");
}
