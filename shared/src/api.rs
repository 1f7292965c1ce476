//! The wire contract: route paths, request and response bodies, `Problem` and `Page`.
//! Every path the server serves is listed once, in [`ROUTES`].

use std::collections::HashMap;
use std::sync::LazyLock;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::*;
use crate::value::{DepartmentCode, Email, Reason, ResourceKind};

/// Largest accepted request body; larger ones get `413`.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// Default and largest `?limit=` of a list.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// Names every route the server serves, so dispatch, the client and the
/// OpenAPI check all read one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Healthz,
    Readyz,
    Metrics,
    JwtCreate,
    JwtRefresh,
    JwtVerify,
    Logout,
    PasswordChange,
    PasswordResetConfirm,
    Me,
    MyAccessLog,
    ListUsers,
    CreateUser,
    GetUser,
    PatchUser,
    DeactivateUser,
    ActivateUser,
    UserPasswordReset,
    ListDepartments,
    CreateDepartment,
    ListPatients,
    CreatePatient,
    GetPatient,
    PatchPatient,
    ListDoctors,
    GetAvailability,
    PutAvailability,
    CreateTimeOff,
    DeleteTimeOff,
    Slots,
    Calendar,
    ListAppointments,
    CreateAppointment,
    GetAppointment,
    PatchAppointment,
    CancelAppointment,
    CheckInAppointment,
    CompleteAppointment,
    NoShowAppointment,
    ListRecords,
    CreateRecord,
    GetRecord,
    PatchRecord,
    RetractRecord,
    RecordHistory,
    ListAudit,
    VerifyAudit,
    AdminBackup,
    // ---- break-glass (emergency access) ----
    BreakGlass,
    ListBreakGlass,
    ReviewBreakGlass,
    SearchBreakGlass,
    // ---- second factor and sessions ----
    MfaVerify,
    MfaTotpCreate,
    MfaTotpConfirm,
    MfaTotpDelete,
    MfaStatus,
    ListSessions,
    RevokeSession,
    RevokeUserSessions,
    // ---- calendar feeds ----
    CreateCalendarFeed,
    RevokeCalendarFeed,
    CalendarFeed,
    // ---- appointment types and resources ----
    ListAppointmentTypes,
    CreateAppointmentType,
    GetAppointmentType,
    PatchAppointmentType,
    ListResources,
    CreateResource,
    GetResource,
    PatchResource,
    // ---- series (recurring appointments) ----
    CreateSeries,
    GetSeries,
    CancelSeries,
    CreateWaitlistEntry,
    ListWaitlist,
    GetWaitlistEntry,
    DeleteWaitlistEntry,
    ListOffers,
    AcceptOffer,
    DeclineOffer,
    // ---- billing ----
    ListInvoices,
    CreateInvoice,
    InvoicePdf,
    GetInvoice,
    PatchInvoice,
    IssueInvoice,
    VoidInvoice,
    CreatePayment,
    RefundPayment,
    CashReport,
    OutstandingReport,
    // ---- webhooks ----
    ListWebhooks,
    CreateWebhook,
    PatchWebhook,
    DeleteWebhook,
    ListDeliveries,
    RetryDelivery,
    // ---- FHIR R4 ----
    FhirMetadata,
    FhirSearchPatients,
    FhirPatient,
    FhirSearchPractitioners,
    FhirPractitioner,
    FhirSearchSchedules,
    FhirSchedule,
    FhirSearchSlots,
    FhirSearchAppointments,
    FhirAppointment,
}

/// Whether a route wants `Authorization: Bearer <access token>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No token: health checks, metrics (loopback only), login and the token
    /// exchanges that stand in for one.
    Public,
    Bearer,
}

/// One route: what it is called, how it is reached, and whether it wants a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub id: RouteId,
    pub method: &'static str,
    /// `{…}` segments are UUIDs, filled in order by [`RouteId::path`];
    /// `{token}` is a secret in text, left to the server (see [`feed_token`]).
    pub pattern: &'static str,
    pub auth: Auth,
}

const fn route(id: RouteId, method: &'static str, pattern: &'static str, auth: Auth) -> Route {
    Route { id, method, pattern, auth }
}

use Auth::{Bearer, Public};

