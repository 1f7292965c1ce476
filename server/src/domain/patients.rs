//! Patient profiles: registration, scoped reads, minimum-necessary masking.

use jiff::civil::Date;
use uuid::Uuid;

use healthsynx_shared::api::*;
use healthsynx_shared::validate::{self, Errors, MAX_SHORT_TEXT};
use healthsynx_shared::{Patient, Role};

use super::accounts::{NewAccount, check_account_fields, check_password, stage_account, stage_reset_token};
use super::{Caller, Pager, State, limit, mask};
use crate::audit::{Action, Draft};
use crate::crypto::password;
use crate::error::{Error, Result};
use crate::policy::{self, PatientEdit, PatientList, Principal};
use crate::store::{Cursor, PatientRow, UserRow};

fn check_date_of_birth(s: &str) -> Result<Date, String> {
    let bad = || format!("`{s}` is not a date like 1980-04-23");
    let d: Date = s.parse().map_err(|_| bad())?;
    let today = jiff::Zoned::now().date();
    if d > today || d.year() < 1900 {
        return Err("must be a date between 1900 and today".into());
    }
    Ok(d)
}

fn check_insurance(s: &str) -> Result<(), String> {
    let ok = (3..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "-/. ".contains(c));
    if ok { Ok(()) } else { Err("must be 3–64 letters, digits, dashes, dots, slashes or spaces".into()) }
}

/// `POST /api/patients`: the account and profile in one write.
pub async fn create(st: &State, who: &Caller<'_>, req: NewPatient) -> Result<PatientCreated> {
    policy::create_patient(who.who)?;
    check_account_fields(st, &req.email, &req.full_name, Role::Patient, None).await?;
    let mut errors = Errors::default();
    let dob = check_date_of_birth(&req.date_of_birth);
    if let Err(m) = &dob {
        errors.check("date_of_birth", Err(m.clone()));
    }
    errors.check("phone", validate::phone(&req.phone));
    if let Some(ins) = &req.insurance_id {
        errors.check("insurance_id", check_insurance(ins));
    }
    errors.finish()?;
    let dob = dob.map_err(|m| Error::invalid("date_of_birth", m))?;
    let hash = match &req.password {
        Some(pw) => {
            let username = super::accounts::username_base(&req.full_name, &req.email);
            check_password(pw, &req.email, &req.full_name, &username).map_err(|_| {
                Error::invalid("password", "is too short, too common, or too close to the patient's name or email")
            })?;
            Some(password::hash(pw.clone()).await?)
        }
        None => None,
    };
    let wants_activation = hash.is_none();
    let mut tx = st.store.begin().await?;
    let account = NewAccount {
        email: &req.email,
        full_name: &req.full_name,
        role: Role::Patient,
        department: None,
        username: None,
        password_hash: hash,
    };
    let user = stage_account(&mut tx, account).await?;
    let id = Uuid::now_v7();
    let insurance_id_sealed =
        req.insurance_id.as_deref().map(|i| st.sealer.seal(i.trim(), id.as_bytes())).transpose()?;
    let row = PatientRow {
        id,
        user_id: user.id,
        date_of_birth: dob,
        phone: req.phone.trim().to_owned(),
        insurance_id_sealed,
        patient_type: req.patient_type,
    };
    tx.put_patient(&row).await?;
    let token = if wants_activation { Some(stage_reset_token(&mut tx, user.id).await?) } else { None };
    tx.audit(Draft::new(&who.actor(), Action::PatientCreate, "patient", Some(id)).patient(id));
    tx.commit().await?;
    Ok(PatientCreated { patient: view(st, who.who, id).await?, activation_token: token })
}

/// A patient as `p` may see it (insurance masked for clinical staff). No policy check, no audit.
pub async fn view(st: &State, p: &Principal, id: Uuid) -> Result<Patient> {
    let row = st.store.read().await?.patient(id).await?.ok_or(Error::NotFound)?;
    let user = st.store.user(row.user_id).await?.ok_or_else(|| anyhow::anyhow!("patient without account"))?;
    to_patient(st, p, &row, &user)
}

fn to_patient(st: &State, p: &Principal, row: &PatientRow, user: &UserRow) -> Result<Patient> {
    let insurance = match &row.insurance_id_sealed {
        Some(sealed) => {
            let clear = st.sealer.open(sealed, row.id.as_bytes())?;
            Some(if policy::sees_clear_insurance(p) { clear } else { mask(&clear) })
        }
        None => None,
    };
    Ok(Patient {
        id: row.id,
        user_id: row.user_id,
        full_name: user.full_name.clone(),
        email: user.email.clone(),
        date_of_birth: row.date_of_birth,
        phone: row.phone.clone(),
        insurance_id: insurance,
        patient_type: row.patient_type,
    })
}

/// `GET /api/patients/{id}` (scoped; out of scope is `404`).
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Patient> {
    let reach = st.decide_read(who.who, id, |care| policy::read_patient(who.who, id, care)).await?;
    let patient = view(st, who.who, id).await?;
    st.store
        .append_audit([Draft::new(&who.actor(), Action::PatientRead, "patient", Some(id)).patient(id).reach(reach)])
        .await?;
    Ok(patient)
}

/// What a search's `q` is looked for in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// Name, email or username: the native list's `q`.
    Any,
    /// The name alone: FHIR's `Patient?name=`.
    Name,
}

