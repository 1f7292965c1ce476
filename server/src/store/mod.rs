//! The sled store: it owns every tree, key layout and stored row, and is the
//! only module that touches sled.
//!
//! Writes: [`Store::write`] takes one lock, runs the caller's checks against
//! current data, links the caller's audit entries into the chain, and applies
//! all staged changes and entries in one sled transaction. The lock makes
//! check-then-write atomic (sled transactions cannot range-scan, and a booking
//! must re-check overlap against a range), and it is held only for that
//! in-memory work, never across an fsync: durability comes after, from
//! [`Store::flush`], which batches concurrent callers into one fsync.

pub mod backup;
mod codec;
mod flusher;
pub mod keys;
mod rows;
mod views;

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use bytes::Bytes;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, IVec, Transactional, Tree};
use uuid::Uuid;

use healthsynx_shared::api::ChainReport;
use healthsynx_shared::{AuditEntry, Availability, Department};

use crate::audit::{self, Draft};
use crate::error::{Error, Result};

pub use rows::*;

/// Every tree of the store. The discriminant is the index into `Store::trees`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    Meta,
    Users,
    UsersByEmail,
    UsersByUsername,
    Departments,
    Patients,
    PatientsByUser,
    /// `doctor ‖ patient ‖ appointment` for each non-cancelled appointment:
    /// the patients a doctor may see.
    CareByDoctor,
    /// `dept\0 ‖ patient ‖ appointment`: the patients a department may see.
    CareByDept,
    Appointments,
    ApptByDoctor,
    ApptByPatient,
    ApptByDept,
    ApptByStart,
    Availability,
    Records,
    RecordVersions,
    RecordsByPatient,
    RecordsByAppt,
    RefreshFamilies,
    ResetTokens,
    Idempotency,
    Audit,
    AuditByPatient,
}

const TREES: [(T, &str); 24] = [
    (T::Meta, "meta"),
    (T::Users, "users"),
    (T::UsersByEmail, "users_by_email"),
    (T::UsersByUsername, "users_by_username"),
    (T::Departments, "departments"),
    (T::Patients, "patients"),
    (T::PatientsByUser, "patients_by_user"),
    (T::CareByDoctor, "care_by_doctor"),
    (T::CareByDept, "care_by_dept"),
    (T::Appointments, "appointments"),
    (T::ApptByDoctor, "appt_by_doctor"),
    (T::ApptByPatient, "appt_by_patient"),
    (T::ApptByDept, "appt_by_dept"),
    (T::ApptByStart, "appt_by_start"),
    (T::Availability, "availability"),
    (T::Records, "records"),
    (T::RecordVersions, "record_versions"),
    (T::RecordsByPatient, "records_by_patient"),
    (T::RecordsByAppt, "records_by_appt"),
    (T::RefreshFamilies, "refresh_families"),
    (T::ResetTokens, "reset_tokens"),
    (T::Idempotency, "idempotency"),
    (T::Audit, "audit"),
    (T::AuditByPatient, "audit_by_patient"),
];

/// sled's page cache, MiB (`HEALTHSYNX_CACHE_MB`), counted in on-disk bytes;
/// decoded nodes take about twice that in memory. It does not bound sled's
/// per-page bookkeeping, which grows with the store (README, Performance).
pub const DEFAULT_CACHE_MB: u64 = 64;

/// The cache of encoded appointments, MiB (`HEALTHSYNX_VIEW_CACHE_MB`): a
/// doctor's week is ~16 KB, so this holds ~2 000 doctor-weeks.
pub const DEFAULT_VIEW_CACHE_MB: u64 = 32;

/// The newest link of the audit chain.
struct ChainHead {
    last_seq: u64,
    last_hash: String,
}

/// One staged write: a tree, a key, and the new value (`None` removes).
type Op = (T, Vec<u8>, Option<Vec<u8>>);

/// Writes staged by a caller of [`Store::write`], applied all or nothing.
#[derive(Default)]
pub struct Changes {
    ops: Vec<Op>,
    audit: Vec<Draft>,
}

impl Changes {
    fn put(&mut self, tree: T, key: impl AsRef<[u8]>, value: impl Into<Vec<u8>>) {
        self.ops.push((tree, key.as_ref().to_vec(), Some(value.into())));
    }

    fn put_json(&mut self, tree: T, key: impl AsRef<[u8]>, value: &impl Serialize) -> Result<()> {
        let bytes = serde_json::to_vec(value).context("encode row")?;
        self.put(tree, key, bytes);
        Ok(())
    }

    fn remove(&mut self, tree: T, key: impl AsRef<[u8]>) {
        self.ops.push((tree, key.as_ref().to_vec(), None));
    }

    /// Appends an audit entry, linked and written with these changes.
    pub fn audit(&mut self, draft: Draft) {
        self.audit.push(draft);
    }
}

/// The sled store.
pub struct Store {
    db: Db,
    trees: Vec<Tree>,
    head: Mutex<ChainHead>,
    /// Audit entries of reads and refused attempts, not yet linked: the
    /// next write, flush, audit read or [`Store::drain_audit`] tick links
    /// them all in one transaction, so a read never waits for the write lock.
    queued: Mutex<Vec<Draft>>,
    accounts: Mutex<AccountCache>,
    logins: Mutex<LoginCache>,
    views: Mutex<views::ViewCache>,
    flusher: flusher::Flusher,
}