/// Every route, in the order of [`RouteId`] (a test keeps it so).
pub const ROUTES: &[Route] = &[
    route(RouteId::Healthz, "GET", "/healthz", Public),
    route(RouteId::Readyz, "GET", "/readyz", Public),
    route(RouteId::Metrics, "GET", "/metrics", Public),
    route(RouteId::JwtCreate, "POST", "/api/auth/jwt/create", Public),
    route(RouteId::JwtRefresh, "POST", "/api/auth/jwt/refresh", Public),
    route(RouteId::JwtVerify, "POST", "/api/auth/jwt/verify", Public),
    route(RouteId::Logout, "POST", "/api/auth/logout", Bearer),
    route(RouteId::PasswordChange, "POST", "/api/auth/password/change", Bearer),
    route(RouteId::PasswordResetConfirm, "POST", "/api/auth/password/reset/confirm", Public),
    route(RouteId::Me, "GET", "/api/me", Bearer),
    route(RouteId::MyAccessLog, "GET", "/api/me/access-log", Bearer),
    route(RouteId::ListUsers, "GET", "/api/users", Bearer),
    route(RouteId::CreateUser, "POST", "/api/users", Bearer),
    route(RouteId::GetUser, "GET", "/api/users/{id}", Bearer),
    route(RouteId::PatchUser, "PATCH", "/api/users/{id}", Bearer),
    route(RouteId::DeactivateUser, "POST", "/api/users/{id}/deactivate", Bearer),
    route(RouteId::ActivateUser, "POST", "/api/users/{id}/activate", Bearer),
    route(RouteId::UserPasswordReset, "POST", "/api/users/{id}/password-reset", Bearer),
    route(RouteId::ListDepartments, "GET", "/api/departments", Bearer),
    route(RouteId::CreateDepartment, "POST", "/api/departments", Bearer),
    route(RouteId::ListPatients, "GET", "/api/patients", Bearer),
    route(RouteId::CreatePatient, "POST", "/api/patients", Bearer),
    route(RouteId::GetPatient, "GET", "/api/patients/{id}", Bearer),
    route(RouteId::PatchPatient, "PATCH", "/api/patients/{id}", Bearer),
    route(RouteId::ListDoctors, "GET", "/api/doctors", Bearer),
    route(RouteId::GetAvailability, "GET", "/api/doctors/{id}/availability", Bearer),
    route(RouteId::PutAvailability, "PUT", "/api/doctors/{id}/availability", Bearer),
    route(RouteId::CreateTimeOff, "POST", "/api/doctors/{id}/time-off", Bearer),
    route(RouteId::DeleteTimeOff, "DELETE", "/api/doctors/{id}/time-off/{tid}", Bearer),
    route(RouteId::Slots, "GET", "/api/doctors/{id}/slots", Bearer),
    route(RouteId::Calendar, "GET", "/api/doctors/{id}/calendar", Bearer),
    route(RouteId::ListAppointments, "GET", "/api/appointments", Bearer),
    route(RouteId::CreateAppointment, "POST", "/api/appointments", Bearer),
    route(RouteId::GetAppointment, "GET", "/api/appointments/{id}", Bearer),
    route(RouteId::PatchAppointment, "PATCH", "/api/appointments/{id}", Bearer),
    route(RouteId::CancelAppointment, "POST", "/api/appointments/{id}/cancel", Bearer),
    route(RouteId::CheckInAppointment, "POST", "/api/appointments/{id}/check-in", Bearer),
    route(RouteId::CompleteAppointment, "POST", "/api/appointments/{id}/complete", Bearer),
    route(RouteId::NoShowAppointment, "POST", "/api/appointments/{id}/no-show", Bearer),
    route(RouteId::ListRecords, "GET", "/api/records", Bearer),
    route(RouteId::CreateRecord, "POST", "/api/records", Bearer),
    route(RouteId::GetRecord, "GET", "/api/records/{id}", Bearer),
    route(RouteId::PatchRecord, "PATCH", "/api/records/{id}", Bearer),
    route(RouteId::RetractRecord, "DELETE", "/api/records/{id}", Bearer),
    route(RouteId::RecordHistory, "GET", "/api/records/{id}/history", Bearer),
    route(RouteId::ListAudit, "GET", "/api/audit", Bearer),
    route(RouteId::VerifyAudit, "GET", "/api/audit/verify", Bearer),
    route(RouteId::AdminBackup, "POST", "/api/admin/backup", Bearer),
    // ---- break-glass (emergency access) ----
    route(RouteId::BreakGlass, "POST", "/api/patients/{id}/break-glass", Bearer),
    route(RouteId::ListBreakGlass, "GET", "/api/break-glass", Bearer),
    route(RouteId::ReviewBreakGlass, "POST", "/api/break-glass/{id}/review", Bearer),
    route(RouteId::SearchBreakGlass, "POST", "/api/break-glass/search", Bearer),
    // ---- second factor and sessions ----
    route(RouteId::MfaVerify, "POST", "/api/auth/mfa/verify", Public),
    route(RouteId::MfaTotpCreate, "POST", "/api/me/mfa/totp", Bearer),
    route(RouteId::MfaTotpConfirm, "POST", "/api/me/mfa/totp/confirm", Bearer),
    route(RouteId::MfaTotpDelete, "DELETE", "/api/me/mfa/totp", Bearer),
    route(RouteId::MfaStatus, "GET", "/api/me/mfa", Bearer),
    route(RouteId::ListSessions, "GET", "/api/me/sessions", Bearer),
    route(RouteId::RevokeSession, "DELETE", "/api/me/sessions/{id}", Bearer),
    route(RouteId::RevokeUserSessions, "POST", "/api/users/{id}/sessions/revoke", Bearer),
    // ---- calendar feeds ----
    route(RouteId::CreateCalendarFeed, "POST", "/api/me/calendar-feed", Bearer),
    route(RouteId::RevokeCalendarFeed, "DELETE", "/api/me/calendar-feed", Bearer),
    // The unguessable token in the path is the credential (calendar apps send no headers).
    route(RouteId::CalendarFeed, "GET", "/feeds/{token}.ics", Public),
    // ---- appointment types and resources ----
    route(RouteId::ListAppointmentTypes, "GET", "/api/appointment-types", Bearer),
    route(RouteId::CreateAppointmentType, "POST", "/api/appointment-types", Bearer),
    route(RouteId::GetAppointmentType, "GET", "/api/appointment-types/{id}", Bearer),
    route(RouteId::PatchAppointmentType, "PATCH", "/api/appointment-types/{id}", Bearer),
    route(RouteId::ListResources, "GET", "/api/resources", Bearer),
    route(RouteId::CreateResource, "POST", "/api/resources", Bearer),
    route(RouteId::GetResource, "GET", "/api/resources/{id}", Bearer),
    route(RouteId::PatchResource, "PATCH", "/api/resources/{id}", Bearer),
    // ---- series (recurring appointments) ----
    route(RouteId::CreateSeries, "POST", "/api/series", Bearer),
    route(RouteId::GetSeries, "GET", "/api/series/{id}", Bearer),
    route(RouteId::CancelSeries, "POST", "/api/series/{id}/cancel", Bearer),
    // ---- waitlist and its offers ----
    route(RouteId::CreateWaitlistEntry, "POST", "/api/waitlist", Bearer),
    route(RouteId::ListWaitlist, "GET", "/api/waitlist", Bearer),
    route(RouteId::GetWaitlistEntry, "GET", "/api/waitlist/{id}", Bearer),
    route(RouteId::DeleteWaitlistEntry, "DELETE", "/api/waitlist/{id}", Bearer),
    route(RouteId::ListOffers, "GET", "/api/offers", Bearer),
    route(RouteId::AcceptOffer, "POST", "/api/offers/{id}/accept", Bearer),
    route(RouteId::DeclineOffer, "POST", "/api/offers/{id}/decline", Bearer),
    // ---- billing ----
    route(RouteId::ListInvoices, "GET", "/api/invoices", Bearer),
    route(RouteId::CreateInvoice, "POST", "/api/invoices", Bearer),
    // Before `{id}`: a path is matched against the patterns in this order.
    route(RouteId::InvoicePdf, "GET", "/api/invoices/{id}.pdf", Bearer),
    route(RouteId::GetInvoice, "GET", "/api/invoices/{id}", Bearer),
    route(RouteId::PatchInvoice, "PATCH", "/api/invoices/{id}", Bearer),
    route(RouteId::IssueInvoice, "POST", "/api/invoices/{id}/issue", Bearer),
    route(RouteId::VoidInvoice, "POST", "/api/invoices/{id}/void", Bearer),
    route(RouteId::CreatePayment, "POST", "/api/invoices/{id}/payments", Bearer),
    route(RouteId::RefundPayment, "POST", "/api/payments/{id}/refund", Bearer),
    route(RouteId::CashReport, "GET", "/api/reports/cash", Bearer),
    route(RouteId::OutstandingReport, "GET", "/api/reports/outstanding", Bearer),
    // ---- webhooks ----
    route(RouteId::ListWebhooks, "GET", "/api/webhooks", Bearer),
    route(RouteId::CreateWebhook, "POST", "/api/webhooks", Bearer),
    route(RouteId::PatchWebhook, "PATCH", "/api/webhooks/{id}", Bearer),
    route(RouteId::DeleteWebhook, "DELETE", "/api/webhooks/{id}", Bearer),
    route(RouteId::ListDeliveries, "GET", "/api/webhooks/{id}/deliveries", Bearer),
    route(RouteId::RetryDelivery, "POST", "/api/deliveries/{id}/retry", Bearer),
    // ---- FHIR R4 ----
    // What the server can do, for FHIR clients to discover before they log in.
    route(RouteId::FhirMetadata, "GET", "/fhir/r4/metadata", Public),
    route(RouteId::FhirSearchPatients, "GET", "/fhir/r4/Patient", Bearer),
    route(RouteId::FhirPatient, "GET", "/fhir/r4/Patient/{id}", Bearer),
    route(RouteId::FhirSearchPractitioners, "GET", "/fhir/r4/Practitioner", Bearer),
    route(RouteId::FhirPractitioner, "GET", "/fhir/r4/Practitioner/{id}", Bearer),
    route(RouteId::FhirSearchSchedules, "GET", "/fhir/r4/Schedule", Bearer),
    route(RouteId::FhirSchedule, "GET", "/fhir/r4/Schedule/{id}", Bearer),
    route(RouteId::FhirSearchSlots, "GET", "/fhir/r4/Slot", Bearer),
    route(RouteId::FhirSearchAppointments, "GET", "/fhir/r4/Appointment", Bearer),
    route(RouteId::FhirAppointment, "GET", "/fhir/r4/Appointment/{id}", Bearer),
];

