//! Appointments (a fixed binary layout, `codec`), their time indexes (by
//! doctor, patient, department and, when they hold one, resource), and
//! availability.
//!
//! Every entry an appointment adds costs sled a share of a page (a leaf
//! splits at 16 entries) and that page's bookkeeping in memory, so there is
//! no index of all appointments by time: the whole clinic's list merges
//! the department indexes, which are few.

use std::ops::Bound;

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::Availability;

use super::patients::count_care;
use super::{Changes, Sled, SledTx, T, codec, corrupt, keys};
use crate::scope::ApptScope;
use crate::store::backend::{Rows, Schedule};
use crate::store::{AppointmentRow, Cursor, Result, SeriesRow};

fn index_keys(a: &AppointmentRow) -> Vec<(T, Vec<u8>)> {
    let mut keys = vec![
        (T::ApptByDoctor, keys::owner_time_id(a.doctor_id.as_bytes(), a.start, a.id)),
        (T::ApptByPatient, keys::owner_time_id(a.patient_id.as_bytes(), a.start, a.id)),
        (T::ApptByDept, keys::owner_time_id(&keys::dept(&a.department), a.start, a.id)),
    ];
    if let Some(r) = a.resource_id {
        keys.push((T::ApptByResource, keys::owner_time_id(r.as_bytes(), a.start, a.id)));
    }
    keys
}

/// Stages an appointment and every index of it, replacing `old`'s entries.
///
/// The doctor index holds the one full copy of the row (a doctor's week is
/// then one contiguous range, not ~40 reads scattered over the store); the
/// row by id is a pointer to it (`doctor ‖ start`), and the patient and
/// department entries carry the doctor id, which with their own
/// `start ‖ id` names the same entry.
pub(super) fn stage_appointment(c: &mut Changes, row: &AppointmentRow, old: Option<&AppointmentRow>) {
    if let Some(old) = old {
        for (t, k) in index_keys(old) {
            c.remove(t, k);
        }
        if old.status.grants_care() {
            count_care(c, old, -1);
        }
    }
    let doctor = row.doctor_id.as_bytes();
    for (t, k) in index_keys(row) {
        let value = if t == T::ApptByDoctor { codec::encode_appointment(row) } else { doctor.to_vec() };
        c.put(t, k, value);
    }
    if row.status.grants_care() {
        count_care(c, row, 1);
    }
    c.put(T::Appointments, row.id.as_bytes(), keys::owner_time(doctor, row.start));
}

/// `doctor ‖ start`, the value of a row by id since layout 2.
const POINTER_LEN: usize = 24;

impl Sled {
    fn appointment(&self, id: Uuid) -> Result<Option<AppointmentRow>> {
        // A move between reading the pointer and the row it names leaves
        // the pointer stale: read it again.
        for _ in 0..3 {
            let Some(v) = self.tree(T::Appointments).get(id.as_bytes())? else { return Ok(None) };
            if v.len() != POINTER_LEN {
                // Stored whole, before layout 2.
                return codec::decode_appointment(&v).map(Some);
            }
            if let Some(row) = self.tree(T::ApptByDoctor).get([v.as_ref(), id.as_bytes()].concat())? {
                return codec::decode_appointment(&row).map(Some);
            }
        }
        Err(corrupt("an appointment points at a missing row"))
    }

    /// The index and key prefix of a scope; `None` for the whole clinic.
    fn index_of(&self, scope: &ApptScope) -> Option<(&sled::Tree, Vec<u8>)> {
        match scope {
            ApptScope::Doctor(d) => Some((self.tree(T::ApptByDoctor), d.as_bytes().to_vec())),
            ApptScope::Patient(p) => Some((self.tree(T::ApptByPatient), p.as_bytes().to_vec())),
            ApptScope::Department(code) => Some((self.tree(T::ApptByDept), keys::dept(code))),
            ApptScope::Resource(r) => Some((self.tree(T::ApptByResource), r.as_bytes().to_vec())),
            ApptScope::All => None,
        }
    }

