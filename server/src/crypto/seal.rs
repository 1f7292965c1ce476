//! Field sealing: XChaCha20-Poly1305 with a fresh random nonce per write and
//! the owning record's id as associated data, so a sealed value cannot be
//! moved to another record. The key id travels with the ciphertext so an old
//! key (`HEALTHSYNX_DATA_KEY_PREVIOUS`) still opens old values after rotation.
//!
//! Layout: `hs1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

const PREFIX: &str = "hs1";
const NONCE_LEN: usize = 24;

/// A data key and its short public id.
#[derive(Clone)]
struct DataKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl DataKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let id = super::sha256_hex(bytes)[..8].to_owned();
        DataKey { id, cipher: XChaCha20Poly1305::new(bytes.into()) }
    }
}

/// The current data key and, during a rotation, the one before it.
#[derive(Clone)]
pub struct Sealer {
    current: DataKey,
    previous: Option<DataKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer {{ key id: {} }}", self.current.id)
    }
}

impl Sealer {
    /// A sealer over the current key and an optional previous one.
    pub fn new(current: &[u8; 32], previous: Option<&[u8; 32]>) -> Self {
        Sealer { current: DataKey::new(current), previous: previous.map(DataKey::new) }
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plain` for the record `owner`.
    pub fn seal(&self, plain: &str, owner: &[u8]) -> Result<String> {
        let blob = self.seal_bytes(plain.as_bytes(), owner)?;
        Ok(format!("{PREFIX}.{}.{}", self.current.id, URL_SAFE_NO_PAD.encode(blob)))
    }

    /// Seals bytes under the current key: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal_bytes(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::rngs::OsRng);
        let ct = self
            .current
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| anyhow::anyhow!("seal failed"))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(blob)
    }

    /// Opens [`Sealer::seal_bytes`] output made under the key `key_id`.
    /// `None` when this server has no such key or the bytes do not authenticate.
    pub fn open_bytes(&self, key_id: &str, blob: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let key = self.key(key_id)?;
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = blob.split_at(NONCE_LEN);
        key.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad }).ok()
    }

    /// Whether this server holds the key with `key_id`.
    pub fn has_key(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    fn key(&self, key_id: &str) -> Option<&DataKey> {
        [Some(&self.current), self.previous.as_ref()].into_iter().flatten().find(|k| k.id == key_id)
    }

    /// Opens a value sealed for `owner`. A wrong key, another owner or a
    /// damaged value is an error, never garbage.
    pub fn open(&self, sealed: &str, owner: &[u8]) -> Result<String> {
        let unreadable = |why: &str| {
            tracing::error!(reason = why, "a sealed value did not open");
            Error::Unsealable
        };
        let mut parts = sealed.splitn(3, '.');
        let (Some(PREFIX), Some(kid), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(unreadable("not a sealed value"));
        };
        if !self.has_key(kid) {
            return Err(unreadable("sealed under a key this server does not have"));
        }
        let blob = URL_SAFE_NO_PAD.decode(b64).map_err(|_| unreadable("damaged encoding"))?;
        let plain = self.open_bytes(kid, &blob, owner).ok_or_else(|| unreadable("authentication failed"))?;
        String::from_utf8(plain).map_err(|_| unreadable("not text"))
    }

    /// Whether `sealed` was made with an older key and should be re-sealed.
    pub fn is_stale(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != Some(self.current.id.as_str())
    }

    /// Re-seals `sealed` under the current key if an older key made it.
    pub fn reseal(&self, sealed: &str, owner: &[u8]) -> Result<Option<String>> {
        if !self.is_stale(sealed) {
            return Ok(None);
        }
        self.seal(&self.open(sealed, owner)?, owner).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_to_owner() {
        let s = Sealer::new(&[7; 32], None);
        let sealed = s.seal("INS-1234", b"owner-a").unwrap();
        assert!(!sealed.contains("INS-1234"));
        assert_eq!(s.open(&sealed, b"owner-a").unwrap(), "INS-1234");
        assert!(s.open(&sealed, b"owner-b").is_err());
        assert_ne!(sealed, s.seal("INS-1234", b"owner-a").unwrap(), "fresh nonce each time");
    }

    #[test]
    fn wrong_key_is_an_error_and_rotation_reads_old_values() {
        let old = Sealer::new(&[1; 32], None);
        let sealed = old.seal("x", b"o").unwrap();
        assert!(Sealer::new(&[2; 32], None).open(&sealed, b"o").is_err());
        let rotated = Sealer::new(&[2; 32], Some(&[1; 32]));
        assert_eq!(rotated.open(&sealed, b"o").unwrap(), "x");
        assert!(rotated.is_stale(&sealed));
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(old.open(&damaged, b"o").is_err());
    }
}
