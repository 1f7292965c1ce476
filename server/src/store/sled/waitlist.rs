//! Waitlist entries and offers as sled rows (JSON by id, ids in time order).

use async_trait::async_trait;
use uuid::Uuid;

use super::{SledTx, T};
use crate::store::Result;
use crate::store::backend::Waitlist;
use crate::store::{OfferRow, WaitlistRow};

#[async_trait]
impl Waitlist for SledTx<'_> {
    async fn waitlist_entries(&mut self) -> Result<Vec<WaitlistRow>> {
        let mut all: Vec<WaitlistRow> = self.all(T::Waitlist)?;
        all.sort_by_key(|r| (r.created_at, r.id));
        Ok(all)
    }

    async fn waitlist_entry(&mut self, id: Uuid) -> Result<Option<WaitlistRow>> {
        self.s.get_json(T::Waitlist, id.as_bytes())
    }

    async fn put_waitlist_entry(&mut self, row: &WaitlistRow) -> Result<()> {
        self.changes.put_json(T::Waitlist, row.id.as_bytes(), row)
    }

    async fn offers(&mut self) -> Result<Vec<OfferRow>> {
        let mut all: Vec<OfferRow> = self.all(T::Offers)?;
        all.sort_by_key(|r| (r.created_at, r.id));
        Ok(all)
    }

    async fn offer(&mut self, id: Uuid) -> Result<Option<OfferRow>> {
        self.s.get_json(T::Offers, id.as_bytes())
    }

    async fn put_offer(&mut self, row: &OfferRow) -> Result<()> {
        self.changes.put_json(T::Offers, row.id.as_bytes(), row)
    }
}
