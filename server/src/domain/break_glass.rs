//! Break-glass: emergency read access to a patient outside the caller's care.
//! A doctor or nurse states why; for `HEALTHSYNX_BREAK_GLASS_MINUTES` they
//! may read the patient's profile, appointments and records (policy decides,
//! through the `grant` care fact), every such read is audited with the grant,
//! the patient sees it with the reason, and an admin reviews it afterwards.
//! Reviewing does not end a grant early: it is the after-the-fact check.

use std::collections::HashMap;

use jiff::SignedDuration;
use uuid::Uuid;

use healthsynx_shared::api::{
    BreakGlassGrant, BreakGlassGranted, BreakGlassQuery, BreakGlassRequest, BreakGlassReview, EmergencyMatch,
    EmergencySearch, Page,
};
use healthsynx_shared::validate::{self, Errors, MAX_REASON_CHARS};

use super::{Caller, State, limit, now};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy::{self, Reach};
use crate::store::GrantRow;

/// `POST /api/patients/{id}/break-glass`.
pub async fn grant(st: &State, who: &Caller<'_>, patient: Uuid, req: BreakGlassRequest) -> Result<BreakGlassGranted> {
    policy::break_glass(who.who)?;
    let mut errors = Errors::default();
    errors.check("reason", validate::break_glass_reason(&req.reason));
    errors.finish()?;
    let ttl = SignedDuration::try_from(st.config.break_glass_ttl).map_err(anyhow::Error::from)?;
    let mut tx = st.store.begin().await?;
    tx.patient(patient).await?.ok_or(Error::NotFound)?;
    let id = Uuid::now_v7();
    let created_at = now();
    let expires_at = created_at.checked_add(ttl).map_err(anyhow::Error::from)?;
    let row = GrantRow {
        id,
        actor_id: who.who.user_id(),
        actor_role: who.who.role(),
        patient_id: patient,
        reason_sealed: st.sealer.seal(req.reason.trim(), id.as_bytes())?,
        created_at,
        expires_at,
        reviewed_at: None,
        reviewed_by: None,
        review_note_sealed: None,
    };
    tx.put_grant(&row).await?;
    let entry = Draft::new(&who.actor(), Action::BreakGlassGrant, "break_glass", Some(id));
    tx.audit(entry.patient(patient).reach(Reach::Emergency(id)));
    tx.commit().await?;
    Ok(BreakGlassGranted { grant_id: id, expires_at })
}

/// The most an emergency search answers: enough to find the patient in
/// front of you, too few to browse the clinic.
pub const MAX_EMERGENCY_MATCHES: usize = 10;

/// `POST /api/break-glass/search` (doctor, nurse): patients anywhere in the
/// clinic whose name contains `q`, identity only (name, date of birth), at
/// most [`MAX_EMERGENCY_MATCHES`]. Every patient shown is audited and sees
/// the search in their access log; a search that finds nobody is audited too.
pub async fn search(st: &State, who: &Caller<'_>, req: EmergencySearch) -> Result<Vec<EmergencyMatch>> {
    policy::break_glass(who.who)?;
    let mut errors = Errors::default();
    errors.check("q", validate::emergency_query(&req.q));
    errors.finish()?;
    let needle = req.q.trim().to_lowercase();
    let mut found = Vec::new();
    let mut tx = st.store.read().await?;
    let mut after = None;
    'scan: loop {
        let batch = tx.patients(after.as_ref(), 256).await?;
        let ended = batch.len() < 256;
        for (at, row) in batch {
            after = Some(at);
            let user = st.store.user(row.user_id).await?.ok_or_else(|| anyhow::anyhow!("patient without account"))?;
            if user.full_name.to_lowercase().contains(&needle) {
                found.push(EmergencyMatch {
                    patient_id: row.id,
                    full_name: user.full_name.clone(),
                    date_of_birth: row.date_of_birth,
                });
                if found.len() == MAX_EMERGENCY_MATCHES {
                    break 'scan;
                }
            }
        }
        if ended {
            break;
        }
    }
    let actor = who.actor();
    let entry = |id| Draft::new(&actor, Action::BreakGlassSearch, "patient", id);
    let entries: Vec<_> = match found.is_empty() {
        true => vec![entry(None)],
        false => found.iter().map(|m| entry(Some(m.patient_id)).patient(m.patient_id)).collect(),
    };
    st.store.append_audit(entries).await?;
    Ok(found)
}

