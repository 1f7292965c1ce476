//! Login, tokens, refresh rotation, logout, password change and reset.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use healthsynx_server::crypto::token::{Claims, TokenType};
use healthsynx_tests::shared::api::{NewUser, RouteId};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{Problem, Role};
use healthsynx_tests::{PASSWORD, TestApp};
use jiff::Timestamp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::support::{login_attempt, status};

async fn raw_login(app: &TestApp, email: &str, password: &str) -> (u16, Problem) {
    let (status, _, problem) = login_attempt(app, email, password).await;
    (status, problem)
}

async fn refresh_status(app: &TestApp, refresh: &str) -> u16 {
    let url = format!("{}{}", app.url(), RouteId::JwtRefresh.path(&[]));
    let resp = app.http().post(url).json(&serde_json::json!({"refresh": refresh})).send().await.unwrap();
    resp.status().as_u16()
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
async fn login_works_and_me_names_the_user() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let me = clinic.doctor.client.me().await.unwrap();
    assert_eq!(me.user.email, "doc@test.dev");
    assert_eq!(me.user.role, Role::Doctor);
    assert_eq!(me.user.department.as_deref(), Some("cardiology"));
    let me = clinic.patient.client.me().await.unwrap();
    assert_eq!(me.patient.unwrap().id, clinic.patient.patient_id);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_give_identical_401_bodies() {
    let app = TestApp::spawn().await;
    app.clinic().await;
    let wrong = raw_login(&app, "doc@test.dev", "not the password at all").await;
    let unknown = raw_login(&app, "nobody@test.dev", "not the password at all").await;
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in_or_use_earlier_tokens() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = clinic.nurse.client.access_token().await.unwrap();
    // Used once first, so the server has the account at hand when it changes.
    assert_eq!(me_status(&app, &token).await, 200);
    clinic.admin.client.deactivate_user(clinic.nurse.user_id).await.unwrap();
    assert_eq!(raw_login(&app, "nurse@test.dev", PASSWORD).await.0, 401);
    assert_eq!(me_status(&app, &token).await, 401);
    assert_eq!(status(clinic.nurse.client.refresh().await, "refresh"), 401);
    clinic.admin.client.activate_user(clinic.nurse.user_id).await.unwrap();
    assert_eq!(raw_login(&app, "nurse@test.dev", PASSWORD).await.0, 200);
}

fn claims_of(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(claims: &impl serde::Serialize, secret: &[u8], kid: Option<String>) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid;
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

#[tokio::test]
async fn forged_expired_and_misused_tokens_are_401() {
    let app = TestApp::spawn_with(|c| c.access_ttl = 1).await;
    let clinic = app.clinic().await;
    let good = clinic.admin.client.access_token().await.unwrap();
    assert_eq!(me_status(&app, &good).await, 200);
    let secret = app.state().config.secrets.jwt.clone();
    let kid = jsonwebtoken::decode_header(&good).unwrap().kid;
    let claims = claims_of(&good);

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = good.split('.').nth(1).unwrap();
    let alg_none = format!("{none_header}.{payload}.");
    let other_key = sign(&claims, b"another secret that is at least 32 bytes long", kid.clone());
    let mut tampered_claims = serde_json::to_value(&claims).unwrap();
    tampered_claims["role"] = "admin".into();
    tampered_claims["sub"] = clinic.patient.user_id.to_string().into();
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims).unwrap());
        parts.join(".")
    };
    let refresh = clinic.admin.client.refresh_token().await.unwrap();
    let mut wrong_aud = claims.clone();
    wrong_aud.aud = "someone-else".into();
    let wrong_aud = sign(&wrong_aud, &secret, kid.clone());
    let mut wrong_iss = claims.clone();
    wrong_iss.iss = "evil".into();
    let wrong_iss = sign(&wrong_iss, &secret, kid.clone());
    let mut as_refresh = claims.clone();
    as_refresh.typ = TokenType::Refresh;
    let typ_refresh = sign(&as_refresh, &secret, kid.clone());
    let hs512 = {
        let header = Header { kid: kid.clone(), ..Header::new(Algorithm::HS512) };
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret)).unwrap()
    };
    for (what, token) in [
        ("alg none", alg_none),
        ("other key", other_key),
        ("tampered payload", tampered),
        ("refresh as access", refresh),
        ("wrong aud", wrong_aud),
        ("wrong iss", wrong_iss),
        ("typ refresh", typ_refresh),
        ("HS512", hs512),
        ("garbage", "abc.def.ghi".into()),
    ] {
        assert_eq!(me_status(&app, &token).await, 401, "{what}");
    }
    // The access lifetime is one second here.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(me_status(&app, &good).await, 401, "expired");
    assert!(claims.exp <= Timestamp::now().as_second());
}

