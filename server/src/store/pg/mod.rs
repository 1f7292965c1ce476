//! The PostgreSQL backend, for clinics that run several stateless server
//! processes on one database. Every guarantee holds across processes
//! because the database decides: exclusion constraints refuse overlapping
//! live appointments, rows read for a change are locked (`FOR UPDATE`),
//! unique keys refuse duplicates, and one linker at a time (an advisory
//! lock) chains the audit entries every process writes. Caches above the
//! backend learn of other processes' writes through `LISTEN/NOTIFY`.
//!
//! A lost database gives [`StoreError::Unavailable`] (`503`) within bounded
//! timeouts, never a hang; the pool reconnects by itself.

mod accounts;
mod audit_log;
mod billing;
mod catalog;
mod listen;
mod migrate;
mod outreach;
mod patients;
mod records;
mod safety;
mod schedule;
mod waitlist;

use std::any::Any;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use jiff::Timestamp;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use healthsynx_shared::api::ChainReport;

pub use migrate::{SCHEMA_VERSION, migrate, schema_version};

use super::backend::{Backend, BackupSummary, Committed, Tx};
use super::{AppointmentRow, Cursor, Remote, Result, StoreError};
use crate::audit::Draft;
use crate::crypto::seal::Sealer;
use crate::throttle::{CountFailure, SharedFailures};

/// How long a request waits for a pooled connection, a new connection, or
/// one statement, before it answers `503`.
const WAIT: Duration = Duration::from_secs(3);
/// Server-side limits on one statement and on waiting for a row lock.
const SESSION_OPTIONS: &str =
    "-c statement_timeout=10000 -c lock_timeout=5000 -c idle_in_transaction_session_timeout=30000";
/// The channel other processes' writes are announced on.
pub const CHANNEL: &str = "hs_changes";

/// The PostgreSQL store.
pub struct Pg {
    pool: Pool,
    /// Audit entries of reads and refused attempts, not yet written.
    queued: Mutex<Vec<Draft>>,
    /// One drain at a time in this process: a reader that drains before it
    /// reads the log waits for a drain already under way, so it sees its entries.
    draining: tokio::sync::Mutex<()>,
    remote: std::sync::Arc<Remote>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pg")
    }
}

/// The driver's config for `url` with our timeouts.
pub fn pg_config(url: &str) -> Result<tokio_postgres::Config> {
    let mut cfg: tokio_postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("HEALTHSYNX_DATABASE_URL is not a PostgreSQL URL: {e}")))?;
    let options = match cfg.get_options() {
        Some(o) if !o.is_empty() => format!("{o} {SESSION_OPTIONS}"),
        _ => SESSION_OPTIONS.to_owned(),
    };
    cfg.options(&options);
    cfg.connect_timeout(WAIT);
    cfg.keepalives(true);
    cfg.keepalives_idle(Duration::from_secs(10));
    cfg.tcp_user_timeout(Duration::from_secs(10));
    if cfg.get_application_name().is_none() {
        cfg.application_name("healthsynx-server");
    }
    Ok(cfg)
}

/// A pool of `size` connections to `url`.
pub fn pool(url: &str, size: usize) -> Result<Pool> {
    let manager = Manager::from_config(
        pg_config(url)?,
        NoTls,
        // No statement on the way out of the pool: a transaction left open
        // (a dropped request) is rolled back by `PgTx`'s drop instead.
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(WAIT))
        .create_timeout(Some(WAIT))
        .recycle_timeout(Some(WAIT))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("connection pool: {e}")))
}