/// Where the FHIR R4 API lives; every answer under it is FHIR JSON, errors
/// included (`OperationOutcome`, not problem+json).
pub const FHIR_BASE: &str = "/fhir/r4";

/// Whether a request path is under [`FHIR_BASE`].
pub fn is_fhir_path(path: &str) -> bool {
    path.strip_prefix(FHIR_BASE).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl RouteId {
    /// This route's row of [`ROUTES`].
    pub fn route(self) -> &'static Route {
        &ROUTES[self as usize]
    }

    pub fn method(self) -> &'static str {
        self.route().method
    }

    pub fn auth(self) -> Auth {
        self.route().auth
    }

    /// The concrete path, with `ids` in the `{…}` segments in order. A
    /// missing id leaves its segment as it is (the server answers `404`);
    /// debug builds, which the tests are, assert the count.
    pub fn path(self, ids: &[Uuid]) -> String {
        let pattern = self.route().pattern;
        let mut ids = ids.iter();
        let mut out = String::with_capacity(pattern.len() + 36 * ids.len());
        for segment in pattern.split('/').skip(1) {
            out.push('/');
            let id = if segment.starts_with('{') && !segment.starts_with(TOKEN) { ids.next() } else { None };
            match id {
                Some(id) => {
                    out.push_str(&id.to_string());
                    // `{id}.pdf`: what follows the parameter stays.
                    out.push_str(segment.split_once('}').map_or("", |(_, suffix)| suffix));
                }
                None => {
                    debug_assert!(!segment.starts_with('{') || segment.starts_with(TOKEN), "{pattern} needs more ids");
                    out.push_str(segment);
                }
            }
        }
        debug_assert!(ids.next().is_none(), "{pattern} takes fewer ids");
        out
    }
}

