//! `/healthz`, `/readyz`, `/metrics`: no token; metrics only for loopback clients.

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, metrics};
use crate::domain::State;
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    match route {
        RouteId::Healthz => super::ok(&serde_json::json!({"status": "ok"})),
        RouteId::Readyz if st.store.ping().await => super::ok(&serde_json::json!({"status": "ready"})),
        RouteId::Readyz => {
            let mut r =
                super::json(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({"status": "store not answering"}))?;
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok(r)
        }
        RouteId::Metrics => {
            if !req.addr.is_some_and(|a| a.ip().is_loopback()) {
                return Err(Error::NotFound);
            }
            let mut r = Response::new(metrics::render(st.store.size_on_disk().await).into());
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            Ok(r)
        }
        _ => Err(Error::NotFound),
    }
}
