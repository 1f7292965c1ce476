//! Invoices and payments as sled rows (JSON by id; ids are UUIDv7, so id
//! order is creation order), with indexes by patient and by invoice, the
//! set of open invoices, the billed appointments and a counter per year.

use std::ops::Bound;

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use super::{SledTx, T, corrupt, decode, keys, page_json};
use crate::store::backend::{Billing, Rows};
use crate::store::{Cursor, InvoiceRow, PaymentRow, Result, StoreError};
use healthsynx_shared::{InvoiceKind, InvoiceStatus};

/// The smallest UUIDv7 key of a millisecond: payment ids are made when
/// the money is received, so their keys are in the order of receipt.
fn first_id_at(t: Timestamp) -> Vec<u8> {
    let ms = t.as_millisecond().max(0) as u64;
    let mut key = ms.to_be_bytes()[2..].to_vec();
    key.resize(16, 0);
    key
}

impl SledTx<'_> {
    fn invoice_row(&self, id: Uuid) -> Result<InvoiceRow> {
        self.s.get_json(T::Invoices, id.as_bytes())?.ok_or_else(|| corrupt("an index names a missing invoice"))
    }
}

#[async_trait]
impl Billing for SledTx<'_> {
    async fn invoice(&mut self, id: Uuid) -> Result<Option<InvoiceRow>> {
        self.s.get_json(T::Invoices, id.as_bytes())
    }

    async fn put_invoice(&mut self, row: &InvoiceRow) -> Result<()> {
        let c = &mut self.changes;
        c.put(T::InvoicesByPatient, keys::pair(row.patient_id, row.id), vec![]);
        if row.kind == InvoiceKind::Invoice && row.status == InvoiceStatus::Issued {
            c.put(T::OpenInvoices, row.id.as_bytes(), vec![]);
        } else {
            c.remove(T::OpenInvoices, row.id.as_bytes());
        }
        c.put_json(T::Invoices, row.id.as_bytes(), row)
    }

    async fn invoices(
        &mut self,
        patient: Option<Uuid>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<InvoiceRow>> {
        let Some(patient) = patient else {
            return page_json(self.s.tree(T::Invoices), after, None, limit);
        };
        let prefix = patient.as_bytes();
        let lower = match after {
            Some(a) => Bound::Excluded(a.bytes().to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let mut out = Vec::new();
        for r in self.s.tree(T::InvoicesByPatient).range((lower, Bound::Unbounded)) {
            let (k, _) = r?;
            if !k.starts_with(prefix) || out.len() >= limit {
                break;
            }
            let id = keys::trailing_id(&k).ok_or_else(|| corrupt("bad invoice index key"))?;
            out.push((Cursor::from_bytes(&k), self.invoice_row(id)?));
        }
        Ok(out)
    }

    async fn open_invoices(&mut self) -> Result<Vec<InvoiceRow>> {
        let mut out = Vec::new();
        for k in self.s.tree(T::OpenInvoices).iter().keys() {
            let id = Uuid::from_slice(&k?).map_err(|_| corrupt("bad open invoice key"))?;
            out.push(self.invoice_row(id)?);
        }
        Ok(out)
    }

    async fn next_invoice_number(&mut self, year: i16) -> Result<u32> {
        let key = year.to_be_bytes();
        // One write transaction runs at a time here; what this one already
        // took is staged, not yet stored.
        let staged = self.changes.ops.iter().rev().find(|(t, k, _)| *t == T::InvoiceNumbers && k.as_slice() == key);
        let last = match staged {
            Some((_, _, Some(v))) => Some(v.clone()),
            _ => self.s.tree(T::InvoiceNumbers).get(key)?.map(|v| v.to_vec()),
        };
        let last = match last {
            Some(v) => u32::from_be_bytes(v.as_slice().try_into().map_err(|_| corrupt("bad invoice counter"))?),
            None => 0,
        };
        let next =
            last.checked_add(1).ok_or_else(|| StoreError::Conflict("the year's invoice numbers ran out".into()))?;
        self.changes.put(T::InvoiceNumbers, key, next.to_be_bytes().to_vec());
        Ok(next)
    }

    async fn invoice_numbers(&mut self) -> Result<Vec<(i16, u32)>> {
        let mut out = Vec::new();
        for kv in self.s.tree(T::InvoiceNumbers).iter() {
            let (k, v) = kv?;
            let year = i16::from_be_bytes(k.as_ref().try_into().map_err(|_| corrupt("bad invoice counter key"))?);
            let last = u32::from_be_bytes(v.as_ref().try_into().map_err(|_| corrupt("bad invoice counter"))?);
            out.push((year, last));
        }
        Ok(out)
    }

    async fn set_invoice_number(&mut self, year: i16, last: u32) -> Result<()> {
        self.changes.put(T::InvoiceNumbers, year.to_be_bytes(), last.to_be_bytes().to_vec());
        Ok(())
    }

    async fn invoice_of_appointment(&mut self, appointment: Uuid) -> Result<Option<Uuid>> {
        match self.s.tree(T::BilledAppointments).get(appointment.as_bytes())? {
            Some(v) => Ok(Some(Uuid::from_slice(&v).map_err(|_| corrupt("bad billed appointment"))?)),
            None => Ok(None),
        }
    }

    async fn bill_appointments(&mut self, invoice: Uuid, add: &[Uuid], remove: &[Uuid]) -> Result<()> {
        for a in add {
            if self.invoice_of_appointment(*a).await?.is_some_and(|on| on != invoice) {
                return Err(StoreError::Conflict("the appointment is already billed on another invoice".into()));
            }
        }
        for a in remove {
            self.changes.remove(T::BilledAppointments, a.as_bytes());
        }
        for a in add {
            self.changes.put(T::BilledAppointments, a.as_bytes(), invoice.as_bytes().to_vec());
        }
        Ok(())
    }

    async fn payment(&mut self, id: Uuid) -> Result<Option<PaymentRow>> {
        self.s.get_json(T::Payments, id.as_bytes())
    }

    async fn put_payment(&mut self, row: &PaymentRow) -> Result<()> {
        self.changes.put(T::PaymentsByInvoice, keys::pair(row.invoice_id, row.id), vec![]);
        self.changes.put_json(T::Payments, row.id.as_bytes(), row)
    }

    async fn payments_of_invoice(&mut self, invoice: Uuid) -> Result<Vec<PaymentRow>> {
        let mut out = Vec::new();
        for k in self.s.tree(T::PaymentsByInvoice).scan_prefix(invoice.as_bytes()).keys() {
            let k = k?;
            let id = keys::trailing_id(&k).ok_or_else(|| corrupt("bad payment index key"))?;
            let row = self.payment(id).await?.ok_or_else(|| corrupt("an index names a missing payment"))?;
            out.push(row);
        }
        Ok(out)
    }

    async fn payments_received(&mut self, from: Timestamp, to: Timestamp) -> Result<Vec<PaymentRow>> {
        let mut out: Vec<PaymentRow> = Vec::new();
        // A payment copied in may carry an id made a moment before its
        // receipt; a minute of slack keeps it.
        let slack = jiff::SignedDuration::from_mins(1);
        let range = first_id_at(from - slack)..first_id_at(to + slack);
        for r in self.s.tree(T::Payments).range(range) {
            let (_, v) = r?;
            let row: PaymentRow = decode(&v)?;
            if row.received_at >= from && row.received_at < to {
                out.push(row);
            }
        }
        out.sort_by_key(|p| (p.received_at, p.id));
        Ok(out)
    }
}
