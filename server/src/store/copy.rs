//! `healthsynx-server copy`: a stopped embedded clinic into an empty
//! PostgreSQL database, through the storage trait on both sides, so every
//! row is written exactly as the server writes it (sealed fields stay
//! sealed: they are copied, never opened). The audit chain is copied entry
//! by entry, byte for byte, and verified on the far side before `copy`
//! says done. Logins (refresh tokens), reset tokens and idempotency answers
//! are not copied: users log in again after the move.

use std::collections::BTreeSet;
use std::fmt;

use uuid::Uuid;

use healthsynx_shared::Role;

use super::pg::{self, Pg};
use super::{Result, Store, StoreError, Tx};
use crate::scope::ApptScope;

const CHUNK: usize = 1000;

/// What was copied, and that both sides agree.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub departments: usize,
    pub users: usize,
    pub patients: usize,
    pub availability: usize,
    pub appointment_types: usize,
    pub resources: usize,
    pub appointments: usize,
    pub series: usize,
    pub waitlist_entries: usize,
    pub offers: usize,
    pub invoices: usize,
    pub payments: usize,
    pub webhooks: usize,
    pub deliveries: usize,
    pub reminders_sent: usize,
    pub records: usize,
    pub record_versions: usize,
    pub audit_entries: u64,
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "copied and verified: {} departments, {} users, {} patients, {} availability sets, \
             {} appointment types, {} resources, {} appointments ({} series), {} waitlist entries, {} offers, {} invoices, {} payments, {} webhooks ({} deliveries), {} reminders sent, {} records ({} versions), \
             an audit chain of {} entries",
            self.departments,
            self.users,
            self.patients,
            self.availability,
            self.appointment_types,
            self.resources,
            self.appointments,
            self.series,
            self.waitlist_entries,
            self.offers,
            self.invoices,
            self.payments,
            self.webhooks,
            self.deliveries,
            self.reminders_sent,
            self.records,
            self.record_versions,
            self.audit_entries
        )
    }
}

fn other(msg: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(msg))
}

/// Copies `from` (an embedded store) into the database at `url`.
pub async fn to_postgres(from: &Store, url: &str) -> Result<Counts> {
    let sled = from.sled().ok_or_else(|| other("copy reads an embedded store".into()))?;
    pg::migrate(url).await?;
    let to = Store::new(Box::new(Pg::open(url, 4).await?), 0);
    let target = to.pg().ok_or_else(|| other("copy writes to PostgreSQL".into()))?;
    if !target.is_empty().await? {
        return Err(other("the database is not empty: copy moves a clinic into a new, empty database".into()));
    }
    from.flush().await?;
    let copied = copy_rows(from, &to).await?;
    let mut after = 0u64;
    let mut audit_entries = 0u64;
    loop {
        let batch = sled.audit_entries(after, CHUNK)?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let rows = batch
            .iter()
            .map(|e| Ok((e.seq, e.patient_id, serde_json::to_string(e)?)))
            .collect::<Result<Vec<(u64, Option<Uuid>, String)>>>()?;
        audit_entries += rows.len() as u64;
        target.import_audit(&rows).await?;
    }
    let source_chain = from.verify_audit().await?;
    let chain = to.verify_audit().await?;
    if !chain.ok || chain.entries != source_chain.entries || chain.entries != Some(audit_entries) {
        return Err(other(format!(
            "the copied audit chain does not verify ({chain:?}; the source has {:?})",
            source_chain.entries
        )));
    }
    let counted = count(&to).await?;
    let wanted = Counts { audit_entries, ..copied };
    if counted != wanted {
        return Err(other(format!("counts differ after the copy: source {wanted:?}, database {counted:?}")));
    }
    Ok(wanted)
}

