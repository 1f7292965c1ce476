//! The rules of the clinic: accounts, patients, scheduling, records. Each
//! operation takes the caller, asks `policy`, reads and writes through
//! `store`, and names the audit entries its writes carry.

pub mod accounts;
pub mod auditlog;
pub mod billing;
mod billing_pdf;
pub mod break_glass;
pub mod catalog;
pub mod feeds;
pub mod fhir;
pub mod mfa;
pub mod outbox;
pub mod patients;
pub mod records;
pub mod reminders;
pub mod scheduling;
pub mod series;
pub mod waitlist;
pub mod webhooks;

use uuid::Uuid;

use healthsynx_shared::api::{DEFAULT_LIMIT, MAX_LIMIT, Page};
use healthsynx_shared::value::IdempotencyKey;

use crate::audit::Actor;
use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::crypto::sha256_hex;
use crate::crypto::token::{Lifetimes, TokenKeys};
use crate::error::{Error, Result};
use crate::policy::{self, CareFacts, Principal, care_question};
use crate::scope::CareScope;
use crate::store::{Cursor, IdempotencyRow, Store, Txn};
use crate::throttle::Throttle;

/// Everything a request needs, shared by all requests.
pub struct State {
    pub store: Store,
    pub sealer: Sealer,
    pub tokens: TokenKeys,
    pub throttle: Throttle,
    pub config: Config,
    /// Woken when time may have freed up, so the waitlist looks at once.
    pub waitlist_due: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when a commit queued webhook deliveries.
    pub deliveries_due: std::sync::Arc<tokio::sync::Notify>,
}

impl State {
    /// Opens the store (embedded, or PostgreSQL with a database URL) and
    /// builds the keys from `config`.
    pub async fn open(config: Config) -> Result<Self> {
        let store = Store::open_configured(&config).await?;
        let s = &config.secrets;
        Ok(State {
            store,
            sealer: Sealer::new(&s.data_key, s.data_key_previous.as_ref()),
            tokens: TokenKeys::new(
                &s.jwt,
                s.jwt_previous.as_deref(),
                Lifetimes { access: config.access_ttl, refresh: config.refresh_ttl },
            ),
            throttle: Throttle::new(config.limits),
            config,
            waitlist_due: std::sync::Arc::new(tokio::sync::Notify::new()),
            deliveries_due: std::sync::Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// The care facts policy needs about `patient` for this caller; looks up
    /// only the one that the caller's role rests on.
    pub async fn care_facts(&self, p: &Principal, patient: Uuid) -> Result<CareFacts> {
        let Some(scope) = care_question(p) else { return Ok(CareFacts::default()) };
        let cares = self.store.read().await?.cares_for(&scope, patient).await?;
        Ok(match scope {
            CareScope::Doctor(_) => CareFacts { doctor_cares: cares, ..CareFacts::default() },
            CareScope::Department(_) => CareFacts { department_cares: cares, ..CareFacts::default() },
        })
    }

    /// The live break-glass grant `p` holds on `patient`, if any.
    pub async fn live_grant(&self, p: &Principal, patient: Uuid) -> Result<Option<Uuid>> {
        let now = now();
        let grants = self.store.read().await?.grants_of(p.user_id(), patient).await?;
        Ok(grants.into_iter().find(|g| g.expires_at > now).map(|g| g.id))
    }

    /// Decides a read of `patient`'s data with `rule`, first on `care`; only
    /// when that says no (`404`) and a grant could widen the caller's reach is
    /// their live grant looked up and `rule` asked again with it.
    pub async fn with_grant<T>(
        &self,
        p: &Principal,
        patient: Uuid,
        care: CareFacts,
        rule: impl Fn(CareFacts) -> Result<T>,
    ) -> Result<T> {
        match rule(care) {
            Err(Error::NotFound) if policy::may_hold_grant(p) => {
                let grant = self.live_grant(p, patient).await?;
                rule(CareFacts { grant, ..care })
            }
            decided => decided,
        }
    }

    /// [`State::with_grant`] on the caller's care facts about `patient`.
    pub async fn decide_read<T>(
        &self,
        p: &Principal,
        patient: Uuid,
        rule: impl Fn(CareFacts) -> Result<T>,
    ) -> Result<T> {
        let care = self.care_facts(p, patient).await?;
        self.with_grant(p, patient, care, rule).await
    }
}

/// The caller as the audit log names them.
pub fn actor_of(p: &Principal, addr: Option<&str>) -> Actor {
    Actor { id: Some(p.user_id()), role: Some(p.role()), addr: addr.map(str::to_owned) }
}

/// A request's caller plus where it came from, for the audit log.
pub struct Caller<'a> {
    pub who: &'a Principal,
    pub addr: Option<&'a str>,
}

impl Caller<'_> {
    /// The audit actor for this caller.
    pub fn actor(&self) -> Actor {
        actor_of(self.who, self.addr)
    }
}

/// The current time to the microsecond, the finest any backend keeps, so
/// a row read back equals the row written.
pub fn now() -> jiff::Timestamp {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// A creating request's `Idempotency-Key`, looked up in its transaction.
pub struct Once<'k> {
    key: Option<&'k IdempotencyKey>,
    actor: Uuid,
    request_hash: String,
    now: jiff::Timestamp,
    /// What the same request created before: answer with it again.
    pub replayed: Option<Uuid>,
}

impl Once<'_> {
    /// Keeps the id this request created as the answer to its key.
    pub async fn remember(&self, tx: &mut Txn<'_>, created: Uuid) -> Result<()> {
        if let Some(key) = self.key {
            let row =
                IdempotencyRow { request_hash: self.request_hash.clone(), created_id: created, created_at: self.now };
            tx.put_idempotency(self.actor, key, &row).await?;
        }
        Ok(())
    }
}

