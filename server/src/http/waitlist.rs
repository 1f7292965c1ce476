//! `/api/waitlist/…` and `/api/offers/…`.

use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, created, no_content, ok};
use crate::domain::{Caller, State, waitlist};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::CreateWaitlistEntry => {
            let e = waitlist::join(st, c, req.json()?, req.idempotency_key()?.as_ref()).await?;
            created(&e, &RouteId::DeleteWaitlistEntry.path(&[e.id]))
        }
        RouteId::ListWaitlist => ok(&waitlist::list(st, c, req.query()?).await?),
        RouteId::GetWaitlistEntry => ok(&waitlist::get(st, c, req.id()?).await?),
        RouteId::DeleteWaitlistEntry => {
            waitlist::leave(st, c, req.id()?).await?;
            no_content()
        }
        RouteId::ListOffers => ok(&waitlist::offers(st, c).await?),
        RouteId::AcceptOffer => {
            let a = waitlist::accept(st, c, req.id()?).await?;
            created(&a, &RouteId::GetAppointment.path(&[a.id]))
        }
        RouteId::DeclineOffer => ok(&waitlist::decline(st, c, req.id()?).await?),
        _ => Err(Error::NotFound),
    }
}
