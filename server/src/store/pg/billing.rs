//! Invoices and payments: JSON documents with the columns their lists,
//! their numbers and their locks need.

use async_trait::async_trait;
use jiff::Timestamp;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc, id_after, id_cursor, limit_of};
use crate::store::backend::{Billing, Rows};
use crate::store::{Cursor, InvoiceRow, PaymentRow, Result, StoreError};
use healthsynx_shared::InvoiceKind;

fn kind_text(k: InvoiceKind) -> &'static str {
    match k {
        InvoiceKind::Invoice => "invoice",
        InvoiceKind::CreditNote => "credit_note",
    }
}

#[async_trait]
impl Billing for PgTx<'_> {
    async fn invoice(&mut self, id: Uuid) -> Result<Option<InvoiceRow>> {
        let sql = format!("SELECT doc FROM invoices WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_invoice(&mut self, row: &InvoiceRow) -> Result<()> {
        self.execute(
            "INSERT INTO invoices (id, patient_id, status, kind, number, doc) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET status = $3, number = $5, doc = $6",
            &[&row.id, &row.patient_id, &row.status.as_str(), &kind_text(row.kind), &row.number, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn invoices(
        &mut self,
        patient: Option<Uuid>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<InvoiceRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM invoices WHERE ($1::uuid IS NULL OR patient_id = $1)
                 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
                &[&patient, &id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }

    async fn open_invoices(&mut self) -> Result<Vec<InvoiceRow>> {
        let rows = self
            .query("SELECT doc FROM invoices WHERE status = 'issued' AND kind = 'invoice' ORDER BY id", &[])
            .await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn next_invoice_number(&mut self, year: i16) -> Result<u32> {
        if !self.write {
            return Err(StoreError::Other(anyhow::anyhow!("a read handle cannot take a number")));
        }
        // The upsert locks the year's row until this transaction ends.
        let row = self
            .query_opt(
                "INSERT INTO invoice_numbers (year, last) VALUES ($1, 1)
                 ON CONFLICT (year) DO UPDATE SET last = invoice_numbers.last + 1 RETURNING last",
                &[&year],
            )
            .await?
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("the invoice counter answered nothing")))?;
        let last: i32 = row.get(0);
        u32::try_from(last).map_err(|_| StoreError::Corrupt("negative invoice number".into()))
    }

    async fn invoice_numbers(&mut self) -> Result<Vec<(i16, u32)>> {
        let rows = self.query("SELECT year, last FROM invoice_numbers ORDER BY year", &[]).await?;
        rows.iter()
            .map(|r| {
                let last: i32 = r.get(1);
                Ok((r.get(0), u32::try_from(last).map_err(|_| StoreError::Corrupt("negative invoice number".into()))?))
            })
            .collect()
    }

    async fn set_invoice_number(&mut self, year: i16, last: u32) -> Result<()> {
        let last = i32::try_from(last).map_err(|_| StoreError::Conflict("invoice number out of range".into()))?;
        self.execute(
            "INSERT INTO invoice_numbers (year, last) VALUES ($1, $2) ON CONFLICT (year) DO UPDATE SET last = $2",
            &[&year, &last],
        )
        .await?;
        Ok(())
    }

    async fn invoice_of_appointment(&mut self, appointment: Uuid) -> Result<Option<Uuid>> {
        let row = self
            .query_opt("SELECT invoice_id FROM billed_appointments WHERE appointment_id = $1", &[&appointment])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn bill_appointments(&mut self, invoice: Uuid, add: &[Uuid], remove: &[Uuid]) -> Result<()> {
        if !remove.is_empty() {
            self.execute(
                "DELETE FROM billed_appointments WHERE appointment_id = ANY($1) AND invoice_id = $2",
                &[&remove, &invoice],
            )
            .await?;
        }
        for a in add {
            // A concurrent draft billing the same visit makes this wait,
            // then find the row: exactly one of the two succeeds.
            let n = self
                .execute(
                    "INSERT INTO billed_appointments (appointment_id, invoice_id) VALUES ($1, $2)
                     ON CONFLICT (appointment_id) DO UPDATE SET invoice_id = $2
                     WHERE billed_appointments.invoice_id = $2",
                    &[a, &invoice],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::Conflict("the appointment is already billed on another invoice".into()));
            }
        }
        Ok(())
    }

    async fn payment(&mut self, id: Uuid) -> Result<Option<PaymentRow>> {
        let sql = format!("SELECT doc FROM payments WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_payment(&mut self, row: &PaymentRow) -> Result<()> {
        self.execute(
            "INSERT INTO payments (id, invoice_id, received_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET doc = $4",
            &[&row.id, &row.invoice_id, &row.received_at, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn payments_of_invoice(&mut self, invoice: Uuid) -> Result<Vec<PaymentRow>> {
        let rows = self.query("SELECT doc FROM payments WHERE invoice_id = $1 ORDER BY id", &[&invoice]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn payments_received(&mut self, from: Timestamp, to: Timestamp) -> Result<Vec<PaymentRow>> {
        let rows = self
            .query(
                "SELECT doc FROM payments WHERE received_at >= $1 AND received_at < $2 ORDER BY received_at, id",
                &[&from, &to],
            )
            .await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }
}
