//! `/api/me/mfa/totp…` (the caller's second factor), `/api/me/sessions…`
//! (the caller's logins) and `/api/users/{id}/sessions/revoke` (admin).

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, bearer, created, no_content, ok};
use crate::crypto::token::TokenType;
use crate::domain::mfa::{self, sessions};
use crate::domain::{Caller, State};
use crate::error::{Error, Result};

/// `enrol_token`: the hash of the enrolment token the caller came with,
/// when not with an access token.
pub async fn handle(
    st: &State,
    route: RouteId,
    req: &Req,
    c: &Caller<'_>,
    enrol_token: Option<&str>,
) -> Result<Response> {
    match route {
        RouteId::MfaTotpCreate => created(&mfa::begin_enrolment(st, c).await?, &RouteId::MfaTotpCreate.path(&[])),
        RouteId::MfaTotpConfirm => ok(&mfa::confirm(st, c, req.json()?, enrol_token).await?),
        RouteId::MfaTotpDelete => {
            mfa::remove(st, c, req.json()?).await?;
            no_content()
        }
        RouteId::MfaStatus => ok(&mfa::status(st, c).await?),
        RouteId::ListSessions => {
            // The login the caller's own token names (it was verified already).
            let current = st.tokens.verify(bearer(req)?, TokenType::Access).ok().and_then(|claims| claims.sid);
            ok(&sessions::list(st, c, current).await?)
        }
        RouteId::RevokeSession => {
            sessions::revoke(st, c, req.id()?).await?;
            no_content()
        }
        RouteId::RevokeUserSessions => {
            sessions::revoke_all(st, c, req.id()?).await?;
            no_content()
        }
        _ => Err(Error::NotFound),
    }
}
