//! `/api/auth/…`: login, its second factor, refresh, verify and reset (public), logout and
//! password change (with a token).

use warp::reply::Response;

use healthsynx_shared::api::{Empty, RouteId};

use super::{Req, no_content, ok};
use crate::domain::{Caller, State, accounts, mfa};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    let addr = req.addr();
    match route {
        RouteId::JwtCreate => ok(&accounts::login(st, req.json()?, addr.as_deref(), req.header("user-agent")).await?),
        RouteId::JwtRefresh => {
            ok(&accounts::refresh(st, req.json()?, addr.as_deref(), req.header("user-agent")).await?)
        }
        RouteId::JwtVerify => {
            accounts::verify(st, req.json()?).await?;
            ok(&Empty {})
        }
        RouteId::MfaVerify => ok(&mfa::verify_login(st, req.json()?, addr.as_deref(), req.header("user-agent")).await?),
        RouteId::PasswordResetConfirm => {
            accounts::confirm_reset(st, req.json()?, addr.as_deref()).await?;
            no_content()
        }
        _ => Err(Error::NotFound),
    }
}

/// The token routes of `/api/auth/…`: logout and password change.
pub async fn handle_authed(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::Logout => accounts::logout(st, c, req.json()?).await?,
        RouteId::PasswordChange => accounts::change_password(st, c, req.json()?).await?,
        _ => return Err(Error::NotFound),
    }
    no_content()
}
