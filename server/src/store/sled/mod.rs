//! The embedded backend: sled trees, key layouts and row encodings. It is the
//! only module that touches sled.
//!
//! Writes: [`Sled::begin`] takes one lock for the whole transaction; the
//! caller's checks read current data, and commit links the audit entries into
//! the chain and applies all staged changes and entries in one sled
//! transaction. The lock makes check-then-write atomic (sled transactions
//! cannot range-scan, and a booking must re-check overlap against a range);
//! it is released before the fsync, which [`flusher`] batches for every
//! writer waiting at that moment.

mod accounts;
mod audit_log;
pub mod backup;
mod billing;
mod catalog;
mod codec;
mod flusher;
mod keys;
mod outreach;
mod patients;
mod records;
mod safety;
mod schedule;
mod upgrade;
mod waitlist;

use std::any::Any;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Db, IVec, Transactional, Tree};
use uuid::Uuid;

use healthsynx_shared::AuditEntry;
use healthsynx_shared::api::ChainReport;

use super::backend::{Backend, BackupSummary, Committed, Rows, Tx};
use super::{
    AppointmentRow, Cursor, DeliveryRow, IdempotencyRow, MfaChallengeRow, OfferRow, RefreshFamily, ResetTokenRow,
    Result, StoreError, WaitlistRow, delivery_swept, waitlist_swept,
};
use crate::audit::{self, Draft};
use crate::crypto::seal::Sealer;

/// Every tree of the store. The discriminant is the index into `Sled::trees`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum T {
    Meta,
    Users,
    UsersByEmail,
    UsersByUsername,
    Departments,
    Patients,
    PatientsByUser,
    /// `doctor ‖ patient` → how many live appointments (and care links)
    /// join them: the patients a doctor may see.
    CareByDoctor,
    /// `dept\0 ‖ patient` → the same count: the patients a department may see.
    CareByDept,
    Appointments,
    ApptByDoctor,
    ApptByPatient,
    ApptByDept,
    Availability,
    Records,
    RecordVersions,
    RecordsByPatient,
    RecordsByAppt,
    RefreshFamilies,
    /// `user ‖ family` → nothing: a user's logins, for the sessions list.
    FamiliesByUser,
    ResetTokens,
    Idempotency,
    Audit,
    AuditByPatient,
    Grants,
    /// `actor ‖ patient ‖ grant` → nothing.
    GrantsByActor,
    Mfa,
    MfaChallenges,
    /// `user` → its calendar feed.
    CalendarFeeds,
    /// `token hash` → the user.
    CalendarFeedsByHash,
    AppointmentTypes,
    Resources,
    /// `resource ‖ start ‖ id` → the doctor id, like the patient index.
    ApptByResource,
    Series,
    Waitlist,
    Offers,
    Invoices,
    /// `patient ‖ invoice` → nothing.
    InvoicesByPatient,
    /// `invoice` → nothing: issued invoices with a balance.
    OpenInvoices,
    /// `year` (i16, big-endian) → the last number given (u32, big-endian).
    InvoiceNumbers,
    /// `appointment` → the live invoice billing it.
    BilledAppointments,
    Payments,
    /// `invoice ‖ payment` → nothing.
    PaymentsByInvoice,
    Webhooks,
    Deliveries,
    /// `webhook ‖ delivery` → nothing.
    DeliveriesByWebhook,
    /// `next attempt ‖ delivery` → nothing: pending deliveries.
    DeliveriesDue,
    /// `appointment ‖ start ‖ offset` → the start (JSON): reminders sent.
    RemindersSent,
}

const TREES: [(T, &str); 48] = [
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
    (T::Availability, "availability"),
    (T::Records, "records"),
    (T::RecordVersions, "record_versions"),
    (T::RecordsByPatient, "records_by_patient"),
    (T::RecordsByAppt, "records_by_appt"),
    (T::RefreshFamilies, "refresh_families"),
    (T::FamiliesByUser, "families_by_user"),
    (T::ResetTokens, "reset_tokens"),
    (T::Idempotency, "idempotency"),
    (T::Audit, "audit"),
    (T::AuditByPatient, "audit_by_patient"),
    (T::Grants, "grants"),
    (T::GrantsByActor, "grants_by_actor"),
    (T::Mfa, "mfa"),
    (T::MfaChallenges, "mfa_challenges"),
    (T::CalendarFeeds, "calendar_feeds"),
    (T::CalendarFeedsByHash, "calendar_feeds_by_hash"),
    (T::AppointmentTypes, "appointment_types"),
    (T::Resources, "resources"),
    (T::ApptByResource, "appt_by_resource"),
    (T::Series, "series"),
    (T::Waitlist, "waitlist"),
    (T::Offers, "offers"),
    (T::Invoices, "invoices"),
    (T::InvoicesByPatient, "invoices_by_patient"),
    (T::OpenInvoices, "open_invoices"),
    (T::InvoiceNumbers, "invoice_numbers"),
    (T::BilledAppointments, "billed_appointments"),
    (T::Payments, "payments"),
    (T::PaymentsByInvoice, "payments_by_invoice"),
    (T::Webhooks, "webhooks"),
    (T::Deliveries, "deliveries"),
    (T::DeliveriesByWebhook, "deliveries_by_webhook"),
    (T::DeliveriesDue, "deliveries_due"),
    (T::RemindersSent, "reminders_sent"),
];

