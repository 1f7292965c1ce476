//! Slowing down guessing and floods: failed logins lock an account (and,
//! more generously, a client address) for a growing time, and every user has
//! a request budget (a token bucket from `governor`). On the embedded store
//! the failures are counted in memory (a restart forgets, which errs towards
//! letting people in); on PostgreSQL in the database, so that failures
//! spread over several server processes lock an account all the same.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{Result, Store};

/// Failures counted within this window.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures per account before it locks.
pub const ACCOUNT_FAILURES: usize = 5;
/// Failures per client address before it locks (an office shares one).
pub const ADDRESS_FAILURES: usize = 20;
/// The longest lockout.
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, expired ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Throttling settings.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The first lockout; each further one doubles it, up to 15 minutes.
    pub lockout_base: Duration,
    /// Sustained requests per second per user.
    pub per_second: u32,
    /// Requests a user may make at once above the sustained rate.
    pub burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { lockout_base: Duration::from_secs(30), per_second: 50, burst: 200 }
    }
}

#[derive(Default)]
struct Failures {
    recent: VecDeque<Instant>,
    locked_until: Option<Instant>,
    lockouts: u32,
}

struct FailureBook<K> {
    limit: usize,
    entries: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> FailureBook<K> {
    fn new(limit: usize) -> Self {
        FailureBook { limit, entries: Mutex::new(HashMap::new()) }
    }

    fn locked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        let map = self.entries.lock().ok()?;
        map.get(key)?.locked_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// Records a failure; returns the lockout it starts, if any.
    fn fail(&self, key: K, now: Instant, base: Duration) -> Option<Duration> {
        let mut map = self.entries.lock().ok()?;
        if map.len() > PRUNE_AT {
            map.retain(|_, f| {
                f.recent.back().is_some_and(|t| now - *t < WINDOW) || f.locked_until.is_some_and(|t| t > now)
            });
        }
        let f = map.entry(key).or_default();
        while f.recent.front().is_some_and(|t| now - *t > WINDOW) {
            f.recent.pop_front();
        }
        f.recent.push_back(now);
        if f.recent.len() < self.limit {
            return None;
        }
        let lock = base.saturating_mul(1 << f.lockouts.min(10)).min(MAX_LOCK);
        f.lockouts += 1;
        f.recent.clear();
        f.locked_until = Some(now + lock);
        Some(lock)
    }

    fn clear(&self, key: &K) {
        if let Ok(mut map) = self.entries.lock() {
            map.remove(key);
        }
    }
}

/// Failed logins of one account or address as every process sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedFailures {
    pub recent: Vec<Timestamp>,
    pub locked_until: Option<Timestamp>,
    pub lockouts: u32,
}

impl SharedFailures {
    fn locked_for(&self, now: Timestamp) -> Option<Duration> {
        self.locked_until.filter(|t| *t > now).and_then(|t| t.duration_since(now).try_into().ok())
    }

    /// Records a failure at `now`; the lockout it starts, if any (as [`FailureBook`]).
    pub fn fail(&mut self, now: Timestamp, limit: usize, base: Duration) -> Option<Duration> {
        let window = jiff::SignedDuration::try_from(WINDOW).unwrap_or(jiff::SignedDuration::MAX);
        self.recent.retain(|t| now.duration_since(*t) <= window);
        self.recent.push(now);
        if self.recent.len() < limit {
            return None;
        }
        let lock = base.saturating_mul(1 << self.lockouts.min(10)).min(MAX_LOCK);
        self.lockouts += 1;
        self.recent.clear();
        self.locked_until = Some(now + jiff::SignedDuration::try_from(lock).unwrap_or(jiff::SignedDuration::ZERO));
        Some(lock)
    }
}

/// Counts one failure into a record; the lockout it starts.
pub type CountFailure = dyn Fn(&mut SharedFailures) -> Option<Duration> + Sync;

fn account_key(email: &str) -> String {
    format!("account:{}", email.to_lowercase())
}

fn address_key(ip: IpAddr) -> String {
    format!("address:{ip}")
}

/// The server's throttles.
pub struct Throttle {
    limits: Limits,
    accounts: FailureBook<String>,
    addresses: FailureBook<IpAddr>,
    requests: DefaultKeyedRateLimiter<Uuid>,
}

