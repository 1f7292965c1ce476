//! `/api/patients/{id}/break-glass` and `/api/break-glass/…`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, json, ok};
use crate::domain::{Caller, State, break_glass};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::BreakGlass => {
            let g = break_glass::grant(st, c, req.id()?, req.json()?).await?;
            json(warp::http::StatusCode::CREATED, &g)
        }
        RouteId::ListBreakGlass => ok(&break_glass::list(st, c, req.query()?).await?),
        RouteId::ReviewBreakGlass => ok(&break_glass::review(st, c, req.id()?, req.json()?).await?),
        RouteId::SearchBreakGlass => ok(&break_glass::search(st, c, req.json()?).await?),
        _ => Err(Error::NotFound),
    }
}
