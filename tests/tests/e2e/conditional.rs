//! Conditional reads and compressed answers: `ETag`, `If-None-Match` → `304`,
//! and `br`/`gzip` bodies that a real decoder (reqwest's) reads back.

use healthsynx_tests::shared::api::{AuditQuery, PatientPatch, RouteId};
use healthsynx_tests::{Clinic, TestApp, utc};

use crate::support::book;

/// A calendar request of the doctor's day 3, as the receptionist.
async fn calendar_request(app: &TestApp, clinic: &Clinic, http: &reqwest::Client) -> reqwest::RequestBuilder {
    let token = clinic.reception.client.access_token().await.unwrap();
    let url = format!("{}{}", app.url(), RouteId::Calendar.path(&[clinic.doctor.user_id]));
    http.get(url).bearer_auth(token).query(&[("from", utc(3, 0, 0).to_string()), ("to", utc(4, 0, 0).to_string())])
}

async fn calendar_reads(clinic: &Clinic) -> usize {
    let q = AuditQuery { action: Some("calendar.read".into()), limit: Some(500), ..Default::default() };
    clinic.admin.client.audit(&q).await.unwrap().items.len()
}

/// A client that neither asks for nor decodes compressed answers.
fn plain_http() -> reqwest::Client {
    reqwest::Client::builder().no_gzip().no_brotli().build().unwrap()
}

#[tokio::test]
async fn an_unchanged_calendar_answers_304_and_a_booking_changes_its_etag() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let http = plain_http();
    for hh in [9, 10, 11] {
        book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, hh, 0)).await.unwrap();
    }
    let first = calendar_request(&app, &clinic, &http).await.send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let etag = first.headers().get("etag").expect("a calendar carries an ETag").to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "a strong ETag: {etag}");
    let body = first.bytes().await.unwrap();

    let reads = calendar_reads(&clinic).await;
    let again = calendar_request(&app, &clinic, &http).await.header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(again.headers().get("etag").unwrap().to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty(), "a 304 has no body");
    assert_eq!(calendar_reads(&clinic).await, reads + 1, "a 304 is audited like the read it answers");
    let listed = calendar_request(&app, &clinic, &http)
        .await
        .header("if-none-match", format!("\"nope\", W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 304, "a list with the weak form matches too");

    book(&clinic.reception.client, clinic.patient2.patient_id, clinic.doctor.user_id, utc(3, 14, 0)).await.unwrap();
    let changed = calendar_request(&app, &clinic, &http).await.header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(changed.status().as_u16(), 200, "a booking in the range changes the calendar");
    let new_etag = changed.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_ne!(changed.bytes().await.unwrap(), body);

    // A versioned object's ETag stays its version, the one If-Match takes.
    let token = clinic.reception.client.access_token().await.unwrap();
    let a =
        book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 15, 0)).await.unwrap();
    let url = format!("{}{}", app.url(), RouteId::GetAppointment.path(&[a.id]));
    let got = http.get(&url).bearer_auth(&token).header("if-none-match", "\"1\"").send().await.unwrap();
    assert_eq!(got.status().as_u16(), 304);
    assert_eq!(got.headers().get("etag").unwrap(), "\"1\"");
}

#[tokio::test]
async fn answers_over_a_kibibyte_come_compressed_when_asked_and_decode_to_the_same_json() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    for hh in 8..16 {
        book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, hh, 0)).await.unwrap();
    }
    let plain = plain_http();
    let identity = calendar_request(&app, &clinic, &plain).await.send().await.unwrap();
    assert!(identity.headers().get("content-encoding").is_none(), "nothing compressed unasked");
    let identity = identity.bytes().await.unwrap();
    assert!(identity.len() > 1024, "the calendar is {} bytes", identity.len());
    let json: serde_json::Value = serde_json::from_slice(&identity).unwrap();

    for coding in ["br", "gzip"] {
        let raw = calendar_request(&app, &clinic, &plain).await.header("accept-encoding", coding).send().await.unwrap();
        assert_eq!(raw.headers().get("content-encoding").unwrap(), coding);
        assert!(raw.headers().get_all("vary").iter().any(|v| v.to_str().unwrap().contains("Accept-Encoding")));
        let wire = raw.bytes().await.unwrap();
        assert!(wire.len() * 3 < identity.len(), "{coding}: {} bytes of {}", wire.len(), identity.len());

        // reqwest's own decoder (async-compression) reads what we sent.
        let decoding = match coding {
            "br" => reqwest::Client::builder().no_gzip().build().unwrap(),
            _ => reqwest::Client::builder().no_brotli().build().unwrap(),
        };
        let decoded = calendar_request(&app, &clinic, &decoding).await.send().await.unwrap();
        let decoded: serde_json::Value = serde_json::from_slice(&decoded.bytes().await.unwrap()).unwrap();
        assert_eq!(decoded, json, "{coding} decodes to the same JSON");
    }
    let refused = calendar_request(&app, &clinic, &plain).await.header("accept-encoding", "br;q=0, gzip;q=0").send();
    assert!(refused.await.unwrap().headers().get("content-encoding").is_none(), "q=0 is a refusal");

    let small = plain
        .get(format!("{}{}", app.url(), RouteId::Me.path(&[])))
        .bearer_auth(clinic.patient.client.access_token().await.unwrap())
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none(), "a small answer goes as it is");
}

/// The tag of a calendar answered `304` without a read must go stale with
/// every change a read would show: a cancellation on it and a patient's new name.
#[tokio::test]
async fn a_kept_calendar_tag_goes_stale_with_a_cancellation_and_a_new_name() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let http = plain_http();
    let a =
        book(&clinic.reception.client, clinic.patient.patient_id, clinic.doctor.user_id, utc(3, 9, 0)).await.unwrap();
    let etag_of = |r: &reqwest::Response| r.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    let first = calendar_request(&app, &clinic, &http).await.send().await.unwrap();
    let etag = etag_of(&first);
    let held = calendar_request(&app, &clinic, &http).await.header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(held.status().as_u16(), 304);

    clinic.reception.client.cancel(a.id, "called").await.unwrap();
    let after_cancel =
        calendar_request(&app, &clinic, &http).await.header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(after_cancel.status().as_u16(), 200, "a cancellation changes the calendar");
    let etag = etag_of(&after_cancel);

    let rename = PatientPatch { full_name: Some("Paula Renamed".into()), ..Default::default() };
    clinic.reception.client.patch_patient(clinic.patient.patient_id, &rename).await.unwrap();
    let renamed = calendar_request(&app, &clinic, &http).await.header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(renamed.status().as_u16(), 200, "a new name changes the calendar");
    assert!(String::from_utf8(renamed.bytes().await.unwrap().to_vec()).unwrap().contains("Paula Renamed"));
}
