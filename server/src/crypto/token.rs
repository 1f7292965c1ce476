//! JWTs: HS256 only (the algorithm is pinned, so `none` and others are
//! refused), `iss`/`aud`/`typ`/`exp` checked, a `jti` on every token and a
//! `kid` naming the signing key, so a previous secret can still verify
//! tokens issued before a rotation while never signing new ones.
//!
//! The time claims are checked against what this server issues: no token
//! is good before its `nbf` or `iat` (beyond [`CLOCK_LEEWAY_SECS`]), and
//! none lives longer (`exp - iat`) than its kind's configured lifetime, so
//! a leaked secret cannot mint a ten-year token that outlives a rotation
//! unnoticed, and a token dated in the future cannot be pre-made.

use std::collections::HashMap;
use std::sync::Mutex;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use healthsynx_shared::Role;

use crate::error::{Error, Result};

pub const ISSUER: &str = "healthsynx";
pub const AUDIENCE: &str = "healthsynx-api";
/// How far a token's `iat` and `nbf` may lie ahead of this server's clock:
/// servers sharing a secret may disagree on the time by this much.
pub const CLOCK_LEEWAY_SECS: i64 = 30;

/// Which kind of token a JWT is; an access token is never accepted as a
/// refresh token nor the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of both kinds of token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    pub iat: i64,
    /// Not before; this server never sets it, but honours it when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: Uuid,
    pub iss: String,
    pub aud: String,
    pub typ: TokenType,
    /// The user's token version when issued; a password change or
    /// deactivation bumps it and so ends every older token.
    pub ver: u64,
    /// Refresh tokens: the login (token family) they belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<Uuid>,
    /// Access tokens: the login (the refresh family's id) they were issued
    /// to; once that login is revoked (logout, reuse) the token ends too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: &[u8]) -> Self {
        SigningKey {
            kid: super::sha256_hex(secret)[..8].to_owned(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// The longest lifetime (`exp - iat`, seconds) each kind of token may have.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: u64,
    pub refresh: u64,
}

impl Lifetimes {
    fn of(&self, typ: TokenType) -> i64 {
        let secs = match typ {
            TokenType::Access => self.access,
            TokenType::Refresh => self.refresh,
        };
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// Signs with the current secret; verifies with it or the previous one.
pub struct TokenKeys {
    current: SigningKey,
    previous: Option<SigningKey>,
    validation: Validation,
    lifetimes: Lifetimes,
    verified: Mutex<HashMap<Box<str>, Claims>>,
}

/// Tokens whose signature was checked, kept before the map starts over: a
/// client sends the same access token until it expires, and decoding and
/// checking it again was a sixth of a cheap request.
const VERIFIED_MAX: usize = 20_000;

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys {{ kid: {} }}", self.current.kid)
    }
}

impl TokenKeys {
    /// Keys from the current secret and, during a rotation, the previous one;
    /// tokens living longer than `lifetimes` are refused.
    pub fn new(current: &[u8], previous: Option<&[u8]>, lifetimes: Lifetimes) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 0;
        // `nbf` is checked in `verify` with the clock leeway (the library's
        // leeway would apply to `exp` too, which gets none).
        validation.validate_nbf = false;
        TokenKeys {
            current: SigningKey::new(current),
            previous: previous.map(SigningKey::new),
            validation,
            lifetimes,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Signs `claims` with the current secret.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        encode(&header, claims, &self.current.encoding).map_err(|e| anyhow::anyhow!("jwt encode: {e}").into())
    }

    /// Verifies a token of the expected type; anything wrong is `401`.
    /// A token seen before skips the signature (it is the same string the
    /// signature was checked on); its times and type are checked every time.
    pub fn verify(&self, token: &str, typ: TokenType) -> Result<Claims> {
        self.verify_at(token, typ, jiff::Timestamp::now().as_second())
    }

    fn verify_at(&self, token: &str, typ: TokenType, now: i64) -> Result<Claims> {
        let invalid = || Error::Unauthorized("invalid or expired token".into());
        let known = self.verified.lock().ok().and_then(|v| v.get(token).cloned());
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token).map_err(|_| invalid())?;
                if let Ok(mut v) = self.verified.lock() {
                    if v.len() >= VERIFIED_MAX {
                        v.clear();
                    }
                    v.insert(token.into(), claims.clone());
                }
                claims
            }
        };
        // `exp` as the library checks it (no leeway): good through its second.
        if claims.typ != typ || claims.exp < now || !self.times_are_plausible(&claims, now) {
            return Err(invalid());
        }
        Ok(claims)
    }

    /// The claims of a token signed by one of our keys, with `iss`, `aud` and `exp` checked.
    fn verify_signature(&self, token: &str) -> Result<Claims> {
        let invalid = || Error::Unauthorized("invalid or expired token".into());
        let header = decode_header(token).map_err(|_| invalid())?;
        if header.alg != Algorithm::HS256 {
            return Err(invalid());
        }
        let key = match header.kid.as_deref() {
            Some(kid) if kid == self.current.kid => &self.current,
            Some(kid) => self.previous.as_ref().filter(|k| k.kid == kid).ok_or_else(invalid)?,
            None => return Err(invalid()),
        };
        Ok(decode::<Claims>(token, &key.decoding, &self.validation).map_err(|_| invalid())?.claims)
    }

    /// Issued no later than now, valid from no later than now (both within
    /// the leeway), and living no longer than this kind of token may.
    fn times_are_plausible(&self, c: &Claims, now: i64) -> bool {
        let soon = now.saturating_add(CLOCK_LEEWAY_SECS);
        c.iat <= soon && c.nbf.is_none_or(|nbf| nbf <= soon) && c.exp.saturating_sub(c.iat) <= self.lifetimes.of(c.typ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], None, Lifetimes { access: 300, refresh: 86_400 })
    }

    fn access(iat: i64, exp: i64) -> Claims {
        Claims {
            sub: Uuid::now_v7(),
            role: Role::Nurse,
            dept: Some("cardiology".into()),
            iat,
            nbf: None,
            exp,
            jti: Uuid::now_v7(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            typ: TokenType::Access,
            ver: 0,
            fam: None,
            sid: None,
        }
    }

    #[test]
    fn tokens_from_the_future_or_living_too_long_are_refused() {
        let k = keys();
        let now = jiff::Timestamp::now().as_second();
        let verify = |c: &Claims| k.verify(&k.sign(c).unwrap(), TokenType::Access).is_ok();
        assert!(verify(&access(now, now + 300)), "an ordinary token");
        assert!(verify(&access(now + 10, now + 310)), "a clock a little ahead is tolerated");
        assert!(!verify(&access(now + 3600, now + 3900)), "iat an hour ahead");
        assert!(!verify(&Claims { nbf: Some(now + 3600), ..access(now, now + 300) }), "nbf an hour ahead");
        assert!(verify(&Claims { nbf: Some(now - 5), ..access(now, now + 300) }), "nbf passed");
        assert!(!verify(&access(now, now + 10 * 365 * 86_400)), "ten years");
        assert!(!verify(&access(now, now + 301)), "one second over the access lifetime");
        let refresh = Claims { typ: TokenType::Refresh, ..access(now, now + 86_400) };
        assert!(k.verify(&k.sign(&refresh).unwrap(), TokenType::Refresh).is_ok(), "refreshes live longer");
    }

    #[test]
    fn a_token_seen_before_is_still_checked_for_expiry_type_and_tampering() {
        let k = keys();
        let now = jiff::Timestamp::now().as_second();
        let token = k.sign(&access(now, now + 300)).unwrap();
        assert!(k.verify_at(&token, TokenType::Access, now).is_ok());
        assert!(k.verify_at(&token, TokenType::Access, now + 300).is_ok(), "good through its last second");
        assert!(k.verify_at(&token, TokenType::Access, now + 301).is_err(), "expired once seen");
        assert!(k.verify_at(&token, TokenType::Refresh, now).is_err(), "of the wrong type once seen");
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(k.verify(&forged, TokenType::Access).is_err(), "another signature is checked anew");
        let other = TokenKeys::new(&[8u8; 32], None, Lifetimes { access: 300, refresh: 86_400 });
        assert!(other.verify(&token, TokenType::Access).is_err(), "another server's secret");
    }
}
