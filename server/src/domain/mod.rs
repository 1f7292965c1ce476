//! The rules of the clinic: accounts, patients, scheduling, records. Each
//! operation takes the caller, asks `policy`, reads and writes through
//! `store`, and names the audit entries its writes carry.

pub mod accounts;
pub mod auditlog;
pub mod patients;
pub mod records;
pub mod scheduling;

use uuid::Uuid;

use healthsynx_shared::api::{DEFAULT_LIMIT, MAX_LIMIT, Page};

use crate::audit::Actor;
use crate::config::Config;
use crate::crypto::seal::Sealer;
use crate::crypto::token::{Lifetimes, TokenKeys};
use crate::error::{Error, Result};
use crate::policy::{CareFacts, Principal, care_question};
use crate::store::{CareScope, Store, keys};
use crate::throttle::Throttle;

/// Everything a request needs, shared by all requests.
pub struct State {
    pub store: Store,
    pub sealer: Sealer,
    pub tokens: TokenKeys,
    pub throttle: Throttle,
    pub config: Config,
}

impl State {
    /// Opens the store and builds the keys from `config`.
    pub fn open(config: Config) -> Result<Self> {
        let store = Store::open_with_cache(&config.data_dir, config.cache_mb, config.view_cache_mb)?;
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
        })
    }

    /// The care facts policy needs about `patient` for this caller; looks up
    /// only the one that the caller's role rests on.
    pub fn care_facts(&self, p: &Principal, patient: Uuid) -> Result<CareFacts> {
        Ok(match care_question(p) {
            Some(CareScope::Doctor(d)) => {
                CareFacts { doctor_cares: self.store.doctor_cares_for(d, patient)?, department_cares: false }
            }
            Some(CareScope::Department(code)) => {
                CareFacts { doctor_cares: false, department_cares: self.store.department_cares_for(&code, patient)? }
            }
            None => CareFacts::default(),
        })
    }
}

/// The caller as the audit log names them.
pub fn actor_of(p: &Principal, addr: Option<&str>) -> Actor {
    Actor { id: Some(p.user_id), role: Some(p.role), addr: addr.map(str::to_owned) }
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

/// A page size from `?limit=`.
pub fn limit(requested: Option<usize>) -> Result<usize> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::invalid("limit", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

/// The key a `?cursor=` continues after.
pub fn cursor(c: Option<&str>) -> Result<Option<Vec<u8>>> {
    c.map(|c| keys::cursor_key(c).ok_or_else(|| Error::invalid("cursor", "is not a cursor this server gave out")))
        .transpose()
}

/// Collects up to `limit` items of a keyed scan into a page; the cursor is
/// the key of the last item when more may follow.
pub fn page<K: AsRef<[u8]>, T>(items: impl Iterator<Item = Result<(K, T)>>, limit: usize) -> Result<Page<T>> {
    let mut out = Vec::new();
    let mut last_key = None;
    let mut more = false;
    for item in items {
        let (k, v) = item?;
        if out.len() == limit {
            more = true;
            break;
        }
        last_key = Some(k);
        out.push(v);
    }
    let next_cursor = if more { last_key.map(|k| keys::cursor(k.as_ref())) } else { None };
    Ok(Page { items: out, next_cursor })
}

/// `****` and the last four characters.
pub fn mask(s: &str) -> String {
    let tail: String = s.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("****{tail}")
}