/// Looks `key` up for this caller: the id an earlier same request created,
/// or nothing yet; a key reused for a different request is a `422`.
pub async fn idempotent<'k>(
    tx: &mut Txn<'_>,
    who: &Caller<'_>,
    key: Option<&'k IdempotencyKey>,
    request: &impl serde::Serialize,
    now: jiff::Timestamp,
) -> Result<Once<'k>> {
    let request_hash = sha256_hex(&serde_json::to_vec(request).map_err(anyhow::Error::from)?);
    let actor = who.who.user_id();
    let mut replayed = None;
    if let Some(key) = key
        && let Some(prev) = tx.idempotency(actor, key).await?
        && prev.created_at + IDEMPOTENCY_TTL > now
    {
        if prev.request_hash != request_hash {
            return Err(Error::invalid("Idempotency-Key", "was already used with a different request"));
        }
        replayed = Some(prev.created_id);
    }
    Ok(Once { key, actor, request_hash, now, replayed })
}

/// A page size from `?limit=`.
pub fn limit(requested: Option<usize>) -> Result<usize> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

/// The position a `?cursor=` continues after.
pub fn cursor(c: Option<&str>) -> Result<Option<Cursor>> {
    c.map(|c| Cursor::parse(c).ok_or_else(|| Error::invalid("cursor", "is not a cursor this server gave out")))
        .transpose()
}

/// Fills one page from batches of a scan, some of whose rows may be
/// filtered out: `push` each row the scan gives (with `None` for one the
/// filter drops) until it says the page is full, or the scan ends.
pub struct Pager<T> {
    limit: usize,
    items: Vec<T>,
    /// Where the scan goes on from.
    at: Option<Cursor>,
    /// The cursor of the last item kept.
    last_kept: Option<Cursor>,
    more: bool,
}

impl<T> Pager<T> {
    pub fn new(after: Option<Cursor>, limit: usize) -> Self {
        Pager { limit, items: Vec::new(), at: after, last_kept: None, more: false }
    }

    /// Where the next batch starts.
    pub fn at(&self) -> Option<&Cursor> {
        self.at.as_ref()
    }

    /// How many rows to ask for: one more than the page, to know if more follow.
    pub fn batch(&self) -> usize {
        self.limit.saturating_add(1)
    }

    /// Takes one scanned row; `false` once the page is full (and more follow).
    pub fn push(&mut self, at: Cursor, item: Option<T>) -> bool {
        if let Some(item) = item {
            if self.items.len() == self.limit {
                self.more = true;
                return false;
            }
            self.items.push(item);
            self.last_kept = Some(at.clone());
        }
        self.at = Some(at);
        true
    }

    /// Whether a batch of `n` rows says the scan ended.
    pub fn ended(&self, n: usize) -> bool {
        self.more || n < self.batch()
    }

    pub fn finish(self) -> Page<T> {
        let next_cursor = if self.more { self.last_kept.map(|c| c.encode()) } else { None };
        Page { items: self.items, next_cursor }
    }
}

/// `****` and the last four characters.
pub fn mask(s: &str) -> String {
    let tail: String = s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}