impl Pg {
    /// Connects to `url`; refuses a database whose schema is older than this server's.
    pub async fn open(url: &str, pool_size: usize) -> Result<Self> {
        let pool = pool(url, pool_size)?;
        let client = pool.get().await.map_err(pool_error)?;
        let version = schema_version(&client).await?;
        if version < SCHEMA_VERSION {
            return Err(StoreError::Other(anyhow::anyhow!(
                "the database schema is at version {version}, this server needs {SCHEMA_VERSION}: run `healthsynx-server migrate --database-url URL` first"
            )));
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::Other(anyhow::anyhow!(
                "the database schema is at version {version}, newer than this server ({SCHEMA_VERSION}): upgrade the server"
            )));
        }
        drop(client);
        let remote = std::sync::Arc::new(Remote::default());
        let listener = listen::start(pg_config(url)?, remote.clone());
        Ok(Pg { pool, queued: Mutex::new(Vec::new()), draining: tokio::sync::Mutex::new(()), remote, listener })
    }

    /// Whether the database holds no clinic yet (copy's precondition).
    pub async fn is_empty(&self) -> Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM users) AND NOT EXISTS (SELECT 1 FROM audit)
                 AND NOT EXISTS (SELECT 1 FROM audit_pending) AND NOT EXISTS (SELECT 1 FROM appointments)",
                &[],
            )
            .await
            .map_err(db_error)?;
        Ok(row.get(0))
    }

    /// Appends already linked entries, as they are (copy from the embedded store).
    pub async fn import_audit(&self, entries: &[(u64, Option<Uuid>, String)]) -> Result<()> {
        let client = self.client().await?;
        let seqs: Vec<i64> = entries.iter().map(|e| e.0 as i64).collect();
        let patients: Vec<Option<Uuid>> = entries.iter().map(|e| e.1).collect();
        let texts: Vec<&str> = entries.iter().map(|e| e.2.as_str()).collect();
        client
            .execute(
                "INSERT INTO audit (seq, patient_id, entry) SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[])",
                &[&seqs, &patients, &texts],
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Writes queued read entries and links every pending entry.
    pub(super) async fn drain_audit_now(&self) -> Result<()> {
        let _one_at_a_time = self.draining.lock().await;
        let mut client = self.client().await?;
        let queued = self.take_queued()?;
        if let Err(e) = audit_log::link(&mut client, &queued).await {
            // Put them back: the next tick tries again.
            if let Ok(mut q) = self.queued.lock() {
                let later = std::mem::take(&mut *q);
                *q = queued;
                q.extend(later);
            }
            return Err(e);
        }
        Ok(())
    }

    fn take_queued(&self) -> Result<Vec<Draft>> {
        Ok(std::mem::take(&mut *self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?))
    }
}

/// A failed statement as the store names it: the database gone or too slow
/// is `Unavailable`, a refused overlap or duplicate is a `Conflict`.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else {
        return StoreError::Unavailable(format!("database connection: {e}"));
    };
    let constraint = e.as_db_error().and_then(|d| d.constraint()).unwrap_or_default().to_owned();
    match code {
        c if *c == SqlState::EXCLUSION_VIOLATION => StoreError::Conflict(match constraint.as_str() {
            "appointments_patient_no_overlap" => "the patient already has an appointment at that time".into(),
            "appointments_resource_no_overlap" => "that room or device is already booked at that time".into(),
            _ => "the doctor already has an appointment at that time".into(),
        }),
        c if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(match constraint.as_str() {
            "users_email_lower_key" => "an account with that email exists".into(),
            "users_username_key" => "that username is taken".into(),
            "departments_pkey" => "that department exists".into(),
            "appointment_types_name_key" => "the department has a type of that name".into(),
            "resources_name_key" => "the department has a resource of that name".into(),
            other => format!("a conflicting write came first ({other})"),
        }),
        c if *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::LOCK_NOT_AVAILABLE
            || *c == SqlState::QUERY_CANCELED
            || *c == SqlState::ADMIN_SHUTDOWN
            || *c == SqlState::CANNOT_CONNECT_NOW
            || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            StoreError::Unavailable(match e.as_db_error() {
                Some(d) => format!("{} ({})", d.message(), d.code().code()),
                None => e.to_string(),
            })
        }
        _ => StoreError::Other(anyhow::Error::new(e).context("database")),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

/// A UUID cursor (lists in id order).
fn id_cursor(id: Uuid) -> Cursor {
    Cursor::from_bytes(id.as_bytes())
}

fn id_after(c: Option<&Cursor>) -> Result<Option<Uuid>> {
    c.map(|c| Uuid::from_slice(c.bytes()).map_err(|_| StoreError::BadCursor)).transpose()
}

