//! A typed async client for the Health Synx API. It logs in, refreshes the
//! access token by itself shortly before it expires (or once on a `401`), and
//! returns every failure as a [`Problem`]; an unreachable server is a problem
//! with status `0`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::api::{self, path, *};
use crate::model::*;

/// What every client call returns.
pub type Result<T> = std::result::Result<T, Problem>;

/// The answer to a conditional `GET` (`If-None-Match`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fresh<T> {
    /// The server's copy differs from the one named: here it is, with its new `ETag`.
    Changed { value: T, etag: Option<String> },
    /// `304`: what the caller holds is still current.
    Unchanged,
}

/// Refresh this long before the access token would expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(20);

/// One login's tokens, held in memory only.
#[derive(Debug, Clone)]
struct Session {
    access: String,
    refresh: String,
    access_expires_at: Instant,
    user: User,
}

/// The API client. Cheap to clone; clones share the login.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    session: Arc<Mutex<Option<Session>>>,
}

impl Client {
    /// A client for the server at `base` (such as `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Problem::new(0, format!("cannot build HTTP client: {e}")))?;
        Ok(Client { base: base.trim_end_matches('/').to_owned(), http, session: Arc::new(Mutex::new(None)) })
    }

    /// A client for another server holding a copy of this login's tokens
    /// (the same login through another process behind a load balancer);
    /// from here on each refreshes and logs out on its own.
    pub async fn with_base(&self, base: &str) -> Result<Self> {
        let other = Client::new(base)?;
        *other.session.lock().await = self.session.lock().await.clone();
        Ok(other)
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Logs in and keeps the tokens for later calls.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair> {
        let body = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let pair: TokenPair = self.public(Method::POST, path::JWT_CREATE, &body).await?;
        self.keep(&pair).await;
        Ok(pair)
    }

    /// The logged-in user, if any.
    pub async fn user(&self) -> Option<User> {
        self.session.lock().await.as_ref().map(|s| s.user.clone())
    }

    /// The current refresh token (for tests of rotation).
    pub async fn refresh_token(&self) -> Option<String> {
        self.session.lock().await.as_ref().map(|s| s.refresh.clone())
    }

    /// A valid access token, refreshed first if it is about to expire.
    pub async fn access_token(&self) -> Result<String> {
        let mut guard = self.session.lock().await;
        let session = guard.as_ref().ok_or_else(not_logged_in)?;
        if session.access_expires_at > Instant::now() + REFRESH_MARGIN {
            return Ok(session.access.clone());
        }
        let refresh = session.refresh.clone();
        self.refresh_locked(&mut guard, refresh).await
    }

    /// Rotates the refresh token now.
    pub async fn refresh(&self) -> Result<()> {
        let mut guard = self.session.lock().await;
        let refresh = guard.as_ref().ok_or_else(not_logged_in)?.refresh.clone();
        self.refresh_locked(&mut guard, refresh).await.map(|_| ())
    }

    async fn refresh_locked(&self, guard: &mut Option<Session>, refresh: String) -> Result<String> {
        let body = RefreshRequest { refresh };
        match self.public::<TokenPair>(Method::POST, path::JWT_REFRESH, &body).await {
            Ok(pair) => {
                let access = pair.access.clone();
                *guard = Some(session_of(pair));
                Ok(access)
            }
            Err(p) => {
                if p.status == 401 {
                    *guard = None;
                }
                Err(p)
            }
        }
    }

    async fn keep(&self, pair: &TokenPair) {
        *self.session.lock().await = Some(session_of(pair.clone()));
    }

    /// Logs out: the server revokes this login's refresh family.
    pub async fn logout(&self) -> Result<()> {
        let refresh = self.refresh_token().await.ok_or_else(not_logged_in)?;
        let out = self.send_empty(Method::POST, path::LOGOUT, Some(&RefreshRequest { refresh })).await;
        *self.session.lock().await = None;
        out
    }

    // ---- plumbing ----

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request without a token (login, refresh, verify, reset).
    async fn public<T: DeserializeOwned>(&self, method: Method, path: &str, body: &impl Serialize) -> Result<T> {
        let rb = self.http.request(method, self.url(path)).json(body);
        decode(rb.send().await.map_err(transport)?).await
    }

    /// Sends an authenticated request built by `build`; on a `401` it refreshes
    /// once and retries, since another clone may have rotated the tokens.
    async fn authed(&self, build: impl Fn(&reqwest::Client) -> RequestBuilder) -> Result<reqwest::Response> {
        let token = self.access_token().await?;
        let resp = build(&self.http).bearer_auth(&token).send().await.map_err(transport)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let token = {
            let mut guard = self.session.lock().await;
            let session = guard.as_ref().ok_or_else(not_logged_in)?;
            if session.access != token {
                session.access.clone()
            } else {
                let refresh = session.refresh.clone();
                match self.refresh_locked(&mut guard, refresh).await {
                    Ok(t) => t,
                    Err(_) => return Ok(resp),
                }
            }
        };
        build(&self.http).bearer_auth(&token).send().await.map_err(transport)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &impl Serialize) -> Result<T> {
        let url = self.url(path);
        decode(self.authed(|h| h.get(&url).query(query)).await?).await
    }

    /// A `GET` with `If-None-Match: etag` when one is given.
    async fn get_if_changed<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &impl Serialize,
        etag: Option<&str>,
    ) -> Result<Fresh<T>> {
        let url = self.url(path);
        let resp = self
            .authed(|h| {
                let rb = h.get(&url).query(query);
                match etag {
                    Some(e) => rb.header("if-none-match", e),
                    None => rb,
                }
            })
            .await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fresh::Unchanged);
        }
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Fresh::Changed { value: decode(resp).await?, etag })
    }

    async fn send<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&impl Serialize>) -> Result<T> {
        decode(self.send_raw(method, path, body, &[]).await?).await
    }

    async fn send_empty(&self, method: Method, path: &str, body: Option<&impl Serialize>) -> Result<()> {
        let resp = self.send_raw(method, path, body, &[]).await?;
        if resp.status().is_success() { Ok(()) } else { Err(problem_of(resp).await) }
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        let url = self.url(path);
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| Problem::new(0, e.to_string()))?),
            None => None,
        };
        self.authed(|h| {
            let mut rb = h.request(method.clone(), &url);
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            match &body {
                Some(b) => rb.header("content-type", "application/json").body(b.clone()),
                None => rb,
            }
        })
        .await
    }

    // ---- auth and accounts ----

    /// `POST /api/auth/jwt/verify/`
    pub async fn verify_token(&self, token: &str) -> Result<()> {
        self.public::<Empty>(Method::POST, path::JWT_VERIFY, &VerifyRequest { token: token.to_owned() })
            .await
            .map(|_| ())
    }

    /// Changes the password; the server then ends every older login, so this
    /// client logs in again with the new password.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = PasswordChange { current_password: current.to_owned(), new_password: new.to_owned() };
        self.send_empty(Method::POST, path::PASSWORD_CHANGE, Some(&body)).await?;
        let email = self.user().await.ok_or_else(not_logged_in)?.email;
        self.login(&email, new).await.map(|_| ())
    }

    /// `POST /api/auth/password/reset/confirm/`
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<()> {
        let body = PasswordResetConfirm { token: token.to_owned(), new_password: new_password.to_owned() };
        let resp =
            self.http.post(self.url(path::PASSWORD_RESET_CONFIRM)).json(&body).send().await.map_err(transport)?;
        if resp.status().is_success() { Ok(()) } else { Err(problem_of(resp).await) }
    }

    /// `GET /api/me`
    pub async fn me(&self) -> Result<Me> {
        self.get(path::ME, &()).await
    }

    /// `GET /api/me/access-log`
    pub async fn my_access_log(&self, page: &PageQuery) -> Result<Page<AccessLogEntry>> {
        self.get(path::MY_ACCESS_LOG, page).await
    }

    /// `GET /api/users`
    pub async fn users(&self, query: &UserQuery) -> Result<Page<User>> {
        self.get(path::USERS, query).await
    }

    /// `POST /api/users`
    pub async fn create_user(&self, new: &NewUser) -> Result<User> {
        self.send(Method::POST, path::USERS, Some(new)).await
    }

    /// `GET /api/users/{id}`
    pub async fn user_by_id(&self, id: Uuid) -> Result<User> {
        self.get(&path::user(id), &()).await
    }

    /// `PATCH /api/users/{id}`
    pub async fn patch_user(&self, id: Uuid, patch: &UserPatch) -> Result<User> {
        self.send(Method::PATCH, &path::user(id), Some(patch)).await
    }

    /// `POST /api/users/{id}/deactivate`
    pub async fn deactivate_user(&self, id: Uuid) -> Result<User> {
        self.send(Method::POST, &path::user_action(id, "deactivate"), None::<&()>).await
    }

    /// `POST /api/users/{id}/activate`
    pub async fn activate_user(&self, id: Uuid) -> Result<User> {
        self.send(Method::POST, &path::user_action(id, "activate"), None::<&()>).await
    }

    /// `POST /api/users/{id}/password-reset`
    pub async fn issue_password_reset(&self, id: Uuid) -> Result<ResetToken> {
        self.send(Method::POST, &path::user_action(id, "password-reset"), None::<&()>).await
    }

    /// `GET /api/departments`
    pub async fn departments(&self) -> Result<Vec<Department>> {
        self.get(path::DEPARTMENTS, &()).await
    }

    /// `POST /api/departments`
    pub async fn create_department(&self, code: &str, name: &str) -> Result<Department> {
        let body = NewDepartment { code: code.to_owned(), name: name.to_owned() };
        self.send(Method::POST, path::DEPARTMENTS, Some(&body)).await
    }

    // ---- patients ----

    /// `GET /api/patients?q=`
    pub async fn patients(&self, query: &PatientQuery) -> Result<Page<Patient>> {
        self.get(path::PATIENTS, query).await
    }

    /// `POST /api/patients`
    pub async fn create_patient(&self, new: &NewPatient) -> Result<PatientCreated> {
        self.send(Method::POST, path::PATIENTS, Some(new)).await
    }

    /// `GET /api/patients/{id}`
    pub async fn patient(&self, id: Uuid) -> Result<Patient> {
        self.get(&path::patient(id), &()).await
    }

    /// `PATCH /api/patients/{id}`
    pub async fn patch_patient(&self, id: Uuid, patch: &PatientPatch) -> Result<Patient> {
        self.send(Method::PATCH, &path::patient(id), Some(patch)).await
    }

    // ---- doctors and scheduling ----

    /// `GET /api/doctors?department=`
    pub async fn doctors(&self, department: Option<&str>) -> Result<Vec<Doctor>> {
        self.get(path::DOCTORS, &DoctorQuery { department: department.map(str::to_owned) }).await
    }

    /// `GET /api/doctors/{id}/availability`
    pub async fn availability(&self, doctor: Uuid) -> Result<Availability> {
        self.get(&path::availability(doctor), &()).await
    }

    /// `PUT /api/doctors/{id}/availability`
    pub async fn set_availability(&self, doctor: Uuid, rules: Vec<AvailabilityRule>) -> Result<Availability> {
        self.send(Method::PUT, &path::availability(doctor), Some(&AvailabilityUpdate { rules })).await
    }

    /// `POST /api/doctors/{id}/time-off`
    pub async fn add_time_off(&self, doctor: Uuid, new: &NewTimeOff) -> Result<TimeOff> {
        self.send(Method::POST, &path::time_off(doctor), Some(new)).await
    }

    /// `DELETE /api/doctors/{id}/time-off/{tid}`
    pub async fn delete_time_off(&self, doctor: Uuid, id: Uuid) -> Result<()> {
        self.send_empty(Method::DELETE, &path::time_off_item(doctor, id), None::<&()>).await
    }

    /// `GET /api/doctors/{id}/slots?from=&to=`
    pub async fn slots(&self, doctor: Uuid, range: &RangeQuery) -> Result<Vec<Slot>> {
        self.get(&path::slots(doctor), range).await
    }

    /// `GET /api/doctors/{id}/calendar?from=&to=`
    pub async fn calendar(&self, doctor: Uuid, range: &RangeQuery) -> Result<Vec<Appointment>> {
        self.get(&path::calendar(doctor), range).await
    }

    /// `GET /api/appointments`
    pub async fn appointments(&self, query: &AppointmentQuery) -> Result<Page<Appointment>> {
        self.get(path::APPOINTMENTS, query).await
    }

    /// [`Client::calendar`], answered `Unchanged` while `etag` is current.
    pub async fn calendar_if_changed(
        &self,
        doctor: Uuid,
        range: &RangeQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Vec<Appointment>>> {
        self.get_if_changed(&path::calendar(doctor), range, etag).await
    }

    /// [`Client::slots`], answered `Unchanged` while `etag` is current.
    pub async fn slots_if_changed(
        &self,
        doctor: Uuid,
        range: &RangeQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Vec<Slot>>> {
        self.get_if_changed(&path::slots(doctor), range, etag).await
    }

    /// [`Client::appointments`], answered `Unchanged` while `etag` is current.
    pub async fn appointments_if_changed(
        &self,
        query: &AppointmentQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Page<Appointment>>> {
        self.get_if_changed(path::APPOINTMENTS, query, etag).await
    }

    /// `POST /api/appointments`, with an `Idempotency-Key` when given.
    pub async fn book(&self, new: &NewAppointment, idempotency_key: Option<&str>) -> Result<Appointment> {
        let headers: Vec<(&str, String)> =
            idempotency_key.map(|k| ("idempotency-key", k.to_owned())).into_iter().collect();
        decode(self.send_raw(Method::POST, path::APPOINTMENTS, Some(new), &headers).await?).await
    }

    /// `GET /api/appointments/{id}`
    pub async fn appointment(&self, id: Uuid) -> Result<Appointment> {
        self.get(&path::appointment(id), &()).await
    }

    /// `PATCH /api/appointments/{id}` with `If-Match` on `version`.
    pub async fn patch_appointment(&self, id: Uuid, version: u64, patch: &AppointmentPatch) -> Result<Appointment> {
        let headers = [("if-match", format!("\"{version}\""))];
        decode(self.send_raw(Method::PATCH, &path::appointment(id), Some(patch), &headers).await?).await
    }

    /// `POST /api/appointments/{id}/cancel`
    pub async fn cancel(&self, id: Uuid, reason: &str) -> Result<Appointment> {
        let body = CancelRequest { reason: reason.to_owned() };
        self.send(Method::POST, &path::appointment_action(id, "cancel"), Some(&body)).await
    }

    /// `POST /api/appointments/{id}/{check-in|complete|no-show}`
    pub async fn appointment_action(&self, id: Uuid, action: &str) -> Result<Appointment> {
        self.send(Method::POST, &path::appointment_action(id, action), None::<&()>).await
    }

    // ---- records ----

    /// `GET /api/records`
    pub async fn records(&self, query: &RecordQuery) -> Result<Page<MedicalRecord>> {
        self.get(path::RECORDS, query).await
    }

    /// `POST /api/records`
    pub async fn create_record(&self, new: &NewRecord) -> Result<MedicalRecord> {
        self.send(Method::POST, path::RECORDS, Some(new)).await
    }

    /// `GET /api/records/{id}`
    pub async fn record(&self, id: Uuid) -> Result<MedicalRecord> {
        self.get(&path::record(id), &()).await
    }

    /// `PATCH /api/records/{id}` with `If-Match` on `version`.
    pub async fn patch_record(&self, id: Uuid, version: u64, patch: &RecordPatch) -> Result<MedicalRecord> {
        let headers = [("if-match", format!("\"{version}\""))];
        decode(self.send_raw(Method::PATCH, &path::record(id), Some(patch), &headers).await?).await
    }

    /// `DELETE /api/records/{id}`: retracts it as entered in error.
    pub async fn retract_record(&self, id: Uuid) -> Result<()> {
        self.send_empty(Method::DELETE, &path::record(id), None::<&()>).await
    }

    /// `GET /api/records/{id}/history`
    pub async fn record_history(&self, id: Uuid) -> Result<Vec<RecordVersion>> {
        self.get(&path::record_history(id), &()).await
    }

    // ---- audit ----

    /// `GET /api/audit`
    pub async fn audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        self.get(path::AUDIT, query).await
    }

    /// `GET /api/audit/verify`
    pub async fn verify_audit(&self) -> Result<ChainReport> {
        self.get(path::AUDIT_VERIFY, &()).await
    }

    /// `POST /api/admin/backup`: a sealed snapshot into the server's backup directory.
    pub async fn backup(&self) -> Result<BackupDone> {
        self.send(Method::POST, path::ADMIN_BACKUP, None::<&()>).await
    }
}

fn session_of(pair: TokenPair) -> Session {
    Session {
        access_expires_at: Instant::now() + Duration::from_secs(pair.access_expires_in),
        access: pair.access,
        refresh: pair.refresh,
        user: pair.user,
    }
}

fn not_logged_in() -> Problem {
    Problem::new(401, "not logged in")
}

fn transport(e: reqwest::Error) -> Problem {
    let what = if e.is_timeout() { "timed out" } else { "unreachable" };
    Problem::new(0, format!("server {what}: {e}"))
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    if !resp.status().is_success() {
        return Err(problem_of(resp).await);
    }
    let bytes = resp.bytes().await.map_err(transport)?;
    serde_json::from_slice(&bytes).map_err(|e| Problem::new(0, format!("unexpected answer from server: {e}")))
}

/// The problem body of a failed answer, or one made from its status.
pub async fn problem_of(resp: reqwest::Response) -> Problem {
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut p = match resp.bytes().await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|_| Problem::new(status, api::title_for(status))),
        Err(e) => transport(e),
    };
    if let (Some(secs), 429) = (retry_after, status) {
        let detail = p.detail.take().unwrap_or_default();
        p.detail = Some(format!("{detail} (retry after {secs} s)"));
    }
    p
}
