//! Brings a store written by an earlier layout up to this one, at open and
//! after a restore. Each step recognises the old layout by its bytes, so it
//! is a no-op on a current store and safe to repeat after a crash.
//!
//! Layout 2 (this one): care indexes hold one counted entry per pair
//! (they held one empty entry per appointment, the appointment id last),
//! and there is no `appt_by_start` tree (the clinic-wide list merges the
//! department index). An appointment's full row lives only in the doctor
//! index; by id it is a pointer, and patient and department entries carry
//! the doctor id. Rows and entries written before that are read as they
//! are (`schedule.rs`) and take the new form when next written, so they
//! need no step here.
//!
//! Layout 3 adds `families_by_user`, the index of a user's logins; a store
//! without it gets it built from the logins it holds.

use std::collections::BTreeMap;

use super::{Sled, T, keys};
use crate::store::{RefreshFamily, Result};

impl Sled {
    pub(super) fn upgrade_layout(&self) -> Result<()> {
        self.count_care_pairs(T::CareByDoctor, |k| k.len() == 48)?;
        // `dept\0 ‖ patient ‖ appointment`: 32 bytes after the terminator.
        self.count_care_pairs(T::CareByDept, |k| {
            k.iter().position(|b| *b == 0).is_some_and(|z| k.len() - z - 1 == 32)
        })?;
        if self.db.tree_names().iter().any(|n| n.as_ref() == b"appt_by_start") {
            self.db.drop_tree("appt_by_start")?;
            tracing::info!("store upgrade: dropped the clinic-wide time index");
        }
        self.index_families_by_user()
    }

    /// Builds the index of logins by user when logins exist without it.
    fn index_families_by_user(&self) -> Result<()> {
        let index = self.tree(T::FamiliesByUser);
        if !index.is_empty() || self.tree(T::RefreshFamilies).is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for r in self.tree(T::RefreshFamilies).iter() {
            let (_, v) = r?;
            let f: RefreshFamily = super::decode(&v)?;
            batch.insert(keys::pair(f.user_id, f.id).to_vec(), Vec::new());
        }
        index.apply_batch(batch)?;
        tracing::info!("store upgrade: indexed logins by user");
        Ok(())
    }

    /// Rewrites a care index of per-appointment entries as counted pairs,
    /// in one batch (all or nothing).
    fn count_care_pairs(&self, t: T, is_old: impl Fn(&[u8]) -> bool) -> Result<()> {
        let tree = self.tree(t);
        let Some((first, _)) = tree.first()? else { return Ok(()) };
        if !is_old(&first) {
            return Ok(());
        }
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        for r in tree.iter() {
            let (k, _) = r?;
            if is_old(&k) {
                *counts.entry(k[..k.len() - 16].to_vec()).or_default() += 1;
                batch.remove(k);
            }
        }
        let pairs = counts.len();
        for (k, n) in counts {
            batch.insert(k, keys::seq(n).to_vec());
        }
        tree.apply_batch(batch)?;
        tracing::info!(pairs, "store upgrade: care index counted by pair");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::super::{DEFAULT_CACHE_MB, Sled, T, keys};

    /// Opens `dir` once the last store on it has let go: sled's own
    /// background thread drops its lock a moment after the store.
    fn reopen(dir: &std::path::Path) -> Sled {
        for _ in 0..200 {
            match Sled::open(dir, DEFAULT_CACHE_MB) {
                Ok(s) => return s,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(25)),
            }
        }
        Sled::open(dir, DEFAULT_CACHE_MB).unwrap()
    }

    #[test]
    fn a_layout_1_store_opens_counted_and_without_the_clinic_wide_index() {
        let dir = tempfile::tempdir().unwrap();
        let (doctor, patient, other) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        {
            let s = Sled::open(dir.path(), DEFAULT_CACHE_MB).unwrap();
            let by_doctor = s.tree(T::CareByDoctor);
            let by_dept = s.tree(T::CareByDept);
            for (p, appointment) in [(patient, 10u128), (patient, 11), (other, 12)] {
                let a = Uuid::from_u128(appointment);
                by_doctor.insert([keys::care_by_doctor(doctor, p), a.as_bytes().to_vec()].concat(), vec![]).unwrap();
                by_dept.insert([keys::care_by_dept("cardiology", p), a.as_bytes().to_vec()].concat(), vec![]).unwrap();
            }
            s.db.open_tree("appt_by_start").unwrap().insert(b"k", b"v".to_vec()).unwrap();
            s.db.flush().unwrap();
        }
        for _ in 0..2 {
            // Opening upgrades; opening again finds nothing to do.
            let s = reopen(dir.path());
            let count = |t: T, k: Vec<u8>| s.tree(t).get(k).unwrap().and_then(|v| keys::seq_from(&v));
            assert_eq!(count(T::CareByDoctor, keys::care_by_doctor(doctor, patient)), Some(2));
            assert_eq!(count(T::CareByDoctor, keys::care_by_doctor(doctor, other)), Some(1));
            assert_eq!(count(T::CareByDept, keys::care_by_dept("cardiology", patient)), Some(2));
            assert_eq!(s.tree(T::CareByDoctor).len() + s.tree(T::CareByDept).len(), 4);
            assert!(!s.db.tree_names().iter().any(|n| n.as_ref() == b"appt_by_start"));
        }
    }
}
