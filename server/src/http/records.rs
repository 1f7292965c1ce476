//! `/api/records/…`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, no_content, ok, with_etag};
use crate::domain::{Caller, State, records};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::ListRecords => ok(&records::list(st, c, req.query()?).await?),
        RouteId::CreateRecord => {
            let r = records::create(st, c, req.json()?).await?;
            Ok(with_etag(created(&r, &RouteId::GetRecord.path(&[r.id]))?, r.version))
        }
        RouteId::GetRecord => {
            let r = records::get(st, c, req.id()?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        RouteId::PatchRecord => {
            let r = records::patch(st, c, req.id()?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        RouteId::RetractRecord => {
            records::retract(st, c, req.id()?).await?;
            no_content()
        }
        RouteId::RecordHistory => ok(&records::history(st, c, req.id()?).await?),
        _ => Err(Error::NotFound),
    }
}
