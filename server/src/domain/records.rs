//! Medical records: written by the appointment's doctor, read within care
//! scope, never silently lost: every version is kept, retraction only marks.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use healthsynx_shared::api::*;
use healthsynx_shared::validate::{self, Errors, MAX_CLINICAL_TEXT};
use healthsynx_shared::{AppointmentStatus, MedicalRecord, Prescription, RecordStatus, RecordVersion};

use super::{Caller, Pager, State, limit};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy::{self, ApptFacts, Reach};
use crate::store::RecordRow;

const MAX_PRESCRIPTIONS: usize = 50;

/// The clinical part of a record, sealed as one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Body {
    diagnosis: String,
    notes: String,
    prescriptions: Vec<Prescription>,
}

fn check_body(b: &Body) -> Result<()> {
    let mut errors = Errors::default();
    errors.check("diagnosis", validate::text(&b.diagnosis, MAX_CLINICAL_TEXT));
    errors.check("notes", validate::optional_text(&b.notes, MAX_CLINICAL_TEXT));
    if b.prescriptions.len() > MAX_PRESCRIPTIONS {
        errors.check("prescriptions", Err(format!("at most {MAX_PRESCRIPTIONS}")));
    }
    for (i, p) in b.prescriptions.iter().enumerate() {
        validate::prescription(p, i, &mut errors);
    }
    errors.finish().map_err(Error::from)
}

fn seal(st: &State, id: Uuid, b: &Body) -> Result<String> {
    let json = serde_json::to_string(b).map_err(anyhow::Error::from)?;
    st.sealer.seal(&json, id.as_bytes())
}

fn open(st: &State, row: &RecordRow) -> Result<Body> {
    let json = st.sealer.open(&row.body_sealed, row.id.as_bytes())?;
    serde_json::from_str(&json).map_err(|e| Error::Internal(anyhow::anyhow!("sealed record body unreadable: {e}")))
}

