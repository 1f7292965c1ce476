//! `/api/me/calendar-feed` (a token) and `/feeds/{token}.ics` (public: the
//! token in the path is the credential).

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use healthsynx_shared::api::RouteId;

use super::{Req, json, no_content};
use crate::domain::{Caller, State, feeds};
use crate::error::{Error, Result};

pub async fn handle(st: &State, route: RouteId, req: &Req, c: &Caller<'_>) -> Result<Response> {
    match route {
        RouteId::CreateCalendarFeed => {
            // No `Location`: the URL holds the secret, and is the answer's body.
            json(StatusCode::CREATED, &feeds::create(st, c, &origin(st, req)?).await?)
        }
        RouteId::RevokeCalendarFeed => {
            feeds::revoke(st, c).await?;
            no_content()
        }
        _ => Err(Error::NotFound),
    }
}

/// `GET /feeds/{token}.ics`.
pub async fn serve(st: &State, req: &Req) -> Result<Response> {
    let token = req.token.as_deref().ok_or(Error::NotFound)?;
    let addr = req.addr();
    let body = feeds::render(st, token, addr.as_deref()).await?;
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    Ok(r)
}

/// `HEALTHSYNX_PUBLIC_URL`, else `scheme://host` as the caller reached this
/// server (`Host`), for the absolute URLs of feeds and FHIR answers.
pub(super) fn origin(st: &State, req: &Req) -> Result<String> {
    if let Some(url) = &st.config.public_url {
        return Ok(url.clone());
    }
    let host = req.header("host").unwrap_or("").trim();
    let plausible = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    if host.is_empty() || host.len() > 255 || !host.chars().all(plausible) {
        return Err(Error::BadRequest(
            "the Host header must name this server, to build absolute URLs (feeds, FHIR)".into(),
        ));
    }
    let scheme = if st.config.tls.is_some() { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}