    /// The department prefixes (`dept\0`) present in the department index,
    /// one seek each.
    fn indexed_departments(&self) -> Result<Vec<Vec<u8>>> {
        let tree = self.tree(T::ApptByDept);
        let mut out = Vec::new();
        let mut from = Bound::Unbounded;
        while let Some(r) = tree.range::<Vec<u8>, _>((from, Bound::Unbounded)).next() {
            let (k, _) = r?;
            let end = k.iter().position(|b| *b == 0).ok_or_else(|| corrupt("bad department index key"))?;
            let prefix = k[..=end].to_vec();
            // Past every key of this department: `dept\0` then 0xff.. beyond any time.
            from = Bound::Excluded([prefix.as_slice(), &[0xff; 25]].concat());
            out.push(prefix);
        }
        Ok(out)
    }

    /// The row an index entry names: its value in the doctor index, else
    /// the doctor index entry its value (a doctor id) and key name.
    fn indexed_appointment(&self, key: &[u8], stored: &[u8]) -> Result<AppointmentRow> {
        if stored.len() > 16 {
            return codec::decode_appointment(stored);
        }
        let id = keys::trailing_id(key).ok_or_else(|| corrupt("bad index key"))?;
        if stored.len() == 16 {
            let start_and_id = &key[key.len() - 24..];
            if let Some(row) = self.tree(T::ApptByDoctor).get([stored, start_and_id].concat())? {
                return codec::decode_appointment(&row);
            }
        }
        // An entry from before layout 2 (no value), or one whose appointment
        // moved while we read: by id.
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
        let Some((tree, prefix)) = self.index_of(scope) else {
            return self.scan_clinic(from, to, after, limit);
        };
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

    /// The whole clinic's appointments by time: the department indexes
    /// merged. A cursor is the entry's `time ‖ id`, whatever its department.
    fn scan_clinic(
        &self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AppointmentRow>> {
        let tree = self.tree(T::ApptByDept);
        let end = to.map(|t| keys::time(t).to_vec());
        let mut heads = Vec::new();
        for prefix in self.indexed_departments()? {
            let lower = match (after, from) {
                (Some(a), _) => Bound::Excluded([prefix.as_slice(), a.bytes()].concat()),
                (None, Some(f)) => Bound::Included(keys::owner_time(&prefix, f)),
                (None, None) => Bound::Included(prefix.clone()),
            };
            let entries = tree.range((lower, Bound::Unbounded));
            heads.push(Head { prefix, entries, next: None, done: false });
        }
        let mut out = Vec::new();
        while out.len() < limit {
            for h in heads.iter_mut() {
                h.fill(end.as_deref())?;
            }
            let Some(h) = heads.iter_mut().filter(|h| h.next.is_some()).min_by(|a, b| a.suffix().cmp(b.suffix()))
            else {
                break;
            };
            let (k, stored) = h.next.take().ok_or_else(|| corrupt("merge lost its entry"))?;
            let cursor = Cursor::from_bytes(&k[h.prefix.len()..]);
            out.push((cursor, self.indexed_appointment(&k, &stored)?));
        }
        Ok(out)
    }
}

/// One department's place in [`Sled::scan_clinic`]'s merge.
struct Head {
    prefix: Vec<u8>,
    entries: sled::Iter,
    next: Option<(sled::IVec, sled::IVec)>,
    /// Past this department's range: it has nothing more to give.
    done: bool,
}

impl Head {
    /// Reads the next entry in range, unless one is waiting already.
    fn fill(&mut self, end: Option<&[u8]>) -> Result<()> {
        if self.next.is_some() || self.done {
            return Ok(());
        }
        match self.entries.next().transpose()? {
            Some((k, v)) if k.starts_with(&self.prefix) && end.is_none_or(|e| &k[self.prefix.len()..] < e) => {
                self.next = Some((k, v));
            }
            _ => self.done = true,
        }
        Ok(())
    }

    fn suffix(&self) -> &[u8] {
        self.next.as_ref().map_or(&[], |(k, _)| &k[self.prefix.len()..])
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

    async fn remove_appointment(&mut self, row: &AppointmentRow) -> Result<()> {
        for (t, k) in index_keys(row) {
            self.changes.remove(t, k);
        }
        if row.status.grants_care() {
            count_care(&mut self.changes, row, -1);
        }
        self.changes.remove(T::Appointments, row.id.as_bytes());
        Ok(())
    }

    async fn series(&mut self, id: Uuid) -> Result<Option<SeriesRow>> {
        self.s.get_json(T::Series, id.as_bytes())
    }

    async fn put_series(&mut self, row: &SeriesRow) -> Result<()> {
        self.changes.put_json(T::Series, row.id.as_bytes(), row)
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

#[cfg(test)]
mod tests {
    use healthsynx_shared::AppointmentStatus;
    use jiff::Timestamp;
    use uuid::Uuid;

    use super::super::{DEFAULT_CACHE_MB, Sled, T, codec, keys};
    use crate::scope::ApptScope;
    use crate::store::AppointmentRow;

    #[test]
    fn rows_and_entries_from_before_layout_2_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sled::open(dir.path(), DEFAULT_CACHE_MB).unwrap();
        let start: Timestamp = "2026-03-02T09:00:00Z".parse().unwrap();
        let row = AppointmentRow {
            id: Uuid::from_u128(1),
            patient_id: Uuid::from_u128(2),
            doctor_id: Uuid::from_u128(3),
            department: "cardiology".into(),
            start,
            end: start + jiff::SignedDuration::from_mins(30),
            status: AppointmentStatus::Scheduled,
            reason_sealed: "hs1.k.x".into(),
            cancel_reason_sealed: None,
            version: 1,
            created_at: start,
            updated_at: start,
            created_by: Uuid::from_u128(4),
            type_id: None,
            resource_id: None,
            buffer_before: 0,
            buffer_after: 0,
            series_id: None,
        };
        // Layout 1: the whole row by id and in the doctor index, empty
        // patient and department entries.
        let bytes = codec::encode_appointment(&row);
        s.tree(T::Appointments).insert(row.id.as_bytes(), bytes.clone()).unwrap();
        for (t, k) in super::index_keys(&row) {
            s.tree(t).insert(k, if t == T::ApptByDoctor { bytes.clone() } else { vec![] }).unwrap();
        }
        let same =
            |got: &AppointmentRow| assert_eq!(serde_json::to_value(got).unwrap(), serde_json::to_value(&row).unwrap());
        same(&s.appointment(row.id).unwrap().unwrap());
        for scope in [
            ApptScope::Patient(row.patient_id),
            ApptScope::Department("cardiology".into()),
            ApptScope::Doctor(row.doctor_id),
            ApptScope::All,
        ] {
            let rows = s.scan_appointments(&scope, None, None, None, 10).unwrap();
            assert_eq!(rows.len(), 1, "{scope:?}");
            same(&rows[0].1);
        }
        // Written again, it takes layout 2: a pointer by id.
        let mut c = super::Changes::default();
        super::stage_appointment(&mut c, &row, Some(&row));
        s.resolve_counts(&mut c).unwrap();
        s.apply(&c.ops).unwrap();
        let by_id = s.tree(T::Appointments).get(row.id.as_bytes()).unwrap().unwrap();
        assert_eq!(by_id.as_ref(), keys::owner_time(row.doctor_id.as_bytes(), start).as_slice());
        same(&s.appointment(row.id).unwrap().unwrap());
        let rows = s.scan_appointments(&ApptScope::Patient(row.patient_id), None, None, None, 10).unwrap();
        same(&rows[0].1);
    }
}
