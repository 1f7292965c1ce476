//! The HTTP surface. One warp filter takes every request; `shared::api`'s
//! route table resolves it (with or without a trailing slash, telling an
//! unknown path from a wrong method), and the resource modules handle it.
//! Every answer, errors and panics included, leaves through [`finish`], which
//! adds the security and CORS headers; every error is problem+json.
//!
//! One table-driven dispatch instead of a tree of warp path filters: warp
//! merges rejections of sibling routes (a wrong method on one path can come
//! out as `404` or `405` depending on order), and the table is also what the
//! OpenAPI check compares with.

mod accounts;
mod auth;
mod billing;
mod break_glass;
mod catalog;
mod feeds;
mod fhir;
pub mod metrics;
mod mfa;
mod ops;
mod patients;
mod records;
mod representation;
mod scheduling;
mod series;
mod waitlist;
mod webhooks;

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use futures_util::{FutureExt, Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use warp::Filter;
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;

use healthsynx_shared::Outcome;
use healthsynx_shared::api::{Auth, MAX_BODY_BYTES, RouteId, RouteMiss, match_route};
use healthsynx_shared::value;
use healthsynx_shared::value::IdempotencyKey;

use crate::audit::{Action, Draft};
use crate::domain::accounts::{authenticate, throttled};
use crate::domain::{Caller, State};
use crate::error::{Error, Result};
use crate::listen::ClientAddr;
use crate::policy::Principal;

/// A request, read whole, as the handlers see it.
pub struct Req {
    pub method: Method,
    pub query: String,
    pub headers: HeaderMap,
    pub addr: Option<SocketAddr>,
    pub body: Bytes,
    /// The ids of the route's `{…}` segments, in order.
    pub ids: Vec<uuid::Uuid>,
    /// The `{token}` of a calendar feed's path.
    pub token: Option<String>,
}

impl Req {
    /// The client address as the audit log keeps it.
    pub fn addr(&self) -> Option<String> {
        self.addr.map(|a| a.ip().to_string())
    }

    /// The body as JSON of `T`: malformed JSON, an unknown field or anything
    /// but an object is `400`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        if self.body.is_empty() {
            return Err(Error::BadRequest("a JSON body is required".into()));
        }
        // serde also reads a struct from an array of its fields (`[null, null]`);
        // every body of this API is an object.
        if self.body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::BadRequest("the body must be a JSON object".into()));
        }
        let bad = |e: serde_json::Error| Error::BadRequest(format!("invalid JSON body: {e}"));
        let mut value: serde_json::Value = serde_json::from_slice(&self.body).map_err(bad)?;
        whole_numbers_as_integers(&mut value);
        serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            match value::refused_message(&e.inner().to_string()) {
                Some(message) => Error::invalid(&field, message),
                None => bad(e.into_inner()),
            }
        })
    }

    /// The body as JSON of `T`, or `T::default()` when there is none.
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T> {
        if self.body.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { self.json() }
    }

    /// The query string as `T`: an unknown parameter is `400`, a bad value `422`.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T> {
        serde_urlencoded::from_str(&self.query).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("unknown field") {
                Error::BadRequest(format!("unknown query parameter: {msg}"))
            } else {
                Error::invalid("query", msg)
            }
        })
    }

    /// The `{id}` of the path.
    pub fn id(&self) -> Result<uuid::Uuid> {
        self.nth_id(0)
    }

    /// The second id of the path (`{tid}` of a time-off period).
    pub fn tid(&self) -> Result<uuid::Uuid> {
        self.nth_id(1)
    }

    fn nth_id(&self, n: usize) -> Result<uuid::Uuid> {
        let missing = || Error::Internal(anyhow::anyhow!("route has no id {n}"));
        self.ids.get(n).copied().ok_or_else(missing)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Idempotency-Key` header, when given.
    pub fn idempotency_key(&self) -> Result<Option<IdempotencyKey>> {
        let Some(raw) = self.headers.get("idempotency-key") else { return Ok(None) };
        // A value that is not even text is refused too, not taken as absent.
        let key = raw.to_str().map_err(|_| "must be visible ASCII".to_owned()).and_then(IdempotencyKey::parse);
        key.map(Some).map_err(|m| Error::BadRequest(format!("Idempotency-Key {m}")))
    }

    /// `If-Match: "<version>"`, required: `428` when missing, `400` when not a version.
    pub fn if_match(&self) -> Result<u64> {
        self.optional_if_match()?
            .ok_or_else(|| Error::PreconditionRequired("send If-Match with the version you read (its ETag)".into()))
    }

    /// `If-Match`, when given: an ETag this server sends (`"3"`), or the bare
    /// version (`3`, as tools that treat the quotes as string syntax send it).
    /// Anything else (weak, `*`, a list, one quote) is `400`, not a guess.
    pub fn optional_if_match(&self) -> Result<Option<u64>> {
        let Some(raw) = self.header("if-match") else { return Ok(None) };
        let bad = || Error::BadRequest("If-Match must be the ETag you read, like \"3\"".into());
        let raw = raw.trim();
        let digits = raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(raw);
        if !(1..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map(Some).map_err(|_| bad())
    }
}

/// JSON has one number type, so `3.0` is the integer 3 (JSON Schema agrees),
/// but serde refuses it for an integer field. Rewrites whole numbers written
/// with a fraction as integers (exactly: below 2^53).
fn whole_numbers_as_integers(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15) {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// The bearer token of a request.
pub fn bearer(req: &Req) -> Result<&str> {
    let missing = || Error::Unauthorized("send Authorization: Bearer <access token>".into());
    let value = req.header("authorization").ok_or_else(missing)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim())
}

/// The authenticated caller of a request.
pub async fn principal(st: &State, req: &Req) -> Result<Principal> {
    let who = authenticate(st, bearer(req)?).await?;
    if let Some(wait) = st.throttle.request(who.user_id()) {
        tracing::warn!(user = %who.user_id(), "request budget spent; throttled");
        let actor = crate::domain::actor_of(&who, req.addr().as_deref());
        st.store
            .append_audit([
                Draft::new(&actor, Action::RequestThrottled, "user", Some(who.user_id())).outcome(Outcome::Denied)
            ])
            .await?;
        return Err(throttled(wait, "request budget spent; slow down"));
    }
    Ok(who)
}

/// A JSON answer.
pub fn json(status: StatusCode, body: &impl Serialize) -> Result<Response> {
    let bytes = serde_json::to_vec(body).map_err(anyhow::Error::from)?;
    let mut r = Response::new(bytes.into());
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

/// `200` with a JSON array of items that are JSON already.
pub fn json_array(items: &[Bytes]) -> Response {
    json_body(array_of(items))
}

/// A JSON array of items that are JSON already.
pub fn array_of(items: &[Bytes]) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    body.push(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.push(b']');
    body
}

/// `200` with a body that is JSON already.
pub fn json_body(body: Vec<u8>) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `200` with JSON.
pub fn ok(body: &impl Serialize) -> Result<Response> {
    json(StatusCode::OK, body)
}

/// `201` with JSON and a `Location`.
pub fn created(body: &impl Serialize, location: &str) -> Result<Response> {
    let mut r = json(StatusCode::CREATED, body)?;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `204`.
pub fn no_content() -> Result<Response> {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

/// Adds `ETag: "<version>"`.
pub fn with_etag(mut r: Response, version: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The problem+json answer for an error.
pub fn problem(e: &Error) -> Response {
    let p = e.to_problem();
    let bytes = serde_json::to_vec(&p).unwrap_or_default();
    error_answer(e, p.status, "application/problem+json", bytes)
}

/// An error's answer with `body`: logged when internal, and with the
/// headers its status calls for (`Retry-After`). Shared by problem+json and
/// FHIR's `OperationOutcome`, so both say the same about the same error.
pub fn error_answer(e: &Error, status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
    if let Error::Internal(inner) = e {
        // The chain names store and crypto failures; it never holds request data.
        tracing::error!(error = %format!("{inner:#}"), "request failed");
    }
    // (`Unsealable` was logged where it happened, with its reason.)
    let mut r = Response::new(body.into());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    match e {
        Error::TooManyRequests { retry_after_secs, .. } => {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        Error::Unavailable(why) => {
            tracing::warn!(reason = %why, "database unavailable");
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u32));
        }
        _ => {}
    }
    r
}

/// The server's single filter.
pub fn filter(state: Arc<State>) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::stream())
        .then(move |method: Method, path: warp::path::FullPath, query: String, headers: HeaderMap, peer: Option<ClientAddr>, body| {
            let st = state.clone();
            async move {
                let started = Instant::now();
                let request_id = uuid::Uuid::now_v7();
                let origin = headers.get(header::ORIGIN).cloned();
                let verb = method.clone();
                let addr = peer.map(|p| p.0);
                let (route, resp) = AssertUnwindSafe(serve(&st, method, path.as_str(), query, headers, addr, body))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        tracing::error!(%request_id, "handler panicked");
                        (None, problem(&Error::Internal(anyhow::anyhow!("handler panicked"))))
                    });
                let took = started.elapsed();
                let status = resp.status().as_u16();
                metrics::observe(route, status, took);
                // One line per request: never the body, the query or a header value.
                let pattern = route.map_or("unmatched", |r| r.route().pattern);
                tracing::info!(%request_id, method = %verb, route = pattern, status, latency_ms = took.as_secs_f64() * 1e3, "request");
                let mut resp = finish(&st, resp, origin.as_ref());
                if let Ok(v) = HeaderValue::from_str(&request_id.to_string()) {
                    resp.headers_mut().insert("x-request-id", v);
                }
                resp
            }
        })
}

async fn serve(
    st: &State,
    method: Method,
    path: &str,
    query: String,
    headers: HeaderMap,
    addr: Option<SocketAddr>,
    body: impl Stream<Item = std::result::Result<impl Buf, warp::Error>> + Unpin,
) -> (Option<RouteId>, Response) {
    // Under the FHIR base every error is an OperationOutcome, also those
    // found before a route is (an id that is not ours, a wrong method).
    let fail = if healthsynx_shared::api::is_fhir_path(path) { fhir::outcome } else { problem };
    let (route, ids) = match match_route(method.as_str(), path) {
        Ok(found) => found,
        Err(RouteMiss::MethodNotAllowed(allowed)) if method == Method::OPTIONS => {
            return (None, preflight(&allowed));
        }
        Err(RouteMiss::MethodNotAllowed(allowed)) => {
            let mut r = fail(&Error::MethodNotAllowed(format!("this path takes {}", allowed.join(", "))));
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return (None, r);
        }
        Err(RouteMiss::NotFound) => return (None, fail(&Error::NotFound)),
    };
    let body = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(e) => return (Some(route), fail(&e)),
    };
    let token = healthsynx_shared::api::feed_token(path).filter(|_| route == RouteId::CalendarFeed).map(str::to_owned);
    let req = Req { method, query, headers, addr, body, ids, token };
    let resp = dispatch(st, route, &req).await.unwrap_or_else(|e| fail(&e));
    (Some(route), representation::finish_get(&req.method, &req.headers, resp).await)
}

async fn read_body(
    headers: &HeaderMap,
    mut body: impl Stream<Item = std::result::Result<impl Buf, warp::Error>> + Unpin,
) -> Result<Bytes> {
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(Error::PayloadTooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| Error::BadRequest("could not read the request body".into()))?;
        if out.len() as u64 + chunk.remaining() as u64 > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(out))
}

/// Public routes go straight to their handler; every other route first
/// proves its bearer token, so no handler can forget to.
async fn dispatch(st: &State, route: RouteId, req: &Req) -> Result<Response> {
    use RouteId::*;
    if route.auth() == Auth::Public {
        return match route {
            Healthz | Readyz | Metrics => ops::handle(st, route, req).await,
            CalendarFeed => feeds::serve(st, req).await,
            FhirMetadata => fhir::metadata(st, req),
            _ => auth::handle(st, route, req).await,
        };
    }
    if matches!(route, MfaTotpCreate | MfaTotpConfirm) {
        // The two enrolment calls also take the `mfa_token` of a login
        // that must enrol first; nothing else does.
        if let Some((who, token_hash)) = crate::domain::mfa::enrolment_bearer(st, bearer(req)?).await? {
            let addr = req.addr();
            let c = Caller { who: &who, addr: addr.as_deref() };
            return mfa::handle(st, route, req, &c, Some(&token_hash)).await;
        }
    }
    let who = principal(st, req).await?;
    let addr = req.addr();
    let c = Caller { who: &who, addr: addr.as_deref() };
    match route {
        Logout | PasswordChange => auth::handle_authed(st, route, req, &c).await,
        ListPatients | CreatePatient | GetPatient | PatchPatient => patients::handle(st, route, req, &c).await,
        ListDoctors | GetAvailability | PutAvailability | CreateTimeOff | DeleteTimeOff | Slots | Calendar
        | ListAppointments | CreateAppointment | GetAppointment | PatchAppointment | CancelAppointment
        | CheckInAppointment | CompleteAppointment | NoShowAppointment => scheduling::handle(st, route, req, &c).await,
        ListRecords | CreateRecord | GetRecord | PatchRecord | RetractRecord | RecordHistory => {
            records::handle(st, route, req, &c).await
        }
        Me | MyAccessLog | ListUsers | CreateUser | GetUser | PatchUser | DeactivateUser | ActivateUser
        | UserPasswordReset | ListDepartments | CreateDepartment | ListAudit | VerifyAudit | AdminBackup => {
            accounts::handle(st, route, req, &c).await
        }
        BreakGlass | ListBreakGlass | ReviewBreakGlass | SearchBreakGlass => {
            break_glass::handle(st, route, req, &c).await
        }
        MfaTotpCreate | MfaTotpConfirm | MfaTotpDelete | MfaStatus | ListSessions | RevokeSession
        | RevokeUserSessions => mfa::handle(st, route, req, &c, None).await,
        CreateCalendarFeed | RevokeCalendarFeed => feeds::handle(st, route, req, &c).await,
        ListAppointmentTypes
        | CreateAppointmentType
        | GetAppointmentType
        | PatchAppointmentType
        | ListResources
        | CreateResource
        | GetResource
        | PatchResource => catalog::handle(st, route, req, &c).await,
        CreateSeries | GetSeries | CancelSeries => series::handle(st, route, req, &c).await,
        CreateWaitlistEntry | ListWaitlist | GetWaitlistEntry | DeleteWaitlistEntry | ListOffers | AcceptOffer
        | DeclineOffer => waitlist::handle(st, route, req, &c).await,
        ListInvoices | CreateInvoice | InvoicePdf | GetInvoice | PatchInvoice | IssueInvoice | VoidInvoice
        | CreatePayment | RefundPayment | CashReport | OutstandingReport => billing::handle(st, route, req, &c).await,
        ListWebhooks | CreateWebhook | PatchWebhook | DeleteWebhook | ListDeliveries | RetryDelivery => {
            webhooks::handle(st, route, req, &c).await
        }
        FhirSearchPatients
        | FhirPatient
        | FhirSearchPractitioners
        | FhirPractitioner
        | FhirSearchSchedules
        | FhirSchedule
        | FhirSearchSlots
        | FhirSearchAppointments
        | FhirAppointment => fhir::handle(st, route, req, &c).await,
        Healthz | Readyz | Metrics | JwtCreate | JwtRefresh | JwtVerify | PasswordResetConfirm | MfaVerify
        | CalendarFeed | FhirMetadata => {
            Err(Error::Internal(anyhow::anyhow!("{route:?} is public in the route table")))
        }
    }
}

fn preflight(allowed: &[&str]) -> Response {
    let mut r = Response::new(Bytes::new().into());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let mut methods = allowed.to_vec();
    methods.push("OPTIONS");
    if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
        r.headers_mut().insert(header::ALLOW, v.clone());
        r.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    r
}

/// The headers every answer carries, Strict-Transport-Security with TLS.
/// One list for the answers of the filter and for those `wire` writes
/// below hyper, so they cannot drift apart.
pub fn security_headers(tls: bool) -> impl Iterator<Item = (&'static str, &'static str)> {
    const ALWAYS: [(&str, &str); 5] = [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'"),
        ("referrer-policy", "no-referrer"),
    ];
    const HSTS: (&str, &str) = ("strict-transport-security", "max-age=31536000; includeSubDomains");
    ALWAYS.into_iter().chain(tls.then_some(HSTS))
}

/// Security headers on every answer; CORS headers only for listed origins.
fn finish(st: &State, mut r: Response, origin: Option<&HeaderValue>) -> Response {
    let h = r.headers_mut();
    for (name, value) in security_headers(st.config.tls.is_some()) {
        h.insert(header::HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    let allowed = origin.filter(|o| o.to_str().is_ok_and(|o| st.config.cors_origins.iter().any(|a| a == o)));
    if let Some(o) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, if-match, if-none-match, idempotency-key"),
        );
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("etag, location, retry-after"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    } else {
        h.remove(header::ACCESS_CONTROL_ALLOW_METHODS);
    }
    r
}
