//! The second factor: TOTP enrolment and login codes checked against an
//! independent implementation (Python's `pyotp`), replays, recovery codes,
//! lockout, and accounts whose role must have a factor.

use healthsynx_tests::shared::Role;
use healthsynx_tests::shared::api::{LoginAnswer, MfaState, MfaStatus, RouteId};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::{PASSWORD, TestApp};
use serde_json::json;

use crate::support::status;

/// The current code of `secret` as `pyotp` computes it.
fn pyotp_now(secret: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import pyotp,sys; print(pyotp.TOTP(sys.argv[1]).now())", secret])
        .output()
        .expect("run python3 (pip install pyotp)");
    assert!(out.status.success(), "pyotp: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Waits until the next 30-second step, so the next code is a new one.
async fn next_step() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let left = 30_000 - (now.as_millis() % 30_000) as u64;
    tokio::time::sleep(std::time::Duration::from_millis(left + 200)).await;
}

/// Enrols and confirms a factor for a logged-in client: its secret and recovery codes.
async fn enrol(c: &Client) -> (String, Vec<String>) {
    let e = c.enrol_totp().await.unwrap();
    assert!(e.otpauth_url.starts_with("otpauth://totp/"), "{}", e.otpauth_url);
    assert!(e.otpauth_url.contains(&format!("secret={}", e.secret)));
    let codes = c.confirm_totp(&pyotp_now(&e.secret)).await.unwrap().recovery_codes;
    assert_eq!(codes.len(), 10);
    (e.secret, codes)
}

/// The `mfa_token` of a password login that wants a code.
async fn mfa_token(c: &Client, email: &str) -> String {
    match c.login(email, PASSWORD).await.unwrap() {
        LoginAnswer::MfaRequired(m) => {
            assert!(m.mfa_required);
            m.mfa_token
        }
        other => panic!("expected mfa_required, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_enrols_confirms_and_logs_in_with_a_code_once() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doc = &clinic.doctor;
    doc.client.enrol_totp().await.unwrap();
    assert_eq!(doc.client.mfa_status().await.unwrap().totp, MfaState::Pending, "not on until confirmed");
    let (secret, _) = enrol(&doc.client).await;
    // A confirmed factor is not enrolled twice.
    assert_eq!(status(doc.client.enrol_totp().await, "second enrolment"), 409);

    next_step().await;
    let c = app.client();
    let token = mfa_token(&c, &doc.email).await;
    assert!(c.user().await.is_none(), "no tokens before the code");
    let code = pyotp_now(&secret);
    let pair = c.verify_mfa(&token, &code).await.unwrap();
    assert_eq!(pair.user.id, doc.user_id);
    assert_eq!(c.me().await.unwrap().user.id, doc.user_id);

    // The same token again, and the same code with a fresh token: both refused.
    assert_eq!(status(c.verify_mfa(&token, &code).await, "used mfa_token"), 401);
    let again = mfa_token(&c, &doc.email).await;
    assert_eq!(status(c.verify_mfa(&again, &code).await, "replayed code"), 401);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(status(c.verify_mfa(&again, wrong).await, "wrong code"), 401);
    assert_eq!(status(c.verify_mfa("not-a-token", &code).await, "unknown mfa_token"), 401);
}

#[tokio::test]
async fn an_expired_mfa_token_is_refused() {
    let app = TestApp::spawn_with(|c| c.mfa_token_ttl = 1).await;
    let clinic = app.clinic().await;
    let (secret, _) = enrol(&clinic.nurse.client).await;
    next_step().await;
    let c = app.client();
    let token = mfa_token(&c, &clinic.nurse.email).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(status(c.verify_mfa(&token, &pyotp_now(&secret)).await, "expired mfa_token"), 401);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_a_factor_can_be_removed() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let who = &clinic.reception;
    let off = MfaStatus { totp: MfaState::Off, recovery_codes_left: 0, required: false };
    assert_eq!(who.client.mfa_status().await.unwrap(), off);
    let (secret, codes) = enrol(&who.client).await;
    assert_eq!(
        who.client.mfa_status().await.unwrap(),
        MfaStatus { totp: MfaState::On, recovery_codes_left: 10, ..off }
    );

    let c = app.client();
    let token = mfa_token(&c, &who.email).await;
    c.verify_mfa(&token, &codes[0].to_uppercase()).await.unwrap();
    let token = mfa_token(&c, &who.email).await;
    assert_eq!(status(c.verify_mfa(&token, &codes[0]).await, "used recovery code"), 401);
    c.verify_mfa(&token, &codes[1]).await.unwrap();
    assert_eq!(c.mfa_status().await.unwrap().recovery_codes_left, 8, "each used code is gone");

    // Removing takes a code too.
    assert_eq!(status(c.remove_totp("123").await, "removal with a wrong code"), 422);
    c.remove_totp(&codes[2]).await.unwrap();
    assert_eq!(c.mfa_status().await.unwrap(), off);
    let _ = secret;
    assert!(app.client().login(&who.email, PASSWORD).await.unwrap().tokens().is_some(), "password alone again");
}

#[tokio::test]
async fn five_wrong_codes_lock_the_account_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let doc = &clinic.doctor2;
    let (secret, _) = enrol(&doc.client).await;
    let c = app.client();
    let token = mfa_token(&c, &doc.email).await;
    for _ in 0..5 {
        assert_eq!(status(c.verify_mfa(&token, "000001").await, "wrong code"), 401);
    }
    // The lockout ended the pending login: even the right code is refused now,
    // and the right password gets the lockout's 429.
    assert_eq!(status(c.verify_mfa(&token, &pyotp_now(&secret)).await, "code after the lockout"), 401);
    assert_eq!(status(c.login(&doc.email, PASSWORD).await, "locked password"), 429);
}

/// The status of `route` called with `token` as the bearer.
async fn with_bearer(app: &TestApp, route: RouteId, token: &str, body: serde_json::Value) -> u16 {
    let method = reqwest::Method::from_bytes(route.method().as_bytes()).unwrap();
    let url = format!("{}{}", app.url(), route.path(&[]));
    app.http().request(method, url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_admin_without_a_factor_gets_no_tokens_when_admins_must_have_one() {
    let app = TestApp::spawn_with(|c| c.mfa_required_roles = vec![Role::Admin]).await;
    let clinic = app.clinic().await;
    // Other roles are not asked.
    assert!(clinic.doctor.client.me().await.is_ok());
    let c = app.client();
    let token = match c.login("admin@test.dev", PASSWORD).await.unwrap() {
        LoginAnswer::EnrolmentRequired(e) => {
            assert!(e.mfa_enrolment_required);
            e.mfa_token
        }
        other => panic!("expected mfa_enrolment_required, got {other:?}"),
    };
    assert!(c.enrolling().await);
    // The enrolment token is good for the two enrolment calls only.
    assert_eq!(with_bearer(&app, RouteId::Me, &token, json!({})).await, 401);
    assert_eq!(with_bearer(&app, RouteId::MfaTotpDelete, &token, json!({"code": "123456"})).await, 401);
    assert_eq!(with_bearer(&app, RouteId::ListSessions, &token, json!({})).await, 401);
    assert_eq!(status(c.me().await, "me with an enrolment token"), 401);

    let e = c.enrol_totp().await.unwrap();
    assert_eq!(with_bearer(&app, RouteId::MfaStatus, &token, json!({})).await, 401, "status is not an enrolment call");
    let codes = c.confirm_totp(&pyotp_now(&e.secret)).await.unwrap();
    assert_eq!(codes.recovery_codes.len(), 10);
    assert!(!c.enrolling().await);
    // Used up by the confirmation.
    assert_eq!(with_bearer(&app, RouteId::MfaTotpCreate, &token, json!({})).await, 401);

    // Now a login asks for a code, and the code gives tokens.
    next_step().await;
    let token = mfa_token(&c, "admin@test.dev").await;
    c.verify_mfa(&token, &pyotp_now(&e.secret)).await.unwrap();
    assert_eq!(c.me().await.unwrap().user.email, "admin@test.dev");
    let status = c.mfa_status().await.unwrap();
    assert_eq!((status.totp, status.required), (MfaState::On, true));
}

#[tokio::test]
async fn second_factor_steps_are_audited_without_codes() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (secret, codes) = enrol(&clinic.nurse2.client).await;
    let c = app.client();
    let token = mfa_token(&c, &clinic.nurse2.email).await;
    c.verify_mfa(&token, &codes[3]).await.unwrap();
    let q = healthsynx_tests::shared::api::AuditQuery { actor_id: Some(clinic.nurse2.user_id), ..Default::default() };
    let entries = clinic.admin.client.audit(&q).await.unwrap().items;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for want in ["mfa.enrol", "mfa.confirm", "auth.mfa_challenge", "auth.mfa_verify"] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    assert!(!app.at_rest_contains(secret.as_bytes()).await, "the TOTP secret is sealed at rest");
    assert!(!app.at_rest_contains(codes[4].as_bytes()).await, "recovery codes are stored hashed");
}
