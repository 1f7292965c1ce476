//! `/api/appointment-types/…` and `/api/resources/…`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, ok, with_etag};
use crate::domain::{Caller, State, catalog};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::ListAppointmentTypes => ok(&catalog::types(st, c, req.query()?).await?),
        RouteId::CreateAppointmentType => {
            let t = catalog::create_type(st, c, req.json()?, req.idempotency_key()?.as_ref()).await?;
            Ok(with_etag(created(&t, &RouteId::GetAppointmentType.path(&[t.id]))?, t.version))
        }
        RouteId::GetAppointmentType => {
            let t = catalog::get_type(st, req.id()?).await?;
            Ok(with_etag(ok(&t)?, t.version))
        }
        RouteId::PatchAppointmentType => {
            let t = catalog::patch_type(st, c, req.id()?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&t)?, t.version))
        }
        RouteId::ListResources => ok(&catalog::resources(st, c, req.query()?).await?),
        RouteId::CreateResource => {
            let r = catalog::create_resource(st, c, req.json()?, req.idempotency_key()?.as_ref()).await?;
            Ok(with_etag(created(&r, &RouteId::GetResource.path(&[r.id]))?, r.version))
        }
        RouteId::GetResource => {
            let r = catalog::get_resource(st, req.id()?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        RouteId::PatchResource => {
            let r = catalog::patch_resource(st, c, req.id()?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        _ => Err(Error::NotFound),
    }
}