/// Why a path did not resolve to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMiss {
    NotFound,
    /// The path exists; these methods are allowed on it.
    MethodNotAllowed(Vec<&'static str>),
}

/// Resolves a method and path (with or without a trailing slash) to a route
/// and the ids of its `{…}` segments in order. A segment that is not a UUID
/// names nothing, so it is `NotFound`.
pub fn match_route(method: &str, path: &str) -> Result<(RouteId, Vec<Uuid>), RouteMiss> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let have: Vec<&str> = path.split('/').collect();
    let mut allowed = Vec::new();
    for i in candidates(&have) {
        let (r, want) = (&ROUTES[i], &route_segments()[i]);
        if let Some(params) = match_pattern(want, &have) {
            // A segment that is not a UUID names nothing here (`{id}` does
            // not take `<id>.pdf`), also for the methods a miss lists.
            let Ok(ids) = params.iter().map(|p| p.parse()).collect::<Result<Vec<Uuid>, _>>() else { continue };
            if r.method == method {
                return Ok((r.id, ids));
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() { Err(RouteMiss::NotFound) } else { Err(RouteMiss::MethodNotAllowed(allowed)) }
}

/// Each route's pattern split at `/`, in [`ROUTES`] order: split once, not
/// on every request.
fn route_segments() -> &'static [Vec<&'static str>] {
    static SEGMENTS: LazyLock<Vec<Vec<&'static str>>> =
        LazyLock::new(|| ROUTES.iter().map(|r| r.pattern.split('/').collect()).collect());
    &SEGMENTS
}

/// A pattern's segment that is a parameter, in the index.
const ANY: &str = "{}";

/// The segment that tells most routes apart: `/api/<this>/…`, or the last
/// when a path is shorter.
fn key_segment<'a>(segments: &[&'a str]) -> &'a str {
    segments.get(2).or(segments.last()).copied().unwrap_or_default()
}