/// A `(time, id)` cursor (lists in time order).
fn time_cursor(t: Timestamp, id: Uuid) -> Cursor {
    Cursor::from_bytes(&[t.as_microsecond().to_be_bytes().as_slice(), id.as_bytes()].concat())
}

fn time_after(c: Option<&Cursor>) -> Result<Option<(Timestamp, Uuid)>> {
    let Some(c) = c else { return Ok(None) };
    let b = c.bytes();
    if b.len() != 24 {
        return Err(StoreError::BadCursor);
    }
    let micros = i64::from_be_bytes(b[..8].try_into().map_err(|_| StoreError::BadCursor)?);
    let t = Timestamp::from_microsecond(micros).map_err(|_| StoreError::BadCursor)?;
    Ok(Some((t, Uuid::from_slice(&b[8..]).map_err(|_| StoreError::BadCursor)?)))
}

fn limit_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn doc<T: serde::de::DeserializeOwned>(row: &Row, col: &str) -> Result<T> {
    row.try_get::<_, Json<T>>(col).map(|j| j.0).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

/// One transaction (write) or a plain connection (read).
///
/// Round trips are what a request waits for, so a write transaction sends
/// `BEGIN` with its first statement, and its audit entries, notification
/// and `COMMIT` in one flight: the connection runs a pipeline in order, and
/// a failed statement turns the `COMMIT` behind it into a rollback.
pub struct PgTx<'a> {
    pg: &'a Pg,
    /// Present until the transaction ends (its drop may need to roll back).
    client: Option<Object>,
    write: bool,
    /// `BEGIN` not sent yet: it goes with the first statement.
    begin_pending: AtomicBool,
    /// `COMMIT` sent: nothing left to roll back.
    ended: bool,
    drafts: Vec<Draft>,
    done: Committed,
}

impl PgTx<'_> {
    fn new(pg: &Pg, client: Object, write: bool) -> PgTx<'_> {
        PgTx {
            pg,
            client: Some(client),
            write,
            begin_pending: AtomicBool::new(write),
            ended: false,
            drafts: Vec::new(),
            done: Committed::default(),
        }
    }

    fn conn(&self) -> Result<&Object> {
        self.client.as_ref().ok_or_else(|| StoreError::Other(anyhow::anyhow!("the transaction has ended")))
    }

    /// `BEGIN`, when this is the transaction's first statement: sent ahead
    /// of the statement polled after it, in the same flight.
    async fn begin_if_pending(&self, c: &Object) -> std::result::Result<(), tokio_postgres::Error> {
        if self.begin_pending.swap(false, Ordering::Relaxed) { c.batch_execute("BEGIN").await } else { Ok(()) }
    }

    async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let c = self.conn()?;
        let stmt = c.prepare_cached(sql).await.map_err(db_error)?;
        let ((), rows) = tokio::try_join!(self.begin_if_pending(c), c.query(&stmt, params)).map_err(db_error)?;
        Ok(rows)
    }

    async fn query_opt(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let c = self.conn()?;
        let stmt = c.prepare_cached(sql).await.map_err(db_error)?;
        let ((), row) = tokio::try_join!(self.begin_if_pending(c), c.query_opt(&stmt, params)).map_err(db_error)?;
        Ok(row)
    }

    async fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.execute_after(None, sql, params).await
    }

    /// `sql`, preceded in the same flight by `first` (a query whose rows
    /// are not needed, such as taking locks).
    async fn execute_after(
        &mut self,
        first: Option<(&str, &[&(dyn ToSql + Sync)])>,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        if !self.write {
            return Err(StoreError::Other(anyhow::anyhow!("a read handle cannot write")));
        }
        let c = self.conn()?;
        let first = match first {
            Some((sql, params)) => Some((c.prepare_cached(sql).await.map_err(db_error)?, params)),
            None => None,
        };
        let stmt = c.prepare_cached(sql).await.map_err(db_error)?;
        let run_first = async {
            match &first {
                Some((stmt, params)) => c.query(stmt, params).await.map(drop),
                None => Ok(()),
            }
        };
        let ((), (), n) =
            tokio::try_join!(self.begin_if_pending(c), run_first, c.execute(&stmt, params)).map_err(db_error)?;
        Ok(n)
    }

    /// ` FOR UPDATE` in a write transaction: a row read to be changed is
    /// locked until commit, so concurrent changes of it serialize.
    fn lock(&self) -> &'static str {
        if self.write { " FOR UPDATE" } else { "" }
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        let begun = !self.begin_pending.load(Ordering::Relaxed);
        let Some(client) = self.client.take() else { return };
        if !self.write || self.ended || !begun {
            return;
        }
        // Handed back mid-transaction (an early return, a dropped request):
        // roll back before the connection serves anyone else.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if let Err(e) = client.batch_execute("ROLLBACK").await {
                        tracing::debug!(error = %e, "rollback of an abandoned transaction failed");
                        // A connection in an unknown state never goes back to the pool.
                        drop(Object::take(client));
                    }
                });
            }
            // No runtime to roll back on: closing the connection aborts it.
            Err(_) => drop(Object::take(client)),
        }
    }
}

