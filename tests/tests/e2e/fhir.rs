//! The FHIR R4 API, read back by real FHIR model libraries (Python's
//! `fhir.resources`, its R4B models, and `fhirclient`, generated from FHIR
//! 4.0.1): every resource and Bundle the demo clinic answers with
//! validates; searches find what the native API finds; `_count` pages
//! follow `next` links; what is out of scope is a `404` OperationOutcome;
//! the native audit entries are written; no reason ever leaves.

use std::collections::{BTreeSet, HashMap};

use healthsynx_server::demo;
use healthsynx_tests::shared::api::{AppointmentQuery, AuditQuery, PatientQuery};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{AppointmentStatus, Role};
use healthsynx_tests::{SLOT, TestApp, all_appointments, utc};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{book, put_visit, python};

/// Checks each FHIR JSON object with both libraries; panics naming the
/// first that fails and why.
fn validate(resources: &[Value]) {
    let script = r#"
import json, sys
from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.fhirelementfactory import FHIRElementFactory
items = json.load(sys.stdin)
for i, r in enumerate(items):
    kind = r.get('resourceType')
    try:
        get_fhir_model_class(kind).model_validate(r)
    except Exception as e:
        sys.exit(f'fhir.resources (R4B) refused item {i} ({kind}): {e}\n{json.dumps(r)[:2000]}')
    try:
        # strict: an unknown or missing element, or a malformed value, is an error.
        FHIRElementFactory.instantiate(kind, r)
    except Exception as e:
        sys.exit(f'fhirclient (R4 4.0.1) refused item {i} ({kind}): {e}\n{json.dumps(r)[:2000]}')
print(len(items))
"#;
    let what = "FHIR validation (pip install fhir.resources==8.3.0 fhirclient==4.4.0)";
    let out = python(script, &serde_json::to_vec(resources).unwrap(), what);
    assert_eq!(String::from_utf8_lossy(&out).trim(), resources.len().to_string());
}

/// The resources of a Bundle's entries.
fn resources(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset");
    bundle["entry"].as_array().map_or(Vec::new(), |e| e.iter().map(|e| e["resource"].clone()).collect())
}