fn to_record(st: &State, row: &RecordRow) -> Result<MedicalRecord> {
    let b = open(st, row)?;
    Ok(MedicalRecord {
        id: row.id,
        appointment_id: row.appointment_id,
        patient_id: row.patient_id,
        doctor_id: row.doctor_id,
        diagnosis: b.diagnosis,
        notes: b.notes,
        prescriptions: b.prescriptions,
        status: row.status,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Loads a record the caller may read (in scope, or through a live grant),
/// and how; anything else is `404`.
async fn readable(st: &State, who: &Caller<'_>, id: Uuid) -> Result<(RecordRow, Reach)> {
    let row = st.store.read().await?.record(id).await?.ok_or(Error::NotFound)?;
    let reach = st.decide_read(who.who, row.patient_id, |care| policy::read_records_of(who.who, row.patient_id, care));
    let reach = reach.await?;
    Ok((row, reach))
}

/// Loads a record the caller may change: in scope, never through a grant
/// (emergency access reads only).
async fn changeable(st: &State, who: &Caller<'_>, id: Uuid) -> Result<RecordRow> {
    let row = st.store.read().await?.record(id).await?.ok_or(Error::NotFound)?;
    let care = st.care_facts(who.who, row.patient_id).await?;
    policy::read_records_of(who.who, row.patient_id, care)?;
    Ok(row)
}

/// `POST /api/records`: by the appointment's doctor or an admin.
pub async fn create(st: &State, who: &Caller<'_>, req: NewRecord) -> Result<MedicalRecord> {
    create_written_at(st, who, req, Timestamp::now()).await
}

/// [`create`], dated `written` rather than now: the demo clinic's past
/// visits get records written when the visit ended, as a real day would.
pub async fn create_written_at(
    st: &State,
    who: &Caller<'_>,
    req: NewRecord,
    written: Timestamp,
) -> Result<MedicalRecord> {
    policy::write_records(who.who)?;
    let appt = st.store.read().await?.appointment(req.appointment_id).await?.ok_or(Error::NotFound)?;
    let visible = ApptFacts { patient_id: appt.patient_id, doctor_id: appt.doctor_id, department: &appt.department };
    // A doctor may see the patient but not another doctor's appointment:
    // refused plainly, since the patient is already in their care.
    let care = st.care_facts(who.who, appt.patient_id).await?;
    if policy::read_appointment(who.who, visible, care).is_err() && !care.doctor_cares {
        return Err(Error::NotFound);
    }
    policy::create_record(who.who, appt.doctor_id)?;
    if matches!(appt.status, AppointmentStatus::Cancelled | AppointmentStatus::Held) {
        let status = appt.status.as_str();
        return Err(Error::Conflict(format!("a record cannot be written for a {status} appointment")));
    }
    let body = Body { diagnosis: req.diagnosis.trim().to_owned(), notes: req.notes, prescriptions: req.prescriptions };
    check_body(&body)?;
    let now = written;
    let id = Uuid::now_v7();
    let row = RecordRow {
        id,
        appointment_id: appt.id,
        patient_id: appt.patient_id,
        doctor_id: appt.doctor_id,
        department: appt.department.clone(),
        body_sealed: seal(st, id, &body)?,
        status: RecordStatus::Active,
        version: 1,
        created_at: now,
        updated_at: now,
        updated_by: who.who.user_id(),
    };
    let mut tx = st.store.begin().await?;
    tx.put_record(&row, true).await?;
    tx.audit(Draft::new(&who.actor(), Action::RecordCreate, "record", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    to_record(st, &row)
}

/// `GET /api/records/{id}` (scoped).
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<MedicalRecord> {
    let (row, reach) = readable(st, who, id).await?;
    let rec = to_record(st, &row)?;
    let entry = Draft::new(&who.actor(), Action::RecordRead, "record", Some(id)).patient(row.patient_id).reach(reach);
    st.store.append_audit([entry]).await?;
    Ok(rec)
}

/// `GET /api/records?patient_id=&appointment_id=` (scoped). Patients may
/// leave both out to list their own.
pub async fn list(st: &State, who: &Caller<'_>, q: RecordQuery) -> Result<Page<MedicalRecord>> {
    policy::list_records(who.who)?;
    let include_retracted = q.include_retracted.unwrap_or(false);
    if include_retracted && !policy::sees_retracted(who.who) {
        return Err(Error::Forbidden("only doctors and admins may list retracted records".into()));
    }
    let mut tx = st.store.read().await?;
    let patient = match (q.patient_id, q.appointment_id, who.who.patient_id()) {
        (Some(p), _, _) => p,
        (None, Some(a), _) => tx.appointment(a).await?.ok_or(Error::NotFound)?.patient_id,
        (None, None, Some(own)) => own,
        (None, None, None) => return Err(Error::invalid("patient_id", "give patient_id or appointment_id")),
    };
    let reach = st.decide_read(who.who, patient, |care| policy::read_records_of(who.who, patient, care)).await?;
    let mut pager = Pager::new(super::cursor(q.cursor.as_deref())?, limit(q.limit)?);
    loop {
        let rows = match q.appointment_id {
            Some(a) => tx.records_of_appointment(a, pager.at(), pager.batch()).await?,
            None => tx.records_of_patient(patient, pager.at(), pager.batch()).await?,
        };
        let n = rows.len();
        for (at, row) in rows {
            let shown = row.patient_id == patient && (include_retracted || row.status == RecordStatus::Active);
            let item = if shown { Some(to_record(st, &row)?) } else { None };
            if !pager.push(at, item) {
                break;
            }
        }
        if pager.ended(n) {
            break;
        }
    }
    st.store
        .append_audit([Draft::new(&who.actor(), Action::RecordList, "patient", Some(patient))
            .patient(patient)
            .reach(reach)])
        .await?;
    Ok(pager.finish())
}

/// `PATCH /api/records/{id}` with `If-Match`: a new version; the old stays in history.
pub async fn patch(st: &State, who: &Caller<'_>, id: Uuid, if_match: u64, req: RecordPatch) -> Result<MedicalRecord> {
    let seen = changeable(st, who, id).await?;
    policy::change_record(who.who, seen.doctor_id)?;
    let mut tx = st.store.begin().await?;
    let old = tx.record(id).await?.ok_or(Error::NotFound)?;
    if old.version != if_match {
        return Err(Error::PreconditionFailed);
    }
    if old.status == RecordStatus::EnteredInError {
        return Err(Error::Conflict("a retracted record cannot be edited".into()));
    }
    let mut body = open(st, &old)?;
    if let Some(d) = &req.diagnosis {
        body.diagnosis = d.trim().to_owned();
    }
    if let Some(n) = &req.notes {
        body.notes = n.clone();
    }
    if let Some(p) = &req.prescriptions {
        body.prescriptions = p.clone();
    }
    check_body(&body)?;
    let mut row = old.clone();
    row.body_sealed = seal(st, id, &body)?;
    row.version += 1;
    row.updated_at = Timestamp::now();
    row.updated_by = who.who.user_id();
    tx.put_record(&row, false).await?;
    tx.audit(Draft::new(&who.actor(), Action::RecordUpdate, "record", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    to_record(st, &row)
}

/// `DELETE /api/records/{id}`: retracts as entered in error; kept in history.
pub async fn retract(st: &State, who: &Caller<'_>, id: Uuid) -> Result<()> {
    let seen = changeable(st, who, id).await?;
    policy::change_record(who.who, seen.doctor_id)?;
    let mut tx = st.store.begin().await?;
    let old = tx.record(id).await?.ok_or(Error::NotFound)?;
    if old.status == RecordStatus::EnteredInError {
        return Ok(());
    }
    let mut row = old.clone();
    row.status = RecordStatus::EnteredInError;
    row.version += 1;
    row.updated_at = Timestamp::now();
    row.updated_by = who.who.user_id();
    tx.put_record(&row, false).await?;
    tx.audit(Draft::new(&who.actor(), Action::RecordRetract, "record", Some(id)).patient(row.patient_id));
    Ok(tx.commit().await?)
}

/// `GET /api/records/{id}/history`: every version, oldest first, with what changed.
pub async fn history(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Vec<RecordVersion>> {
    let (row, reach) = readable(st, who, id).await?;
    let mut out: Vec<RecordVersion> = Vec::new();
    for v in st.store.read().await?.record_versions(id).await? {
        let rec = to_record(st, &v)?;
        let changed_fields = match out.last() {
            None => Vec::new(),
            Some(prev) => {
                let p = &prev.record;
                [
                    ("diagnosis", p.diagnosis != rec.diagnosis),
                    ("notes", p.notes != rec.notes),
                    ("prescriptions", p.prescriptions != rec.prescriptions),
                    ("status", p.status != rec.status),
                ]
                .into_iter()
                .filter(|(_, changed)| *changed)
                .map(|(f, _)| f.to_owned())
                .collect()
            }
        };
        out.push(RecordVersion {
            version: v.version,
            changed_by: v.updated_by,
            changed_at: v.updated_at,
            changed_fields,
            record: rec,
        });
    }
    st.store
        .append_audit([Draft::new(&who.actor(), Action::RecordHistory, "record", Some(id))
            .patient(row.patient_id)
            .reach(reach)])
        .await?;
    Ok(out)
}