#[async_trait]
impl Tx for PgTx<'_> {
    fn audit(&mut self, draft: Draft) {
        self.drafts.push(draft);
    }

    async fn commit(mut self: Box<Self>) -> Result<Committed> {
        let drafts = std::mem::take(&mut self.drafts);
        let done = std::mem::take(&mut self.done);
        if !self.write {
            self.pg.append_audit(drafts).await?;
            return Ok(Committed::default());
        }
        if self.begin_pending.load(Ordering::Relaxed) && drafts.is_empty() && !done.touches_caches() {
            // Nothing was sent and nothing is to write: no round trip at all.
            self.ended = true;
            return Ok(done);
        }
        let c = self.conn()?;
        let entries = audit_log::pending_entries(&drafts, Timestamp::now());
        let insert = c.prepare_cached(audit_log::INSERT_PENDING).await.map_err(db_error)?;
        let notify = match done.touches_caches() {
            true => Some((
                c.prepare_cached("SELECT pg_notify($1, $2)").await.map_err(db_error)?,
                serde_json::to_string(&done.for_notify())?,
            )),
            false => None,
        };
        let in_commit = done.must_announce_in_commit();
        let audit = async { if entries.is_empty() { Ok(()) } else { c.execute(&insert, &[&entries]).await.map(drop) } };
        let announce = async |now: bool| match &notify {
            Some((stmt, payload)) if now => c.execute(stmt, &[&CHANNEL, payload]).await.map(drop),
            _ => Ok(()),
        };
        // Sent in one flight, in this order; an announcement after `COMMIT`
        // is a transaction of its own, with nothing to flush.
        let flight = tokio::try_join!(
            self.begin_if_pending(c),
            audit,
            announce(in_commit),
            c.batch_execute("COMMIT"),
            announce(!in_commit)
        );
        // Sent either way: the transaction is over, committed or rolled back.
        self.ended = true;
        flight.map_err(db_error)?;
        Ok(done)
    }
}

