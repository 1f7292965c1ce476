//! Patient rows and the care indexes that decide who may see a patient.

use std::ops::Bound;

use async_trait::async_trait;
use uuid::Uuid;

use super::{Changes, SledTx, T, keys, page_json, uuid_of};
use crate::scope::CareScope;
use crate::store::backend::{Patients, Rows};
use crate::store::{AppointmentRow, Cursor, PatientRow, Result};

/// Stages the care-scope entries of one appointment (present while it holds time).
pub(super) fn stage_care(c: &mut Changes, a: &AppointmentRow, present: bool) {
    let by_doctor = [keys::pair(a.doctor_id, a.patient_id).as_slice(), a.id.as_bytes()].concat();
    let by_dept = [keys::dept(&a.department).as_slice(), a.patient_id.as_bytes(), a.id.as_bytes()].concat();
    if present {
        c.put(T::CareByDoctor, by_doctor, vec![]);
        c.put(T::CareByDept, by_dept, vec![]);
    } else {
        c.remove(T::CareByDoctor, by_doctor);
        c.remove(T::CareByDept, by_dept);
    }
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
        let (tree, prefix) = match scope {
            CareScope::Doctor(d) => (T::CareByDoctor, keys::pair(*d, patient).to_vec()),
            CareScope::Department(code) => (T::CareByDept, [keys::dept(code).as_slice(), patient.as_bytes()].concat()),
        };
        Ok(self.s.tree(tree).scan_prefix(prefix).next().transpose()?.is_some())
    }

    async fn patients_in_care(&mut self, scope: &CareScope, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>> {
        let (tree, prefix) = match scope {
            CareScope::Doctor(d) => (self.s.tree(T::CareByDoctor), d.as_bytes().to_vec()),
            CareScope::Department(code) => (self.s.tree(T::CareByDept), keys::dept(code)),
        };
        let start = match after {
            // Skip every key of `after`: the next possible patient id.
            Some(p) => Bound::Excluded([prefix.as_slice(), p.as_bytes(), &[0xff; 16]].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let plen = prefix.len();
        let mut out: Vec<Uuid> = Vec::new();
        for r in tree.range((start, Bound::Unbounded)) {
            let (k, _) = r?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let id = uuid_of(k.get(plen..plen + 16).unwrap_or_default())?;
            if out.last() != Some(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    async fn link_care(&mut self, doctor: Uuid, dept: &str, patient: Uuid, link: Uuid) -> Result<()> {
        stage_care(&mut self.changes, &AppointmentRow::care_link(doctor, dept, patient, link), true);
        Ok(())
    }
}
