//! `/api/webhooks/…` and `/api/deliveries/…` (admins).

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, no_content, ok, with_etag};
use crate::domain::webhooks;
use crate::domain::{Caller, State};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::ListWebhooks => ok(&webhooks::list(st, c).await?),
        RouteId::CreateWebhook => {
            let w = webhooks::create(st, c, req.json()?).await?;
            // No GET of one webhook: the list is where it lives.
            Ok(with_etag(created(&w, &RouteId::ListWebhooks.path(&[]))?, w.version))
        }
        RouteId::PatchWebhook => {
            let w = webhooks::patch(st, c, req.id()?, req.optional_if_match()?, req.json()?).await?;
            Ok(with_etag(ok(&w)?, w.version))
        }
        RouteId::DeleteWebhook => {
            webhooks::delete(st, c, req.id()?).await?;
            no_content()
        }
        RouteId::ListDeliveries => ok(&webhooks::deliveries(st, c, req.id()?, req.query()?).await?),
        RouteId::RetryDelivery => ok(&webhooks::retry(st, c, req.id()?).await?),
        _ => Err(Error::NotFound),
    }
}