/// The ids of a Bundle's entries, in order.
fn ids(bundle: &Value) -> Vec<String> {
    resources(bundle).iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

fn next_link(bundle: &Value) -> Option<String> {
    let links = bundle["link"].as_array()?;
    links.iter().find(|l| l["relation"] == "next").map(|l| l["url"].as_str().unwrap().to_owned())
}

/// Every page of a search, following `next`: the Bundles.
async fn all_pages(c: &Client, first: Value) -> Vec<Value> {
    let mut pages = vec![first];
    while let Some(next) = next_link(pages.last().unwrap()) {
        pages.push(c.fhir_link(&next).await.unwrap());
        assert!(pages.len() < 200, "a search that never ends");
    }
    pages
}

fn id_set<T: ToString>(ids: impl IntoIterator<Item = T>) -> BTreeSet<String> {
    ids.into_iter().map(|i| i.to_string()).collect()
}

/// A raw GET: status, content type and the JSON body.
async fn raw(app: &TestApp, token: Option<&str>, path: &str) -> (u16, String, Value) {
    raw_method(app, reqwest::Method::GET, token, path).await
}

async fn raw_method(app: &TestApp, method: reqwest::Method, token: Option<&str>, path: &str) -> (u16, String, Value) {
    let mut rb = app.http().request(method, format!("{}{path}", app.url()));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let kind = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = resp.bytes().await.unwrap();
    (status, kind, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Asserts an OperationOutcome answer of `status`.
fn assert_outcome((status, kind, body): &(u16, String, Value), want: u16, what: &str) {
    assert_eq!(*status, want, "{what}: {body}");
    assert_eq!(kind, "application/fhir+json", "{what}");
    assert_eq!(body["resourceType"], "OperationOutcome", "{what}: {body}");
    assert_eq!(body["issue"][0]["severity"], "error", "{what}");
}

async fn demo_login(app: &TestApp, role: Role) -> Client {
    let login = demo::LOGINS.iter().find(|l| l.role == role).unwrap();
    let c = Client::new(&app.url()).unwrap();
    c.login(login.email, login.password).await.unwrap();
    c
}

/// What one caller of the demo clinic gets from every FHIR route, and the
/// Appointment resources among it.
async fn everything_for(c: &Client, out: &mut Vec<Value>) -> Vec<Value> {
    out.push(c.fhir_metadata().await.unwrap());
    for page in all_pages(c, c.fhir_search_patients(&[("_count", "200")]).await.unwrap()).await {
        for p in resources(&page).iter().take(3) {
            out.push(c.fhir_patient(p["id"].as_str().unwrap().parse().unwrap()).await.unwrap());
        }
        out.push(page);
    }
    let doctors = c.fhir_search_practitioners(&[]).await.unwrap();
    let from = format!("ge{}", utc(1, 0, 0));
    let to = format!("lt{}", utc(3, 0, 0));
    for d in resources(&doctors) {
        let id: Uuid = d["id"].as_str().unwrap().parse().unwrap();
        out.push(c.fhir_practitioner(id).await.unwrap());
        out.push(c.fhir_schedule(id).await.unwrap());
        let actor = format!("Practitioner/{id}");
        out.push(c.fhir_search_schedules(&[("actor", &actor)]).await.unwrap());
        let schedule = format!("Schedule/{id}");
        out.push(c.fhir_search_slots(&[("schedule", &schedule), ("start", &from), ("start", &to)]).await.unwrap());
    }
    out.push(doctors);
    out.push(c.fhir_search_schedules(&[]).await.unwrap());
    let mut appointments = Vec::new();
    for page in all_pages(c, c.fhir_search_appointments(&[("_count", "200")]).await.unwrap()).await {
        appointments.extend(resources(&page));
        out.push(page);
    }
    for a in appointments.iter().take(5) {
        out.push(c.fhir_appointment(a["id"].as_str().unwrap().parse().unwrap()).await.unwrap());
    }
    appointments
}

#[tokio::test]
async fn every_fhir_answer_for_the_demo_clinic_validates_and_carries_no_reason() {
    let app = TestApp::spawn_with(|c| c.mfa_required_roles.clear()).await;
    demo::seed(app.state()).await.unwrap();
    let admin = demo_login(&app, Role::Admin).await;
    let native = all_appointments(&admin).await;
    let reasons: HashMap<String, String> = native.iter().map(|a| (a.id.to_string(), a.reason.clone())).collect();
    let mut answers = Vec::new();
    for role in [Role::Admin, Role::Receptionist, Role::Doctor, Role::Nurse, Role::Patient] {
        let c = demo_login(&app, role).await;
        let appointments = everything_for(&c, &mut answers).await;
        assert!(!appointments.is_empty(), "{role:?} sees appointments");
        if role == Role::Admin {
            let fhir: Vec<&str> = appointments.iter().map(|a| a["id"].as_str().unwrap()).collect();
            let ours: Vec<String> = native.iter().map(|a| a.id.to_string()).collect();
            assert_eq!(fhir, ours, "the admin's FHIR search is the native list, in its order");
        }
        for a in &appointments {
            let text = a.to_string();
            let reason = &reasons[a["id"].as_str().unwrap()];
            assert!(reason.is_empty() || !text.contains(reason.as_str()), "the reason {reason:?} in {text}");
            for field in ["reasonCode", "reasonReference", "comment", "description", "patientInstruction"] {
                assert!(a.get(field).is_none(), "{field} in {text}");
            }
        }
    }
    // The errors are resources too.
    let (_, _, not_found) = raw(&app, Some(&admin.access_token().await.unwrap()), "/fhir/r4/Patient/nope").await;
    let (_, _, unauthorized) = raw(&app, None, "/fhir/r4/Appointment").await;
    answers.extend([not_found, unauthorized]);
    assert!(answers.len() > 100, "{}", answers.len());
    validate(&answers);
}

#[tokio::test]
async fn searches_by_patient_practitioner_date_and_status_find_what_the_native_api_finds() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc, doc2) = (&clinic.reception.client, clinic.doctor.user_id, clinic.doctor2.user_id);
    let (pid, pid2) = (clinic.patient.patient_id, clinic.patient2.patient_id);
    for (patient, doctor, start) in [
        (pid, doc, utc(2, 9, 0)),
        (pid, doc, utc(3, 9, 0)),
        (pid2, doc, utc(3, 10, 0)),
        (pid, doc2, utc(4, 9, 0)),
        (pid2, doc2, utc(5, 9, 0) + SLOT),
    ] {
        book(desk, patient, doctor, start).await.unwrap();
    }
    let cancelled = book(desk, pid2, doc, utc(6, 9, 0)).await.unwrap();
    desk.cancel(cancelled.id, "").await.unwrap();
    put_visit(&app, &clinic, pid, (utc(-1, 9, 0), SLOT), AppointmentStatus::Completed, None).await;

    let (from, to) = (utc(3, 0, 0), utc(5, 0, 0));
    let (ge, lt) = (format!("ge{from}"), format!("lt{to}"));
    let (patient_ref, doctor_ref) = (format!("Patient/{pid}"), format!("Practitioner/{doc}"));
    let cases: Vec<(Vec<(&str, &str)>, AppointmentQuery)> = vec![
        (vec![("patient", &patient_ref)], AppointmentQuery { patient_id: Some(pid), ..Default::default() }),
        (vec![("practitioner", &doctor_ref)], AppointmentQuery { doctor_id: Some(doc), ..Default::default() }),
        (vec![("date", &ge), ("date", &lt)], AppointmentQuery { from: Some(from), to: Some(to), ..Default::default() }),
        (
            vec![("patient", &patient_ref), ("practitioner", &doctor_ref), ("date", &ge)],
            AppointmentQuery { patient_id: Some(pid), doctor_id: Some(doc), from: Some(from), ..Default::default() },
        ),
        (
            vec![("status", "cancelled")],
            AppointmentQuery { status: Some(AppointmentStatus::Cancelled), ..Default::default() },
        ),
        (
            vec![("status", "fulfilled")],
            AppointmentQuery { status: Some(AppointmentStatus::Completed), ..Default::default() },
        ),
    ];
    let callers = [
        ("receptionist", desk),
        ("doctor", &clinic.doctor.client),
        ("nurse", &clinic.nurse2.client),
        ("patient", &clinic.patient.client),
    ];
    let mut answers = Vec::new();
    for (who, c) in callers {
        for (params, q) in &cases {
            let bundle = c.fhir_search_appointments(params).await.unwrap();
            let native = c.appointments(q).await.unwrap().items;
            assert_eq!(ids(&bundle), native.iter().map(|a| a.id.to_string()).collect::<Vec<_>>(), "{who} {params:?}");
            answers.push(bundle);
        }
    }
    // The bare id works as well as the reference, and dates as well as instants.
    let bare = desk.fhir_search_appointments(&[("patient", &pid.to_string())]).await.unwrap();
    assert_eq!(ids(&bare), ids(&desk.fhir_search_appointments(&[("patient", &patient_ref)]).await.unwrap()));
    let day = (utc(3, 12, 0)).to_zoned(app.state().config.tz.clone()).date();
    let by_day = desk.fhir_search_appointments(&[("date", &format!("ge{day}"))]).await.unwrap();
    let start_of_day = day.to_zoned(app.state().config.tz.clone()).unwrap().timestamp();
    let native = desk.appointments(&AppointmentQuery { from: Some(start_of_day), ..Default::default() }).await.unwrap();
    assert_eq!(id_set(ids(&by_day)), id_set(native.items.iter().map(|a| a.id)));

    // A booked appointment as FHIR: its parties, times and status.
    let q = AppointmentQuery { patient_id: Some(pid), doctor_id: Some(doc2), ..Default::default() };
    let a = desk.appointments(&q).await.unwrap().items.remove(0);
    let r = clinic.patient.client.fhir_appointment(a.id).await.unwrap();
    assert_eq!((r["status"].as_str(), r["minutesDuration"].as_i64()), (Some("booked"), Some(30)));
    assert_eq!(r["start"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap(), a.start);
    assert_eq!(r["participant"][0]["actor"]["reference"], format!("Patient/{pid}"));
    assert_eq!(r["participant"][0]["actor"]["display"], a.patient_name.as_str());
    assert_eq!(r["participant"][1]["actor"]["reference"], format!("Practitioner/{doc2}"));
    assert!(!r.to_string().contains("check-up"), "no reason: {r}");
    answers.push(r);
    validate(&answers);
}

#[tokio::test]
async fn count_one_gives_next_links_that_walk_the_native_order() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc, pid) = (&clinic.reception.client, clinic.doctor.user_id, clinic.patient.patient_id);
    for h in [9, 10, 11] {
        book(desk, pid, doc, utc(2, h, 0)).await.unwrap();
    }
    let first = desk.fhir_search_appointments(&[("practitioner", &doc.to_string()), ("_count", "1")]).await.unwrap();
    assert_eq!(ids(&first).len(), 1);
    let next = next_link(&first).expect("a next link after a full page");
    assert!(next.starts_with(&app.url()) && next.contains("_cursor=") && next.contains("_count=1"), "{next}");
    let second = desk.fhir_link(&next).await.unwrap();
    let native = desk.appointments(&AppointmentQuery { doctor_id: Some(doc), ..Default::default() }).await.unwrap();
    let order: Vec<String> = native.items.iter().map(|a| a.id.to_string()).collect();
    assert_eq!([ids(&first), ids(&second)].concat(), order[..2], "the following item");
    let walked: Vec<String> = all_pages(desk, first).await.iter().flat_map(ids).collect();
    assert_eq!(walked, order, "every page, one item each");
    let self_link = second["link"][0]["url"].as_str().unwrap();
    assert_eq!(second["link"][0]["relation"], "self");
    assert_eq!(self_link, next, "a page's self link is how it was asked");

    // The other searches page the same way.
    let patients = desk.fhir_search_patients(&[("_count", "1")]).await.unwrap();
    let native = desk.patients(&PatientQuery::default()).await.unwrap().items;
    let walked: Vec<String> = all_pages(desk, patients).await.iter().flat_map(ids).collect();
    assert_eq!(walked, native.iter().map(|p| p.id.to_string()).collect::<Vec<_>>());
    let doctors = desk.fhir_search_practitioners(&[("_count", "1")]).await.unwrap();
    let walked: Vec<String> = all_pages(desk, doctors).await.iter().flat_map(ids).collect();
    let native = desk.doctors(None).await.unwrap();
    assert_eq!(walked, native.iter().map(|d| d.id.to_string()).collect::<Vec<_>>());
    let schedule = format!("Schedule/{doc}");
    let (ge, lt) = (format!("ge{}", utc(2, 8, 0)), format!("lt{}", utc(2, 13, 0)));
    let slots = [("schedule", schedule.as_str()), ("start", &ge), ("start", &lt), ("_count", "2")];
    let pages = all_pages(desk, desk.fhir_search_slots(&slots).await.unwrap()).await;
    let starts: Vec<jiff::Timestamp> =
        pages.iter().flat_map(resources).map(|s| s["start"].as_str().unwrap().parse().unwrap()).collect();
    let native = desk.slots(doc, &crate::support::range(utc(2, 8, 0), utc(2, 13, 0))).await.unwrap();
    assert_eq!(starts, native.iter().map(|s| s.start).collect::<Vec<_>>(), "the free slots, booked ones left out");
    assert!(pages.len() > 1, "two a page: {}", pages.len());
    validate(&pages);
}