/// The routes that may match `have`, in [`ROUTES`] order: those of its
/// length whose key segment is its own or a parameter. Trying every route
/// cost ~0.8 µs a request, most of it comparing `""` and `"api"`.
fn candidates(have: &[&str]) -> Vec<usize> {
    // By length, then by key segment.
    type Index = HashMap<usize, HashMap<&'static str, Vec<usize>>>;
    static INDEX: LazyLock<Index> = LazyLock::new(|| {
        let mut index = Index::new();
        for (i, want) in route_segments().iter().enumerate() {
            let key = key_segment(want);
            let key = if key.starts_with('{') { ANY } else { key };
            index.entry(want.len()).or_default().entry(key).or_default().push(i);
        }
        index
    });
    let Some(of_length) = INDEX.get(&have.len()) else { return Vec::new() };
    let bucket = |key: &str| of_length.get(key).map(Vec::as_slice).unwrap_or_default();
    let mut out: Vec<usize> = bucket(key_segment(have)).iter().chain(bucket(ANY)).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A path segment that is a secret token, not an id.
const TOKEN: &str = "{token}";

/// The path of the calendar feed with `token` (`/feeds/<token>.ics`).
pub fn feed_path(token: &str) -> String {
    RouteId::CalendarFeed.route().pattern.replace(TOKEN, token)
}

/// The token of a calendar feed's path: [`feed_path`] read backwards.
pub fn feed_token(path: &str) -> Option<&str> {
    let (before, after) = RouteId::CalendarFeed.route().pattern.split_once(TOKEN)?;
    path.strip_prefix(before)?.strip_suffix(after).filter(|t| !t.is_empty() && !t.contains('/'))
}

/// The parameters of `have` when it fits `want`, a pattern of the same length.
fn match_pattern<'p>(want: &[&str], have: &[&'p str]) -> Option<Vec<&'p str>> {
    // Literals first: most candidates fail there, before anything is kept.
    if !want.iter().zip(have).all(|(w, h)| w.starts_with('{') || w == h) {
        return None;
    }
    let mut params = Vec::new();
    for (&w, &h) in want.iter().zip(have) {
        match w {
            w if w.starts_with('{') => {
                let (name, suffix) = w[1..].split_once('}')?;
                let value = h.strip_suffix(suffix).filter(|v| !v.is_empty())?;
                if name != "token" {
                    params.push(value);
                }
            }
            w if w == h => {}
            _ => return None,
        }
    }
    Some(params)
}

/// An RFC 7807 problem: every error the API gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One failed field of a validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A field and what is wrong with it.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl Problem {
    /// A problem of `status` with the standard title for it.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("https://healthsynx.dev/problems/{status}"),
            title: title_for(status).to_owned(),
            status,
            detail: Some(detail.into()),
            errors: Vec::new(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.detail {
            Some(d) => write!(f, "{} ({}): {d}", self.title, self.status)?,
            None => write!(f, "{} ({})", self.title, self.status)?,
        }
        for e in &self.errors {
            write!(f, "; {}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// The short title each status carries.
pub fn title_for(status: u16) -> &'static str {
    match status {
        0 => "Server unreachable",
        400 => "Bad request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not found",
        405 => "Method not allowed",
        408 => "Request timeout",
        409 => "Conflict",
        412 => "Precondition failed",
        413 => "Payload too large",
        414 => "URI too long",
        415 => "Unsupported media type",
        422 => "Unprocessable entity",
        428 => "Precondition required",
        429 => "Too many requests",
        431 => "Request header fields too large",
        503 => "Service unavailable",
        _ => "Internal server error",
    }
}

/// A page of a list; `next_cursor` continues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

// ---- auth ----

/// `POST /api/auth/jwt/create/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// A freshly issued token pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub access: String,
    pub refresh: String,
    pub token_type: String,
    pub access_expires_in: u64,
    pub user: User,
}

/// `POST /api/auth/jwt/refresh/` and `POST /api/auth/logout/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh: String,
}

/// `POST /api/auth/jwt/verify/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub token: String,
}

/// `POST /api/auth/password/change/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/auth/password/reset/confirm/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub new_password: String,
}

/// An admin-issued single-use password reset (or activation) token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetToken {
    pub token: String,
    pub expires_at: Timestamp,
}

/// An empty JSON object, for answers like `jwt/verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// ---- accounts ----

/// `POST /api/users`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: Email,
    pub full_name: String,
    pub role: Role,
    #[serde(default)]
    pub department: Option<DepartmentCode>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

/// `PATCH /api/users/{id}`: only the fields given change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentCode>,
}

/// `GET /api/users` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    pub role: Option<Role>,
    pub department: Option<String>,
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `GET /api/me`: the account, and the profile for patients.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Patient>,
}

/// `POST /api/departments`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDepartment {
    pub code: DepartmentCode,
    pub name: String,
}

// ---- patients ----

/// `POST /api/patients`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    pub email: Email,
    pub full_name: String,
    pub date_of_birth: String,
    pub phone: String,
    #[serde(default)]
    pub insurance_id: Option<String>,
    pub patient_type: PatientType,
    #[serde(default)]
    pub password: Option<String>,
}

/// The answer to `POST /api/patients`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatientCreated {
    #[serde(flatten)]
    pub patient: Patient,
    /// A one-time password-reset token when no password was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_token: Option<ResetToken>,
}

/// `PATCH /api/patients/{id}`: only the fields given change (patients: `phone` only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_type: Option<PatientType>,
}

/// `GET /api/patients` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientQuery {
    pub q: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

// ---- doctors and scheduling ----

