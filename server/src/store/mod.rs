//! Storage: one contract ([`backend`]) and its backends (`sled/`), with
//! what every backend shares above it: the caches of accounts and of
//! rendered appointments, key rotation, opaque cursors and the store's
//! error type.

pub mod backend;
pub mod copy;
pub mod pg;
mod rows;
pub mod sled;
mod views;

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::api::ChainReport;

pub use backend::{Backend, BackupSummary, Committed, Rows, Tx};
pub use rows::*;

use crate::audit::Draft;
use crate::crypto::seal::Sealer;
use crate::throttle::{CountFailure, SharedFailures};

pub use self::sled::DEFAULT_CACHE_MB;

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
    /// The database refused the write (an overlap, a duplicate): `409`.
    #[error("{0}")]
    Conflict(String),
    /// A `?cursor=` this backend did not give out.
    #[error("is not a cursor this server gave out")]
    BadCursor,
    /// This backend does not do that (e.g. file backups on PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Other(anyhow::Error::new(e).context("encode or decode a row"))
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where a list continues: opaque to everyone but the backend that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(Vec<u8>);

impl Cursor {
    pub(crate) fn from_bytes(b: &[u8]) -> Self {
        Cursor(b.to_vec())
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The cursor as it travels in `?cursor=` (base64url).
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// A cursor from `?cursor=`; `None` when it is not one of ours.
    pub fn parse(s: &str) -> Option<Self> {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok().filter(|b| !b.is_empty()).map(Cursor)
    }
}

/// The longest appointment; overlap scans look back this far.
pub const MAX_APPOINTMENT_HOURS: i64 = 8;
/// The longest buffer before or after a visit, minutes.
pub const MAX_BUFFER_MINUTES: u16 = 120;

/// The longest buffer, as a duration.
pub fn max_buffer() -> jiff::SignedDuration {
    jiff::SignedDuration::from_mins(i64::from(MAX_BUFFER_MINUTES))
}

/// How far before a time an appointment can start and still hold it in
/// `scope`: the longest appointment, and for doctors and resources its buffers.
pub fn longest_held(scope: &crate::scope::ApptScope) -> jiff::SignedDuration {
    let visit = jiff::SignedDuration::from_hours(MAX_APPOINTMENT_HOURS);
    match scope {
        crate::scope::ApptScope::Patient(_) => visit,
        _ => longest_busy(),
    }
}

/// [`longest_held`] for a doctor or a resource: a visit and its buffer.
pub fn longest_busy() -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(MAX_APPOINTMENT_HOURS) + max_buffer()
}

/// The cache of encoded appointments, MiB (`HEALTHSYNX_VIEW_CACHE_MB`): a
/// doctor's week is ~16 KB, so this holds ~1 000 doctor-weeks.
pub const DEFAULT_VIEW_CACHE_MB: u64 = 16;

/// Writes other server processes committed, as the database announced
/// them (`LISTEN/NOTIFY`): the caches drop what they name before they answer.
/// While the announcements are not coming (the listening connection is
/// down), the caches are bypassed, so nothing stale is ever served.
#[derive(Debug, Default)]
pub struct Remote {
    pending: Mutex<Vec<Committed>>,
    dirty: AtomicBool,
    live: AtomicBool,
}

impl Remote {
    /// Another process committed `c`.
    pub fn push(&self, c: Committed) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(c);
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// Whether announcements arrive; a change either way empties the caches.
    pub fn set_live(&self, live: bool) {
        if self.live.swap(live, Ordering::AcqRel) != live {
            self.push(Committed { everything: true, ..Committed::default() });
        }
    }
}

/// The store: a backend and the caches above it.
pub struct Store {
    backend: Box<dyn Backend>,
    accounts: Mutex<AccountCache>,
    logins: Mutex<LoginCache>,
    views: Mutex<views::ViewCache>,
    calendar_tags: Mutex<CalendarTags>,
}