#[tokio::test]
async fn out_of_scope_and_unknown_ids_are_404_outcomes_like_the_native_api() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, doc, pid, pid2) =
        (&clinic.reception.client, clinic.doctor.user_id, clinic.patient.patient_id, clinic.patient2.patient_id);
    let theirs = book(desk, pid2, clinic.doctor2.user_id, utc(2, 9, 0)).await.unwrap();
    let patient = clinic.patient.client.access_token().await.unwrap();
    let doctor = clinic.doctor.client.access_token().await.unwrap();
    let mut outcomes = Vec::new();
    for (who, token, path, native) in [
        ("a patient, another patient", &patient, format!("/fhir/r4/Patient/{pid2}"), format!("/api/patients/{pid2}")),
        (
            "a patient, another's appointment",
            &patient,
            format!("/fhir/r4/Appointment/{}", theirs.id),
            format!("/api/appointments/{}", theirs.id),
        ),
        (
            "a doctor, a patient not in care",
            &doctor,
            format!("/fhir/r4/Patient/{pid2}"),
            format!("/api/patients/{pid2}"),
        ),
        (
            "a doctor, another doctor's appointment",
            &doctor,
            format!("/fhir/r4/Appointment/{}", theirs.id),
            format!("/api/appointments/{}", theirs.id),
        ),
    ] {
        let answer = raw(&app, Some(token), &path).await;
        assert_outcome(&answer, 404, who);
        assert_eq!(raw(&app, Some(token), &native).await.0, 404, "{who}: the native read hides it too");
        outcomes.push(answer.2);
    }
    // The caller's own and in-scope reads work, and say what the native view says.
    let own = clinic.patient.client.fhir_patient(pid).await.unwrap();
    let view = clinic.patient.client.patient(pid).await.unwrap();
    assert_eq!(own["name"][0]["text"], view.full_name.as_str());
    assert_eq!(own["birthDate"], view.date_of_birth.to_string());
    let telecom: Vec<&str> = own["telecom"].as_array().unwrap().iter().map(|t| t["value"].as_str().unwrap()).collect();
    assert_eq!(telecom, [view.phone.as_str(), view.email.as_str()]);
    assert!(!own.to_string().contains(&healthsynx_tests::insurance_of(&clinic.patient.email)), "no insurance id");
    let doc_sees = clinic.doctor2.client.fhir_patient(pid2).await.unwrap();
    assert_eq!(doc_sees["id"], pid2.to_string(), "a doctor reads a patient in their care");

    let admin = clinic.admin.client.access_token().await.unwrap();
    for (what, path) in [
        ("an unknown patient", format!("/fhir/r4/Patient/{}", Uuid::now_v7())),
        ("an unknown appointment", format!("/fhir/r4/Appointment/{}", Uuid::now_v7())),
        ("a nurse is no practitioner", format!("/fhir/r4/Practitioner/{}", clinic.nurse.user_id)),
        ("an unknown schedule", format!("/fhir/r4/Schedule/{}", Uuid::now_v7())),
        ("an id that is not ours", "/fhir/r4/Patient/not-a-uuid".to_owned()),
        ("a resource we do not serve", "/fhir/r4/Observation".to_owned()),
    ] {
        let answer = raw(&app, Some(&admin), &path).await;
        assert_outcome(&answer, 404, what);
        outcomes.push(answer.2);
    }
    for path in ["/fhir/r4/Appointment", "/fhir/r4/Practitioner", &format!("/fhir/r4/Patient/{pid}")] {
        let answer = raw(&app, None, path).await;
        assert_outcome(&answer, 401, path);
        assert_outcome(&raw(&app, Some("not-a-token"), path).await, 401, path);
        outcomes.push(answer.2);
    }
    let schedule = format!("/fhir/r4/Slot?schedule=Schedule/{doc}&start=ge{}&start=lt{}", utc(1, 0, 0), utc(40, 0, 0));
    for (what, path) in [
        ("an unknown parameter", "/fhir/r4/Patient?nam=alice".to_owned()),
        ("a modifier", "/fhir/r4/Patient?name:exact=alice".to_owned()),
        ("an empty value", "/fhir/r4/Patient?name=".to_owned()),
        ("a bad _count", "/fhir/r4/Appointment?_count=0".to_owned()),
        ("a bad date", "/fhir/r4/Appointment?date=ge2026-02-30".to_owned()),
        ("a prefix we do not take", "/fhir/r4/Appointment?date=gt2026-12-01".to_owned()),
        ("a status we do not have", "/fhir/r4/Appointment?status=proposed".to_owned()),
        ("a bad reference", "/fhir/r4/Appointment?patient=Practitioner/x".to_owned()),
        ("a cursor not ours", "/fhir/r4/Appointment?_cursor=not*ours".to_owned()),
        (
            "a slot search without a schedule",
            format!("/fhir/r4/Slot?start=ge{}&start=lt{}", utc(1, 0, 0), utc(2, 0, 0)),
        ),
        ("a range of 39 days", schedule),
        ("a parameter on a read", format!("/fhir/r4/Patient/{pid}?name=x")),
    ] {
        let answer = raw(&app, Some(&admin), &path).await;
        assert_outcome(&answer, 400, what);
        outcomes.push(answer.2);
    }
    let post = raw_method(&app, reqwest::Method::POST, Some(&admin), "/fhir/r4/Patient").await;
    assert_outcome(&post, 405, "a write");
    outcomes.push(post.2);

    // The CapabilityStatement needs no token.
    let (status, kind, metadata) = raw(&app, None, "/fhir/r4/metadata").await;
    assert_eq!((status, kind.as_str()), (200, "application/fhir+json"));
    assert_eq!((metadata["fhirVersion"].as_str(), metadata["kind"].as_str()), (Some("4.0.1"), Some("instance")));
    assert_eq!(metadata["implementation"]["url"], format!("{}/fhir/r4", app.url()));
    outcomes.push(metadata);
    validate(&outcomes);
}

#[tokio::test]
async fn fhir_reads_write_the_native_audit_entries() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, pid) = (&clinic.reception.client, clinic.patient.patient_id);
    let a = book(desk, pid, clinic.doctor.user_id, utc(2, 9, 0)).await.unwrap();
    let doctor = &clinic.doctor.client;
    doctor.fhir_patient(pid).await.unwrap();
    doctor.fhir_appointment(a.id).await.unwrap();
    doctor.fhir_search_appointments(&[("patient", &pid.to_string())]).await.unwrap();
    doctor.fhir_search_patients(&[("name", "paula")]).await.unwrap();
    let me = clinic.doctor.user_id;
    for (action, times) in [("patient.read", 2), ("appointment.read", 1), ("appointment.list", 1)] {
        let q = AuditQuery { action: Some(action.into()), actor_id: Some(me), ..Default::default() };
        let entries = clinic.admin.client.audit(&q).await.unwrap().items;
        assert_eq!(entries.len(), times, "{action}: {entries:?}");
        assert!(entries.iter().all(|e| e.patient_id == Some(pid)), "{action}: {entries:?}");
    }
}
