//! Patient rows and the care indexes that decide who may see a patient.
//!
//! A care index holds one entry per (doctor, patient) and per (department,
//! patient) pair, valued with how many live appointments and care links
//! make it: a million appointments among a few thousand pairs are a few
//! thousand entries, not two million.

use std::ops::Bound;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Changes, SledTx, T, keys, page_json, uuid_of};
use crate::scope::CareScope;
use crate::store::backend::{Patients, Rows};
use crate::store::{AppointmentRow, Cursor, PatientRow, Result};

/// Counts one appointment (or care link) in or out of the care indexes:
/// `delta` is +1 when it starts holding time, -1 when it stops.
pub(super) fn count_care(c: &mut Changes, a: &AppointmentRow, delta: i64) {
    c.count(T::CareByDoctor, keys::care_by_doctor(a.doctor_id, a.patient_id), delta);
    c.count(T::CareByDept, keys::care_by_dept(&a.department, a.patient_id), delta);
}

#[async_trait]
impl Patients for SledTx<'_> {
    async fn patient(&mut self, id: Uuid) -> Result<Option<PatientRow>> {
        self.s.get_json(T::Patients, id.as_bytes())
    }

    async fn patient_id_of_user(&mut self, user_id: Uuid) -> Result<Option<Uuid>> {
        self.s.tree(T::PatientsByUser).get(user_id.as_bytes())?.map(|v| uuid_of(&v)).transpose()
    }

    async fn patients(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<PatientRow>> {
        page_json(self.s.tree(T::Patients), after, None, limit)
    }

    async fn put_patient(&mut self, row: &PatientRow) -> Result<()> {
        self.changes.put(T::PatientsByUser, row.user_id.as_bytes(), row.id.as_bytes().to_vec());
        self.changes.put_json(T::Patients, row.id.as_bytes(), row)
    }

    async fn cares_for(&mut self, scope: &CareScope, patient: Uuid) -> Result<bool> {
        let (tree, key) = match scope {
            CareScope::Doctor(d) => (T::CareByDoctor, keys::care_by_doctor(*d, patient)),
            CareScope::Department(code) => (T::CareByDept, keys::care_by_dept(code, patient)),
        };
        Ok(self.s.tree(tree).contains_key(key)?)
    }

    async fn patients_in_care(&mut self, scope: &CareScope, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>> {
        let (tree, prefix) = match scope {
            CareScope::Doctor(d) => (self.s.tree(T::CareByDoctor), d.as_bytes().to_vec()),
            CareScope::Department(code) => (self.s.tree(T::CareByDept), keys::dept(code)),
        };
        let start = match after {
            Some(p) => Bound::Excluded([prefix.as_slice(), p.as_bytes()].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let plen = prefix.len();
        let mut out: Vec<Uuid> = Vec::new();
        for r in tree.range((start, Bound::Unbounded)) {
            let (k, _) = r?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            out.push(uuid_of(&k[plen..])?);
        }
        Ok(out)
    }

    async fn link_care(&mut self, doctor: Uuid, dept: &str, patient: Uuid, link: Uuid) -> Result<()> {
        count_care(&mut self.changes, &AppointmentRow::care_link(doctor, dept, patient, link), 1);
        Ok(())
    }
}