/// `GET /api/doctors` filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorQuery {
    pub department: Option<String>,
}

/// `PUT /api/doctors/{id}/availability`: replaces the weekly rules.
/// Time off is managed through its own routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityUpdate {
    pub rules: Vec<AvailabilityRule>,
}

/// `POST /api/doctors/{id}/time-off`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTimeOff {
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(default)]
    pub reason: String,
}

/// `?from=&to=` of slots and calendars.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// `POST /api/appointments`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub start: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    #[serde(default)]
    pub reason: Reason,
    /// The type sets the length and buffers, and books a resource if it needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<Uuid>,
}

/// `GET /api/doctors/{id}/slots?from=&to=&type_id=`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Slots long enough for this type, clear of buffers, with a resource free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<Uuid>,
}

// ---- series ----

/// What a series does with occurrences that cannot be booked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Book nothing (`409` listing them).
    #[default]
    Fail,
    /// Book the free ones and report the rest.
    Skip,
}

/// `POST /api/series`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSeries {
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<Uuid>,
    /// The first occurrence; later ones keep its clock time in the clinic's zone.
    pub start: Timestamp,
    pub rule: SeriesRule,
    #[serde(default)]
    pub reason: Reason,
    #[serde(default)]
    pub on_conflict: OnConflict,
}

/// `POST /api/series/{id}/cancel`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesCancel {
    /// Only occurrences starting at or after this (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    #[serde(default)]
    pub reason: Reason,
}

// ---- waitlist ----

/// `POST /api/waitlist`: a doctor, or any doctor of a department (a type
/// names its department too).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWaitlistEntry {
    pub patient_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<Uuid>,
    pub earliest: Timestamp,
    pub latest: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<Reason>,
}

/// `GET /api/waitlist?doctor_id=&department=`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitlistQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
}

// ---- billing ----

/// A line as it is written (totals are computed by the server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvoiceLine {
    pub description: String,
    /// A completed appointment of the invoice's patient this line bills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<Uuid>,
    pub quantity: i64,
    pub unit_amount: i64,
    #[serde(default)]
    pub tax_rate_bp: u32,
}

/// `POST /api/invoices`: a draft billing completed appointments (priced
/// from their types) and free lines.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvoice {
    pub patient_id: Uuid,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appointment_ids: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<NewInvoiceLine>,
}

/// `PATCH /api/invoices/{id}` (drafts, with `If-Match`): `lines` replaces
/// every line; `appointment_ids` adds a priced line for each.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<NewInvoiceLine>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appointment_ids: Vec<Uuid>,
}

/// `POST /api/invoices/{id}/void`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidInvoice {
    pub reason: Reason,
}

/// `POST /api/invoices/{id}/payments`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    pub amount: i64,
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `POST /api/payments/{id}/refund`: all that is left of the payment, or `amount` of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// `GET /api/invoices?patient_id=&status=&from=&to=`: `from`/`to` are
/// clinic dates of issue (of creation for drafts), both included.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<InvoiceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Date>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /api/reports/cash?date=` (default: today in the clinic).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CashQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
}

/// One method's line of the cash-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashByMethod {
    pub method: PaymentMethod,
    pub payments: u32,
    pub refunds: u32,
    /// Payments less refunds, minor units.
    pub amount: i64,
}

/// The day's payments by method: the front desk's cash-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CashReport {
    pub date: Date,
    pub currency: crate::value::Currency,
    /// Every method, in a fixed order, also those with nothing.
    pub methods: Vec<CashByMethod>,
    pub total: i64,
    /// The payments and refunds of the day, in the order they came.
    pub payments: Vec<Payment>,
}

/// One age band of open balances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgeBucket {
    /// `0-30`, `31-60`, `61-90`, `>90` (days since issue).
    pub label: String,
    pub invoices: u32,
    pub balance: i64,
}

/// An invoice with money still owed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenBalance {
    pub invoice_id: Uuid,
    pub number: String,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub issued_at: Timestamp,
    pub age_days: i64,
    pub balance: i64,
}

/// `GET /api/reports/outstanding`: open balances by age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutstandingReport {
    pub as_of: Timestamp,
    pub currency: crate::value::Currency,
    pub buckets: Vec<AgeBucket>,
    pub total: i64,
    /// Oldest first.
    pub invoices: Vec<OpenBalance>,
}

// ---- webhooks ----

/// `POST /api/webhooks`: where to post which events. The URL must be
/// `https` and reach a public address unless the server allows private ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<EventType>,
    #[serde(default = "yes")]
    pub active: bool,
}

/// `PATCH /api/webhooks/{id}` (`If-Match` optional): what changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `GET /api/webhooks/{id}/deliveries?status=`: oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

// ---- appointment types and resources ----

/// `GET /api/appointment-types?department=&include_inactive=`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `GET /api/resources` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Inactive ones too (admin screens); default only active ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_inactive: bool,
}

