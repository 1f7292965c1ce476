//! JWTs: HS256 only (the algorithm is pinned, so `none` and others are
//! refused), `iss`/`aud`/`typ`/`exp` checked, a `jti` on every token and a
//! `kid` naming the signing key, so a previous secret can still verify
//! tokens issued before a rotation while never signing new ones.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use healthsynx_shared::Role;

use crate::error::{Error, Result};

pub const ISSUER: &str = "healthsynx";
pub const AUDIENCE: &str = "healthsynx-api";

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

/// Signs with the current secret; verifies with it or the previous one.
pub struct TokenKeys {
    current: SigningKey,
    previous: Option<SigningKey>,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys {{ kid: {} }}", self.current.kid)
    }
}

impl TokenKeys {
    /// Keys from the current secret and, during a rotation, the previous one.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        TokenKeys { current: SigningKey::new(current), previous: previous.map(SigningKey::new), validation }
    }

    /// Signs `claims` with the current secret.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.current.kid.clone());
        encode(&header, claims, &self.current.encoding).map_err(|e| anyhow::anyhow!("jwt encode: {e}").into())
    }

    /// Verifies a token of the expected type; anything wrong is `401`.
    pub fn verify(&self, token: &str, typ: TokenType) -> Result<Claims> {
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
        let data = decode::<Claims>(token, &key.decoding, &self.validation).map_err(|_| invalid())?;
        if data.claims.typ != typ {
            return Err(invalid());
        }
        Ok(data.claims)
    }
}
