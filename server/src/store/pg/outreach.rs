//! Webhooks and deliveries: JSON documents with the columns their lists,
//! their due order and their sweep need; reminders sent as bare keys.

use async_trait::async_trait;
use jiff::Timestamp;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc, id_after, id_cursor, limit_of};
use crate::store::backend::{Outreach, Rows};
use crate::store::{Cursor, DeliveryRow, Result, StoreError, WebhookRow};
use healthsynx_shared::DeliveryStatus;

#[async_trait]
impl Outreach for PgTx<'_> {
    async fn webhooks(&mut self) -> Result<Vec<WebhookRow>> {
        let rows = self.query("SELECT doc FROM webhooks ORDER BY id", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn webhook(&mut self, id: Uuid) -> Result<Option<WebhookRow>> {
        let sql = format!("SELECT doc FROM webhooks WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_webhook(&mut self, row: &WebhookRow) -> Result<()> {
        self.execute(
            "INSERT INTO webhooks (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = $2",
            &[&row.id, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn remove_webhook(&mut self, id: Uuid) -> Result<()> {
        // Its deliveries go with it (ON DELETE CASCADE).
        self.execute("DELETE FROM webhooks WHERE id = $1", &[&id]).await?;
        Ok(())
    }

    async fn delivery(&mut self, id: Uuid) -> Result<Option<DeliveryRow>> {
        let sql = format!("SELECT doc FROM deliveries WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_delivery(&mut self, row: &DeliveryRow) -> Result<()> {
        self.execute(
            "INSERT INTO deliveries (id, webhook_id, status, next_attempt_at, created_at, doc)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET status = $3, next_attempt_at = $4, doc = $6",
            &[&row.id, &row.webhook_id, &row.status.as_str(), &row.next_attempt_at, &row.created_at, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn deliveries_of(
        &mut self,
        webhook: Uuid,
        status: Option<DeliveryStatus>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<DeliveryRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR status = $2)
                 AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4",
                &[&webhook, &status.map(DeliveryStatus::as_str), &id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }

    async fn claim_due_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        if !self.write {
            return Err(StoreError::Other(anyhow::anyhow!("a read handle cannot take deliveries")));
        }
        // Rows another process is taking right now are passed over, not
        // waited for; the lease keeps them from it after both commit.
        let rows = self
            .query(
                "UPDATE deliveries d SET next_attempt_at = $2,
                        doc = jsonb_set(d.doc, '{next_attempt_at}', to_jsonb($2::timestamptz))
                 WHERE d.id IN (SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1
                                ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING d.doc",
                &[&now, &lease_until, &limit_of(limit)],
            )
            .await?;
        let mut out: Vec<DeliveryRow> = rows.iter().map(|r| doc(r, "doc")).collect::<Result<_>>()?;
        // The JSON time PostgreSQL writes reads back as the same instant.
        for row in &mut out {
            row.next_attempt_at = lease_until;
        }
        Ok(out)
    }

    async fn next_delivery_due(&mut self) -> Result<Option<Timestamp>> {
        let row = self.query_opt("SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'", &[]).await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn mark_reminder_sent(&mut self, appointment: Uuid, start: Timestamp, offset_secs: i64) -> Result<bool> {
        // A concurrent insert of the same key waits for this transaction,
        // then inserts nothing.
        let n = self
            .execute(
                "INSERT INTO reminders_sent (appointment_id, starts_at, offset_secs) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&appointment, &start, &offset_secs],
            )
            .await?;
        Ok(n == 1)
    }

    async fn reminders_sent(&mut self) -> Result<Vec<(Uuid, Timestamp, i64)>> {
        let rows = self.query("SELECT appointment_id, starts_at, offset_secs FROM reminders_sent", &[]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }
}
