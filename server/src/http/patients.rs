//! `/api/patients`.

use warp::reply::Response;

use healthsynx_shared::api::{RouteId, path};

use super::{Req, created, ok, principal};
use crate::domain::{Caller, State, patients};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    let who = principal(st, req).await?;
    let addr = req.addr();
    let c = Caller { who: &who, addr: addr.as_deref() };
    match route {
        RouteId::ListPatients => ok(&patients::list(st, &c, req.query()?).await?),
        RouteId::CreatePatient => {
            let p = patients::create(st, &c, req.json()?).await?;
            created(&p, &path::patient(p.patient.id))
        }
        RouteId::GetPatient => ok(&patients::get(st, &c, req.id(0)?).await?),
        RouteId::PatchPatient => ok(&patients::patch(st, &c, req.id(0)?, req.json()?).await?),
        _ => Err(Error::NotFound),
    }
}
