//! `/api/patients`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, ok};
use crate::domain::{Caller, State, patients};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::ListPatients => ok(&patients::list(st, c, req.query()?).await?),
        RouteId::CreatePatient => {
            let p = patients::create(st, c, req.json()?).await?;
            created(&p, &RouteId::GetPatient.path(&[p.patient.id]))
        }
        RouteId::GetPatient => ok(&patients::get(st, c, req.id()?).await?),
        RouteId::PatchPatient => ok(&patients::patch(st, c, req.id()?, req.json()?).await?),
        _ => Err(Error::NotFound),
    }
}