/// Refresh families by id, read by every authenticated request (an access
/// token names its login). A write to a family removes it here and bumps
/// `generation` before the write returns, and a reader keeps what it read
/// only if no family was written meanwhile: a logout ends the login's
/// access tokens on the very next request.
#[derive(Default)]
struct LoginCache {
    generation: u64,
    families: HashMap<Uuid, RefreshFamily>,
}

/// User rows by id (every authenticated request reads its caller's) and
/// full names by user or patient id (listing appointments joins two per
/// row), so neither is a store read and a JSON decode each time. Any write
/// to the users or patients trees empties it and bumps `generation`; a
/// reader only fills in what it read while the generation stayed the same,
/// so nothing in it is ever stale, revoked tokens included.
#[derive(Default)]
struct AccountCache {
    generation: u64,
    users: HashMap<Uuid, UserRow>,
    names: HashMap<Uuid, String>,
}

/// Entries of one kind kept before that kind starts over.
const ACCOUNT_CACHE_MAX: usize = 100_000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` with the default page cache.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, DEFAULT_CACHE_MB, DEFAULT_VIEW_CACHE_MB)
    }

    /// Opens (or creates) the store in `dir` with a page cache of `cache_mb`
    /// MiB and a view cache of `view_cache_mb` MiB.
    pub fn open_with_cache(dir: &Path, cache_mb: u64, view_cache_mb: u64) -> Result<Self> {
        crate::permissions::create_private_dir(dir).context("create the data directory")?;
        let db = sled::Config::new()
            .path(dir.join("store"))
            .cache_capacity(cache_mb.max(1) * 1024 * 1024)
            // Read audit entries are not flushed per request; this bounds how long they trail.
            .flush_every_ms(Some(100))
            .open()
            .with_context(|| format!("open store in {}", dir.display()))?;
        let mut trees = Vec::with_capacity(TREES.len());
        for (i, (t, name)) in TREES.iter().enumerate() {
            debug_assert_eq!(*t as usize, i);
            trees.push(db.open_tree(name)?);
        }
        let audit_tree = &trees[T::Audit as usize];
        let head = match audit_tree.last()? {
            Some((k, v)) => {
                let e: AuditEntry = serde_json::from_slice(&v).context("read audit head")?;
                ChainHead { last_seq: keys::seq_from(&k).unwrap_or(e.seq), last_hash: e.hash }
            }
            None => ChainHead { last_seq: 0, last_hash: audit::GENESIS.to_owned() },
        };
        let flusher = flusher::Flusher::start(db.clone()).context("start the flush thread")?;
        Ok(Store {
            db,
            trees,
            head: Mutex::new(head),
            queued: Mutex::new(Vec::new()),
            accounts: Mutex::new(AccountCache::default()),
            logins: Mutex::new(LoginCache::default()),
            views: Mutex::new(views::ViewCache::new(view_cache_mb as usize * 1024 * 1024)),
            flusher,
        })
    }

    fn tree(&self, t: T) -> &Tree {
        &self.trees[t as usize]
    }

    /// A raw tree by name, for repair tools and tests that tamper on purpose.
    pub fn raw_tree(&self, name: &str) -> Option<&Tree> {
        TREES.iter().find(|(_, n)| *n == name).map(|(t, _)| self.tree(*t))
    }

    fn get_json<V: DeserializeOwned>(&self, t: T, key: impl AsRef<[u8]>) -> Result<Option<V>> {
        match self.tree(t).get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Runs `f` under the write lock; if it succeeds, applies its changes
    /// and audit entries atomically. Not yet durable: call [`Store::flush`].
    pub fn write<R>(&self, f: impl FnOnce(&mut Changes) -> Result<R>) -> Result<R> {
        let mut head = self.head.lock().map_err(|_| anyhow::anyhow!("store lock poisoned"))?;
        let mut changes = Changes::default();
        let out = f(&mut changes)?;
        let now = Timestamp::now();
        let (mut seq, mut prev) = (head.last_seq, head.last_hash.clone());
        // Queued read entries happened before this write: they link first.
        let mut drafts = std::mem::take(&mut *self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?);
        drafts.append(&mut changes.audit);
        for draft in drafts {
            seq += 1;
            let entry = audit::link(draft, seq, &prev, now);
            if let Some(p) = entry.patient_id {
                changes.put(T::AuditByPatient, [p.as_bytes().as_slice(), &keys::seq(seq)].concat(), vec![]);
            }
            changes.put_json(T::Audit, keys::seq(seq), &entry)?;
            prev = entry.hash;
        }
        self.apply(&changes.ops)?;
        self.forget_derived(&changes.ops)?;
        head.last_seq = seq;
        head.last_hash = prev;
        Ok(out)
    }

    /// Drops cached names, logins and views that `ops` made stale.
    fn forget_derived(&self, ops: &[Op]) -> Result<()> {
        let mut families = ops.iter().filter(|(t, _, _)| *t == T::RefreshFamilies).peekable();
        if families.peek().is_some() {
            let mut logins = self.logins.lock().map_err(|_| anyhow::anyhow!("login cache poisoned"))?;
            logins.generation += 1;
            for (_, k, _) in families {
                logins.families.remove(&uuid_of(k)?);
            }
        }
        let accounts = ops.iter().any(|(t, _, _)| matches!(t, T::Users | T::Patients));
        if accounts {
            let mut cache = self.accounts.lock().map_err(|_| anyhow::anyhow!("account cache poisoned"))?;
            cache.generation += 1;
            cache.users.clear();
            cache.names.clear();
        }
        let mut views = self.views.lock().map_err(|_| anyhow::anyhow!("view cache poisoned"))?;
        if accounts {
            let dropped = views.forget_all();
            drop(views);
            drop(dropped);
        } else {
            for (_, k, _) in ops.iter().filter(|(t, _, _)| *t == T::Appointments) {
                views.forget(&uuid_of(k)?);
            }
        }
        Ok(())
    }

    fn apply(&self, ops: &[Op]) -> Result<()> {
        let mut touched: Vec<T> = Vec::new();
        for (t, _, _) in ops {
            if !touched.contains(t) {
                touched.push(*t);
            }
        }
        if touched.is_empty() {
            return Ok(());
        }
        let trees: Vec<&Tree> = touched.iter().map(|t| self.tree(*t)).collect();
        let result: std::result::Result<(), TransactionError<()>> = trees.as_slice().transaction(|txs| {
            for (t, k, v) in ops {
                let pos = touched.iter().position(|x| x == t).ok_or(ConflictableTransactionError::Abort(()))?;
                match v {
                    Some(v) => txs[pos].insert(k.as_slice(), v.as_slice())?,
                    None => txs[pos].remove(k.as_slice())?,
                };
            }
            Ok(())
        });
        result.map_err(|e| anyhow::anyhow!("store transaction failed: {e:?}"))?;
        Ok(())
    }

    /// Makes every write so far durable. Concurrent callers share one fsync.
    pub async fn flush(&self) -> Result<()> {
        self.drain_audit()?;
        self.flusher.flush().await
    }

    /// Flushes synchronously (shutdown, CLI).
    pub fn flush_blocking(&self) -> Result<()> {
        self.drain_audit()?;
        self.db.flush()?;
        Ok(())
    }

    /// Queues audit entries with no data change (reads, failed attempts).
    /// They are linked into the chain by the next write, flush or audit
    /// read, or by the server's [`Store::drain_audit`] tick (every 50 ms),
    /// and are durable with sled's next flush (~100 ms later). A crash may
    /// lose the entries of that last moment, never break the chain: each
    /// batch is linked and written in one transaction under the write lock.
    pub fn append_audit(&self, drafts: impl IntoIterator<Item = Draft>) -> Result<()> {
        self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?.extend(drafts);
        Ok(())
    }

    /// Links and writes the queued audit entries now.
    pub fn drain_audit(&self) -> Result<()> {
        if self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?.is_empty() {
            return Ok(());
        }
        self.write(|_| Ok(()))
    }

    /// Re-seals every sealed field that an older key made under the current
    /// key, a few hundred rows per write; returns how many values changed.
    pub fn rekey(&self, sealer: &crate::crypto::seal::Sealer, audit: Draft) -> Result<u64> {
        let mut changed = 0u64;
        changed += self.reseal_tree::<PatientRow>(T::Patients, |row| {
            let id = row.id;
            let mut n = 0;
            if let Some(s) = &row.insurance_id_sealed
                && let Some(new) = sealer.reseal(s, id.as_bytes())?
            {
                row.insurance_id_sealed = Some(new);
                n += 1;
            }
            Ok(n)
        })?;
        // Through put_appointment: the doctor index carries a copy of the row.
        let restage = |c: &mut Changes, _: &[u8], row: &AppointmentRow, old: &AppointmentRow| {
            self.put_appointment(c, row, Some(old))
        };
        changed += self.reseal_rows::<AppointmentRow>(
            T::Appointments,
            codec::decode_appointment,
            |row| {
                let id = row.id;
                let mut n = 0;
                if let Some(new) = sealer.reseal(&row.reason_sealed, id.as_bytes())? {
                    row.reason_sealed = new;
                    n += 1;
                }
                if let Some(s) = &row.cancel_reason_sealed
                    && let Some(new) = sealer.reseal(s, id.as_bytes())?
                {
                    row.cancel_reason_sealed = Some(new);
                    n += 1;
                }
                Ok(n)
            },
            restage,
        )?;
        for t in [T::Records, T::RecordVersions] {
            changed +=
                self.reseal_tree::<RecordRow>(t, |row| match sealer.reseal(&row.body_sealed, row.id.as_bytes())? {
                    Some(new) => {
                        row.body_sealed = new;
                        Ok(1)
                    }
                    None => Ok(0),
                })?;
        }
        self.append_audit([audit])?;
        self.flush_blocking()?;
        Ok(changed)
    }

    fn reseal_tree<R: Serialize + DeserializeOwned + Clone>(
        &self,
        t: T,
        f: impl Fn(&mut R) -> Result<u64>,
    ) -> Result<u64> {
        self.reseal_rows(t, decode, f, |c, k, row: &R, _| c.put_json(t, k, row))
    }

    /// Like [`Store::reseal_tree`] for rows read with `decode`, staging each
    /// changed row with `stage(changes, key, new, old)`.
    fn reseal_rows<R: Clone>(
        &self,
        t: T,
        decode: fn(&[u8]) -> Result<R>,
        f: impl Fn(&mut R) -> Result<u64>,
        stage: impl Fn(&mut Changes, &[u8], &R, &R) -> Result<()>,
    ) -> Result<u64> {
        self.rewrite_in_chunks(t, decode, |c, k, old| {
            let mut row = old.clone();
            let touched = f(&mut row)?;
            if touched > 0 {
                stage(c, k, &row, &old)?;
            }
            Ok(touched)
        })
    }

    /// Walks every row of `t`, a few hundred per write so requests wait for
    /// the write lock only briefly, letting `each` stage changes for a row;
    /// returns the sum of what `each` counted.
    fn rewrite_in_chunks<R>(
        &self,
        t: T,
        decode: fn(&[u8]) -> Result<R>,
        each: impl Fn(&mut Changes, &[u8], R) -> Result<u64>,
    ) -> Result<u64> {
        const CHUNK: usize = 500;
        let mut total = 0;
        let mut after: Option<IVec> = None;
        loop {
            let (n, last) = self.write(|c| {
                let mut n = 0;
                let mut last = None;
                for kv in scan_rows(self.tree(t), after.as_deref(), None, decode).take(CHUNK) {
                    let (k, row) = kv?;
                    n += each(c, &k, row)?;
                    last = Some(k);
                }
                Ok((n, last))
            })?;
            total += n;
            match last {
                Some(k) => after = Some(k),
                None => return Ok(total),
            }
        }
    }

    /// Bytes the store takes on disk (for `/metrics`).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Whether the store answers (for `/readyz`).
    pub fn ping(&self) -> bool {
        self.tree(T::Meta).get(b"ping").is_ok()
    }

    // ---- users ----

    /// A user row by id, cached.
    pub fn user(&self, id: Uuid) -> Result<Option<UserRow>> {
        self.cached_account(id, |c| &mut c.users, || self.get_json(T::Users, id.as_bytes()))
    }

    /// A user's full name (empty when there is no such user), cached.
    pub fn user_name(&self, id: Uuid) -> Result<String> {
        let name = self.cached_account(id, |c| &mut c.names, || Ok(self.user(id)?.map(|u| u.full_name)))?;
        Ok(name.unwrap_or_default())
    }

    /// A patient's full name from their account (empty when unknown), cached.
    pub fn patient_name(&self, id: Uuid) -> Result<String> {
        let name = self.cached_account(
            id,
            |c| &mut c.names,
            || match self.patient(id)? {
                Some(p) => Ok(self.user(p.user_id)?.map(|u| u.full_name)),
                None => Ok(None),
            },
        )?;
        Ok(name.unwrap_or_default())
    }

    /// `read` through the account cache: a hit is a clone, a miss is kept
    /// only if no account write happened while it was read.
    fn cached_account<V: Clone>(
        &self,
        id: Uuid,
        kind: fn(&mut AccountCache) -> &mut HashMap<Uuid, V>,
        read: impl FnOnce() -> Result<Option<V>>,
    ) -> Result<Option<V>> {
        let lock = || self.accounts.lock().map_err(|_| anyhow::anyhow!("account cache poisoned"));
        let generation = {
            let mut cache = lock()?;
            if let Some(v) = kind(&mut cache).get(&id) {
                return Ok(Some(v.clone()));
            }
            cache.generation
        };
        let value = read()?;
        if let Some(v) = &value {
            let mut cache = lock()?;
            if cache.generation == generation {
                let map = kind(&mut cache);
                if map.len() >= ACCOUNT_CACHE_MAX {
                    map.clear();
                }
                map.insert(id, v.clone());
            }
        }
        Ok(value)
    }

    /// A user row by email (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        match self.tree(T::UsersByEmail).get(email.to_lowercase())? {
            Some(id) => self.user(uuid_of(&id)?),
            None => Ok(None),
        }
    }

    /// Whether a username is taken.
    pub fn username_taken(&self, username: &str) -> Result<bool> {
        Ok(self.tree(T::UsersByUsername).contains_key(username)?)
    }

    /// Users in id order after `after`, for filtered paging.
    pub fn users_after(&self, after: Option<&[u8]>) -> impl Iterator<Item = Result<(IVec, UserRow)>> + '_ {
        scan_json(self.tree(T::Users), after, None)
    }

    /// Stages a user row and its email and username indexes.
    pub fn put_user(&self, c: &mut Changes, row: &UserRow, old: Option<&UserRow>) -> Result<()> {
        if let Some(old) = old {
            if old.email.to_lowercase() != row.email.to_lowercase() {
                c.remove(T::UsersByEmail, old.email.to_lowercase());
            }
            if old.username != row.username {
                c.remove(T::UsersByUsername, &old.username);
            }
        }
        c.put(T::UsersByEmail, row.email.to_lowercase(), row.id.as_bytes().to_vec());
        c.put(T::UsersByUsername, &row.username, row.id.as_bytes().to_vec());
        c.put_json(T::Users, row.id.as_bytes(), row)
    }

    // ---- departments ----

    /// All departments in code order.
    pub fn departments(&self) -> Result<Vec<Department>> {
        scan_json(self.tree(T::Departments), None, None).map(|r| r.map(|(_, d)| d)).collect()
    }

    /// A department by code.
    pub fn department(&self, code: &str) -> Result<Option<Department>> {
        self.get_json(T::Departments, code)
    }

    /// Stages a department.
    pub fn put_department(&self, c: &mut Changes, d: &Department) -> Result<()> {
        c.put_json(T::Departments, &d.code, d)
    }

    // ---- patients ----

    /// A patient row by patient id.
    pub fn patient(&self, id: Uuid) -> Result<Option<PatientRow>> {
        self.get_json(T::Patients, id.as_bytes())
    }

    /// The patient id of a patient's user account.
    pub fn patient_id_of_user(&self, user_id: Uuid) -> Result<Option<Uuid>> {
        self.tree(T::PatientsByUser).get(user_id.as_bytes())?.map(|v| uuid_of(&v)).transpose()
    }

    /// Patients in id order after `after`.
    pub fn patients_after(&self, after: Option<&[u8]>) -> impl Iterator<Item = Result<(IVec, PatientRow)>> + '_ {
        scan_json(self.tree(T::Patients), after, None)
    }

    /// Stages a patient row and its user link.
    pub fn put_patient(&self, c: &mut Changes, row: &PatientRow) -> Result<()> {
        c.put(T::PatientsByUser, row.user_id.as_bytes(), row.id.as_bytes().to_vec());
        c.put_json(T::Patients, row.id.as_bytes(), row)
    }

    // ---- care scope ----

    /// Whether `doctor` has a non-cancelled appointment with `patient`.
    pub fn doctor_cares_for(&self, doctor: Uuid, patient: Uuid) -> Result<bool> {
        Ok(self.tree(T::CareByDoctor).scan_prefix(keys::pair(doctor, patient)).next().transpose()?.is_some())
    }

    /// Whether `dept` has a non-cancelled appointment with `patient`.
    pub fn department_cares_for(&self, dept: &str, patient: Uuid) -> Result<bool> {
        let prefix = [keys::dept(dept).as_slice(), patient.as_bytes()].concat();
        Ok(self.tree(T::CareByDept).scan_prefix(prefix).next().transpose()?.is_some())
    }

    /// The patients in a doctor's (or department's) care, each once, in id order,
    /// after the patient `after`.
    pub fn patients_in_care(&self, scope: &CareScope, after: Option<Uuid>) -> impl Iterator<Item = Result<Uuid>> + '_ {
        let (tree, prefix) = match scope {
            CareScope::Doctor(d) => (self.tree(T::CareByDoctor), d.as_bytes().to_vec()),
            CareScope::Department(code) => (self.tree(T::CareByDept), keys::dept(code)),
        };
        let start = match after {
            // Skip every key of `after`: the next possible patient id.
            Some(p) => Bound::Excluded([prefix.as_slice(), p.as_bytes(), &[0xff; 16]].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let plen = prefix.len();
        let mut last: Option<Uuid> = None;
        tree.range((start, Bound::Unbounded))
            .take_while(move |r| r.as_ref().map(|(k, _)| k.starts_with(&prefix)).unwrap_or(true))
            .filter_map(move |r| match r {
                Err(e) => Some(Err(e.into())),
                Ok((k, _)) => {
                    let id = Uuid::from_slice(&k[plen..plen + 16]).ok()?;
                    if last == Some(id) {
                        return None;
                    }
                    last = Some(id);
                    Some(Ok(id))
                }
            })
    }

    /// Stages the care-scope entries of one appointment (present while it holds time).
    fn put_care(&self, c: &mut Changes, a: &AppointmentRow, present: bool) {
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

    /// Test and bulk-load hook: puts a patient into a doctor's and
    /// department's care as an appointment `link` would.
    pub fn link_care(&self, c: &mut Changes, doctor: Uuid, dept: &str, patient: Uuid, link: Uuid) {
        let row = AppointmentRow::care_link(doctor, dept, patient, link);
        self.put_care(c, &row, true);
    }

    // ---- appointments ----

    /// An appointment row by id.
    pub fn appointment(&self, id: Uuid) -> Result<Option<AppointmentRow>> {
        self.tree(T::Appointments).get(id.as_bytes())?.map(|v| codec::decode_appointment(&v)).transpose()
    }

    /// Stages an appointment and every index of it, replacing `old`'s entries.
    pub fn put_appointment(&self, c: &mut Changes, row: &AppointmentRow, old: Option<&AppointmentRow>) -> Result<()> {
        if let Some(old) = old {
            for (t, k) in appointment_index_keys(old) {
                c.remove(t, k);
            }
            self.put_care(c, old, false);
        }
        let bytes = codec::encode_appointment(row);
        for (t, k) in appointment_index_keys(row) {
            // The doctor index carries the row itself: a doctor's week is then
            // one contiguous range, not ~40 reads scattered over the store.
            let value = if t == T::ApptByDoctor { bytes.clone() } else { Vec::new() };
            c.put(t, k, value);
        }
        if row.status.holds_time() {
            self.put_care(c, row, true);
        }
        c.put(T::Appointments, row.id.as_bytes(), bytes);
        Ok(())
    }

    /// Bulk load (benchmarks, imports into an empty store): writes each row
    /// and every index exactly as [`Store::put_appointment`] stages them, one
    /// `sled::Batch` per tree instead of one transaction, then flushes. No
    /// overlap checks and no audit entries: the caller vouches for the rows.
    pub fn bulk_put_appointments(&self, rows: &[AppointmentRow]) -> Result<()> {
        let mut c = Changes::default();
        for row in rows {
            self.put_appointment(&mut c, row, None)?;
        }
        let mut batches: Vec<(T, sled::Batch)> = Vec::new();
        for (t, k, v) in c.ops {
            let i = match batches.iter().position(|(bt, _)| *bt == t) {
                Some(i) => i,
                None => {
                    batches.push((t, sled::Batch::default()));
                    batches.len() - 1
                }
            };
            match v {
                Some(v) => batches[i].1.insert(k, v),
                None => batches[i].1.remove(k),
            }
        }
        for (t, b) in batches {
            self.tree(t).apply_batch(b)?;
        }
        let dropped = self.views.lock().map_err(|_| anyhow::anyhow!("view cache poisoned"))?.forget_all();
        drop(dropped);
        self.flush_blocking()
    }

    fn appointment_index(&self, index: &ApptIndex) -> (&Tree, Vec<u8>) {
        match index {
            ApptIndex::Doctor(d) => (self.tree(T::ApptByDoctor), d.as_bytes().to_vec()),
            ApptIndex::Patient(p) => (self.tree(T::ApptByPatient), p.as_bytes().to_vec()),
            ApptIndex::Department(code) => (self.tree(T::ApptByDept), keys::dept(code)),
            ApptIndex::All => (self.tree(T::ApptByStart), Vec::new()),
        }
    }

    /// Appointments of one owner (doctor, patient, department or everyone)
    /// starting in `[from, to)`, in start order, after the cursor key `after`.
    pub fn appointments_in(
        &self,
        index: &ApptIndex,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, AppointmentRow)>> + '_ {
        let (tree, prefix) = self.appointment_index(index);
        let lower = match (after, from) {
            (Some(a), _) => Bound::Excluded(a.to_vec()),
            (None, Some(f)) => Bound::Included(keys::owner_time(&prefix, f)),
            (None, None) => Bound::Included(prefix.clone()),
        };
        let end = to.map(|t| keys::owner_time(&prefix, t));
        tree.range((lower, Bound::Unbounded))
            .take_while(move |r| match r {
                Ok((k, _)) => k.starts_with(&prefix) && end.as_ref().is_none_or(|e| k.as_ref() < e.as_slice()),
                Err(_) => true,
            })
            .map(move |r| {
                let (k, stored) = r?;
                let id = keys::trailing_id(&k).ok_or_else(|| anyhow::anyhow!("bad index key"))?;
                let row = self.indexed_appointment(id, &stored)?;
                Ok((k, row))
            })
    }

    /// Appointments of one owner starting in `[from, to)`, in start order, as
    /// the API shows them, encoded: from the view cache, or by `render` from
    /// their rows. One cache lock for the hits, one for filling in the misses.
    pub fn appointment_views_in(
        &self,
        index: &ApptIndex,
        from: Timestamp,
        to: Timestamp,
        render: impl Fn(&AppointmentRow) -> Result<Bytes>,
    ) -> Result<Vec<Bytes>> {
        let (tree, prefix) = self.appointment_index(index);
        let entries = tree
            .range(keys::owner_time(&prefix, from)..keys::owner_time(&prefix, to))
            .map(|r| {
                let (k, stored) = r?;
                Ok((keys::trailing_id(&k).ok_or_else(|| anyhow::anyhow!("bad index key"))?, stored))
            })
            .collect::<Result<Vec<(Uuid, IVec)>>>()?;
        let lock = || self.views.lock().map_err(|_| anyhow::anyhow!("view cache poisoned"));
        let (mut views, generation) = {
            let cache = lock()?;
            (entries.iter().map(|(id, _)| cache.get(id)).collect::<Vec<_>>(), cache.generation())
        };
        let mut rendered = Vec::new();
        for ((id, stored), view) in entries.iter().zip(views.iter_mut()) {
            if view.is_none() {
                let fresh = render(&self.indexed_appointment(*id, stored)?)?;
                rendered.push((*id, fresh.clone()));
                *view = Some(fresh);
            }
        }
        if !rendered.is_empty() {
            let mut retired = Vec::new();
            let mut cache = lock()?;
            for (id, view) in rendered {
                retired.extend(cache.fill(generation, id, view));
            }
            drop(cache);
            drop(retired);
        }
        Ok(views.into_iter().flatten().collect())
    }

    /// The row an index entry names: its value when the index carries rows
    /// (the doctor index), else read by id.
    fn indexed_appointment(&self, id: Uuid, stored: &[u8]) -> Result<AppointmentRow> {
        if !stored.is_empty() {
            return codec::decode_appointment(stored);
        }
        self.appointment(id)?.ok_or_else(|| anyhow::anyhow!("index names a missing appointment").into())
    }

    /// Non-cancelled appointments of a doctor or patient that overlap `[start, end)`,
    /// other than `except`.
    pub fn overlapping(
        &self,
        index: &ApptIndex,
        start: Timestamp,
        end: Timestamp,
        except: Option<Uuid>,
    ) -> Result<Vec<AppointmentRow>> {
        let from = start - jiff::SignedDuration::from_hours(MAX_APPOINTMENT_HOURS);
        let mut out = Vec::new();
        for r in self.appointments_in(index, Some(from), Some(end), None) {
            let (_, a) = r?;
            if a.status.holds_time() && a.end > start && a.start < end && Some(a.id) != except {
                out.push(a);
            }
        }
        Ok(out)
    }

    // ---- availability ----

    /// A doctor's rules and time off (empty when never set).
    pub fn availability(&self, doctor: Uuid) -> Result<Availability> {
        Ok(self.get_json(T::Availability, doctor.as_bytes())?.unwrap_or_default())
    }

    /// Stages a doctor's availability.
    pub fn put_availability(&self, c: &mut Changes, doctor: Uuid, a: &Availability) -> Result<()> {
        c.put_json(T::Availability, doctor.as_bytes(), a)
    }

    // ---- records ----

    /// A record row by id.
    pub fn record(&self, id: Uuid) -> Result<Option<RecordRow>> {
        self.get_json(T::Records, id.as_bytes())
    }

    /// Every stored version of a record, oldest first.
    pub fn record_versions(&self, id: Uuid) -> Result<Vec<RecordRow>> {
        scan_json(self.tree(T::RecordVersions), None, Some(id.as_bytes())).map(|r| r.map(|(_, v)| v)).collect()
    }

    /// Stages a record (a new version of it, keeping the old ones).
    pub fn put_record(&self, c: &mut Changes, row: &RecordRow, is_new: bool) -> Result<()> {
        if is_new {
            c.put(T::RecordsByPatient, keys::owner_time_id(row.patient_id.as_bytes(), row.created_at, row.id), vec![]);
            c.put(T::RecordsByAppt, keys::pair(row.appointment_id, row.id), vec![]);
        }
        c.put_json(T::RecordVersions, [row.id.as_bytes().as_slice(), &keys::seq(row.version)].concat(), row)?;
        c.put_json(T::Records, row.id.as_bytes(), row)
    }

    /// Records of a patient in creation order, after the cursor key `after`.
    pub fn records_of_patient(
        &self,
        patient: Uuid,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, RecordRow)>> + '_ {
        self.indexed_records(T::RecordsByPatient, patient, after)
    }

    /// Records of an appointment, after the cursor key `after`.
    pub fn records_of_appointment(
        &self,
        appt: Uuid,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, RecordRow)>> + '_ {
        self.indexed_records(T::RecordsByAppt, appt, after)
    }

    fn indexed_records(
        &self,
        t: T,
        owner: Uuid,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, RecordRow)>> + '_ {
        let prefix = owner.as_bytes().to_vec();
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_vec()),
            None => Bound::Included(prefix.clone()),
        };
        self.tree(t)
            .range((lower, Bound::Unbounded))
            .take_while(move |r| r.as_ref().map(|(k, _)| k.starts_with(&prefix)).unwrap_or(true))
            .map(move |r| {
                let (k, _) = r?;
                let id = keys::trailing_id(&k).ok_or_else(|| anyhow::anyhow!("bad index key"))?;
                let row = self.record(id)?.ok_or_else(|| anyhow::anyhow!("index names a missing record"))?;
                Ok((k, row))
            })
    }

    // ---- tokens ----

    /// A refresh token family.
    pub fn refresh_family(&self, id: Uuid) -> Result<Option<RefreshFamily>> {
        self.get_json(T::RefreshFamilies, id.as_bytes())
    }

    /// Whether login `id` (a refresh family) of `user` is neither revoked
    /// nor expired at `now`; cached (see [`LoginCache`]).
    pub fn login_live(&self, id: Uuid, user: Uuid, now: Timestamp) -> Result<bool> {
        let lock = || self.logins.lock().map_err(|_| anyhow::anyhow!("login cache poisoned"));
        let live = |f: &RefreshFamily| !f.revoked && f.user_id == user && f.expires_at > now;
        let generation = {
            let cache = lock()?;
            if let Some(f) = cache.families.get(&id) {
                return Ok(live(f));
            }
            cache.generation
        };
        let Some(family) = self.refresh_family(id)? else { return Ok(false) };
        let answer = live(&family);
        let mut cache = lock()?;
        if cache.generation == generation {
            if cache.families.len() >= ACCOUNT_CACHE_MAX {
                cache.families.clear();
            }
            cache.families.insert(id, family);
        }
        Ok(answer)
    }

    /// Stages a refresh token family.
    pub fn put_refresh_family(&self, c: &mut Changes, f: &RefreshFamily) -> Result<()> {
        c.put_json(T::RefreshFamilies, f.id.as_bytes(), f)
    }

    /// A password reset token by the hash of its text.
    pub fn reset_token(&self, hash: &str) -> Result<Option<ResetTokenRow>> {
        self.get_json(T::ResetTokens, hash)
    }

    /// Stages a password reset token under the hash of its text.
    pub fn put_reset_token(&self, c: &mut Changes, hash: &str, row: &ResetTokenRow) -> Result<()> {
        c.put_json(T::ResetTokens, hash, row)
    }

    /// Stages the removal of a used reset token.
    pub fn remove_reset_token(&self, c: &mut Changes, hash: &str) {
        c.remove(T::ResetTokens, hash);
    }

    // ---- idempotency ----

    /// The first answer to an idempotent request by `actor` with `key`.
    pub fn idempotency(&self, actor: Uuid, key: &str) -> Result<Option<IdempotencyRow>> {
        self.get_json(T::Idempotency, [actor.as_bytes().as_slice(), key.as_bytes()].concat())
    }

    /// Stages the answer of an idempotent request.
    pub fn put_idempotency(&self, c: &mut Changes, actor: Uuid, key: &str, row: &IdempotencyRow) -> Result<()> {
        c.put_json(T::Idempotency, [actor.as_bytes().as_slice(), key.as_bytes()].concat(), row)
    }

    // ---- expiry ----

    /// Deletes what has expired by `now`: refresh token families and reset
    /// tokens past their `expires_at` (their tokens no longer verify), and
    /// idempotency answers older than `idempotency_ttl`. Returns how many
    /// rows went.
    pub fn sweep_expired(&self, now: Timestamp, idempotency_ttl: jiff::SignedDuration) -> Result<u64> {
        Ok(self.sweep::<RefreshFamily>(T::RefreshFamilies, |f| f.expires_at <= now)?
            + self.sweep::<ResetTokenRow>(T::ResetTokens, |t| t.expires_at <= now)?
            + self.sweep::<IdempotencyRow>(T::Idempotency, |r| r.created_at + idempotency_ttl <= now)?)
    }

    fn sweep<R: DeserializeOwned>(&self, t: T, expired: impl Fn(&R) -> bool) -> Result<u64> {
        self.rewrite_in_chunks(t, decode, |c, k, row: R| {
            if !expired(&row) {
                return Ok(0);
            }
            c.remove(t, k);
            Ok(1)
        })
    }

    // ---- audit ----

    /// Audit entries from newest to oldest, before the cursor key `before`.
    pub fn audit_newest_first(&self, before: Option<&[u8]>) -> impl Iterator<Item = Result<(IVec, AuditEntry)>> + '_ {
        self.drain_for_reading();
        let upper = match before {
            Some(b) => Bound::Excluded(b.to_vec()),
            None => Bound::Unbounded,
        };
        self.tree(T::Audit).range((Bound::Unbounded, upper)).rev().map(|r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
    }

    /// Audit entries about one patient, newest first, before the cursor key `before`.
    pub fn audit_of_patient(
        &self,
        patient: Uuid,
        before: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<(IVec, AuditEntry)>> + '_ {
        self.drain_for_reading();
        let prefix = patient.as_bytes().to_vec();
        let upper = match before {
            Some(b) => Bound::Excluded(b.to_vec()),
            None => Bound::Excluded([prefix.as_slice(), &[0xff; 9]].concat()),
        };
        self.tree(T::AuditByPatient).range((Bound::Included(prefix.clone()), upper)).rev().map(move |r| {
            let (k, _) = r?;
            let seq = keys::seq_from(&k[16..]).ok_or_else(|| anyhow::anyhow!("bad audit index key"))?;
            let e = self
                .get_json(T::Audit, keys::seq(seq))?
                .ok_or_else(|| anyhow::anyhow!("audit index names a missing entry"))?;
            Ok((k, e))
        })
    }

    /// Links queued entries before the log is read, so it shows every read so far.
    fn drain_for_reading(&self) {
        if let Err(e) = self.drain_audit() {
            tracing::error!(error = %e, "linking queued audit entries failed");
        }
    }

    /// Walks the whole chain.
    pub fn verify_audit(&self) -> ChainReport {
        self.drain_for_reading();
        let entries = self
            .tree(T::Audit)
            .iter()
            .map_while(|r| r.ok())
            .map(|(k, v)| (keys::seq_from(&k).unwrap_or(0), v.to_vec()));
        audit::verify(entries)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.drain_for_reading();
    }
}

/// Which appointment index a scan reads.
#[derive(Debug, Clone)]
pub enum ApptIndex {
    Doctor(Uuid),
    Patient(Uuid),
    Department(String),
    All,
}

/// Whose care a patient list is read from.
#[derive(Debug, Clone)]
pub enum CareScope {
    Doctor(Uuid),
    Department(String),
}

/// The longest appointment; overlap scans look back this far.
pub const MAX_APPOINTMENT_HOURS: i64 = 8;

fn appointment_index_keys(a: &AppointmentRow) -> [(T, Vec<u8>); 4] {
    [
        (T::ApptByDoctor, keys::owner_time_id(a.doctor_id.as_bytes(), a.start, a.id)),
        (T::ApptByPatient, keys::owner_time_id(a.patient_id.as_bytes(), a.start, a.id)),
        (T::ApptByDept, keys::owner_time_id(&keys::dept(&a.department), a.start, a.id)),
        (T::ApptByStart, keys::owner_time_id(&[], a.start, a.id)),
    ]
}

fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V> {
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(anyhow::anyhow!("stored row unreadable: {e}")))
}

fn uuid_of(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| Error::Internal(anyhow::anyhow!("stored id unreadable")))
}

fn scan_json<'a, V: DeserializeOwned + 'a>(
    tree: &'a Tree,
    after: Option<&[u8]>,
    prefix: Option<&[u8]>,
) -> impl Iterator<Item = Result<(IVec, V)>> + 'a {
    scan_rows(tree, after, prefix, decode)
}

/// Rows of `tree` under `prefix`, after the key `after`, read with `decode`.
fn scan_rows<'a, V: 'a>(
    tree: &'a Tree,
    after: Option<&[u8]>,
    prefix: Option<&[u8]>,
    decode: fn(&[u8]) -> Result<V>,
) -> impl Iterator<Item = Result<(IVec, V)>> + 'a {
    let prefix = prefix.map(<[u8]>::to_vec).unwrap_or_default();
    let lower = match after {
        Some(a) => Bound::Excluded(a.to_vec()),
        None => Bound::Included(prefix.clone()),
    };
    tree.range((lower, Bound::Unbounded))
        .take_while(move |r| r.as_ref().map(|(k, _)| k.starts_with(&prefix)).unwrap_or(true))
        .map(move |r| {
            let (k, v) = r?;
            Ok((k, decode(&v)?))
        })
}