/// `GET /api/break-glass?reviewed=false` (admin): oldest first.
pub async fn list(st: &State, who: &Caller<'_>, q: BreakGlassQuery) -> Result<Page<BreakGlassGrant>> {
    policy::review_break_glass(who.who)?;
    if q.reviewed == Some(true) {
        return Err(Error::invalid(
            "reviewed",
            "only grants waiting for review are listed; reviewed ones are in the audit log (break_glass.review)",
        ));
    }
    let rows = st.store.read().await?.unreviewed_grants(limit(q.limit)?).await?;
    let mut names = Names::default();
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(view(st, row, &mut names).await?);
    }
    Ok(Page { items, next_cursor: None })
}

/// `POST /api/break-glass/{id}/review` (admin): closes one grant's review.
pub async fn review(st: &State, who: &Caller<'_>, id: Uuid, req: BreakGlassReview) -> Result<BreakGlassGrant> {
    policy::review_break_glass(who.who)?;
    let mut tx = st.store.begin().await?;
    let mut row = tx.grant(id).await?.ok_or(Error::NotFound)?;
    if row.reviewed_at.is_some() {
        return Err(Error::Conflict("this grant was already reviewed".into()));
    }
    let mut errors = Errors::default();
    errors.check("note", validate::text(&req.note, MAX_REASON_CHARS));
    errors.finish()?;
    row.reviewed_at = Some(now());
    row.reviewed_by = Some(who.who.user_id());
    row.review_note_sealed = Some(st.sealer.seal(req.note.trim(), id.as_bytes())?);
    tx.put_grant(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::BreakGlassReview, "break_glass", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    view(st, &row, &mut Names::default()).await
}

/// The reason a grant was made with, in clear.
pub fn reason_of(st: &State, row: &GrantRow) -> Result<String> {
    st.sealer.open(&row.reason_sealed, row.id.as_bytes())
}

/// Names already looked up while building one answer.
#[derive(Default)]
struct Names {
    users: HashMap<Uuid, String>,
    patients: HashMap<Uuid, String>,
}

async fn user_name(st: &State, names: &mut Names, id: Uuid) -> Result<String> {
    if let Some(n) = names.users.get(&id) {
        return Ok(n.clone());
    }
    let name = st.store.user(id).await?.map(|u| u.full_name.clone()).unwrap_or_else(|| "a former user".into());
    names.users.insert(id, name.clone());
    Ok(name)
}

async fn view(st: &State, row: &GrantRow, names: &mut Names) -> Result<BreakGlassGrant> {
    let patient_name = match names.patients.get(&row.patient_id) {
        Some(n) => n.clone(),
        None => {
            let patient = st.store.read().await?.patient(row.patient_id).await?;
            let name = match patient {
                Some(p) => user_name(st, names, p.user_id).await?,
                None => "a removed patient".into(),
            };
            names.patients.insert(row.patient_id, name.clone());
            name
        }
    };
    let review_note = row.review_note_sealed.as_ref().map(|n| st.sealer.open(n, row.id.as_bytes())).transpose()?;
    Ok(BreakGlassGrant {
        id: row.id,
        actor_id: row.actor_id,
        actor_name: user_name(st, names, row.actor_id).await?,
        actor_role: row.actor_role,
        patient_id: row.patient_id,
        patient_name,
        reason: reason_of(st, row)?,
        created_at: row.created_at,
        expires_at: row.expires_at,
        reviewed_at: row.reviewed_at,
        reviewed_by: row.reviewed_by,
        review_note,
    })
}
