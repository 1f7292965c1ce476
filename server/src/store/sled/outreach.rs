//! Webhooks, deliveries and sent reminders as sled rows: webhooks and
//! deliveries are JSON by id (delivery ids are UUIDv7, so id order is
//! creation order), with a per-webhook index, the pending deliveries by
//! next attempt, and one key per reminder sent.

use std::ops::Bound;

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use super::{SledTx, T, corrupt, keys};
use crate::store::backend::{Outreach, Rows};
use crate::store::{Cursor, DeliveryRow, Result, WebhookRow};
use healthsynx_shared::DeliveryStatus;

/// `next attempt ‖ delivery`: the pending deliveries, soonest first.
fn due_key(row: &DeliveryRow) -> Vec<u8> {
    let mut k = keys::time(row.next_attempt_at).to_vec();
    k.extend_from_slice(row.id.as_bytes());
    k
}

/// `appointment ‖ start ‖ offset`: one reminder sent.
pub(super) fn reminder_key(appointment: Uuid, start: Timestamp, offset_secs: i64) -> Vec<u8> {
    let mut k = keys::owner_time(appointment.as_bytes(), start);
    k.extend_from_slice(&offset_secs.to_be_bytes());
    k
}

impl SledTx<'_> {
    /// Stages `row` and its indexes, dropping the due entry `old` had.
    fn stage_delivery(&mut self, row: &DeliveryRow, old: Option<&DeliveryRow>) -> Result<()> {
        let c = &mut self.changes;
        if let Some(old) = old.filter(|o| o.status == DeliveryStatus::Pending) {
            c.remove(T::DeliveriesDue, due_key(old));
        }
        if row.status == DeliveryStatus::Pending {
            c.put(T::DeliveriesDue, due_key(row), vec![]);
        }
        c.put(T::DeliveriesByWebhook, keys::pair(row.webhook_id, row.id), vec![]);
        c.put_json(T::Deliveries, row.id.as_bytes(), row)
    }
}

#[async_trait]
impl Outreach for SledTx<'_> {
    async fn webhooks(&mut self) -> Result<Vec<WebhookRow>> {
        self.all(T::Webhooks)
    }

    async fn webhook(&mut self, id: Uuid) -> Result<Option<WebhookRow>> {
        self.s.get_json(T::Webhooks, id.as_bytes())
    }

    async fn put_webhook(&mut self, row: &WebhookRow) -> Result<()> {
        self.changes.put_json(T::Webhooks, row.id.as_bytes(), row)
    }

    async fn remove_webhook(&mut self, id: Uuid) -> Result<()> {
        for k in self.s.tree(T::DeliveriesByWebhook).scan_prefix(id.as_bytes()).keys() {
            let k = k?;
            let delivery = keys::trailing_id(&k).ok_or_else(|| corrupt("bad delivery index key"))?;
            if let Some(row) = self.s.get_json::<DeliveryRow>(T::Deliveries, delivery.as_bytes())? {
                if row.status == DeliveryStatus::Pending {
                    self.changes.remove(T::DeliveriesDue, due_key(&row));
                }
                self.changes.remove(T::Deliveries, delivery.as_bytes());
            }
            self.changes.remove(T::DeliveriesByWebhook, &k);
        }
        self.changes.remove(T::Webhooks, id.as_bytes());
        Ok(())
    }

    async fn delivery(&mut self, id: Uuid) -> Result<Option<DeliveryRow>> {
        self.s.get_json(T::Deliveries, id.as_bytes())
    }

    async fn put_delivery(&mut self, row: &DeliveryRow) -> Result<()> {
        let old: Option<DeliveryRow> = self.s.get_json(T::Deliveries, row.id.as_bytes())?;
        self.stage_delivery(row, old.as_ref())
    }

    async fn deliveries_of(
        &mut self,
        webhook: Uuid,
        status: Option<DeliveryStatus>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<DeliveryRow>> {
        let prefix = webhook.as_bytes();
        let lower = match after {
            Some(a) => Bound::Excluded(a.bytes().to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for r in self.s.tree(T::DeliveriesByWebhook).range((lower, Bound::Unbounded)) {
            let (k, _) = r?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            let id = keys::trailing_id(&k).ok_or_else(|| corrupt("bad delivery index key"))?;
            let row: DeliveryRow = self
                .s
                .get_json(T::Deliveries, id.as_bytes())?
                .ok_or_else(|| corrupt("an index names a missing delivery"))?;
            if status.is_none_or(|s| s == row.status) {
                out.push((Cursor::from_bytes(&k), row));
            }
        }
        Ok(out)
    }

    async fn claim_due_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        // One write transaction at a time here, so nothing else is taking any.
        let upper = Bound::Included(keys::owner_time(&[], now).into_iter().chain([0xff; 16]).collect::<Vec<u8>>());
        let mut out = Vec::new();
        for k in self.s.tree(T::DeliveriesDue).range((Bound::Unbounded, upper)).keys() {
            if out.len() >= limit {
                break;
            }
            let id = keys::trailing_id(&k?).ok_or_else(|| corrupt("bad due delivery key"))?;
            let old: DeliveryRow = self
                .s
                .get_json(T::Deliveries, id.as_bytes())?
                .ok_or_else(|| corrupt("a due key names a missing delivery"))?;
            if old.next_attempt_at > now {
                continue;
            }
            let mut row = old.clone();
            row.next_attempt_at = lease_until;
            self.stage_delivery(&row, Some(&old))?;
            out.push(row);
        }
        Ok(out)
    }

    async fn next_delivery_due(&mut self) -> Result<Option<Timestamp>> {
        let Some(k) = self.s.tree(T::DeliveriesDue).first()?.map(|(k, _)| k) else { return Ok(None) };
        let id = keys::trailing_id(&k).ok_or_else(|| corrupt("bad due delivery key"))?;
        let row: Option<DeliveryRow> = self.s.get_json(T::Deliveries, id.as_bytes())?;
        Ok(row.map(|r| r.next_attempt_at))
    }

    async fn mark_reminder_sent(&mut self, appointment: Uuid, start: Timestamp, offset_secs: i64) -> Result<bool> {
        let key = reminder_key(appointment, start, offset_secs);
        if self.s.tree(T::RemindersSent).contains_key(&key)? {
            return Ok(false);
        }
        self.changes.put_json(T::RemindersSent, key, &start)?;
        Ok(true)
    }

    async fn reminders_sent(&mut self) -> Result<Vec<(Uuid, Timestamp, i64)>> {
        let mut out = Vec::new();
        for r in self.s.tree(T::RemindersSent).iter() {
            let (k, v) = r?;
            let bad = || corrupt("bad reminder key");
            let appointment = Uuid::from_slice(k.get(..16).ok_or_else(bad)?).map_err(|_| bad())?;
            let start: Timestamp = super::decode(&v)?;
            let offset = i64::from_be_bytes(k.get(24..32).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
            out.push((appointment, start, offset));
        }
        Ok(out)
    }
}
