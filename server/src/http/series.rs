//! `/api/series/…`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, ok};
use crate::domain::{Caller, State, series};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::CreateSeries => {
            let s = series::create(st, c, req.json()?, req.idempotency_key()?.as_ref()).await?;
            created(&s, &RouteId::GetSeries.path(&[s.id]))
        }
        RouteId::GetSeries => ok(&series::get(st, c, req.id()?).await?),
        RouteId::CancelSeries => ok(&series::cancel(st, c, req.id()?, req.json_or_default()?).await?),
        _ => Err(Error::NotFound),
    }
}
