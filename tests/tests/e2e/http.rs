//! The HTTP surface: problem+json for every rejection, headers, slashes, CORS.

use healthsynx_tests::TestApp;
use healthsynx_tests::shared::Problem;
use healthsynx_tests::shared::api::{RouteId, UserQuery};

async fn user_count(clinic: &healthsynx_tests::Clinic) -> usize {
    clinic.admin.client.users(&UserQuery { limit: Some(500), ..Default::default() }).await.unwrap().items.len()
}

async fn expect_problem(resp: reqwest::Response, want: u16, what: &str) {
    assert_eq!(resp.status().as_u16(), want, "{what}");
    let ct = resp.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json", "{what}");
    let p: Problem = resp.json().await.unwrap();
    assert_eq!(p.status, want, "{what}");
    assert!(!p.title.is_empty());
}

#[tokio::test]
async fn bad_requests_get_problem_answers_and_change_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = clinic.admin.client.access_token().await.unwrap();
    let before = user_count(&clinic).await;
    let url = format!("{}{}", app.url(), RouteId::ListUsers.path(&[]));
    let http = app.http();
    let post =
        |body: Vec<u8>| http.post(&url).bearer_auth(&token).header("content-type", "application/json").body(body);

    expect_problem(post(b"{\"email\": ".to_vec()).send().await.unwrap(), 400, "malformed JSON").await;
    let unknown = br#"{"email":"u@test.dev","full_name":"U V","role":"receptionist","shoe_size":44}"#.to_vec();
    expect_problem(post(unknown).send().await.unwrap(), 400, "unknown field").await;
    let mut big = br#"{"email":"u@test.dev","full_name":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 65 * 1024));
    big.extend(br#"","role":"receptionist"}"#);
    expect_problem(post(big).send().await.unwrap(), 413, "65 KiB body").await;
    let ok_body = br#"{"email":"u@test.dev","full_name":"U V","role":"receptionist"}"#.to_vec();
    expect_problem(http.post(&url).body(ok_body.clone()).send().await.unwrap(), 401, "no Authorization").await;
    let garbage = http.post(&url).header("authorization", "Bearer nonsense").body(ok_body.clone());
    expect_problem(garbage.send().await.unwrap(), 401, "garbage bearer").await;
    let basic = http.post(&url).header("authorization", "Basic YTpi").body(ok_body);
    expect_problem(basic.send().await.unwrap(), 401, "wrong scheme").await;
    expect_problem(http.get(format!("{}/api/nowhere", app.url())).send().await.unwrap(), 404, "unknown route").await;
    let wrong_method =
        http.delete(format!("{}{}", app.url(), RouteId::Me.path(&[]))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(wrong_method.headers().get("allow").unwrap(), "GET");
    expect_problem(wrong_method, 405, "wrong method").await;
    let bad_query = http.get(format!("{url}?limit=9999")).bearer_auth(&token).send().await.unwrap();
    expect_problem(bad_query, 422, "limit too big").await;
    let unknown_query = http.get(format!("{url}?colour=red")).bearer_auth(&token).send().await.unwrap();
    expect_problem(unknown_query, 400, "unknown query parameter").await;
    let bad_id = http.get(format!("{url}/not-a-uuid")).bearer_auth(&token).send().await.unwrap();
    expect_problem(bad_id, 404, "malformed id").await;

    assert_eq!(user_count(&clinic).await, before, "nothing was written");
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_paths_take_a_trailing_slash() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let token = clinic.patient.client.access_token().await.unwrap();
    for p in ["/api/me", "/api/me/", "/healthz", "/healthz/", "/api/nowhere"] {
        let r = app.http().get(format!("{}{p}", app.url())).bearer_auth(&token).send().await.unwrap();
        if !p.contains("nowhere") {
            assert_eq!(r.status().as_u16(), 200, "{p}");
        }
        let h = r.headers();
        assert_eq!(h.get("cache-control").unwrap(), "no-store", "{p}");
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(h.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(h.get("content-security-policy").unwrap(), "default-src 'none'");
        assert_eq!(h.get("referrer-policy").unwrap(), "no-referrer");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS without TLS");
        assert_eq!(h.get("x-request-id").unwrap().len(), 36, "a request id on every answer");
    }
    let ready = app.http().get(format!("{}{}", app.url(), RouteId::Readyz.path(&[]))).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

#[tokio::test]
async fn only_listed_origins_get_cors_headers() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://clinic.example".into()]).await;
    let url = format!("{}{}", app.url(), RouteId::JwtCreate.path(&[]));
    let listed = app
        .http()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://clinic.example")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 204);
    assert_eq!(listed.headers().get("access-control-allow-origin").unwrap(), "https://clinic.example");
    assert!(listed.headers().get("access-control-allow-methods").unwrap().to_str().unwrap().contains("POST"));
    let other = app
        .http()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other.headers().get("access-control-allow-methods").is_none());
    let get =
        app.http().get(format!("{}/healthz", app.url())).header("origin", "https://evil.example").send().await.unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    let _ = app.http().get(format!("{}/healthz", app.url())).send().await.unwrap();
    let text = app
        .http()
        .get(format!("{}{}", app.url(), RouteId::Metrics.path(&[])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"healthsynx_requests_total{route="GET /healthz",status="200"}"#), "{text}");
    assert!(text.contains("healthsynx_login_failures_total"));
}