/// `POST /api/appointment-types`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppointmentType {
    pub department: DepartmentCode,
    pub name: String,
    pub minutes: u16,
    #[serde(default)]
    pub buffer_before: u16,
    #[serde(default)]
    pub buffer_after: u16,
    pub price: Money,
    #[serde(default = "yes")]
    pub patient_bookable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_kind: Option<ResourceKind>,
}

fn yes() -> bool {
    true
}

/// Some(None) for an explicit `null`, None when the field is absent.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/appointment-types/{id}`: the fields given change. Booked
/// appointments keep the length and buffers they were booked with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentTypePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_before: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffer_after: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_bookable: Option<bool>,
    /// `null` removes the need for a resource.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub resource_kind: Option<Option<ResourceKind>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `POST /api/resources`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewResource {
    pub kind: ResourceKind,
    pub name: String,
    pub department: DepartmentCode,
}

/// `PATCH /api/resources/{id}`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// `PATCH /api/appointments/{id}`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `POST /api/appointments/{id}/cancel`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Reason,
}

/// What can happen to a booked appointment, each through its own route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppointmentAction {
    Cancel,
    CheckIn,
    Complete,
    NoShow,
}

impl AppointmentAction {
    pub const ALL: [AppointmentAction; 4] = [Self::Cancel, Self::CheckIn, Self::Complete, Self::NoShow];

    /// The route that does it.
    pub fn route(self) -> RouteId {
        match self {
            Self::Cancel => RouteId::CancelAppointment,
            Self::CheckIn => RouteId::CheckInAppointment,
            Self::Complete => RouteId::CompleteAppointment,
            Self::NoShow => RouteId::NoShowAppointment,
        }
    }

    /// The action a route does, if it is one of these.
    pub fn of_route(route: RouteId) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.route() == route)
    }

    /// The status it leaves the appointment in.
    pub fn status(self) -> AppointmentStatus {
        match self {
            Self::Cancel => AppointmentStatus::Cancelled,
            Self::CheckIn => AppointmentStatus::CheckedIn,
            Self::Complete => AppointmentStatus::Completed,
            Self::NoShow => AppointmentStatus::NoShow,
        }
    }
}

/// `GET /api/appointments` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentQuery {
    pub doctor_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub department: Option<String>,
    pub status: Option<AppointmentStatus>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

// ---- records ----

/// `POST /api/records`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    pub appointment_id: Uuid,
    pub diagnosis: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub prescriptions: Vec<Prescription>,
}

/// `PATCH /api/records/{id}`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescriptions: Option<Vec<Prescription>>,
}

/// `GET /api/records` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    pub patient_id: Option<Uuid>,
    pub appointment_id: Option<Uuid>,
    pub include_retracted: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

// ---- audit ----

/// `GET /api/audit` filters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// `GET /api/audit/verify`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_bad: Option<u64>,
}

/// `POST /api/admin/backup`: the file written into `HEALTHSYNX_BACKUP_DIR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupDone {
    pub file: String,
    pub bytes: u64,
    pub entries: u64,
}

/// `?limit=&cursor=` alone.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

// ---- break-glass (emergency access) ----

/// `POST /api/patients/{id}/break-glass`: why the caller needs the patient's
/// data now (at least [`crate::validate::MIN_BREAK_GLASS_REASON_CHARS`] characters).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassRequest {
    pub reason: String,
}

/// A break-glass grant made: read access to the patient until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakGlassGranted {
    pub grant_id: Uuid,
    pub expires_at: Timestamp,
}

/// `POST /api/break-glass/search`: a name (or part of one) to find a
/// patient outside one's care before asking for emergency access. In the
/// body, not the URL, so patient names stay out of access logs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencySearch {
    pub q: String,
}

/// One patient an emergency search found: just enough to pick the right one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyMatch {
    pub patient_id: Uuid,
    pub full_name: String,
    pub date_of_birth: Date,
}

/// `GET /api/break-glass` filters. Only `reviewed=false` (the default) is
/// listed: reviewed grants stay in the audit log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassQuery {
    pub reviewed: Option<bool>,
    pub limit: Option<usize>,
}

/// A break-glass grant as an admin reviews it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakGlassGrant {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub actor_name: String,
    pub actor_role: Role,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub reason: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub reviewed_at: Option<Timestamp>,
    pub reviewed_by: Option<Uuid>,
    pub review_note: Option<String>,
}

/// `POST /api/break-glass/{id}/review`: what the reviewer concluded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassReview {
    pub note: String,
}

// ---- second factor and sessions ----

/// The answer to `POST /api/auth/jwt/create/`: tokens, or what stands
/// between the password and them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// Password alone was enough.
    Tokens(Box<TokenPair>),
    /// The account has a second factor: send a code with the token to
    /// `POST /api/auth/mfa/verify/`.
    MfaRequired(MfaRequired),
    /// The account's role needs a second factor it does not have yet: the
    /// token, as the bearer, may only enrol one.
    EnrolmentRequired(EnrolmentRequired),
}

