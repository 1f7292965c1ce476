//! Waitlist entries and offers: JSON documents with the columns their order
//! and their sweep need.

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc};
use crate::store::backend::Waitlist;
use crate::store::{OfferRow, Result, WaitlistRow};

#[async_trait]
impl Waitlist for PgTx<'_> {
    async fn waitlist_entries(&mut self) -> Result<Vec<WaitlistRow>> {
        let rows = self.query("SELECT doc FROM waitlist ORDER BY created_at, id", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn waitlist_entry(&mut self, id: Uuid) -> Result<Option<WaitlistRow>> {
        let sql = format!("SELECT doc FROM waitlist WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_waitlist_entry(&mut self, row: &WaitlistRow) -> Result<()> {
        self.execute(
            "INSERT INTO waitlist (id, created_at, ended_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET ended_at = $3, doc = $4",
            &[&row.id, &row.created_at, &row.ended_at, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn offers(&mut self) -> Result<Vec<OfferRow>> {
        let rows = self.query("SELECT doc FROM offers ORDER BY created_at, id", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn offer(&mut self, id: Uuid) -> Result<Option<OfferRow>> {
        let sql = format!("SELECT doc FROM offers WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_offer(&mut self, row: &OfferRow) -> Result<()> {
        self.execute(
            "INSERT INTO offers (id, created_at, ended_at, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET ended_at = $3, doc = $4",
            &[&row.id, &row.created_at, &row.ended_at, &Json(row)],
        )
        .await?;
        Ok(())
    }
}
