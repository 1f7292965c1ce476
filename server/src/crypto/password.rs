//! argon2id password hashing (OWASP parameters: m = 19456 KiB, t = 2, p = 1),
//! always on tokio's blocking pool so a login never stalls other requests.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Result;

fn argon2() -> Argon2<'static> {
    // Params::DEFAULT is m=19456, t=2, p=1; spelled out so an upgrade cannot weaken it.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many argon2 computations run at once: each takes ~19 MiB
/// and a core for tens of milliseconds, so a login storm would otherwise
/// take every core from other requests and grow the heap by a blocking
/// thread's arena per login. Leaves one core to the rest of the server.
fn hash_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
    })
}

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> Result<String> {
    let _slot = hash_slots().acquire().await.context("hash slots")?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.context("hash task")?
}

/// Like [`hash`], for callers outside the runtime (the CLI, seeding).
pub fn hash_blocking(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let phc = argon2().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(phc.to_string())
}

/// Checks `password` against `phc`. With no hash (unknown account) it checks
/// a dummy hash, so the answer takes as long as for a real account.
pub async fn verify(phc: Option<String>, password: String) -> Result<bool> {
    let _slot = hash_slots().acquire().await.context("hash slots")?;
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        let ok =
            PasswordHash::new(&phc).map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok()).unwrap_or(false);
        known && ok
    })
    .await
    .context("verify task")
    .map_err(Into::into)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("dummy password for timing equality").unwrap_or_else(|_| {
            String::from("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$0000000000000000000000000000000000000000000")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_owasp_parameters() {
        let phc = hash("a long passphrase".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(Some(phc.clone()), "a long passphrase".into()).await.unwrap());
        assert!(!verify(Some(phc), "wrong".into()).await.unwrap());
        assert!(!verify(None, "dummy password for timing equality".into()).await.unwrap());
    }
}
