//! Password hashing, field sealing and token signing: the server's only
//! cryptography, each behind a small API.

pub mod password;
pub mod seal;
pub mod token;

use sha2::{Digest, Sha256};

/// Hex SHA-256, used for fingerprints and for storing one-time tokens hashed.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A random URL-safe token of 32 bytes of entropy.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
