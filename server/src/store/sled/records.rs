//! Medical records: the newest version by id, every version by id and
//! number, and indexes by patient and by appointment.

use std::ops::Bound;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Sled, SledTx, T, corrupt, keys, page_json};
use crate::store::backend::{Records, Rows};
use crate::store::{Cursor, RecordRow, Result};

impl Sled {
    fn record(&self, id: Uuid) -> Result<Option<RecordRow>> {
        self.get_json(T::Records, id.as_bytes())
    }

    fn indexed_records(&self, t: T, owner: Uuid, after: Option<&Cursor>, limit: usize) -> Result<Rows<RecordRow>> {
        let prefix = owner.as_bytes().to_vec();
        let lower = match after {
            Some(a) => Bound::Excluded(a.bytes().to_vec()),
            None => Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        for r in self.tree(t).range((lower, Bound::Unbounded)) {
            let (k, _) = r?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let id = keys::trailing_id(&k).ok_or_else(|| corrupt("bad index key"))?;
            let row = self.record(id)?.ok_or_else(|| corrupt("index names a missing record"))?;
            out.push((Cursor::from_bytes(&k), row));
        }
        Ok(out)
    }
}

fn version_key(row: &RecordRow) -> Vec<u8> {
    [row.id.as_bytes().as_slice(), &keys::seq(row.version)].concat()
}

#[async_trait]
impl Records for SledTx<'_> {
    async fn record(&mut self, id: Uuid) -> Result<Option<RecordRow>> {
        self.s.record(id)
    }

    async fn record_versions(&mut self, id: Uuid) -> Result<Vec<RecordRow>> {
        let rows = page_json(self.s.tree(T::RecordVersions), None, Some(id.as_bytes()), usize::MAX)?;
        Ok(rows.into_iter().map(|(_, v)| v).collect())
    }

    async fn put_record(&mut self, row: &RecordRow, is_new: bool) -> Result<()> {
        let c = &mut self.changes;
        if is_new {
            c.put(T::RecordsByPatient, keys::owner_time_id(row.patient_id.as_bytes(), row.created_at, row.id), vec![]);
            c.put(T::RecordsByAppt, keys::pair(row.appointment_id, row.id), vec![]);
        }
        c.put_json(T::RecordVersions, version_key(row), row)?;
        c.put_json(T::Records, row.id.as_bytes(), row)
    }

    async fn rewrite_record_versions(&mut self, current: &RecordRow, versions: &[RecordRow]) -> Result<()> {
        for v in versions {
            self.changes.put_json(T::RecordVersions, version_key(v), v)?;
        }
        self.changes.put_json(T::Records, current.id.as_bytes(), current)
    }

    async fn records(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<RecordRow>> {
        page_json(self.s.tree(T::Records), after, None, limit)
    }

    async fn records_of_patient(
        &mut self,
        patient: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>> {
        self.s.indexed_records(T::RecordsByPatient, patient, after, limit)
    }

    async fn records_of_appointment(
        &mut self,
        appt: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>> {
        self.s.indexed_records(T::RecordsByAppt, appt, after, limit)
    }
}
