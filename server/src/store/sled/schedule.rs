//! Appointments (a fixed binary layout, `codec`), their four time indexes,
//! and availability.

use std::ops::Bound;

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::Availability;

use super::patients::stage_care;
use super::{Changes, Sled, SledTx, T, codec, corrupt, keys};
use crate::scope::ApptScope;
use crate::store::backend::{Rows, Schedule};
use crate::store::{AppointmentRow, Cursor, Result};

fn index_keys(a: &AppointmentRow) -> [(T, Vec<u8>); 4] {
    [
        (T::ApptByDoctor, keys::owner_time_id(a.doctor_id.as_bytes(), a.start, a.id)),
        (T::ApptByPatient, keys::owner_time_id(a.patient_id.as_bytes(), a.start, a.id)),
        (T::ApptByDept, keys::owner_time_id(&keys::dept(&a.department), a.start, a.id)),
        (T::ApptByStart, keys::owner_time_id(&[], a.start, a.id)),
    ]
}

/// Stages an appointment and every index of it, replacing `old`'s entries.
pub(super) fn stage_appointment(c: &mut Changes, row: &AppointmentRow, old: Option<&AppointmentRow>) {
    if let Some(old) = old {
        for (t, k) in index_keys(old) {
            c.remove(t, k);
        }
        stage_care(c, old, false);
    }
    let bytes = codec::encode_appointment(row);
    for (t, k) in index_keys(row) {
        // The doctor index carries the row itself: a doctor's week is then
        // one contiguous range, not ~40 reads scattered over the store.
        let value = if t == T::ApptByDoctor { bytes.clone() } else { Vec::new() };
        c.put(t, k, value);
    }
    if row.status.holds_time() {
        stage_care(c, row, true);
    }
    c.put(T::Appointments, row.id.as_bytes(), bytes);
}

impl Sled {
    fn appointment(&self, id: Uuid) -> Result<Option<AppointmentRow>> {
        self.tree(T::Appointments).get(id.as_bytes())?.map(|v| codec::decode_appointment(&v)).transpose()
    }

    fn index_of(&self, scope: &ApptScope) -> (&sled::Tree, Vec<u8>) {
        match scope {
            ApptScope::Doctor(d) => (self.tree(T::ApptByDoctor), d.as_bytes().to_vec()),
            ApptScope::Patient(p) => (self.tree(T::ApptByPatient), p.as_bytes().to_vec()),
            ApptScope::Department(code) => (self.tree(T::ApptByDept), keys::dept(code)),
            ApptScope::All => (self.tree(T::ApptByStart), Vec::new()),
        }
    }

    /// The row an index entry names: its value when the index carries rows
    /// (the doctor index), else read by id.
    fn indexed_appointment(&self, key: &[u8], stored: &[u8]) -> Result<AppointmentRow> {
        if !stored.is_empty() {
            return codec::decode_appointment(stored);
        }
        let id = keys::trailing_id(key).ok_or_else(|| corrupt("bad index key"))?;
        self.appointment(id)?.ok_or_else(|| corrupt("index names a missing appointment"))
    }

    fn scan_appointments(
        &self,
        scope: &ApptScope,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AppointmentRow>> {
        let (tree, prefix) = self.index_of(scope);
        let lower = match (after, from) {
            (Some(a), _) => Bound::Excluded(a.bytes().to_vec()),
            (None, Some(f)) => Bound::Included(keys::owner_time(&prefix, f)),
            (None, None) => Bound::Included(prefix.clone()),
        };
        let end = to.map(|t| keys::owner_time(&prefix, t));
        let mut out = Vec::new();
        for r in tree.range((lower, Bound::Unbounded)) {
            let (k, stored) = r?;
            let inside = k.starts_with(&prefix) && end.as_ref().is_none_or(|e| k.as_ref() < e.as_slice());
            if !inside || out.len() >= limit {
                break;
            }
            let row = self.indexed_appointment(&k, &stored)?;
            out.push((Cursor::from_bytes(&k), row));
        }
        Ok(out)
    }
}

#[async_trait]
impl Schedule for SledTx<'_> {
    async fn appointment(&mut self, id: Uuid) -> Result<Option<AppointmentRow>> {
        self.s.appointment(id)
    }

    async fn put_appointment(&mut self, row: &AppointmentRow, old: Option<&AppointmentRow>) -> Result<()> {
        stage_appointment(&mut self.changes, row, old);
        Ok(())
    }

    async fn appointments_in(
        &mut self,
        scope: &ApptScope,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AppointmentRow>> {
        self.s.scan_appointments(scope, from, to, after, limit)
    }

    async fn availability(&mut self, doctor: Uuid) -> Result<Availability> {
        Ok(self.s.get_json(T::Availability, doctor.as_bytes())?.unwrap_or_default())
    }

    async fn availability_to_change(&mut self, doctor: Uuid) -> Result<Availability> {
        // The write lock already serializes every change.
        self.availability(doctor).await
    }

    async fn put_availability(&mut self, doctor: Uuid, a: &Availability) -> Result<()> {
        self.changes.put_json(T::Availability, doctor.as_bytes(), a)
    }
}