/// Every row but the audit chain, a transaction per chunk.
async fn copy_rows(from: &Store, to: &Store) -> Result<Counts> {
    let mut n = Counts::default();
    let mut src = from.read().await?;
    let mut tx = to.begin().await?;
    for d in src.departments().await? {
        tx.put_department(&d).await?;
        n.departments += 1;
    }
    for t in src.appointment_types().await? {
        tx.put_appointment_type(&t).await?;
        n.appointment_types += 1;
    }
    for r in src.resources().await? {
        tx.put_resource(&r).await?;
        n.resources += 1;
    }
    tx.commit().await?;
    let mut after = None;
    loop {
        let rows = src.users(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        let mut tx = to.begin().await?;
        for (_, u) in &rows {
            tx.put_user(u, None).await?;
            if u.role == Role::Doctor {
                let a = src.availability(u.id).await?;
                if !a.rules.is_empty() || !a.time_off.is_empty() {
                    tx.put_availability(u.id, &a).await?;
                    n.availability += 1;
                }
            }
            n.users += 1;
        }
        tx.commit().await?;
    }
    let mut after = None;
    loop {
        let rows = src.patients(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        let mut tx = to.begin().await?;
        for (_, p) in &rows {
            tx.put_patient(p).await?;
            n.patients += 1;
        }
        tx.commit().await?;
    }
    let mut after = None;
    let mut series = BTreeSet::new();
    loop {
        let rows = src.appointments_in(&ApptScope::All, None, None, after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        let mut tx = to.begin().await?;
        for (_, a) in &rows {
            tx.put_appointment(a, None).await?;
            series.extend(a.series_id);
            n.appointments += 1;
        }
        tx.commit().await?;
    }
    // Every series has an occurrence, so the appointments name them all.
    for chunk in series.into_iter().collect::<Vec<_>>().chunks(CHUNK) {
        let mut tx = to.begin().await?;
        for id in chunk {
            let row = src.series(*id).await?.ok_or_else(|| other(format!("series {id} is missing")))?;
            tx.put_series(&row).await?;
            n.series += 1;
        }
        tx.commit().await?;
    }
    let mut tx = to.begin().await?;
    for w in src.waitlist_entries().await? {
        tx.put_waitlist_entry(&w).await?;
        n.waitlist_entries += 1;
    }
    for o in src.offers().await? {
        tx.put_offer(&o).await?;
        n.offers += 1;
    }
    for (year, last) in src.invoice_numbers().await? {
        tx.set_invoice_number(year, last).await?;
    }
    tx.commit().await?;
    let mut after = None;
    loop {
        let rows = src.invoices(None, after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        let mut tx = to.begin().await?;
        for (_, inv) in &rows {
            tx.put_invoice(inv).await?;
            if inv.status != healthsynx_shared::InvoiceStatus::Void {
                tx.bill_appointments(inv.id, &inv.appointment_ids(), &[]).await?;
            }
            for p in src.payments_of_invoice(inv.id).await? {
                tx.put_payment(&p).await?;
                n.payments += 1;
            }
            n.invoices += 1;
        }
        tx.commit().await?;
    }
    copy_outreach(&mut *src, to, &mut n).await?;
    let mut after = None;
    loop {
        let rows = src.records(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        let mut tx = to.begin().await?;
        for (_, r) in &rows {
            let versions = src.record_versions(r.id).await?;
            n.record_versions += versions.len();
            tx.rewrite_record_versions(r, &versions).await?;
            n.records += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// Webhooks with their deliveries, and the reminders already sent (so none
/// goes out twice after the move).
async fn copy_outreach(src: &mut (dyn Tx + '_), to: &Store, n: &mut Counts) -> Result<()> {
    for w in src.webhooks().await? {
        let mut after = None;
        let mut tx = to.begin().await?;
        tx.put_webhook(&w).await?;
        n.webhooks += 1;
        loop {
            let rows = src.deliveries_of(w.id, None, after.as_ref(), CHUNK).await?;
            let Some((last, _)) = rows.last() else { break };
            after = Some(last.clone());
            for (_, d) in &rows {
                tx.put_delivery(d).await?;
                n.deliveries += 1;
            }
        }
        tx.commit().await?;
    }
    let sent = src.reminders_sent().await?;
    for chunk in sent.chunks(CHUNK) {
        let mut tx = to.begin().await?;
        for (appointment, start, offset) in chunk {
            tx.mark_reminder_sent(*appointment, *start, *offset).await?;
            n.reminders_sent += 1;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// The same counts, read back from `store`.
pub async fn count(store: &Store) -> Result<Counts> {
    let mut n = Counts::default();
    let mut r = store.read().await?;
    n.departments = r.departments().await?.len();
    n.appointment_types = r.appointment_types().await?.len();
    n.resources = r.resources().await?.len();
    let mut after = None;
    loop {
        let rows = r.users(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (_, u) in &rows {
            n.users += 1;
            if u.role == Role::Doctor {
                let a = r.availability(u.id).await?;
                n.availability += usize::from(!a.rules.is_empty() || !a.time_off.is_empty());
            }
        }
    }
    let mut after = None;
    loop {
        let rows = r.patients(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        n.patients += rows.len();
    }
    let mut after = None;
    let mut series = BTreeSet::new();
    loop {
        let rows = r.appointments_in(&ApptScope::All, None, None, after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        n.appointments += rows.len();
        series.extend(rows.iter().filter_map(|(_, a)| a.series_id));
    }
    for id in &series {
        n.series += usize::from(r.series(*id).await?.is_some());
    }
    n.waitlist_entries = r.waitlist_entries().await?.len();
    n.offers = r.offers().await?.len();
    let mut after = None;
    loop {
        let rows = r.invoices(None, after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (_, inv) in &rows {
            n.payments += r.payments_of_invoice(inv.id).await?.len();
        }
        n.invoices += rows.len();
    }
    for w in r.webhooks().await? {
        n.webhooks += 1;
        n.deliveries += r.deliveries_of(w.id, None, None, usize::MAX).await?.len();
    }
    n.reminders_sent = r.reminders_sent().await?.len();
    let mut after = None;
    loop {
        let rows = r.records(after.as_ref(), CHUNK).await?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (_, rec) in &rows {
            n.record_versions += r.record_versions(rec.id).await?.len();
        }
        n.records += rows.len();
    }
    drop(r);
    n.audit_entries = store.verify_audit().await?.entries.unwrap_or(0);
    Ok(n)
}
