//! The wire contract: route paths, request and response bodies, `Problem` and `Page`.
//! Every path the server serves is listed once, in [`ROUTES`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::*;

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
}

/// `(route, method, path pattern)`; `{…}` segments are ids.
pub const ROUTES: &[(RouteId, &str, &str)] = &[
    (RouteId::Healthz, "GET", "/healthz"),
    (RouteId::Readyz, "GET", "/readyz"),
    (RouteId::Metrics, "GET", "/metrics"),
    (RouteId::JwtCreate, "POST", "/api/auth/jwt/create"),
    (RouteId::JwtRefresh, "POST", "/api/auth/jwt/refresh"),
    (RouteId::JwtVerify, "POST", "/api/auth/jwt/verify"),
    (RouteId::Logout, "POST", "/api/auth/logout"),
    (RouteId::PasswordChange, "POST", "/api/auth/password/change"),
    (RouteId::PasswordResetConfirm, "POST", "/api/auth/password/reset/confirm"),
    (RouteId::Me, "GET", "/api/me"),
    (RouteId::MyAccessLog, "GET", "/api/me/access-log"),
    (RouteId::ListUsers, "GET", "/api/users"),
    (RouteId::CreateUser, "POST", "/api/users"),
    (RouteId::GetUser, "GET", "/api/users/{id}"),
    (RouteId::PatchUser, "PATCH", "/api/users/{id}"),
    (RouteId::DeactivateUser, "POST", "/api/users/{id}/deactivate"),
    (RouteId::ActivateUser, "POST", "/api/users/{id}/activate"),
    (RouteId::UserPasswordReset, "POST", "/api/users/{id}/password-reset"),
    (RouteId::ListDepartments, "GET", "/api/departments"),
    (RouteId::CreateDepartment, "POST", "/api/departments"),
    (RouteId::ListPatients, "GET", "/api/patients"),
    (RouteId::CreatePatient, "POST", "/api/patients"),
    (RouteId::GetPatient, "GET", "/api/patients/{id}"),
    (RouteId::PatchPatient, "PATCH", "/api/patients/{id}"),
    (RouteId::ListDoctors, "GET", "/api/doctors"),
    (RouteId::GetAvailability, "GET", "/api/doctors/{id}/availability"),
    (RouteId::PutAvailability, "PUT", "/api/doctors/{id}/availability"),
    (RouteId::CreateTimeOff, "POST", "/api/doctors/{id}/time-off"),
    (RouteId::DeleteTimeOff, "DELETE", "/api/doctors/{id}/time-off/{tid}"),
    (RouteId::Slots, "GET", "/api/doctors/{id}/slots"),
    (RouteId::Calendar, "GET", "/api/doctors/{id}/calendar"),
    (RouteId::ListAppointments, "GET", "/api/appointments"),
    (RouteId::CreateAppointment, "POST", "/api/appointments"),
    (RouteId::GetAppointment, "GET", "/api/appointments/{id}"),
    (RouteId::PatchAppointment, "PATCH", "/api/appointments/{id}"),
    (RouteId::CancelAppointment, "POST", "/api/appointments/{id}/cancel"),
    (RouteId::CheckInAppointment, "POST", "/api/appointments/{id}/check-in"),
    (RouteId::CompleteAppointment, "POST", "/api/appointments/{id}/complete"),
    (RouteId::NoShowAppointment, "POST", "/api/appointments/{id}/no-show"),
    (RouteId::ListRecords, "GET", "/api/records"),
    (RouteId::CreateRecord, "POST", "/api/records"),
    (RouteId::GetRecord, "GET", "/api/records/{id}"),
    (RouteId::PatchRecord, "PATCH", "/api/records/{id}"),
    (RouteId::RetractRecord, "DELETE", "/api/records/{id}"),
    (RouteId::RecordHistory, "GET", "/api/records/{id}/history"),
    (RouteId::ListAudit, "GET", "/api/audit"),
    (RouteId::VerifyAudit, "GET", "/api/audit/verify"),
    (RouteId::AdminBackup, "POST", "/api/admin/backup"),
];

/// Why a path did not resolve to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMiss {
    NotFound,
    /// The path exists; these methods are allowed on it.
    MethodNotAllowed(Vec<&'static str>),
}

/// Resolves a method and path (with or without a trailing slash) to a route and
/// its `{…}` segments in order.
pub fn match_route<'p>(method: &str, path: &'p str) -> Result<(RouteId, Vec<&'p str>), RouteMiss> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    // Split once: every request is tried against every pattern.
    let have: Vec<&str> = path.split('/').collect();
    let mut allowed = Vec::new();
    for &(id, m, pattern) in ROUTES {
        if let Some(params) = match_pattern(pattern, &have) {
            if m == method {
                return Ok((id, params));
            }
            allowed.push(m);
        }
    }
    if allowed.is_empty() { Err(RouteMiss::NotFound) } else { Err(RouteMiss::MethodNotAllowed(allowed)) }
}

