//! `/api/records/…`.

use warp::reply::Response;

use healthsynx_shared::api::{RouteId, path};

use super::{Req, created, no_content, ok, principal, with_etag};
use crate::domain::{Caller, State, records};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    let who = principal(st, req).await?;
    let addr = req.addr();
    let c = Caller { who: &who, addr: addr.as_deref() };
    match route {
        RouteId::ListRecords => ok(&records::list(st, &c, req.query()?).await?),
        RouteId::CreateRecord => {
            let r = records::create(st, &c, req.json()?).await?;
            Ok(with_etag(created(&r, &path::record(r.id))?, r.version))
        }
        RouteId::GetRecord => {
            let r = records::get(st, &c, req.id(0)?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        RouteId::PatchRecord => {
            let r = records::patch(st, &c, req.id(0)?, req.if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&r)?, r.version))
        }
        RouteId::RetractRecord => {
            records::retract(st, &c, req.id(0)?).await?;
            no_content()
        }
        RouteId::RecordHistory => ok(&records::history(st, &c, req.id(0)?).await?),
        _ => Err(Error::NotFound),
    }
}