impl LoginAnswer {
    /// The tokens, when the login is done.
    pub fn tokens(&self) -> Option<&TokenPair> {
        match self {
            LoginAnswer::Tokens(pair) => Some(pair),
            _ => None,
        }
    }
}

/// `{"mfa_required": true, "mfa_token"}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaRequired {
    pub mfa_required: bool,
    /// Single-use, valid for a few minutes.
    pub mfa_token: String,
}

/// `{"mfa_enrolment_required": true, "mfa_token"}`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolmentRequired {
    pub mfa_enrolment_required: bool,
    /// The bearer for `POST /api/me/mfa/totp` and its confirmation only.
    pub mfa_token: String,
}

/// `POST /api/auth/mfa/verify/`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    pub mfa_token: String,
    /// A 6-digit TOTP code or a recovery code.
    pub code: String,
}

/// `POST /api/me/mfa/totp`: a pending factor, to be confirmed with a code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// Base32, as authenticator apps take it when typed in.
    pub secret: String,
    /// `otpauth://totp/…`, as a QR code carries it.
    pub otpauth_url: String,
}

/// `POST /api/me/mfa/totp/confirm` and `DELETE /api/me/mfa/totp`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

/// The recovery codes, shown once at confirmation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/me/calendar-feed`: where the caller's calendar can be
/// subscribed to. The URL holds the only copy of its token: asking again
/// makes a new one and ends the old.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalendarFeedUrl {
    pub url: String,
}

/// `GET /api/me/mfa`: whether the caller's second factor is on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfaStatus {
    /// `off`, `pending` (enrolment started, not confirmed) or `on`.
    pub totp: MfaState,
    /// Unused recovery codes (0 unless `on`).
    pub recovery_codes_left: usize,
    /// Whether the caller's role must have a factor (`HEALTHSYNX_MFA_REQUIRED_ROLES`).
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaState {
    Off,
    Pending,
    On,
}

/// One live login of the caller (`GET /api/me/sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub created_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub expires_at: Timestamp,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The login the request's own token belongs to.
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0190a0a0-0000-7000-8000-000000000001";
    const B: &str = "0190a0a0-0000-7000-8000-000000000002";

    fn id(s: &str) -> Uuid {
        s.parse().unwrap()
    }

    #[test]
    fn routes_match_with_and_without_trailing_slash() {
        assert_eq!(match_route("GET", "/api/me"), Ok((RouteId::Me, vec![])));
        assert_eq!(match_route("GET", "/api/me/"), Ok((RouteId::Me, vec![])));
        let path = format!("/api/doctors/{A}/time-off/{B}/");
        assert_eq!(match_route("DELETE", &path), Ok((RouteId::DeleteTimeOff, vec![id(A), id(B)])));
    }

    #[test]
    fn unknown_paths_methods_and_ids_are_told_apart() {
        assert_eq!(match_route("GET", "/api/nope"), Err(RouteMiss::NotFound));
        assert_eq!(match_route("GET", "/api/users//"), Err(RouteMiss::NotFound));
        assert_eq!(match_route("GET", "/api/users/not-an-id"), Err(RouteMiss::NotFound));
        assert_eq!(match_route("DELETE", "/api/me"), Err(RouteMiss::MethodNotAllowed(vec!["GET"])));
    }

    #[test]
    fn the_table_is_in_route_order_and_every_path_resolves_to_its_route() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in ROUTES.iter().enumerate() {
            assert_eq!(r.id as usize, i, "{:?} is out of place in ROUTES", r.id);
            assert!(seen.insert((r.method, r.pattern)), "{} {} twice", r.method, r.pattern);
            let ids: Vec<Uuid> = r
                .pattern
                .matches('{')
                .count()
                .checked_sub(r.pattern.matches(TOKEN).count())
                .map_or(Vec::new(), |n| (0..n).map(|_| Uuid::now_v7()).collect());
            let path = r.id.path(&ids);
            assert_eq!(match_route(r.method, &path), Ok((r.id, ids)), "{} {path}", r.method);
        }
    }

    #[test]
    fn a_login_answer_is_told_apart_by_its_fields() {
        let v = serde_json::json!({"mfa_required": true, "mfa_token": "t"});
        assert!(matches!(serde_json::from_value(v).unwrap(), LoginAnswer::MfaRequired(_)));
        let v = serde_json::json!({"mfa_enrolment_required": true, "mfa_token": "t"});
        assert!(matches!(serde_json::from_value(v).unwrap(), LoginAnswer::EnrolmentRequired(_)));
    }

    #[test]
    #[should_panic(expected = "needs more ids")]
    fn a_path_without_its_ids_is_a_bug() {
        RouteId::GetUser.path(&[]);
    }
}
