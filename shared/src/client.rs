//! A typed async client for the Health Synx API. It logs in, refreshes the
//! access token by itself shortly before it expires (or once on a `401`), and
//! returns every failure as a [`Problem`]; an unreachable server is a problem
//! with status `0`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::civil::Date;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::api::{self, *};
use crate::model::*;
use crate::value::{DepartmentCode, Reason};

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

/// The media type of FHIR JSON.
const FHIR_JSON: &str = "application/fhir+json";

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
    /// The `mfa_token` of a login that must enrol a second factor first:
    /// the bearer of the enrolment calls while there is no session.
    enrolment: Arc<Mutex<Option<String>>>,
}

impl Client {
    /// A client for the server at `base` (such as `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // What a session list shows for this login.
            .user_agent(concat!("healthsynx-client/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Problem::new(0, format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            http,
            session: Arc::new(Mutex::new(None)),
            enrolment: Arc::new(Mutex::new(None)),
        })
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

    /// Logs in. With tokens, keeps them for later calls; when the server
    /// wants a second factor, the answer says so: finish with
    /// [`Client::verify_mfa`], or (enrolment) enrol with
    /// [`Client::enrol_totp`] and [`Client::confirm_totp`], then log in again.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginAnswer> {
        let body = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let answer: LoginAnswer = self.public(RouteId::JwtCreate, &body).await?;
        *self.enrolment.lock().await = None;
        match &answer {
            LoginAnswer::Tokens(pair) => self.keep(pair).await,
            LoginAnswer::EnrolmentRequired(e) => {
                *self.session.lock().await = None;
                *self.enrolment.lock().await = Some(e.mfa_token.clone());
            }
            LoginAnswer::MfaRequired(_) => {}
        }
        Ok(answer)
    }

    /// `POST /api/auth/mfa/verify/`: the second step of a login; keeps the tokens.
    pub async fn verify_mfa(&self, mfa_token: &str, code: &str) -> Result<TokenPair> {
        let body = MfaVerifyRequest { mfa_token: mfa_token.to_owned(), code: code.to_owned() };
        let pair: TokenPair = self.public(RouteId::MfaVerify, &body).await?;
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
        let Some(session) = guard.as_ref() else {
            return self.enrolment.lock().await.clone().ok_or_else(not_logged_in);
        };
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
        match self.public::<TokenPair>(RouteId::JwtRefresh, &body).await {
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
        let out = self.send_empty(RouteId::Logout, &[], Some(&RefreshRequest { refresh })).await;
        *self.session.lock().await = None;
        out
    }

    // ---- plumbing ----

    /// A request to `route`: its method comes from the route table, and a
    /// bearer token (refreshed as needed) goes only to routes that want one.
    async fn request(
        &self,
        route: RouteId,
        ids: &[Uuid],
        query: &impl Serialize,
        body: Option<&impl Serialize>,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        let url = format!("{}{}", self.base, route.path(ids));
        let method = Method::from_bytes(route.method().as_bytes()).expect("route methods are valid");
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| Problem::new(0, e.to_string()))?),
            None => None,
        };
        let build = |h: &reqwest::Client| {
            let mut rb = h.request(method.clone(), &url).query(query);
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            match &body {
                Some(b) => rb.header("content-type", "application/json").body(b.clone()),
                None => rb,
            }
        };
        match route.auth() {
            Auth::Public => build(&self.http).send().await.map_err(transport),
            Auth::Bearer => self.authed(build).await,
        }
    }

    /// A public route's request with a JSON body, kept apart from
    /// [`Client::request`] because refreshing a token must not need one.
    async fn public<T: DeserializeOwned>(&self, route: RouteId, body: &impl Serialize) -> Result<T> {
        debug_assert_eq!(route.auth(), Auth::Public, "{route:?}");
        let method = Method::from_bytes(route.method().as_bytes()).expect("route methods are valid");
        let url = format!("{}{}", self.base, route.path(&[]));
        decode(self.http.request(method, url).json(body).send().await.map_err(transport)?).await
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
            let Some(session) = guard.as_ref() else { return Ok(resp) };
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

    /// A `GET` with a query, decoded.
    async fn get<T: DeserializeOwned>(&self, route: RouteId, ids: &[Uuid], query: &impl Serialize) -> Result<T> {
        decode(self.request(route, ids, query, None::<&()>, &[]).await?).await
    }

    /// A `GET` with `If-None-Match: etag` when one is given.
    async fn get_if_changed<T: DeserializeOwned>(
        &self,
        route: RouteId,
        ids: &[Uuid],
        query: &impl Serialize,
        etag: Option<&str>,
    ) -> Result<Fresh<T>> {
        let headers: Vec<(&str, String)> = etag.map(|e| ("if-none-match", e.to_owned())).into_iter().collect();
        let resp = self.request(route, ids, query, None::<&()>, &headers).await?;
        if resp.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fresh::Unchanged);
        }
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(Fresh::Changed { value: decode(resp).await?, etag })
    }

    /// A request with a body (or none), decoded.
    async fn send<T: DeserializeOwned>(
        &self,
        route: RouteId,
        ids: &[Uuid],
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        decode(self.request(route, ids, &(), body, &[]).await?).await
    }

    /// A request whose answer has no body worth reading.
    async fn send_empty(&self, route: RouteId, ids: &[Uuid], body: Option<&impl Serialize>) -> Result<()> {
        let resp = self.request(route, ids, &(), body, &[]).await?;
        if resp.status().is_success() { Ok(()) } else { Err(problem_of(resp).await) }
    }

    /// A versioned write: `If-Match` on the version read.
    async fn send_if_match<T: DeserializeOwned>(
        &self,
        route: RouteId,
        id: Uuid,
        version: u64,
        body: &impl Serialize,
    ) -> Result<T> {
        let headers = [("if-match", format!("\"{version}\""))];
        decode(self.request(route, &[id], &(), Some(body), &headers).await?).await
    }

    // ---- health ----

    /// `GET /healthz`: whether the process answers.
    pub async fn healthz(&self) -> Result<()> {
        self.send_empty(RouteId::Healthz, &[], None::<&()>).await
    }

    /// `GET /readyz`: whether the process and its store answer.
    pub async fn readyz(&self) -> Result<()> {
        self.send_empty(RouteId::Readyz, &[], None::<&()>).await
    }

    /// `GET /metrics` (loopback clients only): the Prometheus text.
    pub async fn metrics(&self) -> Result<String> {
        let resp = self.request(RouteId::Metrics, &[], &(), None::<&()>, &[]).await?;
        if !resp.status().is_success() {
            return Err(problem_of(resp).await);
        }
        resp.text().await.map_err(transport)
    }

    // ---- auth and accounts ----

    /// `POST /api/auth/jwt/verify/`
    pub async fn verify_token(&self, token: &str) -> Result<()> {
        let body = VerifyRequest { token: token.to_owned() };
        self.public::<Empty>(RouteId::JwtVerify, &body).await.map(|_| ())
    }

    /// Changes the password; the server then ends every older login, so this
    /// client logs in again with the new password.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = PasswordChange { current_password: current.to_owned(), new_password: new.to_owned() };
        self.send_empty(RouteId::PasswordChange, &[], Some(&body)).await?;
        let email = self.user().await.ok_or_else(not_logged_in)?.email;
        self.login(&email, new).await.map(|_| ())
    }

    /// `POST /api/auth/password/reset/confirm/`
    pub async fn confirm_password_reset(&self, token: &str, new_password: &str) -> Result<()> {
        let body = PasswordResetConfirm { token: token.to_owned(), new_password: new_password.to_owned() };
        self.send_empty(RouteId::PasswordResetConfirm, &[], Some(&body)).await
    }

    /// `GET /api/me`
    pub async fn me(&self) -> Result<Me> {
        self.get(RouteId::Me, &[], &()).await
    }

    /// `GET /api/me/access-log`
    pub async fn my_access_log(&self, page: &PageQuery) -> Result<Page<AccessLogEntry>> {
        self.get(RouteId::MyAccessLog, &[], page).await
    }

    /// `GET /api/users`
    pub async fn users(&self, query: &UserQuery) -> Result<Page<User>> {
        self.get(RouteId::ListUsers, &[], query).await
    }

    /// `POST /api/users`
    pub async fn create_user(&self, new: &NewUser) -> Result<User> {
        self.send(RouteId::CreateUser, &[], Some(new)).await
    }

    /// `GET /api/users/{id}`
    pub async fn user_by_id(&self, id: Uuid) -> Result<User> {
        self.get(RouteId::GetUser, &[id], &()).await
    }

    /// `PATCH /api/users/{id}`
    pub async fn patch_user(&self, id: Uuid, patch: &UserPatch) -> Result<User> {
        self.send(RouteId::PatchUser, &[id], Some(patch)).await
    }

    /// `POST /api/users/{id}/deactivate`
    pub async fn deactivate_user(&self, id: Uuid) -> Result<User> {
        self.send(RouteId::DeactivateUser, &[id], None::<&()>).await
    }

    /// `POST /api/users/{id}/activate`
    pub async fn activate_user(&self, id: Uuid) -> Result<User> {
        self.send(RouteId::ActivateUser, &[id], None::<&()>).await
    }

    /// `POST /api/users/{id}/password-reset`
    pub async fn issue_password_reset(&self, id: Uuid) -> Result<ResetToken> {
        self.send(RouteId::UserPasswordReset, &[id], None::<&()>).await
    }

    /// `GET /api/departments`
    pub async fn departments(&self) -> Result<Vec<Department>> {
        self.get(RouteId::ListDepartments, &[], &()).await
    }

    /// `POST /api/departments`
    pub async fn create_department(&self, code: &str, name: &str) -> Result<Department> {
        let code = DepartmentCode::parse(code).map_err(|e| invalid("code", e))?;
        let body = NewDepartment { code, name: name.to_owned() };
        self.send(RouteId::CreateDepartment, &[], Some(&body)).await
    }

    // ---- series ----

    /// `POST /api/series`: books every occurrence (or, with `fail`, none).
    pub async fn create_series(&self, new: &NewSeries) -> Result<Series> {
        self.send(RouteId::CreateSeries, &[], Some(new)).await
    }

    /// `GET /api/series/{id}`
    pub async fn series(&self, id: Uuid) -> Result<Series> {
        self.get(RouteId::GetSeries, &[id], &()).await
    }

    /// `POST /api/series/{id}/cancel`: the remaining occurrences, or those from a time.
    pub async fn cancel_series(&self, id: Uuid, cancel: &SeriesCancel) -> Result<Series> {
        self.send(RouteId::CancelSeries, &[id], Some(cancel)).await
    }

    // ---- waitlist ----

    /// `POST /api/waitlist`
    pub async fn join_waitlist(&self, new: &NewWaitlistEntry) -> Result<WaitlistEntry> {
        self.send(RouteId::CreateWaitlistEntry, &[], Some(new)).await
    }

    /// `GET /api/waitlist?doctor_id=&department=`: live entries, oldest first.
    pub async fn waitlist(&self, q: &WaitlistQuery) -> Result<Vec<WaitlistEntry>> {
        self.get(RouteId::ListWaitlist, &[], q).await
    }

    /// `GET /api/waitlist/{id}`: an entry as it is now (also once booked or removed).
    pub async fn waitlist_entry(&self, id: Uuid) -> Result<WaitlistEntry> {
        self.get(RouteId::GetWaitlistEntry, &[id], &()).await
    }

    /// `DELETE /api/waitlist/{id}` (withdraws its open offer).
    pub async fn leave_waitlist(&self, id: Uuid) -> Result<()> {
        self.send_empty(RouteId::DeleteWaitlistEntry, &[id], None::<&()>).await
    }

    /// `GET /api/offers`: open offers, soonest to expire first.
    pub async fn offers(&self) -> Result<Vec<Offer>> {
        self.get(RouteId::ListOffers, &[], &()).await
    }

    /// `POST /api/offers/{id}/accept`: books the held time.
    pub async fn accept_offer(&self, id: Uuid) -> Result<Appointment> {
        self.send(RouteId::AcceptOffer, &[id], None::<&()>).await
    }

    /// `POST /api/offers/{id}/decline`: passes the time on.
    pub async fn decline_offer(&self, id: Uuid) -> Result<Offer> {
        self.send(RouteId::DeclineOffer, &[id], None::<&()>).await
    }

    // ---- billing ----

    /// `POST /api/invoices`: a draft (receptionist, admin).
    pub async fn create_invoice(&self, new: &NewInvoice) -> Result<Invoice> {
        self.send(RouteId::CreateInvoice, &[], Some(new)).await
    }

    /// `GET /api/invoices?patient_id=&status=&from=&to=`
    pub async fn invoices(&self, q: &InvoiceQuery) -> Result<Page<Invoice>> {
        self.get(RouteId::ListInvoices, &[], q).await
    }

    /// `GET /api/invoices/{id}`
    pub async fn invoice(&self, id: Uuid) -> Result<Invoice> {
        self.get(RouteId::GetInvoice, &[id], &()).await
    }

    /// `GET /api/invoices/{id}.pdf`: the printable invoice's bytes.
    pub async fn invoice_pdf(&self, id: Uuid) -> Result<Vec<u8>> {
        let resp = self.request(RouteId::InvoicePdf, &[id], &(), None::<&()>, &[]).await?;
        if !resp.status().is_success() {
            return Err(problem_of(resp).await);
        }
        Ok(resp.bytes().await.map_err(transport)?.to_vec())
    }

    /// `PATCH /api/invoices/{id}` with `If-Match` (drafts only).
    pub async fn patch_invoice(&self, id: Uuid, version: u64, patch: &InvoicePatch) -> Result<Invoice> {
        self.send_if_match(RouteId::PatchInvoice, id, version, patch).await
    }

    /// `POST /api/invoices/{id}/issue`: numbers and freezes a draft.
    pub async fn issue_invoice(&self, id: Uuid) -> Result<Invoice> {
        self.send(RouteId::IssueInvoice, &[id], None::<&()>).await
    }

    /// `POST /api/invoices/{id}/void`: the credit note that cancels an
    /// issued invoice (a draft is discarded, with no credit note).
    pub async fn void_invoice(&self, id: Uuid, reason: &str) -> Result<Invoice> {
        let reason = Reason::parse(reason).map_err(|e| invalid("reason", e))?;
        self.send(RouteId::VoidInvoice, &[id], Some(&VoidInvoice { reason })).await
    }

    /// `POST /api/invoices/{id}/payments`
    pub async fn pay_invoice(&self, id: Uuid, payment: &NewPayment) -> Result<Payment> {
        self.send(RouteId::CreatePayment, &[id], Some(payment)).await
    }

    /// `POST /api/payments/{id}/refund`: the refund (a negative payment).
    pub async fn refund_payment(&self, id: Uuid, refund: &NewRefund) -> Result<Payment> {
        self.send(RouteId::RefundPayment, &[id], Some(refund)).await
    }

    /// `GET /api/reports/cash?date=`: a day's payments by method.
    pub async fn cash_report(&self, date: Option<Date>) -> Result<CashReport> {
        self.get(RouteId::CashReport, &[], &CashQuery { date }).await
    }

    /// `GET /api/reports/outstanding`: open balances by age.
    pub async fn outstanding_report(&self) -> Result<OutstandingReport> {
        self.get(RouteId::OutstandingReport, &[], &()).await
    }

    // ---- webhooks ----

    /// `GET /api/webhooks` (admin): every webhook, without secrets.
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.get(RouteId::ListWebhooks, &[], &()).await
    }

    /// `POST /api/webhooks`: the new webhook, with its secret (shown once).
    pub async fn create_webhook(&self, new: &NewWebhook) -> Result<Webhook> {
        self.send(RouteId::CreateWebhook, &[], Some(new)).await
    }

    /// `PATCH /api/webhooks/{id}` with `If-Match` on the version read.
    pub async fn patch_webhook(&self, id: Uuid, version: u64, patch: &WebhookPatch) -> Result<Webhook> {
        self.send_if_match(RouteId::PatchWebhook, id, version, patch).await
    }

    /// `DELETE /api/webhooks/{id}`: the webhook and its deliveries.
    pub async fn delete_webhook(&self, id: Uuid) -> Result<()> {
        self.send_empty(RouteId::DeleteWebhook, &[id], None::<&()>).await
    }

    /// `GET /api/webhooks/{id}/deliveries?status=`
    pub async fn deliveries(&self, webhook: Uuid, q: &DeliveryQuery) -> Result<Page<Delivery>> {
        self.get(RouteId::ListDeliveries, &[webhook], q).await
    }

    /// `POST /api/deliveries/{id}/retry`: a dead delivery, pending again.
    pub async fn retry_delivery(&self, id: Uuid) -> Result<Delivery> {
        self.send(RouteId::RetryDelivery, &[id], None::<&()>).await
    }

    // ---- appointment types and resources ----

    /// `GET /api/appointment-types?department=`
    pub async fn appointment_types(&self, query: &CatalogQuery) -> Result<Vec<AppointmentType>> {
        self.get(RouteId::ListAppointmentTypes, &[], query).await
    }

    /// `POST /api/appointment-types` (admin)
    pub async fn create_appointment_type(&self, new: &NewAppointmentType) -> Result<AppointmentType> {
        self.send(RouteId::CreateAppointmentType, &[], Some(new)).await
    }

    /// `GET /api/appointment-types/{id}`
    pub async fn appointment_type(&self, id: Uuid) -> Result<AppointmentType> {
        self.get(RouteId::GetAppointmentType, &[id], &()).await
    }

    /// `PATCH /api/appointment-types/{id}` with `If-Match` (admin)
    pub async fn patch_appointment_type(
        &self,
        id: Uuid,
        version: u64,
        patch: &AppointmentTypePatch,
    ) -> Result<AppointmentType> {
        self.send_if_match(RouteId::PatchAppointmentType, id, version, patch).await
    }

    /// `GET /api/resources?kind=&department=`
    pub async fn resources(&self, query: &CatalogQuery) -> Result<Vec<Resource>> {
        self.get(RouteId::ListResources, &[], query).await
    }

    /// `POST /api/resources` (admin)
    pub async fn create_resource(&self, new: &NewResource) -> Result<Resource> {
        self.send(RouteId::CreateResource, &[], Some(new)).await
    }

    /// `GET /api/resources/{id}`
    pub async fn resource(&self, id: Uuid) -> Result<Resource> {
        self.get(RouteId::GetResource, &[id], &()).await
    }

    /// `PATCH /api/resources/{id}` with `If-Match` (admin)
    pub async fn patch_resource(&self, id: Uuid, version: u64, patch: &ResourcePatch) -> Result<Resource> {
        self.send_if_match(RouteId::PatchResource, id, version, patch).await
    }

    // ---- patients ----

    /// `GET /api/patients?q=`
    pub async fn patients(&self, query: &PatientQuery) -> Result<Page<Patient>> {
        self.get(RouteId::ListPatients, &[], query).await
    }

    /// `POST /api/patients`
    pub async fn create_patient(&self, new: &NewPatient) -> Result<PatientCreated> {
        self.send(RouteId::CreatePatient, &[], Some(new)).await
    }

    /// `GET /api/patients/{id}`
    pub async fn patient(&self, id: Uuid) -> Result<Patient> {
        self.get(RouteId::GetPatient, &[id], &()).await
    }

    /// `PATCH /api/patients/{id}`
    pub async fn patch_patient(&self, id: Uuid, patch: &PatientPatch) -> Result<Patient> {
        self.send(RouteId::PatchPatient, &[id], Some(patch)).await
    }

    // ---- doctors and scheduling ----

    /// `GET /api/doctors?department=`
    pub async fn doctors(&self, department: Option<&str>) -> Result<Vec<Doctor>> {
        self.get(RouteId::ListDoctors, &[], &DoctorQuery { department: department.map(str::to_owned) }).await
    }

    /// `GET /api/doctors/{id}/availability`
    pub async fn availability(&self, doctor: Uuid) -> Result<Availability> {
        self.get(RouteId::GetAvailability, &[doctor], &()).await
    }

    /// `PUT /api/doctors/{id}/availability`
    pub async fn set_availability(&self, doctor: Uuid, rules: Vec<AvailabilityRule>) -> Result<Availability> {
        self.send(RouteId::PutAvailability, &[doctor], Some(&AvailabilityUpdate { rules })).await
    }

    /// `POST /api/doctors/{id}/time-off`
    pub async fn add_time_off(&self, doctor: Uuid, new: &NewTimeOff) -> Result<TimeOff> {
        self.send(RouteId::CreateTimeOff, &[doctor], Some(new)).await
    }

    /// `DELETE /api/doctors/{id}/time-off/{tid}`
    pub async fn delete_time_off(&self, doctor: Uuid, id: Uuid) -> Result<()> {
        self.send_empty(RouteId::DeleteTimeOff, &[doctor, id], None::<&()>).await
    }

    /// `GET /api/doctors/{id}/slots?from=&to=`
    pub async fn slots(&self, doctor: Uuid, range: &RangeQuery) -> Result<Vec<Slot>> {
        self.get(RouteId::Slots, &[doctor], range).await
    }

    /// `GET /api/doctors/{id}/slots?from=&to=&type_id=`: slots that fit a type.
    pub async fn slots_of_type(&self, doctor: Uuid, query: &SlotQuery) -> Result<Vec<Slot>> {
        self.get(RouteId::Slots, &[doctor], query).await
    }

    /// [`Client::slots`], answered `Unchanged` while `etag` is current.
    pub async fn slots_if_changed(
        &self,
        doctor: Uuid,
        range: &RangeQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Vec<Slot>>> {
        self.get_if_changed(RouteId::Slots, &[doctor], range, etag).await
    }

    /// `GET /api/doctors/{id}/calendar?from=&to=`
    pub async fn calendar(&self, doctor: Uuid, range: &RangeQuery) -> Result<Vec<Appointment>> {
        self.get(RouteId::Calendar, &[doctor], range).await
    }

    /// [`Client::calendar`], answered `Unchanged` while `etag` is current.
    pub async fn calendar_if_changed(
        &self,
        doctor: Uuid,
        range: &RangeQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Vec<Appointment>>> {
        self.get_if_changed(RouteId::Calendar, &[doctor], range, etag).await
    }

    /// `GET /api/appointments`
    pub async fn appointments(&self, query: &AppointmentQuery) -> Result<Page<Appointment>> {
        self.get(RouteId::ListAppointments, &[], query).await
    }

    /// [`Client::appointments`], answered `Unchanged` while `etag` is current.
    pub async fn appointments_if_changed(
        &self,
        query: &AppointmentQuery,
        etag: Option<&str>,
    ) -> Result<Fresh<Page<Appointment>>> {
        self.get_if_changed(RouteId::ListAppointments, &[], query, etag).await
    }

    /// `POST /api/appointments`, with an `Idempotency-Key` when given.
    pub async fn book(&self, new: &NewAppointment, idempotency_key: Option<&str>) -> Result<Appointment> {
        let headers: Vec<(&str, String)> =
            idempotency_key.map(|k| ("idempotency-key", k.to_owned())).into_iter().collect();
        decode(self.request(RouteId::CreateAppointment, &[], &(), Some(new), &headers).await?).await
    }

    /// `GET /api/appointments/{id}`
    pub async fn appointment(&self, id: Uuid) -> Result<Appointment> {
        self.get(RouteId::GetAppointment, &[id], &()).await
    }

    /// `PATCH /api/appointments/{id}` with `If-Match` on `version`.
    pub async fn patch_appointment(&self, id: Uuid, version: u64, patch: &AppointmentPatch) -> Result<Appointment> {
        self.send_if_match(RouteId::PatchAppointment, id, version, patch).await
    }

    /// `POST /api/appointments/{id}/cancel`
    pub async fn cancel(&self, id: Uuid, reason: &str) -> Result<Appointment> {
        let body = CancelRequest { reason: Reason::parse(reason).map_err(|e| invalid("reason", e))? };
        self.send(RouteId::CancelAppointment, &[id], Some(&body)).await
    }

    /// `POST /api/appointments/{id}/{cancel|check-in|complete|no-show}`, with no body
    /// (a cancellation without a reason).
    pub async fn appointment_action(&self, id: Uuid, action: AppointmentAction) -> Result<Appointment> {
        self.send(action.route(), &[id], None::<&()>).await
    }

    // ---- records ----

    /// `GET /api/records`
    pub async fn records(&self, query: &RecordQuery) -> Result<Page<MedicalRecord>> {
        self.get(RouteId::ListRecords, &[], query).await
    }

    /// `POST /api/records`
    pub async fn create_record(&self, new: &NewRecord) -> Result<MedicalRecord> {
        self.send(RouteId::CreateRecord, &[], Some(new)).await
    }

    /// `GET /api/records/{id}`
    pub async fn record(&self, id: Uuid) -> Result<MedicalRecord> {
        self.get(RouteId::GetRecord, &[id], &()).await
    }

    /// `PATCH /api/records/{id}` with `If-Match` on `version`.
    pub async fn patch_record(&self, id: Uuid, version: u64, patch: &RecordPatch) -> Result<MedicalRecord> {
        self.send_if_match(RouteId::PatchRecord, id, version, patch).await
    }

    /// `DELETE /api/records/{id}`: retracts it as entered in error.
    pub async fn retract_record(&self, id: Uuid) -> Result<()> {
        self.send_empty(RouteId::RetractRecord, &[id], None::<&()>).await
    }

    /// `GET /api/records/{id}/history`
    pub async fn record_history(&self, id: Uuid) -> Result<Vec<RecordVersion>> {
        self.get(RouteId::RecordHistory, &[id], &()).await
    }

    // ---- audit ----

    /// `GET /api/audit`
    pub async fn audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>> {
        self.get(RouteId::ListAudit, &[], query).await
    }

    /// `GET /api/audit/verify`
    pub async fn verify_audit(&self) -> Result<ChainReport> {
        self.get(RouteId::VerifyAudit, &[], &()).await
    }

    /// `POST /api/admin/backup`: a sealed snapshot into the server's backup directory.
    pub async fn backup(&self) -> Result<BackupDone> {
        self.send(RouteId::AdminBackup, &[], None::<&()>).await
    }

    // ---- break-glass (emergency access) ----

    /// `POST /api/patients/{id}/break-glass`: emergency read access to a patient outside the caller's care.
    pub async fn break_glass(&self, patient: Uuid, reason: &str) -> Result<BreakGlassGranted> {
        self.send(RouteId::BreakGlass, &[patient], Some(&BreakGlassRequest { reason: reason.to_owned() })).await
    }

    /// `GET /api/break-glass?reviewed=false` (admin): grants waiting for review, oldest first.
    pub async fn break_glass_grants(&self, query: &BreakGlassQuery) -> Result<Page<BreakGlassGrant>> {
        self.get(RouteId::ListBreakGlass, &[], query).await
    }

    /// `POST /api/break-glass/{id}/review` (admin): closes a grant's review with a note.
    pub async fn review_break_glass(&self, id: Uuid, note: &str) -> Result<BreakGlassGrant> {
        self.send(RouteId::ReviewBreakGlass, &[id], Some(&BreakGlassReview { note: note.to_owned() })).await
    }

    /// `POST /api/break-glass/search` (doctor, nurse): patients anywhere in the
    /// clinic whose name contains `q`, to ask for emergency access to one.
    pub async fn emergency_search(&self, q: &str) -> Result<Vec<EmergencyMatch>> {
        self.send(RouteId::SearchBreakGlass, &[], Some(&EmergencySearch { q: q.to_owned() })).await
    }

    // ---- second factor and sessions ----

    /// Whether this client holds only an enrolment token (the login must enrol a factor first).
    pub async fn enrolling(&self) -> bool {
        self.session.lock().await.is_none() && self.enrolment.lock().await.is_some()
    }

    /// `POST /api/me/mfa/totp`: a pending factor to set up in an authenticator.
    pub async fn enrol_totp(&self) -> Result<TotpEnrolment> {
        self.send(RouteId::MfaTotpCreate, &[], None::<&()>).await
    }

    /// `POST /api/me/mfa/totp/confirm`: turns the factor on; the recovery
    /// codes come only now. After an enrolment login, log in again.
    pub async fn confirm_totp(&self, code: &str) -> Result<RecoveryCodes> {
        let codes = self.send(RouteId::MfaTotpConfirm, &[], Some(&TotpCode { code: code.to_owned() })).await?;
        *self.enrolment.lock().await = None;
        Ok(codes)
    }

    /// `DELETE /api/me/mfa/totp` with a current or recovery code.
    pub async fn remove_totp(&self, code: &str) -> Result<()> {
        self.send_empty(RouteId::MfaTotpDelete, &[], Some(&TotpCode { code: code.to_owned() })).await
    }

    /// `GET /api/me/mfa`: whether the caller's second factor is on.
    pub async fn mfa_status(&self) -> Result<MfaStatus> {
        self.get(RouteId::MfaStatus, &[], &()).await
    }

    /// `POST /api/me/calendar-feed`: a new subscription URL for the
    /// caller's calendar (the previous one stops working).
    pub async fn create_calendar_feed(&self) -> Result<api::CalendarFeedUrl> {
        self.send(RouteId::CreateCalendarFeed, &[], None::<&()>).await
    }

    /// `GET /feeds/{token}.ics` at `url` (as `create_calendar_feed` gave
    /// it): the iCalendar text, fetched as a calendar app would, with no token.
    pub async fn calendar_feed(&self, url: &str) -> Result<String> {
        let resp = self.http.get(url).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(problem_of(resp).await);
        }
        resp.text().await.map_err(transport)
    }

    /// `DELETE /api/me/calendar-feed`: the subscription URL stops working.
    pub async fn revoke_calendar_feed(&self) -> Result<()> {
        self.send_empty(RouteId::RevokeCalendarFeed, &[], None::<&()>).await
    }

    /// `GET /api/me/sessions`: the caller's live logins.
    pub async fn sessions(&self) -> Result<Vec<api::Session>> {
        self.get(RouteId::ListSessions, &[], &()).await
    }

    /// `DELETE /api/me/sessions/{id}`: ends one of the caller's logins.
    pub async fn revoke_session(&self, id: Uuid) -> Result<()> {
        self.send_empty(RouteId::RevokeSession, &[id], None::<&()>).await
    }

    /// `POST /api/users/{id}/sessions/revoke` (admin): ends every login of a user.
    pub async fn revoke_user_sessions(&self, user: Uuid) -> Result<()> {
        self.send_empty(RouteId::RevokeUserSessions, &[user], None::<&()>).await
    }

    // ---- FHIR R4 ----
    // FHIR answers stay `serde_json::Value`: they are checked against a FHIR
    // model library, not against types of ours. An `OperationOutcome` comes
    // back as a `Problem` with its status and diagnostics.

    /// `GET /fhir/r4/metadata`: the CapabilityStatement (no token needed).
    pub async fn fhir_metadata(&self) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirMetadata, &[], &[]).await
    }

    /// `GET /fhir/r4/Patient/{id}`
    pub async fn fhir_patient(&self, id: Uuid) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirPatient, &[id], &[]).await
    }

    /// `GET /fhir/r4/Patient?name=&_count=&_cursor=`: a searchset Bundle.
    pub async fn fhir_search_patients(&self, params: &[(&str, &str)]) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSearchPatients, &[], params).await
    }

    /// `GET /fhir/r4/Practitioner/{id}`
    pub async fn fhir_practitioner(&self, id: Uuid) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirPractitioner, &[id], &[]).await
    }

    /// `GET /fhir/r4/Practitioner?_count=&_cursor=`: a searchset Bundle.
    pub async fn fhir_search_practitioners(&self, params: &[(&str, &str)]) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSearchPractitioners, &[], params).await
    }

    /// `GET /fhir/r4/Schedule/{id}` (the id is the doctor's).
    pub async fn fhir_schedule(&self, id: Uuid) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSchedule, &[id], &[]).await
    }

    /// `GET /fhir/r4/Schedule?actor=Practitioner/{id}`: a searchset Bundle.
    pub async fn fhir_search_schedules(&self, params: &[(&str, &str)]) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSearchSchedules, &[], params).await
    }

    /// `GET /fhir/r4/Slot?schedule=&start=ge…&start=lt…`: a searchset Bundle.
    pub async fn fhir_search_slots(&self, params: &[(&str, &str)]) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSearchSlots, &[], params).await
    }

    /// `GET /fhir/r4/Appointment/{id}`
    pub async fn fhir_appointment(&self, id: Uuid) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirAppointment, &[id], &[]).await
    }

    /// `GET /fhir/r4/Appointment?patient=&practitioner=&date=&status=`: a searchset Bundle.
    pub async fn fhir_search_appointments(&self, params: &[(&str, &str)]) -> Result<serde_json::Value> {
        self.fhir(RouteId::FhirSearchAppointments, &[], params).await
    }

    /// A link of a Bundle (`next`, `self`) as the server wrote it. The token
    /// goes only to this client's own server: a link elsewhere is refused.
    pub async fn fhir_link(&self, url: &str) -> Result<serde_json::Value> {
        let ours = url.strip_prefix(&self.base).is_some_and(|rest| rest.starts_with(api::FHIR_BASE));
        if !ours {
            return Err(Problem::new(0, format!("{url} is not a FHIR URL of {}", self.base)));
        }
        decode(self.authed(|h| h.get(url).header("accept", FHIR_JSON)).await?).await
    }

    async fn fhir(&self, route: RouteId, ids: &[Uuid], params: &[(&str, &str)]) -> Result<serde_json::Value> {
        let accept = [("accept", FHIR_JSON.to_owned())];
        decode(self.request(route, ids, &params, None::<&()>, &accept).await?).await
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

/// A value refused before any round trip, shaped as the server would refuse it.
fn invalid(field: &str, message: String) -> Problem {
    let mut p = Problem::new(422, "a field is not valid");
    p.errors.push(FieldError::new(field, message));
    p
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
        Ok(b) => serde_json::from_slice(&b)
            .ok()
            .or_else(|| outcome_problem(status, &b))
            .unwrap_or_else(|| Problem::new(status, api::title_for(status))),
        Err(e) => transport(e),
    };
    if let (Some(secs), 429) = (retry_after, status) {
        let detail = p.detail.take().unwrap_or_default();
        p.detail = Some(format!("{detail} (retry after {secs} s)"));
    }
    p
}

/// A FHIR `OperationOutcome` as a problem: its status and first diagnostics.
fn outcome_problem(status: u16, body: &[u8]) -> Option<Problem> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v["resourceType"] != "OperationOutcome" {
        return None;
    }
    let detail = v["issue"][0]["diagnostics"].as_str().unwrap_or(api::title_for(status));
    Some(Problem::new(status, detail))
}
