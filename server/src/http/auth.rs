//! `/api/auth/…`: login, refresh, verify, logout, password change and reset.

use warp::reply::Response;

use healthsynx_shared::api::{Empty, RouteId};

use super::{Req, no_content, ok, principal};
use crate::domain::{Caller, State, accounts};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    let addr = req.addr();
    match route {
        RouteId::JwtCreate => ok(&accounts::login(st, req.json()?, addr.as_deref()).await?),
        RouteId::JwtRefresh => ok(&accounts::refresh(st, req.json()?, addr.as_deref()).await?),
        RouteId::JwtVerify => {
            accounts::verify(st, req.json()?).await?;
            ok(&Empty {})
        }
        RouteId::PasswordResetConfirm => {
            accounts::confirm_reset(st, req.json()?, addr.as_deref()).await?;
            no_content()
        }
        RouteId::Logout | RouteId::PasswordChange => {
            let who = principal(st, req).await?;
            let caller = Caller { who: &who, addr: addr.as_deref() };
            if route == RouteId::Logout {
                accounts::logout(st, &caller, req.json()?).await?;
            } else {
                accounts::change_password(st, &caller, req.json()?).await?;
            }
            no_content()
        }
        _ => Err(Error::NotFound),
    }
}