/// sled's page cache, MiB (`HEALTHSYNX_CACHE_MB`), counted in on-disk bytes;
/// decoded nodes take about twice that in memory. It does not bound sled's
/// per-page bookkeeping, which grows with the store (README, Performance).
/// Small on purpose: a miss decodes a page the operating system's file
/// cache still holds, and at 1M appointments 64 MiB cost ~95 MB of memory
/// for ~15 % more calendar reads per second.
pub const DEFAULT_CACHE_MB: u64 = 8;

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Other(anyhow::Error::new(e).context("sled"))
    }
}

/// The newest link of the audit chain.
pub(super) struct ChainHead {
    last_seq: u64,
    last_hash: String,
}

/// One staged write: a tree, a key, and the new value (`None` removes).
type Op = (T, Vec<u8>, Option<Vec<u8>>);

/// Writes staged by a transaction, applied all or nothing.
#[derive(Default)]
struct Changes {
    ops: Vec<Op>,
    /// Changes to counters (the care indexes), resolved against the stored
    /// counts under the write lock: an entry whose count reaches 0 goes.
    counts: Vec<(T, Vec<u8>, i64)>,
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

    fn count(&mut self, tree: T, key: Vec<u8>, delta: i64) {
        self.counts.push((tree, key, delta));
    }
}

/// The sled store.
pub struct Sled {
    db: Db,
    trees: Vec<Tree>,
    head: tokio::sync::Mutex<ChainHead>,
    /// Audit entries of reads and refused attempts, not yet linked: the
    /// next write, flush, audit read or drain tick links them all in one
    /// transaction, so a read never waits for the write lock.
    queued: Mutex<Vec<Draft>>,
    flusher: flusher::Flusher,
}

impl std::fmt::Debug for Sled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sled")
    }
}

