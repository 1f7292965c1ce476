//! `/api/me`, `/api/users`, `/api/departments`, `/api/audit`.

use warp::http::StatusCode;
use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, json, ok};
use crate::domain::{Caller, State, accounts, auditlog};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::Me => ok(&accounts::me(st, c).await?),
        RouteId::MyAccessLog => ok(&auditlog::access_log(st, c, req.query()?).await?),
        RouteId::ListUsers => ok(&accounts::list_users(st, c, req.query()?).await?),
        RouteId::CreateUser => {
            let u = accounts::create_user(st, c, req.json()?).await?;
            created(&u, &RouteId::GetUser.path(&[u.id]))
        }
        RouteId::GetUser => ok(&accounts::get_user(st, c, req.id()?).await?),
        RouteId::PatchUser => ok(&accounts::patch_user(st, c, req.id()?, req.json()?).await?),
        RouteId::DeactivateUser => ok(&accounts::set_active(st, c, req.id()?, false).await?),
        RouteId::ActivateUser => ok(&accounts::set_active(st, c, req.id()?, true).await?),
        RouteId::UserPasswordReset => json(StatusCode::CREATED, &accounts::issue_reset(st, c, req.id()?).await?),
        RouteId::ListDepartments => ok(&accounts::departments(st).await?),
        RouteId::CreateDepartment => {
            let d = accounts::create_department(st, c, req.json()?).await?;
            created(&d, &RouteId::ListDepartments.path(&[]))
        }
        RouteId::ListAudit => ok(&auditlog::list(st, c, req.query()?).await?),
        RouteId::VerifyAudit => ok(&auditlog::verify(st, c).await?),
        RouteId::AdminBackup => json(StatusCode::CREATED, &accounts::backup(st, c).await?),
        _ => Err(Error::NotFound),
    }
}