fn matches(p: &Patient, needle: &str, username: &str, by: Match) -> bool {
    let in_name = p.full_name.to_lowercase().contains(needle);
    match by {
        Match::Name => in_name,
        Match::Any => in_name || p.email.to_lowercase().contains(needle) || username.contains(needle),
    }
}

/// `GET /api/patients?q=` (scoped). Each patient shown is an audited read.
pub async fn list(st: &State, who: &Caller<'_>, q: PatientQuery) -> Result<Page<Patient>> {
    search(st, who, q, Match::Any).await
}

/// The patient list with `q` looked for as `by` says: the same scope,
/// pages and audit whatever is matched.
pub async fn search(st: &State, who: &Caller<'_>, q: PatientQuery, by: Match) -> Result<Page<Patient>> {
    let scope = policy::list_patients(who.who)?;
    let after = super::cursor(q.cursor.as_deref())?;
    let needle = q.q.as_deref().map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let mut pager = Pager::new(after, limit(q.limit)?);
    let mut tx = st.store.read().await?;
    loop {
        let ids: Vec<(Cursor, Uuid)> = match &scope {
            PatientList::All => {
                tx.patients(pager.at(), pager.batch()).await?.into_iter().map(|(c, p)| (c, p.id)).collect()
            }
            PatientList::Own(id) if pager.at().is_none() => vec![(Cursor::from_bytes(id.as_bytes()), *id)],
            PatientList::Own(_) => vec![],
            PatientList::Care(scope) => {
                let after = pager.at().map(|c| Uuid::from_slice(c.bytes())).transpose();
                let after = after.map_err(|_| Error::invalid("cursor", "is not a cursor this server gave out"))?;
                let ids = tx.patients_in_care(scope, after, pager.batch()).await?;
                ids.into_iter().map(|id| (Cursor::from_bytes(id.as_bytes()), id)).collect()
            }
        };
        let n = ids.len();
        for (at, id) in ids {
            let row = tx.patient(id).await?.ok_or_else(|| anyhow::anyhow!("care index names a missing patient"))?;
            let user = st.store.user(row.user_id).await?.ok_or_else(|| anyhow::anyhow!("patient without account"))?;
            let p = to_patient(st, who.who, &row, &user)?;
            let keep = needle.as_deref().is_none_or(|n| matches(&p, n, &user.username, by));
            if !pager.push(at, keep.then_some(p)) {
                break;
            }
        }
        if pager.ended(n) {
            break;
        }
    }
    let page = pager.finish();
    st.store
        .append_audit(
            page.items
                .iter()
                .map(|p| Draft::new(&who.actor(), Action::PatientRead, "patient", Some(p.id)).patient(p.id)),
        )
        .await?;
    Ok(page)
}

/// `PATCH /api/patients/{id}`: staff change any field, a patient only `phone`.
pub async fn patch(st: &State, who: &Caller<'_>, id: Uuid, req: PatientPatch) -> Result<Patient> {
    let facts = st.care_facts(who.who, id).await?;
    let edit = policy::patch_patient(who.who, id, facts)?;
    let touches_more_than_phone = req.full_name.is_some()
        || req.email.is_some()
        || req.date_of_birth.is_some()
        || req.insurance_id.is_some()
        || req.patient_type.is_some();
    if edit == PatientEdit::PhoneOnly && touches_more_than_phone {
        return Err(Error::Forbidden("patients may change only their phone number".into()));
    }
    let mut errors = Errors::default();
    if let Some(phone) = &req.phone {
        errors.check("phone", validate::phone(phone));
    }
    if let Some(name) = &req.full_name {
        errors.check("full_name", validate::text(name, MAX_SHORT_TEXT));
    }
    if let Some(ins) = &req.insurance_id {
        errors.check("insurance_id", check_insurance(ins));
    }
    let dob = req.date_of_birth.as_deref().map(check_date_of_birth).transpose();
    if let Err(m) = &dob {
        errors.check("date_of_birth", Err(m.clone()));
    }
    errors.finish()?;
    let dob = dob.map_err(|m| Error::invalid("date_of_birth", m))?;
    let mut tx = st.store.begin().await?;
    let mut row = tx.patient(id).await?.ok_or(Error::NotFound)?;
    let old_user = tx.user(row.user_id).await?.ok_or_else(|| anyhow::anyhow!("patient without account"))?;
    let mut user = old_user.clone();
    if let Some(email) = &req.email {
        let email = email.trim();
        if email.to_lowercase() != user.email.to_lowercase() && tx.user_by_email(email).await?.is_some() {
            return Err(Error::Conflict(format!("an account with email `{email}` exists")));
        }
        user.email = email.to_owned();
    }
    if let Some(name) = &req.full_name {
        user.full_name = name.trim().to_owned();
    }
    if let Some(phone) = &req.phone {
        row.phone = phone.trim().to_owned();
    }
    if let Some(d) = dob {
        row.date_of_birth = d;
    }
    if let Some(ins) = &req.insurance_id {
        row.insurance_id_sealed = Some(st.sealer.seal(ins.trim(), id.as_bytes())?);
    }
    if let Some(t) = req.patient_type {
        row.patient_type = t;
    }
    tx.put_user(&user, Some(&old_user)).await?;
    tx.put_patient(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::PatientUpdate, "patient", Some(id)).patient(id));
    tx.commit().await?;
    view(st, who.who, id).await
}
