//! Reading the audit log: the admin's view, chain verification, and a
//! patient's "who looked at my data".

use healthsynx_shared::api::{AuditQuery, ChainReport, Page, PageQuery};
use healthsynx_shared::{AccessLogEntry, AuditEntry};

use std::collections::HashMap;

use uuid::Uuid;

use super::{Caller, Pager, State, break_glass, limit};
use crate::error::Result;
use crate::policy;

/// `GET /api/audit` (admin), newest first.
pub async fn list(st: &State, who: &Caller<'_>, q: AuditQuery) -> Result<Page<AuditEntry>> {
    policy::read_audit(who.who)?;
    let mut pager = Pager::new(super::cursor(q.cursor.as_deref())?, limit(q.limit)?);
    let mut tx = st.store.read().await?;
    loop {
        let rows = match q.patient_id {
            Some(p) => tx.audit_of_patient(p, pager.at(), pager.batch()).await?,
            None => tx.audit_newest_first(pager.at(), pager.batch()).await?,
        };
        let n = rows.len();
        for (at, e) in rows {
            // Newest first: once past `from`, nothing older can match.
            if q.from.is_some_and(|f| e.at < f) {
                return Ok(pager.finish());
            }
            let wanted = q.actor_id.is_none_or(|a| e.actor_id == Some(a))
                && q.action.as_deref().is_none_or(|a| e.action == a)
                && q.to.is_none_or(|t| e.at < t);
            if !pager.push(at, wanted.then_some(e)) {
                break;
            }
        }
        if pager.ended(n) {
            return Ok(pager.finish());
        }
    }
}

/// `GET /api/audit/verify` (admin).
pub async fn verify(st: &State, who: &Caller<'_>) -> Result<ChainReport> {
    policy::read_audit(who.who)?;
    Ok(st.store.verify_audit().await?)
}

/// `GET /api/me/access-log` (patients): others' reads and changes of their data.
pub async fn access_log(st: &State, who: &Caller<'_>, q: PageQuery) -> Result<Page<AccessLogEntry>> {
    let patient = policy::read_own_access_log(who.who)?;
    let own = who.who.user_id();
    let mut pager = Pager::new(super::cursor(q.cursor.as_deref())?, limit(q.limit)?);
    let mut tx = st.store.read().await?;
    // Emergency accesses show the reason given; one lookup per grant.
    let mut reasons: HashMap<Uuid, Option<String>> = HashMap::new();
    loop {
        let rows = tx.audit_of_patient(patient, pager.at(), pager.batch()).await?;
        let n = rows.len();
        for (at, e) in rows {
            let entry = if e.actor_id == Some(own) {
                None
            } else {
                let actor_name = match e.actor_id {
                    Some(id) => {
                        st.store.user(id).await?.map(|u| u.full_name.clone()).unwrap_or_else(|| "a former user".into())
                    }
                    None => "unknown".into(),
                };
                let reason = match e.grant_id {
                    Some(g) => match reasons.get(&g) {
                        Some(r) => r.clone(),
                        None => {
                            let r = tx.grant(g).await?.map(|row| break_glass::reason_of(st, &row)).transpose()?;
                            reasons.insert(g, r.clone());
                            r
                        }
                    },
                    None => None,
                };
                Some(AccessLogEntry {
                    at: e.at,
                    actor_name,
                    actor_role: e.actor_role,
                    action: e.action,
                    target_type: e.target_type,
                    emergency: e.grant_id.is_some(),
                    reason,
                })
            };
            if !pager.push(at, entry) {
                break;
            }
        }
        if pager.ended(n) {
            return Ok(pager.finish());
        }
    }
}