fn match_pattern<'p>(pattern: &str, have: &[&'p str]) -> Option<Vec<&'p str>> {
    let mut want = pattern.split('/');
    let mut params = Vec::new();
    for &h in have {
        match want.next()? {
            w if w.starts_with('{') && !h.is_empty() => params.push(h),
            w if w == h => {}
            _ => return None,
        }
    }
    want.next().is_none().then_some(params)
}

/// Concrete paths for the client: one function per parameterised pattern.
pub mod path {
    use uuid::Uuid;

    pub const JWT_CREATE: &str = "/api/auth/jwt/create/";
    pub const JWT_REFRESH: &str = "/api/auth/jwt/refresh/";
    pub const JWT_VERIFY: &str = "/api/auth/jwt/verify/";
    pub const LOGOUT: &str = "/api/auth/logout/";
    pub const PASSWORD_CHANGE: &str = "/api/auth/password/change/";
    pub const PASSWORD_RESET_CONFIRM: &str = "/api/auth/password/reset/confirm/";
    pub const ME: &str = "/api/me";
    pub const MY_ACCESS_LOG: &str = "/api/me/access-log";
    pub const USERS: &str = "/api/users";
    pub const DEPARTMENTS: &str = "/api/departments";
    pub const PATIENTS: &str = "/api/patients";
    pub const DOCTORS: &str = "/api/doctors";
    pub const APPOINTMENTS: &str = "/api/appointments";
    pub const RECORDS: &str = "/api/records";
    pub const AUDIT: &str = "/api/audit";
    pub const AUDIT_VERIFY: &str = "/api/audit/verify";
    pub const ADMIN_BACKUP: &str = "/api/admin/backup";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const METRICS: &str = "/metrics";

    pub fn user(id: Uuid) -> String {
        format!("{USERS}/{id}")
    }
    /// `action` is `deactivate`, `activate` or `password-reset`.
    pub fn user_action(id: Uuid, action: &str) -> String {
        format!("{USERS}/{id}/{action}")
    }
    pub fn patient(id: Uuid) -> String {
        format!("{PATIENTS}/{id}")
    }
    pub fn availability(doctor: Uuid) -> String {
        format!("{DOCTORS}/{doctor}/availability")
    }
    pub fn time_off(doctor: Uuid) -> String {
        format!("{DOCTORS}/{doctor}/time-off")
    }
    pub fn time_off_item(doctor: Uuid, id: Uuid) -> String {
        format!("{DOCTORS}/{doctor}/time-off/{id}")
    }
    pub fn slots(doctor: Uuid) -> String {
        format!("{DOCTORS}/{doctor}/slots")
    }
    pub fn calendar(doctor: Uuid) -> String {
        format!("{DOCTORS}/{doctor}/calendar")
    }
    pub fn appointment(id: Uuid) -> String {
        format!("{APPOINTMENTS}/{id}")
    }
    /// `action` is `cancel`, `check-in`, `complete` or `no-show`.
    pub fn appointment_action(id: Uuid, action: &str) -> String {
        format!("{APPOINTMENTS}/{id}/{action}")
    }
    pub fn record(id: Uuid) -> String {
        format!("{RECORDS}/{id}")
    }
    pub fn record_history(id: Uuid) -> String {
        format!("{RECORDS}/{id}/history")
    }
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
    pub email: String,
    pub full_name: String,
    pub role: Role,
    #[serde(default)]
    pub department: Option<String>,
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
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
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
    pub code: String,
    pub name: String,
}

// ---- patients ----

/// `POST /api/patients`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    pub email: String,
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
    pub email: Option<String>,
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
    pub reason: String,
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
    pub reason: Option<String>,
}

/// `POST /api/appointments/{id}/cancel`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_and_without_trailing_slash() {
        assert_eq!(match_route("GET", "/api/me"), Ok((RouteId::Me, vec![])));
        assert_eq!(match_route("GET", "/api/me/"), Ok((RouteId::Me, vec![])));
        assert_eq!(match_route("DELETE", "/api/doctors/a/time-off/b/"), Ok((RouteId::DeleteTimeOff, vec!["a", "b"])));
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        assert_eq!(match_route("GET", "/api/nope"), Err(RouteMiss::NotFound));
        assert_eq!(match_route("GET", "/api/users//"), Err(RouteMiss::NotFound));
        assert_eq!(match_route("DELETE", "/api/me"), Err(RouteMiss::MethodNotAllowed(vec!["GET"])));
    }

    #[test]
    fn every_route_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (id, m, p) in ROUTES {
            assert!(seen.insert((m, p)), "{m} {p} twice");
            assert_eq!(match_route(m, p).map(|r| r.0), Ok(*id));
        }
    }
}