#[async_trait]
impl Backend for Pg {
    async fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        Ok(Box::new(PgTx::new(self, self.client().await?, true)))
    }

    async fn read(&self) -> Result<Box<dyn Tx + '_>> {
        Ok(Box::new(PgTx::new(self, self.client().await?, false)))
    }

    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<()> {
        self.queued.lock().map_err(|_| anyhow::anyhow!("audit queue poisoned"))?.extend(drafts);
        Ok(())
    }

    async fn drain_audit(&self) -> Result<()> {
        self.drain_audit_now().await
    }

    async fn verify_audit(&self) -> Result<ChainReport> {
        self.drain_audit_now().await?;
        audit_log::verify(&self.client().await?).await
    }

    async fn flush(&self) -> Result<()> {
        // Every commit is durable already; only queued read entries wait.
        self.drain_audit_now().await
    }

    async fn sweep_expired(&self, now: Timestamp, idempotency_ttl: jiff::SignedDuration) -> Result<u64> {
        let client = self.client().await?;
        let mut n = 0;
        for sql in [
            "DELETE FROM refresh_families WHERE expires_at <= $1",
            "DELETE FROM reset_tokens WHERE expires_at <= $1",
            "DELETE FROM mfa_challenges WHERE expires_at <= $1",
        ] {
            n += client.execute(sql, &[&now]).await.map_err(db_error)?;
        }
        let oldest = now - idempotency_ttl;
        n += client.execute("DELETE FROM idempotency WHERE created_at <= $1", &[&oldest]).await.map_err(db_error)?;
        let ended = now - jiff::SignedDuration::from_hours(24 * crate::store::WAITLIST_KEEP_DAYS);
        // An entry never answered ends when its window does.
        for sql in [
            "DELETE FROM waitlist WHERE coalesce(ended_at, (doc->>'latest')::timestamptz) <= $1",
            "DELETE FROM offers WHERE ended_at <= $1",
        ] {
            n += client.execute(sql, &[&ended]).await.map_err(db_error)?;
        }
        let finished = now - jiff::SignedDuration::from_hours(24 * crate::store::DELIVERY_KEEP_DAYS);
        n += client
            .execute("DELETE FROM deliveries WHERE status <> 'pending' AND created_at < $1", &[&finished])
            .await
            .map_err(db_error)?;
        // A reminder's note outlives its appointment by a day.
        let past = now - jiff::SignedDuration::from_hours(24);
        n += client.execute("DELETE FROM reminders_sent WHERE starts_at < $1", &[&past]).await.map_err(db_error)?;
        Ok(n)
    }

    async fn bulk_put_appointments(&self, rows: &[AppointmentRow]) -> Result<()> {
        let mut client = self.client().await?;
        schedule::bulk_insert(&mut client, rows).await
    }

    async fn backup_to(&self, _sealer: &Sealer, _path: &Path) -> Result<BackupSummary> {
        Err(StoreError::Unsupported(
            "this server runs on PostgreSQL: back up with pg_dump or point-in-time recovery (docs/operations.md)"
                .into(),
        ))
    }

    async fn ping(&self) -> bool {
        let Ok(client) = self.client().await else { return false };
        matches!(tokio::time::timeout(WAIT, client.simple_query("SELECT 1")).await, Ok(Ok(_)))
    }

    async fn size_on_disk(&self) -> u64 {
        let Ok(client) = self.client().await else { return 0 };
        match client.query_one("SELECT pg_database_size(current_database())", &[]).await {
            Ok(row) => row.try_get::<_, i64>(0).map(|n| n.max(0) as u64).unwrap_or(0),
            Err(_) => 0,
        }
    }

    fn shares_login_failures(&self) -> bool {
        true
    }

    async fn login_failures(&self, key: &str) -> Result<Option<SharedFailures>> {
        let client = self.client().await?;
        let row = client.query_opt("SELECT doc FROM login_failures WHERE key = $1", &[&key]).await.map_err(db_error)?;
        row.map(|r| doc(&r, "doc")).transpose()
    }

    async fn count_login_failure(&self, key: &str, fail: &CountFailure) -> Result<Option<Duration>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // The row is locked while it is counted: failures from every process add up.
        tx.execute(
            "INSERT INTO login_failures (key, doc) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &Json(SharedFailures::default())],
        )
        .await
        .map_err(db_error)?;
        let row = tx
            .query_one("SELECT doc FROM login_failures WHERE key = $1 FOR UPDATE", &[&key])
            .await
            .map_err(db_error)?;
        let mut record: SharedFailures = doc(&row, "doc")?;
        let lockout = fail(&mut record);
        tx.execute("UPDATE login_failures SET doc = $2 WHERE key = $1", &[&key, &Json(&record)])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(lockout)
    }

    async fn forgive_login_failures(&self, key: &str) -> Result<()> {
        let client = self.client().await?;
        client.execute("DELETE FROM login_failures WHERE key = $1", &[&key]).await.map_err(db_error)?;
        Ok(())
    }

    fn remote(&self) -> Option<&Remote> {
        Some(&self.remote)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