/// The `ETag`s of calendars known to be current, so an unchanged calendar
/// is answered `304` without being read. A write on a doctor's calendar
/// bumps that doctor's generation (and a change of names, everyone's),
/// here or, announced, in another process sharing the database; a tag is
/// kept only if its generation did not move while its calendar was read.
/// While announcements are not arriving no tag is used, and none is trusted
/// past [`CALENDAR_TAG_TRUST`]: that bounds what an announcement lost with a
/// process killed between its commit and its announcement can hold back.
#[derive(Default)]
struct CalendarTags {
    everyone: u64,
    doctors: HashMap<Uuid, u64>,
    tags: HashMap<(Uuid, Timestamp, Timestamp), KeptTag>,
}

struct KeptTag {
    read_at: CalendarGeneration,
    kept: std::time::Instant,
    tag: String,
}

/// How long a kept calendar tag is trusted before the calendar is read again.
const CALENDAR_TAG_TRUST: std::time::Duration = std::time::Duration::from_secs(60);

/// Where a doctor's calendar stood when a read of it began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarGeneration {
    everyone: u64,
    doctor: u64,
}

impl CalendarTags {
    fn generation(&self, doctor: Uuid) -> CalendarGeneration {
        CalendarGeneration { everyone: self.everyone, doctor: self.doctors.get(&doctor).copied().unwrap_or(0) }
    }
}

/// Calendar tags kept before they start over.
const CALENDAR_TAGS_MAX: usize = 50_000;

/// Refresh families by id, read by every authenticated request (an access
/// token names its login). A committed write to a family removes it here
/// and bumps `generation` before the write returns, and a reader keeps what
/// it read only if no family was written meanwhile: a logout ends the
/// login's access tokens on the very next request.
#[derive(Default)]
struct LoginCache {
    generation: u64,
    families: HashMap<Uuid, RefreshFamily>,
}

/// User rows by id (every authenticated request reads its caller's) and
/// full names by user or patient id (listing appointments joins two per
/// row), so neither is a store read and a decode each time. Any committed
/// write to users or patients empties it and bumps `generation`; a reader
/// only fills in what it read while the generation stayed the same, so
/// nothing in it is ever stale, revoked tokens included.
#[derive(Default)]
struct AccountCache {
    generation: u64,
    users: HashMap<Uuid, Arc<UserRow>>,
    names: HashMap<Uuid, String>,
}

/// Entries of one kind kept before that kind starts over.
const ACCOUNT_CACHE_MAX: usize = 100_000;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// A write transaction; commit makes it durable and updates the caches.
pub struct Txn<'a> {
    tx: Box<dyn Tx + 'a>,
    store: &'a Store,
}

impl<'a> Deref for Txn<'a> {
    type Target = dyn Tx + 'a;
    fn deref(&self) -> &Self::Target {
        &*self.tx
    }
}

impl DerefMut for Txn<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.tx
    }
}

impl Txn<'_> {
    /// Commits (durable on return) and drops what the commit made stale.
    pub async fn commit(self) -> Result<()> {
        let done = self.tx.commit().await?;
        self.store.forget(&done)
    }
}

fn poisoned(what: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!("{what} poisoned"))
}

impl Store {
    /// A store over `backend`, with a view cache of `view_cache_mb` MiB.
    pub fn new(backend: Box<dyn Backend>, view_cache_mb: u64) -> Self {
        Store {
            backend,
            accounts: Mutex::new(AccountCache::default()),
            logins: Mutex::new(LoginCache::default()),
            views: Mutex::new(views::ViewCache::new(view_cache_mb as usize * 1024 * 1024)),
            calendar_tags: Mutex::new(CalendarTags::default()),
        }
    }

