//! Reading the audit log: the admin's view, chain verification, and a
//! patient's "who looked at my data".

use healthsynx_shared::api::{AuditQuery, ChainReport, Page, PageQuery};
use healthsynx_shared::{AccessLogEntry, AuditEntry};

use super::{Caller, State, limit, page};
use crate::error::Result;
use crate::policy;

/// `GET /api/audit` (admin), newest first.
pub fn list(st: &State, who: &Caller<'_>, q: AuditQuery) -> Result<Page<AuditEntry>> {
    policy::read_audit(who.who)?;
    let before = super::cursor(q.cursor.as_deref())?;
    let entries: Box<dyn Iterator<Item = Result<(sled::IVec, AuditEntry)>>> = match q.patient_id {
        Some(p) => Box::new(st.store.audit_of_patient(p, before.as_deref())),
        None => Box::new(st.store.audit_newest_first(before.as_deref())),
    };
    let from = q.from;
    // Newest first: once past `from`, nothing older can match.
    let entries = entries
        .take_while(move |r| r.as_ref().map(|(_, e)| from.is_none_or(|f| e.at >= f)).unwrap_or(true))
        .filter(|r| match r {
            Ok((_, e)) => {
                q.actor_id.is_none_or(|a| e.actor_id == Some(a))
                    && q.action.as_deref().is_none_or(|a| e.action == a)
                    && q.to.is_none_or(|t| e.at < t)
            }
            Err(_) => true,
        });
    page(entries, limit(q.limit)?)
}

/// `GET /api/audit/verify` (admin).
pub fn verify(st: &State, who: &Caller<'_>) -> Result<ChainReport> {
    policy::read_audit(who.who)?;
    Ok(st.store.verify_audit())
}

/// `GET /api/me/access-log` (patients): others' reads and changes of their data.
pub fn access_log(st: &State, who: &Caller<'_>, q: PageQuery) -> Result<Page<AccessLogEntry>> {
    let patient = policy::read_own_access_log(who.who)?;
    let before = super::cursor(q.cursor.as_deref())?;
    let own = who.who.user_id;
    let entries = st
        .store
        .audit_of_patient(patient, before.as_deref())
        .filter(|r| r.as_ref().map(|(_, e)| e.actor_id != Some(own)).unwrap_or(true))
        .map(|r| {
            let (k, e) = r?;
            let actor_name = match e.actor_id {
                Some(id) => st.store.user(id)?.map(|u| u.full_name).unwrap_or_else(|| "a former user".into()),
                None => "unknown".into(),
            };
            let entry = AccessLogEntry {
                at: e.at,
                actor_name,
                actor_role: e.actor_role,
                action: e.action,
                target_type: e.target_type,
            };
            Ok((k, entry))
        });
    page(entries, limit(q.limit)?)
}
