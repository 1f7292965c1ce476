//! The audit chain on PostgreSQL. A write transaction inserts its entries
//! into `audit_pending` (durable with the write, no lock shared with other
//! writers); the linker takes an advisory lock, reads the chain's head and
//! links every pending entry after it in order, so one chain holds whichever
//! process wrote each entry. Entries of reads are queued in memory and
//! linked by the same pass (within ~50 ms, like the embedded store).

use async_trait::async_trait;
use deadpool_postgres::Object;
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::Json;
use uuid::Uuid;

use healthsynx_shared::AuditEntry;
use healthsynx_shared::api::ChainReport;

use super::{PgTx, db_error, limit_of};
use crate::audit::{self, Draft};
use crate::store::backend::{AuditLog, Rows};
use crate::store::{Cursor, Result, StoreError};

const CHAIN_LOCK: i64 = 0x0048_5341_5544_4954; // "HSAUDIT"
const BATCH: i64 = 2000;

/// An entry as it waits to be linked: everything but its place in the chain.
fn unlinked(draft: &Draft, at: Timestamp) -> AuditEntry {
    audit::link(draft.clone(), 0, "", at)
}

/// Writes entries waiting to be linked; its one parameter is [`pending_entries`].
pub(super) const INSERT_PENDING: &str = "INSERT INTO audit_pending (entry) SELECT * FROM unnest($1::jsonb[])";

/// `drafts` as [`INSERT_PENDING`] takes them.
pub(super) fn pending_entries(drafts: &[Draft], at: Timestamp) -> Vec<Json<AuditEntry>> {
    drafts.iter().map(|d| Json(unlinked(d, at))).collect()
}

/// Writes `queued` read entries and links everything pending into the chain.
pub(super) async fn link(client: &mut Object, queued: &[Draft]) -> Result<()> {
    let mut queued = queued;
    while link_batch(client, queued).await? {
        queued = &[];
    }
    Ok(())
}

/// One linking transaction; whether more entries wait. Pending rows (the
/// entries of committed writes, from any process) link first, then this
/// process's queued read entries, which go straight into the chain.
async fn link_batch(client: &mut Object, queued: &[Draft]) -> Result<bool> {
    let tx = client.transaction().await.map_err(db_error)?;
    // A lost link is redone from the pending rows, which go in the same
    // transaction: no need to wait for the disk here. Read entries are as
    // durable as on the embedded store: within a drain tick.
    tx.batch_execute("SET LOCAL synchronous_commit = off").await.map_err(db_error)?;
    if queued.is_empty() {
        let waiting: bool =
            tx.query_one("SELECT EXISTS (SELECT 1 FROM audit_pending)", &[]).await.map_err(db_error)?.get(0);
        if !waiting {
            tx.commit().await.map_err(db_error)?;
            return Ok(false);
        }
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK]).await.map_err(db_error)?;
    let head = tx.query_opt("SELECT seq, entry FROM audit ORDER BY seq DESC LIMIT 1", &[]).await.map_err(db_error)?;
    let (mut seq, mut prev) = match head {
        Some(row) => {
            let e: AuditEntry = serde_json::from_str(row.get::<_, &str>(1))
                .map_err(|e| StoreError::Corrupt(format!("audit head: {e}")))?;
            (row.get::<_, i64>(0) as u64, e.hash)
        }
        None => (0, audit::GENESIS.to_owned()),
    };
    let pending =
        tx.query("SELECT id, entry FROM audit_pending ORDER BY id LIMIT $1", &[&BATCH]).await.map_err(db_error)?;
    let mut ids = Vec::with_capacity(pending.len());
    let mut unlinked_entries = Vec::with_capacity(pending.len() + queued.len());
    for row in &pending {
        ids.push(row.get::<_, i64>(0));
        let e = row
            .try_get::<_, Json<AuditEntry>>(1)
            .map_err(|e| StoreError::Corrupt(format!("pending audit entry: {e}")))?
            .0;
        unlinked_entries.push(e);
    }
    let now = Timestamp::now();
    unlinked_entries.extend(queued.iter().map(|d| unlinked(d, now)));
    let (mut seqs, mut patients, mut texts) = (Vec::new(), Vec::new(), Vec::new());
    for e in unlinked_entries {
        seq += 1;
        let linked = relink(e, seq, &prev);
        prev = linked.hash.clone();
        seqs.push(seq as i64);
        patients.push(linked.patient_id);
        texts.push(serde_json::to_string(&linked)?);
    }
    tx.execute(
        "INSERT INTO audit (seq, patient_id, entry) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])",
        &[&seqs, &patients, &texts],
    )
    .await
    .map_err(db_error)?;
    if !ids.is_empty() {
        tx.execute("DELETE FROM audit_pending WHERE id = ANY($1)", &[&ids]).await.map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(pending.len() as i64 == BATCH)
}

/// `e` as entry `seq` after `prev_hash`.
fn relink(mut e: AuditEntry, seq: u64, prev_hash: &str) -> AuditEntry {
    e.seq = seq;
    e.prev_hash = prev_hash.to_owned();
    e.hash = audit::hash_of(&e);
    e
}

/// Walks the whole chain, a batch at a time, and checks nothing waits unlinked.
pub(super) async fn verify(client: &Object) -> Result<ChainReport> {
    let mut entries: Vec<(u64, Option<AuditEntry>)> = Vec::new();
    let mut after = 0i64;
    loop {
        let rows = client
            .query("SELECT seq, entry FROM audit WHERE seq > $1 ORDER BY seq LIMIT 10000", &[&after])
            .await
            .map_err(db_error)?;
        let Some(last) = rows.last() else { break };
        after = last.get(0);
        entries
            .extend(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, serde_json::from_str(r.get::<_, &str>(1)).ok())));
    }
    Ok(audit::verify(entries.into_iter()))
}

fn entry_of(row: &Row) -> Result<(Cursor, AuditEntry)> {
    let seq: i64 = row.get(0);
    let e =
        serde_json::from_str(row.get::<_, &str>(1)).map_err(|e| StoreError::Corrupt(format!("audit entry: {e}")))?;
    Ok((Cursor::from_bytes(&seq.to_be_bytes()), e))
}

fn seq_before(c: Option<&Cursor>) -> Result<i64> {
    match c {
        None => Ok(i64::MAX),
        Some(c) => Ok(i64::from_be_bytes(c.bytes().try_into().map_err(|_| StoreError::BadCursor)?)),
    }
}

#[async_trait]
impl AuditLog for PgTx<'_> {
    async fn audit_newest_first(&mut self, before: Option<&Cursor>, limit: usize) -> Result<Rows<AuditEntry>> {
        self.pg.drain_audit_now().await?;
        let rows = self
            .query(
                "SELECT seq, entry FROM audit WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                &[&seq_before(before)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(entry_of).collect()
    }

    async fn audit_of_patient(
        &mut self,
        patient: Uuid,
        before: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AuditEntry>> {
        self.pg.drain_audit_now().await?;
        let rows = self
            .query(
                "SELECT seq, entry FROM audit WHERE patient_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                &[&patient, &seq_before(before)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(entry_of).collect()
    }
}