impl Throttle {
    /// Throttles with these limits.
    pub fn new(limits: Limits) -> Self {
        let per_second = NonZeroU32::new(limits.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(per_second);
        Throttle {
            limits,
            accounts: FailureBook::new(ACCOUNT_FAILURES),
            addresses: FailureBook::new(ADDRESS_FAILURES),
            requests: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
        }
    }

    /// How long a login for `email` from `addr` must wait, if it must.
    pub async fn login_wait(&self, store: &Store, email: &str, addr: Option<IpAddr>) -> Result<Option<Duration>> {
        if !store.shares_login_failures() {
            return Ok(self.local_login_wait(email, addr));
        }
        let now = Timestamp::now();
        let account = store.login_failures(&account_key(email)).await?.and_then(|f| f.locked_for(now));
        let address = match addr {
            Some(ip) => store.login_failures(&address_key(ip)).await?.and_then(|f| f.locked_for(now)),
            None => None,
        };
        Ok(account.max(address))
    }

    /// Counts a failed login; returns the lockout it starts, if any.
    pub async fn login_failed(&self, store: &Store, email: &str, addr: Option<IpAddr>) -> Result<Option<Duration>> {
        if !store.shares_login_failures() {
            return Ok(self.local_login_failed(email, addr));
        }
        let (now, base) = (Timestamp::now(), self.limits.lockout_base);
        let account =
            store.count_login_failure(&account_key(email), &move |f| f.fail(now, ACCOUNT_FAILURES, base)).await?;
        let address = match addr {
            Some(ip) => {
                store.count_login_failure(&address_key(ip), &move |f| f.fail(now, ADDRESS_FAILURES, base)).await?
            }
            None => None,
        };
        Ok(account.max(address))
    }

    /// Counts a failure that names no account (a second-factor token that
    /// is unknown or used up) against the client address alone.
    pub async fn address_failed(&self, store: &Store, addr: IpAddr) -> Result<Option<Duration>> {
        if !store.shares_login_failures() {
            return Ok(self.addresses.fail(addr, Instant::now(), self.limits.lockout_base));
        }
        let (now, base) = (Timestamp::now(), self.limits.lockout_base);
        store.count_login_failure(&address_key(addr), &move |f| f.fail(now, ADDRESS_FAILURES, base)).await
    }

    /// A successful login forgives the account's failures.
    pub async fn login_succeeded(&self, store: &Store, email: &str) -> Result<()> {
        if !store.shares_login_failures() {
            self.local_login_succeeded(email);
            return Ok(());
        }
        store.forgive_login_failures(&account_key(email)).await
    }

    fn local_login_wait(&self, email: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let account = self.accounts.locked_for(&email.to_lowercase(), now);
        let address = addr.and_then(|a| self.addresses.locked_for(&a, now));
        account.max(address)
    }

    fn local_login_failed(&self, email: &str, addr: Option<IpAddr>) -> Option<Duration> {
        let now = Instant::now();
        let base = self.limits.lockout_base;
        let account = self.accounts.fail(email.to_lowercase(), now, base);
        let address = addr.and_then(|a| self.addresses.fail(a, now, base));
        account.max(address)
    }

    fn local_login_succeeded(&self, email: &str) {
        self.accounts.clear(&email.to_lowercase());
    }

    /// Spends one request of `user`'s budget; the wait when it is empty.
    pub fn request(&self, user: Uuid) -> Option<Duration> {
        self.requests.check_key(&user).err().map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Whole seconds to put in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_an_account_and_lockouts_grow() {
        let t = Throttle::new(Limits { lockout_base: Duration::from_secs(30), ..Limits::default() });
        for _ in 0..4 {
            assert_eq!(t.local_login_failed("a@x.org", None), None);
        }
        assert_eq!(t.local_login_failed("A@x.org", None), Some(Duration::from_secs(30)));
        assert!(t.local_login_wait("a@x.org", None).is_some());
        assert!(t.local_login_wait("b@x.org", None).is_none());
        for _ in 0..4 {
            t.local_login_failed("a@x.org", None);
        }
        assert_eq!(t.local_login_failed("a@x.org", None), Some(Duration::from_secs(60)));
        t.local_login_succeeded("a@x.org");
        assert!(t.local_login_wait("a@x.org", None).is_none());
    }

    #[test]
    fn shared_failures_lock_like_local_ones() {
        let mut f = SharedFailures::default();
        let now = Timestamp::now();
        for _ in 0..4 {
            assert_eq!(f.fail(now, ACCOUNT_FAILURES, Duration::from_secs(30)), None);
        }
        assert_eq!(f.fail(now, ACCOUNT_FAILURES, Duration::from_secs(30)), Some(Duration::from_secs(30)));
        assert!(f.locked_for(now).is_some());
        assert!(f.locked_for(now + jiff::SignedDuration::from_secs(31)).is_none());
    }

    #[test]
    fn the_request_budget_refills() {
        let t = Throttle::new(Limits { per_second: 1, burst: 2, ..Limits::default() });
        let u = Uuid::now_v7();
        assert!(t.request(u).is_none());
        assert!(t.request(u).is_none());
        assert!(t.request(u).is_some());
        assert!(t.request(Uuid::now_v7()).is_none(), "another user has their own budget");
    }
}
