//! Our views as FHIR R4 (4.0.1) JSON: pure mapping, no reads, no policy.
//! The HTTP side (`http/fhir.rs`) gets each view from the same domain
//! function the native API uses (so scope and audit are theirs) and maps
//! it here.
//!
//! What is left out on purpose: an appointment's reason and any other
//! clinical text (no `reasonCode`, `comment` or `description`), and a
//! patient's insurance id (FHIR keeps it in `Coverage`, which we do not
//! serve).

use jiff::Timestamp;
use serde_json::{Value, json};
use uuid::Uuid;

use healthsynx_shared::{Appointment, AppointmentStatus, Doctor, Patient, Slot};

/// The FHIR version every resource here is written to.
pub const FHIR_VERSION: &str = "4.0.1";

/// When this CapabilityStatement was last changed (its `date`): it changes
/// only with what the server supports, not with every start.
const CAPABILITY_DATE: &str = "2026-12-03";

/// The FHIR code of an appointment status. A held time is an offer the
/// patient has not answered yet, which FHIR calls `pending`.
pub fn status_code(s: AppointmentStatus) -> &'static str {
    match s {
        AppointmentStatus::Held => "pending",
        AppointmentStatus::Scheduled => "booked",
        AppointmentStatus::CheckedIn => "arrived",
        AppointmentStatus::Completed => "fulfilled",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::NoShow => "noshow",
    }
}

/// Every status we answer with, for a search's `status=` (read backwards).
pub const STATUSES: [AppointmentStatus; 6] = [
    AppointmentStatus::Held,
    AppointmentStatus::Scheduled,
    AppointmentStatus::CheckedIn,
    AppointmentStatus::Completed,
    AppointmentStatus::Cancelled,
    AppointmentStatus::NoShow,
];

/// Our status of a FHIR appointment status code, if we have one.
pub fn status_of(code: &str) -> Option<AppointmentStatus> {
    STATUSES.into_iter().find(|s| status_code(*s) == code)
}

/// A reference such as `Patient/<id>`.
pub fn reference(kind: &str, id: Uuid) -> String {
    format!("{kind}/{id}")
}

/// A name as we keep it: one text. Splitting it into given and family
/// names would guess wrong for names like "Jean de la Cour".
fn human_name(full_name: &str) -> Value {
    json!([{ "use": "official", "text": full_name }])
}

/// A patient as the native view shows it to this caller. We keep no
/// gender, so there is none.
pub fn patient(p: &Patient) -> Value {
    let mut telecom = Vec::new();
    if !p.phone.trim().is_empty() {
        telecom.push(json!({ "system": "phone", "value": p.phone }));
    }
    if !p.email.trim().is_empty() {
        telecom.push(json!({ "system": "email", "value": p.email }));
    }
    let mut r = json!({
        "resourceType": "Patient",
        "id": p.id,
        "active": true,
        "name": human_name(&p.full_name),
        "birthDate": p.date_of_birth.to_string(),
    });
    if !telecom.is_empty() {
        r["telecom"] = Value::Array(telecom);
    }
    r
}

/// A doctor of the directory. Only active doctors are in it.
pub fn practitioner(d: &Doctor) -> Value {
    json!({
        "resourceType": "Practitioner",
        "id": d.id,
        "active": true,
        "name": human_name(&d.full_name),
    })
}

/// A doctor's calendar: one Schedule per doctor, with the doctor's id.
pub fn schedule(d: &Doctor) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": d.id,
        "active": true,
        "specialty": [{ "text": d.department }],
        "actor": [{ "reference": reference("Practitioner", d.id), "display": d.full_name }],
    })
}

/// A slot's id: the doctor's id and the start in Unix seconds, which is
/// unique per doctor (two slots of one doctor never start together) and a
/// valid FHIR id (`[A-Za-z0-9\-\.]{1,64}`: 36 + 1 + at most 11 characters).
pub fn slot_id(doctor: Uuid, start: Timestamp) -> String {
    format!("{doctor}-{}", start.as_second())
}

/// A free slot of a doctor's grid.
pub fn slot(doctor: Uuid, s: &Slot) -> Value {
    json!({
        "resourceType": "Slot",
        "id": slot_id(doctor, s.start),
        "schedule": { "reference": reference("Schedule", doctor) },
        "status": "free",
        "start": s.start.to_string(),
        "end": s.end.to_string(),
    })
}

/// An appointment as the native view shows it, less its reason.
/// `type_name` is its appointment type's name, if it has one.
pub fn appointment(a: &Appointment, type_name: Option<&str>) -> Value {
    // The patient has yet to take a held time; everyone else has agreed.
    let patient_status = if a.status == AppointmentStatus::Held { "needs-action" } else { "accepted" };
    let minutes = a.end.duration_since(a.start).as_mins().max(1);
    let mut r = json!({
        "resourceType": "Appointment",
        "id": a.id,
        "meta": { "versionId": a.version.to_string(), "lastUpdated": a.updated_at.to_string() },
        "status": status_code(a.status),
        "start": a.start.to_string(),
        "end": a.end.to_string(),
        "minutesDuration": minutes,
        "created": a.created_at.to_string(),
        "participant": [
            {
                "actor": { "reference": reference("Patient", a.patient_id), "display": a.patient_name },
                "required": "required",
                "status": patient_status,
            },
            {
                "actor": { "reference": reference("Practitioner", a.doctor_id), "display": a.doctor_name },
                "required": "required",
                "status": "accepted",
            },
        ],
    });
    if let Some(name) = type_name {
        r["serviceType"] = json!([{ "text": name }]);
    }
    r
}

/// One search parameter a resource takes, as the CapabilityStatement lists it.
struct SearchParam {
    name: &'static str,
    kind: &'static str,
    doc: &'static str,
}