impl Sled {
    /// Opens (or creates) the store in `dir` with a page cache of `cache_mb` MiB.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self> {
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
        let head = match audit_log::newest(&trees[T::Audit as usize])? {
            Some(e) => ChainHead { last_seq: e.seq, last_hash: e.hash },
            None => ChainHead { last_seq: 0, last_hash: audit::GENESIS.to_owned() },
        };
        let flusher = flusher::Flusher::start(db.clone()).context("start the flush thread")?;
        let s = Sled { db, trees, head: tokio::sync::Mutex::new(head), queued: Mutex::new(Vec::new()), flusher };
        s.upgrade_layout()?;
        Ok(s)
    }

    fn tree(&self, t: T) -> &Tree {
        &self.trees[t as usize]
    }

    /// A raw tree by name, for repair tools and tests that tamper on purpose.
    pub fn raw_tree(&self, name: &str) -> Option<&Tree> {
        TREES.iter().find(|(_, n)| *n == name).map(|(t, _)| self.tree(*t))
    }

    /// Up to `limit` audit entries after `after_seq`, as stored (copy).
    pub fn audit_entries(&self, after_seq: u64, limit: usize) -> Result<Vec<AuditEntry>> {
        audit_log::oldest_first(self.tree(T::Audit), after_seq)?.take(limit).map(|(_, e)| e).collect()
    }

    fn get_json<V: DeserializeOwned>(&self, t: T, key: impl AsRef<[u8]>) -> Result<Option<V>> {
        match self.tree(t).get(key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn take_queued(&self) -> Result<Vec<Draft>> {
        Ok(std::mem::take(&mut *self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?))
    }

    /// Links `drafts` after the head into `changes`, applies them, and moves
    /// the head. Runs under the write lock.
    fn apply_linked(&self, head: &mut ChainHead, mut changes: Changes) -> Result<Committed> {
        let now = Timestamp::now();
        let mut seq = head.last_seq;
        // Queued read entries happened before this write: they link first.
        let mut drafts = self.take_queued()?;
        drafts.append(&mut changes.audit);
        let mut linked: Vec<AuditEntry> = Vec::with_capacity(drafts.len());
        for draft in drafts {
            seq += 1;
            let prev = linked.last().map_or(&head.last_hash, |e| &e.hash);
            let entry = audit::link(draft, seq, prev, now);
            if let Some(p) = entry.patient_id {
                changes.put(T::AuditByPatient, [p.as_bytes().as_slice(), &keys::seq(seq)].concat(), vec![]);
            }
            linked.push(entry);
        }
        audit_log::stage(&mut changes, &linked)?;
        self.resolve_counts(&mut changes)?;
        self.apply(&changes.ops)?;
        if let Some(last) = linked.pop() {
            head.last_seq = last.seq;
            head.last_hash = last.hash;
        }
        let mut done = Committed::default();
        for (t, k, _) in &changes.ops {
            match t {
                T::Users | T::Patients => done.accounts = true,
                T::Appointments => done.appointments.push(uuid_of(k)?),
                // A doctor index entry is `doctor ‖ time ‖ id`: a write there
                // (new, moved or changed) changes that doctor's calendar.
                T::ApptByDoctor => done.doctors.extend(k.get(..16).and_then(|d| Uuid::from_slice(d).ok())),
                T::RefreshFamilies => done.families.push(uuid_of(k)?),
                _ => {}
            }
        }
        Ok(done)
    }

    /// Turns staged counter changes into writes of the new counts. Runs
    /// under the write lock (or before anyone else can write), so the
    /// counts read are the ones the writes replace.
    fn resolve_counts(&self, c: &mut Changes) -> Result<()> {
        let mut sums: std::collections::BTreeMap<(usize, Vec<u8>), i64> = Default::default();
        for (t, k, d) in c.counts.drain(..) {
            *sums.entry((t as usize, k)).or_default() += d;
        }
        for ((t, k), delta) in sums {
            if delta == 0 {
                continue;
            }
            let tree = TREES[t].0;
            let stored = self.tree(tree).get(&k)?.map(|v| keys::seq_from(&v).unwrap_or(1)).unwrap_or(0);
            match stored as i64 + delta {
                n if n > 0 => c.put(tree, k, keys::seq(n as u64)),
                0 => c.remove(tree, k),
                _ => return Err(corrupt("a care count would fall below zero")),
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
        match touched.as_slice() {
            [] => return Ok(()),
            // One tree (a drain of read audit entries, most often): a batch
            // is as atomic there as a transaction, at a fraction of its cost.
            [only] => {
                let mut batch = sled::Batch::default();
                for (_, k, v) in ops {
                    match v {
                        Some(v) => batch.insert(k.as_slice(), v.as_slice()),
                        None => batch.remove(k.as_slice()),
                    }
                }
                return Ok(self.tree(*only).apply_batch(batch)?);
            }
            _ => {}
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

    /// Walks every row of `t`, a few hundred per transaction so requests
    /// wait for the write lock only briefly, letting `each` stage changes for
    /// a row; returns the sum of what `each` counted.
    async fn rewrite_in_chunks<R>(
        &self,
        t: T,
        decode: fn(&[u8]) -> Result<R>,
        each: impl Fn(&mut Changes, &[u8], R) -> Result<u64>,
    ) -> Result<u64> {
        const CHUNK: usize = 500;
        let mut total = 0;
        let mut after: Option<IVec> = None;
        loop {
            let mut head = self.head.lock().await;
            let mut changes = Changes::default();
            let mut last = None;
            for kv in scan_rows(self.tree(t), after.as_deref(), None, decode).take(CHUNK) {
                let (k, row) = kv?;
                total += each(&mut changes, &k, row)?;
                last = Some(k);
            }
            self.apply_linked(&mut head, changes)?;
            drop(head);
            match last {
                Some(k) => after = Some(k),
                None => return Ok(total),
            }
        }
    }

    fn sweep_tree<R: DeserializeOwned>(&self, t: T, expired: impl Fn(&R) -> bool) -> impl Future<Output = Result<u64>> {
        self.rewrite_in_chunks(t, decode, move |c, k, row: R| {
            if !expired(&row) {
                return Ok(0);
            }
            c.remove(t, k);
            Ok(1)
        })
    }

    /// Deletes delivered and dead deliveries past [`super::DELIVERY_KEEP_DAYS`].
    async fn sweep_deliveries(&self, now: Timestamp) -> Result<u64> {
        self.rewrite_in_chunks(T::Deliveries, decode, move |c, k, row: DeliveryRow| {
            if !delivery_swept(&row, now) {
                return Ok(0);
            }
            c.remove(T::Deliveries, k);
            c.remove(T::DeliveriesByWebhook, keys::pair(row.webhook_id, row.id));
            Ok(1)
        })
        .await
    }

    /// Links queued entries while no write holds the lock (shutdown).
    fn drain_now(&self) {
        let Ok(mut head) = self.head.try_lock() else { return };
        if let Err(e) = self.apply_linked(&mut head, Changes::default()) {
            tracing::error!(error = %e, "linking queued audit entries failed");
        }
    }
}

#[async_trait]
impl Backend for Sled {
    async fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        let head = self.head.lock().await;
        Ok(Box::new(SledTx { s: self, head: Some(head), changes: Changes::default() }))
    }

    async fn read(&self) -> Result<Box<dyn Tx + '_>> {
        Ok(Box::new(SledTx { s: self, head: None, changes: Changes::default() }))
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<()> {
        self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?.extend(drafts);
        Ok(())
    }

    async fn drain_audit(&self) -> Result<()> {
        if self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?.is_empty() {
            return Ok(());
        }
        let mut head = self.head.lock().await;
        self.apply_linked(&mut head, Changes::default())?;
        Ok(())
    }

    async fn verify_audit(&self) -> Result<ChainReport> {
        self.drain_audit().await?;
        let entries = audit_log::oldest_first(self.tree(T::Audit), 0)?.map(|(at, e)| (at, e.ok()));
        Ok(audit::verify(entries))
    }

    async fn flush(&self) -> Result<()> {
        self.drain_audit().await?;
        self.flusher.flush().await
    }

    async fn sweep_expired(&self, now: Timestamp, idempotency_ttl: jiff::SignedDuration) -> Result<u64> {
        let families = self.rewrite_in_chunks(T::RefreshFamilies, decode, move |c, k, f: RefreshFamily| {
            if f.expires_at > now {
                return Ok(0);
            }
            c.remove(T::RefreshFamilies, k);
            c.remove(T::FamiliesByUser, keys::pair(f.user_id, f.id));
            Ok(1)
        });
        Ok(families.await?
            + self.sweep_tree::<ResetTokenRow>(T::ResetTokens, |t| t.expires_at <= now).await?
            + self.sweep_tree::<MfaChallengeRow>(T::MfaChallenges, |t| t.expires_at <= now).await?
            + self.sweep_tree::<IdempotencyRow>(T::Idempotency, |r| r.created_at + idempotency_ttl <= now).await?
            // An entry never answered ends when its window does.
            + self.sweep_tree::<WaitlistRow>(T::Waitlist, |r| waitlist_swept(r.ended_at.or(Some(r.latest)), now)).await?
            + self.sweep_tree::<OfferRow>(T::Offers, |r| waitlist_swept(r.ended_at, now)).await?
            + self.sweep_deliveries(now).await?
            // A reminder's note outlives its appointment by a day.
            + self.sweep_tree::<Timestamp>(T::RemindersSent, |start| *start + jiff::SignedDuration::from_hours(24) < now).await?)
    }

    async fn bulk_put_appointments(&self, rows: &[AppointmentRow]) -> Result<()> {
        let writes_wait = self.head.lock().await;
        let mut c = Changes::default();
        for row in rows {
            schedule::stage_appointment(&mut c, row, None);
        }
        self.resolve_counts(&mut c)?;
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
        drop(writes_wait);
        self.flush().await
    }

    async fn backup_to(&self, sealer: &Sealer, path: &Path) -> Result<BackupSummary> {
        self.drain_audit().await?;
        // Writes wait while it copies; reads go on.
        let _writes_wait = self.head.lock().await;
        let s = backup::write(self, sealer, path)?;
        Ok(BackupSummary { bytes: s.bytes, entries: s.entries })
    }

    async fn ping(&self) -> bool {
        self.tree(T::Meta).get(b"ping").is_ok()
    }

    async fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Drop for Sled {
    fn drop(&mut self) {
        self.drain_now();
    }
}

/// A transaction (holding the write lock) or a read handle (not).
pub struct SledTx<'a> {
    s: &'a Sled,
    head: Option<tokio::sync::MutexGuard<'a, ChainHead>>,
    changes: Changes,
}

#[async_trait]
impl Tx for SledTx<'_> {
    fn audit(&mut self, draft: Draft) {
        self.changes.audit.push(draft);
    }

    async fn commit(self: Box<Self>) -> Result<Committed> {
        let SledTx { s, head, changes } = *self;
        let Some(mut head) = head else {
            if !changes.ops.is_empty() {
                return Err(StoreError::Other(anyhow::anyhow!("a read handle cannot write")));
            }
            s.append_audit(changes.audit).await?;
            return Ok(Committed::default());
        };
        let done = s.apply_linked(&mut head, changes)?;
        drop(head);
        s.flusher.flush().await?;
        Ok(done)
    }
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(why.to_owned())
}

fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Result<V> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn uuid_of(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|_| corrupt("stored id unreadable"))
}

/// Up to `limit` JSON rows of `tree` under `prefix`, after `after`.
fn page_json<V: DeserializeOwned>(
    tree: &Tree,
    after: Option<&Cursor>,
    prefix: Option<&[u8]>,
    limit: usize,
) -> Result<Rows<V>> {
    scan_rows(tree, after.map(Cursor::bytes), prefix, decode)
        .take(limit)
        .map(|r| r.map(|(k, v)| (Cursor::from_bytes(&k), v)))
        .collect()
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