    /// The embedded store in `dir` with the default caches.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_sled(dir, DEFAULT_CACHE_MB, DEFAULT_VIEW_CACHE_MB)
    }

    /// The embedded store in `dir`.
    pub fn open_sled(dir: &Path, cache_mb: u64, view_cache_mb: u64) -> Result<Self> {
        Ok(Self::new(Box::new(self::sled::Sled::open(dir, cache_mb)?), view_cache_mb))
    }

    /// The sled backend, when that is what runs (repair tools and tests).
    pub fn sled(&self) -> Option<&self::sled::Sled> {
        self.backend.as_any().downcast_ref()
    }

    /// A write transaction.
    pub async fn begin(&self) -> Result<Txn<'_>> {
        Ok(Txn { tx: self.backend.begin().await?, store: self })
    }

    /// A handle that reads committed data.
    pub async fn read(&self) -> Result<Box<dyn Tx + '_>> {
        self.backend.read().await
    }

    /// Applies other processes' writes to the caches; whether the caches
    /// may be used at all.
    fn sync_remote(&self) -> Result<bool> {
        let Some(remote) = self.backend.remote() else { return Ok(true) };
        if remote.dirty.swap(false, Ordering::AcqRel) {
            let pending = std::mem::take(&mut *remote.pending.lock().map_err(|_| poisoned("remote changes"))?);
            for c in &pending {
                self.forget(c)?;
            }
        }
        Ok(remote.live.load(Ordering::Acquire))
    }

    fn forget(&self, done: &Committed) -> Result<()> {
        if !done.families.is_empty() || done.everything {
            let mut logins = self.logins.lock().map_err(|_| poisoned("login cache"))?;
            logins.generation += 1;
            if done.everything {
                logins.families.clear();
            }
            for id in &done.families {
                logins.families.remove(id);
            }
        }
        let all = done.accounts || done.everything;
        if all || !done.doctors.is_empty() {
            let mut tags = self.calendar_tags.lock().map_err(|_| poisoned("calendar tags"))?;
            if all {
                tags.everyone += 1;
                tags.tags.clear();
            }
            for d in &done.doctors {
                *tags.doctors.entry(*d).or_default() += 1;
            }
        }
        if all {
            let mut cache = self.accounts.lock().map_err(|_| poisoned("account cache"))?;
            cache.generation += 1;
            cache.users.clear();
            cache.names.clear();
        }
        let mut views = self.views.lock().map_err(|_| poisoned("view cache"))?;
        if all {
            let dropped = views.forget_all();
            drop(views);
            drop(dropped);
        } else {
            for id in &done.appointments {
                views.forget(id);
            }
        }
        Ok(())
    }

    // ---- accounts, cached ----

    /// A user row by id, cached.
    pub async fn user(&self, id: Uuid) -> Result<Option<Arc<UserRow>>> {
        if !self.sync_remote()? {
            return Ok(self.read().await?.user(id).await?.map(Arc::new));
        }
        let generation = match self.cached(id, |c| &mut c.users)? {
            (Some(hit), _) => return Ok(Some(hit)),
            (None, generation) => generation,
        };
        let row = self.read().await?.user(id).await?.map(Arc::new);
        if let Some(r) = &row {
            self.keep(generation, id, r.clone(), |c| &mut c.users)?;
        }
        Ok(row)
    }

    /// A user's full name (empty when there is no such user), cached.
    pub async fn user_name(&self, id: Uuid) -> Result<String> {
        if !self.sync_remote()? {
            return Ok(self.user(id).await?.map(|u| u.full_name.clone()).unwrap_or_default());
        }
        let generation = match self.cached(id, |c| &mut c.names)? {
            (Some(hit), _) => return Ok(hit),
            (None, generation) => generation,
        };
        let Some(name) = self.user(id).await?.map(|u| u.full_name.clone()) else { return Ok(String::new()) };
        self.keep(generation, id, name.clone(), |c| &mut c.names)?;
        Ok(name)
    }

    /// A patient's full name from their account (empty when unknown), cached.
    pub async fn patient_name(&self, id: Uuid) -> Result<String> {
        let cached = self.sync_remote()?;
        let generation = match self.cached(id, |c| &mut c.names)? {
            (Some(hit), _) => return Ok(hit),
            (None, generation) => generation,
        };
        let Some(p) = self.read().await?.patient(id).await? else { return Ok(String::new()) };
        let Some(name) = self.user(p.user_id).await?.map(|u| u.full_name.clone()) else { return Ok(String::new()) };
        if cached {
            self.keep(generation, id, name.clone(), |c| &mut c.names)?;
        }
        Ok(name)
    }

    fn cached<V: Clone>(
        &self,
        id: Uuid,
        kind: fn(&mut AccountCache) -> &mut HashMap<Uuid, V>,
    ) -> Result<(Option<V>, u64)> {
        let mut cache = self.accounts.lock().map_err(|_| poisoned("account cache"))?;
        let hit = kind(&mut cache).get(&id).cloned();
        Ok((hit, cache.generation))
    }

    /// Keeps a value read at `generation` unless an account write came since.
    fn keep<V>(
        &self,
        generation: u64,
        id: Uuid,
        v: V,
        kind: fn(&mut AccountCache) -> &mut HashMap<Uuid, V>,
    ) -> Result<()> {
        let mut cache = self.accounts.lock().map_err(|_| poisoned("account cache"))?;
        if cache.generation == generation {
            let map = kind(&mut cache);
            if map.len() >= ACCOUNT_CACHE_MAX {
                map.clear();
            }
            map.insert(id, v);
        }
        Ok(())
    }

    /// Whether login `id` (a refresh family) of `user` is neither revoked
    /// nor expired at `now`; cached (see [`LoginCache`]).
    pub async fn login_live(&self, id: Uuid, user: Uuid, now: Timestamp) -> Result<bool> {
        let live = |f: &RefreshFamily| !f.revoked && f.user_id == user && f.expires_at > now;
        let cached = self.sync_remote()?;
        let generation = {
            let cache = self.logins.lock().map_err(|_| poisoned("login cache"))?;
            if cached && let Some(f) = cache.families.get(&id) {
                return Ok(live(f));
            }
            cache.generation
        };
        let Some(family) = self.read().await?.refresh_family(id).await? else { return Ok(false) };
        let answer = live(&family);
        let mut cache = self.logins.lock().map_err(|_| poisoned("login cache"))?;
        if cached && cache.generation == generation {
            if cache.families.len() >= ACCOUNT_CACHE_MAX {
                cache.families.clear();
            }
            cache.families.insert(id, family);
        }
        Ok(answer)
    }

    // ---- rendered appointments ----

    /// The cached views of `ids` (`None` for a miss) and the cache
    /// generation to hand back to [`Store::keep_views`].
    pub fn views_of(&self, ids: impl Iterator<Item = Uuid>) -> Result<(Vec<Option<Bytes>>, u64)> {
        let live = self.sync_remote()?;
        let cache = self.views.lock().map_err(|_| poisoned("view cache"))?;
        let views = ids.map(|id| if live { cache.get(&id) } else { None }).collect();
        // A generation that never matches: nothing rendered now is kept.
        let generation = if live { cache.generation() } else { u64::MAX };
        Ok((views, generation))
    }

    /// Keeps views rendered since `generation` was read, unless a write came between.
    pub fn keep_views(&self, generation: u64, rendered: Vec<(Uuid, Bytes)>) -> Result<()> {
        if rendered.is_empty() {
            return Ok(());
        }
        let mut retired = Vec::new();
        let mut cache = self.views.lock().map_err(|_| poisoned("view cache"))?;
        for (id, view) in rendered {
            retired.extend(cache.fill(generation, id, view));
        }
        drop(cache);
        drop(retired);
        Ok(())
    }

    // ---- calendar validators ----

    /// The `ETag` of `doctor`'s calendar over `from..to`, if one is known to be current.
    pub fn calendar_tag(&self, doctor: Uuid, from: Timestamp, to: Timestamp) -> Result<Option<String>> {
        if !self.sync_remote()? {
            return Ok(None);
        }
        let tags = self.calendar_tags.lock().map_err(|_| poisoned("calendar tags"))?;
        let now = tags.generation(doctor);
        let current = |k: &&KeptTag| k.read_at == now && k.kept.elapsed() < CALENDAR_TAG_TRUST;
        Ok(tags.tags.get(&(doctor, from, to)).filter(current).map(|k| k.tag.clone()))
    }

    /// Where `doctor`'s calendar stands, to hand to [`Store::keep_calendar_tag`]
    /// with the tag of what is read next.
    pub fn calendar_generation(&self, doctor: Uuid) -> Result<CalendarGeneration> {
        self.sync_remote()?;
        Ok(self.calendar_tags.lock().map_err(|_| poisoned("calendar tags"))?.generation(doctor))
    }

    /// Keeps `tag` for the calendar read since `read_at`, unless it was written meanwhile.
    pub fn keep_calendar_tag(
        &self,
        doctor: Uuid,
        from: Timestamp,
        to: Timestamp,
        read_at: CalendarGeneration,
        tag: String,
    ) -> Result<()> {
        if !self.sync_remote()? {
            return Ok(());
        }
        let mut tags = self.calendar_tags.lock().map_err(|_| poisoned("calendar tags"))?;
        if tags.generation(doctor) != read_at {
            return Ok(());
        }
        if tags.tags.len() >= CALENDAR_TAGS_MAX {
            tags.tags.clear();
        }
        tags.tags.insert((doctor, from, to), KeptTag { read_at, kept: std::time::Instant::now(), tag });
        Ok(())
    }

    // ---- the backend's own ----

    /// Whether failed logins are counted in the store (for every process).
    pub fn shares_login_failures(&self) -> bool {
        self.backend.shares_login_failures()
    }

    /// The failed logins counted under `key`.
    pub async fn login_failures(&self, key: &str) -> Result<Option<SharedFailures>> {
        self.backend.login_failures(key).await
    }

    /// Counts a failed login under `key` with `fail`, atomically across processes.
    pub async fn count_login_failure(&self, key: &str, fail: &CountFailure) -> Result<Option<std::time::Duration>> {
        self.backend.count_login_failure(key, fail).await
    }

    /// Forgets the failed logins under `key`.
    pub async fn forgive_login_failures(&self, key: &str) -> Result<()> {
        self.backend.forgive_login_failures(key).await
    }

    /// Queues audit entries with no data change (reads, refused attempts).
    pub async fn append_audit(&self, drafts: impl IntoIterator<Item = Draft>) -> Result<()> {
        self.backend.append_audit(drafts.into_iter().collect()).await
    }

    /// Links queued audit entries now.
    pub async fn drain_audit(&self) -> Result<()> {
        self.backend.drain_audit().await
    }

    /// Walks the whole audit chain.
    pub async fn verify_audit(&self) -> Result<ChainReport> {
        self.backend.verify_audit().await
    }

    /// Makes everything so far durable (shutdown, CLI).
    pub async fn flush(&self) -> Result<()> {
        self.backend.flush().await
    }

    /// Deletes what has expired by `now`; returns how many rows went.
    pub async fn sweep_expired(&self, now: Timestamp, idempotency_ttl: jiff::SignedDuration) -> Result<u64> {
        self.backend.sweep_expired(now, idempotency_ttl).await
    }

    /// Bulk load (benchmarks, imports into an empty store): no checks, no audit.
    pub async fn bulk_put_appointments(&self, rows: &[AppointmentRow]) -> Result<()> {
        self.backend.bulk_put_appointments(rows).await?;
        self.forget(&Committed { everything: true, ..Committed::default() })
    }

    /// A consistent sealed snapshot into `path`.
    pub async fn backup_to(&self, sealer: &Sealer, path: &Path) -> Result<BackupSummary> {
        self.backend.backup_to(sealer, path).await
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.backend.ping().await
    }

    /// Bytes the store takes on disk (for `/metrics`).
    pub async fn size_on_disk(&self) -> u64 {
        self.backend.size_on_disk().await
    }

    /// Restores a backup file of the embedded store into `dir`, which must
    /// not hold a store yet (`healthsynx-server restore`).
    pub fn restore_backup(sealer: &Sealer, file: &Path, dir: &Path) -> anyhow::Result<BackupSummary> {
        let s = self::sled::backup::restore(sealer, file, dir)?;
        Ok(BackupSummary { bytes: s.bytes, entries: s.entries })
    }

    /// The PostgreSQL backend, when that is what runs.
    pub fn pg(&self) -> Option<&self::pg::Pg> {
        self.backend.as_any().downcast_ref()
    }

    /// The embedded store in `dir` or, with `database_url`, PostgreSQL.
    pub async fn open_configured(config: &crate::config::Config) -> Result<Self> {
        match &config.database_url {
            Some(url) => {
                let pg = self::pg::Pg::open(url, config.pool_size).await?;
                Ok(Self::new(Box::new(pg), config.view_cache_mb))
            }
            None => Self::open_sled(&config.data_dir, config.cache_mb, config.view_cache_mb),
        }
    }

    // ---- key rotation ----

    /// Re-seals every sealed field that an older key made under the current
    /// key, a few hundred rows per transaction; returns how many values changed.
    pub async fn rekey(&self, sealer: &Sealer, audit: Draft) -> crate::error::Result<u64> {
        const CHUNK: usize = 500;
        let mut changed = 0u64;
        let mut after = None;
        loop {
            let mut tx = self.begin().await?;
            let rows = tx.patients(after.as_ref(), CHUNK).await?;
            for (_, listed) in &rows {
                // Read again to change it: locked until commit, so no concurrent edit is lost.
                let Some(row) = tx.patient(listed.id).await? else { continue };
                let mut new = row.clone();
                if let Some(s) = &row.insurance_id_sealed
                    && let Some(resealed) = sealer.reseal(s, row.id.as_bytes())?
                {
                    new.insurance_id_sealed = Some(resealed);
                    tx.put_patient(&new).await?;
                    changed += 1;
                }
            }
            tx.commit().await?;
            match rows.last() {
                Some((c, _)) => after = Some(c.clone()),
                None => break,
            }
        }
        let mut after = None;
        loop {
            let mut tx = self.begin().await?;
            let rows = tx.appointments_in(&crate::scope::ApptScope::All, None, None, after.as_ref(), CHUNK).await?;
            for (_, listed) in &rows {
                let Some(old) = tx.appointment(listed.id).await? else { continue };
                let mut row = old.clone();
                let mut n = 0;
                if let Some(new) = sealer.reseal(&row.reason_sealed, row.id.as_bytes())? {
                    row.reason_sealed = new;
                    n += 1;
                }
                if let Some(s) = &row.cancel_reason_sealed
                    && let Some(new) = sealer.reseal(s, row.id.as_bytes())?
                {
                    row.cancel_reason_sealed = Some(new);
                    n += 1;
                }
                if n > 0 {
                    tx.put_appointment(&row, Some(&old)).await?;
                    changed += n;
                }
            }
            tx.commit().await?;
            match rows.last() {
                Some((c, _)) => after = Some(c.clone()),
                None => break,
            }
        }
        let mut after = None;
        loop {
            let mut tx = self.begin().await?;
            let rows = tx.records(after.as_ref(), CHUNK).await?;
            for (_, listed) in &rows {
                let Some(current) = tx.record(listed.id).await? else { continue };
                let mut versions = tx.record_versions(current.id).await?;
                let mut n = 0;
                for v in versions.iter_mut() {
                    if let Some(new) = sealer.reseal(&v.body_sealed, v.id.as_bytes())? {
                        v.body_sealed = new;
                        n += 1;
                    }
                }
                let mut now = current.clone();
                if let Some(new) = sealer.reseal(&now.body_sealed, now.id.as_bytes())? {
                    now.body_sealed = new;
                    n += 1;
                }
                if n > 0 {
                    tx.rewrite_record_versions(&now, &versions).await?;
                    changed += n;
                }
            }
            tx.commit().await?;
            match rows.last() {
                Some((c, _)) => after = Some(c.clone()),
                None => break,
            }
        }
        let mut after = None;
        loop {
            let mut tx = self.begin().await?;
            let rows = tx.invoices(None, after.as_ref(), CHUNK).await?;
            for (_, listed) in &rows {
                let Some(mut row) = tx.invoice(listed.id).await? else { continue };
                let mut n = 0;
                for line in row.lines.iter_mut() {
                    if let Some(new) = sealer.reseal(&line.description_sealed, row.id.as_bytes())? {
                        line.description_sealed = new;
                        n += 1;
                    }
                }
                if let Some(s) = &row.void_reason_sealed
                    && let Some(new) = sealer.reseal(s, row.id.as_bytes())?
                {
                    row.void_reason_sealed = Some(new);
                    n += 1;
                }
                if n > 0 {
                    tx.put_invoice(&row).await?;
                    changed += n;
                }
            }
            tx.commit().await?;
            match rows.last() {
                Some((c, _)) => after = Some(c.clone()),
                None => break,
            }
        }
        // Webhook secrets are few: one transaction.
        let mut tx = self.begin().await?;
        for listed in tx.webhooks().await? {
            let Some(mut row) = tx.webhook(listed.id).await? else { continue };
            if let Some(new) = sealer.reseal(&row.secret_sealed, row.id.as_bytes())? {
                row.secret_sealed = new;
                tx.put_webhook(&row).await?;
                changed += 1;
            }
        }
        tx.audit(audit);
        tx.commit().await?;
        Ok(changed)
    }
}