const fn param(name: &'static str, kind: &'static str, doc: &'static str) -> SearchParam {
    SearchParam { name, kind, doc }
}

/// What each resource supports: whether it can be read by id, and its search parameters.
const RESOURCES: [(&str, bool, &[SearchParam]); 5] = [
    ("Patient", true, &[param("name", "string", "Part of the name, any case.")]),
    ("Practitioner", true, &[]),
    ("Schedule", true, &[param("actor", "reference", "Practitioner/<id>: that doctor's schedule.")]),
    (
        "Slot",
        false,
        &[
            param("schedule", "reference", "Schedule/<id>, required."),
            param("start", "date", "ge<date or dateTime> and lt<…>, both required, at most 31 days apart."),
        ],
    ),
    (
        "Appointment",
        true,
        &[
            param("patient", "reference", "Patient/<id>."),
            param("practitioner", "reference", "Practitioner/<id>."),
            param("date", "date", "ge<date or dateTime> and/or lt<…>: the start."),
            param("status", "token", "pending, booked, arrived, fulfilled, cancelled or noshow."),
        ],
    ),
];

/// The CapabilityStatement of the server whose FHIR base URL is `base`.
pub fn capability_statement(base: &str) -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(kind, read, params)| {
            let mut interaction = vec![json!({ "code": "search-type" })];
            if *read {
                interaction.insert(0, json!({ "code": "read" }));
            }
            let mut r = json!({ "type": kind, "interaction": interaction });
            if !params.is_empty() {
                let list: Vec<Value> =
                    params.iter().map(|p| json!({ "name": p.name, "type": p.kind, "documentation": p.doc })).collect();
                r["searchParam"] = Value::Array(list);
            }
            r
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": "Health Synx",
        "kind": "instance",
        "software": { "name": "Health Synx", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "Health Synx FHIR R4 read and search API", "url": base },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Searches answer searchset Bundles; _count (1-200, default 50) sets the page size and the next link carries _cursor.",
            "security": {
                "cors": true,
                "service": [{ "text": "Bearer" }],
                "description": "The access token of POST /api/auth/jwt/create as Authorization: Bearer <token>, with the same roles and scopes as the native API. metadata needs none.",
            },
            "resource": resources,
        }],
    })
}

/// A searchset Bundle of `entries` (each its absolute `fullUrl` and
/// resource), linking to itself and, when more follow, to the next page.
pub fn bundle(self_url: &str, next_url: Option<&str>, entries: Vec<(String, Value)>) -> Value {
    let mut link = vec![json!({ "relation": "self", "url": self_url })];
    if let Some(next) = next_url {
        link.push(json!({ "relation": "next", "url": next }));
    }
    let entry: Vec<Value> = entries
        .into_iter()
        .map(|(full_url, resource)| json!({ "fullUrl": full_url, "resource": resource, "search": { "mode": "match" } }))
        .collect();
    let mut b = json!({ "resourceType": "Bundle", "type": "searchset", "link": link });
    if !entry.is_empty() {
        b["entry"] = Value::Array(entry);
    }
    b
}

/// The issue type of an HTTP error status (FHIR's `IssueType` codes).
fn issue_code(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 => "not-supported",
        409 | 412 => "conflict",
        429 => "throttled",
        503 => "transient",
        _ => "exception",
    }
}

/// An error as FHIR says it: one issue, with our message as diagnostics.
pub fn operation_outcome(status: u16, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "error", "code": issue_code(status), "diagnostics": diagnostics }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_to_a_fhir_code_and_back() {
        for s in STATUSES {
            assert_eq!(status_of(status_code(s)), Some(s), "{s:?}");
        }
        assert_eq!(status_code(AppointmentStatus::Scheduled), "booked");
        assert_eq!(status_code(AppointmentStatus::NoShow), "noshow");
        assert_eq!(status_of("proposed"), None);
    }

    #[test]
    fn slot_ids_are_valid_fhir_ids() {
        let id = slot_id(Uuid::now_v7(), Timestamp::MAX);
        assert!(id.len() <= 64, "{id}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'), "{id}");
    }

    #[test]
    fn an_appointment_carries_no_reason() {
        let now = Timestamp::now();
        let a = Appointment {
            id: Uuid::now_v7(),
            patient_id: Uuid::now_v7(),
            patient_name: "Alice Moreau".into(),
            doctor_id: Uuid::now_v7(),
            doctor_name: "Dr House".into(),
            department: "cardiology".into(),
            start: now,
            end: now + jiff::SignedDuration::from_mins(30),
            status: AppointmentStatus::Scheduled,
            reason: "chest pain since Tuesday".into(),
            version: 2,
            created_at: now,
            updated_at: now,
            type_id: None,
            resource_id: None,
            buffer_before: 0,
            buffer_after: 0,
            series_id: None,
        };
        let v = appointment(&a, Some("Consultation"));
        assert!(!v.to_string().contains("chest pain"), "{v}");
        assert_eq!(v["minutesDuration"], 30);
        assert_eq!(v["status"], "booked");
        assert_eq!(v["serviceType"][0]["text"], "Consultation");
    }

    #[test]
    fn an_empty_bundle_has_no_entry_and_a_next_link_only_when_more_follow() {
        let b = bundle("http://x/fhir/r4/Patient", None, vec![]);
        assert!(b.get("entry").is_none());
        assert_eq!(b["link"].as_array().unwrap().len(), 1);
        let b = bundle("s", Some("n"), vec![("u".into(), json!({}))]);
        assert_eq!(b["link"][1], json!({"relation": "next", "url": "n"}));
        assert_eq!(b["entry"][0]["search"]["mode"], "match");
    }
}