#[tokio::test]
async fn the_client_refreshes_by_itself_when_the_access_token_expires() {
    let app = TestApp::spawn_with(|c| c.access_ttl = 1).await;
    let clinic = app.clinic().await;
    let c = &clinic.reception.client;
    let before = c.refresh_token().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(c.me().await.unwrap().user.email, "desk@test.dev");
    assert_ne!(c.refresh_token().await.unwrap(), before, "the client rotated its tokens");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_an_old_token_ends_the_login() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let c = &clinic.reception.client;
    let first = c.refresh_token().await.unwrap();
    c.refresh().await.unwrap();
    let second = c.refresh_token().await.unwrap();
    assert_ne!(first, second);
    // A thief replays the first refresh token: refused, and the family dies.
    assert_eq!(refresh_status(&app, &first).await, 401);
    assert_eq!(refresh_status(&app, &second).await, 401, "the newest token of the family is dead too");
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let refresh = clinic.doctor.client.refresh_token().await.unwrap();
    clinic.doctor.client.logout().await.unwrap();
    assert_eq!(refresh_status(&app, &refresh).await, 401);
}

#[tokio::test]
async fn after_a_password_change_old_tokens_fail_and_the_new_password_works() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let c = &clinic.doctor.client;
    let old_access = c.access_token().await.unwrap();
    let old_refresh = c.refresh_token().await.unwrap();
    let new_password = "quartz-lagoon-pepper-ember";
    assert_eq!(status(c.change_password("wrong current password", new_password).await, "wrong current"), 422);
    assert_eq!(status(c.change_password(PASSWORD, "short").await, "weak"), 422);
    assert_eq!(me_status(&app, &old_access).await, 200);
    c.change_password(PASSWORD, new_password).await.unwrap();
    assert_eq!(me_status(&app, &old_access).await, 401);
    assert_eq!(refresh_status(&app, &old_refresh).await, 401);
    assert_eq!(raw_login(&app, "doc@test.dev", PASSWORD).await.0, 401);
    let fresh = Client::new(&app.url()).unwrap();
    fresh.login("doc@test.dev", new_password).await.unwrap();
    assert!(c.me().await.is_ok(), "the changing client logged in again");
}

#[tokio::test]
async fn an_admin_issued_reset_token_works_once_within_the_hour() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = clinic.admin.client.issue_password_reset(clinic.nurse.user_id).await.unwrap();
    let left = token.expires_at.duration_since(Timestamp::now()).as_secs();
    assert!((3590..=3600).contains(&left), "{left}");
    let anon = app.client();
    assert_eq!(status(anon.confirm_password_reset(&token.token, "123456789012345").await, "digits"), 422);
    anon.confirm_password_reset(&token.token, "saffron-glacier-nebula-88").await.unwrap();
    assert_eq!(status(anon.confirm_password_reset(&token.token, "another-fine-passphrase-1").await, "reuse"), 401);
    assert_eq!(status(anon.confirm_password_reset("made-up-token", "another-fine-passphrase-1").await, "bogus"), 401);
    anon.login("nurse@test.dev", "saffron-glacier-nebula-88").await.unwrap();
}

#[tokio::test]
async fn passwords_must_be_long_strong_and_not_like_the_user() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let new = |password: &str| NewUser {
        email: "margaret.hamilton@test.dev".parse().unwrap(),
        full_name: "Margaret Hamilton".into(),
        role: Role::Receptionist,
        department: None,
        password: Some(password.into()),
        username: None,
    };
    for weak in ["short1", "123456789012345", "password12345", "margarethamilton", "hamilton.margaret"] {
        let p = clinic.admin.client.create_user(&new(weak)).await.expect_err(weak);
        assert_eq!(p.status, 422, "{weak}");
        assert_eq!(p.errors[0].field, "password", "{weak}");
    }
    clinic.admin.client.create_user(&new("violet-anchor-tundra-58")).await.unwrap();
}
